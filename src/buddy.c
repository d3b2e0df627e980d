/*
 * buddy.c - the buddy allocator: power-of-two runs of pages in regions.
 *
 * Each region has a zone, as the kernel's struct zone: one free list per
 * order 0..SB_MAX_ORDER.  A free block of order k starts at a page index
 * that is a multiple of 2^k; its buddy is the block at index ^ (1 << k).
 * Freeing merges a block with its buddy while the buddy is the head of a
 * free block of the same order, as __free_one_page() does.
 *
 * Page descriptors (struct sb_page, out of band in the zone):
 *   FREE    head of a free block; order, dirty, epoch and links are valid.
 *           Every FREE page is on the free list of its order, and no other.
 *   MERGED  former head, now inside a larger free block.
 *   BLOCK   head of an allocated block of npages (any count, not only 2^k:
 *           like alloc_pages_exact(), the unused tail pages of the 2^k
 *           block go back to the free lists at once).
 *   TAIL    other pages of an allocated block, or stale pages of a free one.
 *   SLAB    every page of a slab (sb_buddy_make_slab); the first keeps
 *           npages.
 * So a pointer to a page is the start of an allocated block only if its
 * descriptor is BLOCK; this is what makes invalid and double frees of
 * blocks detectable without touching user memory (sb_page_classify).
 * Beside the descriptors, the zone's slab map holds, for every SLAB page,
 * the slab layer's copy of the fields the free fast path reads (struct
 * sb_slab_ref, buddy.h; written here only, with the descriptors), and
 * zeros, which refuse every pointer, for every other page.
 * sb_buddy_validate() checks all of it but the copies' values, which the
 * slab validator compares with its slabs.
 *
 * Returning memory to the OS.  Free blocks carry a dirty bit (they may hold
 * resident pages) and the purge epoch (100 ms ticks of a coarse clock, mod
 * 256) when they were freed.  Fresh regions are clean.  A merged block is
 * dirty if any part was, and takes the newest epoch, so dirty counts are an
 * upper bound.  When the dirty pages of all zones exceed
 * SBMALLOC_DIRTY_MAX (16 MiB by default) and the zone being freed into
 * holds at least 1 MiB of dirty pages in blocks of purge_order or more,
 * blocks of that zone that have been free for a whole epoch are purged
 * with madvise(MADV_DONTNEED), largest first, until the total is back at
 * SBMALLOC_DIRTY_MAX; at most once per epoch per zone.  Beyond four times
 * SBMALLOC_DIRTY_MAX, any dirty block goes at once.  purge_order is 2
 * (16 KiB) for 4k regions and 9 (2 MiB) for huge page backed regions, where
 * purging less than a huge page would split it (THP) or be refused
 * (hugetlb).  So a program that cycles through more than the budget keeps
 * reusing warm memory instead of faulting it back in on every allocation,
 * and a program that frees a gigabyte gets all but a few tens of megabytes
 * back at once.  There is no background thread: a program that frees and
 * then goes idle keeps up to 4 x SBMALLOC_DIRTY_MAX until its next free
 * into a zone or malloc_trim(), which purges every dirty block (in THP
 * regions too, splitting huge pages: it was asked for; in hugetlb regions
 * only whole huge pages).
 *
 * Locks: each zone's lock protects its free lists, counters and page
 * descriptors.  Allocation scans zones in creation order (lowest first,
 * which keeps the heap compact) with a racy look at free_mask, then locks
 * one zone.  No two zone locks are held at once except by the fork
 * handlers.  A new zone is mapped (region.c's grow_lock) with no zone lock
 * held.  The epoch clock and the dirty total are shared by all zones:
 * relaxed atomics, as any recent value will do.  Lock order: fork.c.
 */
#include "buddy.h"
#include "config.h"
#include "os.h"
#include "report.h"

#include <string.h>
#include <time.h>

#define PURGE_TRIGGER_PAGES 256		/* 1 MiB of purgeable dirt in a zone */
#define EPOCH_MS 100
#define HARD_FACTOR 4			/* beyond 4 x dirty_max, purge at once */
#define ZONE_BYTES sb_align_up(sizeof(struct sb_zone), SB_PAGE_SIZE)

static bool validate_locked(struct sb_zone *z);

