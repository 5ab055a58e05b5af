/* The heap snapshot: chunk table, region start bitmaps, problems, and the
 * public accessors over them.  Backends fill it; analyses only read it. */
#include "heap_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "array.h"
#include "error.h"
#include "target/target_internal.h"

enum { MAX_PROBLEMS = 1000 };

mp_heap *heap_new(void)
{
	mp_heap *h = calloc(1, sizeof(*h));
	if (h) {
		h->header_bytes = 16;
		h->next_overlap = 8;
		h->granule_shift = 4;
		/* The nanoseconds are what diffs divide by (snapshots a second
		 * apart); the seconds are what the heap report shows. */
		struct timespec now;
		clock_gettime(CLOCK_REALTIME, &now);
		h->timestamp = (int64_t)now.tv_sec;
		h->timestamp_ns = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
	}
	return h;
}

void heap_set_layout(mp_heap *h, unsigned header_bytes, unsigned granule_shift)
{
	h->header_bytes = header_bytes;
	h->next_overlap = 0;
	h->granule_shift = granule_shift;
}

void heap_set_size_classes(mp_heap *h, uint64_t (*usable_for_request)(uint64_t size))
{
	h->usable_for_request = usable_for_request;
}

mp_error *heap_set_backend_name(mp_heap *h, const char *name)
{
	char *copy = strdup(name);
	if (!copy)
		return mp_error_nomem();
	free(h->backend);
	h->backend = copy;
	return NULL;
}

/* Appends a row to one of the heap's two row lists. */
static mp_error *add_row(heap_detail **rows, size_t *n, size_t *capacity, const char *group,
			 const char *name, uint64_t value, int arena)
{
	if (!MP_ARRAY_RESERVE(*rows, *capacity, *n + 1))
		return mp_error_nomem();
	heap_detail *d = &(*rows)[*n];
	d->group = strdup(group);
	d->name = strdup(name);
	if (!d->group || !d->name) {
		free(d->group);
		free(d->name);
		return mp_error_nomem();
	}
	d->value = value;
	d->arena = arena;
	(*n)++;
	return NULL;
}

static void free_rows(heap_detail *rows, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(rows[i].group);
		free(rows[i].name);
	}
	free(rows);
}

mp_error *heap_add_detail(mp_heap *h, const char *group, const char *name, uint64_t value)
{
	return add_row(&h->details, &h->n_details, &h->details_capacity, group, name, value, -1);
}

mp_error *heap_describe_row(mp_heap *h, const char *group, const char *name,
			    uint64_t value, int arena)
{
	return add_row(&h->described, &h->n_described, &h->described_capacity, group, name,
		       value, arena);
}

/* The backend that read the heap; a heap of undetermined allocator (an
 * old snapshot) is glibc's. */
static const heap_backend *backend_of(const mp_heap *h)
{
	enum mp_allocator_kind kind = mp_heap_allocator(h).kind;
	return heap_backend_for(kind == MP_ALLOCATOR_UNDETERMINED ? MP_ALLOCATOR_GLIBC : kind);
}

mp_error *heap_describe(mp_heap *h)
{
	free_rows(h->described, h->n_described);
	h->described = NULL;
	h->n_described = h->described_capacity = 0;
	const heap_backend *backend = backend_of(h);
	return backend && backend->describe ? backend->describe(h) : NULL;
}

mp_error *heap_begin_region(mp_heap *h, uint64_t start, int arena)
{
	if (!MP_ARRAY_RESERVE(h->regions, h->regions_capacity, h->n_regions + 1))
		return mp_error_nomem();
	heap_region *r = &h->regions[h->n_regions++];
	memset(r, 0, sizeof(*r));
	r->start = start;
	r->end = start;
	r->first = h->n_chunks;
	r->arena = arena;
	return NULL;
}

void heap_advise_huge(void *p, size_t length)
{
	uintptr_t begin = ((uintptr_t)p + 4095) & ~(uintptr_t)4095;
	uintptr_t end = ((uintptr_t)p + length) & ~(uintptr_t)4095;
	/* Advice only: a kernel without THP leaves the pages as they are. */
	if (end > begin)
		madvise((void *)begin, end - begin, MADV_HUGEPAGE);
}

