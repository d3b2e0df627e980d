/*
 * malloc.c - the malloc family, on top of the slab, buddy and region layers.
 *
 * Where a request goes:
 *   size <= 16 KiB           the thread's magazine for its size class
 *                            (magazine.c), behind it the depot and the
 *                            slab cache of the class (depot.c, slab.c)
 *   size <= 4 MiB            whole pages: the thread's page-block cache up
 *                            to 64 KiB, else the buddy allocator (buddy.c)
 *   larger                   a mapping of its own (region.c)
 * Aligned requests take the first size class whose objects are naturally
 * aligned enough, or a buddy block of at least the alignment's order (buddy
 * blocks are aligned to their size), or an aligned mapping.
 *
 * Where a pointer comes from: the registry gives the region (or huge
 * block) that owns its 32 MiB of address space; the page descriptor says
 * slab, allocated block head, or neither.  A pointer that is not the start
 * of a live object stops the program with a message naming the function,
 * as glibc does; nothing is written to the heap first.
 *
 * Interposition: every public name is an alias of one internal function
 * (no wrapper frame), including glibc's own entry points (__libc_malloc and
 * friends), so that memory glibc allocates internally also comes from here.
 *
 * The fast paths, inline here: malloc of up to 1 KiB is a table lookup of
 * the class and a pop from the loaded magazine; free is the registry, the
 * page descriptor, a check that the pointer starts an object of its slab
 * (one multiply by the class's reciprocal), a check that it is not the
 * object freed just before, and a push.  No lock, no atomic operation, no
 * call.  Everything else is out of line.
 *
 * Start-up: the first call may come from ld.so before libc is initialised
 * and before our constructor.  Nothing on the way allocates, calls dlsym,
 * getenv or stdio.  Thread state is reached through an initial-exec TLS
 * pointer that starts at a static sentinel (magazine.c), so a thread's
 * first call takes the slow path that sets it up.  The constructor
 * re-reads the environment, creates the thread-exit key and registers the
 * fork handlers.
 *
 * Fork: the prepare handler takes every lock in the documented order
 * (thread-cache list, the list of caches, depot locks, cache locks, then
 * region.c's: grow, regions, huge, meta); the parent releases them, the
 * child re-initialises them.
 */
#include "internal.h"

#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SB_ALIAS(target) __attribute__((alias(#target), used, visibility("default")))

/* ---- Start-up ---------------------------------------------------------- */

/* ---- Allocation -------------------------------------------------------- */

static inline void *alloc_small(unsigned cls)
{
	void *p;

	if (sb_likely(sb_mag_pop(cls, &p)))
		return p;
	return sb_mag_alloc_slow(cls);
}

static SB_NOINLINE void *alloc_large(size_t size, size_t align)
{
	struct sb_huge *h;
	size_t npages;
	void *p;

	if (sb_unlikely(size > PTRDIFF_MAX)) {
		errno = ENOMEM;
		return NULL;
	}
	sb_ensure_init();
	if (size <= SB_MAX_BLOCK_SIZE && align <= SB_MAX_BLOCK_SIZE) {
		npages = (size + SB_PAGE_SIZE - 1) >> SB_PAGE_SHIFT;
		if (align <= SB_PAGE_SIZE && (p = sb_tc_large_alloc(npages)) != NULL) {
			sb_count(SB_ST_MALLOC_PAGES, 1);
			return p;
		}
		p = sb_buddy_alloc(npages, align > SB_PAGE_SIZE ? align >> SB_PAGE_SHIFT : 1);
		if (p == NULL)
			errno = ENOMEM;
		else
			sb_count(SB_ST_MALLOC_BUDDY, 1);
		return p;
	}
	h = sb_huge_alloc(size, align);
	if (h == NULL)
		return NULL;
	sb_count(SB_ST_MALLOC_HUGE, 1);
	return h->base;
}

static size_t usable_size(void *p);

/* Counting mode: bytes asked for and handed out, and the live total. */
static SB_NOINLINE void count_alloc(void *p, size_t size)
{
	size_t usable = usable_size(p);

	sb_count(SB_ST_REQUESTED, size);
	sb_count(SB_ST_HANDED_OUT, usable);
	sb_stats_live((long)usable);
}

