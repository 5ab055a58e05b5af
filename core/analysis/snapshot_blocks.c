/* The blocks section of a snapshot (see snapshot_blocks.h).  Little-endian,
 * like the file around it:
 *
 *   u32 version (2); i64 timestamp in ns; u64 modules, each: string name,
 *   string build id (u32 length + bytes), u64 load bias; u64 chunks; per
 *   chunk: u64 holding the type evidence in its top 2 bits, the owner
 *   path's index + 1 (0: none) in the next 16 and the content hash in the
 *   low 46.
 *
 * Version 1 (read still) had no owner and a 62-bit hash; its hashes are
 * cut to 46 bits on reading, so snapshots of both versions compare.
 *
 * Eight bytes per chunk, owner paths included.  With the chunk table (16)
 * and the patterns section's category and leak kind (5), a snapshot costs
 * 29 bytes per chunk plus the repeated contents, the owner paths' table
 * and the header (docs/diff.md).  The words are per chunk, not per block
 * in use, so they index like the chunk table and need no address. */
#include "snapshot_blocks.h"

#include <stdlib.h>
#include <string.h>

#include "block_types.h"
#include "byte_reader.h"
#include "byte_writer.h"
#include "error.h"
#include "heap/heap_internal.h"

enum { ENCODING_VERSION = 2, EVIDENCE_SHIFT = 62, OWNER_SHIFT = MP_BLOCK_HASH_BITS };
static const uint64_t HASH_MASK = (1ull << MP_BLOCK_HASH_BITS) - 1;
static const uint64_t V1_HASH_MASK = (1ull << EVIDENCE_SHIFT) - 1;

uint64_t mp_block_content_hash(const uint8_t *bytes, size_t length, uint64_t usable)
{
	if (length > 64)
		length = 64;
	/* Word-wise multiply-xorshift: the bytes are a cache line at most, so
	 * anything better mixed costs more than the read did. */
	uint64_t h = 0x9e3779b97f4a7c15ull ^ (usable * 0xff51afd7ed558ccdull);
	size_t i = 0;
	for (; i + 8 <= length; i += 8) {
		uint64_t w;
		memcpy(&w, bytes + i, 8);
		h = (h ^ w) * 0xbf58476d1ce4e5b9ull;
		h ^= h >> 31;
	}
	uint64_t tail = 0;
	memcpy(&tail, bytes + i, length - i);
	h = (h ^ tail ^ length) * 0x94d049bb133111ebull;
	h ^= h >> 29;
	/* The section's word keeps the evidence and the owner above it. */
	h &= HASH_MASK;
	return h ? h : 1;
}

mp_error *mp_snapshot_blocks_encode(mp_target *target, const mp_heap *heap,
				    const uint64_t *hash, const uint8_t *evidence,
				    const uint32_t *owner, uint8_t **out, size_t *size)
{
	if (heap->n_chunks && (!hash || !evidence))
		return mp_error_new(MP_ERR_UNSUPPORTED,
				    "the blocks section needs the block hashes (mp_pattern_options.block_hashes)");
	mp_byte_writer b = {0};
	/* Room for the per-chunk arrays at once: a 10-million-chunk heap
	 * would otherwise be copied several times while doubling. */
	size_t want = 4096 + heap->n_chunks * 8;
	b.data = malloc(want);
	if (!b.data)
		return mp_error_nomem();
	b.capacity = want;
	uint32_t version = ENCODING_VERSION;
	mp_put(&b, &version, 4);
	mp_put_u64(&b, (uint64_t)heap->timestamp_ns);
	size_t n_modules = target ? mp_target_module_count(target) : 0;
	mp_put_u64(&b, n_modules);
	for (size_t i = 0; i < n_modules; i++) {
		const mp_module *m = mp_target_module(target, i);
		mp_put_string(&b, mp_module_name(m));
		mp_put_string(&b, mp_module_build_id(m));
		mp_put_u64(&b, mp_module_load_bias(m));
	}
	mp_put_u64(&b, heap->n_chunks);
	/* Module names may have used up the room made above. */
	if (!b.nomem && b.capacity - b.size < heap->n_chunks * 8) {
		uint8_t *grown = realloc(b.data, b.size + heap->n_chunks * 8);
		if (grown) {
			b.data = grown;
			b.capacity = b.size + heap->n_chunks * 8;
		} else {
			b.nomem = true;
		}
	}
	for (size_t i = 0; i < heap->n_chunks && !b.nomem; i++) {
		uint64_t owner_index = owner && owner[i] <= MP_BLOCK_MAX_OWNERS ? owner[i] : 0;
		uint64_t word = (hash[i] & HASH_MASK) | (owner_index << OWNER_SHIFT) |
				((uint64_t)(evidence[i] & 3) << EVIDENCE_SHIFT);
		memcpy(b.data + b.size, &word, 8);   /* room reserved above */
		b.size += 8;
	}
	if (b.nomem) {
		free(b.data);
		return mp_error_nomem();
	}
	*out = b.data;
	*size = b.size;
	return NULL;
}

