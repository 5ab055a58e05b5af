/*
 * leak_libcxx.cpp - a lost object that holds libc++ containers (built with
 * clang++ -stdlib=libc++): an Inventory with a std::list<int> of 40 entries
 * and a std::vector<long> of 100, allocated with new and forgotten.
 *
 * Nothing points to the Inventory block any more: it is definitely lost,
 * and the list's nodes and the vector's buffer, reachable only from it,
 * indirectly lost.  memprof names the Inventory by its shape (its vector's
 * end pointers point inside the buffer its begin pointer starts) and,
 * through its typed members, each node after its libc++ node type
 * (std::__1::__list_node<int, void *>) and the buffer as long[].
 *
 * valgrind --leak-check=full:
 *   definitely lost:     56 bytes in 1 blocks   (the Inventory)
 *   indirectly lost:  1,760 bytes in 41 blocks  (40 list nodes, the buffer)
 */
#include <cstdint>
#include <list>
#include <vector>

#include "example_common.h"

struct Inventory {
    std::uint64_t id;
    std::list<int> log;
    std::vector<long> counts;
};

__attribute__((noinline)) static void forget_inventory()
{
    Inventory *inventory = new Inventory();
    inventory->id = 42;
    for (int i = 0; i < 40; i++)
        inventory->log.push_back(i);
    inventory->counts.reserve(100);
    for (long i = 0; i < 100; i++)
        inventory->counts.push_back(i * i);
}

int main(int argc, char **argv)
{
    enum example_mode mode = example_parse_mode(argc, argv);
    forget_inventory();
    example_after_build(mode);
    return 0;
}
