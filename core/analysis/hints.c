/* Hint files: parsing and storage (hints.h; the format is documented in
 * docs/logical.md, "Hints").  Every input is bounded (line length, file
 * size, tokens, arms, hints), so a hostile or truncated file gives an
 * error naming FILE:LINE and what was expected, never a crash. */
#include "hints.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "array.h"
#include "error.h"

enum {
	MAX_LINE = 4096,             /* bytes of one line */
	MAX_TOKENS = 300,            /* words of one line */
	MAX_ARMS = 256,              /* arms of one tagged union */
	MAX_HINTS = 100000,          /* hints in one set */
	MAX_FILE = 4 << 20,          /* bytes of one hint file */
	MAX_CONFIG_FILES = 256,      /* *.hints files taken from the config dir */
};

typedef struct hint_entry {
	mp_hint pub;
	mp_hint_arm *arms;           /* owned; pub.arms points here */
} hint_entry;

struct mp_hints {
	hint_entry *hints;
	size_t n_hints, hints_cap;
	char **strings;              /* owned copies the hints point into */
	size_t n_strings, strings_cap;
	const char **sources;        /* interned */
	size_t n_sources, sources_cap;
};

/* ------------------------------------------------------------ storage */

static const char *keep(mp_hints *h, const char *s, size_t n)
{
	if (!MP_ARRAY_RESERVE(h->strings, h->strings_cap, h->n_strings + 1))
		return NULL;
	char *copy = malloc(n + 1);
	if (!copy)
		return NULL;
	memcpy(copy, s, n);
	copy[n] = '\0';
	h->strings[h->n_strings++] = copy;
	return copy;
}

static const char *keep_string(mp_hints *h, const char *s)
{
	return keep(h, s, strlen(s));
}

mp_error *mp_hints_new(mp_hints **out)
{
	*out = calloc(1, sizeof(**out));
	return *out ? NULL : mp_error_nomem();
}

void mp_hints_free(mp_hints *h)
{
	if (!h)
		return;
	for (size_t i = 0; i < h->n_hints; i++)
		free(h->hints[i].arms);
	free(h->hints);
	for (size_t i = 0; i < h->n_strings; i++)
		free(h->strings[i]);
	free(h->strings);
	free(h->sources);
	free(h);
}

size_t mp_hints_count(const mp_hints *h)
{
	return h ? h->n_hints : 0;
}

const mp_hint *mp_hints_hint_at(const mp_hints *h, size_t index)
{
	return h && index < h->n_hints ? &h->hints[index].pub : NULL;
}

size_t mp_hints_source_count(const mp_hints *h)
{
	return h ? h->n_sources : 0;
}

const char *mp_hints_source_at(const mp_hints *h, size_t index)
{
	return h && index < h->n_sources ? h->sources[index] : NULL;
}

void mp_hints_type_key(const char *name, char *out, size_t size)
{
	static const char *const tags[] = {"struct ", "union ", "class ", "enum "};
	size_t n = 0;
	if (!size)
		return;
	while (*name == ' ' || *name == '\t')
		name++;
	for (size_t i = 0; i < sizeof(tags) / sizeof(tags[0]); i++) {
		size_t length = strlen(tags[i]);
		if (strncmp(name, tags[i], length) == 0) {
			name += length;
			break;
		}
	}
	/* One space only between two identifier characters (`unsigned int`),
	 * none around punctuation (`ns::T<int>`, `T<int >`). */
	bool space = false;
	for (const char *p = name; *p && n + 1 < size; p++) {
		char c = *p;
		if (c == ' ' || c == '\t') {
			space = n > 0;
			continue;
		}
		bool ident = c == '_' || (c >= '0' && c <= '9') || ((c | 32) >= 'a' && (c | 32) <= 'z');
		char before = n ? out[n - 1] : 0;
		bool ident_before = before == '_' || (before >= '0' && before <= '9') ||
				    ((before | 32) >= 'a' && (before | 32) <= 'z');
		if (space && ident && ident_before && n + 2 < size)
			out[n++] = ' ';
		space = false;
		out[n++] = c;
	}
	out[n] = '\0';
}

bool mp_hints_has_type(const mp_hints *h, const char *key)
{
	for (size_t i = 0; h && i < h->n_hints; i++)
		if (strcmp(h->hints[i].pub.type, key) == 0)
			return true;
	return false;
}

const mp_hint *mp_hints_find(const mp_hints *h, const char *key, const char *member)
{
	if (!h || !member)
		return NULL;
	for (size_t i = 0; i < h->n_hints; i++)
		if (strcmp(h->hints[i].pub.type, key) == 0 &&
		    strcmp(h->hints[i].pub.member, member) == 0)
			return &h->hints[i].pub;
	return NULL;
}

