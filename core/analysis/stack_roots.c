/* Stack locals of stopped threads as typed roots (stack_roots.h). */
#include "stack_roots.h"

#include <dwarf.h>
#include <string.h>

#include "dwarf/dwarf_expr.h"
#include "dwarf/types.h"
#include "error.h"
#include "target/target_internal.h"
#include "unwind.h"

/* The frame's registers and CFA as the expression evaluator wants them,
 * with the function's frame base evaluated in the same frame. */
static void frame_of(mp_target *t, const mp_frame *f, const mp_module *m,
		     const mp_dw_expr *frame_base, mp_dw_expr_frame *out)
{
	memset(out, 0, sizeof(*out));
	memcpy(out->regs, f->regs, sizeof(out->regs));
	out->valid = f->regs_valid;
	out->cfa = f->cfa;
	out->has_cfa = f->has_cfa;
	out->load_bias = mp_module_load_bias(m);
	out->target = t;
	mp_dw_value base = mp_dw_expr_eval(frame_base, out);
	out->has_frame_base = base.kind != MP_DW_VALUE_NONE;
	out->frame_base = base.value;
}

/* Whether a frame base names rbp (clang's DW_OP_reg6 or DW_OP_breg6) and
 * rbp is not this frame's: pushed by the function's prologue at CFA - 16
 * and set to that address, it equals CFA - 16 from there until the
 * epilogue pops it (x86-64).  Without the CFA nothing vouches for it. */
static bool frame_base_unsettled(const mp_dw_expr *frame_base, const mp_frame *f)
{
	enum { RBP = 6 };
	bool rbp_based = false;
	for (unsigned i = 0; i < frame_base->n; i++) {
		uint8_t op = frame_base->ops[i].atom;
		if (op == DW_OP_reg0 + RBP || op == DW_OP_breg0 + RBP ||
		    ((op == DW_OP_regx || op == DW_OP_bregx) && frame_base->ops[i].operand1 == RBP))
			rbp_based = true;
	}
	return rbp_based && (!f->has_cfa || !(f->regs_valid >> RBP & 1) || f->regs[RBP] != f->cfa - 16);
}

/* Whether a location reads the frame's memory: its slot, or a value
 * loaded from it. */
static bool reads_frame_memory(const mp_dw_expr *location, mp_dw_value where)
{
	if (where.kind == MP_DW_VALUE_MEMORY)
		return true;
	for (unsigned i = 0; i < location->n; i++)
		if (location->ops[i].atom == DW_OP_fbreg || location->ops[i].atom == DW_OP_deref)
			return true;
	return false;
}

/* Evaluates one frame's locals and hands them over; false when visit
 * asked to stop or memory ran out (*err). */
static bool visit_frame(mp_target *t, const mp_module *m, mp_dw *dw, int64_t tid,
			unsigned index, const mp_frame *f,
			bool (*visit)(void *context, const mp_stack_root *root), void *context,
			mp_stack_roots_stats *stats, mp_error **err)
{
	/* A caller's pc is a return address, maybe past its function's
	 * end: its scope and locations are those of the call, at pc - 1. */
	uint64_t pc = index ? f->pc - 1 : f->pc;
	mp_dw_locals locals;
	mp_error *e = mp_dw_locals_at(dw, pc - mp_module_load_bias(m), &locals);
	if (e) {
		/* Bad DWARF leaves this frame's locals out, said once. */
		if (mp_error_code(e) == MP_ERR_FORMAT && !stats->frames_bad_dwarf++)
			mp_target_warn(t, "stack locals: %s: the locals of frames there are left out",
				       mp_error_message(e));
		if (mp_error_code(e) == MP_ERR_NOMEM)
			*err = e;
		else
			mp_error_free(e);
		return !*err;
	}
	stats->frames_with_locals++;
	stats->skipped += locals.skipped_later + locals.skipped_no_location;
	mp_dw_expr_frame frame;
	frame_of(t, f, m, &locals.frame_base, &frame);
	/* The newest frame may be stopped in its prologue or epilogue (the
	 * others are at calls): its slots and frame base are then not yet,
	 * or no longer, the function's, and hold the caller's values or
	 * stale ones.  Its locals in registers are exact there. */
	bool unsettled = index == 0 &&
			 (locals.in_prologue || frame_base_unsettled(&locals.frame_base, f));
	bool go_on = true;
	for (size_t i = 0; i < locals.n && go_on; i++) {
		const mp_dw_local *local = &locals.items[i];
		mp_dw_value where = mp_dw_expr_eval(&local->location, &frame);
		if (unsettled && reads_frame_memory(&local->location, where)) {
			stats->skipped++;
			continue;
		}
		const mp_type *type = NULL;
		if (where.kind != MP_DW_VALUE_NONE && local->type) {
			e = mp_type_at_offset(t, m, local->type, &type);
			if (e && mp_error_code(e) == MP_ERR_NOMEM) {
				*err = e;
				go_on = false;
				break;
			}
			mp_error_free(e);
		}
		if (!type) {
			stats->skipped++;
			continue;
		}
		mp_stack_root root = {
			.tid = tid,
			.frame = index,
			.name = local->name,
			.type = type,
			.in_memory = where.kind == MP_DW_VALUE_MEMORY,
			.address = where.kind == MP_DW_VALUE_MEMORY ? where.value : 0,
			.value = where.kind == MP_DW_VALUE_REGISTER ? where.value : 0,
		};
		stats->roots++;
		go_on = visit(context, &root);
	}
	mp_dw_locals_free(&locals);
	return go_on;
}

mp_error *mp_stack_roots_visit(mp_target *t, const mp_module *m,
			       bool (*visit)(void *context, const mp_stack_root *root),
			       void *context, mp_stack_roots_stats *stats)
{
	memset(stats, 0, sizeof(*stats));
	mp_dw *dw = NULL;
	mp_error *err = mp_type_module_dwarf(t, m, &dw);
	if (err || !dw) {
		if (err && mp_error_code(err) == MP_ERR_NOMEM)
			return err;
		mp_error_free(err);
		return NULL;
	}
	mp_unwinder *unwinder = NULL;
	err = mp_unwinder_new(t, &unwinder);
	if (err)
		return err;
	uint64_t start = mp_module_start(m), end = mp_module_end(m);
	bool go_on = true;
	for (size_t i = 0; i < mp_target_thread_count(t) && go_on && !err; i++) {
		const mp_thread *thread = mp_target_thread(t, i);
		if (!thread->has_registers)
			continue;
		mp_backtrace bt;
		err = mp_unwinder_run(unwinder, &thread->registers, MP_STACK_ROOTS_MAX_FRAMES, &bt);
		if (err)
			break;
		stats->threads++;
		stats->frames += bt.n_frames;
		for (size_t k = 0; k < bt.n_frames && go_on && !err; k++) {
			const mp_frame *f = &bt.frames[k];
			/* A frame the frame-pointer chain gave is a guess, and so
			 * is every frame above it: no locals are read there. */
			if (f->source == MP_FRAME_POINTER)
				break;
			uint64_t pc = k ? f->pc - 1 : f->pc;
			if (pc < start || pc >= end)
				continue;
			go_on = visit_frame(t, m, dw, thread->tid, (unsigned)k, f, visit, context,
					    stats, &err);
		}
		mp_backtrace_free(&bt);
	}
	mp_unwinder_free(unwinder);
	return err;
}
