/*
 * unit_buddy.c - the buddy allocator (buddy.c).
 *
 * Specifies: splitting and coalescing per order, buddies found by XOR,
 * blocks aligned to their order, unused tail pages given back, in-place
 * resize, page descriptor states, regions created when one is exhausted,
 * and returning freed memory to the OS (dirty_max, trim).  Every test runs
 * in a fresh child: no region exists when it starts, and regions use 4 KiB
 * backing (sb_config.hugepages = off, set in main) so that the purge order
 * is 2 and nothing depends on the machine's huge page pool.
 */
#include "internal.h"
#include "../tap.h"

#include <stdint.h>
#include <sys/mman.h>

#define PAGE SB_PAGE_SIZE
#define TOP_BLOCKS (SB_REGION_PAGES / SB_MAX_BLOCK_PAGES)	/* 8 */

/* ---- Helpers ----------------------------------------------------------- */

static struct sb_region *region_of(const void *p)
{
	struct sb_region *r = sb_registry_lookup(p);

	CHECKF(r != NULL, "%p is in no region", p);
	CHECKF(r->kind == SB_MAP_REGION, "%p is in a huge block", p);
	return r;
}

static uint32_t pidx(const void *p)
{
	return (uint32_t)(((uintptr_t)p & SB_REGION_MASK) >> SB_PAGE_SHIFT);
}

static struct sb_page *page_of(const void *p)
{
	return sb_region_page(region_of(p), p);
}

static struct sb_buddy_counters counters(struct sb_region *r)
{
	struct sb_buddy_counters bc;

	sb_buddy_counters(r, &bc, true);
	return bc;
}

/* The region holds nothing: 8 free blocks of the top order, nothing else. */
static void check_whole(struct sb_region *r)
{
	struct sb_buddy_counters bc = counters(r);
	unsigned o;

	CHECKF(bc.free_pages == SB_REGION_PAGES, "region %u: free_pages %zu",
	       r->index, bc.free_pages);
	for (o = 0; o < SB_MAX_ORDER; o++)
		CHECKF(bc.nr_free[o] == 0, "region %u: nr_free[%u] = %zu", r->index, o, bc.nr_free[o]);
	CHECKF(bc.nr_free[SB_MAX_ORDER] == TOP_BLOCKS, "region %u: nr_free[top] = %zu",
	       r->index, bc.nr_free[SB_MAX_ORDER]);
	CHECKF(r->free_mask == 1u << SB_MAX_ORDER, "region %u: free_mask %#x", r->index, r->free_mask);
}

static size_t total_free_pages(void)
{
	size_t i, n = sb_region_count(), sum = 0;

	for (i = 0; i < n; i++)
		sum += sb_regions[i]->free_pages;
	return sum;
}

