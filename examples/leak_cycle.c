/*
 * leak_cycle.c - the reference-counting cycle: three nodes A -> B -> C -> A,
 * each holding a counted reference to the next. When the three external
 * references are released every count drops to 1, never to 0, so nothing is
 * freed, and no pointer from outside the cycle reaches it any more.
 *
 * For contrast an acyclic chain of four nodes is built and released the same
 * way; it is freed completely. The global `node_stats` counts creations and
 * destructions (created 7, destroyed 4 after the build step).
 *
 * valgrind --leak-check=full (no argument; --hold after EOF; and, through
 * vgdb "leak_check full", while blocked in --hold):
 *   definitely lost:     64 bytes in 1 blocks  (one node of the cycle, 64 bytes)
 *   indirectly lost:    128 bytes in 2 blocks  (the other two nodes)
 *   possibly lost:        0 bytes in 0 blocks
 *   still reachable:      0 bytes in 0 blocks
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "example_common.h"

struct node {
    unsigned refcount;
    char name[20];
    struct node *next;          /* counted reference, may be NULL */
    double payload[4];
};

struct node_stats {
    uint64_t created;
    uint64_t destroyed;
};

/* The root a debugger or memprof finds by name (the lost nodes are, by
 * design, not reachable from it). */
struct node_stats node_stats;

static struct node *node_new(const char *name)
{
    struct node *n = calloc(1, sizeof *n);
    size_t i;

    if (n == NULL) {
        fprintf(stderr, "leak_cycle: out of memory\n");
        exit(1);
    }
    n->refcount = 1;            /* the caller's reference */
    snprintf(n->name, sizeof n->name, "%s", name);
    for (i = 0; i < 4; i++)
        n->payload[i] = (double)(i + 1) * 0.25;
    node_stats.created++;
    return n;
}

static struct node *node_retain(struct node *n)
{
    n->refcount++;
    return n;
}

static void node_release(struct node *n)
{
    /* Iterative, so that a long chain does not recurse. */
    while (n != NULL && --n->refcount == 0) {
        struct node *next = n->next;
        free(n);
        node_stats.destroyed++;
        n = next;
    }
}

/* Makes `from` hold a counted reference to `to`. */
static void node_link(struct node *from, struct node *to)
{
    from->next = node_retain(to);
}

__attribute__((noinline))
static void build_chain(void)
{
    struct node *a = node_new("chain-a");
    struct node *b = node_new("chain-b");
    struct node *c = node_new("chain-c");
    struct node *d = node_new("chain-d");

    node_link(a, b);
    node_link(b, c);
    node_link(c, d);
    node_release(d);
    node_release(c);
    node_release(b);
    node_release(a);            /* frees a, b, c, d */
}

__attribute__((noinline))
static void build_cycle(void)
{
    struct node *a = node_new("cycle-a");
    struct node *b = node_new("cycle-b");
    struct node *c = node_new("cycle-c");

    node_link(a, b);
    node_link(b, c);
    node_link(c, a);
    node_release(a);
    node_release(b);
    node_release(c);            /* every count is now 1: the cycle is lost */
}

int main(int argc, char **argv)
{
    enum example_mode mode = example_parse_mode(argc, argv);

    build_chain();
    build_cycle();
    example_after_build(mode);
    return 0;
}
