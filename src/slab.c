/*
 * slab.c - slab caches: slabs of contiguous pages cut into equal objects.
 *
 * A slab cache serves objects of one size.  Its slabs are runs of pages
 * from the buddy allocator, 1 to 8 pages: the smallest that wastes at most
 * 1/32 of itself, else the least wasteful within 1/8, and for objects up
 * to 2 KiB one that holds at least 8 objects (sb_slab_geometry).  Each slab
 * is in exactly one of three states, two of them lists:
 *   partial  some objects free: allocation takes from here first;
 *   full     no object free: only counted, on no list (as in SLUB), so
 *            that the first free into a full slab touches no other slab's
 *            descriptor (with frees in random order over a big heap, the
 *            two neighbours' unlinking was two more cache misses);
 *   empty    every object free: kept as a reserve of `reserve` slabs,
 *            beyond which a slab that empties goes back to the buddy
 *            allocator at once.
 * The slab descriptor (struct sb_slab) lives out of band, with a bitmap of
 * free objects; every page of the slab points at it from its page
 * descriptor (sb_buddy_make_slab).  No allocator data sits in or between
 * user objects, so an overflowing object damages only its neighbours'
 * contents, and freeing an object twice is seen in the bitmap.
 * sb_slab_validate() checks lists, bitmaps and counts against each other
 * (the full slabs by their count only).
 *
 * Colouring: successive slabs of a cache start their first object at
 * different offsets into the slab's tail slack, in steps of
 * max(64, natural alignment), so that objects with the same index in
 * different slabs fall on different cache lines.  The step keeps every
 * object aligned to the largest power of two dividing the object size
 * (capped at a page), which aligned allocation relies on.
 *
 * SBMALLOC_CHECK=1 is the kernel's slab_debug, for caches created in that
 * mode (all of them when it is set at start-up):
 *   poison    a new slab and every freed object are filled with SB_POISON,
 *             and allocation verifies that a free object still holds it,
 *             so a write after free is reported (at the next allocation of
 *             that object) instead of silently corrupting the heap;
 *   red zone  every object is followed by at least SB_SLAB_REDZONE bytes;
 *             an object handed out for n bytes has [n, stride) filled with
 *             SB_RED and checked when it comes back (sb_slab_debug_*), and
 *             malloc_usable_size() says n;
 *   tracks    per object, out of band (one struct sb_track, 160 bytes, in
 *             a mapping of the slab's own): the size asked for, whether it
 *             is live, the stacks of its last allocation and free, printed
 *             in every report about it (double free, free of a slot never
 *             handed out, red zone, write after free).
 * Off, all of it costs one predictable branch per slab operation.
 *
 * Lock: one mutex per cache protects its lists, slabs and counters.  The
 * buddy and metadata allocators are called with it held, except while a
 * new slab is built: slab_create() drops it, so constructors run without
 * it and, when memory runs out, every cache can be reclaimed (reclaim.c)
 * before one more try.  Destructors run with the lock held: they must not
 * use the same cache.  Lock order: fork.c.
 */
#include "slab.h"
#include "buddy.h"
#include "config.h"
#include "key.h"
#include "meta.h"
#include "os.h"
#include "reclaim.h"
#include "report.h"

#include <string.h>

#define SB_POISON 0xdf
#define SB_RED 0xbb
#define SLAB_MIN_OBJS 8

enum sb_track_state { SB_TRACK_NEVER, SB_TRACK_LIVE, SB_TRACK_FREED };

/* SBMALLOC_CHECK: what is known of one object (slab.c's top comment). */
struct sb_track {
	uint32_t requested;		/* bytes asked for when last handed out */
	uint32_t state;			/* enum sb_track_state, exchanged atomically */
	struct sb_stack alloc, free;
};

/* ---- Geometry ---------------------------------------------------------- */

