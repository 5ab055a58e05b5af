#include "block_graph.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "array.h"
#include "error.h"
#include "heap/heap_internal.h"

enum { MAX_THREADS = MP_BLOCK_GRAPH_MAX_PARTS };

typedef struct worker {
	const mp_heap *h;
	const uint8_t *is_block;
	const uint8_t *const *region_bytes;
	uint64_t low, high;
	size_t begin, end;          /* chunk indices this worker scans */
	uint32_t *first;            /* shared; this worker writes [begin, end) */
	uint32_t *edges;            /* its own */
	size_t n_edges, capacity;
	uint64_t scanned_bytes;
	atomic_bool *stop;
	bool (*interrupted)(void *context);   /* worker 0 only: the host's poll */
	void *context;
	bool failed;
} worker;

/* The chunk value points into the usable bytes of, or -1; *hint is the
 * region tried first.  The chunk comes from the region's start bitmap (a
 * load and a popcount).  In a tiled region a chunk ends where the next one
 * starts, so the bitmap also says whether value is past the chunk's header
 * and whether it is the first usable byte, without touching the chunk
 * table.  Chunks that are no block are found too: marking ignores them. */
static inline __attribute__((always_inline)) ptrdiff_t resolve(const worker *w, uint64_t value, bool *start,
				size_t *hint)
{
	const mp_heap *h = w->h;
	const heap_region *r = &h->regions[*hint];
	if (value < r->start || value >= r->end) {
		size_t lo = 0, hi = h->n_regions;
		r = NULL;
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			if (value < h->regions[mid].start)
				hi = mid;
			else if (value >= h->regions[mid].end)
				lo = mid + 1;
			else {
				r = &h->regions[mid];
				*hint = mid;
				break;
			}
		}
		if (!r)
			return -1;
	}
	size_t g = (size_t)((value - r->start) >> HEAP_ALIGN_SHIFT);
	size_t word = g / 64, bit = g % 64;
	uint64_t bits = r->starts[word];
	uint64_t below = bits & (~(uint64_t)0 >> (63 - bit));
	size_t rank = r->before[word] + (size_t)__builtin_popcountll(below);
	if (rank == 0)
		return -1;
	size_t index = r->first + rank - 1;
	if (r->tiled) {
		/* The header is the chunk's first 16 bytes: its first granule. */
		if (bits >> bit & 1)
			return -1;
		uint64_t previous = bit ? bits >> (bit - 1) : word ? r->starts[word - 1] >> 63 : 0;
		*start = (value & 15) == 0 && (previous & 1);
		return (ptrdiff_t)index;
	}
	const heap_chunk *c = &h->chunks[index];
	if (value < c->address + 16 || value >= c->address + heap_chunk_size(c))
		return -1;
	*start = value == c->address + 16;
	return (ptrdiff_t)index;
}

/* Appends the edges of one block's usable words. */
static inline __attribute__((always_inline)) bool scan_words(worker *w, const uint8_t *bytes,
							     uint64_t length, size_t *hint)
{
	w->scanned_bytes += length;
	for (uint64_t k = 0; k + 8 <= length; k += 8) {
		uint64_t value;
		memcpy(&value, bytes + k, 8);
		if (value < w->low || value >= w->high)
			continue;
		bool start;
		ptrdiff_t target = resolve(w, value, &start, hint);
		if (target < 0)
			continue;
		if (!MP_ARRAY_RESERVE(w->edges, w->capacity, w->n_edges + 1))
			return false;
		w->edges[w->n_edges++] = (uint32_t)target << 1 | start;
	}
	return true;
}

/* Polled every 64Ki chunks: the host's interrupt (worker 0) and the
 * shared stop flag. */
static inline __attribute__((always_inline)) bool keep_going(worker *w, size_t i)
{
	if ((i & 0xffff) != 0)
		return true;
	if (w->interrupted && w->interrupted(w->context))
		atomic_store(w->stop, true);
	return !atomic_load_explicit(w->stop, memory_order_relaxed);
}

/* Chunks [lo, hi) of a tiled region of arena chunks, found by walking its
 * start bitmap: each chunk ends where the next starts, and its usable
 * bytes run 16 bytes past its start to 8 past its end (the next chunk's
 * prev_size word), so the chunk table is not read at all. */
