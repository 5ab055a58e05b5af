/* `memprof diff`: what changed between saved snapshots (new, freed and
 * surviving blocks, rates, lifetimes, growth findings), or between two
 * folded profiles or two heap/leaks JSON reports (diff_profiles.c).  The
 * kind of input is read from the files themselves. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/heap_diff.h"
#include "analysis/owner_paths.h"
#include "analysis/pattern_input.h"
#include "analysis/snapshot_blocks.h"
#include "command.h"
#include "command_result.h"
#include "diff_inputs.h"
#include "diff_thresholds.h"
#include "patterns_section.h"
#include "error.h"
#include "heap/heap_internal.h"
#include "output/result.h"

enum { TEXT_ROWS = 20 };

/* ------------------------------------------------------------- loading */

/* The names and blocks of one snapshot file, for mp_heap_diff_add. */
typedef struct loaded {
	mp_diff_input input;
	mp_pattern_input patterns;
	mp_owner_paths owners;
	char *target;
} loaded;

static void loaded_free(loaded *l)
{
	mp_owner_paths_free(&l->owners);
	free((void *)l->input.names);
	free(l->input.blocks);
	free(l->target);
	mp_pattern_input_free(&l->patterns);
}

static const heap_section *section_of(const heap_section *s, size_t n, uint32_t tag)
{
	for (size_t i = 0; i < n; i++)
		if (s[i].tag == tag)
			return &s[i];
	return NULL;
}

mp_error *mp_diff_load_snapshot(const char *path, mp_heap_diff *diff)
{
	loaded l;
	memset(&l, 0, sizeof(l));
	mp_heap *h = NULL;
	heap_section *sections = NULL;
	size_t n_sections = 0;
	mp_snapshot_blocks blocks = {0};
	mp_error *err = heap_load_with(path, &h, &sections, &n_sections);
	if (err)
		return err;
	const heap_section *patt = section_of(sections, n_sections, HEAP_SECTION_PATTERNS);
	const heap_section *blks = section_of(sections, n_sections, HEAP_SECTION_BLOCKS);
	if (!patt || !blks) {
		err = mp_error_new(MP_ERR_NOT_FOUND,
				   "snapshot %s has no per-block types and hashes (saved with --heap-only, or by a memprof before diff): save it again",
				   path);
		goto done;
	}
	err = mp_pattern_input_decode(patt->data, patt->size, h->n_chunks, &l.patterns);
	if (!err)
		err = mp_snapshot_blocks_decode(blks->data, blks->size, h->n_chunks, &blocks);
	/* Owner paths are optional: snapshots saved before them diff by type
	 * only; a section of a newer version is refused. */
	const heap_section *ownr = section_of(sections, n_sections, HEAP_SECTION_OWNERS);
	if (!err && ownr)
		err = mp_owner_paths_decode(ownr->data, ownr->size, &l.owners);
	for (size_t i = 0; !err && ownr && i < h->n_chunks; i++)
		if (blocks.owner[i] > l.owners.n_paths)
			err = mp_error_new(MP_ERR_FORMAT,
					   "its blocks section names owner path %u of %zu (chunk %#llx)",
					   blocks.owner[i], l.owners.n_paths,
					   (unsigned long long)h->chunks[i].address);
	if (err) {
		err = mp_error_prefix(err, "snapshot %s", path);
		goto done;
	}
	/* Every block in use, the unreadable ones too (in_use_blocks counts
	 * only those read; they are "unknown" here). */
	size_t n_blocks = 0;
	for (size_t i = 0; i < h->n_chunks; i++)
		n_blocks += l.patterns.chunk_kind[i] != MP_LEAK_NOT_A_BLOCK;
	const char **names = malloc((l.patterns.n_classes ? l.patterns.n_classes : 1) * sizeof(*names));
	l.input.blocks = malloc((n_blocks ? n_blocks : 1) * sizeof(*l.input.blocks));
	l.input.names = names;
	if (!names || !l.input.blocks) {
		err = mp_error_nomem();
		goto done;
	}
	for (size_t i = 0; i < l.patterns.n_classes; i++)
		names[i] = l.patterns.classes[i].name;
	l.input.n_names = l.patterns.n_classes;
	if (ownr) {
		l.input.owner_names = (const char *const *)l.owners.paths;
		l.input.n_owner_names = l.owners.n_paths;
	}
	size_t n = 0;
	for (size_t i = 0; i < h->n_chunks; i++) {
		if (l.patterns.chunk_kind[i] == MP_LEAK_NOT_A_BLOCK)
			continue;
		const heap_chunk *c = &h->chunks[i];
		l.input.blocks[n++] = (mp_diff_block){
			.address = heap_chunk_user(h, c), .hash = blocks.hash[i],
			.size = heap_chunk_usable(h, c), .type = l.patterns.chunk_class[i],
			.owner = ownr && blocks.owner[i] ? blocks.owner[i] - 1u : MP_DIFF_NO_OWNER,
			.evidence = blocks.evidence[i]};
	}
	l.input.n_blocks = n;
	l.input.path = path;
	l.input.target = mp_heap_target_description(h);
	l.input.timestamp_ns = blocks.timestamp_ns;
	l.input.heap_bytes = h->mallinfo.arena + h->mallinfo.hblkhd;
	/* Allocators other than glibc have no mallinfo: their heap is the
	 * chunks the walk found, whatever their state. */
	if (!l.input.heap_bytes)
		for (size_t i = 0; i < h->n_chunks; i++)
			l.input.heap_bytes += heap_chunk_size(&h->chunks[i]);
	l.input.partial = mp_heap_partial(h) || l.patterns.partial || l.owners.partial;
	err = mp_heap_diff_add(diff, &l.input);
	if (err)
		err = mp_error_prefix(err, "snapshot %s", path);
done:
	mp_snapshot_blocks_free(&blocks);
	heap_sections_free(sections, n_sections);
	loaded_free(&l);
	mp_heap_free(h);
	return err;
}

