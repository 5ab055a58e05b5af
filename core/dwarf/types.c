/* The type model: per-module name indexes over DWARF and lazily resolved,
 * cached type handles (public API in memprof.h, "types").
 *
 * Indexing walks each CU's top-level DIEs, namespaces and (outside C) the
 * children of structs and classes for nested types and static members; it
 * never enters functions.  The walk is mp_dw_walk's (dwarf_lib.c: a raw
 * scanner of .debug_info, die_scanner.c, or libdwarf for what it refuses)
 * and uses an explicit stack.  Types are read when asked for: a handle first holds its
 * DIE's own attributes; children (members, enumerators, dimensions,
 * parameters, variants) are read on first access, one level at a time, and
 * every referenced type becomes another lazily read handle.  Nothing here
 * recurses over DWARF: chains (typedefs, arrays of arrays, names of
 * derived types) are followed by bounded loops or explicit stacks. */
#include <dwarf.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "array.h"
#include "dwarf_lib.h"
#include "elf/elf_file.h"
#include "error.h"
#include "progress.h"
#include "target/target_internal.h"
#include "types.h"

enum {
	MAX_CHAIN = 64,          /* typedef/cv/array hops followed */
	MAX_CHILDREN = 1 << 20,  /* children of one DIE */
	MAX_SCOPE = 4096,        /* bytes of a qualified scope prefix */
	MAX_NAME_STACK = 256,
	MAX_SUGGESTIONS = 5,
};

/* ------------------------------------------------------------- arena */

typedef struct arena_block {
	struct arena_block *next;
	size_t used, size;
	max_align_t data[];
} arena_block;

typedef struct arena {
	arena_block *head;
} arena;

static void *arena_alloc(arena *a, size_t size)
{
	size = (size + 15) & ~(size_t)15;
	arena_block *b = a->head;
	if (!b || b->size - b->used < size) {
		size_t block = size > 65536 ? size : 65536;
		b = malloc(sizeof(*b) + block);
		if (!b)
			return NULL;
		b->next = a->head;
		b->used = 0;
		b->size = block;
		a->head = b;
	}
	void *p = (char *)b->data + b->used;
	b->used += size;
	memset(p, 0, size);
	return p;
}

static char *arena_strndup(arena *a, const char *s, size_t n)
{
	char *p = arena_alloc(a, n + 1);
	if (p) {
		memcpy(p, s, n);
		p[n] = '\0';
	}
	return p;
}

static char *arena_strdup(arena *a, const char *s)
{
	return arena_strndup(a, s, strlen(s));
}

static void arena_free(arena *a)
{
	while (a->head) {
		arena_block *next = a->head->next;
		free(a->head);
		a->head = next;
	}
}

/* ------------------------------------------------------- hash tables */

/* FNV-1a, in steps: the index hashes a qualified name as its scope's
 * state (hashed once per scope) continued over the name's own part. */
#define HASH_START 1469598103934665603ull

static inline uint64_t hash_more(uint64_t h, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 1099511628211ull;
	}
	return h;
}

static inline uint64_t hash_end(uint64_t h)
{
	return h ^ (h >> 29);
}

static uint64_t hash_bytes(const char *s)
{
	return hash_end(hash_more(HASH_START, s, strlen(s)));
}

static uint64_t hash_u64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	return x;
}

/* uint64 key -> pointer; key 0 is never used (offset 0 is a CU header). */
typedef struct offset_map {
	uint64_t *keys;
	void **values;
	size_t n, capacity;
} offset_map;

static bool offset_map_grow(offset_map *m)
{
	size_t capacity = m->capacity ? 2 * m->capacity : 1024;
	uint64_t *keys = calloc(capacity, sizeof(*keys));
	void **values = calloc(capacity, sizeof(*values));
	if (!keys || !values) {
		free(keys);
		free(values);
		return false;
	}
	for (size_t i = 0; i < m->capacity; i++) {
		if (!m->keys[i])
			continue;
		size_t j = hash_u64(m->keys[i]) & (capacity - 1);
		while (keys[j])
			j = (j + 1) & (capacity - 1);
		keys[j] = m->keys[i];
		values[j] = m->values[i];
	}
	free(m->keys);
	free(m->values);
	m->keys = keys;
	m->values = values;
	m->capacity = capacity;
	return true;
}

static void *offset_map_get(const offset_map *m, uint64_t key)
{
	if (!m->capacity)
		return NULL;
	size_t j = hash_u64(key) & (m->capacity - 1);
	while (m->keys[j]) {
		if (m->keys[j] == key)
			return m->values[j];
		j = (j + 1) & (m->capacity - 1);
	}
	return NULL;
}

static bool offset_map_put(offset_map *m, uint64_t key, void *value)
{
	if (2 * (m->n + 1) > m->capacity && !offset_map_grow(m))
		return false;
	size_t j = hash_u64(key) & (m->capacity - 1);
	while (m->keys[j] && m->keys[j] != key)
		j = (j + 1) & (m->capacity - 1);
	if (!m->keys[j])
		m->n++;
	m->keys[j] = key;
	m->values[j] = value;
	return true;
}

static void offset_map_free(offset_map *m)
{
	free(m->keys);
	free(m->values);
}

/* ------------------------------------------------------------ module */

typedef struct entry {
	/* qualified name as written; its key (the name normalized, which
	 * lookups compare) is not stored but derived when compared: most C++
	 * names differ from their key ("> >"), and keys would double the
	 * index's strings */
	const char *display;
	uint64_t hash;         /* of the key */
	uint64_t raw_hash;     /* of display */
	uint64_t offset;
	uint64_t type;         /* variables: DW_AT_type, or 0 */
	uint64_t address;      /* variables: link-time address */
	uint64_t specification;
	uint16_t tag;
	bool declaration;
	bool variable;
	bool has_address;
} entry;

/* normalized name -> entry: open addressing over entry indexes + 1. */
typedef struct name_map {
	uint32_t *slots;
	size_t n, capacity;
} name_map;

typedef struct dmod {
	const mp_module *module;
	mp_target *target;
	mp_dw *dw;
	bool tried_open, indexed;
	char *error;            /* why the module has no usable DWARF */
	enum mp_error_code error_code;
	arena arena;
	entry *entries;
	size_t n_entries, entries_capacity;
	name_map types, variables;
	uint32_t *raw_slots;    /* display as written -> entry index + 1 */
	size_t n_raw, raw_capacity;
	name_map by_offset;     /* DIE offset -> entry (qualified names) */
	offset_map cache;       /* DIE offset -> mp_type */
	uint64_t info_bytes;
	double index_seconds;
	/* index walk state */
	unsigned language, first_language;
	/* scope_depth inside the outermost function being walked (its
	 * statics are indexed as function::name), 0 outside functions */
	size_t function_depth;
	/* the qualified scope ("ns::Class::") as written and as a key
	 * (normalized), with their hash states (hash_more) */
	char scope[MAX_SCOPE], key_scope[MAX_SCOPE];
	size_t scope_length, key_scope_length;
	uint64_t scope_hash, key_scope_hash;
	/* add_entry's last key, for scope_push of the same name: the name
	 * as given, and where its normalized part starts in key_buffer */
	const char *key_of;
	const char *key_part;
	char key_buffer[MAX_SCOPE + 1024];
	struct scope_level {
		size_t length, key_length;
		uint64_t hash, key_hash;
	} scope_stack[64 + 1];
	size_t scope_depth;
	bool failed;
} dmod;

struct mp_types {
	dmod **mods;
	size_t n;
};

struct mp_type {
	dmod *mod;
	uint64_t offset;
	enum mp_type_kind kind;
	unsigned tag;
	const char *name;
	const char *error;
	uint64_t size;
	uint64_t target_offset;
	const mp_type *target;
	unsigned encoding;
	bool has_size, declaration, target_done, children_done, name_done;
	bool name_busy, variadic, flexible, has_discr;
	mp_type_member *members;
	size_t n_members;
	mp_type_enumerator *enumerators;
	size_t n_enumerators;
	uint64_t *dims;
	size_t n_dims;
	const mp_type **params;
	size_t n_params;
	mp_type_template_param *tparams;
	size_t n_tparams;
	mp_type_variant *variants;
	size_t n_variants;
	uint64_t discr_offset, discr_size;
};

static const mp_type *get_type(dmod *m, uint64_t offset);

/* ------------------------------------------------------------- names */

