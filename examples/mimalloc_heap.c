/*
 * mimalloc_heap.c - a heap served by mimalloc (Debian's libmimalloc 2.0),
 * with its own truth printed before it holds or aborts.
 *
 * Linked with -lmimalloc, so malloc, free and malloc_usable_size are
 * mimalloc's.  The program makes a known mix in several threads, each
 * thread with its own mimalloc heap (pages of one block size, in segments
 * of 32 MiB):
 *   - main: small blocks of ten sizes, medium ones (2 KB - 100 KB), large
 *     ones (200 KB - 10 MB) and one huge block of 40 MB (a segment of its
 *     own); every fifth freed again (the page's local free list);
 *   - three workers that stay alive: 3000 blocks of 64 bytes (full pages)
 *     and a mix, every seventh freed by the worker itself; then main frees
 *     every eleventh of each worker's first 1000 blocks from its own thread
 *     (mimalloc's cross-thread free lists: the page's thread-free list, or
 *     the owning heap's delayed-free list for a full page);
 *   - one worker that exits before the others start, leaving live blocks in
 *     pages mimalloc then abandons (no heap owns them any more);
 *   - leaks: one block whose pointer is dropped, and a cycle of three nodes
 *     pointing at each other (both unreachable).
 *
 * The truth, printed on stdout with write(2) (no stdio buffer is ever
 * allocated), one line each, before "ready <pid>" (--hold) or abort():
 *   truth blocks N bytes B         every live block, bytes by malloc_usable_size
 *   truth lost-blocks N bytes B    of those, the leaked ones (4 blocks)
 *   truth version V                mi_version() (209 for 2.0.9)
 *   truth sample ADDRESS           a 16-byte block of main's (tests corrupt
 *                                  its page's metadata in a copy of a core)
 * Live blocks are the ones the program keeps in a static table (so the
 * table adds none) plus the leaks, plus one block per worker glibc's
 * pthread_create allocated with calloc: the thread's DTV (dynamic thread
 * vector), found at the thread pointer's second word less one dtv entry,
 * counted when mimalloc owns it (mi_is_in_heap_region).  The exiting worker
 * runs first, so the others reuse its cached stack and DTV.
 *
 * valgrind --leak-check=full --soname-synonyms=somalloc=*mimalloc* --abort
 * (valgrind's malloc in mimalloc's place):
 *   definitely lost: 2 blocks (the dropped block, one node of the cycle)
 *   indirectly lost: 2 blocks (the other two nodes)
 *   possibly lost:   3 blocks (the workers' DTVs, held by &dtv[1])
 *   still reachable: the rest (10272 blocks)
 */
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mimalloc.h>

#include "example_common.h"

enum { MAX_LIVE = 40000, WORKERS = 3, WORKER_BLOCKS = 3000, CROSS_FREED = 1000 };

struct live {
    void *p;
    size_t usable;
};

/* Every live block the program keeps, by thread: main's in slot 0. */
static struct live table[WORKERS + 2][MAX_LIVE / (WORKERS + 2)];
static size_t table_count[WORKERS + 2];
/* Usable bytes of each worker's DTV block (only its size: a pointer to it
 * here would make it reachable, where glibc keeps only &dtv[1], a pointer
 * into its middle: possibly lost, for valgrind and memprof alike). */
static size_t dtv_usable[WORKERS + 2];

static uint64_t lost_blocks, lost_bytes;

