/*
 * unit_slab.c - slab caches (slab.c).
 *
 * Specifies: the partial/full/empty transitions and the reserve of one
 * empty slab, allocation order (partial before empty before new), slab
 * colouring, slab sizing for every size class, reclaim, detection of
 * double and invalid frees, and sb_slab_is_object.  Each test runs in a
 * fresh child where sb_slab_init() has run but no slab exists yet.  The
 * behaviours are checked on caches of our own (96 and 1008 bytes) and on
 * every size cache sb_size_caches[].
 */
#include "internal.h"
#include "../tap.h"

#include <stdint.h>

#define PAGE SB_PAGE_SIZE

static struct sb_cache cache96, cache1008;

/* ---- Helpers ----------------------------------------------------------- */

static struct sb_region *region_of(const void *p)
{
	struct sb_region *r = sb_registry_lookup(p);

	CHECKF(r != NULL && r->kind == SB_MAP_REGION, "%p is in no region", p);
	return r;
}

static struct sb_slab *slab_of(const void *p)
{
	struct sb_page *pg = sb_region_page(region_of(p), p);

	CHECKF(pg->state == SB_PAGE_SLAB, "%p: page state %u, not SLAB", p, pg->state);
	CHECK(pg->slab != NULL);
	return pg->slab;
}

/* Our two caches and every size cache; returns how many. */
static size_t all_caches(struct sb_cache **out)
{
	size_t n = 0;
	unsigned i;

	sb_cache_setup(&cache96, "test-96", 96, 0);
	sb_cache_setup(&cache1008, "test-1008", 1008, 0);
	out[n++] = &cache96;
	out[n++] = &cache1008;
	for (i = 0; i < sb_nr_classes; i++)
		out[n++] = &sb_size_caches[i];
	return n;
}

static size_t list_count(struct sb_cache *c, enum sb_slab_list l)
{
	return c->lists[l].count;
}

static void **alloc_n(struct sb_cache *c, size_t n)
{
	void **v = calloc(n, sizeof(*v));
	size_t i;

	CHECK(v != NULL);
	for (i = 0; i < n; i++) {
		v[i] = sb_slab_alloc(c);
		CHECKF(v[i] != NULL, "%s: object %zu of %zu", c->name, i, n);
	}
	return v;
}

static void free_all(void **v, size_t from, size_t to)
{
	size_t i;

	for (i = from; i < to; i++)
		sb_slab_free(slab_of(v[i]), v[i], "free");
}

/* ---- Lists --------------------------------------------------------------- */

static void check_fill_one_slab(struct sb_cache *c)
{
	size_t n = c->objs_per_slab, i, k;
	void **v = alloc_n(c, n);
	struct sb_slab *s = slab_of(v[0]);
	char *end = s->mem + (size_t)c->pages_per_slab * PAGE;

	CHECKF(c->slabs_created == 1, "%s: %llu slabs for %zu objects", c->name,
	       (unsigned long long)c->slabs_created, n);
	CHECKF(list_count(c, SB_SLAB_FULL) == 1 && c->lists[SB_SLAB_FULL].first == s,
	       "%s: full list has %zu", c->name, list_count(c, SB_SLAB_FULL));
	CHECKF(list_count(c, SB_SLAB_PARTIAL) == 0 && list_count(c, SB_SLAB_EMPTY) == 0,
	       "%s: partial %zu empty %zu", c->name, list_count(c, SB_SLAB_PARTIAL),
	       list_count(c, SB_SLAB_EMPTY));
	CHECK(s->list == SB_SLAB_FULL && s->nfree == 0 && s->cache == c);
	CHECK(c->active_objs == n);
	for (i = 0; i < c->pages_per_slab; i++) {
		struct sb_page *pg = sb_region_page(region_of(s->mem), s->mem + i * PAGE);
		CHECKF(pg->state == SB_PAGE_SLAB && pg->slab == s, "%s: page %zu of the slab", c->name, i);
	}
	/* Distinct objects inside the slab's pages: write each whole, then
	 * check that no write spilled over another object. */
	for (i = 0; i < n; i++) {
		CHECKF(slab_of(v[i]) == s, "%s: object %zu in another slab", c->name, i);
		CHECKF((char *)v[i] >= s->mem && (char *)v[i] + c->size <= end,
		       "%s: object %zu at %p outside its slab", c->name, i, v[i]);
		memset(v[i], (int)(i & 0xff), c->size);
	}
	for (i = 0; i < n; i++)
		for (k = 0; k < c->size; k++)
			CHECKF(((unsigned char *)v[i])[k] == (i & 0xff), "%s: object %zu overwritten",
			       c->name, i);
	free(v);
}

