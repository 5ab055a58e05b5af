/* The logical walk: a value's bytes by field path, from DWARF types and the
 * heap snapshot (rules: logical.h, docs/logical.md).
 *
 * Structure.  Frames form a tree (parent, interned name); the walk keeps a
 * depth-first work list of small items (a value to classify, the remaining
 * compound members of a struct, a range of array elements, a pointer's
 * block), so nothing recurses over the inspected data and the list stays
 * short for long chains: a struct's links to its own type are followed last,
 * as a tail step.  Per (frame, struct type) a plan is built once: which
 * members are leaves (their bytes, the padding) and which need work
 * (pointers, nested structs, arrays).  Visiting a struct then only counts
 * one more visit of its plan and walks its compound members; leaf bytes are
 * multiplied out at the end.  Heap blocks are claimed in a bit set over the
 * snapshot's chunks, so each is counted once. */
#include "logical_internal.h"
#include "containers.h"
#include "hints.h"
#include "length_rules.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "array.h"
#include "error.h"
#include "progress.h"
#include "warnings.h"
#include "target/target_internal.h"

enum {
	DEFAULT_MAX_DEPTH = 64,
};

/* DW_ATE_* */
enum { ATE_SIGNED_CHAR = 0x6, ATE_UNSIGNED_CHAR = 0x8 };

typedef struct lg_frame {
	mp_logical_node pub;
	const mp_type *object_type;  /* struct entered here, for chain folding */
	const mp_type *enter_type;   /* last lg_enter from here: type -> frame */
	uint32_t enter_frame;
	uint32_t unused_child;       /* "[unused]" below, or LG_NONE */
	uint64_t sum_logical, sum_allocated, sum_count;
	bool has_children;
} lg_frame;

/* How a pointer member's length is found (docs/logical.md, The rules). */
enum lg_len_rule {
	LR_NONE,    /* no length: one object, a string or the block's size */
	LR_FIXED,   /* a sibling, or the generic length of the only candidate */
	LR_CONST,   /* a constant count from a hint (len_const) */
	LR_PICK,    /* the generic length, if this is the one candidate whose
		     * block fits it (decided per object) */
};

/* A pointer member that may take the struct's generic length. */
typedef struct lg_candidate {
	uint64_t offset;
	uint64_t element_size;
} lg_candidate;

/* ENT_UNION: a union member whose active member a hint's tag names. */
enum lg_entry_kind { ENT_POINTER, ENT_VALUE, ENT_ARRAY, ENT_UNION };

/* A pointer member a hint calls a string: step_block counts strlen + 1
 * whatever the pointee type says. */
#define LG_STRING_LEN (UINT64_MAX - 1)

/* One arm of a hinted union (hints.h): tag value -> member. */
typedef struct lg_arm {
	int64_t value;
	uint64_t offset;           /* within the union */
	const mp_type *type;
	uint32_t node;             /* the member's frame below the union's */
} lg_arm;

typedef struct lg_entry {
	uint64_t offset;
	const mp_type *type;       /* pointee, member or element type (stripped) */
	uint64_t count;            /* ENT_ARRAY: elements */
	uint64_t len_offset;       /* ENT_POINTER with a length sibling */
	uint32_t len_size;         /* 0: no sibling */
	uint32_t node;             /* the member's frame (ENT_ARRAY: the elements') */
	uint8_t kind;
	uint8_t len_rule;          /* enum lg_len_rule */
	uint32_t cap_size;         /* LR_PICK: the capacity, 0: none */
	uint64_t cap_offset;
	uint32_t first_candidate, n_candidates, self;   /* LR_PICK, w->candidates */
	/* From hints: a constant length (LR_CONST), a string, an intrusive
	 * link (the pointer minus link_minus is the node); ENT_UNION: the tag
	 * and w->arms[first_arm, +n_arms). */
	uint64_t len_const, link_minus, tag_offset;
	uint32_t tag_size, first_arm, n_arms;
	bool string, tag_signed;
	/* What the walk reports on the member's frame (length_from): the
	 * rule that gave the length, or why there was none. */
	const char *len_from, *why_single, *why_no_fit, *why_several, *why_over;
} lg_entry;

typedef struct lg_leaf {
	uint32_t node;
	uint64_t bytes;
} lg_leaf;

typedef struct lg_plan {
	uint32_t frame;
	const mp_type *type;
	uint64_t visits;
	size_t first_leaf, n_leaves;
	size_t first_entry, n_entries;
} lg_plan;

typedef struct lg_memo_entry {
	const void *key;
	int kind;
	max_align_t data[];
} lg_memo_entry;

/* Open-addressing hash of uint32 indices; the owner compares keys. */
typedef struct lg_table {
	uint32_t *slots;
	size_t mask;      /* capacity - 1 */
	size_t used;
} lg_table;

struct lg_walker {
	mp_target *target;
	const mp_heap *heap;
	mp_logical_options options;
	uint32_t max_depth;

	lg_frame *frames;
	size_t n_frames, frames_cap;
	lg_table children;       /* (parent, name) -> frame */

	char **names;            /* interned strings */
	size_t n_names, names_cap;
	lg_table name_index;

	const mp_type **name_types;  /* type -> interned frame name */
	const char **name_of_type;
	size_t n_name_types, name_types_cap;
	lg_table type_names;

	lg_plan *plans;
	size_t n_plans, plans_cap;
	lg_table plan_index;     /* (frame, type) -> plan */
	lg_leaf *leaves;
	size_t n_leaves, leaves_cap;
	lg_entry *entries;
	size_t n_entries, entries_cap;
	lg_candidate *candidates;
	size_t n_candidates, candidates_cap;
	lg_arm *arms;            /* hinted unions' arms, by plan entries */
	size_t n_arms, arms_cap;
	const mp_type **hints_checked;   /* types whose hints were checked */
	size_t n_hints_checked, hints_checked_cap;

	lg_work *work;
	size_t n_work, work_cap;

	uint8_t *visited;        /* one bit per chunk */
	size_t n_chunks;

	lg_memo_entry **memos;   /* layouts of containers and structs, by type */
	size_t n_memos, memos_cap;
	lg_table memo_index;
	const mp_type **container_types;
	const mp_container_class **container_classes;   /* per entry of container_types */
	size_t n_container, container_cap;
	lg_table container_index;

	bool partial;
	mp_warnings warnings;
	bool nomem;
	mp_logical_stats stats;
	const char *inline_name, *unused_name, *padding_name, *unreadable_name,
		*depth_name;
};

struct mp_logical {
	lg_walker w;
};

/* ------------------------------------------------------------ tables */

static uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

static uint64_t hash_string(const char *s)
{
	uint64_t h = 1469598103934665603ULL;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return mix(h);
}

static bool table_init(lg_table *t, size_t capacity)
{
	t->slots = malloc(capacity * sizeof(*t->slots));
	if (!t->slots)
		return false;
	memset(t->slots, 0xff, capacity * sizeof(*t->slots));
	t->mask = capacity - 1;
	t->used = 0;
	return true;
}

/* Rehashes into twice the room; hash_of gives an entry's hash. */
static bool table_grow(lg_walker *w, lg_table *t, uint64_t (*hash_of)(lg_walker *, uint32_t))
{
	size_t capacity = (t->mask + 1) * 2;
	uint32_t *slots = malloc(capacity * sizeof(*slots));
	if (!slots)
		return false;
	memset(slots, 0xff, capacity * sizeof(*slots));
	for (size_t i = 0; i <= t->mask; i++) {
		if (t->slots[i] == LG_NONE)
			continue;
		size_t k = hash_of(w, t->slots[i]) & (capacity - 1);
		while (slots[k] != LG_NONE)
			k = (k + 1) & (capacity - 1);
		slots[k] = t->slots[i];
	}
	free(t->slots);
	t->slots = slots;
	t->mask = capacity - 1;
	return true;
}

static uint64_t child_hash(uint32_t parent, const char *name)
{
	return mix(((uint64_t)parent << 32) ^ (uint64_t)(uintptr_t)name);
}

static uint64_t child_hash_of(lg_walker *w, uint32_t index)
{
	return child_hash(w->frames[index].pub.parent, w->frames[index].pub.name);
}

static uint64_t name_hash_of(lg_walker *w, uint32_t index)
{
	return hash_string(w->names[index]);
}

static uint64_t type_hash(const mp_type *type)
{
	return mix((uint64_t)(uintptr_t)type);
}

static uint64_t type_name_hash_of(lg_walker *w, uint32_t index)
{
	return type_hash(w->name_types[index]);
}

static uint64_t container_hash_of(lg_walker *w, uint32_t index)
{
	return type_hash(w->container_types[index]);
}

static uint64_t plan_hash(uint32_t frame, const mp_type *type)
{
	return mix((uint64_t)(uintptr_t)type * 31 + frame);
}

static uint64_t plan_hash_of(lg_walker *w, uint32_t index)
{
	return plan_hash(w->plans[index].frame, w->plans[index].type);
}

/* ------------------------------------------------------------ warnings */

static void warn_v(lg_walker *w, const char *fmt, va_list ap)
{
	mp_warnings_vadd(&w->warnings, fmt, ap);
}

void lg_mark_partial(lg_walker *w, const char *fmt, ...)
{
	w->partial = true;
	va_list ap;
	va_start(ap, fmt);
	warn_v(w, fmt, ap);
	va_end(ap);
}

/* ------------------------------------------------------------ names */

static const char *intern(lg_walker *w, const char *s)
{
	uint64_t h = hash_string(s);
	size_t k = h & w->name_index.mask;
	for (;;) {
		uint32_t i = w->name_index.slots[k];
		if (i == LG_NONE)
			break;
		if (strcmp(w->names[i], s) == 0)
			return w->names[i];
		k = (k + 1) & w->name_index.mask;
	}
	if (!MP_ARRAY_RESERVE(w->names, w->names_cap, w->n_names + 1))
		goto nomem;
	char *copy = strdup(s);
	if (!copy)
		goto nomem;
	w->names[w->n_names] = copy;
	w->name_index.slots[k] = (uint32_t)w->n_names++;
	if (++w->name_index.used * 2 > w->name_index.mask &&
	    !table_grow(w, &w->name_index, name_hash_of))
		goto nomem;
	return copy;
nomem:
	w->nomem = true;
	return "[out-of-memory]";
}

