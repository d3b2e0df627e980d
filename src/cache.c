/*
 * cache.c - object caches: the kernel's kmem_cache in user space.
 *
 * A cache is the composition of the layers below: a slab cache (slab.c),
 * the depot behind it (depot.c) and a bin index, under which every thread
 * keeps its magazines for the cache (tcache.c).  The 36 size classes are
 * caches made at bring-up (bins 0..35, "malloc-N"); sb_cache_create()
 * makes dedicated ones (Bonwick, 1994) in the SB_MAX_DEDICATED bins after
 * them, served exactly like a size class: sb_cache_alloc() and
 * sb_cache_free() are the same pop and push as malloc and free.  free() of
 * one of its objects finds the bin from the page descriptor and returns it
 * there (their slabs refuse the free fast path's object test, so such a
 * free takes the slow path).
 *
 * The constructor runs when a slab is populated, once per object slot;
 * objects then keep their constructed state through sb_cache_free() and
 * the next sb_cache_alloc(), in magazines, in the depot and in the slab,
 * and the destructor runs only when a slab goes back to the buddy
 * allocator (a reclaim: malloc_trim(), memory running out, or
 * sb_cache_destroy()).  To keep that promise cheap, a cache with a
 * constructor keeps its empty slabs until such a reclaim.
 *
 * sb_cache_destroy() first takes back the objects every thread's magazines
 * and the depot hold; objects still allocated after that are reported
 * (count and cache name) and the cache is left alone.  A destroyed cache's
 * struct is never freed or reused in place: it stays on the list of caches,
 * marked dead, because reclaim, fork and the signal-time statistics dump
 * walk that list and take its locks at any time; its bin goes to the next
 * cache created.  No thread may use a cache during or after its
 * destruction.
 *
 * Locks: slot_lock serialises create and destroy (bins, the list); the
 * list is also read without it (pushed with release ordering, never
 * shortened).  Lock order: fork.c.
 */
#include "cache.h"
#include "buddy.h"
#include "config.h"
#include "depot.h"
#include "init.h"
#include "key.h"
#include "meta.h"
#include "report.h"
#include "sizeclass.h"
#include "slab.h"
#include "tcache.h"
#include "sbmalloc.h"

#include <errno.h>
#include <string.h>

struct sb_cache {
	struct sb_slab_cache slab;	/* written by slab.c */
	struct sb_depot depot;		/* written by depot.c */
	unsigned bin;
	bool dead;			/* destroyed dedicated cache, kept for its bin */
	struct sb_cache *next;		/* every cache */
};

#define SB_DEDICATED_MAX_SIZE (8 * SB_PAGE_SIZE)

static struct sb_cache size_caches[SB_NR_CLASSES];
static struct sb_cache *bin_cache[SB_NR_BINS];
static struct sb_cache *cache_list;	/* release; push-only */
static pthread_mutex_t slot_lock = PTHREAD_MUTEX_INITIALIZER;

/* Set c up for bin and put it on the list; slot_lock held (or bring-up). */
static void cache_setup(struct sb_cache *c, const char *name, size_t size, size_t align,
			unsigned bin)
{
	sb_slab_cache_init(&c->slab, name, size, align, bin);
	sb_depot_init(&c->depot, &c->slab);
	c->bin = bin;
	c->dead = false;
}

static void cache_publish(struct sb_cache *c)
{
	c->next = cache_list;
	__atomic_store_n(&cache_list, c, __ATOMIC_RELEASE);
	__atomic_store_n(&bin_cache[c->bin], c, __ATOMIC_RELEASE);
	sb_tc_attach(c->bin, &c->depot);
}

void sb_caches_init(void)
{
	char name[SB_CACHE_NAME_MAX];
	unsigned i;

	for (i = SB_NR_CLASSES; i-- > 0;) {
		memcpy(name, "malloc-", 7);
		sb_fmt_u64(name + 7, sizeof(name) - 7, sb_class_size(i));
		cache_setup(&size_caches[i], name, sb_class_size(i), 0, i);
		/* SBMALLOC_CHECK: every free through the slow paths, where red
		 * zones and tracks are checked. */
		if (!sb_config.check)
			sb_slab_cache_set_fast_free(&size_caches[i].slab);
		cache_publish(&size_caches[i]);
	}
}

struct sb_cache *sb_cache_first(void)
{
	return __atomic_load_n(&cache_list, __ATOMIC_ACQUIRE);
}

struct sb_cache *sb_cache_next(const struct sb_cache *c)
{
	return c->next;
}

bool sb_cache_is_dead(const struct sb_cache *c)
{
	return sb_read_once(c->dead);
}

struct sb_slab_cache *sb_cache_slab(struct sb_cache *c)
{
	return &c->slab;
}

struct sb_depot *sb_cache_depot(struct sb_cache *c)
{
	return &c->depot;
}

struct sb_cache *sb_cache_of_class(unsigned cls)
{
	SB_ASSERT(cls < SB_NR_CLASSES);
	return &size_caches[cls];
}

/* ---- The public interface ---------------------------------------------- */

