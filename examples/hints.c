/*
 * hints: a C program whose data says more than its DWARF types, for
 * `memprof logical --hints` (docs/logical.md, "Hints"; its hints file is
 * examples/hints.memprof-hints, installed beside the program).
 *
 * The global `registry` holds
 *   tasks    a Linux-style intrusive list (struct list_head) of struct task,
 *            linked through task.link, which is not the task's first member
 *            (container_of);
 *   samples  an array whose length is in `nr`, a name no rule pairs;
 *   name     a string.
 * Each task has a tagged union (`kind` says which of number, text or point
 * is live), a `void *payload` that points to a struct payload, an
 * `unsigned char *label` that is a string, and `cache`, a back pointer to a
 * block owned by the global `cache_owner` (borrowed: not the registry's).
 * A lost `struct envelope` keeps a payload through its `void *` (leaks
 * typing names that block only with the hint).  The global `logger` holds
 * a FILE * with text in its buffer: memprof's shipped
 * hints/glibc-stdio.hints counts the buffer as bytes under _IO_buf_base
 * (a "logger" truth line too).
 *
 * It computes the bytes `memprof logical registry` must give with the
 * hints (sizeof, strlen + 1, malloc_usable_size) and prints
 * "registry logical L allocated A blocks B"; with $MEMPROF_EXPECTED set it
 * writes "PATH LOGICAL ALLOCATED BLOCKS" lines there for the root and each
 * member.  Without hints memprof gives less: the tasks are not found (the
 * list head points into the middle of a block), the union is one leaf,
 * samples is one element and the label its block's usable size.
 *
 * Modes as every example (example_common.h): none, --hold, --abort.
 */
#include <fcntl.h>
#include <malloc.h>
#include <stddef.h>
#include <stdint.h>

#include "example_common.h"

struct list_head {
    struct list_head *next, *prev;
};

enum value_kind { VALUE_NUMBER, VALUE_TEXT, VALUE_POINT };

struct point {
    double x, y;
};

union value {
    double number;
    char *text;
    struct point *point;
};

struct payload {
    int code;
    char *note;
};

struct cache {
    long hits, misses;
    char data[48];
};

struct task {
    int id;
    struct list_head link;
    enum value_kind kind;
    union value v;
    void *payload;
    unsigned char *label;
    struct cache *cache;
};

struct sample {
    double at;
    long value;
};

struct registry {
    struct list_head tasks;
    struct sample *samples;
    size_t nr;
    char *name;
} registry;

struct logger {
    FILE *out;
} logger;

/* The blocks the tasks borrow: owned here, not by the registry. */
struct cache *cache_owner;

/* A lost block's shape: its size is its own, so leaks typing names it. */
struct envelope {
    void *payload;
    long stamp;
    char pad[200];
};

struct tally {
    unsigned long long logical, allocated, blocks;
};

static int out_fd = -1;

static void *xmalloc(size_t n)
{
    void *p = malloc(n);
    if (!p)
        exit(3);
    memset(p, 0, n);
    return p;
}

static char *xstrdup(const char *s)
{
    char *p = strdup(s);
    if (!p)
        exit(3);
    return p;
}

static void inline_bytes(struct tally *t, size_t n)
{
    t->logical += n;
    t->allocated += n;
}

/* A heap block of which used bytes are the logical part. */
static void block(struct tally *t, const void *p, size_t used)
{
    t->logical += used;
    t->allocated += malloc_usable_size((void *)p);
    t->blocks++;
}

static void add(struct tally *to, const struct tally *from)
{
    to->logical += from->logical;
    to->allocated += from->allocated;
    to->blocks += from->blocks;
}

static void emit(const char *path, const struct tally *t)
{
    char line[256];
    int n = snprintf(line, sizeof line, "%s %llu %llu %llu\n", path, t->logical,
                     t->allocated, t->blocks);
    if (out_fd >= 0 && write(out_fd, line, (size_t)n) != n)
        exit(2);
}

static void emit_member(const char *name, const struct tally *t, struct tally *total)
{
    char path[128];
    snprintf(path, sizeof path, "registry;%s", name);
    emit(path, t);
    add(total, t);
}

enum { N_TASKS = 40, N_SAMPLES = 25, SAMPLES_CAP = 64 };

