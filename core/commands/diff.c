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
#include "diff_inputs.h"
#include "diff_thresholds.h"
#include "patterns_section.h"
#include "error.h"
#include "heap/heap_internal.h"
#include "output/json.h"
#include "output/table.h"

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

static void json_counts(mp_json *j, const mp_diff_counts *c)
{
	static const char *const keys[] = {"new", "freed", "surviving"};
	const uint64_t values[] = {c->new_blocks, c->new_bytes, c->freed_blocks, c->freed_bytes,
				   c->surviving_blocks, c->surviving_bytes};
	for (int k = 0; k < 3; k++) {
		mp_json_key(j, keys[k]);
		mp_json_begin_object(j);
		mp_json_key(j, "blocks");
		mp_json_uint(j, values[2 * k]);
		mp_json_key(j, "bytes");
		mp_json_uint(j, values[2 * k + 1]);
		mp_json_end_object(j);
	}
	mp_json_key(j, "net_bytes");
	mp_json_int(j, net(c));
	mp_json_key(j, "net_blocks");
	mp_json_int(j, (int64_t)(c->new_blocks - c->freed_blocks));
}

static void json_rate(mp_json *j, const char *key, uint64_t blocks, uint64_t bytes,
		      double seconds)
{
	mp_json_key(j, key);
	mp_json_begin_object(j);
	mp_json_key(j, "blocks_per_second");
	mp_json_double(j, seconds > 0 ? (double)blocks / seconds : 0);
	mp_json_key(j, "bytes_per_second");
	mp_json_double(j, seconds > 0 ? (double)bytes / seconds : 0);
	mp_json_end_object(j);
}

static bool counts_empty(const mp_diff_counts *c)
{
	return !c->new_blocks && !c->freed_blocks && !c->surviving_blocks;
}

static void json_interval(mp_json *j, const mp_heap_diff *d, const mp_diff_interval *iv)
{
	mp_json_key(j, "from");
	mp_json_uint(j, iv->from);
	mp_json_key(j, "to");
	mp_json_uint(j, iv->to);
	mp_json_key(j, "seconds");
	mp_json_double(j, iv->seconds);
	json_counts(j, &iv->total);
	json_rate(j, "allocation_rate", iv->total.new_blocks, iv->total.new_bytes, iv->seconds);
	json_rate(j, "free_rate", iv->total.freed_blocks, iv->total.freed_bytes, iv->seconds);
	mp_json_key(j, "types");
	mp_json_begin_array(j);
	for (size_t t = 0; t < iv->n_types; t++) {
		if (counts_empty(&iv->types[t]))
			continue;
		mp_json_begin_object(j);
		mp_json_key(j, "name");
		mp_json_string(j, d->types[t]);
		json_counts(j, &iv->types[t]);
		mp_json_end_object(j);
	}
	mp_json_end_array(j);
	mp_json_key(j, "size_classes");
	mp_json_begin_array(j);
	for (unsigned k = 0; k < MP_DIFF_SIZE_CLASSES; k++) {
		if (counts_empty(&iv->classes[k]))
			continue;
		char name[64];
		mp_diff_size_class_name(k, name, sizeof(name));
		mp_json_begin_object(j);
		mp_json_key(j, "name");
		mp_json_string(j, name);
		json_counts(j, &iv->classes[k]);
		mp_json_end_object(j);
	}
	mp_json_end_array(j);
}

void mp_diff_json_growth(mp_json *j, const mp_heap_diff *d, const mp_diff_growth *g)
{
	mp_finding_json(j, &g->finding);
	/* by: what the subject is; owner/type: the other side of it. */
	mp_json_key(j, "by");
	mp_json_string(j, g->by_owner ? "owner" : "type");
	mp_json_key(j, g->by_owner ? "type" : "owner");
	uint32_t other = g->by_owner ? g->holds : g->held_by;
	if (other != UINT32_MAX)
		mp_json_string(j, g->by_owner ? d->types[other] : d->owners[other]);
	else
		mp_json_null(j);
	mp_json_key(j, "bytes_per_second");
	mp_json_double(j, g->bytes_per_second);
	mp_json_key(j, "seconds_to_limit");
	if (g->seconds_to_limit >= 0)
		mp_json_double(j, g->seconds_to_limit);
	else
		mp_json_null(j);
	mp_json_key(j, "interval_bytes");
	mp_json_begin_array(j);
	for (size_t k = 0; k < d->n_intervals; k++)
		mp_json_int(j, g->interval_bytes[k]);
	mp_json_end_array(j);
	mp_json_key(j, "interval_blocks");
	mp_json_begin_array(j);
	for (size_t k = 0; k < d->n_intervals; k++)
		mp_json_int(j, g->interval_blocks[k]);
	mp_json_end_array(j);
}

