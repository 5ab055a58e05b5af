/* Locations of frame variables (core/dwarf/dwarf_expr.c) evaluated as the
 * DWARF 5 standard defines each operation (section 2.5 and 2.6), against a
 * frame whose registers the test sets: where the value is, or nothing when
 * an operation needs what the frame lacks or memprof does not evaluate. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <dwarf.h>

#include "dwarf/dwarf_expr.h"

enum { RBX = 3, RBP = 6, RSP = 7 };

static mp_dw_expr expr(unsigned n, const uint8_t *atoms, const int64_t *operands)
{
	mp_dw_expr e = {.n = n};
	for (unsigned i = 0; i < n; i++) {
		e.ops[i].atom = atoms[i];
		e.ops[i].operand1 = (uint64_t)operands[i];
	}
	return e;
}

static mp_dw_expr_frame frame(void)
{
	mp_dw_expr_frame f = {0};
	f.regs[RBX] = 0x5000;
	f.regs[RSP] = 0x7ffc1000;
	f.valid = 1u << RBX | 1u << RSP;
	f.cfa = 0x7ffc1040;
	f.has_cfa = true;
	f.load_bias = 0x555500000000;
	return f;
}

/* -O0: the frame base is the CFA, a local 24 bytes below it. */
static void test_frame_base_offset(void **state)
{
	(void)state;
	mp_dw_expr_frame f = frame();
	mp_dw_expr base = expr(1, (uint8_t[]){DW_OP_call_frame_cfa}, (int64_t[]){0});
	mp_dw_value b = mp_dw_expr_eval(&base, &f);
	assert_int_equal(b.kind, MP_DW_VALUE_MEMORY);
	f.frame_base = b.value;
	f.has_frame_base = true;
	mp_dw_expr local = expr(1, (uint8_t[]){DW_OP_fbreg}, (int64_t[]){-24});
	mp_dw_value v = mp_dw_expr_eval(&local, &f);
	assert_int_equal(v.kind, MP_DW_VALUE_MEMORY);
	assert_int_equal(v.value, 0x7ffc1040 - 24);
	f.has_frame_base = false;
	assert_int_equal(mp_dw_expr_eval(&local, &f).kind, MP_DW_VALUE_NONE);
}

/* A register operation names where the value is; a register the unwind
 * did not recover gives nothing. */
static void test_registers(void **state)
{
	(void)state;
	mp_dw_expr_frame f = frame();
	mp_dw_expr in_rbx = expr(1, (uint8_t[]){DW_OP_reg3}, (int64_t[]){0});
	mp_dw_value v = mp_dw_expr_eval(&in_rbx, &f);
	assert_int_equal(v.kind, MP_DW_VALUE_REGISTER);
	assert_int_equal(v.value, 0x5000);
	mp_dw_expr in_rbp = expr(1, (uint8_t[]){DW_OP_regx}, (int64_t[]){RBP});
	assert_int_equal(mp_dw_expr_eval(&in_rbp, &f).kind, MP_DW_VALUE_NONE);
	mp_dw_expr above_sp = expr(1, (uint8_t[]){DW_OP_breg7}, (int64_t[]){16});
	v = mp_dw_expr_eval(&above_sp, &f);
	assert_int_equal(v.kind, MP_DW_VALUE_MEMORY);
	assert_int_equal(v.value, 0x7ffc1000 + 16);
	mp_dw_expr by_rbp = expr(1, (uint8_t[]){DW_OP_breg6}, (int64_t[]){-8});
	assert_int_equal(mp_dw_expr_eval(&by_rbp, &f).kind, MP_DW_VALUE_NONE);
	/* Beyond the 17 columns the unwinder knows (xmm registers). */
	mp_dw_expr xmm = expr(1, (uint8_t[]){DW_OP_regx}, (int64_t[]){17});
	assert_int_equal(mp_dw_expr_eval(&xmm, &f).kind, MP_DW_VALUE_NONE);
}

