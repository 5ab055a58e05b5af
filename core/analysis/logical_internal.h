/* The logical walker's insides, shared with the container modules
 * (containers_cxx.c, containers_libcxx.c, containers_rust.c). */
#ifndef MEMPROF_CORE_ANALYSIS_LOGICAL_INTERNAL_H
#define MEMPROF_CORE_ANALYSIS_LOGICAL_INTERNAL_H

#include "logical.h"
#include "type_names.h"

enum { LG_NONE = UINT32_MAX };
#define LG_UNKNOWN_LEN UINT64_MAX

enum lg_work_kind {
	LG_W_VALUE,      /* a value of any type at addr, in frame */
	LG_W_STRUCT,     /* compound members of a struct, from entry a */
	LG_W_ARRAY,      /* elements a..b of type at addr, in frame */
	LG_W_BLOCK,      /* the heap block a pointer in frame points to; a = len */
	LG_W_CONTAINER,  /* a container's own iteration state (containers_*.c) */
};

typedef struct lg_work {
	uint64_t addr;
	uint64_t a, b;
	const void *type;   /* mp_type, or a container's state */
	uint32_t frame;
	uint32_t kind;      /* enum lg_work_kind; container: handler id << 8 */
} lg_work;

typedef struct lg_walker lg_walker;

/* A container's handler: true when it took the value (type stripped). */
typedef bool (*lg_container_fn)(lg_walker *w, uint32_t frame,
				const mp_type *type, uint64_t addr);

/* --- services of the walker for the container modules --- */

/* The frame named name under parent (created on first use). */
uint32_t lg_child(lg_walker *w, uint32_t parent, const char *name);
/* The frame for a value of an element or pointee type under parent: the
 * type's name, or an ancestor frame of the same struct type (chain folding). */
uint32_t lg_enter(lg_walker *w, uint32_t parent, const mp_type *type);
/* Adds bytes to a frame: logical and allocated alike. */
void lg_add(lg_walker *w, uint32_t frame, uint64_t bytes);
/* Adds allocated-only bytes (slack) under parent's "[unused]". */
void lg_add_unused(lg_walker *w, uint32_t parent, uint64_t bytes);
/* Reads target memory; false (and a warning, partial) when unreadable. */
bool lg_read(lg_walker *w, uint64_t addr, void *buffer, size_t length,
	     const char *what);
bool lg_read_word(lg_walker *w, uint64_t addr, uint64_t *value);
/* Claims the heap block that starts at user address p for frame (its count
 * goes there): returns its usable size, or 0 when p is no block start, the
 * block was already counted, or the object limit is hit. */
uint64_t lg_claim(lg_walker *w, uint32_t frame, uint64_t p);
/* The usable size of the in-use block containing addr and its start. */
uint64_t lg_block_of(lg_walker *w, uint64_t addr, uint64_t *start);
/* Schedules work (depth-first: the last pushed runs first). */
bool lg_push(lg_walker *w, const lg_work *item);
/* Schedules a value of type at addr in frame. */
bool lg_push_value(lg_walker *w, uint32_t frame, const mp_type *type, uint64_t addr);
/* Schedules count elements of type at addr in frame (scalars are added at
 * once). */
bool lg_push_array(lg_walker *w, uint32_t frame, const mp_type *type,
		   uint64_t addr, uint64_t count);
/* A pointer value p to pointee in frame: follows it like a C pointer
 * (len LG_UNKNOWN_LEN unless known). */
bool lg_push_block(lg_walker *w, uint32_t frame, const mp_type *pointee,
		   uint64_t p, uint64_t len);
void lg_mark_partial(lg_walker *w, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* The frame's depth limit is reached: the block is a "[max-depth]" leaf. */
bool lg_too_deep(lg_walker *w, uint32_t frame);
uint64_t *lg_objects(lg_walker *w);
uint32_t lg_frame_depth(lg_walker *w, uint32_t frame);

/* Member lookup through nested structs and base classes (breadth first,
 * bounded): offset from the start of type and the member's type. */
bool lg_find_field(const mp_type *type, const char *name, uint64_t *offset,
		   const mp_type **field_type);
/* The same, matching only members of pointer type; *pointee is what it
 * points to (stripped). */
bool lg_find_pointer(const mp_type *type, const char *name, uint64_t *offset,
		     const mp_type **pointee);
mp_target *lg_target(lg_walker *w);
/* Offsets of up to 8 named fields of type (lg_find_field; a name starting
 * with '*' must be a pointer, found with lg_find_pointer), looked up once
 * per type and remembered; false unless all were found. */
bool lg_fields(lg_walker *w, const mp_type *type, const char *const *names,
	       size_t n, uint64_t *offsets);
/* A zeroed record of size bytes kept for (key, kind) for the walk (a
 * type's layout as one module reads it); *fresh when just made.  NULL when
 * out of memory. */
enum lg_memo_kind {
	LG_MEMO_FLEX = 1, LG_MEMO_BTREE, LG_MEMO_FIELDS,
};
void *lg_memo(lg_walker *w, const void *key, int kind, size_t size, bool *fresh);
/* The template parameter at index that is a type, or NULL. */

/* The container families' iteration steps for LG_W_CONTAINER items (the
 * containers themselves are found through containers.h's registry). */
bool lg_cxx_step(lg_walker *w, lg_work *item);
bool lg_rust_step(lg_walker *w, lg_work *item);
bool lg_libcxx_step(lg_walker *w, lg_work *item);

enum { LG_HANDLER_CXX = 1, LG_HANDLER_RUST = 2, LG_HANDLER_LIBCXX = 3 };

#endif
