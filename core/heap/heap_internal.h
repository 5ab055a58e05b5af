/* The heap snapshot as the backends build it and the analyses read it.
 *
 * A heap is allocator-neutral: a "chunk" is a record of the allocator,
 * the program's block at a fixed header size after its start.  glibc keeps
 * a 16-byte header (size and prev_size) and hands out the next chunk's
 * prev_size word as the last 8 usable bytes of a chunk in use; allocators
 * that keep no header (jemalloc, tcmalloc, mimalloc) have chunks that are
 * the blocks themselves: address what malloc returned, size the usable
 * size.  The layout (header bytes, whether a block overlaps the next
 * chunk's header, the finest alignment of a chunk) is the heap's, set by
 * its backend; every analysis asks the heap (heap_chunk_user,
 * heap_chunk_usable) and none names a header size.
 *
 * Chunks live in one array sorted by address, 16 bytes each: the address
 * and the size shifted left 4 bits with the state in the low 4.  Address
 * lookup must be cheap for scanners that test every word of memory, so
 * each contiguous region (a heap segment, a slab, a run of mmapped chunks)
 * has a start bitmap, one bit per granule (16 bytes for glibc, 8 for the
 * others) set where a chunk starts, and the count of chunks before each
 * 64-bit word of it.  The chunk holding an address is then that count plus
 * the set bits at or below the address in its word, less one: a table
 * load and a popcount, whatever the chunk sizes.  Cost: about 1.2% of the
 * heap's size (2.4% with 8-byte granules).
 */
#ifndef MEMPROF_CORE_HEAP_INTERNAL_H
#define MEMPROF_CORE_HEAP_INTERNAL_H

#include "memprof/memprof.h"

typedef struct heap_chunk {
	uint64_t address;
	uint64_t size_state;      /* size << HEAP_STATE_BITS | state */
} heap_chunk;

enum { HEAP_STATE_BITS = 4, HEAP_STATE_MASK = 15 };

