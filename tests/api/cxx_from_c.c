/*
 * tests/api/cxx_from_c.c - operator new and delete called from a C program
 * without libstdc++: found through dlsym, they work, nothrow new returns
 * NULL, and a failing throwing new, with no std::bad_alloc to throw,
 * aborts with sbmalloc's message.
 */
#define _GNU_SOURCE
#include <stdint.h>

#include <sbmalloc.h>

#include "../tap.h"
#include "operators.h"

typedef void *(*new_fn)(size_t);
typedef void *(*new_nothrow_fn)(size_t, const void *);
typedef void *(*new_aligned_fn)(size_t, size_t);
typedef void *(*new_aligned_nothrow_fn)(size_t, size_t, const void *);
typedef void (*delete_fn)(void *);
typedef void (*delete_aligned_fn)(void *, size_t);

/* What a std::nothrow_t argument points to: an empty struct's byte. */
static const char nothrow_tag;

static void *operator_fn(const char *name)
{
	void *f = dlsym(RTLD_DEFAULT, name);

	CHECKF(f != NULL, "%s: not found", name);
	return f;
}

TEST(the_program_runs_without_libstdcxx)
{
	CHECK(dlopen("libstdc++.so.6", RTLD_LAZY | RTLD_NOLOAD) == NULL);
	CHECK(sb_operators_elsewhere() == 0);
}

TEST(operator_new_called_from_c_returns_memory_sbmalloc_owns)
{
	new_fn new_ = (new_fn)operator_fn("_Znwm");
	new_aligned_fn new_aligned = (new_aligned_fn)operator_fn("_ZnamSt11align_val_t");
	delete_fn delete_ = (delete_fn)operator_fn("_ZdlPv");
	delete_aligned_fn delete_aligned = (delete_aligned_fn)operator_fn("_ZdaPvSt11align_val_t");
	void *p = new_(100), *q = new_aligned(5000, 4096);

	CHECK(p != NULL && sb_owns(p));
	CHECK(q != NULL && sb_owns(q));
	CHECK(((uintptr_t)q & 4095) == 0);
	delete_(p);
	delete_aligned(q, 4096);
}

static void new_impossible(void *name)
{
	new_fn new_ = (new_fn)operator_fn(name);

	new_(PTRDIFF_MAX);
}

static void new_aligned_badly(void *name)
{
	new_aligned_fn new_aligned = (new_aligned_fn)operator_fn(name);

	new_aligned(64, 48);
}

TEST(failing_operator_new_without_libstdcxx_aborts_with_out_of_memory)
{
	static const char *const names[] = { "_Znwm", "_Znam" };
	unsigned i;

	for (i = 0; i < 2; i++)
		CHECKF(tap_expect_abort(new_impossible, (void *)names[i],
					"sbmalloc: operator new: out of memory", NULL, 0), "%s", names[i]);
}

TEST(aligned_new_of_a_bad_alignment_without_libstdcxx_aborts_with_out_of_memory)
{
	static const char *const names[] = { "_ZnwmSt11align_val_t", "_ZnamSt11align_val_t" };
	unsigned i;

	for (i = 0; i < 2; i++)
		CHECKF(tap_expect_abort(new_aligned_badly, (void *)names[i],
					"sbmalloc: operator new: out of memory", NULL, 0), "%s", names[i]);
}

TEST(failing_nothrow_new_without_libstdcxx_returns_null)
{
	new_nothrow_fn nothrow = (new_nothrow_fn)operator_fn("_ZnwmRKSt9nothrow_t");
	new_nothrow_fn nothrow_array = (new_nothrow_fn)operator_fn("_ZnamRKSt9nothrow_t");
	new_aligned_nothrow_fn aligned =
		(new_aligned_nothrow_fn)operator_fn("_ZnwmSt11align_val_tRKSt9nothrow_t");
	new_aligned_nothrow_fn aligned_array =
		(new_aligned_nothrow_fn)operator_fn("_ZnamSt11align_val_tRKSt9nothrow_t");

	CHECK(nothrow(PTRDIFF_MAX, &nothrow_tag) == NULL);
	CHECK(nothrow_array(PTRDIFF_MAX, &nothrow_tag) == NULL);
	CHECK(aligned(PTRDIFF_MAX, 64, &nothrow_tag) == NULL);
	CHECK(aligned_array(64, 48, &nothrow_tag) == NULL);
}

int main(int argc, char **argv)
{
	return tap_main(argc, argv, TESTS(the_program_runs_without_libstdcxx,
		operator_new_called_from_c_returns_memory_sbmalloc_owns,
		failing_operator_new_without_libstdcxx_aborts_with_out_of_memory,
		aligned_new_of_a_bad_alignment_without_libstdcxx_aborts_with_out_of_memory,
		failing_nothrow_new_without_libstdcxx_returns_null));
}
