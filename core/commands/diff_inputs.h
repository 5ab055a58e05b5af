/* The pieces of `memprof diff` shared between its files (diff.c: the verb
 * and snapshots; diff_profiles.c: folded profiles and JSON reports) and
 * with `recommend --snapshot` and `watch`. */
#ifndef MEMPROF_CORE_COMMANDS_DIFF_INPUTS_H
#define MEMPROF_CORE_COMMANDS_DIFF_INPUTS_H

#include "analysis/heap_diff.h"
#include "command.h"

enum mp_diff_input_kind {
	MP_DIFF_INPUT_SNAPSHOT,    /* starts with the snapshot magic */
	MP_DIFF_INPUT_FOLDED,      /* "frame;frame;leaf 123" lines */
	MP_DIFF_INPUT_HEAP_JSON,   /* `memprof heap --format json` */
	MP_DIFF_INPUT_LEAKS_JSON,  /* `memprof leaks --format json` */
};

/* What a file holds, from its first bytes (and, for JSON, its keys). */
mp_error *mp_diff_input_kind_of(const char *path, enum mp_diff_input_kind *kind);
const char *mp_diff_input_kind_name(enum mp_diff_input_kind kind);

/* Adds a saved snapshot to a diff (its patterns and blocks sections). */
mp_error *mp_diff_load_snapshot(const char *path, mp_heap_diff *diff);

/* The two-file diffs of diff_profiles.c, checked against thresholds. */
struct mp_diff_thresholds;
int mp_diff_folded(mp_command *command, const struct mp_diff_thresholds *thresholds);
int mp_diff_reports(mp_command *command, enum mp_diff_input_kind kind,
		    const struct mp_diff_thresholds *thresholds);

#endif