struct cycle_node {
    struct cycle_node *next;
    char payload[40];
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int workers_ready;
static int release_workers;

static void *xmalloc(size_t size)
{
    void *p = malloc(size);
    if (p == NULL) {
        static const char msg[] = "mimalloc_heap: out of memory\n";
        example_write_all(STDERR_FILENO, msg, sizeof msg - 1);
        exit(1);
    }
    memset(p, 0x5a, size < 256 ? size : 256);
    return p;
}

static void keep(int slot, void *p)
{
    size_t n = table_count[slot]++;
    table[slot][n].p = p;
    table[slot][n].usable = malloc_usable_size(p);
}

/* Frees every k-th kept block of a slot (from the calling thread). */
static void free_every(int slot, size_t k, size_t first, size_t limit)
{
    for (size_t i = first; i < table_count[slot] && i < limit; i += k) {
        free(table[slot][i].p);
        table[slot][i].p = NULL;
    }
}

/* Usable bytes of the block glibc allocated for this thread's DTV, 0 when
 * mimalloc does not own it (under valgrind): the thread pointer's second
 * word is &dtv[1] (tcbhead_t), and a dtv entry is 16 bytes. */
static size_t thread_dtv_usable(void)
{
    void **tcb;
    __asm__("mov %%fs:0, %0" : "=r"(tcb));
    char *dtv = (char *)tcb[1] - 16;
    return mi_is_in_heap_region(dtv) ? malloc_usable_size(dtv) : 0;
}

static void *exiting_worker(void *arg)
{
    int slot = (int)(intptr_t)arg;
    for (int i = 0; i < 500; i++)
        keep(slot, xmalloc(24 + (size_t)(i % 5) * 40));
    free_every(slot, 3, 0, SIZE_MAX);
    return NULL;
}

static void *staying_worker(void *arg)
{
    int slot = (int)(intptr_t)arg;
    dtv_usable[slot] = thread_dtv_usable();
    for (int i = 0; i < WORKER_BLOCKS; i++)
        keep(slot, xmalloc(64));
    for (int i = 0; i < 300; i++)
        keep(slot, xmalloc(8 + (size_t)(i * 37 % 3000)));
    keep(slot, xmalloc(300000 + (size_t)slot * 1000));
    free_every(slot, 7, 3, SIZE_MAX);
    pthread_mutex_lock(&lock);
    workers_ready++;
    pthread_cond_broadcast(&cond);
    while (!release_workers)
        pthread_cond_wait(&cond, &lock);
    pthread_mutex_unlock(&lock);
    return NULL;
}

__attribute__((noinline))
static void build_main(void)
{
    static const size_t small[] = {8, 16, 24, 32, 48, 64, 100, 200, 512, 1000};
    static const size_t big[] = {200000, 1000000, 3000000, 10000000, 40000000};
    for (int i = 0; i < 2000; i++)
        keep(0, xmalloc(small[i % 10]));
    for (int i = 0; i < 40; i++)
        keep(0, xmalloc(2000 + (size_t)i * 2500));
    for (size_t i = 0; i < sizeof big / sizeof big[0]; i++)
        keep(0, xmalloc(big[i]));
    free_every(0, 5, 0, SIZE_MAX);
    /* A few more after the frees: some reuse local-free blocks. */
    for (int i = 0; i < 50; i++)
        keep(0, xmalloc(small[i % 10]));
}

__attribute__((noinline))
static void build_leaks(void)
{
    void *dropped = xmalloc(300);
    lost_blocks++;
    lost_bytes += malloc_usable_size(dropped);
    struct cycle_node *a = xmalloc(sizeof *a), *b = xmalloc(sizeof *b),
                      *c = xmalloc(sizeof *c);
    a->next = b;
    b->next = c;
    c->next = a;
    lost_blocks += 3;
    lost_bytes += malloc_usable_size(a) + malloc_usable_size(b) + malloc_usable_size(c);
}

static void say(const char *what, uint64_t a, uint64_t b)
{
    char line[128];
    int n = snprintf(line, sizeof line, "truth %s %llu bytes %llu\n", what,
                     (unsigned long long)a, (unsigned long long)b);
    if (n > 0)
        example_write_all(STDOUT_FILENO, line, (size_t)n);
}

int main(int argc, char **argv)
{
    enum example_mode mode = example_parse_mode(argc, argv);
    pthread_t threads[WORKERS + 2];

    /* The exiting worker first: its stack (and DTV) is cached by glibc
     * and reused by the next thread created. */
    pthread_create(&threads[WORKERS + 1], NULL, exiting_worker,
                   (void *)(intptr_t)(WORKERS + 1));
    pthread_join(threads[WORKERS + 1], NULL);

    build_main();
    for (int k = 1; k <= WORKERS; k++)
        pthread_create(&threads[k], NULL, staying_worker, (void *)(intptr_t)k);
    pthread_mutex_lock(&lock);
    while (workers_ready < WORKERS)
        pthread_cond_wait(&cond, &lock);
    pthread_mutex_unlock(&lock);
    for (int k = 1; k <= WORKERS; k++)
        free_every(k, 11, 0, CROSS_FREED);     /* freed by another thread */
    build_leaks();

    uint64_t blocks = lost_blocks, bytes = lost_bytes;
    for (int s = 0; s < WORKERS + 2; s++) {
        for (size_t i = 0; i < table_count[s]; i++)
            if (table[s][i].p) {
                blocks++;
                bytes += table[s][i].usable;
            }
        if (dtv_usable[s]) {
            blocks++;
            bytes += dtv_usable[s];
        }
    }
    say("blocks", blocks, bytes);
    say("lost-blocks", lost_blocks, lost_bytes);
    say("version", (uint64_t)mi_version(), 0);
    /* A block of main's first small page, for tests that corrupt its
     * page's metadata in a copy of the core. */
    char line[64];
    int n = snprintf(line, sizeof line, "truth sample %p\n", table[0][1].p);
    if (n > 0)
        example_write_all(STDOUT_FILENO, line, (size_t)n);

    if (mode != EXAMPLE_RUN)
        example_after_build(mode);

    pthread_mutex_lock(&lock);
    release_workers = 1;
    pthread_cond_broadcast(&cond);
    pthread_mutex_unlock(&lock);
    for (int k = 1; k <= WORKERS; k++)
        pthread_join(threads[k], NULL);
    for (int s = 0; s < WORKERS + 2; s++)
        for (size_t i = 0; i < table_count[s]; i++)
            free(table[s][i].p);
    return 0;
}
