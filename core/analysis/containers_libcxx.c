/* libc++ (LLVM 14, the stable ABI v1 as Debian's libc++-dev ships it)
 * containers for the logical walk, recognised by their std::__1:: names.
 * The counting is the libstdc++ one (containers_cxx.c), so the two
 * libraries give comparable numbers; what differs is where the fields are,
 * and those are read from DWARF by member name, never assumed: a node
 * container's node type comes from the allocator its compressed pair
 * holds (allocator<__tree_node<V, void *>>), so node sizes and value
 * offsets are the compiler's.
 *
 * Logical bytes: vector size() * sizeof(T); string size() + 1 characters on
 * the heap (none in the short form, whichever of the two string layouts the
 * DWARF shows); map/set, list and unordered nodes their node size (the
 * links and cached hash in "[node]", the value as its pair); unordered
 * bucket arrays bucket_count pointers ("[buckets]"); deque its map's
 * capacity in pointers ("[map]") and the elements in each block; shared_ptr
 * and weak_ptr the control block ("[control]": 24 bytes of vptr and counts,
 * the object too with make_shared, else the owned pointer) and the object,
 * once however many pointers share it; optional its object; variant its
 * active alternative in a frame of its type (index and padding in
 * "[tag]"); function nothing beyond itself when the callable fits its
 * small buffer, else the callable's block ("[callable]": its type is known
 * only to its vtable, so the block's usable size).  Everything else in a
 * block is slack ("[unused]"). */
#include "containers.h"

#include <inttypes.h>
#include <string.h>

enum libcxx_kind {
	LX_TREE = 1,     /* addr = node, a = nodes left, b = end node */
	LX_LIST,         /* addr = node, a = nodes left, b = end node */
	LX_HASH,         /* addr = node, a = nodes left */
	LX_DEQUE,        /* addr = map slot, a = end of the map's slots, b = deque */
};

/* __shared_weak_count: vptr, __shared_owners_, __shared_weak_owners_.  Its
 * definition lives in libc++.so, whose DWARF Debian does not ship, so the
 * size is the header's, not the DWARF's. */
enum { CONTROL_HEADER = 24 };

/* A container type's layout as this module reads it, built once per type
 * (lg_memo) and handed to its work items. */
typedef struct lx_layout {
	bool usable;
	uint64_t off[8];           /* the container's own fields, per handler */
	uint64_t index_size;       /* variant: bytes of __index */
	/* node containers: the value walked in each node and the links */
	const mp_type *value;
	uint64_t value_off, node_size;
	uint64_t left_off, right_off, parent_off, next_off;
} lx_layout;

/* Kind for lg_memo: apart from LG_MEMO_FIELDS' 3 + 4k keys and the small
 * enumerated kinds. */
enum { MEMO_LIBCXX = 1 << 20 };

static lx_layout *layout_memo(lg_walker *w, const mp_type *t, bool *fresh)
{
	return lg_memo(w, t, MEMO_LIBCXX, sizeof(lx_layout), fresh);
}

static bool field(const mp_type *t, const char *name, uint64_t *offset)
{
	const mp_type *ft;
	return lg_find_field(t, name, offset, &ft);
}

static bool push_iter(lg_walker *w, enum libcxx_kind kind, uint32_t frame, const void *state,
		      uint64_t addr, uint64_t a, uint64_t b)
{
	lg_work item = {.addr = addr, .a = a, .b = b, .type = state, .frame = frame,
			.kind = LG_W_CONTAINER | (LG_HANDLER_LIBCXX << 8) | ((uint32_t)kind << 16)};
	return lg_push(w, &item);
}

/* The node type of a node container from the compressed pair that holds
 * its node allocator (template parameter 1, allocator<Node>), and the value
 * in it: a map's __value_type<K, V> (or __hash_value_type) is walked as the
 * pair<const K, V> it wraps, as libstdc++'s map values are. */
static bool node_layout(lx_layout *l, const mp_type *pair)
{
	const mp_type *alloc = pair ? type_template_type(pair, 1) : NULL;
	const mp_type *node = alloc ? type_template_type(mp_type_strip(alloc), 0) : NULL;
	node = node ? mp_type_strip(node) : NULL;
	const mp_type *value = node ? mp_container_node_value(node, &l->value_off) : NULL;
	if (!value)
		return false;
	l->value = value;
	l->node_size = mp_type_size(node);
	return l->node_size >= l->value_off + mp_type_size(value);
}

