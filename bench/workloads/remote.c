/*
 * remote.c - every object freed by another thread than the one that
 * allocated it, small objects and page blocks mixed, with every thread both
 * allocating and freeing (larson's servers, xmalloc's hand-over).
 *
 *   remote [SCALE] [THREADS] [BATCH]
 *
 * THREADS threads (default 2) stand in a ring.  In each of SCALE * 100
 * rounds a thread allocates a batch of BATCH objects (default 256): one in
 * 16 a page block of 16 to 256 KiB, the others 16 to 1024 bytes (both
 * skewed towards small sizes), fills the small ones and writes every page of
 * the page blocks (touch_pages in common.h), and puts the batch into the
 * queue of the next thread (a queue holds at most 4 batches); then it takes
 * a batch from its own queue, made by the previous thread, verifies every
 * object and frees it, and frees the batch itself.  So every object, and
 * every batch, is freed by a thread other than the one that allocated it
 * (with THREADS=1 the thread frees its own), while that thread is busy
 * allocating: the memory must flow back to where it is allocated again, or
 * it piles up where it is freed.
 *
 * Prints: remote threads=T rounds=R objects=N objs_per_s=X seconds=S check=HEX
 */
#include "common.h"

#define SMALL_MIN 16
#define SMALL_MAX 1024
#define PAGE_MIN (16 << 10)
#define PAGE_MAX (256 << 10)

typedef struct {
	void *p;
	uint32_t size;
	uint64_t tag;
} obj_t;

typedef struct {
	int n;
	obj_t o[];
} batch_t;

typedef struct {
	pthread_t th;
	int id;
	queue_t inbox;
	uint64_t made, freed;	/* sums of the tags */
} worker_t;

static int nthreads;
static long rounds, batch_size;
static worker_t *workers;

static void *worker(void *arg)
{
	worker_t *w = arg;
	queue_t *next = &workers[(w->id + 1) % nthreads].inbox;
	uint64_t serial = 0;
	rng_t r;
	long round;
	int k;

	rng_seed(&r, 300 + (uint64_t)w->id);
	for (round = 0; round < rounds; round++) {
		batch_t *b = xmalloc(sizeof *b + (size_t)batch_size * sizeof(obj_t));

		b->n = (int)batch_size;
		for (k = 0; k < b->n; k++) {
			obj_t *o = &b->o[k];
			int page = rng_below(&r, 16) == 0;

			o->size = (uint32_t)(page ? rng_size(&r, PAGE_MIN, PAGE_MAX)
					     : rng_size(&r, SMALL_MIN, SMALL_MAX));
			o->tag = splitmix64(((uint64_t)w->id << 40) ^ serial++);
			o->p = xmalloc(o->size);
			if (page)
				touch_pages(o->p, o->size, o->tag);
			else
				fill(o->p, o->size, o->tag);
			w->made += o->tag;
		}
		queue_put(next, b);

		b = queue_get(&w->inbox, NULL);
		for (k = 0; k < b->n; k++) {
			obj_t *o = &b->o[k];

			if (o->size >= PAGE_MIN)
				check_pages("remote (page block)", o->p, o->size, o->tag, 4);
			else
				check_obj("remote", o->p, o->size, o->tag);
			w->freed += o->tag;
			free(o->p);
		}
		free(b);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	uint64_t made = 0, freed = 0;
	double t0, t1;
	long objects;
	int i;

	rounds = arg_long(argc, argv, 1, 10) * 100;
	nthreads = (int)arg_long(argc, argv, 2, 2);
	batch_size = arg_long(argc, argv, 3, 256);
	if (batch_size > (1L << 20))
		die("remote: at most %ld objects in a batch", 1L << 20);

	workers = xmalloc((size_t)nthreads * sizeof *workers);
	for (i = 0; i < nthreads; i++) {
		worker_t *w = &workers[i];

		*w = (worker_t){ .id = i };
		queue_init(&w->inbox);
	}
	t0 = now_sec();
	for (i = 0; i < nthreads; i++)
		start_thread(&workers[i].th, worker, &workers[i]);
	for (i = 0; i < nthreads; i++)
		pthread_join(workers[i].th, NULL);
	t1 = now_sec();
	for (i = 0; i < nthreads; i++) {
		made += workers[i].made;
		freed += workers[i].freed;
	}
	if (made != freed) {
		fprintf(stderr, "CORRUPTION: remote: the tags freed are not the tags made\n");
		return 3;
	}
	objects = rounds * batch_size * nthreads;
	printf("remote threads=%d rounds=%ld objects=%ld objs_per_s=%.0f seconds=%.3f check=%016"
	       PRIx64 "\n", nthreads, rounds, objects, (double)objects / (t1 - t0), t1 - t0, made);
	free(workers);
	return 0;
}
