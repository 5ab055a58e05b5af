/*
 * jemalloc_heap.c - a known mix of blocks under jemalloc (linked with
 * -ljemalloc), for memprof's jemalloc backend (docs/allocators.md).
 *
 * The main thread and three workers allocate small blocks of many size
 * classes, large ones (above the thread caches' 32 KiB limit, and below it
 * so that freed ones park in a thread cache), with malloc, calloc, realloc
 * and posix_memalign, and free part of them.  The workers stay alive, so
 * their thread caches keep the blocks they freed.  Leaked on purpose: one
 * block nothing points to (definitely lost) and a cycle of three nodes
 * nothing outside points to (one definitely lost, two indirectly).
 *
 * Before holding or aborting it prints, with write(2) from stack buffers
 * (stdio would allocate from the heap being measured):
 *   jemalloc allocated A active B resident C mapped D
 *     jemalloc's own stats.* after an "epoch" refresh (mallctl)
 *   program live_blocks N live_bytes M lost_blocks L lost_bytes K
 *     the blocks the program itself still holds (leaked ones included)
 *     and the sum of their malloc_usable_size; L and K the lost ones
 *   sample P
 *     the address of a 48-byte block the program holds
 * A, B, C and D are jemalloc's view of every allocation in the process
 * (libc's own blocks included) and count blocks parked in thread caches as
 * allocated; N and M only the program's.
 *
 * valgrind --leak-check=full --soname-synonyms=somalloc=*jemalloc*:
 *   definitely lost: 2 blocks (the lone block, one node of the cycle)
 *   indirectly lost: 2 blocks (the other two nodes)
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "example_common.h"

/* jemalloc's own API (Debian's libjemalloc2 exports it unprefixed). */
int mallctl(const char *name, void *oldp, size_t *oldlenp, void *newp, size_t newlen);
size_t malloc_usable_size(void *ptr);

enum { N_WORKERS = 3, MAX_LIVE = 16384, MAIN_BLOCKS = 3000, WORKER_BLOCKS = 900 };

/* Every block the program holds, in static memory (not the heap). */
static void *live[MAX_LIVE];
static size_t n_live;
/* A block of the 48-byte class, in a slab: its address is printed for
 * tests that need one (the corruption test finds its slab's edata_t). */
static void *sample;
/* The lost blocks: counted, their addresses dropped. */
static size_t lost_blocks, lost_bytes;
static pthread_mutex_t live_lock = PTHREAD_MUTEX_INITIALIZER;

static pthread_mutex_t gate_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cond = PTHREAD_COND_INITIALIZER;
static int workers_ready, release_workers;

struct node {
    struct node *next;
    char name[24];
    uint64_t payload[5];
};

/* The sizes the mix cycles through: tiny, quantum-spaced, page-sized,
 * the largest small class (14336), large classes that thread caches keep
 * (16 KiB to 32 KiB) and ones they never do. */
static const size_t sizes[] = {
    1, 8, 9, 16, 24, 40, 48, 64, 100, 128, 200, 256, 500, 640, 1000, 1024,
    2000, 3000, 4096, 5000, 8192, 9000, 12000, 14336, 16384, 20000, 28672,
    32768, 40000, 70000, 150000,
};
enum { N_SIZES = sizeof(sizes) / sizeof(sizes[0]) };

static void remember(void *p)
{
    pthread_mutex_lock(&live_lock);
    if (n_live < MAX_LIVE)
        live[n_live++] = p;
    pthread_mutex_unlock(&live_lock);
}

static void *must(void *p)
{
    if (p == NULL) {
        static const char msg[] = "jemalloc_heap: out of memory\n";
        example_write_all(STDERR_FILENO, msg, sizeof msg - 1);
        exit(1);
    }
    return p;
}

/* Allocates count blocks from the mix, keeps those for which keep() says
 * so and frees the others (into this thread's cache, mostly). */
static void churn(unsigned seed, size_t count, unsigned free_every)
{
    void *mine[WORKER_BLOCKS > MAIN_BLOCKS ? WORKER_BLOCKS : MAIN_BLOCKS];
    size_t i;

    for (i = 0; i < count; i++) {
        size_t size = sizes[(i * 7 + seed) % N_SIZES];
        void *p;
        if (i % 11 == 3)
            p = must(calloc(1, size));
        else if (i % 13 == 5) {
            p = must(malloc(size / 2 + 1));
            p = must(realloc(p, size));
        } else if (i % 17 == 7) {
            void *q = NULL;
            if (posix_memalign(&q, 4096, size) != 0)
                q = NULL;
            p = must(q);
        } else
            p = must(malloc(size));
        memset(p, (int)(i & 0x7f), size);
        mine[i] = p;
    }
    for (i = 0; i < count; i++) {
        if (i % free_every == 0)
            free(mine[i]);
        else
            remember(mine[i]);
    }
}

