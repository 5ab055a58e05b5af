/* A process with known bytes at known addresses, for target read tests.
 * Prints "ready PID GLOBAL_ADDR HEAP_ADDR HEAP_SIZE" and blocks until stdin
 * closes; two extra threads wait meanwhile so targets have several. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

unsigned char pattern_global[3 * 4096];

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t done_cond = PTHREAD_COND_INITIALIZER;
static int done;

static void *waiter(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&lock);
	while (!done)
		pthread_cond_wait(&done_cond, &lock);
	pthread_mutex_unlock(&lock);
	return NULL;
}

int main(void)
{
	enum { HEAP_SIZE = 1 << 20 };
	for (size_t i = 0; i < sizeof(pattern_global); i++)
		pattern_global[i] = (unsigned char)(i * 7 + 3);
	unsigned char *heap = malloc(HEAP_SIZE);
	if (!heap)
		return 1;
	for (size_t i = 0; i < HEAP_SIZE; i++)
		heap[i] = (unsigned char)(i * 13 + 5);
	pthread_t threads[2];
	for (int i = 0; i < 2; i++)
		pthread_create(&threads[i], NULL, waiter, NULL);
	printf("ready %d %p %p %d\n", (int)getpid(), (void *)pattern_global,
	       (void *)heap, HEAP_SIZE);
	fflush(stdout);
	char buffer[64];
	while (read(0, buffer, sizeof(buffer)) > 0)
		;
	pthread_mutex_lock(&lock);
	done = 1;
	pthread_cond_broadcast(&done_cond);
	pthread_mutex_unlock(&lock);
	for (int i = 0; i < 2; i++)
		pthread_join(threads[i], NULL);
	free(heap);
	return 0;
}
