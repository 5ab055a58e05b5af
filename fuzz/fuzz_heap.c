/* Fuzzes the glibc heap walker and what runs over its snapshot: the leak
 * check and the logical walk.
 *
 * The target is built from a real core made by fuzz/make_corpus.py, in one
 * of two ways: a callback target (mp_target_open_callback, what a debugger
 * front-end uses for a remote stub, and the way memprof reads live memory:
 * through copies) whose mappings, threads with their registers and auxv
 * are the core's; or, for the small cores, a copy of the core file itself
 * opened with mp_target_open_core (the zero-copy views of the walk).  The
 * memory is the core's, except in a few windows where the allocator's own
 * data lives.  The fuzzed bytes are laid over those windows, one after the
 * other:
 *   main_arena and every other malloc_state (bins, fastbins, top, next,
 *   system_mem), glibc's mp_ (sbrk_base, mmap counts, tcache limits), each
 *   non-main heap's heap_info, the first bytes of every heap region (the
 *   tcache_perthread_struct and the first chunks), every top chunk's header,
 *   and the header of every mmapped chunk.
 * Input byte 0 picks the reference core (bits 0-4), the core file instead
 * of the callback (bit 6, cores up to 8 MiB), whether walked pages are kept
 * (bit 5, mp_heap_options.keep_pages), and whether the allocator is found
 * through libc's debug symbols or by the structural search of libc's data
 * (bit 7); the rest is the overlay.  An input
 * shorter than the windows leaves their remaining bytes as the core has
 * them, so short inputs are real heaps with their first bytes changed.
 *
 * Per input: mp_target_finish (module discovery through the callback),
 * mp_heap_open, every chunk and problem read back, a save and load of the
 * snapshot (what the walker builds must load again), mp_leaks_analyze and
 * the logical walk of the reference program's root variable. */
#include <stdlib.h>
#include <string.h>

#include "analysis/logical.h"
#include "elf/elf_file.h"
#include "fuzz_common.h"
#include "heap/heap_internal.h"

enum {
	MAX_REFERENCES = 8,
	MAX_WINDOWS = 256,
	ARENA_BYTES = 2200,        /* malloc_state, glibc 2.27 to 2.41 on x86-64 */
	MP_BYTES = 128,            /* malloc_par */
	HEAP_INFO_BYTES = 48,
	MAIN_HEAP_BYTES = 8192,    /* of the main arena's heap */
	OTHER_HEAP_BYTES = 2048,   /* of every other heap region */
	MMAPPED_BYTES = 32,        /* an mmapped chunk's header and first words */
	TOP_BYTES = 32,
	HEAP_MAX_SIZE = 64 << 20,
	MAX_CORE_COPY = 8 << 20,   /* cores written per input in core mode */
	SELECT_REFERENCE = 0x1f,
	SELECT_KEEP_PAGES = 0x20,
	SELECT_CORE_FILE = 0x40,
	SELECT_STRUCTURAL = 0x80,
};

typedef struct window {
	uint64_t start, end;
	size_t flat;               /* offset of its first byte in the input */
	char name[32];             /* arena0, heapinfo1, mp, heap2, mmapped3, top0 */
	int64_t file_offset;       /* in the core file, -1 when not saved there */
} window;

typedef struct reference {
	char name[256];
	char roots[256];           /* variables the logical walk starts from,
				    * separated by commas */
	mp_target *core;
	uint8_t *file;             /* the core file's bytes, if small enough */
	size_t file_size;
	window windows[MAX_WINDOWS];
	size_t n_windows;
	size_t flat_size;
} reference;

static reference references[MAX_REFERENCES];
static size_t n_references;

typedef struct input {
	const reference *ref;
	const uint8_t *bytes;
	size_t size;
} input;

/* ------------------------------------------------------- the windows */

static void add_window(reference *r, const char *kind, size_t index,
		       uint64_t start, uint64_t length)
{
	if (r->n_windows == MAX_WINDOWS || !length || start + length < start)
		return;
	/* Windows may not overlap: a byte belongs to one input offset. */
	for (size_t i = 0; i < r->n_windows; i++) {
		const window *w = &r->windows[i];
		if (start < w->end && start + length > w->start)
			return;
	}
	window *w = &r->windows[r->n_windows++];
	w->start = start;
	w->end = start + length;
	w->flat = r->flat_size;
	r->flat_size += length;
	snprintf(w->name, sizeof(w->name), "%s%zu", kind, index);
}

