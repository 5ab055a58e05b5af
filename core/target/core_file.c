/* ELF core files as a target source.
 *
 * The core is mapped, never copied: opening a 1 GB core touches only its
 * headers and notes.  Memory is what the PT_LOAD segments hold.  Bytes a
 * segment does not hold (p_filesz < p_memsz, or mappings gcore left out and
 * only NT_FILE mentions) are read from the mapped file when module discovery
 * proved it is the file the process loaded (same build id); otherwise the
 * read fails naming the range.  A truncated core keeps everything still
 * present readable and names what was cut.
 *
 * Reads of the core's bytes go through pread, not the mapping: a page read
 * through the mapping stays in memprof's resident set until unmapped, and a
 * leak check reads blocks all over a core (its typing and report after the
 * scan), so the whole core came back into memory (issue 18: 332 MiB of the
 * 646 MiB peak on the 10-million-chunk core).  Pages read by pread stay in
 * the kernel's page cache only.  Small reads share a cache of file lines
 * (page_cache.c) behind a lock; large ones go to the file directly, from any
 * thread.  Views (the heap walk's zero-copy headers) still come from the
 * mapping; the walk releases them behind itself.
 */
#include "core_file.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/procfs.h>
#include <sys/stat.h>
#include <unistd.h>

#include "array.h"
#include "elf/notes.h"
#include "error.h"
#include "page_cache.h"
#include "target_internal.h"

enum {
	/* Reads of a line or more bypass the cache.  4 KiB lines: blocks
	 * read in address order hit them, and a miss of a read that jumps
	 * (pointers followed by block typing) costs a short pread. */
	CORE_LINE_BYTES = 4 * 1024,
	CORE_LINES = 1024,         /* 4 MiB */
};

typedef struct core_segment {
	uint64_t start, end;      /* virtual range (p_memsz) */
	uint64_t saved_end;       /* start + p_filesz: what the core claims */
	uint64_t present_end;     /* what the (possibly truncated) file holds */
	uint64_t file_offset;
} core_segment;

/* A file-backed range named by NT_FILE, and the verified module file that
 * can supply its bytes (NULL until modules are known, or if unverified). */
typedef struct file_range {
	uint64_t start, end, file_offset;
	const char *path;
	const mp_module *backing;
} file_range;

typedef struct core_state {
	mp_elf *core;
	int fd;                   /* the core again, for pread; -1: read the mapping */
	mp_page_cache *cache;     /* lines of the file, by file offset */
	pthread_mutex_t cache_lock;
	core_segment *segments;   /* sorted by start */
	size_t n_segments, segments_capacity;
	file_range *files;        /* sorted by start */
	size_t n_files, files_capacity;
} core_state;

static const core_segment *find_segment(const core_state *s, uint64_t address,
					uint64_t *next_start)
{
	size_t lo = 0, hi = s->n_segments;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (address < s->segments[mid].start)
			hi = mid;
		else if (address >= s->segments[mid].end)
			lo = mid + 1;
		else
			return &s->segments[mid];
	}
	*next_start = lo < s->n_segments ? s->segments[lo].start : UINT64_MAX;
	return NULL;
}

static const file_range *find_file_range(const core_state *s, uint64_t address)
{
	size_t lo = 0, hi = s->n_files;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (address < s->files[mid].start)
			hi = mid;
		else if (address >= s->files[mid].end)
			lo = mid + 1;
		else
			return &s->files[mid];
	}
	return NULL;
}

static mp_error *fault(uint64_t address, size_t length, uint64_t bad,
		       const char *why)
{
	return mp_error_new(MP_ERR_FAULT, "cannot read %zu bytes at %#llx: %#llx %s",
			    length, (unsigned long long)address,
			    (unsigned long long)bad, why);
}

/* Bytes the core did not save, from the verified file mapped there.
 * Returns how many bytes starting at address were supplied (0 if none). */
static size_t read_from_file(const core_state *s, uint64_t address,
			     uint8_t *out, size_t length)
{
	const file_range *range = find_file_range(s, address);
	if (!range || !range->backing || !range->backing->elf)
		return 0;
	uint64_t n = range->end - address;
	if (n > length)
		n = length;
	uint64_t offset = range->file_offset + (address - range->start);
	const mp_elf *elf = range->backing->elf;
	if (offset >= mp_elf_size(elf))
		return 0;
	if (n > mp_elf_size(elf) - offset)
		n = mp_elf_size(elf) - offset;
	memcpy(out, mp_elf_bytes(elf, offset, n), n);
	return n;
}

