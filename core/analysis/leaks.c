/* Leak detection by reachability, classified the way valgrind memcheck's
 * mc_leakcheck.c does, over a heap snapshot instead of a replaced malloc.
 *
 * Blocks are the chunks in use.  A word that holds an address inside a
 * block's usable bytes is a pointer to it: a start pointer when it holds the
 * first usable byte, an interior pointer otherwise.
 *
 * Phase 1, marking from roots.  Every root word that points to a block
 * marks it REACHABLE if it is a start pointer, POSSIBLE otherwise; every
 * marked block is scanned in turn, and what it points to is REACHABLE only
 * through a start pointer from a REACHABLE block, POSSIBLE otherwise.  A
 * POSSIBLE block later reached by a start pointer from a REACHABLE one is
 * upgraded and scanned again; so each block is scanned at most twice, and
 * the work list (an explicit stack of chunk indices, never recursion) holds
 * at most two entries per block.
 *
 * Phase 2, cliques.  Every block still unreached is lost.  In address
 * order, each lost block not yet claimed leads a clique: everything it
 * reaches (by any pointer) that is still unreached becomes INDIRECT.  A
 * leader reached later by another clique becomes INDIRECT too, so a lost
 * cycle ends with exactly one DEFINITE block and a lost list with its head
 * DEFINITE and the rest INDIRECT, as valgrind reports them.
 *
 * While lost blocks are scanned, every lost block another lost block points
 * to is noted: the rest are chap's "unreferenced" blocks, where a reader
 * should start.
 */
#include <stdarg.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "array.h"
#include "error.h"
#include "warnings.h"
#include "heap/heap_internal.h"
#include "block_graph.h"
#include "progress.h"
#include "roots.h"
#include "target/core_file.h"
#include "target/target_internal.h"

enum {
	UNREACHED = 0,
	REACHABLE = 1,
	POSSIBLE = 2,
	INDIRECT = 3,
	DEFINITE = 4,
	NOT_A_BLOCK = 5,
	INCOMING = 0x80,      /* flag: a lost block points here */
	READ_RUN = 1 << 20,
	POLL_WORDS = 1 << 22,
};

struct mp_leaks {
	const mp_heap *heap;
	uint8_t *state;                 /* per chunk */
	uint64_t scanned_bytes;
	uint64_t scan_bytes;
	double scan_seconds;
	unsigned scan_threads;
	bool partial;
	mp_warnings warnings;
};

typedef struct marker {
	mp_target *t;
	const mp_heap *h;
	mp_leaks *leaks;
	const mp_leak_options *options;
	uint8_t *state;
	uint32_t *stack;
	size_t depth, stack_capacity;
	uint64_t low, high;             /* span of all usable bytes */
	const uint8_t **region_bytes;   /* per heap region: its bytes, or NULL */
	uint8_t **owned;                /* copies read from live targets */
	uint8_t *buffer;                /* for root ranges without a view */
	uint64_t words_since_poll;
	uint64_t edges_done;            /* followed so far, for progress */
	bool interrupted;
	mp_block_graph graph;
} marker;

