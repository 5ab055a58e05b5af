/* Threads that hold a block only in a register when another thread calls
 * exit(): nothing is lost, as a leak check at exit must say (LeakSanitizer
 * stops every thread and reads its registers; memprof run reads each
 * thread's registers at its exit stop).
 *
 *   exit_registers [--hold]
 *
 * Four workers each allocate a block of their own size (1008, 1024, 1040,
 * 1056 bytes), scrub the stack below them so no stale copy of the address
 * stays there, move the address into one callee-saved register (rbx, r12,
 * r13, r14) and spin; main waits until all four spin, then exits with them
 * still running.  Nothing else refers to the blocks.  With --hold, main
 * prints "ready PID" once they spin and exits at the end of its input. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int spinning;   /* __atomic */
static void *slots[4];

/* Overwrites the stack below the caller's frame, where malloc's frames
 * were and may have left the address. */
static __attribute__((noinline)) void scrub_stack(void)
{
	volatile char area[8192];
	memset((char *)area, 0, sizeof(area));
}

/* Clears the 1 KiB below the stack pointer of what the calls above left
 * there: a check that scans a thread's whole stack for want of its
 * registers would find the address in it. */
static inline __attribute__((always_inline)) void clear_red_zone(void)
{
	__asm__ volatile("lea -1024(%%rsp), %%rdi\n\t"
			 "mov $128, %%ecx\n\t"
			 "xor %%eax, %%eax\n\t"
			 "rep stosq"
			 : : : "rdi", "rcx", "rax", "memory");
}

/* The block goes from malloc straight to a global, and from there into the
 * register by an exchange, so the compiler never has a copy of it on the
 * stack; the global is then cleared. */
#define SPIN_WITH(reg)                                                        \
	do {                                                                  \
		slots[which] = malloc(size);                                  \
		scrub_stack();                                                \
		__asm__ volatile("xchg %%" reg ", %0" : "+m"(slots[which]) : : reg); \
		slots[which] = NULL;                                          \
		clear_red_zone();                                             \
		__atomic_fetch_add(&spinning, 1, __ATOMIC_SEQ_CST);           \
		for (;;)                                                      \
			__asm__ volatile("pause" : : : "memory");             \
	} while (0)

static void *worker(void *arg)
{
	int which = (int)(long)arg;
	size_t size = 1008 + 16 * (size_t)which;
	switch (which) {
	case 0: SPIN_WITH("rbx");
	case 1: SPIN_WITH("r12");
	case 2: SPIN_WITH("r13");
	default: SPIN_WITH("r14");
	}
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t threads[4];
	for (long i = 0; i < 4; i++)
		if (pthread_create(&threads[i], NULL, worker, (void *)i) != 0)
			return 1;
	while (__atomic_load_n(&spinning, __ATOMIC_SEQ_CST) < 4)
		;
	if (argc > 1 && strcmp(argv[1], "--hold") == 0) {
		printf("ready %d\n", (int)getpid());
		fflush(stdout);
		while (getchar() != EOF)
			;
	}
	exit(0);
}
