/* Which allocator serves malloc in a target.
 *
 * memprof reads glibc's malloc heap.  A program whose malloc is jemalloc,
 * tcmalloc or mimalloc has a glibc heap too, nearly empty (libc's own
 * early blocks), and walking it gives a confident wrong answer: no blocks
 * in use, nothing lost.  So before any heap is read, the allocator is
 * identified and every heap answer refused when it is not glibc.
 *
 * The allocator is the module the program's calls to malloc bind to.  The
 * dynamic linker searches the executable first, then the objects of the
 * initial link map in load order (LD_PRELOAD'ed libraries come right after
 * the executable, then DT_NEEDED ones breadth first); target->modules is
 * in that order when it came from r_debug.  The first module that defines
 * malloc wins: for the executable either symbol table counts (a static
 * program, or a malloc linked into it from libjemalloc.a, serves its own
 * calls, hidden or not), for libraries only the global and weak
 * definitions of .dynsym (what the dynamic linker can bind to).
 * Modules whose file is not at hand are judged by name alone.
 *
 * Versions come from what each allocator leaves in its read-only data:
 * glibc's "release version 2.36" banner, jemalloc's JEMALLOC_VERSION
 * ("5.3.0-0-g<sha1>"), gperftools' "gperftools 2.10"; mimalloc keeps its
 * version only as code (mi_version() returns 209 for 2.0.9), so the
 * immediate of that function's `mov eax, imm32; ret` is read.
 */
#include <elf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "heap_internal.h"
#include "target/target_internal.h"

enum { MAX_SCANNED_MAPPING = 64 << 20 };

static const char *const kind_names[] = {
	[MP_ALLOCATOR_UNDETERMINED] = "undetermined",
	[MP_ALLOCATOR_GLIBC] = "glibc",
	[MP_ALLOCATOR_JEMALLOC] = "jemalloc",
	[MP_ALLOCATOR_TCMALLOC] = "tcmalloc",
	[MP_ALLOCATOR_MIMALLOC] = "mimalloc",
	[MP_ALLOCATOR_UNKNOWN] = "unknown",
};

static const char *base_name(const char *path)
{
	const char *slash = strrchr(path, '/');
	return slash ? slash + 1 : path;
}

static bool named(const mp_module *m, const char *prefix)
{
	return strncmp(base_name(m->name), prefix, strlen(prefix)) == 0;
}

/* The allocator a library's file name announces, or UNDETERMINED. */
static enum mp_allocator_kind kind_by_name(const mp_module *m)
{
	if (named(m, "libjemalloc"))
		return MP_ALLOCATOR_JEMALLOC;
	if (named(m, "libtcmalloc"))
		return MP_ALLOCATOR_TCMALLOC;
	if (named(m, "libmimalloc"))
		return MP_ALLOCATOR_MIMALLOC;
	if (named(m, "libc.so") || named(m, "libc-2."))
		return MP_ALLOCATOR_GLIBC;
	return MP_ALLOCATOR_UNDETERMINED;
}

static bool defines(const mp_module *m, const char *name)
{
	uint64_t value, size;
	if (!m->elf)
		return false;
	/* The executable's own calls were bound when it was linked, hidden
	 * symbols included (a static glibc's malloc is hidden). */
	if (m->is_main)
		return mp_elf_find_symbol(m->elf, name, &value, &size);
	return mp_elf_find_exported_symbol(m->elf, SHT_DYNSYM, name, &value, &size);
}

static bool defines_any(const mp_module *m, const char *const *names)
{
	for (; *names; names++)
		if (defines(m, *names))
			return true;
	return false;
}

/* What a module that defines malloc is.  Each allocator's own entry points
 * identify it whatever its file is called (a static link, a renamed copy);
 * jemalloc built with a prefix ("je_") exports prefixed names. */
