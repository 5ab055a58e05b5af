/* glibc ptmalloc (2.26 and later, x86-64) as a heap backend.
 *
 * Finding the allocator.  With libc's debug symbols (libc6-dbg), main_arena
 * and mp_ are symbols of libc's debug file.  Without them memprof searches
 * libc's writable data: main_arena is the one place where 127 bins of 16
 * bytes either point to themselves (an empty bin's fd and bk are the bin)
 * or into the heap, and mp_ is the record whose sbrk_base is the start of
 * the main heap and whose tcache limits have their documented ranges.
 *
 * Enumerating chunks.  Every arena is reached through main_arena.next; the
 * main arena's chunks run from sbrk_base to its top chunk, a non-main
 * arena's from the heap_info-headed segments (64 MiB aligned) chained from
 * the segment holding its top through heap_info.prev.  Chunks mmapped on
 * their own are found by their header at any page of an anonymous mapping
 * outside the heap segments (the kernel merges neighbouring mappings).
 * A chunk is free when the next chunk's PREV_INUSE bit is clear; tcache and
 * fastbin chunks look in use and are marked by walking those lists
 * (safe-linked since glibc 2.32: next = (&next >> 12) ^ stored).  Each
 * thread's tcache_perthread_struct is recognised by its shape: 64 counts
 * that agree with 64 list heads pointing at chunks of the right size.
 *
 * mallinfo2 is recomputed the way glibc's int_mallinfo does it: top plus
 * fastbins plus the chunks on every bin are free ("avail"), the rest of each
 * arena's system_mem is in use, mmapped chunks are hblks/hblkhd, and tcache
 * chunks count as in use.
 *
 * Corruption: a chunk whose size cannot be right (below MINSIZE, unaligned,
 * past its segment) is reported with the walk that met it; the walk then
 * resynchronises on the next address where two consecutive chunk headers
 * fit, and the bytes between become one "corrupt" entry.  Free lists are
 * bounded by the number of chunks and stop at the first chunk seen twice.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "array.h"
#include "elf/elf_file.h"
#include "error.h"
#include "heap_internal.h"
#include "progress.h"
#include "target/target_internal.h"

enum {
	SIZE_SZ = 8,
	CHUNK_HEADER = 16,
	MIN_CHUNK = 32,
	ALIGN_MASK = 15,
	PREV_INUSE = 1,
	IS_MMAPPED = 2,
	NON_MAIN_ARENA = 4,
	SIZE_BITS = 7,
	NFASTBINS = 10,
	NBINS = 128,
	TCACHE_BINS = 64,
	MAX_ARENAS = 4096,
	MAX_HEAPS_PER_ARENA = 65536,
	WINDOW_BYTES = 1 << 20,
	RELEASE_STEP = 32 << 20,   /* walked core pages dropped every 32 MiB */
	MAX_TCACHE_CANDIDATES = 1 << 16,
	WALK_BATCH = 256,
};

static const uint64_t HEAP_MAX_SIZE = 64ull << 20;

/* Offsets that moved between glibc releases. */
typedef struct glibc_layout {
	int major, minor;
	bool safe_linking;          /* 2.32+ */
	size_t tcache_count_size;   /* uint8 before 2.30, uint16 since */
	size_t heap_info_size;      /* 32, or 48 since 2.35 (pagesize field) */
	size_t ms_fastbins, ms_top, ms_bins, ms_next, ms_system_mem,
		ms_max_system_mem, ms_size;
	size_t mp_n_mmaps, mp_max_n_mmaps, mp_mmapped_mem, mp_max_mmapped_mem,
		mp_sbrk_base, mp_tcache_bins, mp_tcache_max_bytes, mp_tcache_count,
		mp_size;
} glibc_layout;

static void layout_for_version(glibc_layout *L, int major, int minor)
{
	memset(L, 0, sizeof(*L));
	L->major = major;
	L->minor = minor;
	bool at_least_2_27 = major > 2 || minor >= 27;
	L->safe_linking = major > 2 || minor >= 32;
	L->tcache_count_size = major > 2 || minor >= 30 ? 2 : 1;
	bool huge_pages = major > 2 || minor >= 35;
	L->heap_info_size = huge_pages ? 48 : 32;
	/* malloc_state: mutex, flags, [have_fastchunks since 2.27], fastbinsY[10],
	 * top, last_remainder, bins[254], binmap[4], next, next_free,
	 * attached_threads, system_mem, max_system_mem. */
	L->ms_fastbins = at_least_2_27 ? 16 : 8;
	L->ms_top = L->ms_fastbins + NFASTBINS * 8;
	L->ms_bins = L->ms_top + 16;
	L->ms_next = L->ms_bins + (NBINS * 2 - 2) * 8 + 16;
	L->ms_system_mem = L->ms_next + 24;
	L->ms_max_system_mem = L->ms_system_mem + 8;
	L->ms_size = L->ms_max_system_mem + 8;
	/* malloc_par: five tunables, [thp_pagesize, hp_pagesize, hp_flags since
	 * 2.35], n_mmaps, n_mmaps_max, max_n_mmaps, no_dyn_threshold,
	 * mmapped_mem, max_mmapped_mem, sbrk_base, tcache_bins,
	 * tcache_max_bytes, tcache_count, tcache_unsorted_limit. */
	L->mp_n_mmaps = huge_pages ? 60 : 40;
	L->mp_max_n_mmaps = L->mp_n_mmaps + 8;
	L->mp_mmapped_mem = huge_pages ? 80 : 56;
	L->mp_max_mmapped_mem = L->mp_mmapped_mem + 8;
	L->mp_sbrk_base = L->mp_mmapped_mem + 16;
	L->mp_tcache_bins = L->mp_sbrk_base + 8;
	L->mp_tcache_max_bytes = L->mp_tcache_bins + 8;
	L->mp_tcache_count = L->mp_tcache_bins + 16;
	L->mp_size = L->mp_tcache_bins + 32;
}

typedef struct walker {
	mp_target *t;
	mp_heap *h;
	const mp_heap_options *options;
	glibc_layout L;
	const mp_module *libc;
	uint64_t main_arena;
	uint64_t mp;                /* 0 when not found */
	/* Sequential reads through one window (live targets) or a view of the
	 * core (zero copy). */
	uint8_t *window;
	uint64_t window_start;
	size_t window_length;
	const uint8_t *view;
	uint64_t view_start, view_end;
	/* mmapped chunks found by the walk, for mallinfo */
	uint64_t mmapped_count, mmapped_bytes;
	/* Bytes of the segments before the current one, for progress. */
	uint64_t progress_base;
	/* Chunks in use of a tcache_perthread_struct's size, noted by the
	 * walk (index << 1 | first of its segment) so find_tcaches need not
	 * read the whole chunk table again; past MAX_TCACHE_CANDIDATES it
	 * does (tcache_overflow). */
	uint64_t tcache_chunk_size;
	size_t *tcache_candidates;
	size_t n_tcache_candidates, tcache_candidates_capacity;
	bool tcache_overflow;
} walker;

/* ------------------------------------------------------------ reading */

