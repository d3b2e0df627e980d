/*
 * slab.c - slab caches: slabs of contiguous pages cut into equal objects.
 *
 * A cache serves objects of one size.  Its slabs are runs of pages from
 * the buddy allocator, 1 to 8 pages: the smallest that wastes at most 1/32
 * of itself, else the least wasteful within 1/8, and for objects up to
 * 2 KiB one that holds at least 8 objects.  Each slab is on exactly one of three lists:
 *   partial  some objects free: allocation takes from here first;
 *   full     no object free;
 *   empty    every object free: kept as a reserve of `reserve` slabs,
 *            beyond which a slab that empties goes back to the buddy
 *            allocator at once.
 * The slab descriptor (struct sb_slab) lives out of band, with a bitmap of
 * free objects; every page of the slab points at it from its page
 * descriptor.  No allocator data sits in or between user objects, so an
 * overflowing object damages only its neighbours' contents, and freeing an
 * object twice is seen in the bitmap.
 *
 * Colouring: successive slabs of a cache start their first object at
 * different offsets into the slab's tail slack, in steps of
 * max(64, natural alignment), so that objects with the same index in
 * different slabs fall on different cache lines.  The step keeps every
 * object aligned to the largest power of two dividing the object size
 * (capped at a page), which aligned allocation relies on.
 *
 * SBMALLOC_CHECK=1 poisons: a new slab and every freed object are filled
 * with SB_POISON, and allocation verifies that a free object still holds
 * it, so a write after free is reported (at the next allocation of that
 * object) instead of silently corrupting the heap.  Off, it costs one
 * predictable branch.
 *
 * Locking: one mutex per cache protects its lists, slabs and counters.  The
 * buddy allocator (and through it region creation) and the metadata
 * allocator are called with the cache lock held, except while a new slab is
 * built (slab_create drops it, so constructors and reclaim run unlocked);
 * lock order: caches_lock (the list of caches) -> cache lock -> region.c's
 * locks.  No two cache locks are held at once except in
 * sb_slab_fork_prepare(), which takes them in list order.  Destructors run
 * with the cache lock held: they must not use the same cache.
 */
#include "internal.h"

#include <string.h>

#define SB_POISON 0xdf
#define SLAB_MIN_OBJS 8
#define SLAB_MAX_PAGES 8

struct sb_cache sb_size_caches[SB_NR_CLASSES];
struct sb_class_info sb_class_info[256];
struct sb_cache *sb_cache_of[SB_NR_BINS];
static struct sb_cache *cache_head;
static pthread_mutex_t caches_lock = PTHREAD_MUTEX_INITIALIZER;

static void list_insert(struct sb_cache *c, struct sb_slab *s, enum sb_slab_list l)
{
	struct sb_slab_head *h = &c->lists[l];

	s->list = (uint16_t)l;
	s->prev = NULL;
	s->next = h->first;
	if (h->first)
		h->first->prev = s;
	h->first = s;
	h->count++;
}

static void list_remove(struct sb_cache *c, struct sb_slab *s)
{
	struct sb_slab_head *h = &c->lists[s->list];

	if (s->prev)
		s->prev->next = s->next;
	else
		h->first = s->next;
	if (s->next)
		s->next->prev = s->prev;
	h->count--;
}

static void list_move(struct sb_cache *c, struct sb_slab *s, enum sb_slab_list l)
{
	list_remove(c, s);
	list_insert(c, s, l);
}

