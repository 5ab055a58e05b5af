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
#include "output/json.h"
#include "output/json_read.h"
#include "output/table.h"

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

static void rows_table(mp_table *t, const char *name, const char *help, const char *key,
		       const mp_folded_diff *d, bool changed_only)
{
	mp_table_init(t, name, help);
	mp_table_column(t, "delta", true);
	mp_table_column(t, "before", true);
	mp_table_column(t, "after", true);
	mp_table_column(t, key, false);
	for (size_t i = 0; i < d->n_rows; i++) {
		const mp_folded_row *r = &d->rows[i];
		if (changed_only && r->before == r->after)
			continue;
		char delta[32];
		snprintf(delta, sizeof(delta), "%+" PRId64, (int64_t)(r->after - r->before));
		mp_table_row(t);
		mp_table_text(t, delta);
		mp_table_uint(t, r->before);
		mp_table_uint(t, r->after);
		mp_table_text(t, r->stack);
	}
}

static void json_rows(mp_json *j, const char *key, const char *name, const mp_folded_diff *d,
		      bool changed_only)
{
	mp_json_key(j, key);
	mp_json_begin_array(j);
	for (size_t i = 0; i < d->n_rows; i++) {
		const mp_folded_row *r = &d->rows[i];
		if (changed_only && r->before == r->after)
			continue;
		mp_json_begin_object(j);
		mp_json_key(j, name);
		mp_json_string(j, r->stack);
		mp_json_key(j, "before");
		mp_json_uint(j, r->before);
		mp_json_key(j, "after");
		mp_json_uint(j, r->after);
		mp_json_key(j, "delta");
		mp_json_int(j, (int64_t)(r->after - r->before));
		mp_json_end_object(j);
	}
	mp_json_end_array(j);
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
	bool nomem = false;
	if (c->options->format == MP_FORMAT_FOLDED) {
		/* difffolded.pl's output: "stack before after", which
		 * flamegraph.pl draws as a differential flamegraph. */
		mp_folded_diff_sort_by_stack(&d);
		for (size_t i = 0; i < d.n_rows; i++)
			fprintf(c->out, "%s %" PRIu64 " %" PRIu64 "\n", d.rows[i].stack,
				d.rows[i].before, d.rows[i].after);
	} else if (c->options->format == MP_FORMAT_JSON) {
		mp_folded_diff_sort_by_growth(&d);
		mp_json j;
		mp_json_init(&j, c->out, true);
		mp_json_begin_object(&j);
		mp_json_key(&j, "kind");
		mp_json_string(&j, "folded");
		mp_json_key(&j, "before");
		mp_json_begin_object(&j);
		mp_json_key(&j, "path");
		mp_json_string(&j, a);
		mp_json_key(&j, "total");
		mp_json_uint(&j, d.total_before);
		mp_json_end_object(&j);
		mp_json_key(&j, "after");
		mp_json_begin_object(&j);
		mp_json_key(&j, "path");
		mp_json_string(&j, b);
		mp_json_key(&j, "total");
		mp_json_uint(&j, d.total_after);
		mp_json_end_object(&j);
		json_rows(&j, "stacks", "stack", &d, false);
		mp_json_end_object(&j);
		mp_json_finish(&j);
	} else {
		mp_folded_diff_sort_by_growth(&d);
		mp_table t;
		rows_table(&t, "folded_diff", "count per stack before and after", "stack", &d, false);
		if (c->options->format == MP_FORMAT_CSV) {
			mp_table_write_csv(c->out, &t);
		} else {
			fprintf(c->out, "memprof diff: %s (%" PRIu64 ") -> %s (%" PRIu64 "): %+" PRId64
				"\n\nstacks that grew most first:\n", a, d.total_before, b,
				d.total_after, (int64_t)(d.total_after - d.total_before));
			mp_table_write_text(c->out, &t, TEXT_ROWS);
		}
		nomem = t.nomem;
		mp_table_free(&t);
	}
	int status = nomem ? mp_command_fail(c, mp_error_nomem())
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
	bool nomem = false;
	if (c->options->format == MP_FORMAT_JSON) {
		mp_json j;
		mp_json_init(&j, c->out, true);
		mp_json_begin_object(&j);
		mp_json_key(&j, "kind");
		mp_json_string(&j, kind == MP_DIFF_INPUT_HEAP_JSON ? "heap" : "leaks");
		mp_json_key(&j, "before");
		mp_json_string(&j, c->options->positional[0]);
		mp_json_key(&j, "after");
		mp_json_string(&j, c->options->positional[1]);
		json_rows(&j, "changes", "path", &d, true);
		mp_json_end_object(&j);
		mp_json_finish(&j);
	} else {
		mp_table t;
		rows_table(&t, "report_diff", "numbers of two reports that differ", "path", &d, true);
		if (c->options->format == MP_FORMAT_CSV) {
			mp_table_write_csv(c->out, &t);
		} else {
			fprintf(c->out, "memprof diff: %s report %s -> %s: %s %" PRIu64 " -> %" PRIu64
				"\n\nnumbers that changed, largest growth first:\n",
				kind == MP_DIFF_INPUT_HEAP_JSON ? "heap" : "leaks",
				c->options->positional[0], c->options->positional[1], total, before,
				after);
			if (t.n_rows)
				mp_table_write_text(c->out, &t, 0);
			else
				fprintf(c->out, "  none\n");
		}
		nomem = t.nomem;
		mp_table_free(&t);
	}
	int status = nomem ? mp_command_fail(c, mp_error_nomem())
			   : mp_diff_thresholds_check(c, thresholds, total, before, after,
						      watched_report, &d);
	mp_folded_diff_free(&d);
	return status;
}
