/*
 * malloc.c - the malloc family: sbmalloc's public face, on top of every
 * layer.
 *
 * Where a request goes:
 *   size <= 16 KiB           the thread's magazine for its size class
 *                            (tcache.c), behind it the depot and the slab
 *                            cache of the class (depot.c, slab.c)
 *   size <= 4 MiB            whole pages: the thread's page lists up to
 *                            64 KiB (pcp.c), else the buddy allocator
 *   larger                   a mapping of its own (huge.c)
 * Aligned requests take the first size class whose objects are naturally
 * aligned enough, or a buddy block of at least the alignment's order (buddy
 * blocks are aligned to their size), or an aligned mapping.
 *
 * Where a pointer comes from: its page descriptor (sb_page_of, through the
 * registry) says slab page, head of an allocated block, or neither; a
 * pointer in no region may be a huge block's.  A pointer that is not the
 * start of a live object stops the program with a message naming the
 * function, as glibc does; nothing is written to the heap first.
 *
 * This is the API boundary: errno is set here and nowhere below, and every
 * call down carries the name of the public function, for reports.
 *
 * Interposition: every public name is an alias of one internal function
 * (no wrapper frame), including glibc's own entry points (__libc_malloc and
 * friends), so that memory glibc allocates internally also comes from here.
 *
 * The fast paths, inline here: malloc of up to 16 KiB is a table lookup of
 * the class and a pop from the loaded magazine (14 instructions); free is
 * the slab map of the zone of the thread's last free (tcache.h), a check
 * that the pointer starts an object of its slab (one multiply, slab.h), a
 * check of the free mark (key.h), the owner compared and a push (27).  No
 * lock, no atomic operation, no call.  A miss first tries the bin's other
 * magazine; everything else is out of line.
 *
 * No state and no lock of its own.
 */
#include "buddy.h"
#include "config.h"
#include "counters.h"
#include "guard.h"
#include "huge.h"
#include "impl.h"
#include "cache.h"
#include "init.h"
#include "key.h"
#include "pcp.h"
#include "reclaim.h"
#include "registry.h"
#include "sizeclass.h"
#include "slab.h"
#include "stats.h"
#include "tcache.h"

#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SB_ALIAS(target) __attribute__((alias(#target), used, visibility("default")))

/* ---- Allocation -------------------------------------------------------- */

static inline void *alloc_small(unsigned cls, const char *func)
{
	void *p;

	if (sb_unlikely(!sb_tc_pop(cls, &p)) && (p = sb_tc_alloc_slow(cls, func)) == NULL)
		return NULL;
	sb_key_mark_live(p);
	return p;
}

/*
 * Whole pages, npages <= SB_MAX_BLOCK_PAGES: the thread's page lists,
 * refilled in batches (pcp.c), else the buddy allocator.  lists_tried:
 * the caller found the list of npages empty just now.
 */
static void *alloc_pages(size_t npages, size_t align, bool lists_tried)
{
	struct sb_pcp *pcp;
	void *p;

	if (align <= SB_PAGE_SIZE && (pcp = sb_tc_pcp()) != NULL) {
		if (lists_tried || npages > SB_PCP_FAST_PAGES || !sb_pcp_pop(pcp, npages, &p)) {
			if ((p = sb_pcp_alloc(pcp, npages)) == NULL)
				return NULL;
			sb_count(SB_EV_MALLOC_BUDDY, 1);
			sb_count(SB_EV_HANDED_OUT, npages << SB_PAGE_SHIFT);
		}	/* else counted by the lists */
		sb_key_mark_live(p);	/* it may hold the key of an earlier life */
		return p;
	}
	p = sb_buddy_alloc(npages, align > SB_PAGE_SIZE ? align >> SB_PAGE_SHIFT : 1);
	if (p == NULL)
		return NULL;
	sb_count(SB_EV_MALLOC_BUDDY, 1);
	sb_count(SB_EV_HANDED_OUT, (size_t)sb_page_block_pages(sb_page_of(p)) << SB_PAGE_SHIFT);
	sb_key_mark_live(p);	/* the block may hold the key of an earlier life */
	return p;
}