static SB_NOINLINE void *malloc_slower(size_t size)
{
	void *p;

	sb_ensure_init();
	if (size <= SB_SMALL_MAX)
		p = alloc_small(sb_size_class(size));
	else
		p = alloc_large(size, 0);
	if (sb_unlikely(sb_stats_on) && p != NULL)
		count_alloc(p, size);
	return p;
}

static SB_NOINLINE void *malloc_slow(size_t size)
{
	size_t npages = (size + SB_PAGE_SIZE - 1) >> SB_PAGE_SHIFT;

	if (size > SB_SMALL_MAX && npages <= SB_TC_LARGE_PAGES) {
		struct sb_large_bin *lb = &sb_tc->large[npages];

		if (lb->count != 0)
			return lb->blocks[--lb->count];
	}
	return malloc_slower(size);
}

static SB_NOINLINE void *calloc_slow(size_t size)
{
	void *p = malloc_slow(size);

	if (p != NULL)
		sb_count(SB_ST_CALLOC, 1);
	return p;
}

/*
 * The malloc fast path: a class lookup and a pop.  `slow` is where a miss
 * goes: a different function for calloc, so that counting calloc costs the
 * fast path nothing.
 */
static inline void *sb_alloc_with(size_t size, void *(*slow)(size_t))
{
	void *p;

	if (sb_likely(size <= SB_SMALL_MAX) &&
	    sb_likely(sb_mag_pop(sb_class_lookup[(size + 15) >> 4], &p)))
		return p;
	return slow(size);
}

static inline void *sb_alloc(size_t size)
{
	return sb_alloc_with(size, malloc_slow);
}

static void *alloc_aligned(size_t align, size_t size)
{
	size_t rounded;
	unsigned cls;

	if (align <= SB_PAGE_SIZE && size <= SB_SMALL_MAX) {
		rounded = sb_align_up(size ? size : 1, align);
		if (rounded <= SB_SMALL_MAX) {
			for (cls = sb_size_class(rounded); cls < sb_nr_classes; cls++)
				if (sb_size_caches[cls].align >= align)
					return alloc_small(cls);
		}
	}
	return alloc_large(size ? size : 1, align);
}

static void *sb_alloc_aligned(size_t align, size_t size)
{
	void *p;

	if (align <= SB_ALIGNMENT)
		return sb_alloc(size);
	sb_ensure_init();
	p = alloc_aligned(align, size);
	if (sb_unlikely(sb_stats_on) && p != NULL) {
		sb_count(SB_ST_ALIGNED, 1);
		count_alloc(p, size);
	}
	return p;
}

/* ---- Finding a pointer's block ---------------------------------------- */

enum sb_kind { SB_KIND_SLAB, SB_KIND_LARGE, SB_KIND_HUGE };

struct sb_block {
	enum sb_kind kind;
	struct sb_region *region;
	struct sb_page *page;
	struct sb_huge *huge;
};

/*
 * Classify p, a pointer the caller says we handed out; abort, naming func,
 * if it is not the start of a live object or block.
 */
static void find_block(const void *p, const char *func, struct sb_block *b)
{
	void *owner = sb_registry_lookup(p);

	if (sb_unlikely(owner == NULL))
		sb_fatal_pointer(func, "invalid pointer", p);
	if (sb_likely(*(enum sb_map_kind *)owner == SB_MAP_REGION)) {
		struct sb_region *r = owner;
		struct sb_page *pg = sb_region_page(r, p);
		unsigned state = __atomic_load_n(&pg->state, __ATOMIC_ACQUIRE);

		b->region = r;
		b->page = pg;
		if (sb_likely(state == SB_PAGE_SLAB)) {
			if (sb_unlikely(!sb_slab_is_object(pg->slab, p)))
				sb_fatal_pointer(func, "invalid pointer", p);
			b->kind = SB_KIND_SLAB;
			return;
		}
		if (((uintptr_t)p & (SB_PAGE_SIZE - 1)) == 0) {
			if (state == SB_PAGE_LARGE) {
				b->kind = SB_KIND_LARGE;
				return;
			}
			if (state == SB_PAGE_FREE || state == SB_PAGE_MERGED)
				sb_fatal_pointer(func, "double free", p);
		}
		sb_fatal_pointer(func, "invalid pointer", p);
	}
	b->huge = owner;
	if (sb_unlikely(p != b->huge->base))
		sb_fatal_pointer(func, "invalid pointer", p);
	b->kind = SB_KIND_HUGE;
}

