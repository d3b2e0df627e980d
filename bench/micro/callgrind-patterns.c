/*
 * callgrind-patterns.c - the allocation patterns that bench/micro/callgrind-ops
 * measures.  (Not callgrind-ops.c: make's built-in rule "%: %.c" would then
 * rebuild the callgrind-ops script from it, e.g. in make dist.)
 *
 *   ops PATTERN N     runs N operations of PATTERN (see patterns[] below)
 *
 * Each pattern's unit is one "operation" of the instruction table in
 * README.md (how to run it: bench/README.md): a malloc+free pair, one
 * object of a shuffled batch (malloc+free), one realloc, or a calloc+free
 * pair.  Setup that does not scale with N (the shuffled orders) happens
 * before the loop, so running N and 2N and dividing the difference by N
 * gives instructions per operation.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEEP(p) __asm__ volatile("" : : "r"(p) : "memory")

static void small_cycle(long n)
{
	long i;
	for (i = 0; i < n; i++) {
		void *p = malloc(16 + (size_t)(i & 15) * 16);
		KEEP(p);
		free(p);
	}
}

#define BATCH 512
static size_t batch_size[BATCH];
static unsigned batch_order[BATCH];
static void *batch[BATCH];

static void shuffle_setup(void)
{
	unsigned i, seed = 12345;
	for (i = 0; i < BATCH; i++) {
		seed = seed * 1103515245u + 12345u;
		batch_size[i] = 8 + (seed >> 8) % 505;
		batch_order[i] = i;
	}
	for (i = BATCH - 1; i > 0; i--) {
		unsigned j, t;
		seed = seed * 1103515245u + 12345u;
		j = (seed >> 8) % (i + 1);
		t = batch_order[i];
		batch_order[i] = batch_order[j];
		batch_order[j] = t;
	}
}

static void shuffled_batch(long n)
{
	long done = 0;
	unsigned i;
	while (done < n) {
		for (i = 0; i < BATCH; i++) {
			batch[i] = malloc(batch_size[i]);
			KEEP(batch[i]);
		}
		for (i = 0; i < BATCH; i++)
			free(batch[batch_order[i]]);
		done += BATCH;
	}
}

static void large_cycle(long n)
{
	static const size_t sizes[5] = { 4096, 8192, 16384, 32768, 65536 };
	long i;
	for (i = 0; i < n; i++) {
		void *p = malloc(sizes[i % 5]);
		KEEP(p);
		free(p);
	}
}

static void realloc_growth(long n)
{
	long done = 0;
	while (done < n) {
		void *p = NULL;
		size_t s;
		for (s = 16; s <= 4096; s += 16) {
			p = realloc(p, s);
			KEEP(p);
		}
		free(p);
		done += 4096 / 16;
	}
}

static void calloc_small(long n)
{
	long i;
	for (i = 0; i < n; i++) {
		void *p = calloc(1, 64);
		KEEP(p);
		free(p);
	}
}

static const struct {
	const char *name;
	void (*run)(long);
} patterns[] = {
	{ "small", small_cycle },	/* malloc+free, 16..256 B cycling */
	{ "shuffle", shuffled_batch },	/* 512 live objects of 8..512 B, shuffled frees */
	{ "large", large_cycle },	/* malloc+free of 4, 8, 16, 32, 64 KiB cycling */
	{ "realloc", realloc_growth },	/* one buffer grown in 16 B steps to 4 KiB */
	{ "calloc", calloc_small },	/* calloc+free of 64 B */
};

int main(int argc, char **argv)
{
	size_t i;
	long n;

	if (argc != 3) {
		fprintf(stderr, "usage: %s PATTERN N\n", argv[0]);
		return 2;
	}
	n = atol(argv[2]);
	shuffle_setup();
	for (i = 0; i < sizeof(patterns) / sizeof(patterns[0]); i++)
		if (strcmp(argv[1], patterns[i].name) == 0) {
			patterns[i].run(n);
			return 0;
		}
	fprintf(stderr, "unknown pattern %s\n", argv[1]);
	return 2;
}
