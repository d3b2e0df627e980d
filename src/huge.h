/*
 * huge.h - blocks above the largest buddy block, each in a mapping of its
 * own (huge.c).  The descriptor is opaque: use the functions below.
 */
#ifndef SB_HUGE_H
#define SB_HUGE_H

#include "common.h"
#include "os.h"

#pragma GCC visibility push(hidden)

struct sb_huge;

/* A mapping of at least size bytes aligned to align (at least 32 MiB), a
 * freed one if one fits (zero: reads zero then too), or NULL (too large, or
 * the OS refused). */
struct sb_huge *sb_huge_alloc(size_t size, size_t align, bool zero);
/* h goes to the cache of freed blocks (huge.c's top comment). */
void sb_huge_free(struct sb_huge *h);
/* Unmap every cached block; returns their bytes (malloc_trim). */
size_t sb_huge_trim(void);
/* h is live (not in the cache of freed blocks). */
bool sb_huge_is_live(const struct sb_huge *h);
/* Resize to size bytes in place or by moving the pages (never copying);
 * false if neither is possible.  The base may change. */
bool sb_huge_resize(struct sb_huge *h, size_t size);

void *sb_huge_base(const struct sb_huge *h);
/* Bytes readable and writable. */
size_t sb_huge_size(const struct sb_huge *h);
/* Bytes of address space held (the registry maps them all to h). */
size_t sb_huge_reserved(const struct sb_huge *h);
enum sb_backing sb_huge_backing(const struct sb_huge *h);

struct sb_huge_counters {
	size_t count;			/* live huge blocks */
	size_t total;			/* huge blocks ever mapped */
	size_t bytes;			/* their sizes */
	size_t cached_count;		/* freed blocks kept for reuse */
	size_t cached_bytes;
	uint64_t reused;		/* allocations served from the cache */
};
/* locked false: read racily, for the signal-time dump. */
void sb_huge_counters(struct sb_huge_counters *out, bool locked);
/* Resident bytes of all huge blocks (mincore; takes huge_lock). */
size_t sb_huge_resident(void);

/* Fork: huge_lock (fork.c); the child leaves hugetlb pages. */
void sb_huge_fork_prepare(void);
void sb_huge_fork_parent(void);
void sb_huge_fork_child(void);

#pragma GCC visibility pop

#endif /* SB_HUGE_H */
