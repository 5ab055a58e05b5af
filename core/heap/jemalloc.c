/* jemalloc 5.3 (Debian bookworm's libjemalloc2 5.3.0-1) and 5.2 (5.2.1,
 * Debian bullseye's version) as a heap backend, read from the target's
 * memory, with or without jemalloc's symbols.
 *
 * What jemalloc keeps.  Memory comes in extents (runs of 4 KiB pages), each
 * described by an edata_t.  An active extent is either a slab (regions of
 * one small size class, up to 14336 bytes, with a bitmap of free regions in
 * its edata_t) or one large block (its usable size is its size class; the
 * block starts at a random cache line of the extent's first page, the
 * extent being one page longer: "cache-oblivious").  Inactive extents are
 * dirty, muzzy or retained pages the arena keeps for reuse.  A block freed
 * by a thread usually goes first to its thread cache (tcache: per size
 * class a stack of pointers) and stays allocated from the arena's point of
 * view: jemalloc's stats.allocated counts it.
 *
 * Finding everything.  The global extent map (arena_emap_global, an rtree
 * of two levels from page address to edata_t) holds every extent that is
 * not the allocator's own metadata: walking its leaves in address order
 * gives each extent once at its first page.  The arenas (je_arenas[], up
 * to 4095 of them) give the thread caches (arena.tcache_ql, a ring of
 * tcache_slow_t, kept since stats are on) and the figures that are not in
 * the extents (each arena's base allocator: metadata mapped and resident;
 * pac_mapped).  Arena 0 leads to the emap (arena.pa_shard.emap).
 *
 * Roots.  With jemalloc's symbols (a -g build, or a debug file) je_arenas
 * is a symbol.  Debian's library is stripped and exports only the public
 * API, so without symbols je_arenas is found in the library's writable
 * data by its shape: a word pointing at a 64-byte aligned arena_t whose
 * ind is 0, whose base and pa_shard.base agree, and whose pa_shard.emap
 * points back into the library's data at an rtree whose base is the same
 * base_t; of such words (the private a0 has the same value) the one
 * followed by the most further arenas with ind equal to their index.
 *
 * Exactness.  stats.allocated is the sum over bins of regions not free in
 * their slab times the region size plus, per large size class, extents
 * allocated less freed times the size: regions and large blocks held in
 * thread caches count, and so do jemalloc's "internal" allocations from
 * arena 0 (the tcaches' pointer stacks; 5.2: explicit tcaches and each
 * thread's arenas_tdata).  So the walk's blocks in use + cached +
 * metadata (the internal ones) give stats.allocated exactly;
 * stats.active is the pages of active extents; stats.resident the base
 * allocators' resident bytes plus active and dirty pages; stats.mapped the
 * bases' mapped bytes plus each arena's pac_mapped counter (read, not
 * derived: retained memory that was unmapped is not in the extents).
 *
 * jemalloc 5.2 differs in names and places, not in kind: extent_t for
 * edata_t, a global rtree of its own (je_extents_rtree) for the emap, the
 * arena index in base_t, the bins inside tcache_t (ncached pointers below
 * each bin's avail), and stats.resident counting muzzy pages too; the
 * layout's flavor says which.  Stripped, its rtree is found as the array
 * of the library's data whose entries point to leaves that map a page to
 * an extent starting at that page.
 *
 * Offsets are those of jemalloc 5.3.0 configured as Debian does
 * (--with-lg-page=12 --with-lg-hugepage=21 --enable-prof, LG_VADDR 48 on
 * amd64), read with pahole from the DWARF of the same source built with
 * -g (scripts/allocator_source.sh fetches it; docs/allocators.md says how
 * to rebuild and check); those of 5.2.1 from upstream's tag 5.2.1 built
 * with Debian bullseye's configuration the same way.  Any other version
 * is refused.
 *
 * Corruption: an extent whose edata_t cannot be right (size, size class,
 * free count disagreeing with its bitmap, block outside its extent) is
 * named with a heap_problem and skipped; the walk goes on with the next
 * extent and the heap is partial.  Every loop has a bound from the layout
 * (leaf and root sizes, 512 regions per slab, 4095 arenas) or a count cap
 * (thread cache rings).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "array.h"
#include "elf/elf_file.h"
#include "error.h"
#include "heap_internal.h"
#include "target/target_internal.h"

/* 5.2 and 5.3 differ in more than offsets: where the extent map is (a
 * global rtree of its own, or the emap arena 0's pa_shard points to), how a
 * thread cache holds its bins, which counters an arena keeps. */
enum je_flavor { JE_5_2, JE_5_3 };

/* The layout of one jemalloc version as one build configuration has it. */
typedef struct je_layout {
	const char *version;
	enum je_flavor flavor;
	const char *rtree_symbol;        /* the extent map's global */
	unsigned lg_page;
	unsigned lg_vaddr;
	unsigned root_bits, leaf_bits;   /* rtree levels (rtree_levels[]) */
	unsigned rtree_root;             /* rtree_t.root (emap_t.rtree at 0) */
	unsigned rtree_base;             /* rtree_t.base */
	unsigned edata_alignment;        /* EDATA_ALIGNMENT: low bits of leaf entries */
	/* edata_t */
	unsigned edata_size, ed_bits, ed_addr, ed_size_esn, ed_bitmap, bitmap_words;
	unsigned bits_arena_shift, bits_arena_width, bits_slab_shift, bits_state_shift,
		 bits_state_width, bits_szind_shift, bits_szind_width, bits_nfree_shift,
		 bits_nfree_width;
	unsigned leaf_state_shift, leaf_state_width;   /* rtree leaf entry bits */
	unsigned nbins;                  /* SC_NBINS: small size classes */
	unsigned nsizes;                 /* SC_NSIZES */
	unsigned slab_maxregs;           /* SLAB_MAXREGS */
	/* arena_t */
	unsigned arena_limit;            /* MALLOCX_ARENA_LIMIT: je_arenas[] length */
	unsigned ar_tcache_ql, ar_pac_mapped, ar_nactive, ar_emap, ar_pa_base, ar_ind,
		 ar_base, ar_size;
	unsigned ar_stats_mapped;        /* 5.2: arena.stats.mapped */
	unsigned base_ind;               /* 5.2: base_t.ind (5.3: arena_t.ind) */
	bool resident_counts_muzzy;      /* 5.2's stats.resident adds muzzy pages */
	/* base_t, base_block_t */
	unsigned base_resident, base_mapped, base_allocated, base_blocks;
	unsigned block_size, block_next;
	/* tcache_slow_t, tcache_t, cache_bin_t */
	unsigned ts_next, ts_bins, ts_arena, ts_dyn_alloc, ts_tcache;
	unsigned tcache_nbins_max, cache_bin_size, cb_stack_head, cb_low_bits_empty;
	unsigned ncached_max;            /* CACHE_BIN_NCACHED_MAX */
	/* 5.2: tcache_t holds its bins (bins_small[], bins_large[]); a
	 * cache_bin_t counts ncached and points past its stack (avail). */
	unsigned tc_bins_small, tc_nbins_small, tc_bins_large, tc_nbins_large, cb_ncached,
		 cb_avail;
	/* 5.2: a thread's tcache_t is embedded in its tsd_t, after the
	 * thread's arena and arenas_tdata (bytes before the tcache_t). */
	unsigned tsd_arena_before, tsd_arenas_tdata_before;
} je_layout;

/* jemalloc 5.3.0 as Debian bookworm builds it for amd64; pahole of the -g
 * build (structure: member offset). */
