/* The command engine: one parser for every host.  It reads the verb and the
 * common options, opens the target the command line names (or takes the
 * host's), routes output to --output, and maps errors to exit statuses:
 * 1 runtime error, 2 usage error, 3 a requested check failed. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "command.h"
#include "command_result.h"
#include "analysis/hints.h"
#include "error.h"
#include "output/json.h"
#include "progress.h"
#include "target/target_internal.h"

static const mp_verb *const verbs[] = {
	&mp_verb_info,
	&mp_verb_type,
	&mp_verb_heap,
	&mp_verb_snapshot,
	&mp_verb_leaks,
	&mp_verb_run,
	&mp_verb_refs,
	&mp_verb_logical,
	&mp_verb_patterns,
	&mp_verb_recommend,
	&mp_verb_diff,
	&mp_verb_report,
	&mp_verb_watch,
	&mp_verb_triage,
};

enum { N_VERBS = sizeof(verbs) / sizeof(verbs[0]) };

size_t mp_command_verb_count(void)
{
	return N_VERBS;
}

const char *mp_command_verb_name(size_t index)
{
	return index < N_VERBS ? verbs[index]->name : NULL;
}

const char *mp_command_verb_summary(size_t index)
{
	return index < N_VERBS ? verbs[index]->summary : NULL;
}

static const char common_usage[] =
	"target (the CLI; debuggers supply their own):\n"
	"  --core FILE [--exe FILE] [--sysroot DIR]   a core dump\n"
	"  --pid PID                                  a live process (frozen while read)\n"
	"common options:\n"
	"  --format text|json|folded|csv|prometheus|svg   (each verb lists what it writes)\n"
	"  --output FILE        write results to FILE instead of standard output\n"
	"  --debug-dir DIR      extra root for debug files (repeatable)\n"
	"  --no-libc-debug      ignore libc's debug symbols\n"
	"  --no-debuginfod      never download debug files from $DEBUGINFOD_URLS\n"
	"  --hints FILE         hints for what DWARF cannot say (repeatable; see\n"
	"                       docs/logical.md); EXE.memprof-hints and\n"
	"                       $XDG_CONFIG_HOME/memprof/hints/*.hints are loaded too\n"
	"  --no-auto-hints      load only --hints files (and the debugger's)\n"
	"  --progress auto|always|never   a progress line on stderr during long work;\n"
	"                       auto: when stderr is a terminal and results are text\n"
	"                       or go to --output\n"
	"exit status: 0 ok, 1 runtime error, 2 usage error, 3 a requested check failed\n";

static void print_overview(FILE *out)
{
	fprintf(out, "usage: memprof VERB [target] [options] [args]\n\nverbs:\n");
	for (size_t i = 0; i < N_VERBS; i++)
		fprintf(out, "  %-10s %s\n", verbs[i]->name, verbs[i]->summary);
	fprintf(out, "\n%s\nmemprof VERB --help describes a verb.\n", common_usage);
}

static const char *const format_names[] = {
	"text", "json", "folded", "csv", "prometheus", "svg",
};

static void print_verb_help(FILE *out, const mp_verb *verb)
{
	fprintf(out, "usage: memprof %s [target] [options]%s%s\n\n%s\n\nformats:",
		verb->name, verb->usage[0] ? " " : "", verb->usage, verb->summary);
	for (size_t i = 0; i < sizeof(format_names) / sizeof(format_names[0]); i++)
		if (verb->formats & (1u << i))
			fprintf(out, " %s", format_names[i]);
	fprintf(out, "\n\n%s", common_usage);
}

static int usage_error(FILE *err, const char *verb, const char *fmt, const char *arg)
{
	fprintf(err, "memprof: ");
	fprintf(err, fmt, arg);
	fprintf(err, " (see memprof %s%s--help)\n", verb ? verb : "",
		verb ? " " : "");
	return MP_EXIT_USAGE;
}

void mp_command_allocator_result(mp_result *r, mp_rnode parent, const mp_allocator *a)
{
	mp_rnode o = mp_result_object(r, parent, "allocator");
	mp_result_string(r, o, "name", a->name);
	mp_result_string(r, o, "version", a->version);
	mp_result_string(r, o, "module", a->module);
	mp_result_bool(r, o, "readable", a->readable);
}

void mp_command_allocator_text(FILE *out, const mp_allocator *a)
{
	fprintf(out, "allocator %s%s%s", a->name, a->version[0] ? " " : "", a->version);
	if (a->module[0])
		fprintf(out, " (malloc of %s)", a->module);
	fprintf(out, "%s\n", a->readable ? "" : ": not readable by memprof");
}

mp_heap_options mp_command_heap_options(const mp_command *c)
{
	mp_heap_options options = {.no_libc_debug = c->options->no_libc_debug};
	if (c->host) {
		options.interrupted = c->host->interrupted;
		options.context = c->host->context;
	}
	return options;
}

mp_leak_options mp_command_leak_options(const mp_command *c)
{
	const char *roots = mp_command_value(c, "--roots");
	const char *threads = mp_command_value(c, "--threads");
	mp_leak_options options = {
		.strict_roots = roots && strcmp(roots, "strict") == 0,
		.threads = threads ? (unsigned)strtoul(threads, NULL, 10) : 0,
	};
	if (c->host) {
		options.interrupted = c->host->interrupted;
		options.context = c->host->context;
	}
	return options;
}

bool mp_command_threads(mp_command *c, unsigned *threads)
{
	const char *text = mp_command_value(c, "--threads");
	char *end = NULL;
	unsigned long n = text ? strtoul(text, &end, 10) : 0;
	*threads = 0;
	if (text && (n == 0 || *end || n > 64)) {
		fprintf(c->err, "memprof: --threads takes a number from 1 to 64, not '%s'\n", text);
		return false;
	}
	*threads = (unsigned)n;
	return true;
}

const char *mp_command_value(const mp_command *c, const char *name)
{
	const char *last = NULL;
	for (size_t i = 0; i < c->options->n_verb_values; i++)
		if (strcmp(c->options->verb_value_names[i], name) == 0)
			last = c->options->verb_values[i];
	return last;
}

const char *mp_command_value_at(const mp_command *c, const char *name, size_t index)
{
	for (size_t i = 0; i < c->options->n_verb_values; i++)
		if (strcmp(c->options->verb_value_names[i], name) == 0 && index-- == 0)
			return c->options->verb_values[i];
	return NULL;
}

bool mp_command_flag(const mp_command *c, const char *name)
{
	for (size_t i = 0; i < c->options->n_verb_flags; i++)
		if (strcmp(c->options->verb_flags[i], name) == 0)
			return true;
	return false;
}

int mp_command_fail(mp_command *c, mp_error *err)
{
	mp_progress_clear();
	int status = mp_error_code(err) == MP_ERR_USAGE ? MP_EXIT_USAGE : MP_EXIT_ERROR;
	fprintf(c->err, "memprof: %s\n", mp_error_message(err));
	mp_error_free(err);
	return status;
}

static bool parse_format(const char *name, enum mp_format *format)
{
	for (size_t i = 0; i < sizeof(format_names) / sizeof(format_names[0]); i++) {
		if (strcmp(name, format_names[i]) == 0) {
			*format = (enum mp_format)(1u << i);
			return true;
		}
	}
	return false;
}

/* Parses argv after the verb; returns MP_EXIT_OK or MP_EXIT_USAGE. */
static int parse_options(const mp_verb *verb, int argc, char **argv,
			 mp_options *o, bool *help, FILE *err)
{
	const char *v = verb->name;
	bool only_positional = false;
	for (int i = 0; i < argc; i++) {
		char *arg = argv[i];
		if (only_positional || arg[0] != '-' || strcmp(arg, "-") == 0) {
			if (o->n_positional == MP_MAX_POSITIONAL)
				return usage_error(err, v, "too many arguments at '%s'", arg);
			o->positional[o->n_positional++] = arg;
			continue;
		}
		if (strcmp(arg, "--") == 0) {
			only_positional = true;
			continue;
		}
		if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
			*help = true;
			continue;
		}
		if (strcmp(arg, "--no-libc-debug") == 0) {
			o->no_libc_debug = true;
			continue;
		}
		if (strcmp(arg, "--no-debuginfod") == 0) {
			o->no_debuginfod = true;
			continue;
		}
		if (strcmp(arg, "--no-auto-hints") == 0) {
			o->no_auto_hints = true;
			continue;
		}
		/* Options with a value: "--name value" or "--name=value". */
		char *value = strchr(arg, '=');
		size_t name_length = value ? (size_t)(value - arg) : strlen(arg);
		static const char *const valued[] = {
			"--core", "--exe", "--sysroot", "--pid", "--format", "--output",
			"--debug-dir", "--progress", "--hints",
		};
		const char *name = NULL;
		for (size_t k = 0; !value && verb->flags && verb->flags[k]; k++) {
			if (strcmp(arg, verb->flags[k]) == 0 &&
			    o->n_verb_flags < sizeof(o->verb_flags) / sizeof(o->verb_flags[0]))
				name = o->verb_flags[o->n_verb_flags++] = verb->flags[k];
		}
		if (name)
			continue;
		for (size_t k = 0; k < sizeof(valued) / sizeof(valued[0]); k++)
			if (strlen(valued[k]) == name_length &&
			    strncmp(arg, valued[k], name_length) == 0)
				name = valued[k];
		bool verb_valued = false;
		for (size_t k = 0; !name && verb->valued && verb->valued[k]; k++) {
			if (strlen(verb->valued[k]) == name_length &&
			    strncmp(arg, verb->valued[k], name_length) == 0) {
				name = verb->valued[k];
				verb_valued = true;
			}
		}
		if (!name)
			return usage_error(err, v, "unknown option '%s'", arg);
		if (value) {
			value++;
		} else {
			if (i + 1 >= argc)
				return usage_error(err, v, "option '%s' needs a value", arg);
			value = argv[++i];
		}
		if (verb_valued) {
			/* Each given value is kept (`recommend --snapshot A
			 * --snapshot B`); mp_command_value answers the last. */
			size_t slot = o->n_verb_values;
			if (slot == sizeof(o->verb_values) / sizeof(o->verb_values[0]))
				return usage_error(err, v, "too many options at '%s'", arg);
			o->verb_value_names[slot] = name;
			o->verb_values[slot] = value;
			o->n_verb_values++;
		} else if (strcmp(name, "--core") == 0) {
			o->core = value;
		} else if (strcmp(name, "--exe") == 0) {
			o->exe = value;
		} else if (strcmp(name, "--sysroot") == 0) {
			o->sysroot = value;
		} else if (strcmp(name, "--output") == 0) {
			o->output = value;
		} else if (strcmp(name, "--debug-dir") == 0) {
			if (o->n_debug_dirs == MP_MAX_DEBUG_DIRS)
				return usage_error(err, v, "too many --debug-dir options at '%s'", value);
			o->debug_dirs[o->n_debug_dirs++] = value;
		} else if (strcmp(name, "--hints") == 0) {
			if (o->n_hints_files == MP_MAX_DEBUG_DIRS)
				return usage_error(err, v, "too many --hints options at '%s'", value);
			o->hints_files[o->n_hints_files++] = value;
		} else if (strcmp(name, "--progress") == 0) {
			if (strcmp(value, "auto") != 0 && strcmp(value, "always") != 0 &&
			    strcmp(value, "never") != 0)
				return usage_error(err, v, "--progress takes auto, always or never, not '%s'",
						   value);
			o->progress = value;
		} else if (strcmp(name, "--format") == 0) {
			if (!parse_format(value, &o->format))
				return usage_error(err, v, "unknown format '%s'", value);
		} else {
			char *end;
			errno = 0;
			long pid = strtol(value, &end, 10);
			if (errno || *end || end == value || pid <= 0)
				return usage_error(err, v, "--pid needs a positive process id, not '%s'", value);
			o->pid = pid;
		}
	}
	return MP_EXIT_OK;
}

