/*
 * tests/api/malloc.c - conformance of sbmalloc's malloc API.
 *
 * The program is linked against libsbmalloc.so (first in DT_NEEDED), so
 * every call below is served by sbmalloc, as it would be under LD_PRELOAD.
 * Size vocabulary used in the names: "small" blocks are slab objects
 * (16 B..16 KiB), "page" blocks are page-granular buddy blocks
 * (16 KiB..4 MiB), "huge" blocks (> 4 MiB) have a mapping of their own.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/resource.h>

#include <sbmalloc.h>

#include "../tap.h"

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)
#define NOT_FOUND ((size_t)-1)

static int global_object;

/* ---- helpers ---------------------------------------------------------- */

static int is_aligned(const void *p, size_t alignment)
{
	return ((uintptr_t)p & (alignment - 1)) == 0;
}

static uint64_t mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

#define PATTERN_STEP 0x9e3779b97f4a7c15ULL

/* Byte i of the pattern of `seed`: byte i&7 of word mix64(seed)+(i/8)*STEP. */
static unsigned char pattern_byte(uint64_t w, size_t i)
{
	uint64_t v = w + (uint64_t)(i >> 3) * PATTERN_STEP;
	return (unsigned char)(v >> ((i & 7) * 8));
}

static void fill_pattern(void *p, size_t n, uint64_t seed)
{
	unsigned char *b = p;
	uint64_t w = mix64(seed);
	size_t i = 0;

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	if (is_aligned(b, 8))
		for (; i + 8 <= n; i += 8)
			*(uint64_t *)(void *)(b + i) = w + (uint64_t)(i >> 3) * PATTERN_STEP;
#endif
	for (; i < n; i++)
		b[i] = pattern_byte(w, i);
}

/* Offset of the first byte that differs from the pattern, or NOT_FOUND. */
static size_t check_pattern(const void *p, size_t n, uint64_t seed)
{
	const unsigned char *b = p;
	uint64_t w = mix64(seed);
	size_t i = 0;

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	if (is_aligned(b, 8))
		for (; i + 8 <= n; i += 8)
			if (*(const uint64_t *)(const void *)(b + i) !=
			    w + (uint64_t)(i >> 3) * PATTERN_STEP)
				break;
#endif
	for (; i < n; i++)
		if (b[i] != pattern_byte(w, i))
			return i;
	return NOT_FOUND;
}

/* Offset of the first byte of p[0..n) that is not `value`, or NOT_FOUND. */
static size_t find_byte_not(const void *p, size_t n, unsigned char value)
{
	const unsigned char *b = p;
	size_t i = 0;
	uint64_t word = value * 0x0101010101010101ULL;

	if (is_aligned(b, 8))
		for (; i + 8 <= n; i += 8)
			if (*(const uint64_t *)(const void *)(b + i) != word)
				break;
	for (; i < n; i++)
		if (b[i] != value)
			return i;
	return NOT_FOUND;
}

static uint64_t seed_of(const void *p, size_t n)
{
	return (uint64_t)(uintptr_t)p ^ ((uint64_t)n << 40) ^ n;
}

/*
 * The sizes every per-size test walks: 0..256 one by one, then a geometric
 * sample up to 1 MiB with every power of two and its neighbours, and the
 * class boundaries (16 KiB small/page).
 */
static size_t sample_sizes(size_t *out, size_t cap)
{
	size_t n = 0, s;
	int k;

	for (s = 0; s <= 256 && n < cap; s++)
		out[n++] = s;
	for (s = 257; s <= MiB && n < cap; s += s / 16 + 1)
		out[n++] = s;
	for (k = 9; k <= 20 && n + 3 <= cap; k++) {
		out[n++] = ((size_t)1 << k) - 1;
		out[n++] = (size_t)1 << k;
		if (k < 20)
			out[n++] = ((size_t)1 << k) + 1;
	}
	return n;
}

/* Larger than the sample: the page/huge boundary and huge blocks. */
static const size_t large_sizes[] = {
	2 * MiB, 4 * MiB - 1, 4 * MiB, 4 * MiB + 1, 5 * MiB, 40 * MiB,
};
#define NLARGE (sizeof large_sizes / sizeof large_sizes[0])

static long rss_kib(void)
{
	char line[256];
	long kib = -1;
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof line, f))
		if (strncmp(line, "VmRSS:", 6) == 0) {
			kib = strtol(line + 6, NULL, 10);
			break;
		}
	fclose(f);
	return kib;
}

/* Bytes mallinfo2() reports as handed out (heap plus separate mappings). */
static size_t bytes_in_use(void)
{
	struct mallinfo2 mi = mallinfo2();
	return mi.uordblks + mi.hblkhd;
}

/*
 * How many malloc/free rounds of `size` would leave 64 MiB in use if the
 * free leaked: far above the 4 MiB of slack the leak checks allow.
 */
static int leak_rounds(size_t size)
{
	size_t rounds = 64 * MiB / size;

	return (int)(rounds < 16 ? 16 : rounds > 3000000 ? 3000000 : rounds);
}

/* ---- sbmalloc is the allocator ------------------------------------------ */

TEST(malloc_is_served_by_sbmalloc)
{
	int local = 0;
	void *small = malloc(64);
	void *page = malloc(64 * KiB);
	void *huge = malloc(8 * MiB);

	CHECK(small && page && huge);
	CHECK(sb_owns(small));
	CHECK(sb_owns(page));
	CHECK(sb_owns(huge));
	/* ...and sb_owns() is not trivially true. */
	CHECK(!sb_owns(&local));
	CHECK(!sb_owns(&global_object));
	free(small);
	free(page);
	free(huge);
}

/* ---- alignment and usable size ------------------------------------------ */

TEST(malloc_returns_16_byte_aligned_blocks_for_every_size)
{
	static size_t sizes[1024];
	static unsigned char *blocks[1024 + NLARGE];
	size_t n = sample_sizes(sizes, 1024), i;

	for (i = 0; i < n + NLARGE; i++) {
		size_t size = i < n ? sizes[i] : large_sizes[i - n];
		unsigned char *p = malloc(size);

		CHECKF(p != NULL, "malloc(%zu) failed", size);
		CHECKF(is_aligned(p, 16), "malloc(%zu) = %p", size, (void *)p);
		CHECK(sb_owns(p));
		if (size) {
			p[0] = 1;
			p[size - 1] = 2;
		}
		blocks[i] = p;
	}
	for (i = 0; i < n + NLARGE; i++)
		free(blocks[i]);
}