static void *worker(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg;

    churn(seed, WORKER_BLOCKS, 2);
    pthread_mutex_lock(&gate_lock);
    workers_ready++;
    pthread_cond_broadcast(&gate_cond);
    while (!release_workers)
        pthread_cond_wait(&gate_cond, &gate_lock);
    pthread_mutex_unlock(&gate_lock);
    return NULL;
}

/* The lone lost block and the lost cycle; noinline so that no register or
 * stack slot of main keeps their addresses. */
__attribute__((noinline))
static void leak(void)
{
    char *lone = must(malloc(333));
    struct node *a = must(calloc(1, sizeof *a));
    struct node *b = must(calloc(1, sizeof *b));
    struct node *c = must(calloc(1, sizeof *c));

    memset(lone, 'L', 333);
    a->next = b;
    b->next = c;
    c->next = a;
    snprintf(a->name, sizeof a->name, "cycle-a");
    snprintf(b->name, sizeof b->name, "cycle-b");
    snprintf(c->name, sizeof c->name, "cycle-c");
    lost_blocks += 4;
    lost_bytes += malloc_usable_size(lone) + malloc_usable_size(a) + malloc_usable_size(b) +
                  malloc_usable_size(c);
}

/* Overwrites the stack below the caller's frame, where leak() and the
 * allocator left the lost blocks' addresses: the buffers of functions
 * called later (example_hold's) are not initialised and would show them
 * to a conservative scan. */
__attribute__((noinline))
static void scrub_stack(void)
{
    volatile char pad[32768];
    size_t i;

    for (i = 0; i < sizeof pad; i++)
        pad[i] = 0;
}

static size_t stat_of(const char *name)
{
    size_t value = 0, length = sizeof value;
    if (mallctl(name, &value, &length, NULL, 0) != 0)
        return 0;
    return value;
}

static void print_figures(void)
{
    char line[256];
    uint64_t epoch = 1;
    size_t length = sizeof epoch, bytes = 0, i;
    int n;

    mallctl("epoch", &epoch, &length, &epoch, length);
    n = snprintf(line, sizeof line, "jemalloc allocated %zu active %zu resident %zu mapped %zu\n",
                 stat_of("stats.allocated"), stat_of("stats.active"),
                 stat_of("stats.resident"), stat_of("stats.mapped"));
    if (n > 0)
        example_write_all(STDOUT_FILENO, line, (size_t)n);
    for (i = 0; i < n_live; i++)
        bytes += malloc_usable_size(live[i]);
    n = snprintf(line, sizeof line, "program live_blocks %zu live_bytes %zu lost_blocks %zu lost_bytes %zu\n",
                 n_live + lost_blocks, bytes + lost_bytes, lost_blocks, lost_bytes);
    if (n > 0)
        example_write_all(STDOUT_FILENO, line, (size_t)n);
    n = snprintf(line, sizeof line, "sample %p\n", sample);
    if (n > 0)
        example_write_all(STDOUT_FILENO, line, (size_t)n);
}

int main(int argc, char **argv)
{
    enum example_mode mode = example_parse_mode(argc, argv);
    pthread_t threads[N_WORKERS];
    size_t i;

    for (i = 0; i < N_WORKERS; i++)
        if (pthread_create(&threads[i], NULL, worker, (void *)(uintptr_t)(i + 1)) != 0)
            return 1;
    churn(0, MAIN_BLOCKS, 3);
    sample = must(malloc(48));
    memset(sample, 's', 48);
    remember(sample);
    leak();
    scrub_stack();
    pthread_mutex_lock(&gate_lock);
    while (workers_ready < N_WORKERS)
        pthread_cond_wait(&gate_cond, &gate_lock);
    pthread_mutex_unlock(&gate_lock);

    print_figures();
    if (mode == EXAMPLE_ABORT)
        abort();
    if (mode == EXAMPLE_HOLD)
        example_hold();

    pthread_mutex_lock(&gate_lock);
    release_workers = 1;
    pthread_cond_broadcast(&gate_cond);
    pthread_mutex_unlock(&gate_lock);
    for (i = 0; i < N_WORKERS; i++)
        pthread_join(threads[i], NULL);
    /* live[] keeps the rest reachable to the end; the lost blocks stay
     * lost. */
    return 0;
}
