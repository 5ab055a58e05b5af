/* A frame whose pc the line table puts on line 0 (no source line: clang
 * writes such rows for code it cannot attribute, here from #line 0):
 * `stack_line0 TRUTH_FILE --hold` allocates a struct node held only by
 * waiter's local q, writes "0xADDR struct node" to TRUTH_FILE, prints
 * "ready PID" and waits for end of file on stdin in hold, called from
 * waiter on line 0.  q is in scope there: line 0 says nothing about which
 * declarations came before. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "truth.h"

struct node {
	long a;
	struct node *next;
};

__attribute__((noinline)) static void hold(void)
{
	printf("ready %ld\n", (long)getpid());
	fflush(stdout);
	char c;
	while (read(0, &c, 1) > 0)
		;
}

__attribute__((noinline)) static void waiter(void)
{
	struct node *q = xmalloc(sizeof(*q), "struct node");
#line 0
	hold();
#line 34
	q->a++;
}

int main(int argc, char **argv)
{
	if (argc < 3 || strcmp(argv[2], "--hold") != 0 || !truth_open(argv[1])) {
		fprintf(stderr, "usage: stack_line0 TRUTH_FILE --hold\n");
		return 2;
	}
	waiter();
	return 0;
}
