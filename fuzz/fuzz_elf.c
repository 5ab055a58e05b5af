/* Fuzzes executables, shared objects and debug files: ELF section headers,
 * build id notes, .gnu_debuglink, symbol tables, and the DWARF that reaches
 * libdwarf through memprof and the type model built on it.
 *
 * Per input: the bytes are written to a file; the ELF layer answers what
 * memprof asks of module files (build id, debuglink, .debug_info, symbols);
 * mp_target_open_exe opens it as `memprof type --exe FILE` does; then every
 * type name is listed and each type is explored (members, enumerators,
 * dimensions, parameters, template parameters, Rust variants and the active
 * variant over a buffer), every variable is listed and its initial bytes
 * read, a few names are looked up (misses produce suggestions), and the
 * `type` verb lays out the first record type found.  Bad DWARF must come
 * back as an error or as a type of kind MP_TYPE_INVALID with a reason.
 *
 * libdwarf 20210528 has two ways in: memprof's zero-copy object access
 * (executables and shared objects whose sections it can hand over in place)
 * and libdwarf's own ELF reader (relocatable objects, .zdebug sections,
 * anything the first refuses).  Once a process has used the second, memprof
 * uses it for every later file (see core/dwarf/dwarf_lib.c: libdwarf leaves
 * a process-wide hook behind).  So that a fuzzing process does not drift
 * from one to the other after its first odd input, this file builds two
 * fuzzers:
 *   fuzz_elf         inputs the zero-copy path would refuse get the ELF
 *                    checks and mp_target_open_exe but no DWARF;
 *   fuzz_elf_reader  (FUZZ_ELF_LIBDWARF_READER) switches the process to
 *                    libdwarf's ELF reader before the first input, and
 *                    every input goes through it.
 */
#include <elf.h>
#include <stdlib.h>
#include <string.h>

#include "dwarf/dwarf_lib.h"
#include "elf/elf_file.h"
#include "fuzz_common.h"

enum {
	MAX_TYPES_VISITED = 400,   /* per input: keeps an execution in milliseconds */
	MAX_TYPE_DEPTH = 6,
	MAX_VARIABLES = 200,
	OBJECT_BYTES = 4096,
};

/* libdwarf's process-wide hook (exported by Debian's libdwarf.so.1): set
 * once libdwarf's own ELF reader has run in this process. */
extern void *_dwarf_get_elf_flags_func_ptr;

#ifndef FUZZ_ELF_LIBDWARF_READER
/* The conditions under which core/dwarf/dwarf_lib.c hands libdwarf the
 * sections in place (obj_prepare), checked on the raw input.  Inputs that
 * fail them would switch this process to libdwarf's own reader for good. */
static bool section_name_is(const char *strtab, uint64_t strtab_size,
			    uint32_t at, const char *prefix)
{
	size_t n = strlen(prefix);
	return at < strtab_size && strtab_size - at >= n &&
	       memcmp(strtab + at, prefix, n) == 0;
}

/* The sections libdwarf's setup takes in (this_section_dwarf_relevant),
 * each of which it refuses to see twice. */
static bool libdwarf_reads(const char *strtab, uint64_t strtab_size, uint32_t at)
{
	static const char *const exact[] = {".eh_frame", ".gnu_debuglink",
					    ".note.gnu.build-id", ".gdb_index",
					    ".symtab", ".strtab"};
	if (section_name_is(strtab, strtab_size, at, ".debug_"))
		return true;
	for (size_t i = 0; i < sizeof(exact) / sizeof(exact[0]); i++)
		if (section_name_is(strtab, strtab_size, at, exact[i]) &&
		    strtab_size - at > strlen(exact[i]) && strtab[at + strlen(exact[i])] == '\0')
			return true;
	return false;
}

