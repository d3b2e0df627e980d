/*
 * depot.h - the depot behind a cache's thread caches: full and empty
 * magazines under one lock (depot.c).
 *
 * Every field of struct sb_depot is written by depot.c only; the layout
 * is here because a depot is embedded in its composite cache (cache.c).
 */
#ifndef SB_DEPOT_H
#define SB_DEPOT_H

#include "common.h"

#include <pthread.h>

#pragma GCC visibility push(hidden)

struct sb_mag;
struct sb_slab_cache;

/* *_min is the smallest length a list had since the last working-set
 * update, *_reap how many it may lose at the next. */
struct sb_depot {
	pthread_mutex_t lock;		/* everything below but `slab` */
	struct sb_slab_cache *slab;	/* where rounds go back; constant */
	struct sb_mag *full, *empty;
	size_t nfull, nempty;
	size_t full_min, empty_min, full_reap, empty_reap;
	uint32_t mag_cap;		/* rounds of new magazines; grows under contention */
	uint32_t contention;		/* failed trylocks since the last update */
	uint64_t exchanges;
	uint64_t last_update_ns;
};

void sb_depot_init(struct sb_depot *d, struct sb_slab_cache *slab);

static inline struct sb_slab_cache *sb_depot_slab(const struct sb_depot *d)
{
	return d->slab;
}

/* Capacity of the depot's new magazines. */
uint32_t sb_depot_mag_cap(struct sb_depot *d);
/*
 * Hand m (full or empty, or NULL) to the depot and take one of the other
 * kind; NULL if there is none (and, for give_full, no memory for a new
 * empty one).  func names the public function for reports.
 */
struct sb_mag *sb_depot_exchange(struct sb_depot *d, struct sb_mag *give, bool give_full,
				 const char *func);
/* An empty magazine (from the depot, else new); NULL without memory. */
struct sb_mag *sb_depot_get_empty(struct sb_depot *d);
/* Keep m: full ones as they are, others emptied into the slab layer first. */
void sb_depot_put(struct sb_depot *d, struct sb_mag *m, const char *func);
/* Return magazines idle for a working-set interval (all: every one). */
void sb_depot_reap(struct sb_depot *d, bool all, const char *func);
/* Make the next exchange run the working-set update (unit tests). */
void sb_depot_expire(struct sb_depot *d);
/* Pretend n failed trylocks since the last update (unit tests). */
void sb_depot_set_contention(struct sb_depot *d, uint32_t n);

/* Is p a round of one of the depot's magazines? */
bool sb_depot_holds(struct sb_depot *d, const void *p);

/* Counts agree with the lists, magazines are full or empty as listed. */
bool sb_depot_validate(struct sb_depot *d);

struct sb_depot_counters {
	size_t nfull, nempty;
	size_t full_objs;		/* rounds in full magazines */
	uint32_t mag_cap;
	uint64_t exchanges;
};
/* locked false: read racily (signal-time dump; full_objs estimated). */
void sb_depot_counters(struct sb_depot *d, struct sb_depot_counters *out, bool locked);

/* Fork: d's lock (fork.c). */
void sb_depot_lock(struct sb_depot *d);
void sb_depot_unlock(struct sb_depot *d);

#pragma GCC visibility pop

#endif /* SB_DEPOT_H */
