/* x86-64 general register names, in the order of the kernel's
 * user_regs_struct, which is also the order NT_PRSTATUS and PTRACE_GETREGS
 * use: records copy straight in, names come from here. */
#include <string.h>

#include "memprof/memprof.h"

static const char *const register_names[MP_NUM_REGISTERS] = {
	"r15", "r14", "r13", "r12", "rbp", "rbx", "r11", "r10", "r9", "r8",
	"rax", "rcx", "rdx", "rsi", "rdi", "orig_rax", "rip", "cs", "eflags",
	"rsp", "ss", "fs_base", "gs_base", "ds", "es", "fs", "gs",
};

const char *mp_register_name(size_t index)
{
	return index < MP_NUM_REGISTERS ? register_names[index] : NULL;
}

int mp_register_index(const char *name)
{
	for (int i = 0; i < MP_NUM_REGISTERS; i++)
		if (strcmp(register_names[i], name) == 0)
			return i;
	return -1;
}