void sb_slab_geometry(size_t size, size_t align, struct sb_slab_geometry *g)
{
	size_t natural = size & (~size + 1), p, best, best_waste = 0, slab_bytes, n, waste;

	SB_ASSERT(size >= SB_ALIGNMENT && size % SB_ALIGNMENT == 0);
	if (align > natural) {
		/* The stride must keep every object aligned. */
		size = sb_align_up(size, align);
		natural = size & (~size + 1);
	}
	if (natural > SB_PAGE_SIZE)
		natural = SB_PAGE_SIZE;
	if (align < natural)
		align = natural;
	/*
	 * The smallest slab that wastes at most 1/32 of itself; failing that,
	 * the one that wastes the least, as long as it is at most 1/8.  (5120 B
	 * objects: 5 pages hold 4 with nothing lost, where 4 pages hold 3.)
	 */
	best = 0;
	for (p = 1; p <= SB_SLAB_MAX_PAGES; p++) {
		slab_bytes = p * SB_PAGE_SIZE;
		n = slab_bytes / size;
		if (n > SB_SLAB_MAX_OBJS)
			n = SB_SLAB_MAX_OBJS;
		if (n == 0 || (n < SLAB_MIN_OBJS && size <= 2048))
			continue;
		waste = slab_bytes - n * size;
		if (waste * 32 <= slab_bytes) {
			best = p;
			break;
		}
		if (waste * 8 <= slab_bytes &&
		    (best == 0 || waste * best * SB_PAGE_SIZE < best_waste * slab_bytes)) {
			best = p;
			best_waste = waste;
		}
	}
	if (best == 0)
		best = SB_SLAB_MAX_PAGES;
	slab_bytes = best * SB_PAGE_SIZE;
	n = slab_bytes / size;
	if (n > SB_SLAB_MAX_OBJS)
		n = SB_SLAB_MAX_OBJS;
	g->size = (uint32_t)size;
	g->align = (uint32_t)align;
	g->recip = (uint32_t)(((uint64_t)1 << 32) / size + 1);
	g->pages_per_slab = (uint16_t)best;
	g->objs_per_slab = (uint16_t)n;
	g->colour_step = (uint32_t)(align > SB_CACHE_LINE ? align : SB_CACHE_LINE);
	g->colour_count = (uint16_t)((slab_bytes - n * size) / g->colour_step + 1);
}

size_t sb_slab_stride_for(size_t size)
{
	size_t natural;

	size = sb_align_up(size ? size : 1, SB_ALIGNMENT);
	if (!sb_config.check)
		return size;
	/* The red zone after the object, and the stride rounded up so that
	 * objects keep the alignment a slot of their size has without it
	 * (aligned allocation picks classes by it). */
	natural = size & (~size + 1);
	if (natural > SB_PAGE_SIZE)
		natural = SB_PAGE_SIZE;
	return sb_align_up(size + SB_SLAB_REDZONE, natural);
}

void sb_slab_cache_init(struct sb_slab_cache *c, const char *name, size_t size, size_t align,
			unsigned bin)
{
	struct sb_slab_geometry g;

	sb_slab_geometry(sb_slab_stride_for(size), align, &g);
	memset(c, 0, sizeof(*c));
	pthread_mutex_init(&c->lock, NULL);
	strncpy(c->name, name, SB_CACHE_NAME_MAX - 1);
	c->size = g.size;
	c->obj_size = sb_config.check ? (uint32_t)(size ? size : 1) : g.size;
	c->redzone = c->size - c->obj_size;
	c->align = g.align;
	c->recip = g.recip;
	c->objs_per_slab = g.objs_per_slab;
	c->pages_per_slab = g.pages_per_slab;
	c->colour_step = g.colour_step;
	c->colour_count = g.colour_count;
	c->reserve = 1;
	c->bin = (uint8_t)bin;
}

static const void *nobody;	/* the owner token of no owner: sb_slab_set_nobody */

void sb_slab_cache_set_fast_free(struct sb_slab_cache *c)
{
	c->fast_free = true;
}

void sb_slab_cache_set_ctor(struct sb_slab_cache *c, void (*ctor)(void *, void *),
			    void (*dtor)(void *, void *), void *arg)
{
	c->ctor = ctor;
	c->dtor = dtor;
	c->ctor_arg = arg;
	/* Keep constructed slabs until a reclaim asks for them. */
	if (ctor != NULL)
		c->reserve = UINT32_MAX;
}

/* ---- Lists ------------------------------------------------------------- */

static void slab_list_add(struct sb_slab_cache *c, struct sb_slab *s, enum sb_slab_list l)
{
	struct sb_slab_list_head *h = &c->lists[l];

	s->list = (uint16_t)l;
	if (l == SB_SLAB_FULL) {	/* counted, not linked */
		s->prev = s->next = NULL;
		sb_write_once(h->count, h->count + 1);
		return;
	}
	s->prev = NULL;
	s->next = h->first;
	if (h->first)
		h->first->prev = s;
	h->first = s;
	sb_write_once(h->count, h->count + 1);
}

