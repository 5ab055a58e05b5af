/* `memprof run -- PROG ARGS`: the program runs at native speed; when it
 * exits it is held with its memory intact, leak-checked, and released.
 * With --follow-forks every process of the tree it starts is checked the
 * same way at its own exit.  memprof exits with the program's status, or 3
 * when --fail-on finds blocks of the kinds it names (default:
 * definite,indirect, as LeakSanitizer does) in any process checked.
 *
 * Reports are written once the tree is done, so each process's part is
 * built at its exit stop (while its heap is readable) as a small result
 * and its text, and the analysis is dropped at once: a tree of a thousand
 * processes keeps a thousand small reports, not a thousand heaps. */
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "analysis/block_types.h"
#include "command_result.h"
#include "error.h"
#include "leaks_report.h"
#include "suppressions.h"
#include "target/launch.h"
#include "target/target_internal.h"

typedef struct proc_result {
	bool checked, failed, leaked;
	bool allocator_error;
	char *reason;              /* why it was not checked */
	uint64_t blocks[5], bytes[5];
	uint64_t suppressed_blocks, suppressed_bytes;
	mp_result object;          /* its object in "processes" */
	bool built;                /* object holds it */
	char *text;                /* allocator line and LEAK SUMMARY ... */
	size_t text_length;
	char *gen;                 /* --gen-suppressions entries */
	size_t gen_length;
	char *xml;                 /* --xml-file: valgrind's XML document */
	size_t xml_length;
	int fate_status;           /* the wait status reported */
	bool fate_known;
} proc_result;

typedef struct run_state {
	mp_command *c;
	mp_launch *launch;
	bool follow;
	unsigned fail_mask;
	mp_suppressions suppressions;
	bool have_suppressions;
	double started;            /* mp_leak_phase_clock() at launch (--stats) */
} run_state;

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

static const char *argv0_of(const mp_launch_process *p, const mp_command *c)
{
	return p->cmdline && p->cmdline[0] ? p->cmdline : c->options->positional[0];
}

/* The command line, arguments separated by spaces, at most size - 1
 * bytes: a test case name or a section title. */
static void command_line(const mp_launch_process *p, const mp_command *c, char *out,
			 size_t size)
{
	out[0] = '\0';
	if (!p->cmdline) {
		snprintf(out, size, "%s", c->options->positional[0]);
		return;
	}
	size_t used = 0;
	for (size_t i = 0; i < p->cmdline_length && used + 1 < size; i++)
		out[used++] = p->cmdline[i] ? p->cmdline[i] : ' ';
	while (used && out[used - 1] == ' ')
		used--;
	out[used] = '\0';
}

static void process_header(mp_result *out, const run_state *st, const mp_launch_process *p,
			   const proc_result *r)
{
	mp_result_int(out, MP_RESULT_ROOT, "pid", p->pid);
	mp_result_int(out, MP_RESULT_ROOT, "ppid", p->ppid);
	mp_result_string(out, MP_RESULT_ROOT, "command", argv0_of(p, st->c));
	mp_rnode argv = mp_result_array(out, MP_RESULT_ROOT, "argv");
	if (p->cmdline) {
		for (size_t at = 0; at < p->cmdline_length; at += strlen(p->cmdline + at) + 1)
			mp_result_string(out, argv, NULL, p->cmdline + at);
	} else {
		for (size_t i = 0; i < st->c->options->n_positional; i++)
			mp_result_string(out, argv, NULL, st->c->options->positional[i]);
	}
	if (r->fate_known) {
		char fate[128];
		describe_fate(fate, sizeof(fate), r->fate_status);
		mp_result_string(out, MP_RESULT_ROOT, "fate", fate);
		mp_result_int(out, MP_RESULT_ROOT, "exit_status", exit_status_of(r->fate_status));
		if (WIFSIGNALED(r->fate_status))
			mp_result_int(out, MP_RESULT_ROOT, "signal", WTERMSIG(r->fate_status));
	} else {
		mp_result_string(out, MP_RESULT_ROOT, "fate",
				 "still running when memprof stopped following the tree "
				 "(--orphan-timeout); left running untraced");
		mp_result_null(out, MP_RESULT_ROOT, "exit_status");
	}
	if (p == mp_launch_root(st->launch))
		mp_result_int(out, MP_RESULT_ROOT, "forks_not_followed",
			      mp_launch_unfollowed(st->launch));
	/* The heap checked is the last image's: an exec drops the heap of the
	 * image before it, which was never checked. */
	mp_result_int(out, MP_RESULT_ROOT, "execs", p->execs);
	mp_result_int(out, MP_RESULT_ROOT, "children", p->children);
	mp_result_bool(out, MP_RESULT_ROOT, "checked", r->checked);
}