mp_error *heap_begin_segment(mp_heap *h, uint64_t start, uint64_t end, int arena)
{
	mp_error *err = heap_begin_region(h, start, arena);
	if (err || end <= start)
		return err;
	/* A chunk takes two granules at least (glibc's 32 bytes, the
	 * others' 8-byte blocks are one granule but rare): no more chunks
	 * than that fit, or than one per granule.  Taking the room once saves
	 * copying the table as it doubles, and the pages never written are
	 * never backed. */
	size_t most = (size_t)((end - start) >> (h->granule_shift + (h->header_bytes ? 1 : 0))) + 1;
	if (h->chunks_capacity - h->n_chunks < most) {
		size_t wanted = h->n_chunks + most;
		heap_chunk *grown = realloc(h->chunks, wanted * sizeof(*grown));
		if (grown) {
			h->chunks = grown;
			h->chunks_capacity = wanted;
			heap_advise_huge(grown + h->n_chunks, most * sizeof(*grown));
		}
	}
	heap_region *r = &h->regions[h->n_regions - 1];
	size_t granules = (size_t)((end - start) >> h->granule_shift) + 1;
	r->n_words = (granules + 63) / 64;
	r->starts = calloc(r->n_words, sizeof(*r->starts));
	if (!r->starts)
		return mp_error_nomem();
	r->end = end;
	r->bits_set = true;
	r->tiled = true;
	r->grown_end = start;
	return NULL;
}

void heap_trim_chunks(mp_heap *h)
{
	if (h->chunks_capacity <= h->n_chunks || !h->n_chunks)
		return;
	heap_chunk *trimmed = realloc(h->chunks, h->n_chunks * sizeof(*trimmed));
	if (trimmed) {
		h->chunks = trimmed;
		h->chunks_capacity = h->n_chunks;
	}
}

/* The table's growth, out of heap_add_chunk's way: segments reserve
 * their room up front (heap_begin_segment), so this is rare. */
static __attribute__((noinline, cold)) bool heap_grow_chunks(mp_heap *h)
{
	return MP_ARRAY_RESERVE(h->chunks, h->chunks_capacity, h->n_chunks + 1);
}

/* Called once per chunk by backends that add chunks one by one: the
 * fields it needs are loaded once into locals, the table entry is written
 * last (the compiler need not reload them after stores it cannot prove
 * unrelated), and growing the table is a cold call apart (issue 18).
 * The glibc walk adds its chunks in batches (heap_add_chunks). */
mp_error *heap_add_chunk(mp_heap *h, uint64_t address, uint64_t size,
			 enum mp_chunk_state state)
{
	size_t n = h->n_chunks;
	if (__builtin_expect(n >= h->chunks_capacity, 0) && !heap_grow_chunks(h))
		return mp_error_nomem();
	heap_chunk *c = &h->chunks[n];
	h->n_chunks = n + 1;
	if (h->n_regions) {
		heap_region *r = &h->regions[h->n_regions - 1];
		if (r->bits_set) {
			uint64_t offset = address - r->start;
			unsigned shift = h->granule_shift;
			if (address < r->start || address + size > r->end ||
			    (offset & (((uint64_t)1 << shift) - 1))) {
				/* Outside what the segment promised: the region's
				 * bitmap is rebuilt from the table when it closes. */
				r->bits_set = false;
			} else {
				size_t g = (size_t)(offset >> shift);
				r->starts[g / 64] |= (uint64_t)1 << (g % 64);
				if (address != r->grown_end)
					r->tiled = false;
				r->grown_end = address + size;
			}
		}
	}
	c->address = address;
	c->size_state = size << HEAP_STATE_BITS | (uint64_t)state;
	return NULL;
}

mp_error *heap_add_chunks(mp_heap *h, const heap_chunk *chunks, size_t n)
{
	if (n == 0)
		return NULL;
	if (h->chunks_capacity - h->n_chunks < n &&
	    !MP_ARRAY_RESERVE(h->chunks, h->chunks_capacity, h->n_chunks + n))
		return mp_error_nomem();
	memcpy(h->chunks + h->n_chunks, chunks, n * sizeof(*chunks));
	h->n_chunks += n;
	heap_region *r = h->n_regions ? &h->regions[h->n_regions - 1] : NULL;
	if (!r || !r->bits_set)
		return NULL;
	/* heap_add_chunk's bookkeeping with the region's fields in locals. */
	uint64_t start = r->start, end = r->end, grown_end = r->grown_end;
	unsigned shift = h->granule_shift;
	uint64_t misaligned = ((uint64_t)1 << shift) - 1;
	uint64_t *starts = r->starts;
	bool tiled = r->tiled;
	for (size_t i = 0; i < n; i++) {
		uint64_t address = chunks[i].address, size = heap_chunk_size(&chunks[i]);
		uint64_t offset = address - start;
		if (address < start || address + size > end || (offset & misaligned)) {
			/* Rebuilt from the table when the region closes. */
			r->bits_set = false;
			return NULL;
		}
		size_t g = (size_t)(offset >> shift);
		starts[g / 64] |= (uint64_t)1 << (g % 64);
		tiled &= address == grown_end;
		grown_end = address + size;
	}
	r->tiled = tiled;
	r->grown_end = grown_end;
	return NULL;
}

