/* Holds a child under ptrace so tests can check that memprof refuses a
 * process someone else traces.  Prints "ready CHILD_PID", then waits for
 * stdin to close, kills the child and exits. */
#include <signal.h>
#include <stdio.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void)
{
	pid_t child = fork();
	if (child < 0)
		return 1;
	if (child == 0) {
		for (;;)
			pause();
	}
	if (ptrace(PTRACE_SEIZE, child, NULL, NULL) < 0) {
		perror("ptrace seize");
		kill(child, SIGKILL);
		return 1;
	}
	printf("ready %d\n", (int)child);
	fflush(stdout);
	char buffer[64];
	while (read(0, buffer, sizeof(buffer)) > 0)
		;
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	return 0;
}
