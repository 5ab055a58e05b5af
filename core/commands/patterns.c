/* `memprof patterns` and `memprof recommend`: the heap per category and
 * size class with the wasteful patterns found in it, and the changes those
 * findings recommend, ranked by priority and estimated savings.  Both run
 * the leak check's engine (heap walk, reachability, block types) and build
 * one result each (output/result.h), which its writers render as JSON,
 * CSV, Prometheus or text. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/patterns.h"
#include "analysis/owner_paths.h"
#include "analysis/snapshot_blocks.h"
#include "command.h"
#include "command_result.h"
#include "error.h"
#include "heap/heap_internal.h"
#include "patterns_section.h"
#include "diff_inputs.h"
#include "leaks_report.h"
#include "output/result.h"
#include "target/core_file.h"

enum { TEXT_ROWS = 20 };

static const char *const pressure_levels[] = {"normal", "elevated", "high", "critical"};

/* "512M", "2G", "64KiB", "1048576": bytes, or false.  `diff` reads its
 * --limit the same way. */
bool mp_command_parse_size(const char *text, uint64_t *out)
{
	char *end = NULL;
	double value = strtod(text, &end);
	if (end == text || value < 0)
		return false;
	uint64_t unit = 1;
	switch (*end) {
	case 'k': case 'K': unit = 1ull << 10; end++; break;
	case 'm': case 'M': unit = 1ull << 20; end++; break;
	case 'g': case 'G': unit = 1ull << 30; end++; break;
	case 't': case 'T': unit = 1ull << 40; end++; break;
	default: break;
	}
	if (unit > 1 && (strcmp(end, "iB") == 0 || strcmp(end, "B") == 0))
		end += strlen(end);
	if (*end == 'B' && end[1] == '\0')
		end++;
	if (*end || value * (double)unit >= 1.8e19)
		return false;
	*out = (uint64_t)(value * (double)unit);
	return true;
}

static int level_index(const char *name)
{
	for (int i = 0; i < 4; i++)
		if (strcmp(name, pressure_levels[i]) == 0)
			return i;
	return -1;
}

static int pressure_of(uint64_t footprint, uint64_t limit)
{
	double share = limit ? (double)footprint / (double)limit : 0;
	return share >= 0.95 ? 3 : share >= 0.85 ? 2 : share >= 0.70 ? 1 : 0;
}

/* ------------------------------------------------------- recommendations */

typedef struct recommendation {
	const mp_finding *finding;
	char *description;
	const char *difficulty;
	const char *priority;
} recommendation;

static int priority_rank(const char *priority)
{
	return strcmp(priority, "critical") == 0 ? 0 : strcmp(priority, "high") == 0 ? 1
	       : strcmp(priority, "medium") == 0 ? 2 : 3;
}

static int compare_recommendations(const void *x, const void *y)
{
	const recommendation *a = x, *b = y;
	int ranks = priority_rank(a->priority) - priority_rank(b->priority);
	if (ranks)
		return ranks;
	if (a->finding->savings != b->finding->savings)
		return a->finding->savings > b->finding->savings ? -1 : 1;
	return strcmp(a->finding->subject, b->finding->subject);
}

/* The change a finding calls for, how hard it is, and how urgent. */
static bool recommend(const mp_finding *f, recommendation *r)
{
	const char *s = f->subject;
	int n = -1;
	r->finding = f;
	r->priority = f->impact;
	r->difficulty = "medium";
	if (strcmp(f->kind, "duplicate-content") == 0) {
		n = asprintf(&r->description, "intern or share the identical %s contents: keep one copy of each", s);
	} else if (strcmp(f->kind, "small-allocations") == 0) {
		n = asprintf(&r->description, "allocate %s from a pool or arena of fixed-size slots instead of one malloc each", s);
	} else if (strcmp(f->kind, "struct-padding") == 0) {
		r->difficulty = "easy";
		n = asprintf(&r->description, "reorder the members of %s to remove its holes (memprof type --reorganize)", s);
	} else if (strcmp(f->kind, "overcapacity") == 0) {
		r->difficulty = "easy";
		n = asprintf(&r->description, "size %s to what it holds: reserve the real length, or shrink_to_fit once filled", s);
	} else if (strcmp(f->kind, "fragmentation") == 0) {
		r->difficulty = "easy";
		n = asprintf(&r->description, "give free pages of %s back: malloc_trim(0) after peaks, or a lower M_TRIM_THRESHOLD", s);
	} else if (strcmp(f->kind, "arena-bloat") == 0) {
		r->difficulty = "easy";
		n = asprintf(&r->description, "cap malloc's arenas: mallopt(M_ARENA_MAX, 2) or MALLOC_ARENA_MAX=2 in the environment");
	} else if (strcmp(f->kind, "growth") == 0) {
		n = asprintf(&r->description, "bound %s: it grew in every interval between the snapshots; evict, cap or free what it no longer needs", s);
	} else if (strcmp(f->kind, "leak") == 0) {
		n = asprintf(&r->description, "free the lost %s blocks (memprof leaks, memprof refs ADDR)", s);
	} else {
		n = asprintf(&r->description, "%s: %s", f->kind, s);
	}
	if (n < 0) {
		r->description = NULL;
		return false;
	}
	return true;
}

