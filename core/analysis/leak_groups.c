/* Leaked blocks grouped by what they are.  A block's type is inferred from
 * its own bytes: a first word pointing into a C++ vtable (`_ZTV` symbol)
 * names its class; printable bytes ending in a NUL make it a string.
 * Otherwise it is grouped by size alone. */
#include "leak_groups.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "array.h"
#include "error.h"
#include "block_types.h"
#include "block_window.h"
#include "heap/heap_internal.h"
#include "target/target_internal.h"
#include "text.h"

/* Itanium mangled names of the simple kind vtables of user classes have:
 * a source name, or N...E of source names and `St` (std::).  Anything
 * fancier (templates, substitutions) is returned mangled. */
static char *demangle_class(const char *mangled)
{
	const char *p = mangled;
	char out[512];
	size_t used = 0;
	bool nested = false;
	if (*p == 'N') {
		nested = true;
		p++;
	}
	if (p[0] == 'S' && p[1] == 't') {
		used += (size_t)snprintf(out, sizeof(out), "std");
		p += 2;
	}
	for (;;) {
		if (nested && *p == 'E' && p[1] == '\0')
			break;
		if (!isdigit((unsigned char)*p))
			return *p == '\0' && !nested && used ? strdup(out) : strdup(mangled);
		char *end;
		unsigned long length = strtoul(p, &end, 10);
		if (length == 0 || strnlen(end, length) < length ||
		    used + length + 3 >= sizeof(out))
			return strdup(mangled);
		used += (size_t)snprintf(out + used, sizeof(out) - used, "%s%.*s",
					 used ? "::" : "", (int)length, end);
		p = end + length;
		if (!nested && *p == '\0')
			break;
	}
	return strdup(out);
}

/* Whether objects of type start with a vtable pointer: its first member,
 * or its first base's, is the compiler's `_vptr.X`. */
bool mp_type_has_vtable_pointer(const mp_type *type)
{
	const mp_type *t = mp_type_strip(type);
	for (int depth = 0; t && depth < 16; depth++) {
		enum mp_type_kind kind = mp_type_kind(t);
		if ((kind != MP_TYPE_STRUCT && kind != MP_TYPE_CLASS) || !mp_type_member_count(t))
			return false;
		const mp_type_member *first = mp_type_member_at(t, 0);
		if (!first || first->offset != 0)
			return false;
		if (first->name && strncmp(first->name, "_vptr", 5) == 0)
			return true;
		if (!first->is_base)
			return false;
		t = mp_type_strip(first->type);
	}
	return false;
}

/* Whether demangle_class made a name of a mangled symbol (it returns the
 * mangled text when the name is beyond it). */
static bool demangled(const char *name)
{
	if (name[0] == 'N')
		name++;
	if (name[0] == 'S' && name[1] == 't')
		name += 2;
	return name[0] && !isdigit((unsigned char)name[0]);
}

char *mp_vtable_class(mp_target *t, uint64_t word, bool *is_demangled, const mp_type **type,
		      bool *nomem)
{
	uint64_t offset;
	const char *symbol = word ? mp_target_symbolize(t, word, &offset) : NULL;
	*nomem = false;
	if (!symbol || strncmp(symbol, "_ZTV", 4) != 0)
		return NULL;
	char *name = demangle_class(symbol + 4);
	if (!name) {
		*nomem = true;
		return NULL;
	}
	*is_demangled = demangled(name);
	if (type) {
		/* The vtable is emitted beside the class's key function, in the
		 * module whose DWARF defines the class. */
		*type = NULL;
		const mp_module *module = mp_target_module_at(t, word, NULL);
		mp_error *err = module && *is_demangled
					? mp_type_find_in_module(t, module, name, type)
					: NULL;
		if (err) {
			*nomem = mp_error_code(err) == MP_ERR_NOMEM;
			mp_error_free(err);
			*type = NULL;
		}
	}
	return name;
}

size_t mp_block_string_length(mp_target *t, const uint8_t *bytes, size_t length)
{
	size_t n = 0;
	bool control = false;
	while (n < length && mp_text_byte(bytes[n])) {
		control |= !mp_text_printable(bytes[n]);
		n++;
	}
	if (n < 2 || n >= length || bytes[n] != '\0' || (n <= 3 && control))
		return 0;
	uint64_t word;
	if (n < sizeof(word) && length >= sizeof(word)) {
		memcpy(&word, bytes, sizeof(word));
		if (mp_target_find_mapping(t, word))
			return 0;
	}
	return n + 1;
}

