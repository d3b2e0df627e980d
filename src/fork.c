/*
 * fork.c - the locks of sbmalloc, their order, and fork.
 *
 * This comment is the one statement of the lock order; every other file
 * points here.  (libumem's "Big Theory Statement" is the model.)
 *
 * THE LOCKS, outermost first.  A thread holding one may take only locks
 * further down the table, and takes at most one lock of each row, except
 * where the row says otherwise.
 *
 *   lock            file        protects
 *   --------------  ----------  -----------------------------------------
 *   slot_lock       cache.c     dedicated cache bins; create and destroy
 *   tc_lock         tcache.c    the list of thread caches (a thread's own
 *                               cache needs no lock: only it touches it)
 *   depot lock      depot.c     one per cache: its lists of magazines;
 *                               dropped before objects go back to slabs
 *   slab lock       slab.c      one per cache: slabs, lists, bitmaps and
 *                               counters; dropped while a slab is built
 *   grow_lock       region.c    creating regions: the list of regions and
 *                               the registry's region entries
 *   zone lock       buddy.c     one per region: free lists, page
 *                               descriptors; never two at once
 *   huge_lock       huge.c      the list of huge blocks, the registry's
 *                               huge entries
 *   guard_lock      guard.c     the guarded slots and their FIFO
 *   meta_lock       meta.c      the metadata allocator (innermost)
 *
 *   init_lock       init.c      bring-up only: held while the first call
 *                               sets the layers up, before any of the above
 *
 * Nestings that occur: slot_lock -> tc_lock -> depot or slab
 * (sb_cache_destroy drains every thread's magazines); slab -> zone and
 * slab -> meta (a slab going back to the buddy allocator); slot_lock ->
 * meta (a new cache).  grow_lock is taken with no zone lock held, and the zone
 * lock of a new region only after grow_lock is dropped.  Lock-free state:
 * the registry (release/acquire), the list of regions (published by
 * count), the thread-local caches, the event counters (counters.c) and a
 * few relaxed atomics each file names at its top (dirty totals, the purge
 * epoch, mapped bytes, hugetlb back-off).  No lock is ever held across a
 * call into user code except a destructor, which runs with its cache's
 * slab lock held (sbmalloc.h says so).
 *
 * FORK.  prepare takes every lock above, in the order of the table (each
 * row in its file's list order: caches newest first, zones in creation
 * order); the parent releases them in reverse.  So does the child, whose
 * only thread is the one that took them, after one repair: it replaces
 * hugetlb memory by ordinary pages holding the same data (buddy.c,
 * huge.c), since a MAP_PRIVATE hugetlb page shared with the parent is
 * copied on write from a pool that may be empty (SIGBUS).  The caches of
 * the threads that do not exist in the child stay as they are (tcache.c).  The counters,
 * being lock-free, need nothing.
 *
 * fork.c is an orchestration point: it calls every layer.
 */
#include "fork.h"
#include "buddy.h"
#include "cache.h"
#include "guard.h"
#include "huge.h"
#include "init.h"
#include "meta.h"
#include "region.h"
#include "tcache.h"

void sb_fork_prepare(void)
{
	sb_ensure_init();
	sb_cache_slots_fork_prepare();
	sb_tc_fork_prepare();
	sb_cache_fork_prepare();
	sb_region_fork_prepare();
	sb_buddy_fork_prepare();
	sb_huge_fork_prepare();
	sb_guard_fork_prepare();
	sb_meta_fork_prepare();
}

void sb_fork_parent(void)
{
	sb_meta_fork_parent();
	sb_guard_fork_parent();
	sb_huge_fork_parent();
	sb_buddy_fork_parent();
	sb_region_fork_parent();
	sb_cache_fork_parent();
	sb_tc_fork_parent();
	sb_cache_slots_fork_parent();
}

void sb_fork_child(void)
{
	sb_meta_fork_child();
	sb_guard_fork_child();
	sb_huge_fork_child();
	sb_buddy_fork_child();
	sb_region_fork_child();
	sb_cache_fork_child();
	sb_tc_fork_child();
	sb_cache_slots_fork_child();
}
