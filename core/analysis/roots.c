#include "roots.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "array.h"
#include "error.h"
#include "heap/heap_internal.h"
#include "target/target_internal.h"

enum { RED_ZONE = 128 };


static bool in_module_data(const mp_target *t, const mp_mapping *map,
			   const mp_mapping *previous)
{
	for (size_t k = 0; k < t->n_modules; k++) {
		const mp_module *mod = t->modules[k];
		if (map->start >= mod->start && map->start < mod->end)
			return true;
		/* .bss past the file's end: anonymous, right after the module. */
		if (!map->path[0] && previous && previous->end == map->start &&
		    previous->end == mod->end)
			return true;
	}
	return false;
}

static bool scannable(const mp_mapping *map)
{
	return (map->perms & (MP_PERM_READ | MP_PERM_WRITE)) == (MP_PERM_READ | MP_PERM_WRITE) &&
	       !(map->perms & MP_PERM_UNKNOWN) && map->contents != MP_CONTENTS_NONE &&
	       strcmp(map->path, "[vvar]") != 0 && strcmp(map->path, "[vsyscall]") != 0;
}

static bool add_one(mp_root_range **items, size_t *count, size_t *capacity,
		    const mp_root_range *r)
{
	if (!MP_ARRAY_RESERVE(*items, *capacity, *count + 1))
		return false;
	(*items)[(*count)++] = *r;
	return true;
}

/* Address ranges no root may cover, sorted and disjoint. */
typedef struct excluded {
	uint64_t (*spans)[2];
	size_t count;
} excluded;

static int compare_spans(const void *a, const void *b)
{
	const uint64_t *x = a, *y = b;
	return x[0] < y[0] ? -1 : x[0] > y[0];
}

/* The heap's regions and its arenas' malloc_state records.  The arenas
 * matter since a block's last usable word is the next chunk's prev_size
 * field: an arena's top, bins and last_remainder point at chunk headers,
 * which would read as interior pointers into the blocks before them.
 * main_arena lies in libc's data, a non-main arena in its first heap
 * segment before the chunks. */
static bool excluded_spans(const mp_heap *h, excluded *out)
{
	size_t n = h->n_regions + (h->arena_struct_size ? h->n_arenas : 0);
	out->spans = malloc((n ? n : 1) * sizeof(*out->spans));
	out->count = 0;
	if (!out->spans)
		return false;
	for (size_t i = 0; i < h->n_regions; i++) {
		out->spans[i][0] = h->regions[i].start;
		out->spans[i][1] = h->regions[i].end;
	}
	for (size_t i = h->n_regions; i < n; i++) {
		uint64_t at = h->arenas[i - h->n_regions].address;
		out->spans[i][0] = at;
		out->spans[i][1] = at + h->arena_struct_size > at ? at + h->arena_struct_size : UINT64_MAX;
	}
	qsort(out->spans, n, sizeof(*out->spans), compare_spans);
	for (size_t i = 0; i < n; i++) {   /* merge overlapping ones */
		if (out->count && out->spans[i][0] <= out->spans[out->count - 1][1]) {
			if (out->spans[i][1] > out->spans[out->count - 1][1])
				out->spans[out->count - 1][1] = out->spans[i][1];
		} else {
			out->spans[out->count][0] = out->spans[i][0];
			out->spans[out->count][1] = out->spans[i][1];
			out->count++;
		}
	}
	return true;
}

/* Adds r less the excluded spans.  The kernel merges adjacent anonymous
 * mappings, so one mapping can hold mmapped chunks beside a thread's TLS
 * or a program's own mmap: only the chunks' bytes are the heap, the rest
 * stays a root. */
static bool add(const excluded *x, mp_root_range **items, size_t *count, size_t *capacity,
		const mp_root_range *r)
{
	size_t lo = 0, hi = x->count;
	while (lo < hi) {   /* the first span ending after r's start */
		size_t mid = lo + (hi - lo) / 2;
		if (x->spans[mid][1] <= r->start)
			lo = mid + 1;
		else
			hi = mid;
	}
	mp_root_range piece = *r;
	for (size_t i = lo; i < x->count && piece.start < piece.end; i++) {
		uint64_t start = x->spans[i][0], end = x->spans[i][1];
		if (start >= piece.end)
			break;
		if (start > piece.start) {
			mp_root_range before = piece;
			before.end = start;
			if (!add_one(items, count, capacity, &before))
				return false;
		}
		if (end > piece.start)
			piece.start = end;
	}
	return piece.start >= piece.end || add_one(items, count, capacity, &piece);
}

