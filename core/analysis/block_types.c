/* Types of heap blocks from DWARF.  Typed roots: every global and static
 * variable of the main program, every frame variable a debugger handed
 * over (mp_target_add_frame_variable), and the locals and parameters of
 * the main program's frames in every thread (stack_roots.h), which the
 * debuggers' variables come before: a block keeps the first type offered.  A pointer member whose value is the
 * start of a block gives that block the pointee's type, and the block's own
 * pointer members are followed the same way.  The walk is a work list of
 * (address, type) bounded in objects and in members per object: no
 * recursion, whatever the data looks like.
 *
 * Lost blocks no typed root reaches are then typed by shape: a block whose
 * size class is that of exactly one struct of the main program, whose
 * pointer slots hold only null, block starts or addresses in mappings, at
 * least one of them a block start, is of that struct (when several structs
 * fit, the one whose pointer slots lead to blocks of their pointees' size
 * class wins, if only one does: the nodes of a lost cycle point at nodes).
 * Such a block's typed pointers then type what they reach, as a root's do.
 */
#include "block_types.h"
#include "block_window.h"
#include "scratch.h"
#include "stack_roots.h"

#include <ctype.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "array.h"
#include "containers.h"
#include "dwarf/types.h"
#include "hints.h"
#include "error.h"
#include "progress.h"
#include "heap/heap_internal.h"
#include "target/target_internal.h"
#include "type_names.h"
#include "text.h"

enum {
	MAX_OBJECTS = 1000 * 1000,       /* typed objects visited */
	MAX_SLOTS = 4096,                /* pointer slots looked at per object */
	MAX_NESTING = 64,                /* inline struct and array levels */
	MAX_ARRAY = 1024,                /* inline array elements looked at */
	MAX_VARIANT_DEPTH = 8,           /* Rust enums inside active variants */
	MAX_SHAPE_BYTES = 4096,          /* blocks typed by shape: at most this usable */
};

/* A typed block whose pointers are still to follow: 8 bytes, as a large
 * heap queues a million of them.  Its address is its chunk's user address
 * (only block starts are typed). */
typedef struct object {
	uint32_t chunk;
	uint32_t type;                  /* index into the typing's table */
} object;

/* A struct a lost block may be: sorted by the usable size malloc gives a
 * request of its size. */
typedef struct shape_candidate {
	uint64_t usable;
	const mp_type *type;
} shape_candidate;

typedef struct typer {
	mp_target *t;
	const mp_heap *h;
	mp_block_typing *typing;        /* per chunk: type and evidence */
	struct type_index {
		const mp_type *type;
		uint32_t index;
	} *indices;                     /* open addressing: type -> table index */
	size_t indices_capacity;
	struct type_index last;         /* the last type looked up: runs of one type */
	uint8_t current_evidence;       /* what offer() gives the blocks it types */
	object *queue;
	size_t head, tail, capacity;
	size_t visited;
	bool nomem;
	const mp_module *main_module;    /* where frame variables' and node types are found */
	const mp_type *leaf_node, *internal_node;   /* the last Rust B-tree pair looked up */
	struct plan *plans;              /* per type: its pointer slots */
	size_t plans_capacity, plans_used;
	shape_candidate *candidates;     /* the main program's structs, for shapes */
	size_t n_candidates, candidates_capacity;
} typer;

static bool is_node_base(const mp_type *type);
static const mp_type *btree_node_of_size(typer *ty, const mp_type *node, uint64_t usable);

static const mp_type *type_at(const typer *ty, size_t i)
{
	return mp_block_typing_type(ty->typing, i);
}

/* The table index of type, added when new; 0 when out of memory.  Past
 * MP_TYPING_NARROW_TYPES types the codes widen to 32 bits. */
static uint32_t index_of(typer *ty, const mp_type *type)
{
	mp_block_typing *t = ty->typing;
	if (ty->last.type == type && type)
		return ty->last.index;
	if (2 * (t->n_table + 1) > ty->indices_capacity) {
		size_t grown = ty->indices_capacity ? 2 * ty->indices_capacity : 64;
		struct type_index *table = calloc(grown, sizeof(*table));
		if (!table)
			return 0;
		for (size_t i = 0; i < ty->indices_capacity; i++) {
			if (!ty->indices[i].type)
				continue;
			size_t j = ((uintptr_t)ty->indices[i].type >> 4) & (grown - 1);
			while (table[j].type)
				j = (j + 1) & (grown - 1);
			table[j] = ty->indices[i];
		}
		free(ty->indices);
		ty->indices = table;
		ty->indices_capacity = grown;
	}
	size_t mask = ty->indices_capacity - 1;
	size_t j = ((uintptr_t)type >> 4) & mask;
	while (ty->indices[j].type && ty->indices[j].type != type)
		j = (j + 1) & mask;
	if (ty->indices[j].type) {
		ty->last = ty->indices[j];
		return ty->indices[j].index;
	}
	if (t->n_table >= UINT32_MAX >> 2 ||
	    !MP_ARRAY_RESERVE(t->table, t->table_capacity, t->n_table + 1))
		return 0;
	uint32_t index = (uint32_t)t->n_table;
	if (index > MP_TYPING_NARROW_TYPES && !t->wide) {
		t->wide = mp_scratch_alloc(t->n_chunks * sizeof(*t->wide));
		if (!t->wide)
			return 0;
		for (size_t i = 0; i < t->n_chunks; i++)
			t->wide[i] = t->narrow[i];
		mp_scratch_free(t->narrow, t->n_chunks * sizeof(*t->narrow));
		t->narrow = NULL;
	}
	t->table[t->n_table++] = type;
	ty->indices[j] = (struct type_index){type, index};
	ty->last = ty->indices[j];
	return index;
}

/* Gives chunk i its type; the type's table index, or 0 when out of memory. */
static uint32_t set_type(typer *ty, size_t i, const mp_type *type, uint8_t evidence)
{
	uint32_t index = index_of(ty, type);
	if (!index) {
		ty->nomem = true;
		return 0;
	}
	uint32_t code = index << 2 | evidence;
	if (ty->typing->wide)
		ty->typing->wide[i] = code;
	else
		ty->typing->narrow[i] = (uint16_t)code;
	return index;
}

