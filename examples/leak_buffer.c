/*
 * leak_buffer.c - buffers that grow and never shrink: after a burst the
 * logical content is tiny, but the capacity reached at the peak stays
 * allocated. Nothing is lost; the waste is unused capacity (len << cap).
 *
 * Global roots (struct growable_buffer: `data` holds `len` bytes of text
 * plus a NUL, in an allocation of `cap` bytes):
 *   request_log   grew by doubling to cap 1,048,576 (above glibc's mmap
 *                 threshold, so an mmapped chunk) holding 896,000 bytes,
 *                 then was flushed: len 41
 *   scratch       grew by doubling to cap 65,536 (an arena chunk) holding
 *                 40,000 bytes, then was reset: len 20
 *
 * --grow: after the build, `audit_log` (same struct) takes a burst of 64
 * lines (3,200 bytes) every 100 ms and is never flushed; it grows by 4 KiB
 * steps, so its one block grows in every interval between snapshots:
 * `memprof diff` gives growth findings for `char[] (string)` and for the
 * owner path `audit_log;data` (docs/diff.md).
 *
 * valgrind --leak-check=full (no argument; --hold after EOF; and, through
 * vgdb "leak_check full", while blocked in --hold):
 *   definitely lost:           0 bytes in 0 blocks
 *   indirectly lost:           0 bytes in 0 blocks
 *   possibly lost:             0 bytes in 0 blocks
 *   still reachable:   1,114,112 bytes in 2 blocks  (1,048,576 + 65,536)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "example_common.h"

struct growable_buffer {
    char *data;
    size_t len;                 /* bytes of text, excluding the NUL */
    size_t cap;                 /* bytes allocated */
    size_t high_water;          /* largest len ever held */
    uint64_t appends;
};

/* The roots a debugger or memprof finds by name. */
struct growable_buffer request_log;
struct growable_buffer scratch;
struct growable_buffer audit_log;

/* 0: capacities double; else they grow by this many bytes at a time
 * (--grow), so a growing buffer grows in every interval. */
static size_t reserve_step;

static void buffer_reserve(struct growable_buffer *b, size_t need)
{
    size_t cap = b->cap ? b->cap : 256;
    char *p;

    if (need <= b->cap)
        return;
    while (cap < need)
        cap = reserve_step ? cap + reserve_step : cap * 2;
    p = realloc(b->data, cap);
    if (p == NULL) {
        fprintf(stderr, "leak_buffer: out of memory\n");
        exit(1);
    }
    b->data = p;
    b->cap = cap;
}

static void buffer_append(struct growable_buffer *b, const char *text)
{
    size_t n = strlen(text);

    buffer_reserve(b, b->len + n + 1);
    memcpy(b->data + b->len, text, n + 1);
    b->len += n;
    b->appends++;
    if (b->len > b->high_water)
        b->high_water = b->len;
}

/* Empties the buffer but keeps the allocation: the pattern of the example. */
static void buffer_clear(struct growable_buffer *b)
{
    b->len = 0;
    if (b->data != NULL)
        b->data[0] = '\0';
}

__attribute__((noinline))
static void build(void)
{
    char line[96];
    unsigned i;

    /* A burst of 16,000 log lines of 56 bytes: 896,000 bytes + NUL. */
    for (i = 0; i < 16000; i++) {
        snprintf(line, sizeof line, "GET /api/v1/items/%06u HTTP/1.1 200 %08u bytes ok\n",
                 i, (i * 2654435761u) % 100000000u);
        buffer_append(&request_log, line);
    }
    buffer_clear(&request_log);
    buffer_append(&request_log, "log flushed; 16000 lines written to disk\n");

    /* Scratch space that once held 40,000 bytes. */
    for (i = 0; i < 4000; i++)
        buffer_append(&scratch, "0123456789");
    buffer_clear(&scratch);
    buffer_append(&scratch, "scratch reset at end");
}

/* One tick of --grow: a burst the log keeps. */
static void audit_tick(void)
{
    char line[96];
    unsigned i;

    for (i = 0; i < 64; i++) {
        snprintf(line, sizeof line, "AUDIT entry %08llu user=%06u action=update ok\n",
                 (unsigned long long)audit_log.appends, i);
        buffer_append(&audit_log, line);
    }
}

int main(int argc, char **argv)
{
    enum example_mode mode;

    if (example_wants_grow(argc, argv)) {
        build();
        reserve_step = 4096;
        example_tick_until_eof(audit_tick, 100);
        return 0;
    }
    mode = example_parse_mode(argc, argv);
    build();
    example_after_build(mode);
    /* The buffers stay allocated until exit: still reachable, mostly unused. */
    return 0;
}