/* The process's object in r->object, placed in "processes" when the tree
 * is done. */
static void build_object(run_state *st, const mp_launch_process *p, proc_result *r,
			 const mp_heap *heap, const mp_leaks *leaks, const mp_leak_report *report,
			 const mp_suppression_match *match)
{
	mp_result *out = &r->object;
	mp_result_init(out);
	r->built = true;
	process_header(out, st, p, r);
	if (r->checked)
		mp_leaks_result(out, MP_RESULT_ROOT, heap, leaks, report);
	else
		mp_result_string(out, MP_RESULT_ROOT, "error", r->reason ? r->reason : "not checked");
	if (!st->have_suppressions)
		return;
	mp_rnode suppressed = mp_result_object(out, MP_RESULT_ROOT, "suppressed");
	mp_result_uint(out, suppressed, "blocks", r->suppressed_blocks);
	mp_result_uint(out, suppressed, "bytes", r->suppressed_bytes);
	mp_rnode by_entry = mp_result_array(out, suppressed, "by_entry");
	for (size_t e = 0; match && e < st->suppressions.n; e++) {
		if (!match->blocks[e])
			continue;
		mp_rnode o = mp_result_object(out, by_entry, NULL);
		mp_result_string(out, o, "name", st->suppressions.entries[e].name);
		mp_result_uint(out, o, "blocks", match->blocks[e]);
		mp_result_uint(out, o, "bytes", match->bytes[e]);
	}
}

static void render_text(proc_result *r, const mp_heap *heap, const mp_leaks *leaks,
			const mp_leak_report *report)
{
	FILE *mem = open_memstream(&r->text, &r->text_length);
	if (!mem)
		return;
	mp_allocator allocator = mp_heap_allocator(heap);
	mp_command_allocator_text(mem, &allocator);
	fputc('\n', mem);
	/* As before the tree: the target's own warnings are not repeated
	 * (NULL), the heap's and the analysis's are. */
	mp_leaks_write_text(mem, NULL, heap, leaks, report);
	if (r->suppressed_blocks)
		fprintf(mem, "suppressed: %" PRIu64 " bytes in %" PRIu64 " blocks\n",
			r->suppressed_bytes, r->suppressed_blocks);
	fclose(mem);
}

static void xml_text(FILE *out, const char *s, size_t length);
static void xml_string(FILE *out, const char *s);

static const char *valgrind_kind(enum mp_leak_kind kind, const char **words)
{
	switch (kind) {
	case MP_LEAK_DEFINITE: *words = "definitely lost"; return "Leak_DefinitelyLost";
	case MP_LEAK_INDIRECT: *words = "indirectly lost"; return "Leak_IndirectlyLost";
	case MP_LEAK_POSSIBLE: *words = "possibly lost"; return "Leak_PossiblyLost";
	default: *words = "still reachable"; return "Leak_StillReachable";
	}
}

/* The process's leak records as valgrind memcheck writes them with
 * --xml=yes (protocol 4): one <error> per loss record, a record being a
 * group of the report (kind, type, size).  memprof has no allocation
 * stacks: each record's stack is one frame naming the blocks' type, size
 * and an example address, so consumers that require a stack get one. */
