/* A debugger session runs many commands in one process, against targets
 * that change, after errors.  This test is that session without a
 * debugger: a seeded random sequence of commands (every verb, good and bad
 * arguments, two cores in turn) run through mp_command_run in this one
 * process, each answer compared with the memprof CLI's for the same command
 * line in a fresh process.  Under ASan it also catches state that one
 * command leaves behind for the next (libdwarf's process-wide reader hook
 * crashed GDB and LLDB on the command after any search of libc's debug
 * file).  MEMPROF_TEST_SEED reproduces a run; MEMPROF_SESSION_COMMANDS sets
 * its length. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "memprof/memprof.h"

enum { MAX_ARGS = 16 };

static char tmp_dir[] = "/tmp/memprof-session-XXXXXX";
static char instance_core[4096], leaky_core[4096];

static void make_core(const char *example, char *core, size_t size)
{
	const char *source = getenv("MEMPROF_SOURCE_DIR");
	const char *examples = getenv("EXAMPLES_DIR");
	assert_non_null(source);
	assert_non_null(examples);
	snprintf(core, size, "%s/%s.core", tmp_dir, example);
	char command[16384];
	snprintf(command, sizeof(command),
		 "bash '%s/bench/make_core.sh' '%s' -- '%s/%s' 2>/dev/null",
		 source, core, examples, example);
	assert_int_equal(system(command), 0);
}

static int setup(void **state)
{
	(void)state;
	if (!mkdtemp(tmp_dir))
		return -1;
	make_core("instance_c", instance_core, sizeof(instance_core));
	make_core("leak_cache", leaky_core, sizeof(leaky_core));
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	char command[8192];
	snprintf(command, sizeof(command), "rm -rf '%s'", tmp_dir);
	return system(command) == 0 ? 0 : -1;
}

/* Splits a command line at spaces into argv (no quoting: the pool has
 * none). */
static int split(char *line, char **argv)
{
	int argc = 0;
	for (char *word = strtok(line, " "); word && argc < MAX_ARGS - 1;
	     word = strtok(NULL, " "))
		argv[argc++] = word;
	argv[argc] = NULL;
	return argc;
}

typedef struct answer {
	int status;
	char *out;
	size_t out_size;
	char *err;
	size_t err_size;
} answer;

static void answer_free(answer *a)
{
	free(a->out);
	free(a->err);
}

static void run_here(const char *line, answer *a)
{
	char copy[4096];
	snprintf(copy, sizeof(copy), "%s", line);
	char *argv[MAX_ARGS];
	int argc = split(copy, argv);
	FILE *out = open_memstream(&a->out, &a->out_size);
	FILE *err = open_memstream(&a->err, &a->err_size);
	assert_non_null(out);
	assert_non_null(err);
	mp_host host = {.name = "cli"};
	a->status = mp_command_run(argc, argv, &host, out, err);
	fclose(out);
	fclose(err);
}

static char *slurp(const char *path, size_t *size)
{
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	char *text = NULL;
	*size = 0;
	FILE *copy = open_memstream(&text, size);
	char buffer[65536];
	size_t n;
	while ((n = fread(buffer, 1, sizeof(buffer), f)) > 0)
		fwrite(buffer, 1, n, copy);
	fclose(copy);
	fclose(f);
	return text;
}

static void run_cli(const char *line, answer *a)
{
	const char *memprof = getenv("MEMPROF");
	assert_non_null(memprof);
	char out_path[4200], err_path[4200], command[16384];
	snprintf(out_path, sizeof(out_path), "%s/cli.out", tmp_dir);
	snprintf(err_path, sizeof(err_path), "%s/cli.err", tmp_dir);
	snprintf(command, sizeof(command), "'%s' %s >'%s' 2>'%s'", memprof, line,
		 out_path, err_path);
	int status = system(command);
	assert_true(WIFEXITED(status));
	a->status = WEXITSTATUS(status);
	a->out = slurp(out_path, &a->out_size);
	a->err = slurp(err_path, &a->err_size);
}

/* The commands a session draws from; %1 is the instance core, %2 the leaky
 * one.  Good and bad arguments of every verb that reads a core. */
