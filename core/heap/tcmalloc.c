/* gperftools' tcmalloc (2.10, and 2.8 to 2.9.1 whose structs are the same; x86-64)
 *
 * What is read.  tcmalloc keeps no header before a block: memory comes
 * from the system in runs of 8 KiB pages, cut into spans (struct Span:
 * first page, page count, free-object list, size class, location).  The
 * page heap's page map (a two-level radix tree, 2^17 roots of 2^18
 * entries) maps a page number to its span.  A span in use with a size
 * class is cut into objects of the class's size from its first byte; the
 * bytes after the last whole object are waste.  A span in use without a
 * class is one large block.  A span on the page heap's free lists is free
 * (its pages maybe returned to the system: "unmapped").  Every span is
 * found by walking the page map in address order: an entry at page p
 * whose span starts at p opens a span, the walk goes on past its pages
 * (the pages inside a free span may keep stale entries).
 *
 * An object of a class span is free when it is on the span's own list
 * (the central free list's), in a batch of the class's transfer cache
 * (CentralFreeList::tc_slots_), or on a thread cache's list for the class
 * (ThreadCache, linked from ThreadCache::thread_heaps_); else it is the
 * program's.  Lists are singly linked through the objects' first word.
 *
 * Finding the roots.  ThreadCache::thread_heaps_ is exported.  The page
 * heap, the size map and the central free lists are hidden statics of
 * tcmalloc::Static: taken from the library's .symtab when it has one (a
 * -g build), else found in the library's writable data by their shapes:
 * the size map is where class_to_size_ starts 0, 8, 16, 32, 48, 64, ...;
 * the central free lists the array whose entry i says size class i; the
 * page heap the record whose 256 span-list heads (free_[128], normal and
 * returned) are empty spans linked to themselves or into the metadata,
 * whose page map allocator points into the library and whose statistics
 * add up.
 *
 * Layouts: offsets below were read from the DWARF of gperftools 2.10
 * built with -g from Debian's source package (scripts/tcmalloc_source.sh;
 * pahole -C Span, PageHeap, CentralFreeList, ThreadCache, SizeMap) and
 * checked against Debian bookworm's stripped libtcmalloc_minimal.so.4 and
 * libtcmalloc.so.4 (tests/integration/test_tcmalloc.py: the walk's totals
 * equal MallocExtension's properties).
 *
 * Figures.  tcmalloc's generic.current_allocated_bytes is the page heap's
 * system bytes less the free spans, less every free object (central,
 * transfer, thread caches) and less the waste at the end of each class
 * span (counted in central_cache_free_bytes): exactly the bytes of the
 * blocks in use here, each at its class size (malloc_usable_size).  The
 * totals are recomputed from the walk and stored under "totals" with the
 * property names; tcmalloc's own page heap statistics are checked against
 * them.
 *
 * Corruption: a span record that cannot be right (start, length, class,
 * location) or a free list entry outside its span, misaligned or seen
 * twice is a heap problem naming the span or list; lists are bounded by
 * the counts their owners keep, and the walk goes on with the next span.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "heap_internal.h"
#include "target/target_internal.h"

enum {
	PAGE_SHIFT = 13,
	MAX_CLASSES = 128,          /* kClassSizesMax */
	MAX_PAGES = 128,            /* kMaxPages */
	MAX_TRANSFER_SLOTS = 64,    /* kMaxNumTransferEntries */
	MAX_THREAD_CACHES = 1 << 16,
	MAX_LIST = 1 << 16,         /* objects on one thread cache list (tcmalloc
				     * keeps at most 8192) */
	WINDOW = 64 << 10,
};

/* Offsets of one version (see the header comment for where they come
 * from). */
typedef struct tc_layout {
	const char *version;        /* the release the offsets were read from */
	const char *const *same;    /* releases with the same structs */
	unsigned address_bits;      /* kAddressBits - kPageShift: page number bits */
	unsigned leaf_bits;         /* TCMalloc_PageMap2: LEAF_BITS */
	/* PageHeap */
	size_t ph_root, ph_allocator, ph_free, ph_stats, ph_size;
	/* Span */
	size_t sp_start, sp_length, sp_next, sp_prev, sp_objects, sp_bits, sp_size;
	/* CentralFreeListPadded */
	size_t cf_size_class, cf_empty, cf_nonempty, cf_num_spans, cf_counter,
		cf_slots, cf_used_slots, cf_stride;
	/* SizeMap */
	size_t sm_to_move, sm_class_to_size, sm_class_to_pages, sm_num_classes, sm_size;
	/* ThreadCache, FreeList */
	size_t tc_lists, fl_stride, fl_length, tc_size_field, tc_tid, tc_next, tc_size;
} tc_layout;

/* gperftools 2.8.1, 2.9 and 2.9.1 declare Span, PageHeap, PageMap2,
 * CentralFreeList, ThreadCache and SizeMap exactly as 2.10 does (git diff
 * gperftools-2.8.1 gperftools-2.10 of their headers and common.cc: lock
 * annotations and whitespace), and 2.9.1 built with -g gives the same
 * DWARF offsets. */
static const char *const same_as_2_10[] = {"2.10", "2.9", "2.8", NULL};

static const tc_layout layouts[] = {
	{
		.version = "2.10",
		.same = same_as_2_10,
		.address_bits = 48 - PAGE_SHIFT, .leaf_bits = 18,
		/* pagemap_cache_ (PackedCache<35>, 512 KiB), pagemap_ {root_[2^17],
		 * allocator_}, large_normal_, large_returned_, free_[128],
		 * stats_ {system_bytes, free_bytes, unmapped_bytes, ...} */
		.ph_root = 524288, .ph_allocator = 524288 + 1048576, .ph_free = 1572968,
		.ph_stats = 1585256, .ph_size = 1585360,
		.sp_start = 0, .sp_length = 8, .sp_next = 16, .sp_prev = 24, .sp_objects = 32,
		.sp_bits = 40, .sp_size = 48,
		.cf_size_class = 8, .cf_empty = 16, .cf_nonempty = 64, .cf_num_spans = 112,
		.cf_counter = 120, .cf_slots = 128, .cf_used_slots = 1152, .cf_stride = 1216,
		.sm_to_move = 2172, .sm_class_to_size = 2684, .sm_class_to_pages = 3200,
		.sm_num_classes = 4224, .sm_size = 4232,
		.tc_lists = 0, .fl_stride = 32, .fl_length = 8, .tc_size_field = 4096,
		.tc_tid = 4128, .tc_next = 4144, .tc_size = 4160,
	},
};

