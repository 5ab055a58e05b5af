/* A record's layout the way pahole computes it (members, byte and bit
 * holes, tail padding) and a reorganized member order without holes: used
 * by `memprof type` and by the struct-padding pattern. */
#ifndef MEMPROF_CORE_ANALYSIS_STRUCT_LAYOUT_H
#define MEMPROF_CORE_ANALYSIS_STRUCT_LAYOUT_H

#include <stdbool.h>
#include <stdint.h>

#include "memprof/memprof.h"

/* One member's place with what follows it, pahole's way. */
typedef struct layout_slot {
	const mp_type_member *member;
	uint64_t hole_bytes;       /* byte hole after this member */
	uint64_t hole_offset;
	uint64_t hole_bits;        /* bit hole after this member */
} layout_slot;

typedef struct struct_layout {
	const mp_type *type;       /* struct, class or union after typedefs */
	uint64_t size;
	layout_slot *slots;
	size_t n;
	size_t n_holes, n_bit_holes;
	uint64_t sum_holes, sum_bit_holes, sum_members;
	uint64_t padding, bit_padding;
	bool is_union;
} struct_layout;

/* A run of members placed together (a bitfield run is one). */
typedef struct reorg_block {
	size_t first, count;       /* members (a bitfield run is one block) */
	uint64_t size, align;
	uint64_t offset;           /* new */
} reorg_block;

typedef struct layout_reorg {
	reorg_block *blocks;
	size_t n;
	uint64_t new_size, align;
} layout_reorg;

bool mp_layout_is_record(const mp_type *type);
/* l->slots is the caller's to free. */
mp_error *mp_layout_compute(const mp_type *type, struct_layout *l);
/* Members by alignment, largest first (base classes stay first): the order
 * and size without holes.  r->blocks is the caller's to free. */
mp_error *mp_layout_reorganize(const struct_layout *l, layout_reorg *r);

#endif
