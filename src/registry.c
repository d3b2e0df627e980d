/*
 * registry.c - the tables that map an address to the mapping owning it.
 *
 * See registry.h.  Writers are serialised by their callers: region.c's
 * grow_lock for regions, huge.c's huge_lock for huge blocks; the two never
 * write the same slot (a slot's address space belongs to one mapping).
 */
#include "registry.h"

struct sb_region *sb_region_registry[SB_REGISTRY_ENTRIES];
struct sb_huge *sb_huge_registry[SB_REGISTRY_ENTRIES];

void sb_registry_set_region(const char *base, struct sb_region *r)
{
	uintptr_t i = (uintptr_t)base >> SB_REGION_SHIFT;

	SB_ASSERT(((uintptr_t)base & SB_REGION_MASK) == 0 && i < SB_REGISTRY_ENTRIES);
	__atomic_store_n(&sb_region_registry[i], r, __ATOMIC_RELEASE);
}

void sb_registry_bury_huge(const char *base, size_t len)
{
	sb_registry_set_huge(base, len, (struct sb_huge *)((uintptr_t)base | 1));
}

void sb_registry_set_huge(const char *base, size_t len, struct sb_huge *h)
{
	uintptr_t i = (uintptr_t)base >> SB_REGION_SHIFT;
	uintptr_t end = ((uintptr_t)base + len + SB_REGION_MASK) >> SB_REGION_SHIFT;

	SB_ASSERT(((uintptr_t)base & SB_REGION_MASK) == 0 && end <= SB_REGISTRY_ENTRIES);
	for (; i < end; i++)
		__atomic_store_n(&sb_huge_registry[i], h, __ATOMIC_RELEASE);
}