enum { LOC_IN_USE = 0, LOC_NORMAL = 1, LOC_RETURNED = 2 };

/* A span as the page map gave it. */
typedef struct tc_span {
	uint64_t page, pages;       /* first page number, page count */
	uint64_t address;           /* of its Span record */
	uint64_t objects;           /* free-object list (class spans), stack trace (sampled) */
	uint32_t refcount;
	uint8_t size_class, location, sample;
} tc_span;

/* A free object parked outside its span: transfer cache or thread cache. */
typedef struct tc_parked {
	uint64_t address;
	uint32_t size_class;
	uint8_t state;              /* MP_CHUNK_FREE (transfer) or MP_CHUNK_TCACHE */
	uint8_t matched;
} tc_parked;

typedef struct tc_class {
	uint64_t size, pages, to_move;
	uint64_t in_use, central, transfer, thread, spans;
	uint64_t counter, num_spans;        /* tcmalloc's own, to check */
} tc_class;

typedef struct walker {
	mp_target *t;
	mp_heap *h;
	const mp_heap_options *options;
	const tc_layout *L;
	const mp_module *module;
	uint64_t pageheap, sizemap, central, thread_heaps, thread_heap_count;
	size_t n_classes;
	tc_class classes[MAX_CLASSES];
	tc_span *spans;
	size_t n_spans, spans_capacity;
	tc_parked *parked;
	size_t n_parked, parked_capacity;
	/* Word reads through a window (free lists). */
	uint8_t *window;
	uint64_t window_start;
	size_t window_length;
	uint8_t *states;            /* per object of the current span */
	size_t states_capacity;
	uint64_t n_thread_caches, thread_cache_bytes;
	uint64_t free_bytes, unmapped_bytes, system_bytes;
	uint64_t in_use_bytes, in_use_blocks, large_blocks, sampled;
	uint64_t chunks_added;
} walker;

/* ------------------------------------------------------------ reading */

static uint64_t get64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

static uint32_t get32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

/* A word of the target through the window: free lists hop between
 * objects that are mostly near each other.  The window is 64 KiB, or the
 * 4 KiB page where a larger one crosses into memory the target lacks. */
static bool read_word(walker *w, uint64_t address, uint64_t *value)
{
	if (w->window_length && address >= w->window_start &&
	    address + 8 <= w->window_start + w->window_length) {
		*value = get64(w->window + (address - w->window_start));
		return true;
	}
	if (!w->window && !(w->window = malloc(WINDOW)))
		return false;
	w->window_length = 0;
	for (size_t size = WINDOW; size >= 4096; size = size == WINDOW ? 4096 : 0) {
		uint64_t start = address & ~(uint64_t)(size - 1);
		if (address + 8 > start + size)
			break;      /* a word across pages: read alone */
		mp_error *err = mp_target_read(w->t, start, w->window, size);
		if (!err) {
			w->window_start = start;
			w->window_length = size;
			*value = get64(w->window + (address - start));
			return true;
		}
		mp_error_free(err);
	}
	mp_error *err = mp_target_read(w->t, address, value, 8);
	if (err) {
		mp_error_free(err);
		return false;
	}
	return true;
}

/* The module's writable data (its RW mappings and the .bss after them),
 * for the structural searches. */
typedef struct data_copy {
	uint64_t start;
	uint8_t *bytes;
	size_t length;
} data_copy;

static bool copy_module_data(walker *w, data_copy *copy)
{
	/* The hull of the module's writable mappings (its RELRO page may
	 * sit between them), then the anonymous .bss right after. */
	uint64_t start = 0, end = 0;
	size_t n = mp_target_mapping_count(w->t);
	for (size_t i = 0; i < n; i++) {
		const mp_mapping *m = mp_target_mapping(w->t, i);
		if (!(m->perms & MP_PERM_WRITE) || m->start < w->module->start ||
		    m->start >= w->module->end)
			continue;
		if (!start || m->start < start)
			start = m->start;
		if (m->end > end)
			end = m->end;
	}
	for (size_t i = 0; i < n && end; i++) {
		const mp_mapping *m = mp_target_mapping(w->t, i);
		if (m->start == end && !m->path[0] && (m->perms & MP_PERM_WRITE))
			end = m->end;
	}
	if (!start || end - start > (256u << 20))
		return false;
	copy->start = start;
	copy->length = end - start;
	copy->bytes = malloc(copy->length);
	if (!copy->bytes)
		return false;
	/* Page by page: a page the core left out reads as zeros. */
	for (size_t at = 0; at < copy->length; at += 4096) {
		size_t run = copy->length - at < 4096 ? copy->length - at : 4096;
		mp_error *err = mp_target_read(w->t, start + at, copy->bytes + at, run);
		if (err) {
			mp_error_free(err);
			memset(copy->bytes + at, 0, run);
		}
	}
	return true;
}

static uint64_t copy_word(const data_copy *c, uint64_t address)
{
	if (address < c->start || address + 8 > c->start + c->length)
		return 0;
	return get64(c->bytes + (address - c->start));
}

static bool in_copy(const data_copy *c, uint64_t address, uint64_t length)
{
	return address >= c->start && address + length <= c->start + c->length &&
	       address + length >= address;
}

/* ------------------------------------------------------ finding roots */

/* The size map at base: class sizes strictly increasing from 8, page
 * counts and batch sizes in their ranges. */