static bool vector(lg_walker *w, uint32_t frame, const mp_type *t, uint64_t addr)
{
	static const char *const names[] = {"*__begin_", "*__end_"};
	/* false for vector<bool>, which keeps bits and a size */
	return mp_container_walk_vector(w, frame, t, addr, names);
}

/* A string's representation, decoded from its 24 bytes (__rep).  libc++
 * has two layouts: the default one puts __cap_ first and marks the long
 * form in the low bit of the first byte (the short size is that byte
 * shifted); the alternate one (ABI v2, Apple) puts __data_ first and marks
 * the long form in the top bit of the last byte, the short size being that
 * byte.  Which one a program has is the order of __long's members. */
typedef struct string_rep {
	bool is_long;
	uint64_t data, size, capacity;   /* capacity: allocated characters, the NUL included */
} string_rep;

typedef struct string_layout {
	uint64_t rep_off, cap_off, size_off, data_off, rep_size, char_size;
} string_layout;

static bool string_layout_of(const mp_type *t, string_layout *out)
{
	const mp_type *ch = type_template_type(t, 0), *lt;
	if (!ch || !lg_find_field(t, "__l", &out->rep_off, &lt) || !lt ||
	    !field(lt, "__cap_", &out->cap_off) || !field(lt, "__size_", &out->size_off) ||
	    !field(lt, "__data_", &out->data_off))
		return false;
	out->rep_size = mp_type_size(lt);
	out->char_size = mp_type_size(mp_type_strip(ch));
	return out->rep_size == 24 && out->char_size &&
	       out->cap_off + 8 <= 24 && out->size_off + 8 <= 24 && out->data_off + 8 <= 24;
}

static void string_decode(const string_layout *l, const uint8_t rep[24], string_rep *out)
{
	uint64_t cap, size, data;
	memcpy(&cap, rep + l->cap_off, 8);
	memcpy(&size, rep + l->size_off, 8);
	memcpy(&data, rep + l->data_off, 8);
	bool alternate = l->data_off == 0;
	if (alternate) {
		out->is_long = rep[23] & 0x80;
		out->size = out->is_long ? size : rep[23];
		out->capacity = cap & ~(1ull << 63);
	} else {
		out->is_long = rep[0] & 1;
		out->size = out->is_long ? size : rep[0] >> 1u;
		out->capacity = cap & ~1ull;
	}
	out->data = out->is_long ? data : 0;
}

static bool string(lg_walker *w, uint32_t frame, const mp_type *t, uint64_t addr)
{
	string_layout l;
	if (!string_layout_of(t, &l))
		return false;
	lg_add(w, frame, mp_type_size(t));
	uint8_t bytes[24];
	string_rep rep;
	if (!lg_read(w, addr + l.rep_off, bytes, sizeof(bytes), "std::__1::string"))
		return true;
	string_decode(&l, bytes, &rep);
	if (!rep.is_long || !rep.data)
		return true;   /* the characters are in the object */
	uint64_t usable = lg_claim(w, frame, rep.data);
	if (!usable)
		return true;
	uint64_t logical = (rep.size + 1) * l.char_size;
	if (rep.size >= usable || logical > usable)
		logical = usable;
	lg_add(w, lg_enter(w, frame, mp_type_strip(type_template_type(t, 0))), logical);
	lg_add_unused(w, frame, usable - logical);
	return true;
}

/* map, set, multimap, multiset: a __tree with its end node inline (whose
 * left link is the root), the leftmost node and the count. */
