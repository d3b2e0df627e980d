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

/*
 * `next` sits just before objs[] on purpose: sb_mag_check_top() compares
 * the pointer being freed with objs[rounds - 1] without testing rounds,
 * and at rounds == 0 that reads `next`, which is NULL or a magazine and
 * never a user object.
 */
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

/*
 * The one check a push makes: p is not the object pushed just before (a
 * double free caught for one compare).  Other double frees are seen when
 * the object reaches its slab's bitmap.
 */
static inline void sb_mag_check_top(const struct sb_mag *m, size_t r, const void *p, const char *func)
{
	/* At r == 0 this reads m->next: never a user object. */
	if (sb_unlikely((m->objs + r)[-1] == p))
		sb_fatal_pointer(func, "double free", p);
}

/* Push p onto m, which has room, without the check. */
static inline void sb_mag_put(struct sb_mag *m, void *p)
{
	m->objs[m->rounds++] = p;
}

/* Push p; false if m is full (the sentinel always is). */
static inline bool sb_mag_push(struct sb_mag *m, void *p, const char *func)
{
	size_t r = m->rounds;

	if (sb_unlikely(r >= m->cap))
		return false;
	sb_mag_check_top(m, r, p, func);
	m->objs[r] = p;
	m->rounds = (uint32_t)r + 1;
	return true;
}

static inline bool sb_mag_is_empty(const struct sb_mag *m) { return m->rounds == 0; }
static inline bool sb_mag_is_full(const struct sb_mag *m) { return m->rounds == m->cap; }
static inline bool sb_mag_is_real(const struct sb_mag *m) { return m->cap != 0; }
static inline uint32_t sb_mag_rounds(const struct sb_mag *m) { return m->rounds; }
static inline uint32_t sb_mag_cap(const struct sb_mag *m) { return m->cap; }

/* The depot's list link. */
static inline struct sb_mag *sb_mag_next(const struct sb_mag *m) { return m->next; }
static inline void sb_mag_link(struct sb_mag *m, struct sb_mag *next) { m->next = next; }

/* An empty magazine of cap rounds (<= SB_MAG_MAX_ROUNDS), or NULL. */
struct sb_mag *sb_mag_new(uint32_t cap);
void sb_mag_free(struct sb_mag *m);
/* Fill m from the slab cache c with up to n objects; returns how many. */
unsigned sb_mag_fill(struct sb_mag *m, struct sb_slab_cache *c, unsigned n, const char *func);
/* Give every round of m back to the slab cache c. */
void sb_mag_empty(struct sb_mag *m, struct sb_slab_cache *c, const char *func);

/* Rounds within capacity, each an object of c; reports the first fault. */
bool sb_mag_validate(const struct sb_mag *m, struct sb_slab_cache *c);

#pragma GCC visibility pop

#endif /* SB_MAGAZINE_H */
