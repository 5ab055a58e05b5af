/* `memprof logical ROOT`: where a data structure's memory goes, by field
 * path, as folded stacks (default), JSON, text or an SVG flamegraph.
 * ROOT: a global or static variable (`instance`, `ns::var`,
 * `crate::STATIC`, `libfoo.so:var`), a member/index chain over one
 * (`registry.items[3]`, `ctx->instance`) or `ADDR:TYPE`. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "analysis/hints.h"
#include "analysis/logical.h"
#include "analysis/root_expr.h"
#include "command.h"
#include "command_result.h"
#include "error.h"
#include "output/folded.h"
#include "output/result.h"

enum metric { METRIC_LOGICAL, METRIC_ALLOCATED, METRIC_SLACK, METRIC_COUNT };
static const char *const metric_names[] = {"logical", "allocated", "slack", "count"};

typedef mp_root root_spec;

static uint64_t metric_value(enum metric m, const mp_logical_node *n)
{
	switch (m) {
	case METRIC_LOGICAL: return n->logical;
	case METRIC_ALLOCATED: return n->allocated;
	case METRIC_SLACK: return n->allocated - n->logical;
	default: return n->count;
	}
}

/* ROOT: VARIABLE, a chain over it, MODULE:VARIABLE or ADDRESS:TYPE
 * (analysis/root_expr.c). */
static mp_error *resolve_root(mp_target *target, const char *text, root_spec *r)
{
	return mp_root_resolve(target, text, r);
}

static bool parse_count(const char *text, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(text, &end, 10);
	if (errno || end == text || *end || text[0] == '-')
		return false;
	*out = v;
	return true;
}

/* Leaves as folded lines for the metric; *n_out lines, caller frees. */
static mp_error *folded_lines(const mp_logical *l, enum metric m,
			      mp_folded_line **out, size_t *n_out)
{
	size_t n = mp_logical_node_count(l);
	size_t *path_length = calloc(n ? n : 1, sizeof(*path_length));
	mp_folded_line *lines = calloc(n ? n : 1, sizeof(*lines));
	if (!path_length || !lines) {
		free(path_length);
		free(lines);
		return mp_error_nomem();
	}
	for (size_t i = 0; i < n; i++) {
		const mp_logical_node *node = mp_logical_node_at(l, i);
		size_t own = strlen(node->name);
		path_length[i] = node->parent == UINT32_MAX ? own
							    : path_length[node->parent] + 1 + own;
	}
	size_t k = 0;
	mp_error *err = NULL;
	for (size_t i = 0; i < n && !err; i++) {
		const mp_logical_node *node = mp_logical_node_at(l, i);
		uint64_t value = metric_value(m, node);
		if (!value)
			continue;
		char *s = malloc(path_length[i] + 1);
		if (!s) {
			err = mp_error_nomem();
			break;
		}
		size_t end = path_length[i];
		s[end] = '\0';
		for (size_t c = i;; c = mp_logical_node_at(l, c)->parent) {
			const mp_logical_node *cn = mp_logical_node_at(l, c);
			size_t own = strlen(cn->name);
			end -= own;
			memcpy(s + end, cn->name, own);
			if (cn->parent == UINT32_MAX)
				break;
			s[--end] = ';';
		}
		lines[k].stack = s;
		lines[k++].value = value;
	}
	free(path_length);
	if (err) {
		for (size_t i = 0; i < k; i++)
			free(lines[i].stack);
		free(lines);
		return err;
	}
	*n_out = mp_folded_normalize(lines, k);
	*out = lines;
	return NULL;
}

static void free_lines(mp_folded_line *lines, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(lines[i].stack);
	free(lines);
}

static int by_value_desc(const void *a, const void *b)
{
	const mp_folded_line *x = a, *y = b;
	if (x->value != y->value)
		return x->value < y->value ? 1 : -1;
	return strcmp(x->stack, y->stack);
}

static const char *unit_of(enum metric m)
{
	return m == METRIC_COUNT ? "blocks" : "bytes";
}

