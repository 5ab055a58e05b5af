/* Grouping leaked blocks for reports: by inferred type, then size. */
#ifndef MEMPROF_CORE_ANALYSIS_LEAK_GROUPS_H
#define MEMPROF_CORE_ANALYSIS_LEAK_GROUPS_H

#include "memprof/memprof.h"
#include "block_types.h"

enum { MP_PREVIEW_BYTES = 32 };

typedef struct mp_leak_group {
	enum mp_leak_kind kind;
	char *type;                 /* inferred type, or NULL when unknown */
	const char *evidence;       /* "dwarf", "size-match", "vtable", "string", "" */
	uint64_t size;              /* usable size of each block */
	uint64_t count, bytes;
	uint64_t example;           /* user address of one block */
	uint8_t preview[MP_PREVIEW_BYTES];
	size_t preview_length;
} mp_leak_group;

typedef struct mp_leak_report {
	uint64_t blocks[5], bytes[5];   /* per mp_leak_kind */
	mp_leak_group *groups;          /* largest bytes first */
	size_t n_groups;
	size_t *unreferenced;           /* chunk indices, largest first */
	size_t n_unreferenced;
} mp_leak_report;

/* Groups the blocks of the kinds in kinds_mask (1 << mp_leak_kind). */
mp_error *mp_leak_report_build(mp_target *target, const mp_heap *heap,
			       const mp_leaks *leaks, unsigned kinds_mask,
			       mp_leak_report *out);
/* The same with block types the caller inferred (and keeps). */
mp_error *mp_leak_report_build_typed(mp_target *target, const mp_heap *heap,
				     const mp_leaks *leaks, const mp_block_typing *typing,
				     unsigned kinds_mask, mp_leak_report *out);
/* Sees each block of kinds_mask with what the report groups it by (type:
 * NULL when unknown; bytes: its first length bytes) before it is counted;
 * true drops it from the report altogether (suppressions). */
typedef bool (*mp_leak_filter)(void *context, size_t chunk_index, enum mp_leak_kind kind,
			       const char *type, uint64_t size, const uint8_t *bytes,
			       size_t length);
mp_error *mp_leak_report_build_filtered(mp_target *target, const mp_heap *heap,
					const mp_leaks *leaks, const mp_block_typing *typing,
					unsigned kinds_mask, mp_leak_filter filter,
					void *context, mp_leak_report *out);
void mp_leak_report_free(mp_leak_report *report);

/* The C++ class whose vtable word points into (a `_ZTV` symbol), or NULL
 * (*nomem says whether memory ran out): its name, which the caller frees
 * (*is_demangled false when the mangled name is beyond memprof's
 * demangler and kept as it is), and, when type is not NULL, its DWARF
 * type from the module that holds the vtable (NULL when that module
 * describes no class of the name). */
char *mp_vtable_class(mp_target *target, uint64_t word, bool *is_demangled,
		      const mp_type **type, bool *nomem);

/* A C string at the start of a block of the target: text bytes ending
 * in a NUL inside the block; its length with the NUL, else 0.  At least
 * two characters; up to three, no white space but spaces; and text ending
 * inside the first word is no string when that word is an address of the
 * target: strings compare only up to their NUL, and the "`f" of a list
 * node's next pointer (60 66 00 21 31 56) or the "@\t" of a small integer
 * (40 09 00 00) made unrelated structs duplicate strings.  The one test
 * of the leak grouping's and the patterns' string category. */
size_t mp_block_string_length(mp_target *target, const uint8_t *bytes, size_t length);

/* What a block holds, from its first bytes: a C++ class named by its vtable
 * pointer, or a string.  Returns a type the caller frees, or NULL. */
char *mp_infer_block_type(mp_target *target, const uint8_t *bytes,
			  size_t length, const char **evidence);

/* Whether objects of type start with a vtable pointer (their first member,
 * or their first base's, is the compiler's _vptr). */
bool mp_type_has_vtable_pointer(const mp_type *type);

/* What the block at chunk index holds, for grouping: its type (DWARF or
 * shape, or the class its vtable names), else what its first bytes say
 * (mp_infer_block_type).  bytes/length: the block's first bytes.  Returns
 * a name the caller frees, or NULL (unknown). */
char *mp_block_category(mp_target *target, const mp_block_typing *typing, size_t index,
			const uint8_t *bytes, size_t length, const char **evidence);

#endif
