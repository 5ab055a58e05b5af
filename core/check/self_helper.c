/* A process inspecting itself: the helper process behind
 * include/memprof/check.h.
 *
 * The caller forks; the child (the helper) waits until the caller has
 * named it its ptracer (Yama's ptrace_scope=1 lets a process trace only
 * its descendants, and the helper is the caller's child, not its parent),
 * then attaches to every thread of the caller with the live target of
 * `memprof --pid` (core/target/live.c), runs the work on it, releases the
 * caller, writes one fixed-size reply into a pipe and _exits.  The caller
 * meanwhile sits in poll() on that pipe: the thread that asked is stopped
 * like the others, its registers and stack are roots like theirs.
 *
 * Why a fork and not an exec of the memprof CLI: the helper needs nothing
 * but libmemprof, which the program already has, and no path to a binary.
 * What the fork of a multithreaded caller relies on: the child has one
 * thread, and glibc's fork() takes malloc's arena locks and stdio's list
 * lock before forking and resets them (and every FILE's lock) in the
 * child, so the helper's malloc, fopen and opendir cannot deadlock on a
 * lock another thread of the caller held at the fork.  libmemprof keeps
 * no lock of its own across calls; calls into check.h must not overlap
 * (one that would is refused).
 * The helper ends with _exit: no atexit handler, no flush of stdio
 * buffers it inherited, no LeakSanitizer pass of a sanitized program.
 *
 * The helper's own allocations land in its own copy-on-write heap: the
 * target is the caller's memory, read through process_vm_readv, so they
 * are never taken for the caller's blocks.  The caller allocates nothing
 * on success (the reply is a record on its stack).
 */
#include "self_helper.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "error.h"

enum {
	/* How often a caller still waiting looks whether its helper died
	 * without closing the pipe (another thread forked meanwhile and
	 * holds the write end too).  Not a timeout: the wait is unbounded,
	 * as the helper's own waits are bounded. */
	HELPER_POLL_MS = 200,
};

void mp_self_reply_error(mp_self_reply *reply, const char *what, mp_error *err)
{
	reply->error = (int)mp_error_code(err);
	snprintf(reply->message, sizeof(reply->message), "%s: %s", what,
		 mp_error_message(err));
	mp_error_free(err);
}

static void write_all(int fd, const void *data, size_t length)
{
	const char *p = data;
	while (length) {
		ssize_t n = write(fd, p, length);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;   /* the caller is gone: nobody to tell */
		p += n;
		length -= (size_t)n;
	}
}

/* The helper's whole life after the fork. */
static __attribute__((noreturn)) void run_helper(pid_t caller, int go_fd, int reply_fd,
						  const char *what, mp_self_work work,
						  void *context)
{
	/* The caller's signal handlers are not the helper's: one for SIGCHLD
	 * that reaps (waitpid(-1)) would take the stops of the threads the
	 * helper traces, as the helper is their tracer, and any handler would
	 * run the program's code in the helper.  sigaction fails, harmlessly,
	 * for SIGKILL, SIGSTOP and the signals glibc keeps for itself. */
	struct sigaction default_action;
	memset(&default_action, 0, sizeof(default_action));
	default_action.sa_handler = SIG_DFL;
	for (int sig = 1; sig < NSIG; sig++)
		sigaction(sig, &default_action, NULL);
	mp_self_reply reply;
	memset(&reply, 0, sizeof(reply));
	char go;
	ssize_t n;
	do
		n = read(go_fd, &go, 1);
	while (n < 0 && errno == EINTR);
	if (n != 1)
		_exit(0);   /* the caller is gone: nothing to inspect */
	mp_target *target = NULL;
	mp_error *err = mp_target_attach_pid(caller, NULL, 0, &target);
	if (err) {
		mp_self_reply_error(&reply, what, err);
	} else {
		work(target, context, &reply);
		if (!reply.error && mp_target_partial(target)) {
			reply.partial = true;
			if (!reply.message[0] && mp_target_warning_count(target))
				snprintf(reply.message, sizeof(reply.message), "%s: %s", what,
					 mp_target_warning(target, 0));
		}
		/* Let the caller go before answering: it reads the reply only
		 * once it runs again anyway. */
		mp_target_release(target);
	}
	write_all(reply_fd, &reply, sizeof(reply));
	_exit(0);
}