/* The running counts of a region's start bitmap. */
static mp_error *heap_count_starts(heap_region *r)
{
	r->before = malloc(r->n_words * sizeof(*r->before));
	if (!r->before)
		return mp_error_nomem();
	uint32_t total = 0;
	for (size_t w = 0; w < r->n_words; w++) {
		r->before[w] = total;
		total += (uint32_t)__builtin_popcountll(r->starts[w]);
	}
	return NULL;
}

mp_error *heap_end_region(mp_heap *h, uint64_t end)
{
	heap_region *r = &h->regions[h->n_regions - 1];
	r->count = h->n_chunks - r->first;
	if (r->count == 0) {
		free(r->starts);
		h->n_regions--;   /* nothing found: no region */
		return NULL;
	}
	const heap_chunk *last = &h->chunks[h->n_chunks - 1];
	uint64_t last_end = last->address + heap_chunk_size(last);
	if (r->bits_set && end == r->end && h->chunks[r->first].address == r->start) {
		/* heap_begin_segment's bitmap, filled by heap_add_chunk. */
		r->tiled = r->tiled && last_end == r->end;
		return heap_count_starts(r);
	}
	free(r->starts);
	r->starts = NULL;
	r->bits_set = false;
	r->end = end > last_end ? end : last_end;
	r->start = h->chunks[r->first].address < r->start ? h->chunks[r->first].address
							   : r->start;
	size_t granules = (size_t)((r->end - r->start) >> h->granule_shift) + 1;
	r->n_words = (granules + 63) / 64;
	r->starts = calloc(r->n_words, sizeof(*r->starts));
	if (!r->starts)
		return mp_error_nomem();
	for (size_t k = 0; k < r->count; k++) {
		uint64_t offset = h->chunks[r->first + k].address - r->start;
		if (offset & ((1u << h->granule_shift) - 1))
			return mp_error_new(MP_ERR_FORMAT, "chunk at %#llx is not %u-byte aligned",
					    (unsigned long long)h->chunks[r->first + k].address,
					    1u << h->granule_shift);
		size_t g = (size_t)(offset >> h->granule_shift);
		r->starts[g / 64] |= (uint64_t)1 << (g % 64);
	}
	r->tiled = h->chunks[r->first].address == r->start && last_end == r->end;
	for (size_t k = r->first; r->tiled && k + 1 < r->first + r->count; k++)
		r->tiled = h->chunks[k].address + heap_chunk_size(&h->chunks[k]) == h->chunks[k + 1].address;
	return heap_count_starts(r);
}

static const heap_region *find_region(const mp_heap *h, uint64_t address)
{
	size_t lo = 0, hi = h->n_regions;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (address < h->regions[mid].start)
			hi = mid;
		else if (address >= h->regions[mid].end)
			lo = mid + 1;
		else
			return &h->regions[mid];
	}
	return NULL;
}

const uint8_t *heap_copy_bytes(const mp_heap *h, uint64_t address, size_t length)
{
	const heap_region *r = find_region(h, address);
	if (!r || !r->copy || length > r->end - address)
		return NULL;
	return r->copy + (address - r->start);
}

mp_error *heap_read(const mp_heap *h, mp_target *target, uint64_t address,
		    void *buffer, size_t length)
{
	const uint8_t *bytes = heap_copy_bytes(h, address, length);
	if (bytes) {
		memcpy(buffer, bytes, length);
		return NULL;
	}
	return mp_target_read(target, address, buffer, length);
}

/* The hot path of every conservative scan: built for CPUs with POPCNT
 * (all x86-64 since 2008) and for the baseline, chosen when loaded.  GCC
 * only: clang 14 names the dispatcher "mp_heap_find_chunk.ifunc", so no
 * other file links against it (the clang builds are the fuzzing ones). */
