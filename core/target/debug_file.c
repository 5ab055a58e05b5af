/* Where a module's DWARF lives, in the order GDB looks:
 *   1. the file itself, when it has .debug_info;
 *   2. DIR/.build-id/xx/yyyy.debug for each --debug-dir, then the sysroot's
 *      /usr/lib/debug (Debian's -dbg packages install there);
 *   3. .gnu_debuglink: next to the file, in its .debug/ folder, or under a
 *      debug root followed by the file's folder; accepted only when the CRC
 *      matches, so a stale debug file is never used;
 *   4. a debuginfod server, by build id (debuginfod.c): the network last.
 */
#include <stdlib.h>
#include <string.h>

#include "elf/elf_file.h"
#include "elf/notes.h"
#include "error.h"
#include "target_internal.h"

static bool debug_file_usable(const char *path, const char *want_build_id,
			      uint32_t want_crc, bool check_crc)
{
	mp_elf *elf = NULL;
	mp_error *err = mp_elf_open(path, &elf);
	if (err) {
		mp_error_free(err);
		return false;
	}
	bool ok = mp_elf_has_debug_info(elf);
	if (ok && want_build_id && want_build_id[0]) {
		const uint8_t *id;
		size_t size;
		char hex[2 * 64 + 1] = "";
		if (mp_elf_build_id(elf, &id, &size) && size <= 64)
			mp_hex_encode(id, size, hex);
		ok = strcmp(hex, want_build_id) == 0;
	}
	if (ok && check_crc) {
		/* The CRC covers the whole file as it is on disk. */
		const void *bytes = mp_elf_bytes(elf, 0, mp_elf_size(elf));
		ok = bytes && mp_crc32(0, bytes, mp_elf_size(elf)) == want_crc;
	}
	mp_elf_close(elf);
	return ok;
}

static bool try_path(mp_target *t, mp_module *m, char *path, const char *source,
		     const char *build_id, uint32_t crc, bool check_crc)
{
	bool found = path && debug_file_usable(path, build_id, crc, check_crc);
	if (found) {
		m->debug_file = mp_target_intern(t, path);
		m->debug_source = m->debug_file ? source : "none";
		found = m->debug_file != NULL;
	}
	free(path);
	return found;
}

/* Calls visit(root) for each debug root: --debug-dir entries, then the
 * system one; stops when it returns true. */
static bool for_each_debug_root(mp_target *t, mp_module *m,
				bool (*visit)(mp_target *, mp_module *,
					      const char *root, void *),
				void *context)
{
	for (size_t i = 0; i < t->n_debug_dirs; i++)
		if (visit(t, m, t->debug_dirs[i], context))
			return true;
	char *system_root = mp_target_host_path(t, "/usr/lib/debug");
	bool found = system_root && visit(t, m, system_root, context);
	free(system_root);
	return found;
}

static bool visit_build_id(mp_target *t, mp_module *m, const char *root,
			   void *context)
{
	(void)context;
	char *path = NULL;
	if (asprintf(&path, "%s/.build-id/%.2s/%s.debug", root, m->build_id,
		     m->build_id + 2) < 0)
		path = NULL;
	return try_path(t, m, path, "build-id", m->build_id, 0, false);
}

typedef struct debuglink {
	const char *name;
	uint32_t crc;
	char *dir;          /* folder of the module's file, as the target names it */
	char *host_dir;     /* the same folder on the host */
} debuglink;

static bool visit_debuglink_root(mp_target *t, mp_module *m, const char *root,
				 void *context)
{
	const debuglink *link = context;
	char *path = NULL;
	if (asprintf(&path, "%s%s/%s", root, link->dir, link->name) < 0)
		path = NULL;
	return try_path(t, m, path, "debuglink", NULL, link->crc, true);
}

static char *folder_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	return slash ? strndup(path, (size_t)(slash - path)) : strdup(".");
}

