/*
 * internal.h - types and constants shared by sbmalloc's layers.
 *
 * The layers, bottom up, each talking only to the one below it:
 *
 *   region.c     the OS: mmap of size-aligned regions (hugetlb, THP or 4 KiB
 *                backing), the registry that maps an address to its region,
 *                out-of-band metadata, and large blocks that get a mapping of
 *                their own.
 *   buddy.c      power-of-two runs of 4 KiB pages inside regions.
 *   sizeclass.c  the table of small size classes.
 *   slab.c       caches: slabs of contiguous pages cut into equal objects.
 *   depot.c      per cache, full and empty magazines under one lock.
 *   magazine.c   per thread and cache, a loaded and a previous magazine;
 *                the per-thread cache of page blocks.
 *   cache.c      dedicated object caches (sb_cache_*), on magazines and slabs.
 *   malloc.c     the malloc family and its inline fast paths, on top of the
 *                magazines, the buddy allocator and the region layer.
 *
 * config.c reads the environment, brings the layers up and holds the fork
 * handlers; report.c writes messages and stops the program; stats.c counts
 * and dumps.  Nothing here calls malloc, stdio or getenv.
 *
 * Addresses: a region is SB_REGION_SIZE bytes aligned to its size, so
 * `addr >> SB_REGION_SHIFT` indexes the registry and `addr & SB_REGION_MASK`
 * is the offset inside the region; `offset >> SB_PAGE_SHIFT` indexes the
 * region's page descriptors.  Descriptors live in separate mappings, never
 * next to user memory.
 */
#ifndef SB_INTERNAL_H
#define SB_INTERNAL_H

#include "config.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Every internal declaration is hidden: data is reached PC-relative, not
 * through the GOT.  Exports are marked SB_EXPORT or are aliases. */
#pragma GCC visibility push(hidden)

#define SB_EXPORT __attribute__((visibility("default")))
#define SB_NOINLINE __attribute__((noinline))
#define SB_COLD __attribute__((cold, noinline))
#define SB_NORETURN __attribute__((noreturn))
#define sb_likely(x) __builtin_expect(!!(x), 1)
#define sb_unlikely(x) __builtin_expect(!!(x), 0)

