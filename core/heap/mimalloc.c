/* mimalloc's heap (Debian bookworm's libmimalloc 2.0.9, and upstream's
 * 2.1.0 to 2.1.9), read from the target's memory without symbols.
 *
 * mimalloc 2.0 carves memory into segments of 32 MiB aligned on 32 MiB
 * (one larger segment per huge block).  A segment starts with its own
 * header (mi_segment_t): the owning thread, a cookie (the segment's
 * address xor the main heap's random cookie) and an array of 64 KiB slice
 * descriptors.  A span of slices in use is a page (mi_page_t, the first
 * slice's descriptor): blocks of one size from the page's start, of which
 * `capacity` are formed; each block is in use, on the page's free list
 * (malloc takes from it), on its local free list (freed by the owning
 * thread, not yet back on the free list), on its thread-free list (freed
 * by another thread), or on the owning heap's delayed-free list (freed by
 * another thread while the page was full).  There is no header before a
 * block: the block is what malloc returned and mi_usable_size is the
 * page's block size.
 *
 * Segments are found structurally, as mimalloc finds them itself from an
 * address (pointer & ~(32 MiB - 1)): every 32 MiB-aligned address in the
 * target's anonymous writable memory whose first bytes look like a segment
 * header is a candidate, and the candidates that share the cookie key
 * (cookie xor address: the main heap's cookie, one per process) are the
 * segments.  The heaps (one per thread, mi_heap_t) are the pages' owners
 * (mi_page_t.xheap); their delayed-free lists are read from there.  Pages
 * of a thread that exited have no owner (abandoned segments) and are read
 * all the same.
 *
 * The offsets below are those of each version built as Debian builds
 * 2.0.9 (release: no MI_DEBUG, MI_SECURE, MI_PADDING or encoded free
 * lists), read from the DWARF of the same source built with -g
 * (docs/allocators.md says how); tests/integration/test_mimalloc_layout.py
 * checks them against such a build.
 */
#include <elf.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "array.h"
#include "elf/elf_file.h"
#include "error.h"
#include "heap_internal.h"
#include "progress.h"
#include "target/target_internal.h"

/* Where a page's first block starts past its first slice (segment.c,
 * _mi_segment_page_start_from_slice). */
enum mi_start_rule {
	/* 2.0: 3 * MI_MAX_ALIGN_GUARANTEE (384) for blocks of 8 to 1024. */
	MI_START_2_0,
	/* 2.1.0 - 2.1.4: 3 blocks for blocks up to 64, one up to 512.  Later
	 * versions keep the start in the page (pg_page_start). */
	MI_START_2_1,
};

/* The layout of mimalloc versions that share it. */
typedef struct mi_layout {
	const char *versions[6];
	unsigned segment_shift;        /* log2 MI_SEGMENT_SIZE */
	unsigned slice_shift;          /* log2 MI_SEGMENT_SLICE_SIZE */
	unsigned slices_per_segment;   /* MI_SLICES_PER_SEGMENT */
	enum mi_start_rule start_rule;
	/* mi_segment_t */
	unsigned seg_used, seg_abandoned, seg_cookie, seg_segment_slices,
		 seg_info_slices, seg_kind, seg_slice_entries, seg_thread_id,
		 seg_slices,
		 seg_header_size;         /* sizeof(mi_segment_t): the slice table
					   * walk_segment reads ends inside it */
	/* mi_page_t (= mi_slice_t) */
	unsigned page_size, pg_slice_count, pg_slice_offset, pg_capacity,
		 pg_reserved, pg_flags, pg_free, pg_used, pg_block_size,
		 pg_local_free, pg_xthread_free, pg_xheap;
	/* Widths: page->used 4 or 2 bytes; the block size 4 bytes
	 * (xblock_size, MI_HUGE_BLOCK_SIZE meaning "the page's size") or 8. */
	unsigned pg_used_bytes, pg_block_size_bytes;
	/* page->page_start (2.1.4 on: the first block's address, kept by
	 * mi_page_init), or 0: computed by start_rule.  The same versions
	 * give a large block its size class, not its whole page. */
	unsigned pg_page_start;
	/* mi_heap_t */
	unsigned heap_size, hp_thread_delayed_free, hp_thread_id, hp_cookie,
		 hp_page_count;
} mi_layout;

/* MI_HUGE_BLOCK_SIZE of the versions with a 32-bit xblock_size. */
#define MI_HUGE_BLOCK_SIZE ((uint64_t)2 << 30)

/* Each row: pahole (`memprof type --exe`) of the library built with -g
 * (cmake -DCMAKE_BUILD_TYPE=RelWithDebInfo, as debian/rules does) from
 * Debian's mimalloc 2.0.9+ds-2 (scripts/allocator_source.sh mimalloc
 * bookworm DIR; checked by tests/integration/test_mimalloc_layout.py) and
 * from upstream's tags v2.1.0 to v2.1.9 (same build; each version's
 * examples/mimalloc_heap.c run read exactly, docs/allocators.md).  Every
 * version listed was built and read; others are refused. */
