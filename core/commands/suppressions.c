#include "suppressions.h"

#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "array.h"
#include "command.h"
#include "error.h"
#include "leaks_report.h"
#include "target/target_internal.h"
#include "text.h"

static char *trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	size_t n = strlen(s);
	while (n && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
	return s;
}

static void entry_free(mp_suppression *e)
{
	free(e->name);
	free(e->file);
	free(e->type);
	free(e->program);
	free(e->root);
	free(e->owner);
	free(e->preview);
}

void mp_suppressions_free(mp_suppressions *s)
{
	for (size_t i = 0; i < s->n; i++)
		entry_free(&s->entries[i]);
	free(s->entries);
	memset(s, 0, sizeof(*s));
}

/* "64", "1K-4K", "100-", "-32": an inclusive range of usable sizes. */
static bool parse_size_range(const char *text, uint64_t *min, uint64_t *max)
{
	const char *dash = strchr(text, '-');
	char low[64], high[64];
	if (!dash) {
		if (!mp_command_parse_size(text, min))
			return false;
		*max = *min;
		return true;
	}
	size_t n = (size_t)(dash - text);
	if (n >= sizeof(low) || strlen(dash + 1) >= sizeof(high))
		return false;
	memcpy(low, text, n);
	low[n] = '\0';
	strcpy(high, dash + 1);
	char *l = trim(low), *h = trim(high);
	*min = 0;
	*max = UINT64_MAX;
	if (*l && !mp_command_parse_size(l, min))
		return false;
	if (*h && !mp_command_parse_size(h, max))
		return false;
	return (*l || *h) && *min <= *max;
}

static bool parse_kinds(const char *text, unsigned *mask)
{
	/* The --fail-on words, as a plain list (no "+", no "none"). */
	if (text[0] == '+' || strcmp(text, "none") == 0)
		return false;
	return mp_parse_fail_on(text, mask);
}

static const char *const keys[] = {"name", "kind", "type", "size", "program", "root",
				   "owner", "preview"};

/* Ends the entry being read: it must match something. */
static mp_error *close_entry(mp_suppressions *s, mp_suppression *e, bool *open,
			     const char *path)
{
	if (!*open)
		return NULL;
	*open = false;
	if (!e->kinds && !e->type && !e->program && !e->root && !e->owner && !e->preview &&
	    !e->has_size) {
		mp_error *err = mp_error_new(MP_ERR_USAGE,
					     "%s:%u: the entry matches every block: give kind, "
					     "type, size, program, root, owner or preview",
					     path, e->line);
		entry_free(e);
		return err;
	}
	if (!e->name && asprintf(&e->name, "%s:%u", path, e->line) < 0)
		e->name = NULL;
	e->file = strdup(path);
	if (!e->name || !e->file ||
	    !MP_ARRAY_RESERVE(s->entries, s->capacity, s->n + 1)) {
		entry_free(e);
		return mp_error_nomem();
	}
	s->needs_roots |= e->root != NULL;
	s->needs_owners |= e->owner != NULL;
	s->entries[s->n++] = *e;
	memset(e, 0, sizeof(*e));
	return NULL;
}

mp_error *mp_suppressions_load(mp_suppressions *s, const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return mp_error_errno(errno, "cannot open suppression file %s", path);
	char *line = NULL;
	size_t capacity = 0;
	unsigned number = 0;
	mp_suppression e = {0};
	bool open = false;
	mp_error *err = NULL;
	while (!err && getline(&line, &capacity, f) >= 0) {
		number++;
		char *text = trim(line);
		if (text[0] == '#')
			continue;
		if (!text[0]) {
			err = close_entry(s, &e, &open, path);
			continue;
		}
		char *colon = strchr(text, ':');
		if (!colon) {
			err = mp_error_new(MP_ERR_USAGE, "%s:%u: expected 'key: value', not '%s'",
					   path, number, text);
			break;
		}
		*colon = '\0';
		char *key = trim(text), *value = trim(colon + 1);
		if (!open) {
			open = true;
			e.line = number;
		}
		size_t k = 0;
		while (k < sizeof(keys) / sizeof(keys[0]) && strcmp(keys[k], key) != 0)
			k++;
		if (k == sizeof(keys) / sizeof(keys[0])) {
			err = mp_error_new(MP_ERR_USAGE, "%s:%u: unknown key '%s' (name, kind, type, "
					   "size, program, root, owner, preview)", path, number, key);
			break;
		}
		if (!value[0]) {
			err = mp_error_new(MP_ERR_USAGE, "%s:%u: '%s' has no value", path, number, key);
			break;
		}
		char **slot = NULL;
		bool duplicate = false;
		switch (k) {
		case 0: slot = &e.name; break;
		case 1:
			duplicate = e.kinds != 0;
			if (!duplicate && !parse_kinds(value, &e.kinds))
				err = mp_error_new(MP_ERR_USAGE, "%s:%u: kind takes definite, indirect, "
						   "possible, reachable (a list), not '%s'",
						   path, number, value);
			break;
		case 2: slot = &e.type; break;
		case 3:
			duplicate = e.has_size;
			if (!duplicate && !parse_size_range(value, &e.size_min, &e.size_max))
				err = mp_error_new(MP_ERR_USAGE, "%s:%u: size takes N, MIN-MAX, MIN- or "
						   "-MAX (bytes, K, M, G), not '%s'",
						   path, number, value);
			e.has_size = true;
			break;
		case 4: slot = &e.program; break;
		case 5: slot = &e.root; break;
		case 6: slot = &e.owner; break;
		default: slot = &e.preview; break;
		}
		if (slot) {
			duplicate = *slot != NULL;
			if (!duplicate && !(*slot = strdup(value)))
				err = mp_error_nomem();
		}
		if (!err && duplicate)
			err = mp_error_new(MP_ERR_USAGE, "%s:%u: '%s' given twice in one entry "
					   "(entries are separated by blank lines)", path, number, key);
	}
	if (!err && ferror(f))
		err = mp_error_errno(errno, "cannot read suppression file %s", path);
	if (!err)
		err = close_entry(s, &e, &open, path);
	if (err && open)
		entry_free(&e);
	free(line);
	fclose(f);
	return err;
}

