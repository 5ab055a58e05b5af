/* One place for what a library's types look like: a registry of the
 * container types memprof knows (libstdc++, libc++, Rust std), one entry each,
 * used by the logical walk (how to count and iterate it), block typing
 * (the node type of its blocks, the element type of its buffer) and
 * patterns (its buffer's length against its capacity).  The entries live
 * beside the code that walks them, in containers_cxx.c,
 * containers_libcxx.c and containers_rust.c. */
#ifndef MEMPROF_CORE_ANALYSIS_CONTAINERS_H
#define MEMPROF_CORE_ANALYSIS_CONTAINERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "logical_internal.h"

/* A container's element buffer, read from the container's own bytes. */
typedef struct mp_container_buffer {
	uint64_t data;              /* user address of the buffer block; 0: none */
	uint64_t length;            /* elements in use */
	uint64_t capacity;          /* elements it has room for, by its own fields */
	uint64_t element_size;
	bool inline_storage;        /* the elements sit in the object (short string) */
	/* The elements' type when they are values of a type that may hold
	 * buffers of their own (a vector's T), else NULL. */
	const mp_type *element;
} mp_container_buffer;

typedef struct mp_container_class {
	const char *prefix;         /* type names that start with it */
	/* The logical walk: counts the value at addr into frame; false when
	 * the layout is not the one expected (the walker then walks it as a
	 * plain struct). */
	bool (*walk)(lg_walker *w, uint32_t frame, const mp_type *type, uint64_t addr);
	/* The element buffer of the value whose bytes are bytes[0, size) at
	 * address; NULL for containers without one buffer (trees, lists). */
	bool (*buffer)(const mp_type *type, uint64_t address, const uint8_t *bytes,
		       size_t size, mp_container_buffer *out);
	/* libstdc++ node containers link nodes through a base class: the node
	 * type is node_prefix + the value type (template parameter
	 * value_index) + node_suffix. */
	const char *node_prefix, *node_suffix;
	size_t value_index;
	/* Its buffer pointer's type says less than the element type (Rust's
	 * RawVec keeps a u8 pointer): the element is template parameter 0. */
	bool buffer_of_parameter;
	int family;                 /* LG_HANDLER_*: whose step runs its work items */
} mp_container_class;

/* The class of a container type (typedefs and cv stripped by the caller),
 * or NULL. */
const mp_container_class *mp_container_class_of(const mp_type *type);
/* The size of a container object: its DWARF size, or the size its
 * library's ABI fixes for a type the debug info only declares
 * (libstdc++'s std::string from clang: 32); 0 when neither. */
uint64_t mp_container_object_size(const mp_type *type);
/* Whether type is a node base of a libstdc++ node container
 * (std::_Rb_tree_node_base, ...): the pointers a node container links
 * with. */
bool mp_container_is_node_base(const mp_type *type);
/* Whether type is the node type of a libstdc++ node container
 * (std::_Rb_tree_node<V>, ...). */
bool mp_container_is_node(const mp_type *type);
/* The value a node of a node container holds, for a node type
 * mp_container_is_node knows: libstdc++'s V in the _M_storage bytes of
 * _Rb_tree_node<V> (_List_node, _Hash_node), libc++'s __value_ (a map's
 * __value_type<K, V> as the pair<const K, V> it wraps).  Its type, with
 * its offset in the node; NULL for other types. */
const mp_type *mp_container_node_value(const mp_type *node, uint64_t *offset);
/* The logical walk of a vector whose object holds a pointer to its first
 * element and one past its last (libstdc++'s _M_start/_M_finish, libc++'s
 * __begin_/__end_: fields[0] and fields[1], as lg_fields takes them):
 * the object, its buffer's elements, and the rest of the buffer as
 * [unused].  False when the layout is not that. */
bool mp_container_walk_vector(lg_walker *w, uint32_t frame, const mp_type *type,
			      uint64_t addr, const char *const fields[2]);
/* The element buffer of such a vector from its bytes[0, size): fields
 * names its begin, end and end-of-capacity pointers. */
bool mp_container_vector_buffer(const mp_type *type, const uint8_t *bytes, size_t size,
				const char *const fields[3], mp_container_buffer *out);
/* The buckets of an unordered container's bucket array that count as
 * used: all of them while they are at most twice the count its elements
 * need at its max_load_factor (what reserve, rehash(0) and a copy keep:
 * the next prime of the library's list at or above that count), else
 * that count.  max_load_factor is the float at bytes[at, at + 4), 1.0
 * when out of bytes or not a sane factor. */
uint64_t mp_container_buckets_used(uint64_t elements, uint64_t bucket_count,
				   const uint8_t *bytes, size_t size, uint64_t at);
/* Runs a container's work item (LG_W_CONTAINER) for the logical walk. */
void mp_container_step(lg_walker *w, lg_work *item);

/* The families' tables (containers_cxx.c, containers_rust.c). */
extern const mp_container_class mp_cxx_containers[];
extern const size_t mp_cxx_container_count;
extern const mp_container_class mp_rust_containers[];
extern const size_t mp_rust_container_count;
/* libc++ (containers_libcxx.c). */
extern const mp_container_class mp_libcxx_containers[];
extern const size_t mp_libcxx_container_count;

#endif
