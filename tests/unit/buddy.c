/*
 * tests/unit/buddy.c - the buddy allocator (buddy.c).
 *
 * Specifies: splitting and coalescing per order, buddies found by XOR,
 * blocks aligned to their order, unused tail pages given back, in-place
 * resize, page descriptor states, regions created when one is exhausted,
 * and returning freed memory to the OS (dirty_max, trim); and that
 * sb_buddy_validate() holds for every zone after each test's operations
 * and reports a zone broken on purpose.  Every test runs in a fresh child:
 * no region exists when it starts, and regions use 4 KiB backing
 * (sb_config_set_hugepages(SB_HUGEPAGES_OFF), in main) so that the purge
 * order is 2 and nothing depends on the machine's huge page pool.
 */
#include "buddy.h"
#include "config.h"
#include "init.h"
#include "region.h"
#include "registry.h"
#include "slab.h"
#include "../tap.h"

#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#define PAGE SB_PAGE_SIZE
#define TOP_BLOCKS (SB_REGION_PAGES / SB_MAX_BLOCK_PAGES)	/* 8 */

/* ---- Helpers ----------------------------------------------------------- */

static struct sb_zone *zone_at(size_t i)
{
	CHECKF(i < sb_region_count(), "zone %zu of %zu", i, sb_region_count());
	return sb_zone_of_region(sb_region_at(i));
}

/* The zone holding p, which must be in a region (not a huge block). */
static struct sb_zone *zone_of(const void *p)
{
	struct sb_region *r = sb_registry_region(p);

	CHECKF(r != NULL, "%p is in no region", p);
	CHECKF(sb_registry_huge(p) == NULL, "%p is in a huge block", p);
	CHECKF(sb_region_at(r->index) == r, "%p: region %u is not sb_region_at(%u)", p,
	       r->index, r->index);
	return sb_zone_of_region(r);
}

static uint32_t pidx(const void *p)
{
	return (uint32_t)(((uintptr_t)p & SB_REGION_MASK) >> SB_PAGE_SHIFT);
}

static struct sb_page *page_of(const void *p)
{
	struct sb_page *pg = sb_page_of(p);

	CHECKF(pg != NULL, "%p has no page descriptor", p);
	CHECK(pg == &zone_of(p)->pages[pidx(p)]);
	return pg;
}

static struct sb_zone_counters counters(struct sb_zone *z)
{
	struct sb_zone_counters zc;

	sb_buddy_counters(z->region.index, &zc, true);
	CHECK(zc.index == z->region.index && zc.base == z->region.base);
	return zc;
}

/* Every zone passes sb_buddy_validate (which prints what is broken). */
static void check_valid(void)
{
	size_t i, n = sb_region_count();

	for (i = 0; i < n; i++)
		CHECKF(sb_buddy_validate(i), "zone %zu of %zu fails sb_buddy_validate", i, n);
}

/* The zone holds nothing: 8 free blocks of the top order, nothing else. */
static void check_whole(struct sb_zone *z)
{
	struct sb_zone_counters zc = counters(z);
	unsigned o;

	CHECKF(zc.free_pages == SB_REGION_PAGES, "zone %u: free_pages %zu",
	       z->region.index, zc.free_pages);
	CHECKF(zc.used_pages == 0, "zone %u: used_pages %zu", z->region.index, zc.used_pages);
	for (o = 0; o < SB_MAX_ORDER; o++)
		CHECKF(zc.nr_free[o] == 0, "zone %u: nr_free[%u] = %zu", z->region.index, o,
		       zc.nr_free[o]);
	CHECKF(zc.nr_free[SB_MAX_ORDER] == TOP_BLOCKS, "zone %u: nr_free[top] = %zu",
	       z->region.index, zc.nr_free[SB_MAX_ORDER]);
	CHECKF(z->free_mask == 1u << SB_MAX_ORDER, "zone %u: free_mask %#x", z->region.index,
	       z->free_mask);
	CHECKF(sb_buddy_validate(z->region.index), "zone %u fails sb_buddy_validate",
	       z->region.index);
}

static size_t total_free_pages(void)
{
	size_t i, n = sb_region_count(), sum = 0;

	for (i = 0; i < n; i++)
		sum += zone_at(i)->free_pages;
	return sum;
}

static size_t total_dirty_pages(void)
{
	size_t i, n = sb_region_count(), sum = 0;

	for (i = 0; i < n; i++)
		sum += zone_at(i)->dirty_pages;
	return sum;
}

/* Pages of [p, p + npages pages) resident in memory (mincore). */
static size_t resident_pages(void *p, size_t npages)
{
	unsigned char *vec = calloc(npages, 1);
	size_t i, n = 0;

	CHECK(vec != NULL);
	CHECK(mincore(p, npages * PAGE, vec) == 0);
	for (i = 0; i < npages; i++)
		n += vec[i] & 1;
	free(vec);
	return n;
}

static bool all_bytes(const char *p, size_t len, unsigned char v)
{
	size_t i;

	for (i = 0; i < len; i++)
		if ((unsigned char)p[i] != v)
			return false;
	return true;
}

/*
 * sb_buddy_validate(i) with its stderr captured into buf (NUL-terminated):
 * for the tests that break a zone on purpose.
 */
