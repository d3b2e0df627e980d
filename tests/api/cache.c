/*
 * tests/api/cache.c - dedicated object caches: sb_cache_create/alloc/free/destroy.
 *
 * The contract (include/sbmalloc.h, src/cache.c): the constructor runs once
 * per object slot when a slab is populated; an object goes back through
 * sb_cache_free() or free() in its constructed state and comes out again
 * without another constructor call; the destructor runs once per
 * constructed object when a slab goes back to the page allocator (a
 * reclaim: malloc_trim(), memory running out while a slab is being made,
 * or sb_cache_destroy()).  A cache with a constructor keeps its empty slabs
 * until such a reclaim.
 *
 * Most tests count constructor and destructor calls (ctor_calls,
 * dtor_calls); the constructor writes MAGIC and zeroes the user part of the
 * header, the destructor checks that MAGIC is still there (dtor_bad counts
 * destructor calls on objects that were not constructed, or destroyed
 * twice) and clears it.  Slab counts are read back from the statistics
 * dump (sb_stats_print), whose slabinfo rows name each dedicated cache.
 *
 * Each test runs in a forked child (tap.h), so each starts with no
 * dedicated cache and its own counters.  The tests whose names end in
 * _with_statistics_on rerun another test of this program in a new process
 * with SBMALLOC_STATS set: counting mode puts a "face" with empty
 * magazines in front of each thread's cache (magazine.c), a different path
 * through the same code.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <sbmalloc.h>

#include "../tap.h"

#define MAGIC 0x5bca11ab1e0b1ec7ull
#define MARKER "call returned"

/* The start of every object of the counting caches (size >= 16). */
struct hdr {
	uint64_t magic;		/* MAGIC while constructed */
	uint64_t user;		/* 0 in the constructed state */
};

static unsigned long ctor_calls, dtor_calls, dtor_bad;

static unsigned long nctor(void)
{
	return __atomic_load_n(&ctor_calls, __ATOMIC_RELAXED);
}

static unsigned long ndtor(void)
{
	return __atomic_load_n(&dtor_calls, __ATOMIC_RELAXED);
}

static void count_ctor(void *obj, void *arg)
{
	struct hdr *h = obj;

	(void)arg;
	h->magic = MAGIC;
	h->user = 0;
	__atomic_add_fetch(&ctor_calls, 1, __ATOMIC_RELAXED);
}

static void count_dtor(void *obj, void *arg)
{
	struct hdr *h = obj;

	(void)arg;
	if (h->magic != MAGIC)
		__atomic_add_fetch(&dtor_bad, 1, __ATOMIC_RELAXED);
	h->magic = 0;
	__atomic_add_fetch(&dtor_calls, 1, __ATOMIC_RELAXED);
}

static sb_cache_t *counting_cache(const char *name, size_t size, size_t align)
{
	sb_cache_t *c = sb_cache_create(name, size, align, count_ctor, count_dtor, NULL);

	CHECKF(c != NULL, "sb_cache_create(%s, %zu, %zu): errno %d", name, size, align, errno);
	return c;
}

static int constructed(const void *p)
{
	const struct hdr *h = p;

	return h->magic == MAGIC && h->user == 0;
}

static void write_marker(void)
{
	(void)!write(2, MARKER "\n", sizeof MARKER);
}

/* ---- The statistics dump ------------------------------------------------ */

/* One slabinfo row. */
struct row {
	unsigned long active_objs, num_objs, objsize, objperslab, pagesperslab;
	unsigned long limit, batchcount, sharedfactor;
	unsigned long active_slabs, num_slabs, sharedavail;
};

static char dump[1 << 18];

/* The dump into `dump`, through a memfd (no stdio, no allocation here). */
static size_t read_dump(void)
{
	int fd = memfd_create("sbstats", 0);
	size_t got = 0;
	ssize_t n;

	CHECK(fd >= 0);
	sb_stats_print(fd);
	CHECK(lseek(fd, 0, SEEK_SET) == 0);
	while (got < sizeof(dump) - 1 && (n = read(fd, dump + got, sizeof(dump) - 1 - got)) > 0)
		got += (size_t)n;
	dump[got] = '\0';
	close(fd);
	return got;
}

/* The slabinfo row of the cache called name: 1 if found, 0 if not. */
static int find_row(const char *name, struct row *r)
{
	size_t len = strlen(name);
	const char *line;

	read_dump();
	for (line = dump; *line != '\0'; line = strchr(line, '\n') + 1) {
		if (strncmp(line, name, len) == 0 && line[len] == ' ') {
			int n = sscanf(line + len,
				       " %lu %lu %lu %lu %lu : tunables %lu %lu %lu"
				       " : slabdata %lu %lu %lu",
				       &r->active_objs, &r->num_objs, &r->objsize, &r->objperslab,
				       &r->pagesperslab, &r->limit, &r->batchcount,
				       &r->sharedfactor, &r->active_slabs, &r->num_slabs,
				       &r->sharedavail);
			CHECKF(n == 11, "unparsable slabinfo row: %.200s", line);
			return 1;
		}
		if (strchr(line, '\n') == NULL)
			break;
	}
	return 0;
}

static struct row must_find_row(const char *name)
{
	struct row r;

	CHECKF(find_row(name, &r), "no slabinfo row for %s in:\n%s", name, dump);
	return r;
}

/* ---- Capturing stderr in-process ---------------------------------------- */

struct capture {
	int saved, rd;
};

static void capture_begin(struct capture *cap)
{
	int fds[2];

	CHECK(pipe(fds) == 0);
	cap->saved = dup(2);
	CHECK(cap->saved >= 0);
	CHECK(dup2(fds[1], 2) == 2);
	close(fds[1]);
	cap->rd = fds[0];
}

/* Restore stderr; what was written meanwhile goes to buf (NUL-terminated). */
static void capture_end(struct capture *cap, char *buf, size_t len)
{
	size_t got = 0;
	ssize_t n;

	CHECK(dup2(cap->saved, 2) == 2);
	close(cap->saved);
	while (got < len - 1 && (n = read(cap->rd, buf + got, len - 1 - got)) > 0)
		got += (size_t)n;
	buf[got] = '\0';
	close(cap->rd);
}

/* ---- Constructor and destructor counting -------------------------------- */

/*
 * The "done when": 5 rounds of 1,000 allocations and frees of a
 * 192-byte object construct fewer than 1,500 objects, and destroy runs the
 * destructor exactly as often.
 */