/* Long standard names shortened in frames (C++ std::string, Rust's
 * default allocator parameter). */
static const struct {
	const char *from, *to;
} short_names[] = {
	{"std::__cxx11::basic_string<char, std::char_traits<char>, std::allocator<char> >",
	 "std::string"},
	{"std::__1::basic_string<char, std::__1::char_traits<char>, std::__1::allocator<char> >",
	 "std::string"},
	{", alloc::alloc::Global>", ">"},
};

static void shorten(const char *in, char *out, size_t size)
{
	size_t n = 0;
	while (*in && n + 1 < size) {
		bool replaced = false;
		for (size_t i = 0; i < sizeof(short_names) / sizeof(short_names[0]); i++) {
			size_t length = strlen(short_names[i].from);
			if (strncmp(in, short_names[i].from, length) == 0) {
				size_t to = strlen(short_names[i].to);
				if (n + to + 1 >= size)
					break;
				memcpy(out + n, short_names[i].to, to);
				n += to;
				in += length;
				replaced = true;
				break;
			}
		}
		if (!replaced)
			out[n++] = *in++;
	}
	out[n] = '\0';
}

void mp_logical_frame_name(const char *type_name, char *out, size_t size)
{
	static const char *const tags[] = {"struct ", "union ", "enum ", "class "};
	char shortened[1024];
	shorten(type_name ? type_name : "?", shortened, sizeof(shortened));
	const char *s = shortened;
	for (size_t i = 0; i < sizeof(tags) / sizeof(tags[0]); i++)
		if (strncmp(s, tags[i], strlen(tags[i])) == 0)
			s += strlen(tags[i]);
	size_t n = 0;
	for (const char *p = s; *p && n + 1 < size; p++) {
		char c = *p;
		if (c == ' ') {
			bool ident_before = n > 0 && (out[n - 1] == '_' ||
						      (out[n - 1] >= '0' && out[n - 1] <= '9') ||
						      ((out[n - 1] | 32) >= 'a' && (out[n - 1] | 32) <= 'z'));
			char next = p[1];
			bool ident_after = next == '_' || (next >= '0' && next <= '9') ||
					   ((next | 32) >= 'a' && (next | 32) <= 'z');
			if (ident_before && ident_after)
				out[n++] = '_';
			continue;
		}
		if (c == ';')
			c = ':';
		if ((unsigned char)c < 32)
			c = '?';
		out[n++] = c;
	}
	if (n == 0 && size > 1)
		out[n++] = '?';
	if (size)
		out[n] = '\0';
}

static const char *type_frame_name(lg_walker *w, const mp_type *type)
{
	size_t k = type_hash(type) & w->type_names.mask;
	for (;;) {
		uint32_t i = w->type_names.slots[k];
		if (i == LG_NONE)
			break;
		if (w->name_types[i] == type)
			return w->name_of_type[i];
		k = (k + 1) & w->type_names.mask;
	}
	char buffer[512];
	mp_logical_frame_name(mp_type_name(type), buffer, sizeof(buffer));
	const char *name = intern(w, buffer);
	size_t cap = w->name_types_cap;
	if (!MP_ARRAY_RESERVE(w->name_types, w->name_types_cap, w->n_name_types + 1)) {
		w->nomem = true;
		return name;
	}
	if (!MP_ARRAY_RESERVE(w->name_of_type, cap, w->n_name_types + 1)) {
		w->nomem = true;
		return name;
	}
	w->name_types[w->n_name_types] = type;
	w->name_of_type[w->n_name_types] = name;
	w->type_names.slots[k] = (uint32_t)w->n_name_types++;
	if (++w->type_names.used * 2 > w->type_names.mask &&
	    !table_grow(w, &w->type_names, type_name_hash_of))
		w->nomem = true;
	return name;
}

/* ------------------------------------------------------------ frames */

static uint32_t child_interned(lg_walker *w, uint32_t parent, const char *name)
{
	uint64_t h = child_hash(parent, name);
	size_t k = h & w->children.mask;
	for (;;) {
		uint32_t i = w->children.slots[k];
		if (i == LG_NONE)
			break;
		if (w->frames[i].pub.parent == parent && w->frames[i].pub.name == name)
			return i;
		k = (k + 1) & w->children.mask;
	}
	if (w->n_frames >= UINT32_MAX - 1 ||
	    !MP_ARRAY_RESERVE(w->frames, w->frames_cap, w->n_frames + 1)) {
		w->nomem = true;
		return parent;
	}
	lg_frame *f = &w->frames[w->n_frames];
	memset(f, 0, sizeof(*f));
	f->pub.parent = parent;
	f->pub.name = name;
	f->pub.depth = parent == LG_NONE ? 0 : w->frames[parent].pub.depth + 1;
	f->unused_child = LG_NONE;
	w->children.slots[k] = (uint32_t)w->n_frames;
	uint32_t index = (uint32_t)w->n_frames++;
	if (++w->children.used * 2 > w->children.mask &&
	    !table_grow(w, &w->children, child_hash_of))
		w->nomem = true;
	return index;
}

uint32_t lg_child(lg_walker *w, uint32_t parent, const char *name)
{
	return child_interned(w, parent, intern(w, name));
}

uint32_t lg_frame_depth(lg_walker *w, uint32_t frame)
{
	return w->frames[frame].pub.depth;
}

static uint32_t enter_uncached(lg_walker *w, uint32_t parent, const mp_type *type);

static uint32_t find_ancestor(lg_walker *w, uint32_t frame, const mp_type *type)
{
	for (uint32_t f = frame; f != LG_NONE; f = w->frames[f].pub.parent)
		if (w->frames[f].object_type == type)
			return f;
	return LG_NONE;
}

static bool is_record(const mp_type *t)
{
	enum mp_type_kind k = mp_type_kind(t);
	return k == MP_TYPE_STRUCT || k == MP_TYPE_CLASS;
}

uint32_t lg_enter(lg_walker *w, uint32_t parent, const mp_type *type)
{
	if (w->frames[parent].enter_type == type)
		return w->frames[parent].enter_frame;
	uint32_t f = enter_uncached(w, parent, type);
	w->frames[parent].enter_type = type;
	w->frames[parent].enter_frame = f;
	return f;
}

static uint32_t enter_uncached(lg_walker *w, uint32_t parent, const mp_type *type)
{
	if (is_record(type)) {
		uint32_t a = find_ancestor(w, parent, type);
		if (a != LG_NONE)
			return a;
	}
	uint32_t f = child_interned(w, parent, type_frame_name(w, type));
	if (is_record(type) && !w->frames[f].object_type)
		w->frames[f].object_type = type;
	return f;
}

void lg_add(lg_walker *w, uint32_t frame, uint64_t bytes)
{
	w->frames[frame].pub.logical += bytes;
	w->frames[frame].pub.allocated += bytes;
}

void lg_add_unused(lg_walker *w, uint32_t parent, uint64_t bytes)
{
	if (!bytes)
		return;
	uint32_t c = w->frames[parent].unused_child;
	if (c == LG_NONE) {
		c = child_interned(w, parent, w->unused_name);
		w->frames[parent].unused_child = c;
	}
	w->frames[c].pub.allocated += bytes;
}

uint64_t *lg_objects(lg_walker *w)
{
	return &w->stats.objects;
}

/* ------------------------------------------------------------ memory */

bool lg_read(lg_walker *w, uint64_t addr, void *buffer, size_t length,
	     const char *what)
{
	mp_error *e = mp_target_read(w->target, addr, buffer, length);
	if (!e)
		return true;
	lg_mark_partial(w, "cannot read %s at 0x%" PRIx64 ": %s", what ? what : "memory",
			addr, mp_error_message(e));
	mp_error_free(e);
	return false;
}

bool lg_read_word(lg_walker *w, uint64_t addr, uint64_t *value)
{
	return lg_read(w, addr, value, 8, "a pointer");
}

static bool in_use(const mp_chunk *c)
{
	return c->state == MP_CHUNK_IN_USE || c->state == MP_CHUNK_IN_USE_MMAPPED;
}

uint64_t lg_block_of(lg_walker *w, uint64_t addr, uint64_t *start)
{
	if (!w->heap)
		return 0;
	/* The block's last 8 usable bytes lie in the next chunk's header:
	 * find_block, not find_chunk, names their owner. */
	ptrdiff_t i = mp_heap_find_block(w->heap, addr);
	if (i < 0)
		return 0;
	mp_chunk c = mp_heap_chunk(w->heap, (size_t)i);
	*start = c.user_address;
	return mp_chunk_usable_size(&c);
}

uint64_t lg_claim(lg_walker *w, uint32_t frame, uint64_t p)
{
	if (!p || !w->heap)
		return 0;
	ptrdiff_t i = mp_heap_find_chunk(w->heap, p);
	if (i < 0)
		return 0;
	mp_chunk c = mp_heap_chunk(w->heap, (size_t)i);
	if (!in_use(&c) || p != c.user_address)
		return 0;
	uint8_t bit = (uint8_t)(1u << (i & 7));
	if (w->visited[i >> 3] & bit || (w->options.chunk_owner && w->options.chunk_owner[i]))
		return 0;
	if (w->options.max_objects && w->stats.blocks >= w->options.max_objects) {
		if (!w->partial)
			lg_mark_partial(w, "stopped at --max-objects %" PRIu64
					" heap blocks", w->options.max_objects);
		w->partial = true;
		return 0;
	}
	w->visited[i >> 3] |= bit;
	if (w->options.chunk_owner)
		w->options.chunk_owner[i] = w->options.owner_base + frame + 1;
	w->stats.blocks++;
	w->frames[frame].pub.count++;
	uint64_t usable = mp_chunk_usable_size(&c);
	return usable ? usable : 1;
}

bool lg_too_deep(lg_walker *w, uint32_t frame)
{
	return w->frames[frame].pub.depth >= w->max_depth;
}

/* ------------------------------------------------------------ work */

