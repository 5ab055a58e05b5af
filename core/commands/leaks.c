/* `memprof leaks`: reachability over the heap, reported in valgrind's
 * words (a LEAK SUMMARY of the four kinds), then the leaked blocks grouped
 * by inferred type and size, then chap's unreferenced blocks. */
#include "leaks_report.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "analysis/block_types.h"
#include "analysis/block_window.h"
#include "analysis/leak_groups.h"
#include "command_result.h"
#include "error.h"
#include "target/core_file.h"
#include "target/target_internal.h"
#include "text.h"

static const struct {
	const char *name;
	enum mp_leak_kind kind;
} kind_names[] = {
	{"definite", MP_LEAK_DEFINITE},
	{"indirect", MP_LEAK_INDIRECT},
	{"possible", MP_LEAK_POSSIBLE},
	{"reachable", MP_LEAK_REACHABLE},
};

bool mp_parse_fail_on(const char *text, unsigned *mask)
{
	*mask = 0;
	if (strcmp(text, "none") == 0)
		return true;
	/* "+possible" adds to the default kinds, "possible" replaces them: a
	 * list is all of one form, so no reading of it drops a kind unseen. */
	bool adding = text[0] == '+';
	const char *p = text;
	while (*p) {
		if ((*p == '+') != adding)
			return false;
		if (adding)
			p++;
		size_t length = strcspn(p, ",");
		bool known = false;
		for (size_t i = 0; i < sizeof(kind_names) / sizeof(kind_names[0]); i++) {
			if (strlen(kind_names[i].name) == length &&
			    strncmp(p, kind_names[i].name, length) == 0) {
				*mask |= 1u << kind_names[i].kind;
				known = true;
			}
		}
		if (!known || length == 0)
			return false;
		p += length;
		if (*p == ',' && !*++p)
			return false;
	}
	if (adding)
		*mask |= MP_FAIL_ON_DEFAULT;
	return *mask != 0;
}

static const char *json_kind_key(enum mp_leak_kind kind)
{
	switch (kind) {
	case MP_LEAK_DEFINITE: return "definitely_lost";
	case MP_LEAK_INDIRECT: return "indirectly_lost";
	case MP_LEAK_POSSIBLE: return "possibly_lost";
	default: return "still_reachable";
	}
}

/* The last line of a failed check, on stderr: what a CI log or a debugger
 * batch run (which shows a failed command's last line) says failed. */
static void write_verdict(FILE *err, const mp_leak_report *r, unsigned fail_mask)
{
	fprintf(err, "memprof: leak check failed (--fail-on):");
	const char *separator = " ";
	for (size_t i = 0; i < sizeof(kind_names) / sizeof(kind_names[0]); i++) {
		enum mp_leak_kind kind = kind_names[i].kind;
		if (!(fail_mask & (1u << kind)) || !r->blocks[kind])
			continue;
		fprintf(err, "%s%s %" PRIu64 " bytes in %" PRIu64 " blocks", separator,
			json_kind_key(kind), r->bytes[kind], r->blocks[kind]);
		separator = ", ";
	}
	fprintf(err, ": exit status 3\n");
}

static void preview_text(const uint8_t *bytes, size_t length, char *hex, char *text)
{
	for (size_t i = 0; i < length; i++) {
		sprintf(hex + 3 * i, "%02x%s", bytes[i], i + 1 < length ? " " : "");
		text[i] = mp_text_printable(bytes[i]) ? (char)bytes[i] : '.';
	}
	if (!length)
		hex[0] = '\0';
	text[length] = '\0';
}

enum { JSON_UNREFERENCED = 1000 };

static const enum mp_leak_kind summary_order[] = {
	MP_LEAK_DEFINITE, MP_LEAK_INDIRECT, MP_LEAK_POSSIBLE, MP_LEAK_REACHABLE,
};

