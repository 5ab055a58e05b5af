/* layouts.c - a zoo of C struct layouts that tests compare between memprof
 * type and pahole: holes, bitfields, nested anonymous structs and unions,
 * multi-dimensional and flexible arrays, packed and aligned(64) structs,
 * enums, function pointers and typedef'd anonymous structs.  Every type is
 * used by one global so the compiler keeps its DWARF; `instance` is the
 * variable the variable lookup tests find. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

struct holes {
	char a;
	long b;
	char c;
	int d;
	short e;
};

struct bits {
	unsigned int a : 3;
	unsigned int b : 5;
	int c;
	unsigned char d : 1;
	unsigned long e : 40;
	char f;
};

struct bits_hole {
	char x;
	unsigned int y : 4;
	unsigned int z : 20;
	long w;
	unsigned short v : 2;
};

struct nested {
	int kind;
	union {
		long l;
		double d;
		char bytes[12];
	};
	struct {
		char tag;
		void *ptr;
	} inner;
	struct {
		short s1;
		int i1;
	};
	char last;
};

struct arrays {
	char name[3];
	int grid[3][4][5];
	short pairs[2][2];
	double tail;
};

struct flexible {
	size_t count;
	char flag;
	int items[];
};

struct __attribute__((packed)) packed {
	char a;
	int b;
	short c;
	long d;
};

struct aligned64 {
	int a;
	char b __attribute__((aligned(64)));
	int c;
};

enum color { RED, GREEN = 5, BLUE = -3 };
enum big { SMALL = 1, HUGE_VALUE = 0x7fffffffffffffffL };

struct with_enum {
	enum color color;
	char c;
	enum big big;
};

struct callbacks {
	int (*compare)(const void *, const void *);
	char tag;
	void (*on_event)(int, const char *, ...);
	void (*table[3])(void);
	int count;
};

typedef struct {
	int x;
	char y;
	long z;
} anon_t;

typedef union {
	int i;
	float f;
	char c[6];
} anon_union_t;

struct list_node {
	struct list_node *next;
	struct opaque *hidden;
	const char *name;
	volatile int *const *vp;
	char inline_name[1];
};

struct instance_t {
	int id;
	struct holes holes;
	anon_t anon;
};

struct holes g_holes;
struct bits g_bits;
struct bits_hole g_bits_hole;
struct nested g_nested;
struct arrays g_arrays;
struct flexible *g_flexible;
struct packed g_packed;
struct aligned64 g_aligned64;
struct with_enum g_with_enum;
struct callbacks g_callbacks;
anon_t g_anon;
anon_union_t g_anon_union;
struct list_node g_list_node;
struct instance_t instance = { .id = 42 };
static volatile int file_static_counter = 7;

/* With --hold: prints "ready PID" and waits for stdin to close, so tests
 * can read the live process or write its core. */
int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--hold") == 0) {
		printf("ready %d\n", (int)getpid());
		fflush(stdout);
		char buffer[64];
		while (read(0, buffer, sizeof(buffer)) > 0)
			;
	}
	/* The layout as the compiler sees it, for humans checking memprof. */
	printf("holes %zu bits %zu nested %zu arrays %zu flexible %zu packed %zu aligned64 %zu\n",
	       sizeof(struct holes), sizeof(struct bits), sizeof(struct nested),
	       sizeof(struct arrays), sizeof(struct flexible), sizeof(struct packed),
	       sizeof(struct aligned64));
	return instance.id == 42 && file_static_counter == 7 ? 0 : 1;
}
