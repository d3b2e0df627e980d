/*
 * magazine.c - per-thread magazines: the lock-free front of every cache.
 *
 * Each thread has, per size class, a loaded and a previous magazine
 * (struct sb_bin).  malloc pops from the loaded one and free pushes onto it;
 * those fast paths are inline in malloc.c and touch only thread-local
 * memory: no lock, no atomic read-modify-write, no call.  When the loaded
 * magazine is empty (malloc) or full (free), the slow paths here swap it
 * with the previous one if that helps; only then do they trade with the
 * depot (depot.c), and only if the depot has nothing do they go to the
 * slab layer, a magazine's worth of objects per lock round trip.
 *
 * An object freed by another thread simply goes into the freeing thread's
 * magazine; full magazines flow through the depot to the threads that
 * allocate, so a producer/consumer program stays at bounded memory.
 *
 * Pages: each thread also keeps up to SB_TC_LARGE_DEPTH freed buddy blocks
 * of each size from 1 to 16 pages, so repeated malloc/free of blocks up to
 * 64 KiB does not take a region lock.  A cached block stays LARGE in its
 * descriptor; freeing it again finds it in the bin (at most
 * SB_TC_LARGE_DEPTH compares) and is reported as a double free.
 *
 * Lifecycle: sb_tc starts at a static sentinel (capacity-0 magazines), so
 * the first malloc or free of a thread lands in a slow path, which creates
 * the thread's cache.  A pthread key destructor gives everything back at
 * thread exit and points sb_tc at a dead sentinel; calls made after that
 * (other destructors) go straight to the slab layer.  The thread caches
 * are on a list under tc_lock, for statistics and fork.
 *
 * With SBMALLOC_CHECK=1 no thread gets a cache: every malloc and free goes
 * to the slab layer, where freed objects are poisoned and every double
 * free is seen in the slab's bitmap, not only a free of the object freed
 * just before.
 *
 * Fork: tc_lock, then the list of caches, every depot lock, then the slab
 * and region locks
 * (see malloc.c).  In the child only the forking thread exists: its cache
 * stays, the others are dropped from the list (their objects are lost to
 * the child, which is safe).
 */
#include "internal.h"

#include <errno.h>
#include <pthread.h>

static struct sb_mag mag_sentinel;	/* rounds 0, cap 0: both fast paths miss */

#define SENTINEL_BINS { [0 ... SB_NR_BINS - 1] = { &mag_sentinel, &mag_sentinel } }
static struct sb_tcache tc_empty_sentinel = { .bins = SENTINEL_BINS, .state = SB_TC_EMPTY };
static struct sb_tcache tc_dead_sentinel = { .bins = SENTINEL_BINS, .state = SB_TC_DEAD };
__thread struct sb_tcache *sb_tc __attribute__((tls_model("initial-exec"))) = &tc_empty_sentinel;

static pthread_mutex_t tc_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sb_tcache *tc_list;
static pthread_key_t tc_key;
static bool tc_key_ready;

static void tc_point_at_sentinel(struct sb_tcache *tc)
{
	unsigned i;

	for (i = 0; i < SB_NR_BINS; i++)
		tc->bins[i].loaded = tc->bins[i].prev = &mag_sentinel;
}

static void thread_exit(void *arg);
static bool tc_add_face(struct sb_tcache *tc);

/* From the library constructor, once libc is up: the thread-exit key. */
void sb_mag_init(void)
{
	if (!tc_key_ready && pthread_key_create(&tc_key, thread_exit) == 0) {
		tc_key_ready = true;
		if (sb_tc->state == SB_TC_LIVE)
			pthread_setspecific(tc_key, sb_tc);
		else if (sb_tc->state == SB_TC_COUNTED)
			pthread_setspecific(tc_key, sb_tc->real);
	}
}

/* sb_stats_on was just set (constructor): the caller's cache gets a face. */
void sb_mag_start_counting(void)
{
	if (sb_tc->state == SB_TC_LIVE && sb_tc->face == NULL)
		tc_add_face(sb_tc);
}

/*
 * Put a COUNTED face in front of tc: the fast paths then always miss and
 * the slow paths count.  False without memory (the thread is then simply
 * not counted).
 */
static bool tc_add_face(struct sb_tcache *tc)
{
	struct sb_tcache *face = sb_meta_alloc(sizeof(*face));

	if (face == NULL)
		return false;
	tc_point_at_sentinel(face);
	face->state = SB_TC_COUNTED;
	face->real = tc;
	face->stats = tc->stats = sb_stats_block();
	if (face->stats == NULL) {
		sb_meta_free(face, sizeof(*face));
		return false;
	}
	tc->face = face;
	sb_tc = face;
	return true;
}