void mp_leaks_result(mp_result *r, mp_rnode parent, const mp_heap *heap, const mp_leaks *leaks,
		     const mp_leak_report *report)
{
	mp_allocator allocator = mp_heap_allocator(heap);
	mp_command_allocator_result(r, parent, &allocator);
	mp_rnode summary = mp_result_object(r, parent, "summary");
	for (size_t k = 0; k < 4; k++) {
		enum mp_leak_kind kind = summary_order[k];
		mp_rnode o = mp_result_object(r, summary, json_kind_key(kind));
		mp_result_uint(r, o, "blocks", report->blocks[kind]);
		mp_result_uint(r, o, "bytes", report->bytes[kind]);
	}
	mp_rnode groups = mp_result_array(r, parent, "groups");
	for (size_t i = 0; i < report->n_groups; i++) {
		const mp_leak_group *g = &report->groups[i];
		char hex[3 * MP_PREVIEW_BYTES + 1], text[MP_PREVIEW_BYTES + 1];
		preview_text(g->preview, g->preview_length, hex, text);
		mp_rnode o = mp_result_object(r, groups, NULL);
		mp_result_string(r, o, "kind", json_kind_key(g->kind));
		mp_result_string(r, o, "type", g->type);
		mp_result_string(r, o, "evidence", g->evidence[0] ? g->evidence : "size");
		mp_result_uint(r, o, "size", g->size);
		mp_result_uint(r, o, "count", g->count);
		mp_result_uint(r, o, "bytes", g->bytes);
		mp_result_hex(r, o, "example", g->example);
		mp_result_string(r, o, "preview_hex", hex);
		mp_result_string(r, o, "preview_text", text);
	}
	/* The largest first, at most JSON_UNREFERENCED of them: a lost list of a
	 * million heads would otherwise dwarf the report. */
	mp_result_uint(r, parent, "unreferenced_total", report->n_unreferenced);
	mp_rnode unreferenced = mp_result_array(r, parent, "unreferenced");
	for (size_t i = 0; i < report->n_unreferenced && i < JSON_UNREFERENCED; i++) {
		mp_chunk c = mp_heap_chunk(heap, report->unreferenced[i]);
		mp_rnode o = mp_result_object(r, unreferenced, NULL);
		mp_result_hex(r, o, "address", c.user_address);
		mp_result_uint(r, o, "size", mp_chunk_usable_size(&c));
		mp_result_string(r, o, "kind",
				 json_kind_key(mp_leaks_kind(leaks, report->unreferenced[i])));
	}
	mp_result_uint(r, parent, "scanned_root_bytes", mp_leaks_scanned_bytes(leaks));
	mp_result_bool(r, parent, "partial", mp_leaks_partial(leaks) || mp_heap_partial(heap));
	mp_rnode warnings = mp_result_array(r, parent, "warnings");
	for (size_t i = 0; i < mp_leaks_warning_count(leaks); i++)
		mp_result_string(r, warnings, NULL, mp_leaks_warning(leaks, i));
	for (size_t i = 0; i < mp_heap_problem_count(heap); i++)
		mp_result_string(r, warnings, NULL, mp_heap_problem_at(heap, i)->message);
}

enum { TEXT_GROUPS = 25, TEXT_UNREFERENCED = 10 };

