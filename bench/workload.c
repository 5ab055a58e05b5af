/*
 * workload: builds a glibc malloc heap of a chosen size and shape, with a
 * chosen share of it leaked, for memprof's benchmarks and tests.
 *
 *   workload [--chunks N] [--leak-share F] [--shape list|tree|array|strings|mixed]
 *            [--payload BYTES] [--threads T] [--seed S] [--hold]
 *
 * Every block this program allocates counts as one chunk; --chunks is exact
 * (the blocks glibc allocates for itself, stdio buffers and thread control
 * data, are not counted). The blocks are built in groups:
 *
 *   list     runs of 1..32 nodes of a singly linked list
 *   tree     1..63 nodes of a complete binary tree
 *   array    1..16 records; a leaked group of two or more is a pointer array
 *            (one chunk) holding the rest of the group's records
 *   strings  1..8 NUL-terminated strings (many with equal contents)
 *   mixed    each group picks one of the four above
 *
 * Each group is either reachable or leaked. Reachable groups are appended to
 * structures that hang off the global array `wl_parts` (one entry per
 * allocating thread): one long list, one big complete binary tree, one array
 * of records and one array of strings. Leaked groups are dropped as soon as
 * they are built, so a leaked group yields one "definitely lost" block (its
 * head: the first list node, the subtree root, the pointer array) and the rest
 * "indirectly lost", except for strings, which are each definitely lost. The
 * choice between reachable and leaked is made so that the leaked share stays
 * close to the target all along the heap, and the totals are exact:
 * leaked_chunks = round(F * N), less the container arrays that must stay
 * reachable.
 *
 * No pointer to a leaked block is left anywhere: temporary arrays live in
 * private mappings that are unmapped after use, the stack below the stack
 * pointer is cleared and the caller-saved registers are zeroed after each
 * build, before the program reports that it is ready.
 *
 * With --threads T the chunks are built by T threads (the main thread and
 * T-1 others), each in its own malloc arena; the other threads stay alive,
 * parked, until the program ends, so a core shows them.
 *
 * On stderr it prints a one-line JSON summary of what it built. With --hold
 * it then prints "ready PID" on stdout and reads stdin until end of file.
 * Finally it frees everything that is reachable and exits with status 0, so
 * valgrind --leak-check=full reports exactly the leaked blocks as definitely
 * and indirectly lost and nothing as still reachable.
 *
 * The heap contents are deterministic (a fixed seed); addresses are not
 * (ASLR).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#define WL_MAX_THREADS 64
#define WL_LEAKED_TREE_MAX 63

enum wl_shape { SHAPE_LIST, SHAPE_TREE, SHAPE_ARRAY, SHAPE_STRINGS, SHAPE_MIXED };
static const char *const shape_names[] = { "list", "tree", "array", "strings", "mixed" };

/* The types that memprof's type inference and logical walk will meet. */
struct wl_list_node {
    struct wl_list_node *next;
    uint64_t id;
    uint32_t payload_len;
    uint32_t tag;
    char payload[];
};

struct wl_tree_node {
    struct wl_tree_node *left;
    struct wl_tree_node *right;
    uint64_t key;
    char payload[];
};

struct wl_record {
    uint64_t id;
    double weight;
    uint32_t kind;
    uint32_t payload_len;
    char payload[];
};

/* What one allocating thread built and keeps reachable. */
struct wl_part {
    struct wl_list_node *list;
    size_t list_len;
    struct wl_tree_node *tree;
    size_t tree_count;
    struct wl_record **records;
    size_t records_len;
    char **strings;
    size_t strings_len;
};

/* The roots: everything reachable hangs off these globals. */
struct wl_part wl_parts[WL_MAX_THREADS];
unsigned wl_nparts;

/* Options. */
static uint64_t opt_chunks = 100000;
static double opt_leak_share = 0.1;
static enum wl_shape opt_shape = SHAPE_LIST;
static size_t opt_payload;
static unsigned opt_threads = 1;
static uint64_t opt_seed = 0x6d656d70726f66ULL; /* "memprof" */
static int opt_hold;