static inline size_t block_usable(const struct sb_block *b)
{
	switch (b->kind) {
	case SB_KIND_SLAB:
		return b->page->slab->cache->size;
	case SB_KIND_LARGE:
		return (size_t)b->page->npages << SB_PAGE_SHIFT;
	default:
		return b->huge->size;
	}
}

static SB_NOINLINE void free_slow(void *p, const char *func)
{
	struct sb_block b;
	unsigned cls;

	if (p == NULL)
		return;
	find_block(p, func, &b);
	if (sb_unlikely(sb_stats_on))
		sb_stats_live(-(long)block_usable(&b));
	switch (b.kind) {
	case SB_KIND_SLAB:
		cls = b.page->order;
		if (cls == SB_NO_CLASS)
			sb_slab_free(b.page->slab, p, func);
		else
			sb_mag_free_slow(cls, p, func);
		return;
	case SB_KIND_LARGE:
		if (b.page->npages <= SB_TC_LARGE_PAGES &&
		    sb_tc_large_free(b.page->npages, p, func)) {
			sb_count(SB_ST_FREE_PAGES, 1);
			return;
		}
		sb_count(SB_ST_FREE_BUDDY, 1);
		sb_buddy_free(b.region, p);
		return;
	case SB_KIND_HUGE:
		sb_count(SB_ST_FREE_HUGE, 1);
		sb_huge_free(b.huge);
		return;
	}
}

static size_t usable_size(void *p)
{
	struct sb_block b;

	find_block(p, "malloc_usable_size", &b);
	return block_usable(&b);
}

/*
 * The page descriptor of p, or NULL when no region holds p.  A huge block's
 * address space maps to sb_huge_stub, whose descriptors are all UNUSED.
 * Reads only the registry.
 */
static inline struct sb_page *page_of(const void *p)
{
	uintptr_t a = (uintptr_t)p;
	struct sb_region *r;

	if (sb_unlikely((a >> SB_REGION_SHIFT) >= SB_REGISTRY_ENTRIES))
		return NULL;
	r = sb_registry[a >> SB_REGION_SHIFT];
	if (sb_unlikely(r == NULL))
		return NULL;
	return sb_region_page(r, p);
}

/*
 * If p, on the SLAB page pg, is the start of an object of a size class, its
 * class's entry, else NULL (dedicated caches have span 0).  One multiply by
 * the class's reciprocal; reads the slab descriptor and the class table.
 */
static inline const struct sb_class_info *class_object(const struct sb_page *pg, const void *p)
{
	const struct sb_class_info *ci = &sb_class_info[pg->order];
	uintptr_t off = (uintptr_t)p - (uintptr_t)pg->slab->objs;

	if (sb_unlikely(off >= ci->span ||
			((off * (uint64_t)ci->recip) >> 32) * ci->size != off))
		return NULL;
	return ci;
}

/* p's size-class entry if p starts an object of a size class, else NULL. */
static inline const struct sb_class_info *small_object(const void *p)
{
	const struct sb_page *pg = page_of(p);

	if (sb_unlikely(pg == NULL || pg->state != SB_PAGE_SLAB))
		return NULL;
	return class_object(pg, p);
}

static inline size_t class_index(const struct sb_class_info *ci)
{
	return (size_t)(ci - sb_class_info);
}

/* Push p, a validated object of class ci, onto this thread's magazine. */
static inline void push_object(const struct sb_class_info *ci, void *p, const char *func)
{
	if (sb_unlikely(!sb_mag_push(class_index(ci), p, func)))
		free_slow(p, func);
}

/*
 * free of a pointer whose page descriptor pg is not a slab page: the common
 * case is a page block of up to 64 KiB, kept in the thread's cache after a
 * look at the descriptor and the bin; the rest goes to free_slow().
 */
static SB_NOINLINE void free_page(struct sb_page *pg, void *p, const char *func)
{
	struct sb_tcache *tc = sb_tc;
	uint32_t n = pg->npages;

	if (pg->state == SB_PAGE_LARGE && n <= SB_TC_LARGE_PAGES &&
	    ((uintptr_t)p & (SB_PAGE_SIZE - 1)) == 0 && tc->state == SB_TC_LIVE &&
	    sb_large_bin_push(&tc->large[n], p, func))
		return;
	free_slow(p, func);
}

