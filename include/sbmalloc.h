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