static bool zero_copy_path_fits(const uint8_t *data, size_t size)
{
	Elf64_Ehdr eh;
	if (size < sizeof(eh))
		return false;
	memcpy(&eh, data, sizeof(eh));
	if ((eh.e_type != ET_EXEC && eh.e_type != ET_DYN) || eh.e_shnum == 0 ||
	    eh.e_shentsize != sizeof(Elf64_Shdr) || eh.e_shstrndx >= eh.e_shnum ||
	    eh.e_shoff % 8 || eh.e_shoff > size ||
	    (uint64_t)eh.e_shnum * sizeof(Elf64_Shdr) > size - eh.e_shoff)
		return false;
	const uint8_t *table = data + eh.e_shoff;
	Elf64_Shdr strs;
	memcpy(&strs, table + (size_t)eh.e_shstrndx * sizeof(strs), sizeof(strs));
	if (strs.sh_offset > size || strs.sh_size > size - strs.sh_offset)
		return false;
	const char *strtab = (const char *)data + strs.sh_offset;
	for (size_t i = 0; i < eh.e_shnum; i++) {
		Elf64_Shdr sh;
		memcpy(&sh, table + i * sizeof(sh), sizeof(sh));
		if (section_name_is(strtab, strs.sh_size, sh.sh_name, ".zdebug"))
			return false;
		/* What makes libdwarf's setup (dwarf_object_init_b) fail, so that
		 * memprof falls back to the ELF reader: relocations for a section
		 * that does not exist, section groups, a DWARF section empty, a
		 * section libdwarf reads twice. */
		bool relocations = sh.sh_type == SHT_RELA || sh.sh_type == SHT_REL ||
				   section_name_is(strtab, strs.sh_size, sh.sh_name, ".rel");
		if (relocations && sh.sh_info >= eh.e_shnum)
			return false;
		if (sh.sh_type == SHT_GROUP)
			return false;
		if (section_name_is(strtab, strs.sh_size, sh.sh_name, ".debug_") &&
		    (sh.sh_size == 0 || sh.sh_type == SHT_NOBITS))
			return false;
		if (libdwarf_reads(strtab, strs.sh_size, sh.sh_name)) {
			for (size_t k = 0; k < i; k++) {
				Elf64_Shdr other;
				memcpy(&other, table + k * sizeof(other), sizeof(other));
				if (other.sh_name < strs.sh_size && sh.sh_name < strs.sh_size &&
				    strncmp(strtab + other.sh_name, strtab + sh.sh_name,
					    strs.sh_size - (other.sh_name > sh.sh_name ? other.sh_name
										: sh.sh_name)) == 0)
					return false;
			}
		}
		if (sh.sh_type == SHT_RELA &&
		    section_name_is(strtab, strs.sh_size, sh.sh_name, ".rela.debug"))
			return false;
		if ((sh.sh_flags & SHF_COMPRESSED) && sh.sh_type != SHT_NOBITS &&
		    sh.sh_size >= sizeof(Elf64_Chdr) && sh.sh_offset <= size &&
		    size - sh.sh_offset >= sizeof(Elf64_Chdr) &&
		    section_name_is(strtab, strs.sh_size, sh.sh_name, ".debug")) {
			Elf64_Chdr chdr;
			memcpy(&chdr, data + sh.sh_offset, sizeof(chdr));
			if (chdr.ch_type != ELFCOMPRESS_ZLIB)
				return false;
		}
	}
	return true;
}
#endif

/* ------------------------------------------------------------ types */

typedef struct explorer {
	size_t budget;
	const mp_type *first_record;
	uint8_t object[OBJECT_BYTES];
} explorer;

static void explore(explorer *x, const mp_type *type, int depth);

static void explore_children(explorer *x, const mp_type *type, int depth)
{
	for (size_t i = 0; i < mp_type_member_count(type); i++) {
		const mp_type_member *m = mp_type_member_at(type, i);
		fuzz_use_string(m->name);
		fuzz_use_bytes(&m->offset, sizeof(m->offset));
		explore(x, m->type, depth + 1);
	}
	for (size_t i = 0; i < mp_type_enumerator_count(type); i++)
		fuzz_use_string(mp_type_enumerator_at(type, i)->name);
	for (size_t i = 0; i < mp_type_array_dimension_count(type); i++) {
		uint64_t n = mp_type_array_dimension(type, i);
		fuzz_use_bytes(&n, sizeof(n));
	}
	for (size_t i = 0; i < mp_type_param_count(type); i++)
		explore(x, mp_type_param(type, i), depth + 1);
	for (size_t i = 0; i < mp_type_template_param_count(type); i++) {
		const mp_type_template_param *p = mp_type_template_param_at(type, i);
		fuzz_use_string(p->name);
		explore(x, p->type, depth + 1);
	}
	for (size_t i = 0; i < mp_type_variant_count(type); i++) {
		const mp_type_variant *v = mp_type_variant_at(type, i);
		fuzz_use_string(v->name);
		explore(x, v->type, depth + 1);
	}
	uint64_t offset, width;
	if (mp_type_discriminant(type, &offset, &width)) {
		/* The discriminant is read from an object of the type's size,
		 * whatever the DWARF claims its offset and width are. */
		uint64_t size = mp_type_size(type);
		size_t n = size < OBJECT_BYTES ? (size_t)size : OBJECT_BYTES;
		for (int fill = 0; fill < 2; fill++) {
			memset(x->object, fill ? 0xff : 0, sizeof(x->object));
			const mp_type_variant *v = mp_type_active_variant(type, x->object, n);
			if (v)
				fuzz_use_string(v->name);
		}
	}
}

