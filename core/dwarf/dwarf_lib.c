/* libdwarf behind mp_dw (see dwarf_lib.h).  With dwarf_scopes.c, the only
 * file that includes libdwarf.h (through dwarf_lib_internal.h).  Written
 * for libdwarf 20210528 (Debian 12) and, guarded by
 * DW_LIBDWARF_VERSION_MAJOR, for the 0.x and 2.x releases whose init,
 * CU-iteration and sibling calls changed signature. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>

#include "die_scanner.h"
#include "dwarf_lib_internal.h"
#include "elf/elf_file.h"
#include "error.h"
#include "progress.h"

enum { MAX_WALK_DEPTH = 64 };

/* ------------------------------------------------------ version shims */


static int shim_init(int fd, Dwarf_Debug *dbg, Dwarf_Error *err)
{
#if MP_DW_NEW_API
	return dwarf_init_b(fd, DW_GROUPNUMBER_ANY, NULL, NULL, dbg, err);
#else
	return dwarf_init_b(fd, DW_DLC_READ, DW_GROUPNUMBER_ANY, NULL, NULL, dbg,
			    err);
#endif
}

static void shim_finish(Dwarf_Debug dbg)
{
#if MP_DW_NEW_API
	dwarf_finish(dbg);
#else
	Dwarf_Error err = NULL;
	dwarf_finish(dbg, &err);
#endif
}

/* Advances to the next CU of .debug_info; *cu_die is its unit DIE. */
int mp_dwi_shim_next_cu(Dwarf_Debug dbg, Dwarf_Bool is_info, Dwarf_Die *cu_die,
			Dwarf_Error *err)
{
	Dwarf_Unsigned header_length = 0, type_offset = 0, next = 0;
	Dwarf_Half version = 0, address_size = 0, length_size = 0;
	Dwarf_Half extension_size = 0, header_type = 0;
	Dwarf_Off abbrev_offset = 0;
	Dwarf_Sig8 signature;
#if MP_DW_NEW_API && DW_LIBDWARF_VERSION_MAJOR >= 1
	return dwarf_next_cu_header_e(dbg, is_info, cu_die, &header_length, &version,
				      &abbrev_offset, &address_size,
				      &length_size, &extension_size,
				      &signature, &type_offset, &next,
				      &header_type, err);
#else
	int rc = dwarf_next_cu_header_d(dbg, is_info, &header_length, &version,
					&abbrev_offset, &address_size,
					&length_size, &extension_size,
					&signature, &type_offset, &next,
					&header_type, err);
	if (rc != DW_DLV_OK)
		return rc;
	return dwarf_siblingof_b(dbg, NULL, is_info, cu_die, err);
#endif
}

static int shim_sibling(Dwarf_Debug dbg, Dwarf_Die die, Dwarf_Die *out,
			Dwarf_Error *err)
{
#if MP_DW_NEW_API && DW_LIBDWARF_VERSION_MAJOR >= 1
	(void)dbg;
	return dwarf_siblingof_c(die, out, err);
#else
	/* a DWARF 4 type unit's DIEs lie in .debug_types */
	return dwarf_siblingof_b(dbg, die, dwarf_get_die_infotypes_flag(die), out, err);
#endif
}

/* The next sibling of die, which must lie after it: DIEs come in file
 * order, and libdwarf follows DW_AT_sibling when a DIE has one, so a
 * sibling attribute that points back made the index walk loop forever
 * (found by fuzz_elf).  Such a sibling is DW_DLV_ERROR with *backwards set
 * and no libdwarf error. */
int mp_dwi_next_sibling(Dwarf_Debug dbg, Dwarf_Die die, Dwarf_Die *out,
			Dwarf_Error *err, bool *backwards)
{
	*backwards = false;
	int rc = shim_sibling(dbg, die, out, err);
	if (rc != DW_DLV_OK)
		return rc;
	Dwarf_Off here = 0, next = 0;
	Dwarf_Error local = NULL;
	if (dwarf_dieoffset(die, &here, &local) != DW_DLV_OK ||
	    dwarf_dieoffset(*out, &next, &local) != DW_DLV_OK || next <= here) {
		if (local)
			dwarf_dealloc_error(dbg, local);
		dwarf_dealloc_die(*out);
		*out = NULL;
		*backwards = true;
		return DW_DLV_ERROR;
	}
	return DW_DLV_OK;
}

void mp_dwi_free_attr(Dwarf_Debug dbg, Dwarf_Attribute attr)
{
	(void)dbg;
	dwarf_dealloc_attribute(attr);
}

/* ------------------------------------------------ compressed sections */

/* zlib data of a compressed section inflated into a new buffer of exactly
 * plain_size bytes.  False for anything libdwarf would refuse too: nothing
 * to inflate, a claimed size more than MAX_ZLIB_INFLATION times the packed
 * bytes (a corrupt header must not make memprof allocate gigabytes), data
 * that does not inflate to exactly that size. */
enum { MAX_ZLIB_INFLATION = 16 };   /* libdwarf's own sanity limit */

static bool zlib_inflate(const uint8_t *packed, uint64_t packed_size,
			 uint64_t plain_size, unsigned char **out)
{
	if (plain_size == 0 || plain_size / MAX_ZLIB_INFLATION > packed_size ||
	    plain_size > (uint64_t)UINT32_MAX)
		return false;
	unsigned char *plain = malloc(plain_size);
	if (!plain)
		return false;
	uLongf length = (uLongf)plain_size;
	if (uncompress(plain, &length, packed, (uLong)packed_size) != Z_OK ||
	    length != plain_size) {
		free(plain);
		return false;
	}
	*out = plain;
	return true;
}

/* ------------------------------------------------- zero-copy sections */

#if !MP_DW_NEW_API
/* The compression header of an SHF_COMPRESSED section, copied into *out
 * (a section may start at any offset, so it is not read in place); false
 * when the section has none. */
static bool compression_header(const mp_dw *dw, const Elf64_Shdr *sh, Elf64_Chdr *out)
{
	if (!(sh->sh_flags & SHF_COMPRESSED) || sh->sh_type == SHT_NOBITS ||
	    sh->sh_size < sizeof(Elf64_Chdr))
		return false;
	const void *bytes = mp_elf_bytes(dw->elf, sh->sh_offset, sizeof(Elf64_Chdr));
	if (!bytes)
		return false;
	memcpy(out, bytes, sizeof(*out));
	return true;
}

/* A section's name, or "" when it does not end inside .shstrtab: libdwarf
 * and the checks below read names as C strings. */
static const char *section_name(const mp_dw *dw, const Elf64_Shdr *sh)
{
	if (sh->sh_name >= dw->shstrtab_size ||
	    !memchr(dw->shstrtab + sh->sh_name, '\0', dw->shstrtab_size - sh->sh_name))
		return "";
	return dw->shstrtab + sh->sh_name;
}

/* Inflates a compressed section, once, into memory dw owns.  libdwarf
 * reports any error code as a corrupt section, which is what a failed
 * inflate is. */
static int inflate_section(mp_dw *dw, Dwarf_Half index, const Elf64_Chdr *chdr,
			   Dwarf_Small **data, int *error)
{
	const Elf64_Shdr *sh = &dw->shdrs[index];
	const unsigned char *packed = mp_elf_bytes(dw->elf, sh->sh_offset, sh->sh_size);
	if (!packed || chdr->ch_type != ELFCOMPRESS_ZLIB) {
		*error = DW_DLE_ZLIB_SECTION_SHORT;
		return DW_DLV_ERROR;
	}
	if (!dw->inflated) {
		dw->inflated = calloc(dw->n_shdrs, sizeof(*dw->inflated));
		if (!dw->inflated) {
			*error = DW_DLE_ALLOC_FAIL;
			return DW_DLV_ERROR;
		}
	}
	if (!dw->inflated[index] &&
	    !zlib_inflate(packed + sizeof(*chdr), sh->sh_size - sizeof(*chdr),
			  chdr->ch_size, &dw->inflated[index])) {
		*error = DW_DLE_ZLIB_UNCOMPRESS_ERROR;
		return DW_DLV_ERROR;
	}
	*data = dw->inflated[index];
	return DW_DLV_OK;
}