/* The calling thread's live cache, creating it; NULL if dead or no memory. */
static SB_NOINLINE struct sb_tcache *tc_get(void)
{
	struct sb_tcache *tc = sb_tc;

	if (sb_likely(tc->state == SB_TC_LIVE))
		return tc;
	if (tc->state == SB_TC_COUNTED)
		return tc->real;
	if (tc->state == SB_TC_DEAD || sb_config.check)
		return NULL;	/* SBMALLOC_CHECK: every object goes through its slab */
	tc = sb_meta_alloc(sizeof(*tc));
	if (tc == NULL)
		return NULL;
	tc_point_at_sentinel(tc);
	tc->state = SB_TC_LIVE;
	sb_tc = tc;		/* before anything below can call malloc */
	if (sb_stats_on)
		tc_add_face(tc);
	pthread_mutex_lock(&tc_lock);
	tc->next = tc_list;
	if (tc_list)
		tc_list->prev = tc;
	tc_list = tc;
	pthread_mutex_unlock(&tc_lock);
	if (tc_key_ready)
		pthread_setspecific(tc_key, tc);
	return tc;
}

static inline struct sb_cache *cache_of(unsigned cls)
{
	return sb_cache_of[cls];
}

/*
 * How many objects to take from the slab layer into an empty magazine: a
 * whole magazine, but no more than 32 KiB of objects, so that the first
 * malloc of 16 KiB takes two of them, not a magazine of eight.
 */
#define REFILL_BYTES (32 << 10)
static inline unsigned refill_count(const struct sb_cache *c, const struct sb_mag *m)
{
	unsigned n = REFILL_BYTES / c->size;

	return n == 0 ? 1 : n < m->cap ? n : m->cap;
}

void *sb_mag_alloc_slow(unsigned cls)
{
	struct sb_tcache *tc = tc_get();
	struct sb_cache *c = cache_of(cls);
	struct sb_bin *b;
	struct sb_mag *m, *full;
	void *p;

	if (sb_unlikely(tc == NULL))
		goto direct;
	b = &tc->bins[cls];
	if (b->loaded->rounds > 0) {
		sb_count(SB_ST_MALLOC_MAG, 1);	/* counting mode: every call is here */
		return b->loaded->objs[--b->loaded->rounds];
	}
	if (b->prev->rounds > 0) {
		m = b->loaded;
		b->loaded = b->prev;
		b->prev = m;
		sb_count(SB_ST_MALLOC_MAG, 1);
		return b->loaded->objs[--b->loaded->rounds];
	}
	/* Both empty: trade the previous (empty) magazine for a full one. */
	full = sb_depot_exchange(c, b->prev->cap ? b->prev : NULL, false);
	if (full != NULL) {
		b->prev = b->loaded;	/* empty, or the sentinel */
		b->loaded = full;
		sb_count(SB_ST_MALLOC_DEPOT, 1);
		return full->objs[--full->rounds];
	}
	if (b->loaded->cap == 0) {
		m = sb_depot_get_empty(c);
		if (m == NULL)
			goto direct;
		b->loaded = m;
	}
	m = b->loaded;
	m->rounds = sb_slab_alloc_batch(c, m->objs, refill_count(c, m));
	if (m->rounds == 0) {
		errno = ENOMEM;
		return NULL;
	}
	sb_count(SB_ST_MALLOC_SLAB, 1);
	return m->objs[--m->rounds];
direct:
	p = sb_slab_alloc(c);
	if (p == NULL)
		errno = ENOMEM;
	else
		sb_count(SB_ST_MALLOC_SLAB, 1);
	return p;
}

void sb_mag_free_slow(unsigned cls, void *p, const char *func)
{
	struct sb_tcache *tc = tc_get();
	struct sb_cache *c = cache_of(cls);
	struct sb_bin *b;
	struct sb_mag *m, *empty;

	if (sb_unlikely(tc == NULL))
		goto direct;
	b = &tc->bins[cls];
	m = b->loaded;
	/* The fast path's check, on the real magazine (the COUNTED face's are empty). */
	if (sb_unlikely((m->objs + m->rounds)[-1] == p))
		sb_fatal_pointer(func, "double free", p);
	if (m->rounds < m->cap)
		goto push;
	if (b->prev->cap > 0 && b->prev->rounds == 0) {
		b->loaded = b->prev;
		b->prev = m;
		m = b->loaded;
		goto push;
	}
	if (m->cap == 0) {
		/* First free of this class by this thread. */
		m = sb_depot_get_empty(c);
		if (m == NULL)
			goto direct;
		b->loaded = m;
		goto push;
	}
	/* Loaded full, previous full (or none): the previous goes to the depot. */
	empty = sb_depot_exchange(c, b->prev->cap ? b->prev : NULL, true);
	if (empty == NULL) {
		b->prev = &mag_sentinel;
		goto direct;
	}
	b->prev = m;
	b->loaded = m = empty;
	sb_count(SB_ST_FREE_DEPOT, 1);
	m->objs[m->rounds++] = p;
	return;
push:
	sb_count(SB_ST_FREE_MAG, 1);
	m->objs[m->rounds++] = p;
	return;
direct:
	sb_count(SB_ST_FREE_SLAB, 1);
	/* p is a validated object start of c: report a double free as func. */
	sb_slab_free(sb_region_page(sb_registry_lookup(p), p)->slab, p, func);
}

