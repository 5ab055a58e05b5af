/*
 * crash_heap.c - a heap buffer overflow that glibc catches, for `memprof
 * triage` (docs/triage.md).  Three 24-byte blocks lie side by side; writing
 * 32 bytes into the first overwrites the size field in the header of the
 * second chunk, and freeing the second makes glibc abort ("double free or
 * corruption (out)").
 *
 *   (no argument)  writes 24 bytes, frees the three blocks, exits 0
 *   --crash        overflows by 8 bytes, prints "corrupt chunk 0x..." (the
 *                  header address of the chunk whose size was overwritten)
 *                  on stderr, then frees it: SIGABRT from free()
 *
 * The line is written with fprintf to stderr, which is unbuffered: nothing
 * of stdio lands on the heap between the blocks.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    int crash = argc == 2 && strcmp(argv[1], "--crash") == 0;
    if (argc > 1 && !crash) {
        fprintf(stderr, "usage: %s [--crash]\n", argv[0]);
        return 2;
    }
    char *first = malloc(24), *second = malloc(24), *third = malloc(24);
    if (!first || !second || !third)
        return 1;
    /* volatile: the compiler must not see through the overflow and drop it. */
    size_t length = crash ? 32 : 24;
    volatile size_t *lengthp = &length;
    if (crash)
        fprintf(stderr, "corrupt chunk %p\n", (void *)(second - 16));
    memset(first, 'A', *lengthp);
    /* A store before free() is dead to the compiler: this barrier keeps it. */
    __asm__ volatile("" : : "r"(first) : "memory");
    free(second);
    free(first);
    free(third);
    return 0;
}