static void slab_list_del(struct sb_slab_cache *c, struct sb_slab *s)
{
	struct sb_slab_list_head *h = &c->lists[s->list];

	if (s->list == SB_SLAB_FULL) {
		sb_write_once(h->count, h->count - 1);
		return;
	}
	if (s->prev)
		s->prev->next = s->next;
	else
		h->first = s->next;
	if (s->next)
		s->next->prev = s->prev;
	sb_write_once(h->count, h->count - 1);
}

static void slab_list_move(struct sb_slab_cache *c, struct sb_slab *s, enum sb_slab_list l)
{
	slab_list_del(c, s);
	slab_list_add(c, s, l);
}

/* The index of p in s, or false if no object of s starts at p. */
static inline bool index_of(const struct sb_slab *s, const void *p, uint32_t *idx)
{
	const struct sb_slab_cache *c = s->cache;

	return sb_object_index((uintptr_t)p - (uintptr_t)s->objs, c->size, c->recip,
			       (uint32_t)c->objs_per_slab * c->size, idx);
}

/* ---- SBMALLOC_CHECK: tracks and red zones ----------------------------- */

static void write_num(const char *before, uint64_t v, const char *after)
{
	char num[24];

	sb_fmt_u64(num, sizeof(num), v);
	sb_write_str(2, before);
	sb_write_str(2, num);
	sb_write_str(2, after);
}

/* The rest of a report about object idx of s at p: what it is, the
 * detail (what_at, at), and its stacks, then the current one. */
static SB_COLD void report_object(const struct sb_slab_cache *c, const struct sb_slab *s,
				  uint32_t idx, const void *p, const char *what_at, size_t at)
{
	const struct sb_track *t = s->tracks != NULL ? &s->tracks[idx] : NULL;
	struct sb_stack now;
	char hex[24];

	sb_fmt_hex(hex, sizeof(hex), (uintptr_t)p);
	sb_write_str(2, "sbmalloc:   object ");
	sb_write_str(2, hex);
	if (t != NULL && t->state != SB_TRACK_NEVER)
		write_num(" of ", t->requested, " bytes");
	sb_write_str(2, " in cache ");
	sb_write_str(2, c->name);
	write_num(" (slot of ", c->size, " bytes)");
	if (what_at != NULL) {
		sb_write_str(2, ", ");
		write_num(what_at, at, "");
	}
	sb_write_str(2, "\n");
	if (t != NULL) {
		sb_stack_print("allocated", &t->alloc);
		sb_stack_print("freed", &t->free);
	}
	sb_stack_capture(&now);
	sb_stack_print("this call, made", &now);
}

/* The tracked object at p: its cache, slab, index and track; false if p is
 * not an object of a slab with tracks. */
static bool tracked(void *p, struct sb_slab **sp, uint32_t *idx, struct sb_track **tp)
{
	struct sb_page *pg = sb_page_of(p);
	struct sb_slab *s;

	if (pg == NULL || sb_page_state(pg) != SB_PAGE_SLAB)
		return false;
	s = sb_page_slab(pg);
	if (s->tracks == NULL || !index_of(s, p, idx))
		return false;
	*sp = s;
	*tp = &s->tracks[*idx];
	return true;
}

void sb_slab_debug_alloc(void *p, size_t requested, const char *func)
{
	struct sb_track *t;
	struct sb_slab *s;
	uint32_t idx;

	if (!tracked(p, &s, &idx, &t))
		return;
	if (requested > s->cache->obj_size)
		requested = s->cache->obj_size;
	t->requested = (uint32_t)requested;
	sb_stack_capture(&t->alloc);
	sb_stack_clear(&t->free);
	memset((char *)p + requested, SB_RED, s->cache->size - requested);
	if (__atomic_exchange_n(&t->state, SB_TRACK_LIVE, __ATOMIC_ACQ_REL) == SB_TRACK_LIVE) {
		sb_report_pointer(func, "object handed out twice", p);
		report_object(s->cache, s, idx, p, NULL, 0);
		sb_abort();
	}
}

