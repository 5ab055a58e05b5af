/* Errors carry what they name, not only a message: the address of a fault,
 * the errno and path of a failed open; bad data in a file is
 * MP_ERR_FORMAT, never a usage error.  Warnings have one bound. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "memprof/memprof.h"
#include "warnings.h"

static void test_missing_core_names_path_and_errno(void **state)
{
	(void)state;
	mp_target *t = NULL;
	mp_error *err = mp_target_open_core("/nonexistent/memprof/core", NULL, &t);
	assert_non_null(err);
	assert_null(t);
	assert_int_equal(mp_error_code(err), MP_ERR_NOT_FOUND);
	assert_int_equal(mp_error_errnum(err), ENOENT);
	assert_non_null(mp_error_path(err));
	assert_string_equal(mp_error_path(err), "/nonexistent/memprof/core");
	uint64_t address;
	assert_false(mp_error_address(err, &address));
	mp_error_free(err);
}

static void test_fault_names_address(void **state)
{
	(void)state;
	char exe[4096];
	const char *dir = getenv("EXAMPLES_DIR");
	snprintf(exe, sizeof(exe), "%s/instance_c", dir ? dir : ".");
	mp_target *t = NULL;
	mp_error *err = mp_target_open_exe(exe, NULL, &t);
	assert_null(err);
	/* Far above the executable's segments (it is mapped at 0). */
	const uint64_t nowhere = 0x7ff000001000ull;
	uint8_t byte;
	err = mp_target_read(t, nowhere, &byte, 1);
	assert_non_null(err);
	assert_int_equal(mp_error_code(err), MP_ERR_FAULT);
	uint64_t address = 0;
	assert_true(mp_error_address(err, &address));
	assert_true(address == nowhere);
	assert_int_equal(mp_error_errnum(err), 0);
	mp_error_free(err);
	uint8_t word[4];
	err = mp_target_read(t, UINT64_MAX - 2, word, sizeof(word));
	assert_non_null(err);
	assert_true(mp_error_address(err, &address));
	assert_true(address == UINT64_MAX - 2);
	mp_error_free(err);
	mp_target_release(t);
}

static void test_bad_core_is_format_error(void **state)
{
	(void)state;
	char path[] = "/tmp/memprof-errors-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	/* An ELF header that says 64-bit little-endian x86-64 core, cut short. */
	static const unsigned char header[] = {0x7f, 'E', 'L', 'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0,
					       0, 0, 4, 0, 62, 0};
	assert_int_equal(write(fd, header, sizeof(header)), (int)sizeof(header));
	close(fd);
	mp_target *t = NULL;
	mp_error *err = mp_target_open_core(path, NULL, &t);
	unlink(path);
	assert_non_null(err);
	assert_int_equal(mp_error_code(err), MP_ERR_FORMAT);
	mp_error_free(err);
}

/* One bound for every layer's warnings: the first are kept, the rest
 * counted in one last line. */
static void test_warnings_are_bounded(void **state)
{
	(void)state;
	mp_warnings w = {0};
	for (int i = 0; i < MP_WARNINGS_KEPT + 50; i++)
		mp_warnings_add(&w, "chunk %d is damaged", i);
	assert_int_equal(mp_warnings_count(&w), MP_WARNINGS_KEPT + 1);
	assert_string_equal(mp_warnings_at(&w, 0), "chunk 0 is damaged");
	assert_string_equal(mp_warnings_at(&w, MP_WARNINGS_KEPT - 1), "chunk 99 is damaged");
	assert_string_equal(mp_warnings_at(&w, MP_WARNINGS_KEPT), "... and 50 more warnings");
	assert_null(mp_warnings_at(&w, MP_WARNINGS_KEPT + 1));
	mp_warnings_free(&w);
	assert_int_equal(mp_warnings_count(&w), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_missing_core_names_path_and_errno),
		cmocka_unit_test(test_fault_names_address),
		cmocka_unit_test(test_bad_core_is_format_error),
		cmocka_unit_test(test_warnings_are_bounded),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
