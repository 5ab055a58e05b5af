/* `memprof watch --pid PID --interval 1s [--count N] --dir DIR`: snapshots
 * of a running process, one per interval, each holding the process only as
 * long as copying its writable memory takes (mp_target_live_thaw); the
 * heap walk, leak check and typing then run on the copy while the process
 * goes on.  Each snapshot's pause is printed on stderr and kept, with the
 * others, in DIR/watch.json, rewritten after every snapshot: an
 * interrupted watch (SIGINT, SIGTERM: the CLI ends at once and the kernel
 * detaches the process) leaves a consistent directory behind. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "command.h"
#include "error.h"
#include "heap/heap_internal.h"
#include "output/result.h"
#include "patterns_section.h"
#include "target/target_internal.h"

typedef struct watched {
	char *path;
	int64_t timestamp_ns;
	size_t blocks;
	uint64_t bytes;
	double pause_ms, total_ms;   /* held; the whole snapshot, file included */
} watched;

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* "1s", "500ms", "1.5", "2m": seconds, or a negative value. */
static double parse_interval(const char *text)
{
	char *end;
	double value = strtod(text, &end);
	if (end == text || value <= 0)
		return -1;
	if (*end == '\0' || strcmp(end, "s") == 0)
		return value;
	if (strcmp(end, "ms") == 0)
		return value / 1e3;
	if (strcmp(end, "m") == 0 || strcmp(end, "min") == 0)
		return value * 60;
	return -1;
}

static double per_million(const watched *w)
{
	return w->blocks ? w->pause_ms * 1e6 / (double)w->blocks : 0;
}

/* watch.json as docs/json.md describes it: each snapshot and its pause,
 * then the pauses' maximum and mean. */
static void summary_result(mp_result *r, long pid, double interval, const watched *w, size_t n)
{
	double max = 0, sum = 0, max_per_million = 0;
	for (size_t i = 0; i < n; i++) {
		max = w[i].pause_ms > max ? w[i].pause_ms : max;
		max_per_million = per_million(&w[i]) > max_per_million ? per_million(&w[i]) : max_per_million;
		sum += w[i].pause_ms;
	}
	mp_result_int(r, MP_RESULT_ROOT, "pid", pid);
	mp_result_double(r, MP_RESULT_ROOT, "interval_seconds", interval);
	mp_rnode snapshots = mp_result_array(r, MP_RESULT_ROOT, "snapshots");
	for (size_t i = 0; i < n; i++) {
		mp_rnode o = mp_result_object(r, snapshots, NULL);
		mp_result_string(r, o, "path", w[i].path);
		mp_result_double(r, o, "timestamp", (double)w[i].timestamp_ns / 1e9);
		mp_result_uint(r, o, "blocks", w[i].blocks);
		mp_result_uint(r, o, "bytes", w[i].bytes);
		mp_result_double(r, o, "pause_ms", w[i].pause_ms);
		mp_result_double(r, o, "pause_ms_per_million_blocks", per_million(&w[i]));
		mp_result_double(r, o, "total_ms", w[i].total_ms);
	}
	mp_rnode pause = mp_result_object(r, MP_RESULT_ROOT, "pause_ms");
	mp_result_double(r, pause, "max", max);
	mp_result_double(r, pause, "mean", n ? sum / (double)n : 0);
	mp_result_double(r, pause, "max_per_million_blocks", max_per_million);
}

/* The summary, whole, through a temporary file and a rename. */
static mp_error *write_summary(const char *dir, long pid, double interval, const watched *w,
			       size_t n)
{
	char path[4096], temporary[4096];
	snprintf(path, sizeof(path), "%s/watch.json", dir);
	snprintf(temporary, sizeof(temporary), "%s/.watch.json.tmp", dir);
	mp_result r;
	mp_result_init(&r);
	summary_result(&r, pid, interval, w, n);
	FILE *f = fopen(temporary, "w");
	if (!f) {
		mp_result_free(&r);
		return mp_error_errno(errno, "cannot write %s", temporary);
	}
	mp_error *err = mp_result_write_json(f, &r);
	mp_result_free(&r);
	if (fclose(f) != 0 && !err)
		err = mp_error_errno(errno ? errno : EIO, "cannot write %s", path);
	if (!err && rename(temporary, path) != 0)
		err = mp_error_errno(errno, "cannot write %s", path);
	if (err)
		remove(temporary);
	return err;
}

/* One snapshot: freeze, copy, let go (the pause), then the analyses on the
 * copy and the file. */
