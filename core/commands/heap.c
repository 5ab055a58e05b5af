/* `memprof heap` and `memprof snapshot`: the allocator's view of memory.
 * Per arena the system memory and the chunks in use, free, cached and top;
 * mmapped chunks; a size-class histogram; malloc's own peaks; and the
 * mallinfo2 numbers recomputed from the walk. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "command.h"
#include "patterns_section.h"
#include "output/json.h"
#include "output/table.h"

typedef struct tally {
	uint64_t chunks, bytes;
} tally;

/* In-use bytes are usable sizes (what the program can use); other states
 * count whole chunks, as malloc's statistics do. */
static uint64_t chunk_bytes(const mp_chunk *c)
{
	return c->state == MP_CHUNK_IN_USE || c->state == MP_CHUNK_IN_USE_MMAPPED
		       ? mp_chunk_usable_size(c)
		       : c->size;
}

enum { N_CLASSES = 48 };

typedef struct heap_summary {
	tally by_state[MP_CHUNK_STATE_COUNT];
	tally (*by_arena)[MP_CHUNK_STATE_COUNT];  /* per arena */
	tally classes[N_CLASSES][3];              /* in use, free, cached */
	int top_class;
} heap_summary;

static int size_class(uint64_t size)
{
	int k = 5;  /* 32 bytes, the smallest chunk */
	while (k < N_CLASSES - 1 && (1ull << k) < size)
		k++;
	return k;
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

static mp_error *summarise(const mp_heap *h, heap_summary *s)
{
	memset(s, 0, sizeof(*s));
	size_t n_arenas = mp_heap_arena_count(h);
	s->by_arena = calloc(n_arenas ? n_arenas : 1, sizeof(*s->by_arena));
	if (!s->by_arena)
		return mp_error_new(MP_ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < mp_heap_chunk_count(h); i++) {
		mp_chunk c = mp_heap_chunk(h, i);
		uint64_t bytes = chunk_bytes(&c);
		s->by_state[c.state].chunks++;
		s->by_state[c.state].bytes += bytes;
		int arena = mp_heap_chunk_arena(h, i);
		if (arena >= 0 && (size_t)arena < n_arenas) {
			s->by_arena[arena][c.state].chunks++;
			s->by_arena[arena][c.state].bytes += bytes;
		}
		int column = class_column(c.state);
		if (column >= 0) {
			int k = size_class(c.size);
			s->classes[k][column].chunks++;
			s->classes[k][column].bytes += bytes;
			if (k > s->top_class)
				s->top_class = k;
		}
	}
	return NULL;
}

static tally cached(const tally *states)
{
	tally t = {states[MP_CHUNK_TCACHE].chunks + states[MP_CHUNK_FASTBIN].chunks,
		   states[MP_CHUNK_TCACHE].bytes + states[MP_CHUNK_FASTBIN].bytes};
	return t;
}

static void json_tally(mp_json *j, const char *key, tally t)
{
	mp_json_key(j, key);
	mp_json_begin_object(j);
	mp_json_key(j, "chunks");
	mp_json_uint(j, t.chunks);
	mp_json_key(j, "bytes");
	mp_json_uint(j, t.bytes);
	mp_json_end_object(j);
}

/* mallinfo, arenas and malloc's peaks are glibc's; other allocators say
 * theirs through the heap's detail rows. */
static bool is_glibc(const mp_heap *h)
{
	enum mp_allocator_kind kind = mp_heap_allocator(h).kind;
	return kind == MP_ALLOCATOR_GLIBC || kind == MP_ALLOCATOR_UNDETERMINED;
}

static void write_mallinfo_json(mp_json *j, const mp_mallinfo *mi)
{
	mp_json_key(j, "mallinfo");
	mp_json_begin_object(j);
	const struct { const char *name; uint64_t value; } fields[] = {
		{"arena", mi->arena}, {"ordblks", mi->ordblks}, {"smblks", mi->smblks},
		{"hblks", mi->hblks}, {"hblkhd", mi->hblkhd}, {"usmblks", mi->usmblks},
		{"fsmblks", mi->fsmblks}, {"uordblks", mi->uordblks},
		{"fordblks", mi->fordblks}, {"keepcost", mi->keepcost},
	};
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		mp_json_key(j, fields[i].name);
		mp_json_uint(j, fields[i].value);
	}
	mp_json_end_object(j);
}