static enum mp_allocator_kind classify(const mp_module *m)
{
	static const char *const jemalloc[] = {
		"mallctl", "je_mallctl", "mallocx", "je_mallocx", "je_malloc_conf", NULL,
	};
	static const char *const tcmalloc[] = {
		"tc_malloc", "tc_version", "MallocExtension_GetAllocatedSize", NULL,
	};
	static const char *const mimalloc[] = { "mi_malloc", "mi_version", NULL };
	static const char *const glibc[] = { "__libc_malloc", NULL };
	enum mp_allocator_kind by_name = kind_by_name(m);
	if (by_name != MP_ALLOCATOR_UNDETERMINED && by_name != MP_ALLOCATOR_GLIBC)
		return by_name;
	if (defines_any(m, jemalloc))
		return MP_ALLOCATOR_JEMALLOC;
	if (defines_any(m, tcmalloc))
		return MP_ALLOCATOR_TCMALLOC;
	if (defines_any(m, mimalloc))
		return MP_ALLOCATOR_MIMALLOC;
	if (by_name == MP_ALLOCATOR_GLIBC || defines_any(m, glibc))
		return MP_ALLOCATOR_GLIBC;
	return MP_ALLOCATOR_UNKNOWN;
}

/* ------------------------------------------------------------ versions */

/* Looks for a version in bytes; writes it to out (size bytes) on success. */
typedef bool (*version_matcher)(const char *bytes, size_t length, char *out,
				size_t size);

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

static bool is_hex(char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'f');
}

/* Copies the run of digits and dots at p (at most limit bytes) to out. */
static size_t copy_dotted(const char *p, const char *limit, char *out, size_t size)
{
	size_t n = 0;
	while (p + n < limit && (is_digit(p[n]) || p[n] == '.') && n + 1 < size)
		n++;
	while (n > 0 && p[n - 1] == '.')
		n--;
	memcpy(out, p, n);
	out[n] = '\0';
	return n;
}

static bool glibc_version(const char *bytes, size_t length, char *out, size_t size)
{
	static const char needle[] = "release version ";
	const char *at = memmem(bytes, length, needle, sizeof(needle) - 1);
	if (!at)
		return false;
	at += sizeof(needle) - 1;
	return copy_dotted(at, bytes + length, out, size) >= 3 && strchr(out, '.');
}

/* JEMALLOC_VERSION is "<major>.<minor>.<bugfix>-<commits>-g<sha1>", a
 * string of its own in .rodata: found by its "-g<hex>" tail, checked back
 * to the NUL that starts it. */
static bool jemalloc_version(const char *bytes, size_t length, char *out, size_t size)
{
	const char *end = bytes + length;
	for (const char *p = bytes; p < end;) {
		const char *g = memmem(p, (size_t)(end - p), "-g", 2);
		if (!g)
			return false;
		p = g + 2;
		size_t hex = 0;
		while (g + 2 + hex < end && is_hex(g[2 + hex]))
			hex++;
		if (hex < 7 || g + 2 + hex >= end || g[2 + hex] != '\0')
			continue;
		const char *q = g;
		while (q > bytes && is_digit(q[-1]))      /* commits since the tag */
			q--;
		if (q == g || q == bytes || q[-1] != '-')
			continue;
		const char *dash = q - 1, *start = dash;
		int dots = 0;
		while (start > bytes && (is_digit(start[-1]) || start[-1] == '.')) {
			dots += start[-1] == '.';
			start--;
		}
		if (dots != 2 || start == dash || (start > bytes && start[-1] != '\0') ||
		    !is_digit(start[0]))
			continue;
		size_t n = (size_t)(dash - start);
		if (n + 1 > size)
			continue;
		memcpy(out, start, n);
		out[n] = '\0';
		return true;
	}
	return false;
}

static bool gperftools_version(const char *bytes, size_t length, char *out, size_t size)
{
	static const char needle[] = "gperftools ";
	const char *end = bytes + length;
	for (const char *p = bytes; p < end;) {
		const char *at = memmem(p, (size_t)(end - p), needle, sizeof(needle) - 1);
		if (!at)
			return false;
		p = at + sizeof(needle) - 1;
		if (p < end && is_digit(*p) && copy_dotted(p, end, out, size) >= 3 &&
		    strchr(out, '.'))
			return true;
	}
	return false;
}

/* Searches the module's .rodata on disk, else its read-only mappings in
 * the target (a core may travel without the library file). */
