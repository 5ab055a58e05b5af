/* `memprof triage CORE... | DIR`: one post-mortem section per core of a
 * crashed test: the program, the signal, the crashing thread's registers and
 * top frames, the heap walk's corruption findings with each corrupt chunk's
 * neighbours, and the leak summary.  Everything comes from the engines the
 * other verbs use (target, unwind, heap walk, leaks); this file only picks
 * the cores, reads the signal details the target does not keep (NT_SIGINFO)
 * and writes the report.  A core that cannot be read is reported and the
 * others still are (exit status 1 then, else 0 whatever the cores show). */
#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/procfs.h>
#include <sys/stat.h>

#include "analysis/leak_groups.h"
#include "analysis/unwind.h"
#include "array.h"
#include "command.h"
#include "elf/elf_file.h"
#include "elf/notes.h"
#include "error.h"
#include "leaks_report.h"
#include "output/json.h"
#include "output/result.h"

enum { MAX_FRAMES = 32, MAX_CORES = 4096, MAX_PROBLEMS = 16 };

/* ------------------------------------------------------------ the cores */

/* True when path is an ELF core file (e_type ET_CORE). */
static bool is_core_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return false;
	Elf64_Ehdr h;
	size_t n = fread(&h, 1, sizeof(h), f);
	fclose(f);
	return n >= EI_NIDENT + 4 && memcmp(h.e_ident, ELFMAG, SELFMAG) == 0 &&
	       h.e_type == ET_CORE;
}

static int compare_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

typedef struct core_list {
	char **paths;
	size_t n, capacity;
} core_list;

static bool add_path(core_list *l, const char *dir, const char *name)
{
	if (!MP_ARRAY_RESERVE(l->paths, l->capacity, l->n + 1))
		return false;
	size_t length = (dir ? strlen(dir) + 1 : 0) + strlen(name) + 1;
	char *path = malloc(length);
	if (!path)
		return false;
	snprintf(path, length, "%s%s%s", dir ? dir : "", dir ? "/" : "", name);
	l->paths[l->n++] = path;
	return true;
}

/* The cores of a directory, sorted by name: ELF core files only (a test
 * directory holds logs and programs beside them). */
static mp_error *list_directory(core_list *l, const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return mp_error_errno(errno, "cannot read directory %s", dir);
	size_t first = l->n;
	mp_error *err = NULL;
	for (struct dirent *e; !err && (e = readdir(d));) {
		if (e->d_name[0] == '.')
			continue;
		if (l->n - first == MAX_CORES) {
			err = mp_error_new(MP_ERR_UNSUPPORTED, "%s holds more than %d cores", dir,
					   MAX_CORES);
			break;
		}
		if (!add_path(l, dir, e->d_name)) {
			err = mp_error_nomem();
			break;
		}
		struct stat st;
		if (stat(l->paths[l->n - 1], &st) != 0 || !S_ISREG(st.st_mode) ||
		    !is_core_file(l->paths[l->n - 1]))
			free(l->paths[--l->n]);
	}
	closedir(d);
	if (!err && l->n == first)
		err = mp_error_new(MP_ERR_NOT_FOUND, "%s holds no core file (ELF type ET_CORE)", dir);
	if (!err)
		qsort(l->paths + first, l->n - first, sizeof(*l->paths), compare_names);
	return err;
}

/* ------------------------------------------------------------- the signal */

typedef struct signal_info {
	int64_t tid;              /* the thread it was delivered to */
	int number;
	bool has_siginfo;         /* NT_SIGINFO: code and, for faults, address */
	int code;
	uint64_t address;
	bool has_address;
	int64_t sender_pid;       /* si_pid, for signals sent by a process */
	bool has_sender;
} signal_info;

/* The signal of the crashing thread: the first NT_PRSTATUS with a signal
 * (the kernel writes the dumping thread first; gcore the stopped one), and
 * the NT_SIGINFO that follows it. */