TEST(constructor_runs_fewer_than_1500_times_in_5_rounds_of_1000_objects)
{
	static void *objs[1000];
	sb_cache_t *c = counting_cache("rounds192", 192, 0);
	unsigned long per_round[5];
	int round, i;

	for (round = 0; round < 5; round++) {
		for (i = 0; i < 1000; i++) {
			objs[i] = sb_cache_alloc(c);
			CHECK(objs[i] != NULL);
		}
		for (i = 0; i < 1000; i++)
			sb_cache_free(c, objs[i]);
		per_round[round] = nctor();
	}
	tap_diag("constructor calls after each round: %lu %lu %lu %lu %lu", per_round[0],
		 per_round[1], per_round[2], per_round[3], per_round[4]);
	CHECKF(nctor() >= 1000 && nctor() < 1500, "constructor called %lu times", nctor());
	CHECK(ndtor() == 0);
	sb_cache_destroy(c);
	CHECKF(ndtor() == nctor(), "constructor %lu, destructor %lu", nctor(), ndtor());
	CHECK(dtor_bad == 0);
}

/* Addresses constructed and not destroyed since: an open-addressing set. */
#define TRACK_SLOTS 8192
static uintptr_t tracked[TRACK_SLOTS];
static unsigned long reconstructed;

static uintptr_t *track_slot(uintptr_t a)
{
	size_t i = (size_t)(a >> 4) * 0x9e3779b97f4a7c15ull >> 51;

	while (tracked[i % TRACK_SLOTS] != 0 && tracked[i % TRACK_SLOTS] != a)
		i++;
	return &tracked[i % TRACK_SLOTS];
}

static void tracking_ctor(void *obj, void *arg)
{
	uintptr_t *slot = track_slot((uintptr_t)obj);

	if (*slot != 0)
		reconstructed++;
	*slot = (uintptr_t)obj;
	count_ctor(obj, arg);
}

/*
 * Objects leave the cache constructed every time: the user changes them
 * and restores the constructed state before freeing (the contract), and
 * the next allocations see every object constructed.  No constructor call
 * is ever made on a slot that was constructed before (each one is for a
 * new slot: calls == slots in the slabinfo row).  Slots beyond the live
 * objects are what the magazines hold: at most the thread's two magazines
 * and one slab's rounding; from round 3 on, nothing new is constructed.
 * (Round 2 may add a few slots: since the depot keeps at most 4 full
 * magazines, most of round 1's frees went back to the slabs, and round 2
 * ends with a differently filled magazine on top of the 1,000 live ones.)
 */
TEST(objects_come_back_constructed_without_another_constructor_call)
{
	static struct hdr *objs[1000];
	sb_cache_t *c = sb_cache_create("constructed", 192, 0, tracking_ctor, count_dtor, NULL);
	unsigned long per_round[5];
	struct row r;
	int round, i;

	CHECK(c != NULL);
	for (round = 0; round < 5; round++) {
		for (i = 0; i < 1000; i++) {
			objs[i] = sb_cache_alloc(c);
			CHECK(objs[i] != NULL);
			CHECKF(constructed(objs[i]), "round %d: object %d (%p) not constructed",
			       round + 1, i, (void *)objs[i]);
			objs[i]->user = (uint64_t)i + 1;
			memset(objs[i] + 1, 0xa5, 192 - sizeof(struct hdr));
		}
		r = must_find_row("constructed");
		CHECKF(reconstructed == 0, "round %d: %lu constructor calls on constructed slots",
		       round + 1, reconstructed);
		CHECKF(nctor() == r.num_objs, "round %d: %lu constructor calls for %lu slots",
		       round + 1, nctor(), r.num_objs);
		CHECKF(nctor() <= 1000 + 2 * r.limit + r.objperslab,
		       "round %d: %lu slots for 1000 live objects (magazines of %lu)", round + 1,
		       nctor(), r.limit);
		for (i = 0; i < 1000; i++) {
			CHECK(objs[i]->user == (uint64_t)i + 1);
			objs[i]->user = 0;	/* back to the constructed state */
			sb_cache_free(c, objs[i]);
		}
		per_round[round] = nctor();
		if (round >= 2)
			CHECKF(nctor() == per_round[round - 1], "round %d constructed %lu objects",
			       round + 1, nctor() - per_round[round - 1]);
	}
	tap_diag("constructor calls after each round: %lu %lu %lu %lu %lu", per_round[0],
		 per_round[1], per_round[2], per_round[3], per_round[4]);
	sb_cache_destroy(c);
	CHECK(ndtor() == nctor() && dtor_bad == 0);
}

/*
 * Destroy gives every slab back: one destructor call per constructed
 * slot (objects in full, partial and empty slabs, in magazines and in the
 * depot), none twice, none on an unconstructed object.
 */
TEST(destroy_runs_one_destructor_per_constructed_object)
{
	static void *objs[5000];
	sb_cache_t *c = counting_cache("destroy_count", 600, 0);
	struct row r;
	int i;

	for (i = 0; i < 5000; i++)
		CHECK((objs[i] = sb_cache_alloc(c)) != NULL);
	/* Free in a stride so that some slabs end partial, some empty. */
	for (i = 0; i < 5000; i += 3)
		sb_cache_free(c, objs[i]);
	for (i = 1; i < 2000; i += 3)
		free(objs[i]);
	for (i = 0; i < 5000; i++)
		if (i % 3 == 2 || (i % 3 == 1 && i >= 2000))
			sb_cache_free(c, objs[i]);
	r = must_find_row("destroy_count");
	CHECKF(r.num_objs == nctor(), "%lu slots in slabs, %lu constructor calls", r.num_objs,
	       nctor());
	CHECK(ndtor() == 0);
	sb_cache_destroy(c);
	CHECKF(ndtor() == nctor(), "constructor %lu, destructor %lu", nctor(), ndtor());
	CHECKF(dtor_bad == 0, "%lu destructor calls on objects not constructed", dtor_bad);
	CHECK(!find_row("destroy_count", &r));
}

/* ---- Alignment and sizes ------------------------------------------------ */

/* 600 objects of size bytes from a cache created with align: every one
 * aligned to want, and none overlapping another. */
static void check_alignment(const char *name, size_t size, size_t align, size_t want)
{
	static unsigned char *objs[600];
	sb_cache_t *c = sb_cache_create(name, size, align, NULL, NULL, NULL);
	size_t i, j;

	CHECKF(c != NULL, "sb_cache_create(%zu, %zu): errno %d", size, align, errno);
	for (i = 0; i < 600; i++) {
		objs[i] = sb_cache_alloc(c);
		CHECK(objs[i] != NULL);
		CHECKF((uintptr_t)objs[i] % want == 0, "object %zu at %p not aligned to %zu", i,
		       (void *)objs[i], want);
		memset(objs[i], (int)(i & 0xff), size);
	}
	for (i = 0; i < 600; i++) {
		for (j = 0; j < size; j++)
			CHECKF(objs[i][j] == (unsigned char)(i & 0xff),
			       "object %zu overwritten at +%zu", i, j);
		sb_cache_free(c, objs[i]);
	}
	sb_cache_destroy(c);
}

