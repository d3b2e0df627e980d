/*
 * pcp.c - per-thread page lists: their layout, refill and drain in
 * batches, the big blocks, draining, counting, validation.
 *
 * Depths: 8 blocks for lists of 1 to 4 pages, 4 up to 16 pages (together
 * at most 584 pages, 2.3 MiB), 2 up to 64 pages.  An empty list is refilled
 * with half its depth from the buddy allocator in one zone lock round trip
 * (sb_buddy_alloc_batch), a full one drained by half its depth the same way
 * (sb_buddy_free_batch), as the kernel refills and drains its per-CPU
 * lists by pcp->batch.  Blocks of 65 to 1024 pages are kept, up to
 * SB_PCP_BIG of them, and handed out for requests of their size or up to a
 * quarter smaller (the block is not shrunk: its head says its size).  The
 * lists above 16 pages and the big blocks hold at most
 * SB_PCP_SLOW_MAX_PAGES pages; beyond, the oldest go.
 *
 * The lists belong to one thread (or, after the thread is gone, to the
 * code that drains them); no lock.  See pcp.h.
 */
#include "pcp.h"
#include "buddy.h"

unsigned sb_pcp_depth(size_t n)
{
	return n <= 4 ? 8 : n <= SB_PCP_FAST_PAGES ? 4 : 2;
}

void sb_pcp_init(struct sb_pcp *pcp)
{
	unsigned at = 0;
	size_t n;

	for (n = 1; n <= SB_PCP_MAX_PAGES; n++) {
		pcp->base[n] = pcp->top[n] = (uint16_t)at;
		at += sb_pcp_depth(n);
		pcp->limit[n] = (uint16_t)at;
	}
	SB_ASSERT(at <= SB_PCP_SLOTS);
}

static inline unsigned count_of(const struct sb_pcp *pcp, size_t n)
{
	return (unsigned)(sb_read_once(pcp->top[n]) - pcp->base[n]);
}

static inline void note_slow(struct sb_pcp *pcp, size_t n, long k)
{
	if (n > SB_PCP_FAST_PAGES)
		pcp->slow_pages += (uint32_t)((long)n * k);
}

/* Drain the oldest half of list n to the buddy allocator. */
static void drain_list(struct sb_pcp *pcp, size_t n, const char *func)
{
	unsigned c = count_of(pcp, n), k = (c + 1) / 2, i;
	void **l = &pcp->slots[pcp->base[n]];

	if (c == 0)
		return;
	sb_buddy_free_batch(l, k, func);
	for (i = k; i < c; i++)
		l[i - k] = l[i];
	pcp->top[n] = (uint16_t)(pcp->top[n] - k);
	note_slow(pcp, n, -(long)k);
}

static void drop_big(struct sb_pcp *pcp, unsigned i, const char *func)
{
	sb_buddy_free_batch(&pcp->big[i].block, 1, func);
	pcp->slow_pages -= pcp->big[i].npages;
	for (; i + 1 < pcp->nbig; i++)
		pcp->big[i] = pcp->big[i + 1];
	pcp->nbig--;
}

/* Free the oldest slow blocks until need more pages fit. */
static void make_room(struct sb_pcp *pcp, uint32_t need, const char *func)
{
	size_t n;

	while (pcp->slow_pages + need > SB_PCP_SLOW_MAX_PAGES && pcp->nbig > 0)
		drop_big(pcp, 0, func);
	for (n = SB_PCP_MAX_PAGES; n > SB_PCP_FAST_PAGES &&
	     pcp->slow_pages + need > SB_PCP_SLOW_MAX_PAGES; n--)
		while (count_of(pcp, n) > 0 && pcp->slow_pages + need > SB_PCP_SLOW_MAX_PAGES)
			drain_list(pcp, n, func);
}

