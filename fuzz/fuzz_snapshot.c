/* Fuzzes heap snapshot files (`memprof snapshot save`, read back by `diff`):
 * mp_heap_load, then every accessor over what it loaded; then the
 * `patterns`, `recommend` and `diff` verbs on the file, which decode its
 * patterns section (the per-chunk classes, content hashes and array plans)
 * and its per-block section, and compute and print findings from them.
 *
 * A snapshot ends in a CRC-32 of everything before it, so nearly every
 * mutation would stop at the checksum and the fuzzer would never see the
 * parser behind it.  The harness therefore rewrites the last four bytes
 * with the right CRC before loading, unless the first byte of the input is
 * odd (the magic's 'M' is even): those inputs are loaded exactly as given,
 * which keeps the checksum test itself under the fuzzer.  Loading may fail;
 * it must fail with an error, and what loads must be consistent enough for
 * every accessor (lookups by address included) to stay in bounds. */
#include <stdlib.h>
#include <string.h>

#include "elf/elf_file.h"
#include "fuzz_common.h"

static void exercise(const mp_heap *h)
{
	fuzz_use_string(mp_heap_backend(h));
	fuzz_use_string(mp_heap_located_by(h));
	fuzz_use_string(mp_heap_target_description(h));
	size_t n = mp_heap_chunk_count(h);
	for (size_t i = 0; i < n; i++) {
		mp_chunk c = mp_heap_chunk(h, i);
		fuzz_use_string(mp_chunk_state_name(c.state));
		uint64_t usable = mp_chunk_usable_size(&c);
		fuzz_use_bytes(&usable, sizeof(usable));
		/* Lookups through the start bitmaps: the first byte, the last,
		 * one past the end and one before the start of every chunk. */
		uint64_t probes[4] = {c.address, c.address + c.size - 1,
				      c.address + c.size, c.address - 1};
		for (size_t k = 0; k < 4; k++) {
			ptrdiff_t found = mp_heap_find_chunk(h, probes[k]);
			if (found >= 0) {
				mp_chunk hit = mp_heap_chunk(h, (size_t)found);
				if (probes[k] < hit.address || probes[k] - hit.address >= hit.size)
					abort();   /* a lookup answered the wrong chunk */
			}
		}
		int arena = mp_heap_chunk_arena(h, i);
		fuzz_use_bytes(&arena, sizeof(arena));
	}
	for (size_t i = 0; i < mp_heap_problem_count(h); i++) {
		const mp_heap_problem *p = mp_heap_problem_at(h, i);
		fuzz_use_string(p->where);
		fuzz_use_string(p->message);
	}
	fuzz_use_details(h);
	int64_t when = mp_heap_timestamp(h);
	fuzz_use_bytes(&when, sizeof(when));
	fuzz_use_bytes(&n, mp_heap_partial(h) ? sizeof(n) : 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t *copy;
	static size_t capacity;
	if (size > capacity) {
		free(copy);
		capacity = size;
		copy = malloc(capacity);
		if (!copy)
			abort();
	}
	if (size)
		memcpy(copy, data, size);
	if (size >= 12 && !(copy[0] & 1)) {
		uint32_t crc = mp_crc32(0, copy, size - 4);
		memcpy(copy + size - 4, &crc, 4);
	}
	const char *path = fuzz_write_file("input.snapshot", copy, size);
	mp_heap *h = NULL;
	mp_error *err = mp_heap_load(path, &h);
	if (err) {
		fuzz_drop_error(err);
		return 0;
	}
	exercise(h);
	/* What loads must save again (the same writer `snapshot save` uses). */
	fuzz_drop_error(mp_heap_save(h, fuzz_write_file("resaved.snapshot", "", 0)));
	mp_heap_free(h);

	/* A format per input, from bytes the mutations rarely touch (the
	 * checksum's), so every writer sees every kind of section. */
	static const char *const formats[] = {"json", "text", "csv", "prometheus"};
	const char *format = formats[size >= 8 ? copy[size - 8] % 4 : 0];
	const mp_host host = {.name = "cli"};
	char *patterns[] = {"patterns", "--snapshot", (char *)path, "--format", (char *)format};
	char *recommend[] = {"recommend", "--snapshot", (char *)path, "--format", (char *)format,
			     "--limit", "1M"};
	/* diff reads the per-block section (snapshot_blocks.c): the file
	 * against itself. */
	char *diff[] = {"diff", (char *)path, (char *)path, "--format", (char *)format};
	mp_command_run(5, patterns, &host, fuzz_null_stream(), fuzz_null_stream());
	mp_command_run(7, recommend, &host, fuzz_null_stream(), fuzz_null_stream());
	mp_command_run(5, diff, &host, fuzz_null_stream(), fuzz_null_stream());
	return 0;
}