typedef struct heap_region {
	uint64_t start, end;
	size_t first, count;      /* chunks[first .. first+count) */
	int arena;                /* index into arenas, -1 for mmapped chunks */
	uint8_t *copy;            /* live targets: the region's bytes, read once
				   * by the walk and kept for the analyses */
	uint64_t *starts;         /* bit per granule: a chunk starts there */
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

/* One row of an allocator's own facts (mp_heap_detail). */
typedef struct heap_detail {
	char *group, *name;
	uint64_t value;
	int arena;                /* the arena it describes, -1 for none */
} heap_detail;

/* A glibc arena as its malloc_state says (heap_arena rows of the glibc
 * backend's description: glibc_describe.c). */
typedef struct heap_arena {
	uint64_t address;
	bool is_main;
	uint64_t system_mem, max_system_mem;
	uint64_t top_address, top_size;
	size_t n_heaps;           /* heap segments (non-main arenas) */
} heap_arena;

/* glibc's mallinfo2, recomputed from the walk. */
typedef struct heap_mallinfo {
	uint64_t arena, ordblks, smblks, hblks, hblkhd, usmblks, fsmblks,
		uordblks, fordblks, keepcost;
} heap_mallinfo;

struct mp_heap {
	/* The layout (heap_set_layout): glibc's unless the backend says. */
	unsigned header_bytes;    /* before the user's data */
	unsigned next_overlap;    /* bytes of the next chunk's header a chunk
				   * in use lends its block (glibc: 8) */
	unsigned granule_shift;   /* log2 of the finest chunk alignment */
	/* The allocator's size classes (heap_usable_for_request); NULL for
	 * glibc's rounding.  Not saved: a loaded snapshot has glibc's, or
	 * the backend's looked up again by heap_set_allocator. */
	uint64_t (*usable_for_request)(uint64_t size);
	heap_chunk *chunks;
	size_t n_chunks, chunks_capacity;
	heap_region *regions;     /* sorted, disjoint */
	size_t n_regions, regions_capacity;
	/* glibc's arenas, mallinfo and peaks: read by the walk, saved in the
	 * snapshot's own fields, shown as the backend's description. */
	heap_arena *arenas;
	size_t n_arenas, arenas_capacity;
	uint64_t arena_struct_size;   /* bytes of each arena's malloc_state at
				       * its address; 0 when unknown */
	/* Detail rows the walk read (saved in snapshots), then the rows the
	 * backend's describe derives from the heap (not saved: derived again
	 * when a snapshot is loaded).  mp_heap_detail_at: described first. */
	heap_detail *details;
	size_t n_details, details_capacity;
	heap_detail *described;
	size_t n_described, described_capacity;
	mp_heap_problem *problems;
	size_t n_problems, problems_capacity;
	size_t dropped_problems;  /* beyond the cap, counted not kept */
	heap_mallinfo mallinfo;
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
	return c->size_state >> HEAP_STATE_BITS;
}

static inline enum mp_chunk_state heap_chunk_state(const heap_chunk *c)
{
	return (enum mp_chunk_state)(c->size_state & HEAP_STATE_MASK);
}

/* Where the program's bytes of chunk c start: what malloc returned. */
static inline uint64_t heap_chunk_user(const mp_heap *h, const heap_chunk *c)
{
	return c->address + h->header_bytes;
}

/* What malloc_usable_size says for a chunk in use; 0 for other states.
 * glibc: an arena chunk's size less its header plus the next chunk's
 * prev_size word; an mmapped chunk has no next chunk to borrow from. */
static inline uint64_t heap_chunk_usable(const mp_heap *h, const heap_chunk *c)
{
	enum mp_chunk_state s = heap_chunk_state(c);
	if (s == MP_CHUNK_IN_USE)
		return heap_chunk_size(c) - h->header_bytes + h->next_overlap;
	return s == MP_CHUNK_IN_USE_MMAPPED ? heap_chunk_size(c) - h->header_bytes : 0;
}

/* The block of region r (index into h->chunks) whose usable bytes hold
 * address, or -1; i is the last chunk of r starting at or before address.
 * With glibc's layout a chunk in use extends into the next chunk: its
 * prev_size field, unused while the chunk is in use, is the last word of
 * malloc_usable_size.  Shared by the heap's lookup and the block graph's,
 * so every analysis agrees on which block owns a byte. */
static inline ptrdiff_t heap_block_in_region(const mp_heap *h, const heap_region *r,
					     size_t i, uint64_t address)
{
	const heap_chunk *c = &h->chunks[i];
	uint64_t user = c->address + h->header_bytes;
	if (address < user) {
		/* In c's header: the previous chunk's block when it lends it. */
		if (i == r->first || address >= c->address + h->next_overlap)
			return -1;
		const heap_chunk *p = c - 1;
		return heap_chunk_state(p) == MP_CHUNK_IN_USE &&
		       p->address + heap_chunk_size(p) == c->address ? (ptrdiff_t)i - 1 : -1;
	}
	if (address >= user + heap_chunk_usable(h, c))
		return -1;
	return (ptrdiff_t)i;
}

/* Whether value, inside block c's usable bytes, lies in the next chunk's
 * header (c's last word under glibc's layout; never for header-less
 * ones).  That address is also the next chunk's, which malloc, calloc and
 * memset leave in caller-saved registers: register roots do not count it
 * as a pointer to c. */
static inline bool heap_in_next_header(const heap_chunk *c, uint64_t value)
{
	return value >= c->address + heap_chunk_size(c);
}

/* What the allocator makes usable of a request of size bytes: glibc on
 * x86-64 adds its 8-byte size field, rounds up to 16, takes at least 32,
 * less the size field; other backends give their size classes. */
static inline uint64_t heap_usable_for_request(const mp_heap *h, uint64_t size)
{
	if (h->usable_for_request)
		return h->usable_for_request(size);
	uint64_t chunk = (size + 8 + 15) & ~(uint64_t)15;
	return (chunk < 32 ? 32 : chunk) - 8;
}

static inline void heap_chunk_set_state(heap_chunk *c, enum mp_chunk_state s)
{
	c->size_state = (c->size_state & ~(uint64_t)HEAP_STATE_MASK) | (uint64_t)s;
}

/* A new heap with glibc's layout. */
mp_heap *heap_new(void);
/* For allocators that keep no glibc header: header_bytes before the
 * user's data (0 for jemalloc, tcmalloc and mimalloc: a chunk is then the
 * block, address what malloc returned and size its usable size) and
 * granule_shift the log2 of the finest alignment a chunk starts at (3 for
 * their 8-byte classes).  No overlap with the next chunk.  Called before
 * the first region. */
void heap_set_layout(mp_heap *h, unsigned header_bytes, unsigned granule_shift);
/* The usable size the allocator gives a request of size bytes (its size
 * classes), for typing blocks by size; without it glibc's rounding is
 * assumed. */
void heap_set_size_classes(mp_heap *h, uint64_t (*usable_for_request)(uint64_t size));
/* The backend string `heap` prints ("jemalloc 5.3.0"). */
mp_error *heap_set_backend_name(mp_heap *h, const char *name);
/* A row of the allocator's own facts, shown by `heap` and kept in
 * snapshots: the allocator's totals under group "totals", the rest under
 * groups of its own ("arena 0", "bin 48", "size class 7"). */
mp_error *heap_add_detail(mp_heap *h, const char *group, const char *name, uint64_t value);
/* Appends a chunk to the region being built (see heap_begin_region). */
mp_error *heap_add_chunk(mp_heap *h, uint64_t address, uint64_t size,
			 enum mp_chunk_state state);
/* Appends n chunks (address and size_state each) at once, as n calls of
 * heap_add_chunk would: for walks that meet millions of chunks. */
mp_error *heap_add_chunks(mp_heap *h, const heap_chunk *chunks, size_t n);
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
/* Also snapshot.c's: the layout (u32 header bytes, u32 next overlap, u32
 * granule shift) and the allocator's detail rows (u32 count, then per row
 * u64 value and group and name NUL-terminated).  Without them a snapshot
 * is glibc's, with no detail. */
enum { HEAP_SECTION_LAYOUT = 0x4c415954 };     /* "LAYT" */
enum { HEAP_SECTION_DETAIL = 0x4445544c };     /* "DETL" */

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
mp_error *heap_add_arena(mp_heap *h, const heap_arena *arena);

/* allocator.c: records the target's allocator in the heap (copies). */
void heap_set_allocator(mp_heap *heap, const mp_allocator *allocator);

/* How an allocator is told from the others in a module that defines
 * malloc (allocator.c asks every backend's). */
typedef struct heap_detect {
	/* File name prefixes of its libraries ("libjemalloc"): a library so
	 * named is that allocator, judged without its file too.  NULL-ended. */
	const char *const *library_names;
	/* Entry points only it defines, whatever its file is called (a
	 * static link, a renamed copy).  NULL-ended. */
	const char *const *entry_points;
	/* Its entry points are also in programs another allocator serves
	 * (glibc's __libc_malloc, linked statically under jemalloc): asked
	 * after every other allocator. */
	bool underneath;
	/* Its version ("5.3.0") from the module; false when none is found. */
	bool (*version)(mp_target *target, const mp_module *module, char *out, size_t size);
	/* version reads only the module's read-only bytes, so it names the
	 * allocator of a stripped static program as well. */
	bool version_identifies;
} heap_detect;

/* A heap backend: one allocator memprof reads (backends.c lists them).
 * Adding an allocator is an entry there and a file of its own. */
typedef struct heap_backend {
	enum mp_allocator_kind kind;
	heap_detect detect;
	/* Reads the target's heap into heap (new, glibc's layout until the
	 * backend sets its own).  MP_ERR_ALLOCATOR when this version's
	 * layout is unknown. */
	mp_error *(*build)(mp_target *target, const mp_allocator *allocator,
			   const mp_heap_options *options, mp_heap *heap);
	/* Detail rows derived from what the heap keeps (heap_describe_row),
	 * after a build and after a snapshot is loaded; NULL when the walk
	 * records all of its rows itself (heap_add_detail). */
	mp_error *(*describe)(mp_heap *heap);
	/* Its size classes (heap_set_size_classes), kept here too so a
	 * snapshot loaded from a file types blocks as the live heap did;
	 * NULL for glibc's rounding. */
	uint64_t (*usable_for_request)(uint64_t size);
	/* The walk's "totals" row that says what the allocator holds from
	 * the system (mp_heap_system_bytes); NULL: glibc's mallinfo2. */
	const char *system_bytes_row;
} heap_backend;

/* The backends, in the order detection asks them. */
const heap_backend *heap_backend_at(size_t index);
size_t heap_backend_count(void);

/* The backend for an allocator, or NULL when memprof cannot read it. */
const heap_backend *heap_backend_for(enum mp_allocator_kind kind);
/* Runs the describe of the heap's backend (a heap of undetermined
 * allocator is glibc's), replacing the rows it made before. */
mp_error *heap_describe(mp_heap *h);
/* A described row (not saved); arena is the index mp_heap_chunk_arena
 * gives the chunks of the arena the row is about, -1 for none. */
mp_error *heap_describe_row(mp_heap *h, const char *group, const char *name,
			    uint64_t value, int arena);

/* For the backends' version finders (allocator.c): whether match finds a
 * version in the module's .rodata on disk, else in its read-only
 * mappings in the target (a core may travel without the library file);
 * and the run of digits and dots at p (before limit) copied to out, its
 * length returned. */
typedef bool (*heap_version_matcher)(const char *bytes, size_t length, char *out, size_t size);
bool heap_search_module(mp_target *t, const mp_module *m, heap_version_matcher match,
			char *out, size_t size);
size_t heap_copy_dotted(const char *p, const char *limit, char *out, size_t size);
bool heap_is_digit(char c);

/* glibc.c: builds a heap from a target with a glibc ptmalloc allocator;
 * glibc_describe.c: its arenas, peaks and mallinfo as detail rows. */
mp_error *mp_glibc_heap_build(mp_target *target, const mp_allocator *allocator,
			      const mp_heap_options *options, mp_heap *heap);
mp_error *mp_glibc_describe(mp_heap *heap);
bool mp_glibc_version(mp_target *t, const mp_module *m, char *out, size_t size);

/* mimalloc.c: mimalloc 2.0 and 2.1: segments, pages and heaps; its size classes. */
mp_error *mp_mimalloc_heap_build(mp_target *target, const mp_allocator *allocator,
				 const mp_heap_options *options, mp_heap *heap);
uint64_t mp_mimalloc_usable_for_request(uint64_t size);
bool mp_mimalloc_version(mp_target *t, const mp_module *m, char *out, size_t size);

/* tcmalloc.c: gperftools 2.8-2.10: page map, spans and caches; its size classes. */
mp_error *mp_tcmalloc_heap_build(mp_target *target, const mp_allocator *allocator,
				 const mp_heap_options *options, mp_heap *heap);
uint64_t mp_tcmalloc_usable_for_request(uint64_t size);
bool mp_tcmalloc_version(mp_target *t, const mp_module *m, char *out, size_t size);

/* jemalloc.c: jemalloc 5.3 and 5.2.1: extent map, slabs, arenas, tcaches; its size classes. */
mp_error *mp_jemalloc_heap_build(mp_target *target, const mp_allocator *allocator,
				 const mp_heap_options *options, mp_heap *heap);
uint64_t mp_jemalloc_usable_for_request(uint64_t size);
bool mp_jemalloc_version(mp_target *t, const mp_module *m, char *out, size_t size);

#endif
