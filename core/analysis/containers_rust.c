/* Rust standard library containers for the logical walk, by their real
 * layout as rustc's DWARF describes it (field offsets are read, never
 * assumed, since Rust reorders fields).  Enums, Option and Box need no
 * handler: variant parts (niches included) and pointer types do.
 *
 * Logical bytes, as OMMX's profiler counts them: Vec and VecDeque
 * len * size_of::<T>(); String its len; HashMap/HashSet (hashbrown) items *
 * size_of::<(K, V)>() (control bytes and empty buckets are slack; an empty
 * table points at a static singleton and owns no heap); BTreeMap/BTreeSet
 * len * (size_of K + size_of V) over its nodes (node links, lengths and
 * unused slots are slack); Rc/Arc the RcInner/ArcInner block (counts and
 * value). */
#include "containers.h"

#include <inttypes.h>
#include <string.h>

enum rust_kind {
	RUST_HASH = 1,   /* addr = ctrl, a = next bucket, b = buckets */
	RUST_BTREE,      /* addr = node, a = height, type = btree layout */
};

enum { BTREE_CAPACITY = 11, GROUP_WIDTH = 16 };

static uint64_t round_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) / a * a;
}

static bool read_u64(lg_walker *w, uint64_t addr, uint64_t *value)
{
	return lg_read_word(w, addr, value);
}

/* Vec<T> and String: pointer, capacity, length somewhere inside. */
static bool buffer_fields(lg_walker *w, const mp_type *t, uint64_t *ptr_off,
			  uint64_t *cap_off, uint64_t *len_off)
{
	static const char *const names[] = {"*pointer", "cap", "len"};
	uint64_t off[3];
	if (!lg_fields(w, t, names, 3, off))
		return false;
	*ptr_off = off[0];
	*cap_off = off[1];
	*len_off = off[2];
	return true;
}

static bool vec(lg_walker *w, uint32_t frame, const mp_type *t, uint64_t addr)
{
	const mp_type *el = type_template_type(t, 0);
	uint64_t ptr_off, cap_off, len_off;
	if (!el || !buffer_fields(w, t, &ptr_off, &cap_off, &len_off))
		return false;
	el = mp_type_strip(el);
	uint64_t size = mp_type_size(el);
	lg_add(w, frame, mp_type_size(t));
	uint64_t p, cap, len;
	if (!read_u64(w, addr + ptr_off, &p) || !read_u64(w, addr + cap_off, &cap) ||
	    !read_u64(w, addr + len_off, &len))
		return true;
	if (!cap || !size)
		return true;   /* no allocation: a dangling, aligned pointer */
	uint64_t usable = lg_claim(w, frame, p);
	if (!usable)
		return true;
	if (len > cap || len > usable / size) {
		lg_mark_partial(w, "%s at 0x%" PRIx64 ": length %" PRIu64 " does not fit "
				"its buffer", mp_type_name(t), addr, len);
		len = usable / size;
	}
	lg_add_unused(w, frame, usable - len * size);
	if (len)
		lg_push_array(w, lg_enter(w, frame, el), el, p, len);
	return true;
}

static bool string(lg_walker *w, uint32_t frame, const mp_type *t, uint64_t addr)
{
	uint64_t ptr_off, cap_off, len_off;
	if (!buffer_fields(w, t, &ptr_off, &cap_off, &len_off))
		return false;
	lg_add(w, frame, mp_type_size(t));
	uint64_t p, cap, len;
	if (!read_u64(w, addr + ptr_off, &p) || !read_u64(w, addr + cap_off, &cap) ||
	    !read_u64(w, addr + len_off, &len) || !cap)
		return true;
	uint64_t usable = lg_claim(w, frame, p);
	if (!usable)
		return true;
	if (len > usable)
		len = usable;
	lg_add(w, lg_child(w, frame, "str"), len);
	lg_add_unused(w, frame, usable - len);
	return true;
}

