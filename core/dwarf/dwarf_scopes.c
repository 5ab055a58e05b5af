/* The variables and parameters in scope at a pc (dwarf_lib.h,
 * mp_dw_locals_at): the unit, function, lexical blocks and inlined calls
 * holding it, each variable's location there, the line the pc is at.
 * Bounded loops over DIE children, no recursion over the DIE tree. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "array.h"
#include "dwarf_lib_internal.h"
#include "error.h"

enum {
	MAX_SCOPE_DEPTH = 64,        /* nested blocks and inlined calls */
	MAX_NAMESPACES = 4096,       /* namespaces searched for the function */
	/* DIEs read looking for the function: DW_AT_sibling may jump into
	 * a namespace's own subtree, which is then walked again from each
	 * namespace reaching it, exponentially often. */
	MAX_FUNCTION_SEARCH = 1 << 20,
	MAX_SCOPE_CHILDREN = 65536,  /* DIEs looked at per scope */
	MAX_LOCALS = 4096,           /* variables kept per frame */
	MAX_LOCATION_ENTRIES = 4096, /* location list entries looked at */
	MAX_RANGES = 4096,           /* range list entries looked at */
	LOCALS_MEMO = 64,            /* mp_dw_locals_at answers kept, by pc */
};

static void drop_error(Dwarf_Debug dbg, Dwarf_Error err)
{
	if (err)
		dwarf_dealloc_error(dbg, err);
}

static Dwarf_Half die_tag(mp_dw *dw, Dwarf_Die die)
{
	Dwarf_Half tag = 0;
	Dwarf_Error err = NULL;
	if (dwarf_tag(die, &tag, &err) != DW_DLV_OK) {
		drop_error(dw->dbg, err);
		return 0;
	}
	return tag;
}

static uint64_t die_offset(mp_dw *dw, Dwarf_Die die)
{
	Dwarf_Off off = 0;
	Dwarf_Error err = NULL;
	if (dwarf_dieoffset(die, &off, &err) != DW_DLV_OK) {
		drop_error(dw->dbg, err);
		return 0;
	}
	return off;
}

/* An unsigned attribute of a DIE, false when absent or not a constant. */
static bool die_unsigned(mp_dw *dw, Dwarf_Die die, Dwarf_Half name, uint64_t *value)
{
	Dwarf_Error err = NULL;
	Dwarf_Attribute attr = NULL;
	if (dwarf_attr(die, name, &attr, &err) != DW_DLV_OK) {
		drop_error(dw->dbg, err);
		return false;
	}
	bool ok = mp_dwi_form_unsigned(dw->dbg, attr, value);
	mp_dwi_free_attr(dw->dbg, attr);
	return ok;
}

/* The offset of the DIE a reference attribute names, 0 when absent. */
static uint64_t die_reference(mp_dw *dw, Dwarf_Die die, Dwarf_Half name)
{
	Dwarf_Error err = NULL;
	Dwarf_Attribute attr = NULL;
	uint64_t offset = 0;
	if (dwarf_attr(die, name, &attr, &err) != DW_DLV_OK) {
		drop_error(dw->dbg, err);
		return 0;
	}
	if (!mp_dwi_form_ref(dw->dbg, attr, dw->bits, &offset))
		offset = 0;
	mp_dwi_free_attr(dw->dbg, attr);
	return offset;
}

/* What the range readers below do with each range of a DIE: say whether
 * one holds pc, or (collect) append them all to a table of the unit. */
typedef struct range_query {
	uint64_t pc;
	bool found;
	bool collect, nomem;
	uint64_t unit;                 /* collect: the unit's offset */
	struct unit_range *items;
	size_t n, capacity;
} range_query;

typedef struct unit_range {
	uint64_t low, high, unit;
} unit_range;

/* Takes one range; false when the query has its answer. */
static bool range_add(range_query *q, uint64_t low, uint64_t high)
{
	if (!q->collect) {
		q->found = q->pc >= low && q->pc < high;
		return !q->found;
	}
	if (low >= high)
		return true;
	if (!MP_ARRAY_RESERVE(q->items, q->capacity, q->n + 1)) {
		q->nomem = true;
		return false;
	}
	q->items[q->n++] = (unit_range){low, high, q->unit};
	return true;
}