__attribute__((noinline))
static void build(struct tally *total)
{
    struct tally tasks = {0}, samples = {0}, nr = {0}, name = {0};

    cache_owner = xmalloc(sizeof *cache_owner);
    registry.tasks.next = registry.tasks.prev = &registry.tasks;
    /* The head's own 16 bytes, then every task (its block and what the
     * task owns), in the list's order. */
    inline_bytes(&tasks, sizeof registry.tasks);
    for (int i = 0; i < N_TASKS; i++) {
        struct task *t = xmalloc(sizeof *t);
        char text[64];
        t->id = i;
        t->kind = (enum value_kind)(i % 3);
        block(&tasks, t, sizeof *t);
        if (t->kind == VALUE_NUMBER) {
            t->v.number = i * 1.5;
        } else if (t->kind == VALUE_TEXT) {
            snprintf(text, sizeof text, "text of task %d%.*s", i, i % 11, "xxxxxxxxxxx");
            t->v.text = xstrdup(text);
            block(&tasks, t->v.text, strlen(t->v.text) + 1);
        } else {
            t->v.point = xmalloc(sizeof *t->v.point);
            t->v.point->x = i;
            block(&tasks, t->v.point, sizeof *t->v.point);
        }
        struct payload *p = xmalloc(sizeof *p + 40);   /* room the payload does not use */
        p->code = i;
        block(&tasks, p, sizeof *p);
        if (i % 4 == 0) {
            snprintf(text, sizeof text, "note %d", i);
            p->note = xstrdup(text);
            block(&tasks, p->note, strlen(p->note) + 1);
        }
        t->payload = p;
        snprintf(text, sizeof text, "label-%d%.*s", i, i % 7, "yyyyyyy");
        t->label = (unsigned char *)xstrdup(text);
        block(&tasks, t->label, strlen(text) + 1);
        t->cache = cache_owner;
        /* Appended at the tail, as list_add_tail does. */
        t->link.next = &registry.tasks;
        t->link.prev = registry.tasks.prev;
        registry.tasks.prev->next = &t->link;
        registry.tasks.prev = &t->link;
    }
    registry.samples = xmalloc(SAMPLES_CAP * sizeof *registry.samples);
    registry.nr = N_SAMPLES;
    for (int i = 0; i < N_SAMPLES; i++)
        registry.samples[i].value = i;
    inline_bytes(&samples, sizeof registry.samples);
    block(&samples, registry.samples, N_SAMPLES * sizeof *registry.samples);
    inline_bytes(&nr, sizeof registry.nr);
    registry.name = xstrdup("tasks of the hints example");
    inline_bytes(&name, sizeof registry.name);
    block(&name, registry.name, strlen(registry.name) + 1);

    emit_member("tasks", &tasks, total);
    emit_member("samples", &samples, total);
    emit_member("nr", &nr, total);
    emit_member("name", &name, total);
    emit("registry", total);

    /* A stream whose buffer holds text not yet written: the FILE block
     * (sizeof(FILE) of it is the struct) and its buffer, all bytes. */
    struct tally log = {0};
    logger.out = fopen("/dev/null", "w");
    if (!logger.out || fprintf(logger.out, "%s\n", "buffered, not yet written") < 0)
        exit(3);
    inline_bytes(&log, sizeof logger.out);
    block(&log, logger.out, sizeof(FILE));
    block(&log, logger.out->_IO_buf_base, malloc_usable_size(logger.out->_IO_buf_base));
    emit("logger", &log);

    /* Lost on purpose: an envelope whose payload only it knew. */
    struct envelope *e = xmalloc(sizeof *e);
    struct payload *lost = xmalloc(sizeof *lost);
    lost->code = -1;
    e->payload = lost;
    e->stamp = 42;
}

int main(int argc, char **argv)
{
    enum example_mode mode = example_parse_mode(argc, argv);
    const char *path = getenv("MEMPROF_EXPECTED");
    if (path != NULL && *path != '\0')
        out_fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    struct tally total = {0};
    build(&total);
    if (out_fd >= 0)
        close(out_fd);
    char line[160];
    int n = snprintf(line, sizeof line, "registry logical %llu allocated %llu blocks %llu\n",
                     total.logical, total.allocated, total.blocks);
    example_write_all(STDERR_FILENO, line, (size_t)n);
    example_after_build(mode);
    return 0;
}
