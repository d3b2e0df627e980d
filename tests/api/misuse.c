/*
 * tests/api/misuse.c - every kind of heap misuse is caught by default.
 *
 * The specification of what sbmalloc does, with no option set, when a
 * program frees memory it does not own: a pointer freed twice, or one it
 * was never handed.  Each misuse stops the program at the bad call itself,
 * before it returns, with exactly one line on stderr,
 *     sbmalloc: <func>(): double free <ptr>
 *     sbmalloc: <func>(): invalid pointer <ptr>
 * (<func> the public function called, <ptr> as printf's %p prints it) and
 * abort().  That holds for every size (small objects, page blocks kept by
 * the thread or by the buddy allocator, huge blocks), however many other
 * frees come between the two frees of an object, whichever threads make
 * them, in a forked child as in its parent, and with SBMALLOC_STATS set
 * as without.  And a program that makes no mistake never stops, whatever
 * its objects hold: the free key sbmalloc leaves in freed memory is a hint
 * checked against the truth, so live data equal to it is no double free.
 *
 * Each misuse runs in a forked child (tap_expect_abort), its stderr
 * captured; the bad call is followed by a marker written to stderr, which
 * must not appear.  The memory involved is allocated before the fork, so
 * the test knows the address the message must name; threads are made in
 * the child.  A program that must run to its end runs in a child too, and
 * must exit 0 having written nothing to stderr but its final marker.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sbmalloc.h>

#include "../tap.h"

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)
#define PAGE ((size_t)4096)
#define MANY 10000
#define MARKER "call returned"
#define DONE "program finished"

static char static_buffer[256];			/* .bss */
static char data_buffer[256] = "initialised";	/* .data */
static const char rodata_buffer[256] = "read-only";

static void *volatile sink;

static void write_marker(void)
{
	(void)!write(2, MARKER "\n", sizeof MARKER);
}

static void write_done(void)
{
	(void)!write(2, DONE "\n", sizeof DONE);
}

static void *xmalloc(size_t size)
{
	void *p = malloc(size);

	CHECKF(p != NULL, "malloc(%zu) failed", size);
	memset(p, 0x5a, size < 256 ? size : 256);
	return p;
}

/* ---- Checking the output ------------------------------------------------ */

/* 1 if text has a line that is exactly `line`. */
static int has_line(const char *text, const char *line)
{
	size_t len = strlen(line);
	const char *at;

	for (at = strstr(text, line); at; at = strstr(at + 1, line))
		if ((at == text || at[-1] == '\n') && (at[len] == '\n' || at[len] == '\0'))
			return 1;
	return 0;
}

/*
 * Run fn(arg) in a child; check that it aborts with the line
 * "sbmalloc: <func>(): <what> <ptr>" (or, when what2 is not NULL, the same
 * line with what2) and never gets past the bad call.
 */
static void expect_abort_message(void (*fn)(void *), void *arg, const char *func,
				 const char *what, const char *what2, const void *ptr)
{
	char out[4096], line[256], line2[256];
	int ok;

	snprintf(line, sizeof line, "sbmalloc: %s(): %s %p", func, what, ptr);
	snprintf(line2, sizeof line2, "sbmalloc: %s(): %s %p", func, what2 ? what2 : what, ptr);
	CHECKF(tap_expect_abort(fn, arg, NULL, out, sizeof out), "expected \"%s\"", line);
	ok = has_line(out, line) || has_line(out, line2);
	if (!ok)
		tap_diag("expected \"%s\"%s%s%s; stderr: %s", line, what2 ? " or \"" : "",
			 what2 ? line2 : "", what2 ? "\"" : "", out);
	CHECK(ok);
	CHECKF(strstr(out, MARKER) == NULL, "the bad call returned before aborting: %s", out);
	CHECKF(strchr(out, '\n') == out + strlen(out) - 1,
	       "more on stderr than the one line: %s", out);
}

/*
 * Run fn(arg) in a child that must run to its end: exit status 0 and
 * nothing on stderr but the DONE line fn writes last.
 */
static void expect_clean_run(void (*fn)(void *), void *arg)
{
	char out[4096];
	size_t got = 0;
	ssize_t n;
	int fds[2], status;
	pid_t pid;

	CHECK(pipe(fds) == 0);
	fflush(stdout);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		close(fds[0]);
		dup2(fds[1], 2);
		fn(arg);
		_exit(0);
	}
	close(fds[1]);
	while (got < sizeof out - 1 &&
	       ((n = read(fds[0], out + got, sizeof out - 1 - got)) > 0 || (n < 0 && errno == EINTR)))
		got += n > 0 ? (size_t)n : 0;
	out[got] = '\0';
	close(fds[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	CHECKF(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	       "the program did not exit 0: status 0x%x (%s %d); stderr: %s", status,
	       WIFSIGNALED(status) ? "signal" : "exit",
	       WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status), out);
	CHECKF(strcmp(out, DONE "\n") == 0, "the program wrote to stderr: %s", out);
}

/* ---- A misuse: a valid free, other frees, the bad call ----------------- */

enum where {
	HERE,			/* the child's main thread */
	IN_THREAD,		/* another thread, still running at the bad call */
	IN_EXITED_THREAD,	/* another thread, gone before the bad call */
};

struct misuse {
	void *p;			/* the pointer of the bad call */
	size_t size, align;		/* for free_sized, free_aligned_sized */
	size_t new_size;		/* for realloc */
	sb_cache_t *cache;		/* for sb_cache_free */
	void (*first)(struct misuse *);	/* the valid free of p (NULL: none) */
	enum where first_where;
	void **between;			/* freed after the first free, before the bad call */
	size_t nbetween;
	sb_cache_t *between_cache;	/* between objects go back by sb_cache_free */
	void (*bad)(struct misuse *);	/* the bad call */
	enum where bad_where;
	int trim;			/* malloc_trim(0) before the bad call */
	int fork;			/* the bad call in a child forked just before */
	int sync[2];
};

static void call_free(struct misuse *m)
{
	free(m->p);
}

static void call_free_sized(struct misuse *m)
{
	free_sized(m->p, m->size);
}

static void call_free_aligned_sized(struct misuse *m)
{
	free_aligned_sized(m->p, m->align, m->size);
}

static void call_realloc(struct misuse *m)
{
	sink = realloc(m->p, m->new_size);
}

static void call_sb_cache_free(struct misuse *m)
{
	sb_cache_free(m->cache, m->p);
}

static void child_fails(const char *what)
{
	(void)!write(2, what, strlen(what));
	(void)!write(2, "\n", 1);
	_exit(3);
}

static void *first_in_thread(void *arg)
{
	struct misuse *m = arg;
	char c = 1;

	m->first(m);
	(void)!write(m->sync[1], &c, 1);
	if (m->first_where == IN_THREAD)
		for (;;)
			pause();
	return NULL;
}

static void *bad_in_thread(void *arg)
{
	struct misuse *m = arg;

	m->bad(m);
	write_marker();
	return NULL;
}

/* The child: the valid free, the frees between, the bad call, the marker. */
static void run_misuse(void *arg)
{
	struct misuse *m = arg;
	pthread_t t;
	size_t i;
	char c;

	if (m->first != NULL && m->first_where == HERE) {
		m->first(m);
	} else if (m->first != NULL) {
		if (pipe(m->sync) != 0 || pthread_create(&t, NULL, first_in_thread, m) != 0)
			child_fails("no thread for the first free");
		if (read(m->sync[0], &c, 1) != 1)
			child_fails("the first free's thread did not answer");
		if (m->first_where == IN_EXITED_THREAD && pthread_join(t, NULL) != 0)
			child_fails("pthread_join failed");
	}
	for (i = 0; i < m->nbetween; i++) {
		if (m->between_cache != NULL)
			sb_cache_free(m->between_cache, m->between[i]);
		else
			free(m->between[i]);
	}
	if (m->trim)
		malloc_trim(0);
	if (m->fork) {
		int status;
		pid_t pid;

		pid = fork();
		if (pid < 0)
			child_fails("fork failed");
		if (pid == 0) {
			m->bad(m);
			write_marker();
			_exit(0);
		}
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
		if (WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT) {
			signal(SIGABRT, SIG_DFL);
			abort();	/* as the child did */
		}
		_exit(WIFEXITED(status) ? WEXITSTATUS(status) : 4);
	}
	if (m->bad_where == HERE) {
		m->bad(m);
		write_marker();
		return;
	}
	if (pthread_create(&t, NULL, bad_in_thread, m) != 0)
		child_fails("no thread for the bad call");
	pthread_join(t, NULL);
	write_marker();
}

