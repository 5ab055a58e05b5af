/* A verb's --format as the result writers name it (output/result.h): the
 * one place a command's format bit meets the result's formats. */
#ifndef MEMPROF_CORE_COMMANDS_COMMAND_RESULT_H
#define MEMPROF_CORE_COMMANDS_COMMAND_RESULT_H

#include "command.h"
#include "output/result.h"

static inline enum mp_result_format mp_command_result_format(const mp_command *c)
{
	switch (c->options->format) {
	case MP_FORMAT_JSON: return MP_RESULT_JSON;
	case MP_FORMAT_CSV: return MP_RESULT_CSV;
	case MP_FORMAT_PROMETHEUS: return MP_RESULT_PROMETHEUS;
	default: return MP_RESULT_TEXT;
	}
}

/* The allocator's "allocator" object {name, version, module, readable}
 * under parent (docs/json.md): every verb's result names it so. */
void mp_command_allocator_result(mp_result *r, mp_rnode parent, const mp_allocator *allocator);

#endif