/* ----------------------------------------------------------- snapshots */

static int64_t net(const mp_diff_counts *c)
{
	return (int64_t)(c->new_bytes - c->freed_bytes);
}

static bool counts_empty(const mp_diff_counts *c)
{
	return !c->new_blocks && !c->freed_blocks && !c->surviving_blocks;
}

static void result_counts(mp_result *r, mp_rnode o, const mp_diff_counts *c)
{
	static const char *const keys[] = {"new", "freed", "surviving"};
	const uint64_t values[] = {c->new_blocks, c->new_bytes, c->freed_blocks, c->freed_bytes,
				   c->surviving_blocks, c->surviving_bytes};
	for (int k = 0; k < 3; k++) {
		mp_rnode side = mp_result_object(r, o, keys[k]);
		mp_result_uint(r, side, "blocks", values[2 * k]);
		mp_result_uint(r, side, "bytes", values[2 * k + 1]);
	}
	mp_result_int(r, o, "net_bytes", net(c));
	mp_result_int(r, o, "net_blocks", (int64_t)(c->new_blocks - c->freed_blocks));
}

static void result_rate(mp_result *r, mp_rnode o, const char *key, uint64_t blocks,
			uint64_t bytes, double seconds)
{
	mp_rnode rate = mp_result_object(r, o, key);
	mp_result_double(r, rate, "blocks_per_second", seconds > 0 ? (double)blocks / seconds : 0);
	mp_result_double(r, rate, "bytes_per_second", seconds > 0 ? (double)bytes / seconds : 0);
}

static void result_interval(mp_result *r, mp_rnode o, const mp_heap_diff *d,
			    const mp_diff_interval *iv)
{
	mp_result_uint(r, o, "from", iv->from);
	mp_result_uint(r, o, "to", iv->to);
	mp_result_double(r, o, "seconds", iv->seconds);
	result_counts(r, o, &iv->total);
	result_rate(r, o, "allocation_rate", iv->total.new_blocks, iv->total.new_bytes, iv->seconds);
	result_rate(r, o, "free_rate", iv->total.freed_blocks, iv->total.freed_bytes, iv->seconds);
	mp_rnode types = mp_result_array(r, o, "types");
	for (size_t t = 0; t < iv->n_types; t++) {
		if (counts_empty(&iv->types[t]))
			continue;
		mp_rnode type = mp_result_object(r, types, NULL);
		mp_result_string(r, type, "name", d->types[t]);
		result_counts(r, type, &iv->types[t]);
	}
	mp_rnode classes = mp_result_array(r, o, "size_classes");
	for (unsigned k = 0; k < MP_DIFF_SIZE_CLASSES; k++) {
		if (counts_empty(&iv->classes[k]))
			continue;
		char name[64];
		mp_diff_size_class_name(k, name, sizeof(name));
		mp_rnode class = mp_result_object(r, classes, NULL);
		mp_result_string(r, class, "name", name);
		result_counts(r, class, &iv->classes[k]);
	}
}

