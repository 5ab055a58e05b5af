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

/* A fault reading target memory at address (MP_ERR_FAULT, the address
 * kept for mp_error_address). */
mp_error *mp_error_fault(uint64_t address, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Records the file an error is about (mp_error_path); returns err. */
mp_error *mp_error_with_path(mp_error *err, const char *path);

/* Prepends context ("reading core X: ") to an error's message; returns err. */
mp_error *mp_error_prefix(mp_error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
