/*
 * unit_sizeclass.c - the table of small size classes (sizeclass.c).
 *
 * Specifies: 16, 32, 48, 64, then four classes per doubling up to
 * SB_SMALL_MAX; every small size is served by the smallest class that
 * holds it; no request above 64 bytes is rounded up by 25% or more.
 */
#include "internal.h"
#include "../tap.h"

static void setup(void)
{
	sb_sizeclass_init();
	CHECK(sb_nr_classes > 0);
}

TEST(there_are_at_most_SB_NR_CLASSES_classes)
{
	setup();
	CHECKF(sb_nr_classes <= SB_NR_CLASSES, "sb_nr_classes = %u", sb_nr_classes);
}

TEST(class_sizes_are_multiples_of_16_and_strictly_increasing)
{
	unsigned i;

	setup();
	for (i = 0; i < sb_nr_classes; i++) {
		CHECKF(sb_class_size[i] % 16 == 0, "class %u size %u", i, sb_class_size[i]);
		CHECKF(sb_class_size[i] > 0, "class %u size 0", i);
		if (i > 0)
			CHECKF(sb_class_size[i] > sb_class_size[i - 1],
			       "class %u size %u after %u", i, sb_class_size[i], sb_class_size[i - 1]);
	}
}

TEST(smallest_class_is_16_and_largest_is_SB_SMALL_MAX)
{
	setup();
	CHECKF(sb_class_size[0] == 16, "first class %u", sb_class_size[0]);
	CHECKF(sb_class_size[sb_nr_classes - 1] == SB_SMALL_MAX, "last class %u",
	       sb_class_size[sb_nr_classes - 1]);
}

TEST(classes_are_16_32_48_64_then_four_per_doubling)
{
	unsigned i, n;
	size_t lo;

	setup();
	CHECK(sb_class_size[0] == 16 && sb_class_size[1] == 32 &&
	      sb_class_size[2] == 48 && sb_class_size[3] == 64);
	for (lo = 64; lo < SB_SMALL_MAX; lo *= 2) {
		for (i = 0, n = 0; i < sb_nr_classes; i++)
			if (sb_class_size[i] > lo && sb_class_size[i] <= 2 * lo)
				n++;
		CHECKF(n == 4, "%u classes in (%zu, %zu]", n, lo, 2 * lo);
	}
}

TEST(every_small_size_maps_to_the_smallest_class_that_holds_it)
{
	size_t size;

	setup();
	for (size = 1; size <= SB_SMALL_MAX; size++) {
		unsigned c = sb_size_class(size);

		CHECKF(c < sb_nr_classes, "size %zu -> class %u of %u", size, c, sb_nr_classes);
		CHECKF(sb_class_size[c] >= size, "size %zu -> class %u (%u bytes)",
		       size, c, sb_class_size[c]);
		CHECKF(c == 0 || sb_class_size[c - 1] < size,
		       "size %zu -> class %u (%u bytes) but class %u (%u bytes) holds it",
		       size, c, sb_class_size[c], c - 1, sb_class_size[c - 1]);
	}
}

TEST(lookup_table_and_computed_class_agree)
{
	size_t size;

	setup();
	for (size = 1; size <= SB_SMALL_MAX; size++)
		CHECKF(sb_size_class(size) == sb_size_class_slow(size),
		       "size %zu: sb_size_class %u, sb_size_class_slow %u",
		       size, sb_size_class(size), sb_size_class_slow(size));
}

TEST(rounding_wastes_under_25_percent_above_64_bytes)
{
	size_t size;

	setup();
	for (size = 65; size <= SB_SMALL_MAX; size++) {
		size_t cs = sb_class_size[sb_size_class(size)];

		/* (cs - size) / size < 1/4, in integers */
		CHECKF((cs - size) * 4 < size, "size %zu rounded to %zu", size, cs);
	}
}

TEST(slab_init_fills_the_class_table)
{
	/* The brief's set-up path: sb_slab_init() alone must fill the table. */
	unsigned i;

	CHECK(sb_nr_classes == 0);
	sb_slab_init();
	CHECK(sb_nr_classes > 0);
	for (i = 0; i < sb_nr_classes; i++)
		CHECKF(sb_size_caches[i].size == sb_class_size[i], "cache %u size %u, class %u",
		       i, sb_size_caches[i].size, sb_class_size[i]);
	CHECK(sb_size_class(1) == 0);
	CHECK(sb_size_class(SB_SMALL_MAX) == sb_nr_classes - 1);
}

int main(int argc, char **argv)
{
	return tap_main(argc, argv, TESTS(
		there_are_at_most_SB_NR_CLASSES_classes,
		class_sizes_are_multiples_of_16_and_strictly_increasing,
		smallest_class_is_16_and_largest_is_SB_SMALL_MAX,
		classes_are_16_32_48_64_then_four_per_doubling,
		every_small_size_maps_to_the_smallest_class_that_holds_it,
		lookup_table_and_computed_class_agree,
		rounding_wastes_under_25_percent_above_64_bytes,
		slab_init_fills_the_class_table));
}
