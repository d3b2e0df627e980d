/*
 * counters.c - the blocks of per-thread event counters and the live-bytes
 * total.  See counters.h.
 *
 * No lock: the list of blocks only grows (a push by compare-and-swap), a
 * block changes owner by compare-and-swap of in_use, a thread adds to its
 * own block with relaxed atomic stores and readers sum with relaxed loads.
 */
#include "counters.h"
#include "meta.h"

#include <string.h>

bool sb_counting;
__thread struct sb_events *sb_events_tls __attribute__((tls_model("initial-exec")));
static struct sb_events *blocks;	/* push-only list */
static long live_bytes, live_peak;

void sb_counters_start(void)
{
	sb_counting = true;
}

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
		return NULL;
	ev->in_use = 1;
	ev->next = __atomic_load_n(&blocks, __ATOMIC_RELAXED);
	while (!__atomic_compare_exchange_n(&blocks, &ev->next, ev, false,
					    __ATOMIC_RELEASE, __ATOMIC_RELAXED))
		;
	return ev;
}

bool sb_counters_thread_begin(void)
{
	if (sb_events_tls == NULL)
		sb_events_tls = block_get();
	return sb_events_tls != NULL;
}

void sb_counters_thread_end(void)
{
	struct sb_events *ev = sb_events_tls;

	sb_events_tls = NULL;
	if (ev != NULL)
		__atomic_store_n(&ev->in_use, 0, __ATOMIC_RELEASE);
}

void sb_counters_live(long delta)
{
	long now = __atomic_add_fetch(&live_bytes, delta, __ATOMIC_RELAXED);

	if (now > __atomic_load_n(&live_peak, __ATOMIC_RELAXED))
		__atomic_store_n(&live_peak, now, __ATOMIC_RELAXED);
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

void sb_counters_live_bytes(long *live, long *peak)
{
	*live = __atomic_load_n(&live_bytes, __ATOMIC_RELAXED);
	*peak = __atomic_load_n(&live_peak, __ATOMIC_RELAXED);
}
