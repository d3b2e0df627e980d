/*
 * common.h - helpers shared by the benchmark workloads in bench/workloads/.
 *
 * Every workload is a plain C program linked against glibc only; the runner
 * (bench/run.py) puts the allocator under test in front of it with
 * LD_PRELOAD.  Each program takes a scale argument, does a fixed amount of
 * work that grows with it, checks its own data (every object is filled with
 * a pattern derived from a tag and verified before it is freed) and prints
 * one line:
 *
 *     NAME key=value ... check=HEX
 *
 * where check is a checksum of the work done that does not depend on the
 * allocator or on thread scheduling, so the runner can compare it across
 * allocators.  On corrupted data a workload prints what it found on stderr
 * and exits with status 3.
 */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

/* Keep the compiler from proving an allocation unused. */
#define KEEP(p) __asm__ volatile("" : : "r"(p) : "memory")

static inline void __attribute__((noreturn, format(printf, 1, 2)))
die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

/* A corrupted object: say where, and exit 3 (the runner reports it). */
static inline void __attribute__((noreturn))
corrupt(const char *what, const void *p, size_t size, uint64_t tag)
{
	fprintf(stderr, "CORRUPTION: %s: object %p size %zu tag %#" PRIx64 "\n",
		what, p, size, tag);
	exit(3);
}

/* malloc that never returns NULL to its caller. */
static inline void *xmalloc(size_t n)
{
	void *p = malloc(n);

	if (p == NULL)
		die("malloc(%zu) failed: %s", n, strerror(errno));
	return p;
}

/* ---- random numbers: splitmix64 seeding a xorshift64* generator ------------ */

typedef struct {
	uint64_t s;
} rng_t;

static inline uint64_t splitmix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static inline void rng_seed(rng_t *r, uint64_t seed)
{
	r->s = splitmix64(seed) | 1;
}

static inline uint64_t rng_next(rng_t *r)
{
	uint64_t x = r->s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	r->s = x;
	return x * 0x2545f4914f6cdd1dULL;
}

/* Uniform in [0, n), n < 2^32. */
static inline uint32_t rng_below(rng_t *r, uint32_t n)
{
	return (uint32_t)(((rng_next(r) >> 32) * (uint64_t)n) >> 32);
}

/*
 * A size in [lo, hi] skewed towards small ones, as in real programs: pick
 * a power-of-two band first, then a size inside it.
 */
static inline size_t rng_size(rng_t *r, size_t lo, size_t hi)
{
	size_t top = lo;
	unsigned bands = 0, b;

	while (top < hi) {
		top *= 2;
		bands++;
	}
	b = bands ? rng_below(r, bands + 1) : 0;
	/* Each band twice as likely as the next larger one. */
	while (b > 0 && (rng_next(r) & 1))
		b--;
	{
		size_t base = lo << b, span = base, s;

		if (b == 0)
			span = lo;
		s = base + rng_below(r, (uint32_t)span);
		return s > hi ? hi : (s < lo ? lo : s);
	}
}

/* ---- object patterns --------------------------------------------------------- */

/*
 * An object of n >= 8 bytes holds its tag in its first word and the tag's
 * low byte (never 0) everywhere else.  fill() writes every byte, so the
 * memory is really touched (and counts in RSS); verify() reads the first
 * word, the middle byte and the last byte.
 */
static inline unsigned char tag_byte(uint64_t tag)
{
	unsigned char b = (unsigned char)(tag ^ (tag >> 29));

	return b ? b : 0x5a;
}

static inline void fill(void *p, size_t n, uint64_t tag)
{
	memcpy(p, &tag, sizeof tag);
	if (n > 8)
		memset((char *)p + 8, tag_byte(tag), n - 8);
}

static inline int verify(const void *p, size_t n, uint64_t tag)
{
	const unsigned char *c = p;
	unsigned char b = tag_byte(tag);
	uint64_t w;

	memcpy(&w, p, sizeof w);
	if (w != tag)
		return 0;
	if (n > 8 && (c[n - 1] != b || c[8 + (n - 8) / 2] != b))
		return 0;
	return 1;
}

/* verify() or exit 3. */
static inline void check_obj(const char *what, const void *p, size_t n, uint64_t tag)
{
	if (!verify(p, n, tag))
		corrupt(what, p, n, tag);
}

/*
 * Page blocks (tens of KiB to tens of MiB): filling every byte would make a
 * workload a memset benchmark, so touch_pages() writes one word in every
 * 4 KiB page instead (the tag mixed with the page's index), and the last
 * word: every page is really touched and counts in RSS, and a block the
 * allocator gave back to the kernel costs its page faults again.
 * verify_pages() checks the first and the last page and `sample` pages
 * chosen from the tag (all of them when the block has fewer).  n >= 16.
 */
#define TOUCH_PAGE 4096

static inline uint64_t page_word(uint64_t tag, size_t page)
{
	return tag ^ ((uint64_t)page * 0x9e3779b97f4a7c15ULL);
}

static inline void touch_pages(void *p, size_t n, uint64_t tag)
{
	char *c = p;
	size_t pages = (n + TOUCH_PAGE - 1) / TOUCH_PAGE, i;
	uint64_t w;

	for (i = 0; i < pages && i * TOUCH_PAGE + 8 <= n; i++) {
		w = page_word(tag, i);
		memcpy(c + i * TOUCH_PAGE, &w, sizeof w);
	}
	w = ~tag;
	memcpy(c + n - 8, &w, sizeof w);
}

