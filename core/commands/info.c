/* `memprof info`: what the target is made of. Threads with every general
 * register, mappings, modules with their build ids and debug files, the
 * auxiliary vector, and what could not be read. */
#include <inttypes.h>
#include <string.h>

#include "command.h"
#include "output/json.h"

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

static void write_json(mp_command *c)
{
	const mp_target *t = c->target;
	const mp_process_info *p = mp_target_process(t);
	mp_json j;
	mp_json_init(&j, c->out, true);
	mp_json_begin_object(&j);
	mp_json_key(&j, "target");
	mp_json_begin_object(&j);
	mp_json_key(&j, "kind");
	mp_json_string(&j, mp_target_kind(t));
	mp_json_key(&j, "description");
	mp_json_string(&j, mp_target_description(t));
	mp_json_end_object(&j);

	mp_json_key(&j, "process");
	mp_json_begin_object(&j);
	mp_json_key(&j, "pid");
	mp_json_int(&j, p->pid);
	mp_json_key(&j, "ppid");
	mp_json_int(&j, p->ppid);
	mp_json_key(&j, "uid");
	mp_json_int(&j, p->uid);
	mp_json_key(&j, "gid");
	mp_json_int(&j, p->gid);
	mp_json_key(&j, "name");
	mp_json_string(&j, p->name);
	mp_json_key(&j, "args");
	mp_json_string(&j, p->args);
	mp_json_key(&j, "exe");
	mp_json_string(&j, p->exe);
	mp_json_key(&j, "signal");
	mp_json_int(&j, p->signal);
	mp_json_end_object(&j);

	mp_json_key(&j, "threads");
	mp_json_begin_array(&j);
	for (size_t i = 0; i < mp_target_thread_count(t); i++) {
		const mp_thread *th = mp_target_thread(t, i);
		mp_json_begin_object(&j);
		mp_json_key(&j, "tid");
		mp_json_int(&j, th->tid);
		mp_json_key(&j, "signal");
		mp_json_int(&j, th->signal);
		mp_json_key(&j, "registers");
		if (th->has_registers) {
			mp_json_begin_object(&j);
			for (size_t r = 0; r < MP_NUM_REGISTERS; r++) {
				mp_json_key(&j, mp_register_name(r));
				mp_json_hex(&j, th->registers.value[r]);
			}
			mp_json_end_object(&j);
		} else {
			mp_json_null(&j);
		}
		mp_json_end_object(&j);
	}
	mp_json_end_array(&j);

	mp_json_key(&j, "mappings");
	mp_json_begin_array(&j);
	for (size_t i = 0; i < mp_target_mapping_count(t); i++) {
		const mp_mapping *m = mp_target_mapping(t, i);
		char perms[5];
		mp_json_begin_object(&j);
		mp_json_key(&j, "start");
		mp_json_hex(&j, m->start);
		mp_json_key(&j, "end");
		mp_json_hex(&j, m->end);
		mp_json_key(&j, "size");
		mp_json_uint(&j, m->end - m->start);
		mp_json_key(&j, "perms");
		mp_json_string(&j, m->perms & MP_PERM_UNKNOWN ? "" : perms_text(m->perms, perms));
		mp_json_key(&j, "offset");
		mp_json_hex(&j, m->file_offset);
		mp_json_key(&j, "path");
		mp_json_string(&j, m->path);
		mp_json_key(&j, "contents");
		mp_json_string(&j, contents_text(m->contents));
		mp_json_end_object(&j);
	}
	mp_json_end_array(&j);

	mp_json_key(&j, "modules");
	mp_json_begin_array(&j);
	for (size_t i = 0; i < mp_target_module_count(t); i++) {
		const mp_module *m = mp_target_module(t, i);
		mp_json_begin_object(&j);
		mp_json_key(&j, "path");
		mp_json_string(&j, mp_module_name(m));
		mp_json_key(&j, "file");
		mp_json_string(&j, mp_module_file(m));
		mp_json_key(&j, "main");
		mp_json_bool(&j, mp_module_is_main(m));
		mp_json_key(&j, "load_bias");
		mp_json_hex(&j, mp_module_load_bias(m));
		mp_json_key(&j, "start");
		mp_json_hex(&j, mp_module_start(m));
		mp_json_key(&j, "end");
		mp_json_hex(&j, mp_module_end(m));
		mp_json_key(&j, "build_id");
		mp_json_string(&j, mp_module_build_id(m));
		mp_json_key(&j, "debug_file");
		mp_json_string(&j, mp_module_debug_file(m));
		mp_json_key(&j, "debug_source");
		mp_json_string(&j, mp_module_debug_source(m));
		mp_json_end_object(&j);
	}
	mp_json_end_array(&j);
	/* Which module's malloc the program calls: the heap verbs refuse an
	 * allocator that is not readable, info says which it is. */
	mp_command_allocator_json(&j, mp_target_allocator(c->target));

	mp_json_key(&j, "auxv");
	mp_json_begin_array(&j);
	for (size_t i = 0; i < mp_target_auxv_count(t); i++) {
		const mp_auxv_entry *a = mp_target_auxv(t, i);
		const char *name = mp_auxv_type_name(a->type);
		mp_json_begin_object(&j);
		mp_json_key(&j, "type");
		mp_json_uint(&j, a->type);
		mp_json_key(&j, "name");
		mp_json_string(&j, name);
		mp_json_key(&j, "value");
		mp_json_hex(&j, a->value);
		mp_json_end_object(&j);
	}
	mp_json_end_array(&j);

	mp_json_key(&j, "partial");
	mp_json_bool(&j, mp_target_partial(t));
	mp_json_key(&j, "warnings");
	mp_json_begin_array(&j);
	for (size_t i = 0; i < mp_target_warning_count(t); i++)
		mp_json_string(&j, mp_target_warning(t, i));
	mp_json_end_array(&j);
	mp_json_end_object(&j);
	mp_json_finish(&j);
}

static void write_text(mp_command *c)
{
	const mp_target *t = c->target;
	const mp_process_info *p = mp_target_process(t);
	FILE *out = c->out;
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
	mp_command_allocator_text(out, mp_target_allocator(c->target));

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
	if (c->options->format == MP_FORMAT_JSON)
		write_json(c);
	else
		write_text(c);
	return MP_EXIT_OK;
}

const mp_verb mp_verb_info = {
	.name = "info",
	.summary = "threads, registers, mappings, modules and auxv of the target",
	.usage = "",
	.formats = MP_FORMAT_TEXT | MP_FORMAT_JSON,
	.needs_target = true,
	.run = run_info,
};