static const je_layout layout_5_3 = {
	.version = "5.3.0",
	.flavor = JE_5_3,
	.rtree_symbol = "je_arena_emap_global",
	.lg_page = 12,
	.lg_vaddr = 48,
	.root_bits = 18, .leaf_bits = 18,         /* RTREE_NSB 36, height 2 */
	.rtree_root = 120,                        /* rtree_s: root */
	.rtree_base = 0,                          /* rtree_s: base */
	.edata_alignment = 128,
	.edata_size = 128,                        /* edata_s */
	.ed_bits = 0, .ed_addr = 8, .ed_size_esn = 16, .ed_bitmap = 64,
	.bitmap_words = 8,                        /* slab_data_s: bitmap[8] */
	/* EDATA_BITS_*: arena 12, slab 1, committed 1, pai 1, zeroed 1,
	 * guarded 1, state 3, szind 8, nfree 10 (SC_LG_SLAB_MAXREGS + 1). */
	.bits_arena_shift = 0, .bits_arena_width = 12,
	.bits_slab_shift = 12,
	.bits_state_shift = 17, .bits_state_width = 3,
	.bits_szind_shift = 20, .bits_szind_width = 8,
	.bits_nfree_shift = 28, .bits_nfree_width = 10,
	.leaf_state_shift = 2, .leaf_state_width = 3,  /* RTREE_LEAF_STATE_* */
	.nbins = 36, .nsizes = 232, .slab_maxregs = 512,
	.arena_limit = 4095,
	.ar_tcache_ql = 10392,                    /* arena_s: tcache_ql */
	.ar_pac_mapped = 176,                     /* stats.pa_shard_stats.pac_stats.pac_mapped */
	.ar_nactive = 10656,                      /* pa_shard.nactive */
	.ar_emap = 78912,                         /* pa_shard.emap */
	.ar_pa_base = 78920,                      /* pa_shard.base */
	.ar_ind = 78928, .ar_base = 78936,
	.ar_size = 78952,                         /* before bins[] */
	.base_allocated = 3880, .base_resident = 3888, .base_mapped = 3896,   /* base_s */
	.base_blocks = 160,                       /* base_s: blocks */
	.block_size = 0, .block_next = 8,         /* base_block_s */
	.ts_next = 0,                             /* tcache_slow_s: link.qre_next */
	.ts_bins = 32,                            /* cache_bin_array_descriptor.bins */
	.ts_arena = 40, .ts_dyn_alloc = 160, .ts_tcache = 168,
	.tcache_nbins_max = 73,                   /* tcache_s: bins[73] */
	.cache_bin_size = 24, .cb_stack_head = 0, .cb_low_bits_empty = 20,
	.ncached_max = (1 << 13) - 1,
};

/* jemalloc 5.2.1 configured as Debian bullseye's debian/rules does, built
 * with -g from upstream's tag 5.2.1 (Debian's 5.2.1-3 source package is not
 * on the mirror reachable here); pahole of that build. */
static const je_layout layout_5_2 = {
	.version = "5.2.1",
	.flavor = JE_5_2,
	.rtree_symbol = "je_extents_rtree",
	.lg_page = 12,
	.lg_vaddr = 48,
	.root_bits = 18, .leaf_bits = 18,
	.rtree_root = 112,                        /* rtree_s: root (no base) */
	.edata_alignment = 2,                     /* leaf entries: slab bit only */
	.edata_size = 128,                        /* extent_s */
	.ed_bits = 0, .ed_addr = 8, .ed_size_esn = 16, .ed_bitmap = 64,
	.bitmap_words = 8,
	/* EXTENT_BITS_*: arena 12, slab 1, committed 1, dumpable 1, zeroed 1,
	 * state 2, szind 8, nfree 10. */
	.bits_arena_shift = 0, .bits_arena_width = 12,
	.bits_slab_shift = 12,
	.bits_state_shift = 16, .bits_state_width = 2,
	.bits_szind_shift = 18, .bits_szind_width = 8,
	.bits_nfree_shift = 26, .bits_nfree_width = 10,
	.nbins = 36, .nsizes = 232, .slab_maxregs = 512,
	.arena_limit = 4095,
	.ar_tcache_ql = 10184,                    /* arena_s: tcache_ql */
	.ar_stats_mapped = 24,                    /* stats.mapped */
	.ar_nactive = 10344,                      /* nactive */
	.ar_base = 29480,
	.ar_size = 29496,
	.base_ind = 0,                            /* base_s: ind */
	.base_allocated = 2008, .base_resident = 2016, .base_mapped = 2024,
	.base_blocks = 144,
	.block_size = 0, .block_next = 8,         /* base_block_s */
	.resident_counts_muzzy = true,
	.ts_next = 880,                           /* tcache_s: link.qre_next */
	.tc_bins_small = 16, .tc_nbins_small = 36,    /* tcache_s: bins_small[36] */
	.tc_bins_large = 1000, .tc_nbins_large = 196, /* tcache_s: bins_large[196] */
	.cache_bin_size = 24, .cb_ncached = 4, .cb_avail = 16,   /* cache_bin_s */
	.ncached_max = 1 << 13,
	/* tsd_s: arena at 440, arenas_tdata at 448, tcache at 496 (the -g
	 * build's DWARF); in Debian's stripped 5.2.1-3 too, 56 bytes before
	 * every thread's tcache_t is the arena whose ring holds it. */
	.tsd_arena_before = 56, .tsd_arenas_tdata_before = 48,
};

static const je_layout *const layouts[] = { &layout_5_3, &layout_5_2 };

/* extent_state_t */
enum { STATE_ACTIVE = 0, STATE_DIRTY = 1, STATE_MUZZY = 2, STATE_RETAINED = 3 };

enum { MAX_LEAF_CANDIDATES = 1 << 14, MAX_TCACHES = 1 << 16, MAX_SIZE_CLASSES = 256, MAX_BASE_BLOCKS = 1 << 20 };

/* A block of a base allocator: jemalloc's own metadata (arena_t, edata_t,
 * rtree leaves, tcache_t of explicit caches), mapped apart from extents. */
typedef struct je_span {
	uint64_t start, end;
} je_span;

typedef struct je_cached {
	uint64_t address;
	unsigned binind;
} je_cached;

typedef struct je_arena {
	uint64_t address;
	uint64_t allocated, active_pages, dirty_pages, muzzy_pages, retained_pages;
	uint64_t extents, slabs, large, tcaches, cached_blocks, cached_bytes;
	uint64_t nactive, pac_mapped, base_resident, base_mapped, base_allocated, base;
	bool read;
} je_arena;

typedef struct je_bin {
	uint64_t in_use, free, cached, slabs;
} je_bin;

typedef struct walker {
	mp_target *t;
	mp_heap *h;
	const je_layout *L;
	const mp_module *module;
	uint64_t data_start, data_end;   /* the library's writable data */
	uint64_t arenas;                 /* &je_arenas[0] */
	je_arena *arena;                 /* [arena_limit] */
	uint64_t emap;
	uint64_t size_class[MAX_SIZE_CLASSES];
	je_cached *cached;               /* sorted by address */
	size_t n_cached, cached_capacity;
	uint64_t *metadata;              /* in internal allocations, sorted */
	size_t n_metadata, metadata_capacity;
	je_span *base_blocks;            /* sorted by start */
	size_t n_base_blocks, base_blocks_capacity, next_base_block;
	uint64_t base_block_bytes, regions_end;
	bool open;                       /* a run of extents is being listed */
	uint64_t open_end;               /* where its last extent ends */
	je_bin bins[MAX_SIZE_CLASSES];
	uint64_t allocated, in_use_blocks, in_use_bytes, cached_blocks, cached_bytes,
		 metadata_bytes, free_blocks, free_bytes, extents, large_blocks;
	const char *located_by;
} walker;

static uint64_t field(uint64_t bits, unsigned shift, unsigned width)
{
	return (bits >> shift) & ((UINT64_C(1) << width) - 1);
}

