/*
 * huge.c - huge blocks: allocations above SB_MAX_BLOCK_SIZE (4 MiB), each
 * in a mapping of its own.
 *
 * A huge block is aligned to SB_REGION_SIZE (or more, when asked), with
 * address space reserved up to the next region boundary, so realloc grows
 * it in place up to there and beyond by mremap, without copying.  Its
 * descriptor comes from the metadata allocator; the registry maps every
 * 32 MiB slot of its reservation to it.
 *
 * Lock: huge_lock protects the list of huge blocks, the counters and the
 * registry's huge entries.  Lock order: fork.c.
 */
#include "huge.h"
#include "meta.h"
#include "os.h"
#include "registry.h"

#include <pthread.h>

struct sb_huge {
	char *base;			/* aligned to SB_REGION_SIZE at least */
	size_t size;			/* bytes readable and writable */
	size_t reserved;		/* bytes of address space held (>= size) */
	enum sb_backing backing;
	struct sb_huge *next, *prev;	/* huge_list */
};

static pthread_mutex_t huge_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sb_huge *huge_list;
static size_t huge_count, huge_bytes, huge_total;

static size_t huge_len(size_t size, enum sb_backing backing)
{
	return sb_align_up(size, backing == SB_BACKING_HUGETLB ? SB_HUGE_PAGE_SIZE : SB_PAGE_SIZE);
}

static void huge_list_add(struct sb_huge *h)
{
	h->prev = NULL;
	h->next = huge_list;
	if (huge_list)
		huge_list->prev = h;
	huge_list = h;
}

static void huge_list_del(struct sb_huge *h)
{
	if (h->prev)
		h->prev->next = h->next;
	else
		huge_list = h->next;
	if (h->next)
		h->next->prev = h->prev;
}

/* The size of h changes to len; huge_lock held. */
static void set_size(struct sb_huge *h, size_t len)
{
	sb_write_once(huge_bytes, huge_bytes + len - h->size);
	sb_os_note_mapped((long)len - (long)h->size);
	h->size = len;
}

struct sb_huge *sb_huge_alloc(size_t size, size_t align)
{
	struct sb_huge *h;
	size_t len, reserved;
	char *base;

	if (size > ((size_t)1 << SB_ADDR_BITS) / 4 || align > ((size_t)1 << 40))
		return NULL;
	if (align < SB_REGION_SIZE)
		align = SB_REGION_SIZE;
	h = sb_meta_alloc(sizeof(*h));
	if (h == NULL)
		return NULL;
	len = sb_align_up(size, SB_PAGE_SIZE);
	reserved = sb_align_up(len, SB_REGION_SIZE);
	base = sb_os_reserve_aligned(reserved, align);
	if (base == NULL) {
		sb_meta_free(h, sizeof(*h));
		return NULL;
	}
	if (!sb_os_commit(base, len, SB_OS_HUGE_BLOCK, &h->backing)) {
		if (reserved > len)
			sb_os_unmap(base + len, reserved - len);
		sb_meta_free(h, sizeof(*h));
		return NULL;
	}
	h->base = base;
	h->reserved = reserved;
	pthread_mutex_lock(&huge_lock);
	sb_registry_set_huge(base, reserved, h);
	huge_list_add(h);
	sb_write_once(huge_count, huge_count + 1);
	sb_write_once(huge_total, huge_total + 1);
	set_size(h, len);
	pthread_mutex_unlock(&huge_lock);
	return h;
}

void sb_huge_free(struct sb_huge *h)
{
	pthread_mutex_lock(&huge_lock);
	sb_registry_bury_huge(h->base, h->reserved);
	huge_list_del(h);
	sb_write_once(huge_count, huge_count - 1);
	set_size(h, 0);
	pthread_mutex_unlock(&huge_lock);
	sb_os_unmap(h->base, h->reserved);
	sb_meta_free(h, sizeof(*h));
}

static bool resize_in_place(struct sb_huge *h, size_t len)
{
	if (len > h->size)
		return sb_os_commit_more(h->base + h->size, len - h->size, h->backing);
	if (len < h->size)
		/* Our own range (2 MiB multiples for hugetlb): replace in place. */
		return sb_os_decommit(h->base + len, h->size - len);
	return true;
}

bool sb_huge_resize(struct sb_huge *h, size_t size)
{
	size_t len = huge_len(size, h->backing), reserved, old_size, old_reserved;
	char *base, *old;

	if (len <= h->reserved) {
		if (!resize_in_place(h, len))
			return false;
		pthread_mutex_lock(&huge_lock);
		set_size(h, len);
		pthread_mutex_unlock(&huge_lock);
		return true;
	}
	if (h->backing == SB_BACKING_HUGETLB)
		return false;
	reserved = sb_align_up(len, SB_REGION_SIZE);
	base = sb_os_reserve_aligned(reserved, SB_REGION_SIZE);
	if (base == NULL)
		return false;
	if (!sb_os_move(h->base, h->size, base, len)) {
		sb_os_unmap(base, reserved);
		return false;
	}
	old = h->base;
	old_size = h->size;
	old_reserved = h->reserved;
	pthread_mutex_lock(&huge_lock);
	sb_registry_bury_huge(old, old_reserved);
	sb_registry_set_huge(base, reserved, h);
	h->base = base;
	h->reserved = reserved;
	set_size(h, len);
	pthread_mutex_unlock(&huge_lock);
	sb_os_unmap(old + old_size, old_reserved - old_size);
	return true;
}

void *sb_huge_base(const struct sb_huge *h)
{
	return h->base;
}

size_t sb_huge_size(const struct sb_huge *h)
{
	return h->size;
}

size_t sb_huge_reserved(const struct sb_huge *h)
{
	return h->reserved;
}

enum sb_backing sb_huge_backing(const struct sb_huge *h)
{
	return h->backing;
}

void sb_huge_counters(struct sb_huge_counters *out, bool locked)
{
	if (locked)
		pthread_mutex_lock(&huge_lock);
	out->count = sb_read_once(huge_count);
	out->total = sb_read_once(huge_total);
	out->bytes = sb_read_once(huge_bytes);
	if (locked)
		pthread_mutex_unlock(&huge_lock);
}

size_t sb_huge_resident(void)
{
	struct sb_huge *h;
	size_t bytes = 0;

	pthread_mutex_lock(&huge_lock);
	for (h = huge_list; h != NULL; h = h->next)
		bytes += sb_os_resident(h->base, h->size);
	pthread_mutex_unlock(&huge_lock);
	return bytes;
}

void sb_huge_fork_prepare(void)
{
	pthread_mutex_lock(&huge_lock);
}

void sb_huge_fork_parent(void)
{
	pthread_mutex_unlock(&huge_lock);
}

/*
 * In a forked child, hugetlb blocks are replaced by ordinary copies: a
 * MAP_PRIVATE hugetlb page shared with the parent is copied on write from
 * the free pool, and when the pool is empty the child gets SIGBUS.
 */
void sb_huge_fork_child(void)
{
	struct sb_huge *h;

	for (h = huge_list; h != NULL; h = h->next)
		if (h->backing == SB_BACKING_HUGETLB && sb_os_rebase_to_4k(h->base, h->size, NULL))
			h->backing = SB_BACKING_4K;
	pthread_mutex_unlock(&huge_lock);
}
