/* Stack unwinding (unwind.h).  x86-64 only, as the target layer
 * is: DWARF columns 0-15 are the general registers, 16 the return address. */
#include "unwind.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dwarf/dwarf_lib.h"
#include "error.h"
#include "target/target_internal.h"

enum { RA = 16, RBP = 6, RSP = 7 };

/* DWARF register numbers to the names mp_register_index knows. */
static const char *const dwarf_names[MP_DW_FRAME_COLUMNS] = {
	"rax", "rdx", "rcx", "rbx", "rsi", "rdi", "rbp", "rsp",
	"r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "rip",
};

typedef struct regs {
	uint64_t value[MP_DW_FRAME_COLUMNS];
	bool valid[MP_DW_FRAME_COLUMNS];
} regs;

/* Each module's CFI is opened once per unwind session. */
struct mp_unwinder {
	mp_target *t;
	mp_dw **dws;
	bool *tried;
	size_t n;
};

/* The registers a caller's frame keeps across a call (System V x86-64:
 * rbx, rbp, rsp, r12-r15) and the return address; the others hold what
 * the callee left in them, not the caller's values. */
static const uint32_t preserved = 1u << 3 | 1u << RBP | 1u << RSP | 1u << 12 | 1u << 13 |
				  1u << 14 | 1u << 15 | 1u << RA;

const char *mp_frame_source_name(enum mp_frame_source source)
{
	switch (source) {
	case MP_FRAME_REGISTERS: return "registers";
	case MP_FRAME_CFI: return "cfi";
	default: return "frame-pointer";
	}
}

/* The module's file (whose .eh_frame every build keeps), else its debug
 * file (.debug_frame); NULL when neither opens. */
static mp_dw *cfi_of(mp_unwinder *c, const mp_module *m, size_t index)
{
	if (c->tried[index])
		return c->dws[index];
	c->tried[index] = true;
	const char *paths[2] = {mp_module_file(m), mp_module_debug_file(m)};
	for (int k = 0; k < 2 && !c->dws[index]; k++) {
		if (!paths[k] || (k == 1 && paths[0] && strcmp(paths[0], paths[1]) == 0))
			continue;
		mp_error *err = mp_dw_open(paths[k], mp_module_name(m), &c->dws[index]);
		if (err) {
			mp_error_free(err);
			c->dws[index] = NULL;
		}
	}
	return c->dws[index];
}

static bool read_word(mp_target *t, uint64_t address, uint64_t *out)
{
	mp_error *err = mp_target_read(t, address, out, sizeof(*out));
	if (err) {
		mp_error_free(err);
		return false;
	}
	return true;
}

/* The CFA a CFI row gives from the registers; false when it cannot be
 * computed (a CFA by expression, a register not recovered). */
static bool row_cfa(const mp_dw_frame_row *row, const regs *in, uint64_t *cfa)
{
	if (row->cfa_is_expression || row->cfa_register < 0 ||
	    row->cfa_register >= MP_DW_FRAME_COLUMNS || !in->valid[row->cfa_register])
		return false;
	*cfa = in->value[row->cfa_register] + (uint64_t)row->cfa_offset;
	return true;
}

/* One step by the CFI row and the CFA it gave: the caller's registers,
 * or false when the return address cannot be recovered. */
static bool step_cfi(mp_target *t, const mp_dw_frame_row *row, uint64_t cfa, const regs *in,
		     regs *out)
{
	for (int col = 0; col < MP_DW_FRAME_COLUMNS; col++) {
		int reg = row->rules[col].reg;
		uint64_t at = cfa + (uint64_t)row->rules[col].offset;
		out->valid[col] = false;
		switch (row->rules[col].kind) {
		case MP_DW_RULE_SAME:
			out->value[col] = in->value[col];
			out->valid[col] = in->valid[col];
			break;
		case MP_DW_RULE_AT_CFA:
			out->valid[col] = read_word(t, at, &out->value[col]);
			break;
		case MP_DW_RULE_CFA_PLUS:
			out->value[col] = at;
			out->valid[col] = true;
			break;
		case MP_DW_RULE_REGISTER:
			out->value[col] = in->value[reg];
			out->valid[col] = in->valid[reg];
			break;
		default:
			break;
		}
	}
	/* The caller's stack pointer is the CFA, by the x86-64 ABI's definition. */
	out->value[RSP] = cfa;
	out->valid[RSP] = true;
	return out->valid[RA];
}

