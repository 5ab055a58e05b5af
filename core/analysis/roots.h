/* Where a conservative scan starts: registers and memory ranges that are
 * not the heap.  Shared by leak marking (leaks.c) and `refs` (refs.c) so
 * both see exactly the same roots. */
#ifndef MEMPROF_CORE_ANALYSIS_ROOTS_H
#define MEMPROF_CORE_ANALYSIS_ROOTS_H

#include "memprof/memprof.h"

typedef struct mp_root_range {
	uint64_t start, end;
	enum mp_root_kind kind;     /* MP_ROOT_STACK, _TLS, _MODULE or _MAPPING */
	int64_t tid;                /* stacks */
	const char *path;           /* the mapping's path */
} mp_root_range;

/* Memory roots in scan order: stacks from their stack pointer (less the
 * 128-byte red zone) up, the static TLS area of each thread, module data (with .bss past the file), then,
 * unless strict, every other readable and writable mapping; every range
 * less the bytes of the heap's regions.  Problems (a thread without registers, a stack pointer in no
 * mapping) are passed to warn. */
mp_error *mp_roots_collect(mp_target *target, const mp_heap *heap, bool strict,
			   void (*warn)(void *context, const char *message),
			   void *context, mp_root_range **out, size_t *count);

/* Reads [start, end) in large runs and hands each run to visit; runs that
 * cannot be read are skipped page by page and named once through warn.
 * Stops early, returning false, when visit does. */
bool mp_roots_read(mp_target *target, uint64_t start, uint64_t end,
		   uint8_t *buffer, size_t buffer_size,
		   bool (*visit)(void *context, const uint8_t *bytes,
				 uint64_t address, size_t length),
		   void (*warn)(void *context, const char *message),
		   void *context, const char *what);

#endif
