/* Struct layouts and their reorganization (see struct_layout.h). */
#include "struct_layout.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"

enum { MAX_LAYOUT_MEMBERS = 1 << 20 };

bool mp_layout_is_record(const mp_type *t)
{
	enum mp_type_kind k = mp_type_kind(t);
	return k == MP_TYPE_STRUCT || k == MP_TYPE_CLASS || k == MP_TYPE_UNION;
}

/* Holes as pahole finds them: between the end of one member (its last bit
 * for bitfields, with the rest of a bitfield's storage unit counted as a
 * bit hole) and the start of the next; padding after the last. */
mp_error *mp_layout_compute(const mp_type *type, struct_layout *l)
{
	memset(l, 0, sizeof(*l));
	l->type = type;
	l->size = mp_type_size(type);
	/* Rust enums overlay their variants like a union. */
	l->is_union = mp_type_kind(type) == MP_TYPE_UNION || mp_type_variant_count(type) > 0;
	size_t n = mp_type_member_count(type);
	if (n > MAX_LAYOUT_MEMBERS)
		return mp_error_new(MP_ERR_UNSUPPORTED, "%s has %zu members", mp_type_name(type), n);
	l->slots = calloc(n ? n : 1, sizeof(*l->slots));
	if (!l->slots)
		return mp_error_nomem();
	l->n = n;
	uint64_t last_seen = 0, unit_end = 0;
	bool in_bitfield = false;
	layout_slot *prev = NULL;
	for (size_t i = 0; i < n; i++) {
		const mp_type_member *m = mp_type_member_at(type, i);
		layout_slot *s = &l->slots[i];
		s->member = m;
		l->sum_members += m->bit_size ? 0 : m->size;
		if (l->is_union || m->is_virtual_base)
			continue;
		uint64_t bit_start = m->offset * 8 + m->bit_offset;
		uint64_t bit_end = bit_start + (m->bit_size ? m->bit_size : m->size * 8);
		uint64_t bit_hole = 0, byte_hole = 0, hole_at = 0;
		if (prev) {
			if (in_bitfield) {
				uint64_t end = bit_start < unit_end ? bit_start : unit_end;
				if (end > last_seen) {
					bit_hole = end - last_seen;
					last_seen = end;
				}
			}
			if (m->bit_size) {
				uint64_t aligned = m->offset * 8;
				if (last_seen < aligned && aligned <= bit_start) {
					byte_hole = m->offset - last_seen / 8;
					hole_at = last_seen / 8;
					last_seen = aligned;
				}
				if (bit_start > last_seen)
					bit_hole += bit_start - last_seen;
			} else if (bit_start / 8 > last_seen / 8) {
				byte_hole = bit_start / 8 - last_seen / 8;
				hole_at = last_seen / 8;
			}
			prev->hole_bytes = byte_hole;
			prev->hole_offset = hole_at;
			prev->hole_bits = bit_hole;
			if (byte_hole) {
				l->n_holes++;
				l->sum_holes += byte_hole;
			}
			if (bit_hole) {
				l->n_bit_holes++;
				l->sum_bit_holes += bit_hole;
			}
		} else if (bit_start / 8 > 0 && !m->bit_size) {
			/* a hole before the first member: counted on none, as
			 * pahole does not show it either */
		}
		in_bitfield = m->bit_size != 0;
		if (in_bitfield) {
			uint64_t end = m->offset * 8 + m->size * 8;
			if (end > unit_end || !prev || bit_start >= unit_end)
				unit_end = end;
			if (bit_end > unit_end)
				unit_end = bit_end;
		} else {
			unit_end = bit_end;
		}
		if (bit_end > last_seen || !prev)
			last_seen = bit_end;
		prev = s;
	}
	if (l->is_union) {
		l->padding = 0;
		return NULL;
	}
	if (in_bitfield) {
		uint64_t end = unit_end < l->size * 8 ? unit_end : l->size * 8;
		if (end > last_seen) {
			l->bit_padding = end - last_seen;
			last_seen = end;
		}
	}
	l->padding = l->size > last_seen / 8 ? l->size - last_seen / 8 : 0;
	if (l->padding && last_seen % 8)
		l->padding = l->size - (last_seen + 7) / 8;
	return NULL;
}

