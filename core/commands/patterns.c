/* `memprof patterns` and `memprof recommend`: the heap per category and
 * size class with the wasteful patterns found in it, and the changes those
 * findings recommend, ranked by priority and estimated savings.  Both run
 * the leak check's engine (heap walk, reachability, block types) and write
 * their results as tables (output/table.h) or JSON. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/patterns.h"
#include "analysis/owner_paths.h"
#include "analysis/snapshot_blocks.h"
#include "command.h"
#include "error.h"
#include "heap/heap_internal.h"
#include "patterns_section.h"
#include "diff_inputs.h"
#include "leaks_report.h"
#include "output/json.h"
#include "output/table.h"

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

/* What the process holds from the system for its heap: the arenas' memory
 * and the mmapped chunks, as malloc's statistics count them. */
static uint64_t heap_footprint(const mp_heap *heap)
{
	mp_mallinfo mi;
	mp_heap_mallinfo(heap, &mi);
	return mi.arena + mi.hblkhd;
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
		/* A leak is a bug whatever its size. */
		if (priority_rank(r->priority) > 2)
			r->priority = "medium";
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

/* ---------------------------------------------------------------- tables */

static void findings_table(mp_table *t, const mp_patterns *p)
{
	mp_table_init(t, "finding", "wasteful patterns found in the heap");
	mp_table_column(t, "kind", false);
	mp_table_column(t, "impact", false);
	mp_table_column(t, "savings_bytes", true);
	mp_table_column(t, "blocks", true);
	mp_table_column(t, "bytes", true);
	mp_table_column(t, "subject", false);
	for (size_t i = 0; i < p->n_findings; i++) {
		const mp_finding *f = &p->findings[i];
		mp_table_row(t);
		mp_table_text(t, f->kind);
		mp_table_text(t, f->impact);
		mp_table_uint(t, f->savings);
		mp_table_uint(t, f->blocks);
		mp_table_uint(t, f->bytes);
		mp_table_text(t, f->subject);
	}
}

static void categories_table(mp_table *t, const char *name, const char *help,
			     const mp_pattern_category *rows, size_t n)
{
	mp_table_init(t, name, help);
	mp_table_column(t, "blocks", true);
	mp_table_column(t, "bytes", true);
	mp_table_column(t, "overhead_bytes", true);
	mp_table_column(t, "name", false);
	for (size_t i = 0; i < n; i++) {
		mp_table_row(t);
		mp_table_uint(t, rows[i].blocks);
		mp_table_uint(t, rows[i].bytes);
		mp_table_uint(t, rows[i].overhead);
		mp_table_text(t, rows[i].name);
	}
}

static void recommendations_table(mp_table *t, const recommendation *r, size_t n)
{
	mp_table_init(t, "recommendation", "changes recommended, with estimated savings");
	mp_table_column(t, "priority", false);
	mp_table_column(t, "savings_bytes", true);
	mp_table_column(t, "difficulty", false);
	mp_table_column(t, "kind", false);
	mp_table_column(t, "description", false);
	for (size_t i = 0; i < n; i++) {
		mp_table_row(t);
		mp_table_text(t, r[i].priority);
		mp_table_uint(t, r[i].finding->savings);
		mp_table_text(t, r[i].difficulty);
		mp_table_text(t, r[i].finding->kind);
		mp_table_text(t, r[i].description);
	}
}

static void write_table(mp_command *c, const mp_table *t, size_t text_rows)
{
	switch (c->options->format) {
	case MP_FORMAT_CSV: mp_table_write_csv(c->out, t); break;
	case MP_FORMAT_PROMETHEUS: mp_table_write_prometheus(c->out, t); break;
	default: mp_table_write_text(c->out, t, text_rows); break;
	}
}

void mp_finding_json(mp_json *j, const mp_finding *f)
{
	mp_json_key(j, "kind");
	mp_json_string(j, f->kind);
	mp_json_key(j, "subject");
	mp_json_string(j, f->subject);
	mp_json_key(j, "blocks");
	mp_json_uint(j, f->blocks);
	mp_json_key(j, "bytes");
	mp_json_uint(j, f->bytes);
	mp_json_key(j, "estimated_savings_bytes");
	mp_json_uint(j, f->savings);
	mp_json_key(j, "impact");
	mp_json_string(j, f->impact);
	mp_json_key(j, "evidence");
	mp_json_string(j, f->detail ? f->detail : "");
	mp_json_key(j, "examples");
	mp_json_begin_array(j);
	for (size_t e = 0; e < f->n_examples; e++)
		mp_json_hex(j, f->examples[e]);
	mp_json_end_array(j);
}

static void json_categories(mp_json *j, const char *key, const mp_pattern_category *rows,
			    size_t n)
{
	mp_json_key(j, key);
	mp_json_begin_array(j);
	for (size_t i = 0; i < n; i++) {
		mp_json_begin_object(j);
		mp_json_key(j, "name");
		mp_json_string(j, rows[i].name);
		mp_json_key(j, "blocks");
		mp_json_uint(j, rows[i].blocks);
		mp_json_key(j, "bytes");
		mp_json_uint(j, rows[i].bytes);
		mp_json_key(j, "overhead_bytes");
		mp_json_uint(j, rows[i].overhead);
		mp_json_end_object(j);
	}
	mp_json_end_array(j);
}

static void json_head(mp_json *j, mp_command *c, const mp_heap *heap, const mp_patterns *p)
{
	mp_json_key(j, "target");
	mp_json_string(j, c->target ? mp_target_description(c->target)
				    : mp_heap_target_description(heap));
	mp_json_key(j, "backend");
	mp_json_string(j, mp_heap_backend(heap));
	mp_json_key(j, "totals");
	mp_json_begin_object(j);
	mp_json_key(j, "in_use");
	mp_json_begin_object(j);
	mp_json_key(j, "blocks");
	mp_json_uint(j, p->in_use_blocks);
	mp_json_key(j, "bytes");
	mp_json_uint(j, p->in_use_bytes);
	mp_json_end_object(j);
	mp_json_key(j, "heap_bytes");
	mp_json_uint(j, heap_footprint(heap));
	mp_json_end_object(j);
	mp_json_key(j, "noise_floor_bytes");
	mp_json_uint(j, p->noise_floor);
	mp_json_key(j, "partial");
	mp_json_bool(j, p->partial);
}

/* ------------------------------------------------------------------ verbs */

typedef struct analysis {
	mp_heap *heap;
	mp_leaks *leaks;           /* NULL when read from a snapshot */
	mp_patterns patterns;
} analysis;

/* The host's interrupt poll, for the leak check under the patterns. */
static mp_leak_options leak_options_of(const mp_command *c)
{
	mp_leak_options options = {0};
	if (c->host) {
		options.interrupted = c->host->interrupted;
		options.context = c->host->context;
	}
	return options;
}

static mp_error *heap_and_leaks(mp_command *c, mp_heap **heap, mp_leaks **leaks)
{
	mp_leak_options leak_options = leak_options_of(c);
	mp_heap_options heap_options = mp_command_heap_options(c);
	heap_options.keep_pages = true;
	mp_error *err = mp_heap_open(c->target, &heap_options, heap);
	if (!err)
		err = mp_leaks_analyze(c->target, *heap, &leak_options, leaks);
	if (err) {
		mp_heap_free(*heap);
		*heap = NULL;
	}
	return err;
}

static mp_pattern_options pattern_options(const mp_command *c)
{
	mp_pattern_options options = {0};
	if (c->host) {
		options.interrupted = c->host->interrupted;
		options.context = c->host->context;
	}
	return options;
}

mp_error *mp_patterns_snapshot_sections(mp_command *c, const mp_heap *heap,
				       heap_section out[MP_SNAPSHOT_SECTIONS])
{
	mp_leak_options leak_options = leak_options_of(c);
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
		mp_text_warnings_write(c->out, &warnings, a->patterns.partial);
		return;
	}
	for (size_t i = 0; a->leaks && i < mp_leaks_warning_count(a->leaks); i++)
		fprintf(c->err, "memprof: warning: %s\n", mp_leaks_warning(a->leaks, i));
	if (a->patterns.partial)
		fprintf(c->err, "memprof: warning: results are partial: some memory could not be read\n");
}