static void write_text(FILE *out, const mp_target *target, const mp_logical *l,
		       const root_spec *r,
		       enum metric m, mp_folded_line *lines, size_t n, size_t top)
{
	uint64_t logical, allocated, count;
	mp_logical_subtree(l, 0, &logical, &allocated, &count);
	uint64_t total = 0;
	for (size_t i = 0; i < n; i++)
		total += lines[i].value;
	fprintf(out, "%s (%s) at 0x%" PRIx64 "%s\n", r->name, mp_type_name(r->type),
		r->address, mp_logical_partial(l) ? "  [partial]" : "");
	fprintf(out, "logical %" PRIu64 " bytes, allocated %" PRIu64 " bytes, slack %" PRIu64
		" bytes, %" PRIu64 " heap blocks\n\n", logical, allocated, allocated - logical,
		count);
	/* The root's members, largest first by the metric. */
	size_t nodes = mp_logical_node_count(l), n_members = 0;
	size_t *members = calloc(nodes ? nodes : 1, sizeof(*members));
	for (size_t i = 1; members && i < nodes; i++) {
		uint64_t a, b, cnt;
		mp_logical_subtree(l, i, &a, &b, &cnt);
		if (mp_logical_node_at(l, i)->parent == 0 && (a || b || cnt))
			members[n_members++] = i;
	}
	for (size_t i = 1; i < n_members; i++) {   /* insertion sort: few members */
		size_t x = members[i], k = i;
		uint64_t xl, xa, xc, yl, ya, yc;
		mp_logical_subtree(l, x, &xl, &xa, &xc);
		for (; k > 0; k--) {
			mp_logical_subtree(l, members[k - 1], &yl, &ya, &yc);
			uint64_t xv = m == METRIC_ALLOCATED ? xa : m == METRIC_SLACK ? xa - xl : m == METRIC_COUNT ? xc : xl;
			uint64_t yv = m == METRIC_ALLOCATED ? ya : m == METRIC_SLACK ? ya - yl : m == METRIC_COUNT ? yc : yl;
			if (yv >= xv)
				break;
			members[k] = members[k - 1];
		}
		members[k] = x;
	}
	if (n_members) {
		fprintf(out, "%-28s %12s %12s %12s %9s %7s\n", "member", "logical", "allocated",
			"slack", "blocks", "share");
		for (size_t i = 0; i < n_members; i++) {
			uint64_t a, b, cnt;
			mp_logical_subtree(l, members[i], &a, &b, &cnt);
			uint64_t v = m == METRIC_ALLOCATED ? b : m == METRIC_SLACK ? b - a : m == METRIC_COUNT ? cnt : a;
			fprintf(out, "%-28s %12" PRIu64 " %12" PRIu64 " %12" PRIu64 " %9" PRIu64 " %6.2f%%\n",
				mp_logical_node_at(l, members[i])->name, a, b, b - a, cnt,
				total ? 100.0 * (double)v / (double)total : 0.0);
		}
		fputc('\n', out);
	}
	free(members);
	qsort(lines, n, sizeof(*lines), by_value_desc);
	fprintf(out, "%14s %7s  path (--metric %s)\n", unit_of(m), "share", metric_names[m]);
	for (size_t i = 0; i < n && i < top; i++)
		fprintf(out, "%14" PRIu64 " %6.2f%%  %s\n", lines[i].value,
			total ? 100.0 * (double)lines[i].value / (double)total : 0.0,
			lines[i].stack);
	if (n > top)
		fprintf(out, "... %zu more paths (--top N, or --format folded for all)\n", n - top);
	mp_text_warnings warnings = {0};
	mp_text_warnings_add_target(&warnings, target);
	for (size_t i = 0; i < mp_logical_warning_count(l); i++)
		mp_text_warnings_add(&warnings, mp_logical_warning(l, i));
	mp_text_warnings_write(out, &warnings, mp_logical_partial(l) || mp_target_partial(target));
}

/* --explain: per pointer member reached, the rule that gave its length or
 * why it stayed one element, with its path. */
static void write_explain(FILE *out, const mp_logical *l, const mp_command *c)
{
	size_t n = mp_logical_node_count(l);
	/* The hint files in force (docs/logical.md, Hints). */
	size_t n_hints = mp_hints_source_count(c->hints);
	fprintf(out, "\nhints (--explain): %s\n", n_hints ? "the files in force" : "none");
	for (size_t i = 0; i < n_hints; i++)
		fprintf(out, "  %s\n", mp_hints_source_at(c->hints, i));
	fprintf(out, "\nlengths (--explain): how each pointer member was sized\n");
	size_t shown = 0;
	for (size_t i = 0; i < n; i++) {
		const mp_logical_node *node = mp_logical_node_at(l, i);
		if (!node->length_from)
			continue;
		/* The path, root first, from the parent links (bounded by depth). */
		const char *parts[128];
		size_t k = 0;
		for (size_t c = i; k < 128; c = mp_logical_node_at(l, c)->parent) {
			parts[k++] = mp_logical_node_at(l, c)->name;
			if (mp_logical_node_at(l, c)->parent == UINT32_MAX)
				break;
		}
		fputs("  ", out);
		while (k--)
			fprintf(out, "%s%s", parts[k], k ? ";" : "");
		fprintf(out, ": %s%s\n", node->length_from,
			node->length_mixed ? " (other objects of this path: another rule)" : "");
		shown++;
	}
	if (!shown)
		fprintf(out, "  no pointer member reached a heap block\n");
}

