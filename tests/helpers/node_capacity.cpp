// Overcapacity in the values of node-based containers, for `memprof
// patterns`: vectors kept in the nodes of a map, an unordered_map and a
// list, where a node keeps its value in bytes its type does not describe
// (libstdc++'s _M_storage).  `node_capacity --hold` builds them, prints
// the program's own measure of each waste as one JSON line on stderr,
// then "ready PID" on stdout, and waits for end of file on stdin.
//
//   map_int      a std::map<int, std::vector<int>> of 200 entries
//   map_string   a std::map<std::string, std::vector<int>> of 200 entries
//                with keys too long for the short-string buffer
//   unordered    a std::unordered_map<int, std::vector<int>> of 200 entries
//   list         a std::list<std::vector<int>> of 200 vectors
// Each vector is reserved for 1000 ints and holds 1 to 3; the n-th vector
// of every container holds the same ints, so their blocks would look like
// copies of each other if their capacity were not measured.  Every truth
// is the sum of malloc_usable_size of each buffer block minus what its
// size uses.
#include <cstdio>
#include <cstring>
#include <list>
#include <malloc.h>
#include <map>
#include <string>
#include <unistd.h>
#include <unordered_map>
#include <vector>

std::map<int, std::vector<int>> g_map_int;
std::map<std::string, std::vector<int>> g_map_string;
std::unordered_map<int, std::vector<int>> g_unordered;
std::list<std::vector<int>> g_list;

static size_t fill(std::vector<int> &v, int n)
{
	v.reserve(1000);
	for (int i = 0; i <= n % 3; i++)
		v.push_back(n * 10 + i);
	return malloc_usable_size(v.data()) - v.size() * sizeof(int);
}

int main(int argc, char **argv)
{
	bool holding = argc > 1 && std::strcmp(argv[1], "--hold") == 0;
	size_t map_int = 0, map_string = 0, unordered = 0, list = 0;
	for (int n = 0; n < 200; n++) {
		map_int += fill(g_map_int[n], n);
		map_string += fill(g_map_string["a key longer than a short string " +
						std::to_string(n)], n);
		unordered += fill(g_unordered[n], n);
		g_list.emplace_back();
		list += fill(g_list.back(), n);
	}
	std::fprintf(stderr,
		     "{\"map_int\": %zu, \"map_string\": %zu, \"unordered\": %zu, \"list\": %zu, "
		     "\"blocks\": 200}\n",
		     map_int, map_string, unordered, list);
	std::fflush(stderr);
	if (holding) {
		std::printf("ready %d\n", (int)getpid());
		std::fflush(stdout);
		char buffer[64];
		while (read(STDIN_FILENO, buffer, sizeof buffer) > 0)
			;
	}
	return 0;
}
