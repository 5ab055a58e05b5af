/* A live process as a target source.
 *
 * Every thread is frozen with PTRACE_SEIZE + PTRACE_INTERRUPT (no signal is
 * sent, so the process cannot observe a SIGSTOP), registers come from
 * PTRACE_GETREGS, memory from process_vm_readv in large runs with
 * /proc/PID/mem as the fallback.  Threads created while we attach are caught
 * by listing /proc/PID/task until it stops changing.  Releasing the target
 * detaches every thread and the process continues unharmed.
 *
 * With MP_PID_ALREADY_STOPPED a debugger already owns ptrace: nothing is
 * attached and the host supplies registers.
 */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

#include "array.h"
#include "error.h"
#include "page_cache.h"
#include "target_internal.h"

enum {
	MAX_ATTACH_ROUNDS = 100,
	SMALL_READ = 4096,
	CACHE_LINE = 64 * 1024,
	CACHE_LINES = 256,       /* 16 MiB */
};

typedef struct live_state {
	pid_t pid;
	int mem_fd;               /* /proc/PID/mem, read-only */
	pid_t *attached;          /* threads we seized, to detach */
	size_t n_attached, attached_capacity;
	bool use_vm_readv;
	mp_page_cache *cache;
} live_state;

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
			n = process_vm_readv(s->pid, &local, 1, &remote, 1, 0);
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
			const mp_mapping *m = mp_target_find_mapping(t, at);
			return mp_error_new(MP_ERR_FAULT,
					    "cannot read %zu bytes at %#llx: %#llx %s",
					    length, (unsigned long long)address,
					    (unsigned long long)at,
					    m ? "is mapped but the process refused the read"
					      : "is not mapped in the process");
		}
		done += (size_t)n;
	}
	return NULL;
}

/* Small reads (headers, words, strings) go through a cache of 64 KiB
 * lines: one syscall brings in a line's worth of neighbours.  Large reads go
 * straight to the process.  The process is frozen, so lines stay true. */
static mp_error *live_read(mp_target *t, uint64_t address, void *buffer,
			   size_t length)
{
	live_state *s = t->state;
	if (length > SMALL_READ || !s->cache)
		return read_direct(t, address, buffer, length);
	return mp_page_cache_read(s->cache, address, buffer, length);
}

static void detach_all(live_state *s)
{
	for (size_t i = 0; i < s->n_attached; i++)
		ptrace(PTRACE_DETACH, s->attached[i], NULL, NULL);
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
	free(s->attached);
	free(s);
}

static const struct mp_target_source live_source = {
	.kind = "live",
	.read = live_read,
	.release = live_release,
};

