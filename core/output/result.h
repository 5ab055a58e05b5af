/* An analysis's result as data, rendered by one writer per format.
 *
 * A verb builds a tree (objects, arrays, strings, integers, addresses,
 * booleans, nulls) and declares what the flat formats need: which arrays
 * of objects are tables (their columns, for CSV and aligned text, and for
 * Prometheus, whose gauges are the numeric columns labelled by the text
 * ones) and which lone numbers are gauges.  The writers (result_json.c,
 * result_csv.c, result_prometheus.c, result_text.c) then say the same
 * thing in every format, so no verb hand-writes JSON, CSV or metrics, and
 * `report --html` can show any verb's JSON without knowing the verb.
 *
 * Nodes are numbered; MP_RESULT_ROOT is the top-level object.  Building
 * never fails midway: running out of memory marks the result, every later
 * call is ignored, and mp_result_write says so. */
#ifndef MEMPROF_CORE_OUTPUT_RESULT_H
#define MEMPROF_CORE_OUTPUT_RESULT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "memprof/memprof.h"

typedef size_t mp_rnode;

enum { MP_RESULT_ROOT = 0 };
#define MP_RESULT_NONE ((mp_rnode)-1)

enum mp_rkind {
	MP_RNULL,
	MP_RBOOL,
	MP_RUINT,
	MP_RINT,
	MP_RDOUBLE,
	MP_RHEX,     /* an address: "0x..." in JSON and text */
	MP_RSTRING,
	MP_ROBJECT,
	MP_RARRAY,
};

enum mp_result_format {
	MP_RESULT_TEXT,
	MP_RESULT_JSON,
	MP_RESULT_CSV,
	MP_RESULT_PROMETHEUS,
};

/* One column of a declared table: its name (CSV header, text heading,
 * the Prometheus gauge memprof_<table>_<name> or label name; [a-z_]) and
 * the member of each row object it shows, a dotted path ("in_use.bytes");
 * NULL: the member named like the column. */
typedef struct mp_result_column {
	const char *name;
	const char *member;
	bool numeric;       /* a gauge in Prometheus, right-aligned in text */
} mp_result_column;

enum { MP_RESULT_MAX_COLUMNS = 16 };

/* A static array of columns as the (columns, n_columns) pair. */
#define MP_RESULT_COLUMNS(list) list, sizeof(list) / sizeof(list[0])

typedef struct mp_result_table {
	mp_rnode node;      /* an array of objects, or one object: one row */
	const char *name;   /* [a-z_]: the metric family prefix */
	const char *help;   /* one line, for # HELP */
	size_t n_columns;
	mp_result_column columns[MP_RESULT_MAX_COLUMNS];
	size_t text_rows;   /* rows the generic text shows; 0: all */
	bool metrics_only;  /* Prometheus only, not CSV (mp_result_declare_metrics) */
} mp_result_table;

/* A gauge outside any table: memprof_<name> <value> with fixed labels. */
typedef struct mp_result_gauge {
	const char *name;
	const char *help;
	double value;
	const char *const *labels;   /* name, value pairs, NULL-terminated; or NULL */
} mp_result_gauge;

typedef struct mp_result_node mp_result_node;
typedef struct mp_result mp_result;

/* Writes the text format in place of the generic rendering: for verbs
 * whose readers want headings and sentences.  It reads the result (the
 * getters below) and may call mp_result_write_text_table. */
typedef void (*mp_result_text_hook)(FILE *out, const mp_result *result, void *context);

/* What a declared table or gauge is, in the order declared: the flat
 * formats write them in that order. */
typedef struct mp_result_export {
	bool is_gauge;
	size_t index;       /* into tables or gauges */
} mp_result_export;

struct mp_result {
	mp_result_node *nodes;
	size_t n_nodes, cap_nodes;
	char *strings;      /* every key and string value, NUL-terminated */
	size_t n_strings, cap_strings;
	mp_result_table *tables;
	size_t n_tables;
	mp_result_gauge *gauges;
	size_t n_gauges;
	mp_result_export *exports;
	size_t n_exports;
	mp_result_text_hook text_hook;
	void *text_context;
	bool nomem;
	bool misuse;        /* a value added to a non-container, a key missing */
	bool csv_blank_lines;
	struct mp_result_source *streams;   /* mp_result_stream */
	size_t n_streams;
};

void mp_result_init(mp_result *r);
void mp_result_free(mp_result *r);

/* Children of parent: key names the member when parent is an object and
 * is NULL when it is an array.  Containers return their node. */
mp_rnode mp_result_object(mp_result *r, mp_rnode parent, const char *key);
mp_rnode mp_result_array(mp_result *r, mp_rnode parent, const char *key);
/* NULL value: null, as mp_json_string writes it. */
void mp_result_string(mp_result *r, mp_rnode parent, const char *key, const char *value);
void mp_result_uint(mp_result *r, mp_rnode parent, const char *key, uint64_t value);
void mp_result_int(mp_result *r, mp_rnode parent, const char *key, int64_t value);
void mp_result_double(mp_result *r, mp_rnode parent, const char *key, double value);
void mp_result_hex(mp_result *r, mp_rnode parent, const char *key, uint64_t value);
void mp_result_bool(mp_result *r, mp_rnode parent, const char *key, bool value);
void mp_result_null(mp_result *r, mp_rnode parent, const char *key);

/* Keeps node (and what it holds) out of the JSON and the generic text:
 * rows a flat format needs in a shape the JSON gives otherwise (chunks
 * per state as rows, where the JSON has one member per state). */
void mp_result_hide(mp_result *r, mp_rnode node);
bool mp_result_hidden(const mp_result *r, mp_rnode node);