/* Exactly length bytes at offset of the core file: the file never
 * shrinks under a target (it was checked whole at open), so a short read
 * is an I/O error. */
static mp_error *pread_all(int fd, uint64_t offset, void *buffer, size_t length)
{
	uint8_t *out = buffer;
	while (length) {
		ssize_t n = pread(fd, out, length, (off_t)offset);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return mp_error_new(MP_ERR_IO, "cannot read %zu bytes at offset %#llx of the core: %s",
					    length, (unsigned long long)offset,
					    n < 0 ? strerror(errno) : "end of file");
		out += n;
		offset += (uint64_t)n;
		length -= (size_t)n;
	}
	return NULL;
}

static mp_error *fill_line(void *context, uint64_t offset, void *buffer, size_t length)
{
	const core_state *s = context;
	return pread_all(s->fd, offset, buffer, length);
}

/* Bytes [offset, offset + length) of the core file, which holds them. */
static void core_bytes(core_state *s, uint64_t offset, void *out, size_t length)
{
	mp_error *err = NULL;
	if (s->fd < 0) {
		memcpy(out, mp_elf_bytes(s->core, offset, length), length);
		return;
	}
	if (length >= CORE_LINE_BYTES || !s->cache) {
		err = pread_all(s->fd, offset, out, length);
	} else {
		pthread_mutex_lock(&s->cache_lock);
		err = mp_page_cache_read(s->cache, offset, out, length);
		pthread_mutex_unlock(&s->cache_lock);
	}
	/* The mapping says the same bytes (or faults alike). */
	if (err) {
		mp_error_free(err);
		memcpy(out, mp_elf_bytes(s->core, offset, length), length);
	}
}

static mp_error *core_read(mp_target *t, uint64_t address, void *buffer,
			   size_t length)
{
	core_state *s = t->state;
	uint8_t *out = buffer;
	uint64_t at = address;
	size_t left = length;
	while (left) {
		uint64_t next_start = UINT64_MAX;
		const core_segment *seg = find_segment(s, at, &next_start);
		size_t span;
		if (seg && at < seg->present_end) {
			span = seg->present_end - at < left ? seg->present_end - at : left;
			core_bytes(s, seg->file_offset + (at - seg->start), out, span);
		} else {
			size_t got = read_from_file(s, at, out, left);
			if (got == 0) {
				if (seg && at < seg->saved_end)
					return fault(address, length, at,
						     "is cut off: the core file is truncated");
				if (seg || find_file_range(s, at))
					return fault(address, length, at,
						     "was not saved in the core and no verified file supplies it");
				return fault(address, length, at,
					     "is not mapped in the target");
			}
			span = got;
			/* A segment that resumes inside this range takes over. */
			if (!seg && next_start != UINT64_MAX && at + span > next_start)
				span = next_start - at;
		}
		out += span;
		at += span;
		left -= span;
	}
	return NULL;
}

static const void *core_view(mp_target *t, uint64_t address, size_t length)
{
	const core_state *s = t->state;
	uint64_t next;
	const core_segment *seg = find_segment(s, address, &next);
	if (!seg || address >= seg->present_end || length > seg->present_end - address)
		return NULL;
	return mp_elf_bytes(s->core, seg->file_offset + (address - seg->start), length);
}

static void core_unview(mp_target *t, uint64_t address, size_t length)
{
	const uint8_t *bytes = core_view(t, address, length);
	if (!bytes)
		return;
	/* Whole pages inside the range only: neighbours may still be in use. */
	uintptr_t begin = ((uintptr_t)bytes + 4095) & ~(uintptr_t)4095;
	uintptr_t end = ((uintptr_t)bytes + length) & ~(uintptr_t)4095;
	if (end > begin)
		madvise((void *)begin, end - begin, MADV_DONTNEED);
}

