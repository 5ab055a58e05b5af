/* Wasteful patterns in a heap (`memprof patterns`, `memprof recommend`):
 * what the heap holds per category and size class, and findings with the
 * bytes an obvious change would save.  docs/patterns.md says how each
 * finding and its savings are computed. */
#ifndef MEMPROF_CORE_ANALYSIS_PATTERNS_H
#define MEMPROF_CORE_ANALYSIS_PATTERNS_H

#include <stdbool.h>
#include <stdint.h>

#include "memprof/memprof.h"
#include "pattern_input.h"

enum { MP_FINDING_EXAMPLES = 3, MP_PATTERN_WARNINGS = 2 };

/* One finding.  kind is one of the names the JSON contract lists
 * ("overcapacity", "duplicate-content", "small-allocations",
 * "struct-padding", "fragmentation", "arena-bloat", "leak"). */
typedef struct mp_finding {
	const char *kind;
	char *subject;             /* a type, an arena, a field path */
	uint64_t blocks, bytes;    /* what the finding covers */
	uint64_t savings;          /* estimated bytes saved by the change */
	const char *impact;        /* low, medium, high, critical */
	char *detail;              /* the evidence, in numbers, one line */
	uint64_t examples[MP_FINDING_EXAMPLES];   /* user addresses */
	size_t n_examples;
} mp_finding;

/* Blocks in use per category (a type, else "string", "buffer" or
 * "unknown"), or per size class. */
typedef struct mp_pattern_category {
	char *name;
	uint64_t blocks, bytes;    /* usable bytes */
	uint64_t overhead;         /* allocator bytes beyond them (chunk headers) */
} mp_pattern_category;

typedef struct mp_patterns {
	uint64_t in_use_blocks, in_use_bytes, heap_bytes;   /* heap: what the arenas
							     * and mmapped chunks hold */
	mp_pattern_category *categories;      /* largest bytes first */
	size_t n_categories;
	mp_pattern_category *size_classes;    /* by usable size, powers of two */
	size_t n_size_classes;
	mp_finding *findings;                 /* largest savings first */
	size_t n_findings;
	uint64_t noise_floor;                 /* findings saving less are dropped */
	bool partial;
	/* Findings that could not be looked for, and why (the main program
	 * without DWARF, an allocator without glibc's arenas): the result is
	 * whole, but says what it did not check. */
	char *warnings[MP_PATTERN_WARNINGS];
	size_t n_warnings;
} mp_patterns;

/* Builds patterns from a heap and its leak analysis (leaks may not be
 * NULL: block types and the leak findings come from it). */
mp_error *mp_patterns_build(mp_target *target, const mp_heap *heap,
			    const mp_leaks *leaks, const mp_pattern_options *options,
			    mp_patterns *out);
/* The same from input gathered before (or read from a snapshot), for the
 * heap it was gathered on. */
mp_error *mp_patterns_compute(const mp_heap *heap, const mp_pattern_input *input,
			      mp_patterns *out);
void mp_patterns_free(mp_patterns *patterns);

/* low, medium, high, critical, from bytes against the heap's size. */
const char *mp_impact_of(uint64_t bytes, uint64_t heap_bytes);

#endif
