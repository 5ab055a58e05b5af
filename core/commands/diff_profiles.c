/* `memprof diff` of two folded profiles or two JSON reports, and what kind
 * of input a file is (see diff_inputs.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/folded_diff.h"
#include "diff_inputs.h"
#include "diff_thresholds.h"
#include "error.h"
#include "command_result.h"
#include "output/json_read.h"
#include "output/result.h"

enum { TEXT_ROWS = 20, SNIFF_BYTES = 4096 };

const char *mp_diff_input_kind_name(enum mp_diff_input_kind kind)
{
	switch (kind) {
	case MP_DIFF_INPUT_SNAPSHOT: return "a snapshot";
	case MP_DIFF_INPUT_FOLDED: return "a folded profile";
	case MP_DIFF_INPUT_HEAP_JSON: return "a heap JSON report";
	default: return "a leaks JSON report";
	}
}

/* The whole file, NUL-terminated. */
static mp_error *read_all(const char *path, char **out, size_t *size)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return mp_error_errno(errno, "cannot open %s", path);
	char *data = NULL;
	size_t length = 0, capacity = 0;
	mp_error *err = NULL;
	for (;;) {
		if (length + 65536 + 1 > capacity) {
			capacity = capacity ? 2 * capacity : 65536 * 2;
			char *grown = realloc(data, capacity);
			if (!grown) {
				err = mp_error_nomem();
				break;
			}
			data = grown;
		}
		size_t got = fread(data + length, 1, 65536, f);
		length += got;
		if (got < 65536) {
			if (ferror(f))
				err = mp_error_errno(errno ? errno : EIO, "cannot read %s", path);
			break;
		}
	}
	fclose(f);
	if (err) {
		free(data);
		return err;
	}
	data[length] = '\0';
	*out = data;
	*size = length;
	return NULL;
}

mp_error *mp_diff_input_kind_of(const char *path, enum mp_diff_input_kind *kind)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return mp_error_errno(errno, "cannot open %s", path);
	char head[SNIFF_BYTES + 1];
	size_t n = fread(head, 1, SNIFF_BYTES, f);
	fclose(f);
	head[n] = '\0';
	if (n >= 8 && memcmp(head, "MPSNAP\0", 8) == 0) {
		*kind = MP_DIFF_INPUT_SNAPSHOT;
		return NULL;
	}
	size_t i = 0;
	while (i < n && strchr(" \t\r\n", head[i]))
		i++;
	if (i < n && head[i] == '{') {
		/* Which report: the keys the JSON contract fixes for each. */
		char *text;
		size_t size;
		mp_error *err = read_all(path, &text, &size);
		if (err)
			return err;
		bool heap = strstr(text, "\"mallinfo\"") != NULL;
		bool leaks = strstr(text, "\"definitely_lost\"") != NULL;
		free(text);
		if (heap == leaks)
			return mp_error_new(MP_ERR_FORMAT,
					    "%s is JSON but neither a `heap` nor a `leaks` report", path);
		*kind = heap ? MP_DIFF_INPUT_HEAP_JSON : MP_DIFF_INPUT_LEAKS_JSON;
		return NULL;
	}
	/* Folded: its first line ends in " COUNT". */
	char *end = memchr(head, '\n', n);
	size_t line = end ? (size_t)(end - head) : n;
	while (line > 0 && head[line - 1] == '\r')
		line--;
	size_t digits = line;
	while (digits > 0 && head[digits - 1] >= '0' && head[digits - 1] <= '9')
		digits--;
	if (n == 0 || (digits < line && digits > 1 && head[digits - 1] == ' ')) {
		*kind = MP_DIFF_INPUT_FOLDED;
		return NULL;
	}
	return mp_error_new(MP_ERR_FORMAT,
			    "%s is neither a memprof snapshot, a folded profile nor a heap or leaks JSON report",
			    path);
}

/* The rows of a diff, largest growth first: the JSON's array and the
 * table of the CSV and the text, whose delta keeps its sign ("+1500") in a
 * member the JSON does not show.  A profile has a million stacks: a
 * stream builds their rows one at a time from the diff itself. */
typedef struct diff_rows {
	const mp_folded_diff *diff;
	const char *name;           /* the member naming a row: stack or path */
	bool changed_only;
	size_t next;
} diff_rows;

static bool diff_row(mp_result *r, void *context)
{
	diff_rows *rows = context;
	const mp_folded_diff *d = rows->diff;
	while (rows->next < d->n_rows && rows->changed_only &&
	       d->rows[rows->next].before == d->rows[rows->next].after)
		rows->next++;
	if (rows->next == d->n_rows)
		return false;
	const mp_folded_row *row = &d->rows[rows->next++];
	int64_t delta = (int64_t)(row->after - row->before);
	mp_result_string(r, MP_RESULT_ROOT, rows->name, row->stack);
	mp_result_uint(r, MP_RESULT_ROOT, "before", row->before);
	mp_result_uint(r, MP_RESULT_ROOT, "after", row->after);
	mp_result_int(r, MP_RESULT_ROOT, "delta", delta);
	char signed_delta[32];
	snprintf(signed_delta, sizeof(signed_delta), "%+" PRId64, delta);
	mp_result_string(r, MP_RESULT_ROOT, "signed_delta", signed_delta);
	mp_result_hide(r, mp_result_get(r, MP_RESULT_ROOT, "signed_delta"));
	return true;
}