static inline __attribute__((always_inline)) bool scan_tiled(worker *w, const heap_region *r,
							     const uint8_t *bytes, size_t lo,
							     size_t hi, size_t *hint)
{
	size_t granule = (size_t)((w->h->chunks[lo].address - r->start) >> HEAP_ALIGN_SHIFT);
	size_t word = granule / 64;
	uint64_t bits = r->starts[word] & (~(uint64_t)1 << (granule % 64));
	size_t end_granule = (size_t)((r->end - r->start) >> HEAP_ALIGN_SHIFT);
	for (size_t i = lo; i < hi; i++) {
		w->first[i] = (uint32_t)w->n_edges;
		while (!bits && ++word < r->n_words)
			bits = r->starts[word];
		size_t next = bits ? word * 64 + (size_t)__builtin_ctzll(bits) : end_granule;
		bits &= bits - 1;
		if (w->is_block[i]) {
			uint64_t user = ((uint64_t)granule << HEAP_ALIGN_SHIFT) + 16;
			uint64_t stop = ((uint64_t)next << HEAP_ALIGN_SHIFT) + 8;
			if (stop > r->end - r->start)
				stop = r->end - r->start;
			if (stop > user && !scan_words(w, bytes + user, stop - user, hint))
				return false;
		}
		granule = next;
		if (!keep_going(w, i))
			return false;
	}
	return true;
}

/* Chunks [lo, hi) of any region, read from the chunk table. */
static inline __attribute__((always_inline)) bool scan_listed(worker *w, const heap_region *r,
							      const uint8_t *bytes, size_t lo,
							      size_t hi, size_t *hint)
{
	for (size_t i = lo; i < hi; i++) {
		w->first[i] = (uint32_t)w->n_edges;
		if (w->is_block[i]) {
			const heap_chunk *c = &w->h->chunks[i];
			uint64_t user = c->address + 16;
			uint64_t length = heap_chunk_usable(c);
			if (user + length > r->end)
				length = r->end > user ? r->end - user : 0;
			if (!scan_words(w, bytes + (user - r->start), length, hint))
				return false;
		}
		if (!keep_going(w, i))
			return false;
	}
	return true;
}

/* Built for CPUs with POPCNT (resolve is inlined into each version) and
 * for the baseline, chosen when loaded. */
__attribute__((target_clones("popcnt", "default")))
static void *scan_range(void *arg)
{
	worker *w = arg;
	const mp_heap *h = w->h;
	size_t hint = 0;
	for (size_t region = 0; region < h->n_regions; region++) {
		const heap_region *r = &h->regions[region];
		size_t lo = r->first > w->begin ? r->first : w->begin;
		size_t hi = r->first + r->count < w->end ? r->first + r->count : w->end;
		if (lo >= hi)
			continue;
		const uint8_t *bytes = w->region_bytes[region];
		bool ok = true;
		if (!bytes) {
			for (size_t i = lo; i < hi; i++)
				w->first[i] = (uint32_t)w->n_edges;
		} else if (r->tiled && r->arena >= 0) {
			ok = scan_tiled(w, r, bytes, lo, hi, &hint);
		} else {
			ok = scan_listed(w, r, bytes, lo, hi, &hint);
		}
		if (!ok) {
			w->failed = true;
			return NULL;
		}
	}
	return NULL;
}

/* The most edges chunks [begin, end) can have: one per word of the heap
 * they span. */
static size_t edge_bound(const mp_heap *h, size_t begin, size_t end)
{
	uint64_t words = 0;
	for (size_t region = 0; region < h->n_regions; region++) {
		const heap_region *r = &h->regions[region];
		size_t lo = r->first > begin ? r->first : begin;
		size_t hi = r->first + r->count < end ? r->first + r->count : end;
		if (lo >= hi)
			continue;
		uint64_t stop = hi < r->first + r->count ? h->chunks[hi].address : r->end;
		words += (stop - h->chunks[lo].address) / 8 + 1;
	}
	return words < SIZE_MAX / sizeof(uint32_t) ? (size_t)words : SIZE_MAX / sizeof(uint32_t);
}

