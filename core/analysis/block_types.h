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

/* Each chunk's type and evidence, packed: code = index << 2 | evidence,
 * index into table (from 1; 0 is no type), 16 bits per chunk while the
 * heap's blocks have at most MP_TYPING_NARROW_TYPES distinct types, 32
 * bits beyond.  A type pointer and an evidence byte per chunk cost 9 bytes
 * a chunk, most of a leak check's memory after the chunk table (issue 18).
 * Read it through the accessors below. */
enum { MP_TYPING_NARROW_TYPES = (1 << 14) - 1 };

typedef struct mp_block_typing {
	const mp_type **table;  /* distinct types; table[0] unused */
	size_t n_table, table_capacity;
	uint16_t *narrow;       /* per chunk index: code, or NULL */
	uint32_t *wide;         /* per chunk index: code, once narrow is too small */
	size_t n_chunks;
	/* The stack locals of a struct or class type held in memory, as the
	 * typed roots found them: patterns measures their buffers without
	 * unwinding the threads again. */
	struct mp_typed_local {
		uint64_t address;
		const mp_type *type;           /* stripped */
	} *locals;
	size_t n_locals, locals_capacity;
} mp_block_typing;

static inline uint32_t mp_block_typing_code(const mp_block_typing *typing, size_t index)
{
	if (index >= typing->n_chunks)
		return 0;
	return typing->wide ? typing->wide[index] : typing->narrow ? typing->narrow[index] : 0;
}

/* The block's type, or NULL. */
static inline const mp_type *mp_block_typing_type(const mp_block_typing *typing, size_t index)
{
	uint32_t code = mp_block_typing_code(typing, index);
	return code ? typing->table[code >> 2] : NULL;
}

static inline enum mp_type_evidence mp_block_typing_evidence(const mp_block_typing *typing,
							      size_t index)
{
	return (enum mp_type_evidence)(mp_block_typing_code(typing, index) & 3);
}

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
