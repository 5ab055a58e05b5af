/*
 * instance.c - an optimisation-problem instance (decision variables,
 * constraints with linear and quadratic terms, constraint hints, metadata)
 * kept in the global variable `instance`, for logical memory profiling.
 *
 * Layout conventions a DWARF reader can rely on:
 *   - every dynamic array is a pointer with a sibling `<name>_len` field
 *     (and `<name>_cap` where the array grows by doubling, so there is slack);
 *   - hash maps are chained: `buckets` (array of `n_buckets` list heads),
 *     `len` entries in total, each entry a heap node linked through `next`;
 *   - strings are NUL-terminated `char *` on the heap, NULL when absent.
 *
 * Sizes (deterministic, splitmix64 with a fixed seed):
 *   2000 decision variables, 300 constraints (8..12 linear, 2..4 quadratic
 *   terms each), 10 one-hot and 10 SOS1 hints, objective with 500 linear and
 *   100 quadratic terms.
 *
 * valgrind --leak-check=full: no leaks (everything is freed before exit).
 *
 * Expected `memprof logical instance` totals: when the environment variable
 * MEMPROF_EXPECTED names a file, the program writes there, before holding,
 * one line per top-level member of `instance` ("member LOGICAL ALLOCATED
 * BLOCKS") and a "total" line, computed here by the rules of
 * docs/logical.md: sizeof for inline bytes, strlen + 1 for strings,
 * len * sizeof for arrays, malloc_usable_size for allocated bytes, one
 * block per allocation.  The file is written with open(2)/write(2) from a
 * stack buffer, so the heap is unchanged.
 */
#include <fcntl.h>
#include <malloc.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "example_common.h"

#define N_VARIABLES 2000
#define N_CONSTRAINTS 300
#define N_ONE_HOT 10
#define N_SOS1 10
#define N_OBJECTIVE_LINEAR 500
#define N_OBJECTIVE_QUADRATIC 100

enum var_kind {
    VAR_KIND_BINARY = 1,
    VAR_KIND_INTEGER = 2,
    VAR_KIND_CONTINUOUS = 3,
    VAR_KIND_SEMI_INTEGER = 4,
    VAR_KIND_SEMI_CONTINUOUS = 5
};

enum constraint_kind {
    CONSTRAINT_EQUAL_TO_ZERO = 1,
    CONSTRAINT_LESS_THAN_OR_EQUAL_TO_ZERO = 2
};

enum sense {
    SENSE_MINIMIZE = 1,
    SENSE_MAXIMIZE = 2
};

struct parameter {
    char *key;
    char *value;
};

struct variable_metadata {
    char *description;              /* NULL for most variables */
    struct parameter *parameters;
    size_t parameters_len;
    int64_t *subscripts;
    size_t subscripts_len;
};

struct decision_variable {
    uint64_t id;
    enum var_kind kind;             /* 4-byte hole after it, on purpose */
    double lower;
    double upper;
    char *name;
    struct variable_metadata metadata;
};

/* Linear part of a function: variable id -> coefficient. */
struct linear_term {
    uint64_t var_id;
    double coefficient;
    struct linear_term *next;
};

struct linear_map {
    struct linear_term **buckets;
    size_t n_buckets;
    size_t len;
};

/* Quadratic part: (lo, hi) variable pair with lo <= hi -> coefficient. */
struct variable_pair {
    uint64_t lo;
    uint64_t hi;
};

struct quadratic_term {
    struct variable_pair key;
    double coefficient;
    struct quadratic_term *next;
};

struct quadratic_map {
    struct quadratic_term **buckets;
    size_t n_buckets;
    size_t len;
};

struct function {
    double constant;
    struct linear_map linear;
    struct quadratic_map quadratic;
};

struct constraint {
    uint64_t id;
    enum constraint_kind kind;
    struct function function;
    char *name;
    struct parameter *parameters;
    size_t parameters_len;
    char *description;              /* NULL for most constraints */
};