static uint64_t libc_symbol(mp_target *t, const char *name)
{
	for (size_t i = 0; i < mp_target_module_count(t); i++) {
		const mp_module *m = mp_target_module(t, i);
		const char *base = strrchr(mp_module_name(m), '/');
		if (!base || strncmp(base + 1, "libc.so", 7) != 0 || !mp_module_debug_file(m))
			continue;
		mp_elf *elf = NULL;
		mp_error *err = mp_elf_open(mp_module_debug_file(m), &elf);
		if (err) {
			mp_error_free(err);
			return 0;
		}
		uint64_t value = 0, size;
		bool found = mp_elf_find_symbol(elf, name, &value, &size);
		mp_elf_close(elf);
		return found ? value + mp_module_load_bias(m) : 0;
	}
	return 0;
}

/* The windows of one reference, from the heap the real core holds. */
static void plan_windows(reference *r)
{
	mp_heap *h = NULL;
	mp_error *err = mp_heap_open(r->core, NULL, &h);
	if (err) {
		fprintf(stderr, "fuzz_heap: %s: %s\n", r->name, mp_error_message(err));
		abort();
	}
	for (size_t i = 0; i < h->n_arenas; i++) {
		const heap_arena *a = &h->arenas[i];
		add_window(r, "arena", i, a->address, ARENA_BYTES);
		if (!a->is_main)
			add_window(r, "heapinfo", i, a->address & ~(uint64_t)(HEAP_MAX_SIZE - 1),
				   HEAP_INFO_BYTES);
	}
	uint64_t mp = libc_symbol(r->core, "mp_");
	if (mp)
		add_window(r, "mp", 0, mp, MP_BYTES);
	size_t n_mmapped = 0;
	for (size_t i = 0; i < h->n_regions; i++) {
		const heap_region *region = &h->regions[i];
		uint64_t cap = region->arena < 0 ? MMAPPED_BYTES
			       : h->arenas[region->arena].is_main ? MAIN_HEAP_BYTES
			       : OTHER_HEAP_BYTES;
		if (region->arena < 0) {
			/* One window per mmapped chunk header. */
			for (size_t k = 0; k < region->count; k++)
				add_window(r, "mmapped", n_mmapped++,
					   h->chunks[region->first + k].address, cap);
			continue;
		}
		uint64_t length = region->end - region->start;
		add_window(r, "heap", i, region->start, length < cap ? length : cap);
	}
	for (size_t i = 0; i < h->n_arenas; i++) {
		const heap_arena *a = &h->arenas[i];
		if (a->top_address)
			add_window(r, "top", i, a->top_address, TOP_BYTES);
	}
	mp_heap_free(h);
}

/* Where each window lies in the core file (core mode writes the overlay
 * there), and the file itself when it is small enough to copy per input. */
static void map_windows_to_file(reference *r, const char *path)
{
	for (size_t i = 0; i < r->n_windows; i++)
		r->windows[i].file_offset = -1;
	mp_elf *elf = NULL;
	mp_error *err = mp_elf_open(path, &elf);
	if (err) {
		mp_error_free(err);
		return;
	}
	size_t size = mp_elf_size(elf);
	for (size_t i = 0; i < r->n_windows; i++) {
		window *w = &r->windows[i];
		for (size_t k = 0; k < mp_elf_phnum(elf); k++) {
			const Elf64_Phdr *p = mp_elf_phdr(elf, k);
			if (p->p_type != PT_LOAD || w->start < p->p_vaddr ||
			    w->end - p->p_vaddr > p->p_filesz)
				continue;
			uint64_t at = p->p_offset + (w->start - p->p_vaddr);
			if (at <= size && w->end - w->start <= size - at)
				w->file_offset = (int64_t)at;
			break;
		}
	}
	if (size <= MAX_CORE_COPY && (r->file = malloc(size)) != NULL) {
		memcpy(r->file, mp_elf_bytes(elf, 0, size), size);
		r->file_size = size;
	}
	mp_elf_close(elf);
}