bool lg_push(lg_walker *w, const lg_work *item)
{
	if (w->n_work == w->work_cap &&
	    !MP_ARRAY_RESERVE(w->work, w->work_cap, w->n_work + 1)) {
		w->nomem = true;
		return false;
	}
	w->work[w->n_work++] = *item;
	if (w->n_work > w->stats.work_peak)
		w->stats.work_peak = w->n_work;
	return true;
}

bool lg_push_value(lg_walker *w, uint32_t frame, const mp_type *type, uint64_t addr)
{
	lg_work item = {.addr = addr, .type = type, .frame = frame, .kind = LG_W_VALUE};
	return lg_push(w, &item);
}

static bool is_pointer_kind(enum mp_type_kind k)
{
	return k == MP_TYPE_POINTER || k == MP_TYPE_REFERENCE ||
	       k == MP_TYPE_RVALUE_REFERENCE;
}

static bool has_members(const mp_type *t)
{
	return mp_type_member_count(t) > 0 || mp_type_variant_count(t) > 0;
}

/* Element kinds: needs a walk per element (records, pointers) or not. */
static bool needs_walk(const mp_type *t)
{
	enum mp_type_kind k = mp_type_kind(t);
	if (k == MP_TYPE_STRUCT || k == MP_TYPE_CLASS)
		return has_members(t);
	if (is_pointer_kind(k))
		return true;
	if (k == MP_TYPE_ARRAY) {
		const mp_type *e = mp_type_target(t);
		return e && needs_walk(mp_type_strip(e));
	}
	return false;
}

bool lg_push_array(lg_walker *w, uint32_t frame, const mp_type *type,
		   uint64_t addr, uint64_t count)
{
	uint64_t size = mp_type_size(type);
	if (!count)
		return true;
	enum mp_type_kind k = mp_type_kind(type);
	if (!needs_walk(type)) {
		lg_add(w, frame, size * count);
		return true;
	}
	if (is_pointer_kind(k))
		lg_add(w, frame, size * count);
	lg_work item = {.addr = addr, .a = 0, .b = count, .type = type,
			.frame = frame, .kind = LG_W_ARRAY};
	return lg_push(w, &item);
}

bool lg_push_block(lg_walker *w, uint32_t frame, const mp_type *pointee,
		   uint64_t p, uint64_t len)
{
	if (!p)
		return true;
	lg_work item = {.addr = p, .a = len, .type = pointee, .frame = frame,
			.kind = LG_W_BLOCK};
	return lg_push(w, &item);
}

/* A pointer member's block: note (interned) is reported on frame as its
 * length rule, or why it has none (step_block settles which). */
static bool lg_push_block_noted(lg_walker *w, uint32_t frame, const mp_type *pointee,
				uint64_t p, uint64_t len, const char *note)
{
	if (!p)
		return true;
	lg_work item = {.addr = p, .a = len, .b = (uint64_t)(uintptr_t)note,
			.type = pointee, .frame = frame, .kind = LG_W_BLOCK};
	return lg_push(w, &item);
}

/* ------------------------------------------------------------ plans */

static bool is_string_char(const mp_type *t)
{
	if (mp_type_kind(t) != MP_TYPE_BASE || mp_type_size(t) != 1)
		return false;
	unsigned e = mp_type_encoding(t);
	const char *name = mp_type_name(t);
	return e == ATE_SIGNED_CHAR || (e == ATE_UNSIGNED_CHAR && name &&
					strcmp(name, "char") == 0);
}

static bool add_leaf(lg_walker *w, uint32_t node, uint64_t bytes)
{
	if (!bytes)
		return true;
	if (!MP_ARRAY_RESERVE(w->leaves, w->leaves_cap, w->n_leaves + 1))
		return false;
	w->leaves[w->n_leaves].node = node;
	w->leaves[w->n_leaves].bytes = bytes;
	w->n_leaves++;
	return true;
}

static bool add_entry(lg_walker *w, const lg_entry *e)
{
	if (!MP_ARRAY_RESERVE(w->entries, w->entries_cap, w->n_entries + 1))
		return false;
	w->entries[w->n_entries++] = *e;
	return true;
}

static uint64_t array_elements(const mp_type *t)
{
	if (mp_type_array_flexible(t))
		return 0;
	uint64_t n = 1;
	size_t dims = mp_type_array_dimension_count(t);
	for (size_t i = 0; i < dims; i++) {
		uint64_t d = mp_type_array_dimension(t, i);
		if (d && n > UINT64_MAX / d)
			return 0;
		n *= d;
	}
	return dims ? n : 0;
}

/* The innermost element type of a (multi-dimensional) array, stripped. */
static const mp_type *array_element(const mp_type *t)
{
	const mp_type *e = mp_type_target(t);
	for (int i = 0; i < 8 && e && mp_type_kind(mp_type_strip(e)) == MP_TYPE_ARRAY; i++)
		e = mp_type_target(mp_type_strip(e));
	return e ? mp_type_strip(e) : NULL;
}

static const char *member_frame_name(lg_walker *w, const mp_type_member *m)
{
	if (m->name && *m->name)
		return intern(w, m->name);
	if (m->is_base)
		return type_frame_name(w, mp_type_strip(m->type));
	return intern(w, "[anonymous]");
}

/* ------------------------------------------------------------ hints */

/* A type named by a hint ("void": raw bytes, *out NULL); false, with a
 * warning naming the hint's line, when the target has no such type. */
static bool hint_type(lg_walker *w, const mp_hint *h, const mp_type **out)
{
	*out = NULL;
	if (strcmp(h->target_type, "void") == 0)
		return true;
	const mp_type *t = NULL;
	mp_error *e = mp_type_find(w->target, h->target_type, &t);
	if (e) {
		mp_warnings_add(&w->warnings, "hint %s: %s", h->where, mp_error_message(e));
		mp_error_free(e);
		return false;
	}
	*out = mp_type_strip(t);
	return true;
}

/* Says once per type which of its hints name no member of it. */
static void check_type_hints(lg_walker *w, const mp_type *t, const char *key)
{
	for (size_t i = 0; i < w->n_hints_checked; i++)
		if (w->hints_checked[i] == t)
			return;
	if (!MP_ARRAY_RESERVE(w->hints_checked, w->hints_checked_cap, w->n_hints_checked + 1))
		return;
	w->hints_checked[w->n_hints_checked++] = t;
	const mp_hints *hints = w->target->hints;
	for (size_t i = 0; i < mp_hints_count(hints); i++) {
		const mp_hint *h = mp_hints_hint_at(hints, i);
		if (strcmp(h->type, key) != 0)
			continue;
		size_t n = mp_type_member_count(t), k = 0;
		while (k < n && strcmp(mp_type_member_at(t, k)->name, h->member) != 0)
			k++;
		if (k == n)
			mp_warnings_add(&w->warnings, "hint %s: %s has no member '%s'", h->where,
					mp_type_name(t), h->member);
	}
}

/* The integer member of record named by a hint, for a length, capacity or
 * tag; NULL (and a warning) when there is none. */
static const mp_type_member *hint_field(lg_walker *w, const mp_type *record, const mp_hint *h,
					const char *name, const char *what)
{
	const mp_type_member *m = mp_length_member(record, name);
	if (!m) {
		/* A tag may be an enum: an integer as well. */
		size_t n = mp_type_member_count(record);
		for (size_t i = 0; i < n; i++) {
			const mp_type_member *c = mp_type_member_at(record, i);
			if (c->type && !c->bit_size && c->size >= 1 && c->size <= 8 &&
			    strcmp(c->name, name) == 0 &&
			    mp_type_kind(mp_type_strip(c->type)) == MP_TYPE_ENUM)
				m = c;
		}
	}
	if (!m)
		mp_warnings_add(&w->warnings, "hint %s: %s has no integer member '%s' for %s",
				h->where, mp_type_name(record), name, what);
	return m;
}

/* A hinted union member: its tag and arms, resolved once; false (and a
 * warning) when the hint does not fit the types. */
static bool plan_union(lg_walker *w, const mp_type *record, const mp_type *u, uint32_t node,
		       const mp_hint *h, lg_entry *e)
{
	const mp_type_member *tag = hint_field(w, record, h, h->tag_field, "a union tag");
	if (!tag)
		return false;
	const mp_type *tt = mp_type_strip(tag->type);
	e->kind = ENT_UNION;
	e->tag_offset = tag->offset;
	e->tag_size = (uint32_t)tag->size;
	e->tag_signed = mp_type_kind(tt) == MP_TYPE_ENUM || mp_type_encoding(tt) == 5 ||
			mp_type_encoding(tt) == 6;
	e->first_arm = (uint32_t)w->n_arms;
	for (size_t i = 0; i < h->n_arms; i++) {
		const mp_hint_arm *a = &h->arms[i];
		int64_t value = a->value;
		if (a->value_name) {
			size_t n = mp_type_enumerator_count(tt), k = 0;
			while (k < n && strcmp(mp_type_enumerator_at(tt, k)->name, a->value_name) != 0)
				k++;
			if (k == n) {
				mp_warnings_add(&w->warnings, "hint %s: '%s' is no enumerator of %s",
						h->where, a->value_name, mp_type_name(tag->type));
				continue;
			}
			value = mp_type_enumerator_at(tt, k)->value;
		}
		size_t n = mp_type_member_count(u), k = 0;
		while (k < n && strcmp(mp_type_member_at(u, k)->name, a->member) != 0)
			k++;
		if (k == n) {
			mp_warnings_add(&w->warnings, "hint %s: %s has no member '%s'", h->where,
					mp_type_name(u), a->member);
			continue;
		}
		const mp_type_member *am = mp_type_member_at(u, k);
		if (!am->type || am->offset + am->size > mp_type_size(u))
			continue;
		if (!MP_ARRAY_RESERVE(w->arms, w->arms_cap, w->n_arms + 1)) {
			w->nomem = true;
			return false;
		}
		w->arms[w->n_arms++] = (lg_arm){value, am->offset, am->type,
						child_interned(w, node, intern(w, am->name))};
	}
	e->n_arms = (uint32_t)(w->n_arms - e->first_arm);
	return e->n_arms > 0;
}

/* Member m (type mt, frame node) of record under hint h: fills e and
 * *leaf (the bytes its frame gets per object) and returns true when the
 * hint decides how it is walked; *entry says whether e is work.  False
 * leaves the member to the rules without hints. */
