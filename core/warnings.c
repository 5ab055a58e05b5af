/* The warnings of a result (see warnings.h). */
#include "warnings.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "array.h"

static void drop(mp_warnings *w)
{
	w->dropped++;
	snprintf(w->summary, sizeof(w->summary), "... and %llu more warning%s",
		 (unsigned long long)w->dropped, w->dropped == 1 ? "" : "s");
}

void mp_warnings_vadd(mp_warnings *w, const char *fmt, va_list ap)
{
	if (w->n == MP_WARNINGS_KEPT || !MP_ARRAY_RESERVE(w->items, w->capacity, w->n + 1)) {
		drop(w);
		return;
	}
	char *text = NULL;
	if (vasprintf(&text, fmt, ap) < 0) {
		drop(w);
		return;
	}
	w->items[w->n++] = text;
}

void mp_warnings_add(mp_warnings *w, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	mp_warnings_vadd(w, fmt, ap);
	va_end(ap);
}

size_t mp_warnings_count(const mp_warnings *w)
{
	return w->n + (w->dropped ? 1 : 0);
}

const char *mp_warnings_at(const mp_warnings *w, size_t index)
{
	if (index < w->n)
		return w->items[index];
	return index == w->n && w->dropped ? w->summary : NULL;
}

void mp_warnings_free(mp_warnings *w)
{
	for (size_t i = 0; i < w->n; i++)
		free(w->items[i]);
	free(w->items);
	memset(w, 0, sizeof(*w));
}
