/*
 * logical_shapes: data shapes for `memprof logical`, each in a global with
 * the totals the rules must give computed here (sizeof, strlen,
 * malloc_usable_size, block counts).
 *
 *   logical_shapes [LIST_NODES]   build, print "ready PID", write the
 *                                 expectations to $MEMPROF_EXPECTED (one line
 *                                 per root: "ROOT LOGICAL ALLOCATED BLOCKS"),
 *                                 block reading stdin until EOF, exit 0.
 *
 * Roots: list_head (a singly linked list of LIST_NODES nodes, default 1000),
 * graph_root (a cyclic graph), shared (one block behind two pointers and
 * behind a second holder), unions (a union and a tagged union: unions are
 * one leaf, their pointers are not followed), garbage (pointers to a freed
 * block, into a block's middle, to unmapped and wild addresses: only the
 * pointers count), lens (every length-sibling spelling), generic (`data`
 * with `used`), nolen (no length: the block's usable size), opaque (void *),
 * tree_root (a binary tree: its links fold into one frame), bits (bitfields
 * and padding), matrix (inline 2-D array of structs with pointers), flex
 * (a flexible array member with a length), counted (a list head beside
 * its length).
 */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

struct lnode {
    long value;
    struct lnode *next;
};
struct lnode *list_head;

struct gnode {
    int id;
    struct gnode *edges[3];
};
struct gnode *graph_root;

struct blob {
    char bytes[100];
};
struct share {
    struct blob *first;
    struct blob *second;
    struct share *self;
    struct share *again;
} shared;

struct tagged {
    int kind;
    union {
        long i;
        char *s;
        double d;
    } u;
};
struct with_unions {
    union {
        int a;
        char b[12];
    } plain;
    struct tagged items[3];
    struct tagged *heap_items;
    size_t heap_items_len;
} unions;

struct garbage {
    char *freed;
    char *interior;
    long *wild;
    void *unmapped;
    struct lnode *freed_node;
} garbage;

struct lens {
    int *a;
    size_t a_count;
    int *b;
    size_t n_b;
    int *c;
    unsigned num_c;
    int *d;
    size_t nd;
    short *e;
    size_t e_size;
    int *f;
    size_t f_len;
} lens;

struct generic {
    double *data;
    size_t used;
    size_t capacity;
} generic;

struct nolen {
    int *values;
} nolen;

struct opaque {
    void *blob;
} opaque;

struct tnode {
    struct tnode *left;
    struct tnode *right;
    int value;
};
struct tnode *tree_root;

struct bits {
    unsigned a : 3;
    unsigned b : 9;
    char c;
    long d;
    unsigned short e : 4;
} bits;

struct flexrec {
    size_t data_len;
    int data[];
};
struct flexrec *flex;

/* A list head beside the list's length: the length is not an array's. */
struct counted_list {
    struct lnode *items;
    size_t items_len;
} counted;

struct cell {
    char *label;
    int weight;
};
struct matrix {
    struct cell cells[3][4];
    char tag;
} matrix;

static void *xmalloc(size_t n)
{
    void *p = malloc(n);
    if (p == NULL) {
        fprintf(stderr, "logical_shapes: out of memory\n");
        exit(1);
    }
    return p;
}

static char *xstrdup(const char *s)
{
    char *p = xmalloc(strlen(s) + 1);
    strcpy(p, s);
    return p;
}

struct tally {
    size_t logical, allocated, blocks;
};

static void block(struct tally *t, const void *p, size_t logical)
{
    t->logical += logical;
    t->allocated += malloc_usable_size((void *)p);
    t->blocks++;
}

static void inline_bytes(struct tally *t, size_t n)
{
    t->logical += n;
    t->allocated += n;
}

static int out_fd = -1;

static void emit(const char *root, const struct tally *t)
{
    char line[200];
    int n = snprintf(line, sizeof line, "%s %zu %zu %zu\n", root, t->logical,
                     t->allocated, t->blocks);
    if (out_fd >= 0 && n > 0 && write(out_fd, line, (size_t)n) != n)
        exit(1);
}

