/* Heap snapshots compared over time (see heap_diff.h).
 *
 * Each snapshot's blocks are sorted by address, so consecutive snapshots
 * merge in one linear pass: a block at the same address with the same
 * usable size, type and content hash survived (it keeps the snapshot it
 * was born in); anything else at an address is a free in the older
 * snapshot and an allocation in the newer.  Net growth per type follows
 * from the counts, so the identity rule changes the rates and lifetimes,
 * never the growth findings. */
#include "heap_diff.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "array.h"
#include "block_types.h"
#include "error.h"

void mp_heap_diff_init(mp_heap_diff *d)
{
	memset(d, 0, sizeof(*d));
}

unsigned mp_diff_size_class(uint64_t usable)
{
	unsigned bucket = 0;
	while (bucket < MP_DIFF_SIZE_CLASSES - 1 && (2ull << bucket) <= usable)
		bucket++;
	return bucket;
}

void mp_diff_size_class_name(unsigned k, char *out, size_t size)
{
	/* The names `patterns` gives its size classes. */
	snprintf(out, size, "%llu-%llu", (unsigned long long)(k ? 1ull << k : 0),
		 (unsigned long long)(k >= 63 ? UINT64_MAX : (2ull << k) - 1));
}

static uint64_t hash_name(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 0x100000001b3ull;
	return h;
}

/* One table of names (the types, or the owner paths): the names in order
 * first seen and an open-addressing index of them (name index + 1). */
typedef struct name_table {
	char ***names;
	size_t *n, *capacity;
	size_t **by_name;
	size_t *by_name_capacity;
} name_table;

static name_table types_of(mp_heap_diff *d)
{
	return (name_table){&d->types, &d->n_types, &d->types_capacity, &d->by_name,
			    &d->by_name_capacity};
}

static name_table owners_of(mp_heap_diff *d)
{
	return (name_table){&d->owners, &d->n_owners, &d->owners_capacity, &d->owner_by_name,
			    &d->owner_by_name_capacity};
}

static bool grow_names(name_table t)
{
	size_t capacity = *t.by_name_capacity ? 2 * *t.by_name_capacity : 256;
	size_t *table = calloc(capacity, sizeof(*table));
	if (!table)
		return false;
	for (size_t i = 0; i < *t.n; i++) {
		size_t j = hash_name((*t.names)[i]) & (capacity - 1);
		while (table[j])
			j = (j + 1) & (capacity - 1);
		table[j] = i + 1;
	}
	free(*t.by_name);
	*t.by_name = table;
	*t.by_name_capacity = capacity;
	return true;
}

/* The diff's index of a name, added when new; UINT32_MAX: no memory. */
static uint32_t intern(name_table t, const char *name)
{
	if (2 * (*t.n + 1) > *t.by_name_capacity && !grow_names(t))
		return UINT32_MAX;
	size_t mask = *t.by_name_capacity - 1;
	size_t j = hash_name(name) & mask;
	for (; (*t.by_name)[j]; j = (j + 1) & mask)
		if (strcmp((*t.names)[(*t.by_name)[j] - 1], name) == 0)
			return (uint32_t)((*t.by_name)[j] - 1);
	char *copy = strdup(name);
	if (!copy || !MP_ARRAY_RESERVE(*t.names, *t.capacity, *t.n + 1)) {
		free(copy);
		return UINT32_MAX;
	}
	(*t.names)[*t.n] = copy;
	(*t.by_name)[j] = ++*t.n;
	return (uint32_t)(*t.n - 1);
}

/* Per-type arrays sized for every type known so far (zeros for new ones). */
static bool fit_counts(mp_diff_counts **counts, size_t *n, size_t want)
{
	if (*n >= want)
		return true;
	mp_diff_counts *grown = realloc(*counts, (want ? want : 1) * sizeof(*grown));
	if (!grown)
		return false;
	memset(grown + *n, 0, (want - *n) * sizeof(*grown));
	*counts = grown;
	*n = want;
	return true;
}

static double seconds_between(const mp_diff_snapshot *a, const mp_diff_snapshot *b)
{
	return (double)(b->timestamp_ns - a->timestamp_ns) / 1e9;
}