TEST(calloc_returns_16_byte_aligned_blocks_for_every_size)
{
	static size_t sizes[1024];
	static void *blocks[1024 + NLARGE];
	size_t n = sample_sizes(sizes, 1024), i;

	for (i = 0; i < n + NLARGE; i++) {
		size_t size = i < n ? sizes[i] : large_sizes[i - n];
		void *p = (i & 1) ? calloc(size, 1) : calloc(1, size);

		CHECKF(p != NULL, "calloc(%zu) failed", size);
		CHECKF(is_aligned(p, 16), "calloc(%zu) = %p", size, p);
		blocks[i] = p;
	}
	for (i = 0; i < n + NLARGE; i++)
		free(blocks[i]);
}

TEST(realloc_returns_16_byte_aligned_blocks_for_every_size)
{
	static size_t sizes[1024];
	size_t n = sample_sizes(sizes, 1024), i;
	void *p = NULL;

	/* Up through every size, then down again. */
	for (i = 1; i < 2 * (n + NLARGE); i++) {
		size_t k = i < n + NLARGE ? i : 2 * (n + NLARGE) - 1 - i;
		size_t size = k < n ? sizes[k] : large_sizes[k - n];
		void *q;

		if (size == 0)
			continue;
		q = realloc(p, size);
		CHECKF(q != NULL, "realloc(%p, %zu) failed", p, size);
		CHECKF(is_aligned(q, 16), "realloc(%p, %zu) = %p", p, size, q);
		p = q;
	}
	free(p);
}

TEST(malloc_zero_returns_unique_freeable_pointers)
{
	enum { N = 2000 };
	static void *blocks[N];
	size_t i, j;

	for (i = 0; i < N; i++) {
		blocks[i] = malloc(0);
		CHECK(blocks[i] != NULL);
		CHECK(is_aligned(blocks[i], 16));
		CHECK(sb_owns(blocks[i]));
		for (j = 0; j < i; j++)
			CHECKF(blocks[j] != blocks[i], "malloc(0) returned %p twice", blocks[i]);
	}
	for (i = 0; i < N; i++)
		free(blocks[i]);
}

TEST(usable_size_is_at_least_the_request_for_every_size)
{
	static size_t sizes[1024];
	size_t n = sample_sizes(sizes, 1024), i;

	for (i = 0; i < n + NLARGE; i++) {
		size_t size = i < n ? sizes[i] : large_sizes[i - n];
		void *p = malloc(size);
		size_t usable;

		CHECK(p != NULL);
		usable = malloc_usable_size(p);
		CHECKF(usable >= size, "malloc_usable_size(malloc(%zu)) = %zu", size, usable);
		free(p);
	}
}

TEST(writing_the_whole_usable_size_leaves_neighbours_intact)
{
	static const size_t sizes[] = {
		1, 8, 15, 16, 17, 24, 33, 48, 64, 100, 128, 200, 255, 256, 257, 1000,
		1500, 4000, 4096, 4097, 10000, 16383, 16384, 16385, 20000, 65536,
		100000, MiB, 4 * MiB, 4 * MiB + 1, 5 * MiB,
	};
	enum { NS = sizeof sizes / sizeof sizes[0], PER = 64 };
	static unsigned char *blocks[NS][PER];
	static size_t count[NS];
	size_t s, i, round;

	for (s = 0; s < NS; s++) {
		count[s] = 16 * MiB / sizes[s];
		count[s] = count[s] > PER ? PER : count[s] < 4 ? 4 : count[s];
	}
	/* Round robin over the sizes, so blocks of every size interleave. */
	for (round = 0; round < PER; round++)
		for (s = 0; s < NS; s++)
			if (round < count[s]) {
				unsigned char *p = malloc(sizes[s]);

				CHECK(p != NULL);
				fill_pattern(p, malloc_usable_size(p), seed_of(p, sizes[s]));
				blocks[s][round] = p;
			}
	for (s = 0; s < NS; s++)
		for (i = 0; i < count[s]; i++) {
			unsigned char *p = blocks[s][i];
			size_t bad = check_pattern(p, malloc_usable_size(p), seed_of(p, sizes[s]));

			CHECKF(bad == NOT_FOUND, "block %p of %zu B (usable %zu) overwritten at +%zu",
			       (void *)p, sizes[s], malloc_usable_size(p), bad);
		}
	for (s = 0; s < NS; s++)
		for (i = 0; i < count[s]; i++)
			free(blocks[s][i]);
}

/* ---- calloc ----------------------------------------------------------- */

/*
 * Repeatedly: malloc `batch` blocks of `size`, dirty them with 0xAA, free
 * them, calloc the same number of blocks of the same size and check they
 * are zero.  Returns how many calloc'd blocks were previously dirty ones.
 */
static size_t calloc_after_dirty_free(size_t size, size_t batch, int rounds)
{
	void *dirty[64], *clean[64];
	size_t reused = 0, i, j;
	int r;

	CHECK(batch <= 64);
	for (r = 0; r < rounds; r++) {
		for (i = 0; i < batch; i++) {
			dirty[i] = malloc(size);
			CHECK(dirty[i] != NULL);
			memset(dirty[i], 0xAA, malloc_usable_size(dirty[i]));
		}
		for (i = 0; i < batch; i++)
			free(dirty[batch - 1 - i]);
		for (i = 0; i < batch; i++) {
			size_t bad;

			size_t asked = (i & 1) ? size / 8 * 8 : size;

			clean[i] = (i & 1) ? calloc(size / 8, 8) : calloc(1, size);
			CHECK(clean[i] != NULL);
			bad = find_byte_not(clean[i], asked, 0);
			CHECKF(bad == NOT_FOUND, "calloc(%zu) = %p has byte 0x%02x at +%zu", size,
			       clean[i], ((unsigned char *)clean[i])[bad], bad);
			for (j = 0; j < batch; j++)
				if (clean[i] == dirty[j])
					reused++;
		}
		for (i = 0; i < batch; i++)
			free(clean[i]);
	}
	return reused;
}

TEST(calloc_zeroes_reused_dirty_small_blocks)
{
	static const size_t sizes[] = { 16, 48, 200, 1000, 4096, 16384 };
	size_t i;

	for (i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		size_t reused = calloc_after_dirty_free(sizes[i], 64, 20);
		/* Otherwise the test would not have tested anything. */
		CHECKF(reused > 0, "no dirty %zu B block was reused", sizes[i]);
	}
}

