/*
 * slab.h - slab caches: slabs of contiguous pages cut into equal objects
 * (slab.c).
 *
 * Every field of struct sb_slab_cache and struct sb_slab is written by
 * slab.c only.  The layouts are here because a slab cache is embedded in
 * its composite cache (cache.c) and because the free fast path reads a
 * slab's first object through sb_slab_objs().
 */
#ifndef SB_SLAB_H
#define SB_SLAB_H

#include "buddy.h"
#include "common.h"
#include "stack.h"

#include <pthread.h>

#pragma GCC visibility push(hidden)

#define SB_SLAB_MAX_OBJS 256
#define SB_SLAB_WORDS (SB_SLAB_MAX_OBJS / 64)
#define SB_SLAB_MAX_PAGES 8
#define SB_CACHE_NAME_MAX 32

enum sb_slab_list { SB_SLAB_PARTIAL, SB_SLAB_FULL, SB_SLAB_EMPTY, SB_NR_SLAB_LISTS };

/* SBMALLOC_CHECK: bytes of red zone after every object (slab.c's top comment). */
#define SB_SLAB_REDZONE 16

struct sb_slab_cache;
struct sb_track;

/* Out of band: one per slab. */
/*
 * A slab's descriptor.  The free fast path reads none of it: the fields of
 * the first group are copied into every page's slab map entry (buddy.h,
 * struct sb_slab_ref; slab.c's ref_of), which is what it reads.  The
 * descriptors are cache-line aligned (meta.c), and what a batched free
 * checks first (objs, cache, size) lies in the first line.
 */
struct sb_slab {
	/* Copied into the slab map. */
	char *objs;			/* first object: mem + colour */
	uint64_t fast_mul, fast_lim;	/* sb_fast_object_test, lim 0 if the free
					 * fast path may not take its objects */
	const void *owner;		/* a token of whoever last took objects (tcache.h:
					 * the bin of a thread cache), never NULL; read
					 * racily */
	uint32_t bin_off;		/* the cache's bin << SB_BIN_SHIFT */
	bool frees_go_home;		/* objects small enough to share cache lines */
	bool poisoned;			/* created under SBMALLOC_CHECK: free objects hold poison */
	uint16_t nfree;
	struct sb_slab_cache *cache;
	uint32_t size, recip;		/* the cache's stride and reciprocal */
	/* The rest. */
	struct sb_slab *next, *prev;	/* on one of the cache's three lists */
	char *mem;			/* first page */
	uint16_t list;			/* enum sb_slab_list */
	uint16_t colour;
	uint16_t hint;			/* first word of free_bits that may be non-zero */
	uint64_t free_bits[SB_SLAB_WORDS];	/* bit set: object in the slab */
	uint64_t live_bits[SB_SLAB_WORDS];	/* caches with a constructor: bit set:
						 * object handed out (cache.c) */
	struct sb_track *tracks;	/* SBMALLOC_CHECK: one per object, else NULL */
} __attribute__((aligned(SB_CACHE_LINE)));

_Static_assert(offsetof(struct sb_slab, recip) + sizeof(uint32_t) <= SB_CACHE_LINE,
	       "a batched free's first checks read one cache line of the descriptor");

struct sb_slab_list_head {
	struct sb_slab *first;
	size_t count;
};

/* How objects of one size lie in their slabs: a pure function of the
 * size and alignment (sb_slab_geometry), shared by caches and the size
 * class table. */
struct sb_slab_geometry {
	uint32_t size;			/* object stride */
	uint32_t align;			/* every object is aligned to this */
	uint32_t recip;			/* 2^32 / size + 1: offset -> index */
	uint16_t objs_per_slab;
	uint16_t pages_per_slab;
	uint32_t colour_step;
	uint16_t colour_count;		/* number of distinct colours */
};

struct sb_slab_cache {
	pthread_mutex_t lock;		/* everything below but the constants */
	char name[SB_CACHE_NAME_MAX];
	uint32_t size, align, recip;	/* the geometry, flat; size is the stride */
	uint32_t obj_size;		/* usable bytes: size less the red zone */
	uint32_t redzone;		/* SBMALLOC_CHECK: SB_SLAB_REDZONE, else 0 */
	uint16_t objs_per_slab, pages_per_slab;
	uint32_t colour_step;
	uint16_t colour_count, colour_next;
	unsigned reserve;		/* empty slabs kept before returning pages */
	uint8_t bin;			/* written on every page of every slab */
	bool fast_free;			/* the free fast path takes its objects */
	void (*ctor)(void *obj, void *arg);
	void (*dtor)(void *obj, void *arg);
	void *ctor_arg;
	struct sb_slab_list_head lists[SB_NR_SLAB_LISTS];
	size_t active_objs;		/* out of the slab layer (incl. magazines) */
	uint64_t slabs_created, slabs_destroyed;
};

