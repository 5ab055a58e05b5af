/* Which allocator serves malloc in a target.
 *
 * A program whose malloc is jemalloc, tcmalloc or mimalloc has a glibc
 * heap too, nearly empty (libc's own early blocks), and walking it gives a
 * confident wrong answer: no blocks in use, nothing lost.  So before any
 * heap is read, the allocator is identified, its backend's walk is the one
 * used, and every heap answer is refused when no backend reads it.
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
 * What tells each allocator (library names, entry points, a version
 * finder) is its entry of the backend table (backends.c).  Versions come
 * from what each allocator leaves in its read-only data:
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

static bool named_any(const mp_module *m, const char *const *prefixes)
{
	for (; *prefixes; prefixes++)
		if (named(m, *prefixes))
			return true;
	return false;
}

/* The allocator a library's file name announces, or UNDETERMINED. */
static enum mp_allocator_kind kind_by_name(const mp_module *m)
{
	for (size_t i = 0; i < heap_backend_count(); i++) {
		const heap_backend *b = heap_backend_at(i);
		if (named_any(m, b->detect.library_names))
			return b->kind;
	}
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
 * identify it whatever its file is called; a name says so first, except
 * the name of an allocator whose entry points are found underneath others
 * (libc.so), which goes last like its entry points. */
static enum mp_allocator_kind classify(const mp_module *m)
{
	enum mp_allocator_kind by_name = kind_by_name(m);
	const heap_backend *named_backend = heap_backend_for(by_name);
	if (named_backend && !named_backend->detect.underneath)
		return by_name;
	for (int underneath = 0; underneath < 2; underneath++)
		for (size_t i = 0; i < heap_backend_count(); i++) {
			const heap_backend *b = heap_backend_at(i);
			if (b->detect.underneath != (underneath == 1))
				continue;
			if (b->kind == by_name || defines_any(m, b->detect.entry_points))
				return b->kind;
		}
	return MP_ALLOCATOR_UNKNOWN;
}

/* ------------------------------------------------------------ versions */

bool heap_is_digit(char c) { return c >= '0' && c <= '9'; }

size_t heap_copy_dotted(const char *p, const char *limit, char *out, size_t size)
{
	size_t n = 0;
	while (p + n < limit && (heap_is_digit(p[n]) || p[n] == '.') && n + 1 < size)
		n++;
	while (n > 0 && p[n - 1] == '.')
		n--;
	memcpy(out, p, n);
	out[n] = '\0';
	return n;
}

bool heap_search_module(mp_target *t, const mp_module *m, heap_version_matcher match,
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

/* The module's version as its backend's finder reads it, else "". */
static void find_version(mp_target *t, const mp_module *m, enum mp_allocator_kind kind,
			 char *out, size_t size)
{
	const heap_backend *b = heap_backend_for(kind);
	if (!b || !b->detect.version(t, m, out, size))
		out[0] = '\0';
}

/* ------------------------------------------------------------- detect */

/* A static program carries its allocator with it; stripped of symbols it
 * still carries each allocator's own strings. */
static enum mp_allocator_kind classify_by_strings(mp_target *t, const mp_module *m)
{
	char scratch[64];
	for (size_t i = 0; i < heap_backend_count(); i++) {
		const heap_backend *b = heap_backend_at(i);
		if (b->detect.version_identifies && b->detect.version(t, m, scratch, sizeof(scratch)))
			return b->kind;
	}
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