static size_t total_dirty_pages;	/* atomic: sum of zones' dirty_pages */
static uint8_t cur_epoch;		/* atomic: purge epochs of EPOCH_MS, mod 256 */

static inline struct sb_zone *zone_at(size_t i)
{
	return sb_zone_of_region(sb_region_at(i));
}

static inline uint32_t page_index(const void *p)
{
	return (uint32_t)(((uintptr_t)p & SB_REGION_MASK) >> SB_PAGE_SHIFT);
}

/* The zone holding p, which the caller knows to be in a region. */
static inline struct sb_zone *zone_of(const void *p)
{
	struct sb_region *r = sb_registry_region(p);

	SB_ASSERT(r != NULL);
	return sb_zone_of_region(r);
}

static inline void dirty_add(struct sb_zone *z, unsigned order, long pages)
{
	z->dirty_pages += (size_t)pages;
	if (order >= z->purge_order)
		z->purgeable_pages += (size_t)pages;
	__atomic_add_fetch(&total_dirty_pages, (size_t)pages, __ATOMIC_RELAXED);
}

/* ---- Free lists -------------------------------------------------------- */

static void free_list_add(struct sb_zone *z, uint32_t idx, unsigned order, bool dirty)
{
	struct sb_page *pg = &z->pages[idx];
	uint32_t next = z->free_head[order];

	pg->state = SB_PAGE_FREE;
	pg->order = (uint8_t)order;
	pg->dirty = dirty;
	pg->epoch = sb_read_once(cur_epoch);
	pg->link.prev = SB_NO_PAGE;
	pg->link.next = next;
	if (next != SB_NO_PAGE)
		z->pages[next].link.prev = idx;
	z->free_head[order] = idx;
	sb_write_once(z->free_mask, z->free_mask | 1u << order);
	z->nr_free[order]++;
	z->free_pages += (size_t)1 << order;
	if (dirty)
		dirty_add(z, order, 1L << order);
}

static void free_list_del(struct sb_zone *z, uint32_t idx)
{
	struct sb_page *pg = &z->pages[idx];
	unsigned order = pg->order;

	SB_ASSERT(pg->state == SB_PAGE_FREE);
	if (pg->link.prev != SB_NO_PAGE)
		z->pages[pg->link.prev].link.next = pg->link.next;
	else
		z->free_head[order] = pg->link.next;
	if (pg->link.next != SB_NO_PAGE)
		z->pages[pg->link.next].link.prev = pg->link.prev;
	if (z->free_head[order] == SB_NO_PAGE)
		sb_write_once(z->free_mask, z->free_mask & ~(1u << order));
	z->nr_free[order]--;
	z->free_pages -= (size_t)1 << order;
	if (pg->dirty)
		dirty_add(z, order, -(1L << order));
}

/* ---- Freeing ----------------------------------------------------------- */

/* Free one aligned block of 2^order pages at idx, merging with buddies. */
static void free_block(struct sb_zone *z, uint32_t idx, unsigned order, bool dirty)
{
	while (order < SB_MAX_ORDER) {
		uint32_t buddy = idx ^ (1u << order);
		struct sb_page *bp = &z->pages[buddy];

		if (bp->state != SB_PAGE_FREE || bp->order != order)
			break;
		dirty |= bp->dirty;
		free_list_del(z, buddy);
		z->pages[idx | (1u << order)].state = SB_PAGE_MERGED;
		idx &= buddy;
		order++;
	}
	free_list_add(z, idx, order, dirty);
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
static void free_range(struct sb_zone *z, uint32_t x, uint32_t end, bool dirty)
{
	while (x < end) {
		unsigned o = piece_order(x, end);

		free_block(z, x, o, dirty);
		x += 1u << o;
	}
}

/*
 * Put [x, end) on the free lists without merging.  Only for the unused
 * suffix of a block just taken, whose pieces' buddies are all in use.
 */
static void give_back_suffix(struct sb_zone *z, uint32_t x, uint32_t end, bool dirty)
{
	while (x < end) {
		unsigned o = piece_order(x, end);

		free_list_add(z, x, o, dirty);
		x += 1u << o;
	}
}

/* ---- Purging ----------------------------------------------------------- */

/*
 * Purge dirty free blocks of min_order or more, largest first, until all
 * zones together hold at most target_pages dirty pages.  only_old: skip
 * blocks freed during this epoch or the one before (less than one to two
 * epochs ago), which a busy program is likely to reuse at once.
 */
static void purge_zone(struct sb_zone *z, unsigned min_order, bool only_old, size_t target_pages)
{
	uint8_t now = sb_read_once(cur_epoch);
	unsigned o;
	uint32_t idx;

	for (o = SB_NR_ORDERS; o-- > min_order;)
		for (idx = z->free_head[o]; idx != SB_NO_PAGE; idx = z->pages[idx].link.next) {
			struct sb_page *pg = &z->pages[idx];

			if (__atomic_load_n(&total_dirty_pages, __ATOMIC_RELAXED) <= target_pages)
				return;
			if (!pg->dirty || (only_old && (uint8_t)(now - pg->epoch) < 2))
				continue;
			sb_os_purge(z->region.base + ((size_t)idx << SB_PAGE_SHIFT), SB_PAGE_SIZE << o);
			pg->dirty = false;
			dirty_add(z, o, -(1L << o));
		}
}

static uint8_t epoch_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint8_t)(((uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000) / EPOCH_MS);
}