/* Whether the verb needs a target with these options: not when the option
 * that replaces it was given. */
static bool target_needed(const mp_verb *verb, const mp_options *o)
{
	if (!verb->needs_target)
		return false;
	for (size_t i = 0; verb->target_unless && i < o->n_verb_values; i++)
		if (strcmp(o->verb_value_names[i], verb->target_unless) == 0)
			return false;
	return true;
}

static int check_options(const mp_verb *verb, const mp_options *o,
			 const mp_host *host, FILE *err)
{
	const char *v = verb->name;
	if (!(verb->formats & o->format)) {
		const char *name = "?";
		for (size_t i = 0; i < sizeof(format_names) / sizeof(format_names[0]); i++)
			if (o->format == (enum mp_format)(1u << i))
				name = format_names[i];
		return usage_error(err, v, "this verb cannot write --format %s", name);
	}
	if (o->n_positional < verb->min_positional)
		return usage_error(err, v, "missing argument%s", "");
	if (o->n_positional > verb->max_positional)
		return usage_error(err, v, "unexpected argument '%s'",
				   o->positional[verb->max_positional]);
	/* A host that opens its target on demand yields to --core/--pid. */
	bool host_target = host && (host->target || host->open_target);
	if (host && host->target && (o->core || o->pid))
		return usage_error(err, v, "%s already supplies the target; drop --core/--pid",
				   host->name ? host->name : "the host");
	if (o->core && o->pid)
		return usage_error(err, v, "give --core or --pid, not both%s", "");
	if ((o->exe || o->sysroot) && o->pid)
		return usage_error(err, v, "--exe and --sysroot go with --core%s", "");
	if (target_needed(verb, o) && !host_target && !o->core && !o->pid &&
	    !(verb->exe_target_ok && o->exe))
		return usage_error(err, v, verb->exe_target_ok ?
				   "no target: give --exe FILE, --core FILE or --pid PID%s" :
				   "no target: give --core FILE or --pid PID%s", "");
	return MP_EXIT_OK;
}