static bool sizemap_fits(walker *w, const data_copy *c, uint64_t base)
{
	const tc_layout *L = w->L;
	if (!in_copy(c, base, L->sm_size))
		return false;
	const uint8_t *p = c->bytes + (base - c->start);
	uint64_t n = get64(p + L->sm_num_classes);
	if (n < 2 || n > MAX_CLASSES)
		return false;
	uint32_t previous = 0;
	for (size_t cl = 1; cl < n; cl++) {
		uint32_t size = get32(p + L->sm_class_to_size + 4 * cl);
		uint64_t pages = get64(p + L->sm_class_to_pages + 8 * cl);
		uint32_t move = get32(p + L->sm_to_move + 4 * cl);
		if (size <= previous || size % 8 || pages < 1 || pages > MAX_PAGES ||
		    (pages << PAGE_SHIFT) < size || move < 1 || move > 1024)
			return false;
		previous = size;
	}
	return get32(p + L->sm_class_to_size) == 0;
}

static void load_sizemap(walker *w, const data_copy *c)
{
	const tc_layout *L = w->L;
	const uint8_t *p = c->bytes + (w->sizemap - c->start);
	w->n_classes = (size_t)get64(p + L->sm_num_classes);
	for (size_t cl = 1; cl < w->n_classes; cl++) {
		w->classes[cl].size = get32(p + L->sm_class_to_size + 4 * cl);
		w->classes[cl].pages = get64(p + L->sm_class_to_pages + 8 * cl);
		w->classes[cl].to_move = get32(p + L->sm_to_move + 4 * cl);
	}
}

static bool find_sizemap(walker *w, const data_copy *c)
{
	static const uint32_t first[] = {0, 8, 16, 32, 48, 64, 80, 96, 112, 128};
	const size_t off = w->L->sm_class_to_size;
	for (size_t at = 0; at + sizeof(first) <= c->length; at += 4) {
		if (memcmp(c->bytes + at, first, sizeof(first)) != 0 || at < off)
			continue;
		uint64_t base = c->start + at - off;
		if (sizemap_fits(w, c, base)) {
			w->sizemap = base;
			return true;
		}
	}
	return false;
}

/* A span-list head (a Span used as a list's sentinel) at address: linked
 * to itself when empty, else to spans outside the library's data. */
static bool list_head(const data_copy *c, const tc_layout *L, uint64_t address, bool *empty)
{
	uint64_t next = copy_word(c, address + L->sp_next);
	uint64_t prev = copy_word(c, address + L->sp_prev);
	*empty = next == address && prev == address;
	if (*empty)
		return true;
	return next && prev && !(next & 7) && !(prev & 7) && !in_copy(c, next, 8) &&
	       !in_copy(c, prev, 8);
}

static bool central_fits(walker *w, const data_copy *c, uint64_t base)
{
	const tc_layout *L = w->L;
	if (!in_copy(c, base, w->n_classes * L->cf_stride))
		return false;
	for (size_t cl = 0; cl < w->n_classes; cl++) {
		uint64_t e = base + cl * L->cf_stride;
		bool empty;
		if (copy_word(c, e + L->cf_size_class) != cl)
			return false;
		if (cl && (!list_head(c, L, e + L->cf_empty, &empty) ||
			   !list_head(c, L, e + L->cf_nonempty, &empty)))
			return false;
		uint32_t used = get32(c->bytes + (e + L->cf_used_slots - c->start));
		if (used > MAX_TRANSFER_SLOTS)
			return false;
	}
	return true;
}

static bool find_central(walker *w, const data_copy *c)
{
	const tc_layout *L = w->L;
	/* Entry 1 says 1 and entry 2 says 2: then the whole array is checked. */
	for (size_t at = 0; at + 8 <= c->length; at += 8) {
		if (get64(c->bytes + at) != 1)
			continue;
		uint64_t e1 = c->start + at - L->cf_size_class;
		if (e1 < c->start + L->cf_stride || copy_word(c, e1 + L->cf_stride + L->cf_size_class) != 2)
			continue;
		if (central_fits(w, c, e1 - L->cf_stride)) {
			w->central = e1 - L->cf_stride;
			return true;
		}
	}
	return false;
}

static bool pageheap_fits(walker *w, const data_copy *c, uint64_t base)
{
	const tc_layout *L = w->L;
	if (!in_copy(c, base, L->ph_size))
		return false;
	uint64_t allocator = copy_word(c, base + L->ph_allocator);
	if (allocator < w->module->start || allocator >= w->module->end || in_copy(c, allocator, 1))
		return false;
	size_t empty_heads = 0;
	for (size_t i = 0; i < 2 * MAX_PAGES; i++) {
		uint64_t head = base + L->ph_free + i * L->sp_size;
		bool empty;
		if (copy_word(c, head + L->sp_start) || copy_word(c, head + L->sp_length) ||
		    !list_head(c, L, head, &empty))
			return false;
		empty_heads += empty;
	}
	uint64_t system = copy_word(c, base + L->ph_stats);
	uint64_t free_bytes = copy_word(c, base + L->ph_stats + 8);
	uint64_t unmapped = copy_word(c, base + L->ph_stats + 16);
	const uint64_t page_mask = (1u << PAGE_SHIFT) - 1;
	return empty_heads > 0 && !(system & page_mask) && !(free_bytes & page_mask) &&
	       !(unmapped & page_mask) && free_bytes + unmapped <= system;
}

static bool find_pageheap(walker *w, const data_copy *c)
{
	const tc_layout *L = w->L;
	/* Every empty list head of free_ is a candidate for each index it
	 * could have; the allocator pointer rules out most at once. */
	for (size_t at = 0; at + L->sp_size <= c->length; at += 8) {
		uint64_t head = c->start + at;
		bool empty;
		if (!list_head(c, L, head, &empty) || !empty || get64(c->bytes + at) ||
		    copy_word(c, head + L->sp_length))
			continue;
		for (size_t i = 0; i < 2 * MAX_PAGES; i++) {
			uint64_t delta = L->ph_free + i * L->sp_size;
			if (head < c->start + delta)
				break;
			if (pageheap_fits(w, c, head - delta)) {
				w->pageheap = head - delta;
				return true;
			}
		}
	}
	return false;
}

/* A symbol of the library, or of its debug file (a -dbgsym package, a
 * -g build's .symtab): its address in the target, 0 when neither has it. */
static uint64_t symbol_address(const mp_module *m, const char *name)
{
	uint64_t address;
	bool from_debug_file;
	return mp_module_symbol_address(m, name, &address, &from_debug_file) ? address : 0;
}

