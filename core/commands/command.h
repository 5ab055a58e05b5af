/* The command engine's view of one invocation, shared by every verb: parsed
 * options, the opened target, and where output goes.  The CLI, GDB and LLDB
 * all reach verbs through mp_command_run(), so a command line means the same
 * thing in all three. */
#ifndef MEMPROF_CORE_COMMANDS_COMMAND_H
#define MEMPROF_CORE_COMMANDS_COMMAND_H

#include <stdbool.h>
#include <stdio.h>

#include "memprof/memprof.h"

struct mp_json;

enum mp_format {
	MP_FORMAT_TEXT = 1 << 0,
	MP_FORMAT_JSON = 1 << 1,
	MP_FORMAT_FOLDED = 1 << 2,
	MP_FORMAT_CSV = 1 << 3,
	MP_FORMAT_PROMETHEUS = 1 << 4,
	MP_FORMAT_SVG = 1 << 5,
};

enum { MP_MAX_DEBUG_DIRS = 32, MP_MAX_POSITIONAL = 64 };

typedef struct mp_options {
	const char *core;
	const char *exe;
	const char *sysroot;
	long pid;                  /* 0: none */
	enum mp_format format;
	const char *output;
	const char *debug_dirs[MP_MAX_DEBUG_DIRS];
	size_t n_debug_dirs;
	bool no_libc_debug;
	bool no_debuginfod;
	const char *hints_files[MP_MAX_DEBUG_DIRS];   /* --hints FILE, in order */
	size_t n_hints_files;
	bool no_auto_hints;        /* --no-auto-hints: only --hints and the host's */
	const char *progress;      /* --progress: "auto" (NULL), "always", "never" */
	const char *verb_flags[8];  /* the verb's own valueless options given */
	size_t n_verb_flags;
	const char *verb_value_names[32];  /* the verb's own options with values,
					    * in order, repeats kept */
	const char *verb_values[32];
	size_t n_verb_values;
	char *positional[MP_MAX_POSITIONAL];
	size_t n_positional;
} mp_options;

typedef struct mp_command {
	const mp_host *host;
	const mp_options *options;
	mp_target *target;         /* NULL for verbs that need none */
	FILE *out;
	FILE *err;
	/* The hints in force (analysis/hints.h): found files, --hints files,
	 * then the host's session hints; also handed to the target. */
	mp_hints *hints;
} mp_command;

typedef struct mp_verb {
	const char *name;
	const char *summary;
	const char *usage;          /* options and arguments after the verb */
	unsigned formats;           /* MP_FORMAT_* it can write */
	unsigned default_format;    /* without --format; 0: text */
	bool needs_target;
	bool wants_target;          /* opens --core/--pid when given */
	/* wants_target verbs: the first argument that needs the target, which
	 * a debugger then supplies as for needs_target ("save"); NULL: none */
	const char *target_action;
	bool exe_target_ok;         /* --exe FILE alone is a target */
	/* needs_target verbs: an option of the verb's that replaces the target
	 * ("--snapshot FILE"); NULL: none. */
	const char *target_unless;
	const char *const *flags;   /* its own valueless options, NULL-ended */
	const char *const *valued;  /* its own options taking a value, NULL-ended */
	size_t min_positional, max_positional;
	/* Returns an MP_EXIT_* status; errors it reports itself. */
	int (*run)(mp_command *command);
} mp_verb;

/* Verbs, one file each. */
extern const mp_verb mp_verb_info;
extern const mp_verb mp_verb_type;
extern const mp_verb mp_verb_heap;
extern const mp_verb mp_verb_snapshot;
extern const mp_verb mp_verb_leaks;
extern const mp_verb mp_verb_run;
extern const mp_verb mp_verb_refs;
extern const mp_verb mp_verb_logical;
extern const mp_verb mp_verb_patterns;
extern const mp_verb mp_verb_recommend;
extern const mp_verb mp_verb_diff;
extern const mp_verb mp_verb_report;
extern const mp_verb mp_verb_watch;
extern const mp_verb mp_verb_triage;

/* True when the verb's own option name ("--list") was given. */
bool mp_command_flag(const mp_command *command, const char *name);
/* The value of the verb's own option ("--fail-on"), or NULL if not given;
 * the last one when it was given more than once. */
const char *mp_command_value(const mp_command *command, const char *name);
/* Its index-th value (0: the first given), or NULL past the last. */
const char *mp_command_value_at(const mp_command *command, const char *name, size_t index);

/* Loads the command's hints for command->target (done before every verb
 * with a target; `run` calls it for each process it checks) and lends them
 * to the target; mp_command_drop_hints takes them back and frees them. */
mp_error *mp_command_load_hints(mp_command *command);
void mp_command_drop_hints(mp_command *command);

/* Heap options from the command line and the host's interrupt poll. */
mp_heap_options mp_command_heap_options(const mp_command *command);

/* --threads N (1 to 64) in *threads, 0 when not given; false after saying
 * on command->err what is wrong with it. */
bool mp_command_threads(mp_command *command, unsigned *threads);

/* The leak check's options from the command line (--roots strict,
 * --threads; checked before by mp_leaks_check_options or
 * mp_command_threads) and the host's interrupt poll. */
mp_leak_options mp_command_leak_options(const mp_command *command);

/* "512M", "2G", "64KiB", "1048576" as bytes (commands/patterns.c). */
bool mp_command_parse_size(const char *text, uint64_t *out);

/* Prints "memprof: <message>" and returns the exit status for the error. */
int mp_command_fail(mp_command *command, mp_error *err);

/* The allocator that serves malloc, as every report names it: a text line
 * "allocator jemalloc 5.3.0 (malloc of /usr/lib/...)"; its JSON object is
 * mp_command_allocator_result (command_result.h). */
void mp_command_allocator_text(FILE *out, const mp_allocator *allocator);

/* The warnings a text report ends with, from every layer that made the
 * result (target, heap, leaks, walk): the first MP_TEXT_WARNINGS word for
 * word, then how many more, so a report saying it is partial says why. */
enum { MP_TEXT_WARNINGS = 10 };

typedef struct mp_text_warnings {
	const char *shown[MP_TEXT_WARNINGS];   /* borrowed from the results */
	size_t n_shown;
	unsigned long long total;
} mp_text_warnings;

void mp_text_warnings_add(mp_text_warnings *warnings, const char *message);
void mp_text_warnings_add_target(mp_text_warnings *warnings, const mp_target *target);
/* Nothing when there are no warnings and the result is whole. */
void mp_text_warnings_write(FILE *out, const mp_text_warnings *warnings, bool partial);

#endif
