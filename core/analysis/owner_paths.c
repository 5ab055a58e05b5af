/* Owner paths of heap blocks (see owner_paths.h).
 *
 * Each root is one logical walk that writes, for every block it claims,
 * a frame id global to all walks (the walk's base + its frame index + 1)
 * into one array per chunk.  The walks' frames (parent and name) are kept;
 * after the last walk one pass over the chunks turns each frame id into a
 * path, built from the frame's parents and interned only when some block
 * refers to it, so frames that own nothing cost no path.
 *
 * The section (little-endian like the file around it) holds the table:
 *
 *   u32 version (1); u32 flags (1: partial); u64 roots walked; u64 blocks
 *   owned; u64 paths, each a string (u32 length + bytes).
 *
 * Each chunk's index rides in the blocks section's word (16 bits beside
 * the type evidence and the content hash, snapshot_blocks.c), so owner
 * paths cost no bytes per chunk; a heap with more paths than the word
 * holds leaves the blocks of the later ones without an owner (partial). */
#include "owner_paths.h"

#include <stdlib.h>
#include <string.h>

#include "array.h"
#include "byte_reader.h"
#include "byte_writer.h"
#include "error.h"
#include "logical.h"
#include "snapshot_blocks.h"
#include "target/target_internal.h"

enum {
	ENCODING_VERSION = 1,
	FLAG_PARTIAL = 1,
	DEFAULT_MAX_BLOCKS = 16 << 20,
	/* Frame ids of all walks must stay below the u32 the walker writes. */
	MAX_FRAMES = 1 << 30,
};

typedef struct root {
	char *name;
	uint64_t address;
	const mp_type *type;
} root;

typedef struct collector {
	root *roots;
	size_t n, capacity;
	bool nomem;
} collector;

/* The roots worth a walk: what can hold a pointer into the heap. */
static bool collect(void *context, const mp_variable *v)
{
	collector *c = context;
	const mp_type *t = v->type ? mp_type_strip(v->type) : NULL;
	enum mp_type_kind k = t ? mp_type_kind(t) : MP_TYPE_INVALID;
	if (!v->address || !v->name || (k != MP_TYPE_STRUCT && k != MP_TYPE_CLASS &&
			    k != MP_TYPE_POINTER && k != MP_TYPE_ARRAY))
		return true;
	if (!MP_ARRAY_RESERVE(c->roots, c->capacity, c->n + 1) || !(c->roots[c->n].name = strdup(v->name))) {
		c->nomem = true;
		return false;
	}
	c->roots[c->n].address = v->address;
	c->roots[c->n].type = v->type;
	c->n++;
	return true;
}

/* Frames of all walks, by global id - 1. */
typedef struct frames {
	uint32_t *parent;          /* global id - 1, or UINT32_MAX for a root */
	char **name;
	uint32_t *path;            /* path index + 1, 0 until asked */
	size_t n, capacity_parent, capacity_name;
} frames;

static bool keep_frames(frames *f, const mp_logical *l)
{
	size_t n = mp_logical_node_count(l), base = f->n;
	if (!MP_ARRAY_RESERVE(f->parent, f->capacity_parent, base + n) ||
	    !MP_ARRAY_RESERVE(f->name, f->capacity_name, base + n))
		return false;
	for (size_t i = 0; i < n; i++) {
		const mp_logical_node *node = mp_logical_node_at(l, i);
		f->parent[base + i] = node->parent == UINT32_MAX ? UINT32_MAX
								 : (uint32_t)base + node->parent;
		f->name[base + i] = strdup(node->name);
		if (!f->name[base + i])
			return false;
		f->n++;
	}
	return true;
}

/* Interned paths: open addressing over path indexes + 1. */
typedef struct path_table {
	uint32_t *slots;
	size_t capacity;
} path_table;

static uint64_t hash_text(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 0x100000001b3ull;
	return h;
}

static bool table_grow(path_table *t, const mp_owner_paths *p)
{
	size_t capacity = t->capacity ? 2 * t->capacity : 64;
	uint32_t *slots = calloc(capacity, sizeof(*slots));
	if (!slots)
		return false;
	for (size_t i = 0; i < p->n_paths; i++) {
		size_t j = hash_text(p->paths[i]) & (capacity - 1);
		while (slots[j])
			j = (j + 1) & (capacity - 1);
		slots[j] = (uint32_t)i + 1;
	}
	free(t->slots);
	t->slots = slots;
	t->capacity = capacity;
	return true;
}

