/* A fragmented heap and idle arenas, for the fragmentation and arena-bloat
 * patterns: `fragment TRUTH_FILE [--threads] --hold` allocates 2000 blocks
 * of 8000 bytes in the main arena and frees every other one (free chunks
 * between blocks in use, too large for the tcache); with --threads, 6
 * threads, alive at once so each gets an arena of its own, then allocate
 * 4 MB each and free all but their last block.  It writes malloc's own
 * mallinfo2 numbers to TRUTH_FILE ("fordblks keepcost arena
 * arena-before-threads") before it prints "ready PID" and waits for end
 * of file on stdin.  Without threads, fordblks - keepcost is exactly the
 * free bytes outside the top (mallinfo2 counts tcache chunks in use). */
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { BLOCKS = 2000, BLOCK = 8000, THREADS = 6, THREAD_BLOCKS = 64, THREAD_BLOCK = 65536 };

static void *blocks[BLOCKS];
void *kept[THREADS];               /* global: the kept blocks stay reachable */
static pthread_barrier_t all_started, all_allocated;

static void *worker(void *arg)
{
	long id = (long)arg;
	void *mine[THREAD_BLOCKS];
	pthread_barrier_wait(&all_started);
	for (int i = 0; i < THREAD_BLOCKS; i++) {
		mine[i] = malloc(THREAD_BLOCK);
		memset(mine[i], (int)id, THREAD_BLOCK);
	}
	/* The last block stays: the others are a free chunk below it, not
	 * the arena's top. */
	kept[id] = mine[THREAD_BLOCKS - 1];
	pthread_barrier_wait(&all_allocated);
	for (int i = 0; i < THREAD_BLOCKS - 1; i++)
		free(mine[i]);
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return 2;
	mallopt(M_MMAP_THRESHOLD, 1 << 20);   /* 64 KiB blocks stay in the arenas */
	mallopt(M_TRIM_THRESHOLD, 1 << 30);   /* and free memory stays in them */
	for (int i = 0; i < BLOCKS; i++) {
		blocks[i] = malloc(BLOCK);
		memset(blocks[i], 0x5a, BLOCK);
	}
	for (int i = 1; i < BLOCKS; i += 2) {
		free(blocks[i]);
		blocks[i] = NULL;
	}
	size_t before = mallinfo2().arena;
	bool threaded = false;
	for (int i = 2; i < argc; i++)
		threaded = threaded || strcmp(argv[i], "--threads") == 0;
	if (threaded) {
		pthread_t threads[THREADS];
		pthread_barrier_init(&all_started, NULL, THREADS);
		pthread_barrier_init(&all_allocated, NULL, THREADS);
		for (long t = 0; t < THREADS; t++)
			if (pthread_create(&threads[t], NULL, worker, (void *)t) != 0)
				return 3;
		for (int t = 0; t < THREADS; t++)
			pthread_join(threads[t], NULL);
	}
	struct mallinfo2 mi = mallinfo2();
	char line[160];
	int n = snprintf(line, sizeof(line), "%zu %zu %zu %zu\n", mi.fordblks, mi.keepcost,
			 mi.arena, before);
	int fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, line, (size_t)n) != n || close(fd) != 0)
		return 4;
	if (strcmp(argv[argc - 1], "--hold") == 0) {
		n = snprintf(line, sizeof(line), "ready %ld\n", (long)getpid());
		if (write(1, line, (size_t)n) != n)
			return 5;
		char sink[256];
		while (read(0, sink, sizeof(sink)) > 0)
			;
	}
	for (int i = 0; i < BLOCKS; i++)
		free(blocks[i]);
	return 0;
}