SB_EXPORT struct sb_cache *sb_cache_create(const char *name, size_t size, size_t align,
					   void (*ctor)(void *obj, void *arg),
					   void (*dtor)(void *obj, void *arg), void *arg)
{
	struct sb_cache *c = NULL;
	unsigned bin;

	if (name == NULL || size == 0 || size > SB_DEDICATED_MAX_SIZE ||
	    (align != 0 && (!sb_is_pow2(align) || align > SB_PAGE_SIZE)) ||
	    (dtor != NULL && ctor == NULL)) {
		errno = EINVAL;
		return NULL;
	}
	sb_ensure_init();
	pthread_mutex_lock(&slot_lock);
	for (bin = SB_NR_CLASSES; bin < SB_NR_BINS; bin++)
		if (bin_cache[bin] == NULL || bin_cache[bin]->dead)
			break;
	if (bin == SB_NR_BINS || (c = sb_meta_alloc(sizeof(*c))) == NULL) {
		pthread_mutex_unlock(&slot_lock);
		errno = ENOMEM;
		return NULL;
	}
	cache_setup(c, name, size, align ? align : SB_ALIGNMENT, bin);
	sb_slab_cache_set_ctor(&c->slab, ctor, dtor, arg);
	cache_publish(c);
	pthread_mutex_unlock(&slot_lock);
	return c;
}

/* Abort, naming func, unless obj is the start of an object of c; its slab. */
static inline struct sb_slab *check_object(struct sb_cache *c, void *obj, const char *func)
{
	struct sb_page *pg = sb_page_of(obj);

	if (pg == NULL)
		sb_fatal_pointer(func, "invalid pointer", obj);
	if (sb_page_state(pg) != SB_PAGE_SLAB || sb_slab_cache_of(sb_page_slab(pg)) != &c->slab)
		sb_fatal_pointer(func, "object of another cache", obj);
	if (!sb_slab_is_object(sb_page_slab(pg), obj))
		sb_fatal_pointer(func, "invalid pointer", obj);
	return sb_page_slab(pg);
}

/*
 * p leaves its cache for the program: the free key is cleared, or, in a
 * cache with a constructor, whose objects carry no key, the live bit set.
 */
static inline void object_out(struct sb_cache *c, void *p, const char *func)
{
	if (sb_likely(sb_slab_keyed(&c->slab)))
		sb_key_mark_live(p);
	else if (sb_slab_set_live(sb_page_slab(sb_page_of(p)), p))
		sb_fatal_pointer(func, "object handed out twice", p);
	if (sb_unlikely(sb_config.check))
		sb_slab_debug_alloc(p, sb_slab_size(&c->slab), func);
}

void sb_cache_object_back(unsigned bin, struct sb_slab *s, void *p, const char *func)
{
	if (sb_likely(sb_slab_keyed(sb_slab_cache_of(s)))) {
		if (sb_unlikely(sb_key_says_free(p)))
			sb_tc_check_suspect(bin, p, func);
		sb_key_mark_free(p);
	} else if (!sb_slab_clear_live(s, p)) {
		sb_fatal_pointer(func, "double free", p);
	}
	if (sb_tc_of_token(sb_slab_owner(s)) != sb_tc || !sb_tc_push(bin, p))
		sb_tc_free_other(bin, p, sb_slab_owner(s), func);
}

SB_EXPORT void *sb_cache_alloc(struct sb_cache *c)
{
	void *p;

	if (sb_unlikely(!sb_tc_pop(c->bin, &p))) {
		p = sb_tc_alloc_slow(c->bin, "sb_cache_alloc");
		if (p == NULL) {
			errno = ENOMEM;
			return NULL;
		}
	}
	object_out(c, p, "sb_cache_alloc");
	return p;
}

SB_EXPORT void sb_cache_free(struct sb_cache *c, void *obj)
{
	struct sb_slab *s;

	if (obj == NULL)
		return;
	s = check_object(c, obj, "sb_cache_free");
	if (sb_unlikely(sb_config.check))
		sb_slab_debug_free(obj, "sb_cache_free");
	sb_cache_object_back(c->bin, s, obj, "sb_cache_free");
}

SB_EXPORT void sb_cache_destroy(struct sb_cache *c)
{
	char num[24];
	size_t live;

	if (c == NULL)
		return;
	pthread_mutex_lock(&slot_lock);
	sb_tc_drain(c->bin, "sb_cache_destroy");
	sb_depot_reap(&c->depot, true, "sb_cache_destroy");
	live = sb_slab_active(&c->slab);
	if (live != 0) {
		sb_fmt_u64(num, sizeof(num), live);
		sb_write_str(2, "sbmalloc: sb_cache_destroy(): cache ");
		sb_write_str(2, c->slab.name);
		sb_write_str(2, " still has ");
		sb_write_str(2, num);
		sb_write_str(2, " objects allocated; not destroyed\n");
		pthread_mutex_unlock(&slot_lock);
		return;
	}
	sb_slab_destroy_all(&c->slab);
	sb_write_once(c->dead, true);
	pthread_mutex_unlock(&slot_lock);
}

/* ---- Fork -------------------------------------------------------------- */

void sb_cache_slots_fork_prepare(void)
{
	pthread_mutex_lock(&slot_lock);
}

void sb_cache_slots_fork_parent(void)
{
	pthread_mutex_unlock(&slot_lock);
}

void sb_cache_slots_fork_child(void)
{
	pthread_mutex_unlock(&slot_lock);
}

void sb_cache_fork_prepare(void)
{
	struct sb_cache *c;

	for (c = cache_list; c != NULL; c = c->next)
		sb_depot_lock(&c->depot);
	for (c = cache_list; c != NULL; c = c->next)
		sb_slab_lock(&c->slab);
}

void sb_cache_fork_parent(void)
{
	struct sb_cache *c;

	for (c = cache_list; c != NULL; c = c->next)
		sb_slab_unlock(&c->slab);
	for (c = cache_list; c != NULL; c = c->next)
		sb_depot_unlock(&c->depot);
}

void sb_cache_fork_child(void)
{
	sb_cache_fork_parent();
}
