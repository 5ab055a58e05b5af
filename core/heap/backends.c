/* The allocators memprof reads, one entry per backend: how it is
 * recognised (allocator.c), how its heap is read, how its own facts are
 * described.  An allocator without an entry is detected as unknown and
 * refused, never read as another one. */
#include "heap_internal.h"

static const char *const glibc_libraries[] = {"libc.so", "libc-2.", NULL};
static const char *const glibc_entry_points[] = {"__libc_malloc", NULL};
static const char *const jemalloc_libraries[] = {"libjemalloc", NULL};
/* Built with a prefix ("je_"), jemalloc exports prefixed names. */
static const char *const jemalloc_entry_points[] = {
	"mallctl", "je_mallctl", "mallocx", "je_mallocx", "je_malloc_conf", NULL,
};
static const char *const tcmalloc_libraries[] = {"libtcmalloc", NULL};
static const char *const tcmalloc_entry_points[] = {
	"tc_malloc", "tc_version", "MallocExtension_GetAllocatedSize", NULL,
};
static const char *const mimalloc_libraries[] = {"libmimalloc", NULL};
static const char *const mimalloc_entry_points[] = {"mi_malloc", "mi_version", NULL};

static const heap_backend backends[] = {
	{MP_ALLOCATOR_GLIBC, {glibc_libraries, glibc_entry_points, true, mp_glibc_version, false},
	 mp_glibc_heap_build, mp_glibc_describe, NULL, NULL},
	{MP_ALLOCATOR_JEMALLOC,
	 {jemalloc_libraries, jemalloc_entry_points, false, mp_jemalloc_version, true},
	 mp_jemalloc_heap_build, NULL, mp_jemalloc_usable_for_request, "mapped"},
	{MP_ALLOCATOR_TCMALLOC,
	 {tcmalloc_libraries, tcmalloc_entry_points, false, mp_tcmalloc_version, true},
	 mp_tcmalloc_heap_build, NULL, mp_tcmalloc_usable_for_request, "heap_size"},
	{MP_ALLOCATOR_MIMALLOC,
	 {mimalloc_libraries, mimalloc_entry_points, false, mp_mimalloc_version, false},
	 mp_mimalloc_heap_build, NULL, mp_mimalloc_usable_for_request, "segment_bytes"},
};

size_t heap_backend_count(void)
{
	return sizeof(backends) / sizeof(backends[0]);
}

const heap_backend *heap_backend_at(size_t index)
{
	return index < heap_backend_count() ? &backends[index] : NULL;
}

const heap_backend *heap_backend_for(enum mp_allocator_kind kind)
{
	for (size_t i = 0; i < heap_backend_count(); i++)
		if (backends[i].kind == kind)
			return &backends[i];
	return NULL;
}