static struct tnode *tree_build(int lo, int hi, struct tally *t)
{
    /* Iterative would be nicer; the depth here is log2(1000). */
    struct tnode *n;
    int mid;

    if (lo > hi)
        return NULL;
    mid = (lo + hi) / 2;
    n = xmalloc(sizeof *n);
    block(t, n, sizeof *n);
    n->value = mid;
    n->left = tree_build(lo, mid - 1, t);
    n->right = tree_build(mid + 1, hi, t);
    return n;
}

int main(int argc, char **argv)
{
    long n_list = argc > 1 ? strtol(argv[1], NULL, 10) : 1000;
    const char *path = getenv("MEMPROF_EXPECTED");
    struct tally t;
    long i;

    if (path != NULL && *path != '\0')
        out_fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

    /* list_head: built back to front. */
    memset(&t, 0, sizeof t);
    inline_bytes(&t, sizeof list_head);
    for (i = 0; i < n_list; i++) {
        struct lnode *n = xmalloc(sizeof *n);
        n->value = i;
        n->next = list_head;
        list_head = n;
        block(&t, n, sizeof *n);
    }
    emit("list_head", &t);

    /* graph_root: 50 nodes, edges to the next, to 7i mod 50 and to the root. */
    {
        struct gnode *nodes[50];
        memset(&t, 0, sizeof t);
        inline_bytes(&t, sizeof graph_root);
        for (i = 0; i < 50; i++) {
            nodes[i] = xmalloc(sizeof *nodes[i]);
            block(&t, nodes[i], sizeof *nodes[i]);
            nodes[i]->id = (int)i;
        }
        for (i = 0; i < 50; i++) {
            nodes[i]->edges[0] = nodes[(i + 1) % 50];
            nodes[i]->edges[1] = nodes[(i * 7) % 50];
            nodes[i]->edges[2] = nodes[0];
        }
        graph_root = nodes[0];
        emit("graph_root", &t);
    }

    /* shared: one blob behind two pointers; self pointers to a static
     * (outside the heap) count as themselves. */
    memset(&t, 0, sizeof t);
    inline_bytes(&t, sizeof shared);
    shared.first = xmalloc(sizeof *shared.first);
    memset(shared.first, 'x', sizeof *shared.first);
    shared.second = shared.first;
    shared.self = &shared;
    shared.again = &shared;
    block(&t, shared.first, sizeof *shared.first);
    emit("shared", &t);

    /* unions */
    memset(&t, 0, sizeof t);
    inline_bytes(&t, sizeof unions);
    unions.items[0].kind = 1;
    unions.items[0].u.s = xstrdup("not followed: a union member");
    unions.heap_items_len = 2;
    unions.heap_items = xmalloc(2 * sizeof *unions.heap_items);
    unions.heap_items[0].kind = 1;
    unions.heap_items[0].u.s = unions.items[0].u.s;
    unions.heap_items[1].kind = 2;
    unions.heap_items[1].u.d = 2.5;
    block(&t, unions.heap_items, 2 * sizeof *unions.heap_items);
    emit("unions", &t);

    /* lens: every spelling of a length sibling. */
    memset(&t, 0, sizeof t);
    inline_bytes(&t, sizeof lens);
    lens.a_count = 3;
    lens.a = xmalloc(10 * sizeof(int));
    block(&t, lens.a, 3 * sizeof(int));
    lens.n_b = 5;
    lens.b = xmalloc(5 * sizeof(int));
    block(&t, lens.b, 5 * sizeof(int));
    lens.num_c = 1;
    lens.c = xmalloc(40 * sizeof(int));
    block(&t, lens.c, 1 * sizeof(int));
    lens.nd = 7;
    lens.d = xmalloc(7 * sizeof(int));
    block(&t, lens.d, 7 * sizeof(int));
    lens.e_size = 9;
    lens.e = xmalloc(16 * sizeof(short));
    block(&t, lens.e, 9 * sizeof(short));
    lens.f_len = 0;
    lens.f = xmalloc(8);
    block(&t, lens.f, 0);
    emit("lens", &t);

    /* generic: `used` is the one generic length name. */
    memset(&t, 0, sizeof t);
    inline_bytes(&t, sizeof generic);
    generic.capacity = 32;
    generic.used = 20;
    generic.data = xmalloc(generic.capacity * sizeof(double));
    block(&t, generic.data, generic.used * sizeof(double));
    emit("generic", &t);

    /* nolen: the block's usable size. */
    memset(&t, 0, sizeof t);
    inline_bytes(&t, sizeof nolen);
    nolen.values = xmalloc(13 * sizeof(int));
    block(&t, nolen.values, malloc_usable_size(nolen.values));
    emit("nolen", &t);

    /* opaque: void * counts the usable size. */
    memset(&t, 0, sizeof t);
    inline_bytes(&t, sizeof opaque);
    opaque.blob = xmalloc(100);
    block(&t, opaque.blob, malloc_usable_size(opaque.blob));
    emit("opaque", &t);

    /* tree_root: 1000 nodes. */
    memset(&t, 0, sizeof t);
    inline_bytes(&t, sizeof tree_root);
    tree_root = tree_build(0, 999, &t);
    emit("tree_root", &t);

    /* flex: a flexible array member with its length sibling. */
    memset(&t, 0, sizeof t);
    inline_bytes(&t, sizeof flex);
    flex = xmalloc(sizeof *flex + 50 * sizeof(int));
    flex->data_len = 37;
    block(&t, flex, sizeof *flex + 37 * sizeof(int));
    emit("flex", &t);

    /* counted: items_len counts list nodes, not array elements. */
    memset(&t, 0, sizeof t);
    inline_bytes(&t, sizeof counted);
    for (i = 0; i < 5; i++) {
        struct lnode *n = xmalloc(sizeof *n);
        n->value = i;
        n->next = counted.items;
        counted.items = n;
        block(&t, n, sizeof *n);
    }
    counted.items_len = 5;
    emit("counted", &t);

    /* bits: inline only. */
    memset(&t, 0, sizeof t);
    bits.a = 5;
    bits.d = 7;
    inline_bytes(&t, sizeof bits);
    emit("bits", &t);

    /* matrix: 12 cells, every third labelled. */
    memset(&t, 0, sizeof t);
    inline_bytes(&t, sizeof matrix);
    for (i = 0; i < 12; i++) {
        if (i % 3 == 0) {
            char label[32];
            snprintf(label, sizeof label, "cell-%ld", i);
            matrix.cells[i / 4][i % 4].label = xstrdup(label);
            block(&t, matrix.cells[i / 4][i % 4].label, strlen(label) + 1);
        }
        matrix.cells[i / 4][i % 4].weight = (int)i;
    }
    emit("matrix", &t);

    /* garbage: nothing but the pointers themselves.  Built last, so no
     * later allocation reuses the freed blocks. */
    memset(&t, 0, sizeof t);
    inline_bytes(&t, sizeof garbage);
    {
        char *keep = xmalloc(64);
        void *map = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        garbage.freed = xmalloc(48);
        free(garbage.freed);
        garbage.freed_node = xmalloc(sizeof(struct lnode));
        free(garbage.freed_node);
        garbage.interior = keep + 16;
        garbage.wild = (long *)(uintptr_t)0xdeadbeef0ULL;
        if (map != MAP_FAILED)
            munmap(map, 4096);
        garbage.unmapped = map;
    }
    emit("garbage", &t);

    if (out_fd >= 0)
        close(out_fd);

    {
        char line[64], sink[256];
        int n = snprintf(line, sizeof line, "ready %ld\n", (long)getpid());
        if (write(STDOUT_FILENO, line, (size_t)n) != n)
            return 1;
        for (;;) {
            ssize_t got = read(STDIN_FILENO, sink, sizeof sink);
            if (got > 0 || (got < 0 && errno == EINTR))
                continue;
            break;
        }
    }
    return 0;
}
