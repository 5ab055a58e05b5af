/* Gathering the patterns' input (see pattern_input.h): one pass over the
 * blocks in use puts each in its category (its type from block_types, the
 * class its vtable names, else what its bytes say) and hashes its
 * contents; each typed struct's members that keep elements in blocks of
 * their own are measured against their lengths, and so are the main
 * program's globals.  Everything that needs the target happens here. */
#include "pattern_input.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "array.h"
#include "block_types.h"
#include "block_window.h"
#include "scratch.h"
#include "progress.h"
#include "containers.h"
#include "error.h"
#include "heap/heap_internal.h"
#include "hints.h"
#include "leak_groups.h"
#include "length_rules.h"
#include "snapshot_blocks.h"
#include "struct_layout.h"
#include "target/core_file.h"
#include "target/target_internal.h"

enum {
	HASH_LIMIT = 64 * 1024,        /* larger blocks are not hashed */
};

typedef struct category {
	char *name;
	const mp_type *type;           /* typed categories: the record */
	uint64_t blocks, bytes, overhead;
	uint64_t exact;                /* blocks holding exactly one T */
	uint64_t example;
	size_t plan;                   /* its array plan; SIZE_MAX - 1: not made yet */
} category;

typedef struct builder {
	mp_target *t;
	const mp_heap *h;
	const mp_leaks *leaks;
	const mp_pattern_options *options;
	mp_block_typing typing;
	/* After the first pass: a bit per chunk, typed or not, all the second
	 * pass needs of the typing, which is freed by then (2 bytes a chunk
	 * against an eighth of one). */
	uint64_t *typed;
	/* A bit per chunk: a buffer whose bytes past its length are spare
	 * capacity (overcapacity's), not content to compare; NULL until one
	 * is found. */
	uint64_t *spare;
	category *categories;
	size_t n_categories, categories_capacity;
	size_t *by_name;               /* open addressing: category index + 1 */
	size_t by_name_capacity;
	struct type_slot {
		const mp_type *type;
		size_t category;
	} *by_type;                    /* open addressing on type handles */
	size_t by_type_capacity, by_type_used;
	/* Per vtable pointer (a block's first word): the category of the
	 * class it names, so that each polymorphic block costs a probe, not a
	 * symbol lookup, a demangling and a DWARF lookup. */
	struct vtable_slot {
		uint64_t word;             /* 0: empty */
		size_t category;           /* SIZE_MAX: not made yet */
		bool is_demangled;
	} *by_vtable;
	size_t by_vtable_capacity, by_vtable_used;
	mp_pattern_content *contents;
	size_t n_contents, contents_capacity;
	struct array_plan *array_plans;
	size_t n_array_plans, array_plans_capacity;
	/* The buffer blocks measured and those measured more than once (a
	 * bit per chunk each, made at the first buffer); once the sums are
	 * made, the measurements of the shared ones, taken again
	 * (correct_shared), and the arrays of objects whose elements are
	 * still to measure. */
	uint64_t *buffer_seen, *buffer_shared;
	bool any_shared, correcting;
	struct measured_buffer *measured;
	size_t n_measured, measured_capacity;
	struct element_run *runs;
	size_t n_runs, runs_capacity;
	struct mp_typed_local *locals;          /* taken from the typing */
	size_t n_locals;
	size_t string_category, unknown_category;   /* SIZE_MAX until made */
	mp_pattern_input *out;
	bool nomem;
	bool declared_warned;          /* a container only declared in DWARF was met */
	bool stopped;                  /* interrupted: blocks left unclassified */
} builder;

static uint64_t hash_bytes(const uint8_t *bytes, size_t length)
{
	uint64_t h = 0x9e3779b97f4a7c15ull ^ length;
	size_t i = 0;
	for (; i + 8 <= length; i += 8) {
		uint64_t w;
		memcpy(&w, bytes + i, 8);
		h = (h ^ w) * 0xff51afd7ed558ccdull;
		h ^= h >> 32;
	}
	uint64_t tail = 0;
	memcpy(&tail, bytes + i, length - i);
	h = (h ^ tail) * 0xc4ceb9fe1a85ec53ull;
	return h ^ (h >> 29);
}

static uint64_t hash_name(const char *name)
{
	return hash_bytes((const uint8_t *)name, strlen(name));
}

static bool grow_names(builder *b)
{
	size_t capacity = b->by_name_capacity ? 2 * b->by_name_capacity : 256;
	size_t *table = calloc(capacity, sizeof(*table));
	if (!table)
		return false;
	for (size_t i = 0; i < b->n_categories; i++) {
		size_t j = hash_name(b->categories[i].name) & (capacity - 1);
		while (table[j])
			j = (j + 1) & (capacity - 1);
		table[j] = i + 1;
	}
	free(b->by_name);
	b->by_name = table;
	b->by_name_capacity = capacity;
	return true;
}

/* The category named name (taken: freed when it exists already). */
static size_t category_named(builder *b, char *name, const mp_type *type)
{
	if (2 * (b->n_categories + 1) > b->by_name_capacity && !grow_names(b)) {
		free(name);
		b->nomem = true;
		return SIZE_MAX;
	}
	size_t mask = b->by_name_capacity - 1;
	size_t j = hash_name(name) & mask;
	while (b->by_name[j]) {
		category *c = &b->categories[b->by_name[j] - 1];
		if (strcmp(c->name, name) == 0) {
			free(name);
			if (!c->type && type)
				c->type = mp_type_strip(type);
			return b->by_name[j] - 1;
		}
		j = (j + 1) & mask;
	}
	if (!MP_ARRAY_RESERVE(b->categories, b->categories_capacity, b->n_categories + 1)) {
		free(name);
		b->nomem = true;
		return SIZE_MAX;
	}
	/* Typedefs name the category; the record underneath is measured. */
	b->categories[b->n_categories] = (category){.name = name,
						    .type = type ? mp_type_strip(type) : NULL,
						    .plan = SIZE_MAX - 1};
	b->by_name[j] = ++b->n_categories;
	return b->n_categories - 1;
}

/* The category already made for type, or SIZE_MAX. */
static size_t cached_type_category(const builder *b, const mp_type *type)
{
	if (!b->by_type_capacity)
		return SIZE_MAX;
	size_t mask = b->by_type_capacity - 1;
	for (size_t j = ((uintptr_t)type >> 4) & mask; b->by_type[j].type; j = (j + 1) & mask)
		if (b->by_type[j].type == type)
			return b->by_type[j].category;
	return SIZE_MAX;
}

/* Typed blocks are most blocks: their category is found by type handle
 * without building the name again. */
static size_t category_of_type(builder *b, const mp_type *type, char *name)
{
	if (2 * (b->by_type_used + 1) > b->by_type_capacity) {
		size_t capacity = b->by_type_capacity ? 2 * b->by_type_capacity : 256;
		struct type_slot *table = calloc(capacity, sizeof(*table));
		if (!table) {
			free(name);
			b->nomem = true;
			return SIZE_MAX;
		}
		for (size_t i = 0; i < b->by_type_capacity; i++) {
			if (!b->by_type[i].type)
				continue;
			size_t j = ((uintptr_t)b->by_type[i].type >> 4) & (capacity - 1);
			while (table[j].type)
				j = (j + 1) & (capacity - 1);
			table[j] = b->by_type[i];
		}
		free(b->by_type);
		b->by_type = table;
		b->by_type_capacity = capacity;
	}
	size_t mask = b->by_type_capacity - 1;
	size_t j = ((uintptr_t)type >> 4) & mask;
	while (b->by_type[j].type && b->by_type[j].type != type)
		j = (j + 1) & mask;
	if (b->by_type[j].type) {
		free(name);
		return b->by_type[j].category;
	}
	size_t index = category_named(b, name, type);
	if (index != SIZE_MAX) {
		b->by_type[j] = (struct type_slot){type, index};
		b->by_type_used++;
	}
	return index;
}

static bool all_zero(const uint8_t *bytes, size_t length)
{
	for (size_t i = 0; i < length; i++)
		if (bytes[i])
			return false;
	return true;
}

static void measure_capacity(builder *b, size_t plan, uint64_t address, const uint8_t *bytes,
			     size_t size);
static size_t array_plan_index(builder *b, const mp_type *record);

