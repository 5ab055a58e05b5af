/* A function-local static that owns heap data (test_debug_formats.py):
 * lookup::cache holds a list of N_ENTRIES entries, each with a 2-byte key,
 * so its logical size is known from the source alone. */
#include "example_common.h"

#include <stdlib.h>

enum { N_ENTRIES = 10 };

struct entry {
	char *key;
	struct entry *next;
};

struct cache {
	struct entry *head;
	size_t count;
};

static struct cache *lookup(char letter)
{
	static struct cache cache;
	struct entry *e = malloc(sizeof(*e));
	if (!e)
		exit(1);
	e->key = malloc(2);
	if (!e->key)
		exit(1);
	e->key[0] = letter;
	e->key[1] = '\0';
	e->next = cache.head;
	cache.head = e;
	cache.count++;
	return &cache;
}

int main(int argc, char **argv)
{
	enum example_mode mode = example_parse_mode(argc, argv);
	for (int i = 0; i < N_ENTRIES; i++)
		lookup((char)('a' + i));
	example_after_build(mode);
	return 0;
}
