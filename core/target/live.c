/* A live process as a target source.
 *
 * Every thread is frozen with PTRACE_SEIZE + PTRACE_INTERRUPT (no signal is
 * sent, so the process cannot observe a SIGSTOP), registers come from
 * PTRACE_GETREGS, memory from process_vm_readv in large runs with
 * /proc/PID/mem as the fallback.  Threads created while we attach are caught
 * by listing /proc/PID/task until it stops changing.  Releasing the target
 * detaches every thread and the process continues unharmed.
 *
 * The target is never left worse than found:
 * - every wait is bounded: waitpid is only ever called with WNOHANG (a
 *   main thread that has exited while others run would block a plain
 *   wait); a thread that does not reach its stop within STOP_TIMEOUT_MS
 *   (uninterruptible sleep, a vfork parent waiting for its child) is named
 *   in a warning, the result is partial, and memprof goes on without it;
 * - a process whose main thread has exited is read through another thread:
 *   the kernel gives the main thread's /proc entries no memory any more;
 * - a process stopped by a signal (state T) before or during the read is
 *   left stopped: the kernel keeps a group stop across PTRACE_DETACH;
 * - a process that exits or execs while we attach is told apart from a
 *   permission problem, and an exec is followed into the new program;
 * - if memprof dies at any moment (SIGKILL included), the kernel detaches
 *   its tracees as PTRACE_DETACH would, so nothing here depends on cleanup
 *   code running.
 *
 * With MP_PID_ALREADY_STOPPED a debugger already owns ptrace: nothing is
 * attached and the host supplies registers.
 */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "array.h"
#include "error.h"
#include "page_cache.h"
#include "target_internal.h"

enum {
	MAX_ATTACH_ROUNDS = 100,
	/* PTRACE_SEIZE answers EPERM for a thread that is exiting, which an
	 * exec in another thread does to all the others: look again this many
	 * times, PERM_RETRY_MS apart, before calling it a permission error. */
	PERM_RETRIES = 20,
	PERM_RETRY_MS = 5,
	/* How long a seized thread may take to reach its stop.  A runnable
	 * thread stops within microseconds even on a loaded machine; one that
	 * takes seconds is blocked where no interrupt reaches it. */
	STOP_TIMEOUT_MS = 3000,
	/* How long releasing waits for such a thread to stop after all. */
	RELEASE_TIMEOUT_MS = 200,
	SMALL_READ = 4096,
	CACHE_LINE = 64 * 1024,
	CACHE_LINES = 256,       /* 16 MiB */
};

enum thread_state {
	THREAD_RUNNING,           /* seized and interrupted, not stopped yet */
	THREAD_STOPPED,           /* in our interrupt stop (or a group stop) */
	THREAD_ZOMBIE,            /* exited, not reapable yet (a main thread
				   waits for the others) */
	THREAD_GONE,              /* exited and reaped, or no longer ours (exec) */
};

typedef struct live_thread {
	pid_t tid;
	enum thread_state state;
	bool late;                /* missed STOP_TIMEOUT_MS: not waited for again */
} live_thread;

typedef struct live_state {
	pid_t pid;
	/* The thread whose /proc entries and memory are read: the main one
	 * unless it has exited (pthread_exit) while others run, when the
	 * kernel gives its entries no memory any more. */
	pid_t mem_tid;
	char task_dir[64];        /* /proc/PID/task/MEM_TID */
	int mem_fd;               /* its mem, read-only */
	live_thread *attached;    /* threads we seized, to detach */
	size_t n_attached, attached_capacity;
	int perm_retries;         /* EPERM answers looked at again so far */
	bool exec_seen;           /* the main thread's tid came back: an exec */
	bool exited;              /* a read failed because the process is gone */
	bool use_vm_readv;
	mp_page_cache *cache;
	/* After mp_target_live_thaw: the writable memory as it was while
	 * frozen, sorted by address; reads there come from these copies. */
	struct live_copy {
		uint64_t start, end;
		uint8_t *bytes;
		bool in_arena;
	} *copies;
	size_t n_copies;
	bool thawed;
	/* Memory for the copies, mapped and faulted in before the process is
	 * frozen: faulting in a fresh page per 4 KiB copied would otherwise
	 * be most of the pause. */
	uint8_t *arena;
	size_t arena_size, arena_used;
	/* CLOCK_MONOTONIC ns: the first seize, and the release by a thaw. */
	int64_t frozen_at, thawed_at;
} live_state;