static bool validate_captured(size_t i, char *buf, size_t len)
{
	int fds[2], saved;
	size_t got = 0;
	ssize_t n;
	bool ok;

	CHECK(len > 0);
	CHECK(pipe(fds) == 0);
	saved = dup(2);
	CHECK(saved >= 0);
	CHECK(dup2(fds[1], 2) == 2);
	ok = sb_buddy_validate(i);
	CHECK(dup2(saved, 2) == 2);
	close(saved);
	close(fds[1]);
	while (got < len - 1) {
		n = read(fds[0], buf + got, len - 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	buf[got] = '\0';
	close(fds[0]);
	return ok;
}

/* Zone i, broken on purpose, fails validation with "buddy: invalid: <what>". */
static void check_invalid(size_t i, const char *what)
{
	char err[1024];

	CHECKF(!validate_captured(i, err, sizeof(err)), "zone %zu passes sb_buddy_validate", i);
	CHECKF(strstr(err, "sbmalloc: buddy: invalid: ") != NULL, "stderr: \"%s\"", err);
	CHECKF(strstr(err, what) != NULL, "stderr lacks \"%s\": \"%s\"", what, err);
	tap_diag("as expected: %.*s", (int)strcspn(err, "\n"), err);
}

/* ---- Split and coalesce ------------------------------------------------ */

TEST(allocating_one_page_splits_a_top_order_block_into_one_block_per_order)
{
	struct sb_zone_counters zc;
	struct sb_zone *z;
	unsigned o;
	void *p;

	CHECK(sb_region_count() == 0);
	p = sb_buddy_alloc(1, 1);
	CHECK(p != NULL);
	CHECK(sb_region_count() == 1);
	z = zone_at(0);
	CHECK(zone_of(p) == z);
	zc = counters(z);
	for (o = 0; o < SB_MAX_ORDER; o++)
		CHECKF(zc.nr_free[o] == 1, "nr_free[%u] = %zu", o, zc.nr_free[o]);
	CHECKF(zc.nr_free[SB_MAX_ORDER] == TOP_BLOCKS - 1, "nr_free[top] = %zu",
	       zc.nr_free[SB_MAX_ORDER]);
	CHECK(zc.free_pages == SB_REGION_PAGES - 1);
	CHECK(zc.used_pages == 1);
	CHECKF(z->free_mask == (1u << SB_NR_ORDERS) - 1, "free_mask %#x", z->free_mask);
	check_valid();
}

TEST(freeing_the_page_coalesces_back_to_eight_top_order_blocks)
{
	void *p = sb_buddy_alloc(1, 1);
	struct sb_zone *z;

	CHECK(p != NULL);
	z = zone_of(p);
	sb_buddy_free(p, "free");
	check_whole(z);
}

TEST(adjacent_blocks_merge_only_when_they_are_buddies)
{
	char *a, *b, *c, *d;
	struct sb_zone *z;
	uint32_t ia, ib, ic, id;

	/* Four order-1 blocks carved from one fresh top-order block. */
	a = sb_buddy_alloc(2, 1);
	b = sb_buddy_alloc(2, 1);
	c = sb_buddy_alloc(2, 1);
	d = sb_buddy_alloc(2, 1);
	CHECK(a && b && c && d);
	z = zone_of(a);
	ia = pidx(a), ib = pidx(b), ic = pidx(c), id = pidx(d);
	CHECKF(ia % 8 == 0 && ib == ia + 2 && ic == ia + 4 && id == ia + 6,
	       "blocks at pages %u %u %u %u", ia, ib, ic, id);
	/* The buddy of an order-1 block is its index XOR 2. */
	CHECK((ia ^ 2u) == ib && (ic ^ 2u) == id);

	/* b and c are adjacent and of the same order, but not buddies. */
	sb_buddy_free(b, "free");
	sb_buddy_free(c, "free");
	CHECK(z->pages[ib].state == SB_PAGE_FREE && z->pages[ib].order == 1);
	CHECK(z->pages[ic].state == SB_PAGE_FREE && z->pages[ic].order == 1);
	CHECKF(z->nr_free[1] == 2, "nr_free[1] = %zu", z->nr_free[1]);
	CHECKF(z->nr_free[2] == 0, "nr_free[2] = %zu", z->nr_free[2]);
	check_valid();

	/* a is b's buddy: they merge into an order-2 block at a, whose buddy
	 * (c, order 1 only) does not match, so merging stops there. */
	sb_buddy_free(a, "free");
	CHECK(z->pages[ia].state == SB_PAGE_FREE && z->pages[ia].order == 2);
	CHECK(z->pages[ib].state == SB_PAGE_MERGED);
	CHECKF(z->nr_free[1] == 1, "nr_free[1] = %zu", z->nr_free[1]);
	CHECKF(z->nr_free[2] == 1, "nr_free[2] = %zu", z->nr_free[2]);
	check_valid();

	/* d completes c; then everything merges up to the top order. */
	sb_buddy_free(d, "free");
	check_whole(z);
}

TEST(blocks_are_aligned_to_their_order)
{
	static const size_t sizes[] = { 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 33, 63, 65,
		100, 127, 129, 255, 257, 300, 511, 513, 1000, 1023, 1024 };
	size_t i, k;

	/* Twice over, so that the second round comes from a fragmented heap. */
	for (k = 0; k < 2; k++)
		for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			char *p = sb_buddy_alloc(sizes[i], 1);
			size_t block = (size_t)1 << sb_ceil_log2(sizes[i]);

			CHECK(p != NULL);
			CHECKF(pidx(p) % block == 0, "%zu pages at page %u", sizes[i], pidx(p));
			CHECK((uintptr_t)p % (block * PAGE) == 0);
			CHECK(zone_of(p + sizes[i] * PAGE - 1) == zone_of(p));
		}
	check_valid();
}

TEST(blocks_are_aligned_to_the_requested_alignment)
{
	size_t a, n;

	for (a = 1; a <= SB_MAX_BLOCK_PAGES; a *= 2)
		for (n = 1; n <= 5; n += 2) {
			char *p = sb_buddy_alloc(n, a);

			CHECK(p != NULL);
			CHECKF((uintptr_t)p % (a * PAGE) == 0, "%zu pages aligned to %zu: %p", n, a, p);
			CHECKF(page_of(p)->state == SB_PAGE_BLOCK && page_of(p)->npages == n,
			       "%zu pages aligned to %zu: state %u npages %u", n, a,
			       page_of(p)->state, page_of(p)->npages);
		}
	check_valid();
}

TEST(alignment_larger_than_the_request_costs_no_pages)
{
	char *p = sb_buddy_alloc(1, 64);

	CHECK(p != NULL);
	CHECK((uintptr_t)p % (64 * PAGE) == 0);
	CHECKF(zone_of(p)->free_pages == SB_REGION_PAGES - 1, "free_pages %zu",
	       zone_of(p)->free_pages);
	check_valid();
}

TEST(non_power_of_two_requests_give_back_their_unused_tail_pages)
{
	char *p = sb_buddy_alloc(5, 1), *q;
	struct sb_zone *z;
	uint32_t i;

	CHECK(p != NULL);
	z = zone_of(p);
	CHECKF(z->free_pages == SB_REGION_PAGES - 5, "free_pages %zu", z->free_pages);
	i = pidx(p);
	/* pages 5..7 of the order-3 block: an order-0 and an order-1 block */
	CHECK(z->pages[i + 5].state == SB_PAGE_FREE && z->pages[i + 5].order == 0);
	CHECK(z->pages[i + 6].state == SB_PAGE_FREE && z->pages[i + 6].order == 1);

	q = sb_buddy_alloc(300, 1);	/* an order-9 block less 212 pages */
	CHECK(q != NULL && zone_of(q) == z);
	CHECKF(z->free_pages == SB_REGION_PAGES - 305, "free_pages %zu", z->free_pages);
	check_valid();
}

/* ---- Page descriptors ---------------------------------------------------- */

TEST(allocated_block_has_a_block_head_with_npages_and_tail_pages)
{
	char *p = sb_buddy_alloc(5, 1);
	struct sb_zone *z;
	uint32_t i, k;

	CHECK(p != NULL);
	z = zone_of(p);
	i = pidx(p);
	CHECK(z->pages[i].state == SB_PAGE_BLOCK);
	CHECKF(z->pages[i].npages == 5, "npages %u", z->pages[i].npages);
	CHECK(sb_page_block_pages(page_of(p)) == 5);
	CHECK(sb_page_classify(page_of(p), p) == SB_PTR_BLOCK);
	for (k = 1; k < 5; k++)
		CHECKF(z->pages[i + k].state == SB_PAGE_TAIL, "page %u state %u", k,
		       z->pages[i + k].state);
	check_valid();

	sb_buddy_free(p, "free");
	CHECKF(z->pages[i].state == SB_PAGE_FREE || z->pages[i].state == SB_PAGE_MERGED,
	       "head state %u after free", z->pages[i].state);
	CHECK(sb_page_classify(page_of(p), p) == SB_PTR_FREED);
	/* No page of the freed block still looks like the start of a block. */
	for (k = 0; k < 5; k++)
		CHECK(z->pages[i + k].state != SB_PAGE_BLOCK);
	check_whole(z);
}

/* ---- A long random run against a model --------------------------------- */

#define RAND_OPS 100000
#define RAND_MAX_LIVE 256
#define RAND_MAX_REGIONS 512
#define RAND_VALIDATE_EVERY 100		/* sb_buddy_validate of the zone just changed */
#define RAND_MODEL_EVERY 1000		/* the model check and sb_buddy_validate of every zone */

struct live_block {
	char *p;
	struct sb_zone *z;
	uint32_t n;
};

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint32_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng >> 11);
}