static mp_error *find_roots(walker *w)
{
	const mp_module *m = w->module;
	w->thread_heaps = symbol_address(m, "_ZN8tcmalloc11ThreadCache13thread_heaps_E");
	w->thread_heap_count = symbol_address(m, "_ZN8tcmalloc11ThreadCache18thread_heap_count_E");
	uint64_t pageheap = symbol_address(m, "_ZN8tcmalloc6Static9pageheap_E");
	uint64_t sizemap = symbol_address(m, "_ZN8tcmalloc6Static8sizemap_E");
	uint64_t central = symbol_address(m, "_ZN8tcmalloc6Static14central_cache_E");
	data_copy c = {0};
	if (!copy_module_data(w, &c))
		return mp_error_new(MP_ERR_FORMAT, "%s: tcmalloc's writable data cannot be read",
				    m->name);
	mp_error *err = NULL;
	bool by_symbols = pageheap && sizemap && central;
	if (by_symbols) {
		w->pageheap = pageheap;
		w->sizemap = sizemap;
		w->central = central;
		if (!sizemap_fits(w, &c, sizemap)) {
			err = mp_error_new(MP_ERR_FORMAT,
					   "%s: tcmalloc::Static::sizemap_ at 0x%llx is not a size map of tcmalloc %s",
					   m->name, (unsigned long long)sizemap, w->L->version);
			goto out;
		}
		load_sizemap(w, &c);
		w->h->located_by = "allocator symbols";
	} else {
		if (!find_sizemap(w, &c)) {
			err = mp_error_new(MP_ERR_FORMAT,
					   "%s: no tcmalloc %s size map found in its writable data (not initialised yet, or another layout)",
					   m->name, w->L->version);
			goto out;
		}
		load_sizemap(w, &c);
		if (!find_central(w, &c)) {
			err = mp_error_new(MP_ERR_FORMAT,
					   "%s: no tcmalloc %s central free lists found in its writable data",
					   m->name, w->L->version);
			goto out;
		}
		if (!find_pageheap(w, &c)) {
			err = mp_error_new(MP_ERR_FORMAT,
					   "%s: no tcmalloc %s page heap found in its writable data",
					   m->name, w->L->version);
			goto out;
		}
		w->h->located_by = "structural search";
	}
	/* The central lists' own counts, to check the walk against. */
	for (size_t cl = 1; cl < w->n_classes; cl++) {
		uint64_t e = w->central + cl * w->L->cf_stride;
		w->classes[cl].counter = copy_word(&c, e + w->L->cf_counter);
		w->classes[cl].num_spans = copy_word(&c, e + w->L->cf_num_spans);
	}
	w->system_bytes = copy_word(&c, w->pageheap + w->L->ph_stats);
out:
	free(c.bytes);
	return err;
}

/* ---------------------------------------------------------- the spans */

static mp_error *push_span(walker *w, const tc_span *s)
{
	if (w->n_spans == w->spans_capacity) {
		size_t n = w->spans_capacity ? 2 * w->spans_capacity : 1024;
		tc_span *grown = realloc(w->spans, n * sizeof(*grown));
		if (!grown)
			return mp_error_nomem();
		w->spans = grown;
		w->spans_capacity = n;
	}
	w->spans[w->n_spans++] = *s;
	return NULL;
}

/* Reads the Span record at address for page; false (and a problem) when
 * it cannot be a span starting there. */
static bool read_span(walker *w, uint64_t address, uint64_t page, tc_span *s, bool *starts)
{
	const tc_layout *L = w->L;
	uint8_t raw[64];
	*starts = false;
	mp_error *err = mp_target_read(w->t, address, raw, L->sp_size);
	if (err) {
		heap_problem(w->h, address, "tcmalloc page map",
			     "page 0x%llx maps to span record 0x%llx, unreadable: %s",
			     (unsigned long long)(page << PAGE_SHIFT), (unsigned long long)address,
			     mp_error_message(err));
		mp_error_free(err);
		return false;
	}
	s->page = get64(raw + L->sp_start);
	if (s->page != page)
		return true;        /* a page inside a span, or a stale entry */
	*starts = true;
	s->pages = get64(raw + L->sp_length);
	s->address = address;
	s->objects = get64(raw + L->sp_objects);
	uint32_t bits = get32(raw + L->sp_bits);
	s->refcount = bits & 0xffff;
	s->size_class = (uint8_t)(bits >> 16);
	s->location = (uint8_t)(bits >> 24 & 3);
	s->sample = (uint8_t)(bits >> 26 & 1);
	const char *wrong = NULL;
	if (s->pages == 0 || s->pages > (1ull << L->address_bits) - page)
		wrong = "length";
	else if (s->location > LOC_RETURNED)
		wrong = "location";
	else if (s->size_class >= w->n_classes)
		wrong = "size class";
	else if (s->size_class && (s->location != LOC_IN_USE ||
				   s->pages != w->classes[s->size_class].pages))
		wrong = "size class for its length or location";
	if (wrong) {
		heap_problem(w->h, page << PAGE_SHIFT, "tcmalloc span",
			     "span record 0x%llx for 0x%llx: bad %s (length %llu pages, class %u, location %u)",
			     (unsigned long long)address, (unsigned long long)(page << PAGE_SHIFT),
			     wrong, (unsigned long long)s->pages, s->size_class, s->location);
		return false;
	}
	return true;
}