static struct vtable_slot *vtable_slot(const builder *b, uint64_t word)
{
	size_t mask = b->by_vtable_capacity - 1;
	size_t j = (size_t)((word * 0x9e3779b97f4a7c15ull) >> 20) & mask;
	while (b->by_vtable[j].word && b->by_vtable[j].word != word)
		j = (j + 1) & mask;
	return &b->by_vtable[j];
}

/* The class whose vtable word points into, or NULL when word is no
 * vtable pointer or memory ran out (b->nomem).  Its category is made
 * with the class's DWARF type (its size and layout are what the findings
 * measure, whatever pointer type holds the object) when a block goes in
 * it: an untyped block, or a typed one whose class memprof can demangle
 * (typed blocks are otherwise their DWARF type's, and a category of no
 * block would be listed). */
static const struct vtable_slot *vtable_category(builder *b, uint64_t word, bool typed)
{
	if (!word)
		return NULL;
	struct vtable_slot *slot = b->by_vtable_used ? vtable_slot(b, word) : NULL;
	if (slot && slot->word && (slot->category != SIZE_MAX || typed))
		return slot;
	bool is_demangled, nomem;
	const mp_type *type;
	char *name = mp_vtable_class(b->t, word, &is_demangled, &type, &nomem);
	if (!name || nomem) {
		free(name);
		b->nomem = b->nomem || nomem;
		return NULL;
	}
	size_t index = SIZE_MAX;
	if (!typed || is_demangled) {
		index = category_named(b, name, type);
		if (index == SIZE_MAX)
			return NULL;
	} else {
		free(name);
	}
	if (slot && slot->word) {
		slot->category = index;
		return slot;
	}
	if (2 * (b->by_vtable_used + 1) > b->by_vtable_capacity) {
		size_t capacity = b->by_vtable_capacity ? 2 * b->by_vtable_capacity : 64;
		struct vtable_slot *old = b->by_vtable;
		size_t old_capacity = b->by_vtable_capacity;
		b->by_vtable = calloc(capacity, sizeof(*b->by_vtable));
		if (!b->by_vtable) {
			b->by_vtable = old;
			b->nomem = true;
			return NULL;
		}
		b->by_vtable_capacity = capacity;
		for (size_t i = 0; i < old_capacity; i++)
			if (old[i].word)
				*vtable_slot(b, old[i].word) = old[i];
		free(old);
	}
	slot = vtable_slot(b, word);
	*slot = (struct vtable_slot){word, index, is_demangled};
	b->by_vtable_used++;
	return slot;
}

static size_t classify(builder *b, size_t index, const uint8_t *bytes, size_t length)
{
	const mp_type *type = mp_block_typing_type(&b->typing, index);
	/* Most blocks take a fast path: a typed block whose class has no
	 * vtable is its type's category; a block whose first word is a
	 * vtable pointer seen before is its class's category (a typed one
	 * unless memprof cannot demangle the class: then its DWARF type
	 * names it, as mp_block_category does); an untyped block whose first
	 * word names no vtable is a string or unknown.  Only the rest build
	 * a name. */
	if (!type || mp_type_has_vtable_pointer(type)) {
		uint64_t word = 0;
		if (length >= 8)
			memcpy(&word, bytes, 8);
		const struct vtable_slot *dynamic = vtable_category(b, word, type != NULL);
		if (b->nomem)
			return SIZE_MAX;
		if (dynamic && (!type || dynamic->is_demangled))
			return dynamic->category;
	}
	if (!type) {
		size_t *cached = mp_block_string_length(b->t, bytes, length) ? &b->string_category
							      : &b->unknown_category;
		if (*cached == SIZE_MAX) {
			char *name = strdup(cached == &b->string_category ? "char[] (string)"
									  : "unknown");
			if (!name) {
				b->nomem = true;
				return SIZE_MAX;
			}
			*cached = category_named(b, name, NULL);
		}
		return *cached;
	}
	size_t known = cached_type_category(b, type);
	if (known != SIZE_MAX)
		return known;
	/* Without the block's bytes, its DWARF or shape type's name: the
	 * class its vtable names was taken above. */
	const char *evidence;
	char *name = mp_block_category(b->t, &b->typing, index, bytes, 0, &evidence);
	if (!name)
		name = strdup("unknown");
	if (!name) {
		b->nomem = true;
		return SIZE_MAX;
	}
	return category_of_type(b, type, name);
}

/* The content of a block that duplicate detection compares, in bytes, or
 * 0 when it compares none (too large, empty, all zeros).  Typed blocks
 * compare whole; a string compares up to its NUL (what follows it in the
 * block is old garbage). */
static size_t content_length(const builder *b, size_t i, const uint8_t *bytes, uint64_t usable)
{
	if (usable >= HASH_LIMIT || !usable)
		return 0;
	size_t length = (size_t)usable;
	bool typed = b->typed ? (b->typed[i / 64] >> (i % 64)) & 1
			      : mp_block_typing_type(&b->typing, i) != NULL;
	size_t text = typed ? 0 : mp_block_string_length(b->t, bytes, length);
	size_t content = text ? text : length;
	return all_zero(bytes, content) ? 0 : content;
}

/* Duplicate contents are found without keeping a hash of every block
 * (16 bytes a block, the largest array of a `recommend` of a large heap):
 * the first pass sets bits of two bitmaps, a content's bit seen once and
 * seen twice, and a second pass keeps only the contents whose bit was
 * seen twice, a superset of the repeated ones.  Most contents are unique
 * and never kept, sorted or compared.
 *
 * On a core read by pread (core_file.h), whose reads are safe from any
 * thread, the content passes run beside the categories on a second
 * thread (issue 12: `recommend` of ten million blocks in 3 s): the first
 * pass's hashing while the calling thread sorts blocks into categories,
 * then the second pass and the sort split in two.  Each thread reads with
 * its own window and buffer and writes only its own share of the results,
 * and the shares join in chunk order, so the input is the same as one
 * thread's.  Live targets stay on the calling thread.
 *
 * In the first pass the calling thread also hashes, from the front, the
 * groups of chunks the second has not taken yet from the back (the
 * categories are less work than the hashing): each group is claimed by
 * one thread, and the bits are set by atomic ORs, so whichever thread
 * marks a content, the bitmaps end the same. */
enum { FILTER_BATCH = 4096, MOVE_STEP = 1 << 20, MARK_GROUP_SHIFT = 16 };

typedef struct content_filter {
	uint64_t *seen, *twice;
	size_t bits;                   /* a power of two */
	/* The first pass's contents on either side of split: the second
	 * pass keeps those of [0, split) from kept[0] on and the rest from
	 * kept[counted[0]] on, each thread in its own part of the array. */
	size_t split;
	size_t counted[2];
	mp_pattern_content *kept;
	bool shared;                   /* two threads set bits */
	atomic_uchar *claimed;         /* per group of chunks: a thread marks it */
	size_t n_groups;
} content_filter;

/* One thread's share of a content pass: its chunks and its reads. */
typedef struct content_worker {
	const builder *b;
	const mp_leaks *leaks;
	content_filter *filter;
	size_t begin, end;             /* the second pass's chunk indices */
	size_t side;                   /* the second pass: 0 or 1, its part of kept */
	size_t counted[2];             /* the first pass: contents it saw, per side */
	size_t n_kept;
	bool changed;                  /* more repeated contents than the first pass saw */
	const atomic_bool *stop;       /* set by the calling thread: give up */
	mp_block_window window;
	uint8_t *buffer;               /* HASH_LIMIT bytes, for blocks read by themselves */
	/* Bits are set and tested a batch at a time, in a loop that does
	 * nothing else: each is a cache and TLB miss in bitmaps of tens of
	 * MiB, and only a tight loop keeps many of them in flight (one at a
	 * time between two blocks' hashing, they were half of `recommend`). */
	size_t n_batch;
	struct pending_content {
		uint64_t hash;
		uint32_t length, chunk;
	} batch[FILTER_BATCH];
} content_worker;

