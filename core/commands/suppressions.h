/* Leak suppressions for `memprof run --suppressions FILE` (format in
 * docs/ci.md): entries that match leaked blocks by kind, type, size,
 * program, root or owner symbol and content; matched blocks are left out
 * of the report and of --fail-on, and counted per entry. */
#ifndef MEMPROF_CORE_COMMANDS_SUPPRESSIONS_H
#define MEMPROF_CORE_COMMANDS_SUPPRESSIONS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "analysis/leak_groups.h"

typedef struct mp_suppression {
	char *name;
	char *file;             /* where it was read, for messages */
	unsigned line;
	unsigned kinds;         /* 1 << mp_leak_kind; 0: any kind */
	char *type, *program, *root, *owner, *preview;   /* globs; NULL: any */
	bool has_size;
	uint64_t size_min, size_max;
	uint64_t used_blocks, used_bytes;   /* over every process checked */
} mp_suppression;

typedef struct mp_suppressions {
	mp_suppression *entries;
	size_t n, capacity;
	bool needs_roots, needs_owners;
} mp_suppressions;

/* Adds the entries of path; a malformed file is an MP_ERR_USAGE error
 * naming the file and line. */
mp_error *mp_suppressions_load(mp_suppressions *s, const char *path);
void mp_suppressions_free(mp_suppressions *s);

/* Matching in one process: the blocks each entry took there. */
typedef struct mp_suppression_match {
	const mp_suppressions *s;
	mp_target *target;
	const mp_heap *heap;
	const mp_leaks *leaks;
	const mp_block_typing *typing;
	const char *program;        /* argv[0] of the process */
	const char **root_of;       /* per chunk: the symbol pointing to it, or NULL */
	ptrdiff_t *owner_of;        /* per chunk: a lost block pointing to it, or -1 */
	uint64_t *blocks, *bytes;   /* per entry */
	uint64_t total_blocks, total_bytes;
} mp_suppression_match;

mp_error *mp_suppression_match_init(mp_suppression_match *m, const mp_suppressions *s,
				    mp_target *target, const mp_heap *heap,
				    const mp_leaks *leaks, const mp_block_typing *typing,
				    const char *program);
/* An mp_leak_filter: context is an mp_suppression_match. */
bool mp_suppression_filter(void *context, size_t chunk_index, enum mp_leak_kind kind,
			   const char *type, uint64_t size, const uint8_t *bytes,
			   size_t length);
/* Adds the process's counts to the entries' totals. */
void mp_suppression_match_commit(mp_suppression_match *m, mp_suppressions *s);
void mp_suppression_match_free(mp_suppression_match *m);

/* One entry per group of report, in the file format (--gen-suppressions). */
void mp_suppressions_generate(FILE *out, const mp_leak_report *report, const char *program,
			      int pid);

#endif
