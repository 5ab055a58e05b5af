/* `memprof refs ADDR`: who points into the chunk holding ADDR, where each
 * of those pointers lives, and one shortest path from a root. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/refs.h"
#include "command.h"
#include "output/json.h"

static const char *ref_kind_name(enum mp_ref_kind kind)
{
	switch (kind) {
	case MP_REF_REGISTER: return "register";
	case MP_REF_STACK: return "stack";
	case MP_REF_TLS: return "tls";
	case MP_REF_MODULE: return "module";
	case MP_REF_MAPPING: return "mapping";
	default: return "block";
	}
}

static void json_reference(mp_json *j, const mp_reference *r)
{
	mp_json_begin_object(j);
	mp_json_key(j, "kind");
	mp_json_string(j, ref_kind_name(r->kind));
	mp_json_key(j, "address");
	if (r->kind == MP_REF_REGISTER)
		mp_json_null(j);
	else
		mp_json_hex(j, r->address);
	mp_json_key(j, "value");
	mp_json_hex(j, r->value);
	mp_json_key(j, "where");
	mp_json_string(j, r->where);
	mp_json_end_object(j);
}

/* What a chunk that is not a program's block is, for refs to say instead
 * of a leak verdict: a freed chunk parked in a cache is malloc's, however
 * few pointers reach it.  NULL for blocks in use. */
static const char *not_a_block(enum mp_chunk_state state)
{
	switch (state) {
	case MP_CHUNK_IN_USE:
	case MP_CHUNK_IN_USE_MMAPPED: return NULL;
	case MP_CHUNK_TCACHE: return "the block is free (cached in a tcache bin): not a leak";
	case MP_CHUNK_FASTBIN: return "the block is free (cached in a fastbin): not a leak";
	case MP_CHUNK_FREE: return "the block is free (in malloc's bins): not a leak";
	case MP_CHUNK_TOP: return "this is an arena's top chunk, free memory: not a leak";
	case MP_CHUNK_METADATA: return "this chunk holds malloc's own data: not a leak";
	default: return "this chunk could not be parsed: no verdict";
	}
}

