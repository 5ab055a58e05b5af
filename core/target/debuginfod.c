/* Debug files from debuginfod servers: the last place debug_file.c looks,
 * after every local one, as GDB and elfutils do.  Asked only when
 * $DEBUGINFOD_URLS names a server and the target was not opened with
 * no_debuginfod (--no-debuginfod).
 *
 * libdebuginfod is opened with dlopen on first use, not linked: memprof,
 * and GDB or LLDB with memprof loaded, then run where libdebuginfod1 is not
 * installed, and nobody who leaves DEBUGINFOD_URLS unset loads libcurl and
 * its TLS stack.  Its header (libdebuginfod-dev), when the build finds it,
 * types the entry points looked up; a build without it says so when
 * DEBUGINFOD_URLS asks for a server.
 *
 * Files land in libdebuginfod's own cache ($DEBUGINFOD_CACHE_PATH, else
 * $XDG_CACHE_HOME/debuginfod_client or ~/.cache/debuginfod_client), shared
 * with GDB and elfutils' tools, which also remembers misses for a while.
 * A transfer shows as a progress phase while it runs and as a note once
 * done.  A server that sends nothing for $DEBUGINFOD_TIMEOUT seconds (30
 * when unset, where libdebuginfod would wait 90) is given up, and after one
 * failure other than "not there" the target asks no more: a core with 200
 * libraries must not wait for a server that is down 200 times.
 */
#include <stdlib.h>

#include "target_internal.h"

#if MP_HAVE_DEBUGINFOD

#include <dlfcn.h>
#include <elfutils/debuginfod.h>
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "progress.h"

#define DEFAULT_STALL_SECONDS 30

/* libdebuginfod.so.1's entry points, loaded once per process and never
 * unloaded (libcurl does not support being unloaded). */
static struct {
	__typeof__(debuginfod_begin) *begin;
	__typeof__(debuginfod_find_debuginfo) *find_debuginfo;
	__typeof__(debuginfod_set_progressfn) *set_progressfn;
	__typeof__(debuginfod_set_user_data) *set_user_data;
	__typeof__(debuginfod_get_user_data) *get_user_data;
	__typeof__(debuginfod_get_url) *get_url;
	__typeof__(debuginfod_end) *end;
	char failure[256];      /* why it cannot be used; "" when loaded */
} lib;
static pthread_once_t lib_once = PTHREAD_ONCE_INIT;

static void *symbol(void *handle, const char *name)
{
	void *address = dlsym(handle, name);
	if (!address && !lib.failure[0])
		snprintf(lib.failure, sizeof(lib.failure), "%s has no %s",
			 DEBUGINFOD_SONAME, name);
	return address;
}

static void load_library(void)
{
	void *handle = dlopen(DEBUGINFOD_SONAME, RTLD_NOW | RTLD_LOCAL);
	if (!handle) {
		const char *why = dlerror();
		snprintf(lib.failure, sizeof(lib.failure),
			 "cannot load %s (%s): install libdebuginfod1",
			 DEBUGINFOD_SONAME, why ? why : "not found");
		return;
	}
	lib.begin = (__typeof__(lib.begin))symbol(handle, "debuginfod_begin");
	lib.find_debuginfo = (__typeof__(lib.find_debuginfo))symbol(handle, "debuginfod_find_debuginfo");
	lib.set_progressfn = (__typeof__(lib.set_progressfn))symbol(handle, "debuginfod_set_progressfn");
	lib.set_user_data = (__typeof__(lib.set_user_data))symbol(handle, "debuginfod_set_user_data");
	lib.get_user_data = (__typeof__(lib.get_user_data))symbol(handle, "debuginfod_get_user_data");
	lib.get_url = (__typeof__(lib.get_url))symbol(handle, "debuginfod_get_url");
	lib.end = (__typeof__(lib.end))symbol(handle, "debuginfod_end");
}

/* One client per target, so the servers' connections are reused from
 * module to module; one query at a time (targets are single-threaded
 * while modules are found). */
struct mp_debuginfod {
	debuginfod_client *client;
	double stall_limit;     /* seconds without data; <= 0: no limit */
	/* The query under way. */
	double last_data;       /* when it began or last received bytes */
	long bytes;
	bool receiving;
	bool stalled;
	char phase[96];
};

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Called by libdebuginfod every second or so while it waits, and as data
 * arrives.  Until the transfer begins (no URL yet) `done` counts its
 * polls, afterwards the bytes received of `total` (0 or -1: unknown). */
