/*
 * tests/api/cxx.cc - C++ allocation in a program linked against
 * libsbmalloc: its own operator new and delete (src/cxxnew.c), every form,
 * with the standard's semantics (std::bad_alloc, nothrow, the
 * new-handler, alignment, sized delete), and the standard containers on
 * top.  (tap.h's TESTS() uses a C compound literal, so the cases are
 * listed in a static array.)
 */
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <new>
#include <random>
#include <string>
#include <vector>

#include <sys/resource.h>

#include <sbmalloc.h>

#include "../tap.h"
#include "operators.h"

/* Keep the compiler from eliding a new/delete pair. */
static void escape(const void *p)
{
	__asm__ volatile("" : : "g"(p) : "memory");
}

static bool is_aligned(const void *p, std::size_t alignment)
{
	return (reinterpret_cast<std::uintptr_t>(p) & (alignment - 1)) == 0;
}

struct Tracked {
	static long live;
	std::uint64_t value;
	unsigned char pad[40];

	Tracked() : value(0x1234567890abcdefULL) { live++; }
	~Tracked() { live--; }
};
long Tracked::live = 0;

struct alignas(256) Aligned256 {
	unsigned char bytes[300];
};

struct alignas(4096) Aligned4096 {
	unsigned char bytes[5000];
};

TEST(operator_new_is_served_by_sbmalloc)
{
	int *one = new int(5);
	int *many = new int[1000];
	Aligned256 *aligned = new Aligned256;
	std::vector<char> big(8 << 20);
	std::string heap_string(100, 'x');

	escape(one);
	escape(many);
	escape(aligned);
	CHECK(sb_owns(one));
	CHECK(sb_owns(many));
	CHECK(sb_owns(aligned));
	CHECK(sb_owns(big.data()));
	CHECK(sb_owns(heap_string.data()));
	delete one;
	delete[] many;
	delete aligned;
}

TEST(new_and_delete_keep_object_contents)
{
	const std::size_t n = 100000;
	std::vector<std::uint64_t *> objects(n);

	for (std::size_t i = 0; i < n; i++) {
		objects[i] = new std::uint64_t(i * 0x9e3779b97f4a7c15ULL);
		escape(objects[i]);
	}
	/* Free every other one, then refill the holes. */
	for (std::size_t i = 0; i < n; i += 2)
		delete objects[i];
	for (std::size_t i = 0; i < n; i += 2) {
		objects[i] = new std::uint64_t(i * 0x9e3779b97f4a7c15ULL);
		escape(objects[i]);
	}
	for (std::size_t i = 0; i < n; i++) {
		CHECK(*objects[i] == i * 0x9e3779b97f4a7c15ULL);
		delete objects[i];
	}
}

TEST(array_new_constructs_and_array_delete_destroys_every_element)
{
	static const std::size_t counts[] = { 1, 7, 100, 1000, 100000, 200000 };

	for (std::size_t count : counts) {
		Tracked *array = new Tracked[count];

		escape(array);
		CHECK(sb_owns(array));
		CHECK(Tracked::live == static_cast<long>(count));
		for (std::size_t i = 0; i < count; i++) {
			CHECK(array[i].value == 0x1234567890abcdefULL);
			array[i].value = i;
		}
		for (std::size_t i = 0; i < count; i++)
			CHECK(array[i].value == i);
		delete[] array;
		CHECK(Tracked::live == 0);
	}
}

TEST(aligned_new_honours_alignas)
{
	std::vector<Aligned256 *> singles;
	std::vector<Aligned4096 *> pages;

	for (int i = 0; i < 1000; i++) {
		Aligned256 *p = new Aligned256;

		escape(p);
		CHECK(is_aligned(p, 256));
		CHECK(sb_owns(p));
		p->bytes[0] = static_cast<unsigned char>(i);
		p->bytes[299] = static_cast<unsigned char>(i);
		singles.push_back(p);
	}
	for (int i = 0; i < 50; i++) {
		Aligned4096 *p = new Aligned4096;

		escape(p);
		CHECK(is_aligned(p, 4096));
		CHECK(sb_owns(p));
		pages.push_back(p);
	}
	Aligned256 *array = new Aligned256[17];
	escape(array);
	CHECK(is_aligned(array, 256));
	for (int i = 0; i < 17; i++)
		CHECK(is_aligned(&array[i], 256));
	delete[] array;
	for (int i = 0; i < 1000; i++) {
		CHECK(singles[i]->bytes[0] == static_cast<unsigned char>(i));
		CHECK(singles[i]->bytes[299] == static_cast<unsigned char>(i));
		delete singles[i];
	}
	for (Aligned4096 *p : pages)
		delete p;
}

