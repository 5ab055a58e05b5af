/* Hints: what DWARF cannot say about a struct member, from hint files
 * (`--hints FILE`, EXE.memprof-hints, $XDG_CONFIG_HOME/memprof/hints/) or
 * a debugger's `memprof hint` command.  The format is in docs/logical.md
 * ("Hints"); this module only parses and stores them.  The logical walk
 * (logical.c) and block typing (block_types.c) resolve a type's hints to
 * DWARF members once, when they first plan the type, so a hint costs
 * nothing per block. */
#ifndef MEMPROF_CORE_ANALYSIS_HINTS_H
#define MEMPROF_CORE_ANALYSIS_HINTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "memprof/memprof.h"

enum mp_hint_flag {
	MP_HINT_LENGTH = 1 << 0,     /* elements in use: a field or a constant */
	MP_HINT_CAPACITY = 1 << 1,   /* elements allocated: a field or a constant */
	MP_HINT_STRING = 1 << 2,     /* a NUL-terminated string */
	MP_HINT_BORROWED = 1 << 3,   /* owned elsewhere: neither counted nor followed */
	MP_HINT_UNION = 1 << 4,      /* the active member from a tag field */
	MP_HINT_POINTS_TO = 1 << 5,  /* the pointee's type */
	MP_HINT_LINK = 1 << 6,       /* an intrusive link (container_of) */
};

/* One arm of a tagged union: tag value (a number, or an enumerator's name
 * resolved against the tag's enum type) -> the union member. */
typedef struct mp_hint_arm {
	const char *value_name;      /* NULL: value is the number */
	int64_t value;
	const char *member;
} mp_hint_arm;

/* The hints of one member of one type; NULL fields are not given. */
typedef struct mp_hint {
	const char *type;            /* normalised (see mp_hints_type_key) */
	const char *member;
	unsigned flags;              /* enum mp_hint_flag */
	const char *length_field;    /* NULL: length_count */
	uint64_t length_count;
	const char *capacity_field;  /* NULL: capacity_count */
	uint64_t capacity_count;
	const char *tag_field;
	const mp_hint_arm *arms;
	size_t n_arms;
	const char *target_type;     /* points-to, link: a type name ("void": raw bytes) */
	const char *link_member;     /* link: the member of target_type the pointer
				      * points to; NULL: link_offset bytes */
	uint64_t link_offset;
	const char *where;           /* "FILE:LINE" of the last line that set it */
} mp_hint;

/* "struct foo" / "foo" / "union u" / "class C" -> the key hints are filed
 * under: tag keyword dropped, spaces only where two words meet. */
void mp_hints_type_key(const char *type_name, char *out, size_t size);

/* Whether any hint names the type (by key); the member's hint, or NULL. */
bool mp_hints_has_type(const mp_hints *hints, const char *key);
const mp_hint *mp_hints_find(const mp_hints *hints, const char *key, const char *member);
/* The index-th hint, index < mp_hints_count() (memprof.h). */
const mp_hint *mp_hints_hint_at(const mp_hints *hints, size_t index);

/* The sources hints came from, in load order ("FILE", "gdb"). */
size_t mp_hints_source_count(const mp_hints *hints);
const char *mp_hints_source_at(const mp_hints *hints, size_t index);

/* Adds every hint and source of src to dst (later ones win per member). */
mp_error *mp_hints_merge(mp_hints *dst, const mp_hints *src);

/* The files found without being named: EXE.memprof-hints beside the
 * executable, then $XDG_CONFIG_HOME/memprof/hints/ *.hints (default
 * ~/.config) in name order.  A missing file is no error; a bad one is. */
mp_error *mp_hints_load_default(mp_hints *hints, const char *exe_path);

#endif
