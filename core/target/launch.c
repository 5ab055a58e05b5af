/* Running a program under memprof (`memprof run`) at native speed.
 *
 * The child is seized with ptrace asking only for exit, exec and fork
 * events: no breakpoints, no single-stepping, no syscall stops, so the
 * program runs as fast as without memprof.  When its first thread reaches
 * do_exit (PTRACE_EVENT_EXIT) its memory is still whole; memprof makes a
 * target of it there, the caller checks it, and the process is let go to
 * finish dying.  Signals the program receives are passed on unchanged.
 * Children it forks are detached at once: this version follows the first
 * process only, and says so.
 *
 * If memprof dies (SIGKILL, or the CLI's SIGINT/SIGTERM handler exiting at
 * once), the kernel detaches the program and it runs on untraced: memprof
 * must not take the program down with it, so PTRACE_O_EXITKILL is not
 * used.  Waits that follow a SIGKILL of our own are bounded; waiting for
 * the program to exit is as long as the program runs.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "launch.h"
#include "target_internal.h"

struct mp_launch {
	pid_t pid;
	int wait_status;          /* final wait status once reaped */
	bool exited;              /* reaped (no exit stop happened) */
	bool at_exit_stop;
	unsigned long exit_message; /* wait status the exit stop announced */
	int forks, execs;
	bool started;             /* the program's own exec has happened */
};

/* Reaps pid after we sent it SIGKILL.  A killed process dies promptly, but
 * one in uninterruptible sleep dies only when it leaves it: give up after
 * about five seconds rather than hang; it stays our child, and init reaps
 * it once this process has exited. */
static void reap_killed(pid_t pid)
{
	for (int i = 0; i < 5000; i++) {
		pid_t got = waitpid(pid, NULL, __WALL | WNOHANG);
		if (got == pid || (got < 0 && errno != EINTR))
			return;
		struct timespec ts = {0, 1000000};
		nanosleep(&ts, NULL);
	}
}

mp_error *mp_launch_start(char *const argv[], mp_launch **out)
{
	*out = NULL;
	int go[2], report[2];
	if (pipe2(go, O_CLOEXEC) < 0 || pipe2(report, O_CLOEXEC) < 0)
		return mp_error_errno(errno, "cannot create pipes to start %s", argv[0]);
	pid_t pid = fork();
	if (pid < 0) {
		int e = errno;
		close(go[0]);
		close(go[1]);
		close(report[0]);
		close(report[1]);
		return mp_error_errno(e, "cannot fork to start %s", argv[0]);
	}
	if (pid == 0) {
		/* Wait until the parent has seized us, then become the program;
		 * if exec fails, tell the parent why through the report pipe. */
		char byte;
		close(go[1]);
		close(report[0]);
		if (read(go[0], &byte, 1) != 1)
			_exit(127);
		execvp(argv[0], argv);
		int e = errno;
		if (write(report[1], &e, sizeof(e)) < 0)
			_exit(127);
		_exit(127);
	}
	close(go[0]);
	close(report[1]);
	mp_launch *l = calloc(1, sizeof(*l));
	mp_error *err = NULL;
	/* No PTRACE_O_EXITKILL: a memprof killed mid-run leaves the program
	 * running, as it leaves a --pid target (see the top of this file). */
	long options = PTRACE_O_TRACEEXIT | PTRACE_O_TRACEEXEC | PTRACE_O_TRACEFORK |
		       PTRACE_O_TRACEVFORK;
	if (!l)
		err = mp_error_nomem();
	else if (ptrace(PTRACE_SEIZE, pid, NULL, (void *)options) < 0)
		err = mp_error_errno(errno, "cannot trace the program %s", argv[0]);
	if (!err && write(go[1], "g", 1) != 1)
		err = mp_error_errno(errno, "cannot start %s", argv[0]);
	close(go[1]);
	int exec_errno = 0;
	ssize_t n = err ? 0 : read(report[0], &exec_errno, sizeof(exec_errno));
	close(report[0]);
	if (!err && n == (ssize_t)sizeof(exec_errno))
		err = mp_error_errno(exec_errno, "cannot run %s", argv[0]);
	if (err) {
		kill(pid, SIGKILL);
		reap_killed(pid);
		free(l);
		return err;
	}
	l->pid = pid;
	*out = l;
	return NULL;
}

