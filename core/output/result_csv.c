/* The CSV writer of results: each declared table in turn, a header row of
 * its column names, then one record per row (RFC 4180 quoting).  Parts of
 * a result that are not tables are not CSV. */
#include "result.h"

#include <string.h>

static void csv_field(FILE *out, const char *value)
{
	if (!strpbrk(value, ",\"\n\r")) {
		fputs(value, out);
		return;
	}
	fputc('"', out);
	for (const char *p = value; *p; p++) {
		if (*p == '"')
			fputc('"', out);
		fputc(*p, out);
	}
	fputc('"', out);
}

static void csv_row(FILE *out, const char *const *cells, size_t n)
{
	for (size_t c = 0; c < n; c++) {
		if (c)
			fputc(',', out);
		csv_field(out, cells[c] ? cells[c] : "");
	}
	fputc('\n', out);
}

/* A streamed table's records, each row built and written in turn. */
static mp_error *write_stream(FILE *out, const mp_result *r, const mp_result_table *t)
{
	char buffers[MP_RESULT_MAX_COLUMNS][MP_RESULT_SCALAR_TEXT];
	const char *cells[MP_RESULT_MAX_COLUMNS];
	mp_result row;
	mp_result_init(&row);
	while (mp_result_stream_row(r, t->node, &row)) {
		for (size_t c = 0; c < t->n_columns; c++)
			cells[c] = mp_result_scalar_text(&row, mp_result_get(&row, MP_RESULT_ROOT,
									     t->columns[c].member),
							 buffers[c]);
		csv_row(out, cells, t->n_columns);
	}
	mp_error *err = mp_result_status(&row);
	mp_result_free(&row);
	return err;
}

mp_error *mp_result_write_csv(FILE *out, const mp_result *r)
{
	mp_error *err = mp_result_status(r);
	if (err)
		return err;
	char buffers[MP_RESULT_MAX_COLUMNS][MP_RESULT_SCALAR_TEXT];
	const char *cells[MP_RESULT_MAX_COLUMNS];
	bool first = true;
	for (size_t e = 0; e < r->n_exports; e++) {
		if (r->exports[e].is_gauge)
			continue;
		const mp_result_table *t = &r->tables[r->exports[e].index];
		if (t->metrics_only)
			continue;
		if (!first && r->csv_blank_lines)
			fputc('\n', out);
		first = false;
		for (size_t c = 0; c < t->n_columns; c++)
			cells[c] = t->columns[c].name;
		csv_row(out, cells, t->n_columns);
		if (mp_result_streamed(r, t->node)) {
			err = write_stream(out, r, t);
			if (err)
				return err;
			continue;
		}
		for (mp_rnode row = mp_result_table_next_row(r, t, MP_RESULT_NONE);
		     row != MP_RESULT_NONE; row = mp_result_table_next_row(r, t, row)) {
			for (size_t c = 0; c < t->n_columns; c++)
				cells[c] = mp_result_scalar_text(r, mp_result_table_cell(r, t, row, c),
								 buffers[c]);
			csv_row(out, cells, t->n_columns);
		}
	}
	return NULL;
}