static bool vec_deque(lg_walker *w, uint32_t frame, const mp_type *t, uint64_t addr)
{
	const mp_type *el = type_template_type(t, 0), *ft;
	uint64_t ptr_off, cap_off, len_off, head_off;
	if (!el || !buffer_fields(w, t, &ptr_off, &cap_off, &len_off) ||
	    !lg_find_field(t, "head", &head_off, &ft))
		return false;
	el = mp_type_strip(el);
	uint64_t size = mp_type_size(el);
	lg_add(w, frame, mp_type_size(t));
	uint64_t p, cap, len, head;
	if (!read_u64(w, addr + ptr_off, &p) || !read_u64(w, addr + cap_off, &cap) ||
	    !read_u64(w, addr + len_off, &len) || !read_u64(w, addr + head_off, &head))
		return true;
	if (!cap || !size)
		return true;
	uint64_t usable = lg_claim(w, frame, p);
	if (!usable)
		return true;
	if (len > cap || head >= cap || cap > usable / size) {
		lg_mark_partial(w, "%s at 0x%" PRIx64 ": head %" PRIu64 ", length %" PRIu64
				" do not fit capacity %" PRIu64, mp_type_name(t), addr, head, len, cap);
		lg_add_unused(w, frame, usable);
		return true;
	}
	lg_add_unused(w, frame, usable - len * size);
	uint32_t ef = lg_enter(w, frame, el);
	uint64_t first = cap - head < len ? cap - head : len;
	if (len > first)
		lg_push_array(w, ef, el, p, len - first);
	if (first)
		lg_push_array(w, ef, el, p + head * size, first);
	return true;
}

/* hashbrown: the allocation is [buckets of T, padded to 16][ctrl bytes:
 * buckets + 16]; ctrl points between the two, bucket i is just below
 * ctrl - i * size_of T.  A full bucket's control byte has the top bit 0. */
/* Where a HashMap/HashSet keeps its RawTable's fields, wherever rustc
 * nested them (base.table.table...), and the element type (K, V). */
typedef struct hash_layout {
	uint64_t mask_off, items_off, ctrl_off;   /* from the map's start */
	const mp_type *element;
} hash_layout;

static bool hash_layout_of(const mp_type *t, hash_layout *out)
{
	uint64_t table_off;
	const mp_type *table, *ft;
	if (!lg_find_field(t, "table", &table_off, &table) ||
	    !type_name_starts(table, "hashbrown::raw::RawTable<"))
		return false;
	const mp_type *el = type_template_type(table, 0);
	if (!el || !lg_find_field(table, "bucket_mask", &out->mask_off, &ft) ||
	    !lg_find_field(table, "items", &out->items_off, &ft) ||
	    !lg_find_field(table, "ctrl", &out->ctrl_off, &ft))
		return false;
	out->mask_off += table_off;
	out->items_off += table_off;
	out->ctrl_off += table_off;
	out->element = mp_type_strip(el);
	return true;
}

static bool hash_table(lg_walker *w, uint32_t frame, const mp_type *t, uint64_t addr)
{
	hash_layout layout;
	if (!hash_layout_of(t, &layout))
		return false;
	const mp_type *el = layout.element;
	uint64_t size = mp_type_size(el);
	lg_add(w, frame, mp_type_size(t));
	uint64_t mask, items, ctrl;
	if (!read_u64(w, addr + layout.mask_off, &mask) ||
	    !read_u64(w, addr + layout.items_off, &items) ||
	    !read_u64(w, addr + layout.ctrl_off, &ctrl))
		return true;
	if (!mask || mask > (1ull << 40))
		return true;   /* the empty singleton (static), or garbage */
	uint64_t buckets = mask + 1;
	uint64_t data = round_up(buckets * size, GROUP_WIDTH);
	if (ctrl < data)
		return true;
	uint64_t usable = lg_claim(w, frame, ctrl - data);
	if (!usable)
		return true;
	if (data + buckets + GROUP_WIDTH > usable || items > buckets) {
		lg_mark_partial(w, "%s at 0x%" PRIx64 ": %" PRIu64 " buckets do not fit its "
				"block", mp_type_name(t), addr, buckets);
		lg_add_unused(w, frame, usable);
		return true;
	}
	lg_add_unused(w, frame, usable - items * size);
	if (!items || !size)
		return true;
	lg_work item = {.addr = ctrl, .a = 0, .b = buckets, .type = el,
			.frame = lg_enter(w, frame, el),
			.kind = LG_W_CONTAINER | (LG_HANDLER_RUST << 8) | (RUST_HASH << 16)};
	return lg_push(w, &item);
}

