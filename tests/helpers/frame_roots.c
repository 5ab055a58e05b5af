/* A heap whose only typed roots are frame variables, for leak grouping
 * inside a debugger.  No global points into the heap.  When stop_here runs:
 *   still reachable: one struct job (main's `job`, stop_here's `current`)
 *                    and the three struct job_step nodes of its list
 *   definitely lost: four blocks of sizeof(struct job), never typed by a
 *                    pointer, so only their size can name them
 * A debugger that hands memprof its frame variables lets it name the
 * reachable blocks from DWARF and the lost ones by size; without one
 * (memprof --core) nothing names them.  Nothing uses stdio. */
#include <stdlib.h>
#include <string.h>

struct job_step {
	struct job_step *next;
	char what[40];
};

struct job {
	struct job_step *steps;
	long id;
	double weights[9];
};

volatile long sink;

/* Opaque to the optimiser, so the list is really written. */
__attribute__((noipa)) static void push_step(struct job *job, struct job_step *step)
{
	step->next = job->steps;
	job->steps = step;
}

/* Far below main's frame, where scrub_stack later lands, so no spilled
 * register keeps a lost pointer. */
__attribute__((noinline)) static void lose_jobs(void)
{
	volatile char distance[4096];
	distance[0] = 0;
	for (int i = 0; i < 4; i++) {
		struct job *volatile lost = calloc(1, sizeof(struct job));
		lost->id = i;
	}
	distance[1] = distance[0];
}

__attribute__((noinline)) static void scrub_stack(void)
{
	volatile char junk[16384];
	memset((char *)junk, 0, sizeof(junk));
}

/* The debugger stops here; `current` is the job. */
__attribute__((noipa)) void stop_here(struct job *current)
{
	sink = current->id;
}

int main(void)
{
	struct job *job = calloc(1, sizeof(*job));
	job->id = 42;
	for (int i = 0; i < 3; i++)
		push_step(job, calloc(1, sizeof(struct job_step)));
	lose_jobs();
	scrub_stack();
	stop_here(job);
	while (job->steps) {
		struct job_step *next = job->steps->next;
		free(job->steps);
		job->steps = next;
	}
	free(job);
	return 0;
}