/* A line of /proc/self/status in bytes ("RssAnon", "VmHWM"), 0 if absent. */
static uint64_t self_status(const char *key)
{
	FILE *f = fopen("/proc/self/status", "r");
	if (!f)
		return 0;
	char line[256];
	uint64_t value = 0;
	size_t n = strlen(key);
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, key, n) == 0 && line[n] == ':') {
			value = strtoull(line + n + 1, NULL, 10) * 1024;
			break;
		}
	}
	fclose(f);
	return value;
}

/* The JSON of docs/logical.md: the root, totals, the walk's own costs
 * and the tree, a node per field path with its parent's id. */
static void logical_result(mp_result *r, const mp_logical *l, const root_spec *root,
			   enum metric m, double seconds, uint64_t rss_anon, const mp_command *c)
{
	mp_result_string(r, MP_RESULT_ROOT, "root", root->name);
	mp_result_string(r, MP_RESULT_ROOT, "type", mp_type_name(root->type));
	mp_result_hex(r, MP_RESULT_ROOT, "address", root->address);
	mp_result_string(r, MP_RESULT_ROOT, "module", root->module);
	mp_result_string(r, MP_RESULT_ROOT, "metric", metric_names[m]);
	mp_result_bool(r, MP_RESULT_ROOT, "partial", mp_logical_partial(l));
	mp_rnode hints = mp_result_array(r, MP_RESULT_ROOT, "hints_files");
	for (size_t i = 0; i < mp_hints_source_count(c->hints); i++)
		mp_result_string(r, hints, NULL, mp_hints_source_at(c->hints, i));
	mp_rnode warnings = mp_result_array(r, MP_RESULT_ROOT, "warnings");
	for (size_t i = 0; i < mp_logical_warning_count(l); i++)
		mp_result_string(r, warnings, NULL, mp_logical_warning(l, i));
	uint64_t logical, allocated, count;
	mp_logical_subtree(l, 0, &logical, &allocated, &count);
	mp_rnode total = mp_result_object(r, MP_RESULT_ROOT, "total");
	mp_result_uint(r, total, "logical", logical);
	mp_result_uint(r, total, "allocated", allocated);
	mp_result_uint(r, total, "slack", allocated - logical);
	mp_result_uint(r, total, "count", count);
	const mp_logical_stats *st = mp_logical_get_stats(l);
	mp_rnode stats = mp_result_object(r, MP_RESULT_ROOT, "stats");
	mp_result_uint(r, stats, "blocks", st->blocks);
	mp_result_uint(r, stats, "objects", st->objects);
	mp_result_uint(r, stats, "work_peak", st->work_peak);
	mp_result_uint(r, stats, "walk_bytes", st->work_bytes);
	mp_result_uint(r, stats, "microseconds", (uint64_t)(seconds * 1e6));
	mp_result_uint(r, stats, "rss_anon_bytes", rss_anon);
	/* The tree: frames in preorder-compatible creation order, each with its
	 * parent's id, so any depth fits. */
	mp_rnode nodes = mp_result_array(r, MP_RESULT_ROOT, "nodes");
	size_t n = mp_logical_node_count(l);
	uint32_t *id = malloc((n ? n : 1) * sizeof(*id));
	uint32_t next = 0;
	for (size_t i = 0; i < n; i++) {
		const mp_logical_node *node = mp_logical_node_at(l, i);
		uint64_t sl, sa, sc;
		mp_logical_subtree(l, i, &sl, &sa, &sc);
		if (id)
			id[i] = UINT32_MAX;
		if (!sl && !sa && !sc)
			continue;
		if (id)
			id[i] = next;
		mp_rnode o = mp_result_object(r, nodes, NULL);
		mp_result_uint(r, o, "id", next++);
		if (node->parent == UINT32_MAX || !id)
			mp_result_null(r, o, "parent");
		else
			mp_result_uint(r, o, "parent", id[node->parent]);
		mp_result_string(r, o, "name", node->name);
		mp_result_uint(r, o, "depth", node->depth);
		mp_result_uint(r, o, "logical", sl);
		mp_result_uint(r, o, "allocated", sa);
		mp_result_uint(r, o, "count", sc);
		mp_result_bool(r, o, "leaf", node->logical == sl && node->allocated == sa && node->count == sc);
		if (node->length_from) {
			mp_result_string(r, o, "length_from", node->length_from);
			if (node->length_mixed)
				mp_result_bool(r, o, "length_mixed", true);
		}
	}
	free(id);
}