static void explore(explorer *x, const mp_type *type, int depth)
{
	if (!type || depth > MAX_TYPE_DEPTH || x->budget == 0)
		return;
	x->budget--;
	enum mp_type_kind kind = mp_type_kind(type);
	fuzz_use_string(mp_type_kind_name(kind));
	fuzz_use_string(mp_type_name(type));
	fuzz_use_string(mp_type_error(type));
	uint64_t facts[3] = {mp_type_size(type), mp_type_die_offset(type),
			     mp_type_encoding(type)};
	fuzz_use_bytes(facts, sizeof(facts));
	if (mp_type_is_complete(type) && mp_type_array_flexible(type))
		fuzz_use_bytes(facts, 1);
	if (mp_type_variadic(type))
		fuzz_use_bytes(facts, 1);
	if (mp_type_module(type))
		fuzz_use_string(mp_module_name(mp_type_module(type)));
	if (!x->first_record && (kind == MP_TYPE_STRUCT || kind == MP_TYPE_CLASS ||
				 kind == MP_TYPE_UNION))
		x->first_record = type;
	explore(x, mp_type_strip(type), depth + 1);
	explore(x, mp_type_target(type), depth + 1);
	explore_children(x, type, depth);
}

static bool visit_type(void *context, const char *name, const mp_type *type)
{
	explorer *x = context;
	fuzz_use_string(name);
	explore(x, type, 0);
	return x->budget > 0;
}

typedef struct variables {
	mp_target *target;
	explorer *x;
	size_t left;
} variables;

static bool visit_variable(void *context, const mp_variable *v)
{
	variables *vars = context;
	fuzz_use_string(v->name);
	explore(vars->x, v->type, 0);
	uint64_t size = v->type ? mp_type_size(v->type) : 0;
	size_t n = size < OBJECT_BYTES ? (size_t)size : OBJECT_BYTES;
	fuzz_drop_error(mp_target_read(vars->target, v->address, vars->x->object, n));
	return --vars->left > 0;
}

static void run_type_verb(mp_target *t, const char *name, bool reorganize)
{
	char *argv[] = {(char *)"type", (char *)name, (char *)"--reorganize", NULL};
	mp_host host = {.name = "fuzz", .target = t};
	FILE *null_stream = fuzz_null_stream();
	mp_command_run(reorganize ? 3 : 2, argv, &host, null_stream, null_stream);
}

static void exercise_types(mp_target *t)
{
	static explorer x;
	x.budget = MAX_TYPES_VISITED;
	x.first_record = NULL;
	fuzz_drop_error(mp_type_list(t, NULL, visit_type, &x));
	variables vars = {t, &x, MAX_VARIABLES};
	x.budget = MAX_TYPES_VISITED;
	fuzz_drop_error(mp_type_list_variables(t, NULL, visit_variable, &vars));
	/* Lookups that miss: the error suggests close names from the index. */
	static const char *const names[] = {"struct instance", "int", "no_such_type",
					    "std::vector<int>"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		const mp_type *type = NULL;
		mp_error *err = mp_type_find(t, names[i], &type);
		if (!err)
			explore(&x, type, 0);
		fuzz_drop_error(err);
	}
	mp_variable var;
	fuzz_drop_error(mp_type_find_variable(t, "instance", &var));
	if (x.first_record) {
		const char *name = mp_type_name(x.first_record);
		/* The verb takes a name from the command line: a fuzzed name may
		 * hold anything, but it must still be one argument. */
		if (name && name[0] && strlen(name) < 256) {
			run_type_verb(t, name, false);
			run_type_verb(t, name, true);
		}
	}
}

/* ------------------------------------------------------------- ELF */

static void exercise_elf(const char *path)
{
	mp_elf *elf = NULL;
	mp_error *err = mp_elf_open(path, &elf);
	if (err) {
		fuzz_drop_error(err);
		return;
	}
	const uint8_t *id;
	size_t id_size;
	if (mp_elf_build_id(elf, &id, &id_size))
		fuzz_use_bytes(id, id_size);
	uint32_t crc = 0;
	fuzz_use_string(mp_elf_debuglink(elf, &crc));
	fuzz_use_bytes(&crc, sizeof(crc));
	if (mp_elf_has_debug_info(elf))
		fuzz_use_string(mp_elf_path(elf));
	static const char *const symbols[] = {"main_arena", "mp_", "main", "instance"};
	for (size_t i = 0; i < sizeof(symbols) / sizeof(symbols[0]); i++) {
		uint64_t value, size;
		if (mp_elf_find_symbol(elf, symbols[i], &value, &size))
			fuzz_use_bytes(&value, sizeof(value));
	}
	const Elf64_Phdr *first;
	if (mp_elf_first_load(elf, &first))
		fuzz_use_bytes(first, sizeof(*first));
	const Elf64_Shdr *rodata = mp_elf_section(elf, ".rodata");
	if (rodata)
		fuzz_use_bytes(rodata, sizeof(*rodata));
	mp_elf_close(elf);
}