TEST(calloc_zeroes_reused_dirty_page_blocks)
{
	static const size_t sizes[] = { 20 * KiB, 100 * KiB, MiB };
	size_t i;

	for (i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		size_t reused = calloc_after_dirty_free(sizes[i], 8, 10);
		CHECKF(reused > 0, "no dirty %zu B block was reused", sizes[i]);
	}
}

TEST(calloc_zeroes_reused_dirty_huge_blocks)
{
	static const size_t sizes[] = { 6 * MiB, 4 * MiB + 1 };
	size_t i;

	/* Whether huge mappings are cached is sbmalloc's business: no reuse check. */
	for (i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		size_t reused = calloc_after_dirty_free(sizes[i], 3, 5);
		tap_diag("%zu of 15 calloc(%zu) reused a dirty block", reused, sizes[i]);
	}
}

TEST(calloc_zeroes_memory_recycled_from_another_size)
{
	enum { BIG = 8 };
	static const size_t sizes[] = { 48, 200, 3000, 20 * KiB, 100 * KiB };
	static void *small[8192];
	char *big[BIG];
	size_t i, j, n = 0, total = 0, recycled = 0;

	/* Dirty 8 MiB in 1 MiB page blocks, then free it... */
	for (i = 0; i < BIG; i++) {
		big[i] = malloc(MiB);
		CHECK(big[i] != NULL);
		memset(big[i], 0xAA, MiB);
	}
	for (i = 0; i < BIG; i++)
		free(big[i]);
	/* ...and carve blocks of other sizes out of it with calloc. */
	while (total < 12 * MiB && n < 8192) {
		size_t size = sizes[n % (sizeof sizes / sizeof sizes[0])];
		size_t bad;

		small[n] = calloc(1, size);
		CHECK(small[n] != NULL);
		bad = find_byte_not(small[n], size, 0);
		CHECKF(bad == NOT_FOUND, "calloc(%zu) = %p is dirty at +%zu", size, small[n], bad);
		for (j = 0; j < BIG; j++)
			if ((char *)small[n] >= big[j] && (char *)small[n] < big[j] + MiB)
				recycled++;
		total += size;
		n++;
	}
	/* Otherwise the test would not have tested anything. */
	CHECKF(recycled > 0, "no calloc'd block lies in the freed 1 MiB blocks");
	for (i = 0; i < n; i++)
		free(small[i]);
}

TEST(calloc_overflow_fails_with_enomem)
{
	static const size_t pairs[][2] = {
		{ SIZE_MAX, 2 },
		{ 2, SIZE_MAX },
		{ SIZE_MAX / 2 + 1, 2 },
		{ (size_t)1 << 32, (size_t)1 << 32 },
		{ SIZE_MAX / 16, 17 },
		{ SIZE_MAX, SIZE_MAX },
		{ 1, SIZE_MAX },
		{ SIZE_MAX - 15, 1 },
	};
	size_t i;

	for (i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
		volatile size_t n = pairs[i][0], m = pairs[i][1];
		void *p;

		errno = 0;
		p = calloc(n, m);
		CHECKF(p == NULL, "calloc(%zu, %zu) = %p", pairs[i][0], pairs[i][1], p);
		CHECKF(errno == ENOMEM, "calloc(%zu, %zu): errno %d", pairs[i][0], pairs[i][1], errno);
	}
}

/* ---- impossible sizes ------------------------------------------------- */

static const size_t impossible_sizes[] = {
	SIZE_MAX, SIZE_MAX - 1, SIZE_MAX - 15, SIZE_MAX - 4095, SIZE_MAX / 2,
	(size_t)PTRDIFF_MAX, (size_t)PTRDIFF_MAX + 1, (size_t)PTRDIFF_MAX - 4095,
};
#define NIMPOSSIBLE (sizeof impossible_sizes / sizeof impossible_sizes[0])

TEST(malloc_of_impossible_size_fails_with_enomem)
{
	size_t i;

	for (i = 0; i < NIMPOSSIBLE; i++) {
		volatile size_t size = impossible_sizes[i];
		void *p;

		errno = 0;
		p = malloc(size);
		CHECKF(p == NULL, "malloc(%zu) = %p", impossible_sizes[i], p);
		CHECKF(errno == ENOMEM, "malloc(%zu): errno %d", impossible_sizes[i], errno);
	}
}

TEST(aligned_allocation_of_impossible_size_fails_with_enomem)
{
	size_t i;

	for (i = 0; i < NIMPOSSIBLE; i++) {
		volatile size_t size = impossible_sizes[i];
		void *p = (void *)&p;
		int rc;

		rc = posix_memalign(&p, 64, size);
		CHECKF(rc == ENOMEM, "posix_memalign(64, %zu) = %d", impossible_sizes[i], rc);
		errno = 0;
		p = aligned_alloc(4096, size);
		CHECKF(p == NULL && errno == ENOMEM, "aligned_alloc(4096, %zu) = %p, errno %d",
		       impossible_sizes[i], p, errno);
		errno = 0;
		p = memalign(MiB, size);
		CHECKF(p == NULL && errno == ENOMEM, "memalign(1 MiB, %zu) = %p, errno %d",
		       impossible_sizes[i], p, errno);
		errno = 0;
		p = valloc(size);
		CHECKF(p == NULL && errno == ENOMEM, "valloc(%zu) = %p, errno %d",
		       impossible_sizes[i], p, errno);
		errno = 0;
		p = pvalloc(size);
		CHECKF(p == NULL && errno == ENOMEM, "pvalloc(%zu) = %p, errno %d",
		       impossible_sizes[i], p, errno);
	}
}

TEST(realloc_to_impossible_size_fails_and_keeps_block)
{
	static const size_t sizes[] = { 100, 64 * KiB, 6 * MiB };
	size_t s, i;

	for (s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
		void *p = malloc(sizes[s]);

		CHECK(p != NULL);
		fill_pattern(p, sizes[s], 42);
		for (i = 0; i < NIMPOSSIBLE; i++) {
			volatile size_t size = impossible_sizes[i];
			void *q;

			errno = 0;
			q = realloc(p, size);
			CHECKF(q == NULL, "realloc(%p, %zu) = %p", p, impossible_sizes[i], q);
			CHECKF(errno == ENOMEM, "realloc(%zu -> %zu): errno %d", sizes[s],
			       impossible_sizes[i], errno);
			CHECK(check_pattern(p, sizes[s], 42) == NOT_FOUND);
		}
		free(p);
	}
}

