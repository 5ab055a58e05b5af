/* Who points at a block, and how it is reached from a root.
 *
 * References: every register, every root word and every block word whose
 * value falls inside the target chunk's usable bytes.
 *
 * Path: a breadth-first search from the roots over blocks (start and
 * interior pointers alike), recording for each block the block or root word
 * that first reached it; the first time the target is reached, the chain
 * of parents is one shortest path.  The queue and parents are arrays
 * indexed by chunk: no recursion, memory bounded by the chunk count.
 */
#include "refs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "array.h"
#include "error.h"
#include "heap/heap_internal.h"
#include "roots.h"
#include "target/target_internal.h"

enum { READ_RUN = 1 << 20, NO_PARENT = UINT32_MAX, ROOT_PARENT = UINT32_MAX - 1 };

/* The block holding value, or -1: the same rule as the leak check's. */
static ptrdiff_t block_of(const mp_heap *h, uint64_t value)
{
	return mp_heap_find_block(h, value);
}

static enum mp_ref_kind ref_kind_of(enum mp_root_kind kind)
{
	switch (kind) {
	case MP_ROOT_STACK: return MP_REF_STACK;
	case MP_ROOT_TLS: return MP_REF_TLS;
	case MP_ROOT_MODULE: return MP_REF_MODULE;
	default: return MP_REF_MAPPING;
	}
}

/* A word of a root range holding value. */
static mp_reference root_reference(const mp_root_range *range, uint64_t address,
				   uint64_t value)
{
	mp_reference r = {0};
	r.kind = ref_kind_of(range->kind);
	r.address = address;
	r.value = value;
	r.tid = range->tid;
	r.path = range->path;
	return r;
}

static void describe_location(mp_target *t, const mp_heap *h, mp_reference *r)
{
	uint64_t offset;
	if (r->kind == MP_REF_REGISTER) {
		snprintf(r->where, sizeof(r->where), "register %s of thread %lld",
			 mp_register_name((size_t)r->register_index), (long long)r->tid);
	} else if (r->kind == MP_REF_BLOCK) {
		mp_chunk c = mp_heap_chunk(h, r->block);
		snprintf(r->where, sizeof(r->where), "block 0x%llx+%llu (%llu bytes)",
			 (unsigned long long)c.user_address,
			 (unsigned long long)(r->address - c.user_address),
			 (unsigned long long)mp_chunk_usable_size(&c));
	} else if (r->kind == MP_REF_STACK) {
		snprintf(r->where, sizeof(r->where), "stack of thread %lld", (long long)r->tid);
	} else if (r->kind == MP_REF_TLS) {
		snprintf(r->where, sizeof(r->where), "static TLS of thread %lld", (long long)r->tid);
	} else {
		const char *symbol = mp_target_symbolize(t, r->address, &offset);
		if (symbol)
			snprintf(r->where, sizeof(r->where), "%s+%llu", symbol,
				 (unsigned long long)offset);
		else
			snprintf(r->where, sizeof(r->where), "%s %s",
				 r->kind == MP_REF_MODULE ? "module data" : "mapping",
				 r->path && r->path[0] ? r->path : "(anonymous)");
	}
}

typedef struct finder {
	mp_target *t;
	const mp_heap *h;
	uint64_t low, high;        /* the target chunk's usable bytes */
	mp_reference *refs;
	size_t n, capacity;
	const mp_root_range *range;
	bool nomem;
} finder;

static bool add_ref(finder *f, const mp_reference *r)
{
	if (!MP_ARRAY_RESERVE(f->refs, f->capacity, f->n + 1)) {
		f->nomem = true;
		return false;
	}
	f->refs[f->n] = *r;
	describe_location(f->t, f->h, &f->refs[f->n]);
	f->n++;
	return true;
}

static bool find_in_run(void *context, const uint8_t *bytes, uint64_t address,
			size_t length)
{
	finder *f = context;
	size_t skip = (size_t)((8 - address % 8) % 8);
	for (size_t k = skip; k + 8 <= length; k += 8) {
		uint64_t value;
		memcpy(&value, bytes + k, 8);
		if (value < f->low || value >= f->high)
			continue;
		mp_reference r = root_reference(f->range, address + k, value);
		if (!add_ref(f, &r))
			return false;
	}
	return true;
}

static void ignore_warning(void *context, const char *message)
{
	(void)context;
	(void)message;
}

