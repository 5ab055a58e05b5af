#include "block_graph.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "array.h"
#include "error.h"
#include "heap/heap_internal.h"
#include "progress.h"

enum {
	MAX_THREADS = 8,
	/* Regions read rather than viewed (mp_block_graph_input.read) come in
	 * windows of at most this many bytes, into each worker's own buffer. */
	READ_WINDOW = 256 << 10,
};

/* What the threads of one build share. */
typedef struct scan_job {
	mp_block_graph *graph;
	atomic_size_t next_part;
} scan_job;

typedef struct worker {
	scan_job *job;
	const mp_heap *h;
	const uint8_t *kinds;
	uint8_t not_a_block;
	const uint8_t *const *region_bytes;
	mp_error *(*read)(void *context, uint64_t address, void *buffer, size_t length);
	void *read_context;
	uint8_t *window;            /* READ_WINDOW bytes, made on first read */
	uint64_t low, high;
	uint32_t *first;            /* edge offsets of the part's chunks */
	size_t part_begin;          /* the part's first chunk */
	uint32_t *edges;            /* of the part being scanned */
	size_t n_edges, capacity;
	uint64_t scanned_bytes;
	atomic_bool *stop;
	bool (*interrupted)(void *context);   /* worker 0 only: the host's poll */
	void *context;
	bool failed;
	size_t overflowed_part;     /* + 1: a part with 2^32 edges or more */
} worker;

/* The chunk value points into the usable bytes of, or -1; *hint is the
 * region tried first.  The chunk comes from the region's start bitmap (a
 * load and a popcount).  In a tiled region a chunk ends where the next one
 * starts, so the bitmap also says whether value is past the chunk's header
 * and whether it is the first usable byte, without touching the chunk
 * table.  Chunks that are no block are found too in tiled regions: marking
 * ignores them.  Usable bytes are those of mp_heap_find_block, whose rule
 * (heap_block_in_region) the listed path shares. */
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
	size_t g = (size_t)((value - r->start) >> h->granule_shift);
	size_t word = g / 64, bit = g % 64;
	uint64_t bits = r->starts[word];
	uint64_t below = bits & (~(uint64_t)0 >> (63 - bit));
	size_t rank = r->before[word] + (size_t)__builtin_popcountll(below);
	if (rank == 0)
		return -1;
	size_t index = r->first + rank - 1;
	if (r->tiled && !h->header_bytes) {
		/* Header-less blocks: the chunk is all usable bytes. */
		*start = (bits >> bit & 1) && !((value - r->start) & ((1u << h->granule_shift) - 1));
		return (ptrdiff_t)index;
	}
	if (r->tiled) {
		/* glibc: the header is the chunk's first 16 bytes, its first
		 * granule.
		 * Its first word, prev_size, is the last usable word of the
		 * chunk before when that one is in use (arena chunks only: an
		 * mmapped chunk ends at its own end).  Rare enough to read
		 * the chunk table for: the word belongs to no free chunk. */
		if (bits >> bit & 1) {
			if ((value & 15) >= 8 || index == r->first || r->arena < 0 ||
			    heap_chunk_state(&h->chunks[index - 1]) != MP_CHUNK_IN_USE)
				return -1;
			*start = false;
			return (ptrdiff_t)index - 1;
		}
		uint64_t previous = bit ? bits >> (bit - 1) : word ? r->starts[word - 1] >> 63 : 0;
		*start = (value & 15) == 0 && (previous & 1);
		return (ptrdiff_t)index;
	}
	ptrdiff_t found = heap_block_in_region(h, r, index, value);
	if (found >= 0)
		*start = value == heap_chunk_user(h, &h->chunks[found]);
	return found;
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
	/* Parts handed out so far, by every worker; only the calling
	 * thread has a reporter (progress.h), the others skip this. */
	if (mp_progress_current) {
		size_t parts = atomic_load_explicit(&w->job->next_part, memory_order_relaxed);
		size_t done = parts << MP_BLOCK_GRAPH_PART_SHIFT;
		mp_progress_update(done < w->h->n_chunks ? done : w->h->n_chunks);
	}
	if (w->interrupted && w->interrupted(w->context))
		atomic_store(w->stop, true);
	return !atomic_load_explicit(w->stop, memory_order_relaxed);
}