static bool contradicted(typer *ty, const heap_chunk *c, const mp_type *type)
{
	uint8_t bytes[MAX_SHAPE_BYTES];
	uint64_t usable = heap_chunk_usable(ty->h, c);
	size_t length = usable < sizeof(bytes) ? (size_t)usable : sizeof(bytes);
	mp_error *err = heap_read(ty->h, ty->t, heap_chunk_user(ty->h, c), bytes, length);
	if (err) {
		mp_error_free(err);
		return false;
	}
	return mp_block_contradicts_type(ty->t, type, bytes, length);
}

/* A pointer to a block's first byte gives the block the pointee type. */
static void offer(typer *ty, uint64_t value, const mp_type *pointee)
{
	if (!pointee)
		return;
	const mp_type *p = mp_type_strip(pointee);
	enum mp_type_kind k = p ? mp_type_kind(p) : MP_TYPE_INVALID;
	/* Records, arrays of pointers (`struct entry **buckets`), whose
	 * elements are followed in turn, and arrays of numbers (a
	 * std::vector<int>'s buffer).  Bytes are left to the string test. */
	bool numbers = (k == MP_TYPE_BASE || k == MP_TYPE_ENUM) && mp_type_size(p) > 1;
	if (k != MP_TYPE_STRUCT && k != MP_TYPE_CLASS && k != MP_TYPE_UNION &&
	    k != MP_TYPE_POINTER && !numbers)
		return;
	ptrdiff_t i = mp_heap_find_chunk(ty->h, value);
	/* A block first reached as a libstdc++ node base gets its node type
	 * when a pointer that knows it leads there too. */
	const mp_type *had = i >= 0 ? type_at(ty, (size_t)i) : NULL;
	if (i < 0 || (had && !(is_node_base(had) && !is_node_base(p))))
		return;
	const heap_chunk *c = &ty->h->chunks[i];
	if (heap_chunk_user(ty->h, c) != value || !heap_chunk_usable(ty->h, c))
		return;
	p = btree_node_of_size(ty, p, heap_chunk_usable(ty->h, c));
	/* What a shape guess's pointers reach is a guess too: a stale pointer
	 * in a guessed block may lead to a string. */
	if (ty->current_evidence == MP_EVIDENCE_SHAPE && contradicted(ty, c, p))
		return;
	uint32_t index = set_type(ty, (size_t)i, p, ty->current_evidence);
	if (!index || ty->visited >= MAX_OBJECTS)
		return;
	if (!MP_ARRAY_RESERVE(ty->queue, ty->capacity, ty->tail + 1)) {
		ty->nomem = true;
		return;
	}
	ty->queue[ty->tail++] = (object){(uint32_t)i, index};
	ty->visited++;
}

static bool is_maybe_uninit(const mp_type *type)
{
	return type_name_starts(type, "core::mem::maybe_uninit::MaybeUninit<");
}

/* Whether a member of this type can hold a pointer to follow: scalars and
 * arrays of scalars (a 1000-byte char buffer) are skipped whole. */
static bool may_hold_pointers(const mp_type *type)
{
	const mp_type *t = mp_type_strip(type);
	for (int depth = 0; t && mp_type_kind(t) == MP_TYPE_ARRAY && depth < 8; depth++)
		t = mp_type_strip(mp_type_target(t));
	if (!t)
		return false;
	switch (mp_type_kind(t)) {
	case MP_TYPE_POINTER:
	case MP_TYPE_STRUCT:
	case MP_TYPE_CLASS:
		return true;
	case MP_TYPE_UNION:
		/* Unions are one leaf, as the logical walk treats them, but for
		 * Rust's MaybeUninit<T>, which holds a T. */
		return is_maybe_uninit(t);
	default:
		return false;
	}
}

typedef struct slot {
	uint64_t offset;
	const mp_type *type;
	unsigned depth;
	const mp_type *node;       /* the node type of the container around */
	const mp_type *element;    /* the element type of the Rust Vec around */
} slot;

/* libstdc++'s node containers link their nodes through base classes: the
 * pointers say std::_Rb_tree_node_base, the blocks are _Rb_tree_node<V>.
 * The node type of a map/set tree, list or hash table base, from the
 * container registry's node spelling (alternatives separated by '|'), or
 * NULL. */
static const mp_type *node_type_of(typer *ty, const mp_type *container)
{
	const mp_container_class *c = mp_container_class_of(container);
	if (!c || !c->node_prefix || !ty->main_module)
		return NULL;
	const mp_type *value = type_template_type(container, c->value_index);
	const char *value_name = value ? mp_type_name(value) : NULL;
	if (!value_name)
		return NULL;
	for (const char *prefix = c->node_prefix; *prefix;) {
		size_t prefix_length = strcspn(prefix, "|");
		for (const char *suffix = c->node_suffix; *suffix;) {
			size_t suffix_length = strcspn(suffix, "|");
			/* GCC separates closing brackets: "X<pair<int, Y<char> > >". */
			size_t length = strlen(value_name);
			const char *gap = length && value_name[length - 1] == '>' &&
					  suffix[0] == '>' ? " " : "";
			char name[1024];
			int n = snprintf(name, sizeof(name), "%.*s%s%s%.*s", (int)prefix_length,
					 prefix, value_name, gap, (int)suffix_length, suffix);
			const mp_type *node = NULL;
			if (n > 0 && (size_t)n < sizeof(name)) {
				mp_error *err = mp_type_find_in_module(ty->t, ty->main_module, name,
								       &node);
				if (!err)
					return node;
				mp_error_free(err);
			}
			suffix += suffix_length + (suffix[suffix_length] == '|');
		}
		prefix += prefix_length + (prefix[prefix_length] == '|');
	}
	return NULL;
}

static bool is_node_base(const mp_type *type)
{
	return mp_container_is_node_base(type);
}

/* Rust's B-tree links every node as NonNull<LeafNode<K, V>>; the nodes
 * above the leaves are InternalNode<K, V>, a LeafNode followed by the
 * child links, so a block large enough for one is one. */
