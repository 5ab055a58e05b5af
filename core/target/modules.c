/* Module discovery: which ELF objects are loaded where.
 *
 * The most faithful source is the dynamic linker's own list (r_debug and
 * its link_map chain, found through DT_DEBUG in the executable's dynamic
 * section): it names every object with its load bias.  Static programs, cores
 * whose data segments were not saved and targets without auxv fall back to
 * the mappings: every file mapped from offset 0 that is an ELF object.  The
 * vDSO comes from AT_SYSINFO_EHDR and lives only in memory.
 *
 * For each module the build id the process really loaded is read from
 * target memory and compared with the file on disk, so a rebuilt or
 * upgraded file is never trusted for the process's bytes or types.
 */
#include <elf.h>
#include <link.h>
#include <stdlib.h>
#include <string.h>

#include "array.h"
#include "elf/notes.h"
#include "error.h"
#include "target_internal.h"

enum {
	MAX_LINK_MAP_ENTRIES = 65536,
	MAX_PHDRS = 256,
	MAX_NOTE_BYTES = 65536,
	MAX_DYNAMIC_BYTES = 65536,
	PAGE_MASK_4K = 4095,
};

void mp_module_free(mp_module *m)
{
	if (!m)
		return;
	mp_symbol_table_free(m->symbols);
	mp_elf_close(m->elf);
	free(m);
}

/* What the process image itself says about an ELF object loaded at bias:
 * its program headers and build id, read from target memory. */
typedef struct memory_image {
	Elf64_Phdr phdrs[MAX_PHDRS];
	size_t phnum;
	uint8_t build_id[64];
	size_t build_id_size;
} memory_image;

static void read_memory_build_id(mp_target *t, uint64_t bias,
				 memory_image *image)
{
	image->build_id_size = 0;
	for (size_t i = 0; i < image->phnum; i++) {
		const Elf64_Phdr *p = &image->phdrs[i];
		if (p->p_type != PT_NOTE || p->p_filesz == 0 ||
		    p->p_filesz > MAX_NOTE_BYTES)
			continue;
		uint8_t *notes = malloc(p->p_filesz);
		if (!notes)
			return;
		mp_error *err = mp_target_read(t, bias + p->p_vaddr, notes, p->p_filesz);
		const uint8_t *id;
		size_t size;
		if (!err && mp_notes_find_build_id(notes, p->p_filesz, p->p_align,
						   &id, &size) &&
		    size <= sizeof(image->build_id)) {
			memcpy(image->build_id, id, size);
			image->build_id_size = size;
		}
		mp_error_free(err);
		free(notes);
		if (image->build_id_size)
			return;
	}
}

/* Reads program headers at phdr_address; false when memory lacks them. */
static bool read_memory_phdrs(mp_target *t, uint64_t phdr_address,
			      size_t phnum, memory_image *image)
{
	if (phnum == 0 || phnum > MAX_PHDRS)
		return false;
	mp_error *err = mp_target_read(t, phdr_address, image->phdrs,
				       phnum * sizeof(Elf64_Phdr));
	if (err) {
		mp_error_free(err);
		return false;
	}
	image->phnum = phnum;
	return true;
}

/* Reads the ELF header at image_base, then its program headers. */
static bool read_memory_image(mp_target *t, uint64_t image_base,
			      memory_image *image)
{
	Elf64_Ehdr header;
	mp_error *err = mp_target_read(t, image_base, &header, sizeof(header));
	if (err) {
		mp_error_free(err);
		return false;
	}
	if (memcmp(header.e_ident, ELFMAG, SELFMAG) != 0 ||
	    header.e_ident[EI_CLASS] != ELFCLASS64 ||
	    header.e_phentsize != sizeof(Elf64_Phdr))
		return false;
	return read_memory_phdrs(t, image_base + header.e_phoff, header.e_phnum,
				 image);
}

static uint64_t first_load_page(const Elf64_Phdr *phdrs, size_t phnum,
				bool *found)
{
	for (size_t i = 0; i < phnum; i++) {
		if (phdrs[i].p_type == PT_LOAD) {
			*found = true;
			return phdrs[i].p_vaddr & ~(uint64_t)PAGE_MASK_4K;
		}
	}
	*found = false;
	return 0;
}