/* Every span, in address order, from the page map. */
static mp_error *collect_spans(walker *w)
{
	const tc_layout *L = w->L;
	const size_t root_length = (size_t)1 << (L->address_bits - L->leaf_bits);
	const size_t leaf_length = (size_t)1 << L->leaf_bits;
	uint64_t *root = malloc(root_length * 8);
	uint64_t *leaf = malloc(leaf_length * 8);
	mp_error *err = NULL;
	if (!root || !leaf) {
		err = mp_error_nomem();
		goto out;
	}
	err = mp_target_read(w->t, w->pageheap + L->ph_root, root, root_length * 8);
	if (err)
		goto out;
	uint64_t next_page = 0;     /* pages below are covered by spans seen */
	for (size_t i = 0; i < root_length; i++) {
		if (!root[i])
			continue;
		uint64_t base = (uint64_t)i << L->leaf_bits;
		if (next_page >= base + leaf_length)
			continue;
		mp_error *leaf_err = mp_target_read(w->t, root[i], leaf, leaf_length * 8);
		if (leaf_err) {
			heap_problem(w->h, root[i], "tcmalloc page map",
				     "leaf %zu of the page map unreadable: %s", i,
				     mp_error_message(leaf_err));
			mp_error_free(leaf_err);
			continue;
		}
		for (uint64_t page = next_page > base ? next_page : base; page < base + leaf_length;) {
			uint64_t entry = leaf[page - base];
			if (!entry) {
				page++;
				continue;
			}
			tc_span s;
			bool starts;
			if (!read_span(w, entry, page, &s, &starts) || !starts) {
				page++;
				continue;
			}
			if ((err = push_span(w, &s)))
				goto out;
			page += s.pages;
			next_page = page;
		}
		if (w->options->interrupted && w->options->interrupted(w->options->context)) {
			err = mp_error_new(MP_ERR_INTERRUPTED, "heap walk interrupted");
			goto out;
		}
	}
out:
	free(root);
	free(leaf);
	return err;
}

/* ------------------------------------------------- transfer and thread */

static mp_error *park(walker *w, uint64_t address, uint32_t cl, uint8_t state)
{
	if (w->n_parked == w->parked_capacity) {
		size_t n = w->parked_capacity ? 2 * w->parked_capacity : 1024;
		tc_parked *grown = realloc(w->parked, n * sizeof(*grown));
		if (!grown)
			return mp_error_nomem();
		w->parked = grown;
		w->parked_capacity = n;
	}
	w->parked[w->n_parked++] = (tc_parked){address, cl, state, 0};
	return NULL;
}

/* count objects linked from head through their first words.  A cycle
 * (Brent's check: the object a power of two steps back) stops the list
 * where it closes, before it parks an object twice more than once. */
static mp_error *walk_list(walker *w, uint64_t head, uint64_t count, uint32_t cl, uint8_t state,
			   const char *where, uint64_t owner, uint64_t *last)
{
	uint64_t object = head, tortoise = head, power = 1, steps = 0;
	for (uint64_t k = 0; k < count; k++) {
		if (!object || (object & 7)) {
			heap_problem(w->h, owner, where,
				     "class %u list ends early or is misaligned after %llu of %llu objects (0x%llx)",
				     cl, (unsigned long long)k, (unsigned long long)count,
				     (unsigned long long)object);
			return NULL;
		}
		if (k && object == tortoise) {
			heap_problem(w->h, owner, where,
				     "class %u list loops back to 0x%llx after %llu of %llu objects",
				     cl, (unsigned long long)object, (unsigned long long)k,
				     (unsigned long long)count);
			return NULL;
		}
		if (++steps == power) {
			tortoise = object;
			power *= 2;
			steps = 0;
		}
		mp_error *err = park(w, object, cl, state);
		if (err)
			return err;
		*last = object;
		if (k + 1 < count && !read_word(w, object, &object)) {
			heap_problem(w->h, *last, where, "class %u list: object 0x%llx unreadable", cl,
				     (unsigned long long)*last);
			return NULL;
		}
	}
	return NULL;
}

static mp_error *collect_transfer(walker *w)
{
	const tc_layout *L = w->L;
	uint8_t *e = malloc(L->cf_stride);
	if (!e)
		return mp_error_nomem();
	mp_error *err = NULL;
	for (size_t cl = 1; cl < w->n_classes && !err; cl++) {
		uint64_t address = w->central + cl * L->cf_stride;
		mp_error *read_err = mp_target_read(w->t, address, e, L->cf_stride);
		if (read_err) {
			heap_problem(w->h, address, "tcmalloc central free list", "%s",
				     mp_error_message(read_err));
			mp_error_free(read_err);
			continue;
		}
		uint32_t used = get32(e + L->cf_used_slots);
		if (used > MAX_TRANSFER_SLOTS) {
			heap_problem(w->h, address, "tcmalloc transfer cache",
				     "class %zu: %u slots used of %d", cl, used, MAX_TRANSFER_SLOTS);
			continue;
		}
		for (uint32_t s = 0; s < used && !err; s++) {
			uint64_t head = get64(e + L->cf_slots + 16 * s);
			uint64_t tail = get64(e + L->cf_slots + 16 * s + 8), last = 0;
			size_t before = w->n_parked;
			err = walk_list(w, head, w->classes[cl].to_move, (uint32_t)cl, MP_CHUNK_FREE,
					"tcmalloc transfer cache", address, &last);
			if (!err && w->n_parked - before == w->classes[cl].to_move && last != tail)
				heap_problem(w->h, address, "tcmalloc transfer cache",
					     "class %zu slot %u: batch ends at 0x%llx, its tail says 0x%llx",
					     cl, s, (unsigned long long)last, (unsigned long long)tail);
			w->classes[cl].transfer += w->n_parked - before;
		}
	}
	free(e);
	return err;
}

/* A group per thread cache: its bytes and its thread.  ThreadCache.tid_ is
 * the thread's pthread_t, its thread pointer (fs_base), which names the
 * target's thread (0 when none has it: a cache left by a thread gone). */
static mp_error *thread_cache_detail(walker *w, uint64_t cache, uint64_t tid, uint64_t bytes)
{
	char group[48];
	snprintf(group, sizeof(group), "thread cache 0x%llx", (unsigned long long)cache);
	uint64_t lwp = 0;
	for (size_t i = 0; i < mp_target_thread_count(w->t) && tid; i++) {
		const mp_thread *th = mp_target_thread(w->t, i);
		if (th->has_registers && th->registers.value[mp_register_index("fs_base")] == tid)
			lwp = (uint64_t)th->tid;
	}
	mp_error *err = heap_add_detail(w->h, group, "thread", lwp);
	return err ? err : heap_add_detail(w->h, group, "bytes", bytes);
}