static void warn(mp_leaks *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void warn(mp_leaks *l, const char *fmt, ...)
{
	l->partial = true;
	va_list ap;
	va_start(ap, fmt);
	mp_warnings_vadd(&l->warnings, fmt, ap);
	va_end(ap);
}

static bool is_block(enum mp_chunk_state s)
{
	return s == MP_CHUNK_IN_USE || s == MP_CHUNK_IN_USE_MMAPPED;
}

/* The block value points into, or -1; *start says whether it points at the
 * block's first usable byte. */
static ptrdiff_t block_of(const marker *m, uint64_t value, bool *start)
{
	if (value < m->low || value >= m->high)
		return -1;
	ptrdiff_t i = mp_heap_find_block(m->h, value);
	if (i < 0 || m->state[i] == NOT_A_BLOCK)
		return -1;
	*start = value == heap_chunk_user(m->h, &m->h->chunks[i]);
	return i;
}

static bool push(marker *m, size_t index)
{
	if (!MP_ARRAY_RESERVE(m->stack, m->stack_capacity, m->depth + 1))
		return false;
	m->stack[m->depth++] = (uint32_t)index;
	return true;
}

/* Phase 1 rule for a pointer to block i from an owner that is definite
 * (a root or a REACHABLE block) or not. */
static bool mark_block(marker *m, size_t i, bool start, bool owner_definite)
{
	uint8_t via = owner_definite && start ? REACHABLE : POSSIBLE;
	uint8_t *s = &m->state[i];
	if (*s == UNREACHED || (*s == POSSIBLE && via == REACHABLE)) {
		*s = via;
		return push(m, i);
	}
	return true;
}

static bool mark(marker *m, uint64_t value, bool owner_definite)
{
	bool start;
	ptrdiff_t i = block_of(m, value, &start);
	return i < 0 || mark_block(m, (size_t)i, start, owner_definite);
}

/* Phase 2 rule: a pointer to block i from lost block owner of clique leader. */
static bool claim(marker *m, size_t i, size_t owner, size_t leader)
{
	uint8_t *s = &m->state[i];
	uint8_t kind = *s & ~INCOMING;
	if (kind != UNREACHED && kind != INDIRECT)
		return true;
	if (i != owner)
		*s |= INCOMING;
	if (kind == UNREACHED && i != leader) {
		*s = (uint8_t)(INDIRECT | (*s & INCOMING));
		return push(m, i);
	}
	return true;
}

static bool poll(marker *m, size_t words)
{
	m->words_since_poll += words;
	if (m->words_since_poll < POLL_WORDS)
		return !m->interrupted;
	m->words_since_poll = 0;
	mp_progress_update(m->edges_done);
	if (m->options->interrupted && m->options->interrupted(m->options->context))
		m->interrupted = true;
	return !m->interrupted;
}

typedef enum { PHASE_MARK, PHASE_CLAIM } phase;

/* Marks from every aligned word of a root range. */
static bool scan_words(marker *m, const uint8_t *bytes, uint64_t address,
		       size_t length)
{
	size_t skip = (size_t)((8 - address % 8) % 8);
	if (skip >= length)
		return true;
	size_t n = (length - skip) / 8;
	const uint8_t *p = bytes + skip;
	for (size_t k = 0; k < n; k++) {
		uint64_t value;
		memcpy(&value, p + 8 * k, 8);
		if (value < m->low || value >= m->high)
			continue;
		if (!mark(m, value, true))
			return false;
	}
	m->leaks->scanned_bytes += length;
	return poll(m, n);
}

static bool drain(marker *m, phase ph, size_t leader);

static bool visit_root_run(void *context, const uint8_t *bytes, uint64_t address,
			   size_t length)
{
	marker *m = context;
	return scan_words(m, bytes, address, length) && drain(m, PHASE_MARK, 0);
}

static void warn_root(void *context, const char *message)
{
	marker *m = context;
	warn(m->leaks, "%s", message);
}

static mp_error *read_heap(void *context, uint64_t address, void *buffer, size_t length)
{
	return mp_target_read(context, address, buffer, length);
}

/* The bytes of every heap region, so blocks are scanned from memory: the
 * core's own pages when it has them, else one copy read in large runs.  A
 * core file read by pread (core_file.h) has its regions read by the scan a
 * window at a time instead (region_bytes NULL): its pages then never enter
 * memprof's resident set, and pages an earlier walk kept are dropped. */
static mp_error *load_regions(marker *m)
{
	bool reads = mp_core_file_reads(m->t);
	size_t n = m->h->n_regions;
	m->region_bytes = calloc(n ? n : 1, sizeof(*m->region_bytes));
	m->owned = calloc(n ? n : 1, sizeof(*m->owned));
	if (!m->region_bytes || !m->owned)
		return mp_error_nomem();
	for (size_t i = 0; i < n; i++) {
		const heap_region *r = &m->h->regions[i];
		uint64_t length = r->end - r->start;
		if (r->copy) {
			m->region_bytes[i] = r->copy;
			continue;
		}
		const uint8_t *view = mp_target_view(m->t, r->start, length);
		if (view && reads) {
			mp_target_unview(m->t, r->start, length);
			continue;
		}
		if (view) {
			m->region_bytes[i] = view;
			continue;
		}
		uint8_t *copy = malloc(length);
		if (!copy)
			return mp_error_nomem();
		for (uint64_t at = 0; at < length;) {
			size_t run = length - at < (64u << 20) ? (size_t)(length - at) : (64u << 20);
			mp_error *err = mp_target_read(m->t, r->start + at, copy + at, run);
			if (err) {
				mp_error_free(err);
				run = 4096 - (size_t)((r->start + at) % 4096);
				if (run > length - at)
					run = (size_t)(length - at);
				err = mp_target_read(m->t, r->start + at, copy + at, run);
				if (err) {
					warn(m->leaks, "heap memory at %#llx is not readable: %s",
					     (unsigned long long)(r->start + at), mp_error_message(err));
					mp_error_free(err);
					memset(copy + at, 0, run);
				}
			}
			at += run;
		}
		m->owned[i] = copy;
		m->region_bytes[i] = copy;
	}
	return NULL;
}

/* Applies the phase's rule along every edge of the blocks on the stack. */
static bool drain(marker *m, phase ph, size_t leader)
{
	const mp_block_graph *g = &m->graph;
	while (m->depth) {
		size_t owner = m->stack[--m->depth];
		bool definite = (m->state[owner] & ~INCOMING) == REACHABLE;
		size_t count;
		const uint32_t *edges = mp_block_graph_edges(g, owner, &count);
		for (size_t e = 0; e < count; e++) {
			size_t target = edges[e] >> 1;
			bool start = edges[e] & 1;
			bool ok = ph == PHASE_MARK ? mark_block(m, target, start, definite)
						   : claim(m, target, owner, leader);
			if (!ok)
				return false;
		}
		m->edges_done += count + 1;
		if (!poll(m, count + 1))
			return false;
	}
	return true;
}

/* ------------------------------------------------------------- roots */

static bool scan_roots(marker *m)
{
	mp_target *t = m->t;
	for (size_t i = 0; i < t->n_threads; i++) {
		const mp_thread *th = &t->threads[i];
		for (size_t r = 0; th->has_registers && r < MP_NUM_REGISTERS; r++) {
			bool start;
			uint64_t value = th->registers.value[r];
			ptrdiff_t b = block_of(m, value, &start);
			if (b >= 0 && !heap_in_next_header(&m->h->chunks[b], value) &&
			    !mark_block(m, (size_t)b, start, true))
				return false;
		}
	}
	if (!drain(m, PHASE_MARK, 0))
		return false;
	mp_root_range *ranges = NULL;
	size_t n = 0;
	mp_error *err = mp_roots_collect(t, m->h, m->options->strict_roots, warn_root, m,
					 &ranges, &n);
	if (err) {
		mp_error_free(err);
		return false;
	}
	bool ok = true;
	char what[160];
	for (size_t i = 0; ok && i < n; i++) {
		const mp_root_range *r = &ranges[i];
		if (r->kind == MP_ROOT_STACK || r->kind == MP_ROOT_TLS)
			snprintf(what, sizeof(what), "%s of thread %lld",
				 r->kind == MP_ROOT_STACK ? "stack" : "static TLS", (long long)r->tid);
		else
			snprintf(what, sizeof(what), "%s mapping %#llx-%#llx %s",
				 r->kind == MP_ROOT_MODULE ? "module data" : "writable",
				 (unsigned long long)r->start, (unsigned long long)r->end, r->path);
		ok = mp_roots_read(t, r->start, r->end, m->buffer, READ_RUN, visit_root_run,
				   warn_root, m, what);
	}
	free(ranges);
	return ok;
}

/* ------------------------------------------------------------ driver */

static void free_marker(marker *m)
{
	for (size_t i = 0; m->owned && i < m->h->n_regions; i++)
		free(m->owned[i]);
	free(m->owned);
	free(m->region_bytes);
	free(m->stack);
	free(m->buffer);
	mp_block_graph_free(&m->graph);
}

mp_error *mp_leaks_analyze(mp_target *target, const mp_heap *heap,
			   const mp_leak_options *options, mp_leaks **out)
{
	*out = NULL;
	mp_leak_options defaults = {0};
	mp_leaks *l = calloc(1, sizeof(*l));
	if (!l)
		return mp_error_nomem();
	l->heap = heap;
	l->state = malloc(heap->n_chunks ? heap->n_chunks : 1);
	marker m = {0};
	m.t = target;
	m.h = heap;
	m.leaks = l;
	m.options = options ? options : &defaults;
	m.buffer = malloc(READ_RUN);
	mp_error *err = NULL;
	if (!l->state || !m.buffer) {
		err = mp_error_nomem();
		goto done;
	}
	m.state = l->state;
	m.low = UINT64_MAX;
	for (size_t i = 0; i < heap->n_chunks; i++) {
		const heap_chunk *c = &heap->chunks[i];
		if (!is_block(heap_chunk_state(c))) {
			l->state[i] = NOT_A_BLOCK;
			continue;
		}
		l->state[i] = UNREACHED;
		uint64_t user = heap_chunk_user(heap, c);
		if (user < m.low)
			m.low = user;
		if (user + heap_chunk_usable(heap, c) > m.high)
			m.high = user + heap_chunk_usable(heap, c);
	}
	if (heap->n_chunks > UINT32_MAX) {
		err = mp_error_new(MP_ERR_UNSUPPORTED, "more than 4 billion chunks");
		goto done;
	}
	err = load_regions(&m);
	if (err)
		goto done;
	{
		atomic_bool stop = false;
		struct timespec begin, end;
		mp_block_graph_input input = {
			.kinds = l->state, .not_a_block = NOT_A_BLOCK,
			.region_bytes = m.region_bytes,
			.read = mp_core_file_reads(target) ? read_heap : NULL,
			.read_context = target,
			.low = m.low, .high = m.high, .threads = m.options->threads,
			.stop = &stop, .interrupted = m.options->interrupted,
			.context = m.options->context,
		};
		clock_gettime(CLOCK_MONOTONIC, &begin);
		err = mp_block_graph_build_from(heap, &input, &m.graph);
		clock_gettime(CLOCK_MONOTONIC, &end);
		l->scan_seconds = (double)(end.tv_sec - begin.tv_sec) +
				  (double)(end.tv_nsec - begin.tv_nsec) / 1e9;
		l->scan_threads = m.graph.threads;
		l->scan_bytes = m.graph.scanned_bytes;
		if (err)
			goto done;
		l->scanned_bytes += m.graph.scanned_bytes;
	}
	/* Each block is drained once, over marking and claiming: its edges
	 * and itself. */
	mp_progress_begin("leak marking", "edges", m.graph.n_edges + heap->n_chunks);
	bool marked = scan_roots(&m);
	/* Phase 2: cliques of lost blocks, in address order. */
	for (size_t i = 0; marked && i < heap->n_chunks; i++) {
		if ((l->state[i] & ~INCOMING) != UNREACHED)
			continue;
		if (!push(&m, i) || !drain(&m, PHASE_CLAIM, i))
			marked = false;
	}
	mp_progress_end();
	if (!marked)
		goto stopped;
	for (size_t i = 0; i < heap->n_chunks; i++)
		if ((l->state[i] & ~INCOMING) == UNREACHED)
			l->state[i] = (uint8_t)(DEFINITE | (l->state[i] & INCOMING));
	if (heap->partial)
		l->partial = true;
	goto done;
stopped:
	err = m.interrupted ? mp_error_new(MP_ERR_INTERRUPTED, "leak check interrupted")
			    : mp_error_nomem();
done:
	free_marker(&m);
	if (!err)
		err = mp_target_check_alive(target);
	if (err) {
		mp_leaks_free(l);
		return err;
	}
	*out = l;
	return NULL;
}

void mp_leaks_free(mp_leaks *l)
{
	if (!l)
		return;
	mp_warnings_free(&l->warnings);
	free(l->state);
	free(l);
}

enum mp_leak_kind mp_leaks_kind(const mp_leaks *l, size_t index)
{
	if (index >= l->heap->n_chunks)
		return MP_LEAK_NOT_A_BLOCK;
	switch (l->state[index] & ~INCOMING) {
	case REACHABLE: return MP_LEAK_REACHABLE;
	case POSSIBLE: return MP_LEAK_POSSIBLE;
	case INDIRECT: return MP_LEAK_INDIRECT;
	case DEFINITE: return MP_LEAK_DEFINITE;
	default: return MP_LEAK_NOT_A_BLOCK;
	}
}

bool mp_leaks_unreferenced(const mp_leaks *l, size_t index)
{
	enum mp_leak_kind kind = mp_leaks_kind(l, index);
	return (kind == MP_LEAK_DEFINITE || kind == MP_LEAK_INDIRECT) &&
	       !(l->state[index] & INCOMING);
}

const char *mp_leak_kind_name(enum mp_leak_kind kind)
{
	switch (kind) {
	case MP_LEAK_REACHABLE: return "still reachable";
	case MP_LEAK_POSSIBLE: return "possibly lost";
	case MP_LEAK_DEFINITE: return "definitely lost";
	case MP_LEAK_INDIRECT: return "indirectly lost";
	default: return "not a block";
	}
}

uint64_t mp_leaks_scanned_bytes(const mp_leaks *l) { return l->scanned_bytes; }
uint64_t mp_leaks_scan_bytes(const mp_leaks *l) { return l->scan_bytes; }
double mp_leaks_scan_seconds(const mp_leaks *l) { return l->scan_seconds; }
unsigned mp_leaks_scan_threads(const mp_leaks *l) { return l->scan_threads; }
bool mp_leaks_partial(const mp_leaks *l) { return l->partial; }
size_t mp_leaks_warning_count(const mp_leaks *l) { return mp_warnings_count(&l->warnings); }

const char *mp_leaks_warning(const mp_leaks *l, size_t i)
{
	return mp_warnings_at(&l->warnings, i);
}
