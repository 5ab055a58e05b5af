/* Text in blocks the size of a struct with pointers, beside real blocks of
 * those structs, to check that memprof's size and shape guesses do not
 * name text with a struct: `text_blocks TRUTH_FILE --hold` writes one line
 * per block it allocated ("0xADDR TYPE", TYPE "text" for the strings),
 * prints "ready PID" and waits for end of file on stdin.
 *
 * struct tagged (24 usable bytes, its pointer at offset 16) and struct
 * record (72 usable bytes, pointers at 0 and 8) each have blocks reachable
 * from a global (typed from DWARF, so their sizes name lost blocks) and
 * lost blocks (typed by shape: a lost ring of tagged, a lost list of
 * records).  The lost strings: short text whose block still holds a
 * former occupant's pointer past the NUL (as a reused block does), text
 * filling a block with its NUL beyond the first 64 bytes, and UTF-8 text
 * (not ASCII-printable). */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct tagged {
	long kind;
	long length;
	struct tagged *link;
};

struct record {
	struct record *next;
	struct tagged *owner;
	long fields[7];
};

struct tagged *kept_tagged;
struct record *kept_records;

static int truth_fd = -1;

static void *xmalloc(size_t size, const char *type)
{
	void *p = malloc(size);
	if (!p)
		exit(3);
	memset(p, 0, size);
	char line[160];
	int n = snprintf(line, sizeof(line), "%p %s\n", p, type);
	if (n > 0 && write(truth_fd, line, (size_t)n) != n)
		exit(3);
	return p;
}

/* Leaves no copy of a lost block's address in this frame's dead slots. */
static __attribute__((noinline)) void scrub(void)
{
	volatile char pad[4096];
	memset((char *)pad, 0, sizeof(pad));
}

static __attribute__((noinline)) void build(void)
{
	/* Reachable, typed from the globals. */
	for (int i = 0; i < 20; i++) {
		struct tagged *t = xmalloc(sizeof(*t), "struct tagged");
		t->kind = i;
		t->length = 3 * i;
		t->link = kept_tagged;
		kept_tagged = t;
		struct record *r = xmalloc(sizeof(*r), "struct record");
		r->owner = t;
		r->fields[0] = i;
		r->next = kept_records;
		kept_records = r;
	}
	/* Lost and typed by their shape: a ring of tagged, a list of records
	 * whose owners are the ring's nodes. */
	struct tagged *ring[6];
	for (int i = 0; i < 6; i++) {
		ring[i] = xmalloc(sizeof(struct tagged), "struct tagged");
		ring[i]->kind = 100 + i;
	}
	for (int i = 0; i < 6; i++)
		ring[i]->link = ring[(i + 1) % 6];
	struct record *list = NULL;
	for (int i = 0; i < 8; i++) {
		struct record *r = xmalloc(sizeof(*r), "struct record");
		r->owner = ring[i % 6];
		r->fields[1] = i;
		r->next = list;
		list = r;
	}
	/* Lost strings of struct tagged's size.  The short ones keep a
	 * pointer to a live block at offset 16, where tagged has its link. */
	for (int i = 0; i < 30; i++) {
		char *s = xmalloc(sizeof(struct tagged), "text");
		snprintf(s, 16, "name %d", 1000 + i);
		struct tagged *former = kept_tagged;
		memcpy(s + 16, &former, sizeof(former));
	}
	for (int i = 0; i < 30; i++) {
		char *s = xmalloc(sizeof(struct tagged), "text");
		snprintf(s, sizeof(struct tagged), "caf\xc3\xa9 na\xc3\xafve %d", i);
	}
	/* Lost strings of struct record's size, the NUL past byte 64. */
	for (int i = 0; i < 30; i++) {
		char *s = xmalloc(sizeof(struct record), "text");
		memset(s, 'a' + i % 26, sizeof(struct record) - 1);
		s[sizeof(struct record) - 1] = '\0';
		memcpy(s, "{\"key\": \"", 9);
	}
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return 2;
	truth_fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (truth_fd < 0)
		return 2;
	/* Formatted before the blocks exist: a call after them could spill a
	 * register still holding a lost block's address to the stack. */
	char line[64];
	int n = snprintf(line, sizeof(line), "ready %ld\n", (long)getpid());
	build();
	/* A block after the lost ones, so none borders the top chunk. */
	void *guard = malloc(64);
	if (!guard)
		return 3;
	kept_tagged->kind = (long)(uintptr_t)guard;
	scrub();
	close(truth_fd);
	if (argc > 2 && strcmp(argv[2], "--hold") == 0) {
		if (write(1, line, (size_t)n) != n)
			return 3;
		char sink[256];
		while (read(0, sink, sizeof(sink)) > 0)
			;
	}
	return 0;
}
