/*
 * cases.c - the bodies of sbbench's micro-benchmarks (see cases.h).
 *
 * Built with -fno-builtin: the compiler must not know what malloc and free
 * do, or it could drop a malloc/free pair or turn malloc+memset into
 * calloc.  KEEP() additionally makes every pointer escape into an empty asm
 * statement that also clobbers memory.
 *
 * Random numbers come from a fixed-seed xorshift generator, so every
 * allocator sees exactly the same sequence of requests.
 */
#define _GNU_SOURCE
#include "cases.h"

#include <dlfcn.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define KEEP(p) __asm__ volatile("" : : "r"(p) : "memory")

static void oom(const char *what, size_t size)
{
	char msg[128];
	int len = snprintf(msg, sizeof(msg), "sbbench: %s(%zu) returned NULL\n", what, size);

	if (len > 0)
		(void)!write(2, msg, (size_t)len);
	abort();
}

static uint64_t rng_next(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

/* ---- Which allocator ---------------------------------------------------- */

const char *ops_allocator_name(void)
{
	static char name[64];
	const char *(*sb_version)(void);

	*(void **)&sb_version = dlsym(RTLD_DEFAULT, "sb_version");
	if (sb_version != NULL) {
		snprintf(name, sizeof(name), "sbmalloc %s", sb_version());
		return name;
	}
	if (dlsym(RTLD_DEFAULT, "mi_version") != NULL)
		return "mimalloc";
	if (dlsym(RTLD_DEFAULT, "tc_version") != NULL)
		return "tcmalloc";
	if (dlsym(RTLD_DEFAULT, "mallctl") != NULL)
		return "jemalloc";
	return "glibc";
}

/* ---- Pairs --------------------------------------------------------------- */

uintptr_t ops_malloc_free(size_t size, size_t n)
{
	uintptr_t sink = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		void *p = malloc(size);

		KEEP(p);
		if (p == NULL)
			oom("malloc", size);
		sink ^= (uintptr_t)p;
		free(p);
	}
	return sink;
}

uintptr_t ops_calloc_free(size_t size, size_t n)
{
	uintptr_t sink = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		void *p = calloc(1, size);

		KEEP(p);
		if (p == NULL)
			oom("calloc", size);
		/* No read of p here: a 1-byte load from inside memset's last
		 * vector store stalls store forwarding on some CPUs, which would
		 * charge the benchmark loop, not the allocator. */
		sink ^= (uintptr_t)p;
		free(p);
	}
	return sink;
}

uintptr_t ops_aligned_free(size_t align, size_t size, size_t n)
{
	uintptr_t sink = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		void *p = aligned_alloc(align, size);

		KEEP(p);
		if (p == NULL)
			oom("aligned_alloc", size);
		if (((uintptr_t)p & (align - 1)) != 0) {
			fprintf(stderr, "sbbench: aligned_alloc(%zu, %zu) = %p is misaligned\n",
				align, size, p);
			abort();
		}
		sink ^= (uintptr_t)p;
		free(p);
	}
	return sink;
}

/* ---- realloc growth ------------------------------------------------------ */

size_t ops_realloc_round_ops(size_t step, size_t max)
{
	return max / step;
}

uintptr_t ops_realloc_grow(size_t step, size_t max)
{
	char *p = NULL;
	uintptr_t sink = 0;
	size_t s;

	for (s = step; s <= max; s += step) {
		char *q = realloc(p, s);

		KEEP(q);
		if (q == NULL)
			oom("realloc", s);
		q[s - 1] = (char)s;
		sink += (uintptr_t)q != (uintptr_t)p;	/* counts moves */
		p = q;
	}
	free(p);
	return sink;
}

/* ---- Shuffled batch ------------------------------------------------------ */

struct ops_batch {
	size_t n;
	size_t *size;
	size_t *order;
	void **obj;
};

struct ops_batch *ops_batch_new(size_t n, size_t min, size_t max, uint64_t seed)
{
	struct ops_batch *b = calloc(1, sizeof(*b));
	uint64_t s = seed | 1;
	size_t i;

	if (b == NULL)
		oom("calloc", sizeof(*b));
	b->n = n;
	b->size = malloc(n * sizeof(*b->size));
	b->order = malloc(n * sizeof(*b->order));
	b->obj = calloc(n, sizeof(*b->obj));
	if (b->size == NULL || b->order == NULL || b->obj == NULL)
		oom("malloc", n * sizeof(void *));
	for (i = 0; i < n; i++) {
		b->size[i] = min + (size_t)(rng_next(&s) % (max - min + 1));
		b->order[i] = i;
	}
	for (i = n - 1; i > 0; i--) {		/* Fisher-Yates */
		size_t j = (size_t)(rng_next(&s) % (i + 1)), t = b->order[i];

		b->order[i] = b->order[j];
		b->order[j] = t;
	}
	return b;
}

