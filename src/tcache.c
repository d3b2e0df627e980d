/*
 * tcache.c - thread caches: the lock-free front of every object cache and
 * of the buddy allocator.
 *
 * Each thread has, per bin, a loaded and a previous magazine (struct
 * sb_bin).  malloc pops from the loaded one and free pushes onto it; those
 * fast paths are inline (tcache.h) and touch only thread-local memory: no
 * lock, no atomic read-modify-write, no call.  The loaded magazine is kept
 * open: the bin's top, base and limit point into its array and top, not
 * the magazine's rounds field, counts what it holds; bin_close() writes
 * the count back before a slow path, the validator or another thread looks
 * at the magazine.  When the loaded magazine is empty (malloc) or full
 * (free), the slow paths here swap it with the previous one if that helps;
 * only then do they trade with the bin's depot (depot.c), and only if the
 * depot has nothing do they go to the slab layer, a magazine's worth of
 * objects per lock round trip.
 *
 * An object of a slab another thread owns (malloc.c decides, from the
 * slab's owner token, which is that thread's cache) goes into the bin's
 * remote magazine.  A full remote magazine goes home: into the inbox of
 * the owner of the object that filled it, one magazine per bin, which the
 * owner takes, without a lock, when its own magazines run dry; if that
 * inbox is taken, to the depot.  The freeing thread takes an empty
 * magazine from its bin's spare (the one an inbox refill left over), so
 * two threads that free each other's objects trade magazines without the
 * depot lock.  Full local magazines flow through the depot to the threads
 * that allocate, so a producer/consumer program stays at bounded memory.
 *
 * Thread caches are never freed, since owner tokens outlive their threads:
 * an exiting thread closes its inboxes (later senders use the depot) and
 * its cache waits on a spare list for the next new thread, which opens
 * them again and inherits the slabs.
 *
 * Each thread cache remembers the zone of its last free (zone_base, the
 * size of its slab map in bytes, the map and the page descriptors), so
 * that the free fast path finds a pointer's slab map entry without the
 * registry; a zone is never unmapped.  No zone is zone_map_bytes 0, which
 * no pointer is below.
 *
 * Each thread cache also embeds the thread's page lists (pcp.h), drained
 * with the magazines.
 *
 * Lifecycle: sb_tc starts at a static sentinel (capacity-0 magazines), so
 * the first malloc or free of a thread lands in a slow path, which creates
 * the thread's cache.  A pthread key destructor gives everything back at
 * thread exit and points sb_tc at a dead sentinel; calls made after that
 * (other destructors) go straight to the slab layer.  With SBMALLOC_CHECK=1
 * no thread gets a cache: every malloc and free goes to the slab layer,
 * where freed objects are poisoned and every double free is seen in the
 * slab's bitmap.
 *
 * Counting (tcache.h): a bin's pops are counted by the fast path; its
 * pushes are the pops plus what its two magazines hold less what the slow
 * paths moved into them (whole magazines from the inbox or the depot,
 * refills from the slab layer) and out of them (full magazines to the
 * depot, flushes), which they tally in the bin's side (move_in()); a swap
 * of the two magazines moves nothing.  Every retired remote magazine adds
 * its rounds to the bin's remote frees.  Counts stay
 * with the cache when its thread exits (tc_all lists every cache for the
 * statistics, without a lock); each thread also takes a block of slow-path
 * counters (counters.c) with its cache.
 *
 * Lock: tc_lock protects the lists of live and spare thread caches
 * (the free key's checks, draining, fork; the statistics walk tc_all,
 * which is push-only, without it); a
 * thread's own cache is touched only by that thread, except by
 * sb_tc_drain(), whose caller guarantees nobody uses that bin.  In a forked
 * child only the forking thread exists; the other threads' caches stay on
 * the list, owned by nobody (sb_tc_fork_child).  Lock order: fork.c.
 */
#include "tcache.h"
#include "config.h"
#include "counters.h"
#include "depot.h"
#include "guard.h"
#include "key.h"
#include "meta.h"
#include "sizeclass.h"
#include "slab.h"

#include <pthread.h>
#include <string.h>

#define SENTINEL_BIN(tc)                                                             \
	{ sb_mag_sentinel.objs, sb_mag_sentinel.objs, sb_mag_sentinel.objs, &sb_mag_sentinel, \
	  &sb_mag_sentinel, &sb_mag_sentinel, 0, tc }
