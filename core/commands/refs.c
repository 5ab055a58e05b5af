/* `memprof refs ADDR`: who points into the chunk holding ADDR, where each
 * of those pointers lives, and one shortest path from a root. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/refs.h"
#include "command.h"
#include "command_result.h"
#include "output/result.h"

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

static void result_reference(mp_result *r, mp_rnode o, const mp_reference *ref)
{
	mp_result_string(r, o, "kind", ref_kind_name(ref->kind));
	if (ref->kind == MP_REF_REGISTER)
		mp_result_null(r, o, "address");
	else
		mp_result_hex(r, o, "address", ref->address);
	mp_result_hex(r, o, "value", ref->value);
	mp_result_string(r, o, "where", ref->where);
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

/* The JSON of docs/json.md's refs: the block, the references into it
 * and the path from a root (null when none reaches it). */
static void refs_result(mp_result *r, const mp_heap *heap, const mp_chunk *target, bool in_use,
			const mp_reference *refs, size_t n_refs, const mp_path_step *path,
			size_t n_path)
{
	mp_rnode block = mp_result_object(r, MP_RESULT_ROOT, "block");
	mp_result_hex(r, block, "address", target->user_address);
	mp_result_uint(r, block, "size", mp_chunk_usable_size(target));
	mp_result_string(r, block, "state", mp_chunk_state_name(target->state));
	mp_result_bool(r, block, "in_use", in_use);
	mp_rnode references = mp_result_array(r, MP_RESULT_ROOT, "references");
	for (size_t i = 0; i < n_refs; i++)
		result_reference(r, mp_result_object(r, references, NULL), &refs[i]);
	if (!n_path) {
		mp_result_null(r, MP_RESULT_ROOT, "path");
		return;
	}
	mp_rnode o = mp_result_object(r, MP_RESULT_ROOT, "path");
	result_reference(r, mp_result_object(r, o, "root"), &path[0].root);
	mp_rnode steps = mp_result_array(r, o, "steps");
	for (size_t i = 1; i < n_path; i++) {
		mp_chunk b = mp_heap_chunk(heap, path[i].block);
		mp_rnode step = mp_result_object(r, steps, NULL);
		mp_result_hex(r, step, "block", b.user_address);
		mp_result_uint(r, step, "size", mp_chunk_usable_size(&b));
		mp_result_hex(r, step, "pointer_at", i == 1 ? path[0].root.address : path[i].word_address);
		mp_result_uint(r, step, "offset", path[i].offset);
		mp_result_bool(r, step, "interior", path[i].offset != 0);
	}
}

typedef struct text_context {
	const char *verdict;       /* why a chunk not in use gets no path */
	mp_command *command;
} text_context;

static uint64_t member_uint(const mp_result *r, mp_rnode node, const char *path)
{
	return mp_result_get_uint(r, mp_result_get(r, node, path));
}

/* The text: the block, a line per reference, then the verdict or the path
 * as one line from the root (each step's pointer as an offset into the
 * block before it). */
static void refs_text(FILE *out, const mp_result *r, void *context)
{
	const text_context *t = context;
	mp_rnode block = mp_result_get(r, MP_RESULT_ROOT, "block");
	fprintf(out, "block 0x%" PRIx64 ", %" PRIu64 " bytes, %s\n", member_uint(r, block, "address"),
		member_uint(r, block, "size"), mp_result_get_string(r, mp_result_get(r, block, "state")));
	mp_rnode references = mp_result_get(r, MP_RESULT_ROOT, "references");
	fprintf(out, "\nreferences (%zu)\n", mp_result_count(r, references));
	for (mp_rnode ref = mp_result_first(r, references); ref != MP_RESULT_NONE;
	     ref = mp_result_next(r, ref)) {
		const char *where = mp_result_get_string(r, mp_result_get(r, ref, "where"));
		uint64_t value = member_uint(r, ref, "value");
		if (mp_result_kind(r, mp_result_get(r, ref, "address")) == MP_RNULL)
			fprintf(out, "  %-18s -> 0x%" PRIx64 "  %s\n", "", value, where);
		else
			fprintf(out, "  0x%016" PRIx64 " -> 0x%" PRIx64 "  %s\n",
				member_uint(r, ref, "address"), value, where);
	}
	mp_rnode path = mp_result_get(r, MP_RESULT_ROOT, "path");
	if (t->verdict) {
		fprintf(out, "\n%s\n", t->verdict);
	} else if (mp_result_kind(r, path) == MP_RNULL) {
		fprintf(out, "\nno root reaches this block: it is leaked\n");
	} else {
		fprintf(out, "\nshortest path from a root:\n  %s",
			mp_result_get_string(r, mp_result_get(r, path, "root.where")));
		mp_rnode previous = MP_RESULT_NONE;
		for (mp_rnode step = mp_result_first(r, mp_result_get(r, path, "steps"));
		     step != MP_RESULT_NONE; previous = step, step = mp_result_next(r, step)) {
			uint64_t address = member_uint(r, step, "block");
			uint64_t offset = member_uint(r, step, "offset");
			uint64_t size = member_uint(r, step, "size");
			if (previous != MP_RESULT_NONE)
				fprintf(out, "+%" PRIu64,
					member_uint(r, step, "pointer_at") - member_uint(r, previous, "block"));
			/* An interior pointer is the reason a block is only
			 * possibly lost: the step says where it points. */
			if (offset)
				fprintf(out, " -> 0x%" PRIx64 "+%" PRIu64 " (%" PRIu64
					" bytes, interior pointer)", address, offset, size);
			else
				fprintf(out, " -> 0x%" PRIx64 " (%" PRIu64 " bytes)", address, size);
		}
		fputc('\n', out);
	}
	mp_text_warnings warnings = {0};
	mp_text_warnings_add_target(&warnings, t->command->target);
	mp_text_warnings_write(out, &warnings, mp_target_partial(t->command->target));
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
	mp_result r;
	mp_result_init(&r);
	refs_result(&r, heap, &target, verdict == NULL, refs, n_refs, path, n_path);
	text_context hook = {verdict, c};
	mp_result_set_text_hook(&r, refs_text, &hook);
	err = mp_result_write(c->out, &r, mp_command_result_format(c));
	mp_result_free(&r);
	free(refs);
	free(path);
	mp_heap_free(heap);
	return err ? mp_command_fail(c, err) : MP_EXIT_OK;
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
