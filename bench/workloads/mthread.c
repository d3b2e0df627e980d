/*
 * mthread.c - the pattern of glibc's benchtests/bench-malloc-thread.c.
 *
 *   mthread [SCALE] [THREADS] [SLOTS]
 *
 * THREADS threads (default 2) each own a working set of SLOTS pointers
 * (default 1024, as in glibc), all NULL at the start.  Each of SCALE *
 * 100000 iterations per thread frees the pointer in a random slot and
 * mallocs a block of a random size into it.  The sizes follow glibc's
 * inverse-square distribution from 4 bytes to 32 KiB (density proportional
 * to 1/size^2: half the blocks are under 8 bytes, the mean is about 36
 * bytes, one in 260 is over 1 KiB), and like glibc they come from tables
 * made once from a fixed seed (8000 sizes, 4 * SLOTS slot numbers) that
 * every thread walks in a circle, here each from a different starting
 * point.  glibc's benchmark runs for a fixed time; this one does a fixed
 * number of iterations.  Unlike glibc's it writes every block (the tag of
 * the allocation and its low byte) and checks the first word, the middle
 * and the last byte before freeing it.
 *
 * Prints: mthread threads=T iterations=N ops_per_s=X seconds=S check=HEX
 */
#include "common.h"

#define MIN_SIZE 4
#define MAX_SIZE 32768
#define NUM_SIZES 8000

static unsigned sizes[NUM_SIZES];
static unsigned *offsets;
static size_t num_offsets;
static long iterations, nslots;

typedef struct {
	pthread_t th;
	int id;
	uint64_t sum;
} worker_t;

/* Inverse-square distribution on [MIN_SIZE, MAX_SIZE], as glibc's
 * get_block_size(): the inverse of its distribution function at u in [0, 1). */
static unsigned block_size(double u)
{
	double lo = 1.0 / MIN_SIZE, hi = 1.0 / MAX_SIZE;
	double s = 1.0 / (lo - (lo - hi) * u);

	if (s < MIN_SIZE)
		return MIN_SIZE;
	return s > MAX_SIZE ? MAX_SIZE : (unsigned)s;
}

/* Blocks under 8 bytes hold the low bytes of their tag. */
static void put(void *p, size_t n, uint64_t tag)
{
	if (n >= 8)
		fill(p, n, tag);
	else
		memcpy(p, &tag, n);
}

static int ok(const void *p, size_t n, uint64_t tag)
{
	if (n >= 8)
		return verify(p, n, tag);
	return memcmp(p, &tag, n) == 0;
}

static void *worker(void *arg)
{
	worker_t *w = arg;
	void **ptr = calloc((size_t)nslots, sizeof *ptr);
	unsigned *size = calloc((size_t)nslots, sizeof *size);
	uint64_t *tag = calloc((size_t)nslots, sizeof *tag);
	size_t off = ((size_t)w->id * 1543) % num_offsets;
	size_t blk = ((size_t)w->id * 2011) % NUM_SIZES;
	long i, k;

	if (!ptr || !size || !tag)
		die("mthread: out of memory");
	for (i = 0; i < iterations; i++) {
		unsigned s = offsets[off];

		if (++off == num_offsets)
			off = 0;
		if (ptr[s]) {
			if (!ok(ptr[s], size[s], tag[s]))
				corrupt("mthread", ptr[s], size[s], tag[s]);
			w->sum += tag[s] + size[s];
		}
		free(ptr[s]);
		size[s] = sizes[blk];
		if (++blk == NUM_SIZES)
			blk = 0;
		tag[s] = splitmix64(((uint64_t)w->id << 40) ^ (uint64_t)i);
		ptr[s] = xmalloc(size[s]);
		put(ptr[s], size[s], tag[s]);
	}
	for (k = 0; k < nslots; k++) {
		if (ptr[k]) {
			if (!ok(ptr[k], size[k], tag[k]))
				corrupt("mthread (final)", ptr[k], size[k], tag[k]);
			w->sum += tag[k] + size[k];
			free(ptr[k]);
		}
	}
	free(ptr);
	free(size);
	free(tag);
	return NULL;
}

int main(int argc, char **argv)
{
	worker_t *w;
	uint64_t check = 0;
	double t0, t1;
	int nthreads, i;
	size_t j;
	rng_t r;

	iterations = arg_long(argc, argv, 1, 10) * 100000;
	nthreads = (int)arg_long(argc, argv, 2, 2);
	nslots = arg_long(argc, argv, 3, 1024);
	if (nslots > (1L << 24))
		die("mthread: at most %ld slots", 1L << 24);

	/* The tables, from a fixed seed (glibc's is srand(88)'s rand()). */
	rng_seed(&r, 88);
	for (j = 0; j < NUM_SIZES; j++)
		sizes[j] = block_size((double)(rng_next(&r) >> 11) * 0x1p-53);
	num_offsets = (size_t)nslots * 4;
	offsets = xmalloc(num_offsets * sizeof *offsets);
	for (j = 0; j < num_offsets; j++)
		offsets[j] = rng_below(&r, (uint32_t)nslots);

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
	printf("mthread threads=%d iterations=%ld ops_per_s=%.0f seconds=%.3f check=%016" PRIx64 "\n",
	       nthreads, iterations * nthreads, (double)(iterations * nthreads) / (t1 - t0),
	       t1 - t0, check);
	free(offsets);
	free(w);
	return 0;
}
