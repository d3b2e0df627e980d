/*
 * pcp.c - per-thread page lists: draining, counting, validation.
 *
 * The lists belong to one thread (or, after the thread is gone, to the
 * code that drains them); no lock.  See pcp.h.
 */
#include "pcp.h"
#include "buddy.h"

void sb_pcp_drain(struct sb_pcp *pcp, const char *func)
{
	unsigned i, j;

	for (i = 1; i <= SB_PCP_MAX_PAGES; i++) {
		struct sb_pcp_list *l = &pcp->lists[i];

		for (j = 0; j < l->count; j++)
			sb_buddy_free(l->blocks[j], func);
		l->count = 0;
	}
}

bool sb_pcp_holds(const struct sb_pcp *pcp, const void *p)
{
	unsigned i, j;

	for (i = 1; i <= SB_PCP_MAX_PAGES; i++)
		for (j = 0; j < sb_read_once(pcp->lists[i].count) && j < SB_PCP_DEPTH; j++)
			if (sb_read_once(pcp->lists[i].blocks[j]) == p)
				return true;
	return false;
}

size_t sb_pcp_pages(const struct sb_pcp *pcp)
{
	size_t pages = 0;
	unsigned i;

	for (i = 1; i <= SB_PCP_MAX_PAGES; i++)
		pages += (size_t)sb_read_once(pcp->lists[i].count) * i;
	return pages;
}

bool sb_pcp_validate(const struct sb_pcp *pcp)
{
	unsigned i, j;

	if (pcp->lists[0].count != 0)
		return sb_invalid("pcp", "blocks of 0 pages", pcp->lists[0].count);
	for (i = 1; i <= SB_PCP_MAX_PAGES; i++) {
		const struct sb_pcp_list *l = &pcp->lists[i];

		if (l->count > SB_PCP_DEPTH)
			return sb_invalid("pcp", "list beyond its depth, pages", i);
		for (j = 0; j < l->count; j++) {
			const struct sb_page *pg = sb_page_of(l->blocks[j]);

			if (pg == NULL || sb_page_classify(pg, l->blocks[j]) != SB_PTR_BLOCK ||
			    sb_page_block_pages(pg) != i)
				return sb_invalid("pcp", "not an allocated block of its list's size",
						  (uintptr_t)l->blocks[j]);
		}
	}
	return true;
}