/* ---------------------------------------------------------------- results */

/* The verbs build one result (output/result.h) and its writers give the
 * JSON, CSV, Prometheus and text alike; only the text has a hook, for the
 * headings and sentences a person reads. */

static const mp_result_column finding_columns[] = {
	{"kind", NULL, false},
	{"impact", NULL, false},
	{"savings_bytes", "estimated_savings_bytes", true},
	{"blocks", NULL, true},
	{"bytes", NULL, true},
	{"subject", NULL, false},
};

static const mp_result_column category_columns[] = {
	{"blocks", NULL, true},
	{"bytes", NULL, true},
	{"overhead_bytes", NULL, true},
	{"name", NULL, false},
};

static const mp_result_column recommendation_columns[] = {
	{"priority", NULL, false},
	{"savings_bytes", "estimated_savings_bytes", true},
	{"difficulty", NULL, false},
	{"kind", NULL, false},
	{"description", NULL, false},
};

static void result_examples(mp_result *r, mp_rnode object, const mp_finding *f)
{
	mp_rnode examples = mp_result_array(r, object, "examples");
	for (size_t e = 0; e < f->n_examples; e++)
		mp_result_hex(r, examples, NULL, f->examples[e]);
}

void mp_finding_result(mp_result *r, mp_rnode object, const mp_finding *f)
{
	mp_result_string(r, object, "kind", f->kind);
	mp_result_string(r, object, "subject", f->subject);
	mp_result_uint(r, object, "blocks", f->blocks);
	mp_result_uint(r, object, "bytes", f->bytes);
	mp_result_uint(r, object, "estimated_savings_bytes", f->savings);
	mp_result_string(r, object, "impact", f->impact);
	mp_result_string(r, object, "evidence", f->detail ? f->detail : "");
	result_examples(r, object, f);
}

static mp_rnode result_categories(mp_result *r, const char *key, const mp_pattern_category *rows,
				  size_t n)
{
	mp_rnode array = mp_result_array(r, MP_RESULT_ROOT, key);
	for (size_t i = 0; i < n; i++) {
		mp_rnode o = mp_result_object(r, array, NULL);
		mp_result_string(r, o, "name", rows[i].name);
		mp_result_uint(r, o, "blocks", rows[i].blocks);
		mp_result_uint(r, o, "bytes", rows[i].bytes);
		mp_result_uint(r, o, "overhead_bytes", rows[i].overhead);
	}
	return array;
}

