/* `memprof type NAME`: a type's layout the way pahole shows it (members
 * with offset and size, byte and bit holes, tail padding, the footer), as
 * JSON, or reorganized to remove holes; `memprof type --list [PATTERN]`
 * lists type names with their sizes. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "command.h"
#include "command_result.h"
#include "dwarf/types.h"
#include "analysis/struct_layout.h"
#include "error.h"
#include "output/result.h"

/* ------------------------------------------------------------- text */

static void member_decl(const mp_type_member *m, char *out, size_t size)
{
	if (m->is_base)
		snprintf(out, size, "%s", "<ancestor>");
	else if (m->bit_size)
		snprintf(out, size, "%s:%u", m->name[0] ? m->name : "", m->bit_size);
	else
		snprintf(out, size, "%s", m->name);
}

/* "TYPE NAME" as C declares it: arrays and function pointers put the name
 * inside the type ("int grid[3][4]", "int (*cmp)(int)"). */
static void declaration(const char *type_name, const char *decl, char *left,
			char **right_out, size_t size)
{
	const char *fp = strstr(type_name, "(*)");
	const char *dims = strstr(type_name, " [");
	*right_out = NULL;
	if (fp) {
		snprintf(left, size, "%.*s(*%s)%s", (int)(fp - type_name), type_name, decl, fp + 3);
	} else if (dims) {
		size_t head = (size_t)(dims - type_name);
		char *type_only = strndup(type_name, head);
		*right_out = type_only;
		snprintf(left, size, "%s%s", decl, dims + 1);
	} else {
		snprintf(left, size, "%s", decl);
	}
}

static void print_member(FILE *out, const mp_type_member *m, uint64_t offset)
{
	char decl[512];
	member_decl(m, decl, sizeof(decl));
	const char *type_name = mp_type_name(m->type);
	char name_part[1024], line[2048];
	char *array_head = NULL;
	declaration(type_name, decl, name_part, &array_head, sizeof(name_part));
	if (strstr(type_name, "(*)"))
		snprintf(line, sizeof(line), "%s;", name_part);
	else
		snprintf(line, sizeof(line), "%-26s %s;", array_head ? array_head : type_name,
			 name_part);
	free(array_head);
	if (m->bit_size)
		fprintf(out, "\t%-48s /* %5" PRIu64 ":%2u %4" PRIu64 " */\n", line,
			offset, m->bit_offset, m->size);
	else
		fprintf(out, "\t%-48s /* %5" PRIu64 " %5" PRIu64 " */\n", line,
			offset, m->size);
}

static const char *record_keyword(const mp_type *t)
{
	switch (mp_type_kind(t)) {
	case MP_TYPE_UNION: return "union";
	case MP_TYPE_CLASS: return "class";
	default: return "struct";
	}
}

static void print_heading(FILE *out, const char *name, const mp_type *t)
{
	const char *kw = record_keyword(t);
	size_t n = strlen(kw);
	if (strncmp(name, kw, n) == 0 && name[n] == ' ')
		fprintf(out, "%s", name);
	else
		fprintf(out, "%s %s", kw, name);
	size_t bases = 0;
	for (size_t i = 0; i < mp_type_member_count(t); i++) {
		const mp_type_member *m = mp_type_member_at(t, i);
		if (!m->is_base)
			continue;
		fprintf(out, "%s %s", bases ? "," : " :", mp_type_name(m->type));
		bases++;
	}
	fprintf(out, " {\n");
}

