/* The result model (see result.h): building, reading, and the format
 * dispatch.  Nodes live in one array and link to their children by index,
 * strings in one pool: a result of a few thousand rows is a few
 * allocations, and nothing walks it by recursion. */
#include "result.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

#define NO_STRING ((size_t)-1)

struct mp_result_node {
	enum mp_rkind kind;
	size_t key;                 /* into strings, or NO_STRING */
	mp_rnode next;              /* next sibling */
	mp_rnode first, last;       /* children of a container */
	size_t count;               /* children */
	bool hidden;                /* flat formats only (mp_result_hide) */
	bool streamed;              /* its elements come from a source */
	union {
		uint64_t u;
		int64_t i;
		double d;
		bool b;
		size_t string;      /* into strings, or NO_STRING for null */
	} value;
};

void mp_result_init(mp_result *r)
{
	memset(r, 0, sizeof(*r));
	r->nodes = calloc(16, sizeof(*r->nodes));
	if (!r->nodes) {
		r->nomem = true;
		return;
	}
	r->cap_nodes = 16;
	r->n_nodes = 1;
	r->nodes[0] = (mp_result_node){.kind = MP_ROBJECT, .key = NO_STRING, .next = MP_RESULT_NONE,
				       .first = MP_RESULT_NONE, .last = MP_RESULT_NONE};
}

static void free_table(mp_result_table *t)
{
	free((char *)t->name);
	free((char *)t->help);
	for (size_t c = 0; c < t->n_columns; c++) {
		free((char *)t->columns[c].name);
		free((char *)t->columns[c].member);
	}
}

static void free_gauge(mp_result_gauge *g)
{
	free((char *)g->name);
	free((char *)g->help);
	for (size_t i = 0; g->labels && g->labels[i]; i++)
		free((char *)g->labels[i]);
	free((char **)g->labels);
}

void mp_result_free(mp_result *r)
{
	for (size_t i = 0; i < r->n_tables; i++)
		free_table(&r->tables[i]);
	for (size_t i = 0; i < r->n_gauges; i++)
		free_gauge(&r->gauges[i]);
	free(r->tables);
	free(r->gauges);
	free(r->exports);
	free(r->streams);
	free(r->nodes);
	free(r->strings);
	memset(r, 0, sizeof(*r));
}

/* ------------------------------------------------------------- building */

static size_t intern(mp_result *r, const char *text)
{
	size_t n = strlen(text) + 1;
	if (r->n_strings + n > r->cap_strings) {
		size_t cap = r->cap_strings ? r->cap_strings : 256;
		while (cap < r->n_strings + n)
			cap *= 2;
		char *grown = realloc(r->strings, cap);
		if (!grown) {
			r->nomem = true;
			return NO_STRING;
		}
		r->strings = grown;
		r->cap_strings = cap;
	}
	memcpy(r->strings + r->n_strings, text, n);
	r->n_strings += n;
	return r->n_strings - n;
}

/* A new node under parent, or MP_RESULT_NONE when out of memory or when
 * parent cannot hold it (a scalar, a missing key in an object). */
static mp_rnode add(mp_result *r, mp_rnode parent, const char *key, enum mp_rkind kind)
{
	if (r->nomem)
		return MP_RESULT_NONE;
	if (parent >= r->n_nodes ||
	    (r->nodes[parent].kind != MP_ROBJECT && r->nodes[parent].kind != MP_RARRAY) ||
	    (r->nodes[parent].kind == MP_ROBJECT) != (key != NULL)) {
		r->misuse = true;
		return MP_RESULT_NONE;
	}
	if (r->n_nodes == r->cap_nodes) {
		mp_result_node *grown = realloc(r->nodes, 2 * r->cap_nodes * sizeof(*grown));
		if (!grown) {
			r->nomem = true;
			return MP_RESULT_NONE;
		}
		r->nodes = grown;
		r->cap_nodes *= 2;
	}
	size_t key_at = key ? intern(r, key) : NO_STRING;
	if (r->nomem)
		return MP_RESULT_NONE;
	mp_rnode id = r->n_nodes++;
	r->nodes[id] = (mp_result_node){.kind = kind, .key = key_at, .next = MP_RESULT_NONE,
					.first = MP_RESULT_NONE, .last = MP_RESULT_NONE};
	mp_result_node *p = &r->nodes[parent];
	if (p->last == MP_RESULT_NONE)
		p->first = id;
	else
		r->nodes[p->last].next = id;
	p->last = id;
	p->count++;
	return id;
}