/* Whether the helper has exited, reaping it.  ECHILD: the program reaps
 * its children itself (a SIGCHLD handler, or SIGCHLD ignored), so it is
 * gone and its status unknown. */
static bool helper_ended(pid_t helper, int *status)
{
	pid_t got = waitpid(helper, status, WNOHANG);
	return got == helper || (got < 0 && errno == ECHILD);
}

/* Reads the reply; false when the helper ended without a whole one. */
static bool read_reply(int fd, pid_t helper, mp_self_reply *reply, int *status,
		       bool *reaped)
{
	char *p = (char *)reply;
	size_t got = 0;
	while (got < sizeof(*reply)) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		int ready = poll(&pfd, 1, HELPER_POLL_MS);
		if (ready < 0 && errno != EINTR)
			return false;
		if (ready <= 0) {
			if (!*reaped)
				*reaped = helper_ended(helper, status);
			/* Dead with its reply, if any, already in the pipe: a
			 * last look finds it. */
			if (*reaped && poll(&pfd, 1, 0) <= 0)
				return false;
			continue;
		}
		ssize_t n = read(fd, p + got, sizeof(*reply) - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		got += (size_t)n;
	}
	return true;
}

void __attribute__((noinline)) mp_self_scrub_stack(void)
{
	char dead[8192];
	explicit_bzero(dead, sizeof(dead));
}

static void inspect(const char *what, mp_self_work work, void *context,
		    mp_self_reply *reply)
{
	pid_t caller = getpid();
	int go[2], answer[2];
	if (pipe2(go, O_CLOEXEC) < 0) {
		mp_self_reply_error(reply, what, mp_error_errno(errno, "cannot make a pipe"));
		return;
	}
	if (pipe2(answer, O_CLOEXEC) < 0) {
		mp_self_reply_error(reply, what, mp_error_errno(errno, "cannot make a pipe"));
		close(go[0]);
		close(go[1]);
		return;
	}
	pid_t helper = fork();
	if (helper == 0) {
		close(go[1]);
		close(answer[0]);
		run_helper(caller, go[0], answer[1], what, work, context);
	}
	int fork_errno = errno;
	close(go[0]);
	close(answer[1]);
	if (helper < 0) {
		close(go[1]);
		close(answer[0]);
		mp_self_reply_error(reply, what, mp_error_errno(fork_errno,
			"cannot fork the helper process that inspects pid %d", (int)caller));
		return;
	}
	/* EINVAL: no Yama in this kernel, so nothing to allow; any other
	 * failure shows as the helper's permission error, which says more. */
	bool named = prctl(PR_SET_PTRACER, (unsigned long)helper, 0, 0, 0) == 0;
	char go_byte = 1;
	write_all(go[1], &go_byte, 1);
	close(go[1]);
	int status = 0;
	bool reaped = false;
	bool whole = read_reply(answer[0], helper, reply, &status, &reaped);
	close(answer[0]);
	if (named)
		prctl(PR_SET_PTRACER, 0UL, 0, 0, 0);
	while (!reaped) {
		pid_t got = waitpid(helper, &status, 0);
		reaped = got == helper || (got < 0 && errno != EINTR);
	}
	if (whole)
		return;
	memset(reply, 0, sizeof(*reply));
	reply->error = MP_ERR_IO;
	if (WIFSIGNALED(status))
		snprintf(reply->message, sizeof(reply->message),
			 "%s: the helper process %d that inspects pid %d was killed by signal %d (%s) before answering",
			 what, (int)helper, (int)caller, WTERMSIG(status), strsignal(WTERMSIG(status)));
	else
		snprintf(reply->message, sizeof(reply->message),
			 "%s: the helper process %d that inspects pid %d ended without answering",
			 what, (int)helper, (int)caller);
}

/* Set while a call runs: a second helper could not trace threads the
 * first one holds, and the first one's fork would copy the second's
 * half-made state. */
static atomic_bool busy;

void mp_self_inspect(const char *what, mp_self_work work, void *context,
		     mp_self_reply *reply)
{
	memset(reply, 0, sizeof(*reply));
	if (atomic_exchange(&busy, true)) {
		mp_self_reply_error(reply, what, mp_error_new(MP_ERR_USAGE,
			"another thread's call into memprof/check.h is still running; calls must not overlap"));
		return;
	}
	inspect(what, work, context, reply);
	atomic_store(&busy, false);
}
