/*
 * registry.h - which mapping owns an address (registry.c).
 *
 * One entry per 32 MiB of user address space: the region that owns that
 * range, or NULL; and, in a second table, the huge block that owns it, or
 * NULL.  Two flat arrays of 2^22 pointers in zero-filled .bss that cost
 * memory only where written; the free path reads them at a link-time
 * address.  Deciding whether a pointer is ours reads the registry only,
 * never the pointer's memory.
 *
 * Entries are written (release) by registry.c only, before the memory is
 * handed out, and cleared before it is unmapped.  Region entries are read
 * relaxed on the free fast path: a thread frees only pointers it got,
 * through some synchronisation, after the entry was written.  Huge entries
 * are read with acquire ordering, for the descriptor they point at.
 */
#ifndef SB_REGISTRY_H
#define SB_REGISTRY_H

#include "common.h"

#pragma GCC visibility push(hidden)

#define SB_REGISTRY_ENTRIES ((size_t)1 << (SB_ADDR_BITS - SB_REGION_SHIFT))

struct sb_region;
struct sb_huge;

extern struct sb_region *sb_region_registry[SB_REGISTRY_ENTRIES];
extern struct sb_huge *sb_huge_registry[SB_REGISTRY_ENTRIES];

/* The region holding addr, or NULL.  Never touches addr. */
static inline struct sb_region *sb_registry_region(const void *addr)
{
	uintptr_t i = (uintptr_t)addr >> SB_REGION_SHIFT;

	if (sb_unlikely(i >= SB_REGISTRY_ENTRIES))
		return NULL;
	return __atomic_load_n(&sb_region_registry[i], __ATOMIC_RELAXED);
}

/*
 * A huge entry is a block, NULL, or a tombstone: the base address of a
 * block that was freed there, with the low bit set, kept until the address
 * space is used again, so that a second free of it says "double free".
 */
static inline bool sb_registry_is_tombstone(const struct sb_huge *h)
{
	return ((uintptr_t)h & 1) != 0;
}

/* The huge block whose address space holds addr, or NULL. */
static inline struct sb_huge *sb_registry_huge(const void *addr)
{
	uintptr_t i = (uintptr_t)addr >> SB_REGION_SHIFT;
	struct sb_huge *h;

	if (i >= SB_REGISTRY_ENTRIES)
		return NULL;
	h = __atomic_load_n(&sb_huge_registry[i], __ATOMIC_ACQUIRE);
	return sb_registry_is_tombstone(h) ? NULL : h;
}

/* Was addr the base of a huge block that was freed (and is not reused)? */
static inline bool sb_registry_freed_huge(const void *addr)
{
	uintptr_t i = (uintptr_t)addr >> SB_REGION_SHIFT;
	struct sb_huge *h;

	if (i >= SB_REGISTRY_ENTRIES)
		return false;
	h = __atomic_load_n(&sb_huge_registry[i], __ATOMIC_ACQUIRE);
	return sb_registry_is_tombstone(h) && (uintptr_t)h - 1 == (uintptr_t)addr;
}

/* Enter r (NULL: clear) for the region at base. */
void sb_registry_set_region(const char *base, struct sb_region *r);
/* Enter h (NULL: clear) for every slot of [base, base+len). */
void sb_registry_set_huge(const char *base, size_t len, struct sb_huge *h);
/* The huge block at base, len bytes, was freed: tombstones in its slots. */
void sb_registry_bury_huge(const char *base, size_t len);

#pragma GCC visibility pop

#endif /* SB_REGISTRY_H */