mp_rnode mp_result_object(mp_result *r, mp_rnode parent, const char *key)
{
	return add(r, parent, key, MP_ROBJECT);
}

mp_rnode mp_result_array(mp_result *r, mp_rnode parent, const char *key)
{
	return add(r, parent, key, MP_RARRAY);
}

static mp_rnode add_string(mp_result *r, mp_rnode parent, const char *key, const char *value)
{
	mp_rnode n = add(r, parent, key, MP_RSTRING);
	if (n == MP_RESULT_NONE)
		return n;
	size_t at = intern(r, value);
	r->nodes[n].value.string = at;
	if (at == NO_STRING)
		r->nodes[n].kind = MP_RNULL;
	return n;
}

void mp_result_string(mp_result *r, mp_rnode parent, const char *key, const char *value)
{
	if (!value)
		mp_result_null(r, parent, key);
	else
		add_string(r, parent, key, value);
}

void mp_result_uint(mp_result *r, mp_rnode parent, const char *key, uint64_t value)
{
	mp_rnode n = add(r, parent, key, MP_RUINT);
	if (n != MP_RESULT_NONE)
		r->nodes[n].value.u = value;
}

void mp_result_int(mp_result *r, mp_rnode parent, const char *key, int64_t value)
{
	mp_rnode n = add(r, parent, key, MP_RINT);
	if (n != MP_RESULT_NONE)
		r->nodes[n].value.i = value;
}

void mp_result_double(mp_result *r, mp_rnode parent, const char *key, double value)
{
	mp_rnode n = add(r, parent, key, MP_RDOUBLE);
	if (n != MP_RESULT_NONE)
		r->nodes[n].value.d = value;
}

void mp_result_hex(mp_result *r, mp_rnode parent, const char *key, uint64_t value)
{
	mp_rnode n = add(r, parent, key, MP_RHEX);
	if (n != MP_RESULT_NONE)
		r->nodes[n].value.u = value;
}

void mp_result_bool(mp_result *r, mp_rnode parent, const char *key, bool value)
{
	mp_rnode n = add(r, parent, key, MP_RBOOL);
	if (n != MP_RESULT_NONE)
		r->nodes[n].value.b = value;
}

void mp_result_null(mp_result *r, mp_rnode parent, const char *key)
{
	add(r, parent, key, MP_RNULL);
}

void mp_result_hide(mp_result *r, mp_rnode node)
{
	if (node < r->n_nodes)
		r->nodes[node].hidden = true;
}

bool mp_result_hidden(const mp_result *r, mp_rnode node)
{
	return node < r->n_nodes && r->nodes[node].hidden;
}

static char *copy(mp_result *r, const char *text)
{
	if (!text)
		return NULL;
	char *c = strdup(text);
	if (!c)
		r->nomem = true;
	return c;
}

static bool add_export(mp_result *r, bool is_gauge, size_t index)
{
	mp_result_export *grown = realloc(r->exports, (r->n_exports + 1) * sizeof(*grown));
	if (!grown) {
		r->nomem = true;
		return false;
	}
	r->exports = grown;
	r->exports[r->n_exports++] = (mp_result_export){.is_gauge = is_gauge, .index = index};
	return true;
}

void mp_result_declare_table(mp_result *r, mp_rnode node, const char *name, const char *help,
			     const mp_result_column *columns, size_t n_columns, size_t text_rows)
{
	if (r->nomem)
		return;
	if (node >= r->n_nodes || n_columns > MP_RESULT_MAX_COLUMNS ||
	    (r->nodes[node].kind != MP_RARRAY && r->nodes[node].kind != MP_ROBJECT)) {
		r->misuse = true;
		return;
	}
	mp_result_table *grown = realloc(r->tables, (r->n_tables + 1) * sizeof(*grown));
	if (!grown) {
		r->nomem = true;
		return;
	}
	r->tables = grown;
	mp_result_table *t = &r->tables[r->n_tables];
	memset(t, 0, sizeof(*t));
	t->node = node;
	t->text_rows = text_rows;
	t->name = copy(r, name);
	t->help = copy(r, help ? help : name);
	for (size_t c = 0; c < n_columns; c++) {
		t->columns[c].name = copy(r, columns[c].name);
		t->columns[c].member = copy(r, columns[c].member ? columns[c].member
								 : columns[c].name);
		t->columns[c].numeric = columns[c].numeric;
		t->n_columns++;
	}
	r->n_tables++;
	add_export(r, false, r->n_tables - 1);
}

