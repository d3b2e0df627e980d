/*
 * meta.c - the metadata allocator.
 *
 * Descriptors are carved from 64 KiB chunks mapped for them alone, in
 * 16-byte quanta, with one free list per quantum; they are never returned
 * to the OS (there are few, and reuse is immediate).  The memory handed out
 * is zeroed.  A size that is a multiple of the cache line is carved at a
 * cache-line boundary (the gap before it goes on the free list of its own
 * size), so that such descriptors never straddle a line more than they
 * must.
 *
 * Lock: meta_lock protects the free lists and the current chunk; it is the
 * innermost lock of all (fork.c).
 */
#include "meta.h"
#include "os.h"

#include <pthread.h>
#include <string.h>

#define META_CHUNK ((size_t)64 << 10)
#define META_QUANTUM 16

struct meta_free {
	struct meta_free *next;
};

static pthread_mutex_t meta_lock = PTHREAD_MUTEX_INITIALIZER;
static struct meta_free *meta_free_lists[SB_META_MAX / META_QUANTUM + 1];
static char *meta_cur, *meta_end;
static size_t meta_bytes;

void *sb_meta_alloc(size_t size)
{
	size_t idx = (size + META_QUANTUM - 1) / META_QUANTUM, gap;
	void *p;

	if (size == 0 || size > SB_META_MAX)
		return NULL;
	size = idx * META_QUANTUM;
	pthread_mutex_lock(&meta_lock);
	p = meta_free_lists[idx];
	if (p != NULL) {
		meta_free_lists[idx] = meta_free_lists[idx]->next;
		goto out;
	}
	gap = size % SB_CACHE_LINE == 0 ? (size_t)(-(uintptr_t)meta_cur & (SB_CACHE_LINE - 1)) : 0;
	if (meta_cur == NULL || (size_t)(meta_end - meta_cur) < gap + size) {
		char *chunk = sb_os_map(META_CHUNK);

		if (chunk == NULL)
			goto out;
		meta_cur = chunk;
		meta_end = chunk + META_CHUNK;
		sb_write_once(meta_bytes, meta_bytes + META_CHUNK);
		gap = 0;
	}
	if (gap != 0) {
		struct meta_free *f = (struct meta_free *)meta_cur;

		f->next = meta_free_lists[gap / META_QUANTUM];
		meta_free_lists[gap / META_QUANTUM] = f;
		meta_cur += gap;
	}
	p = meta_cur;
	meta_cur += size;
out:
	pthread_mutex_unlock(&meta_lock);
	if (p != NULL)
		memset(p, 0, size);
	return p;
}

void sb_meta_free(void *p, size_t size)
{
	size_t idx = (size + META_QUANTUM - 1) / META_QUANTUM;
	struct meta_free *f = p;

	SB_ASSERT(p != NULL && size > 0 && size <= SB_META_MAX);
	pthread_mutex_lock(&meta_lock);
	f->next = meta_free_lists[idx];
	meta_free_lists[idx] = f;
	pthread_mutex_unlock(&meta_lock);
}

size_t sb_meta_bytes(void)
{
	return sb_read_once(meta_bytes);
}

void sb_meta_fork_prepare(void)
{
	pthread_mutex_lock(&meta_lock);
}

void sb_meta_fork_parent(void)
{
	pthread_mutex_unlock(&meta_lock);
}

void sb_meta_fork_child(void)
{
	pthread_mutex_unlock(&meta_lock);
}
