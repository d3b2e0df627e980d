/*
 * tests/api/bad_input.c - what sbmalloc does with pointers it never handed out.
 *
 * An invalid or doubly freed pointer makes sbmalloc write exactly one line,
 *     sbmalloc: <func>(): invalid pointer 0x<hex>
 *     sbmalloc: <func>(): double free 0x<hex>
 * (the address as printf's %p prints it) to stderr and abort() before the
 * call returns.  Each case runs in a child (tap_expect_abort); every bad
 * call is followed by a marker written to stderr, which must not appear.
 * The bad pointers are made before the fork, so the parent knows the
 * addresses the message must name.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <sbmalloc.h>

#include "../tap.h"

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)
#define MARKER "call returned"

static char static_buffer[256];

static void write_marker(void)
{
	(void)!write(2, MARKER "\n", sizeof MARKER);
}

/* ---- what the children do ---------------------------------------------- */

static void free_once(void *p)
{
	free(p);
	write_marker();
}

static void free_twice(void *p)
{
	free(p);
	free(p);
	write_marker();
}

static void realloc_once(void *p)
{
	void *q = realloc(p, 100);

	write_marker();
	(void)q;
}

/* ---- checking the output ----------------------------------------------- */

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
	CHECK(tap_expect_abort(fn, arg, NULL, out, sizeof out));
	ok = has_line(out, line) || has_line(out, line2);
	if (!ok)
		tap_diag("expected \"%s\"%s%s%s; stderr: %s", line, what2 ? " or \"" : "",
			 what2 ? line2 : "", what2 ? "\"" : "", out);
	CHECK(ok);
	CHECKF(strstr(out, MARKER) == NULL, "the bad call returned before aborting");
}

/* ---- the cases ---------------------------------------------------------- */

TEST(malloc_is_served_by_sbmalloc)
{
	void *p = malloc(64);

	CHECK(p != NULL);
	CHECK(sb_owns(p));
	CHECK(!sb_owns(static_buffer));
	free(p);
}

TEST(free_of_stack_address_aborts_as_invalid_pointer)
{
	char on_stack[64];

	memset(on_stack, 0, sizeof on_stack);
	expect_abort_message(free_once, on_stack + 16, "free", "invalid pointer", NULL,
			     on_stack + 16);
}

TEST(free_of_static_address_aborts_as_invalid_pointer)
{
	expect_abort_message(free_once, static_buffer + 32, "free", "invalid pointer", NULL,
			     static_buffer + 32);
}

TEST(free_of_middle_of_small_object_aborts_as_invalid_pointer)
{
	char *p = malloc(64);

	CHECK(p != NULL);
	expect_abort_message(free_once, p + 16, "free", "invalid pointer", NULL, p + 16);
	free(p);
}

TEST(free_of_misaligned_pointer_into_small_object_aborts_as_invalid_pointer)
{
	char *p = malloc(64);

	CHECK(p != NULL);
	expect_abort_message(free_once, p + 8, "free", "invalid pointer", NULL, p + 8);
	free(p);
}

TEST(free_of_interior_of_page_block_aborts_as_invalid_pointer)
{
	char *p = malloc(64 * KiB);

	CHECK(p != NULL);
	expect_abort_message(free_once, p + 4096, "free", "invalid pointer", NULL, p + 4096);
	free(p);
}

TEST(free_of_interior_of_huge_block_aborts_as_invalid_pointer)
{
	char *p = malloc(8 * MiB);

	CHECK(p != NULL);
	expect_abort_message(free_once, p + MiB, "free", "invalid pointer", NULL, p + MiB);
	free(p);
}