static bool plan_hinted(lg_walker *w, const mp_type *record, const mp_type_member *m,
			const mp_type *mt, uint32_t node, const mp_hint *h, uint64_t bytes,
			lg_entry *e, uint64_t *leaf, bool *entry)
{
	char note[600];
	enum mp_type_kind k = mp_type_kind(mt);
	bool pointer = is_pointer_kind(k) && !m->bit_size && m->size == 8;
	*leaf = bytes;
	*entry = false;
	if (h->flags & MP_HINT_BORROWED) {
		snprintf(note, sizeof(note), "borrowed: counted by its owner, not here (hint %s)",
			 h->where);
		w->frames[node].pub.length_from = intern(w, note);
		return true;
	}
	if (h->flags & MP_HINT_UNION) {
		if (k != MP_TYPE_UNION) {
			mp_warnings_add(&w->warnings, "hint %s: %s.%s is not a union", h->where,
					mp_type_name(record), m->name);
			return false;
		}
		if (!plan_union(w, record, mt, node, h, e))
			return false;
		e->offset = m->offset;
		e->type = mt;
		e->node = node;
		*leaf = 0;   /* the active member and the rest, per object */
		*entry = true;
		return true;
	}
	if (h->flags & MP_HINT_LINK) {
		const mp_type *node_type;
		if (!hint_type(w, h, &node_type) || !node_type || !is_record(node_type))
			return false;
		uint64_t minus = h->link_offset, inner = 0;
		const mp_type *ft;
		if (h->link_member && !lg_find_field(node_type, h->link_member, &minus, &ft)) {
			mp_warnings_add(&w->warnings, "hint %s: %s has no member '%s'", h->where,
					mp_type_name(node_type), h->link_member);
			return false;
		}
		/* An embedded link (struct list_head) is followed by its `next`,
		 * else its first pointer. */
		if (!pointer && is_record(mt) && !lg_find_pointer(mt, "next", &inner, &ft)) {
			size_t n = mp_type_member_count(mt), i = 0;
			while (i < n && !is_pointer_kind(mp_type_kind(mp_type_strip(
					mp_type_member_at(mt, i)->type))))
				i++;
			if (i == n) {
				mp_warnings_add(&w->warnings, "hint %s: %s.%s holds no pointer to link "
						"by", h->where, mp_type_name(record), m->name);
				return false;
			}
			inner = mp_type_member_at(mt, i)->offset;
		} else if (!pointer && !is_record(mt)) {
			mp_warnings_add(&w->warnings, "hint %s: %s.%s is neither a pointer nor a "
					"struct holding one", h->where, mp_type_name(record), m->name);
			return false;
		}
		e->kind = ENT_POINTER;
		e->offset = m->offset + inner;
		e->type = node_type;
		e->node = node;
		e->link_minus = minus;
		snprintf(note, sizeof(note), "single element: intrusive link to %s (hint %s)",
			 mp_type_name(node_type), h->where);
		e->why_single = e->len_from = intern(w, note);
		*entry = true;
		return true;
	}
	if (!pointer) {
		mp_warnings_add(&w->warnings, "hint %s: %s.%s is not a pointer", h->where,
				mp_type_name(record), m->name);
		return false;
	}
	const mp_type *pointee = mp_type_target(mt);
	e->kind = ENT_POINTER;
	e->offset = m->offset;
	e->type = pointee ? mp_type_strip(pointee) : NULL;
	e->node = node;
	snprintf(note, sizeof(note), "single element: no length (hint %s)", h->where);
	e->why_single = intern(w, note);
	if ((h->flags & MP_HINT_POINTS_TO) && hint_type(w, h, &pointee))
		e->type = pointee;
	bool has_length = h->flags & MP_HINT_LENGTH;
	const char *field = has_length ? h->length_field : h->capacity_field;
	uint64_t count = has_length ? h->length_count : h->capacity_count;
	if (h->flags & MP_HINT_STRING) {
		e->string = true;
		snprintf(note, sizeof(note), "string (strlen + 1, hint %s)", h->where);
		e->len_from = intern(w, note);
	} else if (has_length || (h->flags & MP_HINT_CAPACITY)) {
		const char *what = has_length ? "length" : "capacity";
		const mp_type_member *f = field ? hint_field(w, record, h, field, what) : NULL;
		if (field && !f)
			return true;
		if (f) {
			e->len_offset = f->offset;
			e->len_size = (uint32_t)f->size;
			e->len_rule = LR_FIXED;
			snprintf(note, sizeof(note), "hint %s %s (%s)", what, field, h->where);
		} else {
			e->len_const = count;
			e->len_rule = LR_CONST;
			snprintf(note, sizeof(note), "hint %s %" PRIu64 " (%s)", what, count, h->where);
		}
		e->len_from = intern(w, note);
	} else if (!e->type) {
		snprintf(note, sizeof(note), "block size (hint %s)", h->where);
		e->len_from = e->why_single = intern(w, note);
	}
	*entry = true;
	return true;
}

/* Builds the plan of struct type t entered in frame. */
static lg_plan *build_plan(lg_walker *w, uint32_t frame, const mp_type *t, size_t slot)
{
	if (!MP_ARRAY_RESERVE(w->plans, w->plans_cap, w->n_plans + 1))
		return NULL;
	uint64_t size = mp_type_size(t);
	size_t n = mp_type_member_count(t);
	size_t first_leaf = w->n_leaves, first_entry = w->n_entries;
	uint64_t covered = 0, padding = 0;
	/* The generic length (len, count, ...) and capacity, and the pointers
	 * that may take it (length_rules.h): with one candidate it is that
	 * pointer's; with several, each object's blocks decide (LR_PICK). */
	const mp_type_member *generic = mp_length_generic(t);
	const mp_type_member *capacity = generic ? mp_length_capacity(t) : NULL;
	size_t first_candidate = w->n_candidates, n_candidates = 0;
	for (size_t i = 0; generic && i < n; i++) {
		const mp_type_member *m = mp_type_member_at(t, i);
		if (!mp_length_candidate(t, m))
			continue;
		const mp_type *pointee = mp_type_strip(mp_type_target(mp_type_strip(m->type)));
		uint64_t es = pointee && mp_type_is_complete(pointee) ? mp_type_size(pointee) : 0;
		if (!MP_ARRAY_RESERVE(w->candidates, w->candidates_cap, w->n_candidates + 1)) {
			w->nomem = true;
			return NULL;
		}
		w->candidates[w->n_candidates].offset = m->offset;
		w->candidates[w->n_candidates].element_size = es ? es : 1;
		w->n_candidates++;
		n_candidates++;
	}
	char note[512];
	/* Hints for t's members (hints.h), found once per plan. */
	const mp_hints *hints = w->target->hints;
	char hint_key[512] = "";
	if (hints && mp_type_name(t))
		mp_hints_type_key(mp_type_name(t), hint_key, sizeof(hint_key));
	bool hinted = hint_key[0] && mp_hints_has_type(hints, hint_key);
	if (hinted)
		check_type_hints(w, t, hint_key);
	size_t chain_from = 0;  /* entries that fold into an ancestor go last */
	lg_entry *chain = NULL;
	size_t n_chain = 0, chain_cap = 0;
	bool ok = true;
	for (size_t i = 0; ok && i < n; i++) {
		const mp_type_member *m = mp_type_member_at(t, i);
		if (!m || !m->type || m->is_virtual_base)
			continue;
		const mp_type *mt = mp_type_strip(m->type);
		enum mp_type_kind k = mp_type_kind(mt);
		/* Empty classes (bases, tags) take no bytes of their own here; a
		 * byte they do occupy is padding. */
		if ((k == MP_TYPE_STRUCT || k == MP_TYPE_CLASS) && !has_members(mt))
			continue;
		uint64_t start = m->offset;
		uint64_t end = m->bit_size
				       ? m->offset + (m->bit_offset + m->bit_size + 7) / 8
				       : m->offset + m->size;
		if (start > size)
			start = size;
		if (end > size)
			end = size;
		if (start > covered)
			padding += start - covered;
		uint64_t from = start > covered ? start : covered;
		uint64_t bytes = end > from ? end - from : 0;
		if (end > covered)
			covered = end;
		lg_entry e = {.offset = m->offset, .type = mt};
		const mp_hint *hint = hinted ? mp_hints_find(hints, hint_key, m->name) : NULL;
		uint64_t hint_leaf;
		bool hint_entry;
		if (hint && plan_hinted(w, t, m, mt, child_interned(w, frame, member_frame_name(w, m)),
					hint, bytes, &e, &hint_leaf, &hint_entry)) {
			ok = add_leaf(w, child_interned(w, frame, member_frame_name(w, m)), hint_leaf);
			if (ok && hint_entry && e.kind == ENT_POINTER && e.type && is_record(e.type) &&
			    find_ancestor(w, frame, e.type) != LG_NONE) {
				if (!MP_ARRAY_RESERVE(chain, chain_cap, n_chain + 1))
					ok = false;
				else
					chain[n_chain++] = e;
			} else if (ok && hint_entry) {
				ok = add_entry(w, &e);
			}
			continue;
		}
		e = (lg_entry){.offset = m->offset, .type = mt};
		if ((k == MP_TYPE_STRUCT || k == MP_TYPE_CLASS) && !m->bit_size &&
		    has_members(mt) && bytes == m->size) {
			/* Anonymous structs are flattened into this frame. */
			e.kind = ENT_VALUE;
			e.node = (!m->name || !*m->name) && !m->is_base
					 ? frame
					 : child_interned(w, frame, member_frame_name(w, m));
			ok = add_entry(w, &e);
			continue;
		}
		uint32_t node = child_interned(w, frame, member_frame_name(w, m));
		ok = add_leaf(w, node, bytes);
		if (is_pointer_kind(k) && !m->bit_size && m->size == 8) {
			const mp_type *pointee = mp_type_target(mt);
			e.kind = ENT_POINTER;
			e.type = pointee ? mp_type_strip(pointee) : NULL;
			e.node = node;
			const mp_type_member *len = mp_length_sibling(t, m->name);
			e.why_single = intern(w, "single element: no length field");
			if (len) {
				snprintf(note, sizeof(note), "sibling %s", len->name);
			} else if (generic && mp_length_candidate(t, m)) {
				len = generic;
				if (n_candidates == 1) {
					snprintf(note, sizeof(note), "generic %s (the only pointer "
						 "that can take it)", generic->name);
				} else {
					const char *cap = capacity ? capacity->name : NULL;
					e.len_rule = LR_PICK;
					e.first_candidate = (uint32_t)first_candidate;
					e.n_candidates = (uint32_t)n_candidates;
					for (size_t c = 0; c < n_candidates; c++)
						if (w->candidates[first_candidate + c].offset == m->offset)
							e.self = (uint32_t)c;
					if (capacity) {
						e.cap_offset = capacity->offset;
						e.cap_size = (uint32_t)capacity->size;
					}
					snprintf(note, sizeof(note), "single element: its block "
						 "cannot hold %s elements", cap ? cap : generic->name);
					e.why_no_fit = intern(w, note);
					snprintf(note, sizeof(note), "single element: more than one "
						 "pointer's block fits generic %s", generic->name);
					e.why_several = intern(w, note);
					snprintf(note, sizeof(note), "single element: %s > %s, not a "
						 "length and its capacity", generic->name,
						 cap ? cap : "?");
					e.why_over = intern(w, note);
					snprintf(note, sizeof(note), "generic %s (the only pointer "
						 "whose block fits%s%s)", generic->name,
						 cap ? ", bounded by " : "", cap ? cap : "");
				}
			} else if (generic) {
				snprintf(note, sizeof(note), "single element: not a candidate "
					 "for generic %s (a string, or a link to its own type)",
					 generic->name);
				e.why_single = intern(w, note);
			}
			if (len) {
				e.len_offset = len->offset;
				e.len_size = (uint32_t)len->size;
				if (e.len_rule == LR_NONE)
					e.len_rule = LR_FIXED;
				e.len_from = intern(w, note);
			}
			bool folds = e.type && is_record(e.type) &&
				     find_ancestor(w, frame, e.type) != LG_NONE;
			if (folds) {
				if (!MP_ARRAY_RESERVE(chain, chain_cap, n_chain + 1))
					ok = false;
				else
					chain[n_chain++] = e;
			} else {
				ok = add_entry(w, &e);
			}
		} else if (k == MP_TYPE_ARRAY && bytes == m->size) {
			const mp_type *el = array_element(mt);
			uint64_t count = array_elements(mt);
			if (el && count && needs_walk(el) && mp_type_size(el) * count <= bytes) {
				/* The bytes are counted by the elements. */
				w->leaves[w->n_leaves - 1].bytes = 0;
				e.kind = ENT_ARRAY;
				e.type = el;
				e.count = count;
				e.node = lg_enter(w, node, el);
				ok = add_entry(w, &e);
			}
		}
	}
	for (size_t i = 0; ok && i < n_chain; i++)
		ok = add_entry(w, &chain[i]);
	(void)chain_from;
	free(chain);
	if (ok && size > covered)
		padding += size - covered;
	if (ok && padding)
		ok = add_leaf(w, child_interned(w, frame, w->padding_name), padding);
	if (!ok) {
		w->nomem = true;
		return NULL;
	}
	lg_plan *p = &w->plans[w->n_plans];
	p->frame = frame;
	p->type = t;
	p->visits = 0;
	p->first_leaf = first_leaf;
	p->n_leaves = w->n_leaves - first_leaf;
	p->first_entry = first_entry;
	p->n_entries = w->n_entries - first_entry;
	w->plan_index.slots[slot] = (uint32_t)w->n_plans++;
	if (++w->plan_index.used * 2 > w->plan_index.mask &&
	    !table_grow(w, &w->plan_index, plan_hash_of)) {
		w->nomem = true;
		return NULL;
	}
	return &w->plans[w->n_plans - 1];
}

