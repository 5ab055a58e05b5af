#include "elf_file.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "notes.h"

struct mp_elf {
	char *path;
	const uint8_t *data;
	size_t size;
	const Elf64_Ehdr *header;
	const Elf64_Phdr *phdrs;
	size_t phnum;
	const Elf64_Shdr *shdrs;   /* NULL when the table is missing or cut */
	size_t shnum;
	const char *shstrtab;
	size_t shstrtab_size;
};

const char *mp_elf_machine_name(unsigned machine)
{
	switch (machine) {
	case EM_X86_64: return "x86-64";
	case EM_386: return "i386";
	case EM_AARCH64: return "aarch64";
	case EM_ARM: return "arm";
	case EM_RISCV: return "riscv";
	case EM_PPC64: return "ppc64";
	case EM_PPC: return "ppc";
	case EM_S390: return "s390";
	case EM_MIPS: return "mips";
	case EM_LOONGARCH: return "loongarch";
	case EM_SPARCV9: return "sparc64";
	default: return "unknown";
	}
}

static mp_error *check_identification(const char *path, const uint8_t *data,
				      size_t size)
{
	if (size < EI_NIDENT || memcmp(data, ELFMAG, SELFMAG) != 0)
		return mp_error_new(MP_ERR_FORMAT, "%s: not an ELF file", path);
	if (data[EI_CLASS] == ELFCLASS32)
		return mp_error_new(MP_ERR_UNSUPPORTED,
				    "%s: 32-bit ELF is not supported (memprof reads 64-bit x86-64 programs)",
				    path);
	if (data[EI_CLASS] != ELFCLASS64)
		return mp_error_new(MP_ERR_FORMAT, "%s: invalid ELF class %u",
				    path, data[EI_CLASS]);
	if (data[EI_DATA] != ELFDATA2LSB)
		return mp_error_new(MP_ERR_UNSUPPORTED,
				    "%s: big-endian ELF is not supported", path);
	if (size < sizeof(Elf64_Ehdr))
		return mp_error_new(MP_ERR_FORMAT,
				    "%s: truncated ELF header (%zu of %zu bytes)",
				    path, size, sizeof(Elf64_Ehdr));
	const Elf64_Ehdr *header = (const Elf64_Ehdr *)data;
	if (header->e_machine != EM_X86_64)
		return mp_error_new(MP_ERR_UNSUPPORTED,
				    "%s: ELF for %s (e_machine %u) is not supported; memprof reads x86-64 programs",
				    path, mp_elf_machine_name(header->e_machine),
				    header->e_machine);
	return NULL;
}

const void *mp_elf_bytes(const mp_elf *elf, uint64_t offset, uint64_t size)
{
	if (offset > elf->size || size > elf->size - offset)
		return NULL;
	return elf->data + offset;
}

static mp_error *load_tables(mp_elf *elf)
{
	const Elf64_Ehdr *h = elf->header;
	if (h->e_phnum) {
		if (h->e_phentsize != sizeof(Elf64_Phdr))
			return mp_error_new(MP_ERR_FORMAT,
					    "%s: unexpected program header size %u",
					    elf->path, h->e_phentsize);
		/* Headers are read in place, so they must be aligned; every
		 * producer aligns them, so a misaligned table is corrupt. */
		if (h->e_phoff % 8)
			return mp_error_new(MP_ERR_FORMAT,
					    "%s: program headers at misaligned offset %#llx: corrupt ELF header",
					    elf->path, (unsigned long long)h->e_phoff);
		elf->phdrs = mp_elf_bytes(elf, h->e_phoff,
					  (uint64_t)h->e_phnum * sizeof(Elf64_Phdr));
		if (!elf->phdrs)
			return mp_error_new(MP_ERR_FORMAT,
					    "%s: program headers at offset %#llx lie beyond the end of the file (%zu bytes): file truncated",
					    elf->path, (unsigned long long)h->e_phoff,
					    elf->size);
		elf->phnum = h->e_phnum;
	}
	/* Section headers are optional (cores have none); a bad table is
	 * ignored rather than fatal since segments carry what cores need. */
	if (h->e_shnum && h->e_shentsize == sizeof(Elf64_Shdr) && h->e_shoff % 8 == 0) {
		elf->shdrs = mp_elf_bytes(elf, h->e_shoff,
					  (uint64_t)h->e_shnum * sizeof(Elf64_Shdr));
		if (elf->shdrs) {
			elf->shnum = h->e_shnum;
			if (h->e_shstrndx < elf->shnum) {
				const Elf64_Shdr *s = &elf->shdrs[h->e_shstrndx];
				elf->shstrtab = mp_elf_bytes(elf, s->sh_offset, s->sh_size);
				if (elf->shstrtab)
					elf->shstrtab_size = s->sh_size;
			}
		}
	}
	return NULL;
}

