/*
 * tap.h - a tiny TAP harness for sbmalloc's tests.
 *
 * Each test is a function named after the behaviour it specifies.  Every
 * test runs in a child process of its own (fork), so one crash or abort is
 * one "not ok" and the others still run.  A test passes when its function
 * returns; CHECK() failing prints the condition and ends the child.
 *
 *     TEST(calloc_zeroes_reused_dirty_memory) { ... CHECK(p[0] == 0); }
 *     int main(void) { return tap_main(TESTS(calloc_zeroes_reused_dirty_memory)); }
 *
 * tap_skip("why") ends a test as skipped.  tap_expect_abort() runs a
 * function in a grandchild and checks that it dies of SIGABRT after writing
 * a message that contains the given text to stderr.
 */
#ifndef SB_TAP_H
#define SB_TAP_H

#include <errno.h>
#include <stdint.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

struct tap_case {
	const char *name;
	void (*fn)(void);
};

#define TEST(name) static void name(void)
#define TAP_CASE(name) { #name, name },
#define TAP_APPLY(m, ...) TAP_APPLY_N(__VA_ARGS__, TAP_A16, TAP_A15, TAP_A14, TAP_A13, \
	TAP_A12, TAP_A11, TAP_A10, TAP_A9, TAP_A8, TAP_A7, TAP_A6, TAP_A5, TAP_A4, TAP_A3, \
	TAP_A2, TAP_A1)(m, __VA_ARGS__)
#define TAP_APPLY_N(_1, _2, _3, _4, _5, _6, _7, _8, _9, _10, _11, _12, _13, _14, _15, _16, \
	N, ...) N
#define TAP_A1(m, a) m(a)
#define TAP_A2(m, a, ...) m(a) TAP_A1(m, __VA_ARGS__)
#define TAP_A3(m, a, ...) m(a) TAP_A2(m, __VA_ARGS__)
#define TAP_A4(m, a, ...) m(a) TAP_A3(m, __VA_ARGS__)
#define TAP_A5(m, a, ...) m(a) TAP_A4(m, __VA_ARGS__)
#define TAP_A6(m, a, ...) m(a) TAP_A5(m, __VA_ARGS__)
#define TAP_A7(m, a, ...) m(a) TAP_A6(m, __VA_ARGS__)
#define TAP_A8(m, a, ...) m(a) TAP_A7(m, __VA_ARGS__)
#define TAP_A9(m, a, ...) m(a) TAP_A8(m, __VA_ARGS__)
#define TAP_A10(m, a, ...) m(a) TAP_A9(m, __VA_ARGS__)
#define TAP_A11(m, a, ...) m(a) TAP_A10(m, __VA_ARGS__)
#define TAP_A12(m, a, ...) m(a) TAP_A11(m, __VA_ARGS__)
#define TAP_A13(m, a, ...) m(a) TAP_A12(m, __VA_ARGS__)
#define TAP_A14(m, a, ...) m(a) TAP_A13(m, __VA_ARGS__)
#define TAP_A15(m, a, ...) m(a) TAP_A14(m, __VA_ARGS__)
#define TAP_A16(m, a, ...) m(a) TAP_A15(m, __VA_ARGS__)
/* Up to 16 names per TESTS(); concatenate several with tap_main_many(). */
#define TESTS(...) (const struct tap_case[]){ TAP_APPLY(TAP_CASE, __VA_ARGS__) }, \
	sizeof((const struct tap_case[]){ TAP_APPLY(TAP_CASE, __VA_ARGS__) }) / sizeof(struct tap_case)

#define TAP_SKIP_CODE 77

/* splitmix64: a fixed-seed random stream for tests that need reproducible data. */
static inline uint64_t tap_mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xBF58476D1CE4E5B9ull;
	x ^= x >> 27;
	x *= 0x94D049BB133111EBull;
	x ^= x >> 31;
	return x;
}

static inline uint64_t tap_rng_next(uint64_t *s)
{
	*s += 0x9E3779B97F4A7C15ull;
	return tap_mix64(*s);
}

