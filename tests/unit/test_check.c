/* The in-process test API (include/memprof/check.h) on this very process:
 * a data structure whose logical and allocated sizes the test computes
 * itself from what it allocated (malloc_usable_size) against
 * memprof_logical_bytes; deliberate leaks whose exact blocks and bytes
 * memprof_check_leaks must report, then none once they are freed; a
 * multithreaded caller, calls from a thread that is not the main one,
 * repeated calls, the text report, a program with a reaping SIGCHLD
 * handler, and an unprivileged caller (the path Yama's ptrace_scope
 * 1 guards: PR_SET_PTRACER), whatever /proc/sys/kernel/yama/ptrace_scope
 * this machine has (read, never changed).
 *
 * Under AddressSanitizer malloc is ASan's allocator, whose heap memprof
 * does not read: every call must be refused with MP_ERR_ALLOCATOR, which
 * the tests check before skipping the rest. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "memprof/check.h"

#if defined(__SANITIZE_ADDRESS__)
#define SANITIZED_MALLOC 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZED_MALLOC 1
#endif
#endif
#ifndef SANITIZED_MALLOC
#define SANITIZED_MALLOC 0
#endif

/* Pointers kept where no scan recognises them (valgrind's tests do the
 * same), so a block can be lost and still freed afterwards. */
#define HIDE_MASK ((uintptr_t)0xa5a5a5a5a5a5a5a5ull)
static uintptr_t hide(void *p) { return (uintptr_t)p ^ HIDE_MASK; }
static void *unhide(uintptr_t h) { return (void *)(h ^ HIDE_MASK); }

/* Under ASan: the refusal is the expected answer; true when the caller
 * should skip the rest. */
static bool refused_as_sanitized(int error, const char *message)
{
	if (!SANITIZED_MALLOC)
		return false;
	assert_int_equal(error, MP_ERR_ALLOCATOR);
	assert_non_null(strstr(message, "allocator"));
	return true;
}

static void print_summary(const char *label, const memprof_leak_summary *s)
{
	printf("%s: definite %llu/%llu indirect %llu/%llu possible %llu/%llu reachable %llu/%llu%s%s\n",
	       label, (unsigned long long)s->definitely_lost.blocks,
	       (unsigned long long)s->definitely_lost.bytes,
	       (unsigned long long)s->indirectly_lost.blocks,
	       (unsigned long long)s->indirectly_lost.bytes,
	       (unsigned long long)s->possibly_lost.blocks,
	       (unsigned long long)s->possibly_lost.bytes,
	       (unsigned long long)s->still_reachable.blocks,
	       (unsigned long long)s->still_reachable.bytes,
	       s->error || s->partial ? "  " : "", s->message);
}

/* A check that must succeed (or be refused under ASan: *skip). */
static memprof_leak_summary checked(const char *label, bool *skip)
{
	memprof_leak_summary s;
	int error = memprof_check_leaks(&s);
	print_summary(label, &s);
	assert_int_equal(error, s.error);
	*skip = refused_as_sanitized(s.error, s.message);
	if (!*skip) {
		assert_int_equal(s.error, 0);
		assert_false(s.partial);
	}
	return s;
}

/* ------------------------------------------------------------ logical */

struct item {
	char *name;
	uint32_t id;
};

struct catalog_stats {
	uint64_t lookups, misses;
};

struct catalog {
	struct item *items;
	size_t n_items;         /* items used; the array has room for more */
	char *title;
	struct catalog_stats *stats;
	int flags;
};

static const char *const names[] = {"alpha", "bravo", "charlie-delta", "e", "foxtrot-golf-hotel"};
enum { N_NAMES = sizeof(names) / sizeof(names[0]), ITEMS_CAPACITY = 8 };

static void catalog_fill(struct catalog *c)
{
	memset(c, 0, sizeof(*c));
	c->items = calloc(ITEMS_CAPACITY, sizeof(*c->items));
	assert_non_null(c->items);
	for (size_t i = 0; i < N_NAMES; i++) {
		c->items[i].name = strdup(names[i]);
		assert_non_null(c->items[i].name);
		c->items[i].id = (uint32_t)i;
	}
	c->n_items = N_NAMES;
	c->title = strdup("a catalog of five");
	c->stats = calloc(1, sizeof(*c->stats));
	assert_non_null(c->title);
	assert_non_null(c->stats);
}

