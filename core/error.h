/* Internal helpers around the public mp_error type. */
#ifndef MEMPROF_CORE_ERROR_H
#define MEMPROF_CORE_ERROR_H

#include <errno.h>

#include "memprof/memprof.h"

/* The shared out-of-memory error (never allocated, safe to free). */
mp_error *mp_error_nomem(void);

/* An error from an errno value: "<formatted what>: <strerror>", with the
 * code derived from errnum (ENOENT -> NOT_FOUND, EPERM -> PERMISSION...). */
mp_error *mp_error_errno(int errnum, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Prepends context ("reading core X: ") to an error's message; returns err. */
mp_error *mp_error_prefix(mp_error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
