/* A target whose memory comes through a host callback (a debugger talking to
 * a remote stub).  Each callback may be a network round trip, so reads are
 * served from a page cache: a direct-mapped table of 4 KiB pages, filled a
 * whole page at a time.  A page the host cannot read whole (the end of a
 * mapping) is not cached and the read goes to the host as asked.
 */
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "target_internal.h"

enum {
	PAGE_SIZE_BYTES = 4096,
	CACHE_PAGES = 1024,        /* 4 MiB */
};

typedef struct cached_page {
	uint64_t address;          /* page address, or UINT64_MAX when empty */
	uint8_t bytes[PAGE_SIZE_BYTES];
} cached_page;

typedef struct callback_state {
	mp_read_memory_fn read;
	void *context;
	cached_page *pages;
} callback_state;

static mp_error *host_read(const callback_state *s, uint64_t address,
			   void *buffer, size_t length)
{
	mp_error *err = s->read(s->context, address, buffer, length);
	if (err && mp_error_code(err) != MP_ERR_FAULT &&
	    mp_error_code(err) != MP_ERR_NOMEM)
		return mp_error_prefix(err, "reading %zu bytes at %#llx through the debugger",
				       length, (unsigned long long)address);
	return err;
}

static mp_error *callback_read(mp_target *t, uint64_t address, void *buffer,
			       size_t length)
{
	callback_state *s = t->state;
	uint8_t *out = buffer;
	while (length) {
		uint64_t page = address & ~(uint64_t)(PAGE_SIZE_BYTES - 1);
		size_t in_page = (size_t)(address - page);
		size_t span = PAGE_SIZE_BYTES - in_page < length ? PAGE_SIZE_BYTES - in_page
								 : length;
		cached_page *slot = &s->pages[(page / PAGE_SIZE_BYTES) % CACHE_PAGES];
		if (slot->address != page) {
			mp_error *err = host_read(s, page, slot->bytes, PAGE_SIZE_BYTES);
			if (err) {
				slot->address = UINT64_MAX;
				mp_error_free(err);
				/* The page is not whole: ask for exactly what is wanted. */
				return host_read(s, address, out, length);
			}
			slot->address = page;
		}
		memcpy(out, slot->bytes + in_page, span);
		out += span;
		address += span;
		length -= span;
	}
	return NULL;
}

static void callback_release(mp_target *t)
{
	callback_state *s = t->state;
	if (!s)
		return;
	free(s->pages);
	free(s);
}

static const struct mp_target_source callback_source = {
	.kind = "callback",
	.read = callback_read,
	.release = callback_release,
};

mp_error *mp_target_open_callback(mp_read_memory_fn read, void *context,
				  const mp_target_options *options,
				  mp_target **out)
{
	*out = NULL;
	if (!read)
		return mp_error_new(MP_ERR_USAGE, "callback target without a read function");
	mp_target *t = NULL;
	mp_error *err = mp_target_create(&callback_source, options, &t);
	if (err)
		return err;
	callback_state *s = calloc(1, sizeof(*s));
	if (s)
		s->pages = malloc(CACHE_PAGES * sizeof(*s->pages));
	if (!s || !s->pages) {
		free(s);
		mp_target_release(t);
		return mp_error_nomem();
	}
	for (size_t i = 0; i < CACHE_PAGES; i++)
		s->pages[i].address = UINT64_MAX;
	s->read = read;
	s->context = context;
	t->state = s;
	t->description = strdup("debugger memory callback");
	if (!t->description) {
		mp_target_release(t);
		return mp_error_nomem();
	}
	*out = t;
	return NULL;
}
