/* The heap snapshot's table on a real heap (the heapshape helper, live):
 * sorted, non-overlapping chunks; address lookup finds every chunk from
 * its first and last byte and nothing in the gaps; a saved and reloaded
 * snapshot has the same table and the same answers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "memprof/memprof.h"

static pid_t start_heapshape(int *stdin_fd)
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
		const char *dir = getenv("HELPERS_DIR");
		snprintf(path, sizeof(path), "%s/heapshape", dir ? dir : ".");
		execl(path, path, "mixed", (char *)NULL);
		_exit(127);
	}
	close(to_child[0]);
	close(from_child[1]);
	char line[512];
	ssize_t n = read(from_child[0], line, sizeof(line) - 1);
	assert_true(n > 6 && memcmp(line, "ready ", 6) == 0);
	close(from_child[0]);
	*stdin_fd = to_child[1];
	return pid;
}

static void check_lookups(const mp_heap *h)
{
	size_t n = mp_heap_chunk_count(h);
	assert_true(n > 300);
	uint64_t previous_end = 0;
	for (size_t i = 0; i < n; i++) {
		mp_chunk c = mp_heap_chunk(h, i);
		assert_true(c.size >= 16 && c.size % 16 == 0);
		assert_true(c.address >= previous_end);
		if (c.address > previous_end && previous_end) {
			assert_int_equal(mp_heap_find_chunk(h, previous_end), -1);
			assert_int_equal(mp_heap_find_chunk(h, c.address - 1), -1);
		}
		assert_int_equal(mp_heap_find_chunk(h, c.address), (ptrdiff_t)i);
		assert_int_equal(mp_heap_find_chunk(h, c.address + c.size - 1), (ptrdiff_t)i);
		assert_int_equal(mp_heap_find_chunk(h, c.address + c.size / 2), (ptrdiff_t)i);
		previous_end = c.address + c.size;
	}
	assert_int_equal(mp_heap_find_chunk(h, 0), -1);
	assert_int_equal(mp_heap_find_chunk(h, UINT64_MAX - 15), -1);
	/* Blocks own their usable bytes, the last 8 of an arena chunk in use
	 * lying in the next chunk's prev_size field; headers and chunks that
	 * are no block belong to none. */
	size_t tails = 0;
	for (size_t i = 0; i < n; i++) {
		mp_chunk c = mp_heap_chunk(h, i);
		uint64_t usable = mp_chunk_usable_size(&c);
		assert_int_equal(mp_heap_find_block(h, c.address + 8), -1);
		if (!usable) {
			assert_int_equal(mp_heap_find_block(h, c.address + 16), -1);
			continue;
		}
		assert_int_equal(mp_heap_find_block(h, c.address + 16), (ptrdiff_t)i);
		assert_int_equal(mp_heap_find_block(h, c.address + 16 + usable - 1), (ptrdiff_t)i);
		mp_chunk next = mp_heap_chunk(h, i + 1);
		if (c.state == MP_CHUNK_IN_USE && i + 1 < n && next.address == c.address + c.size) {
			assert_int_equal(mp_heap_find_block(h, next.address), (ptrdiff_t)i);
			tails++;
		}
	}
	assert_true(tails > 100);
}

/* Each arena's top chunk, as the chunk table has it, is the one its
 * detail rows name: the walk's chunks and malloc_state agree through the
 * arena index. */
static void check_arena_rows(const mp_heap *h)
{
	size_t tops = 0;
	for (size_t i = 0; i < mp_heap_chunk_count(h); i++) {
		mp_chunk c = mp_heap_chunk(h, i);
		if (c.state != MP_CHUNK_TOP)
			continue;
		int arena = mp_heap_chunk_arena(h, i);
		assert_true(arena >= 0);
		bool named = false;
		for (size_t k = 0; k < mp_heap_detail_count(h); k++) {
			mp_heap_detail d = mp_heap_detail_at(h, k);
			if (d.arena == arena && strcmp(d.name, "top_address") == 0) {
				assert_int_equal(d.value, c.address);
				named = true;
			}
		}
		assert_true(named);
		tops++;
	}
	assert_int_equal(tops, 3);
}

static void test_table_and_snapshot_round_trip(void **state)
{
	(void)state;
	int stdin_fd;
	pid_t pid = start_heapshape(&stdin_fd);
	mp_target *t = NULL;
	mp_error *err = mp_target_attach_pid(pid, NULL, 0, &t);
	if (err)
		fail_msg("%s", mp_error_message(err));
	mp_heap *h = NULL;
	err = mp_heap_open(t, NULL, &h);
	if (err)
		fail_msg("%s", mp_error_message(err));
	mp_target_release(t);
	close(stdin_fd);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);

	assert_false(mp_heap_partial(h));
	check_lookups(h);
	size_t counts[MP_CHUNK_STATE_COUNT] = {0};
	for (size_t i = 0; i < mp_heap_chunk_count(h); i++)
		counts[mp_heap_chunk(h, i).state]++;
	assert_true(counts[MP_CHUNK_TCACHE] > 0);
	assert_true(counts[MP_CHUNK_FASTBIN] > 0);
	assert_true(counts[MP_CHUNK_FREE] > 0);
	assert_int_equal(counts[MP_CHUNK_TOP], 3);
	assert_int_equal(counts[MP_CHUNK_IN_USE_MMAPPED], 5);

	char path[] = "/tmp/memprof-snap-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	assert_null(mp_heap_save(h, path));
	mp_heap *loaded = NULL;
	err = mp_heap_load(path, &loaded);
	if (err)
		fail_msg("%s", mp_error_message(err));
	unlink(path);
	assert_int_equal(mp_heap_chunk_count(loaded), mp_heap_chunk_count(h));
	for (size_t i = 0; i < mp_heap_chunk_count(h); i++) {
		mp_chunk a = mp_heap_chunk(h, i), b = mp_heap_chunk(loaded, i);
		assert_int_equal(a.address, b.address);
		assert_int_equal(a.size, b.size);
		assert_int_equal(a.state, b.state);
		assert_int_equal(mp_heap_chunk_arena(h, i), mp_heap_chunk_arena(loaded, i));
	}
	/* glibc's arenas, peaks and mallinfo are described again from what
	 * the file keeps: the same rows. */
	assert_int_equal(mp_heap_detail_count(loaded), mp_heap_detail_count(h));
	for (size_t i = 0; i < mp_heap_detail_count(h); i++) {
		mp_heap_detail a = mp_heap_detail_at(h, i), b = mp_heap_detail_at(loaded, i);
		assert_string_equal(a.group, b.group);
		assert_string_equal(a.name, b.name);
		assert_int_equal(a.value, b.value);
		assert_int_equal(a.arena, b.arena);
	}
	check_arena_rows(h);
	assert_int_equal(mp_heap_timestamp(h), mp_heap_timestamp(loaded));
	assert_string_equal(mp_heap_backend(h), mp_heap_backend(loaded));
	check_lookups(loaded);
	mp_heap_free(loaded);
	mp_heap_free(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table_and_snapshot_round_trip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
