/* The type model over real binaries built by tests/types/meson.build: C
 * (DWARF 5 and 4), C++ and Rust.  Checks the handle API that the heap,
 * leaks and logical analyses use: lookup by every spelling, members and
 * bitfields, arrays, pointers, cv and typedef chains, enums, function
 * pointers, template parameters, declarations resolved across CUs, Rust
 * variant parts with niche discriminants, and static variables. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "dwarf/types.h"
#include "memprof/memprof.h"

static char *program(const char *name)
{
	const char *dir = getenv("TYPES_DIR");
	char *path = NULL;
	if (asprintf(&path, "%s/%s", dir ? dir : ".", name) < 0)
		return NULL;
	return path;
}

static mp_target *open_exe(const char *name)
{
	char *path = program(name);
	assert_non_null(path);
	if (access(path, R_OK) != 0) {
		free(path);
		return NULL;
	}
	mp_target *t = NULL;
	mp_error *e = mp_target_open_exe(path, NULL, &t);
	if (e)
		fail_msg("%s", mp_error_message(e));
	free(path);
	return t;
}

static const mp_type *find(mp_target *t, const char *name)
{
	const mp_type *type = NULL;
	mp_error *e = mp_type_find(t, name, &type);
	if (e)
		fail_msg("%s: %s", name, mp_error_message(e));
	assert_non_null(type);
	return type;
}

static const mp_type_member *member(const mp_type *t, const char *name)
{
	for (size_t i = 0; i < mp_type_member_count(t); i++)
		if (strcmp(mp_type_member_at(t, i)->name, name) == 0)
			return mp_type_member_at(t, i);
	fail_msg("no member %s in %s", name, mp_type_name(t));
	return NULL;
}

static void test_normalize(void **state)
{
	(void)state;
	char out[128];
	mp_type_normalize_name("std::vector<int, std::allocator<int> >", out);
	assert_string_equal(out, "std::vector<int,std::allocator<int>>");
	mp_type_normalize_name("  struct   foo ", out);
	assert_string_equal(out, "struct foo");
	mp_type_normalize_name("unsigned  long int *", out);
	assert_string_equal(out, "unsigned long*");
	/* GDB's spellings of integer types */
	mp_type_normalize_name("geo::Buffer<long int, 2>", out);
	assert_string_equal(out, "geo::Buffer<long,2>");
	mp_type_normalize_name("std::map<long unsigned int, short int>", out);
	assert_string_equal(out, "std::map<unsigned long,short>");
	mp_type_normalize_name("long long unsigned int", out);
	assert_string_equal(out, "unsigned long long");
	mp_type_normalize_name("long double", out);
	assert_string_equal(out, "long double");
	mp_type_normalize_name("interval<char, signed char, uint8_t>", out);
	assert_string_equal(out, "interval<char,signed char,uint8_t>");
}

