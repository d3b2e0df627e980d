/*
 * tests/system/fork.c - sbmalloc across fork(): a child forked while other threads
 * of its parent are inside malloc or free must be able to allocate (no lock
 * left held, no state left half-updated), in its own thread too, and to exec;
 * the parent's threads must go on undisturbed.
 *
 * A child that deadlocks is killed by the alarm(10) it sets first, and that
 * shows as a failure, not as a hung test.
 */
#include "../tap.h"

#include <pthread.h>
#include <stdint.h>
#include <time.h>

#include <sbmalloc.h>

#define CHILD_ALARM 10
/* A test that deadlocks in the parent dies of SIGALRM after this long. */
#define TEST_ALARM 60

/* A byte pattern of `seed` over the whole block. */
static void fill(unsigned char *p, size_t size, uint64_t seed)
{
	size_t i;
	for (i = 0; i < size; i++)
		p[i] = (unsigned char)(seed + i * 131);
}

static int intact(const unsigned char *p, size_t size, uint64_t seed)
{
	size_t i;
	for (i = 0; i < size; i++)
		if (p[i] != (unsigned char)(seed + i * 131))
			return 0;
	return 1;
}

/* The pattern on the first 64 bytes of every 4 KiB of a large block. */
static void fill_pages(unsigned char *p, size_t size, uint64_t seed)
{
	size_t off;
	for (off = 0; off + 64 <= size; off += 4096)
		fill(p + off, 64, seed + off);
}

static int intact_pages(const unsigned char *p, size_t size, uint64_t seed)
{
	size_t off;
	for (off = 0; off + 64 <= size; off += 4096)
		if (!intact(p + off, 64, seed + off))
			return 0;
	return 1;
}

/* ---- threads that allocate and free while the main thread forks ---------- */

#define CHURN_THREADS 4
#define CHURN_SLOTS 256

struct churn {
	pthread_t th;
	int id;
	volatile int stop;
	long errors;
	long ops;
};

static void *churn_thread(void *varg)
{
	struct churn *c = varg;
	unsigned char *p[CHURN_SLOTS] = { 0 };
	size_t size[CHURN_SLOTS] = { 0 };
	uint64_t seed[CHURN_SLOTS] = { 0 };
	uint64_t rng = 0x4242ull + (uint64_t)c->id;
	int i;

	while (!__atomic_load_n(&c->stop, __ATOMIC_RELAXED)) {
		uint64_t r = tap_rng_next(&rng);
		i = (int)(r % CHURN_SLOTS);
		r >>= 8;
		if (p[i]) {
			if (!intact(p[i], size[i], seed[i]))
				c->errors++;
			free(p[i]);
			p[i] = NULL;
		} else {
			/* Mostly small, one in 64 of 64 KiB to 1 MiB. */
			size[i] = (r % 64 == 0) ? 65536 + (r >> 6) % (1024 * 1024 - 65536)
						: 1 + (r >> 6) % 2048;
			p[i] = malloc(size[i]);
			if (!p[i]) {
				c->errors++;
				continue;
			}
			seed[i] = r;
			/* Large blocks are filled and checked in their first 4 KiB
			 * only, to keep the pace up. */
			if (size[i] > 4096)
				size[i] = 4096;
			fill(p[i], size[i], seed[i]);
		}
		__atomic_store_n(&c->ops, c->ops + 1, __ATOMIC_RELAXED);
	}
	for (i = 0; i < CHURN_SLOTS; i++) {
		if (p[i] && !intact(p[i], size[i], seed[i]))
			c->errors++;
		free(p[i]);
	}
	return NULL;
}

static struct churn churners[CHURN_THREADS];

static void start_churn(void)
{
	int i;
	for (i = 0; i < CHURN_THREADS; i++) {
		churners[i] = (struct churn){ .id = i };
		CHECK(pthread_create(&churners[i].th, NULL, churn_thread, &churners[i]) == 0);
	}
	/* Let them get going before the first fork. */
	while (__atomic_load_n(&churners[CHURN_THREADS - 1].ops, __ATOMIC_RELAXED) < 1000)
		sched_yield();
}

/* Stops the threads; returns the number of damaged blocks they found. */
static long stop_churn(void)
{
	long errors = 0;
	int i;
	for (i = 0; i < CHURN_THREADS; i++)
		__atomic_store_n(&churners[i].stop, 1, __ATOMIC_RELAXED);
	for (i = 0; i < CHURN_THREADS; i++) {
		CHECK(pthread_join(churners[i].th, NULL) == 0);
		errors += churners[i].errors;
	}
	return errors;
}

