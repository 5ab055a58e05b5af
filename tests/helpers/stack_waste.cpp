// Waste that only stack locals lead to, for `memprof recommend` without a
// debugger: `stack_waste TRUTH_FILE --hold` builds it, writes the program's
// own measure of each waste to TRUTH_FILE and the type of each block it
// allocated to TRUTH_FILE.blocks ("0xADDR TYPE" in memprof's spelling),
// prints "ready PID" and waits for end of file on stdin, deep in a chain
// of calls.  No global points into the heap.
//
//   overcapacity Holder.numbers BYTES   a std::vector<long> reserved far
//                                       beyond its length, in a Holder on
//                                       the heap that a local points at
//   overcapacity Holder.text BYTES      a std::string likewise
//   struct-padding Padded BYTES         Padded objects, one per block, held
//                                       by a std::vector<Padded *> local
//                                       of an inner frame; BYTES is what
//                                       reordering the members saves in
//                                       malloc's chunks
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <malloc.h>
#include <string>
#include <unistd.h>
#include <vector>

struct Padded {
	char tag;
	double value;
	char flag;
	long id;
	char kind;
};

// Padded's members in the order that leaves no hole but the tail.
struct PaddedReordered {
	double value;
	long id;
	char tag, flag, kind;
};

struct Holder {
	std::vector<long> numbers;
	std::string text;
};

static FILE *truth, *blocks;
volatile long sink;

static void record(const void *block, const char *type)
{
	std::fprintf(blocks, "%p %s\n", block, type);
}

// What malloc really gives a request of size bytes, as a chunk.
static size_t chunk_of(size_t size)
{
	void *p = malloc(size);
	size_t chunk = malloc_usable_size(p) + sizeof(size_t);
	free(p);
	return chunk;
}

__attribute__((noinline)) static void scrub()
{
	volatile unsigned char area[16384];
	for (size_t i = 0; i < sizeof(area); i++)
		area[i] = 0;
}

__attribute__((noinline)) static void hold(int argc, char **argv)
{
	scrub();
	if (argc > 2 && std::strcmp(argv[2], "--hold") == 0) {
		char line[64];
		int n = std::snprintf(line, sizeof(line), "ready %ld\n", (long)getpid());
		if (write(1, line, (size_t)n) != n)
			std::exit(3);
		char buffer[256];
		while (read(0, buffer, sizeof(buffer)) > 0)
			;
	}
}

__attribute__((noinline)) static void inner(int argc, char **argv)
{
	const size_t n = 500;
	std::vector<Padded *> items;
	items.reserve(n);
	for (size_t i = 0; i < n; i++) {
		Padded *p = new Padded();
		p->id = (long)i;
		p->value = (double)i;
		items.push_back(p);
		record(p, "Padded");
	}
	record(items.data(), "Padded *[]");
	std::fprintf(truth, "struct-padding Padded %zu\n",
		     n * (chunk_of(sizeof(Padded)) - chunk_of(sizeof(PaddedReordered))));
	std::fclose(truth);
	std::fclose(blocks);
	hold(argc, argv);
	for (Padded *p : items)
		sink += p->id;
}

__attribute__((noinline)) static void outer(int argc, char **argv)
{
	Holder *holder = new Holder();
	holder->numbers.reserve(10000);
	for (long i = 0; i < 100; i++)
		holder->numbers.push_back(i);
	holder->text.reserve(5000);
	holder->text = "short text";
	record(holder, "Holder");
	record(holder->numbers.data(), "long int[]");
	record(&holder->text[0], "char[] (string)");
	std::fprintf(truth, "overcapacity Holder.numbers %zu\n",
		     malloc_usable_size(holder->numbers.data()) -
			     holder->numbers.size() * sizeof(long));
	std::fprintf(truth, "overcapacity Holder.text %zu\n",
		     malloc_usable_size(&holder->text[0]) - (holder->text.size() + 1));
	std::fflush(truth);
	inner(argc, argv);
	sink += holder->numbers[5] + (long)holder->text.size();
}

int main(int argc, char **argv)
{
	if (argc < 2 || !(truth = std::fopen(argv[1], "w")))
		return 2;
	std::string blocks_path = std::string(argv[1]) + ".blocks";
	if (!(blocks = std::fopen(blocks_path.c_str(), "w")))
		return 2;
	outer(argc, argv);
	return 0;
}
