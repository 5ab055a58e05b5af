/* Progress of long work, for mp_host.progress (memprof.h).
 *
 * The engine's long loops already poll the host's interrupted() every so
 * many units; they report progress at the same places.  The reporter is
 * per thread and installed by mp_command_run for one command, so the
 * heap walk, the leak scan or the DWARF index need no new parameter in
 * every signature between the command and the loop, a library caller that
 * uses the API directly pays one thread-local load per poll, and worker
 * threads (which have no reporter) never call into the host: GDB's Python
 * must only be called from the thread that called the engine.
 *
 * Phases nest (DWARF indexing inside a logical walk): the inner one is
 * shown while it runs, then the outer one again. */
#ifndef MEMPROF_CORE_PROGRESS_H
#define MEMPROF_CORE_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>

#include "memprof/memprof.h"

typedef struct mp_progress_reporter mp_progress_reporter;

/* The calling thread's reporter; NULL when nobody listens. */
extern _Thread_local mp_progress_reporter *mp_progress_current;

/* Installs a reporter calling host->progress for this thread until
 * mp_progress_uninstall; does nothing when host has no callback or enabled
 * is false.  Returns false when it did nothing. */
bool mp_progress_install(const mp_host *host, bool enabled);
/* Erases the line if one is shown and removes the reporter. */
void mp_progress_uninstall(void);

/* Starts a phase: what it is called, what it counts, how many there are
 * (0: not known).  Must be paired with mp_progress_end. */
void mp_progress_begin(const char *phase, const char *unit, uint64_t total);
/* Ends the innermost phase; erases its line if it was shown. */
void mp_progress_end(void);
/* Erases the line without ending the phase: before a message on err. */
void mp_progress_clear(void);

void mp_progress_report(uint64_t done);

/* How much of the innermost phase is done.  Cheap enough for the loops
 * that poll interrupted(): one thread-local load when nobody listens,
 * otherwise a monotonic clock read, and the host is called at most ten
 * times a second. */
static inline void mp_progress_update(uint64_t done)
{
	if (__builtin_expect(mp_progress_current != NULL, 0))
		mp_progress_report(done);
}

/* Sets the innermost phase's total once it is known. */
void mp_progress_set_total(uint64_t total);

#endif
