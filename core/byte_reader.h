/* Reading little-endian records out of a byte buffer with every length
 * checked against what is left: the snapshot file and the sections in it
 * are read this way, so a damaged file is an error, never a wild read. */
#ifndef MEMPROF_CORE_BYTE_READER_H
#define MEMPROF_CORE_BYTE_READER_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct mp_byte_reader {
	const uint8_t *data;
	size_t size, pos;
} mp_byte_reader;

/* Copies size bytes out; false (nothing consumed) when fewer are left. */
static inline bool mp_take(mp_byte_reader *r, void *out, size_t size)
{
	if (size > r->size - r->pos)
		return false;
	memcpy(out, r->data + r->pos, size);
	r->pos += size;
	return true;
}

/* A string stored as u32 length + bytes, as a new NUL-terminated copy;
 * NULL when damaged or out of memory. */
static inline char *mp_take_string(mp_byte_reader *r)
{
	uint32_t length;
	if (!mp_take(r, &length, 4) || length > r->size - r->pos)
		return NULL;
	char *s = strndup((const char *)r->data + r->pos, length);
	r->pos += length;
	return s;
}

#endif