static int obj_section_info(void *obj, Dwarf_Half index,
			    Dwarf_Obj_Access_Section *out, int *error)
{
	mp_dw *dw = obj;
	(void)error;
	if (index >= dw->n_shdrs)
		return DW_DLV_NO_ENTRY;
	const Elf64_Shdr *sh = &dw->shdrs[index];
	memset(out, 0, sizeof(*out));
	out->addr = sh->sh_addr;
	out->type = sh->sh_type;
	out->size = sh->sh_type == SHT_NOBITS ? 0 : sh->sh_size;
	Elf64_Chdr chdr;
	if (compression_header(dw, sh, &chdr))
		out->size = chdr.ch_size;
	out->name = section_name(dw, sh);
	out->link = sh->sh_link;
	out->info = sh->sh_info;
	out->entrysize = sh->sh_entsize;
	return DW_DLV_OK;
}

static Dwarf_Endianness obj_byte_order(void *obj)
{
	(void)obj;
	return DW_OBJECT_LSB;
}

static Dwarf_Small obj_length_size(void *obj)
{
	(void)obj;
	return 4;
}

static Dwarf_Small obj_pointer_size(void *obj)
{
	(void)obj;
	return 8;
}

static Dwarf_Unsigned obj_section_count(void *obj)
{
	return ((mp_dw *)obj)->n_shdrs;
}

static int obj_load_section(void *obj, Dwarf_Half index, Dwarf_Small **data,
			    int *error)
{
	mp_dw *dw = obj;
	if (index >= dw->n_shdrs)
		return DW_DLV_NO_ENTRY;
	const Elf64_Shdr *sh = &dw->shdrs[index];
	if (sh->sh_type == SHT_NOBITS || sh->sh_size == 0)
		return DW_DLV_NO_ENTRY;
	Elf64_Chdr chdr;
	if (compression_header(dw, sh, &chdr))
		return inflate_section(dw, index, &chdr, data, error);
	const void *bytes = mp_elf_bytes(dw->elf, sh->sh_offset, sh->sh_size);
	if (!bytes) {
		*error = DW_DLE_SECTION_SIZE_OR_OFFSET_LARGE;
		return DW_DLV_ERROR;
	}
	/* libdwarf only reads executables' sections (no relocation). */
	*data = (Dwarf_Small *)(uintptr_t)bytes;
	return DW_DLV_OK;
}

static const Dwarf_Obj_Access_Methods obj_methods = {
	.get_section_info = obj_section_info,
	.get_byte_order = obj_byte_order,
	.get_length_size = obj_length_size,
	.get_pointer_size = obj_pointer_size,
	.get_section_count = obj_section_count,
	.load_section = obj_load_section,
	.relocate_a_section = NULL,
};

/* libdwarf 20210528's own ELF reader (dwarf_init_b) installs a process-wide
 * hook, _dwarf_get_elf_flags_func_ptr, that it never clears, and every later
 * dwarf_object_init_b calls that hook with our object as if it were the
 * reader's: a wild read that crashed the debugger on the command after any
 * command that fell back to dwarf_init_b.  So once this process has used the
 * reader, every later file goes through it too. */
static bool elf_reader_used;

/* Maps path and checks it suits in-place reading: an executable or shared
 * object (no relocations to apply) without legacy .zdebug sections.  False
 * leaves the file-descriptor path to libdwarf. */
static bool obj_prepare(mp_dw *dw, const char *path)
{
	mp_error *e = mp_elf_open(path, &dw->elf);
	if (e) {
		mp_error_free(e);
		return false;
	}
	const Elf64_Ehdr *eh = mp_elf_header(dw->elf);
	if ((eh->e_type != ET_EXEC && eh->e_type != ET_DYN) || eh->e_shnum == 0 ||
	    eh->e_shentsize != sizeof(Elf64_Shdr) || eh->e_shstrndx >= eh->e_shnum)
		return false;
	dw->shdrs = mp_elf_bytes(dw->elf, eh->e_shoff, (uint64_t)eh->e_shnum * sizeof(Elf64_Shdr));
	if (!dw->shdrs || eh->e_shoff % 8)
		return false;
	dw->n_shdrs = eh->e_shnum;
	const Elf64_Shdr *strs = &dw->shdrs[eh->e_shstrndx];
	dw->shstrtab = mp_elf_bytes(dw->elf, strs->sh_offset, strs->sh_size);
	dw->shstrtab_size = strs->sh_size;
	if (!dw->shstrtab)
		return false;
	for (size_t i = 0; i < dw->n_shdrs; i++) {
		const Elf64_Shdr *sh = &dw->shdrs[i];
		const char *name = section_name(dw, sh);
		if (strncmp(name, ".zdebug", 7) == 0)
			return false;
		Elf64_Chdr chdr;
		if (strncmp(name, ".debug", 6) == 0 && compression_header(dw, sh, &chdr) &&
		    chdr.ch_type != ELFCOMPRESS_ZLIB)
			return false;
		if (sh->sh_type == SHT_RELA && strncmp(name, ".rela.debug", 11) == 0)
			return false;
	}
	return true;
}
#endif

/* --------------------------------------------- range list headers */

/* libdwarf 20210528 loads .debug_rnglists whenever it loads .debug_info,
 * and when it cannot read a unit header there it frees that unit's record
 * and goes on using it (internal_load_rnglists_contexts lacks a return
 * after the error): a double free on the first type lookup, found by
 * fuzz_elf.  So before libdwarf sees a file (memprof reads range lists only
 * for frame variables, dwarf_scopes.c) its range list headers are read the
 * way libdwarf reads them, and a file libdwarf would fail on is refused. */

/* A section's bytes as libdwarf loads them: in place, or inflated into
 * *owned (SHF_COMPRESSED, or .zdebug's "ZLIB" header).  False when there
 * is nothing libdwarf could parse (empty, outside the file, not
 * inflatable: libdwarf's load fails first). */
static bool section_as_loaded(const mp_elf *elf, const Elf64_Shdr *sh, bool zdebug,
			      const uint8_t **data, uint64_t *size, unsigned char **owned)
{
	*owned = NULL;
	if (sh->sh_type == SHT_NOBITS || sh->sh_type == SHT_NULL || sh->sh_size == 0)
		return false;
	const uint8_t *raw = mp_elf_bytes(elf, sh->sh_offset, sh->sh_size);
	if (!raw)
		return false;
	if (!zdebug && !(sh->sh_flags & SHF_COMPRESSED)) {
		*data = raw;
		*size = sh->sh_size;
		return true;
	}
	uint64_t header, plain = 0;
	if (sh->sh_size >= 12 && memcmp(raw, "ZLIB", 4) == 0) {
		header = 12;
		for (int i = 4; i < 12; i++)
			plain = plain << 8 | raw[i];
	} else if ((sh->sh_flags & SHF_COMPRESSED) && sh->sh_size >= sizeof(Elf64_Chdr)) {
		Elf64_Chdr chdr;
		memcpy(&chdr, raw, sizeof(chdr));
		if (chdr.ch_type != ELFCOMPRESS_ZLIB)
			return false;
		header = sizeof(chdr);
		plain = chdr.ch_size;
	} else {
		return false;
	}
	unsigned char *out;
	if (!zlib_inflate(raw + header, sh->sh_size - header, plain, &out))
		return false;
	*owned = out;
	*data = out;
	*size = plain;
	return true;
}

/* Offset of the first unit header of a .debug_rnglists that libdwarf
 * 20210528 cannot read (_dwarf_internal_read_rnglists_header), or -1. */
static int64_t bad_rnglists_header(const uint8_t *data, uint64_t size)
{
	uint64_t offset = 0;
	while (offset < size) {
		const uint8_t *p = data + offset;
		uint64_t left = size - offset, length, at = 4, next;
		uint32_t length32;
		if (left < 4)
			return (int64_t)offset;
		memcpy(&length32, p, 4);
		length = length32;
		if (length32 == 0xffffffffu) {
			if (left < 12)
				return (int64_t)offset;
			memcpy(&length, p + 4, 8);
			at = 12;
		}
		/* version, address_size, segment_selector_size, offset count */
		if (length > size || left - at < 8 || (p[at] | p[at + 1] << 8) != 5 ||
		    (p[at + 2] != 2 && p[at + 2] != 4 && p[at + 2] != 8))
			return (int64_t)offset;
		next = offset + at + length;
		if (next <= offset)
			return (int64_t)offset;
		offset = next;
	}
	return -1;
}

static bool section_name_starts(const char *names, uint64_t names_size, uint32_t at,
				const char *prefix)
{
	size_t n = strlen(prefix);
	return at < names_size && names_size - at >= n && memcmp(names + at, prefix, n) == 0;
}

/* The section headers and their names, as the checks below walk them;
 * false when the file has no table they can trust (libdwarf then finds no
 * sections either). */