static mp_error *open_target(const mp_host *host, const mp_options *o,
			     mp_target **out)
{
	mp_target_options target_options = {
		.exe_path = o->exe,
		.sysroot = o->sysroot,
		.debug_dirs = o->debug_dirs,
		.n_debug_dirs = o->n_debug_dirs,
		.no_debuginfod = o->no_debuginfod,
	};
	if (host && host->open_target && !o->core && !o->pid) {
		*out = NULL;
		mp_error *err = host->open_target(host->context, &target_options, out);
		if (!err && !*out)
			err = mp_error_new(MP_ERR_NOT_FOUND, "%s opened no target",
					   host->name ? host->name : "the host");
		return err;
	}
	if (o->core)
		return mp_target_open_core(o->core, &target_options, out);
	if (!o->pid && o->exe)
		return mp_target_open_exe(o->exe, &target_options, out);
	return mp_target_attach_pid((pid_t)o->pid, &target_options, 0, out);
}

/* The command's hints: the files found beside the executable and in the
 * config directory (unless --no-auto-hints), the --hints files, then the
 * host's session hints, later ones winning per member. */
mp_error *mp_command_load_hints(mp_command *c)
{
	const mp_options *o = c->options;
	mp_error *e = mp_hints_new(&c->hints);
	if (e)
		return e;
	if (!o->no_auto_hints) {
		const char *exe = NULL;
		for (size_t i = 0; i < mp_target_module_count(c->target); i++) {
			const mp_module *m = mp_target_module(c->target, i);
			if (mp_module_is_main(m))
				exe = mp_module_file(m);
		}
		e = mp_hints_load_default(c->hints, exe);
	}
	for (size_t i = 0; !e && i < o->n_hints_files; i++)
		e = mp_hints_add_file(c->hints, o->hints_files[i]);
	if (!e && c->host && c->host->hints)
		e = mp_hints_merge(c->hints, c->host->hints);
	if (!e)
		c->target->hints = c->hints;
	return e;
}

