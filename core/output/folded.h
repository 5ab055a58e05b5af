/* Folded stacks ("frame;frame;frame COUNT"), the input format of
 * flamegraph.pl, inferno and speedscope, and a self-contained interactive
 * SVG flamegraph drawn from the same lines.  Shared by every verb that
 * profiles something by path. */
#ifndef MEMPROF_CORE_OUTPUT_FOLDED_H
#define MEMPROF_CORE_OUTPUT_FOLDED_H

#include <stdint.h>
#include <stdio.h>

#include "memprof/memprof.h"

typedef struct mp_folded_line {
	char *stack;      /* frames joined by ';', no spaces inside frames */
	uint64_t value;
} mp_folded_line;

/* Sorts lines by stack (bytewise), merges equal stacks and drops zero
 * values, in place; returns the new count. */
size_t mp_folded_normalize(mp_folded_line *lines, size_t n);

/* Writes normalized lines: one "stack value" per line. */
void mp_folded_write(FILE *out, const mp_folded_line *lines, size_t n);

typedef struct mp_flamegraph_options {
	const char *title;
	const char *unit;     /* "bytes", "blocks" */
	const char *subtitle; /* NULL: none */
} mp_flamegraph_options;

/* Writes an SVG flamegraph (hover details, click to zoom, search) of
 * normalized lines; self-contained: no external scripts or fonts. */
mp_error *mp_flamegraph_svg(FILE *out, const mp_folded_line *lines, size_t n,
			    const mp_flamegraph_options *options);

#endif