TEST(vector_growth_keeps_elements)
{
	/* 2M ints: the buffer grows through small, page and huge blocks. */
	const int n = 2 << 20;
	std::vector<int> v;

	for (int i = 0; i < n; i++) {
		v.push_back(i ^ 0x5a5a5a5a);
		if ((i & (i - 1)) == 0)	/* just grew */
			CHECK(sb_owns(v.data()));
	}
	for (int i = 0; i < n; i++)
		CHECK(v[i] == (i ^ 0x5a5a5a5a));
	v.resize(1000);
	v.shrink_to_fit();
	CHECK(sb_owns(v.data()));
	for (int i = 0; i < 1000; i++)
		CHECK(v[i] == (i ^ 0x5a5a5a5a));
}

/* The string of `length` letters that `seed` stands for. */
static std::string make_string(std::uint32_t seed, std::size_t length)
{
	std::string s(length, '\0');
	std::uint32_t x = seed | 1;

	for (char &c : s) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		c = static_cast<char>('a' + x % 26);
	}
	return s;
}

TEST(string_churn_keeps_contents)
{
	std::mt19937 rng(12345);
	std::vector<std::string> strings(2000);
	std::vector<std::uint32_t> seeds(2000);
	std::vector<std::size_t> lengths(2000);

	for (int op = 0; op < 100000; op++) {
		std::size_t slot = rng() % strings.size();
		std::uint32_t seed = rng();
		std::size_t length = rng() % 5 == 0 ? rng() % 20000 : rng() % 300;
		std::string &s = strings[slot];

		/* Check the old string, then replace it, growing or shrinking. */
		CHECK(s == make_string(seeds[slot], lengths[slot]));
		if (op % 3 == 0) {
			s = make_string(seed, length);
		} else {
			/* Build it up piecewise: appends reallocate the buffer. */
			std::string whole = make_string(seed, length);

			s.clear();
			s.shrink_to_fit();
			for (std::size_t at = 0; at < length; at += 1000)
				s += whole.substr(at, 1000);
		}
		seeds[slot] = seed;
		lengths[slot] = length;
	}
	for (std::size_t i = 0; i < strings.size(); i++)
		CHECK(strings[i] == make_string(seeds[i], lengths[i]));
}

TEST(map_with_100k_entries_keeps_every_entry)
{
	std::map<int, std::string> map;

	for (int i = 0; i < 100000; i++)
		map[i * 7 % 100003] = std::to_string(i) + " is the value of this entry";
	CHECK(map.size() == 100000);
	CHECK(sb_owns(&*map.begin()));
	for (int i = 0; i < 100000; i++) {
		auto it = map.find(i * 7 % 100003);
		CHECK(it != map.end());
		CHECK(it->second == std::to_string(i) + " is the value of this entry");
	}
	for (int i = 0; i < 100000; i += 2)
		map.erase(i * 7 % 100003);
	CHECK(map.size() == 50000);
	for (int i = 1; i < 100000; i += 2)
		CHECK(map.at(i * 7 % 100003) == std::to_string(i) + " is the value of this entry");
}

/* ---- The operators themselves ----------------------------------------- */

/* More than any machine has: every form fails on it. */
static const std::size_t impossible = PTRDIFF_MAX;

/* Each throwing and each nothrow form of new, as a function of the size. */
static void *new_plain(std::size_t n) { return ::operator new(n); }
static void *new_array(std::size_t n) { return ::operator new[](n); }
static void *new_aligned(std::size_t n) { return ::operator new(n, std::align_val_t(64)); }
static void *new_aligned_array(std::size_t n) { return ::operator new[](n, std::align_val_t(64)); }
static void *(*const throwing_news[])(std::size_t) = {
	new_plain, new_array, new_aligned, new_aligned_array,
};

