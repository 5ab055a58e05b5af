/*
 * leak_tls.c - thread-local history lists that only ever grow: each worker
 * thread appends records to its own `__thread` list and never trims it.
 * While the threads live, the records are reachable only through static TLS
 * (no global variable points to them), so a leak checker must scan every
 * thread's TLS block to see them as reachable; when a thread ends, its list
 * is lost.
 *
 * Roots:
 *   tls_history, tls_history_len   __thread list head (linked through `next`)
 *                                   and length, one pair per thread: the main
 *                                   thread holds 50 records, worker k (k = 0..3)
 *                                   200 + 100 * k, 1,450 records of 64 bytes in all
 *   pool                            the worker pool (thread ids, counters); it
 *                                   holds no pointer to any record
 *
 * The workers build their lists, then park on a condition variable; `--hold`
 * prints "ready" (and `--abort` aborts) only once all 4 are parked, so a core
 * or an attach sees 5 threads with full lists. At the end (no argument, or
 * --hold after EOF) main lets the workers return, without freeing their
 * lists, and joins them.
 *
 * --grow: once all 4 workers are parked, each appends 10 more records to its
 * own list every 100 ms (woken by a timed wait) until EOF on stdin; main
 * prints "ready" and a "tick <n>" line for every round the workers finish.
 * The records grow in every interval between snapshots, reachable only
 * through TLS: no global owns them, so `memprof diff` finds the growth by
 * type only (docs/diff.md).
 *
 * valgrind --leak-check=full, at exit (no argument, and --hold after EOF):
 *   definitely lost:      256 bytes in     4 blocks  (the 4 worker list heads)
 *   indirectly lost:   89,344 bytes in 1,396 blocks  (the rest of the worker lists)
 *   possibly lost:          0 bytes in     0 blocks
 *   still reachable:    3,200 bytes in    50 blocks  (main thread's list, via its TLS)
 *
 * valgrind --leak-check=full through vgdb "leak_check full" while blocked in
 * --hold (all threads alive):
 *   definitely lost:        0 bytes in     0 blocks
 *   indirectly lost:        0 bytes in     0 blocks
 *   possibly lost:      1,152 bytes in     4 blocks  (glibc's DTV arrays of the 4
 *                                                     workers, 288 bytes each,
 *                                                     pointed to only by an
 *                                                     interior pointer from the
 *                                                     thread control block)
 *   still reachable:   92,800 bytes in 1,450 blocks  (all records, via the TLS
 *                                                     of the 5 threads)
 * At exit valgrind runs glibc's __libc_freeres, which releases the cached
 * stacks of the joined workers and their DTVs; without it
 * (valgrind --run-libc-freeres=no, or a tool that stops the process at exit)
 * the exit numbers gain "possibly lost: 1,152 bytes in 4 blocks" (those DTVs).
 *
 * Outside valgrind each worker allocates from its own glibc arena (a
 * non-main arena in an mmapped heap), the main thread from main_arena. The
 * workers are started one after the other (each parks before the next is
 * created), so stacks and arenas are assigned in the same order every run.
 */
#include <pthread.h>
#include <time.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "example_common.h"

#define N_WORKERS 4
#define MAIN_RECORDS 50
#define GROW_RECORDS 10
#define GROW_TICK_MS 100

struct tls_record {
    uint64_t seq;
    unsigned worker;
    unsigned flags;
    char text[40];
    struct tls_record *next;
};

/* Per-thread roots: a debugger or memprof finds them by name in each
 * thread's static TLS block. */
__thread struct tls_record *tls_history;
__thread size_t tls_history_len;

struct worker_pool {
    pthread_t threads[N_WORKERS];
    pthread_mutex_t lock;
    pthread_cond_t changed;
    unsigned parked;
    int stop;
    int grow;                   /* --grow: parked workers append on a timer */
    uint64_t rounds;            /* --grow: worker rounds done */
    uint64_t records_total;
};

struct worker_pool pool = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .changed = PTHREAD_COND_INITIALIZER,
};

static void record(unsigned worker, uint64_t seq)
{
    struct tls_record *r = malloc(sizeof *r);

    if (r == NULL) {
        fprintf(stderr, "leak_tls: out of memory\n");
        exit(1);
    }
    r->seq = seq;
    r->worker = worker;
    r->flags = (unsigned)(seq & 3);
    snprintf(r->text, sizeof r->text, "worker %u handled request %llu", worker,
             (unsigned long long)seq);
    r->next = tls_history;
    tls_history = r;
    tls_history_len++;
}