/*
 * After a free into z: when all zones hold more than dirty_max of dirty
 * free memory, give back blocks of z that have been free for an epoch or
 * more (at most once per epoch per zone), down to dirty_max; beyond
 * HARD_FACTOR x dirty_max, give back any dirty block at once.
 */
static inline void maybe_purge(struct sb_zone *z)
{
	size_t total = __atomic_load_n(&total_dirty_pages, __ATOMIC_RELAXED) << SB_PAGE_SHIFT;
	size_t max = sb_config_dirty_max();
	uint8_t now;
	bool hard;

	if (z->purgeable_pages < PURGE_TRIGGER_PAGES || total <= max)
		return;
	now = epoch_now();
	sb_write_once(cur_epoch, now);
	hard = total > HARD_FACTOR * max;
	if (!hard && z->purge_epoch == now)
		return;
	z->purge_epoch = now;
	purge_zone(z, z->purge_order, !hard, max >> SB_PAGE_SHIFT);
}

/* ---- Allocation -------------------------------------------------------- */

static unsigned purge_order_of(enum sb_backing b)
{
	return b == SB_BACKING_4K ? 2 : SB_HUGE_PAGE_ORDER;
}

/* Purge blocks of order or more from now on; recount purgeable_pages. */
static void set_purge_order(struct sb_zone *z, unsigned order)
{
	uint32_t idx;
	unsigned o;

	z->purge_order = order;
	z->purgeable_pages = 0;
	for (o = order; o < SB_NR_ORDERS; o++)
		for (idx = z->free_head[o]; idx != SB_NO_PAGE; idx = z->pages[idx].link.next)
			if (z->pages[idx].dirty)
				z->purgeable_pages += (size_t)1 << o;
}

/* A new zone with all its memory free, or NULL when the OS refuses. */
static struct sb_zone *zone_create(void)
{
	struct sb_zone *z = sb_os_map(ZONE_BYTES);	/* zeroed: no page is a slab's */
	unsigned o;

	if (z == NULL)
		return NULL;
	pthread_mutex_init(&z->lock, NULL);
	for (o = 0; o < SB_NR_ORDERS; o++)
		z->free_head[o] = SB_NO_PAGE;
	if (!sb_region_map(&z->region)) {
		sb_os_unmap(z, ZONE_BYTES);
		return NULL;
	}
	return z;
}

/* The new zone's memory goes on its free lists; the zone lock is held. */
static void zone_add_memory(struct sb_zone *z)
{
	uint32_t idx;

	set_purge_order(z, purge_order_of(z->region.backing));
	for (idx = 0; idx < SB_REGION_PAGES; idx += SB_MAX_BLOCK_PAGES)
		free_list_add(z, idx, SB_MAX_ORDER, false);
}

/* Take an aligned block of 2^order pages from z; SB_NO_PAGE if none. */
static uint32_t take_block(struct sb_zone *z, unsigned order, bool *dirty)
{
	uint32_t avail = z->free_mask >> order, idx;
	unsigned o;

	if (avail == 0)
		return SB_NO_PAGE;
	o = order + (unsigned)__builtin_ctz(avail);
	idx = z->free_head[o];
	*dirty = z->pages[idx].dirty;
	free_list_del(z, idx);
	while (o > order) {
		o--;
		free_list_add(z, idx + (1u << o), o, *dirty);
	}
	return idx;
}

