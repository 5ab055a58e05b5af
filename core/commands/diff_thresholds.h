/* The regression check of `memprof diff`: --fail-above PCT,
 * --fail-above-bytes N and --watch NAME (repeatable), the same for every
 * kind of input.  Each input kind says what a watched name measures (a
 * folded path's subtree, a report's number or type, a snapshot's type or
 * size class); this module decides whether a growth fails and says so. */
#ifndef MEMPROF_CORE_COMMANDS_DIFF_THRESHOLDS_H
#define MEMPROF_CORE_COMMANDS_DIFF_THRESHOLDS_H

#include <stdbool.h>
#include <stdint.h>

#include "command.h"

enum { MP_DIFF_MAX_WATCH = 16 };

typedef struct mp_diff_thresholds {
	double percent;            /* --fail-above; < 0: not given */
	uint64_t bytes;            /* --fail-above-bytes, when has_bytes */
	bool has_bytes;
	const char *watch[MP_DIFF_MAX_WATCH];
	size_t n_watch;
} mp_diff_thresholds;

/* Reads the options; prints the problem and returns MP_EXIT_USAGE for a
 * bad value, else MP_EXIT_OK. */
int mp_diff_thresholds_parse(mp_command *command, mp_diff_thresholds *thresholds);

/* Whether a check was asked for at all. */
bool mp_diff_thresholds_active(const mp_diff_thresholds *thresholds);

/* The status of a check whose watched names were looked up with found():
 * the total, then each watch.  A watch naming nothing in either input is
 * an error (status 1): a misspelt name must not pass a CI check unseen. */
typedef bool (*mp_diff_watch_fn)(const void *context, const char *name, uint64_t *before,
				 uint64_t *after);
int mp_diff_thresholds_check(mp_command *command, const mp_diff_thresholds *thresholds,
			     const char *total_name, uint64_t before, uint64_t after,
			     mp_diff_watch_fn found, const void *context);

#endif
