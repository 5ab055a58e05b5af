/* The pointer graph between heap blocks, built once in parallel so leak
 * marking is a walk over integer arrays.  Finding which block a word points
 * into is the expensive part of a conservative scan; it depends only on the
 * heap, so it splits across cores by block ranges with identical results
 * whatever the number of threads. */
#ifndef MEMPROF_CORE_ANALYSIS_BLOCK_GRAPH_H
#define MEMPROF_CORE_ANALYSIS_BLOCK_GRAPH_H

#include <stdatomic.h>

#include "memprof/memprof.h"

/* The edges of chunks [begin, end).  Threads scan parts as they come and
 * each part keeps its own array: joining them would copy every edge once
 * more. */
typedef struct mp_block_graph_part {
	size_t begin, end;
	uint32_t *edges;        /* target chunk << 1 | 1 for a start pointer */
	size_t n_edges;
} mp_block_graph_part;

typedef struct mp_block_graph {
	/* Chunk i's edges start at first[i] in its part's array and end where
	 * the next chunk's start, or at the part's end. */
	uint32_t *first;
	mp_block_graph_part *parts;   /* part p holds chunks from p << part_shift */
	size_t n_parts;
	unsigned part_shift;
	size_t n_edges;
	uint64_t scanned_bytes;
	unsigned threads;       /* how many scanned */
} mp_block_graph;

/* The edges of chunk i: *count of them. */
static inline const uint32_t *mp_block_graph_edges(const mp_block_graph *g, size_t i,
						   size_t *count)
{
	const mp_block_graph_part *p = &g->parts[i >> g->part_shift];
	uint32_t end = i + 1 < p->end ? g->first[i + 1] : (uint32_t)p->n_edges;
	*count = end - g->first[i];
	return p->edges + g->first[i];
}

/* is_block[i] says which chunks are blocks; region_bytes[r] holds region
 * r's bytes (NULL: unreadable, no edges).  Words outside [low, high) are
 * skipped without a lookup.  threads 0 means one per online CPU (at most
 * 8).  interrupted (polled from the calling thread only) or *stop makes
 * it give up with MP_ERR_INTERRUPTED. */
mp_error *mp_block_graph_build(const mp_heap *heap, const uint8_t *is_block,
			       const uint8_t *const *region_bytes, uint64_t low,
			       uint64_t high, unsigned threads, atomic_bool *stop,
			       bool (*interrupted)(void *context), void *context,
			       mp_block_graph *out);
void mp_block_graph_free(mp_block_graph *graph);

#endif
