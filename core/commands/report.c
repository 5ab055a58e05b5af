/* `memprof report --html FILE`: one self-contained page from a core, a
 * live process or a set of snapshots.
 *
 * The report has no analysis of its own: it runs the verbs that have one
 * (heap, leaks, patterns, recommend, logical for each --root, diff of the
 * snapshots) through the engine on the same target, each writing its JSON
 * into memory, and the page renders those documents: the known ones in
 * views of their own, any other (--with VERB) in a generic view.  So the
 * report says exactly what the verbs say, in the CLI, GDB and LLDB alike. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "command.h"
#include "error.h"
#include "output/html_report.h"
#include "output/json.h"

enum { MAX_ARGS = 80 };

typedef struct buffer {
	char *text;
	size_t size;
	FILE *stream;
} buffer;

static bool buffer_open(buffer *b)
{
	b->text = NULL;
	b->size = 0;
	b->stream = open_memstream(&b->text, &b->size);
	return b->stream != NULL;
}

static void buffer_close(buffer *b)
{
	if (b->stream)
		fclose(b->stream);
	b->stream = NULL;
}

static void buffer_free(buffer *b)
{
	buffer_close(b);
	free(b->text);
	b->text = NULL;
}

/* Runs one verb on the report's target; on success *json is its JSON
 * document, else *json is NULL and *error its message (both malloc'd). */