void sb_slab_debug_free(void *p, const char *func)
{
	const unsigned char *red;
	struct sb_track *t;
	struct sb_slab *s;
	uint32_t idx, state;
	size_t i, end;

	if (!tracked(p, &s, &idx, &t))
		return;
	state = SB_TRACK_LIVE;
	if (!__atomic_compare_exchange_n(&t->state, &state, SB_TRACK_FREED, false, __ATOMIC_ACQ_REL,
					 __ATOMIC_ACQUIRE)) {
		sb_report_pointer(func, state == SB_TRACK_FREED ? "double free" : "invalid pointer", p);
		report_object(s->cache, s, idx, p, NULL, 0);
		sb_abort();
	}
	red = (const unsigned char *)p;
	end = s->cache->size;
	for (i = t->requested; i < end; i++)
		if (red[i] != SB_RED) {
			sb_report_pointer(func, "red zone overwritten", p);
			report_object(s->cache, s, idx, p, "first damaged byte at offset ", i);
			sb_abort();
		}
	sb_stack_capture(&t->free);
}

size_t sb_slab_debug_usable(const void *p)
{
	struct sb_track *t;
	struct sb_slab *s;
	uint32_t idx;

	if (!tracked((void *)p, &s, &idx, &t))
		return SIZE_MAX;
	return t->requested;
}

/* ---- Slabs ------------------------------------------------------------- */

static bool slab_valid(const struct sb_slab_cache *c, const struct sb_slab *s);

/* s's slab map entry (buddy.h): the free fast path's copy of its fields. */
static struct sb_slab_ref ref_of(const struct sb_slab *s)
{
	return sb_slab_ref_make(s->objs, s->bin_off, s->frees_go_home, s->fast_mul, s->fast_lim,
				s->owner);
}

/* The owner token changes in the descriptor and in the slab map at once;
 * the cache lock is held. */
static void set_owner(struct sb_slab *s, const void *owner)
{
	if (s->owner != owner) {
		s->owner = owner;
		sb_buddy_set_slab_owner(s->mem, owner);
	}
}

/*
 * A new slab for c, on its partial list.  Called and returns with c->lock
 * held, but drops it while the slab is built, so that constructors run
 * without it and, when memory runs out, every cache can be reclaimed
 * (destructors run) before one more try.
 */
static struct sb_slab *slab_create(struct sb_slab_cache *c)
{
	struct sb_slab *s;
	struct sb_slab_ref ref;
	char *mem;
	unsigned i, n = c->objs_per_slab, colour = c->colour_next;

	if (++c->colour_next == c->colour_count)
		c->colour_next = 0;
	pthread_mutex_unlock(&c->lock);
	s = sb_meta_alloc(sizeof(*s));
	mem = s != NULL ? sb_buddy_alloc(c->pages_per_slab, 1) : NULL;
	if (s != NULL && mem == NULL && sb_reclaim_slabs() > 0)
		mem = sb_buddy_alloc(c->pages_per_slab, 1);
	if (mem == NULL) {
		if (s != NULL)
			sb_meta_free(s, sizeof(*s));
		pthread_mutex_lock(&c->lock);
		return NULL;
	}
	s->cache = c;
	s->owner = nobody;
	s->size = c->size;
	s->recip = c->recip;
	sb_fast_object_params(c->size, c->fast_free ? c->objs_per_slab : 0, &s->fast_mul,
			      &s->fast_lim);
	s->bin_off = (uint32_t)c->bin << SB_BIN_SHIFT;
	s->frees_go_home = c->size <= SB_HOME_MAX;
	s->mem = mem;
	s->colour = (uint16_t)colour;
	s->objs = mem + (size_t)colour * c->colour_step;
	s->nfree = (uint16_t)n;
	s->hint = 0;
	for (i = 0; i < n / 64; i++)
		s->free_bits[i] = ~(uint64_t)0;
	if (n % 64)
		s->free_bits[n / 64] = ((uint64_t)1 << (n % 64)) - 1;
	if (c->redzone != 0)
		s->tracks = sb_os_map(sb_align_up((size_t)n * sizeof(struct sb_track), SB_PAGE_SIZE));
	s->poisoned = sb_config.check && c->ctor == NULL;
	if (sb_unlikely(s->poisoned))
		memset(mem, SB_POISON, (size_t)c->pages_per_slab << SB_PAGE_SHIFT);
	else if (c->ctor == NULL)
		for (i = 0; i < n; i++)
			sb_key_mark_fresh(s->objs + (size_t)i * c->size);
	else
		for (i = 0; i < n; i++)
			c->ctor(s->objs + (size_t)i * c->size, c->ctor_arg);
	ref = ref_of(s);
	sb_buddy_make_slab(mem, s, c->bin, &ref);
	pthread_mutex_lock(&c->lock);
	sb_write_once(c->slabs_created, c->slabs_created + 1);
	slab_list_add(c, s, SB_SLAB_PARTIAL);
	return s;
}