static int run_refs(mp_command *c)
{
	const char *text = c->options->positional[0];
	char *end;
	uint64_t address = strtoull(text, &end, 0);
	if (*end || end == text) {
		fprintf(c->err, "memprof: refs needs an address such as 0x55d0c0de1000, not '%s'\n", text);
		return MP_EXIT_USAGE;
	}
	mp_heap_options options = mp_command_heap_options(c);
	options.keep_pages = true;   /* the reference scan reads them all next */
	mp_heap *heap = NULL;
	mp_error *err = mp_heap_open(c->target, &options, &heap);
	if (err)
		return mp_command_fail(c, err);
	/* A block's last usable word lies in the next chunk's header: the
	 * block owns it, whatever chunk holds it. */
	ptrdiff_t chunk = mp_heap_find_block(heap, address);
	if (chunk < 0)
		chunk = mp_heap_find_chunk(heap, address);
	if (chunk < 0) {
		mp_heap_free(heap);
		return mp_command_fail(c, mp_error_new(MP_ERR_NOT_FOUND,
						       "%#llx is not inside any heap chunk",
						       (unsigned long long)address));
	}
	mp_chunk target = mp_heap_chunk(heap, (size_t)chunk);
	mp_reference *refs = NULL;
	size_t n_refs = 0;
	mp_path_step *path = NULL;
	size_t n_path = 0;
	err = mp_refs_find(c->target, heap, (size_t)chunk, &refs, &n_refs);
	const char *verdict = not_a_block(target.state);
	/* A free chunk has no path to look for: roots reach blocks in use. */
	if (!err && !verdict)
		err = mp_refs_path(c->target, heap, (size_t)chunk, &path, &n_path);
	if (err) {
		free(refs);
		mp_heap_free(heap);
		return mp_command_fail(c, err);
	}
	if (c->options->format == MP_FORMAT_JSON) {
		mp_json j;
		mp_json_init(&j, c->out, true);
		mp_json_begin_object(&j);
		mp_json_key(&j, "block");
		mp_json_begin_object(&j);
		mp_json_key(&j, "address");
		mp_json_hex(&j, target.user_address);
		mp_json_key(&j, "size");
		mp_json_uint(&j, mp_chunk_usable_size(&target));
		mp_json_key(&j, "state");
		mp_json_string(&j, mp_chunk_state_name(target.state));
		mp_json_key(&j, "in_use");
		mp_json_bool(&j, verdict == NULL);
		mp_json_end_object(&j);
		mp_json_key(&j, "references");
		mp_json_begin_array(&j);
		for (size_t i = 0; i < n_refs; i++)
			json_reference(&j, &refs[i]);
		mp_json_end_array(&j);
		mp_json_key(&j, "path");
		if (!n_path) {
			mp_json_null(&j);
		} else {
			mp_json_begin_object(&j);
			mp_json_key(&j, "root");
			json_reference(&j, &path[0].root);
			mp_json_key(&j, "steps");
			mp_json_begin_array(&j);
			for (size_t i = 1; i < n_path; i++) {
				mp_chunk b = mp_heap_chunk(heap, path[i].block);
				mp_json_begin_object(&j);
				mp_json_key(&j, "block");
				mp_json_hex(&j, b.user_address);
				mp_json_key(&j, "size");
				mp_json_uint(&j, mp_chunk_usable_size(&b));
				mp_json_key(&j, "pointer_at");
				if (i == 1)
					mp_json_hex(&j, path[0].root.address);
				else
					mp_json_hex(&j, path[i].word_address);
				mp_json_key(&j, "offset");
				mp_json_uint(&j, path[i].offset);
				mp_json_key(&j, "interior");
				mp_json_bool(&j, path[i].offset != 0);
				mp_json_end_object(&j);
			}
			mp_json_end_array(&j);
			mp_json_end_object(&j);
		}
		mp_json_end_object(&j);
		mp_json_finish(&j);
	} else {
		fprintf(c->out, "block 0x%" PRIx64 ", %" PRIu64 " bytes, %s\n", target.user_address,
			mp_chunk_usable_size(&target), mp_chunk_state_name(target.state));
		fprintf(c->out, "\nreferences (%zu)\n", n_refs);
		for (size_t i = 0; i < n_refs; i++) {
			const mp_reference *r = &refs[i];
			if (r->kind == MP_REF_REGISTER)
				fprintf(c->out, "  %-18s -> 0x%" PRIx64 "  %s\n", "", r->value, r->where);
			else
				fprintf(c->out, "  0x%016" PRIx64 " -> 0x%" PRIx64 "  %s\n", r->address,
					r->value, r->where);
		}
		if (verdict) {
			fprintf(c->out, "\n%s\n", verdict);
		} else if (!n_path) {
			fprintf(c->out, "\nno root reaches this block: it is leaked\n");
		} else {
			fprintf(c->out, "\nshortest path from a root:\n  %s", path[0].root.where);
			for (size_t i = 1; i < n_path; i++) {
				mp_chunk b = mp_heap_chunk(heap, path[i].block);
				uint64_t word = i == 1 ? path[0].root.address : path[i].word_address;
				mp_chunk owner = i > 1 ? mp_heap_chunk(heap, path[i - 1].block) : b;
				if (i > 1)
					fprintf(c->out, "+%" PRIu64, word - owner.user_address);
				/* An interior pointer is the reason a block is only
				 * possibly lost: the step says where it points. */
				if (path[i].offset)
					fprintf(c->out, " -> 0x%" PRIx64 "+%" PRIu64 " (%" PRIu64
						" bytes, interior pointer)", b.user_address, path[i].offset,
						mp_chunk_usable_size(&b));
				else
					fprintf(c->out, " -> 0x%" PRIx64 " (%" PRIu64 " bytes)", b.user_address,
						mp_chunk_usable_size(&b));
			}
			fputc('\n', c->out);
		}
		mp_text_warnings warnings = {0};
		mp_text_warnings_add_target(&warnings, c->target);
		mp_text_warnings_write(c->out, &warnings, mp_target_partial(c->target));
	}
	free(refs);
	free(path);
	mp_heap_free(heap);
	return MP_EXIT_OK;
}

const mp_verb mp_verb_refs = {
	.name = "refs",
	.summary = "who points into the block holding ADDR, and a shortest path from a root",
	.usage = "ADDR",
	.formats = MP_FORMAT_TEXT | MP_FORMAT_JSON,
	.needs_target = true,
	.min_positional = 1,
	.max_positional = 1,
	.run = run_refs,
};
