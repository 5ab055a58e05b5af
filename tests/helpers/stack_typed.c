/* Blocks reachable only from stack locals, to measure block typing from
 * the frames of stopped threads: `stack_typed TRUTH_FILE --hold` builds
 * the structures below, writes one line per block it allocated to
 * TRUTH_FILE ("0xADDR TYPE" in memprof's spelling), prints "ready PID" and
 * waits for end of file on stdin, deep in a chain of calls.  No global
 * points into the heap but one `void *` (type "-" in the truth: nothing
 * in memory tells its block's type).
 *
 * The frames, innermost first: hold (reading stdin); late_declared, with
 * a local declared after the line it waits at, whose slot holds a stale
 * pointer at -O0; in_block, whose table is a local of a lexical block and
 * whose leaves a parameter;
 * build_inlined, inlined into outer, with a local pair; outer, with a
 * struct box in memory holding a list; and a second thread whose list is
 * a local of its start function.  Built at -O0 (every local in its stack
 * slot) and -O2 (locals in callee-saved registers, location lists,
 * inlined scopes). */
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "truth.h"

struct node {
	struct node *next;
	long id;
	double weight;
};

struct leaf {
	long key;
	struct leaf *sibling;
};

struct pair {
	struct node *left;
	struct leaf *right;
};

struct cell {
	long value;
	struct cell *up;
};

struct table {
	struct cell **cells;
	size_t n;
};

struct box {
	struct node *inside;
	long tag;
};

static int wake[2];
static volatile int worker_built;
volatile long sink;

__attribute__((noinline)) static struct node *make_list(int n, long first)
{
	struct node *head = NULL;
	for (int i = 0; i < n; i++) {
		struct node *x = xmalloc(sizeof(*x), "struct node");
		x->next = head;
		x->id = first + i;
		x->weight = i * 0.5;
		head = x;
	}
	return head;
}

__attribute__((noinline)) static struct leaf *make_leaves(int n)
{
	struct leaf *head = NULL;
	for (int i = 0; i < n; i++) {
		struct leaf *l = xmalloc(sizeof(*l), "struct leaf");
		l->key = i;
		l->sibling = head;
		head = l;
	}
	return head;
}

__attribute__((noinline)) static struct table *make_table(size_t n)
{
	struct table *t = xmalloc(sizeof(*t), "struct table");
	t->cells = xmalloc(n * sizeof(*t->cells), "struct cell *[]");
	t->n = n;
	for (size_t i = 0; i < n; i++) {
		t->cells[i] = xmalloc(sizeof(struct cell), "struct cell");
		t->cells[i]->value = (long)i;
		t->cells[i]->up = i ? t->cells[i - 1] : NULL;
	}
	return t;
}

/* Dead stack below the frames that hold: no stale copy of a pointer from
 * the building above outlives it there. */
__attribute__((noinline)) static void scrub(void)
{
	volatile unsigned char area[16384];
	for (size_t i = 0; i < sizeof(area); i++)
		area[i] = 0;
}

__attribute__((noinline)) static void hold(int argc, char **argv)
{
	scrub();
	if (argc > 2 && strcmp(argv[2], "--hold") == 0) {
		char line[64];
		int n = snprintf(line, sizeof(line), "ready %ld\n", (long)getpid());
		if (write(1, line, (size_t)n) != n)
			exit(3);
		char buffer[256];
		while (read(0, buffer, sizeof(buffer)) > 0)
			;
	}
}

/* Leaves a pointer to a struct node where late_declared keeps `late`
 * (the same frame layout, called from the same frame): at -O0, `late`'s
 * slot holds it until `late` is assigned. */
__attribute__((noinline)) static void prime(struct node *stale)
{
	struct node *late = stale;
	sink += late->id;
}

/* `late` is declared after the line where the frame waits: its slot holds
 * the stale pointer prime left, which must not type the block. */
__attribute__((noinline)) static void late_declared(int argc, char **argv)
{
	hold(argc, argv);
	struct cell *late = malloc(sizeof(*late));
	if (!late)
		exit(4);
	late->value = 1;
	sink += late->value;
	free(late);
}

/* Only an untyped root holds it: nothing in memory says its type. */
void *untyped_root;

__attribute__((noinline)) static void in_block(struct leaf *leaves, int argc, char **argv)
{
	sink = leaves->key;
	{
		struct table *table = make_table(50);
		untyped_root = xmalloc(sizeof(struct node), "-");
		close(truth_fd);
		prime(untyped_root);
		late_declared(argc, argv);
		sink += (long)table->n + table->cells[3]->value;
	}
	sink += leaves->sibling->key;
}

static inline __attribute__((always_inline)) void build_inlined(struct box *outer, int argc,
								char **argv)
{
	struct pair *pair = xmalloc(sizeof(*pair), "struct pair");
	pair->left = make_list(40, 1000);
	pair->right = make_leaves(20);
	in_block(pair->right, argc, argv);
	sink += pair->left->id + outer->tag;
}

/* Keeps a struct in memory at -O2: its address escapes. */
__attribute__((noipa)) static void look_at(struct box *b)
{
	sink += b->tag;
}

__attribute__((noinline)) static void outer(int argc, char **argv)
{
	struct box box = {make_list(100, 0), 7};
	look_at(&box);
	build_inlined(&box, argc, argv);
	sink += box.inside->id;
}

static void *worker(void *unused)
{
	(void)unused;
	struct node *mine = make_list(30, 5000);
	worker_built = 1;
	char byte;
	/* Blocks until main lets it go: its list is held by this frame. */
	if (read(wake[0], &byte, 1) != 1)
		exit(5);
	sink += mine->id;
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc < 2 || pipe(wake) != 0)
		return 2;
	if (!truth_open(argv[1]))
		return 2;
	pthread_t thread;
	if (pthread_create(&thread, NULL, worker, NULL) != 0)
		return 2;
	/* The worker's list is recorded before main's truth is closed. */
	while (!worker_built)
		usleep(1000);
	outer(argc, argv);
	if (write(wake[1], "x", 1) != 1 || pthread_join(thread, NULL) != 0)
		return 2;
	return 0;
}
