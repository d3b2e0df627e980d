/*
 * unit_region.c - regions, the registry, huge blocks and metadata
 * (region.c).
 *
 * Specifies: regions are SB_REGION_SIZE aligned and registered over their
 * whole extent; sb_registry_lookup() answers for any address without
 * touching it; huge blocks are aligned, registered over their whole
 * reservation, resized in place within it and moved (contents kept) beyond
 * it, and unregistered when freed; metadata is zeroed and never inside a
 * region; SBMALLOC_HUGEPAGES=off gives 4 KiB backing.  Every test starts in
 * a fresh child with the registry mapped and no region; main() selects 4k
 * backing so that nothing here depends on the machine's huge page pool.
 */
#include "internal.h"
#include "../tap.h"

#include <stdint.h>
#include <sys/mman.h>

#define MiB ((size_t)1 << 20)
#define PAGE SB_PAGE_SIZE

/* ---- Helpers ----------------------------------------------------------- */

static struct sb_region *new_region(void)
{
	struct sb_region *r = sb_region_create();

	CHECK(r != NULL);
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

/* ---- Regions -------------------------------------------------------------- */

TEST(regions_are_aligned_to_their_size_and_listed_in_creation_order)
{
	struct sb_region *r[3];
	size_t i, j;

	CHECK(sb_region_count() == 0);
	for (i = 0; i < 3; i++) {
		r[i] = new_region();
		CHECK(r[i]->kind == SB_MAP_REGION);
		CHECKF((uintptr_t)r[i]->base % SB_REGION_SIZE == 0, "region %zu at %p", i,
		       (void *)r[i]->base);
		CHECK(r[i]->index == i);
		CHECK(sb_region_count() == i + 1);
		CHECK(sb_regions[i] == r[i]);
		CHECK(r[i]->free_pages == 0 && r[i]->free_mask == 0);
		for (j = 0; j < i; j++)
			CHECK(r[j]->base != r[i]->base);
	}
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
}

TEST(registry_lookup_finds_the_region_from_any_byte_inside_it)
{
	struct sb_region *a = new_region(), *b = new_region();
	size_t off;

	CHECK(sb_registry_lookup(a->base) == a);
	CHECK(sb_registry_lookup(a->base + SB_REGION_SIZE - 1) == a);
	CHECK(sb_registry_lookup(b->base) == b);
	CHECK(sb_registry_lookup(b->base + SB_REGION_SIZE - 1) == b);
	for (off = 0; off < SB_REGION_SIZE; off += PAGE + 8)
		CHECKF(sb_registry_lookup(a->base + off) == a, "offset %zu", off);
}

TEST(registry_lookup_is_null_outside_every_region_and_never_reads_the_address)
{
	struct sb_region *r = new_region();
	int on_stack = 0;
	void *small = malloc(64), *large = malloc(64 * MiB);
	void *none = mmap(NULL, PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	void *gone = mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	void *below = r->base - 1, *above = r->base + SB_REGION_SIZE;
	struct sb_region *o;

	CHECK(small && large && none != MAP_FAILED && gone != MAP_FAILED);
	CHECK(munmap(gone, PAGE) == 0);
	CHECK(sb_registry_lookup(&on_stack) == NULL);
	CHECK(sb_registry_lookup(small) == NULL);
	CHECK(sb_registry_lookup(large) == NULL);
	CHECK(sb_registry_lookup((void *)&new_region) == NULL);
	CHECK(sb_registry_lookup(none) == NULL);	/* PROT_NONE: reading it would fault */
	CHECK(sb_registry_lookup(gone) == NULL);	/* unmapped */
	CHECK(sb_registry_lookup(NULL) == NULL);
	CHECK(sb_registry_lookup((void *)((uintptr_t)1 << SB_ADDR_BITS)) == NULL);
	CHECK(sb_registry_lookup((void *)((uintptr_t)1 << 56)) == NULL);
	CHECK(sb_registry_lookup((void *)-1) == NULL);
	CHECK(sb_registry_lookup((void *)((uintptr_t)-1 << SB_ADDR_BITS)) == NULL);
	/* Just outside r: nothing, or a neighbouring region that holds it. */
	o = sb_registry_lookup(below);
	CHECK(o != r);
	CHECK(o == NULL || (o->base <= (char *)below && (char *)below < o->base + SB_REGION_SIZE));
	o = sb_registry_lookup(above);
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
	sb_region_counters(&rc, true);
	CHECK(rc.regions == 2);
	CHECK(rc.region_bytes == 2 * SB_REGION_SIZE);
	CHECK(rc.hugetlb_regions == 0 && rc.thp_regions == 0);
	CHECK(rc.meta_bytes >= 2 * sizeof(struct sb_region));
	CHECK(rc.huge_count == 0 && rc.huge_bytes == 0);
}

/* ---- Backing ----------------------------------------------------------------- */

TEST(hugepages_off_gives_4k_backing)
{
	struct sb_region_counters rc;
	struct sb_region *r;
	char flags[256];
	long anon_huge;

	sb_config.hugepages = SB_HUGEPAGES_AUTO;
	CHECK(setenv("SBMALLOC_HUGEPAGES", "off", 1) == 0);
	sb_config_init();
	CHECK(sb_config.hugepages == SB_HUGEPAGES_OFF);

	r = new_region();
	CHECKF(r->backing == SB_BACKING_4K, "backing %s", sb_backing_name(r->backing));
	CHECK(strcmp(sb_backing_name(r->backing), "4k") == 0);
	sb_region_counters(&rc, true);
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
	struct sb_region *r;
	long anon_huge;

	if (f == NULL || fgets(mode, sizeof(mode), f) == NULL || strstr(mode, "[never]"))
		tap_skip("transparent huge pages are not available");
	fclose(f);
	sb_config.hugepages = SB_HUGEPAGES_THP;
	sb_config.hugepages_set = true;
	r = new_region();
	CHECKF(r->backing == SB_BACKING_THP, "backing %s", sb_backing_name(r->backing));
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
	CHECK(sb_config.hugepages == SB_HUGEPAGES_KERNEL && !sb_config.hugepages_set);
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
	sb_config.hugepages = SB_HUGEPAGES_AUTO;
	sb_config.hugepages_set = true;
	CHECK(sb_region_count() == 0);
	first = new_region();
	second = new_region();
	if (first->backing == SB_BACKING_HUGETLB || second->backing == SB_BACKING_HUGETLB)
		tap_skip("a hugetlb pool is reserved on this machine");
	CHECKF(first->backing == SB_BACKING_4K, "first %s", sb_backing_name(first->backing));
	CHECKF(second->backing == SB_BACKING_THP, "second %s", sb_backing_name(second->backing));
	CHECK(smaps_of(second->base, flags, sizeof(flags), &anon_huge));
	CHECKF(has_flag(flags, "hg"), "VmFlags:%s", flags);
}

/* ---- Huge blocks ---------------------------------------------------------- */

TEST(huge_block_is_aligned_writable_and_registered_over_its_reservation)
{
	struct sb_huge *h = sb_huge_alloc(6 * MiB, 64 * MiB);
	struct sb_region_counters rc;
	size_t off;

	CHECK(h != NULL);
	CHECK(h->kind == SB_MAP_HUGE);
	CHECKF((uintptr_t)h->base % (64 * MiB) == 0, "base %p", (void *)h->base);
	CHECKF(h->size == 6 * MiB, "size %zu", h->size);
	CHECKF(h->reserved >= h->size && h->reserved % SB_REGION_SIZE == 0, "reserved %zu",
	       h->reserved);
	for (off = 0; off < h->reserved; off += MiB / 2)
		CHECKF(sb_registry_lookup(h->base + off) == h, "offset %zu of %zu reserved", off,
		       h->reserved);
	CHECK(sb_registry_lookup(h->base + h->reserved - 1) == h);
	CHECK(sb_registry_lookup(h->base + h->reserved) != h);
	CHECK(sb_registry_lookup(h->base - 1) != h);
	for (off = 0; off < h->size; off += PAGE)
		CHECK(h->base[off] == 0);
	memset(h->base, 0x5a, h->size);
	/* the descriptor itself is metadata, outside the block */
	CHECK(sb_registry_lookup(h) == NULL);
	sb_region_counters(&rc, true);
	CHECK(rc.huge_count == 1 && rc.huge_bytes == 6 * MiB);
}

TEST(huge_block_without_alignment_is_region_aligned_and_registered)
{
	struct sb_huge *h = sb_huge_alloc(6 * MiB + 100, 0);
	size_t off;

	CHECK(h != NULL);
	CHECKF((uintptr_t)h->base % SB_REGION_SIZE == 0, "base %p", (void *)h->base);
	CHECKF(h->size >= 6 * MiB + 100 && h->size % PAGE == 0, "size %zu", h->size);
	CHECK(h->reserved >= h->size && h->reserved % SB_REGION_SIZE == 0);
	for (off = 0; off < h->reserved; off += MiB)
		CHECK(sb_registry_lookup(h->base + off) == h);
	CHECK(sb_registry_lookup(h->base + h->reserved) != h);
	memset(h->base, 0x3c, h->size);
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
	struct sb_huge *h = sb_huge_alloc(6 * MiB, 64 * MiB), *before;
	struct sb_region_counters rc;
	char *base;
	size_t reserved;

	CHECK(h != NULL);
	before = h;
	base = h->base;
	reserved = h->reserved;
	CHECK(reserved >= 20 * MiB);
	fill_pattern(base, 6 * MiB);

	CHECK(sb_huge_resize(&h, 20 * MiB));
	CHECK(h == before);
	CHECKF(h->base == base, "moved from %p to %p", (void *)base, (void *)h->base);
	CHECK(h->size == 20 * MiB && h->reserved == reserved);
	CHECK(has_pattern(base, 6 * MiB));
	CHECK(base[6 * MiB] == 0 && base[20 * MiB - 1] == 0);
	memset(base + 6 * MiB, 0x11, 14 * MiB);
	CHECK(sb_registry_lookup(base + 20 * MiB - 1) == h);
	sb_region_counters(&rc, true);
	CHECK(rc.huge_count == 1 && rc.huge_bytes == 20 * MiB);
}

TEST(huge_resize_moves_beyond_the_reservation_keeping_contents)
{
	struct sb_huge *h = sb_huge_alloc(6 * MiB, 0);
	struct sb_region_counters rc;
	char *old;
	size_t old_reserved, off;

	CHECK(h != NULL);
	old = h->base;
	old_reserved = h->reserved;
	fill_pattern(old, 6 * MiB);

	CHECK(sb_huge_resize(&h, 40 * MiB));
	CHECK(h->size == 40 * MiB);
	CHECKF(h->reserved >= 40 * MiB && h->reserved % SB_REGION_SIZE == 0, "reserved %zu",
	       h->reserved);
	CHECK((uintptr_t)h->base % SB_REGION_SIZE == 0);
	CHECK(has_pattern(h->base, 6 * MiB));
	CHECK(h->base[6 * MiB] == 0 && h->base[40 * MiB - 1] == 0);
	memset(h->base + 6 * MiB, 0x22, 34 * MiB);
	for (off = 0; off < h->reserved; off += MiB)
		CHECKF(sb_registry_lookup(h->base + off) == h, "offset %zu", off);
	if (h->base != old)
		for (off = 0; off < old_reserved; off += MiB)
			CHECKF(sb_registry_lookup(old + off) == NULL,
			       "old reservation still registered at offset %zu", off);
	sb_region_counters(&rc, true);
	CHECK(rc.huge_count == 1 && rc.huge_bytes == 40 * MiB);
}

TEST(huge_resize_shrinks_in_place_and_unmaps_the_tail)
{
	struct sb_huge *h = sb_huge_alloc(20 * MiB, 0);
	char *base;

	CHECK(h != NULL);
	base = h->base;
	fill_pattern(base, 20 * MiB);
	CHECK(sb_huge_resize(&h, 8 * MiB));
	CHECK(h->base == base && h->size == 8 * MiB);
	CHECK(has_pattern(base, 8 * MiB));
	/* the reservation stays ours; its tail is no longer accessible */
	CHECK(sb_registry_lookup(base + 10 * MiB) == h);
	CHECK(dies_of(SIGSEGV, touch_byte, base + 8 * MiB));
	CHECK(dies_of(SIGSEGV, touch_byte, base + 20 * MiB - 1));
	/* and it can grow back in place */
	CHECK(sb_huge_resize(&h, 16 * MiB));
	CHECK(h->base == base && has_pattern(base, 8 * MiB) && base[8 * MiB] == 0);
}

TEST(huge_free_unregisters_and_unmaps_the_block)
{
	struct sb_huge *h = sb_huge_alloc(6 * MiB, 64 * MiB);
	struct sb_region_counters rc;
	char *base;
	size_t reserved, off;

	CHECK(h != NULL);
	base = h->base;
	reserved = h->reserved;
	memset(base, 1, 6 * MiB);
	sb_huge_free(h);
	for (off = 0; off < reserved; off += MiB)
		CHECKF(sb_registry_lookup(base + off) == NULL, "offset %zu still registered", off);
	CHECK(!range_is_mapped(base, PAGE));
	CHECK(!range_is_mapped(base + 6 * MiB - PAGE, PAGE));
	CHECK(!range_is_mapped(base + reserved - PAGE, PAGE));
	sb_region_counters(&rc, true);
	CHECK(rc.huge_count == 0 && rc.huge_bytes == 0);
}

/* ---- Metadata ---------------------------------------------------------- */

TEST(meta_alloc_returns_zeroed_memory_outside_every_region)
{
	struct sb_region *r = new_region();
	size_t size, i, k;
	void *ps[2000];

	(void)r;
	for (size = 1; size <= 512; size += 37) {
		for (i = 0; i < 2000; i++) {
			unsigned char *p = sb_meta_alloc(size);

			CHECKF(p != NULL, "size %zu", size);
			CHECKF((uintptr_t)p % 16 == 0, "size %zu at %p", size, (void *)p);
			CHECKF(sb_registry_lookup(p) == NULL && sb_registry_lookup(p + size - 1) == NULL,
			       "size %zu at %p is inside a region or huge block", size, (void *)p);
			for (k = 0; k < size; k++)
				CHECKF(p[k] == 0, "size %zu: byte %zu is %#x", size, k, p[k]);
			memset(p, 0xff, size);
			ps[i] = p;
		}
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
			huge_free_unregisters_and_unmaps_the_block,
			meta_alloc_returns_zeroed_memory_outside_every_region)
	};

	sb_config_init();
	sb_config.hugepages = SB_HUGEPAGES_OFF;
	if (!sb_region_init()) {
		printf("Bail out! sb_region_init failed\n");
		return 1;
	}
	return tap_main_many(argc, argv, cases, sizeof(cases) / sizeof(cases[0]));
}