/* The ranges of a DWARF 5 range list (.debug_rnglists). */
static void rnglists_query(mp_dw *dw, Dwarf_Attribute attr, Dwarf_Half form, range_query *q)
{
	Dwarf_Error err = NULL;
	Dwarf_Unsigned value = 0;
	Dwarf_Off offset = 0;
	if (form == DW_FORM_rnglistx) {
		if (dwarf_formudata(attr, &value, &err) != DW_DLV_OK) {
			drop_error(dw->dbg, err);
			return;
		}
	} else if (dwarf_global_formref(attr, &offset, &err) == DW_DLV_OK) {
		value = offset;
	} else {
		drop_error(dw->dbg, err);
		return;
	}
	Dwarf_Rnglists_Head head = NULL;
	Dwarf_Unsigned count = 0, global = 0;
	if (dwarf_rnglists_get_rle_head(attr, form, value, &head, &count, &global, &err) != DW_DLV_OK) {
		drop_error(dw->dbg, err);
		return;
	}
	for (Dwarf_Unsigned i = 0; i < count && i < MAX_RANGES; i++) {
		unsigned length = 0, code = 0;
		Dwarf_Unsigned raw1 = 0, raw2 = 0, low = 0, high = 0;
		Dwarf_Bool unavailable = 0;
		if (dwarf_get_rnglists_entry_fields_a(head, i, &length, &code, &raw1, &raw2,
						      &unavailable, &low, &high, &err) != DW_DLV_OK) {
			drop_error(dw->dbg, err);
			break;
		}
		if (code == DW_RLE_end_of_list || code == DW_RLE_base_address ||
		    code == DW_RLE_base_addressx || unavailable)
			continue;
		if (!range_add(q, low, high))
			break;
	}
	dwarf_dealloc_rnglists_head(head);
}

/* The ranges of a DWARF 2-4 range list (.debug_ranges), whose entries are
 * relative to the unit's base address until a selection entry. */
static void ranges_query(mp_dw *dw, Dwarf_Die die, Dwarf_Attribute attr, uint64_t base,
			 range_query *q)
{
	Dwarf_Error err = NULL;
	Dwarf_Off offset = 0, real = 0;
	if (dwarf_global_formref(attr, &offset, &err) != DW_DLV_OK) {
		drop_error(dw->dbg, err);
		return;
	}
	Dwarf_Ranges *ranges = NULL;
	Dwarf_Signed count = 0;
	Dwarf_Unsigned bytes = 0;
	if (dwarf_get_ranges_b(dw->dbg, offset, die, &real, &ranges, &count, &bytes, &err) !=
	    DW_DLV_OK) {
		drop_error(dw->dbg, err);
		return;
	}
	for (Dwarf_Signed i = 0; i < count && i < MAX_RANGES; i++) {
		if (ranges[i].dwr_type == DW_RANGES_ADDRESS_SELECTION)
			base = ranges[i].dwr_addr2;
		else if (ranges[i].dwr_type == DW_RANGES_ENTRY &&
			 !range_add(q, base + ranges[i].dwr_addr1, base + ranges[i].dwr_addr2))
			break;
	}
#if MP_DW_NEW_API
	dwarf_dealloc_ranges(dw->dbg, ranges, count);
#else
	dwarf_ranges_dealloc(dw->dbg, ranges, count);
#endif
}

/* The code ranges of a function, block, inlined call or unit: low and
 * high pc, or DW_AT_ranges.  A unit may have both DW_AT_low_pc (0, the
 * base its ranges are relative to) and DW_AT_ranges: clang's C++ units
 * with inline functions in sections of their own, -ffunction-sections. */
static void die_ranges(mp_dw *dw, Dwarf_Die die, uint64_t base, range_query *q)
{
	Dwarf_Error err = NULL;
	Dwarf_Addr low = 0, high = 0;
	if (dwarf_lowpc(die, &low, &err) == DW_DLV_OK) {
		Dwarf_Half form = 0;
		enum Dwarf_Form_Class kind = DW_FORM_CLASS_UNKNOWN;
		if (dwarf_highpc_b(die, &high, &form, &kind, &err) == DW_DLV_OK) {
			if (kind == DW_FORM_CLASS_CONSTANT)
				high += low;
			range_add(q, low, high);
			return;
		}
	}
	drop_error(dw->dbg, err);
	err = NULL;
	Dwarf_Attribute attr = NULL;
	if (dwarf_attr(die, DW_AT_ranges, &attr, &err) != DW_DLV_OK) {
		drop_error(dw->dbg, err);
		return;
	}
	Dwarf_Half form = 0, version = 0, offset_size = 0;
	if (dwarf_whatform(attr, &form, &err) == DW_DLV_OK &&
	    dwarf_get_version_of_die(die, &version, &offset_size) == DW_DLV_OK) {
		if (version >= 5)
			rnglists_query(dw, attr, form, q);
		else
			ranges_query(dw, die, attr, base, q);
	} else {
		drop_error(dw->dbg, err);
	}
	mp_dwi_free_attr(dw->dbg, attr);
}