static void result_growth(mp_result *r, mp_rnode o, const mp_heap_diff *d, const mp_diff_growth *g)
{
	mp_finding_result(r, o, &g->finding);
	/* by: what the subject is; owner/type: the other side of it. */
	mp_result_string(r, o, "by", g->by_owner ? "owner" : "type");
	uint32_t other = g->by_owner ? g->holds : g->held_by;
	const char *other_key = g->by_owner ? "type" : "owner";
	if (other != UINT32_MAX)
		mp_result_string(r, o, other_key, g->by_owner ? d->types[other] : d->owners[other]);
	else
		mp_result_null(r, o, other_key);
	mp_result_double(r, o, "bytes_per_second", g->bytes_per_second);
	if (g->seconds_to_limit >= 0)
		mp_result_double(r, o, "seconds_to_limit", g->seconds_to_limit);
	else
		mp_result_null(r, o, "seconds_to_limit");
	mp_rnode bytes = mp_result_array(r, o, "interval_bytes");
	for (size_t k = 0; k < d->n_intervals; k++)
		mp_result_int(r, bytes, NULL, g->interval_bytes[k]);
	mp_rnode blocks = mp_result_array(r, o, "interval_blocks");
	for (size_t k = 0; k < d->n_intervals; k++)
		mp_result_int(r, blocks, NULL, g->interval_blocks[k]);
}

/* The JSON of docs/diff.md. */
static void result_tree(mp_result *r, const mp_heap_diff *d)
{
	mp_result_string(r, MP_RESULT_ROOT, "kind", "snapshots");
	mp_rnode snapshots = mp_result_array(r, MP_RESULT_ROOT, "snapshots");
	for (size_t i = 0; i < d->n_snapshots; i++) {
		const mp_diff_snapshot *s = &d->snapshots[i];
		mp_rnode o = mp_result_object(r, snapshots, NULL);
		mp_result_string(r, o, "path", s->path);
		mp_result_string(r, o, "target", s->target);
		mp_result_double(r, o, "timestamp", (double)s->timestamp_ns / 1e9);
		mp_result_uint(r, o, "blocks", s->blocks);
		mp_result_uint(r, o, "bytes", s->bytes);
		mp_result_uint(r, o, "heap_bytes", s->heap_bytes);
		mp_result_bool(r, o, "partial", s->partial);
	}
	mp_rnode intervals = mp_result_array(r, MP_RESULT_ROOT, "intervals");
	for (size_t k = 0; k < d->n_intervals; k++)
		result_interval(r, mp_result_object(r, intervals, NULL), d, &d->intervals[k]);
	result_interval(r, mp_result_object(r, MP_RESULT_ROOT, "overall"), d, &d->overall);
	mp_rnode lifetimes = mp_result_array(r, MP_RESULT_ROOT, "lifetimes");
	for (size_t k = 0; k < d->n_snapshots; k++) {
		const mp_diff_lifetime *l = &d->lifetimes[k];
		mp_rnode o = mp_result_object(r, lifetimes, NULL);
		mp_result_uint(r, o, "snapshots", k + 1);
		mp_result_uint(r, o, "freed_blocks", l->freed_blocks);
		mp_result_uint(r, o, "freed_bytes", l->freed_bytes);
		mp_result_uint(r, o, "alive_blocks", l->alive_blocks);
		mp_result_uint(r, o, "alive_bytes", l->alive_bytes);
	}
	if (d->limit)
		mp_result_uint(r, MP_RESULT_ROOT, "limit_bytes", d->limit);
	mp_rnode findings = mp_result_array(r, MP_RESULT_ROOT, "findings");
	for (size_t i = 0; i < d->n_growth; i++)
		result_growth(r, mp_result_object(r, findings, NULL), d, &d->growth[i]);
	mp_result_bool(r, MP_RESULT_ROOT, "partial", d->partial);
}