typedef struct section_table {
	const Elf64_Shdr *headers;
	size_t count;
	const Elf64_Shdr *names_header;
	const char *names;
} section_table;

static bool section_table_of(const mp_elf *elf, section_table *out)
{
	const Elf64_Ehdr *eh = mp_elf_header(elf);
	if (eh->e_shentsize != sizeof(Elf64_Shdr) || eh->e_shoff % 8 ||
	    eh->e_shstrndx >= eh->e_shnum)
		return false;
	out->headers = mp_elf_bytes(elf, eh->e_shoff, (uint64_t)eh->e_shnum * sizeof(Elf64_Shdr));
	if (!out->headers)
		return false;
	out->count = eh->e_shnum;
	out->names_header = &out->headers[eh->e_shstrndx];
	out->names = mp_elf_bytes(elf, out->names_header->sh_offset, out->names_header->sh_size);
	return out->names != NULL;
}

/* NULL when libdwarf can be given the file, else why not. */
static mp_error *check_rnglists(const mp_dw *dw, const mp_elf *elf)
{
	section_table table;
	if (!section_table_of(elf, &table))
		return NULL;
	const Elf64_Shdr *strs = table.names_header;
	const char *names = table.names;
	for (size_t i = 0; i < table.count; i++) {
		const Elf64_Shdr *sh = &table.headers[i];
		bool zdebug = section_name_starts(names, strs->sh_size, sh->sh_name, ".zdebug_rnglists");
		if (!zdebug && !section_name_starts(names, strs->sh_size, sh->sh_name, ".debug_rnglists"))
			continue;
		const uint8_t *data;
		uint64_t size;
		unsigned char *owned;
		if (!section_as_loaded(elf, sh, zdebug, &data, &size, &owned))
			continue;
		int64_t bad = bad_rnglists_header(data, size);
		free(owned);
		if (bad >= 0)
			return mp_error_new(MP_ERR_FORMAT,
					    "%s: corrupt DWARF: the range list header at .debug_rnglists offset 0x%llx is unreadable (libdwarf would crash on it)",
					    dw->label, (unsigned long long)bad);
	}
	return NULL;
}

/* NULL unless a .debug section is compressed other than with zlib: zstd
 * (ELFCOMPRESS_ZSTD, -gz=zstd with GCC 13+), which neither memprof nor
 * libdwarf 20210528 inflates and which libdwarf reports as an odd
 * .zdebug format.  Said plainly, with the way out. */
static mp_error *check_compression(const mp_dw *dw, const mp_elf *elf)
{
	section_table table;
	if (!section_table_of(elf, &table))
		return NULL;
	const Elf64_Shdr *strs = table.names_header;
	const char *names = table.names;
	for (size_t i = 0; i < table.count; i++) {
		const Elf64_Shdr *sh = &table.headers[i];
		if (!(sh->sh_flags & SHF_COMPRESSED) || sh->sh_type == SHT_NOBITS ||
		    sh->sh_size < sizeof(Elf64_Chdr) ||
		    !section_name_starts(names, strs->sh_size, sh->sh_name, ".debug"))
			continue;
		const void *bytes = mp_elf_bytes(elf, sh->sh_offset, sizeof(Elf64_Chdr));
		Elf64_Chdr chdr;
		if (!bytes)
			continue;
		memcpy(&chdr, bytes, sizeof(chdr));
		if (chdr.ch_type == ELFCOMPRESS_ZLIB)
			continue;
		return mp_error_new(MP_ERR_FORMAT,
				    "%s: debug section %.64s is compressed with %s (ELF compression type %u), which memprof cannot read: decompress it (objcopy --decompress-debug-sections) or build with -gz=zlib",
				    dw->label,
				    memchr(names + sh->sh_name, '\0', strs->sh_size - sh->sh_name)
					    ? names + sh->sh_name : ".debug?",
				    chdr.ch_type == 2 ? "zstd" : "an unknown method",
				    (unsigned)chdr.ch_type);
	}
	return NULL;
}

/* ------------------------------------------------------------ errors */

mp_error *mp_dwi_dw_error(mp_dw *dw, Dwarf_Error err, uint64_t offset,
			  const char *what)
{
	const char *message = err ? dwarf_errmsg(err) : "no entry";
	mp_error *e = mp_error_new(MP_ERR_FORMAT,
				   "%s: corrupt DWARF at .debug_info offset 0x%llx (%s): %s",
				   dw->label, (unsigned long long)offset, what,
				   message ? message : "unknown libdwarf error");
	if (err)
		dwarf_dealloc_error(dw->dbg, err);
	return e;
}

static mp_error *sibling_loop_error(const mp_dw *dw, uint64_t offset)
{
	return mp_error_new(MP_ERR_FORMAT,
			    "%s: corrupt DWARF at .debug_info offset 0x%llx: its next sibling does not come after it",
			    dw->label, (unsigned long long)offset);
}

mp_error *mp_dw_open(const char *path, const char *label, mp_dw **out)
{
	*out = NULL;
	mp_dw *dw = calloc(1, sizeof(*dw));
	if (!dw)
		return mp_error_nomem();
	dw->fd = -1;
	dw->label = strdup(label ? label : path);
	dw->path = strdup(path);
	if (!dw->label || !dw->path) {
		free(dw->label);
		free(dw->path);
		free(dw);
		return mp_error_nomem();
	}
	dw->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (dw->fd < 0) {
		mp_error *e = mp_error_errno(errno, "%s: cannot open debug file %s",
					     dw->label, path);
		mp_dw_close(dw);
		return e;
	}
	mp_elf *elf = NULL;
	mp_error *e = mp_elf_open(path, &elf);
	if (!e)
		e = check_rnglists(dw, elf);
	if (!e)
		e = check_compression(dw, elf);
	if (!e)
		dw->type_units = mp_elf_section(elf, ".debug_types") ||
				 mp_elf_section(elf, ".zdebug_types");
	mp_elf_close(elf);
	if (e) {
		mp_dw_close(dw);
		return e;
	}
	Dwarf_Error err = NULL;
	/* Every DIE, attribute, list and error is freed here as soon as it
	 * is used, so libdwarf's own tracking of them (a hash table of every
	 * allocation, to free at dwarf_finish) only costs time and memory. */
	dwarf_set_de_alloc_flag(0);
	int rc = DW_DLV_NO_ENTRY;
#if !MP_DW_NEW_API
	if (!elf_reader_used && obj_prepare(dw, path)) {
		dw->object.object = dw;
		dw->object.methods = &obj_methods;
		rc = dwarf_object_init_b(&dw->object, NULL, NULL, DW_GROUPNUMBER_ANY,
					 &dw->dbg, &err);
		dw->object_init = rc == DW_DLV_OK;
		if (rc == DW_DLV_ERROR && err) {
			dwarf_dealloc_error(NULL, err);
			err = NULL;
		}
		if (rc != DW_DLV_OK)
			dw->dbg = NULL;
	}
	if (!dw->object_init) {
		elf_reader_used = true;
		rc = shim_init(dw->fd, &dw->dbg, &err);
	}
#else
	rc = shim_init(dw->fd, &dw->dbg, &err);
#endif
	if (rc != DW_DLV_OK) {
		mp_error *e;
		if (rc == DW_DLV_NO_ENTRY) {
			e = mp_error_new(MP_ERR_NOT_FOUND, "%s: no DWARF in %s",
					 dw->label, path);
		} else {
			const char *message = err ? dwarf_errmsg(err) : NULL;
			e = mp_error_new(MP_ERR_FORMAT, "%s: cannot read DWARF of %s: %s",
					 dw->label, path,
					 message ? message : "libdwarf error");
			/* Without a Dwarf_Debug, libdwarf mallocs the error
			 * (or, out of memory, uses a static one) and frees
			 * either kind given a NULL Dwarf_Debug. */
			if (err)
				dwarf_dealloc_error(NULL, err);
		}
		dw->dbg = NULL;
		mp_dw_close(dw);
		return e;
	}
	*out = dw;
	return NULL;
}

