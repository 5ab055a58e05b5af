/* Errors are values: one type carried through every layer, its message
 * naming the file, address or type involved. */
#include "error.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

struct mp_error {
	enum mp_error_code code;
	char *message;
	/* What the message names, for callers that act on it rather than
	 * print it: the address a fault is at, the errno and path of an I/O
	 * error. */
	bool has_address;
	uint64_t address;
	int errnum;
	char *path;
};

/* Returned when memprof itself runs out of memory: allocating an error to
 * say so could fail too.  mp_error_free() knows not to free it. */
static struct mp_error nomem_error = {.code = MP_ERR_NOMEM, .message = "out of memory",
				      .errnum = ENOMEM};

mp_error *mp_error_nomem(void)
{
	return &nomem_error;
}

static mp_error *error_vnew(enum mp_error_code code, const char *fmt,
			    va_list ap)
{
	mp_error *err = calloc(1, sizeof(*err));
	if (!err)
		return &nomem_error;
	err->code = code;
	if (vasprintf(&err->message, fmt, ap) < 0) {
		free(err);
		return &nomem_error;
	}
	return err;
}

mp_error *mp_error_new(enum mp_error_code code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	mp_error *err = error_vnew(code, fmt, ap);
	va_end(ap);
	return err;
}

mp_error *mp_error_errno(int errnum, const char *fmt, ...)
{
	enum mp_error_code code = MP_ERR_IO;
	if (errnum == ENOENT || errnum == ESRCH)
		code = MP_ERR_NOT_FOUND;
	else if (errnum == EPERM || errnum == EACCES)
		code = MP_ERR_PERMISSION;
	else if (errnum == ENOMEM)
		code = MP_ERR_NOMEM;
	char *what = NULL;
	va_list ap;
	va_start(ap, fmt);
	int n = vasprintf(&what, fmt, ap);
	va_end(ap);
	if (n < 0)
		return &nomem_error;
	mp_error *err = mp_error_new(code, "%s: %s", what, strerror(errnum));
	free(what);
	if (err != &nomem_error)
		err->errnum = errnum;
	return err;
}

mp_error *mp_error_fault(uint64_t address, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	mp_error *err = error_vnew(MP_ERR_FAULT, fmt, ap);
	va_end(ap);
	if (err != &nomem_error) {
		err->has_address = true;
		err->address = address;
	}
	return err;
}

mp_error *mp_error_with_path(mp_error *err, const char *path)
{
	if (!err || err == &nomem_error || !path)
		return err;
	char *copy = strdup(path);
	if (copy) {
		free(err->path);
		err->path = copy;
	}
	return err;
}

bool mp_error_address(const mp_error *err, uint64_t *address)
{
	if (err->has_address)
		*address = err->address;
	return err->has_address;
}

int mp_error_errnum(const mp_error *err)
{
	return err->errnum;
}

const char *mp_error_path(const mp_error *err)
{
	return err->path;
}

mp_error *mp_error_prefix(mp_error *err, const char *fmt, ...)
{
	if (!err || err == &nomem_error)
		return err;
	char *prefix = NULL;
	va_list ap;
	va_start(ap, fmt);
	int n = vasprintf(&prefix, fmt, ap);
	va_end(ap);
	if (n < 0)
		return err;
	char *joined = NULL;
	if (asprintf(&joined, "%s: %s", prefix, err->message) >= 0) {
		free(err->message);
		err->message = joined;
	}
	free(prefix);
	return err;
}

enum mp_error_code mp_error_code(const mp_error *err)
{
	return err->code;
}

const char *mp_error_message(const mp_error *err)
{
	return err->message;
}

void mp_error_free(mp_error *err)
{
	if (!err || err == &nomem_error)
		return;
	free(err->message);
	free(err->path);
	free(err);
}
