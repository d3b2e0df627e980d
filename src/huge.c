/*
 * huge.c - huge blocks: allocations above SB_MAX_BLOCK_SIZE (4 MiB), each
 * in a mapping of its own.
 *
 * A huge block is aligned to SB_REGION_SIZE (or more, when asked), with
 * address space reserved up to the next region boundary, so realloc grows
 * it in place up to there and beyond by mremap, without copying.  Its
 * descriptor comes from the metadata allocator; the registry maps every
 * 32 MiB slot of its reservation to it.
 *
 * Freed blocks are kept, as the kernel's vmalloc keeps freed areas for
 * lazy purging: a free puts the mapping, pages and all, at the head of the
 * cache, and an allocation takes the cached block whose size is nearest to
 * the request and whose reservation holds it, growing it in place if it is
 * smaller, and keeping it whole if it is larger (its pages stay, ready for
 * the next larger request) as long as such slack of the live blocks stays
 * within SLACK_FACTOR x SBMALLOC_DIRTY_MAX (128 MiB by default), else
 * shrinking it (the tail's pages go back to the OS); so a program that
 * allocates and frees buffers of a few megabytes in a loop faults each
 * page in once, not on every round (measured on bench/workloads/large:
 * with a 64 MiB budget every round still faulted, 130,000 faults and
 * 0.46 s; with 128 MiB 50,000 and 0.19 s, tcmalloc's time, at 200 MiB of
 * peak RSS against its 228).  The cache holds at most CACHE_BLOCKS blocks
 * and CACHE_FACTOR x SBMALLOC_DIRTY_MAX bytes (the buddy allocator's hard
 * limit on dirty memory); beyond that the oldest go at once.  A block unused in the cache
 * for DECAY_MS is unmapped at the next huge allocation or free, and
 * malloc_trim() unmaps them all: a program that frees a gigabyte sees its
 * RSS fall.  A cached block stays in the registry, so a free of it is
 * still a double free; its entries become tombstones when it is unmapped.
 *
 * Lock: huge_lock protects the lists of live and cached blocks, the
 * counters and the registry's huge entries.  System calls are made with it
 * dropped.  Lock order: fork.c.
 */
#include "huge.h"
#include "config.h"
#include "meta.h"
#include "os.h"
#include "registry.h"

#include <pthread.h>
#include <string.h>
#include <time.h>

#define CACHE_BLOCKS 8
#define DECAY_MS 1000
#define CACHE_FACTOR 4			/* cached bytes: 4 x SBMALLOC_DIRTY_MAX */
#define SLACK_FACTOR 8			/* live blocks' slack: 8 x SBMALLOC_DIRTY_MAX */

enum huge_state { HUGE_LIVE, HUGE_CACHED };

struct sb_huge {
	char *base;			/* aligned to SB_REGION_SIZE at least */
	size_t size;			/* bytes readable and writable */
	size_t reserved;		/* bytes of address space held (>= size) */
	enum sb_backing backing;
	enum huge_state state;
	size_t asked;			/* HUGE_LIVE: bytes asked for (size - asked: slack) */
	uint64_t cached_ms;		/* HUGE_CACHED: when it was freed */
	struct sb_huge *next, *prev;	/* live_list or cache_list */
};

struct huge_list {
	struct sb_huge *first, *last;
};

static pthread_mutex_t huge_lock = PTHREAD_MUTEX_INITIALIZER;
static struct huge_list live_list, cache_list;	/* cache: newest first */
static size_t huge_count, huge_bytes, huge_total;
static size_t cached_count, cached_bytes;
static size_t slack_bytes;		/* live blocks' size beyond what was asked */
static uint64_t reused;

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static size_t huge_len(size_t size, enum sb_backing backing)
{
	return sb_align_up(size, backing == SB_BACKING_HUGETLB ? SB_HUGE_PAGE_SIZE : SB_PAGE_SIZE);
}

