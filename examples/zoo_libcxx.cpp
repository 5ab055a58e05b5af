// zoo_libcxx.cpp - one global of each common container of LLVM's libc++
// (built with clang++ -stdlib=libc++), for checking how memprof reads
// libc++ containers.  Every global is named lx_*.
//
//   lx_vector_int        std::vector<int>: 1000 push_backs (capacity 1024)
//   lx_vector_string     std::vector<std::string>, reserved to 64: even
//                        indices short (in the object), odd ones 40 chars
//   lx_short_string      "short" (in the object: no heap)
//   lx_long_string       100 chars
//   lx_map               std::map<int, std::string>: 100 entries, every
//                        tenth value long (30 chars)
//   lx_set               std::set<long>: 50 entries
//   lx_unordered_map     std::unordered_map<std::string, int>: 200 entries
//   lx_unordered_set     std::unordered_set<int>: 100 entries
//   lx_list              std::list<int>: 300 nodes
//   lx_deque             std::deque<int>: 3000 push_backs, 100 push_fronts
//   lx_shared            struct SharedGroup: two shared_ptrs and a weak_ptr
//                        to one make_shared object (one block, counted
//                        once), and a shared_ptr made from a `new` object
//                        with a weak_ptr to it (two blocks)
//   lx_unique            std::unique_ptr<Payload>
//   lx_optional          std::optional<std::string>, engaged, 40 chars
//   lx_optional_empty    std::optional<std::vector<int>>, empty
//   lx_variant           std::variant<int, std::string, std::vector<long>>
//                        holding a vector of 100 longs
//   lx_variant_string    the same variant type holding a 50-char string
//   lx_function_small    std::function<long(long)> holding a small functor
//                        (in its buffer: no heap)
//   lx_function_big      std::function<long(long)> holding a 72-byte functor
//                        (on the heap)
//
// Payload is 64 bytes: id, weight, a 40-byte label, next (null).
//
// Expected `memprof logical lx_*` totals: when MEMPROF_EXPECTED names a
// file, the program writes there, before holding, one line per global
// ("lx_name LOGICAL ALLOCATED BLOCKS"), computed here by the rules of
// docs/logical.md from sizeof, size(), capacity(), bucket_count(),
// malloc_usable_size of every block and block counts.  Node addresses come
// from libc++'s layouts (a map node's value follows its __tree_node_base,
// a hash node's its next pointer and hash, a list node's its two links);
// the control block of a shared_ptr made from `new` is found by the
// allocator it was made with, which records what it allocates.  Written
// with open(2)/write(2): the heap is unchanged.
//
// valgrind --leak-check=full: no leaks (everything is released before exit).

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fcntl.h>
#include <functional>
#include <list>
#include <malloc.h>
#include <map>
#include <memory>
#include <new>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <variant>
#include <vector>

#include "example_common.h"

#ifndef _LIBCPP_VERSION
#error "zoo_libcxx.cpp is for libc++: build with clang++ -stdlib=libc++"
#endif

struct Payload {
    std::uint64_t id;
    double weight;
    char label[40];
    Payload *next;
};

// Records the one block it hands out (the control block of lx_shared.owned).
static void *recorded_block;
static std::size_t recorded_bytes;

template <class T> struct RecordingAllocator {
    using value_type = T;
    RecordingAllocator() = default;
    template <class U> RecordingAllocator(const RecordingAllocator<U> &) {}
    T *allocate(std::size_t n)
    {
        void *p = ::operator new(n * sizeof(T));
        recorded_block = p;
        recorded_bytes = n * sizeof(T);
        return static_cast<T *>(p);
    }
    void deallocate(T *p, std::size_t) { ::operator delete(p); }
    template <class U> bool operator==(const RecordingAllocator<U> &) const { return true; }
    template <class U> bool operator!=(const RecordingAllocator<U> &) const { return false; }
};

