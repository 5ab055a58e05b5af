/* The text writer of results: for people.  A verb's text hook, when it
 * set one, writes the page (it keeps the headings and sentences its
 * readers know); otherwise a generic rendering: "key: value" lines,
 * nested objects indented under their key, declared tables and arrays of
 * objects as aligned tables (numbers right-aligned, the last column
 * running to the end of the line), arrays of scalars as one list. */
#include "result.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"

static void indent(FILE *out, size_t level)
{
	for (size_t i = 0; i < level; i++)
		fputs("  ", out);
}

static const char *cell_text(const mp_result *r, const mp_result_table *t, mp_rnode row,
			     size_t column, char *buffer)
{
	return mp_result_scalar_text(r, mp_result_table_cell(r, t, row, column), buffer);
}

/* The first shown of rows rows of t, aligned. */
static void write_rows(FILE *out, const mp_result *r, const mp_result_table *t, size_t shown,
		       size_t rows, size_t level)
{
	char buffer[MP_RESULT_SCALAR_TEXT];
	size_t width[MP_RESULT_MAX_COLUMNS];
	for (size_t c = 0; c < t->n_columns; c++) {
		width[c] = strlen(t->columns[c].name);
		mp_rnode row = mp_result_table_next_row(r, t, MP_RESULT_NONE);
		for (size_t i = 0; i < shown; i++, row = mp_result_table_next_row(r, t, row)) {
			size_t n = strlen(cell_text(r, t, row, c, buffer));
			if (n > width[c])
				width[c] = n;
		}
		/* The last text column runs to the end of the line: no
		 * trailing blanks after a subject or a description. */
		if (c + 1 == t->n_columns && !t->columns[c].numeric)
			width[c] = 0;
	}
	indent(out, level);
	for (size_t c = 0; c < t->n_columns; c++)
		fprintf(out, "%s%*s", c ? "  " : "",
			t->columns[c].numeric ? (int)width[c] : -(int)width[c], t->columns[c].name);
	fputc('\n', out);
	mp_rnode row = mp_result_table_next_row(r, t, MP_RESULT_NONE);
	for (size_t i = 0; i < shown; i++, row = mp_result_table_next_row(r, t, row)) {
		indent(out, level);
		for (size_t c = 0; c < t->n_columns; c++)
			fprintf(out, "%s%*s", c ? "  " : "",
				t->columns[c].numeric ? (int)width[c] : -(int)width[c],
				cell_text(r, t, row, c, buffer));
		fputc('\n', out);
	}
	if (shown < rows) {
		indent(out, level);
		fprintf(out, "... %zu more rows (--format json or csv lists them all)\n", rows - shown);
	}
}

/* A streamed table: the rows shown are held (all of them when max_rows
 * is 0, as widths need them), the rest only counted. */
static void write_stream(FILE *out, const mp_result *r, const mp_result_table *t,
			 size_t max_rows, size_t level)
{
	mp_result held, row;
	mp_result_init(&held);
	mp_result_init(&row);
	mp_result_table shown = *t;
	shown.node = mp_result_array(&held, MP_RESULT_ROOT, "rows");
	size_t rows = 0;
	for (; mp_result_stream_row(r, t->node, &row); rows++)
		if (!max_rows || rows < max_rows)
			mp_result_copy(&held, shown.node, NULL, &row, MP_RESULT_ROOT);
	mp_error *err = mp_result_status(&row);
	if (!err)
		err = mp_result_status(&held);
	if (err) {
		indent(out, level);
		fprintf(out, "(rows left out: %s)\n", mp_error_message(err));
		mp_error_free(err);
	} else {
		write_rows(out, &held, &shown, mp_result_count(&held, shown.node), rows, level);
	}
	mp_result_free(&row);
	mp_result_free(&held);
}

static void write_table(FILE *out, const mp_result *r, const mp_result_table *t,
			size_t max_rows, size_t level)
{
	if (mp_result_streamed(r, t->node)) {
		write_stream(out, r, t, max_rows, level);
		return;
	}
	size_t rows = mp_result_table_rows(r, t);
	write_rows(out, r, t, max_rows && max_rows < rows ? max_rows : rows, rows, level);
}

