/* A process that never calls malloc: glibc's main arena is still as the
 * loader left it (malloc_init_state has not run: no top chunk, bins of
 * zeros).  memprof must report an empty heap, not a corrupt one.
 *
 *   no_malloc    prints "ready PID" and waits for end of file on stdin
 *
 * Only write() and read(): stdio would allocate its buffers. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(void)
{
	char line[32];
	int n = snprintf(line, sizeof(line), "ready %d\n", (int)getpid());
	if (n <= 0 || write(STDOUT_FILENO, line, (size_t)n) != n)
		return 1;
	char sink[64];
	while (read(STDIN_FILENO, sink, sizeof(sink)) > 0)
		;
	return 0;
}
