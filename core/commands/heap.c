/* `memprof heap` and `memprof snapshot`: the allocator's view of memory.
 * The chunks per state and per size class, from the neutral view; the
 * allocator's own facts from its detail rows.  Three kinds of rows have
 * fields of their own in the report (docs/json.md): arenas (rows with an
 * arena index: glibc's, shown with the chunks mp_heap_chunk_arena puts
 * in each), group "peak" and group "mallinfo".  The other rows are the
 * report's allocator_detail. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "command.h"
#include "command_result.h"
#include "patterns_section.h"
#include "output/result.h"

typedef struct tally {
	uint64_t chunks, bytes;
} tally;

enum { N_CLASSES = 48 };

/* Rows [first, first + count) of the heap's detail. */
typedef struct row_range {
	size_t first, count;
} row_range;

/* Where the rows with fields of their own are. */
typedef struct detail_view {
	row_range *arenas;        /* by arena index */
	size_t n_arenas;
	row_range peak, mallinfo;
} detail_view;

/* Whether a row is one of the report's own fields, not allocator_detail. */
static bool has_own_field(const mp_heap_detail *d)
{
	return d->arena >= 0 || strcmp(d->group, "peak") == 0 ||
	       strcmp(d->group, "mallinfo") == 0;
}

/* Extends range to row i (a group's rows are consecutive). */
static void range_add(row_range *range, size_t i)
{
	if (!range->count)
		range->first = i;
	range->count = i + 1 - range->first;
}

static mp_error *view_details(const mp_heap *h, detail_view *v)
{
	memset(v, 0, sizeof(*v));
	size_t n = mp_heap_detail_count(h);
	for (size_t i = 0; i < n; i++) {
		int arena = mp_heap_detail_at(h, i).arena;
		if (arena >= 0 && (size_t)arena >= v->n_arenas)
			v->n_arenas = (size_t)arena + 1;
	}
	v->arenas = calloc(v->n_arenas ? v->n_arenas : 1, sizeof(*v->arenas));
	if (!v->arenas)
		return mp_error_new(MP_ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		mp_heap_detail d = mp_heap_detail_at(h, i);
		if (d.arena >= 0)
			range_add(&v->arenas[d.arena], i);
		else if (strcmp(d.group, "peak") == 0)
			range_add(&v->peak, i);
		else if (strcmp(d.group, "mallinfo") == 0)
			range_add(&v->mallinfo, i);
	}
	return NULL;
}

/* The value of the row named name in range; 0 (and false) when none is. */
static bool row_value(const mp_heap *h, row_range range, const char *name, uint64_t *value)
{
	*value = 0;
	for (size_t i = range.first; i < range.first + range.count; i++) {
		mp_heap_detail d = mp_heap_detail_at(h, i);
		if (strcmp(d.name, name) == 0) {
			*value = d.value;
			return true;
		}
	}
	return false;
}

static uint64_t value_of(const mp_heap *h, row_range range, const char *name)
{
	uint64_t value;
	row_value(h, range, name, &value);
	return value;
}

/* An arena's figures, as its rows give them. */
typedef struct arena_rows {
	uint64_t address, system_mem, max_system_mem, top_address, top_size, heaps;
	bool is_main;
} arena_rows;

static arena_rows arena_at(const mp_heap *h, const detail_view *v, size_t k)
{
	row_range r = v->arenas[k];
	return (arena_rows){
		.address = value_of(h, r, "address"), .system_mem = value_of(h, r, "system_mem"),
		.max_system_mem = value_of(h, r, "max_system_mem"),
		.top_address = value_of(h, r, "top_address"), .top_size = value_of(h, r, "top_size"),
		.heaps = value_of(h, r, "heaps"), .is_main = value_of(h, r, "main") != 0,
	};
}

typedef struct heap_summary {
	tally by_state[MP_CHUNK_STATE_COUNT];
	tally (*by_arena)[MP_CHUNK_STATE_COUNT];  /* per arena */
	tally classes[N_CLASSES][3];              /* in use, free, cached */
	int top_class;
} heap_summary;

/* The histogram's row of a chunk size: the smallest k (5, 32 bytes, at
 * least; N_CLASSES - 1 at most) with size <= 2^k. */
static int size_class(uint64_t size)
{
	if (size <= 32)
		return 5;
	int k = 64 - __builtin_clzll(size - 1);
	return k < N_CLASSES - 1 ? k : N_CLASSES - 1;
}