static mp_error *collect_thread_caches(walker *w)
{
	const tc_layout *L = w->L;
	if (!w->thread_heaps)
		return NULL;
	uint64_t heap = 0, expected = 0;
	if (!read_word(w, w->thread_heaps, &heap))
		return NULL;
	if (w->thread_heap_count && read_word(w, w->thread_heap_count, &expected))
		expected &= 0xffffffff;
	uint8_t *cache = malloc(L->tc_size);
	if (!cache)
		return mp_error_nomem();
	mp_error *err = NULL;
	for (size_t n = 0; heap && !err; n++) {
		if (n >= MAX_THREAD_CACHES) {
			heap_problem(w->h, w->thread_heaps, "tcmalloc thread caches",
				     "more than %d thread caches: a cycle?", MAX_THREAD_CACHES);
			break;
		}
		mp_error *read_err = mp_target_read(w->t, heap, cache, L->tc_size);
		if (read_err) {
			heap_problem(w->h, heap, "tcmalloc thread cache", "%s", mp_error_message(read_err));
			mp_error_free(read_err);
			break;
		}
		w->n_thread_caches++;
		uint64_t bytes = 0;
		for (size_t cl = 1; cl < w->n_classes && !err; cl++) {
			const uint8_t *list = cache + L->tc_lists + cl * L->fl_stride;
			uint64_t head = get64(list), length = get32(list + L->fl_length), last = 0;
			if (length > MAX_LIST) {
				heap_problem(w->h, heap, "tcmalloc thread cache",
					     "class %zu: %llu objects listed", cl, (unsigned long long)length);
				continue;
			}
			size_t before = w->n_parked;
			err = walk_list(w, head, length, (uint32_t)cl, MP_CHUNK_TCACHE,
					"tcmalloc thread cache", heap, &last);
			w->classes[cl].thread += w->n_parked - before;
			bytes += (w->n_parked - before) * w->classes[cl].size;
		}
		uint32_t size_field = get32(cache + L->tc_size_field);
		if (!err && size_field != bytes)
			heap_problem(w->h, heap, "tcmalloc thread cache",
				     "its lists hold %llu bytes, its size says %u",
				     (unsigned long long)bytes, size_field);
		w->thread_cache_bytes += bytes;
		if (!err)
			err = thread_cache_detail(w, heap, get64(cache + L->tc_tid), bytes);
		heap = get64(cache + L->tc_next);
	}
	if (!err && expected && w->n_thread_caches != expected)
		heap_problem(w->h, w->thread_heaps, "tcmalloc thread caches",
			     "%llu caches linked, thread_heap_count_ says %llu",
			     (unsigned long long)w->n_thread_caches, (unsigned long long)expected);
	free(cache);
	return err;
}

static int by_address(const void *a, const void *b)
{
	uint64_t x = ((const tc_parked *)a)->address, y = ((const tc_parked *)b)->address;
	return x < y ? -1 : x > y;
}

/* ------------------------------------------------------------ emitting */

static mp_error *add(walker *w, uint64_t address, uint64_t size, enum mp_chunk_state state)
{
	w->chunks_added++;
	if ((w->chunks_added & ((1u << 20) - 1)) == 0 && w->options->interrupted &&
	    w->options->interrupted(w->options->context))
		return mp_error_new(MP_ERR_INTERRUPTED, "heap walk interrupted");
	return heap_add_chunk(w->h, address, size, state);
}

/* The objects of a class span: each in use unless a list says free. */
static mp_error *emit_class_span(walker *w, const tc_span *s, size_t *parked_at)
{
	tc_class *k = &w->classes[s->size_class];
	uint64_t start = s->page << PAGE_SHIFT, bytes = s->pages << PAGE_SHIFT;
	uint64_t n = bytes / k->size, end = start + n * k->size;
	if (n > w->states_capacity) {
		uint8_t *grown = realloc(w->states, n);
		if (!grown)
			return mp_error_nomem();
		w->states = grown;
		w->states_capacity = n;
	}
	memset(w->states, MP_CHUNK_IN_USE, n);
	/* The span's own free list (the central free list's objects). */
	uint64_t on_span = 0;
	for (uint64_t object = s->objects; object;) {
		if (object < start || object >= end || (object - start) % k->size) {
			heap_problem(w->h, start, "tcmalloc span free list",
				     "span 0x%llx (class %u, %llu-byte objects): entry 0x%llx is not one of its objects",
				     (unsigned long long)start, s->size_class,
				     (unsigned long long)k->size, (unsigned long long)object);
			break;
		}
		uint64_t i = (object - start) / k->size;
		if (w->states[i] != MP_CHUNK_IN_USE) {
			heap_problem(w->h, object, "tcmalloc span free list",
				     "span 0x%llx: object 0x%llx listed twice (a cycle)",
				     (unsigned long long)start, (unsigned long long)object);
			break;
		}
		w->states[i] = MP_CHUNK_FREE;
		on_span++;
		uint64_t next;
		if (!read_word(w, object, &next)) {
			heap_problem(w->h, object, "tcmalloc span free list",
				     "object 0x%llx unreadable", (unsigned long long)object);
			break;
		}
		object = next;
	}
	if (on_span != n - (s->refcount <= n ? s->refcount : n))
		heap_problem(w->h, start, "tcmalloc span",
			     "span 0x%llx (class %u): %llu objects free on it, %llu of %llu handed out by its count",
			     (unsigned long long)start, s->size_class, (unsigned long long)on_span,
			     (unsigned long long)s->refcount, (unsigned long long)n);
	k->central += on_span;
	/* Objects parked in the transfer cache and thread caches. */
	size_t p = *parked_at;
	while (p < w->n_parked && w->parked[p].address < start)
		p++;
	for (; p < w->n_parked && w->parked[p].address < start + bytes; p++) {
		tc_parked *q = &w->parked[p];
		q->matched = 1;
		uint64_t i = (q->address - start) / k->size;
		if (q->size_class != s->size_class || q->address >= end ||
		    (q->address - start) % k->size || w->states[i] != MP_CHUNK_IN_USE) {
			heap_problem(w->h, q->address, q->state == MP_CHUNK_TCACHE
				     ? "tcmalloc thread cache" : "tcmalloc transfer cache",
				     "object 0x%llx listed for class %u is not a free object of span 0x%llx (class %u)",
				     (unsigned long long)q->address, q->size_class,
				     (unsigned long long)start, s->size_class);
			continue;
		}
		w->states[i] = q->state;
	}
	*parked_at = p;
	mp_error *err = NULL;
	for (uint64_t i = 0; i < n && !err; i++) {
		if (w->states[i] == MP_CHUNK_IN_USE) {
			k->in_use++;
			w->in_use_blocks++;
			w->in_use_bytes += k->size;
		}
		err = add(w, start + i * k->size, k->size, (enum mp_chunk_state)w->states[i]);
	}
	/* The bytes after the last object: tcmalloc counts them with the
	 * central cache's free bytes. */
	if (!err && end < start + bytes)
		err = add(w, end, start + bytes - end, MP_CHUNK_FREE);
	k->spans++;
	return err;
}

