/*
 * tests/system/mt_memory.c - the thread caches under whole-program workloads: memory
 * stays bounded when objects flow from threads that only allocate to
 * threads that only free, when threads come and go by the thousand, and a
 * child forked while threads allocate finds working magazines.
 *
 * Linked against libsbmalloc.so, which serves every allocation here.
 * Memory is measured from /proc/self/status (VmHWM, VmRSS); each test runs
 * in a forked child whose peak is first reset through /proc/self/clear_refs
 * when the kernel allows, else measured from the child's starting RSS.
 */
#include "../tap.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <time.h>

#include <sbmalloc.h>

#define MiB ((size_t)1 << 20)
#define GiB ((size_t)1 << 30)
#define TEST_ALARM 60

/* A field of /proc/self/status in bytes ("VmHWM", "VmRSS"), or 0. */
static size_t status_bytes(const char *field)
{
	char buf[4096], *p;
	size_t len = strlen(field), kb = 0;
	ssize_t n;
	int fd = open("/proc/self/status", O_RDONLY);

	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	for (p = buf; p != NULL && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (strncmp(p, field, len) == 0 && p[len] == ':') {
			kb = strtoull(p + len + 1, NULL, 10);
			break;
		}
	return kb * 1024;
}

/* Reset VmHWM to the current RSS; false if the kernel did not let us. */
static int reset_peak_rss(void)
{
	int fd = open("/proc/self/clear_refs", O_WRONLY);
	int ok;

	if (fd < 0)
		return 0;
	ok = write(fd, "5", 1) == 1;
	close(fd);
	return ok;
}

static double elapsed_s(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

/* An object of `size` bytes (>= 16) that says who made it: a header of
 * size and sequence number, the body filled with a byte derived from both. */
static void stamp(unsigned char *p, size_t size, uint64_t seq)
{
	uint64_t *h = (uint64_t *)p;

	h[0] = size;
	h[1] = seq;
	memset(p + 16, (int)(tap_mix64(seq ^ size) & 0xff), size - 16);
}

static int stamp_ok(const unsigned char *p)
{
	const uint64_t *h = (const uint64_t *)p;
	size_t size = h[0], i;
	unsigned char b = (unsigned char)(tap_mix64(h[1] ^ size) & 0xff);

	if (size < 16 || size > 16384)
		return 0;
	for (i = 16; i < size; i += 61)
		if (p[i] != b)
			return 0;
	return size == 16 || p[size - 1] == b;
}

/* ---- (a) producers that only allocate, consumers that only free -------- */

#define RING 4096			/* pointers in flight at most */
#define BATCH 64			/* moved per lock round trip */
#define PRODUCERS 2
#define CONSUMERS 2
#define OBJECTS_PER_PRODUCER (2000 * 1000)	/* 4 million in all */

struct ring {
	pthread_mutex_t lock;
	pthread_cond_t not_full, not_empty;
	void *slot[RING];
	size_t head, count;
	int producers_left;
};

static struct ring q = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.not_full = PTHREAD_COND_INITIALIZER,
	.not_empty = PTHREAD_COND_INITIALIZER,
	.producers_left = PRODUCERS,
};

static void ring_put(void **v, size_t n)
{
	size_t i;

	pthread_mutex_lock(&q.lock);
	while (RING - q.count < n)
		pthread_cond_wait(&q.not_full, &q.lock);
	for (i = 0; i < n; i++)
		q.slot[(q.head + q.count + i) % RING] = v[i];
	q.count += n;
	pthread_cond_signal(&q.not_empty);
	pthread_mutex_unlock(&q.lock);
}

/* Up to max pointers into v; 0 once every producer is done and the ring
 * is empty. */
static size_t ring_get(void **v, size_t max)
{
	size_t n = 0;

	pthread_mutex_lock(&q.lock);
	while (q.count == 0 && q.producers_left > 0)
		pthread_cond_wait(&q.not_empty, &q.lock);
	while (n < max && q.count > 0) {
		v[n++] = q.slot[q.head];
		q.head = (q.head + 1) % RING;
		q.count--;
	}
	pthread_cond_signal(&q.not_full);
	pthread_mutex_unlock(&q.lock);
	return n;
}

static void producer_done(void)
{
	pthread_mutex_lock(&q.lock);
	q.producers_left--;
	pthread_cond_broadcast(&q.not_empty);
	pthread_mutex_unlock(&q.lock);
}

struct worker {
	int id;
	size_t limit;		/* producers: objects to make; 0: until *stop */
	const size_t *sizes;	/* producers: sizes to pick from; NULL: 16..1024 */
	size_t nsizes;
	volatile int *stop;
	size_t bytes;		/* producers: bytes allocated */
	size_t objects;
	long errors;		/* consumers: damaged objects; producers: failed mallocs */
};

static void *producer(void *arg)
{
	struct worker *w = arg;
	uint64_t rng = 0xabcdef00ull + (uint64_t)w->id;
	void *batch[BATCH];
	size_t i, n = 0;

	for (i = 0; w->limit ? i < w->limit : !__atomic_load_n(w->stop, __ATOMIC_RELAXED); i++) {
		uint64_t r = tap_rng_next(&rng);
		size_t size = w->sizes ? w->sizes[r % w->nsizes] : 16 + r % (1024 - 16 + 1);
		unsigned char *p = malloc(size);

		if (p == NULL) {
			w->errors++;
			continue;
		}
		stamp(p, size, ((uint64_t)w->id << 40) | i);
		w->bytes += size;
		__atomic_store_n(&w->objects, w->objects + 1, __ATOMIC_RELAXED);
		batch[n++] = p;
		if (n == BATCH) {
			ring_put(batch, n);
			n = 0;
		}
	}
	if (n > 0)
		ring_put(batch, n);
	producer_done();
	return NULL;
}

static void *consumer(void *arg)
{
	struct worker *w = arg;
	void *batch[BATCH];
	size_t n, i;

	while ((n = ring_get(batch, BATCH)) > 0)
		for (i = 0; i < n; i++) {
			if (!stamp_ok(batch[i]))
				w->errors++;
			free(batch[i]);
			w->objects++;
		}
	return NULL;
}

TEST(objects_passed_from_allocating_to_freeing_threads_keep_the_peak_rss_bounded)
{
	struct worker prod[PRODUCERS] = { { 0 } }, cons[CONSUMERS] = { { 0 } };
	pthread_t pt[PRODUCERS], ct[CONSUMERS];
	size_t hwm0, hwm, bytes = 0, made = 0, freed = 0;
	long errors = 0;
	struct timespec t0;
	int i, reset;

	alarm(TEST_ALARM);
	reset = reset_peak_rss();
	hwm0 = reset ? status_bytes("VmRSS") : status_bytes("VmHWM");
	CHECK(hwm0 > 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < CONSUMERS; i++) {
		cons[i].id = i;
		CHECK(pthread_create(&ct[i], NULL, consumer, &cons[i]) == 0);
	}
	for (i = 0; i < PRODUCERS; i++) {
		prod[i].id = i;
		prod[i].limit = OBJECTS_PER_PRODUCER;
		CHECK(pthread_create(&pt[i], NULL, producer, &prod[i]) == 0);
	}
	for (i = 0; i < PRODUCERS; i++) {
		CHECK(pthread_join(pt[i], NULL) == 0);
		bytes += prod[i].bytes;
		made += prod[i].objects;
		errors += prod[i].errors;
	}
	for (i = 0; i < CONSUMERS; i++) {
		CHECK(pthread_join(ct[i], NULL) == 0);
		freed += cons[i].objects;
		errors += cons[i].errors;
	}
	hwm = status_bytes("VmHWM");
	tap_diag("%zu objects, %.2f GiB passed in %.2f s; VmHWM %.1f MiB at the start%s, "
		 "%.1f MiB at the end: +%.1f MiB",
		 made, (double)bytes / GiB, elapsed_s(&t0), (double)hwm0 / MiB,
		 reset ? " (peak reset)" : "", (double)hwm / MiB, (double)(hwm - hwm0) / MiB);
	CHECKF(errors == 0, "%ld damaged objects or failed mallocs", errors);
	CHECK(made == (size_t)PRODUCERS * OBJECTS_PER_PRODUCER && freed == made);
	CHECK(bytes > GiB);
	CHECKF(hwm - hwm0 < 64 * MiB, "peak RSS grew by %.1f MiB", (double)(hwm - hwm0) / MiB);
}

/* ---- (b) thread churn ------------------------------------------------------ */

#define CHURN_THREADS 20000
#define CHURN_BATCH 8
#define CHURN_OBJECTS 100
#define CHURN_KEPT 10		/* of each thread's objects, freed by the main thread */

struct churner {
	uint64_t seed;
	void *kept[CHURN_KEPT];
	long errors;
};

static void *churn(void *arg)
{
	struct churner *c = arg;
	unsigned char *p[CHURN_OBJECTS];
	size_t size[CHURN_OBJECTS];
	uint64_t rng = c->seed;
	int i;

	for (i = 0; i < CHURN_OBJECTS; i++) {
		size[i] = 16 + tap_rng_next(&rng) % 1009;
		p[i] = malloc(size[i]);
		if (p[i] == NULL) {
			c->errors++;
			return NULL;
		}
		stamp(p[i], size[i], c->seed + (uint64_t)i);
	}
	for (i = 0; i < CHURN_OBJECTS; i++) {
		if (!stamp_ok(p[i]))
			c->errors++;
		if (i < CHURN_KEPT)
			c->kept[i] = p[i];
		else
			free(p[i]);
	}
	return NULL;
}

TEST(thousands_of_short_lived_threads_leave_the_rss_bounded)
{
	static struct churner ch[CHURN_BATCH];
	pthread_t th[CHURN_BATCH];
	size_t rss_early = 0, rss, hwm;
	long errors = 0;
	struct timespec t0;
	int done, i, k;

	alarm(TEST_ALARM);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (done = 0; done < CHURN_THREADS; done += CHURN_BATCH) {
		for (i = 0; i < CHURN_BATCH; i++) {
			memset(&ch[i], 0, sizeof(ch[i]));
			ch[i].seed = tap_mix64((uint64_t)(done + i));
			CHECK(pthread_create(&th[i], NULL, churn, &ch[i]) == 0);
		}
		for (i = 0; i < CHURN_BATCH; i++) {
			CHECK(pthread_join(th[i], NULL) == 0);
			errors += ch[i].errors;
			for (k = 0; k < CHURN_KEPT; k++) {
				if (ch[i].kept[k] != NULL && !stamp_ok(ch[i].kept[k]))
					errors++;
				free(ch[i].kept[k]);
			}
		}
		if (done + CHURN_BATCH == 104)	/* 13 batches: just past 100 threads */
			rss_early = status_bytes("VmRSS");
	}
	rss = status_bytes("VmRSS");
	hwm = status_bytes("VmHWM");
	tap_diag("%d threads in %.2f s; VmRSS %.1f MiB after 104 threads, %.1f MiB after all: "
		 "%+.1f MiB; VmHWM %.1f MiB",
		 CHURN_THREADS, elapsed_s(&t0), (double)rss_early / MiB, (double)rss / MiB,
		 ((double)rss - (double)rss_early) / MiB, (double)hwm / MiB);
	CHECKF(errors == 0, "%ld damaged objects or failed mallocs", errors);
	CHECK(rss_early > 0);
	CHECKF(rss < rss_early + 32 * MiB, "RSS grew by %.1f MiB",
	       ((double)rss - (double)rss_early) / MiB);
}

/* ---- (c) fork while threads allocate --------------------------------------- */

/*
 * Two producers and two consumers as in (a), without end, on the size
 * classes the children use, the 16 KiB class (8-round magazines) among
 * them: depot exchanges go on all the time, so forks land while depot
 * locks are held and the children must find them usable.
 */
#define FORKS 200
#define INHERITED 300
#define CHILD_ALARM 10

static const size_t fork_sizes[] = { 16, 48, 128, 320, 1024, 4000, 16384 };
#define NR_FORK_SIZES (sizeof(fork_sizes) / sizeof(fork_sizes[0]))

/* In the child: the parent's objects from before the fork read back
 * intact, half of them are freed into the child's magazines, and 2000
 * objects of the same classes as the threads' are allocated, checked and
 * freed, twice, while the other half must stay intact. */
static int child_body(unsigned char **inherited, int iteration)
{
	enum { N = 2000 };
	unsigned char *p[N];
	int i, round;

	for (i = 0; i < INHERITED; i++)
		if (!stamp_ok(inherited[i]))
			return 3;
	for (i = 0; i < INHERITED; i += 2)
		free(inherited[i]);
	for (round = 0; round < 2; round++) {
		for (i = 0; i < N; i++) {
			size_t size = fork_sizes[(size_t)(i + iteration) % NR_FORK_SIZES];

			p[i] = malloc(size);
			if (p[i] == NULL)
				return 2;
			stamp(p[i], size, ((uint64_t)iteration << 32) | (uint64_t)(round * N + i));
		}
		for (i = 0; i < N; i++)
			if (!stamp_ok(p[i]))
				return 4;
		for (i = 1; i < INHERITED; i += 2)
			if (!stamp_ok(inherited[i]))
				return 5;
		for (i = 0; i < N; i++)
			free(p[i]);
	}
	return 0;
}

TEST(children_forked_while_threads_allocate_use_their_magazines_and_exit)
{
	struct worker prod[PRODUCERS] = { { 0 } }, cons[CONSUMERS] = { { 0 } };
	pthread_t pt[PRODUCERS], ct[CONSUMERS];
	unsigned char *inherited[INHERITED];
	volatile int stop = 0;
	struct timespec t0;
	long errors = 0;
	size_t made = 0, freed = 0;
	int i, ok = 0, status;

	alarm(TEST_ALARM);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < INHERITED; i++) {
		size_t size = 16 + (size_t)tap_mix64((uint64_t)i) % 1009;

		inherited[i] = malloc(size);
		CHECK(inherited[i] != NULL);
		stamp(inherited[i], size, 0x7700000000ull + (uint64_t)i);
	}
	for (i = 0; i < CONSUMERS; i++) {
		cons[i].id = i;
		CHECK(pthread_create(&ct[i], NULL, consumer, &cons[i]) == 0);
	}
	for (i = 0; i < PRODUCERS; i++) {
		prod[i] = (struct worker){ .id = i, .sizes = fork_sizes, .nsizes = NR_FORK_SIZES,
					   .stop = &stop };
		CHECK(pthread_create(&pt[i], NULL, producer, &prod[i]) == 0);
	}
	for (i = 0; i < PRODUCERS; i++)
		while (__atomic_load_n(&prod[i].objects, __ATOMIC_RELAXED) < 10000)
			sched_yield();
	for (i = 0; i < FORKS; i++) {
		pid_t pid = fork();

		CHECK(pid >= 0);
		if (pid == 0) {
			alarm(CHILD_ALARM);
			_exit(child_body(inherited, i));
		}
		while (waitpid(pid, &status, 0) < 0)
			CHECK(errno == EINTR);
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			if (WIFSIGNALED(status))
				tap_diag("child %d killed by signal %d%s", i, WTERMSIG(status),
					 WTERMSIG(status) == SIGALRM ? " (deadlocked?)" : "");
			else
				tap_diag("child %d exited with %d", i, WEXITSTATUS(status));
			break;
		}
		ok++;
	}
	stop = 1;
	for (i = 0; i < PRODUCERS; i++) {
		CHECK(pthread_join(pt[i], NULL) == 0);
		made += prod[i].objects;
		errors += prod[i].errors;
	}
	for (i = 0; i < CONSUMERS; i++) {
		CHECK(pthread_join(ct[i], NULL) == 0);
		freed += cons[i].objects;
		errors += cons[i].errors;
	}
	for (i = 0; i < INHERITED; i++) {
		CHECK(stamp_ok(inherited[i]));
		free(inherited[i]);
	}
	tap_diag("%d of %d children exited 0 in %.2f s; the threads passed %zu objects",
		 ok, FORKS, elapsed_s(&t0), made);
	CHECK(ok == FORKS);
	CHECK(freed == made);
	CHECKF(errors == 0, "%ld damaged objects or failed mallocs in the parent's threads", errors);
}

int main(int argc, char **argv)
{
	return tap_main(argc, argv,
			TESTS(objects_passed_from_allocating_to_freeing_threads_keep_the_peak_rss_bounded,
			      thousands_of_short_lived_threads_leave_the_rss_bounded,
			      children_forked_while_threads_allocate_use_their_magazines_and_exit));
}
