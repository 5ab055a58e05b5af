/* libstdc++ containers for the logical walk, by their real layout (GCC 12,
 * the C++11 ABI).  Each handler counts the container's own bytes in its
 * frame, claims its heap blocks and schedules its elements in a frame named
 * after the element type; node-based containers iterate through a work
 * item that holds the cursor, so a million-node map costs one entry on the
 * work list.
 *
 * Logical bytes: vector len * sizeof(T); string length + 1 characters (none
 * in the short-string buffer); map/set, list and unordered nodes their
 * node size (links, value, cached hash) with the links in "[node]";
 * unordered bucket arrays bucket_count pointers ("[buckets]", none for the
 * single inline bucket); deque map_size pointers ("[map]") and the elements
 * in each 512-byte buffer; shared_ptr its control block ("[control]",
 * holding the object with make_shared) and the object; unique_ptr and
 * optional their object.  Everything else in a block is slack ("[unused]"). */
#include "containers.h"

#include <inttypes.h>
#include <string.h>

enum cxx_kind {
	CXX_RBTREE = 1,     /* a = nodes left, addr = node, b = header */
	CXX_LIST,           /* a = nodes left, addr = node, b = header */
	CXX_HASH,           /* a = nodes left, addr = node, b = node header bytes */
	CXX_DEQUE,          /* addr = deque object */
};

enum { VALUE_OFFSET_RB = 32, VALUE_OFFSET_LIST = 16 };

static bool field(const mp_type *t, const char *name, uint64_t *offset)
{
	const mp_type *ft;
	return lg_find_field(t, name, offset, &ft);
}

static bool word_at(lg_walker *w, uint64_t addr, uint64_t *value)
{
	return lg_read_word(w, addr, value);
}

static uint64_t round_up(uint64_t v, uint64_t a)
{
	return a ? (v + a - 1) / a * a : v;
}

static bool push_iter(lg_walker *w, enum cxx_kind kind, uint32_t frame,
		      const mp_type *type, uint64_t addr, uint64_t a, uint64_t b)
{
	lg_work item = {.addr = addr, .a = a, .b = b, .type = type, .frame = frame,
			.kind = LG_W_CONTAINER | (LG_HANDLER_CXX << 8) | ((uint32_t)kind << 16)};
	return lg_push(w, &item);
}

static bool vector(lg_walker *w, uint32_t frame, const mp_type *t, uint64_t addr)
{
	static const char *const names[] = {"*_M_start", "_M_finish"};
	return mp_container_walk_vector(w, frame, t, addr, names);
}

static bool string(lg_walker *w, uint32_t frame, const mp_type *t, uint64_t addr)
{
	static const char *const names[] = {"_M_p", "_M_string_length", "_M_local_buf"};
	const mp_type *ch = type_template_type(t, 0);
	uint64_t off[3];
	if (!ch || !lg_fields(w, t, names, 3, off))
		return false;
	uint64_t p_off = off[0], len_off = off[1], local_off = off[2];
	ch = mp_type_strip(ch);
	uint64_t char_size = mp_type_size(ch) ? mp_type_size(ch) : 1;
	lg_add(w, frame, mp_type_size(t));
	uint64_t p, len;
	if (!word_at(w, addr + p_off, &p) || !word_at(w, addr + len_off, &len))
		return true;
	if (p == addr + local_off || !p)
		return true;
	uint64_t usable = lg_claim(w, frame, p);
	if (!usable)
		return true;
	uint64_t logical = (len + 1) * char_size;
	if (len > usable || logical > usable)
		logical = usable;
	lg_add(w, lg_enter(w, frame, ch), logical);
	lg_add_unused(w, frame, usable - logical);
	return true;
}

/* The value type of a map or set: the _Rb_tree's second parameter. */
static bool rbtree(lg_walker *w, uint32_t frame, const mp_type *t, uint64_t addr)
{
	uint64_t tree_off, header_off, count_off;
	const mp_type *tree;
	if (!lg_find_field(t, "_M_t", &tree_off, &tree) ||
	    !field(t, "_M_header", &header_off) || !field(t, "_M_node_count", &count_off))
		return false;
	const mp_type *value = type_template_type(tree, 1);
	if (!value)
		return false;
	value = mp_type_strip(value);
	lg_add(w, frame, mp_type_size(t));
	uint64_t count, leftmost;
	uint64_t header = addr + header_off;
	if (!word_at(w, addr + count_off, &count) || !word_at(w, header + 16, &leftmost))
		return true;
	if (!count || !leftmost || leftmost == header)
		return true;
	return push_iter(w, CXX_RBTREE, lg_enter(w, frame, value), value, leftmost, count, header);
}