static void hash_step(lg_walker *w, lg_work *item)
{
	uint64_t size = mp_type_size(item->type);
	uint8_t ctrl[64];
	while (item->a < item->b) {
		uint64_t n = item->b - item->a < sizeof(ctrl) ? item->b - item->a : sizeof(ctrl);
		if (!lg_read(w, item->addr + item->a, ctrl, n, "hash table control bytes"))
			return;
		for (uint64_t i = 0; i < n; i++) {
			if (ctrl[i] & 0x80)
				continue;
			uint64_t bucket = item->a + i;
			item->a = bucket + 1;
			if (item->a < item->b)
				lg_push(w, item);
			lg_push_value(w, item->frame, item->type, item->addr - (bucket + 1) * size);
			return;
		}
		item->a += n;
	}
}

/* BTreeMap: nodes found from the root; LeafNode<K, V> offsets from DWARF,
 * InternalNode<K, V> (edges) too when it is described. */
typedef struct btree_layout {
	bool ready, usable;
	const mp_type *key, *value;
	uint64_t keys_off, vals_off, len_off, edges_off;
	uint64_t leaf_size, internal_size;
} btree_layout;

static const btree_layout *btree_layout_of(lg_walker *w, const mp_type *map)
{
	bool fresh;
	btree_layout *l = lg_memo(w, map, LG_MEMO_BTREE, sizeof(btree_layout), &fresh);
	if (!l || !fresh)
		return l;
	l->ready = true;
	const mp_type *leaf, *ft;
	uint64_t node_off;
	l->key = type_template_type(map, 0);
	l->value = type_template_type(map, 1);
	if (!l->key || !l->value || !lg_find_pointer(map, "pointer", &node_off, &leaf) ||
	    !leaf || !lg_find_field(leaf, "keys", &l->keys_off, &ft) ||
	    !lg_find_field(leaf, "vals", &l->vals_off, &ft) ||
	    !lg_find_field(leaf, "len", &l->len_off, &ft))
		return l;
	l->key = mp_type_strip(l->key);
	l->value = mp_type_strip(l->value);
	l->leaf_size = mp_type_size(leaf);
	l->edges_off = round_up(l->leaf_size, 8);
	l->internal_size = l->edges_off + (BTREE_CAPACITY + 1) * 8;
	const char *name = mp_type_name(leaf);
	const char *at = name ? strstr(name, "LeafNode<") : NULL;
	if (at) {
		char internal[1024];
		int n = snprintf(internal, sizeof(internal), "%.*sInternalNode<%s",
				 (int)(at - name), name, at + strlen("LeafNode<"));
		const mp_type *it;
		mp_error *e = n > 0 && (size_t)n < sizeof(internal)
				      ? mp_type_find_in_module(lg_target(w), mp_type_module(leaf),
							       internal, &it)
				      : mp_error_new(MP_ERR_NOT_FOUND, "name too long");
		if (!e) {
			uint64_t edges;
			if (lg_find_field(it, "edges", &edges, &ft)) {
				l->edges_off = edges;
				l->internal_size = mp_type_size(it);
			}
		} else {
			mp_error_free(e);
		}
	}
	l->usable = true;
	return l;
}

static bool btree_map(lg_walker *w, uint32_t frame, const mp_type *t, uint64_t addr)
{
	const btree_layout *l = btree_layout_of(w, t);
	uint64_t node_off, height_off;
	const mp_type *ft;
	if (!l || !l->usable || !lg_find_pointer(t, "pointer", &node_off, &ft) ||
	    !lg_find_field(t, "height", &height_off, &ft))
		return false;
	lg_add(w, frame, mp_type_size(t));
	uint64_t root, height;
	if (!read_u64(w, addr + node_off, &root) || !root ||
	    !read_u64(w, addr + height_off, &height))
		return true;
	if (height > 64) {
		lg_mark_partial(w, "%s at 0x%" PRIx64 ": height %" PRIu64 " is not plausible",
				mp_type_name(t), addr, height);
		return true;
	}
	lg_work item = {.addr = root, .a = height, .type = l, .frame = frame,
			.kind = LG_W_CONTAINER | (LG_HANDLER_RUST << 8) | (RUST_BTREE << 16)};
	return lg_push(w, &item);
}