static void catalog_free(struct catalog *c)
{
	for (size_t i = 0; i < c->n_items; i++)
		free(c->items[i].name);
	free(c->items);
	free(c->title);
	free(c->stats);
}

static void test_logical_bytes(void **state)
{
	(void)state;
	struct catalog c;
	catalog_fill(&c);
	/* What the structure holds, by docs/logical.md's rules: the root's
	 * sizeof, the n_items elements its sibling count names, each string's
	 * strlen + 1, the stats struct; allocated: each block's usable size. */
	uint64_t logical = sizeof(c) + c.n_items * sizeof(struct item) + strlen(c.title) + 1 +
			   sizeof(*c.stats);
	uint64_t allocated = sizeof(c) + malloc_usable_size(c.items) +
			     malloc_usable_size(c.title) + malloc_usable_size(c.stats);
	uint64_t blocks = 3;
	for (size_t i = 0; i < c.n_items; i++) {
		logical += strlen(c.items[i].name) + 1;
		allocated += malloc_usable_size(c.items[i].name);
		blocks++;
	}
	memprof_logical_result r = memprof_logical_bytes(&c, "struct catalog",
							 MEMPROF_METRIC_LOGICAL);
	printf("logical: %llu (expected %llu) %s\n", (unsigned long long)r.value,
	       (unsigned long long)logical, r.message);
	if (refused_as_sanitized(r.error, r.message)) {
		catalog_free(&c);
		skip();
	}
	assert_int_equal(r.error, 0);
	assert_false(r.partial);
	assert_int_equal(r.value, logical);

	r = memprof_logical_bytes(&c, "struct catalog", MEMPROF_METRIC_ALLOCATED);
	assert_int_equal(r.error, 0);
	assert_int_equal(r.value, allocated);
	r = memprof_logical_bytes(&c, "struct catalog", MEMPROF_METRIC_SLACK);
	assert_int_equal(r.error, 0);
	assert_int_equal(r.value, allocated - logical);
	r = memprof_logical_bytes(&c, "struct catalog", MEMPROF_METRIC_COUNT);
	assert_int_equal(r.error, 0);
	assert_int_equal(r.value, blocks);

	/* The structure changes between calls: each call sees it now. */
	free(c.title);
	c.title = strdup("renamed, and a good deal longer than before");
	assert_non_null(c.title);
	logical += strlen(c.title) + 1 - strlen("a catalog of five") - 1;
	r = memprof_logical_bytes(&c, "struct catalog", MEMPROF_METRIC_LOGICAL);
	assert_int_equal(r.error, 0);
	assert_int_equal(r.value, logical);
	catalog_free(&c);
}

static void test_logical_errors(void **state)
{
	(void)state;
	struct catalog c = {0};
	memprof_logical_result r = memprof_logical_bytes(&c, "struct no_such_type_here",
							 MEMPROF_METRIC_LOGICAL);
	printf("unknown type: %d %s\n", r.error, r.message);
	if (refused_as_sanitized(r.error, r.message))
		skip();
	assert_int_equal(r.error, MP_ERR_NOT_FOUND);
	assert_non_null(strstr(r.message, "no_such_type_here"));
	r = memprof_logical_bytes(NULL, "struct catalog", MEMPROF_METRIC_LOGICAL);
	assert_int_equal(r.error, MP_ERR_USAGE);
	r = memprof_logical_bytes(&c, "struct catalog", (memprof_metric)42);
	assert_int_equal(r.error, MP_ERR_USAGE);
	assert_non_null(strstr(r.message, "metric"));
}

/* -------------------------------------------------------------- leaks */

struct lost_node {
	struct lost_node *next;
	char *payload;
};

/* Loses a node that alone points to its payload: one block definitely
 * lost, one indirectly.  Returns both hidden, and their usable sizes. */
static __attribute__((noinline)) void lose_node(uintptr_t *hidden_node, uintptr_t *hidden_payload,
						size_t *node_bytes, size_t *payload_bytes)
{
	struct lost_node *n = malloc(sizeof(*n));
	assert_non_null(n);
	n->next = NULL;
	n->payload = malloc(200);
	assert_non_null(n->payload);
	memset(n->payload, 'x', 200);
	*node_bytes = malloc_usable_size(n);
	*payload_bytes = malloc_usable_size(n->payload);
	*hidden_payload = hide(n->payload);
	*hidden_node = hide(n);
	/* Unoptimised builds keep n in this frame, where the caller's next
	 * call (a frame that leaves some slots unwritten) would keep it
	 * visible as a stale root: the scan is conservative. */
	explicit_bzero(&n, sizeof(n));
}