static bool tree(lg_walker *w, uint32_t frame, const mp_type *t, uint64_t addr)
{
	bool fresh;
	lx_layout *l = layout_memo(w, t, &fresh);
	if (!l)
		return false;
	if (fresh) {
		uint64_t tree_off;
		const mp_type *tr, *pair1, *node;
		l->usable = lg_find_field(t, "__tree_", &tree_off, &tr) && tr &&
			    field(tr, "__begin_node_", &l->off[0]) &&
			    lg_find_field(tr, "__pair1_", &l->off[1], &pair1) &&
			    field(tr, "__pair3_", &l->off[2]) && node_layout(l, pair1);
		/* The links, in the node's base classes. */
		const mp_type *alloc = l->usable ? type_template_type(pair1, 1) : NULL;
		node = alloc ? type_template_type(mp_type_strip(alloc), 0) : NULL;
		l->usable = l->usable && node && field(node, "__left_", &l->left_off) &&
			    field(node, "__right_", &l->right_off) &&
			    field(node, "__parent_", &l->parent_off);
		for (int i = 0; i < 3; i++)
			l->off[i] += tree_off;
	}
	if (!l->usable)
		return false;
	lg_add(w, frame, mp_type_size(t));
	uint64_t begin, count, end = addr + l->off[1];
	if (!lg_read_word(w, addr + l->off[0], &begin) || !lg_read_word(w, addr + l->off[2], &count))
		return true;
	if (!count || !begin || begin == end)
		return true;
	return push_iter(w, LX_TREE, lg_enter(w, frame, l->value), l, begin, count, end);
}

static bool list(lg_walker *w, uint32_t frame, const mp_type *t, uint64_t addr)
{
	bool fresh;
	lx_layout *l = layout_memo(w, t, &fresh);
	if (!l)
		return false;
	if (fresh) {
		const mp_type *end, *size_alloc;
		l->usable = lg_find_field(t, "__end_", &l->off[0], &end) && end &&
			    field(end, "__next_", &l->next_off) &&
			    lg_find_field(t, "__size_alloc_", &l->off[1], &size_alloc) &&
			    node_layout(l, size_alloc);
	}
	if (!l->usable)
		return false;
	lg_add(w, frame, mp_type_size(t));
	uint64_t end = addr + l->off[0], first, size;
	if (!lg_read_word(w, end + l->next_off, &first) || !lg_read_word(w, addr + l->off[1], &size))
		return true;
	if (!size || !first || first == end)
		return true;
	return push_iter(w, LX_LIST, lg_enter(w, frame, l->value), l, first, size, end);
}

/* unordered_*: a __hash_table; the bucket array is a unique_ptr whose
 * deleter holds the bucket count, the first node hangs off __p1_. */
static bool hash_fields(const mp_type *t, uint64_t off[4], const mp_type **p1)
{
	uint64_t table_off, list_off, count_off, first_off;
	const mp_type *table, *buckets;
	if (!lg_find_field(t, "__table_", &table_off, &table) || !table ||
	    !lg_find_field(table, "__bucket_list_", &list_off, &buckets) || !buckets ||
	    !field(buckets, "__data_", &count_off) ||
	    !lg_find_field(table, "__p1_", &off[2], p1) || !*p1 ||
	    !field(*p1, "__next_", &first_off) || !field(table, "__p2_", &off[3]))
		return false;
	off[0] = table_off + list_off;                /* the bucket array pointer */
	off[1] = table_off + list_off + count_off;    /* bucket_count */
	off[2] += table_off + first_off;              /* the first node */
	off[3] += table_off;                          /* size */
	return true;
}

static bool hashtable(lg_walker *w, uint32_t frame, const mp_type *t, uint64_t addr)
{
	bool fresh;
	lx_layout *l = layout_memo(w, t, &fresh);
	if (!l)
		return false;
	if (fresh) {
		const mp_type *p1, *node;
		l->usable = hash_fields(t, l->off, &p1) && node_layout(l, p1);
		const mp_type *alloc = l->usable ? type_template_type(p1, 1) : NULL;
		node = alloc ? type_template_type(mp_type_strip(alloc), 0) : NULL;
		l->usable = l->usable && node && field(node, "__next_", &l->next_off);
	}
	if (!l->usable)
		return false;
	lg_add(w, frame, mp_type_size(t));
	uint64_t buckets, bucket_count, first, size;
	if (!lg_read_word(w, addr + l->off[0], &buckets) ||
	    !lg_read_word(w, addr + l->off[1], &bucket_count) ||
	    !lg_read_word(w, addr + l->off[2], &first) || !lg_read_word(w, addr + l->off[3], &size))
		return true;
	if (buckets) {
		uint32_t bf = lg_child(w, frame, "[buckets]");
		uint64_t usable = lg_claim(w, bf, buckets);
		if (usable) {
			uint64_t logical = bucket_count <= usable / 8 ? bucket_count * 8 : usable;
			lg_add(w, bf, logical);
			lg_add_unused(w, frame, usable - logical);
		}
	}
	if (!size || !first)
		return true;
	return push_iter(w, LX_HASH, lg_enter(w, frame, l->value), l, first, size, 0);
}