struct one_hot {
    uint64_t constraint_id;
    uint64_t *variables;
    size_t variables_len;
};

struct sos1 {
    uint64_t binary_constraint_id;
    uint64_t *big_m_constraint_ids;
    size_t big_m_constraint_ids_len;
    uint64_t *variables;
    size_t variables_len;
};

struct constraint_hints {
    struct one_hot *one_hot;
    size_t one_hot_len;
    struct sos1 *sos1;
    size_t sos1_len;
};

struct instance_description {
    char *name;
    char *description;
    char **authors;
    size_t authors_len;
    char *created_by;
};

struct instance {
    struct instance_description description;
    enum sense sense;
    struct function objective;
    struct decision_variable *decision_variables;
    size_t decision_variables_len;
    size_t decision_variables_cap;
    struct constraint *constraints;
    size_t constraints_len;
    size_t constraints_cap;
    struct constraint_hints constraint_hints;
    struct parameter *parameters;
    size_t parameters_len;
};

/* The root a debugger or memprof finds by name. */
struct instance instance;

/* ------------------------------------------------------------------ */
/* Small helpers                                                       */

static uint64_t rng_state = 0x5eed0fe1a7cafe01ULL;

static uint64_t rng_next(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t rng_below(uint64_t n)
{
    return rng_next() % n;
}

/* Uniform in [lo, hi), rounded to 1/1024 so printed values stay short. */
static double rng_range(double lo, double hi)
{
    double unit = (double)(rng_next() >> 11) * (1.0 / 9007199254740992.0);
    double v = lo + unit * (hi - lo);
    return (double)(int64_t)(v * 1024.0) / 1024.0;
}

static void *xmalloc(size_t size)
{
    void *p = malloc(size);
    if (p == NULL) {
        fprintf(stderr, "instance: out of memory\n");
        exit(1);
    }
    return p;
}

static void *xcalloc(size_t count, size_t size)
{
    void *p = calloc(count, size);
    if (p == NULL) {
        fprintf(stderr, "instance: out of memory\n");
        exit(1);
    }
    return p;
}

static void *xrealloc(void *old, size_t size)
{
    void *p = realloc(old, size);
    if (p == NULL) {
        fprintf(stderr, "instance: out of memory\n");
        exit(1);
    }
    return p;
}

static char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = xmalloc(n);
    memcpy(p, s, n);
    return p;
}

__attribute__((format(printf, 1, 2)))
static char *xasprintf(const char *fmt, ...)
{
    char small[256];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof small) {
        fprintf(stderr, "instance: string too long\n");
        exit(1);
    }
    return xstrdup(small);
}

/* ------------------------------------------------------------------ */
/* Hash maps                                                           */

static size_t hash_u64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return (size_t)x;
}

static size_t hash_pair(struct variable_pair key)
{
    return hash_u64(key.lo * 0x9e3779b97f4a7c15ULL ^ key.hi);
}

static void linear_map_init(struct linear_map *m)
{
    m->n_buckets = 8;
    m->len = 0;
    m->buckets = xcalloc(m->n_buckets, sizeof *m->buckets);
}

static void linear_map_grow(struct linear_map *m)
{
    size_t n = m->n_buckets * 2;
    struct linear_term **b = xcalloc(n, sizeof *b);
    size_t i;

    for (i = 0; i < m->n_buckets; i++) {
        struct linear_term *t = m->buckets[i];
        while (t != NULL) {
            struct linear_term *next = t->next;
            size_t h = hash_u64(t->var_id) & (n - 1);
            t->next = b[h];
            b[h] = t;
            t = next;
        }
    }
    free(m->buckets);
    m->buckets = b;
    m->n_buckets = n;
}

