/*
 * stats.c - what the heap holds and what served each call, and the dump.
 *
 * Two kinds of numbers, both read through the layers' *_counters()
 * functions and nothing else:
 *   state     slabs and objects per cache, free blocks per order per
 *             region, mapped and resident bytes, what the thread caches
 *             and depots hold.
 *   counters  per call, by the layer that served it (magazine, depot, slab,
 *             page lists, buddy, own mapping), bytes requested and handed
 *             out, live bytes and their peak: the event counters of
 *             counters.c, kept only when the program runs with
 *             SBMALLOC_STATS or SBMALLOC_STATS_SIGNAL set.
 *
 * The dump (sb_stats_dump) has three sections:
 *   slabinfo - version: 2.1   the kernel's /proc/slabinfo layout, one row
 *                             per cache; limit = magazine rounds, batchcount
 *                             = objects moved per depot exchange (a whole
 *                             magazine), sharedavail = objects in the depot
 *   buddyinfo                 "Region N, backing B" and free blocks of
 *                             each order 0..SB_MAX_ORDER, like
 *                             /proc/buddyinfo's "Node N, zone Z"
 *   summary                   "key value" lines
 * active_objs counts objects out of the slab layer, including those that
 * sit in magazines, as the kernel's SLAB counted its per-CPU arrays.
 *
 * SBMALLOC_STATS=1 dumps to stderr at exit; SBMALLOC_STATS=PATH writes to
 * PATH, with %p replaced by the pid, so each process of a forking program
 * writes its own file.  SBMALLOC_STATS_SIGNAL=USR2 (or USR1, or a number)
 * dumps whenever the process gets that signal: the handler takes no lock
 * and allocates nothing; it reads counters racily (locked == false), which
 * is fine for statistics, and walks only lists that never lose an element.
 *
 * sb_ctl() is here, the one entry point for names: "opt.*" goes to
 * config.c (sb_config_ctl), "stats.*" are the summary's figures computed
 * here afresh the way the dump computes them, with the layers' locks
 * taken, and "version".
 *
 * No lock of its own (each *_counters() call takes its layer's, when
 * locked).
 */
#include "stats.h"
#include "buddy.h"
#include "cache.h"
#include "config.h"
#include "counters.h"
#include "depot.h"
#include "guard.h"
#include "huge.h"
#include "init.h"
#include "os.h"
#include "region.h"
#include "report.h"
#include "slab.h"
#include "tcache.h"

#include <sbmalloc.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

static int stderr_copy = 2;		/* survives a program closing fd 2 */

/* ---- Heap usage (mallinfo2) --------------------------------------------- */

void sb_heap_usage(struct sb_heap_usage *u)
{
	struct sb_region_counters rc;
	struct sb_huge_counters hc;
	struct sb_tc_counters tcc;
	struct sb_guard_counters gc;
	struct sb_cache *c;
	size_t i, n, slab_pages = 0, slab_obj_bytes = 0, slab_free_bytes = 0, depot_bytes = 0;
	size_t buddy_used = 0, buddy_free = 0, dirty = 0;

	memset(u, 0, sizeof(*u));
	sb_region_counters(&rc);
	sb_huge_counters(&hc, true);
	for (c = sb_cache_first(); c != NULL; c = sb_cache_next(c)) {
		struct sb_slab_counters sc;
		struct sb_depot_counters dc;

		sb_slab_counters(sb_cache_slab(c), &sc, true);
		sb_depot_counters(sb_cache_depot(c), &dc, true);
		slab_pages += sc.num_slabs * sc.pages_per_slab;
		slab_obj_bytes += sc.active_objs * sc.size;
		slab_free_bytes += (sc.num_slabs * sc.objs_per_slab - sc.active_objs) * sc.size;
		depot_bytes += dc.full_objs * sc.size;
	}
	n = sb_region_count();
	for (i = 0; i < n; i++) {
		struct sb_zone_counters zc;

		sb_buddy_counters(i, &zc, true);
		buddy_used += zc.used_pages;
		buddy_free += zc.free_pages;
		dirty += zc.dirty_pages;
	}
	sb_tc_counters(&tcc);
	sb_guard_counters(&gc);
	u->mapped = rc.region_bytes + hc.bytes + hc.cached_bytes;
	u->huge_count = hc.count;
	u->huge_bytes = hc.bytes;
	u->in_use = slab_obj_bytes + hc.bytes + gc.live_bytes +
		    ((buddy_used > slab_pages ? buddy_used - slab_pages : 0) << SB_PAGE_SHIFT);
	u->cached = tcc.obj_bytes + tcc.page_bytes + depot_bytes;
	u->in_use = u->in_use > u->cached ? u->in_use - u->cached : 0;
	u->free = (buddy_free << SB_PAGE_SHIFT) + slab_free_bytes + u->cached + hc.cached_bytes;
	u->dirty = (dirty << SB_PAGE_SHIFT) + hc.cached_bytes;
}

