/*
 * prodcons.c - many producer and consumer threads holding a steady state,
 * and what stays resident once they are joined.
 *
 *   prodcons [SCALE] [PAIRS] [KEEP]
 *
 * PAIRS producers and PAIRS consumers (default 32 + 32 = 64 threads), a
 * queue per consumer (at most 4 batches waiting).  Each producer makes
 * SCALE * 32 batches (default 30: 960) of 64 objects of 16 B-8 KiB
 * (skewed small), fills them and sends its k-th batch to consumer
 * (producer + k) mod PAIRS, so every consumer gets memory from every
 * producer.  A consumer verifies each object it receives and keeps it in a
 * ring of its last KEEP objects (default 2048), verifying and freeing the
 * one it replaces: with full rings the live set is steady (PAIRS * KEEP
 * objects plus the batches in the queues) while memory flows from thread
 * to thread.  Half-way through, every producer waits until the main thread
 * has read the resident set (rss_steady_kib; the consumers' rings are full
 * by then at the default scale).  At the end each consumer frees its ring,
 * all 64 threads are joined, the main thread makes one more malloc/free and
 * reads the resident set again (rss_joined_kib): nothing is live, so that is
 * what the allocator kept of the threads' memory (the bar of issue 12 is
 * 32 MiB).  live_steady_kib is the consumers' count of the bytes in their
 * rings at the half-way point.
 *
 * Prints: prodcons threads=T batches=B objects=N live_steady_kib=L
 *         rss_start_kib=S rss_steady_kib=R rss_joined_kib=J check=HEX
 */
#include "common.h"

#define BATCH 64

typedef struct {
	void *p;
	uint32_t size;
	uint64_t tag;
} obj_t;

typedef struct {
	obj_t o[BATCH];
} batch_t;

typedef struct {
	pthread_t th;
	int id;
	queue_t inbox;		/* consumers only */
	uint64_t sum;		/* tags made (producer) or freed (consumer) */
	size_t ring_bytes;	/* consumers: bytes in the ring */
} worker_t;

static int pairs;
static long per_producer, keep;
static worker_t *prod, *cons;

/* The half-way checkpoint, and the count of producers still running. */
static pthread_mutex_t state_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t state_cond = PTHREAD_COND_INITIALIZER;
static int at_half, sampled, producers_left;

static void *producer(void *arg)
{
	worker_t *w = arg;
	rng_t r;
	long k;
	int i;

	rng_seed(&r, 0x9c0d0000ULL + (uint64_t)w->id);
	for (k = 0; k < per_producer; k++) {
		batch_t *b = xmalloc(sizeof *b);

		if (k == per_producer / 2) {
			pthread_mutex_lock(&state_lock);
			at_half++;
			pthread_cond_broadcast(&state_cond);
			while (!sampled)
				pthread_cond_wait(&state_cond, &state_lock);
			pthread_mutex_unlock(&state_lock);
		}
		for (i = 0; i < BATCH; i++) {
			obj_t *o = &b->o[i];

			o->size = (uint32_t)rng_size(&r, 16, 8192);
			o->tag = splitmix64(((uint64_t)w->id << 40) ^ ((uint64_t)k << 8) ^ (uint64_t)i);
			o->p = xmalloc(o->size);
			fill(o->p, o->size, o->tag);
			w->sum += o->tag ^ o->size;
		}
		queue_put(&cons[(w->id + k) % pairs].inbox, b);
	}
	if (__atomic_sub_fetch(&producers_left, 1, __ATOMIC_ACQ_REL) == 0)
		for (i = 0; i < pairs; i++)
			queue_wake(&cons[i].inbox);
	return NULL;
}

static void release(worker_t *w, obj_t *o)
{
	check_obj("prodcons", o->p, o->size, o->tag);
	w->sum += o->tag ^ o->size;
	__atomic_store_n(&w->ring_bytes, w->ring_bytes - o->size, __ATOMIC_RELAXED);
	free(o->p);
	o->p = NULL;
}

static void *consumer(void *arg)
{
	worker_t *w = arg;
	obj_t *ring = calloc((size_t)keep, sizeof *ring);
	long next = 0, k;
	batch_t *b;
	int i;

	if (ring == NULL)
		die("prodcons: out of memory");
	while ((b = queue_get(&w->inbox, &producers_left)) != NULL) {
		for (i = 0; i < BATCH; i++) {
			obj_t *slot = &ring[next];

			check_obj("prodcons", b->o[i].p, b->o[i].size, b->o[i].tag);
			if (slot->p)
				release(w, slot);
			*slot = b->o[i];
			__atomic_store_n(&w->ring_bytes, w->ring_bytes + slot->size, __ATOMIC_RELAXED);
			next = (next + 1) % keep;
		}
		free(b);
	}
	for (k = 0; k < keep; k++)
		if (ring[k].p)
			release(w, &ring[k]);
	free(ring);
	return NULL;
}

int main(int argc, char **argv)
{
	uint64_t made = 0, freed = 0;
	long rss_start, rss_steady, rss_joined;
	size_t live = 0;
	void *p;
	int i;

	per_producer = arg_long(argc, argv, 1, 30) * 32;
	pairs = (int)arg_long(argc, argv, 2, 32);
	keep = arg_long(argc, argv, 3, 2048);
	rss_start = rss_now_kib();
	prod = calloc((size_t)pairs, sizeof *prod);
	cons = calloc((size_t)pairs, sizeof *cons);
	if (prod == NULL || cons == NULL)
		die("prodcons: out of memory");
	producers_left = pairs;
	for (i = 0; i < pairs; i++) {
		prod[i].id = cons[i].id = i;
		queue_init(&cons[i].inbox);
	}
	for (i = 0; i < pairs; i++) {
		start_thread(&cons[i].th, consumer, &cons[i]);
		start_thread(&prod[i].th, producer, &prod[i]);
	}
	pthread_mutex_lock(&state_lock);
	while (at_half < pairs)
		pthread_cond_wait(&state_cond, &state_lock);
	rss_steady = rss_now_kib();
	for (i = 0; i < pairs; i++)
		live += __atomic_load_n(&cons[i].ring_bytes, __ATOMIC_RELAXED);
	sampled = 1;
	pthread_cond_broadcast(&state_cond);
	pthread_mutex_unlock(&state_lock);
	for (i = 0; i < pairs; i++) {
		pthread_join(prod[i].th, NULL);
		pthread_join(cons[i].th, NULL);
		made += prod[i].sum;
		freed += cons[i].sum;
	}
	p = xmalloc(64);
	fill(p, 64, 1);
	KEEP(p);
	free(p);
	rss_joined = rss_now_kib();
	if (made != freed) {
		fprintf(stderr, "CORRUPTION: prodcons: the consumers freed other tags than the producers made\n");
		return 3;
	}
	if (rss_start < 0 || rss_joined < 0)
		die("prodcons: cannot read /proc/self/statm");
	printf("prodcons threads=%d batches=%ld objects=%ld live_steady_kib=%zu rss_start_kib=%ld "
	       "rss_steady_kib=%ld rss_joined_kib=%ld check=%016" PRIx64 "\n",
	       2 * pairs, per_producer * pairs, per_producer * pairs * BATCH, live >> 10,
	       rss_start, rss_steady, rss_joined, made);
	free(prod);
	free(cons);
	return 0;
}
