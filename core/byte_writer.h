/* Writing little-endian records into a growing byte buffer, the other half
 * of byte_reader.h: the snapshot's sections are encoded this way.  Out of
 * memory is remembered (nomem) and checked once at the end, so encoders
 * need not test every write. */
#ifndef MEMPROF_CORE_BYTE_WRITER_H
#define MEMPROF_CORE_BYTE_WRITER_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct mp_byte_writer {
	uint8_t *data;
	size_t size, capacity;
	bool nomem;
} mp_byte_writer;

static inline void mp_put(mp_byte_writer *b, const void *bytes, size_t size)
{
	/* An empty array may have no storage (NULL): memcpy must not see it. */
	if (b->nomem || !size)
		return;
	if (b->size + size > b->capacity) {
		size_t grown = b->capacity ? b->capacity : 4096;
		while (grown < b->size + size)
			grown *= 2;
		uint8_t *data = realloc(b->data, grown);
		if (!data) {
			b->nomem = true;
			return;
		}
		b->data = data;
		b->capacity = grown;
	}
	memcpy(b->data + b->size, bytes, size);
	b->size += size;
}

static inline void mp_put_u64(mp_byte_writer *b, uint64_t v)
{
	mp_put(b, &v, 8);
}

/* u32 length + bytes, as mp_take_string reads it; NULL: the empty string. */
static inline void mp_put_string(mp_byte_writer *b, const char *s)
{
	uint32_t length = s ? (uint32_t)strlen(s) : 0;
	mp_put(b, &length, 4);
	mp_put(b, s ? s : "", length);
}

#endif