#define SENTINEL_BINS(tc) { [0 ... SB_NR_BINS - 1] = SENTINEL_BIN(tc) }
#define SENTINEL_SIDE { [0 ... SB_NR_BINS - 1] = { .inbox = SB_INBOX_CLOSED } }
#define SENTINEL_ZONE .zone_map_bytes = 0
/* A sentinel's bins are all alike: every size may use the first. */
#define SENTINEL_DIRECT(tc) .direct = { [0 ... SB_DIRECT_MAX / 16] = &(tc).bins[0] }
const struct sb_bin sb_bin_nobody = SENTINEL_BIN(NULL);
static struct sb_tcache tc_empty_sentinel = { .bins = SENTINEL_BINS(&tc_empty_sentinel), SENTINEL_ZONE,
					      SENTINEL_DIRECT(tc_empty_sentinel),
					      .side = SENTINEL_SIDE, .state = SB_TC_EMPTY };
static struct sb_tcache tc_dead_sentinel = { .bins = SENTINEL_BINS(&tc_dead_sentinel), SENTINEL_ZONE,
					     SENTINEL_DIRECT(tc_dead_sentinel),
					     .side = SENTINEL_SIDE, .state = SB_TC_DEAD };
__thread struct sb_tcache *sb_tc __attribute__((tls_model("initial-exec"))) = &tc_empty_sentinel;

_Static_assert(sizeof(struct sb_tcache) <= SB_META_MAX, "a thread cache comes from meta.c");

static pthread_mutex_t tc_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sb_tcache *tc_list;
static struct sb_tcache *tc_spares;	/* caches of exited threads, for reuse */
static struct sb_tcache *tc_all;	/* every cache ever made, push-only */
static pthread_key_t tc_key;
static bool tc_key_ready;
static struct sb_depot *bin_depot[SB_NR_BINS];	/* release/acquire */

static void thread_exit(void *arg);

static inline struct sb_depot *depot_of(unsigned bin)
{
	SB_ASSERT(bin < SB_NR_BINS);
	return __atomic_load_n(&bin_depot[bin], __ATOMIC_ACQUIRE);
}

void sb_tc_attach(unsigned bin, struct sb_depot *d)
{
	SB_ASSERT(bin < SB_NR_BINS);
	__atomic_store_n(&bin_depot[bin], d, __ATOMIC_RELEASE);
}

/* ---- Open and closed magazines ------------------------------------------- */

/* The slow paths' half of the bin b (tcache.h). */
_Static_assert(offsetof(struct sb_tcache, side) == sizeof(((struct sb_tcache *)0)->bins),
	       "a bin's side lies SB_NR_BINS bins after it");
static inline struct sb_bin_side *side_of(struct sb_bin *b)
{
	return (struct sb_bin_side *)(b + SB_NR_BINS);
}

/* The slow paths put n objects into b's two magazines (n < 0: took them
 * out), other than by a push: for the count of pushes (tcache.h). */
static inline void move_in(struct sb_bin *b, int64_t n)
{
	side_of(b)->moved_in += n;
}

/* m becomes b's loaded magazine, open: top counts its rounds. */
static SB_ALWAYS_INLINE void bin_open(struct sb_bin *b, struct sb_mag *m)
{
	b->loaded = m;
	b->base = sb_mag_objs(m);
	b->limit = b->base + sb_mag_cap(m);
	b->top = b->base + sb_mag_rounds(m);
}

/* The loaded magazine's rounds field is brought up to date from top:
 * before anything but the fast paths looks at it.  The bin stays open. */
static SB_ALWAYS_INLINE void bin_close(struct sb_bin *b)
{
	SB_ASSERT(b->base == sb_mag_objs(b->loaded) && b->top >= b->base && b->top <= b->limit);
	if (sb_mag_is_real(b->loaded))
		sb_mag_set_rounds(b->loaded, (uint32_t)(b->top - b->base));
}

/* The loaded and the previous magazine trade places; b is closed. */
static SB_ALWAYS_INLINE void bin_swap(struct sb_bin *b)
{
	struct sb_mag *m = b->loaded;

	bin_open(b, b->prev);
	b->prev = m;
}