struct SharedGroup {
    std::shared_ptr<Payload> first;
    std::shared_ptr<Payload> second;   // the same object as first
    std::weak_ptr<Payload> watcher;    // and a weak pointer to it
    std::shared_ptr<Payload> owned;    // made from `new`: a separate control block
    std::weak_ptr<Payload> owned_watcher;
};

struct SmallFn {
    long k;
    long operator()(long x) const { return x + k; }
};

struct BigFn {
    long table[9];
    long operator()(long x) const { return x + table[x & 7]; }
};

using Variant = std::variant<int, std::string, std::vector<long>>;

std::vector<int> lx_vector_int;
std::vector<std::string> lx_vector_string;
std::string lx_short_string;
std::string lx_long_string;
std::map<int, std::string> lx_map;
std::set<long> lx_set;
std::unordered_map<std::string, int> lx_unordered_map;
std::unordered_set<int> lx_unordered_set;
std::list<int> lx_list;
std::deque<int> lx_deque;
SharedGroup lx_shared;
std::unique_ptr<Payload> lx_unique;
std::optional<std::string> lx_optional;
std::optional<std::vector<int>> lx_optional_empty;
Variant lx_variant;
Variant lx_variant_string;
std::function<long(long)> lx_function_small;
std::function<long(long)> lx_function_big;

namespace {

Payload make_payload(std::uint64_t id, const char *label)
{
    Payload p{};
    p.id = id;
    p.weight = static_cast<double>(id) * 0.5;
    std::snprintf(p.label, sizeof p.label, "%s", label);
    p.next = nullptr;
    return p;
}

void build_zoo()
{
    for (int i = 0; i < 1000; i++)
        lx_vector_int.push_back(i);

    // Before the hash tables: the deque's map keeps slots it does not use,
    // uninitialised, and a map block that reused a freed bucket array
    // would hold stale pointers to hash nodes there.
    for (int i = 0; i < 3000; i++)
        lx_deque.push_back(i);
    for (int i = 0; i < 100; i++)
        lx_deque.push_front(-i);

    lx_vector_string.reserve(64);
    for (int i = 0; i < 64; i++) {
        char buf[64];
        if (i % 2 == 0)
            std::snprintf(buf, sizeof buf, "s%02d", i);
        else
            std::snprintf(buf, sizeof buf, "a-long-string-on-the-heap-number-%07d", i);
        lx_vector_string.emplace_back(buf);
    }

    lx_short_string = "short";
    lx_long_string.assign(100, 'L');

    for (int i = 0; i < 100; i++) {
        char buf[64];
        if (i % 10 == 0)
            std::snprintf(buf, sizeof buf, "a-long-map-value-number-%06d", i);
        else
            std::snprintf(buf, sizeof buf, "value-%02d", i);
        lx_map.emplace(i, buf);
    }
    for (long i = 0; i < 50; i++)
        lx_set.insert(i * 7);

    for (int i = 0; i < 200; i++) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "key-number-%03d", i);
        lx_unordered_map.emplace(buf, i);
    }
    for (int i = 0; i < 100; i++)
        lx_unordered_set.insert(i * 3);

    for (int i = 0; i < 300; i++)
        lx_list.push_back(i);

    lx_shared.first = std::make_shared<Payload>(make_payload(7, "shared payload"));
    lx_shared.second = lx_shared.first;
    lx_shared.watcher = lx_shared.first;
    lx_shared.owned = std::shared_ptr<Payload>(new Payload(make_payload(8, "owned payload")),
                                               std::default_delete<Payload>(),
                                               RecordingAllocator<Payload>());
    lx_shared.owned_watcher = lx_shared.owned;
    lx_unique = std::make_unique<Payload>(make_payload(11, "unique payload"));

    lx_optional = std::string(40, 'o');
    lx_variant = std::vector<long>(100, 5);
    lx_variant_string = std::string(50, 'v');

    lx_function_small = SmallFn{3};
    BigFn big{};
    for (int i = 0; i < 9; i++)
        big.table[i] = i;
    lx_function_big = big;
}

