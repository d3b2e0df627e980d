/*
 * chase.c - random pointer chasing over a large heap of small objects, the
 * case where backing the heap by huge pages cuts TLB misses.
 *
 *   chase [MIB] [STEPS_M]
 *
 * Allocates MIB MiB (default 1024) worth of 64-byte objects one malloc at a
 * time (16M objects for 1 GiB), links them into one cycle in random order
 * (Sattolo's shuffle, so every object is on the cycle), then follows the
 * links for STEPS_M million steps (default: as many steps as objects).
 * Every step is a dependent load from a random place in the heap: with
 * 4 KiB pages nearly every one misses the TLB and walks the page tables,
 * with 2 MiB pages the page walks are shorter and mostly hit the cache.
 * Then it checks that the links form one cycle, and verifies and frees
 * every object.  Building the cycle touches the heap randomly too.
 *
 * Prints: chase objects=N steps=S ns_per_step=X build_s=B anon_huge_kib=A
 *         hugetlb_kib=H check=HEX
 * (anon_huge_kib and hugetlb_kib, from /proc/self/smaps_rollup, show how
 * the heap was backed: transparent huge pages, hugetlb pages or neither.)
 */
#include "common.h"

typedef struct node {
	struct node *next;
	uint64_t id;
	uint64_t pad[6];	/* 64 bytes in all: one cache line */
} node_t;

_Static_assert(sizeof(node_t) == 64, "node_t must be 64 bytes");

static uint64_t pad_word(uint64_t id, int k)
{
	return id * 0x9e3779b97f4a7c15ULL + (uint64_t)k;
}

int main(int argc, char **argv)
{
	size_t mib = (size_t)arg_long(argc, argv, 1, 1024);
	size_t n = (mib << 20) / sizeof(node_t), i, steps;
	node_t **v, *p;
	uint64_t sum = 0, check;
	double t0, t1, t2;
	long huge_kib, hugetlb_kib;
	rng_t r;
	int k;

	steps = argc > 2 ? (size_t)arg_long(argc, argv, 2, 1) * 1000000 : n;
	if (n < 2)
		die("chase: heap too small");
	t0 = now_sec();
	v = xmalloc(n * sizeof *v);
	for (i = 0; i < n; i++) {
		v[i] = xmalloc(sizeof(node_t));
		v[i]->id = i;
		for (k = 0; k < 6; k++)
			v[i]->pad[k] = pad_word(i, k);
	}
	/* Sattolo's algorithm: a uniformly random cyclic order of v. */
	rng_seed(&r, 12345);
	for (i = n - 1; i > 0; i--) {
		size_t j = (size_t)(rng_next(&r) % i);
		node_t *t = v[i];

		v[i] = v[j];
		v[j] = t;
	}
	for (i = 0; i < n; i++)
		v[i]->next = v[(i + 1) % n];
	p = v[0];
	t1 = now_sec();

	for (i = 0; i < steps; i++) {
		sum += p->id;
		p = p->next;
	}
	t2 = now_sec();
	huge_kib = smaps_kib("AnonHugePages:");
	hugetlb_kib = smaps_kib("Private_Hugetlb:");
	check = sum ^ p->id;

	/*
	 * The links must form one cycle through every object: after a whole
	 * number of laps the walk is back at v[0] and has summed every id once
	 * per lap; otherwise walk the cycle once more to check it.
	 */
	if (steps % n == 0) {
		uint64_t laps = steps / n;

		if (p != v[0] || sum != laps * ((uint64_t)n * (n - 1) / 2))
			corrupt("chase (cycle)", p, sizeof *p, sum);
	} else {
		p = v[0];
		for (i = 0; i < n; i++)
			p = p->next;
		if (p != v[0])
			corrupt("chase (cycle does not close)", p, sizeof *p, n);
	}
	for (i = 0; i < n; i++) {
		for (k = 0; k < 6; k++)
			if (v[i]->pad[k] != pad_word(v[i]->id, k))
				corrupt("chase", v[i], sizeof(node_t), v[i]->id);
		free(v[i]);
	}
	free(v);
	printf("chase objects=%zu steps=%zu ns_per_step=%.1f build_s=%.2f anon_huge_kib=%ld hugetlb_kib=%ld check=%016" PRIx64 "\n",
	       n, steps, (t2 - t1) * 1e9 / (double)steps, t1 - t0, huge_kib, hugetlb_kib, check);
	return 0;
}
