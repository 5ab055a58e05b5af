/* A leaking program to link against each malloc (glibc, jemalloc,
 * tcmalloc, mimalloc, a static jemalloc, an unknown one): 8 blocks of 100
 * bytes held by a global, 5 blocks of 200 bytes lost.  With --hold it
 * prints "ready PID" and blocks reading stdin until it closes; then, or
 * at once without it, exits 0 without freeing: memprof's allocator checks
 * must fail the run whatever the program's status.  Only write(2), so
 * stdio adds no blocks of its own. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void *held[8];

/* Opaque to the optimiser: a block handed to it escapes, so GCC keeps
 * the malloc (it drops allocations that are only written). */
__attribute__((noipa)) static void fill(char *p, size_t size)
{
	if (p)
		memset(p, 0x5a, size);
}

__attribute__((noipa)) static void lose(size_t size)
{
	fill(malloc(size), size);
}

int main(int argc, char **argv)
{
	for (int i = 0; i < 8; i++)
		held[i] = malloc(100);
	for (int i = 0; i < 5; i++)
		lose(200);
	if (argc > 1 && strcmp(argv[1], "--hold") == 0) {
		char line[32];
		int n = snprintf(line, sizeof(line), "ready %d\n", (int)getpid());
		if (write(1, line, (size_t)n) != n)
			return 1;
		while (read(0, line, sizeof(line)) > 0)
			;
	}
	return 0;
}