/* Above SB_MAX_BLOCK_SIZE: a mapping of its own (zero: reading zero). */
static void *alloc_huge(size_t size, size_t align, bool zero)
{
	struct sb_huge *h = sb_huge_alloc(size, align, zero);

	if (h == NULL)
		return NULL;
	sb_count(SB_EV_MALLOC_HUGE, 1);
	sb_count(SB_EV_HANDED_OUT, sb_huge_size(h));
	return sb_huge_base(h);
}

/* Pages or a mapping for size bytes aligned to align; NULL with ENOMEM.
 * zero: a mapping must read zero (calloc zeroes page blocks itself). */
static SB_NOINLINE void *alloc_big(size_t size, size_t align, bool lists_tried, bool zero)
{
	void *p = NULL;

	if (sb_likely(size <= PTRDIFF_MAX)) {
		sb_ensure_init();
		if (size <= SB_MAX_BLOCK_SIZE && align <= SB_MAX_BLOCK_SIZE)
			p = alloc_pages(sb_pages_of(size), align, lists_tried);
		else
			p = alloc_huge(size, align, zero);
	}
	if (p == NULL)
		errno = ENOMEM;
	return p;
}

/* Every allocation that missed the fast paths; NULL with ENOMEM. */
static SB_NOINLINE void *alloc_slow(size_t size, bool lists_tried, bool zero, const char *func)
{
	void *p;

	sb_ensure_init();
	if (size <= SB_GUARD_MAX_SIZE && sb_guard_due() &&
	    (p = sb_guard_alloc(sb_config.check ? size : sb_class_size(sb_size_class(size)))) != NULL) {
		/* sampled: a guarded slot (guard.c), as large as the class (under
		 * SBMALLOC_CHECK as the size asked for, as every object is then) */
		sb_count(SB_EV_MALLOC_GUARD, 1);
		sb_count(SB_EV_HANDED_OUT, sb_guard_size(p, func));
	} else if (size <= SB_SMALL_MAX) {
		p = alloc_small(sb_size_class(size), func);
		if (p == NULL)
			errno = ENOMEM;
		else if (sb_unlikely(sb_config.check))
			sb_slab_debug_alloc(p, size, func);
	} else {
		p = alloc_big(size, 0, lists_tried, zero);
	}
	return p;
}

/*
 * A miss of the malloc fast path: small objects first come from the
 * bin's previous magazine, page blocks from the thread's page lists.
 */
static SB_NOINLINE void *malloc_miss_small(size_t size)
{
	void *p = NULL;

	if (!sb_guard_due())	/* a sample is taken in alloc_slow */
		p = sb_tc_pop_swapping(sb_class_lookup[(size + 15) >> 4]);
	if (p == NULL)
		return alloc_slow(size, false, false, "malloc");
	sb_key_mark_live(p);
	return p;
}

static SB_NOINLINE void *malloc_miss(size_t size)
{
	size_t npages = sb_pages_of(size);
	void *p;

	if (size <= SB_SMALL_MAX)
		return malloc_miss_small(size);
	if (npages <= SB_PCP_FAST_PAGES && sb_pcp_pop(sb_tc_pcp_front(), npages, &p)) {
		sb_key_mark_live(p);
		return p;
	}
	return alloc_slow(size, true, false, "malloc");
}

/* A calloc the fast path did not serve: zeroed memory or NULL. */
static SB_NOINLINE void *calloc_miss(size_t size)
{
	void *p = alloc_slow(size, false, true, "calloc");

	if (sb_unlikely(p == NULL))
		return NULL;
	sb_count(SB_EV_CALLOC, 1);
	if (sb_unlikely(size > SB_MAX_BLOCK_SIZE))
		return p;	/* huge.c zeroed a reused block; a fresh one reads zero */
	return memset(p, 0, size);
}

/* The pop of the malloc fast path: the loaded magazine of size's bin (the
 * thread cache's own table up to SB_DIRECT_MAX, the class table above);
 * false when size is not small or the magazine is empty.  The object
 * still holds the free key. */
static SB_ALWAYS_INLINE bool pop_fast(size_t size, void **out)
{
	if (sb_likely(size <= SB_DIRECT_MAX))
		return sb_likely(sb_tc_pop_direct(size, out));
	return size <= SB_SMALL_MAX && sb_tc_pop_at(sb_class_lookup[(size + 15) >> 4], out);
}