static bool is_attached(const live_state *s, pid_t tid)
{
	for (size_t i = 0; i < s->n_attached; i++)
		if (s->attached[i] == tid)
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

/* Seizes and interrupts one thread and waits until it is stopped. */
static mp_error *freeze_thread(live_state *s, pid_t tid, bool *vanished)
{
	*vanished = false;
	if (ptrace(PTRACE_SEIZE, tid, NULL, NULL) < 0) {
		int e = errno;
		if (e == ESRCH) {
			*vanished = true;   /* the thread exited meanwhile */
			return NULL;
		}
		long tracer = tracer_of(tid);
		if (e == EPERM && tracer > 0)
			return mp_error_new(MP_ERR_PERMISSION,
					    "cannot trace pid %d: it is already traced by pid %ld (a debugger?); use memprof from that debugger or detach it",
					    (int)s->pid, tracer);
		return mp_error_errno(e, "cannot trace pid %d (thread %d)%s", (int)s->pid,
				      (int)tid,
				      e == EPERM ? " (check permissions and /proc/sys/kernel/yama/ptrace_scope)" : "");
	}
	if (!MP_ARRAY_RESERVE(s->attached, s->attached_capacity, s->n_attached + 1)) {
		ptrace(PTRACE_DETACH, tid, NULL, NULL);
		return mp_error_nomem();
	}
	s->attached[s->n_attached++] = tid;
	if (ptrace(PTRACE_INTERRUPT, tid, NULL, NULL) < 0)
		return mp_error_errno(errno, "cannot interrupt thread %d", (int)tid);
	for (;;) {
		int status;
		pid_t got = waitpid(tid, &status, __WALL);
		if (got < 0) {
			if (errno == EINTR)
				continue;
			if (errno == ECHILD) {
				*vanished = true;
				return NULL;
			}
			return mp_error_errno(errno, "waiting for thread %d", (int)tid);
		}
		if (WIFEXITED(status) || WIFSIGNALED(status)) {
			*vanished = true;
			return NULL;
		}
		if (!WIFSTOPPED(status))
			continue;
		/* PTRACE_EVENT_STOP is our interrupt; any other stop is a signal
		 * arriving first: re-inject it and keep waiting for ours. */
		if ((status >> 16) == PTRACE_EVENT_STOP)
			return NULL;
		ptrace(PTRACE_CONT, tid, NULL,
		       (void *)(uintptr_t)WSTOPSIG(status));
	}
}

static mp_error *freeze_all(mp_target *t, live_state *s)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/task", (int)s->pid);
	for (int round = 0; round < MAX_ATTACH_ROUNDS; round++) {
		DIR *dir = opendir(path);
		if (!dir)
			return mp_error_errno(errno, "cannot list threads of pid %d", (int)s->pid);
		bool found_new = false;
		struct dirent *entry;
		mp_error *err = NULL;
		while (!err && (entry = readdir(dir))) {
			char *end;
			long tid = strtol(entry->d_name, &end, 10);
			if (*end || tid <= 0 || is_attached(s, (pid_t)tid))
				continue;
			bool vanished;
			err = freeze_thread(s, (pid_t)tid, &vanished);
			if (!err && !vanished)
				found_new = true;
		}
		closedir(dir);
		if (err)
			return err;
		if (!found_new)
			break;
	}
	for (size_t i = 0; i < s->n_attached; i++) {
		struct user_regs_struct regs;
		mp_registers copy;
		if (ptrace(PTRACE_GETREGS, s->attached[i], NULL, &regs) < 0) {
			mp_target_warn(t, "registers of thread %d are not readable: %s",
				       (int)s->attached[i], strerror(errno));
			mp_error *err = mp_target_add_thread(t, s->attached[i], NULL);
			if (err)
				return err;
			continue;
		}
		_Static_assert(sizeof(regs) == sizeof(copy.value),
			       "user_regs_struct matches mp_registers");
		memcpy(copy.value, &regs, sizeof(regs));
		mp_error *err = mp_target_add_thread(t, s->attached[i], &copy);
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

static mp_error *read_maps(mp_target *t, pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
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

static mp_error *read_auxv(mp_target *t, pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/auxv", (int)pid);
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

static void read_process_info(mp_target *t, pid_t pid)
{
	char path[64], buffer[4096];
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
	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
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
	snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
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

static mp_error *check_process(pid_t pid)
{
	if (pid <= 0)
		return mp_error_new(MP_ERR_USAGE, "invalid pid %d", (int)pid);
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return mp_error_new(MP_ERR_NOT_FOUND, "no process with pid %d", (int)pid);
	char buffer[1024] = "";
	char *got = fgets(buffer, sizeof(buffer), f);
	fclose(f);
	char *close_paren = got ? strrchr(buffer, ')') : NULL;
	if (close_paren && close_paren[1] == ' ' && close_paren[2] == 'Z')
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
	s->mem_fd = -1;
	s->use_vm_readv = true;
	t->state = s;
	s->cache = mp_page_cache_new(CACHE_LINE, CACHE_LINES, read_direct, t);
	if (!s->cache) {
		mp_target_release(t);
		return mp_error_nomem();
	}

	if (flags & MP_PID_ALREADY_STOPPED)
		err = list_threads(t, pid);
	else
		err = freeze_all(t, s);
	if (!err) {
		char path[64];
		snprintf(path, sizeof(path), "/proc/%d/mem", (int)pid);
		/* Read-only: memprof never writes to the inspected process. */
		s->mem_fd = open(path, O_RDONLY | O_CLOEXEC);
		if (s->mem_fd < 0)
			s->use_vm_readv = true;
		err = read_maps(t, pid);
	}
	if (!err)
		err = read_auxv(t, pid);
	if (!err) {
		read_process_info(t, pid);
		if (!(flags & MP_PID_ALREADY_STOPPED))
			err = mp_target_finish(t);
	}
	if (!err && asprintf(&t->description, "live process %d (%s)", (int)pid,
			     t->process.name) < 0) {
		t->description = NULL;
		err = mp_error_nomem();
	}
	if (err) {
		mp_target_release(t);
		return err;
	}
	*out = t;
	return NULL;
}