static bool list(lg_walker *w, uint32_t frame, const mp_type *t, uint64_t addr)
{
	static const char *const names[] = {"_M_node"};
	const mp_type *value = type_template_type(t, 0);
	uint64_t node_off;
	if (!value || !lg_fields(w, t, names, 1, &node_off))
		return false;
	value = mp_type_strip(value);
	lg_add(w, frame, mp_type_size(t));
	uint64_t header = addr + node_off, first, size;
	if (!word_at(w, header, &first) || !word_at(w, header + 16, &size))
		return true;
	if (!size || first == header)
		return true;
	return push_iter(w, CXX_LIST, lg_enter(w, frame, value), value, first, size, header);
}

static bool hashtable(lg_walker *w, uint32_t frame, const mp_type *t, uint64_t addr)
{
	uint64_t h_off, buckets_off, count_off, before_off, elements_off, single_off;
	const mp_type *h;
	if (!lg_find_field(t, "_M_h", &h_off, &h) || !field(h, "_M_buckets", &buckets_off) ||
	    !field(h, "_M_bucket_count", &count_off) || !field(h, "_M_before_begin", &before_off) ||
	    !field(h, "_M_element_count", &elements_off) ||
	    !field(h, "_M_single_bucket", &single_off))
		return false;
	const mp_type *value = type_template_type(h, 1);
	if (!value)
		return false;
	value = mp_type_strip(value);
	const char *name = mp_type_name(h);
	bool cached = name && strstr(name, "_Hashtable_traits<true");
	uint64_t base = addr + h_off;
	lg_add(w, frame, mp_type_size(t));
	uint64_t buckets, bucket_count, first, elements;
	if (!word_at(w, base + buckets_off, &buckets) || !word_at(w, base + count_off, &bucket_count) ||
	    !word_at(w, base + before_off, &first) || !word_at(w, base + elements_off, &elements))
		return true;
	if (buckets && buckets != base + single_off) {
		uint32_t bf = lg_child(w, frame, "[buckets]");
		uint64_t usable = lg_claim(w, bf, buckets);
		if (usable) {
			uint64_t logical = bucket_count <= usable / 8 ? bucket_count * 8 : usable;
			lg_add(w, bf, logical);
			lg_add_unused(w, frame, usable - logical);
		}
	}
	if (!elements || !first)
		return true;
	uint64_t vsize = mp_type_size(value);
	uint64_t node_size = round_up(8 + vsize, 8) + (cached ? 8 : 0);
	return push_iter(w, CXX_HASH, lg_enter(w, frame, value), value, first, elements,
			 node_size - vsize);
}

static bool deque(lg_walker *w, uint32_t frame, const mp_type *t, uint64_t addr)
{
	const mp_type *value = type_template_type(t, 0);
	uint64_t map_off, size_off, start_off, finish_off;
	if (!value || !field(t, "_M_map", &map_off) || !field(t, "_M_map_size", &size_off) ||
	    !field(t, "_M_start", &start_off) || !field(t, "_M_finish", &finish_off))
		return false;
	value = mp_type_strip(value);
	lg_add(w, frame, mp_type_size(t));
	uint64_t map, map_size;
	if (!word_at(w, addr + map_off, &map) || !word_at(w, addr + size_off, &map_size) || !map)
		return true;
	uint32_t mf = lg_child(w, frame, "[map]");
	uint64_t usable = lg_claim(w, mf, map);
	if (!usable)
		return true;
	uint64_t logical = map_size <= usable / 8 ? map_size * 8 : usable;
	lg_add(w, mf, logical);
	lg_add_unused(w, frame, usable - logical);
	/* Buffers from _M_start._M_node to _M_finish._M_node. */
	uint64_t start[4], finish[4];
	if (!lg_read(w, addr + start_off, start, sizeof(start), "a deque iterator") ||
	    !lg_read(w, addr + finish_off, finish, sizeof(finish), "a deque iterator"))
		return true;
	if (finish[3] < start[3] || (finish[3] - start[3]) / 8 >= map_size)
		return true;
	lg_work item = {.addr = start[3], .a = finish[3], .b = addr, .type = t,
			.frame = frame,
			.kind = LG_W_CONTAINER | (LG_HANDLER_CXX << 8) | ((uint32_t)CXX_DEQUE << 16)};
	return lg_push(w, &item);
}