static void result_head(mp_result *r, mp_command *c, const mp_heap *heap, const mp_patterns *p)
{
	mp_result_string(r, MP_RESULT_ROOT, "target",
			 c->target ? mp_target_description(c->target)
				   : mp_heap_target_description(heap));
	mp_result_string(r, MP_RESULT_ROOT, "backend", mp_heap_backend(heap));
	mp_rnode totals = mp_result_object(r, MP_RESULT_ROOT, "totals");
	mp_rnode in_use = mp_result_object(r, totals, "in_use");
	mp_result_uint(r, in_use, "blocks", p->in_use_blocks);
	mp_result_uint(r, in_use, "bytes", p->in_use_bytes);
	mp_result_uint(r, totals, "heap_bytes", mp_heap_system_bytes(heap));
	mp_result_uint(r, MP_RESULT_ROOT, "noise_floor_bytes", p->noise_floor);
	mp_result_bool(r, MP_RESULT_ROOT, "partial", p->partial);
	mp_rnode warnings = mp_result_array(r, MP_RESULT_ROOT, "warnings");
	for (size_t i = 0; i < p->n_warnings; i++)
		mp_result_string(r, warnings, NULL, p->warnings[i]);
	/* A dashboard's scale for the tables' gauges. */
	mp_result_declare_gauge(r, "heap_in_use_blocks", "heap blocks in use",
				(double)p->in_use_blocks, NULL);
	mp_result_declare_gauge(r, "heap_in_use_bytes", "usable bytes of the heap blocks in use",
				(double)p->in_use_bytes, NULL);
	mp_result_declare_gauge(r, "heap_system_bytes",
				"what the allocator holds from the system, by its own statistics",
				(double)mp_heap_system_bytes(heap), NULL);
}

static uint64_t root_uint(const mp_result *r, const char *path)
{
	return mp_result_get_uint(r, mp_result_get(r, MP_RESULT_ROOT, path));
}

static const char *root_string(const mp_result *r, const char *path)
{
	return mp_result_get_string(r, mp_result_get(r, MP_RESULT_ROOT, path));
}

static const mp_result_table *root_table(const mp_result *r, const char *key)
{
	return mp_result_table_of(r, mp_result_get(r, MP_RESULT_ROOT, key));
}

/* The patterns for a person: totals, the three tables under headings,
 * then each shown finding's evidence in a sentence. */
static void patterns_text(FILE *out, const mp_result *r, void *context)
{
	(void)context;
	fprintf(out, "memprof patterns: %s\n%" PRIu64 " blocks, %" PRIu64
		" bytes in use (%s)\n\ncategories, largest first:\n",
		root_string(r, "target"), root_uint(r, "totals.in_use.blocks"),
		root_uint(r, "totals.in_use.bytes"), root_string(r, "backend"));
	mp_result_write_text_table(out, r, root_table(r, "categories"), TEXT_ROWS);
	fprintf(out, "\nsize classes (usable bytes):\n");
	mp_result_write_text_table(out, r, root_table(r, "size_classes"), 0);
	fprintf(out, "\nfindings, largest savings first (noise floor %" PRIu64 " bytes):\n",
		root_uint(r, "noise_floor_bytes"));
	mp_rnode findings = mp_result_get(r, MP_RESULT_ROOT, "findings");
	if (!mp_result_count(r, findings)) {
		fprintf(out, "  none\n");
		return;
	}
	mp_result_write_text_table(out, r, mp_result_table_of(r, findings), TEXT_ROWS);
	size_t i = 0;
	for (mp_rnode f = mp_result_first(r, findings); f != MP_RESULT_NONE && i < TEXT_ROWS;
	     f = mp_result_next(r, f), i++)
		fprintf(out, "%s%s %s: %s\n", i ? "" : "\n",
			mp_result_get_string(r, mp_result_get(r, f, "kind")),
			mp_result_get_string(r, mp_result_get(r, f, "subject")),
			mp_result_get_string(r, mp_result_get(r, f, "evidence")));
}

static void patterns_result(mp_result *r, mp_command *c, const mp_heap *heap,
			    const mp_patterns *p)
{
	result_head(r, c, heap, p);
	mp_rnode categories = result_categories(r, "categories", p->categories, p->n_categories);
	mp_rnode classes = result_categories(r, "size_classes", p->size_classes, p->n_size_classes);
	mp_rnode findings = mp_result_array(r, MP_RESULT_ROOT, "findings");
	for (size_t i = 0; i < p->n_findings; i++)
		mp_finding_result(r, mp_result_object(r, findings, NULL), &p->findings[i]);
	mp_result_declare_table(r, categories, "category", "heap blocks in use per category",
				MP_RESULT_COLUMNS(category_columns), TEXT_ROWS);
	mp_result_declare_table(r, classes, "size_class", "heap blocks in use per size class",
				MP_RESULT_COLUMNS(category_columns), 0);
	mp_result_declare_table(r, findings, "finding", "wasteful patterns found in the heap",
				MP_RESULT_COLUMNS(finding_columns), TEXT_ROWS);
	mp_result_set_text_hook(r, patterns_text, NULL);
}

