/*
 * tests/unit/slab.c - slab caches (slab.c).
 *
 * Specifies: the partial/full/empty transitions and the reserve of one
 * empty slab, allocation order (partial before empty before new), slab
 * colouring, slab sizing for every size class, reclaim, detection of
 * double and invalid frees, sb_slab_is_object, and that sb_slab_validate()
 * and sb_buddy_validate() catch a broken slab.  Each test runs in a fresh
 * child where sb_global_init() has run but no region or slab exists yet.
 * The behaviours are checked on slab caches of our own (96 and 1008 bytes,
 * bin SB_NO_BIN) and on the slab cache of every size class; the depots and
 * thread caches in front of the size classes are not used.  After each
 * operation the cache's validator runs, and every zone's after pages went
 * back to the buddy allocator.
 */
#include "buddy.h"
#include "cache.h"
#include "config.h"
#include "init.h"
#include "reclaim.h"
#include "region.h"
#include "registry.h"
#include "sizeclass.h"
#include "slab.h"
#include "sbmalloc.h"
#include "../tap.h"

#include <stdint.h>

#define PAGE SB_PAGE_SIZE

static struct sb_slab_cache cache96, cache1008;

/* ---- Helpers ----------------------------------------------------------- */

static struct sb_region *region_of(const void *p)
{
	struct sb_region *r = sb_registry_region(p);

	CHECKF(r != NULL, "%p is in no region", p);
	return r;
}

static struct sb_zone *zone_of(const void *p)
{
	return sb_zone_of_region(region_of(p));
}

static struct sb_page *page_of(const void *p)
{
	struct sb_page *pg = sb_page_of(p);

	CHECKF(pg != NULL, "%p has no page descriptor", p);
	return pg;
}

static struct sb_slab *slab_of(const void *p)
{
	struct sb_page *pg = page_of(p);

	CHECKF(sb_page_state(pg) == SB_PAGE_SLAB, "%p: page state %u, not SLAB", p,
	       sb_page_state(pg));
	CHECK(sb_page_slab(pg) != NULL);
	return sb_page_slab(pg);
}

static struct sb_slab_cache *class_cache(unsigned cls)
{
	return sb_cache_slab(sb_cache_of_class(cls));
}

/* Our two caches and the slab cache of every size class; returns how many. */
static size_t all_caches(struct sb_slab_cache **out)
{
	size_t n = 0;
	unsigned i;

	sb_slab_cache_init(&cache96, "test-96", 96, 0, SB_NO_BIN);
	sb_slab_cache_init(&cache1008, "test-1008", 1008, 0, SB_NO_BIN);
	out[n++] = &cache96;
	out[n++] = &cache1008;
	for (i = 0; i < SB_NR_CLASSES; i++)
		out[n++] = class_cache(i);
	return n;
}

static size_t list_count(struct sb_slab_cache *c, enum sb_slab_list l)
{
	return c->lists[l].count;
}

static void *alloc_one(struct sb_slab_cache *c)
{
	void *p = NULL;

	if (sb_slab_alloc_batch(c, &p, 1, "malloc") != 1)
		return NULL;
	return p;
}

static void free_one(struct sb_slab_cache *c, void *p)
{
	sb_slab_free_batch(c, &p, 1, "free");
}

static void **alloc_n(struct sb_slab_cache *c, size_t n)
{
	void **v = calloc(n, sizeof(*v));
	size_t i;

	CHECK(v != NULL);
	for (i = 0; i < n; i++) {
		v[i] = alloc_one(c);
		CHECKF(v[i] != NULL, "%s: object %zu of %zu", c->name, i, n);
	}
	return v;
}

static void free_all(void **v, size_t from, size_t to)
{
	size_t i;

	for (i = from; i < to; i++)
		free_one(sb_slab_cache_of(slab_of(v[i])), v[i]);
}

#define CHECK_SLAB_VALID(c) CHECKF(sb_slab_validate(c), "%s: sb_slab_validate failed", (c)->name)

/* Every zone's free lists, page states and counts agree. */
static void check_zones(void)
{
	size_t i, n = sb_region_count();

	for (i = 0; i < n; i++)
		CHECKF(sb_buddy_validate(i), "sb_buddy_validate(%zu) failed", i);
}

/*
 * Run a validator with stderr going into a pipe; returns its result, with
 * what it wrote in out (NUL-terminated).  A validator writes one line.
 */
