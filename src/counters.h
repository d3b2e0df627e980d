/*
 * counters.h - per-thread event counters of the slow paths (counters.c),
 * the kernel's vm_event_states: what served each call that missed the
 * magazines and the page lists, and the bytes those calls handed out.
 *
 * Always kept: a count is two instructions (the thread's block, an add to
 * memory) and only slow paths count here.  The fast paths count in their
 * own structures, for nothing or one add: a bin's pops, derived pushes
 * and remote frees (tcache.h), a page list's pops and pushes (pcp.h).
 * stats.c adds the three up.  Any layer may count; stats.c reads the sums.
 */
#ifndef SB_COUNTERS_H
#define SB_COUNTERS_H

#include "common.h"

#pragma GCC visibility push(hidden)

enum sb_event {
	SB_EV_MALLOC_DEPOT, SB_EV_MALLOC_SLAB, SB_EV_MALLOC_BUDDY, SB_EV_MALLOC_HUGE,
	SB_EV_MALLOC_GUARD,
	SB_EV_FREE_DEPOT, SB_EV_FREE_SLAB, SB_EV_FREE_BUDDY, SB_EV_FREE_HUGE, SB_EV_FREE_GUARD,
	SB_EV_REALLOC_SLAB, SB_EV_REALLOC_BUDDY, SB_EV_REALLOC_HUGE, SB_EV_REALLOC_MOVE,
	SB_EV_CALLOC,		/* that missed the fast path (tcache.h counts the others) */
	SB_EV_ALIGNED,
	SB_EV_HANDED_OUT,	/* bytes, of the allocations counted here */
	SB_NR_EVENTS
};

/*
 * One block per thread that has made a slow call.  Blocks are never
 * freed: a thread that exits leaves its counts, and its block is reused by
 * the next thread, which adds to them.  So the sum over the list is always
 * the total, and the list can be walked at any moment, from a signal
 * handler too.  Before a thread has a block, and after it gave its block
 * back, it counts in a shared one (an update may then be lost, see
 * sb_counter_add).
 */
struct sb_events {
	uint64_t n[SB_NR_EVENTS];
	int in_use;
	struct sb_events *next;
};

/* The calling thread's block, never NULL. */
extern __thread struct sb_events *sb_events_tls __attribute__((tls_model("initial-exec")));

static SB_ALWAYS_INLINE void sb_count(enum sb_event what, uint64_t n)
{
	sb_counter_add(&sb_events_tls->n[what], n);
}

/* The calling thread takes a block of its own if it has none (true if it
 * took one now, false if it had one or there is no memory), or gives it
 * back for the next thread. */
bool sb_counters_thread_begin(void);
void sb_counters_thread_end(void);

/* The sums over all blocks. */
void sb_counters_sum(uint64_t n[SB_NR_EVENTS]);

#pragma GCC visibility pop

#endif /* SB_COUNTERS_H */
