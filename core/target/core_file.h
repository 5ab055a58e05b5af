/* What core files (core_file.c) offer beyond the target source hooks. */
#ifndef MEMPROF_CORE_TARGET_CORE_FILE_H
#define MEMPROF_CORE_TARGET_CORE_FILE_H

#include <stdbool.h>

#include "memprof/memprof.h"

/* Whether target is a core file read by pread: its views are pages of a
 * file mapping, which stay in memprof's resident memory once touched,
 * while its reads (mp_target_read) leave the bytes in the page cache only.
 * A scan that can read what it scans into a buffer of its own should then
 * read rather than view.  Its reads are safe from several threads at once. */
bool mp_core_file_reads(const mp_target *target);

#endif