mp_error *mp_elf_open(const char *path, mp_elf **out)
{
	*out = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return mp_error_with_path(mp_error_errno(errno, "cannot open %s", path), path);
	struct stat st;
	if (fstat(fd, &st) < 0) {
		int saved = errno;
		close(fd);
		return mp_error_errno(saved, "cannot stat %s", path);
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return mp_error_new(MP_ERR_FORMAT, "%s: not a regular file", path);
	}
	if (st.st_size == 0) {
		close(fd);
		return mp_error_new(MP_ERR_FORMAT, "%s: empty file, not ELF", path);
	}
	void *data = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	int saved = errno;
	close(fd);
	if (data == MAP_FAILED)
		return mp_error_errno(saved, "cannot map %s", path);

	mp_error *err = check_identification(path, data, (size_t)st.st_size);
	if (err) {
		munmap(data, (size_t)st.st_size);
		return err;
	}
	mp_elf *elf = calloc(1, sizeof(*elf));
	if (!elf || !(elf->path = strdup(path))) {
		free(elf);
		munmap(data, (size_t)st.st_size);
		return mp_error_nomem();
	}
	elf->data = data;
	elf->size = (size_t)st.st_size;
	elf->header = data;
	err = load_tables(elf);
	if (err) {
		mp_elf_close(elf);
		return err;
	}
	*out = elf;
	return NULL;
}

void mp_elf_close(mp_elf *elf)
{
	if (!elf)
		return;
	munmap((void *)elf->data, elf->size);
	free(elf->path);
	free(elf);
}

const char *mp_elf_path(const mp_elf *elf) { return elf->path; }
size_t mp_elf_size(const mp_elf *elf) { return elf->size; }
const Elf64_Ehdr *mp_elf_header(const mp_elf *elf) { return elf->header; }
size_t mp_elf_phnum(const mp_elf *elf) { return elf->phnum; }

const Elf64_Phdr *mp_elf_phdr(const mp_elf *elf, size_t index)
{
	return index < elf->phnum ? &elf->phdrs[index] : NULL;
}

const Elf64_Shdr *mp_elf_section(const mp_elf *elf, const char *name)
{
	if (!elf->shstrtab)
		return NULL;
	size_t length = strlen(name);
	for (size_t i = 0; i < elf->shnum; i++) {
		const Elf64_Shdr *s = &elf->shdrs[i];
		if (s->sh_name >= elf->shstrtab_size ||
		    elf->shstrtab_size - s->sh_name <= length)
			continue;
		if (memcmp(elf->shstrtab + s->sh_name, name, length + 1) == 0)
			return s;
	}
	return NULL;
}

bool mp_elf_build_id(const mp_elf *elf, const uint8_t **id, size_t *size)
{
	for (size_t i = 0; i < elf->phnum; i++) {
		const Elf64_Phdr *p = &elf->phdrs[i];
		if (p->p_type != PT_NOTE)
			continue;
		const void *notes = mp_elf_bytes(elf, p->p_offset, p->p_filesz);
		if (notes && mp_notes_find_build_id(notes, p->p_filesz,
						    p->p_align, id, size))
			return true;
	}
	/* Separate debug files keep the note as a section only. */
	for (size_t i = 0; i < elf->shnum; i++) {
		const Elf64_Shdr *s = &elf->shdrs[i];
		if (s->sh_type != SHT_NOTE)
			continue;
		const void *notes = mp_elf_bytes(elf, s->sh_offset, s->sh_size);
		if (notes && mp_notes_find_build_id(notes, s->sh_size,
						    s->sh_addralign, id, size))
			return true;
	}
	return false;
}

/* A debug link section's bytes (a file name, NUL, then what follows it)
 * and the name's length; NULL when absent or unreadable. */
static const char *link_section(const mp_elf *elf, const char *name, uint64_t *size,
				size_t *length)
{
	const Elf64_Shdr *s = mp_elf_section(elf, name);
	if (!s || s->sh_type == SHT_NOBITS)
		return NULL;
	const char *data = mp_elf_bytes(elf, s->sh_offset, s->sh_size);
	if (!data)
		return NULL;
	*size = s->sh_size;
	*length = strnlen(data, s->sh_size);
	return data;
}