/* The malloc fast path: a class lookup, a pop, the key cleared. */
static SB_ALWAYS_INLINE bool alloc_fast(size_t size, void **out)
{
	if (sb_unlikely(!pop_fast(size, out)))
		return false;
	sb_key_mark_live(*out);
	return true;
}

static inline void *sb_alloc(size_t size)
{
	void *p;

	return alloc_fast(size, &p) ? p : malloc_miss(size);
}

static void *alloc_aligned(size_t align, size_t size, const char *func)
{
	size_t rounded;
	unsigned cls;
	void *p;

	if (align <= SB_PAGE_SIZE && size <= SB_SMALL_MAX) {
		rounded = sb_align_up(size ? size : 1, align);
		if (rounded <= SB_SMALL_MAX) {
			for (cls = sb_size_class(rounded); cls < SB_NR_CLASSES; cls++)
				if (sb_class_align(cls) >= align) {
					p = alloc_small(cls, func);
					if (p == NULL)
						errno = ENOMEM;
					else if (sb_unlikely(sb_config.check))
						sb_slab_debug_alloc(p, size, func);
					return p;
				}
		}
	}
	return alloc_big(size ? size : 1, align, false, false);
}

static void *sb_alloc_aligned(size_t align, size_t size, const char *func)
{
	void *p;

	if (align <= SB_ALIGNMENT)
		return sb_alloc(size);
	sb_ensure_init();
	p = alloc_aligned(align, size, func);
	if (p != NULL)
		sb_count(SB_EV_ALIGNED, 1);
	return p;
}

/* ---- Finding a pointer's block ---------------------------------------- */

enum sb_kind { SB_KIND_SLAB, SB_KIND_BLOCK, SB_KIND_HUGE, SB_KIND_GUARD };

struct sb_block {
	enum sb_kind kind;
	struct sb_page *page;
	struct sb_huge *huge;
};

/*
 * Classify p, a pointer the caller says we handed out; abort, naming func,
 * if it is not the start of a live object or block.
 */
static void find_block(const void *p, const char *func, struct sb_block *b)
{
	struct sb_page *pg = sb_page_of(p);

	if (sb_likely(pg != NULL)) {
		b->page = pg;
		switch (sb_page_classify(pg, p)) {
		case SB_PTR_SLAB:
			if (sb_unlikely(!sb_slab_is_object(sb_page_slab(pg), p)))
				break;
			b->kind = SB_KIND_SLAB;
			return;
		case SB_PTR_BLOCK:
			b->kind = SB_KIND_BLOCK;
			return;
		case SB_PTR_FREED:
			sb_fatal_pointer(func, "double free", p);
		case SB_PTR_INVALID:
			break;
		}
		sb_fatal_pointer(func, "invalid pointer", p);
	}
	if (sb_guard_owns(p)) {
		b->kind = SB_KIND_GUARD;	/* guard.c checks the pointer */
		return;
	}
	b->huge = sb_registry_huge(p);
	if (sb_unlikely(b->huge == NULL || p != sb_huge_base(b->huge)))
		sb_fatal_pointer(func, sb_registry_freed_huge(p) ? "double free" : "invalid pointer", p);
	if (sb_unlikely(!sb_huge_is_live(b->huge)))
		sb_fatal_pointer(func, "double free", p);	/* in the cache of freed blocks */
	b->kind = SB_KIND_HUGE;
}

static inline size_t block_usable(const struct sb_block *b, const void *p, const char *func)
{
	size_t n;

	switch (b->kind) {
	case SB_KIND_SLAB:
		if (sb_unlikely(sb_config.check) && (n = sb_slab_debug_usable(p)) != SIZE_MAX)
			return n;
		return sb_slab_size(sb_slab_cache_of(sb_page_slab(b->page)));
	case SB_KIND_BLOCK:
		return (size_t)sb_page_block_pages(b->page) << SB_PAGE_SHIFT;
	case SB_KIND_GUARD:
		return sb_guard_size(p, func);
	default:
		return sb_huge_size(b->huge);
	}
}

