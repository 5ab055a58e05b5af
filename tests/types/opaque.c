/* opaque.c - the definition of struct opaque, which layouts.c only
 * declares: memprof must resolve the declaration in layouts.c's CU to this
 * CU's definition. */
struct opaque {
	int secret;
	char more[5];
};

struct opaque g_opaque_definition = { 1, "abcd" };
