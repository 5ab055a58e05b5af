/* `memprof leaks`: reachability over the heap, reported in valgrind's
 * words (a LEAK SUMMARY of the four kinds), then the leaked blocks grouped
 * by inferred type and size, then chap's unreferenced blocks. */
#include "leaks_report.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "analysis/block_types.h"
#include "analysis/block_window.h"
#include "analysis/leak_groups.h"
#include "error.h"
#include "output/json.h"
#include "output/table.h"
#include "target/core_file.h"
#include "target/target_internal.h"

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
		text[i] = isprint(bytes[i]) ? (char)bytes[i] : '.';
	}
	if (!length)
		hex[0] = '\0';
	text[length] = '\0';
}

enum { JSON_UNREFERENCED = 1000 };

static const enum mp_leak_kind summary_order[] = {
	MP_LEAK_DEFINITE, MP_LEAK_INDIRECT, MP_LEAK_POSSIBLE, MP_LEAK_REACHABLE,
};

void mp_leaks_write_json_body(mp_json *j, const mp_heap *heap,
			      const mp_leaks *leaks, const mp_leak_report *r)
{
	mp_allocator allocator = mp_heap_allocator(heap);
	mp_command_allocator_json(j, &allocator);
	mp_json_key(j, "summary");
	mp_json_begin_object(j);
	for (size_t k = 0; k < 4; k++) {
		enum mp_leak_kind kind = summary_order[k];
		mp_json_key(j, json_kind_key(kind));
		mp_json_begin_object(j);
		mp_json_key(j, "blocks");
		mp_json_uint(j, r->blocks[kind]);
		mp_json_key(j, "bytes");
		mp_json_uint(j, r->bytes[kind]);
		mp_json_end_object(j);
	}
	mp_json_end_object(j);
	mp_json_key(j, "groups");
	mp_json_begin_array(j);
	for (size_t i = 0; i < r->n_groups; i++) {
		const mp_leak_group *g = &r->groups[i];
		char hex[3 * MP_PREVIEW_BYTES + 1], text[MP_PREVIEW_BYTES + 1];
		preview_text(g->preview, g->preview_length, hex, text);
		mp_json_begin_object(j);
		mp_json_key(j, "kind");
		mp_json_string(j, json_kind_key(g->kind));
		mp_json_key(j, "type");
		mp_json_string(j, g->type);
		mp_json_key(j, "evidence");
		mp_json_string(j, g->evidence[0] ? g->evidence : "size");
		mp_json_key(j, "size");
		mp_json_uint(j, g->size);
		mp_json_key(j, "count");
		mp_json_uint(j, g->count);
		mp_json_key(j, "bytes");
		mp_json_uint(j, g->bytes);
		mp_json_key(j, "example");
		mp_json_hex(j, g->example);
		mp_json_key(j, "preview_hex");
		mp_json_string(j, hex);
		mp_json_key(j, "preview_text");
		mp_json_string(j, text);
		mp_json_end_object(j);
	}
	mp_json_end_array(j);
	/* The largest first, at most JSON_UNREFERENCED of them: a lost list of a
	 * million heads would otherwise dwarf the report. */
	mp_json_key(j, "unreferenced_total");
	mp_json_uint(j, r->n_unreferenced);
	mp_json_key(j, "unreferenced");
	mp_json_begin_array(j);
	for (size_t i = 0; i < r->n_unreferenced && i < JSON_UNREFERENCED; i++) {
		mp_chunk c = mp_heap_chunk(heap, r->unreferenced[i]);
		mp_json_begin_object(j);
		mp_json_key(j, "address");
		mp_json_hex(j, c.user_address);
		mp_json_key(j, "size");
		mp_json_uint(j, mp_chunk_usable_size(&c));
		mp_json_key(j, "kind");
		mp_json_string(j, json_kind_key(mp_leaks_kind(leaks, r->unreferenced[i])));
		mp_json_end_object(j);
	}
	mp_json_end_array(j);
	mp_json_key(j, "scanned_root_bytes");
	mp_json_uint(j, mp_leaks_scanned_bytes(leaks));
	mp_json_key(j, "partial");
	mp_json_bool(j, mp_leaks_partial(leaks) || mp_heap_partial(heap));
	mp_json_key(j, "warnings");
	mp_json_begin_array(j);
	for (size_t i = 0; i < mp_leaks_warning_count(leaks); i++)
		mp_json_string(j, mp_leaks_warning(leaks, i));
	for (size_t i = 0; i < mp_heap_problem_count(heap); i++)
		mp_json_string(j, mp_heap_problem_at(heap, i)->message);
	mp_json_end_array(j);
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
	const char *roots = mp_command_value(c, "--roots");
	mp_leak_options options = {0};
	options.strict_roots = roots && strcmp(roots, "strict") == 0;
	const char *threads = mp_command_value(c, "--threads");
	options.threads = threads ? (unsigned)strtoul(threads, NULL, 10) : 0;
	if (c->host) {
		options.interrupted = c->host->interrupted;
		options.context = c->host->context;
	}
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
 * checking block typing against a program's own record of its blocks. */
static mp_error *write_blocks(mp_command *c, const mp_heap *heap, const mp_leaks *leaks,
			      mp_json *j)
{
	mp_block_typing typing;
	mp_error *err = mp_block_types_infer(c->target, heap, leaks, &typing);
	if (err)
		return err;
	static const char *const columns[] = {"address", "size", "kind", "type", "evidence"};
	if (j) {
		mp_json_key(j, "blocks");
		mp_json_begin_array(j);
	} else {
		mp_csv_row(c->out, columns, 5);
	}
	/* Every block in address order: read a window at a time. */
	mp_block_window window;
	mp_block_window_init(&window, heap, c->target);
	for (size_t i = 0; i < mp_heap_chunk_count(heap); i++) {
		enum mp_leak_kind kind = mp_leaks_kind(leaks, i);
		if (kind == MP_LEAK_NOT_A_BLOCK)
			continue;
		mp_chunk chunk = mp_heap_chunk(heap, i);
		uint64_t usable = mp_chunk_usable_size(&chunk);
		uint8_t bytes[64];
		size_t length = usable < sizeof(bytes) ? (size_t)usable : sizeof(bytes);
		const uint8_t *held = mp_block_window_bytes(&window, chunk.user_address, length);
		mp_error *read_err = held ? NULL
					  : mp_target_read(c->target, chunk.user_address, bytes, length);
		if (held)
			memcpy(bytes, held, length);
		if (read_err) {
			mp_error_free(read_err);
			length = 0;
		}
		const char *evidence = "";
		char *type = mp_block_category(c->target, &typing, i, bytes, length, &evidence);
		char address[32], size[32];
		snprintf(address, sizeof(address), "0x%" PRIx64, chunk.user_address);
		snprintf(size, sizeof(size), "%" PRIu64, usable);
		if (j) {
			mp_json_begin_object(j);
			mp_json_key(j, "address");
			mp_json_string(j, address);
			mp_json_key(j, "size");
			mp_json_uint(j, usable);
			mp_json_key(j, "kind");
			mp_json_string(j, json_kind_key(kind));
			mp_json_key(j, "type");
			mp_json_string(j, type);
			mp_json_key(j, "evidence");
			mp_json_string(j, evidence);
			mp_json_end_object(j);
		} else {
			const char *cells[] = {address, size, json_kind_key(kind), type ? type : "",
					       evidence};
			mp_csv_row(c->out, cells, 5);
		}
		free(type);
	}
	if (j)
		mp_json_end_array(j);
	mp_block_window_free(&window);
	mp_block_typing_free(&typing);
	return NULL;
}

/* The summary and the groups as tables (CSV: the groups; Prometheus:
 * both). */
static void summary_table(mp_table *t, const mp_leak_report *r)
{
	mp_table_init(t, "leak", "heap blocks per leak kind");
	mp_table_column(t, "kind", false);
	mp_table_column(t, "blocks", true);
	mp_table_column(t, "bytes", true);
	for (size_t k = 0; k < 4; k++) {
		mp_table_row(t);
		mp_table_text(t, json_kind_key(summary_order[k]));
		mp_table_uint(t, r->blocks[summary_order[k]]);
		mp_table_uint(t, r->bytes[summary_order[k]]);
	}
}

static void groups_table(mp_table *t, const mp_leak_report *r)
{
	mp_table_init(t, "leak_group", "leaked blocks per kind, type and size");
	mp_table_column(t, "kind", false);
	mp_table_column(t, "type", false);
	mp_table_column(t, "evidence", false);
	mp_table_column(t, "size", false);
	mp_table_column(t, "count", true);
	mp_table_column(t, "bytes", true);
	mp_table_column(t, "example", false);
	for (size_t i = 0; i < r->n_groups; i++) {
		const mp_leak_group *g = &r->groups[i];
		char example[32];
		snprintf(example, sizeof(example), "0x%" PRIx64, g->example);
		mp_table_row(t);
		mp_table_text(t, json_kind_key(g->kind));
		mp_table_text(t, g->type ? g->type : "");
		mp_table_text(t, g->evidence[0] ? g->evidence : "size");
		mp_table_uint(t, g->size);
		mp_table_uint(t, g->count);
		mp_table_uint(t, g->bytes);
		mp_table_text(t, example);
	}
}

static mp_error *write_tables(mp_command *c, const mp_leak_report *r)
{
	mp_table summary, groups;
	summary_table(&summary, r);
	groups_table(&groups, r);
	if (c->options->format == MP_FORMAT_CSV) {
		mp_table_write_csv(c->out, &groups);
	} else {
		mp_table_write_prometheus(c->out, &summary);
		mp_table_write_prometheus(c->out, &groups);
	}
	bool nomem = summary.nomem || groups.nomem;
	mp_table_free(&summary);
	mp_table_free(&groups);
	return nomem ? mp_error_nomem() : NULL;
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
	bool blocks = mp_command_flag(c, "--blocks");
	if (c->options->format == MP_FORMAT_JSON) {
		mp_json j;
		mp_json_init(&j, c->out, true);
		mp_json_begin_object(&j);
		mp_json_key(&j, "target");
		mp_json_string(&j, mp_target_description(c->target));
		mp_leaks_write_json_body(&j, heap, leaks, &report);
		if (blocks)
			err = write_blocks(c, heap, leaks, &j);
		mp_json_end_object(&j);
		mp_json_finish(&j);
	} else if (c->options->format == MP_FORMAT_CSV && blocks) {
		err = write_blocks(c, heap, leaks, NULL);
	} else if (c->options->format == MP_FORMAT_CSV ||
		   c->options->format == MP_FORMAT_PROMETHEUS) {
		err = write_tables(c, &report);
	} else {
		fprintf(c->out, "memprof leaks: %s\n", mp_target_description(c->target));
		mp_allocator allocator = mp_heap_allocator(heap);
		mp_command_allocator_text(c->out, &allocator);
		fputc('\n', c->out);
		mp_leaks_write_text(c->out, c->target, heap, leaks, &report);
	}
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