char *mp_infer_block_type(mp_target *t, const uint8_t *bytes, size_t length,
			  const char **evidence)
{
	*evidence = "";
	if (length >= 8) {
		uint64_t word;
		bool is_demangled, nomem;
		memcpy(&word, bytes, 8);
		char *name = mp_vtable_class(t, word, &is_demangled, NULL, &nomem);
		if (name || nomem) {
			*evidence = "vtable";
			return name;
		}
	}
	if (mp_block_string_length(t, bytes, length)) {
		*evidence = "string";
		return strdup("char[] (string)");
	}
	return NULL;
}

/* Sizes that only one record type has among the blocks DWARF typed: a
 * lost block of such a size is most likely of that type too.  Distinct
 * sizes are few, so a small open-addressing table keyed by size holds
 * them, however many blocks are typed. */
typedef struct size_type {
	uint64_t size;             /* 0: empty slot */
	const mp_type *type;       /* NULL: several types share the size */
} size_type;

typedef struct size_table {
	size_type *slots;
	size_t capacity, used;
} size_table;

static size_type *size_slot(const size_table *table, uint64_t size)
{
	size_t mask = table->capacity - 1;
	for (size_t i = (size_t)(size * 0x9e3779b97f4a7c15ull >> 7) & mask;; i = (i + 1) & mask)
		if (table->slots[i].size == size || table->slots[i].size == 0)
			return &table->slots[i];
}

static bool size_table_add(size_table *table, uint64_t size, const mp_type *type)
{
	if (2 * (table->used + 1) > table->capacity) {
		size_table grown = {calloc(table->capacity ? 2 * table->capacity : 64,
					   sizeof(size_type)),
				    table->capacity ? 2 * table->capacity : 64, 0};
		if (!grown.slots)
			return false;
		for (size_t i = 0; i < table->capacity; i++) {
			if (!table->slots[i].size)
				continue;
			*size_slot(&grown, table->slots[i].size) = table->slots[i];
			grown.used++;
		}
		free(table->slots);
		*table = grown;
	}
	size_type *slot = size_slot(table, size);
	if (!slot->size) {
		slot->size = size;
		slot->type = type;
		table->used++;
	} else if (slot->type != type) {
		slot->type = NULL;
	}
	return true;
}

static bool sizes_of_types(const mp_heap *heap, const mp_block_typing *typing,
			   size_table *table)
{
	for (size_t i = 0; i < mp_heap_chunk_count(heap); i++) {
		const mp_type *type = mp_block_typing_type(typing, i);
		if (!type)
			continue;
		enum mp_type_kind kind = mp_type_kind(type);
		/* Only records name lost blocks by their size: a size shared with
		 * an array of numbers or pointers says nothing. */
		if (kind != MP_TYPE_STRUCT && kind != MP_TYPE_CLASS && kind != MP_TYPE_UNION)
			continue;
		if (!size_table_add(table, heap_chunk_usable(heap, &heap->chunks[i]), type))
			return false;
	}
	return true;
}

static const mp_type *type_of_size(const size_table *table, uint64_t size)
{
	if (!table->capacity || !size)
		return NULL;
	const size_type *slot = size_slot(table, size);
	return slot->size == size ? slot->type : NULL;
}

static char *type_display(const mp_type *type)
{
	char *text = NULL;
	enum mp_type_kind kind = mp_type_kind(type);
	/* Pointers and numbers type a block as the array a T* walks. */
	if (kind == MP_TYPE_POINTER || kind == MP_TYPE_BASE || kind == MP_TYPE_ENUM) {
		if (asprintf(&text, "%s[]", mp_type_name(type)) < 0)
			return NULL;
		return text;
	}
	return strdup(mp_type_name(type));
}

char *mp_block_category(mp_target *t, const mp_block_typing *typing, size_t index,
			const uint8_t *bytes, size_t length, const char **evidence)
{
	*evidence = "";
	const mp_type *type = mp_block_typing_type(typing, index);
	if (!type)
		return length ? mp_infer_block_type(t, bytes, length, evidence) : NULL;
	*evidence = mp_type_evidence_name(mp_block_typing_evidence(typing, index));
	char *name = type_display(type);
	/* A pointer to a polymorphic base (Shape *) may hold a derived
	 * object: its vtable names the class it is. */
	const char *dynamic_evidence = "";
	char *dynamic = length && mp_type_has_vtable_pointer(type)
				? mp_infer_block_type(t, bytes, length, &dynamic_evidence)
				: NULL;
	if (dynamic && strcmp(dynamic_evidence, "vtable") == 0 && demangled(dynamic) &&
	    name && strcmp(dynamic, name) != 0) {
		free(name);
		*evidence = "vtable";
		return dynamic;
	}
	free(dynamic);
	return name;
}