void mp_leaks_write_text(FILE *out, const mp_target *target, const mp_heap *heap,
			 const mp_leaks *leaks, const mp_leak_report *r)
{
	fprintf(out, "LEAK SUMMARY:\n");
	static const char *const labels[] = {
		"   definitely lost", "   indirectly lost", "     possibly lost",
		"   still reachable",
	};
	for (size_t k = 0; k < 4; k++) {
		enum mp_leak_kind kind = summary_order[k];
		fprintf(out, "%s: %" PRIu64 " bytes in %" PRIu64 " blocks\n", labels[k],
			r->bytes[kind], r->blocks[kind]);
	}
	if (r->n_groups) {
		fprintf(out, "\nblocks by type and size, largest first:\n");
		for (size_t i = 0; i < r->n_groups && i < TEXT_GROUPS; i++) {
			const mp_leak_group *g = &r->groups[i];
			char hex[3 * MP_PREVIEW_BYTES + 1], text[MP_PREVIEW_BYTES + 1];
			preview_text(g->preview, g->preview_length < 16 ? g->preview_length : 16,
				     hex, text);
			fprintf(out, "  %-15s %8" PRIu64 " bytes in %6" PRIu64 " blocks of %" PRIu64
				" bytes  %s%s\n", mp_leak_kind_name(g->kind), g->bytes, g->count,
				g->size, g->type ? g->type : "(type unknown)",
				strcmp(g->evidence, "size-match") == 0 ? " (by size: the only typed blocks of this size)" : "");
			fprintf(out, "      e.g. 0x%" PRIx64 ": %-47s |%s|\n", g->example, hex, text);
		}
		if (r->n_groups > TEXT_GROUPS)
			fprintf(out, "  ... %zu more groups (--format json lists them all)\n",
				r->n_groups - TEXT_GROUPS);
	}
	if (r->n_unreferenced) {
		fprintf(out, "\nunreferenced: %zu lost block%s no other lost block points to; start here:\n",
			r->n_unreferenced, r->n_unreferenced == 1 ? "" : "s");
		for (size_t i = 0; i < r->n_unreferenced && i < TEXT_UNREFERENCED; i++) {
			mp_chunk c = mp_heap_chunk(heap, r->unreferenced[i]);
			fprintf(out, "  0x%" PRIx64 "  %" PRIu64 " bytes  %s\n", c.user_address,
				mp_chunk_usable_size(&c),
				mp_leak_kind_name(mp_leaks_kind(leaks, r->unreferenced[i])));
		}
		if (r->n_unreferenced > TEXT_UNREFERENCED)
			fprintf(out, "  ... %zu more\n", r->n_unreferenced - TEXT_UNREFERENCED);
	}
	mp_text_warnings warnings = {0};
	mp_text_warnings_add_target(&warnings, target);
	for (size_t i = 0; i < mp_heap_problem_count(heap); i++)
		mp_text_warnings_add(&warnings, mp_heap_problem_at(heap, i)->message);
	for (size_t i = 0; i < mp_leaks_warning_count(leaks); i++)
		mp_text_warnings_add(&warnings, mp_leaks_warning(leaks, i));
	mp_text_warnings_write(out, &warnings, mp_leaks_partial(leaks) || mp_heap_partial(heap) ||
					       (target && mp_target_partial(target)));
}

bool mp_leaks_check_failed(const mp_leak_report *r, unsigned fail_mask)
{
	for (unsigned kind = 0; kind < 5; kind++)
		if ((fail_mask & (1u << kind)) && r->blocks[kind])
			return true;
	return false;
}

double mp_leak_phase_clock(void)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

void mp_leak_phases_write(FILE *err, const char *what, const mp_leak_phases *p,
			  const mp_heap *heap, const mp_leaks *leaks)
{
	double total = p->modules + p->heap_walk + p->scan + p->classify + p->report +
		       (p->attach >= 0 ? p->attach : 0);
	char attach[48] = "";
	if (p->attach >= 0)
		snprintf(attach, sizeof(attach), "attach/stop %.1f ms, ", p->attach * 1e3);
	fprintf(err, "memprof: stats: %s%sphases: %smodules %.1f ms, heap walk %.1f ms (%zu chunks), "
		     "scan %.1f ms, classification %.1f ms, report %.1f ms; total %.1f ms\n",
		what ? what : "", what ? ": " : "", attach, p->modules * 1e3, p->heap_walk * 1e3,
		mp_heap_chunk_count(heap), p->scan * 1e3, p->classify * 1e3, p->report * 1e3,
		total * 1e3);
	double seconds = mp_leaks_scan_seconds(leaks);
	double gb = (double)mp_leaks_scan_bytes(leaks) / 1e9;
	unsigned threads = mp_leaks_scan_threads(leaks) ? mp_leaks_scan_threads(leaks) : 1;
	fprintf(err, "memprof: stats: %s%sblock scan of %.3f GB in %.3f s on %u thread%s: %.2f GB/s, %.2f GB/s per thread\n",
		what ? what : "", what ? ": " : "", gb, seconds, threads, threads == 1 ? "" : "s",
		seconds > 0 ? gb / seconds : 0.0, seconds > 0 ? gb / seconds / threads : 0.0);
}

