/* The target: one record for every source of a process image, so analyses
 * never care whether memory comes from a core, a live process or a
 * debugger. */
#include "target_internal.h"

#include <elf.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "array.h"
#include "error.h"

static char *strdup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

mp_error *mp_target_create(const struct mp_target_source *source,
			   const mp_target_options *options, mp_target **out)
{
	mp_target *t = calloc(1, sizeof(*t));
	if (!t)
		return mp_error_nomem();
	t->source = source;
	t->process.pid = t->process.ppid = -1;
	t->process.uid = t->process.gid = -1;
	t->process.name = t->process.args = t->process.exe = "";
	if (options) {
		t->exe_path = strdup_or_null(options->exe_path);
		t->sysroot = strdup_or_null(options->sysroot);
		t->no_debuginfod = options->no_debuginfod;
		if ((options->exe_path && !t->exe_path) ||
		    (options->sysroot && !t->sysroot))
			goto nomem;
		if (options->n_debug_dirs) {
			t->debug_dirs = calloc(options->n_debug_dirs, sizeof(char *));
			if (!t->debug_dirs)
				goto nomem;
			for (size_t i = 0; i < options->n_debug_dirs; i++) {
				t->debug_dirs[i] = strdup(options->debug_dirs[i]);
				if (!t->debug_dirs[i])
					goto nomem;
				t->n_debug_dirs = i + 1;
			}
		}
	}
	*out = t;
	return NULL;
nomem:
	mp_target_release(t);
	return mp_error_nomem();
}

const char *mp_target_intern_n(mp_target *t, const char *s, size_t n)
{
	if (!MP_ARRAY_RESERVE(t->strings, t->strings_capacity, t->n_strings + 1))
		return NULL;
	char *copy = strndup(s, n);
	if (!copy)
		return NULL;
	t->strings[t->n_strings++] = copy;
	return copy;
}

const char *mp_target_intern(mp_target *t, const char *s)
{
	return mp_target_intern_n(t, s, strlen(s));
}

void mp_target_warn(mp_target *t, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	mp_warnings_vadd(&t->warnings, fmt, ap);
	va_end(ap);
}

void mp_target_note(mp_target *t, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	mp_warnings_vadd(&t->notes, fmt, ap);
	va_end(ap);
}

size_t mp_target_note_count(const mp_target *t)
{
	return mp_warnings_count(&t->notes);
}

const char *mp_target_note_at(const mp_target *t, size_t index)
{
	return mp_warnings_at(&t->notes, index);
}

char *mp_target_host_path(const mp_target *t, const char *path)
{
	char *joined = NULL;
	if (t->sysroot && path[0] == '/') {
		if (asprintf(&joined, "%s%s", t->sysroot, path) < 0)
			return NULL;
		return joined;
	}
	return strdup(path);
}

uint64_t mp_target_auxv_value(const mp_target *t, uint64_t type, bool *found)
{
	for (size_t i = 0; i < t->n_auxv; i++) {
		if (t->auxv[i].type == type) {
			if (found)
				*found = true;
			return t->auxv[i].value;
		}
	}
	if (found)
		*found = false;
	return 0;
}

mp_error *mp_target_add_mapping(mp_target *t, const mp_mapping *mapping)
{
	/* Mappings come from the target (a core's headers, /proc, a debugger),
	 * so a bad one is bad target data: skipped, never a usage error. */
	if (mapping->end <= mapping->start) {
		t->partial = true;
		mp_target_warn(t, "mapping %#llx-%#llx%s%s is empty or inverted: skipped",
			       (unsigned long long)mapping->start,
			       (unsigned long long)mapping->end,
			       mapping->path && mapping->path[0] ? " of " : "",
			       mapping->path ? mapping->path : "");
		return NULL;
	}
	if (!MP_ARRAY_RESERVE(t->mappings, t->mappings_capacity, t->n_mappings + 1))
		return mp_error_nomem();
	mp_mapping copy = *mapping;
	copy.path = mp_target_intern(t, mapping->path ? mapping->path : "");
	if (!copy.path)
		return mp_error_nomem();
	t->mappings[t->n_mappings++] = copy;
	return NULL;
}

