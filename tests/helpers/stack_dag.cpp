// Forty nested namespaces, each followed by a variable so that its DIE has
// a DW_AT_sibling: test_stack_frames.py rewrites each one's sibling to
// point at its own first child, a DAG in which a walk following siblings
// reaches n40 once per path, 2^38 times, and empties z::hold's code range
// so that the search for the function holding hold's pc walks them all.
// `stack_dag --hold` prints "ready PID" and waits for end of file on stdin
// in z::hold.
#include <cstdio>
#include <cstring>
#include <unistd.h>

namespace z {
__attribute__((noinline)) void hold()
{
	std::printf("ready %ld\n", (long)getpid());
	std::fflush(stdout);
	char c;
	while (read(0, &c, 1) > 0)
		;
}
}

namespace n1 {
namespace n2 {
namespace n3 {
namespace n4 {
namespace n5 {
namespace n6 {
namespace n7 {
namespace n8 {
namespace n9 {
namespace n10 {
namespace n11 {
namespace n12 {
namespace n13 {
namespace n14 {
namespace n15 {
namespace n16 {
namespace n17 {
namespace n18 {
namespace n19 {
namespace n20 {
namespace n21 {
namespace n22 {
namespace n23 {
namespace n24 {
namespace n25 {
namespace n26 {
namespace n27 {
namespace n28 {
namespace n29 {
namespace n30 {
namespace n31 {
namespace n32 {
namespace n33 {
namespace n34 {
namespace n35 {
namespace n36 {
namespace n37 {
namespace n38 {
namespace n39 {
namespace n40 {
int leaf;
} int after40;
} int after39;
} int after38;
} int after37;
} int after36;
} int after35;
} int after34;
} int after33;
} int after32;
} int after31;
} int after30;
} int after29;
} int after28;
} int after27;
} int after26;
} int after25;
} int after24;
} int after23;
} int after22;
} int after21;
} int after20;
} int after19;
} int after18;
} int after17;
} int after16;
} int after15;
} int after14;
} int after13;
} int after12;
} int after11;
} int after10;
} int after9;
} int after8;
} int after7;
} int after6;
} int after5;
} int after4;
} int after3;
} int after2;
}

int main(int argc, char **argv)
{
	if (argc < 2 || std::strcmp(argv[1], "--hold") != 0) {
		std::fprintf(stderr, "usage: stack_dag --hold\n");
		return 2;
	}
	z::hold();
	return n1::after2;
}