/* model[zone][page]: 1 if the page belongs to a live block. */
static uint8_t *model[RAND_MAX_REGIONS];

static uint8_t *model_of(struct sb_zone *z)
{
	CHECK(z->region.index < RAND_MAX_REGIONS);
	if (model[z->region.index] == NULL) {
		model[z->region.index] = calloc(SB_REGION_PAGES, 1);
		CHECK(model[z->region.index] != NULL);
	}
	return model[z->region.index];
}

/*
 * Free lists against the model: every free block is a FREE head of its
 * order on its list, aligned to its order, disjoint from live blocks and
 * from other free blocks, not mergeable with its buddy; counts agree with
 * nr_free, free_mask and free_pages; live and free pages cover the zone.
 * (sb_buddy_validate checks the zone against itself; only the model knows
 * which pages the caller holds.)
 */
static void check_zone_against_model(struct sb_zone *z)
{
	static uint8_t mark[SB_REGION_PAGES], head[SB_REGION_PAGES];
	uint8_t *m = model_of(z);
	unsigned zi = z->region.index, o;
	size_t sum = 0, count, j;
	uint32_t idx;

	memcpy(mark, m, SB_REGION_PAGES);
	memset(head, 0, sizeof(head));
	for (o = 0; o < SB_NR_ORDERS; o++) {
		count = 0;
		for (idx = z->free_head[o]; idx != SB_NO_PAGE; idx = z->pages[idx].link.next) {
			CHECKF(idx < SB_REGION_PAGES, "zone %u order %u: index %u", zi, o, idx);
			CHECKF(z->pages[idx].state == SB_PAGE_FREE && z->pages[idx].order == o,
			       "zone %u: page %u on list %u has state %u order %u", zi, idx, o,
			       z->pages[idx].state, z->pages[idx].order);
			CHECKF(idx % (1u << o) == 0, "zone %u: order-%u block at page %u", zi, o, idx);
			for (j = idx; j < idx + ((size_t)1 << o); j++) {
				CHECKF(mark[j] == 0, "zone %u: free order-%u block at %u overlaps %s at page %zu",
				       zi, o, idx, mark[j] == 1 ? "a live block" : "a free block", j);
				mark[j] = 2;
			}
			head[idx] = (uint8_t)(o + 1);
			count++;
		}
		CHECKF(count == z->nr_free[o], "zone %u: %zu blocks on list %u, nr_free %zu",
		       zi, count, o, z->nr_free[o]);
		CHECKF(!!(z->free_mask & (1u << o)) == (count > 0), "zone %u: free_mask %#x, list %u has %zu",
		       zi, z->free_mask, o, count);
		sum += count << o;
	}
	CHECKF(sum == z->free_pages, "zone %u: lists hold %zu pages, free_pages %zu",
	       zi, sum, z->free_pages);
	for (j = 0; j < SB_REGION_PAGES; j++)
		CHECKF(mark[j] != 0, "zone %u: page %zu neither live nor free", zi, j);
	for (j = 0; j < SB_REGION_PAGES; j++)
		if (head[j] && head[j] - 1 < SB_MAX_ORDER) {
			o = head[j] - 1u;
			CHECKF(head[j ^ ((size_t)1 << o)] != head[j],
			       "zone %u: free buddies %zu and %zu of order %u not merged",
			       zi, j, j ^ ((size_t)1 << o), o);
		}
}

