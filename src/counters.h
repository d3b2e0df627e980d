/*
 * counters.h - per-thread event counters (counters.c), the kernel's
 * vm_event_states: what served each call, bytes requested and handed out,
 * live bytes and their peak.
 *
 * Kept only while statistics are on (SBMALLOC_STATS or
 * SBMALLOC_STATS_SIGNAL): then every thread that has a cache holds a block
 * of counters, and the thread caches send every call through a slow path
 * that counts (tcache.c).  Any layer may count; stats.c reads the sums.
 */
#ifndef SB_COUNTERS_H
#define SB_COUNTERS_H

#include "common.h"

#pragma GCC visibility push(hidden)

enum sb_event {
	SB_EV_MALLOC_MAG, SB_EV_MALLOC_DEPOT, SB_EV_MALLOC_SLAB,
	SB_EV_MALLOC_PAGES, SB_EV_MALLOC_BUDDY, SB_EV_MALLOC_HUGE,
	SB_EV_FREE_MAG, SB_EV_FREE_DEPOT, SB_EV_FREE_SLAB, SB_EV_FREE_REMOTE,
	SB_EV_FREE_PAGES, SB_EV_FREE_BUDDY, SB_EV_FREE_HUGE,
	SB_EV_REALLOC_SLAB, SB_EV_REALLOC_BUDDY, SB_EV_REALLOC_HUGE, SB_EV_REALLOC_MOVE,
	SB_EV_CALLOC, SB_EV_ALIGNED,
	SB_EV_REQUESTED, SB_EV_HANDED_OUT,	/* bytes, over all allocations */
	SB_NR_EVENTS
};

/*
 * One per thread while statistics are on.  Blocks are never freed: a
 * thread that exits leaves its counts, and its block is reused by the next
 * thread, which adds to them.  So the sum over the list is always the total,
 * and the list can be walked at any moment, from a signal handler too.
 */
struct sb_events {
	uint64_t n[SB_NR_EVENTS];
	int in_use;
	struct sb_events *next;
};

/* Statistics are on: set once by the constructor, before threads. */
extern bool sb_counting;
/* The calling thread's block, or NULL. */
extern __thread struct sb_events *sb_events_tls __attribute__((tls_model("initial-exec")));

static inline void sb_count(enum sb_event what, uint64_t n)
{
	struct sb_events *ev = sb_events_tls;

	if (ev != NULL)
		__atomic_store_n(&ev->n[what], ev->n[what] + n, __ATOMIC_RELAXED);
}

void sb_counters_start(void);
/* The calling thread starts or stops counting; false without memory. */
bool sb_counters_thread_begin(void);
void sb_counters_thread_end(void);
/* Live bytes (handed out minus freed) change by delta. */
void sb_counters_live(long delta);

/* The sums over all threads, and the live bytes and their peak. */
void sb_counters_sum(uint64_t n[SB_NR_EVENTS]);
void sb_counters_live_bytes(long *live, long *peak);

#pragma GCC visibility pop

#endif /* SB_COUNTERS_H */
