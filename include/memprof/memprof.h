/*
 * libmemprof: inspect the memory of a paused, running or dead (core dump)
 * native program.  This is the whole public API; every type it names is
 * either opaque (handles) or a plain record owned by its handle.
 *
 * Conventions
 * - Every fallible function returns an mp_error *: NULL on success, else an
 *   error that the caller owns and frees with mp_error_free().
 * - Records returned by accessors (threads, mappings, modules) live as long
 *   as the target that returned them.
 * - The library never writes to the inspected process.
 */
#ifndef MEMPROF_MEMPROF_H
#define MEMPROF_MEMPROF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* libmemprof is built with hidden visibility (it is loaded into GDB and
 * LLDB, where its internal names must not meet theirs): what this header
 * declares is all it exports. */
#if defined(__GNUC__)
#pragma GCC visibility push(default)
#endif

#define MEMPROF_VERSION "0.1.0"

/* ---------------------------------------------------------------- errors */

enum mp_error_code {
	MP_ERR_NOMEM = 1,    /* out of memory in memprof itself */
	MP_ERR_USAGE,        /* bad command line or API misuse */
	MP_ERR_IO,           /* a file could not be opened or read */
	MP_ERR_FORMAT,       /* bad data from a target or file: not what it claims
			      * (bad ELF, corrupt note, damaged snapshot) */
	MP_ERR_UNSUPPORTED,  /* valid input memprof does not handle (32-bit, arch) */
	MP_ERR_FAULT,        /* target memory at an address cannot be read */
	MP_ERR_NOT_FOUND,    /* no such process, file, symbol or type */
	MP_ERR_PERMISSION,   /* the OS refused (ptrace, /proc) */
	MP_ERR_MISMATCH,     /* a file does not belong to the target (build id) */
	MP_ERR_INTERRUPTED,  /* the host asked to stop a long operation */
	MP_ERR_ALLOCATOR,    /* the target's malloc is an allocator whose heap
			      * memprof cannot read (jemalloc, tcmalloc, ...):
			      * every heap answer is refused */
};

typedef struct mp_error mp_error;

