/*
 * cache.c - false sharing between threads, after Hoard's cache-thrash and
 * cache-scratch benchmarks (Berger et al., "Hoard: A Scalable Memory
 * Allocator for Multithreaded Applications", ASPLOS 2000).  Built twice:
 *
 *   cache-thrash  [SCALE] [THREADS] [OBJSIZE] [REPS]   (active false sharing)
 *   cache-scratch [SCALE] [THREADS] [OBJSIZE] [REPS]   (passive, -DSCRATCH)
 *
 * Each thread runs SCALE * 10000 iterations of: malloc(OBJSIZE) (default 8
 * bytes), increment every byte of it REPS times (default 200), check it,
 * free it.  Allocation itself is cheap here; what costs is where the objects
 * land.  If the allocator gives two threads objects on the same 64-byte
 * cache line, every write of one thread invalidates the line in the other
 * core's cache, and the run is many times slower.
 *
 * cache-thrash: the threads start from nothing, so an allocator that mixes
 *   the objects of different threads in one cache line causes sharing
 *   itself (active false sharing).
 * cache-scratch: the main thread first allocates one object per thread,
 *   all next to each other, and hands them out; each thread frees its
 *   object before it starts.  An allocator that reuses a freed object in
 *   the freeing thread then keeps giving each thread an object on a line
 *   shared with the others (passive false sharing).
 *
 * Prints: cache-thrash threads=T iterations=N check=HEX
 */
#include "common.h"

#ifdef SCRATCH
#define NAME "cache-scratch"
#else
#define NAME "cache-thrash"
#endif

static long iterations, reps;
static size_t objsize;

typedef struct {
	pthread_t th;
	int id;
	char *first;		/* cache-scratch: the object handed to this thread */
	uint64_t sum;
} worker_t;

static void *worker(void *arg)
{
	worker_t *w = arg;
	long i, j;
	size_t k;

	if (w->first) {
		check_obj(NAME " (handed over)", w->first, objsize < 8 ? 8 : objsize, (uint64_t)w->id + 1);
		free(w->first);
	}
	for (i = 0; i < iterations; i++) {
		volatile char *obj = xmalloc(objsize);

		for (k = 0; k < objsize; k++)
			obj[k] = (char)(k + (size_t)w->id);
		/*
		 * Read-modify-write through volatile: each increment loads the
		 * byte back, so a line that another core keeps taking away
		 * stalls this loop (plain stores could hide in the store buffer).
		 */
		for (j = 0; j < reps; j++)
			for (k = 0; k < objsize; k++)
				obj[k]++;
		for (k = 0; k < objsize; k++)
			if (obj[k] != (char)(k + (size_t)reps + (size_t)w->id))
				corrupt(NAME, (const void *)obj, objsize, (uint64_t)i);
		w->sum += (unsigned char)obj[objsize - 1];
		free((void *)obj);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	worker_t *w;
	uint64_t check = 0;
	double t0, t1;
	int nthreads, i;

	iterations = arg_long(argc, argv, 1, 10) * 10000;
	nthreads = (int)arg_long(argc, argv, 2, 2);
	objsize = (size_t)arg_long(argc, argv, 3, 8);
	reps = arg_long(argc, argv, 4, 200);

	w = xmalloc((size_t)nthreads * sizeof *w);
	for (i = 0; i < nthreads; i++) {
		w[i] = (worker_t){ .id = i };
#ifdef SCRATCH
		/* At least 8 bytes, to hold the tag fill() writes. */
		w[i].first = xmalloc(objsize < 8 ? 8 : objsize);
		fill(w[i].first, objsize < 8 ? 8 : objsize, (uint64_t)i + 1);
#endif
	}
	t0 = now_sec();
	for (i = 0; i < nthreads; i++)
		start_thread(&w[i].th, worker, &w[i]);
	for (i = 0; i < nthreads; i++) {
		pthread_join(w[i].th, NULL);
		check += w[i].sum;
	}
	t1 = now_sec();
	printf(NAME " threads=%d iterations=%ld objsize=%zu reps=%ld seconds=%.3f check=%016" PRIx64 "\n",
	       nthreads, iterations, objsize, reps, t1 - t0, check);
	free(w);
	return 0;
}
