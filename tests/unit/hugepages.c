/*
 * tests/unit/hugepages.c - hugetlb backing and its fallbacks (os.c, region.c, buddy.c,
 * huge.c), and what a forked child does with hugetlb memory (fork.c).
 *
 * Specifies: with no huge pages to be had, hugetlb and auto modes fall back
 * to ordinary pages and the memory works; with a pool big enough for one
 * region, the first region is hugetlb-backed (its pages reserved at mmap
 * time) and the next falls back, with no SIGBUS anywhere; running out in
 * the middle of a run of buddy allocations leaves later regions on 4k/THP
 * pages; purging in a hugetlb region takes whole huge pages; after a
 * refusal the next 8 hugetlb attempts are skipped; a child forked from a
 * hugetlb heap (through the fork handlers) gets ordinary pages holding the
 * data of the pages in use, and only those, and its zone then purges at the
 * 4k order; and that sb_buddy_validate catches a purge order changed
 * without recounting the purgeable pages, the invariant that switch keeps.
 *
 * Regions are made the way the heap makes them: by the buddy allocator,
 * when every zone is full (new_region() allocates a region's worth of top
 * order blocks).  After the work, every zone must pass sb_buddy_validate.
 * The fork tests call sb_fork_prepare/sb_fork_child/sb_fork_parent around
 * _Fork(), which runs no atfork handlers, so that those that init.c's
 * constructor registered do not run a second time.
 *
 * The tests of a pool change /proc/sys/vm/nr_hugepages (and zero
 * nr_overcommit_hugepages), which only root can do: each one skips when the
 * file cannot be opened for writing.  (The validator's test needs no pool.)  The test's own process changes the
 * settings, runs the work in a child, waits for it and then always puts the
 * old values back before reporting, whatever the child did (a CHECK
 * failing, SIGBUS, a timeout).  nr_hugepages is global, so every test that
 * touches it lives in this one program, where tests run one at a time.
 * Other programs running meanwhile may take huge pages too: when the pool
 * is found short before our first region is made, the test is skipped.
 */
#include "buddy.h"
#include "config.h"
#include "fork.h"
#include "huge.h"
#include "init.h"
#include "os.h"
#include "region.h"
#include "registry.h"
#include "../tap.h"

#include <fcntl.h>
#include <stdint.h>

#define NR_PATH "/proc/sys/vm/nr_hugepages"
#define OVER_PATH "/proc/sys/vm/nr_overcommit_hugepages"
#define REGION_HUGE_PAGES ((long)(SB_REGION_SIZE / SB_HUGE_PAGE_SIZE))	/* 16 */
#define REGION_BLOCKS ((int)(SB_REGION_PAGES / SB_MAX_BLOCK_PAGES))	/* 8 */
#define WORK_TIMEOUT 60

/* ---- /proc and /sys ------------------------------------------------------ */

static bool read_long(const char *path, long *v)
{
	FILE *f = fopen(path, "r");
	bool ok;

	if (f == NULL)
		return false;
	ok = fscanf(f, "%ld", v) == 1;
	fclose(f);
	return ok;
}

static bool write_long(const char *path, long v)
{
	char buf[32];
	int fd = open(path, O_WRONLY | O_CLOEXEC), n;
	bool ok;

	if (fd < 0)
		return false;
	n = snprintf(buf, sizeof(buf), "%ld\n", v);
	ok = write(fd, buf, (size_t)n) == n;
	close(fd);
	return ok;
}