static bool read_u64(walker *w, uint64_t address, uint64_t *value)
{
	mp_error *err = mp_target_read(w->t, address, value, sizeof(*value));
	if (err) {
		mp_error_free(err);
		return false;
	}
	return true;
}

/* The size classes jemalloc computes at boot (sz_index2size_tab) for
 * LG_QUANTUM 4 and 4 classes per doubling (SC_LG_NGROUP 2): 8, then 16 to
 * 128 by 16, then for each power of two 2^k from 128 on the four classes
 * 2^k + i * 2^(k-2), i = 1..4. */
static void make_size_classes(uint64_t *classes, unsigned n)
{
	classes[0] = 8;
	for (unsigned i = 1; i < n && i <= 8; i++)
		classes[i] = 16 * (uint64_t)i;
	for (unsigned i = 9; i < n; i++) {
		unsigned j = i - 9, group = j / 4, k = j % 4 + 1;
		unsigned lg = 7 + group;
		classes[i] = lg >= 63 ? UINT64_MAX
				      : (UINT64_C(1) << lg) + (uint64_t)k * (UINT64_C(1) << (lg - 2));
	}
}

/* The usable size jemalloc gives a request (sz_s2u), for typing blocks:
 * the smallest class that holds it. */
uint64_t mp_jemalloc_usable_for_request(uint64_t size)
{
	static uint64_t classes[232];
	if (!classes[0])
		make_size_classes(classes, 232);
	if (size == 0)
		size = 1;
	for (unsigned i = 0; i < 232; i++)
		if (classes[i] >= size)
			return classes[i];
	return size;
}

/* ------------------------------------------------------------ roots */

static const mp_module *find_module(mp_target *t, const char *name)
{
	for (size_t i = 0; i < mp_target_module_count(t); i++) {
		const mp_module *m = mp_target_module(t, i);
		if (strcmp(m->name, name) == 0)
			return m;
	}
	return NULL;
}

/* The library's writable data, .data to the end of .bss, from its section
 * headers; else its writable mappings. */
static bool find_data(walker *w)
{
	const mp_module *m = w->module;
	if (m->elf) {
		const Elf64_Shdr *data = mp_elf_section(m->elf, ".data");
		const Elf64_Shdr *bss = mp_elf_section(m->elf, ".bss");
		if (data && bss && bss->sh_addr + bss->sh_size > data->sh_addr) {
			w->data_start = m->load_bias + data->sh_addr;
			w->data_end = m->load_bias + bss->sh_addr + bss->sh_size;
			return true;
		}
	}
	w->data_start = w->data_end = 0;
	for (size_t i = 0; i < mp_target_mapping_count(w->t); i++) {
		const mp_mapping *map = mp_target_mapping(w->t, i);
		if (map->start < m->start || map->start >= m->end || !(map->perms & MP_PERM_WRITE))
			continue;
		if (!w->data_start)
			w->data_start = map->start;
		w->data_end = map->end;
	}
	/* .bss past the file's last page is an anonymous mapping right after
	 * the module's range. */
	const mp_mapping *after = w->data_end ? mp_target_find_mapping(w->t, w->data_end) : NULL;
	if (after && after->start == w->data_end && !after->path[0] && (after->perms & MP_PERM_WRITE))
		w->data_end = after->end;
	return w->data_start != 0;
}

/* Whether [start, end) begins and ends in the target's mappings: a size
 * read from damaged metadata is not taken for a span of terabytes. */
static bool mapped(const walker *w, uint64_t start, uint64_t end)
{
	return end > start && mp_target_find_mapping(w->t, start) &&
	       mp_target_find_mapping(w->t, end - 1);
}

static bool in_data(const walker *w, uint64_t address)
{
	return address >= w->data_start && address < w->data_end;
}

/* Whether address holds arena index ind: the arena_t fields that tie it
 * to its base allocator and, for arena 0, to the emap. */
static bool arena_fits(walker *w, uint64_t address, unsigned ind)
{
	const je_layout *L = w->L;
	if (!address || address % 64 != 0)
		return false;
	if (L->flavor == JE_5_2) {
		/* 5.2: the index is the base allocator's; arena 0's base is
		 * the first one (b0), whose first block holds arena 0 itself. */
		uint64_t base;
		uint32_t base_ind;
		if (!read_u64(w, address + L->ar_base, &base) || !base || base % 8)
			return false;
		mp_error *err = mp_target_read(w->t, base + L->base_ind, &base_ind, sizeof(base_ind));
		if (err) {
			mp_error_free(err);
			return false;
		}
		uint64_t blocks;
		return base_ind == ind && read_u64(w, base + L->base_blocks, &blocks) && blocks;
	}
	uint64_t words[4];   /* emap, pa_shard.base, ind, base */
	mp_error *err = mp_target_read(w->t, address + L->ar_emap, words, sizeof(words));
	if (err) {
		mp_error_free(err);
		return false;
	}
	if ((uint32_t)words[2] != ind || !words[1] || words[1] != words[3])
		return false;
	if (!in_data(w, words[0]))
		return false;
	if (ind == 0) {
		uint64_t rtree_base;
		if (!read_u64(w, words[0] + L->rtree_base, &rtree_base) || rtree_base != words[3])
			return false;
	}
	return true;
}

/* How many entries of the array at address are arenas at their index. */
static unsigned arenas_score(walker *w, uint64_t address)
{
	const je_layout *L = w->L;
	uint64_t *slots = calloc(L->arena_limit, sizeof(uint64_t));
	if (!slots)
		return 0;
	mp_error *err = mp_target_read(w->t, address, slots, L->arena_limit * sizeof(uint64_t));
	unsigned score = 0;
	if (!err) {
		for (unsigned i = 0; i < L->arena_limit; i++) {
			if (!slots[i])
				continue;
			if (!arena_fits(w, slots[i], i))
				break;
			score++;
		}
	}
	mp_error_free(err);
	free(slots);
	return score;
}

static bool locate_by_symbols(walker *w)
{
	bool from_debug_file;
	if (!mp_module_symbol_address(w->module, "je_arenas", &w->arenas, &from_debug_file))
		return false;
	w->located_by = from_debug_file ? "jemalloc debug symbols" : "jemalloc symbols";
	return true;
}

/* je_arenas by its shape in the library's writable data (see the top). */
static mp_error *locate_by_shape(walker *w)
{
	size_t length = w->data_end - w->data_start;
	if (length > (64u << 20))
		return mp_error_new(MP_ERR_FORMAT, "jemalloc: writable data of %s is %zu bytes, too large to search",
				    w->module->name, length);
	uint64_t *words = malloc(length ? length : 1);
	if (!words)
		return mp_error_nomem();
	mp_error *err = mp_target_read(w->t, w->data_start, words, length);
	if (err) {
		free(words);
		return err;
	}
	uint64_t best = 0, previous = 0;
	unsigned best_score = 0;
	for (size_t i = 0; i < length / 8; i++) {
		uint64_t v = words[i];
		if (!v || v % 64 != 0 || in_data(w, v) || v == previous)
			continue;
		previous = v;
		if (!arena_fits(w, v, 0))
			continue;
		unsigned score = arenas_score(w, w->data_start + i * 8);
		if (score > best_score) {
			best_score = score;
			best = w->data_start + i * 8;
		}
		previous = 0;
	}
	free(words);
	if (!best)
		return mp_error_new(MP_ERR_FORMAT,
				    "jemalloc: no arena table found in the writable data of %s (0x%" PRIx64 "-0x%" PRIx64 ")",
				    w->module->name, w->data_start, w->data_end);
	w->arenas = best;
	w->located_by = "jemalloc arena table (structural search)";
	return NULL;
}

/* 5.2: the extent map is a global of its own (je_extents_rtree), found by
 * its symbol or, stripped, as the array of the library's data whose
 * entries point to leaves that map pages to extents starting there: a
 * word at address A pointing to a leaf whose first entry j maps to an
 * extent at e_addr with page index j is root entry e_addr >> 30, so the
 * root starts at A - 8 * (e_addr >> 30). */
