/*
 * registry: the C idiom `struct { T *items; size_t len, cap; ... }` in the
 * shapes length inference must read without hints, each global with the
 * bytes memprof's rules must give computed here from the program's own
 * data (sizeof, strlen, malloc_usable_size).
 *
 *   registry     build, write the truth to $MEMPROF_EXPECTED, print
 *                "ready PID", block reading stdin until EOF, exit 0.
 *
 * Truth lines: "PATH LOGICAL ALLOCATED BLOCKS", PATH a folded frame path
 * ("registry" the whole root, "registry;items" a member's subtree,
 * "registry;items;item;name" the items' names).
 *
 * Roots:
 *   registry  items/len/cap beside a list head, a title and weights with
 *             its own nweights: 100 items in a block of 128 (len goes to
 *             items: the head's block holds one node, cap bounds it);
 *   reg_cap   the capacity first, spelled count/capacity (typedef of an
 *             anonymous struct);
 *   reg_two   two arrays and one generic n, only one block holds n;
 *   reg_both  two arrays whose blocks both hold len: neither takes it,
 *             each stays a single element;
 *   fixed     an inline array of 4 items (ROOT chains index it).
 */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct item {
    int id;
    double score;
    char *name;
};

struct node {
    struct node *next;
    long value;
};

struct registry {
    struct item *items;
    size_t len, cap;
    struct node *head;
    char *title;
    double *weights;
    size_t nweights;
} registry;

typedef struct {
    size_t capacity;
    struct node *list;
    struct item *entries;
    size_t count;
    char *label;
} reg_cap_t;
reg_cap_t reg_cap;

struct reg_two {
    int *small;
    double *big;
    size_t n;
} reg_two;

struct point {
    double x, y;
};
struct reg_both {
    struct point *a;
    struct point *b;
    size_t len;
} reg_both;

/* For ROOT chains: an inline array to index (and index past). */
struct item fixed[4];

static int out_fd = -1;

/* Bytes of one path: logical, allocated (usable sizes), heap blocks. */
struct tally {
    unsigned long long logical, allocated, blocks;
};

static void emit(const char *path, const struct tally *t)
{
    char line[256];
    int n = snprintf(line, sizeof line, "%s %llu %llu %llu\n", path, t->logical,
                     t->allocated, t->blocks);
    if (out_fd >= 0 && write(out_fd, line, (size_t)n) != n)
        exit(2);
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n);
    if (!p)
        exit(3);
    return p;
}

/* A pointer member: its own 8 bytes in both metrics. */
static void pointer_bytes(struct tally *t)
{
    t->logical += 8;
    t->allocated += 8;
}

static void inline_bytes(struct tally *t, size_t n)
{
    t->logical += n;
    t->allocated += n;
}

/* A heap block of which used bytes are the logical part. */
static void block(struct tally *t, void *p, size_t used)
{
    t->logical += used;
    t->allocated += malloc_usable_size(p);
    t->blocks++;
}

static void add(struct tally *to, const struct tally *from)
{
    to->logical += from->logical;
    to->allocated += from->allocated;
    to->blocks += from->blocks;
}

static char *name_of(const char *prefix, long i)
{
    char text[64];
    /* Lengths vary so strlen matters. */
    snprintf(text, sizeof text, "%s-%ld-%.*s", prefix, i, (int)(i % 17), "abcdefghijklmnopq");
    return strdup(text);
}

/* n items of cap in a fresh block; *names gets the names' bytes. */
static struct item *make_items(const char *prefix, size_t n, size_t cap, struct tally *names)
{
    struct item *items = xmalloc(cap * sizeof *items);
    memset(items, 0, cap * sizeof *items);
    for (size_t i = 0; i < n; i++) {
        items[i].id = (int)i;
        items[i].score = (double)i / 3;
        items[i].name = name_of(prefix, (long)i);
        if (!items[i].name)
            exit(3);
        pointer_bytes(names);
        block(names, items[i].name, strlen(items[i].name) + 1);
    }
    return items;
}

static struct node *make_list(long n, struct tally *t)
{
    struct node *head = NULL;
    for (long i = 0; i < n; i++) {
        struct node *node = xmalloc(sizeof *node);
        node->value = i;
        node->next = head;
        head = node;
        block(t, node, sizeof *node);
    }
    return head;
}

static void emit_member(const char *path, const struct tally *t, struct tally *total)
{
    emit(path, t);
    add(total, t);
}

