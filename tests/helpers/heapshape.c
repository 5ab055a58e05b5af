/* Builds glibc heaps of known shape for `memprof heap` tests, records what
 * glibc's mallinfo2() says about them, then holds still.
 *
 *   heapshape SCENARIO
 *   prints "ready PID arena=N ordblks=N smblks=N hblks=N hblkhd=N
 *           uordblks=N fordblks=N fsmblks=N keepcost=N" and blocks until
 *   stdin closes, then _exit(0)s without touching the heap again.
 *
 * (victim=ADDRESS names the corrupted chunk's user pointer, or (nil).)
 * Scenarios: mixed (tcache, fastbin, small, large and unsorted chunks,
 * mmapped chunks, two more arenas from threads), trim (mixed, then
 * malloc_trim), corrupt-size (mixed, then one chunk's size field is
 * overwritten), tcache-loop and fastbin-loop (mixed, then a free list is
 * made circular).  Nothing allocates after mallinfo2() is called: the
 * output is formatted on the stack and written with write(2). */
#include <malloc.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void *volatile keep[4096];
static size_t n_keep;

static void *hold(size_t size)
{
	void *p = malloc(size);
	if (!p)
		_exit(3);
	memset(p, 0x5a, size);
	keep[n_keep++] = p;
	return p;
}

/* malloc through here: a pointer that escapes to a volatile sink cannot be
 * optimised away with its free, so every chunk the scenario names exists. */
static void *volatile sink;

static void *alloc(size_t size)
{
	void *p = malloc(size);
	if (!p)
		_exit(3);
	memset(p, 0x33, size);
	sink = p;
	return p;
}

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int threads_ready, release_threads;

static void *thread_main(void *arg)
{
	size_t salt = (size_t)(uintptr_t)arg;
	void *mine[64];
	for (int i = 0; i < 64; i++)
		mine[i] = alloc(40 + (size_t)i * 24 + salt * 8);
	for (int i = 0; i < 64; i += 3)
		free(mine[i]);         /* tcache and bins of this arena */
	void *big = alloc(300000); /* mmapped */
	pthread_mutex_lock(&lock);
	threads_ready++;
	pthread_cond_broadcast(&cond);
	while (!release_threads)
		pthread_cond_wait(&cond, &lock);
	pthread_mutex_unlock(&lock);
	free(big);
	for (int i = 1; i < 64; i++)
		if (i % 3)
			free(mine[i]);
	return NULL;
}

static void build_mixed(void)
{
	/* Taken first from the untouched top, so the separators really sit
	 * between them; freed at the end. */
	void *small_a = alloc(1500);
	hold(24);
	void *small_b = alloc(1500);
	hold(24);
	void *large_a = alloc(80000);
	hold(24);
	void *unsorted_a = alloc(3000);
	hold(24);

	/* tcache: five 48-byte requests freed */
	void *t[5];
	for (int i = 0; i < 5; i++)
		t[i] = hold(48);
	/* fastbins: ten 64-byte chunks freed; seven fill the tcache bin,
	 * three go to the fastbin. Separators keep them from merging. */
	void *f[10];
	for (int i = 0; i < 10; i++) {
		f[i] = alloc(56);
		hold(24);
	}
	/* small and large free chunks, separated, then sorted into bins by a
	 * later larger request; one more freed last stays unsorted. */
	for (int i = 0; i < 200; i++)
		hold((size_t)(16 + (i * 37) % 900));
	void *small = alloc(2000);
	hold(24);
	void *large = alloc(70000);
	hold(24);
	void *unsorted = alloc(5000);
	hold(24);
	for (int i = 0; i < 5; i++) {
		free(t[i]);
		keep[i] = NULL;
	}
	free(small);
	free(large);
	hold(100000);              /* sorts the unsorted list into bins */
	free(unsorted);
	hold(2 * 1024 * 1024);     /* mmapped */
	hold(600000);              /* mmapped */

	pthread_t threads[2];
	for (int i = 0; i < 2; i++)
		pthread_create(&threads[i], NULL, thread_main, (void *)(uintptr_t)i);
	pthread_mutex_lock(&lock);
	while (threads_ready < 2)
		pthread_cond_wait(&cond, &lock);
	pthread_mutex_unlock(&lock);
	/* Free chunks on the main arena's bins: two small and one large
	 * sorted into their bins by a large request, one left unsorted. */
	free(small_a);
	free(small_b);
	free(large_a);
	hold(200000);              /* mmapped, after sorting the unsorted list */
	free(unsorted_a);
	/* Last, so no large request consolidates the fastbins away. */
	for (int i = 0; i < 10; i++)
		free(f[i]);
}

/* The chunk holding user pointer p: its size field. */
static size_t *size_field(void *p)
{
	return (size_t *)p - 1;
}

int main(int argc, char **argv)
{
	const char *scenario = argc > 1 ? argv[1] : "mixed";
	void *victim = NULL;
	build_mixed();
	if (strcmp(scenario, "trim") == 0) {
		for (size_t i = 100; i < n_keep; i += 2) {
			free(keep[i]);
			keep[i] = NULL;
		}
		malloc_trim(0);
	} else if (strcmp(scenario, "corrupt-size") == 0) {
		victim = keep[150];
		*size_field(victim) = 0x4141414141414141ull;
	} else if (strcmp(scenario, "tcache-loop") == 0 ||
		   strcmp(scenario, "fastbin-loop") == 0) {
		bool fast = scenario[0] == 'f';
		/* Two chunks freed into one list, then the older one's next
		 * pointer aimed back at the newer one: a two-element loop. */
		size_t size = fast ? 56 : 88;
		void *a = alloc(size), *b = alloc(size);
		hold(24);
		if (fast) {
			void *fill[7];
			for (int i = 0; i < 7; i++)
				fill[i] = alloc(size);
			for (int i = 0; i < 7; i++)
				free(fill[i]);  /* the tcache bin is full: a, b go to the fastbin */
		}
		/* a will be last in the list; aim it at b (safe-linked):
		 * a tcache entry holds b's user pointer, a fastbin chunk b's
		 * chunk address. */
		volatile uintptr_t slot = (uintptr_t)a;
		uintptr_t target = fast ? (uintptr_t)size_field(b) - 8 : (uintptr_t)b;
		free(a);
		free(b);
		*(uintptr_t *)slot = (slot >> 12) ^ target;
	} else if (strcmp(scenario, "mixed") != 0) {
		fprintf(stderr, "heapshape: unknown scenario %s\n", scenario);
		return 2;
	}

	/* glibc's own mallinfo2 walks a looping list forever: the loop
	 * scenarios report no numbers. */
	bool looping = strstr(scenario, "loop") != NULL;
	struct mallinfo2 mi;
	memset(&mi, 0, sizeof(mi));
	if (!looping)
		mi = mallinfo2();
	char line[512];
	int n = looping ? snprintf(line, sizeof(line), "ready %d\n", (int)getpid()) : snprintf(line, sizeof(line),
			 "ready %d arena=%zu ordblks=%zu smblks=%zu hblks=%zu hblkhd=%zu "
			 "uordblks=%zu fordblks=%zu fsmblks=%zu keepcost=%zu victim=%p\n",
			 (int)getpid(), mi.arena, mi.ordblks, mi.smblks, mi.hblks, mi.hblkhd,
			 mi.uordblks, mi.fordblks, mi.fsmblks, mi.keepcost, victim);
	if (write(1, line, (size_t)n) != n)
		return 1;
	char buffer[64];
	while (read(0, buffer, sizeof(buffer)) > 0)
		;
	_exit(0);
}