/* Whether the code of a function, block or inlined call holds pc. */
static bool die_contains(mp_dw *dw, Dwarf_Die die, uint64_t base, uint64_t pc)
{
	range_query q = {.pc = pc};
	die_ranges(dw, die, base, &q);
	return q.found;
}

/* The location an attribute (DW_AT_location, DW_AT_frame_base) gives at
 * pc: a lone expression, or the list entry covering pc.  False when none
 * does or the expression is longer than MP_DW_EXPR_OPS. */
static bool location_at(mp_dw *dw, Dwarf_Die die, Dwarf_Half name, uint64_t pc, mp_dw_expr *out)
{
	out->n = 0;
	Dwarf_Error err = NULL;
	Dwarf_Attribute attr = NULL;
	if (dwarf_attr(die, name, &attr, &err) != DW_DLV_OK) {
		drop_error(dw->dbg, err);
		return false;
	}
	Dwarf_Loc_Head_c head = NULL;
	Dwarf_Unsigned count = 0;
	int rc = dwarf_get_loclist_c(attr, &head, &count, &err);
	mp_dwi_free_attr(dw->dbg, attr);
	if (rc != DW_DLV_OK) {
		drop_error(dw->dbg, err);
		return false;
	}
	unsigned kind = DW_LKIND_unknown;
	if (dwarf_get_loclist_head_kind(head, &kind, &err) != DW_DLV_OK)
		drop_error(dw->dbg, err);
	bool found = false;
	for (Dwarf_Unsigned i = 0; i < count && i < MAX_LOCATION_ENTRIES; i++) {
		Dwarf_Small entry = 0, source = 0;
		Dwarf_Unsigned raw_low = 0, raw_high = 0, n_ops = 0, expr_offset = 0, desc_offset = 0;
		Dwarf_Bool unavailable = 0;
		Dwarf_Addr low = 0, high = 0;
		Dwarf_Locdesc_c desc = NULL;
		if (dwarf_get_locdesc_entry_d(head, i, &entry, &raw_low, &raw_high, &unavailable,
					      &low, &high, &n_ops, &desc, &source, &expr_offset,
					      &desc_offset, &err) != DW_DLV_OK) {
			drop_error(dw->dbg, err);
			break;
		}
		if (kind != DW_LKIND_expression && (unavailable || pc < low || pc >= high))
			continue;
		if (n_ops == 0)
			continue;
		/* The one entry covering pc: whatever it says decides. */
		if (n_ops > MP_DW_EXPR_OPS)
			break;
		found = true;
		for (Dwarf_Unsigned k = 0; k < n_ops && found; k++) {
			Dwarf_Small atom = 0;
			Dwarf_Unsigned op1 = 0, op2 = 0, op3 = 0, r1 = 0, r2 = 0, r3 = 0, branch = 0;
			if (dwarf_get_location_op_value_d(desc, k, &atom, &op1, &op2, &op3, &r1, &r2, &r3,
							  &branch, &err) != DW_DLV_OK) {
				drop_error(dw->dbg, err);
				found = false;
				break;
			}
			out->ops[k].atom = atom;
			out->ops[k].operand1 = op1;
			out->ops[k].operand2 = op2;
		}
		out->n = found ? (unsigned)n_ops : 0;
		break;
	}
	dwarf_loc_head_c_dealloc(head);
	return found;
}

/* The last component of a path: files are compared by it, as the line
 * table's rows and the DIEs' DW_AT_decl_file number the same table in
 * ways libdwarf releases report differently (DWARF 5 counts from 0). */
static const char *base_name(const char *path)
{
	const char *slash = path ? strrchr(path, '/') : NULL;
	return slash ? slash + 1 : path;
}

/* The name of entry index of the unit's file table, as DW_AT_decl_file
 * and DW_AT_call_file number it, or NULL. */
static const char *file_name(mp_dw *dw, Dwarf_Line_Context context, uint64_t index)
{
	const char *name = NULL;
	Dwarf_Unsigned directory = 0, modified = 0, length = 0;
	Dwarf_Form_Data16 *md5 = NULL;
	Dwarf_Error err = NULL;
	if (index > INT64_MAX ||
	    dwarf_srclines_files_data_b(context, (Dwarf_Signed)index, &name, &directory, &modified,
					&length, &md5, &err) != DW_DLV_OK) {
		drop_error(dw->dbg, err);
		return NULL;
	}
	return base_name(name);
}