static const mp_type *btree_node_of_size(typer *ty, const mp_type *node, uint64_t usable)
{
	static const char leaf[] = "alloc::collections::btree::node::LeafNode<";
	if (!type_name_starts(node, leaf) || !ty->main_module)
		return node;
	if (node != ty->leaf_node) {
		char name[1024];
		int n = snprintf(name, sizeof(name), "alloc::collections::btree::node::InternalNode<%s",
				 mp_type_name(node) + strlen(leaf));
		const mp_type *internal = NULL;
		if (n > 0 && (size_t)n < sizeof(name)) {
			mp_error *err = mp_type_find_in_module(ty->t, ty->main_module, name, &internal);
			mp_error_free(err);
		}
		ty->leaf_node = node;
		ty->internal_node = internal;
	}
	return ty->internal_node && usable >= mp_type_size(ty->internal_node) ? ty->internal_node
									      : node;
}

/* Where an object of a type keeps pointers worth following: computed once
 * per type (inline structs and arrays flattened, bounded), then every
 * object of the type is a loop over these offsets. */
typedef struct pointer_slot {
	uint64_t offset;
	const mp_type *pointee;
	uint64_t minus;            /* an intrusive link (hint): the node starts here before */
} pointer_slot;

/* A Rust enum inside the type: which variant holds data is known only
 * from each object's bytes. */
typedef struct variant_slot {
	uint64_t offset;
	const mp_type *type;
} variant_slot;

typedef struct plan {
	const mp_type *type;       /* NULL: empty table slot */
	pointer_slot *slots;
	size_t count;
	variant_slot *variants;
	size_t n_variants;
	/* A libstdc++/libc++ node base: a block reached as one is one node,
	 * never an array of them (the rest of the block is the node's value,
	 * whose words are no links). */
	bool node_base;
} plan;

static void free_plans(typer *ty)
{
	for (size_t i = 0; i < ty->plans_capacity; i++) {
		free(ty->plans[i].slots);
		free(ty->plans[i].variants);
	}
	free(ty->plans);
}

/* A pointer member's slot in the plan; st is its stripped type. */
static bool add_pointer_slot(plan *p, size_t *capacity, const slot *s, const mp_type *st)
{
	const mp_type *pointee = mp_type_target(st);
	const mp_type *stripped = mp_type_strip(pointee);
	if (s->node && stripped && is_node_base(stripped))
		pointee = s->node;
	/* Rust's RawVec keeps its buffer as a pointer to u8. */
	if (s->element && stripped && type_name_is(stripped, "u8"))
		pointee = s->element;
	if (!MP_ARRAY_RESERVE(p->slots, *capacity, p->count + 1))
		return false;
	p->slots[p->count++] = (pointer_slot){s->offset, pointee, 0};
	return true;
}

/* A member of record st at offset that a `points-to` or `link` hint
 * (hints.h) types: its slot is added and true returned; false leaves the
 * member to DWARF. */
static bool add_hinted_slot(typer *ty, plan *p, size_t *capacity, const mp_type *st,
			    const mp_type_member *member, uint64_t offset, bool *failed)
{
	char key[512];
	const mp_hints *hints = ty->t->hints;
	if (!hints || !mp_type_name(st) || !member->name)
		return false;
	mp_hints_type_key(mp_type_name(st), key, sizeof(key));
	const mp_hint *h = mp_hints_find(hints, key, member->name);
	const mp_type *target = NULL;
	if (!h || !(h->flags & (MP_HINT_POINTS_TO | MP_HINT_LINK)) ||
	    strcmp(h->target_type, "void") == 0)
		return false;
	mp_error *err = mp_type_find(ty->t, h->target_type, &target);
	if (err) {
		mp_error_free(err);   /* the logical walk warns about it */
		return false;
	}
	target = mp_type_strip(target);
	const mp_type *mt = mp_type_strip(member->type);
	uint64_t minus = h->link_offset, inner = 0;
	for (size_t i = 0; h->link_member && i < mp_type_member_count(target); i++)
		if (strcmp(mp_type_member_at(target, i)->name, h->link_member) == 0)
			minus = mp_type_member_at(target, i)->offset;
	if (mp_type_kind(mt) != MP_TYPE_POINTER) {
		/* An embedded link (struct list_head): its next, else its first
		 * pointer. */
		size_t n = mp_type_member_count(mt), first = n, next = n;
		for (size_t i = 0; i < n; i++) {
			const mp_type_member *m = mp_type_member_at(mt, i);
			if (mp_type_kind(mp_type_strip(m->type)) != MP_TYPE_POINTER)
				continue;
			if (first == n)
				first = i;
			if (strcmp(m->name, "next") == 0)
				next = i;
		}
		if (!(h->flags & MP_HINT_LINK) || first == n)
			return false;
		inner = mp_type_member_at(mt, next < n ? next : first)->offset;
	}
	if (!(h->flags & MP_HINT_LINK))
		minus = 0;
	if (!MP_ARRAY_RESERVE(p->slots, *capacity, p->count + 1)) {
		*failed = true;
		return true;
	}
	p->slots[p->count++] = (pointer_slot){offset + inner, target, minus};
	return true;
}