void mp_result_declare_metrics(mp_result *r, mp_rnode node, const char *name, const char *help,
			       const mp_result_column *columns, size_t n_columns)
{
	size_t before = r->n_tables;
	mp_result_declare_table(r, node, name, help, columns, n_columns, 0);
	if (r->n_tables > before)
		r->tables[before].metrics_only = true;
}

void mp_result_declare_gauge(mp_result *r, const char *name, const char *help, double value,
			     const char *const *labels)
{
	if (r->nomem)
		return;
	mp_result_gauge *grown = realloc(r->gauges, (r->n_gauges + 1) * sizeof(*grown));
	if (!grown) {
		r->nomem = true;
		return;
	}
	r->gauges = grown;
	mp_result_gauge *g = &r->gauges[r->n_gauges];
	memset(g, 0, sizeof(*g));
	g->name = copy(r, name);
	g->help = copy(r, help ? help : name);
	g->value = value;
	size_t n = 0;
	while (labels && labels[n])
		n++;
	if (n) {
		const char **list = calloc(n + 1, sizeof(*list));
		if (!list)
			r->nomem = true;
		for (size_t i = 0; list && i < n; i++)
			list[i] = copy(r, labels[i]);
		g->labels = list;
	}
	r->n_gauges++;
	add_export(r, true, r->n_gauges - 1);
}

void mp_result_set_text_hook(mp_result *r, mp_result_text_hook hook, void *context)
{
	r->text_hook = hook;
	r->text_context = context;
}

/* -------------------------------------------------------------- reading */

static const mp_result_node *node_at(const mp_result *r, mp_rnode node)
{
	return node < r->n_nodes ? &r->nodes[node] : NULL;
}

enum mp_rkind mp_result_kind(const mp_result *r, mp_rnode node)
{
	const mp_result_node *n = node_at(r, node);
	return n ? n->kind : MP_RNULL;
}

mp_rnode mp_result_first(const mp_result *r, mp_rnode node)
{
	const mp_result_node *n = node_at(r, node);
	return n ? n->first : MP_RESULT_NONE;
}

mp_rnode mp_result_next(const mp_result *r, mp_rnode node)
{
	const mp_result_node *n = node_at(r, node);
	return n ? n->next : MP_RESULT_NONE;
}

size_t mp_result_count(const mp_result *r, mp_rnode node)
{
	const mp_result_node *n = node_at(r, node);
	return n ? n->count : 0;
}

const char *mp_result_key(const mp_result *r, mp_rnode node)
{
	const mp_result_node *n = node_at(r, node);
	return n && n->key != NO_STRING ? r->strings + n->key : NULL;
}

mp_rnode mp_result_get(const mp_result *r, mp_rnode node, const char *path)
{
	while (path && *path) {
		const mp_result_node *n = node_at(r, node);
		if (!n || n->kind != MP_ROBJECT)
			return MP_RESULT_NONE;
		size_t length = strcspn(path, ".");
		mp_rnode child = n->first;
		while (child != MP_RESULT_NONE) {
			const char *key = mp_result_key(r, child);
			if (key && strncmp(key, path, length) == 0 && key[length] == '\0')
				break;
			child = r->nodes[child].next;
		}
		node = child;
		path += length;
		if (*path == '.')
			path++;
	}
	return node_at(r, node) ? node : MP_RESULT_NONE;
}

uint64_t mp_result_get_uint(const mp_result *r, mp_rnode node)
{
	const mp_result_node *n = node_at(r, node);
	return n && (n->kind == MP_RUINT || n->kind == MP_RHEX) ? n->value.u
	       : n && n->kind == MP_RINT && n->value.i >= 0 ? (uint64_t)n->value.i : 0;
}

int64_t mp_result_get_int(const mp_result *r, mp_rnode node)
{
	const mp_result_node *n = node_at(r, node);
	return n && n->kind == MP_RINT ? n->value.i
	       : n && n->kind == MP_RUINT && n->value.u <= INT64_MAX ? (int64_t)n->value.u : 0;
}

