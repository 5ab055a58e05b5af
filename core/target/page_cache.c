#include "page_cache.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"

struct mp_page_cache {
	size_t line_size, lines;
	uint64_t *tags;            /* line address, or UINT64_MAX when empty */
	uint8_t *bytes;
	mp_fill_fn fill;
	void *context;
};

mp_page_cache *mp_page_cache_new(size_t line_size, size_t lines, mp_fill_fn fill,
				 void *context)
{
	mp_page_cache *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->line_size = line_size;
	c->lines = lines;
	c->fill = fill;
	c->context = context;
	c->tags = malloc(lines * sizeof(*c->tags));
	c->bytes = malloc(lines * line_size);
	if (!c->tags || !c->bytes) {
		mp_page_cache_free(c);
		return NULL;
	}
	for (size_t i = 0; i < lines; i++)
		c->tags[i] = UINT64_MAX;
	return c;
}

void mp_page_cache_free(mp_page_cache *c)
{
	if (!c)
		return;
	free(c->tags);
	free(c->bytes);
	free(c);
}

mp_error *mp_page_cache_read(mp_page_cache *c, uint64_t address, void *buffer,
			     size_t length)
{
	uint8_t *out = buffer;
	while (length) {
		uint64_t line = address & ~(uint64_t)(c->line_size - 1);
		size_t in_line = (size_t)(address - line);
		size_t span = c->line_size - in_line < length ? c->line_size - in_line : length;
		size_t slot = (size_t)((line / c->line_size) % c->lines);
		uint8_t *bytes = c->bytes + slot * c->line_size;
		if (c->tags[slot] != line) {
			mp_error *err = c->fill(c->context, line, bytes, c->line_size);
			if (err) {
				c->tags[slot] = UINT64_MAX;
				mp_error_free(err);
				return c->fill(c->context, address, out, length);
			}
			c->tags[slot] = line;
		}
		memcpy(out, bytes + in_line, span);
		out += span;
		address += span;
		length -= span;
	}
	return NULL;
}
