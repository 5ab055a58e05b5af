/* glibc's own facts as the heap's detail rows: per arena its malloc_state
 * figures (group "arena 0x...", the rows carrying the arena's index),
 * malloc's mmap peaks from mp_ (group "peak", when they were read) and
 * mallinfo2 recomputed by the walk (group "mallinfo").  Derived from what
 * the heap keeps, which snapshots save in their own fields, so a loaded
 * snapshot describes itself as the live heap did. */
#include <inttypes.h>
#include <stdio.h>

#include "heap_internal.h"

typedef struct row {
	const char *name;
	uint64_t value;
} row;

static mp_error *add_rows(mp_heap *h, const char *group, const row *rows, size_t n, int arena)
{
	for (size_t i = 0; i < n; i++) {
		mp_error *err = heap_describe_row(h, group, rows[i].name, rows[i].value, arena);
		if (err)
			return err;
	}
	return NULL;
}

mp_error *mp_glibc_describe(mp_heap *h)
{
	mp_error *err = NULL;
	for (size_t i = 0; i < h->n_arenas && !err; i++) {
		const heap_arena *a = &h->arenas[i];
		char group[32];
		snprintf(group, sizeof(group), "arena 0x%" PRIx64, a->address);
		const row rows[] = {
			{"address", a->address}, {"main", a->is_main},
			{"system_mem", a->system_mem}, {"max_system_mem", a->max_system_mem},
			{"top_address", a->top_address}, {"top_size", a->top_size},
			{"heaps", a->n_heaps},
		};
		err = add_rows(h, group, rows, sizeof(rows) / sizeof(rows[0]), (int)i);
	}
	if (!err && h->have_peak) {
		const row rows[] = {
			{"max_mmapped_mem", h->max_mmapped_mem}, {"max_n_mmaps", h->max_n_mmaps},
		};
		err = add_rows(h, "peak", rows, sizeof(rows) / sizeof(rows[0]), -1);
	}
	if (!err) {
		const heap_mallinfo *mi = &h->mallinfo;
		const row rows[] = {
			{"arena", mi->arena}, {"ordblks", mi->ordblks}, {"smblks", mi->smblks},
			{"hblks", mi->hblks}, {"hblkhd", mi->hblkhd}, {"usmblks", mi->usmblks},
			{"fsmblks", mi->fsmblks}, {"uordblks", mi->uordblks},
			{"fordblks", mi->fordblks}, {"keepcost", mi->keepcost},
		};
		err = add_rows(h, "mallinfo", rows, sizeof(rows) / sizeof(rows[0]), -1);
	}
	return err;
}