static const mp_mapping *mapping_with_path_at_zero(const mp_target *t,
						   const char *path)
{
	for (size_t i = 0; i < t->n_mappings; i++) {
		const mp_mapping *m = &t->mappings[i];
		if (m->file_offset == 0 && strcmp(m->path, path) == 0)
			return m;
	}
	return NULL;
}

/* The module's address range is the span of the mappings of its file. */
static void set_range_from_mappings(mp_target *t, mp_module *m,
				    const char *path)
{
	m->mapped_path = path;
	for (size_t i = 0; i < t->n_mappings; i++) {
		const mp_mapping *map = &t->mappings[i];
		if (strcmp(map->path, path) != 0)
			continue;
		if (m->start == m->end || map->start < m->start)
			m->start = map->start;
		if (map->end > m->end)
			m->end = map->end;
	}
}

static void set_range_from_phdrs(mp_module *m, const Elf64_Phdr *phdrs,
				 size_t phnum)
{
	uint64_t low = UINT64_MAX, high = 0;
	for (size_t i = 0; i < phnum; i++) {
		const Elf64_Phdr *p = &phdrs[i];
		if (p->p_type != PT_LOAD)
			continue;
		if (p->p_vaddr < low)
			low = p->p_vaddr;
		if (p->p_vaddr + p->p_memsz > high)
			high = p->p_vaddr + p->p_memsz;
	}
	if (low < high) {
		m->start = m->load_bias + (low & ~(uint64_t)PAGE_MASK_4K);
		m->end = m->load_bias + ((high + PAGE_MASK_4K) & ~(uint64_t)PAGE_MASK_4K);
	}
}

static mp_error *add_module(mp_target *t, mp_module *m)
{
	if (!MP_ARRAY_RESERVE(t->modules, t->modules_capacity, t->n_modules + 1)) {
		mp_module_free(m);
		return mp_error_nomem();
	}
	t->modules[t->n_modules++] = m;
	return NULL;
}

static bool module_known(const mp_target *t, uint64_t load_bias,
			 const char *name)
{
	for (size_t i = 0; i < t->n_modules; i++)
		if (t->modules[i]->load_bias == load_bias &&
		    strcmp(t->modules[i]->name, name) == 0)
			return true;
	return false;
}

/* Opens the module's file and checks it against the loaded image.  Returns
 * an error only when the user named the file (--exe) and it is wrong. */
static mp_error *attach_file(mp_target *t, mp_module *m, const char *host_path,
			     const memory_image *image, bool user_named)
{
	mp_elf *elf = NULL;
	mp_error *err = mp_elf_open(host_path, &elf);
	if (err) {
		if (user_named)
			return mp_error_prefix(err, "executable");
		/* Cores often travel without their files: say what is missing
		 * but keep the module, which still has its bias and build id. */
		if (mp_error_code(err) == MP_ERR_NOT_FOUND)
			mp_target_warn(t, "module %s: file %s not found%s", m->name,
				       host_path,
				       t->sysroot ? "" : " (pass --sysroot DIR if the target's files live elsewhere)");
		else
			mp_target_warn(t, "module %s: %s", m->name,
				       mp_error_message(err));
		mp_error_free(err);
		return NULL;
	}
	const uint8_t *file_id = NULL;
	size_t file_id_size = 0;
	bool has_file_id = mp_elf_build_id(elf, &file_id, &file_id_size);
	char file_hex[2 * 64 + 1] = "";
	if (has_file_id && file_id_size <= 64)
		mp_hex_encode(file_id, file_id_size, file_hex);

	if (image && image->build_id_size) {
		char loaded_hex[2 * 64 + 1];
		mp_hex_encode(image->build_id, image->build_id_size, loaded_hex);
		if (strcmp(loaded_hex, file_hex) != 0) {
			const char *file_says = has_file_id ? file_hex : "none";
			if (user_named) {
				mp_elf_close(elf);
				return mp_error_new(MP_ERR_MISMATCH,
						    "executable %s does not match the target: its build id is %s, the loaded program's is %s",
						    host_path, file_says, loaded_hex);
			}
			mp_target_warn(t, "module %s: file %s has build id %s but the loaded object has %s; the file is not used",
				       m->name, host_path, file_says, loaded_hex);
			mp_elf_close(elf);
			return NULL;
		}
		m->file_verified = true;
	} else {
		if (!m->build_id[0])
			memcpy(m->build_id, file_hex, sizeof(file_hex));
		mp_target_warn(t, "module %s: the loaded object's build id is not readable, file %s is used unverified",
			       m->name, host_path);
	}
	m->elf = elf;
	m->file = mp_target_intern(t, host_path);
	if (!m->file)
		return mp_error_nomem();
	return NULL;
}