static const mi_layout layouts[] = {
	{
		.versions = {"2.0.9", NULL},
		.segment_shift = 25, .slice_shift = 16, .slices_per_segment = 512,
		.start_rule = MI_START_2_0,
		.seg_used = 208, .seg_abandoned = 192, .seg_cookie = 216,
		.seg_segment_slices = 224, .seg_info_slices = 232, .seg_kind = 240,
		.seg_slice_entries = 248, .seg_thread_id = 256, .seg_slices = 264,
		.seg_header_size = 41304,     /* sizeof(mi_segment_t): slices[513] */
		.page_size = 80, .pg_slice_count = 0, .pg_slice_offset = 4,
		.pg_capacity = 10, .pg_reserved = 12, .pg_flags = 14, .pg_free = 16,
		.pg_used = 24, .pg_block_size = 28, .pg_local_free = 32,
		.pg_xthread_free = 40, .pg_xheap = 48,
		.pg_used_bytes = 4, .pg_block_size_bytes = 4,
		.heap_size = 3064, .hp_thread_delayed_free = 2840, .hp_thread_id = 2848,
		.hp_cookie = 2864, .hp_page_count = 3024,
	},
	{
		/* 2.0.9's offsets, 2.1's page start. */
		.versions = {"2.1.0", "2.1.1", "2.1.2", NULL},
		.segment_shift = 25, .slice_shift = 16, .slices_per_segment = 512,
		.start_rule = MI_START_2_1,
		.seg_used = 208, .seg_abandoned = 192, .seg_cookie = 216,
		.seg_segment_slices = 224, .seg_info_slices = 232, .seg_kind = 240,
		.seg_slice_entries = 248, .seg_thread_id = 256, .seg_slices = 264,
		.seg_header_size = 41304,
		.page_size = 80, .pg_slice_count = 0, .pg_slice_offset = 4,
		.pg_capacity = 10, .pg_reserved = 12, .pg_flags = 14, .pg_free = 16,
		.pg_used = 24, .pg_block_size = 28, .pg_local_free = 32,
		.pg_xthread_free = 40, .pg_xheap = 48,
		.pg_used_bytes = 4, .pg_block_size_bytes = 4,
		.heap_size = 3064, .hp_thread_delayed_free = 2840, .hp_thread_id = 2848,
		.hp_cookie = 2864, .hp_page_count = 3024,
	},
	{
		/* A 96-byte page with a size_t block_size, a 16-bit used and the
		 * first block's address; the heap's delayed-free list moved to
		 * its start. */
		.versions = {"2.1.4", "2.1.5", "2.1.6", "2.1.7", NULL},
		.segment_shift = 25, .slice_shift = 16, .slices_per_segment = 512,
		.start_rule = MI_START_2_1,
		.seg_used = 208, .seg_abandoned = 192, .seg_cookie = 216,
		.seg_segment_slices = 224, .seg_info_slices = 232, .seg_kind = 240,
		.seg_slice_entries = 248, .seg_thread_id = 256, .seg_slices = 264,
		.seg_header_size = 49512,
		.page_size = 96, .pg_slice_count = 0, .pg_slice_offset = 4,
		.pg_capacity = 10, .pg_reserved = 12, .pg_flags = 14, .pg_free = 16,
		.pg_used = 32, .pg_block_size = 40, .pg_local_free = 24,
		.pg_xthread_free = 56, .pg_xheap = 64,
		.pg_used_bytes = 2, .pg_block_size_bytes = 8, .pg_page_start = 48,
		.heap_size = 3064, .hp_thread_delayed_free = 8, .hp_thread_id = 16,
		.hp_cookie = 32, .hp_page_count = 192,
	},
	{
		/* 2.1.8: the segment header grew (abandoned-segment bookkeeping
		 * in arenas). */
		.versions = {"2.1.8", "2.1.9", NULL},
		.segment_shift = 25, .slice_shift = 16, .slices_per_segment = 512,
		.start_rule = MI_START_2_1,
		.seg_used = 216, .seg_abandoned = 200, .seg_cookie = 224,
		.seg_segment_slices = 248, .seg_info_slices = 256, .seg_kind = 264,
		.seg_slice_entries = 272, .seg_thread_id = 280, .seg_slices = 288,
		.seg_header_size = 49536,
		.page_size = 96, .pg_slice_count = 0, .pg_slice_offset = 4,
		.pg_capacity = 10, .pg_reserved = 12, .pg_flags = 14, .pg_free = 16,
		.pg_used = 32, .pg_block_size = 40, .pg_local_free = 24,
		.pg_xthread_free = 56, .pg_xheap = 64,
		.pg_used_bytes = 2, .pg_block_size_bytes = 8, .pg_page_start = 48,
		.heap_size = 3064, .hp_thread_delayed_free = 8, .hp_thread_id = 16,
		.hp_cookie = 32, .hp_page_count = 192,
	},
};

/* Bounds against corrupt metadata. */
enum {
	MAX_SEGMENT_CANDIDATES = 1 << 20,
	MAX_HEAPS = 4096,
	MAX_INFO_SLICES = 16,
	MAX_HUGE_SLICES = 1 << 24,        /* 1 TiB of 64 KiB slices */
	MAX_COPY = 1 << 30,               /* larger live segments: read per word */
	RELEASE_BYTES = 1 << 20,          /* of a core's view walked, then released */
};

typedef struct mi_segment_info {
	uint64_t address;
	uint64_t key;                 /* cookie ^ address */
	uint64_t slices;              /* segment_slices */
	uint64_t thread_id;           /* 0: abandoned */
	unsigned info_slices, slice_entries, kind;
	uint64_t used, abandoned;
} mi_segment_info;

/* A block list's members inside one page, by index. */
typedef struct mi_page_info {
	uint64_t address;             /* of the mi_page_t */
	uint64_t start, block_size;   /* the blocks */
	unsigned capacity, reserved, used;
	bool has_aligned;
	uint64_t free, local_free, thread_free, heap;
} mi_page_info;

/* One heap's rows of detail. */
typedef struct mi_bin_count {
	uint64_t block_size, used, capacity, pages;
} mi_bin_count;

typedef struct mi_heap_info {
	uint64_t address, thread_id, cookie;
	uint64_t delayed;             /* head of its delayed-free list */
	int64_t tid;                  /* the target thread, 0 when not known */
	mi_bin_count *bins;
	size_t n_bins, bins_capacity;
	uint64_t used_blocks, used_bytes, cached_bytes, free_bytes;
} mi_heap_info;