/* The path index + 1 of text (taken: freed when already there); 0: no
 * memory; UINT32_MAX: one path too many to record. */
static uint32_t intern_path(path_table *t, mp_owner_paths *p, size_t *capacity, char *text)
{
	if (2 * (p->n_paths + 1) > t->capacity && !table_grow(t, p)) {
		free(text);
		return 0;
	}
	size_t j = hash_text(text) & (t->capacity - 1);
	for (; t->slots[j]; j = (j + 1) & (t->capacity - 1)) {
		if (strcmp(p->paths[t->slots[j] - 1], text) == 0) {
			free(text);
			return t->slots[j];
		}
	}
	if (!MP_ARRAY_RESERVE(p->paths, *capacity, p->n_paths + 1)) {
		free(text);
		return 0;
	}
	if (p->n_paths == MP_BLOCK_MAX_OWNERS) {
		free(text);
		p->partial = true;
		return UINT32_MAX;   /* no room in the blocks' word: no owner */
	}
	p->paths[p->n_paths++] = text;
	t->slots[j] = (uint32_t)p->n_paths;
	return t->slots[j];
}

/* The folded path of frame id - 1 = index: its parents' names, root first.
 * Parents are created before their children, so the chain ends. */
static char *path_of(const frames *f, uint32_t index)
{
	size_t length = 0;
	for (uint32_t i = index; i != UINT32_MAX; i = f->parent[i])
		length += strlen(f->name[i]) + 1;
	char *text = malloc(length);
	if (!text)
		return NULL;
	size_t end = length - 1;
	text[end] = '\0';
	for (uint32_t i = index; i != UINT32_MAX; i = f->parent[i]) {
		size_t n = strlen(f->name[i]);
		end -= n;
		memcpy(text + end, f->name[i], n);
		if (end)
			text[--end] = ';';
	}
	return text;
}

static void frames_free(frames *f)
{
	for (size_t i = 0; i < f->n; i++)
		free(f->name[i]);
	free(f->name);
	free(f->parent);
	free(f->path);
}

mp_error *mp_owner_paths_compute(mp_target *target, const mp_heap *heap,
				 const mp_owner_options *options, mp_owner_paths *out)
{
	memset(out, 0, sizeof(*out));
	size_t n_chunks = mp_heap_chunk_count(heap);
	uint64_t budget = options && options->max_blocks ? options->max_blocks : DEFAULT_MAX_BLOCKS;
	out->chunk_path = calloc(n_chunks ? n_chunks : 1, sizeof(*out->chunk_path));
	if (!out->chunk_path)
		return mp_error_nomem();
	out->n_chunks = n_chunks;
	const mp_module *main_module = NULL;
	for (size_t i = 0; i < mp_target_module_count(target); i++)
		if (mp_module_is_main(mp_target_module(target, i)))
			main_module = mp_target_module(target, i);
	collector roots = {0};
	mp_error *err = main_module ? mp_type_list_variables(target, main_module, collect, &roots)
				    : NULL;
	if (err && mp_error_code(err) != MP_ERR_NOMEM) {
		mp_error_free(err);   /* no debug info: no roots, no error */
		err = NULL;
	}
	if (!err && roots.nomem)
		err = mp_error_nomem();
	frames f = {0};
	for (size_t i = 0; i < roots.n && !err; i++) {
		if (out->owned >= budget || f.n >= MAX_FRAMES) {
			out->partial = true;
			break;
		}
		mp_logical_options walk = {0};
		walk.max_objects = budget - out->owned;
		walk.chunk_owner = out->chunk_path;
		walk.owner_base = (uint32_t)f.n;
		if (options) {
			walk.interrupted = options->interrupted;
			walk.context = options->context;
		}
		mp_logical *l = NULL;
		err = mp_logical_walk(target, heap, roots.roots[i].address, roots.roots[i].type,
				      roots.roots[i].name, &walk, &l);
		if (err) {
			enum mp_error_code code = mp_error_code(err);
			if (code == MP_ERR_NOMEM || code == MP_ERR_INTERRUPTED)
				break;
			mp_error_free(err);
			/* After a walk only a process gone away fails it; before
			 * one, a root the walk cannot read (an incomplete type,
			 * memory the core left out) claims nothing and owns
			 * nothing.  A gone process gives no more owners. */
			err = mp_target_check_alive(target);
			if (err)
				break;
			continue;
		}
		out->roots++;
		out->owned += mp_logical_get_stats(l)->blocks;
		out->partial = out->partial || out->owned >= budget;
		if (!keep_frames(&f, l))
			err = mp_error_nomem();
		mp_logical_free(l);
	}
	for (size_t i = 0; i < roots.n; i++)
		free(roots.roots[i].name);
	free(roots.roots);
	/* Frame ids to path indexes, interning only the frames that own. */
	path_table table = {0};
	size_t paths_capacity = 0;
	f.path = err ? NULL : calloc(f.n ? f.n : 1, sizeof(*f.path));
	if (!err && !f.path)
		err = mp_error_nomem();
	for (size_t i = 0; i < n_chunks && !err; i++) {
		uint32_t id = out->chunk_path[i];
		if (!id)
			continue;
		if (!f.path[id - 1]) {
			char *text = path_of(&f, id - 1);
			f.path[id - 1] = text ? intern_path(&table, out, &paths_capacity, text) : 0;
			if (!f.path[id - 1])
				err = mp_error_nomem();
		}
		out->chunk_path[i] = f.path[id - 1] == UINT32_MAX ? 0 : f.path[id - 1];
	}
	free(table.slots);
	frames_free(&f);
	if (err)
		mp_owner_paths_free(out);
	return err;
}

