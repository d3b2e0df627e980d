/*
 * reclaim.c - orchestration: memory back from every layer at once.
 *
 * An orchestration point: it calls down into the thread caches, the
 * depots, the slab caches and the buddy allocator, in that order (each
 * step hands memory to the next), and the slab layer calls up into it when
 * memory runs out, as the kernel's page allocator calls its shrinkers.
 * It holds no lock of its own; each step takes its layer's locks (order:
 * fork.c).  The slab reclaim uses trylock, so that a constructor or
 * destructor that allocates, running with its cache locked, skips that
 * cache instead of deadlocking.
 */
#include "reclaim.h"
#include "buddy.h"
#include "cache.h"
#include "depot.h"
#include "huge.h"
#include "slab.h"
#include "tcache.h"

size_t sb_reclaim_slabs(void)
{
	struct sb_cache *c;
	size_t bytes = 0;

	for (c = sb_cache_first(); c != NULL; c = sb_cache_next(c))
		bytes += sb_slab_reclaim(sb_cache_slab(c));
	return bytes;
}

size_t sb_trim(void)
{
	struct sb_cache *c;

	sb_tc_flush("malloc_trim");
	for (c = sb_cache_first(); c != NULL; c = sb_cache_next(c))
		sb_depot_reap(sb_cache_depot(c), true, "malloc_trim");
	return sb_reclaim_slabs() + sb_buddy_trim() + sb_huge_trim();
}