typedef struct mi_walker {
	mp_target *t;
	mp_heap *h;
	const mp_heap_options *options;
	const mi_layout *L;
	mi_segment_info *segments;
	size_t n_segments, segments_capacity;
	mi_heap_info *heaps;          /* [0] is "no heap": abandoned pages */
	size_t n_heaps, heaps_capacity;
	uint64_t *delayed;            /* blocks on heaps' delayed-free lists, sorted */
	size_t n_delayed, delayed_capacity;
	uint8_t *marks;               /* per block of the page being read */
	size_t marks_capacity;
	uint64_t total_capacity;      /* blocks formed in all pages (first pass) */
	mi_page_info *page_list;      /* the pages of the segment being read */
	size_t n_pages, pages_capacity;
	/* Totals. */
	uint64_t in_use_blocks, in_use_bytes, free_blocks, free_bytes, cached_blocks,
		 cached_bytes, unformed_bytes, pages, segment_bytes, abandoned_segments,
		 cached_segments, aligned_pages;
} mi_walker;

static uint64_t get64(const uint8_t *p, unsigned off)
{
	uint64_t v;
	memcpy(&v, p + off, 8);
	return v;
}

static uint32_t get32(const uint8_t *p, unsigned off)
{
	uint32_t v;
	memcpy(&v, p + off, 4);
	return v;
}

static uint16_t get16(const uint8_t *p, unsigned off)
{
	uint16_t v;
	memcpy(&v, p + off, 2);
	return v;
}

static bool read_word(mi_walker *w, uint64_t address, uint64_t *value)
{
	mp_error *err = heap_read(w->h, w->t, address, value, 8);
	if (err) {
		mp_error_free(err);
		return false;
	}
	return true;
}

/* ------------------------------------------------------------ segments */

/* Whether the header bytes at address look like a segment's: sizes and
 * counts within mimalloc's bounds, the first slice the header's own span. */
static bool plausible_segment(const mi_layout *L, uint64_t address, const uint8_t *b,
			      mi_segment_info *out)
{
	uint64_t slices = get64(b, L->seg_segment_slices);
	uint64_t info = get64(b, L->seg_info_slices);
	uint64_t entries = get64(b, L->seg_slice_entries);
	uint32_t kind = get32(b, L->seg_kind);
	uint64_t used = get64(b, L->seg_used);
	uint64_t abandoned = get64(b, L->seg_abandoned);
	if (kind > 1 || info == 0 || info > MAX_INFO_SLICES || entries > L->slices_per_segment ||
	    entries <= info || used > entries || abandoned > used)
		return false;
	if (kind == 0 ? slices != L->slices_per_segment
		      : slices <= info || slices > MAX_HUGE_SLICES)
		return false;
	const uint8_t *s0 = b + L->seg_slices;
	if (get32(s0, L->pg_slice_count) != info || get32(s0, L->pg_slice_offset) != 0)
		return false;
	*out = (mi_segment_info){
		.address = address,
		.key = get64(b, L->seg_cookie) ^ address,
		.slices = slices,
		.thread_id = get64(b, L->seg_thread_id),
		.info_slices = (unsigned)info,
		.slice_entries = (unsigned)entries,
		.kind = kind,
		.used = used,
		.abandoned = abandoned,
	};
	return true;
}

static bool anonymous_writable(const mp_mapping *m)
{
	return (m->perms & MP_PERM_WRITE) && (!m->path || !m->path[0]);
}

/* Every segment-aligned address of anonymous writable memory whose bytes
 * look like a segment header, in address order; a huge segment's interior
 * is skipped (its blocks may hold anything). */
static mp_error *find_candidates(mi_walker *w)
{
	const mi_layout *L = w->L;
	uint64_t size = (uint64_t)1 << L->segment_shift;
	/* The fields and the first slice: the rest of the slice table is read
	 * by walk_segment. */
	size_t length = L->seg_slices + L->page_size;
	uint8_t *header = malloc(length);
	if (!header)
		return mp_error_nomem();
	uint64_t skip_to = 0;
	for (size_t i = 0; i < w->t->n_mappings; i++) {
		const mp_mapping *m = &w->t->mappings[i];
		if (!anonymous_writable(m))
			continue;
		uint64_t a = (m->start + size - 1) & ~(size - 1);
		if (a < skip_to)
			a = skip_to;
		for (; a >= m->start && a < m->end; a += size) {
			if (w->n_segments >= MAX_SEGMENT_CANDIDATES)
				break;
			mp_error *err = mp_target_read(w->t, a, header, length);
			if (err) {
				mp_error_free(err);
				continue;
			}
			mi_segment_info s;
			if (!plausible_segment(L, a, header, &s))
				continue;
			if (!MP_ARRAY_RESERVE(w->segments, w->segments_capacity, w->n_segments + 1)) {
				free(header);
				return mp_error_nomem();
			}
			w->segments[w->n_segments++] = s;
			uint64_t extent = s.slices << L->slice_shift;
			if (extent > size) {
				skip_to = a + ((extent + size - 1) & ~(size - 1));
				a = skip_to - size;
			}
		}
	}
	free(header);
	return NULL;
}

static int compare_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* The main heap's cookie: the key most candidates share.  Candidates with
 * another key are dropped; those that were real segments (a cookie
 * overwritten) are named. */
static mp_error *keep_segments_of_one_process(mi_walker *w)
{
	if (w->n_segments == 0)
		return NULL;
	uint64_t *keys = malloc(w->n_segments * sizeof(*keys));
	if (!keys)
		return mp_error_nomem();
	for (size_t i = 0; i < w->n_segments; i++)
		keys[i] = w->segments[i].key;
	qsort(keys, w->n_segments, sizeof(*keys), compare_u64);
	uint64_t best = keys[0];
	size_t best_run = 0;
	for (size_t i = 0, run = 0; i < w->n_segments; i++) {
		run = i > 0 && keys[i] == keys[i - 1] ? run + 1 : 1;
		if (run > best_run) {
			best_run = run;
			best = keys[i];
		}
	}
	free(keys);
	size_t kept = 0;
	for (size_t i = 0; i < w->n_segments; i++) {
		if (w->segments[i].key == best) {
			w->segments[kept++] = w->segments[i];
		} else if (best_run > 1) {
			heap_problem(w->h, w->segments[i].address, "mimalloc segment",
				     "segment header at %#" PRIx64 " has cookie %#" PRIx64
				     ", not this process's (%#" PRIx64 "): skipped",
				     w->segments[i].address, w->segments[i].key ^ w->segments[i].address,
				     best ^ w->segments[i].address);
		}
	}
	w->n_segments = kept;
	return NULL;
}

