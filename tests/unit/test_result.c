/* The result model and its writers: one result, built as a verb builds
 * one, written in every format and compared with the text each format
 * must have, written here by hand. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "output/json.h"
#include "output/result.h"

/* A small patterns-like result: a header, a nested object, a declared
 * table of findings, a one-row table from an object, a lone gauge. */
static void build(mp_result *r)
{
	mp_result_init(r);
	mp_result_string(r, MP_RESULT_ROOT, "target", "core \"a\"");
	mp_rnode totals = mp_result_object(r, MP_RESULT_ROOT, "totals");
	mp_result_uint(r, totals, "blocks", 3);
	mp_result_int(r, totals, "delta", -2);
	mp_result_bool(r, MP_RESULT_ROOT, "partial", false);
	mp_result_null(r, MP_RESULT_ROOT, "pressure");
	mp_rnode findings = mp_result_array(r, MP_RESULT_ROOT, "findings");
	mp_rnode f = mp_result_object(r, findings, NULL);
	mp_result_string(r, f, "kind", "leak");
	mp_result_string(r, f, "subject", "struct a, b");
	mp_result_uint(r, f, "savings", 1024);
	mp_rnode examples = mp_result_array(r, f, "examples");
	mp_result_hex(r, examples, NULL, 0x1000);
	mp_result_hex(r, examples, NULL, 0xabc);
	f = mp_result_object(r, findings, NULL);
	mp_result_string(r, f, "kind", "padding");
	mp_result_string(r, f, "subject", "x\ny");
	mp_result_uint(r, f, "savings", 8);
	mp_result_array(r, f, "examples");
	const mp_result_column columns[] = {
		{"kind", NULL, false},
		{"savings_bytes", "savings", true},
		{"subject", NULL, false},
	};
	mp_result_declare_table(r, findings, "finding", "findings", columns, 3, 0);
	const mp_result_column total_columns[] = {{"blocks", NULL, true}, {"delta", NULL, true}};
	mp_result_declare_table(r, totals, "totals", "totals", total_columns, 2, 0);
	const char *const labels[] = {"limit", "1G", NULL};
	mp_result_declare_gauge(r, "pressure_level", "0 normal, 3 critical", 3, labels);
}

static char *render(mp_error *(*write)(FILE *, const mp_result *), const mp_result *r)
{
	char *text = NULL;
	size_t size = 0;
	FILE *out = open_memstream(&text, &size);
	assert_non_null(out);
	mp_error *err = write(out, r);
	fclose(out);
	assert_null(err);
	return text;
}

static void test_json(void **state)
{
	(void)state;
	mp_result r;
	build(&r);
	char *text = render(mp_result_write_json, &r);
	assert_string_equal(text,
			    "{\n"
			    "  \"target\": \"core \\\"a\\\"\",\n"
			    "  \"totals\": {\n"
			    "    \"blocks\": 3,\n"
			    "    \"delta\": -2\n"
			    "  },\n"
			    "  \"partial\": false,\n"
			    "  \"pressure\": null,\n"
			    "  \"findings\": [\n"
			    "    {\n"
			    "      \"kind\": \"leak\",\n"
			    "      \"subject\": \"struct a, b\",\n"
			    "      \"savings\": 1024,\n"
			    "      \"examples\": [\n"
			    "        \"0x1000\",\n"
			    "        \"0xabc\"\n"
			    "      ]\n"
			    "    },\n"
			    "    {\n"
			    "      \"kind\": \"padding\",\n"
			    "      \"subject\": \"x\\ny\",\n"
			    "      \"savings\": 8,\n"
			    "      \"examples\": []\n"
			    "    }\n"
			    "  ]\n"
			    "}\n");
	free(text);
	mp_result_free(&r);
}

static void test_csv(void **state)
{
	(void)state;
	mp_result r;
	build(&r);
	char *text = render(mp_result_write_csv, &r);
	assert_string_equal(text,
			    "kind,savings_bytes,subject\n"
			    "leak,1024,\"struct a, b\"\n"
			    "padding,8,\"x\ny\"\n"
			    "blocks,delta\n"
			    "3,-2\n");
	free(text);
	mp_result_free(&r);
}

