/*
 * tests/unit/tcache.c - thread caches (tcache.c), magazines (magazine.c), the depot
 * (depot.c) and the per-thread page lists (pcp.c).
 *
 * Specifies: a thread's cache is set up by its first allocation, which
 * fills a whole magazine from the slab layer; frees fill the loaded
 * magazine and then swap in the empty previous one, and only when both are
 * full does one go to the depot; when both are empty a full magazine comes
 * from the depot before the slab layer is asked; objects freed by another
 * thread reach allocating threads through the depot; thread exit hands the
 * magazines to the depot; the depot's reaping (all at once, and of
 * magazines idle for a whole working-set interval); magazine capacity by
 * object size and its growth under depot lock contention; the per-thread
 * lists of freed page blocks; the fork handlers; and that the validators
 * of these layers (sb_tc_validate, sb_depot_validate, sb_mag_validate, and
 * sb_slab_validate and sb_buddy_validate below them) catch a broken
 * invariant and say so on stderr.
 *
 * The fast paths are tcache.h's sb_tc_pop() and sb_tc_push(); tc_alloc()
 * and tc_free() below do what malloc and free do with them (else call the
 * slow path), so the magazines move exactly as under malloc and free.
 * After what a test does, the validators of the layers it touched are
 * checked too (check_layers()), so a broken invariant fails the test even
 * where its own checks miss it.  Every test runs in a fresh child in which
 * the main thread has no cache yet and no depot holds a magazine; main()
 * brings the layers up with 4 KiB backing and makes the thread-exit key.
 *
 * Fork: the library constructor (init.c) registers sb_fork_prepare/parent/
 * child with pthread_atfork, so a plain fork() runs them.  The fork test
 * calls them itself around _Fork(), which runs no handlers, so that they
 * run exactly once and the test does not depend on how it was linked.
 */
#include "buddy.h"
#include "cache.h"
#include "config.h"
#include "depot.h"
#include "fork.h"
#include "init.h"
#include "magazine.h"
#include "pcp.h"
#include "region.h"
#include "sizeclass.h"
#include "slab.h"
#include "tcache.h"
#include "../tap.h"

#include <pthread.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>

#define PAGE SB_PAGE_SIZE
#define MAX_ROUNDS SB_MAG_MAX_ROUNDS
#define CONTENTION_LIMIT 16	/* depot.c: more failed trylocks than this grow magazines */

/* ---- Helpers ----------------------------------------------------------- */

/* What malloc does for a small object of class cls. */
static void *tc_alloc(unsigned cls)
{
	void *p;

	if (sb_tc_pop(cls, &p))
		return p;
	return sb_tc_alloc_slow(cls, "malloc");
}

/* What free does. */
static void tc_free(unsigned cls, void *p)
{
	if (sb_tc_push(cls, p))
		return;
	sb_tc_free_slow(cls, p, "free");
}

/* The calling thread's bin, its loaded magazine's rounds brought up to
 * date from the open top (what the slow paths do before they look). */
static struct sb_bin *bin(unsigned cls)
{
	struct sb_bin *b = &sb_tc->bins[cls];

	if (sb_mag_is_real(b->loaded))
		b->loaded->rounds = (uint32_t)(b->top - b->base);
	return b;
}

static struct sb_slab_cache *slab(unsigned cls)
{
	return sb_cache_slab(sb_cache_of_class(cls));
}

static struct sb_depot *depot(unsigned cls)
{
	return sb_cache_depot(sb_cache_of_class(cls));
}

/* The class used by most tests: 128-byte objects, 64-round magazines. */
static unsigned class_128(void)
{
	unsigned cls = sb_size_class(128);

	CHECK(slab(cls)->size == 128);
	return cls;
}

/* Every zone passes sb_buddy_validate. */
static void check_zones(void)
{
	size_t i, n = sb_region_count();

	for (i = 0; i < n; i++)
		CHECKF(sb_buddy_validate(i), "zone %zu is invalid (see stderr)", i);
}

/* The calling thread's cache, cls's depot and slab cache, and every zone
 * pass their validators. */
static void check_layers(unsigned cls)
{
	CHECKF(sb_tc_validate(), "the thread cache is invalid (see stderr)");
	CHECKF(sb_depot_validate(depot(cls)), "depot of class %u is invalid (see stderr)", cls);
	CHECKF(sb_slab_validate(slab(cls)), "slab cache of class %u is invalid (see stderr)", cls);
	check_zones();
}

static void **alloc_n(unsigned cls, size_t n)
{
	void **v = calloc(n, sizeof(*v));
	size_t i;

	CHECK(v != NULL);
	for (i = 0; i < n; i++) {
		v[i] = tc_alloc(cls);
		CHECKF(v[i] != NULL, "object %zu of %zu", i, n);
	}
	return v;
}

static void free_range(unsigned cls, void **v, size_t from, size_t to)
{
	size_t i;

	for (i = from; i < to; i++)
		tc_free(cls, v[i]);
}

static bool in_set(void *const *v, size_t n, const void *p)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (v[i] == p)
			return true;
	return false;
}

/* A full magazine of d's current capacity, its objects straight from the
 * slab layer. */
static struct sb_mag *full_magazine(struct sb_depot *d)
{
	struct sb_mag *m = sb_mag_new(d->mag_cap);

	CHECK(m != NULL);
	CHECK(sb_mag_fill(m, sb_depot_slab(d), sb_mag_cap(m), "malloc") == sb_mag_cap(m));
	CHECK(sb_mag_is_full(m));
	return m;
}

/* One depot exchange that leaves the full list alone: take an empty
 * magazine (or a new one) and give it back.  Returns its capacity. */
static uint32_t exchange_tick(struct sb_depot *d)
{
	struct sb_mag *m = sb_depot_exchange(d, NULL, true, "free");
	uint32_t cap;

	CHECK(m != NULL && sb_mag_is_empty(m));
	cap = sb_mag_cap(m);
	sb_depot_put(d, m, "free");
	return cap;
}

/* Make the next exchange run a working-set update now. */
static uint32_t force_update(struct sb_depot *d)
{
	sb_depot_expire(d);
	return exchange_tick(d);
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0)
		;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Longer than depot.c's working-set interval (1 s), with room for the
 * coarse clock it reads. */
#define PAST_INTERVAL_MS 1200

/* Bytes of objects in every thread's magazines and every depot's full
 * magazines. */
static size_t cached_obj_bytes(void)
{
	struct sb_tc_counters tcc;
	struct sb_depot_counters dc;
	struct sb_cache *c;
	size_t bytes;

	sb_tc_counters(&tcc);
	bytes = tcc.obj_bytes;
	for (c = sb_cache_first(); c != NULL; c = sb_cache_next(c)) {
		sb_depot_counters(sb_cache_depot(c), &dc, true);
		bytes += dc.full_objs * sb_slab_size(sb_cache_slab(c));
	}
	return bytes;
}

/* Bytes of page blocks in every thread's page lists. */
static size_t cached_page_bytes(void)
{
	struct sb_tc_counters tcc;

	sb_tc_counters(&tcc);
	return tcc.page_bytes;
}

static size_t free_pages_everywhere(void)
{
	struct sb_zone_counters zc;
	size_t i, n = sb_region_count(), sum = 0;

	for (i = 0; i < n; i++) {
		sb_buddy_counters(i, &zc, true);
		sum += zc.free_pages;
	}
	return sum;
}

static struct sb_page *page_of(const void *p)
{
	struct sb_page *pg = sb_page_of(p);

	CHECKF(pg != NULL, "%p is in no region", p);
	return pg;
}

static void run_thread(void *(*fn)(void *), void *arg)
{
	pthread_t th;

	CHECK(pthread_create(&th, NULL, fn, arg) == 0);
	CHECK(pthread_join(th, NULL) == 0);
}

/*
 * Validators report on stderr.  capture_stderr() sends it to a pipe until
 * release_stderr(), which returns what was written (NUL-terminated).
 */
struct capture {
	int saved, rd;
};

static void capture_stderr(struct capture *cap)
{
	int fds[2];

	CHECK(pipe(fds) == 0);
	cap->saved = dup(2);
	CHECK(cap->saved >= 0);
	CHECK(dup2(fds[1], 2) == 2);
	close(fds[1]);
	cap->rd = fds[0];
}

static void release_stderr(struct capture *cap, char *out, size_t len)
{
	size_t got = 0;
	ssize_t n;

	CHECK(dup2(cap->saved, 2) == 2);
	close(cap->saved);
	while (got < len - 1 && (n = read(cap->rd, out + got, len - 1 - got)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		got += (size_t)n;
	}
	out[got] = '\0';
	close(cap->rd);
}

/* A validator returned ok and wrote out: it must have failed with expect. */
#define CHECK_INVALID(ok, out, expect) do { \
	CHECKF(!(ok), "the validator passed a broken structure"); \
	CHECKF(strstr((out), (expect)) != NULL, "stderr lacks \"%s\": %s", (expect), (out)); \
} while (0)