static size_t get_plan(lg_walker *w, uint32_t frame, const mp_type *t)
{
	size_t k = plan_hash(frame, t) & w->plan_index.mask;
	for (;;) {
		uint32_t i = w->plan_index.slots[k];
		if (i == LG_NONE)
			break;
		if (w->plans[i].frame == frame && w->plans[i].type == t)
			return i;
		k = (k + 1) & w->plan_index.mask;
	}
	lg_plan *p = build_plan(w, frame, t, k);
	return p ? (size_t)(p - w->plans) : SIZE_MAX;
}

/* ------------------------------------------------------------ steps */

static void unreadable(lg_walker *w, uint32_t frame)
{
	uint32_t c = child_interned(w, frame, w->unreadable_name);
	w->frames[c].pub.count++;
}

/* A Rust enum (variant part): the active variant's struct, the rest of the
 * enum's bytes as "[tag]". */
static void visit_variants(lg_walker *w, uint32_t frame, const mp_type *t, uint64_t addr)
{
	uint64_t size = mp_type_size(t);
	uint8_t buffer[4096];
	if (size > sizeof(buffer)) {
		lg_add(w, frame, size);
		return;
	}
	if (!lg_read(w, addr, buffer, size, mp_type_name(t))) {
		lg_add(w, frame, size);
		unreadable(w, frame);
		return;
	}
	const mp_type_variant *v = mp_type_active_variant(t, buffer, size);
	if (!v || !v->type) {
		lg_add(w, child_interned(w, frame, intern(w, "[unknown-variant]")), size);
		return;
	}
	const mp_type *vt = mp_type_strip(v->type);
	uint64_t vsize = mp_type_size(vt);
	if (v->offset + vsize > size)
		vsize = v->offset < size ? size - v->offset : 0;
	/* Option<T> is transparent: Some(x) walks x in the option's frame. */
	bool option = type_name_starts(t, "core::option::Option<");
	if (option && v->name && strcmp(v->name, "None") == 0) {
		lg_add(w, frame, size);
		return;
	}
	if (option && mp_type_member_count(vt) == 1) {
		const mp_type_member *m = mp_type_member_at(vt, 0);
		if (m && m->type && v->offset + m->offset + m->size <= size) {
			lg_add(w, frame, size - m->size);
			lg_push_value(w, frame, m->type, addr + v->offset + m->offset);
			return;
		}
	}
	uint32_t vf = option ? frame
			     : child_interned(w, frame, intern(w, v->name && *v->name ? v->name : "[variant]"));
	if (size > vsize) {
		uint32_t tag = child_interned(w, frame, intern(w, "[tag]"));
		lg_add(w, tag, size - vsize);
	}
	if (vsize)
		lg_push_value(w, vf, vt, addr + v->offset);
}

/* The registry's class of t (containers.h), remembered per type. */
static const mp_container_class *container_class(lg_walker *w, const mp_type *t)
{
	size_t k = type_hash(t) & w->container_index.mask;
	for (;;) {
		uint32_t i = w->container_index.slots[k];
		if (i == LG_NONE)
			break;
		if (w->container_types[i] == t)
			return w->container_classes[i];
		k = (k + 1) & w->container_index.mask;
	}
	const mp_container_class *found = mp_container_class_of(t);
	size_t cap = w->container_cap;
	if (!MP_ARRAY_RESERVE(w->container_types, w->container_cap, w->n_container + 1) ||
	    !MP_ARRAY_RESERVE(w->container_classes, cap, w->n_container + 1)) {
		w->nomem = true;
		return found;
	}
	w->container_types[w->n_container] = t;
	w->container_classes[w->n_container] = found;
	w->container_index.slots[k] = (uint32_t)w->n_container++;
	if (++w->container_index.used * 2 > w->container_index.mask &&
	    !table_grow(w, &w->container_index, container_hash_of))
		w->nomem = true;
	return found;
}

static void visit_struct(lg_walker *w, uint32_t frame, const mp_type *t, uint64_t addr)
{
	w->stats.objects++;
	if (w->frames[frame].pub.depth >= w->max_depth) {
		lg_add(w, child_interned(w, frame, w->depth_name), mp_type_size(t));
		lg_mark_partial(w, "%s at 0x%" PRIx64 " is beyond --max-depth %" PRIu32 " and counted whole",
				mp_type_name(t), addr, w->max_depth);
		return;
	}
	if (!w->frames[frame].object_type)
		w->frames[frame].object_type = t;
	const mp_container_class *container = container_class(w, t);
	if (container && container->walk && container->walk(w, frame, t, addr))
		return;
	if (mp_type_variant_count(t) > 0) {
		visit_variants(w, frame, t, addr);
		return;
	}
	size_t plan = get_plan(w, frame, t);
	if (plan == SIZE_MAX)
		return;
	lg_plan *p = &w->plans[plan];
	p->visits++;
	if (p->n_entries) {
		lg_work item = {.addr = addr, .a = 0, .b = plan, .type = t,
				.frame = frame, .kind = LG_W_STRUCT};
		lg_push(w, &item);
	}
}

static void visit_value(lg_walker *w, uint32_t frame, const mp_type *type, uint64_t addr)
{
	const mp_type *t = mp_type_strip(type);
	enum mp_type_kind k = mp_type_kind(t);
	uint64_t size = mp_type_size(t);
	if ((k == MP_TYPE_STRUCT || k == MP_TYPE_CLASS) && has_members(t)) {
		visit_struct(w, frame, t, addr);
	} else if (is_pointer_kind(k) && size == 8) {
		lg_add(w, frame, 8);
		uint64_t p;
		if (!lg_read_word(w, addr, &p)) {
			unreadable(w, frame);
			return;
		}
		const mp_type *pointee = mp_type_target(t);
		lg_push_block(w, frame, pointee ? mp_type_strip(pointee) : NULL, p, LG_UNKNOWN_LEN);
	} else if (k == MP_TYPE_ARRAY) {
		const mp_type *el = array_element(t);
		uint64_t count = array_elements(t);
		if (el && count && mp_type_size(el) * count <= size) {
			uint32_t ef = needs_walk(el) ? lg_enter(w, frame, el) : frame;
			lg_push_array(w, ef, el, addr, count);
			lg_add(w, frame, size - mp_type_size(el) * count);
		} else {
			lg_add(w, frame, size);
		}
	} else {
		lg_add(w, frame, size);
	}
}

/* The generic length len of the object at addr goes to entry e's pointer
 * only when its block is the one candidate's block that fits it (and the
 * capacity): else *len is unknown.  The note for the member's frame. */