/* ---- reallocarray ----------------------------------------------------- */

TEST(reallocarray_resizes_keeping_contents)
{
	uint64_t *p = reallocarray(NULL, 10, sizeof *p), *q;
	size_t i;

	CHECK(p != NULL);
	CHECK(sb_owns(p));
	for (i = 0; i < 10; i++)
		p[i] = mix64(i);
	q = reallocarray(p, 100000, sizeof *p);
	CHECK(q != NULL);
	CHECK(malloc_usable_size(q) >= 100000 * sizeof *q);
	for (i = 0; i < 10; i++)
		CHECK(q[i] == mix64(i));
	q[99999] = 7;
	p = reallocarray(q, 3, sizeof *p);
	CHECK(p != NULL);
	for (i = 0; i < 3; i++)
		CHECK(p[i] == mix64(i));
	free(p);
}

TEST(reallocarray_overflow_fails_and_keeps_block)
{
	static const size_t pairs[][2] = {
		{ SIZE_MAX / 2, 4 }, { 4, SIZE_MAX / 2 }, { (size_t)1 << 33, (size_t)1 << 31 },
		{ SIZE_MAX, SIZE_MAX },
	};
	void *p = malloc(100);
	size_t i;

	CHECK(p != NULL);
	fill_pattern(p, 100, 7);
	for (i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
		volatile size_t n = pairs[i][0], m = pairs[i][1];
		void *q;

		errno = 0;
		q = reallocarray(p, n, m);
		CHECKF(q == NULL, "reallocarray(p, %zu, %zu) = %p", pairs[i][0], pairs[i][1], q);
		CHECKF(errno == ENOMEM, "reallocarray(p, %zu, %zu): errno %d", pairs[i][0],
		       pairs[i][1], errno);
		CHECK(check_pattern(p, 100, 7) == NOT_FOUND);
	}
	free(p);
}

/* ---- realloc ---------------------------------------------------------- */

/*
 * realloc p (holding `have` bytes of the pattern of `seed`) to `size`,
 * check the kept prefix, and refill the whole block with the pattern.
 */
static void *realloc_checked(void *p, size_t have, size_t size, uint64_t seed)
{
	void *q = realloc(p, size);
	size_t keep = have < size ? have : size, bad;

	CHECKF(q != NULL, "realloc(%p, %zu) failed", p, size);
	CHECKF(is_aligned(q, 16), "realloc(%p, %zu) = %p", p, size, q);
	CHECKF(malloc_usable_size(q) >= size, "realloc to %zu: usable %zu", size,
	       malloc_usable_size(q));
	bad = check_pattern(q, keep, seed);
	CHECKF(bad == NOT_FOUND, "realloc %zu -> %zu (%p -> %p) lost byte %zu", have, size, p,
	       q, bad);
	fill_pattern(q, size, seed);
	return q;
}

/*
 * Sizes from 1 B to 48 MiB: every size up to 256, then steps of 1/16 up to
 * 64 KiB and of 1/4 above, plus both sides of every class boundary.
 */
static size_t growing_sizes(size_t *out, size_t cap)
{
	static const size_t edges[] = {
		16383, 16384, 16385, 4 * MiB - 4096, 4 * MiB - 1, 4 * MiB, 4 * MiB + 1,
		4 * MiB + 4096, 32 * MiB - 1, 32 * MiB, 32 * MiB + 1,
	};
	size_t n = 0, s, e = 0;

	for (s = 1; s <= 48 * MiB && n < cap; s += s <= 256 ? 1 : s < 64 * KiB ? s / 16 : s / 4) {
		while (e < sizeof edges / sizeof edges[0] && edges[e] <= s && n < cap) {
			if (edges[e] != s)
				out[n++] = edges[e];
			e++;
		}
		if (n < cap)
			out[n++] = s;
	}
	return n;
}

TEST(realloc_keeps_contents_within_a_size_class)
{
	static const size_t steps[] = { 33, 34, 40, 47, 48, 36, 33, 17000, 17100, 20000, 17000 };
	size_t i, have = 0;
	void *p = NULL;

	for (i = 0; i < sizeof steps / sizeof steps[0]; i++) {
		p = realloc_checked(p, have, steps[i], 99);
		have = steps[i];
	}
	free(p);
}

TEST(realloc_keeps_contents_growing_through_every_size_class)
{
	static size_t sizes[1024];
	size_t n = growing_sizes(sizes, 1024), i, have = 0;
	void *p = NULL;

	CHECK(sizes[n - 1] > 32 * MiB);
	for (i = 0; i < n; i++) {
		p = realloc_checked(p, have, sizes[i], 1234);
		have = sizes[i];
	}
	free(p);
}

TEST(realloc_keeps_contents_shrinking_through_every_size_class)
{
	static size_t sizes[1024];
	size_t n = growing_sizes(sizes, 1024), i, have;
	void *p = malloc(sizes[n - 1]);

	CHECK(p != NULL);
	have = sizes[n - 1];
	fill_pattern(p, have, 4321);
	for (i = n - 1; i-- > 0;) {
		p = realloc_checked(p, have, sizes[i], 4321);
		have = sizes[i];
	}
	free(p);
}

TEST(realloc_keeps_contents_of_blocks_with_live_neighbours)
{
	static size_t sizes[1024];
	static void *neighbours[1024];
	size_t n = growing_sizes(sizes, 1024), i, have = 0;
	void *p = NULL;

	/* After every step, allocate a block of the same size next to it. */
	for (i = 0; i < n; i++) {
		p = realloc_checked(p, have, sizes[i], 555);
		have = sizes[i];
		neighbours[i] = malloc(sizes[i]);
		CHECK(neighbours[i] != NULL);
		fill_pattern(neighbours[i], sizes[i], seed_of(neighbours[i], sizes[i]));
	}
	for (i = n; i-- > 0;) {
		p = realloc_checked(p, have, sizes[i], 555);
		have = sizes[i];
	}
	for (i = 0; i < n; i++) {
		CHECKF(check_pattern(neighbours[i], sizes[i], seed_of(neighbours[i], sizes[i])) ==
			       NOT_FOUND, "neighbour of %zu B overwritten", sizes[i]);
		free(neighbours[i]);
	}
	free(p);
}

