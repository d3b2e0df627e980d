/*
 * counters.c - the blocks of per-thread event counters.  See counters.h.
 *
 * No lock: the list of blocks only grows (a push by compare-and-swap), a
 * block changes owner by compare-and-swap of in_use, a thread adds to its
 * own block (sb_counter_add) and readers sum with relaxed loads.  The
 * shared block is on the list from the start.
 */
#include "counters.h"
#include "meta.h"

#include <string.h>

static struct sb_events shared = { .in_use = 1 };
__thread struct sb_events *sb_events_tls __attribute__((tls_model("initial-exec"))) = &shared;
static struct sb_events *blocks = &shared;	/* push-only list */

static struct sb_events *block_get(void)
{
	struct sb_events *ev;

	for (ev = __atomic_load_n(&blocks, __ATOMIC_ACQUIRE); ev != NULL; ev = ev->next) {
		int free_ = 0;

		if (__atomic_compare_exchange_n(&ev->in_use, &free_, 1, false,
						__ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
			return ev;
	}
	ev = sb_meta_alloc(sizeof(*ev));
	if (ev == NULL)
		return &shared;
	ev->in_use = 1;
	ev->next = __atomic_load_n(&blocks, __ATOMIC_RELAXED);
	while (!__atomic_compare_exchange_n(&blocks, &ev->next, ev, false,
					    __ATOMIC_RELEASE, __ATOMIC_RELAXED))
		;
	return ev;
}

bool sb_counters_thread_begin(void)
{
	if (sb_events_tls != &shared)
		return false;
	sb_events_tls = block_get();
	return sb_events_tls != &shared;
}

void sb_counters_thread_end(void)
{
	struct sb_events *ev = sb_events_tls;

	sb_events_tls = &shared;
	if (ev != &shared)
		__atomic_store_n(&ev->in_use, 0, __ATOMIC_RELEASE);
}

void sb_counters_sum(uint64_t n[SB_NR_EVENTS])
{
	struct sb_events *ev;
	unsigned i;

	memset(n, 0, SB_NR_EVENTS * sizeof(*n));
	for (ev = __atomic_load_n(&blocks, __ATOMIC_ACQUIRE); ev != NULL; ev = ev->next)
		for (i = 0; i < SB_NR_EVENTS; i++)
			n[i] += __atomic_load_n(&ev->n[i], __ATOMIC_RELAXED);
}
