/* The pointer graph between heap blocks, built once in parallel so leak
 * marking is a walk over integer arrays.  Finding which block a word points
 * into is the expensive part of a conservative scan; it depends only on the
 * heap, so it splits across cores by block ranges with identical results
 * whatever the number of threads. */
#ifndef MEMPROF_CORE_ANALYSIS_BLOCK_GRAPH_H
#define MEMPROF_CORE_ANALYSIS_BLOCK_GRAPH_H

#include <stdatomic.h>
#include <string.h>

#include "memprof/memprof.h"

enum {
	MP_BLOCK_GRAPH_PART_SHIFT = 12,
	MP_BLOCK_GRAPH_PART_CHUNKS = 1 << MP_BLOCK_GRAPH_PART_SHIFT,
};

/* The edges of MP_BLOCK_GRAPH_PART_CHUNKS consecutive chunks (fewer in the
 * last part).  Threads take parts as they come and each part keeps its own
 * arrays: joining them would copy every edge once more.  Where chunk k's
 * edges start is kept in the fewest bytes that hold it: in most parts
 * (fewer than 2^16 edges, fewer than 255 from any one chunk) a byte per
 * chunk, its edge count, and the first edge of every 16 chunks; else a
 * 16-bit or 32-bit offset per chunk.  The offsets were a third of the
 * graph, which is the largest thing a leak check adds to the chunk table
 * (issue 18). */
enum {
	MP_BLOCK_GRAPH_GROUP_SHIFT = 4,
	/* A group of 16 chunks: its first edge (16 bits) and each chunk's
	 * edge count, side by side so that a lookup misses the cache once. */
	MP_BLOCK_GRAPH_GROUP_BYTES = 2 + (1 << MP_BLOCK_GRAPH_GROUP_SHIFT),
};

typedef struct mp_block_graph_part {
	uint32_t *edges;        /* target chunk << 1 | 1 for a start pointer */
	size_t n_edges;
	/* One of three: groups (group k >> GROUP_SHIFT: its first edge, then
	 * the counts; chunk k's edges start at the first edge plus the counts
	 * before it in its group); or chunk k's edges are [first[k],
	 * first[k + 1]). */
	uint8_t *groups;
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

/* The sum of the 8 bytes of word. */
static inline uint32_t mp_block_graph_byte_sum(uint64_t word)
{
	uint64_t pairs = (word & 0x00ff00ff00ff00ffull) + ((word >> 8) & 0x00ff00ff00ff00ffull);
	return (uint32_t)((pairs * 0x0001000100010001ull) >> 48);
}

/* The edges of chunk i: *count of them. */
static inline const uint32_t *mp_block_graph_edges(const mp_block_graph *g, size_t i,
						   size_t *count)
{
	const mp_block_graph_part *p = &g->parts[i >> MP_BLOCK_GRAPH_PART_SHIFT];
	size_t k = i & (MP_BLOCK_GRAPH_PART_CHUNKS - 1);
	if (p->groups) {
		const uint8_t *group = p->groups + (k >> MP_BLOCK_GRAPH_GROUP_SHIFT) *
						   MP_BLOCK_GRAPH_GROUP_BYTES;
		uint16_t first;
		uint64_t low, high;
		memcpy(&first, group, sizeof(first));
		memcpy(&low, group + 2, 8);
		memcpy(&high, group + 10, 8);
		unsigned at = (unsigned)(k & ((1u << MP_BLOCK_GRAPH_GROUP_SHIFT) - 1));
		/* The counts before chunk k (bytes in memory order: the low
		 * bits first on the little-endian hosts memprof runs on),
		 * summed without a loop: marking looks up every block, and a
		 * loop of 0 to 15 steps mispredicts (marking took 1.6 times
		 * as long). */
		uint64_t keep_low = at >= 8 ? ~0ull : ((1ull << (8 * at)) - 1);
		uint64_t keep_high = at <= 8 ? 0 : ((1ull << (8 * (at - 8))) - 1);
		*count = group[2 + at];
		return p->edges + first + mp_block_graph_byte_sum(low & keep_low) +
		       mp_block_graph_byte_sum(high & keep_high);
	}
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

/* The same, with what a scan reads described in full: kinds[i] ==
 * not_a_block says chunk i is no block (the leak check passes its state
 * array rather than a copy of it); a region whose region_bytes entry is
 * NULL is read, a window at a time into each thread's own buffer, through
 * read when given (called from every scanning thread at once), else has no
 * edges.  Reading instead of viewing keeps a core's pages out of memory. */
typedef struct mp_block_graph_input {
	const uint8_t *kinds;
	uint8_t not_a_block;
	const uint8_t *const *region_bytes;
	mp_error *(*read)(void *context, uint64_t address, void *buffer, size_t length);
	void *read_context;
	uint64_t low, high;
	unsigned threads;
	atomic_bool *stop;
	bool (*interrupted)(void *context);
	void *context;
} mp_block_graph_input;

mp_error *mp_block_graph_build_from(const mp_heap *heap, const mp_block_graph_input *input,
				    mp_block_graph *out);
void mp_block_graph_free(mp_block_graph *graph);

#endif