static void huge_list_add(struct huge_list *l, struct sb_huge *h)
{
	h->prev = NULL;
	h->next = l->first;
	if (l->first)
		l->first->prev = h;
	else
		l->last = h;
	l->first = h;
}

static void huge_list_del(struct huge_list *l, struct sb_huge *h)
{
	if (h->prev)
		h->prev->next = h->next;
	else
		l->first = h->next;
	if (h->next)
		h->next->prev = h->prev;
	else
		l->last = h->prev;
}

/* The size of h changes to len; huge_lock held. */
static void set_size(struct sb_huge *h, size_t len)
{
	if (h->state == HUGE_LIVE)
		sb_write_once(huge_bytes, huge_bytes + len - h->size);
	else
		sb_write_once(cached_bytes, cached_bytes + len - h->size);
	sb_os_note_mapped((long)len - (long)h->size);
	h->size = len;
}

/* Resize h's committed part in place, within its reservation. */
static bool resize_in_place(struct sb_huge *h, size_t len)
{
	if (len > h->size)
		return sb_os_commit_more(h->base + h->size, len - h->size, h->backing);
	if (len < h->size)
		/* Our own range (2 MiB multiples for hugetlb): replace in place. */
		return sb_os_decommit(h->base + len, h->size - len);
	return true;
}

/* ---- The cache of freed blocks ------------------------------------------ */

/* Take the cached blocks that must go (too old, or beyond the limits) off
 * the cache, as a chain through `next`; huge_lock held. */
static struct sb_huge *cache_expire(uint64_t now, bool all)
{
	size_t max_bytes = CACHE_FACTOR * sb_config_dirty_max();
	struct sb_huge *out = NULL, *h;

	while ((h = cache_list.last) != NULL &&
	       (all || cached_count > CACHE_BLOCKS || cached_bytes > max_bytes ||
		now - h->cached_ms >= DECAY_MS)) {
		huge_list_del(&cache_list, h);
		sb_write_once(cached_count, cached_count - 1);
		sb_write_once(cached_bytes, cached_bytes - h->size);
		sb_os_note_mapped(-(long)h->size);
		sb_registry_bury_huge(h->base, h->reserved);
		h->next = out;
		out = h;
	}
	return out;
}

/* Unmap a chain of blocks cache_expire() took; huge_lock not held. */
static void release(struct sb_huge *chain)
{
	while (chain != NULL) {
		struct sb_huge *h = chain;

		chain = h->next;
		sb_os_unmap(h->base, h->reserved);
		sb_meta_free(h, sizeof(*h));
	}
}

/*
 * The cached block nearest in size to len that can hold it (reservation
 * and alignment), off the cache; NULL if none.  huge_lock held.
 */
static struct sb_huge *cache_take(size_t len, size_t align)
{
	struct sb_huge *h, *best = NULL;
	size_t best_gap = SIZE_MAX, gap;

	for (h = cache_list.first; h != NULL; h = h->next) {
		if (h->reserved < len || ((uintptr_t)h->base & (align - 1)) != 0 ||
		    (h->backing == SB_BACKING_HUGETLB && h->size < len))
			continue;
		gap = h->size > len ? h->size - len : len - h->size;
		if (gap < best_gap) {
			best = h;
			best_gap = gap;
		}
	}
	if (best != NULL) {
		huge_list_del(&cache_list, best);
		sb_write_once(cached_count, cached_count - 1);
		sb_write_once(cached_bytes, cached_bytes - best->size);
		sb_write_once(huge_bytes, huge_bytes + best->size);
		best->state = HUGE_LIVE;
		huge_list_add(&live_list, best);
		sb_write_once(huge_count, huge_count + 1);
		sb_write_once(reused, reused + 1);
	}
	return best;
}

/* A cached block for len bytes, resized to them; NULL if none fits. */
static struct sb_huge *reuse(size_t len, size_t align, bool zero)
{
	struct sb_huge *h, *expired;
	size_t old;
	bool keep;