/* Which column of the histogram a state belongs to, or -1. */
static int class_column(enum mp_chunk_state state)
{
	switch (state) {
	case MP_CHUNK_IN_USE:
	case MP_CHUNK_IN_USE_MMAPPED: return 0;
	case MP_CHUNK_FREE: return 1;
	case MP_CHUNK_TCACHE:
	case MP_CHUNK_FASTBIN: return 2;
	default: return -1;
	}
}

/* Adds chunks [from, to) to the totals, to arena's when it is one of the
 * heap's, and to classes.  Reads the chunk table directly, into local
 * sums: one pass over ten million chunks through the per-chunk accessors
 * (a struct copy and a search for the arena each) took a third of
 * `heap`'s time (issue 18). */
static void summarise_run(const mp_heap *h, size_t from, size_t to, tally *arena,
			  heap_summary *s, tally classes[N_CLASSES][3])
{
	if (from >= to)
		return;
	tally states[MP_CHUNK_STATE_COUNT] = {{0}};
	int8_t columns[MP_CHUNK_STATE_COUNT];
	for (int st = 0; st < MP_CHUNK_STATE_COUNT; st++)
		columns[st] = (int8_t)class_column((enum mp_chunk_state)st);
	/* The heap's layout in a local copy, so heap_chunk_usable's fields
	 * stay in registers while the sums are written. */
	const mp_heap layout = *h;
	const heap_chunk *chunks = h->chunks;
	for (size_t i = from; i < to; i++) {
		const heap_chunk *c = &chunks[i];
		enum mp_chunk_state state = heap_chunk_state(c);
		if ((unsigned)state >= MP_CHUNK_STATE_COUNT)
			continue;   /* no state a heap is built with */
		uint64_t size = heap_chunk_size(c);
		/* In-use bytes are usable sizes (what the program can use);
		 * other states count whole chunks, as malloc's statistics do. */
		uint64_t bytes = state == MP_CHUNK_IN_USE || state == MP_CHUNK_IN_USE_MMAPPED
					 ? heap_chunk_usable(&layout, c)
					 : size;
		states[state].chunks++;
		states[state].bytes += bytes;
		int column = columns[state];
		if (column >= 0) {
			int k = size_class(size);
			classes[k][column].chunks++;
			classes[k][column].bytes += bytes;
		}
	}
	for (int st = 0; st < MP_CHUNK_STATE_COUNT; st++) {
		s->by_state[st].chunks += states[st].chunks;
		s->by_state[st].bytes += states[st].bytes;
		if (arena) {
			arena[st].chunks += states[st].chunks;
			arena[st].bytes += states[st].bytes;
		}
	}
}

static mp_error *summarise(const mp_heap *h, size_t n_arenas, heap_summary *s)
{
	memset(s, 0, sizeof(*s));
	s->by_arena = calloc(n_arenas ? n_arenas : 1, sizeof(*s->by_arena));
	if (!s->by_arena)
		return mp_error_new(MP_ERR_NOMEM, "out of memory");
	/* Summed in a local copy: the summary's own could alias the table as
	 * far as the compiler knows. */
	tally classes[N_CLASSES][3];
	memset(classes, 0, sizeof(classes));
	/* Regions hold consecutive runs of the table in order, each of one
	 * arena (-1: mmapped chunks); a chunk in no region has no arena. */
	size_t next = 0;
	for (size_t r = 0; r < h->n_regions; r++) {
		const heap_region *region = &h->regions[r];
		if (region->first < next || region->first + region->count > h->n_chunks)
			continue;   /* not a run of the table: counted as arena-less */
		summarise_run(h, next, region->first, NULL, s, classes);
		int arena = region->arena;
		tally *by_arena = arena >= 0 && (size_t)arena < n_arenas ? s->by_arena[arena] : NULL;
		summarise_run(h, region->first, region->first + region->count, by_arena, s, classes);
		next = region->first + region->count;
	}
	summarise_run(h, next, h->n_chunks, NULL, s, classes);
	memcpy(s->classes, classes, sizeof(classes));
	for (int k = 0; k < N_CLASSES; k++)
		for (int column = 0; column < 3; column++)
			if (classes[k][column].chunks)
				s->top_class = k;
	return NULL;
}