static bool process_gone(pid_t pid);

static mp_error *read_direct(void *context, uint64_t address, void *buffer,
			     size_t length)
{
	mp_target *t = context;
	live_state *s = t->state;
	uint8_t *out = buffer;
	size_t done = 0;
	while (done < length) {
		ssize_t n = -1;
		if (s->use_vm_readv) {
			struct iovec local = {out + done, length - done};
			struct iovec remote = {(void *)(uintptr_t)(address + done),
					       length - done};
			n = process_vm_readv(s->mem_tid, &local, 1, &remote, 1, 0);
			if (n < 0 && errno == ENOSYS)
				s->use_vm_readv = false;
		}
		if (n < 0 && s->mem_fd >= 0 && !s->use_vm_readv)
			n = pread(s->mem_fd, out + done, length - done,
				  (off_t)(address + done));
		if (n <= 0) {
			/* A run that crosses into unmapped memory fails as a whole
			 * with process_vm_readv: retry page by page to say where. */
			uint64_t at = address + done;
			size_t page_left = 4096 - (size_t)(at % 4096);
			if (page_left < length - done && n < 0 && errno == EFAULT) {
				mp_error *err = read_direct(t, at, out + done, page_left);
				if (err)
					return err;
				done += page_left;
				continue;
			}
			if ((n < 0 && errno == ESRCH) || process_gone(s->pid)) {
				s->exited = true;
				return mp_error_fault(at, "cannot read %zu bytes at %#llx: pid %d has exited",
						      length, (unsigned long long)address, (int)s->pid);
			}
			const mp_mapping *m = mp_target_find_mapping(t, at);
			return mp_error_fault(at, "cannot read %zu bytes at %#llx: %#llx %s",
					      length, (unsigned long long)address,
					      (unsigned long long)at,
					      m ? "is mapped but the process refused the read"
						: "is not mapped in the process");
		}
		done += (size_t)n;
	}
	return NULL;
}

/* The copy holding all of [address, address+length), or NULL. */
static const struct live_copy *copy_of(const live_state *s, uint64_t address, size_t length)
{
	size_t lo = 0, hi = s->n_copies;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (s->copies[mid].end <= address)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < s->n_copies && s->copies[lo].start <= address &&
	    length <= s->copies[lo].end - address)
		return &s->copies[lo];
	return NULL;
}

/* Small reads (headers, words, strings) go through a cache of 64 KiB
 * lines: one syscall brings in a line's worth of neighbours.  Large reads go
 * straight to the process.  The process is frozen, so lines stay true (once
 * thawed, only unwritable memory is read live). */
static mp_error *live_read(mp_target *t, uint64_t address, void *buffer,
			   size_t length)
{
	live_state *s = t->state;
	if (s->thawed) {
		/* Writable memory comes from the copies; the rest (code,
		 * read-only data) does not change while the process runs. */
		const struct live_copy *c = copy_of(s, address, length);
		if (c) {
			memcpy(buffer, c->bytes + (address - c->start), length);
			return NULL;
		}
	}
	if (length > SMALL_READ || !s->cache)
		return read_direct(t, address, buffer, length);
	return mp_page_cache_read(s->cache, address, buffer, length);
}

static long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Sleeps between polls: 0 right after news, then 10 us doubling to 2 ms, so
 * a thread that stops at once costs nothing and a slow one little CPU. */
static void backoff(long *pause_us, bool news)
{
	*pause_us = news ? 0 : *pause_us ? (*pause_us * 2 > 2000 ? 2000 : *pause_us * 2) : 10;
	if (*pause_us) {
		struct timespec ts = {0, *pause_us * 1000};
		nanosleep(&ts, NULL);
	}
}

/* The state letter of a thread in /proc (R, S, D, T, t, Z, X...), 0 when it
 * is gone. */
static char thread_state(pid_t pid, pid_t tid)
{
	char path[64], buffer[512];
	snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", (int)pid, (int)tid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buffer, sizeof(buffer) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buffer[n] = '\0';
	char *close_paren = strrchr(buffer, ')');
	return close_paren && close_paren[1] == ' ' ? close_paren[2] : 0;
}

static bool is_dead(char state)
{
	return state == 0 || state == 'Z' || state == 'X';
}