static size_t total_dirty_pages(void)
{
	size_t i, n = sb_region_count(), sum = 0;

	for (i = 0; i < n; i++)
		sum += sb_regions[i]->dirty_pages;
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

/* ---- Split and coalesce ------------------------------------------------ */

TEST(allocating_one_page_splits_a_top_order_block_into_one_block_per_order)
{
	struct sb_buddy_counters bc;
	struct sb_region *r;
	unsigned o;
	void *p;

	CHECK(sb_region_count() == 0);
	p = sb_buddy_alloc(1, 1);
	CHECK(p != NULL);
	CHECK(sb_region_count() == 1);
	r = sb_regions[0];
	CHECK(region_of(p) == r);
	bc = counters(r);
	for (o = 0; o < SB_MAX_ORDER; o++)
		CHECKF(bc.nr_free[o] == 1, "nr_free[%u] = %zu", o, bc.nr_free[o]);
	CHECKF(bc.nr_free[SB_MAX_ORDER] == TOP_BLOCKS - 1, "nr_free[top] = %zu",
	       bc.nr_free[SB_MAX_ORDER]);
	CHECK(bc.free_pages == SB_REGION_PAGES - 1);
	CHECK(bc.used_pages == 1);
	CHECKF(r->free_mask == (1u << SB_NR_ORDERS) - 1, "free_mask %#x", r->free_mask);
}

TEST(freeing_the_page_coalesces_back_to_eight_top_order_blocks)
{
	void *p = sb_buddy_alloc(1, 1);
	struct sb_region *r;

	CHECK(p != NULL);
	r = region_of(p);
	sb_buddy_free(r, p);
	check_whole(r);
}

TEST(adjacent_blocks_merge_only_when_they_are_buddies)
{
	char *a, *b, *c, *d;
	struct sb_region *r;
	uint32_t ia, ib, ic, id;

	/* Four order-1 blocks carved from one fresh top-order block. */
	a = sb_buddy_alloc(2, 1);
	b = sb_buddy_alloc(2, 1);
	c = sb_buddy_alloc(2, 1);
	d = sb_buddy_alloc(2, 1);
	CHECK(a && b && c && d);
	r = region_of(a);
	ia = pidx(a), ib = pidx(b), ic = pidx(c), id = pidx(d);
	CHECKF(ia % 8 == 0 && ib == ia + 2 && ic == ia + 4 && id == ia + 6,
	       "blocks at pages %u %u %u %u", ia, ib, ic, id);
	/* The buddy of an order-1 block is its index XOR 2. */
	CHECK((ia ^ 2u) == ib && (ic ^ 2u) == id);

	/* b and c are adjacent and of the same order, but not buddies. */
	sb_buddy_free(r, b);
	sb_buddy_free(r, c);
	CHECK(r->pages[ib].state == SB_PAGE_FREE && r->pages[ib].order == 1);
	CHECK(r->pages[ic].state == SB_PAGE_FREE && r->pages[ic].order == 1);
	CHECKF(r->nr_free[1] == 2, "nr_free[1] = %zu", r->nr_free[1]);
	CHECKF(r->nr_free[2] == 0, "nr_free[2] = %zu", r->nr_free[2]);

	/* a is b's buddy: they merge into an order-2 block at a, whose buddy
	 * (c, order 1 only) does not match, so merging stops there. */
	sb_buddy_free(r, a);
	CHECK(r->pages[ia].state == SB_PAGE_FREE && r->pages[ia].order == 2);
	CHECK(r->pages[ib].state == SB_PAGE_MERGED);
	CHECKF(r->nr_free[1] == 1, "nr_free[1] = %zu", r->nr_free[1]);
	CHECKF(r->nr_free[2] == 1, "nr_free[2] = %zu", r->nr_free[2]);

	/* d completes c; then everything merges up to the top order. */
	sb_buddy_free(r, d);
	check_whole(r);
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
			CHECK(region_of(p + sizes[i] * PAGE - 1) == region_of(p));
		}
}

TEST(blocks_are_aligned_to_the_requested_alignment)
{
	size_t a, n;

	for (a = 1; a <= SB_MAX_BLOCK_PAGES; a *= 2)
		for (n = 1; n <= 5; n += 2) {
			char *p = sb_buddy_alloc(n, a);

			CHECK(p != NULL);
			CHECKF((uintptr_t)p % (a * PAGE) == 0, "%zu pages aligned to %zu: %p", n, a, p);
			CHECKF(page_of(p)->state == SB_PAGE_LARGE && page_of(p)->npages == n,
			       "%zu pages aligned to %zu: state %u npages %u", n, a,
			       page_of(p)->state, page_of(p)->npages);
		}
}

TEST(alignment_larger_than_the_request_costs_no_pages)
{
	char *p = sb_buddy_alloc(1, 64);

	CHECK(p != NULL);
	CHECK((uintptr_t)p % (64 * PAGE) == 0);
	CHECKF(region_of(p)->free_pages == SB_REGION_PAGES - 1, "free_pages %zu",
	       region_of(p)->free_pages);
}