/* Declarations; the strings and column array are copied. */
void mp_result_declare_table(mp_result *r, mp_rnode node, const char *name, const char *help,
			     const mp_result_column *columns, size_t n_columns, size_t text_rows);
/* Rows that are gauges for Prometheus but no table of the CSV (the CSV
 * keeps to the verb's one or few tables a spreadsheet reads). */
void mp_result_declare_metrics(mp_result *r, mp_rnode node, const char *name, const char *help,
			       const mp_result_column *columns, size_t n_columns);
void mp_result_declare_gauge(mp_result *r, const char *name, const char *help, double value,
			     const char *const *labels);
void mp_result_set_text_hook(mp_result *r, mp_result_text_hook hook, void *context);

/* Reading a result: the writers and text hooks. */
enum mp_rkind mp_result_kind(const mp_result *r, mp_rnode node);
/* The member at a dotted path below node, or MP_RESULT_NONE. */
mp_rnode mp_result_get(const mp_result *r, mp_rnode node, const char *path);
mp_rnode mp_result_first(const mp_result *r, mp_rnode node);   /* first child */
mp_rnode mp_result_next(const mp_result *r, mp_rnode node);    /* next sibling */
size_t mp_result_count(const mp_result *r, mp_rnode node);     /* children */
const char *mp_result_key(const mp_result *r, mp_rnode node);  /* NULL in arrays */
/* Scalars: 0, "" or false for a node of another kind or MP_RESULT_NONE. */
uint64_t mp_result_get_uint(const mp_result *r, mp_rnode node);
int64_t mp_result_get_int(const mp_result *r, mp_rnode node);
double mp_result_get_double(const mp_result *r, mp_rnode node);
bool mp_result_get_bool(const mp_result *r, mp_rnode node);
const char *mp_result_get_string(const mp_result *r, mp_rnode node);
/* A scalar as the flat formats write it ("" for null and containers);
 * buffer holds at least MP_RESULT_SCALAR_TEXT bytes. */
enum { MP_RESULT_SCALAR_TEXT = 32 };
const char *mp_result_scalar_text(const mp_result *r, mp_rnode node, char *buffer);
/* The table declared on node, or NULL. */
const mp_result_table *mp_result_table_of(const mp_result *r, mp_rnode node);

/* Rows of a declared table: the array's elements, or the object itself.
 * next_row(NONE) is the first row; NONE after the last. */
size_t mp_result_table_rows(const mp_result *r, const mp_result_table *table);
mp_rnode mp_result_table_next_row(const mp_result *r, const mp_result_table *table, mp_rnode row);
/* The row's member for a column, as mp_result_scalar_text writes it. */
mp_rnode mp_result_table_cell(const mp_result *r, const mp_result_table *table, mp_rnode row,
			      size_t column);

/* For the writers' explicit stacks: array of *cap elements of size bytes
 * grown to twice as many, or NULL (array freed) without memory. */
void *mp_result_grow(void *array, size_t *cap, size_t size);

/* NULL when the result was built whole; else why not (out of memory, a
 * value added where no container takes it): every writer checks it first. */
mp_error *mp_result_status(const mp_result *r);

/* The writers.  Each returns an error only for a result that could not be
 * built (out of memory) or is malformed. */
mp_error *mp_result_write(FILE *out, const mp_result *r, enum mp_result_format format);
mp_error *mp_result_write_json(FILE *out, const mp_result *r);
mp_error *mp_result_write_csv(FILE *out, const mp_result *r);
mp_error *mp_result_write_prometheus(FILE *out, const mp_result *r);
mp_error *mp_result_write_text(FILE *out, const mp_result *r);
/* One declared table, aligned, at most max_rows rows (0: all): for hooks. */
void mp_result_write_text_table(FILE *out, const mp_result *r, const mp_result_table *table,
				size_t max_rows);

/* ------------------------------------------------------ CSV sections */

/* A blank line between the CSV's tables: for verbs whose CSV has always
 * been sections a reader splits on an empty line (`diff`'s per-interval
 * rows, then its growth findings). */
void mp_result_set_csv_blank_lines(mp_result *r, bool blank_lines);
/* ------------------------------------------- copying, streaming, embedding */

struct mp_json;

/* Copies node of src (and what it holds, hidden marks included) under
 * parent of r as key; returns the copy.  src is another result: a verb
 * that builds a part early (a process's report at its exit) and places it
 * later.  Declarations are not copied; a stream cannot be (misuse); a
 * src not built whole leaves r so too (mp_result_status). */
mp_rnode mp_result_copy(mp_result *r, mp_rnode parent, const char *key, const mp_result *src,
			mp_rnode node);

/* An array whose elements are too many to hold (a listing of every heap
 * block): the JSON and CSV writers ask source for them one at a time, in
 * order.  Each call builds one element as the root object of row (emptied
 * before each call) and returns true, or returns false after the last.
 * A table may be declared on it (CSV, text): the text writes it as any
 * table, holding only the rows it shows (all of them when it shows all)
 * and counting the rest.  Prometheus and the text of an undeclared stream
 * see an empty array.  A result holding a stream is written once. */
typedef bool (*mp_result_row_source)(mp_result *row, void *context);
mp_rnode mp_result_stream(mp_result *r, mp_rnode parent, const char *key,
			  mp_result_row_source source, void *context);
bool mp_result_streamed(const mp_result *r, mp_rnode node);
/* The stream's next element into row (for the writers); false after the
 * last, or when row is out of memory (mp_result_status(row) says). */
bool mp_result_stream_row(const mp_result *r, mp_rnode node, mp_result *row);

/* Writes the members of node (an object) or its elements (an array) into
 * a JSON stream at its current place, inside a container the caller opened:
 * a verb whose document is written by hand around a result's part. */
mp_error *mp_result_write_json_members(struct mp_json *j, const mp_result *r, mp_rnode node);

#endif
