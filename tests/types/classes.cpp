// classes.cpp - C++ layouts for memprof type: base classes (single,
// multiple, virtual), vtable pointers, templates in namespaces, nested
// types, and standard containers whose names GDB prints with "> >".
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <unistd.h>
#include <vector>

namespace geo {

struct Point {
	double x, y;
};

class Base {
public:
	virtual ~Base() {}
	int id = 1;
};

class Shape : public Base {
public:
	char kind = 's';
	Point origin{};
	short layer = 0;
};

struct Tagged {
	char tag = 't';
};

class Multi : public Shape, public Tagged {
public:
	int extra = 3;
};

template <typename T, int N>
struct Buffer {
	T items[N];
	char tag;
	struct Header {
		int version;
		char flags;
	} header;
};

struct Holder {
	std::vector<int> numbers;
	std::map<std::string, std::vector<Point> > index;
	Buffer<char, 3> small;
	Buffer<long, 2> large;
	Buffer<Point, 1>::Header header;
};

} // namespace geo

geo::Multi g_multi;
geo::Holder holder;
static geo::Buffer<short, 5> g_buffer;

int main(int argc, char **argv)
{
	holder.numbers.push_back(1);
	holder.index["a"].push_back(geo::Point{1, 2});
	g_buffer.tag = 'b';
	if (argc > 1 && std::strcmp(argv[1], "--hold") == 0) {
		std::printf("ready %d\n", (int)getpid());
		std::fflush(stdout);
		char buffer[64];
		while (read(0, buffer, sizeof(buffer)) > 0)
			;
	}
	return g_multi.extra == 3 && g_buffer.tag == 'b' ? 0 : 1;
}