void clear_zoo()
{
    std::vector<int>().swap(lx_vector_int);
    std::vector<std::string>().swap(lx_vector_string);
    std::string().swap(lx_short_string);
    std::string().swap(lx_long_string);
    lx_map.clear();
    lx_set.clear();
    std::unordered_map<std::string, int>().swap(lx_unordered_map);
    std::unordered_set<int>().swap(lx_unordered_set);
    lx_list.clear();
    std::deque<int>().swap(lx_deque);
    lx_shared = SharedGroup();
    lx_unique.reset();
    lx_optional.reset();
    lx_variant = 0;
    lx_variant_string = 0;
    lx_function_small = nullptr;
    lx_function_big = nullptr;
}

// ------------------------------------------------------------------
// What memprof logical must report (see the comment at the top)

struct Tally {
    std::size_t logical = 0, allocated = 0, blocks = 0;
    void block(const void *p, std::size_t bytes)
    {
        logical += bytes;
        allocated += malloc_usable_size(const_cast<void *>(p));
        blocks++;
    }
};

void heap(Tally &, int) {}
void heap(Tally &, long) {}

void heap(Tally &t, const std::string &s)
{
    // The short form keeps up to 22 characters in the object itself.
    if (s.capacity() > 22)
        t.block(s.data(), s.size() + 1);
}

template <class T> void heap(Tally &t, const std::vector<T> &v)
{
    if (v.capacity())
        t.block(v.data(), v.size() * sizeof(T));
    for (const T &e : v)
        heap(t, e);
}

template <class K, class V> void heap(Tally &t, const std::map<K, V> &m)
{
    using Node = std::__1::__tree_node<std::__1::__value_type<K, V>, void *>;
    for (const auto &kv : m) {
        const char *node = reinterpret_cast<const char *>(&kv) -
                           sizeof(std::__1::__tree_node_base<void *>);
        t.block(node, sizeof(Node));
        heap(t, kv.first);
        heap(t, kv.second);
    }
}

template <class T> void heap(Tally &t, const std::set<T> &s)
{
    using Node = std::__1::__tree_node<T, void *>;
    for (const T &v : s)
        t.block(reinterpret_cast<const char *>(&v) - sizeof(std::__1::__tree_node_base<void *>),
                sizeof(Node));
}

// A hash node is its next pointer, its hash, then the value.
constexpr std::size_t kHashNodeHeader = sizeof(void *) + sizeof(std::size_t);

template <class C> void buckets(Tally &t, const C &c)
{
    // The bucket array is the table's first word.
    if (c.bucket_count())
        t.block(*reinterpret_cast<void *const *>(&c), c.bucket_count() * sizeof(void *));
}

template <class K, class V> void heap(Tally &t, const std::unordered_map<K, V> &m)
{
    using Node = std::__1::__hash_node<std::__1::__hash_value_type<K, V>, void *>;
    buckets(t, m);
    for (const auto &kv : m) {
        t.block(reinterpret_cast<const char *>(&kv) - kHashNodeHeader, sizeof(Node));
        heap(t, kv.first);
        heap(t, kv.second);
    }
}

template <class T> void heap(Tally &t, const std::unordered_set<T> &s)
{
    using Node = std::__1::__hash_node<T, void *>;
    buckets(t, s);
    for (const T &v : s)
        t.block(reinterpret_cast<const char *>(&v) - kHashNodeHeader, sizeof(Node));
}

template <class T> void heap(Tally &t, const std::list<T> &l)
{
    using Node = std::__1::__list_node<T, void *>;
    for (const T &v : l)
        t.block(reinterpret_cast<const char *>(&v) - 2 * sizeof(void *), sizeof(Node));
}

// The deque's map is a __split_buffer at its start: first, begin, end,
// end of capacity.  Each block between begin and end holds 4096 bytes of
// elements; the elements in use are the ones whose address is inside it.
template <class T> void heap(Tally &t, const std::deque<T> &d)
{
    T **const *map = reinterpret_cast<T **const *>(&d);
    T **first = map[0], **begin = map[1], **end = map[2], **cap = map[3];
    if (!first)
        return;
    t.block(first, static_cast<std::size_t>(cap - first) * sizeof(T *));
    for (T **slot = begin; slot < end; slot++) {
        const T *block = *slot;
        std::size_t used = 0;
        for (const T &e : d)
            used += &e >= block && &e < block + 4096 / sizeof(T);
        t.block(block, used * sizeof(T));
    }
}