void mp_command_drop_hints(mp_command *c)
{
	if (c->target)
		c->target->hints = NULL;
	mp_hints_free(c->hints);
	c->hints = NULL;
}

static bool progress_wanted(const mp_options *o, const mp_host *host);
static int run_verb(const mp_verb *verb, const mp_options *options,
		    const mp_host *host, FILE *out, FILE *err);

int mp_command_run(int argc, char **argv, const mp_host *host, FILE *out,
		   FILE *err)
{
	if (argc < 1 || strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0 ||
	    strcmp(argv[0], "help") == 0) {
		if (argc >= 2 && strcmp(argv[0], "help") == 0) {
			for (size_t i = 0; i < N_VERBS; i++) {
				if (strcmp(argv[1], verbs[i]->name) == 0) {
					print_verb_help(out, verbs[i]);
					return MP_EXIT_OK;
				}
			}
		}
		print_overview(argc < 1 ? err : out);
		return argc < 1 ? MP_EXIT_USAGE : MP_EXIT_OK;
	}
	if (strcmp(argv[0], "--version") == 0) {
		fprintf(out, "memprof %s\n", MEMPROF_VERSION);
		return MP_EXIT_OK;
	}
	const mp_verb *verb = NULL;
	for (size_t i = 0; i < N_VERBS; i++)
		if (strcmp(argv[0], verbs[i]->name) == 0)
			verb = verbs[i];
	if (!verb) {
		fprintf(err, "memprof: unknown verb '%s' (see memprof --help)\n", argv[0]);
		return MP_EXIT_USAGE;
	}

	mp_options options;
	memset(&options, 0, sizeof(options));
	options.format = verb->default_format ? (enum mp_format)verb->default_format
						 : MP_FORMAT_TEXT;
	bool help = false;
	int status = parse_options(verb, argc - 1, argv + 1, &options, &help, err);
	if (status != MP_EXIT_OK)
		return status;
	if (help) {
		print_verb_help(out, verb);
		return MP_EXIT_OK;
	}
	status = check_options(verb, &options, host, err);
	if (status != MP_EXIT_OK)
		return status;
	mp_progress_install(host, progress_wanted(&options, host));
	status = run_verb(verb, &options, host, out, err);
	/* The line is gone before the host shows the results. */
	mp_progress_uninstall();
	return status;
}

