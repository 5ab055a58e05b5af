// Overcapacity that only a stack local, a shared buffer, a full hash table
// or the elements of a container show, for `memprof patterns`:
// `capacity_shapes --hold` builds it, prints the program's own measure of
// each waste as one JSON line on stderr, then "ready PID" on stdout, and
// waits for end of file on stdin with its locals live.
//
//   local            a std::vector<short> local reserved for 40000, holding 10
//   ivec.items       a local C-style struct {int *items; len; cap} of 20000
//                    ints holding 10
//   view.items       two globals viewing one block of 20000 longs, one
//                    with length 10, one with 10000: the block once, as the
//                    longer view uses it
//   inner            a global std::vector<std::vector<int>> of 100 vectors,
//                    each reserved for 1000 and holding 10
//   strings          a global std::vector<std::string> of 100 strings, each
//                    reserved for 1000 characters and holding a short text
//   reserved_map     a std::unordered_map<long, int> reserved for 1 << 20
//                    entries holding 100: its bucket array against the
//                    buckets 100 entries need at its max_load_factor
//   full_map         a std::unordered_map<int, long> of 50000 entries after
//                    rehash(0): its prime bucket count (53201) is all it
//                    can have, no waste (its bucket count is printed)
// Every truth is malloc_usable_size of the buffer block minus what its
// length uses (the bucket array's from bucket_count()).
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <malloc.h>
#include <string>
#include <unistd.h>
#include <unordered_map>
#include <vector>

struct ivec {
	int *items;
	size_t len;
	size_t cap;
};

struct view {
	long *items;
	size_t len;
};

view g_v1, g_v2;
std::vector<std::vector<int>> g_inner;
std::vector<std::string> g_strings;
std::unordered_map<long, int> g_reserved;
std::unordered_map<int, long> g_full;
volatile long sink;

static size_t usable(const void *p)
{
	return malloc_usable_size(const_cast<void *>(p));
}

static void hold(void)
{
	std::printf("ready %d\n", (int)getpid());
	std::fflush(stdout);
	char buffer[64];
	while (read(STDIN_FILENO, buffer, sizeof buffer) > 0)
		;
}

int main(int argc, char **argv)
{
	bool holding = argc > 1 && std::strcmp(argv[1], "--hold") == 0;
	std::vector<short> local;
	local.reserve(40000);
	for (short i = 0; i < 10; i++)
		local.push_back(i);
	ivec ints = {static_cast<int *>(std::malloc(20000 * sizeof(int))), 10, 20000};
	for (int i = 0; i < 10; i++)
		ints.items[i] = 7 * i + 1;

	long *shared = static_cast<long *>(std::malloc(20000 * sizeof(long)));
	for (int i = 0; i < 10000; i++)
		shared[i] = 3 * i + 5;
	g_v1 = {shared, 10};
	g_v2 = {shared, 10000};

	size_t inner = 0, strings = 0;
	g_inner.resize(100);
	g_strings.resize(100);
	for (int n = 0; n < 100; n++) {
		g_inner[n].reserve(1000);
		for (int i = 0; i < 10; i++)
			g_inner[n].push_back(n * 1000 + i);
		inner += usable(g_inner[n].data()) - g_inner[n].size() * sizeof(int);
		g_strings[n].reserve(1000);
		g_strings[n].append("string number ").append(std::to_string(n));
		strings += usable(g_strings[n].data()) - (g_strings[n].size() + 1);
	}

	g_reserved.reserve(1 << 20);
	for (long k = 0; k < 100; k++)
		g_reserved[k] = (int)k;
	size_t attainable = (size_t)std::ceil(g_reserved.size() / g_reserved.max_load_factor());
	size_t reserved_map = (g_reserved.bucket_count() - attainable) * sizeof(void *);
	for (int k = 0; k < 50000; k++)
		g_full[k] = k;
	g_full.rehash(0);

	std::fprintf(stderr,
		     "{\"local\": %zu, \"ivec.items\": %zu, \"view.items\": %zu, \"view.blocks\": 1, "
		     "\"inner\": %zu, \"strings\": %zu, \"reserved_map\": %zu, "
		     "\"full_map_buckets\": %zu, \"full_map_size\": %zu}\n",
		     usable(local.data()) - local.size() * sizeof(short),
		     usable(ints.items) - ints.len * sizeof(int),
		     usable(shared) - g_v2.len * sizeof(long), inner, strings, reserved_map,
		     g_full.bucket_count(), g_full.size());
	std::fflush(stderr);
	if (holding)
		hold();
	sink = local[3] + ints.items[2];
	std::free(ints.items);
	std::free(shared);
	return 0;
}
