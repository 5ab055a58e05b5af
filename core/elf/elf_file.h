/* A read-only mapped ELF file (executable, shared object, debug file or
 * core) with every header access bounds-checked against the file size, so
 * truncated or hostile files produce errors instead of faults. */
#ifndef MEMPROF_CORE_ELF_FILE_H
#define MEMPROF_CORE_ELF_FILE_H

#include <elf.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "memprof/memprof.h"

typedef struct mp_elf mp_elf;

/* Maps path and checks the ELF identification: 64-bit little-endian x86-64
 * only, anything else is MP_ERR_UNSUPPORTED (32-bit, big-endian, foreign
 * machine) or MP_ERR_FORMAT (not ELF), each naming the file. */
mp_error *mp_elf_open(const char *path, mp_elf **out);
void mp_elf_close(mp_elf *elf);

const char *mp_elf_path(const mp_elf *elf);
size_t mp_elf_size(const mp_elf *elf);
const Elf64_Ehdr *mp_elf_header(const mp_elf *elf);

/* Program headers; the table itself was bounds-checked by mp_elf_open. */
size_t mp_elf_phnum(const mp_elf *elf);
const Elf64_Phdr *mp_elf_phdr(const mp_elf *elf, size_t index);

/* Bytes [offset, offset+size) of the file, or NULL if any lie beyond it. */
const void *mp_elf_bytes(const mp_elf *elf, uint64_t offset, uint64_t size);

/* The section named name with contents in the file, or NULL. */
const Elf64_Shdr *mp_elf_section(const mp_elf *elf, const char *name);

/* Build id from PT_NOTE segments (or note sections), or false. */
bool mp_elf_build_id(const mp_elf *elf, const uint8_t **id, size_t *size);

/* .gnu_debuglink file name and CRC, or NULL. */
const char *mp_elf_debuglink(const mp_elf *elf, uint32_t *crc);
/* .gnu_debugaltlink (dwz): the supplementary file's name and its build
 * id, or NULL. */
const char *mp_elf_debugaltlink(const mp_elf *elf, const uint8_t **build_id,
				size_t *build_id_size);

/* True when the file carries DWARF (.debug_info with contents). */
bool mp_elf_has_debug_info(const mp_elf *elf);

/* Address of the first PT_LOAD minus its file offset, i.e. where file
 * offset 0 would be mapped at load bias 0. */
bool mp_elf_first_load(const mp_elf *elf, const Elf64_Phdr **phdr);

/* Looks up a symbol by name in .symtab, then .dynsym: its link-time value
 * and size.  Linear: meant for a handful of allocator symbols per session. */
bool mp_elf_find_symbol(const mp_elf *elf, const char *name, uint64_t *value,
			uint64_t *size);

/* A global or weak definition of name in one table (SHT_SYMTAB or
 * SHT_DYNSYM): what the dynamic linker or the static link binds calls to. */
bool mp_elf_find_exported_symbol(const mp_elf *elf, unsigned table,
				 const char *name, uint64_t *value, uint64_t *size);

/* Name of an e_machine value for error messages ("aarch64"). */
const char *mp_elf_machine_name(unsigned machine);

/* CRC-32 as .gnu_debuglink uses it (the zlib/IEEE polynomial). */
uint32_t mp_crc32(uint32_t crc, const void *data, size_t size);

#endif