static void load_references(void)
{
	char list[4096];
	snprintf(list, sizeof(list), "%s/heap/list", fuzz_data_dir());
	FILE *f = fopen(list, "r");
	if (!f) {
		fprintf(stderr, "fuzz_heap: no reference cores: %s is missing "
			"(scripts/fuzz.sh makes it; or set MEMPROF_FUZZ_DATA)\n", list);
		abort();
	}
	reference *r = &references[0];
	while (n_references < MAX_REFERENCES &&
	       fscanf(f, "%255s %255s", r->name, r->roots) == 2) {
		char path[4096 + 256];
		snprintf(path, sizeof(path), "%s/heap/%s", fuzz_data_dir(), r->name);
		mp_error *err = mp_target_open_core(path, NULL, &r->core);
		if (err) {
			fprintf(stderr, "fuzz_heap: %s\n", mp_error_message(err));
			abort();
		}
		plan_windows(r);
		map_windows_to_file(r, path);
		fprintf(stderr, "fuzz_heap: reference %zu: %s, %zu windows, %zu bytes of overlay%s\n",
			n_references, r->name, r->n_windows, r->flat_size,
			r->file ? ", core mode too" : "");
		n_references++;
		r++;
	}
	fclose(f);
	if (!n_references) {
		fprintf(stderr, "fuzz_heap: %s lists no cores\n", list);
		abort();
	}
}

/* ------------------------------------------------------- the target */

static mp_error *read_memory(void *context, uint64_t address, void *buffer,
			     size_t length)
{
	const input *in = context;
	mp_error *err = mp_target_read(in->ref->core, address, buffer, length);
	if (err)
		return err;
	uint64_t end = address + length;
	for (size_t i = 0; i < in->ref->n_windows; i++) {
		const window *w = &in->ref->windows[i];
		uint64_t from = address > w->start ? address : w->start;
		uint64_t to = end < w->end ? end : w->end;
		if (from >= to)
			continue;
		size_t flat = w->flat + (size_t)(from - w->start);
		if (flat >= in->size)
			continue;
		size_t n = (size_t)(to - from);
		if (n > in->size - flat)
			n = in->size - flat;
		memcpy((uint8_t *)buffer + (from - address), in->bytes + flat, n);
	}
	return NULL;
}

/* Core mode: the reference core with the overlay written into it. */
static mp_target *open_core_file(const input *in)
{
	static uint8_t *copy;
	static size_t capacity;
	const reference *r = in->ref;
	if (r->file_size > capacity) {
		free(copy);
		capacity = r->file_size;
		if (!(copy = malloc(capacity)))
			abort();
	}
	memcpy(copy, r->file, r->file_size);
	for (size_t i = 0; i < r->n_windows; i++) {
		const window *w = &r->windows[i];
		if (w->file_offset < 0 || w->flat >= in->size)
			continue;
		size_t n = (size_t)(w->end - w->start);
		if (n > in->size - w->flat)
			n = in->size - w->flat;
		memcpy(copy + w->file_offset, in->bytes + w->flat, n);
	}
	mp_target *t = NULL;
	mp_error *err = mp_target_open_core(fuzz_write_file("heap.core", copy, r->file_size),
					    NULL, &t);
	if (err) {
		fuzz_drop_error(err);
		return NULL;
	}
	return t;
}

static mp_target *open_target(input *in)
{
	mp_target *t = NULL;
	mp_error *err = mp_target_open_callback(read_memory, in, NULL, &t);
	if (err) {
		fuzz_drop_error(err);
		return NULL;
	}
	const mp_target *core = in->ref->core;
	for (size_t i = 0; !err && i < mp_target_mapping_count(core); i++)
		err = mp_target_add_mapping(t, mp_target_mapping(core, i));
	for (size_t i = 0; !err && i < mp_target_thread_count(core); i++) {
		const mp_thread *th = mp_target_thread(core, i);
		err = mp_target_add_thread(t, th->tid, th->has_registers ? &th->registers : NULL);
	}
	if (!err && mp_target_auxv_count(core))
		err = mp_target_set_auxv(t, mp_target_auxv(core, 0), mp_target_auxv_count(core));
	if (!err)
		err = mp_target_finish(t);
	if (err) {
		fuzz_drop_error(err);
		mp_target_release(t);
		return NULL;
	}
	return t;
}

