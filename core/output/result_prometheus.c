/* The Prometheus writer of results: text exposition format 0.0.4.  Each
 * numeric column of a declared table is a gauge family
 * memprof_<table>_<column> with one sample per row, labelled by the
 * table's text columns; declared lone gauges follow in their place.
 * Families come in declaration order, each with its # HELP and # TYPE. */
#include "result.h"

#include <math.h>
#include <stdlib.h>

/* # HELP text escapes backslash and newline. */
static void help_text(FILE *out, const char *text)
{
	for (const char *p = text; *p; p++) {
		if (*p == '\\')
			fputs("\\\\", out);
		else if (*p == '\n')
			fputs("\\n", out);
		else
			fputc(*p, out);
	}
}

/* Label values also escape the double quote. */
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

static void double_value(FILE *out, double value)
{
	if (isnan(value))
		fputs("NaN", out);
	else if (isinf(value))
		fputs(value > 0 ? "+Inf" : "-Inf", out);
	else
		fprintf(out, "%.17g", value);
}

/* A sample value: integers exactly as they are; a string column that
 * holds a number (a rate written as text) as that number; anything else,
 * missing or null, 0, as an empty cell of a table. */
static void sample_value(FILE *out, const mp_result *r, mp_rnode cell)
{
	char buffer[MP_RESULT_SCALAR_TEXT];
	switch (mp_result_kind(r, cell)) {
	case MP_RUINT:
	case MP_RINT:
		fputs(mp_result_scalar_text(r, cell, buffer), out);
		return;
	case MP_RHEX:
		fprintf(out, "%llu", (unsigned long long)mp_result_get_uint(r, cell));
		return;
	case MP_RDOUBLE:
	case MP_RBOOL:
		double_value(out, mp_result_get_double(r, cell));
		return;
	case MP_RSTRING: {
		const char *text = mp_result_get_string(r, cell);
		char *end = NULL;
		double value = strtod(text, &end);
		if (*text && end && !*end) {
			double_value(out, value);
			return;
		}
		break;
	}
	default:
		break;
	}
	fputc('0', out);
}

static void write_table(FILE *out, const mp_result *r, const mp_result_table *t)
{
	char buffer[MP_RESULT_SCALAR_TEXT];
	for (size_t c = 0; c < t->n_columns; c++) {
		if (!t->columns[c].numeric)
			continue;
		fprintf(out, "# HELP memprof_%s_%s ", t->name, t->columns[c].name);
		help_text(out, t->help);
		fprintf(out, ": %s\n", t->columns[c].name);
		fprintf(out, "# TYPE memprof_%s_%s gauge\n", t->name, t->columns[c].name);
		for (mp_rnode row = mp_result_table_next_row(r, t, MP_RESULT_NONE);
		     row != MP_RESULT_NONE; row = mp_result_table_next_row(r, t, row)) {
			fprintf(out, "memprof_%s_%s", t->name, t->columns[c].name);
			bool any = false;
			for (size_t l = 0; l < t->n_columns; l++) {
				if (t->columns[l].numeric)
					continue;
				fprintf(out, "%s%s=\"", any ? "," : "{", t->columns[l].name);
				label_value(out, mp_result_scalar_text(r, mp_result_table_cell(r, t, row, l),
								       buffer));
				fputc('"', out);
				any = true;
			}
			fputs(any ? "} " : " ", out);
			sample_value(out, r, mp_result_table_cell(r, t, row, c));
			fputc('\n', out);
		}
	}
}

static void write_gauge(FILE *out, const mp_result_gauge *g)
{
	fprintf(out, "# HELP memprof_%s ", g->name);
	help_text(out, g->help);
	fprintf(out, "\n# TYPE memprof_%s gauge\nmemprof_%s", g->name, g->name);
	for (size_t i = 0; g->labels && g->labels[i] && g->labels[i + 1]; i += 2) {
		fprintf(out, "%s%s=\"", i ? "," : "{", g->labels[i]);
		label_value(out, g->labels[i + 1]);
		fputc('"', out);
	}
	fputs(g->labels && g->labels[0] ? "} " : " ", out);
	double_value(out, g->value);
	fputc('\n', out);
}

mp_error *mp_result_write_prometheus(FILE *out, const mp_result *r)
{
	mp_error *err = mp_result_status(r);
	if (err)
		return err;
	for (size_t e = 0; e < r->n_exports; e++) {
		if (r->exports[e].is_gauge)
			write_gauge(out, &r->gauges[r->exports[e].index]);
		else
			write_table(out, r, &r->tables[r->exports[e].index]);
	}
	return NULL;
}