/* Adds coefficient to the term of var_id, creating it if needed. */
static void linear_map_add(struct linear_map *m, uint64_t var_id, double coefficient)
{
    size_t h = hash_u64(var_id) & (m->n_buckets - 1);
    struct linear_term *t;

    for (t = m->buckets[h]; t != NULL; t = t->next) {
        if (t->var_id == var_id) {
            t->coefficient += coefficient;
            return;
        }
    }
    if (m->len + 1 > m->n_buckets * 3 / 4) {
        linear_map_grow(m);
        h = hash_u64(var_id) & (m->n_buckets - 1);
    }
    t = xmalloc(sizeof *t);
    t->var_id = var_id;
    t->coefficient = coefficient;
    t->next = m->buckets[h];
    m->buckets[h] = t;
    m->len++;
}

static void linear_map_free(struct linear_map *m)
{
    size_t i;

    for (i = 0; i < m->n_buckets; i++) {
        struct linear_term *t = m->buckets[i];
        while (t != NULL) {
            struct linear_term *next = t->next;
            free(t);
            t = next;
        }
    }
    free(m->buckets);
    m->buckets = NULL;
    m->n_buckets = 0;
    m->len = 0;
}

static void quadratic_map_init(struct quadratic_map *m)
{
    m->n_buckets = 4;
    m->len = 0;
    m->buckets = xcalloc(m->n_buckets, sizeof *m->buckets);
}

static void quadratic_map_grow(struct quadratic_map *m)
{
    size_t n = m->n_buckets * 2;
    struct quadratic_term **b = xcalloc(n, sizeof *b);
    size_t i;

    for (i = 0; i < m->n_buckets; i++) {
        struct quadratic_term *t = m->buckets[i];
        while (t != NULL) {
            struct quadratic_term *next = t->next;
            size_t h = hash_pair(t->key) & (n - 1);
            t->next = b[h];
            b[h] = t;
            t = next;
        }
    }
    free(m->buckets);
    m->buckets = b;
    m->n_buckets = n;
}

static void quadratic_map_add(struct quadratic_map *m, uint64_t a, uint64_t b,
                              double coefficient)
{
    struct variable_pair key;
    struct quadratic_term *t;
    size_t h;

    key.lo = a < b ? a : b;
    key.hi = a < b ? b : a;
    h = hash_pair(key) & (m->n_buckets - 1);
    for (t = m->buckets[h]; t != NULL; t = t->next) {
        if (t->key.lo == key.lo && t->key.hi == key.hi) {
            t->coefficient += coefficient;
            return;
        }
    }
    if (m->len + 1 > m->n_buckets * 3 / 4) {
        quadratic_map_grow(m);
        h = hash_pair(key) & (m->n_buckets - 1);
    }
    t = xmalloc(sizeof *t);
    t->key = key;
    t->coefficient = coefficient;
    t->next = m->buckets[h];
    m->buckets[h] = t;
    m->len++;
}

static void quadratic_map_free(struct quadratic_map *m)
{
    size_t i;

    for (i = 0; i < m->n_buckets; i++) {
        struct quadratic_term *t = m->buckets[i];
        while (t != NULL) {
            struct quadratic_term *next = t->next;
            free(t);
            t = next;
        }
    }
    free(m->buckets);
    m->buckets = NULL;
    m->n_buckets = 0;
    m->len = 0;
}

static void function_init_random(struct function *f, size_t n_linear, size_t n_quadratic)
{
    size_t i;

    f->constant = rng_range(-10.0, 10.0);
    linear_map_init(&f->linear);
    quadratic_map_init(&f->quadratic);
    for (i = 0; i < n_linear; i++)
        linear_map_add(&f->linear, rng_below(N_VARIABLES), rng_range(-5.0, 5.0));
    for (i = 0; i < n_quadratic; i++)
        quadratic_map_add(&f->quadratic, rng_below(N_VARIABLES),
                          rng_below(N_VARIABLES), rng_range(-2.0, 2.0));
}

static void function_free(struct function *f)
{
    linear_map_free(&f->linear);
    quadratic_map_free(&f->quadratic);
}

/* ------------------------------------------------------------------ */
/* Building the instance                                               */

