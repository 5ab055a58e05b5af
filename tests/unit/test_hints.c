/* The hints parser (analysis/hints.c): every hint kind as the walk reads
 * it, type keys, later lines winning, errors naming SOURCE:LINE with what
 * was expected, and a text with an error adding nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "analysis/hints.h"

static mp_hints *parse(const char *text)
{
	mp_hints *h = NULL;
	assert_null(mp_hints_new(&h));
	mp_error *e = mp_hints_add_text(h, text, "t.hints");
	if (e)
		fail_msg("unexpected error: %s", mp_error_message(e));
	return h;
}

static void every_kind(void **state)
{
	(void)state;
	mp_hints *h = parse("# comment\n"
			    "[struct task]   # the tasks\n"
			    "payload points-to struct payload length 3\n"
			    "label string\n"
			    "cache borrowed\n"
			    "v union kind 0=number -1=text VALUE_POINT=point\n"
			    "link link struct task link\n"
			    "[registry] samples length nr capacity 0x40\n"
			    "[ns::Node<int, long>]\n"
			    "up link ns::Node<int,long> 16\n");
	assert_int_equal(mp_hints_count(h), 7);
	const mp_hint *p = mp_hints_find(h, "task", "payload");
	assert_non_null(p);
	assert_int_equal(p->flags, MP_HINT_POINTS_TO | MP_HINT_LENGTH);
	assert_string_equal(p->target_type, "struct payload");
	assert_null(p->length_field);
	assert_int_equal(p->length_count, 3);
	assert_string_equal(p->where, "t.hints:3");
	assert_int_equal(mp_hints_find(h, "task", "label")->flags, MP_HINT_STRING);
	assert_int_equal(mp_hints_find(h, "task", "cache")->flags, MP_HINT_BORROWED);
	const mp_hint *u = mp_hints_find(h, "task", "v");
	assert_string_equal(u->tag_field, "kind");
	assert_int_equal(u->n_arms, 3);
	assert_int_equal(u->arms[1].value, -1);
	assert_string_equal(u->arms[1].member, "text");
	assert_string_equal(u->arms[2].value_name, "VALUE_POINT");
	const mp_hint *l = mp_hints_find(h, "task", "link");
	assert_int_equal(l->flags, MP_HINT_LINK);
	assert_string_equal(l->target_type, "struct task");
	assert_string_equal(l->link_member, "link");
	const mp_hint *s = mp_hints_find(h, "registry", "samples");
	assert_string_equal(s->length_field, "nr");
	assert_int_equal(s->capacity_count, 64);
	const mp_hint *n = mp_hints_find(h, "ns::Node<int,long>", "up");
	assert_non_null(n);
	assert_null(n->link_member);
	assert_int_equal(n->link_offset, 16);
	assert_true(mp_hints_has_type(h, "task"));
	assert_false(mp_hints_has_type(h, "payload"));
	assert_int_equal(mp_hints_source_count(h), 1);
	assert_string_equal(mp_hints_source_at(h, 0), "t.hints");
	mp_hints_free(h);
}

static void type_keys(void **state)
{
	(void)state;
	char key[64];
	mp_hints_type_key("struct  registry ", key, sizeof(key));
	assert_string_equal(key, "registry");
	mp_hints_type_key("unsigned   int", key, sizeof(key));
	assert_string_equal(key, "unsigned int");
	mp_hints_type_key("std::map<int, long >", key, sizeof(key));
	assert_string_equal(key, "std::map<int,long>");
	mp_hints_type_key("struct a_very_long_name", key, 8);
	assert_string_equal(key, "a_very_");
}

static void later_lines_win(void **state)
{
	(void)state;
	mp_hints *h = parse("[t]\nm length a\nm length 5 string\n");
	mp_hints *other = parse("[t]\nm borrowed\n[u] x string\n");
	assert_null(mp_hints_merge(h, other));
	const mp_hint *m = mp_hints_find(h, "t", "m");
	assert_int_equal(m->flags, MP_HINT_LENGTH | MP_HINT_STRING | MP_HINT_BORROWED);
	assert_null(m->length_field);
	assert_int_equal(m->length_count, 5);
	assert_int_equal(mp_hints_count(h), 2);
	mp_hints_free(other);
	mp_hints_free(h);
}

static void errors_name_the_line(void **state)
{
	(void)state;
	static const struct {
		const char *text, *message;
	} cases[] = {
		{"m length n\n", "t.hints:1: expected a [TYPE] line"},
		{"[t]\n\nm lenght n\n", "t.hints:3: unknown hint 'lenght'"},
		{"[t]\nm\n", "t.hints:2: expected a hint after 'm'"},
		{"[t]\n3x string\n", "t.hints:2: expected a member name, not '3x'"},
		{"[t]\nm length\n", "t.hints:2: expected a member name or a count after 'length'"},
		{"[t]\nm length -1\n", "t.hints:2: expected a member name or a count after 'length', not '-1'"},
		{"[t]\nm union\n", "t.hints:2: expected the tag member's name after 'union'"},
		{"[t]\nm union k\n", "t.hints:2: expected VALUE=MEMBER pairs after 'union k'"},
		{"[t]\nm union k 1=\n", "t.hints:2: expected VALUE=MEMBER after 'union k', not '1='"},
		{"[t]\nm points-to\n", "t.hints:2: expected a type name after 'points-to'"},
		{"[t]\nm link struct\n", "t.hints:2: expected 'link TYPE MEMBER'"},
		{"[t]\nm link x y-z\n", "t.hints:2: expected the link's member name or byte offset"},
		{"[t]\nm points-to x link y z\n", "t.hints:2: 'points-to' and 'link' exclude each other"},
		{"[t\n", "t.hints:1: expected ']'"},
		{"[ ]\n", "t.hints:1: expected a type name between"},
		{"[t]\nm string\0x\n", NULL},   /* text ends at the NUL: fine */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		mp_hints *h = NULL;
		assert_null(mp_hints_new(&h));
		assert_null(mp_hints_add_text(h, "[keep]\nk string\n", "first"));
		mp_error *e = mp_hints_add_text(h, cases[i].text, "t.hints");
		if (!cases[i].message) {
			assert_null(e);
		} else {
			assert_non_null(e);
			if (!strstr(mp_error_message(e), cases[i].message))
				fail_msg("%zu: '%s' does not say '%s'", i, mp_error_message(e),
					 cases[i].message);
			assert_int_equal(mp_error_code(e), MP_ERR_FORMAT);
			mp_error_free(e);
			/* Nothing of the bad text was added. */
			assert_int_equal(mp_hints_count(h), 1);
			assert_int_equal(mp_hints_source_count(h), 1);
		}
		mp_hints_free(h);
	}
}

