/*
 * region.c - regions of address space, the user-space stand-in for the
 * kernel's physical memory.
 *
 * A region is reserved aligned to its size and committed with the backing
 * os.c chooses (the first region never gets huge pages on its own: a small
 * program's few pages of heap would become 2 MiB of resident memory).  Its
 * descriptor belongs to the caller (the buddy allocator's zone, which
 * embeds it); this file fills in base, index and backing, enters the region
 * in the registry and appends it to the list of regions, which only grows:
 * regions are never unmapped.
 *
 * Lock: grow_lock serialises region creation (the list and the registry's
 * region entries).  Readers of the list load the count with acquire
 * ordering and need no lock.  Lock order: fork.c.
 */
#include "region.h"
#include "registry.h"

#include <pthread.h>

#define SB_MAX_REGIONS 65536		/* 2 TiB of regions */

static pthread_mutex_t grow_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sb_region *region_table[SB_MAX_REGIONS];
static size_t nr_regions;		/* published with release ordering */
static size_t hugetlb_regions, thp_regions;

bool sb_region_map(struct sb_region *r)
{
	enum sb_backing backing;
	bool ok = false;
	unsigned i;
	char *base;

	pthread_mutex_lock(&grow_lock);
	if (nr_regions == SB_MAX_REGIONS)
		goto out;
	for (i = 0;; i++) {
		base = sb_os_reserve_aligned(SB_REGION_SIZE, SB_REGION_SIZE);
		if (base != NULL && sb_os_commit(base, SB_REGION_SIZE,
						 nr_regions ? SB_OS_REGION : SB_OS_FIRST_REGION, &backing))
			break;
		if (base == NULL || i == 3)
			goto out;
	}
	r->base = base;
	r->index = (unsigned)nr_regions;
	r->backing = backing;
	if (backing == SB_BACKING_HUGETLB)
		sb_write_once(hugetlb_regions, hugetlb_regions + 1);
	else if (backing == SB_BACKING_THP)
		sb_write_once(thp_regions, thp_regions + 1);
	sb_registry_set_region(base, r);
	region_table[nr_regions] = r;
	__atomic_store_n(&nr_regions, nr_regions + 1, __ATOMIC_RELEASE);
	sb_os_note_mapped((long)SB_REGION_SIZE);
	ok = true;
out:
	pthread_mutex_unlock(&grow_lock);
	return ok;
}

size_t sb_region_count(void)
{
	return __atomic_load_n(&nr_regions, __ATOMIC_ACQUIRE);
}

struct sb_region *sb_region_at(size_t i)
{
	SB_ASSERT(i < sb_region_count());
	return region_table[i];
}

void sb_region_leave_hugetlb(struct sb_region *r, const uint64_t *used)
{
	if (r->backing != SB_BACKING_HUGETLB || !sb_os_rebase_to_4k(r->base, SB_REGION_SIZE, used))
		return;
	r->backing = SB_BACKING_4K;
	hugetlb_regions--;
}

void sb_region_counters(struct sb_region_counters *out)
{
	out->regions = sb_region_count();
	out->region_bytes = out->regions * SB_REGION_SIZE;
	out->hugetlb_regions = sb_read_once(hugetlb_regions);
	out->thp_regions = sb_read_once(thp_regions);
}

void sb_region_fork_prepare(void)
{
	pthread_mutex_lock(&grow_lock);
}

void sb_region_fork_parent(void)
{
	pthread_mutex_unlock(&grow_lock);
}

void sb_region_fork_child(void)
{
	pthread_mutex_unlock(&grow_lock);
}