	pthread_mutex_lock(&huge_lock);
	expired = cache_expire(now_ms(), false);
	h = cache_take(len, align);
	pthread_mutex_unlock(&huge_lock);
	release(expired);
	if (h == NULL)
		return NULL;
	old = h->size;
	pthread_mutex_lock(&huge_lock);
	keep = len <= old && slack_bytes + (old - len) <= SLACK_FACTOR * sb_config_dirty_max();
	if (keep)
		sb_write_once(slack_bytes, slack_bytes + (old - len));
	pthread_mutex_unlock(&huge_lock);
	/* Larger: grown in place; smaller: kept whole within the slack budget,
	 * else the tail's pages given back. */
	if (!keep && h->backing != SB_BACKING_HUGETLB && resize_in_place(h, len)) {
		pthread_mutex_lock(&huge_lock);
		set_size(h, len);
		pthread_mutex_unlock(&huge_lock);
	}
	h->asked = len <= h->size ? len : h->size;
	if (zero)
		memset(h->base, 0, old < h->size ? old : h->size);	/* new pages read zero */
	return h;
}

/* ---- Allocation and free ----------------------------------------------- */

struct sb_huge *sb_huge_alloc(size_t size, size_t align, bool zero)
{
	struct sb_huge *h;
	size_t len, reserved;
	char *base;

	if (size > ((size_t)1 << SB_ADDR_BITS) / 4 || align > ((size_t)1 << 40))
		return NULL;
	if (align < SB_REGION_SIZE)
		align = SB_REGION_SIZE;
	len = sb_align_up(size, SB_PAGE_SIZE);
	if ((h = reuse(len, align, zero)) != NULL)
		return h;
	h = sb_meta_alloc(sizeof(*h));
	if (h == NULL)
		return NULL;
	reserved = sb_align_up(len, SB_REGION_SIZE);
	base = sb_os_reserve_aligned(reserved, align);
	if (base == NULL) {
		sb_meta_free(h, sizeof(*h));
		return NULL;
	}
	if (!sb_os_commit(base, len, SB_OS_HUGE_BLOCK, &h->backing)) {
		if (reserved > len)
			sb_os_unmap(base + len, reserved - len);
		sb_meta_free(h, sizeof(*h));
		return NULL;
	}
	h->base = base;
	h->reserved = reserved;
	h->state = HUGE_LIVE;
	h->asked = len;
	pthread_mutex_lock(&huge_lock);
	sb_registry_set_huge(base, reserved, h);
	huge_list_add(&live_list, h);
	sb_write_once(huge_count, huge_count + 1);
	sb_write_once(huge_total, huge_total + 1);
	set_size(h, len);
	pthread_mutex_unlock(&huge_lock);
	return h;
}

void sb_huge_free(struct sb_huge *h)
{
	struct sb_huge *expired;
	uint64_t now = now_ms();

	pthread_mutex_lock(&huge_lock);
	SB_ASSERT(h->state == HUGE_LIVE);
	sb_write_once(slack_bytes, slack_bytes - (h->size - h->asked));
	huge_list_del(&live_list, h);
	sb_write_once(huge_count, huge_count - 1);
	sb_write_once(huge_bytes, huge_bytes - h->size);
	sb_write_once(cached_bytes, cached_bytes + h->size);
	sb_write_once(cached_count, cached_count + 1);
	h->state = HUGE_CACHED;
	h->cached_ms = now;
	huge_list_add(&cache_list, h);
	expired = cache_expire(now, false);
	pthread_mutex_unlock(&huge_lock);
	release(expired);
}

size_t sb_huge_trim(void)
{
	struct sb_huge *expired, *h;
	size_t bytes = 0;

	pthread_mutex_lock(&huge_lock);
	expired = cache_expire(0, true);
	pthread_mutex_unlock(&huge_lock);
	for (h = expired; h != NULL; h = h->next)
		bytes += h->size;
	release(expired);
	return bytes;
}

