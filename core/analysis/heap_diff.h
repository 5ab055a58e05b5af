/* Heap snapshots compared over time (`memprof diff S1 S2 [S3 ...]`): new,
 * freed and surviving blocks per type and size class between consecutive
 * snapshots and overall, allocation and free rates, how many snapshots
 * blocks live, and `growth` findings for types and owner paths that grow
 * in every interval.  docs/diff.md states the identity rule and the thresholds.
 *
 * Snapshots are added one at a time, oldest first; only the previous one's
 * blocks are kept, so a series costs two snapshots of memory. */
#ifndef MEMPROF_CORE_ANALYSIS_HEAP_DIFF_H
#define MEMPROF_CORE_ANALYSIS_HEAP_DIFF_H

#include <stdbool.h>
#include <stdint.h>

#include "memprof/memprof.h"
#include "patterns.h"

/* A block in use.  Two blocks of consecutive snapshots are the same block
 * when address, usable size, type and content hash all match. */
typedef struct mp_diff_block {
	uint64_t address;          /* user address */
	uint64_t hash;             /* mp_block_content_hash; 0 unknown */
	uint64_t size;             /* usable bytes */
	uint32_t type;             /* input: index into the input's names */
	uint32_t owner;            /* input: index into the input's owner paths;
				    * MP_DIFF_NO_OWNER: none known */
	uint16_t born;             /* set by the diff: the snapshot it appeared in */
	uint8_t evidence;          /* enum mp_type_evidence */
	uint8_t unused;
} mp_diff_block;

/* One snapshot as the diff takes it. */
typedef struct mp_diff_input {
	const char *path, *target;
	int64_t timestamp_ns;
	uint64_t heap_bytes;       /* arenas and mmapped chunks, as malloc counts */
	bool partial;
	const char *const *names;  /* the type (category) names blocks index */
	size_t n_names;
	/* Owner paths blocks index (analysis/owner_paths.h); NULL: the
	 * snapshot has none (saved before they were), which leaves the whole
	 * diff without growth per owner path. */
	const char *const *owner_names;
	size_t n_owner_names;
	mp_diff_block *blocks;     /* sorted by address; taken by the diff */
	size_t n_blocks;
} mp_diff_input;

typedef struct mp_diff_counts {
	uint64_t new_blocks, new_bytes;
	uint64_t freed_blocks, freed_bytes;
	uint64_t surviving_blocks, surviving_bytes;
} mp_diff_counts;

enum { MP_DIFF_SIZE_CLASSES = 64 };   /* by usable size: [2^k, 2^(k+1)) */

typedef struct mp_diff_snapshot {
	char *path, *target;
	int64_t timestamp_ns;
	uint64_t blocks, bytes, heap_bytes;
	bool partial;
	uint64_t *type_blocks, *type_bytes;   /* in use per type; n_types of the diff
					       * when it was added (later ones: 0) */
	size_t n_types;
	uint64_t *owner_blocks, *owner_bytes; /* in use per owner path, likewise */
	size_t n_owners;
	uint64_t class_blocks[MP_DIFF_SIZE_CLASSES], class_bytes[MP_DIFF_SIZE_CLASSES];
} mp_diff_snapshot;

typedef struct mp_diff_interval {
	size_t from, to;           /* snapshot indexes; overall: 0, last */
	double seconds;
	mp_diff_counts total;
	mp_diff_counts *types;     /* per type index; after finish, n_types of the diff */
	size_t n_types;
	mp_diff_counts classes[MP_DIFF_SIZE_CLASSES];
} mp_diff_interval;

/* Blocks seen in exactly k consecutive snapshots (index k - 1): those gone
 * by the next one, and those still there in the last. */
typedef struct mp_diff_lifetime {
	uint64_t freed_blocks, freed_bytes, alive_blocks, alive_bytes;
} mp_diff_lifetime;

typedef struct mp_diff_growth {
	mp_finding finding;        /* kind "growth", subject the type or owner path */
	bool by_owner;             /* subject is an owner path, not a type */
	uint32_t type;             /* the type index, or the owner path's */
	/* The other side: for a type, the owner path of most of its blocks new
	 * in the last snapshot; for an owner path, the type of most of its
	 * blocks.  UINT32_MAX: none. */
	uint32_t held_by, holds;
	int64_t *interval_bytes;   /* net bytes per interval, all > 0 */
	int64_t *interval_blocks;
	double bytes_per_second;
	double seconds_to_limit;   /* < 0: no --limit given */
} mp_diff_growth;

typedef struct mp_heap_diff {
	char **types;              /* type (category) names, in order first seen */
	size_t n_types, types_capacity;
	size_t *by_name;           /* open addressing: type index + 1 */
	size_t by_name_capacity;
	char **owners;             /* owner paths, in order first seen */
	size_t n_owners, owners_capacity;
	size_t *owner_by_name;
	size_t owner_by_name_capacity;
	bool owners_missing;       /* a snapshot had no owner paths */
	mp_diff_snapshot *snapshots;
	size_t n_snapshots;
	mp_diff_interval *intervals;   /* n_snapshots - 1 once all are added */
	size_t n_intervals;
	mp_diff_interval overall;      /* first against last */
	mp_diff_lifetime *lifetimes;   /* n_snapshots */
	mp_diff_growth *growth;        /* largest bytes first */
	size_t n_growth, growth_capacity;
	uint64_t limit;                /* 0: none */
	bool partial;
	/* the previous snapshot's blocks, with their birth snapshots */
	mp_diff_block *previous;
	size_t n_previous;
} mp_heap_diff;

enum { MP_DIFF_MAX_SNAPSHOTS = 65535 };
#define MP_DIFF_NO_OWNER UINT32_MAX

/* Growth below this many bytes over the whole series is noise. */
enum { MP_GROWTH_FLOOR = 4096 };

void mp_heap_diff_init(mp_heap_diff *diff);
/* Adds the next snapshot (later than the previous); takes input->blocks. */
mp_error *mp_heap_diff_add(mp_heap_diff *diff, mp_diff_input *input);
/* Overall counts, lifetimes of the blocks still there, and the growth
 * findings; limit (bytes, 0: none) gives each its time to the limit. */
mp_error *mp_heap_diff_finish(mp_heap_diff *diff, uint64_t limit);
void mp_heap_diff_free(mp_heap_diff *diff);

/* The size class index of a usable size, and its name ("64-127"). */
unsigned mp_diff_size_class(uint64_t usable);
void mp_diff_size_class_name(unsigned index, char *out, size_t size);

/* low, medium, high, critical from a growth's rate, its share of the bytes
 * in use and its time to the limit (< 0: none); docs/diff.md. */
const char *mp_growth_impact(double bytes_per_second, uint64_t growth_bytes,
			     uint64_t in_use_bytes, double seconds_to_limit);

#endif