/* tcmalloc's size classes for a request (nallocx), 2.10's with 8 KiB
 * pages: the smallest class that holds it, or whole pages past 256 KiB. */
static const uint32_t class_sizes_2_10[] = {
	8, 16, 32, 48, 64, 80, 96, 112, 128, 144, 160, 176, 192, 208, 224, 240, 256,
	288, 320, 352, 384, 416, 448, 480, 512, 576, 640, 704, 768, 896, 1024, 1152, 1280,
	1408, 1536, 1792, 2048, 2304, 2560, 2816, 3072, 3328, 4096, 4608, 5120, 6144, 6656,
	8192, 9216, 10240, 12288, 13312, 16384, 20480, 24576, 26624, 32768, 40960, 49152,
	57344, 65536, 73728, 81920, 90112, 98304, 106496, 114688, 122880, 131072, 139264,
	147456, 155648, 163840, 172032, 180224, 188416, 196608, 204800, 212992, 221184,
	229376, 237568, 245760, 253952, 262144,
};

uint64_t mp_tcmalloc_usable_for_request(uint64_t size)
{
	size_t lo = 0, hi = sizeof(class_sizes_2_10) / sizeof(class_sizes_2_10[0]);
	if (size > class_sizes_2_10[hi - 1])
		return (size + (1u << PAGE_SHIFT) - 1) & ~(uint64_t)((1u << PAGE_SHIFT) - 1);
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (class_sizes_2_10[mid] < size)
			lo = mid + 1;
		else
			hi = mid;
	}
	return class_sizes_2_10[lo];
}

/* A sampled allocation (TCMALLOC_SAMPLE_PARAMETER) has a span of its own
 * and its usable size is what nallocx gives the size its stack trace
 * recorded (the StackTrace's first word). */
static uint64_t sampled_usable(walker *w, const tc_span *s)
{
	uint64_t requested;
	uint64_t whole = s->pages << PAGE_SHIFT;
	if (!s->objects || !read_word(w, s->objects, &requested) || requested > whole)
		return whole;
	uint64_t usable = mp_tcmalloc_usable_for_request(requested ? requested : 1);
	return usable <= whole ? usable : whole;
}

static mp_error *emit(walker *w)
{
	size_t parked_at = 0;
	mp_error *err = NULL;
	for (size_t i = 0; i < w->n_spans && !err;) {
		/* A region: spans that follow each other without a gap. */
		size_t j = i + 1;
		while (j < w->n_spans && w->spans[j].page == w->spans[j - 1].page + w->spans[j - 1].pages)
			j++;
		uint64_t start = w->spans[i].page << PAGE_SHIFT;
		uint64_t end = (w->spans[j - 1].page + w->spans[j - 1].pages) << PAGE_SHIFT;
		if ((err = heap_begin_segment(w->h, start, end, -1)))
			break;
		for (; i < j && !err; i++) {
			const tc_span *s = &w->spans[i];
			uint64_t address = s->page << PAGE_SHIFT, bytes = s->pages << PAGE_SHIFT;
			if (s->location == LOC_NORMAL) {
				w->free_bytes += bytes;
				err = add(w, address, bytes, MP_CHUNK_FREE);
			} else if (s->location == LOC_RETURNED) {
				w->unmapped_bytes += bytes;
				err = add(w, address, bytes, MP_CHUNK_FREE);
			} else if (s->size_class) {
				err = emit_class_span(w, s, &parked_at);
			} else {
				uint64_t usable = s->sample ? sampled_usable(w, s) : bytes;
				w->sampled += s->sample;
				w->large_blocks++;
				w->in_use_blocks++;
				w->in_use_bytes += usable;
				err = add(w, address, usable, MP_CHUNK_IN_USE);
				if (!err && usable < bytes)
					err = add(w, address + usable, bytes - usable, MP_CHUNK_FREE);
			}
		}
		if (!err)
			err = heap_end_region(w->h, end);
	}
	for (size_t p = 0; p < w->n_parked && !err; p++)
		if (!w->parked[p].matched)
			heap_problem(w->h, w->parked[p].address,
				     w->parked[p].state == MP_CHUNK_TCACHE ? "tcmalloc thread cache"
									   : "tcmalloc transfer cache",
				     "object 0x%llx (class %u) lies in no span of its class",
				     (unsigned long long)w->parked[p].address, w->parked[p].size_class);
	return err;
}

/* ------------------------------------------------------------- detail */