TEST(allocating_objs_per_slab_objects_fills_one_slab)
{
	struct sb_cache *caches[2 + SB_NR_CLASSES];
	size_t i, n = all_caches(caches);

	for (i = 0; i < n; i++)
		check_fill_one_slab(caches[i]);
}

TEST(freeing_one_object_of_a_full_slab_makes_it_partial)
{
	struct sb_cache *caches[2 + SB_NR_CLASSES];
	size_t i, n = all_caches(caches);

	for (i = 0; i < n; i++) {
		struct sb_cache *c = caches[i];
		void **v = alloc_n(c, c->objs_per_slab);
		struct sb_slab *s = slab_of(v[0]);

		if (c->objs_per_slab == 1)
			continue;	/* a one-object slab goes from full to empty */
		sb_slab_free(s, v[c->objs_per_slab / 2], "free");
		CHECKF(s->list == SB_SLAB_PARTIAL && s->nfree == 1, "%s: list %u nfree %u",
		       c->name, s->list, s->nfree);
		CHECK(list_count(c, SB_SLAB_PARTIAL) == 1 && c->lists[SB_SLAB_PARTIAL].first == s);
		CHECK(list_count(c, SB_SLAB_FULL) == 0 && list_count(c, SB_SLAB_EMPTY) == 0);
		CHECK(c->active_objs == c->objs_per_slab - 1u);
		free(v);
	}
}

TEST(a_slab_with_every_object_free_is_kept_on_the_empty_list)
{
	struct sb_cache *caches[2 + SB_NR_CLASSES];
	size_t i, n = all_caches(caches);

	for (i = 0; i < n; i++) {
		struct sb_cache *c = caches[i];
		void **v = alloc_n(c, c->objs_per_slab);
		struct sb_slab *s = slab_of(v[0]);

		CHECK(c->reserve == 1);
		free_all(v, 0, c->objs_per_slab);
		CHECKF(s->list == SB_SLAB_EMPTY && s->nfree == c->objs_per_slab,
		       "%s: list %u nfree %u", c->name, s->list, s->nfree);
		CHECK(list_count(c, SB_SLAB_EMPTY) == 1 && c->lists[SB_SLAB_EMPTY].first == s);
		CHECK(list_count(c, SB_SLAB_FULL) == 0 && list_count(c, SB_SLAB_PARTIAL) == 0);
		CHECK(c->slabs_destroyed == 0 && c->active_objs == 0);
		CHECK(sb_region_page(region_of(s->mem), s->mem)->state == SB_PAGE_SLAB);
		free(v);
	}
}

