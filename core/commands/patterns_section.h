/* The snapshot sections that let `patterns` and `recommend` run on a saved
 * snapshot: `snapshot save` asks commands/patterns.c for it. */
#ifndef MEMPROF_CORE_COMMANDS_PATTERNS_SECTION_H
#define MEMPROF_CORE_COMMANDS_PATTERNS_SECTION_H

#include "command.h"
#include "heap/heap_internal.h"

enum { MP_SNAPSHOT_SECTIONS = 2 };

/* Runs the leak check and gathers the patterns' input on the command's
 * target for heap: the patterns section and the blocks section `diff`
 * reads (analysis/snapshot_blocks.h); each out[i].data is the caller's to
 * free. */
mp_error *mp_patterns_snapshot_sections(mp_command *command, const mp_heap *heap,
					heap_section out[MP_SNAPSHOT_SECTIONS]);

#endif