/* The recommendations for a person: the heap against its limit, then the
 * ranked table. */
static void recommend_text(FILE *out, const mp_result *r, void *context)
{
	(void)context;
	fprintf(out, "memprof recommend: %s\nheap %" PRIu64 " bytes from the system, %" PRIu64
		" bytes in use in %" PRIu64 " blocks (%s)",
		root_string(r, "target"), root_uint(r, "totals.heap_bytes"),
		root_uint(r, "totals.in_use.bytes"), root_uint(r, "totals.in_use.blocks"),
		root_string(r, "backend"));
	if (mp_result_get(r, MP_RESULT_ROOT, "limit_bytes") != MP_RESULT_NONE)
		fprintf(out, "; limit %" PRIu64 ": pressure %s", root_uint(r, "limit_bytes"),
			root_string(r, "pressure"));
	size_t n = mp_result_count(r, mp_result_get(r, MP_RESULT_ROOT, "recommendations"));
	fprintf(out, "\n%zu recommendation%s, %" PRIu64 " bytes to save in all\n\n", n,
		n == 1 ? "" : "s", root_uint(r, "estimated_savings_bytes"));
	if (n)
		mp_result_write_text_table(out, r, root_table(r, "recommendations"), TEXT_ROWS);
	else
		fprintf(out, "nothing above the noise floor (%" PRIu64 " bytes)\n",
			root_uint(r, "noise_floor_bytes"));
}

static void recommend_result(mp_result *r, mp_command *c, const mp_heap *heap,
			     const mp_patterns *p, const recommendation *rec, size_t n,
			     uint64_t limit, int level, uint64_t total_savings)
{
	result_head(r, c, heap, p);
	if (limit) {
		mp_result_uint(r, MP_RESULT_ROOT, "limit_bytes", limit);
		mp_result_string(r, MP_RESULT_ROOT, "pressure", pressure_levels[level]);
	}
	mp_result_uint(r, MP_RESULT_ROOT, "estimated_savings_bytes", total_savings);
	mp_rnode list = mp_result_array(r, MP_RESULT_ROOT, "recommendations");
	for (size_t i = 0; i < n; i++) {
		const mp_finding *f = rec[i].finding;
		mp_rnode o = mp_result_object(r, list, NULL);
		mp_result_string(r, o, "kind", f->kind);
		mp_result_string(r, o, "description", rec[i].description);
		mp_result_string(r, o, "evidence", f->detail ? f->detail : "");
		mp_result_uint(r, o, "estimated_savings_bytes", f->savings);
		mp_result_string(r, o, "difficulty", rec[i].difficulty);
		mp_result_string(r, o, "priority", rec[i].priority);
		mp_result_string(r, o, "subject", f->subject);
		result_examples(r, o, f);
	}
	mp_result_declare_table(r, list, "recommendation",
				"changes recommended, with estimated savings",
				MP_RESULT_COLUMNS(recommendation_columns), TEXT_ROWS);
	mp_result_declare_gauge(r, "estimated_savings_bytes",
				"the recommendations' estimated savings, summed",
				(double)total_savings, NULL);
	if (limit)
		mp_result_declare_gauge(r, "memory_limit_bytes", "--limit", (double)limit, NULL);
	if (limit)
		mp_result_declare_gauge(r, "memory_pressure_level",
					"heap against --limit: 0 normal, 1 elevated, 2 high, 3 critical",
					level, NULL);
	mp_result_set_text_hook(r, recommend_text, NULL);
}

/* ------------------------------------------------------------------ verbs */

typedef struct analysis {
	mp_heap *heap;
	mp_leaks *leaks;           /* NULL when read from a snapshot */
	mp_patterns patterns;
} analysis;

static mp_error *heap_and_leaks(mp_command *c, mp_heap **heap, mp_leaks **leaks)
{
	mp_leak_options leak_options = mp_command_leak_options(c);
	mp_heap_options heap_options = mp_command_heap_options(c);
	heap_options.keep_pages = !mp_core_file_reads(c->target);
	mp_error *err = mp_heap_open(c->target, &heap_options, heap);
	if (!err)
		err = mp_leaks_analyze(c->target, *heap, &leak_options, leaks);
	if (err) {
		mp_heap_free(*heap);
		*heap = NULL;
	}
	return err;
}

