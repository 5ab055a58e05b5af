/* Raw .debug_info walk for the type index (see die_scanner.h).
 *
 * Why: libdwarf builds a DIE handle, looks up the abbreviation and checks
 * every string for each DIE it returns, and without DW_AT_sibling (rustc)
 * it finds a DIE's next sibling by materializing every DIE of the subtree;
 * the index needs a handful of attributes of the DIEs at namespace and
 * class level and nothing from function bodies. */
#include <dwarf.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "die_scanner.h"
#include "error.h"
#include "progress.h"

enum {
	MAX_WALK_DEPTH = 64,           /* as dwarf_lib.c's libdwarf walk */
	MAX_ABBREV_CODE_SLACK = 1024,  /* codes beyond 4 * count + this: refused */
	RELEASE_EVERY = 1 << 20,       /* .debug_info bytes between page releases */
};

/* A form's byte size when fixed, else one of these. */
enum { FORM_VARIABLE = -1, FORM_REFUSED = -2 };

typedef struct attr_spec {
	uint16_t at, form;
	int32_t size;          /* fixed byte size, or FORM_VARIABLE */
	int64_t implicit;      /* DW_FORM_implicit_const's value */
} attr_spec;

typedef struct abbrev {
	uint32_t first, count;  /* its attributes: specs[first .. first+count) */
	int32_t fixed;          /* bytes of all attributes when all fixed, else -1 */
	uint16_t tag;
	bool children, present, has_sibling;
} abbrev;

typedef struct unit {
	uint64_t start, end, die;  /* header, one past the unit, unit DIE */
	uint64_t abbrev_offset;
	uint16_t version;
	uint8_t addr_size;
} unit;

typedef struct scanner {
	const mp_dw_scan_input *in;
	abbrev *abbrevs;           /* by code */
	size_t n_codes, codes_capacity;
	attr_spec *specs;
	size_t n_specs, specs_capacity;
	uint64_t table_offset;     /* of the parsed table, UINT64_MAX: none */
	uint16_t table_version;
	uint8_t table_addr_size;
	/* the current unit */
	unit u;
	uint64_t str_offsets_base, addr_base;
	bool has_addr_base;
	/* .debug_info below `released` has been given back (release_passed) */
	uint64_t released;
	/* a string section ending in NUL: every string in it ends */
	bool str_terminated, line_str_terminated;
} scanner;

/* ---------------------------------------------------------- reading */

/* A bounds-checked reader: past the end, reads give 0 and ok turns false. */
typedef struct cursor {
	const uint8_t *p, *end;
	bool ok;
} cursor;

static inline uint64_t rd_fixed(cursor *c, unsigned n)
{
	if ((size_t)(c->end - c->p) < n) {
		c->ok = false;
		c->p = c->end;
		return 0;
	}
	uint64_t v = 0;
	for (unsigned i = 0; i < n; i++)
		v |= (uint64_t)c->p[i] << (8 * i);
	c->p += n;
	return v;
}

static inline void skip_bytes(cursor *c, uint64_t n)
{
	if ((uint64_t)(c->end - c->p) < n) {
		c->ok = false;
		c->p = c->end;
		return;
	}
	c->p += n;
}

static inline uint64_t rd_uleb(cursor *c)
{
	uint64_t v = 0;
	unsigned shift = 0;
	while (c->p < c->end) {
		uint8_t b = *c->p++;
		if (shift < 64)
			v |= (uint64_t)(b & 0x7f) << shift;
		shift += 7;
		if (!(b & 0x80))
			return v;
	}
	c->ok = false;
	return 0;
}

static inline int64_t rd_sleb(cursor *c)
{
	uint64_t v = 0;
	unsigned shift = 0;
	while (c->p < c->end) {
		uint8_t b = *c->p++;
		if (shift < 64)
			v |= (uint64_t)(b & 0x7f) << shift;
		shift += 7;
		if (!(b & 0x80)) {
			if (shift < 64 && (b & 0x40))
				v |= ~(uint64_t)0 << shift;
			return (int64_t)v;
		}
	}
	c->ok = false;
	return 0;
}