/* The entry of (type, member), made empty on first use. */
static hint_entry *entry_for(mp_hints *h, const char *key, const char *member)
{
	for (size_t i = 0; i < h->n_hints; i++)
		if (strcmp(h->hints[i].pub.type, key) == 0 &&
		    strcmp(h->hints[i].pub.member, member) == 0)
			return &h->hints[i];
	if (h->n_hints >= MAX_HINTS ||
	    !MP_ARRAY_RESERVE(h->hints, h->hints_cap, h->n_hints + 1))
		return NULL;
	hint_entry *e = &h->hints[h->n_hints];
	memset(e, 0, sizeof(*e));
	e->pub.type = keep_string(h, key);
	e->pub.member = keep_string(h, member);
	if (!e->pub.type || !e->pub.member)
		return NULL;
	h->n_hints++;
	return e;
}

static bool add_source(mp_hints *h, const char *source)
{
	for (size_t i = 0; i < h->n_sources; i++)
		if (strcmp(h->sources[i], source) == 0)
			return true;
	const char *s = keep_string(h, source);
	if (!s || !MP_ARRAY_RESERVE(h->sources, h->sources_cap, h->n_sources + 1))
		return false;
	h->sources[h->n_sources++] = s;
	return true;
}

/* The union arms of src, copied into e (strings kept by h). */
static bool copy_arms(mp_hints *h, hint_entry *e, const mp_hint *src)
{
	if (!(e->pub.tag_field = keep_string(h, src->tag_field)))
		return false;
	mp_hint_arm *arms = calloc(src->n_arms ? src->n_arms : 1, sizeof(*arms));
	if (!arms)
		return false;
	for (size_t i = 0; i < src->n_arms; i++) {
		arms[i] = src->arms[i];
		if ((src->arms[i].value_name &&
		     !(arms[i].value_name = keep_string(h, src->arms[i].value_name))) ||
		    !(arms[i].member = keep_string(h, src->arms[i].member))) {
			free(arms);
			return false;
		}
	}
	free(e->arms);
	e->arms = arms;
	e->pub.arms = arms;
	e->pub.n_arms = src->n_arms;
	return true;
}

/* Copies hint from (another set's) src into e, strings kept by h. */
static bool copy_into(mp_hints *h, hint_entry *e, const mp_hint *src)
{
	mp_hint *d = &e->pub;
	d->flags |= src->flags;
#define KEEP(field) \
	do { \
		if (src->field && !(d->field = keep_string(h, src->field))) \
			return false; \
	} while (0)
	if (src->flags & MP_HINT_LENGTH) {
		d->length_field = NULL;
		KEEP(length_field);
		d->length_count = src->length_count;
	}
	if (src->flags & MP_HINT_CAPACITY) {
		d->capacity_field = NULL;
		KEEP(capacity_field);
		d->capacity_count = src->capacity_count;
	}
	if (src->flags & (MP_HINT_POINTS_TO | MP_HINT_LINK)) {
		d->link_member = NULL;
		KEEP(target_type);
		KEEP(link_member);
		d->link_offset = src->link_offset;
	}
	if ((src->flags & MP_HINT_UNION) && !copy_arms(h, e, src))
		return false;
	KEEP(where);
#undef KEEP
	return true;
}

mp_error *mp_hints_merge(mp_hints *dst, const mp_hints *src)
{
	if (!src)
		return NULL;
	for (size_t i = 0; i < src->n_sources; i++)
		if (!add_source(dst, src->sources[i]))
			return mp_error_nomem();
	for (size_t i = 0; i < src->n_hints; i++) {
		const mp_hint *s = &src->hints[i].pub;
		hint_entry *e = entry_for(dst, s->type, s->member);
		if (!e || !copy_into(dst, e, s))
			return e ? mp_error_nomem()
				 : mp_error_new(MP_ERR_NOMEM, "too many hints (at most %d)", MAX_HINTS);
	}
	return NULL;
}

/* ------------------------------------------------------------ parsing */

static bool is_identifier(const char *s)
{
	if (!*s || (*s >= '0' && *s <= '9'))
		return false;
	for (; *s; s++)
		if (!(*s == '_' || (*s >= '0' && *s <= '9') || ((*s | 32) >= 'a' && (*s | 32) <= 'z')))
			return false;
	return true;
}

