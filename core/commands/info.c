/* `memprof info`: what the target is made of. Threads with every general
 * register, mappings, modules with their build ids and debug files, the
 * auxiliary vector, and what could not be read. */
#include <inttypes.h>
#include <string.h>

#include "command.h"
#include "command_result.h"
#include "output/result.h"

static const char *perms_text(unsigned perms, char out[5])
{
	out[0] = perms & MP_PERM_READ ? 'r' : '-';
	out[1] = perms & MP_PERM_WRITE ? 'w' : '-';
	out[2] = perms & MP_PERM_EXEC ? 'x' : '-';
	out[3] = perms & MP_PERM_SHARED ? 's' : 'p';
	out[4] = '\0';
	return out;
}

static const char *contents_text(enum mp_mapping_contents contents)
{
	switch (contents) {
	case MP_CONTENTS_FULL: return "saved";
	case MP_CONTENTS_PARTIAL: return "partial";
	case MP_CONTENTS_FILE: return "from-file";
	case MP_CONTENTS_NONE: return "unreadable";
	}
	return "unknown";
}

static void result_threads(mp_result *r, const mp_target *t)
{
	mp_rnode threads = mp_result_array(r, MP_RESULT_ROOT, "threads");
	for (size_t i = 0; i < mp_target_thread_count(t); i++) {
		const mp_thread *th = mp_target_thread(t, i);
		mp_rnode o = mp_result_object(r, threads, NULL);
		mp_result_int(r, o, "tid", th->tid);
		mp_result_int(r, o, "signal", th->signal);
		if (!th->has_registers) {
			mp_result_null(r, o, "registers");
			continue;
		}
		mp_rnode registers = mp_result_object(r, o, "registers");
		for (size_t k = 0; k < MP_NUM_REGISTERS; k++)
			mp_result_hex(r, registers, mp_register_name(k), th->registers.value[k]);
	}
}

static void result_mappings(mp_result *r, const mp_target *t)
{
	mp_rnode mappings = mp_result_array(r, MP_RESULT_ROOT, "mappings");
	for (size_t i = 0; i < mp_target_mapping_count(t); i++) {
		const mp_mapping *m = mp_target_mapping(t, i);
		char perms[5];
		mp_rnode o = mp_result_object(r, mappings, NULL);
		mp_result_hex(r, o, "start", m->start);
		mp_result_hex(r, o, "end", m->end);
		mp_result_uint(r, o, "size", m->end - m->start);
		mp_result_string(r, o, "perms", m->perms & MP_PERM_UNKNOWN ? "" : perms_text(m->perms, perms));
		mp_result_hex(r, o, "offset", m->file_offset);
		mp_result_string(r, o, "path", m->path);
		mp_result_string(r, o, "contents", contents_text(m->contents));
	}
}

static void result_modules(mp_result *r, const mp_target *t)
{
	mp_rnode modules = mp_result_array(r, MP_RESULT_ROOT, "modules");
	for (size_t i = 0; i < mp_target_module_count(t); i++) {
		const mp_module *m = mp_target_module(t, i);
		mp_rnode o = mp_result_object(r, modules, NULL);
		mp_result_string(r, o, "path", mp_module_name(m));
		mp_result_string(r, o, "file", mp_module_file(m));
		mp_result_bool(r, o, "main", mp_module_is_main(m));
		mp_result_hex(r, o, "load_bias", mp_module_load_bias(m));
		mp_result_hex(r, o, "start", mp_module_start(m));
		mp_result_hex(r, o, "end", mp_module_end(m));
		mp_result_string(r, o, "build_id", mp_module_build_id(m));
		mp_result_string(r, o, "debug_file", mp_module_debug_file(m));
		mp_result_string(r, o, "debug_source", mp_module_debug_source(m));
	}
}

/* The JSON of docs/json.md's info. */
static void info_result(mp_result *r, mp_target *t)
{
	const mp_process_info *p = mp_target_process(t);
	mp_rnode target = mp_result_object(r, MP_RESULT_ROOT, "target");
	mp_result_string(r, target, "kind", mp_target_kind(t));
	mp_result_string(r, target, "description", mp_target_description(t));

	mp_rnode process = mp_result_object(r, MP_RESULT_ROOT, "process");
	mp_result_int(r, process, "pid", p->pid);
	mp_result_int(r, process, "ppid", p->ppid);
	mp_result_int(r, process, "uid", p->uid);
	mp_result_int(r, process, "gid", p->gid);
	mp_result_string(r, process, "name", p->name);
	mp_result_string(r, process, "args", p->args);
	mp_result_string(r, process, "exe", p->exe);
	mp_result_int(r, process, "signal", p->signal);

	result_threads(r, t);
	result_mappings(r, t);
	result_modules(r, t);
	/* Which module's malloc the program calls: the heap verbs refuse an
	 * allocator that is not readable, info says which it is. */
	mp_command_allocator_result(r, MP_RESULT_ROOT, mp_target_allocator(t));

	mp_rnode auxv = mp_result_array(r, MP_RESULT_ROOT, "auxv");
	for (size_t i = 0; i < mp_target_auxv_count(t); i++) {
		const mp_auxv_entry *a = mp_target_auxv(t, i);
		mp_rnode o = mp_result_object(r, auxv, NULL);
		mp_result_uint(r, o, "type", a->type);
		mp_result_string(r, o, "name", mp_auxv_type_name(a->type));
		mp_result_hex(r, o, "value", a->value);
	}

	mp_result_bool(r, MP_RESULT_ROOT, "partial", mp_target_partial(t));
	mp_rnode warnings = mp_result_array(r, MP_RESULT_ROOT, "warnings");
	for (size_t i = 0; i < mp_target_warning_count(t); i++)
		mp_result_string(r, warnings, NULL, mp_target_warning(t, i));
}

