/* An example test suite using memprof's in-process test API
 * (<memprof/check.h>, docs/check.md): a memory budget for a data
 * structure and a leak check around the code that frees it.
 *
 * Build it like any cmocka test against libmemprof:
 *   cc -g check_example.c $(pkg-config --cflags --libs memprof cmocka)
 * Under AddressSanitizer malloc is ASan's, whose heap memprof does not
 * read: the checks answer MP_ERR_ALLOCATOR and the tests skip. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <memprof/check.h>

/* The code under test: a growing list of keys. */
struct keyring {
	char **keys;
	size_t n_keys;
	size_t capacity;
};

static void keyring_add(struct keyring *k, const char *key)
{
	if (k->n_keys == k->capacity) {
		size_t capacity = k->capacity ? 2 * k->capacity : 4;
		char **keys = realloc(k->keys, capacity * sizeof(*keys));
		assert_non_null(keys);
		k->keys = keys;
		k->capacity = capacity;
	}
	k->keys[k->n_keys] = strdup(key);
	assert_non_null(k->keys[k->n_keys]);
	k->n_keys++;
}

static void keyring_clear(struct keyring *k)
{
	for (size_t i = 0; i < k->n_keys; i++)
		free(k->keys[i]);
	free(k->keys);
	memset(k, 0, sizeof(*k));
}

/* memprof could not look (not traceable, another allocator): say why, and
 * skip under ASan, fail otherwise. */
static void require_checked(int error, const char *message)
{
	if (!error)
		return;
	print_message("memprof: %s\n", message);
	if (error == MP_ERR_ALLOCATOR)
		skip();
	fail_msg("%s", message);
}

/* The keyring holds exactly its struct, one pointer per key (n_keys of
 * them: the rest of the array is capacity) and each key with its NUL. */
static void test_keyring_budget(void **state)
{
	(void)state;
	struct keyring k = {0};
	uint64_t expected = sizeof(k);
	char key[32];
	for (int i = 0; i < 100; i++) {
		snprintf(key, sizeof(key), "key-%d", i);
		keyring_add(&k, key);
		expected += sizeof(char *) + strlen(key) + 1;
	}
	memprof_logical_result logical = memprof_logical_bytes(&k, "struct keyring",
							       MEMPROF_METRIC_LOGICAL);
	/* What it costs in the heap, capacity and malloc's rounding included:
	 * the budget. */
	memprof_logical_result allocated = memprof_logical_bytes(&k, "struct keyring",
								 MEMPROF_METRIC_ALLOCATED);
	/* Freed before any assertion can end the test. */
	keyring_clear(&k);
	require_checked(logical.error, logical.message);
	assert_int_equal(logical.value, expected);
	require_checked(allocated.error, allocated.message);
	assert_true(allocated.value <= 4096);
}

/* keyring_clear frees every block keyring_add made. */
static void test_keyring_clear_leaks_nothing(void **state)
{
	(void)state;
	memprof_leak_summary before, after;
	require_checked(memprof_check_leaks(&before), before.message);
	struct keyring *k = calloc(1, sizeof(*k));
	assert_non_null(k);
	keyring_add(k, "one");
	keyring_add(k, "two");
	keyring_clear(k);
	free(k);
	require_checked(memprof_check_leaks(&after), after.message);
	/* On failure, say what leaked: `memprof leaks`'s report, to stderr. */
	if (after.definitely_lost.bytes != before.definitely_lost.bytes ||
	    after.indirectly_lost.bytes != before.indirectly_lost.bytes)
		memprof_check_leaks_report(&after, STDERR_FILENO);
	assert_int_equal(after.definitely_lost.bytes, before.definitely_lost.bytes);
	assert_int_equal(after.indirectly_lost.bytes, before.indirectly_lost.bytes);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keyring_budget),
		cmocka_unit_test(test_keyring_clear_leaks_nothing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