static void result_rows(mp_result *r, const char *key, const char *table, const char *help,
			diff_rows *rows)
{
	mp_rnode list = mp_result_stream(r, MP_RESULT_ROOT, key, diff_row, rows);
	const mp_result_column columns[] = {
		{"delta", "signed_delta", true}, {"before", NULL, true}, {"after", NULL, true},
		{rows->name, NULL, false},
	};
	mp_result_declare_table(r, list, table, help, MP_RESULT_COLUMNS(columns), 0);
}

static void side(mp_result *r, const char *key, const char *path, uint64_t total)
{
	mp_rnode o = mp_result_object(r, MP_RESULT_ROOT, key);
	mp_result_string(r, o, "path", path);
	mp_result_uint(r, o, "total", total);
}

static const mp_result_table *rows_table(const mp_result *r, const char *key)
{
	return mp_result_table_of(r, mp_result_get(r, MP_RESULT_ROOT, key));
}

static void folded_text(FILE *out, const mp_result *r, void *context)
{
	(void)context;
	mp_rnode before = mp_result_get(r, MP_RESULT_ROOT, "before");
	mp_rnode after = mp_result_get(r, MP_RESULT_ROOT, "after");
	uint64_t total_before = mp_result_get_uint(r, mp_result_get(r, before, "total"));
	uint64_t total_after = mp_result_get_uint(r, mp_result_get(r, after, "total"));
	fprintf(out, "memprof diff: %s (%" PRIu64 ") -> %s (%" PRIu64 "): %+" PRId64
		"\n\nstacks that grew most first:\n",
		mp_result_get_string(r, mp_result_get(r, before, "path")), total_before,
		mp_result_get_string(r, mp_result_get(r, after, "path")), total_after,
		(int64_t)(total_after - total_before));
	mp_result_write_text_table(out, r, rows_table(r, "stacks"), TEXT_ROWS);
}

/* A folded path watched: its own count and its whole subtree's, so a
 * watch on "registry;items" follows everything under it. */
static bool watched_folded(const void *context, const char *name, uint64_t *before,
			   uint64_t *after)
{
	const mp_folded_diff *d = context;
	size_t length = strlen(name);
	bool found = false;
	for (size_t i = 0; i < d->n_rows; i++) {
		const char *stack = d->rows[i].stack;
		if (strncmp(stack, name, length) == 0 && (!stack[length] || stack[length] == ';')) {
			*before += d->rows[i].before;
			*after += d->rows[i].after;
			found = true;
		}
	}
	return found;
}

int mp_diff_folded(mp_command *c, const mp_diff_thresholds *thresholds)
{
	const char *a = c->options->positional[0], *b = c->options->positional[1];
	mp_folded_diff d;
	mp_folded_diff_init(&d);
	mp_error *err = mp_folded_diff_read(&d, a, false);
	if (!err)
		err = mp_folded_diff_read(&d, b, true);
	if (err) {
		mp_folded_diff_free(&d);
		return mp_command_fail(c, err);
	}
	if (c->options->format == MP_FORMAT_FOLDED) {
		/* difffolded.pl's output: "stack before after", which
		 * flamegraph.pl draws as a differential flamegraph. */
		mp_folded_diff_sort_by_stack(&d);
		for (size_t i = 0; i < d.n_rows; i++)
			fprintf(c->out, "%s %" PRIu64 " %" PRIu64 "\n", d.rows[i].stack,
				d.rows[i].before, d.rows[i].after);
	} else {
		mp_folded_diff_sort_by_growth(&d);
		mp_result r;
		mp_result_init(&r);
		mp_result_string(&r, MP_RESULT_ROOT, "kind", "folded");
		side(&r, "before", a, d.total_before);
		side(&r, "after", b, d.total_after);
		diff_rows rows = {&d, "stack", false, 0};
		result_rows(&r, "stacks", "folded_diff", "count per stack before and after", &rows);
		mp_result_set_text_hook(&r, folded_text, NULL);
		err = mp_result_write(c->out, &r, mp_command_result_format(c));
		mp_result_free(&r);
	}
	int status = err ? mp_command_fail(c, err)
			 : mp_diff_thresholds_check(c, thresholds, "the total", d.total_before,
						      d.total_after, watched_folded, &d);
	mp_folded_diff_free(&d);
	return status;
}

/* ------------------------------------------------------------- reports */

typedef struct numbers {
	mp_folded_diff *diff;
	bool after;
} numbers;

/* Keys that identify or date a report rather than measure it. */
static bool measured(const char *key)
{
	static const char *const skip[] = {"timestamp", "pid", "size", "min", "max", "tid", NULL};
	for (size_t i = 0; skip[i]; i++)
		if (strcmp(key, skip[i]) == 0)
			return false;
	return true;
}

