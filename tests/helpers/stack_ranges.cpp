// Blocks held only by stack locals in a C++ unit whose code is not one
// range: an inline template function (a comdat section of its own) makes
// the unit's DIE carry DW_AT_low_pc 0 and DW_AT_ranges, and clang++ writes
// no .debug_aranges by default (nor does g++ -ffunction-sections keep the
// unit one range).  `stack_ranges TRUTH_FILE --hold` allocates two Nodes,
// one held by main's local and one by the first's next, writes
// "0xADDR Node" per block to TRUTH_FILE, prints "ready PID" and waits for
// end of file on stdin inside hold, whose parameter holds the first.
#include <cstdio>
#include <cstring>
#include <unistd.h>

struct Node {
	long a;
	Node *next;
	double d;
};

static FILE *truth;

template <typename T> inline T *make()
{
	T *p = new T();
	std::fprintf(truth, "%p Node\n", static_cast<void *>(p));
	return p;
}

__attribute__((noinline)) static void hold(Node *local_only)
{
	std::fclose(truth);
	std::printf("ready %ld\n", (long)getpid());
	std::fflush(stdout);
	char c;
	while (read(0, &c, 1) > 0)
		;
	local_only->a++;
}

int main(int argc, char **argv)
{
	if (argc < 3 || std::strcmp(argv[2], "--hold") != 0 || !(truth = std::fopen(argv[1], "w"))) {
		std::fprintf(stderr, "usage: stack_ranges TRUTH_FILE --hold\n");
		return 2;
	}
	Node *stack_node = make<Node>();
	stack_node->a = 42;
	stack_node->next = make<Node>();
	hold(stack_node);
	return 0;
}
