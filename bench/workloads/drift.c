/*
 * drift.c - a live set whose object sizes drift up and down: every other
 * object freed and the holes refilled with objects of the next size.
 *
 *   drift [LIVE_MIB] [TRIPS] [STEPS]
 *
 * The live set is kept at about LIVE_MIB MiB (default 32) of objects in a
 * list, in allocation order.  The sizes drift from 16 bytes to 8 KiB and
 * back TRIPS times (default 3), STEPS size steps (default 2) per doubling:
 * in an epoch the new objects are of uniform sizes in [s, s * 2^(1/STEPS)],
 * s = 16 * 2^(level/STEPS), the level climbing from 0 to 9 * STEPS - 1 (the
 * sizes up to 8 KiB) and back.  Each epoch frees every other object of the list (verified
 * first), which leaves the survivors, old and new, scattered with holes of
 * the sizes just freed between them, and refills the live set to LIVE_MIB
 * with objects of the epoch's size.  Every byte of every object is written.
 * An allocator that cannot reuse the holes for the next sizes, or give the
 * pages of its emptied slabs back, grows: peak RSS over peak live bytes.
 *
 * The list (16 bytes per object) is mmapped by the program itself; its
 * resident high-water mark (table_kib) is taken off the peak RSS in
 * rss_per_live, which is (peak_rss_kib - table_kib) / peak_live_kib.  The
 * bar of issue 12 is 3.0.  Single-threaded, fixed seed.
 *
 * Prints: drift epochs=E objects=N peak_live_kib=L peak_rss_kib=R
 *         table_kib=T rss_per_live=X check=HEX
 */
#include "common.h"

#include <math.h>
#include <sys/mman.h>

typedef struct {
	void *p;
	uint32_t size, serial;	/* the tag is tag_of(serial) */
} obj_t;

static obj_t *list;
static size_t n, hw, live, peak_live, cap;
static uint32_t serial;
static uint64_t check;

static uint64_t tag_of(uint32_t s)
{
	return splitmix64(0xd71f7000ULL ^ s);
}

static void add(rng_t *r, size_t lo, size_t hi)
{
	obj_t *o;

	if (n == cap)
		die("drift: the list is full");
	o = &list[n++];
	o->size = (uint32_t)(lo + rng_below(r, (uint32_t)(hi - lo + 1)));
	o->serial = serial++;
	o->p = xmalloc(o->size);
	fill(o->p, o->size, tag_of(o->serial));
	live += o->size;
	if (n > hw)
		hw = n;
}

static void drop(obj_t *o)
{
	check_obj("drift", o->p, o->size, tag_of(o->serial));
	check += tag_of(o->serial) ^ o->size;
	free(o->p);
	live -= o->size;
}

int main(int argc, char **argv)
{
	size_t target = (size_t)arg_long(argc, argv, 1, 32) << 20;
	long trips = arg_long(argc, argv, 2, 3);
	long steps = arg_long(argc, argv, 3, 2);
	long top = 9 * steps - 1, epochs = 2 * top * trips + 1, e;
	long table_kib, rss;
	size_t i, j;
	rng_t r;

	cap = target / 16 + 2;
	list = mmap(NULL, cap * sizeof *list, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (list == MAP_FAILED)
		die("drift: mmap of the list: %s", strerror(errno));
	rng_seed(&r, 7);
	for (e = 0; e < epochs; e++) {
		/* Up from 0 to top, down to 0, TRIPS times. */
		long k = e % (2 * top), level = k <= top ? k : 2 * top - k;
		size_t lo = (size_t)(16.0 * pow(2.0, (double)level / (double)steps));
		size_t hi = (size_t)(16.0 * pow(2.0, (double)(level + 1) / (double)steps));

		if (e > 0) {
			for (i = 1; i < n; i += 2)
				drop(&list[i]);
			for (i = 0, j = 0; i < n; i += 2)
				list[j++] = list[i];
			n = j;
		}
		while (live < target)
			add(&r, lo, hi);
		if (live > peak_live)
			peak_live = live;
	}
	for (i = 0; i < n; i++)
		drop(&list[i]);
	rss = peak_rss_kib();
	table_kib = (long)((hw * sizeof *list + 4095) / 4096 * 4);
	printf("drift epochs=%ld objects=%" PRIu32 " peak_live_kib=%zu peak_rss_kib=%ld table_kib=%ld "
	       "rss_per_live=%.2f check=%016" PRIx64 "\n",
	       epochs, serial, peak_live >> 10, rss, table_kib,
	       (double)(rss - table_kib) / (double)(peak_live >> 10), check);
	return 0;
}