TEST(objects_are_16_byte_aligned_with_align_0)
{
	check_alignment("align0_40", 40, 0, 16);
	check_alignment("align0_24", 24, 0, 16);
	check_alignment("align0_1", 1, 0, 16);
}

TEST(objects_are_aligned_to_64)
{
	check_alignment("align64_192", 192, 64, 64);
	check_alignment("align64_40", 40, 64, 64);
}

TEST(objects_are_aligned_to_256)
{
	check_alignment("align256_192", 192, 256, 256);
	check_alignment("align256_600", 600, 256, 256);
}

TEST(objects_are_aligned_to_4096)
{
	check_alignment("align4096_192", 192, 4096, 4096);
	check_alignment("align4096_5000", 5000, 4096, 4096);
}

/* Each size: 300 objects written whole with their own byte, then checked,
 * freed, allocated again and checked again; usable size covers the size. */
TEST(objects_of_sizes_1_to_32768_hold_their_contents)
{
	static const size_t sizes[] = { 1, 24, 192, 600, 4096, 20000, 32768 };
	static unsigned char *objs[300];
	size_t s, i, j;

	for (s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		size_t size = sizes[s];
		char name[32];
		sb_cache_t *c;
		int pass;

		snprintf(name, sizeof name, "size%zu", size);
		c = sb_cache_create(name, size, 0, NULL, NULL, NULL);
		CHECKF(c != NULL, "size %zu: errno %d", size, errno);
		for (pass = 0; pass < 2; pass++) {
			for (i = 0; i < 300; i++) {
				objs[i] = sb_cache_alloc(c);
				CHECKF(objs[i] != NULL, "size %zu: object %zu", size, i);
				CHECK((uintptr_t)objs[i] % 16 == 0);
				CHECKF(malloc_usable_size(objs[i]) >= size, "size %zu: usable %zu",
				       size, malloc_usable_size(objs[i]));
				memset(objs[i], (int)((i + s) & 0xff), size);
			}
			for (i = 0; i < 300; i++) {
				for (j = 0; j < size; j++)
					CHECKF(objs[i][j] == (unsigned char)((i + s) & 0xff),
					       "size %zu: object %zu overwritten at +%zu", size, i, j);
				sb_cache_free(c, objs[i]);
			}
		}
		sb_cache_destroy(c);
	}
}

/* ---- Reclaim ------------------------------------------------------------- */

/*
 * Freed objects keep their slabs (the cache has a constructor), so no
 * destructor runs until malloc_trim(0), which gives back every empty slab:
 * one destructor call per slot of the slabs it released.
 */
TEST(malloc_trim_destroys_empty_slabs_with_their_destructors)
{
	static void *objs[1000];
	sb_cache_t *c = counting_cache("trim192", 192, 0);
	struct row before, after;
	unsigned long ctors;
	int i;

	for (i = 0; i < 1000; i++)
		CHECK((objs[i] = sb_cache_alloc(c)) != NULL);
	for (i = 0; i < 1000; i++)
		sb_cache_free(c, objs[i]);
	before = must_find_row("trim192");
	CHECKF(before.num_slabs > 0 && ndtor() == 0,
	       "%lu slabs, %lu destructor calls before the trim", before.num_slabs, ndtor());
	malloc_trim(0);
	after = must_find_row("trim192");
	tap_diag("slabs %lu -> %lu, %lu objects per slab, %lu destructor calls",
		 before.num_slabs, after.num_slabs, before.objperslab, ndtor());
	CHECK(ndtor() > 0);
	CHECKF(ndtor() == (before.num_slabs - after.num_slabs) * before.objperslab,
	       "%lu destructor calls for %lu released slabs of %lu objects", ndtor(),
	       before.num_slabs - after.num_slabs, before.objperslab);
	CHECK(after.num_slabs == 0 && ndtor() == nctor());
	CHECK(dtor_bad == 0);
	/* The cache still works, with newly constructed slabs. */
	ctors = nctor();
	CHECK((objs[0] = sb_cache_alloc(c)) != NULL);
	CHECK(constructed(objs[0]) && nctor() > ctors);
	sb_cache_free(c, objs[0]);
	sb_cache_destroy(c);
	CHECK(ndtor() == nctor() && dtor_bad == 0);
}

