/* The pointer graph between heap blocks, on heaps built chunk by chunk with
 * known contents: which words count as pointers to which chunk (start,
 * interior, header, the next chunk's prev_size word), tiled regions read
 * from the start bitmap and regions with gaps read from the chunk table,
 * and the same graph whatever the number of threads.  The expected edges
 * come from how each test wrote the words, not from the code under test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "analysis/block_graph.h"
#include "array.h"
#include "heap/heap_internal.h"

typedef struct expected_edge {
	size_t owner, target;
	bool start;
} expected_edge;

/* A heap under construction: one byte image per region. */
typedef struct fixture {
	mp_heap *heap;
	uint8_t *bytes[4];
	uint8_t *is_block;
	expected_edge *edges;
	size_t n_edges, capacity;
} fixture;

static void put_word(fixture *f, size_t region, uint64_t address, uint64_t value)
{
	const heap_region *r = &f->heap->regions[region];
	assert_true(address >= r->start && address + 8 <= r->end);
	memcpy(f->bytes[region] + (address - r->start), &value, 8);
}

static void expect(fixture *f, size_t owner, size_t target, bool start)
{
	assert_true(MP_ARRAY_RESERVE(f->edges, f->capacity, f->n_edges + 1));
	f->edges[f->n_edges++] = (expected_edge){owner, target, start};
}

static void finish(fixture *f)
{
	size_t n = f->heap->n_chunks;
	f->is_block = calloc(n, 1);
	assert_non_null(f->is_block);
	for (size_t i = 0; i < n; i++) {
		enum mp_chunk_state s = heap_chunk_state(&f->heap->chunks[i]);
		f->is_block[i] = s == MP_CHUNK_IN_USE || s == MP_CHUNK_IN_USE_MMAPPED;
	}
	for (size_t r = 0; r < f->heap->n_regions; r++) {
		const heap_region *region = &f->heap->regions[r];
		f->bytes[r] = calloc(region->end - region->start, 1);
		assert_non_null(f->bytes[r]);
	}
}

static void release(fixture *f)
{
	for (size_t r = 0; r < 4; r++)
		free(f->bytes[r]);
	free(f->is_block);
	free(f->edges);
	mp_heap_free(f->heap);
}

/* Builds the graph with `threads` and checks it holds exactly the
 * expected edges, in word order for each owner. */
static void check_graph(fixture *f, unsigned threads)
{
	const mp_heap *h = f->heap;
	uint64_t low = h->regions[0].start, high = h->regions[h->n_regions - 1].end;
	atomic_bool stop = false;
	mp_block_graph g;
	mp_error *err = mp_block_graph_build(h, f->is_block, (const uint8_t *const *)f->bytes,
					     low, high, threads, &stop, NULL, NULL, &g);
	assert_null(err);
	assert_int_equal(g.n_edges, f->n_edges);
	size_t next = 0;
	for (size_t i = 0; i < h->n_chunks; i++) {
		size_t count;
		const uint32_t *edges = mp_block_graph_edges(&g, i, &count);
		for (size_t e = 0; e < count; e++, next++) {
			assert_true(next < f->n_edges);
			assert_int_equal(f->edges[next].owner, i);
			assert_int_equal(edges[e] >> 1, f->edges[next].target);
			assert_int_equal(edges[e] & 1, f->edges[next].start);
		}
	}
	assert_int_equal(next, f->n_edges);
	mp_block_graph_free(&g);
}

/* Region 0 tiled: A (block, 48) B (free, 32) C (block, 64) D (block, 32)
 * top.  Region 1 has a gap: E (block, 32), 64 bytes of nothing, F (block,
 * 48). */
enum { BASE0 = 0x10000, BASE1 = 0x20000 };
enum { A = BASE0, B = A + 48, C = B + 32, D = C + 64, TOP = D + 32, END0 = TOP + 160 };
enum { E = BASE1, GAP = E + 32, F = GAP + 64, END1 = F + 48 };
enum { IA, IB, IC, ID, ITOP, IE, IF };

static void build_small(fixture *f)
{
	f->heap = heap_new();
	assert_non_null(f->heap);
	mp_heap *h = f->heap;
	assert_null(heap_begin_region(h, BASE0, 0));
	assert_null(heap_add_chunk(h, A, 48, MP_CHUNK_IN_USE));
	assert_null(heap_add_chunk(h, B, 32, MP_CHUNK_FREE));
	assert_null(heap_add_chunk(h, C, 64, MP_CHUNK_IN_USE));
	assert_null(heap_add_chunk(h, D, 32, MP_CHUNK_IN_USE));
	assert_null(heap_add_chunk(h, TOP, END0 - TOP, MP_CHUNK_TOP));
	assert_null(heap_end_region(h, END0));
	assert_null(heap_begin_region(h, BASE1, 0));
	assert_null(heap_add_chunk(h, E, 32, MP_CHUNK_IN_USE));
	assert_null(heap_add_chunk(h, F, 48, MP_CHUNK_IN_USE));
	assert_null(heap_end_region(h, END1));
	finish(f);
}