/* ---- Setting up, refilling and swapping ------------------------------- */

TEST(the_first_allocation_of_a_thread_sets_up_its_cache_and_fills_a_whole_magazine)
{
	unsigned cls = class_128();
	struct sb_slab_cache *c = slab(cls);
	struct sb_depot *d = depot(cls);
	size_t before = c->active_objs;
	struct sb_page *pg;
	struct sb_mag *m;
	uint32_t i;
	void *p;

	CHECK(sb_tc->state == SB_TC_EMPTY);
	CHECK(!sb_mag_is_real(bin(cls)->loaded));
	p = tc_alloc(cls);
	CHECK(p != NULL);
	CHECK(sb_tc->state == SB_TC_LIVE);
	pg = page_of(p);
	CHECK(sb_page_state(pg) == SB_PAGE_SLAB && sb_slab_cache_of(sb_page_slab(pg)) == c);
	CHECK(sb_page_bin(pg) == cls);
	m = bin(cls)->loaded;
	CHECKF(m->cap == d->mag_cap, "magazine of %u rounds, depot says %u", m->cap, d->mag_cap);
	CHECKF(c->active_objs - before == m->rounds + 1,
	       "%zu objects left the slab layer, the magazine holds %u + 1 handed out",
	       c->active_objs - before, m->rounds);
	CHECK(m->rounds + 1 == m->cap);
	/* The rest of the magazine needs no further trip to the slab layer. */
	for (i = 1; i < m->cap; i++)
		CHECK(tc_alloc(cls) != NULL);
	CHECK(bin(cls)->loaded == m && m->rounds == 0);
	CHECK(c->active_objs - before == m->cap);
	check_layers(cls);
}

TEST(a_thread_allocating_with_both_magazines_empty_and_an_empty_depot_refills_from_the_slab)
{
	unsigned cls = class_128();
	struct sb_slab_cache *c = slab(cls);
	struct sb_depot *d = depot(cls);
	uint32_t cap = d->mag_cap;
	void **v = alloc_n(cls, cap);
	size_t before = c->active_objs;

	CHECK(bin(cls)->loaded->rounds == 0 && bin(cls)->prev->rounds == 0);
	CHECK(d->nfull == 0);
	CHECK(tc_alloc(cls) != NULL);
	CHECKF(c->active_objs - before == cap, "%zu objects left the slab layer, not %u",
	       c->active_objs - before, cap);
	CHECK(bin(cls)->loaded->rounds == cap - 1);
	check_layers(cls);
	free(v);
}

TEST(frees_fill_the_loaded_magazine_then_swap_in_the_empty_previous_one_without_the_depot)
{
	unsigned cls = class_128();
	struct sb_depot *d = depot(cls);
	uint32_t cap = d->mag_cap;
	void **v = alloc_n(cls, 2 * (size_t)cap);	/* the loaded magazine is empty */
	struct sb_mag *a, *b;
	void *x, *y;
	uint64_t exchanges;
	size_t nfull, nempty;

	/* Reach: loaded holds cap - 1, previous is a real, empty magazine.
	 * cap + 1 frees: a full magazine, then a second one holding 1. */
	free_range(cls, v, 0, cap + 1);
	x = tc_alloc(cls);	/* empties the loaded magazine */
	y = tc_alloc(cls);	/* swaps in the full one and pops */
	CHECK(x == v[cap] && y == v[cap - 1]);
	a = bin(cls)->loaded;
	b = bin(cls)->prev;
	CHECK(a->cap == cap && a->rounds == cap - 1);
	CHECK(b->cap == cap && b->rounds == 0);

	exchanges = d->exchanges;
	nfull = d->nfull;
	nempty = d->nempty;
	tc_free(cls, x);	/* fills the loaded magazine */
	CHECK(bin(cls)->loaded == a && a->rounds == cap);
	tc_free(cls, y);	/* loaded full: the empty previous one comes in */
	CHECKF(bin(cls)->loaded == b && bin(cls)->prev == a,
	       "after the free: loaded %p previous %p, expected %p %p",
	       (void *)bin(cls)->loaded, (void *)bin(cls)->prev, (void *)b, (void *)a);
	CHECK(b->rounds == 1 && b->objs[0] == y);
	CHECK(a->rounds == cap);
	CHECKF(d->exchanges == exchanges, "%llu depot exchanges for a swap",
	       (unsigned long long)(d->exchanges - exchanges));
	CHECK(d->nfull == nfull && d->nempty == nempty);
	check_layers(cls);
	free(v);
}

TEST(when_both_magazines_are_full_a_free_sends_the_previous_one_to_the_depot_and_loads_an_empty_one)
{
	unsigned cls = class_128();
	struct sb_depot *d = depot(cls);
	uint32_t cap = d->mag_cap;
	void **v = alloc_n(cls, 3 * (size_t)cap);
	struct sb_mag *loaded, *prev, *m;
	size_t nfull;

	free_range(cls, v, 0, 2 * cap);
	loaded = bin(cls)->loaded;
	prev = bin(cls)->prev;
	CHECK(loaded->rounds == cap && prev->rounds == cap && loaded != prev);
	nfull = d->nfull;
	tc_free(cls, v[2 * cap]);
	CHECKF(d->nfull == nfull + 1, "depot holds %zu full magazines, had %zu", d->nfull, nfull);
	CHECK(d->full == prev && prev->rounds == cap);
	m = bin(cls)->loaded;
	CHECK(m != loaded && m != prev);
	CHECK(m->rounds == 1 && m->objs[0] == v[2 * cap]);
	CHECK(bin(cls)->prev == loaded && loaded->rounds == cap);
	check_layers(cls);
	free(v);
}

/*
 * A cache whose slabs are an eighth full (one object in eight out, the
 * rest straight back to the slab layer), with three full magazines in its
 * depot: the free that needs an empty magazine finds the cache sparse, so
 * the depot's full magazines go back to their slabs at once, and so does
 * the one the thread gives at its next exchange.
 */
TEST(a_sparse_caches_depot_sends_full_magazines_back_to_their_slabs)
{
	unsigned cls = class_128();
	struct sb_slab_cache *c = slab(cls);
	struct sb_depot *d = depot(cls);
	uint32_t cap = d->mag_cap;
	size_t n = 4 * SB_SLAB_SPARSE_MIN * (size_t)c->objs_per_slab, kept = 0, active, i;
	void **v = calloc(n, sizeof(*v));

	CHECK(v != NULL);
	CHECK(sb_slab_alloc_batch(c, v, (unsigned)n, "malloc") == n);
	for (i = 0; i < n; i++) {
		if (i % 8 != 0)
			sb_slab_free_batch(c, &v[i], 1, "free");
		else
			v[kept++] = v[i];
	}
	for (i = 0; i < 3; i++)
		sb_depot_put(d, full_magazine(d), "free");
	CHECK(d->nfull == 3);
	CHECKF(sb_slab_sparse(c), "%zu objects out of %zu slabs of %u", c->active_objs,
	       c->lists[SB_SLAB_PARTIAL].count + c->lists[SB_SLAB_FULL].count, c->objs_per_slab);
	CHECK(kept > 2 * (size_t)cap);
	active = c->active_objs;
	free_range(cls, v, 0, 2 * (size_t)cap + 1);
	CHECKF(d->nfull == 0, "the depot of a sparse cache kept %zu full magazines", d->nfull);
	CHECKF(c->active_objs == active - 4 * (size_t)cap, "active_objs %zu, expected %zu",
	       c->active_objs, active - 4 * (size_t)cap);
	check_layers(cls);
	free_range(cls, v, 2 * (size_t)cap + 1, kept);
	check_layers(cls);
	free(v);
}

TEST(when_both_magazines_are_empty_malloc_takes_a_full_magazine_from_the_depot_not_the_slab)
{
	unsigned cls = class_128();
	struct sb_slab_cache *c = slab(cls);
	struct sb_depot *d = depot(cls);
	uint32_t cap = d->mag_cap;
	void **v = alloc_n(cls, 3 * cap), **w;
	struct sb_mag *full;
	size_t active;
	void *p;

	/* 3 * cap frees: the first magazine ends up in the depot, the thread
	 * keeps two full ones; 2 * cap allocations empty those two. */
	free_range(cls, v, 0, 3 * cap);
	CHECK(d->nfull == 1);
	full = d->full;
	w = alloc_n(cls, 2 * cap);
	CHECK(bin(cls)->loaded->rounds == 0 && bin(cls)->prev->rounds == 0);
	CHECK(bin(cls)->loaded->cap == cap && bin(cls)->prev->cap == cap);

	active = c->active_objs;
	p = tc_alloc(cls);
	CHECKF(c->active_objs == active, "%zd objects came from the slab layer",
	       (ssize_t)(c->active_objs - active));
	CHECK(d->nfull == 0);
	CHECK(d->nempty == 1);		/* the empty magazine given in exchange */
	CHECK(bin(cls)->loaded == full && full->rounds == cap - 1);
	CHECK(p == v[cap - 1]);		/* the last object freed into it */
	check_layers(cls);
	free(w);
	free(v);
}