/* A zombie main thread does not make a zombie process: after
 * pthread_exit() in main the other threads run on, and so does the
 * process. */
static bool has_live_thread(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	DIR *dir = opendir(path);
	if (!dir)
		return false;
	bool live = false;
	struct dirent *entry;
	while (!live && (entry = readdir(dir))) {
		char *end;
		long tid = strtol(entry->d_name, &end, 10);
		live = !*end && tid > 0 && !is_dead(thread_state(pid, (pid_t)tid));
	}
	closedir(dir);
	return live;
}

/* Looks once, without blocking, for news of a thread we trace: it moves to
 * STOPPED or GONE.  Returns true when something happened.  waitpid never
 * blocks here: a main thread that has exited while other threads run is a
 * zombie whose wait would block until they all exit. */
static bool poll_thread(live_thread *th)
{
	int status;
	pid_t got = waitpid(th->tid, &status, __WALL | WNOHANG);
	if (got == 0)
		return false;
	if (got < 0) {
		if (errno == EINTR)
			return false;
		/* ECHILD: not ours any more (an exec in another thread
		 * took its tid). */
		th->state = THREAD_GONE;
		return true;
	}
	if (WIFEXITED(status) || WIFSIGNALED(status)) {
		/* Reaped by us, its tracer: no zombie of ours is left for
		 * the process's parent to wait for. */
		th->state = THREAD_GONE;
		return true;
	}
	if (!WIFSTOPPED(status))
		return true;
	/* PTRACE_EVENT_STOP is our interrupt, or a group stop (SIGSTOP),
	 * which holds the thread as well.  Any other stop is a signal arriving
	 * first: re-inject it and keep waiting; the interrupt stays pending. */
	if ((status >> 16) == PTRACE_EVENT_STOP)
		th->state = THREAD_STOPPED;
	else if (ptrace(PTRACE_CONT, th->tid, NULL,
			(void *)(uintptr_t)WSTOPSIG(status)) < 0 && errno == ESRCH)
		th->state = THREAD_GONE;
	return true;
}

/* For a thread that has not reported: moves it to ZOMBIE or GONE when
 * /proc says it has exited. */
static void look_in_proc(const live_state *s, live_thread *th)
{
	char state = thread_state(s->pid, th->tid);
	if (state == 'Z')
		th->state = THREAD_ZOMBIE;
	else if (is_dead(state))
		th->state = THREAD_GONE;
}

/* Waits until every thread we seized has stopped or gone, at most
 * STOP_TIMEOUT_MS.  The threads still running then are marked late and not
 * waited for again. */
static void wait_for_stops(live_state *s)
{
	long start = now_ms(), next_look = start + 20, pause_us = 0;
	for (;;) {
		bool waiting = false, news = false;
		for (size_t i = 0; i < s->n_attached; i++) {
			live_thread *th = &s->attached[i];
			if (th->state != THREAD_RUNNING)
				continue;
			news |= poll_thread(th);
			waiting |= th->state == THREAD_RUNNING && !th->late;
		}
		if (!waiting)
			return;
		long now = now_ms();
		if (now >= next_look) {
			/* A thread that exited after we seized it but cannot be
			 * reaped yet never reports: /proc says it is dead. */
			for (size_t i = 0; i < s->n_attached; i++)
				if (s->attached[i].state == THREAD_RUNNING)
					look_in_proc(s, &s->attached[i]);
			next_look = now + 20;
		}
		if (now - start >= STOP_TIMEOUT_MS) {
			for (size_t i = 0; i < s->n_attached; i++)
				if (s->attached[i].state == THREAD_RUNNING)
					s->attached[i].late = true;
			return;
		}
		backoff(&pause_us, news);
	}
}

/* Lets every thread go.  PTRACE_DETACH needs the thread in a ptrace stop:
 * a late thread is given RELEASE_TIMEOUT_MS more to reach its stop; one
 * that still has not (uninterruptible sleep) stays traced until this
 * process exits, when the kernel detaches it.  Threads that died meanwhile
 * (the process was killed while we held it) are reaped, the main thread
 * once the others are: a traced zombie would otherwise wait for us, not
 * for the process's parent. */