static const char *pick_length(lg_walker *w, const lg_entry *e, uint64_t addr,
			       uint64_t *len)
{
	uint64_t cap = 0;
	if (e->cap_size && !lg_read(w, addr + e->cap_offset, &cap, e->cap_size, "a capacity")) {
		*len = LG_UNKNOWN_LEN;
		return e->why_single;
	}
	mp_length_block blocks[16];
	size_t n = e->n_candidates < 16 ? e->n_candidates : 16;
	for (size_t i = 0; i < n; i++) {
		const lg_candidate *c = &w->candidates[e->first_candidate + i];
		uint64_t p = 0, start = 0;
		blocks[i].element_size = c->element_size;
		blocks[i].usable = 0;
		if (lg_read_word(w, addr + c->offset, &p) && p) {
			uint64_t usable = lg_block_of(w, p, &start);
			if (usable && start == p)
				blocks[i].usable = usable;
		}
	}
	size_t index = SIZE_MAX;
	enum mp_length_verdict v = mp_length_pick(*len, e->cap_size != 0, cap, blocks, n, &index);
	uint64_t need = e->cap_size ? cap : *len;
	bool self_fits = e->self < n && blocks[e->self].usable &&
			 need <= blocks[e->self].usable / blocks[e->self].element_size;
	if (v == MP_LENGTH_ONE_FITS && index == e->self)
		return e->len_from;
	*len = LG_UNKNOWN_LEN;
	if (v == MP_LENGTH_OVER_CAPACITY)
		return e->why_over;
	return self_fits ? e->why_several : e->why_no_fit;
}

static void run_entry(lg_walker *w, lg_entry e, uint64_t addr);

/* A hinted union of the struct at addr: the member its tag names is
 * walked in its own frame, the union's other bytes are "[padding]"; a tag
 * value no hint names leaves the union one leaf, as without hints. */
static void visit_union(lg_walker *w, const lg_entry *e, uint64_t addr)
{
	uint64_t size = mp_type_size(e->type), raw = 0;
	if (!lg_read(w, addr + e->tag_offset, &raw, e->tag_size, "a union tag")) {
		lg_add(w, e->node, size);
		unreadable(w, e->node);
		return;
	}
	int64_t tag = (int64_t)raw;
	if (e->tag_signed && e->tag_size < 8 && (raw >> (e->tag_size * 8 - 1)) & 1)
		tag = (int64_t)(raw | (~UINT64_C(0) << (e->tag_size * 8)));
	for (uint32_t i = 0; i < e->n_arms; i++) {
		const lg_arm *a = &w->arms[e->first_arm + i];
		if (a->value != tag)
			continue;
		uint64_t used = mp_type_size(a->type);
		if (size > used)
			lg_add(w, child_interned(w, e->node, w->padding_name), size - used);
		visit_value(w, a->node, a->type, addr + e->offset + a->offset);
		return;
	}
	lg_add(w, e->node, size);
}

static void step_struct(lg_walker *w, lg_work *item)
{
	const lg_plan *p = &w->plans[item->b];
	size_t index = (size_t)item->a;
	if (index >= p->n_entries)
		return;
	lg_entry e = w->entries[p->first_entry + index];
	uint64_t addr = item->addr;
	if (index + 1 < p->n_entries) {
		item->a++;
		lg_push(w, item);
	}
	run_entry(w, e, addr);
}

/* One compound member (plan entry e) of the struct at addr. */
static void run_entry(lg_walker *w, lg_entry e, uint64_t addr)
{
	switch (e.kind) {
	case ENT_VALUE:
		visit_value(w, e.node, e.type, addr + e.offset);
		break;
	case ENT_ARRAY:
		lg_push_array(w, e.node, e.type, addr + e.offset, e.count);
		break;
	case ENT_POINTER: {
		uint64_t ptr;
		if (!lg_read_word(w, addr + e.offset, &ptr)) {
			unreadable(w, e.node);
			break;
		}
		/* An intrusive link points into its node (container_of). */
		if (!ptr || ptr < e.link_minus)
			break;
		ptr -= e.link_minus;
		uint64_t len = e.string ? LG_STRING_LEN : LG_UNKNOWN_LEN;
		const char *note = e.string ? e.len_from : e.why_single;
		if (e.len_rule == LR_CONST) {
			len = e.len_const;
			note = e.len_from;
		} else if (e.len_size) {
			uint64_t value = 0;
			if (!lg_read(w, addr + e.len_offset, &value, e.len_size, "a length")) {
				unreadable(w, e.node);
				break;
			}
			len = value;
			note = e.len_from;
			if (e.len_rule == LR_PICK)
				note = pick_length(w, &e, addr, &len);
		}
		lg_push_block_noted(w, e.node, e.type, ptr, len, note);
		break;
	}
	case ENT_UNION:
		visit_union(w, &e, addr);
		break;
	}
}

static void step_array(lg_walker *w, lg_work *item)
{
	const mp_type *el = item->type;
	uint64_t size = mp_type_size(el);
	enum mp_type_kind k = mp_type_kind(el);
	if (is_pointer_kind(k)) {
		/* Pointers in batches: follow the next one that leads somewhere. */
		const mp_type *pointee = mp_type_target(el);
		pointee = pointee ? mp_type_strip(pointee) : NULL;
		uint64_t words[64];
		while (item->a < item->b) {
			uint64_t n = item->b - item->a;
			if (n > 64)
				n = 64;
			if (!lg_read(w, item->addr + item->a * 8, words, n * 8, "pointers")) {
				unreadable(w, item->frame);
				return;
			}
			for (uint64_t i = 0; i < n; i++) {
				if (!words[i])
					continue;
				item->a += i + 1;
				if (item->a < item->b)
					lg_push(w, item);
				lg_push_block(w, item->frame, pointee, words[i], LG_UNKNOWN_LEN);
				return;
			}
			item->a += n;
		}
		return;
	}
	if (item->a >= item->b)
		return;
	uint64_t addr = item->addr + item->a * size;
	item->a++;
	if (item->a < item->b)
		lg_push(w, item);
	visit_value(w, item->frame, el, addr);
}

/* Reads the NUL-terminated string at p within usable bytes: strlen + 1, or
 * the usable size when there is no NUL. */
static uint64_t string_bytes(lg_walker *w, uint64_t p, uint64_t usable, bool *ok)
{
	char buffer[256];
	uint64_t done = 0;
	*ok = true;
	while (done < usable) {
		size_t n = usable - done < sizeof(buffer) ? (size_t)(usable - done) : sizeof(buffer);
		mp_error *e = mp_target_read(w->target, p + done, buffer, n);
		if (e) {
			mp_error_free(e);
			*ok = false;
			return usable;
		}
		const char *nul = memchr(buffer, 0, n);
		if (nul)
			return done + (uint64_t)(nul - buffer) + 1;
		done += n;
	}
	return usable;
}

/* A struct ending in a flexible array member with a length sibling
 * (`uint32_t payload_len; char payload[];`): the elements in use, at most
 * room bytes, counted in the member's frame. */
typedef struct flex_info {
	bool has;
	const char *name;
	const mp_type *element;
	uint64_t offset, len_offset;
	uint32_t len_size;
} flex_info;

static uint64_t flexible_bytes(lg_walker *w, uint32_t frame, const mp_type *t,
			       uint64_t p, uint64_t room)
{
	bool fresh;
	flex_info *fi = lg_memo(w, t, LG_MEMO_FLEX, sizeof(flex_info), &fresh);
	if (!fi)
		return 0;
	if (fresh) {
		size_t n = mp_type_member_count(t);
		const mp_type_member *last = n ? mp_type_member_at(t, n - 1) : NULL;
		const mp_type *lt = last && last->type ? mp_type_strip(last->type) : NULL;
		if (lt && mp_type_kind(lt) == MP_TYPE_ARRAY && mp_type_array_flexible(lt)) {
			const mp_type_member *len = mp_length_sibling(t, last->name);
			const mp_type *el = array_element(lt);
			if (len && el && mp_type_size(el)) {
				fi->has = true;
				fi->name = last->name;
				fi->element = el;
				fi->offset = last->offset;
				fi->len_offset = len->offset;
				fi->len_size = (uint32_t)len->size;
			}
		}
	}
	if (!fi->has || !room)
		return 0;
	uint64_t len = 0;
	if (!lg_read(w, p + fi->len_offset, &len, fi->len_size, "a length"))
		return 0;
	uint64_t esize = mp_type_size(fi->element);
	uint64_t bytes = len <= room / esize ? len * esize : room / esize * esize;
	if (bytes)
		lg_add(w, lg_child(w, frame, fi->name && *fi->name ? fi->name : "[flexible]"), bytes);
	return bytes;
}

/* Reports on a pointer member's frame the rule that sized its block. */
static void note_length(lg_walker *w, uint32_t frame, const char *note)
{
	lg_frame *f = &w->frames[frame];
	if (!note || f->pub.length_from == note)
		return;
	if (f->pub.length_from)
		f->pub.length_mixed = true;
	else
		f->pub.length_from = note;
}

/* A NUL-terminated string at p in a block of usable bytes (a char *, or a
 * pointer a hint calls a string). */
static void count_string(lg_walker *w, uint32_t frame, const mp_type *e, uint64_t p,
			 uint64_t usable, const char *note)
{
	/* A hint's note says which line made it a string. */
	if (note)
		note_length(w, frame, strncmp(note, "string", 6) == 0 ? note
								 : intern(w, "string (strlen + 1)"));
	bool ok;
	uint64_t bytes = string_bytes(w, p, usable, &ok);
	uint32_t sf = child_interned(w, frame, e && is_string_char(e) ? type_frame_name(w, e)
								    : intern(w, "char"));
	lg_add(w, sf, bytes);
	lg_add_unused(w, frame, usable - bytes);
	if (!ok) {
		unreadable(w, sf);
		lg_mark_partial(w, "cannot read the string at 0x%" PRIx64, p);
	}
}