uintptr_t ops_batch_round(struct ops_batch *b)
{
	uintptr_t sink = 0;
	size_t i;

	for (i = 0; i < b->n; i++) {
		void *p = malloc(b->size[i]);

		KEEP(p);
		if (p == NULL)
			oom("malloc", b->size[i]);
		b->obj[i] = p;
	}
	for (i = 0; i < b->n; i++) {
		void *p = b->obj[b->order[i]];

		sink ^= (uintptr_t)p;
		free(p);
	}
	KEEP(b->obj);
	return sink;
}

void ops_batch_delete(struct ops_batch *b)
{
	free(b->size);
	free(b->order);
	free(b->obj);
	free(b);
}

/* ---- Page-sized blocks ---------------------------------------------------- */

#define BLOCK_CYCLE 16			/* 4 KiB, 8 KiB, ..., 64 KiB */

struct ops_blocks {
	size_t window;
	size_t next;			/* slot to replace */
	size_t cycle;			/* next size index */
	char **slot;
};

struct ops_blocks *ops_blocks_new(size_t window, uint64_t seed)
{
	struct ops_blocks *b = calloc(1, sizeof(*b));

	if (b == NULL)
		oom("calloc", sizeof(*b));
	b->window = window;
	b->slot = calloc(window, sizeof(*b->slot));
	if (b->slot == NULL)
		oom("calloc", window * sizeof(*b->slot));
	/* Threads start at different points of the cycle. */
	b->cycle = (size_t)(seed % BLOCK_CYCLE);
	return b;
}

uintptr_t ops_blocks_step(struct ops_blocks *b, size_t n)
{
	uintptr_t sink = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		size_t size = (b->cycle + 1) * 4096;
		char *p;

		free(b->slot[b->next]);
		p = malloc(size);
		KEEP(p);
		if (p == NULL)
			oom("malloc", size);
		p[0] = 1;
		p[size - 1] = 2;
		b->slot[b->next] = p;
		sink ^= (uintptr_t)p;
		if (++b->next == b->window)
			b->next = 0;
		if (++b->cycle == BLOCK_CYCLE)
			b->cycle = 0;
	}
	return sink;
}

void ops_blocks_delete(struct ops_blocks *b)
{
	size_t i;

	for (i = 0; i < b->window; i++)
		free(b->slot[i]);
	free(b->slot);
	free(b);
}

/* ---- Cross-thread ring --------------------------------------------------- */

#define RING_SIZE 1024			/* a power of two */
#define SPINS_BEFORE_YIELD 128

struct ops_ring {
	_Alignas(64) atomic_size_t head;	/* next slot to pop; written by the consumer */
	_Alignas(64) atomic_size_t tail;	/* next slot to push; written by the producer */
	_Alignas(64) void *slot[RING_SIZE];
};

static struct ops_ring rings[OPS_MAX_PAIRS];

struct ops_ring *ops_ring_of_pair(unsigned pair)
{
	if (pair >= OPS_MAX_PAIRS) {
		fprintf(stderr, "sbbench: more than %d thread pairs\n", OPS_MAX_PAIRS);
		abort();
	}
	return &rings[pair];
}

static void wait_a_little(unsigned *spins)
{
	if (++*spins < SPINS_BEFORE_YIELD) {
#if defined(__x86_64__) || defined(__i386__)
		__builtin_ia32_pause();
#endif
	} else {
		*spins = 0;
		sched_yield();		/* with more threads than cores */
	}
}

uintptr_t ops_ring_produce(struct ops_ring *r, size_t size, size_t n)
{
	size_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);
	uintptr_t sink = 0;
	size_t i;

	for (i = 0; i < n; i++, t++) {
		unsigned spins = 0;
		void *p = malloc(size);

		KEEP(p);
		if (p == NULL)
			oom("malloc", size);
		*(volatile char *)p = 1;	/* the consumer's free sees a used object */
		while (t - atomic_load_explicit(&r->head, memory_order_acquire) >= RING_SIZE)
			wait_a_little(&spins);
		r->slot[t & (RING_SIZE - 1)] = p;
		atomic_store_explicit(&r->tail, t + 1, memory_order_release);
		sink ^= (uintptr_t)p;
	}
	return sink;
}

uintptr_t ops_ring_consume(struct ops_ring *r, size_t n)
{
	size_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
	uintptr_t sink = 0;
	size_t i;

	for (i = 0; i < n; i++, h++) {
		unsigned spins = 0;
		void *p;

		while (atomic_load_explicit(&r->tail, memory_order_acquire) == h)
			wait_a_little(&spins);
		p = r->slot[h & (RING_SIZE - 1)];
		atomic_store_explicit(&r->head, h + 1, memory_order_release);
		sink ^= (uintptr_t)p;
		free(p);
	}
	return sink;
}
