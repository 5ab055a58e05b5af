/* The snapshot section that lets `patterns` and `recommend` run on a saved
 * snapshot: `snapshot save` asks commands/patterns.c for it. */
#ifndef MEMPROF_CORE_COMMANDS_PATTERNS_SECTION_H
#define MEMPROF_CORE_COMMANDS_PATTERNS_SECTION_H

#include "command.h"
#include "heap/heap_internal.h"

/* Runs the leak check and gathers the patterns' input on the command's
 * target for heap; out->data is the caller's to free. */
mp_error *mp_patterns_snapshot_section(mp_command *command, const mp_heap *heap,
				       heap_section *out);

#endif
