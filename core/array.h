/* Growable arrays: one helper instead of a realloc dance in every module. */
#ifndef MEMPROF_CORE_ARRAY_H
#define MEMPROF_CORE_ARRAY_H

#include <stdbool.h>
#include <stddef.h>

/* Ensures *items has room for `needed` elements of `size` bytes, growing the
 * capacity geometrically.  Returns false (leaving *items valid) when out of
 * memory or when the byte count would overflow. */
bool mp_array_reserve(void **items, size_t *capacity, size_t needed,
		      size_t size);

/* mp_array_reserve for a typed pointer; evaluates to a bool.  The check
 * that there is room already is inline: hot loops (the block scan appends
 * one edge per heap pointer) must not pay a call per element.  `needed` and
 * `capacity` are evaluated twice, so they must have no side effects. */
#define MP_ARRAY_RESERVE(items, capacity, needed) \
	((needed) <= (capacity) || \
	 mp_array_reserve((void **)&(items), &(capacity), (needed), sizeof(*(items))))

#endif
