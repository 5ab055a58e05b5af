/* Warnings a result carries: what could not be read, or was skipped, and
 * why.  One facility with one bound for every layer (target, leaks,
 * logical walk): a corrupt core can produce a warning per chunk, and a
 * report of a million lines helps nobody.  The first MP_WARNINGS_KEPT are
 * kept word for word; past them one last line says how many more there
 * were. */
#ifndef MEMPROF_CORE_WARNINGS_H
#define MEMPROF_CORE_WARNINGS_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

enum { MP_WARNINGS_KEPT = 100 };

typedef struct mp_warnings {
	char **items;
	size_t n, capacity;
	uint64_t dropped;
	char summary[80];          /* "... and N more warnings", when dropped */
} mp_warnings;

/* Adds a warning; one that cannot be stored is dropped (counted): warnings
 * never turn a working result into a failing one. */
void mp_warnings_add(mp_warnings *w, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void mp_warnings_vadd(mp_warnings *w, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));
/* Kept warnings, and the summary line when some were dropped. */
size_t mp_warnings_count(const mp_warnings *w);
const char *mp_warnings_at(const mp_warnings *w, size_t index);
void mp_warnings_free(mp_warnings *w);

#endif