static bool rtree_by_symbol(walker *w)
{
	bool from_debug_file;
	return mp_module_symbol_address(w->module, w->L->rtree_symbol, &w->emap, &from_debug_file);
}

static mp_error *locate_rtree_by_shape(walker *w)
{
	const je_layout *L = w->L;
	size_t length = w->data_end - w->data_start;
	size_t n_leaf = (size_t)1 << L->leaf_bits;
	uint64_t *words = malloc(length ? length : 1);
	uint64_t *leaf = malloc(n_leaf * sizeof(uint64_t));
	if (!words || !leaf) {
		free(words);
		free(leaf);
		return mp_error_nomem();
	}
	mp_error *err = mp_target_read(w->t, w->data_start, words, length);
	unsigned nhib = 64 - L->lg_vaddr;
	unsigned tried = 0;
	for (size_t i = 0; !err && i < length / 8 && !w->emap && tried < MAX_LEAF_CANDIDATES; i++) {
		uint64_t v = words[i];
		if (!v || v % 8 || in_data(w, v) || !mp_target_find_mapping(w->t, v))
			continue;
		tried++;
		mp_error *read = mp_target_read(w->t, v, leaf, n_leaf * sizeof(uint64_t));
		if (read) {
			mp_error_free(read);
			continue;
		}
		/* The first entry that maps its page to an extent starting
		 * there decides (a damaged entry before it is passed over). */
		unsigned tested = 0;
		for (size_t j = 0; j < n_leaf && tested < 256 && !w->emap; j++) {
			if (!leaf[j])
				continue;
			tested++;
			uint64_t extent = (uint64_t)((int64_t)(leaf[j] << nhib) >> nhib) &
					  ~(uint64_t)(L->edata_alignment - 1);
			uint64_t addr;
			if (!extent || !read_u64(w, extent + L->ed_addr, &addr) ||
			    ((addr >> L->lg_page) & (n_leaf - 1)) != j)
				continue;
			uint64_t index = addr >> (L->lg_page + L->leaf_bits);
			uint64_t root = w->data_start + i * 8 - index * 8;
			if (index < ((uint64_t)1 << L->root_bits) && root - L->rtree_root >= w->data_start)
				w->emap = root - L->rtree_root;
		}
	}
	free(words);
	free(leaf);
	if (!err && !w->emap)
		err = mp_error_new(MP_ERR_FORMAT, "jemalloc: no extent map found in the writable data of %s",
				   w->module->name);
	return err;
}

/* Reads every arena of je_arenas[] and its figures. */
static mp_error *read_arenas(walker *w)
{
	const je_layout *L = w->L;
	uint64_t *slots = calloc(L->arena_limit, sizeof(uint64_t));
	if (!slots)
		return mp_error_nomem();
	mp_error *err = mp_target_read(w->t, w->arenas, slots, L->arena_limit * sizeof(uint64_t));
	if (err) {
		free(slots);
		return err;
	}
	for (unsigned i = 0; i < L->arena_limit; i++) {
		if (!slots[i])
			continue;
		if (!arena_fits(w, slots[i], i)) {
			heap_problem(w->h, slots[i], "jemalloc arenas",
				     "je_arenas[%u] = 0x%" PRIx64 " is not arena %u (its ind, base or emap disagree)",
				     i, slots[i], i);
			continue;
		}
		je_arena *a = &w->arena[i];
		a->address = slots[i];
		uint64_t base = 0;
		a->base = 0;
		bool ok = read_u64(w, slots[i] + L->ar_nactive, &a->nactive) &&
			  read_u64(w, slots[i] + (L->flavor == JE_5_2 ? L->ar_stats_mapped : L->ar_pac_mapped),
				   &a->pac_mapped) &&
			  read_u64(w, slots[i] + L->ar_base, &base) &&
			  read_u64(w, base + L->base_allocated, &a->base_allocated) &&
			  read_u64(w, base + L->base_resident, &a->base_resident) &&
			  read_u64(w, base + L->base_mapped, &a->base_mapped);
		if (!ok) {
			heap_problem(w->h, slots[i], "jemalloc arena",
				     "arena %u at 0x%" PRIx64 ": its counters or base_t 0x%" PRIx64 " cannot be read",
				     i, slots[i], base);
			continue;
		}
		a->read = true;
		a->base = base;
		if (i == 0 && L->flavor == JE_5_3 && !read_u64(w, slots[i] + L->ar_emap, &w->emap))
			w->emap = 0;
	}
	free(slots);
	if (!w->arena[0].read || (L->flavor == JE_5_3 && !w->emap))
		return mp_error_new(MP_ERR_FORMAT, "jemalloc: arena 0 at je_arenas 0x%" PRIx64 " cannot be read",
				    w->arenas);
	return NULL;
}

/* ------------------------------------------------------------ thread caches */

static mp_error *push_cached(walker *w, uint64_t address, unsigned binind)
{
	if (w->n_cached == w->cached_capacity) {
		size_t capacity = w->cached_capacity ? 2 * w->cached_capacity : 1024;
		je_cached *grown = realloc(w->cached, capacity * sizeof(*grown));
		if (!grown)
			return mp_error_nomem();
		w->cached = grown;
		w->cached_capacity = capacity;
	}
	w->cached[w->n_cached++] = (je_cached){address, binind};
	return NULL;
}

static mp_error *push_metadata(walker *w, uint64_t address)
{
	if (w->n_metadata == w->metadata_capacity) {
		size_t capacity = w->metadata_capacity ? 2 * w->metadata_capacity : 64;
		uint64_t *grown = realloc(w->metadata, capacity * sizeof(*grown));
		if (!grown)
			return mp_error_nomem();
		w->metadata = grown;
		w->metadata_capacity = capacity;
	}
	w->metadata[w->n_metadata++] = address;
	return NULL;
}

/* One tcache's bins: per size class the pointers between stack_head and
 * the stack's empty end (cache_bin_ncached_get: the 16 low bits of the
 * empty position less those of stack_head, in words). */
static mp_error *read_tcache(walker *w, unsigned arena, uint64_t slow)
{
	const je_layout *L = w->L;
	uint64_t bins_address, dyn_alloc;
	if (!read_u64(w, slow + L->ts_bins, &bins_address) ||
	    !read_u64(w, slow + L->ts_dyn_alloc, &dyn_alloc)) {
		heap_problem(w->h, slow, "jemalloc tcache", "tcache_slow_t at 0x%" PRIx64 " of arena %u cannot be read",
			     slow, arena);
		return NULL;
	}
	size_t length = (size_t)L->tcache_nbins_max * L->cache_bin_size;
	uint8_t *bins = malloc(length);
	if (!bins)
		return mp_error_nomem();
	mp_error *err = mp_target_read(w->t, bins_address, bins, length);
	if (err) {
		mp_error_free(err);
		free(bins);
		heap_problem(w->h, slow, "jemalloc tcache", "the cache bins at 0x%" PRIx64 " of tcache 0x%" PRIx64 " cannot be read",
			     bins_address, slow);
		return NULL;
	}
	if (dyn_alloc && (err = push_metadata(w, dyn_alloc))) {
		free(bins);
		return err;
	}
	uint64_t *stack = NULL;
	size_t stack_capacity = 0;
	for (unsigned b = 0; b < L->tcache_nbins_max && b < L->nsizes; b++) {
		const uint8_t *bin = bins + (size_t)b * L->cache_bin_size;
		uint64_t head;
		uint16_t empty;
		memcpy(&head, bin + L->cb_stack_head, sizeof(head));
		memcpy(&empty, bin + L->cb_low_bits_empty, sizeof(empty));
		uint16_t diff = (uint16_t)(empty - (uint16_t)head);
		unsigned n = diff / 8;
		if (!head || n == 0)
			continue;
		if (n > L->ncached_max || diff % 8) {
			heap_problem(w->h, bins_address + (uint64_t)b * L->cache_bin_size, "jemalloc tcache",
				     "cache bin %u of tcache 0x%" PRIx64 ": %u cached pointers cannot be right", b,
				     slow, n);
			continue;
		}
		if (n > stack_capacity) {
			uint64_t *grown = realloc(stack, n * sizeof(uint64_t));
			if (!grown) {
				free(stack);
				free(bins);
				return mp_error_nomem();
			}
			stack = grown;
			stack_capacity = n;
		}
		err = mp_target_read(w->t, head, stack, n * sizeof(uint64_t));
		if (err) {
			mp_error_free(err);
			heap_problem(w->h, head, "jemalloc tcache", "cache bin %u of tcache 0x%" PRIx64 ": its stack at 0x%" PRIx64 " cannot be read",
				     b, slow, head);
			continue;
		}
		for (unsigned k = 0; k < n; k++) {
			if ((err = push_cached(w, stack[k], b))) {
				free(stack);
				free(bins);
				return err;
			}
			w->arena[arena].cached_blocks++;
			w->arena[arena].cached_bytes += w->size_class[b];
		}
	}
	free(stack);
	free(bins);
	return NULL;
}