static struct parameter *make_parameters(size_t n, const char *prefix, uint64_t id)
{
    static const char *const keys[] = { "group", "priority", "source", "unit" };
    struct parameter *p = xmalloc(n * sizeof *p);
    size_t i;

    for (i = 0; i < n; i++) {
        p[i].key = xstrdup(keys[i % 4]);
        p[i].value = xasprintf("%s-%llu-%zu", prefix, (unsigned long long)(id % 37), i);
    }
    return p;
}

static void free_parameters(struct parameter *p, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        free(p[i].key);
        free(p[i].value);
    }
    free(p);
}

static void add_decision_variable(uint64_t id)
{
    struct decision_variable *v;
    int kind_pick = (int)(id % 10);

    if (instance.decision_variables_len == instance.decision_variables_cap) {
        size_t cap = instance.decision_variables_cap ? instance.decision_variables_cap * 2 : 16;
        instance.decision_variables =
            xrealloc(instance.decision_variables, cap * sizeof *instance.decision_variables);
        instance.decision_variables_cap = cap;
    }
    v = &instance.decision_variables[instance.decision_variables_len++];
    memset(v, 0, sizeof *v);
    v->id = id;
    if (kind_pick < 6) {
        v->kind = VAR_KIND_BINARY;
        v->lower = 0.0;
        v->upper = 1.0;
        v->name = xstrdup("x");
    } else if (kind_pick < 8) {
        v->kind = VAR_KIND_INTEGER;
        v->lower = 0.0;
        v->upper = (double)(1 + rng_below(20));
        v->name = xstrdup("n");
    } else if (kind_pick == 8) {
        v->kind = VAR_KIND_CONTINUOUS;
        v->lower = -rng_range(0.0, 100.0);
        v->upper = rng_range(0.0, 100.0);
        v->name = xstrdup("flow");
    } else {
        v->kind = (id % 20 == 9) ? VAR_KIND_SEMI_CONTINUOUS : VAR_KIND_SEMI_INTEGER;
        v->lower = 1.0;
        v->upper = 10.0;
        v->name = xstrdup("level");
    }
    if (id % 10 == 3)
        v->metadata.description =
            xasprintf("decision variable %llu of the example instance",
                      (unsigned long long)id);
    v->metadata.parameters_len = (size_t)(id % 3);
    v->metadata.parameters =
        v->metadata.parameters_len ? make_parameters(v->metadata.parameters_len, "var", id) : NULL;
    v->metadata.subscripts_len = 2;
    v->metadata.subscripts = xmalloc(2 * sizeof *v->metadata.subscripts);
    v->metadata.subscripts[0] = (int64_t)(id / 50);
    v->metadata.subscripts[1] = (int64_t)(id % 50);
}

static void add_constraint(uint64_t id)
{
    struct constraint *c;

    if (instance.constraints_len == instance.constraints_cap) {
        size_t cap = instance.constraints_cap ? instance.constraints_cap * 2 : 16;
        instance.constraints = xrealloc(instance.constraints, cap * sizeof *instance.constraints);
        instance.constraints_cap = cap;
    }
    c = &instance.constraints[instance.constraints_len++];
    memset(c, 0, sizeof *c);
    c->id = id;
    c->kind = (id % 3 == 0) ? CONSTRAINT_EQUAL_TO_ZERO : CONSTRAINT_LESS_THAN_OR_EQUAL_TO_ZERO;
    function_init_random(&c->function, 8 + (size_t)rng_below(5), 2 + (size_t)rng_below(3));
    c->name = xasprintf("%s_%llu", (id % 2) ? "capacity" : "demand",
                        (unsigned long long)id);
    c->parameters_len = 1 + (size_t)(id % 2);
    c->parameters = make_parameters(c->parameters_len, "con", id);
    if (id % 25 == 0)
        c->description = xasprintf("constraint %llu: keeps the example feasible",
                                   (unsigned long long)id);
}

