// Polymorphic objects whose pointers do not say their class, for the
// patterns' findings on them; the class comes from each object's vtable:
//   20000 Padded (56 bytes with holes, 40 reorganized) held in a
//         std::vector<Shape *>: struct-padding and small-allocations
//   2000 Dot (16 bytes) held in a std::vector<void *>, untyped, and 500
//         more lost: small-allocations of the 2000, a leak of the 500
//         (a lost block's chunk is the leak's savings, and no other
//         finding's)
// Before "ready PID" it prints its truth on one line, "truth {JSON}",
// measured with malloc_usable_size: per finding kind, the savings per
// class as docs/patterns.md defines them (a chunk is its usable bytes
// plus glibc's 8-byte header; a pool of Padded after its reorganization
// has slots of the reorganized size).
#include <malloc.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "hold.h"

struct Shape {
    virtual ~Shape() {}
};

struct Padded : Shape {
    char a;
    double r;
    char b;
    double c;
    char d;
    double e;
};

// Padded's members in the order `memprof type --reorganize` gives them.
struct Packed : Shape {
    double r, c, e;
    char a, b, d;
};

struct Dot : Shape {
    long x = 0;
};

std::vector<Shape *> shapes;
std::vector<void *> dots;

static const size_t header = 8;

static size_t usable_for(size_t request)
{
    void *p = std::malloc(request);
    size_t usable = malloc_usable_size(p);
    std::free(p);
    return usable;
}

static size_t round8(size_t n) { return (n + 7) & ~static_cast<size_t>(7); }

// Opaque to the optimiser, so the objects are really made and dropped.
__attribute__((noipa)) static size_t lose(Dot *dot, long x)
{
    dot->x = x;
    return malloc_usable_size(dot);
}

// Far below main's frame, so no spilled register keeps a lost pointer.
__attribute__((noinline)) static void lose_dots(size_t *leak)
{
    volatile char distance[4096];
    distance[0] = 0;
    for (int i = 0; i < 500; i++) {
        *leak += lose(new Dot(), 2000 + i) + header;
    }
    distance[1] = distance[0];
}

__attribute__((noinline)) static void scrub_stack()
{
    volatile char junk[16384];
    std::memset(const_cast<char *>(junk), 0, sizeof(junk));
}

int main(int argc, char **argv)
{
    size_t padded_small = 0, padding = 0, dot_small = 0, dot_leak = 0;
    size_t exact = usable_for(sizeof(Padded)), packed = usable_for(sizeof(Packed));
    shapes.reserve(20000);
    for (int i = 0; i < 20000; i++) {
        Padded *p = new Padded();
        p->r = i;
        shapes.push_back(p);
        size_t usable = malloc_usable_size(p);
        if (usable == exact) {
            padding += exact - packed;
            usable = packed;
        }
        padded_small += usable + header - round8(sizeof(Packed));
    }
    dots.reserve(2000);
    for (int i = 0; i < 2000; i++) {
        Dot *d = new Dot();
        d->x = i;
        dots.push_back(d);
        dot_small += malloc_usable_size(d) + header - round8(sizeof(Dot));
    }
    lose_dots(&dot_leak);
    scrub_stack();
    std::printf("truth {\"struct-padding\": {\"Padded\": %zu}, "
                "\"small-allocations\": {\"Padded\": %zu, \"Dot\": %zu}, "
                "\"leak\": {\"Dot\": %zu}}\n",
                padding, padded_small, dot_small, dot_leak);
    std::fflush(stdout);
    if (!hold_if_asked(argc, argv))
        return 1;
    for (Shape *s : shapes)
        delete s;
    for (void *d : dots)
        delete static_cast<Dot *>(d);
    return 0;
}