int main(void)
{
    const char *path = getenv("MEMPROF_EXPECTED");
    if (path != NULL && *path != '\0')
        out_fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

    /* registry */
    {
        struct tally total = {0}, items = {0}, names = {0}, head = {0}, title = {0},
                     weights = {0}, len = {0}, cap = {0}, nweights = {0}, item = {0};
        registry.len = 100;
        registry.cap = 128;
        registry.items = make_items("item", registry.len, registry.cap, &names);
        pointer_bytes(&items);
        block(&items, registry.items, registry.len * sizeof(struct item));
        item.logical = registry.len * sizeof(struct item) + names.logical - 8 * registry.len;
        item.allocated = item.logical - (names.logical - names.allocated);
        item.blocks = names.blocks;
        /* The item frame holds the items' own bytes and their names
         * (pointers included in sizeof(struct item)). */
        add(&items, &names);
        items.logical -= 8 * registry.len;     /* name pointers are inside the items */
        items.allocated -= 8 * registry.len;
        registry.head = make_list(5, &head);
        pointer_bytes(&head);
        registry.title = strdup("the registry of items");
        pointer_bytes(&title);
        block(&title, registry.title, strlen(registry.title) + 1);
        registry.nweights = 20;
        registry.weights = xmalloc(registry.nweights * sizeof(double));
        for (size_t i = 0; i < registry.nweights; i++)
            registry.weights[i] = (double)i;
        pointer_bytes(&weights);
        block(&weights, registry.weights, registry.nweights * sizeof(double));
        inline_bytes(&len, sizeof registry.len);
        inline_bytes(&cap, sizeof registry.cap);
        inline_bytes(&nweights, sizeof registry.nweights);
        emit_member("registry;items", &items, &total);
        emit("registry;items;item", &item);
        emit("registry;items;item;name", &names);
        emit_member("registry;len", &len, &total);
        emit_member("registry;cap", &cap, &total);
        emit_member("registry;head", &head, &total);
        emit_member("registry;title", &title, &total);
        emit_member("registry;weights", &weights, &total);
        emit_member("registry;nweights", &nweights, &total);
        emit("registry", &total);
    }

    /* reg_cap: capacity first, count/capacity, an anonymous struct */
    {
        struct tally total = {0}, entries = {0}, names = {0}, list = {0}, label = {0},
                     capacity = {0}, count = {0};
        reg_cap.capacity = 64;
        reg_cap.count = 50;
        reg_cap.entries = make_items("entry", reg_cap.count, reg_cap.capacity, &names);
        pointer_bytes(&entries);
        block(&entries, reg_cap.entries, reg_cap.count * sizeof(struct item));
        add(&entries, &names);
        entries.logical -= 8 * reg_cap.count;
        entries.allocated -= 8 * reg_cap.count;
        reg_cap.list = make_list(3, &list);
        pointer_bytes(&list);
        reg_cap.label = strdup("capacity first");
        pointer_bytes(&label);
        block(&label, reg_cap.label, strlen(reg_cap.label) + 1);
        inline_bytes(&capacity, sizeof reg_cap.capacity);
        inline_bytes(&count, sizeof reg_cap.count);
        emit_member("reg_cap;capacity", &capacity, &total);
        emit_member("reg_cap;list", &list, &total);
        emit_member("reg_cap;entries", &entries, &total);
        emit_member("reg_cap;count", &count, &total);
        emit_member("reg_cap;label", &label, &total);
        emit("reg_cap;entries;item;name", &names);
        emit("reg_cap", &total);
    }

    /* reg_two: n = 40 fits big (40 doubles), not small (3 ints' block) */
    {
        struct tally total = {0}, small = {0}, big = {0}, n = {0};
        reg_two.n = 40;
        reg_two.small = xmalloc(3 * sizeof(int));
        for (int i = 0; i < 3; i++)
            reg_two.small[i] = i;
        reg_two.big = xmalloc(reg_two.n * sizeof(double));
        for (size_t i = 0; i < reg_two.n; i++)
            reg_two.big[i] = (double)i;
        if (malloc_usable_size(reg_two.small) / sizeof(int) >= reg_two.n)
            exit(5);
        pointer_bytes(&small);
        /* No length: a pointer to a scalar counts its whole block. */
        block(&small, reg_two.small, malloc_usable_size(reg_two.small));
        pointer_bytes(&big);
        block(&big, reg_two.big, reg_two.n * sizeof(double));
        inline_bytes(&n, sizeof reg_two.n);
        emit_member("reg_two;small", &small, &total);
        emit_member("reg_two;big", &big, &total);
        emit_member("reg_two;n", &n, &total);
        emit("reg_two", &total);
    }

    /* reg_both: len 4, both blocks hold 10 points: one point each */
    {
        struct tally total = {0}, a = {0}, b = {0}, len = {0};
        reg_both.len = 4;
        reg_both.a = xmalloc(10 * sizeof(struct point));
        reg_both.b = xmalloc(10 * sizeof(struct point));
        memset(reg_both.a, 0, 10 * sizeof(struct point));
        memset(reg_both.b, 0, 10 * sizeof(struct point));
        pointer_bytes(&a);
        block(&a, reg_both.a, sizeof(struct point));
        pointer_bytes(&b);
        block(&b, reg_both.b, sizeof(struct point));
        inline_bytes(&len, sizeof reg_both.len);
        emit_member("reg_both;a", &a, &total);
        emit_member("reg_both;b", &b, &total);
        emit_member("reg_both;len", &len, &total);
        emit("reg_both", &total);
    }

    for (int i = 0; i < 4; i++) {
        fixed[i].id = i;
        fixed[i].name = name_of("fixed", i);
    }

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
