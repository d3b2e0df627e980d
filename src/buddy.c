/*
 * buddy.c - the buddy allocator: power-of-two runs of pages in regions.
 *
 * Each region keeps, as the kernel's zone does, one free list per order
 * 0..SB_MAX_ORDER.  A free block of order k starts at a page index that is
 * a multiple of 2^k; its buddy is the block at index ^ (1 << k).  Freeing
 * merges a block with its buddy while the buddy is the head of a free block
 * of the same order, as __free_one_page() does.
 *
 * Descriptors (struct sb_page, out of band in the region's table):
 *   FREE    head of a free block; order, dirty and list links are valid.
 *           Every FREE page is on the free list of its order, and no other.
 *   MERGED  former head, now inside a larger free block.
 *   LARGE   head of an allocated block of npages (any count, not only 2^k:
 *           like alloc_pages_exact(), the unused tail pages of the 2^k block
 *           go back to the free lists at once).
 *   TAIL    other pages of an allocated block, or stale pages of a free one.
 *   SLAB    set by the slab layer on every page of a slab.
 * So a pointer to a page is the start of an allocated block only if its
 * descriptor is LARGE; this is what makes invalid and double frees of
 * blocks detectable without touching user memory.
 *
 * Returning memory to the OS.  Free blocks carry a dirty bit (they may hold
 * resident pages) and the purge epoch (100 ms ticks of a coarse clock, mod
 * 256) when they were freed.  Fresh regions are clean.  A merged block is
 * dirty if any part was, and takes the newest epoch, so dirty counts are an
 * upper bound.  When the dirty pages of all regions exceed
 * SBMALLOC_DIRTY_MAX (16 MiB by default) and the region being freed into
 * holds at least 1 MiB of dirty pages in blocks of purge_order or more,
 * blocks of that region that have been free for a whole epoch are purged
 * with madvise(MADV_DONTNEED), largest first, until the total is back at
 * SBMALLOC_DIRTY_MAX; at most once per epoch per region.  Beyond four times
 * SBMALLOC_DIRTY_MAX, any dirty block goes at once.  purge_order is 2
 * (16 KiB) for 4k regions and 9 (2 MiB) for huge page backed regions, where
 * purging less than a huge page would split it (THP) or be refused
 * (hugetlb).  So a program that cycles through more than the budget keeps
 * reusing warm memory instead of faulting it back in on every allocation,
 * and a program that frees a gigabyte gets all but a few tens of megabytes
 * back at once.  There is no background thread: a program that frees and
 * then goes idle keeps up to 4 x SBMALLOC_DIRTY_MAX until its next free
 * into a region or malloc_trim(), which purges every dirty block (in THP
 * regions too, splitting huge pages: it was asked for; in hugetlb regions
 * only whole huge pages).
 *
 * Locking: each region's lock protects its free lists and descriptors.
 * Allocation scans regions in creation order (lowest first, which keeps
 * the heap compact) with a racy look at free_mask, then locks one region.
 * No two region locks are held at once.  Creating a region takes
 * region.c's grow_lock with no region lock held.
 */
#include "internal.h"

#include <errno.h>
#include <time.h>

#define PURGE_TRIGGER_PAGES 256		/* 1 MiB of purgeable dirt in a region */
#define EPOCH_MS 100
#define HARD_FACTOR 4			/* beyond 4 x dirty_max, purge at once */

static size_t total_dirty_pages;	/* atomic: sum of regions' dirty_pages */
static uint8_t cur_epoch;		/* purge epochs of EPOCH_MS, mod 256 */

static inline uint32_t page_index(struct sb_region *r, const void *p)
{
	return (uint32_t)(((uintptr_t)p & SB_REGION_MASK) >> SB_PAGE_SHIFT);
}

static inline void dirty_add(struct sb_region *r, unsigned order, long pages)
{
	r->dirty_pages += (size_t)pages;
	if (order >= r->purge_order)
		r->purgeable_pages += (size_t)pages;
	__atomic_add_fetch(&total_dirty_pages, (size_t)pages, __ATOMIC_RELAXED);
}

static void list_add(struct sb_region *r, uint32_t idx, unsigned order, bool dirty)
{
	struct sb_page *pg = &r->pages[idx];
	uint32_t next = r->free_head[order];

	pg->state = SB_PAGE_FREE;
	pg->order = (uint8_t)order;
	pg->dirty = dirty;
	pg->epoch = cur_epoch;
	pg->link.prev = SB_NO_PAGE;
	pg->link.next = next;
	if (next != SB_NO_PAGE)
		r->pages[next].link.prev = idx;
	r->free_head[order] = idx;
	r->free_mask |= 1u << order;
	r->nr_free[order]++;
	r->free_pages += (size_t)1 << order;
	if (dirty)
		dirty_add(r, order, 1L << order);
}