static void print_variants(FILE *out, const mp_type *t)
{
	uint64_t off, size;
	if (!mp_type_discriminant(t, &off, &size) && !mp_type_variant_count(t))
		return;
	if (mp_type_discriminant(t, &off, &size))
		fprintf(out, "\t/* variant part: discriminant at offset %" PRIu64 ", %" PRIu64 " bytes */\n",
			off, size);
	for (size_t i = 0; i < mp_type_variant_count(t); i++) {
		const mp_type_variant *v = mp_type_variant_at(t, i);
		char discr[64];
		if (v->has_discr_value)
			snprintf(discr, sizeof(discr), "discriminant %" PRIu64, v->discr_value);
		else
			snprintf(discr, sizeof(discr), "default (dataful)");
		char left[1024];
		snprintf(left, sizeof(left), "%-26s %s;", mp_type_name(v->type), v->name);
		fprintf(out, "\t%-48s /* %5" PRIu64 " %5" PRIu64 " %s */\n", left,
			v->offset, mp_type_size(v->type), discr);
	}
}

static void write_text(FILE *out, const char *name, const struct_layout *l)
{
	const mp_type *t = l->type;
	print_heading(out, name, t);
	for (size_t i = 0; i < l->n; i++) {
		const layout_slot *s = &l->slots[i];
		print_member(out, s->member, s->member->offset);
		if (s->hole_bits)
			fprintf(out, "\n\t/* XXX %" PRIu64 " bit%s hole, try to pack */\n",
				s->hole_bits, s->hole_bits == 1 ? "" : "s");
		if (s->hole_bytes)
			fprintf(out, "\n\t/* XXX %" PRIu64 " byte%s hole, try to pack */\n\n",
				s->hole_bytes, s->hole_bytes == 1 ? "" : "s");
	}
	print_variants(out, t);
	fprintf(out, "\n\t/* size: %" PRIu64 ", cachelines: %" PRIu64 ", members: %zu */\n",
		l->size, (l->size + 63) / 64, l->n);
	if (l->n_holes || l->n_bit_holes) {
		fprintf(out, "\t/* sum members: %" PRIu64, l->sum_members);
		if (l->n_holes)
			fprintf(out, ", holes: %zu, sum holes: %" PRIu64, l->n_holes, l->sum_holes);
		fprintf(out, " */\n");
		if (l->n_bit_holes)
			fprintf(out, "\t/* bit holes: %zu, sum bit holes: %" PRIu64 " bits */\n",
				l->n_bit_holes, l->sum_bit_holes);
	}
	if (l->padding)
		fprintf(out, "\t/* padding: %" PRIu64 " */\n", l->padding);
	if (l->bit_padding)
		fprintf(out, "\t/* bit_padding: %" PRIu64 " bits */\n", l->bit_padding);
	if (l->size % 64)
		fprintf(out, "\t/* last cacheline: %" PRIu64 " bytes */\n", l->size % 64);
	fprintf(out, "};\n");
}

static void write_scalar_text(FILE *out, const char *name, const mp_type *t)
{
	const mp_type *s = mp_type_strip(t);
	fprintf(out, "%s: %s", name, mp_type_kind_name(mp_type_kind(t)));
	if (s != t && s)
		fprintf(out, " of %s (%s)", mp_type_name(s), mp_type_kind_name(mp_type_kind(s)));
	fprintf(out, ", size %" PRIu64 "\n", mp_type_size(t));
	for (size_t i = 0; s && i < mp_type_enumerator_count(s); i++) {
		const mp_type_enumerator *e = mp_type_enumerator_at(s, i);
		fprintf(out, "\t%s = %" PRId64 "\n", e->name, e->value);
	}
}

static void write_reorg_text(FILE *out, const char *name, const struct_layout *l,
			     const layout_reorg *r)
{
	print_heading(out, name, l->type);
	for (size_t i = 0; i < r->n; i++) {
		const reorg_block *b = &r->blocks[i];
		for (size_t k = 0; k < b->count; k++) {
			const mp_type_member *m = l->slots[b->first + k].member;
			uint64_t offset = b->offset + (m->offset - l->slots[b->first].member->offset);
			print_member(out, m, offset);
		}
	}
	uint64_t saved = l->size > r->new_size ? l->size - r->new_size : 0;
	fprintf(out, "\n\t/* size: %" PRIu64 " (was %" PRIu64 "), saved: %" PRIu64 " byte%s */\n};\n",
		saved ? r->new_size : l->size, l->size, saved, saved == 1 ? "" : "s");
}