/* The flat rows: the CSV's and the text's tables, hidden from the JSON,
 * which has the same numbers per interval.  Net bytes carry their sign
 * ("+4096"), as they always have there. */
static const mp_result_column diff_columns[] = {
	{"interval", NULL, false}, {"group", NULL, false},
	{"net_bytes", NULL, true},
	{"new_blocks", NULL, true}, {"new_bytes", NULL, true},
	{"freed_blocks", NULL, true}, {"freed_bytes", NULL, true},
	{"surviving_blocks", NULL, true}, {"surviving_bytes", NULL, true},
	{"name", NULL, false},
};
enum { INTERVAL_COLUMNS = 2 };   /* interval and group: the CSV's only */

static const mp_result_column growth_columns[] = {
	{"kind", NULL, false}, {"by", NULL, false}, {"impact", NULL, false},
	{"bytes", NULL, true}, {"blocks", NULL, true},
	{"bytes_per_second", NULL, true}, {"seconds_to_limit", NULL, true},
	{"subject", NULL, false},
};

/* interval NULL: a row of the text's table, without interval and group. */
static void counts_row(mp_result *r, mp_rnode rows, const char *interval, const char *group,
		       const mp_diff_counts *c, const char *name)
{
	mp_rnode o = mp_result_object(r, rows, NULL);
	if (interval) {
		mp_result_string(r, o, "interval", interval);
		mp_result_string(r, o, "group", group);
	}
	char signed_net[32];
	snprintf(signed_net, sizeof(signed_net), "%+" PRId64, net(c));
	mp_result_string(r, o, "net_bytes", signed_net);
	mp_result_uint(r, o, "new_blocks", c->new_blocks);
	mp_result_uint(r, o, "new_bytes", c->new_bytes);
	mp_result_uint(r, o, "freed_blocks", c->freed_blocks);
	mp_result_uint(r, o, "freed_bytes", c->freed_bytes);
	mp_result_uint(r, o, "surviving_blocks", c->surviving_blocks);
	mp_result_uint(r, o, "surviving_bytes", c->surviving_bytes);
	mp_result_string(r, o, "name", name);
}

/* Rows of one interval (or overall) per type, largest net growth first. */
static const mp_heap_diff *sort_diff;
static const mp_diff_interval *sort_interval;

static int compare_types(const void *x, const void *y)
{
	size_t a = *(const size_t *)x, b = *(const size_t *)y;
	int64_t na = net(&sort_interval->types[a]), nb = net(&sort_interval->types[b]);
	if (na != nb)
		return na > nb ? -1 : 1;
	return strcmp(sort_diff->types[a], sort_diff->types[b]);
}

/* The types of an interval, then (with an interval name) its size
 * classes and its total. */
static mp_error *group_rows(mp_result *r, mp_rnode rows, const mp_heap_diff *d,
			    const mp_diff_interval *iv, const char *interval)
{
	size_t *order = malloc((iv->n_types ? iv->n_types : 1) * sizeof(*order));
	if (!order)
		return mp_error_nomem();
	size_t n = 0;
	for (size_t i = 0; i < iv->n_types; i++)
		if (!counts_empty(&iv->types[i]))
			order[n++] = i;
	sort_diff = d;
	sort_interval = iv;
	qsort(order, n, sizeof(*order), compare_types);
	for (size_t i = 0; i < n; i++)
		counts_row(r, rows, interval, "type", &iv->types[order[i]], d->types[order[i]]);
	free(order);
	if (!interval)
		return NULL;
	for (unsigned k = 0; k < MP_DIFF_SIZE_CLASSES; k++) {
		if (counts_empty(&iv->classes[k]))
			continue;
		char name[64];
		mp_diff_size_class_name(k, name, sizeof(name));
		counts_row(r, rows, interval, "size_class", &iv->classes[k], name);
	}
	counts_row(r, rows, interval, "total", &iv->total, "");
	return NULL;
}

static void interval_name(const mp_heap_diff *d, const mp_diff_interval *iv, char *out,
			  size_t size)
{
	if (iv == &d->overall)
		snprintf(out, size, "overall");
	else
		snprintf(out, size, "%zu-%zu", iv->from + 1, iv->to + 1);
}