static void read_signal(const char *path, mp_target *t, signal_info *s)
{
	memset(s, 0, sizeof(*s));
	for (size_t i = 0; i < mp_target_thread_count(t); i++) {
		const mp_thread *th = mp_target_thread(t, i);
		if (i == 0 || (!s->number && th->signal)) {
			s->tid = th->tid;
			s->number = th->signal;
		}
	}
	mp_elf *core = NULL;
	mp_error *err = mp_elf_open(path, &core);
	if (err) {
		mp_error_free(err);
		return;
	}
	int64_t current = -1;
	for (size_t i = 0; i < mp_elf_phnum(core); i++) {
		const Elf64_Phdr *p = mp_elf_phdr(core, i);
		const void *bytes = p->p_type == PT_NOTE ? mp_elf_bytes(core, p->p_offset, p->p_filesz)
							 : NULL;
		if (!bytes)
			continue;
		mp_note_iter it;
		mp_note note;
		mp_note_iter_init(&it, bytes, p->p_filesz, p->p_align);
		while (mp_note_next(&it, &note)) {
			if (mp_note_is(&note, "CORE", NT_PRSTATUS) &&
			    note.desc_size >= sizeof(struct elf_prstatus)) {
				pid_t pid;
				memcpy(&pid, note.desc + offsetof(struct elf_prstatus, pr_pid),
				       sizeof(pid));
				current = pid;
			} else if (mp_note_is(&note, "CORE", NT_SIGINFO) && current == s->tid &&
				   !s->has_siginfo && note.desc_size >= sizeof(siginfo_t)) {
				siginfo_t si;
				memcpy(&si, note.desc, sizeof(si));
				if (si.si_signo != s->number && s->number)
					continue;
				s->number = si.si_signo;
				s->has_siginfo = true;
				s->code = si.si_code;
				if (si.si_code > 0 && (si.si_signo == SIGSEGV || si.si_signo == SIGBUS ||
						       si.si_signo == SIGILL || si.si_signo == SIGFPE)) {
					s->address = (uint64_t)(uintptr_t)si.si_addr;
					s->has_address = true;
				} else if (si.si_code <= 0) {
					s->sender_pid = si.si_pid;
					s->has_sender = true;
				}
			}
		}
	}
	mp_elf_close(core);
}

static const char *signal_name(int number, char *buffer, size_t size)
{
	const char *abbrev = number > 0 ? sigabbrev_np(number) : NULL;
	snprintf(buffer, size, "SIG%s", abbrev ? abbrev : "?");
	return abbrev ? buffer : NULL;
}

/* si_code's name: the generic ones and those of the fault signals. */
static const char *code_name(int signal, int code)
{
	static const struct {
		int signal, code;
		const char *name;
	} names[] = {
		{0, SI_USER, "SI_USER"}, {0, SI_KERNEL, "SI_KERNEL"}, {0, SI_QUEUE, "SI_QUEUE"},
		{0, SI_TIMER, "SI_TIMER"}, {0, SI_MESGQ, "SI_MESGQ"}, {0, SI_ASYNCIO, "SI_ASYNCIO"},
		{0, SI_SIGIO, "SI_SIGIO"}, {0, SI_TKILL, "SI_TKILL"},
		{SIGSEGV, SEGV_MAPERR, "SEGV_MAPERR"}, {SIGSEGV, SEGV_ACCERR, "SEGV_ACCERR"},
		{SIGBUS, BUS_ADRALN, "BUS_ADRALN"}, {SIGBUS, BUS_ADRERR, "BUS_ADRERR"},
		{SIGBUS, BUS_OBJERR, "BUS_OBJERR"},
		{SIGILL, ILL_ILLOPC, "ILL_ILLOPC"}, {SIGILL, ILL_ILLOPN, "ILL_ILLOPN"},
		{SIGILL, ILL_PRVOPC, "ILL_PRVOPC"},
		{SIGFPE, FPE_INTDIV, "FPE_INTDIV"}, {SIGFPE, FPE_INTOVF, "FPE_INTOVF"},
		{SIGFPE, FPE_FLTDIV, "FPE_FLTDIV"},
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].code == code &&
		    (names[i].signal == signal || (names[i].signal == 0 && code <= 0) ||
		     (names[i].signal == 0 && code == SI_KERNEL)))
			return names[i].name;
	return NULL;
}

/* ----------------------------------------------------------- one core */

typedef struct triage {
	const char *path;
	mp_error *error;          /* the core could not be read at all */
	mp_target *target;
	signal_info signal;
	const mp_thread *thread;  /* the crashing one, or NULL */
	mp_backtrace frames;
	mp_error *frames_error;
	mp_heap *heap;
	mp_leaks *leaks;
	mp_leak_report report;
	mp_error *heap_error;     /* heap or leak analysis failed */
} triage;

