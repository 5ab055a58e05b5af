/* `--hold` for the helpers: print "ready PID" on stdout
 * and wait for end of file on stdin, so that a test can inspect the
 * process or take its core at that point.  False when stdout could not
 * be written. */
#ifndef MEMPROF_TESTS_HELPERS_HOLD_H
#define MEMPROF_TESTS_HELPERS_HOLD_H

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static bool hold_if_asked(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--hold") != 0)
        return true;
    char line[32];
    int n = snprintf(line, sizeof(line), "ready %d\n", (int)getpid());
    if (n < 0 || write(1, line, (size_t)n) != n)
        return false;
    char buffer[64];
    while (read(0, buffer, sizeof(buffer)) > 0) {
    }
    return true;
}

#endif