TEST(realloc_resizes_page_blocks_keeping_contents)
{
	static const size_t steps[] = {
		72 * KiB, 128 * KiB, 132 * KiB, MiB, 3 * MiB, 4 * MiB, 2 * MiB, 100 * KiB,
		68 * KiB, 20 * KiB, 16 * KiB,
	};
	void *first = malloc(64 * KiB), *p = first;
	size_t i, have = 64 * KiB;

	CHECK(p != NULL);
	fill_pattern(p, have, 77);
	for (i = 0; i < sizeof steps / sizeof steps[0]; i++) {
		void *before = p;

		p = realloc_checked(p, have, steps[i], 77);
		if (i == 0)
			tap_diag("64 KiB -> 72 KiB %s", p == before ? "in place" : "moved");
		have = steps[i];
	}
	free(p);
}

TEST(realloc_grows_huge_block_in_place)
{
	void *p = malloc(8 * MiB), *q;

	CHECK(p != NULL);
	fill_pattern(p, 8 * MiB, 8);
	q = realloc(p, 9 * MiB);
	CHECK(q != NULL);
	CHECK(check_pattern(q, 8 * MiB, 8) == NOT_FOUND);
	CHECKF(q == p, "8 MiB block %p moved to %p when grown to 9 MiB", p, q);
	free(q);
}

TEST(realloc_null_allocates_like_malloc)
{
	static const size_t sizes[] = { 0, 1, 100, 16385, 100 * KiB, 5 * MiB };
	size_t i;

	for (i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		unsigned char *p = realloc(NULL, sizes[i]);

		CHECKF(p != NULL, "realloc(NULL, %zu) failed", sizes[i]);
		CHECK(sb_owns(p));
		CHECK(is_aligned(p, 16));
		CHECK(malloc_usable_size(p) >= sizes[i]);
		memset(p, 0x5A, sizes[i]);
		free(p);
	}
}

TEST(realloc_to_zero_frees_and_returns_null)
{
	static const size_t sizes[] = { 100, 64 * KiB, 6 * MiB };
	size_t s, before;
	int i;

	for (s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
		int rounds = leak_rounds(sizes[s]);

		before = bytes_in_use();
		for (i = 0; i < rounds; i++) {
			void *p = malloc(sizes[s]);

			CHECK(p != NULL);
			*(volatile char *)p = 1;
			CHECK(realloc(p, 0) == NULL);
		}
		/* Had the blocks not been freed, 64 MiB would be in use. */
		CHECKF(bytes_in_use() < before + 4 * MiB,
		       "%d x realloc(malloc(%zu), 0): in use grew from %zu to %zu", rounds,
		       sizes[s], before, bytes_in_use());
	}
}

/* ---- posix_memalign, aligned_alloc, memalign, valloc, pvalloc ----------- */

TEST(posix_memalign_rejects_bad_alignment_with_einval)
{
	static const size_t bad[] = { 0, 1, 2, 3, 4, 12, 24, 48, 96, 4097, SIZE_MAX };
	size_t i;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		void *sentinel = (void *)(uintptr_t)0x5eed, *p = sentinel;
		int rc = posix_memalign(&p, bad[i], 100);

		CHECKF(rc == EINVAL, "posix_memalign(alignment %zu) = %d", bad[i], rc);
		CHECKF(p == sentinel, "posix_memalign(alignment %zu) changed *memptr to %p", bad[i],
		       p);
	}
}

static const size_t memalign_sizes[] = { 1, 100, 4096, 100000, 3 * MiB };
#define NMEMALIGN_SIZES (sizeof memalign_sizes / sizeof memalign_sizes[0])

TEST(posix_memalign_aligns_every_power_of_two)
{
	size_t a, s;

	for (a = 8; a <= 64 * MiB; a *= 2) {
		if (a > MiB && a != 4 * MiB && a != 64 * MiB)
			continue;
		for (s = 0; s < NMEMALIGN_SIZES; s++) {
			size_t size = memalign_sizes[s];
			void *p = NULL;
			int rc = posix_memalign(&p, a, size);

			CHECKF(rc == 0, "posix_memalign(%zu, %zu) = %d", a, size, rc);
			CHECKF(is_aligned(p, a), "posix_memalign(%zu, %zu) gave %p", a, size, p);
			CHECK(sb_owns(p));
			CHECKF(malloc_usable_size(p) >= size, "posix_memalign(%zu, %zu): usable %zu",
			       a, size, malloc_usable_size(p));
			fill_pattern(p, size, a);
			CHECK(check_pattern(p, size, a) == NOT_FOUND);
			free(p);
		}
	}
}

TEST(posix_memalign_wastes_at_most_the_alignment)
{
	size_t a, s;

	for (a = 8; a <= MiB; a *= 2)
		for (s = 0; s < NMEMALIGN_SIZES; s++) {
			size_t size = memalign_sizes[s], waste, limit;
			void *p = NULL;

			CHECK(posix_memalign(&p, a, size) == 0);
			waste = malloc_usable_size(p) - size;
			limit = a > size / 4 + 4096 ? a : size / 4 + 4096;
			CHECKF(waste <= limit, "posix_memalign(%zu, %zu): usable %zu", a, size,
			       malloc_usable_size(p));
			free(p);
		}
}

TEST(aligned_alloc_rejects_non_power_of_two_alignment)
{
	static const size_t bad[] = { 3, 24, 48, 100, 12288, 3 * MiB };
	size_t i;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		void *p;

		errno = 0;
		p = aligned_alloc(bad[i], 2 * bad[i]);
		CHECKF(p == NULL, "aligned_alloc(%zu, %zu) = %p", bad[i], 2 * bad[i], p);
		CHECKF(errno == EINVAL, "aligned_alloc(%zu): errno %d", bad[i], errno);
	}
}

TEST(aligned_alloc_returns_aligned_blocks)
{
	static const size_t aligns[] = { 1, 16, 32, 64, 128, 4096, 65536, 2 * MiB };
	size_t i, k;
	void *p = aligned_alloc(64, 100);

	CHECK(p != NULL);
	CHECK(sb_owns(p));
	CHECK(is_aligned(p, 64));
	CHECK(malloc_usable_size(p) >= 100);
	free(p);
	for (i = 0; i < sizeof aligns / sizeof aligns[0]; i++)
		for (k = 0; k < 3; k++) {
			size_t size = k == 0 ? 100 : k == 1 ? 3 * aligns[i] : aligns[i] + 1;
			size_t want = aligns[i] < 16 ? 16 : aligns[i];

			p = aligned_alloc(aligns[i], size);
			CHECKF(p != NULL, "aligned_alloc(%zu, %zu) failed", aligns[i], size);
			CHECKF(is_aligned(p, want), "aligned_alloc(%zu, %zu) = %p", aligns[i], size, p);
			CHECK(malloc_usable_size(p) >= size);
			memset(p, 0x33, size);
			free(p);
		}
}

