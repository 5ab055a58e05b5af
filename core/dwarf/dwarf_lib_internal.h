/* What the two files that use libdwarf share (dwarf_lib.c: opening a file,
 * DIEs, the index walk, call-frame information; dwarf_scopes.c: the
 * variables in scope at a pc): the handle and a few helpers.  No other
 * file includes this header or libdwarf.h. */
#ifndef MEMPROF_CORE_DWARF_DWARF_LIB_INTERNAL_H
#define MEMPROF_CORE_DWARF_DWARF_LIB_INTERNAL_H

#include <dwarf.h>
#include <libdwarf.h>

#include "dwarf_lib.h"

#include "elf/elf_file.h"

#if defined(DW_LIBDWARF_VERSION_MAJOR)
#define MP_DW_NEW_API 1
#else
#define MP_DW_NEW_API 0
#endif

/* The offsets this module hands out say which file and section a DIE lies
 * in: a dwz supplementary file's .debug_info and a DWARF 4 .debug_types
 * have offsets of their own that collide with .debug_info's, and the type
 * model keys everything by offset.  Real sections never reach 2^62. */
#define MP_DW_ALT   (UINT64_C(1) << 63)   /* in the supplementary file */
#define MP_DW_TYPES (UINT64_C(1) << 62)   /* in .debug_types */
/* Split DWARF: bits 48..61 hold 1 + the index of the .dwo file (or .dwp
 * package) in the executable's handle; each file's offsets start at 0. */
#define MP_DW_DWO_SHIFT 48
#define MP_DW_DWO_MAX   ((UINT64_C(1) << 14) - 1)
#define MP_DW_DWO       (MP_DW_DWO_MAX << MP_DW_DWO_SHIFT)
#define MP_DW_WHERE (MP_DW_ALT | MP_DW_TYPES | MP_DW_DWO)

struct mp_dw {
	Dwarf_Debug dbg;
	int fd;
	char *label;
	/* Zero-copy access (libdwarf 2021 API, uncompressed sections): the
	 * file stays mapped and libdwarf reads sections in place instead of
	 * copying .debug_info and .debug_str into the heap. */
	mp_elf *elf;
	const Elf64_Shdr *shdrs;
	size_t n_shdrs;
	const char *shstrtab;
	size_t shstrtab_size;
	/* SHF_COMPRESSED sections inflated on first load, by section index
	 * (Debian's debug files compress .debug_* with zlib). */
	unsigned char **inflated;
	bool object_init;
	/* dwz: the supplementary file (.gnu_debugaltlink), tied to this one
	 * so libdwarf reads DW_FORM_GNU_strp_alt strings from it; bits is
	 * MP_DW_ALT in the supplementary file's own handle, else 0. */
	struct mp_dw *alt;
	uint64_t bits;
	/* The file has type units (.debug_types, or DWARF 5 type units,
	 * which GCC puts first): only then does the index walk look for the
	 * attributes of their stubs, which cost time on every DIE. */
	bool type_units;
	/* The file's path: split DWARF's .dwp package lies beside it. */
	char *path;
	/* Split DWARF (-gsplit-dwarf): the executable's skeleton units name
	 * .dwo files holding the DIEs, opened as the walk meets them (or one
	 * EXE.dwp package holding them all) and tied to this handle, whose
	 * .debug_addr gives their addresses.  bits is MP_DW_DWO's field in
	 * their own handles. */
	struct mp_dw **dwos;
	size_t n_dwos;
	bool dwp_tried, dwp;
	/* Call-frame information, read on first use: 0 not yet, 1 read,
	 * -1 the file has none. */
	int frames_state;
	Dwarf_Cie *cies;
	Dwarf_Fde *fdes;
	Dwarf_Signed n_cies, n_fdes;
	/* dwarf_scopes.c's: .debug_aranges, read on first use for frame
	 * variables (0 not yet, 1 read, -1 the file has none) ... */
	int aranges_state;
	Dwarf_Arange *aranges;
	Dwarf_Signed n_aranges;
	/* ... and without them, the units' own code ranges. */
	bool unit_ranges_loaded;
	struct unit_range *unit_ranges;
	size_t n_unit_ranges;
	/* mp_dw_locals_at's answers by pc, allocated on first use: the
	 * threads of a pool wait at the same pcs. */
	struct locals_memo *locals_memo;
#if !MP_DW_NEW_API
	Dwarf_Obj_Access_Interface object;
#endif
};

/* Advances to the next CU of .debug_info; *cu_die is its unit DIE. */
int mp_dwi_shim_next_cu(Dwarf_Debug dbg, Dwarf_Bool is_info, Dwarf_Die *cu_die,
			Dwarf_Error *err);
/* The next sibling of die, which must lie after it (*backwards when it
 * does not, an error without a libdwarf error). */
int mp_dwi_next_sibling(Dwarf_Debug dbg, Dwarf_Die die, Dwarf_Die *out,
			Dwarf_Error *err, bool *backwards);
void mp_dwi_free_attr(Dwarf_Debug dbg, Dwarf_Attribute attr);
/* An attribute as an unsigned constant, false when it is none. */
bool mp_dwi_form_unsigned(Dwarf_Debug dbg, Dwarf_Attribute attr, uint64_t *value);
/* The offset (MP_DW_WHERE bits included) a reference attribute of a DIE
 * that lies where `where` says points at. */
bool mp_dwi_form_ref(Dwarf_Debug dbg, Dwarf_Attribute attr, uint64_t where, uint64_t *offset);
/* A corrupt-DWARF error naming the file, offset and what was read; frees
 * err. */
mp_error *mp_dwi_dw_error(mp_dw *dw, Dwarf_Error err, uint64_t offset, const char *what);
/* Frees what dwarf_scopes.c cached in dw. */
void mp_dwi_scopes_free(mp_dw *dw);

#endif
