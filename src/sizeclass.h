/*
 * sizeclass.h - the small size classes and the free path's class table
 * (sizeclass.c, which alone writes both tables).
 *
 * 16, 32, 48, 64, then four classes per doubling up to 16 KiB: no request
 * above 64 bytes is rounded up by more than 25%.
 */
#ifndef SB_SIZECLASS_H
#define SB_SIZECLASS_H

#include "common.h"
#include "buddy.h"
#include "slab.h"

#pragma GCC visibility push(hidden)

#define SB_CLASS_LOOKUP_MAX SB_SMALL_MAX

/* (size + 15) / 16 -> the class's bin << SB_BIN_SHIFT: the malloc fast
 * path's offset into a thread's bins. */
extern uint16_t sb_class_lookup[SB_CLASS_LOOKUP_MAX / 16 + 1];

/*
 * What the realloc fast path needs of a bin, derived from the slab geometry
 * of its class.  Indexed by a SLAB page's bin: entries past the size
 * classes (dedicated caches, SB_NO_BIN) have span 0, so realloc sends them
 * to the slow path without a test of its own.  (The free fast path reads
 * the slab descriptor instead: slab.h, sb_slab_fast_object.)
 */
struct sb_class_info {
	uint32_t size;
	uint32_t span;			/* objs_per_slab * size */
	uint32_t recip;			/* 2^32 / size + 1 */
	uint32_t keep_min;		/* realloc keeps the object for keep_min..size */
	uint32_t unused[4];
};
extern struct sb_class_info sb_class_info[256];

void sb_sizeclass_init(void);
/* The class of size computed without the table (the table is built from it). */
unsigned sb_size_class_slow(size_t size);

/* The class serving size (size <= SB_SMALL_MAX). */
static inline unsigned sb_size_class(size_t size)
{
	return sb_class_lookup[(size + 15) >> 4] >> SB_BIN_SHIFT;
}

/* The size of class cls: what its objects hold (without a red zone). */
uint32_t sb_class_size(unsigned cls);

/* The alignment every object of class cls has. */
uint32_t sb_class_align(unsigned cls);

/*
 * If p, on the SLAB page pg, is the start of an object of a size class,
 * its class's entry, else NULL (dedicated caches have span 0).  One
 * multiply by the class's reciprocal (sb_object_index).
 */
static inline const struct sb_class_info *sb_class_object(const struct sb_page *pg, const void *p)
{
	const struct sb_class_info *ci = &sb_class_info[sb_page_bin(pg)];
	uint32_t idx;

	if (sb_unlikely(!sb_object_index((uintptr_t)p - (uintptr_t)sb_slab_objs(sb_page_slab(pg)),
					 ci->size, ci->recip, ci->span, &idx)))
		return NULL;
	return ci;
}

#pragma GCC visibility pop

#endif /* SB_SIZECLASS_H */