/* ---------------------------------------------------------------- random */

/* splitmix64: small, fast and good enough to pick sizes and decisions. */
static inline uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static inline unsigned rng_range(uint64_t *s, unsigned lo, unsigned hi)
{
    return lo + (unsigned)(rng_next(s) % (uint64_t)(hi - lo + 1));
}

/* ------------------------------------------------------------------ plan */

/*
 * The planner yields the sequence of groups for one thread. It runs twice with
 * the same seed: once to count what the reachable containers must hold, once
 * to build.
 */
struct planner {
    uint64_t rng;
    uint64_t reach_left, leak_left;  /* chunks still to place */
    uint64_t reach_done, leak_done;
    uint64_t leak_total, total;
};

struct group {
    enum wl_shape shape;
    unsigned k;      /* chunks in the group */
    int leaked;
};

static void planner_init(struct planner *p, uint64_t seed, uint64_t reach, uint64_t leak)
{
    memset(p, 0, sizeof *p);
    p->rng = seed;
    p->reach_left = reach;
    p->leak_left = leak;
    p->leak_total = leak;
    p->total = reach + leak;
}

static int planner_next(struct planner *p, enum wl_shape shape, struct group *g)
{
    if (p->reach_left + p->leak_left == 0)
        return 0;
    if (shape == SHAPE_MIXED)
        shape = (enum wl_shape)rng_range(&p->rng, SHAPE_LIST, SHAPE_STRINGS);
    unsigned k;
    switch (shape) {
    case SHAPE_LIST: k = rng_range(&p->rng, 1, 32); break;
    case SHAPE_TREE: k = rng_range(&p->rng, 1, WL_LEAKED_TREE_MAX); break;
    case SHAPE_ARRAY: k = rng_range(&p->rng, 1, 16); break;
    default: k = rng_range(&p->rng, 1, 8); break;
    }
    int leaked;
    if (p->leak_left == 0)
        leaked = 0;
    else if (p->reach_left == 0)
        leaked = 1;
    else /* leak when the share leaked so far is below the target */
        leaked = (double)p->leak_done * (double)p->total <
                 (double)p->leak_total * (double)(p->leak_done + p->reach_done);
    uint64_t *left = leaked ? &p->leak_left : &p->reach_left;
    if (k > *left)
        k = (unsigned)*left;
    *left -= k;
    if (leaked)
        p->leak_done += k;
    else
        p->reach_done += k;
    g->shape = shape;
    g->k = k;
    g->leaked = leaked;
    return 1;
}

/* ----------------------------------------------------------------- build */

struct stats {
    uint64_t chunks;
    uint64_t bytes_requested;
    uint64_t leaked_chunks;
    uint64_t leaked_definite;
    uint64_t leaked_bytes_requested;
    uint64_t leaked_bytes_usable;
};

struct build {
    unsigned index;          /* thread index, part in wl_parts */
    uint64_t chunks, leak;   /* chunks to build, of which leaked */
    struct stats st;
    /* the tree under construction: nodes by breadth-first index */
    struct wl_tree_node **tree_nodes;
    size_t tree_map_bytes;
    uint64_t next_id;
};

