/* The memprof command: a thin door onto the command engine.
 *
 * SIGINT, SIGTERM and SIGHUP end memprof at once, with one line on stderr
 * and exit status 1 (the status of every runtime error, MP_ERR_INTERRUPTED
 * included).  Nothing has to be undone by hand first: a live target (--pid,
 * or the program of `memprof run`) is traced by this process, and when a
 * tracer exits the kernel detaches its tracees just as PTRACE_DETACH would
 * (threads in our stops resume, a group stop the target was in is kept, a
 * signal caught in a signal-delivery stop is still delivered).  This is the
 * path a SIGKILL takes too, so it is tested by killing memprof mid-read.
 * Setting a flag for the engine's interrupted() poll instead would keep the
 * target frozen until the next poll, and freezing, DWARF indexing and
 * output do not poll.
 *
 * Only the CLI installs handlers: libmemprof is also loaded into gdb and
 * lldb, whose signals are theirs. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "memprof/memprof.h"

static const int handled_signals[] = {SIGINT, SIGTERM, SIGHUP};
static const char *const handled_names[] = {"SIGINT", "SIGTERM", "SIGHUP"};
enum { N_HANDLED = sizeof(handled_signals) / sizeof(handled_signals[0]) };

/* Written before the handlers are installed: a handler may only write(). */
static char messages[N_HANDLED][256];
static size_t message_lengths[N_HANDLED];
static pid_t memprof_pid;

static void on_signal(int sig)
{
	if (getpid() != memprof_pid) {
		/* `memprof run`'s child between fork and exec: it has our
		 * handlers still; the signal is the program's to die of. */
		signal(sig, SIG_DFL);
		raise(sig);
		return;
	}
	for (int i = 0; i < N_HANDLED; i++) {
		if (handled_signals[i] == sig && write(2, messages[i], message_lengths[i]) < 0)
			break;
	}
	_exit(MP_EXIT_ERROR);
}

/* What an interruption leaves, from the command line: the pid of --pid, or
 * the program of `run`. */
static void describe_target(int argc, char **argv, char *out, size_t size)
{
	snprintf(out, size, "no result");
	if (argc < 2)
		return;
	if (strcmp(argv[1], "run") == 0) {
		snprintf(out, size,
			 "the program is detached and left to run, unchecked");
		return;
	}
	for (int i = 2; i < argc && strcmp(argv[i], "--") != 0; i++) {
		const char *pid = NULL;
		if (strcmp(argv[i], "--pid") == 0 && i + 1 < argc)
			pid = argv[i + 1];
		else if (strncmp(argv[i], "--pid=", 6) == 0)
			pid = argv[i] + 6;
		if (pid) {
			/* watch has written whole snapshots and their summary so far. */
			snprintf(out, size, strcmp(argv[1], "watch") == 0
				 ? "pid %.20s detached and left running; the snapshots taken so far are in --dir"
				 : "pid %.20s detached and left as it was found; no result", pid);
			return;
		}
	}
}

static void install_handlers(int argc, char **argv)
{
	char what[128];
	describe_target(argc, argv, what, sizeof(what));
	memprof_pid = getpid();
	struct sigaction action;
	memset(&action, 0, sizeof(action));
	action.sa_handler = on_signal;
	sigemptyset(&action.sa_mask);
	for (int i = 0; i < N_HANDLED; i++)
		sigaddset(&action.sa_mask, handled_signals[i]);
	for (int i = 0; i < N_HANDLED; i++) {
		int n = snprintf(messages[i], sizeof(messages[i]), "memprof: interrupted by %s: %s\n",
				 handled_names[i], what);
		message_lengths[i] = n < 0 ? 0 : (size_t)n < sizeof(messages[i]) ? (size_t)n
										   : sizeof(messages[i]) - 1;
		/* A signal ignored when memprof started (nohup, a background
		 * job in some shells) stays ignored, as for any program. */
		struct sigaction old;
		if (sigaction(handled_signals[i], NULL, &old) == 0 && old.sa_handler == SIG_IGN)
			continue;
		sigaction(handled_signals[i], &action, NULL);
	}
}

/* Columns of the progress line on stderr, to erase it with as many
 * spaces: plain \r and spaces work on any terminal, and leave nothing but
 * carriage returns and blanks in a log written with --progress=always. */
static size_t progress_columns;

static void draw_progress(void *context, const mp_progress *p)
{
	(void)context;
	if (!p->text) {
		fprintf(stderr, "\r%*s\r", (int)progress_columns, "");
		progress_columns = 0;
	} else {
		size_t length = strlen(p->text);
		/* A shorter line than the last leaves the last one's tail. */
		int pad = progress_columns > length ? (int)(progress_columns - length) : 0;
		fprintf(stderr, "\r%s%*s", p->text, pad, "");
		if (length > progress_columns)
			progress_columns = length;
	}
	fflush(stderr);
}

int main(int argc, char **argv)
{
	install_handlers(argc, argv);
	mp_host host = {
		.name = "cli",
		.progress = draw_progress,
		.progress_interactive = isatty(STDERR_FILENO) == 1,
	};
	int status = mp_command_run(argc - 1, argv + 1, &host, stdout, stderr);
	if (fflush(stdout) != 0 && status == MP_EXIT_OK)
		status = MP_EXIT_ERROR;
	return status;
}