mp_error *mp_target_add_thread(mp_target *t, int64_t tid,
			       const mp_registers *registers)
{
	for (size_t i = 0; i < t->n_threads; i++) {
		if (t->threads[i].tid == tid) {
			if (registers) {
				t->threads[i].registers = *registers;
				t->threads[i].has_registers = true;
			}
			return NULL;
		}
	}
	if (!MP_ARRAY_RESERVE(t->threads, t->threads_capacity, t->n_threads + 1))
		return mp_error_nomem();
	mp_thread *thread = &t->threads[t->n_threads++];
	memset(thread, 0, sizeof(*thread));
	thread->tid = tid;
	if (registers) {
		thread->registers = *registers;
		thread->has_registers = true;
	}
	return NULL;
}

mp_error *mp_target_add_frame_variable(mp_target *t, const mp_frame_variable *variable)
{
	if (!variable->type || !variable->name)
		return mp_error_new(MP_ERR_USAGE, "a frame variable needs a name and a type");
	if (!MP_ARRAY_RESERVE(t->frame_variables, t->frame_variables_capacity,
			      t->n_frame_variables + 1))
		return mp_error_nomem();
	mp_frame_variable copy = *variable;
	copy.name = mp_target_intern(t, variable->name);
	copy.type = mp_target_intern(t, variable->type);
	if (!copy.name || !copy.type)
		return mp_error_nomem();
	t->frame_variables[t->n_frame_variables++] = copy;
	return NULL;
}

size_t mp_target_frame_variable_count(const mp_target *t) { return t->n_frame_variables; }

const mp_frame_variable *mp_target_frame_variable(const mp_target *t, size_t index)
{
	return index < t->n_frame_variables ? &t->frame_variables[index] : NULL;
}

mp_error *mp_target_set_auxv(mp_target *t, const mp_auxv_entry *entries,
			     size_t count)
{
	mp_auxv_entry *copy = NULL;
	if (count) {
		copy = malloc(count * sizeof(*copy));
		if (!copy)
			return mp_error_nomem();
		memcpy(copy, entries, count * sizeof(*copy));
	}
	free(t->auxv);
	t->auxv = copy;
	t->n_auxv = count;
	return NULL;
}

static int compare_mappings(const void *a, const void *b)
{
	const mp_mapping *x = a, *y = b;
	return x->start < y->start ? -1 : x->start > y->start;
}

mp_error *mp_target_finish(mp_target *t)
{
	if (t->finished)
		return NULL;
	if (t->n_mappings > 1)
		qsort(t->mappings, t->n_mappings, sizeof(*t->mappings), compare_mappings);
	struct timespec begin, end;
	clock_gettime(CLOCK_MONOTONIC, &begin);
	mp_error *err = mp_modules_discover(t);
	clock_gettime(CLOCK_MONOTONIC, &end);
	t->modules_seconds = (double)(end.tv_sec - begin.tv_sec) +
			     (double)(end.tv_nsec - begin.tv_nsec) / 1e9;
	if (err)
		return err;
	if (t->source->modules_ready)
		t->source->modules_ready(t);
	t->finished = true;
	return NULL;
}

void mp_target_release(mp_target *t)
{
	if (!t)
		return;
	if (t->source && t->source->release)
		t->source->release(t);
	mp_types_free(t->types);
	for (size_t i = 0; i < t->n_modules; i++)
		mp_module_free(t->modules[i]);
	free(t->modules);
	mp_warnings_free(&t->warnings);
	mp_warnings_free(&t->notes);
	mp_debuginfod_free(t->debuginfod);
	for (size_t i = 0; i < t->n_strings; i++)
		free(t->strings[i]);
	free(t->strings);
	for (size_t i = 0; i < t->n_debug_dirs; i++)
		free(t->debug_dirs[i]);
	free(t->debug_dirs);
	free(t->threads);
	free(t->frame_variables);
	free(t->mappings);
	free(t->auxv);
	free(t->exe_path);
	free(t->sysroot);
	free(t->description);
	free(t);
}

mp_error *mp_target_read(mp_target *t, uint64_t address, void *buffer,
			 size_t length)
{
	if (length == 0)
		return NULL;
	if (address + length < address)
		return mp_error_fault(address, "cannot read %zu bytes at %#llx: range wraps around",
				      length, (unsigned long long)address);
	return t->source->read(t, address, buffer, length);
}

const void *mp_target_view(mp_target *t, uint64_t address, size_t length)
{
	if (!t->source->view || length == 0 || address + length < address)
		return NULL;
	return t->source->view(t, address, length);
}

void mp_target_unview(mp_target *t, uint64_t address, size_t length)
{
	if (t->source->unview && length)
		t->source->unview(t, address, length);
}