static mp_module *new_module(mp_target *t, const char *name, uint64_t bias)
{
	mp_module *m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	m->name = mp_target_intern(t, name);
	if (!m->name) {
		free(m);
		return NULL;
	}
	m->load_bias = bias;
	m->debug_source = "none";
	return m;
}

static void set_loaded_build_id(mp_module *m, const memory_image *image)
{
	if (image->build_id_size)
		mp_hex_encode(image->build_id, image->build_id_size, m->build_id);
}

/* The main executable from auxv: AT_PHDR locates its program headers in
 * memory, PT_PHDR's link-time address gives the bias. */
static mp_error *discover_main(mp_target *t, memory_image *image, bool *found)
{
	*found = false;
	bool have_phdr, have_phnum;
	uint64_t at_phdr = mp_target_auxv_value(t, AT_PHDR, &have_phdr);
	uint64_t at_phnum = mp_target_auxv_value(t, AT_PHNUM, &have_phnum);
	if (!have_phdr || !have_phnum)
		return NULL;
	if (!read_memory_phdrs(t, at_phdr, at_phnum, image)) {
		mp_target_warn(t, "program headers of the executable at %#llx are not readable",
			       (unsigned long long)at_phdr);
		image->phnum = 0;
	}
	uint64_t bias = 0;
	bool have_bias = false;
	for (size_t i = 0; i < image->phnum; i++) {
		if (image->phdrs[i].p_type == PT_PHDR) {
			bias = at_phdr - image->phdrs[i].p_vaddr;
			have_bias = true;
		}
	}
	const mp_mapping *map = mp_target_find_mapping(t, at_phdr);
	const char *name = t->exe_path;
	if (!name && map && map->path[0])
		name = map->path;
	if (!name && t->process.exe[0])
		name = t->process.exe;
	if (!name)
		name = "[executable]";

	if (!have_bias) {
		/* No PT_PHDR (some static programs): the headers follow the ELF
		 * header in the first page of the image. */
		bool have_load;
		uint64_t page = first_load_page(image->phdrs, image->phnum, &have_load);
		uint64_t image_base = map ? map->start - map->file_offset
					  : (at_phdr & ~(uint64_t)PAGE_MASK_4K);
		bias = have_load ? image_base - page : 0;
	}
	mp_module *m = new_module(t, name, bias);
	if (!m)
		return mp_error_nomem();
	m->is_main = true;
	read_memory_build_id(t, bias, image);
	set_loaded_build_id(m, image);
	if (map && map->path[0])
		set_range_from_mappings(t, m, map->path);
	else
		set_range_from_phdrs(m, image->phdrs, image->phnum);

	char *host = t->exe_path ? strdup(t->exe_path)
				 : mp_target_host_path(t, name);
	if (!host) {
		mp_module_free(m);
		return mp_error_nomem();
	}
	mp_error *err = NULL;
	if (name[0] != '[')
		err = attach_file(t, m, host, image, t->exe_path != NULL);
	free(host);
	if (err) {
		mp_module_free(m);
		return err;
	}
	*found = true;
	return add_module(t, m);
}

/* Follows DT_DEBUG -> r_debug -> link_map.  Returns false when the chain is
 * not readable (static program, data segment not in the core). */