static void write_json(mp_command *c, const mp_heap_diff *d)
{
	mp_json j;
	mp_json_init(&j, c->out, true);
	mp_json_begin_object(&j);
	mp_json_key(&j, "kind");
	mp_json_string(&j, "snapshots");
	mp_json_key(&j, "snapshots");
	mp_json_begin_array(&j);
	for (size_t i = 0; i < d->n_snapshots; i++) {
		const mp_diff_snapshot *s = &d->snapshots[i];
		mp_json_begin_object(&j);
		mp_json_key(&j, "path");
		mp_json_string(&j, s->path);
		mp_json_key(&j, "target");
		mp_json_string(&j, s->target);
		mp_json_key(&j, "timestamp");
		mp_json_double(&j, (double)s->timestamp_ns / 1e9);
		mp_json_key(&j, "blocks");
		mp_json_uint(&j, s->blocks);
		mp_json_key(&j, "bytes");
		mp_json_uint(&j, s->bytes);
		mp_json_key(&j, "heap_bytes");
		mp_json_uint(&j, s->heap_bytes);
		mp_json_key(&j, "partial");
		mp_json_bool(&j, s->partial);
		mp_json_end_object(&j);
	}
	mp_json_end_array(&j);
	mp_json_key(&j, "intervals");
	mp_json_begin_array(&j);
	for (size_t k = 0; k < d->n_intervals; k++) {
		mp_json_begin_object(&j);
		json_interval(&j, d, &d->intervals[k]);
		mp_json_end_object(&j);
	}
	mp_json_end_array(&j);
	mp_json_key(&j, "overall");
	mp_json_begin_object(&j);
	json_interval(&j, d, &d->overall);
	mp_json_end_object(&j);
	mp_json_key(&j, "lifetimes");
	mp_json_begin_array(&j);
	for (size_t k = 0; k < d->n_snapshots; k++) {
		const mp_diff_lifetime *l = &d->lifetimes[k];
		mp_json_begin_object(&j);
		mp_json_key(&j, "snapshots");
		mp_json_uint(&j, k + 1);
		mp_json_key(&j, "freed_blocks");
		mp_json_uint(&j, l->freed_blocks);
		mp_json_key(&j, "freed_bytes");
		mp_json_uint(&j, l->freed_bytes);
		mp_json_key(&j, "alive_blocks");
		mp_json_uint(&j, l->alive_blocks);
		mp_json_key(&j, "alive_bytes");
		mp_json_uint(&j, l->alive_bytes);
		mp_json_end_object(&j);
	}
	mp_json_end_array(&j);
	if (d->limit) {
		mp_json_key(&j, "limit_bytes");
		mp_json_uint(&j, d->limit);
	}
	mp_json_key(&j, "findings");
	mp_json_begin_array(&j);
	for (size_t i = 0; i < d->n_growth; i++) {
		mp_json_begin_object(&j);
		mp_diff_json_growth(&j, d, &d->growth[i]);
		mp_json_end_object(&j);
	}
	mp_json_end_array(&j);
	mp_json_key(&j, "partial");
	mp_json_bool(&j, d->partial);
	mp_json_end_object(&j);
	mp_json_finish(&j);
}

static void text_int(mp_table *t, int64_t v)
{
	char cell[32];
	snprintf(cell, sizeof(cell), "%+" PRId64, v);
	mp_table_text(t, cell);
}

static void counts_columns(mp_table *t)
{
	mp_table_column(t, "net_bytes", true);
	mp_table_column(t, "new_blocks", true);
	mp_table_column(t, "new_bytes", true);
	mp_table_column(t, "freed_blocks", true);
	mp_table_column(t, "freed_bytes", true);
	mp_table_column(t, "surviving_blocks", true);
	mp_table_column(t, "surviving_bytes", true);
}

