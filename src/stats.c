/*
 * stats.c - what the heap holds and what served each call, and the dump.
 *
 * Two kinds of numbers, both read through the layers' *_counters()
 * functions and nothing else:
 *   state     slabs and objects per cache, free blocks per order per
 *             region, mapped and resident bytes, what the thread caches
 *             and depots hold, and the huge pages the kernel actually
 *             gave (os.c reads /proc/self/smaps; the registry says which
 *             of the process's mappings are regions or huge blocks).
 *   counters  per call, by the layer that served it (magazine, depot, slab,
 *             page lists, buddy, own mapping), and the bytes handed out:
 *             always kept, where each layer counts for the least (the
 *             slow paths' event counters of counters.c, the pops, derived
 *             pushes and remote frees of the thread caches and their page
 *             lists, sb_tc_traffic); see count_calls().  live_bytes is
 *             state, what the heap holds for the program (heap_usage()).
 *
 * The dump comes in two forms, text (sb_stats_dump) and JSON
 * (sb_stats_dump_json, docs/stats-json.md), written from one walk of the
 * heap (dump()) by two writers.  The text has three sections:
 *   slabinfo - version: 2.1   the kernel's /proc/slabinfo layout, one row
 *                             per cache; limit = magazine rounds, batchcount
 *                             = objects moved per depot exchange (a whole
 *                             magazine), sharedavail = objects in the depot
 *   buddyinfo                 "Region N, backing B" and free blocks of
 *                             each order 0..SB_MAX_ORDER, like
 *                             /proc/buddyinfo's "Node N, zone Z"; B is what
 *                             the kernel gave: hugetlb, thp (smaps shows
 *                             transparent huge pages in the region) or 4k
 *   summary                   "key value" lines, the counters among them
 * A cache name shows its spaces and control characters as '_' in the text
 * (rows are split at white space); the JSON has the name as it was given.
 * active_objs counts objects out of the slab layer, including those that
 * sit in magazines, as the kernel's SLAB counted its per-CPU arrays.
 * huge_page_share_pct is the part of mapped_bytes (regions, live and
 * cached huge blocks) in huge pages: AnonHugePages and hugetlb pages of
 * those mappings, as smaps tells (0 when /proc cannot be read).
 *
 * SBMALLOC_STATS=1 dumps to stderr at exit; SBMALLOC_STATS=PATH writes to
 * PATH, with %p replaced by the pid, so each process of a forking program
 * writes its own file; SBMALLOC_STATS_FORMAT=json chooses JSON for both.
 * SBMALLOC_STATS_SIGNAL=USR2 (or USR1, or a number)
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
#include "registry.h"
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

/* The heap's use; locked: with the layers' locks (else racy, for a signal
 * handler). */
