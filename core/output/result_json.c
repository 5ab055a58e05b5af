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

mp_error *mp_result_write_json(FILE *out, const mp_result *r)
{
	mp_error *err = mp_result_status(r);
	if (err)
		return err;
	/* An explicit stack of open containers: results are as deep as
	 * their verbs make them, and nothing here recurses. */
	size_t depth = 0, cap = 16;
	open_level *stack = malloc(cap * sizeof(*stack));
	if (!stack)
		return mp_error_nomem();
	mp_json j;
	mp_json_init(&j, out, true);
	mp_json_begin_object(&j);
	stack[depth++] = (open_level){MP_RESULT_ROOT, mp_result_first(r, MP_RESULT_ROOT)};
	while (depth) {
		open_level *top = &stack[depth - 1];
		mp_rnode child = top->next;
		if (child == MP_RESULT_NONE) {
			if (mp_result_kind(r, top->node) == MP_RARRAY)
				mp_json_end_array(&j);
			else
				mp_json_end_object(&j);
			depth--;
			continue;
		}
		top->next = mp_result_next(r, child);
		if (mp_result_hidden(r, child))
			continue;
		const char *key = mp_result_key(r, child);
		if (key)
			mp_json_key(&j, key);
		switch (mp_result_kind(r, child)) {
		case MP_RNULL: mp_json_null(&j); break;
		case MP_RBOOL: mp_json_bool(&j, mp_result_get_bool(r, child)); break;
		case MP_RUINT: mp_json_uint(&j, mp_result_get_uint(r, child)); break;
		case MP_RINT: mp_json_int(&j, mp_result_get_int(r, child)); break;
		case MP_RDOUBLE: mp_json_double(&j, mp_result_get_double(r, child)); break;
		case MP_RHEX: mp_json_hex(&j, mp_result_get_uint(r, child)); break;
		case MP_RSTRING: mp_json_string(&j, mp_result_get_string(r, child)); break;
		case MP_ROBJECT:
		case MP_RARRAY:
			if (depth == cap && !(stack = mp_result_grow(stack, &cap, sizeof(*stack))))
				return mp_error_nomem();
			if (mp_result_kind(r, child) == MP_RARRAY)
				mp_json_begin_array(&j);
			else
				mp_json_begin_object(&j);
			stack[depth++] = (open_level){child, mp_result_first(r, child)};
			break;
		}
	}
	free(stack);
	mp_json_finish(&j);
	return NULL;
}