/* 5.2: a thread's tcache_t sits in its tsd_t, next to arenas_tdata: the
 * thread's decay tickers, one internal allocation from arena 0 (a0malloc)
 * that the program never sees.  An explicit tcache's tcache_t is an
 * internal allocation itself, and what lies before it is not a tsd_t: the
 * arena word tells the two apart. */
static mp_error *push_arenas_tdata(walker *w, unsigned arena, uint64_t tcache)
{
	const je_layout *L = w->L;
	uint64_t thread_arena, tdata;
	if (tcache < L->tsd_arena_before ||
	    !read_u64(w, tcache - L->tsd_arena_before, &thread_arena) ||
	    thread_arena != w->arena[arena].address ||
	    !read_u64(w, tcache - L->tsd_arenas_tdata_before, &tdata) || !tdata)
		return NULL;
	return push_metadata(w, tdata);
}

/* 5.2: a tcache_t holds its bins; each cache_bin_t has ncached pointers
 * just below avail.  The stacks are one internal allocation (a thread's)
 * or share the tcache_t's (an explicit tcache): the blocks holding the
 * first bin's stack and the tcache_t are the allocator's. */
static mp_error *read_tcache_5_2(walker *w, unsigned arena, uint64_t tcache)
{
	const je_layout *L = w->L;
	mp_error *err = push_metadata(w, tcache);
	if (!err)
		err = push_arenas_tdata(w, arena, tcache);
	uint64_t *stack = NULL;
	size_t stack_capacity = 0;
	for (unsigned k = 0; !err && k < L->tc_nbins_small + L->tc_nbins_large; k++) {
		bool small = k < L->tc_nbins_small;
		unsigned binind = k;
		uint64_t bin = tcache + (small ? L->tc_bins_small + (uint64_t)k * L->cache_bin_size
					      : L->tc_bins_large + (uint64_t)(k - L->tc_nbins_small) * L->cache_bin_size);
		uint8_t bytes[64];
		err = mp_target_read(w->t, bin, bytes, L->cache_bin_size);
		if (err) {
			mp_error_free(err);
			err = NULL;
			heap_problem(w->h, bin, "jemalloc tcache", "cache bin %u of tcache 0x%" PRIx64 " cannot be read",
				     k, tcache);
			break;
		}
		uint32_t n;
		uint64_t avail;
		memcpy(&n, bytes + L->cb_ncached, sizeof(n));
		memcpy(&avail, bytes + L->cb_avail, sizeof(avail));
		if (k == 0 && avail)
			err = push_metadata(w, avail - 8);
		if (err || n == 0)
			continue;
		if (n > L->ncached_max || !avail || avail < n * 8ull || binind >= L->nsizes) {
			heap_problem(w->h, bin, "jemalloc tcache",
				     "cache bin %u of tcache 0x%" PRIx64 ": %u cached pointers below 0x%" PRIx64 " cannot be right",
				     k, tcache, n, avail);
			continue;
		}
		if (n > stack_capacity) {
			uint64_t *grown = realloc(stack, n * sizeof(uint64_t));
			if (!grown) {
				err = mp_error_nomem();
				break;
			}
			stack = grown;
			stack_capacity = n;
		}
		mp_error *read = mp_target_read(w->t, avail - n * 8ull, stack, n * sizeof(uint64_t));
		if (read) {
			mp_error_free(read);
			heap_problem(w->h, avail, "jemalloc tcache", "cache bin %u of tcache 0x%" PRIx64 ": its stack below 0x%" PRIx64 " cannot be read",
				     k, tcache, avail);
			continue;
		}
		for (unsigned i = 0; i < n && !err; i++) {
			err = push_cached(w, stack[i], binind);
			w->arena[arena].cached_blocks++;
			w->arena[arena].cached_bytes += w->size_class[binind];
		}
	}
	free(stack);
	return err;
}

/* Every arena's ring of tcaches (tcache_ql: qlh_first, then link.qre_next
 * around to the first again). */
static mp_error *read_tcaches(walker *w)
{
	const je_layout *L = w->L;
	for (unsigned i = 0; i < L->arena_limit; i++) {
		if (!w->arena[i].read)
			continue;
		uint64_t first;
		if (!read_u64(w, w->arena[i].address + L->ar_tcache_ql, &first) || !first)
			continue;
		uint64_t slow = first;
		unsigned n = 0;
		do {
			mp_error *err = L->flavor == JE_5_2 ? read_tcache_5_2(w, i, slow)
							     : read_tcache(w, i, slow);
			if (err)
				return err;
			w->arena[i].tcaches++;
			if (!read_u64(w, slow + L->ts_next, &slow) || !slow) {
				heap_problem(w->h, w->arena[i].address + L->ar_tcache_ql, "jemalloc tcache",
					     "the tcache ring of arena %u breaks after %u tcaches", i, n + 1);
				break;
			}
		} while (slow != first && ++n < MAX_TCACHES);
		if (n >= MAX_TCACHES)
			heap_problem(w->h, w->arena[i].address + L->ar_tcache_ql, "jemalloc tcache",
				     "the tcache ring of arena %u does not close after %d tcaches", i, MAX_TCACHES);
	}
	return NULL;
}

static int compare_cached(const void *a, const void *b)
{
	uint64_t x = ((const je_cached *)a)->address, y = ((const je_cached *)b)->address;
	return x < y ? -1 : x > y;
}

static int compare_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* ------------------------------------------------------------ regions */

/* heap_begin_segment takes room in the chunk table for the most chunks a
 * segment can hold, exactly; a heap of a hundred thousand slabs would copy
 * the table once per slab.  Reserving first, geometrically, leaves it
 * nothing to grow. */
static mp_error *reserve_segment(walker *w, uint64_t start, uint64_t end)
{
	mp_heap *h = w->h;
	size_t most = (size_t)((end - start) >> h->granule_shift) + 1;
	if (!MP_ARRAY_RESERVE(h->chunks, h->chunks_capacity, h->n_chunks + most))
		return mp_error_nomem();
	return NULL;
}

/* Extents that follow each other in memory make one region: a heap of a
 * million slabs is then a few regions, not a million, and every address
 * lookup of the analyses is a short search (the bitmap is built from the
 * chunk table when the run closes). */
static mp_error *close_run(walker *w)
{
	if (!w->open)
		return NULL;
	w->open = false;
	mp_error *err = heap_end_region(w->h, w->open_end);
	if (w->open_end > w->regions_end)
		w->regions_end = w->open_end;
	return err;
}