mp_error *mp_leaks_run_analysis(mp_command *c, mp_heap **heap, mp_leaks **leaks,
				mp_leak_report *report, mp_leak_phases *phases)
{
	*heap = NULL;
	*leaks = NULL;
	mp_leak_options options = mp_command_leak_options(c);
	mp_heap_options heap_options = mp_command_heap_options(c);
	/* A core's walked pages are dropped behind the walk: the block scan
	 * reads the heap again by pread (core_file.h), which keeps the core
	 * out of memprof's resident memory (issue 18). */
	heap_options.keep_pages = !mp_core_file_reads(c->target);
	mp_leak_phases unused;
	if (!phases)
		phases = &unused;
	double t0 = mp_leak_phase_clock();
	mp_error *err = mp_heap_open(c->target, &heap_options, heap);
	double t1 = mp_leak_phase_clock();
	if (!err)
		err = mp_leaks_analyze(c->target, *heap, &options, leaks);
	double t2 = mp_leak_phase_clock();
	unsigned shown = (1u << MP_LEAK_DEFINITE) | (1u << MP_LEAK_INDIRECT) |
			 (1u << MP_LEAK_POSSIBLE);
	if (mp_command_flag(c, "--show-reachable"))
		shown |= 1u << MP_LEAK_REACHABLE;
	if (!err)
		err = mp_leak_report_build(c->target, *heap, *leaks, shown, report);
	phases->heap_walk = t1 - t0;
	phases->scan = *leaks ? mp_leaks_scan_seconds(*leaks) : 0;
	phases->classify = t2 - t1 - phases->scan;
	phases->report = mp_leak_phase_clock() - t2;
	if (err) {
		mp_leaks_free(*leaks);
		mp_heap_free(*heap);
		*leaks = NULL;
		*heap = NULL;
	}
	return err;
}

int mp_leaks_check_options(mp_command *c, unsigned default_fail, unsigned *fail_mask)
{
	const char *roots = mp_command_value(c, "--roots");
	if (roots && strcmp(roots, "strict") != 0 && strcmp(roots, "all") != 0) {
		fprintf(c->err, "memprof: --roots takes strict or all, not '%s'\n", roots);
		return MP_EXIT_USAGE;
	}
	unsigned threads;
	if (!mp_command_threads(c, &threads))
		return MP_EXIT_USAGE;
	const char *fail_on = mp_command_value(c, "--fail-on");
	*fail_mask = default_fail;
	if (fail_on && !mp_parse_fail_on(fail_on, fail_mask)) {
		fprintf(c->err, "memprof: --fail-on takes kinds (definite, indirect, possible, reachable) "
			"separated by commas, which replace the default definite,indirect; or "
			"+KIND,... to add to it (+possible); or none; not '%s'\n", fail_on);
		return MP_EXIT_USAGE;
	}
	return MP_EXIT_OK;
}

/* --blocks: every block with its kind and what memprof takes it for, for
 * checking block typing against a program's own record of its blocks.
 * Ten million blocks are a listing, not a tree: a stream (result.h) builds
 * one row at a time, in address order, reading a window at a time. */
typedef struct block_rows {
	mp_target *target;
	const mp_heap *heap;
	const mp_leaks *leaks;
	mp_block_typing typing;
	mp_block_window window;
	size_t next;
} block_rows;