/* ---- what children do ----------------------------------------------------- */

/* Small and large blocks, filled, checked and freed; 0 if all went well. */
static int child_allocates(uint64_t seed)
{
	unsigned char *small[100], *large, *huge;
	int i;

	for (i = 0; i < 100; i++) {
		size_t size = 1 + (size_t)(tap_mix64(seed + i) % 512);
		small[i] = malloc(size);
		if (!small[i])
			return 2;
		fill(small[i], size, seed + i);
	}
	large = malloc(256 * 1024);
	huge = malloc(4 * 1024 * 1024);
	if (!large || !huge)
		return 2;
	fill(large, 256 * 1024, seed);
	fill_pages(huge, 4 * 1024 * 1024, seed + 1);
	large = realloc(large, 600 * 1024);
	if (!large || !intact(large, 256 * 1024, seed))
		return 3;
	for (i = 0; i < 100; i++) {
		size_t size = 1 + (size_t)(tap_mix64(seed + i) % 512);
		if (!intact(small[i], size, seed + i))
			return 3;
		free(small[i]);
	}
	if (!intact_pages(huge, 4 * 1024 * 1024, seed + 1))
		return 3;
	free(huge);
	free(large);
	return 0;
}

static int wait_child(pid_t pid, int iteration)
{
	int status;

	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR) {
			tap_diag("waitpid: %s", strerror(errno));
			return 0;
		}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 1;
	if (WIFSIGNALED(status))
		tap_diag("child %d killed by signal %d%s", iteration, WTERMSIG(status),
			 WTERMSIG(status) == SIGALRM ? " (deadlocked: alarm after 10 s)" : "");
	else
		tap_diag("child %d exited with %d", iteration, WEXITSTATUS(status));
	return 0;
}

/* Fork `n` children one after another, each running `body`; returns how
 * many exited 0 (stops at the first that does not). */
static int fork_children(int n, int (*body)(int))
{
	int i;

	for (i = 0; i < n; i++) {
		pid_t pid = fork();
		CHECK(pid >= 0);
		if (pid == 0) {
			alarm(CHILD_ALARM);
			_exit(body(i));
		}
		if (!wait_child(pid, i))
			break;
	}
	return i;
}

static int body_allocate(int i)
{
	return child_allocates(0x1000u + (uint64_t)i);
}

TEST(children_forked_while_threads_allocate_can_allocate_and_exit)
{
	alarm(TEST_ALARM);
	int ok;

	start_churn();
	ok = fork_children(200, body_allocate);
	stop_churn();
	CHECKF(ok == 200, "%d of 200 children exited 0", ok);
}

static int body_nothing(int i)
{
	return 0;
}

TEST(parent_threads_blocks_stay_intact_while_the_main_thread_forks)
{
	alarm(TEST_ALARM);
	long errors, ops = 0;
	int i;

	start_churn();
	CHECK(fork_children(200, body_nothing) == 200);
	errors = stop_churn();
	for (i = 0; i < CHURN_THREADS; i++)
		ops += churners[i].ops;
	tap_diag("%ld allocations and frees in the threads", ops);
	CHECK(errors == 0);
	CHECK(ops > 10000);
}

static void *child_thread(void *arg)
{
	return (void *)(intptr_t)child_allocates((uint64_t)(uintptr_t)arg);
}

static int body_thread(int i)
{
	pthread_t th;
	void *ret;

	if (pthread_create(&th, NULL, child_thread, (void *)(uintptr_t)(i + 7)) != 0)
		return 4;
	if (pthread_join(th, &ret) != 0)
		return 4;
	if (ret != NULL)
		return (int)(intptr_t)ret;
	/* And the child's main thread, after its new thread is gone. */
	return child_allocates((uint64_t)i);
}

TEST(a_child_can_allocate_in_a_new_thread)
{
	alarm(TEST_ALARM);
	int ok;

	start_churn();
	ok = fork_children(50, body_thread);
	stop_churn();
	CHECKF(ok == 50, "%d of 50 children exited 0", ok);
}

static int body_exec(int i)
{
	int r = child_allocates((uint64_t)i * 3);
	if (r != 0)
		return r;
	execl("/bin/true", "true", (char *)NULL);
	return 5;
}

