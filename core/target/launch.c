/* Running a program under memprof (`memprof run`) at native speed.
 *
 * The child is seized with ptrace asking only for exit, exec and fork
 * events: no breakpoints, no single-stepping, no syscall stops, so the
 * program runs as fast as without memprof.  When its first thread reaches
 * do_exit (PTRACE_EVENT_EXIT) its memory is still whole; memprof makes a
 * target of it there, the caller checks it, and the process is let go to
 * finish dying.  Signals the program receives are passed on unchanged.
 * Without --follow-forks, children it forks are detached at once and
 * counted.  With it, every process of the tree is traced the same way
 * (fork, vfork and clone events; threads are traced too, since
 * PTRACE_O_TRACECLONE cannot tell them apart, but only a thread group
 * leader's exit stop is a process exit), and each one is held at its own
 * exit stop for the caller to check.
 *
 * Threads are traced in both modes (PTRACE_O_TRACECLONE: a stop when one
 * is created, one when it exits) for the sake of their registers at the
 * end: a block a thread holds only in a register when another thread calls
 * exit() is not lost, and a leak check that reads only the exiting
 * thread's registers would call it so.  When the group exits, every other
 * thread is stopped at its own exit stop with the registers it had when it
 * was killed; those are kept (a thread ending alone, by SYS_exit, is not a
 * root any more) and given to the check with the leader's.
 *
 * If memprof dies (SIGKILL, or the CLI's SIGINT/SIGTERM handler exiting at
 * once), the kernel detaches the program and it runs on untraced: memprof
 * must not take the program down with it, so PTRACE_O_EXITKILL is not
 * used.  Waits that follow a SIGKILL of our own are bounded; waiting for
 * the program to exit is as long as the program runs; once it has exited,
 * the processes it left behind get a bounded time to end (daemons would
 * otherwise hold memprof forever), then memprof stops following them.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/kcmp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "array.h"
#include "error.h"
#include "launch.h"
#include "target_internal.h"

struct mp_launch_thread {
	pid_t tid;
	mp_registers registers;
};

struct mp_launch {
	bool follow;
	bool started;             /* the root's own exec has happened */
	int unfollowed;
	mp_launch_process **procs;   /* procs[0] is the root; pointers stay put */
	size_t n, cap;
	long long orphan_deadline;   /* monotonic ns, once the root has ended */
};

static long long monotonic_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

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

/* The argv of pid's current image, for naming it in reports (a process
 * that execs is reported as what it became). */
static void read_cmdline(mp_launch_process *p)
{
	char path[64], buffer[4096];
	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)p->pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	ssize_t n = read(fd, buffer, sizeof(buffer) - 1);
	close(fd);
	if (n <= 0)
		return;
	char *copy = malloc((size_t)n + 1);
	if (!copy)
		return;
	memcpy(copy, buffer, (size_t)n);
	copy[n] = '\0';
	free(p->cmdline);
	p->cmdline = copy;
	p->cmdline_length = (size_t)n;
}

/* Tgid and PPid of a task, from /proc: a task whose Tgid is not its own id
 * is a thread. */
static bool task_ids(pid_t tid, pid_t *tgid, pid_t *ppid)
{
	char path[64], buffer[1024];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)tid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ssize_t n = read(fd, buffer, sizeof(buffer) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buffer[n] = '\0';
	const char *t = strstr(buffer, "\nTgid:");
	const char *pp = strstr(buffer, "\nPPid:");
	if (!t || !pp)
		return false;
	*tgid = (pid_t)strtol(t + 6, NULL, 10);
	*ppid = (pid_t)strtol(pp + 6, NULL, 10);
	return true;
}

/* The live record of pid (a pid may be reused once its record ended). */
static mp_launch_process *find(mp_launch *l, pid_t pid)
{
	for (size_t i = l->n; i-- > 0;)
		if (l->procs[i]->pid == pid && !l->procs[i]->ended)
			return l->procs[i];
	return NULL;
}

