/* mmapped chunks inside merged anonymous mappings.  Four large mallocs
 * (above the mmap threshold) are mapped one below the other, so the
 * kernel merges them into one mapping with the main thread's TLS area
 * above; then the program maps an anonymous region of its own right
 * below them, which merges too: the chunks sit in the middle of a
 * mapping, not at its start.  A memalign'd block adds a chunk that does
 * not start its mmap.
 *
 * Prints "ready PID hblks=N hblkhd=M own=0x.. chunks=0x..,0x.." with
 * --hold: mallinfo2()'s counts, the program's own mapping, and the blocks'
 * addresses (the memalign'd one last); nothing otherwise.  Every block
 * stays reachable, so valgrind calls it clean. */
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

enum { BLOCKS = 4 };

void *blocks[BLOCKS];
void *aligned;
char *own_mapping;

__attribute__((noipa)) static void *fresh(size_t size)
{
	void *p = malloc(size);
	if (p)
		memset(p, 0x33, size);
	return p;
}

int main(int argc, char **argv)
{
	int hold = argc > 1 && strcmp(argv[1], "--hold") == 0;
	static const size_t sizes[BLOCKS] = {200000, 300000, 1 << 20, 140000};
	for (int i = 0; i < BLOCKS; i++)
		blocks[i] = fresh(sizes[i]);
	if (posix_memalign(&aligned, 1024, 400000))
		return 1;
	memset(aligned, 0x44, 400000);
	/* The program's own memory, each page opening with a near miss of a
	 * chunk header (a page-sized size without the IS_MMAPPED bit, or
	 * with PREV_INUSE too), which a heap walk must not take for one. */
	own_mapping = mmap(NULL, 16 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (own_mapping == MAP_FAILED)
		return 1;
	for (size_t i = 0; i < 16 * 4096; i += 8) {
		uint64_t word = i;
		if (i % 4096 == 0)
			word = 0;
		else if (i % 4096 == 8)
			word = i / 4096 % 2 ? 0x1000 : 0x1003;
		memcpy(own_mapping + i, &word, 8);
	}
	struct mallinfo2 mi = mallinfo2();
	char line[512];
	int n = snprintf(line, sizeof(line), "ready %d hblks=%zu hblkhd=%zu own=%#lx chunks=",
			 hold ? (int)getpid() : 0, mi.hblks, mi.hblkhd, (unsigned long)(uintptr_t)own_mapping);
	for (int i = 0; i < BLOCKS; i++)
		n += snprintf(line + n, sizeof(line) - (size_t)n, "%s%#lx", i ? "," : "",
			      (unsigned long)(uintptr_t)blocks[i]);
	n += snprintf(line + n, sizeof(line) - (size_t)n, ",%#lx\n", (unsigned long)(uintptr_t)aligned);
	if (hold && write(1, line, (size_t)n) != n)
		return 1;
	if (hold) {
		char buffer[64];
		while (read(0, buffer, sizeof(buffer)) > 0)
			;
	}
	return 0;
}
