/*
 * region.c - the OS layer: regions, the registry, huge blocks, metadata.
 *
 * A region is SB_REGION_SIZE (32 MiB) of address space aligned to its size,
 * the user-space stand-in for the kernel's physical memory.  The buddy
 * allocator splits it into pages; this file only maps it and says where it
 * is.  Every mapping is made by reserving PROT_NONE address space with room
 * for alignment, then committing the aligned part and unmapping the slack.
 *
 * Backing, chosen per region (SBMALLOC_HUGEPAGES):
 *   hugetlb  MAP_HUGETLB 2 MiB pages.  Never with MAP_NORESERVE: the kernel
 *            then reserves the pages at mmap time and an empty pool is a
 *            plain ENOMEM here instead of SIGBUS at first touch.  After a
 *            refusal the next 8 attempts are skipped (as mimalloc does).
 *   thp      plain pages with madvise(MADV_HUGEPAGE).
 *   4k       plain pages (MADV_NOHUGEPAGE when the mode is "off").
 * Modes:
 *   unset    (the default) neither advise nor forbid: regions get huge
 *            pages only if the kernel's THP setting is "always".  Measured
 *            (docs/benchmarks.md), advising THP bought a few percent of
 *            time on a pointer-chasing heap and cost up to half again as
 *            much resident memory on a fragmented one (sqlite: 235 MiB
 *            against 158 MiB): a partly used huge page is resident whole.
 *   thp      madvise(MADV_HUGEPAGE) for every region.
 *   auto     hugetlb for regions when the pool grants them, else THP for
 *            every region after the first, else 4k.
 *   hugetlb  as auto, and blocks above 4 MiB try hugetlb too.
 *   off      4k everywhere, and MADV_NOHUGEPAGE.
 * hugetlb is not the default: each region pins 16 pages of a pool that the
 * administrator usually reserved for one program, and a MAP_PRIVATE
 * hugetlb heap is fragile across fork() (see fork_child_leave_hugetlb()).
 *
 * The registry maps addr >> SB_REGION_SHIFT to the region or huge block
 * that owns that 32 MiB of address space, or NULL (see internal.h for how
 * huge blocks are entered).  It is a flat array of 2^22 pointers in .bss:
 * only pages of it that were written cost memory, and the free path reads
 * it at a link-time address.
 * Deciding whether a pointer is ours reads the registry only,
 * never the pointer's memory.  Entries are written before the memory is
 * handed out and cleared before it is unmapped.
 *
 * A huge block (above the largest buddy block) gets a mapping of its own,
 * aligned to SB_REGION_SIZE, with address space reserved up to the next
 * region boundary, so realloc grows it in place up to there and beyond by
 * mremap, without copying.
 *
 * Metadata (region descriptors, slab and huge descriptors) comes from
 * mappings of its own, never next to user memory.
 *
 * Locks, in order: grow_lock (creating regions) -> huge_lock -> meta_lock.
 * A region's own lock belongs to the buddy allocator and nests between
 * grow_lock and huge_lock.
 */
#include "internal.h"

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

#define SB_MAX_REGIONS 65536		/* 2 TiB of regions */
#define HUGETLB_BACKOFF 8

struct sb_region *sb_registry[SB_REGISTRY_ENTRIES];
struct sb_huge *sb_huge_registry[SB_REGISTRY_ENTRIES];
struct sb_region sb_huge_stub = { .kind = SB_MAP_HUGE };
struct sb_region **sb_regions;
static struct sb_region *region_table[SB_MAX_REGIONS];
static size_t nr_regions;		/* published with release ordering */

static pthread_mutex_t grow_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t huge_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t meta_lock = PTHREAD_MUTEX_INITIALIZER;

static struct sb_huge *huge_list;
static size_t huge_count, huge_bytes, mapped_peak, huge_total;
static unsigned hugetlb_skip;
static int thp_mode = -1;		/* 0 never, 1 madvise, 2 always */
static size_t hugetlb_regions, thp_regions;

/* Called with grow_lock or huge_lock held; racy across the two, fine for a peak. */
static void note_mapped(void)
{
	size_t now = sb_region_count() * SB_REGION_SIZE + huge_bytes;

	if (now > mapped_peak)
		mapped_peak = now;
}

/* ---- Raw mappings ------------------------------------------------------ */

