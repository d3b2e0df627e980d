/*
 * tests/api/cxx_preload.cc - under LD_PRELOAD, a C++ program that is not
 * linked against libsbmalloc gets sbmalloc's operator new and delete, and
 * libstdc++'s std::bad_alloc and new-handler reach them.
 *
 * Built without libsbmalloc; main() runs the program again with
 * LD_PRELOAD=$SBMALLOC_LIB.  sb_owns comes from dlsym.
 */
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>

#include "../tap.h"
#include "operators.h"

static void escape(const void *p)
{
	__asm__ volatile("" : : "g"(p) : "memory");
}

static bool owned(const void *p)
{
	auto sb_owns = reinterpret_cast<int (*)(const void *)>(dlsym(RTLD_DEFAULT, "sb_owns"));

	CHECK(sb_owns != nullptr);
	return sb_owns(p) != 0;
}

TEST(every_operator_resolves_into_libsbmalloc_under_ld_preload)
{
	CHECK(sb_operators_elsewhere() == 0);
}

TEST(new_and_aligned_new_return_memory_sbmalloc_owns_under_ld_preload)
{
	int *one = new int(5);
	long *many = new long[1000];
	void *aligned = ::operator new(5000, std::align_val_t(4096));

	escape(one);
	escape(many);
	CHECK(owned(one));
	CHECK(owned(many));
	CHECK(owned(aligned));
	CHECK((reinterpret_cast<std::uintptr_t>(aligned) & 4095) == 0);
	delete one;
	delete[] many;
	::operator delete(aligned, 5000, std::align_val_t(4096));
}

TEST(new_of_impossible_size_throws_bad_alloc_under_ld_preload)
{
	volatile std::size_t size = PTRDIFF_MAX;
	bool thrown = false;

	try {
		escape(::operator new[](size));
	} catch (const std::bad_alloc &) {
		thrown = true;
	}
	CHECK(thrown);
}

static int handler_calls;

static void count_then_uninstall()
{
	if (++handler_calls == 2)
		std::set_new_handler(nullptr);
}

TEST(new_calls_the_new_handler_under_ld_preload)
{
	volatile std::size_t size = PTRDIFF_MAX;

	std::set_new_handler(count_then_uninstall);
	CHECK(::operator new(size, std::nothrow) == nullptr);
	CHECK(handler_calls == 2);
}

static const struct tap_case cases[] = {
	TAP_CASE(every_operator_resolves_into_libsbmalloc_under_ld_preload)
	TAP_CASE(new_and_aligned_new_return_memory_sbmalloc_owns_under_ld_preload)
	TAP_CASE(new_of_impossible_size_throws_bad_alloc_under_ld_preload)
	TAP_CASE(new_calls_the_new_handler_under_ld_preload)
};

int main(int argc, char **argv)
{
	const char *lib = getenv("SBMALLOC_LIB");

	if (getenv("SB_CXX_PRELOADED") == nullptr) {
		if (lib == nullptr) {
			printf("1..0 # SKIP SBMALLOC_LIB is not set (run it through make check)\n");
			return 0;
		}
		setenv("LD_PRELOAD", lib, 1);
		setenv("SB_CXX_PRELOADED", "1", 1);
		execv("/proc/self/exe", argv);
		perror("execv /proc/self/exe");
		return 1;
	}
	return tap_main_many(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