static mp_pattern_options pattern_options(mp_command *c)
{
	mp_pattern_options options = {0};
	mp_command_threads(c, &options.threads);
	if (c->host) {
		options.interrupted = c->host->interrupted;
		options.context = c->host->context;
	}
	return options;
}

mp_error *mp_patterns_snapshot_sections(mp_command *c, const mp_heap *heap,
				       heap_section out[MP_SNAPSHOT_SECTIONS])
{
	mp_leak_options leak_options = mp_command_leak_options(c);
	mp_leaks *leaks = NULL;
	mp_pattern_input in;
	mp_pattern_options options = pattern_options(c);
	options.block_hashes = true;
	memset(out, 0, MP_SNAPSHOT_SECTIONS * sizeof(*out));
	mp_error *err = mp_leaks_analyze(c->target, heap, &leak_options, &leaks);
	if (!err)
		err = mp_pattern_input_gather(c->target, heap, leaks, &options, &in);
	mp_leaks_free(leaks);
	if (err)
		return err;
	out[0].tag = HEAP_SECTION_PATTERNS;
	err = mp_pattern_input_encode(&in, &out[0].data, &out[0].size);
	/* Owner paths: the globals' logical walks, for growth per path.  Their
	 * table is a section; each chunk's index rides in the blocks word. */
	mp_owner_paths owners = {0};
	mp_owner_options owner_options = {0};
	owner_options.interrupted = options.interrupted;
	owner_options.context = options.context;
	if (!err)
		err = mp_owner_paths_compute(c->target, heap, &owner_options, &owners);
	out[2].tag = HEAP_SECTION_OWNERS;
	if (!err)
		err = mp_owner_paths_encode(&owners, &out[2].data, &out[2].size);
	/* The same pass hashed every block: what `diff` needs rides along. */
	out[1].tag = HEAP_SECTION_BLOCKS;
	if (!err)
		err = mp_snapshot_blocks_encode(c->target, heap, in.chunk_hash, in.chunk_evidence,
						owners.chunk_path, &out[1].data, &out[1].size);
	mp_owner_paths_free(&owners);
	mp_pattern_input_free(&in);
	if (err) {
		for (int i = 0; i < MP_SNAPSHOT_SECTIONS; i++) {
			free(out[i].data);
			out[i].data = NULL;
		}
	}
	return err;
}

/* A saved snapshot's heap and the patterns' input saved beside it. */
static mp_error *from_snapshot(const char *path, analysis *a)
{
	heap_section *sections = NULL;
	size_t n_sections = 0;
	mp_error *err = heap_load_with(path, &a->heap, &sections, &n_sections);
	if (err)
		return err;
	const heap_section *found = NULL;
	for (size_t i = 0; i < n_sections; i++)
		if (sections[i].tag == HEAP_SECTION_PATTERNS)
			found = &sections[i];
	if (!found) {
		err = mp_error_new(MP_ERR_NOT_FOUND,
				   "snapshot %s holds the heap only (saved with --heap-only, or by an older memprof): save it again for patterns",
				   path);
	} else {
		mp_pattern_input in;
		err = mp_pattern_input_decode(found->data, found->size, mp_heap_chunk_count(a->heap),
					      &in);
		if (err)
			err = mp_error_prefix(err, "snapshot %s", path);
		if (!err) {
			err = mp_patterns_compute(a->heap, &in, &a->patterns);
			mp_pattern_input_free(&in);
		}
	}
	heap_sections_free(sections, n_sections);
	if (err) {
		mp_heap_free(a->heap);
		a->heap = NULL;
	}
	return err;
}

static mp_error *analyse(mp_command *c, analysis *a)
{
	memset(a, 0, sizeof(*a));
	const char *snapshot = mp_command_value(c, "--snapshot");
	if (snapshot)
		return from_snapshot(snapshot, a);
	mp_pattern_options options = pattern_options(c);
	mp_error *err = heap_and_leaks(c, &a->heap, &a->leaks);
	if (!err)
		err = mp_patterns_build(c->target, a->heap, a->leaks, &options, &a->patterns);
	if (err) {
		mp_leaks_free(a->leaks);
		mp_heap_free(a->heap);
		memset(a, 0, sizeof(*a));
	}
	return err;
}

