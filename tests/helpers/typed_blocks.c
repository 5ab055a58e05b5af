/* Blocks whose true types the program records, to measure memprof's block
 * typing: `typed_blocks TRUTH_FILE --hold` builds the structures below,
 * writes one line per block it allocated to TRUTH_FILE ("0xADDR TYPE" in
 * memprof's spelling, or "0xADDR -" where no type can be known from the
 * memory: a struct reached only through void * and holding no pointer),
 * prints "ready PID" and waits for end of file on stdin.
 *
 * The cases: a typed list from a global with string names (DWARF from a
 * root); an array of pointers to structs (every element); lost lists and a
 * lost cycle (shape, then typed pointers from them); two lost lists of
 * structs of one size class whose pointer sits at different offsets (the
 * shape must tell them apart); a lost struct without pointers (unknowable
 * by shape). */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "truth.h"

struct person {
	struct person *next;
	char *name;
	long age;
};

struct point {
	double x, y;
};

struct job {
	struct job *next;
	long id;
	double cost;
};

struct ring {
	long weight;
	struct ring *next;
	long spare;
};

struct flat {
	long a, b, c;
};

struct person *people;
struct point **points;
size_t n_points;

__attribute__((noinline)) static void build_lost(void)
{
	struct job *jobs = NULL;
	for (int i = 0; i < 300; i++) {
		struct job *j = xmalloc(sizeof(*j), "struct job");
		j->next = jobs;
		j->id = i;
		j->cost = i * 1.5;
		jobs = j;
	}
	struct ring *first = xmalloc(sizeof(*first), "struct ring"), *last = first;
	for (int i = 0; i < 5; i++) {
		struct ring *r = xmalloc(sizeof(*r), "struct ring");
		r->weight = i;
		last->next = r;
		last = r;
	}
	last->next = first;
	/* No pointer, no way to know it from the memory alone. */
	struct flat *f = xmalloc(sizeof(*f), "-");
	f->a = 1;
	f->b = 2;
	f->c = 3;
}

__attribute__((noinline)) static void scrub(void)
{
	volatile unsigned char area[16384];
	for (size_t i = 0; i < sizeof(area); i++)
		area[i] = 0;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return 2;
	if (!truth_open(argv[1]))
		return 2;
	for (int i = 0; i < 200; i++) {
		struct person *p = xmalloc(sizeof(*p), "struct person");
		char name[32];
		int n = snprintf(name, sizeof(name), "person number %d", i);
		p->name = xmalloc((size_t)n + 1, "char[] (string)");
		memcpy(p->name, name, (size_t)n + 1);
		p->age = 20 + i % 50;
		p->next = people;
		people = p;
	}
	n_points = 3000;
	points = xmalloc(n_points * sizeof(*points), "struct point *[]");
	for (size_t i = 0; i < n_points; i++) {
		points[i] = xmalloc(sizeof(struct point), "struct point");
		points[i]->x = (double)i;
		points[i]->y = (double)i * 2;
	}
	build_lost();
	scrub();
	close(truth_fd);
	if (argc > 2 && strcmp(argv[2], "--hold") == 0) {
		char line[64];
		int n = snprintf(line, sizeof(line), "ready %ld\n", (long)getpid());
		if (write(1, line, (size_t)n) != n)
			return 3;
		char sink[256];
		while (read(0, sink, sizeof(sink)) > 0)
			;
	}
	return 0;
}