static bool block_row(mp_result *row, void *context)
{
	block_rows *b = context;
	size_t n = mp_heap_chunk_count(b->heap);
	while (b->next < n && mp_leaks_kind(b->leaks, b->next) == MP_LEAK_NOT_A_BLOCK)
		b->next++;
	if (b->next == n)
		return false;
	size_t i = b->next++;
	mp_chunk chunk = mp_heap_chunk(b->heap, i);
	uint64_t usable = mp_chunk_usable_size(&chunk);
	uint8_t bytes[64];
	size_t length = usable < sizeof(bytes) ? (size_t)usable : sizeof(bytes);
	const uint8_t *held = mp_block_window_bytes(&b->window, chunk.user_address, length);
	mp_error *read_err = held ? NULL : mp_target_read(b->target, chunk.user_address, bytes, length);
	if (held)
		memcpy(bytes, held, length);
	if (read_err) {
		mp_error_free(read_err);
		length = 0;
	}
	const char *evidence = "";
	char *type = mp_block_category(b->target, &b->typing, i, bytes, length, &evidence);
	mp_result_hex(row, MP_RESULT_ROOT, "address", chunk.user_address);
	mp_result_uint(row, MP_RESULT_ROOT, "size", usable);
	mp_result_string(row, MP_RESULT_ROOT, "kind", json_kind_key(mp_leaks_kind(b->leaks, i)));
	mp_result_string(row, MP_RESULT_ROOT, "type", type);
	mp_result_string(row, MP_RESULT_ROOT, "evidence", evidence);
	free(type);
	return true;
}

static const mp_result_column summary_columns[] = {
	{"kind", NULL, false}, {"blocks", NULL, true}, {"bytes", NULL, true},
};

static const mp_result_column group_columns[] = {
	{"kind", NULL, false}, {"type", NULL, false}, {"evidence", NULL, false},
	{"size", NULL, false}, {"count", NULL, true}, {"bytes", NULL, true},
	{"example", NULL, false},
};

static const mp_result_column block_columns[] = {
	{"address", NULL, false}, {"size", NULL, false}, {"kind", NULL, false},
	{"type", NULL, false}, {"evidence", NULL, false},
};

/* The summary per kind as rows for Prometheus: the JSON has one member
 * per kind, so these are hidden. */
static void summary_rows(mp_result *r, const mp_leak_report *report)
{
	mp_rnode rows = mp_result_array(r, MP_RESULT_ROOT, "summary_rows");
	mp_result_hide(r, rows);
	for (size_t k = 0; k < 4; k++) {
		mp_rnode o = mp_result_object(r, rows, NULL);
		mp_result_string(r, o, "kind", json_kind_key(summary_order[k]));
		mp_result_uint(r, o, "blocks", report->blocks[summary_order[k]]);
		mp_result_uint(r, o, "bytes", report->bytes[summary_order[k]]);
	}
	mp_result_declare_metrics(r, rows, "leak", "heap blocks per leak kind",
				  MP_RESULT_COLUMNS(summary_columns));
}

typedef struct text_context {
	mp_command *command;
	const mp_heap *heap;
	const mp_leaks *leaks;
	const mp_leak_report *report;
} text_context;

static void leaks_text(FILE *out, const mp_result *r, void *context)
{
	(void)r;
	const text_context *t = context;
	fprintf(out, "memprof leaks: %s\n", mp_target_description(t->command->target));
	mp_allocator allocator = mp_heap_allocator(t->heap);
	mp_command_allocator_text(out, &allocator);
	fputc('\n', out);
	mp_leaks_write_text(out, t->command->target, t->heap, t->leaks, t->report);
}

/* The check as one result: JSON as docs/json.md describes it (with
 * --blocks, the blocks last); CSV the groups, or with --blocks the
 * blocks; Prometheus the summary and the groups. */