/* ---- Output without stdio ---------------------------------------------- */

struct out {
	int fd;
	size_t len;
	char buf[2048];
};

static void out_flush(struct out *o)
{
	size_t done = 0;

	while (done < o->len) {
		ssize_t n = write(o->fd, o->buf + done, o->len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		done += (size_t)n;
	}
	o->len = 0;
}

static void out_mem(struct out *o, const char *s, size_t n)
{
	while (n > 0) {
		size_t k = sizeof(o->buf) - o->len;

		if (k > n)
			k = n;
		memcpy(o->buf + o->len, s, k);
		o->len += k;
		s += k;
		n -= k;
		if (o->len == sizeof(o->buf))
			out_flush(o);
	}
}

static void out_str(struct out *o, const char *s)
{
	out_mem(o, s, strlen(s));
}

static void out_spaces(struct out *o, size_t n)
{
	while (n-- > 0)
		out_mem(o, " ", 1);
}

/* s padded with spaces to width, on the right (left-aligned) or the left. */
static void out_pad(struct out *o, const char *s, size_t width, bool left)
{
	size_t len = strlen(s);

	if (!left && len < width)
		out_spaces(o, width - len);
	out_mem(o, s, len);
	if (left && len < width)
		out_spaces(o, width - len);
}

static void out_u64(struct out *o, uint64_t v, size_t width)
{
	char num[24];

	sb_fmt_u64(num, sizeof(num), v);
	out_pad(o, num, width, false);
}

/* v / 100 with two decimals: 1234 -> "12.34". */
static void out_hundredths(struct out *o, uint64_t v)
{
	char num[24];

	sb_fmt_u64(num, sizeof(num), v / 100);
	out_str(o, num);
	out_mem(o, ".", 1);
	num[0] = (char)('0' + (v / 10) % 10);
	num[1] = (char)('0' + v % 10);
	out_mem(o, num, 2);
}

static uint64_t pct100(uint64_t part, uint64_t whole)
{
	return whole ? (uint64_t)((double)part * 10000.0 / (double)whole + 0.5) : 0;
}

static void kv(struct out *o, const char *key, uint64_t v)
{
	out_pad(o, key, 28, true);
	out_u64(o, v, 0);
	out_mem(o, "\n", 1);
}

static void kv_pct(struct out *o, const char *key, uint64_t hundredths)
{
	out_pad(o, key, 28, true);
	out_hundredths(o, hundredths);
	out_mem(o, "\n", 1);
}

/* ---- The dump ---------------------------------------------------------- */

static void dump_slabinfo(struct out *o, bool locked, uint64_t *slab_bytes, uint64_t *exchanges)
{
	struct sb_cache *c;

	out_str(o, "slabinfo - version: 2.1\n"
		   "# name            <active_objs> <num_objs> <objsize> <objperslab> "
		   "<pagesperslab> : tunables <limit> <batchcount> <sharedfactor> : "
		   "slabdata <active_slabs> <num_slabs> <sharedavail>\n");
	*slab_bytes = *exchanges = 0;
	for (c = sb_cache_first(); c != NULL; c = sb_cache_next(c)) {
		struct sb_slab_counters sc;
		struct sb_depot_counters dc;

		sb_depot_counters(sb_cache_depot(c), &dc, locked);
		*exchanges += dc.exchanges;
		if (sb_cache_is_dead(c))
			continue;
		sb_slab_counters(sb_cache_slab(c), &sc, locked);
		*slab_bytes += (uint64_t)sc.num_slabs * sc.pages_per_slab * SB_PAGE_SIZE;
		/* "%-17s %6lu %6lu %6u %4u %4d", as mm/slab_common.c prints */
		out_pad(o, sc.name, 17, true);
		out_mem(o, " ", 1);
		out_u64(o, sc.active_objs, 6);
		out_mem(o, " ", 1);
		out_u64(o, (uint64_t)sc.num_slabs * sc.objs_per_slab, 6);
		out_mem(o, " ", 1);
		out_u64(o, sc.size, 6);
		out_mem(o, " ", 1);
		out_u64(o, sc.objs_per_slab, 4);
		out_mem(o, " ", 1);
		out_u64(o, sc.pages_per_slab, 4);
		out_str(o, " : tunables ");
		out_u64(o, dc.mag_cap, 4);
		out_mem(o, " ", 1);
		out_u64(o, dc.mag_cap, 4);
		out_mem(o, " ", 1);
		out_u64(o, 0, 4);
		out_str(o, " : slabdata ");
		out_u64(o, sc.active_slabs, 6);
		out_mem(o, " ", 1);
		out_u64(o, sc.num_slabs, 6);
		out_mem(o, " ", 1);
		out_u64(o, dc.full_objs, 6);
		out_mem(o, "\n", 1);
	}
}

static void dump_buddyinfo(struct out *o, bool locked, uint64_t *resident_bytes,
			   uint64_t *free_bytes, uint64_t *huge_backed)
{
	size_t i, n = sb_region_count();
	unsigned k;

	out_str(o, "\nbuddyinfo\n");
	*resident_bytes = *free_bytes = *huge_backed = 0;
	for (i = 0; i < n; i++) {
		struct sb_zone_counters zc;
		char num[24];

		sb_buddy_counters(i, &zc, locked);
		*free_bytes += (uint64_t)zc.free_pages << SB_PAGE_SHIFT;
		*resident_bytes += sb_os_resident(zc.base, SB_REGION_SIZE);
		if (zc.backing != SB_BACKING_4K)
			*huge_backed += SB_REGION_SIZE;
		/* "Node %d, zone %8s " then "%6lu " per order, as mm/vmstat.c */
		sb_fmt_u64(num, sizeof(num), zc.index);
		out_str(o, "Region ");
		out_str(o, num);
		out_str(o, ", backing ");
		out_pad(o, sb_backing_name(zc.backing), 8, false);
		out_mem(o, " ", 1);
		for (k = 0; k < SB_NR_ORDERS; k++) {
			out_u64(o, zc.nr_free[k], 6);
			out_mem(o, " ", 1);
		}
		out_mem(o, "\n", 1);
	}
}

void sb_stats_dump(int fd, bool locked)
{
	struct out o = { .fd = fd, .len = 0 };
	struct sb_region_counters rc;
	struct sb_huge_counters hc;
	struct sb_guard_counters gc;
	uint64_t n[SB_NR_EVENTS], slab_bytes, res, free_bytes, huge_backed, exchanges;
	uint64_t mallocs, frees, mag_ops, reallocs;
	long live_bytes, live_peak;
	struct rusage ru;
	char num[24];

	dump_slabinfo(&o, locked, &slab_bytes, &exchanges);
	dump_buddyinfo(&o, locked, &res, &free_bytes, &huge_backed);
	sb_region_counters(&rc);
	sb_huge_counters(&hc, locked);
	sb_counters_sum(n);
	sb_counters_live_bytes(&live_bytes, &live_peak);

	out_str(&o, "\nsummary - sbmalloc ");
	out_str(&o, PACKAGE_VERSION);
	out_str(&o, ", pid ");
	sb_fmt_u64(num, sizeof(num), (uint64_t)getpid());
	out_str(&o, num);
	out_str(&o, sb_counting ? ", counters on\n" : ", counters off (set SBMALLOC_STATS)\n");
	kv(&o, "requested_bytes", n[SB_EV_REQUESTED]);
	kv(&o, "handed_out_bytes", n[SB_EV_HANDED_OUT]);
	kv_pct(&o, "internal_fragmentation_pct",
	       n[SB_EV_HANDED_OUT] > n[SB_EV_REQUESTED] ?
	       pct100(n[SB_EV_HANDED_OUT] - n[SB_EV_REQUESTED], n[SB_EV_HANDED_OUT]) : 0);
	kv(&o, "live_bytes", (uint64_t)(live_bytes > 0 ? live_bytes : 0));
	kv(&o, "live_bytes_peak", (uint64_t)(live_peak > 0 ? live_peak : 0));
	kv(&o, "mapped_bytes", rc.region_bytes + hc.bytes + hc.cached_bytes);
	kv(&o, "mapped_bytes_peak", sb_os_mapped_peak());
	kv(&o, "regions", rc.regions);
	kv(&o, "slab_bytes", slab_bytes);
	kv(&o, "buddy_free_bytes", free_bytes);
	kv(&o, "resident_bytes", res + (locked ? sb_huge_resident() : hc.bytes));
	getrusage(RUSAGE_SELF, &ru);
	kv(&o, "process_peak_rss_bytes", (uint64_t)ru.ru_maxrss * 1024);
	kv_pct(&o, "huge_page_share_pct",
	       pct100(huge_backed + (hc.bytes), rc.region_bytes + hc.bytes));
	kv(&o, "hugetlb_regions", rc.hugetlb_regions);
	kv(&o, "thp_regions", rc.thp_regions);
	kv(&o, "huge_blocks", hc.count);
	kv(&o, "huge_blocks_bytes", hc.bytes);
	kv(&o, "huge_cached_blocks", hc.cached_count);
	kv(&o, "huge_cached_bytes", hc.cached_bytes);
	kv(&o, "huge_reused", hc.reused);
	sb_guard_counters(&gc);
	kv(&o, "guard_slots", gc.slots);
	kv(&o, "guard_live", gc.live);
	kv(&o, "guard_allocations", gc.sampled);
	kv(&o, "guard_reports", gc.reports);
	mallocs = n[SB_EV_MALLOC_MAG] + n[SB_EV_MALLOC_DEPOT] + n[SB_EV_MALLOC_SLAB] +
		  n[SB_EV_MALLOC_PAGES] + n[SB_EV_MALLOC_BUDDY] + n[SB_EV_MALLOC_HUGE];
	frees = n[SB_EV_FREE_MAG] + n[SB_EV_FREE_DEPOT] + n[SB_EV_FREE_SLAB] + n[SB_EV_FREE_REMOTE] +
		n[SB_EV_FREE_PAGES] + n[SB_EV_FREE_BUDDY] + n[SB_EV_FREE_HUGE];
	mag_ops = n[SB_EV_MALLOC_MAG] + n[SB_EV_MALLOC_DEPOT] + n[SB_EV_MALLOC_SLAB] +
		  n[SB_EV_FREE_MAG] + n[SB_EV_FREE_DEPOT] + n[SB_EV_FREE_SLAB];
	reallocs = n[SB_EV_REALLOC_SLAB] + n[SB_EV_REALLOC_BUDDY] + n[SB_EV_REALLOC_HUGE] +
		   n[SB_EV_REALLOC_MOVE];
	kv(&o, "large_allocations", n[SB_EV_MALLOC_PAGES] + n[SB_EV_MALLOC_BUDDY]);
	kv(&o, "huge_allocations", n[SB_EV_MALLOC_HUGE]);
	kv_pct(&o, "magazine_hit_pct", pct100(n[SB_EV_MALLOC_MAG] + n[SB_EV_FREE_MAG], mag_ops));
	kv(&o, "depot_exchanges", exchanges);
	kv(&o, "malloc", mallocs);
	kv(&o, "malloc_magazine", n[SB_EV_MALLOC_MAG]);
	kv(&o, "malloc_depot", n[SB_EV_MALLOC_DEPOT]);
	kv(&o, "malloc_slab", n[SB_EV_MALLOC_SLAB]);
	kv(&o, "malloc_page_cache", n[SB_EV_MALLOC_PAGES]);
	kv(&o, "malloc_buddy", n[SB_EV_MALLOC_BUDDY]);
	kv(&o, "malloc_huge", n[SB_EV_MALLOC_HUGE]);
	kv(&o, "malloc_aligned", n[SB_EV_ALIGNED]);
	kv(&o, "free", frees);
	kv(&o, "free_magazine", n[SB_EV_FREE_MAG]);
	kv(&o, "free_depot", n[SB_EV_FREE_DEPOT]);
	kv(&o, "free_slab", n[SB_EV_FREE_SLAB]);
	kv(&o, "free_remote", n[SB_EV_FREE_REMOTE]);
	kv(&o, "free_page_cache", n[SB_EV_FREE_PAGES]);
	kv(&o, "free_buddy", n[SB_EV_FREE_BUDDY]);
	kv(&o, "free_huge", n[SB_EV_FREE_HUGE]);
	kv(&o, "realloc", reallocs);
	kv(&o, "realloc_in_place_slab", n[SB_EV_REALLOC_SLAB]);
	kv(&o, "realloc_in_place_buddy", n[SB_EV_REALLOC_BUDDY]);
	kv(&o, "realloc_in_place_huge", n[SB_EV_REALLOC_HUGE]);
	kv(&o, "realloc_moved", n[SB_EV_REALLOC_MOVE]);
	kv(&o, "calloc", n[SB_EV_CALLOC]);
	out_flush(&o);
}

/* ---- When to dump ------------------------------------------------------ */

/*
 * Dump to stderr or to the target file, truncated and written in place
 * (never replaced: the path may be /dev/stderr, a FIFO, a symlink).  A
 * reader may see a dump half written (tools/sbtop waits for the summary's
 * last line).  All of it is async-signal-safe.
 */
static void dump_to_target(bool locked)
{
	char path[512];
	int fd;

	if (!sb_config_stats_file(path, sizeof(path))) {
		sb_stats_dump(stderr_copy, locked);
		return;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return;
	sb_stats_dump(fd, locked);
	close(fd);
}

static void on_signal(int sig)
{
	int saved = errno;

	(void)sig;
	dump_to_target(false);
	errno = saved;
}

__attribute__((destructor)) static void stats_at_exit(void)
{
	if (sb_config.stats)
		dump_to_target(true);
}

void sb_stats_init(void)
{
	struct sigaction sa;

	if (sb_config.stats && sb_config.stats_path == NULL && stderr_copy == 2) {
		/* Programs that close stderr at exit (gnulib's close_stdout)
		 * would otherwise lose the dump. */
		int fd = fcntl(2, F_DUPFD_CLOEXEC, 3);

		if (fd >= 0)
			stderr_copy = fd;
	}
	if (sb_config.stats_signal != 0) {
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_signal;
		sa.sa_flags = SA_RESTART;
		sigemptyset(&sa.sa_mask);
		sigaction(sb_config.stats_signal, &sa, NULL);
	}
}

/* ---- sb_ctl ------------------------------------------------------------ */

/* The names of "stats.<name>" (include/sbmalloc.h says what each is): the
 * summary's figures, computed as the dump computes them. */
enum stat_id {
	ST_ALLOCATED, ST_ALLOCATED_PEAK, ST_REQUESTED, ST_HANDED_OUT, ST_MALLOC, ST_FREE,
	ST_REALLOC, ST_CALLOC, ST_MAPPED, ST_MAPPED_PEAK, ST_RESIDENT, ST_REGIONS, ST_SLAB,
	ST_BUDDY_FREE, ST_HUGE_BLOCKS, ST_HUGE_BYTES, ST_HUGE_CACHED_BYTES, ST_COUNTING,
};

enum stat_type { ST_SIZE, ST_U64, ST_INT };

static const struct {
	const char *name;
	enum stat_type type;
	bool counted;		/* an event counter: only while counting */
} stat_names[] = {
	[ST_ALLOCATED] = { "allocated", ST_SIZE, true },
	[ST_ALLOCATED_PEAK] = { "allocated_peak", ST_SIZE, true },
	[ST_REQUESTED] = { "requested", ST_U64, true },
	[ST_HANDED_OUT] = { "handed_out", ST_U64, true },
	[ST_MALLOC] = { "malloc", ST_U64, true },
	[ST_FREE] = { "free", ST_U64, true },
	[ST_REALLOC] = { "realloc", ST_U64, true },
	[ST_CALLOC] = { "calloc", ST_U64, true },
	[ST_MAPPED] = { "mapped", ST_SIZE, false },
	[ST_MAPPED_PEAK] = { "mapped_peak", ST_SIZE, false },
	[ST_RESIDENT] = { "resident", ST_SIZE, false },
	[ST_REGIONS] = { "regions", ST_SIZE, false },
	[ST_SLAB] = { "slab", ST_SIZE, false },
	[ST_BUDDY_FREE] = { "buddy_free", ST_SIZE, false },
	[ST_HUGE_BLOCKS] = { "huge_blocks", ST_SIZE, false },
	[ST_HUGE_BYTES] = { "huge_bytes", ST_SIZE, false },
	[ST_HUGE_CACHED_BYTES] = { "huge_cached_bytes", ST_SIZE, false },
	[ST_COUNTING] = { "counting", ST_INT, false },
};

static uint64_t events_sum(const enum sb_event *ev, size_t n)
{
	uint64_t sum[SB_NR_EVENTS], total = 0;
	size_t i;

	sb_counters_sum(sum);
	for (i = 0; i < n; i++)
		total += sum[ev[i]];
	return total;
}

static uint64_t stat_value(enum stat_id id)
{
	static const enum sb_event mallocs[] = {
		SB_EV_MALLOC_MAG, SB_EV_MALLOC_DEPOT, SB_EV_MALLOC_SLAB,
		SB_EV_MALLOC_PAGES, SB_EV_MALLOC_BUDDY, SB_EV_MALLOC_HUGE,
	}, frees[] = {
		SB_EV_FREE_MAG, SB_EV_FREE_DEPOT, SB_EV_FREE_SLAB, SB_EV_FREE_REMOTE,
		SB_EV_FREE_PAGES, SB_EV_FREE_BUDDY, SB_EV_FREE_HUGE,
	}, reallocs[] = {
		SB_EV_REALLOC_SLAB, SB_EV_REALLOC_BUDDY, SB_EV_REALLOC_HUGE, SB_EV_REALLOC_MOVE,
	};
	static const enum sb_event requested = SB_EV_REQUESTED, handed_out = SB_EV_HANDED_OUT,
		callocs = SB_EV_CALLOC;
	struct sb_region_counters rc;
	struct sb_huge_counters hc;
	struct sb_cache *c;
	long live, peak;
	uint64_t v = 0;
	size_t i, n;

	sb_region_counters(&rc);
	sb_huge_counters(&hc, true);
	sb_counters_live_bytes(&live, &peak);
	switch (id) {
	case ST_ALLOCATED: return live > 0 ? (uint64_t)live : 0;
	case ST_ALLOCATED_PEAK: return peak > 0 ? (uint64_t)peak : 0;
	case ST_REQUESTED: return events_sum(&requested, 1);
	case ST_HANDED_OUT: return events_sum(&handed_out, 1);
	case ST_MALLOC: return events_sum(mallocs, sizeof(mallocs) / sizeof(mallocs[0]));
	case ST_FREE: return events_sum(frees, sizeof(frees) / sizeof(frees[0]));
	case ST_REALLOC: return events_sum(reallocs, sizeof(reallocs) / sizeof(reallocs[0]));
	case ST_CALLOC: return events_sum(&callocs, 1);
	case ST_MAPPED: return rc.region_bytes + hc.bytes + hc.cached_bytes;
	case ST_MAPPED_PEAK: return sb_os_mapped_peak();
	case ST_REGIONS: return rc.regions;
	case ST_HUGE_BLOCKS: return hc.count;
	case ST_HUGE_BYTES: return hc.bytes;
	case ST_HUGE_CACHED_BYTES: return hc.cached_bytes;
	case ST_COUNTING: return sb_counting;
	case ST_SLAB:
		for (c = sb_cache_first(); c != NULL; c = sb_cache_next(c)) {
			struct sb_slab_counters sc;

			if (sb_cache_is_dead(c))
				continue;
			sb_slab_counters(sb_cache_slab(c), &sc, true);
			v += (uint64_t)sc.num_slabs * sc.pages_per_slab * SB_PAGE_SIZE;
		}
		return v;
	case ST_RESIDENT:
	case ST_BUDDY_FREE:
		n = sb_region_count();
		for (i = 0; i < n; i++) {
			struct sb_zone_counters zc;

			sb_buddy_counters(i, &zc, true);
			v += id == ST_RESIDENT ? sb_os_resident(zc.base, SB_REGION_SIZE)
					       : (uint64_t)zc.free_pages << SB_PAGE_SHIFT;
		}
		return id == ST_RESIDENT ? v + sb_huge_resident() : v;
	}
	return 0;
}

static int stats_ctl(const char *name, void *oldp, size_t *oldlenp, const void *newp,
		     size_t newlen)
{
	size_t i, z, size;
	uint64_t v;
	int n;

	for (i = 0; i < sizeof(stat_names) / sizeof(stat_names[0]); i++)
		if (strcmp(name, stat_names[i].name) == 0)
			break;
	if (i == sizeof(stat_names) / sizeof(stat_names[0]))
		return ENOENT;
	size = stat_names[i].type == ST_SIZE ? sizeof(z) :
	       stat_names[i].type == ST_U64 ? sizeof(v) : sizeof(n);
	if (newp != NULL || newlen != 0)
		return EPERM;
	if (oldp == NULL || oldlenp == NULL || *oldlenp != size)
		return sb_ctl_value(oldp, oldlenp, NULL, size);
	if (stat_names[i].counted && !sb_counting)
		return EAGAIN;
	v = stat_value((enum stat_id)i);
	switch (stat_names[i].type) {
	case ST_SIZE:
		z = (size_t)v;
		return sb_ctl_value(oldp, oldlenp, &z, size);
	case ST_U64:
		return sb_ctl_value(oldp, oldlenp, &v, size);
	default:
		n = (int)v;
		return sb_ctl_value(oldp, oldlenp, &n, size);
	}
}

SB_EXPORT int sb_ctl(const char *name, void *oldp, size_t *oldlenp, void *newp, size_t newlen)
{
	const char *version = PACKAGE_VERSION;

	if (name == NULL)
		return ENOENT;
	sb_ensure_init();
	if (strncmp(name, "opt.", 4) == 0)
		return sb_config_ctl(name + 4, oldp, oldlenp, newp, newlen);
	if (strncmp(name, "stats.", 6) == 0)
		return stats_ctl(name + 6, oldp, oldlenp, newp, newlen);
	if (strcmp(name, "version") != 0)
		return ENOENT;
	if (newp != NULL || newlen != 0)
		return EPERM;
	return sb_ctl_value(oldp, oldlenp, &version, sizeof(version));
}
