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
 * Every size maps to its class through a 1 KiB table indexed by
 * (size + 15) / 16, filled once at initialisation from the position of the
 * size's top bit; afterwards it is read-only.
 */
#include "internal.h"

uint8_t sb_class_lookup[SB_CLASS_LOOKUP_MAX / 16 + 1];
uint32_t sb_class_size[SB_NR_CLASSES];
unsigned sb_nr_classes;

unsigned sb_size_class_slow(size_t size)
{
	unsigned k;

	if (size <= 64)
		return size <= 16 ? 0 : (unsigned)((size - 1) >> 4);
	k = sb_floor_log2(size - 1);
	return 4 + (k - 6) * 4 + (unsigned)((size - 1 - ((size_t)1 << k)) >> (k - 2));
}

void sb_sizeclass_init(void)
{
	unsigned n = 0, k, i;
	size_t s;

	for (s = 16; s <= 64; s += 16)
		sb_class_size[n++] = (uint32_t)s;
	for (k = 6; ((size_t)1 << k) < SB_SMALL_MAX; k++)
		for (i = 1; i <= 4; i++)
			sb_class_size[n++] = (uint32_t)(((size_t)1 << k) + i * ((size_t)1 << (k - 2)));
	SB_ASSERT(n == SB_NR_CLASSES);
	sb_nr_classes = n;
	for (i = 0; i <= SB_CLASS_LOOKUP_MAX / 16; i++)
		sb_class_lookup[i] = (uint8_t)sb_size_class_slow(i ? (size_t)i * 16 : 1);
}