static void test_prometheus(void **state)
{
	(void)state;
	mp_result r;
	build(&r);
	char *text = render(mp_result_write_prometheus, &r);
	assert_string_equal(text,
			    "# HELP memprof_finding_savings_bytes findings: savings_bytes\n"
			    "# TYPE memprof_finding_savings_bytes gauge\n"
			    "memprof_finding_savings_bytes{kind=\"leak\",subject=\"struct a, b\"} 1024\n"
			    "memprof_finding_savings_bytes{kind=\"padding\",subject=\"x\\ny\"} 8\n"
			    "# HELP memprof_totals_blocks totals: blocks\n"
			    "# TYPE memprof_totals_blocks gauge\n"
			    "memprof_totals_blocks 3\n"
			    "# HELP memprof_totals_delta totals: delta\n"
			    "# TYPE memprof_totals_delta gauge\n"
			    "memprof_totals_delta -2\n"
			    "# HELP memprof_pressure_level 0 normal, 3 critical\n"
			    "# TYPE memprof_pressure_level gauge\n"
			    "memprof_pressure_level{limit=\"1G\"} 3\n");
	free(text);
	mp_result_free(&r);
}

static void test_text(void **state)
{
	(void)state;
	mp_result r;
	build(&r);
	char *text = render(mp_result_write_text, &r);
	assert_string_equal(text,
			    "target: core \"a\"\n"
			    "totals:\n"
			    "  blocks  delta\n"
			    "       3     -2\n"
			    "partial: false\n"
			    "pressure: -\n"
			    "findings:\n"
			    "  kind     savings_bytes  subject\n"
			    "  leak              1024  struct a, b\n"
			    "  padding              8  x\ny\n");
	free(text);
	mp_result_free(&r);
}

/* Undeclared parts: a nested object indented under its key, an array of
 * scalars on one line, an array of objects as a table of its first
 * object's scalar members, cut to the rows asked for when declared. */
static void test_text_generic(void **state)
{
	(void)state;
	mp_result r;
	mp_result_init(&r);
	mp_rnode a = mp_result_object(&r, MP_RESULT_ROOT, "outer");
	mp_rnode b = mp_result_object(&r, a, "inner");
	mp_result_hex(&r, b, "address", 0xdead);
	mp_rnode list = mp_result_array(&r, MP_RESULT_ROOT, "sizes");
	mp_result_uint(&r, list, NULL, 16);
	mp_result_uint(&r, list, NULL, 32);
	mp_result_array(&r, MP_RESULT_ROOT, "none");
	mp_rnode rows = mp_result_array(&r, MP_RESULT_ROOT, "rows");
	for (int i = 0; i < 3; i++) {
		mp_rnode o = mp_result_object(&r, rows, NULL);
		mp_result_string(&r, o, "name", i ? "b" : "a-long");
		mp_result_uint(&r, o, "n", (uint64_t)i * 100);
		mp_result_array(&r, o, "skipped");
	}
	char *text = render(mp_result_write_text, &r);
	assert_string_equal(text,
			    "outer:\n"
			    "  inner:\n"
			    "    address: 0xdead\n"
			    "sizes: 16, 32\n"
			    "none: none\n"
			    "rows:\n"
			    "  name      n\n"
			    "  a-long    0\n"
			    "  b       100\n"
			    "  b       200\n");
	free(text);
	const mp_result_column columns[] = {{"n", NULL, true}, {"name", NULL, false}};
	mp_result_declare_table(&r, rows, "row", NULL, columns, 2, 2);
	text = render(mp_result_write_text, &r);
	assert_non_null(strstr(text, "rows:\n"
				     "    n  name\n"
				     "    0  a-long\n"
				     "  100  b\n"
				     "  ... 1 more rows (--format json or csv lists them all)\n"));
	free(text);
	mp_result_free(&r);
}

static void hook(FILE *out, const mp_result *r, void *context)
{
	fprintf(out, "%s: %llu blocks in %s\n", (const char *)context,
		(unsigned long long)mp_result_get_uint(r, mp_result_get(r, MP_RESULT_ROOT,
									"totals.blocks")),
		mp_result_get_string(r, mp_result_get(r, MP_RESULT_ROOT, "target")));
	mp_result_write_text_table(out, r,
				   mp_result_table_of(r, mp_result_get(r, MP_RESULT_ROOT, "findings")),
				   1);
}