static tally cached(const tally *states)
{
	tally t = {states[MP_CHUNK_TCACHE].chunks + states[MP_CHUNK_FASTBIN].chunks,
		   states[MP_CHUNK_TCACHE].bytes + states[MP_CHUNK_FASTBIN].bytes};
	return t;
}

static void result_tally(mp_result *r, mp_rnode parent, const char *key, tally t)
{
	mp_rnode o = mp_result_object(r, parent, key);
	mp_result_uint(r, o, "chunks", t.chunks);
	mp_result_uint(r, o, "bytes", t.bytes);
}

/* The mallinfo group as an object of its rows, with a metric each. */
static void result_mallinfo(mp_result *r, const mp_heap *h, row_range range)
{
	if (!range.count) {
		mp_result_null(r, MP_RESULT_ROOT, "mallinfo");
		return;
	}
	mp_rnode o = mp_result_object(r, MP_RESULT_ROOT, "mallinfo");
	mp_result_column columns[MP_RESULT_MAX_COLUMNS];
	size_t n = 0;
	for (size_t i = 0; i < range.count; i++) {
		mp_heap_detail d = mp_heap_detail_at(h, range.first + i);
		mp_result_uint(r, o, d.name, d.value);
		if (n < MP_RESULT_MAX_COLUMNS)
			columns[n++] = (mp_result_column){d.name, NULL, true};
	}
	mp_result_declare_metrics(r, o, "heap_mallinfo",
				  "glibc mallinfo2 recomputed from the heap walk", columns, n);
}

static const mp_result_column detail_columns[] = {
	{"group", NULL, false}, {"name", NULL, false}, {"value", NULL, true},
};

static const mp_result_column state_columns[] = {
	{"state", NULL, false}, {"chunks", NULL, true}, {"bytes", NULL, true},
};

/* The histogram as a table: min and max are labels, the counts gauges. */
static const mp_result_column class_columns[] = {
	{"min", NULL, false}, {"max", NULL, false},
	{"in_use_chunks", "in_use.chunks", true}, {"in_use_bytes", "in_use.bytes", true},
	{"free_chunks", "free.chunks", true}, {"free_bytes", "free.bytes", true},
	{"cached_chunks", "cached.chunks", true}, {"cached_bytes", "cached.bytes", true},
};

static void result_arenas(mp_result *r, const mp_heap *h, const detail_view *v,
			  const heap_summary *s)
{
	mp_rnode arenas = mp_result_array(r, MP_RESULT_ROOT, "arenas");
	for (size_t i = 0; i < v->n_arenas; i++) {
		arena_rows a = arena_at(h, v, i);
		const tally *states = s->by_arena[i];
		mp_rnode o = mp_result_object(r, arenas, NULL);
		mp_result_hex(r, o, "address", a.address);
		mp_result_bool(r, o, "main", a.is_main);
		mp_result_uint(r, o, "system_mem", a.system_mem);
		mp_result_uint(r, o, "max_system_mem", a.max_system_mem);
		mp_result_uint(r, o, "heaps", a.heaps);
		mp_rnode top = mp_result_object(r, o, "top");
		mp_result_hex(r, top, "address", a.top_address);
		mp_result_uint(r, top, "size", a.top_size);
		result_tally(r, o, "in_use", states[MP_CHUNK_IN_USE]);
		result_tally(r, o, "free", states[MP_CHUNK_FREE]);
		result_tally(r, o, "tcache", states[MP_CHUNK_TCACHE]);
		result_tally(r, o, "fastbin", states[MP_CHUNK_FASTBIN]);
		result_tally(r, o, "cached", cached(states));
	}
}

static void result_peak(mp_result *r, const mp_heap *h, const detail_view *v)
{
	mp_rnode o = mp_result_object(r, MP_RESULT_ROOT, "peak");
	uint64_t max_system = 0;
	for (size_t i = 0; i < v->n_arenas; i++)
		max_system += arena_at(h, v, i).max_system_mem;
	mp_result_uint(r, o, "max_system_mem", max_system);
	static const char *const names[] = {"max_mmapped_mem", "max_n_mmaps"};
	for (size_t i = 0; i < 2; i++) {
		uint64_t value;
		if (row_value(h, v->peak, names[i], &value))
			mp_result_uint(r, o, names[i], value);
		else
			mp_result_null(r, o, names[i]);
	}
}