mp_error *mp_snapshot_blocks_decode(const uint8_t *data, size_t size, size_t n_chunks,
				    mp_snapshot_blocks *out)
{
	memset(out, 0, sizeof(*out));
	mp_byte_reader r = {data, size, 0};
	uint32_t version;
	uint64_t count, chunks;
	const char *what = "header";
	if (!mp_take(&r, &version, 4))
		goto damaged;
	if (version < 1 || version > ENCODING_VERSION)
		return mp_error_new(MP_ERR_UNSUPPORTED,
				    "its blocks section has version %u; this memprof reads versions 1 to %d",
				    version, ENCODING_VERSION);
	if (!mp_take(&r, &out->timestamp_ns, 8) || !mp_take(&r, &count, 8))
		goto damaged;
	what = "modules";
	if (count > (r.size - r.pos) / 16)
		goto damaged;
	out->modules = calloc(count ? count : 1, sizeof(*out->modules));
	if (!out->modules)
		goto nomem;
	for (uint64_t i = 0; i < count; i++) {
		mp_snapshot_module *m = &out->modules[i];
		m->name = mp_take_string(&r);
		m->build_id = m->name ? mp_take_string(&r) : NULL;
		out->n_modules = i + 1;
		if (!m->build_id || !mp_take(&r, &m->load_bias, 8))
			goto damaged;
	}
	what = "the chunk count differs from the heap's";
	if (!mp_take(&r, &chunks, 8) || chunks != n_chunks || chunks != (r.size - r.pos) / 8 ||
	    (r.size - r.pos) % 8)
		goto damaged;
	out->hash = malloc((chunks ? chunks : 1) * sizeof(*out->hash));
	out->evidence = malloc(chunks ? chunks : 1);
	out->owner = malloc((chunks ? chunks : 1) * sizeof(*out->owner));
	if (!out->hash || !out->evidence || !out->owner)
		goto nomem;
	mp_take(&r, out->hash, chunks * sizeof(*out->hash));
	out->n_chunks = (size_t)chunks;
	what = "type evidence";
	for (size_t i = 0; i < out->n_chunks; i++) {
		uint64_t word = out->hash[i];
		out->evidence[i] = (uint8_t)(word >> EVIDENCE_SHIFT);
		out->owner[i] = version == 1 ? 0 : (uint16_t)(word >> OWNER_SHIFT);
		uint64_t full = word & (version == 1 ? V1_HASH_MASK : HASH_MASK);
		/* A version 1 hash cut as mp_block_content_hash cuts one now:
		 * a hash that became 0 is 1, 0 being "no hash". */
		out->hash[i] = full & HASH_MASK;
		if (full && !out->hash[i])
			out->hash[i] = 1;
		if (out->evidence[i] > MP_EVIDENCE_SHAPE)
			goto damaged;
	}
	what = "bytes after the end";
	if (r.pos != r.size)
		goto damaged;
	return NULL;
damaged:
	mp_snapshot_blocks_free(out);
	return mp_error_new(MP_ERR_FORMAT, "its blocks section is damaged (%s)", what);
nomem:
	mp_snapshot_blocks_free(out);
	return mp_error_nomem();
}

void mp_snapshot_blocks_free(mp_snapshot_blocks *b)
{
	for (size_t i = 0; i < b->n_modules; i++) {
		free(b->modules[i].name);
		free(b->modules[i].build_id);
	}
	free(b->modules);
	free(b->hash);
	free(b->evidence);
	free(b->owner);
	memset(b, 0, sizeof(*b));
}