/* Root words: the writable data of the modules (files mapped, not
 * "[stack]" or anonymous memory), where a global variable holds a block. */
static void find_roots(mp_suppression_match *m)
{
	size_t n = mp_target_mapping_count(m->target);
	uint64_t buffer[8192];
	for (size_t i = 0; i < n; i++) {
		const mp_mapping *map = mp_target_mapping(m->target, i);
		if (!(map->perms & MP_PERM_WRITE) || !(map->perms & MP_PERM_READ) ||
		    !map->path[0] || map->path[0] == '[')
			continue;
		for (uint64_t at = map->start; at < map->end; at += sizeof(buffer)) {
			size_t length = map->end - at < sizeof(buffer) ? (size_t)(map->end - at)
								     : sizeof(buffer);
			mp_error *err = mp_target_read(m->target, at, buffer, length);
			if (err) {
				mp_error_free(err);
				continue;
			}
			for (size_t w = 0; w < length / 8; w++) {
				ptrdiff_t b = mp_heap_find_block(m->heap, buffer[w]);
				if (b < 0 || m->root_of[b])
					continue;
				mp_chunk c = mp_heap_chunk(m->heap, (size_t)b);
				if (c.user_address != buffer[w])
					continue;
				uint64_t offset;
				m->root_of[b] = mp_target_symbolize(m->target, at + 8 * w, &offset);
			}
		}
	}
}

/* Owners: for each block another leaked block points to, one such block
 * (the first in address order).  A loop over blocks, never recursion. */
static void find_owners(mp_suppression_match *m)
{
	size_t n = mp_heap_chunk_count(m->heap);
	uint64_t buffer[512];
	for (size_t i = 0; i < n; i++) {
		enum mp_leak_kind kind = mp_leaks_kind(m->leaks, i);
		if (kind != MP_LEAK_DEFINITE && kind != MP_LEAK_INDIRECT && kind != MP_LEAK_POSSIBLE)
			continue;
		mp_chunk c = mp_heap_chunk(m->heap, i);
		uint64_t usable = mp_chunk_usable_size(&c);
		for (uint64_t off = 0; off + 8 <= usable; off += sizeof(buffer)) {
			size_t length = usable - off < sizeof(buffer) ? (size_t)(usable - off)
								      : sizeof(buffer);
			mp_error *err = mp_target_read(m->target, c.user_address + off, buffer, length);
			if (err) {
				mp_error_free(err);
				break;
			}
			for (size_t w = 0; w < length / 8; w++) {
				ptrdiff_t b = mp_heap_find_block(m->heap, buffer[w]);
				if (b < 0 || (size_t)b == i || m->owner_of[b] >= 0)
					continue;
				mp_chunk target = mp_heap_chunk(m->heap, (size_t)b);
				if (target.user_address == buffer[w])
					m->owner_of[b] = (ptrdiff_t)i;
			}
		}
	}
}

mp_error *mp_suppression_match_init(mp_suppression_match *m, const mp_suppressions *s,
				    mp_target *target, const mp_heap *heap,
				    const mp_leaks *leaks, const mp_block_typing *typing,
				    const char *program)
{
	memset(m, 0, sizeof(*m));
	m->s = s;
	m->target = target;
	m->heap = heap;
	m->leaks = leaks;
	m->typing = typing;
	m->program = program ? program : "";
	size_t chunks = mp_heap_chunk_count(heap);
	m->blocks = calloc(s->n + 1, sizeof(uint64_t));
	m->bytes = calloc(s->n + 1, sizeof(uint64_t));
	if (s->needs_roots)
		m->root_of = calloc(chunks + 1, sizeof(*m->root_of));
	if (s->needs_owners) {
		m->owner_of = malloc((chunks + 1) * sizeof(*m->owner_of));
		for (size_t i = 0; m->owner_of && i < chunks; i++)
			m->owner_of[i] = -1;
	}
	if (!m->blocks || !m->bytes || (s->needs_roots && !m->root_of) ||
	    (s->needs_owners && !m->owner_of)) {
		mp_suppression_match_free(m);
		return mp_error_nomem();
	}
	if (m->root_of)
		find_roots(m);
	if (m->owner_of)
		find_owners(m);
	return NULL;
}