static mp_error *read_block(mp_target *t, const mp_heap *h, const heap_chunk *c,
			    uint8_t *buffer, size_t size, size_t *length)
{
	*length = heap_chunk_usable(h, c) < size ? (size_t)heap_chunk_usable(h, c) : size;
	return heap_read(h, t, heap_chunk_user(h, c), buffer, *length);
}

mp_error *mp_refs_find(mp_target *t, const mp_heap *h, size_t target_chunk,
		       mp_reference **out, size_t *count)
{
	*out = NULL;
	*count = 0;
	const heap_chunk *target = &h->chunks[target_chunk];
	finder f = {0};
	f.t = t;
	f.h = h;
	f.low = heap_chunk_user(h, target);
	f.high = f.low + heap_chunk_usable(h, target);
	for (size_t i = 0; i < t->n_threads; i++) {
		const mp_thread *th = &t->threads[i];
		for (size_t r = 0; th->has_registers && r < MP_NUM_REGISTERS; r++) {
			uint64_t v = th->registers.value[r];
			if (v < f.low || v >= f.high || heap_in_next_header(target, v))
				continue;   /* the same registers as the leak check */
			mp_reference ref = {0};
			ref.kind = MP_REF_REGISTER;
			ref.value = v;
			ref.tid = th->tid;
			ref.register_index = (int)r;
			if (!add_ref(&f, &ref))
				goto nomem;
		}
	}
	mp_root_range *ranges = NULL;
	size_t n_ranges = 0;
	mp_error *err = mp_roots_collect(t, h, false, ignore_warning, NULL, &ranges, &n_ranges);
	if (err)
		return err;
	uint8_t *buffer = malloc(READ_RUN);
	if (!buffer) {
		free(ranges);
		goto nomem;
	}
	for (size_t i = 0; i < n_ranges && !f.nomem; i++) {
		f.range = &ranges[i];
		mp_roots_read(t, ranges[i].start, ranges[i].end, buffer, READ_RUN, find_in_run,
			      ignore_warning, &f, "root");
	}
	free(ranges);
	/* Blocks, one at a time. */
	for (size_t i = 0; i < h->n_chunks && !f.nomem; i++) {
		const heap_chunk *c = &h->chunks[i];
		if (!heap_chunk_usable(h, c))
			continue;
		size_t length;
		err = read_block(t, h, c, buffer, READ_RUN, &length);
		if (err) {
			mp_error_free(err);
			continue;
		}
		for (size_t k = 0; k + 8 <= length; k += 8) {
			uint64_t value;
			memcpy(&value, buffer + k, 8);
			if (value < f.low || value >= f.high)
				continue;
			mp_reference ref = {0};
			ref.kind = MP_REF_BLOCK;
			ref.address = heap_chunk_user(h, c) + k;
			ref.value = value;
			ref.block = i;
			ref.tid = -1;
			if (!add_ref(&f, &ref))
				break;
		}
	}
	free(buffer);
	if (f.nomem)
		goto nomem;
	*out = f.refs;
	*count = f.n;
	return NULL;
nomem:
	free(f.refs);
	return mp_error_nomem();
}

/* ---------------------------------------------------------------- path */

typedef struct searcher {
	mp_target *t;
	const mp_heap *h;
	uint32_t *parent;          /* per chunk: block index, ROOT_PARENT, NO_PARENT */
	uint64_t *via;             /* per chunk: address of the word that reached it */
	uint32_t *queue;
	size_t head, tail;
	mp_reference *root_of;     /* per chunk reached from a root: which root */
	const mp_root_range *range;
	size_t target;
	bool found;
	bool nomem;
} searcher;

static void reach(searcher *s, ptrdiff_t block, uint64_t word_address,
		  uint32_t parent, const mp_reference *root)
{
	if (block < 0 || s->parent[block] != NO_PARENT)
		return;
	s->parent[block] = parent;
	s->via[block] = word_address;
	if (root)
		s->root_of[block] = *root;
	s->queue[s->tail++] = (uint32_t)block;
	if ((size_t)block == s->target)
		s->found = true;
}

static bool reach_from_run(void *context, const uint8_t *bytes, uint64_t address,
			   size_t length)
{
	searcher *s = context;
	size_t skip = (size_t)((8 - address % 8) % 8);
	for (size_t k = skip; k + 8 <= length; k += 8) {
		uint64_t value;
		memcpy(&value, bytes + k, 8);
		ptrdiff_t block = block_of(s->h, value);
		if (block < 0 || s->parent[block] != NO_PARENT)
			continue;
		mp_reference root = root_reference(s->range, address + k, value);
		reach(s, block, address + k, ROOT_PARENT, &root);
	}
	return !s->nomem;
}