/* The heap as one result: JSON as docs/heap.md describes it; the CSV is
 * the size-class histogram; Prometheus has mallinfo2 (glibc) or the
 * allocator's own figures, the chunks per state and the histogram. */
static void heap_result(mp_result *r, const mp_heap *h, const detail_view *v,
			const heap_summary *s)
{
	mp_result_string(r, MP_RESULT_ROOT, "backend", mp_heap_backend(h));
	mp_result_string(r, MP_RESULT_ROOT, "located_by", mp_heap_located_by(h));
	mp_allocator allocator = mp_heap_allocator(h);
	mp_command_allocator_result(r, MP_RESULT_ROOT, &allocator);
	mp_result_string(r, MP_RESULT_ROOT, "target", mp_heap_target_description(h));
	mp_result_int(r, MP_RESULT_ROOT, "timestamp", mp_heap_timestamp(h));
	result_arenas(r, h, v, s);

	result_tally(r, MP_RESULT_ROOT, "mmapped", s->by_state[MP_CHUNK_IN_USE_MMAPPED]);
	mp_result_uint(r, MP_RESULT_ROOT, "system_bytes", mp_heap_system_bytes(h));
	mp_rnode totals = mp_result_object(r, MP_RESULT_ROOT, "totals");
	for (int st = 0; st < MP_CHUNK_STATE_COUNT; st++) {
		char key[32];
		snprintf(key, sizeof(key), "%s", mp_chunk_state_name((enum mp_chunk_state)st));
		for (char *c = key; *c; c++)
			if (*c == '-')
				*c = '_';
		result_tally(r, totals, key, s->by_state[st]);
	}

	mp_rnode histogram = mp_result_array(r, MP_RESULT_ROOT, "histogram");
	for (int k = 5; k <= s->top_class; k++) {
		mp_rnode o = mp_result_object(r, histogram, NULL);
		mp_result_uint(r, o, "min", k == 5 ? 0 : (1ull << (k - 1)) + 1);
		mp_result_uint(r, o, "max", 1ull << k);
		result_tally(r, o, "in_use", s->classes[k][0]);
		result_tally(r, o, "free", s->classes[k][1]);
		result_tally(r, o, "cached", s->classes[k][2]);
	}

	result_peak(r, h, v);
	result_mallinfo(r, h, v->mallinfo);
	mp_rnode detail = mp_result_array(r, MP_RESULT_ROOT, "allocator_detail");
	size_t n_detail = 0;
	for (size_t i = 0; i < mp_heap_detail_count(h); i++) {
		mp_heap_detail d = mp_heap_detail_at(h, i);
		if (has_own_field(&d))
			continue;
		n_detail++;
		mp_rnode o = mp_result_object(r, detail, NULL);
		mp_result_string(r, o, "group", d.group);
		mp_result_string(r, o, "name", d.name);
		mp_result_uint(r, o, "value", d.value);
	}
	if (n_detail)
		mp_result_declare_metrics(r, detail, "heap_allocator_detail",
					  "the allocator's own figures", MP_RESULT_COLUMNS(detail_columns));

	mp_result_bool(r, MP_RESULT_ROOT, "partial", mp_heap_partial(h));
	mp_rnode problems = mp_result_array(r, MP_RESULT_ROOT, "problems");
	for (size_t i = 0; i < mp_heap_problem_count(h); i++) {
		const mp_heap_problem *p = mp_heap_problem_at(h, i);
		mp_rnode o = mp_result_object(r, problems, NULL);
		mp_result_hex(r, o, "address", p->address);
		mp_result_string(r, o, "where", p->where);
		mp_result_string(r, o, "message", p->message);
	}

	/* Chunks per state as rows, named as the heap names states: the
	 * JSON has them as totals' members, so these rows are hidden. */
	mp_rnode states = mp_result_array(r, MP_RESULT_ROOT, "states");
	mp_result_hide(r, states);
	for (int st = 0; st < MP_CHUNK_STATE_COUNT; st++) {
		mp_rnode o = mp_result_object(r, states, NULL);
		mp_result_string(r, o, "state", mp_chunk_state_name((enum mp_chunk_state)st));
		mp_result_uint(r, o, "chunks", s->by_state[st].chunks);
		mp_result_uint(r, o, "bytes", s->by_state[st].bytes);
	}
	mp_result_declare_metrics(r, states, "heap_state", "heap chunks per state",
				  MP_RESULT_COLUMNS(state_columns));
	mp_result_declare_table(r, histogram, "heap_size_class", "heap chunks per size class",
				MP_RESULT_COLUMNS(class_columns), 0);
}