/* shared_ptr and weak_ptr: the control block, and the object in it or
 * beside it. */
static bool shared(lg_walker *w, uint32_t frame, const mp_type *t, uint64_t addr)
{
	const mp_type *value = type_template_type(t, 0);
	uint64_t ptr_off, pi_off;
	if (!value || !field(t, "_M_ptr", &ptr_off) || !field(t, "_M_pi", &pi_off))
		return false;
	value = mp_type_strip(value);
	lg_add(w, frame, mp_type_size(t));
	uint64_t p, pi;
	if (!word_at(w, addr + ptr_off, &p) || !word_at(w, addr + pi_off, &pi) || !pi)
		return true;
	uint32_t cf = lg_child(w, frame, "[control]");
	uint64_t usable = lg_claim(w, cf, pi);
	if (!usable)
		return true;
	uint64_t vsize = mp_type_size(value);
	if (p > pi && p - pi + vsize <= usable) {
		/* make_shared: the object lives in the control block. */
		lg_add(w, cf, p - pi);
		lg_add_unused(w, frame, usable - (p - pi) - vsize);
		lg_push_value(w, lg_enter(w, frame, value), value, p);
		return true;
	}
	uint64_t control = usable < 24 ? usable : 24;  /* vptr, counts, pointer */
	lg_add(w, cf, control);
	lg_add_unused(w, frame, usable - control);
	lg_push_block(w, frame, value, p, LG_UNKNOWN_LEN);
	return true;
}

static bool unique(lg_walker *w, uint32_t frame, const mp_type *t, uint64_t addr)
{
	const mp_type *value = type_template_type(t, 0);
	if (!value || mp_type_size(t) != 8)
		return false;
	value = mp_type_strip(value);
	lg_add(w, frame, 8);
	uint64_t p;
	if (!word_at(w, addr, &p))
		return true;
	if (mp_type_kind(value) == MP_TYPE_ARRAY) {
		const mp_type *el = mp_type_target(value);
		value = el ? mp_type_strip(el) : NULL;
		/* unique_ptr<T[]>: no length; the block's usable size. */
		lg_push_block(w, frame, value && mp_type_kind(value) != MP_TYPE_STRUCT &&
					       mp_type_kind(value) != MP_TYPE_CLASS ? value : NULL,
			      p, LG_UNKNOWN_LEN);
		return true;
	}
	lg_push_block(w, frame, value, p, LG_UNKNOWN_LEN);
	return true;
}

static bool optional(lg_walker *w, uint32_t frame, const mp_type *t, uint64_t addr)
{
	static const char *const names[] = {"_M_engaged"};
	const mp_type *value = type_template_type(t, 0);
	uint64_t engaged_off;
	if (!value || !lg_fields(w, t, names, 1, &engaged_off))
		return false;
	value = mp_type_strip(value);
	uint64_t size = mp_type_size(t), vsize = mp_type_size(value);
	uint8_t engaged = 0;
	if (vsize > size || !lg_read(w, addr + engaged_off, &engaged, 1, "std::optional")) {
		lg_add(w, frame, size);
		return true;
	}
	if (!engaged) {
		lg_add(w, frame, size);
		return true;
	}
	/* Transparent: the value's frames go where the optional's would. */
	lg_add(w, frame, size - vsize);
	lg_push_value(w, frame, value, addr);
	return true;
}

/* The element buffers of vector and string, for patterns: read from the
 * object's bytes, offsets found by member name. */
static bool read_field(const mp_type *t, const char *name, const uint8_t *bytes, size_t size,
		       uint64_t *value, uint64_t *offset)
{
	const mp_type *ft;
	uint64_t at;
	if (!lg_find_field(t, name, &at, &ft) || at + 8 > size)
		return false;
	memcpy(value, bytes + at, 8);
	if (offset)
		*offset = at;
	return true;
}