/* deque: a __split_buffer of block pointers (spare blocks may sit before
 * __begin_ and after __end_ of the map, owned but empty), the index of the
 * first element and the size.  A block holds 4096 bytes of elements, or 16
 * elements of 256 bytes and more (__deque_block_size). */
static const char *const deque_names[] = {"*__first_", "*__begin_", "*__end_", "__end_cap_",
					  "__start_", "__size_"};

static uint64_t deque_block_elements(uint64_t element_size)
{
	return element_size < 256 ? 4096 / element_size : 16;
}

static bool deque(lg_walker *w, uint32_t frame, const mp_type *t, uint64_t addr)
{
	const mp_type *value = type_template_type(t, 0);
	uint64_t off[6];
	if (!value || !mp_type_size(mp_type_strip(value)) || !lg_fields(w, t, deque_names, 6, off))
		return false;
	lg_add(w, frame, mp_type_size(t));
	uint64_t first, begin, end, end_cap;
	if (!lg_read_word(w, addr + off[0], &first) || !lg_read_word(w, addr + off[1], &begin) ||
	    !lg_read_word(w, addr + off[2], &end) || !lg_read_word(w, addr + off[3], &end_cap) ||
	    !first)
		return true;
	uint32_t mf = lg_child(w, frame, "[map]");
	uint64_t usable = lg_claim(w, mf, first);
	if (!usable)
		return true;
	uint64_t logical = end_cap >= first && end_cap - first <= usable ? end_cap - first : usable;
	lg_add(w, mf, logical);
	lg_add_unused(w, frame, usable - logical);
	if (begin < first || end < begin || end - first > logical) {
		lg_mark_partial(w, "%s at 0x%" PRIx64 ": its map's pointers do not fit the map",
				mp_type_name(t), addr);
		return true;
	}
	if (begin == end)
		return true;
	return push_iter(w, LX_DEQUE, frame, t, begin, end, addr);
}

static void deque_step(lg_walker *w, lg_work *item)
{
	const mp_type *t = item->type;
	const mp_type *value = mp_type_strip(type_template_type(t, 0));
	uint64_t off[6], begin, start, size, block;
	if (!value || !lg_fields(w, t, deque_names, 6, off))
		return;
	uint64_t slot = item->addr, deque_addr = item->b;
	if (!lg_read_word(w, deque_addr + off[1], &begin) ||
	    !lg_read_word(w, deque_addr + off[4], &start) ||
	    !lg_read_word(w, deque_addr + off[5], &size) || !lg_read_word(w, slot, &block))
		return;
	if (slot + 8 < item->a) {
		lg_work again = *item;
		again.addr = slot + 8;
		lg_push(w, &again);
	}
	uint64_t vsize = mp_type_size(value), per_block = deque_block_elements(vsize);
	uint32_t ef = lg_enter(w, item->frame, value);
	uint32_t bf = lg_child(w, item->frame, "[buffer]");
	uint64_t usable = lg_claim(w, bf, block);
	if (!usable)
		return;
	/* Elements [start, start + size) by index; this block holds indexes
	 * [k * per_block, (k + 1) * per_block). */
	uint64_t k = (slot - begin) / 8, lo = k * per_block, hi = lo + per_block;
	uint64_t from = start > lo ? start : lo;
	uint64_t to = start + size < hi ? start + size : hi;
	uint64_t n = to > from ? to - from : 0;
	if (per_block * vsize > usable) {
		lg_mark_partial(w, "deque block at 0x%" PRIx64 " is smaller than %" PRIu64
				" elements", block, per_block);
		lg_add(w, bf, usable);
		return;
	}
	lg_add_unused(w, item->frame, usable - n * vsize);
	if (n)
		lg_push_array(w, ef, value, block + (from - lo) * vsize, n);
}

/* shared_ptr and weak_ptr: the control block, with the object in it
 * (make_shared) or beside it. */