/* ---- Other threads ------------------------------------------------------ */

struct xfree {
	unsigned cls;
	void **v;
	size_t n;
	size_t depot_nfull;	/* after B's frees, before B exits */
	bool tc_valid;		/* B's cache passed sb_tc_validate before B exited */
};

static void *free_one_and_look(void *arg)
{
	struct xfree *x = arg;
	struct sb_mag *m;

	tc_free(x->cls, x->v[0]);
	m = bin(x->cls)->loaded;
	CHECKF(m->rounds == 1 && m->objs[0] == x->v[0],
	       "freeing thread's magazine: %u rounds", m->rounds);
	x->tc_valid = sb_tc_validate();
	return NULL;
}

TEST(an_object_freed_by_another_thread_goes_into_that_threads_magazine)
{
	unsigned cls = class_128();
	struct sb_slab_cache *c = slab(cls);
	struct xfree x = { .cls = cls, .n = 1 };
	size_t active, rounds;

	x.v = alloc_n(cls, 1);
	active = c->active_objs;
	rounds = bin(cls)->loaded->rounds;
	run_thread(free_one_and_look, &x);	/* checks its own magazine */
	CHECK(x.tc_valid);
	CHECK(bin(cls)->loaded->rounds == rounds);	/* not the allocating thread's */
	/* The freeing thread has exited, its partly filled magazine went back. */
	CHECK(c->active_objs == active - 1);
	check_layers(cls);
	free(x.v);
}

static void *free_all(void *arg)
{
	struct xfree *x = arg;

	free_range(x->cls, x->v, 0, x->n);
	x->depot_nfull = depot(x->cls)->nfull;
	x->tc_valid = sb_tc_validate();
	return NULL;
}

TEST(objects_freed_by_one_thread_are_handed_out_to_another_through_the_depot)
{
	unsigned cls = class_128();
	struct sb_slab_cache *c = slab(cls);
	struct sb_depot *d = depot(cls);
	uint32_t cap = d->mag_cap;
	struct xfree x = { .cls = cls, .n = 4 * (size_t)cap };
	size_t active, i;
	void *p;

	x.v = alloc_n(cls, x.n);	/* thread A (main): its magazines are now empty */
	active = c->active_objs;
	run_thread(free_all, &x);	/* thread B frees them all */
	CHECKF(x.depot_nfull == 2, "B's frees put %zu magazines in the depot, expected 2",
	       x.depot_nfull);
	CHECK(x.tc_valid);
	CHECK(d->nfull >= 2);
	CHECK(sb_depot_validate(d));
	for (i = 0; i < x.n; i++) {
		p = tc_alloc(cls);
		CHECKF(in_set(x.v, x.n, p), "allocation %zu: %p is not one B freed", i, p);
	}
	CHECKF(c->active_objs == active, "%zd objects came from the slab layer",
	       (ssize_t)(c->active_objs - active));
	CHECK(d->nfull == 0);
	check_layers(cls);
	free(x.v);
}

/* ---- Remote frees go home ---------------------------------------------- */

/* Thread B's side: the frees of other threads' objects, as malloc.c sends
 * them (owner: the cache of the thread that allocated them). */
struct remote {
	unsigned cls;
	void **v;
	size_t n;
	struct sb_tcache *owner;
	struct sb_tcache *self;	/* B's cache */
	size_t remote_rounds;	/* in B's remote magazine after its frees */
	size_t depot_nfull;
	bool tc_valid;
};

static void *free_remote(void *arg)
{
	struct remote *r = arg;
	size_t i;

	for (i = 0; i < r->n; i++)
		sb_tc_free_other(r->cls, r->v[i], r->owner, "free");
	r->self = sb_tc;
	r->remote_rounds = sb_tc->bins[r->cls].remote->rounds;
	r->depot_nfull = depot(r->cls)->nfull;
	r->tc_valid = sb_tc_validate();
	return NULL;
}

static struct sb_mag *inbox(struct sb_tcache *tc, unsigned cls)
{
	return __atomic_load_n(&tc->side[cls].inbox, __ATOMIC_ACQUIRE);
}

/* Objects 0..cap of v freed by another thread: the first cap go home. */
static void send_home_once(unsigned cls, void **v)
{
	struct remote r = { .cls = cls, .v = v, .n = depot(cls)->mag_cap + 1, .owner = sb_tc };

	run_thread(free_remote, &r);
	CHECK(inbox(sb_tc, cls) != NULL);
}

static void run_dry(unsigned cls)
{
	while (bin(cls)->loaded->rounds > 0 || bin(cls)->prev->rounds > 0)
		CHECK(tc_alloc(cls) != NULL);
}

TEST(another_threads_frees_collect_in_its_remote_magazine_not_its_loaded_one)
{
	unsigned cls = class_128();
	struct remote r = { .cls = cls, .n = 5 };

	r.v = alloc_n(cls, r.n);
	r.owner = sb_tc;
	run_thread(free_remote, &r);
	CHECKF(r.remote_rounds == r.n, "%zu rounds in the remote magazine", r.remote_rounds);
	CHECK(r.tc_valid);
	CHECK(inbox(sb_tc, cls) == NULL);	/* not full: it stayed with B */
	free(r.v);
}

TEST(a_full_remote_magazine_goes_to_the_inbox_of_the_owner_of_the_object_that_filled_it)
{
	unsigned cls = class_128();
	uint32_t cap = depot(cls)->mag_cap, i;
	struct remote r = { .cls = cls, .n = cap + 1 };
	size_t nfull = depot(cls)->nfull;
	struct sb_mag *m;

	r.v = alloc_n(cls, r.n);
	r.owner = sb_tc;
	run_thread(free_remote, &r);
	m = inbox(sb_tc, cls);
	CHECK(m != NULL && sb_mag_is_real(m));
	CHECKF(m->rounds == cap, "%u rounds in the inbox, expected %u", m->rounds, cap);
	for (i = 0; i < cap; i++)
		CHECK(m->objs[i] == r.v[i]);
	CHECK(r.remote_rounds == 1);
	CHECK(r.depot_nfull == nfull);		/* nothing went through the depot */
	CHECK(sb_tc_validate());
	check_layers(cls);
	free(r.v);
}

TEST(a_thread_whose_magazines_run_dry_takes_its_inbox_before_the_depot)
{
	unsigned cls = class_128();
	struct sb_slab_cache *c = slab(cls);
	uint32_t cap = depot(cls)->mag_cap, i;
	struct remote r = { .cls = cls, .n = cap + 1 };
	size_t active;
	void *p;

	r.v = alloc_n(cls, r.n);
	r.owner = sb_tc;
	run_dry(cls);
	run_thread(free_remote, &r);
	active = c->active_objs;
	for (i = 0; i < cap; i++) {
		p = tc_alloc(cls);
		CHECKF(in_set(r.v, cap, p), "allocation %u: %p is not from the inbox", i, p);
	}
	CHECK(inbox(sb_tc, cls) == NULL);
	CHECK(c->active_objs == active);	/* no trip to the slab layer */
	CHECK(sb_tc_validate());
	free(r.v);
}

TEST(a_full_remote_magazine_whose_owners_inbox_is_taken_goes_to_the_depot)
{
	unsigned cls = class_128();
	uint32_t cap = depot(cls)->mag_cap;
	struct remote r = { .cls = cls, .n = 2 * (size_t)cap + 1 };
	size_t nfull = depot(cls)->nfull;

	r.v = alloc_n(cls, r.n);
	r.owner = sb_tc;
	run_thread(free_remote, &r);
	CHECK(inbox(sb_tc, cls) != NULL && inbox(sb_tc, cls)->rounds == cap);
	CHECKF(r.depot_nfull == nfull + 1, "%zu full magazines in the depot, expected %zu",
	       r.depot_nfull, nfull + 1);
	CHECK(sb_tc_validate());
	check_layers(cls);
	free(r.v);
}