void *sb_pcp_alloc(struct sb_pcp *pcp, size_t npages)
{
	void *batch[4];
	unsigned got, i, best = SB_PCP_BIG;
	void *p;

	SB_ASSERT(npages >= 1 && npages <= SB_MAX_BLOCK_PAGES);
	if (npages <= SB_PCP_MAX_PAGES) {
		if (sb_pcp_list_pop(pcp, npages, &p)) {
			note_slow(pcp, npages, -1);
			return p;
		}
		got = sb_buddy_alloc_batch(npages, batch, sb_pcp_depth(npages) / 2);
		if (got == 0)
			return NULL;
		for (i = 0; i < got; i++)
			sb_page_set_block_owner(sb_page_of(batch[i]), pcp);
		/* Keep the rest for the next allocations. */
		if (npages > SB_PCP_FAST_PAGES)
			make_room(pcp, (uint32_t)(npages * (got - 1)), "malloc");
		for (i = 1; i < got && sb_pcp_list_push(pcp, npages, batch[i]); i++)
			note_slow(pcp, npages, 1);
		if (i < got)
			sb_buddy_free_batch(batch + i, got - i, "malloc");
		return batch[0];
	}
	for (i = 0; i < pcp->nbig; i++)
		if (pcp->big[i].npages >= npages && pcp->big[i].npages - npages <= npages / 4 &&
		    (best == SB_PCP_BIG || pcp->big[i].npages < pcp->big[best].npages))
			best = i;
	if (best == SB_PCP_BIG) {
		p = sb_buddy_alloc(npages, 1);
		if (p != NULL)
			sb_page_set_block_owner(sb_page_of(p), pcp);
		return p;
	}
	p = pcp->big[best].block;
	pcp->slow_pages -= pcp->big[best].npages;
	for (i = best; i + 1 < pcp->nbig; i++)
		pcp->big[i] = pcp->big[i + 1];
	pcp->nbig--;
	return p;
}

bool sb_pcp_free(struct sb_pcp *pcp, uint32_t npages, void *p, const char *func)
{
	SB_ASSERT(npages >= 1 && npages <= SB_MAX_BLOCK_PAGES);
	if (npages <= SB_PCP_MAX_PAGES) {
		if (pcp->top[npages] == pcp->limit[npages])
			drain_list(pcp, npages, func);
		if (npages > SB_PCP_FAST_PAGES)
			make_room(pcp, npages, func);
		if (!sb_pcp_list_push(pcp, npages, p)) {
			sb_buddy_free(p, func);
			return false;
		}
		note_slow(pcp, npages, 1);
		return true;
	}
	if (pcp->nbig == SB_PCP_BIG)
		drop_big(pcp, 0, func);		/* the oldest */
	make_room(pcp, npages, func);
	if (pcp->slow_pages + npages > SB_PCP_SLOW_MAX_PAGES) {
		sb_buddy_free(p, func);
		return false;
	}
	pcp->big[pcp->nbig].block = p;
	pcp->big[pcp->nbig].npages = npages;
	pcp->nbig++;
	pcp->slow_pages += npages;
	return true;
}

void sb_pcp_free_remote(struct sb_pcp *pcp, void *p, const char *func)
{
	pcp->remote[pcp->nremote++] = p;
	if (pcp->nremote == SB_PCP_REMOTE) {
		sb_buddy_free_batch(pcp->remote, SB_PCP_REMOTE, func);
		pcp->nremote = 0;
	}
}

void sb_pcp_drain(struct sb_pcp *pcp, const char *func)
{
	size_t n;

	if (pcp->nremote != 0)
		sb_buddy_free_batch(pcp->remote, pcp->nremote, func);
	pcp->nremote = 0;
	for (n = 1; n <= SB_PCP_MAX_PAGES; n++) {
		if (count_of(pcp, n) != 0)
			sb_buddy_free_batch(&pcp->slots[pcp->base[n]], count_of(pcp, n), func);
		pcp->top[n] = pcp->base[n];
	}
	while (pcp->nbig > 0)
		drop_big(pcp, pcp->nbig - 1, func);
	pcp->slow_pages = 0;
}