static mp_launch_process *add_process(mp_launch *l, pid_t pid, pid_t ppid,
				      const mp_launch_process *parent)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 16;
		mp_launch_process **procs = realloc(l->procs, cap * sizeof(*procs));
		if (!procs)
			return NULL;
		l->procs = procs;
		l->cap = cap;
	}
	mp_launch_process *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->pid = pid;
	p->ppid = ppid;
	/* Until it execs, a child runs its parent's program. */
	if (parent && parent->cmdline) {
		p->cmdline = malloc(parent->cmdline_length + 1);
		if (p->cmdline) {
			memcpy(p->cmdline, parent->cmdline, parent->cmdline_length + 1);
			p->cmdline_length = parent->cmdline_length;
		}
	}
	l->procs[l->n++] = p;
	return p;
}

/* The child has been told to exec.  The report pipe closes when the exec
 * succeeds (close-on-exec) or brings the errno of a failed one.  Meanwhile
 * the child is traced: a signal it gets before the exec (SIGWINCH from a
 * resized terminal, say) stops it until we deliver it, so the pipe is
 * polled, not read blindly, and such stops are resumed here.  The exec's
 * own event stop, if it comes first, is the root's start. */
static mp_error *wait_for_exec(mp_launch *l, int report_fd, const char *program)
{
	mp_launch_process *root = l->procs[0];
	for (;;) {
		struct pollfd ready = {report_fd, POLLIN, 0};
		int r = poll(&ready, 1, 50);
		if (r < 0 && errno != EINTR)
			return mp_error_errno(errno, "waiting for %s to start", program);
		if (r > 0) {
			int exec_errno = 0;
			ssize_t n = read(report_fd, &exec_errno, sizeof(exec_errno));
			if (n == (ssize_t)sizeof(exec_errno))
				return mp_error_errno(exec_errno, "cannot run %s", program);
			return NULL;
		}
		int status;
		pid_t got = waitpid(root->pid, &status, __WALL | WNOHANG);
		if (got != root->pid)
			continue;
		if (WIFEXITED(status) || WIFSIGNALED(status)) {
			root->ended = true;
			root->wait_status = status;
			return mp_error_new(MP_ERR_IO, "%s ended before it started (signal %d)", program,
					    WIFSIGNALED(status) ? WTERMSIG(status) : 0);
		}
		if (!WIFSTOPPED(status))
			continue;
		int event = status >> 16;
		if (event == PTRACE_EVENT_EXEC) {
			l->started = true;
			read_cmdline(root);
			ptrace(PTRACE_CONT, root->pid, NULL, NULL);
		} else if (event) {
			ptrace(PTRACE_CONT, root->pid, NULL, NULL);
		} else {
			ptrace(PTRACE_CONT, root->pid, NULL, (void *)(uintptr_t)WSTOPSIG(status));
		}
	}
}

mp_error *mp_launch_start(char *const argv[], bool follow, mp_launch **out)
{
	*out = NULL;
	int go[2], report[2];
	if (pipe2(go, O_CLOEXEC) < 0)
		return mp_error_errno(errno, "cannot create pipes to start %s", argv[0]);
	if (pipe2(report, O_CLOEXEC) < 0) {
		int e = errno;
		close(go[0]);
		close(go[1]);
		return mp_error_errno(e, "cannot create pipes to start %s", argv[0]);
	}
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
	 * running, as it leaves a --pid target (see the top of this file).
	 * TRACECLONE brings threads along (traced, but stopped only at their
	 * clone and exit events: see the top of this file); when following,
	 * it also keeps a process started by a bare clone from escaping. */
	long options = PTRACE_O_TRACEEXIT | PTRACE_O_TRACEEXEC | PTRACE_O_TRACEFORK |
		       PTRACE_O_TRACEVFORK | PTRACE_O_TRACECLONE;
	if (!l)
		err = mp_error_nomem();
	else if (ptrace(PTRACE_SEIZE, pid, NULL, (void *)options) < 0)
		err = mp_error_errno(errno, "cannot trace the program %s", argv[0]);
	if (!err) {
		l->follow = follow;
		if (!add_process(l, pid, getpid(), NULL))
			err = mp_error_nomem();
	}
	if (!err && write(go[1], "g", 1) != 1)
		err = mp_error_errno(errno, "cannot start %s", argv[0]);
	close(go[1]);
	if (!err)
		err = wait_for_exec(l, report[0], argv[0]);
	close(report[0]);
	if (err) {
		kill(pid, SIGKILL);
		reap_killed(pid);
		mp_launch_free(l);
		return err;
	}
	*out = l;
	return NULL;
}