/* Creates an error; the message is formatted like printf. */
mp_error *mp_error_new(enum mp_error_code code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
enum mp_error_code mp_error_code(const mp_error *err);
/* What an error names, for callers that act on it: the address of a fault
 * (MP_ERR_FAULT), the errno and the path of a failed system call (0 and
 * NULL when the error has none). */
bool mp_error_address(const mp_error *err, uint64_t *address);
int mp_error_errnum(const mp_error *err);
const char *mp_error_path(const mp_error *err);
const char *mp_error_message(const mp_error *err);
void mp_error_free(mp_error *err);

/* ---------------------------------------------------------------- target */

typedef struct mp_target mp_target;
typedef struct mp_module mp_module;

typedef struct mp_target_options {
	const char *exe_path;          /* the main executable, overrides discovery */
	const char *sysroot;           /* prefix for every file path in the target */
	const char *const *debug_dirs; /* extra roots searched for debug files */
	size_t n_debug_dirs;
	/* Added last, so zeroed options keep the default: true never asks the
	 * debuginfod servers of $DEBUGINFOD_URLS for debug files not found
	 * locally (--no-debuginfod; docs/debuginfo.md). */
	bool no_debuginfod;
} mp_target_options;

/* x86-64 general registers in the kernel's user_regs_struct order. */
enum { MP_NUM_REGISTERS = 27 };
typedef struct mp_registers {
	uint64_t value[MP_NUM_REGISTERS];
} mp_registers;
const char *mp_register_name(size_t index);
/* Index of a register by name ("rsp", "fs_base"), or -1. */
int mp_register_index(const char *name);

typedef struct mp_thread {
	int64_t tid;
	mp_registers registers;
	bool has_registers;
	int signal;        /* signal that stopped it (cores), else 0 */
} mp_thread;

enum {
	MP_PERM_READ = 1,
	MP_PERM_WRITE = 2,
	MP_PERM_EXEC = 4,
	MP_PERM_SHARED = 8,
	MP_PERM_UNKNOWN = 16,  /* the target does not say (gcore omits some) */
};

/* How much of a mapping's contents the target can supply. */
enum mp_mapping_contents {
	MP_CONTENTS_FULL,     /* every byte readable */
	MP_CONTENTS_PARTIAL,  /* some bytes readable (partly dumped, truncated core) */
	MP_CONTENTS_FILE,     /* not in the core; read from the verified mapped file */
	MP_CONTENTS_NONE,     /* not readable at all */
};

typedef struct mp_mapping {
	uint64_t start, end;  /* [start, end) */
	uint64_t file_offset;
	unsigned perms;       /* MP_PERM_* */
	const char *path;     /* "" for anonymous memory; "[stack]" etc. live */
	enum mp_mapping_contents contents;
} mp_mapping;

typedef struct mp_auxv_entry {
	uint64_t type, value;
} mp_auxv_entry;

typedef struct mp_process_info {
	int64_t pid, ppid;
	int64_t uid, gid;
	const char *name;     /* command name (comm / pr_fname) */
	const char *args;     /* command line, space separated, may be cut short */
	const char *exe;      /* main executable as the target names it */
	int signal;           /* fatal signal of a core, 0 otherwise */
} mp_process_info;

mp_error *mp_target_open_core(const char *core_path,
			      const mp_target_options *options,
			      mp_target **out);

enum {
	/* The process is already stopped by a debugger that owns ptrace: read
	 * it through /proc without attaching; the host adds thread registers. */
	MP_PID_ALREADY_STOPPED = 1,
};
/* Freezes every thread of PID (ptrace seize + interrupt) until the target is
 * released, which detaches and lets the process continue unharmed. */
mp_error *mp_target_attach_pid(pid_t pid, const mp_target_options *options,
			       unsigned flags, mp_target **out);

/* A memory source for debugger front-ends whose target has neither a pid nor
 * a core file (remote stubs).  read() must fill all len bytes or fail. Reads
 * are cached by page for the target's lifetime, so the host must release the
 * target when its process resumes. */
typedef mp_error *(*mp_read_memory_fn)(void *context, uint64_t address,
				       void *buffer, size_t length);
mp_error *mp_target_open_callback(mp_read_memory_fn read, void *context,
				  const mp_target_options *options,
				  mp_target **out);
/* For callback targets and MP_PID_ALREADY_STOPPED: the host describes what the
 * library cannot find by itself, then calls mp_target_finish().  A mapping
 * that is empty or inverted is skipped with a warning (the target becomes
 * partial): mappings are target data, not arguments. */
mp_error *mp_target_add_mapping(mp_target *target, const mp_mapping *mapping);
mp_error *mp_target_add_thread(mp_target *target, int64_t tid,
			       const mp_registers *registers);
mp_error *mp_target_set_auxv(mp_target *target, const mp_auxv_entry *entries,
			     size_t count);
/* Discovers modules; needed once after the add_* calls above. */
mp_error *mp_target_finish(mp_target *target);

/* A variable of a stack frame as a debugger sees it: a typed root that names
 * the heap blocks it leads to (leak groups), for any target, before or after
 * mp_target_finish.  Hosts pass pointers and references to records, and
 * records in memory; the type is spelled as the debugger prints it with
 * typedefs resolved ("struct job *", "const ns::Widget &", "struct job"),
 * and looked up in the main program's debug info. */
typedef struct mp_frame_variable {
	const char *name;
	const char *type;
	uint64_t address;        /* records: where the variable is stored */
	uint64_t value;          /* pointers and references: what they hold */
	int64_t tid;             /* the thread whose stack has the frame */
	unsigned frame;          /* 0: the newest frame */
} mp_frame_variable;
/* Copies variable (and its strings) into the target. */
mp_error *mp_target_add_frame_variable(mp_target *target,
				       const mp_frame_variable *variable);
size_t mp_target_frame_variable_count(const mp_target *target);
const mp_frame_variable *mp_target_frame_variable(const mp_target *target,
						  size_t index);

void mp_target_release(mp_target *target);

/* Reads exactly len bytes or fails with MP_ERR_FAULT naming the range. */
mp_error *mp_target_read(mp_target *target, uint64_t address, void *buffer,
			 size_t length);

const char *mp_target_kind(const mp_target *target); /* "core", "live", "callback" */
const char *mp_target_description(const mp_target *target);
const mp_process_info *mp_target_process(const mp_target *target);

size_t mp_target_thread_count(const mp_target *target);
const mp_thread *mp_target_thread(const mp_target *target, size_t index);

size_t mp_target_mapping_count(const mp_target *target);
const mp_mapping *mp_target_mapping(const mp_target *target, size_t index);
/* The mapping containing address, or NULL. */
const mp_mapping *mp_target_find_mapping(const mp_target *target,
					 uint64_t address);

size_t mp_target_auxv_count(const mp_target *target);
const mp_auxv_entry *mp_target_auxv(const mp_target *target, size_t index);
/* Name of an AT_* constant ("AT_PHDR"), or NULL when unknown. */
const char *mp_auxv_type_name(uint64_t type);

/* Problems that did not stop the target from opening (truncated core,
 * unverifiable files): partial results are marked with them. */
size_t mp_target_warning_count(const mp_target *target);
/* True when some of the target's memory or notes are missing (truncated
 * core): results computed from it are partial. */
bool mp_target_partial(const mp_target *target);
const char *mp_target_warning(const mp_target *target, size_t index);

/* --------------------------------------------------------------- modules */

size_t mp_target_module_count(const mp_target *target);
const mp_module *mp_target_module(const mp_target *target, size_t index);

const char *mp_module_name(const mp_module *module);   /* as the target names it */
const char *mp_module_file(const mp_module *module);   /* host path opened, or NULL */
uint64_t mp_module_load_bias(const mp_module *module);
uint64_t mp_module_start(const mp_module *module);
uint64_t mp_module_end(const mp_module *module);
/* Build id as lowercase hex, "" when the module has none. */
const char *mp_module_build_id(const mp_module *module);
/* File holding the module's DWARF, or NULL; how it was found: "self",
 * "build-id", "debuglink", "debuginfod", or "none". */
const char *mp_module_debug_file(const mp_module *module);
const char *mp_module_debug_source(const mp_module *module);
bool mp_module_is_main(const mp_module *module);

/* ------------------------------------------------------------------ heap */

/* ------------------------------------------------------------- allocator */

/* Which allocator serves malloc in the target: the module the program's
 * calls to malloc bind to, in symbol lookup order (the executable, then the
 * libraries in load order, LD_PRELOAD'ed ones first). */
enum mp_allocator_kind {
	MP_ALLOCATOR_UNDETERMINED = 0, /* nothing says (no module files, no
					* libc): glibc is tried, as before */
	MP_ALLOCATOR_GLIBC,
	MP_ALLOCATOR_JEMALLOC,
	MP_ALLOCATOR_TCMALLOC,         /* gperftools */
	MP_ALLOCATOR_MIMALLOC,
	MP_ALLOCATOR_UNKNOWN,          /* a module memprof does not know
					* defines malloc */
};

typedef struct mp_allocator {
	enum mp_allocator_kind kind;
	const char *name;     /* "glibc", "jemalloc", "tcmalloc", "mimalloc",
			       * "unknown", "undetermined" */
	const char *version;  /* "2.36", "5.3.0", "2.10", "2.0.9"; "" when the
			       * module does not say */
	const char *module;   /* the module as the target names it; "" when
			       * none (undetermined, loaded snapshots) */
	bool readable;        /* memprof reads this allocator's heap */
} mp_allocator;

/* Detected once and kept with the target. */
const mp_allocator *mp_target_allocator(mp_target *target);
/* NULL when memprof can read the target's allocator; else the
 * MP_ERR_ALLOCATOR error that every heap-based answer gives, one line
 * naming the allocator, its version and module. */
mp_error *mp_allocator_check(mp_target *target);

/* A snapshot of the allocator's heap: every chunk with its state, in a
 * compact table sorted by address, whatever the allocator (glibc,
 * jemalloc, tcmalloc, mimalloc), and its detail rows.  Built from a target
 * or loaded from a file written by mp_heap_save. */
typedef struct mp_heap mp_heap;

enum mp_chunk_state {
	MP_CHUNK_IN_USE = 0,
	MP_CHUNK_IN_USE_MMAPPED,  /* allocated with its own mmap */
	MP_CHUNK_FREE,            /* in a bin: unsorted, small or large */
	MP_CHUNK_TCACHE,          /* free, parked in a thread's cache */
	MP_CHUNK_FASTBIN,         /* free, parked in a fastbin */
	MP_CHUNK_TOP,             /* an arena's top chunk */
	MP_CHUNK_METADATA,        /* allocator data in a chunk (tcache structs) */
	MP_CHUNK_CORRUPT,         /* bytes a walk could not parse */
	MP_CHUNK_STATE_COUNT,
	/* The neutral name: free to the program, held by a thread cache or
	 * a local free list of any allocator. */
	MP_CHUNK_CACHED = MP_CHUNK_TCACHE,
};
const char *mp_chunk_state_name(enum mp_chunk_state state);

typedef struct mp_chunk {
	uint64_t address;         /* of the allocator's record: glibc's chunk
				   * header; the block itself for allocators
				   * that keep no header */
	uint64_t size;            /* of the record (glibc: header included) */
	enum mp_chunk_state state;
	uint64_t user_address;    /* what malloc returned */
	uint64_t usable_size;     /* malloc_usable_size; 0 unless in use */
} mp_chunk;

typedef struct mp_heap_options {
	bool no_libc_debug;       /* find the allocator without libc's symbols */
	/* The caller reads all of the heap's memory next (a leak check): keep
	 * a core's walked pages mapped instead of dropping them as the walk
	 * passes, which saves faulting them in again. */
	bool keep_pages;
	/* Polled every million chunks; true stops with MP_ERR_INTERRUPTED. */
	bool (*interrupted)(void *context);
	void *context;
} mp_heap_options;

typedef struct mp_heap_problem {
	uint64_t address;
	const char *where;        /* which walk or list found it */
	const char *message;
} mp_heap_problem;

/* Fails with MP_ERR_ALLOCATOR (mp_allocator_check) when the target's
 * malloc is not one memprof reads: never a glibc answer for memory glibc
 * does not manage. */
mp_error *mp_heap_open(mp_target *target, const mp_heap_options *options,
		       mp_heap **out);
void mp_heap_free(mp_heap *heap);

/* "glibc 2.36"; how the allocator was found ("libc debug symbols",
 * "structural search"). */
const char *mp_heap_backend(const mp_heap *heap);
const char *mp_heap_located_by(const mp_heap *heap);
/* The allocator the heap was read from (module "" for loaded snapshots). */
mp_allocator mp_heap_allocator(const mp_heap *heap);

size_t mp_heap_chunk_count(const mp_heap *heap);
/* Chunks are sorted by address. */
mp_chunk mp_heap_chunk(const mp_heap *heap, size_t index);
/* Index of the chunk whose [address, address+size) holds address, or -1. */
ptrdiff_t mp_heap_find_chunk(const mp_heap *heap, uint64_t address);
/* Index of the block (a chunk in use) whose usable bytes hold address, or
 * -1.  Not always the chunk find_chunk names: an arena chunk in use owns
 * the next chunk's prev_size word as its last 8 usable bytes. */
ptrdiff_t mp_heap_find_block(const mp_heap *heap, uint64_t address);
/* Index of the allocator arena owning chunk index (arenas numbered from
 * 0, each described by detail rows whose arena is that index), or -1:
 * mmapped chunks, and allocators whose walk does not attribute chunks to
 * arenas (jemalloc, tcmalloc, mimalloc). */
int mp_heap_chunk_arena(const mp_heap *heap, size_t index);
/* Bytes the program may use in a chunk (malloc_usable_size): 0 unless in use. */
uint64_t mp_chunk_usable_size(const mp_chunk *chunk);
/* The allocator's own facts beyond the common view, as rows of a group,
 * a name and a value (docs/allocators.md lists each allocator's): glibc's
 * arenas ("arena 0x..."), malloc's peaks ("peak") and mallinfo2
 * ("mallinfo"); jemalloc's arenas and bins, tcmalloc's size classes,
 * mimalloc's pages; the allocator's totals under group "totals".  A row
 * about one of the arenas mp_heap_chunk_arena numbers carries that index
 * in arena, others -1.  A group's rows are consecutive.  Strings live as
 * long as the heap. */
typedef struct mp_heap_detail {
	const char *group, *name;
	uint64_t value;
	int arena;
} mp_heap_detail;
size_t mp_heap_detail_count(const mp_heap *heap);
mp_heap_detail mp_heap_detail_at(const mp_heap *heap, size_t index);

/* What the allocator holds from the system for the heap, in its own
 * statistics: glibc's mallinfo2 arena + hblkhd, jemalloc's stats.mapped,
 * tcmalloc's generic.heap_size, mimalloc's segments' bytes. */
uint64_t mp_heap_system_bytes(const mp_heap *heap);

size_t mp_heap_problem_count(const mp_heap *heap);
const mp_heap_problem *mp_heap_problem_at(const mp_heap *heap, size_t index);
/* True when a walk hit corruption or unreadable memory: partial results. */
bool mp_heap_partial(const mp_heap *heap);

/* Versioned binary snapshot: chunks, the allocator's detail, time, target. */
mp_error *mp_heap_save(const mp_heap *heap, const char *path);
mp_error *mp_heap_load(const char *path, mp_heap **out);
int64_t mp_heap_timestamp(const mp_heap *heap);   /* seconds since epoch */
const char *mp_heap_target_description(const mp_heap *heap);

/* ----------------------------------------------------------------- types */

/* DWARF types and static variables of the target's modules (core/dwarf/).
 * Each module's debug file is opened and indexed by name on first use and
 * kept for the target's lifetime; types are resolved lazily and cached, so
 * handles are cheap to ask for again and live as long as the target. */

/* A target made of one executable file and nothing else: types and the
 * initial contents of its data (`memprof type NAME --exe FILE`). */
mp_error *mp_target_open_exe(const char *exe_path,
			     const mp_target_options *options,
			     mp_target **out);

typedef struct mp_type mp_type;

enum mp_type_kind {
	MP_TYPE_INVALID = 0,  /* unreadable DWARF: mp_type_error() says why */
	MP_TYPE_VOID,
	MP_TYPE_BASE,         /* int, double, bool, char32_t, u8, f64 ... */
	MP_TYPE_STRUCT,
	MP_TYPE_CLASS,
	MP_TYPE_UNION,
	MP_TYPE_ENUM,
	MP_TYPE_TYPEDEF,
	MP_TYPE_POINTER,
	MP_TYPE_REFERENCE,
	MP_TYPE_RVALUE_REFERENCE,
	MP_TYPE_MEMBER_POINTER,
	MP_TYPE_ARRAY,
	MP_TYPE_CONST,
	MP_TYPE_VOLATILE,
	MP_TYPE_RESTRICT,
	MP_TYPE_ATOMIC,
	MP_TYPE_FUNCTION,     /* a subroutine type: return type and parameters */
	MP_TYPE_UNSPECIFIED,  /* decltype(nullptr) and the like */
};

typedef struct mp_type_member {
	const char *name;       /* "" for anonymous members */
	uint64_t offset;        /* bytes from the start; for a bitfield, its
				 * storage unit's start, as pahole shows it */
	uint64_t size;          /* bytes of the member's type */
	uint32_t bit_offset;    /* bitfields: first bit within the unit at offset */
	uint32_t bit_size;      /* bitfields: width in bits; 0 for other members */
	const mp_type *type;
	bool is_base;           /* a base class (C++ inheritance) */
	bool is_virtual_base;   /* virtual: offset only known at run time */
	bool artificial;        /* compiler-made (vtable pointer ...) */
} mp_type_member;

typedef struct mp_type_enumerator {
	const char *name;
	int64_t value;          /* unsigned enums: cast to uint64_t */
} mp_type_enumerator;

/* A Rust enum variant (DW_TAG_variant): active when the discriminant holds
 * discr_value; the variant without one is the default (niche layouts: the
 * dataful variant). */
typedef struct mp_type_variant {
	const char *name;
	const mp_type *type;    /* the variant's struct */
	uint64_t offset;
	uint64_t discr_value;
	bool has_discr_value;
} mp_type_variant;

typedef struct mp_type_template_param {
	const char *name;
	const mp_type *type;    /* NULL for a value parameter without a type */
	int64_t value;          /* value parameters */
	bool is_value;
} mp_type_template_param;

typedef struct mp_variable {
	const char *name;       /* qualified: ns::var, crate::module::STATIC */
	uint64_t address;       /* in the target: load bias applied */
	const mp_type *type;
	const mp_module *module;
} mp_variable;

/* The type named name in any module: the main program first, then the
 * others in load order.  Names as GDB and LLDB print them: `struct foo`
 * (or `foo`) for C tags, typedef names, `ns::Class<T>` for C++ (spacing as
 * in `> >` or `>>` does not matter), Rust paths (`alloc::vec::Vec<u8,
 * alloc::alloc::Global>`).  Declarations resolve to the definition.  A
 * miss is MP_ERR_NOT_FOUND suggesting close names; a module without debug
 * info or with corrupt DWARF is skipped and named in that message. */
mp_error *mp_type_find(mp_target *target, const char *name,
		       const mp_type **out);
/* The same, in one module only. */
mp_error *mp_type_find_in_module(mp_target *target, const mp_module *module,
				 const char *name, const mp_type **out);
/* A global or static variable (C `instance`, C++ `ns::instance`, Rust
 * `crate::INSTANCE`): its address with the load bias applied, and type. */
mp_error *mp_type_find_variable(mp_target *target, const char *name,
				mp_variable *out);
/* Calls visit for every global and static variable with an address (in
 * module only, or all modules when NULL), until visit returns false. */
mp_error *mp_type_list_variables(mp_target *target, const mp_module *module,
				 bool (*visit)(void *context, const mp_variable *variable),
				 void *context);
/* Indexes module now (normally done on first lookup): the cost of the
 * first lookup, separately measurable. */
mp_error *mp_type_index_module(mp_target *target, const mp_module *module);
/* Calls visit for every indexed type whose name matches pattern (a shell
 * glob when it has * ? or [, else a substring; NULL: all), in every module
 * with debug info; stops early when visit returns false.  Names are
 * visited in index order; a name defined in several modules is visited
 * for each. */
mp_error *mp_type_list(mp_target *target, const char *pattern,
		       bool (*visit)(void *context, const char *name,
				     const mp_type *type),
		       void *context);

/* Accessors never fail: a type whose DWARF could not be read has kind
 * MP_TYPE_INVALID (or no members) and mp_type_error() tells why. */
enum mp_type_kind mp_type_kind(const mp_type *type);
const char *mp_type_kind_name(enum mp_type_kind kind); /* "struct", "pointer" */
/* Qualified name; composed for unnamed types ("const char *", "int [3][4]",
 * "int (*)(int, char *)"); "struct {...}" and the like for anonymous
 * structs, unions and enums. */
const char *mp_type_name(const mp_type *type);
uint64_t mp_type_size(const mp_type *type);
/* False for incomplete types (declarations without a definition, void,
 * functions, flexible arrays count their fixed part only). */
bool mp_type_is_complete(const mp_type *type);
const mp_module *mp_type_module(const mp_type *type);
uint64_t mp_type_die_offset(const mp_type *type); /* in .debug_info */
const char *mp_type_error(const mp_type *type);   /* NULL when fine */
/* What a typedef, cv-qualifier, pointer, reference, array (the element),
 * enum (the underlying integer), member pointer or function (the return
 * type) refers to: the MP_TYPE_VOID type for void * and void returns; NULL
 * when the kind refers to nothing (base types, records). */
const mp_type *mp_type_target(const mp_type *type);
/* Follows typedefs and cv-qualifiers (bounded) to the type underneath. */
const mp_type *mp_type_strip(const mp_type *type);
/* Base types: DW_ATE_* encoding (signed, float ...), 0 otherwise. */
unsigned mp_type_encoding(const mp_type *type);

/* Struct, class and union members (base classes first among equals),
 * sorted by offset. */
size_t mp_type_member_count(const mp_type *type);
const mp_type_member *mp_type_member_at(const mp_type *type, size_t index);
size_t mp_type_enumerator_count(const mp_type *type);
const mp_type_enumerator *mp_type_enumerator_at(const mp_type *type, size_t index);
/* Arrays: every dimension outermost first; a flexible or zero-length
 * dimension counts 0 and mp_type_array_flexible() is true. */
size_t mp_type_array_dimension_count(const mp_type *type);
uint64_t mp_type_array_dimension(const mp_type *type, size_t index);
bool mp_type_array_flexible(const mp_type *type);
/* Functions: parameter types; variadic when it ends in "...". */
size_t mp_type_param_count(const mp_type *type);
const mp_type *mp_type_param(const mp_type *type, size_t index);
bool mp_type_variadic(const mp_type *type);
size_t mp_type_template_param_count(const mp_type *type);
const mp_type_template_param *mp_type_template_param_at(const mp_type *type,
						     size_t index);
/* Rust enums (DW_TAG_variant_part).  The discriminant lives at
 * *offset (*size bytes, unsigned); false when type has no variant part. */
bool mp_type_discriminant(const mp_type *type, uint64_t *offset,
			  uint64_t *size);
size_t mp_type_variant_count(const mp_type *type);
const mp_type_variant *mp_type_variant_at(const mp_type *type, size_t index);
/* The variant active for an object whose bytes are object[0, size), or
 * NULL (no variant part, discriminant out of range, no default). */
const mp_type_variant *mp_type_active_variant(const mp_type *type,
					      const void *object, size_t size);

/* ----------------------------------------------------------------- leaks */

/* Reachability over a heap snapshot, classified as valgrind memcheck does.
 * Roots: every register of every thread, each stack from its stack pointer
 * (less the 128-byte red zone) up, the writable segments of every module,
 * and (unless strict) every other readable, writable mapping that is not
 * the heap.  Pointers to the first byte of a block are start pointers, to
 * any other byte of it interior pointers. */
typedef struct mp_leaks mp_leaks;

enum mp_leak_kind {
	MP_LEAK_NOT_A_BLOCK = 0,   /* free, cached, top, metadata chunks */
	MP_LEAK_REACHABLE,         /* still reachable: start pointers all the way */
	MP_LEAK_POSSIBLE,          /* possibly lost: an interior pointer on every path */
	MP_LEAK_DEFINITE,          /* definitely lost: no pointer from reachable memory */
	MP_LEAK_INDIRECT,          /* indirectly lost: only lost blocks point to it */
};
const char *mp_leak_kind_name(enum mp_leak_kind kind);

typedef struct mp_leak_options {
	bool strict_roots;         /* only stacks, registers and module data */
	unsigned threads;          /* scanning threads; 0: one per CPU */
	/* Polled between phases and every few million words; true stops the
	 * scan with MP_ERR_INTERRUPTED. */
	bool (*interrupted)(void *context);
	void *context;
} mp_leak_options;

/* Where a root range lives, for `refs` and typed roots. */
enum mp_root_kind {
	MP_ROOT_REGISTER,          /* thread, register index */
	MP_ROOT_STACK,             /* thread */
	MP_ROOT_TLS,               /* the static TLS area a thread's fs_base is in */
	MP_ROOT_MODULE,            /* module writable data */
	MP_ROOT_MAPPING,           /* another writable mapping */
};

mp_error *mp_leaks_analyze(mp_target *target, const mp_heap *heap,
			   const mp_leak_options *options, mp_leaks **out);
void mp_leaks_free(mp_leaks *leaks);
/* Kind of the chunk at index in the heap. */
enum mp_leak_kind mp_leaks_kind(const mp_leaks *leaks, size_t chunk_index);
/* chap's "unreferenced": a lost block no other lost block points to. */
bool mp_leaks_unreferenced(const mp_leaks *leaks, size_t chunk_index);
/* Bytes of root and block memory scanned, for reports and benchmarks. */
uint64_t mp_leaks_scanned_bytes(const mp_leaks *leaks);
/* The block scan (pointer lookup of every block word): its bytes, wall
 * time and threads. */
uint64_t mp_leaks_scan_bytes(const mp_leaks *leaks);
double mp_leaks_scan_seconds(const mp_leaks *leaks);
unsigned mp_leaks_scan_threads(const mp_leaks *leaks);
/* True when some root or block could not be read: counts may be off. */
bool mp_leaks_partial(const mp_leaks *leaks);
size_t mp_leaks_warning_count(const mp_leaks *leaks);
const char *mp_leaks_warning(const mp_leaks *leaks, size_t index);

/* ----------------------------------------------------------------- hints */

/* Hints say what DWARF cannot about struct members: a pointer's length or
 * capacity field, that it is a string or borrowed (owned elsewhere), the
 * active member of a union from a tag, a void pointer's type, an intrusive
 * link (container_of).  The text format is in docs/logical.md ("Hints").
 * Commands load `--hints FILE`, EXE.memprof-hints and
 * $XDG_CONFIG_HOME/memprof/hints/ *.hints themselves; a debugger keeps a
 * set for its session and hands it over in mp_host.hints. */
typedef struct mp_hints mp_hints;

mp_error *mp_hints_new(mp_hints **out);
/* Adds the hints of text (one or more lines of the file format); source
 * names it in error messages ("SOURCE:LINE: ...").  A text with an error
 * adds nothing. */
mp_error *mp_hints_add_text(mp_hints *hints, const char *text, const char *source);
/* The same for a file: errors name PATH:LINE. */
mp_error *mp_hints_add_file(mp_hints *hints, const char *path);
/* Members hinted so far. */
size_t mp_hints_count(const mp_hints *hints);
void mp_hints_free(mp_hints *hints);

/* -------------------------------------------------------------- commands */

/* What a debugger front-end supplies to the command engine: a target it has
 * opened (the engine does not release it), or NULL to let the command line's
 * --core/--pid choose. */
/* One report of long work in progress, for mp_host.progress. */
typedef struct mp_progress {
	const char *phase;      /* "heap walk", "leak scan", ...; NULL: erase */
	const char *unit;       /* what done and total count: "bytes", "chunks" */
	uint64_t done;
	uint64_t total;         /* 0: not known */
	double elapsed;         /* seconds since the phase began */
	double rate;            /* units a second so far */
	double remaining;       /* seconds left, estimated; negative: not known */
	/* All of the above as one short line (under 80 columns), for hosts
	 * that only show it: "leak scan  42%  1.1M/2.7M chunks  2.3M chunks/s
	 * 1s left".  NULL: erase. */
	const char *text;
} mp_progress;

typedef struct mp_host {
	const char *name;      /* "cli", "gdb", "lldb" */
	mp_target *target;
	/* Polled during long operations; returning true interrupts them. */
	bool (*interrupted)(void *context);
	void *context;
	/* Opens the target the host is debugging, called only when a verb needs
	 * a target, target is NULL and the command line names none (an explicit
	 * --core/--pid wins).  options carry the command line's --exe, --sysroot
	 * and --debug-dir.  The engine releases what it gets.  NULL: none. */
	mp_error *(*open_target)(void *context, const mp_target_options *options,
				 mp_target **out);
	/* Added last so hosts built before it (zeroed or with designated
	 * initialisers) keep working: NULL means no progress.
	 *
	 * Progress of long work (heap walk, leak scan, DWARF indexing, ...),
	 * by the --progress=auto|always|never option of every verb: `never`
	 * calls it never, `always` whenever the engine has something to show,
	 * `auto` (the default) only when progress_interactive is true and the
	 * results do not go to the same place as text would be read from: the
	 * format is text, or --output names a file.  Nothing is reported
	 * during a command's first half second, then at most ten times a
	 * second, from the thread that called mp_command_run only (a host such
	 * as GDB's Python may not be called from others).  p->text NULL (and
	 * p->phase NULL) means: erase what was shown; it comes after every phase
	 * that showed a line, before the engine's own error and warning
	 * messages, and before mp_command_run returns.  context is the field
	 * above. */
	void (*progress)(void *context, const mp_progress *p);
	/* Whether the person reading the host's messages sees a line redrawn
	 * in place (the CLI: stderr is a terminal); decides --progress=auto. */
	bool progress_interactive;
	/* Added last, as progress: hints the host keeps for its session
	 * (`memprof hint ...`), applied to every command after the command
	 * line's --hints files.  NULL: none.  The engine does not change it. */
	const mp_hints *hints;
} mp_host;

enum {
	MP_EXIT_OK = 0,
	MP_EXIT_ERROR = 1,
	MP_EXIT_USAGE = 2,
	MP_EXIT_CHECK_FAILED = 3,
};

/* The verbs the engine knows, for hosts that register one command per verb:
 * name and one-line summary; NULL past the end. */
size_t mp_command_verb_count(void);
const char *mp_command_verb_name(size_t index);
const char *mp_command_verb_summary(size_t index);

/* Runs one command line (argv[0] is the verb) and returns its exit status.
 * Results go to out (or --output), messages to err. */
int mp_command_run(int argc, char **argv, const mp_host *host, FILE *out,
		   FILE *err);

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#ifdef __cplusplus
}
#endif

#endif /* MEMPROF_MEMPROF_H */