TEST(free_of_foreign_mmap_aborts_as_invalid_pointer)
{
	void *m = mmap(NULL, 64 * KiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	CHECK(m != MAP_FAILED);
	CHECK(!sb_owns(m));
	expect_abort_message(free_once, m, "free", "invalid pointer", NULL, m);
	munmap(m, 64 * KiB);
}

TEST(realloc_of_stack_address_aborts_as_invalid_pointer)
{
	char on_stack[64];

	memset(on_stack, 0, sizeof on_stack);
	expect_abort_message(realloc_once, on_stack, "realloc", "invalid pointer", NULL,
			     on_stack);
}

TEST(double_free_of_32_byte_object_aborts)
{
	void *p = malloc(32);

	CHECK(p != NULL);
	expect_abort_message(free_twice, p, "free", "double free", NULL, p);
}

TEST(double_free_of_100_byte_object_aborts)
{
	void *p = malloc(100);

	CHECK(p != NULL);
	expect_abort_message(free_twice, p, "free", "double free", NULL, p);
}

TEST(double_free_of_page_block_aborts)
{
	void *p = malloc(64 * KiB);

	CHECK(p != NULL);
	expect_abort_message(free_twice, p, "free", "double free", "invalid pointer", p);
}

TEST(double_free_of_huge_block_aborts)
{
	void *p = malloc(8 * MiB);

	CHECK(p != NULL);
	memset(p, 1, 8 * MiB);
	expect_abort_message(free_twice, p, "free", "double free", "invalid pointer", p);
}

/*
 * A double free among live objects of every kind: the second free() must
 * abort before it returns to the caller.
 */
TEST(double_free_among_live_objects_aborts_before_returning)
{
	static const size_t sizes[] = { 16, 32, 48, 100, 1000, 16384, 20 * KiB, 64 * KiB, 5 * MiB };
	enum { NS = sizeof sizes / sizeof sizes[0], PER = 8 };
	unsigned char *objects[NS * PER];
	size_t i;

	for (i = 0; i < NS * PER; i++) {
		objects[i] = malloc(sizes[i % NS]);
		CHECK(objects[i] != NULL);
		memset(objects[i], (int)(i & 0xff), sizes[i % NS]);
	}
	/* The victim is a 32 B object in the middle of the others. */
	expect_abort_message(free_twice, objects[NS * 4 + 1], "free", "double free", NULL,
			     objects[NS * 4 + 1]);
	for (i = 0; i < NS * PER; i++)
		free(objects[i]);
}

static void free_null(void *unused)
{
	(void)unused;
	free(NULL);
	free(NULL);
	free_sized(NULL, 0);
	free_sized(NULL, 100);
	free_aligned_sized(NULL, 64, 128);
	write_marker();
	_exit(0);
}

TEST(free_of_null_does_nothing)
{
	int fds[2], status;
	char out[1024];
	size_t len;
	ssize_t got;
	pid_t pid;

	CHECK(pipe(fds) == 0);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		close(fds[0]);
		dup2(fds[1], 2);
		free_null(NULL);
	}
	close(fds[1]);
	len = 0;
	while (len < sizeof out - 1 &&
	       ((got = read(fds[0], out + len, sizeof out - 1 - len)) > 0 ||
		(got < 0 && errno == EINTR)))
		len += got > 0 ? (size_t)got : 0;
	out[len] = '\0';
	close(fds[0]);
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECKF(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status 0x%x; stderr: %s", status,
	       out);
	CHECKF(strcmp(out, MARKER "\n") == 0, "stderr: %s", out);
}

TEST(malloc_usable_size_of_null_is_zero)
{
	CHECK(malloc_usable_size(NULL) == 0);
}

static const struct tap_case cases[] = {
	TAP_CASE(malloc_is_served_by_sbmalloc)
	TAP_CASE(free_of_stack_address_aborts_as_invalid_pointer)
	TAP_CASE(free_of_static_address_aborts_as_invalid_pointer)
	TAP_CASE(free_of_middle_of_small_object_aborts_as_invalid_pointer)
	TAP_CASE(free_of_misaligned_pointer_into_small_object_aborts_as_invalid_pointer)
	TAP_CASE(free_of_interior_of_page_block_aborts_as_invalid_pointer)
	TAP_CASE(free_of_interior_of_huge_block_aborts_as_invalid_pointer)
	TAP_CASE(free_of_foreign_mmap_aborts_as_invalid_pointer)
	TAP_CASE(realloc_of_stack_address_aborts_as_invalid_pointer)
	TAP_CASE(double_free_of_32_byte_object_aborts)
	TAP_CASE(double_free_of_100_byte_object_aborts)
	TAP_CASE(double_free_of_page_block_aborts)
	TAP_CASE(double_free_of_huge_block_aborts)
	TAP_CASE(double_free_among_live_objects_aborts_before_returning)
	TAP_CASE(free_of_null_does_nothing)
	TAP_CASE(malloc_usable_size_of_null_is_zero)
};

int main(int argc, char **argv)
{
	/* The aborts are expected: no core files. */
	struct rlimit no_core = { 0, 0 };

	setrlimit(RLIMIT_CORE, &no_core);
	return tap_main_many(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
