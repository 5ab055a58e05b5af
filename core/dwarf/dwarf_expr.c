/* DWARF location expressions of frame variables (dwarf_expr.h): the
 * operations GCC and clang use for locals and parameters, evaluated on a
 * bounded stack; any other operation makes the location unknown. */
#include "dwarf_expr.h"

#include <dwarf.h>

#include "error.h"

enum { STACK = 16 };

static bool register_value(const mp_dw_expr_frame *f, uint64_t reg, uint64_t *value)
{
	if (reg >= MP_DW_FRAME_COLUMNS || !(f->valid & (UINT32_C(1) << reg)))
		return false;
	*value = f->regs[reg];
	return true;
}

mp_dw_value mp_dw_expr_eval(const mp_dw_expr *e, const mp_dw_expr_frame *f)
{
	mp_dw_value none = {MP_DW_VALUE_NONE, 0};
	if (!e->n)
		return none;
	/* A lone register operation: the value lives in that register. */
	uint8_t first = e->ops[0].atom;
	if (e->n == 1 && ((first >= DW_OP_reg0 && first <= DW_OP_reg31) || first == DW_OP_regx)) {
		uint64_t reg = first == DW_OP_regx ? e->ops[0].operand1 : (uint64_t)(first - DW_OP_reg0);
		uint64_t value;
		if (!register_value(f, reg, &value))
			return none;
		return (mp_dw_value){MP_DW_VALUE_REGISTER, value};
	}
	uint64_t stack[STACK];
	size_t depth = 0;
	for (unsigned i = 0; i < e->n; i++) {
		uint8_t op = e->ops[i].atom;
		uint64_t a = e->ops[i].operand1, b = e->ops[i].operand2, value = 0;
		bool push = true;
		if (op >= DW_OP_lit0 && op <= DW_OP_lit31) {
			value = (uint64_t)(op - DW_OP_lit0);
		} else if (op >= DW_OP_breg0 && op <= DW_OP_breg31) {
			if (!register_value(f, (uint64_t)(op - DW_OP_breg0), &value))
				return none;
			value += a;
		} else {
			switch (op) {
			case DW_OP_addr:
				value = a + f->load_bias;
				break;
			case DW_OP_const1u: case DW_OP_const1s: case DW_OP_const2u:
			case DW_OP_const2s: case DW_OP_const4u: case DW_OP_const4s:
			case DW_OP_const8u: case DW_OP_const8s: case DW_OP_constu:
			case DW_OP_consts:
				value = a;
				break;
			case DW_OP_bregx:
				if (!register_value(f, a, &value))
					return none;
				value += b;
				break;
			case DW_OP_fbreg:
				if (!f->has_frame_base)
					return none;
				value = f->frame_base + a;
				break;
			case DW_OP_call_frame_cfa:
				if (!f->has_cfa)
					return none;
				value = f->cfa;
				break;
			case DW_OP_dup:
				if (!depth)
					return none;
				value = stack[depth - 1];
				break;
			case DW_OP_drop:
				if (!depth)
					return none;
				depth--;
				push = false;
				break;
			case DW_OP_plus_uconst:
				if (!depth)
					return none;
				stack[depth - 1] += a;
				push = false;
				break;
			case DW_OP_plus:
			case DW_OP_minus:
				if (depth < 2)
					return none;
				depth--;
				stack[depth - 1] = op == DW_OP_plus ? stack[depth - 1] + stack[depth]
								    : stack[depth - 1] - stack[depth];
				push = false;
				break;
			case DW_OP_deref: {
				if (!depth || !f->target)
					return none;
				mp_error *err = mp_target_read(f->target, stack[depth - 1], &stack[depth - 1], 8);
				if (err) {
					mp_error_free(err);
					return none;
				}
				push = false;
				break;
			}
			case DW_OP_stack_value:
				/* The value itself, and nothing may follow. */
				if (!depth || i + 1 != e->n)
					return none;
				return (mp_dw_value){MP_DW_VALUE_REGISTER, stack[depth - 1]};
			default:
				/* DW_OP_entry_value, pieces, implicit values and
				 * pointers, TLS, typed stack operations. */
				return none;
			}
		}
		if (push) {
			if (depth == STACK)
				return none;
			stack[depth++] = value;
		}
	}
	if (!depth)
		return none;
	return (mp_dw_value){MP_DW_VALUE_MEMORY, stack[depth - 1]};
}