double mp_result_get_double(const mp_result *r, mp_rnode node)
{
	const mp_result_node *n = node_at(r, node);
	if (!n)
		return 0;
	switch (n->kind) {
	case MP_RDOUBLE: return n->value.d;
	case MP_RUINT: return (double)n->value.u;
	case MP_RINT: return (double)n->value.i;
	case MP_RBOOL: return n->value.b ? 1 : 0;
	default: return 0;
	}
}

bool mp_result_get_bool(const mp_result *r, mp_rnode node)
{
	const mp_result_node *n = node_at(r, node);
	return n && n->kind == MP_RBOOL && n->value.b;
}

const char *mp_result_get_string(const mp_result *r, mp_rnode node)
{
	const mp_result_node *n = node_at(r, node);
	return n && n->kind == MP_RSTRING ? r->strings + n->value.string : "";
}

const char *mp_result_scalar_text(const mp_result *r, mp_rnode node, char *buffer)
{
	const mp_result_node *n = node_at(r, node);
	buffer[0] = '\0';
	if (!n)
		return buffer;
	switch (n->kind) {
	case MP_RSTRING: return r->strings + n->value.string;
	case MP_RBOOL: return n->value.b ? "true" : "false";
	case MP_RUINT:
		snprintf(buffer, MP_RESULT_SCALAR_TEXT, "%" PRIu64, n->value.u);
		break;
	case MP_RINT:
		snprintf(buffer, MP_RESULT_SCALAR_TEXT, "%" PRId64, n->value.i);
		break;
	case MP_RDOUBLE:
		snprintf(buffer, MP_RESULT_SCALAR_TEXT, "%.15g", n->value.d);
		break;
	case MP_RHEX:
		snprintf(buffer, MP_RESULT_SCALAR_TEXT, "0x%" PRIx64, n->value.u);
		break;
	default: break;
	}
	return buffer;
}

const mp_result_table *mp_result_table_of(const mp_result *r, mp_rnode node)
{
	for (size_t i = 0; i < r->n_tables; i++)
		if (r->tables[i].node == node)
			return &r->tables[i];
	return NULL;
}

size_t mp_result_table_rows(const mp_result *r, const mp_result_table *t)
{
	return mp_result_kind(r, t->node) == MP_RARRAY ? mp_result_count(r, t->node) : 1;
}

mp_rnode mp_result_table_next_row(const mp_result *r, const mp_result_table *t, mp_rnode row)
{
	if (mp_result_kind(r, t->node) != MP_RARRAY)
		return row == MP_RESULT_NONE ? t->node : MP_RESULT_NONE;
	return row == MP_RESULT_NONE ? mp_result_first(r, t->node) : mp_result_next(r, row);
}

mp_rnode mp_result_table_cell(const mp_result *r, const mp_result_table *t, mp_rnode row,
			      size_t column)
{
	if (column >= t->n_columns)
		return MP_RESULT_NONE;
	return mp_result_get(r, row, t->columns[column].member);
}

/* ------------------------------------------------------------- dispatch */

void *mp_result_grow(void *array, size_t *cap, size_t size)
{
	void *grown = realloc(array, 2 * *cap * size);
	if (grown)
		*cap *= 2;
	else
		free(array);
	return grown;
}

mp_error *mp_result_status(const mp_result *r)
{
	if (r->nomem)
		return mp_error_nomem();
	if (r->misuse)
		return mp_error_new(MP_ERR_USAGE,
				    "a result was built wrongly: a value without a key in an object, with one in an array, or under a scalar");
	return NULL;
}

mp_error *mp_result_write(FILE *out, const mp_result *r, enum mp_result_format format)
{
	switch (format) {
	case MP_RESULT_JSON: return mp_result_write_json(out, r);
	case MP_RESULT_CSV: return mp_result_write_csv(out, r);
	case MP_RESULT_PROMETHEUS: return mp_result_write_prometheus(out, r);
	default: return mp_result_write_text(out, r);
	}
}

/* ------------------------------------------------------ CSV sections */

void mp_result_set_csv_blank_lines(mp_result *r, bool blank_lines)
{
	r->csv_blank_lines = blank_lines;
}

/* ------------------------------------------- copying, streaming, embedding */

typedef struct copy_level {
	mp_rnode from, to;
	mp_rnode next;      /* the child of from to copy next */
} copy_level;

