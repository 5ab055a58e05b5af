/* The JSON writer of results: the tree as it was built, members in the
 * order added, through the shared streaming writer (json.h), so a verb
 * ported to results writes the very bytes its hand-written JSON did. */
#include "result.h"

#include <stdlib.h>

#include "error.h"
#include "json.h"

typedef struct open_level {
	mp_rnode node;
	mp_rnode next;      /* the child to write next */
} open_level;

static void write_scalar(mp_json *j, const mp_result *r, mp_rnode node)
{
	switch (mp_result_kind(r, node)) {
	case MP_RBOOL: mp_json_bool(j, mp_result_get_bool(r, node)); break;
	case MP_RUINT: mp_json_uint(j, mp_result_get_uint(r, node)); break;
	case MP_RINT: mp_json_int(j, mp_result_get_int(r, node)); break;
	case MP_RDOUBLE: mp_json_double(j, mp_result_get_double(r, node)); break;
	case MP_RHEX: mp_json_hex(j, mp_result_get_uint(r, node)); break;
	case MP_RSTRING: mp_json_string(j, mp_result_get_string(r, node)); break;
	default: mp_json_null(j); break;
	}
}

/* A stream's elements, each an object built and written in turn.  row
 * holds no stream of its own (mp_result_stream_row empties it), so this
 * goes one level deep and no further. */
static mp_error *write_stream(mp_json *j, const mp_result *r, mp_rnode node)
{
	mp_result row;
	mp_result_init(&row);
	mp_error *err = NULL;
	while (!err && mp_result_stream_row(r, node, &row)) {
		mp_json_begin_object(j);
		err = mp_result_write_json_members(j, &row, MP_RESULT_ROOT);
		mp_json_end_object(j);
	}
	if (!err)
		err = mp_result_status(&row);
	mp_result_free(&row);
	return err;
}

mp_error *mp_result_write_json_members(mp_json *j, const mp_result *r, mp_rnode node)
{
	mp_error *err = mp_result_status(r);
	if (err)
		return err;
	if (mp_result_streamed(r, node))
		return write_stream(j, r, node);
	/* An explicit stack of open containers: results are as deep as
	 * their verbs make them, and nothing here recurses. */
	size_t depth = 0, cap = 16;
	open_level *stack = malloc(cap * sizeof(*stack));
	if (!stack)
		return mp_error_nomem();
	stack[depth++] = (open_level){node, mp_result_first(r, node)};
	while (depth && !err) {
		open_level *top = &stack[depth - 1];
		mp_rnode child = top->next;
		if (child == MP_RESULT_NONE) {
			/* The caller closes the container it opened. */
			if (depth > 1 && mp_result_kind(r, top->node) == MP_RARRAY)
				mp_json_end_array(j);
			else if (depth > 1)
				mp_json_end_object(j);
			depth--;
			continue;
		}
		top->next = mp_result_next(r, child);
		if (mp_result_hidden(r, child))
			continue;
		const char *key = mp_result_key(r, child);
		if (key)
			mp_json_key(j, key);
		enum mp_rkind kind = mp_result_kind(r, child);
		if (kind != MP_ROBJECT && kind != MP_RARRAY) {
			write_scalar(j, r, child);
			continue;
		}
		if (kind == MP_RARRAY)
			mp_json_begin_array(j);
		else
			mp_json_begin_object(j);
		if (mp_result_streamed(r, child)) {
			err = write_stream(j, r, child);
			mp_json_end_array(j);
			continue;
		}
		if (depth == cap && !(stack = mp_result_grow(stack, &cap, sizeof(*stack))))
			return mp_error_nomem();
		stack[depth++] = (open_level){child, mp_result_first(r, child)};
	}
	free(stack);
	return err;
}

mp_error *mp_result_write_json(FILE *out, const mp_result *r)
{
	mp_error *err = mp_result_status(r);
	if (err)
		return err;
	mp_json j;
	mp_json_init(&j, out, true);
	mp_json_begin_object(&j);
	err = mp_result_write_json_members(&j, r, MP_RESULT_ROOT);
	if (err)
		return err;
	mp_json_end_object(&j);
	mp_json_finish(&j);
	return NULL;
}