/* A "Key:   value" field of a /proc file, or -1. */
static long proc_field(const char *path, const char *key)
{
	FILE *f = fopen(path, "r");
	char line[256];
	size_t len = strlen(key);
	long v = -1;

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, key, len) == 0 && line[len] == ':') {
			v = strtol(line + len + 1, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

static long hp_free(void) { return proc_field("/proc/meminfo", "HugePages_Free"); }
static long hp_rsvd(void) { return proc_field("/proc/meminfo", "HugePages_Rsvd"); }
/* Free huge pages not promised to any mapping yet. */
static long hp_available(void) { return hp_free() - hp_rsvd(); }
/* Huge pages this process has faulted in, in kB. */
static long my_hugetlb_kb(void) { return proc_field("/proc/self/status", "HugetlbPages"); }

/* ---- Running work with a pool of a given size ------------------------------ */

/*
 * Set nr_hugepages to nr (and nr_overcommit_hugepages to 0), run work() in
 * a child, restore both settings, then report the child's outcome as this
 * test's.  Skips if the settings cannot be changed or if fewer than
 * min_free huge pages are free after the change.
 */
static void with_huge_pages(long nr, long min_free, void (*work)(void))
{
	long old_nr, old_over = 0, got_free = -1, now = -1;
	bool have_over, restored;
	int status = 0, fd;
	pid_t pid;

	fd = open(NR_PATH, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || !read_long(NR_PATH, &old_nr))
		tap_skip("cannot write " NR_PATH);
	close(fd);
	have_over = read_long(OVER_PATH, &old_over);

	/* From here on every path goes through the restore below. */
	if (have_over && old_over != 0)
		write_long(OVER_PATH, 0);
	if (!write_long(NR_PATH, nr)) {
		status = -1;
		goto restore;
	}
	got_free = hp_free();
	if (got_free < min_free) {
		status = -2;
		goto restore;
	}
	fflush(stdout);
	pid = fork();
	if (pid < 0) {
		status = -3;
		goto restore;
	}
	if (pid == 0) {
		alarm(WORK_TIMEOUT);
		work();
		fflush(stdout);
		_exit(0);
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
restore:
	restored = write_long(NR_PATH, old_nr);
	if (have_over && old_over != 0)
		restored &= write_long(OVER_PATH, old_over);
	CHECKF(restored, "could not put " NR_PATH " back to %ld", old_nr);
	CHECKF(read_long(NR_PATH, &now) && now == old_nr, NR_PATH " is %ld, was %ld", now, old_nr);

	if (status == -1)
		tap_skip("cannot write " NR_PATH);
	if (status == -2) {
		tap_diag("only %ld huge pages free after asking for %ld", got_free, nr);
		tap_skip("not enough huge pages could be allocated");
	}
	CHECKF(status != -3, "fork failed");
	if (WIFEXITED(status) && WEXITSTATUS(status) == TAP_SKIP_CODE)
		_exit(TAP_SKIP_CODE);
	CHECKF(!WIFSIGNALED(status), "the work died of signal %d (%s)", WTERMSIG(status),
	       WTERMSIG(status) == SIGBUS ? "SIGBUS" :
	       WTERMSIG(status) == SIGALRM ? "timeout" : strsignal(WTERMSIG(status)));
	CHECKF(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the work failed (exit %d)",
	       WEXITSTATUS(status));
}

/* ---- Helpers for the work ------------------------------------------------ */

/*
 * A new region, made by the buddy allocator: with every zone full, a
 * region's worth of top-order blocks fills exactly one new zone.
 */
static struct sb_region *new_region(void)
{
	size_t n = sb_region_count();
	struct sb_region *r;
	void *b[REGION_BLOCKS];
	int i;

	for (i = 0; i < REGION_BLOCKS; i++) {
		b[i] = sb_buddy_alloc(SB_MAX_BLOCK_PAGES, 1);
		CHECKF(b[i] != NULL, "block %d of region %zu", i, n);
	}
	CHECKF(sb_region_count() == n + 1, "%zu regions after filling one more, had %zu",
	       sb_region_count(), n);
	r = sb_region_at(n);
	for (i = 0; i < REGION_BLOCKS; i++)
		CHECK(sb_registry_region(b[i]) == r);
	return r;
}

/* Every zone passes sb_buddy_validate. */
static void check_zones(void)
{
	size_t i, n = sb_region_count();

	for (i = 0; i < n; i++)
		CHECKF(sb_buddy_validate(i), "zone %zu is invalid (see stderr)", i);
}

/* The purge order buddy.c gives a zone of backing b. */
static unsigned purge_order_for(enum sb_backing b)
{
	return b == SB_BACKING_4K ? 2 : SB_HUGE_PAGE_ORDER;
}

/*
 * fork() with the fork handlers, called here: _Fork() runs none of the
 * atfork handlers, so those registered by the library constructor do not
 * run a second time (sb_fork_prepare's locks are not recursive).
 */
static pid_t fork_through_handlers(void)
{
	pid_t pid;

	fflush(stdout);
	sb_fork_prepare();
	pid = _Fork();
	if (pid == 0)
		sb_fork_child();
	else
		sb_fork_parent();
	return pid;
}

static void wait_for_child(pid_t pid)
{
	int status;

	CHECK(pid > 0);
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECKF(!WIFSIGNALED(status), "child killed by signal %d (%s)", WTERMSIG(status),
	       WTERMSIG(status) == SIGBUS ? "SIGBUS" : strsignal(WTERMSIG(status)));
	CHECKF(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status 0x%x", status);
}

/* Write one byte in every 4 KiB page (and so in every huge page). */
static void touch_every_page(char *p, size_t len, char v)
{
	size_t off;

	for (off = 0; off < len; off += SB_PAGE_SIZE)
		p[off] = v;
	p[len - 1] = v;
	for (off = 0; off < len; off += SB_PAGE_SIZE)
		CHECK(p[off] == v);
}

/* Skip (from the work) when another process took the pool from us. */
static void need_available(long n, const char *when)
{
	long a = hp_available();

	if (a < n) {
		tap_diag("%ld huge pages available %s, need %ld", a, when, n);
		tap_skip("huge pages taken by another process");
	}
}

/* ---- Case 1: an empty pool ----------------------------------------------- */

static void empty_pool_regions(enum sb_hugepages_mode mode)
{
	struct sb_region *r[3];
	int i;

	sb_config_set_hugepages(mode);
	CHECK(hp_available() <= 0);
	for (i = 0; i < 3; i++) {
		r[i] = new_region();
		CHECKF(r[i]->backing != SB_BACKING_HUGETLB, "region %d is hugetlb-backed", i);
	}
	for (i = 0; i < 3; i++)
		touch_every_page(r[i]->base, SB_REGION_SIZE, (char)(i + 1));
	CHECKF(my_hugetlb_kb() <= 0, "HugetlbPages: %ld kB", my_hugetlb_kb());
	check_zones();
}

static void work_empty_pool_hugetlb(void) { empty_pool_regions(SB_HUGEPAGES_HUGETLB); }
static void work_empty_pool_auto(void) { empty_pool_regions(SB_HUGEPAGES_AUTO); }

static void work_empty_pool_huge_block(void)
{
	struct sb_huge *h;
	char *base;

	sb_config_set_hugepages(SB_HUGEPAGES_HUGETLB);
	h = sb_huge_alloc(8 << 20, 0, false);	/* a whole number of huge pages */
	CHECK(h != NULL);
	base = sb_huge_base(h);
	CHECK(sb_huge_size(h) == 8 << 20);
	/* The descriptor's backing is huge.c's: the memory says it is not hugetlb. */
	touch_every_page(base, sb_huge_size(h), 7);
	CHECKF(my_hugetlb_kb() <= 0, "HugetlbPages: %ld kB", my_hugetlb_kb());
	CHECK(sb_registry_huge(base) == h && sb_registry_huge(base + sb_huge_size(h) - 1) == h);
	CHECK(sb_registry_region(base) == NULL);
}

TEST(hugetlb_mode_falls_back_to_ordinary_pages_when_the_pool_is_empty)
{
	with_huge_pages(0, 0, work_empty_pool_hugetlb);
}

TEST(auto_mode_falls_back_to_ordinary_pages_when_the_pool_is_empty)
{
	with_huge_pages(0, 0, work_empty_pool_auto);
}

TEST(huge_block_falls_back_to_ordinary_pages_when_the_pool_is_empty)
{
	with_huge_pages(0, 0, work_empty_pool_huge_block);
}

/* ---- Case 2: room for one region ------------------------------------------- */

static void work_one_region_of_huge_pages(void)
{
	struct sb_region_counters rc;
	struct sb_region *r0, *r1;
	long free0, avail0, avail1;

	sb_config_set_hugepages(SB_HUGEPAGES_AUTO);
	free0 = hp_free();
	avail0 = hp_available();
	need_available(REGION_HUGE_PAGES, "before the first region");

	r0 = new_region();
	if (r0->backing != SB_BACKING_HUGETLB)
		need_available(REGION_HUGE_PAGES, "after the first region fell back");
	CHECKF(r0->backing == SB_BACKING_HUGETLB, "first region: backing %s",
	       sb_backing_name(r0->backing));
	/* no MAP_NORESERVE: its 16 huge pages are reserved at mmap time */
	avail1 = hp_available();
	CHECKF(avail0 - avail1 >= REGION_HUGE_PAGES, "available huge pages %ld -> %ld", avail0, avail1);

	r1 = new_region();
	CHECKF(r1->backing != SB_BACKING_HUGETLB, "second region: backing %s (%ld huge pages were available)",
	       sb_backing_name(r1->backing), avail1);
	sb_region_counters(&rc);
	CHECK(rc.regions == 2 && rc.hugetlb_regions == 1);
	CHECK(sb_zone_of_region(r0)->purge_order == SB_HUGE_PAGE_ORDER);
	CHECK(sb_zone_of_region(r1)->purge_order == purge_order_for(r1->backing));

	touch_every_page(r0->base, SB_REGION_SIZE, 1);
	touch_every_page(r1->base, SB_REGION_SIZE, 2);
	CHECKF(my_hugetlb_kb() == (long)(SB_REGION_SIZE >> 10), "HugetlbPages: %ld kB",
	       my_hugetlb_kb());
	CHECKF(free0 - hp_free() >= REGION_HUGE_PAGES, "HugePages_Free %ld -> %ld", free0, hp_free());
	check_zones();
}

TEST(with_room_for_one_region_the_first_is_hugetlb_and_the_second_falls_back)
{
	with_huge_pages(20, REGION_HUGE_PAGES, work_one_region_of_huge_pages);
}

/* ---- A forked child of a hugetlb heap ------------------------------------- */

/*
 * With the pool used up by our region, a child writing to a MAP_PRIVATE
 * hugetlb page it shares with its parent would need a new huge page for the
 * copy and get SIGBUS.  The fork handlers (sb_buddy_fork_child) give the
 * child ordinary pages holding the same data first.
 */

/* A hugetlb region filled with REGION_BLOCKS top-order blocks, block i
 * written with i + 1 in every page; skips if the pool did not grant it. */
static struct sb_region *hugetlb_region_of_blocks(char **blocks)
{
	struct sb_region *r;
	int i;

	sb_config_set_hugepages(SB_HUGEPAGES_AUTO);
	sb_config_set_dirty_max((size_t)1 << 30);	/* nothing freed here is purged */
	need_available(REGION_HUGE_PAGES, "before the region");
	for (i = 0; i < REGION_BLOCKS; i++) {
		blocks[i] = sb_buddy_alloc(SB_MAX_BLOCK_PAGES, 1);
		CHECK(blocks[i] != NULL);
		touch_every_page(blocks[i], SB_MAX_BLOCK_SIZE, (char)(i + 1));
	}
	r = sb_registry_region(blocks[0]);
	CHECK(r != NULL);
	if (r->backing != SB_BACKING_HUGETLB)
		tap_skip("the region did not get huge pages");
	CHECK(sb_region_count() == 1);
	CHECK(sb_zone_of_region(r)->purge_order == SB_HUGE_PAGE_ORDER);
	return r;
}

/* In the child, after the fork handlers: r left hugetlb for 4k pages. */
static void check_left_hugetlb(struct sb_region *r)
{
	struct sb_region_counters rc;

	CHECKF(r->backing == SB_BACKING_4K, "child: region backing %s",
	       sb_backing_name(r->backing));
	CHECKF(my_hugetlb_kb() == 0, "child: HugetlbPages %ld kB", my_hugetlb_kb());
	sb_region_counters(&rc);
	CHECK(rc.hugetlb_regions == 0);
	CHECKF(sb_zone_of_region(r)->purge_order == purge_order_for(SB_BACKING_4K),
	       "child: purge order %u", sb_zone_of_region(r)->purge_order);
	check_zones();
}

static void work_fork_child(void)
{
	struct sb_region *r;
	char *blocks[REGION_BLOCKS];
	pid_t pid;
	int i;

	r = hugetlb_region_of_blocks(blocks);
	pid = fork_through_handlers();
	if (pid == 0) {
		alarm(WORK_TIMEOUT);
		check_left_hugetlb(r);
		for (i = 0; i < REGION_BLOCKS; i++) {
			size_t off;

			for (off = 0; off < SB_MAX_BLOCK_SIZE; off += SB_PAGE_SIZE) {
				CHECKF(blocks[i][off] == (char)(i + 1),
				       "child: block %d offset %zu reads %d", i, off, blocks[i][off]);
				blocks[i][off] = (char)(i + 100);	/* copy on write */
			}
		}
		/* The child's heap works on its new pages. */
		sb_buddy_free(blocks[0], "free");
		CHECK(sb_buddy_alloc(SB_MAX_BLOCK_PAGES, 1) == blocks[0]);
		check_zones();
		_exit(0);
	}
	wait_for_child(pid);
	CHECK(r->backing == SB_BACKING_HUGETLB);
	CHECK(sb_zone_of_region(r)->purge_order == SB_HUGE_PAGE_ORDER);
	for (i = 0; i < REGION_BLOCKS; i++)
		CHECK(blocks[i][0] == (char)(i + 1) && blocks[i][SB_MAX_BLOCK_SIZE - 1] == (char)(i + 1));
	check_zones();
}

TEST(a_forked_child_gets_ordinary_pages_with_the_data_of_a_hugetlb_region)
{
	with_huge_pages(REGION_HUGE_PAGES, REGION_HUGE_PAGES, work_fork_child);
}

/*
 * Only pages in use are copied: a free block, and the free pages of a
 * split one, come to the child as fresh zero pages, not resident until
 * touched, whatever stale data the parent's free memory held.
 */
static void work_fork_child_copies_used_pages(void)
{
	struct sb_region *r;
	char *blocks[REGION_BLOCKS], *small, *freed;
	size_t small_pages = 3, off;
	pid_t pid;
	int i;

	r = hugetlb_region_of_blocks(blocks);
	/* The last two blocks go back (stale data in them), and 3 pages of one
	 * are taken again. */
	sb_buddy_free(blocks[REGION_BLOCKS - 1], "free");
	sb_buddy_free(blocks[REGION_BLOCKS - 2], "free");
	small = sb_buddy_alloc(small_pages, 1);
	CHECK(small == blocks[REGION_BLOCKS - 1] || small == blocks[REGION_BLOCKS - 2]);
	freed = small == blocks[REGION_BLOCKS - 1] ? blocks[REGION_BLOCKS - 2]
						   : blocks[REGION_BLOCKS - 1];
	memset(small, 0x77, small_pages * SB_PAGE_SIZE);
	CHECK(freed[0] != 0 && small[small_pages * SB_PAGE_SIZE] != 0);	/* stale */
	check_zones();

	pid = fork_through_handlers();
	if (pid == 0) {
		alarm(WORK_TIMEOUT);
		check_left_hugetlb(r);
		CHECKF(sb_os_resident(freed, SB_MAX_BLOCK_SIZE) == 0,
		       "child: %zu bytes of a free block resident before any use",
		       sb_os_resident(freed, SB_MAX_BLOCK_SIZE));
		CHECKF(sb_os_resident(blocks[0], SB_MAX_BLOCK_SIZE) == SB_MAX_BLOCK_SIZE,
		       "child: %zu bytes of a block in use resident",
		       sb_os_resident(blocks[0], SB_MAX_BLOCK_SIZE));
		for (off = 0; off < SB_MAX_BLOCK_SIZE; off += SB_PAGE_SIZE)
			CHECKF(freed[off] == 0, "child: free block reads %d at offset %zu",
			       freed[off], off);
		for (off = 0; off < small_pages * SB_PAGE_SIZE; off += SB_PAGE_SIZE)
			CHECKF(small[off] == 0x77, "child: 3-page block reads %d at offset %zu",
			       small[off], off);
		for (off = small_pages * SB_PAGE_SIZE; off < SB_MAX_BLOCK_SIZE; off += SB_PAGE_SIZE)
			CHECKF(small[off] == 0, "child: free page of a split block reads %d at "
			       "offset %zu", small[off], off);
		for (i = 0; i < REGION_BLOCKS - 2; i++)
			CHECK(blocks[i][0] == (char)(i + 1) &&
			      blocks[i][SB_MAX_BLOCK_SIZE - 1] == (char)(i + 1));
		_exit(0);
	}
	wait_for_child(pid);
	/* The parent's memory, stale parts too, is as it was. */
	CHECK(r->backing == SB_BACKING_HUGETLB);
	CHECK(freed[0] == (char)(freed == blocks[REGION_BLOCKS - 1] ? REGION_BLOCKS : REGION_BLOCKS - 1));
	CHECK(small[0] == 0x77);
	check_zones();
}

TEST(a_forked_child_copies_only_the_pages_in_use_of_a_hugetlb_region)
{
	with_huge_pages(REGION_HUGE_PAGES, REGION_HUGE_PAGES, work_fork_child_copies_used_pages);
}

/* ---- Case 3: running out in the middle of a run --------------------------- */

#define RUN_REGIONS 4
#define RUN_BLOCKS (RUN_REGIONS * SB_REGION_PAGES / SB_MAX_BLOCK_PAGES)	/* 32 */

static char *run_blocks[RUN_BLOCKS];

/* 4 MiB blocks, each written whole, until RUN_REGIONS regions are full. */
static void allocate_run(void)
{
	size_t i;

	sb_config_set_hugepages(SB_HUGEPAGES_AUTO);
	need_available(REGION_HUGE_PAGES, "before the run");
	for (i = 0; i < RUN_BLOCKS; i++) {
		run_blocks[i] = sb_buddy_alloc(SB_MAX_BLOCK_PAGES, 1);
		CHECKF(run_blocks[i] != NULL, "block %zu", i);
		memset(run_blocks[i], 0x5a, SB_MAX_BLOCK_SIZE);
	}
	CHECKF(sb_region_count() == RUN_REGIONS, "%zu regions", sb_region_count());
	if (sb_region_at(0)->backing != SB_BACKING_HUGETLB)
		need_available(REGION_HUGE_PAGES, "after the first region fell back");
	CHECKF(sb_region_at(0)->backing == SB_BACKING_HUGETLB, "region 0: backing %s",
	       sb_backing_name(sb_region_at(0)->backing));
	for (i = 1; i < RUN_REGIONS; i++)
		CHECKF(sb_region_at(i)->backing != SB_BACKING_HUGETLB, "region %zu is hugetlb-backed", i);
	CHECKF(my_hugetlb_kb() == (long)(SB_REGION_SIZE >> 10), "HugetlbPages: %ld kB",
	       my_hugetlb_kb());
}

static void work_run_out_mid_run(void)
{
	size_t i, k;

	allocate_run();
	for (i = 0; i < RUN_BLOCKS; i++)
		for (k = 0; k < SB_MAX_BLOCK_SIZE; k += SB_PAGE_SIZE)
			CHECKF(run_blocks[i][k] == 0x5a, "block %zu offset %zu", i, k);
	check_zones();
}

static void work_purge_and_refill(void)
{
	struct sb_zone_counters zc;
	size_t i, k;
	char *p;

	allocate_run();
	/* hugetlb (and THP) zones purge only whole huge pages, 4k zones 16 KiB. */
	for (i = 0; i < RUN_REGIONS; i++)
		CHECKF(sb_zone_of_region(sb_region_at(i))->purge_order ==
		       purge_order_for(sb_region_at(i)->backing), "zone %zu: purge order %u", i,
		       sb_zone_of_region(sb_region_at(i))->purge_order);
	/* Free everything with purging on: hugetlb blocks are purged whole. */
	sb_config_set_dirty_max(0);
	for (i = 0; i < RUN_BLOCKS; i++)
		sb_buddy_free(run_blocks[i], "free");
	sb_buddy_counters(0, &zc, true);
	CHECKF(zc.dirty_pages == 0, "region 0: %zu dirty pages after purging", zc.dirty_pages);
	CHECK(zc.free_pages == SB_REGION_PAGES);
	check_zones();
	/* Allocate it all again and write it: no SIGBUS, purged memory reads zero. */
	for (i = 0; i < RUN_BLOCKS; i++) {
		p = sb_buddy_alloc(SB_MAX_BLOCK_PAGES, 1);
		CHECK(p != NULL);
		for (k = 0; k < SB_MAX_BLOCK_SIZE; k += SB_PAGE_SIZE)
			CHECKF(p[k] == 0, "%s block %p reads %#x at offset %zu after purging",
			       sb_backing_name(sb_registry_region(p)->backing),
			       (void *)p, (unsigned char)p[k], k);
		memset(p, 0x6b, SB_MAX_BLOCK_SIZE);
	}
	CHECK(sb_region_count() == RUN_REGIONS);
	check_zones();
}

TEST(running_out_of_huge_pages_mid_run_moves_later_regions_to_ordinary_pages)
{
	with_huge_pages(20, REGION_HUGE_PAGES, work_run_out_mid_run);
}

TEST(purged_hugetlb_blocks_read_zero_and_can_be_written_again)
{
	with_huge_pages(20, REGION_HUGE_PAGES, work_purge_and_refill);
}

/* ---- Backoff after a refusal ----------------------------------------------- */

static void work_backoff(void)
{
	long nr;
	int i;

	sb_config_set_hugepages(SB_HUGEPAGES_HUGETLB);
	need_available(REGION_HUGE_PAGES, "before the first region");
	CHECK(new_region()->backing == SB_BACKING_HUGETLB);
	CHECK(new_region()->backing != SB_BACKING_HUGETLB);	/* refused */

	/* Make room for another region: the pool is put back by the parent. */
	CHECK(read_long(NR_PATH, &nr));
	CHECK(write_long(NR_PATH, nr + 2 * REGION_HUGE_PAGES));
	for (i = 0; i < 8; i++) {
		need_available(REGION_HUGE_PAGES, "during the backoff");
		CHECKF(new_region()->backing != SB_BACKING_HUGETLB,
		       "region %d after the refusal is hugetlb-backed", i + 1);
	}
	need_available(REGION_HUGE_PAGES, "after the backoff");
	CHECKF(new_region()->backing == SB_BACKING_HUGETLB,
	       "the ninth region after the refusal is not hugetlb-backed");
	CHECK(sb_region_count() == 11);
	check_zones();
}

TEST(after_a_refusal_the_next_8_regions_do_not_try_hugetlb)
{
	with_huge_pages(20, REGION_HUGE_PAGES, work_backoff);
}

/* ---- The validator catches what the switch of purge order must keep ----- */

/* Validators report on stderr: run one with stderr sent to a pipe, and
 * return its verdict and what it wrote (NUL-terminated) in out. */
static bool validate_captured(size_t zone, char *out, size_t len)
{
	int fds[2], saved;
	size_t got = 0;
	ssize_t n;
	bool ok;

	CHECK(pipe(fds) == 0);
	saved = dup(2);
	CHECK(saved >= 0 && dup2(fds[1], 2) == 2);
	close(fds[1]);
	ok = sb_buddy_validate(zone);
	CHECK(dup2(saved, 2) == 2);
	close(saved);
	while (got < len - 1 && (n = read(fds[0], out + got, len - 1 - got)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		got += (size_t)n;
	}
	out[got] = '\0';
	close(fds[0]);
	return ok;
}

TEST(the_buddy_validator_catches_a_purge_order_changed_without_recounting_purgeable_pages)
{
	const char *expect = "sbmalloc: buddy: invalid: dirty page counts wrong";
	struct sb_zone *z;
	char out[512], *a, *b;

	sb_config_set_hugepages(SB_HUGEPAGES_OFF);
	sb_config_set_dirty_max((size_t)1 << 30);
	a = sb_buddy_alloc(4, 4);
	b = sb_buddy_alloc(4, 4);
	CHECK(a != NULL && b != NULL && sb_region_count() == 1);
	CHECK(((uintptr_t)a ^ (uintptr_t)b) == 4 * SB_PAGE_SIZE);	/* buddies */
	/* a becomes a dirty free block of order 2 (b keeps it from merging):
	 * purgeable at a 4k zone's purge order, not at the huge page order. */
	sb_buddy_free(a, "free");
	z = sb_zone_of_region(sb_region_at(0));
	CHECK(z->purge_order == purge_order_for(SB_BACKING_4K));
	CHECK(z->dirty_pages == 4 && z->purgeable_pages == 4);
	check_zones();
	z->purge_order = SB_HUGE_PAGE_ORDER;	/* broken on purpose: not recounted */
	CHECKF(!validate_captured(0, out, sizeof(out)), "the validator passed a broken zone");
	CHECKF(strstr(out, expect) != NULL, "stderr lacks \"%s\": %s", expect, out);
}

int main(int argc, char **argv)
{
	sb_global_init();
	return tap_main(argc, argv, TESTS(
		hugetlb_mode_falls_back_to_ordinary_pages_when_the_pool_is_empty,
		auto_mode_falls_back_to_ordinary_pages_when_the_pool_is_empty,
		huge_block_falls_back_to_ordinary_pages_when_the_pool_is_empty,
		with_room_for_one_region_the_first_is_hugetlb_and_the_second_falls_back,
		running_out_of_huge_pages_mid_run_moves_later_regions_to_ordinary_pages,
		purged_hugetlb_blocks_read_zero_and_can_be_written_again,
		after_a_refusal_the_next_8_regions_do_not_try_hugetlb,
		a_forked_child_gets_ordinary_pages_with_the_data_of_a_hugetlb_region,
		a_forked_child_copies_only_the_pages_in_use_of_a_hugetlb_region,
		the_buddy_validator_catches_a_purge_order_changed_without_recounting_purgeable_pages));
}