/* One node of src as a new child of parent: containers empty. */
static mp_rnode copy_node(mp_result *r, mp_rnode parent, const char *key, const mp_result *src,
			  mp_rnode node)
{
	const mp_result_node *n = &src->nodes[node];
	if (n->streamed) {
		r->misuse = true;
		return MP_RESULT_NONE;
	}
	mp_rnode to = MP_RESULT_NONE;
	switch (n->kind) {
	case MP_RSTRING:
		to = add_string(r, parent, key, src->strings + n->value.string);
		break;
	default:
		to = add(r, parent, key, n->kind);
		if (to != MP_RESULT_NONE)
			r->nodes[to].value = n->value;
		break;
	}
	if (r->nomem || r->misuse)
		return MP_RESULT_NONE;
	r->nodes[to].hidden = n->hidden;
	return to;
}

mp_rnode mp_result_copy(mp_result *r, mp_rnode parent, const char *key, const mp_result *src,
			mp_rnode node)
{
	if (src == r || node >= src->n_nodes) {
		r->misuse = true;
		return MP_RESULT_NONE;
	}
	/* A part that could not be built whole does not become whole here. */
	r->nomem |= src->nomem;
	r->misuse |= src->misuse;
	mp_rnode top = copy_node(r, parent, key, src, node);
	if (top == MP_RESULT_NONE)
		return MP_RESULT_NONE;
	/* An explicit stack of containers being copied, as the writers keep. */
	size_t depth = 0, cap = 16;
	copy_level *stack = malloc(cap * sizeof(*stack));
	if (!stack) {
		r->nomem = true;
		return MP_RESULT_NONE;
	}
	stack[depth++] = (copy_level){node, top, src->nodes[node].first};
	while (depth) {
		copy_level *level = &stack[depth - 1];
		mp_rnode child = level->next;
		if (child == MP_RESULT_NONE) {
			depth--;
			continue;
		}
		level->next = src->nodes[child].next;
		mp_rnode to = copy_node(r, level->to, mp_result_key(src, child), src, child);
		if (to == MP_RESULT_NONE)
			break;
		if (src->nodes[child].kind != MP_ROBJECT && src->nodes[child].kind != MP_RARRAY)
			continue;
		if (depth == cap && !(stack = mp_result_grow(stack, &cap, sizeof(*stack)))) {
			r->nomem = true;
			return MP_RESULT_NONE;
		}
		stack[depth++] = (copy_level){child, to, src->nodes[child].first};
	}
	free(stack);
	return r->nomem || r->misuse ? MP_RESULT_NONE : top;
}

struct mp_result_source {
	mp_rnode node;
	mp_result_row_source source;
	void *context;
};

mp_rnode mp_result_stream(mp_result *r, mp_rnode parent, const char *key,
			  mp_result_row_source source, void *context)
{
	mp_rnode node = add(r, parent, key, MP_RARRAY);
	if (node == MP_RESULT_NONE)
		return MP_RESULT_NONE;
	struct mp_result_source *grown = realloc(r->streams, (r->n_streams + 1) * sizeof(*grown));
	if (!grown) {
		r->nomem = true;
		return MP_RESULT_NONE;
	}
	r->streams = grown;
	r->streams[r->n_streams++] = (struct mp_result_source){node, source, context};
	r->nodes[node].streamed = true;
	return node;
}

bool mp_result_streamed(const mp_result *r, mp_rnode node)
{
	return node < r->n_nodes && r->nodes[node].streamed;
}

/* row as mp_result_init leaves it, its memory kept: a stream's elements
 * are built one after another in the same few buffers. */
static void empty(mp_result *row)
{
	for (size_t i = 0; i < row->n_tables; i++)
		free_table(&row->tables[i]);
	for (size_t i = 0; i < row->n_gauges; i++)
		free_gauge(&row->gauges[i]);
	row->n_tables = row->n_gauges = row->n_exports = row->n_streams = 0;
	row->n_strings = 0;
	row->misuse = false;
	if (!row->nodes)
		return;
	row->n_nodes = 1;
	row->nodes[0].first = row->nodes[0].last = MP_RESULT_NONE;
	row->nodes[0].count = 0;
}

bool mp_result_stream_row(const mp_result *r, mp_rnode node, mp_result *row)
{
	if (!mp_result_streamed(r, node) || row->nomem)
		return false;
	for (size_t i = 0; i < r->n_streams; i++) {
		if (r->streams[i].node != node)
			continue;
		empty(row);
		return r->streams[i].source(row, r->streams[i].context) && !row->nomem;
	}
	return false;
}