TEST(random_allocs_and_frees_keep_blocks_disjoint_and_pages_accounted)
{
	static struct live_block live[RAND_MAX_LIVE];
	size_t nlive = 0, live_pages = 0, step, i, nreg, validations = 0;

	for (step = 1; step <= RAND_OPS; step++) {
		struct sb_zone *touched;

		if (nlive == 0 || (nlive < RAND_MAX_LIVE && rnd() % 2)) {
			size_t n = rnd() % 2 ? 1 + rnd() % SB_MAX_BLOCK_PAGES
					     : 1 + rnd() % (1u << (rnd() % SB_NR_ORDERS));
			size_t a = rnd() % 8 == 0 ? (size_t)1 << (rnd() % SB_NR_ORDERS) : 1;
			unsigned order = sb_ceil_log2(n);
			char *p = sb_buddy_alloc(n, a);
			struct sb_zone *z;
			uint8_t *m;
			uint32_t idx;

			CHECKF(p != NULL, "step %zu: %zu pages aligned to %zu failed", step, n, a);
			z = zone_of(p);
			CHECKF(zone_at(z->region.index) == z, "step %zu: zone index %u", step,
			       z->region.index);
			CHECKF(sb_registry_region(p + n * PAGE - 1) == &z->region,
			       "step %zu: %zu pages at %p cross the end of their region", step, n, p);
			if (sb_floor_log2(a) > order)
				order = sb_floor_log2(a);
			idx = pidx(p);
			CHECKF(idx % (1u << order) == 0, "step %zu: %zu pages (align %zu) at page %u",
			       step, n, a, idx);
			CHECKF(z->pages[idx].state == SB_PAGE_BLOCK && z->pages[idx].npages == n,
			       "step %zu: head state %u npages %u, want BLOCK %zu", step,
			       z->pages[idx].state, z->pages[idx].npages, n);
			m = model_of(z);
			for (i = idx; i < idx + n; i++) {
				CHECKF(!m[i], "step %zu: %zu pages at page %u of zone %u overlap a live block at page %zu",
				       step, n, idx, z->region.index, i);
				m[i] = 1;
			}
			live[nlive].p = p;
			live[nlive].z = z;
			live[nlive].n = (uint32_t)n;
			nlive++;
			live_pages += n;
			touched = z;
		} else {
			size_t k = rnd() % nlive;
			struct live_block b = live[k];
			uint8_t *m = model_of(b.z);
			uint32_t idx = pidx(b.p);

			live[k] = live[--nlive];
			sb_buddy_free(b.p, "free");
			for (i = idx; i < idx + b.n; i++)
				m[i] = 0;
			live_pages -= b.n;
			touched = b.z;
		}
		nreg = sb_region_count();
		CHECKF(total_free_pages() + live_pages == nreg * SB_REGION_PAGES,
		       "step %zu: free %zu + live %zu != %zu regions", step,
		       total_free_pages(), live_pages, nreg);
		if (step % RAND_VALIDATE_EVERY == 0) {
			CHECKF(sb_buddy_validate(touched->region.index),
			       "step %zu: zone %u fails sb_buddy_validate", step, touched->region.index);
			validations++;
		}
		if (step % RAND_MODEL_EVERY == 0)
			for (i = 0; i < nreg; i++) {
				check_zone_against_model(zone_at(i));
				CHECKF(sb_buddy_validate(i), "step %zu: zone %zu fails sb_buddy_validate",
				       step, i);
				validations++;
			}
	}
	tap_diag("%zu regions, %zu blocks live at the end, %zu validations", sb_region_count(),
		 nlive, validations);
	for (i = 0; i < sb_region_count(); i++)
		check_zone_against_model(zone_at(i));
	check_valid();

	while (nlive > 0) {
		nlive--;
		sb_buddy_free(live[nlive].p, "free");
	}
	for (i = 0; i < sb_region_count(); i++)
		check_whole(zone_at(i));
}