static void *worker_main(void *arg)
{
    unsigned k = (unsigned)(uintptr_t)arg;
    size_t n = 200 + 100 * (size_t)k;
    size_t i;

    for (i = 0; i < n; i++)
        record(k + 1, i);

    pthread_mutex_lock(&pool.lock);
    pool.records_total += tls_history_len;
    pool.parked++;
    pthread_cond_broadcast(&pool.changed);
    while (!pool.stop) {
        if (!pool.grow) {
            pthread_cond_wait(&pool.changed, &pool.lock);
            continue;
        }
        struct timespec deadline;
        clock_gettime(CLOCK_REALTIME, &deadline);
        deadline.tv_nsec += GROW_TICK_MS * 1000000L;
        if (deadline.tv_nsec >= 1000000000L) {
            deadline.tv_sec++;
            deadline.tv_nsec -= 1000000000L;
        }
        if (pthread_cond_timedwait(&pool.changed, &pool.lock, &deadline) != ETIMEDOUT ||
            pool.stop)
            continue;
        pthread_mutex_unlock(&pool.lock);
        for (i = 0; i < GROW_RECORDS; i++)
            record(k + 1, n++);
        pthread_mutex_lock(&pool.lock);
        pool.records_total += GROW_RECORDS;
        pool.rounds++;
        pthread_cond_broadcast(&pool.changed);
    }
    pthread_mutex_unlock(&pool.lock);
    /* The thread ends without freeing its history. Its TLS block dies with
     * it; clearing the head makes that loss independent of glibc keeping
     * the dead thread's stack (and TLS) mapped in its stack cache. */
    tls_history = NULL;
    example_scrub_stack();
    return NULL;
}

__attribute__((noinline))
static void build(void)
{
    unsigned k;
    size_t i;

    for (i = 0; i < MAIN_RECORDS; i++)
        record(0, i);
    pthread_mutex_lock(&pool.lock);
    pool.records_total += tls_history_len;
    pthread_mutex_unlock(&pool.lock);
    /* One worker at a time, so that thread stacks and malloc arenas are
     * created in the same order on every run. */
    for (k = 0; k < N_WORKERS; k++) {
        if (pthread_create(&pool.threads[k], NULL, worker_main, (void *)(uintptr_t)k) != 0) {
            fprintf(stderr, "leak_tls: pthread_create failed\n");
            exit(1);
        }
        pthread_mutex_lock(&pool.lock);
        while (pool.parked < k + 1)
            pthread_cond_wait(&pool.changed, &pool.lock);
        pthread_mutex_unlock(&pool.lock);
    }
}

static void finish(void)
{
    unsigned k;

    pthread_mutex_lock(&pool.lock);
    pool.stop = 1;
    pthread_cond_broadcast(&pool.changed);
    pthread_mutex_unlock(&pool.lock);
    for (k = 0; k < N_WORKERS; k++)
        pthread_join(pool.threads[k], NULL);
}

/* --grow: "ready", then a "tick <n>" line each time every worker has done
 * one more round, until EOF on stdin. */
static void grow_until_eof(void)
{
    char line[64];
    uint64_t ticks = 0;
    int n = snprintf(line, sizeof line, "ready %ld\n", (long)getpid());

    if (n > 0)
        example_write_all(STDOUT_FILENO, line, (size_t)n);
    for (;;) {
        struct pollfd p = {STDIN_FILENO, POLLIN, 0};
        int ready = poll(&p, 1, GROW_TICK_MS);
        if (ready < 0 && errno == EINTR)
            continue;
        if (ready > 0) {
            char sink[256];
            ssize_t got = read(STDIN_FILENO, sink, sizeof sink);
            if (got <= 0 && !(got < 0 && errno == EINTR))
                return;
            continue;
        }
        pthread_mutex_lock(&pool.lock);
        uint64_t rounds = pool.rounds;
        pthread_mutex_unlock(&pool.lock);
        while (ticks < rounds / N_WORKERS) {
            n = snprintf(line, sizeof line, "tick %llu\n", (unsigned long long)++ticks);
            if (n > 0)
                example_write_all(STDOUT_FILENO, line, (size_t)n);
        }
    }
}

int main(int argc, char **argv)
{
    enum example_mode mode;

    if (example_wants_grow(argc, argv)) {
        pool.grow = 1;
        build();
        grow_until_eof();
        finish();
        return 0;
    }
    mode = example_parse_mode(argc, argv);
    build();
    example_after_build(mode);
    finish();
    return 0;
}