static mp_error *open_run(walker *w, uint64_t start)
{
	if (w->open && start == w->open_end)
		return NULL;
	mp_error *err = close_run(w);
	if (!err)
		err = heap_begin_region(w->h, start, -1);
	if (!err) {
		w->open = true;
		w->open_end = start;
	}
	return err;
}

/* ------------------------------------------------------------ base blocks */

/* Each arena's base allocator chains its blocks from base_t.blocks; their
 * bytes are the allocator's metadata, listed as METADATA chunks so that no
 * analysis takes an edata_t's pointer to its extent (the first region of a
 * slab, a large block) for a reference from the program. */
static mp_error *read_base_blocks(walker *w)
{
	const je_layout *L = w->L;
	for (unsigned i = 0; i < L->arena_limit; i++) {
		if (!w->arena[i].read || !w->arena[i].base)
			continue;
		uint64_t block;
		if (!read_u64(w, w->arena[i].base + L->base_blocks, &block))
			continue;
		for (size_t n = 0; block; n++) {
			uint64_t size, next;
			if (n >= MAX_BASE_BLOCKS || !read_u64(w, block + L->block_size, &size) ||
			    !read_u64(w, block + L->block_next, &next) || !mapped(w, block, block + size)) {
				heap_problem(w->h, block, "jemalloc base",
					     "block 0x%" PRIx64 " of arena %u's base allocator cannot be read or has a wrong size",
					     block, i);
				break;
			}
			if (w->n_base_blocks == w->base_blocks_capacity) {
				size_t capacity = w->base_blocks_capacity ? 2 * w->base_blocks_capacity : 64;
				je_span *grown = realloc(w->base_blocks, capacity * sizeof(*grown));
				if (!grown)
					return mp_error_nomem();
				w->base_blocks = grown;
				w->base_blocks_capacity = capacity;
			}
			w->base_blocks[w->n_base_blocks++] = (je_span){block, block + size};
			block = next;
		}
	}
	return NULL;
}

static int compare_spans(const void *a, const void *b)
{
	uint64_t x = ((const je_span *)a)->start, y = ((const je_span *)b)->start;
	return x < y ? -1 : x > y;
}

/* Lists the base blocks that start before limit (regions go in address
 * order, so they are merged into the extent walk). */
static mp_error *emit_base_blocks(walker *w, uint64_t limit)
{
	for (; w->next_base_block < w->n_base_blocks; w->next_base_block++) {
		const je_span *b = &w->base_blocks[w->next_base_block];
		if (b->start >= limit)
			break;
		mp_error *err = close_run(w);
		if (err)
			return err;
		if (b->start < w->regions_end) {
			heap_problem(w->h, b->start, "jemalloc base",
				     "base block 0x%" PRIx64 "-0x%" PRIx64 " overlaps an extent or another block",
				     b->start, b->end);
			continue;
		}
		err = reserve_segment(w, b->start, b->end);
		if (!err)
			err = heap_begin_segment(w->h, b->start, b->end, -1);
		if (!err)
			err = heap_add_chunk(w->h, b->start, b->end - b->start, MP_CHUNK_METADATA);
		if (!err)
			err = heap_end_region(w->h, b->end);
		if (err)
			return err;
		w->base_block_bytes += b->end - b->start;
		w->regions_end = b->end;
	}
	return NULL;
}

/* ------------------------------------------------------------ extents */


/* The state of an allocated block: parked in a tcache, jemalloc's own
 * (an internal allocation), or the program's.  *cursor walks the sorted cached pointers
 * along with the address-ordered walk. */
static enum mp_chunk_state allocated_state(walker *w, uint64_t address, uint64_t size,
					   size_t *cursor, size_t *metadata_cursor)
{
	while (*cursor < w->n_cached && w->cached[*cursor].address < address)
		(*cursor)++;
	if (*cursor < w->n_cached && w->cached[*cursor].address == address)
		return MP_CHUNK_CACHED;
	/* A block holding any address of jemalloc's internal allocations. */
	while (*metadata_cursor < w->n_metadata && w->metadata[*metadata_cursor] < address)
		(*metadata_cursor)++;
	if (*metadata_cursor < w->n_metadata && w->metadata[*metadata_cursor] < address + size)
		return MP_CHUNK_METADATA;
	return MP_CHUNK_IN_USE;
}

static void count_allocated(walker *w, enum mp_chunk_state state, uint64_t size, unsigned szind)
{
	w->allocated += size;
	if (state == MP_CHUNK_CACHED) {
		w->cached_blocks++;
		w->cached_bytes += size;
		w->bins[szind].cached++;
	} else if (state == MP_CHUNK_METADATA) {
		w->metadata_bytes += size;
		w->bins[szind].in_use++;
	} else {
		w->in_use_blocks++;
		w->in_use_bytes += size;
		w->bins[szind].in_use++;
	}
}

static mp_error *walk_slab(walker *w, uint64_t edata, const uint8_t *ed, uint64_t base,
			   uint64_t size, unsigned szind, size_t *cursor, size_t *metadata_cursor)
{
	const je_layout *L = w->L;
	uint64_t bits;
	memcpy(&bits, ed + L->ed_bits, sizeof(bits));
	uint64_t region = w->size_class[szind];
	uint64_t nregs = size / region;
	if (nregs == 0 || nregs > L->slab_maxregs || nregs > (uint64_t)L->bitmap_words * 64) {
		heap_problem(w->h, edata, "jemalloc slab",
			     "slab 0x%" PRIx64 " (edata_t 0x%" PRIx64 "): %" PRIu64 " bytes of %" PRIu64 "-byte regions cannot be right",
			     base, edata, size, region);
		return NULL;
	}
	/* The bitmap is stored inverted: a set bit is a free region. */
	uint64_t bitmap[8] = {0};
	memcpy(bitmap, ed + L->ed_bitmap, (size_t)L->bitmap_words * 8);
	uint64_t free_count = 0;
	for (uint64_t r = 0; r < nregs; r++)
		free_count += bitmap[r / 64] >> (r % 64) & 1;
	uint64_t nfree = field(bits, L->bits_nfree_shift, L->bits_nfree_width);
	if (nfree != free_count) {
		heap_problem(w->h, edata, "jemalloc slab",
			     "slab 0x%" PRIx64 " (edata_t 0x%" PRIx64 "): nfree %" PRIu64 " but its bitmap has %" PRIu64 " free regions of %" PRIu64,
			     base, edata, nfree, free_count, nregs);
		return NULL;
	}
	mp_error *err = open_run(w, base);
	if (err)
		return err;
	for (uint64_t r = 0; r < nregs; r++) {
		uint64_t address = base + r * region;
		enum mp_chunk_state state;
		if (bitmap[r / 64] >> (r % 64) & 1) {
			state = MP_CHUNK_FREE;
			w->free_blocks++;
			w->free_bytes += region;
			w->bins[szind].free++;
		} else {
			state = allocated_state(w, address, region, cursor, metadata_cursor);
			count_allocated(w, state, region, szind);
		}
		if ((err = heap_add_chunk(w->h, address, region, state)))
			return err;
	}
	w->bins[szind].slabs++;
	w->open_end = base + size;
	return NULL;
}