static void build_hints(void)
{
    struct constraint_hints *h = &instance.constraint_hints;
    size_t i, j;

    h->one_hot_len = N_ONE_HOT;
    h->one_hot = xmalloc(N_ONE_HOT * sizeof *h->one_hot);
    for (i = 0; i < N_ONE_HOT; i++) {
        struct one_hot *o = &h->one_hot[i];
        uint64_t first = (uint64_t)i * 100;
        o->constraint_id = (uint64_t)i * 3;   /* an equality constraint */
        o->variables_len = 5 + (size_t)rng_below(11);
        o->variables = xmalloc(o->variables_len * sizeof *o->variables);
        for (j = 0; j < o->variables_len; j++)
            o->variables[j] = first + j * 10;   /* binary variables (id % 10 == 0) */
    }

    h->sos1_len = N_SOS1;
    h->sos1 = xmalloc(N_SOS1 * sizeof *h->sos1);
    for (i = 0; i < N_SOS1; i++) {
        struct sos1 *s = &h->sos1[i];
        s->binary_constraint_id = 100 + (uint64_t)i;
        s->big_m_constraint_ids_len = 2 + (size_t)rng_below(4);
        s->big_m_constraint_ids = xmalloc(s->big_m_constraint_ids_len * sizeof *s->big_m_constraint_ids);
        for (j = 0; j < s->big_m_constraint_ids_len; j++)
            s->big_m_constraint_ids[j] = 200 + (uint64_t)i * 8 + j;
        s->variables_len = s->big_m_constraint_ids_len;
        s->variables = xmalloc(s->variables_len * sizeof *s->variables);
        for (j = 0; j < s->variables_len; j++)
            s->variables[j] = 1000 + (uint64_t)i * 50 + j;
    }
}

static void build_instance(void)
{
    struct instance_description *d = &instance.description;
    uint64_t i;

    d->name = xstrdup("memprof-example-facility-location");
    d->description = xstrdup("A facility location model with capacity and demand "
                             "constraints, generated deterministically for memprof's "
                             "examples.");
    d->authors_len = 3;
    d->authors = xmalloc(d->authors_len * sizeof *d->authors);
    d->authors[0] = xstrdup("Ada Example");
    d->authors[1] = xstrdup("Grace Sample");
    d->authors[2] = xstrdup("Edsger Instance");
    d->created_by = xstrdup("memprof examples/instance.c");

    instance.sense = SENSE_MINIMIZE;
    function_init_random(&instance.objective, N_OBJECTIVE_LINEAR, N_OBJECTIVE_QUADRATIC);

    for (i = 0; i < N_VARIABLES; i++)
        add_decision_variable(i);
    for (i = 0; i < N_CONSTRAINTS; i++)
        add_constraint(i);
    build_hints();

    instance.parameters_len = 5;
    instance.parameters = make_parameters(instance.parameters_len, "instance", 0);
}

static void free_instance(void)
{
    struct instance_description *d = &instance.description;
    size_t i;

    free(d->name);
    free(d->description);
    for (i = 0; i < d->authors_len; i++)
        free(d->authors[i]);
    free(d->authors);
    free(d->created_by);

    function_free(&instance.objective);

    for (i = 0; i < instance.decision_variables_len; i++) {
        struct decision_variable *v = &instance.decision_variables[i];
        free(v->name);
        free(v->metadata.description);
        free_parameters(v->metadata.parameters, v->metadata.parameters_len);
        free(v->metadata.subscripts);
    }
    free(instance.decision_variables);

    for (i = 0; i < instance.constraints_len; i++) {
        struct constraint *c = &instance.constraints[i];
        function_free(&c->function);
        free(c->name);
        free_parameters(c->parameters, c->parameters_len);
        free(c->description);
    }
    free(instance.constraints);

    for (i = 0; i < instance.constraint_hints.one_hot_len; i++)
        free(instance.constraint_hints.one_hot[i].variables);
    free(instance.constraint_hints.one_hot);
    for (i = 0; i < instance.constraint_hints.sos1_len; i++) {
        free(instance.constraint_hints.sos1[i].big_m_constraint_ids);
        free(instance.constraint_hints.sos1[i].variables);
    }
    free(instance.constraint_hints.sos1);

    free_parameters(instance.parameters, instance.parameters_len);

    memset(&instance, 0, sizeof instance);
}

