/* The heap snapshot as the backends build it and the analyses read it.
 *
 * Chunks live in one array sorted by address, 16 bytes each: the address
 * and the size with the state packed in its low 4 bits (chunk sizes are
 * multiples of 16).  Address lookup must be cheap for scanners that test
 * every word of memory, so each contiguous region (a heap segment, a run of
 * mmapped chunks) has a start bitmap, one bit per 16 bytes set where a
 * chunk starts, and the count of chunks before each 64-bit word of it.  The
 * chunk holding an address is then that count plus the set bits at or
 * below the address in its word, less one: a table load and a popcount,
 * whatever the chunk sizes.  Cost: about 1.2% of the heap's size.
 */
#ifndef MEMPROF_CORE_HEAP_INTERNAL_H
#define MEMPROF_CORE_HEAP_INTERNAL_H

#include "memprof/memprof.h"

typedef struct heap_chunk {
	uint64_t address;
	uint64_t size_state;      /* size | state */
} heap_chunk;

enum { HEAP_STATE_MASK = 15, HEAP_ALIGN_SHIFT = 4 };

typedef struct heap_region {
	uint64_t start, end;
	size_t first, count;      /* chunks[first .. first+count) */
	int arena;                /* index into arenas, -1 for mmapped chunks */
	uint8_t *copy;            /* live targets: the region's bytes, read once
				   * by the walk and kept for the analyses */
	uint64_t *starts;         /* bit per 16 bytes: a chunk starts there */
	uint32_t *before;         /* per word of starts: chunks before it */
	size_t n_words;
	bool tiled;               /* its chunks cover [start, end) with no gap,
				   * so each chunk ends where the next starts */
	/* Set by heap_begin_segment: the bitmap was sized from the segment
	 * and each chunk's bit set as it was added, so closing the region
	 * need not read the chunk table again; grown_end is where the chunks
	 * added so far end (tiled while each starts there). */
	bool bits_set;
	uint64_t grown_end;
} heap_region;

struct mp_heap {
	heap_chunk *chunks;
	size_t n_chunks, chunks_capacity;
	heap_region *regions;     /* sorted, disjoint */
	size_t n_regions, regions_capacity;
	mp_arena_info *arenas;
	size_t n_arenas, arenas_capacity;
	uint64_t arena_struct_size;   /* bytes of each arena's malloc_state at
				       * its address; 0 when unknown */
	mp_heap_problem *problems;
	size_t n_problems, problems_capacity;
	size_t dropped_problems;  /* beyond the cap, counted not kept */
	mp_mallinfo mallinfo;
	bool have_peak;
	uint64_t max_mmapped_mem, max_n_mmaps;
	bool partial;
	char *backend;
	const char *located_by;
	char *target_description;
	int64_t timestamp;
	int64_t timestamp_ns;     /* the same moment, ns since the epoch; kept in
				   * the blocks section, not the header */
	/* allocator.c: what served malloc in the target (mp_heap_allocator). */
	enum mp_allocator_kind allocator_kind;
	char allocator_version[64];
	char *allocator_module;
};

static inline uint64_t heap_chunk_size(const heap_chunk *c)
{
	return c->size_state & ~(uint64_t)HEAP_STATE_MASK;
}

static inline enum mp_chunk_state heap_chunk_state(const heap_chunk *c)
{
	return (enum mp_chunk_state)(c->size_state & HEAP_STATE_MASK);
}

/* What malloc_usable_size says for a chunk in use; 0 for other states. */
static inline uint64_t heap_chunk_usable(const heap_chunk *c)
{
	enum mp_chunk_state s = heap_chunk_state(c);
	return s == MP_CHUNK_IN_USE ? heap_chunk_size(c) - 8
	       : s == MP_CHUNK_IN_USE_MMAPPED ? heap_chunk_size(c) - 16 : 0;
}

/* The block of region r (index into chunks) whose usable bytes hold
 * address, or -1; i is the last chunk of r starting at or before address.
 * An arena chunk in use extends 8 bytes into the next chunk: glibc hands
 * out the next chunk's prev_size field, unused while the chunk is in use,
 * as the last word of malloc_usable_size.  Shared by the heap's lookup and
 * the block graph's, so every analysis agrees on which block owns a byte. */
static inline ptrdiff_t heap_block_in_region(const heap_chunk *chunks, const heap_region *r,
					     size_t i, uint64_t address)
{
	const heap_chunk *c = &chunks[i];
	if (address < c->address + 8) {
		if (i == r->first)
			return -1;
		const heap_chunk *p = c - 1;
		return heap_chunk_state(p) == MP_CHUNK_IN_USE &&
		       p->address + heap_chunk_size(p) == c->address ? (ptrdiff_t)i - 1 : -1;
	}
	if (address < c->address + 16 || address >= c->address + 16 + heap_chunk_usable(c))
		return -1;
	return (ptrdiff_t)i;
}

