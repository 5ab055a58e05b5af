/* An allocator memprof does not know, built as libmpbump.so: malloc and
 * friends from a bump pointer over mmap'ed memory, free does nothing.
 * Linked into a program it serves malloc, and memprof must name it
 * ("malloc served by libmpbump.so (unknown allocator)") instead of reading
 * the nearly empty glibc heap beside it. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

enum { CHUNK = 1 << 24, ALIGN = 16 };

static char *next, *limit;

/* Each block is preceded by its size, so realloc can copy. */
static void *bump(size_t size, size_t align)
{
	if (align < ALIGN)
		align = ALIGN;
	if (size > CHUNK / 2 || (align & (align - 1)))
		return NULL;
	for (int tries = 0; tries < 2; tries++) {
		uintptr_t at = ((uintptr_t)next + sizeof(size_t) + align - 1) & ~(uintptr_t)(align - 1);
		if (next && at + size <= (uintptr_t)limit) {
			((size_t *)at)[-1] = size;
			next = (char *)(at + size);
			return (void *)at;
		}
		void *fresh = mmap(NULL, CHUNK, PROT_READ | PROT_WRITE,
				   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (fresh == MAP_FAILED)
			return NULL;
		next = fresh;
		limit = next + CHUNK;
	}
	return NULL;
}

void *malloc(size_t size) { return bump(size, ALIGN); }
void free(void *p) { (void)p; }

void *calloc(size_t n, size_t size)
{
	if (size && n > SIZE_MAX / size)
		return NULL;
	return bump(n * size, ALIGN);   /* fresh mmap'ed memory is zero */
}

void *realloc(void *p, size_t size)
{
	void *q = bump(size, ALIGN);
	if (p && q) {
		size_t old = ((size_t *)p)[-1];
		memcpy(q, p, old < size ? old : size);
	}
	return q;
}

void *memalign(size_t align, size_t size) { return bump(size, align); }
void *aligned_alloc(size_t align, size_t size) { return bump(size, align); }

int posix_memalign(void **out, size_t align, size_t size)
{
	void *p = bump(size, align);
	if (!p)
		return ENOMEM;
	*out = p;
	return 0;
}