static bool parse_u64(const char *s, uint64_t *out)
{
	if (!*s || *s == '-' || *s == '+')
		return false;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 0);
	if (errno || *end)
		return false;
	*out = v;
	return true;
}

static bool parse_i64(const char *s, int64_t *out)
{
	if (!*s)
		return false;
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 0);
	if (errno || *end)
		return false;
	*out = v;
	return true;
}

/* One line's state: where it is, for messages. */
typedef struct line_ctx {
	const char *source;
	unsigned line;
	char *key;                   /* the current [TYPE], normalised; "" none */
	size_t key_size;
} line_ctx;

static mp_error *line_error(const line_ctx *ctx, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static mp_error *line_error(const line_ctx *ctx, const char *fmt, ...)
{
	char text[600];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	return mp_error_new(MP_ERR_FORMAT, "%s:%u: %s", ctx->source, ctx->line, text);
}

/* A type name at words[*i]: one word ("ns::T<int,long>", "void"), or
 * two after a tag keyword ("struct item").  Members may be named like
 * hint keywords (`link`), so the type's extent is fixed, not searched. */
static bool take_type(char **words, size_t n, size_t *i, char *out, size_t size)
{
	static const char *const tags[] = {"struct", "union", "class", "enum"};
	if (*i >= n)
		return false;
	bool tag = false;
	for (size_t k = 0; k < sizeof(tags) / sizeof(tags[0]); k++)
		tag |= strcmp(words[*i], tags[k]) == 0;
	if (tag && *i + 1 >= n)
		return false;
	int length = tag ? snprintf(out, size, "%s %s", words[*i], words[*i + 1])
			 : snprintf(out, size, "%s", words[*i]);
	if (length < 0 || (size_t)length >= size)
		return false;
	*i += tag ? 2 : 1;
	return true;
}

/* Applies words (a member name, then keywords with their arguments) to
 * the hint of (ctx->key, words[0]). */
static mp_error *parse_member_line(mp_hints *h, const line_ctx *ctx, char **words, size_t n)
{
	if (!ctx->key[0])
		return line_error(ctx, "expected a [TYPE] line before member hints (e.g. "
				  "[struct registry])");
	if (!is_identifier(words[0]))
		return line_error(ctx, "expected a member name, not '%s'", words[0]);
	if (n < 2)
		return line_error(ctx, "expected a hint after '%s' (length, capacity, string, "
				  "borrowed, union, points-to or link)", words[0]);
	/* Parsed into a scratch hint first: a bad line changes nothing. */
	mp_hint s = {.type = ctx->key, .member = words[0]};
	mp_hint_arm arms[MAX_ARMS];
	char type_name[1024], where[600];
	snprintf(where, sizeof(where), "%s:%u", ctx->source, ctx->line);
	s.where = where;
	size_t i = 1;
	while (i < n) {
		const char *k = words[i++];
		if (strcmp(k, "length") == 0 || strcmp(k, "capacity") == 0) {
			bool length = k[0] == 'l';
			if (i >= n)
				return line_error(ctx, "expected a member name or a count after '%s'", k);
			const char *arg = words[i++];
			uint64_t count = 0;
			if (!parse_u64(arg, &count) && !is_identifier(arg))
				return line_error(ctx, "expected a member name or a count after '%s', "
						  "not '%s'", k, arg);
			const char *field = is_identifier(arg) ? arg : NULL;
			if (length) {
				s.flags |= MP_HINT_LENGTH;
				s.length_field = field;
				s.length_count = count;
			} else {
				s.flags |= MP_HINT_CAPACITY;
				s.capacity_field = field;
				s.capacity_count = count;
			}
		} else if (strcmp(k, "string") == 0) {
			s.flags |= MP_HINT_STRING;
		} else if (strcmp(k, "borrowed") == 0) {
			s.flags |= MP_HINT_BORROWED;
		} else if (strcmp(k, "union") == 0) {
			if (i >= n || !is_identifier(words[i]))
				return line_error(ctx, "expected the tag member's name after 'union'");
			s.tag_field = words[i++];
			s.flags |= MP_HINT_UNION;
			/* VALUE=MEMBER pairs up to the next word without '='. */
			while (i < n && strchr(words[i], '=')) {
				char *eq = strchr(words[i], '=');
				if (eq == words[i] || !is_identifier(eq + 1))
					return line_error(ctx, "expected VALUE=MEMBER after 'union %s', "
							  "not '%s'", s.tag_field, words[i]);
				if (s.n_arms == MAX_ARMS)
					return line_error(ctx, "more than %d union arms", MAX_ARMS);
				*eq = '\0';
				mp_hint_arm *a = &arms[s.n_arms++];
				a->value_name = NULL;
				a->value = 0;
				if (!parse_i64(words[i], &a->value)) {
					if (!is_identifier(words[i]))
						return line_error(ctx, "expected a number or an enumerator "
								  "before '=', not '%s'", words[i]);
					a->value_name = words[i];
				}
				a->member = eq + 1;
				i++;
			}
			if (!s.n_arms)
				return line_error(ctx, "expected VALUE=MEMBER pairs after 'union %s'",
						  s.tag_field);
			s.arms = arms;
		} else if (strcmp(k, "points-to") == 0) {
			if (!take_type(words, n, &i, type_name, sizeof(type_name)))
				return line_error(ctx, "expected a type name after 'points-to'");
			s.flags |= MP_HINT_POINTS_TO;
			s.target_type = type_name;
		} else if (strcmp(k, "link") == 0) {
			if (!take_type(words, n, &i, type_name, sizeof(type_name)) || i >= n)
				return line_error(ctx, "expected 'link TYPE MEMBER' or 'link TYPE "
						  "OFFSET' (the node's type and where the link is in it)");
			const char *last = words[i++];
			s.flags |= MP_HINT_LINK;
			s.target_type = type_name;
			if (parse_u64(last, &s.link_offset))
				s.link_member = NULL;
			else if (is_identifier(last))
				s.link_member = last;
			else
				return line_error(ctx, "expected the link's member name or byte offset "
						  "in %s, not '%s'", type_name, last);
		} else {
			return line_error(ctx, "unknown hint '%s' (expected length, capacity, string, "
					  "borrowed, union, points-to or link)", k);
		}
	}
	if ((s.flags & MP_HINT_POINTS_TO) && (s.flags & MP_HINT_LINK))
		return line_error(ctx, "'points-to' and 'link' exclude each other");
	hint_entry *e = entry_for(h, ctx->key, words[0]);
	if (!e)
		return h->n_hints >= MAX_HINTS ? line_error(ctx, "too many hints (at most %d)", MAX_HINTS)
					       : mp_error_nomem();
	return copy_into(h, e, &s) ? NULL : mp_error_nomem();
}

/* Splits line into words in place (at most MAX_TOKENS); '#' ends it. */
static size_t split_words(char *line, char **words, bool *too_many)
{
	size_t n = 0;
	*too_many = false;
	char *p = line;
	for (;;) {
		while (*p == ' ' || *p == '\t' || *p == '\r')
			p++;
		if (!*p || *p == '#')
			break;
		if (n == MAX_TOKENS) {
			*too_many = true;
			break;
		}
		words[n++] = p;
		while (*p && *p != ' ' && *p != '\t' && *p != '\r' && *p != '#')
			p++;
		if (*p == '#') {
			*p = '\0';
			break;
		}
		if (*p)
			*p++ = '\0';
	}
	return n;
}

/* One line: "[TYPE]", "[TYPE] MEMBER HINT...", "MEMBER HINT..." or blank. */
static mp_error *parse_line(mp_hints *h, line_ctx *ctx, char *line)
{
	char *p = line;
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p == '[') {
		char *close = strchr(p, ']');
		char *hash = strchr(p, '#');
		if (!close || (hash && hash < close))
			return line_error(ctx, "expected ']' closing the type name");
		*close = '\0';
		mp_hints_type_key(p + 1, ctx->key, ctx->key_size);
		if (!ctx->key[0])
			return line_error(ctx, "expected a type name between '[' and ']'");
		p = close + 1;
	}
	char *words[MAX_TOKENS];
	bool too_many;
	size_t n = split_words(p, words, &too_many);
	if (too_many)
		return line_error(ctx, "more than %d words on one line", MAX_TOKENS);
	return n ? parse_member_line(h, ctx, words, n) : NULL;
}

