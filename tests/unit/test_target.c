/* Target layer against real processes and real cores: the pattern helper
 * puts known bytes at known addresses; memprof must read them live, from a
 * gcore core, through a callback, and from a truncated core as far as the
 * bytes survive.  Bytes the core does not hold (libc's text) must equal the
 * live process's, read from the verified file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "memprof/memprof.h"

typedef struct pattern_process {
	pid_t pid;
	int stdin_fd;
	uint64_t global_address;
	uint64_t heap_address;
	size_t heap_size;
} pattern_process;

static const char *helpers_dir(void)
{
	const char *dir = getenv("HELPERS_DIR");
	return dir ? dir : ".";
}

static void start_pattern(pattern_process *p)
{
	int to_child[2], from_child[2];
	assert_int_equal(pipe(to_child), 0);
	assert_int_equal(pipe(from_child), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(to_child[0], 0);
		dup2(from_child[1], 1);
		close(to_child[1]);
		close(from_child[0]);
		char path[4096];
		snprintf(path, sizeof(path), "%s/pattern", helpers_dir());
		execl(path, path, (char *)NULL);
		_exit(127);
	}
	close(to_child[0]);
	close(from_child[1]);
	FILE *out = fdopen(from_child[0], "r");
	assert_non_null(out);
	int child_pid, size;
	void *global, *heap;
	assert_int_equal(fscanf(out, "ready %d %p %p %d", &child_pid, &global, &heap, &size), 4);
	fclose(out);
	assert_int_equal(child_pid, pid);
	p->pid = pid;
	p->stdin_fd = to_child[1];
	p->global_address = (uint64_t)(uintptr_t)global;
	p->heap_address = (uint64_t)(uintptr_t)heap;
	p->heap_size = (size_t)size;
}

/* Closes the helper's stdin and returns its exit status (it must be 0: a
 * process memprof inspected continues unharmed). */