TEST(an_object_waiting_in_an_inbox_counts_as_free_for_the_double_free_check)
{
	unsigned cls = class_128();
	uint32_t cap = depot(cls)->mag_cap;
	struct remote r = { .cls = cls, .n = cap + 1 };

	r.v = alloc_n(cls, r.n);
	r.owner = sb_tc;
	CHECK(!sb_tc_object_is_free(cls, r.v[0]));
	run_thread(free_remote, &r);
	CHECK(inbox(sb_tc, cls) != NULL);
	CHECK(sb_tc_object_is_free(cls, r.v[0]));
	CHECK(sb_tc_object_is_free(cls, r.v[cap - 1]));
	free(r.v);
}

struct exit_owner {
	unsigned cls;
	struct sb_tcache *tc;
	void *obj;
	pthread_barrier_t *together;	/* or NULL */
};

static void *alloc_one_and_remember(void *arg)
{
	struct exit_owner *e = arg;

	e->obj = tc_alloc(e->cls);
	e->tc = sb_tc;
	if (e->together != NULL)
		pthread_barrier_wait(e->together);
	return NULL;
}

/* B: frees r->v for whichever of two exited threads' caches it did not
 * get itself (a new thread takes the cache of the last one to exit). */
struct dead_owner {
	struct remote r;
	struct sb_tcache *a1, *a2;
};

static void *free_for_a_dead_owner(void *arg)
{
	struct dead_owner *d = arg;
	void *p = tc_alloc(d->r.cls);

	d->r.owner = sb_tc == d->a1 ? d->a2 : d->a1;
	tc_free(d->r.cls, p);
	return free_remote(&d->r);
}

TEST(an_exited_threads_inboxes_are_closed_and_a_full_magazine_for_it_goes_to_the_depot)
{
	unsigned cls = class_128();
	uint32_t cap = depot(cls)->mag_cap;
	pthread_barrier_t together;
	struct exit_owner a1 = { .cls = cls, .together = &together }, a2 = a1;
	struct dead_owner d = { .r = { .cls = cls, .n = cap + 1 } };
	pthread_t t1, t2;
	size_t nfull;

	CHECK(tc_alloc(cls) != NULL);	/* this thread's cache, before the others */
	CHECK(pthread_barrier_init(&together, NULL, 2) == 0);
	CHECK(pthread_create(&t1, NULL, alloc_one_and_remember, &a1) == 0);
	CHECK(pthread_create(&t2, NULL, alloc_one_and_remember, &a2) == 0);
	CHECK(pthread_join(t1, NULL) == 0 && pthread_join(t2, NULL) == 0);
	CHECK(a1.tc != a2.tc);
	CHECK(a1.tc->state == SB_TC_DEAD && a2.tc->state == SB_TC_DEAD);
	CHECK(inbox(a1.tc, cls) == SB_INBOX_CLOSED && inbox(a2.tc, cls) == SB_INBOX_CLOSED);
	d.a1 = a1.tc;
	d.a2 = a2.tc;
	d.r.v = alloc_n(cls, d.r.n);
	nfull = depot(cls)->nfull;
	run_thread(free_for_a_dead_owner, &d);
	CHECK(d.r.owner != d.r.self && d.r.owner->state == SB_TC_DEAD);
	CHECKF(d.r.depot_nfull == nfull + 1, "%zu full magazines in the depot, expected %zu",
	       d.r.depot_nfull, nfull + 1);
	CHECK(inbox(d.r.owner, cls) == SB_INBOX_CLOSED);
	CHECK(d.r.tc_valid);
	tc_free(cls, a1.obj);
	tc_free(cls, a2.obj);
	check_layers(cls);
	free(d.r.v);
	pthread_barrier_destroy(&together);
}

static struct sb_tcache *open_inbox_of;

static void *look_at_own_inbox(void *arg)
{
	unsigned cls = *(unsigned *)arg;

	CHECK(tc_alloc(cls) != NULL);
	open_inbox_of = sb_tc;
	CHECK(inbox(sb_tc, cls) == NULL);
	return NULL;
}

TEST(a_thread_that_reuses_an_exited_threads_cache_has_its_inboxes_open)
{
	unsigned cls = class_128();
	struct exit_owner a = { .cls = cls };

	run_thread(alloc_one_and_remember, &a);
	run_thread(look_at_own_inbox, &cls);
	CHECK(open_inbox_of == a.tc);
	tc_free(cls, a.obj);
}

TEST(two_threads_freeing_each_others_objects_trade_magazines_without_the_depot)
{
	unsigned cls = class_128();
	uint32_t cap = depot(cls)->mag_cap;
	void **v = alloc_n(cls, 2 * (size_t)cap + 2);
	struct sb_mag *spare;
	size_t nempty;
	uint32_t i;
	void *p;

	run_dry(cls);
	send_home_once(cls, v);
	for (i = 0; i < cap; i++)	/* takes the inbox and empties it */
		CHECK(in_set(v, cap, tc_alloc(cls)));
	send_home_once(cls, v + cap + 1);
	/* Both magazines empty: the inbox comes in, one empty one is over. */
	CHECK((p = tc_alloc(cls)) != NULL && in_set(v + cap + 1, cap, p));
	spare = sb_tc->side[cls].spare;
	CHECK(sb_mag_is_real(spare) && spare->rounds == 0);
	/* A free of another thread's object starts a remote magazine with it. */
	nempty = depot(cls)->nempty;
	sb_tc_free_other(cls, p, NULL, "free");
	CHECK(bin(cls)->remote == spare && spare->rounds == 1 && spare->objs[0] == p);
	CHECK(!sb_mag_is_real(sb_tc->side[cls].spare));
	CHECK(depot(cls)->nempty == nempty);
	CHECK(sb_tc_validate());
	free(v);
}

/* ---- Thread exit ------------------------------------------------------- */

struct exiting {
	unsigned cls;
	size_t n;
	void *kept;
	size_t nfull_before_exit;
};

static void *alloc_then_free_all(void *arg)
{
	struct exiting *e = arg;
	void **v = alloc_n(e->cls, e->n);

	free_range(e->cls, v, 0, e->n);
	free(v);
	e->nfull_before_exit = depot(e->cls)->nfull;
	return NULL;
}

TEST(thread_exit_hands_the_threads_full_magazines_to_the_depot)
{
	unsigned cls = class_128();
	struct sb_slab_cache *c = slab(cls);
	struct sb_depot *d = depot(cls);
	uint32_t cap = d->mag_cap;
	struct exiting e = { .cls = cls, .n = 2 * (size_t)cap };

	run_thread(alloc_then_free_all, &e);	/* it held two full magazines */
	CHECK(e.nfull_before_exit == 0);
	CHECKF(d->nfull == 2, "depot: %zu full magazines after the exit", d->nfull);
	CHECK(d->full->rounds == cap && d->full->next->rounds == cap);
	CHECK(c->active_objs == 2 * (size_t)cap);	/* still cached, not in the slabs */
	CHECKF(cached_obj_bytes() == 2 * (size_t)cap * c->size,
	       "%zu bytes cached, expected %zu", cached_obj_bytes(), 2 * (size_t)cap * c->size);
	check_layers(cls);
}

static void *alloc_one(void *arg)
{
	struct exiting *e = arg;

	e->kept = tc_alloc(e->cls);
	CHECK(e->kept != NULL);
	return NULL;
}

TEST(thread_exit_returns_the_objects_of_a_partly_filled_magazine_to_the_slab_layer)
{
	unsigned cls = class_128();
	struct sb_slab_cache *c = slab(cls);
	struct sb_depot *d = depot(cls);
	struct exiting e = { .cls = cls };

	run_thread(alloc_one, &e);	/* a magazine from the slab layer, one taken */
	CHECKF(c->active_objs == 1, "%zu objects out of the slab layer, 1 in use",
	       c->active_objs);
	CHECK(d->nfull == 0);
	CHECK(d->nempty == 1);	/* the magazine itself is kept, empty */
	CHECK(cached_obj_bytes() == 0);
	CHECK(sb_page_state(page_of(e.kept)) == SB_PAGE_SLAB);
	check_layers(cls);
}

/* ---- Reaping ----------------------------------------------------------- */

TEST(reaping_all_returns_every_depot_magazine_and_its_objects_to_the_slab_layer)
{
	unsigned cls = class_128();
	struct sb_slab_cache *c = slab(cls);
	struct sb_depot *d = depot(cls);
	uint32_t cap = d->mag_cap;
	size_t active;
	int i;

	for (i = 0; i < 3; i++)
		sb_depot_put(d, full_magazine(d), "free");
	sb_depot_put(d, sb_mag_new(cap), "free");
	CHECK(d->nfull == 3 && d->nempty == 1);
	CHECK(sb_depot_validate(d));
	active = c->active_objs;
	CHECK(active == 3 * (size_t)cap);
	sb_depot_reap(d, true, "malloc_trim");
	CHECK(d->nfull == 0 && d->full == NULL);
	CHECK(d->nempty == 0 && d->empty == NULL);
	CHECKF(c->active_objs == active - 3 * (size_t)cap, "active_objs %zu, expected %zu",
	       c->active_objs, active - 3 * (size_t)cap);
	CHECK(cached_obj_bytes() == 0);
	check_layers(cls);
}

