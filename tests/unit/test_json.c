/* The JSON writer: separators, nesting, escaping of bytes from the target. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>

#include "output/json.h"

static char *render(void (*write)(mp_json *), bool pretty)
{
	char *text = NULL;
	size_t size = 0;
	FILE *out = open_memstream(&text, &size);
	assert_non_null(out);
	mp_json j;
	mp_json_init(&j, out, pretty);
	write(&j);
	fclose(out);
	return text;
}

static void write_nested(mp_json *j)
{
	mp_json_begin_object(j);
	mp_json_key(j, "a");
	mp_json_uint(j, 1);
	mp_json_key(j, "list");
	mp_json_begin_array(j);
	mp_json_int(j, -2);
	mp_json_bool(j, true);
	mp_json_null(j);
	mp_json_begin_object(j);
	mp_json_end_object(j);
	mp_json_begin_array(j);
	mp_json_end_array(j);
	mp_json_end_array(j);
	mp_json_key(j, "addr");
	mp_json_hex(j, 0);
	mp_json_key(j, "top");
	mp_json_hex(j, UINT64_MAX);
	mp_json_end_object(j);
}

static void test_compact_nesting(void **state)
{
	(void)state;
	char *text = render(write_nested, false);
	assert_string_equal(text,
			    "{\"a\":1,\"list\":[-2,true,null,{},[]],\"addr\":\"0x0\","
			    "\"top\":\"0xffffffffffffffff\"}");
	free(text);
}

static void test_pretty_nesting(void **state)
{
	(void)state;
	char *text = render(write_nested, true);
	assert_string_equal(text,
			    "{\n  \"a\": 1,\n  \"list\": [\n    -2,\n    true,\n    null,\n"
			    "    {},\n    []\n  ],\n  \"addr\": \"0x0\",\n"
			    "  \"top\": \"0xffffffffffffffff\"\n}");
	free(text);
}

static void write_strings(mp_json *j)
{
	mp_json_begin_array(j);
	mp_json_string(j, "quote\" backslash\\ tab\t nl\n");
	mp_json_string_n(j, "\x01\x7f", 2);
	mp_json_string(j, "caf\xc3\xa9");          /* valid UTF-8 passes through */
	mp_json_string(j, "bad\xff\xc3");           /* invalid bytes are escaped */
	mp_json_string(j, NULL);
	mp_json_end_array(j);
}

static void test_escaping(void **state)
{
	(void)state;
	char *text = render(write_strings, false);
	assert_string_equal(text,
			    "[\"quote\\\" backslash\\\\ tab\\t nl\\n\",\"\\u0001\\u007f\","
			    "\"caf\xc3\xa9\",\"bad\\u00ff\\u00c3\",null]");
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_compact_nesting),
		cmocka_unit_test(test_pretty_nesting),
		cmocka_unit_test(test_escaping),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