static void render_valgrind_xml(run_state *st, const mp_launch_process *p, proc_result *r,
				const mp_leak_report *report, const mp_suppression_match *match)
{
	FILE *out = open_memstream(&r->xml, &r->xml_length);
	if (!out)
		return;
	fputs("<?xml version=\"1.0\"?>\n\n<valgrindoutput>\n\n"
	      "<protocolversion>4</protocolversion>\n<protocoltool>memcheck</protocoltool>\n\n"
	      "<preamble>\n  <line>memprof run: leak check at exit (valgrind memcheck's XML "
	      "protocol 4)</line>\n  <line>Command: ", out);
	char line[1024];
	command_line(p, st->c, line, sizeof(line));
	xml_string(out, line);
	fprintf(out, "</line>\n</preamble>\n\n<pid>%d</pid>\n<ppid>%d</ppid>\n<tool>memcheck</tool>\n\n"
		"<args>\n  <vargv>\n    <exe>memprof</exe>\n    <arg>run</arg>\n  </vargv>\n  <argv>\n",
		(int)p->pid, (int)p->ppid);
	if (p->cmdline) {
		for (size_t at = 0; at < p->cmdline_length; at += strlen(p->cmdline + at) + 1) {
			fputs(at ? "    <arg>" : "    <exe>", out);
			xml_string(out, p->cmdline + at);
			fputs(at ? "</arg>\n" : "</exe>\n", out);
		}
	}
	fputs("  </argv>\n</args>\n\n<status>\n  <state>RUNNING</state>\n"
	      "  <time>00:00:00:00.000 </time>\n</status>\n\n<status>\n  <state>FINISHED</state>\n"
	      "  <time>00:00:00:00.000 </time>\n</status>\n\n", out);
	for (size_t i = 0; i < report->n_groups; i++) {
		const mp_leak_group *g = &report->groups[i];
		const char *words;
		const char *kind = valgrind_kind(g->kind, &words);
		fprintf(out, "<error>\n  <unique>0x%zx</unique>\n  <tid>1</tid>\n  <kind>%s</kind>\n"
			"  <xwhat>\n    <text>%" PRIu64 " bytes in %" PRIu64 " blocks are %s in loss "
			"record %zu of %zu</text>\n    <leakedbytes>%" PRIu64 "</leakedbytes>\n"
			"    <leakedblocks>%" PRIu64 "</leakedblocks>\n  </xwhat>\n"
			"  <stack>\n    <frame>\n      <ip>0x%" PRIX64 "</ip>\n      <fn>",
			i, kind, g->bytes, g->count, words, i + 1, report->n_groups, g->bytes,
			g->count, g->example);
		char what[256];
		snprintf(what, sizeof(what), "%s, %" PRIu64 " bytes each (memprof: no allocation stack)",
			 g->type ? g->type : "type unknown", g->size);
		xml_string(out, what);
		fputs("</fn>\n    </frame>\n  </stack>\n</error>\n\n", out);
	}
	fputs("<errorcounts>\n</errorcounts>\n\n<suppcounts>\n", out);
	for (size_t e = 0; match && e < st->suppressions.n; e++) {
		if (!match->blocks[e])
			continue;
		fprintf(out, "  <pair>\n    <count>%" PRIu64 "</count>\n    <name>", match->blocks[e]);
		xml_string(out, st->suppressions.entries[e].name);
		fputs("</name>\n  </pair>\n", out);
	}
	fputs("</suppcounts>\n\n</valgrindoutput>\n\n", out);
	fclose(out);
}

/* Heap, reachability and the grouped report of the process, with the
 * suppressions applied; then its report parts, rendered. */
static mp_error *analyze(run_state *st, const mp_launch_process *p, proc_result *r,
		       mp_leak_phases *phases)
{
	mp_command *c = st->c;
	mp_leak_options options = mp_command_leak_options(c);
	mp_heap_options heap_options = mp_command_heap_options(c);
	heap_options.keep_pages = true;   /* the block scan reads them all next */
	mp_heap *heap = NULL;
	mp_leaks *leaks = NULL;
	mp_leak_report report = {0};
	mp_block_typing typing = {0};
	bool typed = false;
	mp_suppression_match match = {0};
	bool matching = false;
	double t0 = mp_leak_phase_clock();
	mp_error *err = mp_heap_open(c->target, &heap_options, &heap);
	double t1 = mp_leak_phase_clock();
	if (!err)
		err = mp_leaks_analyze(c->target, heap, &options, &leaks);
	double t2 = mp_leak_phase_clock();
	unsigned shown = (1u << MP_LEAK_DEFINITE) | (1u << MP_LEAK_INDIRECT) |
			 (1u << MP_LEAK_POSSIBLE);
	if (mp_command_flag(c, "--show-reachable"))
		shown |= 1u << MP_LEAK_REACHABLE;
	if (!err && st->have_suppressions) {
		/* Suppressions see every kind --fail-on checks, so a suppressed
		 * block never fails the check. */
		shown |= st->fail_mask;
		err = mp_block_types_infer(c->target, heap, leaks, &typing);
		typed = !err;
		if (!err)
			err = mp_suppression_match_init(&match, &st->suppressions, c->target, heap,
							leaks, &typing, argv0_of(p, c));
		matching = !err;
		if (!err)
			err = mp_leak_report_build_filtered(c->target, heap, leaks, &typing, shown,
							    mp_suppression_filter, &match, &report);
	} else if (!err) {
		err = mp_leak_report_build(c->target, heap, leaks, shown, &report);
	}
	if (!err) {
		r->checked = true;
		memcpy(r->blocks, report.blocks, sizeof(r->blocks));
		memcpy(r->bytes, report.bytes, sizeof(r->bytes));
		r->leaked = report.blocks[MP_LEAK_DEFINITE] || report.blocks[MP_LEAK_INDIRECT] ||
			    report.blocks[MP_LEAK_POSSIBLE];
		r->failed = mp_leaks_check_failed(&report, st->fail_mask);
		if (matching) {
			r->suppressed_blocks = match.total_blocks;
			r->suppressed_bytes = match.total_bytes;
			mp_suppression_match_commit(&match, &st->suppressions);
		}
		build_object(st, p, r, heap, leaks, &report, matching ? &match : NULL);
		render_text(r, heap, leaks, &report);
		if (mp_command_value(c, "--xml-file"))
			render_valgrind_xml(st, p, r, &report, matching ? &match : NULL);
		if (mp_command_flag(c, "--gen-suppressions")) {
			FILE *mem = open_memstream(&r->gen, &r->gen_length);
			if (mem) {
				mp_suppressions_generate(mem, &report, argv0_of(p, c), (int)p->pid);
				fclose(mem);
			}
		}
		phases->heap_walk = t1 - t0;
		phases->scan = mp_leaks_scan_seconds(leaks);
		phases->classify = t2 - t1 - phases->scan;
		phases->report = mp_leak_phase_clock() - t2;
		if (mp_command_flag(c, "--stats")) {
			char what[96];
			snprintf(what, sizeof(what), "pid %d (ran %.1f ms to its exit stop)",
				 (int)p->pid, (t0 - phases->attach - phases->modules - st->started) * 1e3);
			mp_leak_phases_write(c->err, what, phases, heap, leaks);
		}
	}
	if (matching)
		mp_suppression_match_free(&match);
	if (typed)
		mp_block_typing_free(&typing);
	mp_leak_report_free(&report);
	mp_leaks_free(leaks);
	mp_heap_free(heap);
	return err;
}

