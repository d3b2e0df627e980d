/*
 * common.h - what every file of sbmalloc shares: the geometry of the heap,
 * compiler attributes, assertion levels and small arithmetic.
 *
 * Nothing here holds state.  Each layer has a header of its own that says
 * what it owns; the lock order of all of them is in fork.c.
 *
 * Addresses: a region is SB_REGION_SIZE bytes aligned to its size, so
 * `addr >> SB_REGION_SHIFT` indexes the registry and `addr & SB_REGION_MASK`
 * is the offset inside the region; `offset >> SB_PAGE_SHIFT` indexes the
 * region's page descriptors.  All metadata lives in separate mappings,
 * never next to user memory.
 *
 * Assertions come in levels, chosen at configure time:
 *   SB_DEBUG 0  (default)                 none; every check below compiles away
 *   SB_DEBUG 1  (--enable-debug)           SB_ASSERT: cheap preconditions at
 *                                         function entry, as the kernel's
 *                                         VM_BUG_ON
 *   SB_DEBUG 2  (--enable-debug=full)      also SB_ASSERT_FULL: each layer's
 *                                         validator run on the structure a
 *                                         function has just changed
 * The validators themselves (sb_*_validate) are always compiled: the unit
 * tests call them in every build.
 */
#ifndef SB_COMMON_H
#define SB_COMMON_H

#include "autoconf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Every internal declaration is hidden: data is reached PC-relative, not
 * through the GOT.  Exports are marked SB_EXPORT or are aliases. */
#pragma GCC visibility push(hidden)

#define SB_EXPORT __attribute__((visibility("default")))
#define SB_NOINLINE __attribute__((noinline))
#define SB_COLD __attribute__((cold, noinline))
#define SB_ALWAYS_INLINE inline __attribute__((always_inline))
#define SB_NORETURN __attribute__((noreturn))
#define sb_likely(x) __builtin_expect(!!(x), 1)
#define sb_unlikely(x) __builtin_expect(!!(x), 0)

#ifndef SB_DEBUG
#define SB_DEBUG 0
#endif

SB_NORETURN SB_COLD void sb_assert_fail(const char *file, int line, const char *cond);

#if SB_DEBUG >= 1
#define SB_ASSERT(c) do { if (sb_unlikely(!(c))) \
	sb_assert_fail(__FILE__, __LINE__, #c); } while (0)
#else
#define SB_ASSERT(c) do { (void)sizeof(c); } while (0)
#endif

#if SB_DEBUG >= 2
#define SB_ASSERT_FULL(c) do { if (sb_unlikely(!(c))) \
	sb_assert_fail(__FILE__, __LINE__, #c); } while (0)
#else
#define SB_ASSERT_FULL(c) do { (void)sizeof(c); } while (0)
#endif

/* ---- Geometry ---------------------------------------------------------- */

#define SB_PAGE_SHIFT 12
#define SB_PAGE_SIZE ((size_t)1 << SB_PAGE_SHIFT)
#define SB_HUGE_PAGE_SIZE ((size_t)2 << 20)
#define SB_HUGE_PAGE_ORDER 9		/* 2 MiB = 2^9 pages */

/*
 * Buddy orders run 0..SB_MAX_ORDER, as in the kernel's MAX_PAGE_ORDER: the
 * largest block is 2^10 pages = 4 MiB.  Larger requests get a mapping of
 * their own (huge.c).  A region holds 8 blocks of the top order.
 */
#define SB_MAX_ORDER 10
#define SB_NR_ORDERS (SB_MAX_ORDER + 1)
#define SB_MAX_BLOCK_PAGES ((size_t)1 << SB_MAX_ORDER)
#define SB_MAX_BLOCK_SIZE (SB_MAX_BLOCK_PAGES << SB_PAGE_SHIFT)

#define SB_REGION_SHIFT 25
#define SB_REGION_SIZE ((size_t)1 << SB_REGION_SHIFT)
#define SB_REGION_MASK (SB_REGION_SIZE - 1)
#define SB_REGION_PAGES (SB_REGION_SIZE >> SB_PAGE_SHIFT)

/* User space addresses on x86-64 and arm64 with 4-level tables. */
#define SB_ADDR_BITS 47

/* Requests up to SB_SMALL_MAX are small objects of a size class. */
#define SB_SMALL_MAX 16384
#define SB_ALIGNMENT 16
#define SB_CACHE_LINE 64

/*
 * Bin indices name an object cache everywhere above the buddy allocator
 * (a slab page's `bin`, a thread's magazines): the size classes first,
 * then up to SB_MAX_DEDICATED dedicated caches (cache.c).
 */
#define SB_NR_CLASSES 36
#define SB_MAX_DEDICATED 64
#define SB_NR_BINS (SB_NR_CLASSES + SB_MAX_DEDICATED)
#define SB_NO_BIN 255
/* A thread's struct sb_bin (tcache.h) is 1 << SB_BIN_SHIFT bytes: the fast
 * paths carry bin << SB_BIN_SHIFT, a byte offset, instead of the bin. */
#define SB_BIN_SHIFT 6

static inline size_t sb_align_up(size_t n, size_t a) { return (n + a - 1) & ~(a - 1); }
static inline bool sb_is_pow2(size_t n) { return n && !(n & (n - 1)); }
/* Smallest k with 2^k >= n, for n >= 1. */
static inline unsigned sb_ceil_log2(size_t n)
{
	return n <= 1 ? 0 : 64 - (unsigned)__builtin_clzl(n - 1);
}
static inline unsigned sb_floor_log2(size_t n) { return 63 - (unsigned)__builtin_clzl(n); }
/* Pages needed for size bytes. */
static inline size_t sb_pages_of(size_t size) { return (size + SB_PAGE_SIZE - 1) >> SB_PAGE_SHIFT; }

/* Relaxed atomic reads and writes of statistics and published settings:
 * values whose readers accept any recent value. */
#define sb_read_once(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)
#define sb_write_once(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELAXED)

/*
 * *c += n for a counter that only its owning thread writes and any thread
 * may read (with sb_read_once): one add to memory, which the compilers
 * would otherwise make a load, an add and a store for an atomic store.
 * Outside the counter's owner (the shared blocks of counters.c) an update
 * may be lost: a statistic, not a count the allocator relies on.
 */
static SB_ALWAYS_INLINE void sb_counter_add(uint64_t *c, uint64_t n)
{
#if defined(__x86_64__)
	__asm__("addq %1, %0" : "+m"(*c) : "er"(n));
#else
	__atomic_store_n(c, __atomic_load_n(c, __ATOMIC_RELAXED) + n, __ATOMIC_RELAXED);
#endif
}

#pragma GCC visibility pop

#endif /* SB_COMMON_H */