static void btree_step(lg_walker *w, lg_work *item)
{
	const btree_layout *l = item->type;
	uint64_t node = item->addr, height = item->a;
	uint64_t usable = lg_claim(w, item->frame, node);
	if (!usable)
		return;
	uint64_t node_size = height ? l->internal_size : l->leaf_size;
	uint16_t len = 0;
	if (!lg_read(w, node + l->len_off, &len, 2, "a BTreeMap node") || node_size > usable ||
	    len > BTREE_CAPACITY) {
		lg_mark_partial(w, "BTreeMap node at 0x%" PRIx64 " is not a node of %" PRIu64
				" bytes (length %u)", node, node_size, len);
		lg_add_unused(w, item->frame, usable);
		return;
	}
	uint64_t ks = mp_type_size(l->key), vs = mp_type_size(l->value);
	lg_add_unused(w, item->frame, usable - len * (ks + vs));
	if (height) {
		uint64_t edges[BTREE_CAPACITY + 1];
		if (lg_read(w, node + l->edges_off, edges, (len + 1u) * 8, "BTreeMap edges")) {
			for (int i = len; i >= 0; i--) {
				if (!edges[i])
					continue;
				lg_work child = *item;
				child.addr = edges[i];
				child.a = height - 1;
				lg_push(w, &child);
			}
		}
	}
	if (len && vs)
		lg_push_array(w, lg_enter(w, item->frame, l->value), l->value, node + l->vals_off, len);
	if (len && ks)
		lg_push_array(w, lg_enter(w, item->frame, l->key), l->key, node + l->keys_off, len);
}

static bool btree_set(lg_walker *w, uint32_t frame, const mp_type *t, uint64_t addr)
{
	uint64_t map_off;
	const mp_type *map;
	if (!lg_find_field(t, "map", &map_off, &map) ||
	    !type_name_starts(map, "alloc::collections::btree::map::BTreeMap<"))
		return false;
	if (!btree_map(w, frame, map, addr + map_off))
		return false;
	lg_add(w, frame, mp_type_size(t) - mp_type_size(map));
	return true;
}

/* Rc, Arc and their Weak: the shared block (counts and value). */
static bool shared(lg_walker *w, uint32_t frame, const mp_type *t, uint64_t addr)
{
	uint64_t ptr_off;
	const mp_type *inner;
	if (!lg_find_pointer(t, "pointer", &ptr_off, &inner) || !inner)
		return false;
	lg_add(w, frame, mp_type_size(t));
	uint64_t p;
	if (read_u64(w, addr + ptr_off, &p))
		lg_push_block(w, frame, inner, p, LG_UNKNOWN_LEN);
	return true;
}

/* Vec and String buffers, for patterns: pointer, capacity and length
 * wherever rustc put them. */
static bool raw_buffer(const mp_type *t, const uint8_t *bytes, size_t size, uint64_t element,
		       const mp_type *element_type, mp_container_buffer *out)
{
	uint64_t ptr_off, cap_off, len_off, p, cap, len;
	const mp_type *ft;
	if (!lg_find_pointer(t, "pointer", &ptr_off, &ft) || !lg_find_field(t, "cap", &cap_off, &ft) ||
	    !lg_find_field(t, "len", &len_off, &ft) || ptr_off + 8 > size || cap_off + 8 > size ||
	    len_off + 8 > size || !element)
		return false;
	memcpy(&p, bytes + ptr_off, 8);
	memcpy(&cap, bytes + cap_off, 8);
	memcpy(&len, bytes + len_off, 8);
	if (len > cap)
		return false;
	/* No capacity: no allocation, a dangling aligned pointer. */
	*out = (mp_container_buffer){cap ? p : 0, len, cap, element, false, element_type};
	return true;
}

static bool vec_buffer(const mp_type *t, uint64_t address, const uint8_t *bytes, size_t size,
		       mp_container_buffer *out)
{
	(void)address;
	const mp_type *el = mp_type_strip(type_template_type(t, 0));
	return el && raw_buffer(t, bytes, size, mp_type_size(el), el, out);
}

static bool string_buffer(const mp_type *t, uint64_t address, const uint8_t *bytes, size_t size,
			  mp_container_buffer *out)
{
	(void)address;
	return raw_buffer(t, bytes, size, 1, NULL, out);
}

