/*
 * unit_magazine.c - thread caches: magazines (magazine.c) and the depot
 * (depot.c).
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
 * cache of freed page blocks; the fork handlers.
 *
 * The fast paths are inline in malloc.c, which unit tests do not link;
 * tc_alloc() and tc_free() below do what they do (pop from / push onto the
 * loaded magazine, else call the slow path), so the magazines move exactly
 * as under malloc and free.  Every test runs in a fresh child in which the
 * main thread has no cache yet and no depot holds a magazine; main() sets
 * up regions with 4 KiB backing, the slab caches and the thread-exit key.
 */
#include "internal.h"
#include "../tap.h"

#include <pthread.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>

#define PAGE SB_PAGE_SIZE
#define MAX_ROUNDS 256		/* depot.c's SB_MAG_MAX_ROUNDS */
#define CONTENTION_LIMIT 16	/* depot.c: more failed trylocks than this grow magazines */

/* ---- Helpers ----------------------------------------------------------- */

/* What malloc.c's inline fast paths do for a small object of class cls. */
static void *tc_alloc(unsigned cls)
{
	struct sb_mag *m = sb_tc->bins[cls].loaded;

	if (m->rounds != 0)
		return m->objs[--m->rounds];
	return sb_mag_alloc_slow(cls);
}

static void tc_free(unsigned cls, void *p)
{
	struct sb_mag *m = sb_tc->bins[cls].loaded;

	if (m->rounds < m->cap) {
		m->objs[m->rounds++] = p;
		return;
	}
	sb_mag_free_slow(cls, p, "free");
}

static struct sb_bin *bin(unsigned cls)
{
	return &sb_tc->bins[cls];
}

static struct sb_cache *cache(unsigned cls)
{
	return &sb_size_caches[cls];
}