template <class T> void heap(Tally &t, const std::unique_ptr<T> &p)
{
    if (p)
        t.block(p.get(), sizeof(T));
}

template <class T> void heap(Tally &t, const std::optional<T> &o)
{
    if (o)
        heap(t, *o);
}

void heap(Tally &t, const Variant &v)
{
    std::visit([&t](const auto &alt) { heap(t, alt); }, v);
}

void heap(Tally &t, const SharedGroup &g)
{
    // make_shared: one block, its control header (vptr and two counts)
    // followed by the object.
    const char *object = reinterpret_cast<const char *>(g.first.get());
    t.block(object - sizeof(std::__1::__shared_weak_count),
            sizeof(std::__1::__shared_weak_count) + sizeof(Payload));
    // From `new`: the control block (header and the owned pointer; the
    // deleter and allocator are empty) as its allocator saw it, and the
    // object in its own block.
    t.block(recorded_block, recorded_bytes);
    t.block(g.owned.get(), sizeof(Payload));
}

// A callable that does not fit the 24-byte buffer lives on the heap behind
// a vtable pointer; its type is known only to that vtable, so its whole
// block counts.
template <class F> void heap(Tally &t, const std::function<long(long)> &f)
{
    const char *target = reinterpret_cast<const char *>(f.template target<F>());
    const char *object = reinterpret_cast<const char *>(&f);
    if (target && (target < object || target >= object + sizeof f)) {
        const char *block = target - sizeof(void *);
        t.block(block, malloc_usable_size(const_cast<char *>(block)));
    }
}

struct ExpectedWriter {
    int fd;

    template <class T> void global(const char *name, const T &value)
    {
        Tally t;
        t.logical = t.allocated = sizeof(T);
        heap(t, value);
        line(name, t);
    }
    template <class F> void function(const char *name, const std::function<long(long)> &f)
    {
        Tally t;
        t.logical = t.allocated = sizeof f;
        heap<F>(t, f);
        line(name, t);
    }
    void line(const char *name, const Tally &t)
    {
        char buf[160];
        int n = std::snprintf(buf, sizeof buf, "%s %zu %zu %zu\n", name, t.logical,
                              t.allocated, t.blocks);
        if (n > 0)
            example_write_all(fd, buf, static_cast<std::size_t>(n));
    }
};

void write_expected(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return;
    ExpectedWriter w{fd};
    w.global("lx_vector_int", lx_vector_int);
    w.global("lx_vector_string", lx_vector_string);
    w.global("lx_short_string", lx_short_string);
    w.global("lx_long_string", lx_long_string);
    w.global("lx_map", lx_map);
    w.global("lx_set", lx_set);
    w.global("lx_unordered_map", lx_unordered_map);
    w.global("lx_unordered_set", lx_unordered_set);
    w.global("lx_list", lx_list);
    w.global("lx_deque", lx_deque);
    w.global("lx_shared", lx_shared);
    w.global("lx_unique", lx_unique);
    w.global("lx_optional", lx_optional);
    w.global("lx_optional_empty", lx_optional_empty);
    w.global("lx_variant", lx_variant);
    w.global("lx_variant_string", lx_variant_string);
    w.function<SmallFn>("lx_function_small", lx_function_small);
    w.function<BigFn>("lx_function_big", lx_function_big);
    close(fd);
}

} // namespace

int main(int argc, char **argv)
{
    enum example_mode mode = example_parse_mode(argc, argv);
    const char *expected = std::getenv("MEMPROF_EXPECTED");

    build_zoo();
    if (expected != nullptr && *expected != '\0')
        write_expected(expected);
    example_after_build(mode);
    clear_zoo();
    return 0;
}
