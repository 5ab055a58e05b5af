/* Strings whose buffers are on the heap: long keys of an unordered_map
 * and an unordered_set (their nodes link through _Hash_node_base), and
 * strings reserved far past their length in a struct and in a vector.
 * Built with g++ and with clang++ -O0, which leaves std::string a
 * declaration only.  Prints its own truth, then aborts or holds. */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>

#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "hold.h"

struct Holder {
    long id;
    std::string name;
};

std::unordered_map<std::string, int> g_map;
std::unordered_set<std::string> g_set;
std::vector<Holder *> g_holders;
std::vector<std::string> g_strings;

static long slack(const std::string &s)
{
    return (long)malloc_usable_size((void *)s.data()) - (long)(s.size() + 1);
}

int main(int argc, char **argv)
{
    enum { MAP_KEYS = 700, SET_KEYS = 300, HOLDERS = 40, STRINGS = 30 };
    for (int i = 0; i < MAP_KEYS; i++)
        g_map["a-map-key-longer-than-the-short-buffer-" + std::to_string(i)] = i;
    for (int i = 0; i < SET_KEYS; i++)
        g_set.insert("a-set-key-longer-than-the-short-buffer-" + std::to_string(i));
    long name_slack = 0, string_slack = 0;
    for (int i = 0; i < HOLDERS; i++) {
        Holder *h = new Holder{i, std::string()};
        h->name.reserve(2000);
        h->name.append("holder-name-").append(std::to_string(i));
        name_slack += slack(h->name);
        g_holders.push_back(h);
    }
    g_strings.reserve(STRINGS);
    for (int i = 0; i < STRINGS; i++) {
        g_strings.emplace_back();
        g_strings.back().reserve(1000);
        g_strings.back().append("element-string-").append(std::to_string(i));
        string_slack += slack(g_strings.back());
    }
    for (const auto &kv : g_map)
        printf("key %p\n", (const void *)kv.first.data());
    for (const auto &k : g_set)
        printf("key %p\n", (const void *)k.data());
    printf("key_buffers %d\nname_slack %ld\nstring_slack %ld\n", MAP_KEYS + SET_KEYS,
           name_slack, string_slack);
    fflush(stdout);
    if (!hold_if_asked(argc, argv))
        return 1;
    return 0;
}