static SB_NOINLINE void free_slow(void *p, const char *func)
{
	struct sb_block b;
	struct sb_pcp *pcp;
	unsigned bin;
	uint32_t n;

	if (p == NULL)
		return;
	find_block(p, func, &b);
	switch (b.kind) {
	case SB_KIND_SLAB:
		if (sb_unlikely(sb_config.check))
			sb_slab_debug_free(p, func);
		bin = sb_page_bin(b.page);
		if (bin < SB_NR_BINS)
			sb_cache_object_back(bin, sb_page_slab(b.page), p, func);
		else	/* a cache outside the bins (the unit tests make them) */
			sb_slab_free_batch(sb_slab_cache_of(sb_page_slab(b.page)), &p, 1, func);
		return;
	case SB_KIND_BLOCK:
		if (sb_unlikely(sb_key_says_free(p)) && sb_tc_block_is_cached(p))
			sb_fatal_pointer(func, "double free", p);
		n = sb_page_block_pages(b.page);
		pcp = sb_tc_pcp();
		if (pcp != NULL && sb_page_block_owner(b.page) == pcp && n <= SB_PCP_FAST_PAGES &&
		    sb_pcp_push(pcp, n, p)) {
			sb_key_mark_free(p);
			return;
		}
		sb_count(SB_EV_FREE_BUDDY, 1);
		if (pcp == NULL) {
			sb_buddy_free(p, func);
		} else if (sb_page_block_owner(b.page) != pcp) {
			sb_key_mark_free(p);
			sb_pcp_free_remote(pcp, p, func);	/* home, in batches */
		} else if (sb_pcp_free(pcp, n, p, func)) {
			sb_key_mark_free(p);		/* kept in the lists */
		}
		return;
	case SB_KIND_HUGE:
		sb_count(SB_EV_FREE_HUGE, 1);
		sb_huge_free(b.huge);
		return;
	case SB_KIND_GUARD:
		sb_count(SB_EV_FREE_GUARD, 1);
		sb_guard_free(p, func);
		return;
	}
}

static size_t usable_size(void *p, const char *func)
{
	struct sb_block b;

	find_block(p, func, &b);
	return block_usable(&b, p, func);
}

/* p's size-class entry if p starts an object of a size class, else NULL;
 * its page in *pgp. */
static inline const struct sb_class_info *small_object(const void *p, const struct sb_page **pgp)
{
	const struct sb_page *pg = sb_page_of(p);

	if (sb_unlikely(pg == NULL || sb_page_state(pg) != SB_PAGE_SLAB))
		return NULL;
	*pgp = pg;
	return sb_class_object(pg, p);
}

/* The object is another thread's (or its magazine is full, or the thread
 * has no cache yet): the slow paths decide (sb_tc_free_other).  e is its slab map
 * entry. */
static SB_NOINLINE void free_small_slow(void *p, const struct sb_slab_ref *e, const char *func)
{
	unsigned bin = e->bin_off >> SB_BIN_SHIFT;

	if ((sb_tc_of_token(e->owner) == sb_tc || !e->frees_go_home) &&
	    sb_tc_push_swapping(e->bin_off, p))
		return;
	/* The owner read again: it may have changed since, either is fine. */
	if (e->frees_go_home)
		sb_tc_free_other(bin, p, e->owner, func);
	else
		sb_tc_free_slow(bin, p, func);
}

/*
 * Mark p, a live object of the slab whose map entry is e, free, and push
 * it onto this thread's magazine if its slab is this thread's or its
 * objects are too large to share cache lines (slab.h, SB_HOME_MAX), else
 * onto its remote magazine; the rest goes through free_small_slow().
 */
static inline void push_object(const struct sb_slab_ref *e, void *p, const char *func)
{
	struct sb_tcache *tc = sb_tc;
	struct sb_bin *owner_bin = (struct sb_bin *)e->owner;	/* read racily */

	sb_key_mark_free(p);
	if (sb_likely(owner_bin->tc == tc)) {
		if (sb_likely(sb_bin_push(owner_bin, p)))	/* the owner's bin is ours */
			return;
	} else if (!e->frees_go_home) {
		if (sb_tc_push_at(tc, e->bin_off, p))
			return;
	} else if (sb_tc_push_remote_at(tc, e->bin_off, p)) {
		return;
	}
	free_small_slow(p, e, func);
}

