/*
 * stats.c - what the heap holds, summed over the layers.
 *
 * Counts are read under each layer's own lock, one lock at a time, so a
 * sum taken while other threads allocate is a consistent-enough snapshot,
 * never a deadlock.  Objects in magazines and depots count as free.
 * mallinfo2() is built on sb_heap_usage().
 */
#include "internal.h"

#include <string.h>

void sb_heap_usage(struct sb_heap_usage *u)
{
	struct sb_region_counters rc;
	struct sb_cache *c;
	size_t i, n, slab_pages = 0, slab_obj_bytes = 0, slab_free_bytes = 0;
	size_t buddy_used = 0, buddy_free = 0, dirty = 0, cached_objs, cached_pages;

	memset(u, 0, sizeof(*u));
	sb_region_counters(&rc);
	for (c = sb_cache_list(); c != NULL; c = c->next) {
		size_t slabs;

		pthread_mutex_lock(&c->lock);
		slabs = (size_t)(c->slabs_created - c->slabs_destroyed);
		slab_pages += slabs * c->pages_per_slab;
		slab_obj_bytes += c->active_objs * c->size;
		slab_free_bytes += (slabs * c->objs_per_slab - c->active_objs) * c->size;
		pthread_mutex_unlock(&c->lock);
	}
	n = sb_region_count();
	for (i = 0; i < n; i++) {
		struct sb_buddy_counters bc;

		sb_buddy_counters(sb_regions[i], &bc);
		buddy_used += bc.used_pages;
		buddy_free += bc.free_pages;
		dirty += bc.dirty_pages;
	}
	u->mapped = rc.region_bytes + rc.huge_bytes;
	u->huge_count = rc.huge_count;
	u->huge_bytes = rc.huge_bytes;
	sb_mag_cached(&cached_objs, &cached_pages);
	u->in_use = slab_obj_bytes + rc.huge_bytes +
		    ((buddy_used > slab_pages ? buddy_used - slab_pages : 0) << SB_PAGE_SHIFT);
	u->cached = cached_objs + cached_pages;
	u->in_use = u->in_use > u->cached ? u->in_use - u->cached : 0;
	u->free = (buddy_free << SB_PAGE_SHIFT) + slab_free_bytes + u->cached;
	u->dirty = dirty << SB_PAGE_SHIFT;
}
