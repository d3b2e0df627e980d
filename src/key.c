/*
 * key.c - the free key's value: eight bytes of getrandom(2) (not the
 * AT_RANDOM bytes, which also make glibc's stack canary and pointer guard:
 * the key is readable in freed memory), mixed with the address of the
 * stack and the time, for the fresh word's first half; the mark is the
 * constant SB_FREE_MARK (key.h says why).  Written once, at bring-up
 * (init.c), before any
 * object exists; read everywhere.  A forked child keeps its parent's key,
 * as it keeps its objects.
 */
#include "key.h"

#include <sys/random.h>
#include <time.h>

struct sb_free_key sb_free_key;
static bool key_ready;

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

	if (key_ready)
		return;
	if (getrandom(&r, sizeof(r), GRND_NONBLOCK) == (ssize_t)sizeof(r))
		k ^= r;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	k = mix(k ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32));
	sb_free_key.fresh = (uint32_t)k;
	key_ready = true;
}