/* ------------------------------------------------------------------ heaps */

static mi_heap_info *heap_of(mi_walker *w, uint64_t address)
{
	for (size_t i = 0; i < w->n_heaps; i++)
		if (w->heaps[i].address == address)
			return &w->heaps[i];
	return NULL;
}

/* The thread whose thread pointer is id (mimalloc's thread id is the
 * thread's fs base). */
static int64_t tid_of(mi_walker *w, uint64_t id)
{
	static int fs_base = -2;
	if (fs_base == -2)
		fs_base = mp_register_index("fs_base");
	for (size_t i = 0; fs_base >= 0 && i < w->t->n_threads; i++)
		if (w->t->threads[i].has_registers &&
		    w->t->threads[i].registers.value[fs_base] == id)
			return w->t->threads[i].tid;
	return 0;
}

/* Registers the heap at address (a page's owner) and reads its
 * delayed-free list. */
static mp_error *add_heap(mi_walker *w, uint64_t address, uint64_t page)
{
	if (heap_of(w, address))
		return NULL;
	if (w->n_heaps >= MAX_HEAPS) {
		heap_problem(w->h, page, "mimalloc heap", "more than %d heaps: page's heap %#" PRIx64
			     " not read", MAX_HEAPS, address);
		return NULL;
	}
	uint8_t *b = malloc(w->L->heap_size);
	if (!b)
		return mp_error_nomem();
	mp_error *err = mp_target_read(w->t, address, b, w->L->heap_size);
	if (err) {
		heap_problem(w->h, page, "mimalloc heap", "page %#" PRIx64 " names heap %#" PRIx64
			     ", which cannot be read: %s", page, address, mp_error_message(err));
		mp_error_free(err);
		free(b);
		return NULL;
	}
	if (!MP_ARRAY_RESERVE(w->heaps, w->heaps_capacity, w->n_heaps + 1)) {
		free(b);
		return mp_error_nomem();
	}
	mi_heap_info *hi = &w->heaps[w->n_heaps++];
	*hi = (mi_heap_info){
		.address = address,
		.thread_id = get64(b, w->L->hp_thread_id),
		.cookie = get64(b, w->L->hp_cookie),
	};
	hi->tid = tid_of(w, hi->thread_id);
	hi->delayed = get64(b, w->L->hp_thread_delayed_free);
	free(b);
	return NULL;
}

/* The heaps' delayed-free lists, once the first pass has counted the
 * blocks: no list is longer than that. */
static mp_error *read_delayed_lists(mi_walker *w)
{
	for (size_t k = 1; k < w->n_heaps; k++) {
		uint64_t p = w->heaps[k].delayed;
		for (uint64_t steps = 0; p; steps++) {
			if (steps > w->total_capacity || (p & 7)) {
				heap_problem(w->h, p, "mimalloc delayed free list",
					     "heap %#" PRIx64 "'s delayed-free list %s at %#" PRIx64,
					     w->heaps[k].address,
					     (p & 7) ? "has a misaligned block" : "does not end", p);
				break;
			}
			if (!MP_ARRAY_RESERVE(w->delayed, w->delayed_capacity, w->n_delayed + 1))
				return mp_error_nomem();
			w->delayed[w->n_delayed++] = p;
			uint64_t next;
			if (!read_word(w, p, &next)) {
				heap_problem(w->h, p, "mimalloc delayed free list",
					     "heap %#" PRIx64 "'s delayed-free list reaches unreadable %#" PRIx64,
					     w->heaps[k].address, p);
				break;
			}
			p = next;
		}
	}
	return NULL;
}

static mp_error *count_bin(mi_heap_info *hi, uint64_t block_size, unsigned used,
			   unsigned capacity)
{
	mi_bin_count *b = NULL;
	for (size_t i = 0; i < hi->n_bins; i++)
		if (hi->bins[i].block_size == block_size)
			b = &hi->bins[i];
	if (!b) {
		if (!MP_ARRAY_RESERVE(hi->bins, hi->bins_capacity, hi->n_bins + 1))
			return mp_error_nomem();
		b = &hi->bins[hi->n_bins++];
		*b = (mi_bin_count){.block_size = block_size};
	}
	b->used += used;
	b->capacity += capacity;
	b->pages++;
	return NULL;
}

/* ------------------------------------------------------------------ pages */

/* What a block of the page being read is.  mimalloc's page->used counts
 * the blocks in use and those freed by other threads not yet collected
 * (thread-free and delayed-free lists); blocks on the free and local free
 * lists are not used. */
enum { MARK_IN_USE = 0, MARK_FREE, MARK_LOCAL_FREE, MARK_THREAD_FREE };

/* Follows a block list of page p from first, marking its blocks as state.
 * A block outside the page, misaligned, or seen twice ends the list with
 * a problem.  Reads through bytes (the page's blocks) when given. */