/* ------------------------------------------------------------------ */
/* What memprof logical must report (see the comment at the top)        */

struct tally {
    size_t logical;
    size_t allocated;
    size_t blocks;
};

/* A heap block p of which `logical` bytes are in use. */
static void tally_block(struct tally *t, const void *p, size_t logical)
{
    if (p == NULL)
        return;
    t->logical += logical;
    t->allocated += malloc_usable_size((void *)p);
    t->blocks++;
}

static void tally_inline(struct tally *t, size_t bytes)
{
    t->logical += bytes;
    t->allocated += bytes;
}

static void tally_string(struct tally *t, const char *s)
{
    if (s != NULL)
        tally_block(t, s, strlen(s) + 1);
}

static void tally_parameters(struct tally *t, const struct parameter *p, size_t n)
{
    size_t i;

    tally_block(t, p, n * sizeof *p);
    for (i = 0; p != NULL && i < n; i++) {
        tally_string(t, p[i].key);
        tally_string(t, p[i].value);
    }
}

/* A function's maps, without its inline bytes. */
static void tally_function(struct tally *t, const struct function *f)
{
    size_t i;

    tally_block(t, f->linear.buckets, f->linear.n_buckets * sizeof *f->linear.buckets);
    for (i = 0; i < f->linear.n_buckets; i++) {
        const struct linear_term *term;
        for (term = f->linear.buckets[i]; term != NULL; term = term->next)
            tally_block(t, term, sizeof *term);
    }
    tally_block(t, f->quadratic.buckets, f->quadratic.n_buckets * sizeof *f->quadratic.buckets);
    for (i = 0; i < f->quadratic.n_buckets; i++) {
        const struct quadratic_term *term;
        for (term = f->quadratic.buckets[i]; term != NULL; term = term->next)
            tally_block(t, term, sizeof *term);
    }
}

static void write_line(int fd, const char *name, const struct tally *t)
{
    char line[160];
    int n = snprintf(line, sizeof line, "%s %zu %zu %zu\n", name, t->logical,
                     t->allocated, t->blocks);
    if (n > 0)
        example_write_all(fd, line, (size_t)n);
}

#define MEMBER_SIZE(m) sizeof(((struct instance *)0)->m)