/* The line the line table gives pc and its file's base name (copied into
 * file, of size bytes); false when no row covers pc. */
static bool line_at(mp_dw *dw, Dwarf_Line_Context context, uint64_t pc, uint64_t *line,
		    char *file, size_t size)
{
	Dwarf_Error err = NULL;
	Dwarf_Line *lines = NULL;
	Dwarf_Signed n = 0;
	if (dwarf_srclines_from_linecontext(context, &lines, &n, &err) != DW_DLV_OK) {
		drop_error(dw->dbg, err);
		return false;
	}
	bool found = false;
	Dwarf_Addr here = 0, next = 0;
	for (Dwarf_Signed i = 0; i + 1 < n; i++) {
		Dwarf_Bool end = 0;
		if (dwarf_lineaddr(lines[i], &here, &err) != DW_DLV_OK ||
		    dwarf_lineaddr(lines[i + 1], &next, &err) != DW_DLV_OK ||
		    dwarf_lineendsequence(lines[i], &end, &err) != DW_DLV_OK) {
			drop_error(dw->dbg, err);
			break;
		}
		if (end || pc < here || pc >= next)
			continue;
		Dwarf_Unsigned number = 0;
		char *path = NULL;
		if (dwarf_lineno(lines[i], &number, &err) == DW_DLV_OK &&
		    dwarf_linesrc(lines[i], &path, &err) == DW_DLV_OK) {
			*line = number;
			snprintf(file, size, "%s", base_name(path));
			dwarf_dealloc(dw->dbg, path, DW_DLA_STRING);
			found = true;
		} else {
			drop_error(dw->dbg, err);
		}
		break;
	}
	return found;
}

/* Where a function's prologue ends, the first address at which its
 * frame is its own (the frame base set up, the parameters spilled): the
 * first row after entry with the prologue_end flag (clang's), else, as
 * GDB guesses it, the second row of the function (the first row covers
 * the prologue).  end is the end of the range holding entry; with no row
 * after entry, entry + 1: on its first instruction nothing is pushed. */
static uint64_t prologue_end(mp_dw *dw, Dwarf_Line_Context context, uint64_t entry,
			     uint64_t end)
{
	Dwarf_Error err = NULL;
	Dwarf_Line *lines = NULL;
	Dwarf_Signed n = 0;
	uint64_t flagged = UINT64_MAX, second = UINT64_MAX;
	if (dwarf_srclines_from_linecontext(context, &lines, &n, &err) != DW_DLV_OK) {
		drop_error(dw->dbg, err);
		n = 0;
	}
	for (Dwarf_Signed i = 0; i < n; i++) {
		Dwarf_Addr here = 0;
		Dwarf_Bool last = 0, begins = 0, epilogue = 0;
		Dwarf_Unsigned isa = 0, discriminator = 0;
		if (dwarf_lineaddr(lines[i], &here, &err) != DW_DLV_OK ||
		    dwarf_lineendsequence(lines[i], &last, &err) != DW_DLV_OK) {
			drop_error(dw->dbg, err);
			break;
		}
		if (last || here <= entry || here >= end)
			continue;
		if (here < second)
			second = here;
		if (here < flagged &&
		    dwarf_prologue_end_etc(lines[i], &begins, &epilogue, &isa, &discriminator,
					   &err) == DW_DLV_OK && begins)
			flagged = here;
		drop_error(dw->dbg, err);
		err = NULL;
	}
	if (flagged != UINT64_MAX)
		return flagged;
	return second != UINT64_MAX ? second : entry + 1;
}

/* A function's entry (its low pc, else its first range: GCC and clang
 * list the entry's part first, a part split off as cold code after it,
 * although the linker may place that one lower) and the end of the range
 * holding it; false when it has no code. */
static bool function_entry(mp_dw *dw, Dwarf_Die function, uint64_t base, uint64_t *entry,
			   uint64_t *end)
{
	range_query q = {.collect = true};
	die_ranges(dw, function, base, &q);
	bool found = q.n > 0;
	if (found) {
		*entry = q.items[0].low;
		*end = q.items[0].high;
	}
	free(q.items);
	return found;
}

/* Every compile unit's code ranges, from the unit DIEs (for files
 * without .debug_aranges, as clang writes them by default), read once.
 * The walk over the units runs to the end: libdwarf keeps its place in
 * the list of units between calls, and the index walk starts from it. */