static void count_new(mp_diff_interval *iv, size_t n_types, const mp_diff_block *b)
{
	iv->total.new_blocks++;
	iv->total.new_bytes += b->size;
	if (b->type < n_types) {
		iv->types[b->type].new_blocks++;
		iv->types[b->type].new_bytes += b->size;
	}
	unsigned k = mp_diff_size_class(b->size);
	iv->classes[k].new_blocks++;
	iv->classes[k].new_bytes += b->size;
}

static void count_freed(mp_heap_diff *d, mp_diff_interval *iv, size_t n_types,
			const mp_diff_block *b, size_t last_seen)
{
	iv->total.freed_blocks++;
	iv->total.freed_bytes += b->size;
	if (b->type < n_types) {
		iv->types[b->type].freed_blocks++;
		iv->types[b->type].freed_bytes += b->size;
	}
	unsigned k = mp_diff_size_class(b->size);
	iv->classes[k].freed_blocks++;
	iv->classes[k].freed_bytes += b->size;
	mp_diff_lifetime *l = &d->lifetimes[last_seen - b->born];
	l->freed_blocks++;
	l->freed_bytes += b->size;
}

static void count_surviving(mp_diff_interval *iv, size_t n_types, const mp_diff_block *b)
{
	iv->total.surviving_blocks++;
	iv->total.surviving_bytes += b->size;
	if (b->type < n_types) {
		iv->types[b->type].surviving_blocks++;
		iv->types[b->type].surviving_bytes += b->size;
	}
	unsigned k = mp_diff_size_class(b->size);
	iv->classes[k].surviving_blocks++;
	iv->classes[k].surviving_bytes += b->size;
}

static mp_error *add_snapshot_record(mp_heap_diff *d, const mp_diff_input *in)
{
	mp_diff_snapshot *grown = realloc(d->snapshots, (d->n_snapshots + 1) * sizeof(*grown));
	if (!grown)
		return mp_error_nomem();
	d->snapshots = grown;
	mp_diff_snapshot *s = &d->snapshots[d->n_snapshots];
	memset(s, 0, sizeof(*s));
	s->path = strdup(in->path ? in->path : "");
	s->target = strdup(in->target ? in->target : "");
	s->timestamp_ns = in->timestamp_ns;
	s->heap_bytes = in->heap_bytes;
	s->partial = in->partial;
	if (!s->path || !s->target) {
		free(s->path);
		free(s->target);
		return mp_error_nomem();
	}
	d->n_snapshots++;
	d->partial = d->partial || in->partial;
	return NULL;
}

