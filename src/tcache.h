/*
 * tcache.h - thread caches: per thread and bin, a loaded and a previous
 * magazine, and the thread's page lists (tcache.c).  The lock-free front
 * of every cache.
 *
 * Every field of struct sb_tcache is written by tcache.c or the inline
 * functions below, except the embedded page lists, which are pcp.c's.
 *
 * The statistics of what the fast paths served cost them one add, or
 * nothing: a bin counts its pops; its pushes are the pops plus what its
 * two magazines hold less what the slow paths moved into them, which they
 * tally (tcache.c); remote frees are the rounds of the remote magazines
 * retired and the rounds of the current one.  sb_tc_traffic() adds them up.
 */
#ifndef SB_TCACHE_H
#define SB_TCACHE_H

#include "buddy.h"
#include "common.h"
#include "magazine.h"
#include "pcp.h"

#pragma GCC visibility push(hidden)

struct sb_depot;

/*
 * A thread's two magazines for one bin, as in Bonwick and Adams (2001),
 * and the remote magazine for objects of other threads' slabs.  The loaded
 * magazine is open: its rounds are counted by top, the next free slot of
 * its objs[], between base (empty) and limit (full), and its own rounds
 * field is stale until tcache.c closes the bin, before any other use of
 * that magazine.  64 bytes, so that the class table's entries (sizeclass.h)
 * are the byte offsets of the bins.
 */
struct sb_bin {
	void **top, **base, **limit;	/* of the loaded magazine */
	struct sb_mag *loaded;
	struct sb_mag *prev;
	struct sb_mag *remote;
	uint64_t pops;			/* every pop, ever (statistics) */
	struct sb_tcache *tc;		/* the cache holding this bin (NULL: sb_bin_nobody) */
};

_Static_assert(sizeof(struct sb_bin) == 1 << SB_BIN_SHIFT, "bin offsets scale by SB_BIN_SHIFT");

/*
 * The slow paths' half of a bin, SB_NR_BINS bins after it in the cache
 * (side_of() in tcache.c), so that a bin finds it with no arithmetic: the inbox, one
 * full magazine of this cache's objects that another thread sent home
 * (atomic: NULL, a magazine, or closed after exit); the spare, an empty
 * magazine for the next remote magazine; and the tally of the statistics
 * (see above): the objects the slow paths moved into the two magazines
 * other than by pushes, less those they moved out other than by pops; the
 * pops and pushes of the slow paths that are the depot's or the slab
 * layer's (after a refill, after an exchange); the frees sent to remote
 * magazines that are gone (home, to the depot, or emptied).  Written by
 * tcache.c.
 */
struct sb_bin_side {
	struct sb_mag *inbox;
	struct sb_mag *spare;
	int64_t moved_in;
	uint64_t takes, gives, remote_frees;
	uint64_t unused[2];
};

_Static_assert(sizeof(struct sb_bin_side) == sizeof(struct sb_bin), "a bin's side is SB_NR_BINS bins on");

/*
 * Owner tokens (slab.h) are bins: the bin of the slab's size class in the
 * thread cache that last refilled from the slab, so that the free fast
 * path finds the owner's bin and whether it is its own in one load and one
 * compare.  sb_bin_nobody, in no cache, is the slab layer's "no owner".
 * A thread cache is also the token of its first bin.
 */
extern const struct sb_bin sb_bin_nobody;

static inline struct sb_tcache *sb_tc_of_token(const void *owner)
{
	return ((const struct sb_bin *)owner)->tc;
}

/* An inbox that takes nothing: an exited thread's, or a sentinel's. */
#define SB_INBOX_CLOSED ((struct sb_mag *)(uintptr_t)1)

/* EMPTY and DEAD are the sentinels' states. */
enum sb_tc_state { SB_TC_EMPTY, SB_TC_LIVE, SB_TC_DEAD };

/* Sizes up to this find their bin in the thread cache's own table. */
#define SB_DIRECT_MAX 1024

struct sb_tcache {
	struct sb_bin bins[SB_NR_BINS];
	struct sb_bin_side side[SB_NR_BINS];	/* right after bins (side_of()) */
	/* The bin of each size up to SB_DIRECT_MAX, by (size + 15) / 16, as in
	 * the class table (sizeclass.h): malloc's fast path loads the bin with
	 * one instruction.  Written when the cache is set up, then only read. */
	struct sb_bin *direct[SB_DIRECT_MAX / 16 + 1];
	/* The zone of the last pointer freed here: its region's base, the
	 * bytes of its slab map (0: none), the map and the page descriptors
	 * (sb_tc_cached_ref); zones live as long as the process. */
	uintptr_t zone_base;
	uintptr_t zone_map_bytes;
	const struct sb_slab_ref *zone_refs;
	struct sb_page *zone_pages;
	uint64_t callocs;		/* served by the fast path */
	uint64_t reallocs;		/* in place, by the fast path */
	struct sb_pcp pcp;
	enum sb_tc_state state;
	struct sb_tcache *next, *prev;	/* every live thread cache, or the spares */
	struct sb_tcache *all_next;	/* every cache ever made (push-only) */
};