static mp_error *load_unit_ranges(mp_dw *dw)
{
	range_query q = {.collect = true};
	mp_error *e = NULL;
	for (;;) {
		Dwarf_Error err = NULL;
		Dwarf_Die cu = NULL;
		int rc = mp_dwi_shim_next_cu(dw->dbg, true, &cu, &err);
		if (rc == DW_DLV_NO_ENTRY)
			break;
		if (rc != DW_DLV_OK) {
			/* libdwarf cannot go on past a bad unit header: what
			 * came before it is kept. */
			drop_error(dw->dbg, err);
			break;
		}
		if (!e && die_tag(dw, cu) == DW_TAG_compile_unit) {
			Dwarf_Addr base = 0;
			if (dwarf_lowpc(cu, &base, &err) != DW_DLV_OK) {
				drop_error(dw->dbg, err);
				base = 0;
			}
			q.unit = die_offset(dw, cu);
			die_ranges(dw, cu, base, &q);
			if (q.nomem)
				e = mp_error_nomem();
		}
		dwarf_dealloc_die(cu);
	}
	if (e) {
		free(q.items);
		return e;
	}
	dw->unit_ranges = q.items;
	dw->n_unit_ranges = q.n;
	return NULL;
}

/* One answer of mp_dw_locals_at: its locals, or its error's code and
 * message (code 0: none). */
typedef struct locals_memo {
	bool used;
	uint64_t pc;
	mp_dw_locals locals;
	enum mp_error_code code;
	char *message;
} locals_memo;

static void memo_clear(locals_memo *m)
{
	mp_dw_locals_free(&m->locals);
	free(m->message);
	memset(m, 0, sizeof(*m));
}

void mp_dwi_scopes_free(mp_dw *dw)
{
	for (size_t i = 0; dw->locals_memo && i < LOCALS_MEMO; i++)
		memo_clear(&dw->locals_memo[i]);
	free(dw->locals_memo);
	if (dw->dbg && dw->aranges_state > 0) {
		for (Dwarf_Signed i = 0; i < dw->n_aranges; i++)
			dwarf_dealloc(dw->dbg, dw->aranges[i], DW_DLA_ARANGE);
		dwarf_dealloc(dw->dbg, dw->aranges, DW_DLA_LIST);
	}
	free(dw->unit_ranges);
}

/* The unit DIE whose code holds pc: through .debug_aranges, else the
 * units' own ranges. */
static mp_error *unit_at(mp_dw *dw, uint64_t pc, Dwarf_Die *cu)
{
	Dwarf_Error err = NULL;
	if (!dw->aranges_state) {
		int rc = dwarf_get_aranges(dw->dbg, &dw->aranges, &dw->n_aranges, &err);
		drop_error(dw->dbg, err);
		dw->aranges_state = rc == DW_DLV_OK ? 1 : -1;
		err = NULL;
	}
	Dwarf_Arange arange = NULL;
	Dwarf_Off offset = 0;
	bool found = dw->aranges_state > 0 &&
		     dwarf_get_arange(dw->aranges, (Dwarf_Unsigned)dw->n_aranges, pc, &arange,
				      &err) == DW_DLV_OK &&
		     dwarf_get_cu_die_offset(arange, &offset, &err) == DW_DLV_OK;
	drop_error(dw->dbg, err);
	err = NULL;
	if (!found) {
		if (!dw->unit_ranges_loaded) {
			dw->unit_ranges_loaded = true;
			mp_error *e = load_unit_ranges(dw);
			if (e)
				return e;
		}
		for (size_t i = 0; i < dw->n_unit_ranges && !found; i++)
			if (pc >= dw->unit_ranges[i].low && pc < dw->unit_ranges[i].high) {
				offset = dw->unit_ranges[i].unit;
				found = true;
			}
	}
	if (!found)
		return mp_error_new(MP_ERR_NOT_FOUND, "%s: no compilation unit covers %#llx",
				    dw->label, (unsigned long long)pc);
	if (dwarf_offdie_b(dw->dbg, offset, true, cu, &err) != DW_DLV_OK)
		return mp_dwi_dw_error(dw, err, offset, "the unit holding a pc");
	return NULL;
}

/* Children of a DIE one by one: next() gives each child (owned by the
 * iterator until the next call) and NULL at the end or on an error. */
typedef struct child_iter {
	mp_dw *dw;
	Dwarf_Die die;
	size_t seen;
	bool started;
	Dwarf_Die parent;
} child_iter;

