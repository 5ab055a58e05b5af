/*
 * leak_cache.c - an unbounded global cache (entries are inserted and never
 * evicted) plus a real leak: when a key is refreshed, the old entry is
 * unlinked from its bucket and forgotten instead of freed, so it is lost
 * together with its key string and value buffer.
 *
 * Global root: `query_cache` (struct cache): `buckets` is an array of
 * `n_buckets` chain heads, `len` entries in total.
 *
 * After the build step: 500 live entries in 512 buckets; 20 refreshed keys
 * left 20 unlinked old entries behind.
 *
 * valgrind --leak-check=full (no argument; --hold after EOF; and, through
 * vgdb "leak_check full", while blocked in --hold):
 *   definitely lost:     960 bytes in    20 blocks  (the unlinked entries, 48 bytes each)
 *   indirectly lost:   2,474 bytes in    40 blocks  (their 20 keys of 10 bytes and
 *                                                    20 values of 64..159 bytes)
 *   possibly lost:         0 bytes in     0 blocks
 *   still reachable:  88,936 bytes in 1,501 blocks  (bucket array of 4,096 bytes,
 *                                                    500 entries, 500 keys, 500 values)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "example_common.h"

#define N_KEYS 500
#define N_REFRESHED 20

struct cache_entry {
    char *key;
    unsigned char *value;
    size_t value_len;
    uint64_t hits;
    uint64_t inserted_at;
    struct cache_entry *next;
};

struct cache {
    struct cache_entry **buckets;
    size_t n_buckets;
    size_t len;
    uint64_t lookups;
    uint64_t misses;
    uint64_t clock;
};

/* The root a debugger or memprof finds by name. */
struct cache query_cache;

/* calloc, not malloc: a conservative scanner reads a block's whole usable
 * size, and stale pointer bytes left in the slack after a short value would
 * make a reachable entry seem to point into a lost one (valgrind only reads
 * the requested bytes). Zeroed blocks keep memprof's answer deterministic. */
static void *xmalloc(size_t size)
{
    void *p = calloc(1, size);
    if (p == NULL) {
        fprintf(stderr, "leak_cache: out of memory\n");
        exit(1);
    }
    return p;
}

static size_t hash_string(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    while (*s != '\0') {
        h ^= (unsigned char)*s++;
        h *= 0x100000001b3ULL;
    }
    return (size_t)h;
}

static void cache_init(struct cache *c)
{
    c->n_buckets = 16;
    c->len = 0;
    c->buckets = calloc(c->n_buckets, sizeof *c->buckets);
    if (c->buckets == NULL)
        exit(1);
}

static void cache_grow(struct cache *c)
{
    size_t n = c->n_buckets * 2;
    struct cache_entry **b = calloc(n, sizeof *b);
    size_t i;

    if (b == NULL)
        exit(1);
    for (i = 0; i < c->n_buckets; i++) {
        struct cache_entry *e = c->buckets[i];
        while (e != NULL) {
            struct cache_entry *next = e->next;
            size_t h = hash_string(e->key) & (n - 1);
            e->next = b[h];
            b[h] = e;
            e = next;
        }
    }
    free(c->buckets);
    c->buckets = b;
    c->n_buckets = n;
}

static struct cache_entry *make_entry(const char *key, size_t value_len, uint64_t now)
{
    struct cache_entry *e = xmalloc(sizeof *e);
    size_t klen = strlen(key) + 1;
    size_t i;

    e->key = xmalloc(klen);
    memcpy(e->key, key, klen);
    e->value_len = value_len;
    e->value = xmalloc(value_len);
    for (i = 0; i < value_len; i++)
        e->value[i] = (unsigned char)(i * 31 + value_len);
    e->hits = 0;
    e->inserted_at = now;
    e->next = NULL;
    return e;
}

/*
 * Inserts or refreshes key. The refresh path has the bug this example is
 * about: it unlinks the old entry and never frees it.
 */
__attribute__((noinline))
static void cache_put(struct cache *c, const char *key, size_t value_len)
{
    size_t h = hash_string(key) & (c->n_buckets - 1);
    struct cache_entry **link;
    struct cache_entry *fresh;

    c->clock++;
    for (link = &c->buckets[h]; *link != NULL; link = &(*link)->next) {
        if (strcmp((*link)->key, key) == 0) {
            fresh = make_entry(key, value_len, c->clock);
            fresh->next = (*link)->next;
            *link = fresh;          /* BUG: the old entry is dropped, not freed */
            return;
        }
    }
    if (c->len + 1 > c->n_buckets) {
        cache_grow(c);
        h = hash_string(key) & (c->n_buckets - 1);
    }
    fresh = make_entry(key, value_len, c->clock);
    fresh->next = c->buckets[h];
    c->buckets[h] = fresh;
    c->len++;
}

static const struct cache_entry *cache_get(struct cache *c, const char *key)
{
    size_t h = hash_string(key) & (c->n_buckets - 1);
    struct cache_entry *e;

    c->lookups++;
    for (e = c->buckets[h]; e != NULL; e = e->next) {
        if (strcmp(e->key, key) == 0) {
            e->hits++;
            return e;
        }
    }
    c->misses++;
    return NULL;
}

__attribute__((noinline))
static void build(void)
{
    char key[32];
    unsigned i;

    cache_init(&query_cache);
    for (i = 0; i < N_KEYS; i++) {
        snprintf(key, sizeof key, "user:%04u", i);
        cache_put(&query_cache, key, 64 + (i * 7) % 96);
    }
    /* Refresh 20 keys: each refresh loses the previous entry. */
    for (i = 0; i < N_REFRESHED; i++) {
        snprintf(key, sizeof key, "user:%04u", i * 25);
        cache_put(&query_cache, key, 128);
    }
    for (i = 0; i < 2 * N_KEYS; i++) {
        snprintf(key, sizeof key, "user:%04u", (i * 13) % (N_KEYS + 50));
        (void)cache_get(&query_cache, key);
    }
}

int main(int argc, char **argv)
{
    enum example_mode mode = example_parse_mode(argc, argv);

    build();
    example_after_build(mode);
    /* Nothing is freed: the cache is unbounded and stays reachable until
     * exit; the refreshed entries are lost. */
    return 0;
}
