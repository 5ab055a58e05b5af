/* Which integer member of a struct holds the length of one of its pointer
 * members: the naming rules C code follows, shared by the logical walk
 * (logical.c) and the capacity pattern (pattern_input.c) so both read the
 * same struct the same way.  See docs/logical.md, "The rules".
 *
 * The static part (names, candidates) is decided per struct type; the
 * dynamic part (mp_length_pick) per object, from the blocks its pointers
 * point to, because `len` beside two pointers can only be told apart by
 * which block it fits. */
#ifndef MEMPROF_CORE_ANALYSIS_LENGTH_RULES_H
#define MEMPROF_CORE_ANALYSIS_LENGTH_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "memprof/memprof.h"

/* An integer member (not a bitfield, not an enum) named exactly name. */
const mp_type_member *mp_length_member(const mp_type *record, const char *name);

/* The sibling naming pointer member x's length: x_len, x_length, x_count,
 * x_size, x_used, n_x, nx, num_x; NULL when there is none. */
const mp_type_member *mp_length_sibling(const mp_type *record, const char *x);

/* The struct's one generic length (len, length, count, size, n, used):
 * NULL when there is none or more than one. */
const mp_type_member *mp_length_generic(const mp_type *record);

/* The struct's one generic capacity (cap, capacity, alloc, allocated,
 * capacity_): NULL when there is none or more than one. */
const mp_type_member *mp_length_capacity(const mp_type *record);

/* Whether pointer member m may take the generic length: a pointer without
 * a sibling of its own, not a string (char *: strings end at their NUL)
 * and not a link to the struct's own type (next, parent). */
bool mp_length_candidate(const mp_type *record, const mp_type_member *m);

/* Candidates of the struct (at most max written to out, all counted). */
size_t mp_length_candidates(const mp_type *record, const mp_type_member **out, size_t max);

/* One candidate pointer of one object, for mp_length_pick. */
typedef struct mp_length_block {
	uint64_t element_size;   /* 1 for void * */
	uint64_t usable;         /* usable bytes of the heap block it starts;
				  * 0: NULL, not a block start, not in the heap */
} mp_length_block;

enum mp_length_verdict {
	MP_LENGTH_ONE_FITS,      /* *index is the only candidate whose block fits */
	MP_LENGTH_NONE_FITS,
	MP_LENGTH_SEVERAL_FIT,
	MP_LENGTH_OVER_CAPACITY, /* len > cap: the pair is not a length and capacity */
};

/* Which of n candidates len (bounded by cap when has_cap) belongs to:
 * a candidate fits when its block holds len elements and, with a capacity,
 * cap elements too. */
enum mp_length_verdict mp_length_pick(uint64_t len, bool has_cap, uint64_t cap,
				      const mp_length_block *blocks, size_t n,
				      size_t *index);

#endif