/* ----------------------------------------------------------- result */

static void result_member(mp_result *r, mp_rnode array, const mp_type_member *m, uint64_t offset)
{
	mp_rnode o = mp_result_object(r, array, NULL);
	mp_result_string(r, o, "name", m->name);
	mp_result_uint(r, o, "offset", offset);
	mp_result_uint(r, o, "size", m->size);
	mp_result_string(r, o, "type", mp_type_name(m->type));
	if (m->bit_size) {
		mp_result_uint(r, o, "bit_offset", m->bit_offset);
		mp_result_uint(r, o, "bit_size", m->bit_size);
	}
	if (m->is_base)
		mp_result_bool(r, o, "base_class", true);
}

/* A Rust enum's discriminant and variants, when the record has them. */
static void result_variants(mp_result *r, const mp_type *t)
{
	uint64_t off, size;
	bool discriminant = mp_type_discriminant(t, &off, &size);
	if (!discriminant && !mp_type_variant_count(t))
		return;
	if (discriminant) {
		mp_rnode o = mp_result_object(r, MP_RESULT_ROOT, "discriminant");
		mp_result_uint(r, o, "offset", off);
		mp_result_uint(r, o, "size", size);
	} else {
		mp_result_null(r, MP_RESULT_ROOT, "discriminant");
	}
	mp_rnode variants = mp_result_array(r, MP_RESULT_ROOT, "variants");
	for (size_t i = 0; i < mp_type_variant_count(t); i++) {
		const mp_type_variant *v = mp_type_variant_at(t, i);
		mp_rnode o = mp_result_object(r, variants, NULL);
		mp_result_string(r, o, "name", v->name);
		mp_result_string(r, o, "type", mp_type_name(v->type));
		mp_result_uint(r, o, "offset", v->offset);
		mp_result_uint(r, o, "size", mp_type_size(v->type));
		if (v->has_discr_value)
			mp_result_uint(r, o, "discr_value", v->discr_value);
		else
			mp_result_null(r, o, "discr_value");
	}
}

static void result_layout(mp_result *r, const struct_layout *l)
{
	mp_rnode members = mp_result_array(r, MP_RESULT_ROOT, "members");
	for (size_t i = 0; i < l->n; i++)
		result_member(r, members, l->slots[i].member, l->slots[i].member->offset);
	mp_rnode holes = mp_result_array(r, MP_RESULT_ROOT, "holes");
	for (size_t i = 0; i < l->n; i++) {
		if (!l->slots[i].hole_bytes)
			continue;
		mp_rnode o = mp_result_object(r, holes, NULL);
		mp_result_uint(r, o, "offset", l->slots[i].hole_offset);
		mp_result_uint(r, o, "size", l->slots[i].hole_bytes);
	}
	mp_result_uint(r, MP_RESULT_ROOT, "sum_holes", l->sum_holes);
	mp_result_uint(r, MP_RESULT_ROOT, "bit_holes", l->n_bit_holes);
	mp_result_uint(r, MP_RESULT_ROOT, "sum_bit_holes", l->sum_bit_holes);
	mp_result_uint(r, MP_RESULT_ROOT, "padding", l->padding);
	mp_result_uint(r, MP_RESULT_ROOT, "bit_padding", l->bit_padding);
	result_variants(r, l->type);
}

static void result_reorganized(mp_result *r, const struct_layout *l, const layout_reorg *reorg)
{
	uint64_t saved = l->size > reorg->new_size ? l->size - reorg->new_size : 0;
	mp_rnode o = mp_result_object(r, MP_RESULT_ROOT, "reorganized");
	mp_result_uint(r, o, "size", saved ? reorg->new_size : l->size);
	mp_result_uint(r, o, "saved", saved);
	mp_rnode members = mp_result_array(r, o, "members");
	for (size_t i = 0; i < reorg->n; i++) {
		const reorg_block *b = &reorg->blocks[i];
		for (size_t k = 0; k < b->count; k++) {
			const mp_type_member *m = l->slots[b->first + k].member;
			result_member(r, members, m, b->offset + (m->offset - l->slots[b->first].member->offset));
		}
	}
}