static void test_leak_exact(void **state)
{
	(void)state;
	bool skip_rest;
	memprof_leak_summary before = checked("before", &skip_rest);
	if (skip_rest)
		skip();
	assert_int_equal(before.definitely_lost.blocks, 0);
	assert_int_equal(before.indirectly_lost.blocks, 0);

	uintptr_t node, payload;
	size_t node_bytes, payload_bytes;
	lose_node(&node, &payload, &node_bytes, &payload_bytes);
	memprof_leak_summary lost = checked("lost", &skip_rest);
	assert_int_equal(lost.definitely_lost.blocks, 1);
	assert_int_equal(lost.definitely_lost.bytes, node_bytes);
	assert_int_equal(lost.indirectly_lost.blocks, 1);
	assert_int_equal(lost.indirectly_lost.bytes, payload_bytes);
	assert_int_equal(lost.still_reachable.blocks, before.still_reachable.blocks);

	free(unhide(payload));
	free(unhide(node));
	memprof_leak_summary after = checked("after", &skip_rest);
	assert_int_equal(after.definitely_lost.blocks, 0);
	assert_int_equal(after.indirectly_lost.blocks, 0);
	assert_int_equal(after.possibly_lost.blocks, before.possibly_lost.blocks);
	assert_int_equal(after.still_reachable.blocks, before.still_reachable.blocks);
}

/* The report a failing test prints: the same numbers in `memprof leaks`'s
 * words, written by the helper to the descriptor given. */
static void test_leak_report(void **state)
{
	(void)state;
	char path[] = "/tmp/memprof-check-report-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	unlink(path);
	uintptr_t node, payload;
	size_t node_bytes, payload_bytes;
	lose_node(&node, &payload, &node_bytes, &payload_bytes);
	memprof_leak_summary lost;
	int error = memprof_check_leaks_report(&lost, fd);
	free(unhide(payload));
	free(unhide(node));
	print_summary("report", &lost);
	if (refused_as_sanitized(error, lost.message)) {
		close(fd);
		skip();
	}
	assert_int_equal(error, 0);
	char text[16384];
	ssize_t n = pread(fd, text, sizeof(text) - 1, 0);
	close(fd);
	assert_true(n > 0);
	text[n] = '\0';
	printf("%s", text);
	char line[128];
	snprintf(line, sizeof(line), "definitely lost: %zu bytes in 1 blocks", node_bytes);
	assert_non_null(strstr(text, line));
	snprintf(line, sizeof(line), "indirectly lost: %zu bytes in 1 blocks", payload_bytes);
	assert_non_null(strstr(text, line));
	/* The lost node's group: one block of its size. */
	snprintf(line, sizeof(line), "in      1 blocks of %zu bytes", node_bytes);
	assert_non_null(strstr(text, line));
	assert_int_equal(lost.definitely_lost.bytes, node_bytes);

	/* A descriptor that is not open: an error value, counts all the same. */
	int closed = dup(STDERR_FILENO);
	assert_true(closed >= 0);
	close(closed);
	memprof_leak_summary again;
	assert_int_equal(memprof_check_leaks_report(&again, closed), MP_ERR_IO);
	assert_non_null(strstr(again.message, "descriptor"));
	assert_int_equal(again.definitely_lost.blocks, 0);
}

/* A program that reaps its children in a SIGCHLD handler: the helper,
 * a fork of it, must not run that handler, whose waitpid(-1) would take
 * the stops of the threads it traces (every thread then "did not stop"). */
static void reap_children(int sig)
{
	(void)sig;
	while (waitpid(-1, NULL, WNOHANG) > 0)
		continue;
}

static void test_sigchld_handler(void **state)
{
	(void)state;
	struct sigaction reaper, old;
	memset(&reaper, 0, sizeof(reaper));
	reaper.sa_handler = reap_children;
	assert_int_equal(sigaction(SIGCHLD, &reaper, &old), 0);
	bool skip_rest;
	memprof_leak_summary s = checked("SIGCHLD handler", &skip_rest);
	assert_int_equal(sigaction(SIGCHLD, &old, NULL), 0);
	if (skip_rest)
		skip();
	assert_int_equal(s.definitely_lost.blocks, 0);
}