void mp_dw_close(mp_dw *dw)
{
	if (!dw)
		return;
	if (dw->dbg && dw->frames_state > 0)
		dwarf_fde_cie_list_dealloc(dw->dbg, dw->cies, dw->n_cies, dw->fdes, dw->n_fdes);
	mp_dwi_scopes_free(dw);
	if (dw->dbg && dw->alt) {
		Dwarf_Error err = NULL;
		if (dwarf_set_tied_dbg(dw->dbg, NULL, &err) == DW_DLV_ERROR)
			dwarf_dealloc_error(dw->dbg, err);
	}
	mp_dw_close(dw->alt);
	for (size_t i = 0; i < dw->n_dwos; i++) {
		Dwarf_Error err = NULL;
		if (dwarf_set_tied_dbg(dw->dwos[i]->dbg, NULL, &err) == DW_DLV_ERROR)
			dwarf_dealloc_error(dw->dwos[i]->dbg, err);
		mp_dw_close(dw->dwos[i]);
	}
	free(dw->dwos);
	if (dw->dbg) {
#if !MP_DW_NEW_API
		if (dw->object_init) {
			Dwarf_Error err = NULL;
			dwarf_object_finish(dw->dbg, &err);
		} else {
			shim_finish(dw->dbg);
		}
#else
		shim_finish(dw->dbg);
#endif
	}
	if (dw->inflated) {
		for (size_t i = 0; i < dw->n_shdrs; i++)
			free(dw->inflated[i]);
		free(dw->inflated);
	}
	mp_elf_close(dw->elf);
	if (dw->fd >= 0)
		close(dw->fd);
	free(dw->label);
	free(dw->path);
	free(dw);
}

/* ------------------------------------------------------- attributes */

bool mp_dwi_form_unsigned(Dwarf_Debug dbg, Dwarf_Attribute attr, uint64_t *value)
{
	Dwarf_Error err = NULL;
	Dwarf_Unsigned u = 0;
	if (dwarf_formudata(attr, &u, &err) == DW_DLV_OK) {
		*value = u;
		return true;
	}
	if (err)
		dwarf_dealloc_error(dbg, err);
	err = NULL;
	Dwarf_Signed s = 0;
	if (dwarf_formsdata(attr, &s, &err) == DW_DLV_OK) {
		*value = (uint64_t)s;
		return true;
	}
	if (err)
		dwarf_dealloc_error(dbg, err);
	return false;
}

/* Width in bytes of a fixed-size data form, 0 for the others. */
static unsigned form_width(Dwarf_Half form)
{
	switch (form) {
	case DW_FORM_data1: return 1;
	case DW_FORM_data2: return 2;
	case DW_FORM_data4: return 4;
	case DW_FORM_data8: return 8;
	default: return 0;
	}
}

static bool form_signed(Dwarf_Debug dbg, Dwarf_Attribute attr, Dwarf_Half form, int64_t *value)
{
	Dwarf_Error err = NULL;
	if (form == DW_FORM_sdata || form == DW_FORM_implicit_const) {
		Dwarf_Signed s = 0;
		if (dwarf_formsdata(attr, &s, &err) == DW_DLV_OK) {
			*value = s;
			return true;
		}
		if (err)
			dwarf_dealloc_error(dbg, err);
		return false;
	}
	uint64_t u;
	if (!mp_dwi_form_unsigned(dbg, attr, &u))
		return false;
	*value = (int64_t)u;
	return true;
}

/* The offset (MP_DW_WHERE bits included) a reference attribute of a DIE
 * that lies where `where` says points at. */
bool mp_dwi_form_ref(Dwarf_Debug dbg, Dwarf_Attribute attr, uint64_t where, uint64_t *offset)
{
	Dwarf_Error err = NULL;
	Dwarf_Half form = 0;
	if (dwarf_whatform(attr, &form, &err) == DW_DLV_OK && form == DW_FORM_ref_sig8) {
		/* A type unit (-fdebug-types-section): DWARF 5 keeps it in
		 * .debug_info, DWARF 4 in .debug_types, of the same file. */
		Dwarf_Sig8 sig;
		Dwarf_Die die = NULL;
		Dwarf_Bool is_info = 0;
		Dwarf_Off off = 0;
		bool ok = dwarf_formsig8(attr, &sig, &err) == DW_DLV_OK &&
			  dwarf_find_die_given_sig8(dbg, &sig, &die, &is_info, &err) == DW_DLV_OK;
		if (ok) {
			ok = dwarf_dieoffset(die, &off, &err) == DW_DLV_OK;
			dwarf_dealloc_die(die);
		}
		if (err)
			dwarf_dealloc_error(dbg, err);
		if (ok)
			*offset = off | (where & ~MP_DW_TYPES) | (is_info ? 0 : MP_DW_TYPES);
		return ok;
	}
	if (err) {
		dwarf_dealloc_error(dbg, err);
		err = NULL;
	}
	Dwarf_Off off = 0;
	if (dwarf_global_formref(attr, &off, &err) == DW_DLV_OK) {
		/* dwz's references into the supplementary file's .debug_info
		 * (libdwarf returns them as they are written). */
		if (form == DW_FORM_GNU_ref_alt || form == DW_FORM_ref_sup4 ||
		    form == DW_FORM_ref_sup8)
			*offset = off | MP_DW_ALT;
		else
			*offset = off | where;
		return true;
	}
	if (err)
		dwarf_dealloc_error(dbg, err);
	return false;
}

static bool form_flag(Dwarf_Debug dbg, Dwarf_Attribute attr)
{
	Dwarf_Error err = NULL;
	Dwarf_Bool flag = 0;
	if (dwarf_formflag(attr, &flag, &err) == DW_DLV_OK)
		return flag != 0;
	if (err)
		dwarf_dealloc_error(dbg, err);
	return false;
}

static uint64_t read_uleb(const uint8_t **p, const uint8_t *end, bool *ok)
{
	uint64_t value = 0;
	unsigned shift = 0;
	while (*p < end) {
		uint8_t byte = *(*p)++;
		if (shift < 64)
			value |= (uint64_t)(byte & 0x7f) << shift;
		shift += 7;
		if (!(byte & 0x80))
			return value;
	}
	*ok = false;
	return value;
}

/* DW_AT_location of a static variable: a lone DW_OP_addr, or (DWARF 5,
 * clang's default) a lone DW_OP_addrx: an index into .debug_addr from the
 * unit's DW_AT_addr_base, which libdwarf resolves given the DIE. */
static bool expr_address(Dwarf_Debug dbg, Dwarf_Die die, Dwarf_Attribute attr, uint64_t *address)
{
	Dwarf_Error err = NULL;
	Dwarf_Unsigned length = 0;
	Dwarf_Ptr block = NULL;
	if (dwarf_formexprloc(attr, &length, &block, &err) != DW_DLV_OK) {
		if (err)
			dwarf_dealloc_error(dbg, err);
		return false;
	}
	const uint8_t *p = block;
	if (length == 9 && p[0] == DW_OP_addr) {
		uint64_t a = 0;
		memcpy(&a, p + 1, 8);
		*address = a;
		return true;
	}
	if (length >= 2 && (p[0] == DW_OP_addrx || p[0] == DW_OP_GNU_addr_index)) {
		const uint8_t *q = p + 1;
		bool ok = true;
		uint64_t index = read_uleb(&q, p + length, &ok);
		Dwarf_Addr a = 0;
		if (!ok || q != p + length)
			return false;
		if (dwarf_debug_addr_index_to_addr(die, index, &a, &err) != DW_DLV_OK) {
			if (err)
				dwarf_dealloc_error(dbg, err);
			return false;
		}
		*address = a;
		return true;
	}
	return false;
}

/* DW_AT_data_member_location as an expression (DWARF 2/3 style
 * DW_OP_plus_uconst N); anything else (virtual bases) is not constant. */
static bool expr_member_location(Dwarf_Debug dbg, Dwarf_Attribute attr, uint64_t *offset)
{
	Dwarf_Error err = NULL;
	Dwarf_Unsigned length = 0;
	Dwarf_Ptr block = NULL;
	if (dwarf_formexprloc(attr, &length, &block, &err) != DW_DLV_OK) {
		if (err)
			dwarf_dealloc_error(dbg, err);
		return false;
	}
	const uint8_t *p = block, *end = p + length;
	if (length >= 2 && p[0] == DW_OP_plus_uconst) {
		p++;
		bool ok = true;
		uint64_t value = read_uleb(&p, end, &ok);
		if (ok && p == end) {
			*offset = value;
			return true;
		}
	}
	return false;
}

