/* A busy, multi-threaded process for the live-target robustness tests
 * (tests/integration/test_live_robust.py): worker threads free and allocate
 * blocks all the time over a sizeable heap, so memprof's reads take a while
 * and meet memory being freed and reused.
 *
 *   busy [--threads N] [--sleepers N] [--blocks N] [--exit-after MS]
 *
 * --threads N    workers that free and allocate continuously (default 4)
 * --sleepers N   threads that allocate one block every 10 ms (default 0);
 *                with a few hundred of them a target has hundreds of threads
 * --blocks N     blocks held by the workers together (default 100000)
 * --exit-after MS  exit(0) after MS milliseconds, workers still running
 *
 * Once the heap is built it prints "ready PID" and serves lines on stdin:
 *   p            prints "progress N": operations done by every thread so far
 *   exit         exit(0) at once, workers still running
 *   leader-exit  the main thread calls pthread_exit; another thread serves
 *   exec         a worker thread execs this program again with the same
 *                arguments (same pid; it prints "ready PID" again)
 *   fork         a thread forks children all the time (each allocates,
 *                frees and exits)
 *   vfork MS     a thread vforks a child that sleeps MS milliseconds: that
 *                thread cannot be stopped meanwhile
 *   churn        a thread creates and joins short-lived threads all the time
 * On end of input the threads stop, everything is freed and busy exits 0.
 * `registry` is a global root for `memprof logical`. */
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct block {
	struct block *next;
	size_t size;
	unsigned char data[];
};

struct worker {
	pthread_t thread;
	unsigned long ops;          /* updated with __atomic builtins */
	unsigned seed;
	int sleeper;
	size_t n_slots;
	struct block **slots;
};

struct registry {
	size_t n_workers;
	struct worker *workers;
};

struct registry registry;

static int stopping;              /* __atomic: the threads stop */
static char **saved_argv;
static pthread_mutex_t ready_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ready_cond = PTHREAD_COND_INITIALIZER;
static size_t n_ready;
static unsigned long helper_ops;  /* __atomic: fork, churn, vfork threads */

static unsigned next_random(unsigned *seed)
{
	*seed = *seed * 1103515245u + 12345u;
	return *seed >> 8;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0)
		;
}

static int should_stop(void)
{
	return __atomic_load_n(&stopping, __ATOMIC_RELAXED);
}

static struct block *new_block(struct worker *w)
{
	unsigned r = next_random(&w->seed);
	size_t size;
	if (r % 100 < 70)
		size = 16 + r % 240;
	else if (r % 100 < 97)
		size = 256 + r % 3840;
	else
		size = 4096 + r % 28672;
	struct block *b = malloc(sizeof(*b) + size);
	if (!b)
		abort();
	b->next = w->slots[next_random(&w->seed) % w->n_slots];
	b->size = size;
	memset(b->data, (int)(r & 0xff), size < 64 ? size : 64);
	return b;
}

static void replace_one(struct worker *w)
{
	size_t k = next_random(&w->seed) % w->n_slots;
	free(w->slots[k]);
	w->slots[k] = NULL;
	w->slots[k] = new_block(w);
	__atomic_fetch_add(&w->ops, 1, __ATOMIC_RELAXED);
}

static void *work(void *arg)
{
	struct worker *w = arg;
	w->slots = calloc(w->n_slots, sizeof(*w->slots));
	if (!w->slots)
		abort();
	for (size_t i = 0; i < w->n_slots; i++)
		w->slots[i] = new_block(w);
	pthread_mutex_lock(&ready_lock);
	n_ready++;
	pthread_cond_broadcast(&ready_cond);
	pthread_mutex_unlock(&ready_lock);
	while (!should_stop()) {
		if (w->sleeper) {
			sleep_ms(10);
			replace_one(w);
			continue;
		}
		/* Bursts with pauses: busy, yet leaving CPU to memprof on a
		 * small machine. */
		for (int i = 0; i < 2000; i++)
			replace_one(w);
		sleep_ms(1);
	}
	return NULL;
}

static void *forker(void *arg)
{
	(void)arg;
	while (!should_stop()) {
		pid_t pid = fork();
		if (pid == 0) {
			void *p[16];
			for (int i = 0; i < 16; i++)
				p[i] = malloc(64 + 64 * (size_t)i);
			for (int i = 0; i < 16; i++)
				free(p[i]);
			_exit(0);
		}
		if (pid > 0)
			waitpid(pid, NULL, 0);
		__atomic_fetch_add(&helper_ops, 1, __ATOMIC_RELAXED);
		sleep_ms(1);
	}
	return NULL;
}

static void *vforker(void *arg)
{
	long ms = (long)(intptr_t)arg;
	pid_t pid = vfork();
	if (pid == 0) {
		/* Only async-signal-safe calls in a vfork child. */
		struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
		nanosleep(&ts, NULL);
		_exit(0);
	}
	if (pid > 0)
		waitpid(pid, NULL, 0);
	__atomic_fetch_add(&helper_ops, 1, __ATOMIC_RELAXED);
	return NULL;
}

static void *short_lived(void *arg)
{
	free(malloc(100 + (size_t)(intptr_t)arg));
	return NULL;
}