/*
 * The calling thread's cache.  Starts at a static sentinel whose magazines
 * are empty with capacity 0, so the first malloc and free of a thread fail
 * their fast-path test and set the real one up.  After thread exit it
 * points at a dead sentinel of the same shape: late calls go to the slab
 * layer directly.
 */
extern __thread struct sb_tcache *sb_tc __attribute__((tls_model("initial-exec")));

/* The fast paths: a pop from, or a push onto, the loaded magazine of a
 * bin; false when it is empty (pop) or full (push), and the slow path
 * takes over.  No lock, no atomic instruction, no call. */
/* b->top += delta slots, as one add to memory: the compilers keep the
 * new top in a register, one instruction more, though nothing reads it. */
static SB_ALWAYS_INLINE void bin_move_top(struct sb_bin *b, long delta)
{
#if defined(__x86_64__)
	__asm__("addq %1, %0" : "+m"(b->top) : "er"(delta * (long)sizeof(void *)));
#else
	b->top += delta;
#endif
}

static inline bool sb_bin_pop(struct sb_bin *b, void **out)
{
	void **t = b->top;

	if (sb_unlikely(t == b->base))
		return false;
	bin_move_top(b, -1);
	sb_counter_add(&b->pops, 1);
	*out = t[-1];
	return true;
}

static inline bool sb_bin_push(struct sb_bin *b, void *p)
{
	void **t = b->top;

	if (sb_unlikely(t == b->limit))
		return false;
	*t = p;
	bin_move_top(b, 1);
	return true;
}

static inline bool sb_tc_pop(size_t bin, void **out)
{
	return sb_bin_pop(&sb_tc->bins[bin], out);
}

static inline bool sb_tc_push(size_t bin, void *p)
{
	return sb_bin_push(&sb_tc->bins[bin], p);
}

/* The same fast paths for the bin at byte offset off (bin << SB_BIN_SHIFT). */
static inline struct sb_bin *sb_tc_bin_at(size_t off)
{
	return (struct sb_bin *)((char *)sb_tc->bins + off);
}

static inline bool sb_tc_pop_at(size_t off, void **out)
{
	return sb_bin_pop(sb_tc_bin_at(off), out);
}

/* The same for a size of at most SB_DIRECT_MAX bytes. */
static inline bool sb_tc_pop_direct(size_t size, void **out)
{
	return sb_bin_pop(sb_tc->direct[(size + 15) >> 4], out);
}

/* The same for the cache tc, the caller's (read once, before a store to
 * user memory that the compiler cannot tell apart from sb_tc). */
static inline bool sb_tc_push_at(struct sb_tcache *tc, size_t off, void *p)
{
	return sb_bin_push((struct sb_bin *)((char *)tc->bins + off), p);
}

/* The misses' first resort: the previous magazine of the bin at off,
 * loaded in place of the empty (pop) or full (push) one; NULL or false
 * when it cannot serve, and the slow paths take over (tcache.c). */
void *sb_tc_pop_swapping(size_t off);
bool sb_tc_push_swapping(size_t off, void *p);

/* The fast path of a free of another thread's object: a push onto the
 * bin's remote magazine (sb_tc_free_other); false when it is full. */
static inline bool sb_tc_push_remote_at(struct sb_tcache *tc, size_t off, void *p)
{
	return sb_mag_push(((struct sb_bin *)((char *)tc->bins + off))->remote, p);
}

/*
 * The free fast path's way to a pointer's slab: if p lies in the zone of
 * the thread's last free, its entry in the zone's slab map in *ep (zeros,
 * which refuse every pointer, for pages of no slab, buddy.h), without the
 * registry and without a test of the page's state; false otherwise, and
 * sb_tc_page_of_miss() asks the registry and remembers.
 */
static inline bool sb_tc_cached_ref(const void *p, const struct sb_slab_ref **ep)
{
	const struct sb_tcache *tc = sb_tc;
	/* p's page index scaled by the entry size, in one register */
	uintptr_t at = (((uintptr_t)p ^ tc->zone_base) >> SB_PAGE_SHIFT) * sizeof(struct sb_slab_ref);

	if (sb_unlikely(at >= tc->zone_map_bytes))
		return false;
	*ep = (const struct sb_slab_ref *)((const char *)tc->zone_refs + at);
	return true;
}

/* The page descriptor of p, which sb_tc_cached_ref() found in the zone. */
static inline struct sb_page *sb_tc_cached_page(const void *p)
{
	return &sb_tc->zone_pages[((uintptr_t)p & SB_REGION_MASK) >> SB_PAGE_SHIFT];
}

/* p's page descriptor through the registry (NULL: not in a region); the
 * calling thread's cache remembers the zone. */
