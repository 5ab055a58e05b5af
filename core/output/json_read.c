/* Reading a JSON document's numbers (see json_read.h).  An explicit stack
 * of open containers replaces recursion.  Numbers inside an object that is
 * an array element wait in a list until the element closes, when its
 * identifying members are known and name it. */
#include "json_read.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "array.h"
#include "error.h"

/* Members that say which element an object is. */
static const char *const identity_keys[] = {"kind", "type", "name", "size", "min", "max",
					    "address", "pid", "command", NULL};

typedef struct text {
	char *data;
	size_t length, capacity;
} text;

static bool append(text *t, const char *s, size_t n)
{
	if (!MP_ARRAY_RESERVE(t->data, t->capacity, t->length + n + 1))
		return false;
	memcpy(t->data + t->length, s, n);
	t->length += n;
	t->data[t->length] = '\0';
	return true;
}

typedef struct pending {
	char *path, *key;
	double value;
} pending;

typedef struct frame {
	bool array;
	size_t index;              /* arrays: elements so far */
	size_t base;               /* path length when opened */
	bool element;              /* an object in an array: named at its end */
	char *outer;               /* elements: the path outside, "groups" */
	size_t first_pending;      /* elements: its numbers from here */
	text identity;             /* elements: "kind=...,size=..." */
} frame;

typedef struct reader {
	const char *s;
	size_t n, pos;
	text path;
	text key;                  /* the member name being read */
	frame *frames;
	size_t depth, capacity;
	pending *pending;
	size_t n_pending, pending_capacity;
	mp_json_number_fn fn;
	void *context;
} reader;

static void skip_space(reader *r)
{
	while (r->pos < r->n && (r->s[r->pos] == ' ' || r->s[r->pos] == '\n' ||
				 r->s[r->pos] == '\t' || r->s[r->pos] == '\r'))
		r->pos++;
}

static mp_error *syntax(const reader *r, const char *what)
{
	return mp_error_new(MP_ERR_FORMAT, "JSON syntax error at byte %zu: %s", r->pos, what);
}

/* A string's contents, escapes kept as written except \" and \\ (names
 * and identities only need to compare equal). */
static mp_error *read_string(reader *r, text *out)
{
	out->length = 0;
	if (!append(out, "", 0))
		return mp_error_nomem();
	r->pos++;
	while (r->pos < r->n && r->s[r->pos] != '"') {
		char c = r->s[r->pos];
		if (c == '\\' && r->pos + 1 < r->n) {
			r->pos++;
			c = r->s[r->pos];
			if (c != '"' && c != '\\' && !append(out, "\\", 1))
				return mp_error_nomem();
		}
		if (!append(out, &c, 1))
			return mp_error_nomem();
		r->pos++;
	}
	if (r->pos >= r->n)
		return syntax(r, "unterminated string");
	r->pos++;
	return NULL;
}

static bool is_identity(const char *key)
{
	for (size_t i = 0; identity_keys[i]; i++)
		if (strcmp(key, identity_keys[i]) == 0)
			return true;
	return false;
}

/* The innermost element frame, or NULL. */
static frame *element_of(reader *r)
{
	for (size_t i = r->depth; i > 0; i--)
		if (r->frames[i - 1].element)
			return &r->frames[i - 1];
	return NULL;
}

static mp_error *number(reader *r, const char *key, double value)
{
	if (!element_of(r))
		return r->fn(r->context, r->path.data, key, value);
	if (!MP_ARRAY_RESERVE(r->pending, r->pending_capacity, r->n_pending + 1))
		return mp_error_nomem();
	pending *p = &r->pending[r->n_pending];
	p->path = strdup(r->path.data);
	p->key = strdup(key);
	p->value = value;
	if (!p->path || !p->key) {
		free(p->path);
		free(p->key);
		return mp_error_nomem();
	}
	r->n_pending++;
	return NULL;
}

/* A scalar inside the innermost container: an identity when an element's
 * member names one, a number reported. */
