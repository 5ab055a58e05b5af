/* patterns' small-allocations and leak findings against this program's
 * own measurements: `small_mix --hold` allocates SINGLES blocks of one
 * struct pt each (what a pool of 16-byte slots would hold) beside arrays of
 * struct pt (ARRAYS blocks of ARRAY_LEN each: already one allocation for
 * many, no pool saves them), and loses LOST small blocks.  It prints one
 * line "truth {...}" with the savings of the singles, measured with
 * malloc_usable_size (chunk = usable + 8, slot = sizeof rounded to 8), and
 * the lost chunks' bytes, then "ready PID" and waits for end of file on
 * stdin.  Built with -g, without (-g0) and stripped: the truth holds for
 * all three; only what memprof can type changes. */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hold.h"

enum { SINGLES = 5000, ARRAYS = 8, ARRAY_LEN = 500, LOST = 100 };

struct pt {
	double x, y;
};

struct lost {
	struct lost *self;
	long filler[4];
};

/* A heap array of pointers: the block typing follows each of its
 * elements (a global array's inline elements only up to a bound). */
struct pt **singles;
struct pt *arrays[ARRAYS];

int main(int argc, char **argv)
{
	size_t single_savings = 0, lost_bytes = 0;
	singles = malloc(SINGLES * sizeof(*singles));
	if (!singles)
		return 1;
	for (int i = 0; i < SINGLES; i++) {
		singles[i] = malloc(sizeof(struct pt));
		if (!singles[i])
			return 1;
		singles[i]->x = i;
		singles[i]->y = -i;
		size_t slot = (sizeof(struct pt) + 7) & ~(size_t)7;
		single_savings += malloc_usable_size(singles[i]) + 8 - slot;
	}
	for (int a = 0; a < ARRAYS; a++) {
		arrays[a] = calloc(ARRAY_LEN, sizeof(struct pt));
		if (!arrays[a])
			return 1;
		for (int i = 0; i < ARRAY_LEN; i++)
			arrays[a][i].x = a * ARRAY_LEN + i;
	}
	for (int i = 0; i < LOST; i++) {
		struct lost *l = malloc(sizeof(*l));
		if (!l)
			return 1;
		/* Points at itself only: definitely lost once the local dies. */
		l->self = l;
		memset(l->filler, 0x11, sizeof(l->filler));
		lost_bytes += malloc_usable_size(l) + 8;
	}
	printf("truth {\"small-allocations\": %zu, \"leak\": %zu}\n", single_savings, lost_bytes);
	fflush(stdout);
	return hold_if_asked(argc, argv) ? 0 : 5;
}
