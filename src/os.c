/*
 * os.c - the operating system: mmap, munmap, madvise, mremap, mincore.
 *
 * Every mapping of the heap is made by reserving PROT_NONE address space
 * with room for alignment, then committing the aligned part and unmapping
 * the slack.  Nothing else in sbmalloc makes these system calls.
 *
 * Backing, chosen per commit (SBMALLOC_HUGEPAGES, config.c):
 *   hugetlb  MAP_HUGETLB 2 MiB pages.  Never with MAP_NORESERVE: the kernel
 *            then reserves the pages at mmap time and an empty pool is a
 *            plain ENOMEM here instead of SIGBUS at first touch.  After a
 *            refusal the next HUGETLB_BACKOFF attempts are skipped (as
 *            mimalloc does).
 *   thp      plain pages with madvise(MADV_HUGEPAGE).
 *   4k       plain pages (MADV_NOHUGEPAGE when the mode is "off").
 * Modes:
 *   unset    (the default) neither advise nor forbid: memory gets huge
 *            pages only if the kernel's THP setting is "always".  Measured
 *            (docs/benchmarks.md), advising THP bought a few percent of
 *            time on a pointer-chasing heap and cost up to half again as
 *            much resident memory on a fragmented one (sqlite: 235 MiB
 *            against 158 MiB): a partly used huge page is resident whole.
 *   thp      madvise(MADV_HUGEPAGE) for every region and huge block.
 *   auto     hugetlb for regions when the pool grants them, else THP for
 *            every region after the first and for huge blocks, else 4k.
 *   hugetlb  as auto, and huge blocks try hugetlb too.
 *   off      4k everywhere, and MADV_NOHUGEPAGE.
 * hugetlb is not the default: each region pins 16 pages of a pool that the
 * administrator usually reserved for one program, and a MAP_PRIVATE
 * hugetlb heap is fragile across fork() (sb_os_rebase_to_4k()).
 *
 * State: the THP setting (read once at bring-up), the hugetlb back-off
 * counter and the mapped-bytes count, all atomics; no locks.
 */
#include "os.h"
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef MAP_HUGE_SHIFT
#define MAP_HUGE_SHIFT 26
#endif
#ifndef MAP_HUGE_2MB
#define MAP_HUGE_2MB (21 << MAP_HUGE_SHIFT)
#endif
#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

#define HUGETLB_BACKOFF 8

static int thp_mode = -1;		/* 0 never, 1 madvise, 2 always */
static unsigned hugetlb_skip;		/* atomic */
static size_t mapped_bytes, mapped_peak;	/* atomics */