/* One step without CFI.  Stopped on a function's first instruction (a
 * crash calling it, a fault on its first load), nothing is pushed yet: the
 * return address is at [rsp], rbp is still the caller's, and the CFA is
 * exactly rsp + 8 (*cfa, *has_cfa).  Anywhere else the frame-pointer
 * chain: [rbp] is the caller's rbp, [rbp + 8] the return address, and
 * rbp + 16 only a guess at the CFA, which is not given: locals are never
 * evaluated against it. */
static bool step_frame_pointer(mp_target *t, const regs *in, bool at_entry, regs *out,
			       uint64_t *cfa, bool *has_cfa)
{
	if (at_entry && in->valid[RSP]) {
		uint64_t ra;
		if (!read_word(t, in->value[RSP], &ra))
			return false;
		*cfa = in->value[RSP] + 8;
		*has_cfa = true;
		*out = *in;
		out->value[RA] = ra;
		out->value[RSP] = in->value[RSP] + 8;
		return true;
	}
	uint64_t rbp = in->value[RBP];
	if (!in->valid[RBP] || !rbp || rbp % 8 || (in->valid[RSP] && rbp < in->value[RSP]))
		return false;
	uint64_t saved[2];
	if (!read_word(t, rbp, &saved[0]) || !read_word(t, rbp + 8, &saved[1]))
		return false;
	*out = *in;
	/* Only rbp, rsp and the return address are known; callee-saved
	 * registers are kept as a best guess, the rest dropped. */
	for (int col = 0; col < MP_DW_FRAME_COLUMNS; col++)
		if (col != 3 && (col < 12 || col > 15))
			out->valid[col] = false;
	out->value[RBP] = saved[0];
	out->value[RA] = saved[1];
	out->value[RSP] = rbp + 16;
	out->valid[RBP] = out->valid[RA] = out->valid[RSP] = true;
	return true;
}

mp_error *mp_unwinder_new(mp_target *t, mp_unwinder **out)
{
	*out = NULL;
	size_t n_modules = mp_target_module_count(t);
	mp_unwinder *u = calloc(1, sizeof(*u));
	if (!u)
		return mp_error_nomem();
	u->t = t;
	u->n = n_modules;
	u->dws = calloc(n_modules + 1, sizeof(*u->dws));
	u->tried = calloc(n_modules + 1, sizeof(*u->tried));
	if (!u->dws || !u->tried) {
		mp_unwinder_free(u);
		return mp_error_nomem();
	}
	*out = u;
	return NULL;
}

void mp_unwinder_free(mp_unwinder *u)
{
	if (!u)
		return;
	for (size_t i = 0; u->dws && i < u->n; i++)
		mp_dw_close(u->dws[i]);
	free(u->dws);
	free(u->tried);
	free(u);
}

/* What frame f's locals may be evaluated against: in the newest frame
 * every register; in a caller, the preserved ones the unwind restored
 * (only rbp and rsp through a frame pointer, which restores no other). */
static void record_registers(mp_frame *f, const regs *r, size_t depth)
{
	uint32_t keep = depth == 0 ? UINT32_MAX :
			f->source == MP_FRAME_POINTER ? (1u << RBP | 1u << RSP | 1u << RA) :
			preserved;
	for (int col = 0; col < MP_DW_FRAME_COLUMNS; col++) {
		f->regs[col] = r->value[col];
		if (r->valid[col] && (keep >> col & 1))
			f->regs_valid |= 1u << col;
	}
}