bool sb_pcp_holds(const struct sb_pcp *pcp, const void *p)
{
	size_t n;
	unsigned i, c;

	for (n = 1; n <= SB_PCP_MAX_PAGES; n++) {
		c = count_of(pcp, n);
		for (i = 0; i < c && i < sb_pcp_depth(n); i++)
			if (sb_read_once(pcp->slots[pcp->base[n] + i]) == p)
				return true;
	}
	c = sb_read_once(pcp->nbig);
	for (i = 0; i < c && i < SB_PCP_BIG; i++)
		if (sb_read_once(pcp->big[i].block) == p)
			return true;
	c = sb_read_once(pcp->nremote);
	for (i = 0; i < c && i < SB_PCP_REMOTE; i++)
		if (sb_read_once(pcp->remote[i]) == p)
			return true;
	return false;
}

size_t sb_pcp_pages(const struct sb_pcp *pcp)
{
	size_t n, pages = sb_read_once(pcp->slow_pages);
	unsigned i, c = sb_read_once(pcp->nremote);

	for (i = 0; i < c && i < SB_PCP_REMOTE; i++)
		pages += sb_page_block_pages(sb_page_of(sb_read_once(pcp->remote[i])));
	for (n = 1; n <= SB_PCP_FAST_PAGES; n++)
		pages += count_of(pcp, n) * n;
	return pages;
}

void sb_pcp_traffic(const struct sb_pcp *pcp, uint64_t *pops, uint64_t *pushes, uint64_t *bytes)
{
	size_t n;

	for (n = 1; n <= SB_PCP_FAST_PAGES; n++) {
		uint64_t k = sb_read_once(pcp->pops[n]);

		*pops += k;
		*bytes += k * (n << SB_PAGE_SHIFT);
		*pushes += sb_read_once(pcp->pushes[n]);
	}
}

/* p is an allocated block of npages. */
static bool block_valid(const void *p, uint32_t npages)
{
	const struct sb_page *pg = sb_page_of(p);

	return pg != NULL && sb_page_classify(pg, p) == SB_PTR_BLOCK &&
	       sb_page_block_pages(pg) == npages;
}

bool sb_pcp_validate(const struct sb_pcp *pcp)
{
	size_t n, slow = 0;
	unsigned i;

	for (n = 1; n <= SB_PCP_MAX_PAGES; n++) {
		if (pcp->top[n] < pcp->base[n] || pcp->top[n] > pcp->limit[n] ||
		    (unsigned)(pcp->limit[n] - pcp->base[n]) != sb_pcp_depth(n))
			return sb_invalid("pcp", "list out of its slots, pages", n);
		for (i = pcp->base[n]; i < pcp->top[n]; i++)
			if (!block_valid(pcp->slots[i], (uint32_t)n))
				return sb_invalid("pcp", "not an allocated block of its list's size",
						  (uintptr_t)pcp->slots[i]);
		if (n > SB_PCP_FAST_PAGES)
			slow += count_of(pcp, n) * n;
	}
	if (pcp->nbig > SB_PCP_BIG)
		return sb_invalid("pcp", "too many big blocks", pcp->nbig);
	for (i = 0; i < pcp->nbig; i++) {
		if (pcp->big[i].npages <= SB_PCP_MAX_PAGES ||
		    !block_valid(pcp->big[i].block, pcp->big[i].npages))
			return sb_invalid("pcp", "not an allocated big block of its size",
					  (uintptr_t)pcp->big[i].block);
		slow += pcp->big[i].npages;
	}
	if (pcp->nremote >= SB_PCP_REMOTE)
		return sb_invalid("pcp", "remote blocks beyond the buffer", pcp->nremote);
	for (i = 0; i < pcp->nremote; i++) {
		const struct sb_page *pg = sb_page_of(pcp->remote[i]);

		if (pg == NULL || sb_page_classify(pg, pcp->remote[i]) != SB_PTR_BLOCK)
			return sb_invalid("pcp", "remote block not an allocated block",
					  (uintptr_t)pcp->remote[i]);
	}
	if (slow != pcp->slow_pages || slow > SB_PCP_SLOW_MAX_PAGES)
		return sb_invalid("pcp", "page count of the slow lists wrong", pcp->slow_pages);
	return true;
}