static void decode_attr(Dwarf_Debug dbg, Dwarf_Die die, Dwarf_Attribute attr, mp_dw_die *d)
{
	Dwarf_Error err = NULL;
	Dwarf_Half at = 0, form = 0;
	if (dwarf_whatattr(attr, &at, &err) != DW_DLV_OK ||
	    dwarf_whatform(attr, &form, &err) != DW_DLV_OK) {
		if (err)
			dwarf_dealloc_error(dbg, err);
		return;
	}
	switch (at) {
	case DW_AT_name: {
		char *s = NULL;
		if (dwarf_formstring(attr, &s, &err) == DW_DLV_OK)
			d->name = s;
		else if (err)
			dwarf_dealloc_error(dbg, err);
		break;
	}
	case DW_AT_type: d->type = 0; mp_dwi_form_ref(dbg, attr, d->offset & MP_DW_WHERE, &d->type); break;
	case DW_AT_specification:
		mp_dwi_form_ref(dbg, attr, d->offset & MP_DW_WHERE, &d->specification);
		break;
	case DW_AT_abstract_origin:
		mp_dwi_form_ref(dbg, attr, d->offset & MP_DW_WHERE, &d->abstract_origin);
		break;
	case DW_AT_discr: mp_dwi_form_ref(dbg, attr, d->offset & MP_DW_WHERE, &d->discr); break;
	case DW_AT_signature:
		mp_dwi_form_ref(dbg, attr, d->offset & MP_DW_WHERE, &d->signature);
		break;
	case DW_AT_byte_size: d->has_size = mp_dwi_form_unsigned(dbg, attr, &d->size); break;
	case DW_AT_bit_size: d->has_bit_size = mp_dwi_form_unsigned(dbg, attr, &d->bit_size); break;
	case DW_AT_data_bit_offset:
		d->has_data_bit_offset = mp_dwi_form_unsigned(dbg, attr, &d->data_bit_offset);
		break;
	case DW_AT_bit_offset: d->has_bit_offset = mp_dwi_form_unsigned(dbg, attr, &d->bit_offset); break;
	case DW_AT_data_member_location:
		if (form == DW_FORM_exprloc || form == DW_FORM_block1 ||
		    form == DW_FORM_block) {
			d->has_member_location = expr_member_location(dbg, attr, &d->member_location);
			d->member_location_is_expression = !d->has_member_location;
		} else {
			d->has_member_location = mp_dwi_form_unsigned(dbg, attr, &d->member_location);
		}
		break;
	case DW_AT_upper_bound: {
		uint64_t u = 0;
		bool ok, none;
		if (form == DW_FORM_sdata) {
			int64_t v = 0;
			ok = form_signed(dbg, attr, form, &v);
			none = v < 0;
			u = (uint64_t)v;
		} else {
			ok = mp_dwi_form_unsigned(dbg, attr, &u);
			unsigned width = form_width(form);
			none = width && u == (width == 8 ? UINT64_MAX : (1ull << (8 * width)) - 1);
		}
		/* -1 is GCC's spelling of "no elements": a zero-length or
		 * flexible array. */
		if (ok && none) {
			d->has_count = true;
			d->count = 0;
		} else if (ok) {
			d->has_upper_bound = true;
			d->upper_bound = u;
		}
		break;
	}
	case DW_AT_lower_bound: d->has_lower_bound = form_signed(dbg, attr, form, &d->lower_bound); break;
	case DW_AT_count: d->has_count = mp_dwi_form_unsigned(dbg, attr, &d->count); break;
	case DW_AT_const_value:
		d->has_const_value = form_signed(dbg, attr, form, &d->const_value);
		d->const_value_width = (uint8_t)form_width(form);
		break;
	case DW_AT_discr_value: d->has_discr_value = mp_dwi_form_unsigned(dbg, attr, &d->discr_value); break;
	case DW_AT_alignment: d->has_alignment = mp_dwi_form_unsigned(dbg, attr, &d->alignment); break;
	case DW_AT_encoding: d->has_encoding = mp_dwi_form_unsigned(dbg, attr, &d->encoding); break;
	case DW_AT_location:
		if (form == DW_FORM_exprloc || form == DW_FORM_block1 ||
		    form == DW_FORM_block)
			d->has_address = expr_address(dbg, die, attr, &d->address);
		break;
	case DW_AT_declaration: d->declaration = form_flag(dbg, attr); break;
	case DW_AT_external: d->external = form_flag(dbg, attr); break;
	case DW_AT_artificial: d->artificial = form_flag(dbg, attr); break;
	default: break;
	}
}

/* Offset, tag and children flag: what every DIE record starts with. */
static mp_error *decode_head(mp_dw *dw, Dwarf_Die die, uint64_t hint,
			     mp_dw_die *d)
{
	Dwarf_Error err = NULL;
	memset(d, 0, sizeof(*d));
	Dwarf_Off off = 0;
	if (dwarf_dieoffset(die, &off, &err) != DW_DLV_OK)
		return mp_dwi_dw_error(dw, err, hint, "DIE offset");
	d->offset = off | dw->bits | (dwarf_get_die_infotypes_flag(die) ? 0 : MP_DW_TYPES);
	Dwarf_Half tag = 0;
	if (dwarf_tag(die, &tag, &err) != DW_DLV_OK)
		return mp_dwi_dw_error(dw, err, off, "DIE tag");
	d->tag = tag;
	Dwarf_Half children = 0;
	dwarf_die_abbrev_children_flag(die, &children);
	d->has_children = children != 0;
	return NULL;
}

static mp_error *decode_full(mp_dw *dw, Dwarf_Die die, uint64_t hint,
			     mp_dw_die *d)
{
	mp_error *e = decode_head(dw, die, hint, d);
	if (e)
		return e;
	Dwarf_Error err = NULL;
	Dwarf_Attribute *attrs = NULL;
	Dwarf_Signed n = 0;
	int rc = dwarf_attrlist(die, &attrs, &n, &err);
	if (rc == DW_DLV_ERROR)
		return mp_dwi_dw_error(dw, err, d->offset, "attributes");
	if (rc == DW_DLV_NO_ENTRY)
		return NULL;
	Dwarf_Debug dbg = dw->dbg;
	for (Dwarf_Signed i = 0; i < n; i++) {
		decode_attr(dbg, die, attrs[i], d);
		mp_dwi_free_attr(dw->dbg, attrs[i]);
	}
	dwarf_dealloc(dw->dbg, attrs, DW_DLA_LIST);
	return NULL;
}

/* The few attributes the index needs, read one by one (cheaper than the
 * whole list for the many DIEs the index only glances at). */
static void decode_cheap(mp_dw *dw, Dwarf_Die die, mp_dw_die *d)
{
	Dwarf_Debug dbg = dw->dbg;
	Dwarf_Error err = NULL;
	Dwarf_Attribute attr = NULL;
	/* Not dwarf_diename: in libdwarf 20210528 it drops the error of an
	 * unreadable attribute without freeing it, and with allocation
	 * tracking off (mp_dw_open) that leaked one error per bad DIE. */
	if (dwarf_attr(die, DW_AT_name, &attr, &err) == DW_DLV_OK) {
		char *name = NULL;
		if (dwarf_formstring(attr, &name, &err) == DW_DLV_OK)
			d->name = name;
		else if (err)
			dwarf_dealloc_error(dbg, err);
		mp_dwi_free_attr(dw->dbg, attr);
	} else if (err) {
		dwarf_dealloc_error(dbg, err);
	}
	err = NULL;
	if (dwarf_attr(die, DW_AT_declaration, &attr, &err) == DW_DLV_OK) {
		d->declaration = form_flag(dbg, attr);
		mp_dwi_free_attr(dw->dbg, attr);
	} else if (err) {
		dwarf_dealloc_error(dbg, err);
	}
	/* A declaration may be the stub of a type unit's type, placed outside
	 * its namespace (-fdebug-types-section). */
	err = NULL;
	if (d->declaration && dw->type_units &&
	    dwarf_attr(die, DW_AT_signature, &attr, &err) == DW_DLV_OK) {
		mp_dwi_form_ref(dbg, attr, d->offset & MP_DW_WHERE, &d->signature);
		mp_dwi_free_attr(dw->dbg, attr);
	} else if (err) {
		dwarf_dealloc_error(dbg, err);
	}
	/* Type units put a definition at top level pointing at its
	 * declaration inside the namespace (an empty struct has no
	 * children, and only aggregates do this). */
	err = NULL;
	bool aggregate = d->tag == DW_TAG_structure_type || d->tag == DW_TAG_class_type ||
			 d->tag == DW_TAG_union_type || d->tag == DW_TAG_enumeration_type;
	if (((aggregate && dw->type_units) || (d->has_children && d->tag != DW_TAG_subprogram)) &&
	    dwarf_attr(die, DW_AT_specification, &attr, &err) == DW_DLV_OK) {
		mp_dwi_form_ref(dbg, attr, d->offset & MP_DW_WHERE, &d->specification);
		mp_dwi_free_attr(dw->dbg, attr);
	} else if (err) {
		dwarf_dealloc_error(dbg, err);
	}
}