static bool quietly(bool (*validate)(void *), void *arg, char *out, size_t len)
{
	int fds[2], saved;
	ssize_t n;
	size_t got = 0;
	bool ok;

	CHECK(pipe(fds) == 0);
	saved = dup(2);
	CHECK(saved >= 0);
	CHECK(dup2(fds[1], 2) == 2);
	ok = validate(arg);
	CHECK(dup2(saved, 2) == 2);
	close(saved);
	close(fds[1]);
	while (got < len - 1 && (n = read(fds[0], out + got, len - 1 - got)) > 0)
		got += (size_t)n;
	out[got] = '\0';
	close(fds[0]);
	return ok;
}

static bool validate_slab(void *c)
{
	return sb_slab_validate(c);
}

static bool validate_zone(void *i)
{
	return sb_buddy_validate(*(size_t *)i);
}

/* The validator fails, naming layer and what, and the address v. */
static void check_invalid(bool (*validate)(void *), void *arg, const char *layer,
			  const char *what, uintptr_t v)
{
	char out[512], want[160];

	CHECKF(!quietly(validate, arg, out, sizeof(out)), "the %s validator passed", layer);
	snprintf(want, sizeof(want), "sbmalloc: %s: invalid: %s 0x%lx\n", layer, what,
		 (unsigned long)v);
	CHECKF(strstr(out, want) != NULL, "stderr \"%s\" lacks \"%s\"", out, want);
}

/* ---- Lists --------------------------------------------------------------- */

