/* include/memprof/check.h: the calling process's leak summary and the
 * logical size of its own data, each computed by a helper process that
 * traces the caller (self_helper.c) with the engines of `memprof leaks`
 * and `memprof logical`. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "analysis/logical.h"
#include "check/self_helper.h"
#include "commands/leaks_report.h"
#include "error.h"

/* values[] of a leak reply: blocks and bytes per kind, in this order. */
static const enum mp_leak_kind reply_kinds[] = {
	MP_LEAK_DEFINITE, MP_LEAK_INDIRECT, MP_LEAK_POSSIBLE, MP_LEAK_REACHABLE,
};

/* The first thing that made a result partial, for the message. */
static void note_partial(mp_self_reply *reply, const char *what, const char *warning)
{
	reply->partial = true;
	if (!reply->message[0] && warning)
		snprintf(reply->message, sizeof(reply->message), "%s: %s", what, warning);
}

typedef struct leaks_request {
	const char *what;
	int report_fd;             /* the caller's, inherited: < 0 for none */
} leaks_request;

/* `memprof leaks`'s text report of the caller to its descriptor fd. */
static mp_error *write_report(mp_target *caller, const mp_heap *heap, const mp_leaks *leaks,
			      int fd)
{
	mp_leak_report report;
	mp_error *err = mp_leak_report_build(caller, heap, leaks,
					     (1u << MP_LEAK_DEFINITE) | (1u << MP_LEAK_INDIRECT) |
					     (1u << MP_LEAK_POSSIBLE), &report);
	if (err)
		return err;
	int copy = dup(fd);
	FILE *out = copy >= 0 ? fdopen(copy, "w") : NULL;
	if (!out) {
		err = mp_error_errno(errno, "cannot write the report to descriptor %d", fd);
		if (copy >= 0)
			close(copy);
	} else {
		fprintf(out, "memprof_check_leaks: %s\n", mp_target_description(caller));
		mp_allocator allocator = mp_heap_allocator(heap);
		mp_command_allocator_text(out, &allocator);
		fputc('\n', out);
		mp_leaks_write_text(out, caller, heap, leaks, &report);
		if (fclose(out) != 0)
			err = mp_error_errno(errno, "cannot write the report to descriptor %d", fd);
	}
	mp_leak_report_free(&report);
	return err;
}

static void leaks_work(mp_target *caller, void *context, mp_self_reply *reply)
{
	const leaks_request *request = context;
	const char *what = request->what;
	/* Options as `memprof leaks --pid` has them by default. */
	mp_heap_options heap_options = {.keep_pages = true};
	mp_heap *heap = NULL;
	mp_error *err = mp_heap_open(caller, &heap_options, &heap);
	if (err) {
		mp_self_reply_error(reply, what, err);
		return;
	}
	mp_leak_options leak_options = {0};
	mp_leaks *leaks = NULL;
	err = mp_leaks_analyze(caller, heap, &leak_options, &leaks);
	if (err) {
		mp_self_reply_error(reply, what, err);
		mp_heap_free(heap);
		return;
	}
	for (size_t i = 0; i < mp_heap_chunk_count(heap); i++) {
		enum mp_leak_kind kind = mp_leaks_kind(leaks, i);
		for (size_t k = 0; k < 4; k++) {
			if (reply_kinds[k] != kind)
				continue;
			mp_chunk chunk = mp_heap_chunk(heap, i);
			reply->values[2 * k]++;
			reply->values[2 * k + 1] += mp_chunk_usable_size(&chunk);
		}
	}
	if (mp_leaks_partial(leaks))
		note_partial(reply, what, mp_leaks_warning_count(leaks) ? mp_leaks_warning(leaks, 0)
									 : NULL);
	if (mp_heap_partial(heap))
		note_partial(reply, what, mp_heap_problem_count(heap)
					  ? mp_heap_problem_at(heap, 0)->message : NULL);
	if (request->report_fd >= 0) {
		err = write_report(caller, heap, leaks, request->report_fd);
		if (err)
			mp_self_reply_error(reply, what, err);
	}
	mp_leaks_free(leaks);
	mp_heap_free(heap);
}

/* Not inlined: its frame must lie in the stack mp_self_scrub_stack
 * zeroed (so must every frame below it). */
