/* A process tree whose every process leaks a known number of blocks, for
 * `memprof run --follow-forks` (tests/integration/test_run_tree.py):
 *
 *   tree_leaker              the root: 3 blocks of 48 bytes lost, then
 *     fork        -> 5 blocks of 24 lost, exit 0
 *     fork + exec -> "leaf 7 0": 7 blocks of 32 lost (2 lost before the
 *                    exec are gone with the old image), exit 0
 *     vfork + exec -> "leaf 4 5": 4 blocks lost, exit 5
 *     vfork, _exit(0) without exec: runs in the root's memory
 *     posix_spawn -> "leaf 1 0"
 *     fork        -> 6 blocks lost, then killed by SIGTERM (its own)
 *   and waits for them all; exits 0.
 *   tree_leaker leaf N STATUS   N blocks of 32 bytes lost, 2 of 64 kept
 *                               by the global kept_blocks, exit STATUS.
 *
 * Blocks are lost through a function that drops its pointer, then the
 * stack is scrubbed, so no stale word keeps them (definitely lost for
 * memprof and valgrind alike).  Only write(2), so stdio adds no blocks. */
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

__attribute__((noipa)) static void fill(char *p, size_t size)
{
	if (p)
		memset(p, 'L', size);
}

__attribute__((noipa)) static void lose(int n, size_t size)
{
	for (int i = 0; i < n; i++)
		fill(malloc(size), size);
}

/* Overwrites the stack below the caller, where lose() left pointers. */
__attribute__((noipa)) static void scrub(void)
{
	volatile char junk[4096];
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = 0;
}

static void leak(int n, size_t size)
{
	lose(n, size);
	scrub();
}

static char self[4096];
void *kept_blocks[2];

static void exec_leaf(const char *n, const char *status)
{
	char *argv[] = {self, (char *)"leaf", (char *)n, (char *)status, NULL};
	execv(self, argv);
	_exit(127);
}

int main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "leaf") == 0) {
		for (int i = 0; i < 2; i++)
			kept_blocks[i] = malloc(64);
		leak(atoi(argv[2]), 32);
		return atoi(argv[3]);
	}
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return 1;
	self[n] = '\0';
	leak(3, 48);
	pid_t pid = fork();
	if (pid == 0) {
		leak(5, 24);
		exit(0);
	}
	pid = fork();
	if (pid == 0) {
		leak(2, 40);
		exec_leaf("7", "0");
	}
	pid = vfork();
	if (pid == 0)
		exec_leaf("4", "5");
	pid = vfork();
	if (pid == 0)
		_exit(0);
	char *spawn_argv[] = {self, (char *)"leaf", (char *)"1", (char *)"0", NULL};
	posix_spawn(&pid, self, NULL, NULL, spawn_argv, environ);
	pid = fork();
	if (pid == 0) {
		leak(6, 24);
		raise(SIGTERM);
		_exit(1);
	}
	while (wait(NULL) > 0)
		;
	return 0;
}