mp_error *mp_heap_diff_add(mp_heap_diff *d, mp_diff_input *in)
{
	mp_diff_block *blocks = in->blocks;
	size_t n = in->n_blocks;
	in->blocks = NULL;
	if (d->n_snapshots == MP_DIFF_MAX_SNAPSHOTS) {
		free(blocks);
		return mp_error_new(MP_ERR_USAGE, "at most %d snapshots are compared at once",
				    MP_DIFF_MAX_SNAPSHOTS);
	}
	if (d->n_snapshots &&
	    in->timestamp_ns < d->snapshots[d->n_snapshots - 1].timestamp_ns) {
		free(blocks);
		return mp_error_new(MP_ERR_USAGE,
				    "snapshot %s was taken before %s: give the snapshots oldest first",
				    in->path, d->snapshots[d->n_snapshots - 1].path);
	}
	/* The input's type and owner indexes become the diff's. */
	uint32_t *map = malloc((in->n_names ? in->n_names : 1) * sizeof(*map));
	uint32_t *owner_map = malloc((in->n_owner_names ? in->n_owner_names : 1) * sizeof(*owner_map));
	mp_error *err = map && owner_map ? NULL : mp_error_nomem();
	for (size_t i = 0; !err && i < in->n_names; i++)
		if ((map[i] = intern(types_of(d), in->names[i])) == UINT32_MAX)
			err = mp_error_nomem();
	for (size_t i = 0; !err && i < in->n_owner_names; i++)
		if ((owner_map[i] = intern(owners_of(d), in->owner_names[i])) == UINT32_MAX)
			err = mp_error_nomem();
	uint32_t unknown = UINT32_MAX;
	for (size_t i = 0; !err && i < n; i++) {
		if (blocks[i].type < in->n_names) {
			blocks[i].type = map[blocks[i].type];
		} else {
			if (unknown == UINT32_MAX &&
			    (unknown = intern(types_of(d), "unknown")) == UINT32_MAX)
				err = mp_error_nomem();
			blocks[i].type = unknown;
		}
		blocks[i].owner = blocks[i].owner < in->n_owner_names ? owner_map[blocks[i].owner]
								       : MP_DIFF_NO_OWNER;
	}
	free(map);
	free(owner_map);
	d->owners_missing = d->owners_missing || !in->owner_names;
	if (!err)
		err = add_snapshot_record(d, in);
	mp_diff_lifetime *lifetimes = err ? NULL : realloc(d->lifetimes, d->n_snapshots * sizeof(*lifetimes));
	if (!err && !lifetimes)
		err = mp_error_nomem();
	if (err) {
		free(blocks);
		return err;
	}
	d->lifetimes = lifetimes;
	memset(&d->lifetimes[d->n_snapshots - 1], 0, sizeof(*lifetimes));
	size_t index = d->n_snapshots - 1;
	mp_diff_snapshot *s = &d->snapshots[index];
	s->type_blocks = calloc(d->n_types ? d->n_types : 1, sizeof(uint64_t));
	s->type_bytes = calloc(d->n_types ? d->n_types : 1, sizeof(uint64_t));
	if (!s->type_blocks || !s->type_bytes) {
		free(blocks);
		return mp_error_nomem();
	}
	s->n_types = d->n_types;
	s->owner_blocks = calloc(d->n_owners ? d->n_owners : 1, sizeof(uint64_t));
	s->owner_bytes = calloc(d->n_owners ? d->n_owners : 1, sizeof(uint64_t));
	if (!s->owner_blocks || !s->owner_bytes) {
		free(blocks);
		return mp_error_nomem();
	}
	s->n_owners = d->n_owners;
	for (size_t i = 0; i < n; i++) {
		s->blocks++;
		s->bytes += blocks[i].size;
		s->type_blocks[blocks[i].type]++;
		s->type_bytes[blocks[i].type] += blocks[i].size;
		if (blocks[i].owner != MP_DIFF_NO_OWNER) {
			s->owner_blocks[blocks[i].owner]++;
			s->owner_bytes[blocks[i].owner] += blocks[i].size;
		}
		unsigned k = mp_diff_size_class(blocks[i].size);
		s->class_blocks[k]++;
		s->class_bytes[k] += blocks[i].size;
		blocks[i].born = (uint16_t)index;
	}
	if (index == 0) {
		d->previous = blocks;
		d->n_previous = n;
		return NULL;
	}
	mp_diff_interval *intervals = realloc(d->intervals, index * sizeof(*intervals));
	if (!intervals) {
		free(blocks);
		return mp_error_nomem();
	}
	d->intervals = intervals;
	mp_diff_interval *iv = &d->intervals[index - 1];
	memset(iv, 0, sizeof(*iv));
	d->n_intervals = index;
	iv->from = index - 1;
	iv->to = index;
	iv->seconds = seconds_between(&d->snapshots[index - 1], s);
	if (!fit_counts(&iv->types, &iv->n_types, d->n_types)) {
		free(blocks);
		return mp_error_nomem();
	}
	size_t n_types = iv->n_types;
	/* One merge of two address-sorted lists. */
	const mp_diff_block *p = d->previous;
	size_t i = 0, j = 0;
	while (i < d->n_previous || j < n) {
		if (j == n || (i < d->n_previous && p[i].address < blocks[j].address)) {
			count_freed(d, iv, n_types, &p[i], index - 1);
			i++;
		} else if (i == d->n_previous || blocks[j].address < p[i].address) {
			count_new(iv, n_types, &blocks[j]);
			j++;
		} else {
			if (p[i].size == blocks[j].size && p[i].type == blocks[j].type &&
			    p[i].hash == blocks[j].hash) {
				blocks[j].born = p[i].born;
				count_surviving(iv, n_types, &blocks[j]);
			} else {
				count_freed(d, iv, n_types, &p[i], index - 1);
				count_new(iv, n_types, &blocks[j]);
			}
			i++;
			j++;
		}
	}
	free(d->previous);
	d->previous = blocks;
	d->n_previous = n;
	return NULL;
}