/* The CSV: rows per interval, a blank line, the growth findings. */
static mp_error *result_tables(mp_result *r, const mp_heap_diff *d)
{
	mp_rnode rows = mp_result_array(r, MP_RESULT_ROOT, "interval_rows");
	mp_result_hide(r, rows);
	mp_error *err = NULL;
	for (size_t k = 0; k <= d->n_intervals && !err; k++) {
		const mp_diff_interval *iv = k < d->n_intervals ? &d->intervals[k] : &d->overall;
		char name[64];
		interval_name(d, iv, name, sizeof(name));
		err = group_rows(r, rows, d, iv, name);
	}
	mp_rnode types = mp_result_array(r, MP_RESULT_ROOT, "overall_type_rows");
	mp_result_hide(r, types);
	if (!err)
		err = group_rows(r, types, d, &d->overall, NULL);
	mp_rnode growth = mp_result_array(r, MP_RESULT_ROOT, "growth_rows");
	mp_result_hide(r, growth);
	for (size_t i = 0; i < d->n_growth; i++) {
		const mp_diff_growth *g = &d->growth[i];
		char rate[32], limit[32] = "";
		snprintf(rate, sizeof(rate), "%.0f", g->bytes_per_second);
		if (g->seconds_to_limit >= 0)
			snprintf(limit, sizeof(limit), "%.0f", g->seconds_to_limit);
		mp_rnode o = mp_result_object(r, growth, NULL);
		mp_result_string(r, o, "kind", g->finding.kind);
		mp_result_string(r, o, "by", g->by_owner ? "owner" : "type");
		mp_result_string(r, o, "impact", g->finding.impact);
		mp_result_uint(r, o, "bytes", g->finding.bytes);
		mp_result_uint(r, o, "blocks", g->finding.blocks);
		mp_result_string(r, o, "bytes_per_second", rate);
		mp_result_string(r, o, "seconds_to_limit", limit);
		mp_result_string(r, o, "subject", g->finding.subject);
	}
	mp_result_declare_table(r, rows, "diff", "blocks new, freed and surviving per interval",
				MP_RESULT_COLUMNS(diff_columns), TEXT_ROWS);
	mp_result_declare_table(r, growth, "growth", "types and owner paths that grew in every interval",
				MP_RESULT_COLUMNS(growth_columns), TEXT_ROWS);
	mp_result_set_csv_blank_lines(r, true);
	return err;
}

/* The text: the series, a line per interval, the types that grew most,
 * lifetimes and the growth findings with their evidence. */