/* p, an object of the slab whose map entry is e, holds the free key: a
 * double free, or data that matches it (then the free goes on). */
static SB_NOINLINE void free_suspect(void *p, const struct sb_slab_ref *e, const char *func)
{
	sb_tc_check_suspect(e->bin_off >> SB_BIN_SHIFT, p, func);
	push_object(e, p, func);
}
/*
 * free of a pointer whose page descriptor pg is not a slab page: the common
 * case is a page block of up to 64 KiB, kept in the thread's page lists
 * after a look at the descriptor; the rest goes to free_slow().
 */
static SB_NOINLINE void free_page(struct sb_page *pg, void *p, const char *func)
{
	uint32_t n = sb_page_block_pages(pg);
	struct sb_pcp *pcp;

	if (sb_page_state(pg) == SB_PAGE_BLOCK && n <= SB_PCP_FAST_PAGES &&
	    ((uintptr_t)p & (SB_PAGE_SIZE - 1)) == 0 && (pcp = sb_tc_pcp_live()) != NULL &&
	    sb_page_block_owner(pg) == pcp && !sb_key_says_free(p) && sb_pcp_push(pcp, n, p)) {
		sb_key_mark_free(p);
		return;
	}
	free_slow(p, func);
}

/* p, whose page descriptor is pg, is no object the fast path takes: a
 * page block, or a pointer for the slow paths to judge. */
static SB_NOINLINE void free_not_fast(struct sb_page *pg, void *p, const char *func)
{
	if (sb_page_state(pg) != SB_PAGE_SLAB)
		free_page(pg, p, func);
	else
		free_slow(p, func);
}

/* The same for p in the zone of the thread's last free. */
static SB_NOINLINE void free_not_fast_here(void *p, const char *func)
{
	free_not_fast(sb_tc_cached_page(p), p, func);
}

/* free of p, whose slab map entry is e (zeros for pages of no slab) and
 * page descriptor pg (NULL: in the zone of the thread's last free); the
 * object test, the key, the push. */
static SB_ALWAYS_INLINE void free_at(const struct sb_slab_ref *e, struct sb_page *pg, void *p,
				     const char *func)
{
	if (sb_unlikely(!sb_slab_ref_takes(e, p))) {
		if (pg == NULL)
			free_not_fast_here(p, func);
		else
			free_not_fast(pg, p, func);
		return;
	}
	if (sb_unlikely(sb_key_says_free(p))) {
		free_suspect(p, e, func);
		return;
	}
	push_object(e, p, func);
}

/* p is not in the zone of the thread's last free: ask the registry (and
 * remember the zone). */
static SB_NOINLINE void free_other_zone(void *p, const char *func)
{
	struct sb_page *pg = sb_tc_page_of_miss(p);

	if (pg == NULL)
		free_slow(p, func);
	else
		free_at(sb_page_map_ref(pg, p), pg, p, func);
}

/*
 * The free fast path: the entry of the slab map of the thread's last zone,
 * the object test, the key, the push.
 */
static SB_ALWAYS_INLINE void sb_free_named(void *p, const char *func)
{
	const struct sb_slab_ref *e;

	if (sb_unlikely(!sb_tc_cached_ref(p, &e))) {
		free_other_zone(p, func);
		return;
	}
	free_at(e, NULL, p, func);
}

/* ---- The public functions --------------------------------------------- */

SB_EXPORT const char *sb_version(void)
{
	return PACKAGE_VERSION;
}

SB_EXPORT int sb_owns(const void *p)
{
	return sb_registry_region(p) != NULL || sb_registry_huge(p) != NULL || sb_guard_owns(p);
}

void *sb_impl_malloc(size_t size)
{
	return sb_alloc(size);
}

static SB_NOINLINE void *new_miss(size_t size, void *(*fail)(size_t))
{
	void *p = malloc_miss(size);

	return sb_likely(p != NULL) ? p : fail(size);
}

