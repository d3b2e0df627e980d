/*
 * large.c - large buffers replaced at random, after mimalloc-bench's
 * malloc-large (a loop that replaces one of 20 buffers of 5 to 25 MiB,
 * picked at random, by a new zeroed one).
 *
 *   large [SCALE] [SLOTS] [MIN_MIB] [MAX_MIB]
 *
 * SLOTS buffers (default 8) live at a time.  Each of SCALE * 10 iterations
 * picks a slot at random, verifies and frees the buffer in it (if any) and
 * allocates a new one of a uniformly random size of MIN_MIB to MAX_MIB MiB
 * (default 5 to 25, not a multiple of the page size), whose every 4 KiB page
 * it writes (touch_pages in common.h: one word per page, not a memset, so
 * what is measured is the allocator and the page faults it causes, not the
 * memory bandwidth).  Before a buffer is freed its first and last page and
 * 32 others are checked.  An allocator that returns every freed buffer to
 * the kernel pays all the page faults again at the next one; one that keeps
 * them pays in peak RSS.  Single-threaded; the sizes come from a fixed seed.
 *
 * Prints: large iterations=N slots=S seconds=X check=HEX
 */
#include "common.h"

typedef struct {
	char *p;
	size_t size;
	uint64_t tag;
} buf_t;

int main(int argc, char **argv)
{
	long iterations, i;
	int nslots, k;
	size_t min_size, max_size;
	buf_t *slots;
	rng_t r;
	uint64_t check = 0;
	double t0, t1;

	iterations = arg_long(argc, argv, 1, 10) * 10;
	nslots = (int)arg_long(argc, argv, 2, 8);
	min_size = (size_t)arg_long(argc, argv, 3, 5) << 20;
	max_size = (size_t)arg_long(argc, argv, 4, 25) << 20;
	if (max_size < min_size || max_size - min_size >= UINT32_MAX)
		die("large: need MIN_MIB <= MAX_MIB < MIN_MIB + 4096");

	slots = calloc((size_t)nslots, sizeof *slots);
	if (slots == NULL)
		die("large: out of memory");
	rng_seed(&r, 42);
	t0 = now_sec();
	for (i = 0; i < iterations; i++) {
		buf_t *b = &slots[rng_below(&r, (uint32_t)nslots)];

		if (b->p) {
			check_pages("large", b->p, b->size, b->tag, 32);
			check += b->tag ^ b->size;
			free(b->p);
		}
		b->size = min_size + rng_below(&r, (uint32_t)(max_size - min_size + 1));
		b->tag = splitmix64((uint64_t)i);
		b->p = xmalloc(b->size);
		touch_pages(b->p, b->size, b->tag);
	}
	for (k = 0; k < nslots; k++) {
		buf_t *b = &slots[k];

		if (b->p) {
			check_pages("large (final)", b->p, b->size, b->tag, 32);
			check += b->tag ^ b->size;
			free(b->p);
		}
	}
	t1 = now_sec();
	printf("large iterations=%ld slots=%d seconds=%.3f check=%016" PRIx64 "\n",
	       iterations, nslots, t1 - t0, check);
	free(slots);
	return 0;
}