static void mark_list(mi_walker *w, const mi_page_info *p, const uint8_t *bytes,
		      uint64_t first, uint8_t state, const char *list)
{
	uint64_t end = p->start + (uint64_t)p->capacity * p->block_size;
	uint64_t b = first;
	for (unsigned steps = 0; b; steps++) {
		if (b < p->start || b >= end || (b - p->start) % p->block_size || steps > p->capacity) {
			heap_problem(w->h, b, "mimalloc free list",
				     "page %#" PRIx64 "'s %s list holds %#" PRIx64
				     ", not a block of the page (blocks of %" PRIu64 " bytes at %#" PRIx64
				     "-%#" PRIx64 ")", p->address, list, b, p->block_size, p->start, end);
			return;
		}
		size_t index = (size_t)((b - p->start) / p->block_size);
		if (w->marks[index] != MARK_IN_USE) {
			heap_problem(w->h, b, "mimalloc free list",
				     "page %#" PRIx64 "'s %s list holds block %#" PRIx64 " twice or on two lists",
				     p->address, list, b);
			return;
		}
		w->marks[index] = state;
		if (bytes) {
			memcpy(&b, bytes + (b - p->start), 8);
		} else if (!read_word(w, b, &b)) {
			heap_problem(w->h, b, "mimalloc free list",
				     "page %#" PRIx64 "'s %s list reaches unreadable %#" PRIx64,
				     p->address, list, b);
			return;
		}
	}
}

/* Reads page p's blocks into the region begun for its segment: bytes
 * holds the page's blocks (a view of the core or the segment's copy), or
 * is NULL (each list word read from the target). */
static mp_error *walk_page(mi_walker *w, const mi_page_info *p, const uint8_t *bytes)
{
	uint64_t length = (uint64_t)p->capacity * p->block_size;
	if (p->capacity > w->marks_capacity) {
		uint8_t *grown = realloc(w->marks, p->capacity);
		if (!grown)
			return mp_error_nomem();
		w->marks = grown;
		w->marks_capacity = p->capacity;
	}
	memset(w->marks, MARK_IN_USE, p->capacity);
	mark_list(w, p, bytes, p->free, MARK_FREE, "free");
	mark_list(w, p, bytes, p->local_free, MARK_LOCAL_FREE, "local free");
	mark_list(w, p, bytes, p->thread_free, MARK_THREAD_FREE, "thread free");
	/* The owning heap's delayed frees that fall in this page. */
	size_t lo = 0, hi = w->n_delayed;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (w->delayed[mid] < p->start)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t i = lo; i < w->n_delayed && w->delayed[i] < p->start + length; i++) {
		uint64_t b = w->delayed[i];
		size_t index = (size_t)((b - p->start) / p->block_size);
		if ((b - p->start) % p->block_size || w->marks[index] != MARK_IN_USE) {
			heap_problem(w->h, b, "mimalloc delayed free list",
				     "delayed free block %#" PRIx64 " is %s in page %#" PRIx64, b,
				     (b - p->start) % p->block_size ? "not a block start" : "also on a page list",
				     p->address);
			continue;
		}
		w->marks[index] = MARK_THREAD_FREE;
	}

	unsigned used = 0;
	mi_heap_info *owner = heap_of(w, p->heap);
	for (unsigned i = 0; i < p->capacity; i++) {
		uint64_t address = p->start + (uint64_t)i * p->block_size;
		enum mp_chunk_state state = w->marks[i] == MARK_IN_USE ? MP_CHUNK_IN_USE
					    : w->marks[i] == MARK_FREE ? MP_CHUNK_FREE
					    : MP_CHUNK_CACHED;
		mp_error *err = heap_add_chunk(w->h, address, p->block_size, state);
		if (err)
			return err;
		if (state == MP_CHUNK_IN_USE) {
			used++;
		} else if (state == MP_CHUNK_FREE) {
			w->free_blocks++;
			w->free_bytes += p->block_size;
			if (owner)
				owner->free_bytes += p->block_size;
		} else {
			w->cached_blocks++;
			w->cached_bytes += p->block_size;
			if (owner)
				owner->cached_bytes += p->block_size;
		}
	}
	/* mimalloc's own count against the lists'. */
	unsigned counted = 0;
	for (unsigned i = 0; i < p->capacity; i++)
		counted += w->marks[i] == MARK_IN_USE || w->marks[i] == MARK_THREAD_FREE;
	if (p->used != counted)
		heap_problem(w->h, p->address, "mimalloc page",
			     "page %#" PRIx64 " says %u blocks used, its lists leave %u",
			     p->address, p->used, counted);
	w->in_use_blocks += used;
	w->in_use_bytes += (uint64_t)used * p->block_size;
	w->unformed_bytes += (uint64_t)(p->reserved - p->capacity) * p->block_size;
	w->pages++;
	if (owner) {
		owner->used_blocks += used;
		owner->used_bytes += (uint64_t)used * p->block_size;
		return count_bin(owner, p->block_size, used, p->capacity);
	}
	return count_bin(&w->heaps[0], p->block_size, used, p->capacity);
}

/* The pages of one segment (collected by walk_segment) as one region: a
 * view of a core's bytes, or one copy of a live process's, kept with the
 * region for the scans that follow. */