static void step_block(lg_walker *w, lg_work *item)
{
	uint32_t frame = item->frame;
	uint64_t p = item->addr, len = item->a;
	const mp_type *e = item->type;
	bool string = len == LG_STRING_LEN;
	if (string)
		len = LG_UNKNOWN_LEN;
	/* Only a struct's pointer members carry a note: their frames report
	 * how the length was found. */
	const char *note = (const char *)(uintptr_t)item->b;
	uint64_t usable = lg_claim(w, frame, p);
	if (!usable)
		return;
	w->stats.objects++;
	if (lg_too_deep(w, frame)) {
		lg_add(w, child_interned(w, frame, w->depth_name), usable);
		if (!w->partial)
			lg_mark_partial(w, "stopped at --max-depth %" PRIu32 " (block at 0x%" PRIx64 ")",
					w->max_depth, p);
		w->partial = true;
		return;
	}
	enum mp_type_kind k = e ? mp_type_kind(e) : MP_TYPE_VOID;
	uint64_t esize = e ? mp_type_size(e) : 0;
	bool complete = e && mp_type_is_complete(e) && k != MP_TYPE_FUNCTION &&
			k != MP_TYPE_VOID && k != MP_TYPE_INVALID;
	if (len != LG_UNKNOWN_LEN && (k == MP_TYPE_VOID || !complete || !esize))
		esize = 1;  /* void *data with a size: bytes */
	/* A length that does not fit the block is not this pointer's length
	 * (list_len beside a list head): a struct pointee is then one object. */
	if (len != LG_UNKNOWN_LEN && esize && len > usable / esize && is_record(e)) {
		len = LG_UNKNOWN_LEN;
		if (note) {
			char text[512];
			snprintf(text, sizeof(text), "single element: %s does not fit its block", note);
			note = intern(w, text);
		}
	}
	if (len != LG_UNKNOWN_LEN && esize) {
		if (note)
			note_length(w, frame, note);
		uint64_t n = len <= usable / esize ? len : usable / esize;
		if (n < len)
			lg_mark_partial(w, "length %" PRIu64 " of %s array at 0x%" PRIx64
					" exceeds its block (%" PRIu64 " bytes)", len,
					e ? mp_type_name(e) : "void", p, usable);
		lg_add_unused(w, frame, usable - n * esize);
		if (!n)
			return;
		if (!complete) {
			lg_add(w, child_interned(w, frame, intern(w, e ? type_frame_name(w, e) : "void")), n);
			return;
		}
		uint32_t ef = lg_enter(w, frame, e);
		lg_push_array(w, ef, e, p, n);
		return;
	}
	if (string || is_string_char(e)) {
		count_string(w, frame, e, p, usable, note);
		return;
	}
	if (!complete || !esize || k == MP_TYPE_UNION) {
		if (note)
			note_length(w, frame, intern(w, k == MP_TYPE_UNION ? "single element (a union)"
								   : "block size"));
		const char *name = e ? type_frame_name(w, e) : "void";
		if (k == MP_TYPE_UNION && esize && esize <= usable) {
			lg_add(w, child_interned(w, frame, name), esize);
			lg_add_unused(w, frame, usable - esize);
		} else {
			lg_add(w, child_interned(w, frame, name), usable);
		}
		return;
	}
	if (is_record(e)) {
		if (note)
			note_length(w, frame, note);
		if (esize > usable) {
			lg_add(w, child_interned(w, frame, type_frame_name(w, e)), usable);
			lg_mark_partial(w, "%s (%" PRIu64 " bytes) does not fit its block at 0x%"
					PRIx64 " (%" PRIu64 " bytes)", mp_type_name(e), esize, p,
					usable);
			return;
		}
		uint32_t of = lg_enter(w, frame, e);
		uint64_t flex = flexible_bytes(w, of, e, p, usable - esize);
		lg_add_unused(w, frame, usable - esize - flex);
		visit_value(w, of, e, p);
		return;
	}
	/* A pointer to a scalar or pointer without a length: the block is an
	 * array of as many elements as fit. */
	if (note)
		note_length(w, frame, intern(w, "block size"));
	uint64_t n = usable / esize;
	uint32_t ef = lg_enter(w, frame, e);
	lg_push_array(w, ef, e, p, n);
	lg_add(w, ef, usable - n * esize);
}

/* ------------------------------------------------------------ the walk */

static void finalize(lg_walker *w)
{
	for (size_t i = 0; i < w->n_plans; i++) {
		const lg_plan *p = &w->plans[i];
		if (!p->visits)
			continue;
		for (size_t k = 0; k < p->n_leaves; k++) {
			const lg_leaf *l = &w->leaves[p->first_leaf + k];
			w->frames[l->node].pub.logical += l->bytes * p->visits;
			w->frames[l->node].pub.allocated += l->bytes * p->visits;
		}
	}
	/* Subtree sums (children come after their parents); moving self bytes
	 * to "[inline]" below does not change them. */
	size_t n = w->n_frames;
	for (size_t i = 0; i < n; i++) {
		lg_frame *f = &w->frames[i];
		f->sum_logical = f->pub.logical;
		f->sum_allocated = f->pub.allocated;
		f->sum_count = f->pub.count;
	}
	for (size_t i = n; i-- > 1;) {
		lg_frame *f = &w->frames[i];
		lg_frame *parent = &w->frames[f->pub.parent];
		parent->sum_logical += f->sum_logical;
		parent->sum_allocated += f->sum_allocated;
		parent->sum_count += f->sum_count;
		if (f->sum_logical || f->sum_allocated || f->sum_count)
			parent->has_children = true;
	}
	/* Only leaves carry bytes: a followed pointer's own bytes move to a
	 * child "[inline]". */
	for (size_t i = 0; i < n; i++) {
		lg_frame *f = &w->frames[i];
		if (!f->has_children || !(f->pub.logical || f->pub.allocated || f->pub.count))
			continue;
		uint32_t c = child_interned(w, (uint32_t)i, w->inline_name);
		f = &w->frames[i];
		if (c == i)
			break;
		lg_frame *leaf = &w->frames[c];
		leaf->pub.logical += f->pub.logical;
		leaf->pub.allocated += f->pub.allocated;
		leaf->pub.count += f->pub.count;
		leaf->sum_logical = leaf->pub.logical;
		leaf->sum_allocated = leaf->pub.allocated;
		leaf->sum_count = leaf->pub.count;
		f->pub.logical = f->pub.allocated = f->pub.count = 0;
	}
	w->stats.work_bytes = w->frames_cap * sizeof(lg_frame) +
			      w->work_cap * sizeof(lg_work) + w->n_chunks / 8 + 1 +
			      w->plans_cap * sizeof(lg_plan) + w->leaves_cap * sizeof(lg_leaf) +
			      w->entries_cap * sizeof(lg_entry) +
			      (w->children.mask + w->plan_index.mask + w->name_index.mask +
			       w->type_names.mask + 4) * sizeof(uint32_t);
}

static void walker_free(lg_walker *w)
{
	free(w->frames);
	free(w->children.slots);
	for (size_t i = 0; i < w->n_names; i++)
		free(w->names[i]);
	free(w->names);
	free(w->name_index.slots);
	free(w->name_types);
	free(w->name_of_type);
	free(w->type_names.slots);
	free(w->plans);
	free(w->plan_index.slots);
	free(w->leaves);
	free(w->entries);
	free(w->candidates);
	free(w->arms);
	free(w->hints_checked);
	free(w->work);
	free(w->visited);
	free(w->container_types);
	free(w->container_classes);
	free(w->container_index.slots);
	for (size_t i = 0; i < w->n_memos; i++)
		free(w->memos[i]);
	free(w->memos);
	free(w->memo_index.slots);
	mp_warnings_free(&w->warnings);
}

void mp_logical_free(mp_logical *l)
{
	if (!l)
		return;
	walker_free(&l->w);
	free(l);
}

/* Only member name of the struct t at addr, in its frame below root: a
 * pointer member keeps the length its struct gives it (`registry.items`
 * is the 100 items, not the first one). */
static mp_error *visit_member(lg_walker *w, uint32_t root, const mp_type *t, uint64_t addr,
			      const char *name)
{
	if (!is_record(t) && mp_type_kind(t) != MP_TYPE_UNION)
		return mp_error_new(MP_ERR_USAGE, "%s is not a struct: no member %s",
				    mp_type_name(t), name);
	size_t plan = get_plan(w, root, t);
	if (plan == SIZE_MAX)
		return mp_error_nomem();
	const lg_plan *p = &w->plans[plan];
	const char *interned = intern(w, name);
	bool found = false;
	for (size_t i = 0; i < p->n_leaves; i++) {
		const lg_leaf *leaf = &w->leaves[p->first_leaf + i];
		if (w->frames[leaf->node].pub.name == interned &&
		    w->frames[leaf->node].pub.parent == root) {
			lg_add(w, leaf->node, leaf->bytes);
			found = true;
		}
	}
	for (size_t i = 0; i < p->n_entries; i++) {
		lg_entry e = w->entries[p->first_entry + i];
		/* An inline array's entry sits on its elements' frame. */
		uint32_t node = e.kind == ENT_ARRAY ? w->frames[e.node].pub.parent : e.node;
		if (node != LG_NONE && w->frames[node].pub.name == interned &&
		    w->frames[node].pub.parent == root) {
			run_entry(w, e, addr);
			found = true;
		}
	}
	if (!found)
		return mp_error_new(MP_ERR_NOT_FOUND, "%s has no member %s of its own (a member "
				    "of an anonymous struct or a base is walked by its own path)",
				    mp_type_name(t), name);
	return NULL;
}

