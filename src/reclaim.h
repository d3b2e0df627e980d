/*
 * reclaim.h - giving memory back across layers (reclaim.c), one of the
 * three orchestration points (with init.c and fork.c) allowed to call
 * every layer, and to be called from any of them.
 */
#ifndef SB_RECLAIM_H
#define SB_RECLAIM_H

#include "common.h"

#pragma GCC visibility push(hidden)

/* Memory ran out: every cache's empty slabs back to the buddy allocator
 * (busy caches are skipped); returns bytes. */
size_t sb_reclaim_slabs(void);
/* malloc_trim(): the calling thread's caches, every depot, every empty
 * slab and every free page; returns bytes given back to the OS and to
 * the buddy allocator. */
size_t sb_trim(void);

#pragma GCC visibility pop

#endif /* SB_RECLAIM_H */