static void triage_core(mp_command *c, triage *r)
{
	const mp_options *o = c->options;
	mp_target_options options = {
		.exe_path = o->exe,
		.sysroot = o->sysroot,
		.debug_dirs = o->debug_dirs,
		.n_debug_dirs = o->n_debug_dirs,
	};
	r->error = mp_target_open_core(r->path, &options, &r->target);
	if (r->error)
		return;
	read_signal(r->path, r->target, &r->signal);
	for (size_t i = 0; i < mp_target_thread_count(r->target); i++) {
		const mp_thread *th = mp_target_thread(r->target, i);
		if (th->tid == r->signal.tid && th->has_registers)
			r->thread = th;
	}
	if (r->thread)
		r->frames_error = mp_unwind(r->target, &r->thread->registers, MAX_FRAMES, &r->frames);
	/* The leak analysis opens the heap walk itself; its problems are the
	 * corruption findings. */
	mp_command sub = *c;
	sub.target = r->target;
	r->heap_error = mp_leaks_run_analysis(&sub, &r->heap, &r->leaks, &r->report, NULL);
}

static void triage_free(triage *r)
{
	mp_error_free(r->error);
	mp_error_free(r->frames_error);
	mp_error_free(r->heap_error);
	mp_backtrace_free(&r->frames);
	if (r->leaks)
		mp_leak_report_free(&r->report);
	mp_leaks_free(r->leaks);
	mp_heap_free(r->heap);
	if (r->target)
		mp_target_release(r->target);
}

/* The chunk the walk recorded at or around a problem's address, and its
 * neighbours in address order; -1 when there is none. */
static void neighbours(const mp_heap *heap, uint64_t address, ptrdiff_t index[3])
{
	ptrdiff_t at = mp_heap_find_chunk(heap, address);
	index[0] = index[1] = index[2] = -1;
	if (at < 0)
		return;
	index[1] = at;
	index[0] = at > 0 ? at - 1 : -1;
	index[2] = (size_t)at + 1 < mp_heap_chunk_count(heap) ? at + 1 : -1;
}

static const char *const kind_keys[] = {
	"definitely_lost", "indirectly_lost", "possibly_lost", "still_reachable",
};
static const enum mp_leak_kind kinds[] = {
	MP_LEAK_DEFINITE, MP_LEAK_INDIRECT, MP_LEAK_POSSIBLE, MP_LEAK_REACHABLE,
};

/* ------------------------------------------------------------------ text */

static void text_chunk(FILE *out, const char *label, const mp_heap *heap, ptrdiff_t index)
{
	if (index < 0) {
		fprintf(out, "      %-8s none\n", label);
		return;
	}
	mp_chunk ch = mp_heap_chunk(heap, (size_t)index);
	fprintf(out, "      %-8s chunk %#" PRIx64 " size %" PRIu64 " %s\n", label, ch.address,
		ch.size, mp_chunk_state_name(ch.state));
}

