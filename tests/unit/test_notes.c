/* ELF note parsing must survive hostile sizes: cores and ELF files come
 * from anywhere. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <elf.h>
#include <string.h>

#include "elf/notes.h"

/* Appends one note; returns the new length. */
static size_t put_note(uint8_t *buffer, size_t at, const char *name,
		       uint32_t type, const void *desc, uint32_t desc_size)
{
	Elf64_Nhdr header = {(uint32_t)strlen(name) + 1, desc_size, type};
	memcpy(buffer + at, &header, sizeof(header));
	at += sizeof(header);
	memcpy(buffer + at, name, header.n_namesz);
	at += (header.n_namesz + 3) & ~3u;
	memcpy(buffer + at, desc, desc_size);
	at += (desc_size + 3) & ~3u;
	return at;
}

static void test_finds_build_id_after_other_notes(void **state)
{
	(void)state;
	uint8_t buffer[256] = {0};
	uint8_t abi[16] = {0};
	uint8_t id[20];
	for (int i = 0; i < 20; i++)
		id[i] = (uint8_t)(0xa0 + i);
	size_t length = put_note(buffer, 0, "GNU", NT_GNU_ABI_TAG, abi, sizeof(abi));
	length = put_note(buffer, length, "GNU", NT_GNU_BUILD_ID, id, sizeof(id));
	const uint8_t *found;
	size_t size;
	assert_true(mp_notes_find_build_id(buffer, length, 4, &found, &size));
	assert_int_equal(size, 20);
	char hex[41];
	mp_hex_encode(found, size, hex);
	assert_string_equal(hex, "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3");
}

static void test_rejects_oversized_lengths(void **state)
{
	(void)state;
	uint8_t buffer[64] = {0};
	Elf64_Nhdr header = {4, 0xfffffff0u, NT_GNU_BUILD_ID};
	memcpy(buffer, &header, sizeof(header));
	memcpy(buffer + sizeof(header), "GNU", 4);
	mp_note_iter it;
	mp_note note;
	mp_note_iter_init(&it, buffer, sizeof(buffer), 4);
	assert_false(mp_note_next(&it, &note));
	assert_true(it.malformed);

	header.n_namesz = 0xffffffffu;
	header.n_descsz = 0;
	memcpy(buffer, &header, sizeof(header));
	mp_note_iter_init(&it, buffer, sizeof(buffer), 4);
	assert_false(mp_note_next(&it, &note));
	assert_true(it.malformed);
}

static void test_owner_name_must_match_exactly(void **state)
{
	(void)state;
	uint8_t buffer[64] = {0};
	uint8_t desc[4] = {1, 2, 3, 4};
	size_t length = put_note(buffer, 0, "CORE2", NT_PRSTATUS, desc, sizeof(desc));
	mp_note_iter it;
	mp_note note;
	mp_note_iter_init(&it, buffer, length, 4);
	assert_true(mp_note_next(&it, &note));
	assert_false(mp_note_is(&note, "CORE", NT_PRSTATUS));
	assert_true(mp_note_is(&note, "CORE2", NT_PRSTATUS));
	assert_false(mp_note_next(&it, &note));
	assert_false(it.malformed);
}

static void test_truncated_header_ends_iteration(void **state)
{
	(void)state;
	uint8_t buffer[8] = {0};
	mp_note_iter it;
	mp_note note;
	mp_note_iter_init(&it, buffer, sizeof(buffer), 4);
	assert_false(mp_note_next(&it, &note));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_finds_build_id_after_other_notes),
		cmocka_unit_test(test_rejects_oversized_lengths),
		cmocka_unit_test(test_owner_name_must_match_exactly),
		cmocka_unit_test(test_truncated_header_ends_iteration),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