static int finish_pattern(pattern_process *p)
{
	close(p->stdin_fd);
	int status = 0;
	assert_int_equal(waitpid(p->pid, &status, 0), p->pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void check_pattern_bytes(mp_target *t, const pattern_process *p)
{
	unsigned char global[3 * 4096];
	mp_error *err = mp_target_read(t, p->global_address, global, sizeof(global));
	assert_null(err);
	for (size_t i = 0; i < sizeof(global); i++)
		assert_int_equal(global[i], (unsigned char)(i * 7 + 3));
	unsigned char *heap = malloc(p->heap_size);
	assert_non_null(heap);
	err = mp_target_read(t, p->heap_address, heap, p->heap_size);
	assert_null(err);
	for (size_t i = 0; i < p->heap_size; i++)
		if (heap[i] != (unsigned char)(i * 13 + 5))
			fail_msg("heap byte %zu is %u", i, heap[i]);
	free(heap);
}

static const mp_module *find_module(mp_target *t, const char *name_part)
{
	for (size_t i = 0; i < mp_target_module_count(t); i++) {
		const mp_module *m = mp_target_module(t, i);
		if (strstr(mp_module_name(m), name_part))
			return m;
	}
	return NULL;
}

/* First executable mapping of libc: gcore does not save it. */
static const mp_mapping *libc_text(mp_target *t)
{
	for (size_t i = 0; i < mp_target_mapping_count(t); i++) {
		const mp_mapping *m = mp_target_mapping(t, i);
		if ((m->perms & MP_PERM_EXEC) && strstr(m->path, "libc.so"))
			return m;
	}
	return NULL;
}

static void make_core(pid_t pid, const char *path)
{
	char command[8192];
	snprintf(command, sizeof(command),
		 "gdb -batch -nx -p %d -ex 'gcore %s' >/dev/null 2>&1", (int)pid, path);
	assert_int_equal(system(command), 0);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
}

static void test_live_reads_and_process_survives(void **state)
{
	(void)state;
	pattern_process p;
	start_pattern(&p);
	mp_target *t = NULL;
	mp_error *err = mp_target_attach_pid(p.pid, NULL, 0, &t);
	if (err)
		fail_msg("%s", mp_error_message(err));
	assert_string_equal(mp_target_kind(t), "live");
	assert_int_equal(mp_target_thread_count(t), 3);
	for (size_t i = 0; i < 3; i++)
		assert_true(mp_target_thread(t, i)->has_registers);
	check_pattern_bytes(t, &p);
	assert_non_null(find_module(t, "libc.so"));
	const mp_module *main_module = mp_target_module(t, 0);
	assert_true(mp_module_is_main(main_module));
	mp_target_release(t);
	assert_int_equal(finish_pattern(&p), 0);
}

static void test_core_matches_live(void **state)
{
	(void)state;
	pattern_process p;
	start_pattern(&p);
	mp_target *live = NULL;
	mp_error *err = mp_target_attach_pid(p.pid, NULL, 0, &live);
	if (err)
		fail_msg("%s", mp_error_message(err));
	const mp_mapping *text = libc_text(live);
	assert_non_null(text);
	uint64_t text_address = text->start;
	size_t text_size = text->end - text->start;
	unsigned char *live_text = malloc(text_size);
	assert_non_null(live_text);
	assert_null(mp_target_read(live, text_address, live_text, text_size));
	int64_t live_tids[3];
	for (size_t i = 0; i < 3; i++)
		live_tids[i] = mp_target_thread(live, i)->tid;
	mp_target_release(live);

	char dir[] = "/tmp/memprof-unit-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char core_path[256];
	snprintf(core_path, sizeof(core_path), "%s/pattern.core", dir);
	make_core(p.pid, core_path);
	assert_int_equal(finish_pattern(&p), 0);

	mp_target *core = NULL;
	err = mp_target_open_core(core_path, NULL, &core);
	if (err)
		fail_msg("%s", mp_error_message(err));
	assert_false(mp_target_partial(core));
	assert_int_equal(mp_target_thread_count(core), 3);
	for (size_t i = 0; i < 3; i++) {
		bool found = false;
		for (size_t k = 0; k < 3; k++)
			found |= mp_target_thread(core, k)->tid == live_tids[i];
		assert_true(found);
	}
	check_pattern_bytes(core, &p);

	/* libc's text is not in a gcore core: it comes from the verified file. */
	const mp_mapping *core_text = mp_target_find_mapping(core, text_address);
	assert_non_null(core_text);
	assert_int_equal(core_text->contents, MP_CONTENTS_FILE);
	unsigned char *core_bytes = malloc(text_size);
	assert_non_null(core_bytes);
	assert_null(mp_target_read(core, text_address, core_bytes, text_size));
	assert_memory_equal(core_bytes, live_text, text_size);

	/* Unmapped memory is an error naming the address, never zeros. */
	err = mp_target_read(core, 0x1000, core_bytes, 16);
	assert_non_null(err);
	assert_int_equal(mp_error_code(err), MP_ERR_FAULT);
	assert_non_null(strstr(mp_error_message(err), "0x1000"));
	mp_error_free(err);

	/* A truncated copy: what is left still reads, what is cut says so. */
	char cut_path[256];
	snprintf(cut_path, sizeof(cut_path), "%s/cut.core", dir);
	struct stat st;
	assert_int_equal(stat(core_path, &st), 0);
	char command[1024];
	snprintf(command, sizeof(command), "head -c %lld %s > %s",
		 (long long)(st.st_size * 3 / 4), core_path, cut_path);
	assert_int_equal(system(command), 0);
	mp_target *cut = NULL;
	err = mp_target_open_core(cut_path, NULL, &cut);
	if (err)
		fail_msg("%s", mp_error_message(err));
	assert_true(mp_target_partial(cut));
	assert_true(mp_target_warning_count(cut) > 0);
	unsigned char global[64];
	assert_null(mp_target_read(cut, p.global_address, global, sizeof(global)));
	assert_int_equal(global[1], 10);
	size_t truncated_faults = 0;
	for (size_t i = 0; i < mp_target_mapping_count(cut); i++) {
		const mp_mapping *m = mp_target_mapping(cut, i);
		if (m->contents != MP_CONTENTS_PARTIAL)
			continue;
		err = mp_target_read(cut, m->end - 8, global, 8);
		assert_non_null(err);
		assert_non_null(strstr(mp_error_message(err), "truncated"));
		mp_error_free(err);
		truncated_faults++;
	}
	assert_true(truncated_faults >= 1);
	mp_target_release(cut);
	mp_target_release(core);
	free(core_bytes);
	free(live_text);
	unlink(cut_path);
	unlink(core_path);
	rmdir(dir);
}

typedef struct proc_mem {
	int fd;
	size_t calls;
} proc_mem;

static mp_error *read_proc_mem(void *context, uint64_t address, void *buffer,
			       size_t length)
{
	proc_mem *m = context;
	m->calls++;
	ssize_t n = pread(m->fd, buffer, length, (off_t)address);
	if (n != (ssize_t)length)
		return mp_error_new(MP_ERR_FAULT, "cannot read %zu bytes at %#llx",
				    length, (unsigned long long)address);
	return NULL;
}

static void test_callback_target_caches_pages(void **state)
{
	(void)state;
	pattern_process p;
	start_pattern(&p);
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/mem", (int)p.pid);
	proc_mem source = {open(path, O_RDONLY), 0};
	assert_true(source.fd >= 0);
	mp_target *t = NULL;
	assert_null(mp_target_open_callback(read_proc_mem, &source, NULL, &t));
	unsigned char global[3 * 4096];
	assert_null(mp_target_read(t, p.global_address, global, sizeof(global)));
	for (size_t i = 0; i < sizeof(global); i++)
		assert_int_equal(global[i], (unsigned char)(i * 7 + 3));
	size_t first_calls = source.calls;
	assert_true(first_calls >= 3 && first_calls <= 4);
	/* The same bytes again, in small pieces: all from the cache. */
	for (size_t i = 0; i < sizeof(global); i += 8)
		assert_null(mp_target_read(t, p.global_address + i, global + i, 8));
	assert_int_equal(source.calls, first_calls);
	/* An unreadable range is the host's error, not zeros. */
	mp_error *err = mp_target_read(t, 0x1000, global, 16);
	assert_non_null(err);
	assert_int_equal(mp_error_code(err), MP_ERR_FAULT);
	mp_error_free(err);
	mp_target_release(t);
	close(source.fd);
	assert_int_equal(finish_pattern(&p), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_live_reads_and_process_survives),
		cmocka_unit_test(test_core_matches_live),
		cmocka_unit_test(test_callback_target_caches_pages),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
