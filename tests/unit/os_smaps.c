/*
 * tests/unit/os_smaps.c - what os.c reads of /proc/self/smaps: the huge
 * pages the kernel gave each mapping (sb_os_huge_pages).
 *
 * Specifies: a mapping advised with MADV_HUGEPAGE and written is reported
 * with the AnonHugePages bytes that smaps shows for it (read here with
 * stdio, independently); a mapping the kernel may not back with huge pages
 * (MADV_NOHUGEPAGE) is not reported; a mapping line longer than the
 * reader's buffer (a file with a path of more than 4 KiB) does not hide the
 * mapping after it.  The THP tests skip when the kernel's THP mode is "never" or
 * when it gives no huge page (fragmented memory); nothing here changes the
 * machine's settings.
 */
#include "os.h"
#include "../tap.h"

#include <fcntl.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/stat.h>

#define MiB ((size_t)1 << 20)
#define THP_LEN (8 * MiB)

/* What sb_os_huge_pages() reported of the mappings overlapping [lo, hi). */
struct seen {
	uintptr_t lo, hi;
	int calls, overlapping;
	size_t thp, hugetlb;
};

static void collect(void *arg, uintptr_t start, uintptr_t end, size_t thp, size_t hugetlb)
{
	struct seen *s = arg;

	s->calls++;
	if (start < s->hi && end > s->lo) {
		s->overlapping++;
		s->thp += thp;
		s->hugetlb += hugetlb;
	}
}

/* AnonHugePages of the smaps entries overlapping [lo, hi), in bytes. */
static size_t anon_huge_of(uintptr_t lo, uintptr_t hi)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[8192];
	bool in = false;
	size_t kb = 0;

	CHECK(f != NULL);
	while (fgets(line, sizeof(line), f)) {
		unsigned long a, b;
		char c;

		if (sscanf(line, "%lx-%lx %c", &a, &b, &c) == 3 && strchr(line, '-') < strchr(line, ' ')) {
			in = a < hi && b > lo;
			continue;
		}
		if (in && strncmp(line, "AnonHugePages:", 14) == 0)
			kb += strtoul(line + 14, NULL, 10);
	}
	fclose(f);
	return kb << 10;
}

static void need_thp(void)
{
	char mode[128] = "";
	FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");

	if (f == NULL || fgets(mode, sizeof(mode), f) == NULL || strstr(mode, "[never]"))
		tap_skip("transparent huge pages are not available");
	fclose(f);
}

/* THP_LEN bytes aligned to 2 MiB, with `advice`, every page written; the
 * address space below it (one page) is ours to map over too. */
static char *touched_mapping(int advice)
{
	char *raw = mmap(NULL, THP_LEN + 4 * MiB, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *p;
	size_t i;

	CHECK(raw != MAP_FAILED);
	p = (char *)(((uintptr_t)raw + 2 * MiB + 2 * MiB - 1) & ~(uintptr_t)(2 * MiB - 1));
	CHECK(madvise(p, THP_LEN, advice) == 0);
	for (i = 0; i < THP_LEN; i += 4096)
		p[i] = 1;
	return p;
}

TEST(an_advised_mapping_is_reported_with_the_huge_pages_smaps_shows)
{
	struct seen s = { 0 };
	char *p;

	need_thp();
	p = touched_mapping(MADV_HUGEPAGE);
	s.lo = (uintptr_t)p;
	s.hi = s.lo + THP_LEN;
	CHECK(sb_os_huge_pages(collect, &s));
	if (anon_huge_of(s.lo, s.hi) == 0)
		tap_skip("the kernel gave no huge page");
	CHECKF(s.overlapping >= 1, "%d mappings with huge pages, none of them ours", s.calls);
	CHECKF(s.thp == anon_huge_of(s.lo, s.hi), "reported %zu bytes, smaps shows %zu", s.thp,
	       anon_huge_of(s.lo, s.hi));
	CHECK(s.hugetlb == 0);
}

TEST(a_mapping_without_huge_pages_is_not_reported)
{
	struct seen s = { 0 };
	char *p = touched_mapping(MADV_NOHUGEPAGE);

	s.lo = (uintptr_t)p;
	s.hi = s.lo + THP_LEN;
	CHECK(sb_os_huge_pages(collect, &s));
	CHECK(anon_huge_of(s.lo, s.hi) == 0);
	CHECKF(s.overlapping == 0, "reported %zu bytes of huge pages", s.thp);
}

/*
 * A file whose path is longer than 4 KiB mapped in the page just below the
 * advised mapping, so that its line, cut to the reader's buffer, comes
 * just before the advised mapping's.
 */
TEST(a_mapping_line_longer_than_the_buffer_hides_nothing)
{
	char name[201], dir[1024];
	const char *t = getenv("TMPDIR");
	struct seen s = { 0 };
	int fd, depth;
	char *p, *file;

	need_thp();
	snprintf(dir, sizeof(dir), "%s/sbmalloc-smaps.XXXXXX", t && *t ? t : "/tmp");
	CHECK(mkdtemp(dir) != NULL);
	CHECK(chdir(dir) == 0);
	memset(name, 'd', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	for (depth = 0; depth < 25; depth++) {	/* 5,000 bytes of path */
		CHECK(mkdir(name, 0700) == 0);
		CHECK(chdir(name) == 0);
	}
	fd = open("f", O_RDWR | O_CREAT, 0600);
	CHECK(fd >= 0 && ftruncate(fd, 4096) == 0);
	p = touched_mapping(MADV_HUGEPAGE);
	file = mmap(p - 4096, 4096, PROT_READ, MAP_SHARED | MAP_FIXED, fd, 0);
	CHECK(file == p - 4096);
	s.lo = (uintptr_t)p;
	s.hi = s.lo + THP_LEN;
	CHECK(sb_os_huge_pages(collect, &s));
	munmap(file, 4096);
	close(fd);
	CHECK(unlink("f") == 0);
	for (; depth > 0; depth--) {
		CHECK(chdir("..") == 0);
		CHECK(rmdir(name) == 0);
	}
	CHECK(rmdir(dir) == 0);
	if (anon_huge_of(s.lo, s.hi) == 0)
		tap_skip("the kernel gave no huge page");
	CHECKF(s.overlapping >= 1 && s.thp == anon_huge_of(s.lo, s.hi),
	       "after the long line: %d mappings, %zu bytes (smaps: %zu)", s.overlapping, s.thp,
	       anon_huge_of(s.lo, s.hi));
}

int main(int argc, char **argv)
{
	sb_os_init();
	return tap_main(argc, argv,
			TESTS(an_advised_mapping_is_reported_with_the_huge_pages_smaps_shows,
			      a_mapping_without_huge_pages_is_not_reported,
			      a_mapping_line_longer_than_the_buffer_hides_nothing));
}