static size_t vm_bytes(void)
{
	char buf[128];
	unsigned long pages = 0;
	int fd = open("/proc/self/statm", O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	if (sscanf(buf, "%lu", &pages) != 1)
		return 0;
	return pages * (size_t)sysconf(_SC_PAGESIZE);
}

/* A buddy block of 2^order pages (order 1..10), without any slab. */
static void *page_block(unsigned order)
{
	size_t bytes = (size_t)4096 << order;

	/* 8 and 16 KiB: an alignment above a page sends them to the buddy
	 * allocator instead of a size class; 32 KiB and up go there anyway. */
	return order < 3 ? memalign(bytes, bytes) : malloc(bytes);
}

#define FILL_MAX 65536
static void *fill[FILL_MAX];
static void *small[1 << 20];

/*
 * Memory running out while a slab is made reclaims every cache's empty
 * slabs (slab_create -> sb_slab_reclaim) before failing.  The setting:
 *
 *  - a 2048-byte dedicated cache with constructor (4-page slabs of 8
 *    objects) holds 15 empty slabs and one with a live object.  The empty
 *    slabs are made the one deterministic way the API offers: objects
 *    freed by a live thread wait in its magazines and the depot, and
 *    sb_cache_destroy() with an object still live drains those into the
 *    slabs and leaves the cache alone (cache.c);
 *  - RLIMIT_AS a few MiB above the current size, so no new 32 MiB region
 *    can be mapped (checked), but metadata chunks (64 KiB) still can;
 *  - every free buddy block of 2 pages or more is taken by page-block
 *    allocations, which never reclaim;
 *  - then malloc(2048) until its size class needs a new 4-page slab.
 *    Only the reclaim can give it one: the dedicated cache's slabs are
 *    4-page blocks, so they serve whatever single free pages are left.
 *    Without the reclaim that malloc fails with no destructor run; with
 *    it, it succeeds and the 15 empty slabs' 120 destructors have run.
 */
TEST(running_out_of_memory_reclaims_empty_slabs_with_their_destructors)
{
	static void *objs[128];
	sb_cache_t *c = counting_cache("pressure2048", 2048, 0);
	struct row before, after;
	struct rlimit rl;
	struct capture cap;
	char err[512];
	size_t nfill = 0, nsmall = 0, i;
	unsigned order;
	void *probe, *p = NULL;

	for (i = 0; i < 128; i++)
		CHECK((objs[i] = sb_cache_alloc(c)) != NULL);
	for (i = 1; i < 128; i++)
		sb_cache_free(c, objs[i]);
	capture_begin(&cap);
	sb_cache_destroy(c);		/* refuses (objs[0] is live), drains */
	capture_end(&cap, err, sizeof err);
	CHECKF(strstr(err, "still has 1 ") != NULL, "sb_cache_destroy said: %s", err);
	before = must_find_row("pressure2048");
	tap_diag("dedicated cache: %lu slabs of %lu pages, %lu objects live",
		 before.num_slabs, before.pagesperslab, before.active_objs);
	CHECK(before.active_objs == 1 && before.num_slabs == 16 && before.pagesperslab == 4);
	CHECK(ndtor() == 0);

	if (vm_bytes() == 0)
		tap_skip("no /proc/self/statm to size RLIMIT_AS by");
	rl.rlim_cur = rl.rlim_max = vm_bytes() + ((size_t)8 << 20);
	CHECK(setrlimit(RLIMIT_AS, &rl) == 0);
	probe = mmap(NULL, (size_t)32 << 20, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		     -1, 0);
	if (probe != MAP_FAILED)
		tap_skip("RLIMIT_AS does not limit mappings here");

	for (order = 10; order >= 1; order--)
		while (nfill < FILL_MAX && (fill[nfill] = page_block(order)) != NULL)
			nfill++;
	CHECK(nfill < FILL_MAX);
	CHECKF(ndtor() == 0, "taking page blocks ran %lu destructors", ndtor());

	for (i = 0; i < sizeof(small) / sizeof(small[0]); i++) {
		p = malloc(2048);
		if (ndtor() > 0)
			break;
		CHECKF(p != NULL, "malloc(2048) failed after %zu calls, with %lu empty slabs of "
		       "a dedicated cache not reclaimed", i, before.num_slabs - 1);
		small[nsmall++] = p;
	}
	CHECKF(ndtor() > 0, "%zu x malloc(2048) never needed a new slab", i);
	CHECKF(p != NULL, "malloc(2048) failed although the reclaim ran %lu destructors", ndtor());
	tap_diag("%zu page blocks taken; malloc(2048) #%zu reclaimed, %lu destructor calls",
		 nfill, i + 1, ndtor());
	free(p);
	for (i = 0; i < nsmall; i++)
		free(small[i]);
	for (i = 0; i < nfill; i++)
		free(fill[i]);

	after = must_find_row("pressure2048");
	CHECKF(after.num_slabs == 1, "%lu slabs left", after.num_slabs);
	CHECKF(ndtor() == (before.num_slabs - after.num_slabs) * before.objperslab,
	       "%lu destructor calls for %lu released slabs of %lu", ndtor(),
	       before.num_slabs - after.num_slabs, before.objperslab);
	CHECK(dtor_bad == 0);
	CHECK(constructed(objs[0]));
}

/* ---- Threads ------------------------------------------------------------- */

#define NTHREADS 4
#define THREAD_ALLOCS 100000
#define LOCAL_MAX 64
#define RING_MAX 256

struct tobj {
	struct hdr h;		/* h.user: owner thread + 1 while allocated */
	uint64_t seq;
	unsigned char payload[192 - sizeof(struct hdr) - sizeof(uint64_t)];
};

static sb_cache_t *shared_cache;
static pthread_mutex_t ring_lock = PTHREAD_MUTEX_INITIALIZER;
static struct tobj *ring[RING_MAX];
static size_t ring_count;
static long live_now, live_peak;

static unsigned char fill_byte(uint64_t owner, uint64_t seq)
{
	return (unsigned char)(owner * 131 + seq * 7 + 1);
}

static void tobj_check(const struct tobj *o)
{
	unsigned char b = fill_byte(o->h.user, o->seq);
	size_t i;

	CHECKF(o->h.magic == MAGIC && o->h.user >= 1 && o->h.user <= NTHREADS,
	       "object %p: magic %llx owner %llu", (const void *)o,
	       (unsigned long long)o->h.magic, (unsigned long long)o->h.user);
	for (i = 0; i < sizeof(o->payload); i++)
		CHECKF(o->payload[i] == b, "object %p of thread %llu, #%llu: byte %zu is %#x, not %#x",
		       (const void *)o, (unsigned long long)o->h.user - 1,
		       (unsigned long long)o->seq, i, o->payload[i], b);
}

/* Back to the constructed state, then free by one of the two ways. */
static void tobj_release(struct tobj *o, unsigned long r)
{
	o->h.user = 0;
	o->seq = 0;
	memset(o->payload, 0, sizeof(o->payload));
	__atomic_sub_fetch(&live_now, 1, __ATOMIC_RELAXED);
	if (r & 1)
		free(o);
	else
		sb_cache_free(shared_cache, o);
}

static void *thread_main(void *arg)
{
	uint64_t tid = (uint64_t)(uintptr_t)arg, seq = 0, x = 0x9e3779b97f4a7c15ull * (tid + 1);
	struct tobj *local[LOCAL_MAX];
	size_t n = 0, i;

	while (seq < THREAD_ALLOCS) {
		unsigned long r;
		struct tobj *o;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		r = (unsigned long)(x >> 11);
		if (n == 0 || (n < LOCAL_MAX && (r & 3) != 0)) {
			long now, peak;

			o = sb_cache_alloc(shared_cache);
			CHECK(o != NULL);
			CHECKF(o->h.magic == MAGIC && o->h.user == 0 && o->seq == 0,
			       "object %p not in the constructed state", (void *)o);
			for (i = 0; i < sizeof(o->payload); i++)
				CHECKF(o->payload[i] == 0, "object %p: payload byte %zu not clean",
				       (void *)o, i);
			now = __atomic_add_fetch(&live_now, 1, __ATOMIC_RELAXED);
			peak = __atomic_load_n(&live_peak, __ATOMIC_RELAXED);
			while (now > peak && !__atomic_compare_exchange_n(&live_peak, &peak, now, true,
									  __ATOMIC_RELAXED,
									  __ATOMIC_RELAXED))
				;
			o->h.user = tid + 1;
			o->seq = seq++;
			memset(o->payload, fill_byte(o->h.user, o->seq), sizeof(o->payload));
			local[n++] = o;
		} else {
			i = (r >> 2) % n;
			o = local[i];
			local[i] = local[--n];
			tobj_check(o);
			if ((r >> 12) % 3 == 0) {
				pthread_mutex_lock(&ring_lock);
				if (ring_count < RING_MAX) {
					ring[ring_count++] = o;
					o = NULL;
				}
				pthread_mutex_unlock(&ring_lock);
			}
			if (o != NULL)
				tobj_release(o, r >> 20);
		}
		/* Free an object some thread (often another) put on the ring. */
		if ((r >> 24) % 3 == 0) {
			o = NULL;
			pthread_mutex_lock(&ring_lock);
			if (ring_count > 0)
				o = ring[--ring_count];
			pthread_mutex_unlock(&ring_lock);
			if (o != NULL) {
				tobj_check(o);
				tobj_release(o, r >> 30);
			}
		}
	}
	while (n > 0) {
		tobj_check(local[--n]);
		tobj_release(local[n], n);
	}
	return NULL;
}

/*
 * 4 threads, 100,000 allocations each, objects checked while live and
 * freed by their own thread or, through a shared ring, by another one,
 * with sb_cache_free() or free().  Slots are constructed only when the
 * magazines, the depot and the slabs have none: at most about twice the
 * peak of live objects, plus what the threads' magazines can hold.
 */
TEST(four_threads_share_a_cache_and_free_each_others_objects)
{
	pthread_t th[NTHREADS];
	struct row r;
	unsigned long bound;
	uintptr_t t;

	shared_cache = counting_cache("threads192", sizeof(struct tobj), 0);
	for (t = 0; t < NTHREADS; t++)
		CHECK(pthread_create(&th[t], NULL, thread_main, (void *)t) == 0);
	for (t = 0; t < NTHREADS; t++)
		CHECK(pthread_join(th[t], NULL) == 0);
	while (ring_count > 0) {
		tobj_check(ring[--ring_count]);
		tobj_release(ring[ring_count], ring_count);
	}
	CHECK(live_now == 0);
	r = must_find_row("threads192");
	/* Two full magazines per thread, one partly used batch per thread. */
	bound = 2 * (unsigned long)live_peak + NTHREADS * 3 * r.limit + r.objperslab;
	tap_diag("peak live %ld, constructor calls %lu, bound %lu (magazines of %lu)",
		 live_peak, nctor(), bound, r.limit);
	CHECKF(nctor() == r.num_objs, "%lu constructor calls, %lu slots", nctor(), r.num_objs);
	CHECKF(nctor() <= bound, "%lu constructor calls for a peak of %ld live objects",
	       nctor(), live_peak);
	sb_cache_destroy(shared_cache);
	CHECKF(ndtor() == nctor(), "constructor %lu, destructor %lu", nctor(), ndtor());
	CHECK(dtor_bad == 0);
}

/* ---- free() and sb_cache_free() ------------------------------------------ */

TEST(free_returns_object_to_its_cache_constructed)
{
	sb_cache_t *c = counting_cache("free_back", 192, 0);
	struct hdr *p = sb_cache_alloc(c), *q;
	unsigned long ctors = nctor();
	void *m;

	CHECK(p != NULL && constructed(p));
	free(p);
	m = malloc(192);		/* the size class of the same size */
	CHECK(m != NULL && m != p);
	q = sb_cache_alloc(c);
	CHECKF(q == p, "freed %p, next sb_cache_alloc gave %p", (void *)p, (void *)q);
	CHECK(constructed(q));
	CHECK(nctor() == ctors);
	free(m);
	free(q);
	sb_cache_destroy(c);
	CHECK(ndtor() == nctor());
}

TEST(sb_cache_free_returns_object_to_its_cache_constructed)
{
	sb_cache_t *c = counting_cache("cache_free_back", 192, 0);
	struct hdr *p = sb_cache_alloc(c), *q;
	unsigned long ctors = nctor();
	void *m;

	CHECK(p != NULL && constructed(p));
	sb_cache_free(c, p);
	m = malloc(192);
	CHECK(m != NULL && m != p);
	q = sb_cache_alloc(c);
	CHECKF(q == p, "freed %p, next sb_cache_alloc gave %p", (void *)p, (void *)q);
	CHECK(constructed(q));
	CHECK(nctor() == ctors);
	free(m);
	sb_cache_free(c, q);
	sb_cache_free(c, NULL);		/* does nothing */
	sb_cache_destroy(c);
	CHECK(ndtor() == nctor());
}

/* ---- Statistics ----------------------------------------------------------- */

/*
 * The dump has a slabinfo row named after the cache.  active_objs counts
 * objects out of the slab layer, including those in magazines and the
 * depot (stats.c), so it is the live count plus what the thread caches
 * hold; after malloc_trim() gave those back it is exactly the live count.
 */
TEST(stats_dump_shows_cache_by_name_with_live_objects)
{
	static void *objs[300];
	sb_cache_t *c = counting_cache("statscache", 192, 0);
	struct row r;
	int i;

	r = must_find_row("statscache");
	CHECK(r.active_objs == 0 && r.num_slabs == 0);
	CHECK(r.objsize == 192);
	for (i = 0; i < 300; i++)
		CHECK((objs[i] = sb_cache_alloc(c)) != NULL);
	for (i = 0; i < 300; i += 2)
		sb_cache_free(c, objs[i]);
	r = must_find_row("statscache");
	tap_diag("150 live: active_objs %lu, num_objs %lu, magazines of %lu, depot %lu",
		 r.active_objs, r.num_objs, r.limit, r.sharedavail);
	CHECK(r.active_objs >= 150 && r.active_objs <= 150 + 2 * r.limit + r.sharedavail);
	CHECK(r.num_objs == nctor() && r.num_objs >= r.active_objs);
	CHECK(r.objperslab > 0 && r.num_slabs * r.objperslab == r.num_objs);
	malloc_trim(0);
	r = must_find_row("statscache");
	CHECKF(r.active_objs == 150, "active_objs %lu with 150 objects live", r.active_objs);
	for (i = 1; i < 300; i += 2)
		sb_cache_free(c, objs[i]);
	malloc_trim(0);
	r = must_find_row("statscache");
	CHECKF(r.active_objs == 0 && r.num_slabs == 0, "active_objs %lu, %lu slabs", r.active_objs,
	       r.num_slabs);
	sb_cache_destroy(c);
}

TEST(destroyed_cache_leaves_the_stats_dump)
{
	sb_cache_t *c = counting_cache("gone_soon", 64, 0);
	struct row r;
	void *p = sb_cache_alloc(c);

	CHECK(p != NULL);
	sb_cache_free(c, p);
	CHECK(find_row("gone_soon", &r));
	sb_cache_destroy(c);
	CHECK(!find_row("gone_soon", &r));
}

TEST(long_name_is_cut_to_31_characters)
{
	const char *name = "a_cache_name_of_forty_characters_exactly";
	sb_cache_t *c = sb_cache_create(name, 64, 0, NULL, NULL, NULL);
	struct row r;

	CHECK(c != NULL);
	CHECK(find_row("a_cache_name_of_forty_character", &r));	/* 31 characters */
	CHECK(!find_row(name, &r));
	sb_cache_destroy(c);
}

/* ---- Bad input ----------------------------------------------------------- */

struct bad_free {
	sb_cache_t *cache;
	void *obj;
	void *other;		/* freed first, when not NULL */
};

static void cache_free_once(void *arg)
{
	struct bad_free *b = arg;

	sb_cache_free(b->cache, b->obj);
	write_marker();
}

static void cache_free_twice(void *arg)
{
	struct bad_free *b = arg;

	sb_cache_free(b->cache, b->obj);
	if (b->other != NULL)
		sb_cache_free(b->cache, b->other);
	sb_cache_free(b->cache, b->obj);
	write_marker();
	malloc_trim(0);		/* gives magazines back to the slabs */
	write_marker();
}

/*
 * fn(arg) aborts with one line "sbmalloc: <func>(): <what> <ptr>", where
 * <what> is any text, before the bad call returns (the marker).
 */
static void expect_abort_line(void (*fn)(void *), void *arg, const char *func, const void *ptr,
			      int markers_allowed)
{
	char out[4096], head[64], tail[64];
	const char *line, *end;
	int found = 0, markers = 0;

	snprintf(head, sizeof head, "sbmalloc: %s(): ", func);
	snprintf(tail, sizeof tail, " %p", ptr);
	CHECK(tap_expect_abort(fn, arg, NULL, out, sizeof out));
	for (line = out; (line = strstr(line, head)) != NULL; line = end) {
		end = strchr(line, '\n');
		if (end == NULL)
			end = line + strlen(line);
		if ((size_t)(end - line) > strlen(tail) &&
		    strncmp(end - strlen(tail), tail, strlen(tail)) == 0)
			found = 1;
	}
	for (line = out; (line = strstr(line, MARKER)) != NULL; line++)
		markers++;
	CHECKF(found, "expected a line \"%s...%s\"; stderr: %s", head, tail, out);
	CHECKF(markers <= markers_allowed, "the bad call returned before aborting: %s", out);
	line = strstr(out, head);
	tap_diag("%.*s", (int)strcspn(line, "\n"), line);
}

TEST(sb_cache_free_of_object_of_another_cache_aborts)
{
	sb_cache_t *a = counting_cache("cache_a", 192, 0), *b = counting_cache("cache_b", 192, 0);
	struct bad_free bf = { b, sb_cache_alloc(a), NULL };

	CHECK(bf.obj != NULL);
	expect_abort_line(cache_free_once, &bf, "sb_cache_free", bf.obj, 0);
}

TEST(sb_cache_free_of_malloc_pointer_aborts)
{
	sb_cache_t *c = counting_cache("cache_m", 192, 0);
	struct bad_free bf = { c, malloc(192), NULL };
	struct bad_free big = { c, malloc(100000), NULL };

	CHECK(bf.obj != NULL && big.obj != NULL);
	expect_abort_line(cache_free_once, &bf, "sb_cache_free", bf.obj, 0);
	expect_abort_line(cache_free_once, &big, "sb_cache_free", big.obj, 0);
}

TEST(sb_cache_free_of_stack_pointer_aborts)
{
	char on_stack[192];
	sb_cache_t *c = counting_cache("cache_s", 192, 0);
	struct bad_free bf = { c, on_stack, NULL };

	memset(on_stack, 0, sizeof on_stack);
	expect_abort_line(cache_free_once, &bf, "sb_cache_free", bf.obj, 0);
}

TEST(sb_cache_free_of_interior_pointer_aborts)
{
	sb_cache_t *c = counting_cache("cache_i", 192, 0);
	char *p = sb_cache_alloc(c);
	struct bad_free bf = { c, p + 16, NULL };

	CHECK(p != NULL);
	expect_abort_line(cache_free_once, &bf, "sb_cache_free", bf.obj, 0);
	bf.obj = p + 191;
	expect_abort_line(cache_free_once, &bf, "sb_cache_free", bf.obj, 0);
}

TEST(double_sb_cache_free_aborts)
{
	sb_cache_t *c = counting_cache("cache_d", 192, 0);
	struct bad_free bf = { c, sb_cache_alloc(c), NULL };

	CHECK(bf.obj != NULL);
	expect_abort_line(cache_free_twice, &bf, "sb_cache_free", bf.obj, 0);
}

/*
 * A double free with other frees in between is caught at the second free
 * itself: the object holds the free key, and the check behind it finds the
 * object in a magazine (counting_cache has a constructor: there the
 * out-of-band live bit says so).
 */
TEST(double_sb_cache_free_behind_another_free_aborts_at_the_second_free)
{
	sb_cache_t *c = counting_cache("cache_d2", 192, 0);
	struct bad_free bf = { c, sb_cache_alloc(c), sb_cache_alloc(c) };

	CHECK(bf.obj != NULL && bf.other != NULL);
	expect_abort_line(cache_free_twice, &bf, "sb_cache_free", bf.obj, 0);
}

TEST(double_sb_cache_free_of_a_cache_without_constructor_aborts_at_the_second_free)
{
	sb_cache_t *c = sb_cache_create("cache_d3", 40, 0, NULL, NULL, NULL);
	struct bad_free bf = { c, sb_cache_alloc(c), sb_cache_alloc(c) };

	CHECK(c != NULL && bf.obj != NULL && bf.other != NULL);
	expect_abort_line(cache_free_twice, &bf, "sb_cache_free", bf.obj, 0);
}

static void expect_einval(const char *name, size_t size, size_t align)
{
	sb_cache_t *c;

	errno = 0;
	c = sb_cache_create(name, size, align, count_ctor, count_dtor, NULL);
	CHECKF(c == NULL, "sb_cache_create(%s, %zu, %zu) succeeded", name ? name : "NULL", size,
	       align);
	CHECKF(errno == EINVAL, "errno %d, not EINVAL", errno);
	CHECK(nctor() == 0);
}

TEST(create_with_null_name_fails_with_einval)
{
	expect_einval(NULL, 192, 0);
}

TEST(create_with_size_0_fails_with_einval)
{
	expect_einval("size0", 0, 0);
}

TEST(create_with_size_above_32768_fails_with_einval)
{
	expect_einval("size32769", 32769, 0);
	expect_einval("sizemax", SIZE_MAX, 0);
}

TEST(create_with_align_3_fails_with_einval)
{
	expect_einval("align3", 192, 3);
	expect_einval("align48", 192, 48);
}

TEST(create_with_align_8192_fails_with_einval)
{
	expect_einval("align8192", 192, 8192);
}

/* ---- Destroy and the 64 slots -------------------------------------------- */

/*
 * Destroy with objects still allocated reports their number and the cache
 * name, runs no destructor and leaves the cache working; once they are
 * freed, destroy succeeds silently.
 */
TEST(destroy_with_live_objects_reports_count_and_name_and_keeps_them)
{
	static struct hdr *objs[100];
	sb_cache_t *c = counting_cache("live_at_destroy", 192, 0);
	struct capture cap;
	char err[1024];
	int i;

	for (i = 0; i < 100; i++)
		CHECK((objs[i] = sb_cache_alloc(c)) != NULL);
	for (i = 3; i < 100; i++)
		sb_cache_free(c, objs[i]);
	capture_begin(&cap);
	sb_cache_destroy(c);
	capture_end(&cap, err, sizeof err);
	tap_diag("stderr: %s", err);
	CHECKF(strstr(err, "sbmalloc: sb_cache_destroy(): ") != NULL, "stderr: %s", err);
	CHECKF(strstr(err, "live_at_destroy") != NULL, "no cache name in: %s", err);
	CHECKF(strstr(err, " 3 ") != NULL, "no count 3 in: %s", err);
	CHECKF(ndtor() == 0, "%lu destructor calls", ndtor());
	for (i = 0; i < 3; i++) {
		CHECK(constructed(objs[i]));
		objs[i]->user = 7;		/* still ours to use */
		objs[i]->user = 0;
	}
	/* The cache still serves. */
	CHECK((objs[3] = sb_cache_alloc(c)) != NULL && constructed(objs[3]));
	for (i = 0; i < 4; i++)
		sb_cache_free(c, objs[i]);
	capture_begin(&cap);
	sb_cache_destroy(c);
	capture_end(&cap, err, sizeof err);
	CHECKF(err[0] == '\0', "destroy of an idle cache said: %s", err);
	CHECKF(ndtor() == nctor(), "constructor %lu, destructor %lu", nctor(), ndtor());
}

/*
 * At most 64 dedicated caches exist at once: the 65th create fails with
 * ENOMEM.  Destroyed caches free their slot (see the next test).
 */
TEST(sixty_fifth_cache_fails_with_enomem)
{
	static sb_cache_t *caches[64];
	char name[32];
	int i;

	for (i = 0; i < 64; i++) {
		snprintf(name, sizeof name, "slot%d", i);
		caches[i] = sb_cache_create(name, 16 + 16 * (size_t)i, 0, NULL, NULL, NULL);
		CHECKF(caches[i] != NULL, "cache %d: errno %d", i + 1, errno);
	}
	errno = 0;
	CHECK(sb_cache_create("slot64", 64, 0, NULL, NULL, NULL) == NULL);
	CHECKF(errno == ENOMEM, "errno %d, not ENOMEM", errno);
	/* The 64 still work. */
	for (i = 0; i < 64; i++) {
		void *p = sb_cache_alloc(caches[i]);

		CHECK(p != NULL);
		CHECK(malloc_usable_size(p) >= 16 + 16 * (size_t)i);
		free(p);
	}
}

/*
 * Destroying a cache frees its slot: with 64 caches, a create fails until
 * one is destroyed and then succeeds, with the new size, constructor and
 * name, and the old one's objects and name are gone.
 */
TEST(destroyed_cache_slot_is_reused_by_the_next_create)
{
	static sb_cache_t *caches[64];
	sb_cache_t *c;
	struct hdr *p;
	struct row r;
	char name[32];
	int i;

	for (i = 0; i < 64; i++) {
		snprintf(name, sizeof name, "reuse%d", i);
		caches[i] = sb_cache_create(name, 32, 0, NULL, NULL, NULL);
		CHECK(caches[i] != NULL);
		CHECK((p = sb_cache_alloc(caches[i])) != NULL);
		sb_cache_free(caches[i], p);
	}
	CHECK(sb_cache_create("one_too_many", 64, 0, NULL, NULL, NULL) == NULL);
	sb_cache_destroy(caches[17]);
	c = counting_cache("reborn", 5000, 256);
	CHECK(!find_row("reuse17", &r));
	r = must_find_row("reborn");
	CHECK(r.objsize >= 5000);
	p = sb_cache_alloc(c);
	CHECK(p != NULL && constructed(p) && nctor() > 0);
	CHECK((uintptr_t)p % 256 == 0 && malloc_usable_size(p) >= 5000);
	memset(p + 1, 0x5a, 5000 - sizeof(*p));
	free(p);
	CHECK(sb_cache_create("one_too_many", 64, 0, NULL, NULL, NULL) == NULL);
	sb_cache_destroy(c);
	CHECK(ndtor() == nctor() && dtor_bad == 0);
	c = sb_cache_create("third", 48, 0, NULL, NULL, NULL);
	CHECK(c != NULL);
	CHECK((p = sb_cache_alloc(c)) != NULL);
	sb_cache_free(c, p);
}

/*
 * Creating a cache reuses a destroyed cache's struct, which stays on the
 * list of caches that malloc_trim() (sb_depot_reap, sb_slab_reclaim) walks
 * and locks from other threads.  Two threads trim in a loop while this one
 * creates, uses and destroys a cache, for up to 3 seconds: nothing may
 * crash or hang (alarm), and every constructed slot is destroyed once.
 * A race here shows up only in some runs.
 */
static int trim_stop;

static void *trim_loop(void *arg)
{
	unsigned long *n = arg;

	while (!__atomic_load_n(&trim_stop, __ATOMIC_RELAXED)) {
		malloc_trim(0);
		++*n;
	}
	return NULL;
}

TEST(caches_can_be_created_and_destroyed_while_other_threads_trim)
{
	pthread_t th[2];
	unsigned long trims[2] = { 0, 0 }, i, n;
	struct timespec t0, t;

	alarm(60);
	for (i = 0; i < 2; i++)
		CHECK(pthread_create(&th[i], NULL, trim_loop, &trims[i]) == 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < 1000000; i++) {
		sb_cache_t *c = counting_cache("churn", 192, 0);
		struct hdr *p = sb_cache_alloc(c);

		CHECK(p != NULL && constructed(p));
		sb_cache_free(c, p);
		sb_cache_destroy(c);
		if (i % 1024 == 0) {
			clock_gettime(CLOCK_MONOTONIC, &t);
			if (t.tv_sec - t0.tv_sec >= 3)
				break;
		}
	}
	n = i;
	__atomic_store_n(&trim_stop, 1, __ATOMIC_RELAXED);
	for (i = 0; i < 2; i++)
		CHECK(pthread_join(th[i], NULL) == 0);
	tap_diag("%lu caches created and destroyed during %lu + %lu trims", n, trims[0], trims[1]);
	CHECKF(ndtor() == nctor() && dtor_bad == 0, "constructor %lu, destructor %lu (%lu bad)",
	       nctor(), ndtor(), dtor_bad);
}

/* ---- With statistics counters on ----------------------------------------- */

/*
 * Destroy in a forked child takes back the objects its (inherited) thread
 * magazines hold, like in the parent: no report, every destructor runs.
 */
TEST(destroy_in_a_forked_child_takes_back_its_magazines)
{
	static void *objs[100];
	sb_cache_t *c = counting_cache("forked192", 192, 0);
	struct capture cap;
	char err[512];
	int i, status;
	pid_t pid;

	for (i = 0; i < 100; i++)
		CHECK((objs[i] = sb_cache_alloc(c)) != NULL);
	for (i = 0; i < 100; i++)
		sb_cache_free(c, objs[i]);
	fflush(stdout);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		for (i = 0; i < 100; i++)
			CHECK((objs[i] = sb_cache_alloc(c)) != NULL);
		for (i = 0; i < 100; i++)
			sb_cache_free(c, objs[i]);
		capture_begin(&cap);
		sb_cache_destroy(c);
		capture_end(&cap, err, sizeof err);
		CHECKF(err[0] == '\0', "in the child, destroy said: %s", err);
		CHECKF(ndtor() == nctor(), "in the child: constructor %lu, destructor %lu", nctor(),
		       ndtor());
		_exit(0);
	}
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECKF(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %#x", status);
}

/*
 * With counters on, sb_cache_alloc, sb_cache_free and free() of cache
 * objects keep live_bytes of the summary consistent: allocating 1,000
 * objects of 192 bytes raises it by 192,000 bytes at least, and freeing
 * them (by free()) brings it back.  Skipped with counters off.
 */
static long summary_value(const char *key)
{
	size_t len = strlen(key);
	const char *line;
	long v;

	read_dump();
	if (strstr(dump, "counters on") == NULL)
		tap_skip("statistics counters off (SBMALLOC_STATS not set)");
	for (line = dump; line != NULL; line = strchr(line, '\n'), line = line ? line + 1 : NULL)
		if (strncmp(line, key, len) == 0 && line[len] == ' ' &&
		    sscanf(line + len, " %ld", &v) == 1)
			return v;
	CHECKF(0, "no %s in the summary", key);
	return 0;
}

TEST(live_bytes_count_cache_objects_when_counting)
{
	static void *objs[1000], *ballast[1000];
	sb_cache_t *c = sb_cache_create("counted192", 192, 0, NULL, NULL, NULL);
	long base, with, after;
	int i;

	CHECK(c != NULL);
	/* The summary prints max(live_bytes, 0): start well above 0. */
	for (i = 0; i < 1000; i++)
		CHECK((ballast[i] = malloc(512)) != NULL);
	base = summary_value("live_bytes");
	CHECKF(base >= 256000, "live_bytes %ld with 512,000 bytes of malloc live", base);
	for (i = 0; i < 1000; i++)
		CHECK((objs[i] = sb_cache_alloc(c)) != NULL);
	with = summary_value("live_bytes");
	for (i = 0; i < 1000; i++)
		free(objs[i]);
	after = summary_value("live_bytes");
	tap_diag("live_bytes %ld, with 1000 cache objects %ld, after freeing them %ld", base, with,
		 after);
	CHECKF(with - base >= 192000, "1000 objects of 192 bytes added %ld live bytes", with - base);
	CHECKF(after - base < 16384 && base - after < 16384,
	       "live_bytes %ld before, %ld after allocating and freeing", base, after);
	for (i = 0; i < 1000; i++)
		free(ballast[i]);
}

/* Run one test of this program in a new process with SBMALLOC_STATS set
 * (read at start-up), in the single-test mode of tap.h. */
static void run_with_statistics(const char *test)
{
	char *args[] = { (char *)"test_cache", (char *)test, NULL };
	int status;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		setenv("SBMALLOC_STATS", "/dev/null", 1);
		execv("/proc/self/exe", args);
		_exit(127);
	}
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECKF(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	       "%s with SBMALLOC_STATS set: status %#x", test, status);
}