static mp_error *write_report(mp_command *c, const mp_heap *heap, const mp_leaks *leaks,
			      const mp_leak_report *report)
{
	enum mp_result_format format = mp_command_result_format(c);
	bool blocks = mp_command_flag(c, "--blocks") &&
		      (format == MP_RESULT_JSON || format == MP_RESULT_CSV);
	block_rows rows = {.target = c->target, .heap = heap, .leaks = leaks};
	if (blocks) {
		mp_error *err = mp_block_types_infer(c->target, heap, leaks, &rows.typing);
		if (err)
			return err;
		mp_block_window_init(&rows.window, heap, c->target);
	}
	mp_result r;
	mp_result_init(&r);
	mp_result_string(&r, MP_RESULT_ROOT, "target", mp_target_description(c->target));
	mp_leaks_result(&r, MP_RESULT_ROOT, heap, leaks, report);
	summary_rows(&r, report);
	if (blocks) {
		mp_rnode list = mp_result_stream(&r, MP_RESULT_ROOT, "blocks", block_row, &rows);
		mp_result_declare_table(&r, list, "block", "heap blocks",
					MP_RESULT_COLUMNS(block_columns), 0);
	} else {
		mp_result_declare_table(&r, mp_result_get(&r, MP_RESULT_ROOT, "groups"), "leak_group",
					"leaked blocks per kind, type and size",
					MP_RESULT_COLUMNS(group_columns), 0);
	}
	text_context text = {c, heap, leaks, report};
	mp_result_set_text_hook(&r, leaks_text, &text);
	mp_error *err = mp_result_write(c->out, &r, format);
	mp_result_free(&r);
	if (blocks) {
		mp_block_window_free(&rows.window);
		mp_block_typing_free(&rows.typing);
	}
	return err;
}

static int run_leaks(mp_command *c)
{
	unsigned fail_mask;
	int status = mp_leaks_check_options(c, 0, &fail_mask);
	if (status != MP_EXIT_OK)
		return status;
	mp_heap *heap;
	mp_leaks *leaks;
	mp_leak_report report;
	mp_leak_phases phases = {.attach = -1, .modules = c->target->modules_seconds};
	mp_error *err = mp_leaks_run_analysis(c, &heap, &leaks, &report, &phases);
	double rendering = mp_leak_phase_clock();
	if (err)
		return mp_command_fail(c, err);
	err = write_report(c, heap, leaks, &report);
	/* The text report lists them; other formats say them here. */
	for (size_t i = 0; c->options->format != MP_FORMAT_TEXT &&
			   i < mp_leaks_warning_count(leaks); i++)
		fprintf(c->err, "memprof: warning: %s\n", mp_leaks_warning(leaks, i));
	if (mp_command_flag(c, "--stats")) {
		/* The report phase: grouping, typing and writing it out. */
		phases.report += mp_leak_phase_clock() - rendering;
		mp_leak_phases_write(c->err, NULL, &phases, heap, leaks);
	}
	status = mp_leaks_check_failed(&report, fail_mask) ? MP_EXIT_CHECK_FAILED : MP_EXIT_OK;
	if (status == MP_EXIT_CHECK_FAILED && !err)
		write_verdict(c->err, &report, fail_mask);
	mp_leak_report_free(&report);
	mp_leaks_free(leaks);
	mp_heap_free(heap);
	if (err)
		return mp_command_fail(c, err);
	return status;
}

const char *const mp_leaks_flags[] = {"--show-reachable", "--stats", NULL};
static const char *const leaks_flags[] = {"--show-reachable", "--stats", "--blocks", NULL};
const char *const mp_leaks_valued[] = {"--fail-on", "--roots", "--threads", NULL};

const mp_verb mp_verb_leaks = {
	.name = "leaks",
	.summary = "leaked blocks by reachability, in valgrind's kinds, grouped by type and size",
	.usage = "[--fail-on KINDS] [--roots strict|all] [--show-reachable] [--threads N] [--stats]\n"
		 "       [--blocks]   every block: address, size, kind, type, evidence (json, csv)\n"
		 MP_FAIL_ON_HELP "\n                   without --fail-on, leaks checks nothing\n"
		 "  csv: the groups (with --blocks: the blocks); prometheus: the summary and groups",
	.formats = MP_FORMAT_TEXT | MP_FORMAT_JSON | MP_FORMAT_CSV | MP_FORMAT_PROMETHEUS,
	.needs_target = true,
	.flags = leaks_flags,
	.valued = mp_leaks_valued,
	.run = run_leaks,
};