/* The DIE at an offset this module handed out, from the file and section
 * its MP_DW_WHERE bits name. */
static mp_error *offdie(mp_dw **dw, uint64_t offset, Dwarf_Die *die)
{
	Dwarf_Error err = NULL;
	if (offset & MP_DW_ALT) {
		if (!(*dw)->alt)
			return mp_error_new(MP_ERR_FORMAT,
					    "%s: a DIE refers to offset 0x%llx of a dwz supplementary file, and none is loaded",
					    (*dw)->label, (unsigned long long)(offset & ~MP_DW_WHERE));
		*dw = (*dw)->alt;
	} else if (offset & MP_DW_DWO) {
		size_t i = (size_t)((offset & MP_DW_DWO) >> MP_DW_DWO_SHIFT) - 1;
		if (i >= (*dw)->n_dwos)
			return mp_error_new(MP_ERR_FORMAT,
					    "%s: a DIE refers to offset 0x%llx of split DWARF file %zu, and none is loaded",
					    (*dw)->label, (unsigned long long)(offset & ~MP_DW_WHERE), i);
		*dw = (*dw)->dwos[i];
	}
	if (dwarf_offdie_b((*dw)->dbg, offset & ~MP_DW_WHERE, !(offset & MP_DW_TYPES), die,
			   &err) != DW_DLV_OK)
		return mp_dwi_dw_error(*dw, err, offset & ~MP_DW_WHERE,
				offset & MP_DW_TYPES ? "no DIE at this .debug_types offset"
						     : "no DIE at this offset");
	return NULL;
}

mp_error *mp_dw_read(mp_dw *dw, uint64_t offset, mp_dw_die *out)
{
	Dwarf_Die die = NULL;
	mp_error *e = offdie(&dw, offset, &die);
	if (e)
		return e;
	e = decode_full(dw, die, offset, out);
	dwarf_dealloc_die(die);
	return e;
}

mp_error *mp_dw_children(mp_dw *dw, uint64_t offset, size_t max,
			 mp_dw_die **out, size_t *count)
{
	*out = NULL;
	*count = 0;
	Dwarf_Error err = NULL;
	Dwarf_Die parent = NULL, die = NULL;
	mp_error *e = offdie(&dw, offset, &parent);
	if (e)
		return e;
	int rc = dwarf_child(parent, &die, &err);
	dwarf_dealloc_die(parent);
	if (rc == DW_DLV_NO_ENTRY)
		return NULL;
	if (rc != DW_DLV_OK)
		return mp_dwi_dw_error(dw, err, offset, "first child");
	mp_dw_die *items = NULL;
	size_t n = 0, capacity = 0;
	while (die) {
		if (n == max) {
			e = mp_error_new(MP_ERR_FORMAT,
					 "%s: DIE at .debug_info offset 0x%llx has more than %zu children",
					 dw->label, (unsigned long long)offset, max);
			break;
		}
		if (n == capacity) {
			size_t c = capacity ? 2 * capacity : 16;
			mp_dw_die *grown = realloc(items, c * sizeof(*items));
			if (!grown) {
				e = mp_error_nomem();
				break;
			}
			items = grown;
			capacity = c;
		}
		e = decode_full(dw, die, offset, &items[n]);
		if (e)
			break;
		n++;
		Dwarf_Die next = NULL;
		bool backwards;
		rc = mp_dwi_next_sibling(dw->dbg, die, &next, &err, &backwards);
		if (rc == DW_DLV_ERROR) {
			e = backwards ? sibling_loop_error(dw, items[n - 1].offset)
				      : mp_dwi_dw_error(dw, err, items[n - 1].offset, "next sibling");
			break;
		}
		dwarf_dealloc_die(die);
		die = rc == DW_DLV_OK ? next : NULL;
	}
	if (die)
		dwarf_dealloc_die(die);
	if (e) {
		free(items);
		return e;
	}
	*out = items;
	*count = n;
	return NULL;
}

/* ------------------------------------------------------------- walk */

/* A string attribute of a unit DIE, NULL when absent. */
static const char *unit_string(mp_dw *dw, Dwarf_Die cu, Dwarf_Half name)
{
	Dwarf_Error err = NULL;
	Dwarf_Attribute attr = NULL;
	char *s = NULL;
	if (dwarf_attr(cu, name, &attr, &err) == DW_DLV_OK) {
		if (dwarf_formstring(attr, &s, &err) != DW_DLV_OK)
			s = NULL;
		dwarf_dealloc_attribute(attr);
	}
	if (err)
		dwarf_dealloc_error(dw->dbg, err);
	return s;
}

/* Opens a split DWARF file and ties it to the executable's handle dw,
 * whose .debug_addr and skeleton units its address indexes refer to. */
static mp_error *add_split_file(mp_dw *dw, const char *path)
{
	if (dw->n_dwos == MP_DW_DWO_MAX)
		return mp_error_new(MP_ERR_UNSUPPORTED, "%s: more than %llu split DWARF files",
				    dw->label, (unsigned long long)MP_DW_DWO_MAX);
	mp_dw **grown = realloc(dw->dwos, (dw->n_dwos + 1) * sizeof(*grown));
	if (!grown)
		return mp_error_nomem();
	dw->dwos = grown;
	mp_dw *dwo = NULL;
	mp_error *e = mp_dw_open(path, dw->label, &dwo);
	if (e)
		return e;
	Dwarf_Error err = NULL;
	if (dwarf_set_tied_dbg(dwo->dbg, dw->dbg, &err) != DW_DLV_OK) {
		e = mp_dwi_dw_error(dwo, err, 0, "tying the split DWARF file to the executable");
		mp_dw_close(dwo);
		return e;
	}
	dwo->bits = (uint64_t)(dw->n_dwos + 1) << MP_DW_DWO_SHIFT;
	dw->dwos[dw->n_dwos++] = dwo;
	return NULL;
}

/* A skeleton unit of -gsplit-dwarf (DWARF 5's own tag, or GCC's DWARF 4
 * extension: a compile unit with DW_AT_GNU_dwo_name) keeps its DIEs in
 * the .dwo file it names, relative to its DW_AT_comp_dir; a .dwp package
 * beside the executable (EXE.dwp, made by dwp) holds every unit's and is
 * used instead when present.  A unit naming no .dwo is not split. */
static mp_error *open_split(mp_dw *dw, Dwarf_Die cu, uint64_t cu_offset)
{
	const char *name = unit_string(dw, cu, DW_AT_dwo_name);
	if (!name)
		name = unit_string(dw, cu, DW_AT_GNU_dwo_name);
	if (!name)
		return NULL;
	if (!dw->dwp_tried) {
		dw->dwp_tried = true;
		char *dwp = NULL;
		if (asprintf(&dwp, "%s.dwp", dw->path) < 0)
			return mp_error_nomem();
		mp_error *e = NULL;
		if (access(dwp, F_OK) == 0) {
			e = add_split_file(dw, dwp);
			dw->dwp = !e;
		}
		free(dwp);
		if (e)
			return e;
	}
	if (dw->dwp)
		return NULL;
	const char *dir = unit_string(dw, cu, DW_AT_comp_dir);
	char *path = NULL;
	if (asprintf(&path, "%s%s%s", name[0] != '/' && dir ? dir : "",
		     name[0] != '/' && dir ? "/" : "", name) < 0)
		return mp_error_nomem();
	mp_error *e = NULL;
	if (access(path, F_OK) != 0)
		e = mp_error_errno(errno,
				   "%s: cannot open %s, the split DWARF (.dwo) file its unit at .debug_info offset 0x%llx names (-gsplit-dwarf), and there is no %s.dwp",
				   dw->label, path, (unsigned long long)cu_offset, dw->path);
	else
		e = add_split_file(dw, path);
	free(path);
	return e;
}

/* Which units of a section one pass of the walk visits: dwz's partial
 * units carry no language and take the one of the units that import them,
 * so they are walked after every unit that has one. */
enum unit_filter { ALL_UNITS, SKIP_PARTIAL, ONLY_PARTIAL };

/* One pass over the units of dw's .debug_info (is_info) or .debug_types;
 * *skipped_partial tells whether SKIP_PARTIAL left any out. */
