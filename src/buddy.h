/*
 * buddy.h - the buddy allocator: power-of-two runs of pages (buddy.c).
 *
 * buddy.c owns, for every region, its zone: the region descriptor (filled
 * in by region.c), the free lists, the counters and the page descriptors.
 * Every field of struct sb_zone and struct sb_page is written by buddy.c
 * only; the slab layer has its pages marked through sb_buddy_make_slab().
 * The layout is here for the free fast path, which reads a page
 * descriptor through sb_page_of() and never writes it.
 */
#ifndef SB_BUDDY_H
#define SB_BUDDY_H

#include "common.h"
#include "region.h"
#include "registry.h"

#include <pthread.h>
#include <stddef.h>

#pragma GCC visibility push(hidden)

enum sb_page_state {
	SB_PAGE_UNUSED = 0,	/* never handed out since the region was mapped */
	SB_PAGE_FREE,		/* head of a free buddy block of `order` */
	SB_PAGE_MERGED,		/* was a free head, now inside a larger free block */
	SB_PAGE_BLOCK,		/* head of an allocated page block of `npages` */
	SB_PAGE_TAIL,		/* other page of an allocated block, or stale */
	SB_PAGE_SLAB,		/* page of a slab: `slab` and `bin` say which */
};

struct sb_slab;

/* One per 4 KiB page of a region, 16 bytes, in its zone. */
struct sb_page {
	uint8_t state;		/* enum sb_page_state */
	union {
		uint8_t order;	/* FREE: buddy order of the block */
		uint8_t bin;	/* SLAB: bin of the slab's cache, or SB_NO_BIN */
	};
	uint8_t dirty;		/* FREE: some page of the block may be resident */
	uint8_t epoch;		/* FREE and dirty: purge epoch when it was freed */
	uint32_t npages;	/* BLOCK, and the first page of a slab: pages */
	union {
		struct {
			uint32_t next, prev;	/* FREE: free list, page indices */
		} link;
		struct sb_slab *slab;		/* SLAB, every page of the slab */
		const void *owner;		/* BLOCK: the thread cache that took it */
	};
};

#define SB_NO_PAGE UINT32_MAX

_Static_assert(sizeof(struct sb_page) == 16, "sb_page_of scales a page index by 16");

/*
 * A slab map entry, one per page: what the free fast path needs of the
 * page's slab, a copy the slab layer makes (slab.c, ref_of) and
 * hands over with sb_buddy_make_slab() and sb_buddy_set_slab_owner(), so
 * that a free reads one line of the map and not the slab descriptor too,
 * as SLUB keeps its struct slab in the memmap: with frees in random order
 * over a big heap the descriptor was a cache miss of its own on every
 * free.  A page of no slab has a zeroed entry, whose fast_lim 0 refuses
 * every pointer before anything else of it is read.
 */
struct sb_slab_ref {
	uint32_t objs;			/* the low half of the first object's address */
	uint16_t bin_off;		/* the cache's bin << SB_BIN_SHIFT */
	uint8_t frees_go_home;		/* slab.h, SB_HOME_MAX */
	uint8_t unused;
	uint64_t fast_mul, fast_lim;	/* sb_fast_object_test (slab.h) */
	const void *owner;		/* the slab's owner token (slab.h); read racily */
};

_Static_assert(sizeof(struct sb_slab_ref) == 32, "the free fast path scales a page index by 32");

/* The entry the slab layer hands to sb_buddy_make_slab(). */
static inline struct sb_slab_ref sb_slab_ref_make(const char *objs, uint32_t bin_off, bool frees_go_home,
						  uint64_t fast_mul, uint64_t fast_lim, const void *owner)
{
	struct sb_slab_ref e = {
		.objs = (uint32_t)(uintptr_t)objs, .bin_off = (uint16_t)bin_off,
		.frees_go_home = frees_go_home, .fast_mul = fast_mul, .fast_lim = fast_lim,
		.owner = owner,
	};

	return e;
}

/*
 * A region with its free lists and page descriptors.  The descriptors come
 * first, so that the free path reaches a page from the region pointer the
 * registry holds with one scaled index and a constant displacement.
 */
struct sb_zone {
	struct sb_page pages[SB_REGION_PAGES];
	/* The free fast path's index of slabs: the slab's entry for every
	 * SLAB page, zeros for every other page, so that a free reads one
	 * entry and tests no page state. */
	struct sb_slab_ref slab_map[SB_REGION_PAGES];
	struct sb_region region;	/* the registry points here */
	pthread_mutex_t lock;		/* the zone lock: everything else */
	uint32_t free_mask;		/* bit k: free_head[k] is not empty (read racily) */
	uint32_t free_head[SB_NR_ORDERS];
	size_t nr_free[SB_NR_ORDERS];	/* free blocks per order */
	size_t free_pages;
	size_t dirty_pages;		/* pages of free blocks marked dirty */
	size_t purgeable_pages;		/* dirty pages in blocks >= purge_order */
	unsigned purge_order;		/* smallest order worth an madvise */
	uint8_t purge_epoch;		/* last epoch an age-based purge ran here */
};

static inline struct sb_zone *sb_zone_of_region(struct sb_region *r)
{
	return (struct sb_zone *)((char *)r - offsetof(struct sb_zone, region));
}

/*
 * The page descriptor of p, or NULL when no region holds p (huge blocks
 * and foreign memory).  Reads only the registry: the one place that turns
 * a pointer into its page.
 */