void *sb_impl_new(size_t size, void *(*fail)(size_t))
{
	void *p;

	return alloc_fast(size, &p) ? p : new_miss(size, fail);
}

void sb_impl_free(void *p)
{
	sb_free_named(p, "free");
}

void sb_impl_free_sized(void *p, size_t size)
{
	sb_free_named(p, "free_sized");
}

void sb_impl_free_aligned_sized(void *p, size_t align, size_t size)
{
	sb_free_named(p, "free_aligned_sized");
}

void *sb_impl_calloc(size_t n, size_t size)
{
	size_t total;
	void *p;

	if (sb_unlikely(__builtin_mul_overflow(n, size, &total))) {
		errno = ENOMEM;
		return NULL;
	}
	if (sb_likely(total <= SB_DIRECT_MAX)) {
		if (sb_likely(sb_tc_pop_calloc(total, 0, &p)))
			return memset(p, 0, total);	/* the key too */
	} else if (total <= SB_SMALL_MAX &&
		   sb_tc_pop_calloc(total, sb_class_lookup[(total + 15) >> 4], &p)) {
		return memset(p, 0, total);
	}
	return calloc_miss(total);
}

static SB_NOINLINE void *realloc_move(void *p, size_t old, size_t size)
{
	void *q = sb_alloc(size);

	if (q == NULL)
		return NULL;
	sb_count(SB_EV_REALLOC_MOVE, 1);
	memcpy(q, p, old < size ? old : size);
	sb_free_named(p, "realloc");
	return q;
}

static SB_NOINLINE void *realloc_slow(void *p, size_t size)
{
	struct sb_block b;
	size_t old;

	if (p == NULL)
		return sb_alloc(size);
	if (size == 0) {
		sb_free_named(p, "realloc");
		return NULL;
	}
	if (sb_unlikely(size > PTRDIFF_MAX)) {
		errno = ENOMEM;
		return NULL;
	}
	find_block(p, "realloc", &b);
	old = block_usable(&b, p, "realloc");
	switch (b.kind) {
	case SB_KIND_SLAB:
		if (sb_key_says_free(p) && sb_page_bin(b.page) < SB_NR_BINS &&
		    sb_slab_keyed(sb_slab_cache_of(sb_page_slab(b.page))))
			sb_tc_check_suspect(sb_page_bin(b.page), p, "realloc");
		/* SBMALLOC_CHECK: every resize moves, so that red zones and tracks
		 * stay exact. */
		if (size <= old && size >= old / 2 && !sb_config.check) {
			sb_count(SB_EV_REALLOC_SLAB, 1);
			return p;
		}
		break;
	case SB_KIND_BLOCK:
		if (sb_unlikely(sb_key_says_free(p)) && sb_tc_block_is_cached(p))
			sb_fatal_pointer("realloc", "double free", p);
		if (size > SB_SMALL_MAX && size <= SB_MAX_BLOCK_SIZE &&
		    sb_buddy_resize(p, sb_pages_of(size))) {
			sb_count(SB_EV_REALLOC_BUDDY, 1);
			return p;
		}
		break;
	case SB_KIND_HUGE:
		if (size > SB_MAX_BLOCK_SIZE && sb_huge_resize(b.huge, size)) {
			sb_count(SB_EV_REALLOC_HUGE, 1);
			return sb_huge_base(b.huge);
		}
		break;
	case SB_KIND_GUARD:
		break;
	}
	return realloc_move(p, old, size);
}

/* Move p, an object of the slab whose map entry is e and of the class ci,
 * to a new one of size (0 < size <= SB_SMALL_MAX). */
static SB_NOINLINE void *realloc_small_move(const struct sb_slab_ref *e, const struct sb_class_info *ci,
					    void *p, size_t size)
{
	void *q;

	q = sb_alloc(size);
	if (sb_unlikely(q == NULL))
		return NULL;
	sb_count(SB_EV_REALLOC_MOVE, 1);
	memcpy(q, p, size < ci->size ? size : ci->size);
	push_object(e, p, "realloc");
	return q;
}

/* p starts a live object of a size class whose slab map entry is e: keep
 * it, move it, or leave it to realloc_slow (NULL, done false). */