static void *nothrow_plain(std::size_t n) { return ::operator new(n, std::nothrow); }
static void *nothrow_array(std::size_t n) { return ::operator new[](n, std::nothrow); }
static void *nothrow_aligned(std::size_t n)
{
	return ::operator new(n, std::align_val_t(64), std::nothrow);
}
static void *nothrow_aligned_array(std::size_t n)
{
	return ::operator new[](n, std::align_val_t(64), std::nothrow);
}
static void *(*const nothrow_news[])(std::size_t) = {
	nothrow_plain, nothrow_array, nothrow_aligned, nothrow_aligned_array,
};

/* f(size) threw std::bad_alloc (and returned nothing). */
static bool throws_bad_alloc(void *(*f)(std::size_t), std::size_t size)
{
	try {
		escape(f(size));
	} catch (const std::bad_alloc &) {
		return true;
	}
	return false;
}

TEST(every_operator_resolves_into_libsbmalloc)
{
	CHECK(sb_operators_elsewhere() == 0);
}

TEST(every_unaligned_new_form_returns_owned_memory_aligned_to_16)
{
	static const std::size_t sizes[] = { 1, 24, 1000, 20000, 100000, 8 << 20 };

	for (std::size_t size : sizes) {
		void *p[] = {
			::operator new(size), ::operator new[](size),
			::operator new(size, std::nothrow), ::operator new[](size, std::nothrow),
		};

		for (void *q : p) {
			CHECK(q != nullptr);
			CHECK(sb_owns(q));
			CHECK(is_aligned(q, __STDCPP_DEFAULT_NEW_ALIGNMENT__));
			static_cast<char *>(q)[size - 1] = 1;
		}
		::operator delete(p[0]);
		::operator delete[](p[1]);
		::operator delete(p[2], std::nothrow);
		::operator delete[](p[3], std::nothrow);
	}
}

TEST(every_aligned_new_form_returns_owned_memory_aligned_as_asked)
{
	static const std::size_t sizes[] = { 1, 100, 5000, 5 << 20 };

	for (std::size_t align = 1; align <= (std::size_t)2 << 20; align *= 2) {
		const std::align_val_t al = std::align_val_t(align);

		for (std::size_t size : sizes) {
			void *p[] = {
				::operator new(size, al), ::operator new[](size, al),
				::operator new(size, al, std::nothrow),
				::operator new[](size, al, std::nothrow),
			};

			for (void *q : p) {
				CHECK(q != nullptr);
				CHECK(sb_owns(q));
				CHECKF(is_aligned(q, align), "%p for alignment %zu", q, align);
				static_cast<char *>(q)[size - 1] = 1;
			}
			::operator delete(p[0], al);
			::operator delete[](p[1], size, al);
			::operator delete(p[2], al, std::nothrow);
			::operator delete[](p[3], al, std::nothrow);
		}
	}
}

TEST(new_of_zero_bytes_returns_distinct_pointers)
{
	void *a = ::operator new(0), *b = ::operator new(0);
	void *c = ::operator new[](0, std::align_val_t(256)), *d = ::operator new[](0, std::align_val_t(256));

	CHECK(a != nullptr && b != nullptr && a != b);
	CHECK(c != nullptr && d != nullptr && c != d);
	::operator delete(a);
	::operator delete(b);
	::operator delete[](c, std::align_val_t(256));
	::operator delete[](d, std::align_val_t(256));
}

TEST(every_throwing_new_form_of_impossible_size_throws_bad_alloc)
{
	for (auto f : throwing_news)
		CHECK(throws_bad_alloc(f, impossible));
}

TEST(every_nothrow_new_form_of_impossible_size_returns_nullptr)
{
	for (auto f : nothrow_news)
		CHECK(f(impossible) == nullptr);
}

/* The new-handlers below count their calls. */
static int handler_calls;
static int handler_calls_to_uninstall;	/* the call that uninstalls it */
static void *reserve;			/* what free_reserve gives back */

static void count_then_uninstall()
{
	if (++handler_calls == handler_calls_to_uninstall)
		std::set_new_handler(nullptr);
}