static void test_c_layouts(const char *name)
{
	mp_target *t = open_exe(name);
	assert_non_null(t);
	/* every spelling of a C tag */
	const mp_type *holes = find(t, "struct holes");
	assert_ptr_equal(find(t, "holes"), holes);
	assert_ptr_equal(find(t, "struct  holes"), holes);
	assert_int_equal(mp_type_kind(holes), MP_TYPE_STRUCT);
	assert_int_equal(mp_type_size(holes), 32);
	assert_int_equal(mp_type_member_count(holes), 5);
	assert_int_equal(member(holes, "b")->offset, 8);
	assert_int_equal(member(holes, "e")->offset, 24);

	/* bitfields: storage unit offset plus bit offset within it */
	const mp_type *bits = find(t, "struct bits");
	const mp_type_member *b = member(bits, "b");
	assert_int_equal(b->bit_size, 5);
	assert_int_equal(b->offset * 8 + b->bit_offset, 3);
	const mp_type_member *e = member(bits, "e");
	assert_int_equal(e->bit_size, 40);
	assert_int_equal(e->offset * 8 + e->bit_offset, 65);

	/* arrays: every dimension; flexible */
	const mp_type *arrays = find(t, "struct arrays");
	const mp_type *grid = member(arrays, "grid")->type;
	assert_int_equal(mp_type_kind(grid), MP_TYPE_ARRAY);
	assert_int_equal(mp_type_array_dimension_count(grid), 3);
	assert_int_equal(mp_type_array_dimension(grid, 0), 3);
	assert_int_equal(mp_type_array_dimension(grid, 2), 5);
	assert_int_equal(mp_type_size(grid), 240);
	assert_string_equal(mp_type_name(grid), "int [3][4][5]");
	const mp_type *items = member(find(t, "struct flexible"), "items")->type;
	assert_true(mp_type_array_flexible(items));
	assert_int_equal(mp_type_size(items), 0);

	/* pointers, cv chains, declarations resolved across CUs */
	const mp_type *node = find(t, "struct list_node");
	const mp_type *next = member(node, "next")->type;
	assert_int_equal(mp_type_kind(next), MP_TYPE_POINTER);
	assert_ptr_equal(mp_type_target(next), node);
	const mp_type *hidden = mp_type_target(member(node, "hidden")->type);
	assert_string_equal(mp_type_name(hidden), "struct opaque");
	assert_true(mp_type_is_complete(hidden));
	assert_int_equal(mp_type_size(hidden), 12);
	assert_string_equal(mp_type_name(member(node, "name")->type), "const char *");
	assert_string_equal(mp_type_name(member(node, "vp")->type), "volatile int * const *");
	const mp_type *strip = mp_type_strip(mp_type_target(member(node, "vp")->type));
	assert_int_equal(mp_type_kind(strip), MP_TYPE_POINTER);

	/* typedef'd anonymous struct */
	const mp_type *anon = find(t, "anon_t");
	assert_int_equal(mp_type_kind(anon), MP_TYPE_TYPEDEF);
	assert_int_equal(mp_type_size(anon), 16);
	assert_int_equal(mp_type_member_count(mp_type_strip(anon)), 3);

	/* enums */
	const mp_type *color = find(t, "enum color");
	assert_int_equal(mp_type_enumerator_count(color), 3);
	assert_string_equal(mp_type_enumerator_at(color, 2)->name, "BLUE");
	assert_int_equal(mp_type_enumerator_at(color, 2)->value, -3);
	const mp_type *big = find(t, "enum big");
	assert_int_equal(mp_type_size(big), 8);
	assert_int_equal(mp_type_enumerator_at(big, 1)->value, 0x7fffffffffffffffLL);

	/* function pointers */
	const mp_type *callbacks = find(t, "struct callbacks");
	const mp_type *fn = mp_type_target(member(callbacks, "on_event")->type);
	assert_int_equal(mp_type_kind(fn), MP_TYPE_FUNCTION);
	assert_int_equal(mp_type_param_count(fn), 2);
	assert_true(mp_type_variadic(fn));
	assert_int_equal(mp_type_kind(mp_type_target(fn)), MP_TYPE_VOID);
	assert_string_equal(mp_type_name(member(callbacks, "compare")->type),
			    "int (*)(const void *, const void *)");

	/* packed and aligned */
	assert_int_equal(mp_type_size(find(t, "struct packed")), 15);
	assert_int_equal(member(find(t, "struct packed"), "b")->offset, 1);
	assert_int_equal(member(find(t, "struct aligned64"), "b")->offset, 64);

	/* static variables: address and type; the exe target reads its data */
	mp_variable v;
	mp_error *err = mp_type_find_variable(t, "instance", &v);
	if (err)
		fail_msg("%s", mp_error_message(err));
	assert_ptr_equal(v.type, find(t, "struct instance_t"));
	int id = 0;
	err = mp_target_read(t, v.address + member(v.type, "id")->offset, &id, sizeof(id));
	assert_null(err);
	assert_int_equal(id, 42);
	err = mp_type_find_variable(t, "file_static_counter", &v);
	if (err)
		fail_msg("%s", mp_error_message(err));

	/* misses suggest */
	const mp_type *none = NULL;
	err = mp_type_find(t, "struct hole", &none);
	assert_non_null(err);
	assert_int_equal(mp_error_code(err), MP_ERR_NOT_FOUND);
	assert_non_null(strstr(mp_error_message(err), "struct holes"));
	mp_error_free(err);
	mp_target_release(t);
}