static void counts_cells(mp_table *t, const mp_diff_counts *c)
{
	text_int(t, net(c));
	mp_table_uint(t, c->new_blocks);
	mp_table_uint(t, c->new_bytes);
	mp_table_uint(t, c->freed_blocks);
	mp_table_uint(t, c->freed_bytes);
	mp_table_uint(t, c->surviving_blocks);
	mp_table_uint(t, c->surviving_bytes);
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

static bool group_rows(mp_table *t, const mp_heap_diff *d, const mp_diff_interval *iv,
		       const char *interval, bool with_interval)
{
	size_t *order = malloc((iv->n_types ? iv->n_types : 1) * sizeof(*order));
	if (!order)
		return false;
	size_t n = 0;
	for (size_t i = 0; i < iv->n_types; i++)
		if (!counts_empty(&iv->types[i]))
			order[n++] = i;
	sort_diff = d;
	sort_interval = iv;
	qsort(order, n, sizeof(*order), compare_types);
	for (size_t i = 0; i < n; i++) {
		mp_table_row(t);
		if (with_interval) {
			mp_table_text(t, interval);
			mp_table_text(t, "type");
		}
		counts_cells(t, &iv->types[order[i]]);
		mp_table_text(t, d->types[order[i]]);
	}
	free(order);
	for (unsigned k = 0; with_interval && k < MP_DIFF_SIZE_CLASSES; k++) {
		if (counts_empty(&iv->classes[k]))
			continue;
		char name[64];
		mp_diff_size_class_name(k, name, sizeof(name));
		mp_table_row(t);
		mp_table_text(t, interval);
		mp_table_text(t, "size_class");
		counts_cells(t, &iv->classes[k]);
		mp_table_text(t, name);
	}
	if (with_interval) {
		mp_table_row(t);
		mp_table_text(t, interval);
		mp_table_text(t, "total");
		counts_cells(t, &iv->total);
		mp_table_text(t, "");
	}
	return true;
}

static void growth_table(mp_table *t, const mp_heap_diff *d)
{
	mp_table_init(t, "growth", "types and owner paths that grew in every interval");
	mp_table_column(t, "kind", false);
	mp_table_column(t, "by", false);
	mp_table_column(t, "impact", false);
	mp_table_column(t, "bytes", true);
	mp_table_column(t, "blocks", true);
	mp_table_column(t, "bytes_per_second", true);
	mp_table_column(t, "seconds_to_limit", true);
	mp_table_column(t, "subject", false);
	for (size_t i = 0; i < d->n_growth; i++) {
		const mp_diff_growth *g = &d->growth[i];
		char rate[32], limit[32] = "";
		snprintf(rate, sizeof(rate), "%.0f", g->bytes_per_second);
		if (g->seconds_to_limit >= 0)
			snprintf(limit, sizeof(limit), "%.0f", g->seconds_to_limit);
		mp_table_row(t);
		mp_table_text(t, g->finding.kind);
		mp_table_text(t, g->by_owner ? "owner" : "type");
		mp_table_text(t, g->finding.impact);
		mp_table_uint(t, g->finding.bytes);
		mp_table_uint(t, g->finding.blocks);
		mp_table_text(t, rate);
		mp_table_text(t, limit);
		mp_table_text(t, g->finding.subject);
	}
}

static void interval_name(const mp_heap_diff *d, const mp_diff_interval *iv, char *out,
			  size_t size)
{
	if (iv == &d->overall)
		snprintf(out, size, "overall");
	else
		snprintf(out, size, "%zu-%zu", iv->from + 1, iv->to + 1);
}

static bool write_csv(mp_command *c, const mp_heap_diff *d)
{
	mp_table t, g;
	mp_table_init(&t, "diff", "blocks new, freed and surviving per interval");
	mp_table_column(&t, "interval", false);
	mp_table_column(&t, "group", false);
	counts_columns(&t);
	mp_table_column(&t, "name", false);
	bool ok = true;
	for (size_t k = 0; k <= d->n_intervals && ok; k++) {
		const mp_diff_interval *iv = k < d->n_intervals ? &d->intervals[k] : &d->overall;
		char name[64];
		interval_name(d, iv, name, sizeof(name));
		ok = group_rows(&t, d, iv, name, true);
	}
	growth_table(&g, d);
	if (ok) {
		mp_table_write_csv(c->out, &t);
		fprintf(c->out, "\n");
		mp_table_write_csv(c->out, &g);
	}
	ok = ok && !t.nomem && !g.nomem;
	mp_table_free(&t);
	mp_table_free(&g);
	return ok;
}

static bool write_text(mp_command *c, const mp_heap_diff *d)
{
	FILE *out = c->out;
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
	mp_table types;
	mp_table_init(&types, "diff_type", "net change per type over the whole series");
	counts_columns(&types);
	mp_table_column(&types, "name", false);
	bool ok = group_rows(&types, d, &d->overall, "overall", false);
	if (ok) {
		fprintf(out, "\ntypes, first to last snapshot, largest growth first:\n");
		mp_table_write_text(out, &types, TEXT_ROWS);
	}
	ok = ok && !types.nomem;
	mp_table_free(&types);
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
		mp_table g;
		growth_table(&g, d);
		mp_table_write_text(out, &g, TEXT_ROWS);
		ok = ok && !g.nomem;
		mp_table_free(&g);
		fprintf(out, "\n");
		for (size_t i = 0; i < d->n_growth && i < TEXT_ROWS; i++)
			fprintf(out, "growth %s: %s\n", d->growth[i].finding.subject,
				d->growth[i].finding.detail);
	}
	if (d->partial)
		fprintf(out, "\nresults are partial: some snapshot could not read every block\n");
	return ok;
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
	bool ok = true;
	if (c->options->format == MP_FORMAT_JSON)
		write_json(c, &d);
	else if (c->options->format == MP_FORMAT_CSV)
		ok = write_csv(c, &d);
	else
		ok = write_text(c, &d);
	int status = ok ? MP_EXIT_OK : mp_command_fail(c, mp_error_nomem());
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