static void slab_destroy(struct sb_slab_cache *c, struct sb_slab *s)
{
	unsigned i;

	SB_ASSERT(s->nfree == c->objs_per_slab);
	slab_list_del(c, s);
	if (c->dtor != NULL)
		for (i = 0; i < c->objs_per_slab; i++)
			c->dtor(s->objs + (size_t)i * c->size, c->ctor_arg);
	sb_buddy_free_slab(s->mem);
	if (s->tracks != NULL)
		sb_os_unmap(s->tracks,
			    sb_align_up((size_t)c->objs_per_slab * sizeof(struct sb_track), SB_PAGE_SIZE));
	sb_meta_free(s, sizeof(*s));
	sb_write_once(c->slabs_destroyed, c->slabs_destroyed + 1);
}

static SB_COLD void poison_verify(struct sb_slab_cache *c, struct sb_slab *s, uint32_t idx,
				  const unsigned char *p, const char *func)
{
	size_t i;

	for (i = 0; i < c->size; i++)
		if (p[i] != SB_POISON) {
			pthread_mutex_unlock(&c->lock);
			sb_report_pointer(func, "write after free to object", p);
			report_object(c, s, idx, p, "first byte written after free at offset ", i);
			sb_abort();
		}
}

/* Partial slabs looked at for one of the owner's before taking the first. */
#define OWNER_SCAN 4

/*
 * A slab with a free object: a partial one, owner's or nobody's if one of
 * the first OWNER_SCAN is (so that a thread refills from its own slabs
 * and the objects other threads give back come home), else the first;
 * then an empty one, then a new one.
 */
void sb_slab_set_nobody(const void *token)
{
	nobody = token;
}

static struct sb_slab *slab_with_room(struct sb_slab_cache *c, const void *owner)
{
	struct sb_slab *s = c->lists[SB_SLAB_PARTIAL].first, *t;
	unsigned i;

	if (sb_likely(s != NULL)) {
		if (owner == NULL || s->owner == owner)
			return s;
		for (t = s->next, i = 1; t != NULL && i < OWNER_SCAN; t = t->next, i++)
			if (t->owner == owner || t->owner == nobody)
				return t;
		return s;
	}
	s = c->lists[SB_SLAB_EMPTY].first;
	if (s != NULL) {
		slab_list_move(c, s, SB_SLAB_PARTIAL);
		return s;
	}
	return slab_create(c);
}

/* Take up to n objects from s (which has at least one free). */
static unsigned slab_take(struct sb_slab_cache *c, struct sb_slab *s, void **out, unsigned n,
			  const char *func)
{
	unsigned w = s->hint, got = 0, b;

	while (got < n && s->nfree > 0) {
		while (s->free_bits[w] == 0)
			w++;
		b = (unsigned)__builtin_ctzll(s->free_bits[w]);
		s->free_bits[w] &= s->free_bits[w] - 1;
		out[got] = s->objs + (size_t)(w * 64 + b) * c->size;
		if (sb_unlikely(s->poisoned))
			poison_verify(c, s, w * 64 + b, out[got], func);
		got++;
		s->nfree--;
	}
	s->hint = (uint16_t)w;
	if (s->nfree == 0)
		slab_list_move(c, s, SB_SLAB_FULL);
	sb_write_once(c->active_objs, c->active_objs + got);
	SB_ASSERT_FULL(slab_valid(c, s));
	return got;
}

unsigned sb_slab_alloc_batch_for(struct sb_slab_cache *c, void **out, unsigned n,
				 const char *func, const void *owner)
{
	struct sb_slab *s;
	unsigned got = 0;

	SB_ASSERT(n > 0);
	pthread_mutex_lock(&c->lock);
	while (got < n && (s = slab_with_room(c, owner)) != NULL) {
		set_owner(s, owner != NULL ? owner : nobody);
		got += slab_take(c, s, out + got, n - got, func);
	}
	pthread_mutex_unlock(&c->lock);
	return got;
}

