/*
 * steady_cache.c - the steady-state counterpart of grow_cache.c: a cache
 * bounded at CAPACITY `struct session` entries.  Every tick (100 ms) it
 * evicts the ENTRIES_PER_TICK oldest entries and inserts as many new ones,
 * so memory churns (allocations and frees every interval) without
 * growing: memprof diff reports rates and lifetimes but no `growth`
 * finding.
 *
 *   (no argument)  runs 5 ticks, frees everything, exits 0
 *   --hold         prints "ready <pid>", then churns one tick every 100 ms
 *                  and prints "tick N" after each
 *                  until end of file on stdin; frees everything, exits 0
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "example_common.h"

#define CAPACITY 1000
#define ENTRIES_PER_TICK 100
#define TICK_MS 100

struct session {
    uint64_t id;
    char user[40];
    double score;
    uint64_t created_at;
    unsigned char token[48];
    struct session *next;
};

/* A ring of CAPACITY slots: the oldest entry is replaced first. */
struct session_ring {
    struct session *slots[CAPACITY];
    size_t oldest;
    uint64_t next_id;
};

struct session_ring session_ring;

static struct session *new_session(void)
{
    struct session *s = calloc(1, sizeof *s);
    if (s == NULL)
        exit(1);
    s->id = session_ring.next_id++;
    snprintf(s->user, sizeof s->user, "user-%llu", (unsigned long long)s->id);
    s->score = (double)(s->id % 97);
    memset(s->token, (int)(s->id & 0xff), sizeof s->token);
    return s;
}

static void churn_one_tick(void)
{
    for (int i = 0; i < ENTRIES_PER_TICK; i++) {
        size_t k = session_ring.oldest;
        free(session_ring.slots[k]);
        session_ring.slots[k] = new_session();
        session_ring.oldest = (k + 1) % CAPACITY;
    }
}

int main(int argc, char **argv)
{
    enum example_mode mode = example_parse_mode(argc, argv);
    for (size_t k = 0; k < CAPACITY; k++)
        session_ring.slots[k] = new_session();
    if (mode == EXAMPLE_HOLD) {
        example_tick_until_eof(churn_one_tick, TICK_MS);
    } else {
        for (int i = 0; i < 5; i++)
            churn_one_tick();
        if (mode == EXAMPLE_ABORT)
            abort();
    }
    for (size_t k = 0; k < CAPACITY; k++)
        free(session_ring.slots[k]);
    return 0;
}