TEST(magazines_idle_in_the_depot_for_a_whole_interval_are_reaped_at_a_later_exchange)
{
	unsigned cls = class_128();
	struct sb_slab_cache *c = slab(cls);
	struct sb_depot *d = depot(cls);
	uint32_t cap = d->mag_cap;
	size_t active;
	int i;

	for (i = 0; i < 4; i++)
		sb_depot_put(d, full_magazine(d), "free");
	sb_depot_reap(d, false, "free");	/* an update now: the interval starts */
	CHECKF(d->nfull == 4, "%zu of 4 magazines left right after they came in", d->nfull);
	exchange_tick(d);		/* inside the interval: no update */
	CHECK(d->nfull == 4);
	CHECK(sb_depot_validate(d));
	active = c->active_objs;
	sleep_ms(PAST_INTERVAL_MS);
	exchange_tick(d);		/* an interval later: reaped */
	CHECKF(d->nfull == 0, "%zu of 4 idle magazines left after an interval", d->nfull);
	CHECKF(c->active_objs == active - 4 * (size_t)cap, "active_objs %zu, expected %zu",
	       c->active_objs, active - 4 * (size_t)cap);
	check_layers(cls);
}

TEST(magazines_in_steady_use_are_not_reaped_only_those_idle_beyond_the_working_set)
{
	unsigned cls = class_128();
	struct sb_slab_cache *c = slab(cls);
	struct sb_depot *d = depot(cls);
	uint32_t cap = d->mag_cap;
	struct sb_mag *m[2];
	uint64_t start;
	size_t active;
	int i, round;

	for (i = 0; i < 4; i++)
		sb_depot_put(d, full_magazine(d), "free");
	sb_depot_reap(d, false, "free");
	start = now_ms();
	/* Through the interval, two of the four are taken and given back. */
	for (round = 0; round < 5; round++) {
		for (i = 0; i < 2; i++) {
			m[i] = sb_depot_exchange(d, NULL, false, "malloc");
			CHECK(m[i] != NULL && m[i]->rounds == cap);
		}
		CHECK(d->nfull == 2);
		for (i = 0; i < 2; i++)
			sb_depot_put(d, m[i], "free");
		CHECK(d->nfull == 4);
		sleep_ms(50);
	}
	CHECK(now_ms() - start < 1000);	/* still inside the interval */
	CHECK(sb_depot_validate(d));
	active = c->active_objs;
	sleep_ms(PAST_INTERVAL_MS - (long)(now_ms() - start));
	exchange_tick(d);
	CHECKF(d->nfull == 2, "%zu full magazines after the update, expected the 2 in use",
	       d->nfull);
	CHECK(c->active_objs == active - 2 * (size_t)cap);
	check_layers(cls);
}

/* ---- Magazine capacity ------------------------------------------------- */

TEST(magazines_hold_about_32_KiB_of_objects_clamped_to_8_to_64_rounds)
{
	uint32_t cap, last = UINT32_MAX, size;
	size_t want;
	unsigned i;

	for (i = 0; i < SB_NR_CLASSES; i++) {
		size = slab(i)->size;
		cap = depot(i)->mag_cap;
		want = (32 << 10) / size;
		want = want < 8 ? 8 : want > 64 ? 64 : want;
		CHECKF(cap == want, "class %u (%u bytes): %u rounds, expected %zu", i, size, cap,
		       want);
		CHECKF(cap <= last, "class %u (%u bytes): %u rounds, more than the class below",
		       i, size, cap);
		CHECK(sb_depot_mag_cap(depot(i)) == cap);
		last = cap;
	}
	CHECK(depot(sb_size_class(16))->mag_cap > depot(sb_size_class(16384))->mag_cap);
}

TEST(more_than_16_contended_depot_locks_in_an_interval_double_the_capacity_of_new_magazines)
{
	unsigned cls = sb_size_class(16);
	struct sb_depot *d = depot(cls);
	uint32_t cap = d->mag_cap;

	CHECK(cap == 64);
	sb_depot_set_contention(d, CONTENTION_LIMIT + 1);
	CHECK(force_update(d) == 2 * cap);	/* the magazine made after the update */
	CHECK(d->mag_cap == 2 * cap);
	CHECK(d->contention == 0);
	/* A thread's first magazine now has the new capacity. */
	CHECK(tc_alloc(cls) != NULL);
	CHECK(bin(cls)->loaded->cap == 2 * cap);
	check_layers(cls);
}

TEST(sixteen_contended_depot_locks_in_an_interval_leave_the_capacity_alone)
{
	struct sb_depot *d = depot(sb_size_class(16));
	uint32_t cap = d->mag_cap;

	sb_depot_set_contention(d, CONTENTION_LIMIT);
	force_update(d);
	CHECK(d->mag_cap == cap);
	CHECK(d->contention == 0);
	CHECK(sb_depot_validate(d));
}

TEST(contention_counted_in_one_interval_is_forgotten_at_the_next_update)
{
	struct sb_depot *d = depot(sb_size_class(16));
	uint32_t cap = d->mag_cap;

	sb_depot_set_contention(d, CONTENTION_LIMIT);
	force_update(d);
	CHECK(d->contention == 0);
	sb_depot_set_contention(d, 1);	/* 17 over two intervals, 1 in this one */
	force_update(d);
	CHECK(d->mag_cap == cap);
	CHECK(sb_depot_validate(d));
}

TEST(magazine_capacity_doubles_up_to_256_rounds_and_no_further)
{
	struct sb_depot *d = depot(sb_size_class(16));
	uint32_t want = d->mag_cap;
	int i;

	for (i = 0; i < 6; i++) {
		sb_depot_set_contention(d, CONTENTION_LIMIT + 1);
		force_update(d);
		want = want * 2 > MAX_ROUNDS ? MAX_ROUNDS : want * 2;
		CHECKF(d->mag_cap == want, "update %d: %u rounds, expected %u", i + 1, d->mag_cap,
		       want);
	}
	CHECK(d->mag_cap == MAX_ROUNDS);
	CHECK(sb_depot_validate(d));
}

TEST(no_size_class_grows_its_magazines_beyond_256_rounds)
{
	unsigned i;
	int k;

	for (i = 0; i < SB_NR_CLASSES; i++) {
		struct sb_depot *d = depot(i);
		uint32_t start = d->mag_cap;

		for (k = 0; k < 8; k++) {
			sb_depot_set_contention(d, CONTENTION_LIMIT + 1);
			force_update(d);
			CHECKF(d->mag_cap <= MAX_ROUNDS,
			       "class %u (%u bytes): %u rounds to start, %u after %d doublings",
			       i, slab(i)->size, start, d->mag_cap, k + 1);
		}
		CHECK(d->mag_cap > start);
		CHECKF(sb_depot_validate(d), "class %u", i);
	}
}

struct blocked {
	struct sb_depot *d;
	volatile pid_t tid;
	struct sb_mag *got;
};

static void *take_empty(void *arg)
{
	struct blocked *b = arg;

	__atomic_store_n(&b->tid, (pid_t)syscall(SYS_gettid), __ATOMIC_RELEASE);
	b->got = sb_depot_get_empty(b->d);
	return NULL;
}

/* State letter of a thread of ours, from /proc/self/task/TID/stat. */
static char thread_state(pid_t tid)
{
	char path[64], buf[512], *rp;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", (int)tid);
	f = fopen(path, "r");
	if (f == NULL)
		return '?';
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	rp = strrchr(buf, ')');
	return rp != NULL && rp[1] == ' ' ? rp[2] : '?';
}

TEST(a_depot_lock_that_has_to_be_waited_for_counts_as_contention)
{
	struct sb_depot *d = depot(class_128());
	struct blocked b = { .d = d };
	pthread_t th;
	int i;

	sb_depot_put(d, sb_depot_get_empty(d), "free");	/* uncontended: not counted */
	CHECK(d->contention == 0);
	sb_depot_lock(d);
	CHECK(pthread_create(&th, NULL, take_empty, &b) == 0);
	while (__atomic_load_n(&b.tid, __ATOMIC_ACQUIRE) == 0)
		sleep_ms(1);
	/* Wait until it sleeps on the lock we hold. */
	for (i = 0; i < 5000 && thread_state(b.tid) != 'S'; i++)
		sleep_ms(1);
	CHECK(thread_state(b.tid) == 'S');
	sleep_ms(20);
	sb_depot_unlock(d);
	CHECK(pthread_join(th, NULL) == 0);
	CHECK(b.got != NULL);
	CHECKF(d->contention == 1, "contention %u after one waited-for lock", d->contention);
	sb_depot_put(d, b.got, "free");
	CHECK(sb_depot_validate(d));
}

