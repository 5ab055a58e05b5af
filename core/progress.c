/* Progress of long work: see progress.h.  The rate limit lives here, not
 * in the hosts, so a slow host (GDB's Python) costs the engine at most ten
 * calls a second whatever the loop's speed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "progress.h"

enum { MAX_DEPTH = 8 };

/* Nothing in a command's first half second: short commands never flash a
 * line.  Then a redraw at most every 100 ms: smooth enough to read, and
 * cheap for the host and the terminal. */
#define SHOW_AFTER 0.5
#define REDRAW_EVERY 0.1

typedef struct phase {
	const char *name, *unit;
	uint64_t total, done;
	double began;
} phase;

struct mp_progress_reporter {
	const mp_host *host;
	double started;
	double show_after;   /* SHOW_AFTER, or MEMPROF_PROGRESS_AFTER seconds */
	double last_drawn;
	bool shown;
	phase phases[MAX_DEPTH];
	size_t depth;          /* may exceed MAX_DEPTH: those are not shown */
	char text[128];
};

_Thread_local mp_progress_reporter *mp_progress_current;
/* One command at a time per thread: mp_command_run does not nest. */
static _Thread_local mp_progress_reporter reporter;

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

bool mp_progress_install(const mp_host *host, bool enabled)
{
	mp_progress_current = NULL;
	if (!enabled || !host || !host->progress)
		return false;
	memset(&reporter, 0, sizeof(reporter));
	reporter.host = host;
	reporter.started = now();
	/* Tests whose work is over in under half a second on a fast machine
	 * set it to 0 to see the line at all. */
	const char *after = getenv("MEMPROF_PROGRESS_AFTER");
	char *end = NULL;
	reporter.show_after = after ? strtod(after, &end) : SHOW_AFTER;
	if (!after || end == after || reporter.show_after < 0)
		reporter.show_after = SHOW_AFTER;
	mp_progress_current = &reporter;
	return true;
}

void mp_progress_clear(void)
{
	mp_progress_reporter *r = mp_progress_current;
	if (!r || !r->shown)
		return;
	r->shown = false;
	mp_progress erase = {.remaining = -1};
	r->host->progress(r->host->context, &erase);
}

void mp_progress_uninstall(void)
{
	mp_progress_clear();
	mp_progress_current = NULL;
}

void mp_progress_begin(const char *name, const char *unit, uint64_t total)
{
	mp_progress_reporter *r = mp_progress_current;
	if (!r)
		return;
	if (r->depth < MAX_DEPTH)
		r->phases[r->depth] = (phase){.name = name, .unit = unit, .total = total,
					      .began = now()};
	r->depth++;
}

void mp_progress_end(void)
{
	mp_progress_reporter *r = mp_progress_current;
	if (!r || !r->depth)
		return;
	r->depth--;
	mp_progress_clear();
}

void mp_progress_set_total(uint64_t total)
{
	mp_progress_reporter *r = mp_progress_current;
	if (r && r->depth && r->depth <= MAX_DEPTH)
		r->phases[r->depth - 1].total = total;
}

/* 1234567 as "1.2M", bytes as "1.2 MiB": a line that fits any terminal. */
static void human(char *out, size_t size, double value, bool bytes)
{
	static const char *const count_suffix[] = {"", "k", "M", "G", "T"};
	static const char *const byte_suffix[] = {" B", " KiB", " MiB", " GiB", " TiB"};
	double base = bytes ? 1024 : 1000;
	size_t i = 0;
	while (value >= base && i < 4) {
		value /= base;
		i++;
	}
	const char *suffix = bytes ? byte_suffix[i] : count_suffix[i];
	if (i == 0)
		snprintf(out, size, "%.0f%s", value, suffix);
	else
		snprintf(out, size, value < 10 ? "%.1f%s" : "%.0f%s", value, suffix);
}

static void format_line(mp_progress_reporter *r, const mp_progress *p)
{
	bool bytes = strcmp(p->unit, "bytes") == 0;
	const char *unit = bytes ? "" : p->unit;
	char done[32], total[32], rate[32], share[16] = "";
	human(done, sizeof(done), (double)p->done, bytes);
	human(total, sizeof(total), (double)p->total, bytes);
	human(rate, sizeof(rate), p->rate, bytes);
	if (p->total) {
		double fraction = (double)p->done / (double)p->total;
		snprintf(share, sizeof(share), "%3.0f%%  ", 100 * (fraction > 1 ? 1 : fraction));
	}
	int n = snprintf(r->text, sizeof(r->text), "memprof: %s  %s%s%s%s%s%s  %s%s%s/s",
			 p->phase, share, done, p->total ? "/" : "", p->total ? total : "",
			 unit[0] ? " " : "", unit, rate, unit[0] ? " " : "", unit);
	if (n > 0 && (size_t)n < sizeof(r->text) && p->remaining >= 0) {
		double left = p->remaining;
		if (left < 100)
			snprintf(r->text + n, sizeof(r->text) - (size_t)n, "  %.0fs left", left);
		else
			snprintf(r->text + n, sizeof(r->text) - (size_t)n, "  %.0fm left", left / 60);
	}
}

void mp_progress_report(uint64_t done)
{
	mp_progress_reporter *r = mp_progress_current;
	if (!r || !r->depth || r->depth > MAX_DEPTH)
		return;
	phase *ph = &r->phases[r->depth - 1];
	ph->done = done;
	double t = now();
	if (t - r->started < r->show_after || (r->shown && t - r->last_drawn < REDRAW_EVERY))
		return;
	r->last_drawn = t;
	r->shown = true;
	double elapsed = t - ph->began;
	mp_progress p = {
		.phase = ph->name,
		.unit = ph->unit,
		.done = done,
		.total = ph->total,
		.elapsed = elapsed,
		.rate = elapsed > 0 ? (double)done / elapsed : 0,
		.remaining = -1,
	};
	/* The estimate needs a little history to mean anything. */
	if (ph->total && done && done <= ph->total && elapsed >= 0.2)
		p.remaining = (double)(ph->total - done) / p.rate;
	format_line(r, &p);
	p.text = r->text;
	r->host->progress(r->host->context, &p);
}
