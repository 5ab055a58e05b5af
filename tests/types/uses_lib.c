/* uses_lib.c - declares struct opaque and uses it only through pointers;
 * the definition lives in libopaque.so (opaque.c).  memprof must resolve
 * the pointee to the library's definition.  --hold as layouts.c. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

struct opaque;
extern struct opaque g_opaque_definition;

struct opaque_user {
	struct opaque *handle;
	int uses;
};

struct opaque_user g_user = { &g_opaque_definition, 1 };

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--hold") == 0) {
		printf("ready %d\n", (int)getpid());
		fflush(stdout);
		char buffer[64];
		while (read(0, buffer, sizeof(buffer)) > 0)
			;
	}
	return g_user.uses == 1 ? 0 : 1;
}
