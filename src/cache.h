/*
 * cache.h - object caches: a slab cache, its depot and its bin, composed
 * (cache.c).  The size classes' caches and the dedicated ones of
 * sb_cache_create() are the same kind of object.  struct sb_cache is
 * opaque outside cache.c.
 */
#ifndef SB_CACHE_H
#define SB_CACHE_H

#include "common.h"

#pragma GCC visibility push(hidden)

struct sb_cache;
struct sb_depot;
struct sb_slab_cache;

/* The caches of the size classes, bins 0 .. SB_NR_CLASSES - 1; from bring-up. */
void sb_caches_init(void);

/* Every cache, newest first (dead dedicated caches included: they stay). */
struct sb_cache *sb_cache_first(void);
struct sb_cache *sb_cache_next(const struct sb_cache *c);
bool sb_cache_is_dead(const struct sb_cache *c);
struct sb_slab_cache *sb_cache_slab(struct sb_cache *c);
struct sb_depot *sb_cache_depot(struct sb_cache *c);
/* The cache of a size class. */
struct sb_cache *sb_cache_of_class(unsigned cls);

struct sb_slab;
/*
 * p, a validated object start on slab s of bin, comes back from the
 * program (free or sb_cache_free): it must be live (the free key, key.h,
 * or for a cache with a constructor its live bit), and goes to the
 * thread's magazine.  Aborts, naming func, on a double free.
 */
void sb_cache_object_back(unsigned bin, struct sb_slab *s, void *p, const char *func);

/* Fork (fork.c): slot_lock; then, later in the order, every depot lock
 * and every slab cache lock. */
void sb_cache_slots_fork_prepare(void);
void sb_cache_slots_fork_parent(void);
void sb_cache_slots_fork_child(void);
void sb_cache_fork_prepare(void);
void sb_cache_fork_parent(void);
void sb_cache_fork_child(void);

#pragma GCC visibility pop

#endif /* SB_CACHE_H */