static inline void skip_leb(cursor *c)
{
	while (c->p < c->end)
		if (!(*c->p++ & 0x80))
			return;
	c->ok = false;
}

/* ------------------------------------------------------------ forms */

static int form_size(unsigned form, unsigned version, unsigned addr_size)
{
	switch (form) {
	case DW_FORM_flag_present:
	case DW_FORM_implicit_const:
		return 0;
	case DW_FORM_data1: case DW_FORM_ref1: case DW_FORM_flag:
	case DW_FORM_strx1: case DW_FORM_addrx1:
		return 1;
	case DW_FORM_data2: case DW_FORM_ref2: case DW_FORM_strx2: case DW_FORM_addrx2:
		return 2;
	case DW_FORM_strx3: case DW_FORM_addrx3:
		return 3;
	case DW_FORM_data4: case DW_FORM_ref4: case DW_FORM_strp: case DW_FORM_line_strp:
	case DW_FORM_sec_offset: case DW_FORM_strx4: case DW_FORM_addrx4:
		return 4;
	case DW_FORM_data8: case DW_FORM_ref8:
		return 8;
	case DW_FORM_data16:
		return 16;
	case DW_FORM_addr:
		return (int)addr_size;
	case DW_FORM_ref_addr:
		return version == 2 ? (int)addr_size : 4;
	case DW_FORM_string: case DW_FORM_block: case DW_FORM_block1:
	case DW_FORM_block2: case DW_FORM_block4: case DW_FORM_exprloc:
	case DW_FORM_sdata: case DW_FORM_udata: case DW_FORM_ref_udata:
	case DW_FORM_strx: case DW_FORM_addrx: case DW_FORM_loclistx:
	case DW_FORM_rnglistx:
		return FORM_VARIABLE;
	default:
		/* DW_FORM_indirect, type unit signatures, dwz and .sup
		 * references, split DWARF indexes, vendor forms: libdwarf's */
		return FORM_REFUSED;
	}
}

static void skip_variable(cursor *c, unsigned form)
{
	switch (form) {
	case DW_FORM_string: {
		const uint8_t *nul = memchr(c->p, 0, (size_t)(c->end - c->p));
		if (!nul) {
			c->ok = false;
			c->p = c->end;
		} else {
			c->p = nul + 1;
		}
		return;
	}
	case DW_FORM_block:
	case DW_FORM_exprloc:
		skip_bytes(c, rd_uleb(c));
		return;
	case DW_FORM_block1: skip_bytes(c, rd_fixed(c, 1)); return;
	case DW_FORM_block2: skip_bytes(c, rd_fixed(c, 2)); return;
	case DW_FORM_block4: skip_bytes(c, rd_fixed(c, 4)); return;
	default: skip_leb(c); return;
	}
}

static inline void skip_attr(cursor *c, const attr_spec *a)
{
	if (a->size >= 0)
		skip_bytes(c, (uint64_t)a->size);
	else
		skip_variable(c, a->form);
}

/* An unsigned constant (data, udata, sdata, implicit_const); false for
 * other forms, whose bytes are skipped. */
static bool rd_constant(cursor *c, const attr_spec *a, uint64_t *value)
{
	switch (a->form) {
	case DW_FORM_data1: *value = rd_fixed(c, 1); return true;
	case DW_FORM_data2: *value = rd_fixed(c, 2); return true;
	case DW_FORM_data4: *value = rd_fixed(c, 4); return true;
	case DW_FORM_data8: *value = rd_fixed(c, 8); return true;
	case DW_FORM_udata: *value = rd_uleb(c); return true;
	case DW_FORM_sdata: *value = (uint64_t)rd_sleb(c); return true;
	case DW_FORM_implicit_const: *value = (uint64_t)a->implicit; return true;
	case DW_FORM_sec_offset: *value = rd_fixed(c, 4); return true;
	default: skip_attr(c, a); return false;
	}
}