/* Parses text (length bytes) into a scratch set, then merges it: a text
 * with any error adds nothing. */
static mp_error *add_text(mp_hints *h, const char *text, size_t length, const char *source)
{
	mp_hints *scratch;
	mp_error *err = mp_hints_new(&scratch);
	if (err)
		return err;
	char key[1024] = "";
	line_ctx ctx = {.source = source, .line = 0, .key = key, .key_size = sizeof(key)};
	char line[MAX_LINE + 1];
	size_t at = 0;
	while (at < length && !err) {
		ctx.line++;
		const char *end = memchr(text + at, '\n', length - at);
		size_t n = end ? (size_t)(end - (text + at)) : length - at;
		if (n > MAX_LINE) {
			err = line_error(&ctx, "line longer than %d bytes", MAX_LINE);
			break;
		}
		if (memchr(text + at, '\0', n)) {
			err = line_error(&ctx, "expected text, found a NUL byte");
			break;
		}
		memcpy(line, text + at, n);
		line[n] = '\0';
		err = parse_line(scratch, &ctx, line);
		at += n + 1;
	}
	if (!err && !add_source(scratch, source))
		err = mp_error_nomem();
	if (!err)
		err = mp_hints_merge(h, scratch);
	mp_hints_free(scratch);
	return err;
}