static mp_error *discover_link_map(mp_target *t, const memory_image *main_image,
				   uint64_t main_bias, bool *walked)
{
	*walked = false;
	const Elf64_Phdr *dynamic = NULL;
	for (size_t i = 0; i < main_image->phnum; i++)
		if (main_image->phdrs[i].p_type == PT_DYNAMIC)
			dynamic = &main_image->phdrs[i];
	if (!dynamic || dynamic->p_memsz == 0)
		return NULL;
	size_t dyn_size = dynamic->p_memsz < MAX_DYNAMIC_BYTES ? dynamic->p_memsz
							       : MAX_DYNAMIC_BYTES;
	Elf64_Dyn *dyn = malloc(dyn_size);
	if (!dyn)
		return mp_error_nomem();
	mp_error *err = mp_target_read(t, main_bias + dynamic->p_vaddr, dyn, dyn_size);
	uint64_t r_debug_address = 0;
	for (size_t i = 0; !err && i < dyn_size / sizeof(*dyn); i++) {
		if (dyn[i].d_tag == DT_NULL)
			break;
		if (dyn[i].d_tag == DT_DEBUG)
			r_debug_address = dyn[i].d_un.d_ptr;
	}
	free(dyn);
	if (err) {
		mp_target_warn(t, "dynamic section of the executable is not readable (%s); modules found from mappings",
			       mp_error_message(err));
		mp_error_free(err);
		return NULL;
	}
	if (!r_debug_address)
		return NULL;
	struct r_debug rd;
	err = mp_target_read(t, r_debug_address, &rd, sizeof(rd));
	if (err) {
		mp_target_warn(t, "r_debug at %#llx is not readable (%s); modules found from mappings",
			       (unsigned long long)r_debug_address,
			       mp_error_message(err));
		mp_error_free(err);
		return NULL;
	}
	uint64_t vdso = mp_target_auxv_value(t, AT_SYSINFO_EHDR, NULL);
	uint64_t entry_address = (uint64_t)(uintptr_t)rd.r_map;
	size_t count = 0;
	while (entry_address) {
		if (++count > MAX_LINK_MAP_ENTRIES) {
			mp_target_warn(t, "link_map chain longer than %d entries (a cycle?) cut at %#llx",
				       MAX_LINK_MAP_ENTRIES,
				       (unsigned long long)entry_address);
			break;
		}
		struct link_map lm;
		err = mp_target_read(t, entry_address, &lm, sizeof(lm));
		if (err) {
			mp_target_warn(t, "link_map entry at %#llx is not readable: %s",
				       (unsigned long long)entry_address,
				       mp_error_message(err));
			mp_error_free(err);
			break;
		}
		entry_address = (uint64_t)(uintptr_t)lm.l_next;
		char *name = NULL;
		if (lm.l_name) {
			err = mp_target_read_string(t, (uint64_t)(uintptr_t)lm.l_name,
						    4096, &name);
			if (err) {
				mp_target_warn(t, "name of link_map entry at %#llx is not readable: %s",
					       (unsigned long long)(uintptr_t)lm.l_name,
					       mp_error_message(err));
				mp_error_free(err);
				continue;
			}
		}
		/* The executable's entry has an empty name; the vDSO is added
		 * from AT_SYSINFO_EHDR with its real range. */
		if (!name || !name[0] || (vdso && lm.l_addr == vdso) ||
		    module_known(t, lm.l_addr, name)) {
			free(name);
			continue;
		}
		mp_module *m = new_module(t, name, lm.l_addr);
		if (!m) {
			free(name);
			return mp_error_nomem();
		}
		/* l_name may be a symlink the mappings spell differently; the
		 * mapping holding the module's dynamic section names the file. */
		const mp_mapping *map = mp_target_find_mapping(t, (uint64_t)(uintptr_t)lm.l_ld);
		const char *mapped_path = map && map->path[0] ? map->path : NULL;
		memory_image *image = malloc(sizeof(*image));
		if (!image) {
			free(name);
			mp_module_free(m);
			return mp_error_nomem();
		}
		image->phnum = 0;
		image->build_id_size = 0;
		const mp_mapping *base = mapped_path ? mapping_with_path_at_zero(t, mapped_path)
						     : NULL;
		if (base && read_memory_image(t, base->start, image))
			read_memory_build_id(t, lm.l_addr, image);
		set_loaded_build_id(m, image);
		if (mapped_path)
			set_range_from_mappings(t, m, mapped_path);
		char *host = mp_target_host_path(t, name);
		err = host ? attach_file(t, m, host, image, false) : mp_error_nomem();
		free(host);
		free(image);
		free(name);
		if (!err && !mapped_path && m->elf)
			set_range_from_phdrs(m, mp_elf_phdr(m->elf, 0), mp_elf_phnum(m->elf));
		if (err) {
			mp_module_free(m);
			return err;
		}
		err = add_module(t, m);
		if (err)
			return err;
	}
	*walked = true;
	return NULL;
}

