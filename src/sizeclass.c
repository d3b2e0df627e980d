/*
 * sizeclass.c - the small size classes served by slab caches.
 *
 * 16, 32, 48, 64, then four classes per doubling: 80 96 112 128, 160 192
 * 224 256, ... up to 16 KiB, 36 classes in all.  A request just above a
 * power of two 2^k is rounded up by at most 2^k/4 - 1 bytes, so no request
 * above 64 bytes wastes more than 25% (the kernel's power-of-two kmalloc
 * caches waste up to 50%).  Above 16 KiB requests are served in whole pages
 * by the buddy allocator, where rounding wastes less than 4 KiB, again
 * under 25%.
 *
 * Every size maps to its class through a 2 KiB table indexed by
 * (size + 15) / 16, filled once at bring-up from the position of the
 * size's top bit.  The class table for the free path (sb_class_info) is
 * derived here from the same slab geometry the class's cache uses
 * (sb_slab_geometry), so the two cannot disagree.  Both tables are written
 * at bring-up only, then read-only.
 */
#include "sizeclass.h"
#include "config.h"

uint16_t sb_class_lookup[SB_CLASS_LOOKUP_MAX / 16 + 1];
struct sb_class_info sb_class_info[256];
static uint32_t class_align[SB_NR_CLASSES];
static uint32_t class_size[SB_NR_CLASSES];

unsigned sb_size_class_slow(size_t size)
{
	unsigned k;

	if (size <= 64)
		return size <= 16 ? 0 : (unsigned)((size - 1) >> 4);
	k = sb_floor_log2(size - 1);
	return 4 + (k - 6) * 4 + (unsigned)((size - 1 - ((size_t)1 << k)) >> (k - 2));
}

static void set_class(unsigned cls, size_t size)
{
	struct sb_slab_geometry g;

	sb_slab_geometry(sb_slab_stride_for(size), 0, &g);
	sb_class_info[cls].size = g.size;
	/* SBMALLOC_CHECK: span 0 sends every free and realloc to the slow
	 * paths, where red zones and tracks are checked. */
	sb_class_info[cls].span = sb_config.check ? 0 : (uint32_t)g.objs_per_slab * g.size;
	sb_class_info[cls].recip = g.recip;
	sb_class_info[cls].keep_min = g.size / 2;
	class_align[cls] = g.align;
	class_size[cls] = (uint32_t)size;
}

void sb_sizeclass_init(void)
{
	unsigned n = 0, k, i;
	size_t s;

	for (i = 0; i < sizeof(sb_class_info) / sizeof(sb_class_info[0]); i++)
		sb_class_info[i].keep_min = UINT32_MAX;	/* no resize in place but a class's */
	for (s = 16; s <= 64; s += 16)
		set_class(n++, s);
	for (k = 6; ((size_t)1 << k) < SB_SMALL_MAX; k++)
		for (i = 1; i <= 4; i++)
			set_class(n++, ((size_t)1 << k) + i * ((size_t)1 << (k - 2)));
	SB_ASSERT(n == SB_NR_CLASSES);
	for (i = 0; i <= SB_CLASS_LOOKUP_MAX / 16; i++)
		sb_class_lookup[i] = (uint16_t)(sb_size_class_slow(i ? (size_t)i * 16 : 1)
						<< SB_BIN_SHIFT);
}

uint32_t sb_class_size(unsigned cls)
{
	SB_ASSERT(cls < SB_NR_CLASSES);
	return class_size[cls];
}

uint32_t sb_class_align(unsigned cls)
{
	SB_ASSERT(cls < SB_NR_CLASSES);
	return class_align[cls];
}