#if defined(__clang__)
#define POPCNT_CLONES
#else
#define POPCNT_CLONES __attribute__((target_clones("popcnt", "default")))
#endif
/* How many chunks of r start at or before address, from the start bitmap
 * and the running counts: one load and a popcount.  Inlined into each
 * clone, so the popcnt one uses the instruction. */
static inline __attribute__((always_inline)) size_t starts_up_to(const mp_heap *h,
								 const heap_region *r,
								 uint64_t address)
{
	size_t g = (size_t)((address - r->start) >> h->granule_shift);
	size_t w = g / 64;
	uint64_t below = r->starts[w] & (~(uint64_t)0 >> (63 - g % 64));
	return r->before[w] + (size_t)__builtin_popcountll(below);
}

POPCNT_CLONES
ptrdiff_t mp_heap_find_chunk(const mp_heap *h, uint64_t address)
{
	const heap_region *r = find_region(h, address);
	if (!r)
		return -1;
	size_t lo = starts_up_to(h, r, address);
	/* lo chunks start at or before address; the last of them holds it. */
	if (lo == 0)
		return -1;
	const heap_chunk *c = &h->chunks[r->first + lo - 1];
	if (address >= c->address + heap_chunk_size(c))
		return -1;
	return (ptrdiff_t)(r->first + lo - 1);
}

POPCNT_CLONES
ptrdiff_t mp_heap_find_block(const mp_heap *h, uint64_t address)
{
	const heap_region *r = find_region(h, address);
	if (!r)
		return -1;
	size_t lo = starts_up_to(h, r, address);
	if (lo == 0)
		return -1;
	return heap_block_in_region(h, r, r->first + lo - 1, address);
}

int mp_heap_chunk_arena(const mp_heap *h, size_t index)
{
	size_t lo = 0, hi = h->n_regions;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const heap_region *r = &h->regions[mid];
		if (index < r->first)
			hi = mid;
		else if (index >= r->first + r->count)
			lo = mid + 1;
		else
			return r->arena;
	}
	return -1;
}

ptrdiff_t heap_chunk_at(const mp_heap *h, uint64_t address)
{
	ptrdiff_t i = mp_heap_find_chunk(h, address);
	return i >= 0 && h->chunks[i].address == address ? i : -1;
}

void heap_problem(mp_heap *h, uint64_t address, const char *where,
		  const char *fmt, ...)
{
	h->partial = true;
	if (h->n_problems >= MAX_PROBLEMS ||
	    !MP_ARRAY_RESERVE(h->problems, h->problems_capacity, h->n_problems + 1)) {
		h->dropped_problems++;
		return;
	}
	char *message = NULL;
	va_list ap;
	va_start(ap, fmt);
	int n = vasprintf(&message, fmt, ap);
	va_end(ap);
	char *where_copy = strdup(where);
	if (n < 0 || !where_copy) {
		free(where_copy);
		if (n >= 0)
			free(message);
		h->dropped_problems++;
		return;
	}
	mp_heap_problem *p = &h->problems[h->n_problems++];
	p->address = address;
	p->where = where_copy;
	p->message = message;
}

mp_error *heap_add_arena(mp_heap *h, const heap_arena *arena)
{
	if (!MP_ARRAY_RESERVE(h->arenas, h->arenas_capacity, h->n_arenas + 1))
		return mp_error_nomem();
	h->arenas[h->n_arenas++] = *arena;
	return NULL;
}

mp_error *mp_heap_open(mp_target *target, const mp_heap_options *options,
		       mp_heap **out)
{
	*out = NULL;
	/* Before any walk: a heap memprof cannot read is refused, never read
	 * as glibc's (a program on another allocator has a nearly empty glibc
	 * heap that would say so). */
	mp_error *refused = mp_allocator_check(target);
	if (refused)
		return refused;
	const mp_allocator *allocator = mp_target_allocator(target);
	/* Nothing named the allocator: glibc is tried, and its walk says
	 * whether it found glibc's arenas. */
	const heap_backend *backend = heap_backend_for(
		allocator->kind == MP_ALLOCATOR_UNDETERMINED ? MP_ALLOCATOR_GLIBC : allocator->kind);
	if (!backend)
		return mp_error_new(MP_ERR_ALLOCATOR, "%s %s detected in %s: memprof cannot read its heap",
				    allocator->name, allocator->version, allocator->module);
	mp_heap_options defaults = {0};
	mp_heap *h = heap_new();
	if (!h)
		return mp_error_nomem();
	h->target_description = strdup(mp_target_description(target));
	if (!h->target_description) {
		mp_heap_free(h);
		return mp_error_nomem();
	}
	heap_set_size_classes(h, backend->usable_for_request);
	mp_error *err = backend->build(target, allocator, options ? options : &defaults, h);
	if (!err)
		err = mp_target_check_alive(target);
	if (err) {
		mp_heap_free(h);
		return err;
	}
	if (mp_target_partial(target))
		h->partial = true;
	heap_set_allocator(h, allocator);
	if (allocator->kind == MP_ALLOCATOR_UNDETERMINED)
		h->allocator_kind = MP_ALLOCATOR_GLIBC;
	err = heap_describe(h);
	if (err) {
		mp_heap_free(h);
		return err;
	}
	*out = h;
	return NULL;
}