/* ---- Exhausting regions ------------------------------------------------- */

TEST(exhausting_a_region_creates_a_second_one)
{
	struct sb_zone *z0;
	char *p;
	size_t i;

	for (i = 0; i < TOP_BLOCKS; i++) {
		p = sb_buddy_alloc(SB_MAX_BLOCK_PAGES, 1);
		CHECK(p != NULL);
		CHECKF(sb_region_count() == 1, "block %zu made region %zu", i, sb_region_count());
	}
	z0 = zone_at(0);
	CHECKF(z0->free_mask == 0, "free_mask %#x", z0->free_mask);
	CHECK(z0->free_pages == 0);
	check_valid();

	p = sb_buddy_alloc(SB_MAX_BLOCK_PAGES, 1);
	CHECK(p != NULL);
	CHECK(sb_region_count() == 2);
	CHECK(zone_of(p) == zone_at(1));
	CHECK(zone_at(1) != z0);
	CHECK(z0->free_mask == 0);
	check_valid();
}

TEST(freeing_everything_after_exhaustion_restores_every_region)
{
	char *blocks[TOP_BLOCKS + 1];
	size_t i;

	for (i = 0; i <= TOP_BLOCKS; i++) {
		blocks[i] = sb_buddy_alloc(SB_MAX_BLOCK_PAGES, 1);
		CHECK(blocks[i] != NULL);
	}
	CHECK(sb_region_count() == 2);
	for (i = 0; i <= TOP_BLOCKS; i++)
		sb_buddy_free(blocks[i], "free");
	check_whole(zone_at(0));
	check_whole(zone_at(1));
}

TEST(allocation_takes_from_the_first_region_with_room)
{
	char *blocks[TOP_BLOCKS + 1], *p;
	size_t i;

	for (i = 0; i <= TOP_BLOCKS; i++) {
		blocks[i] = sb_buddy_alloc(SB_MAX_BLOCK_PAGES, 1);
		CHECK(blocks[i] != NULL);
	}
	CHECK(zone_of(blocks[TOP_BLOCKS]) == zone_at(1));
	CHECK(zone_of(blocks[3]) == zone_at(0));
	sb_buddy_free(blocks[3], "free");
	p = sb_buddy_alloc(1, 1);
	CHECK(p != NULL);
	CHECK(zone_of(p) == zone_at(0));
	CHECK(sb_region_count() == 2);
	check_valid();
}

TEST(requests_of_zero_pages_or_above_the_top_order_fail)
{
	CHECK(sb_buddy_alloc(0, 1) == NULL);
	CHECK(sb_buddy_alloc(SB_MAX_BLOCK_PAGES + 1, 1) == NULL);
	CHECK(sb_buddy_alloc(1, SB_MAX_BLOCK_PAGES * 2) == NULL);
	/* a request that can never be met maps nothing */
	CHECK(sb_region_count() == 0);
}

/* ---- In-place resize ---------------------------------------------------- */

TEST(resize_grows_a_block_into_the_free_pages_that_follow_it)
{
	char *p = sb_buddy_alloc(4, 1);
	struct sb_zone *z;
	uint32_t i, k;

	CHECK(p != NULL);
	z = zone_of(p);
	i = pidx(p);
	memset(p, 0x11, 4 * PAGE);

	CHECK(sb_buddy_resize(p, 10));
	CHECKF(z->pages[i].state == SB_PAGE_BLOCK && z->pages[i].npages == 10,
	       "state %u npages %u", z->pages[i].state, z->pages[i].npages);
	for (k = 1; k < 10; k++)
		CHECKF(z->pages[i + k].state == SB_PAGE_TAIL, "page %u state %u", k,
		       z->pages[i + k].state);
	CHECKF(z->free_pages == SB_REGION_PAGES - 10, "free_pages %zu", z->free_pages);
	/* pages 10..15 of the order-4 block went back as order 1 and order 2 */
	CHECK(z->pages[i + 10].state == SB_PAGE_FREE && z->pages[i + 10].order == 1);
	CHECK(z->pages[i + 12].state == SB_PAGE_FREE && z->pages[i + 12].order == 2);
	CHECK(all_bytes(p, 4 * PAGE, 0x11));
	check_valid();
	memset(p, 0x22, 10 * PAGE);

	/* up to a whole top-order block */
	CHECK(sb_buddy_resize(p, SB_MAX_BLOCK_PAGES));
	CHECK(z->pages[i].npages == SB_MAX_BLOCK_PAGES);
	CHECKF(z->free_pages == SB_REGION_PAGES - SB_MAX_BLOCK_PAGES, "free_pages %zu", z->free_pages);
	CHECK(all_bytes(p, 10 * PAGE, 0x22));
	check_valid();

	sb_buddy_free(p, "free");
	check_whole(z);
}

