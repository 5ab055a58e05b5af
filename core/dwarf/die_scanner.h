/* The index walk without libdwarf: a raw reader of .debug_info for
 * mp_dw_walk (dwarf_lib.h).  It parses each unit's abbreviation table once
 * into a compact table (tag, children flag, attribute forms, the byte size
 * of DIEs whose forms all have a fixed size) and then walks the unit's
 * bytes directly, decoding only the attributes the walker hands out and
 * skipping every subtree the visitor does not enter (by DW_AT_sibling when
 * present, else by abbreviation sizes: rustc emits no DW_AT_sibling).
 * No allocation per DIE; strings point into the sections given.
 *
 * What it reads: DWARF 2 to 5, 32-bit, compile and partial units in
 * .debug_info, strings by DW_FORM_string, strp, line_strp and strx*,
 * addresses by DW_OP_addr and DW_OP_addrx.  mp_dw_scan_check refuses
 * anything else (64-bit DWARF, type units, split DWARF skeletons, dwz
 * references into a supplementary file, DW_FORM_indirect, unknown forms,
 * sparse abbreviation codes) before any DIE is visited, and the caller
 * walks that file with libdwarf instead.  Every read is bounds-checked:
 * a truncated or corrupt unit met during the walk is an mp_error naming
 * the section and offset. */
#ifndef MEMPROF_CORE_DWARF_DIE_SCANNER_H
#define MEMPROF_CORE_DWARF_DIE_SCANNER_H

#include <stdbool.h>
#include <stdint.h>

#include "dwarf_lib.h"

/* A section's bytes; mapped says they lie in a read-only file mapping
 * (their pages may be given back to the page cache as the walk passes
 * them), not in memory that holds the only copy (an inflated section). */
typedef struct mp_dw_scan_section {
	const uint8_t *data;
	uint64_t size;
	bool mapped;
} mp_dw_scan_section;

typedef struct mp_dw_scan_input {
	const char *label;             /* the module, for errors */
	mp_dw_scan_section info, abbrev, str, line_str, str_offsets, addr;
	uint64_t where;                /* bits or'ed into every DIE offset */
} mp_dw_scan_input;

/* Which units one pass visits (see dwarf_lib.c: dwz's partial units are
 * walked after every unit that has a language). */
enum mp_dw_scan_units { MP_DW_SCAN_ALL, MP_DW_SCAN_SKIP_PARTIAL, MP_DW_SCAN_ONLY_PARTIAL };

/* NULL when every unit header and abbreviation table of in->info is one
 * the scanner reads; else why not, and *offset the unit's .debug_info
 * offset: the file is left to libdwarf (nothing visited). */
const char *mp_dw_scan_check(const mp_dw_scan_input *in, uint64_t *offset);

/* Whether the index walk (both walkers) reads the name, declaration and
 * specification of a DIE of this tag (besides variables, read in full,
 * and subprograms at unit and namespace level): the DIEs the type index
 * names. */
bool mp_dw_walk_names_tag(unsigned tag);

/* One pass of the index walk over in->info with the semantics of
 * mp_dw_walk; *skipped_partial tells whether MP_DW_SCAN_SKIP_PARTIAL left
 * partial units out.  Call only after mp_dw_scan_check said true. */
mp_error *mp_dw_scan_walk(const mp_dw_scan_input *in, enum mp_dw_scan_units units,
			  const mp_dw_walker *walker, bool progress, bool *skipped_partial);

#endif