static proc_result *result_of(mp_launch_process *p)
{
	if (!p->user)
		p->user = calloc(1, sizeof(proc_result));
	return p->user;
}

static void result_free(proc_result *r)
{
	if (!r)
		return;
	free(r->reason);
	if (r->built)
		mp_result_free(&r->object);
	free(r->text);
	free(r->gen);
	free(r->xml);
	free(r);
}

static void set_reason(proc_result *r, const char *reason)
{
	free(r->reason);
	r->reason = strdup(reason);
}

/* A process at its exit stop: check it and let it go. */
static mp_error *check_process(run_state *st, mp_launch_process *p)
{
	proc_result *r = result_of(p);
	if (!r)
		return mp_error_nomem();
	r->fate_status = p->exit_message;
	r->fate_known = true;
	if (p->shares_parent_vm) {
		/* A vfork child that exits without exec runs in its parent's
		 * memory: checking it would report the parent's heap. */
		set_reason(r, "shares its parent's memory (vfork or clone with CLONE_VM, "
			      "no exec): its heap is the parent's, checked at the parent's exit");
		mp_launch_release(st->launch, p);
		return NULL;
	}
	mp_target *target = NULL;
	mp_target_options options = {
		.debug_dirs = st->c->options->debug_dirs,
		.n_debug_dirs = st->c->options->n_debug_dirs,
		.no_debuginfod = st->c->options->no_debuginfod,
	};
	mp_leak_phases phases = {0};
	double attaching = mp_leak_phase_clock();
	mp_error *err = mp_launch_target(st->launch, p, &options, &target);
	if (!err) {
		phases.modules = target->modules_seconds;
		phases.attach = mp_leak_phase_clock() - attaching - phases.modules;
		st->c->target = target;
		/* Hints as for any verb: EXE.memprof-hints of this process's
		 * program, the config directory's, --hints. */
		err = mp_command_load_hints(st->c);
		if (!err)
			err = analyze(st, p, r, &phases);
		mp_command_drop_hints(st->c);
		st->c->target = NULL;
	}
	mp_target_release(target);
	mp_launch_release(st->launch, p);
	if (err) {
		if (mp_error_code(err) == MP_ERR_NOMEM)
			return err;
		r->allocator_error = mp_error_code(err) == MP_ERR_ALLOCATOR;
		set_reason(r, mp_error_message(err));
		mp_error_free(err);
	}
	return NULL;
}

static void total_line(FILE *out, size_t n, size_t checked, size_t leaked, size_t failed,
		       const uint64_t *blocks, const uint64_t *bytes)
{
	fprintf(out, "memprof run: %zu process%s, %zu checked, %zu with leaks, %zu failing --fail-on; "
		"in all: definitely lost %" PRIu64 " bytes in %" PRIu64 " blocks, indirectly lost %"
		PRIu64 " bytes in %" PRIu64 " blocks, possibly lost %" PRIu64 " bytes in %" PRIu64
		" blocks\n", n, n == 1 ? "" : "es", checked, leaked, failed,
		bytes[MP_LEAK_DEFINITE], blocks[MP_LEAK_DEFINITE], bytes[MP_LEAK_INDIRECT],
		blocks[MP_LEAK_INDIRECT], bytes[MP_LEAK_POSSIBLE], blocks[MP_LEAK_POSSIBLE]);
}