static bool shared(lg_walker *w, uint32_t frame, const mp_type *t, uint64_t addr)
{
	static const char *const names[] = {"*__ptr_", "*__cntrl_"};
	const mp_type *value = type_template_type(t, 0);
	uint64_t off[2];
	if (!value || !lg_fields(w, t, names, 2, off))
		return false;
	value = mp_type_strip(value);
	lg_add(w, frame, mp_type_size(t));
	uint64_t p, control;
	if (!lg_read_word(w, addr + off[0], &p) || !lg_read_word(w, addr + off[1], &control) ||
	    !control)
		return true;
	uint32_t cf = lg_child(w, frame, "[control]");
	uint64_t usable = lg_claim(w, cf, control);
	if (!usable)
		return true;   /* counted by the first pointer that reached it */
	/* __shared_owners_ is the owner count minus one: below zero, only weak
	 * pointers are left and the object is destroyed. */
	uint64_t owners;
	bool alive = lg_read_word(w, control + 8, &owners) && (int64_t)owners >= 0;
	uint64_t vsize = mp_type_size(value);
	if (p > control && p - control + vsize <= usable) {
		lg_add(w, cf, p - control);
		if (!alive) {
			lg_add_unused(w, frame, usable - (p - control));
			return true;
		}
		lg_add_unused(w, frame, usable - (p - control) - vsize);
		lg_push_value(w, lg_enter(w, frame, value), value, p);
		return true;
	}
	uint64_t header = usable < CONTROL_HEADER + 8 ? usable : CONTROL_HEADER + 8;
	lg_add(w, cf, header);
	lg_add_unused(w, frame, usable - header);
	if (alive)
		lg_push_block(w, frame, value, p, LG_UNKNOWN_LEN);
	return true;
}

static bool optional(lg_walker *w, uint32_t frame, const mp_type *t, uint64_t addr)
{
	static const char *const names[] = {"__val_", "__engaged_"};
	const mp_type *value = type_template_type(t, 0);
	uint64_t off[2];
	if (!value || !lg_fields(w, t, names, 2, off))
		return false;
	value = mp_type_strip(value);
	uint64_t size = mp_type_size(t), vsize = mp_type_size(value);
	uint8_t engaged = 0;
	if (vsize + off[0] > size || !lg_read(w, addr + off[1], &engaged, 1, "std::__1::optional") ||
	    !engaged) {
		lg_add(w, frame, size);
		return true;
	}
	/* Transparent, as libstdc++'s: the value's frames are the optional's. */
	lg_add(w, frame, size - vsize);
	lg_push_value(w, frame, value, addr + off[0]);
	return true;
}

/* variant: the alternatives overlap at the start of __data, a chain of
 * __union<I, T_I, T_I+1, ...> whose __head (__alt<I, T_I>) holds T_I in
 * __value and whose __tail is the union of the rest; __index (of the
 * smallest unsigned type that holds the count) says which one lives, all
 * ones when none does (valueless by exception).  The alternatives come
 * from that chain, not from the variant's template parameters, which DWARF
 * keeps in a parameter pack. */
enum { MAX_ALTERNATIVES = 256 };

static bool variant(lg_walker *w, uint32_t frame, const mp_type *t, uint64_t addr)
{
	bool fresh;
	lx_layout *l = layout_memo(w, t, &fresh);
	if (!l)
		return false;
	if (fresh) {
		const mp_type *index;
		l->usable = lg_find_field(t, "__data", &l->off[0], &l->value) && l->value &&
			    lg_find_field(t, "__index", &l->off[1], &index) && index &&
			    mp_type_size(index) >= 1 && mp_type_size(index) <= 8;
		l->index_size = l->usable ? mp_type_size(index) : 0;
	}
	if (!l->usable)
		return false;
	uint64_t size = mp_type_size(t), index = 0;
	if (!lg_read(w, addr + l->off[1], &index, l->index_size, "std::__1::variant's index")) {
		lg_add(w, frame, size);
		return true;
	}
	/* Down the __tail chain to the index-th union, then its __head's
	 * __value; a missing link (an index past the alternatives) ends it. */
	const mp_type *u = index < MAX_ALTERNATIVES ? l->value : NULL, *head = NULL, *alt = NULL;
	uint64_t at = l->off[0], off;
	for (uint64_t i = 0; u && i < index; i++) {
		if (lg_find_field(u, "__tail", &off, &u))
			at += off;
		else
			u = NULL;
	}
	if (u && lg_find_field(u, "__head", &off, &head) && head) {
		at += off;
		if (lg_find_field(head, "__value", &off, &alt))
			at += off;
		else
			alt = NULL;
	}
	uint64_t asize = alt ? mp_type_size(alt) : 0;
	if (!alt || at + asize > size) {
		lg_add(w, frame, size);   /* valueless, or not an index of this variant */
		return true;
	}
	lg_add(w, lg_child(w, frame, "[tag]"), size - asize);
	lg_push_value(w, lg_enter(w, frame, alt), alt, addr + at);
	return true;
}