bool sb_huge_resize(struct sb_huge *h, size_t size)
{
	size_t len = huge_len(size, h->backing), reserved, old_size, old_reserved;
	char *base, *old;

	if (len <= h->reserved) {
		if (!resize_in_place(h, len))
			return false;
		pthread_mutex_lock(&huge_lock);
		sb_write_once(slack_bytes, slack_bytes - (h->size - h->asked));
		set_size(h, len);
		h->asked = len;
		pthread_mutex_unlock(&huge_lock);
		return true;
	}
	if (h->backing == SB_BACKING_HUGETLB)
		return false;
	reserved = sb_align_up(len, SB_REGION_SIZE);
	base = sb_os_reserve_aligned(reserved, SB_REGION_SIZE);
	if (base == NULL)
		return false;
	if (!sb_os_move(h->base, h->size, base, len)) {
		sb_os_unmap(base, reserved);
		return false;
	}
	old = h->base;
	old_size = h->size;
	old_reserved = h->reserved;
	pthread_mutex_lock(&huge_lock);
	sb_write_once(slack_bytes, slack_bytes - (h->size - h->asked));
	h->asked = len;
	sb_registry_bury_huge(old, old_reserved);
	sb_registry_set_huge(base, reserved, h);
	h->base = base;
	h->reserved = reserved;
	set_size(h, len);
	pthread_mutex_unlock(&huge_lock);
	sb_os_unmap(old + old_size, old_reserved - old_size);
	return true;
}

/* ---- Accessors, counters, fork ---------------------------------------- */

void *sb_huge_base(const struct sb_huge *h)
{
	return h->base;
}

size_t sb_huge_size(const struct sb_huge *h)
{
	return h->size;
}

size_t sb_huge_reserved(const struct sb_huge *h)
{
	return h->reserved;
}

enum sb_backing sb_huge_backing(const struct sb_huge *h)
{
	return h->backing;
}

bool sb_huge_is_live(const struct sb_huge *h)
{
	return sb_read_once(h->state) == HUGE_LIVE;
}

void sb_huge_counters(struct sb_huge_counters *out, bool locked)
{
	if (locked)
		pthread_mutex_lock(&huge_lock);
	out->count = sb_read_once(huge_count);
	out->total = sb_read_once(huge_total);
	out->bytes = sb_read_once(huge_bytes);
	out->cached_count = sb_read_once(cached_count);
	out->cached_bytes = sb_read_once(cached_bytes);
	out->reused = sb_read_once(reused);
	if (locked)
		pthread_mutex_unlock(&huge_lock);
}

size_t sb_huge_resident(void)
{
	const struct huge_list *lists[2] = { &live_list, &cache_list };
	struct sb_huge *h;
	size_t bytes = 0;
	unsigned i;

	pthread_mutex_lock(&huge_lock);
	for (i = 0; i < 2; i++)
		for (h = lists[i]->first; h != NULL; h = h->next)
			bytes += sb_os_resident(h->base, h->size);
	pthread_mutex_unlock(&huge_lock);
	return bytes;
}

void sb_huge_fork_prepare(void)
{
	pthread_mutex_lock(&huge_lock);
}

void sb_huge_fork_parent(void)
{
	pthread_mutex_unlock(&huge_lock);
}

/*
 * In a forked child, hugetlb blocks are replaced by ordinary copies: a
 * MAP_PRIVATE hugetlb page shared with the parent is copied on write from
 * the free pool, and when the pool is empty the child gets SIGBUS.
 */
void sb_huge_fork_child(void)
{
	const struct huge_list *lists[2] = { &live_list, &cache_list };
	struct sb_huge *h;
	unsigned i;

	for (i = 0; i < 2; i++)
		for (h = lists[i]->first; h != NULL; h = h->next)
			if (h->backing == SB_BACKING_HUGETLB &&
			    sb_os_rebase_to_4k(h->base, h->size, NULL))
				h->backing = SB_BACKING_4K;
	pthread_mutex_unlock(&huge_lock);
}
