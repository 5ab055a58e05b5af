/* What the libFuzzer harnesses in fuzz/ share: a private scratch folder for
 * inputs that memprof must open by path, the folder of generated reference
 * data (real cores, made by fuzz/make_corpus.py), and a sink that makes every
 * string memprof hands back be read in full, so a missing terminator or a
 * dangling pointer shows up under AddressSanitizer right where it is made
 * instead of in some later user of it. */
#ifndef MEMPROF_FUZZ_COMMON_H
#define MEMPROF_FUZZ_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "memprof/memprof.h"

/* libFuzzer's entry points (the harnesses define them). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* Writes size bytes to name inside the scratch folder (replacing what an
 * earlier input left there) and returns its path, valid until the next
 * call with the same name.  Aborts when the disk refuses: a harness that
 * cannot deliver its input must not report "no crash". */
const char *fuzz_write_file(const char *name, const void *data, size_t size);

/* The scratch folder itself: memprof searches the folder of the file it
 * opens for .gnu_debuglink targets, so each harness gets one of its own
 * (removed at exit) rather than sharing /tmp. */
const char *fuzz_scratch_dir(void);

/* Folder of reference data: $MEMPROF_FUZZ_DATA, else the one scripts/fuzz.sh
 * fills in the build tree (MEMPROF_FUZZ_DATA_DEFAULT, set by meson). */
const char *fuzz_data_dir(void);

/* Reads every byte of s (NULL is fine) into a sink the compiler cannot drop. */
void fuzz_use_string(const char *s);
void fuzz_use_bytes(const void *data, size_t size);
/* Reads every detail row of a heap (the allocator's own facts). */
void fuzz_use_details(const mp_heap *h);

/* MEMPROF_FUZZ_VERBOSE=1: harnesses print the errors, warnings and heap
 * problems memprof reports, to see what a (regression) input does. */
bool fuzz_verbose(void);

/* Frees err after reading its message (printed when verbose); NULL is fine. */
void fuzz_drop_error(mp_error *err);

/* A FILE for command output nobody reads (/dev/null), opened once. */
FILE *fuzz_null_stream(void);

#endif