static content_worker *content_worker_new(const builder *b, const mp_leaks *leaks,
					  content_filter *filter, const atomic_bool *stop)
{
	content_worker *w = malloc(sizeof(*w));
	if (!w)
		return NULL;
	w->buffer = malloc(HASH_LIMIT);
	if (!w->buffer) {
		free(w);
		return NULL;
	}
	w->b = b;
	w->leaks = leaks;
	w->filter = filter;
	w->begin = w->end = w->side = w->n_kept = w->n_batch = 0;
	w->counted[0] = w->counted[1] = 0;
	w->changed = false;
	w->stop = stop;
	mp_block_window_init(&w->window, b->h, b->t);
	return w;
}

static void content_worker_free(content_worker *w)
{
	if (!w)
		return;
	mp_block_window_free(&w->window);
	free(w->buffer);
	free(w);
}

/* fn(arg) on a thread of its own, when parallel and one can be started;
 * the caller joins it, or runs fn itself when it was not. */
static bool start_thread(pthread_t *id, bool parallel, void *(*fn)(void *), void *arg)
{
	return parallel && pthread_create(id, NULL, fn, arg) == 0;
}

static size_t filter_bit(const content_filter *f, uint64_t hash, size_t length)
{
	return (size_t)(hash ^ length) & (f->bits - 1);
}

/* First pass: each pending content's bit is seen, or seen twice. */
static void filter_mark(content_worker *w)
{
	content_filter *f = w->filter;
	for (size_t i = 0; i < w->n_batch; i++) {
		if (i + 16 < w->n_batch) {
			size_t ahead = filter_bit(f, w->batch[i + 16].hash, w->batch[i + 16].length);
			__builtin_prefetch(&f->seen[ahead >> 6], 1);
			__builtin_prefetch(&f->twice[ahead >> 6], 1);
		}
		size_t k = filter_bit(f, w->batch[i].hash, w->batch[i].length);
		uint64_t bit = 1ull << (k & 63);
		if (f->shared) {
			if (__atomic_fetch_or(&f->seen[k >> 6], bit, __ATOMIC_RELAXED) & bit)
				__atomic_fetch_or(&f->twice[k >> 6], bit, __ATOMIC_RELAXED);
			continue;
		}
		if (f->seen[k >> 6] & bit)
			f->twice[k >> 6] |= bit;
		f->seen[k >> 6] |= bit;
	}
	w->n_batch = 0;
}

/* The bytes of a block, from the window or read by themselves; NULL when
 * they cannot be read. */
static const uint8_t *block_bytes(content_worker *w, uint64_t address, size_t length)
{
	const uint8_t *bytes = mp_block_window_bytes(&w->window, address, length);
	if (bytes)
		return bytes;
	mp_error *err = heap_read(w->b->h, w->b->t, address, w->buffer, length);
	if (err) {
		mp_error_free(err);
		return NULL;
	}
	return w->buffer;
}

/* A block's content into the first pass's bitmaps. */
static void mark_content(content_worker *w, size_t i, const uint8_t *bytes, uint64_t usable)
{
	size_t content = content_length(w->b, i, bytes, usable);
	if (!content)
		return;
	w->batch[w->n_batch++] = (struct pending_content){hash_bytes(bytes, content),
							  (uint32_t)content, (uint32_t)i};
	w->counted[i >= w->filter->split]++;
	if (w->n_batch == FILTER_BATCH)
		filter_mark(w);
}

static bool claim_group(content_filter *f, size_t group)
{
	return !atomic_exchange_explicit(&f->claimed[group], 1, memory_order_relaxed);
}

/* The first pass on a thread of its own, beside scan_blocks: the groups
 * of chunks from the last down, until one is the calling thread's. */
static void *mark_groups(void *arg)
{
	content_worker *w = arg;
	const mp_heap *h = w->b->h;
	for (size_t g = w->filter->n_groups; g-- > 0;) {
		if (atomic_load_explicit(w->stop, memory_order_relaxed) || !claim_group(w->filter, g))
			break;
		size_t end = (g + 1) << MARK_GROUP_SHIFT;
		for (size_t i = g << MARK_GROUP_SHIFT; i < end && i < h->n_chunks; i++) {
			if (mp_leaks_kind(w->leaks, i) == MP_LEAK_NOT_A_BLOCK)
				continue;
			const heap_chunk *c = &h->chunks[i];
			uint64_t usable = heap_chunk_usable(h, c);
			if (usable >= HASH_LIMIT || !usable)
				continue;
			const uint8_t *bytes = block_bytes(w, heap_chunk_user(h, c), (size_t)usable);
			if (bytes)
				mark_content(w, i, bytes, usable);
		}
	}
	filter_mark(w);
	return NULL;
}

/* One pass over the blocks in use: categories, and the contents' bits of
 * every block or, when mark_groups runs beside it, of the groups it
 * claims first. */
static void scan_blocks(builder *b, const mp_leaks *leaks, content_worker *w, bool beside,
			atomic_bool *stop)
{
	bool marking = true;
	for (size_t i = 0; i < b->h->n_chunks && !b->nomem; i++) {
		if (beside && marking && (i & ((1u << MARK_GROUP_SHIFT) - 1)) == 0)
			marking = claim_group(w->filter, i >> MARK_GROUP_SHIFT);
		b->out->chunk_kind[i] = (uint8_t)mp_leaks_kind(leaks, i);
		b->out->chunk_class[i] = MP_PATTERN_NO_CLASS;
		if (b->out->chunk_kind[i] == MP_LEAK_NOT_A_BLOCK)
			continue;
		if ((i & 0xffff) == 0)
			mp_progress_update(i);
		if ((i & 0xfffff) == 0 && b->options && b->options->interrupted &&
		    b->options->interrupted(b->options->context)) {
			b->stopped = true;
			break;
		}
		const heap_chunk *c = &b->h->chunks[i];
		uint64_t usable = heap_chunk_usable(b->h, c);
		uint64_t address = heap_chunk_user(b->h, c);
		size_t length = usable < HASH_LIMIT ? (size_t)usable : 64;
		const uint8_t *bytes = block_bytes(w, address, length);
		if (!bytes) {
			b->out->partial = true;
			continue;
		}
		size_t index = classify(b, i, bytes, length < 64 ? length : 64);
		if (index == SIZE_MAX)
			break;
		b->out->chunk_class[i] = (uint32_t)index;
		if (b->out->chunk_hash)
			b->out->chunk_hash[i] = mp_block_content_hash(bytes, length, usable);
		category *cat = &b->categories[index];
		cat->blocks++;
		cat->bytes += usable;
		cat->overhead += heap_chunk_size(c) - usable;
		if (!cat->example)
			cat->example = address;
		if (cat->type && usable == heap_usable_for_request(b->h, mp_type_size(cat->type)))
			cat->exact++;
		if (cat->type && (mp_type_kind(cat->type) == MP_TYPE_STRUCT ||
				  mp_type_kind(cat->type) == MP_TYPE_CLASS)) {
			if (cat->plan == SIZE_MAX - 1)
				cat->plan = array_plan_index(b, cat->type);
			measure_capacity(b, cat->plan, address, bytes, length);
		}
		b->out->in_use_blocks++;
		b->out->in_use_bytes += usable;
		if (marking)
			mark_content(w, i, bytes, usable);
	}
	filter_mark(w);
	/* The marking thread stops with this one. */
	if (b->nomem || b->stopped)
		atomic_store(stop, true);
}

/* Second pass: the pending contents whose bit was seen twice are kept, in
 * the worker's part of the array. */
static void filter_keep(content_worker *w)
{
	content_filter *f = w->filter;
	size_t room = f->counted[w->side];
	mp_pattern_content *part = f->kept + (w->side ? f->counted[0] : 0);
	for (size_t i = 0; i < w->n_batch; i++) {
		if (i + 16 < w->n_batch)
			__builtin_prefetch(&f->twice[filter_bit(f, w->batch[i + 16].hash,
								w->batch[i + 16].length) >> 6]);
		size_t k = filter_bit(f, w->batch[i].hash, w->batch[i].length);
		if (!(f->twice[k >> 6] & (1ull << (k & 63))))
			continue;
		/* Only a target whose bytes changed between the passes has more. */
		if (w->n_kept == room) {
			w->changed = true;
			break;
		}
		part[w->n_kept++] = (mp_pattern_content){w->batch[i].hash, w->batch[i].length,
							 w->batch[i].chunk};
	}
	w->n_batch = 0;
}