TEST(non_power_of_two_requests_give_back_their_unused_tail_pages)
{
	char *p = sb_buddy_alloc(5, 1), *q;
	struct sb_region *r;
	uint32_t i;

	CHECK(p != NULL);
	r = region_of(p);
	CHECKF(r->free_pages == SB_REGION_PAGES - 5, "free_pages %zu", r->free_pages);
	i = pidx(p);
	/* pages 5..7 of the order-3 block: an order-0 and an order-1 block */
	CHECK(r->pages[i + 5].state == SB_PAGE_FREE && r->pages[i + 5].order == 0);
	CHECK(r->pages[i + 6].state == SB_PAGE_FREE && r->pages[i + 6].order == 1);

	q = sb_buddy_alloc(300, 1);	/* an order-9 block less 212 pages */
	CHECK(q != NULL && region_of(q) == r);
	CHECKF(r->free_pages == SB_REGION_PAGES - 305, "free_pages %zu", r->free_pages);
}

/* ---- Page descriptors ---------------------------------------------------- */

TEST(allocated_block_has_a_large_head_with_npages_and_tail_pages)
{
	char *p = sb_buddy_alloc(5, 1);
	struct sb_region *r;
	uint32_t i, k;

	CHECK(p != NULL);
	r = region_of(p);
	i = pidx(p);
	CHECK(r->pages[i].state == SB_PAGE_LARGE);
	CHECKF(r->pages[i].npages == 5, "npages %u", r->pages[i].npages);
	for (k = 1; k < 5; k++)
		CHECKF(r->pages[i + k].state == SB_PAGE_TAIL, "page %u state %u", k,
		       r->pages[i + k].state);

	sb_buddy_free(r, p);
	CHECKF(r->pages[i].state == SB_PAGE_FREE || r->pages[i].state == SB_PAGE_MERGED,
	       "head state %u after free", r->pages[i].state);
	/* No page of the freed block still looks like the start of a block. */
	for (k = 0; k < 5; k++)
		CHECK(r->pages[i + k].state != SB_PAGE_LARGE);
	check_whole(r);
}

/* ---- A long random run against a model --------------------------------- */

#define RAND_OPS 100000
#define RAND_MAX_LIVE 256
#define RAND_MAX_REGIONS 512