static mp_error *walk_units(mp_dw *dw, Dwarf_Bool is_info, enum unit_filter filter,
			    const mp_dw_walker *w, bool progress, bool *skipped_partial)
{
	Dwarf_Die stack[MAX_WALK_DEPTH];
	/* whether the DIEs at a level may be functions with statics: at unit
	 * and namespace level, not inside classes (methods' own statics
	 * belong to their out-of-line definitions) nor functions */
	bool function_level[MAX_WALK_DEPTH];
	size_t depth = 0;
	mp_error *e = NULL;
	uint64_t last_offset = 0;
	uint64_t where = dw->bits | (is_info ? 0 : MP_DW_TYPES);
	for (;;) {
		if (w->interrupted && w->interrupted(w->context))
			return mp_error_new(MP_ERR_INTERRUPTED, "%s: indexing interrupted",
					    dw->label);
		Dwarf_Error err = NULL;
		Dwarf_Die cu = NULL;
		int rc = mp_dwi_shim_next_cu(dw->dbg, is_info, &cu, &err);
		if (rc == DW_DLV_NO_ENTRY)
			return NULL;
		if (rc != DW_DLV_OK)
			return mp_dwi_dw_error(dw, err, last_offset, "compilation unit header");
		Dwarf_Off cu_offset = 0;
		if (dwarf_dieoffset(cu, &cu_offset, &err) != DW_DLV_OK) {
			dwarf_dealloc_die(cu);
			return mp_dwi_dw_error(dw, err, last_offset, "compilation unit DIE");
		}
		last_offset = cu_offset;
		Dwarf_Half unit_tag = 0;
		if (dwarf_tag(cu, &unit_tag, &err) != DW_DLV_OK) {
			dwarf_dealloc_die(cu);
			return mp_dwi_dw_error(dw, err, cu_offset, "unit DIE tag");
		}
		dw->type_units |= unit_tag == DW_TAG_type_unit;
		if (is_info && !dw->bits && (unit_tag == DW_TAG_skeleton_unit ||
					     unit_tag == DW_TAG_compile_unit)) {
			e = open_split(dw, cu, cu_offset);
			if (e) {
				dwarf_dealloc_die(cu);
				return e;
			}
		}
		if (filter != ALL_UNITS) {
			Dwarf_Half tag = unit_tag;
			if ((tag == DW_TAG_partial_unit) != (filter == ONLY_PARTIAL)) {
				*skipped_partial |= tag == DW_TAG_partial_unit;
				dwarf_dealloc_die(cu);
				continue;
			}
		}
		if (progress)
			mp_progress_update(cu_offset);
		Dwarf_Unsigned language = 0;
		if (dwarf_srclang(cu, &language, &err) != DW_DLV_OK && err) {
			dwarf_dealloc_error(dw->dbg, err);
			err = NULL;
		}
		if (w->begin_cu)
			w->begin_cu(w->context, (unsigned)language, cu_offset | where);
		Dwarf_Die first = NULL;
		rc = dwarf_child(cu, &first, &err);
		dwarf_dealloc_die(cu);
		if (rc == DW_DLV_ERROR)
			return mp_dwi_dw_error(dw, err, cu_offset, "first DIE of the unit");
		if (rc == DW_DLV_NO_ENTRY)
			continue;
		depth = 1;
		stack[0] = first;
		function_level[0] = true;
		/* stack[depth-1] is the DIE to visit at the innermost level;
		 * NULL once that level is exhausted. */
		while (depth > 0) {
			Dwarf_Die die = stack[depth - 1];
			if (!die) {
				depth--;
				if (depth == 0)
					break;
				if (w->leave)
					w->leave(w->context);
				/* fall through to advance the parent */
			} else {
				mp_dw_die d;
				e = decode_head(dw, die, last_offset, &d);
				if (e)
					goto fail;
				last_offset = d.offset;
				if (d.tag == DW_TAG_subprogram ? function_level[depth - 1]
							       : mp_dw_walk_names_tag(d.tag)) {
					decode_cheap(dw, die, &d);
				} else if (d.tag == DW_TAG_variable) {
					e = decode_full(dw, die, d.offset, &d);
					if (e)
						goto fail;
				}
				bool descend = w->enter(w->context, &d);
				/* Deeper than the stack: the subtree is skipped as
				 * if the visitor had not asked (rustc nests a
				 * lexical block per `let`, hundreds deep in a long
				 * function). */
				if (descend && d.has_children && depth < MAX_WALK_DEPTH) {
					Dwarf_Die child = NULL;
					rc = dwarf_child(die, &child, &err);
					if (rc == DW_DLV_ERROR) {
						e = mp_dwi_dw_error(dw, err, d.offset, "first child");
						goto fail;
					}
					function_level[depth] = d.tag == DW_TAG_namespace;
					stack[depth++] = rc == DW_DLV_OK ? child : NULL;
					continue;
				} else if (descend && w->leave) {
					w->leave(w->context);
				}
			}
			/* advance stack[depth-1] to its next sibling */
			Dwarf_Die cur = stack[depth - 1];
			Dwarf_Die next = NULL;
			bool backwards;
			rc = mp_dwi_next_sibling(dw->dbg, cur, &next, &err, &backwards);
			if (rc == DW_DLV_ERROR) {
				e = backwards ? sibling_loop_error(dw, last_offset)
					      : mp_dwi_dw_error(dw, err, last_offset, "next sibling");
				goto fail;
			}
			dwarf_dealloc_die(cur);
			stack[depth - 1] = rc == DW_DLV_OK ? next : NULL;
		}
	}
fail:
	for (size_t i = 0; i < depth; i++)
		if (stack[i])
			dwarf_dealloc_die(stack[i]);
	return e;
}

/* The raw scanner's view of dw's sections (die_scanner.h): only on the
 * zero-copy path, whose sections lie in mp_elf's read-only file mapping
 * (or, compressed, in dw->inflated, the buffers libdwarf is handed too). */
#if !MP_DW_NEW_API
static bool scan_section(mp_dw *dw, const char *name, mp_dw_scan_section *out)
{
	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < dw->n_shdrs; i++) {
		const Elf64_Shdr *sh = &dw->shdrs[i];
		if (strcmp(section_name(dw, sh), name) != 0)
			continue;
		if (sh->sh_type == SHT_NOBITS || sh->sh_size == 0)
			return true;
		Elf64_Chdr chdr;
		if (compression_header(dw, sh, &chdr)) {
			Dwarf_Small *data = NULL;
			int error = 0;
			if (i > UINT16_MAX ||
			    inflate_section(dw, (Dwarf_Half)i, &chdr, &data, &error) != DW_DLV_OK)
				return false;
			out->data = data;
			out->size = chdr.ch_size;
			return true;
		}
		out->data = mp_elf_bytes(dw->elf, sh->sh_offset, sh->sh_size);
		out->size = sh->sh_size;
		out->mapped = true;
		return out->data != NULL;
	}
	return true;
}
#endif

/* Why the raw scanner does not read dw's .debug_info (NULL: it does, and
 * *in is filled): the 0.x/2.x API (no zero-copy path), libdwarf's own ELF
 * reader, type units (their stubs need libdwarf's signature lookup), and
 * whatever mp_dw_scan_check refuses (split DWARF skeletons, dwz
 * references, 64-bit DWARF, unknown forms).  Those files libdwarf walks. */
static const char *scan_refusal(mp_dw *dw, mp_dw_scan_input *in, uint64_t *offset)
{
	*offset = 0;
#if MP_DW_NEW_API
	(void)dw;
	(void)in;
	return "libdwarf 0.x or 2.x (no zero-copy sections)";
#else
	if (!dw->object_init || !dw->elf)
		return "read through libdwarf's own ELF reader";
	if (dw->type_units)
		return "type units (.debug_types)";
	memset(in, 0, sizeof(*in));
	in->label = dw->label;
	in->where = dw->bits;
	if (!scan_section(dw, ".debug_info", &in->info) ||
	    !scan_section(dw, ".debug_abbrev", &in->abbrev) ||
	    !scan_section(dw, ".debug_str", &in->str) ||
	    !scan_section(dw, ".debug_line_str", &in->line_str) ||
	    !scan_section(dw, ".debug_str_offsets", &in->str_offsets) ||
	    !scan_section(dw, ".debug_addr", &in->addr))
		return "a debug section that does not inflate";
	return mp_dw_scan_check(in, offset);
#endif
}

/* MEMPROF_DWARF_WALK (for tests and diagnosis): "libdwarf" walks every
 * file with libdwarf; "raw" makes a file the raw scanner refuses an error
 * saying why, instead of a silent libdwarf walk. */