static void suppression_lists(mp_result *doc, const mp_suppressions *s)
{
	mp_rnode lists = mp_result_object(doc, MP_RESULT_ROOT, "suppressions");
	mp_rnode used = mp_result_array(doc, lists, "used");
	for (size_t e = 0; e < s->n; e++) {
		const mp_suppression *x = &s->entries[e];
		if (!x->used_blocks)
			continue;
		mp_rnode o = mp_result_object(doc, used, NULL);
		mp_result_string(doc, o, "name", x->name);
		mp_result_uint(doc, o, "blocks", x->used_blocks);
		mp_result_uint(doc, o, "bytes", x->used_bytes);
		mp_result_string(doc, o, "file", x->file);
		mp_result_uint(doc, o, "line", x->line);
	}
	mp_rnode unused = mp_result_array(doc, lists, "unused");
	for (size_t e = 0; e < s->n; e++) {
		const mp_suppression *x = &s->entries[e];
		if (x->used_blocks)
			continue;
		mp_rnode o = mp_result_object(doc, unused, NULL);
		mp_result_string(doc, o, "name", x->name);
		mp_result_string(doc, o, "file", x->file);
		mp_result_uint(doc, o, "line", x->line);
	}
}

/* Text for XML: markup characters as entities, and bytes XML 1.0 cannot
 * hold (control bytes; bytes >= 0x80, which may not be UTF-8) as '?'. */
static void xml_text(FILE *out, const char *s, size_t length)
{
	for (size_t i = 0; i < length; i++) {
		unsigned char ch = (unsigned char)s[i];
		switch (ch) {
		case '&': fputs("&amp;", out); break;
		case '<': fputs("&lt;", out); break;
		case '>': fputs("&gt;", out); break;
		case '"': fputs("&quot;", out); break;
		case '\'': fputs("&apos;", out); break;
		default:
			if ((ch < 0x20 && ch != '\n' && ch != '\t') || ch >= 0x7f)
				fputc('?', out);
			else
				fputc(ch, out);
		}
	}
}

static void xml_string(FILE *out, const char *s)
{
	xml_text(out, s, strlen(s));
}

/* JUnit XML (the schema Jenkins, GitLab and GitHub reporters read): one
 * test case per process, a failure for a process failing --fail-on, an
 * error for one that could not be checked, skipped for vfork children. */