/* The API allocates nothing in the caller: the same heap, checked again and
 * again, gives the same answer, reachable blocks included. */
static void test_repeated(void **state)
{
	(void)state;
	bool skip_rest;
	memprof_leak_summary first = checked("repeat 1", &skip_rest);
	if (skip_rest)
		skip();
	for (int i = 2; i <= 3; i++) {
		char label[32];
		snprintf(label, sizeof(label), "repeat %d", i);
		memprof_leak_summary again = checked(label, &skip_rest);
		assert_memory_equal(&again.still_reachable, &first.still_reachable,
				    sizeof(first.still_reachable));
		assert_memory_equal(&again.definitely_lost, &first.definitely_lost,
				    sizeof(first.definitely_lost));
		assert_memory_equal(&again.possibly_lost, &first.possibly_lost,
				    sizeof(first.possibly_lost));
	}
}

/* ------------------------------------------------------------ threads */

enum { WORKERS = 4, WORKER_BLOCK = 3000 };

typedef struct workers {
	pthread_mutex_t lock;
	pthread_cond_t changed;
	int ready;
	bool done;
	pthread_t threads[WORKERS];
} workers;

/* Each worker holds one block only through its own stack and registers
 * while the checks run: reachable, never lost. */
static void *worker(void *arg)
{
	workers *w = arg;
	char *volatile mine = malloc(WORKER_BLOCK);
	if (!mine)
		return NULL;
	memset(mine, 'w', WORKER_BLOCK);
	pthread_mutex_lock(&w->lock);
	w->ready++;
	pthread_cond_broadcast(&w->changed);
	while (!w->done)
		pthread_cond_wait(&w->changed, &w->lock);
	pthread_mutex_unlock(&w->lock);
	free(mine);
	return NULL;
}

typedef struct checker_result {
	memprof_leak_summary summary;
	uint64_t node_bytes;
} checker_result;

/* A check asked by a thread that is not the main one, which meanwhile
 * waits in pthread_join. */
static void *checker(void *arg)
{
	checker_result *r = arg;
	memprof_check_leaks(&r->summary);
	return NULL;
}

static void test_threads(void **state)
{
	(void)state;
	bool skip_rest;
	memprof_leak_summary before = checked("threads before", &skip_rest);
	if (skip_rest)
		skip();
	static workers w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, false, {0}};
	w.ready = 0;
	w.done = false;
	for (int i = 0; i < WORKERS; i++)
		assert_int_equal(pthread_create(&w.threads[i], NULL, worker, &w), 0);
	pthread_mutex_lock(&w.lock);
	while (w.ready < WORKERS)
		pthread_cond_wait(&w.changed, &w.lock);
	pthread_mutex_unlock(&w.lock);

	uintptr_t node, payload;
	size_t node_bytes, payload_bytes;
	lose_node(&node, &payload, &node_bytes, &payload_bytes);
	memprof_leak_summary main_view = checked("threads, from main", &skip_rest);

	checker_result from_thread;
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, checker, &from_thread), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	print_summary("threads, from a thread", &from_thread.summary);
	assert_int_equal(from_thread.summary.error, 0);
	assert_false(from_thread.summary.partial);

	pthread_mutex_lock(&w.lock);
	w.done = true;
	pthread_cond_broadcast(&w.changed);
	pthread_mutex_unlock(&w.lock);
	for (int i = 0; i < WORKERS; i++)
		assert_int_equal(pthread_join(w.threads[i], NULL), 0);
	free(unhide(payload));
	free(unhide(node));

	const memprof_leak_summary *views[] = {&main_view, &from_thread.summary};
	for (size_t v = 0; v < 2; v++) {
		const memprof_leak_summary *s = views[v];
		assert_int_equal(s->definitely_lost.blocks, 1);
		assert_int_equal(s->definitely_lost.bytes, node_bytes);
		assert_int_equal(s->indirectly_lost.blocks, 1);
		assert_int_equal(s->indirectly_lost.bytes, payload_bytes);
		/* Each worker's block, reachable from its stack or registers;
		 * thread records (TLS, dtv) may add reachable blocks too. */
		assert_true(s->still_reachable.blocks >= before.still_reachable.blocks + WORKERS);
		assert_true(s->still_reachable.bytes >=
			    before.still_reachable.bytes + WORKERS * (uint64_t)WORKER_BLOCK);
	}
	/* The worker blocks were reachable only from the workers' stacks and
	 * registers: a lost one would count under definitely lost above. */
}