mp_launch_process *mp_launch_root(mp_launch *l) { return l->procs[0]; }
size_t mp_launch_count(const mp_launch *l) { return l->n; }
mp_launch_process *mp_launch_at(mp_launch *l, size_t index) { return l->procs[index]; }
int mp_launch_unfollowed(const mp_launch *l) { return l->unfollowed; }

/* Thread tid of p is at its exit stop: keep its registers unless it is
 * ending alone (SYS_exit: pthread_exit, or its start routine returned),
 * when nothing it holds is a root any more.  Every other way a thread
 * stops here is the whole process ending (another thread's exit_group or
 * fatal signal, or this one's exit_group) or an exec, which clears them. */
static mp_error *keep_exit_registers(mp_launch_process *p, pid_t tid)
{
	struct user_regs_struct regs;
	if (ptrace(PTRACE_GETREGS, tid, NULL, &regs) < 0 || regs.orig_rax == SYS_exit)
		return NULL;
	size_t i = 0;
	while (i < p->n_exit_threads && p->exit_threads[i].tid != tid)
		i++;
	if (i == p->n_exit_threads) {
		if (!MP_ARRAY_RESERVE(p->exit_threads, p->exit_threads_capacity, i + 1))
			return mp_error_nomem();
		p->n_exit_threads++;
	}
	p->exit_threads[i].tid = tid;
	memcpy(p->exit_threads[i].registers.value, &regs, sizeof(regs));
	return NULL;
}

static bool has_exit_registers(const mp_launch_process *p, pid_t tid)
{
	for (size_t i = 0; i < p->n_exit_threads; i++)
		if (p->exit_threads[i].tid == tid)
			return true;
	return false;
}

/* The process p ends as a whole and its leader is held at its exit stop:
 * its other threads, killed by the group exit, come to their own exit
 * stops in a moment.  Wait for each (about a second in all: a thread in
 * uninterruptible sleep dies only when it leaves it, and is then checked
 * without its registers) and keep their registers. */
static mp_error *collect_exit_registers(mp_launch_process *p)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/task", (int)p->pid);
	DIR *dir = opendir(path);
	if (!dir)
		return NULL;
	long long deadline = monotonic_ns() + 1000000000LL;
	mp_error *err = NULL;
	struct dirent *entry;
	while (!err && (entry = readdir(dir))) {
		pid_t tid = (pid_t)strtol(entry->d_name, NULL, 10);
		if (tid <= 0 || tid == p->pid || has_exit_registers(p, tid))
			continue;
		while (monotonic_ns() < deadline) {
			int status;
			pid_t got = waitpid(tid, &status, __WALL | WNOHANG);
			if (got < 0 && errno == EINTR)
				continue;
			if (got == 0) {
				struct timespec ts = {0, 200000};
				nanosleep(&ts, NULL);
				continue;
			}
			if (got < 0 || WIFEXITED(status) || WIFSIGNALED(status))
				break;   /* gone, or not ours */
			if (WIFSTOPPED(status) && status >> 16 == PTRACE_EVENT_EXIT) {
				err = keep_exit_registers(p, tid);
				ptrace(PTRACE_CONT, tid, NULL, NULL);
				break;
			}
			/* Any other stop on its way out: let it go on. */
			ptrace(PTRACE_CONT, tid, NULL, NULL);
		}
	}
	closedir(dir);
	return err;
}

/* Stops that are no signal for the program.  A PTRACE_EVENT_STOP with a
 * stopping signal is a group stop: kept with PTRACE_LISTEN, so the task
 * stays stopped as the kernel would keep it, until SIGCONT.  Any other
 * PTRACE_EVENT_STOP (a new child's first stop under PTRACE_SEIZE) is
 * resumed: LISTEN would leave it stopped for good. */
static void resume_event_stop(pid_t tid, int signal)
{
	if (signal == SIGSTOP || signal == SIGTSTP || signal == SIGTTIN || signal == SIGTTOU)
		ptrace(PTRACE_LISTEN, tid, NULL, NULL);
	else
		ptrace(PTRACE_CONT, tid, NULL, NULL);
}

/* parent (or one of its threads, tid) created a task: record it when it is
 * a process. */