static void snapshots_text(FILE *out, const mp_result *r, void *context)
{
	const mp_heap_diff *d = context;
	const mp_diff_snapshot *first = &d->snapshots[0];
	fprintf(out, "memprof diff: %zu snapshots over %.1f s of %s\n\n", d->n_snapshots,
		d->overall.seconds, first->target);
	for (size_t i = 0; i < d->n_snapshots; i++) {
		const mp_diff_snapshot *s = &d->snapshots[i];
		fprintf(out, "  %zu  +%7.1f s  %10" PRIu64 " blocks  %12" PRIu64
			" bytes in use  %12" PRIu64 " heap bytes  %s%s\n",
			i + 1, (double)(s->timestamp_ns - first->timestamp_ns) / 1e9, s->blocks,
			s->bytes, s->heap_bytes, s->path, s->partial ? " (partial)" : "");
	}
	fprintf(out, "\n");
	for (size_t k = 0; k <= d->n_intervals; k++) {
		const mp_diff_interval *iv = k < d->n_intervals ? &d->intervals[k] : &d->overall;
		char name[64];
		interval_name(d, iv, name, sizeof(name));
		const mp_diff_counts *t = &iv->total;
		double s = iv->seconds > 0 ? iv->seconds : 0;
		fprintf(out, "%-8s %6.1f s: new %" PRIu64 " blocks (%" PRIu64 " bytes), freed %" PRIu64
			" (%" PRIu64 "), surviving %" PRIu64 " (%" PRIu64 "), net %+" PRId64
			" bytes; allocations %.0f/s (%.0f bytes/s), frees %.0f/s (%.0f bytes/s)\n",
			name, iv->seconds, t->new_blocks, t->new_bytes, t->freed_blocks, t->freed_bytes,
			t->surviving_blocks, t->surviving_bytes, net(t),
			s ? (double)t->new_blocks / s : 0, s ? (double)t->new_bytes / s : 0,
			s ? (double)t->freed_blocks / s : 0, s ? (double)t->freed_bytes / s : 0);
	}
	/* The overall rows without their interval and group columns. */
	mp_result_table types = {
		.node = mp_result_get(r, MP_RESULT_ROOT, "overall_type_rows"),
		.name = "diff_type",
		.n_columns = sizeof(diff_columns) / sizeof(diff_columns[0]) - INTERVAL_COLUMNS,
	};
	for (size_t i = 0; i < types.n_columns; i++) {
		types.columns[i] = diff_columns[INTERVAL_COLUMNS + i];
		types.columns[i].member = types.columns[i].name;   /* as declaring fills it */
	}
	fprintf(out, "\ntypes, first to last snapshot, largest growth first:\n");
	mp_result_write_text_table(out, r, &types, TEXT_ROWS);
	fprintf(out, "\nlifetimes (snapshots a block was seen in):\n");
	for (size_t k = 0; k < d->n_snapshots; k++) {
		const mp_diff_lifetime *l = &d->lifetimes[k];
		fprintf(out, "  %3zu: %10" PRIu64 " blocks freed, %10" PRIu64 " still there\n", k + 1,
			l->freed_blocks, l->alive_blocks);
	}
	fprintf(out, "\ngrowth findings%s%s:\n", d->n_intervals < 2 ? " (need three snapshots or more)" : "",
		d->owners_missing ? " (by type only: a snapshot has no owner paths)" : "");
	if (!d->n_growth) {
		fprintf(out, "  none\n");
	} else {
		mp_result_write_text_table(out, r,
					   mp_result_table_of(r, mp_result_get(r, MP_RESULT_ROOT, "growth_rows")),
					   TEXT_ROWS);
		fprintf(out, "\n");
		for (size_t i = 0; i < d->n_growth && i < TEXT_ROWS; i++)
			fprintf(out, "growth %s: %s\n", d->growth[i].finding.subject,
				d->growth[i].finding.detail);
	}
	if (d->partial)
		fprintf(out, "\nresults are partial: some snapshot could not read every block\n");
}

static mp_error *write_snapshots(mp_command *c, const mp_heap_diff *d)
{
	mp_result r;
	mp_result_init(&r);
	result_tree(&r, d);
	mp_error *err = result_tables(&r, d);
	mp_result_set_text_hook(&r, snapshots_text, (void *)d);
	if (!err)
		err = mp_result_write(c->out, &r, mp_command_result_format(c));
	mp_result_free(&r);
	return err;
}

/* A type, size class or owner path watched: its bytes in use in the first
 * and the last snapshot. */
static bool watched_snapshot(const void *context, const char *name, uint64_t *before,
			     uint64_t *after)
{
	const mp_heap_diff *d = context;
	const mp_diff_snapshot *first = &d->snapshots[0], *last = &d->snapshots[d->n_snapshots - 1];
	for (size_t t = 0; t < d->n_types; t++) {
		if (strcmp(d->types[t], name) == 0) {
			*before = t < first->n_types ? first->type_bytes[t] : 0;
			*after = t < last->n_types ? last->type_bytes[t] : 0;
			return true;
		}
	}
	for (unsigned k = 0; k < MP_DIFF_SIZE_CLASSES; k++) {
		char class_name[64];
		mp_diff_size_class_name(k, class_name, sizeof(class_name));
		if (strcmp(class_name, name) == 0) {
			*before = first->class_bytes[k];
			*after = last->class_bytes[k];
			return true;
		}
	}
	for (size_t o = 0; o < d->n_owners; o++) {
		if (strcmp(d->owners[o], name) == 0) {
			*before = o < first->n_owners ? first->owner_bytes[o] : 0;
			*after = o < last->n_owners ? last->owner_bytes[o] : 0;
			return true;
		}
	}
	return false;
}

static int diff_snapshots(mp_command *c, uint64_t limit, const mp_diff_thresholds *thresholds)
{
	mp_heap_diff d;
	mp_heap_diff_init(&d);
	mp_error *err = NULL;
	for (size_t i = 0; i < c->options->n_positional && !err; i++)
		err = mp_diff_load_snapshot(c->options->positional[i], &d);
	if (!err)
		err = mp_heap_diff_finish(&d, limit);
	if (err) {
		mp_heap_diff_free(&d);
		return mp_command_fail(c, err);
	}
	err = write_snapshots(c, &d);
	int status = err ? mp_command_fail(c, err) : MP_EXIT_OK;
	const mp_diff_snapshot *first = &d.snapshots[0], *last = &d.snapshots[d.n_snapshots - 1];
	if (status == MP_EXIT_OK)
		status = mp_diff_thresholds_check(c, thresholds, "bytes in use", first->bytes,
						  last->bytes, watched_snapshot, &d);
	mp_heap_diff_free(&d);
	return status;
}