static inline struct sb_page *sb_page_of(const void *p)
{
	struct sb_region *r = sb_registry_region(p);

	if (sb_unlikely(r == NULL))
		return NULL;
	/* (p >> 12) * 16, masked to the region: one shift and one mask. */
	return (struct sb_page *)((char *)sb_zone_of_region(r) +
				  (((uintptr_t)p >> (SB_PAGE_SHIFT - 4)) &
				   ((SB_REGION_PAGES - 1) * sizeof(struct sb_page))));
}

/*
 * A plain read: the state is published (release) before the memory is
 * handed out, and a thread that frees a pointer got it after that, through
 * whatever synchronisation handed it over.  Only a misuse races here.
 */
static inline unsigned sb_page_state(const struct sb_page *pg)
{
	return pg->state;
}

/* What a pointer freed by the user is, judging by its page (never by p). */
enum sb_ptr_kind {
	SB_PTR_INVALID,		/* not the start of anything we handed out */
	SB_PTR_SLAB,		/* on a slab page: the slab layer checks the object */
	SB_PTR_BLOCK,		/* the start of an allocated page block */
	SB_PTR_FREED,		/* the start of a free block: a double free */
};

static inline enum sb_ptr_kind sb_page_classify(const struct sb_page *pg, const void *p)
{
	unsigned state = sb_page_state(pg);

	if (sb_likely(state == SB_PAGE_SLAB))
		return SB_PTR_SLAB;
	if (((uintptr_t)p & (SB_PAGE_SIZE - 1)) == 0) {
		if (state == SB_PAGE_BLOCK)
			return SB_PTR_BLOCK;
		if (state == SB_PAGE_FREE || state == SB_PAGE_MERGED)
			return SB_PTR_FREED;
	}
	return SB_PTR_INVALID;
}

/* Pages of the allocated block whose head is pg. */
static inline uint32_t sb_page_block_pages(const struct sb_page *pg)
{
	return pg->npages;
}

/* The owner token of the allocated block whose head is pg, and setting
 * it: the thread that allocated the block does, before handing it out
 * (the block is its alone then); read racily by the thread that frees it. */
static inline const void *sb_page_block_owner(const struct sb_page *pg)
{
	return pg->owner;
}

static inline void sb_page_set_block_owner(struct sb_page *pg, const void *owner)
{
	pg->owner = owner;
}

/* The slab and bin of a SLAB page. */
static inline struct sb_slab *sb_page_slab(const struct sb_page *pg)
{
	return pg->slab;
}

static inline unsigned sb_page_bin(const struct sb_page *pg)
{
	return pg->bin;
}

/* The slab map (struct sb_zone) of the zone of pg, p's page descriptor,
 * and p's entry in it. */
static inline const struct sb_slab_ref *sb_page_slab_map(const struct sb_page *pg, const void *p)
{
	const struct sb_zone *z = (const struct sb_zone *)(pg - (((uintptr_t)p & SB_REGION_MASK) >> SB_PAGE_SHIFT));

	return z->slab_map;
}

static inline const struct sb_slab_ref *sb_page_map_ref(const struct sb_page *pg, const void *p)
{
	return &sb_page_slab_map(pg, p)[((uintptr_t)p & SB_REGION_MASK) >> SB_PAGE_SHIFT];
}

/*
 * npages contiguous pages aligned to align_pages (a power of two), from any
 * region; the head page is BLOCK.  Unused tail pages of the power-of-two
 * block go back at once.  NULL when no region can be mapped.
 */
void *sb_buddy_alloc(size_t npages, size_t align_pages);
/* Free the block that starts at p; a p whose page is no allocated block's
 * head (a block freed twice) is reported, naming func. */
void sb_buddy_free(void *p, const char *func);
/* Up to n blocks of npages (align 1) into out under one zone lock; how
 * many (0: no memory). */
unsigned sb_buddy_alloc_batch(size_t npages, void **out, unsigned n);
/* Free n blocks, one zone lock round trip per run of blocks in one zone. */
void sb_buddy_free_batch(void *const *blocks, unsigned n, const char *func);
/* Grow or shrink the block at p to npages in place; false if it cannot
 * (or p is no longer an allocated block's head). */
bool sb_buddy_resize(void *p, size_t npages);
/* Purge every dirty free block to the OS; returns bytes purged. */
size_t sb_buddy_trim(void);

/* The slab layer's pages: mark the block at mem (from sb_buddy_alloc) as
 * slab s of bin with slab map entries ref, change the owner in its
 * entries, and give it back. */
void sb_buddy_make_slab(void *mem, struct sb_slab *s, unsigned bin, const struct sb_slab_ref *ref);
void sb_buddy_set_slab_owner(void *mem, const void *owner);
void sb_buddy_free_slab(void *mem);

/*
 * Check every invariant of zone i (free lists and page states agree, every
 * page is covered by exactly one block, coalescing is complete, the counts
 * add up); reports the first broken one on stderr.  Takes the zone lock.
 */
bool sb_buddy_validate(size_t i);

struct sb_zone_counters {
	const char *base;
	unsigned index;
	enum sb_backing backing;
	size_t free_pages, dirty_pages, used_pages;
	size_t nr_free[SB_NR_ORDERS];
};
/* Zone i (0 .. sb_region_count() - 1); locked false: read racily. */
void sb_buddy_counters(size_t i, struct sb_zone_counters *out, bool locked);
/* Bytes of zone descriptors. */
size_t sb_buddy_desc_bytes(void);

/* Fork: every zone lock (fork.c); the child leaves hugetlb pages. */
void sb_buddy_fork_prepare(void);
void sb_buddy_fork_parent(void);
void sb_buddy_fork_child(void);

#pragma GCC visibility pop

#endif /* SB_BUDDY_H */
