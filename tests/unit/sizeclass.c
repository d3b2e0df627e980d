/*
 * tests/unit/sizeclass.c - the table of small size classes (sizeclass.c).
 *
 * Specifies: 16, 32, 48, 64, then four classes per doubling up to
 * SB_SMALL_MAX, SB_NR_CLASSES in all; every small size is served by the
 * smallest class that holds it; no request above 64 bytes is rounded up by
 * 25% or more; the free path's table (sb_class_info) is the slab geometry
 * of each class, finds exactly the objects of a slab, and sends every bin
 * past the classes to the slow path (span 0); bring-up (sb_global_init)
 * fills the tables and gives every class a cache of its size.
 */
#include "cache.h"
#include "init.h"
#include "sizeclass.h"
#include "slab.h"
#include "../tap.h"

static void setup(void)
{
	sb_sizeclass_init();
	CHECK(sb_class_size(0) > 0);
}

TEST(there_are_exactly_SB_NR_CLASSES_classes)
{
	unsigned i;
	size_t size;

	setup();
	for (i = 0; i < SB_NR_CLASSES; i++)
		CHECKF(sb_class_size(i) > 0, "class %u of %u has size 0", i, SB_NR_CLASSES);
	CHECKF(sb_class_info[SB_NR_CLASSES].size == 0, "a class %u past SB_NR_CLASSES, size %u",
	       SB_NR_CLASSES, sb_class_info[SB_NR_CLASSES].size);
	for (size = 1; size <= SB_SMALL_MAX; size++)
		CHECKF(sb_size_class(size) < SB_NR_CLASSES, "size %zu -> class %u", size,
		       sb_size_class(size));
	CHECK(sb_size_class(SB_SMALL_MAX) == SB_NR_CLASSES - 1);
}

TEST(class_sizes_are_multiples_of_16_and_strictly_increasing)
{
	unsigned i;

	setup();
	for (i = 0; i < SB_NR_CLASSES; i++) {
		CHECKF(sb_class_size(i) % 16 == 0, "class %u size %u", i, sb_class_size(i));
		CHECKF(sb_class_size(i) > 0, "class %u size 0", i);
		if (i > 0)
			CHECKF(sb_class_size(i) > sb_class_size(i - 1),
			       "class %u size %u after %u", i, sb_class_size(i), sb_class_size(i - 1));
	}
}

TEST(smallest_class_is_16_and_largest_is_SB_SMALL_MAX)
{
	setup();
	CHECKF(sb_class_size(0) == 16, "first class %u", sb_class_size(0));
	CHECKF(sb_class_size(SB_NR_CLASSES - 1) == SB_SMALL_MAX, "last class %u",
	       sb_class_size(SB_NR_CLASSES - 1));
}

TEST(classes_are_16_32_48_64_then_four_per_doubling)
{
	unsigned i, n;
	size_t lo;

	setup();
	CHECK(sb_class_size(0) == 16 && sb_class_size(1) == 32 &&
	      sb_class_size(2) == 48 && sb_class_size(3) == 64);
	for (lo = 64; lo < SB_SMALL_MAX; lo *= 2) {
		for (i = 0, n = 0; i < SB_NR_CLASSES; i++)
			if (sb_class_size(i) > lo && sb_class_size(i) <= 2 * lo)
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

		CHECKF(c < SB_NR_CLASSES, "size %zu -> class %u of %u", size, c, SB_NR_CLASSES);
		CHECKF(sb_class_size(c) >= size, "size %zu -> class %u (%u bytes)",
		       size, c, sb_class_size(c));
		CHECKF(c == 0 || sb_class_size(c - 1) < size,
		       "size %zu -> class %u (%u bytes) but class %u (%u bytes) holds it",
		       size, c, sb_class_size(c), c - 1, sb_class_size(c - 1));
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
		size_t cs = sb_class_size(sb_size_class(size));

		/* (cs - size) / size < 1/4, in integers */
		CHECKF((cs - size) * 4 < size, "size %zu rounded to %zu", size, cs);
	}
}

/* ---- The free path's table --------------------------------------------- */

TEST(class_info_of_every_class_is_the_slab_geometry_of_its_size)
{
	unsigned i;

	setup();
	for (i = 0; i < SB_NR_CLASSES; i++) {
		const struct sb_class_info *ci = &sb_class_info[i];
		struct sb_slab_geometry g;

		sb_slab_geometry(ci->size, 0, &g);
		CHECKF(g.size == ci->size, "class %u: size %u, geometry stride %u", i, ci->size,
		       g.size);
		CHECKF(ci->span == (uint32_t)g.objs_per_slab * g.size,
		       "class %u (%u bytes): span %u, geometry %u objects of %u", i, ci->size,
		       ci->span, g.objs_per_slab, g.size);
		CHECKF(ci->recip == g.recip, "class %u (%u bytes): recip %u, geometry %u", i,
		       ci->size, ci->recip, g.recip);
		/* what the geometry promises, independently of it */
		CHECKF(ci->recip == (uint32_t)(((uint64_t)1 << 32) / ci->size + 1),
		       "class %u (%u bytes): recip %u is not 2^32 / size + 1", i, ci->size, ci->recip);
		CHECKF(ci->span > 0 && ci->span <= (uint32_t)g.pages_per_slab * SB_PAGE_SIZE,
		       "class %u (%u bytes): span %u in a slab of %u pages", i, ci->size, ci->span,
		       g.pages_per_slab);
		CHECKF(sb_class_align(i) == g.align, "class %u (%u bytes): align %u, geometry %u",
		       i, ci->size, sb_class_align(i), g.align);
		/* realloc keeps an object while the new size is at least half of it */
		CHECKF(ci->keep_min == ci->size / 2, "class %u (%u bytes): keep_min %u", i,
		       ci->size, ci->keep_min);
	}
}