static unsigned perms_from_flags(uint32_t flags)
{
	return (flags & PF_R ? MP_PERM_READ : 0) | (flags & PF_W ? MP_PERM_WRITE : 0) |
	       (flags & PF_X ? MP_PERM_EXEC : 0);
}

static mp_error *parse_nt_file(mp_target *t, core_state *s, const mp_note *note)
{
	const uint8_t *d = note->desc;
	size_t size = note->desc_size;
	if (size < 16)
		return mp_error_new(MP_ERR_FORMAT, "NT_FILE note too short (%zu bytes)", size);
	uint64_t count, page_size;
	memcpy(&count, d, 8);
	memcpy(&page_size, d + 8, 8);
	if (count > (size - 16) / 24)
		return mp_error_new(MP_ERR_FORMAT,
				    "NT_FILE note claims %llu files but holds %zu bytes",
				    (unsigned long long)count, size);
	/* Offsets are in pages of this size (the kernel's page, 1 for gcore):
	 * 0 would make every offset check divide by zero. */
	if (page_size == 0)
		return mp_error_new(MP_ERR_FORMAT, "NT_FILE note has a page size of 0");
	const char *names = (const char *)d + 16 + count * 24;
	size_t names_left = size - 16 - count * 24;
	for (uint64_t i = 0; i < count; i++) {
		uint64_t triple[3];
		memcpy(triple, d + 16 + i * 24, sizeof(triple));
		size_t name_length = strnlen(names, names_left);
		if (name_length == names_left)
			return mp_error_new(MP_ERR_FORMAT,
					    "NT_FILE note: file name %llu is not terminated",
					    (unsigned long long)i);
		const char *name = names;
		names += name_length + 1;
		names_left -= name_length + 1;
		if (triple[1] <= triple[0] || triple[2] > UINT64_MAX / page_size) {
			t->partial = true;
			mp_target_warn(t, "NT_FILE note: entry %llu (%s) has an empty or inverted range %#llx-%#llx or a bad offset: skipped",
				       (unsigned long long)i, name,
				       (unsigned long long)triple[0],
				       (unsigned long long)triple[1]);
			continue;
		}
		if (!MP_ARRAY_RESERVE(s->files, s->files_capacity, s->n_files + 1))
			return mp_error_nomem();
		file_range *r = &s->files[s->n_files];
		r->start = triple[0];
		r->end = triple[1];
		r->file_offset = triple[2] * page_size;
		r->path = mp_target_intern(t, name);
		r->backing = NULL;
		if (!r->path)
			return mp_error_nomem();
		s->n_files++;
	}
	return NULL;
}

static mp_error *parse_note(mp_target *t, core_state *s, const mp_note *note)
{
	if (mp_note_is(note, "CORE", NT_PRSTATUS)) {
		struct elf_prstatus status;
		if (note->desc_size < sizeof(status))
			return mp_error_new(MP_ERR_FORMAT,
					    "NT_PRSTATUS note of %zu bytes, expected %zu",
					    note->desc_size, sizeof(status));
		memcpy(&status, note->desc, sizeof(status));
		mp_registers regs;
		_Static_assert(sizeof(status.pr_reg) == sizeof(regs.value),
			       "elf_gregset_t is user_regs_struct");
		memcpy(regs.value, &status.pr_reg, sizeof(regs.value));
		mp_error *err = mp_target_add_thread(t, status.pr_pid, &regs);
		if (!err)
			t->threads[t->n_threads - 1].signal = status.pr_cursig;
		if (!err && t->n_threads == 1)
			t->process.signal = status.pr_cursig;
		return err;
	}
	if (mp_note_is(note, "CORE", NT_PRPSINFO)) {
		struct elf_prpsinfo info;
		if (note->desc_size < sizeof(info))
			return mp_error_new(MP_ERR_FORMAT,
					    "NT_PRPSINFO note of %zu bytes, expected %zu",
					    note->desc_size, sizeof(info));
		memcpy(&info, note->desc, sizeof(info));
		t->process.pid = info.pr_pid;
		t->process.ppid = info.pr_ppid;
		t->process.uid = info.pr_uid;
		t->process.gid = info.pr_gid;
		const char *name = mp_target_intern_n(t, info.pr_fname,
						      strnlen(info.pr_fname, sizeof(info.pr_fname)));
		const char *args = mp_target_intern_n(t, info.pr_psargs,
						      strnlen(info.pr_psargs, sizeof(info.pr_psargs)));
		if (!name || !args)
			return mp_error_nomem();
		t->process.name = name;
		t->process.args = args;
		return NULL;
	}
	if (mp_note_is(note, "CORE", NT_AUXV)) {
		size_t count = note->desc_size / sizeof(mp_auxv_entry);
		mp_auxv_entry *entries = malloc(count ? count * sizeof(*entries) : 1);
		if (!entries)
			return mp_error_nomem();
		memcpy(entries, note->desc, count * sizeof(*entries));
		size_t used = 0;
		while (used < count && entries[used].type != AT_NULL)
			used++;
		mp_error *err = mp_target_set_auxv(t, entries, used);
		free(entries);
		return err;
	}
	if (mp_note_is(note, "CORE", NT_FILE))
		return parse_nt_file(t, s, note);
	return NULL;
}