static Dwarf_Die child_next(child_iter *it)
{
	Dwarf_Error err = NULL;
	Dwarf_Die next = NULL;
	int rc;
	if (!it->started) {
		it->started = true;
		rc = dwarf_child(it->parent, &next, &err);
	} else if (it->die && it->seen < MAX_SCOPE_CHILDREN) {
		bool backwards;
		rc = mp_dwi_next_sibling(it->dw->dbg, it->die, &next, &err, &backwards);
	} else {
		rc = DW_DLV_NO_ENTRY;
	}
	if (it->die)
		dwarf_dealloc_die(it->die);
	it->die = NULL;
	if (rc != DW_DLV_OK) {
		drop_error(it->dw->dbg, err);
		return NULL;
	}
	it->seen++;
	it->die = next;
	return next;
}

static void child_end(child_iter *it)
{
	if (it->die)
		dwarf_dealloc_die(it->die);
	it->die = NULL;
}

/* The function holding pc (*out): a DW_TAG_subprogram among the unit's
 * children or inside its namespaces (a bounded work list of them, and a
 * bound on the DIEs read in all).  *out is NULL when none holds it. */
static mp_error *function_at(mp_dw *dw, Dwarf_Die cu, uint64_t base, uint64_t pc,
			     Dwarf_Die *out)
{
	*out = NULL;
	uint64_t *pending = malloc(MAX_NAMESPACES * sizeof(*pending));
	if (!pending)
		return mp_error_nomem();
	size_t n_pending = 0, read = 0;
	Dwarf_Die found = NULL, scope = cu;
	bool own_scope = false;
	for (;;) {
		child_iter it = {.dw = dw, .parent = scope};
		for (Dwarf_Die d = child_next(&it); d && !found && read < MAX_FUNCTION_SEARCH;
		     d = child_next(&it)) {
			read++;
			Dwarf_Half tag = die_tag(dw, d);
			if (tag == DW_TAG_subprogram && die_contains(dw, d, base, pc)) {
				found = d;
				it.die = NULL;   /* kept: the caller frees it */
			} else if (tag == DW_TAG_namespace && n_pending < MAX_NAMESPACES) {
				pending[n_pending++] = die_offset(dw, d);
			}
		}
		child_end(&it);
		if (own_scope)
			dwarf_dealloc_die(scope);
		own_scope = false;
		if (found || !n_pending || read >= MAX_FUNCTION_SEARCH)
			break;
		Dwarf_Error err = NULL;
		if (dwarf_offdie_b(dw->dbg, pending[--n_pending], true, &scope, &err) != DW_DLV_OK) {
			drop_error(dw->dbg, err);
			break;
		}
		own_scope = true;
	}
	free(pending);
	*out = found;
	if (!found && read >= MAX_FUNCTION_SEARCH)
		return mp_error_new(MP_ERR_FORMAT,
				    "%s: looking for the function at %#llx in the unit at .debug_info offset 0x%llx: "
				    "%d DIEs read, the most allowed (DW_AT_sibling links into a namespace's own DIEs?)",
				    dw->label, (unsigned long long)pc,
				    (unsigned long long)die_offset(dw, cu), MAX_FUNCTION_SEARCH);
	return NULL;
}

/* A variable's name, type and declaration place, from its own DIE or its
 * abstract origin (an inlined or out-of-line copy of a function). */
typedef struct variable_facts {
	const char *name;
	uint64_t type, decl_line, decl_file;
} variable_facts;

static void variable_facts_of(mp_dw *dw, Dwarf_Die die, variable_facts *out)
{
	memset(out, 0, sizeof(*out));
	Dwarf_Die d = die;
	/* An origin may itself name its origin (a clone of an inline
	 * function): two hops at most. */
	for (int hop = 0; hop < 3 && d; hop++) {
		Dwarf_Error err = NULL;
		Dwarf_Attribute attr = NULL;
		if (!out->name && dwarf_attr(d, DW_AT_name, &attr, &err) == DW_DLV_OK) {
			char *s = NULL;
			if (dwarf_formstring(attr, &s, &err) == DW_DLV_OK)
				out->name = s;
			else
				drop_error(dw->dbg, err);
			mp_dwi_free_attr(dw->dbg, attr);
		} else {
			drop_error(dw->dbg, err);
		}
		if (!out->type)
			out->type = die_reference(dw, d, DW_AT_type);
		if (!out->decl_line)
			die_unsigned(dw, d, DW_AT_decl_line, &out->decl_line);
		if (!out->decl_file)
			die_unsigned(dw, d, DW_AT_decl_file, &out->decl_file);
		uint64_t origin = die_reference(dw, d, DW_AT_abstract_origin);
		if (d != die)
			dwarf_dealloc_die(d);
		d = NULL;
		err = NULL;
		if (origin && !(origin & MP_DW_WHERE) &&
		    dwarf_offdie_b(dw->dbg, origin, true, &d, &err) != DW_DLV_OK) {
			drop_error(dw->dbg, err);
			d = NULL;
		}
	}
	if (d && d != die)
		dwarf_dealloc_die(d);
}

