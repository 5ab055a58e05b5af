/* The snapshot sections that let `patterns` and `recommend` run on a saved
 * snapshot: `snapshot save` asks commands/patterns.c for it. */
#ifndef MEMPROF_CORE_COMMANDS_PATTERNS_SECTION_H
#define MEMPROF_CORE_COMMANDS_PATTERNS_SECTION_H

#include "command.h"
#include "heap/heap_internal.h"

enum { MP_SNAPSHOT_SECTIONS = 3 };

/* Runs the leak check and gathers the patterns' input on the command's
 * target for heap: the patterns section, and the blocks section and owner
 * paths `diff` reads (analysis/snapshot_blocks.h, owner_paths.h); each
 * out[i].data is the caller's to free. */
mp_error *mp_patterns_snapshot_sections(mp_command *command, const mp_heap *heap,
					heap_section out[MP_SNAPSHOT_SECTIONS]);

/* One finding's common members (kind, subject, blocks, bytes, savings,
 * impact, evidence, examples) into an object of a result: `patterns`'
 * findings and `diff`'s growth findings. */
struct mp_finding;
struct mp_result;
void mp_finding_result(struct mp_result *r, size_t object, const struct mp_finding *f);

#endif