static void check_fill_one_slab(struct sb_slab_cache *c)
{
	size_t n = c->objs_per_slab, i, k;
	void **v = alloc_n(c, n);
	struct sb_slab *s = slab_of(v[0]);
	char *end = s->mem + (size_t)c->pages_per_slab * PAGE;

	CHECKF(c->slabs_created == 1, "%s: %llu slabs for %zu objects", c->name,
	       (unsigned long long)c->slabs_created, n);
	/* full slabs are counted, on no list (as in SLUB) */
	CHECKF(list_count(c, SB_SLAB_FULL) == 1 && c->lists[SB_SLAB_FULL].first == NULL,
	       "%s: %zu full slabs", c->name, list_count(c, SB_SLAB_FULL));
	CHECKF(list_count(c, SB_SLAB_PARTIAL) == 0 && list_count(c, SB_SLAB_EMPTY) == 0,
	       "%s: partial %zu empty %zu", c->name, list_count(c, SB_SLAB_PARTIAL),
	       list_count(c, SB_SLAB_EMPTY));
	CHECK(s->list == SB_SLAB_FULL && s->nfree == 0 && s->cache == c);
	CHECK(c->active_objs == n);
	for (i = 0; i < c->pages_per_slab; i++) {
		struct sb_page *pg = page_of(s->mem + i * PAGE);

		CHECKF(sb_page_state(pg) == SB_PAGE_SLAB && sb_page_slab(pg) == s,
		       "%s: page %zu of the slab", c->name, i);
		CHECKF(sb_page_bin(pg) == c->bin, "%s: page %zu has bin %u, cache %u", c->name, i,
		       sb_page_bin(pg), c->bin);
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
	CHECK_SLAB_VALID(c);
	free(v);
}

TEST(allocating_objs_per_slab_objects_fills_one_slab)
{
	struct sb_slab_cache *caches[2 + SB_NR_CLASSES];
	size_t i, n = all_caches(caches);

	for (i = 0; i < n; i++)
		check_fill_one_slab(caches[i]);
	check_zones();
}

TEST(freeing_one_object_of_a_full_slab_makes_it_partial)
{
	struct sb_slab_cache *caches[2 + SB_NR_CLASSES];
	size_t i, n = all_caches(caches), tested = 0;

	for (i = 0; i < n; i++) {
		struct sb_slab_cache *c = caches[i];
		void **v = alloc_n(c, c->objs_per_slab);
		struct sb_slab *s = slab_of(v[0]);

		CHECK_SLAB_VALID(c);
		if (c->objs_per_slab == 1)
			continue;	/* a one-object slab goes from full to empty */
		tested++;
		free_one(c, v[c->objs_per_slab / 2]);
		CHECKF(s->list == SB_SLAB_PARTIAL && s->nfree == 1, "%s: list %u nfree %u",
		       c->name, s->list, s->nfree);
		CHECK(list_count(c, SB_SLAB_PARTIAL) == 1 && c->lists[SB_SLAB_PARTIAL].first == s);
		CHECK(list_count(c, SB_SLAB_FULL) == 0 && list_count(c, SB_SLAB_EMPTY) == 0);
		CHECK(c->active_objs == c->objs_per_slab - 1u);
		CHECK_SLAB_VALID(c);
		free(v);
	}
	CHECK(tested >= 2);
	check_zones();
}

TEST(a_slab_with_every_object_free_is_kept_on_the_empty_list)
{
	struct sb_slab_cache *caches[2 + SB_NR_CLASSES];
	size_t i, n = all_caches(caches);

	for (i = 0; i < n; i++) {
		struct sb_slab_cache *c = caches[i];
		void **v = alloc_n(c, c->objs_per_slab);
		struct sb_slab *s = slab_of(v[0]);

		CHECK(c->reserve == 1);
		free_all(v, 0, c->objs_per_slab);
		CHECKF(s->list == SB_SLAB_EMPTY && s->nfree == c->objs_per_slab,
		       "%s: list %u nfree %u", c->name, s->list, s->nfree);
		CHECK(list_count(c, SB_SLAB_EMPTY) == 1 && c->lists[SB_SLAB_EMPTY].first == s);
		CHECK(list_count(c, SB_SLAB_FULL) == 0 && list_count(c, SB_SLAB_PARTIAL) == 0);
		CHECK(c->slabs_destroyed == 0 && c->active_objs == 0);
		CHECK(sb_page_state(page_of(s->mem)) == SB_PAGE_SLAB);
		CHECK_SLAB_VALID(c);
		free(v);
	}
	check_zones();
}

TEST(a_second_empty_slab_goes_back_to_the_buddy_allocator)
{
	struct sb_slab_cache *caches[2 + SB_NR_CLASSES];
	size_t i, n = all_caches(caches);

	for (i = 0; i < n; i++) {
		struct sb_slab_cache *c = caches[i];
		size_t per = c->objs_per_slab, free_before;
		void **v = alloc_n(c, 2 * per);
		struct sb_slab *a = slab_of(v[0]), *b = slab_of(v[per]);
		struct sb_zone *zb = zone_of(b->mem);
		char *bmem = b->mem;
		unsigned state;

		CHECK(a != b && c->slabs_created == 2);
		free_all(v, 0, per);
		CHECK(a->list == SB_SLAB_EMPTY);
		CHECK_SLAB_VALID(c);
		free_before = zb->free_pages;
		free_all(v, per, 2 * per);
		CHECKF(c->slabs_destroyed == 1, "%s: slabs_destroyed %llu", c->name,
		       (unsigned long long)c->slabs_destroyed);
		CHECK(list_count(c, SB_SLAB_EMPTY) == 1 && c->lists[SB_SLAB_EMPTY].first == a);
		CHECK(list_count(c, SB_SLAB_PARTIAL) == 0 && list_count(c, SB_SLAB_FULL) == 0);
		CHECKF(zb->free_pages == free_before + c->pages_per_slab,
		       "%s: free_pages %zu -> %zu, slab of %u pages", c->name, free_before,
		       zb->free_pages, c->pages_per_slab);
		state = sb_page_state(page_of(bmem));
		CHECKF(state == SB_PAGE_FREE || state == SB_PAGE_MERGED,
		       "%s: first page of the returned slab has state %u", c->name, state);
		CHECK_SLAB_VALID(c);
		check_zones();
		free(v);
	}
}

TEST(allocation_takes_from_a_partial_slab_before_an_empty_one)
{
	struct sb_slab_cache *c = &cache96;
	size_t per;
	void **v, *p;
	struct sb_slab *a, *b;

	sb_slab_cache_init(c, "test-96", 96, 0, SB_NO_BIN);
	per = c->objs_per_slab;
	v = alloc_n(c, 2 * per);
	a = slab_of(v[0]);
	b = slab_of(v[per]);
	free_all(v, 0, per);		/* a: empty */
	free_all(v, per + 3, per + 4);	/* b: partial */
	CHECK(a->list == SB_SLAB_EMPTY && b->list == SB_SLAB_PARTIAL);
	CHECK_SLAB_VALID(c);

	p = alloc_one(c);
	CHECK(p != NULL);
	CHECK(slab_of(p) == b);
	CHECK(p == v[per + 3]);
	CHECK(b->list == SB_SLAB_FULL && a->list == SB_SLAB_EMPTY);
	CHECK(c->slabs_created == 2);
	CHECK_SLAB_VALID(c);
}

TEST(allocation_reuses_the_empty_slab_before_creating_one)
{
	struct sb_slab_cache *c = &cache1008;
	void **v, *p;
	struct sb_slab *a;

	sb_slab_cache_init(c, "test-1008", 1008, 0, SB_NO_BIN);
	v = alloc_n(c, c->objs_per_slab);
	a = slab_of(v[0]);
	free_all(v, 0, c->objs_per_slab);
	CHECK(a->list == SB_SLAB_EMPTY);
	CHECK_SLAB_VALID(c);

	p = alloc_one(c);
	CHECK(p != NULL && slab_of(p) == a);
	CHECK(a->list == SB_SLAB_PARTIAL);
	CHECK(c->slabs_created == 1);
	CHECK_SLAB_VALID(c);
}

/* ---- Colouring and sizing ------------------------------------------------ */

TEST(consecutive_slabs_start_their_first_object_at_different_colours)
{
	struct sb_slab_cache *caches[2 + SB_NR_CLASSES];
	size_t i, n = all_caches(caches), coloured = 0;

	for (i = 0; i < n; i++) {
		struct sb_slab_cache *c = caches[i];
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
		CHECK_SLAB_VALID(c);
		free(v);
	}
	CHECKF(cache96.colour_count > 1, "the 96-byte cache has %u colours", cache96.colour_count);
	CHECKF(cache1008.colour_count > 1, "the 1008-byte cache has %u colours", cache1008.colour_count);
	tap_diag("%zu of %zu caches coloured", coloured, n);
}

TEST(every_object_is_aligned_to_its_cache_alignment)
{
	struct sb_slab_cache *caches[2 + SB_NR_CLASSES];
	size_t i, n = all_caches(caches);

	for (i = 0; i < n; i++) {
		struct sb_slab_cache *c = caches[i];
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
	struct sb_slab_cache c;
	size_t per, total, k;
	void **v;

	sb_slab_cache_init(&c, "test-192-a128", 192, 128, SB_NO_BIN);
	CHECKF(c.align >= 128, "align %u", c.align);
	per = c.objs_per_slab;
	total = per * (c.colour_count + 1u);
	v = alloc_n(&c, total);
	for (k = 0; k < total; k++)
		CHECKF((uintptr_t)v[k] % 128 == 0, "object %zu at %p (offset %zu in its slab)", k,
		       v[k], (size_t)((char *)v[k] - slab_of(v[k])->mem));
	CHECK_SLAB_VALID(&c);
}

TEST(every_size_class_slab_wastes_at_most_an_eighth_and_holds_enough_objects)
{
	unsigned i;

	for (i = 0; i < SB_NR_CLASSES; i++) {
		struct sb_slab_cache *c = class_cache(i);
		size_t slab = (size_t)c->pages_per_slab * PAGE;
		size_t used = (size_t)c->objs_per_slab * c->size;

		CHECKF(c->size == sb_class_size(i), "cache %u size %u, class %u", i, c->size,
		       sb_class_size(i));
		CHECKF(c->bin == i, "cache %u marks its pages with bin %u", i, c->bin);
		CHECKF(c->pages_per_slab >= 1 && c->pages_per_slab <= SB_SLAB_MAX_PAGES,
		       "%s: %u pages", c->name, c->pages_per_slab);
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
	/* A dedicated cache is on the list of caches that sb_reclaim_slabs()
	 * walks, as the size classes' caches are. */
	struct sb_cache *dedicated = sb_cache_create("test-96", 96, 0, NULL, NULL, NULL);
	struct sb_slab_cache *own, *big = class_cache(sb_size_class(1024));
	struct sb_zone *z;
	void *a, *b;
	size_t got, want;

	CHECK(dedicated != NULL);
	own = sb_cache_slab(dedicated);
	a = alloc_one(own);
	b = alloc_one(big);
	CHECK(a && b);
	z = zone_of(a);
	CHECK(zone_of(b) == z && sb_region_count() == 1);
	free_one(own, a);
	free_one(big, b);
	CHECK(list_count(own, SB_SLAB_EMPTY) == 1 && list_count(big, SB_SLAB_EMPTY) == 1);
	CHECK(z->free_pages == SB_REGION_PAGES - own->pages_per_slab - big->pages_per_slab);
	CHECK_SLAB_VALID(own);
	CHECK_SLAB_VALID(big);

	want = ((size_t)own->pages_per_slab + big->pages_per_slab) * PAGE;
	got = sb_reclaim_slabs();
	CHECKF(got > 0 && got == want, "reclaim returned %zu, want %zu", got, want);
	CHECK(list_count(own, SB_SLAB_EMPTY) == 0 && list_count(big, SB_SLAB_EMPTY) == 0);
	CHECK(own->slabs_destroyed == 1 && big->slabs_destroyed == 1);
	CHECKF(z->free_pages == SB_REGION_PAGES, "free_pages %zu", z->free_pages);
	CHECK(z->nr_free[SB_MAX_ORDER] == SB_REGION_PAGES / SB_MAX_BLOCK_PAGES);
	CHECK_SLAB_VALID(own);
	CHECK_SLAB_VALID(big);
	check_zones();
	CHECK(sb_reclaim_slabs() == 0);
}

TEST(reclaim_keeps_slabs_that_hold_objects)
{
	void **v, *p;
	struct sb_slab *s;

	sb_slab_cache_init(&cache96, "test-96", 96, 0, SB_NO_BIN);
	v = alloc_n(&cache96, cache96.objs_per_slab + 1u);	/* one full, one partial */
	CHECK(sb_slab_reclaim(&cache96) == 0);
	CHECK(cache96.slabs_destroyed == 0);
	CHECK(list_count(&cache96, SB_SLAB_FULL) == 1 && list_count(&cache96, SB_SLAB_PARTIAL) == 1);
	CHECK_SLAB_VALID(&cache96);
	s = slab_of(v[cache96.objs_per_slab]);
	CHECK(s->list == SB_SLAB_PARTIAL);
	p = alloc_one(&cache96);
	CHECK(p != NULL && slab_of(p) == s);
	CHECK_SLAB_VALID(&cache96);
	check_zones();
}

/* ---- Bad frees ----------------------------------------------------------- */

struct bad_free {
	struct sb_slab_cache *c;
	struct sb_slab *s;
	void *p;
};

static void do_free(void *arg)
{
	struct bad_free *b = arg;

	free_one(b->c, b->p);
}

TEST(freeing_an_object_twice_aborts_with_double_free)
{
	struct sb_slab_cache *caches[2 + SB_NR_CLASSES];
	size_t i, n = all_caches(caches);

	for (i = 0; i < n; i++) {
		struct sb_slab_cache *c = caches[i];
		void *p = alloc_one(c), *q = alloc_one(c);
		struct bad_free b;

		CHECK(p && q);
		b.c = c;
		b.s = slab_of(p);
		b.p = p;
		free_one(c, p);
		CHECK_SLAB_VALID(c);
		CHECKF(tap_expect_abort(do_free, &b, "sbmalloc: free(): double free 0x", NULL, 0),
		       "%s: second free of %p", c->name, p);
	}
}

TEST(freeing_a_pointer_inside_an_object_aborts_with_invalid_pointer)
{
	struct sb_slab_cache *caches[2 + SB_NR_CLASSES];
	size_t i, n = all_caches(caches);

	for (i = 0; i < n; i++) {
		struct sb_slab_cache *c = caches[i];
		char *p = alloc_one(c);
		struct bad_free b;

		CHECK(p != NULL);
		if (c->size <= 16)
			continue;	/* p + 16 is the next object */
		b.c = c;
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
	struct sb_slab_cache *c = &cache96;
	struct bad_free b;
	char *p;

	sb_slab_cache_init(c, "test-96", 96, 0, SB_NO_BIN);
	p = alloc_one(c);
	CHECK(p != NULL);
	b.c = c;
	b.s = slab_of(p);
	/* just past the last object, in the slab's tail slack */
	b.p = b.s->objs + (size_t)c->objs_per_slab * c->size;
	CHECK((char *)b.p < b.s->mem + PAGE);
	CHECK(tap_expect_abort(do_free, &b, "invalid pointer", NULL, 0));
	/* before the first object */
	b.p = b.s->objs - 16;
	CHECK(tap_expect_abort(do_free, &b, "invalid pointer", NULL, 0));
}

TEST(freeing_an_object_to_another_cache_aborts_with_invalid_pointer)
{
	struct bad_free b;
	char *p;

	sb_slab_cache_init(&cache96, "test-96", 96, 0, SB_NO_BIN);
	p = alloc_one(class_cache(sb_size_class(96)));
	CHECK(p != NULL);
	CHECK(class_cache(sb_size_class(96))->size == cache96.size);
	b.c = &cache96;		/* same size, not p's cache */
	b.s = slab_of(p);
	b.p = p;
	CHECK(tap_expect_abort(do_free, &b, "sbmalloc: free(): invalid pointer 0x", NULL, 0));
}

/* ---- sb_slab_is_object --------------------------------------------------- */

TEST(is_object_holds_exactly_at_the_start_of_each_object)
{
	struct sb_slab_cache *caches[2 + SB_NR_CLASSES];
	size_t i, n = all_caches(caches), k, j;

	for (i = 0; i < n; i++) {
		struct sb_slab_cache *c = caches[i];
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

/* Every stride a slab can have, every offset of a slab of it (and beyond,
 * and the 32-bit offsets just before the first object): the one-multiply
 * test of the free fast path says what the index formula says. */
TEST(the_fast_object_test_agrees_with_the_index_formula_for_every_stride)
{
	uint32_t size, bad = 0;

	for (size = 16; size <= 65536 && bad < 5; size += 16) {
		uint32_t objs = size <= 256 ? 256 : (uint32_t)(8 * PAGE) / size;
		uint32_t recip = (uint32_t)((1ull << 32) / size + 1), span = objs * size;
		uint64_t mul, lim;
		int64_t off;

		if (objs == 0)
			objs = 1;
		span = objs * size;
		sb_fast_object_params(size, objs, &mul, &lim);
		for (off = -(int64_t)(4 * PAGE); off < (int64_t)span + 2 * size && bad < 5; off += 8) {
			uint32_t idx;
			bool want = off >= 0 && sb_object_index((uintptr_t)off, size, recip, span, &idx);
			bool got = sb_fast_object_test((uint32_t)off, mul, lim);

			if (got != want)
				bad++;
			CHECKF(got == want, "stride %u, %u objects: offset %lld: fast %d, index %d",
			       size, objs, (long long)off, got, want);
		}
	}
}

TEST(a_fast_object_test_with_no_objects_refuses_every_offset)
{
	uint64_t mul, lim;

	sb_fast_object_params(48, 0, &mul, &lim);
	CHECK(lim == 0);
	CHECK(!sb_fast_object_test(0, mul, lim));
	CHECK(!sb_fast_object_test(48, mul, lim));
}

/* The size classes' slabs: the free fast path takes exactly their objects. */
TEST(fast_object_holds_exactly_at_the_start_of_each_size_class_object)
{
	unsigned cls;

	for (cls = 0; cls < SB_NR_CLASSES; cls++) {
		struct sb_slab_cache *c = class_cache(cls);
		void *p = alloc_one(c);
		struct sb_slab *s = slab_of(p);
		size_t j, slab = (size_t)c->pages_per_slab * PAGE;

		for (j = 0; j < slab; j += 8) {
			char *q = s->mem + j;

			CHECKF(sb_slab_fast_object(s, q) == sb_slab_is_object(s, q),
			       "class %u (%u bytes): offset %zu", cls, c->size, j);
		}
		free_one(c, p);
	}
}

TEST(the_free_fast_path_takes_no_object_of_a_dedicated_cache)
{
	void *p;
	struct sb_slab *s;

	sb_slab_cache_init(&cache96, "test-96", 96, 0, SB_NO_BIN);
	p = alloc_one(&cache96);
	s = slab_of(p);
	CHECK(sb_slab_is_object(s, p));
	CHECK(!sb_slab_fast_object(s, p));
	free_one(&cache96, p);
}

/* ---- The validators catch broken slabs ----------------------------------- */

/* cache96 with one full slab and one partial slab (3 objects allocated);
 * returns the partial one.  The validator passes before the break. */
static struct sb_slab *full_and_partial(void ***vp)
{
	void **v;
	struct sb_slab *s;

	sb_slab_cache_init(&cache96, "test-96", 96, 0, SB_NO_BIN);
	v = alloc_n(&cache96, cache96.objs_per_slab + 3u);
	s = slab_of(v[cache96.objs_per_slab]);
	CHECK(s->list == SB_SLAB_PARTIAL && s->nfree == cache96.objs_per_slab - 3u);
	CHECK_SLAB_VALID(&cache96);
	if (vp)
		*vp = v;
	return s;
}

TEST(slab_validate_catches_a_flipped_free_bit)
{
	void **v;
	struct sb_slab *s = full_and_partial(&v);
	uint32_t idx = (uint32_t)(((char *)v[cache96.objs_per_slab + 1] - s->objs) / cache96.size);
	uint64_t bit = (uint64_t)1 << (idx % 64);

	/* an allocated object marked free: the bitmap no longer matches nfree */
	CHECK((s->free_bits[idx / 64] & bit) == 0);
	s->free_bits[idx / 64] ^= bit;
	check_invalid(validate_slab, &cache96, "slab", "free count disagrees with the bitmap of slab",
		      (uintptr_t)s);
	s->free_bits[idx / 64] ^= bit;
	CHECK_SLAB_VALID(&cache96);
}

TEST(slab_validate_catches_a_wrong_nfree)
{
	struct sb_slab *s = full_and_partial(NULL);

	s->nfree++;
	check_invalid(validate_slab, &cache96, "slab", "free count disagrees with the bitmap of slab",
		      (uintptr_t)s);
	s->nfree--;
	CHECK_SLAB_VALID(&cache96);
}

TEST(slab_validate_catches_a_slab_on_the_wrong_list)
{
	struct sb_slab_cache *c = &cache96;
	void **v;
	struct sb_slab *partial = full_and_partial(&v), *full = slab_of(v[0]);

	/* Move the full slab onto the partial list, links and counts kept
	 * consistent: only its being there (with no object free) is wrong. */
	CHECK(full->list == SB_SLAB_FULL && full->nfree == 0 && full->next == NULL && full->prev == NULL);
	CHECK(c->lists[SB_SLAB_PARTIAL].first == partial && partial->prev == NULL);
	c->lists[SB_SLAB_FULL].count = 0;
	full->list = SB_SLAB_PARTIAL;
	full->next = partial;
	partial->prev = full;
	c->lists[SB_SLAB_PARTIAL].first = full;
	c->lists[SB_SLAB_PARTIAL].count = 2;
	check_invalid(validate_slab, c, "slab", "slab on the wrong list", (uintptr_t)full);
}

TEST(slab_validate_catches_a_full_slab_linked_into_a_list)
{
	void **v;
	struct sb_slab *full;

	full_and_partial(&v);
	full = slab_of(v[0]);
	cache96.lists[SB_SLAB_FULL].first = full;
	check_invalid(validate_slab, &cache96, "slab", "full slabs linked into a list", SB_SLAB_FULL);
	cache96.lists[SB_SLAB_FULL].first = NULL;
	CHECK_SLAB_VALID(&cache96);
}

TEST(slab_validate_catches_a_list_field_that_disagrees_with_the_list)
{
	struct sb_slab *s = full_and_partial(NULL);

	s->list = SB_SLAB_EMPTY;	/* still linked on the partial list */
	check_invalid(validate_slab, &cache96, "slab", "slab's list field disagrees with its list",
		      (uintptr_t)s);
	s->list = SB_SLAB_PARTIAL;
	CHECK_SLAB_VALID(&cache96);
}

TEST(buddy_validate_catches_a_slab_page_that_names_another_slab)
{
	struct sb_slab_cache *c = &cache1008;
	struct sb_slab *s;
	struct sb_page *pg;
	size_t i = 0;
	void *p;

	sb_slab_cache_init(c, "test-1008", 1008, 0, SB_NO_BIN);
	CHECK(c->pages_per_slab >= 2);
	p = alloc_one(c);
	CHECK(p != NULL);
	s = slab_of(p);
	check_zones();
	pg = page_of(s->mem + PAGE);	/* the slab's second page */
	CHECK(sb_page_slab(pg) == s);
	pg->slab = (struct sb_slab *)((char *)s + 1);
	/* The buddy validator checks every page of the slab's block. */
	i = region_of(s->mem)->index;
	check_invalid(validate_zone, &i, "buddy", "no block starts at page",
		      ((uintptr_t)s->mem & SB_REGION_MASK) >> SB_PAGE_SHIFT);
	pg->slab = s;
	check_zones();
}

/* The slab map entry of each page of a slab is the free fast path's copy
 * of the slab's fields (buddy.h); the slab validator catches a copy that
 * disagrees, the buddy validator an entry of a page of no slab that takes
 * pointers. */
static struct sb_slab_ref *map_entry(const void *p)
{
	struct sb_zone *z = sb_zone_of_region(region_of(p));

	return &z->slab_map[((uintptr_t)p & SB_REGION_MASK) >> SB_PAGE_SHIFT];
}

TEST(every_page_of_a_slab_has_a_map_entry_that_takes_its_objects)
{
	struct sb_slab_cache *c = class_cache(sb_size_class(1280));
	void *p = alloc_one(c);
	struct sb_slab *s = slab_of(p);
	unsigned k;

	CHECK(c->pages_per_slab > 1);
	for (k = 0; k < c->pages_per_slab; k++) {
		const struct sb_slab_ref *e = map_entry(s->mem + (size_t)k * PAGE);

		CHECKF(e->objs == (uint32_t)(uintptr_t)s->objs && e->fast_lim == s->fast_lim &&
		       e->owner == s->owner && e->bin_off == s->bin_off,
		       "page %u of the slab", k);
	}
	CHECK(sb_slab_ref_takes(map_entry(p), p));
	CHECK(!sb_slab_ref_takes(map_entry(p), (char *)p + 8));
	free_one(c, p);
}

TEST(slab_validate_catches_a_slab_map_entry_that_disagrees_with_its_slab)
{
	struct sb_slab_cache *c = &cache1008;
	struct sb_slab_ref *e;
	struct sb_slab *s;
	void *p;

	sb_slab_cache_init(c, "test-1008-map", 1008, 0, SB_NO_BIN);
	p = alloc_one(c);
	CHECK(p != NULL);
	s = slab_of(p);
	e = map_entry(s->mem);
	e->objs += 16;
	check_invalid(validate_slab, c, "slab", "slab map entry disagrees with slab", (uintptr_t)s);
	e->objs -= 16;
	CHECK(sb_slab_validate(c));
	free_one(c, p);
	check_zones();
}

TEST(buddy_validate_catches_a_map_entry_of_a_page_of_no_slab_that_takes_pointers)
{
	char *p = sb_buddy_alloc(1, 1);
	struct sb_slab_ref *e;
	size_t i;

	CHECK(p != NULL);
	e = map_entry(p);
	CHECK(e->fast_lim == 0);
	e->fast_lim = 1;
	i = region_of(p)->index;
	check_invalid(validate_zone, &i, "buddy",
		      "slab map entry of a page of no slab takes pointers: page",
		      ((uintptr_t)p & SB_REGION_MASK) >> SB_PAGE_SHIFT);
	e->fast_lim = 0;
	sb_buddy_free(p, "test");
	check_zones();
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
			freeing_an_object_to_another_cache_aborts_with_invalid_pointer,
			is_object_holds_exactly_at_the_start_of_each_object,
			the_fast_object_test_agrees_with_the_index_formula_for_every_stride,
			a_fast_object_test_with_no_objects_refuses_every_offset,
			fast_object_holds_exactly_at_the_start_of_each_size_class_object,
			the_free_fast_path_takes_no_object_of_a_dedicated_cache)
		TAP_APPLY(TAP_CASE,
			slab_validate_catches_a_flipped_free_bit,
			slab_validate_catches_a_wrong_nfree,
			slab_validate_catches_a_slab_on_the_wrong_list,
			slab_validate_catches_a_full_slab_linked_into_a_list,
			slab_validate_catches_a_list_field_that_disagrees_with_the_list,
			buddy_validate_catches_a_slab_page_that_names_another_slab,
			every_page_of_a_slab_has_a_map_entry_that_takes_its_objects,
			slab_validate_catches_a_slab_map_entry_that_disagrees_with_its_slab,
			buddy_validate_catches_a_map_entry_of_a_page_of_no_slab_that_takes_pointers)
	};

	sb_global_init();
	sb_config_set_hugepages(SB_HUGEPAGES_OFF);
	if (sb_region_count() != 0) {
		printf("Bail out! a region exists before any test\n");
		return 1;
	}
	return tap_main_many(argc, argv, cases, sizeof(cases) / sizeof(cases[0]));
}