static inline void sb_free_named(void *p, const char *func)
{
	const struct sb_class_info *ci;
	struct sb_page *pg = page_of(p);

	if (sb_unlikely(pg == NULL)) {
		free_slow(p, func);
		return;
	}
	if (sb_unlikely(pg->state != SB_PAGE_SLAB)) {
		free_page(pg, p, func);
		return;
	}
	ci = class_object(pg, p);
	if (sb_unlikely(ci == NULL)) {
		free_slow(p, func);
		return;
	}
	push_object(ci, p, func);
}

/* ---- The public functions --------------------------------------------- */

SB_EXPORT const char *sb_version(void)
{
	return PACKAGE_VERSION;
}

SB_EXPORT int sb_owns(const void *p)
{
	return sb_registry_lookup(p) != NULL;
}

void *sb_impl_malloc(size_t size)
{
	return sb_alloc(size);
}

void sb_impl_free(void *p)
{
	sb_free_named(p, "free");
}

void sb_impl_free_sized(void *p, size_t size)
{
	sb_free_named(p, "free_sized");
}

void sb_impl_free_aligned_sized(void *p, size_t align, size_t size)
{
	sb_free_named(p, "free_aligned_sized");
}

void *sb_impl_calloc(size_t n, size_t size)
{
	size_t total;
	void *p;

	if (sb_unlikely(__builtin_mul_overflow(n, size, &total))) {
		errno = ENOMEM;
		return NULL;
	}
	p = sb_alloc_with(total, calloc_slow);
	if (sb_unlikely(p == NULL))
		return NULL;
	if (sb_unlikely(total > SB_MAX_BLOCK_SIZE))
		return p;	/* a huge block is always a fresh mapping: it reads zero */
	return memset(p, 0, total);
}

static SB_NOINLINE void *realloc_move(void *p, size_t old, size_t size)
{
	void *q = sb_alloc(size);

	if (q == NULL)
		return NULL;
	sb_count(SB_ST_REALLOC_MOVE, 1);
	memcpy(q, p, old < size ? old : size);
	sb_free_named(p, "realloc");
	return q;
}

/* Counting mode: a block of kind was resized in place from old bytes. */
static void count_in_place(enum sb_stat kind, void *p, size_t old, size_t size)
{
	size_t usable;

	if (sb_likely(!sb_stats_on))
		return;
	usable = usable_size(p);

	sb_count(kind, 1);
	sb_count(SB_ST_REQUESTED, size);
	sb_count(SB_ST_HANDED_OUT, usable);
	sb_stats_live((long)usable - (long)old);
}

static SB_NOINLINE void *realloc_slow(void *p, size_t size)
{
	struct sb_block b;
	size_t old;

	if (p == NULL)
		return sb_alloc(size);
	if (size == 0) {
		sb_free_named(p, "realloc");
		return NULL;
	}
	if (sb_unlikely(size > PTRDIFF_MAX)) {
		errno = ENOMEM;
		return NULL;
	}
	find_block(p, "realloc", &b);
	old = block_usable(&b);
	switch (b.kind) {
	case SB_KIND_SLAB:
		if (size <= old && size >= old / 2) {
			count_in_place(SB_ST_REALLOC_SLAB, p, old, size);
			return p;
		}
		break;
	case SB_KIND_LARGE:
		if (size > SB_SMALL_MAX && size <= SB_MAX_BLOCK_SIZE &&
		    sb_buddy_resize(b.region, p, (size + SB_PAGE_SIZE - 1) >> SB_PAGE_SHIFT)) {
			count_in_place(SB_ST_REALLOC_BUDDY, p, old, size);
			return p;
		}
		break;
	case SB_KIND_HUGE:
		if (size > SB_MAX_BLOCK_SIZE && sb_huge_resize(&b.huge, size)) {
			count_in_place(SB_ST_REALLOC_HUGE, b.huge->base, old, size);
			return b.huge->base;
		}
		break;
	}
	return realloc_move(p, old, size);
}

