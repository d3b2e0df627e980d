/*
 * tests/system/threads.c - sbmalloc under concurrent use: many threads allocating,
 * resizing and freeing at once, blocks freed by other threads than the ones
 * that allocated them, and threads that come and go.
 *
 * Every block is filled with a pattern derived from (thread, address, size)
 * and checked before it is resized or freed, so a block handed out twice, an
 * overlap, or a realloc that loses data shows up as a mismatch.
 */
#include "../tap.h"

#include <pthread.h>
#include <stdint.h>
#include <sched.h>
#include <time.h>

#include <sbmalloc.h>

/* A test that deadlocks dies of SIGALRM after this long. */
#define TEST_ALARM 120

/* ---- patterns ------------------------------------------------------------ */

/* Blocks larger than this get every 64th word of the pattern (one per 512
 * bytes) and their last word, not the whole of it: cheaper, and still
 * touching every page. */
#define FULL_FILL_LIMIT (64 * 1024)
#define SPARSE_STRIDE 64

static inline uint64_t block_seed(int thread, const void *p, size_t size)
{
	return tap_mix64(((uint64_t)thread << 48) ^ (uint64_t)(uintptr_t)p ^ ((uint64_t)size << 20));
}

static inline uint64_t pattern_word(uint64_t seed, size_t k)
{
	return (seed ^ (k * 0x9E3779B97F4A7C15ull)) * 0xD6E8FEB86659FD93ull;
}

static inline size_t word_stride(size_t filled_size)
{
	return filled_size > FULL_FILL_LIMIT ? SPARSE_STRIDE : 1;
}

/* Write the pattern of `seed` into the size bytes at p. */
static void fill(unsigned char *p, size_t size, uint64_t seed)
{
	size_t nw = size / 8, stride = word_stride(size), k, i;
	uint64_t *w = (uint64_t *)p;

	for (k = 0; k < nw; k += stride)
		w[k] = pattern_word(seed, k);
	if (nw > 0)
		w[nw - 1] = pattern_word(seed, nw - 1);
	if (size % 8) {
		uint64_t last = pattern_word(seed, nw);
		for (i = nw * 8; i < size; i++)
			p[i] = (unsigned char)(last >> (8 * (i % 8)));
	}
}

/*
 * Check the first n bytes at p against the pattern that fill(p, filled_size,
 * seed) wrote (n <= filled_size).  Returns the offset of the first
 * mismatching word or byte, or -1.
 */
static long check_pattern(const unsigned char *p, size_t n, uint64_t seed, size_t filled_size)
{
	size_t nw = filled_size / 8, stride = word_stride(filled_size), k, i;
	const uint64_t *w = (const uint64_t *)p;

	for (k = 0; k < nw && (k + 1) * 8 <= n; k += stride)
		if (w[k] != pattern_word(seed, k))
			return (long)(k * 8);
	if (nw > 0 && nw * 8 <= n && w[nw - 1] != pattern_word(seed, nw - 1))
		return (long)((nw - 1) * 8);
	/* A word of the pattern cut by n: compare its bytes below n. */
	k = n / 8;
	if (n % 8 && (k % stride == 0 || k == nw - 1 || k == nw)) {
		uint64_t v = pattern_word(seed, k);
		for (i = k * 8; i < n; i++)
			if (p[i] != (unsigned char)(v >> (8 * (i % 8))))
				return (long)i;
	}
	return -1;
}