static bool read_word(walker *w, uint64_t address, uint64_t *value)
{
	/* Free-list walks jump around the heap: live targets answer from
	 * the segments already copied instead of one syscall per line. */
	mp_error *err = heap_read(w->h, w->t, address, value, sizeof(*value));
	if (err) {
		mp_error_free(err);
		return false;
	}
	return true;
}

static void set_view(walker *w, uint64_t start, uint64_t end)
{
	w->view = mp_target_view(w->t, start, end - start);
	w->view_start = start;
	w->view_end = w->view ? end : start;
	w->window_length = 0;
}

/* Targets without zero-copy views (live processes) have a segment read
 * whole, in large runs, once: the walk reads its headers from the copy and
 * the copy stays with the region for leak scanning.  Pages that cannot be
 * read are zeros and a problem. */
static uint8_t *copy_segment(walker *w, uint64_t start, uint64_t end, const char *where)
{
	uint64_t length = end - start;
	uint8_t *copy = malloc(length ? length : 1);
	if (!copy)
		return NULL;
	/* Faulting the copy in 4 KiB at a time inside process_vm_readv was
	 * the largest cost of `memprof run` (issue 18). */
	heap_advise_huge(copy, length);
	for (uint64_t at = 0; at < length;) {
		size_t run = length - at < (64u << 20) ? (size_t)(length - at) : (64u << 20);
		mp_error *err = mp_target_read(w->t, start + at, copy + at, run);
		if (err) {
			mp_error_free(err);
			run = 4096 - (size_t)((start + at) % 4096);
			if (run > length - at)
				run = (size_t)(length - at);
			err = mp_target_read(w->t, start + at, copy + at, run);
			if (err) {
				heap_problem(w->h, start + at, where, "%s", mp_error_message(err));
				mp_error_free(err);
				memset(copy + at, 0, run);
			}
		}
		at += run;
	}
	w->view = copy;
	w->view_start = start;
	w->view_end = end;
	w->window_length = 0;
	return copy;
}

static bool read_header_slow(walker *w, uint64_t address, uint64_t header[2]);

/* 16 bytes at address (a chunk header) through the view or the window:
 * the view is the walk's common case, kept inline. */
static inline bool read_header(walker *w, uint64_t address, uint64_t header[2])
{
	if (w->view && address >= w->view_start && address + 16 <= w->view_end) {
		memcpy(header, w->view + (address - w->view_start), 16);
		return true;
	}
	return read_header_slow(w, address, header);
}

static bool read_header_slow(walker *w, uint64_t address, uint64_t header[2])
{
	if (address >= w->window_start &&
	    address + 16 <= w->window_start + w->window_length) {
		memcpy(header, w->window + (address - w->window_start), 16);
		return true;
	}
	/* Refill from address; shrink the run when its end is unreadable. */
	for (size_t length = WINDOW_BYTES; length >= 16; length /= 16) {
		size_t run = length - (size_t)(address % 16);
		mp_error *err = mp_target_read(w->t, address, w->window, run);
		if (!err) {
			w->window_start = address;
			w->window_length = run;
			memcpy(header, w->window, 16);
			return true;
		}
		mp_error_free(err);
	}
	w->window_length = 0;
	return false;
}

/* ----------------------------------------------------------- locating */

static const mp_module *find_libc(mp_target *t)
{
	const mp_module *main_module = NULL;
	for (size_t i = 0; i < mp_target_module_count(t); i++) {
		const mp_module *m = mp_target_module(t, i);
		const char *slash = strrchr(m->name, '/');
		const char *base = slash ? slash + 1 : m->name;
		if (strncmp(base, "libc.so", 7) == 0 || strncmp(base, "libc-2.", 7) == 0)
			return m;
		if (m->is_main)
			main_module = m;
	}
	/* A static program carries malloc itself. */
	return main_module;
}

/* glibc's version from the banner in libc's read-only data, on disk or,
 * without the file, in memory. */
static bool find_version(walker *w, int *major, int *minor)
{
	char version[32];
	return mp_glibc_version(w->t, w->libc, version, sizeof(version)) &&
	       sscanf(version, "%d.%d", major, minor) == 2;
}

static mp_error *locate_by_symbols(walker *w, bool *found)
{
	*found = false;
	const char *debug_file = w->libc->debug_file;
	if (!debug_file)
		return NULL;
	mp_elf *elf = NULL;
	mp_error *err = mp_elf_open(debug_file, &elf);
	if (err) {
		mp_error_free(err);
		return NULL;
	}
	uint64_t arena, mp, size;
	if (mp_elf_find_symbol(elf, "main_arena", &arena, &size) &&
	    mp_elf_find_symbol(elf, "mp_", &mp, &size)) {
		w->main_arena = w->libc->load_bias + arena;
		w->mp = w->libc->load_bias + mp;
		*found = true;
	}
	mp_elf_close(elf);
	return NULL;
}

/* libc's writable data (the file-backed RW mapping and the .bss after it),
 * copied out for the structural searches. */
typedef struct data_copy {
	uint64_t start;
	uint8_t *bytes;
	size_t length;
} data_copy;

static bool copy_libc_data(walker *w, data_copy *copy)
{
	uint64_t start = 0, end = 0;
	for (size_t i = 0; i < mp_target_mapping_count(w->t); i++) {
		const mp_mapping *m = mp_target_mapping(w->t, i);
		bool in_module = m->start >= w->libc->start && m->start < w->libc->end;
		bool bss_after = end && m->start == end && !m->path[0];
		if (!(m->perms & MP_PERM_WRITE) || !(in_module || bss_after))
			continue;
		if (!start)
			start = m->start;
		if (end && m->start != end)
			continue;   /* keep one contiguous span */
		end = m->end;
	}
	if (!start || end - start > (256u << 20))
		return false;
	copy->start = start;
	copy->length = end - start;
	copy->bytes = malloc(copy->length);
	if (!copy->bytes)
		return false;
	mp_error *err = mp_target_read(w->t, start, copy->bytes, copy->length);
	if (err) {
		mp_error_free(err);
		free(copy->bytes);
		return false;
	}
	return true;
}

static uint64_t copy_word(const data_copy *copy, uint64_t address)
{
	uint64_t value = 0;
	if (address >= copy->start && address + 8 <= copy->start + copy->length)
		memcpy(&value, copy->bytes + (address - copy->start), 8);
	return value;
}

static bool readable(walker *w, uint64_t address)
{
	const mp_mapping *m = mp_target_find_mapping(w->t, address);
	return m && (m->perms & MP_PERM_READ) && m->contents != MP_CONTENTS_NONE;
}

/* How well a malloc_state at base fits: -1 when impossible, else the
 * number of empty (self-referencing) bins. */