static void tiled_and_gapped_regions(void **state)
{
	(void)state;
	fixture f = {0};
	build_small(&f);
	assert_true(f.heap->regions[0].tiled);
	assert_false(f.heap->regions[1].tiled);

	/* A's usable bytes: [A+16, A+56), the last word being B's prev_size. */
	put_word(&f, 0, A + 16, C + 16);         /* start of C */
	expect(&f, IA, IC, true);
	put_word(&f, 0, A + 24, C + 40);         /* inside C */
	expect(&f, IA, IC, false);
	put_word(&f, 0, A + 32, C);              /* C's header: nothing */
	put_word(&f, 0, A + 40, C + 8);
	put_word(&f, 0, B, D + 31);              /* A's last word, D's last byte */
	expect(&f, IA, ID, false);
	/* B is free: its words are not scanned, but a pointer to it is kept
	 * (marking ignores chunks that are no block). */
	put_word(&f, 0, B + 16, C + 16);
	put_word(&f, 0, C + 16, B + 16);
	expect(&f, IC, IB, true);
	/* The top chunk's prev_size word is D's last usable word, D's is
	 * C's; C's is free B's and belongs to no block (A + 32 above). */
	put_word(&f, 0, C + 24, TOP);
	expect(&f, IC, ID, false);
	put_word(&f, 0, C + 32, D);
	expect(&f, IC, IC, false);
	put_word(&f, 0, C + 40, END1);           /* just past the last region */
	put_word(&f, 0, C + 56, BASE0 - 16);     /* below the first region */
	put_word(&f, 0, C + 48, E + 20);         /* into the other region */
	expect(&f, IC, IE, false);
	put_word(&f, 0, D + 16, F + 16);
	expect(&f, ID, IF, true);
	/* The region with a gap: a pointer into the gap is no edge. */
	put_word(&f, 1, E + 16, GAP + 8);
	put_word(&f, 1, E + 24, F + 24);
	expect(&f, IE, IF, false);
	put_word(&f, 1, F + 16, A + 16);
	expect(&f, IF, IA, true);
	put_word(&f, 1, F + 24, E);              /* E's header */
	put_word(&f, 1, F + 32, GAP);            /* E's last word, in the gap */
	expect(&f, IF, IE, false);
	check_graph(&f, 1);
	release(&f);
}

/* A header-less allocator's heap (jemalloc, tcmalloc, mimalloc): blocks of
 * 8-byte granules, a chunk is its block (address what malloc returned,
 * size its usable size), nothing lent to the next one.  Region 0 tiled:
 * P (8, block) Q (24, block) R (16, free) S (32, block); region 1 with a
 * gap: U (40, block), 24 bytes of nothing, V (8, block). */
enum { P = BASE0, Q = P + 8, R = Q + 24, S = R + 16, ENDS = S + 32 };
enum { U = BASE1, UGAP = U + 40, V = UGAP + 24, ENDV = V + 8 };
enum { IP, IQ, IR, IS, IU, IV };

static void header_less_layout(void **state)
{
	(void)state;
	fixture f = {0};
	f.heap = heap_new();
	assert_non_null(f.heap);
	mp_heap *h = f.heap;
	heap_set_layout(h, 0, 3);
	assert_null(heap_begin_segment(h, BASE0, ENDS, 0));
	assert_null(heap_add_chunk(h, P, 8, MP_CHUNK_IN_USE));
	assert_null(heap_add_chunk(h, Q, 24, MP_CHUNK_IN_USE));
	assert_null(heap_add_chunk(h, R, 16, MP_CHUNK_FREE));
	assert_null(heap_add_chunk(h, S, 32, MP_CHUNK_IN_USE));
	assert_null(heap_end_region(h, ENDS));
	assert_null(heap_begin_region(h, BASE1, 0));
	assert_null(heap_add_chunk(h, U, 40, MP_CHUNK_IN_USE));
	assert_null(heap_add_chunk(h, V, 8, MP_CHUNK_IN_USE));
	assert_null(heap_end_region(h, ENDV));
	finish(&f);
	assert_true(h->regions[0].tiled);
	assert_false(h->regions[1].tiled);
	/* Usable bytes are the whole chunk: the first and last byte of each
	 * block are its own, the byte after is the next block's. */
	assert_int_equal(heap_chunk_user(h, &h->chunks[IQ]), Q);
	assert_int_equal(heap_chunk_usable(h, &h->chunks[IQ]), 24);
	assert_int_equal(mp_heap_find_block(h, P), IP);
	assert_int_equal(mp_heap_find_block(h, P + 7), IP);
	assert_int_equal(mp_heap_find_block(h, Q), IQ);
	assert_int_equal(mp_heap_find_block(h, R - 1), IQ);
	assert_int_equal(mp_heap_find_block(h, R), -1);   /* free */
	assert_int_equal(mp_heap_find_block(h, UGAP), -1);
	assert_int_equal(mp_heap_find_block(h, V + 7), IV);
	assert_int_equal(mp_heap_find_block(h, ENDV), -1);
	mp_chunk c = mp_heap_chunk(h, IS);
	assert_int_equal(c.user_address, S);
	assert_int_equal(mp_chunk_usable_size(&c), 32);

	put_word(&f, 0, P, Q);                   /* start of Q */
	expect(&f, IP, IQ, true);
	put_word(&f, 0, Q, S + 31);              /* S's last byte */
	expect(&f, IQ, IS, false);
	put_word(&f, 0, Q + 8, R);               /* free R: kept, marking ignores it */
	expect(&f, IQ, IR, true);
	put_word(&f, 0, Q + 16, P + 4);          /* inside P */
	expect(&f, IQ, IP, false);
	put_word(&f, 0, R, S);                   /* R is free: not scanned */
	put_word(&f, 0, S + 24, U);              /* the other region */
	expect(&f, IS, IU, true);
	put_word(&f, 1, U, UGAP + 8);            /* the gap: nothing */
	put_word(&f, 1, U + 32, V);
	expect(&f, IU, IV, true);
	put_word(&f, 1, V, ENDS);                /* just past region 0 */
	check_graph(&f, 1);
	check_graph(&f, 2);
	release(&f);
}

