/*
 * key.h - the free key (key.c): a random word written into the first
 * eight bytes of every free small object and every cached page block, and
 * cleared when the memory is handed out, as glibc's tcache key.
 *
 * It is a hint, never trusted: a free whose object holds the key goes to a
 * slow path that finds out whether the object really is free (a double
 * free, reported) or live with data that happens to match (then the free
 * goes on).  An overflow or a use after free can only fool the hint, never
 * the allocator's own metadata, which lives out of band.
 *
 * Two values: the free key (odd) for memory freed by the program, and the
 * fresh key (the same with the low bit clear) that a new slab writes into
 * every object it has never handed out, so that a free of such a slot is
 * told apart from a double free.  One compare catches both.
 *
 * The key is written once at bring-up, before the first object exists;
 * objects of caches with a constructor carry no key (their contents are
 * the constructed state): cache.c keeps their liveness out of band.
 */
#ifndef SB_KEY_H
#define SB_KEY_H

#include "common.h"

#pragma GCC visibility push(hidden)

extern uint64_t sb_free_key;

void sb_key_init(void);

/* p's first word says free (freed, or never handed out). */
static inline bool sb_key_says_free(const void *p)
{
	return (*(const uint64_t *)p | 1) == sb_free_key;
}

/* p's first word says never handed out (only meaningful if it says free). */
static inline bool sb_key_says_fresh(const void *p)
{
	return *(const uint64_t *)p == (sb_free_key ^ 1);
}

static inline void sb_key_mark_free(void *p)
{
	*(uint64_t *)p = sb_free_key;
}

static inline void sb_key_mark_fresh(void *p)
{
	*(uint64_t *)p = sb_free_key ^ 1;
}

static inline void sb_key_mark_live(void *p)
{
	*(uint64_t *)p = 0;
}

#pragma GCC visibility pop

#endif /* SB_KEY_H */
