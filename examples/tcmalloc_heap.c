/*
 * tcmalloc_heap.c - a heap served by gperftools' tcmalloc (Debian's
 * libtcmalloc_minimal4 or libgoogle-perftools4), with the allocator's own
 * figures and the program's truth printed before it holds or aborts.
 *
 * Built twice: tcmalloc_heap (-ltcmalloc_minimal) and tcmalloc_full_heap
 * (-ltcmalloc, the library with the heap checker and profiler).  The
 * program makes a known mix:
 *   - main: 4000 small and medium blocks of twelve sizes (8 bytes to 40 KB),
 *     every third freed again (main's thread cache, the central free lists
 *     and the transfer cache); four large blocks (more than 256 KiB: a span
 *     of their own), one of them freed (a free span of the page heap);
 *   - three workers that stay alive until the end: 600 blocks each, every
 *     other one freed by the worker (its thread cache keeps some);
 *   - leaks: a block whose pointer is dropped holding the only pointer to
 *     a second block (definitely and indirectly lost), a cycle of three
 *     nodes (one definitely, two indirectly lost), and a block known only
 *     by a pointer into its middle (possibly lost).
 *
 * The truth.  tcmalloc's malloc hooks (MallocHook_AddNewHook and
 * AddDeleteHook, installed by a constructor before main) record every
 * block allocated and freed, by anyone (glibc's pthread_create allocates
 * each thread's DTV with calloc), in a static table; pointers are stored
 * complemented so the table keeps no block reachable.  Printed on stdout
 * with write(2), one line each (no stdio buffer is ever allocated), before
 * "ready <pid>" (--hold) or abort():
 *   truth blocks N bytes B       live blocks, bytes by tc_malloc_size
 *   truth before-hooks B         current_allocated_bytes when the hooks
 *                                were installed (0: the table is complete)
 *   tcmalloc NAME VALUE          MallocExtension_GetNumericProperty of
 *                                generic.current_allocated_bytes,
 *                                generic.heap_size,
 *                                tcmalloc.pageheap_free_bytes,
 *                                tcmalloc.pageheap_unmapped_bytes,
 *                                tcmalloc.central_cache_free_bytes,
 *                                tcmalloc.transfer_cache_free_bytes,
 *                                tcmalloc.thread_cache_free_bytes
 *   truth version V              tc_version()
 * With TCMALLOC_HEAP_TRUTH=FILE in the environment the table itself is
 * written there too, a line "ADDRESS USABLE" (hexadecimal, decimal) per
 * live block.
 *
 * valgrind --leak-check=full --soname-synonyms=somalloc=*tcmalloc*
 * --run-libc-freeres=no with --abort (the state of --hold):
 *   definitely lost: 3 blocks (the dropped parent, one node of the cycle,
 *                    and tcmalloc's own: MallocExtension::Register drops
 *                    the 8-byte default extension it made first)
 *   indirectly lost: 3 blocks (the parent's child, two nodes of the cycle)
 *   possibly lost:   4 blocks (the block known by its middle, and each
 *                    worker's DTV: its TCB points 8 bytes into it)
 *   still reachable: the rest.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <gperftools/malloc_extension_c.h>
#include <gperftools/malloc_hook_c.h>
#include <gperftools/tcmalloc.h>

#include "example_common.h"

enum { MAIN_BLOCKS = 4000, WORKERS = 3, WORKER_BLOCKS = 600, TABLE_SLOTS = 1 << 16 };

/* ------------------------------------------------------------- truth */

/* Open addressing on the complemented pointer; 0 is an empty slot, 1 a
 * deleted one (neither is the complement of a real block's address). */
static uintptr_t table[TABLE_SLOTS];
static atomic_flag table_lock = ATOMIC_FLAG_INIT;
static int table_overflow;
static size_t before_hooks;

static size_t slot_of(uintptr_t key)
{
    return (size_t)((key * 0x9e3779b97f4a7c15ull) >> 48) & (TABLE_SLOTS - 1);
}

static void lock(void)
{
    while (atomic_flag_test_and_set_explicit(&table_lock, memory_order_acquire))
        ;
}

static void unlock(void)
{
    atomic_flag_clear_explicit(&table_lock, memory_order_release);
}

static void on_new(const void *ptr, size_t size)
{
    (void)size;
    if (ptr == NULL)
        return;
    uintptr_t key = ~(uintptr_t)ptr;
    lock();
    size_t i = slot_of(key), n;
    for (n = 0; n < TABLE_SLOTS && table[i] > 1; n++)
        i = (i + 1) & (TABLE_SLOTS - 1);
    if (n == TABLE_SLOTS)
        table_overflow = 1;
    else
        table[i] = key;
    unlock();
}

static void on_delete(const void *ptr)
{
    if (ptr == NULL)
        return;
    uintptr_t key = ~(uintptr_t)ptr;
    lock();
    size_t i = slot_of(key);
    for (size_t n = 0; n < TABLE_SLOTS && table[i] != 0; n++) {
        if (table[i] == key) {
            table[i] = 1;
            break;
        }
        i = (i + 1) & (TABLE_SLOTS - 1);
    }
    unlock();
}

__attribute__((constructor(101)))
static void install_hooks(void)
{
    MallocExtension_GetNumericProperty("generic.current_allocated_bytes", &before_hooks);
    MallocHook_AddNewHook(on_new);
    MallocHook_AddDeleteHook(on_delete);
}

