/*
 * stats.h - what the heap holds and what served each call, and the dump
 * (stats.c).  Reads every layer through its *_counters() function only.
 */
#ifndef SB_STATS_H
#define SB_STATS_H

#include "common.h"

#pragma GCC visibility push(hidden)

/* From the constructor: the dump at exit and the signal handler, as
 * config.c read them. */
void sb_stats_init(void);
/* The dump, as text or as JSON (docs/stats-json.md): the same figures;
 * locked false reads everything racily (signal handler). */
void sb_stats_dump(int fd, bool locked);
void sb_stats_dump_json(int fd, bool locked);

struct sb_heap_usage {
	size_t mapped;		/* region and huge mapping bytes */
	size_t in_use;		/* bytes handed out (usable sizes) */
	size_t free;		/* free bytes inside regions and slabs */
	size_t huge_count, huge_bytes;
	size_t dirty;		/* free but possibly resident */
	size_t cached;		/* free, held by thread caches and depots */
};
void sb_heap_usage(struct sb_heap_usage *u);

#pragma GCC visibility pop

#endif /* SB_STATS_H */
