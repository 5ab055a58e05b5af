/*
 * grow_cache.c - an unbounded cache that grows on a timer: every tick
 * (100 ms) it inserts ENTRIES_PER_TICK new `struct session` entries at the
 * head of the global list `session_cache` and never evicts one.  Nothing
 * is lost (every entry stays reachable), so a leak check at any moment
 * finds nothing; snapshots over time show `struct session` growing in
 * every interval (memprof diff, docs/diff.md).
 *
 *   (no argument)  runs 5 ticks, frees everything, exits 0
 *   --hold         prints "ready <pid>", then grows one tick every 100 ms
 *                  and prints "tick N" after each
 *                  until end of file on stdin; frees everything, exits 0
 *
 * Its own truth, one JSON line on stderr before growing: the type, the
 * usable size of one entry (malloc_usable_size), entries per tick and the
 * tick length, so a test can check the growth memprof reports.
 */
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "example_common.h"

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

struct session_cache {
    struct session *head;
    size_t len;
    uint64_t next_id;
};

/* The root a debugger or memprof finds by name. */
struct session_cache session_cache;

static void grow_one_tick(void)
{
    for (int i = 0; i < ENTRIES_PER_TICK; i++) {
        /* calloc: contents are deterministic, slack is zero. */
        struct session *s = calloc(1, sizeof *s);
        if (s == NULL)
            exit(1);
        s->id = session_cache.next_id++;
        snprintf(s->user, sizeof s->user, "user-%llu", (unsigned long long)s->id);
        s->score = (double)(s->id % 97);
        s->created_at = (uint64_t)time(NULL);
        memset(s->token, (int)(s->id & 0xff), sizeof s->token);
        s->next = session_cache.head;
        session_cache.head = s;
        session_cache.len++;
    }
}

static void free_all(void)
{
    while (session_cache.head) {
        struct session *next = session_cache.head->next;
        free(session_cache.head);
        session_cache.head = next;
    }
    session_cache.len = 0;
}

int main(int argc, char **argv)
{
    enum example_mode mode = example_parse_mode(argc, argv);
    struct session *probe = calloc(1, sizeof *probe);
    if (probe == NULL)
        return 1;
    fprintf(stderr, "{\"type\": \"struct session\", \"entry_usable\": %zu, "
            "\"entries_per_tick\": %d, \"tick_ms\": %d}\n",
            malloc_usable_size(probe), ENTRIES_PER_TICK, TICK_MS);
    fflush(stderr);
    free(probe);
    if (mode == EXAMPLE_HOLD) {
        example_tick_until_eof(grow_one_tick, TICK_MS);
    } else {
        for (int i = 0; i < 5; i++)
            grow_one_tick();
        if (mode == EXAMPLE_ABORT)
            abort();
    }
    free_all();
    return 0;
}
