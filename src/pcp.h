/*
 * pcp.h - per-thread page lists in front of the buddy allocator (pcp.c),
 * the user-space counterpart of the kernel's per-CPU page lists.
 *
 * A thread keeps up to SB_PCP_DEPTH freed page blocks of each size from 1
 * to SB_PCP_MAX_PAGES pages, so repeated malloc/free of blocks up to 64 KiB
 * takes no zone lock.  A cached block stays BLOCK in its page descriptor
 * and holds the free key (key.h), which sends a second free of it to the
 * check of every thread's lists (tcache.c).  The lists are embedded in the
 * thread's cache (tcache.c), which owns their lifetime; their fields are
 * written only by the functions here and in pcp.c.
 */
#ifndef SB_PCP_H
#define SB_PCP_H

#include "common.h"
#include "report.h"

#pragma GCC visibility push(hidden)

#define SB_PCP_MAX_PAGES 16
#define SB_PCP_DEPTH 4

struct sb_pcp_list {
	uint32_t count;
	void *blocks[SB_PCP_DEPTH];
};

struct sb_pcp {
	struct sb_pcp_list lists[SB_PCP_MAX_PAGES + 1];	/* by page count */
};

/* A cached block of npages into *out; false if there is none. */
static inline bool sb_pcp_pop(struct sb_pcp *pcp, size_t npages, void **out)
{
	struct sb_pcp_list *l;

	if (npages > SB_PCP_MAX_PAGES)
		return false;
	l = &pcp->lists[npages];
	if (l->count == 0)
		return false;
	*out = l->blocks[--l->count];
	return true;
}

/* Keep the freed block p of npages (<= SB_PCP_MAX_PAGES); false if its
 * list is full. */
static inline bool sb_pcp_push(struct sb_pcp *pcp, uint32_t npages, void *p)
{
	struct sb_pcp_list *l = &pcp->lists[npages];

	if (l->count == SB_PCP_DEPTH)
		return false;
	l->blocks[l->count++] = p;
	return true;
}

/* Is p one of the cached blocks? */
bool sb_pcp_holds(const struct sb_pcp *pcp, const void *p);
/* Give every cached block back to the buddy allocator. */
void sb_pcp_drain(struct sb_pcp *pcp, const char *func);
/* Pages held. */
size_t sb_pcp_pages(const struct sb_pcp *pcp);
/* Every block is an allocated block of its list's size. */
bool sb_pcp_validate(const struct sb_pcp *pcp);

#pragma GCC visibility pop

#endif /* SB_PCP_H */
