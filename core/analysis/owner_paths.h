/* Owner paths of heap blocks for snapshots: per block, the field path from
 * a global variable that holds it, as `memprof logical` folds it
 * (`session_cache;head;session;next`).  `diff` uses them to find growth
 * per owner path beside growth per type (docs/diff.md).
 *
 * Roots: the main program's global and static variables of struct, class,
 * pointer or array type, walked one after the other by the logical walk
 * (analysis/logical.c); the first root to reach a block owns it, and the
 * path is the frame of the pointer or container that claimed the block
 * (the frame `logical --metric count` counts it in).  Work is bounded in
 * blocks over all roots; past the bound the rest have no owner and the
 * paths are marked partial.
 *
 * Saved as the snapshot section HEAP_SECTION_OWNERS (the table of paths)
 * and, per chunk, as an index in the blocks section's word
 * (snapshot_blocks.h). */
#ifndef MEMPROF_CORE_ANALYSIS_OWNER_PATHS_H
#define MEMPROF_CORE_ANALYSIS_OWNER_PATHS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "memprof/memprof.h"

typedef struct mp_owner_paths {
	char **paths;              /* folded, ';'-separated */
	size_t n_paths;
	uint32_t *chunk_path;      /* per chunk: index into paths + 1; 0: no owner
				    * (computed only: a decoded table has none) */
	size_t n_chunks;
	uint64_t roots;            /* variables walked */
	uint64_t owned;            /* blocks given an owner */
	bool partial;              /* the bound stopped the walks */
} mp_owner_paths;

typedef struct mp_owner_options {
	uint64_t max_blocks;       /* over all roots; 0: the default (16 Mi) */
	bool (*interrupted)(void *context);
	void *context;
} mp_owner_options;

/* Walks the main program's globals over heap.  A target without debug
 * info gives no paths and no error. */
mp_error *mp_owner_paths_compute(mp_target *target, const mp_heap *heap,
				 const mp_owner_options *options, mp_owner_paths *out);

/* The section's bytes, the table of paths (*out is the caller's to
 * free), and back, every count checked. */
mp_error *mp_owner_paths_encode(const mp_owner_paths *paths, uint8_t **out, size_t *size);
mp_error *mp_owner_paths_decode(const uint8_t *data, size_t size, mp_owner_paths *out);
void mp_owner_paths_free(mp_owner_paths *paths);

#endif