void sb_cache_setup(struct sb_cache *c, const char *name, size_t size, size_t align)
{
	size_t natural = size & (~size + 1), p, best, best_waste = 0, slab_bytes, n, waste;

	memset(c, 0, sizeof(*c));
	pthread_mutex_init(&c->lock, NULL);
	strncpy(c->name, name, SB_CACHE_NAME_MAX - 1);
	if (align > natural) {
		/* The stride must keep every object aligned. */
		size = sb_align_up(size, align);
		natural = size & (~size + 1);
	}
	if (natural > SB_PAGE_SIZE)
		natural = SB_PAGE_SIZE;
	if (align < natural)
		align = natural;
	c->size = (uint32_t)size;
	c->align = (uint32_t)align;
	c->recip = ((uint64_t)1 << 32) / size + 1;
	/*
	 * The smallest slab that wastes at most 1/32 of itself; failing that,
	 * the one that wastes the least, as long as it is at most 1/8.  (5120 B
	 * objects: 5 pages hold 4 with nothing lost, where 4 pages hold 3.)
	 */
	best = 0;
	for (p = 1; p <= SLAB_MAX_PAGES; p++) {
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
		best = SLAB_MAX_PAGES;
	slab_bytes = best * SB_PAGE_SIZE;
	n = slab_bytes / size;
	if (n > SB_SLAB_MAX_OBJS)
		n = SB_SLAB_MAX_OBJS;
	c->pages_per_slab = (uint16_t)best;
	c->objs_per_slab = (uint16_t)n;
	c->colour_step = (uint32_t)(align > SB_CACHE_LINE ? align : SB_CACHE_LINE);
	c->colour_count = (uint16_t)((slab_bytes - n * size) / c->colour_step + 1);
	c->reserve = 1;
	c->class_index = SB_NO_CLASS;
	sb_depot_init(c);
}

void sb_cache_register(struct sb_cache *c)
{
	pthread_mutex_lock(&caches_lock);
	c->next = cache_head;
	__atomic_store_n(&cache_head, c, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&caches_lock);
}

void sb_slab_init(void)
{
	static bool done;
	unsigned i;
	char name[SB_CACHE_NAME_MAX];

	if (done)
		return;
	done = true;
	sb_sizeclass_init();
	for (i = sb_nr_classes; i-- > 0;) {
		memcpy(name, "malloc-", 7);
		sb_fmt_u64(name + 7, sizeof(name) - 7, sb_class_size[i]);
		sb_cache_setup(&sb_size_caches[i], name, sb_class_size[i], 0);
		sb_cache_register(&sb_size_caches[i]);
		sb_size_caches[i].class_index = (uint8_t)i;
		sb_cache_of[i] = &sb_size_caches[i];
		sb_class_info[i].size = sb_size_caches[i].size;
		sb_class_info[i].span = (uint32_t)sb_size_caches[i].objs_per_slab * sb_size_caches[i].size;
		sb_class_info[i].recip = (uint32_t)sb_size_caches[i].recip;
		sb_class_info[i].keep_min = sb_size_caches[i].size / 2;
	}
}

struct sb_cache *sb_cache_list(void)
{
	return cache_head;
}

/*
 * A new slab for c, on its partial list.  Called and returns with c->lock
 * held, but drops it while the slab is built, so that constructors run
 * without it and, when memory runs out, every cache can be reclaimed
 * (destructors run) before one more try.
 */
static struct sb_slab *slab_create(struct sb_cache *c)
{
	struct sb_region *r;
	struct sb_slab *s;
	char *mem;
	unsigned i, n = c->objs_per_slab, colour = c->colour_next;
	struct sb_page *pg;

	if (++c->colour_next == c->colour_count)
		c->colour_next = 0;
	pthread_mutex_unlock(&c->lock);
	s = sb_meta_alloc(sizeof(*s));
	mem = s != NULL ? sb_buddy_alloc(c->pages_per_slab, 1) : NULL;
	if (s != NULL && mem == NULL && sb_slab_reclaim() > 0)
		mem = sb_buddy_alloc(c->pages_per_slab, 1);
	if (mem == NULL) {
		if (s != NULL)
			sb_meta_free(s, sizeof(*s));
		pthread_mutex_lock(&c->lock);
		return NULL;
	}
	r = sb_registry_lookup(mem);
	s->cache = c;
	s->mem = mem;
	s->colour = (uint16_t)colour;
	s->objs = mem + (size_t)colour * c->colour_step;
	s->nfree = (uint16_t)n;
	s->hint = 0;
	for (i = 0; i < n / 64; i++)
		s->free_bits[i] = ~(uint64_t)0;
	if (n % 64)
		s->free_bits[n / 64] = ((uint64_t)1 << (n % 64)) - 1;
	s->poisoned = sb_config.check && c->ctor == NULL;
	if (sb_unlikely(s->poisoned))
		memset(mem, SB_POISON, (size_t)c->pages_per_slab << SB_PAGE_SHIFT);
	if (c->ctor != NULL)
		for (i = 0; i < n; i++)
			c->ctor(s->objs + (size_t)i * c->size, c->ctor_arg);
	pg = sb_region_page(r, mem);
	for (i = 0; i < c->pages_per_slab; i++) {
		pg[i].slab = s;
		pg[i].order = c->class_index;
		__atomic_store_n(&pg[i].state, SB_PAGE_SLAB, __ATOMIC_RELEASE);
	}
	pthread_mutex_lock(&c->lock);
	c->slabs_created++;
	list_insert(c, s, SB_SLAB_PARTIAL);
	return s;
}

static void slab_destroy(struct sb_cache *c, struct sb_slab *s)
{
	struct sb_region *r = sb_registry_lookup(s->mem);
	struct sb_page *pg = sb_region_page(r, s->mem);
	unsigned i;

	list_remove(c, s);
	if (c->dtor != NULL)
		for (i = 0; i < c->objs_per_slab; i++)
			c->dtor(s->objs + (size_t)i * c->size, c->ctor_arg);
	for (i = 1; i < c->pages_per_slab; i++)
		__atomic_store_n(&pg[i].state, SB_PAGE_TAIL, __ATOMIC_RELAXED);
	pg[0].npages = c->pages_per_slab;
	__atomic_store_n(&pg[0].state, SB_PAGE_LARGE, __ATOMIC_RELEASE);
	sb_buddy_free(r, s->mem);
	sb_meta_free(s, sizeof(*s));
	c->slabs_destroyed++;
}

static SB_COLD void poison_verify(struct sb_cache *c, const unsigned char *p)
{
	size_t i;

	for (i = 0; i < c->size; i++)
		if (p[i] != SB_POISON) {
			pthread_mutex_unlock(&c->lock);
			sb_fatal_pointer("malloc", "write after free to object", p);
		}
}

/* A slab with a free object: partial first, then empty, then a new one. */
static struct sb_slab *slab_with_room(struct sb_cache *c)
{
	struct sb_slab *s = c->lists[SB_SLAB_PARTIAL].first;

	if (sb_likely(s != NULL))
		return s;
	s = c->lists[SB_SLAB_EMPTY].first;
	if (s != NULL) {
		list_move(c, s, SB_SLAB_PARTIAL);
		return s;
	}
	return slab_create(c);
}

/* Take up to n objects from s (which has at least one free). */
static unsigned slab_take(struct sb_cache *c, struct sb_slab *s, void **out, unsigned n)
{
	unsigned w = s->hint, got = 0, b;

	while (got < n && s->nfree > 0) {
		while (s->free_bits[w] == 0)
			w++;
		b = (unsigned)__builtin_ctzll(s->free_bits[w]);
		s->free_bits[w] &= s->free_bits[w] - 1;
		out[got] = s->objs + (size_t)(w * 64 + b) * c->size;
		if (sb_unlikely(s->poisoned))
			poison_verify(c, out[got]);
		got++;
		s->nfree--;
	}
	s->hint = (uint16_t)w;
	if (s->nfree == 0)
		list_move(c, s, SB_SLAB_FULL);
	c->active_objs += got;
	return got;
}

unsigned sb_slab_alloc_batch(struct sb_cache *c, void **out, unsigned n)
{
	struct sb_slab *s;
	unsigned got = 0;

	pthread_mutex_lock(&c->lock);
	while (got < n && (s = slab_with_room(c)) != NULL)
		got += slab_take(c, s, out + got, n - got);
	pthread_mutex_unlock(&c->lock);
	return got;
}

void *sb_slab_alloc(struct sb_cache *c)
{
	void *p = NULL;

	sb_slab_alloc_batch(c, &p, 1);
	return p;
}

/* Index of the object at p in s, or -1 if p is not the start of one. */
static inline long object_index(const struct sb_slab *s, const void *p)
{
	const struct sb_cache *c = s->cache;
	uintptr_t off = (uintptr_t)p - (uintptr_t)s->objs;
	uint64_t idx;

	if ((uintptr_t)p < (uintptr_t)s->objs)
		return -1;
	idx = ((uint64_t)off * c->recip) >> 32;
	if (idx >= c->objs_per_slab || idx * c->size != off)
		return -1;
	return (long)idx;
}

bool sb_slab_is_object(const struct sb_slab *s, const void *p)
{
	return object_index(s, p) >= 0;
}

/* Put the object at idx of s back; the cache lock is held. */
static void slab_put(struct sb_cache *c, struct sb_slab *s, void *p, long idx, const char *func)
{
	unsigned w = (unsigned)idx / 64;
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
	c->active_objs--;
	if (sb_unlikely(s->nfree++ == 0))
		list_move(c, s, SB_SLAB_PARTIAL);
	if (sb_unlikely(s->nfree == c->objs_per_slab)) {
		if (c->lists[SB_SLAB_EMPTY].count >= c->reserve)
			slab_destroy(c, s);
		else
			list_move(c, s, SB_SLAB_EMPTY);
	}
}

void sb_slab_free(struct sb_slab *s, void *p, const char *func)
{
	struct sb_cache *c = s->cache;
	long idx = object_index(s, p);

	if (sb_unlikely(idx < 0))
		sb_fatal_pointer(func, "invalid pointer", p);
	pthread_mutex_lock(&c->lock);
	slab_put(c, s, p, idx, func);
	pthread_mutex_unlock(&c->lock);
}

void sb_slab_free_batch(struct sb_cache *c, void *const *objs, unsigned n)
{
	unsigned i;

	pthread_mutex_lock(&c->lock);
	for (i = 0; i < n; i++) {
		void *p = objs[i];
		struct sb_region *r = sb_registry_lookup(p);
		struct sb_slab *s = sb_region_page(r, p)->slab;
		long idx = object_index(s, p);

		if (sb_unlikely(idx < 0 || s->cache != c)) {
			pthread_mutex_unlock(&c->lock);
			sb_fatal_pointer("free", "invalid pointer", p);
		}
		slab_put(c, s, p, idx, "free");
	}
	pthread_mutex_unlock(&c->lock);
}

void sb_slab_destroy_all(struct sb_cache *c)
{
	unsigned l;

	pthread_mutex_lock(&c->lock);
	for (l = 0; l < 3; l++)
		while (c->lists[l].first != NULL)
			slab_destroy(c, c->lists[l].first);
	pthread_mutex_unlock(&c->lock);
}

size_t sb_slab_reclaim(void)
{
	struct sb_cache *c;
	size_t pages = 0;

	for (c = cache_head; c != NULL; c = c->next) {
		/* trylock: a destructor that allocates runs with its cache locked */
		if (pthread_mutex_trylock(&c->lock) != 0)
			continue;
		while (c->lists[SB_SLAB_EMPTY].first != NULL) {
			slab_destroy(c, c->lists[SB_SLAB_EMPTY].first);
			pages += c->pages_per_slab;
		}
		pthread_mutex_unlock(&c->lock);
	}
	return pages << SB_PAGE_SHIFT;
}

void sb_cache_list_lock(void)
{
	pthread_mutex_lock(&caches_lock);
}

void sb_cache_list_unlock(bool reinit)
{
	if (reinit)
		pthread_mutex_init(&caches_lock, NULL);
	else
		pthread_mutex_unlock(&caches_lock);
}

void sb_slab_fork_prepare(void)
{
	struct sb_cache *c;

	for (c = cache_head; c != NULL; c = c->next)
		pthread_mutex_lock(&c->lock);
}

void sb_slab_fork_parent(void)
{
	struct sb_cache *c;

	for (c = cache_head; c != NULL; c = c->next)
		pthread_mutex_unlock(&c->lock);
}

void sb_slab_fork_child(void)
{
	struct sb_cache *c;

	for (c = cache_head; c != NULL; c = c->next)
		pthread_mutex_init(&c->lock, NULL);
}