TEST(a_child_can_exec_after_allocating)
{
	alarm(TEST_ALARM);
	int ok;

	start_churn();
	ok = fork_children(50, body_exec);
	stop_churn();
	CHECKF(ok == 50, "%d of 50 children exited 0", ok);
}

struct forker {
	int ok;
};

static void *forking_thread(void *arg)
{
	struct forker *f = arg;
	f->ok = fork_children(50, body_allocate);
	return NULL;
}

TEST(children_forked_from_a_secondary_thread_can_allocate)
{
	alarm(TEST_ALARM);
	pthread_t th;
	struct forker f = { 0 };

	start_churn();
	CHECK(pthread_create(&th, NULL, forking_thread, &f) == 0);
	CHECK(pthread_join(th, NULL) == 0);
	stop_churn();
	CHECKF(f.ok == 50, "%d of 50 children exited 0", f.ok);
}

/* ---- blocks that exist across the fork ------------------------------------ */

#define INHERITED 1000

static unsigned char *inherited[INHERITED];

static size_t inherited_size(int i)
{
	return i % 100 == 0 ? 100000 + (size_t)i * 1000 : 1 + (size_t)(tap_mix64((uint64_t)i) % 3000);
}

static int body_inherited(int n)
{
	int i;

	/* Check every block of the parent, resize half, free all, reallocate. */
	for (i = 0; i < INHERITED; i++)
		if (!intact(inherited[i], inherited_size(i), (uint64_t)i))
			return 6;
	for (i = 0; i < INHERITED; i += 2) {
		unsigned char *q = realloc(inherited[i], inherited_size(i) * 2);
		if (!q || !intact(q, inherited_size(i), (uint64_t)i))
			return 7;
		memset(q, 0x5A, inherited_size(i) * 2);
		inherited[i] = q;
	}
	for (i = 0; i < INHERITED; i++)
		free(inherited[i]);
	for (i = 0; i < INHERITED; i++) {
		inherited[i] = malloc(inherited_size(i));
		if (!inherited[i])
			return 2;
		memset(inherited[i], 0xA5, inherited_size(i));
	}
	return child_allocates((uint64_t)n);
}

TEST(a_child_can_check_resize_and_free_blocks_allocated_before_fork)
{
	alarm(TEST_ALARM);
	int i;

	for (i = 0; i < INHERITED; i++) {
		inherited[i] = malloc(inherited_size(i));
		CHECK(inherited[i] != NULL);
		fill(inherited[i], inherited_size(i), (uint64_t)i);
	}
	start_churn();
	CHECK(fork_children(20, body_inherited) == 20);
	stop_churn();
}

TEST(what_a_child_does_to_the_heap_leaves_the_parent_blocks_unchanged)
{
	alarm(TEST_ALARM);
	int i;

	for (i = 0; i < INHERITED; i++) {
		inherited[i] = malloc(inherited_size(i));
		CHECK(inherited[i] != NULL);
		fill(inherited[i], inherited_size(i), (uint64_t)i);
	}
	CHECK(fork_children(20, body_inherited) == 20);
	for (i = 0; i < INHERITED; i++)
		CHECKF(intact(inherited[i], inherited_size(i), (uint64_t)i),
		       "block %d of %zu bytes changed", i, inherited_size(i));
	for (i = 0; i < INHERITED; i++)
		free(inherited[i]);
}

TEST(children_allocate_from_sbmalloc)
{
	alarm(TEST_ALARM);
	int on_stack = 0;

	/* The test binary is linked against libsbmalloc; so are its children. */
	CHECK(!sb_owns(&on_stack));
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		void *small, *large;
		alarm(CHILD_ALARM);
		small = malloc(100);
		large = malloc(8 * 1024 * 1024);
		_exit(small && large && sb_owns(small) && sb_owns(large) ? 0 : 1);
	}
	CHECK(wait_child(pid, 0));
}

int main(int argc, char **argv)
{
	return tap_main(argc, argv,
			TESTS(children_allocate_from_sbmalloc,
			      children_forked_while_threads_allocate_can_allocate_and_exit,
			      parent_threads_blocks_stay_intact_while_the_main_thread_forks,
			      a_child_can_allocate_in_a_new_thread,
			      a_child_can_exec_after_allocating,
			      children_forked_from_a_secondary_thread_can_allocate,
			      a_child_can_check_resize_and_free_blocks_allocated_before_fork,
			      what_a_child_does_to_the_heap_leaves_the_parent_blocks_unchanged));
}
