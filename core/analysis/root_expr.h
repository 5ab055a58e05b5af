/* ROOT of `memprof logical` (and any verb that walks one value): a
 * variable, a member/index chain over it, or ADDRESS:TYPE, resolved from
 * DWARF to an address and a type.  Grammar (docs/logical.md, ROOT):
 *
 *   ROOT  := ADDRESS ':' TYPE | [MODULE ':'] NAME STEP*
 *   STEP  := '.' MEMBER | '->' MEMBER | '[' INDEX ']'
 *
 * A chain ending in a pointer member walks that member of its struct (the
 * pointer, and what it points to with the length the struct gives it);
 * another chain whose value is a pointer to a struct walks the struct it
 * points to, as debuggers hand `(struct x *)$rdi` over; a bare variable is
 * walked as it is (a global pointer counts its own 8 bytes too). */
#ifndef MEMPROF_CORE_ANALYSIS_ROOT_EXPR_H
#define MEMPROF_CORE_ANALYSIS_ROOT_EXPR_H

#include <stdint.h>

#include "memprof/memprof.h"

typedef struct mp_root {
	uint64_t address;
	const mp_type *type;
	char name[512];        /* the root's frame: the text as given, or the type */
	const char *module;    /* where the variable was found, or NULL */
	/* A chain ending in a pointer member (`registry.items`): address and
	 * type are its struct's and only this member is walked, so the
	 * pointer keeps the length its struct gives it; "" otherwise. */
	char member[256];
} mp_root;

/* Errors name the part that failed: "root a.b: 'a' has no member 'b'
 * (members: x, y)", "index 5 past the array of 4", "'a->p' is NULL". */
mp_error *mp_root_resolve(mp_target *target, const char *text, mp_root *out);

#endif
