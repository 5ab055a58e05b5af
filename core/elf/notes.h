/* ELF note iteration over a byte buffer, shared by core files (NT_PRSTATUS,
 * NT_FILE...), ELF files on disk and ELF images in target memory (build
 * ids), so that every producer is parsed with the same bounds checks. */
#ifndef MEMPROF_CORE_ELF_NOTES_H
#define MEMPROF_CORE_ELF_NOTES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct mp_note {
	const char *name;      /* not always NUL-terminated: use name_size */
	size_t name_size;      /* including the NUL when present */
	uint32_t type;
	const uint8_t *desc;
	size_t desc_size;
} mp_note;

typedef struct mp_note_iter {
	const uint8_t *data;
	size_t size;
	size_t pos;
	size_t align;          /* 4 or 8, from the segment or section */
	bool malformed;        /* set when a note ran past the buffer */
} mp_note_iter;

void mp_note_iter_init(mp_note_iter *it, const void *data, size_t size,
		       uint64_t align);
/* Returns false at the end or at the first malformed note. */
bool mp_note_next(mp_note_iter *it, mp_note *note);
/* True when the note's owner name equals `name` ("CORE", "GNU"). */
bool mp_note_is(const mp_note *note, const char *name, uint32_t type);

/* Finds an NT_GNU_BUILD_ID note in a note buffer. */
bool mp_notes_find_build_id(const void *data, size_t size, uint64_t align,
			    const uint8_t **id, size_t *id_size);

/* Writes the lowercase hex of bytes into out (2*size+1 bytes). */
void mp_hex_encode(const uint8_t *bytes, size_t size, char *out);

#endif