/* ---------------------------------------------------------------- verb */

static int run_diff(mp_command *c)
{
	const char *limit_text = mp_command_value(c, "--limit");
	uint64_t limit = 0;
	if (limit_text && (!mp_command_parse_size(limit_text, &limit) || limit == 0)) {
		fprintf(c->err, "memprof: --limit takes a size such as 512M, 2G or 1048576, not '%s'\n",
			limit_text);
		return MP_EXIT_USAGE;
	}
	mp_diff_thresholds thresholds;
	int status = mp_diff_thresholds_parse(c, &thresholds);
	if (status != MP_EXIT_OK)
		return status;
	enum mp_diff_input_kind kind = MP_DIFF_INPUT_SNAPSHOT;
	for (size_t i = 0; i < c->options->n_positional; i++) {
		enum mp_diff_input_kind k;
		mp_error *err = mp_diff_input_kind_of(c->options->positional[i], &k);
		if (err)
			return mp_command_fail(c, err);
		if (i && k != kind) {
			fprintf(c->err, "memprof: %s is %s but %s is %s: diff compares inputs of one kind\n",
				c->options->positional[i], mp_diff_input_kind_name(k),
				c->options->positional[0], mp_diff_input_kind_name(kind));
			return MP_EXIT_USAGE;
		}
		kind = k;
	}
	if (kind != MP_DIFF_INPUT_SNAPSHOT && c->options->n_positional != 2) {
		fprintf(c->err, "memprof: diff compares two %s, not %zu\n",
			kind == MP_DIFF_INPUT_FOLDED ? "folded profiles" : "JSON reports",
			c->options->n_positional);
		return MP_EXIT_USAGE;
	}
	if (c->options->format == MP_FORMAT_FOLDED && kind != MP_DIFF_INPUT_FOLDED) {
		fprintf(c->err, "memprof: --format folded is for two folded profiles\n");
		return MP_EXIT_USAGE;
	}
	switch (kind) {
	case MP_DIFF_INPUT_SNAPSHOT:
		return diff_snapshots(c, limit, &thresholds);
	case MP_DIFF_INPUT_FOLDED:
		return mp_diff_folded(c, &thresholds);
	default:
		return mp_diff_reports(c, kind, &thresholds);
	}
}

static const char *const diff_valued[] = {"--limit", "--fail-above", "--fail-above-bytes",
					   "--watch", NULL};

const mp_verb mp_verb_diff = {
	.name = "diff",
	.summary = "what changed between snapshots (growth findings), folded profiles or JSON reports",
	.usage = "S1 S2 [S3 ...] | A.folded B.folded | A.json B.json  [--limit SIZE]\n"
		 "       [--fail-above PCT] [--fail-above-bytes SIZE] [--watch NAME]...\n"
		 "  snapshots from `memprof snapshot save`, oldest first: new, freed and surviving\n"
		 "  blocks per type and size class, rates, lifetimes, `growth` findings (three\n"
		 "  snapshots or more); --limit gives each growth its time to that heap size.\n"
		 "  Folded profiles (`logical --format folded`): a differential profile, two-column\n"
		 "  folded with --format folded.  Two `heap` or `leaks` JSON reports: their changes.\n"
		 "  --fail-above PCT, --fail-above-bytes SIZE: exit status 3 when the total grew by\n"
		 "  more (either threshold), or any --watch NAME did: a folded path and what is\n"
		 "  under it, a report's number path or a type, a snapshot's type, size class\n"
		 "  or owner path",
	.formats = MP_FORMAT_TEXT | MP_FORMAT_JSON | MP_FORMAT_CSV | MP_FORMAT_FOLDED,
	.needs_target = false,
	.min_positional = 2,
	.max_positional = MP_MAX_POSITIONAL,
	.valued = diff_valued,
	.run = run_diff,
};