static bool build_plan(typer *ty, plan *p, const mp_type *type)
{
	slot stack[MAX_NESTING * 4];
	size_t depth = 0, looked = 0, capacity = 0, variants_capacity = 0;
	p->type = type;
	p->node_base = is_node_base(mp_type_strip(type));
	/* A node's own links lead to nodes of its type. */
	const mp_type *own_node = mp_container_is_node(type) ? type : NULL;
	stack[depth++] = (slot){0, type, 0, own_node, NULL};
	while (depth && looked < MAX_SLOTS) {
		slot s = stack[--depth];
		looked++;
		const mp_type *st = mp_type_strip(s.type);
		if (!st)
			continue;
		enum mp_type_kind k = mp_type_kind(st);
		if (k == MP_TYPE_POINTER) {
			if (!add_pointer_slot(p, &capacity, &s, st))
				return false;
			continue;
		}
		if (s.depth >= MAX_NESTING)
			continue;
		if (k == MP_TYPE_UNION && is_maybe_uninit(st)) {
			const mp_type *value = type_template_type(st, 0);
			if (value)
				stack[depth++] = (slot){s.offset, value, s.depth + 1, s.node, s.element};
			continue;
		}
		if (k == MP_TYPE_STRUCT || k == MP_TYPE_CLASS) {
			/* A node's value lives in a byte buffer of its type. */
			if (type_name_starts(st, "__gnu_cxx::__aligned_membuf<") ||
			    type_name_starts(st, "__gnu_cxx::__aligned_buffer<")) {
				const mp_type *value = type_template_type(st, 0);
				if (value)
					stack[depth++] = (slot){s.offset, value, s.depth + 1, s.node, s.element};
				continue;
			}
			if (mp_type_variant_count(st) > 0) {
				if (!MP_ARRAY_RESERVE(p->variants, variants_capacity, p->n_variants + 1))
					return false;
				p->variants[p->n_variants++] = (variant_slot){s.offset, st};
				continue;
			}
			const mp_type *node = node_type_of(ty, st);
			if (!node)
				node = s.node;
			const mp_type *element = s.element;
			const mp_container_class *container = mp_container_class_of(st);
			if (container && container->buffer_of_parameter)
				element = type_template_type(st, 0);
			size_t n = mp_type_member_count(st);
			for (size_t m = n; m > 0 && depth < sizeof(stack) / sizeof(stack[0]); m--) {
				const mp_type_member *member = mp_type_member_at(st, m - 1);
				if (member->bit_size || member->is_virtual_base ||
				    !may_hold_pointers(member->type))
					continue;
				bool failed = false;
				if (add_hinted_slot(ty, p, &capacity, st, member, s.offset + member->offset,
						    &failed)) {
					if (failed)
						return false;
					continue;
				}
				stack[depth++] = (slot){s.offset + member->offset, member->type, s.depth + 1,
							node, element};
			}
		} else if (k == MP_TYPE_ARRAY) {
			const mp_type *element = mp_type_target(st);
			if (!may_hold_pointers(element))
				continue;
			uint64_t element_size = element ? mp_type_size(element) : 0;
			uint64_t count = element_size ? mp_type_size(st) / element_size : 0;
			const mp_type *element_st = mp_type_strip(element);
			if (element_st && mp_type_kind(element_st) == MP_TYPE_POINTER) {
				/* Pointers become slots at once: pushed one by one
				 * they would fill the stack (an inline array of 1000
				 * pointers kept 256 of them). */
				for (uint64_t e = 0; e < count && e < MAX_ARRAY && looked < MAX_SLOTS;
				     e++, looked++) {
					slot element_slot = {s.offset + e * element_size, element,
							     s.depth + 1, s.node, s.element};
					if (!add_pointer_slot(p, &capacity, &element_slot, element_st))
						return false;
				}
				continue;
			}
			for (uint64_t e = count < MAX_ARRAY ? count : MAX_ARRAY;
			     e > 0 && depth < sizeof(stack) / sizeof(stack[0]); e--)
				stack[depth++] = (slot){s.offset + (e - 1) * element_size, element,
							s.depth + 1, s.node, s.element};
		}
	}
	return true;
}

/* The plan of a type, from an open-addressing table keyed by handle
 * (handles are unique per type for the target's lifetime). */
static const plan *plan_of(typer *ty, const mp_type *type)
{
	if (2 * (ty->plans_used + 1) > ty->plans_capacity) {
		size_t grown = ty->plans_capacity ? 2 * ty->plans_capacity : 64;
		plan *table = calloc(grown, sizeof(*table));
		if (!table)
			return NULL;
		for (size_t i = 0; i < ty->plans_capacity; i++) {
			if (!ty->plans[i].type)
				continue;
			size_t j = ((uintptr_t)ty->plans[i].type >> 4) & (grown - 1);
			while (table[j].type)
				j = (j + 1) & (grown - 1);
			table[j] = ty->plans[i];
		}
		free(ty->plans);
		ty->plans = table;
		ty->plans_capacity = grown;
	}
	size_t mask = ty->plans_capacity - 1;
	size_t j = ((uintptr_t)type >> 4) & mask;
	while (ty->plans[j].type && ty->plans[j].type != type)
		j = (j + 1) & mask;
	if (!ty->plans[j].type) {
		if (!build_plan(ty, &ty->plans[j], type)) {
			free(ty->plans[j].slots);
			free(ty->plans[j].variants);
			ty->plans[j] = (plan){0};
			return NULL;
		}
		ty->plans_used++;
	}
	return &ty->plans[j];
}

/* Offers every pointer slot of one object of type held in bytes. */
/* Offers every pointer slot of one object of type held in bytes; the
 * active variant of each Rust enum in it is scanned in turn (bounded by
 * the nesting of types, not by the data). */
static void scan_object(typer *ty, const mp_type *type, const uint8_t *bytes, size_t size)
{
	struct {
		const mp_type *type;
		const uint8_t *bytes;
		size_t size;
		unsigned depth;
	} work[MAX_VARIANT_DEPTH * 4];
	size_t pending = 0;
	work[pending++] = (__typeof__(work[0])){type, bytes, size, 0};
	while (pending && !ty->nomem) {
		__typeof__(work[0]) item = work[--pending];
		const plan *p = plan_of(ty, item.type);
		if (!p) {
			ty->nomem = true;
			return;
		}
		for (size_t i = 0; i < p->count; i++) {
			if (p->slots[i].offset + 8 > item.size)
				continue;
			uint64_t value;
			memcpy(&value, item.bytes + p->slots[i].offset, 8);
			if (value >= p->slots[i].minus)
				offer(ty, value - p->slots[i].minus, p->slots[i].pointee);
		}
		for (size_t i = 0; i < p->n_variants && item.depth < MAX_VARIANT_DEPTH; i++) {
			uint64_t offset = p->variants[i].offset;
			uint64_t enum_size = mp_type_size(p->variants[i].type);
			if (offset + enum_size > item.size || pending == sizeof(work) / sizeof(work[0]))
				continue;
			const mp_type_variant *v =
				mp_type_active_variant(p->variants[i].type, item.bytes + offset, enum_size);
			if (!v || !v->type || v->offset >= enum_size)
				continue;
			work[pending++] = (__typeof__(work[0])){v->type, item.bytes + offset + v->offset,
								(size_t)(enum_size - v->offset), item.depth + 1};
		}
	}
}

