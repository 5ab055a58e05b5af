/* ROOT expressions (root_expr.h): parsed left to right, one step at a
 * time over (address, type); no recursion, every step bounded by the
 * text's length. */
#include "root_expr.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "logical_internal.h"

typedef struct variable_search {
	const char *name;
	mp_variable variable;
	bool found;
} variable_search;

static bool match_variable(void *context, const mp_variable *variable)
{
	variable_search *search = context;
	if (strcmp(variable->name, search->name) != 0)
		return true;
	search->variable = *variable;
	search->found = true;
	return false;
}

static const char *base_name(const char *path)
{
	const char *slash = strrchr(path, '/');
	return slash ? slash + 1 : path;
}

static bool is_pointer(const mp_type *t)
{
	enum mp_type_kind k = mp_type_kind(t);
	return k == MP_TYPE_POINTER || k == MP_TYPE_REFERENCE || k == MP_TYPE_RVALUE_REFERENCE;
}

static bool is_record(const mp_type *t)
{
	enum mp_type_kind k = mp_type_kind(t);
	return k == MP_TYPE_STRUCT || k == MP_TYPE_CLASS || k == MP_TYPE_UNION;
}

/* The first ':' that is not part of '::', or NULL. */
static const char *single_colon(const char *text)
{
	for (const char *p = text; *p; p++) {
		if (p[0] == ':' && p[1] == ':') {
			p++;
			continue;
		}
		if (*p == ':')
			return p;
	}
	return NULL;
}

/* Where the variable's name ends: the first '.', '[' or "->" outside
 * template brackets (C++ `ns::v`, Rust `crate::V` keep their '::'). */
static size_t name_length(const char *text)
{
	int angle = 0;
	size_t i = 0;
	for (; text[i]; i++) {
		char c = text[i];
		if (c == '<')
			angle++;
		else if (c == '>' && angle > 0 && (i == 0 || text[i - 1] != '-'))
			angle--;
		else if (!angle && (c == '.' || c == '[' || (c == '-' && text[i + 1] == '>')))
			break;
	}
	return i;
}

static mp_error *find_variable(mp_target *target, const char *module_name,
			       const char *name, mp_root *r)
{
	if (!module_name) {
		mp_variable v;
		mp_error *e = mp_type_find_variable(target, name, &v);
		if (e)
			return e;
		r->address = v.address;
		r->type = v.type;
		r->module = v.module ? mp_module_name(v.module) : NULL;
		return NULL;
	}
	const mp_module *module = NULL;
	for (size_t i = 0; i < mp_target_module_count(target) && !module; i++)
		if (strcmp(base_name(mp_module_name(mp_target_module(target, i))), module_name) == 0)
			module = mp_target_module(target, i);
	if (!module)
		return mp_error_new(MP_ERR_NOT_FOUND, "no module named %s in the target", module_name);
	variable_search search = {name, {0}, false};
	mp_error *e = mp_type_list_variables(target, module, match_variable, &search);
	if (e)
		return e;
	if (!search.found)
		return mp_error_new(MP_ERR_NOT_FOUND, "%s has no variable named %s",
				    mp_module_name(module), name);
	r->address = search.variable.address;
	r->type = search.variable.type;
	r->module = mp_module_name(search.variable.module);
	return NULL;
}

/* Reads the pointer held at addr by the value path names. */
static mp_error *load_pointer(mp_target *target, uint64_t addr, const char *path,
			      uint64_t *out)
{
	uint64_t p = 0;
	mp_error *e = mp_target_read(target, addr, &p, sizeof(p));
	if (e)
		return mp_error_prefix(e, "cannot read '%s' at 0x%" PRIx64, path, addr);
	if (!p)
		return mp_error_new(MP_ERR_NOT_FOUND, "'%s' is NULL (at 0x%" PRIx64 ")", path, addr);
	*out = p;
	return NULL;
}

/* "'a' has no member 'x' (members: p, q, r)". */
static mp_error *no_member(const mp_type *t, const char *path, const char *member)
{
	char list[400];
	size_t used = 0;
	list[0] = '\0';
	size_t n = mp_type_member_count(t);
	for (size_t i = 0; i < n; i++) {
		const mp_type_member *m = mp_type_member_at(t, i);
		const char *name = m && m->name && *m->name ? m->name
				   : m && m->is_base ? mp_type_name(m->type) : "(anonymous)";
		int w = snprintf(list + used, sizeof(list) - used, "%s%s", used ? ", " : "", name);
		if (w < 0 || (size_t)w >= sizeof(list) - used) {
			snprintf(list + (used < sizeof(list) - 6 ? used : sizeof(list) - 6), 6, ", ...");
			break;
		}
		used += (size_t)w;
	}
	return mp_error_new(MP_ERR_NOT_FOUND, "'%s' (%s) has no member '%s' (members: %s)", path,
			    mp_type_name(t), member, n ? list : "none");
}

