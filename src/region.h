/*
 * region.h - regions: the heap's stand-in for physical memory (region.c).
 *
 * A region is SB_REGION_SIZE (32 MiB) of memory aligned to its size, with
 * the backing os.c chose for it.  The buddy allocator's zone descriptor
 * embeds a struct sb_region as its first member and asks region.c to map
 * it; region.c writes the fields below and nothing else, and keeps every
 * region in creation order.
 */
#ifndef SB_REGION_H
#define SB_REGION_H

#include "common.h"
#include "os.h"

#pragma GCC visibility push(hidden)

struct sb_region {
	char *base;			/* SB_REGION_SIZE aligned */
	unsigned index;			/* creation order, 0.. */
	enum sb_backing backing;
};

/*
 * Map a region into r, register it and append it to the list of regions;
 * false when the OS refuses.  Takes grow_lock.  For buddy.c only: every
 * region on the list is the first member of a zone (struct sb_zone), which
 * the buddy allocator, its fork handlers and the statistics rely on.
 */
bool sb_region_map(struct sb_region *r);

/* Regions in creation order; the list only grows (published by count). */
size_t sb_region_count(void);
struct sb_region *sb_region_at(size_t i);

/* In a forked child: give r ordinary pages instead of hugetlb ones,
 * copying only the pages marked in used (SB_REGION_PAGES bits).  If the OS
 * refuses, r keeps its hugetlb pages and its backing says so. */
void sb_region_leave_hugetlb(struct sb_region *r, const uint64_t *used);

struct sb_region_counters {
	size_t regions;
	size_t region_bytes;
	size_t hugetlb_regions, thp_regions;
};
void sb_region_counters(struct sb_region_counters *out);

/* Fork: grow_lock (fork.c). */
void sb_region_fork_prepare(void);
void sb_region_fork_parent(void);
void sb_region_fork_child(void);

#pragma GCC visibility pop

#endif /* SB_REGION_H */