static bool find_by_debuglink(mp_target *t, mp_module *m)
{
	debuglink link;
	link.name = mp_elf_debuglink(m->elf, &link.crc);
	if (!link.name || strchr(link.name, '/'))
		return false;
	link.host_dir = folder_of(m->file);
	link.dir = folder_of(m->name);
	bool found = false;
	if (link.host_dir && link.dir) {
		char *path = NULL;
		if (asprintf(&path, "%s/%s", link.host_dir, link.name) < 0)
			path = NULL;
		found = try_path(t, m, path, "debuglink", NULL, link.crc, true);
		if (!found) {
			if (asprintf(&path, "%s/.debug/%s", link.host_dir, link.name) < 0)
				path = NULL;
			found = try_path(t, m, path, "debuglink", NULL, link.crc, true);
		}
		if (!found)
			found = for_each_debug_root(t, m, visit_debuglink_root, &link);
	}
	free(link.host_dir);
	free(link.dir);
	return found;
}

void mp_debug_file_find(mp_target *t, mp_module *m)
{
	m->debug_file = NULL;
	m->debug_source = "none";
	if (m->elf && mp_elf_has_debug_info(m->elf)) {
		m->debug_file = m->file;
		m->debug_source = "self";
		return;
	}
	if (strlen(m->build_id) > 2 &&
	    for_each_debug_root(t, m, visit_build_id, NULL))
		return;
	if (m->elf && find_by_debuglink(t, m))
		return;
	if (strlen(m->build_id) > 2)
		try_path(t, m, mp_debuginfod_find(t, m->build_id, m->name), "debuginfod",
			 m->build_id, 0, false);
}

/* ------------------------------------------------ dwz supplementary file */

/* A dwz'd debug file keeps the DIEs and strings it shares with other
 * files in one supplementary file named by .gnu_debugaltlink (a path,
 * absolute or relative to the debug file's folder, and that file's build
 * id).  Debian and Fedora install it under /usr/lib/debug/.dwz/ and link
 * it as .build-id/xx/yyyy.debug; the path stored at build time often
 * names the build machine's tree, so the build id decides. */
typedef struct alt_search {
	const char *build_id;   /* hex */
	const char *base;       /* file name part of the stored path */
	char *found;
} alt_search;

static bool alt_candidate(alt_search *s, char *path)
{
	if (path && !s->found && debug_file_usable(path, s->build_id, 0, false)) {
		s->found = path;
		return true;
	}
	free(path);
	return false;
}

static bool visit_alt_root(mp_target *t, mp_module *m, const char *root, void *context)
{
	(void)t;
	(void)m;
	alt_search *s = context;
	char *path = NULL;
	if (asprintf(&path, "%s/.build-id/%.2s/%s.debug", root, s->build_id,
		     s->build_id + 2) < 0)
		path = NULL;
	if (alt_candidate(s, path))
		return true;
	if (asprintf(&path, "%s/.dwz/%s", root, s->base) < 0)
		path = NULL;
	return alt_candidate(s, path);
}

mp_error *mp_debug_alt_file_find(mp_target *t, const char *debug_file, char **out)
{
	*out = NULL;
	mp_elf *elf = NULL;
	mp_error *e = mp_elf_open(debug_file, &elf);
	if (e)
		return e;
	const uint8_t *id;
	size_t id_size;
	const char *name = mp_elf_debugaltlink(elf, &id, &id_size);
	if (!name || id_size < 2 || id_size > 64) {
		mp_elf_close(elf);
		return NULL;
	}
	char hex[2 * 64 + 1];
	mp_hex_encode(id, id_size, hex);
	const char *slash = strrchr(name, '/');
	alt_search s = {.build_id = hex, .base = slash ? slash + 1 : name, .found = NULL};
	char *path = NULL;
	if (name[0] == '/') {
		alt_candidate(&s, mp_target_host_path(t, name));
	} else {
		char *folder = folder_of(debug_file);
		if (folder && asprintf(&path, "%s/%s", folder, name) < 0)
			path = NULL;
		alt_candidate(&s, path);
		free(folder);
	}
	if (!s.found)
		for_each_debug_root(t, NULL, visit_alt_root, &s);
	/* debuginfod serves a dwz file by its build id like any debug file. */
	if (!s.found)
		alt_candidate(&s, mp_debuginfod_find(t, hex, name));
	if (!s.found)
		e = mp_error_new(MP_ERR_NOT_FOUND,
				 "%s: its dwz supplementary file %s (build id %s) is not there, nor under .build-id/ or .dwz/ of any debug root, nor on a debuginfod server (install the package that ships it, or pass --debug-dir DIR)",
				 debug_file, name, hex);
	mp_elf_close(elf);
	*out = s.found;
	return e;
}