/* The second pass over the worker's chunks: the contents whose bit was
 * seen twice, in chunk order. */
static void *keep_range(void *arg)
{
	content_worker *w = arg;
	const builder *b = w->b;
	for (size_t i = w->begin; i < w->end; i++) {
		if (b->out->chunk_class[i] == MP_PATTERN_NO_CLASS)
			continue;
		const heap_chunk *c = &b->h->chunks[i];
		uint64_t usable = heap_chunk_usable(b->h, c);
		if (usable >= HASH_LIMIT || !usable)
			continue;
		const uint8_t *bytes = block_bytes(w, heap_chunk_user(b->h, c), (size_t)usable);
		size_t content = bytes ? content_length(b, i, bytes, usable) : 0;
		if (!content)
			continue;
		w->batch[w->n_batch++] = (struct pending_content){
			hash_bytes(bytes, content), (uint32_t)content, (uint32_t)i};
		if (w->n_batch == FILTER_BATCH)
			filter_keep(w);
	}
	filter_keep(w);
	return NULL;
}

/* The second pass, its halves on two threads when parallel: the
 * repeated contents in chunk order, in b->contents. */
static void keep_repeated(builder *b, content_filter *filter, content_worker *workers[2],
			  bool parallel)
{
	/* Room for every content the first pass saw, mapped at once: only
	 * its pages written are resident, it never grows by copies (which
	 * left the old copies resident), and the pages the second half
	 * leaves when it moves are given back. */
	size_t capacity = filter->counted[0] + filter->counted[1];
	size_t bytes = (capacity ? capacity : 1) * sizeof(*filter->kept);
	filter->kept = mp_scratch_alloc(bytes);
	if (!filter->kept) {
		b->nomem = true;
		return;
	}
	/* Written in two runs and read in order: huge pages would only round
	 * each run's resident memory up by as much as 2 MiB. */
	madvise(filter->kept, bytes, MADV_NOHUGEPAGE);
	for (size_t side = 0; side < 2; side++) {
		content_worker *w = workers[side];
		w->begin = side ? filter->split : 0;
		w->end = side ? b->h->n_chunks : filter->split;
		w->side = side;
		w->n_kept = 0;
		w->n_batch = 0;
	}
	pthread_t second;
	bool started = start_thread(&second, parallel, keep_range, workers[1]);
	keep_range(workers[0]);
	if (started)
		pthread_join(second, NULL);
	else
		keep_range(workers[1]);
	/* The second half moves to follow the first a step at a time, and
	 * each step gives back the pages it has left, which lie past the
	 * moved half's end: its pages are never resident twice over. */
	size_t moved = workers[1]->n_kept * sizeof(*filter->kept);
	uint8_t *from = (uint8_t *)(filter->kept + filter->counted[0]);
	uint8_t *to = (uint8_t *)(filter->kept + workers[0]->n_kept);
	uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
	uintptr_t first = ((uintptr_t)(to + moved) + page - 1) & ~(page - 1);
	if (first < (uintptr_t)from)
		first = ((uintptr_t)from + page - 1) & ~(page - 1);
	for (size_t done = 0; done < moved; done += MOVE_STEP) {
		size_t step = moved - done < MOVE_STEP ? moved - done : MOVE_STEP;
		memmove(to + done, from + done, step);
		uintptr_t last = (uintptr_t)(from + done + step) & ~(page - 1);
		if (last > first) {
			madvise((void *)first, last - first, MADV_DONTNEED);
			first = last;
		}
	}
	b->contents = filter->kept;
	b->contents_capacity = capacity;
	b->n_contents = workers[0]->n_kept + workers[1]->n_kept;
	filter->kept = NULL;
	if (workers[0]->changed || workers[1]->changed)
		b->out->partial = true;
}

/* ----------------------------------------------------------- capacity */

/* Where an object of a record type keeps elements it may overallocate:
 * a pointer member used as an array with a length sibling (C), or a
 * container of the registry with one buffer (std::vector, std::string,
 * Vec, String), inline or in nested structs.  The elements past the
 * length are capacity nobody uses. */
typedef struct array_member {
	uint64_t pointer_offset, length_offset, length_size, element_size;
	const mp_container_class *container;   /* NULL: a C pointer and length */
	const mp_type *container_type;
	char *name;                            /* member path, "a.b" */
	uint64_t fixed_length;                 /* a hint's constant (length_size 0) */
	const mp_type *element;                /* a C pointer's element type, stripped */
} array_member;

typedef struct array_plan {
	const mp_type *type;
	array_member *members;
	size_t count;
	struct overcapacity {
		uint64_t blocks, bytes, wasted, example;
	} *sums;                       /* per member */
} array_plan;

enum { PLAN_MEMBERS = 256, PLAN_DEPTH = 4 };

/* Pointer members to non-char elements: strings are not arrays. */
static bool array_pointer(const mp_type_member *m, uint64_t *element_size,
			  const mp_type **element_type)
{
	const mp_type *mt = mp_type_strip(m->type);
	if (!m->name || !mt || mp_type_kind(mt) != MP_TYPE_POINTER || m->bit_size)
		return false;
	const mp_type *element = mp_type_strip(mp_type_target(mt));
	if (!element || mp_type_kind(element) == MP_TYPE_VOID || mp_type_kind(element) == MP_TYPE_FUNCTION)
		return false;
	*element_size = mp_type_size(element);
	if (element_type)
		*element_type = element;
	return *element_size > 1;
}

static bool add_member(array_plan *p, array_member member)
{
	if (!member.name)
		return false;
	if (p->count == PLAN_MEMBERS) {
		free(member.name);
		return true;
	}
	array_member *grown = realloc(p->members, (p->count + 1) * sizeof(*grown));
	if (!grown) {
		free(member.name);
		return false;
	}
	p->members = grown;
	p->members[p->count++] = member;
	return true;
}

static char *member_path(const char *prefix, const char *name)
{
	char *path = NULL;
	if (asprintf(&path, "%s%s%s", prefix, prefix[0] ? "." : "", name ? name : "?") < 0)
		return NULL;
	return path;
}

/* A hint on member of st (--hints, EXE.memprof-hints: docs/logical.md),
 * or NULL. */
static const mp_hint *member_hint(const mp_hints *hints, const mp_type *st, const char *member)
{
	if (!hints || !member)
		return NULL;
	char key[256];
	mp_hints_type_key(mp_type_name(st), key, sizeof(key));
	return mp_hints_find(hints, key, member);
}

/* Whether a pointer member is no array of this object's: a hint says it is
 * a string, borrowed (owned elsewhere) or an intrusive link. */
static bool hinted_away(const mp_hint *hint)
{
	return hint && (hint->flags & (MP_HINT_STRING | MP_HINT_BORROWED | MP_HINT_LINK));
}

/* The record's members, flattened through inline structs (a work list
 * bounded in depth and members): containers where the registry knows
 * them, C arrays with a length sibling in each struct or a length hint. */
/* A container type the debug info only declares (no size, no members;
 * clang leaves types a library instantiates explicitly so) has buffers
 * that cannot be read: said once, not skipped silently. */
static bool declared_only(builder *b, const mp_type *type)
{
	if (mp_container_object_size(type))
		return false;
	if (!b->declared_warned)
		mp_target_warn(b->t, "%s is only declared in the debug info (its definition is in "
			       "a library's debug info, not loaded): its buffers are not measured",
			       mp_type_name(type));
	b->declared_warned = true;
	return true;
}