static void free_reserve()
{
	handler_calls++;
	::operator delete(reserve);
	reserve = nullptr;
	std::set_new_handler(nullptr);
}

static void throw_bad_alloc()
{
	handler_calls++;
	throw std::bad_alloc();
}

/* An alignment that is not a power of two: a handler could not help. */
static const std::size_t bad_aligns[] = { 0, 3, 48, 4097 };

TEST(aligned_new_of_an_alignment_not_a_power_of_two_throws_bad_alloc_at_once)
{
	handler_calls = 0;
	handler_calls_to_uninstall = 1;
	std::set_new_handler(count_then_uninstall);
	for (std::size_t align : bad_aligns) {
		bool thrown = false;

		try {
			escape(::operator new(64, std::align_val_t(align)));
		} catch (const std::bad_alloc &) {
			thrown = true;
		}
		CHECK(thrown);
	}
	CHECK(handler_calls == 0);
}

TEST(nothrow_aligned_new_of_an_alignment_not_a_power_of_two_returns_nullptr_at_once)
{
	handler_calls = 0;
	handler_calls_to_uninstall = 1;
	std::set_new_handler(count_then_uninstall);
	for (std::size_t align : bad_aligns) {
		CHECK(::operator new(64, std::align_val_t(align), std::nothrow) == nullptr);
		CHECK(::operator new[](64, std::align_val_t(align), std::nothrow) == nullptr);
	}
	CHECK(handler_calls == 0);
}

/* The process's address space now, in bytes (VmSize). */
static std::size_t address_space()
{
	std::FILE *f = std::fopen("/proc/self/statm", "r");
	unsigned long pages = 0;

	CHECK(f != nullptr);
	CHECK(std::fscanf(f, "%lu", &pages) == 1);
	std::fclose(f);
	return pages * (std::size_t)sysconf(_SC_PAGESIZE);
}

TEST(new_handler_that_frees_memory_lets_the_retry_succeed)
{
	const std::size_t big = (std::size_t)256 << 20;
	struct rlimit limit;

	/* Room for the reserve but not for a second block of its size. */
	reserve = ::operator new(big);
	escape(reserve);
	CHECK(getrlimit(RLIMIT_AS, &limit) == 0);
	limit.rlim_cur = address_space() + big / 2;
	CHECK(setrlimit(RLIMIT_AS, &limit) == 0);
	handler_calls = 0;
	std::set_new_handler(free_reserve);
	void *p = ::operator new(big);
	escape(p);
	CHECK(handler_calls == 1);
	CHECK(reserve == nullptr);
	CHECK(sb_owns(p));
	static_cast<char *>(p)[big - 1] = 1;
	::operator delete(p);
}

TEST(new_calls_the_new_handler_again_while_it_stays_installed)
{
	for (auto f : throwing_news) {
		handler_calls = 0;
		handler_calls_to_uninstall = 3;
		std::set_new_handler(count_then_uninstall);
		CHECK(throws_bad_alloc(f, impossible));
		CHECK(handler_calls == 3);
	}
}

TEST(nothrow_new_calls_the_new_handler_before_returning_nullptr)
{
	for (auto f : nothrow_news) {
		handler_calls = 0;
		handler_calls_to_uninstall = 2;
		std::set_new_handler(count_then_uninstall);
		CHECK(f(impossible) == nullptr);
		CHECK(handler_calls == 2);
	}
}

TEST(new_handler_that_throws_bad_alloc_ends_new_with_it)
{
	for (auto f : throwing_news) {
		handler_calls = 0;
		std::set_new_handler(throw_bad_alloc);
		CHECK(throws_bad_alloc(f, impossible));
		CHECK(handler_calls == 1);
	}
	std::set_new_handler(nullptr);
}

TEST(every_delete_form_of_nullptr_does_nothing)
{
	const std::align_val_t al = std::align_val_t(64);

	::operator delete(nullptr);
	::operator delete[](nullptr);
	::operator delete(nullptr, std::nothrow);
	::operator delete[](nullptr, std::nothrow);
	::operator delete(nullptr, 100);
	::operator delete[](nullptr, 100);
	::operator delete(nullptr, al);
	::operator delete[](nullptr, al);
	::operator delete(nullptr, al, std::nothrow);
	::operator delete[](nullptr, al, std::nothrow);
	::operator delete(nullptr, 100, al);
	::operator delete[](nullptr, 100, al);
}

