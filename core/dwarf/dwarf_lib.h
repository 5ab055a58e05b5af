/* The one door to libdwarf.  Nothing else in memprof includes libdwarf.h
 * (its two files, dwarf_lib.c and dwarf_scopes.c, share
 * dwarf_lib_internal.h): this interface speaks plain C records (DIE
 * offsets, tags, attribute values already decoded), so the type model
 * never sees libdwarf's handles and a libdwarf API change touches this
 * door only.  libdwarf is single-threaded; so is
 * every mp_dw handle. */
#ifndef MEMPROF_CORE_DWARF_DWARF_LIB_H
#define MEMPROF_CORE_DWARF_DWARF_LIB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "memprof/memprof.h"

typedef struct mp_dw mp_dw;

/* Opens the DWARF of an ELF file.  label names the module in errors. */
mp_error *mp_dw_open(const char *path, const char *label, mp_dw **out);
void mp_dw_close(mp_dw *dw);
/* Opens the dwz supplementary file (.gnu_debugaltlink) of dw's file: its
 * DIEs join the walk and references into it resolve.  DIE offsets are
 * opaque keys: nonzero, unique across both files and across .debug_info
 * and .debug_types. */
mp_error *mp_dw_attach_alt(mp_dw *dw, const char *path);

/* One DIE with the attributes the type model uses, decoded. Strings point
 * into libdwarf's section data and live as long as the mp_dw. */
typedef struct mp_dw_die {
	uint64_t offset;          /* global .debug_info offset */
	unsigned tag;             /* DW_TAG_* */
	const char *name;         /* NULL when absent */
	uint64_t type;            /* DW_AT_type target offset, 0: none */
	uint64_t specification;   /* DW_AT_specification, 0: none */
	uint64_t abstract_origin; /* DW_AT_abstract_origin, 0: none */
	uint64_t discr;           /* DW_AT_discr (member DIE), 0: none */
	uint64_t signature;       /* DW_AT_signature: the type unit's type, 0: none */
	uint64_t size, bit_size, data_bit_offset, bit_offset, member_location;
	uint64_t upper_bound, count, discr_value, address, alignment, encoding;
	int64_t lower_bound, const_value;
	bool has_size, has_bit_size, has_data_bit_offset, has_bit_offset;
	bool has_member_location, has_upper_bound, has_count, has_lower_bound;
	bool has_const_value, has_discr_value, has_address, has_alignment;
	bool has_encoding;
	uint8_t const_value_width; /* bytes of a fixed-size data form (no sign), 0: signed or LEB */
	bool declaration, external, artificial, has_children;
	bool member_location_is_expression; /* not a constant: virtual base */
} mp_dw_die;

/* Reads the DIE at offset. */
mp_error *mp_dw_read(mp_dw *dw, uint64_t offset, mp_dw_die *out);
/* Reads the direct children of the DIE at offset into a malloc'd array
 * (at most max; more is an error naming the DIE). Caller frees *out. */
mp_error *mp_dw_children(mp_dw *dw, uint64_t offset, size_t max,
			 mp_dw_die **out, size_t *count);

/* The index walk: every CU's DIEs in file order, read by the raw scanner
 * (die_scanner.h) where it reads the file, else by libdwarf (split DWARF:
 * the skeleton units' .dwo files, or EXE.dwp, are opened and walked after
 * the file), descending only where the visitor asks.  For each DIE the
 * walker fills the cheap fields (offset, tag, name, declaration,
 * specification, has_children and, for variables, the address and type)
 * and calls enter(); when enter returns true and the DIE has children,
 * they are walked next and leave() is called after them.  Nesting is
 * bounded (an explicit stack, no recursion): deeper than the stack, a
 * subtree is skipped as if enter had said no.  Names stay readable as
 * long as the mp_dw, but the scanner gives the pages of the sections it
 * has passed back to the page cache: copy what is kept. */
typedef struct mp_dw_walker {
	void *context;
	void (*begin_cu)(void *context, unsigned language, uint64_t cu_offset);
	bool (*enter)(void *context, const mp_dw_die *die);
	void (*leave)(void *context);
	/* Polled between CUs; true stops the walk with MP_ERR_INTERRUPTED. */
	bool (*interrupted)(void *context);
	/* Report each CU's offset as the done bytes of the current progress
	 * phase (progress.h): set by the one walk that has a phase for it. */
	bool report_progress;
} mp_dw_walker;
mp_error *mp_dw_walk(mp_dw *dw, const mp_dw_walker *walker);