static void *os_reserve(size_t len)
{
	void *p = mmap(NULL, len, PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

/* Reserve len bytes of address space aligned to align. */
static char *os_reserve_aligned(size_t len, size_t align)
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

/* hugetlb_skip is shared by region and huge-block creation: atomics. */
static bool want_hugetlb(void)
{
	enum sb_hugepages_mode m = sb_config.hugepages;
	unsigned skip;

	if (m != SB_HUGEPAGES_AUTO && m != SB_HUGEPAGES_HUGETLB)
		return false;
	skip = __atomic_load_n(&hugetlb_skip, __ATOMIC_RELAXED);
	while (skip > 0)
		if (__atomic_compare_exchange_n(&hugetlb_skip, &skip, skip - 1, false,
						__ATOMIC_RELAXED, __ATOMIC_RELAXED))
			return false;
	return true;
}

/*
 * madvise(MADV_HUGEPAGE): for every region with SBMALLOC_HUGEPAGES=thp; as
 * the fallback of auto and hugetlb, for every region but the first (a
 * small program's few pages of heap would otherwise become 2 MiB of
 * resident memory); never by default.
 */
static bool want_thp(unsigned index)
{
	if (thp_mode <= 0)
		return false;
	switch (sb_config.hugepages) {
	case SB_HUGEPAGES_THP:
		return true;
	case SB_HUGEPAGES_AUTO:
	case SB_HUGEPAGES_HUGETLB:
		return index > 0;
	default:
		return false;
	}
}

/*
 * Turn the reserved range [addr, addr+len) into usable memory, trying
 * hugetlb first when allowed.  On failure nothing of ours is left mapped
 * in the range (another thread may have mapped into the hole meanwhile).
 */
static bool os_commit(char *addr, size_t len, unsigned index, bool hugetlb_ok,
		      enum sb_backing *backing)
{
	void *p;

	if (hugetlb_ok && len % SB_HUGE_PAGE_SIZE == 0 && want_hugetlb()) {
		munmap(addr, len);
		p = mmap(addr, len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_HUGE_2MB |
			 MAP_FIXED_NOREPLACE, -1, 0);
		if (p == addr) {
			*backing = SB_BACKING_HUGETLB;
			return true;
		}
		if (p != MAP_FAILED)
			munmap(p, len);	/* old kernel: the hint was not honoured */
		__atomic_store_n(&hugetlb_skip, HUGETLB_BACKOFF, __ATOMIC_RELAXED);
		p = mmap(addr, len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
		if (p != addr) {
			if (p != MAP_FAILED)
				munmap(p, len);
			return false;
		}
	} else {
		p = mmap(addr, len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
		if (p == MAP_FAILED) {
			munmap(addr, len);
			return false;
		}
	}
	if (want_thp(index) && len >= SB_HUGE_PAGE_SIZE &&
	    madvise(addr, len, MADV_HUGEPAGE) == 0) {
		*backing = SB_BACKING_THP;
		return true;
	}
	if (sb_config.hugepages == SB_HUGEPAGES_OFF)
		madvise(addr, len, MADV_NOHUGEPAGE);
	*backing = thp_mode == 2 && sb_config.hugepages != SB_HUGEPAGES_OFF
		   ? SB_BACKING_THP : SB_BACKING_4K;
	return true;
}

void sb_os_purge(void *addr, size_t len)
{
	madvise(addr, len, MADV_DONTNEED);
}

const char *sb_backing_name(enum sb_backing b)
{
	switch (b) {
	case SB_BACKING_HUGETLB: return "hugetlb";
	case SB_BACKING_THP: return "thp";
	default: return "4k";
	}
}

/* ---- The registry and regions ----------------------------------------- */

bool sb_region_init(void)
{
	if (thp_mode < 0)
		thp_mode = read_thp_mode();
	sb_regions = region_table;
	return true;
}

size_t sb_region_count(void)
{
	return __atomic_load_n(&nr_regions, __ATOMIC_ACQUIRE);
}

static void registry_set(char *base, size_t len, struct sb_region *r, struct sb_huge *h)
{
	uintptr_t i = (uintptr_t)base >> SB_REGION_SHIFT;
	uintptr_t end = ((uintptr_t)base + len + SB_REGION_MASK) >> SB_REGION_SHIFT;

	for (; i < end; i++) {
		sb_huge_registry[i] = h;
		__atomic_store_n(&sb_registry[i], h ? &sb_huge_stub : r, __ATOMIC_RELEASE);
	}
}

struct sb_region *sb_region_create(void)
{
	struct sb_region *r = NULL;
	size_t meta_len = sb_align_up(sizeof(*r), SB_PAGE_SIZE);
	enum sb_backing backing;
	unsigned i;
	char *base;

	pthread_mutex_lock(&grow_lock);
	if (nr_regions == SB_MAX_REGIONS)
		goto out;
	r = mmap(NULL, meta_len, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (r == MAP_FAILED) {
		r = NULL;
		goto out;
	}
	for (i = 0;; i++) {
		base = os_reserve_aligned(SB_REGION_SIZE, SB_REGION_SIZE);
		if (base != NULL && os_commit(base, SB_REGION_SIZE, (unsigned)nr_regions, true, &backing))
			break;
		if (base == NULL || i == 3) {
			munmap(r, meta_len);
			r = NULL;
			goto out;
		}
	}
	r->kind = SB_MAP_REGION;
	r->base = base;
	r->index = (unsigned)nr_regions;
	r->backing = backing;
	pthread_mutex_init(&r->lock, NULL);
	for (i = 0; i < SB_NR_ORDERS; i++)
		r->free_head[i] = SB_NO_PAGE;
	if (backing == SB_BACKING_HUGETLB)
		hugetlb_regions++;
	else if (backing == SB_BACKING_THP)
		thp_regions++;
	registry_set(base, SB_REGION_SIZE, r, NULL);
	region_table[nr_regions] = r;
	__atomic_store_n(&nr_regions, nr_regions + 1, __ATOMIC_RELEASE);
	note_mapped();
out:
	pthread_mutex_unlock(&grow_lock);
	if (r == NULL)
		errno = ENOMEM;
	return r;
}

/* ---- Huge blocks ------------------------------------------------------- */

static size_t huge_len(size_t size, enum sb_backing backing)
{
	return sb_align_up(size, backing == SB_BACKING_HUGETLB ? SB_HUGE_PAGE_SIZE : SB_PAGE_SIZE);
}

struct sb_huge *sb_huge_alloc(size_t size, size_t align)
{
	struct sb_huge *h;
	size_t len, reserved;
	char *base;

	if (size > ((size_t)1 << SB_ADDR_BITS) / 4 || align > ((size_t)1 << 40))
		goto nomem;
	if (align < SB_REGION_SIZE)
		align = SB_REGION_SIZE;
	h = sb_meta_alloc(sizeof(*h));
	if (h == NULL)
		goto nomem;
	len = sb_align_up(size, SB_PAGE_SIZE);
	reserved = sb_align_up(len, SB_REGION_SIZE);
	base = os_reserve_aligned(reserved, align);
	if (base == NULL) {
		sb_meta_free(h, sizeof(*h));
		goto nomem;
	}
	if (!os_commit(base, len, 1, sb_config.hugepages == SB_HUGEPAGES_HUGETLB, &h->backing)) {
		if (reserved > len)
			munmap(base + len, reserved - len);
		sb_meta_free(h, sizeof(*h));
		goto nomem;
	}
	h->kind = SB_MAP_HUGE;
	h->base = base;
	h->size = len;
	h->reserved = reserved;
	pthread_mutex_lock(&huge_lock);
	registry_set(base, reserved, NULL, h);
	h->prev = NULL;
	h->next = huge_list;
	if (huge_list)
		huge_list->prev = h;
	huge_list = h;
	huge_count++;
	huge_total++;
	huge_bytes += len;
	note_mapped();
	pthread_mutex_unlock(&huge_lock);
	return h;
nomem:
	errno = ENOMEM;
	return NULL;
}

static void huge_unlink(struct sb_huge *h)
{
	if (h->prev)
		h->prev->next = h->next;
	else
		huge_list = h->next;
	if (h->next)
		h->next->prev = h->prev;
}

void sb_huge_free(struct sb_huge *h)
{
	pthread_mutex_lock(&huge_lock);
	registry_set(h->base, h->reserved, NULL, NULL);
	huge_unlink(h);
	huge_count--;
	huge_bytes -= h->size;
	pthread_mutex_unlock(&huge_lock);
	munmap(h->base, h->reserved);
	sb_meta_free(h, sizeof(*h));
}

static bool huge_resize_in_place(struct sb_huge *h, size_t len)
{
	void *p;

	if (len > h->size) {
		if (h->backing == SB_BACKING_HUGETLB)
			return false;
		p = mmap(h->base + h->size, len - h->size, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
		if (p == MAP_FAILED)
			return false;
		if (h->backing == SB_BACKING_THP)
			madvise(h->base + h->size, len - h->size, MADV_HUGEPAGE);
	} else if (len < h->size) {
		/* Our own range (2 MiB multiples for hugetlb): replace in place. */
		p = mmap(h->base + len, h->size - len, PROT_NONE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
		if (p == MAP_FAILED)
			return false;
	}
	return true;
}

bool sb_huge_resize(struct sb_huge **hp, size_t size)
{
	struct sb_huge *h = *hp;
	size_t len = huge_len(size, h->backing), reserved;
	char *base;
	void *p;

	if (len <= h->reserved) {
		if (!huge_resize_in_place(h, len))
			return false;
		pthread_mutex_lock(&huge_lock);
		huge_bytes += len;
		huge_bytes -= h->size;
		note_mapped();
		h->size = len;
		pthread_mutex_unlock(&huge_lock);
		return true;
	}
	if (h->backing == SB_BACKING_HUGETLB)
		return false;
	reserved = sb_align_up(len, SB_REGION_SIZE);
	base = os_reserve_aligned(reserved, SB_REGION_SIZE);
	if (base == NULL)
		return false;
	p = mremap(h->base, h->size, len, MREMAP_MAYMOVE | MREMAP_FIXED, base);
	if (p != base) {
		munmap(base, reserved);
		return false;
	}
	pthread_mutex_lock(&huge_lock);
	registry_set(h->base, h->reserved, NULL, NULL);
	registry_set(base, reserved, NULL, h);
	huge_bytes += len;
	huge_bytes -= h->size;
	pthread_mutex_unlock(&huge_lock);
	munmap(h->base + h->size, h->reserved - h->size);
	h->base = base;
	h->size = len;
	h->reserved = reserved;
	return true;
}

/* Resident bytes of all huge blocks (mincore), under huge_lock. */
size_t sb_huge_resident(void)
{
	unsigned char vec[256];
	struct sb_huge *h;
	size_t bytes = 0, off, chunk, i;

	pthread_mutex_lock(&huge_lock);
	for (h = huge_list; h != NULL; h = h->next)
		for (off = 0; off < h->size; off += chunk) {
			chunk = h->size - off < sizeof(vec) * SB_PAGE_SIZE ?
				h->size - off : sizeof(vec) * SB_PAGE_SIZE;
			if (mincore(h->base + off, chunk, vec) != 0)
				continue;
			for (i = 0; i < (chunk + SB_PAGE_SIZE - 1) >> SB_PAGE_SHIFT; i++)
				bytes += (size_t)(vec[i] & 1) << SB_PAGE_SHIFT;
		}
	pthread_mutex_unlock(&huge_lock);
	return bytes;
}

/* ---- Metadata ---------------------------------------------------------- */

#define META_CHUNK ((size_t)64 << 10)
#define META_QUANTUM 16
#define META_MAX 4096

struct meta_free {
	struct meta_free *next;
};

static struct meta_free *meta_free_lists[META_MAX / META_QUANTUM + 1];
static char *meta_cur, *meta_end;
static size_t meta_bytes;

void *sb_meta_alloc(size_t size)
{
	size_t idx = (size + META_QUANTUM - 1) / META_QUANTUM;
	void *p;

	if (size == 0 || size > META_MAX)
		return NULL;
	size = idx * META_QUANTUM;
	pthread_mutex_lock(&meta_lock);
	p = meta_free_lists[idx];
	if (p != NULL) {
		meta_free_lists[idx] = meta_free_lists[idx]->next;
		goto out;
	}
	if (meta_cur == NULL || (size_t)(meta_end - meta_cur) < size) {
		char *chunk = mmap(NULL, META_CHUNK, PROT_READ | PROT_WRITE,
				   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (chunk == MAP_FAILED) {
			p = NULL;
			goto out;
		}
		meta_cur = chunk;
		meta_end = chunk + META_CHUNK;
		meta_bytes += META_CHUNK;
	}
	p = meta_cur;
	meta_cur += size;
out:
	pthread_mutex_unlock(&meta_lock);
	if (p != NULL)
		memset(p, 0, size);
	return p;
}

void sb_meta_free(void *p, size_t size)
{
	size_t idx = (size + META_QUANTUM - 1) / META_QUANTUM;
	struct meta_free *f = p;

	pthread_mutex_lock(&meta_lock);
	f->next = meta_free_lists[idx];
	meta_free_lists[idx] = f;
	pthread_mutex_unlock(&meta_lock);
}

/* ---- Counters and fork ------------------------------------------------- */

void sb_region_counters(struct sb_region_counters *out, bool locked)
{
	out->regions = sb_region_count();
	out->region_bytes = out->regions * SB_REGION_SIZE;
	if (locked)
		pthread_mutex_lock(&huge_lock);
	out->huge_count = huge_count;
	out->huge_total = huge_total;
	out->huge_bytes = huge_bytes;
	out->mapped_peak = mapped_peak;
	if (locked)
		pthread_mutex_unlock(&huge_lock);
	out->meta_bytes = meta_bytes + out->regions * sb_align_up(sizeof(struct sb_region), SB_PAGE_SIZE);
	out->hugetlb_regions = hugetlb_regions;
	out->thp_regions = thp_regions;
}

void sb_region_fork_prepare(void)
{
	size_t i;

	pthread_mutex_lock(&grow_lock);
	for (i = 0; i < nr_regions; i++)
		pthread_mutex_lock(&region_table[i]->lock);
	pthread_mutex_lock(&huge_lock);
	pthread_mutex_lock(&meta_lock);
}

void sb_region_fork_parent(void)
{
	size_t i;

	pthread_mutex_unlock(&meta_lock);
	pthread_mutex_unlock(&huge_lock);
	for (i = nr_regions; i-- > 0;)
		pthread_mutex_unlock(&region_table[i]->lock);
	pthread_mutex_unlock(&grow_lock);
}

/*
 * Replace the hugetlb mapping [base, base+len) by ordinary pages holding
 * the same data, copying only the pages in use (all of them if r is NULL).
 */
static void rebase_to_4k(char *base, size_t len, struct sb_region *r)
{
	char *copy = mmap(NULL, len, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	uint32_t idx = 0, run;

	if (copy == MAP_FAILED)
		return;		/* keep the hugetlb pages: no worse than before */
	if (r == NULL) {
		memcpy(copy, base, len);
	} else {
		while (idx < SB_REGION_PAGES) {
			if (r->pages[idx].state == SB_PAGE_FREE) {
				idx += 1u << r->pages[idx].order;
				continue;
			}
			for (run = idx; run < SB_REGION_PAGES && r->pages[run].state != SB_PAGE_FREE; run++)
				;
			memcpy(copy + ((size_t)idx << SB_PAGE_SHIFT), base + ((size_t)idx << SB_PAGE_SHIFT),
			       (size_t)(run - idx) << SB_PAGE_SHIFT);
			idx = run;
		}
	}
	if (mremap(copy, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, base) != base)
		munmap(copy, len);
}

/*
 * In a forked child, hugetlb memory is replaced by ordinary copies: a
 * MAP_PRIVATE hugetlb page shared with the parent is copied on write from
 * the free pool, and when the pool is empty the child gets SIGBUS.  The
 * copy costs the pages in use; it happens before fork() returns in the
 * child.  (A parent thread writing to the heap while the child copies can
 * still take a page from the child if the pool is empty: the reason
 * hugetlb is not the default.)
 */
static void fork_child_leave_hugetlb(void)
{
	struct sb_huge *h;
	size_t i;

	for (i = 0; i < nr_regions; i++) {
		struct sb_region *r = region_table[i];

		if (r->backing != SB_BACKING_HUGETLB)
			continue;
		rebase_to_4k(r->base, SB_REGION_SIZE, r);
		r->backing = SB_BACKING_4K;
		r->purge_order = 2;
		hugetlb_regions--;
	}
	for (h = huge_list; h != NULL; h = h->next)
		if (h->backing == SB_BACKING_HUGETLB) {
			rebase_to_4k(h->base, h->size, NULL);
			h->backing = SB_BACKING_4K;
		}
}

void sb_region_fork_child(void)
{
	size_t i;

	if (hugetlb_regions > 0 || huge_list != NULL)
		fork_child_leave_hugetlb();
	pthread_mutex_init(&meta_lock, NULL);
	pthread_mutex_init(&huge_lock, NULL);
	for (i = 0; i < nr_regions; i++)
		pthread_mutex_init(&region_table[i]->lock, NULL);
	pthread_mutex_init(&grow_lock, NULL);
}
