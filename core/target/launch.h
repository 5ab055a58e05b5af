/* Running a program to its exit under light ptrace (see launch.c). */
#ifndef MEMPROF_CORE_TARGET_LAUNCH_H
#define MEMPROF_CORE_TARGET_LAUNCH_H

#include <stdbool.h>
#include <sys/types.h>

#include "memprof/memprof.h"

typedef struct mp_launch mp_launch;

mp_error *mp_launch_start(char *const argv[], mp_launch **out);
mp_error *mp_launch_run_to_exit(mp_launch *launch, bool *stopped);
/* A target of the program stopped at its exit (live, memory intact). */
mp_error *mp_launch_target(mp_launch *launch, const mp_target_options *options,
			   mp_target **out);
/* Lets it finish exiting; its wait status. */
mp_error *mp_launch_finish(mp_launch *launch, int *wait_status);
void mp_launch_free(mp_launch *launch);
pid_t mp_launch_pid(const mp_launch *launch);
int mp_launch_forks(const mp_launch *launch);
int mp_launch_execs(const mp_launch *launch);

#endif