static bool glob(const char *pattern, const char *text)
{
	return fnmatch(pattern, text, 0) == 0;
}

/* The preview as the report prints it: printable bytes, '.' for others. */
static void preview_of(const uint8_t *bytes, size_t length, char *out)
{
	if (length > MP_PREVIEW_BYTES)
		length = MP_PREVIEW_BYTES;
	for (size_t i = 0; i < length; i++)
		out[i] = mp_text_printable(bytes[i]) ? (char)bytes[i] : '.';
	out[length] = '\0';
}

bool mp_suppression_filter(void *context, size_t index, enum mp_leak_kind kind,
			   const char *type, uint64_t size, const uint8_t *bytes,
			   size_t length)
{
	mp_suppression_match *m = context;
	const char *base = strrchr(m->program, '/');
	base = base ? base + 1 : m->program;
	char preview[MP_PREVIEW_BYTES + 1];
	preview_of(bytes, length, preview);
	char *owner_type = NULL;
	bool owner_done = false;
	bool matched = false;
	size_t e = 0;
	for (; e < m->s->n && !matched; e++) {
		const mp_suppression *s = &m->s->entries[e];
		if (s->kinds && !(s->kinds & (1u << kind)))
			continue;
		if (s->has_size && (size < s->size_min || size > s->size_max))
			continue;
		if (s->type && !glob(s->type, type ? type : "unknown"))
			continue;
		if (s->program && !glob(s->program, m->program) && !glob(s->program, base))
			continue;
		if (s->preview && !glob(s->preview, preview))
			continue;
		if (s->root && (!m->root_of || !m->root_of[index] || !glob(s->root, m->root_of[index])))
			continue;
		if (s->owner) {
			ptrdiff_t o = m->owner_of ? m->owner_of[index] : -1;
			if (o < 0)
				continue;
			if (!owner_done) {
				/* The owner's type, as its own group would name it. */
				mp_chunk c = mp_heap_chunk(m->heap, (size_t)o);
				uint8_t head[64];
				uint64_t usable = mp_chunk_usable_size(&c);
				size_t n = usable < sizeof(head) ? (size_t)usable : sizeof(head);
				mp_error *err = mp_target_read(m->target, c.user_address, head, n);
				if (err) {
					mp_error_free(err);
					n = 0;
				}
				const char *evidence = "";
				owner_type = mp_block_category(m->target, m->typing, (size_t)o, head,
							       n, &evidence);
				owner_done = true;
			}
			if (!glob(s->owner, owner_type ? owner_type : "unknown"))
				continue;
		}
		matched = true;
		m->blocks[e]++;
		m->bytes[e] += size;
		m->total_blocks++;
		m->total_bytes += size;
	}
	free(owner_type);
	return matched;
}

void mp_suppression_match_commit(mp_suppression_match *m, mp_suppressions *s)
{
	for (size_t e = 0; e < s->n; e++) {
		s->entries[e].used_blocks += m->blocks[e];
		s->entries[e].used_bytes += m->bytes[e];
	}
}

void mp_suppression_match_free(mp_suppression_match *m)
{
	free(m->blocks);
	free(m->bytes);
	free(m->root_of);
	free(m->owner_of);
	memset(m, 0, sizeof(*m));
}

/* A type name as a glob matching itself: fnmatch's *, ?, [ and \ escaped
 * ("char[]" would otherwise open a bracket expression). */
static void write_escaped_glob(FILE *out, const char *text)
{
	for (const char *p = text; *p; p++) {
		if (strchr("*?[\\", *p))
			fputc('\\', out);
		fputc(*p, out);
	}
}

static const char *kind_word(enum mp_leak_kind kind)
{
	switch (kind) {
	case MP_LEAK_DEFINITE: return "definite";
	case MP_LEAK_INDIRECT: return "indirect";
	case MP_LEAK_POSSIBLE: return "possible";
	default: return "reachable";
	}
}

void mp_suppressions_generate(FILE *out, const mp_leak_report *r, const char *program,
			      int pid)
{
	const char *base = strrchr(program, '/');
	base = base ? base + 1 : program;
	for (size_t i = 0; i < r->n_groups; i++) {
		const mp_leak_group *g = &r->groups[i];
		fprintf(out, "# pid %d: %" PRIu64 " blocks, %" PRIu64 " bytes\n", pid, g->count,
			g->bytes);
		fprintf(out, "name: %s-%s-%" PRIu64 "-%zu\n", base, kind_word(g->kind), g->size, i + 1);
		fprintf(out, "kind: %s\n", kind_word(g->kind));
		fputs("type: ", out);
		write_escaped_glob(out, g->type ? g->type : "unknown");
		fprintf(out, "\nsize: %" PRIu64 "\nprogram: ", g->size);
		write_escaped_glob(out, base);
		fputs("\n\n", out);
	}
}