static mp_error *take_number(void *context, const char *path, const char *key, double value)
{
	numbers *n = context;
	if (!measured(key) || value < 0 || value >= 1.8e19)
		return NULL;
	return mp_folded_diff_add(n->diff, path, strlen(path), (uint64_t)value, n->after);
}

static uint64_t value_of(const mp_folded_diff *d, const char *path, bool after)
{
	for (size_t i = 0; i < d->n_rows; i++)
		if (strcmp(d->rows[i].stack, path) == 0)
			return after ? d->rows[i].after : d->rows[i].before;
	return 0;
}

/* A report's number watched by its path ("summary.indirectly_lost.bytes"),
 * or a type: the bytes of every group or row the report names with it. */
static bool watched_report(const void *context, const char *name, uint64_t *before,
			   uint64_t *after)
{
	const mp_folded_diff *d = context;
	for (size_t i = 0; i < d->n_rows; i++) {
		if (strcmp(d->rows[i].stack, name) == 0) {
			*before = d->rows[i].before;
			*after = d->rows[i].after;
			return true;
		}
	}
	size_t length = strlen(name);
	bool found = false;
	for (size_t i = 0; i < d->n_rows; i++) {
		const char *path = d->rows[i].stack;
		size_t n = strlen(path);
		if (n < 7 || strcmp(path + n - 7, "].bytes") != 0)
			continue;
		/* The identity members of an element: "[kind=...,type=NAME,size=...]". */
		for (const char *at = strstr(path, "type="); at; at = strstr(at + 1, "type=")) {
			const char *value = at + 5;
			if (at > path && (at[-1] == '[' || at[-1] == ',') && strncmp(value, name, length) == 0 &&
			    (value[length] == ',' || value[length] == ']')) {
				*before += d->rows[i].before;
				*after += d->rows[i].after;
				found = true;
				break;
			}
		}
	}
	return found;
}

/* What the text's first line says beside the result: the number that
 * stands for the whole report, before and after. */
typedef struct report_header {
	const char *total;
	uint64_t before, after;
	bool changed;       /* a number differs: the streamed table has rows */
} report_header;

static void report_text(FILE *out, const mp_result *r, void *context)
{
	const report_header *h = context;
	fprintf(out, "memprof diff: %s report %s -> %s: %s %" PRIu64 " -> %" PRIu64
		"\n\nnumbers that changed, largest growth first:\n",
		mp_result_get_string(r, mp_result_get(r, MP_RESULT_ROOT, "kind")),
		mp_result_get_string(r, mp_result_get(r, MP_RESULT_ROOT, "before")),
		mp_result_get_string(r, mp_result_get(r, MP_RESULT_ROOT, "after")), h->total,
		h->before, h->after);
	const mp_result_table *changes = rows_table(r, "changes");
	if (h->changed)
		mp_result_write_text_table(out, r, changes, 0);
	else
		fprintf(out, "  none\n");
}

int mp_diff_reports(mp_command *c, enum mp_diff_input_kind kind,
		    const mp_diff_thresholds *thresholds)
{
	mp_folded_diff d;
	mp_folded_diff_init(&d);
	mp_error *err = NULL;
	for (int side = 0; side < 2 && !err; side++) {
		const char *path = c->options->positional[side];
		char *text;
		size_t size;
		err = read_all(path, &text, &size);
		if (err)
			break;
		numbers n = {&d, side == 1};
		err = mp_json_read_numbers(text, size, take_number, &n);
		free(text);
		if (err)
			err = mp_error_prefix(err, "%s", path);
	}
	if (err) {
		mp_folded_diff_free(&d);
		return mp_command_fail(c, err);
	}
	mp_folded_diff_sort_by_growth(&d);
	const char *total = kind == MP_DIFF_INPUT_HEAP_JSON ? "totals.in_use.bytes"
							    : "summary.definitely_lost.bytes";
	uint64_t before = value_of(&d, total, false), after = value_of(&d, total, true);
	mp_result r;
	mp_result_init(&r);
	mp_result_string(&r, MP_RESULT_ROOT, "kind", kind == MP_DIFF_INPUT_HEAP_JSON ? "heap" : "leaks");
	mp_result_string(&r, MP_RESULT_ROOT, "before", c->options->positional[0]);
	mp_result_string(&r, MP_RESULT_ROOT, "after", c->options->positional[1]);
	diff_rows rows = {&d, "path", true, 0};
	result_rows(&r, "changes", "report_diff", "numbers of two reports that differ", &rows);
	report_header header = {total, before, after, false};
	for (size_t i = 0; i < d.n_rows && !header.changed; i++)
		header.changed = d.rows[i].before != d.rows[i].after;
	mp_result_set_text_hook(&r, report_text, &header);
	err = mp_result_write(c->out, &r, mp_command_result_format(c));
	mp_result_free(&r);
	int status = err ? mp_command_fail(c, err)
			 : mp_diff_thresholds_check(c, thresholds, total, before, after,
						      watched_report, &d);
	mp_folded_diff_free(&d);
	return status;
}