/* Tens of thousands of chunks of varied sizes (several parts), each pointing at pseudo-random
 * others at their start or inside, plus a run of free chunks: one, two
 * and four threads must give the expected graph. */
static void threads_give_the_same_graph(void **state)
{
	(void)state;
	enum { N = 20000 };
	fixture f = {0};
	f.heap = heap_new();
	assert_non_null(f.heap);
	uint64_t sizes[N], address = BASE0;
	uint32_t seed = 12345;
	assert_null(heap_begin_region(f.heap, BASE0, 0));
	for (size_t i = 0; i < N; i++) {
		seed = seed * 1103515245u + 12345u;
		sizes[i] = 32 + 16 * ((seed >> 16) % (i % 97 == 0 ? 200 : 6));
		bool free_chunk = i % 50 == 7;
		assert_null(heap_add_chunk(f.heap, address, sizes[i],
					   free_chunk ? MP_CHUNK_FREE : MP_CHUNK_IN_USE));
		address += sizes[i];
	}
	assert_null(heap_end_region(f.heap, address));
	finish(&f);
	assert_true(f.heap->regions[0].tiled);
	uint64_t at = BASE0;
	for (size_t i = 0; i < N; i++) {
		uint64_t usable = sizes[i] - 8;
		for (uint64_t k = 16; k < 16 + usable && at + k + 8 <= address; k += 8) {
			seed = seed * 1103515245u + 12345u;
			if ((seed >> 16) % 3 == 0)
				continue;
			size_t target = (seed >> 8) % N;
			uint64_t target_address = f.heap->chunks[target].address;
			uint64_t offset = (seed >> 4) % 2 ? 16 : 16 + (seed >> 20) % (sizes[target] - 16);
			put_word(&f, 0, at + k, target_address + offset);
			if (f.is_block[i])
				expect(&f, i, target, offset == 16);
		}
		at += sizes[i];
	}
	check_graph(&f, 1);
	check_graph(&f, 2);
	check_graph(&f, 4);
	release(&f);
}

/* A part with more than 2^16 edges: one block full of pointers (its
 * offsets no longer fit 16 bits), between two small ones. */
static void part_with_many_edges(void **state)
{
	(void)state;
	enum { WORDS = 70000 };
	fixture f = {0};
	f.heap = heap_new();
	assert_non_null(f.heap);
	uint64_t big = BASE0 + 32, big_size = 16 + WORDS * 8, after = big + big_size;
	assert_null(heap_begin_region(f.heap, BASE0, 0));
	assert_null(heap_add_chunk(f.heap, BASE0, 32, MP_CHUNK_IN_USE));
	assert_null(heap_add_chunk(f.heap, big, big_size, MP_CHUNK_IN_USE));
	assert_null(heap_add_chunk(f.heap, after, 32, MP_CHUNK_IN_USE));
	assert_null(heap_end_region(f.heap, after + 32));
	finish(&f);
	put_word(&f, 0, BASE0 + 16, after + 16);
	expect(&f, 0, 2, true);
	for (uint64_t k = 0; k < WORDS; k++) {
		put_word(&f, 0, big + 16 + 8 * k, k % 2 ? BASE0 + 16 : after + 24);
		expect(&f, 1, k % 2 ? 0 : 2, k % 2);
	}
	put_word(&f, 0, after + 16, big + 16);
	expect(&f, 2, 1, true);
	check_graph(&f, 1);
	check_graph(&f, 2);
	release(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(tiled_and_gapped_regions),
		cmocka_unit_test(header_less_layout),
		cmocka_unit_test(threads_give_the_same_graph),
		cmocka_unit_test(part_with_many_edges),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
