/*
 * key.h - the free key (key.c): a mark written into every free
 * small object and every cached page block, and cleared when the memory
 * is handed out, as glibc's tcache key.
 *
 * It is a hint, never trusted: a free whose object holds the key goes to a
 * slow path that finds out whether the object really is free (a double
 * free, reported) or live with data that happens to match (then the free
 * goes on).  An overflow or a use after free can only fool the hint, never
 * the allocator's own metadata, which lives out of band.
 *
 * The mark is a constant (SB_FREE_MARK), written into bytes 4..7 of the
 * object, so that the free fast path tests it with one compare of memory
 * with an immediate and writes it with one store, and loads nothing: a
 * 32-bit hint, chosen to be an unlikely upper half of data (its top bits
 * are 10: not a pointer's 0x0000 or a small negative number's 0xffff, nor
 * most doubles'); data that matches it, by chance or on purpose, only
 * takes the slow path, which finds out.  A random mark would add nothing
 * but a load.  The key's random half, with the mark, makes the fresh word:
 * a new slab
 * writes it into every object it has never handed out, so that a free of
 * such a slot is told apart from a double free (the mark alone says
 * "free or fresh"; the whole fresh word says which).  Handing memory out
 * clears both halves.
 *
 * The key is written once at bring-up, before the first object exists;
 * objects of caches with a constructor carry no key (their contents are
 * the constructed state): cache.c keeps their liveness out of band.
 */
#ifndef SB_KEY_H
#define SB_KEY_H

#include "common.h"

#pragma GCC visibility push(hidden)

#define SB_FREE_MARK 0xb1e55ed5u

/* The key: the fresh word's first half (random; the mark is the other). */
struct sb_free_key {
	uint32_t fresh;
};

extern struct sb_free_key sb_free_key;

void sb_key_init(void);

/* The two halves of an object's first eight bytes, whatever they hold. */
typedef uint32_t __attribute__((may_alias)) sb_key_word;

static inline sb_key_word *sb_key_words(void *p)
{
	return (sb_key_word *)p;
}

/* p holds the mark: freed, or never handed out (a hint, see above). */
static inline bool sb_key_says_free(const void *p)
{
	return ((const sb_key_word *)p)[1] == SB_FREE_MARK;
}

/* p holds the fresh word: never handed out (meaningful only if it says
 * free). */
static inline bool sb_key_says_fresh(const void *p)
{
	const sb_key_word *w = (const sb_key_word *)p;

	return w[0] == sb_free_key.fresh && w[1] == SB_FREE_MARK;
}

static inline void sb_key_mark_free(void *p)
{
	sb_key_words(p)[1] = SB_FREE_MARK;
}

static inline void sb_key_mark_fresh(void *p)
{
	sb_key_words(p)[0] = sb_free_key.fresh;
	sb_key_words(p)[1] = SB_FREE_MARK;
}

/* Both halves: what is left of the fresh word would make a double free
 * of an object whose first bytes the program never wrote look fresh. */
static inline void sb_key_mark_live(void *p)
{
	*(uint64_t __attribute__((may_alias)) *)p = 0;
}

#pragma GCC visibility pop

#endif /* SB_KEY_H */
