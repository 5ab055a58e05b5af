/* Heap block types from DWARF (see block_types.c). */
#ifndef MEMPROF_CORE_ANALYSIS_BLOCK_TYPES_H
#define MEMPROF_CORE_ANALYSIS_BLOCK_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "memprof/memprof.h"

/* How a block got its type, strongest first. */
enum mp_type_evidence {
	MP_EVIDENCE_NONE = 0,
	MP_EVIDENCE_DWARF,      /* a typed pointer from a typed root, transitively */
	MP_EVIDENCE_SHAPE,      /* a lost block whose size class and pointer slots fit
				 * exactly one struct, or a block such a block's
				 * typed pointers reach */
};

/* "dwarf", "shape", "" */
const char *mp_type_evidence_name(enum mp_type_evidence evidence);

typedef struct mp_block_typing {
	const mp_type **types;  /* per chunk index: the block's type, or NULL */
	uint8_t *evidence;      /* per chunk index: enum mp_type_evidence */
} mp_block_typing;

/* Types every block it can.  leaks, when given, lets blocks no typed root
 * reaches be typed by their shape (only lost blocks: a reachable block
 * without a type was reached through untyped memory, where a guess would
 * mislead).  Targets without debug info give no types and no error. */
mp_error *mp_block_types_infer(mp_target *target, const mp_heap *heap,
			       const mp_leaks *leaks, mp_block_typing *out);
void mp_block_typing_free(mp_block_typing *typing);

/* Whether a block's first length bytes contradict its being a type (a
 * struct or class with pointer members): a pointer member holds a value no
 * pointer holds (not null, in no mapping), or the block starts with
 * printable text ending in a NUL where the struct has no byte array.
 * Guesses from size or shape that the contents contradict are dropped. */
bool mp_block_contradicts_type(mp_target *target, const mp_type *type,
			       const uint8_t *bytes, size_t length);

#endif
