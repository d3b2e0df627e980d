/*
 * frag.c - fragmentation churn: long-lived and short-lived objects mixed.
 *
 *   frag [PHASES] [BUDGET_MIB] [LONG_SLOTS]
 *
 * The program runs PHASES phases (default 12); each phase uses one size
 * range, cycling through 16-128, 128-1024, 1-8 KiB, 8-64 KiB, 64-512 and
 * 256-4096 bytes.  In a phase, a set of short-lived objects of about
 * BUDGET_MIB MiB (default 48) is churned: each allocation replaces a random
 * member (which is verified and freed), four times the set's size in all.
 * One allocation in 16 instead replaces a random member of a pool of
 * LONG_SLOTS (default 50000) long-lived objects, which outlive the phase.
 * At the end of a phase every short-lived object is freed.
 *
 * So the long-lived objects end up scattered over memory that held
 * short-lived ones of other sizes.  An allocator that cannot reuse the
 * holes around them for the next phase's sizes, or give them back, grows:
 * compare the peak RSS with the peak of the bytes actually live.
 *
 * Prints: frag phases=P peak_live_kib=L peak_rss_kib=R rss_per_live=X check=HEX
 * (peak_rss_kib includes the program's own arrays and libraries.)
 */
#include "common.h"

static const size_t ranges[][2] = {
	{ 16, 128 }, { 128, 1024 }, { 1024, 8192 },
	{ 8192, 65536 }, { 64, 512 }, { 256, 4096 },
};
#define NRANGES (sizeof ranges / sizeof ranges[0])

typedef struct {
	void *p;
	size_t size;
	uint64_t tag;
} obj_t;

static size_t live, peak_live;
static uint64_t check;

static void obj_new(obj_t *o, rng_t *r, size_t lo, size_t hi)
{
	o->size = rng_size(r, lo, hi);
	o->tag = rng_next(r);
	o->p = xmalloc(o->size);
	fill(o->p, o->size, o->tag);
	live += o->size;
	if (live > peak_live)
		peak_live = live;
}

static void obj_free(obj_t *o)
{
	if (o->p == NULL)
		return;
	check_obj("frag", o->p, o->size, o->tag);
	check += o->tag ^ o->size;
	free(o->p);
	live -= o->size;
	o->p = NULL;
}

int main(int argc, char **argv)
{
	long phases = arg_long(argc, argv, 1, 12);
	size_t budget = (size_t)arg_long(argc, argv, 2, 48) << 20;
	long nlong = arg_long(argc, argv, 3, 50000);
	obj_t *longs = calloc((size_t)nlong, sizeof *longs);
	rng_t r;
	long ph, i;

	if (longs == NULL)
		die("frag: out of memory");
	rng_seed(&r, 42);
	for (ph = 0; ph < phases; ph++) {
		size_t lo = ranges[ph % NRANGES][0], hi = ranges[ph % NRANGES][1];
		size_t mean = 0, nshort;
		obj_t *shorts;
		rng_t sample = r;

		/* Estimate the mean size of the range to size the short-lived set. */
		for (i = 0; i < 1024; i++)
			mean += rng_size(&sample, lo, hi);
		mean /= 1024;
		nshort = budget / mean;
		shorts = calloc(nshort, sizeof *shorts);
		if (shorts == NULL)
			die("frag: out of memory");
		for (i = 0; i < (long)nshort * 4; i++) {
			obj_t *o;

			if (rng_below(&r, 16) == 0)
				o = &longs[rng_below(&r, (uint32_t)nlong)];
			else
				o = &shorts[rng_below(&r, (uint32_t)nshort)];
			obj_free(o);
			obj_new(o, &r, lo, hi);
		}
		for (i = 0; i < (long)nshort; i++)
			obj_free(&shorts[i]);
		free(shorts);
	}
	for (i = 0; i < nlong; i++)
		obj_free(&longs[i]);
	free(longs);
	{
		long rss = peak_rss_kib();

		printf("frag phases=%ld peak_live_kib=%zu peak_rss_kib=%ld rss_per_live=%.2f check=%016" PRIx64 "\n",
		       phases, peak_live >> 10, rss, (double)rss / (double)(peak_live >> 10), check);
	}
	return 0;
}
