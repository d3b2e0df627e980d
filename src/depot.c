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
 * per cache (and at least 4 magazines);
 * a full magazine offered beyond that has its objects returned to the slab
 * layer at once (one lock round trip) and is kept as an empty one.  Objects
 * a program freed in a burst thus go back to their slabs, and empty slabs
 * to the buddy allocator, instead of waiting for the reaper; threads that
 * trade magazines steadily still find full ones in the depot.
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
 * Locks: depot lock -> cache (slab) lock -> region.c's locks.  Objects are
 * returned to the slab layer after the depot lock is dropped.
 */
#include "internal.h"

#include <time.h>

#define SB_MAG_MAX_ROUNDS 256
#define SB_MAG_MIN_ROUNDS 8
#define SB_MAG_START_ROUNDS 64
#define MAG_BYTES_TARGET (32 << 10)
#define CONTENTION_LIMIT 16
#define DEPOT_FULL_BYTES ((size_t)256 << 10)
#define REAP_INTERVAL_NS 1000000000ull

struct sb_mag *sb_mag_new(uint32_t cap)
{
	struct sb_mag *m = sb_meta_alloc(sizeof(*m) + cap * sizeof(void *));

	if (m != NULL)
		m->cap = cap;
	return m;
}

static void mag_free(struct sb_mag *m)
{
	sb_meta_free(m, sizeof(*m) + m->cap * sizeof(void *));
}

void sb_depot_init(struct sb_cache *c)
{
	struct sb_depot *d = &c->depot;
	size_t cap = MAG_BYTES_TARGET / c->size;

	if (cap < SB_MAG_MIN_ROUNDS)
		cap = SB_MAG_MIN_ROUNDS;
	if (cap > SB_MAG_START_ROUNDS)
		cap = SB_MAG_START_ROUNDS;
	pthread_mutex_init(&d->lock, NULL);
	d->full = d->empty = NULL;
	d->nfull = d->nempty = d->full_min = d->empty_min = 0;
	d->full_reap = d->empty_reap = 0;
	d->mag_cap = (uint32_t)cap;
	d->contention = 0;
	d->exchanges = 0;
	d->last_update_ns = 0;
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

static struct sb_mag *pop(struct sb_mag **list, size_t *n, size_t *min)
{
	struct sb_mag *m = *list;

	if (m == NULL)
		return NULL;
	*list = m->next;
	if (--*n < *min)
		*min = *n;
	return m;
}

static void push(struct sb_mag **list, size_t *n, struct sb_mag *m)
{
	m->next = *list;
	*list = m;
	++*n;
}

/* Detach up to k magazines from a list; the depot lock is held. */
static struct sb_mag *detach(struct sb_mag **list, size_t *n, size_t *min, size_t k)
{
	struct sb_mag *out = NULL, *m;

	while (k-- > 0 && (m = pop(list, n, min)) != NULL) {
		m->next = out;
		out = m;
	}
	return out;
}

static void release(struct sb_cache *c, struct sb_mag *list)
{
	while (list != NULL) {
		struct sb_mag *m = list;

		list = m->next;
		if (m->rounds > 0)
			sb_slab_free_batch(c, m->objs, m->rounds);
		mag_free(m);
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
		d->mag_cap = d->mag_cap * 2 > SB_MAG_MAX_ROUNDS ? SB_MAG_MAX_ROUNDS : d->mag_cap * 2;
	d->contention = 0;
	d->full_reap = d->full_min;
	d->full_min = d->nfull;
	d->empty_reap = d->empty_min;
	d->empty_min = d->nempty;
	k = d->full_reap < d->full_min ? d->full_reap : d->full_min;
	out = detach(&d->full, &d->nfull, &d->full_min, k);
	k = d->empty_reap < d->empty_min ? d->empty_reap : d->empty_min;
	e = detach(&d->empty, &d->nempty, &d->empty_min, k);
	if (e == NULL)
		return out;
	for (tail = e; tail->next != NULL; tail = tail->next)
		;
	tail->next = out;
	return e;
}

/* Full magazines the depot keeps: 256 KiB of objects, at least 4 magazines. */
static inline size_t depot_full_max(const struct sb_cache *c)
{
	size_t n = DEPOT_FULL_BYTES / ((size_t)c->depot.mag_cap * c->size);

	return n < 4 ? 4 : n;
}

struct sb_mag *sb_depot_exchange(struct sb_cache *c, struct sb_mag *give, bool give_full)
{
	struct sb_depot *d = &c->depot;
	struct sb_mag *got, *reaped;

	depot_lock(d);
	if (give_full) {
		got = pop(&d->empty, &d->nempty, &d->empty_min);
		if (give != NULL && d->nfull < depot_full_max(c)) {
			push(&d->full, &d->nfull, give);
			give = NULL;
		}
	} else {
		got = pop(&d->full, &d->nfull, &d->full_min);
		if (got != NULL && give != NULL)
			push(&d->empty, &d->nempty, give);
	}
	if (got != NULL)
		d->exchanges++;
	reaped = ws_update(d);
	pthread_mutex_unlock(&d->lock);
	if (reaped != NULL)
		release(c, reaped);
	if (give_full && give != NULL) {
		/* The depot holds enough: these objects go back to their slabs. */
		sb_slab_free_batch(c, give->objs, give->rounds);
		give->rounds = 0;
		if (got == NULL)
			return give;
		sb_depot_put(c, give);
	}
	if (got == NULL && give_full)
		got = sb_mag_new(d->mag_cap);
	return got;
}

struct sb_mag *sb_depot_get_empty(struct sb_cache *c)
{
	struct sb_depot *d = &c->depot;
	struct sb_mag *m;

	depot_lock(d);
	m = pop(&d->empty, &d->nempty, &d->empty_min);
	pthread_mutex_unlock(&d->lock);
	return m != NULL ? m : sb_mag_new(d->mag_cap);
}

void sb_depot_put(struct sb_cache *c, struct sb_mag *m)
{
	struct sb_depot *d = &c->depot;

	if (m->rounds > 0 && m->rounds < m->cap) {
		sb_slab_free_batch(c, m->objs, m->rounds);
		m->rounds = 0;
	}
	depot_lock(d);
	if (m->rounds == m->cap)
		push(&d->full, &d->nfull, m);
	else
		push(&d->empty, &d->nempty, m);
	pthread_mutex_unlock(&d->lock);
}

void sb_depot_reap(struct sb_cache *c, bool all)
{
	struct sb_depot *d = &c->depot;
	struct sb_mag *out, *e;

	depot_lock(d);
	if (all) {
		out = detach(&d->full, &d->nfull, &d->full_min, SIZE_MAX);
		e = detach(&d->empty, &d->nempty, &d->empty_min, SIZE_MAX);
		d->full_min = d->empty_min = 0;
		pthread_mutex_unlock(&d->lock);
		release(c, e);
	} else {
		d->last_update_ns = 0;
		out = ws_update(d);
		pthread_mutex_unlock(&d->lock);
	}
	release(c, out);
}

void sb_depot_fork_prepare(void)
{
	struct sb_cache *c;

	for (c = sb_cache_list(); c != NULL; c = c->next)
		pthread_mutex_lock(&c->depot.lock);
}

void sb_depot_fork_parent(void)
{
	struct sb_cache *c;

	for (c = sb_cache_list(); c != NULL; c = c->next)
		pthread_mutex_unlock(&c->depot.lock);
}

void sb_depot_fork_child(void)
{
	struct sb_cache *c;

	for (c = sb_cache_list(); c != NULL; c = c->next)
		pthread_mutex_init(&c->depot.lock, NULL);
}