static void exercise_target(mp_target *t)
{
	for (size_t i = 0; i < mp_target_module_count(t); i++) {
		const mp_module *m = mp_target_module(t, i);
		fuzz_use_string(mp_module_build_id(m));
		fuzz_use_string(mp_module_debug_file(m));
		fuzz_use_string(mp_module_debug_source(m));
	}
	for (size_t i = 0; i < mp_target_mapping_count(t); i++) {
		const mp_mapping *m = mp_target_mapping(t, i);
		uint8_t bytes[64];
		uint64_t span = m->end - m->start;
		fuzz_drop_error(mp_target_read(t, m->start, bytes,
					       span < sizeof(bytes) ? (size_t)span : sizeof(bytes)));
	}
}

/* Debug files that the seeds' .gnu_debuglink sections name (stripped
 * examples): copied next to the input, where memprof looks first, so a
 * fuzzed debuglink and CRC are checked against a real file. */
static void install_debug_files(void)
{
	char list[4096];
	snprintf(list, sizeof(list), "%s/elf-debug/list", fuzz_data_dir());
	FILE *f = fopen(list, "r");
	if (!f)
		return;
	char name[256];
	while (fscanf(f, "%255s", name) == 1) {
		char source[4096 + 256];
		snprintf(source, sizeof(source), "%s/elf-debug/%s", fuzz_data_dir(), name);
		FILE *in = fopen(source, "rb");
		if (!in)
			continue;
		size_t capacity = 1 << 16, size = 0;
		char *bytes = malloc(capacity);
		size_t n;
		while (bytes && (n = fread(bytes + size, 1, capacity - size, in)) > 0) {
			size += n;
			if (size == capacity) {
				char *grown = realloc(bytes, capacity *= 2);
				if (!grown) {
					free(bytes);
					bytes = NULL;
				}
				bytes = grown;
			}
		}
		fclose(in);
		if (bytes)
			fuzz_write_file(name, bytes, size);
		free(bytes);
	}
	fclose(f);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	install_debug_files();
#ifdef FUZZ_ELF_LIBDWARF_READER
	/* A relocatable object is never handed over in place: opening one
	 * switches memprof (and this process) to libdwarf's ELF reader. */
	Elf64_Ehdr eh = {0};
	memcpy(eh.e_ident, ELFMAG, SELFMAG);
	eh.e_ident[EI_CLASS] = ELFCLASS64;
	eh.e_ident[EI_DATA] = ELFDATA2LSB;
	eh.e_ident[EI_VERSION] = EV_CURRENT;
	eh.e_type = ET_REL;
	eh.e_machine = EM_X86_64;
	eh.e_version = EV_CURRENT;
	eh.e_ehsize = sizeof(eh);
	mp_dw *dw = NULL;
	fuzz_drop_error(mp_dw_open(fuzz_write_file("switch.o", &eh, sizeof(eh)),
				   "switch", &dw));
	mp_dw_close(dw);
	if (!_dwarf_get_elf_flags_func_ptr) {
		fprintf(stderr, "fuzz_elf_reader: libdwarf's ELF reader did not run\n");
		abort();
	}
#endif
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *path = fuzz_write_file("input.elf", data, size);
	exercise_elf(path);
	mp_target *t = NULL;
	mp_error *err = mp_target_open_exe(path, NULL, &t);
	if (err) {
		fuzz_drop_error(err);
		return 0;
	}
	exercise_target(t);
#ifdef FUZZ_ELF_LIBDWARF_READER
	exercise_types(t);
#else
	static bool reported;
	static uint64_t inputs;
	inputs++;
	if (zero_copy_path_fits(data, size))
		exercise_types(t);
	if (_dwarf_get_elf_flags_func_ptr && !reported) {
		/* Not an error: libdwarf refused the in-place sections of an
		 * input that looked fine, and memprof fell back for good. */
		fprintf(stderr, "fuzz_elf: libdwarf's ELF reader is in use from input %llu on\n",
			(unsigned long long)inputs);
		reported = true;
		/* Keep the input that did it, to teach zero_copy_path_fits. */
		const char *keep = getenv("MEMPROF_FUZZ_KEEP_SWITCH");
		FILE *f = keep && keep[0] ? fopen(keep, "wb") : NULL;
		if (f) {
			fwrite(data, 1, size, f);
			fclose(f);
		}
	}
#endif
	mp_target_release(t);
	return 0;
}