static mp_error *walk_pages(mi_walker *w, const mi_segment_info *s)
{
	if (w->n_pages == 0)
		return NULL;
	const mi_page_info *last = &w->page_list[w->n_pages - 1];
	uint64_t start = w->page_list[0].start;
	uint64_t end = last->start + (uint64_t)last->capacity * last->block_size;
	const uint8_t *bytes = mp_target_view(w->t, start, end - start);
	/* Released behind the walk unless the caller reads it all next. */
	bool release = bytes != NULL && !w->options->keep_pages;
	uint8_t *copy = NULL;
	if (!bytes && end - start <= MAX_COPY) {
		copy = malloc(end - start);
		if (!copy)
			return mp_error_nomem();
		heap_advise_huge(copy, end - start);
		mp_error *err = mp_target_read(w->t, start, copy, end - start);
		if (err) {
			/* Free spans between pages may be decommitted: page by
			 * page then. */
			mp_error_free(err);
			for (size_t i = 0; i < w->n_pages; i++) {
				const mi_page_info *p = &w->page_list[i];
				err = mp_target_read(w->t, p->start, copy + (p->start - start),
						     (uint64_t)p->capacity * p->block_size);
				if (err) {
					heap_problem(w->h, p->start, "mimalloc page",
						     "segment %#" PRIx64 " page %#" PRIx64 "'s blocks cannot be read: %s",
						     s->address, p->address, mp_error_message(err));
					mp_error_free(err);
					memset(copy + (p->start - start), 0,
					       (uint64_t)p->capacity * p->block_size);
				}
			}
		}
		bytes = copy;
	}
	/* A huge segment's one block needs no room reserved for the blocks
	 * its bytes could hold. */
	mp_error *err = s->kind == 0 ? heap_begin_segment(w->h, start, end, -1)
				     : heap_begin_region(w->h, start, -1);
	/* The free lists run through the blocks (one in ten of them on the
	 * benchmark's heap), so following them touches nearly every page of
	 * a core's view, and a mapped core's pages stay in memprof's resident
	 * set until released: by the end of the walk every segment's blocks
	 * were resident (350 MiB of the 10-million-block core, issue 15).
	 * Released behind the walk every RELEASE_BYTES, as the glibc walk
	 * does; the scans that follow read or view them again. */
	uint64_t released = start;
	for (size_t i = 0; !err && i < w->n_pages; i++) {
		const mi_page_info *p = &w->page_list[i];
		err = walk_page(w, p, bytes ? bytes + (p->start - start) : NULL);
		uint64_t walked = p->start + (uint64_t)p->capacity * p->block_size;
		if (release && walked - released >= RELEASE_BYTES) {
			mp_target_unview(w->t, released, walked - released);
			released = walked & ~(uint64_t)4095;
		}
	}
	if (release && end > released)
		mp_target_unview(w->t, released, end - released);
	size_t regions = w->h->n_regions;
	if (!err)
		err = heap_end_region(w->h, end);
	if (!err && copy && w->h->n_regions == regions) {
		w->h->regions[regions - 1].copy = copy;
		copy = NULL;
	}
	free(copy);
	return err;
}

/* Bytes between a page's first slice and its first block. */
static uint64_t page_start_offset(const mi_layout *L, uint64_t block_size)
{
	uint64_t offset = 0;
	switch (L->start_rule) {
	case MI_START_2_0:
		return block_size >= 8 && block_size <= 1024 ? 384 : 0;
	case MI_START_2_1:
		if (block_size >= 8 && block_size <= 64)
			offset += 3 * block_size;
		else if (block_size >= 8 && block_size <= 512)
			offset += block_size;
		return offset;
	}
	return 0;
}

/* The pages of segment s in slice order: spans in use with formed blocks.
 * The first pass registers their heaps and counts their blocks; the second
 * reads them (walk_pages). */
static mp_error *walk_segment(mi_walker *w, const mi_segment_info *s, bool first_pass)
{
	const mi_layout *L = w->L;
	size_t length = (size_t)L->page_size * s->slice_entries;
	uint8_t *slices = malloc(length);
	if (!slices)
		return mp_error_nomem();
	mp_error *err = mp_target_read(w->t, s->address + L->seg_slices, slices, length);
	if (err) {
		free(slices);
		return err;   /* read before as a candidate: the target failed */
	}
	uint64_t slice_size = (uint64_t)1 << L->slice_shift;
	unsigned i = 0;
	for (unsigned steps = 0; i < s->slice_entries && steps <= s->slice_entries; steps++) {
		const uint8_t *sl = slices + (size_t)i * L->page_size;
		uint32_t count = get32(sl, L->pg_slice_count);
		uint32_t offset = get32(sl, L->pg_slice_offset);
		uint64_t page = s->address + L->seg_slices + (uint64_t)i * L->page_size;
		if (count == 0 || offset != 0 ||
		    (s->kind == 0 && (uint64_t)i + count > s->slice_entries)) {
			if (first_pass)
				heap_problem(w->h, page, "mimalloc segment",
					     "segment %#" PRIx64 " slice %u: span of %u slices at offset %u"
					     " breaks the slice table: rest of the segment skipped",
					     s->address, i, count, offset);
			break;
		}
		uint64_t block_size = L->pg_block_size_bytes == 8 ? get64(sl, L->pg_block_size)
								   : get32(sl, L->pg_block_size);
		uint16_t capacity = get16(sl, L->pg_capacity);
		if (i >= s->info_slices && block_size > 0 && capacity > 0) {
			uint64_t page_bytes = (uint64_t)count << L->slice_shift;
			uint64_t slice_start = s->address + (uint64_t)i * slice_size;
			uint64_t start_offset = page_start_offset(L, block_size);
			if (L->pg_page_start) {
				/* Kept by mimalloc (segment.c adds alignments of its
				 * own to it since 2.1.5). */
				uint64_t kept = get64(sl, L->pg_page_start);
				if (kept < slice_start || kept >= slice_start + page_bytes) {
					if (first_pass)
						heap_problem(w->h, page, "mimalloc page",
							     "page %#" PRIx64 " starts at %#" PRIx64
							     ", outside its slices %#" PRIx64 "-%#" PRIx64
							     ": skipped", page, kept, slice_start,
							     slice_start + page_bytes);
					i += count;
					continue;
				}
				start_offset = kept - slice_start;
			}
			if (L->pg_block_size_bytes == 4 && block_size >= MI_HUGE_BLOCK_SIZE)
				block_size = page_bytes - start_offset;
			mi_page_info p = {
				.address = page,
				.start = slice_start + start_offset,
				.block_size = block_size,
				.capacity = capacity,
				.reserved = get16(sl, L->pg_reserved),
				.used = L->pg_used_bytes == 2 ? get16(sl, L->pg_used) : get32(sl, L->pg_used),
				.has_aligned = (sl[L->pg_flags] & 2) != 0,
				.free = get64(sl, L->pg_free),
				.local_free = get64(sl, L->pg_local_free),
				.thread_free = get64(sl, L->pg_xthread_free) & ~(uint64_t)3,
				.heap = get64(sl, L->pg_xheap),
			};
			if (p.reserved < p.capacity || p.block_size > page_bytes ||
			    (uint64_t)p.capacity * p.block_size > page_bytes - start_offset) {
				if (first_pass)
					heap_problem(w->h, page, "mimalloc page",
						     "page %#" PRIx64 ": %u blocks of %" PRIu64
						     " bytes (reserved %u) do not fit its %u slices: skipped",
						     page, p.capacity, p.block_size, p.reserved, count);
			} else if (first_pass) {
				w->total_capacity += p.capacity;
				if (p.heap && (err = add_heap(w, p.heap, page)))
					break;
			} else {
				w->aligned_pages += p.has_aligned;
				if (!MP_ARRAY_RESERVE(w->page_list, w->pages_capacity, w->n_pages + 1)) {
					err = mp_error_nomem();
					break;
				}
				w->page_list[w->n_pages++] = p;
			}
		}
		i += count;
	}
	free(slices);
	if (!err && !first_pass)
		err = walk_pages(w, s);
	w->n_pages = 0;
	return err;
}

