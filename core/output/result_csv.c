/* The CSV writer of results: each declared table in turn, a header row of
 * its column names, then one record per row (RFC 4180 quoting, table.h's
 * mp_csv_row).  Parts of a result that are not tables are not CSV. */
#include "result.h"

#include "table.h"

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
		mp_csv_row(out, cells, t->n_columns);
		for (mp_rnode row = mp_result_table_next_row(r, t, MP_RESULT_NONE);
		     row != MP_RESULT_NONE; row = mp_result_table_next_row(r, t, row)) {
			for (size_t c = 0; c < t->n_columns; c++)
				cells[c] = mp_result_scalar_text(r, mp_result_table_cell(r, t, row, c),
								 buffers[c]);
			mp_csv_row(out, cells, t->n_columns);
		}
	}
	return NULL;
}