void mp_result_write_text_table(FILE *out, const mp_result *r, const mp_result_table *t,
				size_t max_rows)
{
	write_table(out, r, t, max_rows, 0);
}

static bool is_container(enum mp_rkind kind)
{
	return kind == MP_ROBJECT || kind == MP_RARRAY;
}

static bool is_number(enum mp_rkind kind)
{
	return kind == MP_RUINT || kind == MP_RINT || kind == MP_RDOUBLE;
}

/* An undeclared array: its scalars on one line, or, when it holds
 * objects, a table whose columns are the first object's scalar members. */
static void write_array(FILE *out, const mp_result *r, mp_rnode array, size_t level)
{
	char buffer[MP_RESULT_SCALAR_TEXT];
	mp_rnode object = MP_RESULT_NONE;
	for (mp_rnode e = mp_result_first(r, array); e != MP_RESULT_NONE; e = mp_result_next(r, e))
		if (mp_result_kind(r, e) == MP_ROBJECT) {
			object = e;
			break;
		}
	if (object == MP_RESULT_NONE) {
		size_t i = 0;
		for (mp_rnode e = mp_result_first(r, array); e != MP_RESULT_NONE;
		     e = mp_result_next(r, e), i++) {
			fputs(i ? ", " : " ", out);
			fputs(is_container(mp_result_kind(r, e)) ? "[...]"
				: mp_result_kind(r, e) == MP_RNULL ? "-"
				: mp_result_scalar_text(r, e, buffer), out);
		}
		fputs(i ? "\n" : " none\n", out);
		return;
	}
	/* Column names point into the result: the table lives only here. */
	mp_result_table t = {.node = array};
	for (mp_rnode m = mp_result_first(r, object);
	     m != MP_RESULT_NONE && t.n_columns < MP_RESULT_MAX_COLUMNS; m = mp_result_next(r, m)) {
		if (is_container(mp_result_kind(r, m)))
			continue;
		t.columns[t.n_columns].name = mp_result_key(r, m);
		t.columns[t.n_columns].member = mp_result_key(r, m);
		t.columns[t.n_columns++].numeric = is_number(mp_result_kind(r, m));
	}
	fputc('\n', out);
	write_table(out, r, &t, 0, level + 1);
}

typedef struct open_level {
	mp_rnode next;      /* the member to write next */
	size_t level;
} open_level;

mp_error *mp_result_write_text(FILE *out, const mp_result *r)
{
	mp_error *err = mp_result_status(r);
	if (err)
		return err;
	if (r->text_hook) {
		r->text_hook(out, r, r->text_context);
		return NULL;
	}
	char buffer[MP_RESULT_SCALAR_TEXT];
	size_t depth = 0, cap = 16;
	open_level *stack = malloc(cap * sizeof(*stack));
	if (!stack)
		return mp_error_nomem();
	stack[depth++] = (open_level){mp_result_first(r, MP_RESULT_ROOT), 0};
	while (depth) {
		open_level *top = &stack[depth - 1];
		mp_rnode m = top->next;
		if (m == MP_RESULT_NONE) {
			depth--;
			continue;
		}
		size_t level = top->level;
		top->next = mp_result_next(r, m);
		if (mp_result_hidden(r, m))
			continue;
		const char *key = mp_result_key(r, m);
		enum mp_rkind kind = mp_result_kind(r, m);
		indent(out, level);
		fprintf(out, "%s:", key ? key : "-");
		const mp_result_table *t = mp_result_table_of(r, m);
		if (t) {
			fputc('\n', out);
			write_table(out, r, t, t->text_rows, level + 1);
		} else if (kind == MP_RARRAY) {
			write_array(out, r, m, level);
		} else if (kind == MP_ROBJECT) {
			fputc('\n', out);
			if (depth == cap && !(stack = mp_result_grow(stack, &cap, sizeof(*stack))))
				return mp_error_nomem();
			stack[depth++] = (open_level){mp_result_first(r, m), level + 1};
		} else {
			fprintf(out, " %s\n", kind == MP_RNULL ? "-" : mp_result_scalar_text(r, m, buffer));
		}
	}
	free(stack);
	return NULL;
}