TEST(resize_fails_when_the_next_page_is_in_use)
{
	char *p = sb_buddy_alloc(2, 1), *q = sb_buddy_alloc(2, 1);
	struct sb_zone *z;
	size_t free_before;

	CHECK(p != NULL && q != NULL);
	z = zone_of(p);
	CHECKF(q == p + 2 * PAGE, "second block at %p, first at %p", (void *)q, (void *)p);
	free_before = z->free_pages;

	CHECK(!sb_buddy_resize(p, 3));
	CHECK(!sb_buddy_resize(p, 64));
	CHECK(z->pages[pidx(p)].state == SB_PAGE_BLOCK && z->pages[pidx(p)].npages == 2);
	CHECK(z->pages[pidx(q)].state == SB_PAGE_BLOCK && z->pages[pidx(q)].npages == 2);
	CHECK(z->free_pages == free_before);
	check_valid();
}

TEST(resize_fails_beyond_the_top_order)
{
	char *p = sb_buddy_alloc(SB_MAX_BLOCK_PAGES / 2, 1);
	struct sb_zone *z;

	CHECK(p != NULL);
	z = zone_of(p);
	CHECK(!sb_buddy_resize(p, SB_MAX_BLOCK_PAGES + 1));
	CHECK(z->pages[pidx(p)].npages == SB_MAX_BLOCK_PAGES / 2);
	CHECK(z->free_pages == SB_REGION_PAGES - SB_MAX_BLOCK_PAGES / 2);
	check_valid();
}

TEST(resize_shrinks_a_block_and_gives_pages_back)
{
	char *p = sb_buddy_alloc(16, 1);
	struct sb_zone *z;
	uint32_t i, k;

	CHECK(p != NULL);
	z = zone_of(p);
	i = pidx(p);
	memset(p, 0x33, 16 * PAGE);

	CHECK(sb_buddy_resize(p, 5));
	CHECK(z->pages[i].state == SB_PAGE_BLOCK);
	CHECKF(z->pages[i].npages == 5, "npages %u", z->pages[i].npages);
	CHECKF(z->free_pages == SB_REGION_PAGES - 5, "free_pages %zu", z->free_pages);
	CHECK(z->pages[i + 5].state == SB_PAGE_FREE && z->pages[i + 5].order == 0);
	CHECK(z->pages[i + 6].state == SB_PAGE_FREE && z->pages[i + 6].order == 1);
	CHECK(z->pages[i + 8].state == SB_PAGE_FREE && z->pages[i + 8].order == 3);
	for (k = 1; k < 5; k++)
		CHECK(z->pages[i + k].state == SB_PAGE_TAIL);
	CHECK(all_bytes(p, 5 * PAGE, 0x33));
	check_valid();

	sb_buddy_free(p, "free");
	check_whole(z);
}

/* ---- Returning memory to the OS ---------------------------------------- */

TEST(with_dirty_max_zero_a_freed_large_block_is_purged)
{
	const size_t n = SB_MAX_BLOCK_PAGES;
	struct sb_zone *z;
	char *p, *q;

	sb_config_set_dirty_max(0);
	p = sb_buddy_alloc(n, 1);
	CHECK(p != NULL);
	z = zone_of(p);
	CHECK(z->region.backing == SB_BACKING_4K && z->purge_order == 2);
	memset(p, 0xab, n * PAGE);
	CHECK(resident_pages(p, n) == n);

	sb_buddy_free(p, "free");
	/* Blocks below the purge order (2 for 4k regions) may stay dirty. */
	CHECKF(z->dirty_pages < 4, "dirty_pages %zu after free", z->dirty_pages);
	CHECKF(resident_pages(p, n) == 0, "%zu pages still resident", resident_pages(p, n));
	CHECK(all_bytes(p, n * PAGE, 0));
	check_valid();

	q = sb_buddy_alloc(n, 1);
	CHECK(q != NULL);
	CHECK(all_bytes(q, n * PAGE, 0));
	check_valid();
}

TEST(with_a_large_dirty_max_a_reused_block_stays_resident)
{
	const size_t n = SB_MAX_BLOCK_PAGES;
	struct sb_zone *z;
	size_t round, k;
	char *p;

	sb_config_set_dirty_max((size_t)1 << 40);
	for (round = 0; round < 20; round++) {
		p = sb_buddy_alloc(n, 1);
		CHECK(p != NULL);
		z = zone_of(p);
		if (round > 0) {
			/* the warm block came back, with its old contents */
			CHECKF(resident_pages(p, n) == n, "round %zu: %zu of %zu pages resident",
			       round, resident_pages(p, n), n);
			for (k = 0; k < n; k++)
				CHECKF((unsigned char)p[k * PAGE] == 0xab,
				       "round %zu: page %zu reads %#x", round, k, (unsigned char)p[k * PAGE]);
		}
		memset(p, 0xab, n * PAGE);
		sb_buddy_free(p, "free");
		CHECKF(z->dirty_pages >= n, "round %zu: dirty_pages %zu", round, z->dirty_pages);
		CHECK(resident_pages(p, n) == n);
	}
	check_valid();
}

