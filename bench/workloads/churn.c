/*
 * churn.c - many short-lived threads, each handing a few blocks over to
 * the main thread before it exits.
 *
 *   churn [SCALE] [AT_ONCE] [BLOCKS] [HANDED]
 *
 * SCALE * 1000 threads (default 20: 20,000) are started AT_ONCE at a time
 * (default 4: the main thread starts 4 and joins them, then the next 4).
 * Each allocates BLOCKS blocks (default 300) of mixed sizes, 16 B-2 KiB
 * skewed small and one in 16 a block of 4-32 KiB, fills them, keeps them all
 * live for a moment, then hands HANDED of them (default 8) to the main
 * thread and verifies and frees the others in random order before it
 * exits.  The main thread verifies and frees the blocks handed over by a
 * wave of threads 16 waves later, so about 16 * AT_ONCE * HANDED blocks are
 * live in its care at any time.  What this measures is what thread caches
 * and per-thread heaps cost when threads come and go by the thousand and
 * some of their memory outlives them: the peak RSS (the bar of issue 12 is
 * 8 MiB).
 *
 * Prints: churn threads=N at_once=A blocks=B handed=H seconds=S check=HEX
 */
#include "common.h"

#define LAG 16			/* waves between a hand-over and its free */

typedef struct {
	void *p;
	uint32_t size;
	uint64_t tag;
} blk_t;

typedef struct {
	pthread_t th;
	long id;
	blk_t *handed;		/* HANDED blocks for the main thread */
	uint64_t sum;		/* of the tags it freed itself */
} worker_t;

static long nblocks, nhanded;

static void *worker(void *arg)
{
	worker_t *w = arg;
	blk_t *b = xmalloc((size_t)nblocks * sizeof *b);
	rng_t r;
	long i;

	rng_seed(&r, 0xc4a7ULL + (uint64_t)w->id);
	for (i = 0; i < nblocks; i++) {
		b[i].size = (uint32_t)(rng_below(&r, 16) ? rng_size(&r, 16, 2048)
							 : rng_size(&r, 4096, 32768));
		b[i].tag = splitmix64(((uint64_t)w->id << 20) ^ (uint64_t)i);
		b[i].p = xmalloc(b[i].size);
		fill(b[i].p, b[i].size, b[i].tag);
	}
	/* Shuffle: the first HANDED go to the main thread, the rest are freed here. */
	for (i = nblocks - 1; i > 0; i--) {
		long j = rng_below(&r, (uint32_t)(i + 1));
		blk_t t = b[i];

		b[i] = b[j];
		b[j] = t;
	}
	memcpy(w->handed, b, (size_t)nhanded * sizeof *b);
	for (i = nhanded; i < nblocks; i++) {
		check_obj("churn (thread)", b[i].p, b[i].size, b[i].tag);
		w->sum += b[i].tag ^ b[i].size;
		free(b[i].p);
	}
	free(b);
	return NULL;
}

int main(int argc, char **argv)
{
	long nthreads = arg_long(argc, argv, 1, 20) * 1000;
	long at_once = arg_long(argc, argv, 2, 4);
	long waves, wv, k, i;
	worker_t *ring;		/* LAG + 1 waves of AT_ONCE workers */
	uint64_t check = 0;
	double t0;

	nblocks = arg_long(argc, argv, 3, 300);
	nhanded = arg_long(argc, argv, 4, 8);
	if (nhanded > nblocks)
		die("churn: HANDED must not exceed BLOCKS");
	waves = (nthreads + at_once - 1) / at_once;
	ring = calloc((size_t)(LAG + 1) * (size_t)at_once, sizeof *ring);
	if (ring == NULL)
		die("churn: out of memory");
	for (k = 0; k < (LAG + 1) * at_once; k++)
		ring[k].handed = xmalloc((size_t)nhanded * sizeof(blk_t));
	t0 = now_sec();
	for (wv = 0; wv < waves + LAG; wv++) {
		worker_t *slot = &ring[(wv % (LAG + 1)) * at_once];
		worker_t *old = &ring[((wv + 1) % (LAG + 1)) * at_once];	/* wave wv - LAG */

		for (k = 0; k < at_once && wv < waves && wv * at_once + k < nthreads; k++) {
			slot[k].id = wv * at_once + k;
			slot[k].sum = 0;
			start_thread(&slot[k].th, worker, &slot[k]);
		}
		for (k = 0; k < at_once && wv < waves && wv * at_once + k < nthreads; k++) {
			pthread_join(slot[k].th, NULL);
			check += slot[k].sum;
		}
		if (wv < LAG)
			continue;
		for (k = 0; k < at_once && (wv - LAG) * at_once + k < nthreads; k++)
			for (i = 0; i < nhanded; i++) {
				blk_t *b = &old[k].handed[i];

				check_obj("churn (handed)", b->p, b->size, b->tag);
				check += b->tag ^ b->size;
				free(b->p);
			}
	}
	printf("churn threads=%ld at_once=%ld blocks=%ld handed=%ld seconds=%.3f check=%016" PRIx64 "\n",
	       nthreads, at_once, nblocks, nhanded, now_sec() - t0, check);
	for (k = 0; k < (LAG + 1) * at_once; k++)
		free(ring[k].handed);
	free(ring);
	return 0;
}