static void die(const char *what)
{
    fprintf(stderr, "workload: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void *xmalloc(struct build *b, size_t n, int leaked)
{
    void *p = malloc(n);
    if (!p) {
        fprintf(stderr, "workload: out of memory after %" PRIu64 " chunks\n", b->st.chunks);
        exit(1);
    }
    b->st.chunks++;
    b->st.bytes_requested += n;
    if (leaked) {
        b->st.leaked_chunks++;
        b->st.leaked_bytes_requested += n;
        b->st.leaked_bytes_usable += malloc_usable_size(p);
    }
    return p;
}

static void fill_payload(char *dst, size_t n, uint64_t id)
{
    if (n)
        memset(dst, 'a' + (int)(id % 26), n);
}

static struct wl_list_node *new_list_node(struct build *b, int leaked)
{
    struct wl_list_node *n = xmalloc(b, sizeof *n + opt_payload, leaked);
    n->next = NULL;
    n->id = b->next_id++;
    n->payload_len = (uint32_t)opt_payload;
    n->tag = 0x4c495354; /* "LIST" */
    fill_payload(n->payload, opt_payload, n->id);
    return n;
}

static struct wl_tree_node *new_tree_node(struct build *b, int leaked)
{
    struct wl_tree_node *n = xmalloc(b, sizeof *n + opt_payload, leaked);
    n->left = n->right = NULL;
    n->key = b->next_id++;
    fill_payload(n->payload, opt_payload, n->key);
    return n;
}

static struct wl_record *new_record(struct build *b, int leaked)
{
    struct wl_record *r = xmalloc(b, sizeof *r + opt_payload, leaked);
    r->id = b->next_id++;
    r->weight = (double)(r->id % 1000) / 8.0;
    r->kind = (uint32_t)(r->id % 7);
    r->payload_len = (uint32_t)opt_payload;
    fill_payload(r->payload, opt_payload, r->id);
    return r;
}

/* Strings: "item-NNNNNN-" then letters; the number repeats every 4096 ids,
 * so equal strings are common (duplicate-content findings). */
static char *new_string(struct build *b, int leaked)
{
    uint64_t id = b->next_id++;
    unsigned v = (unsigned)(id % 4096);
    size_t len = 12 + (size_t)(v % 24) + opt_payload;
    char *s = xmalloc(b, len + 1, leaked);
    memcpy(s, "item-", 5);
    for (int i = 10; i >= 5; i--) {
        s[i] = (char)('0' + v % 10);
        v /= 10;
    }
    s[11] = '-';
    for (size_t i = 12; i < len; i++)
        s[i] = (char)('a' + (i + id % 4096) % 26);
    s[len] = '\0';
    return s;
}

static void *map_scratch(size_t bytes)
{
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        die("mmap");
    return p;
}

/* Builds one group; reachable ones are attached to part *w. */
static void build_group(struct build *b, struct wl_part *w, const struct group *g,
                        struct wl_list_node **list_tail)
{
    unsigned k = g->k;
    switch (g->shape) {
    case SHAPE_LIST: {
        struct wl_list_node *head = NULL, *prev = NULL;
        for (unsigned i = 0; i < k; i++) {
            struct wl_list_node *n = new_list_node(b, g->leaked);
            if (prev)
                prev->next = n;
            else
                head = n;
            prev = n;
        }
        if (g->leaked) {
            b->st.leaked_definite++;
        } else {
            if (*list_tail)
                (*list_tail)->next = head;
            else
                w->list = head;
            *list_tail = prev;
            w->list_len += k;
        }
        break;
    }
    case SHAPE_TREE:
        if (g->leaked) {
            /* a complete binary tree of k nodes, linked through scratch
             * slots past the reachable tree's index */
            struct wl_tree_node **slot = b->tree_nodes +
                (b->tree_map_bytes / sizeof *slot - WL_LEAKED_TREE_MAX);
            for (unsigned i = 0; i < k; i++) {
                slot[i] = new_tree_node(b, 1);
                if (i) {
                    struct wl_tree_node *parent = slot[(i - 1) / 2];
                    if (i & 1)
                        parent->left = slot[i];
                    else
                        parent->right = slot[i];
                }
            }
            memset(slot, 0, WL_LEAKED_TREE_MAX * sizeof *slot);
            b->st.leaked_definite++;
        } else {
            for (unsigned i = 0; i < k; i++) {
                size_t idx = w->tree_count++;
                struct wl_tree_node *n = new_tree_node(b, 0);
                b->tree_nodes[idx] = n;
                if (idx == 0) {
                    w->tree = n;
                } else {
                    struct wl_tree_node *parent = b->tree_nodes[(idx - 1) / 2];
                    if (idx & 1)
                        parent->left = n;
                    else
                        parent->right = n;
                }
            }
        }
        break;
    case SHAPE_ARRAY:
        if (!g->leaked) {
            for (unsigned i = 0; i < k; i++)
                w->records[w->records_len++] = new_record(b, 0);
        } else if (k == 1) {
            (void)new_record(b, 1);
            b->st.leaked_definite++;
        } else {
            struct wl_record **arr = xmalloc(b, (k - 1) * sizeof *arr, 1);
            for (unsigned i = 0; i < k - 1; i++)
                arr[i] = new_record(b, 1);
            b->st.leaked_definite++;
        }
        break;
    default:
        for (unsigned i = 0; i < k; i++) {
            char *s = new_string(b, g->leaked);
            if (g->leaked)
                b->st.leaked_definite++;
            else
                w->strings[w->strings_len++] = s;
        }
        break;
    }
}

/* Which containers a shape keeps reachable: one pointer array for records
 * and/or one for strings; each is a chunk. */
static unsigned containers(enum wl_shape shape)
{
    switch (shape) {
    case SHAPE_ARRAY:
    case SHAPE_STRINGS: return 1;
    case SHAPE_MIXED: return 2;
    default: return 0;
    }
}

static uint64_t part_seed(unsigned index)
{
    uint64_t s = opt_seed ^ (0x9e3779b97f4a7c15ULL * (index + 1));
    return rng_next(&s);
}

static __attribute__((noinline)) void build_part(struct build *b)
{
    struct wl_part *w = &wl_parts[b->index];
    unsigned ncont = containers(opt_shape);
    uint64_t reach = b->chunks - b->leak - ncont;

    /* pass 1: count what the reachable containers must hold */
    struct planner p;
    struct group g;
    uint64_t n_records = 0, n_strings = 0, n_tree = 0;
    planner_init(&p, part_seed(b->index), reach, b->leak);
    while (planner_next(&p, opt_shape, &g)) {
        if (g.leaked)
            continue;
        if (g.shape == SHAPE_ARRAY)
            n_records += g.k;
        else if (g.shape == SHAPE_STRINGS)
            n_strings += g.k;
        else if (g.shape == SHAPE_TREE)
            n_tree += g.k;
    }

    /* pass 2: build */
    b->next_id = (uint64_t)b->index << 40;
    b->tree_map_bytes = (size_t)(n_tree + WL_LEAKED_TREE_MAX) * sizeof *b->tree_nodes;
    b->tree_map_bytes = (b->tree_map_bytes + 4095) & ~(size_t)4095;
    b->tree_nodes = map_scratch(b->tree_map_bytes);
    if (opt_shape == SHAPE_ARRAY || opt_shape == SHAPE_MIXED)
        w->records = xmalloc(b, (n_records ? n_records : 1) * sizeof *w->records, 0);
    if (opt_shape == SHAPE_STRINGS || opt_shape == SHAPE_MIXED)
        w->strings = xmalloc(b, (n_strings ? n_strings : 1) * sizeof *w->strings, 0);

    struct wl_list_node *list_tail = NULL;
    planner_init(&p, part_seed(b->index), reach, b->leak);
    while (planner_next(&p, opt_shape, &g))
        build_group(b, w, &g, &list_tail);

    /* the scratch index held pointers to every tree node: unmap it */
    if (munmap(b->tree_nodes, b->tree_map_bytes) != 0)
        die("munmap");
    b->tree_nodes = NULL;
}

/*
 * After a build: clear the dead stack below the caller's frame and the
 * caller-saved registers, so no stale copy of a pointer to a leaked block
 * survives where a conservative scan could see it.
 */
static __attribute__((noinline)) void scrub_stack(void)
{
    char buf[64 * 1024];
    explicit_bzero(buf, sizeof buf);
    __asm__ volatile("" : : "r"(buf) : "memory");
}

static __attribute__((noinline)) void scrub_registers(void)
{
#if defined(__x86_64__)
    __asm__ volatile(
        "xorl %%eax, %%eax\n\t"
        "xorl %%ecx, %%ecx\n\t"
        "xorl %%edx, %%edx\n\t"
        "xorl %%esi, %%esi\n\t"
        "xorl %%edi, %%edi\n\t"
        "xorl %%r8d, %%r8d\n\t"
        "xorl %%r9d, %%r9d\n\t"
        "xorl %%r10d, %%r10d\n\t"
        "xorl %%r11d, %%r11d\n\t"
        "pxor %%xmm0, %%xmm0\n\t"
        "pxor %%xmm1, %%xmm1\n\t"
        "pxor %%xmm2, %%xmm2\n\t"
        "pxor %%xmm3, %%xmm3\n\t"
        "pxor %%xmm4, %%xmm4\n\t"
        "pxor %%xmm5, %%xmm5\n\t"
        "pxor %%xmm6, %%xmm6\n\t"
        "pxor %%xmm7, %%xmm7\n\t"
        "pxor %%xmm8, %%xmm8\n\t"
        "pxor %%xmm9, %%xmm9\n\t"
        "pxor %%xmm10, %%xmm10\n\t"
        "pxor %%xmm11, %%xmm11\n\t"
        "pxor %%xmm12, %%xmm12\n\t"
        "pxor %%xmm13, %%xmm13\n\t"
        "pxor %%xmm14, %%xmm14\n\t"
        "pxor %%xmm15, %%xmm15\n\t"
        : : : "rax", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11",
          "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7",
          "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15",
          "memory");
#elif defined(__aarch64__)
    __asm__ volatile(
        "mov x0, xzr\n\t" "mov x1, xzr\n\t" "mov x2, xzr\n\t" "mov x3, xzr\n\t"
        "mov x4, xzr\n\t" "mov x5, xzr\n\t" "mov x6, xzr\n\t" "mov x7, xzr\n\t"
        "mov x8, xzr\n\t" "mov x9, xzr\n\t" "mov x10, xzr\n\t" "mov x11, xzr\n\t"
        "mov x12, xzr\n\t" "mov x13, xzr\n\t" "mov x14, xzr\n\t" "mov x15, xzr\n\t"
        "mov x16, xzr\n\t" "mov x17, xzr\n\t"
        "movi v0.16b, #0\n\t" "movi v1.16b, #0\n\t" "movi v2.16b, #0\n\t"
        "movi v3.16b, #0\n\t" "movi v4.16b, #0\n\t" "movi v5.16b, #0\n\t"
        "movi v6.16b, #0\n\t" "movi v7.16b, #0\n\t"
        : : : "x0", "x1", "x2", "x3", "x4", "x5", "x6", "x7", "x8", "x9", "x10",
          "x11", "x12", "x13", "x14", "x15", "x16", "x17",
          "v0", "v1", "v2", "v3", "v4", "v5", "v6", "v7", "memory");
#endif
}

static __attribute__((noinline)) void build_and_scrub(struct build *b)
{
    build_part(b);
    scrub_stack();
    scrub_registers();
}

/* ------------------------------------------------------------- free */

static void free_part(struct wl_part *w)
{
    for (struct wl_list_node *n = w->list, *next; n; n = next) {
        next = n->next;
        free(n);
    }
    /* destructive traversal: rotate left children up, free down the right
     * spine; no recursion, no extra memory */
    struct wl_tree_node *t = w->tree;
    while (t) {
        if (t->left) {
            struct wl_tree_node *l = t->left;
            t->left = l->right;
            l->right = t;
            t = l;
        } else {
            struct wl_tree_node *r = t->right;
            free(t);
            t = r;
        }
    }
    for (size_t i = 0; i < w->records_len; i++)
        free(w->records[i]);
    free(w->records);
    for (size_t i = 0; i < w->strings_len; i++)
        free(w->strings[i]);
    free(w->strings);
    memset(w, 0, sizeof *w);
}

/* ----------------------------------------------------------- threads */

static pthread_mutex_t park_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t park_cond = PTHREAD_COND_INITIALIZER;
static unsigned parked;
static int shutting_down;

static void *worker(void *arg)
{
    build_and_scrub(arg);
    pthread_mutex_lock(&park_lock);
    parked++;
    pthread_cond_broadcast(&park_cond);
    while (!shutting_down)
        pthread_cond_wait(&park_cond, &park_lock);
    pthread_mutex_unlock(&park_lock);
    return NULL;
}

/* ----------------------------------------------------------- options */

static void usage(FILE *f)
{
    fprintf(f,
        "usage: workload [--chunks N] [--leak-share F] [--shape SHAPE] [--payload BYTES]\n"
        "                [--threads T] [--seed S] [--hold]\n"
        "  --chunks N       blocks to allocate (default 100000; 1e7 accepted)\n"
        "  --leak-share F   fraction of them made unreachable, 0..1 (default 0.1)\n"
        "  --shape SHAPE    list, tree, array, strings or mixed (default list)\n"
        "  --payload BYTES  extra bytes per object (default 0)\n"
        "  --threads T      allocating threads, each with its own arena (default 1, max %d)\n"
        "  --seed S         seed of the generator (default fixed)\n"
        "  --hold           print 'ready PID' on stdout, wait for end of file on stdin\n",
        WL_MAX_THREADS);
}

/* Unsigned integer, also in the form 1e7 or 2.5e6 when that is exact. */
static int parse_count(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno == 0 && end != s && *end == '\0' && s[0] != '-') {
        *out = v;
        return 1;
    }
    errno = 0;
    double d = strtod(s, &end);
    if (errno || end == s || *end != '\0' || !(d >= 0) || d > 1.8e19 || d != (double)(uint64_t)d)
        return 0;
    *out = (uint64_t)d;
    return 1;
}

static void bad_option(const char *opt, const char *val)
{
    fprintf(stderr, "workload: bad value for %s: '%s'\n", opt, val ? val : "");
    usage(stderr);
    exit(2);
}

static void parse_args(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = NULL;
        size_t alen = strcspn(a, "=");
        char name[32];
        if (alen >= sizeof name)
            bad_option(a, "");
        memcpy(name, a, alen);
        name[alen] = '\0';
        if (a[alen] == '=')
            v = a + alen + 1;
        if (!strcmp(name, "--hold")) {
            opt_hold = 1;
            continue;
        }
        if (!strcmp(name, "--help") || !strcmp(name, "-h")) {
            usage(stdout);
            exit(0);
        }
        if (strcmp(name, "--chunks") && strcmp(name, "--leak-share") &&
            strcmp(name, "--shape") && strcmp(name, "--payload") &&
            strcmp(name, "--threads") && strcmp(name, "--seed")) {
            fprintf(stderr, "workload: unknown option '%s'\n", a);
            usage(stderr);
            exit(2);
        }
        if (!v) {
            if (i + 1 >= argc)
                bad_option(name, NULL);
            v = argv[++i];
        }
        uint64_t n;
        if (!strcmp(name, "--chunks")) {
            if (!parse_count(v, &n) || n == 0)
                bad_option(name, v);
            opt_chunks = n;
        } else if (!strcmp(name, "--leak-share")) {
            char *end;
            errno = 0;
            double f = strtod(v, &end);
            if (errno || end == v || *end || !(f >= 0.0 && f <= 1.0))
                bad_option(name, v);
            opt_leak_share = f;
        } else if (!strcmp(name, "--shape")) {
            unsigned s;
            for (s = 0; s < sizeof shape_names / sizeof *shape_names; s++)
                if (!strcmp(v, shape_names[s]))
                    break;
            if (s == sizeof shape_names / sizeof *shape_names)
                bad_option(name, v);
            opt_shape = (enum wl_shape)s;
        } else if (!strcmp(name, "--payload")) {
            if (!parse_count(v, &n) || n > (1u << 30))
                bad_option(name, v);
            opt_payload = (size_t)n;
        } else if (!strcmp(name, "--threads")) {
            if (!parse_count(v, &n) || n < 1 || n > WL_MAX_THREADS)
                bad_option(name, v);
            opt_threads = (unsigned)n;
        } else {
            if (!parse_count(v, &n))
                bad_option(name, v);
            opt_seed = n;
        }
    }
    uint64_t min = (uint64_t)opt_threads * (containers(opt_shape) + 1);
    if (opt_chunks < min) {
        fprintf(stderr, "workload: --chunks must be at least %" PRIu64
                " for this shape and thread count\n", min);
        exit(2);
    }
}