unsigned sb_slab_alloc_batch(struct sb_slab_cache *c, void **out, unsigned n, const char *func)
{
	return sb_slab_alloc_batch_for(c, out, n, func, NULL);
}

bool sb_slab_is_object(const struct sb_slab *s, const void *p)
{
	uint32_t idx;

	return index_of(s, p, &idx);
}

bool sb_slab_object_is_free(struct sb_slab_cache *c, const void *p)
{
	struct sb_page *pg = sb_page_of(p);
	struct sb_slab *s;
	uint32_t idx;
	bool is_free = false;

	pthread_mutex_lock(&c->lock);
	if (pg != NULL && sb_page_state(pg) == SB_PAGE_SLAB && (s = sb_page_slab(pg))->cache == c &&
	    index_of(s, p, &idx))
		is_free = (s->free_bits[idx / 64] >> (idx % 64)) & 1;
	pthread_mutex_unlock(&c->lock);
	return is_free;
}

bool sb_slab_set_live(struct sb_slab *s, const void *p)
{
	uint32_t idx;
	uint64_t bit;

	if (!index_of(s, p, &idx))
		return true;
	bit = (uint64_t)1 << (idx % 64);
	return __atomic_fetch_or(&s->live_bits[idx / 64], bit, __ATOMIC_RELAXED) & bit;
}

bool sb_slab_clear_live(struct sb_slab *s, const void *p)
{
	uint32_t idx;
	uint64_t bit;

	if (!index_of(s, p, &idx))
		return false;
	bit = (uint64_t)1 << (idx % 64);
	return __atomic_fetch_and(&s->live_bits[idx / 64], ~bit, __ATOMIC_RELAXED) & bit;
}

/* Put the object at idx of s back; the cache lock is held. */
static void slab_put(struct sb_slab_cache *c, struct sb_slab *s, void *p, uint32_t idx,
		     const char *func)
{
	unsigned w = idx / 64;
	uint64_t bit = (uint64_t)1 << (idx % 64);

	if (sb_unlikely(s->free_bits[w] & bit)) {
		pthread_mutex_unlock(&c->lock);
		sb_fatal_pointer(func, "double free", p);
	}
	if (sb_unlikely(s->poisoned))
		memset(p, SB_POISON, c->size);
	s->free_bits[w] |= bit;
	if (w < s->hint)
		s->hint = (uint16_t)w;
	sb_write_once(c->active_objs, c->active_objs - 1);
	if (sb_unlikely(s->nfree++ == 0))
		slab_list_move(c, s, SB_SLAB_PARTIAL);
	SB_ASSERT_FULL(slab_valid(c, s));
	if (sb_unlikely(s->nfree == c->objs_per_slab)) {
		if (c->lists[SB_SLAB_EMPTY].count >= c->reserve)
			slab_destroy(c, s);
		else
			slab_list_move(c, s, SB_SLAB_EMPTY);
	}
}

/*
 * The objects of a batch are scattered over the heap when a program frees
 * in random order: each one's page descriptor and slab descriptor is a
 * cache miss, and one after the other they serialise.  So the batch is
 * pipelined in chunks of FREE_AHEAD: while chunk k is put back, the slab
 * descriptors of chunk k + 1 (their first line and the line of the first
 * words of their bitmaps) and the page descriptors of chunk k + 2 are
 * prefetched, so that the misses overlap each other and the work.
 * Prefetching only reads, racily, what the work checks under the lock.
 */
#define FREE_AHEAD 8

static void prefetch_pages(void *const *objs, unsigned from, unsigned to)
{
	unsigned i;

	for (i = from; i < to; i++) {
		const struct sb_page *pg = sb_page_of(objs[i]);

		if (pg != NULL)
			__builtin_prefetch(pg);
	}
}

static void prefetch_slabs(void *const *objs, unsigned from, unsigned to)
{
	unsigned i;

	for (i = from; i < to; i++) {
		const struct sb_page *pg = sb_page_of(objs[i]);

		if (pg != NULL && sb_page_state(pg) == SB_PAGE_SLAB) {
			const struct sb_slab *s = sb_page_slab(pg);

			__builtin_prefetch(s, 1);
			__builtin_prefetch(&s->free_bits[0], 1);
		}
	}
}

static inline unsigned chunk_end(unsigned from, unsigned n)
{
	return n - from < FREE_AHEAD ? n : from + FREE_AHEAD;
}