/* --------------------------------------------------------- reorganize */

/* Natural alignment, estimated: scalars by size, records by the largest
 * alignment among their direct members (scalars, or powers of two
 * dividing a nested record's size), arrays by their element. */
static uint64_t pow2_divisor(uint64_t size, uint64_t cap)
{
	uint64_t a = 1;
	while (a < cap && size % (a * 2) == 0)
		a *= 2;
	return a;
}

static uint64_t scalar_align(const mp_type *t)
{
	for (int i = 0; t && i < 64; i++) {
		t = mp_type_strip(t);
		if (mp_type_kind(t) == MP_TYPE_ARRAY) {
			t = mp_type_target(t);
			continue;
		}
		break;
	}
	if (!t)
		return 1;
	uint64_t size = mp_type_size(t);
	if (mp_layout_is_record(t))
		return pow2_divisor(size, 64);
	return size ? pow2_divisor(size, 16) : 1;
}

static uint64_t type_align(const mp_type *t)
{
	const mp_type *s = mp_type_strip(t);
	while (s && mp_type_kind(s) == MP_TYPE_ARRAY)
		s = mp_type_strip(mp_type_target(s));
	if (!s || !mp_layout_is_record(s))
		return scalar_align(t);
	uint64_t a = 1;
	for (size_t i = 0; i < mp_type_member_count(s); i++) {
		uint64_t m = scalar_align(mp_type_member_at(s, i)->type);
		if (m > a)
			a = m;
	}
	return a;
}

static int compare_blocks(const void *a, const void *b)
{
	const reorg_block *x = a, *y = b;
	if (x->align != y->align)
		return x->align > y->align ? -1 : 1;
	if (x->size != y->size)
		return x->size > y->size ? -1 : 1;
	return x->first < y->first ? -1 : x->first > y->first;
}

mp_error *mp_layout_reorganize(const struct_layout *l, layout_reorg *r)
{
	memset(r, 0, sizeof(*r));
	r->blocks = calloc(l->n ? l->n : 1, sizeof(*r->blocks));
	if (!r->blocks)
		return mp_error_nomem();
	r->align = 1;
	for (size_t i = 0; i < l->n; i++) {
		const mp_type_member *m = l->slots[i].member;
		uint64_t align = m->is_base ? type_align(m->type) : type_align(m->type);
		if (align > r->align)
			r->align = align;
		if (m->bit_size && r->n) {
			reorg_block *b = &r->blocks[r->n - 1];
			const mp_type_member *first = l->slots[b->first].member;
			if (first->bit_size) {
				/* extend the bitfield run over its units */
				uint64_t end = m->offset + m->size;
				if (end > first->offset + b->size)
					b->size = end - first->offset;
				b->count++;
				continue;
			}
		}
		reorg_block *b = &r->blocks[r->n++];
		b->first = i;
		b->count = 1;
		b->size = m->size;
		b->align = align;
	}
	/* Base classes stay first, in order; the rest by alignment. */
	size_t bases = 0;
	while (bases < r->n && l->slots[r->blocks[bases].first].member->is_base)
		bases++;
	qsort(r->blocks + bases, r->n - bases, sizeof(*r->blocks), compare_blocks);
	uint64_t at = 0;
	for (size_t i = 0; i < r->n; i++) {
		reorg_block *b = &r->blocks[i];
		uint64_t a = b->align ? b->align : 1;
		at = (at + a - 1) / a * a;
		b->offset = at;
		at += b->size;
	}
	r->new_size = (at + r->align - 1) / r->align * r->align;
	if (r->new_size == 0)
		r->new_size = l->size;
	return NULL;
}