/* ---- Page blocks ------------------------------------------------------- */

static uint32_t list_count(const struct sb_pcp *pcp, uint32_t n)
{
	return (uint32_t)(pcp->top[n] - pcp->base[n]);
}

TEST(a_thread_keeps_freed_page_blocks_of_each_size_up_to_its_lists_depth)
{
	void *blocks[SB_PCP_FAST_PAGES + 1][8 + 1];
	struct sb_pcp *pcp;
	size_t free_before, kept = 0;
	uint32_t n, i, depth;

	CHECK(sb_pcp_depth(1) == 8 && sb_pcp_depth(4) == 8 && sb_pcp_depth(5) == 4 &&
	      sb_pcp_depth(16) == 4 && sb_pcp_depth(17) == 2 && sb_pcp_depth(64) == 2);
	for (n = 1; n <= SB_PCP_FAST_PAGES; n++)
		for (i = 0; i <= sb_pcp_depth(n); i++) {
			blocks[n][i] = sb_buddy_alloc(n, 1);
			CHECK(blocks[n][i] != NULL);
		}
	free_before = free_pages_everywhere();
	pcp = sb_tc_pcp();
	CHECK(pcp != NULL);
	CHECK(sb_tc->state == SB_TC_LIVE && pcp == &sb_tc->pcp);
	for (n = 1; n <= SB_PCP_FAST_PAGES; n++) {
		depth = sb_pcp_depth(n);
		for (i = 0; i < depth; i++)
			CHECKF(sb_pcp_push(pcp, n, blocks[n][i]),
			       "%u-page block %u was not kept", n, i + 1);
		CHECKF(!sb_pcp_push(pcp, n, blocks[n][depth]), "%u-page block %u was kept", n,
		       depth + 1);
		CHECK(list_count(pcp, n) == depth);
		kept += depth * (size_t)n;
		for (i = 0; i < depth; i++)
			CHECK(sb_page_state(page_of(blocks[n][i])) == SB_PAGE_BLOCK);
	}
	CHECK(free_pages_everywhere() == free_before);	/* none went to the buddy allocator */
	CHECKF(cached_page_bytes() == kept * PAGE, "%zu bytes of pages cached, expected %zu",
	       cached_page_bytes(), kept * PAGE);
	CHECK(sb_pcp_pages(pcp) == kept);
	CHECKF(kept == 584, "the fast lists hold %zu pages at most, not 584", kept);
	CHECK(sb_tc_validate());
	check_zones();
}

TEST(a_full_page_list_is_drained_by_half_its_depth_in_one_batch)
{
	struct sb_pcp *pcp = sb_tc_pcp();
	void *b[9];
	size_t free_before;
	unsigned i;

	CHECK(pcp != NULL);
	for (i = 0; i < 9; i++)
		CHECK((b[i] = sb_buddy_alloc(2, 1)) != NULL);
	free_before = free_pages_everywhere();
	for (i = 0; i < 8; i++)
		CHECK(sb_pcp_push(pcp, 2, b[i]));
	CHECK(sb_pcp_free(pcp, 2, b[8], "free"));
	CHECKF(list_count(pcp, 2) == 5, "%u blocks left", list_count(pcp, 2));
	CHECK(free_pages_everywhere() == free_before + 4 * 2);
	/* the oldest went: b[0..3]; the list holds b[4..8] */
	for (i = 0; i < 4; i++)
		CHECK(sb_page_state(page_of(b[i])) != SB_PAGE_BLOCK);
	CHECK(sb_pcp_holds(pcp, b[4]) && sb_pcp_holds(pcp, b[8]));
	CHECK(sb_tc_validate());
	check_zones();
}

TEST(an_empty_page_list_is_refilled_with_half_its_depth_in_one_batch)
{
	struct sb_pcp *pcp = sb_tc_pcp();
	void *p;

	CHECK(pcp != NULL && list_count(pcp, 3) == 0);
	p = sb_pcp_alloc(pcp, 3);
	CHECK(p != NULL && sb_page_state(page_of(p)) == SB_PAGE_BLOCK &&
	      sb_page_block_pages(page_of(p)) == 3);
	CHECKF(list_count(pcp, 3) == 3, "%u blocks kept", list_count(pcp, 3));
	CHECK(!sb_pcp_holds(pcp, p));
	CHECK(sb_tc_validate());
	sb_buddy_free(p, "free");
	check_zones();
}

TEST(big_page_blocks_are_kept_and_serve_requests_up_to_a_quarter_smaller)
{
	struct sb_pcp *pcp = sb_tc_pcp();
	void *p = sb_buddy_alloc(100, 1), *q;

	CHECK(pcp != NULL && p != NULL);
	CHECK(sb_pcp_free(pcp, 100, p, "free"));
	CHECK(sb_pcp_holds(pcp, p) && sb_pcp_pages(pcp) == 100);
	q = sb_pcp_alloc(pcp, 70);	/* 30 pages short: more than a quarter */
	CHECK(q != NULL && q != p);
	sb_buddy_free(q, "free");
	CHECK(sb_pcp_alloc(pcp, 81) == p);
	CHECK(!sb_pcp_holds(pcp, p) && sb_pcp_pages(pcp) == 0);
	CHECK(sb_tc_validate());
	sb_buddy_free(p, "free");
	check_zones();
}

TEST(the_page_lists_above_16_pages_hold_at_most_4_MiB)
{
	struct sb_pcp *pcp = sb_tc_pcp();
	void *b[64];
	unsigned i;

	CHECK(pcp != NULL);
	CHECK(SB_PCP_SLOW_MAX_PAGES << SB_PAGE_SHIFT == 4u << 20);
	for (i = 0; i < 64; i++)
		CHECK((b[i] = sb_buddy_alloc(17 + i % 48, 1)) != NULL);
	for (i = 0; i < 64; i++)
		sb_pcp_free(pcp, 17 + i % 48, b[i], "free");
	CHECKF(sb_pcp_pages(pcp) <= SB_PCP_SLOW_MAX_PAGES, "%zu pages kept", sb_pcp_pages(pcp));
	CHECK(sb_pcp_pages(pcp) > SB_PCP_SLOW_MAX_PAGES - 64);
	CHECK(sb_tc_validate());
	sb_tc_flush("free");
	CHECK(sb_pcp_pages(pcp) == 0);
	check_zones();
}

/*
 * The truth behind the free key for page blocks: a block in the calling
 * thread's page lists, or another thread's, is cached (a second free of it
 * is a double free, malloc.c reports it); one handed out again is not.
 */
static void *hold_a_cached_block(void *arg)
{
	struct sb_pcp *pcp = sb_tc_pcp();

	CHECK(pcp != NULL && sb_pcp_push(pcp, 2, arg));
	return NULL;
}

TEST(a_cached_page_block_is_found_in_any_threads_page_lists)
{
	struct sb_pcp *pcp = sb_tc_pcp();
	void *p = sb_buddy_alloc(2, 1), *q = sb_buddy_alloc(2, 1), *got;
	pthread_t t;

	CHECK(pcp != NULL && p != NULL && q != NULL);
	CHECK(!sb_tc_block_is_cached(p));
	CHECK(sb_pcp_push(pcp, 2, p));
	CHECK(sb_tc_block_is_cached(p));
	CHECK(sb_pcp_pop(pcp, 2, &got) && got == p);
	CHECK(!sb_tc_block_is_cached(p));
	/* A thread that exits drains its lists: q is then in the buddy
	 * allocator, not cached; while it lives, another thread sees it. */
	CHECK(pthread_create(&t, NULL, hold_a_cached_block, q) == 0);
	CHECK(pthread_join(t, NULL) == 0);
	CHECK(!sb_tc_block_is_cached(q));
	sb_buddy_free(p, "free");
	check_zones();
}