/* The text keeps its own layout (registers three to a line, the mappings'
 * fixed columns): a text hook over the target the result describes. */
static void info_text(FILE *out, const mp_result *r, void *context)
{
	(void)r;
	mp_target *t = context;
	const mp_process_info *p = mp_target_process(t);
	fprintf(out, "target   %s\n", mp_target_description(t));
	fprintf(out, "process  pid %" PRId64 ", ppid %" PRId64 ", uid %" PRId64
		", gid %" PRId64 ", name %s\n", p->pid, p->ppid, p->uid, p->gid,
		p->name);
	if (p->args[0])
		fprintf(out, "args     %s\n", p->args);
	if (p->exe[0])
		fprintf(out, "exe      %s\n", p->exe);
	if (p->signal)
		fprintf(out, "signal   %d (%s)\n", p->signal, strsignal(p->signal));

	size_t n_threads = mp_target_thread_count(t);
	fprintf(out, "\nthreads (%zu)\n", n_threads);
	for (size_t i = 0; i < n_threads; i++) {
		const mp_thread *th = mp_target_thread(t, i);
		fprintf(out, "  thread %" PRId64, th->tid);
		if (th->signal)
			fprintf(out, "  signal %d", th->signal);
		fputc('\n', out);
		if (!th->has_registers) {
			fprintf(out, "    (registers not available)\n");
			continue;
		}
		for (size_t r = 0; r < MP_NUM_REGISTERS; r++) {
			fprintf(out, "%s%-8s 0x%016" PRIx64, r % 3 == 0 ? "    " : "  ",
				mp_register_name(r), th->registers.value[r]);
			if (r % 3 == 2 || r + 1 == MP_NUM_REGISTERS)
				fputc('\n', out);
		}
	}

	size_t n_maps = mp_target_mapping_count(t);
	fprintf(out, "\nmappings (%zu)\n", n_maps);
	fprintf(out, "  %-18s %-18s %-4s %10s %10s %-10s %s\n", "start", "end",
		"perm", "size", "offset", "contents", "path");
	for (size_t i = 0; i < n_maps; i++) {
		const mp_mapping *m = mp_target_mapping(t, i);
		char perms[5];
		fprintf(out, "  0x%016" PRIx64 " 0x%016" PRIx64 " %-4s %10" PRIu64
			" %10" PRIx64 " %-10s %s\n", m->start, m->end,
			m->perms & MP_PERM_UNKNOWN ? "?" : perms_text(m->perms, perms),
			m->end - m->start,
			m->file_offset, contents_text(m->contents), m->path);
	}

	size_t n_modules = mp_target_module_count(t);
	fprintf(out, "\nmodules (%zu)\n", n_modules);
	for (size_t i = 0; i < n_modules; i++) {
		const mp_module *m = mp_target_module(t, i);
		const char *build_id = mp_module_build_id(m);
		fprintf(out, "  %s%s\n", mp_module_name(m),
			mp_module_is_main(m) ? "  (main program)" : "");
		fprintf(out, "    load bias  0x%" PRIx64 "  range 0x%" PRIx64 "-0x%" PRIx64 "\n",
			mp_module_load_bias(m), mp_module_start(m), mp_module_end(m));
		fprintf(out, "    build id   %s\n", build_id[0] ? build_id : "(none)");
		if (mp_module_file(m) && strcmp(mp_module_file(m), mp_module_name(m)) != 0)
			fprintf(out, "    file       %s\n", mp_module_file(m));
		fprintf(out, "    debug      %s (%s)\n",
			mp_module_debug_file(m) ? mp_module_debug_file(m) : "not found",
			mp_module_debug_source(m));
	}

	fputc('\n', out);
	mp_command_allocator_text(out, mp_target_allocator(t));

	size_t n_auxv = mp_target_auxv_count(t);
	fprintf(out, "\nauxv (%zu)\n", n_auxv);
	for (size_t i = 0; i < n_auxv; i++) {
		const mp_auxv_entry *a = mp_target_auxv(t, i);
		const char *name = mp_auxv_type_name(a->type);
		if (name)
			fprintf(out, "  %-21s 0x%" PRIx64 "\n", name, a->value);
		else
			fprintf(out, "  %-21" PRIu64 " 0x%" PRIx64 "\n", a->type, a->value);
	}
	mp_text_warnings warnings = {0};
	mp_text_warnings_add_target(&warnings, t);
	mp_text_warnings_write(out, &warnings, mp_target_partial(t));
}

static int run_info(mp_command *c)
{
	mp_result r;
	mp_result_init(&r);
	info_result(&r, c->target);
	mp_result_set_text_hook(&r, info_text, c->target);
	mp_error *err = mp_result_write(c->out, &r, mp_command_result_format(c));
	mp_result_free(&r);
	return err ? mp_command_fail(c, err) : MP_EXIT_OK;
}

const mp_verb mp_verb_info = {
	.name = "info",
	.summary = "threads, registers, mappings, modules and auxv of the target",
	.usage = "",
	.formats = MP_FORMAT_TEXT | MP_FORMAT_JSON,
	.needs_target = true,
	.run = run_info,
};