/* The JSON of docs/json.md's type: a record's layout (l), reorganized
 * (reorg), or a scalar's enumerators (l NULL). */
static void type_result(mp_result *r, const char *name, const mp_type *t, const struct_layout *l,
			const layout_reorg *reorg)
{
	mp_result_string(r, MP_RESULT_ROOT, "name", name);
	mp_result_string(r, MP_RESULT_ROOT, "kind", mp_type_kind_name(mp_type_kind(l ? l->type : t)));
	mp_result_uint(r, MP_RESULT_ROOT, "size", mp_type_size(t));
	mp_result_string(r, MP_RESULT_ROOT, "module", mp_module_name(mp_type_module(t)));
	if (l) {
		result_layout(r, l);
	} else {
		const mp_type *s = mp_type_strip(t);
		if (s && mp_type_enumerator_count(s)) {
			mp_rnode enumerators = mp_result_array(r, MP_RESULT_ROOT, "enumerators");
			for (size_t i = 0; i < mp_type_enumerator_count(s); i++) {
				const mp_type_enumerator *e = mp_type_enumerator_at(s, i);
				mp_rnode o = mp_result_object(r, enumerators, NULL);
				mp_result_string(r, o, "name", e->name);
				mp_result_int(r, o, "value", e->value);
			}
		}
	}
	if (reorg && l)
		result_reorganized(r, l, reorg);
}

/* The text is pahole's layout, written from the layout itself. */
typedef struct type_text_context {
	const char *name;
	const mp_type *type;
	const struct_layout *layout;   /* NULL: a scalar */
	const layout_reorg *reorg;     /* NULL: as laid out */
} type_text_context;

static void type_text(FILE *out, const mp_result *r, void *context)
{
	(void)r;
	const type_text_context *t = context;
	if (!t->layout)
		write_scalar_text(out, t->name, t->type);
	else if (t->reorg)
		write_reorg_text(out, t->name, t->layout, t->reorg);
	else
		write_text(out, t->name, t->layout);
}

static int write_type(mp_command *c, const char *name, const mp_type *t, const struct_layout *l,
		      const layout_reorg *reorg)
{
	mp_result r;
	mp_result_init(&r);
	type_result(&r, name, t, l, reorg);
	type_text_context text = {name, t, l, reorg};
	mp_result_set_text_hook(&r, type_text, &text);
	mp_error *err = mp_result_write(c->out, &r, mp_command_result_format(c));
	mp_result_free(&r);
	return err ? mp_command_fail(c, err) : MP_EXIT_OK;
}

/* ------------------------------------------------------------- list */

typedef struct list_item {
	const char *name;
	uint64_t size;
	const char *kind;
	const char *module;
} list_item;

typedef struct list_state {
	list_item *items;
	size_t n, capacity;
	size_t next;        /* the item the stream writes next */
	bool failed;
} list_state;

static bool collect(void *context, const char *name, const mp_type *t)
{
	list_state *s = context;
	if (s->n == s->capacity) {
		size_t c = s->capacity ? 2 * s->capacity : 256;
		list_item *grown = realloc(s->items, c * sizeof(*grown));
		if (!grown) {
			s->failed = true;
			return false;
		}
		s->items = grown;
		s->capacity = c;
	}
	s->items[s->n++] = (list_item){
		.name = name,
		.size = mp_type_size(t),
		.kind = mp_type_kind_name(mp_type_kind(t)),
		.module = mp_module_name(mp_type_module(t)),
	};
	return true;
}

static int compare_items(const void *a, const void *b)
{
	const list_item *x = a, *y = b;
	int c = strcmp(x->name, y->name);
	return c ? c : strcmp(x->module, y->module);
}

