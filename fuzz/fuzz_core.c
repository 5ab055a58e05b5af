/* Fuzzes ELF core files: the ELF header and program headers, the PT_NOTE
 * segments and every note memprof decodes (NT_PRSTATUS, NT_PRPSINFO,
 * NT_AUXV, NT_FILE; the rest, NT_X86_XSTATE and NT_SIGINFO among them, are
 * iterated and skipped), truncation, and what module discovery then reads
 * through the core's memory (auxv -> program headers -> DT_DEBUG -> r_debug
 * -> link_map, build id notes in memory, files named by NT_FILE).
 *
 * Per input: the bytes are written to a file and opened with
 * mp_target_open_core, every record `memprof info` prints is read back, a
 * few bytes of every mapping are read (PT_LOAD data, bytes cut off by
 * truncation, bytes supplied by verified module files), and the `info` verb
 * itself formats the target as text and as JSON.  Opening may fail (most
 * inputs are not cores); it must do so with an error, never a crash, a
 * leak, an out-of-bounds read or undefined behaviour. */
#include <string.h>

#include "fuzz_common.h"

static void read_mapping_edges(mp_target *t, const mp_mapping *m)
{
	uint8_t bytes[64];
	uint64_t size = m->end - m->start;
	size_t n = size < sizeof(bytes) ? (size_t)size : sizeof(bytes);
	fuzz_drop_error(mp_target_read(t, m->start, bytes, n));
	fuzz_drop_error(mp_target_read(t, m->end - n, bytes, n));
	/* A read that runs from this mapping into whatever follows it. */
	if (m->end < UINT64_MAX - sizeof(bytes))
		fuzz_drop_error(mp_target_read(t, m->end - 8, bytes, 16));
}

static void run_info(mp_target *t, const char *format)
{
	char *argv[] = {(char *)"info", (char *)"--format", (char *)format, NULL};
	mp_host host = {.name = "fuzz", .target = t};
	FILE *null_stream = fuzz_null_stream();
	mp_command_run(3, argv, &host, null_stream, null_stream);
}

static void exercise(mp_target *t)
{
	fuzz_use_string(mp_target_kind(t));
	fuzz_use_string(mp_target_description(t));
	const mp_process_info *p = mp_target_process(t);
	fuzz_use_string(p->name);
	fuzz_use_string(p->args);
	fuzz_use_string(p->exe);
	for (size_t i = 0; i < mp_target_thread_count(t); i++) {
		const mp_thread *th = mp_target_thread(t, i);
		fuzz_use_bytes(th, sizeof(*th));
	}
	for (size_t i = 0; i < mp_target_mapping_count(t); i++) {
		const mp_mapping *m = mp_target_mapping(t, i);
		fuzz_use_string(m->path);
		read_mapping_edges(t, m);
		const mp_mapping *found = mp_target_find_mapping(t, m->start);
		if (found)
			fuzz_use_string(found->path);
	}
	for (size_t i = 0; i < mp_target_module_count(t); i++) {
		const mp_module *m = mp_target_module(t, i);
		fuzz_use_string(mp_module_name(m));
		fuzz_use_string(mp_module_file(m));
		fuzz_use_string(mp_module_build_id(m));
		fuzz_use_string(mp_module_debug_file(m));
		fuzz_use_string(mp_module_debug_source(m));
	}
	for (size_t i = 0; i < mp_target_auxv_count(t); i++)
		fuzz_use_string(mp_auxv_type_name(mp_target_auxv(t, i)->type));
	for (size_t i = 0; i < mp_target_warning_count(t); i++) {
		fuzz_use_string(mp_target_warning(t, i));
		if (fuzz_verbose())
			fprintf(stderr, "fuzz_core: warning: %s\n", mp_target_warning(t, i));
	}
	run_info(t, "json");
	run_info(t, "text");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *path = fuzz_write_file("input.core", data, size);
	mp_target *t = NULL;
	mp_error *err = mp_target_open_core(path, NULL, &t);
	if (err) {
		fuzz_drop_error(err);
		return 0;
	}
	exercise(t);
	mp_target_release(t);
	return 0;
}