/* --snapshot replaces the target: both is a usage error. */
static int check_snapshot(mp_command *c)
{
	if (mp_command_value(c, "--snapshot") && (c->options->core || c->options->pid)) {
		fprintf(c->err, "memprof: --snapshot replaces the target; drop --core/--pid\n");
		return MP_EXIT_USAGE;
	}
	return MP_EXIT_OK;
}

static void release(analysis *a)
{
	mp_patterns_free(&a->patterns);
	mp_leaks_free(a->leaks);
	mp_heap_free(a->heap);
}

static void warn_partial(mp_command *c, const analysis *a)
{
	/* The text report ends with them; other formats say them here. */
	if (c->options->format == MP_FORMAT_TEXT) {
		mp_text_warnings warnings = {0};
		mp_text_warnings_add_target(&warnings, c->target);
		for (size_t i = 0; a->leaks && i < mp_leaks_warning_count(a->leaks); i++)
			mp_text_warnings_add(&warnings, mp_leaks_warning(a->leaks, i));
		for (size_t i = 0; i < a->patterns.n_warnings; i++)
			mp_text_warnings_add(&warnings, a->patterns.warnings[i]);
		mp_text_warnings_write(c->out, &warnings, a->patterns.partial);
		return;
	}
	for (size_t i = 0; a->leaks && i < mp_leaks_warning_count(a->leaks); i++)
		fprintf(c->err, "memprof: warning: %s\n", mp_leaks_warning(a->leaks, i));
	for (size_t i = 0; i < a->patterns.n_warnings; i++)
		fprintf(c->err, "memprof: warning: %s\n", a->patterns.warnings[i]);
	if (a->patterns.partial)
		fprintf(c->err, "memprof: warning: results are partial: some memory could not be read\n");
}

static int run_patterns(mp_command *c)
{
	unsigned threads;
	if (check_snapshot(c) != MP_EXIT_OK || !mp_command_threads(c, &threads))
		return MP_EXIT_USAGE;
	analysis a;
	mp_error *err = analyse(c, &a);
	if (err)
		return mp_command_fail(c, err);
	mp_result r;
	mp_result_init(&r);
	patterns_result(&r, c, a.heap, &a.patterns);
	err = mp_result_write(c->out, &r, mp_command_result_format(c));
	mp_result_free(&r);
	if (err) {
		release(&a);
		return mp_command_fail(c, err);
	}
	warn_partial(c, &a);
	release(&a);
	return MP_EXIT_OK;
}