static bool build_array_plan(builder *b, array_plan *p, const mp_type *record)
{
	const mp_hints *hints = b->t->hints;
	p->type = record;
	struct pending {
		const mp_type *type;
		uint64_t offset;
		unsigned depth;
		char *path;
	} work[PLAN_MEMBERS];
	size_t n_work = 0;
	bool ok = true;
	const mp_container_class *self = mp_container_class_of(record);
	if (self && self->buffer && declared_only(b, record))
		return (p->sums = calloc(1, sizeof(*p->sums))) != NULL;
	if (self && self->buffer)
		return add_member(p, (array_member){0, 0, 0, 0, self, record, strdup(""), 0, NULL}) &&
		       (p->sums = calloc(1, sizeof(*p->sums))) != NULL;
	work[n_work++] = (struct pending){record, 0, 0, strdup("")};
	while (n_work && ok) {
		struct pending item = work[--n_work];
		if (!item.path) {
			ok = false;
			break;
		}
		const mp_type *st = item.type;
		/* A node of a map, list or unordered container keeps its value
		 * where the plan sees no struct (libstdc++'s _M_storage
		 * bytes): the value stands for the node's members. */
		uint64_t value_offset;
		const mp_type *value = mp_container_node_value(st, &value_offset);
		if (value) {
			const mp_container_class *c = mp_container_class_of(value);
			enum mp_type_kind kind = mp_type_kind(value);
			if (c && c->buffer)
				ok = add_member(p, (array_member){item.offset + value_offset, 0, 0, 0,
								  c, value, strdup(item.path), 0,
								  NULL});
			else if (!c && (kind == MP_TYPE_STRUCT || kind == MP_TYPE_CLASS))
				work[n_work++] = (struct pending){value, item.offset + value_offset,
								  item.depth, strdup(item.path)};
			free(item.path);
			continue;
		}
		/* The generic len/count goes to the one pointer that can take
		 * it (length_rules.h; the logical walk also checks blocks, a
		 * plan per type cannot). */
		size_t pointers = 0;
		for (size_t i = 0; i < mp_type_member_count(st); i++) {
			const mp_type_member *m = mp_type_member_at(st, i);
			const mp_hint *hint = member_hint(hints, st, m->name);
			uint64_t element_size;
			if (array_pointer(m, &element_size, NULL) && mp_length_candidate(st, m) &&
			    !hinted_away(hint) && !(hint && (hint->flags & MP_HINT_LENGTH)))
				pointers++;
		}
		for (size_t i = 0; i < mp_type_member_count(st) && ok; i++) {
			const mp_type_member *m = mp_type_member_at(st, i);
			const mp_type *mt = mp_type_strip(m->type);
			uint64_t element_size;
			const mp_type *element;
			if (m->bit_size || m->is_virtual_base || !mt)
				continue;
			if (array_pointer(m, &element_size, &element)) {
				const mp_hint *hint = member_hint(hints, st, m->name);
				if (hinted_away(hint))
					continue;
				if (hint && (hint->flags & MP_HINT_LENGTH)) {
					const mp_type_member *field = hint->length_field
						? mp_length_member(st, hint->length_field) : NULL;
					if (hint->length_field && !field)
						continue;   /* the walk warns about it */
					ok = add_member(p, (array_member){
						item.offset + m->offset,
						field ? item.offset + field->offset : 0,
						field ? field->size : 0, element_size, NULL, NULL,
						member_path(item.path, m->name),
						field ? 0 : hint->length_count, element});
					continue;
				}
				const mp_type_member *length = mp_length_sibling(st, m->name);
				if (!length && pointers == 1 && mp_length_candidate(st, m))
					length = mp_length_generic(st);
				if (length)
					ok = add_member(p, (array_member){
						item.offset + m->offset, item.offset + length->offset,
						length->size, element_size, NULL, NULL,
						member_path(item.path, m->name), 0, element});
				continue;
			}
			if (mp_type_kind(mt) != MP_TYPE_STRUCT && mp_type_kind(mt) != MP_TYPE_CLASS)
				continue;
			const mp_container_class *c = mp_container_class_of(mt);
			if (c && c->buffer && declared_only(b, mt))
				continue;
			if (c && c->buffer) {
				ok = add_member(p, (array_member){item.offset + m->offset, 0, 0, 0, c, mt,
								  member_path(item.path, m->name), 0,
								  NULL});
			} else if (!c && item.depth + 1 < PLAN_DEPTH && n_work < PLAN_MEMBERS) {
				work[n_work++] = (struct pending){mt, item.offset + m->offset,
								  item.depth + 1,
								  m->is_base ? strdup(item.path)
									     : member_path(item.path, m->name)};
			}
		}
		free(item.path);
	}
	while (n_work)
		free(work[--n_work].path);
	p->sums = calloc(p->count ? p->count : 1, sizeof(*p->sums));
	return ok && p->sums != NULL;
}

static size_t array_plan_index(builder *b, const mp_type *record)
{
	for (size_t i = 0; i < b->n_array_plans; i++)
		if (b->array_plans[i].type == record)
			return i;
	if (!MP_ARRAY_RESERVE(b->array_plans, b->array_plans_capacity, b->n_array_plans + 1)) {
		b->nomem = true;
		return SIZE_MAX;
	}
	array_plan *p = &b->array_plans[b->n_array_plans++];
	memset(p, 0, sizeof(*p));
	if (!build_array_plan(b, p, record))
		b->nomem = true;
	return b->n_array_plans - 1;
}

/* One buffer block measured for one member of one object.  A block can
 * be measured more than once: two structs viewing one buffer, a local
 * and the copy of it another frame holds, the first element of an array
 * measured as its block's first object and as an element.  It counts
 * once, with the largest use any of them makes of it (correct_shared). */
typedef struct measured_buffer {
	uint64_t used;
	uint32_t chunk;
	uint32_t slot;                 /* plan << 8 | member (PLAN_MEMBERS is 256) */
} measured_buffer;

/* The live elements of a measured buffer whose type keeps buffers of its
 * own (std::vector<std::string>, Vec<Vec<T>>, struct obj *objs with a
 * length): count objects of the plan's type from address. */
typedef struct element_run {
	uint64_t address, count;
	size_t plan;
	size_t chunk;                  /* the buffer's, until its first element is looked at */
} element_run;

/* The buffer one member of one object points to, what it uses of it and
 * its elements' type; false when the member holds no heap buffer of its
 * own. */
static bool member_buffer(const array_member *m, uint64_t address, const uint8_t *bytes,
			  size_t size, uint64_t *data, uint64_t *used, const mp_type **element)
{
	if (m->container) {
		uint64_t object = mp_container_object_size(m->container_type);
		mp_container_buffer buffer;
		if (m->pointer_offset + object > size ||
		    !m->container->buffer(m->container_type, address + m->pointer_offset,
					  bytes + m->pointer_offset, (size_t)object, &buffer) ||
		    !buffer.data)
			return false;
		*data = buffer.data;
		*used = buffer.length * buffer.element_size;
		*element = buffer.element;
		return true;
	}
	if (m->pointer_offset + 8 > size || m->length_offset + m->length_size > size)
		return false;
	uint64_t length = m->fixed_length;
	memcpy(data, bytes + m->pointer_offset, 8);
	if (m->length_size)
		memcpy(&length, bytes + m->length_offset, m->length_size);
	*used = length * m->element_size;
	*element = m->element;
	/* A length past what a block can hold is not this block's length. */
	return *data && length <= UINT64_MAX / (m->element_size ? m->element_size : 1);
}

/* The elements of a buffer measured for the first time, when their type
 * has buffers to measure: each block's elements are queued once, so the
 * runs are bounded by the heap's blocks. */
static void queue_elements(builder *b, const mp_type *element, size_t chunk, uint64_t data,
			   uint64_t used)
{
	if (!element || (mp_type_kind(element) != MP_TYPE_STRUCT &&
			 mp_type_kind(element) != MP_TYPE_CLASS))
		return;
	uint64_t size = mp_container_object_size(element);
	if (!size || size > HASH_LIMIT || used < size)
		return;
	size_t plan = array_plan_index(b, element);
	if (plan == SIZE_MAX || !b->array_plans[plan].count)
		return;
	if (!MP_ARRAY_RESERVE(b->runs, b->runs_capacity, b->n_runs + 1)) {
		b->nomem = true;
		return;
	}
	b->runs[b->n_runs++] = (element_run){data, used / size, plan, chunk};
}

/* A measured buffer into its member's sums, or out of them (sign -1). */
static void add_buffer(builder *b, const measured_buffer *m, int sign)
{
	struct overcapacity *sum = &b->array_plans[m->slot >> 8].sums[m->slot & 0xff];
	const heap_chunk *c = &b->h->chunks[m->chunk];
	uint64_t usable = heap_chunk_usable(b->h, c);
	sum->blocks += (uint64_t)(int64_t)sign;
	sum->bytes += (uint64_t)(int64_t)sign * usable;
	sum->wasted += (uint64_t)(int64_t)sign * (usable - m->used);
	if (!sum->example)
		sum->example = heap_chunk_user(b->h, c);
}

