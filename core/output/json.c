#include "json.h"

#include <inttypes.h>
#include <string.h>

void mp_json_init(mp_json *j, FILE *out, bool pretty)
{
	memset(j, 0, sizeof(*j));
	j->out = out;
	j->pretty = pretty;
	j->first[0] = true;
}

static void newline_indent(mp_json *j)
{
	if (!j->pretty)
		return;
	fputc('\n', j->out);
	for (int i = 0; i < j->depth; i++)
		fputs("  ", j->out);
}

/* Separator and indentation before a value or key at the current level. */
static void before_item(mp_json *j)
{
	if (j->after_key) {
		j->after_key = false;
		return;
	}
	if (!j->first[j->depth])
		fputc(',', j->out);
	j->first[j->depth] = false;
	if (j->depth > 0)
		newline_indent(j);
}

static void open_level(mp_json *j, char c)
{
	before_item(j);
	fputc(c, j->out);
	/* Deeper levels than the bound are written flat but stay valid. */
	if (j->depth + 1 < MP_JSON_MAX_DEPTH)
		j->depth++;
	j->first[j->depth] = true;
}

static void close_level(mp_json *j, char c)
{
	bool empty = j->first[j->depth];
	if (j->depth > 0)
		j->depth--;
	if (!empty)
		newline_indent(j);
	fputc(c, j->out);
}

void mp_json_begin_object(mp_json *j) { open_level(j, '{'); }
void mp_json_end_object(mp_json *j) { close_level(j, '}'); }
void mp_json_begin_array(mp_json *j) { open_level(j, '['); }
void mp_json_end_array(mp_json *j) { close_level(j, ']'); }

static void write_escaped(FILE *out, const char *s, size_t length)
{
	fputc('"', out);
	for (size_t i = 0; i < length; i++) {
		unsigned char c = (unsigned char)s[i];
		switch (c) {
		case '"': fputs("\\\"", out); break;
		case '\\': fputs("\\\\", out); break;
		case '\n': fputs("\\n", out); break;
		case '\r': fputs("\\r", out); break;
		case '\t': fputs("\\t", out); break;
		default:
			/* Bytes from the target are not always UTF-8: control
			 * bytes and bytes >= 0x80 that do not start valid UTF-8
			 * are escaped as code points so the document stays
			 * valid. */
			if (c < 0x20 || c == 0x7f) {
				fprintf(out, "\\u%04x", c);
			} else if (c < 0x80) {
				fputc(c, out);
			} else {
				size_t n = c >= 0xf0 && c < 0xf5 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 && c < 0xe0 ? 2 : 0;
				bool valid = n > 0 && i + n <= length;
				for (size_t k = 1; valid && k < n; k++)
					valid = ((unsigned char)s[i + k] & 0xc0) == 0x80;
				if (valid) {
					fwrite(s + i, 1, n, out);
					i += n - 1;
				} else {
					fprintf(out, "\\u%04x", c);
				}
			}
		}
	}
	fputc('"', out);
}

void mp_json_key(mp_json *j, const char *key)
{
	before_item(j);
	write_escaped(j->out, key, strlen(key));
	fputs(j->pretty ? ": " : ":", j->out);
	j->after_key = true;
}

void mp_json_string_n(mp_json *j, const char *value, size_t length)
{
	before_item(j);
	write_escaped(j->out, value, length);
}

void mp_json_string(mp_json *j, const char *value)
{
	if (!value) {
		mp_json_null(j);
		return;
	}
	mp_json_string_n(j, value, strlen(value));
}

void mp_json_uint(mp_json *j, uint64_t value)
{
	before_item(j);
	fprintf(j->out, "%" PRIu64, value);
}

void mp_json_double(mp_json *j, double value)
{
	before_item(j);
	/* JSON has no NaN or infinity: null says "no value". */
	if (value != value || value > 1.7e308 || value < -1.7e308)
		fprintf(j->out, "null");
	else
		fprintf(j->out, "%.15g", value);
}

void mp_json_int(mp_json *j, int64_t value)
{
	before_item(j);
	fprintf(j->out, "%" PRId64, value);
}

void mp_json_bool(mp_json *j, bool value)
{
	before_item(j);
	fputs(value ? "true" : "false", j->out);
}

void mp_json_null(mp_json *j)
{
	before_item(j);
	fputs("null", j->out);
}

void mp_json_hex(mp_json *j, uint64_t value)
{
	before_item(j);
	fprintf(j->out, "\"0x%" PRIx64 "\"", value);
}

void mp_json_finish(mp_json *j)
{
	fputc('\n', j->out);
}