static void mark_allocated(struct sb_zone *z, uint32_t idx, uint32_t n)
{
	uint32_t i;

	z->pages[idx].npages = n;
	z->pages[idx].owner = NULL;
	for (i = 1; i < n; i++)
		z->pages[idx + i].state = SB_PAGE_TAIL;
	__atomic_store_n(&z->pages[idx].state, SB_PAGE_BLOCK, __ATOMIC_RELEASE);
}

static void *alloc_from(struct sb_zone *z, size_t npages, unsigned order)
{
	bool dirty;
	uint32_t idx = take_block(z, order, &dirty);

	if (idx == SB_NO_PAGE)
		return NULL;
	mark_allocated(z, idx, (uint32_t)npages);
	give_back_suffix(z, idx + (uint32_t)npages, idx + (1u << order), dirty);
	SB_ASSERT_FULL(validate_locked(z));
	return z->region.base + ((size_t)idx << SB_PAGE_SHIFT);
}

void *sb_buddy_alloc(size_t npages, size_t align_pages)
{
	unsigned order = sb_ceil_log2(npages);
	size_t i, n;
	struct sb_zone *z;
	void *p;

	SB_ASSERT(align_pages >= 1 && sb_is_pow2(align_pages));
	if (align_pages > 1 && sb_floor_log2(align_pages) > order)
		order = sb_floor_log2(align_pages);
	if (npages == 0 || order > SB_MAX_ORDER)
		return NULL;
	n = sb_region_count();
	for (i = 0; i < n; i++) {
		z = zone_at(i);
		if ((sb_read_once(z->free_mask) >> order) == 0)
			continue;
		pthread_mutex_lock(&z->lock);
		p = alloc_from(z, npages, order);
		pthread_mutex_unlock(&z->lock);
		if (p != NULL)
			return p;
	}
	z = zone_create();
	if (z == NULL)
		return NULL;
	pthread_mutex_lock(&z->lock);
	zone_add_memory(z);
	p = alloc_from(z, npages, order);
	pthread_mutex_unlock(&z->lock);
	return p;
}

unsigned sb_buddy_alloc_batch(size_t npages, void **out, unsigned n)
{
	unsigned order = sb_ceil_log2(npages), got = 0;
	size_t i, nz;
	struct sb_zone *z;

	SB_ASSERT(n >= 1 && npages >= 1 && npages <= SB_MAX_BLOCK_PAGES);
	nz = sb_region_count();
	for (i = 0; i < nz && got == 0; i++) {
		z = zone_at(i);
		if ((sb_read_once(z->free_mask) >> order) == 0)
			continue;
		pthread_mutex_lock(&z->lock);
		while (got < n && (out[got] = alloc_from(z, npages, order)) != NULL)
			got++;
		pthread_mutex_unlock(&z->lock);
	}
	if (got > 0 || (out[0] = sb_buddy_alloc(npages, 1)) == NULL)
		return got;
	/* No zone had room: the new one has; the rest of the batch from it. */
	z = zone_of(out[0]);
	got = 1;
	pthread_mutex_lock(&z->lock);
	while (got < n && (out[got] = alloc_from(z, npages, order)) != NULL)
		got++;
	pthread_mutex_unlock(&z->lock);
	return got;
}

/* Free the block at p of zone z, whose lock is held. */
static void free_locked(struct sb_zone *z, void *p, const char *func)
{
	uint32_t idx = page_index(p);

	if (sb_unlikely(sb_page_classify(&z->pages[idx], p) != SB_PTR_BLOCK)) {
		pthread_mutex_unlock(&z->lock);
		sb_fatal_pointer(func, sb_page_classify(&z->pages[idx], p) == SB_PTR_FREED ?
				 "double free" : "invalid pointer", p);
	}
	free_range(z, idx, idx + z->pages[idx].npages, true);
}

void sb_buddy_free(void *p, const char *func)
{
	sb_buddy_free_batch(&p, 1, func);
}