static int run_patterns(mp_command *c)
{
	if (check_snapshot(c) != MP_EXIT_OK)
		return MP_EXIT_USAGE;
	analysis a;
	mp_error *err = analyse(c, &a);
	if (err)
		return mp_command_fail(c, err);
	const mp_patterns *p = &a.patterns;
	if (c->options->format == MP_FORMAT_JSON) {
		mp_json j;
		mp_json_init(&j, c->out, true);
		mp_json_begin_object(&j);
		json_head(&j, c, a.heap, p);
		json_categories(&j, "categories", p->categories, p->n_categories);
		json_categories(&j, "size_classes", p->size_classes, p->n_size_classes);
		mp_json_key(&j, "findings");
		mp_json_begin_array(&j);
		for (size_t i = 0; i < p->n_findings; i++) {
			mp_json_begin_object(&j);
			mp_finding_json(&j, &p->findings[i]);
			mp_json_end_object(&j);
		}
		mp_json_end_array(&j);
		mp_json_end_object(&j);
		mp_json_finish(&j);
	} else {
		mp_table findings, categories, classes;
		findings_table(&findings, p);
		categories_table(&categories, "category", "heap blocks in use per category",
				 p->categories, p->n_categories);
		categories_table(&classes, "size_class", "heap blocks in use per size class",
				 p->size_classes, p->n_size_classes);
		if (c->options->format == MP_FORMAT_TEXT) {
			fprintf(c->out, "memprof patterns: %s\n%" PRIu64 " blocks, %" PRIu64
				" bytes in use (%s)\n\ncategories, largest first:\n",
				c->target ? mp_target_description(c->target)
					  : mp_heap_target_description(a.heap),
				p->in_use_blocks, p->in_use_bytes,
				mp_heap_backend(a.heap));
		}
		write_table(c, &categories, TEXT_ROWS);
		if (c->options->format == MP_FORMAT_TEXT)
			fprintf(c->out, "\nsize classes (usable bytes):\n");
		write_table(c, &classes, 0);
		if (c->options->format == MP_FORMAT_TEXT)
			fprintf(c->out, "\nfindings, largest savings first (noise floor %" PRIu64 " bytes):\n",
				p->noise_floor);
		if (c->options->format != MP_FORMAT_TEXT || p->n_findings)
			write_table(c, &findings, TEXT_ROWS);
		else
			fprintf(c->out, "  none\n");
		if (c->options->format == MP_FORMAT_TEXT) {
			for (size_t i = 0; i < p->n_findings && i < TEXT_ROWS; i++)
				fprintf(c->out, "%s%s %s: %s\n", i ? "" : "\n", p->findings[i].kind,
					p->findings[i].subject,
					p->findings[i].detail ? p->findings[i].detail : "");
		}
		bool nomem = findings.nomem || categories.nomem || classes.nomem;
		mp_table_free(&findings);
		mp_table_free(&categories);
		mp_table_free(&classes);
		if (nomem) {
			release(&a);
			return mp_command_fail(c, mp_error_new(MP_ERR_NOMEM, "out of memory"));
		}
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
	if (check_snapshot(c) != MP_EXIT_OK)
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
	uint64_t footprint = heap_footprint(a.heap);
	int level = limit ? pressure_of(footprint, limit) : -1;
	uint64_t total_savings = 0;
	for (size_t i = 0; i < n; i++)
		total_savings += r[i].finding->savings;
	if (c->options->format == MP_FORMAT_JSON) {
		mp_json j;
		mp_json_init(&j, c->out, true);
		mp_json_begin_object(&j);
		json_head(&j, c, a.heap, p);
		if (limit) {
			mp_json_key(&j, "limit_bytes");
			mp_json_uint(&j, limit);
			mp_json_key(&j, "pressure");
			mp_json_string(&j, pressure_levels[level]);
		}
		mp_json_key(&j, "estimated_savings_bytes");
		mp_json_uint(&j, total_savings);
		mp_json_key(&j, "recommendations");
		mp_json_begin_array(&j);
		for (size_t i = 0; i < n; i++) {
			mp_json_begin_object(&j);
			mp_json_key(&j, "kind");
			mp_json_string(&j, r[i].finding->kind);
			mp_json_key(&j, "description");
			mp_json_string(&j, r[i].description);
			mp_json_key(&j, "evidence");
			mp_json_string(&j, r[i].finding->detail ? r[i].finding->detail : "");
			mp_json_key(&j, "estimated_savings_bytes");
			mp_json_uint(&j, r[i].finding->savings);
			mp_json_key(&j, "difficulty");
			mp_json_string(&j, r[i].difficulty);
			mp_json_key(&j, "priority");
			mp_json_string(&j, r[i].priority);
			mp_json_key(&j, "subject");
			mp_json_string(&j, r[i].finding->subject);
			mp_json_key(&j, "examples");
			mp_json_begin_array(&j);
			for (size_t e = 0; e < r[i].finding->n_examples; e++)
				mp_json_hex(&j, r[i].finding->examples[e]);
			mp_json_end_array(&j);
			mp_json_end_object(&j);
		}
		mp_json_end_array(&j);
		mp_json_end_object(&j);
		mp_json_finish(&j);
	} else {
		mp_table table;
		recommendations_table(&table, r, n);
		if (c->options->format == MP_FORMAT_TEXT) {
			fprintf(c->out, "memprof recommend: %s\nheap %" PRIu64 " bytes from the system, %" PRIu64
				" bytes in use in %" PRIu64 " blocks",
				c->target ? mp_target_description(c->target)
					  : mp_heap_target_description(a.heap),
				footprint, p->in_use_bytes,
				p->in_use_blocks);
			if (limit)
				fprintf(c->out, "; limit %" PRIu64 ": pressure %s", limit,
					pressure_levels[level]);
			fprintf(c->out, "\n%zu recommendation%s, %" PRIu64 " bytes to save in all\n\n", n,
				n == 1 ? "" : "s", total_savings);
			if (n)
				mp_table_write_text(c->out, &table, TEXT_ROWS);
			else
				fprintf(c->out, "nothing above the noise floor (%" PRIu64 " bytes)\n",
					p->noise_floor);
		} else {
			write_table(c, &table, 0);
			if (c->options->format == MP_FORMAT_PROMETHEUS && limit) {
				fprintf(c->out, "# HELP memprof_memory_pressure_level heap against --limit: 0 normal, 1 elevated, 2 high, 3 critical\n# TYPE memprof_memory_pressure_level gauge\nmemprof_memory_pressure_level %d\n",
					level);
			}
		}
		bool nomem = table.nomem;
		mp_table_free(&table);
		if (nomem) {
			for (size_t i = 0; i < n; i++)
				free(r[i].description);
			free(r);
			mp_heap_diff_free(&diff);
			release(&a);
			return mp_command_fail(c, mp_error_new(MP_ERR_NOMEM, "out of memory"));
		}
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
static const char *const patterns_valued[] = {"--snapshot", NULL};
static const char *const recommend_valued[] = {"--limit", "--fail-on-pressure", "--snapshot",
					       NULL};

const mp_verb mp_verb_patterns = {
	.name = "patterns",
	.summary = "heap blocks per category and size class, and wasteful patterns with savings",
	.usage = "[--snapshot FILE]   (a snapshot saved by `memprof snapshot save`, instead of a target)",
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
		 "  --snapshot given more than once (oldest first): the last snapshot's patterns,\n"
		 "  and `growth` for what grew in every interval between them (memprof diff)",
	.formats = MP_FORMAT_TEXT | MP_FORMAT_JSON | MP_FORMAT_CSV | MP_FORMAT_PROMETHEUS,
	.needs_target = true,
	.target_unless = "--snapshot",
	.valued = recommend_valued,
	.run = run_recommend,
};