/*
 * The one formula from an object's offset to its index: off is p minus
 * the slab's first object (span = objs_per_slab * size bytes of objects,
 * recip = 2^32 / size + 1; exact for every offset below 2^32 / size).
 * True, with *idx, if an object starts there.
 */
static inline bool sb_object_index(uintptr_t off, uint32_t size, uint32_t recip, uint32_t span,
				   uint32_t *idx)
{
	uint64_t i = (off * (uint64_t)recip) >> 32;

	if (sb_unlikely(off >= span || i * size != off))
		return false;
	*idx = (uint32_t)i;
	return true;
}

/*
 * The free fast path's test of the same question, one multiply and one
 * compare (the divisibility test of Lemire, Kaser and Kurz, "Faster
 * remainder by direct computation", 2019, with a bound folded in).  With
 * mul = floor((2^64 - 1) / size) + 2, so that e = mul * size - 2^64 lies in
 * [1, 2 * size), a 32-bit offset off = q * size + r gives off * mul mod 2^64
 * = q * e when r == 0 and at least mul otherwise; so the product is below
 * lim = (objs - 1) * e + 1 exactly when off is the start of object q < objs.
 * Offsets before the first object wrap to values whose q exceeds any slab.
 * Exact for size < 2^30 (tests/unit/slab.c checks it against
 * sb_object_index); lim 0 refuses every offset.
 */
static inline bool sb_fast_object_test(uint32_t off, uint64_t mul, uint64_t lim)
{
	return (uint64_t)off * mul < lim;
}

/* mul and lim of sb_fast_object_test for objs objects of size bytes. */
static inline void sb_fast_object_params(uint32_t size, uint32_t objs, uint64_t *mul, uint64_t *lim)
{
	uint64_t m = UINT64_MAX / size + 2;

	*mul = m;
	*lim = objs == 0 ? 0 : (uint64_t)(objs - 1) * (m * size) + 1;
}

static inline char *sb_slab_objs(const struct sb_slab *s)
{
	return s->objs;
}

/* Is p the start of an object of s that the free fast path may take (a
 * size class's, not under SBMALLOC_CHECK)?  One multiply, one compare. */
static inline bool sb_slab_fast_object(const struct sb_slab *s, const void *p)
{
	return sb_fast_object_test((uint32_t)((uintptr_t)p - (uintptr_t)s->objs), s->fast_mul,
				   s->fast_lim);
}

/* The same test on p's slab map entry e (buddy.h), which is all the free
 * fast path reads of the slab; a page of no slab refuses every p. */
static inline bool sb_slab_ref_takes(const struct sb_slab_ref *e, const void *p)
{
	return sb_fast_object_test((uint32_t)(uintptr_t)p - e->objs, e->fast_mul, e->fast_lim);
}

static inline struct sb_slab_cache *sb_slab_cache_of(const struct sb_slab *s)
{
	return s->cache;
}

/* The "no owner" token, never NULL (so that the free fast path may read
 * through any token); set once, before any slab exists (init.c). */
void sb_slab_set_nobody(const void *token);

/* The owner token of the slab: a plain read of a word written under the
 * cache lock; a stale value only sends a free down the other path. */
static inline const void *sb_slab_owner(const struct sb_slab *s)
{
	return s->owner;
}

/*
 * Objects smaller than a cache line share lines with their neighbours, so
 * another thread's free of one sends it home (tcache.c: remote magazines),
 * lest the freeing thread reuse it next to the owner's live objects
 * (passive false sharing: bench/workloads/cache-scratch, 8-byte objects,
 * 8.2 s before, 3.4 s after).  Larger objects are reused by the thread that
 * freed them, whose cache holds them warm, as tcmalloc and jemalloc do:
 * on bench/workloads/larson (16-1024 B, 69% of frees by another thread),
 * sending every object home cost about 12% of its time (fastest of 7
 * runs: 0.83 s against 0.72 s).
 */
#define SB_HOME_MAX (SB_CACHE_LINE - 1)

/* Usable bytes of each object of c. */
static inline uint32_t sb_slab_size(const struct sb_slab_cache *c)
{
	return c->obj_size;
}

/*
 * Is c sparse: at least SB_SLAB_SPARSE_MIN slabs with objects out, and
 * fewer than a quarter of their objects out (those in magazines count as
 * out)?  Then what magazines hold pins slabs that would otherwise empty,
 * so the depot sends full magazines back (depot.c).  Read racily: a hint.
 */