static mp_error *scan_input(mp_dw *dw, mp_dw_scan_input *in, bool *raw)
{
	const char *mode = getenv("MEMPROF_DWARF_WALK");
	*raw = false;
	if (mode && strcmp(mode, "libdwarf") == 0)
		return NULL;
	uint64_t offset;
	const char *why = scan_refusal(dw, in, &offset);
	*raw = !why;
	if (why && mode && strcmp(mode, "raw") == 0)
		return mp_error_new(MP_ERR_UNSUPPORTED,
				    "%s: the raw DWARF scanner does not read this file (MEMPROF_DWARF_WALK=raw): %s (unit at .debug_info offset 0x%llx)",
				    dw->label, why, (unsigned long long)offset);
	return NULL;
}

/* The .debug_info passes of the walk over one file: raw when the scanner
 * reads the file, else libdwarf's. */
static mp_error *walk_info(mp_dw *dw, enum unit_filter filter, const mp_dw_walker *w,
			   bool progress, bool *skipped_partial, const mp_dw_scan_input *scan)
{
	if (!scan)
		return walk_units(dw, true, filter, w, progress, skipped_partial);
	return mp_dw_scan_walk(scan, filter == ALL_UNITS ? MP_DW_SCAN_ALL
				     : filter == SKIP_PARTIAL ? MP_DW_SCAN_SKIP_PARTIAL
							      : MP_DW_SCAN_ONLY_PARTIAL,
			       w, progress, skipped_partial);
}

mp_error *mp_dw_walk(mp_dw *dw, const mp_dw_walker *w)
{
	/* The progress phase counts .debug_info bytes: only the first pass,
	 * over most of them, reports. */
	bool partial = false, raw, alt_raw;
	mp_dw_scan_input scan, alt_scan;
	mp_error *e = scan_input(dw, &scan, &raw);
	if (!e)
		e = walk_info(dw, SKIP_PARTIAL, w, w->report_progress, &partial,
			      raw ? &scan : NULL);
	if (!e)
		e = walk_units(dw, false, ALL_UNITS, w, false, &partial);
	if (!e && partial)
		e = walk_info(dw, ONLY_PARTIAL, w, false, &partial, raw ? &scan : NULL);
	if (!e && dw->alt) {
		e = scan_input(dw->alt, &alt_scan, &alt_raw);
		if (!e)
			e = walk_info(dw->alt, ALL_UNITS, w, false, &partial,
				      alt_raw ? &alt_scan : NULL);
		if (!e)
			e = walk_units(dw->alt, false, ALL_UNITS, w, false, &partial);
	}
	/* The first pass opened the split DWARF files its skeletons name
	 * (libdwarf's walk: the scanner refuses files with skeletons). */
	for (size_t i = 0; !e && i < dw->n_dwos; i++) {
		e = walk_units(dw->dwos[i], true, ALL_UNITS, w, false, &partial);
		if (!e)
			e = walk_units(dw->dwos[i], false, ALL_UNITS, w, false, &partial);
	}
	return e;
}

mp_error *mp_dw_attach_alt(mp_dw *dw, const char *path)
{
	if (dw->alt)
		return NULL;
	mp_dw *alt = NULL;
	mp_error *e = mp_dw_open(path, dw->label, &alt);
	if (e)
		return e;
	alt->bits = MP_DW_ALT;
	Dwarf_Error err = NULL;
	if (dwarf_set_tied_dbg(dw->dbg, alt->dbg, &err) != DW_DLV_OK) {
		e = mp_dwi_dw_error(dw, err, 0, "tying the dwz supplementary file");
		mp_dw_close(alt);
		return e;
	}
	dw->alt = alt;
	return NULL;
}

/* ------------------------------------------------------------ frames */

static mp_error *load_frames(mp_dw *dw)
{
	Dwarf_Error err = NULL;
	/* .eh_frame is in every module, stripped or not; .debug_frame only in
	 * some (and in debug files, whose .eh_frame is empty). */
	int rc = dwarf_get_fde_list_eh(dw->dbg, &dw->cies, &dw->n_cies, &dw->fdes,
				       &dw->n_fdes, &err);
	if (rc != DW_DLV_OK) {
		if (rc == DW_DLV_ERROR)
			dwarf_dealloc_error(dw->dbg, err);
		err = NULL;
		rc = dwarf_get_fde_list(dw->dbg, &dw->cies, &dw->n_cies, &dw->fdes,
					&dw->n_fdes, &err);
	}
	if (rc == DW_DLV_OK) {
		dw->frames_state = 1;
		return NULL;
	}
	dw->frames_state = -1;
	if (rc == DW_DLV_ERROR) {
		mp_error *e = mp_error_new(MP_ERR_FORMAT, "%s: bad call-frame information: %s",
					   dw->label, dwarf_errmsg(err));
		dwarf_dealloc_error(dw->dbg, err);
		return e;
	}
	return NULL;
}

/* One rule as libdwarf gives it (value type, whether the offset counts,
 * register, offset) in memprof's terms. */
static void set_rule(mp_dw_frame_row *row, int column, Dwarf_Small type,
		     Dwarf_Signed offset_relevant, Dwarf_Signed reg, Dwarf_Signed offset)
{
	row->rules[column].reg = (int)reg;
	row->rules[column].offset = offset;
	if (type == DW_EXPR_EXPRESSION || type == DW_EXPR_VAL_EXPRESSION)
		row->rules[column].kind = MP_DW_RULE_EXPRESSION;
	else if (type == DW_EXPR_VAL_OFFSET)
		row->rules[column].kind = MP_DW_RULE_CFA_PLUS;
	else if (offset_relevant)
		row->rules[column].kind = MP_DW_RULE_AT_CFA;
	else if (reg == DW_FRAME_SAME_VAL)
		row->rules[column].kind = MP_DW_RULE_SAME;
	else if (reg == DW_FRAME_UNDEFINED_VAL || reg < 0 || reg >= MP_DW_FRAME_COLUMNS)
		row->rules[column].kind = MP_DW_RULE_UNDEFINED;
	else
		row->rules[column].kind = MP_DW_RULE_REGISTER;
}

mp_error *mp_dw_frame_row_at(mp_dw *dw, uint64_t pc, mp_dw_frame_row *row)
{
	if (!dw->frames_state) {
		mp_error *e = load_frames(dw);
		if (e)
			return e;
	}
	if (dw->frames_state < 0 || !dw->n_fdes)
		return mp_error_new(MP_ERR_NOT_FOUND, "%s has no call-frame information",
				    dw->label);
	Dwarf_Error err = NULL;
	Dwarf_Fde fde;
	Dwarf_Addr low, high;
	int rc = dwarf_get_fde_at_pc(dw->fdes, pc, &fde, &low, &high, &err);
	if (rc != DW_DLV_OK) {
		if (rc == DW_DLV_ERROR)
			dwarf_dealloc_error(dw->dbg, err);
		return mp_error_new(MP_ERR_NOT_FOUND, "%s: no call-frame information covers %#llx",
				    dw->label, (unsigned long long)pc);
	}
	Dwarf_Small type;
	Dwarf_Signed relevant, reg, offset;
	Dwarf_Ptr block;
	Dwarf_Addr row_pc, next_pc;
	Dwarf_Bool more;
	rc = dwarf_get_fde_info_for_cfa_reg3_b(fde, pc, &type, &relevant, &reg, &offset, &block,
					       &row_pc, &more, &next_pc, &err);
	for (int column = 0; rc == DW_DLV_OK && column < MP_DW_FRAME_COLUMNS; column++) {
		if (column == 0) {
			row->cfa_register = (int)reg;
			row->cfa_offset = offset;
			row->cfa_is_expression = type != DW_EXPR_OFFSET;
		}
		Dwarf_Small rtype;
		Dwarf_Signed rrelevant, rreg, roffset;
		rc = dwarf_get_fde_info_for_reg3_b(fde, (Dwarf_Half)column, pc, &rtype, &rrelevant,
						   &rreg, &roffset, &block, &row_pc, &more,
						   &next_pc, &err);
		if (rc == DW_DLV_OK)
			set_rule(row, column, rtype, rrelevant, rreg, roffset);
	}
	if (rc != DW_DLV_OK) {
		mp_error *e = mp_error_new(MP_ERR_FORMAT, "%s: cannot read the CFI row at %#llx: %s",
					   dw->label, (unsigned long long)pc,
					   rc == DW_DLV_ERROR ? dwarf_errmsg(err) : "no entry");
		if (rc == DW_DLV_ERROR)
			dwarf_dealloc_error(dw->dbg, err);
		return e;
	}
	return NULL;
}