void sb_slab_free_batch(struct sb_slab_cache *c, void *const *objs, unsigned n, const char *func)
{
	uint32_t span = (uint32_t)c->objs_per_slab * c->size, idx;
	unsigned i;

	if (n > FREE_AHEAD) {
		prefetch_pages(objs, 0, chunk_end(FREE_AHEAD, n));
		prefetch_slabs(objs, 0, FREE_AHEAD);
	}
	pthread_mutex_lock(&c->lock);
	for (i = 0; i < n; i++) {
		void *p = objs[i];
		struct sb_page *pg;
		struct sb_slab *s;

		if (i % FREE_AHEAD == 0 && i + FREE_AHEAD < n) {
			if (i + 2 * FREE_AHEAD < n)
				prefetch_pages(objs, i + 2 * FREE_AHEAD, chunk_end(i + 2 * FREE_AHEAD, n));
			prefetch_slabs(objs, i + FREE_AHEAD, chunk_end(i + FREE_AHEAD, n));
		}
		pg = sb_page_of(p);
		if (sb_unlikely(pg == NULL || sb_page_state(pg) != SB_PAGE_SLAB ||
				(s = sb_page_slab(pg))->cache != c ||
				!sb_object_index((uintptr_t)p - (uintptr_t)s->objs, c->size,
						 c->recip, span, &idx))) {
			pthread_mutex_unlock(&c->lock);
			sb_fatal_pointer(func, "invalid pointer", p);
		}
		slab_put(c, s, p, idx, func);
	}
	pthread_mutex_unlock(&c->lock);
}

size_t sb_slab_reclaim(struct sb_slab_cache *c)
{
	size_t pages = 0;

	/* trylock: a destructor that allocates runs with its cache locked */
	if (pthread_mutex_trylock(&c->lock) != 0)
		return 0;
	while (c->lists[SB_SLAB_EMPTY].first != NULL) {
		slab_destroy(c, c->lists[SB_SLAB_EMPTY].first);
		pages += c->pages_per_slab;
	}
	pthread_mutex_unlock(&c->lock);
	return pages << SB_PAGE_SHIFT;
}

void sb_slab_destroy_all(struct sb_slab_cache *c)
{
	unsigned l;

	pthread_mutex_lock(&c->lock);
	SB_ASSERT(c->active_objs == 0);
	for (l = 0; l < SB_NR_SLAB_LISTS; l++)
		while (c->lists[l].first != NULL)
			slab_destroy(c, c->lists[l].first);
	pthread_mutex_unlock(&c->lock);
}

size_t sb_slab_active(struct sb_slab_cache *c)
{
	size_t n;

	pthread_mutex_lock(&c->lock);
	n = c->active_objs;
	pthread_mutex_unlock(&c->lock);
	return n;
}

/* ---- Validation -------------------------------------------------------- */

static bool invalid(const char *what, uintptr_t v)
{
	return sb_invalid("slab", what, v);
}

/* The owner is read racily (a thread may be taking objects): not compared. */
static bool ref_agrees(const struct sb_slab *s, const struct sb_slab_ref *e)
{
	struct sb_slab_ref want = ref_of(s);

	return e->objs == want.objs && e->bin_off == want.bin_off &&
	       e->frees_go_home == want.frees_go_home && e->fast_mul == want.fast_mul &&
	       e->fast_lim == want.fast_lim;
}

static unsigned popcount_bits(const struct sb_slab *s)
{
	unsigned w, n = 0;

	for (w = 0; w < SB_SLAB_WORDS; w++)
		n += (unsigned)__builtin_popcountll(s->free_bits[w]);
	return n;
}

