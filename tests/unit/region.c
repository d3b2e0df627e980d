/*
 * tests/unit/region.c - regions, the registry, huge blocks, metadata and
 * backing selection (region.c, registry.c, huge.c, meta.c, os.c).
 *
 * Specifies: regions are made by the buddy allocator, one zone each, only
 * when every zone is full; they are SB_REGION_SIZE aligned, writable, listed
 * in creation order and registered over their whole extent;
 * sb_registry_region() and sb_registry_huge() answer for any address
 * without touching it; huge blocks are aligned, registered over their whole
 * reservation (up to the next region boundary), resized in place within it
 * and moved (contents kept) beyond it, and unregistered when freed;
 * metadata is zeroed and never inside a region or huge block;
 * SBMALLOC_HUGEPAGES selects the backing.  Every test starts in a fresh
 * child with no region; main() selects 4k backing so that nothing here
 * depends on the machine's huge page pool.  After every test that makes
 * regions, every zone's validator runs.
 */
#include "buddy.h"
#include "config.h"
#include "huge.h"
#include "init.h"
#include "meta.h"
#include "os.h"
#include "region.h"
#include "registry.h"
#include "../tap.h"

#include <stdint.h>
#include <sys/mman.h>

#define MiB ((size_t)1 << 20)
#define PAGE SB_PAGE_SIZE
#define BLOCKS_PER_REGION (SB_REGION_PAGES / SB_MAX_BLOCK_PAGES)

/* ---- Helpers ----------------------------------------------------------- */

/* Every zone's free lists, page states and counts agree. */
static void check_zones(void)
{
	size_t i, n = sb_region_count();

	for (i = 0; i < n; i++)
		CHECKF(sb_buddy_validate(i), "sb_buddy_validate(%zu) failed", i);
}

/*
 * A new region, all of it ours: every zone is full (the tests allocate
 * nothing else from the buddy allocator), so the first top-order block
 * makes the buddy allocator create one more zone, with everything but that
 * block free, and the rest of its top-order blocks come from it.
 */
static struct sb_region *new_region(void)
{
	size_t n = sb_region_count(), k;
	struct sb_region *r = NULL;
	struct sb_zone *z;

	for (k = 0; k < BLOCKS_PER_REGION; k++) {
		char *p = sb_buddy_alloc(SB_MAX_BLOCK_PAGES, 1);

		CHECKF(p != NULL, "top-order block %zu of region %zu", k, n);
		CHECKF(sb_region_count() == n + 1, "block %zu: %zu regions, want %zu", k,
		       sb_region_count(), n + 1);
		if (r == NULL) {
			r = sb_region_at(n);
			z = sb_zone_of_region(r);
			CHECKF(z->free_pages == SB_REGION_PAGES - SB_MAX_BLOCK_PAGES,
			       "new zone: %zu pages free", z->free_pages);
			CHECKF(z->nr_free[SB_MAX_ORDER] == BLOCKS_PER_REGION - 1,
			       "new zone: %zu free top-order blocks", z->nr_free[SB_MAX_ORDER]);
		}
		CHECKF(sb_registry_region(p) == r, "block %zu at %p not in the new region %p", k,
		       (void *)p, (void *)r->base);
		CHECK(sb_page_state(sb_page_of(p)) == SB_PAGE_BLOCK);
	}
	z = sb_zone_of_region(r);
	CHECKF(z->free_pages == 0 && z->free_mask == 0, "full zone: %zu pages free, mask %#x",
	       z->free_pages, z->free_mask);
	CHECK(sb_buddy_validate(n));
	return r;
}

/*
 * The VmFlags and AnonHugePages lines of the mapping that contains addr in
 * /proc/self/smaps.  Returns false if there is no such mapping.
 */
static bool smaps_of(const void *addr, char *flags, size_t flen, long *anon_huge_kb)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[512];
	bool in = false, found = false;
	uintptr_t a = (uintptr_t)addr;

	CHECK(f != NULL);
	*anon_huge_kb = -1;
	flags[0] = '\0';
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;
		char c;

		if (sscanf(line, "%lx-%lx %c", &lo, &hi, &c) == 3 && strchr(line, '-') < strchr(line, ' ')) {
			if (in)
				break;
			in = lo <= a && a < hi;
			found |= in;
			continue;
		}
		if (!in)
			continue;
		if (strncmp(line, "AnonHugePages:", 14) == 0)
			*anon_huge_kb = strtol(line + 14, NULL, 10);
		else if (strncmp(line, "VmFlags:", 8) == 0) {
			strncpy(flags, line + 8, flen - 1);
			flags[flen - 1] = '\0';
		}
	}
	fclose(f);
	return found;
}