TEST(a_second_empty_slab_goes_back_to_the_buddy_allocator)
{
	struct sb_cache *caches[2 + SB_NR_CLASSES];
	size_t i, n = all_caches(caches);

	for (i = 0; i < n; i++) {
		struct sb_cache *c = caches[i];
		size_t per = c->objs_per_slab, free_before;
		void **v = alloc_n(c, 2 * per);
		struct sb_slab *a = slab_of(v[0]), *b = slab_of(v[per]);
		struct sb_region *rb = region_of(b->mem);
		char *bmem = b->mem;
		struct sb_page *pg;

		CHECK(a != b && c->slabs_created == 2);
		free_all(v, 0, per);
		CHECK(a->list == SB_SLAB_EMPTY);
		free_before = rb->free_pages;
		free_all(v, per, 2 * per);
		CHECKF(c->slabs_destroyed == 1, "%s: slabs_destroyed %llu", c->name,
		       (unsigned long long)c->slabs_destroyed);
		CHECK(list_count(c, SB_SLAB_EMPTY) == 1 && c->lists[SB_SLAB_EMPTY].first == a);
		CHECK(list_count(c, SB_SLAB_PARTIAL) == 0 && list_count(c, SB_SLAB_FULL) == 0);
		CHECKF(rb->free_pages == free_before + c->pages_per_slab,
		       "%s: free_pages %zu -> %zu, slab of %u pages", c->name, free_before,
		       rb->free_pages, c->pages_per_slab);
		pg = sb_region_page(rb, bmem);
		CHECKF(pg->state == SB_PAGE_FREE || pg->state == SB_PAGE_MERGED,
		       "%s: first page of the returned slab has state %u", c->name, pg->state);
		free(v);
	}
}

TEST(allocation_takes_from_a_partial_slab_before_an_empty_one)
{
	struct sb_cache *c = &cache96;
	size_t per;
	void **v, *p;
	struct sb_slab *a, *b;

	sb_cache_setup(c, "test-96", 96, 0);
	per = c->objs_per_slab;
	v = alloc_n(c, 2 * per);
	a = slab_of(v[0]);
	b = slab_of(v[per]);
	free_all(v, 0, per);		/* a: empty */
	free_all(v, per + 3, per + 4);	/* b: partial */
	CHECK(a->list == SB_SLAB_EMPTY && b->list == SB_SLAB_PARTIAL);

	p = sb_slab_alloc(c);
	CHECK(p != NULL);
	CHECK(slab_of(p) == b);
	CHECK(p == v[per + 3]);
	CHECK(b->list == SB_SLAB_FULL && a->list == SB_SLAB_EMPTY);
	CHECK(c->slabs_created == 2);
}

TEST(allocation_reuses_the_empty_slab_before_creating_one)
{
	struct sb_cache *c = &cache1008;
	void **v, *p;
	struct sb_slab *a;

	sb_cache_setup(c, "test-1008", 1008, 0);
	v = alloc_n(c, c->objs_per_slab);
	a = slab_of(v[0]);
	free_all(v, 0, c->objs_per_slab);
	CHECK(a->list == SB_SLAB_EMPTY);

	p = sb_slab_alloc(c);
	CHECK(p != NULL && slab_of(p) == a);
	CHECK(a->list == SB_SLAB_PARTIAL);
	CHECK(c->slabs_created == 1);
}

/* ---- Colouring and sizing ------------------------------------------------ */

TEST(consecutive_slabs_start_their_first_object_at_different_colours)
{
	struct sb_cache *caches[2 + SB_NR_CLASSES];
	size_t i, n = all_caches(caches), coloured = 0;

	for (i = 0; i < n; i++) {
		struct sb_cache *c = caches[i];
		size_t per = c->objs_per_slab, nslabs = c->colour_count + 1u, k, j;
		void **v;
		size_t prev = SIZE_MAX;

		if (c->colour_count <= 1)
			continue;
		coloured++;
		v = alloc_n(c, nslabs * per);
		for (k = 0; k < nslabs; k++) {
			struct sb_slab *s = slab_of(v[k * per]);
			size_t off = (size_t)(s->objs - s->mem);

			CHECKF(off == (k % c->colour_count) * c->colour_step,
			       "%s: slab %zu starts at offset %zu (step %u, %u colours)", c->name, k,
			       off, c->colour_step, c->colour_count);
			CHECKF(off != prev, "%s: slabs %zu and %zu both at offset %zu", c->name,
			       k - 1, k, off);
			CHECKF(s->objs + (size_t)per * c->size <= s->mem + (size_t)c->pages_per_slab * PAGE,
			       "%s: colour %zu pushes the last object out of the slab", c->name, off);
			for (j = 0; j < per; j++)
				CHECK(slab_of(v[k * per + j]) == s);
			prev = off;
		}
		free(v);
	}
	CHECKF(cache96.colour_count > 1, "the 96-byte cache has %u colours", cache96.colour_count);
	CHECKF(cache1008.colour_count > 1, "the 1008-byte cache has %u colours", cache1008.colour_count);
	tap_diag("%zu of %zu caches coloured", coloured, n);
}