static int read_thp_mode(void)
{
	char buf[128];
	ssize_t n;
	int fd = open("/sys/kernel/mm/transparent_hugepage/enabled", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	if (strstr(buf, "[always]"))
		return 2;
	if (strstr(buf, "[madvise]"))
		return 1;
	return 0;
}

void sb_os_init(void)
{
	if (thp_mode < 0)
		thp_mode = read_thp_mode();
}

void *sb_os_map(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

void sb_os_unmap(void *addr, size_t len)
{
	munmap(addr, len);
}

static void *os_reserve(size_t len)
{
	void *p = mmap(NULL, len, PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

char *sb_os_reserve_aligned(size_t len, size_t align)
{
	char *raw, *base;
	size_t head, tail;

	raw = os_reserve(len + align);
	if (raw == NULL)
		return NULL;
	base = (char *)sb_align_up((uintptr_t)raw, align);
	head = (size_t)(base - raw);
	tail = align - head;
	if (head)
		munmap(raw, head);
	if (tail)
		munmap(base + len, tail);
	return base;
}

/* hugetlb_skip is shared by every commit: atomics. */
static bool want_hugetlb(enum sb_os_use use)
{
	enum sb_hugepages_mode m = sb_config.hugepages;
	unsigned skip;

	if (m != SB_HUGEPAGES_HUGETLB && (m != SB_HUGEPAGES_AUTO || use == SB_OS_HUGE_BLOCK))
		return false;
	skip = __atomic_load_n(&hugetlb_skip, __ATOMIC_RELAXED);
	while (skip > 0)
		if (__atomic_compare_exchange_n(&hugetlb_skip, &skip, skip - 1, false,
						__ATOMIC_RELAXED, __ATOMIC_RELAXED))
			return false;
	return true;
}

/*
 * madvise(MADV_HUGEPAGE): for everything with SBMALLOC_HUGEPAGES=thp; as
 * the fallback of auto and hugetlb, for everything but the first region (a
 * small program's few pages of heap would otherwise become 2 MiB of
 * resident memory); never by default.
 */
static bool want_thp(enum sb_os_use use)
{
	if (thp_mode <= 0)
		return false;
	switch (sb_config.hugepages) {
	case SB_HUGEPAGES_THP:
		return true;
	case SB_HUGEPAGES_AUTO:
	case SB_HUGEPAGES_HUGETLB:
		return use != SB_OS_FIRST_REGION;
	default:
		return false;
	}
}

static bool map_fixed_noreplace(char *addr, size_t len, int extra)
{
	void *p = mmap(addr, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE | extra, -1, 0);

	if (p == addr)
		return true;
	if (p != MAP_FAILED)
		munmap(p, len);	/* old kernel: the hint was not honoured */
	return false;
}

bool sb_os_commit(char *addr, size_t len, enum sb_os_use use, enum sb_backing *backing)
{
	if (len % SB_HUGE_PAGE_SIZE == 0 && want_hugetlb(use)) {
		munmap(addr, len);
		if (map_fixed_noreplace(addr, len, MAP_HUGETLB | MAP_HUGE_2MB)) {
			*backing = SB_BACKING_HUGETLB;
			return true;
		}
		__atomic_store_n(&hugetlb_skip, HUGETLB_BACKOFF, __ATOMIC_RELAXED);
		/* Another thread may have mapped into the hole meanwhile. */
		if (!map_fixed_noreplace(addr, len, 0))
			return false;
	} else if (mmap(addr, len, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED) {
		munmap(addr, len);
		return false;
	}
	if (want_thp(use) && len >= SB_HUGE_PAGE_SIZE && madvise(addr, len, MADV_HUGEPAGE) == 0) {
		*backing = SB_BACKING_THP;
		return true;
	}
	if (sb_config.hugepages == SB_HUGEPAGES_OFF)
		madvise(addr, len, MADV_NOHUGEPAGE);
	*backing = thp_mode == 2 && sb_config.hugepages != SB_HUGEPAGES_OFF
		   ? SB_BACKING_THP : SB_BACKING_4K;
	return true;
}

bool sb_os_commit_more(char *addr, size_t len, enum sb_backing b)
{
	if (b == SB_BACKING_HUGETLB)
		return false;
	if (mmap(addr, len, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED)
		return false;
	if (b == SB_BACKING_THP)
		madvise(addr, len, MADV_HUGEPAGE);
	return true;
}

bool sb_os_decommit(char *addr, size_t len)
{
	return mmap(addr, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED,
		    -1, 0) != MAP_FAILED;
}

bool sb_os_move(char *old, size_t old_len, char *new_addr, size_t len)
{
	return mremap(old, old_len, len, MREMAP_MAYMOVE | MREMAP_FIXED, new_addr) == new_addr;
}

bool sb_os_protect(void *addr, size_t len, bool rw)
{
	return mprotect(addr, len, rw ? PROT_READ | PROT_WRITE : PROT_NONE) == 0;
}

void sb_os_purge(void *addr, size_t len)
{
	madvise(addr, len, MADV_DONTNEED);
}

size_t sb_os_resident(const void *addr, size_t len)
{
	unsigned char vec[1024];
	const char *base = addr;
	size_t bytes = 0, off, chunk, i;

	for (off = 0; off < len; off += chunk) {
		chunk = len - off < sizeof(vec) * SB_PAGE_SIZE ? len - off : sizeof(vec) * SB_PAGE_SIZE;
		if (mincore((void *)(base + off), chunk, vec) != 0)
			continue;
		for (i = 0; i < sb_pages_of(chunk); i++)
			bytes += (size_t)(vec[i] & 1) << SB_PAGE_SHIFT;
	}
	return bytes;
}

/* ---- /proc/self/smaps ---------------------------------------------------- */

/* The mapping whose fields are being read. */
struct smaps_vma {
	uintptr_t start, end;
	size_t thp, hugetlb;
	bool open;
};

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* "start-end perms ..." -> start, end; false for any other line. */
static bool smaps_header(const char *s, uintptr_t *start, uintptr_t *end)
{
	uintptr_t v[2] = { 0, 0 };
	int i, d;

	for (i = 0; i < 2; i++) {
		if (hex_digit(*s) < 0)
			return false;
		for (; (d = hex_digit(*s)) >= 0; s++)
			v[i] = v[i] << 4 | (uintptr_t)d;
		if (*s++ != (i == 0 ? '-' : ' '))
			return false;
	}
	*start = v[0];
	*end = v[1];
	return true;
}

/* The bytes of a "Name:   N kB" line, if it is name's; else 0. */
static size_t smaps_field(const char *s, const char *name)
{
	size_t len = strlen(name), kb = 0;

	if (strncmp(s, name, len) != 0 || s[len] != ':')
		return 0;
	for (s += len + 1; *s == ' ' || *s == '\t'; s++)
		;
	for (; *s >= '0' && *s <= '9'; s++)
		kb = kb * 10 + (size_t)(*s - '0');
	return kb << 10;
}

static void smaps_vma_end(struct smaps_vma *v, sb_os_huge_fn *fn, void *arg)
{
	const uintptr_t limit = (uintptr_t)1 << SB_ADDR_BITS;

	if (v->open && (v->thp != 0 || v->hugetlb != 0) && v->start < limit)
		fn(arg, v->start, v->end < limit ? v->end : limit, v->thp, v->hugetlb);
	v->open = false;
}

static void smaps_line(const char *s, struct smaps_vma *v, sb_os_huge_fn *fn, void *arg)
{
	uintptr_t start, end;

	if (smaps_header(s, &start, &end)) {
		smaps_vma_end(v, fn, arg);
		v->start = start;
		v->end = end;
		v->thp = v->hugetlb = 0;
		v->open = true;
		return;
	}
	v->thp += smaps_field(s, "AnonHugePages");
	v->hugetlb += smaps_field(s, "Private_Hugetlb") + smaps_field(s, "Shared_Hugetlb");
}

/* The bytes of the "Name: N kB" field of the small /proc file path (read
 * whole into a stack buffer); SIZE_MAX if it cannot be read or has none. */
static size_t proc_field(const char *path, const char *name)
{
	char buf[4096], *s, *nl;
	size_t len = 0, k = strlen(name);
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return SIZE_MAX;
	while (len < sizeof(buf) - 1) {
		n = read(fd, buf + len, sizeof(buf) - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	for (s = buf; *s != '\0'; s = nl + 1) {
		if (strncmp(s, name, k) == 0 && s[k] == ':')
			return smaps_field(s, name);
		if ((nl = strchr(s, '\n')) == NULL)
			break;
	}
	return SIZE_MAX;
}

/*
 * smaps line by line; a line longer than the buffer (a long path) is cut
 * to its head, which holds the addresses.  First the counters the kernel
 * keeps without a walk: no anonymous huge page in the whole system
 * (/proc/meminfo) and no hugetlb page in this process (/proc/self/status)
 * mean none in any mapping of ours, and smaps, which walks every page
 * table of the process (40 ms for a heap of a million objects), is not
 * read.
 */
bool sb_os_huge_pages(sb_os_huge_fn *fn, void *arg)
{
	char buf[2048];		/* small: the dump runs in signal handlers too */
	struct smaps_vma v = { 0, 0, 0, 0, false };
	size_t len = 0, done;
	bool cut = false;
	int fd;

	if (proc_field("/proc/meminfo", "AnonHugePages") == 0 &&
	    proc_field("/proc/self/status", "HugetlbPages") == 0)
		return true;
	fd = open("/proc/self/smaps", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	for (;;) {
		ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);
		char *nl;

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
		for (done = 0; (nl = memchr(buf + done, '\n', len - done)) != NULL;
		     done = (size_t)(nl - buf) + 1) {
			*nl = '\0';
			if (!cut)
				smaps_line(buf + done, &v, fn, arg);
			cut = false;
		}
		memmove(buf, buf + done, len - done);
		len -= done;
		if (len == sizeof(buf) - 1) {
			buf[len] = '\0';
			if (!cut)
				smaps_line(buf, &v, fn, arg);
			cut = true;
			len = 0;
		}
	}
	close(fd);
	smaps_vma_end(&v, fn, arg);
	return true;
}

static bool page_used(const uint64_t *used, size_t idx)
{
	return used == NULL || (used[idx / 64] >> (idx % 64) & 1);
}

bool sb_os_rebase_to_4k(char *base, size_t len, const uint64_t *used)
{
	char *copy = mmap(NULL, len, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	size_t idx = 0, run, pages = len >> SB_PAGE_SHIFT;

	if (copy == MAP_FAILED)
		return false;	/* keep the hugetlb pages: no worse than before */
	while (idx < pages) {
		if (!page_used(used, idx)) {
			idx++;
			continue;
		}
		for (run = idx; run < pages && page_used(used, run); run++)
			;
		memcpy(copy + (idx << SB_PAGE_SHIFT), base + (idx << SB_PAGE_SHIFT),
		       (run - idx) << SB_PAGE_SHIFT);
		idx = run;
	}
	if (mremap(copy, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, base) != base) {
		munmap(copy, len);
		return false;
	}
	return true;
}

const char *sb_backing_name(enum sb_backing b)
{
	switch (b) {
	case SB_BACKING_HUGETLB: return "hugetlb";
	case SB_BACKING_THP: return "thp";
	default: return "4k";
	}
}

void sb_os_note_mapped(long delta)
{
	size_t now = __atomic_add_fetch(&mapped_bytes, (size_t)delta, __ATOMIC_RELAXED);
	size_t peak = __atomic_load_n(&mapped_peak, __ATOMIC_RELAXED);

	while (now > peak && !__atomic_compare_exchange_n(&mapped_peak, &peak, now, true,
							  __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
}

size_t sb_os_mapped_peak(void)
{
	return __atomic_load_n(&mapped_peak, __ATOMIC_RELAXED);
}
