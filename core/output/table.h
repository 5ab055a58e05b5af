/* A result as tables of rows, rendered by one writer per format: CSV (a
 * header row, RFC 4180 quoting) and Prometheus text exposition (one gauge
 * per numeric column, the text columns as labels).  Verbs not yet ported
 * to results (result.h) build these tables; their aligned text is
 * result_text.c's. */
#ifndef MEMPROF_CORE_OUTPUT_TABLE_H
#define MEMPROF_CORE_OUTPUT_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum { MP_TABLE_MAX_COLUMNS = 16 };

typedef struct mp_table {
	const char *name;              /* [a-z_]: the metric family prefix */
	const char *help;              /* one line, for Prometheus # HELP */
	size_t n_columns;
	const char *columns[MP_TABLE_MAX_COLUMNS];   /* [a-z_] */
	bool numeric[MP_TABLE_MAX_COLUMNS];
	char **cells;                  /* rows * n_columns, owned */
	size_t n_rows, filled;      /* rows started, cells written */
	bool nomem;
} mp_table;

void mp_table_init(mp_table *table, const char *name, const char *help);
/* Columns are added before any row. */
void mp_table_column(mp_table *table, const char *name, bool numeric);
/* Starts a row; then one mp_table_text/mp_table_uint per column, in order. */
void mp_table_row(mp_table *table);
void mp_table_text(mp_table *table, const char *value);
void mp_table_uint(mp_table *table, uint64_t value);
void mp_table_free(mp_table *table);

void mp_table_write_csv(FILE *out, const mp_table *table);
/* One CSV record, quoted where needed: for rows too many to hold. */
void mp_csv_row(FILE *out, const char *const *cells, size_t n);
/* Gauges named memprof_<table>_<column>; the first write of a family
 * carries its # HELP and # TYPE. */
void mp_table_write_prometheus(FILE *out, const mp_table *table);

#endif