const char *mp_growth_impact(double rate, uint64_t growth, uint64_t in_use, double to_limit)
{
	double per_hour = rate * 3600;
	bool limited = to_limit >= 0;
	if ((limited && to_limit < 3600) || per_hour >= (double)(1ull << 30))
		return "critical";
	if ((limited && to_limit < 86400) || per_hour >= (double)(100ull << 20) ||
	    (in_use && growth * 2 >= in_use && growth >= (1ull << 20)))
		return "high";
	if (per_hour >= (double)(10ull << 20) || (in_use && growth * 10 >= in_use && growth >= (64ull << 10)))
		return "medium";
	return "low";
}

static int compare_growth(const void *x, const void *y)
{
	const mp_diff_growth *a = x, *b = y;
	if (a->finding.bytes != b->finding.bytes)
		return a->finding.bytes > b->finding.bytes ? -1 : 1;
	if (a->by_owner != b->by_owner)
		return a->by_owner ? 1 : -1;   /* the type before the path that holds it */
	return strcmp(a->finding.subject, b->finding.subject);
}

/* Bytes or blocks in use of a type or an owner path in a snapshot (0 for
 * one first seen in a later snapshot). */
static uint64_t count_in(const mp_diff_snapshot *s, bool by_owner, bool bytes, uint32_t i)
{
	size_t n = by_owner ? s->n_owners : s->n_types;
	const uint64_t *values = by_owner ? (bytes ? s->owner_bytes : s->owner_blocks)
					  : (bytes ? s->type_bytes : s->type_blocks);
	return i < n ? values[i] : 0;
}

/* The index most of the last snapshot's blocks of the finding have on the
 * other side (a type's owner path, an owner path's type); only_new: only
 * the blocks new in the last snapshot.  UINT32_MAX: none, or no memory
 * (*nomem). */
static uint32_t dominant(const mp_heap_diff *d, bool by_owner, uint32_t i, bool only_new,
			 bool *nomem)
{
	size_t n_other = by_owner ? d->n_types : d->n_owners;
	uint64_t *votes = calloc(n_other ? n_other : 1, sizeof(*votes));
	if (!votes) {
		*nomem = true;
		return UINT32_MAX;
	}
	for (size_t k = 0; k < d->n_previous; k++) {
		const mp_diff_block *b = &d->previous[k];
		uint32_t mine = by_owner ? b->owner : b->type, other = by_owner ? b->type : b->owner;
		if (mine == i && other < n_other && (!only_new || b->born == d->n_intervals))
			votes[other]++;
	}
	uint32_t best = UINT32_MAX;
	for (size_t k = 0; k < n_other; k++)
		if (votes[k] && (best == UINT32_MAX || votes[k] > votes[best]))
			best = (uint32_t)k;
	free(votes);
	return best;
}

/* A growth finding for type or owner path i when its bytes in use rose in
 * every interval, by at least the floor over the series. */