static mp_error *scalar(reader *r, const char *value, size_t length, bool is_number)
{
	frame *f = r->depth ? &r->frames[r->depth - 1] : NULL;
	const char *key = f && !f->array ? r->key.data : "";
	if (f && f->element && !f->array && is_identity(key)) {
		if ((f->identity.length && !append(&f->identity, ",", 1)) ||
		    !append(&f->identity, key, strlen(key)) || !append(&f->identity, "=", 1) ||
		    !append(&f->identity, value, length))
			return mp_error_nomem();
		return NULL;
	}
	if (!is_number)
		return NULL;
	char buffer[64];
	snprintf(buffer, sizeof(buffer), "%.*s", (int)(length < 63 ? length : 63), value);
	return number(r, key, strtod(buffer, NULL));
}

/* Sets the path for the value about to be read in the innermost container. */
static mp_error *enter_value(reader *r)
{
	if (!r->depth)
		return NULL;
	frame *f = &r->frames[r->depth - 1];
	r->path.length = f->base;
	if (r->path.data)
		r->path.data[r->path.length] = '\0';
	if (f->array) {
		char index[32];
		snprintf(index, sizeof(index), "[%zu]", f->index++);
		return append(&r->path, index, strlen(index)) ? NULL : mp_error_nomem();
	}
	if ((r->path.length && !append(&r->path, ".", 1)) ||
	    !append(&r->path, r->key.data, r->key.length))
		return mp_error_nomem();
	return NULL;
}

static mp_error *open_container(reader *r, bool array)
{
	if (!MP_ARRAY_RESERVE(r->frames, r->capacity, r->depth + 1))
		return mp_error_nomem();
	bool element = !array && r->depth && r->frames[r->depth - 1].array;
	frame *f = &r->frames[r->depth];
	memset(f, 0, sizeof(*f));
	f->array = array;
	if (element) {
		/* The path outside, without "[i]": the element's numbers are
		 * named relative to it until it closes. */
		frame *parent = &r->frames[r->depth - 1];
		f->element = true;
		f->outer = strndup(r->path.data ? r->path.data : "", parent->base);
		if (!f->outer)
			return mp_error_nomem();
		f->first_pending = r->n_pending;
		r->path.length = 0;
		if (r->path.data)
			r->path.data[0] = '\0';
		if (!append(&f->identity, "", 0))
			return mp_error_nomem();
		f->index = parent->index - 1;   /* kept for the name when no identity */
	}
	f->base = r->path.length;
	r->depth++;
	r->pos++;
	return NULL;
}

static mp_error *close_container(reader *r)
{
	frame *f = &r->frames[--r->depth];
	mp_error *err = NULL;
	if (f->element) {
		char index[32];
		snprintf(index, sizeof(index), "%zu", f->index);
		const char *id = f->identity.length ? f->identity.data : index;
		text name = {0};
		/* Restore the outer path, then name each waiting number. */
		r->path.length = 0;
		if (!append(&r->path, f->outer, strlen(f->outer)))
			err = mp_error_nomem();
		size_t last = r->n_pending;
		for (size_t i = f->first_pending; !err && i < last; i++) {
			pending *p = &r->pending[i];
			name.length = 0;
			if (!append(&name, f->outer, strlen(f->outer)) || !append(&name, "[", 1) ||
			    !append(&name, id, strlen(id)) || !append(&name, "]", 1) ||
			    (p->path[0] && !append(&name, ".", 1)) ||
			    !append(&name, p->path, strlen(p->path))) {
				err = mp_error_nomem();
				break;
			}
			free(p->path);
			p->path = strdup(name.data);
			if (!p->path)
				err = mp_error_nomem();
		}
		free(name.data);
		/* An element inside another waits for that one; else report. */
		if (!err && !element_of(r)) {
			for (size_t i = f->first_pending; !err && i < last; i++)
				err = r->fn(r->context, r->pending[i].path, r->pending[i].key,
					    r->pending[i].value);
			for (size_t i = f->first_pending; i < last; i++) {
				free(r->pending[i].path);
				free(r->pending[i].key);
			}
			r->n_pending = f->first_pending;
		}
		free(f->outer);
		free(f->identity.data);
	}
	r->pos++;
	return err;
}