TEST(flush_returns_the_cached_page_blocks_to_the_buddy_allocator)
{
	enum { SB_PCP_DEPTH = 8 };	/* the depth of the 4-page list */
	void *blocks[SB_PCP_DEPTH];
	struct sb_pcp *pcp = sb_tc_pcp();
	size_t free_before;
	uint32_t i;

	CHECK(pcp != NULL);
	for (i = 0; i < SB_PCP_DEPTH; i++) {
		blocks[i] = sb_buddy_alloc(4, 1);
		CHECK(blocks[i] != NULL);
	}
	free_before = free_pages_everywhere();
	for (i = 0; i < SB_PCP_DEPTH; i++)
		CHECK(sb_pcp_push(pcp, 4, blocks[i]));
	CHECK(free_pages_everywhere() == free_before);
	CHECK(sb_tc_validate());
	sb_tc_flush("free");
	CHECKF(free_pages_everywhere() == free_before + 4 * SB_PCP_DEPTH,
	       "%zd pages came back, expected %d", (ssize_t)(free_pages_everywhere() - free_before),
	       4 * SB_PCP_DEPTH);
	CHECK(list_count(&sb_tc->pcp, 4) == 0);
	CHECK(cached_page_bytes() == 0);
	for (i = 0; i < SB_PCP_DEPTH; i++)
		CHECK(sb_page_state(page_of(blocks[i])) != SB_PAGE_BLOCK);
	CHECK(sb_tc_validate());
	check_zones();
}

TEST(flush_hands_the_threads_magazines_to_the_depot)
{
	unsigned cls = class_128();
	struct sb_slab_cache *c = slab(cls);
	struct sb_depot *d = depot(cls);
	uint32_t cap = d->mag_cap;
	void **v = alloc_n(cls, 2 * (size_t)cap);

	free_range(cls, v, 0, 2 * (size_t)cap);
	CHECK(d->nfull == 0);
	sb_tc_flush("free");
	CHECK(d->nfull == 2);
	CHECK(!sb_mag_is_real(bin(cls)->loaded) && !sb_mag_is_real(bin(cls)->prev));
	CHECK(cached_obj_bytes() == 2 * (size_t)cap * c->size);
	check_layers(cls);
	free(v);
}

/* ---- Fork -------------------------------------------------------------- */

TEST(fork_prepare_holds_every_depot_lock_until_the_parent_handler_releases_them)
{
	struct sb_cache *c;
	size_t n = 0;

	sb_fork_prepare();
	for (c = sb_cache_first(); c != NULL; c = sb_cache_next(c), n++)
		CHECKF(pthread_mutex_trylock(&sb_cache_depot(c)->lock) == EBUSY,
		       "%s: depot lock free during fork", sb_cache_slab(c)->name);
	CHECK(n >= SB_NR_CLASSES);
	sb_fork_parent();
	for (c = sb_cache_first(); c != NULL; c = sb_cache_next(c)) {
		CHECKF(pthread_mutex_trylock(&sb_cache_depot(c)->lock) == 0,
		       "%s: depot lock still held after fork", sb_cache_slab(c)->name);
		pthread_mutex_unlock(&sb_cache_depot(c)->lock);
	}
}

struct holder {
	unsigned cls;
	int ready[2], go[2];	/* pipes: "magazines loaded", "you may exit" */
};

static void *hold_two_full_magazines(void *arg)
{
	struct holder *h = arg;
	uint32_t cap = depot(h->cls)->mag_cap;
	void **v = alloc_n(h->cls, 2 * (size_t)cap);
	char b = 0;

	free_range(h->cls, v, 0, 2 * (size_t)cap);
	free(v);
	CHECK(write(h->ready[1], &b, 1) == 1);
	CHECK(read(h->go[0], &b, 1) == 1);
	return NULL;
}

TEST(a_child_forked_from_a_thread_keeps_every_threads_cached_objects_and_usable_depots)
{
	unsigned cls = class_128();
	struct sb_slab_cache *c = slab(cls);
	struct sb_depot *d = depot(cls);
	size_t cap = d->mag_cap, mine, theirs;
	struct holder h = { .cls = cls };
	pthread_t th;
	int status;
	pid_t pid;
	char b = 0;

	CHECK(pipe(h.ready) == 0 && pipe(h.go) == 0);
	CHECK(pthread_create(&th, NULL, hold_two_full_magazines, &h) == 0);
	CHECK(read(h.ready[0], &b, 1) == 1);
	CHECK(tc_alloc(cls) != NULL);	/* this thread: cap - 1 cached */
	mine = (cap - 1) * c->size;
	theirs = 2 * cap * c->size;
	CHECK(cached_obj_bytes() == mine + theirs);

	/* What fork() does with the atfork handlers init.c registers; _Fork()
	 * itself runs none, so each runs once. */
	fflush(stdout);
	sb_fork_prepare();
	pid = _Fork();
	if (pid == 0) {
		struct sb_cache *k;
		size_t i;

		alarm(10);
		sb_fork_child();
		/* The other thread does not exist here, but what its cache held is
		 * still free memory, which the free key's check must find. */
		CHECKF(cached_obj_bytes() == mine + theirs,
		       "child: %zu bytes cached, the two threads had %zu", cached_obj_bytes(),
		       mine + theirs);
		/* Every lock is usable: whole magazines move. */
		for (i = 0; i < 4 * cap; i++)
			CHECK(tc_alloc(cls) != NULL);
		for (k = sb_cache_first(); k != NULL; k = sb_cache_next(k)) {
			CHECKF(pthread_mutex_trylock(&sb_cache_depot(k)->lock) == 0,
			       "child: %s: depot lock inherited locked", sb_cache_slab(k)->name);
			pthread_mutex_unlock(&sb_cache_depot(k)->lock);
			CHECKF(pthread_mutex_trylock(&sb_cache_slab(k)->lock) == 0,
			       "child: %s: slab lock inherited locked", sb_cache_slab(k)->name);
			pthread_mutex_unlock(&sb_cache_slab(k)->lock);
		}
		check_layers(cls);
		for (k = sb_cache_first(); k != NULL; k = sb_cache_next(k))
			sb_depot_reap(sb_cache_depot(k), true, "malloc_trim");
		CHECK(sb_depot_validate(d));
		_exit(0);
	}
	sb_fork_parent();
	CHECK(pid > 0);
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECKF(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child: status 0x%x%s", status,
	       WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM ? " (deadlocked)" : "");
	CHECK(cached_obj_bytes() == mine + theirs);	/* the parent still has both */
	check_layers(cls);
	CHECK(write(h.go[1], &b, 1) == 1);
	CHECK(pthread_join(th, NULL) == 0);
}

/* ---- The validators catch what they check ------------------------------ */

TEST(the_depot_validator_catches_a_full_count_that_disagrees_with_its_list)
{
	struct sb_depot *d = depot(class_128());
	struct capture cap;
	char out[512];
	bool ok;

	sb_depot_put(d, full_magazine(d), "free");
	sb_depot_put(d, full_magazine(d), "free");
	CHECK(d->nfull == 2 && sb_depot_validate(d));
	d->nfull = 3;		/* broken on purpose: two on the list */
	capture_stderr(&cap);
	ok = sb_depot_validate(d);
	release_stderr(&cap, out, sizeof(out));
	CHECK_INVALID(ok, out, "sbmalloc: depot: invalid: list count wrong");
}

TEST(the_depot_validator_catches_a_magazine_on_the_full_list_that_is_not_full)
{
	struct sb_depot *d = depot(class_128());
	struct capture cap;
	char out[512];
	bool ok;

	sb_depot_put(d, full_magazine(d), "free");
	sb_depot_put(d, full_magazine(d), "free");
	CHECK(sb_depot_validate(d));
	d->full->next->rounds--;	/* broken on purpose: one round short */
	capture_stderr(&cap);
	ok = sb_depot_validate(d);
	release_stderr(&cap, out, sizeof(out));
	CHECK_INVALID(ok, out, "sbmalloc: depot: invalid: magazine on the wrong list");
}

TEST(the_magazine_validator_catches_a_round_that_is_not_an_object_of_its_cache)
{
	unsigned cls = class_128(), other = sb_size_class(256);
	struct sb_slab_cache *c = slab(cls);
	struct sb_mag *m = sb_mag_new(8);
	struct capture cap;
	char out[512];
	void *good, *foreign;
	bool ok;

	CHECK(m != NULL && sb_mag_fill(m, c, 8, "malloc") == 8);
	CHECK(sb_slab_alloc_batch(slab(other), &foreign, 1, "malloc") == 1);
	CHECK(sb_mag_validate(m, c));
	good = m->objs[3];

	/* An object of another cache. */
	m->objs[3] = foreign;
	capture_stderr(&cap);
	ok = sb_mag_validate(m, c);
	release_stderr(&cap, out, sizeof(out));
	CHECK_INVALID(ok, out, "sbmalloc: magazine: invalid: round is not an object of its cache");

	/* An address inside one of its own objects. */
	m->objs[3] = (char *)good + 16;
	capture_stderr(&cap);
	ok = sb_mag_validate(m, c);
	release_stderr(&cap, out, sizeof(out));
	CHECK_INVALID(ok, out, "sbmalloc: magazine: invalid: round is not an object of its cache");

	m->objs[3] = good;
	CHECK(sb_mag_validate(m, c));
}