/* Each measurement goes to its member's sums at once; a block measured
 * again is marked shared.  Taken again to correct the shared ones, the
 * same measurements in the same order (the elements queued at the same
 * first sight) take theirs back out and keep them. */
static void record_buffer(builder *b, size_t plan, size_t member, size_t chunk, uint64_t used,
			  const mp_type *element, uint64_t data)
{
	if (!b->buffer_seen) {
		size_t bytes = (b->h->n_chunks / 64 + 1) * sizeof(uint64_t);
		b->buffer_seen = mp_scratch_alloc(bytes);
		b->buffer_shared = mp_scratch_alloc(bytes);
		if (!b->buffer_seen || !b->buffer_shared) {
			b->nomem = true;
			return;
		}
	}
	if (plan >= (1u << 24))
		return;
	measured_buffer m = {used, (uint32_t)chunk, (uint32_t)(plan << 8 | member)};
	uint64_t bit = 1ull << (chunk % 64);
	bool seen = b->buffer_seen[chunk / 64] & bit;
	if (!b->correcting) {
		add_buffer(b, &m, 1);
		if (seen) {
			b->buffer_shared[chunk / 64] |= bit;
			b->any_shared = true;
		}
	} else if (b->buffer_shared[chunk / 64] & bit) {
		if (!MP_ARRAY_RESERVE(b->measured, b->measured_capacity, b->n_measured + 1)) {
			b->nomem = true;
			return;
		}
		add_buffer(b, &m, -1);
		b->measured[b->n_measured++] = m;
	}
	if (!seen) {
		b->buffer_seen[chunk / 64] |= bit;
		queue_elements(b, element, chunk, data, used);
	}
}

/* The object of record at the start of bytes: each member's block
 * against what its length uses.  A heap block's first object only: past
 * it, a block holding an array of them may hold unused capacity whose
 * stale bytes look like live members (the live elements of a measured
 * buffer are measured as its elements). */
static void measure_capacity(builder *b, size_t plan, uint64_t address, const uint8_t *bytes,
			     size_t size)
{
	if (plan == SIZE_MAX || plan >= b->n_array_plans || !b->array_plans[plan].count)
		return;
	/* queue_elements may add plans, moving this one. */
	const array_member *members = b->array_plans[plan].members;
	size_t count = b->array_plans[plan].count;
	uint64_t object = mp_container_object_size(b->array_plans[plan].type);
	if (!object || object > size)
		return;
	for (size_t i = 0; i < count && !b->nomem; i++) {
		uint64_t data, used;
		const mp_type *element;
		if (!member_buffer(&members[i], address, bytes, (size_t)object, &data, &used,
				   &element))
			continue;
		ptrdiff_t index = mp_heap_find_chunk(b->h, data);
		if (index < 0 || heap_chunk_user(b->h, &b->h->chunks[index]) != data)
			continue;
		/* A lost buffer's whole chunk is the leak's savings. */
		enum mp_leak_kind kind = mp_leaks_kind(b->leaks, (size_t)index);
		if (kind == MP_LEAK_DEFINITE || kind == MP_LEAK_INDIRECT)
			continue;
		uint64_t usable = heap_chunk_usable(b->h, &b->h->chunks[index]);
		if (used > usable)
			continue;
		if (usable - used > MP_PATTERN_ROUNDING) {
			if (!b->spare)
				b->spare = calloc(b->h->n_chunks / 64 + 1, sizeof(*b->spare));
			if (!b->spare) {
				b->nomem = true;
				return;
			}
			b->spare[index / 64] |= 1ull << (index % 64);
		}
		record_buffer(b, plan, i, (size_t)index, used, element, data);
	}
}

/* The plan scan_blocks measured the first object of the chunk with (a
 * block of a category with buffers, the object within the bytes it
 * read), or SIZE_MAX. */
static size_t scanned_plan(const builder *b, size_t chunk)
{
	uint32_t index = b->out->chunk_class[chunk];
	if (index == MP_PATTERN_NO_CLASS)
		return SIZE_MAX;
	size_t plan = b->categories[index].plan;
	if (plan >= b->n_array_plans || !b->array_plans[plan].count)
		return SIZE_MAX;
	uint64_t usable = heap_chunk_usable(b->h, &b->h->chunks[chunk]);
	uint64_t length = usable < HASH_LIMIT ? usable : 64;
	uint64_t object = mp_container_object_size(b->array_plans[plan].type);
	return object && object <= length ? plan : SIZE_MAX;
}

/* The queued elements, as many as fit HASH_LIMIT bytes a read.  The
 * first element of a block the scan measured as its first object is
 * not measured twice. */
static void measure_elements(builder *b)
{
	uint8_t *buffer = b->n_runs ? malloc(HASH_LIMIT) : NULL;
	if (b->n_runs && !buffer)
		b->nomem = true;
	while (b->n_runs && !b->nomem) {
		element_run *run = &b->runs[b->n_runs - 1];
		size_t plan = run->plan;
		if (run->chunk != SIZE_MAX) {
			if (scanned_plan(b, run->chunk) == plan) {
				run->address += mp_container_object_size(b->array_plans[plan].type);
				run->count--;
			}
			run->chunk = SIZE_MAX;
			if (!run->count) {
				b->n_runs--;
				continue;
			}
		}
		uint64_t size = mp_container_object_size(b->array_plans[plan].type);
		uint64_t n = HASH_LIMIT / size < run->count ? HASH_LIMIT / size : run->count;
		uint64_t address = run->address;
		run->address += n * size;
		run->count -= n;
		if (!run->count)
			b->n_runs--;
		mp_error *err = mp_target_read(b->t, address, buffer, (size_t)(n * size));
		if (err) {
			mp_error_free(err);
			b->out->partial = true;
			continue;
		}
		for (uint64_t k = 0; k < n && !b->nomem; k++)
			measure_capacity(b, plan, address + k * size, buffer + k * size, (size_t)size);
	}
	free(buffer);
}

/* An object outside the heap's blocks, a global or a stack local. */
static void measure_object(builder *b, const mp_type *type, uint64_t address)
{
	const mp_type *st = mp_type_strip(type);
	if (!st || (mp_type_kind(st) != MP_TYPE_STRUCT && mp_type_kind(st) != MP_TYPE_CLASS) ||
	    mp_type_size(st) > HASH_LIMIT)
		return;
	size_t plan = array_plan_index(b, st);
	if (plan == SIZE_MAX || !b->array_plans[plan].count)
		return;
	size_t size = (size_t)mp_container_object_size(st);
	uint8_t *bytes = malloc(size ? size : 1);
	if (!bytes) {
		b->nomem = true;
		return;
	}
	mp_error *err = mp_target_read(b->t, address, bytes, size);
	if (!err)
		measure_capacity(b, plan, address, bytes, size);
	mp_error_free(err);
	free(bytes);
}

static bool measure_global(void *context, const mp_variable *v)
{
	builder *b = context;
	measure_object(b, v->type, v->address);
	return !b->nomem;
}

static int shared_order(const void *x, const void *y)
{
	const measured_buffer *a = x, *c = y;
	if (a->chunk != c->chunk)
		return a->chunk < c->chunk ? -1 : 1;
	if (a->slot != c->slot)
		return a->slot < c->slot ? -1 : 1;
	return (a->used > c->used) - (a->used < c->used);
}

/* The heap's blocks the scan measured, again, read as it read them. */
static void remeasure_blocks(builder *b)
{
	mp_block_window window;
	mp_block_window_init(&window, b->h, b->t);
	uint8_t *buffer = malloc(HASH_LIMIT);
	if (!buffer)
		b->nomem = true;
	for (size_t i = 0; i < b->h->n_chunks && !b->nomem; i++) {
		size_t plan = scanned_plan(b, i);
		if (plan == SIZE_MAX)
			continue;
		const heap_chunk *c = &b->h->chunks[i];
		uint64_t address = heap_chunk_user(b->h, c);
		size_t object = (size_t)mp_container_object_size(b->array_plans[plan].type);
		const uint8_t *bytes = mp_block_window_bytes(&window, address, object);
		if (!bytes) {
			mp_error *err = heap_read(b->h, b->t, address, buffer, object);
			bytes = err ? NULL : buffer;
			mp_error_free(err);
		}
		if (bytes)
			measure_capacity(b, plan, address, bytes, object);
	}
	free(buffer);
	mp_block_window_free(&window);
}