/* ------------------------------------------------------- permissions */

/* /proc/sys/kernel/yama/ptrace_scope, or -1 without Yama. */
static int ptrace_scope(void)
{
	FILE *f = fopen("/proc/sys/kernel/yama/ptrace_scope", "r");
	if (!f)
		return -1;
	int scope = -1;
	if (fscanf(f, "%d", &scope) != 1)
		scope = -1;
	fclose(f);
	return scope;
}

/* Runs a check in a child that is an ordinary user (nobody) when this test
 * runs as root, dumpable or not: the helper then needs the permission an
 * unprivileged test program has, which under Yama's scope 1 is what
 * PR_SET_PTRACER grants. */
static memprof_leak_summary check_unprivileged(bool dumpable, bool may_fork)
{
	int fds[2];
	assert_int_equal(pipe(fds), 0);
	pid_t child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		close(fds[0]);
		memprof_leak_summary s;
		memset(&s, 0, sizeof(s));
		if (getuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0)) {
			s.error = -1;
			snprintf(s.message, sizeof(s.message), "cannot become nobody");
		} else {
			/* Changing credentials made the process undumpable. */
			prctl(PR_SET_DUMPABLE, dumpable ? 1 : 0, 0, 0, 0);
			/* No process more for this user: the helper's fork fails. */
			struct rlimit one = {1, 1};
			if (!may_fork && setrlimit(RLIMIT_NPROC, &one) != 0) {
				s.error = -1;
				snprintf(s.message, sizeof(s.message), "cannot limit processes");
			} else {
				memprof_check_leaks(&s);
			}
		}
		ssize_t n = write(fds[1], &s, sizeof(s));
		_exit(n == (ssize_t)sizeof(s) ? 0 : 1);
	}
	close(fds[1]);
	memprof_leak_summary s;
	memset(&s, 0, sizeof(s));
	size_t got = 0;
	while (got < sizeof(s)) {
		ssize_t n = read(fds[0], (char *)&s + got, sizeof(s) - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fds[0]);
	int status;
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_int_equal(got, sizeof(s));
	return s;
}

static void test_unprivileged(void **state)
{
	(void)state;
	int scope = ptrace_scope();
	printf("yama ptrace_scope: %d%s, uid %d\n", scope, scope < 0 ? " (no Yama)" : "",
	       (int)getuid());
	memprof_leak_summary s = check_unprivileged(true, true);
	print_summary("unprivileged, dumpable", &s);
	if (refused_as_sanitized(s.error, s.message))
		skip();
	if (scope >= 2 && getuid() != 0) {
		/* Only CAP_SYS_PTRACE (2) or nobody (3) may trace: refused,
		 * and the message says where to look. */
		assert_int_equal(s.error, MP_ERR_PERMISSION);
		assert_non_null(strstr(s.message, "ptrace_scope"));
		return;
	}
	assert_int_equal(s.error, 0);
	assert_false(s.partial);
	assert_int_equal(s.definitely_lost.blocks, 0);

	/* Not dumpable (what setuid programs are): the kernel refuses any
	 * unprivileged tracer, and the answer says it could not trace. */
	if (getuid() == 0) {
		s = check_unprivileged(false, true);
		print_summary("unprivileged, not dumpable", &s);
		assert_int_equal(s.error, MP_ERR_PERMISSION);
		assert_non_null(strstr(s.message, "cannot trace"));
		/* No helper at all: an error value naming the process, and the
		 * program goes on. */
		s = check_unprivileged(true, false);
		print_summary("unprivileged, cannot fork", &s);
		assert_int_equal(s.error, MP_ERR_IO);
		assert_non_null(strstr(s.message, "cannot fork the helper process"));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_logical_bytes),
		cmocka_unit_test(test_logical_errors),
		cmocka_unit_test(test_leak_exact),
		cmocka_unit_test(test_leak_report),
		cmocka_unit_test(test_sigchld_handler),
		cmocka_unit_test(test_repeated),
		cmocka_unit_test(test_threads),
		cmocka_unit_test(test_unprivileged),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