mp_error *mp_hints_add_text(mp_hints *h, const char *text, const char *source)
{
	if (!h || !text)
		return mp_error_new(MP_ERR_USAGE, "mp_hints_add_text: no hints or no text");
	return add_text(h, text, strlen(text), source && *source ? source : "hint");
}

mp_error *mp_hints_add_file(mp_hints *h, const char *path)
{
	if (!h || !path)
		return mp_error_new(MP_ERR_USAGE, "mp_hints_add_file: no hints or no path");
	FILE *f = fopen(path, "rb");
	if (!f)
		return mp_error_with_path(mp_error_errno(errno, "hints file %s", path), path);
	struct stat st;
	bool stat_ok = fstat(fileno(f), &st) == 0;
	if (stat_ok && S_ISDIR(st.st_mode)) {
		fclose(f);
		return mp_error_with_path(mp_error_new(MP_ERR_IO, "hints file %s is a directory",
						       path), path);
	}
	/* Room for what the file holds (pipes and /proc files say 0: the
	 * largest file allowed), one byte more to see it is too large. */
	size_t room = stat_ok && st.st_size > 0 && st.st_size < MAX_FILE ? (size_t)st.st_size + 1
									: MAX_FILE + 1;
	char *buffer = malloc(room);
	if (!buffer) {
		fclose(f);
		return mp_error_nomem();
	}
	size_t n = 0;
	for (size_t got = 1; got && n < room;)
		n += got = fread(buffer + n, 1, room - n, f);
	bool failed = ferror(f);
	fclose(f);
	mp_error *err = NULL;
	if (failed)
		err = mp_error_new(MP_ERR_IO, "cannot read hints file %s", path);
	else if (n == room && room <= MAX_FILE)
		err = mp_error_new(MP_ERR_IO, "hints file %s changed while it was read", path);
	else if (n > MAX_FILE)
		err = mp_error_new(MP_ERR_FORMAT, "hints file %s is larger than %d bytes", path,
				   MAX_FILE);
	else
		err = add_text(h, buffer, n, path);
	free(buffer);
	return err ? mp_error_with_path(err, path) : NULL;
}

static int compare_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every DIR/ *.hints in name order (bounded). */
static mp_error *load_directory(mp_hints *h, const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return NULL;   /* no config directory: nothing to load */
	char *names[MAX_CONFIG_FILES];
	size_t n = 0;
	struct dirent *entry;
	while (n < MAX_CONFIG_FILES && (entry = readdir(d))) {
		size_t length = strlen(entry->d_name);
		if (length <= 6 || entry->d_name[0] == '.' ||
		    strcmp(entry->d_name + length - 6, ".hints") != 0)
			continue;
		if (!(names[n] = strdup(entry->d_name)))
			break;
		n++;
	}
	closedir(d);
	qsort(names, n, sizeof(*names), compare_names);
	mp_error *err = NULL;
	for (size_t i = 0; i < n; i++) {
		char path[4096];
		if (!err && (size_t)snprintf(path, sizeof(path), "%s/%s", dir, names[i]) < sizeof(path))
			err = mp_hints_add_file(h, path);
		free(names[i]);
	}
	return err;
}

mp_error *mp_hints_load_default(mp_hints *h, const char *exe_path)
{
	char path[4096];
	struct stat st;
	if (exe_path && *exe_path &&
	    (size_t)snprintf(path, sizeof(path), "%s.memprof-hints", exe_path) < sizeof(path) &&
	    stat(path, &st) == 0) {
		mp_error *err = mp_hints_add_file(h, path);
		if (err)
			return err;
	}
	const char *config = getenv("XDG_CONFIG_HOME");
	const char *home = getenv("HOME");
	int n;
	if (config && config[0] == '/')
		n = snprintf(path, sizeof(path), "%s/memprof/hints", config);
	else if (home && *home)
		n = snprintf(path, sizeof(path), "%s/.config/memprof/hints", home);
	else
		return NULL;
	if (n < 0 || (size_t)n >= sizeof(path))
		return NULL;
	return load_directory(h, path);
}