TEST(memalign_rounds_non_power_of_two_alignment_up)
{
	static const size_t cases[][2] = {
		/* alignment, what it rounds up to */
		{ 24, 32 }, { 100, 128 }, { 3000, 4096 }, { 5000, 8192 }, { 196608, 262144 },
	};
	size_t i, s;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++)
		for (s = 0; s < 4; s++) {
			size_t size = memalign_sizes[s];
			void *p = memalign(cases[i][0], size);

			CHECKF(p != NULL, "memalign(%zu, %zu) failed", cases[i][0], size);
			CHECKF(is_aligned(p, cases[i][1]), "memalign(%zu, %zu) = %p", cases[i][0],
			       size, p);
			CHECK(malloc_usable_size(p) >= size);
			memset(p, 0x44, size);
			free(p);
		}
}

TEST(memalign_returns_aligned_blocks)
{
	size_t a, s;

	for (a = 1; a <= 4 * MiB; a *= 2)
		for (s = 0; s < NMEMALIGN_SIZES; s++) {
			size_t size = memalign_sizes[s];
			void *p = memalign(a, size);

			CHECKF(p != NULL, "memalign(%zu, %zu) failed", a, size);
			CHECKF(is_aligned(p, a < 16 ? 16 : a), "memalign(%zu, %zu) = %p", a, size, p);
			CHECK(sb_owns(p));
			CHECK(malloc_usable_size(p) >= size);
			memset(p, 0x55, size);
			free(p);
		}
}

TEST(valloc_returns_page_aligned_blocks)
{
	static const size_t sizes[] = { 0, 1, 100, 4095, 4096, 4097, 100000, 5 * MiB };
	size_t page = (size_t)sysconf(_SC_PAGESIZE), i;

	for (i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		void *p = valloc(sizes[i]);

		CHECKF(p != NULL, "valloc(%zu) failed", sizes[i]);
		CHECKF(is_aligned(p, page), "valloc(%zu) = %p", sizes[i], p);
		CHECK(sb_owns(p));
		CHECK(malloc_usable_size(p) >= sizes[i]);
		memset(p, 0x66, sizes[i]);
		free(p);
	}
}

TEST(pvalloc_rounds_up_to_whole_pages)
{
	static const size_t sizes[] = { 1, 100, 4095, 4096, 4097, 100000, 5 * MiB + 1 };
	size_t page = (size_t)sysconf(_SC_PAGESIZE), i;

	for (i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		unsigned char *p = pvalloc(sizes[i]);
		size_t usable, whole = (sizes[i] + page - 1) / page * page;

		CHECKF(p != NULL, "pvalloc(%zu) failed", sizes[i]);
		CHECKF(is_aligned(p, page), "pvalloc(%zu) = %p", sizes[i], (void *)p);
		usable = malloc_usable_size(p);
		CHECKF(usable % 4096 == 0 && usable >= whole, "pvalloc(%zu): usable %zu", sizes[i],
		       usable);
		/* The whole rounded-up size is ours. */
		memset(p, 0x77, whole);
		free(p);
	}
}

/* ---- sized frees ------------------------------------------------------ */

TEST(free_sized_releases_blocks)
{
	static const size_t sizes[] = { 24, 200, 64 * KiB, 6 * MiB };
	size_t s;
	int i;

	for (s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
		int rounds = leak_rounds(sizes[s]);
		size_t before = bytes_in_use();

		for (i = 0; i < rounds; i++) {
			unsigned char *p = malloc(sizes[s]);

			CHECK(p != NULL);
			fill_pattern(p, sizes[s] < 256 ? sizes[s] : 256, (uint64_t)i);
			CHECK(check_pattern(p, sizes[s] < 256 ? sizes[s] : 256, (uint64_t)i) ==
			      NOT_FOUND);
			free_sized(p, sizes[s]);
		}
		CHECKF(bytes_in_use() < before + 4 * MiB,
		       "%d x free_sized(malloc(%zu)): in use grew from %zu to %zu", rounds,
		       sizes[s], before, bytes_in_use());
	}
	free_sized(NULL, 0);
}

TEST(free_aligned_sized_releases_blocks)
{
	static const size_t cases[][2] = {
		/* alignment, size */
		{ 64, 128 }, { 256, 1000 }, { 4096, 8192 }, { 65536, 65536 }, { MiB, 3 * MiB },
		{ 4 * MiB, 8 * MiB },
	};
	size_t c;
	int i;

	for (c = 0; c < sizeof cases / sizeof cases[0]; c++) {
		size_t a = cases[c][0], size = cases[c][1];
		int rounds = leak_rounds(size);
		size_t before = bytes_in_use();

		for (i = 0; i < rounds; i++) {
			unsigned char *p = aligned_alloc(a, size);

			CHECK(p != NULL);
			CHECK(is_aligned(p, a));
			fill_pattern(p, 128, (uint64_t)i);
			CHECK(check_pattern(p, 128, (uint64_t)i) == NOT_FOUND);
			free_aligned_sized(p, a, size);
		}
		CHECKF(bytes_in_use() < before + 4 * MiB,
		       "%d x free_aligned_sized(aligned_alloc(%zu, %zu)): in use grew from %zu to %zu",
		       rounds, a, size, before, bytes_in_use());
	}
	free_aligned_sized(NULL, 64, 0);
}

/* ---- returning memory to the OS ----------------------------------------- */