static void detach_all(live_state *s)
{
	long deadline = now_ms() + RELEASE_TIMEOUT_MS, pause_us = 0;
	for (;;) {
		bool pending = false, news = false;
		for (size_t i = 0; i < s->n_attached; i++) {
			live_thread *th = &s->attached[i];
			if (th->state == THREAD_STOPPED) {
				if (ptrace(PTRACE_DETACH, th->tid, NULL, NULL) == 0 || errno != ESRCH) {
					th->state = THREAD_GONE;
					continue;
				}
				/* ESRCH: killed while stopped, or no longer ours. */
				th->state = THREAD_RUNNING;
			}
			if (th->state == THREAD_GONE)
				continue;
			news |= poll_thread(th);
			if (th->state == THREAD_RUNNING || th->state == THREAD_ZOMBIE)
				look_in_proc(s, th);
			/* A zombie main thread of a process whose other threads
			 * live on cannot be reaped yet: it stays traced until
			 * this process exits (the CLI does at once), then it
			 * goes back to its parent. */
			pending |= th->state == THREAD_RUNNING || th->state == THREAD_STOPPED ||
				   (th->state == THREAD_ZOMBIE && !has_live_thread(s->pid));
		}
		if (!pending || now_ms() >= deadline)
			break;
		backoff(&pause_us, news);
	}
	s->n_attached = 0;
}

static void live_release(mp_target *t)
{
	live_state *s = t->state;
	if (!s)
		return;
	detach_all(s);
	if (s->mem_fd >= 0)
		close(s->mem_fd);
	mp_page_cache_free(s->cache);
	for (size_t i = 0; i < s->n_copies; i++)
		if (!s->copies[i].in_arena)
			free(s->copies[i].bytes);
	free(s->copies);
	if (s->arena)
		munmap(s->arena, s->arena_size);
	free(s->attached);
	free(s);
}

static bool live_gone(mp_target *t)
{
	return ((live_state *)t->state)->exited;
}

static const void *live_view(mp_target *t, uint64_t address, size_t length)
{
	live_state *s = t->state;
	const struct live_copy *c = s->thawed ? copy_of(s, address, length) : NULL;
	return c ? c->bytes + (address - c->start) : NULL;
}

static const struct mp_target_source live_source = {
	.kind = "live",
	.read = live_read,
	.release = live_release,
	.gone = live_gone,
	.view = live_view,
};

static int64_t monotonic_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The arena for the copies (see live_state): the writable mappings'
 * size now, plus room for growth until the freeze. */
static void prepare_arena(live_state *s)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/maps", (int)s->pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return;
	unsigned long long start, end, total = 0;
	char perms[8];
	char line[4096];
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%llx-%llx %7s", &start, &end, perms) == 3 && perms[0] == 'r' &&
		    perms[1] == 'w' && end > start)
			total += end - start;
	fclose(f);
	if (!total)
		return;
	size_t size = (size_t)(total + total / 4 + (1u << 20));
	void *arena = mmap(NULL, size, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE | MAP_NORESERVE, -1, 0);
	if (arena == MAP_FAILED)
		return;
	s->arena = arena;
	s->arena_size = size;
}

static int compare_copies(const void *x, const void *y)
{
	const struct live_copy *a = x, *b = y;
	return a->start < b->start ? -1 : a->start > b->start;
}

mp_error *mp_target_live_thaw(mp_target *t)
{
	if (t->source != &live_source)
		return NULL;
	live_state *s = t->state;
	if (s->thawed)
		return NULL;
	size_t n = mp_target_mapping_count(t);
	s->copies = calloc(n ? n : 1, sizeof(*s->copies));
	if (!s->copies)
		return mp_error_nomem();
	mp_error *err = NULL;
	for (size_t i = 0; i < n && !err; i++) {
		const mp_mapping *m = mp_target_mapping(t, i);
		if ((m->perms & (MP_PERM_READ | MP_PERM_WRITE)) != (MP_PERM_READ | MP_PERM_WRITE) ||
		    m->end <= m->start)
			continue;
		struct live_copy *c = &s->copies[s->n_copies];
		size_t length = m->end - m->start;
		c->in_arena = s->arena && length <= s->arena_size - s->arena_used;
		c->bytes = c->in_arena ? s->arena + s->arena_used : malloc(length);
		if (!c->bytes) {
			err = mp_error_nomem();
			break;
		}
		if (c->in_arena)
			s->arena_used += length;
		/* One run per mapping; a mapping the kernel will not read (guard
		 * pages, device memory) is left to read, and fail, live. */
		mp_error *read = read_direct(t, m->start, c->bytes, m->end - m->start);
		if (read) {
			mp_error_free(read);
			if (c->in_arena)
				s->arena_used -= length;
			else
				free(c->bytes);
			c->bytes = NULL;
			if (s->exited)
				err = mp_error_new(MP_ERR_NOT_FOUND, "pid %d exited while memprof was reading it",
						   (int)s->pid);
			continue;
		}
		c->start = m->start;
		c->end = m->end;
		s->n_copies++;
	}
	if (err)
		return err;
	/* The lookup needs them sorted; before mp_target_finish the mappings
	 * are in /proc/PID/maps order, which is sorted, but say so here. */
	if (s->n_copies > 1)
		qsort(s->copies, s->n_copies, sizeof(*s->copies), compare_copies);
	for (size_t i = 1; i < s->n_copies; i++)
		if (s->copies[i].start < s->copies[i - 1].end)
			return mp_error_new(MP_ERR_FORMAT, "pid %d: mappings overlap", (int)s->pid);
	detach_all(s);
	s->thawed_at = monotonic_ns();
	s->thawed = true;
	return NULL;
}