static void write_json(FILE *out, const mp_heap *h, const heap_summary *s)
{
	mp_json j;
	mp_json_init(&j, out, true);
	mp_json_begin_object(&j);
	mp_json_key(&j, "backend");
	mp_json_string(&j, mp_heap_backend(h));
	mp_json_key(&j, "located_by");
	mp_json_string(&j, mp_heap_located_by(h));
	mp_allocator allocator = mp_heap_allocator(h);
	mp_command_allocator_json(&j, &allocator);
	mp_json_key(&j, "target");
	mp_json_string(&j, mp_heap_target_description(h));
	mp_json_key(&j, "timestamp");
	mp_json_int(&j, mp_heap_timestamp(h));

	mp_json_key(&j, "arenas");
	mp_json_begin_array(&j);
	for (size_t i = 0; i < mp_heap_arena_count(h); i++) {
		const mp_arena_info *a = mp_heap_arena(h, i);
		const tally *states = s->by_arena[i];
		mp_json_begin_object(&j);
		mp_json_key(&j, "address");
		mp_json_hex(&j, a->address);
		mp_json_key(&j, "main");
		mp_json_bool(&j, a->is_main);
		mp_json_key(&j, "system_mem");
		mp_json_uint(&j, a->system_mem);
		mp_json_key(&j, "max_system_mem");
		mp_json_uint(&j, a->max_system_mem);
		mp_json_key(&j, "heaps");
		mp_json_uint(&j, a->n_heaps);
		mp_json_key(&j, "top");
		mp_json_begin_object(&j);
		mp_json_key(&j, "address");
		mp_json_hex(&j, a->top_address);
		mp_json_key(&j, "size");
		mp_json_uint(&j, a->top_size);
		mp_json_end_object(&j);
		json_tally(&j, "in_use", states[MP_CHUNK_IN_USE]);
		json_tally(&j, "free", states[MP_CHUNK_FREE]);
		json_tally(&j, "tcache", states[MP_CHUNK_TCACHE]);
		json_tally(&j, "fastbin", states[MP_CHUNK_FASTBIN]);
		json_tally(&j, "cached", cached(states));
		mp_json_end_object(&j);
	}
	mp_json_end_array(&j);

	json_tally(&j, "mmapped", s->by_state[MP_CHUNK_IN_USE_MMAPPED]);
	mp_json_key(&j, "totals");
	mp_json_begin_object(&j);
	for (int st = 0; st < MP_CHUNK_STATE_COUNT; st++) {
		char key[32];
		snprintf(key, sizeof(key), "%s", mp_chunk_state_name((enum mp_chunk_state)st));
		for (char *c = key; *c; c++)
			if (*c == '-')
				*c = '_';
		json_tally(&j, key, s->by_state[st]);
	}
	mp_json_end_object(&j);

	mp_json_key(&j, "histogram");
	mp_json_begin_array(&j);
	for (int k = 5; k <= s->top_class; k++) {
		mp_json_begin_object(&j);
		mp_json_key(&j, "min");
		mp_json_uint(&j, k == 5 ? 0 : (1ull << (k - 1)) + 1);
		mp_json_key(&j, "max");
		mp_json_uint(&j, 1ull << k);
		json_tally(&j, "in_use", s->classes[k][0]);
		json_tally(&j, "free", s->classes[k][1]);
		json_tally(&j, "cached", s->classes[k][2]);
		mp_json_end_object(&j);
	}
	mp_json_end_array(&j);

	mp_json_key(&j, "peak");
	mp_json_begin_object(&j);
	uint64_t max_system = 0;
	for (size_t i = 0; i < mp_heap_arena_count(h); i++)
		max_system += mp_heap_arena(h, i)->max_system_mem;
	mp_json_key(&j, "max_system_mem");
	mp_json_uint(&j, max_system);
	uint64_t max_mmapped, max_n_mmaps;
	bool peak = mp_heap_peak_mmapped(h, &max_mmapped, &max_n_mmaps);
	mp_json_key(&j, "max_mmapped_mem");
	if (peak)
		mp_json_uint(&j, max_mmapped);
	else
		mp_json_null(&j);
	mp_json_key(&j, "max_n_mmaps");
	if (peak)
		mp_json_uint(&j, max_n_mmaps);
	else
		mp_json_null(&j);
	mp_json_end_object(&j);

	if (is_glibc(h)) {
		mp_mallinfo mi;
		mp_heap_mallinfo(h, &mi);
		write_mallinfo_json(&j, &mi);
	} else {
		mp_json_key(&j, "mallinfo");
		mp_json_null(&j);
	}
	mp_json_key(&j, "allocator_detail");
	mp_json_begin_array(&j);
	for (size_t i = 0; i < mp_heap_detail_count(h); i++) {
		mp_heap_detail d = mp_heap_detail_at(h, i);
		mp_json_begin_object(&j);
		mp_json_key(&j, "group");
		mp_json_string(&j, d.group);
		mp_json_key(&j, "name");
		mp_json_string(&j, d.name);
		mp_json_key(&j, "value");
		mp_json_uint(&j, d.value);
		mp_json_end_object(&j);
	}
	mp_json_end_array(&j);

	mp_json_key(&j, "partial");
	mp_json_bool(&j, mp_heap_partial(h));
	mp_json_key(&j, "problems");
	mp_json_begin_array(&j);
	for (size_t i = 0; i < mp_heap_problem_count(h); i++) {
		const mp_heap_problem *p = mp_heap_problem_at(h, i);
		mp_json_begin_object(&j);
		mp_json_key(&j, "address");
		mp_json_hex(&j, p->address);
		mp_json_key(&j, "where");
		mp_json_string(&j, p->where);
		mp_json_key(&j, "message");
		mp_json_string(&j, p->message);
		mp_json_end_object(&j);
	}
	mp_json_end_array(&j);
	mp_json_end_object(&j);
	mp_json_finish(&j);
}