void mp_heap_free(mp_heap *h)
{
	if (!h)
		return;
	for (size_t i = 0; i < h->n_regions; i++) {
		free(h->regions[i].starts);
		free(h->regions[i].before);
		free(h->regions[i].copy);
	}
	for (size_t i = 0; i < h->n_problems; i++) {
		free((char *)h->problems[i].where);
		free((char *)h->problems[i].message);
	}
	free(h->regions);
	free(h->chunks);
	free(h->arenas);
	free(h->problems);
	free_rows(h->details, h->n_details);
	free_rows(h->described, h->n_described);
	free(h->backend);
	free(h->target_description);
	free(h->allocator_module);
	free(h);
}

const char *mp_chunk_state_name(enum mp_chunk_state state)
{
	static const char *const names[MP_CHUNK_STATE_COUNT] = {
		"in-use", "in-use-mmapped", "free", "tcache", "fastbin", "top",
		"metadata", "corrupt",
	};
	return (unsigned)state < MP_CHUNK_STATE_COUNT ? names[state] : "unknown";
}

uint64_t mp_chunk_usable_size(const mp_chunk *c) { return c->usable_size; }

const char *mp_heap_backend(const mp_heap *h) { return h->backend ? h->backend : "unknown"; }
const char *mp_heap_located_by(const mp_heap *h) { return h->located_by ? h->located_by : ""; }
size_t mp_heap_chunk_count(const mp_heap *h) { return h->n_chunks; }

mp_chunk mp_heap_chunk(const mp_heap *h, size_t i)
{
	mp_chunk c = {0};
	if (i < h->n_chunks) {
		c.address = h->chunks[i].address;
		c.size = heap_chunk_size(&h->chunks[i]);
		c.state = heap_chunk_state(&h->chunks[i]);
		c.user_address = heap_chunk_user(h, &h->chunks[i]);
		c.usable_size = heap_chunk_usable(h, &h->chunks[i]);
	}
	return c;
}

size_t mp_heap_detail_count(const mp_heap *h) { return h->n_described + h->n_details; }

mp_heap_detail mp_heap_detail_at(const mp_heap *h, size_t i)
{
	mp_heap_detail d = {"", "", 0, -1};
	const heap_detail *row = i < h->n_described ? &h->described[i]
			       : i - h->n_described < h->n_details ? &h->details[i - h->n_described]
								    : NULL;
	if (row) {
		d.group = row->group;
		d.name = row->name;
		d.value = row->value;
		d.arena = row->arena;
	}
	return d;
}

uint64_t mp_heap_system_bytes(const mp_heap *h)
{
	const heap_backend *backend = backend_of(h);
	if (!backend || !backend->system_bytes_row)
		return h->mallinfo.arena + h->mallinfo.hblkhd;
	for (size_t i = 0; i < h->n_details; i++)
		if (strcmp(h->details[i].group, "totals") == 0 &&
		    strcmp(h->details[i].name, backend->system_bytes_row) == 0)
			return h->details[i].value;
	return 0;
}

size_t mp_heap_problem_count(const mp_heap *h) { return h->n_problems; }

const mp_heap_problem *mp_heap_problem_at(const mp_heap *h, size_t i)
{
	return i < h->n_problems ? &h->problems[i] : NULL;
}

bool mp_heap_partial(const mp_heap *h) { return h->partial; }
int64_t mp_heap_timestamp(const mp_heap *h) { return h->timestamp; }

const char *mp_heap_target_description(const mp_heap *h)
{
	return h->target_description ? h->target_description : "";
}