/* Reads the object of type at address and follows its pointer members. */
static void seed_object(typer *ty, uint64_t address, const mp_type *type)
{
	const mp_type *st = mp_type_strip(type);
	uint64_t size = st ? mp_type_size(st) : 0;
	if (!address || !size || size > (1u << 20))
		return;
	uint8_t *bytes = malloc(size);
	if (!bytes) {
		ty->nomem = true;
		return;
	}
	mp_error *err = mp_target_read(ty->t, address, bytes, size);
	if (!err)
		scan_object(ty, type, bytes, size);
	mp_error_free(err);
	free(bytes);
}

static bool visit_variable(void *context, const mp_variable *v)
{
	typer *ty = context;
	if (v->type)
		seed_object(ty, v->address, v->type);
	return !ty->nomem;
}

/* Whether spelling[begin, end) ends with the keyword word. */
static bool ends_with_keyword(const char *spelling, size_t begin, size_t end, const char *word)
{
	size_t n = strlen(word);
	if (end - begin < n || memcmp(spelling + end - n, word, n) != 0)
		return false;
	char before = end - begin > n ? spelling[end - n - 1] : ' ';
	return !(isalnum((unsigned char)before) || before == '_');
}

/* The named type and pointer depth of a debugger's spelling of a type:
 * "const struct job *const" is `struct job` at depth 1 ("&" and "&&"
 * count as one level, like "*").  False when the name does not fit. */
static bool parse_spelling(const char *spelling, char *base, size_t size, unsigned *depth)
{
	size_t begin = 0, end = strlen(spelling);
	*depth = 0;
	for (;;) {
		while (end > begin && isspace((unsigned char)spelling[end - 1]))
			end--;
		if (end > begin && (spelling[end - 1] == '*' || spelling[end - 1] == '&')) {
			if (spelling[end - 1] == '&' && end - begin > 1 && spelling[end - 2] == '&')
				end--;
			end--;
			(*depth)++;
		} else if (ends_with_keyword(spelling, begin, end, "const")) {
			end -= 5;
		} else if (ends_with_keyword(spelling, begin, end, "volatile")) {
			end -= 8;
		} else {
			break;
		}
	}
	for (;;) {
		while (begin < end && isspace((unsigned char)spelling[begin]))
			begin++;
		if (end - begin > 6 && memcmp(spelling + begin, "const ", 6) == 0)
			begin += 6;
		else if (end - begin > 9 && memcmp(spelling + begin, "volatile ", 9) == 0)
			begin += 9;
		else
			break;
	}
	if (end <= begin || end - begin >= size)
		return false;
	memcpy(base, spelling + begin, end - begin);
	base[end - begin] = '\0';
	return true;
}

/* Frame variables a debugger handed over: a pointer or reference gives its
 * pointee type to the block it holds, a record in memory is followed like
 * a global.  Deeper indirections are left alone. */
static void seed_frame_variables(typer *ty, const mp_module *main_module)
{
	for (size_t i = 0; i < mp_target_frame_variable_count(ty->t) && !ty->nomem; i++) {
		const mp_frame_variable *v = mp_target_frame_variable(ty->t, i);
		char base[512];
		unsigned depth;
		if (!parse_spelling(v->type, base, sizeof(base), &depth) || depth > 1)
			continue;
		const mp_type *type = NULL;
		mp_error *err = mp_type_find_in_module(ty->t, main_module, base, &type);
		if (err) {
			ty->nomem = mp_error_code(err) == MP_ERR_NOMEM;
			mp_error_free(err);
			continue;
		}
		if (depth == 1)
			offer(ty, v->value, type);
		else
			seed_object(ty, v->address, type);
	}
}

/* A local of a frame, as a debugger's frame variable: a pointer or
 * reference gives its pointee type to the block it holds (read from the
 * stack, or the register's value), a record in memory is followed like a
 * global. */
static bool visit_stack_root(void *context, const mp_stack_root *root)
{
	typer *ty = context;
	const mp_type *st = mp_type_strip(root->type);
	enum mp_type_kind k = st ? mp_type_kind(st) : MP_TYPE_INVALID;
	if (k == MP_TYPE_POINTER || k == MP_TYPE_REFERENCE || k == MP_TYPE_RVALUE_REFERENCE) {
		uint64_t value = root->value;
		if (root->in_memory) {
			mp_error *err = mp_target_read(ty->t, root->address, &value, sizeof(value));
			if (err) {
				mp_error_free(err);
				return true;
			}
		}
		offer(ty, value, mp_type_target(st));
	} else if (root->in_memory) {
		seed_object(ty, root->address, root->type);
		mp_block_typing *out = ty->typing;
		if (k == MP_TYPE_STRUCT || k == MP_TYPE_CLASS) {
			if (!MP_ARRAY_RESERVE(out->locals, out->locals_capacity, out->n_locals + 1))
				ty->nomem = true;
			else
				out->locals[out->n_locals++] = (struct mp_typed_local){root->address, st};
		}
	}
	return !ty->nomem;
}

static void drain(typer *ty)
{
	uint8_t *bytes = NULL;
	size_t capacity = 0;
	while (ty->head < ty->tail && !ty->nomem) {
		/* What was followed is dropped from the front now and then: the
		 * queue holds the blocks still to follow, not all ever queued. */
		if (ty->head >= 4096 && 2 * ty->head >= ty->tail) {
			memmove(ty->queue, ty->queue + ty->head, (ty->tail - ty->head) * sizeof(*ty->queue));
			ty->tail -= ty->head;
			ty->head = 0;
		}
		object queued = ty->queue[ty->head++];
		struct {
			uint64_t address;
			const mp_type *type;
		} o = {heap_chunk_user(ty->h, &ty->h->chunks[queued.chunk]),
		       ty->typing->table[queued.type]};
		uint64_t size = mp_type_size(o.type);
		if (!size)
			continue;
		const plan *p = plan_of(ty, o.type);
		if (!p) {
			ty->nomem = true;
			break;
		}
		uint64_t usable = heap_chunk_usable(ty->h, &ty->h->chunks[queued.chunk]);
		/* A pointer used as an array: every element of the block. */
		uint64_t span = usable / size * size;
		if (span > (16u << 20) || p->node_base)
			span = size;
		if (!MP_ARRAY_RESERVE(bytes, capacity, span)) {
			ty->nomem = true;
			break;
		}
		if (heap_read(ty->h, ty->t, o.address, bytes, span) != NULL)
			continue;
		/* Every element: a block of a million pointers types a million
		 * blocks (MAX_OBJECTS bounds the walk, span the block). */
		for (uint64_t at = 0; at + size <= span; at += size)
			scan_object(ty, o.type, bytes + at, size);
	}
	if (ty->head == ty->tail)
		ty->head = ty->tail = 0;
	free(bytes);
}

