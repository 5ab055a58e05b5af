/* What the sources of a target (core file, live process, callback) share:
 * the mp_target record they fill in, and the hooks they implement. */
#ifndef MEMPROF_CORE_TARGET_INTERNAL_H
#define MEMPROF_CORE_TARGET_INTERNAL_H

#include <stdarg.h>

#include "memprof/memprof.h"
#include "warnings.h"
#include "elf/elf_file.h"

struct mp_target_source {
	const char *kind;
	/* Reads exactly length bytes or returns MP_ERR_FAULT naming the range. */
	mp_error *(*read)(mp_target *target, uint64_t address, void *buffer,
			  size_t length);
	/* Called once modules are known: lets a source use module files (core
	 * files read bytes the kernel did not dump from verified files). */
	void (*modules_ready)(mp_target *target);
	void (*release)(mp_target *target);
	/* Optional: a pointer to [address, address+length) without copying, or
	 * NULL when the source cannot (live memory, range not wholly saved). */
	const void *(*view)(mp_target *target, uint64_t address, size_t length);
	/* Optional: the scan is done with [address, address+length) of a view;
	 * the source may drop those pages from memprof's memory. */
	void (*unview)(mp_target *target, uint64_t address, size_t length);
	/* Optional: true once the process behind the target has exited and a
	 * read failed for it (live processes). */
	bool (*gone)(mp_target *target);
};

struct mp_module {
	const char *name;           /* as the target names it */
	const char *file;           /* host path opened, or NULL */
	const char *mapped_path;    /* path the target's mappings use, or NULL */
	mp_elf *elf;                /* that file, mapped; NULL if not opened */
	uint64_t load_bias;
	uint64_t start, end;
	char build_id[2 * 64 + 1];
	bool file_verified;         /* file build id equals the loaded one */
	const char *debug_file;
	const char *debug_source;
	bool is_main;
	struct mp_symbol_table *symbols;   /* loaded on first symbolize */
};

struct mp_target {
	const struct mp_target_source *source;
	void *state;                /* the source's own data */
	char *description;

	char *exe_path;
	char *sysroot;
	char **debug_dirs;
	size_t n_debug_dirs;
	/* debuginfod.c: the client, opened on first use; NULL until then. */
	struct mp_debuginfod *debuginfod;
	bool no_debuginfod;         /* --no-debuginfod, or a server failed */

	mp_thread *threads;
	size_t n_threads, threads_capacity;
	mp_mapping *mappings;       /* sorted by start once finished */
	size_t n_mappings, mappings_capacity;
	mp_auxv_entry *auxv;
	size_t n_auxv;
	mp_frame_variable *frame_variables;   /* strings interned */
	size_t n_frame_variables, frame_variables_capacity;
	mp_module **modules;
	size_t n_modules, modules_capacity;
	mp_warnings warnings;
	/* What the command says once on stderr that is no problem (a debug
	 * file downloaded): not a warning, and no part of any result. */
	mp_warnings notes;
	char **strings;             /* owned copies handed out as const char * */
	size_t n_strings, strings_capacity;

	mp_process_info process;
	struct mp_types *types;     /* core/dwarf: per-module type indexes, lazily */
	bool partial;
	bool finished;
	double modules_seconds;     /* module discovery's wall time (--stats) */
	/* core/heap/allocator.c: detected on first use, strings interned. */
	mp_allocator allocator;
	bool allocator_known;
	/* The command's hints (analysis/hints.h), borrowed for the length of
	 * one command: the logical walk and block typing read them here. */
	const struct mp_hints *hints;
};

mp_error *mp_target_create(const struct mp_target_source *source,
			   const mp_target_options *options, mp_target **out);
