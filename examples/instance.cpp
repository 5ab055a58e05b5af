// instance.cpp - an optimisation-problem instance built from standard C++
// containers, kept in the global variable `instance` (type ommx::Instance).
//
// Containers used: std::vector, std::string (short ones stay in the SSO
// buffer, long ones go to the heap), std::unordered_map (linear and quadratic
// terms), std::map (variables and constraints by id, parameters),
// std::optional.
//
// Sizes (deterministic, splitmix64 with a fixed seed): 2000 decision
// variables, 300 constraints (8..12 linear, 2..4 quadratic terms each),
// 10 one-hot and 10 SOS1 hints, objective with 500 linear and 100 quadratic
// terms.
//
// valgrind --leak-check=full: no leaks (the instance is reset before exit).
//
// Expected `memprof logical instance` totals: when the environment variable
// MEMPROF_EXPECTED names a file, the program writes there, before holding,
// one line per top-level member of `instance` ("member LOGICAL ALLOCATED
// BLOCKS") and a "total" line, computed here from sizeof, size(),
// capacity(), bucket_count() and malloc_usable_size of every block, by the
// rules of docs/logical.md.  Node addresses come from libstdc++'s layouts
// (a map node's value follows its 32-byte _Rb_tree_node_base, a hash
// node's its next pointer).  Written with open(2)/write(2): the heap is
// unchanged.

#include <cstdint>
#include <fcntl.h>
#include <malloc.h>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "example_common.h"

namespace ommx {

enum class Kind : std::uint8_t {
    Binary = 1,
    Integer = 2,
    Continuous = 3,
    SemiInteger = 4,
    SemiContinuous = 5,
};

enum class Equality : std::uint8_t {
    EqualToZero = 1,
    LessThanOrEqualToZero = 2,
};

enum class Sense : std::uint8_t {
    Minimize = 1,
    Maximize = 2,
};

struct Bound {
    double lower = 0.0;
    double upper = 0.0;
};

struct DecisionVariableMetadata {
    std::optional<std::string> description;
    std::map<std::string, std::string> parameters;
    std::vector<std::int64_t> subscripts;
};

struct DecisionVariable {
    std::uint64_t id = 0;
    Kind kind = Kind::Continuous;
    Bound bound;
    std::string name;
    std::optional<double> substituted_value;
    DecisionVariableMetadata metadata;
};

struct VariablePair {
    std::uint64_t lo = 0;
    std::uint64_t hi = 0;
    bool operator==(const VariablePair &other) const
    {
        return lo == other.lo && hi == other.hi;
    }
};

struct VariablePairHash {
    std::size_t operator()(const VariablePair &p) const noexcept
    {
        std::uint64_t x = p.lo * 0x9e3779b97f4a7c15ULL ^ p.hi;
        x ^= x >> 33;
        x *= 0xff51afd7ed558ccdULL;
        x ^= x >> 33;
        return static_cast<std::size_t>(x);
    }
};

struct Function {
    double constant = 0.0;
    std::unordered_map<std::uint64_t, double> linear;
    std::unordered_map<VariablePair, double, VariablePairHash> quadratic;
};

struct Constraint {
    std::uint64_t id = 0;
    Equality equality = Equality::EqualToZero;
    Function function;
    std::string name;
    std::optional<std::string> description;
    std::map<std::string, std::string> parameters;
};

struct OneHot {
    std::uint64_t constraint_id = 0;
    std::vector<std::uint64_t> variables;
};

struct Sos1 {
    std::uint64_t binary_constraint_id = 0;
    std::vector<std::uint64_t> big_m_constraint_ids;
    std::vector<std::uint64_t> variables;
};

struct ConstraintHints {
    std::vector<OneHot> one_hot_constraints;
    std::vector<Sos1> sos1_constraints;
};

struct InstanceDescription {
    std::optional<std::string> name;
    std::optional<std::string> description;
    std::vector<std::string> authors;
    std::optional<std::string> created_by;
};

struct Instance {
    InstanceDescription description;
    Sense sense = Sense::Minimize;
    Function objective;
    std::map<std::uint64_t, DecisionVariable> decision_variables;
    std::map<std::uint64_t, Constraint> constraints;
    ConstraintHints constraint_hints;
    std::unordered_map<std::string, std::string> parameters;
};

} // namespace ommx

// The root a debugger or memprof finds by name.
ommx::Instance instance;