static inline bool ident_char(char c)
{
	unsigned char u = (unsigned char)c;
	return (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') ||
	       (u >= '0' && u <= '9') || u == '_' || u == '$' || u >= 0x80;
}

/* Index of an integer keyword (see canonical_integers), or -1. */
static inline int integer_keyword(const char *w, size_t len)
{
	switch (len) {
	case 3: return memcmp(w, "int", 3) == 0 ? 4 : -1;
	case 4:
		if (memcmp(w, "long", 4) == 0)
			return 3;
		return memcmp(w, "char", 4) == 0 ? 5 : -1;
	case 5: return memcmp(w, "short", 5) == 0 ? 2 : -1;
	case 6: return memcmp(w, "signed", 6) == 0 ? 0 : -1;
	case 8: return memcmp(w, "unsigned", 8) == 0 ? 1 : -1;
	default: return -1;
	}
}

/* Rewrites runs of C integer keywords to one spelling, as GDB prints
 * them ("long unsigned int" -> "unsigned long", "short int" -> "short"),
 * so names compare equal whichever spelling the compiler or the user
 * chose.  in is already space-normalized; out is never longer. */
static void canonical_integers(const char *in, char *out)
{
	size_t n = 0;
	const char *p = in;
	while (*p) {
		if (!ident_char(*p)) {
			out[n++] = *p++;
			continue;
		}
		/* a run of integer keywords separated by single spaces */
		const char *q = p;
		unsigned count[6] = { 0 };
		size_t run_words = 0;
		const char *run_end = p;
		for (;;) {
			const char *w = q;
			while (ident_char(*q))
				q++;
			int k = integer_keyword(w, (size_t)(q - w));
			if (k < 0) {
				q = w;
				break;
			}
			count[k]++;
			run_words++;
			run_end = q;
			if (q[0] == ' ' && ident_char(q[1])) {
				q++;
				continue;
			}
			break;
		}
		if (run_words == 0) {
			while (ident_char(*p))
				out[n++] = *p++;
			continue;
		}
		const char *canon;
		bool is_unsigned = count[1] > 0;
		if (count[5])
			canon = is_unsigned ? "unsigned char" : count[0] ? "signed char" : "char";
		else if (count[2])
			canon = is_unsigned ? "unsigned short" : "short";
		else if (count[3] >= 2)
			canon = is_unsigned ? "unsigned long long" : "long long";
		else if (count[3] == 1)
			canon = is_unsigned ? "unsigned long" : "long";
		else
			canon = is_unsigned ? "unsigned int" : "int";
		size_t len = strlen(canon);
		if (len > (size_t)(run_end - p)) {
			/* never grow: keep the original spelling */
			memmove(out + n, p, (size_t)(run_end - p));
			n += (size_t)(run_end - p);
		} else {
			memmove(out + n, canon, len);
			n += len;
		}
		p = run_end;
	}
	out[n] = '\0';
}

void mp_type_normalize_name(const char *in, char *out)
{
	size_t n = 0;
	bool pending_space = false;
	/* spans without white space copied whole (the index normalizes
	 * every name it meets) */
	while (*in) {
		size_t span = strcspn(in, " \t\n");
		if (span == 0) {
			pending_space = true;
			in++;
			continue;
		}
		if (pending_space && n > 0 && ident_char(out[n - 1]) && ident_char(in[0]))
			out[n++] = ' ';
		pending_space = false;
		memmove(out + n, in, span);
		n += span;
		in += span;
	}
	out[n] = '\0';
	/* Integer keywords change only in runs of several (spaces join
	 * them now) or as a lone "signed": nothing to do without either.
	 * In place is fine: the rewrite never runs ahead of its input. */
	if (memchr(out, ' ', n) || strstr(out, "signed"))
		canonical_integers(out, out);
}

/* An entry's key (see entry) in buf.  Displays are built in buffers
 * shorter than KEY_BUFFER (index_enter, index_variable). */
enum { KEY_BUFFER = MAX_SCOPE + 1024 };

static const char *entry_key(const entry *e, char buf[KEY_BUFFER])
{
	if (strlen(e->display) >= KEY_BUFFER) {
		buf[0] = '\0';
		return buf;
	}
	mp_type_normalize_name(e->display, buf);
	return buf;
}

static bool key_is(const entry *e, const char *key)
{
	char buf[KEY_BUFFER];
	return strcmp(entry_key(e, buf), key) == 0;
}

/* Whether two entries have the same key: equal hashes, and mostly the
 * very same display string (add_entry shares it between equal keys). */
static bool same_key(const entry *a, const entry *b)
{
	if (a->hash != b->hash)
		return false;
	if (a->display == b->display)
		return true;
	char buf[KEY_BUFFER];
	return key_is(a, entry_key(b, buf));
}

/* Doubles a map of entry indexes; by_offset: the map is keyed by the
 * entries' DIE offsets (dmod.by_offset), else by their key hashes. */
static bool name_map_grow_by(name_map *map, const entry *entries, bool by_offset)
{
	size_t capacity = map->capacity ? 2 * map->capacity : 4096;
	uint32_t *slots = calloc(capacity, sizeof(*slots));
	if (!slots)
		return false;
	for (size_t i = 0; i < map->capacity; i++) {
		uint32_t v = map->slots[i];
		if (!v)
			continue;
		const entry *e = &entries[v - 1];
		size_t j = (by_offset ? hash_u64(e->offset) : e->hash) & (capacity - 1);
		while (slots[j])
			j = (j + 1) & (capacity - 1);
		slots[j] = v;
	}
	free(map->slots);
	map->slots = slots;
	map->capacity = capacity;
	return true;
}

static bool name_map_grow(name_map *map, const entry *entries)
{
	return name_map_grow_by(map, entries, false);
}

static const entry *name_map_get(const name_map *map, const entry *entries,
				 const char *key)
{
	if (!map->capacity)
		return NULL;
	uint64_t h = hash_bytes(key);
	size_t j = h & (map->capacity - 1);
	while (map->slots[j]) {
		const entry *e = &entries[map->slots[j] - 1];
		if (e->hash == h && key_is(e, key))
			return e;
		j = (j + 1) & (map->capacity - 1);
	}
	return NULL;
}

/* The entry the name of entry `of` resolves to in map. */
static const entry *name_map_get_same(const name_map *map, const entry *entries,
				      const entry *of)
{
	if (!map->capacity)
		return NULL;
	size_t j = of->hash & (map->capacity - 1);
	while (map->slots[j]) {
		const entry *e = &entries[map->slots[j] - 1];
		if (e == of || same_key(e, of))
			return e;
		j = (j + 1) & (map->capacity - 1);
	}
	return NULL;
}

/* Adds entry index i under its key; a definition replaces a declaration,
 * otherwise the first one stays. */
static bool name_map_put(name_map *map, entry *entries, uint32_t i)
{
	if (2 * (map->n + 1) > map->capacity && !name_map_grow(map, entries))
		return false;
	const entry *e = &entries[i];
	size_t j = e->hash & (map->capacity - 1);
	while (map->slots[j]) {
		entry *old = &entries[map->slots[j] - 1];
		if (same_key(old, e)) {
			bool better = e->variable ? (!old->has_address && e->has_address)
						  : (old->declaration && !e->declaration);
			if (better)
				map->slots[j] = i + 1;
			return true;
		}
		j = (j + 1) & (map->capacity - 1);
	}
	map->slots[j] = i + 1;
	map->n++;
	return true;
}

/* ------------------------------------------------------------ indexing */

static bool is_c_language(unsigned language)
{
	return language == DW_LANG_C89 || language == DW_LANG_C ||
	       language == DW_LANG_C99 || language == DW_LANG_C11 ||
	       language == 0x1d /* DW_LANG_C17 */;
}

static const char *tag_keyword(unsigned tag)
{
	switch (tag) {
	case DW_TAG_structure_type: return "struct";
	case DW_TAG_class_type: return "class";
	case DW_TAG_union_type: return "union";
	case DW_TAG_enumeration_type: return "enum";
	default: return NULL;
	}
}

static void index_begin_cu(void *context, unsigned language, uint64_t cu)
{
	dmod *m = context;
	(void)cu;
	/* dwz's partial units have no DW_AT_language: they are walked last
	 * and take the language of the module's first unit that has one. */
	if (language && !m->first_language)
		m->first_language = language;
	m->language = language ? language : m->first_language;
	m->scope_length = m->key_scope_length = 0;
	m->scope[0] = m->key_scope[0] = '\0';
	m->scope_hash = m->key_scope_hash = HASH_START;
	m->scope_depth = 0;
	m->function_depth = 0;
}

/* Saves the scope; leave restores it. */
static void scope_save(dmod *m)
{
	m->scope_stack[m->scope_depth++] = (struct scope_level){
		m->scope_length, m->key_scope_length, m->scope_hash, m->key_scope_hash,
	};
}

/* Pushes "name::" onto the scope; always pushes (leave pops).  The key
 * scope grows by name normalized: normalizing a qualified name part by
 * part gives what normalizing it whole does, since "::" separates parts
 * and neither keeps spaces nor joins integer keywords across it. */
static void scope_push(dmod *m, const char *name)
{
	scope_save(m);
	size_t n = strlen(name);
	/* the key is never longer (normalizing does not grow a name) */
	if (m->scope_length + n + 3 < MAX_SCOPE) {
		memcpy(m->scope + m->scope_length, name, n);
		memcpy(m->scope + m->scope_length + n, "::", 3);
		m->scope_hash = hash_more(m->scope_hash, m->scope + m->scope_length, n + 2);
		m->scope_length += n + 2;
		char *k = m->key_scope + m->key_scope_length;
		if (m->key_of == name)
			strcpy(k, m->key_part);
		else
			mp_type_normalize_name(name, k);
		size_t kn = strlen(k);
		memcpy(k + kn, "::", 3);
		m->key_scope_hash = hash_more(m->key_scope_hash, k, kn + 2);
		m->key_scope_length += kn + 2;
	}
}

static void index_leave(void *context)
{
	dmod *m = context;
	if (m->scope_depth) {
		const struct scope_level *l = &m->scope_stack[--m->scope_depth];
		m->scope_length = l->length;
		m->key_scope_length = l->key_length;
		m->scope_hash = l->hash;
		m->key_scope_hash = l->key_hash;
		m->scope[m->scope_length] = '\0';
		m->key_scope[m->key_scope_length] = '\0';
	}
	if (m->scope_depth < m->function_depth)
		m->function_depth = 0;
}

static void index_variable(dmod *m, const mp_dw_die *d);

/* Inside a function only its statics (a variable with a fixed address,
 * `static struct cache c;`) are indexed, as function::name, the way GDB
 * spells them; lexical blocks are looked into, nothing else. */
static bool index_in_function(dmod *m, const mp_dw_die *d)
{
	if (d->tag == DW_TAG_lexical_block) {
		if (m->scope_depth >= 64)
			return false;
		/* a block adds no name: push the scope unchanged */
		scope_save(m);
		return true;
	}
	if (d->tag == DW_TAG_variable && d->name && d->has_address)
		index_variable(m, d);
	return false;
}

/* DIE offset -> entry: slots of entry index + 1, keyed by the entries'
 * own offsets (4 bytes a slot where a key and a value took 16: the index
 * of a big C++ program holds hundreds of thousands). */
static bool by_offset_put(dmod *m, uint32_t i)
{
	name_map *map = &m->by_offset;
	if (2 * (map->n + 1) > map->capacity && !name_map_grow_by(map, m->entries, true))
		return false;
	uint64_t offset = m->entries[i].offset;
	size_t j = hash_u64(offset) & (map->capacity - 1);
	while (map->slots[j] && m->entries[map->slots[j] - 1].offset != offset)
		j = (j + 1) & (map->capacity - 1);
	if (!map->slots[j])
		map->n++;
	map->slots[j] = i + 1;
	return true;
}

/* The index entry of the DIE at offset. */
static const entry *entry_at(const dmod *m, uint64_t offset)
{
	const name_map *map = &m->by_offset;
	if (!map->capacity)
		return NULL;
	size_t j = hash_u64(offset) & (map->capacity - 1);
	while (map->slots[j]) {
		const entry *e = &m->entries[map->slots[j] - 1];
		if (e->offset == offset)
			return e;
		j = (j + 1) & (map->capacity - 1);
	}
	return NULL;
}

/* Adds the entry named scope + suffix (the qualified name as written;
 * at most DISPLAY_MAX bytes, longer is cut as before). */
enum { DISPLAY_MAX = MAX_SCOPE + 511 };

static entry *add_entry(dmod *m, const mp_dw_die *d, const char *suffix)
{
	if (!MP_ARRAY_RESERVE(m->entries, m->entries_capacity, m->n_entries + 1)) {
		m->failed = true;
		return NULL;
	}
	m->key_of = NULL;
	size_t suffix_length = strlen(suffix);
	char cut[DISPLAY_MAX + 1];
	if (m->scope_length + suffix_length > DISPLAY_MAX) {
		suffix_length = DISPLAY_MAX - m->scope_length;
		memcpy(cut, suffix, suffix_length);
		cut[suffix_length] = '\0';
		suffix = cut;
	}
	size_t length = m->scope_length + suffix_length;
	/* Headers repeat the same names in every CU: a name already seen
	 * spelled the same way skips normalization altogether. */
	uint64_t raw_hash = hash_end(hash_more(m->scope_hash, suffix, suffix_length));
	if (m->raw_capacity) {
		size_t j = raw_hash & (m->raw_capacity - 1);
		while (m->raw_slots[j]) {
			const entry *o = &m->entries[m->raw_slots[j] - 1];
			if (o->raw_hash == raw_hash &&
			    strncmp(o->display, m->scope, m->scope_length) == 0 &&
			    strcmp(o->display + m->scope_length, suffix) == 0) {
				entry *e = &m->entries[m->n_entries];
				memset(e, 0, sizeof(*e));
				e->hash = o->hash;
				e->display = o->display;
				e->raw_hash = raw_hash;
				e->offset = d->offset;
				e->tag = (uint16_t)d->tag;
				e->declaration = d->declaration;
				m->n_entries++;
				return e;
			}
			j = (j + 1) & (m->raw_capacity - 1);
		}
	}
	/* the key: the scope's, then the suffix normalized (see scope_push) */
	char *key = m->key_buffer;
	memcpy(key, m->key_scope, m->key_scope_length);
	mp_type_normalize_name(suffix, key + m->key_scope_length);
	uint64_t hash = hash_end(hash_more(m->key_scope_hash, key + m->key_scope_length,
					   strlen(key + m->key_scope_length)));
	/* (a name cut to fit is no name scope_push is given) */
	m->key_of = suffix == cut ? NULL : suffix;
	m->key_part = key + m->key_scope_length;
	/* The same name in another CU (headers repeat in every CU): share
	 * the strings of the first entry. */
	const entry *same = NULL;
	if (m->types.capacity) {
		size_t j = hash & (m->types.capacity - 1);
		while (m->types.slots[j]) {
			const entry *o = &m->entries[m->types.slots[j] - 1];
			if (o->hash == hash && key_is(o, key)) {
				same = o;
				break;
			}
			j = (j + 1) & (m->types.capacity - 1);
		}
	}
	char *disp = same ? (char *)same->display : arena_alloc(&m->arena, length + 1);
	if (disp && !same) {
		memcpy(disp, m->scope, m->scope_length);
		memcpy(disp + m->scope_length, suffix, suffix_length + 1);
	}
	if (!disp) {
		m->failed = true;
		return NULL;
	}
	/* remember this spelling (first one only) */
	if (2 * (m->n_raw + 1) > m->raw_capacity) {
		size_t capacity = m->raw_capacity ? 2 * m->raw_capacity : 4096;
		uint32_t *slots = calloc(capacity, sizeof(*slots));
		if (!slots) {
			m->failed = true;
			return NULL;
		}
		for (size_t i = 0; i < m->raw_capacity; i++) {
			uint32_t v = m->raw_slots[i];
			if (!v)
				continue;
			size_t j = m->entries[v - 1].raw_hash & (capacity - 1);
			while (slots[j])
				j = (j + 1) & (capacity - 1);
			slots[j] = v;
		}
		free(m->raw_slots);
		m->raw_slots = slots;
		m->raw_capacity = capacity;
	}
	size_t slot = raw_hash & (m->raw_capacity - 1);
	while (m->raw_slots[slot])
		slot = (slot + 1) & (m->raw_capacity - 1);
	m->raw_slots[slot] = (uint32_t)(m->n_entries + 1);
	m->n_raw++;
	entry *e = &m->entries[m->n_entries];
	memset(e, 0, sizeof(*e));
	e->hash = hash;
	e->raw_hash = raw_hash;
	e->display = disp;
	e->offset = d->offset;
	e->tag = (uint16_t)d->tag;
	e->declaration = d->declaration;
	m->n_entries++;
	return e;
}

/* A variable under the current scope's name.  Named ones go in the name
 * map now; a definition that only points at its declaration
 * (DW_AT_specification) after the walk. */
static void index_variable(dmod *m, const mp_dw_die *d)
{
	entry *e = add_entry(m, d, d->name ? d->name : "");
	if (!e)
		return;
	e->variable = true;
	e->type = d->type;
	e->address = d->address;
	e->has_address = d->has_address;
	e->specification = d->specification;
	if (!by_offset_put(m, (uint32_t)(m->n_entries - 1)))
		m->failed = true;
	if (d->name && !name_map_put(&m->variables, m->entries, (uint32_t)(m->n_entries - 1)))
		m->failed = true;
}

static bool index_enter(void *context, const mp_dw_die *d)
{
	dmod *m = context;
	if (m->failed)
		return false;
	bool c_lang = is_c_language(m->language);
	if (m->function_depth)
		return index_in_function(m, d);
	switch (d->tag) {
	case DW_TAG_subprogram:
		/* C++ methods defined outside their class have no name of
		 * their own (DW_AT_specification): their statics are not
		 * indexed. */
		if (!d->name || !d->has_children || d->declaration || m->scope_depth >= 64)
			return false;
		scope_push(m, d->name);
		m->function_depth = m->scope_depth;
		return true;
	case DW_TAG_namespace:
		if (m->scope_depth >= 64)
			return false;
		scope_push(m, d->name ? d->name : "(anonymous namespace)");
		return true;
	case DW_TAG_structure_type:
	case DW_TAG_class_type:
	case DW_TAG_union_type:
	case DW_TAG_enumeration_type:
	case DW_TAG_typedef:
	case DW_TAG_base_type:
	case DW_TAG_unspecified_type: {
		/* a type unit's stub: its name lacks the namespace, and the
		 * unit's own DIE is indexed */
		if (!d->name || d->signature)
			return false;
		char buffer[MAX_SCOPE + 512];
		const char *keyword = tag_keyword(d->tag);
		const entry *decl = d->specification ? entry_at(m, d->specification) : NULL;
		/* entries move when the array grows: keep the arena string */
		const char *decl_name = decl ? decl->display : NULL;
		/* the name under the current scope */
		const char *suffix = decl_name ? decl_name : d->name;
		if (!decl_name && c_lang && keyword && m->scope_length == 0) {
			snprintf(buffer, sizeof(buffer), "%s %s", keyword, d->name);
			suffix = buffer;
		}
		entry *e = add_entry(m, d, suffix);
		if (!e)
			return false;
		if (!by_offset_put(m, (uint32_t)(m->n_entries - 1))) {
			m->failed = true;
			return false;
		}
		/* Entries move when the array grows: maps keep indexes. */
		if (!name_map_put(&m->types, m->entries, (uint32_t)(m->n_entries - 1))) {
			m->failed = true;
			return false;
		}
		bool container = d->tag == DW_TAG_structure_type ||
				  d->tag == DW_TAG_class_type ||
				  d->tag == DW_TAG_union_type;
		if (container && !c_lang && d->has_children && m->scope_depth < 64) {
			scope_push(m, decl_name ? decl_name : d->name);
			return true;
		}
		return false;
	}
	case DW_TAG_variable:
		if (d->name || d->specification)
			index_variable(m, d);
		return false;
	default:
		return false;
	}
}

static void set_module_error(dmod *m, mp_error *e)
{
	free(m->error);
	m->error = strdup(mp_error_message(e));
	m->error_code = mp_error_code(e);
	mp_error_free(e);
}

/* .debug_info's uncompressed size, from the debug file's section header. */
static uint64_t debug_info_size(const char *path)
{
	mp_elf *elf = NULL;
	mp_error *e = mp_elf_open(path, &elf);
	if (e) {
		mp_error_free(e);
		return 0;
	}
	uint64_t size = 0;
	const Elf64_Shdr *sh = mp_elf_section(elf, ".debug_info");
	if (sh) {
		size = sh->sh_size;
		if (sh->sh_flags & SHF_COMPRESSED) {
			/* Copied out: a section may start at any offset. */
			const void *bytes = mp_elf_bytes(elf, sh->sh_offset, sizeof(Elf64_Chdr));
			Elf64_Chdr ch;
			if (bytes) {
				memcpy(&ch, bytes, sizeof(ch));
				size = ch.ch_size;
			}
		}
	}
	mp_elf_close(elf);
	return size;
}

static const char *module_label(const mp_module *module)
{
	const char *name = mp_module_name(module);
	return name && name[0] ? name : "(unnamed module)";
}

static char *no_debug_message(const mp_module *module)
{
	const char *name = module_label(module);
	const char *base = strrchr(name, '/');
	base = base ? base + 1 : name;
	const char *build_id = mp_module_build_id(module);
	char *text = NULL;
	const char *hint;
	if (strncmp(base, "libc.so", 7) == 0 || strncmp(base, "libc-", 5) == 0 ||
	    strncmp(base, "ld-linux", 8) == 0 || strncmp(base, "libm.so", 7) == 0)
		hint = "install libc6-dbg, pass --debug-dir DIR holding .build-id/xx/yyyy.debug, "
		       "or set DEBUGINFOD_URLS to a server that has it";
	else
		hint = "install its debug package (-dbg or -dbgsym), rebuild it with -g, "
		       "pass --debug-dir DIR holding .build-id/xx/yyyy.debug, "
		       "or set DEBUGINFOD_URLS to a server that has it";
	if (asprintf(&text, "%s (build id %s) has no debug info: %s", name,
		     build_id && build_id[0] ? build_id : "none", hint) < 0)
		return NULL;
	return text;
}

static bool index_interrupted(void *context)
{
	(void)context;
	return false;
}

static dmod *module_state(mp_target *t, const mp_module *module,
			  mp_error **err);

/* Opens and indexes the module once; afterwards m->error tells whether it
 * is usable. */
static void ensure_indexed(dmod *m)
{
	if (m->tried_open)
		return;
	m->tried_open = true;
	const char *debug = mp_module_debug_file(m->module);
	if (!debug) {
		free(m->error);
		m->error = no_debug_message(m->module);
		m->error_code = MP_ERR_NOT_FOUND;
		return;
	}
	mp_error *e = mp_dw_open(debug, module_label(m->module), &m->dw);
	char *alt = NULL;
	if (!e)
		e = mp_debug_alt_file_find(m->target, debug, &alt);
	if (!e && alt)
		e = mp_dw_attach_alt(m->dw, alt);
	free(alt);
	if (e) {
		set_module_error(m, e);
		return;
	}
	m->info_bytes = debug_info_size(debug);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	mp_dw_walker walker = {
		.context = m,
		.begin_cu = index_begin_cu,
		.enter = index_enter,
		.leave = index_leave,
		.interrupted = index_interrupted,
		.report_progress = true,
	};
	mp_progress_begin("DWARF index", "bytes", m->info_bytes);
	e = mp_dw_walk(m->dw, &walker);
	mp_progress_end();
	if (!e && m->failed)
		e = mp_error_nomem();
	/* Variables defined through DW_AT_specification take the declaration's
	 * qualified name. */
	for (size_t i = 0; !e && i < m->n_entries; i++) {
		entry *v = &m->entries[i];
		if (!v->variable || !v->specification || !v->has_address)
			continue;
		const entry *decl = entry_at(m, v->specification);
		if (!decl || !decl->display[0])
			continue;
		v->display = decl->display;
		v->hash = decl->hash;
		if (!v->type)
			v->type = decl->type;
		if (!name_map_put(&m->variables, m->entries, (uint32_t)i))
			e = mp_error_nomem();
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	m->index_seconds = (double)(t1.tv_sec - t0.tv_sec) +
			   (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	if (e) {
		set_module_error(m, e);
		return;
	}
	m->indexed = true;
}

static void dmod_free(dmod *m)
{
	if (!m)
		return;
	mp_dw_close(m->dw);
	free(m->by_offset.slots);
	offset_map_free(&m->cache);
	free(m->types.slots);
	free(m->variables.slots);
	free(m->raw_slots);
	free(m->entries);
	free(m->error);
	arena_free(&m->arena);
	free(m);
}

void mp_types_free(struct mp_types *types)
{
	if (!types)
		return;
	for (size_t i = 0; i < types->n; i++)
		dmod_free(types->mods[i]);
	free(types->mods);
	free(types);
}

static dmod *module_state(mp_target *t, const mp_module *module, mp_error **err)
{
	*err = NULL;
	if (!t->types) {
		t->types = calloc(1, sizeof(*t->types));
		if (!t->types) {
			*err = mp_error_nomem();
			return NULL;
		}
	}
	struct mp_types *ts = t->types;
	for (size_t i = 0; i < ts->n; i++)
		if (ts->mods[i]->module == module)
			return ts->mods[i];
	dmod *m = calloc(1, sizeof(*m));
	dmod **grown = realloc(ts->mods, (ts->n + 1) * sizeof(*grown));
	if (!m || !grown) {
		free(m);
		if (grown)
			ts->mods = grown;
		*err = mp_error_nomem();
		return NULL;
	}
	ts->mods = grown;
	m->module = module;
	m->target = t;
	ts->mods[ts->n++] = m;
	return m;
}

/* ------------------------------------------------------------ types */

static enum mp_type_kind kind_of_tag(unsigned tag)
{
	switch (tag) {
	case DW_TAG_base_type: return MP_TYPE_BASE;
	case DW_TAG_structure_type: return MP_TYPE_STRUCT;
	case DW_TAG_class_type: return MP_TYPE_CLASS;
	case DW_TAG_union_type: return MP_TYPE_UNION;
	case DW_TAG_enumeration_type: return MP_TYPE_ENUM;
	case DW_TAG_typedef: return MP_TYPE_TYPEDEF;
	case DW_TAG_pointer_type: return MP_TYPE_POINTER;
	case DW_TAG_reference_type: return MP_TYPE_REFERENCE;
	case DW_TAG_rvalue_reference_type: return MP_TYPE_RVALUE_REFERENCE;
	case DW_TAG_ptr_to_member_type: return MP_TYPE_MEMBER_POINTER;
	case DW_TAG_array_type: return MP_TYPE_ARRAY;
	case DW_TAG_const_type: return MP_TYPE_CONST;
	case DW_TAG_volatile_type: return MP_TYPE_VOLATILE;
	case DW_TAG_restrict_type: return MP_TYPE_RESTRICT;
	case DW_TAG_atomic_type: return MP_TYPE_ATOMIC;
	case DW_TAG_subroutine_type: return MP_TYPE_FUNCTION;
	case DW_TAG_unspecified_type: return MP_TYPE_UNSPECIFIED;
	default: return MP_TYPE_INVALID;
	}
}

const char *mp_type_kind_name(enum mp_type_kind kind)
{
	switch (kind) {
	case MP_TYPE_INVALID: return "invalid";
	case MP_TYPE_VOID: return "void";
	case MP_TYPE_BASE: return "base";
	case MP_TYPE_STRUCT: return "struct";
	case MP_TYPE_CLASS: return "class";
	case MP_TYPE_UNION: return "union";
	case MP_TYPE_ENUM: return "enum";
	case MP_TYPE_TYPEDEF: return "typedef";
	case MP_TYPE_POINTER: return "pointer";
	case MP_TYPE_REFERENCE: return "reference";
	case MP_TYPE_RVALUE_REFERENCE: return "rvalue reference";
	case MP_TYPE_MEMBER_POINTER: return "member pointer";
	case MP_TYPE_ARRAY: return "array";
	case MP_TYPE_CONST: return "const";
	case MP_TYPE_VOLATILE: return "volatile";
	case MP_TYPE_RESTRICT: return "restrict";
	case MP_TYPE_ATOMIC: return "atomic";
	case MP_TYPE_FUNCTION: return "function";
	case MP_TYPE_UNSPECIFIED: return "unspecified";
	}
	return "invalid";
}

static mp_type *new_type(dmod *m, uint64_t offset)
{
	mp_type *t = arena_alloc(&m->arena, sizeof(*t));
	if (!t)
		return NULL;
	t->mod = m;
	t->offset = offset;
	if (offset && !offset_map_put(&m->cache, offset, t))
		return NULL;
	return t;
}

static mp_type *invalid_type(dmod *m, uint64_t offset, mp_error *e)
{
	mp_type *t = new_type(m, offset);
	if (t) {
		t->kind = MP_TYPE_INVALID;
		t->name = "<unreadable type>";
		t->error = arena_strdup(&m->arena, mp_error_message(e));
		t->children_done = t->target_done = t->name_done = true;
	}
	mp_error_free(e);
	return t;
}

/* The one void type of a module (offset 0: no DIE). */
static const mp_type *void_type(dmod *m)
{
	mp_type *t = offset_map_get(&m->cache, UINT64_MAX);
	if (t)
		return t;
	t = arena_alloc(&m->arena, sizeof(*t));
	if (!t)
		return NULL;
	t->mod = m;
	t->kind = MP_TYPE_VOID;
	t->name = "void";
	t->children_done = t->target_done = t->name_done = true;
	offset_map_put(&m->cache, UINT64_MAX, t);
	return t;
}

/* The definition of a type name in another module of the target, indexing
 * modules as needed; NULL when none defines it. */
static const mp_type *definition_elsewhere(dmod *m, const char *key)
{
	mp_target *t = m->target;
	for (size_t i = 0; i < mp_target_module_count(t); i++) {
		const mp_module *module = mp_target_module(t, i);
		if (module == m->module)
			continue;
		mp_error *e = NULL;
		dmod *other = module_state(t, module, &e);
		if (e) {
			mp_error_free(e);
			continue;
		}
		ensure_indexed(other);
		if (!other->indexed)
			continue;
		const entry *def = name_map_get(&other->types, other->entries, key);
		if (def && !def->declaration) {
			const mp_type *found = get_type(other, def->offset);
			if (found && found->kind != MP_TYPE_INVALID && !found->declaration)
				return found;
		}
	}
	return NULL;
}

/* The handle for the DIE at offset: its own attributes read, children
 * not yet.  A declaration becomes its definition when the index has one. */
static const mp_type *get_type(dmod *m, uint64_t offset)
{
	if (!offset)
		return void_type(m);
	mp_type *t = offset_map_get(&m->cache, offset);
	if (t)
		return t;
	if (!m->dw)
		return NULL;
	mp_dw_die d;
	mp_error *e = mp_dw_read(m->dw, offset, &d);
	if (e)
		return invalid_type(m, offset, e);
	/* A stub of a type unit's type (-fdebug-types-section, often without
	 * a name): the type is the one the unit defines. */
	if (d.signature && d.signature != offset) {
		const mp_type *found = get_type(m, d.signature);
		if (found && found->kind != MP_TYPE_INVALID) {
			offset_map_put(&m->cache, offset, (void *)found);
			return found;
		}
	}
	if (d.declaration && d.name) {
		const entry *self = entry_at(m, offset);
		const entry *def = self ? name_map_get_same(&m->types, m->entries, self) : NULL;
		if (def && !def->declaration && def->offset != offset) {
			const mp_type *found = get_type(m, def->offset);
			if (found && found->kind != MP_TYPE_INVALID) {
				offset_map_put(&m->cache, offset, (void *)found);
				return found;
			}
		}
		/* Defined in another module (an opaque handle of a library):
		 * its definition there.  Declarations only: no recursion. */
		if (self && (!def || def->declaration)) {
			char key[KEY_BUFFER];
			const mp_type *found = definition_elsewhere(m, entry_key(self, key));
			if (found) {
				offset_map_put(&m->cache, offset, (void *)found);
				return found;
			}
		}
	}
	t = new_type(m, offset);
	if (!t)
		return NULL;
	t->tag = d.tag;
	t->kind = kind_of_tag(d.tag);
	if (t->kind == MP_TYPE_INVALID) {
		char text[128];
		snprintf(text, sizeof(text), "%s: DIE at .debug_info offset 0x%llx is not a type (tag 0x%x)",
			 module_label(m->module), (unsigned long long)offset, d.tag);
		t->error = arena_strdup(&m->arena, text);
		t->name = "<not a type>";
		t->children_done = t->target_done = t->name_done = true;
		return t;
	}
	t->declaration = d.declaration;
	t->target_offset = d.type;
	t->encoding = d.has_encoding ? (unsigned)d.encoding : 0;
	if (d.has_size) {
		t->size = d.size;
		t->has_size = true;
	} else if (t->kind == MP_TYPE_POINTER || t->kind == MP_TYPE_REFERENCE ||
		   t->kind == MP_TYPE_RVALUE_REFERENCE) {
		t->size = 8;
		t->has_size = true;
	}
	if (d.name) {
		const entry *self = entry_at(m, offset);
		t->name = self ? self->display : arena_strdup(&m->arena, d.name);
		t->name_done = t->name != NULL;
	} else if (t->kind == MP_TYPE_STRUCT || t->kind == MP_TYPE_CLASS ||
		   t->kind == MP_TYPE_UNION || t->kind == MP_TYPE_ENUM) {
		t->name = t->kind == MP_TYPE_UNION ? "union {...}" :
			  t->kind == MP_TYPE_ENUM ? "enum {...}" :
			  t->kind == MP_TYPE_CLASS ? "class {...}" : "struct {...}";
		t->name_done = true;
	}
	if (!d.has_children)
		t->children_done = true;
	return t;
}

const mp_type *mp_type_target(const mp_type *ct)
{
	mp_type *t = (mp_type *)ct;
	if (!t || t->target_done)
		return t ? t->target : NULL;
	t->target_done = true;
	if (t->target_offset)
		t->target = get_type(t->mod, t->target_offset);
	else if (t->kind == MP_TYPE_POINTER || t->kind == MP_TYPE_CONST ||
		 t->kind == MP_TYPE_VOLATILE || t->kind == MP_TYPE_TYPEDEF ||
		 t->kind == MP_TYPE_RESTRICT || t->kind == MP_TYPE_ATOMIC ||
		 t->kind == MP_TYPE_FUNCTION)
		t->target = void_type(t->mod);
	return t->target;
}

const mp_type *mp_type_strip(const mp_type *t)
{
	for (int i = 0; t && i < MAX_CHAIN; i++) {
		switch (t->kind) {
		case MP_TYPE_TYPEDEF:
		case MP_TYPE_CONST:
		case MP_TYPE_VOLATILE:
		case MP_TYPE_RESTRICT:
		case MP_TYPE_ATOMIC:
			t = mp_type_target(t);
			break;
		default:
			return t;
		}
	}
	return t;
}

static void load_children(mp_type *t);

/* Size without recursion: cv/typedef hops and array dimensions multiply
 * along a bounded chain. */
uint64_t mp_type_size(const mp_type *t)
{
	uint64_t factor = 1;
	for (int i = 0; t && i < MAX_CHAIN; i++) {
		if (t->has_size && t->kind != MP_TYPE_ARRAY)
			return factor * t->size;
		switch (t->kind) {
		case MP_TYPE_TYPEDEF:
		case MP_TYPE_CONST:
		case MP_TYPE_VOLATILE:
		case MP_TYPE_RESTRICT:
		case MP_TYPE_ATOMIC:
		case MP_TYPE_ENUM:
			t = mp_type_target(t);
			break;
		case MP_TYPE_ARRAY:
			if (t->has_size)
				return factor * t->size;
			load_children((mp_type *)t);
			for (size_t k = 0; k < t->n_dims; k++)
				factor *= t->dims[k];
			if (!factor)
				return 0;
			t = mp_type_target(t);
			break;
		default:
			return 0;
		}
	}
	return 0;
}

bool mp_type_is_complete(const mp_type *t)
{
	const mp_type *s = mp_type_strip(t);
	if (!s)
		return false;
	switch (s->kind) {
	case MP_TYPE_VOID:
	case MP_TYPE_FUNCTION:
	case MP_TYPE_INVALID:
		return false;
	case MP_TYPE_STRUCT:
	case MP_TYPE_CLASS:
	case MP_TYPE_UNION:
	case MP_TYPE_ENUM:
		return !s->declaration && s->has_size;
	case MP_TYPE_ARRAY:
		return !mp_type_array_flexible(s);
	default:
		return true;
	}
}

static bool signed_encoding(unsigned encoding)
{
	return encoding == DW_ATE_signed || encoding == DW_ATE_signed_char;
}

static int compare_members(const void *a, const void *b)
{
	const mp_type_member *x = a, *y = b;
	uint64_t bx = x->offset * 8 + x->bit_offset, by = y->offset * 8 + y->bit_offset;
	if (bx != by)
		return bx < by ? -1 : 1;
	if (x->is_base != y->is_base)
		return x->is_base ? -1 : 1;
	/* Keep DWARF order among equals (union members): name pointers
	 * are in arena order, which is reading order. */
	return x->name < y->name ? -1 : x->name > y->name;
}

/* Fills member->offset/bit_offset for a bitfield from its absolute first
 * bit: the storage unit is the member type's size, aligned like the type,
 * unless the field straddles it (packed structs), as pahole shows it. */
static void place_bitfield(mp_type_member *mb, uint64_t absolute_bit)
{
	uint64_t unit = mb->size ? mb->size : 1;
	uint64_t start = absolute_bit / (unit * 8) * unit;
	if (absolute_bit + mb->bit_size > (start + unit) * 8)
		start = absolute_bit / 8;
	mb->offset = start;
	mb->bit_offset = (uint32_t)(absolute_bit - start * 8);
}

static void set_child_error(mp_type *t, mp_error *e)
{
	if (!t->error)
		t->error = arena_strdup(&t->mod->arena, mp_error_message(e));
	mp_error_free(e);
}

static void load_variant_part(mp_type *t, const mp_dw_die *part)
{
	dmod *m = t->mod;
	mp_dw_die *kids = NULL;
	size_t n = 0;
	mp_error *e = mp_dw_children(m->dw, part->offset, MAX_CHILDREN, &kids, &n);
	if (e) {
		set_child_error(t, e);
		return;
	}
	size_t n_variants = 0;
	for (size_t i = 0; i < n; i++) {
		if (kids[i].tag == DW_TAG_member && (kids[i].offset == part->discr || !part->discr)) {
			const mp_type *dt = get_type(m, kids[i].type);
			t->has_discr = true;
			t->discr_offset = kids[i].member_location;
			t->discr_size = mp_type_size(dt);
		} else if (kids[i].tag == DW_TAG_variant) {
			n_variants++;
		}
	}
	t->variants = arena_alloc(&m->arena, (n_variants ? n_variants : 1) * sizeof(*t->variants));
	for (size_t i = 0; t->variants && i < n; i++) {
		if (kids[i].tag != DW_TAG_variant)
			continue;
		mp_type_variant *v = &t->variants[t->n_variants++];
		v->has_discr_value = kids[i].has_discr_value;
		v->discr_value = kids[i].discr_value;
		v->name = "";
		if (!kids[i].has_children)
			continue;
		mp_dw_die *inner = NULL;
		size_t n_inner = 0;
		e = mp_dw_children(m->dw, kids[i].offset, MAX_CHILDREN, &inner, &n_inner);
		if (e) {
			set_child_error(t, e);
			continue;
		}
		for (size_t k = 0; k < n_inner; k++) {
			if (inner[k].tag != DW_TAG_member)
				continue;
			v->name = inner[k].name ? arena_strdup(&m->arena, inner[k].name) : "";
			v->type = get_type(m, inner[k].type);
			v->offset = inner[k].member_location;
			break;
		}
		free(inner);
	}
	free(kids);
}

/* Reads the children of a struct, union, class, enum, array or function
 * type: one level; referenced types stay lazy. */
static void load_children(mp_type *t)
{
	if (t->children_done)
		return;
	t->children_done = true;
	dmod *m = t->mod;
	if (!m->dw)
		return;
	mp_dw_die *kids = NULL;
	size_t n = 0;
	mp_error *e = mp_dw_children(m->dw, t->offset, MAX_CHILDREN, &kids, &n);
	if (e) {
		set_child_error(t, e);
		return;
	}
	size_t n_members = 0, n_enum = 0, n_dims = 0, n_params = 0, n_tparams = 0;
	for (size_t i = 0; i < n; i++) {
		switch (kids[i].tag) {
		case DW_TAG_member:
		case DW_TAG_inheritance: n_members++; break;
		case DW_TAG_enumerator: n_enum++; break;
		case DW_TAG_subrange_type:
		case DW_TAG_enumeration_type: n_dims++; break;
		case DW_TAG_formal_parameter: n_params++; break;
		case DW_TAG_template_type_parameter:
		case DW_TAG_template_value_parameter: n_tparams++; break;
		default: break;
		}
	}
	if (t->kind == MP_TYPE_ARRAY) {
		t->dims = arena_alloc(&m->arena, (n_dims ? n_dims : 1) * sizeof(*t->dims));
	} else {
		t->members = arena_alloc(&m->arena, (n_members ? n_members : 1) * sizeof(*t->members));
		t->enumerators = arena_alloc(&m->arena, (n_enum ? n_enum : 1) * sizeof(*t->enumerators));
		t->params = arena_alloc(&m->arena, (n_params ? n_params : 1) * sizeof(*t->params));
		t->tparams = arena_alloc(&m->arena, (n_tparams ? n_tparams : 1) * sizeof(*t->tparams));
		if (!t->members || !t->enumerators || !t->params || !t->tparams) {
			free(kids);
			t->error = "out of memory";
			return;
		}
	}
	if (t->kind == MP_TYPE_ARRAY && !t->dims) {
		free(kids);
		t->error = "out of memory";
		return;
	}
	bool enum_signed = true;
	if (t->kind == MP_TYPE_ENUM) {
		const mp_type *under = mp_type_strip(mp_type_target(t));
		if (under && under->kind == MP_TYPE_BASE)
			enum_signed = signed_encoding(under->encoding);
	}
	for (size_t i = 0; i < n; i++) {
		const mp_dw_die *d = &kids[i];
		/* An array has only dimensions (and nothing else was allocated
		 * for it): members or enumerators under an array DIE are corrupt
		 * DWARF, and were written through a NULL array. */
		if (t->kind == MP_TYPE_ARRAY && d->tag != DW_TAG_subrange_type &&
		    d->tag != DW_TAG_enumeration_type)
			continue;
		switch (d->tag) {
		case DW_TAG_member:
		case DW_TAG_inheritance: {
			/* Static members (DWARF 4) are declarations: no storage. */
			if (d->declaration || d->external)
				break;
			mp_type_member *mb = &t->members[t->n_members++];
			mb->type = get_type(m, d->type);
			mb->size = mp_type_size(mb->type);
			mb->artificial = d->artificial;
			if (d->tag == DW_TAG_inheritance) {
				mb->is_base = true;
				mb->is_virtual_base = d->member_location_is_expression;
				mb->name = mb->type ? mp_type_name(mb->type) : "";
			} else {
				mb->name = d->name ? arena_strdup(&m->arena, d->name) : "";
			}
			uint64_t location = d->has_member_location ? d->member_location : 0;
			if (d->has_bit_size && d->bit_size) {
				mb->bit_size = (uint32_t)d->bit_size;
				uint64_t bit;
				if (d->has_data_bit_offset) {
					bit = d->data_bit_offset;
				} else if (d->has_bit_offset) {
					/* DWARF 2-4: bits counted from the most
					 * significant end of the storage unit. */
					uint64_t unit = d->has_size ? d->size : mb->size;
					bit = location * 8 + unit * 8 - d->bit_offset - d->bit_size;
				} else {
					bit = location * 8;
				}
				place_bitfield(mb, bit);
			} else {
				mb->offset = location;
			}
			break;
		}
		case DW_TAG_variant_part:
			load_variant_part(t, d);
			break;
		case DW_TAG_enumerator: {
			mp_type_enumerator *en = &t->enumerators[t->n_enumerators++];
			en->name = d->name ? arena_strdup(&m->arena, d->name) : "";
			int64_t v = d->const_value;
			if (enum_signed && d->const_value_width && d->const_value_width < 8) {
				unsigned shift = 64 - 8 * d->const_value_width;
				v = (int64_t)((uint64_t)v << shift) >> shift;
			}
			en->value = v;
			break;
		}
		case DW_TAG_subrange_type:
		case DW_TAG_enumeration_type: {
			if (t->kind != MP_TYPE_ARRAY)
				break;
			uint64_t count = 0;
			if (d->has_count) {
				count = d->count;
			} else if (d->has_upper_bound) {
				int64_t lower = d->has_lower_bound ? d->lower_bound : 0;
				count = d->upper_bound - (uint64_t)lower + 1;
			} else {
				t->flexible = true;
			}
			if (d->has_count && d->count == 0)
				t->flexible = true;
			t->dims[t->n_dims++] = count;
			break;
		}
		case DW_TAG_formal_parameter:
			if (t->kind == MP_TYPE_FUNCTION)
				t->params[t->n_params++] = get_type(m, d->type);
			break;
		case DW_TAG_unspecified_parameters:
			t->variadic = true;
			break;
		case DW_TAG_template_type_parameter:
		case DW_TAG_template_value_parameter: {
			mp_type_template_param *tp = &t->tparams[t->n_tparams++];
			tp->name = d->name ? arena_strdup(&m->arena, d->name) : "";
			tp->type = d->type ? get_type(m, d->type) : NULL;
			tp->is_value = d->tag == DW_TAG_template_value_parameter;
			tp->value = d->const_value;
			break;
		}
		default:
			break;
		}
	}
	free(kids);
	if (t->n_members > 1)
		qsort(t->members, t->n_members, sizeof(*t->members), compare_members);
}

/* -------------------------------------------------- composed names */

typedef struct strbuf {
	char *data;
	size_t length, capacity;
} strbuf;

static void sb_add(strbuf *b, const char *s)
{
	size_t n = strlen(s);
	if (b->length + n + 1 > b->capacity) {
		size_t c = (b->length + n + 1) * 2;
		char *grown = realloc(b->data, c);
		if (!grown)
			return;
		b->data = grown;
		b->capacity = c;
	}
	memcpy(b->data + b->length, s, n + 1);
	b->length += n;
}

/* Names of unnamed derived types, composed from already named parts. */
static const char *compose(mp_type *t)
{
	dmod *m = t->mod;
	const mp_type *target = mp_type_target(t);
	const char *tn = target ? target->name : "void";
	if (!tn)
		tn = "?";
	strbuf b = { 0 };
	char text[64];
	switch (t->kind) {
	case MP_TYPE_POINTER:
	case MP_TYPE_REFERENCE:
	case MP_TYPE_RVALUE_REFERENCE:
	case MP_TYPE_MEMBER_POINTER: {
		const char *op = t->kind == MP_TYPE_POINTER ? "*" :
				 t->kind == MP_TYPE_REFERENCE ? "&" :
				 t->kind == MP_TYPE_RVALUE_REFERENCE ? "&&" : "::*";
		const char *paren = target && target->kind == MP_TYPE_FUNCTION ?
				    strstr(tn, " (") : NULL;
		if (paren) {
			/* "ret (params)" -> "ret (*)(params)" */
			size_t head = (size_t)(paren - tn);
			char *h = strndup(tn, head);
			if (h) {
				sb_add(&b, h);
				free(h);
			}
			sb_add(&b, " (");
			sb_add(&b, op);
			sb_add(&b, ")");
			sb_add(&b, paren + 1);
		} else {
			sb_add(&b, tn);
			size_t n = strlen(tn);
			if (n && tn[n - 1] != '*' && tn[n - 1] != '&')
				sb_add(&b, " ");
			sb_add(&b, op);
		}
		break;
	}
	case MP_TYPE_CONST:
	case MP_TYPE_VOLATILE:
	case MP_TYPE_RESTRICT:
	case MP_TYPE_ATOMIC: {
		const char *q = t->kind == MP_TYPE_CONST ? "const" :
				t->kind == MP_TYPE_VOLATILE ? "volatile" :
				t->kind == MP_TYPE_RESTRICT ? "restrict" : "_Atomic";
		if (target && (target->kind == MP_TYPE_POINTER || target->kind == MP_TYPE_ARRAY)) {
			sb_add(&b, tn);
			sb_add(&b, " ");
			sb_add(&b, q);
		} else {
			sb_add(&b, q);
			sb_add(&b, " ");
			sb_add(&b, tn);
		}
		break;
	}
	case MP_TYPE_ARRAY:
		load_children(t);
		sb_add(&b, tn);
		sb_add(&b, " ");
		for (size_t i = 0; i < t->n_dims; i++) {
			if (t->dims[i] || !t->flexible)
				snprintf(text, sizeof(text), "[%llu]", (unsigned long long)t->dims[i]);
			else
				snprintf(text, sizeof(text), "[]");
			sb_add(&b, text);
		}
		break;
	case MP_TYPE_FUNCTION:
		load_children(t);
		sb_add(&b, tn);
		sb_add(&b, " (");
		for (size_t i = 0; i < t->n_params; i++) {
			if (i)
				sb_add(&b, ", ");
			sb_add(&b, t->params[i] && t->params[i]->name ? t->params[i]->name : "?");
		}
		if (t->variadic)
			sb_add(&b, t->n_params ? ", ..." : "...");
		else if (!t->n_params)
			sb_add(&b, "void");
		sb_add(&b, ")");
		break;
	default:
		sb_add(&b, mp_type_kind_name(t->kind));
		break;
	}
	const char *name = b.data ? arena_strdup(&m->arena, b.data) : "?";
	free(b.data);
	return name ? name : "?";
}

/* Dependencies whose names compose t's. */
static size_t name_deps(mp_type *t, const mp_type **deps, size_t max)
{
	size_t n = 0;
	const mp_type *target = mp_type_target(t);
	if (target && n < max)
		deps[n++] = target;
	if (t->kind == MP_TYPE_FUNCTION) {
		load_children(t);
		for (size_t i = 0; i < t->n_params && n < max; i++)
			if (t->params[i])
				deps[n++] = t->params[i];
	}
	return n;
}

const char *mp_type_name(const mp_type *ct)
{
	mp_type *root = (mp_type *)ct;
	if (!root)
		return "void";
	if (root->name_done)
		return root->name ? root->name : "?";
	mp_type *stack[MAX_NAME_STACK];
	size_t depth = 0;
	stack[depth++] = root;
	root->name_busy = true;
	while (depth) {
		mp_type *t = stack[depth - 1];
		const mp_type *deps[64];
		size_t n = name_deps(t, deps, 64);
		bool pushed = false;
		for (size_t i = 0; i < n; i++) {
			mp_type *d = (mp_type *)deps[i];
			if (d->name_done)
				continue;
			if (d->name_busy || depth == MAX_NAME_STACK) {
				/* a cycle of unnamed types: corrupt DWARF */
				d->name = "?";
				d->name_done = true;
				continue;
			}
			d->name_busy = true;
			stack[depth++] = d;
			pushed = true;
			break;
		}
		if (pushed)
			continue;
		t->name = compose(t);
		t->name_done = true;
		t->name_busy = false;
		depth--;
	}
	return root->name;
}

/* ---------------------------------------------------------- accessors */

enum mp_type_kind mp_type_kind(const mp_type *t) { return t ? t->kind : MP_TYPE_INVALID; }
const mp_module *mp_type_module(const mp_type *t) { return t ? t->mod->module : NULL; }
uint64_t mp_type_die_offset(const mp_type *t) { return t ? t->offset : 0; }
const char *mp_type_error(const mp_type *t) { return t ? t->error : "no type"; }
unsigned mp_type_encoding(const mp_type *t) { return t ? t->encoding : 0; }

#define CHILD_ACCESSORS(count_fn, item_fn, item_type, array, count)          \
	size_t count_fn(const mp_type *t)                                    \
	{                                                                    \
		if (!t)                                                      \
			return 0;                                            \
		load_children((mp_type *)t);                                 \
		return t->count;                                             \
	}                                                                    \
	const item_type *item_fn(const mp_type *t, size_t index)             \
	{                                                                    \
		if (!t)                                                      \
			return NULL;                                         \
		load_children((mp_type *)t);                                 \
		return index < t->count ? &t->array[index] : NULL;           \
	}

CHILD_ACCESSORS(mp_type_member_count, mp_type_member_at, mp_type_member, members, n_members)
CHILD_ACCESSORS(mp_type_enumerator_count, mp_type_enumerator_at, mp_type_enumerator, enumerators, n_enumerators)
CHILD_ACCESSORS(mp_type_template_param_count, mp_type_template_param_at, mp_type_template_param, tparams, n_tparams)
CHILD_ACCESSORS(mp_type_variant_count, mp_type_variant_at, mp_type_variant, variants, n_variants)

size_t mp_type_array_dimension_count(const mp_type *t)
{
	if (!t || t->kind != MP_TYPE_ARRAY)
		return 0;
	load_children((mp_type *)t);
	return t->n_dims;
}

uint64_t mp_type_array_dimension(const mp_type *t, size_t index)
{
	if (!t || t->kind != MP_TYPE_ARRAY)
		return 0;
	load_children((mp_type *)t);
	return index < t->n_dims ? t->dims[index] : 0;
}

bool mp_type_array_flexible(const mp_type *t)
{
	if (!t || t->kind != MP_TYPE_ARRAY)
		return false;
	load_children((mp_type *)t);
	return t->flexible;
}

size_t mp_type_param_count(const mp_type *t)
{
	if (!t)
		return 0;
	load_children((mp_type *)t);
	return t->n_params;
}

const mp_type *mp_type_param(const mp_type *t, size_t index)
{
	if (!t)
		return NULL;
	load_children((mp_type *)t);
	return index < t->n_params ? t->params[index] : NULL;
}

bool mp_type_variadic(const mp_type *t)
{
	if (!t)
		return false;
	load_children((mp_type *)t);
	return t->variadic;
}

bool mp_type_discriminant(const mp_type *t, uint64_t *offset, uint64_t *size)
{
	if (!t)
		return false;
	load_children((mp_type *)t);
	if (!t->has_discr)
		return false;
	*offset = t->discr_offset;
	*size = t->discr_size;
	return true;
}

const mp_type_variant *mp_type_active_variant(const mp_type *t,
					      const void *object, size_t size)
{
	uint64_t offset, width;
	if (!mp_type_discriminant(t, &offset, &width) || width == 0 || width > 8 ||
	    offset > size || size - offset < width)
		return NULL;
	uint64_t value = 0;
	memcpy(&value, (const char *)object + offset, width); /* little-endian */
	const mp_type_variant *fallback = NULL;
	for (size_t i = 0; i < t->n_variants; i++) {
		const mp_type_variant *v = &t->variants[i];
		if (!v->has_discr_value)
			fallback = v;
		else if (v->discr_value == value)
			return v;
	}
	return fallback;
}

/* ------------------------------------------------------------ lookup */

static char *normalized(const char *name)
{
	char *key = malloc(strlen(name) + 1);
	if (key)
		mp_type_normalize_name(name, key);
	return key;
}

/* Looks key up as written, then with or without a C tag keyword. */
static const entry *lookup_type(dmod *m, const char *key)
{
	const entry *e = name_map_get(&m->types, m->entries, key);
	if (e)
		return e;
	static const char *const keywords[] = { "struct ", "class ", "union ", "enum " };
	for (size_t i = 0; i < 4; i++) {
		size_t n = strlen(keywords[i]);
		if (strncmp(key, keywords[i], n) == 0) {
			e = name_map_get(&m->types, m->entries, key + n);
			if (e)
				return e;
			/* "class foo" in C++ may be a struct in C */
			if (i == 1) {
				char buffer[4096];
				snprintf(buffer, sizeof(buffer), "struct %s", key + n);
				e = name_map_get(&m->types, m->entries, buffer);
				if (e)
					return e;
			}
			return NULL;
		}
	}
	for (size_t i = 0; i < 4; i++) {
		char buffer[4096];
		snprintf(buffer, sizeof(buffer), "%s%s", keywords[i], key);
		e = name_map_get(&m->types, m->entries, buffer);
		if (e)
			return e;
	}
	return NULL;
}

static const mp_type *entry_type(dmod *m, const entry *e)
{
	mp_type *t = (mp_type *)get_type(m, e->offset);
	if (t)
		load_children(t);
	return t;
}

/* Edit distance with a cut-off (small strings, two rows). */
static size_t distance(const char *a, const char *b, size_t limit)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la > 200 || lb > 200)
		return limit + 1;
	if ((la > lb ? la - lb : lb - la) > limit)
		return limit + 1;
	size_t row0[201], row1[201];
	for (size_t j = 0; j <= lb; j++)
		row0[j] = j;
	for (size_t i = 1; i <= la; i++) {
		row1[0] = i;
		size_t best = row1[0];
		for (size_t j = 1; j <= lb; j++) {
			size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
			size_t v = row0[j - 1] + cost;
			if (row0[j] + 1 < v)
				v = row0[j] + 1;
			if (row1[j - 1] + 1 < v)
				v = row1[j - 1] + 1;
			row1[j] = v;
			if (v < best)
				best = v;
		}
		if (best > limit)
			return limit + 1;
		memcpy(row0, row1, (lb + 1) * sizeof(size_t));
	}
	return row0[lb];
}

typedef struct suggestion {
	const char *name;
	size_t score;
} suggestion;

static void suggest_in(dmod *m, const char *key, bool variables,
		       suggestion *best, size_t *n_best)
{
	static const char *const keywords[] = { "struct ", "union ", "enum ", "class " };
	for (size_t k = 0; k < 4; k++)
		if (strncmp(key, keywords[k], strlen(keywords[k])) == 0)
			key += strlen(keywords[k]);
	size_t limit = strlen(key) / 3 + 1;
	for (size_t i = 0; i < m->n_entries; i++) {
		const entry *e = &m->entries[i];
		if (e->variable != variables || !e->display[0] ||
		    (variables && !e->has_address))
			continue;
		char e_key[KEY_BUFFER];
		const char *bare = entry_key(e, e_key);
		for (size_t k = 0; k < 4; k++)
			if (strncmp(bare, keywords[k], strlen(keywords[k])) == 0)
				bare = e_key + strlen(keywords[k]);
		size_t score;
		const char *last = strrchr(e_key, ':');
		if (strstr(e_key, key))
			score = 1;
		else if (last && strcmp(last + 1, key) == 0)
			score = 0;
		else
			score = distance(key, bare, limit) + 1;
		if (score > limit + 1)
			continue;
		bool dup = false;
		for (size_t k = 0; k < *n_best; k++)
			if (strcmp(best[k].name, e->display) == 0)
				dup = true;
		if (dup)
			continue;
		size_t pos = *n_best;
		if (pos == MAX_SUGGESTIONS) {
			if (score >= best[pos - 1].score)
				continue;
			pos--;
		} else {
			(*n_best)++;
		}
		while (pos > 0 && best[pos - 1].score > score) {
			best[pos] = best[pos - 1];
			pos--;
		}
		best[pos].name = e->display;
		best[pos].score = score;
	}
}

/* The modules to search, main program first. */
static size_t search_order(mp_target *t, const mp_module **order, size_t max)
{
	size_t n = 0, count = mp_target_module_count(t);
	for (size_t pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < count && n < max; i++) {
			const mp_module *mod = mp_target_module(t, i);
			if (mp_module_is_main(mod) == (pass == 0))
				order[n++] = mod;
		}
	return n;
}

static mp_error *not_found(mp_target *t, const char *what, const char *name,
			   const char *key, bool variables,
			   const mp_module *only)
{
	suggestion best[MAX_SUGGESTIONS];
	size_t n_best = 0;
	strbuf problems = { 0 };
	size_t n_modules = 0;
	for (size_t i = 0; i < mp_target_module_count(t); i++) {
		const mp_module *mod = mp_target_module(t, i);
		if (only && mod != only)
			continue;
		mp_error *e = NULL;
		dmod *m = module_state(t, mod, &e);
		if (e) {
			mp_error_free(e);
			continue;
		}
		if (m->indexed) {
			n_modules++;
			suggest_in(m, key, variables, best, &n_best);
		} else if (m->error && (mp_module_is_main(mod) || only ||
					m->error_code != MP_ERR_NOT_FOUND ||
					strstr(m->error, "libc6-dbg"))) {
			/* Missing debug info matters for the program and
			 * libc; other libraries without it are common. */
			sb_add(&problems, "\n  ");
			sb_add(&problems, m->error);
		}
	}
	strbuf text = { 0 };
	sb_add(&text, "");
	if (n_best) {
		sb_add(&text, "; did you mean: ");
		for (size_t i = 0; i < n_best; i++) {
			if (i)
				sb_add(&text, ", ");
			sb_add(&text, best[i].name);
		}
	}
	char count[64];
	snprintf(count, sizeof(count), " (searched %zu module%s with debug info)",
		 n_modules, n_modules == 1 ? "" : "s");
	mp_error *e = mp_error_new(MP_ERR_NOT_FOUND, "no %s named '%s'%s%s%s", what,
				   name, count, text.data ? text.data : "",
				   problems.data ? problems.data : "");
	free(text.data);
	free(problems.data);
	return e;
}

/* module's state with its name index built; *out is NULL when the module
 * has no usable debug info (the index says why elsewhere). */
static mp_error *indexed_module(mp_target *t, const mp_module *module, dmod **out)
{
	mp_error *e = NULL;
	dmod *m = module_state(t, module, &e);
	*out = NULL;
	if (e)
		return e;
	ensure_indexed(m);
	if (m->indexed)
		*out = m;
	return NULL;
}

static mp_error *find_type(mp_target *t, const mp_module *only, const char *name,
			   const mp_type **out)
{
	*out = NULL;
	char *key = normalized(name);
	if (!key)
		return mp_error_nomem();
	const mp_module *order[4096];
	size_t n = only ? 1 : search_order(t, order, 4096);
	if (only)
		order[0] = only;
	for (size_t i = 0; i < n; i++) {
		dmod *m;
		mp_error *e = indexed_module(t, order[i], &m);
		if (e) {
			free(key);
			return e;
		}
		if (!m)
			continue;
		const entry *found = lookup_type(m, key);
		if (found) {
			*out = entry_type(m, found);
			free(key);
			return *out ? NULL : mp_error_nomem();
		}
	}
	if (only) {
		mp_error *e = NULL;
		dmod *m = module_state(t, only, &e);
		if (!e && !m->indexed && m->error) {
			free(key);
			return mp_error_new(m->error_code, "%s", m->error);
		}
		mp_error_free(e);
	}
	mp_error *e = not_found(t, "type", name, key, false, only);
	free(key);
	return e;
}

mp_error *mp_type_find(mp_target *t, const char *name, const mp_type **out)
{
	return find_type(t, NULL, name, out);
}

mp_error *mp_type_find_in_module(mp_target *t, const mp_module *module,
				 const char *name, const mp_type **out)
{
	return find_type(t, module, name, out);
}

mp_error *mp_type_index_module(mp_target *t, const mp_module *module)
{
	mp_error *e = NULL;
	dmod *m = module_state(t, module, &e);
	if (e)
		return e;
	ensure_indexed(m);
	if (!m->indexed)
		return mp_error_new(m->error_code ? m->error_code : MP_ERR_FORMAT, "%s",
				    m->error ? m->error : "no debug info");
	return NULL;
}

mp_error *mp_type_module_dwarf(mp_target *t, const mp_module *module, mp_dw **out)
{
	*out = NULL;
	mp_error *e = mp_type_index_module(t, module);
	if (e)
		return e;
	dmod *m = module_state(t, module, &e);
	if (!e)
		*out = m->dw;
	return e;
}

mp_error *mp_type_at_offset(mp_target *t, const mp_module *module, uint64_t offset,
			    const mp_type **out)
{
	*out = NULL;
	mp_error *e = mp_type_index_module(t, module);
	if (e)
		return e;
	dmod *m = module_state(t, module, &e);
	if (e)
		return e;
	const mp_type *type = get_type(m, offset);
	if (!type)
		return mp_error_nomem();
	if (type->kind == MP_TYPE_INVALID)
		return mp_error_new(MP_ERR_FORMAT, "%s", type->error ? type->error
							   : "not a type");
	*out = type;
	return NULL;
}

bool mp_type_index_stats(mp_target *t, const mp_module *module,
			 uint64_t *info_bytes, double *seconds, size_t *n_names)
{
	mp_error *e = NULL;
	dmod *m = module_state(t, module, &e);
	if (e) {
		mp_error_free(e);
		return false;
	}
	if (!m->indexed)
		return false;
	*info_bytes = m->info_bytes;
	*seconds = m->index_seconds;
	*n_names = m->n_entries;
	return true;
}

/* A variable entry of module as an mp_variable: its type from the entry, or
 * from the declaration a definition specifies. */
static mp_error *variable_of(dmod *m, const mp_module *module, const entry *v,
			     mp_variable *out)
{
	uint64_t type = v->type;
	if (!type && v->specification) {
		mp_dw_die spec;
		mp_error *e = mp_dw_read(m->dw, v->specification, &spec);
		if (e)
			return e;
		type = spec.type;
	}
	out->name = v->display;
	out->address = v->address + mp_module_load_bias(module);
	out->type = get_type(m, type);
	out->module = module;
	return out->type ? NULL : mp_error_nomem();
}

mp_error *mp_type_find_variable(mp_target *t, const char *name, mp_variable *out)
{
	memset(out, 0, sizeof(*out));
	char *key = normalized(name);
	if (!key)
		return mp_error_nomem();
	const mp_module *order[4096];
	size_t n = search_order(t, order, 4096);
	for (size_t i = 0; i < n; i++) {
		dmod *m;
		mp_error *e = indexed_module(t, order[i], &m);
		if (e) {
			free(key);
			return e;
		}
		if (!m)
			continue;
		const entry *v = name_map_get(&m->variables, m->entries, key);
		if (!v || !v->has_address)
			continue;
		e = variable_of(m, order[i], v, out);
		free(key);
		return e;
	}
	mp_error *e = not_found(t, "variable", name, key, true, NULL);
	free(key);
	return e;
}

mp_error *mp_type_list_variables(mp_target *t, const mp_module *only,
				 bool (*visit)(void *context, const mp_variable *variable),
				 void *context)
{
	const mp_module *order[4096];
	size_t n = only ? 1 : search_order(t, order, 4096);
	if (only)
		order[0] = only;
	for (size_t i = 0; i < n; i++) {
		dmod *m;
		mp_error *e = indexed_module(t, order[i], &m);
		if (e)
			return e;
		if (!m)
			continue;
		for (size_t k = 0; k < m->n_entries; k++) {
			const entry *v = &m->entries[k];
			if (!v->variable || !v->has_address ||
			    name_map_get_same(&m->variables, m->entries, v) != v)
				continue;
			mp_variable var;
			e = variable_of(m, order[i], v, &var);
			if (e && mp_error_code(e) == MP_ERR_NOMEM)
				return e;
			mp_error_free(e);
			if (!e && !visit(context, &var))
				return NULL;
		}
	}
	return NULL;
}

mp_error *mp_type_list(mp_target *t, const char *pattern,
		       bool (*visit)(void *context, const char *name,
				     const mp_type *type),
		       void *context)
{
	return mp_type_list_in_module(t, NULL, pattern, visit, context);
}

mp_error *mp_type_list_in_module(mp_target *t, const mp_module *only,
				 const char *pattern,
				 bool (*visit)(void *context, const char *name,
					       const mp_type *type),
				 void *context)
{
	bool glob = pattern && strpbrk(pattern, "*?[");
	char *key = pattern && !glob ? normalized(pattern) : NULL;
	if (pattern && !glob && !key)
		return mp_error_nomem();
	const mp_module *order[4096];
	size_t n = only ? 1 : search_order(t, order, 4096);
	if (only)
		order[0] = only;
	for (size_t i = 0; i < n; i++) {
		dmod *m;
		mp_error *e = indexed_module(t, order[i], &m);
		if (e) {
			free(key);
			return e;
		}
		if (!m)
			continue;
		for (size_t k = 0; k < m->n_entries; k++) {
			const entry *en = &m->entries[k];
			if (en->variable)
				continue;
			/* only the entry the name resolves to */
			if (name_map_get_same(&m->types, m->entries, en) != en)
				continue;
			char en_key[KEY_BUFFER];
			if (glob ? fnmatch(pattern, en->display, 0) != 0 :
			    key && !strstr(entry_key(en, en_key), key))
				continue;
			const mp_type *ty = get_type(m, en->offset);
			if (ty && !visit(context, en->display, ty)) {
				free(key);
				return NULL;
			}
		}
	}
	free(key);
	return NULL;
}