static void test_text_hook(void **state)
{
	(void)state;
	mp_result r;
	build(&r);
	mp_result_set_text_hook(&r, hook, "hooked");
	char *text = render(mp_result_write_text, &r);
	assert_string_equal(text,
			    "hooked: 3 blocks in core \"a\"\n"
			    "kind  savings_bytes  subject\n"
			    "leak           1024  struct a, b\n"
			    "... 1 more rows (--format json or csv lists them all)\n");
	free(text);
	mp_result_free(&r);
}

/* Rows for the flat formats only: hidden from the JSON and the generic
 * text, and metrics that Prometheus has and the CSV does not. */
static void test_flat_only(void **state)
{
	(void)state;
	mp_result r;
	mp_result_init(&r);
	mp_rnode sizes = mp_result_array(&r, MP_RESULT_ROOT, "sizes");
	mp_rnode o = mp_result_object(&r, sizes, NULL);
	mp_result_uint(&r, o, "max", 32);
	mp_rnode in_use = mp_result_object(&r, o, "in_use");
	mp_result_uint(&r, in_use, "chunks", 7);
	mp_rnode states = mp_result_array(&r, MP_RESULT_ROOT, "states");
	mp_result_hide(&r, states);
	o = mp_result_object(&r, states, NULL);
	mp_result_string(&r, o, "state", "in-use");
	mp_result_uint(&r, o, "chunks", 7);
	const mp_result_column state_columns[] = {{"state", NULL, false}, {"chunks", NULL, true}};
	mp_result_declare_metrics(&r, states, "state", "per state", state_columns, 2);
	const mp_result_column size_columns[] = {{"max", NULL, false},
						 {"in_use_chunks", "in_use.chunks", true}};
	mp_result_declare_table(&r, sizes, "size", "per size", size_columns, 2, 0);
	char *text = render(mp_result_write_json, &r);
	assert_string_equal(text, "{\n  \"sizes\": [\n    {\n      \"max\": 32,\n"
				  "      \"in_use\": {\n        \"chunks\": 7\n      }\n    }\n  ]\n}\n");
	free(text);
	text = render(mp_result_write_csv, &r);
	assert_string_equal(text, "max,in_use_chunks\n32,7\n");
	free(text);
	text = render(mp_result_write_prometheus, &r);
	assert_string_equal(text,
			    "# HELP memprof_state_chunks per state: chunks\n"
			    "# TYPE memprof_state_chunks gauge\n"
			    "memprof_state_chunks{state=\"in-use\"} 7\n"
			    "# HELP memprof_size_in_use_chunks per size: in_use_chunks\n"
			    "# TYPE memprof_size_in_use_chunks gauge\n"
			    "memprof_size_in_use_chunks{max=\"32\"} 7\n");
	free(text);
	text = render(mp_result_write_text, &r);
	assert_string_equal(text, "sizes:\n  max  in_use_chunks\n  32               7\n");
	free(text);
	mp_result_free(&r);
}

/* Sections split by blank lines: one between two tables, none before the
 * first or after the last, and none for rows that are metrics only. */
static void test_csv_blank_lines(void **state)
{
	(void)state;
	mp_result r;
	build(&r);
	mp_rnode states = mp_result_array(&r, MP_RESULT_ROOT, "states");
	mp_result_hide(&r, states);
	mp_result_uint(&r, mp_result_object(&r, states, NULL), "chunks", 7);
	const mp_result_column state_columns[] = {{"chunks", NULL, true}};
	mp_result_declare_metrics(&r, states, "state", "per state", state_columns, 1);
	mp_result_set_csv_blank_lines(&r, true);
	char *text = render(mp_result_write_csv, &r);
	assert_string_equal(text,
			    "kind,savings_bytes,subject\n"
			    "leak,1024,\"struct a, b\"\n"
			    "padding,8,\"x\ny\"\n"
			    "\n"
			    "blocks,delta\n"
			    "3,-2\n");
	free(text);
	mp_result_set_csv_blank_lines(&r, false);
	text = render(mp_result_write_csv, &r);
	assert_null(strstr(text, "\n\n"));
	free(text);
	mp_result_free(&r);
}