static mp_error *walk_extent(walker *w, uint64_t edata, uint64_t page, size_t *cursor,
			     size_t *metadata_cursor)
{
	const je_layout *L = w->L;
	uint8_t ed[256];
	mp_error *err = mp_target_read(w->t, edata, ed, L->edata_size);
	if (err) {
		mp_error_free(err);
		heap_problem(w->h, page, "jemalloc extent map", "page 0x%" PRIx64 " maps to edata_t 0x%" PRIx64 ", which cannot be read",
			     page, edata);
		return NULL;
	}
	uint64_t bits, addr, size_esn;
	memcpy(&bits, ed + L->ed_bits, 8);
	memcpy(&addr, ed + L->ed_addr, 8);
	memcpy(&size_esn, ed + L->ed_size_esn, 8);
	uint64_t page_mask = (UINT64_C(1) << L->lg_page) - 1;
	uint64_t base = addr & ~page_mask, size = size_esn & ~page_mask;
	/* Interior pages of a slab, and the last page of a large extent, map
	 * to the same edata_t: each extent is taken at its first page. */
	if (base != page)
		return NULL;
	unsigned arena = (unsigned)field(bits, L->bits_arena_shift, L->bits_arena_width);
	unsigned state = (unsigned)field(bits, L->bits_state_shift, L->bits_state_width);
	unsigned szind = (unsigned)field(bits, L->bits_szind_shift, L->bits_szind_width);
	bool slab = field(bits, L->bits_slab_shift, 1);
	if (!mapped(w, base, base + size) || arena >= L->arena_limit) {
		heap_problem(w->h, edata, "jemalloc extent",
			     "edata_t 0x%" PRIx64 " of page 0x%" PRIx64 ": size %" PRIu64 " or arena %u cannot be right",
			     edata, page, size, arena);
		return NULL;
	}
	je_arena *a = &w->arena[arena];
	uint64_t pages = size >> L->lg_page;
	switch (state) {
	case STATE_ACTIVE:
		break;
	case STATE_DIRTY:
		a->dirty_pages += pages;
		return NULL;
	case STATE_MUZZY:
		a->muzzy_pages += pages;
		return NULL;
	case STATE_RETAINED:
		a->retained_pages += pages;
		return NULL;
	default:       /* being merged or split: only while a lock is held */
		return NULL;
	}
	a->active_pages += pages;
	a->extents++;
	w->extents++;
	if (szind >= L->nsizes || (slab && szind >= L->nbins) || (!slab && szind < L->nbins)) {
		heap_problem(w->h, edata, "jemalloc extent",
			     "edata_t 0x%" PRIx64 " of extent 0x%" PRIx64 ": size class %u cannot be a %s", edata,
			     base, szind, slab ? "slab's" : "large block's");
		return NULL;
	}
	if ((err = emit_base_blocks(w, base)))
		return err;
	if (base < w->regions_end || (w->open && base < w->open_end)) {
		heap_problem(w->h, edata, "jemalloc extent",
			     "extent 0x%" PRIx64 "-0x%" PRIx64 " (edata_t 0x%" PRIx64 ") overlaps a base block",
			     base, base + size, edata);
		return NULL;
	}
	uint64_t allocated_before = w->allocated;
	if (slab) {
		a->slabs++;
		err = walk_slab(w, edata, ed, base, size, szind, cursor, metadata_cursor);
	} else {
		uint64_t usable = w->size_class[szind];
		if (addr < base || addr + usable > base + size) {
			heap_problem(w->h, edata, "jemalloc extent",
				     "large block 0x%" PRIx64 " of %" PRIu64 " bytes lies outside its extent 0x%" PRIx64 "-0x%" PRIx64,
				     addr, usable, base, base + size);
			return NULL;
		}
		a->large++;
		w->large_blocks++;
		enum mp_chunk_state st = allocated_state(w, addr, usable, cursor, metadata_cursor);
		count_allocated(w, st, usable, szind);
		err = open_run(w, base);
		if (!err)
			err = heap_add_chunk(w->h, addr, usable, st);
		w->open_end = base + size;
	}
	a->allocated += w->allocated - allocated_before;
	return err;
}

/* The emap's leaves in address order; each extent at its first page. */
static mp_error *walk_emap(walker *w)
{
	const je_layout *L = w->L;
	size_t n_root = (size_t)1 << L->root_bits, n_leaf = (size_t)1 << L->leaf_bits;
	uint64_t *root = malloc(n_root * sizeof(uint64_t));
	uint64_t *leaf = malloc(n_leaf * sizeof(uint64_t));
	if (!root || !leaf) {
		free(root);
		free(leaf);
		return mp_error_nomem();
	}
	mp_error *err = mp_target_read(w->t, w->emap + L->rtree_root, root, n_root * sizeof(uint64_t));
	if (err) {
		free(root);
		free(leaf);
		return err;
	}
	size_t cursor = 0, metadata_cursor = 0;
	unsigned nhib = 64 - L->lg_vaddr;
	uint64_t low_mask = ~(uint64_t)(L->edata_alignment - 1);
	for (size_t i = 0; i < n_root && !err; i++) {
		if (!root[i])
			continue;
		mp_error *read = mp_target_read(w->t, root[i], leaf, n_leaf * sizeof(uint64_t));
		if (read) {
			mp_error_free(read);
			heap_problem(w->h, w->emap + L->rtree_root + i * 8, "jemalloc extent map",
				     "rtree leaf 0x%" PRIx64 " (root entry %zu) cannot be read", root[i], i);
			continue;
		}
		uint64_t previous = 0;
		for (size_t j = 0; j < n_leaf && !err; j++) {
			uint64_t bits = leaf[j];
			uint64_t edata = (uint64_t)((int64_t)(bits << nhib) >> nhib) & low_mask;
			if (!edata || edata == previous)
				continue;
			previous = edata;
			uint64_t page = ((uint64_t)i << (L->leaf_bits + L->lg_page)) |
					((uint64_t)j << L->lg_page);
			err = walk_extent(w, edata, page, &cursor, &metadata_cursor);
		}
	}
	free(root);
	free(leaf);
	mp_error *closed = close_run(w);
	if (!err)
		err = closed;
	else
		mp_error_free(closed);
	if (!err)
		err = emit_base_blocks(w, UINT64_MAX);
	return err;
}

/* ------------------------------------------------------------ figures */

static mp_error *add_detail(walker *w, const char *group, const char *name, uint64_t value)
{
	return heap_add_detail(w->h, group, name, value);
}