/*
 * The first resort of the fast paths' misses, before the slow paths: the
 * loaded magazine of the bin at off is empty (pop) or full (push), and
 * the previous one can take over (has rounds; is empty).  A sentinel's
 * bins never can, so this needs no thread cache of its own.
 */
void *sb_tc_pop_swapping(size_t off)
{
	struct sb_bin *b = sb_tc_bin_at(off);
	void *p;

	if (sb_mag_is_empty(b->prev))
		return NULL;
	bin_close(b);
	bin_swap(b);
	return sb_bin_pop(b, &p) ? p : NULL;
}

bool sb_tc_push_swapping(size_t off, void *p)
{
	struct sb_bin *b = sb_tc_bin_at(off);

	if (!sb_mag_is_real(b->prev) || !sb_mag_is_empty(b->prev))
		return false;
	bin_close(b);
	bin_swap(b);
	return sb_bin_push(b, p);
}

/* The rounds of b's loaded magazine as top counts them, read from any
 * thread: top is trusted only inside the array of the magazine read
 * with it (else the owner is swapping magazines: none). */
static uint32_t loaded_rounds(const struct sb_bin *b, void ***objs)
{
	struct sb_mag *m = __atomic_load_n(&b->loaded, __ATOMIC_RELAXED);
	void **top = __atomic_load_n(&b->top, __ATOMIC_RELAXED);
	uintptr_t first = (uintptr_t)sb_mag_objs(m), t = (uintptr_t)top;

	*objs = sb_mag_objs(m);
	if (t < first || t > first + (uintptr_t)sb_mag_cap(m) * sizeof(void *))
		return 0;
	return (uint32_t)((t - first) / sizeof(void *));
}

static bool loaded_holds(const struct sb_bin *b, const void *p)
{
	void **objs;
	uint32_t i, n = loaded_rounds(b, &objs);

	for (i = 0; i < n; i++)
		if (objs[i] == p)
			return true;
	return false;
}

/* The magazine in tc's inbox of bin, read from any thread (or the sentinel). */
static const struct sb_mag *inbox_mag(const struct sb_tcache *tc, unsigned bin)
{
	const struct sb_mag *m = __atomic_load_n(&tc->side[bin].inbox, __ATOMIC_ACQUIRE);

	return m == NULL || m == SB_INBOX_CLOSED ? &sb_mag_sentinel : m;
}

static void point_at_sentinel(struct sb_tcache *tc)
{
	unsigned i;

	for (i = 0; i < SB_NR_BINS; i++) {
		tc->bins[i].tc = tc;
		bin_open(&tc->bins[i], &sb_mag_sentinel);
		tc->bins[i].prev = tc->bins[i].remote = tc->side[i].spare = &sb_mag_sentinel;
	}
	for (i = 0; i <= SB_DIRECT_MAX / 16; i++)
		tc->direct[i] = (struct sb_bin *)((char *)tc->bins + sb_class_lookup[i]);
	tc->zone_map_bytes = 0;
}

struct sb_page *sb_tc_page_of_miss(const void *p)
{
	struct sb_tcache *tc = sb_tc;
	struct sb_page *pg = sb_page_of(p);

	if (pg != NULL && tc != &tc_empty_sentinel && tc != &tc_dead_sentinel) {
		tc->zone_base = (uintptr_t)p & ~(uintptr_t)SB_REGION_MASK;
		tc->zone_pages = pg - (((uintptr_t)p & SB_REGION_MASK) >> SB_PAGE_SHIFT);
		tc->zone_refs = sb_page_slab_map(pg, p);
		tc->zone_map_bytes = SB_REGION_PAGES * sizeof(struct sb_slab_ref);
	}
	return pg;
}

void sb_tc_init(void)
{
	if (!tc_key_ready && pthread_key_create(&tc_key, thread_exit) == 0) {
		tc_key_ready = true;
		if (sb_tc->state == SB_TC_LIVE)
			pthread_setspecific(tc_key, sb_tc);
	}
}