static int arena_score(walker *w, const data_copy *copy, uint64_t base)
{
	const glibc_layout *L = &w->L;
	if (base < copy->start || base + L->ms_size > copy->start + copy->length)
		return -1;
	uint64_t top = copy_word(copy, base + L->ms_top);
	uint64_t next = copy_word(copy, base + L->ms_next);
	if (!top || top % 16 || !next || !readable(w, top))
		return -1;
	int empty = 0;
	for (size_t i = 1; i < NBINS; i++) {
		uint64_t slot = base + L->ms_bins + (i - 1) * 16;
		uint64_t bin = slot - 16;
		uint64_t fd = copy_word(copy, slot), bk = copy_word(copy, slot + 8);
		if (fd == bin && bk == bin)
			empty++;
		else if (!fd || !bk || fd % 16 || bk % 16 || !readable(w, fd) || !readable(w, bk))
			return -1;
	}
	return empty;
}

static bool locate_arena_by_shape(walker *w, const data_copy *copy)
{
	int best = -1;
	uint64_t best_base = 0;
	for (size_t at = 0; at + 16 <= copy->length; at += 8) {
		uint64_t address = copy->start + at;
		if (copy_word(copy, address) != address - 16 ||
		    copy_word(copy, address + 8) != address - 16)
			continue;
		/* An empty bin: try it as each of the 127 bins. */
		for (size_t i = 1; i < NBINS; i++) {
			uint64_t base = address - (i - 1) * 16 - w->L.ms_bins;
			if (base % 8 || base <= best_base)
				continue;
			int score = arena_score(w, copy, base);
			if (score > best) {
				best = score;
				best_base = base;
			}
		}
	}
	if (best < 16)
		return false;
	w->main_arena = best_base;
	return true;
}

static bool locate_mp_by_shape(walker *w, const data_copy *copy,
			       uint64_t main_heap_start)
{
	const glibc_layout *L = &w->L;
	uint64_t found = 0;
	int matches = 0;
	for (size_t at = 0; at + L->mp_size <= copy->length; at += 8) {
		uint64_t base = copy->start + at;
		uint64_t sbrk_base = copy_word(copy, base + L->mp_sbrk_base);
		uint64_t bins = copy_word(copy, base + L->mp_tcache_bins);
		uint64_t max_bytes = copy_word(copy, base + L->mp_tcache_max_bytes);
		uint64_t count = copy_word(copy, base + L->mp_tcache_count);
		uint64_t threshold = copy_word(copy, base + 16);
		if (!main_heap_start || sbrk_base != main_heap_start)
			continue;
		if (bins == 0 || bins > 4096 || max_bytes > (1u << 20) || count > 65535 ||
		    threshold > (1ull << 32))
			continue;
		found = base;
		matches++;
	}
	if (matches != 1)
		return false;
	w->mp = found;
	return true;
}

/* ------------------------------------------------------------ walking */

static bool chunk_size_fits(uint64_t size, uint64_t at, uint64_t end)
{
	uint64_t csize = size & ~(uint64_t)SIZE_BITS;
	return csize >= MIN_CHUNK && (csize & ALIGN_MASK) == 0 && csize <= end - at;
}

/* After corruption at bad: the next address where two consecutive chunk
 * headers fit (or the top chunk starts). */
static uint64_t resynchronise(walker *w, uint64_t bad, uint64_t end, uint64_t top)
{
	for (uint64_t q = bad + 16; q + 16 <= end; q += 16) {
		if (q == top)
			return q;
		uint64_t header[2];
		if (!read_header(w, q, header))
			return end;
		if (!chunk_size_fits(header[1], q, end))
			continue;
		uint64_t next = q + (header[1] & ~(uint64_t)SIZE_BITS);
		if (next == end || next == top)
			return q;
		uint64_t next_header[2];
		if (next + 16 <= end && read_header(w, next, next_header) &&
		    chunk_size_fits(next_header[1], next, end))
			return q;
	}
	return end;
}

/* Closes the region; a live copy goes with it (or is dropped with an
 * empty region). */
static mp_error *end_region_with_copy(walker *w, uint64_t end, uint8_t *copy)
{
	size_t count = w->h->n_regions;
	mp_error *err = heap_end_region(w->h, end);
	if (!err && copy && w->h->n_regions == count) {
		/* The region starts where the copy does: at the first chunk. */
		w->h->regions[count - 1].copy = copy;
		return NULL;
	}
	free(copy);
	return err;
}

/* Notes chunk index, in use and of a tcache_perthread_struct's size, for
 * find_tcaches; region_first is the index of its segment's first chunk. */
static void note_tcache_candidate(walker *w, size_t index, size_t region_first)
{
	if (w->tcache_overflow)
		return;
	if (w->n_tcache_candidates == MAX_TCACHE_CANDIDATES ||
	    !MP_ARRAY_RESERVE(w->tcache_candidates, w->tcache_candidates_capacity,
			      w->n_tcache_candidates + 1)) {
		w->tcache_overflow = true;
		return;
	}
	w->tcache_candidates[w->n_tcache_candidates++] = index << 1 | (index == region_first);
}

/* The walk's common step, in a tight loop over a view of the segment
 * [first, end): from p, every chunk whose size fits, that is not the top,
 * whose next chunk's header lies in the segment and says the same size
 * if the chunk is free, and that is not a thread cache's size in use, up
 * to a full batch or release_at.  Returns the address of the first chunk
 * it did not take: walk_segment's general step decides about that one
 * (and reports what is wrong with it). */
static inline uint64_t walk_plain_chunks(const uint8_t *view, uint64_t first, uint64_t end,
					 uint64_t top, uint64_t tcache_size, uint64_t release_at,
					 uint64_t p, heap_chunk *batch, size_t *n_batch)
{
	size_t n = *n_batch;
	while (n < WALK_BATCH && p < release_at && p != top && p + 32 <= end) {
		uint64_t size_field, next_words[2];
		memcpy(&size_field, view + (p - first) + 8, 8);
		uint64_t csize = size_field & ~(uint64_t)SIZE_BITS;
		if (csize < MIN_CHUNK || (csize & ALIGN_MASK) || csize > end - p - 16)
			break;
		uint64_t next = p + csize;
		memcpy(next_words, view + (next - first), 16);
		enum mp_chunk_state state = MP_CHUNK_IN_USE;
		if (!(next_words[1] & PREV_INUSE)) {
			if (next_words[0] != csize)
				break;
			state = MP_CHUNK_FREE;
		} else if (csize == tcache_size) {
			break;
		}
		batch[n].address = p;
		batch[n].size_state = csize << HEAP_STATE_BITS | (uint64_t)state;
		n++;
		p = next;
	}
	*n_batch = n;
	return p;
}

/* Walks the chunks of one heap segment [first, end) whose top chunk (if
 * the segment holds it) is at top. */
