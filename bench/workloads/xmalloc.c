/*
 * xmalloc.c - producer/consumer, in the style of Lever and Boreham's
 * xmalloc-test ("malloc() Performance in a Multithreaded Linux
 * Environment", USENIX 2000).
 *
 *   xmalloc [SCALE] [PAIRS] [MIN] [MAX]
 *
 * PAIRS producer threads allocate objects of random sizes in MIN..MAX
 * bytes (default 16..512), fill them and hand them over in batches of 256
 * through a bounded queue to PAIRS consumer threads, which verify and free
 * them.  Every object is freed by a thread other than the one that
 * allocated it, which is the hard case for allocators with thread-local
 * caches: freed memory must flow back to the producers, or memory grows.
 * Each producer makes SCALE * 100000 objects.
 *
 * Prints: xmalloc pairs=P objects=N objs_per_s=X check=HEX
 */
#include "common.h"

#define BATCH 256
#define QUEUE_BATCHES 64	/* queue capacity: 64 batches in flight */

typedef struct {
	void *p[BATCH];
	uint32_t size[BATCH];
	int n;
} batch_t;

static struct {
	pthread_mutex_t lock;
	pthread_cond_t not_empty, not_full;
	batch_t *q[QUEUE_BATCHES];
	int head, count;
	int producers_left;
} queue = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.not_empty = PTHREAD_COND_INITIALIZER,
	.not_full = PTHREAD_COND_INITIALIZER,
};

static long per_producer;
static size_t min_size, max_size;

static void put(batch_t *b)
{
	pthread_mutex_lock(&queue.lock);
	while (queue.count == QUEUE_BATCHES)
		pthread_cond_wait(&queue.not_full, &queue.lock);
	queue.q[(queue.head + queue.count) % QUEUE_BATCHES] = b;
	queue.count++;
	pthread_cond_signal(&queue.not_empty);
	pthread_mutex_unlock(&queue.lock);
}

/* The next batch, or NULL when every producer is done and the queue empty. */
static batch_t *get(void)
{
	batch_t *b = NULL;

	pthread_mutex_lock(&queue.lock);
	while (queue.count == 0 && queue.producers_left > 0)
		pthread_cond_wait(&queue.not_empty, &queue.lock);
	if (queue.count > 0) {
		b = queue.q[queue.head];
		queue.head = (queue.head + 1) % QUEUE_BATCHES;
		queue.count--;
		pthread_cond_signal(&queue.not_full);
	}
	pthread_mutex_unlock(&queue.lock);
	return b;
}

typedef struct {
	pthread_t th;
	int id;
	uint64_t sum;
} worker_t;

/* The tag of object i of producer id: known to the consumer from the object. */
static uint64_t tag_of(int id, long i)
{
	return splitmix64(((uint64_t)id << 40) ^ (uint64_t)i);
}

static void *producer(void *arg)
{
	worker_t *w = arg;
	rng_t r;
	long i = 0;

	rng_seed(&r, 100 + (uint64_t)w->id);
	while (i < per_producer) {
		/* The batch itself is allocated here and freed by the consumer too. */
		batch_t *b = xmalloc(sizeof *b);

		for (b->n = 0; b->n < BATCH && i < per_producer; b->n++, i++) {
			size_t size = rng_size(&r, min_size, max_size);
			uint64_t tag = tag_of(w->id, i);

			b->p[b->n] = xmalloc(size);
			b->size[b->n] = (uint32_t)size;
			fill(b->p[b->n], size, tag);
			w->sum += tag;
		}
		put(b);
	}
	pthread_mutex_lock(&queue.lock);
	queue.producers_left--;
	pthread_cond_broadcast(&queue.not_empty);
	pthread_mutex_unlock(&queue.lock);
	return NULL;
}

static void *consumer(void *arg)
{
	worker_t *w = arg;
	batch_t *b;
	int k;

	while ((b = get()) != NULL) {
		for (k = 0; k < b->n; k++) {
			uint64_t tag;

			memcpy(&tag, b->p[k], sizeof tag);
			check_obj("xmalloc", b->p[k], b->size[k], tag);
			w->sum += tag;
			free(b->p[k]);
		}
		free(b);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	worker_t *prod, *cons;
	uint64_t made = 0, freed = 0;
	double t0, t1;
	int pairs, i;

	per_producer = arg_long(argc, argv, 1, 10) * 100000;
	pairs = (int)arg_long(argc, argv, 2, 1);
	min_size = (size_t)arg_long(argc, argv, 3, 16);
	max_size = (size_t)arg_long(argc, argv, 4, 512);
	if (min_size < 8 || max_size < min_size || max_size > UINT32_MAX)
		die("xmalloc: need 8 <= MIN <= MAX < 4 GiB");

	prod = xmalloc((size_t)pairs * sizeof *prod);
	cons = xmalloc((size_t)pairs * sizeof *cons);
	queue.producers_left = pairs;
	t0 = now_sec();
	for (i = 0; i < pairs; i++) {
		prod[i] = (worker_t){ .id = i };
		cons[i] = (worker_t){ .id = i };
		start_thread(&prod[i].th, producer, &prod[i]);
		start_thread(&cons[i].th, consumer, &cons[i]);
	}
	for (i = 0; i < pairs; i++) {
		pthread_join(prod[i].th, NULL);
		pthread_join(cons[i].th, NULL);
	}
	t1 = now_sec();
	for (i = 0; i < pairs; i++) {
		made += prod[i].sum;
		freed += cons[i].sum;
	}
	if (made != freed) {
		fprintf(stderr, "CORRUPTION: xmalloc: the consumers saw other tags than the producers made\n");
		return 3;
	}
	printf("xmalloc pairs=%d objects=%ld objs_per_s=%.0f check=%016" PRIx64 "\n",
	       pairs, per_producer * pairs, (double)(per_producer * pairs) / (t1 - t0), made);
	free(prod);
	free(cons);
	return 0;
}