/* Keeps a copy of s for the target's lifetime; NULL when out of memory. */
const char *mp_target_intern(mp_target *target, const char *s);
const char *mp_target_intern_n(mp_target *target, const char *s, size_t n);
void mp_target_warn(mp_target *target, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Host path of a target path: sysroot applied. Caller frees. */
char *mp_target_host_path(const mp_target *target, const char *path);
uint64_t mp_target_auxv_value(const mp_target *target, uint64_t type,
			      bool *found);

/* Zero-copy access for large sequential scans (heap walks): NULL when the
 * source cannot give it, and the caller falls back to mp_target_read. */
const void *mp_target_view(mp_target *target, uint64_t address, size_t length);
/* Says a scan has passed a viewed range, so a 10 GB core walked from end to
 * end does not stay resident in memprof. Views of it must not be used after. */
void mp_target_unview(mp_target *target, uint64_t address, size_t length);

/* Reads a NUL-terminated string of at most max_length bytes. Caller frees. */
mp_error *mp_target_read_string(mp_target *target, uint64_t address,
				size_t max_length, char **out);

/* The module whose mapped range holds address (*index: its index, when
 * index is not NULL), or NULL. */
const mp_module *mp_target_module_at(const mp_target *target, uint64_t address, size_t *index);

/* symbols.c: the data or function symbol holding address (module symbol
 * tables, from the debug file when there is one), or NULL; *offset is
 * address minus the symbol's start. */
const char *mp_target_symbolize(mp_target *target, uint64_t address,
				uint64_t *offset);
/* The load address of symbol name of module m, from the module's own
 * symbol tables or else its separate debug file (opened and closed on each
 * call: for the few roots a heap backend looks up); *from_debug_file says
 * which.  False when neither has it. */
bool mp_module_symbol_address(const mp_module *m, const char *name, uint64_t *address,
			      bool *from_debug_file);
void mp_symbol_table_free(struct mp_symbol_table *table);

/* modules.c: fills target->modules from auxv, r_debug and mappings. */
mp_error *mp_modules_discover(mp_target *target);
void mp_module_free(mp_module *module);

/* debug_file.c: sets module->debug_file and debug_source. */
void mp_debug_file_find(mp_target *target, mp_module *module);
/* debug_file.c: the host path of the dwz supplementary file that
 * debug_file's .gnu_debugaltlink names (caller frees); *path NULL and no
 * error when it names none, MP_ERR_NOT_FOUND when it is nowhere. */
mp_error *mp_debug_alt_file_find(mp_target *target, const char *debug_file,
				 char **path);

/* debuginfod.c: the debug file with this build id (hex) from a debuginfod
 * server, as a path in libdebuginfod's cache (caller frees), or NULL: not
 * asked (DEBUGINFOD_URLS unset, --no-debuginfod), not there, or the server
 * failed (a target warning, and no more asking for this target).  name
 * (a module's, a dwz file's) is what messages call it. */
char *mp_debuginfod_find(mp_target *target, const char *build_id, const char *name);
void mp_debuginfod_free(struct mp_debuginfod *debuginfod);

/* A note for the command to print once ("memprof: NOTE"); notes that
 * cannot be stored are dropped. */
void mp_target_note(mp_target *target, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
size_t mp_target_note_count(const mp_target *target);
const char *mp_target_note_at(const mp_target *target, size_t index);

/* core/dwarf/types.c: frees target->types. */
void mp_types_free(struct mp_types *types);

/* NULL while the target serves reads; once its process has exited under a
 * read, the error an analysis must return instead of its result: blocks
 * whose roots could not be read would all look leaked. */
mp_error *mp_target_check_alive(mp_target *t);

/* Live targets (live.c): copies every writable mapping, then lets the
 * process run; reads of that memory keep giving the frozen moment, so the
 * pause lasts the copy only (`memprof watch`).  Other targets: nothing. */
mp_error *mp_target_live_thaw(mp_target *t);
/* mp_target_attach_pid flag (beside the public ones): thaw as soon as
 * the maps, registers and auxv are read, before module discovery. */
enum { MP_PID_THAW_EARLY = 1u << 16 };
/* After a thaw: how long the process was held, from the first seize to
 * the last detach, in ns; -1 when not thawed (or not live). */
int64_t mp_target_live_pause_ns(const mp_target *t);

/* Source constructors are the public mp_target_open_* functions. */

#endif