TEST(every_object_is_aligned_to_its_cache_alignment)
{
	struct sb_cache *caches[2 + SB_NR_CLASSES];
	size_t i, n = all_caches(caches);

	for (i = 0; i < n; i++) {
		struct sb_cache *c = caches[i];
		size_t per = c->objs_per_slab, total = per * (c->colour_count + 1u), k;
		void **v = alloc_n(c, total);

		CHECK(sb_is_pow2(c->align) && c->align >= SB_ALIGNMENT);
		for (k = 0; k < total; k++)
			CHECKF((uintptr_t)v[k] % c->align == 0, "%s: object %zu at %p, align %u",
			       c->name, k, v[k], c->align);
		free(v);
	}
}

TEST(a_cache_with_an_explicit_alignment_aligns_every_object)
{
	/* 192 bytes is naturally 64-aligned; ask for 128. */
	struct sb_cache c;
	size_t per, total, k;
	void **v;

	sb_cache_setup(&c, "test-192-a128", 192, 128);
	CHECKF(c.align >= 128, "align %u", c.align);
	per = c.objs_per_slab;
	total = per * (c.colour_count + 1u);
	v = alloc_n(&c, total);
	for (k = 0; k < total; k++)
		CHECKF((uintptr_t)v[k] % 128 == 0, "object %zu at %p (offset %zu in its slab)", k,
		       v[k], (size_t)((char *)v[k] - slab_of(v[k])->mem));
}

TEST(every_size_class_slab_wastes_at_most_an_eighth_and_holds_enough_objects)
{
	unsigned i;

	CHECK(sb_nr_classes > 0);
	for (i = 0; i < sb_nr_classes; i++) {
		struct sb_cache *c = &sb_size_caches[i];
		size_t slab = (size_t)c->pages_per_slab * PAGE;
		size_t used = (size_t)c->objs_per_slab * c->size;

		CHECKF(c->size == sb_class_size[i], "cache %u size %u, class %u", i, c->size,
		       sb_class_size[i]);
		CHECKF(c->pages_per_slab >= 1 && c->pages_per_slab <= 8, "%s: %u pages", c->name,
		       c->pages_per_slab);
		CHECKF(c->objs_per_slab >= 1 && c->objs_per_slab <= SB_SLAB_MAX_OBJS,
		       "%s: %u objects", c->name, c->objs_per_slab);
		CHECKF(used <= slab, "%s: %u objects of %u bytes in %zu bytes", c->name,
		       c->objs_per_slab, c->size, slab);
		CHECKF((slab - used) * 8 <= slab, "%s: %zu of %zu bytes unusable", c->name,
		       slab - used, slab);
		if (c->size <= 2048)
			CHECKF(c->objs_per_slab >= 8, "%s: only %u objects per slab", c->name,
			       c->objs_per_slab);
		CHECKF(c->colour_step >= SB_CACHE_LINE && c->colour_step % c->align == 0,
		       "%s: colour step %u, align %u", c->name, c->colour_step, c->align);
		CHECKF((size_t)(c->colour_count - 1u) * c->colour_step <= slab - used,
		       "%s: %u colours of %u bytes, %zu bytes of slack", c->name, c->colour_count,
		       c->colour_step, slab - used);
	}
}

/* ---- Reclaim ------------------------------------------------------------- */

