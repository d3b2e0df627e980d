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
 * Options and statistics by name, in the manner of jemalloc's mallctl().
 *
 * Reading: oldp points to a variable of the name's type and *oldlenp holds
 * its size; with oldp NULL and oldlenp not, *oldlenp gets the size and
 * nothing is read.  Writing: newp points to the new value, newlen is its
 * size; the old value is read first.  Returns 0, or an errno value:
 *   ENOENT  no such name
 *   EINVAL  *oldlenp or newlen is not the size of the name's type (then
 *           *oldlenp is set to it), oldp without oldlenp, a value out of
 *           range
 *   EPERM   a write to a name that cannot be written
 *   EAGAIN  a counted statistic while the program does not count
 *           (stats.counting is 0: neither SBMALLOC_STATS nor
 *           SBMALLOC_STATS_SIGNAL was set at start-up)
 * Nothing here allocates; it may be called from any thread.
 *
 * Names and types:
 *   "version"            const char *  as sb_version()
 *   "opt.hugepages"      const char *  SBMALLOC_HUGEPAGES: "kernel", "auto",
 *                                      "hugetlb", "thp" or "off"
 *   "opt.check"          int           SBMALLOC_CHECK, 0 or 1
 *   "opt.dirty_max"      size_t        SBMALLOC_DIRTY_MAX, bytes; writable
 *                                      (as mallopt(M_TRIM_THRESHOLD)), at
 *                                      most 2^50
 *   "opt.stats"          int           1: a dump at exit (SBMALLOC_STATS)
 *   "opt.stats_file"     const char *  its path as given (%p: the pid);
 *                                      NULL: stderr
 *   "opt.stats_signal"   int           SBMALLOC_STATS_SIGNAL; 0: none
 *   "opt.stats_format"   const char *  SBMALLOC_STATS_FORMAT: "text", "json"
 *   "opt.guard"          size_t        SBMALLOC_GUARD: one allocation in N
 *                                      guarded; 0: none
 *   "opt.verbose"        int           SBMALLOC_VERBOSE, 0 or 1
 * The figures of the statistics dump's summary (its key in brackets),
 * read afresh at each call; sizes in bytes:
 *   "stats.counting"     int           1 if the calls below are counted
 *   "stats.allocated"    size_t        live bytes handed out, as
 *                                      malloc_usable_size() counts them
 *                                      [live_bytes]; counted
 *   "stats.allocated_peak" size_t      its peak [live_bytes_peak]; counted
 *   "stats.requested"    uint64_t      bytes asked for, ever; counted
 *   "stats.handed_out"   uint64_t      bytes handed out, ever; counted
 *   "stats.malloc"       uint64_t      allocations [malloc]; counted
 *   "stats.free"         uint64_t      frees [free]; counted
 *   "stats.realloc"      uint64_t      reallocs [realloc]; counted
 *   "stats.calloc"       uint64_t      callocs [calloc]; counted
 *   "stats.mapped"       size_t        mapped for the heap [mapped_bytes]
 *   "stats.mapped_peak"  size_t        its peak [mapped_bytes_peak]
 *   "stats.resident"     size_t        of that, resident [resident_bytes]
 *   "stats.regions"      size_t        32 MiB regions [regions]
 *   "stats.slab"         size_t        in slabs [slab_bytes]
 *   "stats.buddy_free"   size_t        free in the regions [buddy_free_bytes]
 *   "stats.huge_blocks"  size_t        live blocks above 4 MiB [huge_blocks]
 *   "stats.huge_bytes"   size_t        their bytes [huge_blocks_bytes]
 *   "stats.huge_cached_bytes" size_t   freed ones kept [huge_cached_bytes]
 *
 *     size_t live, len = sizeof(live);
 *     if (sb_ctl("stats.allocated", &live, &len, NULL, 0) == 0) ...
 */
int sb_ctl(const char *name, void *oldp, size_t *oldlenp, void *newp, size_t newlen);

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