static mp_error *details(walker *w)
{
	uint64_t central = 0, transfer = 0, thread = 0, waste = 0, spans_bytes = 0;
	for (size_t i = 0; i < w->n_spans; i++)
		spans_bytes += w->spans[i].pages << PAGE_SHIFT;
	mp_error *err = NULL;
	for (size_t cl = 1; cl < w->n_classes && !err; cl++) {
		tc_class *k = &w->classes[cl];
		uint64_t span_bytes = k->pages << PAGE_SHIFT;
		uint64_t tail = span_bytes % k->size;
		central += k->central * k->size + k->spans * tail;
		waste += k->spans * tail;
		transfer += k->transfer * k->size;
		thread += k->thread * k->size;
		if (k->counter != k->central)
			heap_problem(w->h, w->central + cl * w->L->cf_stride, "tcmalloc central free list",
				     "class %zu: %llu objects free on its spans, its counter says %llu", cl,
				     (unsigned long long)k->central, (unsigned long long)k->counter);
		if (k->num_spans != k->spans)
			heap_problem(w->h, w->central + cl * w->L->cf_stride, "tcmalloc central free list",
				     "class %zu: %llu spans found, its count says %llu", cl,
				     (unsigned long long)k->spans, (unsigned long long)k->num_spans);
		if (!k->spans && !k->transfer && !k->thread)
			continue;
		char group[48];
		snprintf(group, sizeof(group), "size class %zu", cl);
		if ((err = heap_add_detail(w->h, group, "object_size", k->size)) ||
		    (err = heap_add_detail(w->h, group, "spans", k->spans)) ||
		    (err = heap_add_detail(w->h, group, "in_use", k->in_use)) ||
		    (err = heap_add_detail(w->h, group, "free_central", k->central)) ||
		    (err = heap_add_detail(w->h, group, "free_transfer", k->transfer)) ||
		    (err = heap_add_detail(w->h, group, "thread_cache", k->thread)))
			break;
	}
	if (err)
		return err;
	if (spans_bytes != w->system_bytes)
		heap_problem(w->h, w->pageheap, "tcmalloc page heap",
			     "spans cover %llu bytes, its system_bytes says %llu",
			     (unsigned long long)spans_bytes, (unsigned long long)w->system_bytes);
	struct { const char *group, *name; uint64_t value; } rows[] = {
		{"totals", "current_allocated_bytes", w->in_use_bytes},
		{"totals", "heap_size", spans_bytes},
		{"totals", "pageheap_free_bytes", w->free_bytes},
		{"totals", "pageheap_unmapped_bytes", w->unmapped_bytes},
		{"totals", "central_cache_free_bytes", central},
		{"totals", "transfer_cache_free_bytes", transfer},
		{"totals", "thread_cache_free_bytes", thread},
		{"blocks", "in_use", w->in_use_blocks},
		{"blocks", "large", w->large_blocks},
		{"blocks", "sampled", w->sampled},
		{"central cache", "span_tail_waste_bytes", waste},
		{"thread caches", "count", w->n_thread_caches},
		{"thread caches", "bytes", w->thread_cache_bytes},
		{"page heap", "free_bytes", w->free_bytes},
		{"page heap", "unmapped_bytes", w->unmapped_bytes},
		{"page heap", "spans", w->n_spans},
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]) && !err; i++)
		err = heap_add_detail(w->h, rows[i].group, rows[i].name, rows[i].value);
	return err;
}

/* ------------------------------------------------------------- entry */

static const mp_module *module_named(mp_target *t, const char *name)
{
	for (size_t i = 0; i < t->n_modules; i++)
		if (strcmp(t->modules[i]->name, name) == 0)
			return t->modules[i];
	return NULL;
}

static const tc_layout *layout_for(const char *version)
{
	for (size_t i = 0; i < sizeof(layouts) / sizeof(layouts[0]); i++)
		for (const char *const *same = layouts[i].same; *same; same++) {
			size_t n = strlen(*same);
			/* "2.9" and its patch releases ("2.9.1"), not "2.90". */
			if (strncmp(version, *same, n) == 0 &&
			    (version[n] == '\0' || version[n] == '.'))
				return &layouts[i];
		}
	return NULL;
}

mp_error *mp_tcmalloc_heap_build(mp_target *target, const mp_allocator *allocator,
				 const mp_heap_options *options, mp_heap *heap)
{
	const tc_layout *L = layout_for(allocator->version);
	if (!L) {
		char known[64] = "";
		for (size_t i = 0; i < sizeof(layouts) / sizeof(layouts[0]); i++)
			for (const char *const *same = layouts[i].same; *same; same++)
				snprintf(known + strlen(known), sizeof(known) - strlen(known), "%s%s",
					 known[0] ? ", " : "", *same);
		return mp_error_new(MP_ERR_ALLOCATOR,
				    "tcmalloc %s detected: memprof reads tcmalloc %s; this version's layout is unknown",
				    allocator->version[0] ? allocator->version : "(version unknown)",
				    known);
	}
	walker w = {.t = target, .h = heap, .options = options, .L = L};
	w.module = module_named(target, allocator->module);
	if (!w.module)
		return mp_error_new(MP_ERR_NOT_FOUND, "tcmalloc's module %s is not in the target",
				    allocator->module);
	heap_set_layout(heap, 0, 3);
	char name[64];
	snprintf(name, sizeof(name), "tcmalloc %s", allocator->version);
	mp_error *err = heap_set_backend_name(heap, name);
	if (!err)
		err = find_roots(&w);
	if (!err)
		err = collect_spans(&w);
	if (!err)
		err = collect_transfer(&w);
	if (!err)
		err = collect_thread_caches(&w);
	if (!err) {
		if (w.n_parked)   /* qsort of NULL is undefined even for 0 items */
			qsort(w.parked, w.n_parked, sizeof(*w.parked), by_address);
		err = emit(&w);
	}
	if (!err)
		err = details(&w);
	if (!err)
		heap_trim_chunks(heap);
	free(w.spans);
	free(w.parked);
	free(w.window);
	free(w.states);
	return err;
}

/* ------------------------------------------------------------ version */

/* gperftools' "gperftools 2.10" banner. */
static bool gperftools_banner(const char *bytes, size_t length, char *out, size_t size)
{
	static const char needle[] = "gperftools ";
	const char *end = bytes + length;
	for (const char *p = bytes; p < end;) {
		const char *at = memmem(p, (size_t)(end - p), needle, sizeof(needle) - 1);
		if (!at)
			return false;
		p = at + sizeof(needle) - 1;
		if (p < end && heap_is_digit(*p) && heap_copy_dotted(p, end, out, size) >= 3 &&
		    strchr(out, '.'))
			return true;
	}
	return false;
}

bool mp_tcmalloc_version(mp_target *t, const mp_module *m, char *out, size_t size)
{
	return heap_search_module(t, m, gperftools_banner, out, size);
}