static void list_del(struct sb_region *r, uint32_t idx)
{
	struct sb_page *pg = &r->pages[idx];
	unsigned order = pg->order;

	SB_ASSERT(pg->state == SB_PAGE_FREE);
	if (pg->link.prev != SB_NO_PAGE)
		r->pages[pg->link.prev].link.next = pg->link.next;
	else
		r->free_head[order] = pg->link.next;
	if (pg->link.next != SB_NO_PAGE)
		r->pages[pg->link.next].link.prev = pg->link.prev;
	if (r->free_head[order] == SB_NO_PAGE)
		r->free_mask &= ~(1u << order);
	r->nr_free[order]--;
	r->free_pages -= (size_t)1 << order;
	if (pg->dirty)
		dirty_add(r, order, -(1L << order));
}

/* Free one aligned block of 2^order pages at idx, merging with buddies. */
static void free_block(struct sb_region *r, uint32_t idx, unsigned order, bool dirty)
{
	while (order < SB_MAX_ORDER) {
		uint32_t buddy = idx ^ (1u << order);
		struct sb_page *bp = &r->pages[buddy];

		if (bp->state != SB_PAGE_FREE || bp->order != order)
			break;
		dirty |= bp->dirty;
		list_del(r, buddy);
		r->pages[idx | (1u << order)].state = SB_PAGE_MERGED;
		idx &= buddy;
		order++;
	}
	list_add(r, idx, order, dirty);
}

/* Largest order of an aligned block that starts at x and ends by end. */
static inline unsigned piece_order(uint32_t x, uint32_t end)
{
	unsigned o = x ? (unsigned)__builtin_ctz(x) : SB_MAX_ORDER;
	unsigned fit = sb_floor_log2(end - x);

	if (o > fit)
		o = fit;
	return o > SB_MAX_ORDER ? SB_MAX_ORDER : o;
}

/* Free [x, end) as aligned power-of-two blocks, merging each. */
static void free_range(struct sb_region *r, uint32_t x, uint32_t end, bool dirty)
{
	while (x < end) {
		unsigned o = piece_order(x, end);
		free_block(r, x, o, dirty);
		x += 1u << o;
	}
}

/*
 * Put [x, end) on the free lists without merging.  Only for the unused
 * suffix of a block just taken, whose pieces' buddies are all in use.
 */
static void give_back_suffix(struct sb_region *r, uint32_t x, uint32_t end, bool dirty)
{
	while (x < end) {
		unsigned o = piece_order(x, end);
		list_add(r, x, o, dirty);
		x += 1u << o;
	}
}

/*
 * Purge dirty free blocks of min_order or more, largest first, until all
 * regions together hold at most target_pages dirty pages.  only_old: skip
 * blocks freed during this epoch or the one before (less than one to two
 * epochs ago), which a busy program is likely to reuse at once.
 */
static void purge_region(struct sb_region *r, unsigned min_order, bool only_old,
			 size_t target_pages)
{
	unsigned o;
	uint32_t idx;

	for (o = SB_NR_ORDERS; o-- > min_order;)
		for (idx = r->free_head[o]; idx != SB_NO_PAGE; idx = r->pages[idx].link.next) {
			struct sb_page *pg = &r->pages[idx];

			if (__atomic_load_n(&total_dirty_pages, __ATOMIC_RELAXED) <= target_pages)
				return;
			if (!pg->dirty || (only_old && (uint8_t)(cur_epoch - pg->epoch) < 2))
				continue;
			sb_os_purge(sb_region_page_addr(r, idx), SB_PAGE_SIZE << o);
			pg->dirty = false;
			dirty_add(r, o, -(1L << o));
		}
}

static uint8_t epoch_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint8_t)(((uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000) / EPOCH_MS);
}

/*
 * After a free into r: when all regions hold more than dirty_max of dirty
 * free memory, give back blocks of r that have been free for an epoch or
 * more (at most once per epoch per region), down to dirty_max; beyond
 * HARD_FACTOR x dirty_max, give back any dirty block at once.
 */
static inline void maybe_purge(struct sb_region *r)
{
	size_t total = __atomic_load_n(&total_dirty_pages, __ATOMIC_RELAXED) << SB_PAGE_SHIFT;
	size_t max = sb_config.dirty_max;
	bool hard;

	if (r->purgeable_pages < PURGE_TRIGGER_PAGES || total <= max)
		return;
	cur_epoch = epoch_now();
	hard = total > HARD_FACTOR * max;
	if (!hard && r->purge_epoch == cur_epoch)
		return;
	r->purge_epoch = cur_epoch;
	purge_region(r, r->purge_order, !hard, max >> SB_PAGE_SHIFT);
}

static void region_add_memory(struct sb_region *r)
{
	uint32_t idx;

	r->purge_order = r->backing == SB_BACKING_4K ? 2 : 9;
	for (idx = 0; idx < SB_REGION_PAGES; idx += SB_MAX_BLOCK_PAGES)
		list_add(r, idx, SB_MAX_ORDER, false);
}

/* Take an aligned block of 2^order pages from r; SB_NO_PAGE if none. */
static uint32_t take_block(struct sb_region *r, unsigned order, bool *dirty)
{
	uint32_t avail = r->free_mask >> order, idx;
	unsigned o;

	if (avail == 0)
		return SB_NO_PAGE;
	o = order + (unsigned)__builtin_ctz(avail);
	idx = r->free_head[o];
	*dirty = r->pages[idx].dirty;
	list_del(r, idx);
	while (o > order) {
		o--;
		list_add(r, idx + (1u << o), o, *dirty);
	}
	return idx;
}