/* Buckets a hashbrown table right-sized for items would have: at most
 * 7/8 of them full above 8 buckets, a power of two (capacity_to_buckets). */
static uint64_t buckets_for(uint64_t items)
{
	if (items < 4)
		return 4;
	if (items < 8)
		return 8;
	uint64_t wanted = items * 8 / 7, buckets = 16;
	while (buckets < wanted)
		buckets *= 2;
	return buckets;
}

/* A hash table's one allocation, for patterns, in bytes: what the table
 * has ([buckets of T, padded to 16][buckets + 16 control bytes]) against
 * what a table right-sized for its items would have.  The difference is
 * what shrink_to_fit gives back. */
static bool hash_buffer(const mp_type *t, uint64_t address, const uint8_t *bytes, size_t size,
			mp_container_buffer *out)
{
	(void)address;
	hash_layout layout;
	uint64_t mask, items, ctrl;
	if (!hash_layout_of(t, &layout) || layout.mask_off + 8 > size ||
	    layout.items_off + 8 > size || layout.ctrl_off + 8 > size)
		return false;
	uint64_t element = mp_type_size(layout.element);
	memcpy(&mask, bytes + layout.mask_off, 8);
	memcpy(&items, bytes + layout.items_off, 8);
	memcpy(&ctrl, bytes + layout.ctrl_off, 8);
	/* The empty singleton (static, no allocation), or not a table. */
	if (!mask || mask > (1ull << 40) || !element || items > mask + 1) {
		*out = (mp_container_buffer){0, 0, 0, 1, false, NULL};
		return true;
	}
	uint64_t buckets = mask + 1, right = buckets_for(items);
	uint64_t data = round_up(buckets * element, GROUP_WIDTH);
	if (ctrl < data)
		return false;
	if (right > buckets)
		right = buckets;
	uint64_t has = data + buckets + GROUP_WIDTH;
	uint64_t needs = round_up(right * element, GROUP_WIDTH) + right + GROUP_WIDTH;
	*out = (mp_container_buffer){ctrl - data, needs, has, 1, false, NULL};
	return true;
}

const mp_container_class mp_rust_containers[] = {
	{"alloc::vec::Vec<", vec, vec_buffer, NULL, NULL, 0, true, LG_HANDLER_RUST},
	{"alloc::string::String", string, string_buffer, NULL, NULL, 0, false, LG_HANDLER_RUST},
	{"alloc::collections::vec_deque::VecDeque<", vec_deque, NULL, NULL, NULL, 0, true,
	 LG_HANDLER_RUST},
	{"std::collections::hash::map::HashMap<", hash_table, hash_buffer, NULL, NULL, 0, false,
	 LG_HANDLER_RUST},
	{"std::collections::hash::set::HashSet<", hash_table, hash_buffer, NULL, NULL, 0, false,
	 LG_HANDLER_RUST},
	{"hashbrown::map::HashMap<", hash_table, hash_buffer, NULL, NULL, 0, false, LG_HANDLER_RUST},
	{"hashbrown::set::HashSet<", hash_table, hash_buffer, NULL, NULL, 0, false, LG_HANDLER_RUST},
	{"alloc::collections::btree::map::BTreeMap<", btree_map, NULL, NULL, NULL, 0, false,
	 LG_HANDLER_RUST},
	{"alloc::collections::btree::set::BTreeSet<", btree_set, NULL, NULL, NULL, 0, false,
	 LG_HANDLER_RUST},
	{"alloc::rc::Rc<", shared, NULL, NULL, NULL, 0, false, LG_HANDLER_RUST},
	{"alloc::rc::Weak<", shared, NULL, NULL, NULL, 0, false, LG_HANDLER_RUST},
	{"alloc::sync::Arc<", shared, NULL, NULL, NULL, 0, false, LG_HANDLER_RUST},
	{"alloc::sync::Weak<", shared, NULL, NULL, NULL, 0, false, LG_HANDLER_RUST},
};
const size_t mp_rust_container_count = sizeof(mp_rust_containers) / sizeof(mp_rust_containers[0]);

bool lg_rust_step(lg_walker *w, lg_work *item)
{
	switch (item->kind >> 16) {
	case RUST_HASH:
		hash_step(w, item);
		return true;
	case RUST_BTREE:
		btree_step(w, item);
		return true;
	}
	return false;
}
