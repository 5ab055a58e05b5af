/* Two folded profiles side by side (see folded_diff.h).  Stacks are keyed
 * by their whole text; the same stack in one file twice adds up, as
 * flamegraph.pl does. */
#include "folded_diff.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "array.h"
#include "error.h"

void mp_folded_diff_init(mp_folded_diff *d)
{
	memset(d, 0, sizeof(*d));
}

static uint64_t hash_text(const char *s, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < n; i++)
		h = (h ^ (uint8_t)s[i]) * 0x100000001b3ull;
	return h;
}

static bool grow_table(mp_folded_diff *d)
{
	size_t capacity = d->by_stack_capacity ? 2 * d->by_stack_capacity : 1024;
	size_t *table = calloc(capacity, sizeof(*table));
	if (!table)
		return false;
	for (size_t i = 0; i < d->n_rows; i++) {
		const char *s = d->rows[i].stack;
		size_t j = hash_text(s, strlen(s)) & (capacity - 1);
		while (table[j])
			j = (j + 1) & (capacity - 1);
		table[j] = i + 1;
	}
	free(d->by_stack);
	d->by_stack = table;
	d->by_stack_capacity = capacity;
	return true;
}

static mp_folded_row *row_of(mp_folded_diff *d, const char *stack, size_t length)
{
	if (2 * (d->n_rows + 1) > d->by_stack_capacity && !grow_table(d))
		return NULL;
	size_t mask = d->by_stack_capacity - 1;
	size_t j = hash_text(stack, length) & mask;
	for (; d->by_stack[j]; j = (j + 1) & mask) {
		mp_folded_row *r = &d->rows[d->by_stack[j] - 1];
		if (strlen(r->stack) == length && memcmp(r->stack, stack, length) == 0)
			return r;
	}
	char *copy = strndup(stack, length);
	if (!copy || !MP_ARRAY_RESERVE(d->rows, d->rows_capacity, d->n_rows + 1)) {
		free(copy);
		return NULL;
	}
	d->rows[d->n_rows] = (mp_folded_row){copy, 0, 0};
	d->by_stack[j] = ++d->n_rows;
	return &d->rows[d->n_rows - 1];
}

mp_error *mp_folded_diff_add(mp_folded_diff *d, const char *key, size_t length,
			     uint64_t count, bool after)
{
	mp_folded_row *r = row_of(d, key, length);
	if (!r)
		return mp_error_nomem();
	if (after) {
		r->after += count;
		d->total_after += count;
	} else {
		r->before += count;
		d->total_before += count;
	}
	return NULL;
}

mp_error *mp_folded_diff_read(mp_folded_diff *d, const char *path, bool after)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return mp_error_errno(errno, "cannot open %s", path);
	char *line = NULL;
	size_t capacity = 0, number = 0;
	ssize_t length;
	mp_error *err = NULL;
	while (!err && (length = getline(&line, &capacity, f)) >= 0) {
		number++;
		while (length > 0 && (line[length - 1] == '\n' || line[length - 1] == '\r'))
			line[--length] = '\0';
		if (length == 0)
			continue;
		char *space = strrchr(line, ' ');
		char *end = NULL;
		errno = 0;
		unsigned long long count = space && isdigit((unsigned char)space[1])
					   ? strtoull(space + 1, &end, 10) : 0;
		if (!space || space == line || !end || *end || errno) {
			err = mp_error_new(MP_ERR_FORMAT,
					   "%s:%zu is not a folded stack line (\"frame;frame;leaf COUNT\")",
					   path, number);
			break;
		}
		err = mp_folded_diff_add(d, line, (size_t)(space - line), count, after);
	}
	if (!err && ferror(f))
		err = mp_error_errno(errno ? errno : EIO, "cannot read %s", path);
	free(line);
	fclose(f);
	return err;
}

static int by_stack(const void *x, const void *y)
{
	return strcmp(((const mp_folded_row *)x)->stack, ((const mp_folded_row *)y)->stack);
}

static int by_growth(const void *x, const void *y)
{
	const mp_folded_row *a = x, *b = y;
	int64_t ga = (int64_t)(a->after - a->before), gb = (int64_t)(b->after - b->before);
	if (ga != gb)
		return ga > gb ? -1 : 1;
	return strcmp(a->stack, b->stack);
}

/* Sorting moves rows: the index by stack no longer applies. */
static void drop_index(mp_folded_diff *d)
{
	free(d->by_stack);
	d->by_stack = NULL;
	d->by_stack_capacity = 0;
}

void mp_folded_diff_sort_by_stack(mp_folded_diff *d)
{
	drop_index(d);
	if (d->n_rows > 1)
		qsort(d->rows, d->n_rows, sizeof(*d->rows), by_stack);
}

void mp_folded_diff_sort_by_growth(mp_folded_diff *d)
{
	drop_index(d);
	if (d->n_rows > 1)
		qsort(d->rows, d->n_rows, sizeof(*d->rows), by_growth);
}

void mp_folded_diff_free(mp_folded_diff *d)
{
	for (size_t i = 0; i < d->n_rows; i++)
		free(d->rows[i].stack);
	free(d->rows);
	free(d->by_stack);
	memset(d, 0, sizeof(*d));
}