mp_error *mp_unwinder_run(mp_unwinder *u, const mp_registers *registers, size_t max_frames,
			  mp_backtrace *out)
{
	memset(out, 0, sizeof(*out));
	mp_target *t = u->t;
	out->frames = calloc(max_frames ? max_frames : 1, sizeof(*out->frames));
	if (!out->frames)
		return mp_error_nomem();
	regs r;
	for (int col = 0; col < MP_DW_FRAME_COLUMNS; col++) {
		int index = mp_register_index(dwarf_names[col]);
		r.valid[col] = index >= 0;
		r.value[col] = index >= 0 ? registers->value[index] : 0;
	}
	snprintf(out->stop, sizeof(out->stop), "%zu frames, the most asked for", max_frames);
	enum mp_frame_source source = MP_FRAME_REGISTERS;
	for (size_t i = 0; i < max_frames; i++) {
		uint64_t pc = r.value[RA];
		if (!r.valid[RA] || pc == 0) {
			snprintf(out->stop, sizeof(out->stop), "end of the stack (no return address)");
			break;
		}
		/* A caller's pc is a return address, possibly past the end of
		 * its function (a call to a noreturn function): look up pc - 1. */
		uint64_t lookup = i ? pc - 1 : pc;
		mp_frame *f = &out->frames[out->n_frames++];
		f->pc = pc;
		f->sp = r.value[RSP];
		f->source = source;
		record_registers(f, &r, i);
		f->function = mp_target_symbolize(t, lookup, &f->offset);
		if (f->function)
			f->offset += pc - lookup;
		size_t index = 0;
		const mp_module *m = mp_target_module_at(t, lookup, &index);
		f->module = m ? mp_module_name(m) : NULL;
		regs caller;
		bool stepped = false;
		mp_dw *dw = m ? cfi_of(u, m, index) : NULL;
		if (dw) {
			mp_dw_frame_row row;
			mp_error *e = mp_dw_frame_row_at(dw, lookup - mp_module_load_bias(m), &row);
			if (!e)
				f->has_cfa = row_cfa(&row, &r, &f->cfa);
			/* The outermost frame (_start, a thread's start) says
			 * so: its return address is undefined. */
			if (!e && row.rules[RA].kind == MP_DW_RULE_UNDEFINED) {
				snprintf(out->stop, sizeof(out->stop),
					 "the outermost frame (its call-frame information has no return address)");
				break;
			}
			if (!e && f->has_cfa)
				stepped = step_cfi(t, &row, f->cfa, &r, &caller);
			mp_error_free(e);
		}
		source = MP_FRAME_CFI;
		if (!stepped) {
			/* An exact CFA the row gave stays: the at-entry rule
			 * would give the same. */
			bool at_entry = i == 0 && f->function && f->offset == 0;
			uint64_t cfa = 0;
			bool has_cfa = false;
			stepped = step_frame_pointer(t, &r, at_entry, &caller, &cfa, &has_cfa);
			source = MP_FRAME_POINTER;
			if (stepped)
				out->uncertain = true;
			if (stepped && has_cfa && !f->has_cfa) {
				f->cfa = cfa;
				f->has_cfa = true;
			}
		}
		if (!stepped) {
			snprintf(out->stop, sizeof(out->stop),
				 "no call-frame information or frame pointer leads on from %#llx",
				 (unsigned long long)pc);
			break;
		}
		/* Callers' frames lie above their callees': a step that does not
		 * move up the stack would loop. */
		if (r.valid[RSP] && caller.value[RSP] <= r.value[RSP]) {
			snprintf(out->stop, sizeof(out->stop),
				 "the stack pointer did not move up from %#llx",
				 (unsigned long long)r.value[RSP]);
			break;
		}
		r = caller;
	}
	return NULL;
}

mp_error *mp_unwind(mp_target *t, const mp_registers *registers, size_t max_frames,
		    mp_backtrace *out)
{
	memset(out, 0, sizeof(*out));
	mp_unwinder *u;
	mp_error *err = mp_unwinder_new(t, &u);
	if (!err)
		err = mp_unwinder_run(u, registers, max_frames, out);
	mp_unwinder_free(u);
	return err;
}

void mp_backtrace_free(mp_backtrace *bt)
{
	free(bt->frames);
	bt->frames = NULL;
	bt->n_frames = 0;
}