/* Building wrongly is reported by every writer, not written. */
static void test_misuse(void **state)
{
	(void)state;
	mp_result r;
	mp_result_init(&r);
	mp_rnode list = mp_result_array(&r, MP_RESULT_ROOT, "list");
	mp_result_uint(&r, list, "key in an array", 1);
	mp_error *err = mp_result_write_json(stdout, &r);
	assert_non_null(err);
	assert_int_equal(mp_error_code(err), MP_ERR_USAGE);
	mp_error_free(err);
	mp_result_free(&r);
	mp_result_init(&r);
	mp_result_uint(&r, MP_RESULT_ROOT, NULL, 1);
	err = mp_result_write(stdout, &r, MP_RESULT_CSV);
	assert_non_null(err);
	mp_error_free(err);
	mp_result_free(&r);
}

/* A copy says in JSON what its original said, written in place inside a
 * container the caller opened; values reached by path are the same. */
static void test_copy_and_members(void **state)
{
	(void)state;
	mp_result src;
	build(&src);
	mp_result_hide(&src, mp_result_get(&src, MP_RESULT_ROOT, "pressure"));
	mp_result dst;
	mp_result_init(&dst);
	mp_result_uint(&dst, MP_RESULT_ROOT, "before", 1);
	mp_rnode list = mp_result_array(&dst, MP_RESULT_ROOT, "list");
	mp_rnode copy = mp_result_copy(&dst, list, NULL, &src, MP_RESULT_ROOT);
	assert_int_not_equal(copy, MP_RESULT_NONE);
	assert_null(mp_result_status(&dst));
	assert_int_equal(mp_result_get_int(&dst, mp_result_get(&dst, copy, "totals.delta")), -2);
	assert_int_equal(mp_result_count(&dst, mp_result_get(&dst, copy, "findings")), 2);
	assert_true(mp_result_hidden(&dst, mp_result_get(&dst, copy, "pressure")));

	char *original = render(mp_result_write_json, &src);
	char *text = NULL;
	size_t size = 0;
	FILE *out = open_memstream(&text, &size);
	assert_non_null(out);
	mp_json j;
	mp_json_init(&j, out, true);
	mp_json_begin_object(&j);
	assert_null(mp_result_write_json_members(&j, &dst, copy));
	mp_json_end_object(&j);
	mp_json_finish(&j);
	fclose(out);
	assert_string_equal(text, original);
	free(text);
	free(original);

	/* The copy is the destination's own: it outlives its original. */
	mp_result_free(&src);
	assert_string_equal(mp_result_get_string(&dst, mp_result_get(&dst, copy, "target")),
			    "core \"a\"");
	mp_result_free(&dst);

	/* A part built wrongly makes the whole wrong, not silently short. */
	mp_result_init(&src);
	mp_result_uint(&src, MP_RESULT_ROOT, NULL, 1);
	mp_result_init(&dst);
	mp_result_copy(&dst, MP_RESULT_ROOT, "part", &src, MP_RESULT_ROOT);
	mp_error *err = mp_result_status(&dst);
	assert_non_null(err);
	mp_error_free(err);
	mp_result_free(&dst);
	mp_result_free(&src);
}

typedef struct counter {
	unsigned next, last;
} counter;

static bool count_rows(mp_result *row, void *context)
{
	counter *c = context;
	if (c->next > c->last)
		return false;
	char name[16];
	snprintf(name, sizeof(name), "n%u", c->next);
	mp_result_hex(row, MP_RESULT_ROOT, "address", 0x1000u * c->next);
	mp_result_string(row, MP_RESULT_ROOT, "name", c->next == 2 ? NULL : name);
	mp_result_uint(row, MP_RESULT_ROOT, "n", c->next++);
	return true;
}

static const mp_result_column stream_columns[] = {
	{"address", NULL, false}, {"name", NULL, false}, {"n", NULL, true},
};