/* The class used by most tests: 128-byte objects, 64-round magazines. */
static unsigned class_128(void)
{
	unsigned cls = sb_size_class(128);

	CHECK(cache(cls)->size == 128);
	return cls;
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

/* A full magazine of c's current capacity, its objects straight from the
 * slab layer. */
static struct sb_mag *full_magazine(struct sb_cache *c)
{
	struct sb_mag *m = sb_mag_new(c->depot.mag_cap);

	CHECK(m != NULL);
	m->rounds = sb_slab_alloc_batch(c, m->objs, m->cap);
	CHECK(m->rounds == m->cap);
	return m;
}

/* One depot exchange that leaves the full list alone: take an empty
 * magazine (or a new one) and give it back.  Returns its capacity. */
static uint32_t exchange_tick(struct sb_cache *c)
{
	struct sb_mag *m = sb_depot_exchange(c, NULL, true);
	uint32_t cap;

	CHECK(m != NULL && m->rounds == 0);
	cap = m->cap;
	sb_depot_put(c, m);
	return cap;
}

/* Make the next exchange run a working-set update now. */
static uint32_t force_update(struct sb_cache *c)
{
	c->depot.last_update_ns = 0;
	return exchange_tick(c);
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

static size_t cached_obj_bytes(void)
{
	size_t objs, pages;

	sb_mag_cached(&objs, &pages);
	return objs;
}

static size_t cached_page_bytes(void)
{
	size_t objs, pages;

	sb_mag_cached(&objs, &pages);
	return pages;
}

static size_t free_pages_everywhere(void)
{
	size_t i, n = sb_region_count(), sum = 0;

	for (i = 0; i < n; i++)
		sum += sb_regions[i]->free_pages;
	return sum;
}

static struct sb_page *page_of(const void *p)
{
	struct sb_region *r = sb_registry_lookup(p);

	CHECKF(r != NULL && r->kind == SB_MAP_REGION, "%p is in no region", p);
	return sb_region_page(r, p);
}

static void run_thread(void *(*fn)(void *), void *arg)
{
	pthread_t th;

	CHECK(pthread_create(&th, NULL, fn, arg) == 0);
	CHECK(pthread_join(th, NULL) == 0);
}

/* ---- Setting up, refilling and swapping ------------------------------- */

TEST(the_first_allocation_of_a_thread_sets_up_its_cache_and_fills_a_whole_magazine)
{
	unsigned cls = class_128();
	struct sb_cache *c = cache(cls);
	size_t before = c->active_objs;
	struct sb_mag *m;
	uint32_t i;
	void *p;

	CHECK(sb_tc->state == SB_TC_EMPTY);
	CHECK(bin(cls)->loaded->cap == 0);
	p = tc_alloc(cls);
	CHECK(p != NULL);
	CHECK(sb_tc->state == SB_TC_LIVE);
	CHECK(page_of(p)->state == SB_PAGE_SLAB && page_of(p)->slab->cache == c);
	m = bin(cls)->loaded;
	CHECKF(m->cap == c->depot.mag_cap, "magazine of %u rounds, depot says %u", m->cap,
	       c->depot.mag_cap);
	CHECKF(c->active_objs - before == m->rounds + 1,
	       "%zu objects left the slab layer, the magazine holds %u + 1 handed out",
	       c->active_objs - before, m->rounds);
	CHECK(m->rounds + 1 == m->cap);
	/* The rest of the magazine needs no further trip to the slab layer. */
	for (i = 1; i < m->cap; i++)
		CHECK(tc_alloc(cls) != NULL);
	CHECK(m->rounds == 0);
	CHECK(c->active_objs - before == m->cap);
}

TEST(a_thread_allocating_with_both_magazines_empty_and_an_empty_depot_refills_from_the_slab)
{
	unsigned cls = class_128();
	struct sb_cache *c = cache(cls);
	uint32_t cap = c->depot.mag_cap;
	void **v = alloc_n(cls, cap);
	size_t before = c->active_objs;

	CHECK(bin(cls)->loaded->rounds == 0 && bin(cls)->prev->rounds == 0);
	CHECK(c->depot.nfull == 0);
	CHECK(tc_alloc(cls) != NULL);
	CHECKF(c->active_objs - before == cap, "%zu objects left the slab layer, not %u",
	       c->active_objs - before, cap);
	CHECK(bin(cls)->loaded->rounds == cap - 1);
	free(v);
}

TEST(frees_fill_the_loaded_magazine_then_swap_in_the_empty_previous_one_without_the_depot)
{
	unsigned cls = class_128();
	struct sb_cache *c = cache(cls);
	uint32_t cap = c->depot.mag_cap;
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

	exchanges = c->depot.exchanges;
	nfull = c->depot.nfull;
	nempty = c->depot.nempty;
	tc_free(cls, x);	/* fills the loaded magazine */
	CHECK(bin(cls)->loaded == a && a->rounds == cap);
	tc_free(cls, y);	/* loaded full: the empty previous one comes in */
	CHECKF(bin(cls)->loaded == b && bin(cls)->prev == a,
	       "after the free: loaded %p previous %p, expected %p %p",
	       (void *)bin(cls)->loaded, (void *)bin(cls)->prev, (void *)b, (void *)a);
	CHECK(b->rounds == 1 && b->objs[0] == y);
	CHECK(a->rounds == cap);
	CHECKF(c->depot.exchanges == exchanges, "%llu depot exchanges for a swap",
	       (unsigned long long)(c->depot.exchanges - exchanges));
	CHECK(c->depot.nfull == nfull && c->depot.nempty == nempty);
	free(v);
}

TEST(when_both_magazines_are_full_a_free_sends_the_previous_one_to_the_depot_and_loads_an_empty_one)
{
	unsigned cls = class_128();
	struct sb_cache *c = cache(cls);
	uint32_t cap = c->depot.mag_cap;
	void **v = alloc_n(cls, 3 * (size_t)cap);
	struct sb_mag *loaded, *prev, *m;
	size_t nfull;

	free_range(cls, v, 0, 2 * cap);
	loaded = bin(cls)->loaded;
	prev = bin(cls)->prev;
	CHECK(loaded->rounds == cap && prev->rounds == cap && loaded != prev);
	nfull = c->depot.nfull;
	tc_free(cls, v[2 * cap]);
	CHECKF(c->depot.nfull == nfull + 1, "depot holds %zu full magazines, had %zu",
	       c->depot.nfull, nfull);
	CHECK(c->depot.full == prev && prev->rounds == cap);
	m = bin(cls)->loaded;
	CHECK(m != loaded && m != prev);
	CHECK(m->rounds == 1 && m->objs[0] == v[2 * cap]);
	CHECK(bin(cls)->prev == loaded && loaded->rounds == cap);
	free(v);
}

TEST(when_both_magazines_are_empty_malloc_takes_a_full_magazine_from_the_depot_not_the_slab)
{
	unsigned cls = class_128();
	struct sb_cache *c = cache(cls);
	uint32_t cap = c->depot.mag_cap;
	void **v = alloc_n(cls, 3 * cap);
	struct sb_mag *full;
	size_t active;
	void *p;

	/* 3 * cap frees: the first magazine ends up in the depot, the thread
	 * keeps two full ones; 2 * cap allocations empty those two. */
	free_range(cls, v, 0, 3 * cap);
	CHECK(c->depot.nfull == 1);
	full = c->depot.full;
	CHECK(alloc_n(cls, 2 * cap) != NULL);
	CHECK(bin(cls)->loaded->rounds == 0 && bin(cls)->prev->rounds == 0);
	CHECK(bin(cls)->loaded->cap == cap && bin(cls)->prev->cap == cap);

	active = c->active_objs;
	p = tc_alloc(cls);
	CHECKF(c->active_objs == active, "%zd objects came from the slab layer",
	       (ssize_t)(c->active_objs - active));
	CHECK(c->depot.nfull == 0);
	CHECK(c->depot.nempty == 1);	/* the empty magazine given in exchange */
	CHECK(bin(cls)->loaded == full && full->rounds == cap - 1);
	CHECK(p == v[cap - 1]);		/* the last object freed into it */
	free(v);
}

/* ---- Other threads ------------------------------------------------------ */

struct xfree {
	unsigned cls;
	void **v;
	size_t n;
	size_t main_rounds;	/* the main thread's loaded magazine, as B sees it */
	size_t depot_nfull;	/* after B's frees, before B exits */
};

static void *free_one_and_look(void *arg)
{
	struct xfree *x = arg;
	struct sb_mag *m;

	tc_free(x->cls, x->v[0]);
	m = bin(x->cls)->loaded;
	CHECKF(m->rounds == 1 && m->objs[0] == x->v[0],
	       "freeing thread's magazine: %u rounds", m->rounds);
	return NULL;
}

TEST(an_object_freed_by_another_thread_goes_into_that_threads_magazine)
{
	unsigned cls = class_128();
	struct sb_cache *c = cache(cls);
	struct xfree x = { .cls = cls, .n = 1 };
	size_t active, rounds;

	x.v = alloc_n(cls, 1);
	active = c->active_objs;
	rounds = bin(cls)->loaded->rounds;
	run_thread(free_one_and_look, &x);	/* checks its own magazine */
	CHECK(bin(cls)->loaded->rounds == rounds);	/* not the allocating thread's */
	/* The freeing thread has exited, its partly filled magazine went back. */
	CHECK(c->active_objs == active - 1);
	free(x.v);
}

static void *free_all(void *arg)
{
	struct xfree *x = arg;

	free_range(x->cls, x->v, 0, x->n);
	x->depot_nfull = cache(x->cls)->depot.nfull;
	return NULL;
}

TEST(objects_freed_by_one_thread_are_handed_out_to_another_through_the_depot)
{
	unsigned cls = class_128();
	struct sb_cache *c = cache(cls);
	uint32_t cap = c->depot.mag_cap;
	struct xfree x = { .cls = cls, .n = 4 * (size_t)cap };
	size_t active, i;
	void *p;

	x.v = alloc_n(cls, x.n);	/* thread A (main): its magazines are now empty */
	active = c->active_objs;
	run_thread(free_all, &x);	/* thread B frees them all */
	CHECKF(x.depot_nfull == 2, "B's frees put %zu magazines in the depot, expected 2",
	       x.depot_nfull);
	CHECK(c->depot.nfull >= 2);
	for (i = 0; i < x.n; i++) {
		p = tc_alloc(cls);
		CHECKF(in_set(x.v, x.n, p), "allocation %zu: %p is not one B freed", i, p);
	}
	CHECKF(c->active_objs == active, "%zd objects came from the slab layer",
	       (ssize_t)(c->active_objs - active));
	CHECK(c->depot.nfull == 0);
	free(x.v);
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
	e->nfull_before_exit = cache(e->cls)->depot.nfull;
	return NULL;
}

TEST(thread_exit_hands_the_threads_full_magazines_to_the_depot)
{
	unsigned cls = class_128();
	struct sb_cache *c = cache(cls);
	uint32_t cap = c->depot.mag_cap;
	struct exiting e = { .cls = cls, .n = 2 * (size_t)cap };

	run_thread(alloc_then_free_all, &e);	/* it held two full magazines */
	CHECK(e.nfull_before_exit == 0);
	CHECKF(c->depot.nfull == 2, "depot: %zu full magazines after the exit", c->depot.nfull);
	CHECK(c->depot.full->rounds == cap && c->depot.full->next->rounds == cap);
	CHECK(c->active_objs == 2 * (size_t)cap);	/* still cached, not in the slabs */
	CHECKF(cached_obj_bytes() == 2 * (size_t)cap * c->size,
	       "sb_mag_cached reports %zu bytes, expected %zu", cached_obj_bytes(),
	       2 * (size_t)cap * c->size);
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
	struct sb_cache *c = cache(cls);
	struct exiting e = { .cls = cls };

	run_thread(alloc_one, &e);	/* a magazine from the slab layer, one taken */
	CHECKF(c->active_objs == 1, "%zu objects out of the slab layer, 1 in use",
	       c->active_objs);
	CHECK(c->depot.nfull == 0);
	CHECK(c->depot.nempty == 1);	/* the magazine itself is kept, empty */
	CHECK(cached_obj_bytes() == 0);
	CHECK(page_of(e.kept)->state == SB_PAGE_SLAB);
}

/* ---- Reaping ----------------------------------------------------------- */

TEST(reaping_all_returns_every_depot_magazine_and_its_objects_to_the_slab_layer)
{
	unsigned cls = class_128();
	struct sb_cache *c = cache(cls);
	uint32_t cap = c->depot.mag_cap;
	size_t active;
	int i;

	for (i = 0; i < 3; i++)
		sb_depot_put(c, full_magazine(c));
	sb_depot_put(c, sb_mag_new(cap));
	CHECK(c->depot.nfull == 3 && c->depot.nempty == 1);
	active = c->active_objs;
	CHECK(active == 3 * (size_t)cap);
	sb_depot_reap(c, true);
	CHECK(c->depot.nfull == 0 && c->depot.full == NULL);
	CHECK(c->depot.nempty == 0 && c->depot.empty == NULL);
	CHECKF(c->active_objs == active - 3 * (size_t)cap, "active_objs %zu, expected %zu",
	       c->active_objs, active - 3 * (size_t)cap);
	CHECK(cached_obj_bytes() == 0);
}

TEST(magazines_idle_in_the_depot_for_a_whole_interval_are_reaped_at_a_later_exchange)
{
	unsigned cls = class_128();
	struct sb_cache *c = cache(cls);
	uint32_t cap = c->depot.mag_cap;
	size_t active;
	int i;

	for (i = 0; i < 4; i++)
		sb_depot_put(c, full_magazine(c));
	sb_depot_reap(c, false);	/* an update now: the interval starts */
	CHECKF(c->depot.nfull == 4, "%zu of 4 magazines left right after they came in",
	       c->depot.nfull);
	exchange_tick(c);		/* inside the interval: no update */
	CHECK(c->depot.nfull == 4);
	active = c->active_objs;
	sleep_ms(PAST_INTERVAL_MS);
	exchange_tick(c);		/* an interval later: reaped */
	CHECKF(c->depot.nfull == 0, "%zu of 4 idle magazines left after an interval",
	       c->depot.nfull);
	CHECKF(c->active_objs == active - 4 * (size_t)cap, "active_objs %zu, expected %zu",
	       c->active_objs, active - 4 * (size_t)cap);
}

TEST(magazines_in_steady_use_are_not_reaped_only_those_idle_beyond_the_working_set)
{
	unsigned cls = class_128();
	struct sb_cache *c = cache(cls);
	uint32_t cap = c->depot.mag_cap;
	struct sb_mag *m[2];
	uint64_t start;
	size_t active;
	int i, round;

	for (i = 0; i < 4; i++)
		sb_depot_put(c, full_magazine(c));
	sb_depot_reap(c, false);
	start = now_ms();
	/* Through the interval, two of the four are taken and given back. */
	for (round = 0; round < 5; round++) {
		for (i = 0; i < 2; i++) {
			m[i] = sb_depot_exchange(c, NULL, false);
			CHECK(m[i] != NULL && m[i]->rounds == cap);
		}
		CHECK(c->depot.nfull == 2);
		for (i = 0; i < 2; i++)
			sb_depot_put(c, m[i]);
		CHECK(c->depot.nfull == 4);
		sleep_ms(50);
	}
	CHECK(now_ms() - start < 1000);	/* still inside the interval */
	active = c->active_objs;
	sleep_ms(PAST_INTERVAL_MS - (long)(now_ms() - start));
	exchange_tick(c);
	CHECKF(c->depot.nfull == 2, "%zu full magazines after the update, expected the 2 in use",
	       c->depot.nfull);
	CHECK(c->active_objs == active - 2 * (size_t)cap);
}

/* ---- Magazine capacity ------------------------------------------------- */

TEST(magazines_hold_about_32_KiB_of_objects_clamped_to_8_to_64_rounds)
{
	uint32_t cap, last = UINT32_MAX, size;
	size_t want;
	unsigned i;

	for (i = 0; i < sb_nr_classes; i++) {
		size = cache(i)->size;
		cap = cache(i)->depot.mag_cap;
		want = (32 << 10) / size;
		want = want < 8 ? 8 : want > 64 ? 64 : want;
		CHECKF(cap == want, "class %u (%u bytes): %u rounds, expected %zu", i, size, cap,
		       want);
		CHECKF(cap <= last, "class %u (%u bytes): %u rounds, more than the class below",
		       i, size, cap);
		last = cap;
	}
	CHECK(cache(sb_size_class(16))->depot.mag_cap > cache(sb_size_class(16384))->depot.mag_cap);
}

TEST(more_than_16_contended_depot_locks_in_an_interval_double_the_capacity_of_new_magazines)
{
	struct sb_cache *c = cache(sb_size_class(16));
	uint32_t cap = c->depot.mag_cap;

	CHECK(cap == 64);
	c->depot.contention = CONTENTION_LIMIT + 1;
	CHECK(force_update(c) == 2 * cap);	/* the magazine made after the update */
	CHECK(c->depot.mag_cap == 2 * cap);
	CHECK(c->depot.contention == 0);
	/* A thread's first magazine now has the new capacity. */
	CHECK(tc_alloc(sb_size_class(16)) != NULL);
	CHECK(bin(sb_size_class(16))->loaded->cap == 2 * cap);
}

TEST(sixteen_contended_depot_locks_in_an_interval_leave_the_capacity_alone)
{
	struct sb_cache *c = cache(sb_size_class(16));
	uint32_t cap = c->depot.mag_cap;

	c->depot.contention = CONTENTION_LIMIT;
	force_update(c);
	CHECK(c->depot.mag_cap == cap);
	CHECK(c->depot.contention == 0);
}

TEST(contention_counted_in_one_interval_is_forgotten_at_the_next_update)
{
	struct sb_cache *c = cache(sb_size_class(16));
	uint32_t cap = c->depot.mag_cap;

	c->depot.contention = CONTENTION_LIMIT;
	force_update(c);
	c->depot.contention += 1;	/* 17 over two intervals, 1 in this one */
	force_update(c);
	CHECK(c->depot.mag_cap == cap);
}

TEST(magazine_capacity_doubles_up_to_256_rounds_and_no_further)
{
	struct sb_cache *c = cache(sb_size_class(16));
	uint32_t want = c->depot.mag_cap;
	int i;

	for (i = 0; i < 6; i++) {
		c->depot.contention = CONTENTION_LIMIT + 1;
		force_update(c);
		want = want * 2 > MAX_ROUNDS ? MAX_ROUNDS : want * 2;
		CHECKF(c->depot.mag_cap == want, "update %d: %u rounds, expected %u", i + 1,
		       c->depot.mag_cap, want);
	}
	CHECK(c->depot.mag_cap == MAX_ROUNDS);
}

TEST(no_size_class_grows_its_magazines_beyond_256_rounds)
{
	unsigned i;
	int k;

	for (i = 0; i < sb_nr_classes; i++) {
		struct sb_cache *c = cache(i);
		uint32_t start = c->depot.mag_cap;

		for (k = 0; k < 8; k++) {
			c->depot.contention = CONTENTION_LIMIT + 1;
			force_update(c);
			CHECKF(c->depot.mag_cap <= MAX_ROUNDS,
			       "class %u (%u bytes): %u rounds to start, %u after %d doublings",
			       i, c->size, start, c->depot.mag_cap, k + 1);
		}
		CHECK(c->depot.mag_cap > start);
	}
}

struct blocked {
	struct sb_cache *c;
	volatile pid_t tid;
	struct sb_mag *got;
};

static void *take_empty(void *arg)
{
	struct blocked *b = arg;

	__atomic_store_n(&b->tid, (pid_t)syscall(SYS_gettid), __ATOMIC_RELEASE);
	b->got = sb_depot_get_empty(b->c);
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
	struct sb_cache *c = cache(class_128());
	struct blocked b = { .c = c };
	pthread_t th;
	int i;

	sb_depot_put(c, sb_depot_get_empty(c));	/* uncontended: not counted */
	CHECK(c->depot.contention == 0);
	CHECK(pthread_mutex_lock(&c->depot.lock) == 0);
	CHECK(pthread_create(&th, NULL, take_empty, &b) == 0);
	while (__atomic_load_n(&b.tid, __ATOMIC_ACQUIRE) == 0)
		sleep_ms(1);
	/* Wait until it sleeps on the lock we hold. */
	for (i = 0; i < 5000 && thread_state(b.tid) != 'S'; i++)
		sleep_ms(1);
	CHECK(thread_state(b.tid) == 'S');
	sleep_ms(20);
	CHECK(pthread_mutex_unlock(&c->depot.lock) == 0);
	CHECK(pthread_join(th, NULL) == 0);
	CHECK(b.got != NULL);
	CHECKF(c->depot.contention == 1, "contention %u after one waited-for lock",
	       c->depot.contention);
}

/* ---- Page blocks ------------------------------------------------------- */

TEST(a_thread_keeps_up_to_four_freed_page_blocks_of_each_size_up_to_16_pages)
{
	void *blocks[SB_TC_LARGE_PAGES + 1][SB_TC_LARGE_DEPTH + 1];
	size_t free_before, kept = 0;
	uint32_t n, i;

	CHECK(SB_TC_LARGE_DEPTH == 4 && SB_TC_LARGE_PAGES == 16);
	for (n = 1; n <= SB_TC_LARGE_PAGES; n++)
		for (i = 0; i <= SB_TC_LARGE_DEPTH; i++) {
			blocks[n][i] = sb_buddy_alloc(n, 1);
			CHECK(blocks[n][i] != NULL);
		}
	free_before = free_pages_everywhere();
	for (n = 1; n <= SB_TC_LARGE_PAGES; n++) {
		for (i = 0; i < SB_TC_LARGE_DEPTH; i++)
			CHECKF(sb_tc_large_free(n, blocks[n][i], "free"),
			       "%u-page block %u was not kept", n, i + 1);
		CHECKF(!sb_tc_large_free(n, blocks[n][SB_TC_LARGE_DEPTH], "free"),
		       "a fifth %u-page block was kept", n);
		kept += SB_TC_LARGE_DEPTH * (size_t)n;
		for (i = 0; i < SB_TC_LARGE_DEPTH; i++)
			CHECK(page_of(blocks[n][i])->state == SB_PAGE_LARGE);
	}
	CHECK(sb_tc->state == SB_TC_LIVE);
	CHECK(free_pages_everywhere() == free_before);	/* none went to the buddy allocator */
	CHECKF(cached_page_bytes() == kept * PAGE, "sb_mag_cached: %zu bytes of pages, expected %zu",
	       cached_page_bytes(), kept * PAGE);
}

static void free_cached_block_twice(void *arg)
{
	void *p = sb_buddy_alloc(2, 1);

	if (p == NULL || !sb_tc_large_free(2, p, "free"))
		_exit(3);
	sb_tc_large_free(2, p, "free");
}

TEST(freeing_a_cached_page_block_again_aborts_with_double_free)
{
	char out[512];

	CHECK(tap_expect_abort(free_cached_block_twice, NULL, "free(): double free", out,
			       sizeof(out)));
}

TEST(flush_returns_the_cached_page_blocks_to_the_buddy_allocator)
{
	void *blocks[SB_TC_LARGE_DEPTH];
	size_t free_before;
	uint32_t i;

	for (i = 0; i < SB_TC_LARGE_DEPTH; i++) {
		blocks[i] = sb_buddy_alloc(4, 1);
		CHECK(blocks[i] != NULL);
	}
	free_before = free_pages_everywhere();
	for (i = 0; i < SB_TC_LARGE_DEPTH; i++)
		CHECK(sb_tc_large_free(4, blocks[i], "free"));
	CHECK(free_pages_everywhere() == free_before);
	sb_tc_flush();
	CHECKF(free_pages_everywhere() == free_before + 4 * SB_TC_LARGE_DEPTH,
	       "%zd pages came back, expected %d", (ssize_t)(free_pages_everywhere() - free_before),
	       4 * SB_TC_LARGE_DEPTH);
	CHECK(sb_tc->large[4].count == 0);
	CHECK(cached_page_bytes() == 0);
	for (i = 0; i < SB_TC_LARGE_DEPTH; i++)
		CHECK(page_of(blocks[i])->state != SB_PAGE_LARGE);
}

TEST(flush_hands_the_threads_magazines_to_the_depot)
{
	unsigned cls = class_128();
	struct sb_cache *c = cache(cls);
	uint32_t cap = c->depot.mag_cap;
	void **v = alloc_n(cls, 2 * (size_t)cap);

	free_range(cls, v, 0, 2 * (size_t)cap);
	CHECK(c->depot.nfull == 0);
	sb_tc_flush();
	CHECK(c->depot.nfull == 2);
	CHECK(bin(cls)->loaded->cap == 0 && bin(cls)->prev->cap == 0);
	CHECK(cached_obj_bytes() == 2 * (size_t)cap * c->size);
	free(v);
}

/* ---- Fork -------------------------------------------------------------- */

TEST(fork_prepare_holds_every_depot_lock_until_the_parent_handler_releases_them)
{
	struct sb_cache *c;
	size_t n = 0;

	sb_fork_prepare();
	for (c = sb_cache_list(); c != NULL; c = c->next, n++)
		CHECKF(pthread_mutex_trylock(&c->depot.lock) == EBUSY,
		       "%s: depot lock free during fork", c->name);
	CHECK(n >= SB_NR_CLASSES);
	sb_fork_parent();
	for (c = sb_cache_list(); c != NULL; c = c->next) {
		CHECKF(pthread_mutex_trylock(&c->depot.lock) == 0,
		       "%s: depot lock still held after fork", c->name);
		pthread_mutex_unlock(&c->depot.lock);
	}
}

struct holder {
	unsigned cls;
	int ready[2], go[2];	/* pipes: "magazines loaded", "you may exit" */
};

static void *hold_two_full_magazines(void *arg)
{
	struct holder *h = arg;
	uint32_t cap = cache(h->cls)->depot.mag_cap;
	void **v = alloc_n(h->cls, 2 * (size_t)cap);
	char b = 0;

	free_range(h->cls, v, 0, 2 * (size_t)cap);
	free(v);
	CHECK(write(h->ready[1], &b, 1) == 1);
	CHECK(read(h->go[0], &b, 1) == 1);
	return NULL;
}

TEST(a_child_forked_from_a_thread_keeps_that_threads_cache_only_and_usable_depots)
{
	unsigned cls = class_128();
	struct sb_cache *c = cache(cls);
	size_t cap = c->depot.mag_cap, mine, theirs;
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

	sb_fork_prepare();		/* what malloc.c's atfork handlers do */
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		uint64_t exchanges = c->depot.exchanges;
		size_t i;

		alarm(10);
		sb_fork_child();
		if (cached_obj_bytes() != mine)
			_exit(3);
		/* Every depot lock is usable: whole magazines move. */
		for (i = 0; i < 4 * cap; i++)
			if (tc_alloc(cls) == NULL)
				_exit(4);
		(void)exchanges;
		if (pthread_mutex_trylock(&c->depot.lock) != 0)
			_exit(5);	/* inherited locked */
		pthread_mutex_unlock(&c->depot.lock);
		for (c = sb_cache_list(); c != NULL; c = c->next)
			sb_depot_reap(c, true);
		_exit(0);
	}
	sb_fork_parent();
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECKF(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child: status 0x%x%s", status,
	       WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM ? " (deadlocked)" :
	       WIFEXITED(status) && WEXITSTATUS(status) == 3 ? " (other threads' caches counted)" : "");
	CHECK(cached_obj_bytes() == mine + theirs);	/* the parent still has both */
	CHECK(write(h.go[1], &b, 1) == 1);
	CHECK(pthread_join(th, NULL) == 0);
}

int main(int argc, char **argv)
{
	static const struct tap_case cases[] = {
		TAP_APPLY(TAP_CASE,
			the_first_allocation_of_a_thread_sets_up_its_cache_and_fills_a_whole_magazine,
			a_thread_allocating_with_both_magazines_empty_and_an_empty_depot_refills_from_the_slab,
			frees_fill_the_loaded_magazine_then_swap_in_the_empty_previous_one_without_the_depot,
			when_both_magazines_are_full_a_free_sends_the_previous_one_to_the_depot_and_loads_an_empty_one,
			when_both_magazines_are_empty_malloc_takes_a_full_magazine_from_the_depot_not_the_slab,
			an_object_freed_by_another_thread_goes_into_that_threads_magazine,
			objects_freed_by_one_thread_are_handed_out_to_another_through_the_depot,
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
			a_thread_keeps_up_to_four_freed_page_blocks_of_each_size_up_to_16_pages,
			freeing_a_cached_page_block_again_aborts_with_double_free,
			flush_returns_the_cached_page_blocks_to_the_buddy_allocator,
			flush_hands_the_threads_magazines_to_the_depot,
			fork_prepare_holds_every_depot_lock_until_the_parent_handler_releases_them,
			a_child_forked_from_a_thread_keeps_that_threads_cache_only_and_usable_depots)
	};

	sb_config_init();
	sb_config.hugepages = SB_HUGEPAGES_OFF;
	if (!sb_region_init()) {
		printf("Bail out! sb_region_init failed\n");
		return 1;
	}
	sb_slab_init();
	sb_mag_init();		/* the key whose destructor flushes an exiting thread */
	return tap_main_many(argc, argv, cases, sizeof(cases) / sizeof(cases[0]));
}
