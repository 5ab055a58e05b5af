/* Evaluation of a frame variable's location (mp_dw_expr, dwarf_lib.h)
 * against one frame's recovered registers: where the variable is, or its
 * value.  What cannot be evaluated exactly (a register the unwinder did
 * not recover, DW_OP_entry_value, pieces, implicit values) gives nothing:
 * a root is never guessed. */
#ifndef MEMPROF_CORE_DWARF_DWARF_EXPR_H
#define MEMPROF_CORE_DWARF_DWARF_EXPR_H

#include <stdbool.h>
#include <stdint.h>

#include "dwarf/dwarf_lib.h"
#include "memprof/memprof.h"

typedef struct mp_dw_expr_frame {
	uint64_t regs[MP_DW_FRAME_COLUMNS];  /* x86-64 DWARF numbering */
	uint32_t valid;                      /* bit per column */
	uint64_t cfa;
	bool has_cfa;
	uint64_t frame_base;                 /* the function's DW_AT_frame_base, evaluated */
	bool has_frame_base;
	uint64_t load_bias;                  /* DW_OP_addr is a link-time address */
	mp_target *target;                   /* DW_OP_deref reads its memory */
} mp_dw_expr_frame;

enum mp_dw_value_kind {
	MP_DW_VALUE_NONE,       /* not evaluable here */
	MP_DW_VALUE_MEMORY,     /* the variable is stored at value */
	MP_DW_VALUE_REGISTER,   /* the variable's value is value (a register, DW_OP_stack_value) */
};

typedef struct mp_dw_value {
	enum mp_dw_value_kind kind;
	uint64_t value;
} mp_dw_value;

mp_dw_value mp_dw_expr_eval(const mp_dw_expr *expr, const mp_dw_expr_frame *frame);

#endif