/* The buffers outside the heap's blocks: the main program's globals and
 * the stack locals the typing found; then the elements queued. */
static void measure_roots(builder *b)
{
	const mp_module *main_module = NULL;
	for (size_t i = 0; i < mp_target_module_count(b->t); i++)
		if (mp_module_is_main(mp_target_module(b->t, i)))
			main_module = mp_target_module(b->t, i);
	if (main_module) {
		mp_error *err = mp_type_list_variables(b->t, main_module, measure_global, b);
		if (err) {
			b->nomem = b->nomem || mp_error_code(err) == MP_ERR_NOMEM;
			mp_error_free(err);
		}
	}
	for (size_t i = 0; i < b->n_locals && !b->nomem; i++)
		measure_object(b, b->locals[i].type, b->locals[i].address);
	measure_elements(b);
}

/* Shared blocks once each: every measurement is taken again in the
 * order first made, those of shared blocks come out of the sums, and
 * each shared block goes back in once, for the member that uses most
 * of it (of those that use as much, the first plan and member made).
 * Only the measurements of shared blocks are kept, and only when some
 * block was shared: most heaps pay nothing. */
static void correct_shared(builder *b)
{
	b->correcting = true;
	memset(b->buffer_seen, 0, (b->h->n_chunks / 64 + 1) * sizeof(uint64_t));
	remeasure_blocks(b);
	measure_roots(b);
	if (b->nomem)
		return;
	qsort(b->measured, b->n_measured, sizeof(*b->measured), shared_order);
	for (size_t i = 0; i < b->n_measured;) {
		size_t best = i, j = i + 1;
		for (; j < b->n_measured && b->measured[j].chunk == b->measured[i].chunk; j++)
			if (b->measured[j].used > b->measured[best].used)
				best = j;
		add_buffer(b, &b->measured[best], 1);
		i = j;
	}
}

static bool content_before(const mp_pattern_content *a, const mp_pattern_content *c)
{
	if (a->hash != c->hash)
		return a->hash < c->hash;
	if (a->length != c->length)
		return a->length < c->length;
	return a->chunk < c->chunk;
}

/* Sorts contents by (hash, length, chunk) in place: qsort's scratch copy
 * of a million contents was the peak of `recommend` on a large heap, and
 * its comparator calls most of its time.  Quicksort on an explicit stack
 * (the smaller side first, so at most log2(n) entries), the median of
 * three as pivot, insertion sort for short runs; the keys are hashes, and
 * every key differs (chunks do). */
static void sort_contents(mp_pattern_content *items, size_t n)
{
	struct range {
		size_t lo, hi;          /* [lo, hi) */
	} stack[64];
	size_t depth = 0;
	stack[depth++] = (struct range){0, n};
	while (depth) {
		struct range r = stack[--depth];
		while (r.hi - r.lo > 16) {
			size_t mid = r.lo + (r.hi - r.lo) / 2, last = r.hi - 1;
			mp_pattern_content t;
			if (content_before(&items[mid], &items[r.lo]))
				t = items[mid], items[mid] = items[r.lo], items[r.lo] = t;
			if (content_before(&items[last], &items[mid])) {
				t = items[last], items[last] = items[mid], items[mid] = t;
				if (content_before(&items[mid], &items[r.lo]))
					t = items[mid], items[mid] = items[r.lo], items[r.lo] = t;
			}
			mp_pattern_content pivot = items[mid];
			size_t i = r.lo, j = last;
			for (;;) {
				while (content_before(&items[i], &pivot))
					i++;
				while (content_before(&pivot, &items[j]))
					j--;
				if (i >= j)
					break;
				t = items[i], items[i] = items[j], items[j] = t;
				i++;
				j--;
			}
			/* [lo, j] <= pivot <= [j + 1, hi) */
			struct range left = {r.lo, j + 1}, right = {j + 1, r.hi};
			bool left_smaller = left.hi - left.lo < right.hi - right.lo;
			stack[depth++] = left_smaller ? right : left;
			r = left_smaller ? left : right;
		}
		for (size_t i = r.lo + 1; i < r.hi; i++) {
			mp_pattern_content item = items[i];
			size_t k = i;
			for (; k > r.lo && content_before(&item, &items[k - 1]); k--)
				items[k] = items[k - 1];
			items[k] = item;
		}
	}
}

typedef struct sort_job {
	mp_pattern_content *items;
	size_t n;
} sort_job;

static void *run_sort_job(void *arg)
{
	sort_job *job = arg;
	if (job->n > 1)
		sort_contents(job->items, job->n);
	return NULL;
}

/* The contents sorted; in parallel, the hashes below 2^63 are moved
 * first and each side is sorted by a thread of its own. */
static void sort_all_contents(mp_pattern_content *items, size_t n, bool parallel)
{
	size_t low = n;
	if (parallel) {
		size_t lo = 0, hi = n;
		while (lo < hi) {
			if (items[lo].hash >> 63) {
				mp_pattern_content t = items[lo];
				items[lo] = items[--hi];
				items[hi] = t;
			} else {
				lo++;
			}
		}
		low = lo;
	}
	sort_job jobs[2] = {{items, low}, {items + low, n - low}};
	pthread_t second;
	bool started = start_thread(&second, parallel, run_sort_job, &jobs[1]);
	run_sort_job(&jobs[0]);
	if (started)
		pthread_join(second, NULL);
	else
		run_sort_job(&jobs[1]);
}

/* The buffers of the main program's globals and of the stack locals the
 * typing found, the elements of every buffer measured, then the sums of
 * the array plans, as one entry per member. */
static void collect_capacity(builder *b)
{
	measure_roots(b);
	if (!b->nomem && b->any_shared)
		correct_shared(b);
	size_t capacity = 0;
	for (size_t i = 0; i < b->n_array_plans && !b->nomem; i++) {
		const array_plan *p = &b->array_plans[i];
		for (size_t k = 0; k < p->count && !b->nomem; k++) {
			const struct overcapacity *sum = &p->sums[k];
			if (!sum->blocks)
				continue;
			const array_member *m = &p->members[k];
			char *subject = NULL;
			int n;
			if (m->name[0] && m->container)
				n = asprintf(&subject, "%s.%s (%s)", mp_type_name(p->type), m->name,
					     mp_type_name(m->container_type));
			else if (m->name[0])
				n = asprintf(&subject, "%s.%s", mp_type_name(p->type), m->name);
			else
				n = asprintf(&subject, "%s", mp_type_name(p->type));
			if (n < 0 || !MP_ARRAY_RESERVE(b->out->capacity, capacity,
						       b->out->n_capacity + 1)) {
				if (n >= 0)
					free(subject);
				b->nomem = true;
				break;
			}
			b->out->capacity[b->out->n_capacity++] = (mp_pattern_capacity){
				subject, sum->blocks, sum->bytes, sum->wasted, sum->example};
		}
	}
}

/* Buffers with spare capacity are left out of duplicate detection: their
 * bytes past the length are no content (two vectors reserved alike and
 * filled alike compare equal whole), and those bytes are overcapacity's
 * savings; counting the buffers' chunks as duplicates too would save
 * them twice (docs/patterns.md). */
static void drop_spare_contents(builder *b)
{
	size_t kept = 0;
	if (!b->spare)
		return;
	for (size_t i = 0; i < b->n_contents; i++) {
		uint32_t chunk = b->contents[i].chunk;
		if (!((b->spare[chunk / 64] >> (chunk % 64)) & 1))
			b->contents[kept++] = b->contents[i];
	}
	b->n_contents = kept;
}

/* The facts of each category's type the findings use, then the categories
 * become the input's classes. */