/* ----------------------------------------------------------------- detail */

static mp_error *add_details(mi_walker *w)
{
	struct { const char *name; uint64_t value; } totals[] = {
		{"allocated", w->in_use_bytes},
		{"blocks", w->in_use_blocks},
		{"free_bytes", w->free_bytes},
		{"free_blocks", w->free_blocks},
		{"cached_bytes", w->cached_bytes},
		{"cached_blocks", w->cached_blocks},
		{"unformed_bytes", w->unformed_bytes},
		{"pages", w->pages},
		{"segments", w->n_segments},
		{"segment_bytes", w->segment_bytes},
		{"abandoned_segments", w->abandoned_segments},
		{"empty_segments", w->cached_segments},
		{"heaps", w->n_heaps - 1},
		{"pages_with_aligned_blocks", w->aligned_pages},
	};
	mp_error *err = NULL;
	for (size_t i = 0; !err && i < sizeof(totals) / sizeof(totals[0]); i++)
		err = heap_add_detail(w->h, "totals", totals[i].name, totals[i].value);
	for (size_t k = 0; !err && k < w->n_heaps; k++) {
		const mi_heap_info *hi = &w->heaps[k];
		if (k == 0 && hi->n_bins == 0)
			continue;
		char group[96];
		if (k == 0)
			snprintf(group, sizeof(group), "abandoned pages");
		else if (hi->tid)
			snprintf(group, sizeof(group), "heap %#" PRIx64 " thread %" PRId64,
				 hi->address, hi->tid);
		else
			snprintf(group, sizeof(group), "heap %#" PRIx64 " thread id %#" PRIx64,
				 hi->address, hi->thread_id);
		err = heap_add_detail(w->h, group, "used_blocks", hi->used_blocks);
		if (!err)
			err = heap_add_detail(w->h, group, "used_bytes", hi->used_bytes);
		if (!err && k)
			err = heap_add_detail(w->h, group, "free_bytes", hi->free_bytes);
		if (!err && k)
			err = heap_add_detail(w->h, group, "cached_bytes", hi->cached_bytes);
		for (size_t b = 0; !err && b < hi->n_bins; b++) {
			char name[64];
			const mi_bin_count *c = &hi->bins[b];
			snprintf(name, sizeof(name), "block %" PRIu64 " used", c->block_size);
			err = heap_add_detail(w->h, group, name, c->used);
			snprintf(name, sizeof(name), "block %" PRIu64 " capacity", c->block_size);
			if (!err)
				err = heap_add_detail(w->h, group, name, c->capacity);
			snprintf(name, sizeof(name), "block %" PRIu64 " pages", c->block_size);
			if (!err)
				err = heap_add_detail(w->h, group, name, c->pages);
		}
	}
	return err;
}

/* ------------------------------------------------------------- the build */

/* mimalloc's size classes (page-queue.c mi_bin, os.c
 * _mi_os_good_alloc_size): 8 bytes, 16-byte steps to 64 bytes (x86-64's
 * 16-byte max_align_t makes it MI_ALIGN2W), then four classes per power
 * of two to 128 KiB; larger blocks are rounded to 4 KiB, 64 KiB, 256 KiB,
 * 1 MiB or 4 MiB by size, and up to 2.1.2 a large block (to 16 MiB) is
 * its whole page: that rounded further to 64 KiB slices, or to 512 KiB
 * past 512 KiB (segment.c mi_segments_page_alloc).  Checked against
 * malloc_usable_size of each version for requests of 0 to 40 MB. */
static uint64_t usable_for_request(uint64_t size, bool large_is_page)
{
	uint64_t wsize = (size + 7) / 8;
	if (wsize <= 1)
		return 8;
	if (wsize <= 8)
		return ((wsize + 1) & ~(uint64_t)1) * 8;
	if (wsize <= (128u << 10) / 8) {
		uint64_t w1 = wsize - 1;
		unsigned b = 63u - (unsigned)__builtin_clzll(w1);
		uint64_t step = (uint64_t)1 << (b - 2);
		return ((w1 >> (b - 2)) + 1) * step * 8;
	}
	uint64_t align = size < (512u << 10) ? 4096 : size < (2u << 20) ? (64u << 10)
			 : size < (8u << 20) ? (256u << 10) : size < (32u << 20) ? (1u << 20)
			 : (4u << 20);
	uint64_t good = (size + align - 1) & ~(align - 1);
	if (large_is_page && good <= (16u << 20)) {
		uint64_t page = good > (512u << 10) ? (512u << 10) : (64u << 10);
		good = (good + page - 1) & ~(page - 1);
	}
	return good;
}

/* Debian's 2.0.9 (the backend table's), and 2.1.0 - 2.1.2. */
uint64_t mp_mimalloc_usable_for_request(uint64_t size)
{
	return usable_for_request(size, true);
}

