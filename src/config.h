/*
 * config.h - sbmalloc's settings (config.c).
 *
 * Every SBMALLOC_* variable is read in config.c and nowhere else, from
 * `environ` directly (never getenv), through one table of options, and
 * ignored in set-uid programs.  sb_config is written only by config.c:
 * once at bring-up (before any other thread exists) and again by the
 * library constructor; the one setting that changes while threads run,
 * dirty_max (mallopt, sb_ctl), is read and written with relaxed atomics
 * through the functions below.
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
	bool verbose;			/* SBMALLOC_VERBOSE: options listed at start-up */
};

/* Unless SBMALLOC_GUARD says: one allocation in this many gets a guarded
 * slot, and at most one every SB_GUARD_TICK_MS milliseconds (guard.c). */
#define SB_GUARD_DEFAULT_RATE 16384
#define SB_GUARD_TICK_MS 100	/* KFENCE's default sample interval */

extern struct sb_config sb_config;

/*
 * The table of options (config.c), one row per SBMALLOC_* variable.  A
 * value is parsed by its type; `def` is the default written as a user
 * would write it, parsed the same way.
 */
enum sb_option_type {
	SB_OPT_BOOL,		/* 1/0, on/off, yes/no, true/false */
	SB_OPT_SIZE,		/* bytes, with k, m or g: 0 .. max */
	SB_OPT_COUNT,		/* a decimal number: 0 .. max */
	SB_OPT_WORD,		/* one of words */
	SB_OPT_STATS,		/* a boolean or a path */
	SB_OPT_SIGNAL,		/* words, or a signal number that can be caught */
};

struct sb_word {
	const char *name;
	int value;
};

struct sb_option {
	const char *name;		/* the variable, SBMALLOC_... */
	const char *ctl;		/* sb_ctl's name: "opt.<ctl>" */
	enum sb_option_type type;
	const char *values;		/* what it accepts, as documented */
	const char *def;		/* the default */
	uint64_t max;			/* sizes and counts */
	const struct sb_word *words;	/* NULL-terminated; a value's first name is its own */
	const char *help;		/* one line */
};

#define SB_NR_OPTIONS 8
extern const struct sb_option sb_options[SB_NR_OPTIONS];

/* Read SBMALLOC_* from environ.  Safe to call again (the constructor does,
 * once libc has set environ up); warnings and the SBMALLOC_VERBOSE listing
 * come out once per process, from the first call that sees environ. */
void sb_config_init(void);

static inline size_t sb_config_dirty_max(void)
{
	return sb_read_once(sb_config.dirty_max);
}

/* Settings changed at run time (mallopt), and by the unit tests.  A
 * dirty_max set here keeps its value when sb_config_init() runs again,
 * unless SBMALLOC_DIRTY_MAX says otherwise. */
void sb_config_set_dirty_max(size_t bytes);
void sb_config_set_hugepages(enum sb_hugepages_mode mode);
void sb_config_set_check(bool on);

/* The statistics file: SBMALLOC_STATS's path with %p replaced by the pid,
 * into path; false for stderr (also for a path too long for size). */
bool sb_config_stats_file(char *path, size_t size);

/* sb_ctl's "opt.<name>" (name without "opt."); sb_ctl_value() copies a
 * value of len bytes out as sb_ctl does.  Both return 0 or an errno value
 * (include/sbmalloc.h). */
int sb_config_ctl(const char *name, void *oldp, size_t *oldlenp, const void *newp, size_t newlen);
int sb_ctl_value(void *oldp, size_t *oldlenp, const void *value, size_t len);

#pragma GCC visibility pop

#endif /* SB_CONFIG_H */