static void text_tally(FILE *out, const char *label, tally t)
{
	fprintf(out, "  %-9s %10" PRIu64 " chunks %14" PRIu64 " bytes\n", label,
		t.chunks, t.bytes);
}

/* malloc's peaks (after the arenas, whose peaks they complete) and
 * mallinfo2, recomputed. */
static void write_statistics_text(FILE *out, const mp_heap *h, const detail_view *v)
{
	uint64_t max_mmapped, max_n_mmaps;
	if (row_value(h, v->peak, "max_mmapped_mem", &max_mmapped) &&
	    row_value(h, v->peak, "max_n_mmaps", &max_n_mmaps))
		fprintf(out, "\npeak (malloc's own statistics): mmapped %" PRIu64 " bytes in at most %"
			PRIu64 " chunks; see each arena's peak above\n", max_mmapped, max_n_mmaps);
	else if (v->n_arenas)
		fprintf(out, "\npeak: malloc's mmap statistics (mp_) were not found; arena peaks above\n");

	if (!v->mallinfo.count)
		return;
	const char *const lines[2][5] = {
		{"arena", "ordblks", "smblks", "hblks", "hblkhd"},
		{"uordblks", "fordblks", "fsmblks", "keepcost", NULL},
	};
	fputs("\nmallinfo2 (recomputed from the walk)\n", out);
	for (int line = 0; line < 2; line++) {
		for (int i = 0; i < 5 && lines[line][i]; i++)
			fprintf(out, "  %s %" PRIu64, lines[line][i],
				value_of(h, v->mallinfo, lines[line][i]));
		fputc('\n', out);
	}
}

/* The allocator's own figures but those above, a line per group. */
static void write_detail_text(FILE *out, const mp_heap *h)
{
	const char *group = NULL;
	for (size_t i = 0; i < mp_heap_detail_count(h); i++) {
		mp_heap_detail d = mp_heap_detail_at(h, i);
		if (has_own_field(&d))
			continue;
		if (!group)
			fputs("\nallocator detail", out);
		if (!group || strcmp(group, d.group) != 0)
			fprintf(out, "\n  %s:", d.group);
		group = d.group;
		fprintf(out, "  %s %" PRIu64, d.name, d.value);
	}
	if (group)
		fputc('\n', out);
}