static mp_error *walk_segment(walker *w, uint64_t first, uint64_t end,
			      uint64_t top, size_t arena, const char *where)
{
	mp_error *err = heap_begin_segment(w->h, first, end, (int)arena);
	if (err)
		return err;
	set_view(w, first, end);
	uint8_t *copy = NULL;
	if (!w->view && !(copy = copy_segment(w, first, end, where)))
		return mp_error_nomem();
	uint64_t p = first;
	uint64_t released = first;
	/* The walk's hot loop keeps what it reads per chunk in locals: the
	 * calls it makes (heap_add_chunks, heap_problem) could otherwise
	 * change the walker as far as the compiler knows, and it reloaded
	 * them every chunk. */
	const uint8_t *view = w->view;
	/* The view (or copy) holds the whole segment unless it is empty. */
	bool whole_view = view && w->view_start <= first && w->view_end >= end;
	uint64_t release_at = !copy && view && !w->options->keep_pages ? first + RELEASE_STEP
									: UINT64_MAX;
	uint64_t tcache_size = w->tcache_chunk_size;
	size_t region_first = w->h->n_chunks;
	/* Chunks go to the table WALK_BATCH at a time (heap_add_chunks),
	 * not with a call each; flushed before any other chunk is added. */
	heap_chunk batch[WALK_BATCH];
	size_t n_batch = 0;
	size_t steps = 0;
	/* The header of the chunk at p when the step before read it already
	 * (as the next chunk's). */
	uint64_t header[2];
	bool have_header = false;
	size_t next_tick = 0x10000;
	while (p + 16 <= end) {
		if (steps >= next_tick) {
			next_tick += 0x10000;
			mp_progress_update(w->progress_base + (p - first));
			if (next_tick % (1u << 20) == 0 && w->options->interrupted &&
			    w->options->interrupted(w->options->context)) {
				err = mp_error_new(MP_ERR_INTERRUPTED,
						   "heap walk interrupted at %#llx",
						   (unsigned long long)p);
				break;
			}
		}
		if (p >= release_at) {
			mp_target_unview(w->t, released, p - released);
			released = p;
			release_at = p + RELEASE_STEP;
		}
		if (whole_view) {
			size_t taken = n_batch;
			p = walk_plain_chunks(view, first, end, top, tcache_size, release_at, p, batch,
					      &n_batch);
			taken = n_batch - taken;
			if (n_batch == WALK_BATCH) {
				err = heap_add_chunks(w->h, batch, n_batch);
				n_batch = 0;
				if (err)
					break;
			}
			if (taken) {
				steps += taken;
				have_header = false;
				continue;
			}
		}
		steps++;
		if (!have_header && !read_header(w, p, header)) {
			heap_problem(w->h, p, where,
				     "memory from %#llx to %#llx is not readable: chunks there are missing",
				     (unsigned long long)p, (unsigned long long)end);
			break;
		}
		uint64_t csize = header[1] & ~(uint64_t)SIZE_BITS;
		if (p == top) {
			uint64_t top_size = csize <= end - p ? csize : end - p;
			err = heap_add_chunks(w->h, batch, n_batch);
			n_batch = 0;
			if (!err)
				err = heap_add_chunk(w->h, p, top_size, MP_CHUNK_TOP);
			break;
		}
		/* A fencepost (a 16-byte header then a 0 one) closes a segment
		 * that stopped growing when the arena moved to a new one. */
		if (csize == CHUNK_HEADER) {
			uint64_t next[2];
			if (p + 32 <= end && read_header(w, p + 16, next) &&
			    (next[1] & ~(uint64_t)SIZE_BITS) == 0)
				break;
		}
		if (!chunk_size_fits(header[1], p, end)) {
			heap_problem(w->h, p, where,
				     "chunk at %#llx has impossible size field %#llx",
				     (unsigned long long)p, (unsigned long long)header[1]);
			uint64_t resume = resynchronise(w, p, end, top);
			err = heap_add_chunks(w->h, batch, n_batch);
			n_batch = 0;
			if (!err)
				err = heap_add_chunk(w->h, p, resume - p, MP_CHUNK_CORRUPT);
			if (err)
				break;
			p = resume;
			have_header = false;
			continue;
		}
		uint64_t next = p + csize;
		enum mp_chunk_state state = MP_CHUNK_IN_USE;
		uint64_t next_header[2];
		if (next + 16 > end) {
			have_header = false;
		} else if (whole_view) {
			memcpy(next_header, view + (next - first), 16);
			have_header = true;
		} else {
			have_header = read_header(w, next, next_header);
		}
		if (have_header) {
			if (!(next_header[1] & PREV_INUSE)) {
				state = MP_CHUNK_FREE;
				if (next_header[0] != csize)
					heap_problem(w->h, next, where,
						     "free chunk at %#llx has size %#llx but the next chunk's prev_size says %#llx",
						     (unsigned long long)p, (unsigned long long)csize,
						     (unsigned long long)next_header[0]);
			}
		}
		if (csize == tcache_size && state == MP_CHUNK_IN_USE)
			note_tcache_candidate(w, w->h->n_chunks + n_batch, region_first);
		batch[n_batch].address = p;
		batch[n_batch].size_state = csize << HEAP_STATE_BITS | (uint64_t)state;
		if (++n_batch == WALK_BATCH) {
			err = heap_add_chunks(w->h, batch, n_batch);
			n_batch = 0;
			if (err)
				break;
		}
		p = next;
		if (have_header)
			memcpy(header, next_header, sizeof(header));
	}
	if (!err)
		err = heap_add_chunks(w->h, batch, n_batch);
	if (err) {
		free(copy);
		return err;
	}
	if (!copy && w->view && !w->options->keep_pages)
		mp_target_unview(w->t, released, p - released);
	w->view = NULL;
	return end_region_with_copy(w, end, copy);
}

/* Whether the 16 bytes at q (16-aligned) can head a chunk that malloc
 * mmapped on its own, inside the mapped range [start, end).  sysmalloc
 * maps whole pages and puts the chunk at their start; memalign may move
 * it up, recording the distance in prev_size.  So: IS_MMAPPED set and the
 * two arena bits clear, the mmap start (q - prev_size) page-aligned and
 * inside the range, the chunk's end page-aligned and inside the range. */
static bool mmapped_header_fits(uint64_t q, const uint64_t header[2], uint64_t start,
				uint64_t end)
{
	uint64_t lead = header[0];
	uint64_t csize = header[1] & ~(uint64_t)SIZE_BITS;
	return (header[1] & IS_MMAPPED) && !(header[1] & (PREV_INUSE | NON_MAIN_ARENA)) &&
	       lead % 16 == 0 && lead <= q - start && (q - lead) % 4096 == 0 &&
	       csize >= MIN_CHUNK && csize % 16 == 0 && csize <= end - q &&
	       (q + csize) % 4096 == 0;
}

/* memalign serves an mmapped chunk by moving it up inside the mapping
 * sysmalloc made: the new header at q + d says prev_size + d and size - d,
 * and the old one at q stays in memory.  Returns d, or 0 when the chunk
 * at q was not moved.  Both words must match exactly, so user data cannot
 * pass for the moved header.  The user pointer is the first multiple of
 * the alignment A past q + 16 and q is page-aligned, so d is A - 16 for
 * A up to a page, and a page multiple less 16 beyond: every granule of
 * the first page is tried, then one word per page. */
static uint64_t memaligned_offset(walker *w, uint64_t q, const uint64_t header[2])
{
	uint64_t csize = header[1] & ~(uint64_t)SIZE_BITS;
	for (uint64_t d = 16; d + MIN_CHUNK <= csize; d += d < 4080 ? 16 : 4096) {
		uint64_t moved[2];
		if (!read_header(w, q + d, moved))
			return 0;
		if (moved[0] == header[0] + d && moved[1] == ((csize - d) | IS_MMAPPED))
			return d;
	}
	return 0;
}