/* The calling thread's live cache, creating it; NULL if dead or no memory. */
static SB_NOINLINE struct sb_tcache *tc_get(void)
{
	struct sb_tcache *tc = sb_tc;
	bool fresh;
	unsigned i;

	if (sb_likely(tc->state == SB_TC_LIVE))
		return tc;
	if (tc->state == SB_TC_DEAD)
		return NULL;
	if (sb_config.check || sb_config.guard_rate == 1) {
		/* SBMALLOC_CHECK, SBMALLOC_GUARD=1: every object goes through
		 * the slow paths, which count in the thread's own block, given
		 * back at exit (the key's value is the empty sentinel). */
		if (sb_counters_thread_begin() && tc_key_ready)
			pthread_setspecific(tc_key, &tc_empty_sentinel);
		return NULL;
	}
	pthread_mutex_lock(&tc_lock);
	tc = tc_spares;
	if (tc != NULL)
		tc_spares = tc->next;
	pthread_mutex_unlock(&tc_lock);
	fresh = tc == NULL;
	if (fresh && (tc = sb_meta_alloc(sizeof(*tc))) == NULL)	/* zeroed: no counts */
		return NULL;
	point_at_sentinel(tc);
	sb_pcp_init(&tc->pcp);
	tc->prev = NULL;
	if (fresh) {	/* set up: sb_tc_traffic() may read it from now on */
		tc->all_next = __atomic_load_n(&tc_all, __ATOMIC_RELAXED);
		while (!__atomic_compare_exchange_n(&tc_all, &tc->all_next, tc, false,
						    __ATOMIC_RELEASE, __ATOMIC_RELAXED))
			;
	}
	for (i = 0; i < SB_NR_BINS; i++)
		__atomic_store_n(&tc->side[i].inbox, NULL, __ATOMIC_RELEASE);
	sb_write_once(tc->state, SB_TC_LIVE);
	sb_tc = tc;		/* before anything below can call malloc */
	sb_counters_thread_begin();
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

struct sb_pcp *sb_tc_pcp(void)
{
	struct sb_tcache *tc = tc_get();

	if (tc == NULL)
		return NULL;
	SB_ASSERT_FULL(sb_pcp_validate(&tc->pcp));
	return &tc->pcp;
}

/* The magazines of bin hold objects of its cache, within capacity; the
 * loaded one is open where it lies.  Closes the bin (rounds from top). */
static bool bin_valid(struct sb_tcache *tc, unsigned bin)
{
	struct sb_bin *b = &tc->bins[bin];
	const struct sb_mag *r = b->remote, *spare = tc->side[bin].spare, *in = inbox_mag(tc, bin);
	struct sb_depot *d = depot_of(bin);

	if (b->base != sb_mag_objs(b->loaded) || b->limit != b->base + sb_mag_cap(b->loaded) ||
	    b->top < b->base || b->top > b->limit)
		return sb_invalid("tcache", "bin open on another magazine", bin);
	bin_close(b);

	if (d == NULL)
		return !sb_mag_is_real(b->loaded) && !sb_mag_is_real(b->prev) && !sb_mag_is_real(r) &&
		       !sb_mag_is_real(spare) && !sb_mag_is_real(in)
		       ? true : sb_invalid("tcache", "magazines for a bin without a cache", bin);
	if (sb_mag_is_real(spare) && !sb_mag_is_empty(spare))
		return sb_invalid("tcache", "spare magazine not empty", bin);
	if (sb_mag_is_real(in) && !sb_mag_is_full(in))
		return sb_invalid("tcache", "magazine sent home not full", bin);
	return (!sb_mag_is_real(b->loaded) || sb_mag_validate(b->loaded, sb_depot_slab(d))) &&
	       (!sb_mag_is_real(b->prev) || sb_mag_validate(b->prev, sb_depot_slab(d))) &&
	       (!sb_mag_is_real(r) || sb_mag_validate(r, sb_depot_slab(d))) &&
	       (!sb_mag_is_real(in) || sb_mag_validate(in, sb_depot_slab(d)));
}

/*
 * How many objects to take from the slab layer into an empty magazine: a
 * whole magazine, but no more than 32 KiB of objects, so that the first
 * malloc of 16 KiB takes two of them, not a magazine of eight.
 */
#define REFILL_BYTES (32 << 10)
static inline unsigned refill_count(const struct sb_slab_cache *c, const struct sb_mag *m)
{
	unsigned n = REFILL_BYTES / sb_slab_size(c);

	return n == 0 ? 1 : n < sb_mag_cap(m) ? n : sb_mag_cap(m);
}

/* m, empty (or the sentinel), becomes bin's spare, or goes to the depot. */
static void keep_empty(struct sb_tcache *tc, unsigned bin, struct sb_mag *m, const char *func)
{
	if (!sb_mag_is_real(m))
		return;
	if (!sb_mag_is_real(tc->side[bin].spare))
		tc->side[bin].spare = m;
	else
		sb_depot_put(depot_of(bin), m, func);
}

/* bin's spare empty magazine, or one from the depot (NULL: no memory). */
static struct sb_mag *take_empty(struct sb_tcache *tc, unsigned bin)
{
	struct sb_mag *m = tc->side[bin].spare;

	if (sb_mag_is_real(m)) {
		tc->side[bin].spare = &sb_mag_sentinel;
		return m;
	}
	return sb_depot_get_empty(depot_of(bin));
}

void *sb_tc_alloc_slow(unsigned bin, const char *func)
{
	struct sb_tcache *tc = tc_get();
	struct sb_depot *d = depot_of(bin);
	struct sb_slab_cache *c = sb_depot_slab(d);
	struct sb_bin *b;
	struct sb_mag *m, *full;
	unsigned filled;
	void *p;

	if (sb_unlikely(tc == NULL))
		goto direct;
	SB_ASSERT_FULL(bin_valid(tc, bin));
	b = &tc->bins[bin];
	if (sb_bin_pop(b, &p))	/* a magazine's (counted), for callers without a fast path */
		return p;
	bin_close(b);
	if (!sb_mag_is_empty(b->prev)) {
		bin_swap(b);
		sb_guard_note((unsigned)(b->top - b->base));
		sb_bin_pop(b, &p);	/* a magazine's, counted */
		return p;
	}
	/* Both empty: take what other threads sent home, else trade the
	 * previous (empty) magazine for a full one at the depot. */
	if (__atomic_load_n(&tc->side[bin].inbox, __ATOMIC_RELAXED) != NULL) {
		full = __atomic_exchange_n(&tc->side[bin].inbox, NULL, __ATOMIC_ACQUIRE);
		SB_ASSERT(sb_mag_is_real(full) && sb_mag_is_full(full));
		keep_empty(tc, bin, b->prev, func);
		b->prev = b->loaded;	/* empty, or the sentinel */
		bin_open(b, full);
		move_in(b, sb_mag_rounds(full));
		sb_count(SB_EV_MALLOC_DEPOT, 1);
		goto take;
	}
	full = sb_depot_exchange(d, sb_mag_is_real(b->prev) ? b->prev : NULL, false, func);
	if (full != NULL) {
		b->prev = b->loaded;	/* empty, or the sentinel */
		bin_open(b, full);
		move_in(b, sb_mag_rounds(full));
		sb_count(SB_EV_MALLOC_DEPOT, 1);
		goto take;
	}
	if (!sb_mag_is_real(b->loaded)) {
		m = sb_depot_get_empty(d);
		if (m == NULL)
			goto direct;
		bin_open(b, m);
	}
	m = b->loaded;
	filled = sb_mag_fill_for(m, c, refill_count(c, m), func, &tc->bins[bin]);
	if (filled == 0)
		return NULL;
	bin_open(b, m);
	move_in(b, filled);
	sb_count(SB_EV_MALLOC_SLAB, 1);
take:
	/* A pop of the bin, counted as the depot's or the slab layer's. */
	sb_guard_note((unsigned)(b->top - b->base));
	sb_bin_pop(b, &p);
	side_of(b)->takes++;
	return p;
direct:
	if (sb_slab_alloc_batch(c, &p, 1, func) == 0)
		return NULL;
	sb_guard_note(1);
	sb_count(SB_EV_MALLOC_SLAB, 1);
	sb_count(SB_EV_HANDED_OUT, sb_slab_size(c));
	return p;
}

void sb_tc_free_slow(unsigned bin, void *p, const char *func)
{
	struct sb_tcache *tc = tc_get();
	struct sb_depot *d = depot_of(bin);
	struct sb_bin *b;
	struct sb_mag *m, *empty;

	if (sb_unlikely(tc == NULL))
		goto direct;
	SB_ASSERT_FULL(bin_valid(tc, bin));
	b = &tc->bins[bin];
	if (sb_bin_push(b, p))	/* a magazine's, for callers without a fast path */
		return;
	bin_close(b);
	m = b->loaded;
	if (sb_mag_is_real(b->prev) && sb_mag_is_empty(b->prev)) {
		bin_swap(b);
		sb_bin_push(b, p);	/* a magazine's */
		return;
	}
	if (!sb_mag_is_real(m)) {
		/* First free of this bin by this thread: a magazine's. */
		m = sb_depot_get_empty(d);
		if (m == NULL)
			goto direct;
		bin_open(b, m);
		sb_bin_push(b, p);
		return;
	}
	/* Loaded full, previous full (or none): the previous goes to the depot. */
	move_in(b, -(int64_t)sb_mag_rounds(b->prev));
	empty = sb_depot_exchange(d, sb_mag_is_real(b->prev) ? b->prev : NULL, true, func);
	if (empty == NULL) {
		b->prev = &sb_mag_sentinel;
		goto direct;
	}
	b->prev = m;
	bin_open(b, empty);
	sb_count(SB_EV_FREE_DEPOT, 1);
	sb_bin_push(b, p);	/* the depot's */
	side_of(b)->gives++;
	return;
direct:
	sb_count(SB_EV_FREE_SLAB, 1);
	sb_slab_free_batch(sb_depot_slab(d), &p, 1, func);
}

/* ---- Is it free? ------------------------------------------------------- */

/*
 * The truth behind the free key (key.h), for a free whose object or block
 * holds it: is it in a magazine of some thread, in the depot, or in its
 * slab; is the block in some thread's page lists.  Other threads' caches
 * are read while their owners may push and pop: an intentional race, which
 * can only miss an object that is moving (that thread's own next free of
 * it is checked again), never invent one: a slot below `rounds` (or an
 * open magazine's top) holds a free object, or the owner is about to
 * overwrite it with another.
 */
bool sb_tc_object_is_free(unsigned bin, const void *p)
{
	struct sb_depot *d = depot_of(bin);
	struct sb_tcache *tc;
	bool found = false;

	SB_ASSERT(d != NULL);
	pthread_mutex_lock(&tc_lock);
	for (tc = tc_list; tc != NULL && !found; tc = tc->next)
		found = loaded_holds(&tc->bins[bin], p) || sb_mag_holds(tc->bins[bin].prev, p) ||
			sb_mag_holds(tc->bins[bin].remote, p) ||
			sb_mag_holds(inbox_mag(tc, bin), p);
	pthread_mutex_unlock(&tc_lock);
	return found || sb_depot_holds(d, p) || sb_slab_object_is_free(sb_depot_slab(d), p);
}

void sb_tc_check_suspect(unsigned bin, const void *p, const char *func)
{
	if (sb_tc_object_is_free(bin, p))
		sb_fatal_pointer(func, sb_key_says_fresh(p) ? "invalid pointer" : "double free", p);
}

bool sb_tc_block_is_cached(const void *p)
{
	struct sb_tcache *tc;
	bool found = false;

	pthread_mutex_lock(&tc_lock);
	for (tc = tc_list; tc != NULL && !found; tc = tc->next)
		found = sb_pcp_holds(&tc->pcp, p);
	pthread_mutex_unlock(&tc_lock);
	return found;
}

/* ---- Frees of other threads' objects -------------------------------------- */

/*
 * m, a full remote magazine, into the inbox of bin of the thread cache
 * `owner` (a slab's owner token: a live cache, or a spare one, never
 * freed) if it is empty; false if taken or closed, or no owner.
 */
static bool send_home(const void *owner, unsigned bin, struct sb_mag *m)
{
	struct sb_tcache *home = sb_tc_of_token(owner);
	struct sb_mag *expected = NULL;

	if (home == NULL || __atomic_load_n(&home->side[bin].inbox, __ATOMIC_RELAXED) != NULL)
		return false;
	return __atomic_compare_exchange_n(&home->side[bin].inbox, &expected, m, false,
					   __ATOMIC_RELEASE, __ATOMIC_RELAXED);
}

void sb_tc_free_other(unsigned bin, void *p, const void *owner, const char *func)
{
	struct sb_tcache *tc = tc_get();
	struct sb_depot *d = depot_of(bin);
	struct sb_mag *m;

	if (owner == NULL)
		owner = &sb_bin_nobody;
	if (tc == NULL || sb_tc_of_token(owner) == tc) {
		sb_tc_free_slow(bin, p, func);
		return;
	}
	m = tc->bins[bin].remote;
	if (sb_mag_is_real(m) && sb_mag_is_full(m)) {
		tc->side[bin].remote_frees += sb_mag_rounds(m);
		if (send_home(owner, bin, m)) {
			m = take_empty(tc, bin);
		} else {
			/* To the depot, whole: threads that refill take it, and
			 * beyond the depot's bound its objects go back to their
			 * slabs. */
			m = sb_depot_exchange(d, m, true, func);
		}
		tc->bins[bin].remote = m != NULL ? m : &sb_mag_sentinel;
	} else if (!sb_mag_is_real(m)) {
		m = take_empty(tc, bin);
		tc->bins[bin].remote = m != NULL ? m : &sb_mag_sentinel;
	}
	if (m == NULL) {
		tc->side[bin].remote_frees++;
		sb_slab_free_batch(sb_depot_slab(d), &p, 1, func);
		return;
	}
	sb_mag_put(m, p);
}

/* ---- Flush, thread exit ------------------------------------------------ */

/*
 * Give one bin's magazines to its depot, the remote one's objects to their
 * slabs; the inbox's magazine too, leaving the inbox `after` (NULL, or
 * SB_INBOX_CLOSED when the thread exits).
 */
static void flush_bin(struct sb_tcache *tc, unsigned bin, struct sb_mag *after,
		      const char *func)
{
	struct sb_bin *b = &tc->bins[bin];
	struct sb_mag *r = b->remote, *in;
	struct sb_depot *d = depot_of(bin);

	in = __atomic_exchange_n(&tc->side[bin].inbox, after, __ATOMIC_ACQUIRE);
	bin_close(b);
	move_in(b, -(int64_t)(sb_mag_rounds(b->loaded) + sb_mag_rounds(b->prev)));
	if (sb_mag_is_real(b->loaded))
		sb_depot_put(d, b->loaded, func);
	if (sb_mag_is_real(b->prev))
		sb_depot_put(d, b->prev, func);
	if (sb_mag_is_real(tc->side[bin].spare))
		sb_depot_put(d, tc->side[bin].spare, func);
	if (sb_mag_is_real(r)) {
		tc->side[bin].remote_frees += sb_mag_rounds(r);
		sb_mag_empty(r, sb_depot_slab(d), func);
		sb_depot_put(d, r, func);
	}
	if (in != NULL && in != SB_INBOX_CLOSED)
		sb_depot_put(d, in, func);
	bin_open(b, &sb_mag_sentinel);
	b->prev = b->remote = tc->side[bin].spare = &sb_mag_sentinel;
}

static void flush(struct sb_tcache *tc, struct sb_mag *inbox_after, const char *func)
{
	unsigned i;

	for (i = 0; i < SB_NR_BINS; i++)
		flush_bin(tc, i, inbox_after, func);
	sb_pcp_drain(&tc->pcp, func);
}

void sb_tc_flush(const char *func)
{
	struct sb_tcache *tc = sb_tc;

	if (tc->state == SB_TC_LIVE)
		flush(tc, NULL, func);
}

void sb_tc_drain(unsigned bin, const char *func)
{
	struct sb_tcache *tc;

	pthread_mutex_lock(&tc_lock);
	for (tc = tc_list; tc != NULL; tc = tc->next)
		flush_bin(tc, bin, NULL, func);
	pthread_mutex_unlock(&tc_lock);
}

static void thread_exit(void *arg)
{
	struct sb_tcache *tc = arg;

	sb_counters_thread_end();
	if (tc == &tc_empty_sentinel)
		return;		/* a thread without a cache (tc_get) */
	/* Objects in a thread's magazines were freed by it: report as free(). */
	flush(tc, SB_INBOX_CLOSED, "free");
	sb_tc = &tc_dead_sentinel;
	pthread_mutex_lock(&tc_lock);
	if (tc->prev)
		tc->prev->next = tc->next;
	else
		tc_list = tc->next;
	if (tc->next)
		tc->next->prev = tc->prev;
	sb_write_once(tc->state, SB_TC_DEAD);
	tc->next = tc_spares;	/* never freed: slabs may still name it */
	tc_spares = tc;
	pthread_mutex_unlock(&tc_lock);
}

/* ---- Validation, counters, fork ---------------------------------------- */

bool sb_tc_validate(void)
{
	struct sb_tcache *tc = sb_tc;
	unsigned i;

	if (tc->state != SB_TC_LIVE)
		return true;
	for (i = 0; i < SB_NR_BINS; i++)
		if (!bin_valid(tc, i))
			return false;
	return sb_pcp_validate(&tc->pcp);
}

/* Lock-free over tc_all, so that a signal handler's dump may call it: an
 * exiting thread's cache counts until it is flushed, a spare holds nothing. */
void sb_tc_counters(struct sb_tc_counters *out)
{
	struct sb_tcache *tc;
	size_t objs = 0, pages = 0, threads = 0;
	unsigned i;

	for (tc = __atomic_load_n(&tc_all, __ATOMIC_ACQUIRE); tc != NULL; tc = tc->all_next) {
		if (sb_read_once(tc->state) != SB_TC_LIVE)
			continue;
		threads++;
		for (i = 0; i < SB_NR_BINS; i++) {
			void **loaded;
			uint32_t r = loaded_rounds(&tc->bins[i], &loaded) +
				     sb_mag_rounds(sb_read_once(tc->bins[i].prev)) +
				     sb_mag_rounds(sb_read_once(tc->bins[i].remote)) +
				     sb_mag_rounds(inbox_mag(tc, i));

			if (r != 0)
				objs += (size_t)r * sb_slab_size(sb_depot_slab(depot_of(i)));
		}
		pages += sb_pcp_pages(&tc->pcp);
	}
	out->threads = threads;
	out->obj_bytes = objs;
	out->page_bytes = pages << SB_PAGE_SHIFT;
}

void sb_tc_traffic(struct sb_tc_traffic *out)
{
	struct sb_tcache *tc;
	unsigned i;

	memset(out, 0, sizeof(*out));
	for (tc = __atomic_load_n(&tc_all, __ATOMIC_ACQUIRE); tc != NULL; tc = tc->all_next) {
		for (i = 0; i < SB_NR_BINS; i++) {
			const struct sb_bin *b = &tc->bins[i];
			const struct sb_bin_side *t = &tc->side[i];
			struct sb_depot *d = depot_of(i);
			void **objs;
			uint64_t pops = sb_read_once(b->pops), takes = sb_read_once(t->takes);
			int64_t held = (int64_t)loaded_rounds(b, &objs) +
				       sb_mag_rounds(__atomic_load_n(&b->prev, __ATOMIC_RELAXED));
			int64_t net = held - sb_read_once(t->moved_in);	/* pushes less pops */
			uint64_t pushes = (int64_t)pops + net > 0 ? (uint64_t)((int64_t)pops + net) : 0;
			uint64_t gives = sb_read_once(t->gives);

			if (d != NULL)	/* every pop hands an object out */
				out->pop_bytes += pops * sb_slab_size(sb_depot_slab(d));
			out->pops += pops > takes ? pops - takes : 0;
			out->pushes += pushes > gives ? pushes - gives : 0;
			out->remote += sb_read_once(tc->side[i].remote_frees) +
				       sb_mag_rounds(__atomic_load_n(&b->remote, __ATOMIC_RELAXED));
		}
		out->callocs += sb_read_once(tc->callocs);
		out->reallocs += sb_read_once(tc->reallocs);
		sb_pcp_traffic(&tc->pcp, &out->page_pops, &out->page_pushes, &out->page_pop_bytes);
	}
}

void sb_tc_fork_prepare(void)
{
	pthread_mutex_lock(&tc_lock);
}

void sb_tc_fork_parent(void)
{
	pthread_mutex_unlock(&tc_lock);
}

/*
 * The other threads' caches stay on the list in the child, owned by no
 * thread: what they hold is still free memory, which the free key's check
 * must find (a pointer another thread freed before the fork, freed again
 * in the child, is a double free) and sb_cache_destroy can drain.
 */
void sb_tc_fork_child(void)
{
	pthread_mutex_unlock(&tc_lock);
}
