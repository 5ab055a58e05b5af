/* Tables and their writers (see table.h). */
#include "table.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

void mp_table_init(mp_table *t, const char *name, const char *help)
{
	memset(t, 0, sizeof(*t));
	t->name = name;
	t->help = help;
}

void mp_table_column(mp_table *t, const char *name, bool numeric)
{
	if (t->n_columns == MP_TABLE_MAX_COLUMNS || t->n_rows)
		return;
	t->columns[t->n_columns] = name;
	t->numeric[t->n_columns++] = numeric;
}

void mp_table_row(mp_table *t)
{
	if (t->nomem)
		return;
	char **grown = realloc(t->cells, (t->n_rows + 1) * t->n_columns * sizeof(*grown));
	if (!grown) {
		t->nomem = true;
		return;
	}
	t->cells = grown;
	memset(t->cells + t->n_rows * t->n_columns, 0, t->n_columns * sizeof(*grown));
	t->n_rows++;
	t->filled = (t->n_rows - 1) * t->n_columns;
}

void mp_table_text(mp_table *t, const char *value)
{
	if (t->nomem || !t->n_rows || t->filled >= t->n_rows * t->n_columns)
		return;
	char *copy = strdup(value ? value : "");
	if (!copy) {
		t->nomem = true;
		return;
	}
	t->cells[t->filled++] = copy;
}

void mp_table_uint(mp_table *t, uint64_t value)
{
	char text[32];
	snprintf(text, sizeof(text), "%" PRIu64, value);
	mp_table_text(t, text);
}

void mp_table_free(mp_table *t)
{
	for (size_t i = 0; i < t->n_rows * t->n_columns; i++)
		free(t->cells[i]);
	free(t->cells);
	memset(t, 0, sizeof(*t));
}

static const char *cell(const mp_table *t, size_t row, size_t column)
{
	const char *value = t->cells[row * t->n_columns + column];
	return value ? value : "";
}

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

void mp_csv_row(FILE *out, const char *const *cells, size_t n)
{
	for (size_t c = 0; c < n; c++) {
		if (c)
			fputc(',', out);
		csv_field(out, cells[c] ? cells[c] : "");
	}
	fputc('\n', out);
}

void mp_table_write_csv(FILE *out, const mp_table *t)
{
	mp_csv_row(out, t->columns, t->n_columns);
	for (size_t r = 0; r < t->n_rows; r++)
		mp_csv_row(out, (const char *const *)t->cells + r * t->n_columns, t->n_columns);
}

/* Label values escape backslash, double quote and newline. */
static void label_value(FILE *out, const char *value)
{
	for (const char *p = value; *p; p++) {
		if (*p == '\\' || *p == '"')
			fprintf(out, "\\%c", *p);
		else if (*p == '\n')
			fputs("\\n", out);
		else
			fputc(*p, out);
	}
}

void mp_table_write_prometheus(FILE *out, const mp_table *t)
{
	for (size_t c = 0; c < t->n_columns; c++) {
		if (!t->numeric[c])
			continue;
		fprintf(out, "# HELP memprof_%s_%s %s: %s\n", t->name, t->columns[c], t->help,
			t->columns[c]);
		fprintf(out, "# TYPE memprof_%s_%s gauge\n", t->name, t->columns[c]);
		for (size_t r = 0; r < t->n_rows; r++) {
			fprintf(out, "memprof_%s_%s", t->name, t->columns[c]);
			bool any = false;
			for (size_t l = 0; l < t->n_columns; l++) {
				if (t->numeric[l])
					continue;
				fprintf(out, "%s%s=\"", any ? "," : "{", t->columns[l]);
				label_value(out, cell(t, r, l));
				fputc('"', out);
				any = true;
			}
			fprintf(out, "%s %s\n", any ? "}" : "", cell(t, r, c)[0] ? cell(t, r, c) : "0");
		}
	}
}