static bool path_is_file(const char *path)
{
	return path[0] == '/' && !strstr(path, " (deleted)");
}

/* Every ELF object mapped from file offset 0 that no earlier step found. */
static mp_error *discover_from_mappings(mp_target *t)
{
	for (size_t i = 0; i < t->n_mappings; i++) {
		const mp_mapping *map = &t->mappings[i];
		if (map->file_offset != 0 || !path_is_file(map->path))
			continue;
		bool seen = false;
		for (size_t k = 0; k < t->n_modules && !seen; k++)
			seen = t->modules[k]->start <= map->start &&
			       map->start < t->modules[k]->end;
		if (seen)
			continue;
		memory_image *image = malloc(sizeof(*image));
		if (!image)
			return mp_error_nomem();
		image->phnum = 0;
		image->build_id_size = 0;
		bool in_memory = read_memory_image(t, map->start, image);
		char *host = mp_target_host_path(t, map->path);
		mp_elf *probe = NULL;
		mp_error *err = host ? mp_elf_open(host, &probe) : mp_error_nomem();
		const Elf64_Phdr *phdrs = in_memory ? image->phdrs : NULL;
		size_t phnum = in_memory ? image->phnum : 0;
		if (!phdrs && probe) {
			phdrs = mp_elf_phdr(probe, 0);
			phnum = mp_elf_phnum(probe);
		}
		bool have_load = false;
		uint64_t page = phdrs ? first_load_page(phdrs, phnum, &have_load) : 0;
		bool is_elf = in_memory || (probe != NULL);
		mp_elf_close(probe);
		/* Data files (locale archives, fonts) are mapped too: a file that is
		 * neither ELF in memory nor on disk is no module. */
		if (!is_elf || !have_load) {
			mp_error_free(err);
			free(host);
			free(image);
			continue;
		}
		mp_error_free(err);
		mp_module *m = new_module(t, map->path, map->start - page);
		if (!m) {
			free(host);
			free(image);
			return mp_error_nomem();
		}
		if (in_memory)
			read_memory_build_id(t, m->load_bias, image);
		set_loaded_build_id(m, image);
		set_range_from_mappings(t, m, map->path);
		err = attach_file(t, m, host, image, false);
		free(host);
		free(image);
		if (err) {
			mp_module_free(m);
			return err;
		}
		err = add_module(t, m);
		if (err)
			return err;
	}
	return NULL;
}

/* The vDSO exists only in memory: its headers and build id come from there. */
static mp_error *discover_vdso(mp_target *t)
{
	bool found;
	uint64_t base = mp_target_auxv_value(t, AT_SYSINFO_EHDR, &found);
	if (!found || !base)
		return NULL;
	memory_image *image = malloc(sizeof(*image));
	if (!image)
		return mp_error_nomem();
	image->phnum = 0;
	image->build_id_size = 0;
	if (!read_memory_image(t, base, image)) {
		free(image);
		return NULL;
	}
	bool have_load;
	uint64_t page = first_load_page(image->phdrs, image->phnum, &have_load);
	mp_module *m = new_module(t, "[vdso]", base - page);
	if (!m) {
		free(image);
		return mp_error_nomem();
	}
	read_memory_build_id(t, m->load_bias, image);
	set_loaded_build_id(m, image);
	set_range_from_phdrs(m, image->phdrs, image->phnum);
	free(image);
	return add_module(t, m);
}

mp_error *mp_modules_discover(mp_target *t)
{
	memory_image *main_image = malloc(sizeof(*main_image));
	if (!main_image)
		return mp_error_nomem();
	main_image->phnum = 0;
	main_image->build_id_size = 0;
	bool have_main;
	mp_error *err = discover_main(t, main_image, &have_main);
	bool walked = false;
	if (!err && have_main)
		err = discover_link_map(t, main_image, t->modules[0]->load_bias,
					&walked);
	free(main_image);
	if (!err)
		err = discover_from_mappings(t);
	if (!err)
		err = discover_vdso(t);
	if (err)
		return err;
	if (!have_main && t->exe_path)
		return mp_error_new(MP_ERR_FORMAT,
				    "cannot place executable %s: the target has no auxiliary vector",
				    t->exe_path);
	for (size_t i = 0; i < t->n_modules; i++)
		mp_debug_file_find(t, t->modules[i]);
	return NULL;
}
