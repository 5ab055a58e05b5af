/*
 * waste.cpp - containers holding far more than they use, measured by the
 * program itself with malloc_usable_size and printed as one JSON line on
 * stderr before it holds: a global Catalog and 100 heap Catalogs, each
 * with a std::vector<Item> reserved for 1000 items holding 10, a
 * std::vector<int> reserved for 500 holding 5, and a std::string reserved
 * for 4000 characters holding a short title; the global Catalog's
 * std::unordered_map also grew to 20000 entries and kept 10, and keeps its
 * buckets.  The truths are the bytes of each buffer block past what its
 * length uses, summed per member (the bucket array's from bucket_count(),
 * its block's own rounding aside).
 */
#include <malloc.h>

#include <cstdio>
#include <string>
#include <unordered_map>
#include <vector>

#include "example_common.h"

struct Item {
    long key;
    double weight;
};

struct Catalog {
    std::string title;
    std::vector<Item> items;
    std::vector<int> ids;
    std::unordered_map<long, double> index;
};

Catalog catalog;
std::vector<Catalog *> more;

static size_t fill(Catalog &c, int n)
{
    c.items.reserve(1000);
    for (int i = 0; i < 10; i++)
        c.items.push_back(Item{i, 0.5 * i});
    c.ids.reserve(500);
    for (int i = 0; i < 5; i++)
        c.ids.push_back(n * 10 + i);
    c.title.reserve(4000);
    /* Appended, not assigned: assignment would swap the reserved buffer
     * for the temporary's. */
    c.title.append("catalog number ").append(std::to_string(n));
    return 0;
}

int main(int argc, char **argv)
{
    enum example_mode mode = example_parse_mode(argc, argv);
    fill(catalog, 0);
    for (long k = 0; k < 20000; k++)
        catalog.index[k] = 0.5 * (double)k;
    for (long k = 10; k < 20000; k++)
        catalog.index.erase(k);
    size_t index = (catalog.index.bucket_count() - catalog.index.size()) * sizeof(void *);
    more.reserve(100);
    for (int n = 1; n <= 100; n++) {
        more.push_back(new Catalog);
        fill(*more.back(), n);
    }
    size_t items = 0, ids = 0, title = 0;
    auto measure = [&](const Catalog &c) {
        items += malloc_usable_size((void *)c.items.data()) - c.items.size() * sizeof(Item);
        ids += malloc_usable_size((void *)c.ids.data()) - c.ids.size() * sizeof(int);
        title += malloc_usable_size((void *)c.title.data()) - (c.title.size() + 1);
    };
    measure(catalog);
    for (const Catalog *c : more)
        measure(*c);
    char line[256];
    int n = snprintf(line, sizeof line,
                     "{\"Catalog.items\": %zu, \"Catalog.ids\": %zu, \"Catalog.title\": %zu, "
                     "\"Catalog.index\": %zu}\n",
                     items, ids, title, index);
    if (n > 0)
        example_write_all(STDERR_FILENO, line, (size_t)n);
    example_after_build(mode);
    for (Catalog *c : more)
        delete c;
    return 0;
}