TEST(trim_purges_every_dirty_free_block_and_returns_the_bytes)
{
	static const size_t sizes[] = { 1, 2, 3, 16, 300, SB_MAX_BLOCK_PAGES };
	char *blocks[6];
	size_t i, before, got, n;

	sb_config_set_dirty_max((size_t)1 << 40);
	for (i = 0; i < 6; i++) {
		blocks[i] = sb_buddy_alloc(sizes[i], 1);
		CHECK(blocks[i] != NULL);
		memset(blocks[i], 0x5a, sizes[i] * PAGE);
	}
	for (i = 0; i < 6; i++)
		sb_buddy_free(blocks[i], "free");
	before = total_dirty_pages();
	CHECKF(before >= 1 + 2 + 3 + 16 + 300 + SB_MAX_BLOCK_PAGES, "dirty_pages %zu", before);
	check_valid();

	got = sb_buddy_trim();
	CHECKF(got == before * PAGE, "trim returned %zu, %zu dirty pages before", got, before);
	n = sb_region_count();
	for (i = 0; i < n; i++)
		CHECKF(zone_at(i)->dirty_pages == 0, "zone %zu: dirty_pages %zu", i,
		       zone_at(i)->dirty_pages);
	for (i = 0; i < 6; i++) {
		CHECKF(resident_pages(blocks[i], sizes[i]) == 0, "block %zu: %zu pages resident",
		       i, resident_pages(blocks[i], sizes[i]));
		CHECK(all_bytes(blocks[i], sizes[i] * PAGE, 0));
	}
	CHECK(sb_buddy_trim() == 0);
	check_valid();
}

TEST(trim_leaves_blocks_in_use_alone)
{
	char *keep, *gone;

	sb_config_set_dirty_max((size_t)1 << 40);
	keep = sb_buddy_alloc(64, 1);
	gone = sb_buddy_alloc(64, 1);
	CHECK(keep && gone);
	memset(keep, 0x77, 64 * PAGE);
	memset(gone, 0x66, 64 * PAGE);
	sb_buddy_free(gone, "free");
	CHECK(sb_buddy_trim() > 0);
	CHECK(resident_pages(keep, 64) == 64);
	CHECK(all_bytes(keep, 64 * PAGE, 0x77));
	CHECK(page_of(keep)->state == SB_PAGE_BLOCK);
	check_valid();
}

/* ---- Slab pages ---------------------------------------------------------- */

TEST(slab_pages_carry_their_slab_bin_and_map_entry_and_go_back_as_a_block)
{
	static struct sb_slab slab;	/* only its address is used */
	static const struct sb_slab_ref ref = { .objs = 48, .bin_off = 7 << SB_BIN_SHIFT,
						.fast_mul = 3, .fast_lim = 5, .owner = &slab };
	char *p = sb_buddy_alloc(3, 1);
	struct sb_zone *z;
	uint32_t i, k;

	CHECK(p != NULL);
	z = zone_of(p);
	i = pidx(p);
	sb_buddy_make_slab(p, &slab, 7, &ref);
	for (k = 0; k < 3; k++) {
		struct sb_page *pg = page_of(p + k * PAGE);

		CHECKF(sb_page_state(pg) == SB_PAGE_SLAB, "page %u state %u", k, pg->state);
		CHECKF(sb_page_slab(pg) == &slab && sb_page_bin(pg) == 7, "page %u: slab %p bin %u",
		       k, (void *)sb_page_slab(pg), sb_page_bin(pg));
		/* any pointer into a slab is the slab layer's to judge */
		CHECK(sb_page_classify(pg, p + k * PAGE + 48) == SB_PTR_SLAB);
		CHECKF(memcmp(&z->slab_map[i + k], &ref, sizeof(ref)) == 0, "map entry of page %u", k);
	}
	sb_buddy_set_slab_owner(p, z);
	for (k = 0; k < 3; k++)
		CHECKF(z->slab_map[i + k].owner == z, "owner in the map entry of page %u", k);
	CHECKF(z->pages[i].npages == 3, "npages %u", z->pages[i].npages);
	CHECKF(z->free_pages == SB_REGION_PAGES - 3, "free_pages %zu", z->free_pages);
	check_valid();

	sb_buddy_free_slab(p);
	for (k = 0; k < 3; k++) {
		CHECK(z->pages[i + k].state != SB_PAGE_SLAB && z->pages[i + k].state != SB_PAGE_BLOCK);
		CHECKF(z->slab_map[i + k].fast_lim == 0, "map entry of page %u still takes pointers", k);
	}
	check_whole(z);
}

/* ---- The validator catches broken zones --------------------------------- */

/*
 * Each test builds a valid zone, checks that it passes, then writes one
 * field of it as a bug in buddy.c would, and checks that sb_buddy_validate
 * fails and says what is wrong.  Nothing else touches the zone afterwards.
 */

TEST(validate_reports_a_free_list_count_off_by_one)
{
	char *p = sb_buddy_alloc(1, 1);
	struct sb_zone *z;

	CHECK(p != NULL);
	z = zone_of(p);
	CHECKF(z->nr_free[3] == 1, "nr_free[3] = %zu", z->nr_free[3]);
	CHECK(sb_buddy_validate(z->region.index));

	z->nr_free[3]++;
	check_invalid(z->region.index, "free block count wrong for order 0x3");
	z->nr_free[3] -= 2;
	check_invalid(z->region.index, "free block count wrong for order 0x3");
	/* and only that was wrong */
	z->nr_free[3]++;
	CHECK(sb_buddy_validate(z->region.index));
}