static bool search_module(mp_target *t, const mp_module *m, version_matcher match,
			  char *out, size_t size)
{
	if (m->elf) {
		const Elf64_Shdr *rodata = mp_elf_section(m->elf, ".rodata");
		const char *bytes = rodata ? mp_elf_bytes(m->elf, rodata->sh_offset,
							  rodata->sh_size) : NULL;
		if (bytes && match(bytes, rodata->sh_size, out, size))
			return true;
	}
	for (size_t i = 0; i < t->n_mappings; i++) {
		const mp_mapping *map = &t->mappings[i];
		if (map->start < m->start || map->end > m->end ||
		    (map->perms & MP_PERM_WRITE) ||
		    map->end - map->start > MAX_SCANNED_MAPPING)
			continue;
		char *bytes = malloc(map->end - map->start);
		if (!bytes)
			return false;
		mp_error *err = mp_target_read(t, map->start, bytes, map->end - map->start);
		bool found = !err && match(bytes, map->end - map->start, out, size);
		mp_error_free(err);
		free(bytes);
		if (found)
			return true;
	}
	return false;
}

/* mimalloc's MI_MALLOC_VERSION (209 for 2.0.9) lives only in the code of
 * mi_version(): `mov $imm32, %eax; ret`, maybe after an endbr64. */
static bool mimalloc_version(mp_target *t, const mp_module *m, char *out, size_t size)
{
	uint64_t value, symbol_size;
	if (!m->elf || !mp_elf_find_exported_symbol(m->elf, SHT_DYNSYM, "mi_version",
						    &value, &symbol_size))
		return false;
	uint8_t code[10];
	mp_error *err = mp_target_read(t, m->load_bias + value, code, sizeof(code));
	if (err) {
		mp_error_free(err);
		return false;
	}
	static const uint8_t endbr64[4] = {0xf3, 0x0f, 0x1e, 0xfa};
	const uint8_t *p = memcmp(code, endbr64, 4) == 0 ? code + 4 : code;
	if (p[0] != 0xb8 || p[5] != 0xc3)
		return false;
	uint32_t v = (uint32_t)p[1] | (uint32_t)p[2] << 8 | (uint32_t)p[3] << 16 |
		     (uint32_t)p[4] << 24;
	if (v == 0 || v > 9999)
		return false;
	snprintf(out, size, "%u.%u.%u", v / 100, v / 10 % 10, v % 10);
	return true;
}

static void find_version(mp_target *t, const mp_module *m, enum mp_allocator_kind kind,
			 char *out, size_t size)
{
	out[0] = '\0';
	bool found = false;
	switch (kind) {
	case MP_ALLOCATOR_GLIBC:
		found = search_module(t, m, glibc_version, out, size);
		break;
	case MP_ALLOCATOR_JEMALLOC:
		found = search_module(t, m, jemalloc_version, out, size);
		break;
	case MP_ALLOCATOR_TCMALLOC:
		found = search_module(t, m, gperftools_version, out, size);
		break;
	case MP_ALLOCATOR_MIMALLOC:
		found = mimalloc_version(t, m, out, size);
		/* The soname's major is all that is left ("libmimalloc.so.2"). */
		if (!found && named(m, "libmimalloc.so.") && is_digit(base_name(m->name)[15])) {
			snprintf(out, size, "%c.x", base_name(m->name)[15]);
			found = true;
		}
		break;
	default:
		break;
	}
	if (!found)
		out[0] = '\0';
}

/* ------------------------------------------------------------- detect */

/* A static program carries its allocator with it; stripped of symbols it
 * still carries each allocator's own strings. */
static enum mp_allocator_kind classify_by_strings(mp_target *t, const mp_module *m)
{
	char scratch[64];
	if (search_module(t, m, jemalloc_version, scratch, sizeof(scratch)))
		return MP_ALLOCATOR_JEMALLOC;
	if (search_module(t, m, gperftools_version, scratch, sizeof(scratch)))
		return MP_ALLOCATOR_TCMALLOC;
	return MP_ALLOCATOR_UNDETERMINED;
}