static void write_expected(const char *path)
{
    struct tally m, total;
    size_t i, j, members = 0;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

    if (fd < 0)
        return;
    memset(&total, 0, sizeof total);
#define EMIT(name) do { write_line(fd, name, &m); total.logical += m.logical; \
        total.allocated += m.allocated; total.blocks += m.blocks; } while (0)

    memset(&m, 0, sizeof m);
    tally_inline(&m, MEMBER_SIZE(description));
    tally_string(&m, instance.description.name);
    tally_string(&m, instance.description.description);
    tally_block(&m, instance.description.authors,
                instance.description.authors_len * sizeof(char *));
    for (i = 0; i < instance.description.authors_len; i++)
        tally_string(&m, instance.description.authors[i]);
    tally_string(&m, instance.description.created_by);
    EMIT("description");
    members += MEMBER_SIZE(description);

    memset(&m, 0, sizeof m);
    tally_inline(&m, MEMBER_SIZE(sense));
    EMIT("sense");
    members += MEMBER_SIZE(sense);

    memset(&m, 0, sizeof m);
    tally_inline(&m, MEMBER_SIZE(objective));
    tally_function(&m, &instance.objective);
    EMIT("objective");
    members += MEMBER_SIZE(objective);

    memset(&m, 0, sizeof m);
    tally_inline(&m, MEMBER_SIZE(decision_variables));
    tally_block(&m, instance.decision_variables,
                instance.decision_variables_len * sizeof *instance.decision_variables);
    for (i = 0; i < instance.decision_variables_len; i++) {
        const struct decision_variable *v = &instance.decision_variables[i];
        tally_string(&m, v->name);
        tally_string(&m, v->metadata.description);
        tally_parameters(&m, v->metadata.parameters, v->metadata.parameters_len);
        tally_block(&m, v->metadata.subscripts,
                    v->metadata.subscripts_len * sizeof *v->metadata.subscripts);
    }
    EMIT("decision_variables");
    members += MEMBER_SIZE(decision_variables);

    memset(&m, 0, sizeof m);
    tally_inline(&m, MEMBER_SIZE(constraints));
    tally_block(&m, instance.constraints,
                instance.constraints_len * sizeof *instance.constraints);
    for (i = 0; i < instance.constraints_len; i++) {
        const struct constraint *c = &instance.constraints[i];
        tally_function(&m, &c->function);
        tally_string(&m, c->name);
        tally_parameters(&m, c->parameters, c->parameters_len);
        tally_string(&m, c->description);
    }
    EMIT("constraints");
    members += MEMBER_SIZE(constraints);

    memset(&m, 0, sizeof m);
    tally_inline(&m, MEMBER_SIZE(constraint_hints));
    tally_block(&m, instance.constraint_hints.one_hot,
                instance.constraint_hints.one_hot_len * sizeof(struct one_hot));
    for (i = 0; i < instance.constraint_hints.one_hot_len; i++) {
        const struct one_hot *o = &instance.constraint_hints.one_hot[i];
        tally_block(&m, o->variables, o->variables_len * sizeof *o->variables);
    }
    tally_block(&m, instance.constraint_hints.sos1,
                instance.constraint_hints.sos1_len * sizeof(struct sos1));
    for (i = 0; i < instance.constraint_hints.sos1_len; i++) {
        const struct sos1 *s = &instance.constraint_hints.sos1[i];
        tally_block(&m, s->big_m_constraint_ids,
                    s->big_m_constraint_ids_len * sizeof *s->big_m_constraint_ids);
        tally_block(&m, s->variables, s->variables_len * sizeof *s->variables);
    }
    EMIT("constraint_hints");
    members += MEMBER_SIZE(constraint_hints);

    memset(&m, 0, sizeof m);
    tally_inline(&m, MEMBER_SIZE(parameters));
    tally_parameters(&m, instance.parameters, instance.parameters_len);
    EMIT("parameters");
    members += MEMBER_SIZE(parameters);

    /* The length and capacity fields: inline bytes only. */
    {
        static const struct { const char *name; size_t size; } scalars[] = {
            {"decision_variables_len", MEMBER_SIZE(decision_variables_len)},
            {"decision_variables_cap", MEMBER_SIZE(decision_variables_cap)},
            {"constraints_len", MEMBER_SIZE(constraints_len)},
            {"constraints_cap", MEMBER_SIZE(constraints_cap)},
            {"parameters_len", MEMBER_SIZE(parameters_len)},
        };
        for (j = 0; j < sizeof scalars / sizeof scalars[0]; j++) {
            memset(&m, 0, sizeof m);
            tally_inline(&m, scalars[j].size);
            EMIT(scalars[j].name);
            members += scalars[j].size;
        }
    }

    /* Holes and tail padding of struct instance itself. */
    memset(&m, 0, sizeof m);
    tally_inline(&m, sizeof instance - members);
    EMIT("[padding]");
#undef EMIT
    write_line(fd, "total", &total);
    close(fd);
}

int main(int argc, char **argv)
{
    enum example_mode mode = example_parse_mode(argc, argv);
    const char *expected = getenv("MEMPROF_EXPECTED");

    build_instance();
    if (expected != NULL && *expected != '\0')
        write_expected(expected);
    example_after_build(mode);
    free_instance();
    return 0;
}