/* function: __value_func's __f_ points into its own small buffer __buf_,
 * or to a heap copy of the callable, or is null. */
static bool function(lg_walker *w, uint32_t frame, const mp_type *t, uint64_t addr)
{
	static const char *const names[] = {"__buf_", "*__f_"};
	uint64_t off[2];
	if (!lg_fields(w, t, names, 2, off))
		return false;
	uint64_t size = mp_type_size(t), f;
	lg_add(w, frame, size);
	if (!lg_read_word(w, addr + off[1], &f) || !f || (f >= addr && f < addr + size))
		return true;
	uint32_t cf = lg_child(w, frame, "[callable]");
	uint64_t usable = lg_claim(w, cf, f);
	if (usable)
		lg_add(w, cf, usable);
	return true;
}

/* The element buffers of vector, string and the unordered bucket arrays,
 * for patterns: read from the object's bytes, offsets by member name. */
static bool vector_buffer(const mp_type *t, uint64_t address, const uint8_t *bytes, size_t size,
			  mp_container_buffer *out)
{
	(void)address;
	static const char *const names[] = {"__begin_", "__end_", "__end_cap_"};
	return mp_container_vector_buffer(t, bytes, size, names, out);
}

static bool string_buffer(const mp_type *t, uint64_t address, const uint8_t *bytes, size_t size,
			  mp_container_buffer *out)
{
	(void)address;
	string_layout l;
	string_rep rep;
	if (!string_layout_of(t, &l) || l.rep_off + 24 > size)
		return false;
	string_decode(&l, bytes + l.rep_off, &rep);
	if (!rep.is_long) {
		/* The short form holds (sizeof(__long) - 1) / sizeof(char)
		 * characters, the NUL included. */
		*out = (mp_container_buffer){0, rep.size, (l.rep_size - 1) / l.char_size - 1,
					     l.char_size, true, NULL};
		return true;
	}
	/* The stored capacity counts the NUL, as the allocation does. */
	*out = (mp_container_buffer){rep.data, rep.size + 1, rep.capacity, l.char_size, false, NULL};
	return true;
}

static bool hashtable_buffer(const mp_type *t, uint64_t address, const uint8_t *bytes,
			     size_t size, mp_container_buffer *out)
{
	(void)address;
	uint64_t off[4], buckets, bucket_count, elements, table_off, p3_off, factor_off;
	const mp_type *p1, *table, *p3, *ft;
	if (!hash_fields(t, off, &p1) || off[0] + 8 > size || off[1] + 8 > size || off[3] + 8 > size)
		return false;
	memcpy(&buckets, bytes + off[0], 8);
	memcpy(&bucket_count, bytes + off[1], 8);
	memcpy(&elements, bytes + off[3], 8);
	/* max_load_factor: the float of the compressed pair __p3_. */
	uint64_t at = UINT64_MAX;
	if (lg_find_field(t, "__table_", &table_off, &table) && table &&
	    lg_find_field(table, "__p3_", &p3_off, &p3) && p3 &&
	    lg_find_field(p3, "__value_", &factor_off, &ft) && ft &&
	    mp_type_kind(mp_type_strip(ft)) == MP_TYPE_BASE &&
	    mp_type_size(mp_type_strip(ft)) == 4)
		at = table_off + p3_off + factor_off;
	*out = (mp_container_buffer){
		buckets, mp_container_buckets_used(elements, bucket_count, bytes, size, at),
		bucket_count, 8, false, NULL};
	return true;
}

#define WALK(prefix, walk, buffer) \
	{prefix, walk, buffer, NULL, NULL, 0, false, LG_HANDLER_LIBCXX}
/* The trees, lists and hash tables inside the containers: where block
 * typing learns the node type of their blocks (the value is parameter 0,
 * the node __tree_node<V, void *>). */
#define NODES(prefix, node) \
	{prefix, NULL, NULL, node, ", void *>", 0, false, LG_HANDLER_LIBCXX}