void sb_buddy_free_batch(void *const *blocks, unsigned n, const char *func)
{
	unsigned i = 0;

	while (i < n) {
		struct sb_zone *z = zone_of(blocks[i]);

		pthread_mutex_lock(&z->lock);
		for (; i < n && zone_of(blocks[i]) == z; i++)
			free_locked(z, blocks[i], func);
		maybe_purge(z);
		SB_ASSERT_FULL(validate_locked(z));
		pthread_mutex_unlock(&z->lock);
	}
}

/* Grow the block at idx from n to want pages using the free blocks after it. */
static bool grow_in_place(struct sb_zone *z, uint32_t idx, uint32_t n, uint32_t want)
{
	uint32_t q, end = idx + want, i;
	bool dirty = false;

	if ((size_t)idx + want > SB_REGION_PAGES)
		return false;
	for (q = idx + n; q < end; q += 1u << z->pages[q].order)
		if (z->pages[q].state != SB_PAGE_FREE)
			return false;
	for (q = idx + n; q < end;) {
		unsigned o = z->pages[q].order;

		dirty = z->pages[q].dirty;
		free_list_del(z, q);
		q += 1u << o;
	}
	for (i = idx + n; i < end; i++)
		z->pages[i].state = SB_PAGE_TAIL;
	give_back_suffix(z, end, q, dirty);
	return true;
}

bool sb_buddy_resize(void *p, size_t npages)
{
	struct sb_zone *z = zone_of(p);
	uint32_t idx = page_index(p), n;
	bool ok = true;

	if (npages == 0 || npages > SB_MAX_BLOCK_PAGES)
		return false;
	pthread_mutex_lock(&z->lock);
	if (sb_unlikely(sb_page_classify(&z->pages[idx], p) != SB_PTR_BLOCK)) {
		pthread_mutex_unlock(&z->lock);	/* freed meanwhile: the caller's bug */
		return false;
	}
	n = z->pages[idx].npages;
	if (npages > n)
		ok = grow_in_place(z, idx, n, (uint32_t)npages);
	else if (npages < n) {
		free_range(z, idx + (uint32_t)npages, idx + n, true);
		maybe_purge(z);
	}
	if (ok)
		z->pages[idx].npages = (uint32_t)npages;
	SB_ASSERT_FULL(validate_locked(z));
	pthread_mutex_unlock(&z->lock);
	return ok;
}

size_t sb_buddy_trim(void)
{
	size_t i, n = sb_region_count(), purged = 0;

	for (i = 0; i < n; i++) {
		struct sb_zone *z = zone_at(i);
		size_t before;

		pthread_mutex_lock(&z->lock);
		before = z->dirty_pages;
		/* Explicit: split THP pages too; hugetlb ranges must stay whole. */
		purge_zone(z, z->region.backing == SB_BACKING_HUGETLB ? z->purge_order : 0, false, 0);
		purged += before - z->dirty_pages;
		pthread_mutex_unlock(&z->lock);
	}
	return purged << SB_PAGE_SHIFT;
}

/* ---- Slab pages -------------------------------------------------------- */

/*
 * A slab map entry is written whole before its fast_lim (release), and
 * retired by its fast_lim alone: a free racing with either (a misuse) sees
 * a refusing entry or a whole one, never a passing entry with no owner.
 */
static void set_ref(struct sb_slab_ref *e, const struct sb_slab_ref *ref)
{
	e->objs = ref->objs;
	e->bin_off = ref->bin_off;
	e->frees_go_home = ref->frees_go_home;
	e->fast_mul = ref->fast_mul;
	__atomic_store_n(&e->owner, ref->owner, __ATOMIC_RELAXED);
	__atomic_store_n(&e->fast_lim, ref->fast_lim, __ATOMIC_RELEASE);
}

void sb_buddy_make_slab(void *mem, struct sb_slab *s, unsigned bin, const struct sb_slab_ref *ref)
{
	struct sb_zone *z = zone_of(mem);
	struct sb_page *pg = &z->pages[page_index(mem)];
	uint32_t i, n;

	pthread_mutex_lock(&z->lock);
	SB_ASSERT(pg->state == SB_PAGE_BLOCK);
	n = pg->npages;
	for (i = 0; i < n; i++) {
		pg[i].slab = s;
		pg[i].bin = (uint8_t)bin;
		__atomic_store_n(&pg[i].state, SB_PAGE_SLAB, __ATOMIC_RELEASE);
		set_ref(&z->slab_map[page_index(mem) + i], ref);
	}
	pthread_mutex_unlock(&z->lock);
}

