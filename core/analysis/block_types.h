/* Heap block types from DWARF-typed roots (see block_types.c). */
#ifndef MEMPROF_CORE_ANALYSIS_BLOCK_TYPES_H
#define MEMPROF_CORE_ANALYSIS_BLOCK_TYPES_H

#include "memprof/memprof.h"

/* *out: per chunk index, the record type a typed pointer gave it, or NULL.
 * The caller frees the array.  Targets without debug info give all NULL. */
mp_error *mp_block_types_infer(mp_target *target, const mp_heap *heap,
			       const mp_type ***out);

#endif