pid_t mp_launch_pid(const mp_launch *l) { return l->pid; }
int mp_launch_forks(const mp_launch *l) { return l->forks; }
int mp_launch_execs(const mp_launch *l) { return l->execs; }

/* Runs the program until its first thread exits.  *stopped is true when it
 * stopped there with memory intact, false when it vanished without the
 * exit stop (then *status holds its wait status). */
mp_error *mp_launch_run_to_exit(mp_launch *l, bool *stopped)
{
	*stopped = false;
	for (;;) {
		int status;
		pid_t got = waitpid(-1, &status, __WALL);
		if (got < 0) {
			if (errno == EINTR)
				continue;
			return mp_error_errno(errno, "waiting for pid %d", (int)l->pid);
		}
		if (got != l->pid) {
			/* A forked child, auto-attached by the fork option: let it
			 * run free. */
			if (WIFSTOPPED(status))
				ptrace(PTRACE_DETACH, got, NULL, NULL);
			continue;
		}
		if (WIFEXITED(status) || WIFSIGNALED(status)) {
			l->exited = true;
			l->wait_status = status;
			return NULL;
		}
		if (!WIFSTOPPED(status))
			continue;
		int event = status >> 16;
		int signal = WSTOPSIG(status);
		if (event == PTRACE_EVENT_EXIT) {
			ptrace(PTRACE_GETEVENTMSG, l->pid, NULL, &l->exit_message);
			l->at_exit_stop = true;
			*stopped = true;
			return NULL;
		}
		if (event == PTRACE_EVENT_FORK || event == PTRACE_EVENT_VFORK) {
			l->forks++;
			ptrace(PTRACE_CONT, l->pid, NULL, NULL);
			continue;
		}
		if (event == PTRACE_EVENT_EXEC) {
			/* The first exec is memprof starting the program. */
			if (l->started)
				l->execs++;
			l->started = true;
			ptrace(PTRACE_CONT, l->pid, NULL, NULL);
			continue;
		}
		if (event == PTRACE_EVENT_STOP) {
			/* Group stop (SIGSTOP and friends): keep it stopped the way
			 * the kernel would, until a SIGCONT resumes it. */
			ptrace(PTRACE_LISTEN, l->pid, NULL, NULL);
			continue;
		}
		/* A signal for the program: deliver it unchanged. */
		ptrace(PTRACE_CONT, l->pid, NULL, (void *)(uintptr_t)signal);
	}
}

mp_error *mp_launch_target(mp_launch *l, const mp_target_options *options,
			   mp_target **out)
{
	*out = NULL;
	if (!l->at_exit_stop)
		return mp_error_new(MP_ERR_USAGE, "pid %d is not stopped at its exit", (int)l->pid);
	mp_target *t = NULL;
	mp_error *err = mp_target_attach_pid(l->pid, options, MP_PID_ALREADY_STOPPED, &t);
	if (err)
		return err;
	struct user_regs_struct regs;
	if (ptrace(PTRACE_GETREGS, l->pid, NULL, &regs) == 0) {
		mp_registers copy;
		memcpy(copy.value, &regs, sizeof(copy.value));
		err = mp_target_add_thread(t, l->pid, &copy);
	}
	if (!err)
		err = mp_target_finish(t);
	if (err) {
		mp_target_release(t);
		return err;
	}
	*out = t;
	return NULL;
}

mp_error *mp_launch_finish(mp_launch *l, int *wait_status)
{
	if (!l->exited) {
		if (l->at_exit_stop)
			ptrace(PTRACE_CONT, l->pid, NULL, NULL);
		for (;;) {
			int status;
			pid_t got = waitpid(l->pid, &status, __WALL);
			if (got < 0) {
				if (errno == EINTR)
					continue;
				return mp_error_errno(errno, "waiting for pid %d to exit", (int)l->pid);
			}
			if (WIFEXITED(status) || WIFSIGNALED(status)) {
				l->wait_status = status;
				l->exited = true;
				break;
			}
			if (WIFSTOPPED(status))
				ptrace(PTRACE_CONT, l->pid, NULL, NULL);
		}
	}
	*wait_status = l->wait_status;
	return NULL;
}

void mp_launch_free(mp_launch *l)
{
	if (!l)
		return;
	if (!l->exited) {
		kill(l->pid, SIGKILL);
		reap_killed(l->pid);
	}
	free(l);
}
