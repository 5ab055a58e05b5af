/* The patterns' input as bytes, for the snapshot section that lets
 * `patterns` and `recommend` run on a saved snapshot (see
 * pattern_input.h).  Little-endian, like the snapshot around it:
 *
 *   u32 version (1); u64 chunks, blocks in use, bytes in use; u8 partial;
 *   u64 classes, each: string name (u32 length + bytes), u64 blocks,
 *   bytes, overhead, record size, reorganized size, exact, example;
 *   per chunk: u32 class, then per chunk: u8 leak kind;
 *   u64 contents, each u64 hash + u32 length + u32 chunk;
 *   u64 capacity entries, each: string subject, u64 blocks, bytes,
 *   unused, example.
 *
 * Five bytes per chunk, plus the repeated contents (16 bytes each) and the
 * classes.  Decoding checks every count against the bytes left and every
 * index against what it indexes, so a damaged section is an error, never
 * a wild read. */
#include "pattern_input.h"

#include <stdlib.h>
#include <string.h>

#include "byte_reader.h"
#include "byte_writer.h"
#include "error.h"

enum { ENCODING_VERSION = 1 };

mp_error *mp_pattern_input_encode(const mp_pattern_input *in, uint8_t **out, size_t *size)
{
	mp_byte_writer b = {0};
	uint32_t version = ENCODING_VERSION;
	mp_put(&b, &version, 4);
	mp_put_u64(&b, in->n_chunks);
	mp_put_u64(&b, in->in_use_blocks);
	mp_put_u64(&b, in->in_use_bytes);
	uint8_t partial = in->partial;
	mp_put(&b, &partial, 1);
	mp_put_u64(&b, in->n_classes);
	for (size_t i = 0; i < in->n_classes; i++) {
		const mp_pattern_class *c = &in->classes[i];
		mp_put_string(&b, c->name);
		uint64_t fields[7] = {c->blocks, c->bytes, c->overhead, c->record_size,
				      c->reorganized_size, c->exact, c->example};
		mp_put(&b, fields, sizeof(fields));
	}
	mp_put(&b, in->chunk_class, in->n_chunks * sizeof(*in->chunk_class));
	mp_put(&b, in->chunk_kind, in->n_chunks);
	mp_put_u64(&b, in->n_contents);
	mp_put(&b, in->contents, in->n_contents * sizeof(*in->contents));
	mp_put_u64(&b, in->n_capacity);
	for (size_t i = 0; i < in->n_capacity; i++) {
		const mp_pattern_capacity *c = &in->capacity[i];
		mp_put_string(&b, c->subject);
		uint64_t fields[4] = {c->blocks, c->bytes, c->unused, c->example};
		mp_put(&b, fields, sizeof(fields));
	}
	if (b.nomem) {
		free(b.data);
		return mp_error_nomem();
	}
	*out = b.data;
	*size = b.size;
	return NULL;
}

/* A count of items of at least item_size bytes each that the rest holds. */
static bool take_count(mp_byte_reader *r, uint64_t *count, size_t item_size)
{
	return mp_take(r, count, 8) && *count <= (r->size - r->pos) / item_size;
}

mp_error *mp_pattern_input_decode(const uint8_t *data, size_t size, size_t n_chunks,
				  mp_pattern_input *out)
{
	memset(out, 0, sizeof(*out));
	mp_byte_reader r = {data, size, 0};
	uint32_t version;
	uint64_t chunks, count;
	uint8_t partial;
	const char *what = "header";
	if (!mp_take(&r, &version, 4))
		goto damaged;
	if (version != ENCODING_VERSION)
		return mp_error_new(MP_ERR_UNSUPPORTED,
				    "its patterns section has version %u; this memprof reads version %d",
				    version, ENCODING_VERSION);
	if (!mp_take(&r, &chunks, 8) || !mp_take(&r, &out->in_use_blocks, 8) ||
	    !mp_take(&r, &out->in_use_bytes, 8) || !mp_take(&r, &partial, 1))
		goto damaged;
	out->partial = partial != 0;
	what = "the chunk count differs from the heap's";
	if (chunks != n_chunks)
		goto damaged;
	what = "classes";
	if (!take_count(&r, &count, 4 + 56))
		goto damaged;
	out->classes = calloc(count ? count : 1, sizeof(*out->classes));
	if (!out->classes)
		goto nomem;
	for (uint64_t i = 0; i < count; i++) {
		mp_pattern_class *c = &out->classes[i];
		c->name = mp_take_string(&r);
		uint64_t fields[7];
		if (!c->name || !mp_take(&r, fields, sizeof(fields)))
			goto damaged;
		out->n_classes = i + 1;
		c->blocks = fields[0];
		c->bytes = fields[1];
		c->overhead = fields[2];
		c->record_size = fields[3];
		c->reorganized_size = fields[4];
		c->exact = fields[5];
		c->example = fields[6];
	}
	what = "per-chunk classes";
	if (chunks > (r.size - r.pos) / 5)
		goto damaged;
	out->n_chunks = (size_t)chunks;
	out->chunk_class = malloc((chunks ? chunks : 1) * sizeof(*out->chunk_class));
	out->chunk_kind = malloc(chunks ? chunks : 1);
	if (!out->chunk_class || !out->chunk_kind)
		goto nomem;
	mp_take(&r, out->chunk_class, chunks * sizeof(*out->chunk_class));
	mp_take(&r, out->chunk_kind, chunks);
	for (uint64_t i = 0; i < chunks; i++)
		if ((out->chunk_class[i] != MP_PATTERN_NO_CLASS &&
		     out->chunk_class[i] >= out->n_classes) ||
		    out->chunk_kind[i] > MP_LEAK_INDIRECT)
			goto damaged;
	what = "contents";
	if (!take_count(&r, &count, sizeof(mp_pattern_content)))
		goto damaged;
	out->contents = malloc((count ? count : 1) * sizeof(*out->contents));
	if (!out->contents)
		goto nomem;
	mp_take(&r, out->contents, count * sizeof(*out->contents));
	out->n_contents = (size_t)count;
	for (uint64_t i = 0; i < count; i++)
		if (out->contents[i].chunk >= chunks)
			goto damaged;
	what = "capacity";
	if (!take_count(&r, &count, 4 + 32))
		goto damaged;
	out->capacity = calloc(count ? count : 1, sizeof(*out->capacity));
	if (!out->capacity)
		goto nomem;
	for (uint64_t i = 0; i < count; i++) {
		mp_pattern_capacity *c = &out->capacity[i];
		c->subject = mp_take_string(&r);
		uint64_t fields[4];
		if (!c->subject || !mp_take(&r, fields, sizeof(fields)))
			goto damaged;
		out->n_capacity = i + 1;
		c->blocks = fields[0];
		c->bytes = fields[1];
		c->unused = fields[2];
		c->example = fields[3];
	}
	what = "bytes after the end";
	if (r.pos != r.size)
		goto damaged;
	return NULL;
damaged:
	mp_pattern_input_free(out);
	return mp_error_new(MP_ERR_FORMAT, "its patterns section is damaged (%s)", what);
nomem:
	mp_pattern_input_free(out);
	return mp_error_nomem();
}
