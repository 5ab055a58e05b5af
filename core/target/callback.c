/* A target whose memory comes through a host callback (a debugger talking to
 * a remote stub).  Each callback may be a network round trip, so reads are
 * served from a page cache: a direct-mapped table of 4 KiB pages, filled a
 * whole page at a time.  A page the host cannot read whole (the end of a
 * mapping) is not cached and the read goes to the host as asked.
 */
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "page_cache.h"
#include "target_internal.h"

enum {
	LINE_BYTES = 4096,
	CACHE_LINES = 1024,        /* 4 MiB */
};

typedef struct callback_state {
	mp_read_memory_fn read;
	void *context;
	mp_page_cache *cache;
} callback_state;

static mp_error *host_read(void *context, uint64_t address, void *buffer,
			   size_t length)
{
	const callback_state *s = context;
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
	return mp_page_cache_read(s->cache, address, buffer, length);
}

static void callback_release(mp_target *t)
{
	callback_state *s = t->state;
	if (!s)
		return;
	mp_page_cache_free(s->cache);
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
	if (s) {
		s->read = read;
		s->context = context;
		s->cache = mp_page_cache_new(LINE_BYTES, CACHE_LINES, host_read, s);
	}
	if (!s || !s->cache) {
		free(s);
		mp_target_release(t);
		return mp_error_nomem();
	}
	t->state = s;
	t->description = strdup("debugger memory callback");
	if (!t->description) {
		mp_target_release(t);
		return mp_error_nomem();
	}
	*out = t;
	return NULL;
}
