/*
 * depot.c - the depot: full and empty magazines of one cache, one lock.
 *
 * Threads trade whole magazines with the depot (Bonwick and Adams, 2001):
 * a thread whose magazines are both empty gives one empty and takes a full
 * one; a thread whose magazines are both full gives a full one and takes
 * an empty one.  One lock round trip moves a magazine's worth of objects,
 * so objects freed by one thread reach threads that allocate in bulk.
 *
 * Magazine size.  A cache's magazines start at 32 KiB worth of objects,
 * clamped to 8..64 rounds (small objects get more).  The depot lock is
 * taken with trylock first; when more than CONTENTION_LIMIT trylocks fail
 * within one working-set interval the capacity of new magazines doubles, up
 * to SB_MAG_MAX_ROUNDS, as umem_cache_magazine_resize() does.  Sizes only
 * grow.
 *
 * Bound.  The depot keeps full magazines holding at most 256 KiB of objects
 * per cache (and at least 4 magazines); a full magazine offered beyond that
 * has its objects returned to the slab layer at once (one lock round trip)
 * and is kept as an empty one.  Objects a program freed in a burst thus go
 * back to their slabs, and empty slabs to the buddy allocator, instead of
 * waiting for the reaper; threads that trade magazines steadily still find
 * full ones in the depot.  A sparse cache (sb_slab_sparse: its slabs less
 * than a quarter full) keeps no full magazine at all: at a free's exchange
 * the depot's full magazines and the one given go back to their slabs,
 * since every object held there pins a slab that would otherwise empty
 * (after a program frees most of a big heap in random order).
 *
 * Working-set reaping.  Every list tracks the smallest length it had since
 * the last update (`min`).  At each update (at least REAP_INTERVAL_NS
 * apart, checked during exchanges; there is no background thread):
 * reap = min, min = length, and min(reap, min) magazines of the list are
 * returned: full ones' objects to the slab layer, the magazines themselves
 * to the metadata allocator.  Those are magazines nobody needed for a whole
 * interval, so idle memory flows back to the slabs and, as slabs empty, to
 * the buddy allocator.  malloc_trim() reaps every magazine.
 *
 * Lock: the depot lock protects its lists and counters.  Objects go back
 * to the slab layer only after it is dropped.  Lock order: fork.c.
 */
#include "depot.h"
#include "magazine.h"
#include "slab.h"

#include <time.h>

#define SB_MAG_MIN_ROUNDS 8
#define SB_MAG_START_ROUNDS 64
#define MAG_BYTES_TARGET (32 << 10)
#define CONTENTION_LIMIT 16
#define DEPOT_FULL_BYTES ((size_t)256 << 10)
#define REAP_INTERVAL_NS 1000000000ull

static bool validate_locked(struct sb_depot *d);

void sb_depot_init(struct sb_depot *d, struct sb_slab_cache *slab)
{
	size_t cap = MAG_BYTES_TARGET / slab->size;

	if (cap < SB_MAG_MIN_ROUNDS)
		cap = SB_MAG_MIN_ROUNDS;
	if (cap > SB_MAG_START_ROUNDS)
		cap = SB_MAG_START_ROUNDS;
	pthread_mutex_init(&d->lock, NULL);
	d->slab = slab;
	d->full = d->empty = NULL;
	d->nfull = d->nempty = d->full_min = d->empty_min = 0;
	d->full_reap = d->empty_reap = 0;
	d->mag_cap = (uint32_t)cap;
	d->contention = 0;
	d->exchanges = 0;
	d->last_update_ns = 0;
}

