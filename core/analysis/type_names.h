/* Questions about a type asked by its name or template arguments, the way
 * the analyses recognise library types (std::, alloc::, hashbrown::). */
#ifndef MEMPROF_CORE_ANALYSIS_TYPE_NAMES_H
#define MEMPROF_CORE_ANALYSIS_TYPE_NAMES_H

#include <string.h>

#include "memprof/memprof.h"

static inline bool type_name_starts(const mp_type *type, const char *prefix)
{
	const char *name = mp_type_name(type);
	return name && strncmp(name, prefix, strlen(prefix)) == 0;
}

static inline bool type_name_is(const mp_type *type, const char *name)
{
	const char *own = mp_type_name(type);
	return own && strcmp(own, name) == 0;
}

/* The index-th type parameter of a template instance (value parameters
 * not counted), or NULL. */
static inline const mp_type *type_template_type(const mp_type *type, size_t index)
{
	size_t seen = 0;
	for (size_t i = 0; i < mp_type_template_param_count(type); i++) {
		const mp_type_template_param *param = mp_type_template_param_at(type, i);
		if (param && !param->is_value && seen++ == index)
			return param->type;
	}
	return NULL;
}

#endif