/* Closes the run of mmapped chunks [run_start, run_end) as a region; live
 * targets get the run's bytes copied for the analyses. */
static mp_error *close_mmapped_run(walker *w, uint64_t run_start, uint64_t run_end)
{
	uint8_t *copy = NULL;
	if (!w->view) {
		/* copy_segment makes the copy the walker's view: the search
		 * goes on through the window. */
		copy = copy_segment(w, run_start, run_end, "mmapped chunk search");
		w->view = NULL;
		w->view_start = w->view_end = 0;
		if (!copy)
			return mp_error_nomem();
	}
	return end_region_with_copy(w, run_end, copy);
}

/* Chunks mmapped on their own, anywhere in the anonymous range [start,
 * end): the kernel merges adjacent anonymous mappings, so chunks sit
 * beside each other, beside a thread's TLS or the program's own mmaps, at
 * any page of a mapping.  Every page start is tried (a chunk's interior is
 * skipped once found, so its data is never taken for headers), and each
 * run of back-to-back chunks becomes one region. */
static mp_error *walk_mmapped(walker *w, uint64_t start, uint64_t end)
{
	set_view(w, start, end);
	bool in_run = false;
	uint64_t run_start = 0, run_end = 0, last_end = start;
	uint64_t p = start;
	size_t steps = 0;
	mp_error *err = NULL;
	while (!err && p + 16 <= end) {
		if ((++steps & 0xffff) == 0)
			mp_progress_update(w->progress_base + (p - start));
		if (steps % (1u << 20) == 0 && w->options->interrupted &&
		    w->options->interrupted(w->options->context)) {
			err = mp_error_new(MP_ERR_INTERRUPTED, "mmapped chunk search interrupted at %#llx",
					   (unsigned long long)p);
			break;
		}
		/* The mmap a chunk starts with lies past the last chunk found. */
		uint64_t floor = in_run ? run_end : last_end;
		uint64_t header[2] = {0, 0};
		uint64_t q = p;
		bool found = read_header(w, p, header) && mmapped_header_fits(p, header, floor, end);
		if (!found) {
			if (in_run) {
				err = close_mmapped_run(w, run_start, run_end);
				in_run = false;
			}
			p = (p | 4095) + 1;
			continue;
		}
		uint64_t csize = header[1] & ~(uint64_t)SIZE_BITS;
		uint64_t moved = memaligned_offset(w, q, header);
		if (moved) {
			q += moved;
			header[0] += moved;
			csize -= moved;
		}
		if (in_run && q - header[0] != run_end) {
			err = close_mmapped_run(w, run_start, run_end);
			in_run = false;
			if (err)
				break;
		}
		if (!in_run) {
			run_start = q - header[0];
			err = heap_begin_region(w->h, run_start, -1);
			if (err)
				break;
			in_run = true;
		}
		err = heap_add_chunk(w->h, q, csize, MP_CHUNK_IN_USE_MMAPPED);
		if (err)
			break;
		w->mmapped_count++;
		w->mmapped_bytes += csize + header[0];
		run_end = last_end = q + csize;
		p = run_end;
	}
	if (!err && in_run)
		err = close_mmapped_run(w, run_start, run_end);
	if (w->view && !w->options->keep_pages)
		mp_target_unview(w->t, start, end - start);
	w->view = NULL;
	return err;
}

typedef struct segment {
	uint64_t start, end, first, top;
	bool mmap_candidate;        /* look for mmapped chunks in [start, end) */
	size_t arena;
	bool is_main;
} segment;

static int compare_segments(const void *a, const void *b)
{
	const segment *x = a, *y = b;
	return x->start < y->start ? -1 : x->start > y->start;
}

typedef struct segment_list {
	segment *items;
	size_t count, capacity;
} segment_list;

static mp_error *add_segment(segment_list *list, const segment *s)
{
	if (list->count == list->capacity) {
		size_t grown = list->capacity ? list->capacity * 2 : 16;
		segment *items = realloc(list->items, grown * sizeof(*items));
		if (!items)
			return mp_error_nomem();
		list->items = items;
		list->capacity = grown;
	}
	list->items[list->count++] = *s;
	return NULL;
}

/* The mappings around address with no gap between them: [*low, *high). */
static bool mapped_run(const mp_target *t, uint64_t address, uint64_t *low,
		       uint64_t *high)
{
	const mp_mapping *m = mp_target_find_mapping(t, address);
	if (!m)
		return false;
	size_t first = (size_t)(m - t->mappings);
	*low = m->start;
	*high = m->end;
	while (first > 0 && t->mappings[first - 1].end >= *low)
		*low = t->mappings[--first].start;
	for (size_t i = first + 1; i < t->n_mappings && t->mappings[i].start <= *high; i++)
		if (t->mappings[i].end > *high)
			*high = t->mappings[i].end;
	return true;
}

/* The main arena's heap runs from sbrk_base (or the start of the mapping
 * holding its top chunk) to the end of the top chunk.  Both ends come from
 * the target's memory, so they are held to the mapped memory around the
 * top chunk: a corrupt top size or sbrk_base must not make a walk of the
 * whole address space (nor, for targets read through copies, one
 * allocation of that size). */
static mp_error *main_heap_segment(walker *w, uint64_t top, uint64_t top_size,
				   segment_list *list, uint64_t *heap_start)
{
	*heap_start = 0;
	uint64_t run_start, run_end;
	if (!mapped_run(w->t, top, &run_start, &run_end)) {
		heap_problem(w->h, top, "main heap",
			     "the top chunk at %#llx is in no mapping: the main heap is not walked",
			     (unsigned long long)top);
		return NULL;
	}
	if (top_size > run_end - top) {
		heap_problem(w->h, top, "main heap",
			     "the top chunk at %#llx claims %#llx bytes, past the end of its memory at %#llx",
			     (unsigned long long)top, (unsigned long long)top_size,
			     (unsigned long long)run_end);
		top_size = run_end - top;
	}
	const mp_mapping *top_mapping = mp_target_find_mapping(w->t, top);
	uint64_t start = 0;
	if (w->mp)
		read_word(w, w->mp + w->L.mp_sbrk_base, &start);
	if (!start)
		start = top_mapping->start;
	if (top < start || top - start > (1ull << 44))
		return NULL;
	if (start < run_start) {
		heap_problem(w->h, start, "main heap",
			     "sbrk_base %#llx is not in the memory around the top chunk (%#llx-%#llx): the walk starts at %#llx",
			     (unsigned long long)start, (unsigned long long)run_start,
			     (unsigned long long)run_end, (unsigned long long)top_mapping->start);
		start = top_mapping->start;
	}
	*heap_start = start;
	segment s = {0};
	s.start = start;
	s.first = (start + ALIGN_MASK) & ~(uint64_t)ALIGN_MASK;
	s.end = top + top_size;
	s.top = top;
	s.is_main = true;
	return add_segment(list, &s);
}