static void mark_allocated(struct sb_region *r, uint32_t idx, uint32_t n)
{
	uint32_t i;

	r->pages[idx].state = SB_PAGE_LARGE;
	r->pages[idx].npages = n;
	for (i = 1; i < n; i++)
		r->pages[idx + i].state = SB_PAGE_TAIL;
}

static void *alloc_from(struct sb_region *r, size_t npages, unsigned order)
{
	bool dirty;
	uint32_t idx = take_block(r, order, &dirty);

	if (idx == SB_NO_PAGE)
		return NULL;
	mark_allocated(r, idx, (uint32_t)npages);
	give_back_suffix(r, idx + (uint32_t)npages, idx + (1u << order), dirty);
	return sb_region_page_addr(r, idx);
}

void *sb_buddy_alloc(size_t npages, size_t align_pages)
{
	unsigned order = sb_ceil_log2(npages);
	size_t i, n;
	struct sb_region *r;
	void *p;

	if (align_pages > 1 && sb_floor_log2(align_pages) > order)
		order = sb_floor_log2(align_pages);
	if (npages == 0 || order > SB_MAX_ORDER) {
		errno = ENOMEM;
		return NULL;
	}
	n = sb_region_count();
	for (i = 0; i < n; i++) {
		r = sb_regions[i];
		if ((__atomic_load_n(&r->free_mask, __ATOMIC_RELAXED) >> order) == 0)
			continue;
		pthread_mutex_lock(&r->lock);
		p = alloc_from(r, npages, order);
		pthread_mutex_unlock(&r->lock);
		if (p != NULL)
			return p;
	}
	r = sb_region_create();
	if (r == NULL)
		return NULL;
	pthread_mutex_lock(&r->lock);
	region_add_memory(r);
	p = alloc_from(r, npages, order);
	pthread_mutex_unlock(&r->lock);
	return p;
}

void sb_buddy_free(struct sb_region *r, void *p)
{
	uint32_t idx = page_index(r, p);

	pthread_mutex_lock(&r->lock);
	SB_ASSERT(r->pages[idx].state == SB_PAGE_LARGE);
	free_range(r, idx, idx + r->pages[idx].npages, true);
	maybe_purge(r);
	pthread_mutex_unlock(&r->lock);
}

/* Grow the block at idx from n to want pages using the free blocks after it. */
static bool grow_in_place(struct sb_region *r, uint32_t idx, uint32_t n, uint32_t want)
{
	uint32_t q, end = idx + want, i;
	bool dirty = false;

	if ((size_t)idx + want > SB_REGION_PAGES)
		return false;
	for (q = idx + n; q < end; q += 1u << r->pages[q].order)
		if (r->pages[q].state != SB_PAGE_FREE)
			return false;
	for (q = idx + n; q < end;) {
		unsigned o = r->pages[q].order;
		dirty = r->pages[q].dirty;
		list_del(r, q);
		q += 1u << o;
	}
	for (i = idx + n; i < end; i++)
		r->pages[i].state = SB_PAGE_TAIL;
	give_back_suffix(r, end, q, dirty);
	return true;
}

bool sb_buddy_resize(struct sb_region *r, void *p, size_t npages)
{
	uint32_t idx = page_index(r, p), n;
	bool ok = true;

	if (npages == 0 || npages > SB_MAX_BLOCK_PAGES)
		return false;
	pthread_mutex_lock(&r->lock);
	n = r->pages[idx].npages;
	if (npages > n)
		ok = grow_in_place(r, idx, n, (uint32_t)npages);
	else if (npages < n) {
		free_range(r, idx + (uint32_t)npages, idx + n, true);
		maybe_purge(r);
	}
	if (ok)
		r->pages[idx].npages = (uint32_t)npages;
	pthread_mutex_unlock(&r->lock);
	return ok;
}

size_t sb_buddy_trim(void)
{
	size_t i, n = sb_region_count(), purged = 0;

	for (i = 0; i < n; i++) {
		struct sb_region *r = sb_regions[i];
		size_t before;

		pthread_mutex_lock(&r->lock);
		before = r->dirty_pages;
		/* Explicit: split THP pages too; hugetlb ranges must stay whole. */
		purge_region(r, r->backing == SB_BACKING_HUGETLB ? r->purge_order : 0, false, 0);
		purged += before - r->dirty_pages;
		pthread_mutex_unlock(&r->lock);
	}
	return purged << SB_PAGE_SHIFT;
}

void sb_buddy_counters(struct sb_region *r, struct sb_buddy_counters *out, bool locked)
{
	unsigned o;

	if (locked)
		pthread_mutex_lock(&r->lock);
	out->free_pages = r->free_pages;
	out->dirty_pages = r->dirty_pages;
	out->used_pages = SB_REGION_PAGES - r->free_pages;
	for (o = 0; o < SB_NR_ORDERS; o++)
		out->nr_free[o] = r->nr_free[o];
	if (locked)
		pthread_mutex_unlock(&r->lock);
}