/* --progress=auto: only for someone watching a terminal, and never when
 * the results would be read from the same stream family (a JSON or CSV
 * pipeline on stdout is left alone even if stderr is a terminal). */
static bool progress_wanted(const mp_options *o, const mp_host *host)
{
	if (o->progress && strcmp(o->progress, "never") == 0)
		return false;
	if (o->progress && strcmp(o->progress, "always") == 0)
		return true;
	return host && host->progress_interactive &&
	       (o->format == MP_FORMAT_TEXT || o->output);
}

static int run_verb(const mp_verb *verb, const mp_options *options,
		    const mp_host *host, FILE *out, FILE *err)
{
	int status;
	mp_command command = {
		.host = host,
		.options = options,
		.out = out,
		.err = err,
	};
	bool own_target = false;
	bool given = (host && host->target) || options->core || options->pid;
	/* `snapshot save` in a debugger: the target is the debugger's, which
	 * it opens on demand, as for the verbs that always need one. */
	bool action = verb->target_action && host && host->open_target &&
		      options->n_positional > 0 &&
		      strcmp(options->positional[0], verb->target_action) == 0;
	if (target_needed(verb, options) || (verb->wants_target && (given || action))) {
		if (host && host->target) {
			command.target = host->target;
		} else {
			mp_error *e = open_target(host, options, &command.target);
			if (e)
				return mp_command_fail(&command, e);
			own_target = true;
		}
		/* Everything memprof could not read is said once, on stderr,
		 * whatever the format; JSON carries it too. */
		mp_progress_clear();
		for (size_t i = 0; i < mp_target_warning_count(command.target); i++)
			fprintf(err, "memprof: warning: %s\n",
				mp_target_warning(command.target, i));
		for (size_t i = 0; i < mp_target_note_count(command.target); i++)
			fprintf(err, "memprof: %s\n", mp_target_note_at(command.target, i));
	}
	if (command.target) {
		mp_error *e = mp_command_load_hints(&command);
		if (e) {
			mp_command_drop_hints(&command);
			if (own_target)
				mp_target_release(command.target);
			return mp_command_fail(&command, e);
		}
	}
	/* Opened once the target is: a command that cannot open its target
	 * (no process in a debugger, a missing core) leaves --output alone. */
	FILE *output_file = NULL;
	if (options->output) {
		output_file = fopen(options->output, "w");
		if (!output_file) {
			if (own_target)
				mp_target_release(command.target);
			return mp_command_fail(&command,
					       mp_error_errno(errno, "cannot write %s",
							      options->output));
		}
		command.out = output_file;
	}
	size_t said = command.target ? mp_target_warning_count(command.target) : 0;
	status = verb->run(&command);
	/* What the verb's analysis added to the target's warnings (a type
	 * only declared, a bound reached) ends a text report; other formats
	 * say it on stderr, as the warnings of opening the target above. */
	if (command.target && options->format != MP_FORMAT_TEXT)
		for (size_t i = said; i < mp_target_warning_count(command.target); i++)
			fprintf(err, "memprof: warning: %s\n", mp_target_warning(command.target, i));
	mp_command_drop_hints(&command);
	if (own_target)
		mp_target_release(command.target);
	if (output_file && fclose(output_file) != 0 && status == MP_EXIT_OK) {
		fprintf(err, "memprof: cannot write %s: %s\n", options->output,
			strerror(errno));
		status = MP_EXIT_ERROR;
	}
	return status;
}