mp_error *mp_json_read_numbers(const char *s, size_t n, mp_json_number_fn fn, void *context)
{
	reader r = {.s = s, .n = n, .fn = fn, .context = context};
	mp_error *err = NULL;
	bool expect_value = true, seen = false;
	if (!append(&r.path, "", 0) || !append(&r.key, "", 0))
		err = mp_error_nomem();
	while (!err) {
		skip_space(&r);
		if (r.pos >= n) {
			if (r.depth || !seen)
				err = syntax(&r, "unexpected end");
			break;
		}
		char c = s[r.pos];
		frame *f = r.depth ? &r.frames[r.depth - 1] : NULL;
		if (!expect_value) {
			if (c == ',' && f) {
				r.pos++;
				expect_value = true;
				if (!f->array) {
					skip_space(&r);
					if (r.pos >= n || s[r.pos] != '"') {
						err = syntax(&r, "a member name expected");
						break;
					}
					err = read_string(&r, &r.key);
					skip_space(&r);
					if (!err && (r.pos >= n || s[r.pos] != ':'))
						err = syntax(&r, "':' expected");
					r.pos++;
				}
			} else if ((c == '}' && f && !f->array) || (c == ']' && f && f->array)) {
				err = close_container(&r);
			} else if (!f) {
				err = syntax(&r, "bytes after the document");
			} else {
				err = syntax(&r, "',' or the end of a container expected");
			}
			continue;
		}
		if (c == ']' && f && f->array && f->index == 0) {
			err = close_container(&r);
			expect_value = false;
			continue;
		}
		if (r.depth == 0 && seen) {
			err = syntax(&r, "bytes after the document");
			break;
		}
		seen = true;
		err = enter_value(&r);
		if (err)
			break;
		if (c == '{' || c == '[') {
			err = open_container(&r, c == '[');
			if (!err && c == '{') {
				skip_space(&r);
				if (r.pos < n && s[r.pos] == '}') {
					err = close_container(&r);
					expect_value = false;
					continue;
				}
				if (r.pos >= n || s[r.pos] != '"') {
					err = syntax(&r, "a member name expected");
					break;
				}
				err = read_string(&r, &r.key);
				skip_space(&r);
				if (!err && (r.pos >= n || s[r.pos] != ':'))
					err = syntax(&r, "':' expected");
				r.pos++;
			}
			continue;
		}
		expect_value = false;
		if (c == '"') {
			text value = {0};
			err = read_string(&r, &value);
			if (!err)
				err = scalar(&r, value.data, value.length, false);
			free(value.data);
		} else {
			size_t start = r.pos;
			while (r.pos < n && strchr("+-0123456789.eE", s[r.pos]))
				r.pos++;
			if (r.pos > start) {
				err = scalar(&r, s + start, r.pos - start, true);
			} else if (n - r.pos >= 4 && (memcmp(s + r.pos, "true", 4) == 0 ||
						      memcmp(s + r.pos, "null", 4) == 0)) {
				r.pos += 4;
			} else if (n - r.pos >= 5 && memcmp(s + r.pos, "false", 5) == 0) {
				r.pos += 5;
			} else {
				err = syntax(&r, "a value expected");
			}
		}
	}
	for (size_t i = 0; i < r.n_pending; i++) {
		free(r.pending[i].path);
		free(r.pending[i].key);
	}
	free(r.pending);
	for (size_t i = 0; i < r.depth; i++) {
		free(r.frames[i].outer);
		free(r.frames[i].identity.data);
	}
	free(r.frames);
	free(r.path.data);
	free(r.key.data);
	return err;
}