/* The slab's pages and their count stay put while it lives: no lock. */
void sb_buddy_set_slab_owner(void *mem, const void *owner)
{
	struct sb_zone *z = zone_of(mem);
	uint32_t idx = page_index(mem), i, n = z->pages[idx].npages;

	SB_ASSERT(z->pages[idx].state == SB_PAGE_SLAB);
	for (i = 0; i < n; i++)
		__atomic_store_n(&z->slab_map[idx + i].owner, owner, __ATOMIC_RELAXED);
}

void sb_buddy_free_slab(void *mem)
{
	struct sb_zone *z = zone_of(mem);
	uint32_t idx = page_index(mem), i, n;
	struct sb_page *pg = &z->pages[idx];

	pthread_mutex_lock(&z->lock);
	SB_ASSERT(pg->state == SB_PAGE_SLAB);
	n = pg->npages;
	for (i = 0; i < n; i++)
		__atomic_store_n(&z->slab_map[idx + i].fast_lim, 0, __ATOMIC_RELAXED);
	for (i = 1; i < n; i++)
		__atomic_store_n(&pg[i].state, SB_PAGE_TAIL, __ATOMIC_RELAXED);
	__atomic_store_n(&pg[0].state, SB_PAGE_BLOCK, __ATOMIC_RELEASE);
	free_range(z, idx, idx + n, true);
	maybe_purge(z);
	SB_ASSERT_FULL(validate_locked(z));
	pthread_mutex_unlock(&z->lock);
}

/* ---- Validation -------------------------------------------------------- */

static bool invalid(const char *what, uintptr_t v)
{
	return sb_invalid("buddy", what, v);
}

/* The length of the block that starts at idx, or 0 if none starts there. */
static uint32_t block_at(const struct sb_zone *z, uint32_t idx, bool *is_free)
{
	const struct sb_page *pg = &z->pages[idx];
	uint32_t i, n;

	*is_free = false;
	switch (pg->state) {
	case SB_PAGE_FREE:
		*is_free = true;
		return pg->order <= SB_MAX_ORDER && (idx & ((1u << pg->order) - 1)) == 0
		       ? 1u << pg->order : 0;
	case SB_PAGE_BLOCK:
		n = pg->npages;
		if (n == 0 || (size_t)idx + n > SB_REGION_PAGES)
			return 0;
		for (i = 1; i < n; i++)
			if (pg[i].state != SB_PAGE_TAIL)
				return 0;
		return n;
	case SB_PAGE_SLAB:
		n = pg->npages;
		if (n == 0 || (size_t)idx + n > SB_REGION_PAGES)
			return 0;
		for (i = 1; i < n; i++)
			if (pg[i].state != SB_PAGE_SLAB || pg[i].slab != pg->slab || pg[i].bin != pg->bin)
				return 0;
		return n;
	default:
		return 0;
	}
}

static bool validate_locked(struct sb_zone *z)
{
	size_t nr_free[SB_NR_ORDERS] = { 0 }, free_pages = 0, dirty = 0, purgeable = 0;
	uint32_t idx, n, prev, i;
	unsigned o;
	bool is_free;

	for (idx = 0; idx < SB_REGION_PAGES; idx += n) {
		const struct sb_page *pg = &z->pages[idx];

		n = block_at(z, idx, &is_free);
		if (n == 0)
			return invalid("no block starts at page", idx);
		if (!is_free)
			continue;
		for (i = 1; i < n; i++)
			if (pg[i].state != SB_PAGE_MERGED && pg[i].state != SB_PAGE_TAIL &&
			    pg[i].state != SB_PAGE_UNUSED)
				return invalid("page in use inside a free block at page", idx + i);
		o = pg->order;
		if (o < SB_MAX_ORDER && z->pages[idx ^ n].state == SB_PAGE_FREE &&
		    z->pages[idx ^ n].order == o)
			return invalid("buddies not coalesced at page", idx);
		nr_free[o]++;
		free_pages += n;
		if (pg->dirty) {
			dirty += n;
			if (o >= z->purge_order)
				purgeable += n;
		}
	}
	for (idx = 0; idx < SB_REGION_PAGES; idx++)
		if (z->pages[idx].state != SB_PAGE_SLAB && z->slab_map[idx].fast_lim != 0)
			return invalid("slab map entry of a page of no slab takes pointers: page", idx);
	for (o = 0; o < SB_NR_ORDERS; o++) {
		size_t len = 0;

		if (((z->free_mask >> o) & 1) != (z->free_head[o] != SB_NO_PAGE))
			return invalid("free_mask disagrees with the list of order", o);
		prev = SB_NO_PAGE;
		for (idx = z->free_head[o]; idx != SB_NO_PAGE; idx = z->pages[idx].link.next) {
			if (idx >= SB_REGION_PAGES || z->pages[idx].state != SB_PAGE_FREE ||
			    z->pages[idx].order != o)
				return invalid("not a free block of its list's order at page", idx);
			if (z->pages[idx].link.prev != prev)
				return invalid("broken back link at page", idx);
			prev = idx;
			if (++len > nr_free[o])
				return invalid("free list longer than its free blocks, order", o);
		}
		if (len != nr_free[o] || z->nr_free[o] != nr_free[o])
			return invalid("free block count wrong for order", o);
	}
	if (z->free_pages != free_pages)
		return invalid("free_pages wrong", z->free_pages);
	if (z->dirty_pages != dirty || z->purgeable_pages != purgeable)
		return invalid("dirty page counts wrong", z->dirty_pages);
	return true;
}