const char *mp_type_evidence_name(enum mp_type_evidence evidence)
{
	switch (evidence) {
	case MP_EVIDENCE_DWARF: return "dwarf";
	case MP_EVIDENCE_SHAPE: return "shape";
	default: return "";
	}
}

/* Names of the implementation's own types (`struct _IO_FILE`,
 * `__pthread_mutex_s`, std:: internals) and of language runtimes: a
 * program's headers bring them into its DWARF, but its lost blocks are its
 * own structs far more often, and a wrong name misleads more than none. */
static bool implementation_name(const char *name)
{
	static const char *const prefixes[] = {"_", "struct _", "union _", "class _", "std::",
					       "__gnu_cxx::", "core::", "alloc::"};
	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
		if (strncmp(name, prefixes[i], strlen(prefixes[i])) == 0)
			return true;
	return strstr(name, "::_") != NULL;
}

static bool collect_candidate(void *context, const char *name, const mp_type *type)
{
	typer *ty = context;
	const mp_type *st = mp_type_strip(type);
	if (!st || (mp_type_kind(st) != MP_TYPE_STRUCT && mp_type_kind(st) != MP_TYPE_CLASS) ||
	    !mp_type_is_complete(st) || mp_type_size(st) < 8 || implementation_name(name) ||
	    implementation_name(mp_type_name(st)))
		return true;
	/* An anonymous struct is known by its typedef's name. */
	if (strstr(mp_type_name(st), "{...}"))
		st = type;
	if (!MP_ARRAY_RESERVE(ty->candidates, ty->candidates_capacity, ty->n_candidates + 1)) {
		ty->nomem = true;
		return false;
	}
	ty->candidates[ty->n_candidates++] =
		(shape_candidate){heap_usable_for_request(ty->h, mp_type_size(st)), st};
	return true;
}

static int compare_candidates(const void *a, const void *b)
{
	const shape_candidate *x = a, *y = b;
	if (x->usable != y->usable)
		return x->usable < y->usable ? -1 : 1;
	/* The same struct under two names (a tag and a typedef) is one. */
	return (uintptr_t)x->type < (uintptr_t)y->type ? -1 : (uintptr_t)x->type > (uintptr_t)y->type;
}

/* Whether value points into, or just past, a block whose start another
 * pointer slot of the same object holds: a container's end and capacity
 * pointers beside its begin pointer (std::vector, libc++'s deque map). */
static bool inside_sibling_block(typer *ty, const plan *p, const uint8_t *bytes, size_t size,
				 uint64_t value)
{
	for (size_t j = 0; j < p->count; j++) {
		uint64_t start;
		if (p->slots[j].offset + 8 > size)
			continue;
		memcpy(&start, bytes + p->slots[j].offset, 8);
		ptrdiff_t c = start && start < value ? mp_heap_find_chunk(ty->h, start) : -1;
		if (c >= 0 && heap_chunk_user(ty->h, &ty->h->chunks[c]) == start &&
		    value - start <= heap_chunk_usable(ty->h, &ty->h->chunks[c]))
			return true;
	}
	return false;
}

/* How well a block's bytes fit type: -1 when a pointer slot holds a value
 * no pointer of a live program holds (not null, not a block start, not in
 * any mapping, not inside a block a sibling slot starts) or no slot holds
 * a block start; else the number of slots
 * that lead to a block of their pointee's size class. */
static int shape_fit(typer *ty, const mp_type *type, const uint8_t *bytes, size_t size)
{
	const plan *p = plan_of(ty, type);
	if (!p) {
		ty->nomem = true;
		return -1;
	}
	/* A word outside every pointer slot that holds a block start says
	 * the struct is not this one: integers rarely equal heap addresses. */
	uint64_t slot_words[MAX_SHAPE_BYTES / 64] = {0};
	for (size_t i = 0; i < p->count; i++)
		if (p->slots[i].offset % 8 == 0 && p->slots[i].offset / 8 < MAX_SHAPE_BYTES / 8)
			slot_words[p->slots[i].offset / 512] |= 1ull << (p->slots[i].offset / 8 % 64);
	for (size_t at = 0; at + 8 <= size && at < MAX_SHAPE_BYTES; at += 8) {
		if (slot_words[at / 512] & (1ull << (at / 8 % 64)))
			continue;
		uint64_t value;
		memcpy(&value, bytes + at, 8);
		ptrdiff_t target = value ? mp_heap_find_chunk(ty->h, value) : -1;
		if (target >= 0 && heap_chunk_user(ty->h, &ty->h->chunks[target]) == value)
			return -1;
	}
	int starts = 0, consistent = 0;
	for (size_t i = 0; i < p->count; i++) {
		if (p->slots[i].offset + 8 > size)
			continue;
		uint64_t value;
		memcpy(&value, bytes + p->slots[i].offset, 8);
		if (!value)
			continue;
		ptrdiff_t target = mp_heap_find_chunk(ty->h, value);
		if (target >= 0 && heap_chunk_user(ty->h, &ty->h->chunks[target]) == value) {
			starts++;
			const mp_type *pointee = mp_type_strip(p->slots[i].pointee);
			enum mp_type_kind k = pointee ? mp_type_kind(pointee) : MP_TYPE_INVALID;
			if ((k == MP_TYPE_STRUCT || k == MP_TYPE_CLASS) &&
			    heap_chunk_usable(ty->h, &ty->h->chunks[target]) ==
				    heap_usable_for_request(ty->h, mp_type_size(pointee)))
				consistent++;
			continue;
		}
		if ((target >= 0 || !mp_target_find_mapping(ty->t, value)) &&
		    !inside_sibling_block(ty, p, bytes, size, value))
			return -1;
	}
	return starts ? consistent : -1;
}