static void write_text(FILE *out, const mp_heap *h, const detail_view *v, const heap_summary *s)
{
	fprintf(out, "heap     %s, found by %s\n", mp_heap_backend(h), mp_heap_located_by(h));
	mp_allocator allocator = mp_heap_allocator(h);
	mp_command_allocator_text(out, &allocator);
	fprintf(out, "target   %s\n", mp_heap_target_description(h));
	for (size_t i = 0; i < v->n_arenas; i++) {
		arena_rows a = arena_at(h, v, i);
		const tally *st = s->by_arena[i];
		tally c = cached(st);
		fprintf(out, "\narena 0x%" PRIx64 "%s: system %" PRIu64 " bytes (peak %" PRIu64
			")\n", a.address, a.is_main ? " (main)" : "", a.system_mem,
			a.max_system_mem);
		text_tally(out, "in use", st[MP_CHUNK_IN_USE]);
		text_tally(out, "free", st[MP_CHUNK_FREE]);
		fprintf(out, "  %-9s %10" PRIu64 " chunks %14" PRIu64 " bytes  (tcache %" PRIu64
			", fastbin %" PRIu64 ")\n", "cached", c.chunks, c.bytes,
			st[MP_CHUNK_TCACHE].chunks, st[MP_CHUNK_FASTBIN].chunks);
		fprintf(out, "  %-9s %10d chunk  %14" PRIu64 " bytes  at 0x%" PRIx64 "\n", "top",
			a.top_address ? 1 : 0, a.top_size, a.top_address);
		if (!a.is_main)
			fprintf(out, "  %-9s %10" PRIu64 "\n", "heaps", a.heaps);
	}
	/* Arenas shown: the chunks outside them after; else the chunks per
	 * state. */
	if (v->n_arenas) {
		fprintf(out, "\nmmapped chunks: %" PRIu64 ", %" PRIu64 " usable bytes\n",
			s->by_state[MP_CHUNK_IN_USE_MMAPPED].chunks,
			s->by_state[MP_CHUNK_IN_USE_MMAPPED].bytes);
		if (s->by_state[MP_CHUNK_METADATA].chunks)
			fprintf(out, "allocator metadata (tcache structs): %" PRIu64 " chunks, %" PRIu64
				" bytes\n", s->by_state[MP_CHUNK_METADATA].chunks,
				s->by_state[MP_CHUNK_METADATA].bytes);
	} else {
		fputc('\n', out);
		tally in_use = s->by_state[MP_CHUNK_IN_USE];
		in_use.chunks += s->by_state[MP_CHUNK_IN_USE_MMAPPED].chunks;
		in_use.bytes += s->by_state[MP_CHUNK_IN_USE_MMAPPED].bytes;
		text_tally(out, "in use", in_use);
		text_tally(out, "free", s->by_state[MP_CHUNK_FREE]);
		text_tally(out, "cached", s->by_state[MP_CHUNK_CACHED]);
		if (s->by_state[MP_CHUNK_METADATA].chunks)
			text_tally(out, "metadata", s->by_state[MP_CHUNK_METADATA]);
	}

	fprintf(out, "\nsize classes (chunk size; bytes: usable for chunks in use, whole chunks otherwise)\n");
	fprintf(out, "  %-12s %10s %14s %10s %14s %10s %14s\n", "size", "in use", "bytes",
		"free", "bytes", "cached", "bytes");
	for (int k = 5; k <= s->top_class; k++) {
		const tally *row = s->classes[k];
		if (!row[0].chunks && !row[1].chunks && !row[2].chunks)
			continue;
		char label[32];
		snprintf(label, sizeof(label), "<= %llu", 1ull << k);
		fprintf(out, "  %-12s %10" PRIu64 " %14" PRIu64 " %10" PRIu64 " %14" PRIu64
			" %10" PRIu64 " %14" PRIu64 "\n", label, row[0].chunks, row[0].bytes,
			row[1].chunks, row[1].bytes, row[2].chunks, row[2].bytes);
	}

	write_statistics_text(out, h, v);
	write_detail_text(out, h);

	size_t n_problems = mp_heap_problem_count(h);
	if (n_problems || mp_heap_partial(h)) {
		fprintf(out, "\nproblems (%zu): results are partial\n", n_problems);
		for (size_t i = 0; i < n_problems; i++) {
			const mp_heap_problem *p = mp_heap_problem_at(h, i);
			fprintf(out, "  0x%" PRIx64 "  %s: %s\n", p->address, p->where, p->message);
		}
	}
}

/* The text keeps its own layout (arenas as paragraphs, the histogram's
 * fixed columns): a text hook over the heap the result was built from. */
typedef struct text_context {
	const mp_heap *heap;
	const detail_view *view;
	const heap_summary *summary;
	mp_command *command;
} text_context;

static void heap_text(FILE *out, const mp_result *r, void *context)
{
	(void)r;
	const text_context *t = context;
	write_text(out, t->heap, t->view, t->summary);
	/* The heap's problems are listed above; the target's too. */
	mp_text_warnings warnings = {0};
	mp_text_warnings_add_target(&warnings, t->command->target);
	mp_text_warnings_write(out, &warnings,
			       t->command->target && mp_target_partial(t->command->target));
}

static int report(mp_command *c, const mp_heap *h)
{
	detail_view v;
	heap_summary s = {0};
	mp_error *err = view_details(h, &v);
	if (!err)
		err = summarise(h, v.n_arenas, &s);
	if (err) {
		free(v.arenas);
		return mp_command_fail(c, err);
	}
	mp_result r;
	mp_result_init(&r);
	heap_result(&r, h, &v, &s);
	text_context text = {h, &v, &s, c};
	mp_result_set_text_hook(&r, heap_text, &text);
	err = mp_result_write(c->out, &r, mp_command_result_format(c));
	mp_result_free(&r);
	free(s.by_arena);
	free(v.arenas);
	if (err)
		return mp_command_fail(c, err);
	if (mp_heap_partial(h))
		fprintf(c->err, "memprof: warning: heap results are partial: %zu problem%s found\n",
			mp_heap_problem_count(h), mp_heap_problem_count(h) == 1 ? "" : "s");
	return MP_EXIT_OK;
}

