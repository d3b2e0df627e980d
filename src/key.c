/*
 * key.c - the free key's value: eight bytes of getrandom(2) (not the
 * AT_RANDOM bytes, which also make glibc's stack canary and pointer guard:
 * the key is readable in freed memory), mixed with the address of the
 * stack and the time.  The mark is never a
 * likely upper half of data: its top bits are 10 (not a pointer's 0x0000
 * or a small negative number's 0xffff, nor most doubles').  Written once, at bring-up (init.c), before any
 * object exists; read everywhere.  A forked child keeps its parent's key,
 * as it keeps its objects.
 */
#include "key.h"

#include <sys/random.h>
#include <time.h>

struct sb_free_key sb_free_key;

static uint64_t mix(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

void sb_key_init(void)
{
	uint64_t k = (uint64_t)(uintptr_t)&k, r = 0;
	struct timespec ts;

	if (sb_free_key.mark != 0)
		return;
	if (getrandom(&r, sizeof(r), GRND_NONBLOCK) == (ssize_t)sizeof(r))
		k ^= r;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	k = mix(k ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32));
	sb_free_key.fresh = (uint32_t)k;
	sb_free_key.mark = (uint32_t)(k >> 32 & 0x3fffffff) | 0x80000000u;
}
