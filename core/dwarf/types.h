/* Internal side of the type model (public API: memprof.h, "types"). */
#ifndef MEMPROF_CORE_DWARF_TYPES_H
#define MEMPROF_CORE_DWARF_TYPES_H

#include "dwarf/dwarf_lib.h"
#include "memprof/memprof.h"

struct mp_types;

/* Frees every module's index, type cache and libdwarf handle; called by
 * mp_target_release. */
void mp_types_free(struct mp_types *types);

/* What indexing a module cost: .debug_info bytes (uncompressed) and
 * seconds; false when the module was not indexed. */
bool mp_type_index_stats(mp_target *target, const mp_module *module,
			 uint64_t *info_bytes, double *seconds,
			 size_t *n_names);

/* Normalizes a type name for lookup: spaces only between two identifier
 * characters ("a<b<c> >" and "a<b<c>>" match).  out holds strlen(in)+1. */
void mp_type_normalize_name(const char *in, char *out);

/* mp_type_list over one module only (every module when only is NULL). */
mp_error *mp_type_list_in_module(mp_target *target, const mp_module *only,
				 const char *pattern,
				 bool (*visit)(void *context, const char *name,
					       const mp_type *type),
				 void *context);

/* The module's DWARF handle, indexed first (the type model owns it: one
 * libdwarf session per module for types and frame variables alike). */
mp_error *mp_type_module_dwarf(mp_target *target, const mp_module *module, mp_dw **out);

/* The type whose DIE is at offset in the module's DWARF (a variable's
 * DW_AT_type), from the module's cache. */
mp_error *mp_type_at_offset(mp_target *target, const mp_module *module, uint64_t offset,
			    const mp_type **out);

#endif
