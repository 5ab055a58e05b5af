/* What `memprof diff` needs of a snapshot beyond the chunk table and the
 * patterns section (which already hold each block's category and leak
 * kind): the moment in nanoseconds, the modules with their build ids, and
 * per block a content hash, how its type was inferred and its owner path's
 * index (the paths: analysis/owner_paths.h).  Saved as the snapshot
 * section HEAP_SECTION_BLOCKS by `snapshot save`. */
#ifndef MEMPROF_CORE_ANALYSIS_SNAPSHOT_BLOCKS_H
#define MEMPROF_CORE_ANALYSIS_SNAPSHOT_BLOCKS_H

#include <stddef.h>
#include <stdint.h>

#include "memprof/memprof.h"

typedef struct mp_snapshot_module {
	char *name;
	char *build_id;            /* lowercase hex, "" when none */
	uint64_t load_bias;
} mp_snapshot_module;

typedef struct mp_snapshot_blocks {
	int64_t timestamp_ns;      /* when the heap was read, since the epoch */
	mp_snapshot_module *modules;
	size_t n_modules;
	uint64_t *hash;            /* per chunk, MP_BLOCK_HASH_BITS; 0: no block, or
				    * unreadable */
	uint8_t *evidence;         /* per chunk: enum mp_type_evidence */
	uint16_t *owner;           /* per chunk: owner path index + 1; 0: none (and
				    * always in version 1 sections) */
	size_t n_chunks;
} mp_snapshot_blocks;

/* Bits of the content hash kept: the section's word also holds the
 * evidence (2 bits) and the owner index (16).  A false "same block" needs
 * equal address, size, type and 46 bits of hash. */
enum { MP_BLOCK_HASH_BITS = 46 };
/* Owner path indexes + 1 that fit the word: at most this many paths. */
enum { MP_BLOCK_MAX_OWNERS = 0xffff };

/* The content hash of a block: MP_BLOCK_HASH_BITS bits of a 64-bit
 * multiply-xorshift over its first min(usable, 64) bytes (length of bytes)
 * and its usable size; never 0, which means "no hash".  Cheap on purpose:
 * it hashes bytes the patterns pass reads anyway. */
uint64_t mp_block_content_hash(const uint8_t *bytes, size_t length, uint64_t usable);

/* The section's bytes (*out is the caller's to free).  hash, evidence and
 * owner (path index + 1, at most MP_BLOCK_MAX_OWNERS; NULL: none) have one
 * entry per chunk of heap; target gives the modules (may be NULL). */
mp_error *mp_snapshot_blocks_encode(mp_target *target, const mp_heap *heap,
				    const uint64_t *hash, const uint8_t *evidence,
				    const uint32_t *owner, uint8_t **out, size_t *size);
/* Back, for a heap of n_chunks chunks; every count checked. */
mp_error *mp_snapshot_blocks_decode(const uint8_t *data, size_t size, size_t n_chunks,
				    mp_snapshot_blocks *out);
void mp_snapshot_blocks_free(mp_snapshot_blocks *blocks);

#endif