static bool has_flag(const char *flags, const char *flag)
{
	char pat[8];

	snprintf(pat, sizeof(pat), " %s", flag);
	return strstr(flags, pat) != NULL;
}

static bool range_is_mapped(void *p, size_t len)
{
	unsigned char vec[64];

	/* mincore fails with ENOMEM when part of the range is not mapped */
	return len / PAGE <= sizeof(vec) && mincore(p, len, vec) == 0;
}

/* Does fn(arg) die of signal sig in a child? */
static bool dies_of(int sig, void (*fn)(void *), void *arg)
{
	int status;
	pid_t pid = fork();

	CHECK(pid >= 0);
	if (pid == 0) {
		fn(arg);
		_exit(0);
	}
	CHECK(waitpid(pid, &status, 0) == pid);
	return WIFSIGNALED(status) && WTERMSIG(status) == sig;
}

static void touch_byte(void *p)
{
	*(volatile char *)p = 1;
}

/*
 * Bytes of address space the registry gives to h from its base on, in
 * whole registry slots, having checked that the slot before is not h's.
 * (The descriptor is opaque: the registry is how a test sees the
 * reservation.)
 */
static size_t registered_extent(struct sb_huge *h)
{
	char *base = sb_huge_base(h);
	size_t len = 0;

	CHECK(sb_registry_huge(base - 1) != h);
	while (sb_registry_huge(base + len) == h) {
		CHECKF(sb_registry_region(base + len) == NULL, "slot at %p is a region too",
		       (void *)(base + len));
		len += SB_REGION_SIZE;
	}
	return len;
}

/* Every half MiB of [base, base+len) maps to h, and none of it to a region. */
static void check_registered(struct sb_huge *h, const char *base, size_t len)
{
	size_t off;

	for (off = 0; off < len; off += MiB / 2) {
		CHECKF(sb_registry_huge(base + off) == h, "offset %zu of %zu", off, len);
		CHECKF(sb_registry_region(base + off) == NULL && sb_page_of(base + off) == NULL,
		       "offset %zu of a huge block is in a region", off);
	}
	CHECK(sb_registry_huge(base + len - 1) == h);
}

static void check_huge_counters(size_t count, size_t bytes)
{
	struct sb_huge_counters hc;

	sb_huge_counters(&hc, true);
	CHECKF(hc.count == count && hc.bytes == bytes, "%zu huge blocks of %zu bytes, want %zu of %zu",
	       hc.count, hc.bytes, count, bytes);
}

/* ---- Regions -------------------------------------------------------------- */

TEST(regions_are_aligned_to_their_size_and_listed_in_creation_order)
{
	struct sb_region *r[3];
	size_t i, j;

	CHECK(sb_region_count() == 0);
	for (i = 0; i < 3; i++) {
		r[i] = new_region();
		CHECKF((uintptr_t)r[i]->base % SB_REGION_SIZE == 0, "region %zu at %p", i,
		       (void *)r[i]->base);
		CHECK(r[i]->index == i);
		CHECK(sb_region_count() == i + 1);
		CHECK(sb_region_at(i) == r[i]);
		CHECK(r[i]->backing == SB_BACKING_4K);
		for (j = 0; j < i; j++)
			CHECK(r[j]->base != r[i]->base && sb_region_at(j) == r[j]);
	}
	check_zones();
}

TEST(region_memory_is_writable_everywhere)
{
	struct sb_region *r = new_region();
	size_t off;

	for (off = 0; off < SB_REGION_SIZE; off += PAGE) {
		CHECK(r->base[off] == 0);
		r->base[off] = 1;
	}
	r->base[SB_REGION_SIZE - 1] = 1;
	check_zones();
}