uint32_t sb_depot_mag_cap(struct sb_depot *d)
{
	return sb_read_once(d->mag_cap);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void depot_lock(struct sb_depot *d)
{
	if (pthread_mutex_trylock(&d->lock) != 0) {
		pthread_mutex_lock(&d->lock);
		d->contention++;
	}
}

/* ---- Magazine lists (the depot lock is held) ------------------------- */

static struct sb_mag *mag_list_del(struct sb_mag **list, size_t *n, size_t *min)
{
	struct sb_mag *m = *list;

	if (m == NULL)
		return NULL;
	*list = sb_mag_next(m);
	sb_write_once(*n, *n - 1);
	if (*n < *min)
		*min = *n;
	return m;
}

static void mag_list_add(struct sb_mag **list, size_t *n, struct sb_mag *m)
{
	sb_mag_link(m, *list);
	*list = m;
	sb_write_once(*n, *n + 1);
}

/* Take up to k magazines off a list, as a chain. */
static struct sb_mag *mag_list_take(struct sb_mag **list, size_t *n, size_t *min, size_t k)
{
	struct sb_mag *out = NULL, *m;

	while (k-- > 0 && (m = mag_list_del(list, n, min)) != NULL) {
		sb_mag_link(m, out);
		out = m;
	}
	return out;
}

/* Give a chain of magazines back: rounds to the slab layer, magazines to
 * the metadata allocator.  The depot lock is not held. */
static void release(struct sb_depot *d, struct sb_mag *chain, const char *func)
{
	while (chain != NULL) {
		struct sb_mag *m = chain;

		chain = sb_mag_next(m);
		sb_mag_empty(m, d->slab, func);
		sb_mag_free(m);
	}
}

/*
 * The working-set update, if an interval has passed; returns the
 * magazines to release once the lock is dropped.
 */
static struct sb_mag *ws_update(struct sb_depot *d)
{
	uint64_t t = now_ns();
	struct sb_mag *out, *e, *tail;
	size_t k;

	if (t - d->last_update_ns < REAP_INTERVAL_NS)
		return NULL;
	d->last_update_ns = t;
	if (d->contention > CONTENTION_LIMIT && d->mag_cap < SB_MAG_MAX_ROUNDS)
		sb_write_once(d->mag_cap, d->mag_cap * 2 > SB_MAG_MAX_ROUNDS ? SB_MAG_MAX_ROUNDS
					  : d->mag_cap * 2);
	d->contention = 0;
	d->full_reap = d->full_min;
	d->full_min = d->nfull;
	d->empty_reap = d->empty_min;
	d->empty_min = d->nempty;
	k = d->full_reap < d->full_min ? d->full_reap : d->full_min;
	out = mag_list_take(&d->full, &d->nfull, &d->full_min, k);
	k = d->empty_reap < d->empty_min ? d->empty_reap : d->empty_min;
	e = mag_list_take(&d->empty, &d->nempty, &d->empty_min, k);
	if (e == NULL)
		return out;
	for (tail = e; sb_mag_next(tail) != NULL; tail = sb_mag_next(tail))
		;
	sb_mag_link(tail, out);
	return e;
}

/* Full magazines the depot keeps: 256 KiB of objects, at least 4 magazines. */
static inline size_t depot_full_max(const struct sb_depot *d)
{
	size_t n = DEPOT_FULL_BYTES / ((size_t)d->mag_cap * d->slab->size);

	return n < 4 ? 4 : n;
}

/* ---- Trading ----------------------------------------------------------- */

struct sb_mag *sb_depot_exchange(struct sb_depot *d, struct sb_mag *give, bool give_full,
				 const char *func)
{
	struct sb_mag *got, *reaped, *sparse = NULL;

	SB_ASSERT(give == NULL || (give_full ? sb_mag_is_full(give) : sb_mag_is_empty(give)));
	depot_lock(d);
	if (give_full) {
		got = mag_list_del(&d->empty, &d->nempty, &d->empty_min);
		if (sb_slab_sparse(d->slab)) {
			sparse = mag_list_take(&d->full, &d->nfull, &d->full_min, SIZE_MAX);
		} else if (give != NULL && d->nfull < depot_full_max(d)) {
			mag_list_add(&d->full, &d->nfull, give);
			give = NULL;
		}
	} else {
		got = mag_list_del(&d->full, &d->nfull, &d->full_min);
		if (got != NULL && give != NULL)
			mag_list_add(&d->empty, &d->nempty, give);
	}
	if (got != NULL)
		sb_write_once(d->exchanges, d->exchanges + 1);
	reaped = ws_update(d);
	SB_ASSERT_FULL(validate_locked(d));
	pthread_mutex_unlock(&d->lock);
	if (reaped != NULL)
		release(d, reaped, func);
	if (sparse != NULL)
		release(d, sparse, func);
	if (give_full && give != NULL) {
		/* The depot holds enough: these objects go back to their slabs. */
		sb_mag_empty(give, d->slab, func);
		if (got == NULL)
			return give;
		sb_depot_put(d, give, func);
	}
	if (got == NULL && give_full)
		got = sb_mag_new(d->mag_cap);
	return got;
}

struct sb_mag *sb_depot_get_empty(struct sb_depot *d)
{
	struct sb_mag *m;

	depot_lock(d);
	m = mag_list_del(&d->empty, &d->nempty, &d->empty_min);
	pthread_mutex_unlock(&d->lock);
	return m != NULL ? m : sb_mag_new(d->mag_cap);
}

void sb_depot_put(struct sb_depot *d, struct sb_mag *m, const char *func)
{
	if (!sb_mag_is_full(m))
		sb_mag_empty(m, d->slab, func);
	depot_lock(d);
	if (sb_mag_is_full(m))
		mag_list_add(&d->full, &d->nfull, m);
	else
		mag_list_add(&d->empty, &d->nempty, m);
	pthread_mutex_unlock(&d->lock);
}

void sb_depot_reap(struct sb_depot *d, bool all, const char *func)
{
	struct sb_mag *out, *e;

	depot_lock(d);
	if (all) {
		out = mag_list_take(&d->full, &d->nfull, &d->full_min, SIZE_MAX);
		e = mag_list_take(&d->empty, &d->nempty, &d->empty_min, SIZE_MAX);
		d->full_min = d->empty_min = 0;
		pthread_mutex_unlock(&d->lock);
		release(d, e, func);
	} else {
		d->last_update_ns = 0;
		out = ws_update(d);
		pthread_mutex_unlock(&d->lock);
	}
	release(d, out, func);
}

void sb_depot_expire(struct sb_depot *d)
{
	pthread_mutex_lock(&d->lock);
	d->last_update_ns = 0;
	pthread_mutex_unlock(&d->lock);
}

void sb_depot_set_contention(struct sb_depot *d, uint32_t n)
{
	pthread_mutex_lock(&d->lock);
	d->contention = n;
	pthread_mutex_unlock(&d->lock);
}

bool sb_depot_holds(struct sb_depot *d, const void *p)
{
	const struct sb_mag *m;
	bool found = false;

	pthread_mutex_lock(&d->lock);
	for (m = d->full; m != NULL && !found; m = sb_mag_next(m))
		found = sb_mag_holds(m, p);
	pthread_mutex_unlock(&d->lock);
	return found;
}

/* ---- Validation, counters, fork ---------------------------------------- */

static bool list_valid(const struct sb_mag *m, size_t n, size_t min, bool full)
{
	size_t len = 0;

	for (; m != NULL; m = sb_mag_next(m)) {
		if (++len > n)
			return sb_invalid("depot", "list longer than its count", n);
		if (full ? !sb_mag_is_full(m) : !sb_mag_is_empty(m))
			return sb_invalid("depot", "magazine on the wrong list", (uintptr_t)m);
	}
	if (len != n)
		return sb_invalid("depot", "list count wrong", n);
	if (min > n)
		return sb_invalid("depot", "working-set minimum above the length", min);
	return true;
}

static bool validate_locked(struct sb_depot *d)
{
	return list_valid(d->full, d->nfull, d->full_min, true) &&
	       list_valid(d->empty, d->nempty, d->empty_min, false) &&
	       (d->mag_cap >= SB_MAG_MIN_ROUNDS && d->mag_cap <= SB_MAG_MAX_ROUNDS ? true :
		sb_invalid("depot", "magazine capacity out of range", d->mag_cap));
}

bool sb_depot_validate(struct sb_depot *d)
{
	bool ok;

	pthread_mutex_lock(&d->lock);
	ok = validate_locked(d);
	pthread_mutex_unlock(&d->lock);
	return ok;
}

void sb_depot_counters(struct sb_depot *d, struct sb_depot_counters *out, bool locked)
{
	const struct sb_mag *m;

	out->mag_cap = sb_read_once(d->mag_cap);
	out->exchanges = sb_read_once(d->exchanges);
	if (!locked) {
		out->nfull = sb_read_once(d->nfull);
		out->nempty = sb_read_once(d->nempty);
		out->full_objs = out->nfull * out->mag_cap;
		return;
	}
	pthread_mutex_lock(&d->lock);
	out->nfull = d->nfull;
	out->nempty = d->nempty;
	out->full_objs = 0;
	for (m = d->full; m != NULL; m = sb_mag_next(m))
		out->full_objs += sb_mag_rounds(m);
	pthread_mutex_unlock(&d->lock);
}

void sb_depot_lock(struct sb_depot *d)
{
	pthread_mutex_lock(&d->lock);
}

void sb_depot_unlock(struct sb_depot *d)
{
	pthread_mutex_unlock(&d->lock);
}
