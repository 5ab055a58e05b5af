/* `memprof run -- PROG ARGS`: the program runs at native speed; when it
 * exits it is held with its memory intact, leak-checked, and released.
 * memprof exits with the program's status, or 3 when --fail-on finds
 * blocks of the kinds it names (default: definite,indirect, as
 * LeakSanitizer does). */
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "leaks_report.h"
#include "target/launch.h"

static int exit_status_of(int wait_status)
{
	if (WIFEXITED(wait_status))
		return WEXITSTATUS(wait_status);
	if (WIFSIGNALED(wait_status))
		return 128 + WTERMSIG(wait_status);
	return MP_EXIT_ERROR;
}

static void describe_fate(char *out, size_t size, int wait_status)
{
	if (WIFSIGNALED(wait_status))
		snprintf(out, size, "killed by signal %d (%s)", WTERMSIG(wait_status),
			 strsignal(WTERMSIG(wait_status)));
	else
		snprintf(out, size, "exited with status %d", WEXITSTATUS(wait_status));
}

static int run_run(mp_command *c)
{
	unsigned fail_mask;
	int status = mp_leaks_check_options(c, MP_FAIL_ON_DEFAULT, &fail_mask);
	if (status != MP_EXIT_OK)
		return status;
	if (c->target || c->options->core || c->options->pid) {
		fprintf(c->err, "memprof: run starts its own program: drop --core/--pid\n");
		return MP_EXIT_USAGE;
	}
	char **argv = calloc(c->options->n_positional + 1, sizeof(char *));
	if (!argv)
		return mp_command_fail(c, mp_error_new(MP_ERR_NOMEM, "out of memory"));
	memcpy(argv, c->options->positional, c->options->n_positional * sizeof(char *));
	mp_launch *launch = NULL;
	mp_error *err = mp_launch_start(argv, &launch);
	free(argv);
	if (err)
		return mp_command_fail(c, err);
	bool stopped = false;
	err = mp_launch_run_to_exit(launch, &stopped);
	mp_target *target = NULL;
	mp_target_options options = {
		.debug_dirs = c->options->debug_dirs,
		.n_debug_dirs = c->options->n_debug_dirs,
	};
	if (!err && stopped)
		err = mp_launch_target(launch, &options, &target);
	mp_heap *heap = NULL;
	mp_leaks *leaks = NULL;
	mp_leak_report report = {0};
	bool checked = false;
	if (!err && target) {
		c->target = target;
		err = mp_leaks_run_analysis(c, &heap, &leaks, &report);
		checked = !err;
		c->target = NULL;
	}
	mp_error *analysis_error = err;
	int wait_status = 0;
	mp_target_release(target);
	err = mp_launch_finish(launch, &wait_status);
	pid_t pid = mp_launch_pid(launch);
	int forks = mp_launch_forks(launch);
	int execs = mp_launch_execs(launch);
	mp_launch_free(launch);
	if (err) {
		mp_error_free(analysis_error);
		return mp_command_fail(c, err);
	}
	char fate[128];
	describe_fate(fate, sizeof(fate), wait_status);
	if (execs)
		fprintf(c->err, "memprof: the program called exec %d time%s: the image running at exit was checked\n",
			execs, execs == 1 ? "" : "s");
	if (forks)
		fprintf(c->err, "memprof: the program forked %d time%s: only the first process (pid %d) was checked\n",
			forks, forks == 1 ? "" : "s", (int)pid);
	if (c->options->format == MP_FORMAT_JSON) {
		mp_json j;
		mp_json_init(&j, c->out, true);
		mp_json_begin_object(&j);
		mp_json_key(&j, "processes");
		mp_json_begin_array(&j);
		mp_json_begin_object(&j);
		mp_json_key(&j, "pid");
		mp_json_int(&j, pid);
		mp_json_key(&j, "command");
		mp_json_string(&j, c->options->positional[0]);
		mp_json_key(&j, "fate");
		mp_json_string(&j, fate);
		mp_json_key(&j, "exit_status");
		mp_json_int(&j, exit_status_of(wait_status));
		mp_json_key(&j, "forks_not_followed");
		mp_json_int(&j, forks);
		mp_json_key(&j, "execs");
		mp_json_int(&j, execs);
		mp_json_key(&j, "checked");
		mp_json_bool(&j, checked);
		if (checked)
			mp_leaks_write_json_body(&j, heap, leaks, &report);
		else {
			mp_json_key(&j, "error");
			mp_json_string(&j, analysis_error ? mp_error_message(analysis_error)
							  : "the program vanished without an exit stop");
		}
		mp_json_end_object(&j);
		mp_json_end_array(&j);
		mp_json_end_object(&j);
		mp_json_finish(&j);
	} else {
		fprintf(c->out, "memprof run: pid %d (%s) %s\n", (int)pid,
			c->options->positional[0], fate);
		if (checked) {
			mp_allocator allocator = mp_heap_allocator(heap);
			mp_command_allocator_text(c->out, &allocator);
		}
		fputc('\n', c->out);
		if (checked)
			mp_leaks_write_text(c->out, NULL, heap, leaks, &report);
	}
	if (!checked)
		fprintf(c->err, "memprof: no leak check: %s\n",
			analysis_error ? mp_error_message(analysis_error)
				       : "the program vanished without an exit stop");
	status = exit_status_of(wait_status);
	/* An allocator memprof cannot read is a runtime error, not a pass: a
	 * CI job's --fail-on must not succeed on a heap nobody looked at. */
	if (analysis_error && mp_error_code(analysis_error) == MP_ERR_ALLOCATOR)
		status = MP_EXIT_ERROR;
	if (checked && mp_leaks_check_failed(&report, fail_mask)) {
		fprintf(c->err, "memprof: leak check failed (--fail-on): exit status 3\n");
		status = MP_EXIT_CHECK_FAILED;
	}
	if (analysis_error)
		mp_error_free(analysis_error);
	mp_leak_report_free(&report);
	mp_leaks_free(leaks);
	mp_heap_free(heap);
	return status;
}

const mp_verb mp_verb_run = {
	.name = "run",
	.summary = "run a program at native speed and leak-check it at exit",
	.usage = "[--fail-on KINDS] [--roots strict|all] [--show-reachable] -- PROG [ARGS...]\n"
		 MP_FAIL_ON_HELP "\n                   without --fail-on, run checks the default set",
	.formats = MP_FORMAT_TEXT | MP_FORMAT_JSON,
	.needs_target = false,
	.flags = mp_leaks_flags,
	.valued = mp_leaks_valued,
	.min_positional = 1,
	.max_positional = 64,
	.run = run_run,
};
