/*
 * malloc.c - the malloc family, on top of the slab, buddy and region layers.
 *
 * Where a request goes:
 *   size <= 16 KiB           the slab cache of its size class (slab.c)
 *   size <= 4 MiB            whole pages from the buddy allocator (buddy.c)
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
 * Start-up: the first call may come from ld.so before libc is initialised
 * and before our constructor.  Nothing on the way allocates, calls dlsym,
 * getenv or stdio.  Thread state is reached through an initial-exec TLS
 * pointer that starts at a static empty sentinel, so a thread's first call
 * takes the slow path that sets it up.  The constructor re-reads the
 * environment, creates the thread-exit key and registers fork handlers.
 *
 * Fork: the prepare handler takes every lock in the documented order
 * (thread list, cache locks, then region.c's: grow, regions, huge, meta);
 * the parent releases them, the child re-initialises them.
 */
#include "internal.h"

#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SB_ALIAS(target) __attribute__((alias(#target), used, visibility("default")))

/* ---- Per-thread state -------------------------------------------------- */

enum sb_thread_state { SB_THREAD_EMPTY, SB_THREAD_LIVE, SB_THREAD_DEAD };

enum sb_op {
	SB_OP_MALLOC_SLAB, SB_OP_MALLOC_LARGE, SB_OP_MALLOC_HUGE,
	SB_OP_FREE_SLAB, SB_OP_FREE_LARGE, SB_OP_FREE_HUGE,
	SB_OP_REALLOC, SB_OP_REALLOC_IN_PLACE, SB_OP_CALLOC,
	SB_NR_OPS
};

struct sb_thread {
	enum sb_thread_state state;
	uint64_t ops[SB_NR_OPS];
	struct sb_thread *next, *prev;
};

static struct sb_thread thread_empty = { .state = SB_THREAD_EMPTY };
/* Counts of threads that have exited, and of calls made while exiting. */
static struct sb_thread thread_gone = { .state = SB_THREAD_DEAD };
static __thread struct sb_thread *sb_self = &thread_empty;

static pthread_mutex_t thread_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sb_thread *thread_list;
static pthread_key_t thread_key;
static bool thread_key_ready;

static int init_state;			/* 0 none, 1 running, 2 done */
static pthread_mutex_t init_lock = PTHREAD_MUTEX_INITIALIZER;