static void heap_usage(struct sb_heap_usage *u, bool locked)
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
	sb_huge_counters(&hc, locked);
	for (c = sb_cache_first(); c != NULL; c = sb_cache_next(c)) {
		struct sb_slab_counters sc;
		struct sb_depot_counters dc;

		sb_slab_counters(sb_cache_slab(c), &sc, locked);
		sb_depot_counters(sb_cache_depot(c), &dc, locked);
		slab_pages += sc.num_slabs * sc.pages_per_slab;
		slab_obj_bytes += sc.active_objs * sc.size;
		slab_free_bytes += (sc.num_slabs * sc.objs_per_slab - sc.active_objs) * sc.size;
		depot_bytes += dc.full_objs * sc.size;
	}
	n = sb_region_count();
	for (i = 0; i < n; i++) {
		struct sb_zone_counters zc;

		sb_buddy_counters(i, &zc, locked);
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

void sb_heap_usage(struct sb_heap_usage *u)
{
	heap_usage(u, true);
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

/*
 * s as a JSON string.  Cache names come from users (sb_cache_create):
 * quotes, backslashes and control characters are escaped, well-formed
 * UTF-8 passes through, and each byte of a malformed sequence becomes
 * U+FFFD, so that the dump is always valid JSON (RFC 8259).
 */
static void out_json_str(struct out *o, const char *str)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = (const unsigned char *)str;

	out_mem(o, "\"", 1);
	while (*s != '\0') {
		unsigned c = *s, need = 0, k;
		unsigned char lo = 0x80, hi = 0xbf;
		char esc[6] = { '\\', 'u', '0', '0', hex[c >> 4 & 0xf], hex[c & 0xf] };

		if (c == '"' || c == '\\' || c == '\n' || c == '\t' || c == '\r' || c == '\b' ||
		    c == '\f') {
			esc[1] = c == '\n' ? 'n' : c == '\t' ? 't' : c == '\r' ? 'r' :
				 c == '\b' ? 'b' : c == '\f' ? 'f' : (char)c;
			out_mem(o, esc, 2);
			s++;
			continue;
		}
		if (c < 0x20 || c == 0x7f) {
			out_mem(o, esc, 6);
			s++;
			continue;
		}
		if (c < 0x80) {
			out_mem(o, (const char *)s++, 1);
			continue;
		}
		/* The lead byte gives the length and the range of the second
		 * byte that rules out overlong forms, surrogates and > U+10FFFF. */
		if (c >= 0xc2 && c <= 0xdf)
			need = 1;
		else if (c >= 0xe0 && c <= 0xef) {
			need = 2;
			lo = c == 0xe0 ? 0xa0 : 0x80;
			hi = c == 0xed ? 0x9f : 0xbf;
		} else if (c >= 0xf0 && c <= 0xf4) {
			need = 3;
			lo = c == 0xf0 ? 0x90 : 0x80;
			hi = c == 0xf4 ? 0x8f : 0xbf;
		}
		for (k = 1; k <= need; k++) {
			if (s[k] < lo || s[k] > hi)
				break;
			lo = 0x80;
			hi = 0xbf;
		}
		if (need == 0 || k <= need) {
			out_str(o, "\\ufffd");
			s++;
			continue;
		}
		out_mem(o, (const char *)s, need + 1);
		s += need + 1;
	}
	out_mem(o, "\"", 1);
}

static void out_json_key(struct out *o, const char *key)
{
	out_json_str(o, key);
	out_mem(o, ": ", 2);
}

/* ---- The dump: the figures ---------------------------------------------- */

/*
 * One function, dump(), gathers every figure in one walk of the heap and
 * hands them to a writer as it goes: rows of caches, rows of regions, then
 * the summary.  The text and the JSON writers below format the same
 * figures, so the two forms of a dump cannot disagree.
 */

struct dump_head {
	uint64_t pid;
};

/* A slabinfo row: the columns of /proc/slabinfo 2.1, in its order. */
enum {
	CF_ACTIVE_OBJS, CF_NUM_OBJS, CF_OBJSIZE, CF_OBJPERSLAB, CF_PAGESPERSLAB,
	CF_LIMIT, CF_BATCHCOUNT, CF_SHAREDFACTOR,
	CF_ACTIVE_SLABS, CF_NUM_SLABS, CF_SHAREDAVAIL,
	NR_CACHE_FIELDS
};

static const struct {
	const char *name;
	const char *before;	/* text: what precedes the column */
	unsigned width;		/* text: "%6lu %6lu %6u %4u %4d ...", as mm/slab_common.c */
} cache_fields[NR_CACHE_FIELDS] = {
	{ "active_objs", " ", 6 }, { "num_objs", " ", 6 }, { "objsize", " ", 6 },
	{ "objperslab", " ", 4 }, { "pagesperslab", " ", 4 },
	{ "limit", " : tunables ", 4 }, { "batchcount", " ", 4 }, { "sharedfactor", " ", 4 },
	{ "active_slabs", " : slabdata ", 6 }, { "num_slabs", " ", 6 }, { "sharedavail", " ", 6 },
};

struct dump_cache {
	const char *name;
	uint64_t f[NR_CACHE_FIELDS];
};

/* A buddyinfo row.  backing: what the kernel gave (hugetlb: the mapping is
 * hugetlb; thp: smaps shows transparent huge pages in the region; else
 * 4k); expected_backing: what sbmalloc chose at commit (os.c). */
struct dump_region {
	uint64_t index;
	const char *backing, *expected_backing;
	uint64_t nr_free[SB_NR_ORDERS];
	uint64_t free_bytes, resident_bytes, thp_bytes, hugetlb_bytes;
};

/* A line of the summary.  The JSON dump puts the counters of calls
 * (counters.c and the fast paths' own, see calls()) apart from the state. */
enum fig_unit { FIG_COUNT, FIG_BYTES, FIG_PCT /* v in hundredths */ };
enum fig_section { FIG_SUMMARY, FIG_COUNTERS };

struct figure {
	const char *key;
	uint64_t v;
	enum fig_unit unit;
	enum fig_section section;
};

#define MAX_FIGURES 64

struct figures {
	size_t n;
	struct figure f[MAX_FIGURES];
};

static void fig(struct figures *s, enum fig_section section, const char *key,
		enum fig_unit unit, uint64_t v)
{
	if (s->n < MAX_FIGURES)
		s->f[s->n++] = (struct figure){ key, v, unit, section };
}

struct dump_writer {
	void (*slabinfo)(struct out *o, const struct dump_head *h);
	void (*cache)(struct out *o, const struct dump_cache *c, bool first);
	void (*buddyinfo)(struct out *o);
	void (*region)(struct out *o, const struct dump_region *r, bool first);
	void (*summary)(struct out *o, const struct dump_head *h, const struct figures *s);
};

/* What the walks of caches and regions add up, for the summary. */
struct totals {
	uint64_t slab_bytes, exchanges;
	uint64_t free_bytes, resident_bytes, thp_bytes, hugetlb_bytes;
	uint64_t thp_regions, hugetlb_regions;
};

static void walk_caches(struct out *o, const struct dump_writer *w, bool locked,
			struct totals *t)
{
	struct sb_cache *c;
	bool first = true;

	for (c = sb_cache_first(); c != NULL; c = sb_cache_next(c)) {
		struct sb_slab_counters sc;
		struct sb_depot_counters dc;
		struct dump_cache row;

		sb_depot_counters(sb_cache_depot(c), &dc, locked);
		t->exchanges += dc.exchanges;
		if (sb_cache_is_dead(c))
			continue;
		sb_slab_counters(sb_cache_slab(c), &sc, locked);
		t->slab_bytes += (uint64_t)sc.num_slabs * sc.pages_per_slab * SB_PAGE_SIZE;
		row.name = sc.name;
		row.f[CF_ACTIVE_OBJS] = sc.active_objs;
		row.f[CF_NUM_OBJS] = (uint64_t)sc.num_slabs * sc.objs_per_slab;
		row.f[CF_OBJSIZE] = sc.size;
		row.f[CF_OBJPERSLAB] = sc.objs_per_slab;
		row.f[CF_PAGESPERSLAB] = sc.pages_per_slab;
		row.f[CF_LIMIT] = dc.mag_cap;
		row.f[CF_BATCHCOUNT] = dc.mag_cap;
		row.f[CF_SHAREDFACTOR] = 0;
		row.f[CF_ACTIVE_SLABS] = sc.active_slabs;
		row.f[CF_NUM_SLABS] = sc.num_slabs;
		row.f[CF_SHAREDAVAIL] = dc.full_objs;
		w->cache(o, &row, first);
		first = false;
	}
}

/*
 * Huge-page bytes of regions first .. first + REGION_BATCH - 1 and (blocks)
 * of the huge blocks, from what smaps says of each mapping (os.c).  The
 * registry tells whose each 32 MiB slot of a mapping is; a mapping the
 * kernel merged across several of ours (adjacent, with the same flags) is
 * shared among them in proportion to their part of it, so the sum is exact
 * and a region's figure may not be.  Regions come in batches so that the
 * tally fits on the stack (the dump also runs in a signal handler): one
 * read of smaps per REGION_BATCH regions (4 GiB of heap).
 */
#define REGION_BATCH 128

struct huge_tally {
	size_t first;
	bool blocks;
	uint64_t thp[REGION_BATCH], hugetlb[REGION_BATCH];
	uint64_t block_thp, block_hugetlb;
};

static uint64_t share(size_t bytes, uintptr_t part, uintptr_t whole)
{
	return (uint64_t)((unsigned __int128)bytes * part / whole);
}

static void tally(void *arg, uintptr_t start, uintptr_t end, size_t thp, size_t hugetlb)
{
	struct huge_tally *t = arg;
	uintptr_t a;

	for (a = start & ~(uintptr_t)SB_REGION_MASK; a < end; a += SB_REGION_SIZE) {
		const struct sb_region *r = sb_registry_region((const void *)a);
		uintptr_t part = (a + SB_REGION_SIZE < end ? a + SB_REGION_SIZE : end) -
				 (a > start ? a : start);
		uint64_t *to_thp, *to_hugetlb;

		if (r != NULL && r->index >= t->first && r->index - t->first < REGION_BATCH) {
			to_thp = &t->thp[r->index - t->first];
			to_hugetlb = &t->hugetlb[r->index - t->first];
		} else if (r == NULL && t->blocks && sb_registry_huge((const void *)a) != NULL) {
			to_thp = &t->block_thp;
			to_hugetlb = &t->block_hugetlb;
		} else {
			continue;
		}
		*to_thp += share(thp, part, end - start);
		*to_hugetlb += share(hugetlb, part, end - start);
	}
}

static void walk_regions(struct out *o, const struct dump_writer *w, bool locked,
			 struct totals *t)
{
	struct huge_tally h;
	size_t i, first = 0, n = sb_region_count();

	do {
		memset(&h, 0, sizeof(h));
		h.first = first;
		h.blocks = first == 0;
		sb_os_huge_pages(tally, &h);	/* unreadable: no huge pages seen */
		for (i = first; i < n && i - first < REGION_BATCH; i++) {
			struct sb_zone_counters zc;
			struct dump_region r;
			enum sb_backing got;
			unsigned k;

			sb_buddy_counters(i, &zc, locked);
			r.thp_bytes = h.thp[i - first];
			r.hugetlb_bytes = h.hugetlb[i - first];
			got = zc.backing == SB_BACKING_HUGETLB ? SB_BACKING_HUGETLB :
			      r.thp_bytes != 0 ? SB_BACKING_THP : SB_BACKING_4K;
			r.index = zc.index;
			r.backing = sb_backing_name(got);
			r.expected_backing = sb_backing_name(zc.backing);
			for (k = 0; k < SB_NR_ORDERS; k++)
				r.nr_free[k] = zc.nr_free[k];
			r.free_bytes = (uint64_t)zc.free_pages << SB_PAGE_SHIFT;
			r.resident_bytes = sb_os_resident(zc.base, SB_REGION_SIZE);
			t->free_bytes += r.free_bytes;
			t->resident_bytes += r.resident_bytes;
			t->thp_bytes += r.thp_bytes;
			t->hugetlb_bytes += r.hugetlb_bytes;
			t->thp_regions += got == SB_BACKING_THP;
			t->hugetlb_regions += got == SB_BACKING_HUGETLB;
			w->region(o, &r, i == 0);
		}
		if (h.blocks) {
			t->thp_bytes += h.block_thp;
			t->hugetlb_bytes += h.block_hugetlb;
		}
		first += REGION_BATCH;
	} while (first < n);
}

/*
 * What served the calls: the slow paths' event counters (counters.c) and
 * what the fast paths counted in their own structures (sb_tc_traffic).
 * Lock-free: exact when the threads are quiet.
 */
struct calls {
	uint64_t malloc_mag, malloc_depot, malloc_slab, malloc_pages, malloc_buddy, malloc_huge;
	uint64_t malloc_guard;
	uint64_t free_mag, free_depot, free_slab, free_remote, free_pages, free_buddy, free_huge;
	uint64_t free_guard;
	uint64_t realloc_slab, realloc_buddy, realloc_huge, realloc_move;
	uint64_t calloc, aligned, handed_out;
};

static void count_calls(struct calls *c)
{
	uint64_t n[SB_NR_EVENTS];
	struct sb_tc_traffic tr;

	sb_counters_sum(n);
	sb_tc_traffic(&tr);
	*c = (struct calls){
		.malloc_mag = tr.pops, .malloc_depot = n[SB_EV_MALLOC_DEPOT],
		.malloc_slab = n[SB_EV_MALLOC_SLAB], .malloc_pages = tr.page_pops,
		.malloc_buddy = n[SB_EV_MALLOC_BUDDY], .malloc_huge = n[SB_EV_MALLOC_HUGE],
		.malloc_guard = n[SB_EV_MALLOC_GUARD],
		.free_mag = tr.pushes, .free_depot = n[SB_EV_FREE_DEPOT],
		.free_slab = n[SB_EV_FREE_SLAB], .free_remote = tr.remote,
		.free_pages = tr.page_pushes, .free_buddy = n[SB_EV_FREE_BUDDY],
		.free_huge = n[SB_EV_FREE_HUGE], .free_guard = n[SB_EV_FREE_GUARD],
		.realloc_slab = tr.reallocs + n[SB_EV_REALLOC_SLAB], .realloc_buddy = n[SB_EV_REALLOC_BUDDY],
		.realloc_huge = n[SB_EV_REALLOC_HUGE], .realloc_move = n[SB_EV_REALLOC_MOVE],
		.calloc = tr.callocs + n[SB_EV_CALLOC], .aligned = n[SB_EV_ALIGNED],
		.handed_out = tr.pop_bytes + tr.page_pop_bytes + n[SB_EV_HANDED_OUT],
	};
}

static uint64_t calls_malloc(const struct calls *c)
{
	return c->malloc_mag + c->malloc_depot + c->malloc_slab + c->malloc_pages +
	       c->malloc_buddy + c->malloc_huge + c->malloc_guard;
}

static uint64_t calls_free(const struct calls *c)
{
	return c->free_mag + c->free_depot + c->free_slab + c->free_remote + c->free_pages +
	       c->free_buddy + c->free_huge + c->free_guard;
}

static uint64_t calls_realloc(const struct calls *c)
{
	return c->realloc_slab + c->realloc_buddy + c->realloc_huge + c->realloc_move;
}

static void dump(int fd, bool locked, const struct dump_writer *w)
{
	struct out o = { .fd = fd, .len = 0 };
	struct dump_head head = { (uint64_t)getpid() };
	struct totals t;
	struct figures s;
	struct sb_region_counters rc;
	struct sb_huge_counters hc;
	struct sb_guard_counters gc;
	struct sb_heap_usage u;
	struct calls k;
	uint64_t mapped, mag_ops;
	struct rusage ru;

	memset(&t, 0, sizeof(t));
	s.n = 0;
	w->slabinfo(&o, &head);
	walk_caches(&o, w, locked, &t);
	w->buddyinfo(&o);
	walk_regions(&o, w, locked, &t);
	sb_region_counters(&rc);
	sb_huge_counters(&hc, locked);
	sb_guard_counters(&gc);
	heap_usage(&u, locked);
	count_calls(&k);
	getrusage(RUSAGE_SELF, &ru);
	mapped = rc.region_bytes + hc.bytes + hc.cached_bytes;
	mag_ops = k.malloc_mag + k.malloc_depot + k.malloc_slab +
		  k.free_mag + k.free_depot + k.free_slab;

#define C(key, unit, v) fig(&s, FIG_COUNTERS, key, unit, v)
#define S(key, unit, v) fig(&s, FIG_SUMMARY, key, unit, v)
	C("handed_out_bytes", FIG_BYTES, k.handed_out);
	S("mapped_bytes", FIG_BYTES, mapped);
	S("mapped_bytes_peak", FIG_BYTES, sb_os_mapped_peak());
	S("regions", FIG_COUNT, rc.regions);
	S("slab_bytes", FIG_BYTES, t.slab_bytes);
	S("buddy_free_bytes", FIG_BYTES, t.free_bytes);
	S("resident_bytes", FIG_BYTES, t.resident_bytes + (locked ? sb_huge_resident() : hc.bytes));
	S("live_bytes", FIG_BYTES, u.in_use);
	S("process_peak_rss_bytes", FIG_BYTES, (uint64_t)ru.ru_maxrss * 1024);
	S("huge_page_share_pct", FIG_PCT, pct100(t.thp_bytes + t.hugetlb_bytes, mapped));
	S("thp_bytes", FIG_BYTES, t.thp_bytes);
	S("hugetlb_bytes", FIG_BYTES, t.hugetlb_bytes);
	S("hugetlb_regions", FIG_COUNT, t.hugetlb_regions);
	S("thp_regions", FIG_COUNT, t.thp_regions);
	S("huge_blocks", FIG_COUNT, hc.count);
	S("huge_blocks_bytes", FIG_BYTES, hc.bytes);
	S("huge_cached_blocks", FIG_COUNT, hc.cached_count);
	S("huge_cached_bytes", FIG_BYTES, hc.cached_bytes);
	S("huge_reused", FIG_COUNT, hc.reused);
	S("guard_slots", FIG_COUNT, gc.slots);
	S("guard_live", FIG_COUNT, gc.live);
	S("guard_allocations", FIG_COUNT, gc.sampled);
	S("guard_reports", FIG_COUNT, gc.reports);
	C("large_allocations", FIG_COUNT, k.malloc_pages + k.malloc_buddy);
	C("huge_allocations", FIG_COUNT, k.malloc_huge);
	C("magazine_hit_pct", FIG_PCT, pct100(k.malloc_mag + k.free_mag, mag_ops));
	S("depot_exchanges", FIG_COUNT, t.exchanges);
	C("malloc", FIG_COUNT, calls_malloc(&k));
	C("malloc_magazine", FIG_COUNT, k.malloc_mag);
	C("malloc_depot", FIG_COUNT, k.malloc_depot);
	C("malloc_slab", FIG_COUNT, k.malloc_slab);
	C("malloc_page_cache", FIG_COUNT, k.malloc_pages);
	C("malloc_buddy", FIG_COUNT, k.malloc_buddy);
	C("malloc_huge", FIG_COUNT, k.malloc_huge);
	C("malloc_guarded", FIG_COUNT, k.malloc_guard);
	C("malloc_aligned", FIG_COUNT, k.aligned);
	C("free", FIG_COUNT, calls_free(&k));
	C("free_magazine", FIG_COUNT, k.free_mag);
	C("free_depot", FIG_COUNT, k.free_depot);
	C("free_slab", FIG_COUNT, k.free_slab);
	C("free_remote", FIG_COUNT, k.free_remote);
	C("free_page_cache", FIG_COUNT, k.free_pages);
	C("free_buddy", FIG_COUNT, k.free_buddy);
	C("free_huge", FIG_COUNT, k.free_huge);
	C("free_guarded", FIG_COUNT, k.free_guard);
	C("realloc", FIG_COUNT, calls_realloc(&k));
	C("realloc_in_place_slab", FIG_COUNT, k.realloc_slab);
	C("realloc_in_place_buddy", FIG_COUNT, k.realloc_buddy);
	C("realloc_in_place_huge", FIG_COUNT, k.realloc_huge);
	C("realloc_moved", FIG_COUNT, k.realloc_move);
	C("calloc", FIG_COUNT, k.calloc);
#undef C
#undef S
	w->summary(&o, &head, &s);
	out_flush(&o);
}

/* ---- The dump: text ------------------------------------------------------ */

static void text_slabinfo(struct out *o, const struct dump_head *h)
{
	out_str(o, "slabinfo - version: 2.1\n"
		   "# name            <active_objs> <num_objs> <objsize> <objperslab> "
		   "<pagesperslab> : tunables <limit> <batchcount> <sharedfactor> : "
		   "slabdata <active_slabs> <num_slabs> <sharedavail>\n");
}

static void text_cache(struct out *o, const struct dump_cache *c, bool first)
{
	char name[SB_CACHE_NAME_MAX];
	size_t i;
	unsigned k;

	/* One word, or the row would not parse: a user's name (sb_cache_create)
	 * shows its spaces and control characters as '_' here. */
	for (i = 0; c->name[i] != '\0' && i < sizeof(name) - 1; i++)
		name[i] = (unsigned char)c->name[i] <= ' ' || c->name[i] == 0x7f ? '_' : c->name[i];
	name[i] = '\0';
	out_pad(o, name, 17, true);	/* "%-17s", as mm/slab_common.c */
	for (k = 0; k < NR_CACHE_FIELDS; k++) {
		out_str(o, cache_fields[k].before);
		out_u64(o, c->f[k], cache_fields[k].width);
	}
	out_mem(o, "\n", 1);
}

static void text_buddyinfo(struct out *o)
{
	out_str(o, "\nbuddyinfo\n");
}

/* "Node %d, zone %8s " then "%6lu " per order, as mm/vmstat.c */
static void text_region(struct out *o, const struct dump_region *r, bool first)
{
	unsigned k;

	out_str(o, "Region ");
	out_u64(o, r->index, 0);
	out_str(o, ", backing ");
	out_pad(o, r->backing, 8, false);
	out_mem(o, " ", 1);
	for (k = 0; k < SB_NR_ORDERS; k++) {
		out_u64(o, r->nr_free[k], 6);
		out_mem(o, " ", 1);
	}
	out_mem(o, "\n", 1);
}

static void text_summary(struct out *o, const struct dump_head *h, const struct figures *s)
{
	size_t i;

	out_str(o, "\nsummary - sbmalloc " PACKAGE_VERSION ", pid ");
	out_u64(o, h->pid, 0);
	out_str(o, ", counters on\n");	/* always (JSON format 2 on) */
	for (i = 0; i < s->n; i++) {
		out_pad(o, s->f[i].key, 28, true);
		if (s->f[i].unit == FIG_PCT)
			out_hundredths(o, s->f[i].v);
		else
			out_u64(o, s->f[i].v, 0);
		out_mem(o, "\n", 1);
	}
}

static const struct dump_writer text_writer = {
	text_slabinfo, text_cache, text_buddyinfo, text_region, text_summary,
};

void sb_stats_dump(int fd, bool locked)
{
	dump(fd, locked, &text_writer);
}

/* ---- The dump: JSON (docs/stats-json.md) -------------------------------- */

#define JSON_FORMAT_VERSION "2"

static void json_slabinfo(struct out *o, const struct dump_head *h)
{
	out_str(o, "{\"format_version\": " JSON_FORMAT_VERSION ", ");
	out_json_key(o, "sbmalloc_version");
	out_json_str(o, PACKAGE_VERSION);
	out_str(o, ", ");
	out_json_key(o, "pid");
	out_u64(o, h->pid, 0);
	out_str(o, ", ");
	out_json_key(o, "counters_on");
	out_str(o, "true");	/* always (JSON format 2 on) */
	out_str(o, ",\n ");
	out_json_key(o, "slabinfo");
	out_mem(o, "[", 1);
}

static void json_cache(struct out *o, const struct dump_cache *c, bool first)
{
	unsigned k;

	out_str(o, first ? "\n  {" : ",\n  {");
	out_json_key(o, "name");
	out_json_str(o, c->name);
	for (k = 0; k < NR_CACHE_FIELDS; k++) {
		out_str(o, ", ");
		out_json_key(o, cache_fields[k].name);
		out_u64(o, c->f[k], 0);
	}
	out_mem(o, "}", 1);
}

static void json_buddyinfo(struct out *o)
{
	out_str(o, "\n ],\n ");
	out_json_key(o, "buddyinfo");
	out_mem(o, "[", 1);
}

static void json_u64_field(struct out *o, const char *key, uint64_t v)
{
	out_str(o, ", ");
	out_json_key(o, key);
	out_u64(o, v, 0);
}

static void json_region(struct out *o, const struct dump_region *r, bool first)
{
	unsigned k;

	out_str(o, first ? "\n  {" : ",\n  {");
	out_json_key(o, "index");
	out_u64(o, r->index, 0);
	out_str(o, ", ");
	out_json_key(o, "backing");
	out_json_str(o, r->backing);
	out_str(o, ", ");
	out_json_key(o, "expected_backing");
	out_json_str(o, r->expected_backing);
	out_str(o, ", ");
	out_json_key(o, "free");
	for (k = 0; k < SB_NR_ORDERS; k++) {
		out_mem(o, k == 0 ? "[" : ", ", k == 0 ? 1 : 2);
		out_u64(o, r->nr_free[k], 0);
	}
	out_mem(o, "]", 1);
	json_u64_field(o, "free_bytes", r->free_bytes);
	json_u64_field(o, "resident_bytes", r->resident_bytes);
	json_u64_field(o, "thp_bytes", r->thp_bytes);
	json_u64_field(o, "hugetlb_bytes", r->hugetlb_bytes);
	out_mem(o, "}", 1);
}

static void json_figures(struct out *o, const struct figures *s, enum fig_section section)
{
	bool first = true;
	size_t i;

	for (i = 0; i < s->n; i++) {
		if (s->f[i].section != section)
			continue;
		out_str(o, first ? "\n  " : ",\n  ");
		out_json_key(o, s->f[i].key);
		if (s->f[i].unit == FIG_PCT)
			out_hundredths(o, s->f[i].v);
		else
			out_u64(o, s->f[i].v, 0);
		first = false;
	}
}

static void json_summary(struct out *o, const struct dump_head *h, const struct figures *s)
{
	out_str(o, "\n ],\n ");
	out_json_key(o, "summary");
	out_mem(o, "{", 1);
	json_figures(o, s, FIG_SUMMARY);
	out_str(o, "\n },\n ");
	out_json_key(o, "counters");
	out_mem(o, "{", 1);
	json_figures(o, s, FIG_COUNTERS);
	out_str(o, "\n }\n}\n");
}

static const struct dump_writer json_writer = {
	json_slabinfo, json_cache, json_buddyinfo, json_region, json_summary,
};

void sb_stats_dump_json(int fd, bool locked)
{
	dump(fd, locked, &json_writer);
}

SB_EXPORT void sb_stats_print_json(int fd)
{
	sb_ensure_init();
	sb_stats_dump_json(fd, true);
}

/* ---- When to dump ------------------------------------------------------ */

/*
 * Dump to stderr or to the target file, truncated and written in place
 * (never replaced: the path may be /dev/stderr, a FIFO, a symlink).  A
 * reader may see a dump half written (tools/sbtop waits for the summary's
 * last line).  All of it is async-signal-safe.
 */
static void dump_in_format(int fd, bool locked)
{
	if (sb_config.stats_format == SB_STATS_JSON)
		sb_stats_dump_json(fd, locked);
	else
		sb_stats_dump(fd, locked);
}

static void dump_to_target(bool locked)
{
	char path[512];
	int fd;

	if (!sb_config_stats_file(path, sizeof(path))) {
		dump_in_format(stderr_copy, locked);
		return;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return;
	dump_in_format(fd, locked);
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
	ST_ALLOCATED, ST_HANDED_OUT, ST_MALLOC, ST_FREE, ST_REALLOC, ST_CALLOC, ST_MAPPED,
	ST_MAPPED_PEAK, ST_RESIDENT, ST_REGIONS, ST_SLAB, ST_BUDDY_FREE, ST_HUGE_BLOCKS,
	ST_HUGE_BYTES, ST_HUGE_CACHED_BYTES,
};

enum stat_type { ST_SIZE, ST_U64 };

static const struct {
	const char *name;
	enum stat_type type;
} stat_names[] = {
	[ST_ALLOCATED] = { "allocated", ST_SIZE },
	[ST_HANDED_OUT] = { "handed_out", ST_U64 },
	[ST_MALLOC] = { "malloc", ST_U64 },
	[ST_FREE] = { "free", ST_U64 },
	[ST_REALLOC] = { "realloc", ST_U64 },
	[ST_CALLOC] = { "calloc", ST_U64 },
	[ST_MAPPED] = { "mapped", ST_SIZE },
	[ST_MAPPED_PEAK] = { "mapped_peak", ST_SIZE },
	[ST_RESIDENT] = { "resident", ST_SIZE },
	[ST_REGIONS] = { "regions", ST_SIZE },
	[ST_SLAB] = { "slab", ST_SIZE },
	[ST_BUDDY_FREE] = { "buddy_free", ST_SIZE },
	[ST_HUGE_BLOCKS] = { "huge_blocks", ST_SIZE },
	[ST_HUGE_BYTES] = { "huge_bytes", ST_SIZE },
	[ST_HUGE_CACHED_BYTES] = { "huge_cached_bytes", ST_SIZE },
};

static uint64_t stat_value(enum stat_id id)
{
	struct sb_region_counters rc;
	struct sb_huge_counters hc;
	struct sb_heap_usage u;
	struct sb_cache *c;
	struct calls k;
	uint64_t v = 0;
	size_t i, n;

	sb_region_counters(&rc);
	sb_huge_counters(&hc, true);
	count_calls(&k);
	switch (id) {
	case ST_ALLOCATED:
		heap_usage(&u, true);
		return u.in_use;
	case ST_HANDED_OUT: return k.handed_out;
	case ST_MALLOC: return calls_malloc(&k);
	case ST_FREE: return calls_free(&k);
	case ST_REALLOC: return calls_realloc(&k);
	case ST_CALLOC: return k.calloc;
	case ST_MAPPED: return rc.region_bytes + hc.bytes + hc.cached_bytes;
	case ST_MAPPED_PEAK: return sb_os_mapped_peak();
	case ST_REGIONS: return rc.regions;
	case ST_HUGE_BLOCKS: return hc.count;
	case ST_HUGE_BYTES: return hc.bytes;
	case ST_HUGE_CACHED_BYTES: return hc.cached_bytes;
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

	for (i = 0; i < sizeof(stat_names) / sizeof(stat_names[0]); i++)
		if (strcmp(name, stat_names[i].name) == 0)
			break;
	if (i == sizeof(stat_names) / sizeof(stat_names[0]))
		return ENOENT;
	size = stat_names[i].type == ST_SIZE ? sizeof(z) : sizeof(v);
	if (newp != NULL || newlen != 0)
		return EPERM;
	if (oldp == NULL || oldlenp == NULL || *oldlenp != size)
		return sb_ctl_value(oldp, oldlenp, NULL, size);
	v = stat_value((enum stat_id)i);
	if (stat_names[i].type == ST_U64)
		return sb_ctl_value(oldp, oldlenp, &v, size);
	z = (size_t)v;
	return sb_ctl_value(oldp, oldlenp, &z, size);
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
