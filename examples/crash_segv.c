/*
 * crash_segv.c - a NULL dereference three calls deep, for `memprof triage`
 * (docs/triage.md).  A table of records is searched for an id; the record
 * that is not found is a NULL pointer, and reading its `id` member (at
 * offset 16) faults at address 0x10.
 *
 *   (no argument)  looks up an id that exists, frees the table, exits 0
 *   --crash        looks up one that does not: SIGSEGV in read_id, called
 *                  by lookup, called by process_request, called by main
 *
 * The functions are noinline and use their callee's result, so each is a
 * frame of its own (no inlining, no tail call) in the crash's stack.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct record {
    char name[16];
    int id;
};

static __attribute__((noinline)) int read_id(const struct record *r)
{
    return *(volatile const int *)&r->id;
}

static __attribute__((noinline)) int lookup(const struct record *table, int n, int wanted)
{
    const struct record *found = NULL;
    for (int i = 0; i < n; i++)
        if (table[i].id == wanted)
            found = &table[i];
    return read_id(found) + 1;
}

static __attribute__((noinline)) int process_request(const struct record *table, int n,
                                                     int wanted)
{
    int id = lookup(table, n, wanted);
    return id * 2;
}

int main(int argc, char **argv)
{
    int crash = argc == 2 && strcmp(argv[1], "--crash") == 0;
    if (argc > 1 && !crash) {
        fprintf(stderr, "usage: %s [--crash]\n", argv[0]);
        return 2;
    }
    enum { N = 8 };
    struct record *table = calloc(N, sizeof(*table));
    if (!table)
        return 1;
    for (int i = 0; i < N; i++) {
        snprintf(table[i].name, sizeof(table[i].name), "record-%d", i);
        table[i].id = i;
    }
    int result = process_request(table, N, crash ? 99 : 3);
    free(table);
    return result == 8 ? 0 : 1;
}