static void collect_classes(builder *b)
{
	b->out->classes = calloc(b->n_categories ? b->n_categories : 1, sizeof(*b->out->classes));
	if (!b->out->classes) {
		b->nomem = true;
		return;
	}
	for (size_t k = 0; k < b->n_categories; k++) {
		category *c = &b->categories[k];
		mp_pattern_class *out = &b->out->classes[k];
		*out = (mp_pattern_class){.name = c->name, .blocks = c->blocks, .bytes = c->bytes,
					  .overhead = c->overhead, .exact = c->exact,
					  .example = c->example};
		c->name = NULL;
		b->out->n_classes = k + 1;
		if (!c->type || (mp_type_kind(c->type) != MP_TYPE_STRUCT &&
				 mp_type_kind(c->type) != MP_TYPE_CLASS))
			continue;
		out->record_size = mp_type_size(c->type);
		struct_layout l;
		layout_reorg r = {0};
		mp_error *err = mp_layout_compute(c->type, &l);
		if (!err)
			err = mp_layout_reorganize(&l, &r);
		free(l.slots);
		free(r.blocks);
		if (err) {
			b->nomem = b->nomem || mp_error_code(err) == MP_ERR_NOMEM;
			mp_error_free(err);
			continue;
		}
		if (r.new_size < out->record_size)
			out->reorganized_size = r.new_size;
	}
}

mp_error *mp_pattern_input_gather(mp_target *t, const mp_heap *h, const mp_leaks *leaks,
				  const mp_pattern_options *options, mp_pattern_input *out)
{
	memset(out, 0, sizeof(*out));
	builder b = {.t = t, .h = h, .leaks = leaks, .options = options, .out = out,
		     .string_category = SIZE_MAX, .unknown_category = SIZE_MAX};
	mp_error *err = mp_block_types_infer(t, h, leaks, &b.typing);
	if (err)
		return err;
	out->n_chunks = h->n_chunks;
	out->chunk_class = malloc((h->n_chunks ? h->n_chunks : 1) * sizeof(*out->chunk_class));
	out->chunk_kind = malloc(h->n_chunks ? h->n_chunks : 1);
	bool hashes = options && options->block_hashes;
	if (hashes)
		out->chunk_hash = calloc(h->n_chunks ? h->n_chunks : 1, sizeof(*out->chunk_hash));
	if (!out->chunk_class || !out->chunk_kind || (hashes && !out->chunk_hash))
		b.nomem = true;
	/* Eight bits per block at most: few unique contents share a bit. */
	content_filter *filter = calloc(1, sizeof(*filter));
	atomic_bool stop;
	atomic_init(&stop, false);
	content_worker *workers[2] = {NULL, NULL};
	if (filter) {
		filter->bits = 1 << 16;
		while (filter->bits < 8 * h->n_chunks && filter->bits < ((size_t)1 << 30))
			filter->bits <<= 1;
		filter->seen = mp_scratch_alloc(filter->bits / 8);
		filter->twice = mp_scratch_alloc(filter->bits / 8);
		filter->split = h->n_chunks / 2;
		filter->n_groups = (h->n_chunks >> MARK_GROUP_SHIFT) + 1;
		filter->claimed = calloc(filter->n_groups, sizeof(*filter->claimed));
		workers[0] = content_worker_new(&b, leaks, filter, &stop);
		workers[1] = content_worker_new(&b, leaks, filter, &stop);
	}
	if (!filter || !filter->seen || !filter->twice || !filter->claimed || !workers[0] ||
	    !workers[1])
		b.nomem = true;
	bool parallel = mp_core_file_reads(t) &&
			(options && options->threads ? options->threads > 1
						     : sysconf(_SC_NPROCESSORS_ONLN) > 1);
	if (!b.nomem) {
		mp_progress_begin("patterns", "chunks", h->n_chunks);
		pthread_t marker;
		filter->shared = parallel;
		bool started = start_thread(&marker, parallel, mark_groups, workers[1]);
		if (!started)
			filter->shared = false;
		scan_blocks(&b, leaks, workers[0], started, &stop);
		if (started)
			pthread_join(marker, NULL);
		for (size_t side = 0; side < 2; side++)
			filter->counted[side] = workers[0]->counted[side] + workers[1]->counted[side];
		mp_progress_end();
	}
	if (filter) {
		mp_scratch_free(filter->seen, filter->bits / 8);
		filter->seen = NULL;
	}
	/* The evidence goes on to the snapshot's blocks section. */
	if (hashes && !b.nomem) {
		out->chunk_evidence = malloc(h->n_chunks ? h->n_chunks : 1);
		for (size_t i = 0; out->chunk_evidence && i < h->n_chunks; i++)
			out->chunk_evidence[i] = (uint8_t)mp_block_typing_evidence(&b.typing, i);
		if (!out->chunk_evidence)
			b.nomem = true;
	}
	size_t typed_bytes = (h->n_chunks / 64 + 1) * sizeof(*b.typed);
	b.typed = mp_scratch_alloc(typed_bytes);
	if (!b.typed)
		b.nomem = true;
	for (size_t i = 0; b.typed && i < h->n_chunks; i++)
		if (mp_block_typing_code(&b.typing, i))
			b.typed[i / 64] |= 1ull << (i % 64);
	b.locals = b.typing.locals;
	b.n_locals = b.typing.n_locals;
	b.typing.locals = NULL;
	mp_block_typing_free(&b.typing);
	if (b.stopped || (options && options->interrupted && options->interrupted(options->context))) {
		err = mp_error_new(MP_ERR_INTERRUPTED, "patterns: interrupted");
	} else {
		if (!b.nomem)
			keep_repeated(&b, filter, workers, parallel);
		if (filter) {
			mp_scratch_free(filter->twice, filter->bits / 8);
			filter->twice = NULL;
		}
		mp_scratch_free(b.typed, typed_bytes);
		b.typed = NULL;
		if (!b.nomem)
			sort_all_contents(b.contents, b.n_contents, parallel);
		if (!b.nomem)
			collect_capacity(&b);
		if (!b.nomem)
			drop_spare_contents(&b);
		if (!b.nomem)
			collect_classes(&b);
		if (b.nomem)
			err = mp_error_nomem();
	}
	if (filter) {
		mp_scratch_free(filter->seen, filter->bits / 8);
		mp_scratch_free(filter->twice, filter->bits / 8);
	}
	if (filter)
		free(filter->claimed);
	free(filter);
	content_worker_free(workers[0]);
	content_worker_free(workers[1]);
	mp_scratch_free(b.typed, typed_bytes);
	/* The repeated contents are few: they move to an array of their size. */
	if (b.n_contents && !err) {
		out->contents = malloc(b.n_contents * sizeof(*out->contents));
		if (out->contents) {
			memcpy(out->contents, b.contents, b.n_contents * sizeof(*out->contents));
			out->n_contents = b.n_contents;
		} else {
			err = mp_error_nomem();
		}
	}
	mp_scratch_free(b.contents, (b.contents_capacity ? b.contents_capacity : 1) *
					sizeof(*b.contents));
	for (size_t k = 0; k < b.n_categories; k++)
		free(b.categories[k].name);
	free(b.categories);
	free(b.by_name);
	free(b.by_type);
	free(b.by_vtable);
	free(b.spare);
	for (size_t i = 0; i < b.n_array_plans; i++) {
		for (size_t k = 0; k < b.array_plans[i].count; k++)
			free(b.array_plans[i].members[k].name);
		free(b.array_plans[i].members);
		free(b.array_plans[i].sums);
	}
	free(b.array_plans);
	free(b.measured);
	free(b.runs);
	free(b.locals);
	mp_scratch_free(b.buffer_seen, (h->n_chunks / 64 + 1) * sizeof(uint64_t));
	mp_scratch_free(b.buffer_shared, (h->n_chunks / 64 + 1) * sizeof(uint64_t));
	mp_block_typing_free(&b.typing);
	if (!err)
		err = mp_target_check_alive(t);
	if (err) {
		mp_pattern_input_free(out);
		return err;
	}
	out->partial = out->partial || mp_leaks_partial(leaks);
	return NULL;
}

void mp_pattern_input_free(mp_pattern_input *in)
{
	for (size_t i = 0; i < in->n_classes; i++)
		free(in->classes[i].name);
	free(in->classes);
	free(in->chunk_class);
	free(in->chunk_kind);
	free(in->chunk_hash);
	free(in->chunk_evidence);
	free(in->contents);
	for (size_t i = 0; i < in->n_capacity; i++)
		free(in->capacity[i].subject);
	free(in->capacity);
	memset(in, 0, sizeof(*in));
}