namespace {

constexpr std::uint64_t kVariables = 2000;
constexpr std::uint64_t kConstraints = 300;
constexpr std::size_t kOneHot = 10;
constexpr std::size_t kSos1 = 10;
constexpr std::size_t kObjectiveLinear = 500;
constexpr std::size_t kObjectiveQuadratic = 100;

std::uint64_t rng_state = 0x5eed0fe1a7cafe01ULL;

std::uint64_t rng_next()
{
    std::uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

std::uint64_t rng_below(std::uint64_t n)
{
    return rng_next() % n;
}

double rng_range(double lo, double hi)
{
    double unit = static_cast<double>(rng_next() >> 11) * (1.0 / 9007199254740992.0);
    double v = lo + unit * (hi - lo);
    return static_cast<double>(static_cast<std::int64_t>(v * 1024.0)) / 1024.0;
}

std::string numbered(const char *prefix, std::uint64_t n)
{
    char buf[128];
    std::snprintf(buf, sizeof buf, "%s%llu", prefix, static_cast<unsigned long long>(n));
    return std::string(buf);
}

ommx::Function random_function(std::size_t n_linear, std::size_t n_quadratic)
{
    ommx::Function f;
    f.constant = rng_range(-10.0, 10.0);
    for (std::size_t i = 0; i < n_linear; i++)
        f.linear[rng_below(kVariables)] += rng_range(-5.0, 5.0);
    for (std::size_t i = 0; i < n_quadratic; i++) {
        std::uint64_t a = rng_below(kVariables);
        std::uint64_t b = rng_below(kVariables);
        ommx::VariablePair key{a < b ? a : b, a < b ? b : a};
        f.quadratic[key] += rng_range(-2.0, 2.0);
    }
    return f;
}

std::map<std::string, std::string> make_parameters(std::size_t n, const char *prefix,
                                                   std::uint64_t id)
{
    static const char *const keys[] = {"group", "priority", "source", "unit"};
    std::map<std::string, std::string> params;
    for (std::size_t i = 0; i < n; i++) {
        char buf[96];
        std::snprintf(buf, sizeof buf, "%s-%llu-%zu", prefix,
                      static_cast<unsigned long long>(id % 37), i);
        params.emplace(keys[i % 4], buf);
    }
    return params;
}

ommx::DecisionVariable make_variable(std::uint64_t id)
{
    ommx::DecisionVariable v;
    v.id = id;
    int pick = static_cast<int>(id % 10);
    if (pick < 6) {
        v.kind = ommx::Kind::Binary;
        v.bound = {0.0, 1.0};
        v.name = "x";
    } else if (pick < 8) {
        v.kind = ommx::Kind::Integer;
        v.bound = {0.0, static_cast<double>(1 + rng_below(20))};
        v.name = "n";
    } else if (pick == 8) {
        v.kind = ommx::Kind::Continuous;
        double lower = -rng_range(0.0, 100.0);
        v.bound = {lower, rng_range(0.0, 100.0)};
        v.name = "flow";
    } else {
        v.kind = (id % 20 == 9) ? ommx::Kind::SemiContinuous : ommx::Kind::SemiInteger;
        v.bound = {1.0, 10.0};
        v.name = "level";
    }
    if (id % 50 == 7)
        v.substituted_value = 1.0;
    if (id % 10 == 3)
        v.metadata.description = numbered("decision variable of the example instance #", id);
    v.metadata.parameters = make_parameters(static_cast<std::size_t>(id % 3), "var", id);
    v.metadata.subscripts = {static_cast<std::int64_t>(id / 50), static_cast<std::int64_t>(id % 50)};
    return v;
}

ommx::Constraint make_constraint(std::uint64_t id)
{
    ommx::Constraint c;
    c.id = id;
    c.equality = (id % 3 == 0) ? ommx::Equality::EqualToZero
                               : ommx::Equality::LessThanOrEqualToZero;
    std::size_t n_linear = 8 + static_cast<std::size_t>(rng_below(5));
    std::size_t n_quadratic = 2 + static_cast<std::size_t>(rng_below(3));
    c.function = random_function(n_linear, n_quadratic);
    c.name = numbered((id % 2) ? "capacity_" : "demand_", id);
    if (id % 25 == 0)
        c.description = numbered("constraint that keeps the example feasible #", id);
    c.parameters = make_parameters(1 + static_cast<std::size_t>(id % 2), "con", id);
    return c;
}

void build_instance()
{
    ommx::InstanceDescription &d = instance.description;
    d.name = "memprof-example-facility-location";
    d.description = "A facility location model with capacity and demand constraints, "
                    "generated deterministically for memprof's examples.";
    d.authors = {"Ada Example", "Grace Sample", "Edsger Instance"};
    d.created_by = "memprof examples/instance.cpp";

    instance.sense = ommx::Sense::Minimize;
    instance.objective = random_function(kObjectiveLinear, kObjectiveQuadratic);

    for (std::uint64_t id = 0; id < kVariables; id++)
        instance.decision_variables.emplace(id, make_variable(id));
    for (std::uint64_t id = 0; id < kConstraints; id++)
        instance.constraints.emplace(id, make_constraint(id));

    ommx::ConstraintHints &h = instance.constraint_hints;
    for (std::size_t i = 0; i < kOneHot; i++) {
        ommx::OneHot o;
        o.constraint_id = i * 3;
        std::size_t n = 5 + static_cast<std::size_t>(rng_below(11));
        for (std::size_t j = 0; j < n; j++)
            o.variables.push_back(i * 100 + j * 10);
        h.one_hot_constraints.push_back(std::move(o));
    }
    for (std::size_t i = 0; i < kSos1; i++) {
        ommx::Sos1 s;
        s.binary_constraint_id = 100 + i;
        std::size_t n = 2 + static_cast<std::size_t>(rng_below(4));
        for (std::size_t j = 0; j < n; j++) {
            s.big_m_constraint_ids.push_back(200 + i * 8 + j);
            s.variables.push_back(1000 + i * 50 + j);
        }
        h.sos1_constraints.push_back(std::move(s));
    }

    for (std::size_t i = 0; i < 5; i++)
        instance.parameters.emplace(numbered("instance-parameter-", i),
                                    numbered("value-of-instance-parameter-", i));
}

void free_instance()
{
    // Move-assigning a fresh object releases every heap block of the old one.
    instance = ommx::Instance();
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

template <class T>
void heap(Tally &, const T &, typename std::enable_if<std::is_arithmetic<T>::value ||
                                                      std::is_enum<T>::value>::type * = nullptr)
{
}

void heap(Tally &t, const std::string &s)
{
    if (s.capacity() > 15)  // not in the short-string buffer
        t.block(s.data(), s.size() + 1);
}

template <class T> void heap(Tally &t, const std::optional<T> &o)
{
    if (o)
        heap(t, *o);
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
    using Node = std::_Rb_tree_node<typename std::map<K, V>::value_type>;
    for (const auto &kv : m) {
        const char *node = reinterpret_cast<const char *>(&kv) - sizeof(std::_Rb_tree_node_base);
        t.block(node, sizeof(Node));
        heap(t, kv.first);
        heap(t, kv.second);
    }
}

template <class K, class V, class H> void heap(Tally &t, const std::unordered_map<K, V, H> &m)
{
    using Node = std::__detail::_Hash_node<typename std::unordered_map<K, V, H>::value_type,
                                           std::__cache_default<K, H>::value>;
    if (m.bucket_count() > 1)  // else the single inline bucket
        t.block(*reinterpret_cast<void *const *>(&m), m.bucket_count() * sizeof(void *));
    for (const auto &kv : m) {
        const char *node = reinterpret_cast<const char *>(&kv) - sizeof(void *);
        t.block(node, sizeof(Node));
        heap(t, kv.first);
        heap(t, kv.second);
    }
}

void heap(Tally &t, const ommx::VariablePair &) { (void)t; }

void heap(Tally &t, const ommx::Function &f)
{
    heap(t, f.linear);
    heap(t, f.quadratic);
}

void heap(Tally &t, const ommx::DecisionVariable &v)
{
    heap(t, v.name);
    heap(t, v.metadata.description);
    heap(t, v.metadata.parameters);
    heap(t, v.metadata.subscripts);
}

void heap(Tally &t, const ommx::Constraint &c)
{
    heap(t, c.function);
    heap(t, c.name);
    heap(t, c.description);
    heap(t, c.parameters);
}

void heap(Tally &t, const ommx::OneHot &o) { heap(t, o.variables); }

void heap(Tally &t, const ommx::Sos1 &s)
{
    heap(t, s.big_m_constraint_ids);
    heap(t, s.variables);
}

void heap(Tally &t, const ommx::ConstraintHints &h)
{
    heap(t, h.one_hot_constraints);
    heap(t, h.sos1_constraints);
}

void heap(Tally &t, const ommx::InstanceDescription &d)
{
    heap(t, d.name);
    heap(t, d.description);
    heap(t, d.authors);
    heap(t, d.created_by);
}

struct ExpectedWriter {
    int fd;
    Tally total;
    std::size_t members = 0;

    template <class T> void member(const char *name, const T &value)
    {
        Tally t;
        t.logical = t.allocated = sizeof(T);
        heap(t, value);
        line(name, t);
        members += sizeof(T);
    }
    void line(const char *name, const Tally &t)
    {
        char buf[160];
        int n = std::snprintf(buf, sizeof buf, "%s %zu %zu %zu\n", name, t.logical,
                              t.allocated, t.blocks);
        if (n > 0)
            example_write_all(fd, buf, static_cast<std::size_t>(n));
        if (std::strcmp(name, "total") != 0) {
            total.logical += t.logical;
            total.allocated += t.allocated;
            total.blocks += t.blocks;
        }
    }
};

void write_expected(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return;
    ExpectedWriter w{fd, Tally()};
    w.member("description", instance.description);
    w.member("sense", instance.sense);
    w.member("objective", instance.objective);
    w.member("decision_variables", instance.decision_variables);
    w.member("constraints", instance.constraints);
    w.member("constraint_hints", instance.constraint_hints);
    w.member("parameters", instance.parameters);
    Tally padding;
    padding.logical = padding.allocated = sizeof instance - w.members;
    w.line("[padding]", padding);
    Tally total = w.total;
    w.line("total", total);
    close(fd);
}

} // namespace

int main(int argc, char **argv)
{
    enum example_mode mode = example_parse_mode(argc, argv);
    const char *expected = std::getenv("MEMPROF_EXPECTED");

    build_instance();
    if (expected != nullptr && *expected != '\0')
        write_expected(expected);
    example_after_build(mode);
    free_instance();
    return 0;
}
