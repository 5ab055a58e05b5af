/* Stack locals as typed roots, without a debugger: every thread of the
 * target is unwound (unwind.h) and the variables and parameters in scope
 * in each frame of a module with DWARF (dwarf_lib.h, mp_dw_locals_at) are
 * evaluated against the frame's recovered registers (dwarf_expr.h).  What
 * cannot be evaluated exactly is left out, never guessed: so are the
 * frames from the first one the frame-pointer chain gave on.  Nothing is
 * written to the target. */
#ifndef MEMPROF_CORE_ANALYSIS_STACK_ROOTS_H
#define MEMPROF_CORE_ANALYSIS_STACK_ROOTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "memprof/memprof.h"

enum { MP_STACK_ROOTS_MAX_FRAMES = 64 };   /* per thread, as the debuggers' front-ends */

typedef struct mp_stack_root {
	int64_t tid;
	unsigned frame;            /* 0: the newest */
	const char *name;          /* the variable's name, or NULL */
	const mp_type *type;       /* its declared type */
	bool in_memory;            /* stored at address, else its value is value */
	uint64_t address;
	uint64_t value;
} mp_stack_root;

typedef struct mp_stack_roots_stats {
	size_t threads, frames;          /* unwound */
	size_t frames_with_locals;       /* frames of the module whose scope was found */
	size_t roots;                    /* handed to visit */
	size_t skipped;                  /* declared later, optimized out, not evaluable,
					  * or in memory of a frame stopped in its
					  * prologue or epilogue */
	size_t frames_bad_dwarf;         /* scope search stopped at its bound (warned once) */
} mp_stack_roots_stats;

/* Hands each evaluable local of the module's frames (in every thread) to
 * visit, until it returns false.  A module without DWARF gives no roots
 * and no error; only running out of memory is an error. */
mp_error *mp_stack_roots_visit(mp_target *target, const mp_module *module,
			       bool (*visit)(void *context, const mp_stack_root *root),
			       void *context, mp_stack_roots_stats *stats);

#endif