TEST(reclaim_returns_every_empty_slab_to_the_buddy_allocator)
{
	struct sb_cache *big = &sb_size_caches[sb_size_class(1024)];
	struct sb_region *r;
	void *a, *b;
	size_t got, want;

	sb_cache_setup(&cache96, "test-96", 96, 0);
	sb_cache_register(&cache96);
	a = sb_slab_alloc(&cache96);
	b = sb_slab_alloc(big);
	CHECK(a && b);
	r = region_of(a);
	CHECK(region_of(b) == r && sb_region_count() == 1);
	sb_slab_free(slab_of(a), a, "free");
	sb_slab_free(slab_of(b), b, "free");
	CHECK(list_count(&cache96, SB_SLAB_EMPTY) == 1 && list_count(big, SB_SLAB_EMPTY) == 1);
	CHECK(r->free_pages == SB_REGION_PAGES - cache96.pages_per_slab - big->pages_per_slab);

	want = ((size_t)cache96.pages_per_slab + big->pages_per_slab) * PAGE;
	got = sb_slab_reclaim();
	CHECKF(got > 0 && got == want, "reclaim returned %zu, want %zu", got, want);
	CHECK(list_count(&cache96, SB_SLAB_EMPTY) == 0 && list_count(big, SB_SLAB_EMPTY) == 0);
	CHECK(cache96.slabs_destroyed == 1 && big->slabs_destroyed == 1);
	CHECKF(r->free_pages == SB_REGION_PAGES, "free_pages %zu", r->free_pages);
	CHECK(r->nr_free[SB_MAX_ORDER] == SB_REGION_PAGES / SB_MAX_BLOCK_PAGES);
	CHECK(sb_slab_reclaim() == 0);
}

TEST(reclaim_keeps_slabs_that_hold_objects)
{
	void **v, *p;
	struct sb_slab *s;

	sb_cache_setup(&cache96, "test-96", 96, 0);
	v = alloc_n(&cache96, cache96.objs_per_slab + 1u);	/* one full, one partial */
	CHECK(sb_slab_reclaim() == 0);
	CHECK(cache96.slabs_destroyed == 0);
	s = slab_of(v[cache96.objs_per_slab]);
	CHECK(s->list == SB_SLAB_PARTIAL);
	p = sb_slab_alloc(&cache96);
	CHECK(p != NULL && slab_of(p) == s);
}

/* ---- Bad frees ----------------------------------------------------------- */

struct bad_free {
	struct sb_slab *s;
	void *p;
};

static void do_free(void *arg)
{
	struct bad_free *b = arg;

	sb_slab_free(b->s, b->p, "free");
}

TEST(freeing_an_object_twice_aborts_with_double_free)
{
	struct sb_cache *caches[2 + SB_NR_CLASSES];
	size_t i, n = all_caches(caches);

	for (i = 0; i < n; i++) {
		struct sb_cache *c = caches[i];
		void *p = sb_slab_alloc(c), *q = sb_slab_alloc(c);
		struct bad_free b;
		unsigned nfree;

		CHECK(p && q);
		b.s = slab_of(p);
		b.p = p;
		sb_slab_free(b.s, p, "free");
		nfree = b.s->nfree;
		CHECKF(tap_expect_abort(do_free, &b, "sbmalloc: free(): double free 0x", NULL, 0),
		       "%s: second free of %p", c->name, p);
		CHECK(b.s->nfree == nfree);
	}
}

TEST(freeing_a_pointer_inside_an_object_aborts_with_invalid_pointer)
{
	struct sb_cache *caches[2 + SB_NR_CLASSES];
	size_t i, n = all_caches(caches);

	for (i = 0; i < n; i++) {
		struct sb_cache *c = caches[i];
		char *p = sb_slab_alloc(c);
		struct bad_free b;

		CHECK(p != NULL);
		if (c->size <= 16)
			continue;	/* p + 16 is the next object */
		b.s = slab_of(p);
		b.p = p + 16;
		CHECKF(tap_expect_abort(do_free, &b, "sbmalloc: free(): invalid pointer 0x", NULL, 0),
		       "%s: free of %p inside %p", c->name, b.p, (void *)p);
		b.p = p + c->size / 2 + 8;
		CHECKF(tap_expect_abort(do_free, &b, "invalid pointer", NULL, 0),
		       "%s: free of %p inside %p", c->name, b.p, (void *)p);
		CHECK(b.s->nfree == c->objs_per_slab - 1u);
	}
}

