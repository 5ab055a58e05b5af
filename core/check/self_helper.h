/* A process inspecting itself (include/memprof/check.h): a forked helper
 * traces the caller as `memprof ... --pid` would and answers through a
 * pipe with one fixed-size record, so the caller allocates nothing. */
#ifndef MEMPROF_CORE_CHECK_SELF_HELPER_H
#define MEMPROF_CORE_CHECK_SELF_HELPER_H

#include <stdbool.h>
#include <stdint.h>

#include "memprof/check.h"

enum { MP_SELF_VALUES = 8 };

typedef struct mp_self_reply {
	uint64_t values[MP_SELF_VALUES];
	bool partial;
	int error;            /* 0 or an enum mp_error_code */
	char message[MEMPROF_CHECK_MESSAGE_SIZE];
} mp_self_reply;

/* Runs in the helper with the caller frozen as target; fills reply (an
 * error as error and message, partial with the first warning). */
typedef void (*mp_self_work)(mp_target *caller, void *context, mp_self_reply *reply);

/* Forks the helper, lets it trace this process, waits for its reply.
 * what names the request in error messages ("memprof_check_leaks"). */
void mp_self_inspect(const char *what, mp_self_work work, void *context,
		     mp_self_reply *reply);

/* Stale pointers that earlier calls (malloc's own frames among them) left
 * in dead stack below the caller would be read as roots once the frames of
 * a check reuse that stack without overwriting every word: a block the
 * program just lost would look reachable.  The public functions call this
 * first, then do their work in a function of their own (not inlined), whose
 * frame lies in the zeroed stack.  8 KiB: deeper than malloc's frames,
 * shallow enough for any thread's stack. */
void mp_self_scrub_stack(void);

/* reply's error from err (freed), its message prefixed with what. */
void mp_self_reply_error(mp_self_reply *reply, const char *what, mp_error *err);

#endif