static mp_error *parse_notes(mp_target *t, core_state *s, const char *path)
{
	bool any = false;
	for (size_t i = 0; i < mp_elf_phnum(s->core); i++) {
		const Elf64_Phdr *p = mp_elf_phdr(s->core, i);
		if (p->p_type != PT_NOTE)
			continue;
		uint64_t size = p->p_filesz;
		if (p->p_offset >= mp_elf_size(s->core)) {
			t->partial = true;
			mp_target_warn(t, "%s: the notes (threads, auxv, files) at offset %#llx were cut off: the core file is truncated",
				       path, (unsigned long long)p->p_offset);
			continue;
		}
		if (size > mp_elf_size(s->core) - p->p_offset) {
			size = mp_elf_size(s->core) - p->p_offset;
			t->partial = true;
			mp_target_warn(t, "%s: only %llu of %llu bytes of notes are present: the core file is truncated",
				       path, (unsigned long long)size,
				       (unsigned long long)p->p_filesz);
		}
		mp_note_iter it;
		mp_note note;
		mp_note_iter_init(&it, mp_elf_bytes(s->core, p->p_offset, size), size,
				  p->p_align);
		while (mp_note_next(&it, &note)) {
			any = true;
			mp_error *err = parse_note(t, s, &note);
			if (err && mp_error_code(err) == MP_ERR_NOMEM)
				return err;
			if (err) {
				mp_target_warn(t, "%s: %s", path, mp_error_message(err));
				mp_error_free(err);
			}
		}
		if (it.malformed)
			mp_target_warn(t, "%s: malformed note at offset %#llx; later notes ignored",
				       path, (unsigned long long)(p->p_offset + it.pos));
	}
	if (!any)
		mp_target_warn(t, "%s: the core has no notes: no threads, registers or auxiliary vector",
			       path);
	return NULL;
}

static int compare_segments(const void *a, const void *b)
{
	const core_segment *x = a, *y = b;
	return x->start < y->start ? -1 : x->start > y->start;
}

static int compare_files(const void *a, const void *b)
{
	const file_range *x = a, *y = b;
	return x->start < y->start ? -1 : x->start > y->start;
}

/* A PT_LOAD that describes memory: not empty, and not running past the top
 * of the address space (only a corrupt header does). */
static bool segment_usable(const Elf64_Phdr *p)
{
	return p->p_type == PT_LOAD && p->p_memsz != 0 &&
	       p->p_vaddr + p->p_memsz > p->p_vaddr;
}