static void stream_result(mp_result *r, counter *c)
{
	mp_result_init(r);
	mp_result_string(r, MP_RESULT_ROOT, "target", "t");
	mp_rnode rows = mp_result_stream(r, MP_RESULT_ROOT, "rows", count_rows, c);
	mp_result_declare_table(r, rows, "row", "rows", MP_RESULT_COLUMNS(stream_columns), 0);
	mp_result_bool(r, MP_RESULT_ROOT, "after", true);
}

/* A stream's rows come one at a time from its source, in JSON and CSV;
 * an empty stream is an empty array; a stream is not copied. */
static void test_stream(void **state)
{
	(void)state;
	counter c = {1, 3};
	mp_result r;
	stream_result(&r, &c);
	char *text = render(mp_result_write_json, &r);
	assert_string_equal(text,
			    "{\n"
			    "  \"target\": \"t\",\n"
			    "  \"rows\": [\n"
			    "    {\n"
			    "      \"address\": \"0x1000\",\n"
			    "      \"name\": \"n1\",\n"
			    "      \"n\": 1\n"
			    "    },\n"
			    "    {\n"
			    "      \"address\": \"0x2000\",\n"
			    "      \"name\": null,\n"
			    "      \"n\": 2\n"
			    "    },\n"
			    "    {\n"
			    "      \"address\": \"0x3000\",\n"
			    "      \"name\": \"n3\",\n"
			    "      \"n\": 3\n"
			    "    }\n"
			    "  ],\n"
			    "  \"after\": true\n"
			    "}\n");
	free(text);
	mp_result_free(&r);

	c = (counter){1, 3};
	stream_result(&r, &c);
	text = render(mp_result_write_csv, &r);
	assert_string_equal(text, "address,name,n\n0x1000,n1,1\n0x2000,,2\n0x3000,n3,3\n");
	free(text);

	mp_result dst;
	mp_result_init(&dst);
	mp_result_copy(&dst, MP_RESULT_ROOT, "copy", &r, mp_result_get(&r, MP_RESULT_ROOT, "rows"));
	mp_error *err = mp_result_status(&dst);
	assert_non_null(err);
	mp_error_free(err);
	mp_result_free(&dst);
	mp_result_free(&r);

	c = (counter){1, 0};
	stream_result(&r, &c);
	text = render(mp_result_write_json, &r);
	assert_string_equal(text, "{\n  \"target\": \"t\",\n  \"rows\": [],\n  \"after\": true\n}\n");
	free(text);
	mp_result_free(&r);
}

static void two_rows_text(FILE *out, const mp_result *r, void *context)
{
	(void)context;
	mp_result_write_text_table(out, r, mp_result_table_of(r, mp_result_get(r, MP_RESULT_ROOT, "rows")),
				   2);
}

/* A table declared on a stream is text like any table: every row, or the
 * first rows a hook asks for and a count of the others, which the source
 * still gives (the count is theirs). */
static void test_stream_text(void **state)
{
	(void)state;
	counter c = {1, 3};
	mp_result r;
	stream_result(&r, &c);
	char *text = render(mp_result_write_text, &r);
	assert_string_equal(text,
			    "target: t\n"
			    "rows:\n"
			    "  address  name  n\n"
			    "  0x1000   n1    1\n"
			    "  0x2000         2\n"
			    "  0x3000   n3    3\n"
			    "after: true\n");
	free(text);
	mp_result_free(&r);

	c = (counter){1, 3};
	stream_result(&r, &c);
	mp_result_set_text_hook(&r, two_rows_text, NULL);
	text = render(mp_result_write_text, &r);
	assert_string_equal(text,
			    "address  name  n\n"
			    "0x1000   n1    1\n"
			    "0x2000         2\n"
			    "... 1 more rows (--format json or csv lists them all)\n");
	assert_int_equal(c.next, 4);
	free(text);
	mp_result_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_csv),
		cmocka_unit_test(test_prometheus),
		cmocka_unit_test(test_text),
		cmocka_unit_test(test_text_generic),
		cmocka_unit_test(test_text_hook),
		cmocka_unit_test(test_flat_only),
		cmocka_unit_test(test_misuse),
		cmocka_unit_test(test_csv_blank_lines),
		cmocka_unit_test(test_copy_and_members),
		cmocka_unit_test(test_stream),
		cmocka_unit_test(test_stream_text),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