mp_error *mp_owner_paths_encode(const mp_owner_paths *p, uint8_t **out, size_t *size)
{
	mp_byte_writer b = {0};
	uint32_t version = ENCODING_VERSION, flags = p->partial ? FLAG_PARTIAL : 0;
	mp_put(&b, &version, 4);
	mp_put(&b, &flags, 4);
	mp_put_u64(&b, p->roots);
	mp_put_u64(&b, p->owned);
	mp_put_u64(&b, p->n_paths);
	for (size_t i = 0; i < p->n_paths; i++)
		mp_put_string(&b, p->paths[i]);
	if (b.nomem) {
		free(b.data);
		return mp_error_nomem();
	}
	*out = b.data;
	*size = b.size;
	return NULL;
}

mp_error *mp_owner_paths_decode(const uint8_t *data, size_t size, mp_owner_paths *out)
{
	memset(out, 0, sizeof(*out));
	mp_byte_reader r = {data, size, 0};
	uint32_t version, flags;
	uint64_t n_paths;
	const char *what = "header";
	if (!mp_take(&r, &version, 4))
		goto damaged;
	if (version != ENCODING_VERSION)
		return mp_error_new(MP_ERR_UNSUPPORTED,
				    "its owner paths section has version %u; this memprof reads version %d",
				    version, ENCODING_VERSION);
	if (!mp_take(&r, &flags, 4) || !mp_take(&r, &out->roots, 8) ||
	    !mp_take(&r, &out->owned, 8) || !mp_take(&r, &n_paths, 8))
		goto damaged;
	out->partial = flags & FLAG_PARTIAL;
	what = "paths";
	if (n_paths > (r.size - r.pos) / 4 || n_paths > MP_BLOCK_MAX_OWNERS)
		goto damaged;
	out->paths = calloc(n_paths ? n_paths : 1, sizeof(*out->paths));
	if (!out->paths)
		goto nomem;
	for (uint64_t i = 0; i < n_paths; i++) {
		if (!(out->paths[i] = mp_take_string(&r)))
			goto damaged;
		out->n_paths = i + 1;
	}
	what = "bytes after the end";
	if (r.pos != r.size)
		goto damaged;
	return NULL;
damaged:
	mp_owner_paths_free(out);
	return mp_error_new(MP_ERR_FORMAT, "its owner paths section is damaged (%s)", what);
nomem:
	mp_owner_paths_free(out);
	return mp_error_nomem();
}

void mp_owner_paths_free(mp_owner_paths *p)
{
	for (size_t i = 0; i < p->n_paths; i++)
		free(p->paths[i]);
	free(p->paths);
	free(p->chunk_path);
	memset(p, 0, sizeof(*p));
}