const mp_container_class mp_libcxx_containers[] = {
	WALK("std::__1::vector<", vector, vector_buffer),
	WALK("std::__1::basic_string<", string, string_buffer),
	WALK("std::__1::map<", tree, NULL),
	WALK("std::__1::set<", tree, NULL),
	WALK("std::__1::multimap<", tree, NULL),
	WALK("std::__1::multiset<", tree, NULL),
	NODES("std::__1::__tree<", "std::__1::__tree_node<"),
	NODES("std::__1::__list_imp<", "std::__1::__list_node<"),
	NODES("std::__1::__hash_table<", "std::__1::__hash_node<"),
	WALK("std::__1::list<", list, NULL),
	WALK("std::__1::unordered_map<", hashtable, hashtable_buffer),
	WALK("std::__1::unordered_set<", hashtable, hashtable_buffer),
	WALK("std::__1::unordered_multimap<", hashtable, hashtable_buffer),
	WALK("std::__1::unordered_multiset<", hashtable, hashtable_buffer),
	WALK("std::__1::deque<", deque, NULL),
	WALK("std::__1::shared_ptr<", shared, NULL),
	WALK("std::__1::weak_ptr<", shared, NULL),
	WALK("std::__1::optional<", optional, NULL),
	WALK("std::__1::variant<", variant, NULL),
	WALK("std::__1::function<", function, NULL),
};
const size_t mp_libcxx_container_count =
	sizeof(mp_libcxx_containers) / sizeof(mp_libcxx_containers[0]);

/* One node of a tree, list or hash table: claim it, count its links and
 * cached hash, schedule the next node and then the value (so the value's
 * blocks are walked first, depth first). */
static void node_step(lg_walker *w, lg_work *item, uint64_t next)
{
	const lx_layout *l = item->type;
	uint64_t node = item->addr;
	uint32_t nf = lg_child(w, item->frame, "[node]");
	uint64_t usable = lg_claim(w, nf, node);
	if (!usable)
		return;  /* a loop, garbage or the object limit: stop here */
	uint64_t vsize = mp_type_size(l->value);
	if (l->node_size > usable) {
		lg_add(w, nf, usable);
		lg_mark_partial(w, "node at 0x%" PRIx64 " is smaller than its %s", node,
				mp_type_name(l->value));
		return;
	}
	lg_add(w, nf, l->node_size - vsize);
	lg_add_unused(w, item->frame, usable - l->node_size);
	if (item->a > 1 && next) {
		lg_work again = *item;
		again.addr = next;
		again.a--;
		lg_push(w, &again);
	}
	lg_push_value(w, item->frame, l->value, node + l->value_off);
}

/* In-order successor by parent links (no stack): the leftmost node of the
 * right subtree, else the first ancestor reached from its left. */
static uint64_t tree_next(lg_walker *w, const lx_layout *l, uint64_t x)
{
	uint64_t right, next = 0;
	if (!lg_read_word(w, x + l->right_off, &right))
		return 0;
	if (right) {
		uint64_t left;
		next = right;
		for (int guard = 0; guard < 256 && lg_read_word(w, next + l->left_off, &left) && left;
		     guard++)
			next = left;
		return next;
	}
	uint64_t cur = x, parent, parent_left;
	for (int guard = 0; guard < 256; guard++) {
		if (!lg_read_word(w, cur + l->parent_off, &parent) ||
		    !lg_read_word(w, parent + l->left_off, &parent_left))
			return 0;
		if (parent_left == cur)
			return parent;
		cur = parent;
	}
	return 0;
}

bool lg_libcxx_step(lg_walker *w, lg_work *item)
{
	const lx_layout *l = item->type;
	uint64_t next = 0;
	switch (item->kind >> 16) {
	case LX_TREE:
		next = tree_next(w, l, item->addr);
		node_step(w, item, next == item->b ? 0 : next);
		return true;
	case LX_LIST:
		if (!lg_read_word(w, item->addr + l->next_off, &next) || next == item->b)
			next = 0;
		node_step(w, item, next);
		return true;
	case LX_HASH:
		if (!lg_read_word(w, item->addr + l->next_off, &next))
			next = 0;
		node_step(w, item, next);
		return true;
	case LX_DEQUE:
		deque_step(w, item);
		return true;
	}
	return false;
}
