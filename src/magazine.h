/*
 * magazine.h - magazines: bounded stacks of free objects of one cache
 * (magazine.c), as in Bonwick and Adams (2001).
 *
 * Every field of struct sb_mag is written by magazine.c or by the inline
 * functions below; the thread caches (tcache.c) push and pop rounds, the
 * depot (depot.c) links magazines into its lists through sb_mag_link().
 */
#ifndef SB_MAGAZINE_H
#define SB_MAGAZINE_H

#include "common.h"
#include "report.h"

#pragma GCC visibility push(hidden)

struct sb_slab_cache;

struct sb_mag {
	uint32_t rounds;		/* objects held */
	uint32_t cap;			/* objs[] capacity; 0 only for the sentinel */
	struct sb_mag *next;		/* on a depot list */
	void *objs[];
};

/* rounds 0, cap 0: every pop and push misses.  Never written. */
extern struct sb_mag sb_mag_sentinel;

#define SB_MAG_MAX_ROUNDS 256

static inline bool sb_mag_pop(struct sb_mag *m, void **out)
{
	uint32_t r = m->rounds;

	if (sb_unlikely(r == 0))
		return false;
	m->rounds = r - 1;
	*out = m->objs[r - 1];
	return true;
}

/* Push p onto m, which has room, without the check. */
static inline void sb_mag_put(struct sb_mag *m, void *p)
{
	m->objs[m->rounds++] = p;
}

/* Push p; false if m is full (the sentinel always is).  Whether p may be
 * freed at all was decided before (the free key, key.h). */
static inline bool sb_mag_push(struct sb_mag *m, void *p)
{
	uint32_t r = m->rounds;

	if (sb_unlikely(r >= m->cap))
		return false;
	m->objs[r] = p;
	m->rounds = r + 1;
	return true;
}

/* The array of rounds, for a thread cache that keeps its own top of it
 * while the magazine is loaded (tcache.h), and the count it writes back. */
static inline void **sb_mag_objs(struct sb_mag *m) { return m->objs; }
static inline void sb_mag_set_rounds(struct sb_mag *m, uint32_t n)
{
	SB_ASSERT(n <= m->cap);
	m->rounds = n;
}

static inline bool sb_mag_is_empty(const struct sb_mag *m) { return m->rounds == 0; }
static inline bool sb_mag_is_full(const struct sb_mag *m) { return m->rounds == m->cap; }
static inline bool sb_mag_is_real(const struct sb_mag *m) { return m->cap != 0; }
static inline uint32_t sb_mag_rounds(const struct sb_mag *m) { return m->rounds; }
static inline uint32_t sb_mag_cap(const struct sb_mag *m) { return m->cap; }

/* Is p one of m's rounds? */
static inline bool sb_mag_holds(const struct sb_mag *m, const void *p)
{
	uint32_t i;

	for (i = 0; i < m->rounds; i++)
		if (m->objs[i] == p)
			return true;
	return false;
}

/* The depot's list link. */
static inline struct sb_mag *sb_mag_next(const struct sb_mag *m) { return m->next; }
static inline void sb_mag_link(struct sb_mag *m, struct sb_mag *next) { m->next = next; }

/* An empty magazine of cap rounds (<= SB_MAG_MAX_ROUNDS), or NULL. */
struct sb_mag *sb_mag_new(uint32_t cap);
void sb_mag_free(struct sb_mag *m);
/* Fill m from the slab cache c with up to n objects; returns how many. */
unsigned sb_mag_fill(struct sb_mag *m, struct sb_slab_cache *c, unsigned n, const char *func);
/* The same, for the thread cache owner (sb_slab_alloc_batch_for). */
unsigned sb_mag_fill_for(struct sb_mag *m, struct sb_slab_cache *c, unsigned n, const char *func,
			 const void *owner);
/* Give every round of m back to the slab cache c. */
void sb_mag_empty(struct sb_mag *m, struct sb_slab_cache *c, const char *func);

/* Rounds within capacity, each an object of c; reports the first fault. */
bool sb_mag_validate(const struct sb_mag *m, struct sb_slab_cache *c);

#pragma GCC visibility pop

#endif /* SB_MAGAZINE_H */