static mp_error *open_heap(mp_command *c, mp_heap **h)
{
	mp_heap_options options = mp_command_heap_options(c);
	return mp_heap_open(c->target, &options, h);
}

static int run_heap(mp_command *c)
{
	mp_heap *h = NULL;
	mp_error *err = open_heap(c, &h);
	if (err)
		return mp_command_fail(c, err);
	int status = report(c, h);
	mp_heap_free(h);
	return status;
}

const mp_verb mp_verb_heap = {
	.name = "heap",
	.summary = "arenas, chunks in use / free / cached, mmapped chunks, size classes, mallinfo2",
	.usage = "",
	.formats = MP_FORMAT_TEXT | MP_FORMAT_JSON | MP_FORMAT_CSV | MP_FORMAT_PROMETHEUS,
	.needs_target = true,
	.run = run_heap,
};

/* `snapshot save FILE` writes the heap snapshot of the target;
 * `snapshot show FILE` prints a saved one like `heap` does. */
static int run_snapshot(mp_command *c)
{
	const char *action = c->options->positional[0];
	const char *path = c->options->positional[1];
	if (strcmp(action, "show") == 0) {
		if (c->target) {
			fprintf(c->err, "memprof: snapshot show reads a file; drop --core/--pid\n");
			return MP_EXIT_USAGE;
		}
		mp_heap *h = NULL;
		mp_error *err = mp_heap_load(path, &h);
		if (err)
			return mp_command_fail(c, err);
		int status = report(c, h);
		mp_heap_free(h);
		return status;
	}
	if (strcmp(action, "save") != 0) {
		fprintf(c->err, "memprof: unknown snapshot action '%s' (save or show)\n", action);
		return MP_EXIT_USAGE;
	}
	if (!c->target) {
		fprintf(c->err, "memprof: no target: give --core FILE or --pid PID (see memprof snapshot --help)\n");
		return MP_EXIT_USAGE;
	}
	mp_heap *h = NULL;
	mp_error *err = open_heap(c, &h);
	/* A core's moment is when it was written, not when it is read: what
	 * `diff` divides by (the header keeps the time of reading). */
	struct stat core_stat;
	if (!err && c->options->core && stat(c->options->core, &core_stat) == 0)
		h->timestamp_ns = (int64_t)core_stat.st_mtim.tv_sec * 1000000000 +
				  core_stat.st_mtim.tv_nsec;
	/* Unless --heap-only, what `patterns` and `recommend` need goes
	 * beside the heap (a leak check and one pass over the blocks). */
	bool patterns = !mp_command_flag(c, "--heap-only");
	heap_section sections[MP_SNAPSHOT_SECTIONS] = {{0}};
	if (!err && patterns)
		err = mp_patterns_snapshot_sections(c, h, sections);
	if (!err)
		err = heap_save_with(h, path, sections, patterns ? MP_SNAPSHOT_SECTIONS : 0);
	for (size_t i = 0; i < MP_SNAPSHOT_SECTIONS; i++)
		free(sections[i].data);
	if (err) {
		mp_heap_free(h);
		return mp_command_fail(c, err);
	}
	fprintf(c->out, "saved %zu chunks of %s to %s%s%s\n", mp_heap_chunk_count(h),
		mp_heap_target_description(h), path, patterns ? " with what patterns need" : "",
		mp_heap_partial(h) ? " (partial)" : "");
	mp_heap_free(h);
	return MP_EXIT_OK;
}

static const char *const snapshot_flags[] = {"--heap-only", NULL};

const mp_verb mp_verb_snapshot = {
	.name = "snapshot",
	.summary = "save the heap snapshot to a file (save FILE) or print a saved one (show FILE)",
	.usage = "save FILE [--heap-only] | show FILE\n"
		 "  save writes the heap and what `patterns --snapshot`, `recommend --snapshot` and\n"
		 "  `diff` need (a leak check runs); --heap-only writes the heap alone",
	.formats = MP_FORMAT_TEXT | MP_FORMAT_JSON | MP_FORMAT_CSV,
	.needs_target = false,
	.wants_target = true,
	.target_action = "save",
	.min_positional = 2,
	.max_positional = 2,
	.flags = snapshot_flags,
	.run = run_snapshot,
};