TEST(malloc_trim_destroys_empty_slabs_with_statistics_on)
{
	run_with_statistics("malloc_trim_destroys_empty_slabs_with_their_destructors");
}

TEST(destroy_in_a_forked_child_takes_back_its_magazines_with_statistics_on)
{
	run_with_statistics("destroy_in_a_forked_child_takes_back_its_magazines");
}

TEST(double_sb_cache_free_aborts_with_statistics_on)
{
	run_with_statistics("double_sb_cache_free_aborts");
}

TEST(live_bytes_count_cache_objects_with_statistics_on)
{
	run_with_statistics("live_bytes_count_cache_objects_when_counting");
}

static const struct tap_case cases[] = {
	TAP_CASE(constructor_runs_fewer_than_1500_times_in_5_rounds_of_1000_objects)
	TAP_CASE(objects_come_back_constructed_without_another_constructor_call)
	TAP_CASE(destroy_runs_one_destructor_per_constructed_object)
	TAP_CASE(objects_are_16_byte_aligned_with_align_0)
	TAP_CASE(objects_are_aligned_to_64)
	TAP_CASE(objects_are_aligned_to_256)
	TAP_CASE(objects_are_aligned_to_4096)
	TAP_CASE(objects_of_sizes_1_to_32768_hold_their_contents)
	TAP_CASE(malloc_trim_destroys_empty_slabs_with_their_destructors)
	TAP_CASE(running_out_of_memory_reclaims_empty_slabs_with_their_destructors)
	TAP_CASE(four_threads_share_a_cache_and_free_each_others_objects)
	TAP_CASE(free_returns_object_to_its_cache_constructed)
	TAP_CASE(sb_cache_free_returns_object_to_its_cache_constructed)
	TAP_CASE(stats_dump_shows_cache_by_name_with_live_objects)
	TAP_CASE(destroyed_cache_leaves_the_stats_dump)
	TAP_CASE(long_name_is_cut_to_31_characters)
	TAP_CASE(sb_cache_free_of_object_of_another_cache_aborts)
	TAP_CASE(sb_cache_free_of_malloc_pointer_aborts)
	TAP_CASE(sb_cache_free_of_stack_pointer_aborts)
	TAP_CASE(sb_cache_free_of_interior_pointer_aborts)
	TAP_CASE(double_sb_cache_free_aborts)
	TAP_CASE(double_sb_cache_free_behind_another_free_aborts_at_the_second_free)
	TAP_CASE(double_sb_cache_free_of_a_cache_without_constructor_aborts_at_the_second_free)
	TAP_CASE(create_with_null_name_fails_with_einval)
	TAP_CASE(create_with_size_0_fails_with_einval)
	TAP_CASE(create_with_size_above_32768_fails_with_einval)
	TAP_CASE(create_with_align_3_fails_with_einval)
	TAP_CASE(create_with_align_8192_fails_with_einval)
	TAP_CASE(destroy_with_live_objects_reports_count_and_name_and_keeps_them)
	TAP_CASE(sixty_fifth_cache_fails_with_enomem)
	TAP_CASE(destroyed_cache_slot_is_reused_by_the_next_create)
	TAP_CASE(caches_can_be_created_and_destroyed_while_other_threads_trim)
	TAP_CASE(destroy_in_a_forked_child_takes_back_its_magazines)
	TAP_CASE(live_bytes_count_cache_objects_when_counting)
	TAP_CASE(malloc_trim_destroys_empty_slabs_with_statistics_on)
	TAP_CASE(destroy_in_a_forked_child_takes_back_its_magazines_with_statistics_on)
	TAP_CASE(double_sb_cache_free_aborts_with_statistics_on)
	TAP_CASE(live_bytes_count_cache_objects_with_statistics_on)
};

int main(int argc, char **argv)
{
	return tap_main_many(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