static mp_error *write_junit(run_state *st, const char *path)
{
	FILE *out = fopen(path, "w");
	if (!out)
		return mp_error_errno(errno, "cannot write %s", path);
	size_t n = mp_launch_count(st->launch), failures = 0, errors = 0, skipped = 0;
	for (size_t i = 0; i < n; i++) {
		mp_launch_process *p = mp_launch_at(st->launch, i);
		proc_result *r = p->user;
		if (r && r->failed)
			failures++;
		else if (!r || (!r->checked && !p->shares_parent_vm))
			errors++;
		else if (!r->checked)
			skipped++;
	}
	fprintf(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
	fprintf(out, "<testsuites name=\"memprof run\" tests=\"%zu\" failures=\"%zu\" errors=\"%zu\">\n",
		n, failures, errors);
	fprintf(out, "  <testsuite name=\"memprof.run\" tests=\"%zu\" failures=\"%zu\" errors=\"%zu\" "
		"skipped=\"%zu\">\n", n, failures, errors, skipped);
	for (size_t i = 0; i < n; i++) {
		mp_launch_process *p = mp_launch_at(st->launch, i);
		proc_result *r = p->user;
		char name[512];
		command_line(p, st->c, name, sizeof(name));
		fputs("    <testcase name=\"", out);
		xml_string(out, name);
		fprintf(out, "\" classname=\"memprof.run\">\n");
		char message[512];
		if (r && r->checked) {
			snprintf(message, sizeof(message),
				 "pid %d: definitely lost %" PRIu64 " bytes in %" PRIu64
				 " blocks, indirectly lost %" PRIu64 " bytes in %" PRIu64
				 " blocks, possibly lost %" PRIu64 " bytes in %" PRIu64 " blocks",
				 (int)p->pid, r->bytes[MP_LEAK_DEFINITE], r->blocks[MP_LEAK_DEFINITE],
				 r->bytes[MP_LEAK_INDIRECT], r->blocks[MP_LEAK_INDIRECT],
				 r->bytes[MP_LEAK_POSSIBLE], r->blocks[MP_LEAK_POSSIBLE]);
		} else {
			snprintf(message, sizeof(message), "pid %d: not checked: %s", (int)p->pid,
				 r && r->reason ? r->reason : "it ended without an exit stop");
		}
		const char *element = NULL;
		if (r && r->failed)
			element = "failure";
		else if (!r || (!r->checked && !p->shares_parent_vm))
			element = "error";
		else if (!r->checked)
			element = "skipped";
		if (element) {
			fprintf(out, "      <%s type=\"%s\" message=\"", element,
				r && r->failed ? "leak" : "memprof");
			xml_string(out, message);
			fputs("\">", out);
			if (r && r->text)
				xml_text(out, r->text, r->text_length);
			fprintf(out, "</%s>\n", element);
		} else {
			fputs("      <system-out>", out);
			xml_string(out, message);
			fputs("</system-out>\n", out);
		}
		fputs("    </testcase>\n", out);
	}
	fputs("  </testsuite>\n</testsuites>\n", out);
	bool bad = ferror(out) != 0;
	if (fclose(out) != 0 || bad)
		return mp_error_errno(errno, "cannot write %s", path);
	return NULL;
}

/* FILE, with %p replaced by each process's pid (as valgrind's
 * --xml-file): one document per process checked.  Without %p the file is
 * the root's alone (a file holds one document). */
static mp_error *write_valgrind_xml(run_state *st, const char *pattern)
{
	const char *mark = strstr(pattern, "%p");
	size_t n = mp_launch_count(st->launch);
	for (size_t i = 0; i < n; i++) {
		mp_launch_process *p = mp_launch_at(st->launch, i);
		proc_result *r = p->user;
		if (!r || !r->xml || (!mark && i > 0))
			continue;
		char path[4096];
		if (mark)
			snprintf(path, sizeof(path), "%.*s%d%s", (int)(mark - pattern), pattern,
				 (int)p->pid, mark + 2);
		else
			snprintf(path, sizeof(path), "%s", pattern);
		FILE *out = fopen(path, "w");
		if (!out)
			return mp_error_errno(errno, "cannot write %s", path);
		fwrite(r->xml, 1, r->xml_length, out);
		bool bad = ferror(out) != 0;
		if (fclose(out) != 0 || bad)
			return mp_error_errno(errno, "cannot write %s", path);
	}
	if (!mark && n > 1)
		fprintf(st->c->err, "memprof: --xml-file %s holds the root process only: put %%p in "
			"the name for one file per process\n", pattern);
	return NULL;
}

/* The tree's report once it is done: every process's object, in the
 * order they started, then the suppressions used and unused. */
typedef struct tree_report {
	run_state *st;
	size_t n, checked, leaked, failed;
	uint64_t blocks[5], bytes[5];
} tree_report;

static void tree_text(FILE *out, const mp_result *doc, void *context)
{
	(void)doc;
	const tree_report *t = context;
	const run_state *st = t->st;
	for (size_t i = 0; i < t->n; i++) {
		mp_launch_process *p = mp_launch_at(st->launch, i);
		proc_result *r = p->user;
		/* The tree: a section for each process with something to
		 * say; alone, the program always has its report. */
		if (st->follow && r->checked && !r->leaked && !r->failed)
			continue;
		if (st->follow && !r->checked && p->shares_parent_vm)
			continue;
		char fate[160], name[512];
		if (r->fate_known)
			describe_fate(fate, sizeof(fate), r->fate_status);
		else
			snprintf(fate, sizeof(fate), "still running (not followed any more)");
		if (st->follow) {
			command_line(p, st->c, name, sizeof(name));
			fprintf(out, "== pid %d (parent %d) %s: %s ==\n", (int)p->pid,
				(int)p->ppid, name, fate);
		} else {
			fprintf(out, "memprof run: pid %d (%s) %s\n", (int)p->pid,
				st->c->options->positional[0], fate);
		}
		if (r->checked && r->text)
			fwrite(r->text, 1, r->text_length, out);
		else
			fprintf(out, "not checked: %s\n", r->reason);
		if (st->follow)
			fputc('\n', out);
	}
	if (st->follow)
		total_line(out, t->n, t->checked, t->leaked, t->failed, t->blocks, t->bytes);
	if (st->have_suppressions) {
		for (size_t e = 0; e < st->suppressions.n; e++) {
			const mp_suppression *x = &st->suppressions.entries[e];
			if (x->used_blocks)
				fprintf(out, "used suppression: %" PRIu64 " blocks, %" PRIu64
					" bytes: %s (%s:%u)\n", x->used_blocks, x->used_bytes,
					x->name, x->file, x->line);
		}
		for (size_t e = 0; e < st->suppressions.n; e++) {
			const mp_suppression *x = &st->suppressions.entries[e];
			if (!x->used_blocks)
				fprintf(out, "unused suppression: %s (%s:%u)\n", x->name,
					x->file, x->line);
		}
	}
}

static mp_error *write_report(tree_report *t)
{
	run_state *st = t->st;
	mp_result doc;
	mp_result_init(&doc);
	mp_rnode processes = mp_result_array(&doc, MP_RESULT_ROOT, "processes");
	for (size_t i = 0; i < t->n; i++) {
		proc_result *r = mp_launch_at(st->launch, i)->user;
		if (r && r->built)
			mp_result_copy(&doc, processes, NULL, &r->object, MP_RESULT_ROOT);
	}
	if (st->have_suppressions)
		suppression_lists(&doc, &st->suppressions);
	mp_result_set_text_hook(&doc, tree_text, t);
	mp_error *err = mp_result_write(st->c->out, &doc, mp_command_result_format(st->c));
	mp_result_free(&doc);
	return err;
}

static int run_run(mp_command *c)
{
	run_state st = {.c = c};
	int status = mp_leaks_check_options(c, MP_FAIL_ON_DEFAULT, &st.fail_mask);
	if (status != MP_EXIT_OK)
		return status;
	if (c->target || c->options->core || c->options->pid) {
		fprintf(c->err, "memprof: run starts its own program: drop --core/--pid\n");
		return MP_EXIT_USAGE;
	}
	st.follow = mp_command_flag(c, "--follow-forks");
	long orphan_ms = 10000;
	const char *orphan = mp_command_value(c, "--orphan-timeout");
	if (orphan) {
		char *end = NULL;
		double seconds = strtod(orphan, &end);
		if (end == orphan || *end || !(seconds >= 0) || seconds > 86400) {
			fprintf(c->err, "memprof: --orphan-timeout takes seconds (0 to 86400), not '%s'\n",
				orphan);
			return MP_EXIT_USAGE;
		}
		orphan_ms = (long)(seconds * 1000);
	}
	for (size_t i = 0;; i++) {
		const char *path = mp_command_value_at(c, "--suppressions", i);
		if (!path)
			break;
		st.have_suppressions = true;
		mp_error *err = mp_suppressions_load(&st.suppressions, path);
		if (err) {
			mp_suppressions_free(&st.suppressions);
			return mp_command_fail(c, err);
		}
	}
	char **argv = calloc(c->options->n_positional + 1, sizeof(char *));
	if (!argv) {
		mp_suppressions_free(&st.suppressions);
		return mp_command_fail(c, mp_error_new(MP_ERR_NOMEM, "out of memory"));
	}
	memcpy(argv, c->options->positional, c->options->n_positional * sizeof(char *));
	st.started = mp_leak_phase_clock();
	mp_error *err = mp_launch_start(argv, st.follow, &st.launch);
	free(argv);
	if (err) {
		mp_suppressions_free(&st.suppressions);
		return mp_command_fail(c, err);
	}
	/* Without --follow-forks only the root is traced, so only its events
	 * come: the same loop serves both. */
	for (;;) {
		mp_launch_event event;
		err = mp_launch_next(st.launch, orphan_ms, &event);
		if (err || event.kind == MP_LAUNCH_DONE)
			break;
		if (event.kind == MP_LAUNCH_EXIT_STOP) {
			err = check_process(&st, event.process);
		} else {
			proc_result *r = result_of(event.process);
			if (!r)
				err = mp_error_nomem();
			else if (!r->fate_known || !WIFSIGNALED(r->fate_status)) {
				/* The reaped status is the final word; a process
				 * killed after its exit stop keeps its signal. */
				r->fate_status = event.process->wait_status;
				r->fate_known = true;
			}
		}
		if (err)
			break;
	}
	if (err) {
		for (size_t i = 0; i < mp_launch_count(st.launch); i++)
			result_free(mp_launch_at(st.launch, i)->user);
		mp_launch_free(st.launch);
		mp_suppressions_free(&st.suppressions);
		return mp_command_fail(c, err);
	}
	mp_launch_process *root = mp_launch_root(st.launch);
	size_t n = mp_launch_count(st.launch), checked = 0, leaked = 0, failed = 0;
	uint64_t blocks[5] = {0}, bytes[5] = {0};
	bool allocator_error = false;
	for (size_t i = 0; i < n; i++) {
		mp_launch_process *p = mp_launch_at(st.launch, i);
		proc_result *r = result_of(p);
		if (!r)
			continue;
		if (!r->checked && !r->reason)
			set_reason(r, p->detached ? "still running when memprof stopped following it"
						  : "the process vanished without an exit stop");
		if (!r->built) {
			/* Never checked: its object is built now, fate known. */
			build_object(&st, p, r, NULL, NULL, NULL, NULL);
		}
		checked += r->checked;
		leaked += r->leaked;
		failed += r->failed;
		allocator_error |= r->allocator_error;
		for (int k = 0; k < 5; k++) {
			blocks[k] += r->blocks[k];
			bytes[k] += r->bytes[k];
		}
	}
	proc_result *rr = root->user;
	if (!st.follow) {
		int unfollowed = mp_launch_unfollowed(st.launch);
		if (root->execs)
			fprintf(c->err, "memprof: the program called exec %d time%s: the image running at exit was checked\n",
				root->execs, root->execs == 1 ? "" : "s");
		if (unfollowed)
			fprintf(c->err, "memprof: the program forked %d time%s: only the first process (pid %d) was checked (--follow-forks checks them all)\n",
				unfollowed, unfollowed == 1 ? "" : "s", (int)root->pid);
	}
	tree_report report = {&st, n, checked, leaked, failed, {0}, {0}};
	memcpy(report.blocks, blocks, sizeof(blocks));
	memcpy(report.bytes, bytes, sizeof(bytes));
	err = write_report(&report);
	if (mp_command_flag(c, "--gen-suppressions")) {
		/* Beside a JSON report they go to stderr, keeping stdout one
		 * document. */
		FILE *gen = c->options->format == MP_FORMAT_JSON ? c->err : c->out;
		fprintf(gen, "# suppressions for what memprof run found (--gen-suppressions)\n");
		for (size_t i = 0; i < n; i++) {
			proc_result *r = mp_launch_at(st.launch, i)->user;
			if (r && r->gen)
				fwrite(r->gen, 1, r->gen_length, gen);
		}
	}
	const char *junit = mp_command_value(c, "--junit");
	if (junit && !err)
		err = write_junit(&st, junit);
	const char *xml_file = mp_command_value(c, "--xml-file");
	if (xml_file && !err)
		err = write_valgrind_xml(&st, xml_file);
	if (!st.follow && rr && !rr->checked)
		fprintf(c->err, "memprof: no leak check: %s\n", rr->reason);
	else if (st.follow && checked < n)
		fprintf(c->err, "memprof: %zu of %zu processes not checked (see their reasons)\n",
			n - checked, n);
	status = root->detached ? MP_EXIT_ERROR : exit_status_of(root->wait_status);
	/* An allocator memprof cannot read is a runtime error, not a pass: a
	 * CI job's --fail-on must not succeed on a heap nobody looked at. */
	if (allocator_error)
		status = MP_EXIT_ERROR;
	if (failed) {
		if (st.follow)
			fprintf(c->err, "memprof: leak check failed (--fail-on) in %zu process%s: exit status 3\n",
				failed, failed == 1 ? "" : "es");
		else
			fprintf(c->err, "memprof: leak check failed (--fail-on): exit status 3\n");
		status = MP_EXIT_CHECK_FAILED;
	}
	for (size_t i = 0; i < n; i++)
		result_free(mp_launch_at(st.launch, i)->user);
	mp_launch_free(st.launch);
	mp_suppressions_free(&st.suppressions);
	if (err)
		return mp_command_fail(c, err);
	return status;
}

static const char *const run_flags[] = {"--show-reachable", "--stats", "--follow-forks",
					"--gen-suppressions", NULL};
static const char *const run_valued[] = {"--fail-on", "--roots", "--threads", "--junit",
					 "--suppressions", "--orphan-timeout", "--xml-file", NULL};

const mp_verb mp_verb_run = {
	.name = "run",
	.summary = "run a program (or a process tree) at native speed and leak-check it at exit",
	.usage = "[--follow-forks] [--fail-on KINDS] [--roots strict|all] [--show-reachable]\n"
		 "       [--suppressions FILE]... [--gen-suppressions] [--junit FILE] [--xml-file FILE]\n"
		 "       [--orphan-timeout SECONDS] -- PROG [ARGS...]\n"
		 MP_FAIL_ON_HELP "\n                   without --fail-on, run checks the default set\n"
		 "  --follow-forks   check every process the program starts (fork, vfork, clone, exec)\n"
		 "  --suppressions FILE  leave out the blocks its entries match (docs/ci.md)\n"
		 "  --gen-suppressions   print an entry for each group found\n"
		 "  --junit FILE     JUnit XML: a test case per process, leaks as failures\n"
		 "  --xml-file FILE  leak records in valgrind's XML (protocol 4); %p in FILE: the pid\n"
		 "  --orphan-timeout SECONDS  how long processes left behind by the program are\n"
		 "                   still followed after it exits (default 10)",
	.formats = MP_FORMAT_TEXT | MP_FORMAT_JSON,
	.needs_target = false,
	.flags = run_flags,
	.valued = run_valued,
	.min_positional = 1,
	.max_positional = 64,
	.run = run_run,
};
