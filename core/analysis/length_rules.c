/* Length siblings of pointer members (length_rules.h). */
#include "length_rules.h"

#include <stdio.h>
#include <string.h>

static bool is_length_integer(const mp_type_member *m)
{
	if (!m || !m->name || !m->type || m->bit_size)
		return false;
	const mp_type *t = mp_type_strip(m->type);
	if (mp_type_kind(t) != MP_TYPE_BASE)
		return false;
	uint64_t size = mp_type_size(t);
	unsigned e = mp_type_encoding(t);
	/* DW_ATE_signed 5, signed_char 6, unsigned 7, unsigned_char 8: no
	 * floats or booleans. */
	return size >= 1 && size <= 8 && e >= 5 && e <= 8;
}

const mp_type_member *mp_length_member(const mp_type *record, const char *name)
{
	size_t n = mp_type_member_count(record);
	for (size_t i = 0; i < n; i++) {
		const mp_type_member *m = mp_type_member_at(record, i);
		if (is_length_integer(m) && strcmp(m->name, name) == 0)
			return m;
	}
	return NULL;
}

const mp_type_member *mp_length_sibling(const mp_type *record, const char *x)
{
	static const char *const patterns[] = {"%s_len", "%s_length", "%s_count", "%s_size",
					      "%s_used", "n_%s", "n%s", "num_%s"};
	char name[256];
	if (!x || !*x || strlen(x) > 200)
		return NULL;
	for (size_t i = 0; i < sizeof(patterns) / sizeof(patterns[0]); i++) {
		snprintf(name, sizeof(name), patterns[i], x);
		const mp_type_member *m = mp_length_member(record, name);
		if (m)
			return m;
	}
	return NULL;
}

/* The one member among names, or NULL when none or several exist (two
 * generic names leave it unknown which is the length). */
static const mp_type_member *only_one(const mp_type *record, const char *const *names, size_t n)
{
	const mp_type_member *found = NULL;
	for (size_t i = 0; i < n; i++) {
		const mp_type_member *m = mp_length_member(record, names[i]);
		if (m && found)
			return NULL;
		if (m)
			found = m;
	}
	return found;
}

const mp_type_member *mp_length_generic(const mp_type *record)
{
	static const char *const names[] = {"len", "length", "count", "size", "n", "used"};
	return only_one(record, names, sizeof(names) / sizeof(names[0]));
}

const mp_type_member *mp_length_capacity(const mp_type *record)
{
	static const char *const names[] = {"cap", "capacity", "alloc", "allocated"};
	return only_one(record, names, sizeof(names) / sizeof(names[0]));
}

static bool is_char(const mp_type *t)
{
	/* DW_ATE_signed_char 6, unsigned_char 8 of one byte: char, signed
	 * char, unsigned char; uint8_t buffers are arrays, but C spells them
	 * unsigned char as well, so only plain and signed char are strings. */
	if (!t || mp_type_kind(t) != MP_TYPE_BASE || mp_type_size(t) != 1)
		return false;
	unsigned e = mp_type_encoding(t);
	const char *name = mp_type_name(t);
	return e == 6 || (e == 8 && name && strcmp(name, "char") == 0);
}

bool mp_length_candidate(const mp_type *record, const mp_type_member *m)
{
	if (!m || !m->type || m->bit_size || m->size != 8)
		return false;
	const mp_type *mt = mp_type_strip(m->type);
	if (mp_type_kind(mt) != MP_TYPE_POINTER)
		return false;
	if (mp_length_sibling(record, m->name))
		return false;
	const mp_type *pointee = mp_type_target(mt);
	pointee = pointee ? mp_type_strip(pointee) : NULL;
	if (!pointee || mp_type_kind(pointee) == MP_TYPE_FUNCTION || is_char(pointee))
		return false;
	return pointee != mp_type_strip(record);
}

size_t mp_length_candidates(const mp_type *record, const mp_type_member **out, size_t max)
{
	size_t n = mp_type_member_count(record), found = 0;
	for (size_t i = 0; i < n; i++) {
		const mp_type_member *m = mp_type_member_at(record, i);
		if (!mp_length_candidate(record, m))
			continue;
		if (found < max)
			out[found] = m;
		found++;
	}
	return found;
}

enum mp_length_verdict mp_length_pick(uint64_t len, bool has_cap, uint64_t cap,
				      const mp_length_block *blocks, size_t n,
				      size_t *index)
{
	if (has_cap && len > cap)
		return MP_LENGTH_OVER_CAPACITY;
	uint64_t need = has_cap ? cap : len;
	size_t fits = 0;
	for (size_t i = 0; i < n; i++) {
		uint64_t es = blocks[i].element_size ? blocks[i].element_size : 1;
		if (!blocks[i].usable || need > blocks[i].usable / es)
			continue;
		*index = i;
		fits++;
	}
	return fits == 1 ? MP_LENGTH_ONE_FITS : fits ? MP_LENGTH_SEVERAL_FIT : MP_LENGTH_NONE_FITS;
}
