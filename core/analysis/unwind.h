/* A thread's call stack from its registers and memory, for `triage` and
 * for stack locals as typed roots (stack_roots.h):
 * each step follows the call-frame information (CFI) of the module holding
 * the pc, and falls back to the frame-pointer chain where a module has none
 * (from then on the frames are marked uncertain).  A bounded loop, never
 * recursion; nothing is written to the target. */
#ifndef MEMPROF_CORE_ANALYSIS_UNWIND_H
#define MEMPROF_CORE_ANALYSIS_UNWIND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dwarf/dwarf_lib.h"
#include "memprof/memprof.h"

enum mp_frame_source {
	MP_FRAME_REGISTERS,     /* frame 0: the thread's own registers */
	MP_FRAME_CFI,           /* the callee's CFI row gave this frame */
	MP_FRAME_POINTER,       /* the callee's saved frame pointer did: a guess */
};

typedef struct mp_frame {
	uint64_t pc;            /* frame 0: where it stopped; others: return address */
	uint64_t sp;
	const char *function;   /* symbol holding the pc (callers: pc - 1), or NULL */
	uint64_t offset;        /* pc minus the symbol's start */
	const char *module;     /* module holding the pc, or NULL */
	enum mp_frame_source source;
	/* What the frame's locals are evaluated against: the registers
	 * known to hold this frame's values (DWARF numbering, a bit per
	 * column in regs_valid; in callers, only those the ABI preserves
	 * across calls and the unwind restored), and its canonical frame
	 * address when a CFI row gave it (or, stopped on a function's first
	 * instruction, rsp + 8), never the frame-pointer chain's guess. */
	uint64_t regs[MP_DW_FRAME_COLUMNS];
	uint32_t regs_valid;
	uint64_t cfa;
	bool has_cfa;
} mp_frame;

typedef struct mp_backtrace {
	mp_frame *frames;
	size_t n_frames;
	bool uncertain;         /* a frame came from the frame-pointer chain */
	char stop[256];         /* why the walk ended */
} mp_backtrace;

/* Unwinds up to max_frames frames from registers. */
mp_error *mp_unwind(mp_target *target, const mp_registers *registers, size_t max_frames,
		    mp_backtrace *out);
/* The same for many threads: each module's call-frame information is
 * read once per session. */
typedef struct mp_unwinder mp_unwinder;
mp_error *mp_unwinder_new(mp_target *target, mp_unwinder **out);
mp_error *mp_unwinder_run(mp_unwinder *unwinder, const mp_registers *registers,
			  size_t max_frames, mp_backtrace *out);
void mp_unwinder_free(mp_unwinder *unwinder);
void mp_backtrace_free(mp_backtrace *backtrace);
const char *mp_frame_source_name(enum mp_frame_source source);

#endif
