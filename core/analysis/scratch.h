/* Large zeroed arrays an analysis makes and frees before it ends (per
 * chunk: block types, content bitmaps), mapped on their own.
 *
 * glibc's malloc raises its mmap threshold to the largest block freed, up
 * to 32 MiB: after a leak check has freed its graph, an array of tens of
 * MiB comes from malloc's heap, and once freed in its middle its pages
 * stay resident.  `recommend` of ten million blocks kept 30 MiB of arrays
 * it had freed that way (issue 12: its memory per chunk).  An array mapped
 * by itself is given back whole when freed. */
#ifndef MEMPROF_CORE_ANALYSIS_SCRATCH_H
#define MEMPROF_CORE_ANALYSIS_SCRATCH_H

#include <stddef.h>
#include <sys/mman.h>

/* size bytes of zeros, or NULL.  Arrays of 2 MiB or more get huge pages
 * where the kernel gives them (advice only): they are read at random (a
 * bitmap by hash, types by chunk), and on a virtual machine a TLB miss
 * costs about as much as the cache miss. */
static inline void *mp_scratch_alloc(size_t size)
{
	void *p = mmap(NULL, size ? size : 1, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		       -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	if (size >= (2u << 20))
		madvise(p, size, MADV_HUGEPAGE);
	return p;
}

/* Frees what mp_scratch_alloc(size) returned (NULL: nothing). */
static inline void mp_scratch_free(void *p, size_t size)
{
	if (p)
		munmap(p, size ? size : 1);
}

#endif