void mp_text_warnings_add(mp_text_warnings *w, const char *message)
{
	if (!message)
		return;
	/* A result's own bound (warnings.h) ends its list with "... and N
	 * more warnings": those count, the line itself is not shown. */
	unsigned long long more;
	if (sscanf(message, "... and %llu more warning", &more) == 1) {
		w->total += more;
		return;
	}
	if (w->n_shown < MP_TEXT_WARNINGS)
		w->shown[w->n_shown++] = message;
	w->total++;
}

void mp_text_warnings_add_target(mp_text_warnings *w, const mp_target *t)
{
	for (size_t i = 0; t && i < mp_target_warning_count(t); i++)
		mp_text_warnings_add(w, mp_target_warning(t, i));
}

void mp_text_warnings_write(FILE *out, const mp_text_warnings *w, bool partial)
{
	if (!w->total) {
		if (partial)
			fprintf(out, "\nresults are partial\n");
		return;
	}
	fprintf(out, "\nwarnings (%llu)%s\n", w->total, partial ? ": results are partial" : "");
	for (size_t i = 0; i < w->n_shown; i++)
		fprintf(out, "  %s\n", w->shown[i]);
	if (w->total > w->n_shown)
		fprintf(out, "  ... and %llu more (--format json lists those of the analysis)\n",
			w->total - w->n_shown);
}