static SB_ALWAYS_INLINE void *realloc_small(const struct sb_slab_ref *e, void *p, size_t size,
					    bool *done)
{
	const struct sb_class_info *ci = &sb_class_info[e->bin_off >> SB_BIN_SHIFT];

	*done = true;
	if (sb_likely(size <= ci->size && size >= ci->keep_min))	/* never for other bins */
		return p;
	if (size - 1 < SB_SMALL_MAX && e->bin_off < SB_NR_CLASSES << SB_BIN_SHIFT)
		return realloc_small_move(e, ci, p, size);
	*done = false;
	return NULL;
}

/*
 * The realloc fast path: p in the zone of the thread's last free (as for
 * free), an object of a size class not marked free, resized within its
 * class's keep range: p, counted in the thread cache (sb_tc is live, since
 * a sentinel has no zone).
 */
void *sb_impl_realloc(void *p, size_t size)
{
	const struct sb_slab_ref *e;
	const struct sb_page *pg;
	bool done;
	void *q;

	if (sb_likely(sb_tc_cached_ref(p, &e)) && sb_likely(sb_slab_ref_takes(e, p)) &&
	    sb_likely(!sb_key_says_free(p))) {
		q = realloc_small(e, p, size, &done);
		if (sb_likely(q == p)) {
			sb_tc_count_realloc();
			return p;
		}
		if (done)
			return q;
	} else if (sb_likely(small_object(p, &pg) != NULL) && sb_likely(!sb_key_says_free(p))) {
		q = realloc_small(sb_page_map_ref(pg, p), p, size, &done);
		if (q == p)
			sb_count(SB_EV_REALLOC_SLAB, 1);
		if (done)
			return q;
	}
	return realloc_slow(p, size);
}

void *sb_impl_reallocarray(void *p, size_t n, size_t size)
{
	size_t total;

	if (__builtin_mul_overflow(n, size, &total)) {
		errno = ENOMEM;
		return NULL;
	}
	return sb_impl_realloc(p, total);
}

int sb_impl_posix_memalign(void **memptr, size_t align, size_t size)
{
	void *p;

	if (!sb_is_pow2(align) || align % sizeof(void *) != 0)
		return EINVAL;
	p = sb_alloc_aligned(align, size, "posix_memalign");
	if (p == NULL)
		return ENOMEM;
	*memptr = p;
	return 0;
}

void *sb_impl_aligned_alloc(size_t align, size_t size)
{
	if (!sb_is_pow2(align)) {
		errno = EINVAL;
		return NULL;
	}
	return sb_alloc_aligned(align, size, "aligned_alloc");
}

void *sb_impl_memalign(size_t align, size_t size)
{
	if (align > ((size_t)1 << 62)) {
		errno = EINVAL;
		return NULL;
	}
	if (!sb_is_pow2(align))
		align = align < 2 ? 1 : (size_t)1 << sb_ceil_log2(align);
	return sb_alloc_aligned(align, size, "memalign");
}

void *sb_impl_valloc(size_t size)
{
	return sb_alloc_aligned(SB_PAGE_SIZE, size, "valloc");
}

void *sb_impl_pvalloc(size_t size)
{
	if (size > PTRDIFF_MAX) {
		errno = ENOMEM;
		return NULL;
	}
	return sb_alloc_aligned(SB_PAGE_SIZE, size ? sb_align_up(size, SB_PAGE_SIZE) : SB_PAGE_SIZE,
				"pvalloc");
}

size_t sb_impl_malloc_usable_size(void *p)
{
	return p == NULL ? 0 : usable_size(p, "malloc_usable_size");
}

int sb_impl_malloc_trim(size_t pad)
{
	sb_ensure_init();
	return sb_trim() > 0;
}

int sb_impl_mallopt(int param, int value)
{
	sb_ensure_init();
	switch (param) {
	case M_TRIM_THRESHOLD:
		if (value < 0)
			return 0;
		sb_config_set_dirty_max((size_t)value);
		return 1;
	case M_TOP_PAD: case M_MMAP_THRESHOLD: case M_MMAP_MAX:
	case M_CHECK_ACTION: case M_PERTURB: case M_ARENA_TEST:
	case M_ARENA_MAX: case M_MXFAST:
		/* glibc tunables with no counterpart here: accepted, no effect. */
		return 1;
	default:
		return 0;
	}
}

