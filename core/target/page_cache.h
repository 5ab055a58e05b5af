/* A direct-mapped cache of fixed-size lines of target memory, in front of a
 * source whose reads are expensive (a syscall for a live process, a round
 * trip for a remote debugger).  Valid while the target is frozen. */
#ifndef MEMPROF_CORE_TARGET_PAGE_CACHE_H
#define MEMPROF_CORE_TARGET_PAGE_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "memprof/memprof.h"

typedef mp_error *(*mp_fill_fn)(void *context, uint64_t address, void *buffer,
				size_t length);

typedef struct mp_page_cache mp_page_cache;

/* line_size must be a power of two. */
mp_page_cache *mp_page_cache_new(size_t line_size, size_t lines, mp_fill_fn fill,
				 void *context);
void mp_page_cache_free(mp_page_cache *cache);
/* Reads through the cache: lines are filled whole; a line the source cannot
 * fill whole (the end of a mapping) is not cached and the rest of the read
 * goes to the source as asked. */
mp_error *mp_page_cache_read(mp_page_cache *cache, uint64_t address,
			     void *buffer, size_t length);

#endif