/* The text: members and top paths from the folded lines, then, with
 * --explain, how each pointer member was sized. */
typedef struct text_context {
	mp_command *command;
	const mp_logical *logical;
	const root_spec *root;
	enum metric metric;
	mp_folded_line *lines;
	size_t n_lines, top;
} text_context;

static void logical_text(FILE *out, const mp_result *r, void *context)
{
	(void)r;
	const text_context *t = context;
	write_text(out, t->command->target, t->logical, t->root, t->metric, t->lines, t->n_lines,
		   t->top);
	if (mp_command_flag(t->command, "--explain"))
		write_explain(out, t->logical, t->command);
}

static mp_error *write_result(mp_command *c, const mp_logical *l, const root_spec *root,
			      enum metric m, double seconds, uint64_t rss_anon, size_t top)
{
	text_context text = {c, l, root, m, NULL, 0, top};
	mp_error *err = NULL;
	if (c->options->format == MP_FORMAT_TEXT)
		err = folded_lines(l, m, &text.lines, &text.n_lines);
	if (err)
		return err;
	mp_result r;
	mp_result_init(&r);
	logical_result(&r, l, root, m, seconds, rss_anon, c);
	mp_result_set_text_hook(&r, logical_text, &text);
	err = mp_result_write(c->out, &r, mp_command_result_format(c));
	mp_result_free(&r);
	if (text.lines)
		free_lines(text.lines, text.n_lines);
	return err;
}