/* One slab: its bitmap, count, list, pages and colour agree. */
static bool slab_valid(const struct sb_slab_cache *c, const struct sb_slab *s)
{
	unsigned n = c->objs_per_slab, w;
	const struct sb_page *pg;

	if (s->cache != c)
		return invalid("slab of another cache", (uintptr_t)s);
	if (popcount_bits(s) != s->nfree || s->nfree > n)
		return invalid("free count disagrees with the bitmap of slab", (uintptr_t)s);
	for (w = 0; w < SB_SLAB_WORDS; w++) {
		uint64_t valid = w * 64 >= n ? 0 : n - w * 64 >= 64 ? ~(uint64_t)0
			       : ((uint64_t)1 << (n - w * 64)) - 1;

		if (s->free_bits[w] & ~valid)
			return invalid("free bit beyond the last object of slab", (uintptr_t)s);
		if (w < s->hint && s->free_bits[w] != 0)
			return invalid("free object below the hint of slab", (uintptr_t)s);
	}
	if (s->list != (s->nfree == 0 ? SB_SLAB_FULL : s->nfree == n ? SB_SLAB_EMPTY : SB_SLAB_PARTIAL) &&
	    !(s->list == SB_SLAB_PARTIAL && s->nfree == n))
		return invalid("slab on the wrong list", (uintptr_t)s);
	if (s->objs != s->mem + (size_t)s->colour * c->colour_step || s->colour >= c->colour_count)
		return invalid("bad colour of slab", (uintptr_t)s);
	for (w = 0; w < c->pages_per_slab; w++) {
		pg = sb_page_of(s->mem + ((size_t)w << SB_PAGE_SHIFT));
		if (pg == NULL || sb_page_state(pg) != SB_PAGE_SLAB || sb_page_slab(pg) != s ||
		    sb_page_bin(pg) != c->bin)
			return invalid("page descriptor does not name slab", (uintptr_t)s);
		if (!ref_agrees(s, sb_page_map_ref(pg, s->mem + ((size_t)w << SB_PAGE_SHIFT))))
			return invalid("slab map entry disagrees with slab", (uintptr_t)s);
	}
	return true;
}

bool sb_slab_validate(struct sb_slab_cache *c)
{
	size_t free_objs = 0, slabs = 0, count;
	const struct sb_slab *s, *prev;
	bool ok = true;
	unsigned l;

	pthread_mutex_lock(&c->lock);
	for (l = 0; l < SB_NR_SLAB_LISTS && ok; l++) {
		count = 0;
		prev = NULL;
		for (s = c->lists[l].first; s != NULL && ok; prev = s, s = s->next) {
			if (s->list != l)
				ok = invalid("slab's list field disagrees with its list", (uintptr_t)s);
			else if (s->prev != prev)
				ok = invalid("broken back link at slab", (uintptr_t)s);
			else if (++count > c->lists[l].count)
				ok = invalid("list longer than its count", l);
			else
				ok = slab_valid(c, s);
			free_objs += s->nfree;
		}
		if (l == SB_SLAB_FULL) {	/* on no list: counted */
			if (ok && c->lists[l].first != NULL)
				ok = invalid("full slabs linked into a list", l);
			count = c->lists[l].count;
		}
		if (ok && count != c->lists[l].count)
			ok = invalid("list count wrong", l);
		slabs += count;
	}
	if (ok && slabs != c->slabs_created - c->slabs_destroyed)
		ok = invalid("slabs on lists != created - destroyed", slabs);
	if (ok && slabs * c->objs_per_slab - free_objs != c->active_objs)
		ok = invalid("active_objs wrong", c->active_objs);
	pthread_mutex_unlock(&c->lock);
	return ok;
}

/* ---- Counters and fork ------------------------------------------------- */

void sb_slab_counters(struct sb_slab_cache *c, struct sb_slab_counters *out, bool locked)
{
	size_t num_objs;

	if (locked)
		pthread_mutex_lock(&c->lock);
	out->name = c->name;
	out->size = c->size;
	out->objs_per_slab = c->objs_per_slab;
	out->pages_per_slab = c->pages_per_slab;
	out->num_slabs = (size_t)(sb_read_once(c->slabs_created) - sb_read_once(c->slabs_destroyed));
	out->active_slabs = sb_read_once(c->lists[SB_SLAB_PARTIAL].count) +
			    sb_read_once(c->lists[SB_SLAB_FULL].count);
	out->active_objs = sb_read_once(c->active_objs);
	if (locked)
		pthread_mutex_unlock(&c->lock);
	/* A racy read may catch a slab half-way: keep the sums consistent. */
	num_objs = out->num_slabs * c->objs_per_slab;
	if (out->active_slabs > out->num_slabs)
		out->active_slabs = out->num_slabs;
	if (out->active_objs > num_objs)
		out->active_objs = num_objs;
}

void sb_slab_lock(struct sb_slab_cache *c)
{
	pthread_mutex_lock(&c->lock);
}

void sb_slab_unlock(struct sb_slab_cache *c)
{
	pthread_mutex_unlock(&c->lock);
}