TEST(validate_reports_a_free_page_inside_a_larger_free_block)
{
	char *p = sb_buddy_alloc(1, 1), want[64];
	struct sb_zone *z;
	uint32_t i;

	CHECK(p != NULL);
	z = zone_of(p);
	i = pidx(p);
	sb_buddy_free(p, "free");
	check_whole(z);
	/* The top-order block at i was split down to one page and merged back:
	 * the head of its upper half is MERGED now. */
	CHECK(z->pages[i].state == SB_PAGE_FREE && z->pages[i].order == SB_MAX_ORDER);
	CHECK(z->pages[i + 512].state == SB_PAGE_MERGED);

	/* The merge forgot to demote it: a FREE head (on no list) inside. */
	z->pages[i + 512].state = SB_PAGE_FREE;
	z->pages[i + 512].order = SB_MAX_ORDER - 1;
	snprintf(want, sizeof(want), "page in use inside a free block at page %#x", i + 512);
	check_invalid(z->region.index, want);
}

TEST(validate_reports_two_free_buddies_not_coalesced)
{
	char *a = sb_buddy_alloc(1, 1), *b = sb_buddy_alloc(1, 1), want[64];
	struct sb_zone *z;
	uint32_t ia, ib;

	CHECK(a != NULL && b != NULL);
	z = zone_of(a);
	ia = pidx(a), ib = pidx(b);
	CHECKF(zone_of(b) == z && ib == (ia ^ 1u) && ia < ib, "pages %u and %u", ia, ib);
	sb_buddy_free(a, "free");
	CHECK(z->pages[ia].state == SB_PAGE_FREE && z->pages[ia].order == 0);
	CHECKF(z->free_head[0] == ia && z->nr_free[0] == 1, "list 0: head %u, %zu blocks",
	       z->free_head[0], z->nr_free[0]);
	CHECK(sb_buddy_validate(z->region.index));

	/* Free b as free_block() would without its merge loop: a clean order-0
	 * block at the head of list 0, every count kept right. */
	z->pages[ib].state = SB_PAGE_FREE;
	z->pages[ib].order = 0;
	z->pages[ib].dirty = 0;
	z->pages[ib].link.prev = SB_NO_PAGE;
	z->pages[ib].link.next = ia;
	z->pages[ia].link.prev = ib;
	z->free_head[0] = ib;
	z->nr_free[0]++;
	z->free_pages++;
	z->free_mask |= 1u;
	snprintf(want, sizeof(want), "buddies not coalesced at page %#x", ia);
	check_invalid(z->region.index, want);
}

TEST(validate_reports_a_slab_page_of_another_bin)
{
	static struct sb_slab slab;
	char *p = sb_buddy_alloc(2, 1), want[64];
	struct sb_zone *z;
	uint32_t i;

	CHECK(p != NULL);
	z = zone_of(p);
	i = pidx(p);
	sb_buddy_make_slab(p, &slab, 3, &(struct sb_slab_ref){ .owner = &slab });
	CHECK(sb_buddy_validate(z->region.index));

	/* The second page says it belongs to another cache. */
	z->pages[i + 1].bin = 4;
	snprintf(want, sizeof(want), "no block starts at page %#x", i);
	check_invalid(z->region.index, want);
}

int main(int argc, char **argv)
{
	static const struct tap_case cases[] = {
		TAP_APPLY(TAP_CASE,
			allocating_one_page_splits_a_top_order_block_into_one_block_per_order,
			freeing_the_page_coalesces_back_to_eight_top_order_blocks,
			adjacent_blocks_merge_only_when_they_are_buddies,
			blocks_are_aligned_to_their_order,
			blocks_are_aligned_to_the_requested_alignment,
			alignment_larger_than_the_request_costs_no_pages,
			non_power_of_two_requests_give_back_their_unused_tail_pages,
			allocated_block_has_a_block_head_with_npages_and_tail_pages,
			random_allocs_and_frees_keep_blocks_disjoint_and_pages_accounted,
			exhausting_a_region_creates_a_second_one,
			freeing_everything_after_exhaustion_restores_every_region,
			allocation_takes_from_the_first_region_with_room,
			requests_of_zero_pages_or_above_the_top_order_fail)
		TAP_APPLY(TAP_CASE,
			resize_grows_a_block_into_the_free_pages_that_follow_it,
			resize_fails_when_the_next_page_is_in_use,
			resize_fails_beyond_the_top_order,
			resize_shrinks_a_block_and_gives_pages_back,
			with_dirty_max_zero_a_freed_large_block_is_purged,
			with_a_large_dirty_max_a_reused_block_stays_resident,
			trim_purges_every_dirty_free_block_and_returns_the_bytes,
			trim_leaves_blocks_in_use_alone,
			slab_pages_carry_their_slab_bin_and_map_entry_and_go_back_as_a_block)
		TAP_APPLY(TAP_CASE,
			validate_reports_a_free_list_count_off_by_one,
			validate_reports_a_free_page_inside_a_larger_free_block,
			validate_reports_two_free_buddies_not_coalesced,
			validate_reports_a_slab_page_of_another_bin)
	};

	sb_global_init();
	sb_config_set_hugepages(SB_HUGEPAGES_OFF);
	if (sb_region_count() != 0) {
		printf("Bail out! %zu regions exist before any test\n", sb_region_count());
		return 1;
	}
	return tap_main_many(argc, argv, cases, sizeof(cases) / sizeof(cases[0]));
}