/* A name per line after its size, as `pahole --sizes` lists them. */
static void list_text(FILE *out, const mp_result *r, void *context)
{
	(void)r;
	const list_state *s = context;
	for (size_t i = 0; i < s->n; i++)
		fprintf(out, "%8" PRIu64 "  %s\n", s->items[i].size, s->items[i].name);
}

/* A program has hundreds of thousands of types: the JSON's are built one
 * at a time from the sorted items. */
static bool list_row(mp_result *row, void *context)
{
	list_state *s = context;
	if (s->next == s->n)
		return false;
	const list_item *item = &s->items[s->next++];
	mp_result_string(row, MP_RESULT_ROOT, "name", item->name);
	mp_result_string(row, MP_RESULT_ROOT, "kind", item->kind);
	mp_result_uint(row, MP_RESULT_ROOT, "size", item->size);
	mp_result_string(row, MP_RESULT_ROOT, "module", item->module);
	return true;
}

static int run_list(mp_command *c)
{
	const char *pattern = c->options->n_positional ? c->options->positional[0] : NULL;
	list_state s = { 0 };
	mp_error *e = mp_type_list(c->target, pattern, collect, &s);
	if (!e && s.failed)
		e = mp_error_nomem();
	if (e) {
		free(s.items);
		return mp_command_fail(c, e);
	}
	if (s.n > 1)
		qsort(s.items, s.n, sizeof(*s.items), compare_items);
	mp_result r;
	mp_result_init(&r);
	mp_result_stream(&r, MP_RESULT_ROOT, "types", list_row, &s);
	mp_result_set_text_hook(&r, list_text, &s);
	e = mp_result_write(c->out, &r, mp_command_result_format(c));
	mp_result_free(&r);
	free(s.items);
	return e ? mp_command_fail(c, e) : MP_EXIT_OK;
}

/* ------------------------------------------------------------- verb */

static void variable_text(FILE *out, const mp_result *r, void *context)
{
	(void)context;
	fprintf(out, "%s: %s at 0x%" PRIx64 ", %" PRIu64 " bytes, in %s\n",
		mp_result_get_string(r, mp_result_get(r, MP_RESULT_ROOT, "name")),
		mp_result_get_string(r, mp_result_get(r, MP_RESULT_ROOT, "type")),
		mp_result_get_uint(r, mp_result_get(r, MP_RESULT_ROOT, "address")),
		mp_result_get_uint(r, mp_result_get(r, MP_RESULT_ROOT, "size")),
		mp_result_get_string(r, mp_result_get(r, MP_RESULT_ROOT, "module")));
}

static int run_variable(mp_command *c, const char *name)
{
	mp_variable v;
	mp_error *e = mp_type_find_variable(c->target, name, &v);
	if (e)
		return mp_command_fail(c, e);
	mp_result r;
	mp_result_init(&r);
	mp_result_string(&r, MP_RESULT_ROOT, "name", v.name);
	mp_result_hex(&r, MP_RESULT_ROOT, "address", v.address);
	mp_result_string(&r, MP_RESULT_ROOT, "type", mp_type_name(v.type));
	mp_result_uint(&r, MP_RESULT_ROOT, "size", mp_type_size(v.type));
	mp_result_string(&r, MP_RESULT_ROOT, "module", mp_module_name(v.module));
	mp_result_set_text_hook(&r, variable_text, NULL);
	e = mp_result_write(c->out, &r, mp_command_result_format(c));
	mp_result_free(&r);
	return e ? mp_command_fail(c, e) : MP_EXIT_OK;
}