/* ------------------------------------------------------- the checks */

static void exercise_heap(const mp_heap *h)
{
	fuzz_use_string(mp_heap_backend(h));
	fuzz_use_string(mp_heap_located_by(h));
	for (size_t i = 0; i < mp_heap_chunk_count(h); i++) {
		mp_chunk c = mp_heap_chunk(h, i);
		/* A top chunk whose header says 0 is kept with its size: it
		 * holds no byte to look up. */
		if (c.size == 0)
			continue;
		ptrdiff_t found = mp_heap_find_chunk(h, c.address + c.size / 2);
		if (found != (ptrdiff_t)i) {
			fprintf(stderr, "fuzz_heap: chunk %zu at %#llx (%llu bytes) found as %td\n",
				i, (unsigned long long)c.address, (unsigned long long)c.size, found);
			abort();
		}
	}
	for (size_t i = 0; i < mp_heap_problem_count(h); i++) {
		const mp_heap_problem *p = mp_heap_problem_at(h, i);
		fuzz_use_string(p->where);
		fuzz_use_string(p->message);
		if (fuzz_verbose())
			fprintf(stderr, "fuzz_heap: problem at %#llx (%s): %s\n",
				(unsigned long long)p->address, p->where, p->message);
	}
	fuzz_use_details(h);
}

/* Whatever the walker built, `snapshot save` then `diff` must read back. */
static void save_and_load(const mp_heap *h)
{
	const char *path = fuzz_write_file("heap.snapshot", "", 0);
	mp_error *err = mp_heap_save(h, path);
	if (err) {
		fuzz_drop_error(err);
		return;
	}
	mp_heap *loaded = NULL;
	err = mp_heap_load(path, &loaded);
	if (err && mp_error_code(err) != MP_ERR_NOMEM) {
		fprintf(stderr, "fuzz_heap: a snapshot of the walked heap does not load: %s\n",
			mp_error_message(err));
		abort();
	}
	fuzz_drop_error(err);
	if (loaded && mp_heap_chunk_count(loaded) != mp_heap_chunk_count(h)) {
		fprintf(stderr, "fuzz_heap: saved %zu chunks, loaded %zu\n",
			mp_heap_chunk_count(h), mp_heap_chunk_count(loaded));
		abort();
	}
	mp_heap_free(loaded);
}

static void exercise_leaks(mp_target *t, const mp_heap *h)
{
	mp_leak_options options = {.threads = 1};
	mp_leaks *leaks = NULL;
	mp_error *err = mp_leaks_analyze(t, h, &options, &leaks);
	if (err) {
		fuzz_drop_error(err);
		return;
	}
	uint64_t kinds[5] = {0};
	for (size_t i = 0; i < mp_heap_chunk_count(h); i++) {
		enum mp_leak_kind kind = mp_leaks_kind(leaks, i);
		if ((unsigned)kind < 5)
			kinds[kind]++;
		if (mp_leaks_unreferenced(leaks, i))
			kinds[0]++;
	}
	fuzz_use_bytes(kinds, sizeof(kinds));
	for (size_t i = 0; i < mp_leaks_warning_count(leaks); i++)
		fuzz_use_string(mp_leaks_warning(leaks, i));
	mp_leaks_free(leaks);
}

static void exercise_logical(mp_target *t, const mp_heap *h, const char *root)
{
	mp_variable var;
	mp_error *err = mp_type_find_variable(t, root, &var);
	if (err) {
		fuzz_drop_error(err);
		return;
	}
	/* Bounded: the walk of a real instance reaches thousands of blocks
	 * and the fuzzer wants many executions a second. */
	mp_logical_options options = {.max_objects = 20000};
	mp_logical *walk = NULL;
	err = mp_logical_walk(t, h, var.address, var.type, root, &options, &walk);
	if (err) {
		fuzz_drop_error(err);
		return;
	}
	for (size_t i = 0; i < mp_logical_node_count(walk); i++) {
		const mp_logical_node *n = mp_logical_node_at(walk, i);
		fuzz_use_string(n->name);
		uint64_t sums[3];
		mp_logical_subtree(walk, i, &sums[0], &sums[1], &sums[2]);
		fuzz_use_bytes(sums, sizeof(sums));
	}
	for (size_t i = 0; i < mp_logical_warning_count(walk); i++)
		fuzz_use_string(mp_logical_warning(walk, i));
	mp_logical_free(walk);
}

