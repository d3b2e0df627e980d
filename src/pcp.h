/*
 * pcp.h - per-thread page lists in front of the buddy allocator (pcp.c),
 * the user-space counterpart of the kernel's per-CPU page lists.
 *
 * A thread keeps freed page blocks in lists by page count, 1 to
 * SB_PCP_MAX_PAGES pages (256 KiB), and a few larger blocks up to 4 MiB,
 * so that malloc and free of blocks in that range take no zone lock in a
 * steady state.  An empty list is refilled, and a full one drained, half a
 * list at a time under one zone lock round trip (the kernel's pcp->batch
 * and pcp->high).  The lists of up to SB_PCP_FAST_PAGES pages are what the
 * inline fast paths use; their depths bound what they hold (2.3 MiB); the
 * others and the big blocks are counted and held to SB_PCP_SLOW_MAX_PAGES.
 *
 * A block belongs to the lists it was refilled into (its page descriptor
 * names them, sb_page_block_owner): the lists take back only their own
 * blocks; another thread's go back to the buddy allocator in batches
 * (sb_pcp_free_remote), where their owner's next refill finds them.
 *
 * A cached block stays BLOCK in its page descriptor and holds the free key
 * (key.h), which sends a second free of it to the check of every thread's
 * lists (tcache.c).  The lists are embedded in the thread's cache
 * (tcache.c), which owns their lifetime; their fields are written only by
 * the functions here and in pcp.c.
 */
#ifndef SB_PCP_H
#define SB_PCP_H

#include "common.h"
#include "report.h"

#pragma GCC visibility push(hidden)

#define SB_PCP_MAX_PAGES 64		/* lists for blocks of 1..64 pages */
#define SB_PCP_FAST_PAGES 16		/* lists the inline paths use */
#define SB_PCP_SLOTS 176		/* the depths of pcp.c: 4 x 8 + 12 x 4 + 48 x 2 */
#define SB_PCP_BIG 4			/* blocks of 65..1024 pages */
#define SB_PCP_SLOW_MAX_PAGES 1024	/* 4 MiB in lists above 16 pages and big blocks */
#define SB_PCP_REMOTE 8			/* other threads' blocks, before they go back */

struct sb_pcp_big {
	void *block;
	uint32_t npages;
};

/*
 * List n is slots[base[n] .. limit[n]), filled up to top[n] (exclusive).
 * A zeroed sb_pcp has every list empty and full at once: every pop and
 * push misses.  pops and pushes count what the inline paths served, for
 * the statistics (written by this thread only, read by any); they outlive
 * the thread with the cache that embeds the lists.
 */
struct sb_pcp {
	uint64_t pops[SB_PCP_FAST_PAGES + 1];
	uint64_t pushes[SB_PCP_FAST_PAGES + 1];
	uint16_t top[SB_PCP_MAX_PAGES + 1];
	uint16_t base[SB_PCP_MAX_PAGES + 1];
	uint16_t limit[SB_PCP_MAX_PAGES + 1];
	uint32_t slow_pages;			/* held above the fast lists */
	uint8_t nbig, nremote;
	void *remote[SB_PCP_REMOTE];		/* freed here, owned by other threads */
	struct sb_pcp_big big[SB_PCP_BIG];
	void *slots[SB_PCP_SLOTS];
};

/* Lay a live thread's lists out (tcache.c, when it sets the cache up);
 * the counts of the cache's earlier threads stay. */
void sb_pcp_init(struct sb_pcp *pcp);
/* How many blocks the list of npages (<= SB_PCP_MAX_PAGES) holds. */
unsigned sb_pcp_depth(size_t npages);

/* top[n] += delta as one add to memory (the compilers would load, add and
 * store it back, as for a bin's top, tcache.h). */
static SB_ALWAYS_INLINE void pcp_move_top(struct sb_pcp *pcp, size_t n, int delta)
{
#if defined(__x86_64__)
	__asm__("addw %1, %0" : "+m"(pcp->top[n]) : "ir"((int16_t)delta));
#else
	pcp->top[n] = (uint16_t)(pcp->top[n] + delta);
#endif
}

/* The list of npages (<= SB_PCP_MAX_PAGES): a pop into *out, false if it
 * is empty; a push of p, false if it is full.  Uncounted: for pcp.c. */
static inline bool sb_pcp_list_pop(struct sb_pcp *pcp, size_t npages, void **out)
{
	size_t t = pcp->top[npages];

	if (t == pcp->base[npages])
		return false;
	pcp_move_top(pcp, npages, -1);
	*out = pcp->slots[t - 1];
	return true;
}

static inline bool sb_pcp_list_push(struct sb_pcp *pcp, size_t npages, void *p)
{
	size_t t = pcp->top[npages];

	if (t == pcp->limit[npages])
		return false;
	pcp->slots[t] = p;
	pcp_move_top(pcp, npages, 1);
	return true;
}

/* The inline paths: a cached block of npages (<= SB_PCP_FAST_PAGES) into
 * *out, false if its list is empty; keep the freed block p of npages (<=
 * SB_PCP_FAST_PAGES), false if its list is full (then sb_pcp_free).
 * Counted. */
static inline bool sb_pcp_pop(struct sb_pcp *pcp, size_t npages, void **out)
{
	SB_ASSERT(npages <= SB_PCP_FAST_PAGES);
	if (!sb_pcp_list_pop(pcp, npages, out))
		return false;
	sb_counter_add(&pcp->pops[npages], 1);
	return true;
}

static inline bool sb_pcp_push(struct sb_pcp *pcp, uint32_t npages, void *p)
{
	SB_ASSERT(npages <= SB_PCP_FAST_PAGES);
	if (!sb_pcp_list_push(pcp, npages, p))
		return false;
	sb_counter_add(&pcp->pushes[npages], 1);
	return true;
}

/*
 * The slow paths.  sb_pcp_alloc: a block of npages (up to 1024): from its
 * list, refilled with a batch from the buddy allocator when empty, or from
 * the big blocks; NULL when no memory.  sb_pcp_free: keep p (drain half
 * the list, or older blocks, to make room) and return true, or give it to
 * the buddy allocator and return false.  func names the caller.
 */
void *sb_pcp_alloc(struct sb_pcp *pcp, size_t npages);
bool sb_pcp_free(struct sb_pcp *pcp, uint32_t npages, void *p, const char *func);

/* p was allocated by another thread: collect it, and give the blocks
 * collected back to the buddy allocator a batch at a time, so that they go
 * home (the owner's next refill finds them) instead of into this thread's
 * lists, where the owner cannot reach them. */
void sb_pcp_free_remote(struct sb_pcp *pcp, void *p, const char *func);

/* Is p one of the cached blocks? */
bool sb_pcp_holds(const struct sb_pcp *pcp, const void *p);
/* Give every cached block back to the buddy allocator. */
void sb_pcp_drain(struct sb_pcp *pcp, const char *func);
/* Pages held. */
size_t sb_pcp_pages(const struct sb_pcp *pcp);
/* What the inline paths served: blocks popped and pushed, and the bytes
 * popped, added to *pops, *pushes and *bytes (read from any thread). */
void sb_pcp_traffic(const struct sb_pcp *pcp, uint64_t *pops, uint64_t *pushes, uint64_t *bytes);
/* Every block is an allocated block of its list's size; counts add up. */
bool sb_pcp_validate(const struct sb_pcp *pcp);

#pragma GCC visibility pop

#endif /* SB_PCP_H */
