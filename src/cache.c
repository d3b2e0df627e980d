/*
 * cache.c - dedicated object caches: the kernel's kmem_cache in user space.
 *
 * sb_cache_create() makes a slab cache for one kind of object (Bonwick,
 * 1994).  The constructor runs when a slab is populated, once per object
 * slot; objects then keep their constructed state through sb_cache_free()
 * and the next sb_cache_alloc(), in magazines, in the depot and in the slab,
 * and the destructor runs only when a slab goes back to the buddy allocator
 * (a reclaim: malloc_trim(), memory running out, or sb_cache_destroy()).
 * To keep that promise cheap, a cache with a constructor keeps its empty
 * slabs until such a reclaim instead of returning all but one at once.
 *
 * A dedicated cache is served exactly like a size class: it takes one of
 * SB_MAX_DEDICATED bin indices after the size classes, so every thread has
 * a loaded and a previous magazine for it and the depot sits behind them;
 * sb_cache_alloc() and sb_cache_free() are the same pop and push as malloc
 * and free.  free() of one of its objects finds the cache from the page
 * descriptor (the bin index is the SLAB page's `order`) and returns it
 * there.  sb_class_info[] has span 0 for these indices, so the free fast
 * path sends them to the slow path, which knows the cache.
 *
 * sb_cache_destroy() first takes back the objects every thread's magazines
 * and the depot hold; objects still allocated after that are reported
 * (count and cache name) and the cache is left alone.  A destroyed cache's
 * struct is never freed or reused in place: it stays on the list of caches,
 * marked dead, because reclaim, fork and the signal-time statistics dump
 * walk that list and take its lock at any time; its bin index goes to the
 * next cache created.  No thread may use a cache during or after its
 * destruction.
 *
 * Locking: create and destroy hold slot_lock; below that, the magazine,
 * depot and slab layers take their own locks.
 */
#include "internal.h"
#include "sbmalloc.h"

#include <errno.h>
#include <string.h>

static pthread_mutex_t slot_lock = PTHREAD_MUTEX_INITIALIZER;

#define SB_DEDICATED_MAX_SIZE (8 * SB_PAGE_SIZE)

SB_EXPORT struct sb_cache *sb_cache_create(const char *name, size_t size, size_t align,
					   void (*ctor)(void *obj, void *arg),
					   void (*dtor)(void *obj, void *arg), void *arg)
{
	struct sb_cache *c = NULL;
	unsigned slot;

	if (name == NULL || size == 0 || size > SB_DEDICATED_MAX_SIZE ||
	    (align != 0 && (!sb_is_pow2(align) || align > SB_PAGE_SIZE)) ||
	    (dtor != NULL && ctor == NULL)) {
		errno = EINVAL;
		return NULL;
	}
	sb_ensure_init();
	pthread_mutex_lock(&slot_lock);
	for (slot = SB_NR_CLASSES; slot < SB_NR_BINS; slot++)
		if (sb_cache_of[slot] == NULL || sb_cache_of[slot]->dead)
			break;
	if (slot == SB_NR_BINS || (c = sb_meta_alloc(sizeof(*c))) == NULL) {
		errno = ENOMEM;
		goto out;
	}
	sb_cache_setup(c, name, sb_align_up(size, SB_ALIGNMENT), align ? align : SB_ALIGNMENT);
	c->class_index = (uint8_t)slot;
	c->ctor = ctor;
	c->dtor = dtor;
	c->ctor_arg = arg;
	if (ctor != NULL)
		c->reserve = UINT32_MAX;
	sb_cache_register(c);
	__atomic_store_n(&sb_cache_of[slot], c, __ATOMIC_RELEASE);
out:
	pthread_mutex_unlock(&slot_lock);
	return c;
}

/* The object at obj if it is the start of an object of c; abort otherwise. */
static inline void check_object(struct sb_cache *c, void *obj, const char *func)
{
	struct sb_region *r = sb_registry_lookup(obj);
	struct sb_page *pg;

	if (r == NULL || r->kind != SB_MAP_REGION)
		sb_fatal_pointer(func, "invalid pointer", obj);
	pg = sb_region_page(r, obj);
	if (pg->state != SB_PAGE_SLAB || pg->slab->cache != c)
		sb_fatal_pointer(func, "object of another cache", obj);
	if (!sb_slab_is_object(pg->slab, obj))
		sb_fatal_pointer(func, "invalid pointer", obj);
}

SB_EXPORT void *sb_cache_alloc(struct sb_cache *c)
{
	void *p;

	if (sb_likely(sb_mag_pop(c->class_index, &p)))
		return p;
	p = sb_mag_alloc_slow(c->class_index);
	if (sb_unlikely(sb_stats_on) && p != NULL)
		sb_stats_live((long)c->size);
	return p;
}

SB_EXPORT void sb_cache_free(struct sb_cache *c, void *obj)
{
	if (obj == NULL)
		return;
	check_object(c, obj, "sb_cache_free");
	if (sb_likely(sb_mag_push(c->class_index, obj, "sb_cache_free")))
		return;
	if (sb_unlikely(sb_stats_on))
		sb_stats_live(-(long)c->size);
	sb_mag_free_slow(c->class_index, obj, "sb_cache_free");
}

SB_EXPORT void sb_cache_destroy(struct sb_cache *c)
{
	char num[24];
	size_t live;

	if (c == NULL)
		return;
	pthread_mutex_lock(&slot_lock);
	sb_mag_drain(c->class_index);
	pthread_mutex_lock(&c->lock);
	live = c->active_objs;
	pthread_mutex_unlock(&c->lock);
	if (live != 0) {
		sb_fmt_u64(num, sizeof(num), live);
		sb_write_str(2, "sbmalloc: sb_cache_destroy(): cache ");
		sb_write_str(2, c->name);
		sb_write_str(2, " still has ");
		sb_write_str(2, num);
		sb_write_str(2, " objects allocated; not destroyed\n");
		pthread_mutex_unlock(&slot_lock);
		return;
	}
	sb_slab_destroy_all(c);
	c->dead = true;
	pthread_mutex_unlock(&slot_lock);
}