static int run_verb(mp_command *c, char **argv, int argc, char **json, char **error)
{
	*json = *error = NULL;
	mp_host host = {.name = "report"};
	if (c->host)
		host = *c->host;
	host.target = c->target;
	host.open_target = NULL;
	buffer out, err;
	if (!buffer_open(&out))
		return MP_EXIT_ERROR;
	if (!buffer_open(&err)) {
		buffer_free(&out);
		return MP_EXIT_ERROR;
	}
	int status = mp_command_run(argc, argv, &host, out.stream, err.stream);
	buffer_close(&out);
	buffer_close(&err);
	if (status == MP_EXIT_OK || status == MP_EXIT_CHECK_FAILED) {
		*json = out.text;
		out.text = NULL;
		status = MP_EXIT_OK;
	} else {
		/* The verb's own one line, without its "memprof: " and warnings. */
		char *line = err.text ? err.text : "";
		char *last = NULL;
		for (char *p = line; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
			if (strncmp(p, "memprof: warning:", 17) != 0)
				last = p;
		if (!last)
			last = line;
		size_t n = strcspn(last, "\n");
		if (strncmp(last, "memprof: ", 9) == 0) {
			last += 9;
			n -= 9;
		}
		*error = strndup(last, n);
	}
	buffer_free(&out);
	buffer_free(&err);
	return status;
}

/* Appends "name": <the verb's JSON> (or {"error": message}) to data; no
 * name: an array element. */
static void add_section(FILE *data, const char *name, const char *json, const char *error,
			bool *first)
{
	if (!*first)
		fputs(",\n", data);
	*first = false;
	mp_json j;
	mp_json_init(&j, data, false);
	if (name) {
		mp_json_string(&j, name);
		fputs(": ", data);
	}
	if (json) {
		fputs(json, data);
		return;
	}
	mp_json_init(&j, data, false);
	mp_json_begin_object(&j);
	mp_json_key(&j, "error");
	mp_json_string(&j, error ? error : "no answer");
	mp_json_end_object(&j);
}

/* Verbs a --with cannot run: the report itself, and those that start or
 * follow processes rather than read the target. */
static const char *const not_with[] = {"report", "run", "watch", NULL};

/* Splits text in place into words at blanks; a word in double or single
 * quotes keeps its blanks ("type 'struct point'").  Returns the count. */
static int split_words(char *text, char **argv, int max)
{
	int argc = 0;
	char *in = text;
	while (argc < max) {
		while (*in == ' ' || *in == '\t')
			in++;
		if (!*in)
			break;
		char *out = in;
		argv[argc++] = out;
		char quote = 0;
		for (; *in && (quote || (*in != ' ' && *in != '\t')); in++) {
			if (!quote && (*in == '"' || *in == '\''))
				quote = *in;
			else if (quote && *in == quote)
				quote = 0;
			else
				*out++ = *in;
		}
		if (*in)
			in++;
		*out = '\0';
	}
	return argc;
}

/* Runs a --with command, "VERB [ARGS...]" (split_words), with --format
 * json added: as run_verb. */
static int with_command(mp_command *c, const char *command, char **json, char **error)
{
	*json = *error = NULL;
	char *copy = strdup(command);
	if (!copy)
		return MP_EXIT_ERROR;
	char *argv[MAX_ARGS];
	int argc = split_words(copy, argv, MAX_ARGS - 2);
	int status = MP_EXIT_USAGE;
	bool refused = argc == 0;
	for (size_t i = 0; !refused && not_with[i]; i++)
		refused = strcmp(argv[0], not_with[i]) == 0;
	if (refused) {
		if (asprintf(error, "--with '%s': the report runs verbs that read the target, not %s",
			     command, argc ? argv[0] : "an empty command") < 0)
			*error = NULL;
	} else {
		argv[argc++] = "--format";
		argv[argc++] = "json";
		status = run_verb(c, argv, argc, json, error);
	}
	free(copy);
	return status;
}

/* Appends "name": "value". */
static void add_string(FILE *data, const char *name, const char *value, bool *first)
{
	if (!*first)
		fputs(",\n", data);
	*first = false;
	mp_json j;
	mp_json_init(&j, data, false);
	mp_json_string(&j, name);
	fputs(": ", data);
	mp_json_init(&j, data, false);
	mp_json_string(&j, value ? value : "");
}

static int run_report(mp_command *c)
{
	const char *html = mp_command_value(c, "--html");
	if (!html) {
		fprintf(c->err, "memprof: report needs --html FILE (see memprof report --help)\n");
		return MP_EXIT_USAGE;
	}
	size_t n_snapshots = 0, n_roots = 0;
	while (mp_command_value_at(c, "--snapshot", n_snapshots))
		n_snapshots++;
	while (mp_command_value_at(c, "--root", n_roots))
		n_roots++;
	if (n_snapshots + 2 > MAX_ARGS) {
		fprintf(c->err, "memprof: report takes at most %d snapshots\n", MAX_ARGS - 2);
		return MP_EXIT_USAGE;
	}
	if (n_snapshots && n_roots) {
		fprintf(c->err, "memprof: --root needs a target: a snapshot has no variables to walk\n");
		return MP_EXIT_USAGE;
	}
	const char *last = n_snapshots ? mp_command_value_at(c, "--snapshot", n_snapshots - 1) : NULL;

	buffer data;
	if (!buffer_open(&data))
		return mp_command_fail(c, mp_error_nomem());
	FILE *d = data.stream;
	bool first = true;
	fputc('{', d);
	time_t now = time(NULL);
	char when[64] = "";
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", gmtime(&now));
	add_string(d, "version", MEMPROF_VERSION, &first);
	add_string(d, "generated", when, &first);
	add_string(d, "target", c->target ? mp_target_description(c->target) : last, &first);

	char *json, *error;
	int status;
	/* The heap first: without it there is no report (an allocator memprof
	 * cannot read, a target it cannot open), and its error is the report's. */
	if (last) {
		char *argv[] = {"snapshot", "show", (char *)last, "--format", "json"};
		status = run_verb(c, argv, 5, &json, &error);
	} else {
		char *argv[] = {"heap", "--format", "json"};
		status = run_verb(c, argv, 3, &json, &error);
	}
	if (status != MP_EXIT_OK) {
		fprintf(c->err, "memprof: no report: %s\n", error ? error : "the heap could not be read");
		free(error);
		buffer_free(&data);
		return status;
	}
	add_section(d, "heap", json, NULL, &first);
	free(json);

	if (!last) {
		char *argv[] = {"leaks", "--format", "json"};
		run_verb(c, argv, 3, &json, &error);
		add_section(d, "leaks", json, error, &first);
		free(json);
		free(error);
	}

	/* patterns and recommend: on the target, or on the snapshots (all of
	 * them for recommend, whose growth findings need the series). */
	char *argv[MAX_ARGS];
	int argc = 0;
	argv[argc++] = "patterns";
	if (last) {
		argv[argc++] = "--snapshot";
		argv[argc++] = (char *)last;
	}
	argv[argc++] = "--format";
	argv[argc++] = "json";
	run_verb(c, argv, argc, &json, &error);
	add_section(d, "patterns", json, error, &first);
	free(json);
	free(error);

	argc = 0;
	argv[argc++] = "recommend";
	for (size_t i = 0; i < n_snapshots && argc + 4 < MAX_ARGS; i++) {
		argv[argc++] = "--snapshot";
		argv[argc++] = (char *)mp_command_value_at(c, "--snapshot", i);
	}
	const char *limit = mp_command_value(c, "--limit");
	if (limit) {
		argv[argc++] = "--limit";
		argv[argc++] = (char *)limit;
	}
	argv[argc++] = "--format";
	argv[argc++] = "json";
	run_verb(c, argv, argc, &json, &error);
	add_section(d, "recommend", json, error, &first);
	free(json);
	free(error);

	if (n_snapshots >= 2) {
		argc = 0;
		argv[argc++] = "diff";
		for (size_t i = 0; i < n_snapshots; i++)
			argv[argc++] = (char *)mp_command_value_at(c, "--snapshot", i);
		argv[argc++] = "--format";
		argv[argc++] = "json";
		run_verb(c, argv, argc, &json, &error);
		add_section(d, "diff", json, error, &first);
		free(json);
		free(error);
	}

	/* --with: any other verb, its JSON shown by the page's generic view
	 * (objects as lists of members, arrays of objects as tables), so a
	 * verb needs no renderer of its own to be in the report. */
	fputs(",\n\"more\": {", d);
	bool first_more = true;
	const char *with;
	for (size_t i = 0; (with = mp_command_value_at(c, "--with", i)); i++) {
		bool seen = false;
		for (size_t k = 0; k < i && !seen; k++)
			seen = strcmp(mp_command_value_at(c, "--with", k), with) == 0;
		if (seen)
			continue;
		json = error = NULL;
		if (with_command(c, with, &json, &error) != MP_EXIT_OK && !error)
			error = strdup("no answer");
		add_section(d, with, json, error, &first_more);
		free(json);
		free(error);
	}
	fputc('}', d);

	fputs(",\n\"logical\": [", d);
	bool first_root = true;
	for (size_t i = 0; i < n_roots; i++) {
		char *walk[] = {"logical", (char *)mp_command_value_at(c, "--root", i),
				"--format", "json"};
		run_verb(c, walk, 4, &json, &error);
		if (error) {
			/* Which root failed, beside why. */
			char *named = NULL;
			if (asprintf(&named, "%s: %s", walk[1], error) >= 0) {
				free(error);
				error = named;
			}
		}
		add_section(d, NULL, json, error, &first_root);
		free(json);
		free(error);
	}
	fputs("]}", d);
	buffer_close(&data);

	mp_error *err = data.text ? mp_html_report_write(html, data.text) : mp_error_nomem();
	size_t size = data.size;
	buffer_free(&data);
	if (err)
		return mp_command_fail(c, err);
	fprintf(c->out, "memprof report: %s written (%zu KiB of data, %zu root%s%s)\n", html,
		(size + 1023) / 1024, n_roots, n_roots == 1 ? "" : "s",
		n_snapshots ? ", from snapshots" : "");
	return MP_EXIT_OK;
}

static const char *const report_valued[] = {"--html", "--root", "--snapshot", "--limit", "--with",
					    NULL};

const mp_verb mp_verb_report = {
	.name = "report",
	.summary = "one self-contained HTML page: summary, leaks, size histogram, patterns, recommendations, flamegraphs, growth",
	.usage = "--html FILE [--root ROOT ...] [--snapshot FILE ...] [--limit SIZE] [--with 'VERB ARGS' ...]\n"
		 "  from the target (--core, --pid, the debugger's) or from snapshots (oldest first:\n"
		 "  the last one's heap and patterns, growth over all of them); --root: a logical\n"
		 "  flamegraph of that ROOT (repeatable); open the page in any browser, no network\n"
		 "  --with 'VERB [ARGS]': also that verb's JSON, shown generically (repeatable)",
	.formats = MP_FORMAT_TEXT,
	.needs_target = true,
	.target_unless = "--snapshot",
	.valued = report_valued,
	.run = run_report,
};