__attribute__((format(printf, 1, 2)))
static void say(const char *fmt, ...)
{
    char line[160];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n > 0)
        example_write_all(STDOUT_FILENO, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

/* The table as "ADDRESS USABLE" lines into $TCMALLOC_HEAP_TRUTH. */
static void write_table(void)
{
    const char *path = getenv("TCMALLOC_HEAP_TRUTH");
    if (path == NULL)
        return;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return;
    lock();
    for (size_t i = 0; i < TABLE_SLOTS; i++)
        if (table[i] > 1) {
            char line[64];
            int n = snprintf(line, sizeof line, "%lx %zu\n", (unsigned long)~table[i],
                             tc_malloc_size((void *)~table[i]));
            if (n > 0)
                example_write_all(fd, line, (size_t)n);
        }
    unlock();
    close(fd);
}

static void print_truth(void)
{
    static const char *const properties[] = {
        "generic.current_allocated_bytes", "generic.heap_size",
        "tcmalloc.pageheap_free_bytes", "tcmalloc.pageheap_unmapped_bytes",
        "tcmalloc.central_cache_free_bytes", "tcmalloc.transfer_cache_free_bytes",
        "tcmalloc.thread_cache_free_bytes",
    };
    unsigned long long blocks = 0, bytes = 0;
    lock();
    for (size_t i = 0; i < TABLE_SLOTS; i++)
        if (table[i] > 1) {
            blocks++;
            bytes += tc_malloc_size((void *)~table[i]);
        }
    unlock();
    write_table();
    if (table_overflow)
        say("truth overflow\n");
    say("truth blocks %llu bytes %llu\n", blocks, bytes);
    say("truth before-hooks %zu\n", before_hooks);
    for (size_t i = 0; i < sizeof properties / sizeof properties[0]; i++) {
        size_t value = 0;
        MallocExtension_GetNumericProperty(properties[i], &value);
        say("tcmalloc %s %zu\n", properties[i], value);
    }
    int major, minor;
    const char *patch;
    tc_version(&major, &minor, &patch);
    say("truth version %d.%d%s\n", major, minor, patch ? patch : "");
}

/* -------------------------------------------------------------- heap */

static void *kept[MAIN_BLOCKS];
static void *large[4];
static void *worker_kept[WORKERS][WORKER_BLOCKS];

/* The possibly lost block: only a pointer into its middle is kept. */
char *volatile tcmalloc_heap_interior;

struct node {
    struct node *next;
    char payload[40];
};

static pthread_mutex_t mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int workers_ready, release_workers;

static void *fill(size_t size)
{
    char *p = malloc(size);
    if (p == NULL) {
        static const char oom[] = "tcmalloc_heap: out of memory\n";
        example_write_all(STDERR_FILENO, oom, sizeof oom - 1);
        exit(1);
    }
    memset(p, 0x5a, size < 64 ? size : 64);
    return p;
}

static void *worker(void *arg)
{
    void **mine = arg;
    static const size_t sizes[] = {16, 48, 96, 256, 1024, 4096};
    for (size_t i = 0; i < WORKER_BLOCKS; i++)
        mine[i] = fill(sizes[i % 6]);
    for (size_t i = 0; i < WORKER_BLOCKS; i += 2) {
        free(mine[i]);
        mine[i] = NULL;
    }
    pthread_mutex_lock(&mutex);
    workers_ready++;
    pthread_cond_broadcast(&cond);
    while (!release_workers)
        pthread_cond_wait(&cond, &mutex);
    pthread_mutex_unlock(&mutex);
    for (size_t i = 1; i < WORKER_BLOCKS; i += 2)
        free(mine[i]);
    return NULL;
}

__attribute__((noinline))
static void build_leaks(void)
{
    struct node *parent = fill(sizeof *parent);
    parent->next = fill(sizeof *parent);
    parent->next->next = NULL;

    struct node *a = fill(sizeof *a), *b = fill(sizeof *b), *c = fill(sizeof *c);
    a->next = b;
    b->next = c;
    c->next = a;

    tcmalloc_heap_interior = (char *)fill(200) + 64;
}

__attribute__((noinline))
static void build_main(void)
{
    static const size_t sizes[] = {8, 16, 24, 40, 64, 100, 200, 512, 1000, 3000, 9000, 40000};
    static const size_t large_sizes[] = {300000, 1 << 20, 3 << 20, 700000};
    for (size_t i = 0; i < MAIN_BLOCKS; i++)
        kept[i] = fill(sizes[i % 12]);
    for (size_t i = 0; i < MAIN_BLOCKS; i += 3) {
        free(kept[i]);
        kept[i] = NULL;
    }
    for (size_t i = 0; i < 4; i++)
        large[i] = fill(large_sizes[i]);
    free(large[1]);
    large[1] = NULL;
}

int main(int argc, char **argv)
{
    enum example_mode mode = example_parse_mode(argc, argv);
    pthread_t threads[WORKERS];

    for (size_t t = 0; t < WORKERS; t++)
        if (pthread_create(&threads[t], NULL, worker, worker_kept[t]) != 0)
            return 1;
    pthread_mutex_lock(&mutex);
    while (workers_ready < WORKERS)
        pthread_cond_wait(&cond, &mutex);
    pthread_mutex_unlock(&mutex);

    build_main();
    build_leaks();
    example_scrub_stack();
    print_truth();
    example_after_build(mode);

    pthread_mutex_lock(&mutex);
    release_workers = 1;
    pthread_cond_broadcast(&cond);
    pthread_mutex_unlock(&mutex);
    for (size_t t = 0; t < WORKERS; t++)
        pthread_join(threads[t], NULL);
    for (size_t i = 0; i < MAIN_BLOCKS; i++)
        free(kept[i]);
    for (size_t i = 0; i < 4; i++)
        free(large[i]);
    return 0;
}