static void free_again(void *p)
{
	std::free(p);
}

/* p was freed: freeing it once more is a double free. */
static bool was_freed(void *p)
{
	return tap_expect_abort(free_again, p, "double free", nullptr, 0) == 1;
}

/* Sizes served by a slab, by page blocks and by a mapping of its own. */
static const std::size_t delete_sizes[] = { 48, 20000, 8 << 20 };

TEST(plain_and_nothrow_deletes_free_the_block)
{
	for (std::size_t size : delete_sizes) {
		void *p[4] = { ::operator new(size), ::operator new[](size),
			       ::operator new(size), ::operator new[](size) };

		::operator delete(p[0]);
		::operator delete[](p[1]);
		::operator delete(p[2], std::nothrow);
		::operator delete[](p[3], std::nothrow);
		for (void *q : p)
			CHECKF(was_freed(q), "size %zu", size);
	}
}

TEST(sized_deletes_free_the_block)
{
	for (std::size_t size : delete_sizes) {
		void *p = ::operator new(size), *q = ::operator new[](size);

		::operator delete(p, size);
		::operator delete[](q, size);
		CHECKF(was_freed(p), "size %zu", size);
		CHECKF(was_freed(q), "size %zu", size);
	}
}

TEST(aligned_deletes_free_the_block)
{
	static const std::size_t aligns[] = { 64, 4096, (std::size_t)1 << 20 };

	for (std::size_t size : delete_sizes)
		for (std::size_t align : aligns) {
			const std::align_val_t al = std::align_val_t(align);
			void *p[6];

			for (void *&q : p)
				q = ::operator new(size, al);
			::operator delete(p[0], al);
			::operator delete[](p[1], al);
			::operator delete(p[2], al, std::nothrow);
			::operator delete[](p[3], al, std::nothrow);
			::operator delete(p[4], size, al);
			::operator delete[](p[5], size, al);
			for (void *q : p)
				CHECKF(was_freed(q), "size %zu alignment %zu", size, align);
		}
}

static const struct tap_case cases[] = {
	TAP_CASE(operator_new_is_served_by_sbmalloc)
	TAP_CASE(new_and_delete_keep_object_contents)
	TAP_CASE(array_new_constructs_and_array_delete_destroys_every_element)
	TAP_CASE(aligned_new_honours_alignas)
	TAP_CASE(vector_growth_keeps_elements)
	TAP_CASE(string_churn_keeps_contents)
	TAP_CASE(map_with_100k_entries_keeps_every_entry)
	TAP_CASE(every_operator_resolves_into_libsbmalloc)
	TAP_CASE(every_unaligned_new_form_returns_owned_memory_aligned_to_16)
	TAP_CASE(every_aligned_new_form_returns_owned_memory_aligned_as_asked)
	TAP_CASE(new_of_zero_bytes_returns_distinct_pointers)
	TAP_CASE(every_throwing_new_form_of_impossible_size_throws_bad_alloc)
	TAP_CASE(every_nothrow_new_form_of_impossible_size_returns_nullptr)
	TAP_CASE(aligned_new_of_an_alignment_not_a_power_of_two_throws_bad_alloc_at_once)
	TAP_CASE(nothrow_aligned_new_of_an_alignment_not_a_power_of_two_returns_nullptr_at_once)
	TAP_CASE(new_handler_that_frees_memory_lets_the_retry_succeed)
	TAP_CASE(new_calls_the_new_handler_again_while_it_stays_installed)
	TAP_CASE(nothrow_new_calls_the_new_handler_before_returning_nullptr)
	TAP_CASE(new_handler_that_throws_bad_alloc_ends_new_with_it)
	TAP_CASE(every_delete_form_of_nullptr_does_nothing)
	TAP_CASE(plain_and_nothrow_deletes_free_the_block)
	TAP_CASE(sized_deletes_free_the_block)
	TAP_CASE(aligned_deletes_free_the_block)
};

int main(int argc, char **argv)
{
	return tap_main_many(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
