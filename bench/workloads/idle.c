/*
 * idle.c - what stays resident after a big free, once the program idles.
 *
 *   idle [MIB] [SLEEP_S]
 *
 * Allocates MIB MiB (default 1024) of small objects, 60% of them 8-512
 * bytes and the rest 513 bytes-16 KiB (uniform in each range), every byte
 * filled; then verifies and frees them all in random order, sleeps SLEEP_S
 * seconds (default 2), and makes one more malloc/free of 64 bytes (so that
 * an allocator that purges on its allocation path gets the chance to).
 * Then it reads its resident set from /proc/self/statm.  Nothing is live
 * any more: what is resident above the start is what the allocator kept
 * (the kernel would give back nearly everything).  The program's own table
 * of the objects is mmapped and unmapped before the measurement, so it does
 * not count.  Single-threaded, fixed seed.
 *
 * Prints: idle objects=N bytes_mib=M rss_start_kib=S rss_full_kib=F
 *         rss_idle_kib=I idle_above_start_kib=D check=HEX
 * (D = I - S, the figure of the idle row: at most 32 MiB is the bar of
 * issue 12.)
 */
#include "common.h"

#include <sys/mman.h>

typedef struct {
	void *p;
	uint32_t size, index;	/* the tag is tag_of(index) */
} obj_t;

static uint64_t tag_of(size_t i)
{
	return splitmix64(0x1d1e0000ULL + i);
}

int main(int argc, char **argv)
{
	size_t budget = (size_t)arg_long(argc, argv, 1, 1024) << 20;
	long sleep_s = arg_long(argc, argv, 2, 2);
	/* At least 8 bytes per object: a bound on how many there can be. */
	size_t cap = budget / 8 + 1, n = 0, bytes = 0, i, table;
	long rss_start, rss_full, rss_idle;
	uint64_t check = 0;
	obj_t *objs;
	rng_t r;
	void *p;

	rss_start = rss_now_kib();
	table = cap * sizeof *objs;
	objs = mmap(NULL, table, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (objs == MAP_FAILED)
		die("idle: mmap of the object table: %s", strerror(errno));
	rng_seed(&r, 12);
	while (bytes < budget) {
		size_t size = rng_below(&r, 100) < 60 ? 8 + rng_below(&r, 505)
						      : 513 + rng_below(&r, 16384 - 512);

		objs[n].size = (uint32_t)size;
		objs[n].index = (uint32_t)n;
		objs[n].p = xmalloc(size);
		fill(objs[n].p, size, tag_of(n));
		bytes += size;
		n++;
	}
	rss_full = rss_now_kib();
	/* Random order: shuffle the table. */
	for (i = n - 1; i > 0; i--) {
		size_t j = rng_below(&r, (uint32_t)(i + 1));
		obj_t t = objs[i];

		objs[i] = objs[j];
		objs[j] = t;
	}
	for (i = 0; i < n; i++) {
		uint64_t tag = tag_of(objs[i].index);

		check_obj("idle", objs[i].p, objs[i].size, tag);
		check += tag ^ objs[i].size;
		free(objs[i].p);
	}
	munmap(objs, table);
	sleep((unsigned)sleep_s);
	p = xmalloc(64);
	fill(p, 64, 1);
	KEEP(p);
	free(p);
	rss_idle = rss_now_kib();
	if (rss_start < 0 || rss_idle < 0)
		die("idle: cannot read /proc/self/statm");
	printf("idle objects=%zu bytes_mib=%zu rss_start_kib=%ld rss_full_kib=%ld rss_idle_kib=%ld "
	       "idle_above_start_kib=%ld check=%016" PRIx64 "\n",
	       n, bytes >> 20, rss_start, rss_full, rss_idle, rss_idle - rss_start, check);
	return 0;
}