const char *mp_target_kind(const mp_target *t) { return t->source->kind; }

const char *mp_target_description(const mp_target *t)
{
	return t->description ? t->description : t->source->kind;
}

const mp_process_info *mp_target_process(const mp_target *t) { return &t->process; }
size_t mp_target_thread_count(const mp_target *t) { return t->n_threads; }

const mp_thread *mp_target_thread(const mp_target *t, size_t i)
{
	return i < t->n_threads ? &t->threads[i] : NULL;
}

size_t mp_target_mapping_count(const mp_target *t) { return t->n_mappings; }

const mp_mapping *mp_target_mapping(const mp_target *t, size_t i)
{
	return i < t->n_mappings ? &t->mappings[i] : NULL;
}

const mp_mapping *mp_target_find_mapping(const mp_target *t, uint64_t address)
{
	size_t lo = 0, hi = t->n_mappings;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const mp_mapping *m = &t->mappings[mid];
		if (address < m->start)
			hi = mid;
		else if (address >= m->end)
			lo = mid + 1;
		else
			return m;
	}
	return NULL;
}

size_t mp_target_auxv_count(const mp_target *t) { return t->n_auxv; }

const mp_auxv_entry *mp_target_auxv(const mp_target *t, size_t i)
{
	return i < t->n_auxv ? &t->auxv[i] : NULL;
}

size_t mp_target_warning_count(const mp_target *t) { return mp_warnings_count(&t->warnings); }
bool mp_target_partial(const mp_target *t) { return t->partial; }

mp_error *mp_target_check_alive(mp_target *t)
{
	if (!t->source->gone || !t->source->gone(t))
		return NULL;
	return mp_error_new(MP_ERR_NOT_FOUND,
			    "%s exited while memprof was reading it: no answer (the memory not yet read is gone)",
			    t->description);
}

const char *mp_target_warning(const mp_target *t, size_t i)
{
	return mp_warnings_at(&t->warnings, i);
}

size_t mp_target_module_count(const mp_target *t) { return t->n_modules; }

const mp_module *mp_target_module(const mp_target *t, size_t i)
{
	return i < t->n_modules ? t->modules[i] : NULL;
}

const mp_module *mp_target_module_at(const mp_target *t, uint64_t address, size_t *index)
{
	for (size_t i = 0; i < t->n_modules; i++) {
		if (address >= t->modules[i]->start && address < t->modules[i]->end) {
			if (index)
				*index = i;
			return t->modules[i];
		}
	}
	return NULL;
}

const char *mp_module_name(const mp_module *m) { return m->name; }
const char *mp_module_file(const mp_module *m) { return m->file; }
uint64_t mp_module_load_bias(const mp_module *m) { return m->load_bias; }
uint64_t mp_module_start(const mp_module *m) { return m->start; }
uint64_t mp_module_end(const mp_module *m) { return m->end; }
const char *mp_module_build_id(const mp_module *m) { return m->build_id; }
const char *mp_module_debug_file(const mp_module *m) { return m->debug_file; }
const char *mp_module_debug_source(const mp_module *m) { return m->debug_source; }
bool mp_module_is_main(const mp_module *m) { return m->is_main; }

mp_error *mp_target_read_string(mp_target *t, uint64_t address,
				size_t max_length, char **out)
{
	*out = NULL;
	size_t capacity = 0, length = 0;
	char *text = NULL;
	/* Read in small steps so a string near the end of a mapping does not
	 * fail because of bytes past its terminator. */
	while (length < max_length) {
		char chunk[64];
		size_t step = sizeof(chunk) - (address + length) % sizeof(chunk);
		mp_error *err = mp_target_read(t, address + length, chunk, step);
		if (err) {
			free(text);
			return err;
		}
		if (!MP_ARRAY_RESERVE(text, capacity, length + step + 1)) {
			free(text);
			return mp_error_nomem();
		}
		void *nul = memchr(chunk, '\0', step);
		size_t used = nul ? (size_t)((char *)nul - chunk) : step;
		memcpy(text + length, chunk, used);
		length += used;
		if (nul || length >= max_length) {
			text[length < max_length ? length : max_length] = '\0';
			*out = text;
			return NULL;
		}
	}
	free(text);
	return mp_error_new(MP_ERR_FORMAT, "string at %#llx longer than %zu bytes",
			    (unsigned long long)address, max_length);
}