static mp_error *add_growth(mp_heap_diff *d, bool by_owner, uint32_t t)
{
	size_t n_intervals = d->n_intervals;
	const mp_diff_snapshot *first = &d->snapshots[0], *last = &d->snapshots[n_intervals];
	double seconds = seconds_between(first, last);
	bool grows = true;
	for (size_t k = 0; k < n_intervals && grows; k++)
		grows = count_in(&d->snapshots[k + 1], by_owner, true, t) >
			count_in(&d->snapshots[k], by_owner, true, t);
	uint64_t before = count_in(first, by_owner, true, t);
	uint64_t after = count_in(last, by_owner, true, t);
	if (!grows || after - before < MP_GROWTH_FLOOR)
		return NULL;
	if (!MP_ARRAY_RESERVE(d->growth, d->growth_capacity, d->n_growth + 1))
		return mp_error_nomem();
	mp_diff_growth *g = &d->growth[d->n_growth];
	memset(g, 0, sizeof(*g));
	g->by_owner = by_owner;
	g->type = t;
	g->interval_bytes = calloc(n_intervals, sizeof(int64_t));
	g->interval_blocks = calloc(n_intervals, sizeof(int64_t));
	g->finding.subject = strdup(by_owner ? d->owners[t] : d->types[t]);
	d->n_growth++;
	if (!g->interval_bytes || !g->interval_blocks || !g->finding.subject)
		return mp_error_nomem();
	for (size_t k = 0; k < n_intervals; k++) {
		const mp_diff_snapshot *a = &d->snapshots[k], *b = &d->snapshots[k + 1];
		g->interval_bytes[k] = (int64_t)(count_in(b, by_owner, true, t) -
						 count_in(a, by_owner, true, t));
		g->interval_blocks[k] = (int64_t)count_in(b, by_owner, false, t) -
					(int64_t)count_in(a, by_owner, false, t);
	}
	uint64_t growth = after - before;
	int64_t blocks = (int64_t)count_in(last, by_owner, false, t) -
			 (int64_t)count_in(first, by_owner, false, t);
	g->bytes_per_second = seconds > 0 ? (double)growth / seconds : 0;
	g->seconds_to_limit = -1;
	if (d->limit)
		g->seconds_to_limit = last->heap_bytes >= d->limit ? 0
				      : g->bytes_per_second > 0
				      ? (double)(d->limit - last->heap_bytes) / g->bytes_per_second
				      : -1;
	g->finding.kind = "growth";
	g->finding.blocks = blocks > 0 ? (uint64_t)blocks : 0;
	g->finding.bytes = growth;
	/* Bounding it (an eviction policy, a size cap) saves what it
	 * gained over the series, at least. */
	g->finding.savings = growth;
	g->finding.impact = mp_growth_impact(g->bytes_per_second, growth, last->bytes,
					     g->seconds_to_limit);
	/* Examples: blocks of the type (path) born in the last snapshot. */
	uint64_t dwarf = 0, shape = 0, typed_total = 0;
	for (size_t i = 0; i < d->n_previous; i++) {
		const mp_diff_block *b = &d->previous[i];
		if ((by_owner ? b->owner : b->type) != t)
			continue;
		if (b->born == n_intervals && g->finding.n_examples < MP_FINDING_EXAMPLES)
			g->finding.examples[g->finding.n_examples++] = b->address;
		typed_total++;
		dwarf += b->evidence == MP_EVIDENCE_DWARF;
		shape += b->evidence == MP_EVIDENCE_SHAPE;
	}
	const char *how = dwarf * 2 > typed_total ? "typed by DWARF"
			  : shape * 2 > typed_total ? "typed by shape"
			  : dwarf + shape ? "partly typed" : "categorised by content";
	/* The growth named from the other side: where a type's new blocks
	 * hang, what an owner path holds. */
	bool nomem = false;
	g->held_by = by_owner ? UINT32_MAX : dominant(d, false, t, true, &nomem);
	g->holds = by_owner ? dominant(d, true, t, false, &nomem) : UINT32_MAX;
	if (nomem)
		return mp_error_nomem();
	char limit_text[96] = "", other_text[320] = "";
	if (g->seconds_to_limit >= 0)
		snprintf(limit_text, sizeof(limit_text), "; reaches the %" PRIu64
			 "-byte limit in %.0f s at this rate", d->limit, g->seconds_to_limit);
	if (g->held_by != UINT32_MAX)
		snprintf(other_text, sizeof(other_text), "; held by %s", d->owners[g->held_by]);
	else if (g->holds != UINT32_MAX)
		snprintf(other_text, sizeof(other_text), "; holds %s", d->types[g->holds]);
	if (asprintf(&g->finding.detail,
		     "grew in all %zu intervals: +%" PRIu64 " bytes, %+" PRId64
		     " blocks in %.1f s (%.0f bytes/s), %" PRIu64 " to %" PRIu64
		     " bytes in use (%s)%s%s",
		     n_intervals, growth, blocks, seconds, g->bytes_per_second, before, after,
		     how, other_text, limit_text) < 0) {
		g->finding.detail = NULL;
		return mp_error_nomem();
	}
	return NULL;
}

/* Types, and owner paths when every snapshot has them, whose bytes in use
 * rose in every interval. */