static __attribute__((noinline)) int check_leaks(memprof_leak_summary *summary, int report_fd)
{
	leaks_request request = {.what = "memprof_check_leaks", .report_fd = report_fd};
	mp_self_reply reply;
	mp_self_inspect(request.what, leaks_work, &request, &reply);
	memprof_leak_count *counts[] = {
		&summary->definitely_lost, &summary->indirectly_lost, &summary->possibly_lost,
		&summary->still_reachable,
	};
	for (size_t k = 0; k < 4; k++) {
		counts[k]->blocks = reply.values[2 * k];
		counts[k]->bytes = reply.values[2 * k + 1];
	}
	summary->partial = reply.partial;
	summary->error = reply.error;
	memcpy(summary->message, reply.message, sizeof(summary->message));
	return summary->error;
}

typedef struct logical_request {
	const char *what;
	uint64_t address;
	const char *type_name;     /* the helper reads its own copy of it */
	memprof_metric metric;
} logical_request;

static void logical_work(mp_target *caller, void *context, mp_self_reply *reply)
{
	const logical_request *request = context;
	/* The heap first, so an allocator memprof cannot read is the answer
	 * to every call, whatever the type.  Unlike `memprof logical`, no
	 * walk without a heap: a budget checked against pointers counted as
	 * themselves only would pass for the wrong reason. */
	mp_heap_options heap_options = {0};
	mp_heap *heap = NULL;
	mp_error *err = mp_heap_open(caller, &heap_options, &heap);
	const mp_type *type = NULL;
	if (!err)
		err = mp_type_find(caller, request->type_name, &type);
	mp_logical *walk = NULL;
	if (!err) {
		mp_logical_options options = {0};
		err = mp_logical_walk(caller, heap, request->address, type, request->type_name,
				      &options, &walk);
	}
	if (err) {
		mp_self_reply_error(reply, request->what, err);
		mp_heap_free(heap);
		return;
	}
	uint64_t logical, allocated, count;
	mp_logical_subtree(walk, 0, &logical, &allocated, &count);
	switch (request->metric) {
	case MEMPROF_METRIC_LOGICAL: reply->values[0] = logical; break;
	case MEMPROF_METRIC_ALLOCATED: reply->values[0] = allocated; break;
	case MEMPROF_METRIC_SLACK: reply->values[0] = allocated - logical; break;
	case MEMPROF_METRIC_COUNT: reply->values[0] = count; break;
	}
	if (mp_logical_partial(walk))
		note_partial(reply, request->what, mp_logical_warning_count(walk)
						   ? mp_logical_warning(walk, 0) : NULL);
	if (mp_heap_partial(heap))
		note_partial(reply, request->what, mp_heap_problem_count(heap)
						   ? mp_heap_problem_at(heap, 0)->message : NULL);
	mp_logical_free(walk);
	mp_heap_free(heap);
}

static __attribute__((noinline)) memprof_logical_result
logical_bytes(const void *ptr, const char *type_name, memprof_metric metric)
{
	static const char what[] = "memprof_logical_bytes";
	memprof_logical_result result;
	memset(&result, 0, sizeof(result));
	/* Misuse is answered here, without a helper. */
	if (!ptr || !type_name || !type_name[0] ||
	    (unsigned)metric > (unsigned)MEMPROF_METRIC_COUNT) {
		result.error = MP_ERR_USAGE;
		snprintf(result.message, sizeof(result.message),
			 "%s: %s", what, !ptr ? "ptr is NULL"
				       : !type_name || !type_name[0] ? "no type name"
				       : "unknown metric (MEMPROF_METRIC_LOGICAL, _ALLOCATED, _SLACK, _COUNT)");
		return result;
	}
	logical_request request = {
		.what = what,
		.address = (uint64_t)(uintptr_t)ptr,
		.type_name = type_name,
		.metric = metric,
	};
	mp_self_reply reply;
	mp_self_inspect(what, logical_work, &request, &reply);
	result.value = reply.values[0];
	result.partial = reply.partial;
	result.error = reply.error;
	memcpy(result.message, reply.message, sizeof(result.message));
	return result;
}

int memprof_check_leaks_report(memprof_leak_summary *summary, int report_fd)
{
	if (!summary)
		return MP_ERR_USAGE;
	/* Before anything else: stale pointers in it must not be roots. */
	explicit_bzero(summary, sizeof(*summary));
	mp_self_scrub_stack();
	return check_leaks(summary, report_fd);
}

int memprof_check_leaks(memprof_leak_summary *summary)
{
	return memprof_check_leaks_report(summary, -1);
}

memprof_logical_result memprof_logical_bytes(const void *ptr, const char *type_name,
					     memprof_metric metric)
{
	mp_self_scrub_stack();
	return logical_bytes(ptr, type_name, metric);
}
