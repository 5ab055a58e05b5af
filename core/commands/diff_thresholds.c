/* The regression check of `memprof diff` (diff_thresholds.h). */
#include "diff_thresholds.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

int mp_diff_thresholds_parse(mp_command *c, mp_diff_thresholds *t)
{
	memset(t, 0, sizeof(*t));
	t->percent = -1;
	const char *percent = mp_command_value(c, "--fail-above");
	if (percent) {
		char *end;
		t->percent = strtod(percent, &end);
		if (end == percent || (*end && strcmp(end, "%") != 0) || !(t->percent >= 0)) {
			fprintf(c->err, "memprof: --fail-above takes a percentage such as 10, not '%s'\n",
				percent);
			return MP_EXIT_USAGE;
		}
	}
	const char *bytes = mp_command_value(c, "--fail-above-bytes");
	if (bytes) {
		if (!mp_command_parse_size(bytes, &t->bytes)) {
			fprintf(c->err, "memprof: --fail-above-bytes takes a size such as 10M, 64KiB or 4096, not '%s'\n",
				bytes);
			return MP_EXIT_USAGE;
		}
		t->has_bytes = true;
	}
	for (const char *w; (w = mp_command_value_at(c, "--watch", t->n_watch));) {
		if (t->n_watch == MP_DIFF_MAX_WATCH) {
			fprintf(c->err, "memprof: at most %d --watch options, not more\n",
				MP_DIFF_MAX_WATCH);
			return MP_EXIT_USAGE;
		}
		if (!w[0]) {
			fprintf(c->err, "memprof: --watch needs a path, type or size class\n");
			return MP_EXIT_USAGE;
		}
		t->watch[t->n_watch++] = w;
	}
	if (t->n_watch && !mp_diff_thresholds_active(t)) {
		fprintf(c->err, "memprof: --watch needs a threshold: --fail-above PCT or --fail-above-bytes N\n");
		return MP_EXIT_USAGE;
	}
	return MP_EXIT_OK;
}

bool mp_diff_thresholds_active(const mp_diff_thresholds *t)
{
	return t->percent >= 0 || t->has_bytes;
}

static bool exceeded(mp_command *c, const mp_diff_thresholds *t, const char *what,
		     uint64_t before, uint64_t after)
{
	if (after <= before)
		return false;
	uint64_t growth = after - before;
	/* Growth from nothing is infinitely many percent: it fails a percent
	 * threshold, which is what a baseline without the thing means. */
	bool over_percent = t->percent >= 0 &&
			    (double)after > (double)before * (1 + t->percent / 100);
	bool over_bytes = t->has_bytes && growth > t->bytes;
	if (!over_percent && !over_bytes)
		return false;
	fprintf(c->err, "memprof: %s grew from %" PRIu64 " to %" PRIu64 " (+%" PRIu64, what,
		before, after, growth);
	if (before)
		fprintf(c->err, ", +%.1f%%", 100.0 * (double)growth / (double)before);
	fprintf(c->err, "), more than");
	if (over_percent)
		fprintf(c->err, " --fail-above %g%%", t->percent);
	if (over_percent && over_bytes)
		fprintf(c->err, " and");
	if (over_bytes)
		fprintf(c->err, " --fail-above-bytes %" PRIu64, t->bytes);
	fprintf(c->err, ": exit status 3\n");
	return true;
}

int mp_diff_thresholds_check(mp_command *c, const mp_diff_thresholds *t,
			     const char *total_name, uint64_t before, uint64_t after,
			     mp_diff_watch_fn found, const void *context)
{
	if (!mp_diff_thresholds_active(t))
		return MP_EXIT_OK;
	uint64_t watched[MP_DIFF_MAX_WATCH][2];
	for (size_t i = 0; i < t->n_watch; i++) {
		watched[i][0] = watched[i][1] = 0;
		if (!found(context, t->watch[i], &watched[i][0], &watched[i][1])) {
			fprintf(c->err, "memprof: --watch '%s' names nothing in either input\n",
				t->watch[i]);
			return MP_EXIT_ERROR;
		}
	}
	/* Every growth that fails is named, not only the first. */
	bool failed = exceeded(c, t, total_name, before, after);
	for (size_t i = 0; i < t->n_watch; i++) {
		char what[512];
		snprintf(what, sizeof(what), "'%s'", t->watch[i]);
		failed |= exceeded(c, t, what, watched[i][0], watched[i][1]);
	}
	return failed ? MP_EXIT_CHECK_FAILED : MP_EXIT_OK;
}
