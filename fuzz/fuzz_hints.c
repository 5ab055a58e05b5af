/* Fuzzes hint files (docs/logical.md, "Hints"): the input is loaded as a
 * file (twice into one set: later lines merge into earlier members), as
 * text (up to its first NUL), then merged into a second set; every string
 * of every hint is read back.  Each load must end in an error naming
 * FILE:LINE or in hints. */
#include <stdlib.h>
#include <string.h>

#include "analysis/hints.h"
#include "fuzz_common.h"

static void use_hints(const mp_hints *h)
{
	for (size_t i = 0; i < mp_hints_count(h); i++) {
		const mp_hint *hint = mp_hints_hint_at(h, i);
		fuzz_use_string(hint->type);
		fuzz_use_string(hint->member);
		fuzz_use_string(hint->length_field);
		fuzz_use_string(hint->capacity_field);
		fuzz_use_string(hint->tag_field);
		fuzz_use_string(hint->target_type);
		fuzz_use_string(hint->link_member);
		fuzz_use_string(hint->where);
		for (size_t k = 0; k < hint->n_arms; k++) {
			fuzz_use_string(hint->arms[k].value_name);
			fuzz_use_string(hint->arms[k].member);
		}
		if (!mp_hints_find(h, hint->type, hint->member))
			abort();   /* every stored hint is found by its own key */
	}
	for (size_t i = 0; i < mp_hints_source_count(h); i++)
		fuzz_use_string(mp_hints_source_at(h, i));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	mp_hints *h = NULL, *merged = NULL;
	if (mp_hints_new(&h) || mp_hints_new(&merged))
		abort();
	const char *path = fuzz_write_file("input.hints", data, size);
	fuzz_drop_error(mp_hints_add_file(h, path));
	fuzz_drop_error(mp_hints_add_file(h, path));
	char *text = malloc(size + 1);
	if (!text)
		abort();
	memcpy(text, data, size);
	text[size] = '\0';
	fuzz_drop_error(mp_hints_add_text(h, text, "fuzz"));
	char key[64];
	mp_hints_type_key(text, key, 1 + size % sizeof(key));
	fuzz_use_string(key);
	free(text);
	use_hints(h);
	fuzz_drop_error(mp_hints_merge(merged, h));
	use_hints(merged);
	mp_hints_free(merged);
	mp_hints_free(h);
	return 0;
}