static mp_error *load_segments(mp_target *t, core_state *s, const char *path)
{
	uint64_t file_size = mp_elf_size(s->core);
	uint64_t expected = file_size;
	uint64_t first_cut = UINT64_MAX;
	for (size_t i = 0; i < mp_elf_phnum(s->core); i++) {
		const Elf64_Phdr *p = mp_elf_phdr(s->core, i);
		if (p->p_offset + p->p_filesz > expected)
			expected = p->p_offset + p->p_filesz;
		if (p->p_type == PT_LOAD && p->p_memsz != 0 && !segment_usable(p)) {
			t->partial = true;
			mp_target_warn(t, "%s: program header %zu: PT_LOAD at %#llx of %#llx bytes runs past the end of the address space: skipped",
				       path, i, (unsigned long long)p->p_vaddr,
				       (unsigned long long)p->p_memsz);
		}
		if (!segment_usable(p))
			continue;
		if (!MP_ARRAY_RESERVE(s->segments, s->segments_capacity, s->n_segments + 1))
			return mp_error_nomem();
		core_segment *seg = &s->segments[s->n_segments++];
		uint64_t filesz = p->p_filesz < p->p_memsz ? p->p_filesz : p->p_memsz;
		uint64_t present = 0;
		if (p->p_offset < file_size)
			present = file_size - p->p_offset < filesz ? file_size - p->p_offset
								   : filesz;
		seg->start = p->p_vaddr;
		seg->end = p->p_vaddr + p->p_memsz;
		seg->saved_end = seg->start + filesz;
		seg->present_end = seg->start + present;
		seg->file_offset = p->p_offset;
		if (present < filesz && seg->start + present < first_cut)
			first_cut = seg->start + present;
	}
	if (expected > file_size) {
		t->partial = true;
		mp_target_warn(t, "%s: the core file is truncated: %llu of %llu bytes are missing; memory from %#llx on is partly unreadable, everything before it is intact",
			       path, (unsigned long long)(expected - file_size),
			       (unsigned long long)expected,
			       (unsigned long long)(first_cut == UINT64_MAX ? 0 : first_cut));
	}
	if (s->n_segments > 1)
		qsort(s->segments, s->n_segments, sizeof(*s->segments), compare_segments);
	return NULL;
}

/* One mapping per PT_LOAD, named by NT_FILE where a file backs it; files gcore
 * left out entirely (text of shared libraries) become mappings of their own. */
static mp_error *build_mappings(mp_target *t, core_state *s)
{
	if (s->n_files > 1)
		qsort(s->files, s->n_files, sizeof(*s->files), compare_files);
	for (size_t i = 0; i < mp_elf_phnum(s->core); i++) {
		const Elf64_Phdr *p = mp_elf_phdr(s->core, i);
		if (!segment_usable(p))
			continue;
		mp_mapping m = {0};
		m.start = p->p_vaddr;
		m.end = p->p_vaddr + p->p_memsz;
		m.perms = perms_from_flags(p->p_flags);
		uint64_t next;
		const core_segment *seg = find_segment(s, m.start, &next);
		uint64_t present = seg ? seg->present_end - seg->start : 0;
		m.contents = present == p->p_memsz ? MP_CONTENTS_FULL
			     : present ? MP_CONTENTS_PARTIAL : MP_CONTENTS_NONE;
		const file_range *r = find_file_range(s, m.start);
		if (r) {
			m.path = r->path;
			m.file_offset = r->file_offset + (m.start - r->start);
		}
		mp_error *err = mp_target_add_mapping(t, &m);
		if (err)
			return err;
	}
	for (size_t i = 0; i < s->n_files; i++) {
		const file_range *r = &s->files[i];
		uint64_t next;
		if (find_segment(s, r->start, &next) || next < r->end)
			continue;
		mp_mapping m = {0};
		m.start = r->start;
		m.end = r->end;
		m.file_offset = r->file_offset;
		m.path = r->path;
		m.perms = MP_PERM_UNKNOWN;
		m.contents = MP_CONTENTS_NONE;
		mp_error *err = mp_target_add_mapping(t, &m);
		if (err)
			return err;
	}
	return NULL;
}

/* Permissions of a mapping gcore left out come from the module file's
 * segment that covers the same file offset. */
static unsigned perms_from_module(const mp_module *m, uint64_t file_offset)
{
	for (size_t i = 0; i < mp_elf_phnum(m->elf); i++) {
		const Elf64_Phdr *p = mp_elf_phdr(m->elf, i);
		uint64_t begin = p->p_offset & ~(uint64_t)4095;
		if (p->p_type == PT_LOAD && file_offset >= begin &&
		    file_offset < p->p_offset + p->p_filesz)
			return perms_from_flags(p->p_flags);
	}
	return MP_PERM_UNKNOWN;
}

