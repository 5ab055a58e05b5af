/* An array whose length no naming rule finds: `rows` is counted by
 * `filled` (not a length name), beside another array pointer, so only a
 * hint (`[struct table] rows length filled`) tells memprof patterns how
 * much of the rows block is in use (tests/integration/test_hints.py).
 *
 *   hinted_capacity    prints "ready PID wasted=BYTES" (the rows block's
 *                      usable size minus what `filled` rows use) and waits
 *                      for end of file on stdin */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

struct row {
	long key;
	double values[7];
};

struct table {
	struct row *rows;       /* room for 1000, `filled` in use */
	size_t filled;
	double *weights;        /* a second array pointer: no generic length */
	unsigned char flags;
};

struct table *table;

int main(void)
{
	table = calloc(1, sizeof(*table));
	if (!table)
		return 1;
	table->rows = calloc(1000, sizeof(struct row));
	table->weights = calloc(4, sizeof(double));
	if (!table->rows || !table->weights)
		return 1;
	table->filled = 10;
	for (size_t i = 0; i < table->filled; i++)
		table->rows[i].key = (long)i + 1;
	size_t wasted = malloc_usable_size(table->rows) - table->filled * sizeof(struct row);
	printf("ready %d wasted=%zu\n", (int)getpid(), wasted);
	fflush(stdout);
	while (getchar() != EOF)
		;
	free(table->weights);
	free(table->rows);
	free(table);
	return 0;
}