static void test_c_dwarf5(void **state)
{
	(void)state;
	test_c_layouts("layouts");
}

static void test_c_dwarf4(void **state)
{
	(void)state;
	test_c_layouts("layouts_dwarf4");
}

static void test_cpp(void **state)
{
	(void)state;
	mp_target *t = open_exe("classes");
	if (!t)
		skip();
	const mp_type *v1 = find(t, "std::vector<int, std::allocator<int> >");
	assert_ptr_equal(find(t, "std::vector<int, std::allocator<int>>"), v1);
	assert_ptr_equal(find(t, "std::vector<int,std::allocator<int> >"), v1);
	assert_int_equal(mp_type_size(v1), 24);

	const mp_type *buffer = find(t, "geo::Buffer<char, 3>");
	assert_int_equal(mp_type_template_param_count(buffer), 2);
	const mp_type_template_param *p0 = mp_type_template_param_at(buffer, 0);
	assert_string_equal(p0->name, "T");
	assert_string_equal(mp_type_name(p0->type), "char");
	const mp_type_template_param *p1 = mp_type_template_param_at(buffer, 1);
	assert_true(p1->is_value);
	assert_int_equal(p1->value, 3);
	/* as GDB prints it ("long"), as GCC names it ("long int") */
	assert_ptr_equal(find(t, "geo::Buffer<long, 2>"), find(t, "geo::Buffer<long int, 2>"));
	const mp_type *header = find(t, "geo::Buffer<geo::Point, 1>::Header");
	assert_int_equal(mp_type_size(header), 8);

	const mp_type *multi = find(t, "geo::Multi");
	assert_int_equal(mp_type_kind(multi), MP_TYPE_CLASS);
	assert_true(mp_type_member_at(multi, 0)->is_base);
	assert_string_equal(mp_type_name(mp_type_member_at(multi, 0)->type), "geo::Shape");

	mp_variable v;
	mp_error *err = mp_type_find_variable(t, "holder", &v);
	if (err)
		fail_msg("%s", mp_error_message(err));
	assert_string_equal(mp_type_name(v.type), "geo::Holder");
	mp_target_release(t);
}

static void test_cpp_type_units(void **state)
{
	(void)state;
	mp_target *t = open_exe("classes_tu");
	if (!t)
		skip();
	const mp_type *holder = find(t, "geo::Holder");
	assert_int_equal(mp_type_size(holder), 128);
	assert_int_equal(mp_type_member_count(holder), 5);
	assert_int_equal(member(holder, "header")->offset, 120);
	assert_string_equal(mp_type_name(member(holder, "large")->type), "geo::Buffer<long int, 2>");
	assert_int_equal(member(holder, "large")->size, 32);
	const mp_type *multi = find(t, "geo::Multi");
	assert_true(mp_type_member_at(multi, 0)->is_base);
	assert_int_equal(mp_type_member_at(multi, 0)->size, 40);
	mp_target_release(t);
}

/* A pointee declared in the program and defined in its library: the
 * live process's modules resolve it. */