static int run_type(mp_command *c)
{
	if (mp_command_flag(c, "--list"))
		return run_list(c);
	if (c->options->n_positional != 1)
		return mp_command_fail(c, mp_error_new(MP_ERR_USAGE,
			"type needs one NAME (or --list [PATTERN]); see memprof type --help"));
	const char *name = c->options->positional[0];
	if (mp_command_flag(c, "--variable"))
		return run_variable(c, name);
	const mp_type *t = NULL;
	mp_error *e = mp_type_find(c->target, name, &t);
	if (e)
		return mp_command_fail(c, e);
	if (mp_command_flag(c, "--stats")) {
		const mp_module *m = mp_type_module(t);
		uint64_t bytes = 0;
		double seconds = 0;
		size_t names = 0;
		if (mp_type_index_stats(c->target, m, &bytes, &seconds, &names))
			fprintf(c->err, "memprof: index of %s: %zu names, %.1f MB of .debug_info in %.3f s (%.1f MB/s)\n",
				mp_module_name(m), names, (double)bytes / 1e6, seconds,
				seconds > 0 ? (double)bytes / 1e6 / seconds : 0.0);
		/* A warm lookup: the index built, the name looked up again. */
		enum { WARM_ROUNDS = 1000 };
		struct timespec t0, t1;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		for (int i = 0; i < WARM_ROUNDS; i++) {
			const mp_type *again = NULL;
			mp_error *warm = mp_type_find(c->target, name, &again);
			if (warm)
				mp_error_free(warm);
		}
		clock_gettime(CLOCK_MONOTONIC, &t1);
		double warm_us = ((double)(t1.tv_sec - t0.tv_sec) * 1e9 +
				  (double)(t1.tv_nsec - t0.tv_nsec)) / 1e3 / WARM_ROUNDS;
		fprintf(c->err, "memprof: warm lookup of %s: %.2f us (mean of %d)\n", name,
			warm_us, WARM_ROUNDS);
	}
	if (mp_type_error(t))
		return mp_command_fail(c, mp_error_new(MP_ERR_FORMAT, "%s", mp_type_error(t)));
	const mp_type *record = mp_type_strip(t);
	if (record && mp_layout_is_record(record) && !mp_type_is_complete(record))
		return mp_command_fail(c, mp_error_new(MP_ERR_NOT_FOUND,
			"%s is only declared (incomplete): no module with debug info defines it",
			name));
	const char *shown = mp_type_name(t);
	if (!record || !mp_layout_is_record(record))
		return write_type(c, shown, t, NULL, NULL);
	if (mp_type_error(record))
		return mp_command_fail(c, mp_error_new(MP_ERR_FORMAT, "%s", mp_type_error(record)));
	struct_layout l;
	e = mp_layout_compute(record, &l);
	if (e) {
		free(l.slots);
		return mp_command_fail(c, e);
	}
	layout_reorg r = { 0 };
	bool want_reorg = mp_command_flag(c, "--reorganize");
	if (want_reorg && !l.is_union) {
		e = mp_layout_reorganize(&l, &r);
		if (e) {
			free(l.slots);
			return mp_command_fail(c, e);
		}
	}
	int status = write_type(c, shown, t, &l, want_reorg && !l.is_union ? &r : NULL);
	free(r.blocks);
	free(l.slots);
	return status;
}

static const char *const type_flags[] = {
	"--list", "--reorganize", "--stats", "--variable", NULL,
};

const mp_verb mp_verb_type = {
	.name = "type",
	.summary = "a type's layout like pahole: members, holes, padding; --reorganize, --list",
	.usage = "NAME [--reorganize] [--stats] | --list [PATTERN] | --variable NAME\n"
		 "  target: any, or --exe FILE alone (no process needed)\n"
		 "  NAME   `struct foo`, a typedef, `ns::Class<T>`, a Rust path\n"
		 "  --reorganize  propose a member order without holes, and the bytes saved\n"
		 "  --list        type names matching PATTERN (glob or substring) with sizes\n"
		 "  --variable    NAME is a global or static variable: its address and type\n"
		 "  --stats       print the module's index time and size on stderr",
	.formats = MP_FORMAT_TEXT | MP_FORMAT_JSON,
	.needs_target = true,
	.exe_target_ok = true,
	.flags = type_flags,
	.min_positional = 0,
	.max_positional = 1,
	.run = run_type,
};