static inline int verify_pages(const void *p, size_t n, uint64_t tag, unsigned sample)
{
	const char *c = p;
	size_t full = (n - 8) / TOUCH_PAGE + 1;	/* pages touch_pages() wrote */
	uint64_t w, s = tag;
	unsigned k;

	memcpy(&w, c + n - 8, sizeof w);
	if (w != ~tag)
		return 0;
	for (k = 0; k < sample + 2 && k < full; k++) {
		size_t i;

		if (full <= sample + 2)
			i = k;
		else if (k < 2)
			i = k ? full - 1 : 0;
		else
			i = (size_t)((s = splitmix64(s)) % full);
		memcpy(&w, c + i * TOUCH_PAGE, sizeof w);
		/* The last word may have overwritten a page word at the end. */
		if (w != page_word(tag, i) && i * TOUCH_PAGE + 16 <= n)
			return 0;
	}
	return 1;
}

static inline void check_pages(const char *what, const void *p, size_t n, uint64_t tag,
			       unsigned sample)
{
	if (!verify_pages(p, n, tag, sample))
		corrupt(what, p, n, tag);
}

/* ---- arguments, time, memory -------------------------------------------------- */

/* argv[i] as a positive long, or dflt when absent. */
static inline long arg_long(int argc, char **argv, int i, long dflt)
{
	char *end;
	long v;

	if (argc <= i)
		return dflt;
	errno = 0;
	v = strtol(argv[i], &end, 0);
	if (errno || *end || v <= 0)
		die("%s: argument %d: expected a positive integer, got '%s'",
		    argv[0], i, argv[i]);
	return v;
}

static inline double now_sec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Peak resident set of this process so far, in KiB. */
static inline long peak_rss_kib(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss;
}

/*
 * Sum of a field (e.g. "AnonHugePages:") of /proc/self/smaps_rollup in KiB,
 * or -1 when it cannot be read.  Used to show how the heap was backed.
 */
static inline long smaps_kib(const char *field)
{
	FILE *f = fopen("/proc/self/smaps_rollup", "r");
	char line[256];
	size_t len = strlen(field);
	long v = -1;

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof line, f)) {
		if (strncmp(line, field, len) == 0) {
			v = strtol(line + len, NULL, 10);
			break;
		}
	}
	fclose(f);
	return v;
}

/*
 * Resident set of this process now, in KiB, from /proc/self/statm (read
 * into a buffer on the stack: no stdio, so no allocation of its own), or
 * -1 when it cannot be read.
 */
static inline long rss_now_kib(void)
{
	char buf[128];
	long size, resident;
	ssize_t n;
	int fd = open("/proc/self/statm", O_RDONLY);

	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	if (sscanf(buf, "%ld %ld", &size, &resident) != 2)
		return -1;
	return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

/* pthread_create or die. */
static inline void start_thread(pthread_t *t, void *(*fn)(void *), void *arg)
{
	int e = pthread_create(t, NULL, fn, arg);

	if (e)
		die("pthread_create: %s", strerror(e));
}

/*
 * A bounded queue of pointers from thread to thread (prodcons.c,
 * remote.c): put waits while it is full, get while it is empty.  A
 * capacity of at least 2 keeps a ring of threads that each put before they
 * get from deadlocking.
 */
#define QUEUE_CAP 4

typedef struct {
	pthread_mutex_t lock;
	pthread_cond_t not_empty, not_full;
	void *q[QUEUE_CAP];
	int head, count;
} queue_t;

static inline void queue_init(queue_t *q)
{
	pthread_mutex_init(&q->lock, NULL);
	pthread_cond_init(&q->not_empty, NULL);
	pthread_cond_init(&q->not_full, NULL);
	q->head = q->count = 0;
}

static inline void queue_put(queue_t *q, void *item)
{
	pthread_mutex_lock(&q->lock);
	while (q->count == QUEUE_CAP)
		pthread_cond_wait(&q->not_full, &q->lock);
	q->q[(q->head + q->count) % QUEUE_CAP] = item;
	q->count++;
	pthread_cond_signal(&q->not_empty);
	pthread_mutex_unlock(&q->lock);
}

/* The next item; while the queue is empty it waits as long as *more
 * (read with acquire; more NULL: for ever) is not 0, then returns NULL. */
static inline void *queue_get(queue_t *q, const int *more)
{
	void *item = NULL;

	pthread_mutex_lock(&q->lock);
	while (q->count == 0 && (more == NULL || __atomic_load_n(more, __ATOMIC_ACQUIRE) > 0))
		pthread_cond_wait(&q->not_empty, &q->lock);
	if (q->count > 0) {
		item = q->q[q->head];
		q->head = (q->head + 1) % QUEUE_CAP;
		q->count--;
		pthread_cond_signal(&q->not_full);
	}
	pthread_mutex_unlock(&q->lock);
	return item;
}

/* Wake every thread waiting in queue_get(q) (after *more went to 0). */
static inline void queue_wake(queue_t *q)
{
	pthread_mutex_lock(&q->lock);
	pthread_cond_broadcast(&q->not_empty);
	pthread_mutex_unlock(&q->lock);
}

#endif /* BENCH_COMMON_H */
