/* The container registry (see containers.h). */
#include "containers.h"

#include <inttypes.h>
#include <string.h>

const mp_container_class *mp_container_class_of(const mp_type *type)
{
	const char *name = type ? mp_type_name(type) : NULL;
	/* Every class's prefix starts with one of these: most types are
	 * rejected on their first letters. */
	if (!name || (strncmp(name, "std::", 5) != 0 && strncmp(name, "alloc::", 7) != 0 &&
		      strncmp(name, "hashbrown::", 11) != 0))
		return NULL;
	static const struct {
		const mp_container_class *table;
		const size_t *count;
	} families[] = {
		{mp_cxx_containers, &mp_cxx_container_count},
		{mp_rust_containers, &mp_rust_container_count},
		{mp_libcxx_containers, &mp_libcxx_container_count},
	};
	for (size_t f = 0; f < sizeof(families) / sizeof(families[0]); f++)
		for (size_t i = 0; i < *families[f].count; i++)
			if (strncmp(name, families[f].table[i].prefix,
				    strlen(families[f].table[i].prefix)) == 0)
				return &families[f].table[i];
	return NULL;
}

bool mp_container_is_node_base(const mp_type *type)
{
	if (type_name_is(type, "std::_Rb_tree_node_base") ||
	    type_name_is(type, "std::__detail::_List_node_base") ||
	    type_name_is(type, "std::__detail::_Hash_node_base"))
		return true;
	/* libc++'s are templates (on the pointer type, or the value): any
	 * instance, but not a pointer to one, whose name starts the same (a
	 * hash table's bucket array holds such pointers).  Its tree's end
	 * node is the base of the base. */
	enum mp_type_kind kind = type ? mp_type_kind(type) : MP_TYPE_INVALID;
	if (kind != MP_TYPE_STRUCT && kind != MP_TYPE_CLASS)
		return false;
	return type_name_starts(type, "std::__1::__tree_node_base<") ||
	       type_name_starts(type, "std::__1::__tree_end_node<") ||
	       type_name_starts(type, "std::__1::__list_node_base<") ||
	       type_name_starts(type, "std::__1::__hash_node_base<");
}

static bool is_node_of(const char *name, const mp_container_class *table, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		for (const char *p = table[i].node_prefix; p && *p;) {
			size_t length = strcspn(p, "|");
			if (strncmp(name, p, length) == 0)
				return true;
			p += length + (p[length] == '|');
		}
	}
	return false;
}

bool mp_container_is_node(const mp_type *type)
{
	const char *name = type ? mp_type_name(type) : NULL;
	if (!name || strncmp(name, "std::", 5) != 0)
		return false;
	return is_node_of(name, mp_cxx_containers, mp_cxx_container_count) ||
	       is_node_of(name, mp_libcxx_containers, mp_libcxx_container_count);
}

const mp_type *mp_container_node_value(const mp_type *node, uint64_t *offset)
{
	const char *name = node ? mp_type_name(node) : NULL;
	if (!name || strncmp(name, "std::", 5) != 0)
		return NULL;
	const mp_type *value = NULL, *storage;
	if (is_node_of(name, mp_cxx_containers, mp_cxx_container_count)) {
		/* _M_storage is an aligned byte array: the value's type is
		 * the node's template parameter. */
		value = type_template_type(node, 0);
		if (!value || !lg_find_field(node, "_M_storage", offset, &storage))
			return NULL;
		value = mp_type_strip(value);
		return mp_type_size(storage) >= mp_type_size(value) ? value : NULL;
	}
	if (!is_node_of(name, mp_libcxx_containers, mp_libcxx_container_count) ||
	    !lg_find_field(node, "__value_", offset, &value) || !value)
		return NULL;
	if (type_name_starts(value, "std::__1::__value_type<") ||
	    type_name_starts(value, "std::__1::__hash_value_type<")) {
		uint64_t cc_off;
		const mp_type *cc;
		if (!lg_find_field(value, "__cc", &cc_off, &cc) || !cc ||
		    mp_type_size(cc) != mp_type_size(value))
			return NULL;
		*offset += cc_off;
		value = cc;
	}
	return value;
}

void mp_container_step(lg_walker *w, lg_work *item)
{
	switch ((item->kind >> 8) & 0xff) {
	case LG_HANDLER_CXX:
		lg_cxx_step(w, item);
		break;
	case LG_HANDLER_LIBCXX:
		lg_libcxx_step(w, item);
		break;
	default:
		lg_rust_step(w, item);
		break;
	}
}

bool mp_container_walk_vector(lg_walker *w, uint32_t frame, const mp_type *t, uint64_t addr,
			      const char *const fields[2])
{
	const mp_type *el = type_template_type(t, 0);
	uint64_t off[2];
	if (!el || !lg_fields(w, t, fields, 2, off))
		return false;
	el = mp_type_strip(el);
	uint64_t size = mp_type_size(el);
	lg_add(w, frame, mp_type_size(t));
	uint64_t begin, end;
	if (!lg_read_word(w, addr + off[0], &begin) || !lg_read_word(w, addr + off[1], &end) ||
	    !begin)
		return true;
	uint64_t usable = lg_claim(w, frame, begin);
	if (!usable)
		return true;
	uint64_t n = size && end >= begin ? (end - begin) / size : 0;
	if (n * size > usable) {
		lg_mark_partial(w, "%s at 0x%" PRIx64 ": %" PRIu64 " elements do not fit the "
				"block", mp_type_name(t), addr, n);
		n = size ? usable / size : 0;
	}
	lg_add_unused(w, frame, usable - n * size);
	if (n)
		lg_push_array(w, lg_enter(w, frame, el), el, begin, n);
	return true;
}

bool mp_container_vector_buffer(const mp_type *t, const uint8_t *bytes, size_t size,
				const char *const fields[3], mp_container_buffer *out)
{
	const mp_type *el = type_template_type(t, 0);
	uint64_t pointer[3];
	for (int i = 0; i < 3; i++) {
		const mp_type *ft;
		uint64_t at;
		if (!el || !lg_find_field(t, fields[i], &at, &ft) || at + 8 > size)
			return false;
		memcpy(&pointer[i], bytes + at, 8);
	}
	uint64_t begin = pointer[0], end = pointer[1], capacity = pointer[2];
	uint64_t element = mp_container_object_size(mp_type_strip(el));
	if (!element || end < begin || capacity < end)
		return false;
	*out = (mp_container_buffer){begin, (end - begin) / element, (capacity - begin) / element,
				     element, false, mp_type_strip(el)};
	return true;
}

uint64_t mp_container_buckets_used(uint64_t elements, uint64_t bucket_count,
				   const uint8_t *bytes, size_t size, uint64_t at)
{
	float factor = 1.0f;
	if (at <= size && size - at >= sizeof(factor))
		memcpy(&factor, bytes + at, sizeof(factor));
	if (!(factor >= 0.01f && factor <= 1000.0f))
		factor = 1.0f;
	double needed = (double)elements / factor;
	uint64_t attainable = needed >= (double)bucket_count ? bucket_count
							     : (uint64_t)needed + (needed > (uint64_t)needed);
	if (!attainable)
		attainable = 1;
	return bucket_count <= 2 * attainable ? bucket_count : attainable;
}