mp_error *mp_refs_path(mp_target *t, const mp_heap *h, size_t target_chunk,
		       mp_path_step **out, size_t *count)
{
	*out = NULL;
	*count = 0;
	size_t n = h->n_chunks;
	searcher s = {0};
	s.t = t;
	s.h = h;
	s.target = target_chunk;
	s.parent = malloc(n * sizeof(*s.parent));
	s.via = malloc(n * sizeof(*s.via));
	s.queue = malloc(n * sizeof(*s.queue));
	s.root_of = calloc(n, sizeof(*s.root_of));
	uint8_t *buffer = malloc(READ_RUN);
	mp_root_range *ranges = NULL;
	size_t n_ranges = 0;
	mp_error *err = NULL;
	if (!s.parent || !s.via || !s.queue || !s.root_of || !buffer) {
		err = mp_error_nomem();
		goto done;
	}
	memset(s.parent, 0xff, n * sizeof(*s.parent));
	/* Roots are the first level: registers, then memory ranges. */
	for (size_t i = 0; i < t->n_threads; i++) {
		const mp_thread *th = &t->threads[i];
		for (size_t r = 0; th->has_registers && r < MP_NUM_REGISTERS; r++) {
			mp_reference root = {0};
			root.kind = MP_REF_REGISTER;
			root.value = th->registers.value[r];
			root.tid = th->tid;
			root.register_index = (int)r;
			ptrdiff_t b = block_of(h, root.value);
			if (b >= 0 && !heap_in_next_header(&h->chunks[b], root.value))
				reach(&s, b, 0, ROOT_PARENT, &root);
		}
	}
	err = mp_roots_collect(t, h, false, ignore_warning, NULL, &ranges, &n_ranges);
	if (err)
		goto done;
	for (size_t i = 0; i < n_ranges && !s.nomem; i++) {
		s.range = &ranges[i];
		mp_roots_read(t, ranges[i].start, ranges[i].end, buffer, READ_RUN,
			      reach_from_run, ignore_warning, &s, "root");
	}
	/* Breadth first through blocks until the target is reached. */
	while (!s.found && !s.nomem && s.head < s.tail) {
		size_t block = s.queue[s.head++];
		size_t length;
		mp_error *read_err = read_block(t, h, &h->chunks[block], buffer, READ_RUN, &length);
		if (read_err) {
			mp_error_free(read_err);
			continue;
		}
		uint64_t base = heap_chunk_user(h, &h->chunks[block]);
		for (size_t k = 0; k + 8 <= length && !s.found; k += 8) {
			uint64_t value;
			memcpy(&value, buffer + k, 8);
			reach(&s, block_of(h, value), base + k, (uint32_t)block, NULL);
		}
	}
	if (s.nomem) {
		err = mp_error_nomem();
		goto done;
	}
	if (!s.found || s.parent[target_chunk] == NO_PARENT)
		goto done;   /* unreachable: no path, not an error */
	size_t length = 0;
	for (size_t b = target_chunk; ; b = s.parent[b]) {
		length++;
		if (s.parent[b] == ROOT_PARENT)
			break;
	}
	mp_path_step *steps = calloc(length + 1, sizeof(*steps));
	if (!steps) {
		err = mp_error_nomem();
		goto done;
	}
	/* steps[0] is the root; then each block from the root's down to the
	 * target, with the word that pointed to it. */
	size_t k = length;
	for (size_t b = target_chunk; ; b = s.parent[b]) {
		steps[k].block = b;
		steps[k].word_address = s.via[b];
		/* The pointer's value is read again rather than kept per chunk
		 * during the search: only the path's few words are needed. */
		uint64_t value = s.root_of[b].value;
		if (s.parent[b] != ROOT_PARENT) {
			mp_error *read_err = heap_read(h, t, s.via[b], &value, sizeof(value));
			if (read_err) {
				mp_error_free(read_err);
				value = heap_chunk_user(h, &h->chunks[b]);
			}
		}
		uint64_t user = heap_chunk_user(h, &h->chunks[b]);
		steps[k].offset = value > user ? value - user : 0;
		k--;
		if (s.parent[b] == ROOT_PARENT) {
			steps[0].root = s.root_of[b];
			describe_location(t, h, &steps[0].root);
			break;
		}
	}
	*out = steps;
	*count = length + 1;
done:
	free(ranges);
	free(buffer);
	free(s.parent);
	free(s.via);
	free(s.queue);
	free(s.root_of);
	return err;
}
