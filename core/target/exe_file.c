/* A target made of one ELF file and no process: `memprof type NAME --exe
 * FILE`.  Its only module is the file at load bias 0; memory is the file's
 * PT_LOAD segments as the loader would map them before the program runs
 * (bytes past p_filesz read as zeros, like a fresh .bss).  No threads. */
#include <stdlib.h>
#include <string.h>

#include "array.h"
#include "elf/notes.h"
#include "error.h"
#include "target_internal.h"

static mp_module *exe_module(mp_target *t)
{
	return t->n_modules ? t->modules[0] : NULL;
}

static mp_error *exe_read(mp_target *t, uint64_t address, void *buffer,
			  size_t length)
{
	mp_module *m = exe_module(t);
	uint8_t *out = buffer;
	while (length) {
		const Elf64_Phdr *seg = NULL;
		for (size_t i = 0; m && m->elf && i < mp_elf_phnum(m->elf); i++) {
			const Elf64_Phdr *p = mp_elf_phdr(m->elf, i);
			if (p->p_type == PT_LOAD && address >= p->p_vaddr &&
			    address - p->p_vaddr < p->p_memsz)
				seg = p;
		}
		if (!seg)
			return mp_error_fault(address,
					      "address 0x%llx is not in a loadable segment of %s",
					      (unsigned long long)address, t->exe_path);
		uint64_t in = address - seg->p_vaddr;
		uint64_t run = seg->p_memsz - in;
		if (run > length)
			run = length;
		if (in < seg->p_filesz) {
			uint64_t from_file = seg->p_filesz - in;
			if (from_file > run)
				from_file = run;
			const void *bytes = mp_elf_bytes(m->elf, seg->p_offset + in, from_file);
			if (!bytes)
				return mp_error_fault(address, "address 0x%llx: %s is truncated",
						      (unsigned long long)address, t->exe_path);
			memcpy(out, bytes, from_file);
			memset(out + from_file, 0, run - from_file);
		} else {
			memset(out, 0, run);
		}
		out += run;
		address += run;
		length -= run;
	}
	return NULL;
}

static const struct mp_target_source exe_source = {
	.kind = "exe",
	.read = exe_read,
};

mp_error *mp_target_open_exe(const char *exe_path,
			     const mp_target_options *options,
			     mp_target **out)
{
	*out = NULL;
	mp_target_options copy = options ? *options : (mp_target_options){ 0 };
	copy.exe_path = exe_path;
	mp_target *t = NULL;
	mp_error *e = mp_target_create(&exe_source, &copy, &t);
	if (e)
		return e;
	mp_module *m = calloc(1, sizeof(*m));
	if (!m || !MP_ARRAY_RESERVE(t->modules, t->modules_capacity, 1)) {
		free(m);
		mp_target_release(t);
		return mp_error_nomem();
	}
	t->modules[t->n_modules++] = m;
	m->debug_source = "none";
	m->is_main = true;
	m->name = m->file = mp_target_intern(t, exe_path);
	e = m->name ? mp_elf_open(exe_path, &m->elf) : mp_error_nomem();
	if (e) {
		mp_target_release(t);
		return e;
	}
	m->file_verified = true;
	const uint8_t *id;
	size_t id_size;
	if (mp_elf_build_id(m->elf, &id, &id_size) && id_size <= 64)
		mp_hex_encode(id, id_size, m->build_id);
	bool first = true;
	for (size_t i = 0; i < mp_elf_phnum(m->elf); i++) {
		const Elf64_Phdr *p = mp_elf_phdr(m->elf, i);
		if (p->p_type != PT_LOAD || p->p_memsz == 0)
			continue;
		if (first || p->p_vaddr < m->start)
			m->start = p->p_vaddr;
		if (first || p->p_vaddr + p->p_memsz > m->end)
			m->end = p->p_vaddr + p->p_memsz;
		first = false;
		mp_mapping map = {
			.start = p->p_vaddr,
			.end = p->p_vaddr + p->p_memsz,
			.file_offset = p->p_offset,
			.perms = (p->p_flags & PF_R ? MP_PERM_READ : 0) |
				 (p->p_flags & PF_W ? MP_PERM_WRITE : 0) |
				 (p->p_flags & PF_X ? MP_PERM_EXEC : 0),
			.path = exe_path,
			.contents = MP_CONTENTS_FILE,
		};
		e = mp_target_add_mapping(t, &map);
		if (e) {
			mp_target_release(t);
			return e;
		}
	}
	mp_debug_file_find(t, m);
	const char *base = strrchr(exe_path, '/');
	t->process.name = base ? base + 1 : exe_path;
	t->process.exe = m->name;
	if (asprintf(&t->description, "executable %s (no process)", exe_path) < 0) {
		t->description = NULL;
		mp_target_release(t);
		return mp_error_nomem();
	}
	t->finished = true;
	*out = t;
	return NULL;
}