static mp_error *add_details(walker *w)
{
	const je_layout *L = w->L;
	uint64_t active = 0, dirty = 0, resident = 0, mapped = 0, muzzy = 0, retained = 0;
	uint64_t nactive = 0;
	for (unsigned i = 0; i < L->arena_limit; i++) {
		je_arena *a = &w->arena[i];
		if (!a->read)
			continue;
		active += a->active_pages;
		dirty += a->dirty_pages;
		muzzy += a->muzzy_pages;
		retained += a->retained_pages;
		nactive += a->nactive;
		resident += a->base_resident;
		mapped += a->base_mapped + a->pac_mapped;
		/* The walk's active pages are the arena's own count unless an
		 * extent was skipped or the arena's record is damaged. */
		if (a->active_pages != a->nactive && !w->h->partial)
			heap_problem(w->h, a->address + L->ar_nactive, "jemalloc arena",
				     "arena %u counts %" PRIu64 " active pages, its extents %" PRIu64, i,
				     a->nactive, a->active_pages);
	}
	resident += (active + dirty + (L->resident_counts_muzzy ? muzzy : 0)) << L->lg_page;
	mp_error *err = NULL;
	struct { const char *name; uint64_t value; } totals[] = {
		{"allocated", w->allocated},
		{"active", active << L->lg_page},
		{"resident", resident},
		{"mapped", mapped},
		{"in_use_bytes", w->in_use_bytes},
		{"tcache_cached_bytes", w->cached_bytes},
		{"internal_bytes", w->metadata_bytes},
		{"base_block_bytes", w->base_block_bytes},
		{"dirty_bytes", dirty << L->lg_page},
		{"muzzy_bytes", muzzy << L->lg_page},
		{"retained_bytes", retained << L->lg_page},
		{"extents", w->extents},
	};
	for (size_t k = 0; k < sizeof(totals) / sizeof(totals[0]) && !err; k++)
		err = add_detail(w, "totals", totals[k].name, totals[k].value);
	char group[64];
	for (unsigned i = 0; i < L->arena_limit && !err; i++) {
		je_arena *a = &w->arena[i];
		if (!a->read)
			continue;
		snprintf(group, sizeof(group), "arena %u", i);
		struct { const char *name; uint64_t value; } rows[] = {
			{"address", a->address},
			{"allocated", a->allocated},
			{"active_pages", a->active_pages},
			{"dirty_pages", a->dirty_pages},
			{"muzzy_pages", a->muzzy_pages},
			{"retained_pages", a->retained_pages},
			{"extents", a->extents},
			{"slabs", a->slabs},
			{"large_extents", a->large},
			{"tcaches", a->tcaches},
			{"tcache_cached_blocks", a->cached_blocks},
			{"tcache_cached_bytes", a->cached_bytes},
			{"base_mapped", a->base_mapped},
			{"base_resident", a->base_resident},
			{"base_allocated", a->base_allocated},
			{L->flavor == JE_5_2 ? "stats_mapped" : "pac_mapped", a->pac_mapped},
		};
		for (size_t k = 0; k < sizeof(rows) / sizeof(rows[0]) && !err; k++)
			err = add_detail(w, group, rows[k].name, rows[k].value);
	}
	for (unsigned b = 0; b < L->nbins && !err; b++) {
		const je_bin *bin = &w->bins[b];
		if (!bin->slabs)
			continue;
		snprintf(group, sizeof(group), "bin %" PRIu64, w->size_class[b]);
		struct { const char *name; uint64_t value; } rows[] = {
			{"regions_in_use", bin->in_use},
			{"regions_cached", bin->cached},
			{"regions_free", bin->free},
			{"slabs", bin->slabs},
		};
		for (size_t k = 0; k < sizeof(rows) / sizeof(rows[0]) && !err; k++)
			err = add_detail(w, group, rows[k].name, rows[k].value);
	}
	for (unsigned s = L->nbins; s < L->nsizes && s < MAX_SIZE_CLASSES && !err; s++) {
		const je_bin *bin = &w->bins[s];
		if (!bin->in_use && !bin->cached)
			continue;
		snprintf(group, sizeof(group), "large %" PRIu64, w->size_class[s]);
		err = add_detail(w, group, "in_use", bin->in_use);
		if (!err)
			err = add_detail(w, group, "cached", bin->cached);
	}
	return err;
}

/* Blocks a tcache holds that the walk did not find allocated. */
static void check_cached(walker *w)
{
	/* allocated_state consumed the list in order; a pointer equal to no
	 * allocated block is damage in a tcache (or a block the walk skipped
	 * with its extent). */
	uint64_t expected = 0;
	for (size_t i = 0; i < w->n_cached; i++)
		expected += w->size_class[w->cached[i].binind];
	if (expected != w->cached_bytes && !w->h->partial)
		heap_problem(w->h, 0, "jemalloc tcache",
			     "the tcaches hold %zu pointers (%" PRIu64 " bytes) but %" PRIu64 " blocks (%" PRIu64 " bytes) of the walk are cached",
			     w->n_cached, expected, w->cached_blocks, w->cached_bytes);
}

/* ------------------------------------------------------------ build */

mp_error *mp_jemalloc_heap_build(mp_target *target, const mp_allocator *allocator,
				 const mp_heap_options *options, mp_heap *heap)
{
	(void)options;
	const je_layout *L = NULL;
	for (size_t i = 0; i < sizeof(layouts) / sizeof(layouts[0]); i++)
		if (strcmp(allocator->version, layouts[i]->version) == 0)
			L = layouts[i];
	if (!L)
		return mp_error_new(MP_ERR_ALLOCATOR,
				    "jemalloc %s detected: memprof reads jemalloc 5.3.0 and 5.2.1; this version's layout is unknown",
				    allocator->version[0] ? allocator->version : "(version not found)");
	walker w = { .t = target, .h = heap, .L = L };
	w.module = find_module(target, allocator->module);
	if (!w.module)
		return mp_error_new(MP_ERR_FORMAT, "jemalloc: module %s not among the target's modules",
				    allocator->module);
	if (!find_data(&w))
		return mp_error_new(MP_ERR_FORMAT, "jemalloc: no writable data of %s found",
				    allocator->module);
	w.arena = calloc(L->arena_limit, sizeof(je_arena));
	if (!w.arena)
		return mp_error_nomem();
	make_size_classes(w.size_class, L->nsizes < MAX_SIZE_CLASSES ? L->nsizes : MAX_SIZE_CLASSES);
	heap_set_layout(heap, 0, 3);
	char name[80];
	snprintf(name, sizeof(name), "jemalloc %s", allocator->version);
	mp_error *err = heap_set_backend_name(heap, name);
	if (!err && !locate_by_symbols(&w))
		err = locate_by_shape(&w);
	if (!err) {
		heap->located_by = w.located_by;
		err = read_arenas(&w);
	}
	if (!err && L->flavor == JE_5_2 && !rtree_by_symbol(&w))
		err = locate_rtree_by_shape(&w);
	if (!err)
		err = read_tcaches(&w);
	if (!err)
		err = read_base_blocks(&w);
	if (!err) {
		/* qsort of NULL is undefined even for 0 items. */
		if (w.n_base_blocks)
			qsort(w.base_blocks, w.n_base_blocks, sizeof(*w.base_blocks), compare_spans);
		if (w.n_cached)
			qsort(w.cached, w.n_cached, sizeof(*w.cached), compare_cached);
		if (w.n_metadata)
			qsort(w.metadata, w.n_metadata, sizeof(*w.metadata), compare_u64);
		err = walk_emap(&w);
	}
	if (!err) {
		check_cached(&w);
		err = add_details(&w);
	}
	if (!err)
		heap_trim_chunks(heap);
	free(w.cached);
	free(w.metadata);
	free(w.base_blocks);
	free(w.arena);
	return err;
}

/* ------------------------------------------------------------ version */

static bool is_hex(char c)
{
	return heap_is_digit(c) || (c >= 'a' && c <= 'f');
}

/* JEMALLOC_VERSION is "<major>.<minor>.<bugfix>-<commits>-g<sha1>", a
 * string of its own in .rodata: found by its "-g<hex>" tail, checked back
 * to the NUL that starts it. */
static bool version_string(const char *bytes, size_t length, char *out, size_t size)
{
	const char *end = bytes + length;
	for (const char *p = bytes; p < end;) {
		const char *g = memmem(p, (size_t)(end - p), "-g", 2);
		if (!g)
			return false;
		p = g + 2;
		size_t hex = 0;
		while (g + 2 + hex < end && is_hex(g[2 + hex]))
			hex++;
		if (hex < 7 || g + 2 + hex >= end || g[2 + hex] != '\0')
			continue;
		const char *q = g;
		while (q > bytes && heap_is_digit(q[-1]))      /* commits since the tag */
			q--;
		if (q == g || q == bytes || q[-1] != '-')
			continue;
		const char *dash = q - 1, *start = dash;
		int dots = 0;
		while (start > bytes && (heap_is_digit(start[-1]) || start[-1] == '.')) {
			dots += start[-1] == '.';
			start--;
		}
		if (dots != 2 || start == dash || (start > bytes && start[-1] != '\0') ||
		    !heap_is_digit(start[0]))
			continue;
		size_t n = (size_t)(dash - start);
		if (n + 1 > size)
			continue;
		memcpy(out, start, n);
		out[n] = '\0';
		return true;
	}
	return false;
}

bool mp_jemalloc_version(mp_target *t, const mp_module *m, char *out, size_t size)
{
	return heap_search_module(t, m, version_string, out, size);
}
