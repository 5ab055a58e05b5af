/* The pointer graph between heap blocks, built once in parallel so leak
 * marking is a walk over integer arrays.  Finding which block a word points
 * into is the expensive part of a conservative scan; it depends only on the
 * heap, so it splits across cores by block ranges with identical results
 * whatever the number of threads. */
#ifndef MEMPROF_CORE_ANALYSIS_BLOCK_GRAPH_H
#define MEMPROF_CORE_ANALYSIS_BLOCK_GRAPH_H

#include <stdatomic.h>

#include "memprof/memprof.h"

enum {
	MP_BLOCK_GRAPH_PART_SHIFT = 12,
	MP_BLOCK_GRAPH_PART_CHUNKS = 1 << MP_BLOCK_GRAPH_PART_SHIFT,
};

/* The edges of MP_BLOCK_GRAPH_PART_CHUNKS consecutive chunks (fewer in the
 * last part).  Threads take parts as they come and each part keeps its own
 * arrays: joining them would copy every edge once more.  The offsets of
 * its chunks' edges are 16-bit when the part has fewer than 2^16 edges (all
 * but parts with huge pointer arrays), which halves the largest array of
 * the graph. */
typedef struct mp_block_graph_part {
	uint32_t *edges;        /* target chunk << 1 | 1 for a start pointer */
	size_t n_edges;
	/* One of the two: chunk k's edges are [first[k], first[k + 1]). */
	uint16_t *first16;
	uint32_t *first32;
} mp_block_graph_part;

typedef struct mp_block_graph {
	mp_block_graph_part *parts;   /* part p: chunks from p << PART_SHIFT */
	size_t n_parts;
	size_t n_edges;
	uint64_t scanned_bytes;
	unsigned threads;       /* how many scanned */
} mp_block_graph;

/* The edges of chunk i: *count of them. */
static inline const uint32_t *mp_block_graph_edges(const mp_block_graph *g, size_t i,
						   size_t *count)
{
	const mp_block_graph_part *p = &g->parts[i >> MP_BLOCK_GRAPH_PART_SHIFT];
	size_t k = i & (MP_BLOCK_GRAPH_PART_CHUNKS - 1);
	uint32_t begin = p->first16 ? p->first16[k] : p->first32[k];
	uint32_t end = p->first16 ? p->first16[k + 1] : p->first32[k + 1];
	*count = end - begin;
	return p->edges + begin;
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