const char *mp_elf_debuglink(const mp_elf *elf, uint32_t *crc)
{
	uint64_t size;
	size_t length;
	const char *data = link_section(elf, ".gnu_debuglink", &size, &length);
	if (!data)
		return NULL;
	/* name, NUL, padding to 4, then the 4-byte CRC */
	size_t crc_at = (length + 1 + 3) & ~(size_t)3;
	if (length == 0 || crc_at + 4 > size)
		return NULL;
	memcpy(crc, data + crc_at, 4);
	return data;
}

const char *mp_elf_debugaltlink(const mp_elf *elf, const uint8_t **build_id,
				size_t *build_id_size)
{
	uint64_t size;
	size_t length;
	const char *data = link_section(elf, ".gnu_debugaltlink", &size, &length);
	if (!data)
		return NULL;
	/* name, NUL, then the build id to the end of the section */
	if (length == 0 || length + 1 >= size)
		return NULL;
	*build_id = (const uint8_t *)data + length + 1;
	*build_id_size = size - length - 1;
	return data;
}

bool mp_elf_has_debug_info(const mp_elf *elf)
{
	/* .zdebug_info: the GNU compressed form older toolchains made
	 * (gcc -gz=zlib-gnu). */
	const Elf64_Shdr *s = mp_elf_section(elf, ".debug_info");
	if (!s)
		s = mp_elf_section(elf, ".zdebug_info");
	return s && s->sh_type != SHT_NOBITS && s->sh_size > 0 &&
	       mp_elf_bytes(elf, s->sh_offset, s->sh_size) != NULL;
}

/* exported: only what another object can bind to (global or weak, not
 * hidden or internal), as when asking which module's malloc a call reaches. */
static bool find_in_table(const mp_elf *elf, unsigned type, const char *name,
			  bool exported, uint64_t *value, uint64_t *size)
{
	size_t length = strlen(name);
	for (size_t i = 0; i < elf->shnum; i++) {
		const Elf64_Shdr *table = &elf->shdrs[i];
		if (table->sh_type != type || table->sh_entsize != sizeof(Elf64_Sym) ||
		    table->sh_link >= elf->shnum)
			continue;
		const Elf64_Shdr *strtab = &elf->shdrs[table->sh_link];
		const Elf64_Sym *syms = mp_elf_bytes(elf, table->sh_offset, table->sh_size);
		const char *strings = mp_elf_bytes(elf, strtab->sh_offset, strtab->sh_size);
		if (!syms || !strings || table->sh_offset % 8)
			continue;
		size_t count = table->sh_size / sizeof(Elf64_Sym);
		for (size_t k = 0; k < count; k++) {
			uint32_t at = syms[k].st_name;
			if (at >= strtab->sh_size || strtab->sh_size - at <= length ||
			    memcmp(strings + at, name, length + 1) != 0 ||
			    syms[k].st_shndx == SHN_UNDEF)
				continue;
			if (exported &&
			    (ELF64_ST_BIND(syms[k].st_info) == STB_LOCAL ||
			     ELF64_ST_VISIBILITY(syms[k].st_other) == STV_HIDDEN ||
			     ELF64_ST_VISIBILITY(syms[k].st_other) == STV_INTERNAL))
				continue;
			*value = syms[k].st_value;
			*size = syms[k].st_size;
			return true;
		}
	}
	return false;
}

bool mp_elf_find_symbol(const mp_elf *elf, const char *name, uint64_t *value,
			uint64_t *size)
{
	return find_in_table(elf, SHT_SYMTAB, name, false, value, size) ||
	       find_in_table(elf, SHT_DYNSYM, name, false, value, size);
}

bool mp_elf_find_exported_symbol(const mp_elf *elf, unsigned table,
				 const char *name, uint64_t *value, uint64_t *size)
{
	return find_in_table(elf, table, name, true, value, size);
}

bool mp_elf_first_load(const mp_elf *elf, const Elf64_Phdr **phdr)
{
	for (size_t i = 0; i < elf->phnum; i++) {
		if (elf->phdrs[i].p_type == PT_LOAD) {
			*phdr = &elf->phdrs[i];
			return true;
		}
	}
	return false;
}

uint32_t mp_crc32(uint32_t crc, const void *data, size_t size)
{
	/* Built per call: cheap next to hashing a whole debug file, and free
	 * of shared state between threads. */
	uint32_t table[256];
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
		table[i] = c;
	}
	const uint8_t *bytes = data;
	crc = ~crc;
	for (size_t i = 0; i < size; i++)
		crc = table[(crc ^ bytes[i]) & 0xff] ^ (crc >> 8);
	return ~crc;
}