TEST(malloc_trim_returns_freed_memory_to_the_os)
{
	enum { N = 3200 };	/* 200 MiB in 64 KiB blocks */
	static void *blocks[N];
	long start = rss_kib(), full, trimmed;
	int i, rc;

	for (i = 0; i < N; i++) {
		blocks[i] = malloc(64 * KiB);
		CHECK(blocks[i] != NULL);
		memset(blocks[i], 0x11, 64 * KiB);
	}
	full = rss_kib();
	CHECKF(full - start >= 190 * 1024, "RSS %ld -> %ld KiB after writing 200 MiB", start, full);
	for (i = 0; i < N; i++)
		free(blocks[i]);
	rc = malloc_trim(0);
	trimmed = rss_kib();
	tap_diag("RSS %ld KiB, full %ld KiB, after free and trim %ld KiB", start, full, trimmed);
	CHECKF(rc == 1, "malloc_trim(0) = %d", rc);
	CHECKF(trimmed - start <= 50 * 1024, "RSS still %ld KiB above the start",
	       trimmed - start);
}

TEST(freeing_a_gibibyte_returns_memory_to_the_os_without_trim)
{
	enum { N = 1024 };	/* 1 GiB in 1 MiB blocks */
	static void *blocks[N];
	long start = rss_kib(), full, after;
	int i;

	for (i = 0; i < N; i++) {
		blocks[i] = malloc(MiB);
		CHECK(blocks[i] != NULL);
		memset(blocks[i], 0x22, MiB);
	}
	full = rss_kib();
	CHECKF(full - start >= 1000 * 1024, "RSS %ld -> %ld KiB after writing 1 GiB", start, full);
	for (i = 0; i < N; i++)
		free(blocks[i]);
	after = rss_kib();
	tap_diag("RSS %ld KiB, full %ld KiB, after free %ld KiB", start, full, after);
	CHECKF(after - start < 100 * 1024, "RSS still %ld KiB above the start", after - start);
}

/* ---- mallinfo2, mallopt ------------------------------------------------- */

enum { INFO_N = 10240 };	/* 10 MiB in 1 KiB objects */

TEST(mallinfo2_counts_allocated_bytes)
{
	static void *blocks[INFO_N];
	struct mallinfo2 before = mallinfo2(), after;
	int i;

	for (i = 0; i < INFO_N; i++) {
		blocks[i] = malloc(KiB);
		CHECK(blocks[i] != NULL);
	}
	after = mallinfo2();
	tap_diag("uordblks %zu -> %zu, arena %zu", before.uordblks, after.uordblks, after.arena);
	CHECK(after.uordblks >= before.uordblks + 10 * MiB);
	CHECK(after.arena >= after.uordblks);
	for (i = 0; i < INFO_N; i++)
		free(blocks[i]);
}

TEST(mallinfo2_stops_counting_freed_bytes)
{
	static void *blocks[INFO_N];
	struct mallinfo2 before = mallinfo2(), full, after;
	int i;

	for (i = 0; i < INFO_N; i++) {
		blocks[i] = malloc(KiB);
		CHECK(blocks[i] != NULL);
	}
	full = mallinfo2();
	for (i = 0; i < INFO_N; i++)
		free(blocks[i]);
	after = mallinfo2();
	tap_diag("uordblks %zu -> %zu -> %zu", before.uordblks, full.uordblks, after.uordblks);
	CHECK(full.uordblks >= before.uordblks + 10 * MiB);
	CHECK(after.uordblks <= before.uordblks + MiB);
}

TEST(mallopt_accepts_arena_max_and_trim_threshold)
{
	CHECK(mallopt(M_ARENA_MAX, 2) == 1);
	CHECK(mallopt(M_TRIM_THRESHOLD, 256 * 1024) == 1);
	CHECK(mallopt(M_TRIM_THRESHOLD, 64 * 1024 * 1024) == 1);
}

TEST(mallopt_rejects_unknown_parameter)
{
	CHECK(mallopt(12345, 1) == 0);
}

/* ---- everything together ------------------------------------------------ */

TEST(random_churn_keeps_every_live_object_intact)
{
	enum { SLOTS = 4096, OPS = 200000 };
	static unsigned char *ptr[SLOTS];
	static size_t len[SLOTS];
	static int aligned[SLOTS];	/* from memalign: free_sized() does not apply */
	uint64_t rng = 0x2545f4914f6cdd1dULL;
	size_t bad;
	int op, i;

#define NEXT() (rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17, rng)
	for (op = 0; op < OPS; op++) {
		size_t slot = NEXT() % SLOTS, r = NEXT() % 100000, size;
		unsigned kind = (unsigned)(NEXT() % 10);

		if (r < 70000)
			size = NEXT() % 257;
		else if (r < 97000)
			size = 257 + NEXT() % 16128;
		else if (r < 99950)
			size = 16385 + NEXT() % (256 * KiB);
		else
			size = 256 * KiB + NEXT() % (6 * MiB);

		if (ptr[slot] == NULL) {
			unsigned char *p;

			if (kind < 6) {
				p = malloc(size);
			} else if (kind < 8) {
				p = calloc(1, size);
				CHECK(p != NULL);
				bad = find_byte_not(p, size, 0);
				CHECKF(bad == NOT_FOUND, "op %d: calloc(%zu) dirty at +%zu", op, size, bad);
			} else if (kind < 9) {
				size_t a = (size_t)16 << (NEXT() % 9);

				p = memalign(a, size);
				CHECK(p == NULL || is_aligned(p, a));
			} else {
				p = realloc(NULL, size);
			}
			CHECKF(p != NULL, "op %d: allocating %zu B failed", op, size);
			CHECK(is_aligned(p, 16));
			CHECK(malloc_usable_size(p) >= size);
			fill_pattern(p, size, seed_of(p, size));
			ptr[slot] = p;
			len[slot] = size;
			aligned[slot] = kind == 8;
			continue;
		}
		bad = check_pattern(ptr[slot], len[slot], seed_of(ptr[slot], len[slot]));
		CHECKF(bad == NOT_FOUND, "op %d: block %p of %zu B corrupted at +%zu", op,
		       (void *)ptr[slot], len[slot], bad);
		if (kind < 6) {
			if ((kind & 1) && !aligned[slot])
				free_sized(ptr[slot], len[slot]);
			else
				free(ptr[slot]);
			ptr[slot] = NULL;
		} else {
			unsigned char *q = realloc(ptr[slot], size ? size : 1);
			size_t keep = len[slot] < size ? len[slot] : size;

			CHECKF(q != NULL, "op %d: realloc to %zu B failed", op, size);
			bad = check_pattern(q, keep, seed_of(ptr[slot], len[slot]));
			CHECKF(bad == NOT_FOUND, "op %d: realloc %zu -> %zu lost byte %zu", op,
			       len[slot], size, bad);
			ptr[slot] = q;
			len[slot] = size ? size : 1;
			aligned[slot] = 0;
			fill_pattern(q, len[slot], seed_of(q, len[slot]));
		}
	}
#undef NEXT
	for (i = 0; i < SLOTS; i++)
		if (ptr[i]) {
			bad = check_pattern(ptr[i], len[i], seed_of(ptr[i], len[i]));
			CHECKF(bad == NOT_FOUND, "block %p of %zu B corrupted at +%zu", (void *)ptr[i],
			       len[i], bad);
			free(ptr[i]);
		}
}

