/* The folded-stack writer: sorted, merged, integer counts. */
#include "folded.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static int by_stack(const void *a, const void *b)
{
	const mp_folded_line *x = a, *y = b;
	return strcmp(x->stack, y->stack);
}

size_t mp_folded_normalize(mp_folded_line *lines, size_t n)
{
	if (!n)
		return 0;
	qsort(lines, n, sizeof(*lines), by_stack);
	size_t out = 0;
	for (size_t i = 0; i < n; i++) {
		if (out && strcmp(lines[out - 1].stack, lines[i].stack) == 0) {
			lines[out - 1].value += lines[i].value;
			free(lines[i].stack);
			continue;
		}
		lines[out++] = lines[i];
	}
	size_t kept = 0;
	for (size_t i = 0; i < out; i++) {
		if (!lines[i].value) {
			free(lines[i].stack);
			continue;
		}
		lines[kept++] = lines[i];
	}
	return kept;
}

void mp_folded_write(FILE *out, const mp_folded_line *lines, size_t n)
{
	for (size_t i = 0; i < n; i++)
		fprintf(out, "%s %" PRIu64 "\n", lines[i].stack, lines[i].value);
}