static mp_error *child_created(mp_launch *l, mp_launch_process *parent, pid_t tid, int event)
{
	unsigned long message = 0;
	if (ptrace(PTRACE_GETEVENTMSG, tid, NULL, &message) < 0)
		return NULL;
	pid_t child = (pid_t)message;
	if (event == PTRACE_EVENT_CLONE) {
		pid_t tgid, ppid;
		/* Unknown: a process would show up by its own first stop. */
		if (!task_ids(child, &tgid, &ppid) || tgid != child)
			return NULL;
	}
	if (!parent)
		return NULL;
	parent->children++;
	if (!l->follow) {
		l->unfollowed++;
		return NULL;
	}
	mp_launch_process *c = find(l, child);
	if (!c)
		c = add_process(l, child, parent->pid, parent);
	if (!c)
		return mp_error_nomem();
	/* Its first stop may have come first, and it may have exec'd since. */
	if (event == PTRACE_EVENT_VFORK && c->execs == 0)
		c->shares_parent_vm = true;
	return NULL;
}

/* Whether two processes share one address space (kcmp); -1: unknown. */
static int same_vm(pid_t a, pid_t b)
{
	long r = syscall(SYS_kcmp, a, b, KCMP_VM, 0, 0);
	return r < 0 ? -1 : r == 0;
}

static bool all_ended(const mp_launch *l)
{
	for (size_t i = 0; i < l->n; i++)
		if (!l->procs[i]->ended)
			return false;
	return true;
}

/* The processes still running once the root's grace time is over: no
 * longer waited for.  They stay traced until memprof exits, when the
 * kernel lets them go as PTRACE_DETACH would. */
static void give_up(mp_launch *l)
{
	for (size_t i = 0; i < l->n; i++) {
		mp_launch_process *p = l->procs[i];
		if (p->ended)
			continue;
		if (p->at_exit_stop)
			ptrace(PTRACE_CONT, p->pid, NULL, NULL);
		p->at_exit_stop = false;
		p->ended = true;
		p->detached = true;
	}
}

mp_error *mp_launch_next(mp_launch *l, long orphan_ms, mp_launch_event *event)
{
	memset(event, 0, sizeof(*event));
	mp_launch_process *root = l->procs[0];
	for (;;) {
		if (root->ended && all_ended(l)) {
			event->kind = MP_LAUNCH_DONE;
			return NULL;
		}
		int status;
		/* Until the root ends this wait is as long as the program runs;
		 * after, it polls against the orphans' deadline. */
		pid_t got = waitpid(-1, &status, __WALL | (root->ended ? WNOHANG : 0));
		if (got < 0) {
			if (errno == EINTR)
				continue;
			if (errno == ECHILD && root->ended) {
				give_up(l);
				continue;
			}
			return mp_error_errno(errno, "waiting for pid %d", (int)root->pid);
		}
		if (got == 0) {
			if (monotonic_ns() >= l->orphan_deadline) {
				give_up(l);
				continue;
			}
			struct timespec ts = {0, 1000000};
			nanosleep(&ts, NULL);
			continue;
		}
		mp_launch_process *p = find(l, got);
		if (WIFEXITED(status) || WIFSIGNALED(status)) {
			if (!p)
				continue;   /* a thread, or a child not followed */
			p->ended = true;
			p->at_exit_stop = false;
			p->wait_status = status;
			if (p == root)
				l->orphan_deadline = monotonic_ns() + orphan_ms * 1000000LL;
			event->kind = MP_LAUNCH_ENDED;
			event->process = p;
			return NULL;
		}
		if (!WIFSTOPPED(status))
			continue;
		int ptrace_event = status >> 16;
		int signal = WSTOPSIG(status);
		bool thread = false;
		if (!p) {
			pid_t tgid, ppid;
			if (!task_ids(got, &tgid, &ppid)) {
				/* Gone already: its end comes next. */
				ptrace(PTRACE_CONT, got, NULL, NULL);
				continue;
			}
			if (tgid != got) {
				thread = true;
				p = find(l, tgid);
			} else if (!l->follow) {
				/* A forked child, auto-attached by the fork option:
				 * let it run free (counted at its parent's event). */
				ptrace(PTRACE_DETACH, got, NULL, NULL);
				continue;
			} else {
				/* A new process whose first stop came before its
				 * parent's fork event. */
				p = add_process(l, got, ppid, find(l, ppid));
				if (!p)
					return mp_error_nomem();
			}
		}
		switch (ptrace_event) {
		case PTRACE_EVENT_EXIT:
			if (thread && p) {
				mp_error *err = keep_exit_registers(p, got);
				ptrace(PTRACE_CONT, got, NULL, NULL);
				if (err)
					return err;
				continue;
			}
			if (!p) {
				ptrace(PTRACE_CONT, got, NULL, NULL);
				continue;
			}
			{
				unsigned long message = 0;
				ptrace(PTRACE_GETEVENTMSG, got, NULL, &message);
				p->exit_message = (int)message;
			}
			p->at_exit_stop = true;
			p->saw_exit_stop = true;
			if (p != root && p->execs == 0) {
				int same = same_vm(p->pid, p->ppid);
				if (same >= 0)
					p->shares_parent_vm = same;
			}
			read_cmdline(p);
			event->kind = MP_LAUNCH_EXIT_STOP;
			event->process = p;
			return NULL;
		case PTRACE_EVENT_FORK:
		case PTRACE_EVENT_VFORK:
		case PTRACE_EVENT_CLONE: {
			mp_error *err = child_created(l, p, got, ptrace_event);
			ptrace(PTRACE_CONT, got, NULL, NULL);
			if (err)
				return err;
			continue;
		}
		case PTRACE_EVENT_EXEC:
			if (p) {
				/* The root's first exec is memprof starting it. */
				if (p == root && !l->started)
					l->started = true;
				else
					p->execs++;
				p->shares_parent_vm = false;
				/* exec killed the other threads: not an exit. */
				p->n_exit_threads = 0;
				read_cmdline(p);
			}
			ptrace(PTRACE_CONT, got, NULL, NULL);
			continue;
		case PTRACE_EVENT_STOP:
			resume_event_stop(got, signal);
			continue;
		default:
			/* A signal for the program: deliver it unchanged. */
			ptrace(PTRACE_CONT, got, NULL, (void *)(uintptr_t)signal);
			continue;
		}
	}
}