/* Chunks [lo, hi) of a tiled region of arena chunks, found by walking its
 * start bitmap: each chunk ends where the next starts, and its usable
 * bytes run from its header's end to the end of what it borrows of the
 * next chunk's (glibc: 16 bytes past its start to 8 past its end, the
 * next chunk's prev_size word), so the chunk table is not read at all. */
static inline __attribute__((always_inline)) bool scan_tiled(worker *w, const heap_region *r,
							     const uint8_t *bytes, uint64_t origin,
							     size_t lo, size_t hi, size_t *hint)
{
	const mp_heap *h = w->h;
	unsigned shift = h->granule_shift;
	size_t granule = (size_t)((h->chunks[lo].address - r->start) >> shift);
	size_t word = granule / 64;
	uint64_t bits = r->starts[word] & (~(uint64_t)1 << (granule % 64));
	size_t end_granule = (size_t)((r->end - r->start) >> shift);
	for (size_t i = lo; i < hi; i++) {
		w->first[i - w->part_begin] = (uint32_t)w->n_edges;
		while (!bits && ++word < r->n_words)
			bits = r->starts[word];
		size_t next = bits ? word * 64 + (size_t)__builtin_ctzll(bits) : end_granule;
		bits &= bits - 1;
		if (w->kinds[i] != w->not_a_block) {
			uint64_t user = ((uint64_t)granule << shift) + h->header_bytes;
			uint64_t stop = ((uint64_t)next << shift) + h->next_overlap;
			if (stop > r->end - r->start)
				stop = r->end - r->start;
			if (stop > user && !scan_words(w, bytes + (user - origin), stop - user, hint))
				return false;
		}
		granule = next;
		if (!keep_going(w, i))
			return false;
	}
	return true;
}

/* Chunks [lo, hi) of any region, read from the chunk table.  bytes hold
 * the region from offset origin on. */
static inline __attribute__((always_inline)) bool scan_listed(worker *w, const heap_region *r,
							      const uint8_t *bytes, uint64_t origin,
							      size_t lo, size_t hi, size_t *hint)
{
	for (size_t i = lo; i < hi; i++) {
		w->first[i - w->part_begin] = (uint32_t)w->n_edges;
		if (w->kinds[i] != w->not_a_block) {
			const heap_chunk *c = &w->h->chunks[i];
			uint64_t user = heap_chunk_user(w->h, c);
			uint64_t length = heap_chunk_usable(w->h, c);
			if (user + length > r->end)
				length = r->end > user ? r->end - user : 0;
			if (!scan_words(w, bytes + (user - r->start - origin), length, hint))
				return false;
		}
		if (!keep_going(w, i))
			return false;
	}
	return true;
}

/* Where the bytes a scan of chunk i reads end: its usable bytes, and for
 * a tiled region what it borrows of the next chunk, within the region. */
static inline uint64_t scan_end(const mp_heap *h, const heap_region *r, size_t i)
{
	const heap_chunk *c = &h->chunks[i];
	uint64_t end = c->address + heap_chunk_size(c) + h->next_overlap;
	uint64_t usable_end = heap_chunk_user(h, c) + heap_chunk_usable(h, c);
	if (usable_end > end)
		end = usable_end;
	return end < r->end ? end : r->end;
}

/* Reads [address, address + length) of the heap into the worker's window:
 * bytes that cannot be read are zeros, which point nowhere. */
static bool read_window(worker *w, uint64_t address, size_t length)
{
	if (!w->window && !(w->window = malloc(READ_WINDOW)))
		return false;
	mp_error *err = w->read(w->read_context, address, w->window, length);
	if (err) {
		mp_error_free(err);
		memset(w->window, 0, length);
	}
	return true;
}

