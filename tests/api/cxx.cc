/*
 * tests/api/cxx.cc - C++ allocation through libstdc++ lands in sbmalloc.
 *
 * libstdc++'s operator new/delete (plain, array, aligned, nothrow) call
 * malloc/aligned_alloc/free, which resolve to libsbmalloc.so, the first
 * library in DT_NEEDED.  (tap.h's TESTS() uses a C compound literal, so the
 * cases are listed in a static array.)
 */
#include <cstddef>
#include <cstdint>
#include <map>
#include <new>
#include <random>
#include <string>
#include <vector>

#include <sbmalloc.h>

#include "../tap.h"

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

TEST(nothrow_new_of_impossible_size_returns_null)
{
	volatile std::size_t size = PTRDIFF_MAX;
	void *p = ::operator new(size, std::nothrow);

	CHECK(p == nullptr);
	p = ::operator new[](size, std::align_val_t(64), std::nothrow);
	CHECK(p == nullptr);
}

TEST(new_of_impossible_size_throws_bad_alloc)
{
	volatile std::size_t size = PTRDIFF_MAX;
	bool thrown = false;

	try {
		void *p = ::operator new(size);
		escape(p);
		::operator delete(p);
	} catch (const std::bad_alloc &) {
		thrown = true;
	}
	CHECK(thrown);
}

static const struct tap_case cases[] = {
	TAP_CASE(operator_new_is_served_by_sbmalloc)
	TAP_CASE(new_and_delete_keep_object_contents)
	TAP_CASE(array_new_constructs_and_array_delete_destroys_every_element)
	TAP_CASE(aligned_new_honours_alignas)
	TAP_CASE(vector_growth_keeps_elements)
	TAP_CASE(string_churn_keeps_contents)
	TAP_CASE(map_with_100k_entries_keeps_every_entry)
	TAP_CASE(nothrow_new_of_impossible_size_returns_null)
	TAP_CASE(new_of_impossible_size_throws_bad_alloc)
};

int main(int argc, char **argv)
{
	return tap_main_many(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
