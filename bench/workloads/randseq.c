/*
 * randseq.c - a random sequence of malloc, calloc, realloc and free over
 * every size from 8 bytes to 64 MiB: what the allocator's way of getting
 * and returning pages costs in page faults and system time.
 *
 *   randseq [KOPS] [SLOTS] [MAX_MIB]
 *
 * KOPS thousand operations (default 300) on SLOTS slots (default 256), one
 * thread, fixed seed.  Each operation picks a slot at random: an empty one
 * gets a malloc (2 in 3) or a calloc (1 in 3), a full one a free or a
 * realloc (1 in 2 each).  Every size, of malloc, calloc and realloc alike,
 * is log-uniform from 8 bytes to MAX_MIB MiB (default 64): as many blocks of
 * 8-16 bytes as of 32-64 MiB.  Every block is filled and checked: blocks of
 * up to 4 KiB byte by byte (fill/verify of common.h), bigger ones by one
 * word in each of 16 pages spread evenly over the block, first and last
 * included (so that the cost is the allocator's and the kernel's, not
 * memset's).  A calloc'ed block is checked to be zero there first; after a
 * realloc the words of the old contents that the new size still holds are
 * checked, then the block is filled to its new size.  A block is checked
 * before it is freed or reallocated, and the slots still full at the end
 * are checked and freed.  What it measures is mostly the kernel's share:
 * an allocator that unmaps and maps again, or purges pages it will reuse
 * at once, pays in minor faults and system time (see the minor faults and
 * system time tables of docs/benchmarks.md).
 *
 * Prints: randseq ops=N mallocs=M callocs=C reallocs=R frees=F seconds=S
 *         check=HEX
 */
#include "common.h"

#include <math.h>

#define SMALL 4096		/* up to this size a block is filled byte by byte */
#define SAMPLES 16		/* pages written in a bigger block */

typedef struct {
	char *p;
	size_t size;
	uint64_t tag;
} slot_t;

static double log2_max;

static double unit(rng_t *r)
{
	return (double)(rng_next(r) >> 11) * 0x1p-53;
}

static size_t log_uniform(rng_t *r)
{
	return (size_t)exp2(3.0 + unit(r) * (log2_max - 3.0));
}

/* The i-th sampled page (i < SAMPLES) of a block of n > SMALL bytes. */
static size_t sample_page(size_t n, int i)
{
	size_t pages = (n - 8) / TOUCH_PAGE + 1;	/* pages with room for a word */

	return (size_t)i * (pages - 1) / (SAMPLES - 1);
}

static void put_words(char *p, size_t n, uint64_t tag)
{
	int i;

	for (i = 0; i < SAMPLES; i++) {
		size_t pg = sample_page(n, i);
		uint64_t w = page_word(tag, pg);

		memcpy(p + pg * TOUCH_PAGE, &w, sizeof w);
	}
}

/* Whether the sampled words of a block of n bytes that lie in its first
 * `within` bytes hold their pattern (zero: `zero`). */
static int words_ok(const char *p, size_t n, size_t within, uint64_t tag, int zero)
{
	int i;

	for (i = 0; i < SAMPLES; i++) {
		size_t pg = sample_page(n, i);
		uint64_t w;

		if (pg * TOUCH_PAGE + 8 > within)
			continue;
		memcpy(&w, p + pg * TOUCH_PAGE, sizeof w);
		if (w != (zero ? 0 : page_word(tag, pg)))
			return 0;
	}
	return 1;
}

static void fill_block(slot_t *s)
{
	if (s->size <= SMALL)
		fill(s->p, s->size, s->tag);
	else
		put_words(s->p, s->size, s->tag);
}

static void check_block(const char *what, const slot_t *s)
{
	if (s->size <= SMALL ? !verify(s->p, s->size, s->tag)
			     : !words_ok(s->p, s->size, s->size, s->tag, 0))
		corrupt(what, s->p, s->size, s->tag);
}

static void check_zero(const slot_t *s)
{
	size_t i;

	if (s->size > SMALL) {
		if (!words_ok(s->p, s->size, s->size, 0, 1) || s->p[s->size - 1] != 0)
			corrupt("randseq (calloc not zero)", s->p, s->size, 0);
		return;
	}
	for (i = 0; i < s->size; i++)
		if (s->p[i] != 0)
			corrupt("randseq (calloc not zero)", s->p, s->size, 0);
}

/* After realloc from old to s->size bytes: what the new size still holds
 * of the old contents. */
static void check_kept(const slot_t *s, size_t old)
{
	size_t keep = old < s->size ? old : s->size;
	const unsigned char *c = (const unsigned char *)s->p;
	uint64_t w;
	int ok;

	if (old > SMALL) {
		ok = words_ok(s->p, old, keep, s->tag, 0);
	} else {
		memcpy(&w, c, sizeof w);
		ok = w == s->tag && (keep <= 8 || (c[keep - 1] == tag_byte(s->tag) &&
						   c[8 + (keep - 8) / 2] == tag_byte(s->tag)));
	}
	if (!ok)
		corrupt("randseq (realloc lost the contents)", s->p, s->size, s->tag);
}

int main(int argc, char **argv)
{
	long ops = arg_long(argc, argv, 1, 300) * 1000;
	long nslots = arg_long(argc, argv, 2, 256);
	long max_mib = arg_long(argc, argv, 3, 64);
	long i, mallocs = 0, callocs = 0, reallocs = 0, frees = 0;
	uint64_t check = 0;
	slot_t *slots;
	double t0;
	rng_t r;

	log2_max = log2((double)max_mib) + 20.0;
	slots = calloc((size_t)nslots, sizeof *slots);
	if (slots == NULL)
		die("randseq: out of memory");
	rng_seed(&r, 5);
	t0 = now_sec();
	for (i = 0; i < ops; i++) {
		slot_t *s = &slots[rng_below(&r, (uint32_t)nslots)];

		if (s->p == NULL) {
			s->size = log_uniform(&r);
			s->tag = splitmix64((uint64_t)i);
			if (rng_below(&r, 3) == 0) {
				s->p = calloc(1, s->size);
				if (s->p == NULL)
					die("calloc(1, %zu) failed", s->size);
				check_zero(s);
				callocs++;
			} else {
				s->p = xmalloc(s->size);
				mallocs++;
			}
			fill_block(s);
		} else if (rng_below(&r, 2) == 0) {
			check_block("randseq (free)", s);
			check += s->tag ^ s->size;
			free(s->p);
			s->p = NULL;
			frees++;
		} else {
			size_t old = s->size;
			char *q;

			check_block("randseq (realloc)", s);
			s->size = log_uniform(&r);
			q = realloc(s->p, s->size);
			if (q == NULL)
				die("realloc(%zu) failed", s->size);
			s->p = q;
			check_kept(s, old);
			fill_block(s);
			check += old ^ s->size;
			reallocs++;
		}
	}
	for (i = 0; i < nslots; i++)
		if (slots[i].p) {
			check_block("randseq (final)", &slots[i]);
			check += slots[i].tag ^ slots[i].size;
			free(slots[i].p);
		}
	printf("randseq ops=%ld mallocs=%ld callocs=%ld reallocs=%ld frees=%ld seconds=%.3f "
	       "check=%016" PRIx64 "\n",
	       ops, mallocs, callocs, reallocs, frees, now_sec() - t0, check);
	free(slots);
	return 0;
}