/* Whether the 16-aligned words of bytes hold a TCB: glibc's tcbhead_t
 * begins with tcb and, two words on, self, both its own address. */
static bool holds_tcb(const uint8_t *bytes, size_t length, uint64_t start)
{
	for (size_t at = 0; at + 24 <= length; at += 16) {
		uint64_t tcb, self;
		memcpy(&tcb, bytes + at, 8);
		memcpy(&self, bytes + at + 16, 8);
		if (tcb == start + at && self == tcb)
			return true;
	}
	return false;
}

/* The anonymous mappings, not stacks or module data, holding a TCB, when
 * some thread's fs_base is unknown (0); false when out of memory.  Small
 * mappings only (a TCB's mapping holds static TLS: kilobytes). */
static bool find_unnamed_tls(mp_target *t, const mp_mapping **stacks, const mp_mapping **tls,
			     const mp_mapping ***out, size_t *count)
{
	enum { MOST_BYTES = 1 << 20 };
	bool unknown = false;
	for (size_t i = 0; i < t->n_threads; i++)
		unknown |= t->threads[i].has_registers &&
			   !t->threads[i].registers.value[mp_register_index("fs_base")];
	if (!unknown)
		return true;
	uint8_t *buffer = NULL;
	for (size_t i = 0; i < t->n_mappings; i++) {
		const mp_mapping *map = &t->mappings[i];
		if (!scannable(map) || map->path[0] || map->end - map->start > MOST_BYTES ||
		    in_module_data(t, map, i ? &t->mappings[i - 1] : NULL))
			continue;
		bool taken = false;
		for (size_t k = 0; k < t->n_threads; k++)
			taken |= stacks[k] == map || tls[k] == map;
		if (taken)
			continue;
		size_t length = (size_t)(map->end - map->start);
		if (!buffer && !(buffer = malloc(MOST_BYTES)))
			return false;
		mp_error *err = mp_target_read(t, map->start, buffer, length);
		if (err) {
			mp_error_free(err);
			continue;
		}
		if (!holds_tcb(buffer, length, map->start))
			continue;
		const mp_mapping **grown = realloc(*out, (*count + 1) * sizeof(**out));
		if (!grown) {
			free(buffer);
			return false;
		}
		*out = grown;
		(*out)[(*count)++] = map;
	}
	free(buffer);
	return true;
}

