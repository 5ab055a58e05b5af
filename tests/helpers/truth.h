/* The truth file of the block-typing helpers (typed_blocks, stack_typed):
 * one "0xADDR TYPE" line per block the helper allocates, TYPE in memprof's
 * spelling, or "-" where nothing in memory can tell it.  Each helper is
 * one translation unit, hence static functions. */
#ifndef MEMPROF_TESTS_HELPERS_TRUTH_H
#define MEMPROF_TESTS_HELPERS_TRUTH_H

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int truth_fd = -1;

static int truth_open(const char *path)
{
	truth_fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	return truth_fd >= 0;
}

static void record(const void *block, const char *type)
{
	char line[160];
	int n = snprintf(line, sizeof(line), "%p %s\n", block, type);
	if (n > 0 && write(truth_fd, line, (size_t)n) != n)
		exit(3);
}

/* A zeroed block whose truth is type. */
static void *xmalloc(size_t size, const char *type)
{
	void *p = malloc(size);
	if (!p)
		exit(4);
	memset(p, 0, size);
	record(p, type);
	return p;
}

#endif
