/* Short strings beside structs whose first bytes read as short text, built
 * without -g (untyped blocks: the string category is all memprof can say
 * of them).  `short_text --hold` allocates STRINGS copies of "ab"
 * (strdup: duplicates, the only ones), NODES blocks whose first word
 * points into a page mapped at PAGE (bytes 61 62 00 00 00 30: "ab" and a
 * NUL), and PAIRS blocks whose first int is 0x0940 ("@\t" and a NUL), each
 * with a distinct second word.  It prints "truth {...}": the savings of
 * keeping one "ab" (the other copies' chunks, malloc_usable_size + 8),
 * then "ready PID" and waits for end of file on stdin. */
#define _GNU_SOURCE
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "hold.h"

enum { STRINGS = 2000, NODES = 300, PAIRS = 300 };
#define PAGE 0x300000006000ull

struct node {
	const char *label;
	long value;
};

struct pair {
	int tag, value;
};

char **strings;
struct node **nodes;
struct pair **pairs;

int main(int argc, char **argv)
{
	char *page = mmap((void *)(uintptr_t)PAGE, 4096, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (page != (char *)(uintptr_t)PAGE)
		return 2;
	strings = malloc(STRINGS * sizeof(*strings));
	nodes = malloc(NODES * sizeof(*nodes));
	pairs = malloc(PAIRS * sizeof(*pairs));
	if (!strings || !nodes || !pairs)
		return 1;
	size_t savings = 0;
	for (int i = 0; i < STRINGS; i++) {
		strings[i] = strdup("ab");
		if (!strings[i])
			return 1;
		if (i)
			savings += malloc_usable_size(strings[i]) + 8;
	}
	for (int i = 0; i < NODES; i++) {
		nodes[i] = malloc(sizeof(struct node));
		if (!nodes[i])
			return 1;
		nodes[i]->label = page + 0x261;
		nodes[i]->value = i + 1;
	}
	for (int i = 0; i < PAIRS; i++) {
		pairs[i] = malloc(sizeof(struct pair));
		if (!pairs[i])
			return 1;
		pairs[i]->tag = 0x0940;
		pairs[i]->value = i + 1;
	}
	printf("truth {\"duplicate-content\": %zu}\n", savings);
	fflush(stdout);
	return hold_if_asked(argc, argv) ? 0 : 5;
}