static void *churner(void *arg)
{
	(void)arg;
	for (intptr_t i = 0; !should_stop(); i++) {
		pthread_t t;
		if (pthread_create(&t, NULL, short_lived, (void *)(i % 1000)) == 0)
			pthread_join(t, NULL);
		__atomic_fetch_add(&helper_ops, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

static void *execer(void *arg)
{
	(void)arg;
	execv("/proc/self/exe", saved_argv);
	perror("busy: exec");
	_exit(1);
}

static void start_detached(void *(*fn)(void *), void *arg)
{
	pthread_t t;
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &attr, fn, arg) != 0)
		abort();
	pthread_attr_destroy(&attr);
}

static unsigned long progress(void)
{
	unsigned long total = __atomic_load_n(&helper_ops, __ATOMIC_RELAXED);
	for (size_t i = 0; i < registry.n_workers; i++)
		total += __atomic_load_n(&registry.workers[i].ops, __ATOMIC_RELAXED);
	return total;
}

static long exit_after_ms = -1;
static struct timespec started;

static long elapsed_ms(void)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - started.tv_sec) * 1000 +
	       (now.tv_nsec - started.tv_nsec) / 1000000;
}

/* Reads one line from stdin into line; 0 at end of input.  With
 * --exit-after it exits when the time is up. */
static int read_line(char *line, size_t size)
{
	size_t used = 0;
	for (;;) {
		if (exit_after_ms >= 0) {
			long left = exit_after_ms - elapsed_ms();
			if (left <= 0)
				exit(0);
			struct pollfd p = {0, POLLIN, 0};
			if (poll(&p, 1, (int)(left < 100 ? left : 100)) == 0)
				continue;
		}
		char c;
		ssize_t n = read(0, &c, 1);
		if (n <= 0)
			return used > 0;
		if (c == '\n' || used + 1 == size) {
			line[used] = '\0';
			return 1;
		}
		line[used++] = c;
	}
}

static void *serve(void *arg)
{
	(void)arg;
	char line[128];
	while (read_line(line, sizeof(line))) {
		if (strcmp(line, "p") == 0) {
			printf("progress %lu\n", progress());
			fflush(stdout);
		} else if (strcmp(line, "exit") == 0) {
			exit(0);
		} else if (strcmp(line, "leader-exit") == 0) {
			start_detached(serve, NULL);
			pthread_exit(NULL);
		} else if (strcmp(line, "exec") == 0) {
			start_detached(execer, NULL);
		} else if (strcmp(line, "fork") == 0) {
			start_detached(forker, NULL);
		} else if (strncmp(line, "vfork ", 6) == 0) {
			start_detached(vforker, (void *)(intptr_t)atol(line + 6));
		} else if (strcmp(line, "churn") == 0) {
			start_detached(churner, NULL);
		} else {
			fprintf(stderr, "busy: unknown request '%s'\n", line);
		}
	}
	__atomic_store_n(&stopping, 1, __ATOMIC_RELAXED);
	for (size_t i = 0; i < registry.n_workers; i++) {
		struct worker *w = &registry.workers[i];
		pthread_join(w->thread, NULL);
		for (size_t k = 0; k < w->n_slots; k++)
			free(w->slots[k]);
		free(w->slots);
	}
	free(registry.workers);
	exit(0);
}

int main(int argc, char **argv)
{
	size_t threads = 4, sleepers = 0, blocks = 100000;
	saved_argv = argv;
	clock_gettime(CLOCK_MONOTONIC, &started);
	for (int i = 1; i + 1 < argc; i += 2) {
		long value = atol(argv[i + 1]);
		if (strcmp(argv[i], "--threads") == 0)
			threads = (size_t)value;
		else if (strcmp(argv[i], "--sleepers") == 0)
			sleepers = (size_t)value;
		else if (strcmp(argv[i], "--blocks") == 0)
			blocks = (size_t)value;
		else if (strcmp(argv[i], "--exit-after") == 0)
			exit_after_ms = value;
		else {
			fprintf(stderr, "busy: unknown option %s\n", argv[i]);
			return 2;
		}
	}
	if (threads == 0 || blocks < threads) {
		fprintf(stderr, "busy: needs --threads >= 1 and --blocks >= --threads\n");
		return 2;
	}
	registry.n_workers = threads + sleepers;
	registry.workers = calloc(registry.n_workers, sizeof(*registry.workers));
	if (!registry.workers)
		return 1;
	for (size_t i = 0; i < registry.n_workers; i++) {
		struct worker *w = &registry.workers[i];
		w->seed = 0x9e3779b9u * (unsigned)(i + 1) ^ (unsigned)getpid();
		w->sleeper = i >= threads;
		w->n_slots = w->sleeper ? 8 : blocks / threads;
		/* Small stacks: a few hundred threads stay cheap. */
		pthread_attr_t attr;
		pthread_attr_init(&attr);
		pthread_attr_setstacksize(&attr, 256 * 1024);
		if (pthread_create(&w->thread, &attr, work, w) != 0) {
			fprintf(stderr, "busy: cannot create thread %zu\n", i);
			return 1;
		}
		pthread_attr_destroy(&attr);
	}
	pthread_mutex_lock(&ready_lock);
	while (n_ready < registry.n_workers)
		pthread_cond_wait(&ready_cond, &ready_lock);
	pthread_mutex_unlock(&ready_lock);
	printf("ready %d\n", (int)getpid());
	fflush(stdout);
	serve(NULL);
	return 0;
}
