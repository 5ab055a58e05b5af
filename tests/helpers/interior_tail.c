/* Blocks held only through a pointer into their last usable word, the one
 * glibc places in the next chunk's prev_size field.  At exit (or in
 * --hold) valgrind --leak-check=full --run-libc-freeres=no reports:
 *   possibly lost    3: a malloc(24) held as a+16, a malloc(100) held as
 *                       c+96 (both from globals), and a 40-byte "array
 *                       part" held as block+32 by a reachable table, the
 *                       way Lua 5.5 keeps a table's array
 *   still reachable  4: the table and the three blocks that follow the
 *                       others (held by a global array)
 * and nothing lost.  A checker that gives those words to the next chunk
 * calls the three definitely lost.  Nothing uses stdio, so libc adds no
 * blocks of its own. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct table {
	void *array;           /* points 32 bytes into its 40-byte block */
	long size;
};

char *tail_of_small;
char *tail_of_medium;
struct table *table;
void *neighbours[3];

/* Opaque to the optimiser, so the stores into the blocks stay. */
__attribute__((noipa)) static void *fresh(size_t size)
{
	void *p = malloc(size);
	if (p)
		memset(p, 0, size);
	return p;
}

/* Builds everything far below main's frame, where scrub_stack's buffer
 * later lands and hold's frame does not, so no start pointer survives in
 * a dead stack slot hold leaves unwritten. */
__attribute__((noinline)) static void build_below(void)
{
	char *a = fresh(24);
	/* A neighbour right after each block, so its last word is really
	 * in another chunk's header (not the top chunk's). */
	neighbours[0] = fresh(24);
	char *c = fresh(100);
	neighbours[1] = fresh(24);
	tail_of_small = a + 16;
	tail_of_medium = c + 96;
	table = fresh(sizeof(*table));
	char *array = fresh(40);
	neighbours[2] = fresh(24);
	table->array = array + 32;
	table->size = 1;
}

__attribute__((noinline)) static void build(void)
{
	volatile char distance[4096];
	distance[0] = 0;
	build_below();
	distance[1] = distance[0];
}

__attribute__((noinline)) static void scrub_stack(void)
{
	volatile char junk[16384];
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = 0;
}

static void hold(void)
{
	char line[32] = "ready ";
	int pid = (int)getpid(), n = 6;
	char digits[16];
	int d = 0;
	while (pid) {
		digits[d++] = (char)('0' + pid % 10);
		pid /= 10;
	}
	while (d)
		line[n++] = digits[--d];
	line[n++] = '\n';
	if (write(1, line, (size_t)n) != n)
		_exit(1);
	char buffer[64];
	while (read(0, buffer, sizeof(buffer)) > 0)
		;
}

int main(int argc, char **argv)
{
	build();
	scrub_stack();
	if (argc > 1 && strcmp(argv[1], "--hold") == 0)
		hold();
	return 0;
}