struct sb_page *sb_tc_page_of_miss(const void *p);

/* The page lists of the fast paths: the thread's, or a sentinel's (always
 * empty).  Pop only; pushes go through sb_tc_pcp(). */
static inline struct sb_pcp *sb_tc_pcp_front(void)
{
	return &sb_tc->pcp;
}

/* The calling thread's page lists if its cache is live, else NULL. */
static inline struct sb_pcp *sb_tc_pcp_live(void)
{
	struct sb_tcache *tc = sb_tc;

	return tc->state == SB_TC_LIVE ? &tc->pcp : NULL;
}

/* calloc's pop: sb_tc_pop_direct()'s, or sb_tc_pop_at()'s at off, from
 * one read of sb_tc, counted as a calloc (the cache is live if it pops). */
static inline bool sb_tc_pop_calloc(size_t size, size_t off, void **out)
{
	struct sb_tcache *tc = sb_tc;
	struct sb_bin *b = size <= SB_DIRECT_MAX ? tc->direct[(size + 15) >> 4]
						 : (struct sb_bin *)((char *)tc->bins + off);

	if (sb_unlikely(!sb_bin_pop(b, out)))
		return false;
	sb_counter_add(&tc->callocs, 1);
	return true;
}

/* A realloc in place that the fast path served, after a hit in the zone
 * of the last free (so sb_tc is live: a sentinel has no zone). */
static inline void sb_tc_count_realloc(void)
{
	sb_counter_add(&sb_tc->reallocs, 1);
}

/* The calling thread's own page lists (creating its cache), or NULL. */
struct sb_pcp *sb_tc_pcp(void);

/* The slow paths: the other magazine, the depot, the slab layer.  NULL:
 * no memory (errno is the caller's to set). */
void *sb_tc_alloc_slow(unsigned bin, const char *func);
void sb_tc_free_slow(unsigned bin, void *p, const char *func);

/*
 * Whose slab an object is on decides where its free goes: the fast paths
 * push onto the thread's magazine only when the slab's owner token (slab.h,
 * a bin: see sb_bin_nobody above) is a bin of sb_tc; anything else comes
 * here (owner NULL: nobody's), which pushes it onto the magazine after
 * all if the owner is the thread's own cache, and otherwise collects it in the thread's remote magazine of the bin, which
 * goes home when full, to the inbox of the owner of the object that filled
 * it, or to the depot if that inbox is taken: the freeing thread does not
 * reuse objects that share cache lines with another thread's (tcache.c).
 */
void sb_tc_free_other(unsigned bin, void *p, const void *owner, const char *func);

/* Is p (an object of bin) free: in a thread's magazine, the depot or its
 * slab?  Is the block p in a thread's page lists?  (The free key's check.) */
bool sb_tc_object_is_free(unsigned bin, const void *p);
bool sb_tc_block_is_cached(const void *p);
/* p holds the free key: report, naming func, if p is free indeed ("double
 * free", or "invalid pointer" for a slot never handed out); return if it
 * is live after all (its data matched the key). */
void sb_tc_check_suspect(unsigned bin, const void *p, const char *func);

/* Serve bin from depot d (cache.c, when a cache is set up). */
void sb_tc_attach(unsigned bin, struct sb_depot *d);
/* Return the calling thread's magazines and page blocks to the layers below. */
void sb_tc_flush(const char *func);
/* Every thread's magazines of bin to its depot (no thread may be using it). */
void sb_tc_drain(unsigned bin, const char *func);

/* From the library constructor: the thread-exit key. */
void sb_tc_init(void);

/* The calling thread's cache is valid: magazines of their bins' caches. */
bool sb_tc_validate(void);

struct sb_tc_counters {
	size_t threads;
	size_t obj_bytes;		/* objects in magazines */
	size_t page_bytes;		/* blocks in page lists */
};
void sb_tc_counters(struct sb_tc_counters *out);

/*
 * What the fast paths of every thread cache ever made served, and the
 * objects of their bins' slow-path pops and pushes: mallocs from a
 * magazine (pops), frees onto one (pushes, including the slow paths'
 * after a depot exchange), frees onto remote magazines, the bytes of every
 * pop (the slow paths' too), callocs and reallocs in place; and of the page lists, pops, pushes and bytes popped.  No lock:
 * exact when the threads are quiet, racy (a magazine being swapped counts
 * as empty) while they run, so safe from a signal handler.
 */
struct sb_tc_traffic {
	uint64_t pops, pushes, remote, pop_bytes, callocs, reallocs;
	uint64_t page_pops, page_pushes, page_pop_bytes;
};
void sb_tc_traffic(struct sb_tc_traffic *out);

/* Fork: tc_lock (fork.c). */
void sb_tc_fork_prepare(void);
void sb_tc_fork_parent(void);
void sb_tc_fork_child(void);

#pragma GCC visibility pop

#endif /* SB_TCACHE_H */
