/*
 * magazine.c - magazines, the unit the thread caches and the depot trade.
 *
 * A magazine is a stack of up to `cap` free objects of one cache (its
 * rounds), in metadata memory.  Filling one from the slab layer and
 * emptying one into it take the slab cache's lock once per magazine, not
 * once per object.  No state of its own and no lock: a magazine belongs to
 * one thread cache or to one depot list at a time, whose owner serialises
 * access.
 */
#include "magazine.h"
#include "buddy.h"
#include "meta.h"
#include "slab.h"

struct sb_mag sb_mag_sentinel;

struct sb_mag *sb_mag_new(uint32_t cap)
{
	struct sb_mag *m;

	SB_ASSERT(cap > 0 && cap <= SB_MAG_MAX_ROUNDS);
	m = sb_meta_alloc(sizeof(*m) + cap * sizeof(void *));
	if (m != NULL)
		m->cap = cap;
	return m;
}

void sb_mag_free(struct sb_mag *m)
{
	SB_ASSERT(sb_mag_is_real(m));
	sb_meta_free(m, sizeof(*m) + m->cap * sizeof(void *));
}

unsigned sb_mag_fill_for(struct sb_mag *m, struct sb_slab_cache *c, unsigned n, const char *func,
			 const void *owner)
{
	SB_ASSERT(m->rounds == 0 && n > 0 && n <= m->cap);
	m->rounds = sb_slab_alloc_batch_for(c, m->objs, n, func, owner);
	SB_ASSERT_FULL(sb_mag_validate(m, c));
	return m->rounds;
}

unsigned sb_mag_fill(struct sb_mag *m, struct sb_slab_cache *c, unsigned n, const char *func)
{
	return sb_mag_fill_for(m, c, n, func, NULL);
}

void sb_mag_empty(struct sb_mag *m, struct sb_slab_cache *c, const char *func)
{
	SB_ASSERT(m->rounds <= m->cap);
	if (m->rounds > 0)
		sb_slab_free_batch(c, m->objs, m->rounds, func);
	m->rounds = 0;
}

bool sb_mag_validate(const struct sb_mag *m, struct sb_slab_cache *c)
{
	uint32_t i;

	if (m->rounds > m->cap || m->cap > SB_MAG_MAX_ROUNDS)
		return sb_invalid("magazine", "rounds beyond capacity", (uintptr_t)m);
	for (i = 0; i < m->rounds; i++) {
		const struct sb_page *pg = sb_page_of(m->objs[i]);

		if (pg == NULL || sb_page_state(pg) != SB_PAGE_SLAB ||
		    sb_slab_cache_of(sb_page_slab(pg)) != c ||
		    !sb_slab_is_object(sb_page_slab(pg), m->objs[i]))
			return sb_invalid("magazine", "round is not an object of its cache",
					  (uintptr_t)m->objs[i]);
	}
	return true;
}