static void bounds(void **state)
{
	(void)state;
	size_t size = 5000;
	char *text = malloc(size + 16);
	assert_non_null(text);
	memcpy(text, "[t]\nm ", 6);
	memset(text + 6, 'a', size);
	strcpy(text + 6 + size, "\n");
	mp_hints *h = NULL;
	assert_null(mp_hints_new(&h));
	mp_error *e = mp_hints_add_text(h, text, "t.hints");
	assert_non_null(e);
	assert_non_null(strstr(mp_error_message(e), "t.hints:2: line longer than 4096 bytes"));
	mp_error_free(e);
	/* 300 words fit, 301 do not. */
	size_t at = (size_t)snprintf(text, size, "[t]\nm");
	for (int i = 0; i < 300; i++)
		at += (size_t)snprintf(text + at, size - at, " s");
	e = mp_hints_add_text(h, text, "t.hints");
	assert_non_null(e);
	assert_non_null(strstr(mp_error_message(e), "more than 300 words"));
	mp_error_free(e);
	e = mp_hints_add_file(h, "/nonexistent/x.hints");
	assert_non_null(e);
	assert_non_null(strstr(mp_error_message(e), "/nonexistent/x.hints"));
	mp_error_free(e);
	free(text);
	mp_hints_free(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(every_kind),
		cmocka_unit_test(type_keys),
		cmocka_unit_test(later_lines_win),
		cmocka_unit_test(errors_name_the_line),
		cmocka_unit_test(bounds),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