static mp_error *collect_arenas(walker *w, segment_list *list,
				uint64_t *main_heap_start)
{
	const glibc_layout *L = &w->L;
	uint64_t arena = w->main_arena;
	*main_heap_start = 0;
	for (size_t n = 0; n < MAX_ARENAS; n++) {
		uint64_t top = 0, top_size = 0, system_mem = 0, max_system_mem = 0, next = 0;
		if (!read_word(w, arena + L->ms_top, &top) ||
		    !read_word(w, arena + L->ms_system_mem, &system_mem) ||
		    !read_word(w, arena + L->ms_max_system_mem, &max_system_mem) ||
		    !read_word(w, arena + L->ms_next, &next)) {
			heap_problem(w->h, arena, "arena list",
				     "arena at %#llx is not readable", (unsigned long long)arena);
			break;
		}
		if (top && !read_word(w, top + 8, &top_size)) {
			heap_problem(w->h, top, "arena list",
				     "top chunk of arena %#llx is not readable", (unsigned long long)arena);
			top = 0;
		}
		top_size &= ~(uint64_t)SIZE_BITS;
		heap_arena info = {0};
		info.address = arena;
		info.is_main = arena == w->main_arena;
		info.system_mem = system_mem;
		info.max_system_mem = max_system_mem;
		info.top_address = top;
		info.top_size = top_size;
		size_t index = w->h->n_arenas;
		mp_error *err = NULL;
		if (info.is_main && top && system_mem) {
			err = main_heap_segment(w, top, top_size, list, main_heap_start);
		} else if (!info.is_main && top) {
			/* Segments from the one holding top back through prev. */
			uint64_t heap = top & ~(HEAP_MAX_SIZE - 1);
			for (size_t k = 0; heap && k < MAX_HEAPS_PER_ARENA && !err; k++) {
				uint64_t owner = 0, prev = 0, size = 0;
				if (!read_word(w, heap, &owner) || !read_word(w, heap + 8, &prev) ||
				    !read_word(w, heap + 16, &size) || owner != arena ||
				    size > HEAP_MAX_SIZE) {
					heap_problem(w->h, heap, "heap segment list",
						     "heap_info at %#llx does not belong to arena %#llx",
						     (unsigned long long)heap, (unsigned long long)arena);
					break;
				}
				segment s = {0};
				s.start = heap;
				s.end = heap + size;
				s.top = top;
				s.arena = index;
				bool holds_arena = arena >= heap && arena < heap + size;
				uint64_t first = holds_arena ? arena + L->ms_size : heap + L->heap_info_size;
				s.first = (first + ALIGN_MASK) & ~(uint64_t)ALIGN_MASK;
				err = add_segment(list, &s);
				info.n_heaps++;
				heap = prev;
			}
		}
		if (!err)
			err = heap_add_arena(w->h, &info);
		if (err)
			return err;
		if (!next || next == w->main_arena)
			break;
		arena = next;
	}
	return NULL;
}


/* Every anonymous, readable and writable range outside the arenas' heap
 * segments.  A segment's mapping may have merged with a neighbour, so
 * the mapping is cut around the segments rather than dropped. */
static mp_error *collect_mmap_candidates(walker *w, segment_list *list)
{
	size_t heap_segments = list->count;
	for (size_t i = 0; i < mp_target_mapping_count(w->t); i++) {
		const mp_mapping *m = mp_target_mapping(w->t, i);
		if (m->path[0] == '/' || (m->perms & (MP_PERM_READ | MP_PERM_WRITE)) !=
					     (MP_PERM_READ | MP_PERM_WRITE) ||
		    m->contents == MP_CONTENTS_NONE || (m->perms & MP_PERM_UNKNOWN))
			continue;
		uint64_t from = m->start;
		while (from < m->end) {
			/* The piece from `from` up to the nearest segment. */
			uint64_t to = m->end, skip_to = m->end;
			for (size_t k = 0; k < heap_segments; k++) {
				const segment *h = &list->items[k];
				if (h->end <= from || h->start >= m->end)
					continue;
				if (h->start <= from) {
					to = from;
					skip_to = h->end;
					break;
				}
				if (h->start < to) {
					to = h->start;
					skip_to = h->end;
				}
			}
			if (to > from) {
				segment s = {0};
				s.start = from;
				s.end = to;
				s.mmap_candidate = true;
				mp_error *err = add_segment(list, &s);
				if (err)
					return err;
			}
			from = skip_to > to ? skip_to : to;
			if (to == m->end)
				break;
		}
	}
	return NULL;
}

/* ------------------------------------------------------- free lists */

static uint64_t reveal(const walker *w, uint64_t slot_address, uint64_t stored)
{
	return w->L.safe_linking ? (slot_address >> 12) ^ stored : stored;
}

/* Marks the chunks of one fastbin; returns their count and bytes. */
static void walk_fastbin(walker *w, size_t arena, size_t bin, uint64_t first,
			 uint64_t *count, uint64_t *bytes)
{
	char where[96];
	snprintf(where, sizeof(where), "fastbin %zu of arena %#llx", bin,
		 (unsigned long long)w->h->arenas[arena].address);
	uint64_t p = first;
	for (size_t steps = 0; p; steps++) {
		ptrdiff_t i = heap_chunk_at(w->h, p);
		if (i < 0) {
			heap_problem(w->h, p, where, "entry %zu (%#llx) is not a chunk",
				     steps, (unsigned long long)p);
			return;
		}
		heap_chunk *c = &w->h->chunks[i];
		if (heap_chunk_state(c) != MP_CHUNK_IN_USE) {
			heap_problem(w->h, p, where,
				     heap_chunk_state(c) == MP_CHUNK_FASTBIN
					     ? "entry %zu (%#llx) was already seen: the list loops"
					     : "entry %zu (%#llx) is not a cached chunk",
				     steps, (unsigned long long)p);
			return;
		}
		heap_chunk_set_state(c, MP_CHUNK_FASTBIN);
		(*count)++;
		*bytes += heap_chunk_size(c);
		uint64_t stored;
		if (!read_word(w, p + 16, &stored)) {
			heap_problem(w->h, p, where, "next pointer of %#llx is not readable",
				     (unsigned long long)p);
			return;
		}
		p = reveal(w, p + 16, stored);
	}
}

/* A tcache_perthread_struct: counts agree with list heads, and every head
 * is the user pointer of a chunk of that bin's size.  An all-empty one is
 * accepted only as the first chunk of a heap segment, where glibc puts it,
 * so a zeroed user buffer of the same size is not taken for one. */
static bool is_tcache(walker *w, const uint8_t *bytes, bool first_in_segment)
{
	size_t counts_size = TCACHE_BINS * w->L.tcache_count_size;
	bool any = false;
	for (size_t i = 0; i < TCACHE_BINS; i++) {
		uint64_t count = 0, head;
		memcpy(&count, bytes + i * w->L.tcache_count_size, w->L.tcache_count_size);
		memcpy(&head, bytes + counts_size + i * 8, 8);
		if ((count == 0) != (head == 0))
			return false;
		if (!head)
			continue;
		ptrdiff_t c = heap_chunk_at(w->h, head - 16);
		if (c < 0 || heap_chunk_size(&w->h->chunks[c]) != (i + 2) * 16)
			return false;
		any = true;
	}
	return any || first_in_segment;
}

