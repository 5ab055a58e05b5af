/* bench/allocator_blocks.c: N blocks of whatever allocator it is linked
 * with (default 10 million, sizes 16 to 64 bytes, every tenth freed again:
 * the allocator's free lists and caches get some), then "ready <pid>" and
 * a wait on stdin, for bench/allocator_heap.sh to write a core of. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 10000000;
	void **blocks = malloc(n * sizeof(*blocks));
	if (!blocks)
		return 1;
	for (size_t i = 0; i < n; i++)
		if (!(blocks[i] = malloc(16 + (i % 4) * 16)))
			return 1;
	for (size_t i = 0; i < n; i += 10)
		free(blocks[i]);
	printf("ready %ld\n", (long)getpid());
	fflush(stdout);
	char sink[64];
	while (read(0, sink, sizeof(sink)) > 0)
		;
	return 0;
}
