/* Every way a block can be held or lost, with a known answer, for the leak
 * checks.  At exit (or in --hold) the heap holds exactly:
 *   definitely lost  2: the head of a lost 10-node list, one node of a lost
 *                       3-cycle
 *   indirectly lost 11: the other 9 list nodes and 2 cycle nodes
 *   possibly lost    1: a block known only through a pointer into its middle
 *   still reachable  5: held by a global, a static local, a __thread
 *                       variable, another thread's stack, an anonymous mmap
 * (valgrind --leak-check=full --run-libc-freeres=no agrees.)  Nothing uses
 * stdio, so libc adds no blocks of its own. */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

struct node {
	struct node *next;
	char payload[24];
};

void *held_by_global;
char *interior_pointer;
__thread void *held_by_tls;
static void **mmap_region;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int stage;

/* Opaque to the optimiser, so links into blocks nobody reads are still
 * written (GCC drops stores into allocations that never escape). */
__attribute__((noipa)) static void set_next(struct node *n, struct node *next)
{
	n->next = next;
}

__attribute__((noipa)) static struct node *new_node(void)
{
	struct node *n = malloc(sizeof(*n));
	memset(n, 0, sizeof(*n));
	return n;
}

__attribute__((noinline)) static void *hold_static_local(void)
{
	static void *held_by_static_local;
	if (!held_by_static_local)
		held_by_static_local = malloc(40);
	return NULL;
}

__attribute__((noinline)) static void lose_list(void)
{
	struct node *head = NULL;
	for (int i = 0; i < 10; i++) {
		struct node *n = new_node();
		set_next(n, head);
		head = n;
	}
	head = NULL;
}

__attribute__((noinline)) static void lose_cycle(void)
{
	struct node *a = new_node(), *b = new_node(), *c = new_node();
	set_next(a, b);
	set_next(b, c);
	set_next(c, a);
}

static void *thread_main(void *arg)
{
	(void)arg;
	void *volatile on_my_stack = malloc(56);
	pthread_mutex_lock(&lock);
	stage = 1;
	pthread_cond_broadcast(&cond);
	while (stage < 2)
		pthread_cond_wait(&cond, &lock);
	pthread_mutex_unlock(&lock);
	free(on_my_stack);
	return NULL;
}

/* Builds the lost structures far below main's frame, where scrub_stack's
 * buffer later lands, so no spilled register keeps them. */
__attribute__((noinline)) static void build_lost(void)
{
	volatile char distance[4096];
	distance[0] = 0;
	lose_list();
	lose_cycle();
	interior_pointer = (char *)malloc(64) + 24;
	/* Here too, so main's frame keeps no copy of it. */
	mmap_region[7] = malloc(88);
	distance[1] = distance[0];
}

/* Overwrites the dead stack the builders used, so no stale copy of a lost
 * pointer survives there for a conservative scanner to find. */
__attribute__((noinline)) static void scrub_stack(void)
{
	volatile char junk[16384];
	memset((char *)junk, 0, sizeof(junk));
}

int main(int argc, char **argv)
{
	int hold = argc > 1 && strcmp(argv[1], "--hold") == 0;
	held_by_global = malloc(24);
	hold_static_local();
	held_by_tls = malloc(72);
	/* Guard pages on both sides keep the kernel from merging this page
	 * into a neighbouring anonymous mapping (such as the TLS area). */
	char *pages = mmap(NULL, 3 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (pages == MAP_FAILED || mprotect(pages, 4096, PROT_NONE) ||
	    mprotect(pages + 2 * 4096, 4096, PROT_NONE))
		return 1;
	mmap_region = (void **)(pages + 4096);
	build_lost();
	pthread_t thread;
	pthread_create(&thread, NULL, thread_main, NULL);
	pthread_mutex_lock(&lock);
	while (stage < 1)
		pthread_cond_wait(&cond, &lock);
	pthread_mutex_unlock(&lock);
	scrub_stack();
	if (hold) {
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
			return 1;
		char buffer[64];
		while (read(0, buffer, sizeof(buffer)) > 0)
			;
	}
	/* Exit with the other thread still holding its block on its stack. */
	_exit(0);
}