/* ---- Huge blocks are reused ---------------------------------------------- */

static long minor_faults(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_minflt;
}

/* A malloc-large style loop: each round touches every page of a 10 MiB
 * buffer; reused blocks fault their pages in once, not every round. */
TEST(a_loop_of_huge_blocks_faults_each_page_in_once)
{
	const size_t size = 10 * MiB, pages = size / 4096;
	long before, faults;
	int round;

	for (round = 0; round < 2; round++) {
		char *p = malloc(size);

		CHECK(p != NULL);
		memset(p, round, size);
		free(p);
	}
	before = minor_faults();
	for (round = 0; round < 20; round++) {
		char *p = malloc(size - (size_t)round * 4096);

		CHECK(p != NULL);
		memset(p, round, size - (size_t)round * 4096);
		free(p);
	}
	faults = minor_faults() - before;
	CHECKF(faults < (long)pages, "%ld minor faults for 20 rounds of %zu pages", faults, pages);
}

TEST(calloc_of_a_reused_huge_block_reads_zero)
{
	unsigned char *p = malloc(12 * MiB), *q;
	size_t i;

	CHECK(p != NULL);
	memset(p, 0xff, 12 * MiB);
	free(p);
	q = calloc(1, 12 * MiB - 4096);
	CHECK(q != NULL);
	for (i = 0; i < 12 * MiB - 4096; i += 512)
		CHECKF(q[i] == 0, "byte %zu is %#x", i, q[i]);
	free(q);
}

TEST(freeing_huge_blocks_then_trim_returns_their_memory)
{
	struct mallinfo2 before, after;
	void *p[4];
	int i;

	malloc_trim(0);
	before = mallinfo2();
	for (i = 0; i < 4; i++) {
		p[i] = malloc(6 * MiB);
		CHECK(p[i] != NULL);
		memset(p[i], 1, 6 * MiB);
	}
	for (i = 0; i < 4; i++)
		free(p[i]);
	CHECK(malloc_trim(0) == 1);
	after = mallinfo2();
	CHECKF(after.arena + after.hblkhd <= before.arena + before.hblkhd,
	       "mapped %zu -> %zu", before.arena + before.hblkhd, after.arena + after.hblkhd);
}

static const struct tap_case cases[] = {
	TAP_CASE(malloc_is_served_by_sbmalloc)
	TAP_CASE(malloc_returns_16_byte_aligned_blocks_for_every_size)
	TAP_CASE(calloc_returns_16_byte_aligned_blocks_for_every_size)
	TAP_CASE(realloc_returns_16_byte_aligned_blocks_for_every_size)
	TAP_CASE(malloc_zero_returns_unique_freeable_pointers)
	TAP_CASE(usable_size_is_at_least_the_request_for_every_size)
	TAP_CASE(writing_the_whole_usable_size_leaves_neighbours_intact)
	TAP_CASE(calloc_zeroes_reused_dirty_small_blocks)
	TAP_CASE(calloc_zeroes_reused_dirty_page_blocks)
	TAP_CASE(calloc_zeroes_reused_dirty_huge_blocks)
	TAP_CASE(calloc_zeroes_memory_recycled_from_another_size)
	TAP_CASE(calloc_overflow_fails_with_enomem)
	TAP_CASE(malloc_of_impossible_size_fails_with_enomem)
	TAP_CASE(aligned_allocation_of_impossible_size_fails_with_enomem)
	TAP_CASE(realloc_to_impossible_size_fails_and_keeps_block)
	TAP_CASE(reallocarray_resizes_keeping_contents)
	TAP_CASE(reallocarray_overflow_fails_and_keeps_block)
	TAP_CASE(realloc_keeps_contents_within_a_size_class)
	TAP_CASE(realloc_keeps_contents_growing_through_every_size_class)
	TAP_CASE(realloc_keeps_contents_shrinking_through_every_size_class)
	TAP_CASE(realloc_keeps_contents_of_blocks_with_live_neighbours)
	TAP_CASE(realloc_resizes_page_blocks_keeping_contents)
	TAP_CASE(realloc_grows_huge_block_in_place)
	TAP_CASE(realloc_null_allocates_like_malloc)
	TAP_CASE(realloc_to_zero_frees_and_returns_null)
	TAP_CASE(posix_memalign_rejects_bad_alignment_with_einval)
	TAP_CASE(posix_memalign_aligns_every_power_of_two)
	TAP_CASE(posix_memalign_wastes_at_most_the_alignment)
	TAP_CASE(aligned_alloc_rejects_non_power_of_two_alignment)
	TAP_CASE(aligned_alloc_returns_aligned_blocks)
	TAP_CASE(memalign_rounds_non_power_of_two_alignment_up)
	TAP_CASE(memalign_returns_aligned_blocks)
	TAP_CASE(valloc_returns_page_aligned_blocks)
	TAP_CASE(pvalloc_rounds_up_to_whole_pages)
	TAP_CASE(free_sized_releases_blocks)
	TAP_CASE(free_aligned_sized_releases_blocks)
	TAP_CASE(malloc_trim_returns_freed_memory_to_the_os)
	TAP_CASE(freeing_a_gibibyte_returns_memory_to_the_os_without_trim)
	TAP_CASE(mallinfo2_counts_allocated_bytes)
	TAP_CASE(mallinfo2_stops_counting_freed_bytes)
	TAP_CASE(mallopt_accepts_arena_max_and_trim_threshold)
	TAP_CASE(mallopt_rejects_unknown_parameter)
	TAP_CASE(random_churn_keeps_every_live_object_intact)
	TAP_CASE(a_loop_of_huge_blocks_faults_each_page_in_once)
	TAP_CASE(calloc_of_a_reused_huge_block_reads_zero)
	TAP_CASE(freeing_huge_blocks_then_trim_returns_their_memory)
};

int main(int argc, char **argv)
{
	return tap_main_many(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