static bool vector_buffer(const mp_type *t, uint64_t address, const uint8_t *bytes, size_t size,
			  mp_container_buffer *out)
{
	(void)address;
	static const char *const names[] = {"_M_start", "_M_finish", "_M_end_of_storage"};
	return mp_container_vector_buffer(t, bytes, size, names, out);
}

/* clang leaves std::__cxx11::basic_string a declaration (libstdc++
 * instantiates it explicitly, and its debug info is not installed): the
 * C++11 ABI fixes the layout, {_M_p, _M_string_length, union
 * {_M_local_buf, _M_allocated_capacity}} in 32 bytes.  Its character's
 * size from the name, as a declaration has no template parameters. */
enum { DECLARED_STRING_SIZE = 32, DECLARED_STRING_LOCAL = 16 };

static uint64_t declared_string_element(const mp_type *t)
{
	static const char prefix[] = "std::__cxx11::basic_string<";
	static const struct {
		const char *name;
		uint64_t size;
	} chars[] = {{"char,", 1}, {"wchar_t,", 4}, {"char16_t,", 2}, {"char32_t,", 4},
		     {"char8_t,", 1}};
	const char *name = mp_type_name(t);
	if (!name || mp_type_size(t) || strncmp(name, prefix, sizeof(prefix) - 1) != 0)
		return 0;
	name += sizeof(prefix) - 1;
	for (size_t i = 0; i < sizeof(chars) / sizeof(chars[0]); i++)
		if (strncmp(name, chars[i].name, strlen(chars[i].name)) == 0)
			return chars[i].size;
	return 0;
}

uint64_t mp_container_object_size(const mp_type *type)
{
	uint64_t size = mp_type_size(type);
	return size || !declared_string_element(type) ? size : DECLARED_STRING_SIZE;
}

static bool string_buffer(const mp_type *t, uint64_t address, const uint8_t *bytes, size_t size,
			  mp_container_buffer *out)
{
	const mp_type *ch = type_template_type(t, 0), *ft;
	uint64_t p, length, capacity = 0, local, element = declared_string_element(t);
	if (element) {
		if (size < DECLARED_STRING_SIZE)
			return false;
		memcpy(&p, bytes, 8);
		memcpy(&length, bytes + 8, 8);
		memcpy(&capacity, bytes + DECLARED_STRING_LOCAL, 8);
		local = DECLARED_STRING_LOCAL;
	} else {
		if (!ch || !read_field(t, "_M_p", bytes, size, &p, NULL) ||
		    !read_field(t, "_M_string_length", bytes, size, &length, NULL) ||
		    !lg_find_field(t, "_M_local_buf", &local, &ft))
			return false;
		element = mp_type_size(mp_type_strip(ch));
		if (!element)
			return false;
	}
	if (p == address + local) {
		*out = (mp_container_buffer){0, length, 15 / element, element, true, NULL};
		return true;
	}
	if (mp_type_size(t) &&
	    !read_field(t, "_M_allocated_capacity", bytes, size, &capacity, NULL))
		return false;
	/* The terminating character is part of every allocation. */
	*out = (mp_container_buffer){p, length + 1, capacity + 1, element, false, NULL};
	return true;
}

/* An unordered container's bucket array: one pointer per bucket, in use
 * as many as its elements need (mp_container_buckets_used: a table that
 * grew and then lost most of its elements keeps its buckets).  The
 * single inline bucket of an empty table is no buffer. */
static bool hashtable_buffer(const mp_type *t, uint64_t address, const uint8_t *bytes,
			     size_t size, mp_container_buffer *out)
{
	const mp_type *h, *ft;
	uint64_t h_off, single_off, factor_off, buckets, bucket_count, elements;
	if (!lg_find_field(t, "_M_h", &h_off, &h) || h_off > size ||
	    !lg_find_field(h, "_M_single_bucket", &single_off, &h) ||
	    !read_field(t, "_M_buckets", bytes, size, &buckets, NULL) ||
	    !read_field(t, "_M_bucket_count", bytes, size, &bucket_count, NULL) ||
	    !read_field(t, "_M_element_count", bytes, size, &elements, NULL))
		return false;
	if (buckets == address + h_off + single_off)
		buckets = 0;
	if (!lg_find_field(t, "_M_max_load_factor", &factor_off, &ft))
		factor_off = UINT64_MAX;
	*out = (mp_container_buffer){
		buckets, mp_container_buckets_used(elements, bucket_count, bytes, size, factor_off),
		bucket_count, 8, false, NULL};
	return true;
}