/* Move a small object to a new one of size (0 < size <= SB_SMALL_MAX). */
static SB_NOINLINE void *realloc_small_move(const struct sb_class_info *ci, void *p, size_t size)
{
	void *q;

	if (sb_unlikely(sb_stats_on)) {
		/* keep_min is out of reach while counting: the in-place case lands here. */
		if (size <= ci->size && size >= ci->size / 2) {
			count_in_place(SB_ST_REALLOC_SLAB, p, ci->size, size);
			return p;
		}
		return realloc_move(p, ci->size, size);
	}
	q = sb_alloc(size);
	if (sb_unlikely(q == NULL))
		return NULL;
	memcpy(q, p, size < ci->size ? size : ci->size);
	push_object(ci, p, "realloc");
	return q;
}

void *sb_impl_realloc(void *p, size_t size)
{
	const struct sb_class_info *ci = small_object(p);

	if (sb_likely(ci != NULL)) {
		if (sb_likely(size <= ci->size && size >= ci->keep_min))
			return p;
		if (size - 1 < SB_SMALL_MAX)
			return realloc_small_move(ci, p, size);
	}
	return realloc_slow(p, size);
}

void *sb_impl_reallocarray(void *p, size_t n, size_t size)
{
	size_t total;

	if (__builtin_mul_overflow(n, size, &total)) {
		errno = ENOMEM;
		return NULL;
	}
	return sb_impl_realloc(p, total);
}

int sb_impl_posix_memalign(void **memptr, size_t align, size_t size)
{
	void *p;

	if (!sb_is_pow2(align) || align % sizeof(void *) != 0)
		return EINVAL;
	p = sb_alloc_aligned(align, size);
	if (p == NULL)
		return ENOMEM;
	*memptr = p;
	return 0;
}

void *sb_impl_aligned_alloc(size_t align, size_t size)
{
	if (!sb_is_pow2(align)) {
		errno = EINVAL;
		return NULL;
	}
	return sb_alloc_aligned(align, size);
}

void *sb_impl_memalign(size_t align, size_t size)
{
	if (align > ((size_t)1 << 62)) {
		errno = EINVAL;
		return NULL;
	}
	if (!sb_is_pow2(align))
		align = align < 2 ? 1 : (size_t)1 << sb_ceil_log2(align);
	return sb_alloc_aligned(align, size);
}

void *sb_impl_valloc(size_t size)
{
	return sb_alloc_aligned(SB_PAGE_SIZE, size);
}

void *sb_impl_pvalloc(size_t size)
{
	if (size > PTRDIFF_MAX) {
		errno = ENOMEM;
		return NULL;
	}
	return sb_alloc_aligned(SB_PAGE_SIZE, size ? sb_align_up(size, SB_PAGE_SIZE) : SB_PAGE_SIZE);
}

size_t sb_impl_malloc_usable_size(void *p)
{
	return p == NULL ? 0 : usable_size(p);
}

int sb_impl_malloc_trim(size_t pad)
{
	size_t released;

	struct sb_cache *c;

	sb_ensure_init();
	sb_tc_flush();
	for (c = sb_cache_list(); c != NULL; c = c->next)
		sb_depot_reap(c, true);
	released = sb_slab_reclaim();
	released += sb_buddy_trim();
	return released > 0;
}

int sb_impl_mallopt(int param, int value)
{
	sb_ensure_init();
	switch (param) {
	case M_TRIM_THRESHOLD:
		if (value < 0)
			return 0;
		sb_config.dirty_max = (size_t)value;
		return 1;
	case M_TOP_PAD: case M_MMAP_THRESHOLD: case M_MMAP_MAX:
	case M_CHECK_ACTION: case M_PERTURB: case M_ARENA_TEST:
	case M_ARENA_MAX: case M_MXFAST:
		/* glibc tunables with no counterpart here: accepted, no effect. */
		return 1;
	default:
		return 0;
	}
}

struct mallinfo2 sb_impl_mallinfo2(void)
{
	struct mallinfo2 mi;
	struct sb_heap_usage u;

	sb_ensure_init();
	sb_heap_usage(&u);
	memset(&mi, 0, sizeof(mi));
	mi.arena = u.mapped - u.huge_bytes;
	mi.hblks = u.huge_count;
	mi.hblkhd = u.huge_bytes;
	mi.uordblks = u.in_use - u.huge_bytes;
	mi.fordblks = u.free;
	mi.keepcost = u.dirty;
	return mi;
}