static void expect_misuse(struct misuse *m, const char *func, const char *what)
{
	expect_abort_message(run_misuse, m, func, what, NULL, m->p);
}

/* The same, where either kind names the misuse truly. */
static void expect_misuse_either(struct misuse *m, const char *func)
{
	expect_abort_message(run_misuse, m, func, "double free", "invalid pointer", m->p);
}

/* A misuse of p: freed by free() here, then freed again by free() here. */
static struct misuse twice(void *p, size_t size)
{
	struct misuse m;

	memset(&m, 0, sizeof m);
	m.p = p;
	m.size = size;
	m.first = call_free;
	m.bad = call_free;
	return m;
}

/* ---- The objects freed between ------------------------------------------ */

static void **alloc_same(size_t size, size_t n)
{
	void **v = xmalloc(n * sizeof *v);
	size_t i;

	for (i = 0; i < n; i++)
		v[i] = xmalloc(size);
	return v;
}

/* n objects of the sizes in `sizes` that have another usable size than usable. */
static void **alloc_others(size_t usable, const size_t *sizes, size_t nsizes, size_t n)
{
	size_t keep[32], nkeep = 0, i;
	void **v;

	CHECK(nsizes <= 32);
	for (i = 0; i < nsizes; i++) {
		void *probe = xmalloc(sizes[i]);

		if (malloc_usable_size(probe) != usable)
			keep[nkeep++] = sizes[i];
		free(probe);
	}
	CHECK(nkeep > 1);
	v = xmalloc(n * sizeof *v);
	for (i = 0; i < n; i++)
		v[i] = xmalloc(keep[i % nkeep]);
	return v;
}

static const size_t small_sizes[] = {
	16, 32, 48, 64, 96, 128, 256, 512, 1000, 2048, 4096, 8192, 16384,
};
static const size_t mixed_sizes[] = {
	16, 48, 1000, 16384, 20 * KiB, 64 * KiB, 200 * KiB, 1 * MiB,
};
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* ---- The scenarios ------------------------------------------------------- */

static void double_free_right_away(size_t size)
{
	struct misuse m = twice(xmalloc(size), size);

	expect_misuse(&m, "free", "double free");
}

static void double_free_after_frees_of_its_size(size_t size, size_t n)
{
	struct misuse m = twice(xmalloc(size), size);

	m.between = alloc_same(size, n);
	m.nbetween = n;
	expect_misuse(&m, "free", "double free");
}

static void double_free_after_frees_of_other_sizes(size_t size, const size_t *sizes,
						   size_t nsizes, size_t n)
{
	struct misuse m = twice(xmalloc(size), size);

	m.between = alloc_others(malloc_usable_size(m.p), sizes, nsizes, n);
	m.nbetween = n;
	expect_misuse(&m, "free", "double free");
}

/* Freed first by another thread (running or exited), then by this one. */
static void double_free_first_by_thread(size_t size, enum where first_where, size_t n)
{
	struct misuse m = twice(xmalloc(size), size);

	m.first_where = first_where;
	if (n != 0) {
		m.between = alloc_same(size, n);
		m.nbetween = n;
	}
	expect_misuse(&m, "free", "double free");
}

/* Freed first by this thread, then by another one. */
static void double_free_in_thread(size_t size)
{
	struct misuse m = twice(xmalloc(size), size);

	m.bad_where = IN_THREAD;
	expect_misuse(&m, "free", "double free");
}

/* ---- 1. Small objects -------------------------------------------------- */