struct live_block {
	char *p;
	struct sb_region *r;
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

/* model[region][page]: 1 if the page belongs to a live block. */
static uint8_t *model[RAND_MAX_REGIONS];

static uint8_t *model_of(struct sb_region *r)
{
	CHECK(r->index < RAND_MAX_REGIONS);
	if (model[r->index] == NULL) {
		model[r->index] = calloc(SB_REGION_PAGES, 1);
		CHECK(model[r->index] != NULL);
	}
	return model[r->index];
}

/*
 * Free lists against the model: every free block is a FREE head of its
 * order on its list, aligned to its order, disjoint from live blocks and
 * from other free blocks, not mergeable with its buddy; counts agree with
 * nr_free, free_mask and free_pages; live and free pages cover the region.
 */
static void check_region_against_model(struct sb_region *r)
{
	static uint8_t mark[SB_REGION_PAGES], head[SB_REGION_PAGES];
	uint8_t *m = model_of(r);
	size_t sum = 0, count, j;
	unsigned o;
	uint32_t idx;

	memcpy(mark, m, SB_REGION_PAGES);
	memset(head, 0, sizeof(head));
	for (o = 0; o < SB_NR_ORDERS; o++) {
		count = 0;
		for (idx = r->free_head[o]; idx != SB_NO_PAGE; idx = r->pages[idx].link.next) {
			CHECKF(idx < SB_REGION_PAGES, "region %u order %u: index %u", r->index, o, idx);
			CHECKF(r->pages[idx].state == SB_PAGE_FREE && r->pages[idx].order == o,
			       "region %u: page %u on list %u has state %u order %u", r->index, idx, o,
			       r->pages[idx].state, r->pages[idx].order);
			CHECKF(idx % (1u << o) == 0, "region %u: order-%u block at page %u",
			       r->index, o, idx);
			for (j = idx; j < idx + ((size_t)1 << o); j++) {
				CHECKF(mark[j] == 0, "region %u: free order-%u block at %u overlaps %s at page %zu",
				       r->index, o, idx, mark[j] == 1 ? "a live block" : "a free block", j);
				mark[j] = 2;
			}
			head[idx] = (uint8_t)(o + 1);
			count++;
		}
		CHECKF(count == r->nr_free[o], "region %u: %zu blocks on list %u, nr_free %zu",
		       r->index, count, o, r->nr_free[o]);
		CHECKF(!!(r->free_mask & (1u << o)) == (count > 0), "region %u: free_mask %#x, list %u has %zu",
		       r->index, r->free_mask, o, count);
		sum += count << o;
	}
	CHECKF(sum == r->free_pages, "region %u: lists hold %zu pages, free_pages %zu",
	       r->index, sum, r->free_pages);
	for (j = 0; j < SB_REGION_PAGES; j++)
		CHECKF(mark[j] != 0, "region %u: page %zu neither live nor free", r->index, j);
	for (j = 0; j < SB_REGION_PAGES; j++)
		if (head[j] && head[j] - 1 < SB_MAX_ORDER) {
			o = head[j] - 1u;
			CHECKF(head[j ^ ((size_t)1 << o)] != head[j],
			       "region %u: free buddies %zu and %zu of order %u not merged",
			       r->index, j, j ^ ((size_t)1 << o), o);
		}
}

TEST(random_allocs_and_frees_keep_blocks_disjoint_and_pages_accounted)
{
	static struct live_block live[RAND_MAX_LIVE];
	size_t nlive = 0, live_pages = 0, step, i, nreg;

	for (step = 1; step <= RAND_OPS; step++) {
		if (nlive == 0 || (nlive < RAND_MAX_LIVE && rnd() % 2)) {
			size_t n = rnd() % 2 ? 1 + rnd() % SB_MAX_BLOCK_PAGES
					     : 1 + rnd() % (1u << (rnd() % SB_NR_ORDERS));
			size_t a = rnd() % 8 == 0 ? (size_t)1 << (rnd() % SB_NR_ORDERS) : 1;
			unsigned order = sb_ceil_log2(n);
			char *p = sb_buddy_alloc(n, a);
			struct sb_region *r;
			uint8_t *m;
			uint32_t idx;

			CHECKF(p != NULL, "step %zu: %zu pages aligned to %zu failed", step, n, a);
			r = region_of(p);
			CHECKF(sb_regions[r->index] == r, "step %zu: region index %u", step, r->index);
			CHECKF(sb_registry_lookup(p + n * PAGE - 1) == r,
			       "step %zu: %zu pages at %p cross the end of their region", step, n, p);
			if (sb_floor_log2(a) > order)
				order = sb_floor_log2(a);
			idx = pidx(p);
			CHECKF(idx % (1u << order) == 0, "step %zu: %zu pages (align %zu) at page %u",
			       step, n, a, idx);
			CHECKF(r->pages[idx].state == SB_PAGE_LARGE && r->pages[idx].npages == n,
			       "step %zu: head state %u npages %u, want LARGE %zu", step,
			       r->pages[idx].state, r->pages[idx].npages, n);
			m = model_of(r);
			for (i = idx; i < idx + n; i++) {
				CHECKF(!m[i], "step %zu: %zu pages at page %u of region %u overlap a live block at page %zu",
				       step, n, idx, r->index, i);
				m[i] = 1;
			}
			live[nlive].p = p;
			live[nlive].r = r;
			live[nlive].n = (uint32_t)n;
			nlive++;
			live_pages += n;
		} else {
			size_t k = rnd() % nlive;
			struct live_block b = live[k];
			uint8_t *m = model_of(b.r);
			uint32_t idx = pidx(b.p);

			live[k] = live[--nlive];
			sb_buddy_free(b.r, b.p);
			for (i = idx; i < idx + b.n; i++)
				m[i] = 0;
			live_pages -= b.n;
		}
		nreg = sb_region_count();
		CHECKF(total_free_pages() + live_pages == nreg * SB_REGION_PAGES,
		       "step %zu: free %zu + live %zu != %zu regions", step,
		       total_free_pages(), live_pages, nreg);
		if (step % 1000 == 0)
			for (i = 0; i < nreg; i++)
				check_region_against_model(sb_regions[i]);
	}
	tap_diag("%zu regions, %zu blocks live at the end", sb_region_count(), nlive);

	while (nlive > 0) {
		nlive--;
		sb_buddy_free(live[nlive].r, live[nlive].p);
	}
	for (i = 0; i < sb_region_count(); i++)
		check_whole(sb_regions[i]);
}

/* ---- Exhausting regions ------------------------------------------------- */

TEST(exhausting_a_region_creates_a_second_one)
{
	struct sb_region *r0;
	char *p;
	size_t i;

	for (i = 0; i < TOP_BLOCKS; i++) {
		p = sb_buddy_alloc(SB_MAX_BLOCK_PAGES, 1);
		CHECK(p != NULL);
		CHECKF(sb_region_count() == 1, "block %zu made region %zu", i, sb_region_count());
	}
	r0 = sb_regions[0];
	CHECKF(r0->free_mask == 0, "free_mask %#x", r0->free_mask);
	CHECK(r0->free_pages == 0);

	p = sb_buddy_alloc(SB_MAX_BLOCK_PAGES, 1);
	CHECK(p != NULL);
	CHECK(sb_region_count() == 2);
	CHECK(region_of(p) == sb_regions[1]);
	CHECK(sb_regions[1] != r0);
	CHECK(r0->free_mask == 0);
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
		sb_buddy_free(region_of(blocks[i]), blocks[i]);
	check_whole(sb_regions[0]);
	check_whole(sb_regions[1]);
}

TEST(allocation_takes_from_the_first_region_with_room)
{
	char *blocks[TOP_BLOCKS + 1], *p;
	size_t i;

	for (i = 0; i <= TOP_BLOCKS; i++) {
		blocks[i] = sb_buddy_alloc(SB_MAX_BLOCK_PAGES, 1);
		CHECK(blocks[i] != NULL);
	}
	CHECK(region_of(blocks[TOP_BLOCKS]) == sb_regions[1]);
	sb_buddy_free(sb_regions[0], blocks[3]);
	p = sb_buddy_alloc(1, 1);
	CHECK(p != NULL);
	CHECK(region_of(p) == sb_regions[0]);
	CHECK(sb_region_count() == 2);
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
	struct sb_region *r;
	uint32_t i, k;

	CHECK(p != NULL);
	r = region_of(p);
	i = pidx(p);
	memset(p, 0x11, 4 * PAGE);

	CHECK(sb_buddy_resize(r, p, 10));
	CHECKF(r->pages[i].state == SB_PAGE_LARGE && r->pages[i].npages == 10,
	       "state %u npages %u", r->pages[i].state, r->pages[i].npages);
	for (k = 1; k < 10; k++)
		CHECKF(r->pages[i + k].state == SB_PAGE_TAIL, "page %u state %u", k,
		       r->pages[i + k].state);
	CHECKF(r->free_pages == SB_REGION_PAGES - 10, "free_pages %zu", r->free_pages);
	/* pages 10..15 of the order-4 block went back as order 1 and order 2 */
	CHECK(r->pages[i + 10].state == SB_PAGE_FREE && r->pages[i + 10].order == 1);
	CHECK(r->pages[i + 12].state == SB_PAGE_FREE && r->pages[i + 12].order == 2);
	CHECK(all_bytes(p, 4 * PAGE, 0x11));
	memset(p, 0x22, 10 * PAGE);

	/* up to a whole top-order block */
	CHECK(sb_buddy_resize(r, p, SB_MAX_BLOCK_PAGES));
	CHECK(r->pages[i].npages == SB_MAX_BLOCK_PAGES);
	CHECKF(r->free_pages == SB_REGION_PAGES - SB_MAX_BLOCK_PAGES, "free_pages %zu", r->free_pages);
	CHECK(all_bytes(p, 10 * PAGE, 0x22));

	sb_buddy_free(r, p);
	check_whole(r);
}

TEST(resize_fails_when_the_next_page_is_in_use)
{
	char *p = sb_buddy_alloc(2, 1), *q = sb_buddy_alloc(2, 1);
	struct sb_region *r;
	size_t free_before;

	CHECK(p != NULL && q != NULL);
	r = region_of(p);
	CHECKF(q == p + 2 * PAGE, "second block at %p, first at %p", (void *)q, (void *)p);
	free_before = r->free_pages;

	CHECK(!sb_buddy_resize(r, p, 3));
	CHECK(!sb_buddy_resize(r, p, 64));
	CHECK(r->pages[pidx(p)].state == SB_PAGE_LARGE && r->pages[pidx(p)].npages == 2);
	CHECK(r->pages[pidx(q)].state == SB_PAGE_LARGE && r->pages[pidx(q)].npages == 2);
	CHECK(r->free_pages == free_before);
}

TEST(resize_fails_beyond_the_top_order)
{
	char *p = sb_buddy_alloc(SB_MAX_BLOCK_PAGES / 2, 1);
	struct sb_region *r;

	CHECK(p != NULL);
	r = region_of(p);
	CHECK(!sb_buddy_resize(r, p, SB_MAX_BLOCK_PAGES + 1));
	CHECK(r->pages[pidx(p)].npages == SB_MAX_BLOCK_PAGES / 2);
	CHECK(r->free_pages == SB_REGION_PAGES - SB_MAX_BLOCK_PAGES / 2);
}

TEST(resize_shrinks_a_block_and_gives_pages_back)
{
	char *p = sb_buddy_alloc(16, 1);
	struct sb_region *r;
	uint32_t i, k;

	CHECK(p != NULL);
	r = region_of(p);
	i = pidx(p);
	memset(p, 0x33, 16 * PAGE);

	CHECK(sb_buddy_resize(r, p, 5));
	CHECK(r->pages[i].state == SB_PAGE_LARGE);
	CHECKF(r->pages[i].npages == 5, "npages %u", r->pages[i].npages);
	CHECKF(r->free_pages == SB_REGION_PAGES - 5, "free_pages %zu", r->free_pages);
	CHECK(r->pages[i + 5].state == SB_PAGE_FREE && r->pages[i + 5].order == 0);
	CHECK(r->pages[i + 6].state == SB_PAGE_FREE && r->pages[i + 6].order == 1);
	CHECK(r->pages[i + 8].state == SB_PAGE_FREE && r->pages[i + 8].order == 3);
	for (k = 1; k < 5; k++)
		CHECK(r->pages[i + k].state == SB_PAGE_TAIL);
	CHECK(all_bytes(p, 5 * PAGE, 0x33));

	sb_buddy_free(r, p);
	check_whole(r);
}

/* ---- Returning memory to the OS ---------------------------------------- */

TEST(with_dirty_max_zero_a_freed_large_block_is_purged)
{
	const size_t n = SB_MAX_BLOCK_PAGES;
	struct sb_region *r;
	char *p, *q;

	sb_config.dirty_max = 0;
	p = sb_buddy_alloc(n, 1);
	CHECK(p != NULL);
	r = region_of(p);
	memset(p, 0xab, n * PAGE);
	CHECK(resident_pages(p, n) == n);

	sb_buddy_free(r, p);
	/* Blocks below the purge order (2 for 4k regions) may stay dirty. */
	CHECKF(r->dirty_pages < 4, "dirty_pages %zu after free", r->dirty_pages);
	CHECKF(resident_pages(p, n) == 0, "%zu pages still resident", resident_pages(p, n));
	CHECK(all_bytes(p, n * PAGE, 0));

	q = sb_buddy_alloc(n, 1);
	CHECK(q != NULL);
	CHECK(all_bytes(q, n * PAGE, 0));
}

TEST(with_a_large_dirty_max_a_reused_block_stays_resident)
{
	const size_t n = SB_MAX_BLOCK_PAGES;
	struct sb_region *r;
	size_t round, k;
	char *p;

	sb_config.dirty_max = (size_t)1 << 40;
	for (round = 0; round < 20; round++) {
		p = sb_buddy_alloc(n, 1);
		CHECK(p != NULL);
		r = region_of(p);
		if (round > 0) {
			/* the warm block came back, with its old contents */
			CHECKF(resident_pages(p, n) == n, "round %zu: %zu of %zu pages resident",
			       round, resident_pages(p, n), n);
			for (k = 0; k < n; k++)
				CHECKF((unsigned char)p[k * PAGE] == 0xab,
				       "round %zu: page %zu reads %#x", round, k, (unsigned char)p[k * PAGE]);
		}
		memset(p, 0xab, n * PAGE);
		sb_buddy_free(r, p);
		CHECKF(r->dirty_pages >= n, "round %zu: dirty_pages %zu", round, r->dirty_pages);
		CHECK(resident_pages(p, n) == n);
	}
}

TEST(trim_purges_every_dirty_free_block_and_returns_the_bytes)
{
	static const size_t sizes[] = { 1, 2, 3, 16, 300, SB_MAX_BLOCK_PAGES };
	char *blocks[6];
	size_t i, before, got, n;

	sb_config.dirty_max = (size_t)1 << 40;
	for (i = 0; i < 6; i++) {
		blocks[i] = sb_buddy_alloc(sizes[i], 1);
		CHECK(blocks[i] != NULL);
		memset(blocks[i], 0x5a, sizes[i] * PAGE);
	}
	for (i = 0; i < 6; i++)
		sb_buddy_free(region_of(blocks[i]), blocks[i]);
	before = total_dirty_pages();
	CHECKF(before >= 1 + 2 + 3 + 16 + 300 + SB_MAX_BLOCK_PAGES, "dirty_pages %zu", before);

	got = sb_buddy_trim();
	CHECKF(got == before * PAGE, "trim returned %zu, %zu dirty pages before", got, before);
	n = sb_region_count();
	for (i = 0; i < n; i++)
		CHECKF(sb_regions[i]->dirty_pages == 0, "region %zu: dirty_pages %zu", i,
		       sb_regions[i]->dirty_pages);
	for (i = 0; i < 6; i++) {
		CHECKF(resident_pages(blocks[i], sizes[i]) == 0, "block %zu: %zu pages resident",
		       i, resident_pages(blocks[i], sizes[i]));
		CHECK(all_bytes(blocks[i], sizes[i] * PAGE, 0));
	}
	CHECK(sb_buddy_trim() == 0);
}

TEST(trim_leaves_blocks_in_use_alone)
{
	char *keep, *gone;

	sb_config.dirty_max = (size_t)1 << 40;
	keep = sb_buddy_alloc(64, 1);
	gone = sb_buddy_alloc(64, 1);
	CHECK(keep && gone);
	memset(keep, 0x77, 64 * PAGE);
	memset(gone, 0x66, 64 * PAGE);
	sb_buddy_free(region_of(gone), gone);
	CHECK(sb_buddy_trim() > 0);
	CHECK(resident_pages(keep, 64) == 64);
	CHECK(all_bytes(keep, 64 * PAGE, 0x77));
	CHECK(region_of(keep)->pages[pidx(keep)].state == SB_PAGE_LARGE);
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
			allocated_block_has_a_large_head_with_npages_and_tail_pages,
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
			trim_leaves_blocks_in_use_alone)
	};

	sb_config_init();
	sb_config.hugepages = SB_HUGEPAGES_OFF;
	if (!sb_region_init()) {
		printf("Bail out! sb_region_init failed\n");
		return 1;
	}
	return tap_main_many(argc, argv, cases, sizeof(cases) / sizeof(cases[0]));
}