/* Where a kept variable was declared (DW_AT_decl_file's index), and in
 * which level of scopes. */
typedef struct declared {
	uint64_t line, file;
	size_t level;
} declared;

/* The line a level of scopes is at, and its file's base name: from the
 * line table for the innermost level, from the inlined call below it for
 * an outer one. */
typedef struct level_line {
	bool known;
	bool inlined;          /* the level holds pc through an inlined call */
	uint64_t line;
	uint64_t call_file;    /* inlined: DW_AT_call_file */
	const char *file;
} level_line;

static mp_error *locals_at(mp_dw *dw, uint64_t pc, mp_dw_locals *out)
{
	memset(out, 0, sizeof(*out));
	Dwarf_Die cu = NULL;
	mp_error *e = unit_at(dw, pc, &cu);
	if (e)
		return e;
	Dwarf_Addr base = 0;
	Dwarf_Error err = NULL;
	if (dwarf_lowpc(cu, &base, &err) != DW_DLV_OK) {
		drop_error(dw->dbg, err);
		base = 0;
	}
	Dwarf_Die function = NULL;
	e = function_at(dw, cu, base, pc, &function);
	if (e) {
		dwarf_dealloc_die(cu);
		return e;
	}
	if (!function) {
		uint64_t cu_offset = die_offset(dw, cu);
		dwarf_dealloc_die(cu);
		return mp_error_new(MP_ERR_NOT_FOUND,
				    "%s: no function of the unit at .debug_info offset 0x%llx covers %#llx",
				    dw->label, (unsigned long long)cu_offset, (unsigned long long)pc);
	}
	location_at(dw, function, DW_AT_frame_base, pc, &out->frame_base);
	uint64_t entry = 0, entry_end = 0;
	bool has_entry = function_entry(dw, function, base, &entry, &entry_end);
	level_line levels[MAX_SCOPE_DEPTH];
	memset(levels, 0, sizeof(levels));
	declared *decl = NULL;
	size_t n_levels = 0, capacity = 0, decl_capacity = 0;
	Dwarf_Die scope = function;
	/* Down the chain of scopes holding pc, one level at a time: each
	 * level's variables, and the one block or inlined call holding pc. */
	while (scope && n_levels < MAX_SCOPE_DEPTH && !e) {
		size_t level = n_levels++;
		Dwarf_Die inner = NULL;
		uint64_t inner_offset = 0;
		child_iter it = {.dw = dw, .parent = scope};
		for (Dwarf_Die d = child_next(&it); d && !e; d = child_next(&it)) {
			Dwarf_Half tag = die_tag(dw, d);
			if ((tag == DW_TAG_lexical_block || tag == DW_TAG_inlined_subroutine) &&
			    !inner_offset && die_contains(dw, d, base, pc)) {
				/* Read again after the siblings: variables may
				 * follow the block. */
				inner_offset = die_offset(dw, d);
				continue;
			}
			if (tag != DW_TAG_variable && tag != DW_TAG_formal_parameter)
				continue;
			mp_dw_expr location;
			if (!location_at(dw, d, DW_AT_location, pc, &location)) {
				out->skipped_no_location++;
				continue;
			}
			if (out->n == MAX_LOCALS)
				continue;
			if (!MP_ARRAY_RESERVE(out->items, capacity, out->n + 1) ||
			    !MP_ARRAY_RESERVE(decl, decl_capacity, out->n + 1)) {
				e = mp_error_nomem();
				break;
			}
			variable_facts facts;
			variable_facts_of(dw, d, &facts);
			out->items[out->n] = (mp_dw_local){facts.name, facts.type, location};
			decl[out->n++] = (declared){facts.decl_line, facts.decl_file, level};
		}
		child_end(&it);
		if (inner_offset && dwarf_offdie_b(dw->dbg, inner_offset, true, &inner, &err) != DW_DLV_OK) {
			drop_error(dw->dbg, err);
			err = NULL;
			inner = NULL;
		}
		level_line *l = &levels[level];
		l->inlined = inner && die_tag(dw, inner) == DW_TAG_inlined_subroutine;
		if (l->inlined)
			l->known = die_unsigned(dw, inner, DW_AT_call_line, &l->line) &&
				   die_unsigned(dw, inner, DW_AT_call_file, &l->call_file);
		dwarf_dealloc_die(scope);
		scope = inner;
	}
	if (scope)
		dwarf_dealloc_die(scope);
	/* The lines, from the unit's line table: without one nothing is
	 * left out for its line. */
	Dwarf_Unsigned version = 0;
	Dwarf_Small tables = 0;
	Dwarf_Line_Context context = NULL;
	char innermost[256] = "";
	if (!e && dwarf_srclines_b(cu, &version, &tables, &context, &err) != DW_DLV_OK) {
		drop_error(dw->dbg, err);
		context = NULL;
	}
	if (context && has_entry)
		out->in_prologue = pc < prologue_end(dw, context, entry, entry_end);
	else
		out->in_prologue = has_entry && pc == entry;
	for (size_t level = 0; context && level < n_levels; level++) {
		level_line *l = &levels[level];
		if (l->inlined && l->known)
			l->file = file_name(dw, context, l->call_file);
		else if (level + 1 == n_levels)
			l->known = line_at(dw, context, pc, &l->line, innermost, sizeof(innermost)) &&
				   innermost[0];
		if (level + 1 == n_levels && l->known)
			l->file = innermost;
		/* Line 0 is code of no line (clang's merged or generated
		 * code): nothing is known of what was declared before it. */
		l->known = l->known && l->file && l->line;
	}
	/* A level around a lexical block runs at the line of the level in
	 * it: blocks have no call line. */
	for (size_t level = n_levels; level-- > 1;)
		if (!levels[level - 1].known && !levels[level - 1].inlined && levels[level].known)
			levels[level - 1] = (level_line){true, false, levels[level].line, 0,
							 levels[level].file};
	size_t kept = 0;
	for (size_t i = 0; !e && i < out->n; i++) {
		const level_line *l = &levels[decl[i].level];
		const char *file = context && l->known && decl[i].line > l->line
					   ? file_name(dw, context, decl[i].file) : NULL;
		if (file && strcmp(file, l->file) == 0) {
			out->skipped_later++;
			continue;
		}
		out->items[kept++] = out->items[i];
	}
	out->n = kept;
	free(decl);
	if (context)
		dwarf_srclines_dealloc_b(context);
	dwarf_dealloc_die(cu);
	if (e) {
		mp_dw_locals_free(out);
		return e;
	}
	return NULL;
}