static void walk_tcache(walker *w, uint64_t tcache, const uint8_t *bytes)
{
	size_t counts_size = TCACHE_BINS * w->L.tcache_count_size;
	char where[96];
	for (size_t bin = 0; bin < TCACHE_BINS; bin++) {
		uint64_t count = 0, entry;
		memcpy(&count, bytes + bin * w->L.tcache_count_size, w->L.tcache_count_size);
		memcpy(&entry, bytes + counts_size + bin * 8, 8);
		snprintf(where, sizeof(where), "tcache bin %zu of the thread cache at %#llx",
			 bin, (unsigned long long)tcache);
		size_t seen = 0;
		while (entry) {
			ptrdiff_t i = heap_chunk_at(w->h, entry - 16);
			if (i < 0) {
				heap_problem(w->h, entry, where, "entry %zu (%#llx) is not a chunk",
					     seen, (unsigned long long)entry);
				break;
			}
			heap_chunk *c = &w->h->chunks[i];
			if (heap_chunk_state(c) != MP_CHUNK_IN_USE) {
				heap_problem(w->h, entry, where,
					     heap_chunk_state(c) == MP_CHUNK_TCACHE
						     ? "entry %zu (%#llx) was already seen: the list loops"
						     : "entry %zu (%#llx) is not a cached chunk",
					     seen, (unsigned long long)entry);
				break;
			}
			heap_chunk_set_state(c, MP_CHUNK_TCACHE);
			seen++;
			uint64_t stored;
			if (!read_word(w, entry, &stored)) {
				heap_problem(w->h, entry, where, "next pointer is not readable");
				break;
			}
			entry = reveal(w, entry, stored);
			if (seen > count) {
				heap_problem(w->h, entry, where,
					     "more entries than its count of %llu", (unsigned long long)count);
				break;
			}
		}
		if (seen < count && !w->h->partial)
			heap_problem(w->h, tcache, where, "count says %llu entries, the list has %zu",
				     (unsigned long long)count, seen);
	}
}

/* The size of a tcache_perthread_struct's chunk under layout L. */
static uint64_t tcache_chunk_size(const glibc_layout *L)
{
	size_t struct_size = TCACHE_BINS * (L->tcache_count_size + 8);
	return (struct_size + SIZE_SZ + ALIGN_MASK) & ~(uint64_t)ALIGN_MASK;
}

/* Checks chunk index (first: the first of its segment) as a thread's
 * tcache and walks its lists if it is one. */
static void try_tcache(walker *w, size_t index, bool first, uint8_t *bytes, size_t struct_size)
{
	heap_chunk *c = &w->h->chunks[index];
	/* An earlier tcache's lists may have claimed it meanwhile. */
	if (heap_chunk_state(c) != MP_CHUNK_IN_USE || heap_chunk_size(c) != w->tcache_chunk_size)
		return;
	mp_error *err = heap_read(w->h, w->t, c->address + 16, bytes, struct_size);
	if (err) {
		mp_error_free(err);
		return;
	}
	if (!is_tcache(w, bytes, first))
		return;
	heap_chunk_set_state(c, MP_CHUNK_METADATA);
	walk_tcache(w, c->address + 16, bytes);
}

static mp_error *find_tcaches(walker *w)
{
	size_t struct_size = TCACHE_BINS * (w->L.tcache_count_size + 8);
	uint8_t *bytes = malloc(struct_size);
	if (!bytes)
		return mp_error_nomem();
	if (!w->tcache_overflow) {
		/* The walk noted every candidate, in table order. */
		for (size_t i = 0; i < w->n_tcache_candidates; i++)
			try_tcache(w, w->tcache_candidates[i] >> 1, w->tcache_candidates[i] & 1,
				   bytes, struct_size);
		free(bytes);
		return NULL;
	}
	for (size_t r = 0; r < w->h->n_regions; r++) {
		const heap_region *region = &w->h->regions[r];
		for (size_t k = 0; k < region->count; k++)
			try_tcache(w, region->first + k, k == 0, bytes, struct_size);
	}
	free(bytes);
	return NULL;
}

/* Regular bins: count and size of every chunk on them, as int_mallinfo
 * does, checking that each is a free chunk of the walk. */
/* Counts what an arena's bins hold, for mallinfo.  A free chunk sits in
 * one bin at most, so all the bins of all arenas together have at most as
 * many entries as the walk found chunks: *budget bounds the steps of every
 * list at once (a corrupt list per bin must not cost bins x chunks steps),
 * and a list stops at its first entry that is not a free chunk. */
static void walk_bins(walker *w, size_t arena, size_t *budget, uint64_t *count,
		      uint64_t *bytes)
{
	uint64_t base = w->h->arenas[arena].address;
	char where[96];
	for (size_t i = 1; i < NBINS; i++) {
		uint64_t bin = base + w->L.ms_bins + (i - 1) * 16 - 16;
		snprintf(where, sizeof(where), "%s bin %zu of arena %#llx",
			 i == 1 ? "unsorted" : i < 64 ? "small" : "large", i,
			 (unsigned long long)base);
		uint64_t p;
		if (!read_word(w, bin + 24, &p)) {
			heap_problem(w->h, bin, where, "bin is not readable");
			continue;
		}
		for (size_t steps = 0; p != bin; steps++) {
			if (*budget == 0) {
				heap_problem(w->h, p, where,
					     "the bins hold more entries than the heap has chunks: a list loops (after %zu entries here)",
					     steps);
				return;
			}
			(*budget)--;
			uint64_t size;
			if (!read_word(w, p + 8, &size)) {
				heap_problem(w->h, p, where, "entry %#llx is not readable",
					     (unsigned long long)p);
				break;
			}
			ptrdiff_t c = heap_chunk_at(w->h, p);
			if (c < 0 || heap_chunk_state(&w->h->chunks[c]) != MP_CHUNK_FREE) {
				heap_problem(w->h, p, where, "entry %#llx is not a free chunk of the heap walk",
					     (unsigned long long)p);
				break;
			}
			(*count)++;
			*bytes += size & ~(uint64_t)SIZE_BITS;
			if (!read_word(w, p + 24, &p)) {
				heap_problem(w->h, p, where, "back pointer not readable");
				break;
			}
		}
	}
}