TEST(registry_lookup_finds_the_region_from_any_byte_inside_it)
{
	struct sb_region *a = new_region(), *b = new_region();
	struct sb_zone *za = sb_zone_of_region(a);
	size_t off;

	CHECK(sb_registry_region(a->base) == a);
	CHECK(sb_registry_region(a->base + SB_REGION_SIZE - 1) == a);
	CHECK(sb_registry_region(b->base) == b);
	CHECK(sb_registry_region(b->base + SB_REGION_SIZE - 1) == b);
	for (off = 0; off < SB_REGION_SIZE; off += PAGE + 8) {
		CHECKF(sb_registry_region(a->base + off) == a, "offset %zu", off);
		CHECKF(sb_registry_huge(a->base + off) == NULL, "offset %zu is a huge block", off);
		CHECKF(sb_page_of(a->base + off) == &za->pages[off >> SB_PAGE_SHIFT],
		       "offset %zu: wrong page descriptor", off);
	}
	check_zones();
}

TEST(registry_lookup_is_null_outside_every_region_and_never_reads_the_address)
{
	struct sb_region *r = new_region();
	int on_stack = 0;
	void *small = malloc(64), *large = malloc(64 * MiB), *meta = sb_meta_alloc(64);
	void *none = mmap(NULL, PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	void *gone = mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	void *below = r->base - 1, *above = r->base + SB_REGION_SIZE;
	void *foreign[] = {
		&on_stack, small, large, meta, (void *)&new_region,
		none,		/* PROT_NONE: reading it would fault */
		gone,		/* unmapped */
		NULL,
		(void *)((uintptr_t)1 << SB_ADDR_BITS),
		(void *)((uintptr_t)1 << 56),
		(void *)-1,
		(void *)((uintptr_t)-1 << SB_ADDR_BITS),
	};
	struct sb_region *o;
	size_t i;

	CHECK(small && large && meta && none != MAP_FAILED && gone != MAP_FAILED);
	CHECK(munmap(gone, PAGE) == 0);
	for (i = 0; i < sizeof(foreign) / sizeof(foreign[0]); i++) {
		CHECKF(sb_registry_region(foreign[i]) == NULL, "region for %p", foreign[i]);
		CHECKF(sb_registry_huge(foreign[i]) == NULL, "huge block for %p", foreign[i]);
		CHECKF(sb_page_of(foreign[i]) == NULL, "page descriptor for %p", foreign[i]);
	}
	/* Just outside r: nothing, or a neighbouring region that holds it. */
	o = sb_registry_region(below);
	CHECK(o != r);
	CHECK(o == NULL || (o->base <= (char *)below && (char *)below < o->base + SB_REGION_SIZE));
	o = sb_registry_region(above);
	CHECK(o != r);
	CHECK(o == NULL || (o->base <= (char *)above && (char *)above < o->base + SB_REGION_SIZE));
	free(small);
	free(large);
}

TEST(region_counters_count_regions)
{
	struct sb_region_counters rc;

	new_region();
	new_region();
	sb_region_counters(&rc);
	CHECK(rc.regions == 2);
	CHECK(rc.region_bytes == 2 * SB_REGION_SIZE);
	CHECK(rc.hugetlb_regions == 0 && rc.thp_regions == 0);
	/* the zones' descriptors (with the page descriptors) are counted */
	CHECKF(sb_buddy_desc_bytes() >= 2 * sizeof(struct sb_zone), "descriptors: %zu bytes",
	       sb_buddy_desc_bytes());
	CHECKF(sb_os_mapped_peak() == 2 * SB_REGION_SIZE, "mapped peak %zu", sb_os_mapped_peak());
	check_huge_counters(0, 0);
	check_zones();
}

/* ---- Backing ----------------------------------------------------------------- */

TEST(hugepages_off_gives_4k_backing)
{
	struct sb_region_counters rc;
	struct sb_region *r;
	char flags[256];
	long anon_huge;

	sb_config_set_hugepages(SB_HUGEPAGES_AUTO);
	CHECK(setenv("SBMALLOC_HUGEPAGES", "off", 1) == 0);
	sb_config_init();
	CHECK(sb_config.hugepages == SB_HUGEPAGES_OFF);

	r = new_region();
	CHECKF(r->backing == SB_BACKING_4K, "backing %s", sb_backing_name(r->backing));
	CHECK(strcmp(sb_backing_name(r->backing), "4k") == 0);
	sb_region_counters(&rc);
	CHECK(rc.hugetlb_regions == 0 && rc.thp_regions == 0);
	memset(r->base, 1, 4 * SB_HUGE_PAGE_SIZE);
	CHECK(smaps_of(r->base, flags, sizeof(flags), &anon_huge));
	CHECKF(!has_flag(flags, "ht"), "VmFlags:%s", flags);	/* not hugetlb */
	CHECKF(!has_flag(flags, "hg"), "VmFlags:%s", flags);	/* no MADV_HUGEPAGE */
	CHECKF(has_flag(flags, "nh"), "VmFlags:%s", flags);	/* MADV_NOHUGEPAGE */
	CHECKF(anon_huge == 0, "AnonHugePages: %ld kB", anon_huge);
}

TEST(explicit_thp_advises_transparent_huge_pages_from_the_first_region)
{
	char mode[128] = "", flags[256];
	FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
	struct sb_region_counters rc;
	struct sb_region *r;
	long anon_huge;

	if (f == NULL || fgets(mode, sizeof(mode), f) == NULL || strstr(mode, "[never]"))
		tap_skip("transparent huge pages are not available");
	fclose(f);
	sb_config_set_hugepages(SB_HUGEPAGES_THP);
	r = new_region();
	CHECK(r->index == 0);
	CHECKF(r->backing == SB_BACKING_THP, "backing %s", sb_backing_name(r->backing));
	CHECK(strcmp(sb_backing_name(r->backing), "thp") == 0);
	sb_region_counters(&rc);
	CHECK(rc.thp_regions == 1 && rc.hugetlb_regions == 0);
	CHECK(smaps_of(r->base, flags, sizeof(flags), &anon_huge));
	CHECKF(has_flag(flags, "hg"), "VmFlags:%s", flags);
	CHECKF(!has_flag(flags, "ht") && !has_flag(flags, "nh"), "VmFlags:%s", flags);
}

TEST(default_mode_leaves_huge_pages_to_the_kernel_setting)
{
	char mode[128] = "", flags[256];
	FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
	struct sb_region *first, *second;
	long anon_huge;

	if (f == NULL || fgets(mode, sizeof(mode), f) == NULL || !strstr(mode, "[madvise]"))
		tap_skip("transparent huge pages are not in madvise mode");
	fclose(f);
	CHECK(unsetenv("SBMALLOC_HUGEPAGES") == 0);
	sb_config_init();
	CHECK(sb_config.hugepages == SB_HUGEPAGES_KERNEL);
	CHECK(sb_region_count() == 0);
	first = new_region();
	second = new_region();
	CHECKF(first->backing == SB_BACKING_4K, "first %s", sb_backing_name(first->backing));
	CHECKF(second->backing == SB_BACKING_4K, "second %s", sb_backing_name(second->backing));
	CHECK(smaps_of(first->base, flags, sizeof(flags), &anon_huge));
	CHECKF(!has_flag(flags, "hg") && !has_flag(flags, "nh"), "VmFlags:%s", flags);
	CHECK(smaps_of(second->base, flags, sizeof(flags), &anon_huge));
	CHECKF(!has_flag(flags, "hg") && !has_flag(flags, "nh"), "VmFlags:%s", flags);
}

TEST(auto_mode_advises_thp_for_every_region_but_the_first)
{
	char mode[128] = "", flags[256];
	FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
	struct sb_region *first, *second;
	long anon_huge;

	if (f == NULL || fgets(mode, sizeof(mode), f) == NULL || !strstr(mode, "[madvise]"))
		tap_skip("transparent huge pages are not in madvise mode");
	fclose(f);
	sb_config_set_hugepages(SB_HUGEPAGES_AUTO);
	CHECK(sb_region_count() == 0);
	first = new_region();
	second = new_region();
	if (first->backing == SB_BACKING_HUGETLB || second->backing == SB_BACKING_HUGETLB)
		tap_skip("a hugetlb pool is reserved on this machine");
	CHECKF(first->backing == SB_BACKING_4K, "first %s", sb_backing_name(first->backing));
	CHECKF(second->backing == SB_BACKING_THP, "second %s", sb_backing_name(second->backing));
	CHECK(smaps_of(second->base, flags, sizeof(flags), &anon_huge));
	CHECKF(has_flag(flags, "hg"), "VmFlags:%s", flags);
	check_zones();
}

/* ---- Huge blocks ---------------------------------------------------------- */

TEST(huge_block_is_aligned_writable_and_registered_over_its_reservation)
{
	struct sb_huge *h = sb_huge_alloc(6 * MiB, 64 * MiB, false);
	char *base;
	size_t off, reserved;

	CHECK(h != NULL);
	base = sb_huge_base(h);
	CHECKF((uintptr_t)base % (64 * MiB) == 0, "base %p", (void *)base);
	CHECKF(sb_huge_size(h) == 6 * MiB, "size %zu", sb_huge_size(h));
	reserved = registered_extent(h);
	CHECKF(reserved == SB_REGION_SIZE, "registered over %zu bytes", reserved);
	check_registered(h, base, reserved);
	CHECK(sb_registry_huge(base + reserved) != h);
	for (off = 0; off < sb_huge_size(h); off += PAGE)
		CHECK(base[off] == 0);
	memset(base, 0x5a, sb_huge_size(h));
	/* the descriptor itself is metadata, outside the block and every region */
	CHECK(sb_registry_huge(h) == NULL && sb_registry_region(h) == NULL);
	check_huge_counters(1, 6 * MiB);
	CHECKF(sb_os_mapped_peak() == 6 * MiB, "mapped peak %zu", sb_os_mapped_peak());
	CHECK(sb_region_count() == 0);
}

TEST(huge_block_without_alignment_is_region_aligned_and_registered)
{
	struct sb_huge *h = sb_huge_alloc(6 * MiB + 100, 0, false);
	char *base;
	size_t reserved;

	CHECK(h != NULL);
	base = sb_huge_base(h);
	CHECKF((uintptr_t)base % SB_REGION_SIZE == 0, "base %p", (void *)base);
	CHECKF(sb_huge_size(h) == sb_align_up(6 * MiB + 100, PAGE), "size %zu", sb_huge_size(h));
	reserved = registered_extent(h);
	CHECKF(reserved == SB_REGION_SIZE, "registered over %zu bytes", reserved);
	check_registered(h, base, reserved);
	memset(base, 0x3c, sb_huge_size(h));
	check_huge_counters(1, sb_align_up(6 * MiB + 100, PAGE));
}

static void fill_pattern(char *p, size_t len)
{
	size_t i;

	for (i = 0; i < len; i += sizeof(uint64_t))
		*(uint64_t *)(p + i) = i * 0x9e3779b97f4a7c15ull;
}

static bool has_pattern(const char *p, size_t len)
{
	size_t i;

	for (i = 0; i < len; i += sizeof(uint64_t))
		if (*(const uint64_t *)(p + i) != i * 0x9e3779b97f4a7c15ull)
			return false;
	return true;
}

TEST(huge_resize_grows_in_place_within_the_reservation)
{
	struct sb_huge *h = sb_huge_alloc(6 * MiB, 64 * MiB, false);
	char *base;
	size_t reserved;

	CHECK(h != NULL);
	base = sb_huge_base(h);
	reserved = registered_extent(h);
	CHECK(reserved >= 20 * MiB);
	fill_pattern(base, 6 * MiB);

	CHECK(sb_huge_resize(h, 20 * MiB));
	CHECKF(sb_huge_base(h) == base, "moved from %p to %p", (void *)base, sb_huge_base(h));
	CHECK(sb_huge_size(h) == 20 * MiB);
	CHECK(registered_extent(h) == reserved);
	CHECK(has_pattern(base, 6 * MiB));
	CHECK(base[6 * MiB] == 0 && base[20 * MiB - 1] == 0);
	memset(base + 6 * MiB, 0x11, 14 * MiB);
	CHECK(sb_registry_huge(base + 20 * MiB - 1) == h);
	check_huge_counters(1, 20 * MiB);
}

TEST(huge_resize_moves_beyond_the_reservation_keeping_contents)
{
	struct sb_huge *h = sb_huge_alloc(6 * MiB, 0, false);
	char *old, *base;
	size_t old_reserved, reserved, off;

	CHECK(h != NULL);
	old = sb_huge_base(h);
	old_reserved = registered_extent(h);
	CHECK(old_reserved < 40 * MiB);
	fill_pattern(old, 6 * MiB);

	CHECK(sb_huge_resize(h, 40 * MiB));
	base = sb_huge_base(h);
	CHECK(sb_huge_size(h) == 40 * MiB);
	CHECK((uintptr_t)base % SB_REGION_SIZE == 0);
	reserved = registered_extent(h);
	CHECKF(reserved == sb_align_up(40 * MiB, SB_REGION_SIZE), "registered over %zu bytes",
	       reserved);
	check_registered(h, base, reserved);
	CHECK(has_pattern(base, 6 * MiB));
	CHECK(base[6 * MiB] == 0 && base[40 * MiB - 1] == 0);
	memset(base + 6 * MiB, 0x22, 34 * MiB);
	if (base != old) {
		for (off = 0; off < old_reserved; off += MiB)
			CHECKF(sb_registry_huge(old + off) == NULL,
			       "old reservation still registered at offset %zu", off);
		CHECK(!range_is_mapped(old, PAGE));
	}
	check_huge_counters(1, 40 * MiB);
}

TEST(huge_resize_shrinks_in_place_and_unmaps_the_tail)
{
	struct sb_huge *h = sb_huge_alloc(20 * MiB, 0, false);
	char *base;

	CHECK(h != NULL);
	base = sb_huge_base(h);
	fill_pattern(base, 20 * MiB);
	CHECK(sb_huge_resize(h, 8 * MiB));
	CHECK(sb_huge_base(h) == base && sb_huge_size(h) == 8 * MiB);
	CHECK(has_pattern(base, 8 * MiB));
	check_huge_counters(1, 8 * MiB);
	/* the reservation stays ours; its tail is no longer accessible */
	CHECK(registered_extent(h) == SB_REGION_SIZE);
	CHECK(sb_registry_huge(base + 10 * MiB) == h);
	CHECK(dies_of(SIGSEGV, touch_byte, base + 8 * MiB));
	CHECK(dies_of(SIGSEGV, touch_byte, base + 20 * MiB - 1));
	/* and it can grow back in place */
	CHECK(sb_huge_resize(h, 16 * MiB));
	CHECK(sb_huge_base(h) == base && has_pattern(base, 8 * MiB) && base[8 * MiB] == 0);
	check_huge_counters(1, 16 * MiB);
}

TEST(huge_free_keeps_the_block_cached_until_trim_unregisters_and_unmaps_it)
{
	struct sb_huge *h = sb_huge_alloc(6 * MiB, 64 * MiB, false);
	struct sb_huge_counters hc;
	char *base;
	size_t reserved, off;

	CHECK(h != NULL);
	base = sb_huge_base(h);
	reserved = registered_extent(h);
	CHECK(reserved == SB_REGION_SIZE);
	memset(base, 1, 6 * MiB);
	sb_huge_free(h);
	/* Cached: still registered (a second free is a double free), mapped,
	 * counted apart from the live blocks. */
	CHECK(sb_registry_huge(base) == h && !sb_huge_is_live(h));
	CHECK(range_is_mapped(base, PAGE));
	sb_huge_counters(&hc, true);
	CHECK(hc.count == 0 && hc.bytes == 0 && hc.total == 1);
	CHECK(hc.cached_count == 1 && hc.cached_bytes == 6 * MiB);
	CHECK(sb_huge_trim() == 6 * MiB);
	for (off = 0; off < reserved; off += MiB)
		CHECKF(sb_registry_huge(base + off) == NULL, "offset %zu still registered", off);
	CHECK(sb_registry_freed_huge(base));
	CHECK(!range_is_mapped(base, PAGE));
	CHECK(!range_is_mapped(base + 6 * MiB - PAGE, PAGE));
	CHECK(!range_is_mapped(base + reserved - PAGE, PAGE));
	sb_huge_counters(&hc, true);
	CHECK(hc.cached_count == 0 && hc.cached_bytes == 0);
}

TEST(a_freed_huge_block_serves_the_next_allocation_of_a_near_size_with_its_pages)
{
	struct sb_huge *h = sb_huge_alloc(12 * MiB, 0, false), *g;
	struct sb_huge_counters hc;
	char *base;

	CHECK(h != NULL);
	base = sb_huge_base(h);
	memset(base, 7, 12 * MiB);
	sb_huge_free(h);
	/* Smaller: the same block, kept whole (the slack is within budget),
	 * every page still resident. */
	g = sb_huge_alloc(5 * MiB, 0, false);
	CHECK(g == h && sb_huge_base(g) == base && sb_huge_is_live(g));
	CHECK(sb_huge_size(g) == 12 * MiB);
	CHECK(sb_os_resident(base, 12 * MiB) == 12 * MiB);
	CHECK(base[0] == 7 && base[11 * MiB] == 7);
	sb_huge_counters(&hc, true);
	CHECK(hc.reused == 1 && hc.count == 1 && hc.cached_count == 0);
	sb_huge_free(g);
	/* Beyond the slack budget (8 x dirty_max = 4 MiB): shrunk, the tail
	 * given back. */
	sb_config_set_dirty_max(512 << 10);
	g = sb_huge_alloc(5 * MiB, 0, false);
	CHECK(g == h && sb_huge_size(g) == 5 * MiB);
	CHECK(dies_of(SIGSEGV, touch_byte, base + 6 * MiB));
	/* Larger, within the reservation: grown in place. */
	sb_huge_free(g);
	g = sb_huge_alloc(20 * MiB, 0, true);
	CHECK(g == h && sb_huge_size(g) == 20 * MiB);
	CHECK(base[0] == 0 && base[4 * MiB] == 0 && base[19 * MiB] == 0);	/* zero asked for */
	sb_huge_free(g);
	sb_huge_trim();
}

TEST(the_cache_of_freed_huge_blocks_keeps_at_most_eight_blocks_and_four_dirty_budgets)
{
	struct sb_huge *h[10];
	struct sb_huge_counters hc;
	unsigned i;

	sb_config_set_dirty_max((size_t)1 << 40);
	for (i = 0; i < 10; i++)
		CHECK((h[i] = sb_huge_alloc(5 * MiB, 0, false)) != NULL);
	for (i = 0; i < 10; i++)
		sb_huge_free(h[i]);
	sb_huge_counters(&hc, true);
	CHECKF(hc.cached_count == 8, "%zu blocks cached", hc.cached_count);
	sb_huge_trim();
	/* 4 x dirty_max = 24 MiB: four blocks of 5 MiB, not five. */
	sb_config_set_dirty_max(6 * MiB);
	for (i = 0; i < 6; i++)
		CHECK((h[i] = sb_huge_alloc(5 * MiB, 0, false)) != NULL);
	for (i = 0; i < 6; i++)
		sb_huge_free(h[i]);
	sb_huge_counters(&hc, true);
	CHECKF(hc.cached_count == 4 && hc.cached_bytes == 20 * MiB, "%zu blocks, %zu bytes cached",
	       hc.cached_count, hc.cached_bytes);
	sb_huge_trim();
}

TEST(a_huge_block_cached_for_more_than_a_second_is_unmapped_at_the_next_huge_call)
{
	struct sb_huge *h = sb_huge_alloc(8 * MiB, 0, false), *g;
	struct sb_huge_counters hc;

	CHECK(h != NULL);
	sb_huge_free(h);
	usleep(1100 * 1000);
	/* It would fit, but it is too old: unmapped, and a new block mapped. */
	g = sb_huge_alloc(8 * MiB, 0, false);
	CHECK(g != NULL);
	sb_huge_counters(&hc, true);
	CHECKF(hc.cached_count == 0 && hc.reused == 0 && hc.total == 2,
	       "cached %zu, reused %llu, mapped %zu in all", hc.cached_count,
	       (unsigned long long)hc.reused, hc.total);
	sb_huge_free(g);
	sb_huge_trim();
}

/* ---- Metadata ---------------------------------------------------------- */

TEST(meta_alloc_returns_zeroed_memory_outside_every_region)
{
	struct sb_huge *h = sb_huge_alloc(6 * MiB, 0, false);
	size_t size, i, k;
	void *ps[2000];

	new_region();
	CHECK(h != NULL);
	for (size = 1; size <= 512; size += 37) {
		for (i = 0; i < 2000; i++) {
			unsigned char *p = sb_meta_alloc(size);

			CHECKF(p != NULL, "size %zu", size);
			CHECKF((uintptr_t)p % 16 == 0, "size %zu at %p", size, (void *)p);
			CHECKF(sb_registry_region(p) == NULL && sb_registry_region(p + size - 1) == NULL &&
			       sb_registry_huge(p) == NULL && sb_registry_huge(p + size - 1) == NULL,
			       "size %zu at %p is inside a region or huge block", size, (void *)p);
			for (k = 0; k < size; k++)
				CHECKF(p[k] == 0, "size %zu: byte %zu is %#x", size, k, p[k]);
			memset(p, 0xff, size);
			ps[i] = p;
		}
		CHECKF(sb_meta_bytes() >= 2000 * sb_align_up(size, 16), "%zu bytes of metadata",
		       sb_meta_bytes());
		/* freed and allocated again: zeroed again */
		for (i = 0; i < 2000; i++)
			sb_meta_free(ps[i], size);
		for (i = 0; i < 2000; i++) {
			unsigned char *p = sb_meta_alloc(size);

			CHECK(p != NULL);
			for (k = 0; k < size; k++)
				CHECKF(p[k] == 0, "reused size %zu: byte %zu is %#x", size, k, p[k]);
		}
	}
}

/* ---- The buddy validator catches a broken zone ----------------------------- */

static bool validate_zone_quietly(size_t i, char *out, size_t len)
{
	int fds[2], saved;
	ssize_t n;
	size_t got = 0;
	bool ok;

	CHECK(pipe(fds) == 0);
	saved = dup(2);
	CHECK(saved >= 0);
	CHECK(dup2(fds[1], 2) == 2);
	ok = sb_buddy_validate(i);
	CHECK(dup2(saved, 2) == 2);
	close(saved);
	close(fds[1]);
	while (got < len - 1 && (n = read(fds[0], out + got, len - 1 - got)) > 0)
		got += (size_t)n;
	out[got] = '\0';
	close(fds[0]);
	return ok;
}

TEST(buddy_validate_catches_a_wrong_free_block_count_in_a_zone)
{
	struct sb_region *r = new_region();
	struct sb_zone *z = sb_zone_of_region(r);
	char out[512], want[128];

	sb_buddy_free(r->base, "free");		/* one free top-order block */
	CHECK(z->nr_free[SB_MAX_ORDER] == 1);
	CHECK(sb_buddy_validate(r->index));
	z->nr_free[SB_MAX_ORDER]++;
	CHECK(!validate_zone_quietly(r->index, out, sizeof(out)));
	snprintf(want, sizeof(want), "sbmalloc: buddy: invalid: free block count wrong for order 0x%x\n",
		 SB_MAX_ORDER);
	CHECKF(strstr(out, want) != NULL, "stderr \"%s\" lacks \"%s\"", out, want);
	z->nr_free[SB_MAX_ORDER]--;
	CHECK(sb_buddy_validate(r->index));
}

int main(int argc, char **argv)
{
	static const struct tap_case cases[] = {
		TAP_APPLY(TAP_CASE,
			regions_are_aligned_to_their_size_and_listed_in_creation_order,
			region_memory_is_writable_everywhere,
			registry_lookup_finds_the_region_from_any_byte_inside_it,
			registry_lookup_is_null_outside_every_region_and_never_reads_the_address,
			region_counters_count_regions,
			hugepages_off_gives_4k_backing,
			explicit_thp_advises_transparent_huge_pages_from_the_first_region,
			default_mode_leaves_huge_pages_to_the_kernel_setting,
			auto_mode_advises_thp_for_every_region_but_the_first,
			huge_block_is_aligned_writable_and_registered_over_its_reservation,
			huge_block_without_alignment_is_region_aligned_and_registered,
			huge_resize_grows_in_place_within_the_reservation,
			huge_resize_moves_beyond_the_reservation_keeping_contents,
			huge_resize_shrinks_in_place_and_unmaps_the_tail,
			huge_free_keeps_the_block_cached_until_trim_unregisters_and_unmaps_it)
		TAP_APPLY(TAP_CASE,
			a_freed_huge_block_serves_the_next_allocation_of_a_near_size_with_its_pages,
			the_cache_of_freed_huge_blocks_keeps_at_most_eight_blocks_and_four_dirty_budgets,
			a_huge_block_cached_for_more_than_a_second_is_unmapped_at_the_next_huge_call,
			meta_alloc_returns_zeroed_memory_outside_every_region)
		TAP_APPLY(TAP_CASE,
			buddy_validate_catches_a_wrong_free_block_count_in_a_zone)
	};

	sb_global_init();
	sb_config_set_hugepages(SB_HUGEPAGES_OFF);
	if (sb_region_count() != 0) {
		printf("Bail out! a region exists before any test\n");
		return 1;
	}
	return tap_main_many(argc, argv, cases, sizeof(cases) / sizeof(cases[0]));
}
