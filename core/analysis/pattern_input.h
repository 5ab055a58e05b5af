/* What the patterns need to know about a heap, gathered once from the
 * target (types, contents, container capacities) so that the findings can
 * be computed from it alone: from a core or a live process now, or from a
 * snapshot file later (pattern_input_file.c writes and reads it). */
#ifndef MEMPROF_CORE_ANALYSIS_PATTERN_INPUT_H
#define MEMPROF_CORE_ANALYSIS_PATTERN_INPUT_H

#include <stdbool.h>
#include <stdint.h>

#include "memprof/memprof.h"

enum { MP_PATTERN_NO_CLASS = UINT32_MAX };
/* What malloc's rounding leaves unused in a block, at most: capacity
 * beyond it is the program's. */
enum { MP_PATTERN_ROUNDING = 24 };

/* A category of blocks in use: a type, else "char[] (string)" or
 * "unknown", with the facts about its type the findings need. */
typedef struct mp_pattern_class {
	char *name;
	uint64_t blocks, bytes, overhead;   /* usable bytes; chunk headers */
	uint64_t record_size;               /* sizeof the struct; 0: not a struct */
	uint64_t reorganized_size;          /* without holes; 0: no smaller order */
	uint64_t exact;                     /* blocks holding exactly one instance */
	uint64_t example;                   /* user address of one block */
} mp_pattern_class;

/* Blocks whose contents some other block may repeat (their hash bits
 * collide at least), sorted by (hash, length, chunk). */
typedef struct mp_pattern_content {
	uint64_t hash;
	uint32_t length;
	uint32_t chunk;
} mp_pattern_content;

/* A struct member that keeps elements in a block of its own (a C pointer
 * with a length sibling, std::vector, String, ...), summed over every
 * object of its struct: how much of the blocks lies past the lengths. */
typedef struct mp_pattern_capacity {
	char *subject;                      /* "struct registry.items" */
	uint64_t blocks, bytes, unused, example;
} mp_pattern_capacity;

typedef struct mp_pattern_input {
	mp_pattern_class *classes;
	size_t n_classes;
	uint32_t *chunk_class;              /* per chunk index; MP_PATTERN_NO_CLASS */
	uint8_t *chunk_kind;                /* per chunk index: enum mp_leak_kind */
	size_t n_chunks;
	/* Gathered for the snapshot's blocks section (snapshot_blocks.h), not
	 * part of the patterns encoding: NULL after decoding. */
	uint64_t *chunk_hash;               /* per chunk: mp_block_content_hash, 0 */
	uint8_t *chunk_evidence;            /* per chunk: enum mp_type_evidence */
	mp_pattern_content *contents;
	size_t n_contents;
	mp_pattern_capacity *capacity;
	size_t n_capacity;
	uint64_t in_use_blocks, in_use_bytes;
	bool partial;                       /* some block could not be read */
} mp_pattern_input;

typedef struct mp_pattern_options {
	bool (*interrupted)(void *context);
	void *context;
	/* Fill chunk_hash and chunk_evidence (snapshots for `diff`); the
	 * patterns alone do without their 9 bytes per chunk. */
	bool block_hashes;
	/* A core read by pread is read on two threads unless this is 1
	 * (0: two when there are two CPUs); the input is the same. */
	unsigned threads;
} mp_pattern_options;

mp_error *mp_pattern_input_gather(mp_target *target, const mp_heap *heap,
				  const mp_leaks *leaks, const mp_pattern_options *options,
				  mp_pattern_input *out);
void mp_pattern_input_free(mp_pattern_input *input);

/* pattern_input_file.c: the input as bytes (*out is the caller's to free),
 * and back for a heap of n_chunks chunks. */
mp_error *mp_pattern_input_encode(const mp_pattern_input *input, uint8_t **out, size_t *size);
mp_error *mp_pattern_input_decode(const uint8_t *data, size_t size, size_t n_chunks,
				  mp_pattern_input *out);

#endif