/* Mostly small sizes, some medium, a few up to 1 MiB. */
static size_t random_size(uint64_t *rng)
{
	uint64_t r = tap_rng_next(rng);
	unsigned pick = (unsigned)(r % 1000);

	r >>= 10;
	if (pick < 800)
		return 1 + r % 256;
	if (pick < 960)
		return 257 + r % (8192 - 256);
	if (pick < 997)
		return 8193 + r % (65536 - 8192);
	return 65537 + r % (1024 * 1024 - 65536);
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Resident set size of this process, in bytes. */
static size_t rss_bytes(void)
{
	unsigned long size = 0, resident = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	if (!f)
		return 0;
	if (fscanf(f, "%lu %lu", &size, &resident) != 2)
		resident = 0;
	fclose(f);
	return (size_t)resident * (size_t)sysconf(_SC_PAGESIZE);
}

/* ---- many threads at once ------------------------------------------------ */

#define STRESS_THREADS 8
#define STRESS_OPS 300000
#define STRESS_SLOTS 2048

struct block {
	unsigned char *p;
	size_t size;
	uint64_t seed;
};

struct stress_arg {
	int thread;
	long errors;
	long ops;
};

static void report_block(int thread, const char *when, const struct block *b, long off)
{
	tap_diag("thread %d: %s: block %p of %zu bytes differs from its pattern at offset %ld",
		 thread, when, (void *)b->p, b->size, off);
}

static void *stress_thread(void *varg)
{
	struct stress_arg *arg = varg;
	struct block *slots = calloc(STRESS_SLOTS, sizeof(*slots));
	uint64_t rng = 0x1234567ull * (uint64_t)(arg->thread + 1);
	long op, off;
	int i;

	if (!slots) {
		arg->errors++;
		return NULL;
	}
	for (op = 0; op < STRESS_OPS && arg->errors < 10; op++) {
		struct block *b = &slots[tap_rng_next(&rng) % STRESS_SLOTS];
		uint64_t r = tap_rng_next(&rng);

		if (!b->p) {
			size_t size = random_size(&rng);
			if (r % 16 == 0) {
				size_t j;
				b->p = calloc(1, size);
				for (j = 0; b->p && j < size; j += 61)
					if (b->p[j] != 0) {
						tap_diag("thread %d: calloc(1, %zu) byte %zu is %d",
							 arg->thread, size, j, b->p[j]);
						arg->errors++;
						break;
					}
			} else {
				b->p = malloc(size);
			}
			if (!b->p) {
				tap_diag("thread %d: allocation of %zu bytes failed", arg->thread, size);
				arg->errors++;
				continue;
			}
			b->size = size;
			b->seed = block_seed(arg->thread, b->p, size);
			fill(b->p, size, b->seed);
			continue;
		}
		if ((off = check_pattern(b->p, b->size, b->seed, b->size)) >= 0) {
			report_block(arg->thread, "before realloc/free", b, off);
			arg->errors++;
		}
		if (r % 3 == 0) {
			size_t newsize = random_size(&rng);
			size_t keep = newsize < b->size ? newsize : b->size;
			unsigned char *q = realloc(b->p, newsize);
			if (!q) {
				tap_diag("thread %d: realloc(%p, %zu) failed", arg->thread,
					 (void *)b->p, newsize);
				arg->errors++;
				continue;
			}
			b->p = q;
			if ((off = check_pattern(q, keep, b->seed, b->size)) >= 0) {
				report_block(arg->thread, "after realloc", b, off);
				arg->errors++;
			}
			b->size = newsize;
			b->seed = block_seed(arg->thread, q, newsize);
			fill(q, newsize, b->seed);
		} else {
			free(b->p);
			b->p = NULL;
		}
	}
	arg->ops = op;
	for (i = 0; i < STRESS_SLOTS; i++)
		if (slots[i].p) {
			if ((off = check_pattern(slots[i].p, slots[i].size, slots[i].seed,
						 slots[i].size)) >= 0) {
				report_block(arg->thread, "at the end", &slots[i], off);
				arg->errors++;
			}
			free(slots[i].p);
		}
	free(slots);
	return NULL;
}

TEST(eight_threads_allocating_resizing_and_freeing_keep_every_block_intact)
{
	alarm(TEST_ALARM);
	pthread_t th[STRESS_THREADS];
	struct stress_arg args[STRESS_THREADS];
	long errors = 0;
	double t0 = now();
	int i;

	for (i = 0; i < STRESS_THREADS; i++) {
		args[i] = (struct stress_arg){ .thread = i };
		CHECK(pthread_create(&th[i], NULL, stress_thread, &args[i]) == 0);
	}
	for (i = 0; i < STRESS_THREADS; i++) {
		CHECK(pthread_join(th[i], NULL) == 0);
		errors += args[i].errors;
		CHECKF(args[i].ops == STRESS_OPS, "thread %d stopped after %ld operations", i,
		       args[i].ops);
	}
	tap_diag("%d threads x %d operations in %.1f s", STRESS_THREADS, STRESS_OPS, now() - t0);
	CHECK(errors == 0);
}

/* ---- blocks handed between threads ---------------------------------------- */

#define QUEUE_CAP 1024

struct item {
	unsigned char *p;
	size_t size;
	uint64_t seed;
	int producer;
};

struct queue {
	pthread_mutex_t lock;
	pthread_cond_t not_empty, not_full;
	struct item items[QUEUE_CAP];
	size_t head, count;
	int producers_left;
};

static void queue_init(struct queue *q, int producers)
{
	pthread_mutex_init(&q->lock, NULL);
	pthread_cond_init(&q->not_empty, NULL);
	pthread_cond_init(&q->not_full, NULL);
	q->head = q->count = 0;
	q->producers_left = producers;
}

static void queue_put(struct queue *q, struct item it)
{
	pthread_mutex_lock(&q->lock);
	while (q->count == QUEUE_CAP)
		pthread_cond_wait(&q->not_full, &q->lock);
	q->items[(q->head + q->count) % QUEUE_CAP] = it;
	q->count++;
	pthread_cond_signal(&q->not_empty);
	pthread_mutex_unlock(&q->lock);
}

/* Returns 0 when every producer is done and the queue is empty. */
static int queue_get(struct queue *q, struct item *it)
{
	pthread_mutex_lock(&q->lock);
	while (q->count == 0 && q->producers_left > 0)
		pthread_cond_wait(&q->not_empty, &q->lock);
	if (q->count == 0) {
		pthread_mutex_unlock(&q->lock);
		return 0;
	}
	*it = q->items[q->head];
	q->head = (q->head + 1) % QUEUE_CAP;
	q->count--;
	pthread_cond_signal(&q->not_full);
	pthread_mutex_unlock(&q->lock);
	return 1;
}

static void queue_producer_done(struct queue *q)
{
	pthread_mutex_lock(&q->lock);
	q->producers_left--;
	pthread_cond_broadcast(&q->not_empty);
	pthread_mutex_unlock(&q->lock);
}

struct handoff_arg {
	struct queue *q;
	int id;
	long count;		/* producer: blocks to make; consumer: blocks taken */
	size_t max_size;	/* producer: largest block size */
	long errors;
	int resize;		/* consumer: realloc some blocks before freeing */
};

static void *producer_thread(void *varg)
{
	struct handoff_arg *a = varg;
	uint64_t rng = 0xABCDEFull + (uint64_t)a->id;
	long i;

	for (i = 0; i < a->count; i++) {
		struct item it;
		size_t size = random_size(&rng);
		if (size > a->max_size)
			size = 1 + size % a->max_size;
		it.p = malloc(size);
		if (!it.p) {
			a->errors++;
			break;
		}
		it.size = size;
		it.producer = a->id;
		it.seed = block_seed(a->id, it.p, size);
		fill(it.p, size, it.seed);
		queue_put(a->q, it);
	}
	queue_producer_done(a->q);
	return NULL;
}

static void *consumer_thread(void *varg)
{
	struct handoff_arg *a = varg;
	uint64_t rng = 0x5555ull + (uint64_t)a->id;
	struct item it;
	long off;

	while (queue_get(a->q, &it)) {
		struct block b = { it.p, it.size, it.seed };
		a->count++;
		if ((off = check_pattern(it.p, it.size, it.seed, it.size)) >= 0) {
			tap_diag("consumer %d: block %p of %zu bytes from producer %d differs at offset %ld",
				 a->id, (void *)it.p, it.size, it.producer, off);
			a->errors++;
		}
		if (a->resize && tap_rng_next(&rng) % 4 == 0) {
			/* Resize a block of another thread, then check and refill it. */
			size_t newsize = random_size(&rng) % 16384 + 1;
			size_t keep = newsize < it.size ? newsize : it.size;
			unsigned char *q = realloc(it.p, newsize);
			if (!q) {
				a->errors++;
				continue;
			}
			if ((off = check_pattern(q, keep, it.seed, it.size)) >= 0) {
				report_block(a->id, "consumer after realloc", &b, off);
				a->errors++;
			}
			fill(q, newsize, block_seed(100 + a->id, q, newsize));
			it.p = q;
		}
		free(it.p);
	}
	return NULL;
}

/* n producers and n consumers around one queue; returns the errors seen. */
static long run_handoff(int n, long per_producer, size_t max_size, int resize, long *taken)
{
	pthread_t prod[8], cons[8];
	struct handoff_arg pa[8], ca[8];
	struct queue *q = malloc(sizeof(*q));
	long errors = 0;
	int i;

	CHECK(q != NULL);
	CHECK(n <= 8);
	queue_init(q, n);
	*taken = 0;
	for (i = 0; i < n; i++) {
		ca[i] = (struct handoff_arg){ .q = q, .id = i, .resize = resize };
		CHECK(pthread_create(&cons[i], NULL, consumer_thread, &ca[i]) == 0);
	}
	for (i = 0; i < n; i++) {
		pa[i] = (struct handoff_arg){ .q = q, .id = i, .count = per_producer,
					      .max_size = max_size };
		CHECK(pthread_create(&prod[i], NULL, producer_thread, &pa[i]) == 0);
	}
	for (i = 0; i < n; i++) {
		CHECK(pthread_join(prod[i], NULL) == 0);
		errors += pa[i].errors;
	}
	for (i = 0; i < n; i++) {
		CHECK(pthread_join(cons[i], NULL) == 0);
		errors += ca[i].errors;
		*taken += ca[i].count;
	}
	free(q);
	return errors;
}

TEST(blocks_freed_and_resized_by_other_threads_keep_their_contents)
{
	alarm(TEST_ALARM);
	long taken;
	long errors = run_handoff(4, 100000, 1024 * 1024, 1, &taken);

	CHECK(errors == 0);
	CHECK(taken == 4 * 100000);
}

TEST(memory_freed_by_other_threads_is_reused)
{
	alarm(TEST_ALARM);
	/* 2 x 400000 blocks of up to 4 KiB (about 800 MiB in all) go from two
	 * producers to two consumers; at most 1024 are alive at once. */
	size_t before = rss_bytes(), after;
	long taken;
	long errors = run_handoff(2, 400000, 4096, 0, &taken);

	after = rss_bytes();
	CHECK(errors == 0);
	CHECK(taken == 2 * 400000);
	CHECKF(after < before + 128u * 1024 * 1024,
	       "resident memory grew from %zu to %zu bytes", before, after);
}

/* ---- threads that come and go -------------------------------------------- */

#define ORPHAN_BLOCKS 2000

struct orphan_arg {
	int id;
	struct block blocks[ORPHAN_BLOCKS];
};

static void *orphan_maker(void *varg)
{
	struct orphan_arg *a = varg;
	uint64_t rng = 0x777ull + (uint64_t)a->id;
	int i;

	for (i = 0; i < ORPHAN_BLOCKS; i++) {
		size_t size = random_size(&rng) % 20000 + 1;
		struct block *b = &a->blocks[i];
		b->p = malloc(size);
		if (!b->p)
			return NULL;
		b->size = size;
		b->seed = block_seed(a->id, b->p, size);
		fill(b->p, size, b->seed);
	}
	/* Free every other block here, before exiting: the rest outlive us. */
	for (i = 0; i < ORPHAN_BLOCKS; i += 2) {
		free(a->blocks[i].p);
		a->blocks[i].p = NULL;
	}
	return a;
}

TEST(blocks_of_exited_threads_stay_valid_and_can_be_freed_by_others)
{
	alarm(TEST_ALARM);
	struct orphan_arg *a = malloc(sizeof(*a));
	int round, i;
	long off;

	CHECK(a != NULL);
	for (round = 0; round < 64; round++) {
		pthread_t th;
		void *ret;
		a->id = round;
		CHECK(pthread_create(&th, NULL, orphan_maker, a) == 0);
		CHECK(pthread_join(th, &ret) == 0);
		CHECK(ret == a);
		/* Our own allocations, which may reuse the exited thread's memory. */
		void *mine[64];
		for (i = 0; i < 64; i++) {
			mine[i] = malloc(100 + i * 50);
			CHECK(mine[i] != NULL);
			memset(mine[i], 0xEE, 100 + i * 50);
		}
		for (i = 1; i < ORPHAN_BLOCKS; i += 2) {
			struct block *b = &a->blocks[i];
			off = check_pattern(b->p, b->size, b->seed, b->size);
			CHECKF(off < 0, "round %d: block %d (%zu bytes) differs at offset %ld",
			       round, i, b->size, off);
			free(b->p);
		}
		for (i = 0; i < 64; i++)
			free(mine[i]);
	}
	free(a);
}

static void *churn_thread(void *varg)
{
	uintptr_t id = (uintptr_t)varg;
	uint64_t rng = id;
	void *p[128];
	int i;

	/* About 128 KiB of small blocks, all freed before the thread exits. */
	for (i = 0; i < 128; i++) {
		size_t size = 1 + tap_rng_next(&rng) % 2048;
		p[i] = malloc(size);
		if (!p[i])
			return (void *)1;
		memset(p[i], (int)id, size);
	}
	for (i = 0; i < 128; i++)
		free(p[i]);
	return NULL;
}

TEST(short_lived_threads_do_not_leak_memory)
{
	alarm(TEST_ALARM);
	size_t before = rss_bytes(), after;
	int round, i;

	/* 2000 threads, four at a time. */
	for (round = 0; round < 500; round++) {
		pthread_t th[4];
		void *ret;
		for (i = 0; i < 4; i++)
			CHECK(pthread_create(&th[i], NULL, churn_thread,
					     (void *)(uintptr_t)(round * 4 + i + 1)) == 0);
		for (i = 0; i < 4; i++) {
			CHECK(pthread_join(th[i], &ret) == 0);
			CHECK(ret == NULL);
		}
	}
	after = rss_bytes();
	CHECKF(after < before + 64u * 1024 * 1024,
	       "resident memory grew from %zu to %zu bytes over 2000 threads", before, after);
}

/* ---- which allocator ------------------------------------------------------ */

struct owner_arg {
	long foreign;
	long misaligned;
};

static void *owner_thread(void *varg)
{
	struct owner_arg *a = varg;
	static const size_t sizes[] = { 1, 16, 100, 1000, 4096, 10000, 70000, 300000, 2000000 };
	size_t i;

	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		void *p = malloc(sizes[i]);
		if (!p || !sb_owns(p)) {
			tap_diag("malloc(%zu) = %p, not in sbmalloc's heap", sizes[i], p);
			a->foreign++;
		}
		if ((uintptr_t)p % 16 != 0)
			a->misaligned++;
		free(p);
	}
	return NULL;
}

TEST(allocations_of_every_thread_come_from_sbmalloc)
{
	alarm(TEST_ALARM);
	pthread_t th[4];
	struct owner_arg a[4];
	int on_stack = 0, i;

	/* The check can fail: a stack address is not sbmalloc's. */
	CHECK(!sb_owns(&on_stack));
	for (i = 0; i < 4; i++) {
		a[i] = (struct owner_arg){ 0, 0 };
		CHECK(pthread_create(&th[i], NULL, owner_thread, &a[i]) == 0);
	}
	for (i = 0; i < 4; i++) {
		CHECK(pthread_join(th[i], NULL) == 0);
		CHECK(a[i].foreign == 0);
		CHECK(a[i].misaligned == 0);
	}
}

int main(int argc, char **argv)
{
	return tap_main(argc, argv,
			TESTS(allocations_of_every_thread_come_from_sbmalloc,
			      eight_threads_allocating_resizing_and_freeing_keep_every_block_intact,
			      blocks_freed_and_resized_by_other_threads_keep_their_contents,
			      memory_freed_by_other_threads_is_reused,
			      blocks_of_exited_threads_stay_valid_and_can_be_freed_by_others,
			      short_lived_threads_do_not_leak_memory));
}
