// zoo.cpp - one global of each common libstdc++ container, with known
// element counts, for checking how memprof reads C++ containers.
//
// Globals (all in the global namespace), after the build step:
//   zoo_vector_int         std::vector<int>                  1000 elements 0..999,
//                                                            capacity 1024 (push_back doubling)
//   zoo_vector_string      std::vector<std::string>          64 elements, reserved to 64;
//                                                            even indices short (SSO, no heap),
//                                                            odd indices 40 chars long (heap)
//   zoo_short_string       std::string                       "short" (5 chars, SSO, no heap)
//   zoo_long_string        std::string                       100 chars 'L', capacity 100
//   zoo_map                std::map<int, std::string>        100 entries, keys 0..99,
//                                                            values "value-NN" (SSO)
//   zoo_unordered_map      std::unordered_map<std::string,int> 200 entries,
//                                                            keys "key-number-NNN" (14 chars, SSO),
//                                                            value = NNN
//   zoo_list               std::list<int>                    300 nodes, values 0..299
//   zoo_deque              std::deque<int>                   1000 elements 0..999
//   zoo_shared             std::shared_ptr<ZooPayload>       made with std::make_shared
//                                                            (one block), use_count 2
//   zoo_shared_alias       std::shared_ptr<ZooPayload>       second owner of the same object
//   zoo_unique             std::unique_ptr<ZooPayload>       one ZooPayload
//
// ZooPayload is 64 bytes: id, weight, a 40-byte label array, next (null).
// The program prints nothing except the "ready" line in --hold mode.
//
// valgrind --leak-check=full: no leaks (every container is emptied, with
// its capacity released, before exit).

#include <cstdint>
#include <cstdio>
#include <deque>
#include <list>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "example_common.h"

struct ZooPayload {
    std::uint64_t id;
    double weight;
    char label[40];
    ZooPayload *next;
};

std::vector<int> zoo_vector_int;
std::vector<std::string> zoo_vector_string;
std::string zoo_short_string;
std::string zoo_long_string;
std::map<int, std::string> zoo_map;
std::unordered_map<std::string, int> zoo_unordered_map;
std::list<int> zoo_list;
std::deque<int> zoo_deque;
std::shared_ptr<ZooPayload> zoo_shared;
std::shared_ptr<ZooPayload> zoo_shared_alias;
std::unique_ptr<ZooPayload> zoo_unique;

namespace {

ZooPayload make_payload(std::uint64_t id, const char *label)
{
    ZooPayload p{};
    p.id = id;
    p.weight = static_cast<double>(id) * 0.5;
    std::snprintf(p.label, sizeof p.label, "%s", label);
    p.next = nullptr;
    return p;
}

void build_zoo()
{
    for (int i = 0; i < 1000; i++)
        zoo_vector_int.push_back(i);

    zoo_vector_string.reserve(64);
    for (int i = 0; i < 64; i++) {
        char buf[64];
        if (i % 2 == 0)
            std::snprintf(buf, sizeof buf, "s%02d", i);
        else
            std::snprintf(buf, sizeof buf, "a-long-string-on-the-heap-number-%07d", i);
        zoo_vector_string.emplace_back(buf);
    }

    zoo_short_string = "short";
    zoo_long_string.assign(100, 'L');

    for (int i = 0; i < 100; i++) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "value-%02d", i);
        zoo_map.emplace(i, buf);
    }

    for (int i = 0; i < 200; i++) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "key-number-%03d", i);
        zoo_unordered_map.emplace(buf, i);
    }

    for (int i = 0; i < 300; i++)
        zoo_list.push_back(i);

    for (int i = 0; i < 1000; i++)
        zoo_deque.push_back(i);

    zoo_shared = std::make_shared<ZooPayload>(make_payload(7, "shared payload"));
    zoo_shared_alias = zoo_shared;
    zoo_unique = std::make_unique<ZooPayload>(make_payload(11, "unique payload"));
}

void clear_zoo()
{
    std::vector<int>().swap(zoo_vector_int);
    std::vector<std::string>().swap(zoo_vector_string);
    std::string().swap(zoo_short_string);
    std::string().swap(zoo_long_string);
    zoo_map.clear();
    std::unordered_map<std::string, int>().swap(zoo_unordered_map);
    zoo_list.clear();
    std::deque<int>().swap(zoo_deque);
    zoo_shared_alias.reset();
    zoo_shared.reset();
    zoo_unique.reset();
}

} // namespace

int main(int argc, char **argv)
{
    enum example_mode mode = example_parse_mode(argc, argv);

    build_zoo();
    example_after_build(mode);
    clear_zoo();
    return 0;
}