/* The histogram as a table: min and max are labels, the counts gauges. */
static void classes_table(mp_table *t, const heap_summary *s)
{
	mp_table_init(t, "heap_size_class", "heap chunks per size class");
	mp_table_column(t, "min", false);
	mp_table_column(t, "max", false);
	static const char *const columns[] = {"in_use_chunks", "in_use_bytes", "free_chunks",
					      "free_bytes", "cached_chunks", "cached_bytes"};
	for (size_t i = 0; i < 6; i++)
		mp_table_column(t, columns[i], true);
	for (int k = 5; k <= s->top_class; k++) {
		mp_table_row(t);
		mp_table_uint(t, k == 5 ? 0 : ((uint64_t)1 << (k - 1)) + 1);
		mp_table_uint(t, (uint64_t)1 << k);
		for (int column = 0; column < 3; column++) {
			mp_table_uint(t, s->classes[k][column].chunks);
			mp_table_uint(t, s->classes[k][column].bytes);
		}
	}
}

static void write_csv(FILE *out, const heap_summary *s)
{
	mp_table t;
	classes_table(&t, s);
	mp_table_write_csv(out, &t);
	mp_table_free(&t);
}

/* Prometheus: mallinfo2 recomputed, chunks and bytes per state, the
 * histogram. */
static void write_prometheus(FILE *out, const mp_heap *h, const heap_summary *s)
{
	mp_table t;
	if (!is_glibc(h)) {
		mp_table_init(&t, "heap_allocator_detail", "the allocator's own figures");
		mp_table_column(&t, "group", false);
		mp_table_column(&t, "name", false);
		mp_table_column(&t, "value", true);
		for (size_t i = 0; i < mp_heap_detail_count(h); i++) {
			mp_heap_detail d = mp_heap_detail_at(h, i);
			mp_table_row(&t);
			mp_table_text(&t, d.group);
			mp_table_text(&t, d.name);
			mp_table_uint(&t, d.value);
		}
		mp_table_write_prometheus(out, &t);
		mp_table_free(&t);
		goto states;
	}
	mp_mallinfo mi;
	mp_heap_mallinfo(h, &mi);
	mp_table_init(&t, "heap_mallinfo", "glibc mallinfo2 recomputed from the heap walk");
	static const char *const fields[] = {"arena", "ordblks", "smblks", "hblks", "hblkhd",
					     "usmblks", "fsmblks", "uordblks", "fordblks",
					     "keepcost"};
	const uint64_t values[] = {mi.arena, mi.ordblks, mi.smblks, mi.hblks, mi.hblkhd,
				   mi.usmblks, mi.fsmblks, mi.uordblks, mi.fordblks, mi.keepcost};
	for (size_t i = 0; i < 10; i++)
		mp_table_column(&t, fields[i], true);
	mp_table_row(&t);
	for (size_t i = 0; i < 10; i++)
		mp_table_uint(&t, values[i]);
	mp_table_write_prometheus(out, &t);
	mp_table_free(&t);
states:
	mp_table_init(&t, "heap_state", "heap chunks per state");
	mp_table_column(&t, "state", false);
	mp_table_column(&t, "chunks", true);
	mp_table_column(&t, "bytes", true);
	for (int state = 0; state < MP_CHUNK_STATE_COUNT; state++) {
		mp_table_row(&t);
		mp_table_text(&t, mp_chunk_state_name((enum mp_chunk_state)state));
		mp_table_uint(&t, s->by_state[state].chunks);
		mp_table_uint(&t, s->by_state[state].bytes);
	}
	mp_table_write_prometheus(out, &t);
	mp_table_free(&t);
	classes_table(&t, s);
	mp_table_write_prometheus(out, &t);
	mp_table_free(&t);
}

static void text_tally(FILE *out, const char *label, tally t)
{
	fprintf(out, "  %-9s %10" PRIu64 " chunks %14" PRIu64 " bytes\n", label,
		t.chunks, t.bytes);
}

