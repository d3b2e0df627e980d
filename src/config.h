/*
 * config.h - sbmalloc's settings (config.c).
 *
 * Every SBMALLOC_* variable is read in config.c and nowhere else, from
 * `environ` directly (never getenv), and ignored in set-uid programs.
 * sb_config is written only by config.c: once at bring-up (before any
 * other thread exists) and again by the library constructor; the one
 * setting that changes while threads run, dirty_max (mallopt), is read and
 * written with relaxed atomics through the functions below.
 */
#ifndef SB_CONFIG_H
#define SB_CONFIG_H

#include "common.h"

#pragma GCC visibility push(hidden)

enum sb_hugepages_mode {
	SB_HUGEPAGES_KERNEL,	/* unset: neither advise nor forbid; the kernel's THP setting */
	SB_HUGEPAGES_AUTO,
	SB_HUGEPAGES_HUGETLB,
	SB_HUGEPAGES_THP,
	SB_HUGEPAGES_OFF,
};

enum sb_stats_format {
	SB_STATS_TEXT,		/* slabinfo, buddyinfo, summary (stats.c) */
	SB_STATS_JSON,		/* the same figures as one JSON object (docs/stats-json.md) */
};

struct sb_config {
	enum sb_hugepages_mode hugepages;	/* SBMALLOC_HUGEPAGES */
	bool check;			/* SBMALLOC_CHECK: every small object through its slab */
	size_t dirty_max;		/* SBMALLOC_DIRTY_MAX, mallopt(M_TRIM_THRESHOLD) */
	bool secure;			/* AT_SECURE: the environment was ignored */
	bool stats;			/* SBMALLOC_STATS given: count and dump at exit */
	const char *stats_path;		/* SBMALLOC_STATS=PATH (%p: pid); NULL: stderr */
	int stats_signal;		/* SBMALLOC_STATS_SIGNAL, 0: none */
	enum sb_stats_format stats_format;	/* SBMALLOC_STATS_FORMAT: of those two dumps */
	size_t guard_rate;		/* SBMALLOC_GUARD: one allocation in N guarded, 0: off */
	bool guard_default;		/* SBMALLOC_GUARD unset: also at most one a tick */
};

/* Unless SBMALLOC_GUARD says: one allocation in this many gets a guarded
 * slot, and at most one every SB_GUARD_TICK_MS milliseconds (guard.c). */
#define SB_GUARD_DEFAULT_RATE 16384
#define SB_GUARD_TICK_MS 100	/* KFENCE's default sample interval */

extern struct sb_config sb_config;

/* Read SBMALLOC_* from environ.  Safe to call again (the constructor does,
 * once libc has set environ up). */
void sb_config_init(void);

static inline size_t sb_config_dirty_max(void)
{
	return sb_read_once(sb_config.dirty_max);
}

/* Settings changed at run time (mallopt), and by the unit tests. */
void sb_config_set_dirty_max(size_t bytes);
void sb_config_set_hugepages(enum sb_hugepages_mode mode);
void sb_config_set_check(bool on);

#pragma GCC visibility pop

#endif /* SB_CONFIG_H */