static const char *const pool[] = {
	"info --core %1 --format json",
	"info --core %2",
	"type --core %1 link_map",
	"type --core %1 malloc_state --format json",
	"type --core %2 nosuchtype",
	"type --core %1 instance --reorganize",
	"type --core %1 --variable instance",
	"type --core %1 --list inst*",
	"logical --core %1 nosuch",
	"logical --core %1 instance --format folded",
	"logical --core %1 instance --format text --top 5",
	"logical --core %1 instance --metric count --format json",
	"logical --core %1 0x1:int",
	"logical --core %2 instance",
	"heap --core %1 --format json",
	"heap --core %2",
	"leaks --core %2 --format json",
	"leaks --core %2 --show-reachable",
	"leaks --core %1 --fail-on bogus",
	"leaks --core %2 --fail-on definite",
	"refs --core %2 0x10",
	"refs --core %1 nothex",
	"snapshot show /nonexistent/snapshot",
	"info",
	"frobnicate --core %1",
	"info --core /nonexistent/core",
	"heap --core %1 --format yaml",
};
enum { POOL_SIZE = sizeof(pool) / sizeof(pool[0]) };

static void expand(const char *pattern, char *line, size_t size)
{
	size_t n = 0;
	for (const char *p = pattern; *p && n + 1 < size; p++) {
		if (p[0] == '%' && (p[1] == '1' || p[1] == '2')) {
			const char *core = p[1] == '1' ? instance_core : leaky_core;
			n += (size_t)snprintf(line + n, size - n, "%s", core);
			p++;
		} else {
			line[n++] = *p;
		}
	}
	line[n < size ? n : size - 1] = '\0';
}

/* Measurements of the run itself (its time and moment, memprof's own
 * memory) differ from run to run: the number after such a JSON key is cut
 * from both answers before they are compared. */
static void cut_measurements(answer *a)
{
	static const char *const keys[] = {"seconds\": ", "rss_anon_bytes\": ",
					   "\"timestamp\": "};
	for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
		for (char *at = a->out; (at = strstr(at, keys[k])) != NULL;) {
			at += strlen(keys[k]);
			size_t digits = strspn(at, "0123456789.e-+");
			memmove(at, at + digits, strlen(at + digits) + 1);
			a->out_size -= digits;
		}
	}
}

static void check_same(const char *line, answer *here, answer *cli)
{
	cut_measurements(here);
	cut_measurements(cli);
	if (here->status != cli->status || here->out_size != cli->out_size ||
	    memcmp(here->out, cli->out, here->out_size) != 0 ||
	    here->err_size != cli->err_size ||
	    memcmp(here->err, cli->err, here->err_size) != 0) {
		fail_msg("%s: in the session status %d, %zu bytes out, stderr %.300s; "
			 "the CLI status %d, %zu bytes out, stderr %.300s",
			 line, here->status, here->out_size, here->err,
			 cli->status, cli->out_size, cli->err);
	}
}

static void test_random_session_equals_cli(void **state)
{
	(void)state;
	const char *seed_text = getenv("MEMPROF_TEST_SEED");
	unsigned seed = seed_text ? (unsigned)strtoul(seed_text, NULL, 10)
				  : (unsigned)time(NULL) ^ (unsigned)getpid();
	const char *length_text = getenv("MEMPROF_SESSION_COMMANDS");
	int length = length_text ? atoi(length_text) : 60;
	printf("session: seed %u, %d commands (rerun with MEMPROF_TEST_SEED=%u)\n",
	       seed, length, seed);
	srand(seed);
	/* The sequence that crashed GDB and LLDB, first; then random ones. */
	static const char *const first[] = {"logical --core %1 nosuch",
					    "logical --core %1 instance"};
	for (int i = 0; i < length + 2; i++) {
		const char *pattern = i < 2 ? first[i] : pool[rand() % POOL_SIZE];
		char line[4096];
		expand(pattern, line, sizeof(line));
		answer here = {0}, cli = {0};
		run_here(line, &here);
		run_cli(line, &cli);
		check_same(line, &here, &cli);
		answer_free(&here);
		answer_free(&cli);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_random_session_equals_cli),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