static void compute_mallinfo(walker *w)
{
	heap_mallinfo *mi = &w->h->mallinfo;
	memset(mi, 0, sizeof(*mi));
	size_t bin_budget = w->h->n_chunks;
	for (size_t a = 0; a < w->h->n_arenas; a++) {
		const heap_arena *arena = &w->h->arenas[a];
		uint64_t fast_count = 0, fast_bytes = 0, bin_count = 0, bin_bytes = 0;
		for (size_t i = 0; i < NFASTBINS; i++) {
			uint64_t first;
			if (read_word(w, arena->address + w->L.ms_fastbins + i * 8, &first))
				walk_fastbin(w, a, i, first, &fast_count, &fast_bytes);
		}
		/* A program that has not called malloc yet has a main arena
		 * that malloc_init_state never set up: no top, bins of
		 * zeros, nothing to count (mallinfo2 would count its top as
		 * one empty block, as below). */
		if (arena->top_address)
			walk_bins(w, a, &bin_budget, &bin_count, &bin_bytes);
		uint64_t avail = arena->top_size + fast_bytes + bin_bytes;
		mi->smblks += fast_count;
		mi->ordblks += 1 + bin_count;
		mi->fordblks += avail;
		mi->uordblks += arena->system_mem - avail;
		mi->arena += arena->system_mem;
		mi->fsmblks += fast_bytes;
		if (arena->is_main)
			mi->keepcost = arena->top_size;
	}
	mi->hblks = w->mmapped_count;
	mi->hblkhd = w->mmapped_bytes;
	if (w->mp) {
		uint64_t words[2] = {0, 0};
		int32_t n_mmaps = 0, max_n_mmaps = 0;
		mp_error *err = mp_target_read(w->t, w->mp + w->L.mp_n_mmaps, &n_mmaps, 4);
		if (!err)
			err = mp_target_read(w->t, w->mp + w->L.mp_max_n_mmaps, &max_n_mmaps, 4);
		if (!err)
			err = mp_target_read(w->t, w->mp + w->L.mp_mmapped_mem, words, 16);
		if (!err) {
			w->h->have_peak = true;
			w->h->max_mmapped_mem = words[1];
			w->h->max_n_mmaps = (uint64_t)max_n_mmaps;
			if ((uint64_t)n_mmaps != mi->hblks || words[0] != mi->hblkhd)
				heap_problem(w->h, w->mp, "mmapped chunk search",
					     "malloc counts %d mmapped chunks of %llu bytes, the walk found %llu of %llu",
					     n_mmaps, (unsigned long long)words[0],
					     (unsigned long long)mi->hblks,
					     (unsigned long long)mi->hblkhd);
		}
		mp_error_free(err);
	}
}

/* ------------------------------------------------------------- driver */

static mp_error *locate(walker *w, const mp_heap_options *options)
{
	w->libc = find_libc(w->t);
	if (!w->libc)
		return mp_error_new(MP_ERR_NOT_FOUND,
				    "no C library in the target: memprof reads glibc malloc heaps");
	int major = 2, minor = 36;
	bool know_version = find_version(w, &major, &minor);
	if (!know_version)
		heap_problem(w->h, 0, "glibc version",
			     "glibc's version is unknown (libc file not found): assuming 2.36 layouts");
	if (major < 2 || (major == 2 && minor < 26))
		return mp_error_new(MP_ERR_UNSUPPORTED,
				    "%s is glibc %d.%d; memprof reads glibc 2.26 and later",
				    w->libc->name, major, minor);
	layout_for_version(&w->L, major, minor);
	w->h->arena_struct_size = w->L.ms_size;
	w->tcache_chunk_size = tcache_chunk_size(&w->L);
	if (asprintf(&w->h->backend, "glibc %d.%d", major, minor) < 0) {
		w->h->backend = NULL;
		return mp_error_nomem();
	}
	bool found = false;
	if (!options->no_libc_debug) {
		mp_error *err = locate_by_symbols(w, &found);
		if (err)
			return err;
	}
	if (found) {
		w->h->located_by = "libc debug symbols";
		return NULL;
	}
	data_copy copy = {0};
	if (!copy_libc_data(w, &copy) || !locate_arena_by_shape(w, &copy)) {
		free(copy.bytes);
		return mp_error_new(MP_ERR_NOT_FOUND,
				    "cannot find glibc's main_arena in %s (build id %s)%s: is this program using glibc malloc?",
				    w->libc->name, w->libc->build_id[0] ? w->libc->build_id : "unknown",
				    options->no_libc_debug ? "" : "; installing libc6-dbg lets memprof use its symbols");
	}
	w->h->located_by = "structural search";
	/* mp_ is looked for once the main heap's start is known. */
	w->mp = 0;
	free(copy.bytes);
	return NULL;
}

mp_error *mp_glibc_heap_build(mp_target *target, const mp_allocator *allocator,
			      const mp_heap_options *options, mp_heap *heap)
{
	(void)allocator;   /* the walk finds its version in libc itself */
	walker w;
	memset(&w, 0, sizeof(w));
	w.t = target;
	w.h = heap;
	w.options = options;
	w.window = malloc(WINDOW_BYTES);
	if (!w.window)
		return mp_error_nomem();
	segment_list list = {0};
	uint64_t main_heap_start = 0;
	mp_error *err = locate(&w, options);
	if (!err)
		err = collect_arenas(&w, &list, &main_heap_start);
	if (!err && !w.mp && strcmp(heap->located_by, "structural search") == 0) {
		data_copy copy = {0};
		if (copy_libc_data(&w, &copy))
			locate_mp_by_shape(&w, &copy, main_heap_start);
		free(copy.bytes);
	}
	if (!err)
		err = collect_mmap_candidates(&w, &list);
	if (!err && list.count > 1)
		qsort(list.items, list.count, sizeof(*list.items), compare_segments);
	/* Progress in bytes of address space: the chunk count is not known
	 * before the walk, the segments' extent is. */
	uint64_t walked = 0, extent = 0;
	for (size_t i = 0; !err && i < list.count; i++)
		extent += list.items[i].end - list.items[i].start;
	mp_progress_begin("heap walk", "bytes", extent);
	for (size_t i = 0; !err && i < list.count; i++) {
		const segment *s = &list.items[i];
		w.progress_base = walked + (s->mmap_candidate ? 0 : s->first - s->start);
		walked += s->end - s->start;
		if (i > 0 && s->start < list.items[i - 1].end) {
			heap_problem(heap, s->start, "heap segment list",
				     "segment at %#llx overlaps the previous one; skipped",
				     (unsigned long long)s->start);
			continue;
		}
		if (s->mmap_candidate) {
			err = walk_mmapped(&w, s->start, s->end);
		} else {
			char where[96];
			snprintf(where, sizeof(where), "%s heap walk of arena %#llx",
				 s->is_main ? "main" : "non-main",
				 (unsigned long long)heap->arenas[s->arena].address);
			err = walk_segment(&w, s->first, s->end, s->top, s->arena, where);
		}
	}
	mp_progress_end();
	heap_trim_chunks(heap);
	if (!err)
		err = find_tcaches(&w);
	if (!err)
		compute_mallinfo(&w);
	free(list.items);
	free(w.window);
	free(w.tcache_candidates);
	return err;
}

/* ------------------------------------------------------------ version */

/* glibc's "release version 2.36" banner. */
static bool glibc_banner(const char *bytes, size_t length, char *out, size_t size)
{
	static const char needle[] = "release version ";
	const char *at = memmem(bytes, length, needle, sizeof(needle) - 1);
	if (!at)
		return false;
	at += sizeof(needle) - 1;
	return heap_copy_dotted(at, bytes + length, out, size) >= 3 && strchr(out, '.');
}

bool mp_glibc_version(mp_target *t, const mp_module *m, char *out, size_t size)
{
	return heap_search_module(t, m, glibc_banner, out, size);
}