/* malloc's peaks and mallinfo2, recomputed. */
static void write_glibc_text(FILE *out, const mp_heap *h)
{
	uint64_t max_mmapped, max_n_mmaps;
	if (mp_heap_peak_mmapped(h, &max_mmapped, &max_n_mmaps))
		fprintf(out, "\npeak (malloc's own statistics): mmapped %" PRIu64 " bytes in at most %"
			PRIu64 " chunks; see each arena's peak above\n", max_mmapped, max_n_mmaps);
	else
		fprintf(out, "\npeak: malloc's mmap statistics (mp_) were not found; arena peaks above\n");

	mp_mallinfo mi;
	mp_heap_mallinfo(h, &mi);
	fprintf(out, "\nmallinfo2 (recomputed from the walk)\n"
		"  arena %" PRIu64 "  ordblks %" PRIu64 "  smblks %" PRIu64 "  hblks %" PRIu64
		"  hblkhd %" PRIu64 "\n  uordblks %" PRIu64 "  fordblks %" PRIu64 "  fsmblks %" PRIu64
		"  keepcost %" PRIu64 "\n", mi.arena, mi.ordblks, mi.smblks, mi.hblks, mi.hblkhd,
		mi.uordblks, mi.fordblks, mi.fsmblks, mi.keepcost);
}

/* The allocator's own figures, a line per group. */
static void write_detail_text(FILE *out, const mp_heap *h)
{
	const char *group = NULL;
	for (size_t i = 0; i < mp_heap_detail_count(h); i++) {
		mp_heap_detail d = mp_heap_detail_at(h, i);
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

static void write_text(FILE *out, const mp_heap *h, const heap_summary *s)
{
	fprintf(out, "heap     %s, found by %s\n", mp_heap_backend(h), mp_heap_located_by(h));
	mp_allocator allocator = mp_heap_allocator(h);
	mp_command_allocator_text(out, &allocator);
	fprintf(out, "target   %s\n", mp_heap_target_description(h));
	for (size_t i = 0; i < mp_heap_arena_count(h); i++) {
		const mp_arena_info *a = mp_heap_arena(h, i);
		const tally *st = s->by_arena[i];
		tally c = cached(st);
		fprintf(out, "\narena 0x%" PRIx64 "%s: system %" PRIu64 " bytes (peak %" PRIu64
			")%s\n", a->address, a->is_main ? " (main)" : "", a->system_mem,
			a->max_system_mem, a->is_main ? "" : "");
		text_tally(out, "in use", st[MP_CHUNK_IN_USE]);
		text_tally(out, "free", st[MP_CHUNK_FREE]);
		fprintf(out, "  %-9s %10" PRIu64 " chunks %14" PRIu64 " bytes  (tcache %" PRIu64
			", fastbin %" PRIu64 ")\n", "cached", c.chunks, c.bytes,
			st[MP_CHUNK_TCACHE].chunks, st[MP_CHUNK_FASTBIN].chunks);
		fprintf(out, "  %-9s %10d chunk  %14" PRIu64 " bytes  at 0x%" PRIx64 "\n", "top",
			a->top_address ? 1 : 0, a->top_size, a->top_address);
		if (!a->is_main)
			fprintf(out, "  %-9s %10zu\n", "heaps", a->n_heaps);
	}
	fprintf(out, "\nmmapped chunks: %" PRIu64 ", %" PRIu64 " usable bytes\n",
		s->by_state[MP_CHUNK_IN_USE_MMAPPED].chunks,
		s->by_state[MP_CHUNK_IN_USE_MMAPPED].bytes);
	if (s->by_state[MP_CHUNK_METADATA].chunks)
		fprintf(out, "allocator metadata (tcache structs): %" PRIu64 " chunks, %" PRIu64 " bytes\n",
			s->by_state[MP_CHUNK_METADATA].chunks, s->by_state[MP_CHUNK_METADATA].bytes);

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

	if (is_glibc(h))
		write_glibc_text(out, h);
	else
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

static int report(mp_command *c, const mp_heap *h)
{
	heap_summary s;
	mp_error *err = summarise(h, &s);
	if (err)
		return mp_command_fail(c, err);
	switch (c->options->format) {
	case MP_FORMAT_JSON: write_json(c->out, h, &s); break;
	case MP_FORMAT_CSV: write_csv(c->out, &s); break;
	case MP_FORMAT_PROMETHEUS: write_prometheus(c->out, h, &s); break;
	default: {
		write_text(c->out, h, &s);
		/* The heap's problems are listed above; the target's too. */
		mp_text_warnings warnings = {0};
		mp_text_warnings_add_target(&warnings, c->target);
		mp_text_warnings_write(c->out, &warnings, c->target && mp_target_partial(c->target));
		break;
	}
	}
	free(s.by_arena);
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
