/*
 * waste.c - a heap with known waste, each kind measured by the program
 * itself (with malloc_usable_size) and printed as one JSON line on stderr
 * before it holds, so that `memprof patterns` and `memprof recommend` can be
 * checked against the truth:
 *
 *   overcapacity       a registry whose items array has room for 1000
 *                      items and holds 10;
 *   duplicate-content  5000 copies of one configuration string;
 *   small-allocations  100000 blocks of struct point (8 bytes each);
 *   struct-padding     20000 blocks of struct padded, whose members in
 *                      another order (struct packed) need a smaller chunk;
 *   leak               200 lost struct record blocks.
 *
 * The savings each truth states are in chunk terms, as memprof reports
 * them: what malloc would hand back (usable size plus the 8-byte chunk
 * header of each block).
 */
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "example_common.h"

struct item {
    long key;
    double weight;
};

struct registry {
    struct item *items;
    size_t items_len;
    size_t items_cap;
};

struct point {
    int x, y;
};

struct padded {
    char tag;
    double value;
    char flag;
    double scale;
    char kind;
};

/* The same members, largest first: what `memprof type --reorganize` finds. */
struct packed {
    double value;
    double scale;
    char tag, flag, kind;
};

struct record {
    struct record *next;
    char label[40];
};

struct registry registry;
char **copies;
struct point **points;
struct padded **padded_blocks;

enum { COPIES = 5000, POINTS = 100000, PADDED = 20000, LOST = 200 };

static void *xmalloc(size_t size)
{
    void *p = malloc(size);
    if (!p) {
        fprintf(stderr, "waste: out of memory\n");
        exit(1);
    }
    return p;
}

static size_t chunk_of(void *p)
{
    return malloc_usable_size(p) + 8;
}

/* Lost: a chain of records nothing points to once this frame is gone (the
 * stack below main is scrubbed before the program holds). */
__attribute__((noinline)) static size_t build_lost_chain(void)
{
    struct record *head = NULL;
    size_t lost = 0;
    for (size_t i = 0; i < LOST; i++) {
        struct record *r = xmalloc(sizeof *r);
        r->next = head;
        snprintf(r->label, sizeof r->label, "record %zu", i);
        head = r;
        lost += chunk_of(r);
    }
    return lost;
}

int main(int argc, char **argv)
{
    enum example_mode mode = example_parse_mode(argc, argv);
    static const char config[] = "log_level=debug;cache=on;region=eu-west-1;retries=5";
    size_t i;

    registry.items_cap = 1000;
    registry.items = xmalloc(registry.items_cap * sizeof *registry.items);
    for (i = 0; i < 10; i++) {
        registry.items[i].key = (long)i;
        registry.items[i].weight = 1.0 / (double)(i + 1);
    }
    registry.items_len = 10;
    size_t overcapacity = malloc_usable_size(registry.items) - 10 * sizeof(struct item);

    copies = xmalloc(COPIES * sizeof *copies);
    size_t duplicate = 0;
    for (i = 0; i < COPIES; i++) {
        copies[i] = xmalloc(sizeof config);
        memcpy(copies[i], config, sizeof config);
        if (i)
            duplicate += chunk_of(copies[i]);
    }

    points = xmalloc(POINTS * sizeof *points);
    size_t small = 0;
    for (i = 0; i < POINTS; i++) {
        points[i] = xmalloc(sizeof(struct point));
        points[i]->x = (int)i;
        points[i]->y = (int)(i * 7);
        small += chunk_of(points[i]) - sizeof(struct point);
    }

    padded_blocks = xmalloc(PADDED * sizeof *padded_blocks);
    void *probe = xmalloc(sizeof(struct packed));
    size_t packed_chunk = chunk_of(probe);
    free(probe);
    size_t padding = 0;
    for (i = 0; i < PADDED; i++) {
        padded_blocks[i] = xmalloc(sizeof(struct padded));
        padded_blocks[i]->tag = 't';
        padded_blocks[i]->value = (double)i;
        padded_blocks[i]->flag = (char)(i & 1);
        padded_blocks[i]->scale = 2.0;
        padded_blocks[i]->kind = 'k';
        padding += chunk_of(padded_blocks[i]) - packed_chunk;
    }

    size_t lost = build_lost_chain();

    char line[512];
    int n = snprintf(line, sizeof line,
                     "{\"overcapacity\": %zu, \"duplicate-content\": %zu, "
                     "\"small-allocations\": %zu, \"struct-padding\": %zu, \"leak\": %zu}\n",
                     overcapacity, duplicate, small, padding, lost);
    if (n > 0)
        example_write_all(STDERR_FILENO, line, (size_t)n);
    example_after_build(mode);

    for (i = 0; i < COPIES; i++)
        free(copies[i]);
    free(copies);
    for (i = 0; i < POINTS; i++)
        free(points[i]);
    free(points);
    for (i = 0; i < PADDED; i++)
        free(padded_blocks[i]);
    free(padded_blocks);
    free(registry.items);
    return 0;
}