#define SMALL_DOUBLE_FREES(n)							\
TEST(double_free_of_##n##_byte_object_right_away_aborts)			\
{										\
	double_free_right_away(n);						\
}										\
TEST(double_free_of_##n##_byte_object_after_10000_frees_of_its_size_aborts)	\
{										\
	double_free_after_frees_of_its_size(n, MANY);				\
}										\
TEST(double_free_of_##n##_byte_object_after_10000_frees_of_other_sizes_aborts)	\
{										\
	double_free_after_frees_of_other_sizes(n, small_sizes, NELEM(small_sizes), MANY); \
}										\
TEST(double_free_of_##n##_byte_object_first_freed_by_a_running_thread_aborts)	\
{										\
	double_free_first_by_thread(n, IN_THREAD, 0);				\
}										\
TEST(double_free_of_##n##_byte_object_first_freed_by_an_exited_thread_aborts)	\
{										\
	double_free_first_by_thread(n, IN_EXITED_THREAD, 0);			\
}										\
TEST(double_free_of_##n##_byte_object_in_another_thread_aborts)		\
{										\
	double_free_in_thread(n);						\
}

SMALL_DOUBLE_FREES(16)
SMALL_DOUBLE_FREES(48)
SMALL_DOUBLE_FREES(1000)
SMALL_DOUBLE_FREES(16384)

#define SMALL_DOUBLE_FREE_CASES(n)						\
	TAP_CASE(double_free_of_##n##_byte_object_right_away_aborts)		\
	TAP_CASE(double_free_of_##n##_byte_object_after_10000_frees_of_its_size_aborts) \
	TAP_CASE(double_free_of_##n##_byte_object_after_10000_frees_of_other_sizes_aborts) \
	TAP_CASE(double_free_of_##n##_byte_object_first_freed_by_a_running_thread_aborts) \
	TAP_CASE(double_free_of_##n##_byte_object_first_freed_by_an_exited_thread_aborts) \
	TAP_CASE(double_free_of_##n##_byte_object_in_another_thread_aborts)

TEST(double_free_of_48_byte_object_first_freed_by_a_running_thread_then_10000_frees_aborts)
{
	double_free_first_by_thread(48, IN_THREAD, MANY);
}

TEST(double_free_of_48_byte_object_first_freed_by_an_exited_thread_then_10000_frees_aborts)
{
	double_free_first_by_thread(48, IN_EXITED_THREAD, MANY);
}

/*
 * After malloc_trim the freed object's slab may have gone back to the page
 * allocator: the pointer is then inside free pages, where a double free and
 * a pointer never handed out look alike.  Either kind, but it must stop.
 */
static void double_free_after_trim(size_t size)
{
	struct misuse m = twice(xmalloc(size), size);

	m.between = alloc_same(size, 100);
	m.nbetween = 100;
	m.trim = 1;
	expect_misuse_either(&m, "free");
}

TEST(double_free_of_48_byte_object_after_malloc_trim_aborts)
{
	double_free_after_trim(48);
}

TEST(double_free_of_16384_byte_object_after_malloc_trim_aborts)
{
	double_free_after_trim(16384);
}

TEST(double_free_of_20_kib_block_after_malloc_trim_aborts)
{
	double_free_after_trim(20 * KiB);
}

TEST(double_free_of_200_kib_block_after_malloc_trim_aborts)
{
	double_free_after_trim(200 * KiB);
}

/*
 * A forked child frees again what the parent freed before the fork: by the
 * thread that forks, by another thread still running (which the child does
 * not have), or by one that had exited.
 */
static void double_free_across_fork(size_t size, void (*first)(struct misuse *), enum where where)
{
	struct misuse m = twice(xmalloc(size), size);

	m.first = first;
	m.first_where = where;
	m.fork = 1;
	expect_misuse(&m, "free", "double free");
}

TEST(double_free_in_a_forked_child_of_48_byte_object_freed_before_the_fork_aborts)
{
	double_free_across_fork(48, call_free, HERE);
}

TEST(double_free_in_a_forked_child_of_48_byte_object_freed_by_a_running_thread_before_the_fork_aborts)
{
	double_free_across_fork(48, call_free, IN_THREAD);
}

TEST(double_free_in_a_forked_child_of_48_byte_object_freed_by_an_exited_thread_before_the_fork_aborts)
{
	double_free_across_fork(48, call_free, IN_EXITED_THREAD);
}

TEST(double_free_in_a_forked_child_of_20_kib_block_freed_before_the_fork_aborts)
{
	double_free_across_fork(20 * KiB, call_free, HERE);
}

TEST(double_free_in_a_forked_child_of_20_kib_block_freed_by_a_running_thread_before_the_fork_aborts)
{
	double_free_across_fork(20 * KiB, call_free, IN_THREAD);
}

TEST(double_free_in_a_forked_child_of_8_mib_block_freed_before_the_fork_aborts)
{
	double_free_across_fork(8 * MiB, call_free, HERE);
}

TEST(double_free_of_calloc_object_after_other_frees_aborts)
{
	struct misuse m = twice(calloc(10, 10), 100);

	CHECK(m.p != NULL);
	m.between = alloc_same(100, 100);
	m.nbetween = 100;
	expect_misuse(&m, "free", "double free");
}

TEST(double_free_of_page_aligned_small_object_after_other_frees_aborts)
{
	struct misuse m;
	void *p = NULL;

	CHECK(posix_memalign(&p, PAGE, 100) == 0);
	m = twice(p, 100);
	m.between = alloc_same(100, 100);
	m.nbetween = 100;
	expect_misuse(&m, "free", "double free");
}

/* ---- 2. Issue 10 -------------------------------------------------------- */

/*
 * Issue 10: p = malloc(48), 10,000 more malloc(48), free(p), free the
 * 10,000, free(p) again: that second free went unnoticed, p sat twice in
 * the caches, and the program crashed inside sbmalloc later, in the 600
 * mallocs and frees and the malloc_trim that follow.  It must stop at the
 * second free.
 */
struct issue_10 {
	void *p;
	void *others[MANY];
	int double_free;
};

/* What the program of issue 10 does after its frees. */
static void issue_10_rest(void)
{
	void *q[600];
	size_t i, j;

	for (i = 0; i < 600; i++) {
		q[i] = malloc(48);
		CHECK(q[i] != NULL);
		memset(q[i], (int)(i & 0xff), 48);
	}
	for (i = 0; i < 600; i++)
		for (j = 0; j < 48; j++)
			CHECKF(((unsigned char *)q[i])[j] == (i & 0xff),
			       "object %zu (%p) was handed out twice", i, q[i]);
	for (i = 0; i < 600; i++)
		free(q[i]);
	for (i = 0; i < 600; i++) {
		q[i] = malloc(16 + (i % 40) * 24);
		CHECK(q[i] != NULL);
		memset(q[i], 0x77, 16);
	}
	for (i = 0; i < 600; i++)
		free(q[i]);
	malloc_trim(0);
}

static void issue_10_program(void *arg)
{
	struct issue_10 *s = arg;
	size_t i;

	free(s->p);
	for (i = 0; i < MANY; i++)
		free(s->others[i]);
	if (s->double_free) {
		free(s->p);
		write_marker();
	}
	issue_10_rest();
	write_done();
}

static struct issue_10 *issue_10_setup(int double_free)
{
	struct issue_10 *s = xmalloc(sizeof *s);
	size_t i;

	s->p = xmalloc(48);
	for (i = 0; i < MANY; i++)
		s->others[i] = xmalloc(48);
	s->double_free = double_free;
	return s;
}

TEST(issue_10_double_free_of_48_byte_object_behind_10000_frees_aborts_at_the_second_free)
{
	struct issue_10 *s = issue_10_setup(1);

	expect_abort_message(issue_10_program, s, "free", "double free", NULL, s->p);
}

TEST(issue_10_program_without_the_double_free_runs_to_a_clean_exit)
{
	expect_clean_run(issue_10_program, issue_10_setup(0));
}

/* ---- 3. Page blocks -------------------------------------------------------- */

#define PAGE_DOUBLE_FREES(name, size, n)					\
TEST(double_free_of_##name##_block_right_away_aborts)				\
{										\
	double_free_right_away(size);						\
}										\
TEST(double_free_of_##name##_block_after_frees_of_its_size_aborts)		\
{										\
	double_free_after_frees_of_its_size(size, n);				\
}										\
TEST(double_free_of_##name##_block_after_frees_of_other_sizes_aborts)		\
{										\
	double_free_after_frees_of_other_sizes(size, mixed_sizes, NELEM(mixed_sizes), 2 * (n)); \
}										\
TEST(double_free_of_##name##_block_first_freed_by_a_running_thread_aborts)	\
{										\
	double_free_first_by_thread(size, IN_THREAD, 0);			\
}										\
TEST(double_free_of_##name##_block_first_freed_by_an_exited_thread_aborts)	\
{										\
	double_free_first_by_thread(size, IN_EXITED_THREAD, 0);			\
}										\
TEST(double_free_of_##name##_block_in_another_thread_aborts)			\
{										\
	double_free_in_thread(size);						\
}

PAGE_DOUBLE_FREES(20_kib, 20 * KiB, 100)
PAGE_DOUBLE_FREES(64_kib, 64 * KiB, 100)
PAGE_DOUBLE_FREES(200_kib, 200 * KiB, 100)
PAGE_DOUBLE_FREES(4_mib, 4 * MiB, 16)

#define PAGE_DOUBLE_FREE_CASES(name)						\
	TAP_CASE(double_free_of_##name##_block_right_away_aborts)		\
	TAP_CASE(double_free_of_##name##_block_after_frees_of_its_size_aborts)	\
	TAP_CASE(double_free_of_##name##_block_after_frees_of_other_sizes_aborts) \
	TAP_CASE(double_free_of_##name##_block_first_freed_by_a_running_thread_aborts) \
	TAP_CASE(double_free_of_##name##_block_first_freed_by_an_exited_thread_aborts) \
	TAP_CASE(double_free_of_##name##_block_in_another_thread_aborts)

TEST(double_free_of_64_kib_block_first_freed_by_a_running_thread_then_100_frees_aborts)
{
	double_free_first_by_thread(64 * KiB, IN_THREAD, 100);
}

/* ---- 4. Huge blocks ------------------------------------------------------ */

static const size_t huge_sizes[] = { 5 * MiB, 8 * MiB, 16 * MiB, 40 * MiB };

#define HUGE_MISUSES(name, size)						\
TEST(double_free_of_##name##_block_right_away_aborts)				\
{										\
	double_free_right_away(size);						\
}										\
TEST(double_free_of_##name##_block_after_other_huge_frees_aborts)		\
{										\
	double_free_after_frees_of_other_sizes(size, huge_sizes, NELEM(huge_sizes), 6); \
}										\
TEST(double_free_of_##name##_block_first_freed_by_an_exited_thread_aborts)	\
{										\
	double_free_first_by_thread(size, IN_EXITED_THREAD, 0);			\
}										\
TEST(double_free_of_##name##_block_in_another_thread_aborts)			\
{										\
	double_free_in_thread(size);						\
}										\
TEST(free_of_interior_of_##name##_block_at_4096_aborts_as_invalid_pointer)	\
{										\
	interior_free((size), PAGE, "free");					\
}										\
TEST(free_of_pointer_one_past_##name##_block_aborts_as_invalid_pointer)	\
{										\
	one_past_free(size);							\
}

#define HUGE_CASES(name)							\
	TAP_CASE(double_free_of_##name##_block_right_away_aborts)		\
	TAP_CASE(double_free_of_##name##_block_after_other_huge_frees_aborts)	\
	TAP_CASE(double_free_of_##name##_block_first_freed_by_an_exited_thread_aborts) \
	TAP_CASE(double_free_of_##name##_block_in_another_thread_aborts)	\
	TAP_CASE(free_of_interior_of_##name##_block_at_4096_aborts_as_invalid_pointer) \
	TAP_CASE(free_of_pointer_one_past_##name##_block_aborts_as_invalid_pointer)

/* func(p + offset) of a live block of size bytes: "invalid pointer". */
static void interior_free(size_t size, size_t offset, const char *func)
{
	struct misuse m;
	char *p = xmalloc(size);

	memset(&m, 0, sizeof m);
	m.p = p + offset;
	m.size = size - offset;
	m.new_size = size * 2;
	m.bad = strcmp(func, "realloc") == 0 ? call_realloc :
		strcmp(func, "free_sized") == 0 ? call_free_sized : call_free;
	expect_misuse(&m, func, "invalid pointer");
	free(p);
}

static void one_past_free(size_t size)
{
	struct misuse m;
	char *p = xmalloc(size);

	memset(&m, 0, sizeof m);
	m.p = p + malloc_usable_size(p);
	m.bad = call_free;
	expect_misuse(&m, "free", "invalid pointer");
	free(p);
}

HUGE_MISUSES(8_mib, 8 * MiB)
HUGE_MISUSES(40_mib, 40 * MiB)

TEST(free_of_interior_of_40_mib_block_at_32_mib_aborts_as_invalid_pointer)
{
	interior_free(40 * MiB, 32 * MiB, "free");
}

/* Only the base of a freed huge block is a double free; inside, invalid. */
TEST(free_of_interior_of_freed_8_mib_block_aborts_as_invalid_pointer)
{
	char *p = xmalloc(8 * MiB);
	struct misuse m = twice(p + MiB, 0);

	m.first = NULL;
	free(p);
	expect_misuse(&m, "free", "invalid pointer");
}

/* ---- 5. Slots never handed out -------------------------------------------- */

/*
 * A live object p whose neighbouring slot q on the same page was never
 * handed out: p + malloc_usable_size(p), the next slot, when the objects
 * come out in rising order; when they come out falling (a magazine is a
 * stack), the next slot of the first one is on another page, and q is the
 * slot just below the last one, p - the stride.  Objects come from
 * alloc(ctx), stride bytes apart (0: malloc_usable_size).
 */
static char *object_next_to_fresh_slot(void *(*alloc)(void *), void *ctx, size_t stride,
				       char **fresh)
{
	void *got[64];
	size_t n, i, u, side;
	char *p, *q;

	for (n = 0; n < 64; n++) {
		p = got[n] = alloc(ctx);
		CHECK(p != NULL);
		u = stride ? stride : malloc_usable_size(p);
		for (side = 0; side < 2; side++) {
			q = side == 0 ? p + u : p - u;
			if ((uintptr_t)p / PAGE != (uintptr_t)q / PAGE ||
			    (uintptr_t)q / PAGE != (uintptr_t)(q + u - 1) / PAGE)
				continue;
			for (i = 0; i < n && got[i] != q; i++)
				;
			if (i == n) {
				*fresh = q;
				return p;
			}
		}
	}
	CHECKF(0, "no object with a slot never handed out next to it on its page");
	return NULL;
}

static void *alloc_size(void *ctx)
{
	return malloc(*(size_t *)ctx);
}

static char *object_before_fresh_slot(size_t size, char **next)
{
	return object_next_to_fresh_slot(alloc_size, &size, 0, next);
}

static void free_of_fresh_slot(size_t size, void (*bad)(struct misuse *), const char *func)
{
	struct misuse m;
	char *p, *q;

	memset(&m, 0, sizeof m);
	p = object_before_fresh_slot(size, &q);
	tap_diag("object %p, the slot %s it %p", (void *)p, q > p ? "after" : "before", (void *)q);
	m.p = q;
	m.size = size;
	m.new_size = size + 1;
	m.bad = bad;
	expect_misuse(&m, func, "invalid pointer");
}

/*
 * The program that does not make the bad free: the slot never handed out,
 * and every one after it, is handed out once, never twice; each object
 * keeps its own contents while the others are allocated and written.
 */
static void fresh_slots_handed_out_once(void *arg)
{
	size_t size = *(size_t *)arg, n = 2000, i, j, u, times = 0;
	char **v = malloc(n * sizeof *v), *q, *p;

	CHECK(v != NULL);
	p = object_before_fresh_slot(size, &q);
	u = malloc_usable_size(p);
	memset(p, 0xee, u);
	for (i = 0; i < n; i++) {
		v[i] = malloc(size);
		CHECK(v[i] != NULL);
		memset(v[i], (int)(i * 7 + 1) & 0xff, u);
		times += v[i] == q;
	}
	CHECKF(times <= 1, "the slot %p was handed out %zu times", (void *)q, times);
	for (i = 0; i < n; i++) {
		CHECKF(v[i] != p, "the live object %p was handed out again", (void *)p);
		for (j = 0; j < u; j++)
			CHECKF((unsigned char)v[i][j] == ((i * 7 + 1) & 0xff),
			       "object %zu (%p) overlaps another one", i, (void *)v[i]);
	}
	for (j = 0; j < u; j++)
		CHECKF((unsigned char)p[j] == 0xee, "the live object %p was overwritten", (void *)p);
	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
	free(p);
	write_done();
}

#define FRESH_SLOT(n)								\
TEST(free_of_never_handed_out_slot_next_to_##n##_byte_object_aborts_as_invalid_pointer) \
{										\
	free_of_fresh_slot(n, call_free, "free");				\
}										\
TEST(slots_next_to_##n##_byte_object_are_handed_out_once_each)		\
{										\
	size_t size = n;							\
										\
	expect_clean_run(fresh_slots_handed_out_once, &size);			\
}

FRESH_SLOT(16)
FRESH_SLOT(48)
FRESH_SLOT(1000)

#define FRESH_SLOT_CASES(n)							\
	TAP_CASE(free_of_never_handed_out_slot_next_to_##n##_byte_object_aborts_as_invalid_pointer) \
	TAP_CASE(slots_next_to_##n##_byte_object_are_handed_out_once_each)

TEST(realloc_of_never_handed_out_slot_next_to_48_byte_object_aborts_as_invalid_pointer)
{
	free_of_fresh_slot(48, call_realloc, "realloc");
}

TEST(free_sized_of_never_handed_out_slot_next_to_48_byte_object_aborts_as_invalid_pointer)
{
	free_of_fresh_slot(48, call_free_sized, "free_sized");
}

/* ---- 6. realloc of a freed pointer ----------------------------------------- */

static void realloc_of_freed(size_t size, size_t new_size, size_t nbetween)
{
	struct misuse m = twice(xmalloc(size), size);

	m.bad = call_realloc;
	m.new_size = new_size;
	if (nbetween != 0) {
		m.between = alloc_same(size, nbetween);
		m.nbetween = nbetween;
	}
	expect_misuse(&m, "realloc", "double free");
}

TEST(realloc_of_freed_48_byte_object_to_100_bytes_aborts_as_double_free)
{
	realloc_of_freed(48, 100, 0);
}

TEST(realloc_of_freed_48_byte_object_to_its_own_size_aborts_as_double_free)
{
	realloc_of_freed(48, 48, 0);
}

TEST(realloc_of_freed_48_byte_object_after_10000_frees_aborts_as_double_free)
{
	realloc_of_freed(48, 100, MANY);
}

TEST(realloc_of_freed_1000_byte_object_aborts_as_double_free)
{
	realloc_of_freed(1000, 3000, 0);
}

TEST(realloc_of_freed_16384_byte_object_aborts_as_double_free)
{
	realloc_of_freed(16384, 100, 0);
}

TEST(realloc_of_freed_20_kib_block_aborts_as_double_free)
{
	realloc_of_freed(20 * KiB, 40 * KiB, 0);
}

TEST(realloc_of_freed_200_kib_block_aborts_as_double_free)
{
	realloc_of_freed(200 * KiB, 100 * KiB, 0);
}

TEST(realloc_of_freed_200_kib_block_after_other_frees_aborts_as_double_free)
{
	realloc_of_freed(200 * KiB, 300 * KiB, 100);
}

TEST(realloc_of_freed_8_mib_block_aborts_as_double_free)
{
	realloc_of_freed(8 * MiB, 16 * MiB, 0);
}

TEST(realloc_of_freed_8_mib_block_to_100_bytes_aborts_as_double_free)
{
	realloc_of_freed(8 * MiB, 100, 0);
}

TEST(realloc_to_zero_of_freed_48_byte_object_aborts_as_double_free)
{
	realloc_of_freed(48, 0, 0);
}

/* ---- 7. free_sized and free_aligned_sized ---------------------------------- */

static void sized_free_of_freed(size_t size, size_t nbetween)
{
	struct misuse m = twice(xmalloc(size), size);

	m.bad = call_free_sized;
	if (nbetween != 0) {
		m.between = alloc_same(size, nbetween);
		m.nbetween = nbetween;
	}
	expect_misuse(&m, "free_sized", "double free");
}

static void aligned_sized_free_of_freed(size_t align, size_t size)
{
	struct misuse m = twice(aligned_alloc(align, size), size);

	CHECK(m.p != NULL);
	m.align = align;
	m.first = call_free_aligned_sized;
	m.bad = call_free_aligned_sized;
	m.between = alloc_same(size, 50);
	m.nbetween = 50;
	expect_misuse(&m, "free_aligned_sized", "double free");
}

TEST(free_sized_of_freed_48_byte_object_names_free_sized)
{
	sized_free_of_freed(48, 0);
}

TEST(free_sized_of_freed_48_byte_object_after_10000_frees_names_free_sized)
{
	sized_free_of_freed(48, MANY);
}

TEST(free_sized_of_freed_20_kib_block_names_free_sized)
{
	sized_free_of_freed(20 * KiB, 0);
}

TEST(free_sized_of_freed_200_kib_block_names_free_sized)
{
	sized_free_of_freed(200 * KiB, 0);
}

TEST(free_sized_of_freed_8_mib_block_names_free_sized)
{
	sized_free_of_freed(8 * MiB, 0);
}

TEST(free_sized_after_free_sized_names_free_sized)
{
	struct misuse m = twice(xmalloc(100), 100);

	m.first = call_free_sized;
	m.bad = call_free_sized;
	m.between = alloc_same(100, 100);
	m.nbetween = 100;
	expect_misuse(&m, "free_sized", "double free");
}

TEST(free_aligned_sized_of_freed_64_aligned_object_names_free_aligned_sized)
{
	aligned_sized_free_of_freed(64, 128);
}

TEST(free_aligned_sized_of_freed_page_aligned_20_kib_block_names_free_aligned_sized)
{
	aligned_sized_free_of_freed(PAGE, 20 * KiB);
}

TEST(free_aligned_sized_of_freed_64_kib_aligned_200_kib_block_names_free_aligned_sized)
{
	aligned_sized_free_of_freed(64 * KiB, 200 * KiB);
}

TEST(free_aligned_sized_of_freed_2_mib_aligned_8_mib_block_names_free_aligned_sized)
{
	struct misuse m = twice(aligned_alloc(2 * MiB, 8 * MiB), 8 * MiB);

	CHECK(m.p != NULL);
	m.align = 2 * MiB;
	m.first = call_free_aligned_sized;
	m.bad = call_free_aligned_sized;
	expect_misuse(&m, "free_aligned_sized", "double free");
}

TEST(free_sized_of_stack_address_names_free_sized)
{
	char on_stack[64];
	struct misuse m;

	memset(on_stack, 0, sizeof on_stack);
	memset(&m, 0, sizeof m);
	m.p = on_stack + 16;
	m.size = 16;
	m.bad = call_free_sized;
	expect_misuse(&m, "free_sized", "invalid pointer");
}

TEST(free_aligned_sized_of_interior_of_page_block_names_free_aligned_sized)
{
	char *p = aligned_alloc(PAGE, 64 * KiB);
	struct misuse m;

	CHECK(p != NULL);
	memset(&m, 0, sizeof m);
	m.p = p + PAGE;
	m.size = 16 * KiB;
	m.align = PAGE;
	m.bad = call_free_aligned_sized;
	expect_misuse(&m, "free_aligned_sized", "invalid pointer");
	free(p);
}

/* ---- 8. Object caches -------------------------------------------------------- */

static void ctor_fill(void *obj, void *arg)
{
	memset(obj, 0xc3, 64);
}

static sb_cache_t *make_cache(int with_ctor)
{
	sb_cache_t *c = sb_cache_create(with_ctor ? "misuse-ctor" : "misuse-plain", 64, 0,
					with_ctor ? ctor_fill : NULL, NULL, NULL);

	CHECK(c != NULL);
	return c;
}

static void *xcache_alloc(sb_cache_t *c)
{
	void *p = sb_cache_alloc(c);

	CHECK(p != NULL);
	return p;
}

/* Freed by first, n objects of the cache freed by sb_cache_free, then bad. */
static void cache_misuse(int with_ctor, void (*first)(struct misuse *), enum where first_where,
			 size_t n, void (*bad)(struct misuse *), const char *func)
{
	sb_cache_t *c = make_cache(with_ctor);
	struct misuse m;
	size_t i;

	memset(&m, 0, sizeof m);
	m.cache = c;
	m.p = xcache_alloc(c);
	m.first = first;
	m.first_where = first_where;
	m.bad = bad;
	if (n != 0) {
		m.between = xmalloc(n * sizeof *m.between);
		for (i = 0; i < n; i++)
			m.between[i] = xcache_alloc(c);
		m.nbetween = n;
		m.between_cache = c;
	}
	expect_misuse(&m, func, "double free");
}

TEST(sb_cache_free_twice_right_away_aborts_for_a_cache_with_a_constructor)
{
	cache_misuse(1, call_sb_cache_free, HERE, 0, call_sb_cache_free, "sb_cache_free");
}

TEST(sb_cache_free_twice_right_away_aborts_for_a_cache_without_a_constructor)
{
	cache_misuse(0, call_sb_cache_free, HERE, 0, call_sb_cache_free, "sb_cache_free");
}

TEST(sb_cache_free_twice_with_10000_frees_between_aborts_for_a_cache_with_a_constructor)
{
	cache_misuse(1, call_sb_cache_free, HERE, MANY, call_sb_cache_free, "sb_cache_free");
}

TEST(sb_cache_free_twice_with_10000_frees_between_aborts_for_a_cache_without_a_constructor)
{
	cache_misuse(0, call_sb_cache_free, HERE, MANY, call_sb_cache_free, "sb_cache_free");
}

TEST(sb_cache_free_after_sb_cache_free_by_an_exited_thread_aborts_for_a_cache_with_a_constructor)
{
	cache_misuse(1, call_sb_cache_free, IN_EXITED_THREAD, 0, call_sb_cache_free,
		     "sb_cache_free");
}

TEST(sb_cache_free_after_sb_cache_free_by_a_running_thread_aborts_for_a_cache_without_a_constructor)
{
	cache_misuse(0, call_sb_cache_free, IN_THREAD, 0, call_sb_cache_free, "sb_cache_free");
}

TEST(free_of_object_freed_by_sb_cache_free_aborts_for_a_cache_with_a_constructor)
{
	cache_misuse(1, call_sb_cache_free, HERE, 100, call_free, "free");
}

TEST(free_of_object_freed_by_sb_cache_free_aborts_for_a_cache_without_a_constructor)
{
	cache_misuse(0, call_sb_cache_free, HERE, 100, call_free, "free");
}

TEST(free_of_cache_object_freed_by_free_aborts_for_a_cache_with_a_constructor)
{
	cache_misuse(1, call_free, HERE, 0, call_free, "free");
}

TEST(sb_cache_free_of_object_freed_by_free_aborts_for_a_cache_without_a_constructor)
{
	cache_misuse(0, call_free, HERE, 100, call_sb_cache_free, "sb_cache_free");
}

/*
 * A slot of a cache never handed out: "invalid pointer" where objects
 * carry the key (no constructor).  A cache with a constructor knows only
 * that the slot is not live: either kind will do there, as long as the
 * program stops at the call.
 */
static void *alloc_from_cache(void *ctx)
{
	return sb_cache_alloc(ctx);
}

static void cache_fresh_slot(int with_ctor)
{
	sb_cache_t *c = make_cache(with_ctor);
	struct misuse m;
	char *q;

	object_next_to_fresh_slot(alloc_from_cache, c, 64, &q);
	memset(&m, 0, sizeof m);
	m.cache = c;
	m.p = q;
	m.bad = call_sb_cache_free;
	expect_abort_message(run_misuse, &m, "sb_cache_free", "invalid pointer",
			     with_ctor ? "double free" : NULL, q);
}

TEST(sb_cache_free_of_never_handed_out_slot_aborts_as_invalid_pointer_for_a_cache_without_a_constructor)
{
	cache_fresh_slot(0);
}

TEST(sb_cache_free_of_never_handed_out_slot_aborts_for_a_cache_with_a_constructor)
{
	cache_fresh_slot(1);
}

/* ---- 9. No false positives ---------------------------------------------------- */

/*
 * The free key, as a program can come to hold it: the first word of memory
 * it freed (read here on purpose), or, with the low bit clear, the first
 * word of a slot never handed out.  Skips when freed memory holds no key.
 */
static uint64_t harvest_free_key(void)
{
	uint64_t *p = xmalloc(48), k;

	free(p);
	__asm__ volatile("" : "+r"(p) : : "memory");
	k = *(volatile uint64_t *)p;
	sink = malloc(48);	/* p again, most likely: the key is cleared */
	if (k == 0)
		tap_skip("freed memory holds no free key");
	return k;
}

static uint64_t harvest_fresh_key(void)
{
	char *q;

	object_before_fresh_slot(80, &q);
	return *(volatile uint64_t *)q;
}

/* Every kind of block, as many of each as fits in reason. */
static const size_t every_size[] = {
	16, 32, 48, 64, 80, 128, 256, 1000, 2048, 4096, 16384,
	20 * KiB, 64 * KiB, 200 * KiB, 4 * MiB, 8 * MiB,
};

static size_t how_many(size_t size)
{
	return size <= 16384 ? 200 : size <= 200 * KiB ? 12 : 2;
}

struct first_word {
	uint64_t v;
};

static void set_first_word(void *p, uint64_t v)
{
	memcpy(p, &v, sizeof v);
}

static uint64_t first_word_of(const void *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof v);
	return v;
}

static void *free_all_in_thread(void *arg)
{
	void **v = arg;
	size_t i;

	for (i = 0; v[i] != NULL; i++)
		free(v[i]);
	return NULL;
}

/*
 * A correct program whose live objects all start with the word v: freed by
 * free, free_sized and realloc, in this thread and in another, and objects
 * of caches with and without a constructor.  It must run to its end.
 */
static void first_word_program(void *arg)
{
	uint64_t v = ((struct first_word *)arg)->v;
	size_t total = 0, k, i, j, n;
	sb_cache_t *plain, *ctor;
	void **all, *cache_objs[2][300];
	pthread_t t;
	int round;

	for (i = 0; i < NELEM(every_size); i++)
		total += how_many(every_size[i]);
	all = malloc((total + 1) * sizeof *all);
	CHECK(all != NULL);
	for (round = 0; round < 4; round++) {
		for (k = 0, i = 0; i < NELEM(every_size); i++)
			for (j = 0; j < how_many(every_size[i]); j++, k++) {
				all[k] = malloc(every_size[i]);
				CHECK(all[k] != NULL);
				set_first_word(all[k], v);
			}
		all[k] = NULL;
		for (k = 0; k < total; k++)
			CHECKF(first_word_of(all[k]) == v, "a live object's first word changed");
		switch (round) {
		case 0:		/* free: every other one from the last, then the rest */
			for (k = 0; k < total; k += 2)
				free(all[total - 1 - k]);
			for (k = 1; k < total; k += 2)
				free(all[total - 1 - k]);
			break;
		case 1:		/* free_sized */
			for (k = 0, i = 0; i < NELEM(every_size); i++)
				for (j = 0; j < how_many(every_size[i]); j++, k++)
					free_sized(all[k], every_size[i]);
			break;
		case 2:		/* realloc to another size, then free */
			for (k = 0, i = 0; i < NELEM(every_size); i++)
				for (j = 0; j < how_many(every_size[i]); j++, k++) {
					all[k] = realloc(all[k], j % 2 ? every_size[i] / 2 + 8 :
								     every_size[i] * 2);
					CHECK(all[k] != NULL);
					CHECKF(first_word_of(all[k]) == v,
					       "realloc lost the first word");
				}
			for (k = 0; k < total; k++)
				free(all[k]);
			break;
		case 3:		/* another thread frees them */
			CHECK(pthread_create(&t, NULL, free_all_in_thread, all) == 0);
			CHECK(pthread_join(t, NULL) == 0);
			break;
		}
	}
	free(all);
	plain = sb_cache_create("first-word-plain", 64, 0, NULL, NULL, NULL);
	ctor = sb_cache_create("first-word-ctor", 64, 0, ctor_fill, NULL, NULL);
	CHECK(plain != NULL && ctor != NULL);
	for (round = 0; round < 3; round++) {
		n = NELEM(cache_objs[0]);
		for (i = 0; i < n; i++) {
			cache_objs[0][i] = sb_cache_alloc(plain);
			cache_objs[1][i] = sb_cache_alloc(ctor);
			CHECK(cache_objs[0][i] != NULL && cache_objs[1][i] != NULL);
			set_first_word(cache_objs[0][i], v);
			set_first_word(cache_objs[1][i], v);
		}
		for (i = 0; i < n; i++) {
			if (round == 0) {
				sb_cache_free(plain, cache_objs[0][i]);
				sb_cache_free(ctor, cache_objs[1][i]);
			} else {
				free(cache_objs[0][i]);
				free(cache_objs[1][i]);
			}
		}
	}
	sb_cache_destroy(plain);
	sb_cache_destroy(ctor);
	write_done();
}

static void expect_first_word_runs(uint64_t v)
{
	struct first_word fw = { v };

	expect_clean_run(first_word_program, &fw);
}

TEST(live_objects_whose_first_word_is_zero_are_freed_without_aborting)
{
	expect_first_word_runs(0);
}

TEST(live_objects_whose_first_word_is_all_ones_are_freed_without_aborting)
{
	expect_first_word_runs(~(uint64_t)0);
}

TEST(live_objects_whose_first_word_is_a_pattern_are_freed_without_aborting)
{
	expect_first_word_runs(0xdeadbeefcafef00dull);
}

TEST(live_objects_whose_first_word_is_the_free_key_are_freed_without_aborting)
{
	expect_first_word_runs(harvest_free_key());
}

TEST(live_objects_whose_first_word_is_the_fresh_key_are_freed_without_aborting)
{
	harvest_free_key();	/* skips if there is no key */
	expect_first_word_runs(harvest_fresh_key());
}

/* The first words the objects of the next two programs take in turn. */
struct words {
	uint64_t v[5];
};

static struct words some_words(void)
{
	struct words w = { { 0, ~(uint64_t)0, 0x0123456789abcdefull, 0, 0 } };

	w.v[3] = harvest_free_key();
	w.v[4] = harvest_fresh_key();
	return w;
}

/*
 * Live objects keep every byte while other objects, whose first words take
 * each value in turn, go through malloc and free around them.
 */
static void live_data_program(void *arg)
{
	const struct words *w = arg;
	enum { NLIVE = 400, NCHURN = 3000 };
	static unsigned char *live[NLIVE];
	static size_t live_size[NLIVE];
	static void *churn[NCHURN];
	size_t i, j, size;
	int round;

	for (i = 0; i < NLIVE; i++) {
		size = i % 40 == 39 ? every_size[11 + (i / 40) % 4] : every_size[i % 11];
		live[i] = malloc(size);
		CHECK(live[i] != NULL);
		live_size[i] = size;
		for (j = 0; j < size; j++)
			live[i][j] = (unsigned char)(i * 31 + j);
		set_first_word(live[i], w->v[i % 5]);
	}
	for (round = 0; round < 5; round++) {
		for (i = 0; i < NCHURN; i++) {
			size = every_size[(i + round) % 14];
			churn[i] = malloc(size);
			CHECK(churn[i] != NULL);
			set_first_word(churn[i], w->v[(i + round) % 5]);
		}
		for (i = 0; i < NCHURN; i++)
			free(churn[(i * 7) % NCHURN]);
	}
	for (i = 0; i < NLIVE; i++) {
		CHECKF(first_word_of(live[i]) == w->v[i % 5], "live object %zu (%p) lost its first word",
		       i, (void *)live[i]);
		for (j = 8; j < live_size[i]; j++)
			CHECKF(live[i][j] == (unsigned char)(i * 31 + j),
			       "live object %zu (%p) lost byte %zu", i, (void *)live[i], j);
	}
	for (i = 0; i < NLIVE; i++)
		free(live[i]);
	write_done();
}

TEST(live_objects_keep_their_data_while_objects_with_any_first_word_come_and_go)
{
	struct words w = some_words();

	expect_clean_run(live_data_program, &w);
}

/*
 * memcpy a value into an object, free it, malloc again (whatever it holds),
 * over and over: never an abort; and the objects live at the end are all
 * distinct.
 */
static void refill_program(void *arg)
{
	const struct words *w = arg;
	enum { ROUNDS = 20000, NLIVE = 2000 };
	static void *live[NLIVE];
	size_t i, j, size;
	void *p;

	for (i = 0; i < ROUNDS; i++) {
		size = every_size[i % 14];
		p = malloc(size);
		CHECK(p != NULL);
		memcpy(p, &w->v[(i / 14) % 5], 8);
		free(p);
	}
	for (i = 0; i < NLIVE; i++) {
		live[i] = malloc(every_size[i % 11]);
		CHECK(live[i] != NULL);
		memcpy(live[i], &i, sizeof i);
	}
	for (i = 0; i < NLIVE; i++) {
		memcpy(&j, live[i], sizeof j);
		CHECKF(j == i, "object %zu (%p) was handed out twice", i, live[i]);
	}
	for (i = 0; i < NLIVE; i++)
		free(live[i]);
	write_done();
}

TEST(objects_refilled_with_any_first_word_go_through_malloc_and_free_without_aborting)
{
	struct words w = some_words();

	expect_clean_run(refill_program, &w);
}

/* ---- 10. Pointers that were never handed out ---------------------------------- */

static void invalid_free_of(void *p, const char *func)
{
	struct misuse m;

	memset(&m, 0, sizeof m);
	m.p = p;
	m.size = 16;
	m.new_size = 100;
	m.bad = strcmp(func, "realloc") == 0 ? call_realloc :
		strcmp(func, "free_sized") == 0 ? call_free_sized : call_free;
	expect_misuse(&m, func, "invalid pointer");
}

TEST(free_of_interior_of_20_kib_block_at_4096_aborts_as_invalid_pointer)
{
	interior_free(20 * KiB, PAGE, "free");
}

TEST(free_of_interior_of_200_kib_block_at_4096_aborts_as_invalid_pointer)
{
	interior_free(200 * KiB, PAGE, "free");
}

TEST(free_of_interior_of_4_mib_block_at_4096_aborts_as_invalid_pointer)
{
	interior_free(4 * MiB, PAGE, "free");
}

TEST(free_of_interior_of_4_mib_block_at_2_mib_aborts_as_invalid_pointer)
{
	interior_free(4 * MiB, 2 * MiB, "free");
}

TEST(free_of_interior_of_20_kib_block_at_16_aborts_as_invalid_pointer)
{
	interior_free(20 * KiB, 16, "free");
}

TEST(realloc_of_interior_of_64_kib_block_at_4096_aborts_as_invalid_pointer)
{
	interior_free(64 * KiB, PAGE, "realloc");
}

TEST(realloc_of_interior_of_8_mib_block_at_4096_aborts_as_invalid_pointer)
{
	interior_free(8 * MiB, PAGE, "realloc");
}

TEST(free_sized_of_interior_of_200_kib_block_at_4096_aborts_as_invalid_pointer)
{
	interior_free(200 * KiB, PAGE, "free_sized");
}

TEST(free_of_interior_of_1000_byte_object_aborts_as_invalid_pointer)
{
	interior_free(1000, 512, "free");
}

TEST(free_of_page_aligned_interior_of_16384_byte_object_aborts_as_invalid_pointer)
{
	char *p = xmalloc(16384);
	char *inner = (char *)(((uintptr_t)p + PAGE) & ~(uintptr_t)(PAGE - 1));

	invalid_free_of(inner, "free");
	free(p);
}

TEST(free_of_pointer_one_byte_into_48_byte_object_aborts_as_invalid_pointer)
{
	interior_free(48, 1, "free");
}

TEST(realloc_of_interior_of_48_byte_object_aborts_as_invalid_pointer)
{
	interior_free(48, 16, "realloc");
}

TEST(free_of_interior_of_cache_object_aborts_as_invalid_pointer)
{
	sb_cache_t *c = make_cache(0);
	char *p = xcache_alloc(c);

	invalid_free_of(p + 16, "free");
}

TEST(free_of_initialised_global_aborts_as_invalid_pointer)
{
	invalid_free_of(data_buffer, "free");
}

TEST(free_of_read_only_global_aborts_as_invalid_pointer)
{
	invalid_free_of((void *)rodata_buffer, "free");
}

TEST(free_of_bss_global_start_aborts_as_invalid_pointer)
{
	invalid_free_of(static_buffer, "free");
}

TEST(free_of_function_address_aborts_as_invalid_pointer)
{
	invalid_free_of((void *)(uintptr_t)&write_marker, "free");
}

TEST(realloc_of_global_aborts_as_invalid_pointer)
{
	invalid_free_of(static_buffer + 64, "realloc");
}

TEST(free_of_stack_address_in_another_thread_aborts_as_invalid_pointer)
{
	char on_stack[64];
	struct misuse m;

	memset(on_stack, 0, sizeof on_stack);
	memset(&m, 0, sizeof m);
	m.p = on_stack + 32;
	m.bad = call_free;
	m.bad_where = IN_THREAD;
	expect_misuse(&m, "free", "invalid pointer");
}

TEST(free_of_interior_of_foreign_mmap_aborts_as_invalid_pointer)
{
	char *m = mmap(NULL, 64 * KiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	CHECK(m != MAP_FAILED);
	invalid_free_of(m + PAGE + 16, "free");
	munmap(m, 64 * KiB);
}

TEST(free_of_foreign_8_mib_mmap_aborts_as_invalid_pointer)
{
	char *m = mmap(NULL, 8 * MiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	CHECK(m != MAP_FAILED);
	CHECK(!sb_owns(m));
	invalid_free_of(m, "free");
	munmap(m, 8 * MiB);
}

TEST(realloc_of_foreign_mmap_aborts_as_invalid_pointer)
{
	char *m = mmap(NULL, 64 * KiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	CHECK(m != MAP_FAILED);
	invalid_free_of(m, "realloc");
	munmap(m, 64 * KiB);
}

/* ---- With statistics on ------------------------------------------------------- */

/*
 * SBMALLOC_STATS set (a dump at exit, and an exit path of its own): the
 * same misuses are caught, the same correct programs run.  (It once
 * also sent every call through the slow paths, which counted.)  Each of
 * these runs one test above in a new process with SBMALLOC_STATS set.
 */
static void run_with_statistics(const char *test)
{
	char *args[] = { (char *)"misuse", (char *)test, NULL };
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

#define WITH_STATISTICS(name)							TEST(name##_with_statistics_on)						{											run_with_statistics(#name);						}

WITH_STATISTICS(double_free_of_48_byte_object_after_10000_frees_of_its_size_aborts)
WITH_STATISTICS(double_free_of_48_byte_object_first_freed_by_a_running_thread_aborts)
WITH_STATISTICS(double_free_of_20_kib_block_right_away_aborts)
WITH_STATISTICS(double_free_of_20_kib_block_in_another_thread_aborts)
WITH_STATISTICS(double_free_of_8_mib_block_right_away_aborts)
WITH_STATISTICS(free_of_never_handed_out_slot_next_to_48_byte_object_aborts_as_invalid_pointer)
WITH_STATISTICS(realloc_of_freed_48_byte_object_to_100_bytes_aborts_as_double_free)
WITH_STATISTICS(sb_cache_free_twice_with_10000_frees_between_aborts_for_a_cache_without_a_constructor)
WITH_STATISTICS(issue_10_double_free_of_48_byte_object_behind_10000_frees_aborts_at_the_second_free)
WITH_STATISTICS(issue_10_program_without_the_double_free_runs_to_a_clean_exit)
WITH_STATISTICS(live_objects_whose_first_word_is_the_free_key_are_freed_without_aborting)
WITH_STATISTICS(objects_refilled_with_any_first_word_go_through_malloc_and_free_without_aborting)

/* ---- The list ---------------------------------------------------------------- */

static const struct tap_case cases[] = {
	/* 1. small objects */
	SMALL_DOUBLE_FREE_CASES(16)
	SMALL_DOUBLE_FREE_CASES(48)
	SMALL_DOUBLE_FREE_CASES(1000)
	SMALL_DOUBLE_FREE_CASES(16384)
	TAP_CASE(double_free_of_48_byte_object_first_freed_by_a_running_thread_then_10000_frees_aborts)
	TAP_CASE(double_free_of_48_byte_object_first_freed_by_an_exited_thread_then_10000_frees_aborts)
	TAP_CASE(double_free_of_48_byte_object_after_malloc_trim_aborts)
	TAP_CASE(double_free_of_16384_byte_object_after_malloc_trim_aborts)
	TAP_CASE(double_free_of_20_kib_block_after_malloc_trim_aborts)
	TAP_CASE(double_free_of_200_kib_block_after_malloc_trim_aborts)
	TAP_CASE(double_free_in_a_forked_child_of_48_byte_object_freed_before_the_fork_aborts)
	TAP_CASE(double_free_in_a_forked_child_of_48_byte_object_freed_by_a_running_thread_before_the_fork_aborts)
	TAP_CASE(double_free_in_a_forked_child_of_48_byte_object_freed_by_an_exited_thread_before_the_fork_aborts)
	TAP_CASE(double_free_in_a_forked_child_of_20_kib_block_freed_before_the_fork_aborts)
	TAP_CASE(double_free_in_a_forked_child_of_20_kib_block_freed_by_a_running_thread_before_the_fork_aborts)
	TAP_CASE(double_free_in_a_forked_child_of_8_mib_block_freed_before_the_fork_aborts)
	TAP_CASE(double_free_of_calloc_object_after_other_frees_aborts)
	TAP_CASE(double_free_of_page_aligned_small_object_after_other_frees_aborts)
	/* 2. issue 10 */
	TAP_CASE(issue_10_double_free_of_48_byte_object_behind_10000_frees_aborts_at_the_second_free)
	TAP_CASE(issue_10_program_without_the_double_free_runs_to_a_clean_exit)
	/* 3. page blocks */
	PAGE_DOUBLE_FREE_CASES(20_kib)
	PAGE_DOUBLE_FREE_CASES(64_kib)
	PAGE_DOUBLE_FREE_CASES(200_kib)
	PAGE_DOUBLE_FREE_CASES(4_mib)
	TAP_CASE(double_free_of_64_kib_block_first_freed_by_a_running_thread_then_100_frees_aborts)
	/* 4. huge blocks */
	HUGE_CASES(8_mib)
	HUGE_CASES(40_mib)
	TAP_CASE(free_of_interior_of_40_mib_block_at_32_mib_aborts_as_invalid_pointer)
	TAP_CASE(free_of_interior_of_freed_8_mib_block_aborts_as_invalid_pointer)
	/* 5. slots never handed out */
	FRESH_SLOT_CASES(16)
	FRESH_SLOT_CASES(48)
	FRESH_SLOT_CASES(1000)
	TAP_CASE(realloc_of_never_handed_out_slot_next_to_48_byte_object_aborts_as_invalid_pointer)
	TAP_CASE(free_sized_of_never_handed_out_slot_next_to_48_byte_object_aborts_as_invalid_pointer)
	/* 6. realloc of a freed pointer */
	TAP_CASE(realloc_of_freed_48_byte_object_to_100_bytes_aborts_as_double_free)
	TAP_CASE(realloc_of_freed_48_byte_object_to_its_own_size_aborts_as_double_free)
	TAP_CASE(realloc_of_freed_48_byte_object_after_10000_frees_aborts_as_double_free)
	TAP_CASE(realloc_of_freed_1000_byte_object_aborts_as_double_free)
	TAP_CASE(realloc_of_freed_16384_byte_object_aborts_as_double_free)
	TAP_CASE(realloc_of_freed_20_kib_block_aborts_as_double_free)
	TAP_CASE(realloc_of_freed_200_kib_block_aborts_as_double_free)
	TAP_CASE(realloc_of_freed_200_kib_block_after_other_frees_aborts_as_double_free)
	TAP_CASE(realloc_of_freed_8_mib_block_aborts_as_double_free)
	TAP_CASE(realloc_of_freed_8_mib_block_to_100_bytes_aborts_as_double_free)
	TAP_CASE(realloc_to_zero_of_freed_48_byte_object_aborts_as_double_free)
	/* 7. free_sized, free_aligned_sized */
	TAP_CASE(free_sized_of_freed_48_byte_object_names_free_sized)
	TAP_CASE(free_sized_of_freed_48_byte_object_after_10000_frees_names_free_sized)
	TAP_CASE(free_sized_of_freed_20_kib_block_names_free_sized)
	TAP_CASE(free_sized_of_freed_200_kib_block_names_free_sized)
	TAP_CASE(free_sized_of_freed_8_mib_block_names_free_sized)
	TAP_CASE(free_sized_after_free_sized_names_free_sized)
	TAP_CASE(free_aligned_sized_of_freed_64_aligned_object_names_free_aligned_sized)
	TAP_CASE(free_aligned_sized_of_freed_page_aligned_20_kib_block_names_free_aligned_sized)
	TAP_CASE(free_aligned_sized_of_freed_64_kib_aligned_200_kib_block_names_free_aligned_sized)
	TAP_CASE(free_aligned_sized_of_freed_2_mib_aligned_8_mib_block_names_free_aligned_sized)
	TAP_CASE(free_sized_of_stack_address_names_free_sized)
	TAP_CASE(free_aligned_sized_of_interior_of_page_block_names_free_aligned_sized)
	/* 8. object caches */
	TAP_CASE(sb_cache_free_twice_right_away_aborts_for_a_cache_with_a_constructor)
	TAP_CASE(sb_cache_free_twice_right_away_aborts_for_a_cache_without_a_constructor)
	TAP_CASE(sb_cache_free_twice_with_10000_frees_between_aborts_for_a_cache_with_a_constructor)
	TAP_CASE(sb_cache_free_twice_with_10000_frees_between_aborts_for_a_cache_without_a_constructor)
	TAP_CASE(sb_cache_free_after_sb_cache_free_by_an_exited_thread_aborts_for_a_cache_with_a_constructor)
	TAP_CASE(sb_cache_free_after_sb_cache_free_by_a_running_thread_aborts_for_a_cache_without_a_constructor)
	TAP_CASE(free_of_object_freed_by_sb_cache_free_aborts_for_a_cache_with_a_constructor)
	TAP_CASE(free_of_object_freed_by_sb_cache_free_aborts_for_a_cache_without_a_constructor)
	TAP_CASE(free_of_cache_object_freed_by_free_aborts_for_a_cache_with_a_constructor)
	TAP_CASE(sb_cache_free_of_object_freed_by_free_aborts_for_a_cache_without_a_constructor)
	TAP_CASE(sb_cache_free_of_never_handed_out_slot_aborts_as_invalid_pointer_for_a_cache_without_a_constructor)
	TAP_CASE(sb_cache_free_of_never_handed_out_slot_aborts_for_a_cache_with_a_constructor)
	/* 9. no false positives */
	TAP_CASE(live_objects_whose_first_word_is_zero_are_freed_without_aborting)
	TAP_CASE(live_objects_whose_first_word_is_all_ones_are_freed_without_aborting)
	TAP_CASE(live_objects_whose_first_word_is_a_pattern_are_freed_without_aborting)
	TAP_CASE(live_objects_whose_first_word_is_the_free_key_are_freed_without_aborting)
	TAP_CASE(live_objects_whose_first_word_is_the_fresh_key_are_freed_without_aborting)
	TAP_CASE(live_objects_keep_their_data_while_objects_with_any_first_word_come_and_go)
	TAP_CASE(objects_refilled_with_any_first_word_go_through_malloc_and_free_without_aborting)
	/* 10. pointers never handed out */
	TAP_CASE(free_of_interior_of_20_kib_block_at_4096_aborts_as_invalid_pointer)
	TAP_CASE(free_of_interior_of_200_kib_block_at_4096_aborts_as_invalid_pointer)
	TAP_CASE(free_of_interior_of_4_mib_block_at_4096_aborts_as_invalid_pointer)
	TAP_CASE(free_of_interior_of_4_mib_block_at_2_mib_aborts_as_invalid_pointer)
	TAP_CASE(free_of_interior_of_20_kib_block_at_16_aborts_as_invalid_pointer)
	TAP_CASE(realloc_of_interior_of_64_kib_block_at_4096_aborts_as_invalid_pointer)
	TAP_CASE(realloc_of_interior_of_8_mib_block_at_4096_aborts_as_invalid_pointer)
	TAP_CASE(free_sized_of_interior_of_200_kib_block_at_4096_aborts_as_invalid_pointer)
	TAP_CASE(free_of_interior_of_1000_byte_object_aborts_as_invalid_pointer)
	TAP_CASE(free_of_page_aligned_interior_of_16384_byte_object_aborts_as_invalid_pointer)
	TAP_CASE(free_of_pointer_one_byte_into_48_byte_object_aborts_as_invalid_pointer)
	TAP_CASE(realloc_of_interior_of_48_byte_object_aborts_as_invalid_pointer)
	TAP_CASE(free_of_interior_of_cache_object_aborts_as_invalid_pointer)
	TAP_CASE(free_of_initialised_global_aborts_as_invalid_pointer)
	TAP_CASE(free_of_read_only_global_aborts_as_invalid_pointer)
	TAP_CASE(free_of_bss_global_start_aborts_as_invalid_pointer)
	TAP_CASE(free_of_function_address_aborts_as_invalid_pointer)
	TAP_CASE(realloc_of_global_aborts_as_invalid_pointer)
	TAP_CASE(free_of_stack_address_in_another_thread_aborts_as_invalid_pointer)
	TAP_CASE(free_of_interior_of_foreign_mmap_aborts_as_invalid_pointer)
	TAP_CASE(free_of_foreign_8_mib_mmap_aborts_as_invalid_pointer)
	TAP_CASE(realloc_of_foreign_mmap_aborts_as_invalid_pointer)
	/* with statistics on */
	TAP_CASE(double_free_of_48_byte_object_after_10000_frees_of_its_size_aborts_with_statistics_on)
	TAP_CASE(double_free_of_48_byte_object_first_freed_by_a_running_thread_aborts_with_statistics_on)
	TAP_CASE(double_free_of_20_kib_block_right_away_aborts_with_statistics_on)
	TAP_CASE(double_free_of_20_kib_block_in_another_thread_aborts_with_statistics_on)
	TAP_CASE(double_free_of_8_mib_block_right_away_aborts_with_statistics_on)
	TAP_CASE(free_of_never_handed_out_slot_next_to_48_byte_object_aborts_as_invalid_pointer_with_statistics_on)
	TAP_CASE(realloc_of_freed_48_byte_object_to_100_bytes_aborts_as_double_free_with_statistics_on)
	TAP_CASE(sb_cache_free_twice_with_10000_frees_between_aborts_for_a_cache_without_a_constructor_with_statistics_on)
	TAP_CASE(issue_10_double_free_of_48_byte_object_behind_10000_frees_aborts_at_the_second_free_with_statistics_on)
	TAP_CASE(issue_10_program_without_the_double_free_runs_to_a_clean_exit_with_statistics_on)
	TAP_CASE(live_objects_whose_first_word_is_the_free_key_are_freed_without_aborting_with_statistics_on)
	TAP_CASE(objects_refilled_with_any_first_word_go_through_malloc_and_free_without_aborting_with_statistics_on)
};

int main(int argc, char **argv)
{
	/* The aborts are expected: no core files. */
	struct rlimit no_core = { 0, 0 };

	setrlimit(RLIMIT_CORE, &no_core);
	return tap_main_many(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
