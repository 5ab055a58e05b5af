/* Reading JSON back, as `diff` does with two reports: the document's
 * numbers as (path, value) pairs, "summary.definitely_lost.bytes".  An
 * element of an array that is an object is named by its identifying
 * members instead of its index ("groups[kind=definitely_lost,type=struct
 * node,size=48].bytes"), so the same group matches across two reports
 * whatever order they list it in. */
#ifndef MEMPROF_CORE_OUTPUT_JSON_READ_H
#define MEMPROF_CORE_OUTPUT_JSON_READ_H

#include <stddef.h>

#include "memprof/memprof.h"

/* Called per number; key is the last member name ("" in arrays).  Return
 * an error to stop. */
typedef mp_error *(*mp_json_number_fn)(void *context, const char *path, const char *key,
				       double value);

/* Parses text (iteratively: nesting costs a frame on the heap, never the
 * stack); a syntax error names what and where. */
mp_error *mp_json_read_numbers(const char *text, size_t length, mp_json_number_fn fn,
			       void *context);

#endif
