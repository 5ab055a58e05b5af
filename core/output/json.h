/* A streaming JSON writer shared by every verb: commas, nesting and string
 * escaping in one place, so no verb hand-writes JSON. */
#ifndef MEMPROF_CORE_OUTPUT_JSON_H
#define MEMPROF_CORE_OUTPUT_JSON_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

enum { MP_JSON_MAX_DEPTH = 64 };

typedef struct mp_json {
	FILE *out;
	int depth;
	bool first[MP_JSON_MAX_DEPTH];  /* no element written yet at this level */
	bool after_key;
	bool pretty;
} mp_json;

void mp_json_init(mp_json *j, FILE *out, bool pretty);
void mp_json_begin_object(mp_json *j);
void mp_json_end_object(mp_json *j);
void mp_json_begin_array(mp_json *j);
void mp_json_end_array(mp_json *j);
void mp_json_key(mp_json *j, const char *key);
void mp_json_string(mp_json *j, const char *value);
void mp_json_string_n(mp_json *j, const char *value, size_t length);
void mp_json_uint(mp_json *j, uint64_t value);
void mp_json_int(mp_json *j, int64_t value);
/* Rates and durations; non-finite values are written as null. */
void mp_json_double(mp_json *j, double value);
void mp_json_bool(mp_json *j, bool value);
void mp_json_null(mp_json *j);
/* Addresses and register values: "0x..." strings, because 64-bit values do
 * not survive JSON parsers that use doubles. */
void mp_json_hex(mp_json *j, uint64_t value);
/* Ends the document with a newline. */
void mp_json_finish(mp_json *j);

#endif