static int compare_groups(const void *a, const void *b)
{
	const mp_leak_group *x = a, *y = b;
	if (x->kind != y->kind)
		return x->kind < y->kind ? -1 : 1;
	if (x->bytes != y->bytes)
		return x->bytes > y->bytes ? -1 : 1;
	return x->size > y->size ? -1 : x->size < y->size;
}

typedef struct sized_chunk {
	uint64_t size;
	size_t index;
} sized_chunk;

/* Largest first, then in address order (chunk indices follow addresses). */
static int compare_sized(const void *a, const void *b)
{
	const sized_chunk *x = a, *y = b;
	if (x->size != y->size)
		return x->size > y->size ? -1 : 1;
	return x->index < y->index ? -1 : x->index > y->index;
}

/* Sorts the unreferenced blocks with their sizes beside them: a comparator
 * reading the chunk table would miss the cache on every call. */
static bool sort_unreferenced(const mp_heap *heap, size_t *indices, size_t n)
{
	sized_chunk *sorted = malloc(n * sizeof(*sorted));
	if (!sorted)
		return false;
	for (size_t i = 0; i < n; i++)
		sorted[i] = (sized_chunk){heap_chunk_size(&heap->chunks[indices[i]]), indices[i]};
	qsort(sorted, n, sizeof(*sorted), compare_sized);
	for (size_t i = 0; i < n; i++)
		indices[i] = sorted[i].index;
	free(sorted);
	return true;
}

/* Order in which kinds are reported: the worst first. */
static int kind_rank(enum mp_leak_kind kind)
{
	switch (kind) {
	case MP_LEAK_DEFINITE: return 0;
	case MP_LEAK_INDIRECT: return 1;
	case MP_LEAK_POSSIBLE: return 2;
	default: return 3;
	}
}

static int compare_ranked(const void *a, const void *b)
{
	const mp_leak_group *x = a, *y = b;
	if (kind_rank(x->kind) != kind_rank(y->kind))
		return kind_rank(x->kind) - kind_rank(y->kind);
	return compare_groups(a, b);
}

static mp_leak_group *find_group(mp_leak_report *r, enum mp_leak_kind kind,
				 const char *type, const char *evidence, uint64_t size)
{
	/* Linear over groups of a report: reports hold few groups; the
	 * blocks are many, but each type-and-size pair is one group. */
	for (size_t i = r->n_groups; i > 0; i--) {
		mp_leak_group *g = &r->groups[i - 1];
		if (g->kind == kind && g->size == size && strcmp(g->evidence, evidence) == 0 &&
		    ((!g->type && !type) || (g->type && type && strcmp(g->type, type) == 0)))
			return g;
	}
	return NULL;
}

/* Whether a block's contents say it is not the type its size suggests
 * (text where the struct keeps pointers): the whole block is looked at,
 * up to a bound, as a long string has no NUL in its first bytes. */
static bool size_guess_contradicted(const mp_heap *heap, mp_target *t, mp_block_window *window,
				    const heap_chunk *c, const mp_type *type)
{
	uint8_t copy[4096];
	uint64_t usable = heap_chunk_usable(heap, c);
	size_t length = usable < sizeof(copy) ? (size_t)usable : sizeof(copy);
	const uint8_t *bytes = mp_block_window_bytes(window, heap_chunk_user(heap, c), length);
	if (!bytes) {
		mp_error *err = heap_read(heap, t, heap_chunk_user(heap, c), copy, length);
		if (err) {
			mp_error_free(err);
			return false;
		}
		bytes = copy;
	}
	return mp_block_contradicts_type(t, type, bytes, length);
}

mp_error *mp_leak_report_build(mp_target *t, const mp_heap *heap,
			       const mp_leaks *leaks, unsigned kinds_mask,
			       mp_leak_report *out)
{
	mp_block_typing typing;
	mp_error *err = mp_block_types_infer(t, heap, leaks, &typing);
	if (err)
		return err;
	err = mp_leak_report_build_typed(t, heap, leaks, &typing, kinds_mask, out);
	mp_block_typing_free(&typing);
	return err;
}

mp_error *mp_leak_report_build_typed(mp_target *t, const mp_heap *heap,
				     const mp_leaks *leaks, const mp_block_typing *typing,
				     unsigned kinds_mask, mp_leak_report *out)
{
	return mp_leak_report_build_filtered(t, heap, leaks, typing, kinds_mask, NULL, NULL, out);
}