/* A copy of locals (the names are libdwarf's, alive as long as dw);
 * false when out of memory. */
static bool locals_copy(const mp_dw_locals *from, mp_dw_locals *to)
{
	*to = *from;
	to->items = NULL;
	if (!from->n)
		return true;
	to->items = malloc(from->n * sizeof(*to->items));
	if (!to->items)
		return false;
	memcpy(to->items, from->items, from->n * sizeof(*to->items));
	return true;
}

mp_error *mp_dw_locals_at(mp_dw *dw, uint64_t pc, mp_dw_locals *out)
{
	if (!dw->locals_memo)
		dw->locals_memo = calloc(LOCALS_MEMO, sizeof(*dw->locals_memo));
	/* Without room for the memo every answer is worked out afresh. */
	locals_memo *m = dw->locals_memo ? &dw->locals_memo[(pc ^ pc >> 6) % LOCALS_MEMO] : NULL;
	if (m && m->used && m->pc == pc) {
		if (m->code)
			return mp_error_new(m->code, "%s", m->message);
		if (!locals_copy(&m->locals, out))
			return mp_error_nomem();
		return NULL;
	}
	mp_error *e = locals_at(dw, pc, out);
	if (!m || (e && mp_error_code(e) == MP_ERR_NOMEM))
		return e;
	memo_clear(m);
	if (e) {
		m->message = strdup(mp_error_message(e));
		m->code = mp_error_code(e);
	}
	m->used = e ? m->message != NULL : locals_copy(out, &m->locals);
	m->pc = pc;
	if (!m->used)
		memo_clear(m);
	return e;
}

void mp_dw_locals_free(mp_dw_locals *locals)
{
	free(locals->items);
	memset(locals, 0, sizeof(*locals));
}