static int run_recommend(mp_command *c)
{
	const char *limit_text = mp_command_value(c, "--limit");
	const char *fail_text = mp_command_value(c, "--fail-on-pressure");
	uint64_t limit = 0;
	if (limit_text && (!mp_command_parse_size(limit_text, &limit) || limit == 0)) {
		fprintf(c->err, "memprof: --limit takes a size such as 512M, 2G or 1048576, not '%s'\n",
			limit_text);
		return MP_EXIT_USAGE;
	}
	int fail_level = fail_text ? level_index(fail_text) : -1;
	if (fail_text && fail_level < 0) {
		fprintf(c->err, "memprof: --fail-on-pressure takes normal, elevated, high or critical, not '%s'\n",
			fail_text);
		return MP_EXIT_USAGE;
	}
	if (fail_text && !limit) {
		fprintf(c->err, "memprof: --fail-on-pressure needs --limit SIZE\n");
		return MP_EXIT_USAGE;
	}
	unsigned threads;
	if (check_snapshot(c) != MP_EXIT_OK || !mp_command_threads(c, &threads))
		return MP_EXIT_USAGE;
	analysis a;
	mp_error *err = analyse(c, &a);
	if (err)
		return mp_command_fail(c, err);
	/* Several --snapshot files, oldest first: the patterns are the last
	 * one's, and what grew across all of them adds `growth` findings. */
	mp_heap_diff diff;
	mp_heap_diff_init(&diff);
	if (mp_command_value_at(c, "--snapshot", 1)) {
		const char *path;
		for (size_t i = 0; !err && (path = mp_command_value_at(c, "--snapshot", i)); i++)
			err = mp_diff_load_snapshot(path, &diff);
		if (!err)
			err = mp_heap_diff_finish(&diff, limit);
		if (err) {
			mp_heap_diff_free(&diff);
			release(&a);
			return mp_command_fail(c, err);
		}
	}
	const mp_patterns *p = &a.patterns;
	size_t wanted = p->n_findings + diff.n_growth;
	recommendation *r = calloc(wanted ? wanted : 1, sizeof(*r));
	size_t n = 0;
	for (size_t i = 0; r && i < p->n_findings; i++)
		if (recommend(&p->findings[i], &r[n]))
			n++;
	/* Per type only: a type's finding names the owner path that holds
	 * it, and the same bytes twice would double the savings. */
	for (size_t i = 0; r && i < diff.n_growth; i++)
		if (diff.growth[i].by_owner)
			wanted--;
		else if (recommend(&diff.growth[i].finding, &r[n]))
			n++;
	if (!r || n < wanted) {
		for (size_t i = 0; r && i < n; i++)
			free(r[i].description);
		free(r);
		mp_heap_diff_free(&diff);
		release(&a);
		return mp_command_fail(c, mp_error_new(MP_ERR_NOMEM, "out of memory"));
	}
	qsort(r, n, sizeof(*r), compare_recommendations);
	uint64_t footprint = mp_heap_system_bytes(a.heap);
	int level = limit ? pressure_of(footprint, limit) : -1;
	uint64_t total_savings = 0;
	for (size_t i = 0; i < n; i++)
		total_savings += r[i].finding->savings;
	mp_result result;
	mp_result_init(&result);
	recommend_result(&result, c, a.heap, p, r, n, limit, level, total_savings);
	err = mp_result_write(c->out, &result, mp_command_result_format(c));
	mp_result_free(&result);
	if (err) {
		for (size_t i = 0; i < n; i++)
			free(r[i].description);
		free(r);
		mp_heap_diff_free(&diff);
		release(&a);
		return mp_command_fail(c, err);
	}
	warn_partial(c, &a);
	for (size_t i = 0; i < n; i++)
		free(r[i].description);
	free(r);
	mp_heap_diff_free(&diff);
	release(&a);
	if (fail_level >= 0 && level >= fail_level) {
		fprintf(c->err, "memprof: memory pressure %s (heap %" PRIu64 " of a %" PRIu64
			"-byte limit) reaches --fail-on-pressure %s: exit status 3\n",
			pressure_levels[level], footprint, limit, pressure_levels[fail_level]);
		return MP_EXIT_CHECK_FAILED;
	}
	return MP_EXIT_OK;
}

static const char *const patterns_flags[] = {NULL};
static const char *const patterns_valued[] = {"--snapshot", "--threads", NULL};
static const char *const recommend_valued[] = {"--limit", "--fail-on-pressure", "--snapshot",
					       "--threads", NULL};

const mp_verb mp_verb_patterns = {
	.name = "patterns",
	.summary = "heap blocks per category and size class, and wasteful patterns with savings",
	.usage = "[--snapshot FILE] [--threads N]\n"
		 "  --snapshot: a snapshot saved by `memprof snapshot save`, instead of a target\n"
		 "  --threads N: threads of the leak check and of the block passes on a core (default: one per CPU)",
	.formats = MP_FORMAT_TEXT | MP_FORMAT_JSON | MP_FORMAT_CSV | MP_FORMAT_PROMETHEUS,
	.needs_target = true,
	.target_unless = "--snapshot",
	.flags = patterns_flags,
	.valued = patterns_valued,
	.run = run_patterns,
};

const mp_verb mp_verb_recommend = {
	.name = "recommend",
	.summary = "recommended changes with estimated savings, difficulty and priority",
	.usage = "[--limit SIZE] [--fail-on-pressure normal|elevated|high|critical] [--snapshot FILE ...]\n"
		 "  [--threads N]   (as for `memprof patterns`)\n"
		 "  --snapshot given more than once (oldest first): the last snapshot's patterns,\n"
		 "  and `growth` for what grew in every interval between them (memprof diff)",
	.formats = MP_FORMAT_TEXT | MP_FORMAT_JSON | MP_FORMAT_CSV | MP_FORMAT_PROMETHEUS,
	.needs_target = true,
	.target_unless = "--snapshot",
	.valued = recommend_valued,
	.run = run_recommend,
};