#define NODES(walk, node, suffix, value) \
	walk, NULL, node, suffix, value, false, LG_HANDLER_CXX

const mp_container_class mp_cxx_containers[] = {
	{"std::vector<", vector, vector_buffer, NULL, NULL, 0, false, LG_HANDLER_CXX},
	{"std::__cxx11::basic_string<", string, string_buffer, NULL, NULL, 0, false, LG_HANDLER_CXX},
	{"std::basic_string<", string, string_buffer, NULL, NULL, 0, false, LG_HANDLER_CXX},
	{"std::map<", rbtree, NULL, NULL, NULL, 0, false, LG_HANDLER_CXX},
	{"std::set<", rbtree, NULL, NULL, NULL, 0, false, LG_HANDLER_CXX},
	{"std::multimap<", rbtree, NULL, NULL, NULL, 0, false, LG_HANDLER_CXX},
	{"std::multiset<", rbtree, NULL, NULL, NULL, 0, false, LG_HANDLER_CXX},
	/* The trees, lists and hash tables inside them: where block typing
	 * learns the node type of their blocks. */
	{"std::_Rb_tree<", NODES(NULL, "std::_Rb_tree_node<", ">", 1)},
	{"std::__cxx11::_List_base<", NODES(NULL, "std::_List_node<|std::__cxx11::_List_node<", ">", 0)},
	{"std::_Hashtable<", NODES(NULL, "std::__detail::_Hash_node<", ", true>|, false>", 1)},
	{"std::__cxx11::list<", list, NULL, NULL, NULL, 0, false, LG_HANDLER_CXX},
	{"std::list<", list, NULL, NULL, NULL, 0, false, LG_HANDLER_CXX},
	{"std::unordered_map<", hashtable, hashtable_buffer, NULL, NULL, 0, false, LG_HANDLER_CXX},
	{"std::unordered_set<", hashtable, hashtable_buffer, NULL, NULL, 0, false, LG_HANDLER_CXX},
	{"std::unordered_multimap<", hashtable, hashtable_buffer, NULL, NULL, 0, false, LG_HANDLER_CXX},
	{"std::unordered_multiset<", hashtable, hashtable_buffer, NULL, NULL, 0, false, LG_HANDLER_CXX},
	{"std::deque<", deque, NULL, NULL, NULL, 0, false, LG_HANDLER_CXX},
	{"std::shared_ptr<", shared, NULL, NULL, NULL, 0, false, LG_HANDLER_CXX},
	{"std::weak_ptr<", shared, NULL, NULL, NULL, 0, false, LG_HANDLER_CXX},
	{"std::__shared_ptr<", shared, NULL, NULL, NULL, 0, false, LG_HANDLER_CXX},
	{"std::__weak_ptr<", shared, NULL, NULL, NULL, 0, false, LG_HANDLER_CXX},
	{"std::unique_ptr<", unique, NULL, NULL, NULL, 0, false, LG_HANDLER_CXX},
	/* libc++'s unique_ptr is the same pointer in the same 8 bytes. */
	{"std::__1::unique_ptr<", unique, NULL, NULL, NULL, 0, false, LG_HANDLER_CXX},
	{"std::optional<", optional, NULL, NULL, NULL, 0, false, LG_HANDLER_CXX},
};
const size_t mp_cxx_container_count = sizeof(mp_cxx_containers) / sizeof(mp_cxx_containers[0]);

/* One node of a map/set, list or unordered container: claim it, count its
 * links, schedule the next node and then the value (so the value's blocks
 * are walked first, depth-first). */