static unsigned thread_count(unsigned wanted)
{
	if (wanted)
		return wanted < MAX_THREADS ? wanted : MAX_THREADS;
	long online = sysconf(_SC_NPROCESSORS_ONLN);
	return online < 1 ? 1 : online > MAX_THREADS ? MAX_THREADS : (unsigned)online;
}

mp_error *mp_block_graph_build(const mp_heap *h, const uint8_t *is_block,
			       const uint8_t *const *region_bytes, uint64_t low,
			       uint64_t high, unsigned threads, atomic_bool *stop,
			       bool (*interrupted)(void *), void *context,
			       mp_block_graph *out)
{
	memset(out, 0, sizeof(*out));
	size_t n = h->n_chunks;
	if (n >= (1u << 31))
		return mp_error_new(MP_ERR_UNSUPPORTED, "%zu chunks: memprof handles up to 2^31", n);
	out->first = malloc((n ? n : 1) * sizeof(*out->first));
	if (!out->first)
		return mp_error_nomem();
	unsigned count = thread_count(threads);
	if ((size_t)count > n / 1024 + 1)
		count = (unsigned)(n / 1024 + 1);   /* small heaps: one thread */
	worker workers[MAX_THREADS];
	pthread_t ids[MAX_THREADS];
	bool started[MAX_THREADS] = {false};
	/* Split by chunk count; every worker gets a contiguous range. */
	for (unsigned t = 0; t < count; t++) {
		worker *w = &workers[t];
		memset(w, 0, sizeof(*w));
		w->h = h;
		w->is_block = is_block;
		w->region_bytes = region_bytes;
		w->low = low;
		w->high = high;
		w->begin = n * t / count;
		w->end = n * (t + 1) / count;
		w->first = out->first;
		w->stop = stop;
		/* Room for every edge the range can have, taken at once: only
		 * the pages written are ever backed, and growing by realloc would
		 * remap the array while the other threads fault in theirs. */
		size_t bound = edge_bound(h, w->begin, w->end);
		w->edges = malloc(bound * sizeof(*w->edges));
		if (w->edges)
			w->capacity = bound;
	}
	/* Only the calling thread asks the host: hosts such as GDB's Python
	 * must not be called from other threads. */
	workers[0].interrupted = interrupted;
	workers[0].context = context;
	for (unsigned t = 1; t < count; t++)
		started[t] = pthread_create(&ids[t], NULL, scan_range, &workers[t]) == 0;
	scan_range(&workers[0]);
	/* A worker that could not start is done here instead. */
	for (unsigned t = 1; t < count; t++) {
		if (started[t])
			pthread_join(ids[t], NULL);
		else
			scan_range(&workers[t]);
	}
	mp_error *err = NULL;
	for (unsigned t = 0; t < count; t++) {
		worker *w = &workers[t];
		if (w->failed && !err)
			err = atomic_load(stop) ? mp_error_new(MP_ERR_INTERRUPTED, "leak check interrupted")
						: mp_error_nomem();
		if (w->n_edges >= UINT32_MAX && !err)
			err = mp_error_new(MP_ERR_UNSUPPORTED, "%zu pointers from the blocks of one thread's share: more than memprof's 2^32",
					   w->n_edges);
		/* Growth left up to half of the array unused: give it back. */
		uint32_t *edges = w->n_edges ? realloc(w->edges, w->n_edges * sizeof(*edges)) : NULL;
		if (edges)
			w->edges = edges;
		mp_block_graph_part *part = &out->parts[t];
		part->begin = w->begin;
		part->end = w->end;
		part->edges = w->edges;
		part->n_edges = w->n_edges;
		out->n_edges += w->n_edges;
		out->scanned_bytes += w->scanned_bytes;
	}
	out->n_parts = count;
	out->threads = count;
	if (err)
		mp_block_graph_free(out);
	return err;
}

void mp_block_graph_free(mp_block_graph *g)
{
	free(g->first);
	for (unsigned t = 0; t < g->n_parts; t++)
		free(g->parts[t].edges);
	memset(g, 0, sizeof(*g));
}
