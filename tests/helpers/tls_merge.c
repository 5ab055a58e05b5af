/* A __thread pointer that holds the only reference to a block, in a
 * static TLS area the kernel merged with an mmapped chunk's mapping.
 *
 * ld.so maps the main thread's static TLS as an anonymous mapping just
 * below libc; the first mmap malloc makes afterwards lands right below
 * it, and the kernel merges the two into one mapping (the test checks in
 * /proc/PID/maps that it did).  A second thread's TLS is held the same
 * way, so both kinds of TLS block are roots.  valgrind calls everything
 * still reachable: the __thread blocks, the mmapped block (held by a
 * global) and the thread's.
 *
 * Prints "ready PID tls=0x... chunk=0x... thread_tls=0x..." with --hold
 * (tls: the main thread's thread pointer, chunk: the mmapped block);
 * nothing otherwise. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

__thread void *held_by_tls;
void *big;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int stage;
static uintptr_t thread_pointer_of_thread;

static uintptr_t thread_pointer(void)
{
	uintptr_t tp;
	__asm__("mov %%fs:0, %0" : "=r"(tp));
	return tp;
}

__attribute__((noipa)) static void *fresh(size_t size)
{
	void *p = malloc(size);
	if (p)
		memset(p, 0x5a, size);
	return p;
}

static void *thread_main(void *arg)
{
	(void)arg;
	held_by_tls = fresh(72);
	pthread_mutex_lock(&lock);
	thread_pointer_of_thread = thread_pointer();
	stage = 1;
	pthread_cond_broadcast(&cond);
	while (stage < 2)
		pthread_cond_wait(&cond, &lock);
	pthread_mutex_unlock(&lock);
	return NULL;
}

__attribute__((noinline)) static void build(void)
{
	/* Well above the default mmap threshold (128 KiB). */
	big = fresh(1 << 20);
	held_by_tls = fresh(40);
}

__attribute__((noinline)) static void scrub_stack(void)
{
	volatile char junk[16384];
	memset((char *)junk, 0, sizeof(junk));
}

int main(int argc, char **argv)
{
	int hold = argc > 1 && strcmp(argv[1], "--hold") == 0;
	build();
	pthread_t thread;
	if (pthread_create(&thread, NULL, thread_main, NULL))
		return 1;
	pthread_mutex_lock(&lock);
	while (stage < 1)
		pthread_cond_wait(&cond, &lock);
	pthread_mutex_unlock(&lock);
	scrub_stack();
	char line[160];
	int n = snprintf(line, sizeof(line), "ready %d tls=%#lx chunk=%#lx thread_tls=%#lx\n",
			 hold ? (int)getpid() : 0, (unsigned long)thread_pointer(),
			 (unsigned long)(uintptr_t)big, (unsigned long)thread_pointer_of_thread);
	if (hold && write(1, line, (size_t)n) != n)
		return 1;
	if (hold) {
		char buffer[64];
		while (read(0, buffer, sizeof(buffer)) > 0)
			;
	}
	/* Exit with the other thread still holding its block in its TLS. */
	_exit(0);
}