static void node_step(lg_walker *w, lg_work *item, uint64_t header_bytes,
		      uint64_t next)
{
	const mp_type *value = item->type;
	uint64_t node = item->addr;
	uint32_t nf = lg_child(w, item->frame, "[node]");
	uint64_t usable = lg_claim(w, nf, node);
	if (!usable)
		return;  /* a loop, garbage or the object limit: stop here */
	uint64_t vsize = mp_type_size(value);
	uint64_t value_offset = (item->kind >> 16) == CXX_RBTREE ? VALUE_OFFSET_RB
				 : (item->kind >> 16) == CXX_LIST ? VALUE_OFFSET_LIST
				 : round_up(8, 8);
	if ((item->kind >> 16) != CXX_HASH)  /* the node struct's size, padding included */
		header_bytes = round_up(value_offset + vsize, 8) - vsize;
	if (header_bytes + vsize > usable) {
		lg_add(w, nf, usable);
		lg_mark_partial(w, "node at 0x%" PRIx64 " is smaller than its %s", node,
				mp_type_name(value));
		return;
	}
	lg_add(w, nf, header_bytes);
	lg_add_unused(w, item->frame, usable - header_bytes - vsize);
	if (item->a > 1 && next) {
		lg_work again = *item;
		again.addr = next;
		again.a--;
		lg_push(w, &again);
	}
	lg_push_value(w, item->frame, value, node + value_offset);
}

static void rbtree_step(lg_walker *w, lg_work *item)
{
	uint64_t x = item->addr, header = item->b, next = 0;
	/* In-order successor by parent links: no stack. */
	uint64_t right;
	if (lg_read_word(w, x + 24, &right)) {
		if (right) {
			uint64_t left = right;
			next = right;
			for (uint64_t guard = 0; guard < 256 && lg_read_word(w, next + 16, &left) && left;
			     guard++)
				next = left;
		} else {
			uint64_t y, cur = x;
			next = 0;
			for (uint64_t guard = 0; guard < 256 && lg_read_word(w, cur + 8, &y); guard++) {
				uint64_t yr;
				if (!lg_read_word(w, y + 24, &yr))
					break;
				if (cur != yr) {
					next = y;
					break;
				}
				cur = y;
			}
		}
	}
	if (next == header)
		next = 0;
	node_step(w, item, 0, next);
}

static void deque_step(lg_walker *w, lg_work *item)
{
	const mp_type *t = item->type;
	const mp_type *value = mp_type_strip(type_template_type(t, 0));
	uint64_t start_off, finish_off;
	if (!field(t, "_M_start", &start_off) || !field(t, "_M_finish", &finish_off))
		return;
	uint64_t np = item->addr, last = item->a, deque_addr = item->b;
	uint64_t start[4], finish[4], buffer;
	if (!lg_read(w, deque_addr + start_off, start, sizeof(start), "a deque iterator") ||
	    !lg_read(w, deque_addr + finish_off, finish, sizeof(finish), "a deque iterator") ||
	    !lg_read_word(w, np, &buffer))
		return;
	if (np < last) {
		lg_work again = *item;
		again.addr = np + 8;
		lg_push(w, &again);
	}
	uint64_t vsize = mp_type_size(value);
	uint64_t buffer_bytes = vsize < 512 ? 512 / vsize * vsize : vsize;
	uint32_t ef = lg_enter(w, item->frame, value);
	uint32_t bf = lg_child(w, item->frame, "[buffer]");
	uint64_t usable = lg_claim(w, bf, buffer);
	if (!usable || !vsize)
		return;
	uint64_t first = np == start[3] ? start[0] : buffer;
	uint64_t end = np == finish[3] ? finish[0] : buffer + buffer_bytes;
	if (first < buffer || end < first || end - buffer > usable) {
		lg_mark_partial(w, "deque buffer at 0x%" PRIx64 " does not match its iterators",
				buffer);
		lg_add(w, bf, usable);
		return;
	}
	uint64_t n = (end - first) / vsize;
	lg_add_unused(w, item->frame, usable - n * vsize);
	if (n)
		lg_push_array(w, ef, value, first, n);
}

bool lg_cxx_step(lg_walker *w, lg_work *item)
{
	uint64_t next = 0;
	switch (item->kind >> 16) {
	case CXX_RBTREE:
		rbtree_step(w, item);
		return true;
	case CXX_LIST:
		if (!lg_read_word(w, item->addr, &next) || next == item->b)
			next = 0;
		node_step(w, item, 0, next);
		return true;
	case CXX_HASH:
		if (!lg_read_word(w, item->addr, &next))
			next = 0;
		node_step(w, item, item->b, next);
		return true;
	case CXX_DEQUE:
		deque_step(w, item);
		return true;
	}
	return false;
}