mp_error *mp_launch_target(mp_launch *l, mp_launch_process *p,
			   const mp_target_options *options, mp_target **out)
{
	(void)l;
	*out = NULL;
	if (!p->at_exit_stop)
		return mp_error_new(MP_ERR_USAGE, "pid %d is not stopped at its exit", (int)p->pid);
	mp_target *t = NULL;
	mp_error *err = mp_target_attach_pid(p->pid, options, MP_PID_ALREADY_STOPPED, &t);
	if (err)
		return err;
	struct user_regs_struct regs;
	if (ptrace(PTRACE_GETREGS, p->pid, NULL, &regs) == 0) {
		mp_registers copy;
		memcpy(copy.value, &regs, sizeof(copy.value));
		err = mp_target_add_thread(t, p->pid, &copy);
		/* A leader ending alone (SYS_exit) leaves the others running:
		 * no group exit to collect. */
		if (!err && regs.orig_rax != SYS_exit)
			err = collect_exit_registers(p);
	}
	for (size_t i = 0; !err && i < p->n_exit_threads; i++)
		err = mp_target_add_thread(t, p->exit_threads[i].tid,
					   &p->exit_threads[i].registers);
	if (!err)
		err = mp_target_finish(t);
	if (err) {
		mp_target_release(t);
		return err;
	}
	*out = t;
	return NULL;
}

void mp_launch_release(mp_launch *l, mp_launch_process *p)
{
	(void)l;
	if (p->at_exit_stop)
		ptrace(PTRACE_CONT, p->pid, NULL, NULL);
	p->at_exit_stop = false;
}

void mp_launch_free(mp_launch *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++) {
		mp_launch_process *p = l->procs[i];
		/* Only an error before the end leaves the root running: it is
		 * ours and dies with the error, as before.  The others are let
		 * go (released from an exit stop; the kernel detaches the rest
		 * when memprof exits). */
		if (i == 0 && !p->ended) {
			kill(p->pid, SIGKILL);
			reap_killed(p->pid);
		} else if (p->at_exit_stop) {
			ptrace(PTRACE_CONT, p->pid, NULL, NULL);
		}
		free(p->exit_threads);
		free(p->cmdline);
		free(p);
	}
	free(l->procs);
	free(l);
}
