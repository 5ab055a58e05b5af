/* The issue's `memprof run` benchmark program: builds a list of 1M nodes,
 * each with a formatted name string, and leaks every tenth node (with its
 * string) by unlinking it; frees the rest and exits.  Known answer: N/10
 * definitely lost nodes and N/10 indirectly lost strings.
 *   list_strings [NODES] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct node {
	struct node *next;
	char *name;
	long id;
};

struct node *list;

int main(int argc, char **argv)
{
	long count = argc > 1 ? atol(argv[1]) : 1000000;
	struct node **tail = &list;
	for (long i = 0; i < count; i++) {
		struct node *n = malloc(sizeof(*n));
		char name[64];
		int length = snprintf(name, sizeof(name), "node-%ld-%08lx", i, (unsigned long)(i * 2654435761u));
		n->name = malloc((size_t)length + 1);
		memcpy(n->name, name, (size_t)length + 1);
		n->id = i;
		n->next = NULL;
		*tail = n;
		tail = &n->next;
	}
	/* Unlink every tenth node: lost with its name. */
	for (struct node **link = &list; *link;) {
		struct node *n = *link;
		if (n->id % 10 == 0)
			*link = n->next;
		else
			link = &n->next;
	}
	long kept = 0;
	for (struct node *n = list; n;) {
		struct node *next = n->next;
		free(n->name);
		free(n);
		kept++;
		n = next;
	}
	list = NULL;
	return kept == count - (count + 9) / 10 ? 0 : 1;
}