static SB_COLD void global_init(void)
{
	pthread_mutex_lock(&init_lock);
	if (init_state == 0) {
		init_state = 1;
		sb_config_init();
		if (!sb_region_init())
			sb_fatal("cannot map the region registry");
		sb_slab_init();
		__atomic_store_n(&init_state, 2, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&init_lock);
}

static inline void ensure_init(void)
{
	if (sb_unlikely(__atomic_load_n(&init_state, __ATOMIC_ACQUIRE) != 2))
		global_init();
}

static SB_NOINLINE struct sb_thread *thread_slow(void)
{
	struct sb_thread *t = sb_self;

	if (t->state == SB_THREAD_DEAD)
		return &thread_gone;
	ensure_init();
	t = sb_meta_alloc(sizeof(*t));
	if (t == NULL)
		return &thread_gone;
	t->state = SB_THREAD_LIVE;
	sb_self = t;
	pthread_mutex_lock(&thread_lock);
	t->next = thread_list;
	if (thread_list)
		thread_list->prev = t;
	thread_list = t;
	pthread_mutex_unlock(&thread_lock);
	if (thread_key_ready)
		pthread_setspecific(thread_key, t);
	return t;
}

static inline struct sb_thread *self(void)
{
	struct sb_thread *t = sb_self;

	if (sb_unlikely(t->state != SB_THREAD_LIVE))
		t = thread_slow();
	return t;
}

static void thread_exit(void *arg)
{
	struct sb_thread *t = arg;
	unsigned i;

	pthread_mutex_lock(&thread_lock);
	for (i = 0; i < SB_NR_OPS; i++)
		thread_gone.ops[i] += t->ops[i];
	if (t->prev)
		t->prev->next = t->next;
	else
		thread_list = t->next;
	if (t->next)
		t->next->prev = t->prev;
	pthread_mutex_unlock(&thread_lock);
	sb_self = &thread_gone;
	sb_meta_free(t, sizeof(*t));
}

/* ---- Allocation -------------------------------------------------------- */

static SB_NOINLINE void *alloc_large(struct sb_thread *t, size_t size, size_t align)
{
	struct sb_huge *h;
	void *p;

	if (sb_unlikely(size > PTRDIFF_MAX)) {
		errno = ENOMEM;
		return NULL;
	}
	ensure_init();
	if (size <= SB_MAX_BLOCK_SIZE && align <= SB_MAX_BLOCK_SIZE) {
		size_t align_pages = align > SB_PAGE_SIZE ? align >> SB_PAGE_SHIFT : 1;
		p = sb_buddy_alloc((size + SB_PAGE_SIZE - 1) >> SB_PAGE_SHIFT, align_pages);
		if (p != NULL)
			t->ops[SB_OP_MALLOC_LARGE]++;
		else
			errno = ENOMEM;
		return p;
	}
	h = sb_huge_alloc(size, align);
	if (h == NULL)
		return NULL;
	t->ops[SB_OP_MALLOC_HUGE]++;
	return h->base;
}

static inline void *alloc_small(struct sb_thread *t, unsigned cls)
{
	void *p = sb_slab_alloc(&sb_size_caches[cls]);

	if (sb_unlikely(p == NULL)) {
		errno = ENOMEM;
		return NULL;
	}
	t->ops[SB_OP_MALLOC_SLAB]++;
	return p;
}

static inline void *sb_alloc(size_t size)
{
	struct sb_thread *t = self();

	if (sb_likely(size <= SB_SMALL_MAX))
		return alloc_small(t, sb_size_class(size));
	return alloc_large(t, size, 0);
}

static void *sb_alloc_aligned(size_t align, size_t size)
{
	struct sb_thread *t;
	size_t rounded;
	unsigned cls;

	if (align <= SB_ALIGNMENT)
		return sb_alloc(size);
	t = self();
	if (align <= SB_PAGE_SIZE && size <= SB_SMALL_MAX) {
		rounded = sb_align_up(size ? size : 1, align);
		if (rounded <= SB_SMALL_MAX) {
			for (cls = sb_size_class(rounded); cls < sb_nr_classes; cls++)
				if (sb_size_caches[cls].align >= align)
					return alloc_small(t, cls);
		}
	}
	return alloc_large(t, size ? size : 1, align);
}

/* ---- Finding a pointer's block ---------------------------------------- */

enum sb_kind { SB_KIND_SLAB, SB_KIND_LARGE, SB_KIND_HUGE };

struct sb_block {
	enum sb_kind kind;
	struct sb_region *region;
	struct sb_page *page;
	struct sb_huge *huge;
};

/* Classify p, a pointer the caller says we handed out; abort if it is not. */
static inline void find_block(const void *p, const char *func, struct sb_block *b)
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

static inline void sb_free_named(void *p, const char *func)
{
	struct sb_thread *t;
	struct sb_block b;

	if (sb_unlikely(p == NULL))
		return;
	t = self();
	find_block(p, func, &b);
	switch (b.kind) {
	case SB_KIND_SLAB:
		sb_slab_free(b.page->slab, p, func);
		t->ops[SB_OP_FREE_SLAB]++;
		break;
	case SB_KIND_LARGE:
		sb_buddy_free(b.region, p);
		t->ops[SB_OP_FREE_LARGE]++;
		break;
	case SB_KIND_HUGE:
		sb_huge_free(b.huge);
		t->ops[SB_OP_FREE_HUGE]++;
		break;
	}
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
	p = sb_alloc(total);
	if (sb_unlikely(p == NULL))
		return NULL;
	sb_self->ops[SB_OP_CALLOC]++;
	if (total > SB_MAX_BLOCK_SIZE)
		return p;	/* a huge block is always a fresh mapping: it reads zero */
	return memset(p, 0, total);
}

static void *realloc_move(void *p, size_t old, size_t size)
{
	void *q = sb_alloc(size);

	if (q == NULL)
		return NULL;
	memcpy(q, p, old < size ? old : size);
	sb_free_named(p, "realloc");
	return q;
}

void *sb_impl_realloc(void *p, size_t size)
{
	struct sb_thread *t;
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
	t = self();
	t->ops[SB_OP_REALLOC]++;
	find_block(p, "realloc", &b);
	old = block_usable(&b);
	switch (b.kind) {
	case SB_KIND_SLAB:
		if (size <= old && size >= old / 2) {
			t->ops[SB_OP_REALLOC_IN_PLACE]++;
			return p;
		}
		break;
	case SB_KIND_LARGE:
		if (size > SB_SMALL_MAX && size <= SB_MAX_BLOCK_SIZE &&
		    sb_buddy_resize(b.region, p, (size + SB_PAGE_SIZE - 1) >> SB_PAGE_SHIFT)) {
			t->ops[SB_OP_REALLOC_IN_PLACE]++;
			return p;
		}
		break;
	case SB_KIND_HUGE:
		if (size > SB_MAX_BLOCK_SIZE && sb_huge_resize(&b.huge, size)) {
			t->ops[SB_OP_REALLOC_IN_PLACE]++;
			return b.huge->base;
		}
		break;
	}
	return realloc_move(p, old, size);
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
	struct sb_block b;

	if (p == NULL)
		return 0;
	find_block(p, "malloc_usable_size", &b);
	return block_usable(&b);
}

int sb_impl_malloc_trim(size_t pad)
{
	size_t released;

	ensure_init();
	released = sb_slab_reclaim();
	released += sb_buddy_trim();
	return released > 0;
}

int sb_impl_mallopt(int param, int value)
{
	ensure_init();
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

	ensure_init();
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

void *__libc_malloc(size_t size) SB_ALIAS(sb_impl_malloc);
void __libc_free(void *p) SB_ALIAS(sb_impl_free);
void *__libc_calloc(size_t n, size_t size) SB_ALIAS(sb_impl_calloc);
void *__libc_realloc(void *p, size_t size) SB_ALIAS(sb_impl_realloc);
void *__libc_memalign(size_t align, size_t size) SB_ALIAS(sb_impl_memalign);
void *__libc_valloc(size_t size) SB_ALIAS(sb_impl_valloc);
void *__libc_pvalloc(size_t size) SB_ALIAS(sb_impl_pvalloc);
int __posix_memalign(void **memptr, size_t align, size_t size) SB_ALIAS(sb_impl_posix_memalign);

/* ---- Fork and start-up ------------------------------------------------- */

static void fork_prepare(void)
{
	ensure_init();
	pthread_mutex_lock(&thread_lock);
	sb_slab_fork_prepare();
	sb_region_fork_prepare();
}

static void fork_parent(void)
{
	sb_region_fork_parent();
	sb_slab_fork_parent();
	pthread_mutex_unlock(&thread_lock);
}

static void fork_child(void)
{
	sb_region_fork_child();
	sb_slab_fork_child();
	pthread_mutex_init(&thread_lock, NULL);
}

__attribute__((constructor)) static void sb_constructor(void)
{
	struct sb_thread *t;

	ensure_init();
	sb_config_init();
	t = self();
	if (pthread_key_create(&thread_key, thread_exit) == 0) {
		thread_key_ready = true;
		if (t->state == SB_THREAD_LIVE)
			pthread_setspecific(thread_key, t);
	}
	pthread_atfork(fork_prepare, fork_parent, fork_child);
}
