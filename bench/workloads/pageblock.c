/*
 * pageblock.c - threads replacing page blocks of random sizes, each in a
 * small working set of its own.
 *
 *   pageblock [SCALE] [THREADS] [SLOTS]
 *
 * THREADS threads (default 2) each own SLOTS slots (default 8).  Each of
 * SCALE * 1000 iterations per thread picks a slot at random, verifies and
 * frees the block in it (if any) and allocates one of a random size of 16
 * KiB to 1 MiB (skewed towards small sizes: about half are under 64 KiB),
 * whose every 4 KiB page it writes (touch_pages in common.h); a block's
 * first, last and 4 other pages are checked before it is freed.  Nothing
 * crosses threads: what is measured is how the allocator's page-block path
 * (size classes of pages, a buddy or a page heap, mmap) scales with the
 * threads, and whether it keeps freed blocks or gives their pages back to
 * the kernel and faults them in again.  Built for make bench-scale.
 *
 * Prints: pageblock threads=T iterations=N ops_per_s=X seconds=S check=HEX
 */
#include "common.h"

#define BLOCK_MIN (16 << 10)
#define BLOCK_MAX (1 << 20)

typedef struct {
	void *p;
	size_t size;
	uint64_t tag;
} slot_t;

typedef struct {
	pthread_t th;
	int id;
	uint64_t sum;
} worker_t;

static long iterations, nslots;

static void *worker(void *arg)
{
	worker_t *w = arg;
	slot_t *slots = calloc((size_t)nslots, sizeof *slots);
	rng_t r;
	long i;

	if (slots == NULL)
		die("pageblock: out of memory");
	rng_seed(&r, 500 + (uint64_t)w->id);
	for (i = 0; i < iterations; i++) {
		slot_t *s = &slots[rng_below(&r, (uint32_t)nslots)];

		if (s->p) {
			check_pages("pageblock", s->p, s->size, s->tag, 4);
			w->sum += s->tag ^ s->size;
			free(s->p);
		}
		s->size = rng_size(&r, BLOCK_MIN, BLOCK_MAX);
		s->tag = splitmix64(((uint64_t)w->id << 40) ^ (uint64_t)i);
		s->p = xmalloc(s->size);
		touch_pages(s->p, s->size, s->tag);
	}
	for (i = 0; i < nslots; i++) {
		slot_t *s = &slots[i];

		if (s->p) {
			check_pages("pageblock (final)", s->p, s->size, s->tag, 4);
			w->sum += s->tag ^ s->size;
			free(s->p);
		}
	}
	free(slots);
	return NULL;
}

int main(int argc, char **argv)
{
	worker_t *w;
	uint64_t check = 0;
	double t0, t1;
	int nthreads, i;

	iterations = arg_long(argc, argv, 1, 10) * 1000;
	nthreads = (int)arg_long(argc, argv, 2, 2);
	nslots = arg_long(argc, argv, 3, 8);
	if (nslots > (1L << 24))
		die("pageblock: at most %ld slots", 1L << 24);

	w = xmalloc((size_t)nthreads * sizeof *w);
	t0 = now_sec();
	for (i = 0; i < nthreads; i++) {
		w[i] = (worker_t){ .id = i };
		start_thread(&w[i].th, worker, &w[i]);
	}
	for (i = 0; i < nthreads; i++) {
		pthread_join(w[i].th, NULL);
		check += w[i].sum;
	}
	t1 = now_sec();
	printf("pageblock threads=%d iterations=%ld ops_per_s=%.0f seconds=%.3f check=%016"
	       PRIx64 "\n", nthreads, iterations * nthreads,
	       (double)(iterations * nthreads) / (t1 - t0), t1 - t0, check);
	free(w);
	return 0;
}
