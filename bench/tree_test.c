/* One short "test" of the run-tree benchmark (bench/run.sh): sorts and
 * checks a table of N strings, allocated and freed ROUNDS times, as a unit
 * test would, then loses LEAKS blocks of 64 bytes and exits 0.
 *   tree_test [N [LEAKS [ROUNDS]]]   (defaults 20000 10 4) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int compare(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Opaque to the optimiser, so the lost blocks are really allocated. */
__attribute__((noipa)) static void fill(char *p, size_t size)
{
	if (p)
		memset(p, 'T', size);
}

__attribute__((noipa)) static void lose(int n)
{
	for (int i = 0; i < n; i++)
		fill(malloc(64), 64);
}

/* Overwrites the stack lose() used, so no stale pointer keeps a block. */
__attribute__((noipa)) static void scrub(void)
{
	volatile char junk[4096];
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = 0;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 20000;
	int leaks = argc > 2 ? atoi(argv[2]) : 10;
	int rounds = argc > 3 ? atoi(argv[3]) : 4;
	for (int r = 0; r < rounds; r++) {
		char **table = malloc((size_t)n * sizeof(*table));
		if (!table)
			return 1;
		for (int i = 0; i < n; i++) {
			table[i] = malloc(24);
			if (!table[i])
				return 1;
			snprintf(table[i], 24, "key-%08d", (i * 7919 + r) % n);
		}
		qsort(table, (size_t)n, sizeof(*table), compare);
		for (int i = 1; i < n; i++)
			if (strcmp(table[i - 1], table[i]) > 0)
				return 2;
		for (int i = 0; i < n; i++)
			free(table[i]);
		free(table);
	}
	lose(leaks);
	scrub();
	return 0;
}