TEST(class_info_past_the_classes_has_span_0)
{
	unsigned i;
	uint32_t idx;

	setup();
	for (i = SB_NR_CLASSES; i < sizeof(sb_class_info) / sizeof(sb_class_info[0]); i++) {
		const struct sb_class_info *ci = &sb_class_info[i];

		CHECKF(ci->span == 0, "bin %u (past %u classes): span %u", i, SB_NR_CLASSES,
		       ci->span);
		/* so no offset, not even the first object's, is an object */
		CHECKF(!sb_object_index(0, ci->size, ci->recip, ci->span, &idx),
		       "bin %u: offset 0 is object %u", i, idx);
	}
	CHECK(SB_NO_BIN < sizeof(sb_class_info) / sizeof(sb_class_info[0]));
	CHECK(sb_class_info[SB_NO_BIN].span == 0);
}

TEST(class_info_finds_exactly_the_objects_of_a_slab)
{
	unsigned i;

	setup();
	for (i = 0; i < SB_NR_CLASSES; i++) {
		const struct sb_class_info *ci = &sb_class_info[i];
		struct sb_slab_geometry g;
		uintptr_t off, end;
		uint32_t idx;

		/* the objects of a slab of the class's cache, as its geometry
		 * lays them out: every byte of them, and two objects' worth past */
		sb_slab_geometry(ci->size, 0, &g);
		end = (uintptr_t)(g.objs_per_slab + 2) * g.size;
		for (off = 0; off < end; off++) {
			bool start = off % g.size == 0 && off / g.size < g.objs_per_slab;
			bool got = sb_object_index(off, ci->size, ci->recip, ci->span, &idx);

			CHECKF(got == start, "class %u (%u bytes, %u per slab): offset %zu %s an object",
			       i, ci->size, g.objs_per_slab, (size_t)off, got ? "is" : "is not");
			CHECKF(!got || idx == off / ci->size,
			       "class %u (%u bytes): offset %zu is object %u", i, ci->size,
			       (size_t)off, idx);
		}
	}
}

/* ---- Bring-up ------------------------------------------------------------ */

TEST(global_init_fills_the_class_table_and_a_cache_per_class)
{
	/* The set-up path: sb_global_init() alone must fill the table (here
	 * without setup(); the library constructor may have run it already). */
	char name[SB_CACHE_NAME_MAX];
	unsigned i;

	sb_global_init();
	CHECK(sb_init_state == 2);
	for (i = 0; i < SB_NR_CLASSES; i++) {
		struct sb_cache *cache = sb_cache_of_class(i);
		struct sb_slab_cache *c;

		CHECKF(cache != NULL, "class %u has no cache", i);
		c = sb_cache_slab(cache);
		CHECKF(c->size == sb_class_size(i) && sb_class_size(i) > 0,
		       "cache %u size %u, class %u", i, c->size, sb_class_size(i));
		CHECKF(c->bin == i, "cache of class %u has bin %u", i, c->bin);
		CHECKF((uint32_t)c->objs_per_slab * c->size == sb_class_info[i].span &&
		       c->recip == sb_class_info[i].recip && c->align == sb_class_align(i),
		       "cache %u: %u objects of %u, recip %u, align %u; class table span %u, "
		       "recip %u, align %u", i, c->objs_per_slab, c->size, c->recip, c->align,
		       sb_class_info[i].span, sb_class_info[i].recip, sb_class_align(i));
		snprintf(name, sizeof(name), "malloc-%u", sb_class_size(i));
		CHECKF(strcmp(c->name, name) == 0, "cache %u is named \"%s\"", i, c->name);
	}
	CHECK(sb_size_class(1) == 0);
	CHECK(sb_size_class(SB_SMALL_MAX) == SB_NR_CLASSES - 1);
}

int main(int argc, char **argv)
{
	return tap_main(argc, argv, TESTS(
		there_are_exactly_SB_NR_CLASSES_classes,
		class_sizes_are_multiples_of_16_and_strictly_increasing,
		smallest_class_is_16_and_largest_is_SB_SMALL_MAX,
		classes_are_16_32_48_64_then_four_per_doubling,
		every_small_size_maps_to_the_smallest_class_that_holds_it,
		lookup_table_and_computed_class_agree,
		rounding_wastes_under_25_percent_above_64_bytes,
		class_info_of_every_class_is_the_slab_geometry_of_its_size,
		class_info_past_the_classes_has_span_0,
		class_info_finds_exactly_the_objects_of_a_slab,
		global_init_fills_the_class_table_and_a_cache_per_class));
}