mp_error *mp_roots_collect(mp_target *t, const mp_heap *heap, bool strict,
			   void (*warn)(void *, const char *), void *context,
			   mp_root_range **out, size_t *count)
{
	mp_root_range *items = NULL;
	size_t n = 0, capacity = 0;
	char message[256];
	const mp_mapping **tls = NULL;
	excluded skip = {0};
	const mp_mapping **stacks = calloc(t->n_threads ? t->n_threads : 1, sizeof(*stacks));
	if (!stacks || !excluded_spans(heap, &skip)) {
		free(stacks);
		free(skip.spans);
		return mp_error_nomem();
	}
	for (size_t i = 0; i < t->n_threads; i++) {
		const mp_thread *th = &t->threads[i];
		if (!th->has_registers) {
			snprintf(message, sizeof(message),
				 "thread %lld has no registers: its stack and registers were not scanned",
				 (long long)th->tid);
			warn(context, message);
			continue;
		}
		uint64_t sp = th->registers.value[mp_register_index("rsp")];
		const mp_mapping *map = mp_target_find_mapping(t, sp);
		if (!map) {
			snprintf(message, sizeof(message),
				 "thread %lld: its stack pointer %#llx is in no mapping: stack not scanned",
				 (long long)th->tid, (unsigned long long)sp);
			warn(context, message);
			continue;
		}
		stacks[i] = map;
		mp_root_range r = {0};
		r.start = sp >= RED_ZONE && sp - RED_ZONE > map->start ? sp - RED_ZONE : map->start;
		r.end = map->end;
		r.kind = MP_ROOT_STACK;
		r.tid = th->tid;
		r.path = map->path;
		if (!add(&skip, &items, &n, &capacity, &r))
			goto nomem;
	}
	/* Static TLS: the mapping each thread's fs_base (its TCB) lies in,
	 * less any heap chunks the kernel merged into it, unless that is a
	 * stack (other threads keep TLS above the stack, which its stack
	 * range covers). */
	tls = calloc(t->n_threads ? t->n_threads : 1, sizeof(*tls));
	if (!tls)
		goto nomem;
	for (size_t i = 0; i < t->n_threads; i++) {
		const mp_thread *th = &t->threads[i];
		if (!th->has_registers)
			continue;
		const mp_mapping *map = mp_target_find_mapping(t, th->registers.value[mp_register_index("fs_base")]);
		bool seen = !map || !scannable(map);
		for (size_t k = 0; k < t->n_threads && !seen; k++)
			seen = stacks[k] == map || (k < i && tls[k] == map);
		if (seen)
			continue;
		tls[i] = map;
		mp_root_range r = {0};
		r.start = map->start;
		r.end = map->end;
		r.kind = MP_ROOT_TLS;
		r.tid = th->tid;
		r.path = map->path;
		if (!add(&skip, &items, &n, &capacity, &r))
			goto nomem;
	}
	/* A thread whose fs_base reads 0 (LLDB 14 gives none) still has its
	 * TCB somewhere: the main thread's in an anonymous mapping of its
	 * own, the others' at the top of their stacks (scanned above). */
	size_t n_found = 0;
	const mp_mapping **found = NULL;
	if (!find_unnamed_tls(t, stacks, tls, &found, &n_found)) {
		free(found);
		goto nomem;
	}
	for (size_t i = 0; i < n_found; i++) {
		mp_root_range r = {0};
		r.start = found[i]->start;
		r.end = found[i]->end;
		r.kind = MP_ROOT_TLS;
		r.tid = t->n_threads ? t->threads[0].tid : -1;
		r.path = found[i]->path;
		if (!add(&skip, &items, &n, &capacity, &r)) {
			free(found);
			goto nomem;
		}
	}
	for (int pass = 0; pass < 2 && !(pass == 1 && strict); pass++) {
		for (size_t i = 0; i < t->n_mappings; i++) {
			const mp_mapping *map = &t->mappings[i];
			if (!scannable(map))
				continue;
			bool is_stack = false;
			for (size_t k = 0; k < t->n_threads; k++)
				is_stack |= stacks[k] == map || tls[k] == map;
			for (size_t k = 0; k < n_found; k++)
				is_stack |= found[k] == map;
			bool module = in_module_data(t, map, i ? &t->mappings[i - 1] : NULL);
			if (is_stack || module != (pass == 0))
				continue;
			mp_root_range r = {0};
			r.start = map->start;
			r.end = map->end;
			r.kind = module ? MP_ROOT_MODULE : MP_ROOT_MAPPING;
			r.tid = -1;
			r.path = map->path;
			if (!add(&skip, &items, &n, &capacity, &r)) {
				free(found);
				goto nomem;
			}
		}
	}
	free(found);
	free(stacks);
	free(tls);
	free(skip.spans);
	*out = items;
	*count = n;
	return NULL;
nomem:
	free(stacks);
	free(tls);
	free(skip.spans);
	free(items);
	return mp_error_nomem();
}

bool mp_roots_read(mp_target *t, uint64_t start, uint64_t end, uint8_t *buffer,
		   size_t buffer_size,
		   bool (*visit)(void *, const uint8_t *, uint64_t, size_t),
		   void (*warn)(void *, const char *), void *context, const char *what)
{
	uint64_t at = start;
	bool reported = false;
	while (at < end) {
		size_t run = end - at < buffer_size ? (size_t)(end - at) : buffer_size;
		const uint8_t *bytes = mp_target_view(t, at, run);
		if (!bytes) {
			mp_error *err = mp_target_read(t, at, buffer, run);
			if (err) {
				mp_error_free(err);
				size_t page = 4096 - (size_t)(at % 4096);
				if (page > run)
					page = run;
				err = mp_target_read(t, at, buffer, page);
				if (err) {
					if (!reported) {
						char message[512];
						snprintf(message, sizeof(message),
							 "%s: %s; pointers there were not seen", what,
							 mp_error_message(err));
						warn(context, message);
					}
					reported = true;
					mp_error_free(err);
					at += page;
					continue;
				}
				run = page;
			}
			bytes = buffer;
		}
		if (!visit(context, bytes, at, run))
			return false;
		at += run;
	}
	return true;
}
