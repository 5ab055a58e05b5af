/* Patterns of a heap: the findings of `memprof patterns` and `recommend`,
 * computed from the heap's chunk table and what pattern_input.c gathered
 * (categories, per-chunk category and leak kind, repeated contents,
 * container capacities), never from the target itself.  Savings are
 * estimated in chunk terms (what malloc would give back), as
 * docs/patterns.md explains finding by finding. */
#include "patterns.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "array.h"
#include "error.h"
#include "heap/heap_internal.h"

enum {
	SMALL_BLOCK = 64,              /* usable bytes of a "tiny" block */
	SMALL_MIN_BLOCKS = 1000,       /* a pool pays off from this many */
	PAGE = 4096,
	ARENA_BLOAT_MIN = 4,           /* arenas before "many" */
};

const char *mp_impact_of(uint64_t bytes, uint64_t heap_bytes)
{
	/* A share of the heap counts only from a size that matters anywhere:
	 * 200 lost bytes are 100% of a tiny heap and still low. */
	bool quarter = heap_bytes && bytes * 4 >= heap_bytes;
	bool tenth = heap_bytes && bytes * 10 >= heap_bytes;
	bool hundredth = heap_bytes && bytes * 100 >= heap_bytes;
	if (bytes >= (1ull << 30) || (quarter && bytes >= (16ull << 20)))
		return "critical";
	if (bytes >= (100ull << 20) || (tenth && bytes >= (1ull << 20)))
		return "high";
	if (bytes >= (1ull << 20) || (hundredth && bytes >= (64ull << 10)))
		return "medium";
	return "low";
}

typedef struct builder {
	const mp_heap *h;
	const mp_pattern_input *in;
	mp_patterns *out;
	size_t findings_capacity;
	/* A bit per chunk whose whole chunk a finding's savings count (a
	 * lost block, a duplicate copy): the findings after it leave it out,
	 * so that no byte is saved twice (docs/patterns.md). */
	uint64_t *claimed;
	/* Per class, its blocks no finding claimed whole that hold exactly
	 * one instance, and what struct-padding saves of them. */
	struct live_class {
		uint64_t exact, padding;
	} *live;
	bool nomem;
} builder;

static bool claimed(const builder *b, size_t i)
{
	return (b->claimed[i / 64] >> (i % 64)) & 1;
}

static void claim(builder *b, size_t i)
{
	b->claimed[i / 64] |= 1ull << (i % 64);
}

static bool lost(const builder *b, size_t i)
{
	return b->in->chunk_kind[i] == MP_LEAK_DEFINITE || b->in->chunk_kind[i] == MP_LEAK_INDIRECT;
}

static mp_finding *add_finding(builder *b, const char *kind, const char *subject,
			       uint64_t blocks, uint64_t bytes, uint64_t savings)
{
	if (!MP_ARRAY_RESERVE(b->out->findings, b->findings_capacity, b->out->n_findings + 1)) {
		b->nomem = true;
		return NULL;
	}
	mp_finding *f = &b->out->findings[b->out->n_findings];
	memset(f, 0, sizeof(*f));
	f->kind = kind;
	f->subject = strdup(subject);
	if (!f->subject) {
		b->nomem = true;
		return NULL;
	}
	b->out->n_findings++;
	f->blocks = blocks;
	f->bytes = bytes;
	f->savings = savings;
	f->impact = mp_impact_of(savings, b->out->in_use_bytes);
	return f;
}