/* 2.1.4 on. */
static uint64_t usable_for_request_2_1_4(uint64_t size)
{
	return usable_for_request(size, false);
}

static void walker_free(mi_walker *w)
{
	for (size_t i = 0; i < w->n_heaps; i++)
		free(w->heaps[i].bins);
	free(w->heaps);
	free(w->segments);
	free(w->delayed);
	free(w->marks);
	free(w->page_list);
}

mp_error *mp_mimalloc_heap_build(mp_target *target, const mp_allocator *allocator,
				 const mp_heap_options *options, mp_heap *heap)
{
	const mi_layout *L = NULL;
	for (size_t i = 0; !L && i < sizeof(layouts) / sizeof(layouts[0]); i++)
		for (const char *const *v = layouts[i].versions; *v && !L; v++)
			if (strcmp(allocator->version, *v) == 0)
				L = &layouts[i];
	if (!L)
		return mp_error_new(MP_ERR_ALLOCATOR,
				    "mimalloc %s detected (%s): memprof reads mimalloc 2.0.9 and 2.1.0 to 2.1.9; this version's layout is unknown",
				    allocator->version[0] ? allocator->version : "of unknown version",
				    allocator->module);
	heap_set_layout(heap, 0, 3);
	if (L->pg_page_start)
		heap_set_size_classes(heap, usable_for_request_2_1_4);
	heap->located_by = "segment headers in anonymous memory";
	char name[64];
	snprintf(name, sizeof(name), "mimalloc %s", allocator->version);
	mp_error *err = heap_set_backend_name(heap, name);
	if (err)
		return err;
	mi_walker w = {.t = target, .h = heap, .options = options, .L = L};
	if (!MP_ARRAY_RESERVE(w.heaps, w.heaps_capacity, 1))
		return mp_error_nomem();
	w.heaps[0] = (mi_heap_info){0};
	w.n_heaps = 1;
	if ((err = find_candidates(&w)) || (err = keep_segments_of_one_process(&w)))
		goto out;
	for (size_t i = 0; i < w.n_segments; i++)
		if ((err = walk_segment(&w, &w.segments[i], true)))
			goto out;
	if ((err = read_delayed_lists(&w)))
		goto out;
	if (w.n_delayed)   /* qsort of NULL is undefined even for 0 items */
		qsort(w.delayed, w.n_delayed, sizeof(*w.delayed), compare_u64);
	/* The chunk table at its final size at once, plus the room
	 * heap_begin_segment asks of one segment: it never grows (and copies)
	 * again.  Pages never written are never backed. */
	size_t room = (size_t)w.total_capacity + ((size_t)1 << (L->segment_shift - 3)) + 1;
	if (heap->chunks_capacity < room) {
		heap_chunk *grown = realloc(heap->chunks, room * sizeof(*grown));
		if (grown) {
			heap->chunks = grown;
			heap->chunks_capacity = room;
			heap_advise_huge(grown, room * sizeof(*grown));
		}
	}
	mp_progress_begin("heap walk", "segments", w.n_segments);
	for (size_t i = 0; i < w.n_segments; i++) {
		const mi_segment_info *s = &w.segments[i];
		w.segment_bytes += s->slices << L->slice_shift;
		w.abandoned_segments += s->thread_id == 0 && s->used > 0;
		w.cached_segments += s->used == 0;
		if ((err = walk_segment(&w, s, false)))
			break;
		mp_progress_update(i + 1);
		if (options->interrupted && options->interrupted(options->context)) {
			err = mp_error_new(MP_ERR_INTERRUPTED, "heap walk interrupted at segment %#" PRIx64,
					   s->address);
			break;
		}
	}
	mp_progress_end();
	if (!err && w.n_segments == 0)
		heap_problem(heap, 0, "mimalloc segments",
			     "no mimalloc segment found in the target's anonymous memory");
	if (!err)
		err = add_details(&w);
	if (!err)
		heap_trim_chunks(heap);
out:
	walker_free(&w);
	return err;
}

/* ------------------------------------------------------------ version */

/* mimalloc's MI_MALLOC_VERSION (209 for 2.0.9) lives only in the code of
 * mi_version(): `mov $imm32, %eax; ret`, maybe after an endbr64. */
static bool version_function(mp_target *t, const mp_module *m, char *out, size_t size)
{
	uint64_t value, symbol_size;
	if (!m->elf || !mp_elf_find_exported_symbol(m->elf, SHT_DYNSYM, "mi_version",
						    &value, &symbol_size))
		return false;
	uint8_t code[10];
	mp_error *err = mp_target_read(t, m->load_bias + value, code, sizeof(code));
	if (err) {
		mp_error_free(err);
		return false;
	}
	static const uint8_t endbr64[4] = {0xf3, 0x0f, 0x1e, 0xfa};
	const uint8_t *p = memcmp(code, endbr64, 4) == 0 ? code + 4 : code;
	if (p[0] != 0xb8 || p[5] != 0xc3)
		return false;
	uint32_t v = (uint32_t)p[1] | (uint32_t)p[2] << 8 | (uint32_t)p[3] << 16 |
		     (uint32_t)p[4] << 24;
	if (v == 0 || v > 9999)
		return false;
	snprintf(out, size, "%u.%u.%u", v / 100, v / 10 % 10, v % 10);
	return true;
}

bool mp_mimalloc_version(mp_target *t, const mp_module *m, char *out, size_t size)
{
	if (version_function(t, m, out, size))
		return true;
	/* The soname's major is all that is left ("libmimalloc.so.2"). */
	const char *slash = strrchr(m->name, '/');
	const char *name = slash ? slash + 1 : m->name;
	if (strncmp(name, "libmimalloc.so.", 15) != 0 || !heap_is_digit(name[15]))
		return false;
	snprintf(out, size, "%c.x", name[15]);
	return true;
}