static void core_modules_ready(mp_target *t)
{
	core_state *s = t->state;
	for (size_t i = 0; i < s->n_files; i++) {
		file_range *r = &s->files[i];
		for (size_t k = 0; k < t->n_modules; k++) {
			const mp_module *m = t->modules[k];
			if (m->elf && m->file_verified && m->mapped_path &&
			    strcmp(m->mapped_path, r->path) == 0) {
				r->backing = m;
				break;
			}
		}
	}
	for (size_t i = 0; i < t->n_mappings; i++) {
		mp_mapping *map = &t->mappings[i];
		if (map->contents == MP_CONTENTS_FULL)
			continue;
		const file_range *r = find_file_range(s, map->start);
		if (!r || !r->backing)
			continue;
		if (map->perms & MP_PERM_UNKNOWN)
			map->perms = perms_from_module(r->backing, map->file_offset);
		/* Readable in full only if the file covers the whole mapping
		 * beyond what the core holds. */
		uint8_t probe;
		mp_error *err = core_read(t, map->end - 1, &probe, 1);
		if (!err)
			map->contents = MP_CONTENTS_FILE;
		mp_error_free(err);
	}
}

static void core_release(mp_target *t)
{
	core_state *s = t->state;
	if (!s)
		return;
	mp_elf_close(s->core);
	if (s->fd >= 0) {
		close(s->fd);
		mp_page_cache_free(s->cache);
		pthread_mutex_destroy(&s->cache_lock);
	}
	free(s->segments);
	free(s->files);
	free(s);
}

static const struct mp_target_source core_source = {
	.kind = "core",
	.read = core_read,
	.modules_ready = core_modules_ready,
	.release = core_release,
	.view = core_view,
	.unview = core_unview,
};

/* The descriptor and line cache of pread reads; without them (the file
 * cannot be opened again, or it is not the one mapped) reads copy from
 * the mapping as before. */
static void open_reads(core_state *s, const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0)
		return;
	if (fstat(fd, &st) != 0 || (uint64_t)st.st_size != mp_elf_size(s->core) ||
	    pthread_mutex_init(&s->cache_lock, NULL) != 0) {
		close(fd);
		return;
	}
	s->fd = fd;
	s->cache = mp_page_cache_new(CORE_LINE_BYTES, CORE_LINES, fill_line, s);
}

bool mp_core_file_reads(const mp_target *t)
{
	return t && t->source == &core_source && ((const core_state *)t->state)->fd >= 0;
}

static const char *elf_type_name(unsigned type)
{
	switch (type) {
	case ET_EXEC: return "an executable";
	case ET_DYN: return "a shared object or position-independent executable";
	case ET_REL: return "an object file";
	default: return "not a core file";
	}
}

mp_error *mp_target_open_core(const char *core_path,
			      const mp_target_options *options, mp_target **out)
{
	*out = NULL;
	mp_elf *core = NULL;
	mp_error *err = mp_elf_open(core_path, &core);
	if (err)
		return err;
	unsigned type = mp_elf_header(core)->e_type;
	if (type != ET_CORE) {
		mp_elf_close(core);
		return mp_error_new(MP_ERR_FORMAT, "%s is %s, not a core file",
				    core_path, elf_type_name(type));
	}
	mp_target *t = NULL;
	err = mp_target_create(&core_source, options, &t);
	core_state *s = err ? NULL : calloc(1, sizeof(*s));
	if (!s) {
		mp_elf_close(core);
		mp_target_release(t);
		return err ? err : mp_error_nomem();
	}
	s->core = core;
	s->fd = -1;
	t->state = s;
	open_reads(s, core_path);
	err = parse_notes(t, s, core_path);
	if (!err)
		err = load_segments(t, s, core_path);
	if (!err)
		err = build_mappings(t, s);
	if (!err) {
		uint64_t phdr = mp_target_auxv_value(t, AT_PHDR, NULL);
		for (size_t i = 0; i < s->n_files; i++)
			if (phdr >= s->files[i].start && phdr < s->files[i].end)
				t->process.exe = s->files[i].path;
		err = mp_target_finish(t);
	}
	if (!err && asprintf(&t->description, "core file %s (pid %lld, %s)", core_path,
			     (long long)t->process.pid,
			     t->process.name[0] ? t->process.name : "unknown program") < 0) {
		t->description = NULL;
		err = mp_error_nomem();
	}
	if (err) {
		mp_target_release(t);
		return err;
	}
	*out = t;
	return NULL;
}
