/* `refs`: references into a block and one shortest path from a root. */
#ifndef MEMPROF_CORE_ANALYSIS_REFS_H
#define MEMPROF_CORE_ANALYSIS_REFS_H

#include "memprof/memprof.h"

enum mp_ref_kind {
	MP_REF_REGISTER,
	MP_REF_STACK,
	MP_REF_TLS,
	MP_REF_MODULE,
	MP_REF_MAPPING,
	MP_REF_BLOCK,
};

typedef struct mp_reference {
	enum mp_ref_kind kind;
	uint64_t address;          /* of the pointer word (0 for registers) */
	uint64_t value;            /* what it holds */
	int64_t tid;               /* registers, stacks */
	int register_index;
	size_t block;              /* MP_REF_BLOCK: chunk index of the owner */
	const char *path;          /* mapping path of module and mapping roots */
	char where[160];           /* "register rbx of thread 12", "list_head+8" */
} mp_reference;

typedef struct mp_path_step {
	mp_reference root;         /* steps[0] only: the root word */
	size_t block;              /* steps[1..]: the block reached */
	uint64_t word_address;     /* the word in the previous step pointing to it */
	uint64_t offset;           /* where that word points in the block: 0 for
				    * its start, else an interior pointer */
} mp_path_step;

mp_error *mp_refs_find(mp_target *target, const mp_heap *heap, size_t chunk,
		       mp_reference **out, size_t *count);
/* One shortest path; *count is 0 when no root reaches the chunk. */
mp_error *mp_refs_path(mp_target *target, const mp_heap *heap, size_t chunk,
		       mp_path_step **out, size_t *count);

#endif