struct mallinfo sb_impl_mallinfo(void)
{
	struct mallinfo2 m2 = sb_impl_mallinfo2();
	struct mallinfo mi;

#define CLAMP(v) ((int)((v) > (size_t)0x7fffffff ? 0x7fffffff : (v)))
	memset(&mi, 0, sizeof(mi));
	mi.arena = CLAMP(m2.arena);
	mi.hblks = CLAMP(m2.hblks);
	mi.hblkhd = CLAMP(m2.hblkhd);
	mi.uordblks = CLAMP(m2.uordblks);
	mi.fordblks = CLAMP(m2.fordblks);
	mi.keepcost = CLAMP(m2.keepcost);
#undef CLAMP
	return mi;
}

void sb_impl_malloc_stats(void)
{
	sb_ensure_init();
	sb_stats_dump(2, true);
}

SB_EXPORT void sb_stats_print(int fd)
{
	sb_ensure_init();
	sb_stats_dump(fd, true);
}

/* ---- Aliases: the names programs and glibc call ------------------------ */

void *malloc(size_t size) SB_ALIAS(sb_impl_malloc);
void free(void *p) SB_ALIAS(sb_impl_free);
void *calloc(size_t n, size_t size) SB_ALIAS(sb_impl_calloc);
void *realloc(void *p, size_t size) SB_ALIAS(sb_impl_realloc);
void *reallocarray(void *p, size_t n, size_t size) SB_ALIAS(sb_impl_reallocarray);
int posix_memalign(void **memptr, size_t align, size_t size) SB_ALIAS(sb_impl_posix_memalign);
void *aligned_alloc(size_t align, size_t size) SB_ALIAS(sb_impl_aligned_alloc);
void *memalign(size_t align, size_t size) SB_ALIAS(sb_impl_memalign);
void *valloc(size_t size) SB_ALIAS(sb_impl_valloc);
void *pvalloc(size_t size) SB_ALIAS(sb_impl_pvalloc);
size_t malloc_usable_size(void *p) SB_ALIAS(sb_impl_malloc_usable_size);
void free_sized(void *p, size_t size) SB_ALIAS(sb_impl_free_sized);
void free_aligned_sized(void *p, size_t align, size_t size) SB_ALIAS(sb_impl_free_aligned_sized);
int malloc_trim(size_t pad) SB_ALIAS(sb_impl_malloc_trim);
int mallopt(int param, int value) SB_ALIAS(sb_impl_mallopt);
struct mallinfo2 mallinfo2(void) SB_ALIAS(sb_impl_mallinfo2);
struct mallinfo mallinfo(void) SB_ALIAS(sb_impl_mallinfo);
void malloc_stats(void) SB_ALIAS(sb_impl_malloc_stats);

void *__libc_malloc(size_t size) SB_ALIAS(sb_impl_malloc);
void __libc_free(void *p) SB_ALIAS(sb_impl_free);
void *__libc_calloc(size_t n, size_t size) SB_ALIAS(sb_impl_calloc);
void *__libc_realloc(void *p, size_t size) SB_ALIAS(sb_impl_realloc);
void *__libc_memalign(size_t align, size_t size) SB_ALIAS(sb_impl_memalign);
void *__libc_valloc(size_t size) SB_ALIAS(sb_impl_valloc);
void *__libc_pvalloc(size_t size) SB_ALIAS(sb_impl_pvalloc);
int __posix_memalign(void **memptr, size_t align, size_t size) SB_ALIAS(sb_impl_posix_memalign);

/* ---- Fork and start-up ------------------------------------------------- */

__attribute__((constructor)) static void sb_constructor(void)
{
	sb_ensure_init();
	sb_config_init();
	sb_stats_init();
	if (sb_stats_on) {
		unsigned i;

		/* Send every realloc to the slow path, where it is counted. */
		for (i = 0; i < sb_nr_classes; i++)
			sb_class_info[i].keep_min = UINT32_MAX;
		sb_mag_start_counting();
	}
	sb_mag_init();
	pthread_atfork(sb_fork_prepare, sb_fork_parent, sb_fork_child);
}
