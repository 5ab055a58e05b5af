/* Fuzzes the text files memprof reads: suppression files (`run
 * --suppressions`), folded profiles and JSON reports (`diff A B`).
 *
 * Byte 0 picks the reader; the rest is the file.  Readers that take two
 * files (a folded pair, the `diff` verb) split the rest at its first NUL
 * byte, which the formats never hold, so the mutations move the split too:
 *   0  mp_suppressions_load, twice into one set (entries add up);
 *   1  mp_folded_diff_read of both halves, then both sorts;
 *   2  mp_json_read_numbers over the whole rest;
 *   3  the `diff` verb on the two halves, in the format byte 1 picks
 *      (text, json, csv): its input detection and every writer.
 * Each must end in an error naming what is wrong, or an answer. */
#include <stdlib.h>
#include <string.h>

#include "analysis/folded_diff.h"
#include "commands/suppressions.h"
#include "fuzz_common.h"
#include "output/json_read.h"

static mp_error *count_number(void *context, const char *path, const char *key, double value)
{
	size_t *count = context;
	fuzz_use_string(path);
	fuzz_use_string(key);
	fuzz_use_bytes(&value, value == value ? sizeof(value) : 1);
	(*count)++;
	return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	const uint8_t *body = data + 1;
	size_t length = size - 1;
	const uint8_t *split = memchr(body, '\0', length);
	size_t first = split ? (size_t)(split - body) : length;
	const uint8_t *second = split ? split + 1 : body + length;
	size_t second_length = length - first - (split ? 1 : 0);

	switch (data[0] % 4) {
	case 0: {
		const char *path = fuzz_write_file("input.supp", body, length);
		mp_suppressions s = {0};
		fuzz_drop_error(mp_suppressions_load(&s, path));
		fuzz_drop_error(mp_suppressions_load(&s, path));
		for (size_t i = 0; i < s.n; i++) {
			fuzz_use_string(s.entries[i].name);
			fuzz_use_string(s.entries[i].type);
		}
		mp_suppressions_free(&s);
		break;
	}
	case 1: {
		char *a = strdup(fuzz_write_file("before.folded", body, first));
		const char *b = fuzz_write_file("after.folded", second, second_length);
		if (!a)
			abort();
		mp_folded_diff diff;
		mp_folded_diff_init(&diff);
		mp_error *err = mp_folded_diff_read(&diff, a, false);
		if (!err)
			err = mp_folded_diff_read(&diff, b, true);
		fuzz_drop_error(err);
		mp_folded_diff_sort_by_stack(&diff);
		mp_folded_diff_sort_by_growth(&diff);
		for (size_t i = 0; i < diff.n_rows; i++)
			fuzz_use_string(diff.rows[i].stack);
		mp_folded_diff_free(&diff);
		free(a);
		break;
	}
	case 2: {
		size_t numbers = 0;
		fuzz_drop_error(mp_json_read_numbers((const char *)body, length, count_number,
						     &numbers));
		fuzz_use_bytes(&numbers, sizeof(numbers));
		break;
	}
	default: {
		static const char *const formats[] = {"text", "json", "csv"};
		const char *format = formats[length ? body[0] % 3 : 0];
		/* The verb tells the kinds apart by content and by name. */
		static const char *const names[][2] = {{"a.json", "b.json"},
						       {"a.folded", "b.folded"},
						       {"a.snap", "b.snap"}};
		const char *const *pair = names[size > 2 ? data[size - 1] % 3 : 0];
		char *a = strdup(fuzz_write_file(pair[0], body, first));
		char *b = strdup(fuzz_write_file(pair[1], second, second_length));
		if (!a || !b)
			abort();
		char *argv[] = {"diff", a, b, "--format", (char *)format};
		const mp_host host = {.name = "cli"};
		mp_command_run(5, argv, &host, fuzz_null_stream(), fuzz_null_stream());
		free(a);
		free(b);
		break;
	}
	}
	return 0;
}