static void write_text(FILE *out, const triage *r)
{
	fprintf(out, "== core %s\n", r->path);
	if (r->error) {
		fprintf(out, "  error: %s\n\n", mp_error_message(r->error));
		return;
	}
	const mp_process_info *p = mp_target_process(r->target);
	fprintf(out, "  program: %s (pid %" PRId64 ")%s%s\n", p->exe ? p->exe : p->name ? p->name : "?",
		p->pid, p->args && p->args[0] ? ", command line: " : "", p->args ? p->args : "");
	const signal_info *s = &r->signal;
	char name[32];
	if (!s->number) {
		fprintf(out, "  signal: none (the process was not stopped by a signal)\n");
	} else {
		const char *sname = signal_name(s->number, name, sizeof(name));
		fprintf(out, "  signal: %d %s (%s)", s->number, sname ? sname : "", strsignal(s->number));
		if (s->has_siginfo) {
			const char *cname = code_name(s->number, s->code);
			fprintf(out, ", code %d%s%s", s->code, cname ? " " : "", cname ? cname : "");
		}
		if (s->has_address)
			fprintf(out, ", fault address %#" PRIx64, s->address);
		if (s->has_sender)
			fprintf(out, ", sent by pid %" PRId64, s->sender_pid);
		fputc('\n', out);
	}
	if (!r->thread) {
		fprintf(out, "  thread: none with registers in the core\n");
	} else {
		fprintf(out, "  thread %" PRId64 "%s, registers:\n", r->thread->tid,
			s->number ? " (the signal's)" : "");
		for (size_t i = 0; i < MP_NUM_REGISTERS; i++)
			fprintf(out, "%s%-8s 0x%016" PRIx64 "%s", i % 3 == 0 ? "    " : "  ",
				mp_register_name(i), r->thread->registers.value[i],
				i % 3 == 2 || i + 1 == MP_NUM_REGISTERS ? "\n" : "");
		if (r->frames_error) {
			fprintf(out, "  frames: %s\n", mp_error_message(r->frames_error));
		} else {
			fprintf(out, "  frames%s:\n", r->frames.uncertain
				? " (uncertain: some come from the frame-pointer chain, not call-frame information)"
				: "");
			for (size_t i = 0; i < r->frames.n_frames; i++) {
				const mp_frame *f = &r->frames.frames[i];
				fprintf(out, "    #%-2zu %#018" PRIx64 " in %s", i, f->pc,
					f->function ? f->function : "??");
				if (f->function)
					fprintf(out, "+%#" PRIx64, f->offset);
				fprintf(out, " (%s)%s\n", f->module ? f->module : "no module",
					f->source == MP_FRAME_POINTER ? " [frame pointer]" : "");
			}
			fprintf(out, "    (stopped: %s)\n", r->frames.stop);
		}
	}
	if (r->heap_error) {
		fprintf(out, "  heap: %s\n", mp_error_message(r->heap_error));
	} else {
		size_t n = mp_heap_problem_count(r->heap);
		fprintf(out, "  heap: %s, %zu chunks, %s\n", mp_heap_backend(r->heap),
			mp_heap_chunk_count(r->heap),
			n ? "corruption found:" : "no corruption found");
		for (size_t i = 0; i < n && i < MAX_PROBLEMS; i++) {
			const mp_heap_problem *pr = mp_heap_problem_at(r->heap, i);
			fprintf(out, "    at %#" PRIx64 " (%s): %s\n", pr->address, pr->where, pr->message);
			ptrdiff_t index[3];
			neighbours(r->heap, pr->address, index);
			if (index[1] >= 0) {
				text_chunk(out, "previous", r->heap, index[0]);
				text_chunk(out, "this", r->heap, index[1]);
				text_chunk(out, "next", r->heap, index[2]);
			}
		}
		if (n > MAX_PROBLEMS)
			fprintf(out, "    ... and %zu more (--format json lists them all)\n",
				n - MAX_PROBLEMS);
		fprintf(out, "  leaks:");
		for (size_t k = 0; k < 4; k++)
			fprintf(out, "%s %s %" PRIu64 " bytes in %" PRIu64 " blocks", k ? "," : "",
				kind_keys[k], r->report.bytes[kinds[k]], r->report.blocks[kinds[k]]);
		fputc('\n', out);
	}
	mp_text_warnings w = {0};
	mp_text_warnings_add_target(&w, r->target);
	mp_text_warnings_write(out, &w, mp_target_partial(r->target));
	fputc('\n', out);
}

/* ---------------------------------------------------------------- result */

static void chunk_result(mp_result *out, mp_rnode parent, const char *key, const mp_heap *heap,
			 ptrdiff_t index)
{
	if (index < 0) {
		mp_result_null(out, parent, key);
		return;
	}
	mp_chunk ch = mp_heap_chunk(heap, (size_t)index);
	mp_rnode o = mp_result_object(out, parent, key);
	mp_result_hex(out, o, "address", ch.address);
	mp_result_uint(out, o, "size", ch.size);
	mp_result_string(out, o, "state", mp_chunk_state_name(ch.state));
}

static void signal_result(mp_result *out, const signal_info *s)
{
	if (!s->number) {
		mp_result_null(out, MP_RESULT_ROOT, "signal");
		return;
	}
	char name[32];
	mp_rnode o = mp_result_object(out, MP_RESULT_ROOT, "signal");
	mp_result_int(out, o, "number", s->number);
	mp_result_string(out, o, "name", signal_name(s->number, name, sizeof(name)));
	mp_result_string(out, o, "description", strsignal(s->number));
	if (s->has_siginfo)
		mp_result_int(out, o, "code", s->code);
	else
		mp_result_null(out, o, "code");
	mp_result_string(out, o, "code_name", s->has_siginfo ? code_name(s->number, s->code) : NULL);
	if (s->has_address)
		mp_result_hex(out, o, "fault_address", s->address);
	else
		mp_result_null(out, o, "fault_address");
	if (s->has_sender)
		mp_result_int(out, o, "sender_pid", s->sender_pid);
	else
		mp_result_null(out, o, "sender_pid");
}

