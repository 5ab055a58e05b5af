/*
 * libmemprof's in-process test API: a test program checks its own memory,
 * at any point of a test, with the engine of `memprof leaks --pid` and
 * `memprof logical`.  Guide with a complete example: docs/check.md.
 *
 * How it works: the calling process forks a helper, names it its ptracer
 * (prctl PR_SET_PTRACER, so Yama's ptrace_scope=1 allows it) and blocks
 * on a pipe.  The helper freezes every thread of the caller exactly as
 * `memprof leaks --pid` does, reads the caller's memory (never its own:
 * what the helper allocates is not the caller's), sends the answer back,
 * lets the caller go and exits.  The calling thread is stopped inside this
 * call; its registers and stack are roots like any other thread's.
 *
 * Guarantees
 * - Nothing is allocated in the calling process: results are plain
 *   records (the caller's, or returned by value), errors included, so the
 *   API's own memory never shows up in the leak check and a result never
 *   needs freeing.
 * - Errors are values: `error` is 0 or an enum mp_error_code, `message`
 *   says why in one line.  Nothing here exits or aborts the program.
 * - Only glibc's malloc heap is read.  A program whose malloc is another
 *   allocator (AddressSanitizer's, jemalloc, tcmalloc, mimalloc) gets
 *   MP_ERR_ALLOCATOR and a message naming it, never a wrong answer.
 *
 * Requirements: Linux x86-64; the caller must be traceable by its own
 * child: Yama ptrace_scope 0 or 1 (2 needs CAP_SYS_PTRACE, 3 forbids it),
 * not already traced (a debugger, strace), dumpable.  A ptracer the
 * program named itself (PR_SET_PTRACER) is replaced during a call and
 * cleared after it: the kernel cannot report the old one.  Calls must not
 * overlap (one thread at a time), and no thread may hold a lock the
 * helper needs across fork other than malloc's and stdio's, which glibc
 * resets in the child (see docs/check.md, "fork and threads").
 */
#ifndef MEMPROF_CHECK_H
#define MEMPROF_CHECK_H

#include <stdbool.h>
#include <stdint.h>

#include "memprof/memprof.h"

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#pragma GCC visibility push(default)
#endif

enum { MEMPROF_CHECK_MESSAGE_SIZE = 512 };

typedef struct memprof_leak_count {
	uint64_t blocks;
	uint64_t bytes;       /* usable sizes (malloc_usable_size) summed */
} memprof_leak_count;

/* The LEAK SUMMARY of `memprof leaks`, in valgrind memcheck's kinds. */
typedef struct memprof_leak_summary {
	memprof_leak_count definitely_lost;
	memprof_leak_count indirectly_lost;
	memprof_leak_count possibly_lost;
	memprof_leak_count still_reachable;
	/* Some memory or thread could not be read: counts may be off;
	 * message names the first reason. */
	bool partial;
	int error;            /* 0: checked; else an enum mp_error_code */
	char message[MEMPROF_CHECK_MESSAGE_SIZE];
} memprof_leak_summary;

/* Checks the calling process's heap now and fills *summary; returns
 * summary->error.  Every thread of the process is stopped for the
 * duration of the check.  The summary is an out-parameter, not a return
 * value, so that its storage is zeroed before the check: stack the caller
 * has not written yet may still hold pointers to blocks the program has
 * just lost (malloc's own frames leave them), which would make them look
 * reachable; the same goes for the stack below the caller, which this
 * call zeroes for 8 KiB before it starts. */
int memprof_check_leaks(memprof_leak_summary *summary);

/* The same, and the text report of `memprof leaks` (the LEAK SUMMARY, the
 * lost blocks grouped by type and size with a preview of their first
 * bytes, the blocks nothing else points to, warnings) written to the
 * file descriptor report_fd (STDERR_FILENO, say) by the helper, so a
 * failing test shows what leaked.  report_fd < 0: no report.  A report
 * that cannot be written is an error (MP_ERR_IO naming the descriptor);
 * the counts are filled in all the same. */
int memprof_check_leaks_report(memprof_leak_summary *summary, int report_fd);

/* The metrics of `memprof logical --metric`. */
typedef enum memprof_metric {
	MEMPROF_METRIC_LOGICAL = 0,   /* bytes the data holds (docs/logical.md) */
	MEMPROF_METRIC_ALLOCATED,     /* inline bytes plus each heap block's
				       * usable size, each block once */
	MEMPROF_METRIC_SLACK,         /* allocated minus logical */
	MEMPROF_METRIC_COUNT,         /* heap blocks reached */
} memprof_metric;

typedef struct memprof_logical_result {
	uint64_t value;       /* bytes, or blocks for MEMPROF_METRIC_COUNT */
	bool partial;         /* some memory could not be read: message says */
	int error;            /* 0: walked; else an enum mp_error_code */
	char message[MEMPROF_CHECK_MESSAGE_SIZE];
} memprof_logical_result;

/* Walks the object at ptr, of the type named type_name in the program's
 * DWARF (as `memprof logical ADDRESS:TYPE` does: "struct instance",
 * "ns::Registry", typedef names), through the calling process's own debug
 * information, and returns the metric's total. */
memprof_logical_result memprof_logical_bytes(const void *ptr, const char *type_name,
					     memprof_metric metric);

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#ifdef __cplusplus
}
#endif

#endif /* MEMPROF_CHECK_H */