/* Seeds for the corpus (fuzz/make_corpus.py asks through
 * MEMPROF_FUZZ_WRITE_SEEDS=DIR): for every reference and both ways of
 * finding the allocator, the windows exactly as the core holds them, and
 * the lone selector byte (the untouched heap). */
static void write_seeds(const char *dir)
{
	for (size_t r = 0; r < n_references; r++) {
		const reference *ref = &references[r];
		uint8_t *bytes = calloc(1, 1 + ref->flat_size);
		if (!bytes)
			abort();
		for (size_t i = 0; i < ref->n_windows; i++) {
			const window *w = &ref->windows[i];
			fuzz_drop_error(mp_target_read(ref->core, w->start, bytes + 1 + w->flat,
						       (size_t)(w->end - w->start)));
		}
		for (unsigned mode = 0; mode < 4; mode++) {
			bool structural = mode & 1, core_file = mode & 2;
			if (core_file && !ref->file)
				continue;
			bytes[0] = (uint8_t)(r | (structural ? SELECT_STRUCTURAL : 0) |
					     (core_file ? SELECT_CORE_FILE : 0));
			for (size_t whole = 0; whole < 2; whole++) {
				char path[4096];
				snprintf(path, sizeof(path), "%s/heap-%s-%s%s%s", dir, ref->name,
					 structural ? "structural" : "symbols",
					 core_file ? "-corefile" : "", whole ? "" : "-selector");
				FILE *f = fopen(path, "wb");
				if (!f || fwrite(bytes, 1, whole ? 1 + ref->flat_size : 1, f) == 0 ||
				    fclose(f) != 0) {
					fprintf(stderr, "fuzz_heap: cannot write %s\n", path);
					abort();
				}
			}
		}
		free(bytes);
		/* Where each window lies in the input and in the core, for
		 * fuzz/regress.py: the regression inputs name bytes and pointers
		 * as WINDOW+OFFSET, which stays true when the reference cores are
		 * made again (other addresses). */
		char path[4096];
		snprintf(path, sizeof(path), "%s/heap/%s.windows", fuzz_data_dir(), ref->name);
		FILE *f = fopen(path, "w");
		if (!f)
			abort();
		for (size_t i = 0; i < ref->n_windows; i++)
			fprintf(f, "%s %zu %llu %#llx\n", ref->windows[i].name,
				1 + ref->windows[i].flat,
				(unsigned long long)(ref->windows[i].end - ref->windows[i].start),
				(unsigned long long)ref->windows[i].start);
		fclose(f);
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	load_references();
	const char *seeds = getenv("MEMPROF_FUZZ_WRITE_SEEDS");
	if (seeds && seeds[0])
		write_seeds(seeds);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	input in = {&references[(data[0] & SELECT_REFERENCE) % n_references], data + 1, size - 1};
	mp_target *t = (data[0] & SELECT_CORE_FILE) && in.ref->file ? open_core_file(&in)
								     : open_target(&in);
	if (!t)
		return 0;
	mp_heap_options options = {
		.no_libc_debug = (data[0] & SELECT_STRUCTURAL) != 0,
		.keep_pages = (data[0] & SELECT_KEEP_PAGES) != 0,
	};
	mp_heap *h = NULL;
	mp_error *err = mp_heap_open(t, &options, &h);
	if (err) {
		fuzz_drop_error(err);
		mp_target_release(t);
		return 0;
	}
	exercise_heap(h);
	save_and_load(h);
	exercise_leaks(t, h);
	char roots[sizeof(in.ref->roots)];
	memcpy(roots, in.ref->roots, sizeof(roots));
	char *saved = NULL;
	for (char *root = strtok_r(roots, ",", &saved); root; root = strtok_r(NULL, ",", &saved))
		exercise_logical(t, h, root);
	mp_heap_free(h);
	mp_target_release(t);
	return 0;
}
