/* What `leaks` and `run` share: option checks, the analysis, and the
 * report writers. */
#ifndef MEMPROF_CORE_COMMANDS_LEAKS_REPORT_H
#define MEMPROF_CORE_COMMANDS_LEAKS_REPORT_H

#include "analysis/leak_groups.h"
#include "command.h"
#include "output/result.h"

extern const char *const mp_leaks_flags[];
extern const char *const mp_leaks_valued[];

/* The kinds --fail-on checks by default (`run`) and "+KIND" adds to:
 * LeakSanitizer's, definitely and indirectly lost. */
#define MP_FAIL_ON_DEFAULT ((1u << MP_LEAK_DEFINITE) | (1u << MP_LEAK_INDIRECT))
#define MP_FAIL_ON_HELP \
	"  --fail-on KINDS  exit 3 when blocks of these kinds exist: a list (definite,possible)\n" \
	"                   replaces the default set definite,indirect; +KIND (+possible) adds\n" \
	"                   to it; none checks nothing"

/* "definite,indirect" -> a mask of 1 << mp_leak_kind (replacing the
 * default); "+possible" -> MP_FAIL_ON_DEFAULT and possible; "none" -> 0.
 * False for unknown kinds and lists mixing the two forms. */
bool mp_parse_fail_on(const char *text, unsigned *mask);
/* Checks --roots and --fail-on; returns an exit status. */
int mp_leaks_check_options(mp_command *command, unsigned default_fail,
			   unsigned *fail_mask);
/* Wall time of each phase of one leak check, in seconds, for --stats:
 * where the time goes is what a user tuning a CI job (or memprof) needs.
 * attach is negative where nothing was attached (cores). */
typedef struct mp_leak_phases {
	double attach, modules, heap_walk, scan, classify, report;
} mp_leak_phases;
/* CLOCK_MONOTONIC in seconds, for the phases. */
double mp_leak_phase_clock(void);
/* One "stats:" line per phase group on err, prefixed with what (a pid). */
void mp_leak_phases_write(FILE *err, const char *what, const mp_leak_phases *phases,
			  const mp_heap *heap, const mp_leaks *leaks);
/* Heap, reachability and grouped report of command's target; phases (may
 * be NULL) gets the heap walk, scan, classification and report build. */
mp_error *mp_leaks_run_analysis(mp_command *command, mp_heap **heap,
				mp_leaks **leaks, mp_leak_report *report,
				mp_leak_phases *phases);
/* The text report, ending with the warnings of target (may be NULL), heap
 * and leaks. */
void mp_leaks_write_text(FILE *out, const mp_target *target, const mp_heap *heap,
			 const mp_leaks *leaks, const mp_leak_report *report);
/* The members of a leak check's result under parent (allocator, summary,
 * groups, unreferenced ..., warnings: docs/json.md), as `leaks`, `run`
 * and `triage` report it. */
void mp_leaks_result(mp_result *r, mp_rnode parent, const mp_heap *heap, const mp_leaks *leaks,
		     const mp_leak_report *report);
bool mp_leaks_check_failed(const mp_leak_report *report, unsigned fail_mask);

#endif