static const mp_module *serving_module(mp_target *t, enum mp_allocator_kind *kind)
{
	const mp_module *main_module = NULL;
	for (size_t i = 0; i < t->n_modules; i++) {
		const mp_module *m = t->modules[i];
		if (m->is_main)
			main_module = m;
		if (strcmp(m->name, "[vdso]") == 0)
			continue;
		/* Without its file a module is judged by name: an allocator's
		 * library is only loaded to serve malloc. */
		bool serves = m->elf ? defines(m, "malloc")
				     : kind_by_name(m) != MP_ALLOCATOR_UNDETERMINED;
		if (serves) {
			*kind = classify(m);
			/* A stripped executable with an allocator linked in
			 * exports malloc but none of its entry points: its
			 * strings still say which. */
			if (*kind == MP_ALLOCATOR_UNKNOWN && m->is_main) {
				enum mp_allocator_kind by_strings = classify_by_strings(t, m);
				if (by_strings != MP_ALLOCATOR_UNDETERMINED)
					*kind = by_strings;
			}
			return m;
		}
	}
	if (main_module && !main_module->elf) {
		*kind = MP_ALLOCATOR_UNDETERMINED;
		return NULL;
	}
	if (main_module) {
		*kind = classify_by_strings(t, main_module);
		if (*kind != MP_ALLOCATOR_UNDETERMINED)
			return main_module;
	}
	*kind = MP_ALLOCATOR_UNDETERMINED;
	return NULL;
}

const mp_allocator *mp_target_allocator(mp_target *t)
{
	if (t->allocator_known)
		return &t->allocator;
	enum mp_allocator_kind kind = MP_ALLOCATOR_UNDETERMINED;
	const mp_module *m = serving_module(t, &kind);
	char version[64] = "";
	if (m)
		find_version(t, m, kind, version, sizeof(version));
	mp_allocator a = {
		.kind = kind,
		.name = kind_names[kind],
		.version = mp_target_intern(t, version),
		.module = m ? m->name : "",
		/* Undetermined: the glibc walk tries, and says itself when
		 * it finds no glibc heap. */
		.readable = kind == MP_ALLOCATOR_UNDETERMINED || heap_backend_for(kind) != NULL,
	};
	if (!a.version)
		a.version = "";
	/* Before mp_target_finish there are no modules to ask: nothing is
	 * kept, the next question after it detects for real. */
	if (!t->finished) {
		static const mp_allocator none = {
			.kind = MP_ALLOCATOR_UNDETERMINED, .name = "undetermined",
			.version = "", .module = "", .readable = true,
		};
		return &none;
	}
	t->allocator = a;
	t->allocator_known = true;
	return &t->allocator;
}

mp_error *mp_allocator_check(mp_target *t)
{
	const mp_allocator *a = mp_target_allocator(t);
	if (a->readable)
		return NULL;
	if (a->kind == MP_ALLOCATOR_UNKNOWN)
		return mp_error_new(MP_ERR_ALLOCATOR,
				    "malloc served by %s (unknown allocator): memprof reads glibc, jemalloc, tcmalloc and mimalloc heaps; no heap answers given",
				    base_name(a->module));
	return mp_error_new(MP_ERR_ALLOCATOR,
			    "%s%s%s detected (%s): memprof reads glibc, jemalloc, tcmalloc and mimalloc heaps; no heap answers given",
			    a->name, a->version[0] ? " " : "", a->version,
			    base_name(a->module));
}

void heap_set_allocator(mp_heap *h, const mp_allocator *a)
{
	h->allocator_kind = a->kind;
	snprintf(h->allocator_version, sizeof(h->allocator_version), "%s", a->version);
	free(h->allocator_module);
	h->allocator_module = strdup(a->module);
	/* A snapshot loaded from a file types blocks by its allocator's size
	 * classes, as the heap it was taken from did. */
	const heap_backend *backend = heap_backend_for(a->kind);
	if (backend && !h->usable_for_request)
		h->usable_for_request = backend->usable_for_request;
}

mp_allocator mp_heap_allocator(const mp_heap *h)
{
	mp_allocator a = {
		.kind = h->allocator_kind,
		.name = kind_names[h->allocator_kind],
		.version = h->allocator_version,
		.module = h->allocator_module ? h->allocator_module : "",
		.readable = true,
	};
	/* Snapshots from before the allocator section were only ever taken
	 * of glibc heaps and keep just the backend string ("glibc 2.36"). */
	if (a.kind == MP_ALLOCATOR_UNDETERMINED && h->backend &&
	    strncmp(h->backend, "glibc ", 6) == 0) {
		a.kind = MP_ALLOCATOR_GLIBC;
		a.name = kind_names[MP_ALLOCATOR_GLIBC];
		a.version = h->backend + 6;
	}
	return a;
}
