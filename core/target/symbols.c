/* Address to symbol, for naming where a pointer lives (`refs`) and what a
 * block is (a C++ vtable pointer in its first word).  Each module's symbol
 * table is read once, on first use, from its debug file when it has one
 * (stripped libraries keep only .dynsym), sorted by address and kept. */
#include <elf.h>
#include <stdlib.h>
#include <string.h>

#include "array.h"
#include "error.h"
#include "target_internal.h"

typedef struct symbol {
	uint64_t start, size;       /* start with the load bias applied */
	const char *name;           /* in the mapped ELF's string table */
} symbol;

struct mp_symbol_table {
	mp_elf *elf;                /* owned when it is the debug file */
	bool owns_elf;
	symbol *symbols;
	size_t count, capacity;
};

void mp_symbol_table_free(struct mp_symbol_table *table)
{
	if (!table)
		return;
	if (table->owns_elf)
		mp_elf_close(table->elf);
	free(table->symbols);
	free(table);
}

static int compare_symbols(const void *a, const void *b)
{
	const symbol *x = a, *y = b;
	return x->start < y->start ? -1 : x->start > y->start;
}

static void collect(struct mp_symbol_table *table, unsigned type, uint64_t bias)
{
	const mp_elf *elf = table->elf;
	const Elf64_Ehdr *h = mp_elf_header(elf);
	const Elf64_Shdr *shdrs = mp_elf_bytes(elf, h->e_shoff,
					       (uint64_t)h->e_shnum * sizeof(Elf64_Shdr));
	if (!shdrs || h->e_shoff % 8)
		return;
	for (size_t i = 0; i < h->e_shnum; i++) {
		const Elf64_Shdr *s = &shdrs[i];
		if (s->sh_type != type || s->sh_entsize != sizeof(Elf64_Sym) ||
		    s->sh_link >= h->e_shnum || s->sh_offset % 8)
			continue;
		const Elf64_Shdr *strtab = &shdrs[s->sh_link];
		const Elf64_Sym *syms = mp_elf_bytes(elf, s->sh_offset, s->sh_size);
		const char *strings = mp_elf_bytes(elf, strtab->sh_offset, strtab->sh_size);
		if (!syms || !strings || strtab->sh_size == 0 ||
		    strings[strtab->sh_size - 1] != '\0')
			continue;
		for (size_t k = 0; k < s->sh_size / sizeof(Elf64_Sym); k++) {
			unsigned kind = ELF64_ST_TYPE(syms[k].st_info);
			if ((kind != STT_OBJECT && kind != STT_FUNC && kind != STT_TLS) ||
			    syms[k].st_shndx == SHN_UNDEF || kind == STT_TLS ||
			    syms[k].st_name >= strtab->sh_size || syms[k].st_size == 0)
				continue;
			if (!MP_ARRAY_RESERVE(table->symbols, table->capacity, table->count + 1))
				return;
			symbol *sym = &table->symbols[table->count++];
			sym->start = syms[k].st_value + bias;
			sym->size = syms[k].st_size;
			sym->name = strings + syms[k].st_name;
		}
	}
}

static struct mp_symbol_table *load(mp_module *m)
{
	struct mp_symbol_table *table = calloc(1, sizeof(*table));
	if (!table)
		return NULL;
	if (m->debug_file && (!m->file || strcmp(m->debug_file, m->file) != 0)) {
		mp_error *err = mp_elf_open(m->debug_file, &table->elf);
		if (err)
			mp_error_free(err);
		else
			table->owns_elf = true;
	}
	if (!table->elf)
		table->elf = m->elf;
	if (table->elf) {
		collect(table, SHT_SYMTAB, m->load_bias);
		if (table->count == 0)
			collect(table, SHT_DYNSYM, m->load_bias);
		if (table->count > 1)
			qsort(table->symbols, table->count, sizeof(symbol), compare_symbols);
	}
	return table;
}

const char *mp_target_symbolize(mp_target *t, uint64_t address, uint64_t *offset)
{
	for (size_t i = 0; i < t->n_modules; i++) {
		mp_module *m = t->modules[i];
		if (address < m->start || address >= m->end)
			continue;
		if (!m->symbols && !(m->symbols = load(m)))
			return NULL;
		const struct mp_symbol_table *table = m->symbols;
		size_t lo = 0, hi = table->count;
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			if (table->symbols[mid].start <= address)
				lo = mid + 1;
			else
				hi = mid;
		}
		/* Symbols may nest; look back a little for one that covers. */
		for (size_t k = lo; k > 0 && lo - k < 8; k--) {
			const symbol *sym = &table->symbols[k - 1];
			if (address < sym->start + sym->size) {
				*offset = address - sym->start;
				return sym->name;
			}
		}
		return NULL;
	}
	return NULL;
}

bool mp_module_symbol_address(const mp_module *m, const char *name, uint64_t *address,
			      bool *from_debug_file)
{
	uint64_t value = 0, size;
	*from_debug_file = false;
	if (m->elf && mp_elf_find_symbol(m->elf, name, &value, &size) && value) {
		*address = m->load_bias + value;
		return true;
	}
	if (!m->debug_file || (m->file && strcmp(m->debug_file, m->file) == 0))
		return false;
	mp_elf *debug = NULL;
	mp_error *err = mp_elf_open(m->debug_file, &debug);
	if (err) {
		mp_error_free(err);
		return false;
	}
	bool found = mp_elf_find_symbol(debug, name, &value, &size) && value;
	mp_elf_close(debug);
	if (found) {
		*address = m->load_bias + value;
		*from_debug_file = true;
	}
	return found;
}