bool sb_buddy_validate(size_t i)
{
	struct sb_zone *z = zone_at(i);
	bool ok;

	pthread_mutex_lock(&z->lock);
	ok = validate_locked(z);
	pthread_mutex_unlock(&z->lock);
	return ok;
}

/* ---- Counters and fork ------------------------------------------------- */

void sb_buddy_counters(size_t i, struct sb_zone_counters *out, bool locked)
{
	struct sb_zone *z = zone_at(i);
	unsigned o;

	if (locked)
		pthread_mutex_lock(&z->lock);
	out->base = z->region.base;
	out->index = z->region.index;
	out->backing = z->region.backing;
	out->free_pages = sb_read_once(z->free_pages);
	out->dirty_pages = sb_read_once(z->dirty_pages);
	out->used_pages = SB_REGION_PAGES - out->free_pages;
	for (o = 0; o < SB_NR_ORDERS; o++)
		out->nr_free[o] = sb_read_once(z->nr_free[o]);
	if (locked)
		pthread_mutex_unlock(&z->lock);
}

size_t sb_buddy_desc_bytes(void)
{
	return sb_region_count() * ZONE_BYTES;
}

void sb_buddy_fork_prepare(void)
{
	size_t i, n = sb_region_count();

	for (i = 0; i < n; i++)
		pthread_mutex_lock(&zone_at(i)->lock);
}

void sb_buddy_fork_parent(void)
{
	size_t i;

	for (i = sb_region_count(); i-- > 0;)
		pthread_mutex_unlock(&zone_at(i)->lock);
}

/* The pages of z not inside a free block, as a bitmap. */
static void used_pages(const struct sb_zone *z, uint64_t *used)
{
	uint32_t idx = 0, n;
	bool is_free;

	memset(used, 0, SB_REGION_PAGES / 8);
	while (idx < SB_REGION_PAGES) {
		n = block_at(z, idx, &is_free);
		if (n == 0)
			n = 1;		/* cannot happen in a valid zone; copy it */
		if (!is_free)
			for (uint32_t i = idx; i < idx + n; i++)
				used[i / 64] |= (uint64_t)1 << (i % 64);
		idx += n;
	}
}

/*
 * In a forked child, hugetlb regions get ordinary pages (a MAP_PRIVATE
 * hugetlb page shared with the parent is copied on write from the pool,
 * and an empty pool means SIGBUS); only pages in use are copied.  Then
 * every zone lock is released, as in the parent.
 */
void sb_buddy_fork_child(void)
{
	static uint64_t used[SB_REGION_PAGES / 64];
	size_t i, n = sb_region_count();

	for (i = 0; i < n; i++) {
		struct sb_zone *z = zone_at(i);

		if (z->region.backing == SB_BACKING_HUGETLB) {
			used_pages(z, used);
			sb_region_leave_hugetlb(&z->region, used);
			set_purge_order(z, purge_order_of(z->region.backing));
		}
	}
	sb_buddy_fork_parent();
}