TEST(freeing_a_pointer_outside_the_objects_of_a_slab_aborts_with_invalid_pointer)
{
	struct sb_cache *c = &cache96;
	struct bad_free b;
	char *p;

	sb_cache_setup(c, "test-96", 96, 0);
	p = sb_slab_alloc(c);
	CHECK(p != NULL);
	b.s = slab_of(p);
	/* just past the last object, in the slab's tail slack */
	b.p = b.s->objs + (size_t)c->objs_per_slab * c->size;
	CHECK(tap_expect_abort(do_free, &b, "invalid pointer", NULL, 0));
	/* before the first object */
	b.p = b.s->objs - 16;
	CHECK(tap_expect_abort(do_free, &b, "invalid pointer", NULL, 0));
}

/* ---- sb_slab_is_object --------------------------------------------------- */

TEST(is_object_holds_exactly_at_the_start_of_each_object)
{
	struct sb_cache *caches[2 + SB_NR_CLASSES];
	size_t i, n = all_caches(caches), k, j;

	for (i = 0; i < n; i++) {
		struct sb_cache *c = caches[i];
		size_t per = c->objs_per_slab, slab = (size_t)c->pages_per_slab * PAGE;
		void **v = alloc_n(c, per + 1);	/* two slabs, two colours */

		for (k = 0; k < 2; k++) {
			struct sb_slab *s = slab_of(v[k * per]);

			for (j = 0; j < per; j++) {
				char *o = s->objs + j * c->size;
				bool next = c->size == 16 && j + 1 < per;

				CHECKF(sb_slab_is_object(s, o), "%s: object %zu", c->name, j);
				CHECKF(sb_slab_is_object(s, o + 16) == next, "%s: object %zu + 16",
				       c->name, j);
			}
			/* every 16-byte step of the slab's pages */
			for (j = 0; j < slab; j += 16) {
				char *q = s->mem + j;
				bool want = q >= s->objs && (size_t)(q - s->objs) % c->size == 0 &&
					    (size_t)(q - s->objs) / c->size < per;

				CHECKF(sb_slab_is_object(s, q) == want, "%s: slab %zu offset %zu: %d",
				       c->name, k, j, !want);
			}
		}
		free(v);
	}
}

int main(int argc, char **argv)
{
	static const struct tap_case cases[] = {
		TAP_APPLY(TAP_CASE,
			allocating_objs_per_slab_objects_fills_one_slab,
			freeing_one_object_of_a_full_slab_makes_it_partial,
			a_slab_with_every_object_free_is_kept_on_the_empty_list,
			a_second_empty_slab_goes_back_to_the_buddy_allocator,
			allocation_takes_from_a_partial_slab_before_an_empty_one,
			allocation_reuses_the_empty_slab_before_creating_one,
			consecutive_slabs_start_their_first_object_at_different_colours,
			every_object_is_aligned_to_its_cache_alignment,
			a_cache_with_an_explicit_alignment_aligns_every_object,
			every_size_class_slab_wastes_at_most_an_eighth_and_holds_enough_objects)
		TAP_APPLY(TAP_CASE,
			reclaim_returns_every_empty_slab_to_the_buddy_allocator,
			reclaim_keeps_slabs_that_hold_objects,
			freeing_an_object_twice_aborts_with_double_free,
			freeing_a_pointer_inside_an_object_aborts_with_invalid_pointer,
			freeing_a_pointer_outside_the_objects_of_a_slab_aborts_with_invalid_pointer,
			is_object_holds_exactly_at_the_start_of_each_object)
	};

	sb_config_init();
	sb_config.hugepages = SB_HUGEPAGES_OFF;
	if (!sb_region_init()) {
		printf("Bail out! sb_region_init failed\n");
		return 1;
	}
	sb_slab_init();
	return tap_main_many(argc, argv, cases, sizeof(cases) / sizeof(cases[0]));
}