int64_t mp_target_live_pause_ns(const mp_target *t)
{
	if (t->source != &live_source)
		return -1;
	const live_state *s = t->state;
	return s->thawed ? s->thawed_at - s->frozen_at : -1;
}

/* Threads seized and not gone; a gone thread's tid may come back (an exec
 * in another thread takes over the main thread's tid) and is seized again. */
static bool is_attached(const live_state *s, pid_t tid)
{
	for (size_t i = 0; i < s->n_attached; i++)
		if (s->attached[i].tid == tid && s->attached[i].state != THREAD_GONE)
			return true;
	return false;
}

static long tracer_of(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return -1;
	char line[256];
	long tracer = -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "TracerPid: %ld", &tracer) == 1)
			break;
	fclose(f);
	return tracer;
}

/* Seizes and interrupts one thread.  *added: it is now ours; *again: the
 * process is changing under us (an exec or exit in progress), list its
 * threads again. */
static mp_error *seize_thread(live_state *s, pid_t tid, bool *added, bool *again)
{
	*added = false;
	/* Room first: a seized thread must be recorded to be released. */
	if (!MP_ARRAY_RESERVE(s->attached, s->attached_capacity, s->n_attached + 1))
		return mp_error_nomem();
	if (ptrace(PTRACE_SEIZE, tid, NULL, NULL) < 0) {
		int e = errno;
		if (e == ESRCH)
			return NULL;   /* the thread exited meanwhile */
		/* The kernel refuses to trace a thread that has exited (a main
		 * thread gone with pthread_exit while others run): there is
		 * nothing of it to freeze. */
		if (e == EPERM && is_dead(thread_state(s->pid, tid)))
			return NULL;
		long tracer = tracer_of(tid);
		if (e == EPERM && tracer > 0)
			return mp_error_new(MP_ERR_PERMISSION,
					    "cannot trace pid %d: it is already traced by pid %ld (a debugger?); use memprof from that debugger or detach it",
					    (int)s->pid, tracer);
		/* Or exiting in an exec, whose new main thread already has the
		 * tid: /proc shows it alive. */
		if (e == EPERM && s->perm_retries < PERM_RETRIES) {
			s->perm_retries++;
			*again = true;
			return NULL;
		}
		return mp_error_errno(e, "cannot trace pid %d (thread %d)%s", (int)s->pid,
				      (int)tid,
				      e == EPERM ? " (check permissions and /proc/sys/kernel/yama/ptrace_scope)" : "");
	}
	for (size_t i = 0; i < s->n_attached; i++)
		if (s->attached[i].tid == tid && tid == s->pid)
			s->exec_seen = true;
	s->attached[s->n_attached++] = (live_thread){.tid = tid, .state = THREAD_RUNNING};
	*added = true;
	/* ESRCH: it is exiting; its wait says so. */
	if (ptrace(PTRACE_INTERRUPT, tid, NULL, NULL) < 0 && errno != ESRCH)
		return mp_error_errno(errno, "cannot interrupt thread %d", (int)tid);
	return NULL;
}

