/* A frame caught in its prologue or epilogue, to check that stack locals
 * are never read from a frame that is not yet, or no longer, its
 * function's: `stack_prologue TRUTH_FILE --hold` allocates a struct node
 * held only by a local of spinner, writes "0xADDR struct node" to
 * TRUTH_FILE, prints "ready PID" and waits for end of file on stdin while
 * a second thread runs spinner: it calls stash(q), whose parameter slot
 * keeps q, then probe(0), whose struct other * parameter lands on that
 * slot once probe's prologue has run.  Stopped on probe's first
 * instructions, its parameter's location names memory that still holds
 * q (the stale copy stash left, or, with an rbp frame base, spinner's
 * own slot); stopped after its epilogue popped rbp, the frame base is
 * spinner's again.  Either way q's block must never be typed struct
 * other.  The test stops the thread at those instructions with gdb. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "truth.h"

struct node {
	long a;
	struct node *next;
	double d;
};

struct other {
	char buf[24];
};

/* Both take their parameter in the same slot of the same-sized frame. */
__attribute__((noinline)) void stash(struct node *n)
{
	__asm__ volatile("" : : "r"(n) : "memory");
}

__attribute__((noinline)) long probe(struct other *o)
{
	return o != 0;
}

static volatile long sink;

__attribute__((noinline)) static void *spinner(void *arg)
{
	struct node *q = arg;
	for (;;) {
		stash(q);
		sink += probe(0);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc < 3 || strcmp(argv[2], "--hold") != 0 || !truth_open(argv[1])) {
		fprintf(stderr, "usage: stack_prologue TRUTH_FILE --hold\n");
		return 2;
	}
	struct node *q = xmalloc(sizeof(*q), "struct node");
	q->a = 7;
	pthread_t thread;
	if (pthread_create(&thread, NULL, spinner, q) != 0)
		return 5;
	q = NULL;
	printf("ready %ld\n", (long)getpid());
	fflush(stdout);
	char c;
	while (read(0, &c, 1) > 0)
		;
	return 0;
}