/* Length of the text at the start of bytes: printable ASCII, white space
 * and well-formed UTF-8 sequences (JSON text is often not ASCII). */
static size_t text_length(const uint8_t *bytes, size_t length)
{
	size_t n = 0;
	while (n < length) {
		uint8_t b = bytes[n];
		if (b < 0x80) {
			if (!mp_text_byte(b))
				break;
			n++;
			continue;
		}
		size_t more = b >= 0xc2 && b <= 0xdf ? 1 : b >= 0xe0 && b <= 0xef ? 2
			    : b >= 0xf0 && b <= 0xf4 ? 3 : 0;
		if (!more || n + more >= length)
			break;
		size_t k = 1;
		while (k <= more && (bytes[n + k] & 0xc0) == 0x80)
			k++;
		if (k <= more)
			break;
		n += more + 1;
	}
	return n;
}

/* Whether the member at offset 0 of type, through nested records, is an
 * array of bytes (`char name[32]`): text there is the struct's own. */
static bool starts_with_byte_array(const mp_type *type)
{
	const mp_type *t = mp_type_strip(type);
	for (int depth = 0; t && depth < MAX_NESTING; depth++) {
		enum mp_type_kind k = mp_type_kind(t);
		if (k == MP_TYPE_ARRAY) {
			const mp_type *element = mp_type_strip(mp_type_target(t));
			return element && mp_type_size(element) == 1;
		}
		if ((k != MP_TYPE_STRUCT && k != MP_TYPE_CLASS && k != MP_TYPE_UNION) ||
		    !mp_type_member_count(t))
			return false;
		const mp_type_member *first = mp_type_member_at(t, 0);
		if (!first || first->offset != 0 || first->bit_size)
			return false;
		t = mp_type_strip(first->type);
	}
	return false;
}

bool mp_block_contradicts_type(mp_target *t, const mp_type *type, const uint8_t *bytes,
			       size_t length)
{
	const mp_type *st = mp_type_strip(type);
	enum mp_type_kind kind = st ? mp_type_kind(st) : MP_TYPE_INVALID;
	if (kind != MP_TYPE_STRUCT && kind != MP_TYPE_CLASS)
		return false;
	/* The pointer members within the bytes, inline records and arrays
	 * flattened, bounded like a plan; no allocation, so the report's size
	 * guesses can ask too. */
	struct {
		uint64_t offset;
		const mp_type *type;
		unsigned depth;
	} stack[MAX_NESTING * 4];
	size_t depth = 0, looked = 0, pointers = 0;
	bool pointer_at_start = false, pointer_valid_at_start = false;
	stack[depth++] = (__typeof__(stack[0])){0, st, 0};
	while (depth && looked < MAX_SLOTS) {
		__typeof__(stack[0]) s = stack[--depth];
		looked++;
		const mp_type *mt = mp_type_strip(s.type);
		if (!mt)
			continue;
		enum mp_type_kind k = mp_type_kind(mt);
		if (k == MP_TYPE_POINTER) {
			pointers++;
			if (s.offset + 8 > length)
				continue;
			uint64_t value;
			memcpy(&value, bytes + s.offset, 8);
			/* Null, or an address the program has: what a pointer
			 * member can hold.  Anything else (text, a count) says
			 * the block is not of this type. */
			bool valid = !value || mp_target_find_mapping(t, value);
			if (!valid)
				return true;
			if (s.offset == 0) {
				pointer_at_start = true;
				pointer_valid_at_start = value != 0;
			}
			continue;
		}
		if (s.depth >= MAX_NESTING || s.offset >= length)
			continue;
		if (k == MP_TYPE_STRUCT || k == MP_TYPE_CLASS) {
			size_t n = mp_type_member_count(mt);
			for (size_t m = n; m > 0 && depth < sizeof(stack) / sizeof(stack[0]); m--) {
				const mp_type_member *member = mp_type_member_at(mt, m - 1);
				if (member->bit_size || member->is_virtual_base ||
				    !may_hold_pointers(member->type))
					continue;
				stack[depth++] = (__typeof__(stack[0])){s.offset + member->offset,
									 member->type, s.depth + 1};
			}
		} else if (k == MP_TYPE_ARRAY) {
			const mp_type *element = mp_type_target(mt);
			if (!may_hold_pointers(element))
				continue;
			uint64_t element_size = element ? mp_type_size(element) : 0;
			uint64_t count = element_size ? mp_type_size(mt) / element_size : 0;
			for (uint64_t e = count < MAX_ARRAY ? count : MAX_ARRAY;
			     e > 0 && depth < sizeof(stack) / sizeof(stack[0]); e--)
				stack[depth++] = (__typeof__(stack[0])){s.offset + (e - 1) * element_size,
									 element, s.depth + 1};
		}
	}
	if (!pointers)
		return false;
	/* Text ending in a NUL at the start of a struct with pointers is a
	 * string whose block happens to have the struct's size (a reused
	 * block keeps its former occupant's pointers past the NUL), unless
	 * the struct begins with a byte array, or the "text" is a pointer. */
	size_t n = text_length(bytes, length);
	if (n < 4 || n >= length || bytes[n] != '\0')
		return false;
	if (pointer_at_start && pointer_valid_at_start)
		return false;
	return !starts_with_byte_array(st);
}

/* Whether a block starts with a vtable pointer: its class is named by the
 * vtable, not guessed from its shape. */
static bool starts_with_vtable(typer *ty, const uint8_t *bytes, size_t size)
{
	uint64_t word, offset;
	if (size < 8)
		return false;
	memcpy(&word, bytes, 8);
	const char *symbol = word ? mp_target_symbolize(ty->t, word, &offset) : NULL;
	return symbol && strncmp(symbol, "_ZTV", 4) == 0;
}

/* Types the lost blocks nothing typed reaches by their shape, then follows
 * their typed pointers. */