/* DW_OP_stack_value: the value is the top of the stack, not an address. */
static void test_stack_value(void **state)
{
	(void)state;
	mp_dw_expr_frame f = frame();
	mp_dw_expr sum = expr(3, (uint8_t[]){DW_OP_breg3, DW_OP_plus_uconst, DW_OP_stack_value},
			      (int64_t[]){8, 32, 0});
	mp_dw_value v = mp_dw_expr_eval(&sum, &f);
	assert_int_equal(v.kind, MP_DW_VALUE_REGISTER);
	assert_int_equal(v.value, 0x5000 + 8 + 32);
	mp_dw_expr minus = expr(4, (uint8_t[]){DW_OP_lit31, DW_OP_lit1, DW_OP_minus, DW_OP_stack_value},
				(int64_t[]){0, 0, 0, 0});
	v = mp_dw_expr_eval(&minus, &f);
	assert_int_equal(v.kind, MP_DW_VALUE_REGISTER);
	assert_int_equal(v.value, 30);
	/* Nothing may follow DW_OP_stack_value. */
	mp_dw_expr after = expr(3, (uint8_t[]){DW_OP_lit1, DW_OP_stack_value, DW_OP_lit2},
				(int64_t[]){0, 0, 0});
	assert_int_equal(mp_dw_expr_eval(&after, &f).kind, MP_DW_VALUE_NONE);
}

/* DW_OP_addr is a link-time address: the module's load bias is added. */
static void test_address(void **state)
{
	(void)state;
	mp_dw_expr_frame f = frame();
	mp_dw_expr a = expr(1, (uint8_t[]){DW_OP_addr}, (int64_t[]){0x4010});
	mp_dw_value v = mp_dw_expr_eval(&a, &f);
	assert_int_equal(v.kind, MP_DW_VALUE_MEMORY);
	assert_int_equal(v.value, 0x555500004010);
}

/* What is not evaluated: the value at function entry, pieces of a value
 * split across places, an implicit value, an empty location (optimized
 * out), an operation short of operands, a dereference without memory. */
static void test_not_evaluated(void **state)
{
	(void)state;
	mp_dw_expr_frame f = frame();
	mp_dw_expr entry = expr(2, (uint8_t[]){DW_OP_entry_value, DW_OP_stack_value},
				(int64_t[]){1, 0});
	assert_int_equal(mp_dw_expr_eval(&entry, &f).kind, MP_DW_VALUE_NONE);
	mp_dw_expr pieces = expr(4, (uint8_t[]){DW_OP_reg3, DW_OP_piece, DW_OP_lit7, DW_OP_piece},
				 (int64_t[]){0, 8, 0, 8});
	assert_int_equal(mp_dw_expr_eval(&pieces, &f).kind, MP_DW_VALUE_NONE);
	mp_dw_expr implicit = expr(1, (uint8_t[]){DW_OP_implicit_value}, (int64_t[]){8});
	assert_int_equal(mp_dw_expr_eval(&implicit, &f).kind, MP_DW_VALUE_NONE);
	mp_dw_expr empty = {0};
	assert_int_equal(mp_dw_expr_eval(&empty, &f).kind, MP_DW_VALUE_NONE);
	mp_dw_expr short_plus = expr(2, (uint8_t[]){DW_OP_lit1, DW_OP_plus}, (int64_t[]){0, 0});
	assert_int_equal(mp_dw_expr_eval(&short_plus, &f).kind, MP_DW_VALUE_NONE);
	mp_dw_expr deref = expr(2, (uint8_t[]){DW_OP_breg7, DW_OP_deref}, (int64_t[]){0, 0});
	assert_int_equal(mp_dw_expr_eval(&deref, &f).kind, MP_DW_VALUE_NONE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_frame_base_offset),
		cmocka_unit_test(test_registers),
		cmocka_unit_test(test_stack_value),
		cmocka_unit_test(test_address),
		cmocka_unit_test(test_not_evaluated),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