/* One chunk larger than a window, scanned a window at a time: the same
 * words as scan_tiled or scan_listed would scan of it. */
static bool scan_large(worker *w, const heap_region *r, size_t i, size_t *hint)
{
	w->first[i - w->part_begin] = (uint32_t)w->n_edges;
	if (w->kinds[i] != w->not_a_block) {
		const mp_heap *h = w->h;
		const heap_chunk *c = &h->chunks[i];
		uint64_t user = heap_chunk_user(h, c), end;
		if (r->tiled && r->arena >= 0)
			end = c->address + heap_chunk_size(c) + h->next_overlap;
		else
			end = user + heap_chunk_usable(h, c);
		if (end > r->end)
			end = r->end;
		for (uint64_t at = user; at < end;) {
			size_t run = end - at < READ_WINDOW ? (size_t)(end - at) : READ_WINDOW;
			if (!read_window(w, at, run) || !scan_words(w, w->window, run, hint))
				return false;
			at += run;
		}
	}
	return keep_going(w, i);
}

/* Chunks [lo, hi) of a region read rather than viewed: as many chunks at a
 * time as a window holds, each run scanned as from a view. */
static inline __attribute__((always_inline)) bool scan_read(worker *w, const heap_region *r,
							    size_t lo, size_t hi, size_t *hint)
{
	const mp_heap *h = w->h;
	bool tiled = r->tiled && r->arena >= 0;
	for (size_t i = lo; i < hi;) {
		uint64_t start = h->chunks[i].address;
		if (start < r->start)
			start = r->start;
		uint64_t end = scan_end(h, r, i);
		if (end - start > READ_WINDOW) {
			if (!scan_large(w, r, i, hint))
				return false;
			i++;
			continue;
		}
		size_t j = i + 1;
		while (j < hi && scan_end(h, r, j) - start <= READ_WINDOW)
			end = scan_end(h, r, j++);
		if (end < start || !read_window(w, start, (size_t)(end - start)))
			return false;
		bool ok = tiled ? scan_tiled(w, r, w->window, start - r->start, i, j, hint)
				: scan_listed(w, r, w->window, start - r->start, i, j, hint);
		if (!ok)
			return false;
		i = j;
	}
	return true;
}

/* The chunks [*lo, *hi) of region r among chunks [begin, end); false when
 * there are none. */
static inline bool share_of(const heap_region *r, size_t begin, size_t end, size_t *lo,
			    size_t *hi)
{
	*lo = r->first > begin ? r->first : begin;
	*hi = r->first + r->count < end ? r->first + r->count : end;
	return *lo < *hi;
}

/* Scans chunks [begin, end).  Built for CPUs with POPCNT (resolve is
 * inlined into each version) and for the baseline, chosen when loaded. */
__attribute__((target_clones("popcnt", "default")))
static bool scan_part(worker *w, size_t begin, size_t end)
{
	const mp_heap *h = w->h;
	size_t hint = 0;
	for (size_t region = 0; region < h->n_regions; region++) {
		const heap_region *r = &h->regions[region];
		size_t lo, hi;
		if (!share_of(r, begin, end, &lo, &hi))
			continue;
		const uint8_t *bytes = w->region_bytes[region];
		bool ok = true;
		if (!bytes && w->read) {
			ok = scan_read(w, r, lo, hi, &hint);
		} else if (!bytes) {
			for (size_t i = lo; i < hi; i++)
				w->first[i - w->part_begin] = (uint32_t)w->n_edges;
		} else if (r->tiled && r->arena >= 0) {
			ok = scan_tiled(w, r, bytes, 0, lo, hi, &hint);
		} else {
			ok = scan_listed(w, r, bytes, 0, lo, hi, &hint);
		}
		if (!ok)
			return false;
	}
	return true;
}

/* The most edges chunks [begin, end) can have: one per word of the heap
 * they span. */
