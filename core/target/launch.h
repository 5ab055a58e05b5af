/* Running a program, or a whole process tree, to exit under light ptrace
 * (see launch.c). */
#ifndef MEMPROF_CORE_TARGET_LAUNCH_H
#define MEMPROF_CORE_TARGET_LAUNCH_H

#include <stdbool.h>
#include <sys/types.h>

#include "memprof/memprof.h"

typedef struct mp_launch mp_launch;

/* One process of the tree: the program, or one it started (followed). */
typedef struct mp_launch_process {
	pid_t pid, ppid;
	int execs;              /* execs after the start (the root's own is not one) */
	int children;           /* processes it started (fork, vfork, clone) */
	bool shares_parent_vm;  /* vfork child, or clone(CLONE_VM), before any exec */
	bool at_exit_stop;      /* held at PTRACE_EVENT_EXIT, memory intact */
	bool ended;             /* reaped, or given up on (detached) */
	bool detached;          /* still running when memprof stopped following */
	bool saw_exit_stop;
	int exit_message;       /* the wait status its exit stop announced */
	int wait_status;        /* once ended (not detached) */
	/* Registers of its other threads as the process exits: threads
	 * stopped by the group exit, or calling exit_group themselves. */
	struct mp_launch_thread *exit_threads;
	size_t n_exit_threads, exit_threads_capacity;
	char *cmdline;          /* argv, NUL-separated, of its latest image */
	size_t cmdline_length;
	void *user;             /* the caller's, per process */
} mp_launch_process;

enum mp_launch_event_kind {
	MP_LAUNCH_EXIT_STOP,    /* a process is at its exit stop: check it, then release */
	MP_LAUNCH_ENDED,        /* a process ended (its wait status is known) */
	MP_LAUNCH_DONE,         /* nothing more: the root ended, and every other
				 * process ended or was given up on */
};

typedef struct mp_launch_event {
	enum mp_launch_event_kind kind;
	mp_launch_process *process;   /* EXIT_STOP and ENDED */
} mp_launch_event;

/* follow: trace every process the program starts (fork, vfork, clone
 * without CLONE_THREAD, and their exec); else only the program itself. */
mp_error *mp_launch_start(char *const argv[], bool follow, mp_launch **out);
/* Waits for the next event.  After the root has ended, the others get
 * orphan_ms milliseconds in all to end; then they are given up on (marked
 * detached: the kernel lets them go when memprof exits). */
mp_error *mp_launch_next(mp_launch *launch, long orphan_ms, mp_launch_event *event);
/* A target of process p held at its exit stop (live, memory intact). */
mp_error *mp_launch_target(mp_launch *launch, mp_launch_process *p,
			   const mp_target_options *options, mp_target **out);
/* Lets a process held at its exit stop finish exiting. */
void mp_launch_release(mp_launch *launch, mp_launch_process *p);
void mp_launch_free(mp_launch *launch);
mp_launch_process *mp_launch_root(mp_launch *launch);
/* Every process seen, in the order they started (the root first). */
size_t mp_launch_count(const mp_launch *launch);
mp_launch_process *mp_launch_at(mp_launch *launch, size_t index);
/* Processes the root started that were not followed (without follow). */
int mp_launch_unfollowed(const mp_launch *launch);

#endif