static int run_logical(mp_command *c)
{
	enum metric m = METRIC_LOGICAL;
	const char *metric = mp_command_value(c, "--metric");
	if (metric) {
		size_t k = 0;
		while (k < 4 && strcmp(metric, metric_names[k]) != 0)
			k++;
		if (k == 4)
			return mp_command_fail(c, mp_error_new(MP_ERR_USAGE,
				"unknown --metric '%s' (logical, allocated, slack, count)", metric));
		m = (enum metric)k;
	}
	mp_logical_options options = {0};
	uint64_t value;
	const char *text = mp_command_value(c, "--max-objects");
	if (text) {
		if (!parse_count(text, &value) || !value)
			return mp_command_fail(c, mp_error_new(MP_ERR_USAGE,
				"--max-objects needs a positive count, not '%s'", text));
		options.max_objects = value;
	}
	text = mp_command_value(c, "--max-depth");
	if (text) {
		if (!parse_count(text, &value) || !value || value > 100000)
			return mp_command_fail(c, mp_error_new(MP_ERR_USAGE,
				"--max-depth needs a count from 1 to 100000, not '%s'", text));
		options.max_depth = (uint32_t)value;
	}
	size_t top = 20;
	text = mp_command_value(c, "--top");
	if (text) {
		if (!parse_count(text, &value) || !value)
			return mp_command_fail(c, mp_error_new(MP_ERR_USAGE,
				"--top needs a positive count, not '%s'", text));
		top = (size_t)value;
	}
	if (c->host) {
		options.interrupted = c->host->interrupted;
		options.context = c->host->context;
	}

	root_spec root;
	mp_error *e = resolve_root(c->target, c->options->positional[0], &root);
	if (e)
		return mp_command_fail(c, e);
	/* Debuggers hand over ADDRESS:TYPE for an expression and its text as
	 * the name, so the flamegraph's root reads as the user typed it. */
	const char *root_name = mp_command_value(c, "--name");
	if (root_name)
		snprintf(root.name, sizeof(root.name), "%s", root_name);
	const char *member = mp_command_value(c, "--member");
	if (member)
		snprintf(root.member, sizeof(root.member), "%s", member);
	options.member = root.member[0] ? root.member : NULL;
	mp_heap *heap = NULL;
	mp_heap_options heap_options = mp_command_heap_options(c);
	e = mp_heap_open(c->target, &heap_options, &heap);
	/* Without a heap the walk still sizes the root, but an allocator
	 * memprof cannot read is refused outright: its blocks would all count
	 * as bare pointers, an answer that looks whole and is not. */
	if (e && (mp_error_code(e) == MP_ERR_INTERRUPTED ||
		  mp_error_code(e) == MP_ERR_ALLOCATOR))
		return mp_command_fail(c, e);
	if (e) {
		fprintf(c->err, "memprof: warning: no heap (%s): pointers are counted "
			"as themselves only\n", mp_error_message(e));
		mp_error_free(e);
		heap = NULL;
	}
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	mp_logical *l = NULL;
	e = mp_logical_walk(c->target, heap, root.address, root.type, root.name, &options, &l);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	/* memprof's own anonymous memory with the snapshot and the walk alive
	 * (core pages read through the file mapping are not counted). */
	uint64_t rss_anon = self_status("RssAnon");
	if (e) {
		mp_heap_free(heap);
		return mp_command_fail(c, e);
	}
	double seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	int status = MP_EXIT_OK;
	if (c->options->format == MP_FORMAT_JSON || c->options->format == MP_FORMAT_TEXT) {
		e = write_result(c, l, &root, m, seconds, rss_anon, top);
		if (e)
			status = mp_command_fail(c, e);
	} else {
		/* Folded stacks and the flamegraph are no result's formats:
		 * they are written from the folded lines themselves. */
		mp_folded_line *lines = NULL;
		size_t n = 0;
		e = folded_lines(l, m, &lines, &n);
		if (e) {
			status = mp_command_fail(c, e);
		} else if (c->options->format == MP_FORMAT_SVG) {
			char title[700], subtitle[256];
			snprintf(title, sizeof(title), "memprof logical %s (%s)", root.name,
				 metric_names[m]);
			uint64_t lb, ab, cb;
			mp_logical_subtree(l, 0, &lb, &ab, &cb);
			snprintf(subtitle, sizeof(subtitle), "%s at 0x%" PRIx64 ": logical %" PRIu64
				 " bytes, allocated %" PRIu64 " bytes, %" PRIu64 " blocks%s",
				 mp_type_name(root.type), root.address, lb, ab, cb,
				 mp_logical_partial(l) ? " (partial)" : "");
			mp_flamegraph_options fo = {.title = title, .unit = unit_of(m),
						    .subtitle = subtitle};
			e = mp_flamegraph_svg(c->out, lines, n, &fo);
			if (e)
				status = mp_command_fail(c, e);
		} else {
			mp_folded_write(c->out, lines, n);
		}
		if (lines)
			free_lines(lines, n);
	}
	if (status == MP_EXIT_OK && c->options->format != MP_FORMAT_TEXT &&
	    c->options->format != MP_FORMAT_JSON) {
		/* Folded and SVG output stay machine-readable: the explanation
		 * goes beside the warnings. */
		if (mp_command_flag(c, "--explain"))
			write_explain(c->err, l, c);
		for (size_t i = 0; i < mp_logical_warning_count(l); i++)
			fprintf(c->err, "memprof: warning: %s\n", mp_logical_warning(l, i));
		if (mp_logical_partial(l))
			fprintf(c->err, "memprof: warning: the result is partial\n");
	}
	mp_logical_free(l);
	mp_heap_free(heap);
	return status;
}

static const char *const logical_flags[] = {"--explain", NULL};

static const char *const logical_valued[] = {
	"--metric", "--max-objects", "--max-depth", "--top", "--name", "--member", NULL,
};

const mp_verb mp_verb_logical = {
	.name = "logical",
	.summary = "bytes of a data structure by field path, from its DWARF type (folded, flamegraph)",
	.usage = "ROOT [--metric logical|allocated|slack|count] [--max-objects N] "
		 "[--max-depth N] [--top N] [--explain] [--name NAME] [--member M]\n"
		 "  ROOT: VARIABLE, VARIABLE.member, VARIABLE->member, VARIABLE[i] (any chain),\n"
		 "  MODULE:VARIABLE or ADDRESS:TYPE (in GDB and LLDB: any expression);\n"
		 "  --name: the root frame's name; --member: only that member of ROOT's struct\n"
		 "  (a chain ending in a pointer member does this); output: --format folded\n"
		 "  (the default: frame;frame COUNT lines for flamegraph.pl, inferno, speedscope),\n"
		 "  json (the tree), text (members and top paths) or svg (a flamegraph);\n"
		 "  --explain (text): which rule sized each pointer member (JSON: length_from)",
	.formats = MP_FORMAT_FOLDED | MP_FORMAT_JSON | MP_FORMAT_TEXT | MP_FORMAT_SVG,
	.default_format = MP_FORMAT_FOLDED,
	.needs_target = true,
	.flags = logical_flags,
	.valued = logical_valued,
	.min_positional = 1,
	.max_positional = 1,
	.run = run_logical,
};