static size_t edge_bound(const mp_heap *h, size_t begin, size_t end)
{
	uint64_t words = 0;
	for (size_t region = 0; region < h->n_regions; region++) {
		const heap_region *r = &h->regions[region];
		size_t lo, hi;
		if (!share_of(r, begin, end, &lo, &hi))
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

/* Takes parts until none is left or one fails.  Threads take parts as
 * they finish the last, so a thread whose parts hold more pointers does
 * not hold the others up for long. */
static void *run_worker(void *arg)
{
	worker *w = arg;
	mp_block_graph *g = w->job->graph;
	size_t n = w->h->n_chunks;
	for (;;) {
		size_t index = atomic_fetch_add(&w->job->next_part, 1);
		if (index >= g->n_parts || w->failed)
			return NULL;
		mp_block_graph_part *part = &g->parts[index];
		size_t begin = index << MP_BLOCK_GRAPH_PART_SHIFT;
		size_t end = n - begin < MP_BLOCK_GRAPH_PART_CHUNKS ? n : begin + MP_BLOCK_GRAPH_PART_CHUNKS;
		/* Room for every edge the part can have, taken at once: only the
		 * pages written are ever backed. */
		size_t bound = edge_bound(w->h, begin, end);
		w->edges = malloc(bound * sizeof(*w->edges));
		w->capacity = w->edges ? bound : 0;
		w->n_edges = 0;
		w->part_begin = begin;
		if (!scan_part(w, begin, end))
			w->failed = true;
		if (w->n_edges >= UINT32_MAX) {
			w->failed = true;
			w->overflowed_part = index + 1;
		}
		/* Give back the room the part did not use. */
		uint32_t *edges = w->n_edges ? realloc(w->edges, w->n_edges * sizeof(*edges)) : NULL;
		part->edges = edges ? edges : w->edges;
		part->n_edges = w->n_edges;
		w->edges = NULL;
		size_t count = end - begin;
		w->first[count] = (uint32_t)w->n_edges;
		bool small = count && w->n_edges <= UINT16_MAX;
		for (size_t k = 0; small && k < count; k++)
			small = w->first[k + 1] - w->first[k] < UINT8_MAX;
		if (small) {
			size_t groups = ((count - 1) >> MP_BLOCK_GRAPH_GROUP_SHIFT) + 1;
			part->groups = calloc(groups, MP_BLOCK_GRAPH_GROUP_BYTES);
			for (size_t k = 0; part->groups && k < count; k++) {
				uint8_t *group = part->groups + (k >> MP_BLOCK_GRAPH_GROUP_SHIFT) *
								MP_BLOCK_GRAPH_GROUP_BYTES;
				size_t at = k & ((1u << MP_BLOCK_GRAPH_GROUP_SHIFT) - 1);
				if (!at) {
					uint16_t first = (uint16_t)w->first[k];
					memcpy(group, &first, sizeof(first));
				}
				group[2 + at] = (uint8_t)(w->first[k + 1] - w->first[k]);
			}
		} else if (w->n_edges <= UINT16_MAX) {
			part->first16 = malloc((count + 1) * sizeof(*part->first16));
			for (size_t k = 0; part->first16 && k <= count; k++)
				part->first16[k] = (uint16_t)w->first[k];
		} else {
			part->first32 = malloc((count + 1) * sizeof(*part->first32));
			if (part->first32)
				memcpy(part->first32, w->first, (count + 1) * sizeof(*part->first32));
		}
		if (!part->groups && !part->first16 && !part->first32)
			w->failed = true;
	}
}

mp_error *mp_block_graph_build(const mp_heap *h, const uint8_t *is_block,
			       const uint8_t *const *region_bytes, uint64_t low,
			       uint64_t high, unsigned threads, atomic_bool *stop,
			       bool (*interrupted)(void *), void *context,
			       mp_block_graph *out)
{
	mp_block_graph_input in = {
		.kinds = is_block, .not_a_block = 0, .region_bytes = region_bytes,
		.low = low, .high = high, .threads = threads, .stop = stop,
		.interrupted = interrupted, .context = context,
	};
	return mp_block_graph_build_from(h, &in, out);
}

mp_error *mp_block_graph_build_from(const mp_heap *h, const mp_block_graph_input *in,
				    mp_block_graph *out)
{
	unsigned threads = in->threads;
	atomic_bool *stop = in->stop;
	memset(out, 0, sizeof(*out));
	size_t n = h->n_chunks;
	if (n >= (1u << 31))
		return mp_error_new(MP_ERR_UNSUPPORTED, "%zu chunks: memprof handles up to 2^31", n);
	unsigned count = thread_count(threads);
	out->n_parts = n ? ((n - 1) >> MP_BLOCK_GRAPH_PART_SHIFT) + 1 : 1;
	out->parts = calloc(out->n_parts, sizeof(*out->parts));
	if (!out->parts)
		return mp_error_nomem();
	if (count > out->n_parts)
		count = (unsigned)out->n_parts;   /* small heaps: fewer threads */
	scan_job job = {.graph = out};
	atomic_init(&job.next_part, 0);
	worker workers[MAX_THREADS];
	pthread_t ids[MAX_THREADS];
	bool started[MAX_THREADS] = {false};
	mp_error *err = NULL;
	for (unsigned t = 0; t < count; t++) {
		worker *w = &workers[t];
		memset(w, 0, sizeof(*w));
		w->job = &job;
		w->h = h;
		w->kinds = in->kinds;
		w->not_a_block = in->not_a_block;
		w->region_bytes = in->region_bytes;
		w->read = in->read;
		w->read_context = in->read_context;
		w->low = in->low;
		w->high = in->high;
		w->stop = stop;
		w->first = malloc((MP_BLOCK_GRAPH_PART_CHUNKS + 1) * sizeof(*w->first));
		if (!w->first)
			err = mp_error_nomem();
	}
	if (err) {
		for (unsigned t = 0; t < count; t++)
			free(workers[t].first);
		mp_block_graph_free(out);
		return err;
	}
	/* Only the calling thread asks the host: hosts such as GDB's Python
	 * must not be called from other threads. */
	workers[0].interrupted = in->interrupted;
	workers[0].context = in->context;
	for (unsigned t = 1; t < count; t++)
		started[t] = pthread_create(&ids[t], NULL, run_worker, &workers[t]) == 0;
	mp_progress_begin("leak scan", "chunks", n);
	run_worker(&workers[0]);
	mp_progress_end();
	for (unsigned t = 1; t < count; t++)
		if (started[t])
			pthread_join(ids[t], NULL);
	/* A thread that could not start leaves its parts to the others; one
	 * that failed fails the build. */
	for (unsigned t = 0; t < count; t++) {
		worker *w = &workers[t];
		if (w->failed && !err && w->overflowed_part) {
			size_t first_chunk = (w->overflowed_part - 1) << MP_BLOCK_GRAPH_PART_SHIFT;
			err = mp_error_new(MP_ERR_UNSUPPORTED,
					   "more than 2^32 pointers from the %d chunks from chunk %zu: more than memprof handles",
					   MP_BLOCK_GRAPH_PART_CHUNKS, first_chunk);
		} else if (w->failed && !err) {
			err = atomic_load(stop) ? mp_error_new(MP_ERR_INTERRUPTED, "leak check interrupted")
						: mp_error_nomem();
		}
		out->scanned_bytes += w->scanned_bytes;
		free(w->first);
		free(w->window);
	}
	for (size_t p = 0; !err && p < out->n_parts; p++)
		out->n_edges += out->parts[p].n_edges;
	out->threads = count;
	if (err)
		mp_block_graph_free(out);
	return err;
}

void mp_block_graph_free(mp_block_graph *g)
{
	for (size_t p = 0; g->parts && p < g->n_parts; p++) {
		free(g->parts[p].edges);
		free(g->parts[p].groups);
		free(g->parts[p].first16);
		free(g->parts[p].first32);
	}
	free(g->parts);
	memset(g, 0, sizeof(*g));
}
