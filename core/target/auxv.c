/* Names of auxiliary vector entries for `memprof info`. */
#include <elf.h>

#include "memprof/memprof.h"

const char *mp_auxv_type_name(uint64_t type)
{
	switch (type) {
	case AT_NULL: return "AT_NULL";
	case AT_IGNORE: return "AT_IGNORE";
	case AT_EXECFD: return "AT_EXECFD";
	case AT_PHDR: return "AT_PHDR";
	case AT_PHENT: return "AT_PHENT";
	case AT_PHNUM: return "AT_PHNUM";
	case AT_PAGESZ: return "AT_PAGESZ";
	case AT_BASE: return "AT_BASE";
	case AT_FLAGS: return "AT_FLAGS";
	case AT_ENTRY: return "AT_ENTRY";
	case AT_NOTELF: return "AT_NOTELF";
	case AT_UID: return "AT_UID";
	case AT_EUID: return "AT_EUID";
	case AT_GID: return "AT_GID";
	case AT_EGID: return "AT_EGID";
	case AT_CLKTCK: return "AT_CLKTCK";
	case AT_PLATFORM: return "AT_PLATFORM";
	case AT_HWCAP: return "AT_HWCAP";
	case AT_FPUCW: return "AT_FPUCW";
	case AT_DCACHEBSIZE: return "AT_DCACHEBSIZE";
	case AT_ICACHEBSIZE: return "AT_ICACHEBSIZE";
	case AT_UCACHEBSIZE: return "AT_UCACHEBSIZE";
	case AT_SECURE: return "AT_SECURE";
	case AT_BASE_PLATFORM: return "AT_BASE_PLATFORM";
	case AT_RANDOM: return "AT_RANDOM";
	case AT_HWCAP2: return "AT_HWCAP2";
	case AT_EXECFN: return "AT_EXECFN";
	case AT_SYSINFO: return "AT_SYSINFO";
	case AT_SYSINFO_EHDR: return "AT_SYSINFO_EHDR";
	case AT_MINSIGSTKSZ: return "AT_MINSIGSTKSZ";
	case 27: return "AT_RSEQ_FEATURE_SIZE";
	case 28: return "AT_RSEQ_ALIGN";
	case 29: return "AT_HWCAP3";
	case 30: return "AT_HWCAP4";
	default: return NULL;
	}
}
