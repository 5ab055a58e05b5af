/* Heap blocks read in address order, a window of the heap at a time.
 *
 * A pass over every block (patterns' categories and content hashes, block
 * typing's lost blocks, the leak report's previews) read each block by
 * itself: ten million small reads, each a segment lookup, a lock and a
 * copy through the core's line cache.  A window holds the heap bytes from
 * the last block read on, so the blocks after it come from memory, and a
 * core is read a window at a time by pread, its pages kept out of
 * memprof's resident set (core_file.c).  Live targets' blocks come from
 * the heap's own copy. */
#ifndef MEMPROF_CORE_ANALYSIS_BLOCK_WINDOW_H
#define MEMPROF_CORE_ANALYSIS_BLOCK_WINDOW_H

#include <stdlib.h>

#include "error.h"
#include "heap/heap_internal.h"

enum { MP_BLOCK_WINDOW_BYTES = 256 << 10 };

typedef struct mp_block_window {
	const mp_heap *heap;
	mp_target *target;
	uint8_t *bytes;             /* MP_BLOCK_WINDOW_BYTES, made on first use */
	uint64_t start, end;        /* the heap bytes it holds */
} mp_block_window;

static inline void mp_block_window_init(mp_block_window *w, const mp_heap *heap,
					mp_target *target)
{
	*w = (mp_block_window){heap, target, NULL, 0, 0};
}

static inline void mp_block_window_free(mp_block_window *w)
{
	free(w->bytes);
	w->bytes = NULL;
	w->start = w->end = 0;
}

/* Bytes [address, address + length) of one heap region: NULL when they
 * cannot be had this way (outside every region, larger than a window, or
 * a read failed), and the caller reads them itself (heap_read), which
 * names what failed. */
static inline const uint8_t *mp_block_window_bytes(mp_block_window *w, uint64_t address,
						   size_t length)
{
	if (address >= w->start && address + length <= w->end)
		return w->bytes + (address - w->start);
	const uint8_t *copy = heap_copy_bytes(w->heap, address, length);
	if (copy)
		return copy;
	if (length > MP_BLOCK_WINDOW_BYTES)
		return NULL;
	const mp_heap *h = w->heap;
	size_t lo = 0, hi = h->n_regions;
	const heap_region *r = NULL;
	while (lo < hi && !r) {
		size_t mid = lo + (hi - lo) / 2;
		if (address < h->regions[mid].start)
			hi = mid;
		else if (address >= h->regions[mid].end)
			lo = mid + 1;
		else
			r = &h->regions[mid];
	}
	if (!r || length > r->end - address)
		return NULL;
	if (!w->bytes && !(w->bytes = malloc(MP_BLOCK_WINDOW_BYTES)))
		return NULL;
	uint64_t end = r->end - address < MP_BLOCK_WINDOW_BYTES ? r->end
								 : address + MP_BLOCK_WINDOW_BYTES;
	mp_error *err = mp_target_read(w->target, address, w->bytes, (size_t)(end - address));
	if (err) {
		mp_error_free(err);
		w->start = w->end = 0;
		return NULL;
	}
	w->start = address;
	w->end = end;
	return w->bytes;
}

#endif