/* Whether value, inside block c's usable bytes, lies in the next chunk's
 * header (c's last word).  That address is also the next chunk's, which
 * malloc, calloc and memset leave in caller-saved registers: register
 * roots do not count it as a pointer to c. */
static inline bool heap_in_next_header(const heap_chunk *c, uint64_t value)
{
	return value >= c->address + heap_chunk_size(c);
}

/* What glibc's malloc makes usable of a request of size bytes on x86-64:
 * the request plus its 8-byte size field, rounded up to 16, at least 32,
 * less the size field. */
static inline uint64_t heap_usable_for_request(uint64_t size)
{
	uint64_t chunk = (size + 8 + 15) & ~(uint64_t)15;
	return (chunk < 32 ? 32 : chunk) - 8;
}

static inline void heap_chunk_set_state(heap_chunk *c, enum mp_chunk_state s)
{
	c->size_state = (c->size_state & ~(uint64_t)HEAP_STATE_MASK) | (uint64_t)s;
}

mp_heap *heap_new(void);
/* Appends a chunk to the region being built (see heap_begin_region). */
mp_error *heap_add_chunk(mp_heap *h, uint64_t address, uint64_t size,
			 enum mp_chunk_state state);
/* Regions must be built in increasing address order. */
mp_error *heap_begin_region(mp_heap *h, uint64_t start, int arena);
/* A region whose chunks all lie in [start, end), start being the first
 * one's address (a heap segment): its start bitmap is made now and filled
 * as chunks are added, and room for the chunks a segment of that size can
 * hold is taken at once (only pages written get backed). */
mp_error *heap_begin_segment(mp_heap *h, uint64_t start, uint64_t end, int arena);
/* Gives the chunk table back the room it did not use, once built. */
void heap_trim_chunks(mp_heap *h);
/* Asks for transparent huge pages over the whole pages of [p, p+length)
 * of a large buffer about to be written once from end to end (a segment's
 * copy, the chunk table): a fault per 2 MiB instead of per 4 KiB. */
void heap_advise_huge(void *p, size_t length);
/* Closes the current region at end and builds its start bitmap. */
mp_error *heap_end_region(mp_heap *h, uint64_t end);
/* Index of the chunk that starts exactly at address, or -1. */
ptrdiff_t heap_chunk_at(const mp_heap *h, uint64_t address);
/* Bytes [address, address+length) from a region's live copy, or NULL when
 * no copy holds them all (cores: read the target, it is mapped anyway). */
const uint8_t *heap_copy_bytes(const mp_heap *h, uint64_t address, size_t length);
/* Reads through the copies first, then the target. */
mp_error *heap_read(const mp_heap *h, mp_target *target, uint64_t address,
		    void *buffer, size_t length);

/* Snapshot files carry, beside the heap, sections that analyses save
 * (snapshot.c): opaque bytes under a tag. */
typedef struct heap_section {
	uint32_t tag;
	uint8_t *data;
	size_t size;
} heap_section;

enum { HEAP_SECTION_PATTERNS = 0x50415454 };   /* "PATT" */
/* What diffs need per block (analysis/snapshot_blocks.h). */
enum { HEAP_SECTION_BLOCKS = 0x424c4b53 };     /* "BLKS" */
/* Per block its owner path from a global (analysis/owner_paths.h). */
enum { HEAP_SECTION_OWNERS = 0x4f574e52 };     /* "OWNR" */
/* Written and read by snapshot.c itself: the allocator record (u32 kind,
 * version and module as NUL-terminated strings), so a snapshot shown again
 * names the module it was taken from. */
enum { HEAP_SECTION_ALLOCATOR = 0x414c4f43 };  /* "ALOC" */

mp_error *heap_save_with(const mp_heap *h, const char *path, const heap_section *sections,
			 size_t n_sections);
/* sections may be NULL (they are then dropped); else the caller frees
 * them with heap_sections_free. */
mp_error *heap_load_with(const char *path, mp_heap **out, heap_section **sections,
			 size_t *n_sections);
void heap_sections_free(heap_section *sections, size_t n);

/* Records a problem; the heap becomes partial.  Keeps the first 1000. */
void heap_problem(mp_heap *h, uint64_t address, const char *where,
		  const char *fmt, ...) __attribute__((format(printf, 4, 5)));
mp_error *heap_add_arena(mp_heap *h, const mp_arena_info *arena);

/* allocator.c: records the target's allocator in the heap (copies). */
void heap_set_allocator(mp_heap *heap, const mp_allocator *allocator);

/* glibc.c: builds a heap from a target with a glibc ptmalloc allocator. */
mp_error *mp_glibc_heap_build(mp_target *target, const mp_heap_options *options,
			      mp_heap *heap);

#endif