/* ---- Page blocks ------------------------------------------------------- */

bool sb_tc_large_free(uint32_t npages, void *p, const char *func)
{
	struct sb_tcache *tc = sb_tc;

	if (sb_unlikely(tc->state != SB_TC_LIVE) && (tc = tc_get()) == NULL)
		return false;
	return sb_large_bin_push(&tc->large[npages], p, func);
}

/* A cached page block of npages for the calling thread, or NULL. */
void *sb_tc_large_alloc(size_t npages)
{
	struct sb_tcache *tc = sb_tc;
	struct sb_large_bin *lb;

	if (tc->state == SB_TC_COUNTED)
		tc = tc->real;
	else if (tc->state != SB_TC_LIVE)
		return NULL;
	if (npages > SB_TC_LARGE_PAGES)
		return NULL;
	lb = &tc->large[npages];
	return lb->count ? lb->blocks[--lb->count] : NULL;
}

/* ---- Counting ---------------------------------------------------------- */

/* Bytes of free objects and page blocks held by magazines and the depots. */
void sb_mag_cached(size_t *obj_bytes, size_t *page_bytes)
{
	struct sb_tcache *tc;
	struct sb_cache *c;
	struct sb_mag *m;
	size_t objs = 0, pages = 0;
	unsigned i;

	pthread_mutex_lock(&tc_lock);
	for (tc = tc_list; tc != NULL; tc = tc->next) {
		for (i = 0; i < SB_NR_BINS; i++)
			if (tc->bins[i].loaded->rounds + tc->bins[i].prev->rounds)
				objs += (size_t)(tc->bins[i].loaded->rounds + tc->bins[i].prev->rounds) *
					cache_of(i)->size;
		for (i = 1; i <= SB_TC_LARGE_PAGES; i++)
			pages += (size_t)tc->large[i].count * i;
	}
	pthread_mutex_unlock(&tc_lock);
	for (c = sb_cache_list(); c != NULL; c = c->next) {
		pthread_mutex_lock(&c->depot.lock);
		for (m = c->depot.full; m != NULL; m = m->next)
			objs += (size_t)m->rounds * c->size;
		pthread_mutex_unlock(&c->depot.lock);
	}
	*obj_bytes = objs;
	*page_bytes = pages << SB_PAGE_SHIFT;
}

/* ---- Flush, thread exit, fork ------------------------------------------ */

/* Give one bin's magazines to its cache's depot. */
static void flush_bin(struct sb_bin *b, unsigned cls)
{
	if (b->loaded->cap)
		sb_depot_put(cache_of(cls), b->loaded);
	if (b->prev->cap)
		sb_depot_put(cache_of(cls), b->prev);
	b->loaded = b->prev = &mag_sentinel;
}

void sb_mag_drain(unsigned cls)
{
	struct sb_tcache *tc;

	pthread_mutex_lock(&tc_lock);
	for (tc = tc_list; tc != NULL; tc = tc->next)
		flush_bin(&tc->bins[cls], cls);
	pthread_mutex_unlock(&tc_lock);
	sb_depot_reap(cache_of(cls), true);
}

static void flush(struct sb_tcache *tc)
{
	unsigned i, j;

	for (i = 0; i < SB_NR_BINS; i++)
		flush_bin(&tc->bins[i], i);
	for (i = 1; i <= SB_TC_LARGE_PAGES; i++) {
		struct sb_large_bin *lb = &tc->large[i];

		for (j = 0; j < lb->count; j++) {
			void *p = lb->blocks[j];

			sb_buddy_free(sb_registry_lookup(p), p);
		}
		lb->count = 0;
	}
}

void sb_tc_flush(void)
{
	struct sb_tcache *tc = sb_tc;

	if (tc->state == SB_TC_COUNTED)
		tc = tc->real;
	if (tc->state == SB_TC_LIVE)
		flush(tc);
}

static void thread_exit(void *arg)
{
	struct sb_tcache *tc = arg;

	flush(tc);
	sb_tc = &tc_dead_sentinel;
	if (tc->face != NULL) {
		sb_stats_release(tc->stats);
		sb_meta_free(tc->face, sizeof(*tc->face));
	}
	pthread_mutex_lock(&tc_lock);
	if (tc->prev)
		tc->prev->next = tc->next;
	else
		tc_list = tc->next;
	if (tc->next)
		tc->next->prev = tc->prev;
	pthread_mutex_unlock(&tc_lock);
	sb_meta_free(tc, sizeof(*tc));
}

void sb_mag_fork_prepare(void)
{
	pthread_mutex_lock(&tc_lock);
}

void sb_mag_fork_parent(void)
{
	pthread_mutex_unlock(&tc_lock);
}

void sb_mag_fork_child(void)
{
	struct sb_tcache *tc = sb_tc;

	if (tc->state == SB_TC_COUNTED)
		tc = tc->real;
	pthread_mutex_init(&tc_lock, NULL);
	tc_list = NULL;
	if (tc->state == SB_TC_LIVE) {
		tc->next = tc->prev = NULL;
		tc_list = tc;
	}
}