#ifdef SB_DEBUG
#define SB_ASSERT(c) do { if (sb_unlikely(!(c))) \
	sb_assert_fail(__FILE__, __LINE__, #c); } while (0)
#else
#define SB_ASSERT(c) do { (void)sizeof(c); } while (0)
#endif

/* ---- Geometry ---------------------------------------------------------- */

#define SB_PAGE_SHIFT 12
#define SB_PAGE_SIZE ((size_t)1 << SB_PAGE_SHIFT)
#define SB_HUGE_PAGE_SIZE ((size_t)2 << 20)

/*
 * Buddy orders run 0..SB_MAX_ORDER, as in the kernel's MAX_PAGE_ORDER: the
 * largest block is 2^10 pages = 4 MiB.  Larger requests get a mapping of
 * their own.  A region holds 8 blocks of the top order.
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
#define SB_REGISTRY_ENTRIES ((size_t)1 << (SB_ADDR_BITS - SB_REGION_SHIFT))

#define SB_ALIGNMENT 16
#define SB_CACHE_LINE 64

static inline size_t sb_align_up(size_t n, size_t a) { return (n + a - 1) & ~(a - 1); }
static inline bool sb_is_pow2(size_t n) { return n && !(n & (n - 1)); }
/* Smallest k with 2^k >= n, for n >= 1. */
static inline unsigned sb_ceil_log2(size_t n)
{
	return n <= 1 ? 0 : 64 - (unsigned)__builtin_clzl(n - 1);
}
static inline unsigned sb_floor_log2(size_t n) { return 63 - (unsigned)__builtin_clzl(n); }

/* ---- Configuration (config.c) ----------------------------------------- */

enum sb_hugepages_mode {
	SB_HUGEPAGES_KERNEL,	/* unset: neither advise nor forbid; the kernel's THP setting */
	SB_HUGEPAGES_AUTO,
	SB_HUGEPAGES_HUGETLB,
	SB_HUGEPAGES_THP,
	SB_HUGEPAGES_OFF,
};

struct sb_config {
	enum sb_hugepages_mode hugepages;
	bool hugepages_set;		/* SBMALLOC_HUGEPAGES was given */
	bool check;			/* SBMALLOC_CHECK=1: extra consistency checks */
	size_t dirty_max;		/* free-but-resident bytes kept before purging */
	bool secure;			/* AT_SECURE: the environment was ignored */
};

extern struct sb_config sb_config;
/* Read SBMALLOC_* from environ (not getenv).  Safe to call again. */
void sb_config_init(void);
/* Value of NAME in environ, or NULL; never allocates. */
const char *sb_env(const char *name);

/* Bring the layers up once (config.c); cheap to call on every slow path. */
extern int sb_init_state;
void sb_global_init(void);
static inline void sb_ensure_init(void)
{
	if (sb_unlikely(__atomic_load_n(&sb_init_state, __ATOMIC_ACQUIRE) != 2))
		sb_global_init();
}

/* The pthread_atfork handlers (config.c): every lock, in order. */
void sb_fork_prepare(void);
void sb_fork_parent(void);
void sb_fork_child(void);

/* ---- Messages (report.c) ---------------------------------------------- */

/* "sbmalloc: <func>(): <what> 0x<ptr>\n" on stderr, then abort(). */
SB_NORETURN SB_COLD void sb_fatal_pointer(const char *func, const char *what, const void *ptr);
SB_NORETURN SB_COLD void sb_fatal(const char *msg);
SB_NORETURN SB_COLD void sb_assert_fail(const char *file, int line, const char *cond);
void sb_write_str(int fd, const char *s);
/* Formats into buf (at most len-1 chars + NUL); returns the length. */
size_t sb_fmt_hex(char *buf, size_t len, uintptr_t v);
size_t sb_fmt_u64(char *buf, size_t len, uint64_t v);

/* ---- Regions and the registry (region.c) ------------------------------ */

enum sb_backing { SB_BACKING_4K, SB_BACKING_THP, SB_BACKING_HUGETLB };

/* What the registry entry of an address points at. */
enum sb_map_kind { SB_MAP_REGION = 1, SB_MAP_HUGE = 2 };

/* Page descriptor states. */
enum sb_page_state {
	SB_PAGE_UNUSED = 0,	/* never handed out since the region was mapped */
	SB_PAGE_FREE,		/* head of a free buddy block of `order` */
	SB_PAGE_MERGED,		/* was a free head, now inside a larger free block */
	SB_PAGE_LARGE,		/* head of a block in use by malloc, `npages` long */
	SB_PAGE_TAIL,		/* non-head page of an allocated block */
	SB_PAGE_SLAB,		/* page of a slab; `slab` and `order` (its class) say which */
};

struct sb_slab;

/* One per 4 KiB page of a region, 16 bytes, in the region's table. */
struct sb_page {
	uint8_t state;		/* enum sb_page_state */
	uint8_t order;		/* FREE: buddy order; SLAB: size class (SB_NO_CLASS) */
	uint8_t dirty;		/* FREE: some page of the block may be resident */
	uint8_t epoch;		/* FREE and dirty: purge epoch when it was freed */
	uint32_t npages;	/* LARGE: pages in the block (need not be 2^k) */
	union {
		struct {
			uint32_t next, prev;	/* FREE: free list, page indices */
		} link;
		struct sb_slab *slab;		/* SLAB, every page of the slab */
	};
};

#define SB_NO_PAGE UINT32_MAX
#define SB_NO_CLASS 255

struct sb_region {
	enum sb_map_kind kind;		/* SB_MAP_REGION */
	char *base;			/* SB_REGION_SIZE aligned */
	unsigned index;			/* creation order, 0.. */
	enum sb_backing backing;
	pthread_mutex_t lock;		/* the buddy lock: free lists and pages[] */
	uint32_t free_mask;		/* bit k: free_head[k] is not empty */
	uint32_t free_head[SB_NR_ORDERS];
	size_t nr_free[SB_NR_ORDERS];	/* free blocks per order */
	size_t free_pages;
	size_t dirty_pages;		/* pages of free blocks marked dirty */
	size_t purgeable_pages;		/* dirty pages in blocks >= purge_order */
	unsigned purge_order;		/* smallest order worth an madvise */
	uint8_t purge_epoch;		/* last epoch an age-based purge ran here */
	struct sb_page pages[SB_REGION_PAGES];
};

/* A block above SB_MAX_BLOCK_SIZE: a mapping of its own. */
struct sb_huge {
	enum sb_map_kind kind;		/* SB_MAP_HUGE */
	char *base;			/* aligned to SB_REGION_SIZE at least */
	size_t size;			/* bytes readable and writable */
	size_t reserved;		/* bytes of address space held (>= size) */
	enum sb_backing backing;
	struct sb_huge *next, *prev;
};

/*
 * The registry: one entry per 32 MiB of user address space (2^22 entries,
 * 32 MiB of zero-filled .bss that costs memory only where written).  An
 * entry is a region, NULL, or, for the address space of a huge block,
 * &sb_huge_stub: a region-shaped stand-in whose page descriptors all stay
 * UNUSED, so the free fast path needs no test of its own for huge blocks;
 * the block itself is in the same slot of sb_huge_registry.
 */
extern struct sb_region *sb_registry[SB_REGISTRY_ENTRIES];
extern struct sb_huge *sb_huge_registry[SB_REGISTRY_ENTRIES];
extern struct sb_region sb_huge_stub;

/* The registry slot of addr, or -1 for addresses beyond it. */
static inline intptr_t sb_registry_slot(const void *addr)
{
	uintptr_t i = (uintptr_t)addr >> SB_REGION_SHIFT;
	return i < SB_REGISTRY_ENTRIES ? (intptr_t)i : -1;
}

/* The region or huge block (see their `kind`) that contains addr, or NULL.
 * Never touches addr. */
static inline void *sb_registry_lookup(const void *addr)
{
	intptr_t i = sb_registry_slot(addr);
	struct sb_region *r;

	if (i < 0)
		return NULL;
	r = sb_registry[i];
	if (r == &sb_huge_stub)
		return sb_huge_registry[i];
	return r;
}

static inline struct sb_page *sb_region_page(struct sb_region *r, const void *addr)
{
	return &r->pages[((uintptr_t)addr & SB_REGION_MASK) >> SB_PAGE_SHIFT];
}

static inline char *sb_region_page_addr(struct sb_region *r, uint32_t idx)
{
	return r->base + ((size_t)idx << SB_PAGE_SHIFT);
}

/* Map the registry.  Returns false if the OS refused. */
bool sb_region_init(void);
/* A new region, registered, with its pages still UNUSED; NULL on failure. */
struct sb_region *sb_region_create(void);
/* Regions in creation order; the array only grows (published by count). */
extern struct sb_region **sb_regions;
size_t sb_region_count(void);

/* Give resident pages back to the OS; the range stays mapped, reads zero. */
void sb_os_purge(void *addr, size_t len);
const char *sb_backing_name(enum sb_backing b);

struct sb_huge *sb_huge_alloc(size_t size, size_t align);
void sb_huge_free(struct sb_huge *h);
/* Resident bytes of all huge blocks (takes huge_lock). */
size_t sb_huge_resident(void);
/* Resize in place (within the reservation) or by moving the pages; false on failure. */
bool sb_huge_resize(struct sb_huge **hp, size_t size);

/* Out-of-band metadata: never shares a page with user memory. */
void *sb_meta_alloc(size_t size);
void sb_meta_free(void *p, size_t size);

/* Counters the stats layer reads. */
struct sb_region_counters {
	size_t regions;
	size_t region_bytes;
	size_t huge_count;		/* live huge blocks */
	size_t huge_total;		/* huge blocks ever mapped */
	size_t huge_bytes;
	size_t mapped_peak;		/* most bytes of regions + huge blocks at once */
	size_t meta_bytes;
	size_t hugetlb_regions, thp_regions;
};
/* locked false: read racily, for the signal-time dump. */
void sb_region_counters(struct sb_region_counters *out, bool locked);

/* Taken in this order around fork; see malloc.c. */
void sb_region_fork_prepare(void);
void sb_region_fork_parent(void);
void sb_region_fork_child(void);

/* ---- The buddy allocator (buddy.c) ------------------------------------ */

/*
 * npages contiguous pages aligned to align_pages (a power of two), from any
 * region; the head page is LARGE with npages set and the others are TAIL.
 * Unused tail pages of the power-of-two block go back at once.  NULL when no
 * region can be mapped.
 */
void *sb_buddy_alloc(size_t npages, size_t align_pages);
/* Free the block that starts at p (its head page is LARGE). */
void sb_buddy_free(struct sb_region *r, void *p);
/* Grow or shrink the block at p to npages in place; false if it cannot. */
bool sb_buddy_resize(struct sb_region *r, void *p, size_t npages);
/* Purge every dirty free block to the OS; returns bytes purged. */
size_t sb_buddy_trim(void);

struct sb_buddy_counters {
	size_t free_pages, dirty_pages, used_pages;
	size_t nr_free[SB_NR_ORDERS];
};
void sb_buddy_counters(struct sb_region *r, struct sb_buddy_counters *out, bool locked);

/* ---- Size classes (sizeclass.c) --------------------------------------- */

/*
 * 16, 32, 48, 64, then four classes per doubling up to 16 KiB: no request
 * above 64 bytes is rounded up by more than 25%.
 */
#define SB_SMALL_MAX 16384
#define SB_NR_CLASSES 36
#define SB_CLASS_LOOKUP_MAX SB_SMALL_MAX

extern uint8_t sb_class_lookup[SB_CLASS_LOOKUP_MAX / 16 + 1];
extern uint32_t sb_class_size[SB_NR_CLASSES];
extern unsigned sb_nr_classes;

void sb_sizeclass_init(void);
unsigned sb_size_class_slow(size_t size);

/* The class serving size (size <= SB_SMALL_MAX). */
static inline unsigned sb_size_class(size_t size)
{
	return sb_class_lookup[(size + 15) >> 4];
}

/* ---- Slab caches (slab.c) --------------------------------------------- */

#define SB_SLAB_MAX_OBJS 256
#define SB_SLAB_WORDS (SB_SLAB_MAX_OBJS / 64)
#define SB_CACHE_NAME_MAX 32

enum sb_slab_list { SB_SLAB_PARTIAL, SB_SLAB_FULL, SB_SLAB_EMPTY };

struct sb_cache;

/* Out of band: one per slab. */
struct sb_slab {
	struct sb_slab *next, *prev;	/* on one of the cache's three lists */
	struct sb_cache *cache;
	char *mem;			/* first page */
	char *objs;			/* first object: mem + colour */
	uint16_t nfree;
	uint16_t list;			/* enum sb_slab_list */
	uint16_t colour;
	uint16_t hint;			/* first word of free_bits that may be non-zero */
	bool poisoned;			/* created under SBMALLOC_CHECK: free objects hold poison */
	uint64_t free_bits[SB_SLAB_WORDS];	/* bit set: object free */
};

struct sb_slab_head {
	struct sb_slab *first;
	size_t count;
};

/*
 * The depot behind a cache's magazines (depot.c): whole magazines, full
 * and empty, under one lock.  *_min is the smallest length a list had since
 * the last working-set update, *_reap how many it may lose at the next.
 */
struct sb_mag;
struct sb_depot {
	pthread_mutex_t lock;
	struct sb_mag *full, *empty;
	size_t nfull, nempty;
	size_t full_min, empty_min, full_reap, empty_reap;
	uint32_t mag_cap;		/* rounds of new magazines; grows under contention */
	uint32_t contention;		/* failed trylocks since the last update */
	uint64_t exchanges;
	uint64_t last_update_ns;
};

struct sb_cache {
	pthread_mutex_t lock;
	char name[SB_CACHE_NAME_MAX];
	uint32_t size;			/* object stride */
	uint32_t align;			/* every object is aligned to this */
	uint64_t recip;			/* ceil(2^32 / size): offset -> index */
	uint16_t objs_per_slab;
	uint16_t pages_per_slab;
	uint16_t colour_next;		/* in units of colour_step */
	uint16_t colour_count;		/* number of distinct colours */
	uint32_t colour_step;
	unsigned reserve;		/* empty slabs kept before returning pages */
	struct sb_slab_head lists[3];	/* indexed by enum sb_slab_list */
	uint8_t class_index;		/* bin index: size class or dedicated slot */
	bool dead;			/* destroyed dedicated cache, kept for reuse */
	void (*ctor)(void *obj, void *arg);	/* dedicated caches (cache.c) */
	void (*dtor)(void *obj, void *arg);
	void *ctor_arg;
	size_t active_objs;		/* out of the slab layer (incl. magazines) */
	uint64_t slabs_created, slabs_destroyed;
	struct sb_cache *next;		/* every cache, for stats and fork */
	struct sb_depot depot;
};

/* What the free and realloc fast paths need of a size class: 16 bytes. */
struct sb_class_info {
	uint32_t size;
	uint32_t span;			/* objs_per_slab * size */
	uint32_t recip;			/* 2^32 / size + 1 (size >= 16, so < 2^32) */
	uint32_t keep_min;		/* realloc keeps the object for keep_min..size */
};
/* Indexed by a SLAB page's `order`: entries past the size classes (and
 * SB_NO_CLASS) have span 0, so the free fast path sends them to the slow
 * path without a test of its own. */
extern struct sb_class_info sb_class_info[256];

extern struct sb_cache sb_size_caches[SB_NR_CLASSES];

/*
 * Bin indices: the size classes first, then up to SB_MAX_DEDICATED
 * dedicated caches (cache.c).  sb_cache_of[] maps a bin index (a SLAB
 * page's `order`) to its cache.
 */
#define SB_MAX_DEDICATED 64
#define SB_NR_BINS (SB_NR_CLASSES + SB_MAX_DEDICATED)
extern struct sb_cache *sb_cache_of[SB_NR_BINS];
/* Link a set-up cache into the list of all caches (stats, fork). */
void sb_cache_register(struct sb_cache *c);

void sb_slab_init(void);
/* Set up a cache for objects of size (a multiple of 16) into c. */
void sb_cache_setup(struct sb_cache *c, const char *name, size_t size, size_t align);
/* Give every slab of c back (all must be empty); destructors run. */
void sb_slab_destroy_all(struct sb_cache *c);
void *sb_slab_alloc(struct sb_cache *c);
/* Up to n objects into out under one lock; returns how many (0: no memory). */
unsigned sb_slab_alloc_batch(struct sb_cache *c, void **out, unsigned n);
/* Free n objects of cache c (validated starts) under one lock. */
void sb_slab_free_batch(struct sb_cache *c, void *const *objs, unsigned n);
/* Free p, which lies in slab s; aborts naming func on a bad or double free. */
void sb_slab_free(struct sb_slab *s, void *p, const char *func);
/* Is p the start of an object of slab s? */
bool sb_slab_is_object(const struct sb_slab *s, const void *p);
/* Give every empty slab of every cache back to the buddy allocator. */
size_t sb_slab_reclaim(void);
struct sb_cache *sb_cache_list(void);

/* The list of caches, around fork (reinit: in the child). */
void sb_cache_list_lock(void);
void sb_cache_list_unlock(bool reinit);
void sb_slab_fork_prepare(void);
void sb_slab_fork_parent(void);
void sb_slab_fork_child(void);

/* ---- Magazines (magazine.c) and the depot (depot.c) -------------------- */

/*
 * A bounded stack of free objects of one cache.  `next` sits just before
 * objs[] on purpose: the free fast path compares the pointer being freed
 * with objs[rounds - 1] without testing rounds, and at rounds == 0 that
 * reads `next`, which is NULL or a magazine and never a user object.
 */
struct sb_mag {
	uint32_t rounds;		/* objects held */
	uint32_t cap;			/* objs[] capacity; 0 only for the sentinels */
	struct sb_mag *next;		/* on a depot list */
	void *objs[];
};

/* A thread's two magazines for one cache, as in Bonwick and Adams (2001). */
struct sb_bin {
	struct sb_mag *loaded;
	struct sb_mag *prev;
};

/* Freed buddy blocks of 1..SB_TC_LARGE_PAGES pages, kept per thread. */
#define SB_TC_LARGE_PAGES 16
#define SB_TC_LARGE_DEPTH 4
struct sb_large_bin {
	uint32_t count;
	void *blocks[SB_TC_LARGE_DEPTH];
};

/*
 * EMPTY and DEAD are the sentinels' states.  A COUNTED cache is the face a
 * thread shows the fast paths when statistics are on (SBMALLOC_STATS): its
 * magazines are the sentinel's, so every call misses the fast path and is
 * counted in the slow path, which works on the LIVE cache behind it.
 */
enum sb_tc_state { SB_TC_EMPTY, SB_TC_LIVE, SB_TC_DEAD, SB_TC_COUNTED };

struct sb_thread_stats;

struct sb_tcache {
	struct sb_bin bins[SB_NR_BINS];
	struct sb_large_bin large[SB_TC_LARGE_PAGES + 1];
	enum sb_tc_state state;
	struct sb_tcache *real;		/* COUNTED: the thread's LIVE cache */
	struct sb_tcache *face;		/* LIVE: the COUNTED face, or NULL */
	struct sb_thread_stats *stats;	/* counters, when statistics are on */
	struct sb_tcache *next, *prev;	/* every live thread cache */
};

/*
 * The calling thread's cache.  Starts at a static sentinel whose magazines
 * are empty with capacity 0, so the first malloc and free of a thread fail
 * their fast-path test and set the real one up.  After thread exit it
 * points at a dead sentinel of the same shape: late calls go to the slab
 * layer directly.
 */
extern __thread struct sb_tcache *sb_tc __attribute__((tls_model("initial-exec")));

/*
 * The magazine fast paths, shared by malloc.c and cache.c: a pop from, or
 * a push onto, the calling thread's loaded magazine for bin cls; false when
 * it is empty (pop) or full (push), and the slow path takes over.  A push
 * of the object pushed just before is a double free.
 */
static inline bool sb_mag_pop(size_t cls, void **out)
{
	struct sb_mag *m = sb_tc->bins[cls].loaded;
	uint32_t r = m->rounds;

	if (sb_unlikely(r == 0))
		return false;
	m->rounds = r - 1;
	*out = m->objs[r - 1];
	return true;
}

static inline bool sb_mag_push(size_t cls, void *p, const char *func)
{
	struct sb_mag *m = sb_tc->bins[cls].loaded;
	size_t r = m->rounds;

	if (sb_unlikely(r >= m->cap))
		return false;
	/* At r == 0 this reads m->next: never a user object. */
	if (sb_unlikely((m->objs + r)[-1] == p))
		sb_fatal_pointer(func, "double free", p);
	m->objs[r] = p;
	m->rounds = (uint32_t)r + 1;
	return true;
}

/* Keep page block p in lb; false if lb is full.  p already there is a double free. */
static inline bool sb_large_bin_push(struct sb_large_bin *lb, void *p, const char *func)
{
	uint32_t i;

	for (i = 0; i < lb->count; i++)
		if (sb_unlikely(lb->blocks[i] == p))
			sb_fatal_pointer(func, "double free", p);
	if (lb->count == SB_TC_LARGE_DEPTH)
		return false;
	lb->blocks[lb->count++] = p;
	return true;
}

void *sb_mag_alloc_slow(unsigned cls);
void sb_mag_free_slow(unsigned cls, void *p, const char *func);
/* A cached page block of npages for the calling thread, or NULL. */
void *sb_tc_large_alloc(size_t npages);
/* Keep a freed block of npages (<= SB_TC_LARGE_PAGES) in the thread's
 * cache; false if the bin is full.  Aborts, naming func, if p is there. */
bool sb_tc_large_free(uint32_t npages, void *p, const char *func);
/* Return the calling thread's cached objects and blocks to the layers below. */
void sb_tc_flush(void);
/* Give back the objects every thread's magazines hold for bin cls (for
 * sb_cache_destroy: no thread may be using that cache). */
void sb_mag_drain(unsigned cls);
void sb_mag_cached(size_t *obj_bytes, size_t *page_bytes);
void sb_mag_init(void);
/* Switch to counting: give every new thread (and the caller) a COUNTED face. */
void sb_mag_start_counting(void);
void sb_mag_fork_prepare(void);
void sb_mag_fork_parent(void);
void sb_mag_fork_child(void);

void sb_depot_init(struct sb_cache *c);
struct sb_mag *sb_mag_new(uint32_t cap);
/* Hand m (full or empty) to the depot and take one of the other kind. */
struct sb_mag *sb_depot_exchange(struct sb_cache *c, struct sb_mag *give, bool give_full);
/* An empty magazine (from the depot, else new); NULL without memory. */
struct sb_mag *sb_depot_get_empty(struct sb_cache *c);
void sb_depot_put(struct sb_cache *c, struct sb_mag *m);
/* Return magazines idle for a working-set interval (all: every one). */
void sb_depot_reap(struct sb_cache *c, bool all);
void sb_depot_fork_prepare(void);
void sb_depot_fork_parent(void);
void sb_depot_fork_child(void);

/* ---- Statistics (stats.c) --------------------------------------------- */

/* What each call was served by; counted only when statistics are on. */
enum sb_stat {
	SB_ST_MALLOC_MAG, SB_ST_MALLOC_DEPOT, SB_ST_MALLOC_SLAB,
	SB_ST_MALLOC_PAGES, SB_ST_MALLOC_BUDDY, SB_ST_MALLOC_HUGE,
	SB_ST_FREE_MAG, SB_ST_FREE_DEPOT, SB_ST_FREE_SLAB,
	SB_ST_FREE_PAGES, SB_ST_FREE_BUDDY, SB_ST_FREE_HUGE,
	SB_ST_REALLOC_SLAB, SB_ST_REALLOC_BUDDY, SB_ST_REALLOC_HUGE, SB_ST_REALLOC_MOVE,
	SB_ST_CALLOC, SB_ST_ALIGNED,
	SB_ST_REQUESTED, SB_ST_HANDED_OUT,	/* bytes, over all allocations */
	SB_NR_STATS
};

/*
 * One per thread while statistics are on.  Blocks are never freed: a
 * thread that exits leaves its counts, and its block is reused by the next
 * thread, which adds to them.  So the sum over the list is always the total,
 * and the list can be walked at any moment, from a signal handler too.
 */
struct sb_thread_stats {
	uint64_t n[SB_NR_STATS];
	int in_use;
	struct sb_thread_stats *next;
};

extern bool sb_stats_on;

/* Read SBMALLOC_STATS / SBMALLOC_STATS_SIGNAL; from the constructor. */
void sb_stats_init(void);
struct sb_thread_stats *sb_stats_block(void);
void sb_stats_release(struct sb_thread_stats *st);
/* Bytes handed out minus bytes freed, and its peak (counting mode). */
void sb_stats_live(long delta);
/* The dump; locked false reads everything racily (signal handler). */
void sb_stats_dump(int fd, bool locked);

/* The calling thread's counters, or NULL when statistics are off. */
static inline struct sb_thread_stats *sb_mag_stats(void)
{
	struct sb_tcache *tc = sb_tc;

	return tc->state == SB_TC_COUNTED ? tc->stats : NULL;
}

static inline void sb_count(enum sb_stat what, uint64_t n)
{
	struct sb_thread_stats *st = sb_mag_stats();

	if (st != NULL)
		st->n[what] += n;
}

struct sb_heap_usage {
	size_t mapped;		/* region and huge mapping bytes */
	size_t in_use;		/* bytes handed out (usable sizes) */
	size_t free;		/* free bytes inside regions and slabs */
	size_t huge_count, huge_bytes;
	size_t dirty;		/* free but possibly resident */
	size_t cached;		/* free, held by thread caches and depots */
};
void sb_heap_usage(struct sb_heap_usage *u);

#pragma GCC visibility pop

#endif /* SB_INTERNAL_H */