mp_error *mp_logical_walk(mp_target *target, const mp_heap *heap,
			  uint64_t address, const mp_type *type,
			  const char *root_name, const mp_logical_options *options,
			  mp_logical **out)
{
	*out = NULL;
	const mp_type *t = mp_type_strip(type);
	if (!t || mp_type_kind(t) == MP_TYPE_INVALID)
		return mp_error_new(MP_ERR_FORMAT, "cannot walk %s: %s",
				    type ? mp_type_name(type) : "a missing type",
				    type && mp_type_error(type) ? mp_type_error(type) : "no type");
	if (!mp_type_is_complete(t) && mp_type_kind(t) != MP_TYPE_ARRAY)
		return mp_error_new(MP_ERR_NOT_FOUND, "cannot walk %s at 0x%" PRIx64
				    ": the type is incomplete (a declaration only)",
				    mp_type_name(type), address);
	uint64_t size = mp_type_size(t);
	if (size) {
		/* The root's bytes must be readable. */
		uint8_t probe[1];
		mp_error *e = mp_target_read(target, address, probe, 1);
		if (!e && size > 1)
			e = mp_target_read(target, address + size - 1, probe, 1);
		if (e)
			return mp_error_prefix(e, "cannot read %s at 0x%" PRIx64,
					       mp_type_name(type), address);
	}
	mp_logical *l = calloc(1, sizeof(*l));
	if (!l)
		return mp_error_nomem();
	lg_walker *w = &l->w;
	w->target = target;
	w->heap = heap;
	if (options)
		w->options = *options;
	w->max_depth = w->options.max_depth ? w->options.max_depth : DEFAULT_MAX_DEPTH;
	w->n_chunks = heap ? mp_heap_chunk_count(heap) : 0;
	w->visited = calloc(w->n_chunks / 8 + 1, 1);
	if (!w->visited || !table_init(&w->children, 256) || !table_init(&w->name_index, 256) ||
	    !table_init(&w->type_names, 64) || !table_init(&w->plan_index, 64) ||
	    !table_init(&w->container_index, 64) || !table_init(&w->memo_index, 64)) {
		mp_logical_free(l);
		return mp_error_nomem();
	}
	w->inline_name = intern(w, "[inline]");
	w->unused_name = intern(w, "[unused]");
	w->padding_name = intern(w, "[padding]");
	w->unreadable_name = intern(w, "[unreadable]");
	w->depth_name = intern(w, "[max-depth]");
	char name[512];
	mp_logical_frame_name(root_name ? root_name : mp_type_name(type), name, sizeof(name));
	if (root_name && strncmp(root_name, "struct ", 7) != 0) {
		/* A variable's name is kept as it is, spaces aside. */
		size_t n = 0;
		for (const char *s = root_name; *s && n + 1 < sizeof(name); s++)
			if (*s != ' ')
				name[n++] = *s == ';' ? ':' : *s;
		name[n] = '\0';
	}
	uint32_t root = child_interned(w, LG_NONE, intern(w, name));
	if (w->nomem) {
		mp_logical_free(l);
		return mp_error_nomem();
	}
	w->stats.objects = 1;
	if (w->options.member) {
		mp_error *e = visit_member(w, root, t, address, w->options.member);
		if (e) {
			mp_logical_free(l);
			return e;
		}
	} else {
		visit_value(w, root, t, address);
	}
	w->stats.objects--;
	uint64_t polls = 0;
	/* The objects reachable are not known before the walk: a count and a
	 * rate, no share. */
	mp_progress_begin("logical walk", "objects", 0);
	while (w->n_work && !w->nomem) {
		lg_work item = w->work[--w->n_work];
		if ((++polls & 0xffff) == 0)
			mp_progress_update(w->stats.objects);
		if ((polls & 0xffff) == 0 && w->options.interrupted &&
		    w->options.interrupted(w->options.context)) {
			mp_progress_end();
			mp_logical_free(l);
			return mp_error_new(MP_ERR_INTERRUPTED, "logical walk interrupted");
		}
		switch (item.kind & 0xff) {
		case LG_W_VALUE:
			visit_value(w, item.frame, item.type, item.addr);
			break;
		case LG_W_STRUCT:
			step_struct(w, &item);
			break;
		case LG_W_ARRAY:
			step_array(w, &item);
			break;
		case LG_W_BLOCK:
			step_block(w, &item);
			break;
		case LG_W_CONTAINER:
			mp_container_step(w, &item);
			break;
		}
	}
	mp_progress_end();
	if (w->nomem) {
		mp_logical_free(l);
		return mp_error_new(MP_ERR_NOMEM, "out of memory walking %s at 0x%" PRIx64,
				    mp_type_name(type), address);
	}
	mp_error *gone = mp_target_check_alive(target);
	if (gone) {
		mp_logical_free(l);
		return gone;
	}
	finalize(w);
	*out = l;
	return NULL;
}

/* ------------------------------------------------------------ results */

size_t mp_logical_node_count(const mp_logical *l)
{
	return l->w.n_frames;
}

const mp_logical_node *mp_logical_node_at(const mp_logical *l, size_t index)
{
	return index < l->w.n_frames ? &l->w.frames[index].pub : NULL;
}

void mp_logical_subtree(const mp_logical *l, size_t index, uint64_t *logical_bytes,
			uint64_t *allocated, uint64_t *count)
{
	const lg_frame *f = &l->w.frames[index];
	*logical_bytes = f->sum_logical;
	*allocated = f->sum_allocated;
	*count = f->sum_count;
}

bool mp_logical_partial(const mp_logical *l)
{
	return l->w.partial;
}

size_t mp_logical_warning_count(const mp_logical *l)
{
	return mp_warnings_count(&l->w.warnings);
}

const char *mp_logical_warning(const mp_logical *l, size_t index)
{
	return mp_warnings_at(&l->w.warnings, index);
}

const mp_logical_stats *mp_logical_get_stats(const mp_logical *l)
{
	return &l->w.stats;
}

/* ------------------------------------------------------------ helpers */

/* Breadth-first over members, base classes and Rust variants (bounded);
 * want_pointer: only members of pointer type match. */
static bool find_member(const mp_type *type, const char *name, bool want_pointer,
			uint64_t *offset, const mp_type **field_type)
{
	struct { const mp_type *t; uint64_t off; } queue[48];
	size_t head = 0, tail = 0;
	queue[tail].t = mp_type_strip(type);
	queue[tail++].off = 0;
	while (head < tail) {
		const mp_type *t = queue[head].t;
		uint64_t base = queue[head++].off;
		size_t n = mp_type_member_count(t);
		for (size_t i = 0; i < n; i++) {
			const mp_type_member *m = mp_type_member_at(t, i);
			if (!m || !m->name || strcmp(m->name, name) != 0 || !m->type)
				continue;
			const mp_type *mt = mp_type_strip(m->type);
			if (want_pointer && !is_pointer_kind(mp_type_kind(mt)))
				continue;
			*offset = base + m->offset;
			*field_type = mt;
			return true;
		}
		for (size_t i = 0; i < n && tail < 48; i++) {
			const mp_type_member *m = mp_type_member_at(t, i);
			if (!m || !m->type || m->is_virtual_base)
				continue;
			const mp_type *mt = mp_type_strip(m->type);
			enum mp_type_kind k = mp_type_kind(mt);
			if (k == MP_TYPE_STRUCT || k == MP_TYPE_CLASS || k == MP_TYPE_UNION) {
				queue[tail].t = mt;
				queue[tail++].off = base + m->offset;
			}
		}
		size_t nv = mp_type_variant_count(t);
		for (size_t i = 0; i < nv && tail < 48; i++) {
			const mp_type_variant *v = mp_type_variant_at(t, i);
			if (v && v->type) {
				queue[tail].t = mp_type_strip(v->type);
				queue[tail++].off = base + v->offset;
			}
		}
	}
	return false;
}

bool lg_find_field(const mp_type *type, const char *name, uint64_t *offset,
		   const mp_type **field_type)
{
	return find_member(type, name, false, offset, field_type);
}

bool lg_find_pointer(const mp_type *type, const char *name, uint64_t *offset,
		     const mp_type **pointee)
{
	const mp_type *pt;
	if (!find_member(type, name, true, offset, &pt))
		return false;
	const mp_type *target = mp_type_target(pt);
	*pointee = target ? mp_type_strip(target) : NULL;
	return true;
}

typedef struct fields_memo {
	const char *const *names;
	bool found;
	uint64_t offsets[8];
} fields_memo;

bool lg_fields(lg_walker *w, const mp_type *type, const char *const *names,
	       size_t n, uint64_t *offsets)
{
	bool fresh;
	if (n > 8)
		return false;
	/* Keyed by the type and the names array (a handler's static list). */
	fields_memo *m = lg_memo(w, type, LG_MEMO_FIELDS + (int)((uintptr_t)names % 65521) * 4,
				 sizeof(fields_memo), &fresh);
	if (!m)
		return false;
	if (fresh || m->names != names) {
		m->names = names;
		m->found = true;
		for (size_t i = 0; i < n && m->found; i++) {
			const mp_type *ft;
			m->found = names[i][0] == '*'
					   ? lg_find_pointer(type, names[i] + 1, &m->offsets[i], &ft)
					   : lg_find_field(type, names[i], &m->offsets[i], &ft);
		}
	}
	if (m->found)
		memcpy(offsets, m->offsets, n * sizeof(*offsets));
	return m->found;
}

mp_target *lg_target(lg_walker *w)
{
	return w->target;
}

static uint64_t memo_hash(const void *key, int kind)
{
	return mix((uint64_t)(uintptr_t)key * 7 + (uint64_t)kind);
}

static uint64_t memo_hash_of(lg_walker *w, uint32_t index)
{
	return memo_hash(w->memos[index]->key, w->memos[index]->kind);
}

void *lg_memo(lg_walker *w, const void *key, int kind, size_t size, bool *fresh)
{
	size_t k = memo_hash(key, kind) & w->memo_index.mask;
	for (;;) {
		uint32_t i = w->memo_index.slots[k];
		if (i == LG_NONE)
			break;
		if (w->memos[i]->key == key && w->memos[i]->kind == kind) {
			*fresh = false;
			return w->memos[i]->data;
		}
		k = (k + 1) & w->memo_index.mask;
	}
	lg_memo_entry *e = calloc(1, sizeof(*e) + size);
	if (!e || !MP_ARRAY_RESERVE(w->memos, w->memos_cap, w->n_memos + 1)) {
		free(e);
		w->nomem = true;
		return NULL;
	}
	e->key = key;
	e->kind = kind;
	w->memos[w->n_memos] = e;
	w->memo_index.slots[k] = (uint32_t)w->n_memos++;
	if (++w->memo_index.used * 2 > w->memo_index.mask &&
	    !table_grow(w, &w->memo_index, memo_hash_of)) {
		w->nomem = true;
		return NULL;
	}
	*fresh = true;
	return e->data;
}