static void test_cross_module(void **state)
{
	(void)state;
	char *path = program("uses_lib");
	int to_child[2], from_child[2];
	assert_int_equal(pipe(to_child), 0);
	assert_int_equal(pipe(from_child), 0);
	pid_t child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		dup2(to_child[0], 0);
		dup2(from_child[1], 1);
		close(to_child[1]);
		close(from_child[0]);
		execl(path, path, "--hold", (char *)NULL);
		_exit(127);
	}
	close(to_child[0]);
	close(from_child[1]);
	FILE *held = fdopen(from_child[0], "r");
	assert_non_null(held);
	int pid = 0;
	assert_int_equal(fscanf(held, "ready %d", &pid), 1);
	mp_target *t = NULL;
	mp_error *e = mp_target_attach_pid(pid, NULL, 0, &t);
	if (e)
		fail_msg("%s", mp_error_message(e));
	const mp_type *user = find(t, "struct opaque_user");
	const mp_type *pointee = mp_type_target(member(user, "handle")->type);
	assert_true(mp_type_is_complete(pointee));
	assert_int_equal(mp_type_size(pointee), 12);
	assert_int_equal(mp_type_member_count(pointee), 2);
	assert_non_null(strstr(mp_module_name(mp_type_module(pointee)), "libopaque.so"));
	mp_target_release(t);
	close(to_child[1]);
	int status = 0;
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	fclose(held);
	free(path);
}

static void test_rust(void **state)
{
	(void)state;
	mp_target *t = open_exe("layouts_rs");
	if (!t)
		skip();
	const mp_type *option = find(t, "core::option::Option<alloc::boxed::Box<u32, alloc::alloc::Global>>");
	assert_int_equal(mp_type_size(option), 8);
	assert_int_equal(mp_type_variant_count(option), 2);
	uint64_t offset = 99, size = 99;
	assert_true(mp_type_discriminant(option, &offset, &size));
	assert_int_equal(offset, 0);
	assert_int_equal(size, 8);
	uint64_t null_ptr = 0, some_ptr = 0x5555aaaa0010;
	const mp_type_variant *active = mp_type_active_variant(option, &null_ptr, 8);
	assert_non_null(active);
	assert_string_equal(active->name, "None");
	active = mp_type_active_variant(option, &some_ptr, 8);
	assert_non_null(active);
	assert_string_equal(active->name, "Some");

	const mp_type *mixed = find(t, "layouts::Mixed");
	/* rustc reorders: members come back sorted by offset */
	for (size_t i = 1; i < mp_type_member_count(mixed); i++)
		assert_true(mp_type_member_at(mixed, i - 1)->offset <
			    mp_type_member_at(mixed, i)->offset);

	const mp_type *vec = find(t, "alloc::vec::Vec<alloc::string::String, alloc::alloc::Global>");
	assert_int_equal(mp_type_size(vec), 24);
	assert_true(mp_type_template_param_count(vec) >= 1);
	assert_string_equal(mp_type_name(mp_type_template_param_at(vec, 0)->type),
			    "alloc::string::String");

	mp_variable v;
	mp_error *err = mp_type_find_variable(t, "layouts::INSTANCE", &v);
	if (err)
		fail_msg("%s", mp_error_message(err));
	assert_int_equal(mp_type_size(v.type), 56);
	mp_target_release(t);
}

static void test_no_debug_info(void **state)
{
	(void)state;
	char *src = program("layouts");
	char path[] = "/tmp/memprof-nodebug-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	char *command = NULL;
	assert_true(asprintf(&command, "strip --strip-debug -o %s %s", path, src) > 0);
	assert_int_equal(system(command), 0);
	mp_target *t = NULL;
	assert_null(mp_target_open_exe(path, NULL, &t));
	const mp_type *type = NULL;
	mp_error *e = mp_type_find(t, "struct holes", &type);
	assert_non_null(e);
	const char *message = mp_error_message(e);
	assert_non_null(strstr(message, path));
	assert_non_null(strstr(message, "build id"));
	assert_non_null(strstr(message, "--debug-dir"));
	mp_error_free(e);
	mp_target_release(t);
	unlink(path);
	free(command);
	free(src);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_normalize),
		cmocka_unit_test(test_c_dwarf5),
		cmocka_unit_test(test_c_dwarf4),
		cmocka_unit_test(test_cpp),
		cmocka_unit_test(test_cpp_type_units),
		cmocka_unit_test(test_cross_module),
		cmocka_unit_test(test_rust),
		cmocka_unit_test(test_no_debug_info),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