static void set_detail(builder *b, mp_finding *f, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_detail(builder *b, mp_finding *f, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	if (vasprintf(&f->detail, fmt, ap) < 0) {
		f->detail = NULL;
		b->nomem = true;
	}
	va_end(ap);
}

/* Per category: the blocks whose contents another block repeats.  Keeping
 * one copy of each content saves the chunks of all the others; lost
 * blocks are the leak's, and neither kept nor counted. */
typedef struct duplicate_sum {
	uint64_t blocks, bytes, savings, distinct;
	uint64_t best_count, best_savings;
	size_t best_first;             /* index into contents of the largest set */
} duplicate_sum;

static void find_duplicates(builder *b)
{
	const mp_pattern_input *in = b->in;
	duplicate_sum *sums = calloc(in->n_classes ? in->n_classes : 1, sizeof(*sums));
	if (!sums) {
		b->nomem = true;
		return;
	}
	for (size_t i = 0; i < in->n_contents;) {
		size_t j = i + 1;
		while (j < in->n_contents && in->contents[j].hash == in->contents[i].hash &&
		       in->contents[j].length == in->contents[i].length)
			j++;
		/* The set's first block not lost is the one kept. */
		size_t live = 0, first = j;
		for (size_t k = i; k < j; k++) {
			uint32_t chunk = in->contents[k].chunk;
			if (chunk >= b->h->n_chunks || claimed(b, chunk))
				continue;
			if (!live++)
				first = k;
		}
		uint32_t index = first < j ? in->chunk_class[in->contents[first].chunk]
					   : MP_PATTERN_NO_CLASS;
		if (live >= 2 && index < in->n_classes) {
			duplicate_sum *s = &sums[index];
			uint64_t set_savings = 0, set_bytes = 0;
			for (size_t k = first; k < j; k++) {
				uint32_t chunk = in->contents[k].chunk;
				if (chunk >= b->h->n_chunks || claimed(b, chunk))
					continue;
				const heap_chunk *ck = &b->h->chunks[chunk];
				set_bytes += heap_chunk_usable(b->h, ck);
				if (k > first) {
					set_savings += heap_chunk_size(ck);
					claim(b, chunk);
				}
			}
			s->blocks += live;
			s->bytes += set_bytes;
			s->savings += set_savings;
			s->distinct++;
			if (set_savings > s->best_savings) {
				s->best_savings = set_savings;
				s->best_count = live;
				s->best_first = first;
			}
		}
		i = j;
	}
	for (size_t k = 0; k < in->n_classes && !b->nomem; k++) {
		duplicate_sum *s = &sums[k];
		if (!s->savings || s->savings < b->out->noise_floor)
			continue;
		mp_finding *f = add_finding(b, "duplicate-content", in->classes[k].name,
					    s->blocks, s->bytes, s->savings);
		if (!f)
			break;
		set_detail(b, f, "%llu blocks hold only %llu distinct contents; the most copied one is in %llu blocks",
			   (unsigned long long)s->blocks, (unsigned long long)s->distinct,
			   (unsigned long long)s->best_count);
		for (size_t e = s->best_first; e < in->n_contents && f->n_examples < MP_FINDING_EXAMPLES &&
						f->n_examples < s->best_count; e++) {
			uint32_t chunk = in->contents[e].chunk;
			if (chunk < b->h->n_chunks && !lost(b, chunk))
				f->examples[f->n_examples++] = heap_chunk_user(b->h, &b->h->chunks[chunk]);
		}
	}
	free(sums);
}

/* Members whose blocks hold far more than their length uses. */
static void find_overcapacity(builder *b)
{
	for (size_t i = 0; i < b->in->n_capacity && !b->nomem; i++) {
		const mp_pattern_capacity *c = &b->in->capacity[i];
		if (c->unused < b->out->noise_floor || c->unused <= MP_PATTERN_ROUNDING * c->blocks)
			continue;
		mp_finding *f = add_finding(b, "overcapacity", c->subject, c->blocks, c->bytes,
					    c->unused);
		if (!f)
			break;
		set_detail(b, f, "%llu of %llu bytes in %llu block%s lie past the length in use",
			   (unsigned long long)c->unused, (unsigned long long)c->bytes,
			   (unsigned long long)c->blocks, c->blocks == 1 ? "" : "s");
		f->examples[f->n_examples++] = c->example;
	}
}

/* Per class, the blocks that no finding before claimed whole: what the
 * findings on each block's chunk (small-allocations, struct-padding)
 * count. */
static void sum_live_classes(builder *b)
{
	const mp_pattern_input *in = b->in;
	b->live = calloc(in->n_classes ? in->n_classes : 1, sizeof(*b->live));
	uint64_t *exact_usable = calloc(in->n_classes ? in->n_classes : 1, sizeof(*exact_usable));
	if (!b->live || !exact_usable) {
		free(exact_usable);
		b->nomem = true;
		return;
	}
	for (size_t k = 0; k < in->n_classes; k++)
		if (in->classes[k].record_size)
			exact_usable[k] = heap_usable_for_request(b->h, in->classes[k].record_size);
	for (size_t i = 0; i < in->n_chunks; i++) {
		uint32_t k = in->chunk_class[i];
		if (k >= in->n_classes || claimed(b, i))
			continue;
		uint64_t usable = heap_chunk_usable(b->h, &b->h->chunks[i]);
		b->live[k].exact += exact_usable[k] && usable == exact_usable[k];
	}
	free(exact_usable);
}

/* The chunk malloc gives a request: its usable bytes plus the header it
 * does not lend. */
static uint64_t chunk_for_request(const builder *b, uint64_t size)
{
	return heap_usable_for_request(b->h, size) + b->h->header_bytes - b->h->next_overlap;
}

/* Structs with holes: the reorganized order (as `memprof type
 * --reorganize`) times the blocks that hold exactly one of them, counted
 * in the chunks malloc gives each size. */
static void find_struct_padding(builder *b)
{
	for (size_t k = 0; k < b->in->n_classes && !b->nomem; k++) {
		const mp_pattern_class *c = &b->in->classes[k];
		struct live_class *l = &b->live[k];
		if (!l->exact || !c->reorganized_size || c->reorganized_size >= c->record_size)
			continue;
		uint64_t size = c->record_size, packed = c->reorganized_size;
		uint64_t per_block = heap_usable_for_request(b->h, size) - heap_usable_for_request(b->h, packed);
		uint64_t savings = l->exact * per_block;
		if (!savings || savings < b->out->noise_floor)
			continue;
		mp_finding *f = add_finding(b, "struct-padding", c->name, l->exact,
					    l->exact * heap_usable_for_request(b->h, size), savings);
		if (!f)
			break;
		l->padding = savings;
		set_detail(b, f, "%llu bytes reorganized to %llu (memprof type --reorganize '%s'): chunks of %llu instead of %llu bytes for %llu blocks",
			   (unsigned long long)size, (unsigned long long)packed, c->name,
			   (unsigned long long)chunk_for_request(b, packed),
			   (unsigned long long)chunk_for_request(b, size),
			   (unsigned long long)l->exact);
		f->examples[f->n_examples++] = c->example;
	}
}

/* Many tiny structs of one type: a pool or arena of fixed-size slots
 * drops the chunk header and malloc's rounding of each.  Only the blocks
 * holding exactly one instance count: an array of T, or a derived object
 * held as its base, is one block of many T or of another size, and a pool
 * of T slots does not hold it.  After a struct-padding finding on the same
 * blocks, the slots and chunks are the reorganized ones: the two findings
 * together save what doing both saves, and no byte twice. */
static void find_small_allocations(builder *b)
{
	for (size_t k = 0; k < b->in->n_classes && !b->nomem; k++) {
		const mp_pattern_class *c = &b->in->classes[k];
		const struct live_class *l = &b->live[k];
		/* Structs only: a pool has one slot size, and strings or arrays
		 * of varying length do not fit one. */
		if (!c->record_size || l->exact < SMALL_MIN_BLOCKS)
			continue;
		uint64_t usable = heap_usable_for_request(b->h, c->record_size);
		if (usable > SMALL_BLOCK)
			continue;
		uint64_t payload = l->padding ? c->reorganized_size : c->record_size;
		uint64_t slot = (payload + 7) & ~(uint64_t)7;
		uint64_t chunk = chunk_for_request(b, payload);
		uint64_t savings = chunk > slot ? l->exact * (chunk - slot) : 0;
		if (savings < b->out->noise_floor)
			continue;
		mp_finding *f = add_finding(b, "small-allocations", c->name, l->exact,
					    l->exact * usable, savings);
		if (!f)
			break;
		set_detail(b, f, "%llu blocks of one instance each (%llu usable bytes); each costs a %llu-byte chunk for %llu bytes of data%s",
			   (unsigned long long)l->exact, (unsigned long long)usable,
			   (unsigned long long)chunk, (unsigned long long)payload,
			   l->padding ? " once reorganized" : "");
		f->examples[f->n_examples++] = c->example;
	}
}

/* Free chunks that are not the top: what malloc_trim can give back is the
 * whole pages inside them. */
static void find_fragmentation(builder *b)
{
	size_t n_arenas = b->h->n_arenas;
	if (!n_arenas)
		return;
	struct arena_sum {
		uint64_t free_bytes, free_chunks, largest, trimmable, in_use;
	} *sums = calloc(n_arenas, sizeof(*sums));
	if (!sums) {
		b->nomem = true;
		return;
	}
	for (size_t i = 0; i < b->h->n_chunks; i++) {
		int arena = mp_heap_chunk_arena(b->h, i);
		if (arena < 0 || (size_t)arena >= n_arenas)
			continue;
		const heap_chunk *c = &b->h->chunks[i];
		enum mp_chunk_state state = heap_chunk_state(c);
		uint64_t size = heap_chunk_size(c);
		struct arena_sum *s = &sums[arena];
		if (state == MP_CHUNK_FREE || state == MP_CHUNK_FASTBIN) {
			s->free_bytes += size;
			s->free_chunks++;
			if (size > s->largest)
				s->largest = size;
			/* The pages strictly inside the chunk, past its header and
			 * free-list links (glibc keeps 32 bytes of them). */
			uint64_t begin = (c->address + 32 + PAGE - 1) & ~(uint64_t)(PAGE - 1);
			uint64_t end = (c->address + size) & ~(uint64_t)(PAGE - 1);
			if (end > begin)
				s->trimmable += end - begin;
		} else if (state == MP_CHUNK_IN_USE) {
			s->in_use += heap_chunk_usable(b->h, c);
		}
	}
	uint64_t bloat_free = 0, bloat_system = 0;
	for (size_t a = 0; a < n_arenas; a++) {
		if (!b->h->arenas[a].is_main) {
			bloat_free += sums[a].free_bytes + b->h->arenas[a].top_size;
			bloat_system += b->h->arenas[a].system_mem;
		}
	}
	/* Many arenas, mostly free: threads each got one and gave little back. */
	bool bloat = n_arenas >= ARENA_BLOAT_MIN && bloat_system && bloat_free * 2 >= bloat_system &&
		     bloat_free >= b->out->noise_floor;
	for (size_t a = 0; a < n_arenas && !b->nomem; a++) {
		const heap_arena *info = &b->h->arenas[a];
		struct arena_sum *s = &sums[a];
		/* Arena bloat's savings hold the other arenas' free chunks. */
		if (bloat && !info->is_main)
			continue;
		if (s->trimmable < b->out->noise_floor || s->free_bytes * 4 < s->in_use)
			continue;
		char subject[64];
		snprintf(subject, sizeof(subject), "arena %zu%s", a, info->is_main ? " (main)" : "");
		mp_finding *f = add_finding(b, "fragmentation", subject, s->free_chunks,
					    s->free_bytes, s->trimmable);
		if (!f)
			break;
		set_detail(b, f, "%llu free bytes outside top in %llu chunks (largest %llu) beside %llu bytes in use; %llu bytes of whole free pages",
			   (unsigned long long)s->free_bytes, (unsigned long long)s->free_chunks,
			   (unsigned long long)s->largest, (unsigned long long)s->in_use,
			   (unsigned long long)s->trimmable);
	}
	if (bloat && !b->nomem) {
		mp_finding *f = add_finding(b, "arena-bloat", "arenas", n_arenas, bloat_system,
					    bloat_free);
		if (f)
			set_detail(b, f, "%zu arenas; the %zu besides main hold %llu bytes from the system, %llu of them free",
				   n_arenas, n_arenas - 1, (unsigned long long)bloat_system,
				   (unsigned long long)bloat_free);
	}
	free(sums);
}

/* Lost blocks (definitely and indirectly), per category: leaks are
 * reported whatever their size, a leak is a bug. */
static void find_leaks(builder *b)
{
	const mp_pattern_input *in = b->in;
	struct leak_sum {
		uint64_t blocks, bytes, chunks;
		uint64_t examples[MP_FINDING_EXAMPLES];
		size_t n_examples;
	} *sums = calloc(in->n_classes ? in->n_classes : 1, sizeof(*sums));
	if (!sums) {
		b->nomem = true;
		return;
	}
	for (size_t i = 0; i < in->n_chunks && i < b->h->n_chunks; i++) {
		if ((in->chunk_kind[i] != MP_LEAK_DEFINITE && in->chunk_kind[i] != MP_LEAK_INDIRECT) ||
		    in->chunk_class[i] >= in->n_classes)
			continue;
		const heap_chunk *c = &b->h->chunks[i];
		struct leak_sum *s = &sums[in->chunk_class[i]];
		s->blocks++;
		s->bytes += heap_chunk_usable(b->h, c);
		s->chunks += heap_chunk_size(c);
		if (s->n_examples < MP_FINDING_EXAMPLES && in->chunk_kind[i] == MP_LEAK_DEFINITE)
			s->examples[s->n_examples++] = heap_chunk_user(b->h, c);
	}
	for (size_t k = 0; k < in->n_classes && !b->nomem; k++) {
		const struct leak_sum *s = &sums[k];
		if (!s->blocks)
			continue;
		mp_finding *f = add_finding(b, "leak", in->classes[k].name, s->blocks, s->bytes,
					    s->chunks);
		if (!f)
			break;
		/* A leak is a bug whatever its size (docs/patterns.md). */
		if (strcmp(f->impact, "low") == 0)
			f->impact = "medium";
		set_detail(b, f, "%llu blocks, %llu bytes lost (definitely or indirectly); memprof leaks shows them",
			   (unsigned long long)s->blocks, (unsigned long long)s->bytes);
		memcpy(f->examples, s->examples, sizeof(s->examples));
		f->n_examples = s->n_examples;
	}
	free(sums);
}

static void add_warning(mp_patterns *out, bool *nomem, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void add_warning(mp_patterns *out, bool *nomem, const char *fmt, ...)
{
	if (out->n_warnings >= MP_PATTERN_WARNINGS)
		return;
	va_list ap;
	va_start(ap, fmt);
	if (vasprintf(&out->warnings[out->n_warnings], fmt, ap) < 0)
		*nomem = true;
	else
		out->n_warnings++;
	va_end(ap);
}

static int compare_categories(const void *x, const void *y)
{
	const mp_pattern_category *a = x, *c = y;
	if (a->bytes != c->bytes)
		return a->bytes > c->bytes ? -1 : 1;
	return strcmp(a->name, c->name);
}

static int compare_findings(const void *x, const void *y)
{
	const mp_finding *a = x, *c = y;
	if (a->savings != c->savings)
		return a->savings > c->savings ? -1 : 1;
	int kinds = strcmp(a->kind, c->kind);
	return kinds ? kinds : strcmp(a->subject, c->subject);
}

static void fill_size_classes(builder *b)
{
	mp_pattern_category classes[64] = {{0}};
	size_t capacity = 0;
	for (size_t i = 0; i < b->h->n_chunks; i++) {
		if (b->in->chunk_kind[i] == MP_LEAK_NOT_A_BLOCK)
			continue;
		const heap_chunk *c = &b->h->chunks[i];
		uint64_t usable = heap_chunk_usable(b->h, c);
		/* The power of two at or below usable: its highest bit. */
		unsigned bucket = usable ? 63 - (unsigned)__builtin_clzll(usable) : 0;
		classes[bucket].blocks++;
		classes[bucket].bytes += usable;
		classes[bucket].overhead += heap_chunk_size(c) - usable;
	}
	for (unsigned k = 0; k < 64; k++) {
		if (!classes[k].blocks)
			continue;
		if (!MP_ARRAY_RESERVE(b->out->size_classes, capacity, b->out->n_size_classes + 1)) {
			b->nomem = true;
			return;
		}
		char name[64];
		snprintf(name, sizeof(name), "%llu-%llu", (unsigned long long)(k ? 1ull << k : 0),
			 (unsigned long long)((2ull << k) - 1));
		classes[k].name = strdup(name);
		if (!classes[k].name) {
			b->nomem = true;
			return;
		}
		b->out->size_classes[b->out->n_size_classes++] = classes[k];
	}
}

mp_error *mp_patterns_compute(const mp_heap *h, const mp_pattern_input *in, mp_patterns *out)
{
	memset(out, 0, sizeof(*out));
	if (in->n_chunks != h->n_chunks)
		return mp_error_new(MP_ERR_FORMAT, "patterns: the input describes %zu chunks, the heap has %zu",
				    in->n_chunks, h->n_chunks);
	builder b = {.h = h, .in = in, .out = out};
	out->in_use_blocks = in->in_use_blocks;
	out->in_use_bytes = in->in_use_bytes;
	for (size_t a = 0; a < h->n_arenas; a++)
		out->heap_bytes += h->arenas[a].system_mem;
	out->noise_floor = out->in_use_bytes / 1000 > 4096 ? out->in_use_bytes / 1000 : 4096;
	/* Lost blocks are the leak's whole chunks, then duplicate copies are
	 * duplicate-content's: the findings on chunks after them count only
	 * the chunks left. */
	b.claimed = calloc(h->n_chunks / 64 + 1, sizeof(*b.claimed));
	b.nomem = !b.claimed;
	for (size_t i = 0; !b.nomem && i < h->n_chunks; i++)
		if (lost(&b, i))
			claim(&b, i);
	if (!b.nomem)
		find_duplicates(&b);
	if (!b.nomem)
		find_overcapacity(&b);
	if (!b.nomem)
		sum_live_classes(&b);
	if (!b.nomem)
		find_struct_padding(&b);
	if (!b.nomem)
		find_small_allocations(&b);
	if (!b.nomem)
		find_fragmentation(&b);
	if (!b.nomem)
		find_leaks(&b);
	free(b.claimed);
	free(b.live);
	if (!b.nomem) {
		out->categories = calloc(in->n_classes ? in->n_classes : 1, sizeof(*out->categories));
		b.nomem = !out->categories;
	}
	for (size_t k = 0; k < in->n_classes && !b.nomem; k++) {
		const mp_pattern_class *c = &in->classes[k];
		char *name = strdup(c->name);
		if (!name) {
			b.nomem = true;
			break;
		}
		out->categories[out->n_categories++] =
			(mp_pattern_category){name, c->blocks, c->bytes, c->overhead};
	}
	if (!b.nomem) {
		qsort(out->categories, out->n_categories, sizeof(*out->categories), compare_categories);
		fill_size_classes(&b);
	}
	if (b.nomem) {
		mp_patterns_free(out);
		return mp_error_nomem();
	}
	if (out->n_findings > 1)
		qsort(out->findings, out->n_findings, sizeof(*out->findings), compare_findings);
	out->partial = in->partial || mp_heap_partial(h);
	/* find_fragmentation reads glibc's arenas; other allocators have none
	 * the walk reads, and "nothing found" would claim more than was seen. */
	mp_allocator allocator = mp_heap_allocator(h);
	if (!h->n_arenas && allocator.kind != MP_ALLOCATOR_GLIBC)
		add_warning(out, &b.nomem, "fragmentation and arena-bloat are read from glibc's arenas only: not checked for %s",
			    allocator.name);
	if (b.nomem) {
		mp_patterns_free(out);
		return mp_error_nomem();
	}
	return NULL;
}

/* The type-based findings need the blocks typed, and the types come from
 * the main program's DWARF: without it they are not made, and saying
 * nothing would read as "none". */
static mp_error *check_main_types(mp_target *t, mp_patterns *out)
{
	for (size_t i = 0; i < mp_target_module_count(t); i++) {
		const mp_module *m = mp_target_module(t, i);
		if (!mp_module_is_main(m))
			continue;
		mp_error *err = mp_type_index_module(t, m);
		if (!err)
			return NULL;
		mp_error_free(err);
		bool nomem = false;
		add_warning(out, &nomem, "the main program %s has no DWARF type information: its blocks are untyped, and overcapacity, small-allocations and struct-padding cannot be found (build with -g, or give its debug file)",
			    mp_module_file(m) ? mp_module_file(m) : mp_module_name(m));
		return nomem ? mp_error_nomem() : NULL;
	}
	return NULL;
}

mp_error *mp_patterns_build(mp_target *t, const mp_heap *h, const mp_leaks *leaks,
			    const mp_pattern_options *options, mp_patterns *out)
{
	mp_pattern_input in;
	mp_error *err = mp_pattern_input_gather(t, h, leaks, options, &in);
	if (err)
		return err;
	err = mp_patterns_compute(h, &in, out);
	mp_pattern_input_free(&in);
	if (!err)
		err = check_main_types(t, out);
	if (err)
		mp_patterns_free(out);
	return err;
}

void mp_patterns_free(mp_patterns *p)
{
	for (size_t i = 0; i < p->n_categories; i++)
		free(p->categories[i].name);
	free(p->categories);
	for (size_t i = 0; i < p->n_size_classes; i++)
		free(p->size_classes[i].name);
	free(p->size_classes);
	for (size_t i = 0; i < p->n_findings; i++) {
		free(p->findings[i].subject);
		free(p->findings[i].detail);
	}
	free(p->findings);
	for (size_t i = 0; i < p->n_warnings; i++)
		free(p->warnings[i]);
	memset(p, 0, sizeof(*p));
}
