/*
 * sbmalloc.h - public interface of sbmalloc.
 *
 * sbmalloc replaces the whole malloc family when it is preloaded
 * (LD_PRELOAD=libsbmalloc.so) or linked (-lsbmalloc).  This header declares
 * what sbmalloc adds to it: the C23 sized frees, which glibc 2.36's
 * <stdlib.h> does not declare yet, the glibc extras it implements, and the
 * sb_* functions of its own.
 */
#ifndef SBMALLOC_H
#define SBMALLOC_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* C23 sized deallocation. */
void free_sized(void *ptr, size_t size);
void free_aligned_sized(void *ptr, size_t alignment, size_t size);

/* glibc's name: sbmalloc's statistics dump, to stderr. */
void malloc_stats(void);

/*
 * Write sbmalloc's statistics to fd: a slabinfo section in the layout of the
 * kernel's /proc/slabinfo (version 2.1), a buddyinfo section (one row per
 * region, free blocks per order) and a summary.  Per-call counters are
 * filled only when the program runs with SBMALLOC_STATS set.
 */
void sb_stats_print(int fd);

/*
 * The same statistics as one JSON object (RFC 8259, UTF-8), written to fd
 * and ended by a newline: "format_version", then "slabinfo" (the rows),
 * "buddyinfo" (the regions), "summary" and "counters" objects; every key,
 * its type and unit are in docs/stats-json.md.  SBMALLOC_STATS_FORMAT=json
 * makes the dumps at exit and on SBMALLOC_STATS_SIGNAL take this form too.
 * Like sb_stats_print, it neither allocates nor uses stdio.
 */
void sb_stats_print_json(int fd);

/*
 * Dedicated object caches, as the kernel's kmem_cache: objects of one size,
 * kept in their constructed state between uses.
 *
 * sb_cache_create: name is copied (31 characters at most); size 1..32768;
 * align 0 for the natural alignment (16), else a power of two up to 4096.
 * ctor runs once per object slot when a slab is populated, dtor once per
 * constructed object when a slab goes back to the page allocator (reclaim
 * by malloc_trim or when memory runs out, or sb_cache_destroy); both get
 * arg.  A destructor needs a constructor (objects of a cache without one
 * were never constructed).  They run with sbmalloc's locks for this cache
 * possibly held: they may call malloc and free, but not this cache's
 * functions.  NULL with errno EINVAL for a NULL name, a zero or too large
 * size, a bad alignment or a destructor without a constructor; ENOMEM when
 * 64 dedicated caches exist already.
 *
 * sb_cache_free and free() both return an object to its cache.
 * sb_cache_free of an object of another cache, or not from sbmalloc, is
 * reported on stderr and aborts, like an invalid free.
 *
 * sb_cache_destroy: with objects still allocated, reports their number and
 * the cache name on stderr and leaves the cache alone.  No thread may use
 * the cache during or after its destruction.
 */
typedef struct sb_cache sb_cache_t;
sb_cache_t *sb_cache_create(const char *name, size_t size, size_t align,
			    void (*ctor)(void *obj, void *arg),
			    void (*dtor)(void *obj, void *arg), void *arg);
void *sb_cache_alloc(sb_cache_t *cache);
void sb_cache_free(sb_cache_t *cache, void *obj);
void sb_cache_destroy(sb_cache_t *cache);

/* The version of the library actually serving allocations, e.g. "0.1.0". */
const char *sb_version(void);

/*
 * 1 if ptr points into memory that sbmalloc maps for the heap (one of its
 * regions or large mappings), 0 otherwise.  Never dereferences ptr, so it is
 * safe on any value.
 */
int sb_owns(const void *ptr);

#ifdef __cplusplus
}
#endif

#endif /* SBMALLOC_H */