static mp_error *take(mp_command *c, const char *path, watched *w)
{
	mp_target_options options = {
		.exe_path = c->options->exe,
		.debug_dirs = c->options->debug_dirs,
		.n_debug_dirs = c->options->n_debug_dirs,
		.no_debuginfod = c->options->no_debuginfod,
	};
	mp_target *t = NULL;
	double start = now_ms();
	mp_error *err = mp_target_attach_pid((pid_t)c->options->pid, &options,
					     MP_PID_THAW_EARLY, &t);
	/* The pause is the target's own measure, from the first seize to the
	 * last detach: memory for the copy is made ready before it. */
	int64_t pause_ns = t ? mp_target_live_pause_ns(t) : -1;
	w->pause_ms = pause_ns >= 0 ? (double)pause_ns / 1e6 : now_ms() - start;
	mp_heap *h = NULL;
	heap_section sections[MP_SNAPSHOT_SECTIONS] = {{0}};
	mp_command on_target = *c;
	on_target.target = t;
	if (!err) {
		mp_heap_options heap_options = mp_command_heap_options(c);
		err = mp_heap_open(t, &heap_options, &h);
	}
	if (!err)
		err = mp_patterns_snapshot_sections(&on_target, h, sections);
	/* Written whole under a temporary name: a file named like a snapshot
	 * is always a complete one. */
	char temporary[4096];
	snprintf(temporary, sizeof(temporary), "%s.tmp", path);
	if (!err)
		err = heap_save_with(h, temporary, sections, MP_SNAPSHOT_SECTIONS);
	if (!err && rename(temporary, path) != 0)
		err = mp_error_errno(errno, "cannot write %s", path);
	for (size_t i = 0; i < MP_SNAPSHOT_SECTIONS; i++)
		free(sections[i].data);
	if (!err) {
		w->timestamp_ns = h->timestamp_ns;
		w->blocks = 0;
		w->bytes = 0;
		for (size_t i = 0; i < h->n_chunks; i++) {
			uint64_t usable = heap_chunk_usable(h, &h->chunks[i]);
			w->blocks += usable != 0;
			w->bytes += usable;
		}
	}
	w->total_ms = now_ms() - start;
	mp_heap_free(h);
	if (t)
		mp_target_release(t);
	return err;
}

static void sleep_until(double deadline_ms)
{
	for (;;) {
		double left = deadline_ms - now_ms();
		if (left <= 0)
			return;
		struct timespec ts = {(time_t)(left / 1e3), (long)((left - (double)(time_t)(left / 1e3) * 1e3) * 1e6)};
		if (nanosleep(&ts, NULL) == 0)
			return;
	}
}

static int run_watch(mp_command *c)
{
	const char *interval_text = mp_command_value(c, "--interval");
	const char *count_text = mp_command_value(c, "--count");
	const char *dir = mp_command_value(c, "--dir");
	double interval = interval_text ? parse_interval(interval_text) : 1;
	if (interval <= 0) {
		fprintf(c->err, "memprof: --interval takes a duration such as 1s, 500ms or 2m, not '%s'\n",
			interval_text);
		return MP_EXIT_USAGE;
	}
	long count = 0;
	if (count_text) {
		char *end;
		count = strtol(count_text, &end, 10);
		if (end == count_text || *end || count <= 0 || count > 1000000) {
			fprintf(c->err, "memprof: --count takes a positive number, not '%s'\n", count_text);
			return MP_EXIT_USAGE;
		}
	}
	if (!c->options->pid || !dir || (c->host && c->host->target) || c->options->core) {
		fprintf(c->err, "memprof: watch needs --pid PID and --dir DIR (from the command line, not in a debugger)\n");
		return MP_EXIT_USAGE;
	}
	if (mkdir(dir, 0777) != 0 && errno != EEXIST)
		return mp_command_fail(c, mp_error_errno(errno, "cannot create %s", dir));
	watched *w = NULL;
	size_t n = 0;
	int status = MP_EXIT_OK;
	double next = now_ms();
	for (long i = 0; !count || i < count; i++) {
		if (i)
			sleep_until(next);
		/* A snapshot that took longer than the interval is followed at
		 * once by the next, not by a burst catching up. */
		double now = now_ms();
		next = (next > now ? next : now) + interval * 1e3;
		watched *grown = realloc(w, (n + 1) * sizeof(*w));
		if (!grown) {
			status = mp_command_fail(c, mp_error_nomem());
			break;
		}
		w = grown;
		memset(&w[n], 0, sizeof(*w));
		if (asprintf(&w[n].path, "%s/snapshot-%04ld.snap", dir, i + 1) < 0) {
			w[n].path = NULL;
			status = mp_command_fail(c, mp_error_nomem());
			break;
		}
		mp_error *err = take(c, w[n].path, &w[n]);
		if (err) {
			free(w[n].path);
			status = mp_command_fail(c, err);
			break;
		}
		n++;
		fprintf(c->err, "memprof watch: %s: %zu blocks, %" PRIu64
			" bytes in use; pid %ld paused %.1f ms (%.1f ms per million blocks), written in %.0f ms\n",
			w[n - 1].path, w[n - 1].blocks, w[n - 1].bytes, c->options->pid,
			w[n - 1].pause_ms, per_million(&w[n - 1]), w[n - 1].total_ms);
		fflush(c->err);
		err = write_summary(dir, c->options->pid, interval, w, n);
		if (err) {
			status = mp_command_fail(c, err);
			break;
		}
	}
	if (status == MP_EXIT_OK)
		fprintf(c->out, "%zu snapshots in %s (summary in %s/watch.json); compare them with memprof diff %s/snapshot-*.snap\n",
			n, dir, dir, dir);
	for (size_t i = 0; i < n; i++)
		free(w[i].path);
	free(w);
	return status;
}

static const char *const watch_valued[] = {"--interval", "--count", "--dir", NULL};

const mp_verb mp_verb_watch = {
	.name = "watch",
	.summary = "snapshots of a running process every interval, with the pause of each",
	.usage = "--pid PID --dir DIR [--interval 1s] [--count N]\n"
		 "  DIR/snapshot-NNNN.snap as `snapshot save` writes them, and DIR/watch.json with\n"
		 "  each pause (the time the process is stopped); without --count, until interrupted",
	.formats = MP_FORMAT_TEXT,
	.needs_target = false,
	.valued = watch_valued,
	.run = run_watch,
};