/* -------------------------------------------------------------- main */

static struct build builds[WL_MAX_THREADS];
static pthread_t threads[WL_MAX_THREADS];

int main(int argc, char **argv)
{
    parse_args(argc, argv);

    unsigned T = opt_threads;
    uint64_t ncont = containers(opt_shape);
    uint64_t leak_total = (uint64_t)(opt_leak_share * (double)opt_chunks + 0.5);
    if (leak_total > opt_chunks - T * ncont)
        leak_total = opt_chunks - T * ncont;

    /* split chunks and leaks over the threads */
    for (unsigned t = 0; t < T; t++) {
        struct build *b = &builds[t];
        b->index = t;
        b->chunks = opt_chunks / T + (t < opt_chunks % T);
        b->leak = leak_total / T + (t < leak_total % T);
        if (b->leak > b->chunks - ncont)
            b->leak = b->chunks - ncont;
    }
    wl_nparts = T;

    for (unsigned t = 1; t < T; t++) {
        int err = pthread_create(&threads[t], NULL, worker, &builds[t]);
        if (err) {
            errno = err;
            die("pthread_create");
        }
    }
    build_and_scrub(&builds[0]);
    pthread_mutex_lock(&park_lock);
    while (parked < T - 1)
        pthread_cond_wait(&park_cond, &park_lock);
    pthread_mutex_unlock(&park_lock);

    struct stats st = { 0 };
    for (unsigned t = 0; t < T; t++) {
        st.chunks += builds[t].st.chunks;
        st.bytes_requested += builds[t].st.bytes_requested;
        st.leaked_chunks += builds[t].st.leaked_chunks;
        st.leaked_definite += builds[t].st.leaked_definite;
        st.leaked_bytes_requested += builds[t].st.leaked_bytes_requested;
        st.leaked_bytes_usable += builds[t].st.leaked_bytes_usable;
    }
    fprintf(stderr,
            "{\"chunks\":%" PRIu64 ",\"leaked_chunks\":%" PRIu64
            ",\"leaked_bytes_requested\":%" PRIu64 ",\"shape\":\"%s\""
            ",\"definitely_lost_blocks\":%" PRIu64 ",\"indirectly_lost_blocks\":%" PRIu64
            ",\"leaked_bytes_usable\":%" PRIu64 ",\"bytes_requested\":%" PRIu64
            ",\"payload\":%zu,\"threads\":%u,\"leak_share\":%g,\"seed\":%" PRIu64 "}\n",
            st.chunks, st.leaked_chunks, st.leaked_bytes_requested, shape_names[opt_shape],
            st.leaked_definite, st.leaked_chunks - st.leaked_definite,
            st.leaked_bytes_usable, st.bytes_requested, opt_payload, T, opt_leak_share,
            opt_seed);

    if (opt_hold) {
#if defined(__linux__) && defined(PR_SET_PTRACER)
        /* let a debugger that is not our parent attach (Yama ptrace_scope 1) */
        prctl(PR_SET_PTRACER, PR_SET_PTRACER_ANY, 0, 0, 0);
#endif
        printf("ready %ld\n", (long)getpid());
        if (fflush(stdout) != 0)
            die("stdout");
        char buf[4096];
        for (;;) {
            ssize_t r = read(STDIN_FILENO, buf, sizeof buf);
            if (r == 0)
                break;
            if (r < 0 && errno != EINTR)
                die("stdin");
        }
    }

    pthread_mutex_lock(&park_lock);
    shutting_down = 1;
    pthread_cond_broadcast(&park_cond);
    pthread_mutex_unlock(&park_lock);
    for (unsigned t = 1; t < T; t++)
        pthread_join(threads[t], NULL);
    for (unsigned t = 0; t < T; t++)
        free_part(&wl_parts[t]);
    return 0;
}