static mp_error *freeze_all(mp_target *t, live_state *s)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/task", (int)s->pid);
	for (int round = 0; round < MAX_ATTACH_ROUNDS; round++) {
		DIR *dir = opendir(path);
		if (!dir)
			return mp_error_errno(errno, "cannot list threads of pid %d", (int)s->pid);
		bool found_new = false, again = false;
		struct dirent *entry;
		mp_error *err = NULL;
		while (!err && (entry = readdir(dir))) {
			char *end;
			long tid = strtol(entry->d_name, &end, 10);
			if (*end || tid <= 0 || is_attached(s, (pid_t)tid))
				continue;
			bool added;
			err = seize_thread(s, (pid_t)tid, &added, &again);
			found_new |= added;
		}
		closedir(dir);
		if (err)
			return err;
		if (again) {
			struct timespec ts = {0, PERM_RETRY_MS * 1000000L};
			nanosleep(&ts, NULL);
		}
		if (!found_new && !again)
			break;
		/* Seize the whole listing first, then wait for all of it: the
		 * threads stop in parallel and one deadline bounds them. */
		wait_for_stops(s);
	}
	size_t held = 0;
	for (size_t i = 0; i < s->n_attached; i++)
		held += s->attached[i].state == THREAD_STOPPED || s->attached[i].state == THREAD_RUNNING;
	if (!held)
		return mp_error_new(MP_ERR_NOT_FOUND, "pid %d exited while memprof was attaching",
				    (int)s->pid);
	if (s->exec_seen)
		mp_target_warn(t, "pid %d called exec while memprof was attaching: the new program is read",
			       (int)s->pid);
	for (size_t i = 0; i < s->n_attached; i++) {
		const live_thread *th = &s->attached[i];
		if (th->state == THREAD_GONE || th->state == THREAD_ZOMBIE)
			continue;
		mp_error *err;
		if (th->state == THREAD_RUNNING) {
			char state = thread_state(s->pid, th->tid);
			mp_target_warn(t, "thread %d did not stop within %d s (state %c%s): its registers are unknown and it may change memory while memprof reads",
				       (int)th->tid, STOP_TIMEOUT_MS / 1000, state ? state : '?',
				       state == 'D' ? ": waiting for I/O or for a vfork child" : "");
			t->partial = true;
			err = mp_target_add_thread(t, th->tid, NULL);
			if (err)
				return err;
			continue;
		}
		struct user_regs_struct regs;
		mp_registers copy;
		if (ptrace(PTRACE_GETREGS, th->tid, NULL, &regs) < 0) {
			mp_target_warn(t, "registers of thread %d are not readable: %s",
				       (int)th->tid, strerror(errno));
			t->partial = true;
			err = mp_target_add_thread(t, th->tid, NULL);
			if (err)
				return err;
			continue;
		}
		_Static_assert(sizeof(regs) == sizeof(copy.value),
			       "user_regs_struct matches mp_registers");
		memcpy(copy.value, &regs, sizeof(regs));
		err = mp_target_add_thread(t, th->tid, &copy);
		if (err)
			return err;
	}
	return NULL;
}

static mp_error *list_threads(mp_target *t, pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	DIR *dir = opendir(path);
	if (!dir)
		return mp_error_errno(errno, "cannot list threads of pid %d", (int)pid);
	struct dirent *entry;
	mp_error *err = NULL;
	while (!err && (entry = readdir(dir))) {
		char *end;
		long tid = strtol(entry->d_name, &end, 10);
		if (!*end && tid > 0)
			err = mp_target_add_thread(t, tid, NULL);
	}
	closedir(dir);
	return err;
}

static mp_error *read_maps(mp_target *t, const char *task_dir)
{
	char path[96];
	snprintf(path, sizeof(path), "%s/maps", task_dir);
	FILE *f = fopen(path, "re");
	if (!f)
		return mp_error_errno(errno, "cannot read %s", path);
	char *line = NULL;
	size_t capacity = 0;
	mp_error *err = NULL;
	while (!err && getline(&line, &capacity, f) > 0) {
		unsigned long long start, end, offset;
		char perms[5];
		int name_at = 0;
		if (sscanf(line, "%llx-%llx %4s %llx %*x:%*x %*u %n", &start, &end,
			   perms, &offset, &name_at) < 4)
			continue;
		char *name = line + name_at;
		name[strcspn(name, "\n")] = '\0';
		mp_mapping m = {0};
		m.start = start;
		m.end = end;
		m.file_offset = offset;
		m.perms = (perms[0] == 'r' ? MP_PERM_READ : 0) |
			  (perms[1] == 'w' ? MP_PERM_WRITE : 0) |
			  (perms[2] == 'x' ? MP_PERM_EXEC : 0) |
			  (perms[3] == 's' ? MP_PERM_SHARED : 0);
		m.path = name_at ? name : "";
		m.contents = m.perms & MP_PERM_READ ? MP_CONTENTS_FULL : MP_CONTENTS_NONE;
		err = mp_target_add_mapping(t, &m);
	}
	free(line);
	fclose(f);
	return err;
}