static inline void tap_vdiag(const char *fmt, va_list ap)
{
	char buf[1024];
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(buf))
		n = sizeof(buf) - 1;
	/* Diagnostics go to stdout as TAP comments, one write per line. */
	(void)!write(1, "# ", 2);
	(void)!write(1, buf, (size_t)n);
	(void)!write(1, "\n", 1);
}

static inline void tap_diag(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	tap_vdiag(fmt, ap);
	va_end(ap);
}

static inline void tap_fail(const char *file, int line, const char *what)
{
	tap_diag("%s:%d: check failed: %s", file, line, what);
	_exit(1);
}

static inline void tap_skip(const char *why)
{
	tap_diag("SKIP %s", why);
	_exit(TAP_SKIP_CODE);
}

#define CHECK(cond) do { if (!(cond)) tap_fail(__FILE__, __LINE__, #cond); } while (0)
#define CHECKF(cond, ...) do { if (!(cond)) { tap_diag(__VA_ARGS__); \
	tap_fail(__FILE__, __LINE__, #cond); } } while (0)

/*
 * Run fn in a child with stderr captured; return 1 if it died of SIGABRT and
 * its stderr contains `expect` (NULL: any message).  The captured text is
 * copied to out (if not NULL, NUL-terminated, at most outlen bytes).
 */
static inline int tap_expect_abort(void (*fn)(void *), void *arg, const char *expect,
				   char *out, size_t outlen)
{
	int fds[2];
	char buf[4096];
	size_t got = 0;
	int status;
	pid_t pid;

	if (pipe(fds) != 0)
		return 0;
	pid = fork();
	if (pid < 0)
		return 0;
	if (pid == 0) {
		close(fds[0]);
		dup2(fds[1], 2);
		fn(arg);
		_exit(0);
	}
	close(fds[1]);
	for (;;) {
		ssize_t n = read(fds[0], buf + got, sizeof(buf) - 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
		if (got == sizeof(buf) - 1)
			break;
	}
	buf[got] = '\0';
	close(fds[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (out && outlen) {
		size_t n = got < outlen - 1 ? got : outlen - 1;
		memcpy(out, buf, n);
		out[n] = '\0';
	}
	if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGABRT) {
		tap_diag("expected SIGABRT, got status 0x%x; stderr: %s", status, buf);
		return 0;
	}
	if (expect && !strstr(buf, expect)) {
		tap_diag("stderr lacks \"%s\": %s", expect, buf);
		return 0;
	}
	return 1;
}

static inline int tap_run_one(int num, const struct tap_case *c)
{
	int status;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (pid < 0) {
		printf("not ok %d - %s # fork failed\n", num, c->name);
		return 1;
	}
	if (pid == 0) {
		c->fn();
		fflush(stdout);
		_exit(0);
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		printf("ok %d - %s\n", num, c->name);
		return 0;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == TAP_SKIP_CODE) {
		printf("ok %d - %s # SKIP\n", num, c->name);
		return 0;
	}
	if (WIFSIGNALED(status))
		printf("not ok %d - %s # killed by signal %d\n", num, c->name, WTERMSIG(status));
	else
		printf("not ok %d - %s # exit %d\n", num, c->name, WEXITSTATUS(status));
	return 1;
}

/* Runs every case (or only the one named by argv[1], for debugging). */
static inline int tap_main_many(int argc, char **argv, const struct tap_case *cases, size_t n)
{
	int failed = 0;
	size_t i;

	if (argc > 1) {
		for (i = 0; i < n; i++)
			if (strcmp(argv[1], cases[i].name) == 0) {
				cases[i].fn();
				return 0;
			}
		fprintf(stderr, "no test named %s\n", argv[1]);
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("1..%zu\n", n);
	for (i = 0; i < n; i++)
		failed |= tap_run_one((int)i + 1, &cases[i]);
	return failed;
}

#define tap_main(argc, argv, ...) tap_main_many(argc, argv, __VA_ARGS__)

#endif