static int on_progress(debuginfod_client *client, long done, long total)
{
	struct mp_debuginfod *d = lib.get_user_data(client);
	double t = now();
	if (lib.get_url(client)) {
		if (!d->receiving || done > d->bytes)
			d->last_data = t;
		d->receiving = true;
		d->bytes = done;
		if (total > 0)
			mp_progress_set_total((uint64_t)total);
		mp_progress_update(done > 0 ? (uint64_t)done : 0);
	} else {
		mp_progress_update(0);
	}
	if (d->stall_limit > 0 && t - d->last_data > d->stall_limit) {
		d->stalled = true;
		return 1;       /* libdebuginfod stops as soon as it can */
	}
	return 0;
}

/* $DEBUGINFOD_TIMEOUT as libdebuginfod reads it: whole seconds, zero or
 * negative for none. */
static double stall_limit(void)
{
	const char *text = getenv("DEBUGINFOD_TIMEOUT");
	if (!text || !text[0])
		return DEFAULT_STALL_SECONDS;
	return (double)strtol(text, NULL, 10);
}

static struct mp_debuginfod *client_of(mp_target *t)
{
	if (t->debuginfod)
		return t->debuginfod;
	pthread_once(&lib_once, load_library);
	if (lib.failure[0]) {
		mp_target_warn(t, "DEBUGINFOD_URLS is set, but %s; debug files are not downloaded",
			       lib.failure);
		t->no_debuginfod = true;
		return NULL;
	}
	struct mp_debuginfod *d = calloc(1, sizeof(*d));
	if (d)
		d->client = lib.begin();
	if (!d || !d->client) {
		mp_target_warn(t, "debuginfod: cannot start a client (%s); debug files are "
			       "not downloaded", strerror(d ? errno : ENOMEM));
		free(d);
		t->no_debuginfod = true;
		return NULL;
	}
	d->stall_limit = stall_limit();
	lib.set_user_data(d->client, d);
	lib.set_progressfn(d->client, on_progress);
	t->debuginfod = d;
	return d;
}

char *mp_debuginfod_find(mp_target *t, const char *build_id, const char *name)
{
	const char *urls = getenv("DEBUGINFOD_URLS");
	if (t->no_debuginfod || !urls || !urls[strspn(urls, " \t")] || !build_id[0])
		return NULL;
	struct mp_debuginfod *d = client_of(t);
	if (!d)
		return NULL;
	if (!name || !name[0])
		name = build_id;
	const char *base = strrchr(name, '/');
	/* Short: the progress line stays under 80 columns. */
	snprintf(d->phase, sizeof(d->phase), "debuginfod %.40s", base ? base + 1 : name);
	d->last_data = now();
	d->bytes = 0;
	d->receiving = d->stalled = false;
	mp_progress_begin(d->phase, "bytes", 0);
	char *path = NULL;
	int fd = lib.find_debuginfo(d->client, (const unsigned char *)build_id, 0, &path);
	mp_progress_end();
	if (fd >= 0) {
		close(fd);
		/* Bytes came from a server, not the cache: the progress callback
		 * saw a transfer, and libdebuginfod names its URL. */
		const char *url = lib.get_url(d->client);
		struct stat st;
		if (d->receiving && url && path && stat(path, &st) == 0)
			mp_target_note(t, "debuginfod: downloaded the debug info of %s (%lld bytes) from %s",
				       name, (long long)st.st_size, url);
		return path;
	}
	free(path);
	if (fd == -ENOENT && !d->stalled)
		return NULL;    /* no server has it: as quiet as a local miss */
	char why[80];
	if (d->stalled)
		snprintf(why, sizeof(why), "no data for %.0f s (DEBUGINFOD_TIMEOUT)",
			 d->stall_limit);
	else if (fd == -ETIME)
		snprintf(why, sizeof(why), "timed out (DEBUGINFOD_TIMEOUT, DEBUGINFOD_MAXTIME)");
	else
		snprintf(why, sizeof(why), "%s", strerror(-fd));
	mp_target_warn(t, "debuginfod: cannot get the debug info of %s (build id %s) from %s: "
		       "%s; not asking again for this target", name, build_id, urls, why);
	t->no_debuginfod = true;
	return NULL;
}

void mp_debuginfod_free(struct mp_debuginfod *d)
{
	if (!d)
		return;
	lib.end(d->client);
	free(d);
}

#else /* built without <elfutils/debuginfod.h> */

char *mp_debuginfod_find(mp_target *t, const char *build_id, const char *name)
{
	(void)build_id;
	(void)name;
	const char *urls = getenv("DEBUGINFOD_URLS");
	if (t->no_debuginfod || !urls || !urls[0])
		return NULL;
	mp_target_warn(t, "DEBUGINFOD_URLS is set, but this memprof was built without "
		       "debuginfod support (libdebuginfod-dev); debug files are not downloaded");
	t->no_debuginfod = true;
	return NULL;
}

void mp_debuginfod_free(struct mp_debuginfod *d)
{
	(void)d;
}

#endif