struct mallinfo2 sb_impl_mallinfo2(void)
{
	struct mallinfo2 mi;
	struct sb_heap_usage u;

	sb_ensure_init();
	sb_heap_usage(&u);
	memset(&mi, 0, sizeof(mi));
	mi.arena = u.mapped - u.huge_bytes;
	mi.hblks = u.huge_count;
	mi.hblkhd = u.huge_bytes;
	mi.uordblks = u.in_use - u.huge_bytes;
	mi.fordblks = u.free;
	mi.keepcost = u.dirty;
	return mi;
}

struct mallinfo sb_impl_mallinfo(void)
{
	struct mallinfo2 m2 = sb_impl_mallinfo2();
	struct mallinfo mi;

#define CLAMP(v) ((int)((v) > (size_t)0x7fffffff ? 0x7fffffff : (v)))
	memset(&mi, 0, sizeof(mi));
	mi.arena = CLAMP(m2.arena);
	mi.hblks = CLAMP(m2.hblks);
	mi.hblkhd = CLAMP(m2.hblkhd);
	mi.uordblks = CLAMP(m2.uordblks);
	mi.fordblks = CLAMP(m2.fordblks);
	mi.keepcost = CLAMP(m2.keepcost);
#undef CLAMP
	return mi;
}

void sb_impl_malloc_stats(void)
{
	sb_ensure_init();
	sb_stats_dump(2, true);
}

SB_EXPORT void sb_stats_print(int fd)
{
	sb_ensure_init();
	sb_stats_dump(fd, true);
}

/* ---- Aliases: the names programs and glibc call ------------------------ */

void *malloc(size_t size) SB_ALIAS(sb_impl_malloc);
void free(void *p) SB_ALIAS(sb_impl_free);
void *calloc(size_t n, size_t size) SB_ALIAS(sb_impl_calloc);
void *realloc(void *p, size_t size) SB_ALIAS(sb_impl_realloc);
void *reallocarray(void *p, size_t n, size_t size) SB_ALIAS(sb_impl_reallocarray);
int posix_memalign(void **memptr, size_t align, size_t size) SB_ALIAS(sb_impl_posix_memalign);
void *aligned_alloc(size_t align, size_t size) SB_ALIAS(sb_impl_aligned_alloc);
void *memalign(size_t align, size_t size) SB_ALIAS(sb_impl_memalign);
void *valloc(size_t size) SB_ALIAS(sb_impl_valloc);
void *pvalloc(size_t size) SB_ALIAS(sb_impl_pvalloc);
size_t malloc_usable_size(void *p) SB_ALIAS(sb_impl_malloc_usable_size);
void free_sized(void *p, size_t size) SB_ALIAS(sb_impl_free_sized);
void free_aligned_sized(void *p, size_t align, size_t size) SB_ALIAS(sb_impl_free_aligned_sized);
int malloc_trim(size_t pad) SB_ALIAS(sb_impl_malloc_trim);
int mallopt(int param, int value) SB_ALIAS(sb_impl_mallopt);
struct mallinfo2 mallinfo2(void) SB_ALIAS(sb_impl_mallinfo2);
struct mallinfo mallinfo(void) SB_ALIAS(sb_impl_mallinfo);
void malloc_stats(void) SB_ALIAS(sb_impl_malloc_stats);

void *__libc_malloc(size_t size) SB_ALIAS(sb_impl_malloc);
void __libc_free(void *p) SB_ALIAS(sb_impl_free);
void *__libc_calloc(size_t n, size_t size) SB_ALIAS(sb_impl_calloc);
void *__libc_realloc(void *p, size_t size) SB_ALIAS(sb_impl_realloc);
void *__libc_memalign(size_t align, size_t size) SB_ALIAS(sb_impl_memalign);
void *__libc_valloc(size_t size) SB_ALIAS(sb_impl_valloc);
void *__libc_pvalloc(size_t size) SB_ALIAS(sb_impl_pvalloc);
int __posix_memalign(void **memptr, size_t align, size_t size) SB_ALIAS(sb_impl_posix_memalign);
