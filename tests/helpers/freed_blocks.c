/* Freed blocks of known places for `memprof refs`: `freed_blocks FILE
 * --hold` frees eight 40-byte blocks (glibc parks seven in the tcache, the
 * eighth in a fastbin) and one of 2000 bytes (too large for either: the
 * unsorted bin), keeps one block held by a global, writes
 * "tcache=ADDR fastbin=ADDR unsorted=ADDR held=ADDR" to FILE, prints
 * "ready PID" and waits for end of file on stdin. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void *held, *guard;

static void *xmalloc(size_t size)
{
	void *p = malloc(size);
	if (!p)
		exit(3);
	memset(p, 0x41, size);
	return p;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return 2;
	char line[256];
	void *small[8];
	for (int i = 0; i < 8; i++)
		small[i] = xmalloc(40);
	void *large = xmalloc(2000);
	held = xmalloc(40);
	guard = xmalloc(40);   /* keeps the large one off the top chunk */
	/* Written while the pointers are the program's own, not read back from
	 * the memory memprof looks at. */
	int n = snprintf(line, sizeof(line), "tcache=%p fastbin=%p unsorted=%p held=%p\n",
			 small[0], small[7], large, held);
	for (int i = 0; i < 8; i++)
		free(small[i]);
	free(large);
	int fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, line, (size_t)n) != n || close(fd) != 0)
		return 3;
	if (argc > 2 && strcmp(argv[2], "--hold") == 0) {
		n = snprintf(line, sizeof(line), "ready %ld\n", (long)getpid());
		if (write(1, line, (size_t)n) != n)
			return 3;
		char sink[256];
		while (read(0, sink, sizeof(sink)) > 0)
			;
	}
	return 0;
}