/* Call-frame information, for unwinding a stack (triage): the rules of the
 * CFI row (.eh_frame, else .debug_frame) covering pc, a link-time address
 * of the file.  Columns are x86-64 DWARF register numbers (0 rax ... 15
 * r15) and 16, the return address. */
enum mp_dw_rule_kind {
	MP_DW_RULE_SAME,          /* the caller's value is this frame's */
	MP_DW_RULE_UNDEFINED,     /* not recoverable */
	MP_DW_RULE_AT_CFA,        /* saved in memory at CFA + offset */
	MP_DW_RULE_CFA_PLUS,      /* the value CFA + offset */
	MP_DW_RULE_REGISTER,      /* in register `reg` of this frame */
	MP_DW_RULE_EXPRESSION,    /* a DWARF expression: not evaluated */
};
enum { MP_DW_FRAME_COLUMNS = 17 };
typedef struct mp_dw_frame_row {
	int cfa_register;         /* CFA = register + offset ... */
	int64_t cfa_offset;
	bool cfa_is_expression;   /* ... unless an expression gives it */
	struct {
		enum mp_dw_rule_kind kind;
		int reg;
		int64_t offset;
	} rules[MP_DW_FRAME_COLUMNS];
} mp_dw_frame_row;
/* MP_ERR_NOT_FOUND when no FDE covers pc. */
mp_error *mp_dw_frame_row_at(mp_dw *dw, uint64_t pc, mp_dw_frame_row *row);

/* Frame variables, for stack locals as typed roots (stack_roots.c).  A
 * location is a DWARF expression decoded by libdwarf into operations, as
 * it holds at one pc; dwarf_expr.h evaluates it. */
enum { MP_DW_EXPR_OPS = 16 };
typedef struct mp_dw_expr {
	struct {
		uint8_t atom;             /* DW_OP_* */
		uint64_t operand1, operand2; /* signed operands sign-extended */
	} ops[MP_DW_EXPR_OPS];
	unsigned n;                   /* 0: none at this pc */
} mp_dw_expr;
typedef struct mp_dw_local {
	const char *name;             /* NULL when absent */
	uint64_t type;                /* DW_AT_type DIE offset (through an abstract origin) */
	mp_dw_expr location;
} mp_dw_local;
typedef struct mp_dw_locals {
	mp_dw_local *items;           /* innermost scope last */
	size_t n;
	mp_dw_expr frame_base;        /* the function's DW_AT_frame_base at pc */
	size_t skipped_later;         /* declared after the pc's line: left out */
	size_t skipped_no_location;   /* optimized out at pc, or too long an expression */
	/* pc is before the end of the function's prologue (the line
	 * table's prologue_end flag, else its second row): where stopped
	 * there (the newest frame), the frame base may still be the
	 * caller's and parameters not yet in their slots. */
	bool in_prologue;
} mp_dw_locals;
/* The variables and parameters in scope at pc (a link-time address of the
 * file): the function holding pc (found through .debug_aranges), its
 * lexical blocks and inlined calls containing pc (DW_AT_low_pc/high_pc or
 * DW_AT_ranges, .debug_ranges and DWARF 5 .debug_rnglists), each
 * variable's location at pc (an expression, a .debug_loc or .debug_loclists
 * list).  A variable declared on a later line of its file than the line
 * the pc is on (the line table's; outside an inlined call, the call's
 * line; not on line 0, which is no line) is left out: at -O0 its slot
 * holds whatever was there before.
 * MP_ERR_NOT_FOUND when no function covers pc, MP_ERR_FORMAT when the
 * search for it read the most DIEs allowed (a sibling link into a
 * namespace's own subtree multiplies the walk).  The answers for the
 * last pcs asked are kept (64, by pc) and given again as copies.  Free with
 * mp_dw_locals_free. */
mp_error *mp_dw_locals_at(mp_dw *dw, uint64_t pc, mp_dw_locals *out);
void mp_dw_locals_free(mp_dw_locals *locals);

#endif