static mp_error *find_growth(mp_heap_diff *d)
{
	if (d->n_intervals < 2)
		return NULL;   /* one interval: any allocation would look like growth */
	mp_error *err = NULL;
	for (uint32_t t = 0; t < d->n_types && !err; t++)
		err = add_growth(d, false, t);
	for (uint32_t t = 0; t < d->n_owners && !d->owners_missing && !err; t++)
		err = add_growth(d, true, t);
	if (!err && d->n_growth > 1)
		qsort(d->growth, d->n_growth, sizeof(*d->growth), compare_growth);
	return err;
}

mp_error *mp_heap_diff_finish(mp_heap_diff *d, uint64_t limit)
{
	if (d->n_snapshots < 2 || d->n_intervals != d->n_snapshots - 1)
		return mp_error_new(MP_ERR_USAGE, "diff needs two snapshots at least");
	d->limit = limit;
	size_t last_index = d->n_snapshots - 1;
	const mp_diff_snapshot *first = &d->snapshots[0], *last = &d->snapshots[last_index];
	mp_diff_interval *o = &d->overall;
	memset(o, 0, sizeof(*o));
	o->from = 0;
	o->to = last_index;
	o->seconds = seconds_between(first, last);
	size_t n_types = 0;
	if (!fit_counts(&o->types, &n_types, d->n_types))
		return mp_error_nomem();
	/* Types first seen later have no counts in earlier intervals: every
	 * interval gets a count (zeros) for every type, so readers index
	 * them all alike. */
	for (size_t k = 0; k < d->n_intervals; k++)
		if (!fit_counts(&d->intervals[k].types, &d->intervals[k].n_types, d->n_types))
			return mp_error_nomem();
	o->n_types = n_types;
	/* Overall: a block of the last snapshot born in the first survived the
	 * whole series; the first's other blocks were freed along the way. */
	for (size_t i = 0; i < d->n_previous; i++) {
		const mp_diff_block *b = &d->previous[i];
		if (b->born == 0)
			count_surviving(o, n_types, b);
		else
			count_new(o, n_types, b);
		mp_diff_lifetime *l = &d->lifetimes[last_index - b->born];
		l->alive_blocks++;
		l->alive_bytes += b->size;
	}
	o->total.freed_blocks = first->blocks - o->total.surviving_blocks;
	o->total.freed_bytes = first->bytes - o->total.surviving_bytes;
	for (size_t t = 0; t < first->n_types; t++) {
		o->types[t].freed_blocks = first->type_blocks[t] - o->types[t].surviving_blocks;
		o->types[t].freed_bytes = first->type_bytes[t] - o->types[t].surviving_bytes;
	}
	for (unsigned k = 0; k < MP_DIFF_SIZE_CLASSES; k++) {
		o->classes[k].freed_blocks = first->class_blocks[k] - o->classes[k].surviving_blocks;
		o->classes[k].freed_bytes = first->class_bytes[k] - o->classes[k].surviving_bytes;
	}
	return find_growth(d);
}

void mp_heap_diff_free(mp_heap_diff *d)
{
	for (size_t i = 0; i < d->n_types; i++)
		free(d->types[i]);
	free(d->types);
	free(d->by_name);
	for (size_t i = 0; i < d->n_owners; i++)
		free(d->owners[i]);
	free(d->owners);
	free(d->owner_by_name);
	for (size_t i = 0; i < d->n_snapshots; i++) {
		free(d->snapshots[i].path);
		free(d->snapshots[i].target);
		free(d->snapshots[i].type_blocks);
		free(d->snapshots[i].type_bytes);
		free(d->snapshots[i].owner_blocks);
		free(d->snapshots[i].owner_bytes);
	}
	free(d->snapshots);
	for (size_t i = 0; i < d->n_intervals; i++)
		free(d->intervals[i].types);
	free(d->intervals);
	free(d->overall.types);
	free(d->lifetimes);
	for (size_t i = 0; i < d->n_growth; i++) {
		free(d->growth[i].finding.subject);
		free(d->growth[i].finding.detail);
		free(d->growth[i].interval_bytes);
		free(d->growth[i].interval_blocks);
	}
	free(d->growth);
	free(d->previous);
	memset(d, 0, sizeof(*d));
}
