/* The logical walk (`memprof logical ROOT`): a value's bytes by field path,
 * straight from its DWARF type and the heap snapshot.  See docs/logical.md
 * for the rules; in short:
 * - the root's inline bytes are sizeof(T), padding included;
 * - every heap block reached is counted once (first path in depth-first
 *   member order wins, cycles stop);
 * - pointers to structs count the pointee, pointers used as arrays
 *   len * sizeof(elem) (len from a sibling field, else the block's usable
 *   size), char * strlen + 1, void * and unknown pointees the usable size,
 *   pointers outside the heap only themselves;
 * - containers (libstdc++, Rust std) by their real layout.
 * The result is a tree of frames; only leaves carry bytes.  The walk uses an
 * explicit, bounded work list, never recursion over the inspected data. */
#ifndef MEMPROF_CORE_ANALYSIS_LOGICAL_H
#define MEMPROF_CORE_ANALYSIS_LOGICAL_H

#include <stdbool.h>
#include <stdint.h>

#include "memprof/memprof.h"

typedef struct mp_logical mp_logical;

typedef struct mp_logical_options {
	uint64_t max_objects;   /* heap blocks followed; 0: no limit */
	uint32_t max_depth;     /* frames below the root; 0: the default (64) */
	/* Walk only this member of the root struct (in its own frame below
	 * the root); NULL: the whole value. */
	const char *member;
	bool (*interrupted)(void *context);
	void *context;
	/* Owner paths for snapshots (analysis/owner_paths.c): per chunk index,
	 * 0 or the owner a walk gave it.  A block with an owner already is
	 * not claimed (an earlier root holds it); one this walk claims gets
	 * owner_base + its frame index + 1.  NULL: not recorded. */
	uint32_t *chunk_owner;
	uint32_t owner_base;
} mp_logical_options;

/* One frame of the result.  logical/allocated/count are the frame's own
 * (self) values; subtree sums come from mp_logical_subtree. */
typedef struct mp_logical_node {
	uint32_t parent;        /* UINT32_MAX for the root */
	uint32_t depth;         /* root: 0 */
	const char *name;       /* no spaces, no ';' */
	uint64_t logical, allocated, count;
	/* A pointer member's frame: the rule that gave its length ("sibling
	 * n", "generic len (...)", "block size", "string (strlen + 1)") or why
	 * it stayed a single element; NULL elsewhere.  The first object's
	 * rule; length_mixed when other objects of the same path took another. */
	const char *length_from;
	bool length_mixed;
} mp_logical_node;

typedef struct mp_logical_stats {
	uint64_t blocks;        /* heap blocks reached (counted once each) */
	uint64_t objects;       /* values walked (structs, elements, strings) */
	uint64_t work_peak;     /* largest work list, in entries */
	uint64_t work_bytes;    /* memory of the walk itself (visited set, work list,
				 * frames, plans) at its peak */
} mp_logical_stats;

/* Walks the value of type at address, named root_name in the result. */
mp_error *mp_logical_walk(mp_target *target, const mp_heap *heap,
			  uint64_t address, const mp_type *type,
			  const char *root_name, const mp_logical_options *options,
			  mp_logical **out);
void mp_logical_free(mp_logical *logical);

/* Frames in creation order (a parent before its children); index 0 is the
 * root.  Self values are final: a frame that has children and own bytes
 * (a pointer that was followed) gets them moved to a child "[inline]". */
size_t mp_logical_node_count(const mp_logical *logical);
const mp_logical_node *mp_logical_node_at(const mp_logical *logical, size_t index);
/* Sums over a frame's subtree. */
void mp_logical_subtree(const mp_logical *logical, size_t index,
			uint64_t *logical_bytes, uint64_t *allocated, uint64_t *count);
bool mp_logical_partial(const mp_logical *logical);
size_t mp_logical_warning_count(const mp_logical *logical);
const char *mp_logical_warning(const mp_logical *logical, size_t index);
const mp_logical_stats *mp_logical_get_stats(const mp_logical *logical);

/* Frame name for a type: C tag keywords dropped, spaces removed or made
 * '_', ';' replaced; written to out (size bytes, always terminated). */
void mp_logical_frame_name(const char *type_name, char *out, size_t size);

#endif