static bool rd_flag(cursor *c, const attr_spec *a)
{
	if (a->form == DW_FORM_flag_present)
		return true;
	if (a->form == DW_FORM_flag)
		return rd_fixed(c, 1) != 0;
	skip_attr(c, a);
	return false;
}

/* A string of a section at offset, NULL unless it ends inside it. */
static const char *section_string(const mp_dw_scan_section *s, bool terminated, uint64_t offset)
{
	if (!s->data || offset >= s->size ||
	    (!terminated && !memchr(s->data + offset, 0, (size_t)(s->size - offset))))
		return NULL;
	return (const char *)s->data + offset;
}

static const char *rd_string(scanner *s, cursor *c, const attr_spec *a)
{
	uint64_t index;
	switch (a->form) {
	case DW_FORM_string: {
		const char *str = (const char *)c->p;
		skip_variable(c, a->form);
		return c->ok ? str : NULL;
	}
	case DW_FORM_strp: return section_string(&s->in->str, s->str_terminated, rd_fixed(c, 4));
	case DW_FORM_line_strp:
		return section_string(&s->in->line_str, s->line_str_terminated, rd_fixed(c, 4));
	case DW_FORM_strx: index = rd_uleb(c); break;
	case DW_FORM_strx1: index = rd_fixed(c, 1); break;
	case DW_FORM_strx2: index = rd_fixed(c, 2); break;
	case DW_FORM_strx3: index = rd_fixed(c, 3); break;
	case DW_FORM_strx4: index = rd_fixed(c, 4); break;
	default: skip_attr(c, a); return NULL;
	}
	const mp_dw_scan_section *so = &s->in->str_offsets;
	if (!so->data || index > (so->size / 4) ||
	    s->str_offsets_base > so->size - 4 * index || so->size - 4 * index - s->str_offsets_base < 4)
		return NULL;
	const uint8_t *p = so->data + s->str_offsets_base + 4 * index;
	uint64_t offset = (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 |
			  (uint64_t)p[3] << 24;
	return section_string(&s->in->str, s->str_terminated, offset);
}

/* A reference as a .debug_info offset (0: not a reference we resolve). */
static uint64_t rd_ref(scanner *s, cursor *c, const attr_spec *a)
{
	switch (a->form) {
	case DW_FORM_ref1: return s->u.start + rd_fixed(c, 1);
	case DW_FORM_ref2: return s->u.start + rd_fixed(c, 2);
	case DW_FORM_ref4: return s->u.start + rd_fixed(c, 4);
	case DW_FORM_ref8: return s->u.start + rd_fixed(c, 8);
	case DW_FORM_ref_udata: return s->u.start + rd_uleb(c);
	case DW_FORM_ref_addr: return rd_fixed(c, (unsigned)a->size);
	default: skip_attr(c, a); return 0;
	}
}

/* DW_AT_location as dwarf_lib.c's libdwarf path reads it: an exprloc
 * holding a lone DW_OP_addr, or DW_OP_addrx into .debug_addr. */
static bool rd_location(scanner *s, cursor *c, const attr_spec *a, uint64_t *address)
{
	if (a->form != DW_FORM_exprloc) {
		skip_attr(c, a);
		return false;
	}
	uint64_t length = rd_uleb(c);
	const uint8_t *p = c->p;
	skip_bytes(c, length);
	if (!c->ok)
		return false;
	if (length == 9 && p[0] == DW_OP_addr) {
		uint64_t v = 0;
		for (int i = 0; i < 8; i++)
			v |= (uint64_t)p[1 + i] << (8 * i);
		*address = v;
		return true;
	}
	if (length >= 2 && (p[0] == DW_OP_addrx || p[0] == DW_OP_GNU_addr_index)) {
		cursor e = {p + 1, p + length, true};
		uint64_t index = rd_uleb(&e);
		const mp_dw_scan_section *as = &s->in->addr;
		unsigned size = s->u.addr_size;
		if (!e.ok || e.p != e.end || !s->has_addr_base || !as->data ||
		    index > as->size / size || s->addr_base > as->size - size * index ||
		    as->size - size * index - s->addr_base < size)
			return false;
		cursor r = {as->data + s->addr_base + size * index, as->data + as->size, true};
		*address = rd_fixed(&r, size);
		return r.ok;
	}
	return false;
}

/* ---------------------------------------------------- abbreviations */

static void *grow(void *items, size_t *capacity, size_t need, size_t size)
{
	if (need <= *capacity)
		return items;
	size_t c = *capacity ? *capacity : 64;
	while (c < need)
		c *= 2;
	void *grown = realloc(items, c * size);
	if (grown)
		*capacity = c;
	return grown;
}

/* Parses the table at offset for units of this version and address size;
 * NULL, or why the scanner cannot read it (libdwarf may). *nomem on
 * allocation failure. */
static const char *parse_abbrevs(scanner *s, uint64_t offset, uint16_t version,
				 uint8_t addr_size, bool *nomem)
{
	*nomem = false;
	if (s->table_offset == offset && s->table_version == version &&
	    s->table_addr_size == addr_size)
		return NULL;
	s->table_offset = UINT64_MAX;
	const mp_dw_scan_section *sec = &s->in->abbrev;
	if (!sec->data || offset >= sec->size)
		return "abbreviation offset outside .debug_abbrev";
	cursor c = {sec->data + offset, sec->data + sec->size, true};
	if (s->n_codes)
		memset(s->abbrevs, 0, s->n_codes * sizeof(*s->abbrevs));
	s->n_codes = 0;
	s->n_specs = 0;
	size_t count = 0;
	for (;;) {
		uint64_t code = rd_uleb(&c);
		if (!c.ok)
			return "truncated abbreviation table";
		if (code == 0)
			break;
		count++;
		if (code > 4 * count + MAX_ABBREV_CODE_SLACK)
			return "sparse abbreviation codes";
		if (code >= s->n_codes) {
			abbrev *a = grow(s->abbrevs, &s->codes_capacity, code + 1, sizeof(*a));
			if (!a) {
				*nomem = true;
				return "out of memory";
			}
			s->abbrevs = a;
			memset(a + s->n_codes, 0, (code + 1 - s->n_codes) * sizeof(*a));
			s->n_codes = code + 1;
		}
		abbrev *ab = &s->abbrevs[code];
		if (ab->present)
			return "duplicate abbreviation code";
		uint64_t tag = rd_uleb(&c);
		uint64_t children = rd_fixed(&c, 1);
		if (tag > UINT16_MAX || children > 1)
			return "unknown tag or children flag";
		ab->present = true;
		ab->tag = (uint16_t)tag;
		ab->children = children != 0;
		ab->first = (uint32_t)s->n_specs;
		ab->fixed = 0;
		for (;;) {
			uint64_t at = rd_uleb(&c), form = rd_uleb(&c);
			if (!c.ok)
				return "truncated abbreviation table";
			if (at == 0 && form == 0)
				break;
			if (at > UINT16_MAX || form > UINT16_MAX)
				return "unknown attribute or form";
			int size = form_size((unsigned)form, version, addr_size);
			if (size == FORM_REFUSED)
				return "a form the scanner does not read";
			attr_spec *specs = grow(s->specs, &s->specs_capacity, s->n_specs + 1,
						sizeof(*specs));
			if (!specs) {
				*nomem = true;
				return "out of memory";
			}
			s->specs = specs;
			attr_spec *a = &specs[s->n_specs++];
			a->at = (uint16_t)at;
			a->form = (uint16_t)form;
			a->size = size;
			a->implicit = form == DW_FORM_implicit_const ? rd_sleb(&c) : 0;
			ab->count++;
			ab->has_sibling |= at == DW_AT_sibling;
			if (size < 0 || ab->fixed < 0)
				ab->fixed = -1;
			else
				ab->fixed += size;
		}
	}
	s->table_offset = offset;
	s->table_version = version;
	s->table_addr_size = addr_size;
	return NULL;
}

static inline const abbrev *lookup(const scanner *s, uint64_t code)
{
	return code < s->n_codes && s->abbrevs[code].present ? &s->abbrevs[code] : NULL;
}

/* ------------------------------------------------------------ units */

static const char *read_unit_header(const mp_dw_scan_input *in, uint64_t offset, unit *u)
{
	cursor c = {in->info.data + offset, in->info.data + in->info.size, true};
	uint64_t length = rd_fixed(&c, 4);
	if (!c.ok)
		return "truncated unit header";
	if (length >= 0xfffffff0u)
		return "64-bit DWARF";
	if (length > in->info.size - offset - 4)
		return "unit runs past the section";
	u->start = offset;
	u->end = offset + 4 + length;
	c.end = in->info.data + u->end;
	u->version = (uint16_t)rd_fixed(&c, 2);
	if (u->version < 2 || u->version > 5)
		return "unknown DWARF version";
	if (u->version == 5) {
		uint64_t type = rd_fixed(&c, 1);
		if (type == DW_UT_type || type == DW_UT_split_type)
			return "type units (-fdebug-types-section)";
		if (type == DW_UT_skeleton || type == DW_UT_split_compile)
			return "split DWARF units";
		if (type != DW_UT_compile && type != DW_UT_partial)
			return "not a compile or partial unit";
		u->addr_size = (uint8_t)rd_fixed(&c, 1);
		u->abbrev_offset = rd_fixed(&c, 4);
	} else {
		u->abbrev_offset = rd_fixed(&c, 4);
		u->addr_size = (uint8_t)rd_fixed(&c, 1);
	}
	if (!c.ok)
		return "truncated unit header";
	if (u->addr_size != 4 && u->addr_size != 8)
		return "unknown address size";
	u->die = (uint64_t)(c.p - in->info.data);
	return NULL;
}

const char *mp_dw_scan_check(const mp_dw_scan_input *in, uint64_t *offset_out)
{
	*offset_out = 0;
	if (!in->info.data || !in->abbrev.data)
		return "no .debug_info or .debug_abbrev";
	scanner s = {.in = in, .table_offset = UINT64_MAX};
	const char *why = NULL;
	bool nomem;
	for (uint64_t offset = 0; !why && offset < in->info.size;) {
		*offset_out = offset;
		unit u;
		why = read_unit_header(in, offset, &u);
		if (!why)
			why = parse_abbrevs(&s, u.abbrev_offset, u.version, u.addr_size, &nomem);
		if (why)
			break;
		/* the unit DIE: a compile or partial unit naming no .dwo */
		cursor c = {in->info.data + u.die, in->info.data + u.end, true};
		const abbrev *ab = lookup(&s, rd_uleb(&c));
		if (!c.ok || !ab)
			why = "unknown abbreviation code of the unit DIE";
		else if (ab->tag != DW_TAG_compile_unit && ab->tag != DW_TAG_partial_unit)
			why = "not a compile or partial unit";
		for (uint32_t i = 0; !why && i < ab->count; i++) {
			unsigned at = s.specs[ab->first + i].at;
			if (at == DW_AT_dwo_name || at == DW_AT_GNU_dwo_name)
				why = "a split DWARF skeleton unit";
		}
		offset = u.end;
	}
	free(s.abbrevs);
	free(s.specs);
	return why;
}

/* ------------------------------------------------------------- walk */

static mp_error *corrupt(const scanner *s, uint64_t offset, const char *what)
{
	return mp_error_new(MP_ERR_FORMAT, "%s: corrupt DWARF at .debug_info offset 0x%llx: %s",
			    s->in->label, (unsigned long long)offset, what);
}

/* Gives the pages wholly inside [from, to) of a mapped section back to the
 * page cache: the walk has passed them, and resident they would count in
 * memprof's memory for the whole session.  They read back on a fault. */
static void release_pages(const mp_dw_scan_section *sec, uint64_t from, uint64_t to)
{
	if (!sec->mapped || !sec->data || to <= from)
		return;
	uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
	uintptr_t a = ((uintptr_t)sec->data + from + page - 1) & ~(page - 1);
	uintptr_t b = ((uintptr_t)sec->data + to) & ~(page - 1);
	if (b > a)
		madvise((void *)a, b - a, MADV_DONTNEED);
}

/* Every RELEASE_EVERY bytes of .debug_info: the pages of it walked and
 * the string pages read so far go back (nothing keeps pointers into them
 * beyond a visitor's call: the index copies names). */
static void release_passed(scanner *s, uint64_t offset)
{
	if (offset - s->released < RELEASE_EVERY)
		return;
	release_pages(&s->in->info, s->released, offset);
	release_pages(&s->in->str, 0, s->in->str.size);
	release_pages(&s->in->line_str, 0, s->in->line_str.size);
	s->released = offset;
}

/* How much of a DIE the walk decodes. */
enum decode { HEAD, CHEAP, FULL };

bool mp_dw_walk_names_tag(unsigned tag)
{
	switch (tag) {
	case DW_TAG_structure_type:
	case DW_TAG_class_type:
	case DW_TAG_union_type:
	case DW_TAG_enumeration_type:
	case DW_TAG_typedef:
	case DW_TAG_base_type:
	case DW_TAG_namespace:
	case DW_TAG_unspecified_type:
		return true;
	default:
		return false;
	}
}

/* Reads the attributes of the DIE at c (abbreviation ab) into d as far as
 * `decode` asks; *sibling gets DW_AT_sibling's offset, 0 when absent. */
static void read_die(scanner *s, cursor *c, const abbrev *ab, enum decode decode,
		     mp_dw_die *d, uint64_t *sibling)
{
	*sibling = 0;
	if (decode == HEAD && !ab->has_sibling && ab->fixed >= 0) {
		skip_bytes(c, (uint64_t)ab->fixed);
		return;
	}
	const attr_spec *a = ab->count ? &s->specs[ab->first] : NULL;   /* specs may be NULL */
	for (uint32_t i = 0; i < ab->count && c->ok; i++, a++) {
		switch (decode == HEAD && a->at != DW_AT_sibling ? 0 : a->at) {
		case DW_AT_sibling: *sibling = rd_ref(s, c, a); break;
		case DW_AT_name: d->name = rd_string(s, c, a); break;
		case DW_AT_declaration: d->declaration = rd_flag(c, a); break;
		case DW_AT_specification:
			/* as the libdwarf walk: a subprogram's only when read in full */
			if (decode == FULL || (d->has_children && d->tag != DW_TAG_subprogram)) {
				uint64_t ref = rd_ref(s, c, a);
				d->specification = ref ? ref | s->in->where : 0;
			} else {
				skip_attr(c, a);
			}
			break;
		case DW_AT_type:
		case DW_AT_location:
		case DW_AT_external:
		case DW_AT_artificial:
			if (decode != FULL) {
				skip_attr(c, a);
			} else if (a->at == DW_AT_type) {
				uint64_t ref = rd_ref(s, c, a);
				d->type = ref ? ref | s->in->where : 0;
			} else if (a->at == DW_AT_location) {
				d->has_address = rd_location(s, c, a, &d->address);
			} else if (a->at == DW_AT_external) {
				d->external = rd_flag(c, a);
			} else {
				d->artificial = rd_flag(c, a);
			}
			break;
		default: skip_attr(c, a); break;
		}
	}
}

/* Skips the children of a DIE whose attributes end at c: by DW_AT_sibling
 * where DIEs have one, else DIE by DIE by their abbreviations. */
static mp_error *skip_children(scanner *s, cursor *c)
{
	const uint8_t *base = s->in->info.data;
	uint64_t depth = 1;
	while (depth > 0 && c->p < c->end) {
		uint64_t offset = (uint64_t)(c->p - base);
		uint64_t code = rd_uleb(c);
		if (!c->ok)
			break;
		if (code == 0) {
			depth--;
			continue;
		}
		const abbrev *ab = lookup(s, code);
		if (!ab)
			return corrupt(s, offset, "unknown abbreviation code");
		if (!ab->has_sibling && ab->fixed >= 0) {
			skip_bytes(c, (uint64_t)ab->fixed);
		} else {
			uint64_t sibling = 0;
			const attr_spec *a = ab->count ? &s->specs[ab->first] : NULL;   /* specs may be NULL */
			for (uint32_t i = 0; i < ab->count && c->ok; i++, a++) {
				if (a->at == DW_AT_sibling)
					sibling = rd_ref(s, c, a);
				else
					skip_attr(c, a);
			}
			if (ab->children && sibling && c->ok) {
				if (sibling <= offset)
					return corrupt(s, offset, "its next sibling does not come after it");
				if (sibling > (uint64_t)(c->end - base))
					return corrupt(s, offset, "DW_AT_sibling points past its unit");
				c->p = base + sibling;
				continue;
			}
		}
		if (ab->children)
			depth++;
	}
	if (!c->ok)
		return corrupt(s, (uint64_t)(c->end - base), "a DIE runs past the end of its unit");
	return NULL;
}

/* The unit DIE's attributes the walk uses. */
static void read_unit_die(scanner *s, cursor *c, const abbrev *ab, unsigned *language)
{
	*language = 0;
	s->str_offsets_base = 8;   /* DWARF 5's header size: the default */
	s->addr_base = 0;
	s->has_addr_base = false;
	const attr_spec *a = ab->count ? &s->specs[ab->first] : NULL;   /* specs may be NULL */
	for (uint32_t i = 0; i < ab->count && c->ok; i++, a++) {
		uint64_t v = 0;
		switch (a->at) {
		case DW_AT_language:
			if (rd_constant(c, a, &v))
				*language = (unsigned)v;
			break;
		case DW_AT_str_offsets_base:
			if (rd_constant(c, a, &v))
				s->str_offsets_base = v;
			break;
		case DW_AT_addr_base:
		case DW_AT_GNU_addr_base:
			s->has_addr_base = rd_constant(c, a, &s->addr_base);
			break;
		default: skip_attr(c, a); break;
		}
	}
}

/* The DIEs of one unit, below its unit DIE (cursor c at the first one). */
static mp_error *walk_unit(scanner *s, cursor *c, const mp_dw_walker *w)
{
	const uint8_t *base = s->in->info.data;
	bool function_level[MAX_WALK_DEPTH];
	size_t depth = 1;
	function_level[0] = true;
	for (;;) {
		if (c->p >= c->end) {
			/* the unit ends: every open level with it */
			while (depth > 1) {
				depth--;
				if (w->leave)
					w->leave(w->context);
			}
			return NULL;
		}
		uint64_t offset = (uint64_t)(c->p - base);
		release_passed(s, offset);
		uint64_t code = rd_uleb(c);
		if (!c->ok)
			return corrupt(s, offset, "truncated abbreviation code");
		if (code == 0) {
			depth--;
			if (depth == 0)
				return NULL;
			if (w->leave)
				w->leave(w->context);
			continue;
		}
		const abbrev *ab = lookup(s, code);
		if (!ab)
			return corrupt(s, offset, "unknown abbreviation code");
		mp_dw_die d;
		memset(&d, 0, sizeof(d));
		d.offset = offset | s->in->where;
		d.tag = ab->tag;
		d.has_children = ab->children;
		enum decode decode = HEAD;
		if (d.tag == DW_TAG_subprogram ? function_level[depth - 1]
					       : mp_dw_walk_names_tag(d.tag))
			decode = CHEAP;
		else if (d.tag == DW_TAG_variable)
			decode = FULL;
		uint64_t sibling;
		read_die(s, c, ab, decode, &d, &sibling);
		if (!c->ok)
			return corrupt(s, offset, "the DIE runs past the end of its unit");
		bool descend = w->enter(w->context, &d);
		/* Deeper than the stack: the subtree is skipped as if the
		 * visitor had not asked (rustc nests a lexical block per `let`,
		 * hundreds deep in a long function). */
		if (descend && ab->children && depth < MAX_WALK_DEPTH) {
			function_level[depth++] = d.tag == DW_TAG_namespace;
			continue;
		}
		if (descend && w->leave)
			w->leave(w->context);
		if (!ab->children)
			continue;
		if (sibling) {
			if (sibling <= offset)
				return corrupt(s, offset, "its next sibling does not come after it");
			if (sibling > (uint64_t)(c->end - base))
				return corrupt(s, offset, "DW_AT_sibling points past its unit");
			c->p = base + sibling;
			continue;
		}
		mp_error *e = skip_children(s, c);
		if (e)
			return e;
	}
}

mp_error *mp_dw_scan_walk(const mp_dw_scan_input *in, enum mp_dw_scan_units units,
			  const mp_dw_walker *w, bool progress, bool *skipped_partial)
{
	scanner s = {.in = in, .table_offset = UINT64_MAX};
	s.str_terminated = in->str.data && in->str.size && in->str.data[in->str.size - 1] == 0;
	s.line_str_terminated = in->line_str.data && in->line_str.size &&
				in->line_str.data[in->line_str.size - 1] == 0;
	mp_error *e = NULL;
	for (uint64_t offset = 0; offset < in->info.size;) {
		if (w->interrupted && w->interrupted(w->context)) {
			e = mp_error_new(MP_ERR_INTERRUPTED, "%s: indexing interrupted", in->label);
			break;
		}
		const char *why = read_unit_header(in, offset, &s.u);
		bool nomem = false;
		if (!why)
			why = parse_abbrevs(&s, s.u.abbrev_offset, s.u.version, s.u.addr_size, &nomem);
		if (why) {
			e = nomem ? mp_error_nomem() : corrupt(&s, offset, why);
			break;
		}
		offset = s.u.end;
		cursor c = {in->info.data + s.u.die, in->info.data + s.u.end, true};
		const abbrev *ab = lookup(&s, rd_uleb(&c));
		if (!c.ok || !ab) {
			e = corrupt(&s, s.u.die, "unknown abbreviation code of the unit DIE");
			break;
		}
		bool partial = ab->tag == DW_TAG_partial_unit;
		if (units != MP_DW_SCAN_ALL && partial != (units == MP_DW_SCAN_ONLY_PARTIAL)) {
			*skipped_partial |= partial;
			continue;
		}
		if (progress)
			mp_progress_update(s.u.die);
		unsigned language;
		read_unit_die(&s, &c, ab, &language);
		if (!c.ok) {
			e = corrupt(&s, s.u.die, "the unit DIE runs past the end of its unit");
			break;
		}
		if (w->begin_cu)
			w->begin_cu(w->context, language, s.u.die | in->where);
		if (ab->children) {
			e = walk_unit(&s, &c, w);
			if (e)
				break;
		}
		release_passed(&s, s.u.end);
	}
	release_pages(&in->info, s.released, in->info.size);
	release_pages(&in->str, 0, in->str.size);
	release_pages(&in->line_str, 0, in->line_str.size);
	free(s.abbrevs);
	free(s.specs);
	return e;
}