static void infer_shapes(typer *ty, const mp_leaks *leaks)
{
	mp_error *err = mp_type_list_in_module(ty->t, ty->main_module, NULL,
					       collect_candidate, ty);
	if (err) {
		ty->nomem = mp_error_code(err) == MP_ERR_NOMEM;
		mp_error_free(err);
		return;
	}
	if (!ty->n_candidates || ty->nomem)
		return;
	qsort(ty->candidates, ty->n_candidates, sizeof(*ty->candidates), compare_candidates);
	uint8_t copy[MAX_SHAPE_BYTES];
	/* The lost blocks are looked at in address order: read a window at
	 * a time. */
	mp_block_window window;
	mp_block_window_init(&window, ty->h, ty->t);
	ty->current_evidence = MP_EVIDENCE_SHAPE;
	for (size_t i = 0; i < ty->h->n_chunks && !ty->nomem; i++) {
		if ((i & 0xffff) == 0)
			mp_progress_update(i);
		enum mp_leak_kind kind = mp_leaks_kind(leaks, i);
		if (type_at(ty, i) || (kind != MP_LEAK_DEFINITE && kind != MP_LEAK_INDIRECT &&
				     kind != MP_LEAK_POSSIBLE))
			continue;
		const heap_chunk *c = &ty->h->chunks[i];
		uint64_t usable = heap_chunk_usable(ty->h, c);
		size_t lo = 0, hi = ty->n_candidates;
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			if (ty->candidates[mid].usable < usable)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo == ty->n_candidates || ty->candidates[lo].usable != usable ||
		    usable > sizeof(copy))
			continue;
		const uint8_t *bytes = mp_block_window_bytes(&window, heap_chunk_user(ty->h, c),
							     (size_t)usable);
		if (!bytes) {
			mp_error *read_err = heap_read(ty->h, ty->t, heap_chunk_user(ty->h, c), copy,
						       usable);
			if (read_err) {
				mp_error_free(read_err);
				continue;
			}
			bytes = copy;
		}
		if (starts_with_vtable(ty, bytes, usable))
			continue;
		const mp_type *best = NULL;
		int best_fit = -1, fitting = 0, at_best = 0;
		for (size_t k = lo; k < ty->n_candidates && ty->candidates[k].usable == usable; k++) {
			if (k > lo && ty->candidates[k].type == ty->candidates[k - 1].type)
				continue;
			int fit = shape_fit(ty, ty->candidates[k].type, bytes,
					    (size_t)mp_type_size(ty->candidates[k].type));
			if (fit < 0 || mp_block_contradicts_type(ty->t, ty->candidates[k].type,
								 bytes, (size_t)usable))
				continue;
			fitting++;
			if (fit > best_fit) {
				best = ty->candidates[k].type;
				best_fit = fit;
				at_best = 1;
			} else if (fit == best_fit) {
				at_best++;
			}
		}
		if (!best || (fitting > 1 && at_best > 1))
			continue;
		uint32_t index = set_type(ty, i, best, MP_EVIDENCE_SHAPE);
		if (!index)
			break;
		if (!MP_ARRAY_RESERVE(ty->queue, ty->capacity, ty->tail + 1)) {
			ty->nomem = true;
			break;
		}
		ty->queue[ty->tail++] = (object){(uint32_t)i, index};
	}
	mp_block_window_free(&window);
	drain(ty);
}

void mp_block_typing_free(mp_block_typing *typing)
{
	free(typing->table);
	free(typing->locals);
	mp_scratch_free(typing->narrow, typing->n_chunks * sizeof(*typing->narrow));
	mp_scratch_free(typing->wide, typing->n_chunks * sizeof(*typing->wide));
	memset(typing, 0, sizeof(*typing));
}

mp_error *mp_block_types_infer(mp_target *t, const mp_heap *h, const mp_leaks *leaks,
			       mp_block_typing *out)
{
	memset(out, 0, sizeof(*out));
	if (h->n_chunks > UINT32_MAX)
		return mp_error_new(MP_ERR_UNSUPPORTED, "%zu chunks: block typing handles up to 2^32",
				    h->n_chunks);
	typer ty = {0};
	ty.t = t;
	ty.h = h;
	ty.typing = out;
	ty.current_evidence = MP_EVIDENCE_DWARF;
	out->n_chunks = h->n_chunks;
	out->narrow = mp_scratch_alloc(h->n_chunks * sizeof(*out->narrow));
	if (!out->narrow || !MP_ARRAY_RESERVE(out->table, out->table_capacity, 16)) {
		mp_block_typing_free(out);
		return mp_error_nomem();
	}
	out->table[0] = NULL;
	out->n_table = 1;
	/* The main program's globals and statics: indexing every library's
	 * DWARF too would cost more than it names. */
	const mp_module *main_module = NULL;
	for (size_t i = 0; i < mp_target_module_count(t); i++)
		if (mp_module_is_main(mp_target_module(t, i)))
			main_module = mp_target_module(t, i);
	ty.main_module = main_module;
	mp_error *err = main_module ? mp_type_list_variables(t, main_module, visit_variable, &ty)
				    : NULL;
	if (err && mp_error_code(err) != MP_ERR_NOMEM) {
		mp_error_free(err);   /* no debug info: no typed roots, no error */
		err = NULL;
	}
	if (!err && main_module)
		seed_frame_variables(&ty, main_module);
	/* MEMPROF_STACK_LOCALS=off leaves them out, to compare with what
	 * the other roots type alone. */
	const char *stack_locals = getenv("MEMPROF_STACK_LOCALS");
	if (!err && main_module && !ty.nomem &&
	    !(stack_locals && strcmp(stack_locals, "off") == 0)) {
		mp_stack_roots_stats stats;
		err = mp_stack_roots_visit(t, main_module, visit_stack_root, &ty, &stats);
	}
	if (!err)
		drain(&ty);
	if (!err && leaks && main_module && !ty.nomem) {
		/* Counted by the chunks looked at: the typed roots' drain
		 * before it is short next to this. */
		mp_progress_begin("block typing", "chunks", h->n_chunks);
		infer_shapes(&ty, leaks);
		mp_progress_end();
	}
	free(ty.queue);
	free(ty.candidates);
	free(ty.indices);
	free_plans(&ty);
#ifdef __GLIBC__
	/* The queue grew by copies and was freed in the middle of malloc's
	 * heap, where the pages stay resident unless given back: 10 MiB
	 * of a `recommend` of ten million blocks, for the passes after. */
	malloc_trim(0);
#endif
	if (!err && ty.nomem)
		err = mp_error_nomem();
	if (err) {
		mp_block_typing_free(out);
		return err;
	}
	return NULL;
}