TEST(the_thread_cache_validator_catches_a_bin_open_past_its_magazine)
{
	unsigned cls = class_128();
	struct sb_bin *b;
	struct capture cap;
	char out[512];
	bool ok;

	CHECK(tc_alloc(cls) != NULL);
	CHECK(sb_tc_validate());
	b = &sb_tc->bins[cls];
	b->top = b->limit + 1;			/* broken on purpose */
	capture_stderr(&cap);
	ok = sb_tc_validate();
	release_stderr(&cap, out, sizeof(out));
	b->top = b->limit;
	CHECK_INVALID(ok, out, "sbmalloc: tcache: invalid: bin open on another magazine");
}

TEST(the_thread_cache_validator_catches_magazines_in_a_bin_without_a_cache)
{
	unsigned cls = class_128();
	struct sb_mag *spare;
	struct capture cap;
	char out[512];
	bool ok;

	CHECK(tc_alloc(cls) != NULL);		/* a live cache */
	CHECK(sb_tc_validate());
	/* The last dedicated bin has no cache in this program. */
	spare = sb_mag_new(8);
	CHECK(spare != NULL);
	/* Broken on purpose: open on a magazine of its own. */
	bin(SB_NR_BINS - 1)->loaded = spare;
	bin(SB_NR_BINS - 1)->base = bin(SB_NR_BINS - 1)->top = spare->objs;
	bin(SB_NR_BINS - 1)->limit = spare->objs + spare->cap;
	capture_stderr(&cap);
	ok = sb_tc_validate();
	release_stderr(&cap, out, sizeof(out));
	CHECK_INVALID(ok, out, "sbmalloc: tcache: invalid: magazines for a bin without a cache");
}

TEST(the_thread_cache_validator_catches_a_page_block_on_the_list_of_another_size)
{
	struct sb_pcp *pcp = sb_tc_pcp();
	void *p = sb_buddy_alloc(2, 1);
	struct capture cap;
	char out[512];
	bool ok;

	CHECK(pcp != NULL && p != NULL);
	CHECK(sb_pcp_push(pcp, 2, p));
	CHECK(sb_tc_validate());
	CHECK(sb_pcp_pop(pcp, 2, &p));
	CHECK(sb_pcp_push(pcp, 3, p));	/* broken on purpose: a 2-page block */
	capture_stderr(&cap);
	ok = sb_tc_validate();
	release_stderr(&cap, out, sizeof(out));
	CHECK_INVALID(ok, out, "sbmalloc: pcp: invalid: not an allocated block of its list's size");
}

TEST(the_slab_validator_catches_an_object_count_that_disagrees_with_the_slabs)
{
	unsigned cls = class_128();
	struct sb_slab_cache *c = slab(cls);
	struct capture cap;
	char out[512];
	bool ok;

	free(alloc_n(cls, 10));		/* objects out in the thread's magazine */
	CHECK(sb_slab_validate(c));
	c->active_objs++;		/* broken on purpose */
	capture_stderr(&cap);
	ok = sb_slab_validate(c);
	release_stderr(&cap, out, sizeof(out));
	CHECK_INVALID(ok, out, "sbmalloc: slab: invalid: active_objs wrong");
}

TEST(the_buddy_validator_catches_a_free_page_count_that_disagrees_with_the_free_lists)
{
	struct sb_zone *z;
	struct capture cap;
	char out[512];
	bool ok;

	CHECK(sb_buddy_alloc(3, 1) != NULL);
	CHECK(sb_region_count() == 1);
	check_zones();
	z = sb_zone_of_region(sb_region_at(0));
	z->free_pages++;		/* broken on purpose */
	capture_stderr(&cap);
	ok = sb_buddy_validate(0);
	release_stderr(&cap, out, sizeof(out));
	CHECK_INVALID(ok, out, "sbmalloc: buddy: invalid: free_pages wrong");
}

int main(int argc, char **argv)
{
	static const struct tap_case cases[] = {
		TAP_APPLY(TAP_CASE,
			the_first_allocation_of_a_thread_sets_up_its_cache_and_fills_a_whole_magazine,
			a_thread_allocating_with_both_magazines_empty_and_an_empty_depot_refills_from_the_slab,
			frees_fill_the_loaded_magazine_then_swap_in_the_empty_previous_one_without_the_depot,
			when_both_magazines_are_full_a_free_sends_the_previous_one_to_the_depot_and_loads_an_empty_one,
			a_sparse_caches_depot_sends_full_magazines_back_to_their_slabs,
			when_both_magazines_are_empty_malloc_takes_a_full_magazine_from_the_depot_not_the_slab,
			an_object_freed_by_another_thread_goes_into_that_threads_magazine,
			objects_freed_by_one_thread_are_handed_out_to_another_through_the_depot,
			another_threads_frees_collect_in_its_remote_magazine_not_its_loaded_one,
			a_full_remote_magazine_goes_to_the_inbox_of_the_owner_of_the_object_that_filled_it,
			a_thread_whose_magazines_run_dry_takes_its_inbox_before_the_depot,
			a_full_remote_magazine_whose_owners_inbox_is_taken_goes_to_the_depot,
			an_object_waiting_in_an_inbox_counts_as_free_for_the_double_free_check,
			an_exited_threads_inboxes_are_closed_and_a_full_magazine_for_it_goes_to_the_depot,
			a_thread_that_reuses_an_exited_threads_cache_has_its_inboxes_open,
			two_threads_freeing_each_others_objects_trade_magazines_without_the_depot)
		TAP_APPLY(TAP_CASE,
			thread_exit_hands_the_threads_full_magazines_to_the_depot,
			thread_exit_returns_the_objects_of_a_partly_filled_magazine_to_the_slab_layer,
			reaping_all_returns_every_depot_magazine_and_its_objects_to_the_slab_layer,
			magazines_idle_in_the_depot_for_a_whole_interval_are_reaped_at_a_later_exchange,
			magazines_in_steady_use_are_not_reaped_only_those_idle_beyond_the_working_set)
		TAP_APPLY(TAP_CASE,
			magazines_hold_about_32_KiB_of_objects_clamped_to_8_to_64_rounds,
			more_than_16_contended_depot_locks_in_an_interval_double_the_capacity_of_new_magazines,
			sixteen_contended_depot_locks_in_an_interval_leave_the_capacity_alone,
			contention_counted_in_one_interval_is_forgotten_at_the_next_update,
			magazine_capacity_doubles_up_to_256_rounds_and_no_further,
			no_size_class_grows_its_magazines_beyond_256_rounds,
			a_depot_lock_that_has_to_be_waited_for_counts_as_contention,
			a_thread_keeps_freed_page_blocks_of_each_size_up_to_its_lists_depth,
			a_full_page_list_is_drained_by_half_its_depth_in_one_batch)
		TAP_APPLY(TAP_CASE,
			an_empty_page_list_is_refilled_with_half_its_depth_in_one_batch,
			big_page_blocks_are_kept_and_serve_requests_up_to_a_quarter_smaller,
			the_page_lists_above_16_pages_hold_at_most_4_MiB,
			a_cached_page_block_is_found_in_any_threads_page_lists,
			flush_returns_the_cached_page_blocks_to_the_buddy_allocator,
			flush_hands_the_threads_magazines_to_the_depot,
			fork_prepare_holds_every_depot_lock_until_the_parent_handler_releases_them,
			a_child_forked_from_a_thread_keeps_every_threads_cached_objects_and_usable_depots)
		TAP_APPLY(TAP_CASE,
			the_depot_validator_catches_a_full_count_that_disagrees_with_its_list,
			the_depot_validator_catches_a_magazine_on_the_full_list_that_is_not_full,
			the_magazine_validator_catches_a_round_that_is_not_an_object_of_its_cache,
			the_thread_cache_validator_catches_magazines_in_a_bin_without_a_cache,
			the_thread_cache_validator_catches_a_bin_open_past_its_magazine,
			the_thread_cache_validator_catches_a_page_block_on_the_list_of_another_size,
			the_slab_validator_catches_an_object_count_that_disagrees_with_the_slabs,
			the_buddy_validator_catches_a_free_page_count_that_disagrees_with_the_free_lists)
	};

	sb_global_init();
	sb_config_set_hugepages(SB_HUGEPAGES_OFF);
	sb_tc_init();		/* the key whose destructor flushes an exiting thread */
	return tap_main_many(argc, argv, cases, sizeof(cases) / sizeof(cases[0]));
}
