/*
 * larson.c - a server in the style of Larson and Krishnan's benchmark
 * ("Memory allocation for long-running server applications", ISMM 1998).
 *
 *   larson [SCALE] [THREADS] [SLOTS] [MIN] [MAX]
 *
 * Each thread owns an array of SLOTS objects of random sizes in MIN..MAX
 * bytes (default 16..1024, skewed towards small).  In every round each
 * thread replaces 2*SLOTS randomly chosen objects (verify + free, then
 * malloc + fill); then all threads meet at a barrier and each array moves to
 * the next thread, as the original hands a finished thread's objects to a
 * new one, so most objects are freed by a thread other than the one that
 * allocated them.  SCALE rounds of 2*SLOTS operations per thread are run.
 *
 * Prints: larson threads=T rounds=R ops=N ops_per_s=X check=HEX
 */
#include "common.h"

typedef struct {
	void *p;
	size_t size;
	uint64_t tag;
} slot_t;

static long rounds, nslots;
static int nthreads;
static size_t min_size, max_size;
static slot_t **arrays;		/* arrays[i]: the slot array thread i works on */
static pthread_barrier_t barrier;

typedef struct {
	int id;
	rng_t rng;
	uint64_t sum;		/* of the tags of objects freed */
	pthread_t th;
} worker_t;

static void new_object(slot_t *s, rng_t *r, uint64_t tag)
{
	s->size = rng_size(r, min_size, max_size);
	s->p = xmalloc(s->size);
	s->tag = tag;
	fill(s->p, s->size, tag);
}

static void *worker(void *arg)
{
	worker_t *w = arg;
	long round, i;

	for (round = 0; round < rounds; round++) {
		/* In round r thread i works on the array that started at i - r. */
		slot_t *a = arrays[w->id];

		for (i = 0; i < 2 * nslots; i++) {
			slot_t *s = &a[rng_below(&w->rng, (uint32_t)nslots)];

			check_obj("larson", s->p, s->size, s->tag);
			w->sum += s->tag;
			free(s->p);
			new_object(s, &w->rng, rng_next(&w->rng));
		}
		pthread_barrier_wait(&barrier);
		/* One thread rotates the arrays while the others wait. */
		if (w->id == 0) {
			slot_t *last = arrays[nthreads - 1];

			memmove(&arrays[1], &arrays[0], (size_t)(nthreads - 1) * sizeof *arrays);
			arrays[0] = last;
		}
		pthread_barrier_wait(&barrier);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	worker_t *w;
	uint64_t check = 0;
	double t0, t1;
	int i;
	long j;

	rounds = arg_long(argc, argv, 1, 20);
	nthreads = (int)arg_long(argc, argv, 2, 2);
	nslots = arg_long(argc, argv, 3, 4000);
	min_size = (size_t)arg_long(argc, argv, 4, 16);
	max_size = (size_t)arg_long(argc, argv, 5, 1024);
	if (min_size < 8 || max_size < min_size)
		die("larson: need 8 <= MIN <= MAX");

	arrays = xmalloc((size_t)nthreads * sizeof *arrays);
	w = xmalloc((size_t)nthreads * sizeof *w);
	/* The main thread fills every array, as larson's warm-up does. */
	for (i = 0; i < nthreads; i++) {
		rng_t r;

		rng_seed(&r, 1000 + (uint64_t)i);
		arrays[i] = xmalloc((size_t)nslots * sizeof(slot_t));
		for (j = 0; j < nslots; j++)
			new_object(&arrays[i][j], &r, rng_next(&r));
		w[i].id = i;
		w[i].sum = 0;
		rng_seed(&w[i].rng, 7 + (uint64_t)i);
	}
	if (pthread_barrier_init(&barrier, NULL, (unsigned)nthreads))
		die("pthread_barrier_init failed");

	t0 = now_sec();
	for (i = 0; i < nthreads; i++)
		start_thread(&w[i].th, worker, &w[i]);
	for (i = 0; i < nthreads; i++)
		pthread_join(w[i].th, NULL);
	t1 = now_sec();

	for (i = 0; i < nthreads; i++) {
		check += w[i].sum;
		for (j = 0; j < nslots; j++) {
			slot_t *s = &arrays[i][j];

			check_obj("larson (final)", s->p, s->size, s->tag);
			check += s->tag * 3;
			free(s->p);
		}
		free(arrays[i]);
	}
	printf("larson threads=%d rounds=%ld ops=%ld ops_per_s=%.0f check=%016" PRIx64 "\n",
	       nthreads, rounds, rounds * 2 * nslots * nthreads,
	       (double)(rounds * 2 * nslots * nthreads) / (t1 - t0), check);
	free(arrays);
	free(w);
	return 0;
}