#define SB_SLAB_SPARSE_MIN 32
static inline bool sb_slab_sparse(const struct sb_slab_cache *c)
{
	size_t slabs = sb_read_once(c->lists[SB_SLAB_PARTIAL].count) +
		       sb_read_once(c->lists[SB_SLAB_FULL].count);

	return slabs >= SB_SLAB_SPARSE_MIN &&
	       sb_read_once(c->active_objs) * 4 < slabs * c->objs_per_slab;
}

/* The stride of objects of size bytes: a multiple of 16; with a red zone
 * under SBMALLOC_CHECK. */
size_t sb_slab_stride_for(size_t size);

/* The geometry of objects of size bytes (a multiple of 16) aligned to align. */
void sb_slab_geometry(size_t size, size_t align, struct sb_slab_geometry *g);

/* Set up c (zeroed or not) for objects of size bytes (any size: the stride
 * is rounded up); pages of its slabs are marked with bin.  A constructor,
 * if any, is set before first use. */
void sb_slab_cache_init(struct sb_slab_cache *c, const char *name, size_t size, size_t align,
			unsigned bin);
void sb_slab_cache_set_ctor(struct sb_slab_cache *c, void (*ctor)(void *, void *),
			    void (*dtor)(void *, void *), void *arg);
/* Let the free fast path take c's objects (the size classes' caches). */
void sb_slab_cache_set_fast_free(struct sb_slab_cache *c);

/*
 * Up to n objects into out under one lock; returns how many (0: no
 * memory).  func names the public function for reports (write after free
 * under SBMALLOC_CHECK).
 */
unsigned sb_slab_alloc_batch(struct sb_slab_cache *c, void **out, unsigned n, const char *func);
/* The same for owner (a thread cache): from slabs it owns or nobody does,
 * if one of the first partial slabs is; the slabs it takes from become its. */
unsigned sb_slab_alloc_batch_for(struct sb_slab_cache *c, void **out, unsigned n,
				 const char *func, const void *owner);
/* Free n objects of cache c under one lock; aborts, naming func, on one
 * that is not an allocated object of c. */
void sb_slab_free_batch(struct sb_slab_cache *c, void *const *objs, unsigned n, const char *func);
/* Is p the start of an object of slab s? */
bool sb_slab_is_object(const struct sb_slab *s, const void *p);
/* Is p (an object of c) free in its slab?  Takes c's lock. */
bool sb_slab_object_is_free(struct sb_slab_cache *c, const void *p);

/* Objects of c carry the free key (key.h): c has no constructor, whose
 * state the key would overwrite. */
static inline bool sb_slab_keyed(const struct sb_slab_cache *c)
{
	return c->ctor == NULL;
}

/*
 * The out-of-band liveness of objects of caches with a constructor: set
 * when an object is handed out, cleared when it comes back; each returns
 * the bit's old value.  Atomic: threads free objects of one slab at once.
 */
bool sb_slab_set_live(struct sb_slab *s, const void *p);
bool sb_slab_clear_live(struct sb_slab *s, const void *p);

/* Give c's empty slabs back to the buddy allocator (skipped if c is
 * busy); returns bytes. */
size_t sb_slab_reclaim(struct sb_slab_cache *c);
/* Give every slab of c back (all must be empty); destructors run. */
void sb_slab_destroy_all(struct sb_slab_cache *c);
/* Objects of c out of the slab layer. */
size_t sb_slab_active(struct sb_slab_cache *c);

/* Lists, bitmaps and counts of c agree; reports the first broken
 * invariant.  Takes c's lock. */
bool sb_slab_validate(struct sb_slab_cache *c);

struct sb_slab_counters {
	const char *name;
	uint32_t size;
	uint16_t objs_per_slab, pages_per_slab;
	size_t active_objs, num_slabs, active_slabs;
};
/* locked false: read racily (signal-time dump), kept consistent. */
void sb_slab_counters(struct sb_slab_cache *c, struct sb_slab_counters *out, bool locked);

/*
 * SBMALLOC_CHECK (the kernel's slab_debug), for objects of caches created
 * in that mode, at the API boundary: an object handed out for `requested`
 * bytes gets its allocation stack recorded, its poison checked and its red
 * zone [requested, stride) filled; an object coming back is checked for a
 * double free, a never handed out slot and a damaged red zone, each
 * reported with the object's stacks, and gets its free stack recorded.
 * Both do nothing for objects of other caches.  func names the caller.
 */
void sb_slab_debug_alloc(void *p, size_t requested, const char *func);
void sb_slab_debug_free(void *p, const char *func);
/* The size p (an object of a tracked slab) was handed out for, or SIZE_MAX. */
size_t sb_slab_debug_usable(const void *p);

/* Fork: c's lock (fork.c). */
void sb_slab_lock(struct sb_slab_cache *c);
void sb_slab_unlock(struct sb_slab_cache *c);

#pragma GCC visibility pop

#endif /* SB_SLAB_H */