static void thread_result(mp_result *out, const triage *r)
{
	if (!r->thread) {
		mp_result_null(out, MP_RESULT_ROOT, "thread");
		return;
	}
	mp_rnode o = mp_result_object(out, MP_RESULT_ROOT, "thread");
	mp_result_int(out, o, "tid", r->thread->tid);
	mp_rnode registers = mp_result_object(out, o, "registers");
	for (size_t i = 0; i < MP_NUM_REGISTERS; i++)
		mp_result_hex(out, registers, mp_register_name(i), r->thread->registers.value[i]);
	mp_rnode frames = mp_result_array(out, o, "frames");
	for (size_t i = 0; i < r->frames.n_frames; i++) {
		const mp_frame *f = &r->frames.frames[i];
		mp_rnode frame = mp_result_object(out, frames, NULL);
		mp_result_hex(out, frame, "pc", f->pc);
		mp_result_hex(out, frame, "sp", f->sp);
		mp_result_string(out, frame, "function", f->function);
		mp_result_uint(out, frame, "offset", f->offset);
		mp_result_string(out, frame, "module", f->module);
		mp_result_string(out, frame, "source", mp_frame_source_name(f->source));
	}
	mp_result_bool(out, o, "frames_uncertain", r->frames.uncertain);
	mp_result_string(out, o, "frames_stop",
			 r->frames_error ? mp_error_message(r->frames_error) : r->frames.stop);
}

static void heap_result(mp_result *out, const triage *r)
{
	mp_rnode heap = mp_result_object(out, MP_RESULT_ROOT, "heap");
	if (r->heap_error) {
		mp_result_string(out, heap, "error", mp_error_message(r->heap_error));
		return;
	}
	mp_result_string(out, heap, "backend", mp_heap_backend(r->heap));
	mp_result_uint(out, heap, "chunks", mp_heap_chunk_count(r->heap));
	mp_result_bool(out, heap, "partial", mp_heap_partial(r->heap));
	mp_rnode problems = mp_result_array(out, heap, "problems");
	for (size_t i = 0; i < mp_heap_problem_count(r->heap); i++) {
		const mp_heap_problem *pr = mp_heap_problem_at(r->heap, i);
		mp_rnode o = mp_result_object(out, problems, NULL);
		mp_result_hex(out, o, "address", pr->address);
		mp_result_string(out, o, "where", pr->where);
		mp_result_string(out, o, "message", pr->message);
		ptrdiff_t index[3];
		neighbours(r->heap, pr->address, index);
		chunk_result(out, o, "chunk", r->heap, index[1]);
		chunk_result(out, o, "previous", r->heap, index[1] >= 0 ? index[0] : -1);
		chunk_result(out, o, "next", r->heap, index[1] >= 0 ? index[2] : -1);
	}
	mp_rnode leaks = mp_result_object(out, MP_RESULT_ROOT, "leaks");
	mp_leaks_result(out, leaks, r->heap, r->leaks, &r->report);
}

/* One core's object in "cores": what it says in JSON. */
static void core_result(mp_result *out, const triage *r)
{
	mp_result_string(out, MP_RESULT_ROOT, "core", r->path);
	if (r->error) {
		mp_result_string(out, MP_RESULT_ROOT, "error", mp_error_message(r->error));
		return;
	}
	mp_result_null(out, MP_RESULT_ROOT, "error");
	const mp_process_info *p = mp_target_process(r->target);
	mp_rnode program = mp_result_object(out, MP_RESULT_ROOT, "program");
	mp_result_string(out, program, "name", p->name ? p->name : "");
	mp_result_string(out, program, "args", p->args ? p->args : "");
	mp_result_string(out, program, "exe", p->exe);
	mp_result_int(out, program, "pid", p->pid);
	signal_result(out, &r->signal);
	thread_result(out, r);
	heap_result(out, r);
	mp_result_bool(out, MP_RESULT_ROOT, "partial",
		       mp_target_partial(r->target) || (r->heap && mp_heap_partial(r->heap)));
	mp_rnode warnings = mp_result_array(out, MP_RESULT_ROOT, "warnings");
	for (size_t i = 0; i < mp_target_warning_count(r->target); i++)
		mp_result_string(out, warnings, NULL, mp_target_warning(r->target, i));
}

/* A core's section: its object in the JSON "cores" array, built and
 * written as the core is triaged, so one core is in memory at a time (a
 * directory of thousands); else its text. */
