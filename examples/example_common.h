/*
 * example_common.h - the command-line protocol shared by the C and C++
 * example programs (see README.md):
 *
 *   (no argument)  build the data, release what is not leaked on purpose, exit 0
 *   --hold         build, print "ready <pid>\n" on stdout, block in read(2) on
 *                  stdin until EOF, then clean up as above and exit 0
 *   --abort        build, then abort() (for core-at-abort workflows)
 *   --grow         (leak_buffer, leak_handlers, leak_tls) build, then grow the
 *                  example's pattern on a timer until EOF on stdin
 *
 * The "ready" line is written with write(2) from a stack buffer, so stdio
 * never allocates a buffer on the heap: the heap of a held process contains
 * only the program's own data.
 *
 * Everything here is static inline so that one header serves C and C++
 * translation units compiled with -Wall -Wextra -Werror.
 */
#ifndef MEMPROF_EXAMPLE_COMMON_H
#define MEMPROF_EXAMPLE_COMMON_H

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum example_mode {
    EXAMPLE_RUN = 0,
    EXAMPLE_HOLD = 1,
    EXAMPLE_ABORT = 2
};

/* Parses the command line; exits with status 2 on anything unknown. */
static inline enum example_mode example_parse_mode(int argc, char **argv)
{
    if (argc <= 1)
        return EXAMPLE_RUN;
    if (argc == 2 && strcmp(argv[1], "--hold") == 0)
        return EXAMPLE_HOLD;
    if (argc == 2 && strcmp(argv[1], "--abort") == 0)
        return EXAMPLE_ABORT;
    fprintf(stderr, "usage: %s [--hold | --abort]\n", argv[0]);
    exit(2);
}

static inline void example_write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        buf += n;
        len -= (size_t)n;
    }
}

/* Prints "ready <pid>" and blocks in read(2) on stdin until end of file. */
static inline void example_hold(void)
{
    char line[64];
    char sink[256];
    int n = snprintf(line, sizeof line, "ready %ld\n", (long)getpid());

    if (n > 0)
        example_write_all(STDOUT_FILENO, line, (size_t)n);
    for (;;) {
        ssize_t got = read(STDIN_FILENO, sink, sizeof sink);
        if (got > 0)
            continue;
        if (got < 0 && errno == EINTR)
            continue;
        break;
    }
}

/*
 * Overwrites a stretch of the stack below the caller's frame, so that
 * pointers left in dead frames of the building functions cannot keep
 * "lost" blocks reachable for a conservative scanner (valgrind, memprof)
 * while the program is held or at abort.
 */
__attribute__((noinline, unused))
static void example_scrub_stack(void)
{
    volatile unsigned char area[16384];
    size_t i;

    for (i = 0; i < sizeof area; i++)
        area[i] = 0;
}

/*
 * The --grow mode of the leak examples: prints "ready <pid>", then calls
 * tick every tick_ms milliseconds and prints "tick <n>" after each, until
 * end of file on stdin.  The pattern grows while the program runs, for
 * snapshots over time (memprof diff); a test counts the tick lines to know
 * that the program grew between two snapshots, whatever the machine's speed.
 */
static inline void example_tick_until_eof(void (*tick)(void), int tick_ms)
{
    char line[64];
    unsigned long ticks = 0;
    int n = snprintf(line, sizeof line, "ready %ld\n", (long)getpid());

    if (n > 0)
        example_write_all(STDOUT_FILENO, line, (size_t)n);
    for (;;) {
        struct pollfd p = {STDIN_FILENO, POLLIN, 0};
        int ready = poll(&p, 1, tick_ms);
        if (ready < 0 && errno == EINTR)
            continue;
        if (ready > 0) {
            char sink[256];
            ssize_t got = read(STDIN_FILENO, sink, sizeof sink);
            if (got <= 0 && !(got < 0 && errno == EINTR))
                return;
            continue;
        }
        tick();
        n = snprintf(line, sizeof line, "tick %lu\n", ++ticks);
        if (n > 0)
            example_write_all(STDOUT_FILENO, line, (size_t)n);
    }
}

/* Whether the command line asks for --grow (the examples that have it). */
static inline int example_wants_grow(int argc, char **argv)
{
    return argc == 2 && strcmp(argv[1], "--grow") == 0;
}

/* Runs the protocol once the data is built: hold or abort if asked. */
static inline void example_after_build(enum example_mode mode)
{
    example_scrub_stack();
    if (mode == EXAMPLE_ABORT)
        abort();
    if (mode == EXAMPLE_HOLD)
        example_hold();
}

#endif /* MEMPROF_EXAMPLE_COMMON_H */