mp_error *mp_leak_report_build_filtered(mp_target *t, const mp_heap *heap,
					const mp_leaks *leaks, const mp_block_typing *typing,
					unsigned kinds_mask, mp_leak_filter filter,
					void *context, mp_leak_report *out)
{
	memset(out, 0, sizeof(*out));
	size_t groups_capacity = 0, unreferenced_capacity = 0;
	size_table sizes = {0};
	/* Blocks are read in address order, a window at a time. */
	mp_block_window window;
	mp_block_window_init(&window, heap, t);
	if (!sizes_of_types(heap, typing, &sizes))
		goto nomem;
	/* The chunk table is read directly: this loop runs once per chunk, and
	 * the public accessors cost a call each. */
	for (size_t i = 0; i < heap->n_chunks; i++) {
		enum mp_leak_kind kind = mp_leaks_kind(leaks, i);
		if (kind == MP_LEAK_NOT_A_BLOCK)
			continue;
		const heap_chunk *c = &heap->chunks[i];
		uint64_t size = heap_chunk_usable(heap, c);
		/* A block the filter drops (a suppression) is counted nowhere
		 * here; the filter counts it. */
		bool counted = false;
		if (!filter || !(kinds_mask & (1u << kind))) {
			counted = true;
			out->blocks[kind]++;
			out->bytes[kind] += size;
		}
		if (counted && (kind == MP_LEAK_DEFINITE || kind == MP_LEAK_INDIRECT) &&
		    mp_leaks_unreferenced(leaks, i)) {
			if (!MP_ARRAY_RESERVE(out->unreferenced, unreferenced_capacity,
					      out->n_unreferenced + 1))
				goto nomem;
			out->unreferenced[out->n_unreferenced++] = i;
		}
		if (!(kinds_mask & (1u << kind)))
			continue;
		uint8_t bytes[64];
		size_t length = size < sizeof(bytes) ? (size_t)size : sizeof(bytes);
		const uint8_t *held = mp_block_window_bytes(&window, heap_chunk_user(heap, c), length);
		if (held) {
			memcpy(bytes, held, length);
		} else {
			mp_error *err = heap_read(heap, t, heap_chunk_user(heap, c), bytes, length);
			if (err) {
				mp_error_free(err);
				length = 0;
			}
		}
		const char *evidence = "";
		char *type = mp_block_category(t, typing, i, bytes, length, &evidence);
		/* Only for lost blocks: a reachable block without a type was
		 * reached through untyped memory, and a guess would mislead. */
		const mp_type *by_size = !type && kind != MP_LEAK_REACHABLE
					 ? type_of_size(&sizes, size) : NULL;
		if (by_size && size_guess_contradicted(heap, t, &window, c, by_size))
			by_size = NULL;
		if (by_size) {
			evidence = "size-match";
			type = type_display(by_size);
		}
		if (filter && filter(context, i, kind, type, size, bytes, length)) {
			free(type);
			continue;
		}
		if (!counted) {
			out->blocks[kind]++;
			out->bytes[kind] += size;
			if ((kind == MP_LEAK_DEFINITE || kind == MP_LEAK_INDIRECT) &&
			    mp_leaks_unreferenced(leaks, i)) {
				if (!MP_ARRAY_RESERVE(out->unreferenced, unreferenced_capacity,
						      out->n_unreferenced + 1)) {
					free(type);
					goto nomem;
				}
				out->unreferenced[out->n_unreferenced++] = i;
			}
		}
		mp_leak_group *g = find_group(out, kind, type, evidence, size);
		if (!g) {
			if (!MP_ARRAY_RESERVE(out->groups, groups_capacity, out->n_groups + 1)) {
				free(type);
				goto nomem;
			}
			g = &out->groups[out->n_groups++];
			memset(g, 0, sizeof(*g));
			g->kind = kind;
			g->type = type;
			g->evidence = evidence;
			g->size = size;
			g->example = heap_chunk_user(heap, c);
			g->preview_length = length < MP_PREVIEW_BYTES ? length : MP_PREVIEW_BYTES;
			memcpy(g->preview, bytes, g->preview_length);
		} else {
			free(type);
		}
		g->count++;
		g->bytes += size;
	}
	free(sizes.slots);
	sizes.slots = NULL;
	mp_block_window_free(&window);
	if (out->n_groups > 1)
		qsort(out->groups, out->n_groups, sizeof(*out->groups), compare_ranked);
	if (out->n_unreferenced > 1 &&
	    !sort_unreferenced(heap, out->unreferenced, out->n_unreferenced))
		goto nomem;
	return NULL;
nomem:
	free(sizes.slots);
	mp_block_window_free(&window);
	mp_leak_report_free(out);
	return mp_error_nomem();
}

void mp_leak_report_free(mp_leak_report *r)
{
	for (size_t i = 0; i < r->n_groups; i++)
		free(r->groups[i].type);
	free(r->groups);
	free(r->unreferenced);
	memset(r, 0, sizeof(*r));
}