static mp_error *write_core(mp_command *c, mp_json *j, const triage *r)
{
	if (!j) {
		write_text(c->out, r);
		return NULL;
	}
	mp_result out;
	mp_result_init(&out);
	core_result(&out, r);
	mp_json_begin_object(j);
	mp_error *err = mp_result_write_json_members(j, &out, MP_RESULT_ROOT);
	mp_json_end_object(j);
	mp_result_free(&out);
	return err;
}

/* ------------------------------------------------------------------ verb */

static int run_triage(mp_command *c)
{
	if (c->options->core || c->options->pid) {
		fprintf(c->err, "memprof: triage takes its cores as arguments, not --core/--pid\n");
		return MP_EXIT_USAGE;
	}
	core_list list = {0};
	/* Arguments that are neither a core nor a directory of cores are
	 * reported like unreadable cores: the others still are. */
	mp_error **arg_errors = calloc(c->options->n_positional, sizeof(*arg_errors));
	mp_error *err = arg_errors ? NULL : mp_error_nomem();
	for (size_t i = 0; !err && i < c->options->n_positional; i++) {
		const char *arg = c->options->positional[i];
		struct stat st;
		if (stat(arg, &st) == 0 && S_ISDIR(st.st_mode)) {
			arg_errors[i] = list_directory(&list, arg);
			if (arg_errors[i] && mp_error_code(arg_errors[i]) == MP_ERR_NOMEM) {
				err = arg_errors[i];
				arg_errors[i] = NULL;
			}
		} else if (!add_path(&list, NULL, arg)) {
			err = mp_error_nomem();
		}
	}
	int status = MP_EXIT_OK;
	size_t failed = 0;
	mp_json j;
	bool json = c->options->format == MP_FORMAT_JSON;
	if (!err && json) {
		mp_json_init(&j, c->out, true);
		mp_json_begin_object(&j);
		mp_json_key(&j, "cores");
		mp_json_begin_array(&j);
	}
	for (size_t i = 0; !err && i < c->options->n_positional; i++) {
		if (!arg_errors[i])
			continue;
		triage r = {.path = c->options->positional[i], .error = arg_errors[i]};
		arg_errors[i] = NULL;
		err = write_core(c, json ? &j : NULL, &r);
		fprintf(c->err, "memprof: %s\n", mp_error_message(r.error));
		triage_free(&r);
		failed++;
		status = MP_EXIT_ERROR;
	}
	for (size_t i = 0; !err && i < list.n; i++) {
		triage r;
		memset(&r, 0, sizeof(r));
		r.path = list.paths[i];
		triage_core(c, &r);
		if (r.error && mp_error_code(r.error) == MP_ERR_NOMEM) {
			err = r.error;
			r.error = NULL;
		} else if (r.error) {
			fprintf(c->err, "memprof: %s\n", mp_error_message(r.error));
			failed++;
			status = MP_EXIT_ERROR;
		}
		if (!err)
			err = write_core(c, json ? &j : NULL, &r);
		triage_free(&r);
	}
	if (!err && json) {
		mp_json_end_array(&j);
		mp_json_key(&j, "unreadable");
		mp_json_uint(&j, failed);
		mp_json_end_object(&j);
		mp_json_finish(&j);
	}
	for (size_t i = 0; i < list.n; i++)
		free(list.paths[i]);
	free(list.paths);
	for (size_t i = 0; arg_errors && i < c->options->n_positional; i++)
		mp_error_free(arg_errors[i]);
	free(arg_errors);
	if (err)
		return mp_command_fail(c, err);
	return status;
}

const mp_verb mp_verb_triage = {
	.name = "triage",
	.summary = "post-mortem of crashed cores: signal, registers, frames, heap corruption, leaks",
	.usage = "CORE... | DIR   [--exe FILE] (applies to every core)\n"
		 "  one section per core (a directory: its ELF core files, by name): the program,\n"
		 "  the signal (number, name, si_code, fault address), the crashing thread's\n"
		 "  registers and top frames (call-frame information, else the frame-pointer\n"
		 "  chain: then marked uncertain), the heap walk's corruption findings with each\n"
		 "  corrupt chunk's neighbours, and the leak summary.\n"
		 "  exit status 0 when every core was read (whatever it shows), 1 when one could not be",
	.formats = MP_FORMAT_TEXT | MP_FORMAT_JSON,
	.needs_target = false,
	.min_positional = 1,
	.max_positional = MP_MAX_POSITIONAL,
	.run = run_triage,
};
