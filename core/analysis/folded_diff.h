/* Two folded-stack profiles ("frame;frame;leaf 123" lines, as `memprof
 * logical --format folded` writes them) side by side: each stack's count
 * before and after, for a differential flamegraph (the two-column lines
 * difffolded.pl writes and flamegraph.pl reads) and the stacks that grew
 * most. */
#ifndef MEMPROF_CORE_ANALYSIS_FOLDED_DIFF_H
#define MEMPROF_CORE_ANALYSIS_FOLDED_DIFF_H

#include <stddef.h>
#include <stdint.h>

#include "memprof/memprof.h"

typedef struct mp_folded_row {
	char *stack;
	uint64_t before, after;
} mp_folded_row;

typedef struct mp_folded_diff {
	mp_folded_row *rows;       /* in order first seen, until sorted */
	size_t n_rows, rows_capacity;
	size_t *by_stack;          /* open addressing: row index + 1 */
	size_t by_stack_capacity;
	uint64_t total_before, total_after;
} mp_folded_diff;

void mp_folded_diff_init(mp_folded_diff *diff);
/* Reads a folded file as the before (after == false) or after side; a
 * line that is not "stack count" is an error naming file and line. */
mp_error *mp_folded_diff_read(mp_folded_diff *diff, const char *path, bool after);
/* Adds count to key's before or after side: what the readers use, and
 * what diffs of other keyed numbers (JSON reports) reuse. */
mp_error *mp_folded_diff_add(mp_folded_diff *diff, const char *key, size_t length,
			     uint64_t count, bool after);
/* By stack, for the two-column output. */
void mp_folded_diff_sort_by_stack(mp_folded_diff *diff);
/* Largest growth (after - before) first, then by stack. */
void mp_folded_diff_sort_by_growth(mp_folded_diff *diff);
void mp_folded_diff_free(mp_folded_diff *diff);

#endif