mp_error *mp_root_resolve(mp_target *target, const char *text, mp_root *r)
{
	memset(r, 0, sizeof(*r));
	snprintf(r->name, sizeof(r->name), "%s", text);
	const char *colon = single_colon(text);
	char module[256] = "";
	const char *rest = text;
	if (colon) {
		size_t n = (size_t)(colon - text);
		if (n == 0 || n >= sizeof(module))
			return mp_error_new(MP_ERR_USAGE, "bad root '%s': want VARIABLE, "
					    "MODULE:VARIABLE or ADDRESS:TYPE", text);
		memcpy(module, text, n);
		module[n] = '\0';
		char *end;
		errno = 0;
		unsigned long long address = strtoull(module, &end, 0);
		if (!errno && *end == '\0') {
			const char *type_name = colon + 1;
			mp_error *e = mp_type_find(target, type_name, &r->type);
			if (e)
				return mp_error_prefix(e, "root %s", text);
			r->address = address;
			snprintf(r->name, sizeof(r->name), "%s", type_name);
			return NULL;
		}
		rest = colon + 1;
	}
	size_t len = name_length(rest);
	char name[512];
	if (len == 0 || len >= sizeof(name))
		return mp_error_new(MP_ERR_USAGE, "bad root '%s': want VARIABLE, "
				    "VARIABLE.member, VARIABLE->member, VARIABLE[i], "
				    "MODULE:VARIABLE or ADDRESS:TYPE", text);
	memcpy(name, rest, len);
	name[len] = '\0';
	mp_error *e = find_variable(target, module[0] ? module : NULL, name, r);
	if (e && rest[len]) {
		/* "no variable named 'a.b'" would hide which part failed. */
		return mp_error_prefix(e, "root %s: variable '%s'", text, name);
	}
	if (e)
		return mp_error_prefix(e, "root %s", text);

	/* The chain: path grows with each step for the messages. */
	char path[512];
	snprintf(path, sizeof(path), "%s", name);
	const char *p = rest + len;
	uint64_t addr = r->address;
	const mp_type *type = r->type;
	bool chain = *p != '\0', last_was_member = false;
	uint64_t parent_address = 0;
	const mp_type *parent_type = NULL;
	char last_member[256] = "";
	while (*p) {
		const mp_type *t = mp_type_strip(type);
		if (*p == '.' || (p[0] == '-' && p[1] == '>')) {
			bool arrow = *p == '-';
			p += arrow ? 2 : 1;
			size_t m = 0;
			while (isalnum((unsigned char)p[m]) || p[m] == '_')
				m++;
			if (!m || m >= 256)
				return mp_error_new(MP_ERR_USAGE, "root %s: a member name must follow "
						    "'%s' after '%s'", text, arrow ? "->" : ".", path);
			char member[256];
			memcpy(member, p, m);
			member[m] = '\0';
			/* '.' through a pointer and '->' on a struct are taken as
			 * meant, as GDB does. */
			if (is_pointer(t)) {
				const mp_type *pointee = mp_type_target(t);
				pointee = pointee ? mp_type_strip(pointee) : NULL;
				if (!pointee || !is_record(pointee))
					return mp_error_new(MP_ERR_NOT_FOUND, "root %s: '%s' is %s, not a "
							    "pointer to a struct: no member '%s'", text,
							    path, mp_type_name(t), member);
				uint64_t value = 0;
				if ((e = load_pointer(target, addr, path, &value)))
					return mp_error_prefix(e, "root %s", text);
				addr = value;
				t = pointee;
			}
			if (!is_record(t))
				return mp_error_new(MP_ERR_NOT_FOUND, "root %s: '%s' is %s, not a struct: "
						    "no member '%s'", text, path, mp_type_name(t), member);
			uint64_t offset;
			const mp_type *field;
			if (!lg_find_field(t, member, &offset, &field))
				return mp_error_prefix(no_member(t, path, member), "root %s", text);
			/* Remembered in case this is the last step (root_expr.h). */
			parent_address = addr;
			parent_type = t;
			snprintf(last_member, sizeof(last_member), "%s", member);
			last_was_member = true;
			addr += offset;
			type = field;
			size_t pl = strlen(path);
			snprintf(path + pl, sizeof(path) - pl, "%s%s", arrow ? "->" : ".", member);
			p += m;
			continue;
		}
		if (*p == '[') {
			/* Every index of a multi-dimensional array, [i][j]. */
			uint64_t index[8];
			size_t n_index = 0;
			const char *q = p;
			while (*q == '[' && n_index < 8) {
				char *end;
				errno = 0;
				unsigned long long v = strtoull(q + 1, &end, 0);
				if (errno || end == q + 1 || *end != ']' || q[1] == '-')
					return mp_error_new(MP_ERR_USAGE, "root %s: want a non-negative "
							    "number in [] after '%s'", text, path);
				index[n_index++] = v;
				q = end + 1;
				if (mp_type_kind(t) != MP_TYPE_ARRAY ||
				    n_index >= mp_type_array_dimension_count(t))
					break;
			}
			uint64_t offset;
			const mp_type *element;
			if (mp_type_kind(t) == MP_TYPE_ARRAY) {
				size_t dims = mp_type_array_dimension_count(t);
				if (n_index < dims)
					return mp_error_new(MP_ERR_NOT_FOUND, "root %s: '%s' has %zu dimensions: "
							    "index every one", text, path, dims);
				element = mp_type_target(t);
				for (int k = 0; k < 8 && element &&
						mp_type_kind(mp_type_strip(element)) == MP_TYPE_ARRAY; k++)
					element = mp_type_target(mp_type_strip(element));
				uint64_t flat = 0;
				for (size_t d = 0; d < dims; d++) {
					uint64_t bound = mp_type_array_dimension(t, d);
					bool open = d == 0 && mp_type_array_flexible(t);
					if (!open && index[d] >= bound)
						return mp_error_new(MP_ERR_NOT_FOUND, "root %s: index %" PRIu64
								    " past the array of %" PRIu64 " ('%s')",
								    text, index[d], bound, path);
					flat = flat * (open ? 1 : bound) + index[d];
				}
				uint64_t es = element ? mp_type_size(mp_type_strip(element)) : 0;
				offset = flat * es;
			} else if (is_pointer(t)) {
				element = mp_type_target(t);
				const mp_type *s = element ? mp_type_strip(element) : NULL;
				if (!s || !mp_type_is_complete(s) || !mp_type_size(s))
					return mp_error_new(MP_ERR_NOT_FOUND, "root %s: '%s' is %s: its "
							    "elements have no size", text, path,
							    mp_type_name(t));
				uint64_t value = 0;
				if ((e = load_pointer(target, addr, path, &value)))
					return mp_error_prefix(e, "root %s", text);
				addr = value;
				offset = index[0] * mp_type_size(s);
			} else {
				return mp_error_new(MP_ERR_NOT_FOUND, "root %s: '%s' is %s, not an array "
						    "or pointer: it cannot be indexed", text, path,
						    mp_type_name(t));
			}
			if (!element)
				return mp_error_new(MP_ERR_FORMAT, "root %s: '%s' has no element type",
						    text, path);
			last_was_member = false;
			addr += offset;
			type = element;
			size_t pl = strlen(path);
			snprintf(path + pl, sizeof(path) - pl, "%.*s", (int)(q - p), p);
			p = q;
			continue;
		}
		return mp_error_new(MP_ERR_USAGE, "root %s: unexpected '%s' after '%s' (want "
				    ".member, ->member or [index])", text, p, path);
	}
	if (chain && last_was_member && is_pointer(mp_type_strip(type))) {
		r->address = parent_address;
		r->type = parent_type;
		snprintf(r->member, sizeof(r->member), "%s", last_member);
		return NULL;
	}
	if (chain) {
		const mp_type *t = mp_type_strip(type);
		const mp_type *pointee = is_pointer(t) ? mp_type_target(t) : NULL;
		pointee = pointee ? mp_type_strip(pointee) : NULL;
		if (pointee && is_record(pointee) && mp_type_is_complete(pointee)) {
			uint64_t value = 0;
			if ((e = load_pointer(target, addr, path, &value)))
				return mp_error_prefix(e, "root %s", text);
			addr = value;
			type = pointee;
		}
	}
	r->address = addr;
	r->type = type;
	return NULL;
}