static mp_error *read_auxv(mp_target *t, const char *task_dir)
{
	char path[96];
	snprintf(path, sizeof(path), "%s/auxv", task_dir);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return mp_error_errno(errno, "cannot read %s", path);
	mp_auxv_entry entries[128];
	ssize_t n = read(fd, entries, sizeof(entries));
	close(fd);
	if (n < 0)
		return mp_error_errno(errno, "cannot read %s", path);
	size_t count = (size_t)n / sizeof(entries[0]);
	size_t used = 0;
	while (used < count && entries[used].type != 0)
		used++;
	return mp_target_set_auxv(t, entries, used);
}

static void read_process_info(mp_target *t, pid_t pid, const char *task_dir)
{
	char path[96], buffer[4096];
	t->process.pid = pid;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "re");
	if (f) {
		if (fgets(buffer, sizeof(buffer), f)) {
			char *open_paren = strchr(buffer, '(');
			char *close_paren = strrchr(buffer, ')');
			if (open_paren && close_paren > open_paren) {
				const char *name = mp_target_intern_n(
					t, open_paren + 1, (size_t)(close_paren - open_paren - 1));
				if (name)
					t->process.name = name;
				long long ppid;
				if (sscanf(close_paren + 1, " %*c %lld", &ppid) == 1)
					t->process.ppid = ppid;
			}
		}
		fclose(f);
	}
	snprintf(path, sizeof(path), "%s/cmdline", task_dir);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		ssize_t n = read(fd, buffer, sizeof(buffer) - 1);
		close(fd);
		if (n > 0) {
			for (ssize_t i = 0; i < n - 1; i++)
				if (buffer[i] == '\0')
					buffer[i] = ' ';
			buffer[n] = '\0';
			const char *args = mp_target_intern(t, buffer);
			if (args)
				t->process.args = args;
		}
	}
	snprintf(path, sizeof(path), "%s/exe", task_dir);
	ssize_t n = readlink(path, buffer, sizeof(buffer) - 1);
	if (n > 0) {
		buffer[n] = '\0';
		const char *exe = mp_target_intern(t, buffer);
		if (exe)
			t->process.exe = exe;
	}
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	if (f) {
		while (fgets(buffer, sizeof(buffer), f)) {
			long long value;
			if (sscanf(buffer, "Uid: %lld", &value) == 1)
				t->process.uid = value;
			else if (sscanf(buffer, "Gid: %lld", &value) == 1)
				t->process.gid = value;
		}
		fclose(f);
	}
}

/* The main thread, or the first live one when it has exited. */
static pid_t memory_thread(pid_t pid)
{
	if (!is_dead(thread_state(pid, pid)))
		return pid;
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	DIR *dir = opendir(path);
	if (!dir)
		return pid;
	pid_t found = pid;
	struct dirent *entry;
	while (found == pid && (entry = readdir(dir))) {
		char *end;
		long tid = strtol(entry->d_name, &end, 10);
		if (!*end && tid > 0 && !is_dead(thread_state(pid, (pid_t)tid)))
			found = (pid_t)tid;
	}
	closedir(dir);
	return found;
}

/* The state letter of /proc/PID/stat (R, S, D, T, t, Z, X...), or 0 when
 * there is no such process. */
static char process_state(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return 0;
	char buffer[1024] = "";
	char *got = fgets(buffer, sizeof(buffer), f);
	fclose(f);
	/* The command name in parentheses may hold anything, ')' included. */
	char *close_paren = got ? strrchr(buffer, ')') : NULL;
	return close_paren && close_paren[1] == ' ' ? close_paren[2] : '?';
}

/* An exited main thread leaves the process a zombie while other threads
 * run: that process still has memory. */
