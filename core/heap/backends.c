/* The allocators memprof reads, one entry per backend.  An allocator
 * without an entry is detected (allocator.c) and refused, never read as
 * another one. */
#include "heap_internal.h"

static const heap_backend backends[] = {
	{MP_ALLOCATOR_GLIBC, mp_glibc_heap_build, NULL},
	{MP_ALLOCATOR_MIMALLOC, mp_mimalloc_heap_build, mp_mimalloc_usable_for_request},
	{MP_ALLOCATOR_TCMALLOC, mp_tcmalloc_heap_build, mp_tcmalloc_usable_for_request},
	{MP_ALLOCATOR_JEMALLOC, mp_jemalloc_heap_build, mp_jemalloc_usable_for_request},
};

const heap_backend *heap_backend_for(enum mp_allocator_kind kind)
{
	for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++)
		if (backends[i].kind == kind)
			return &backends[i];
	return NULL;
}