static bool exited_for_good(pid_t pid, char state)
{
	return (state == 'Z' || state == 'X') && !has_live_thread(pid);
}

/* No process any more, or one that has exited and waits to be reaped. */
static bool process_gone(pid_t pid)
{
	char state = process_state(pid);
	return state == 0 || exited_for_good(pid, state);
}

static mp_error *check_process(pid_t pid)
{
	if (pid <= 0)
		return mp_error_new(MP_ERR_USAGE, "invalid pid %d", (int)pid);
	char state = process_state(pid);
	if (state == 0)
		return mp_error_new(MP_ERR_NOT_FOUND, "no process with pid %d", (int)pid);
	if (exited_for_good(pid, state))
		return mp_error_new(MP_ERR_NOT_FOUND,
				    "pid %d is a zombie: it has exited and has no memory left to inspect",
				    (int)pid);
	if (pid == getpid())
		return mp_error_new(MP_ERR_USAGE,
				    "pid %d is memprof itself; inspect another process",
				    (int)pid);
	return NULL;
}

mp_error *mp_target_attach_pid(pid_t pid, const mp_target_options *options,
			       unsigned flags, mp_target **out)
{
	*out = NULL;
	mp_error *err = check_process(pid);
	if (err)
		return err;
	mp_target *t = NULL;
	err = mp_target_create(&live_source, options, &t);
	if (err)
		return err;
	live_state *s = calloc(1, sizeof(*s));
	if (!s) {
		mp_target_release(t);
		return mp_error_nomem();
	}
	s->pid = pid;
	s->mem_tid = pid;
	s->mem_fd = -1;
	s->use_vm_readv = true;
	t->state = s;
	s->cache = mp_page_cache_new(CACHE_LINE, CACHE_LINES, read_direct, t);
	if (!s->cache) {
		mp_target_release(t);
		return mp_error_nomem();
	}

	if ((flags & MP_PID_THAW_EARLY) && !(flags & MP_PID_ALREADY_STOPPED))
		prepare_arena(s);
	s->frozen_at = monotonic_ns();
	if (flags & MP_PID_ALREADY_STOPPED)
		err = list_threads(t, pid);
	else
		err = freeze_all(t, s);
	if (!err) {
		s->mem_tid = memory_thread(pid);
		snprintf(s->task_dir, sizeof(s->task_dir), "/proc/%d/task/%d", (int)pid,
			 (int)s->mem_tid);
		char path[96];
		snprintf(path, sizeof(path), "%s/mem", s->task_dir);
		/* Read-only: memprof never writes to the inspected process. */
		s->mem_fd = open(path, O_RDONLY | O_CLOEXEC);
		if (s->mem_fd < 0)
			s->use_vm_readv = true;
		err = read_maps(t, s->task_dir);
	}
	if (!err)
		err = read_auxv(t, s->task_dir);
	if (!err) {
		read_process_info(t, pid, s->task_dir);
		/* Module discovery reads files and the link map (in writable
		 * memory, so from the copy): it need not hold the process. */
		if ((flags & MP_PID_THAW_EARLY) && !(flags & MP_PID_ALREADY_STOPPED))
			err = mp_target_live_thaw(t);
		if (!err && !(flags & MP_PID_ALREADY_STOPPED))
			err = mp_target_finish(t);
	}
	if (!err && asprintf(&t->description, "live process %d (%s)", (int)pid,
			     t->process.name) < 0) {
		t->description = NULL;
		err = mp_error_nomem();
	}
	if (err && !(flags & MP_PID_ALREADY_STOPPED) && mp_error_code(err) != MP_ERR_NOMEM) {
		/* /proc entries vanish when the process dies under us (SIGKILL,
		 * or an exit while memprof was attaching): say that, not which
		 * file could not be read. */
		mp_error *gone = check_process(pid);
		/* A process killed while stopped has no memory left some time
		 * before /proc shows it as a zombie: ESRCH says so first. */
		if (!gone && mp_error_errnum(err) == ESRCH)
			gone = mp_error_new(MP_ERR_NOT_FOUND, "exited");
		if (gone) {
			mp_error_free(gone);
			mp_error_free(err);
			err = mp_error_new(MP_ERR_NOT_FOUND,
					   "pid %d exited while memprof was attaching", (int)pid);
		}
	}
	if (err) {
		mp_target_release(t);
		return err;
	}
	*out = t;
	return NULL;
}
