/*
 * tests/api/slab_debug.c - SBMALLOC_CHECK=1, the kernel's slab_debug.
 *
 * The specification of what sbmalloc does for small objects (up to 16 KiB)
 * when SBMALLOC_CHECK=1 is in the environment at start-up:
 *   red zone  every object is followed by at least 16 bytes; an object
 *             handed out for n bytes has [n, slot) filled and checked when
 *             it is freed, and malloc_usable_size() says n;
 *   poison    a freed object is filled with 0xdf, checked when the object
 *             is next handed out: a write after free is reported then;
 *   tracks    per object, the stacks of its last allocation and free,
 *             printed in every report.
 * A report is
 *     sbmalloc: <func>(): <kind> <ptr>
 *     sbmalloc:   object <ptr> of <n> bytes in cache <name> (slot of <s> bytes)[, ... at offset <k>]
 *     sbmalloc:   allocated by thread <tid>:
 *     sbmalloc:     #<i> <pc> [in <sym>] (<file>+<off>)
 *     sbmalloc:   freed by thread <tid>:            (when it was freed)
 *     sbmalloc:   this call, made by thread <tid>:
 * and then abort().  Kinds: "red zone overwritten", "write after free to
 * object", "double free", "invalid pointer" (a slot never handed out).
 *
 * sbmalloc reads SBMALLOC_* only at start-up, so each case runs this program
 * again (/proc/self/exe --role NAME ARG, argv[0] the path of the binary, as
 * when it is started by its full path) with exactly the environment it
 * needs, its stdout and stderr in files of a directory made by mkdtemp.
 * The cases that damage one particular object also set SBMALLOC_GUARD=0,
 * so that the default guard sampling never makes it a guarded object (which
 * has guard pages instead of a red zone, tests/api/guard.c);
 * usable_size_is_the_size_asked_for_with_SBMALLOC_CHECK_alone and the
 * random mix run with SBMALLOC_CHECK=1 alone.
 * A role writes what the parent must know ("role: p=0x...") to stderr
 * with write(2) before the bad call, and "role: call returned" after it,
 * which must not appear.  A role that finds something wrong itself exits
 * with 3 and says why.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sbmalloc.h>

#include "../tap.h"

extern char **environ;

#define RETURNED "role: call returned"
#define DONE "role: done"

/* The red zone cases run without guard sampling (SBMALLOC_GUARD=0), so that
 * the object they damage is never one of the sampled guarded objects (which
 * have no red zone but guard pages: tests/api/guard.c); the cases that
 * need no particular object run with SBMALLOC_CHECK=1 alone. */
static const char *const check_env[] = { "SBMALLOC_CHECK=1", "SBMALLOC_GUARD=0", NULL };
static const char *const check_only_env[] = { "SBMALLOC_CHECK=1", NULL };

/* ---- Files and the running binary -------------------------------------- */

#include "roles.h"

static void setup(void)
{
	roles_setup("slab-debug");
}

/*
 * The section "sbmalloc:   <title> by thread N:" of the report in text has
 * at least one frame, and (if names_exe) a frame line in this binary:
 * "(<path of the test binary>+0x...)".
 */
static int section_ok(const char *text, const char *title, int names_exe, char *why, size_t wlen)
{
	char prefix[128], line[1024], want[PATH_MAX + 8];
	const char *at, *s;
	unsigned long tid;
	int frames = 0, named = 0;

	snprintf(prefix, sizeof prefix, "sbmalloc:   %s by thread ", title);
	at = line_starting(text, prefix, line, sizeof line);
	if (at == NULL) {
		snprintf(why, wlen, "no line \"%s<tid>:\"", prefix);
		return 0;
	}
	if (sscanf(line + strlen(prefix), "%lu", &tid) != 1 || tid == 0 ||
	    line[strlen(line) - 1] != ':') {
		snprintf(why, wlen, "bad section header \"%s\"", line);
		return 0;
	}
	snprintf(want, sizeof want, "(%s+0x", exe);
	for (s = strchr(at, '\n'); s != NULL && strncmp(s + 1, "sbmalloc:     #", 15) == 0;
	     s = strchr(s + 1, '\n')) {
		const char *nl = strchr(s + 1, '\n');
		size_t n = nl ? (size_t)(nl - s - 1) : strlen(s + 1);
		char num[24];
		unsigned idx;

		if (n >= sizeof line)
			n = sizeof line - 1;
		memcpy(line, s + 1, n);
		line[n] = '\0';
		snprintf(num, sizeof num, "#%d ", frames);
		if (sscanf(line, "sbmalloc:     #%u 0x", &idx) != 1 || strstr(line, num) == NULL) {
			snprintf(why, wlen, "bad frame line \"%s\"", line);
			return 0;
		}
		frames++;
		named |= strstr(line, want) != NULL;
	}
	if (frames == 0) {
		snprintf(why, wlen, "section \"%s\" has no frame line", title);
		return 0;
	}
	if (names_exe && !named) {
		snprintf(why, wlen, "no frame of section \"%s\" names %s", title, exe);
		return 0;
	}
	return 1;
}

#define CHECK_SECTION(text, title, names_exe) do { \
	char why_[512]; \
	CHECKF(section_ok(text, title, names_exe, why_, sizeof why_), "%s; stderr: %s", why_, text); \
} while (0)

#define CHECK_ABORTED(r) \
	CHECKF(WIFSIGNALED((r).status) && WTERMSIG((r).status) == SIGABRT, \
	       "expected SIGABRT, got %s; stderr: %s", status_text((r).status), (r).err)

#define CHECK_CLEAN(r) do { \
	CHECKF(WIFEXITED((r).status) && WEXITSTATUS((r).status) == 0, \
	       "expected exit 0, got %s; stderr: %s", status_text((r).status), (r).err); \
	CHECKF(strcmp((r).err, DONE "\n") == 0, "stderr holds more than \"" DONE "\": %s", (r).err); \
} while (0)

/*
 * The report in r: the first line "sbmalloc: FUNC(): KIND P", the object
 * line "sbmalloc:   object P[ of N bytes] in cache NAME (slot of S bytes)
 * [, ... at offset K]" (n < 0: without " of N bytes"; detail NULL: no
 * detail, else the detail must end in "at offset K"), and the role never
 * got past the bad call.
 */
static void check_report(const struct run *r, const char *func, const char *kind, const void *p,
			 long n, const char *detail, long k)
{
	char want[256], prefix[256], line[1024], tail[128];
	unsigned long slot;
	const char *rest;

	CHECK_ABORTED(*r);
	snprintf(want, sizeof want, "sbmalloc: %s(): %s %p", func, kind, p);
	CHECKF(has_line(r->err, want), "no line \"%s\"; stderr: %s", want, r->err);
	if (n >= 0)
		snprintf(prefix, sizeof prefix, "sbmalloc:   object %p of %ld bytes in cache ", p, n);
	else
		snprintf(prefix, sizeof prefix, "sbmalloc:   object %p in cache ", p);
	CHECKF(line_starting(r->err, prefix, line, sizeof line) != NULL,
	       "no object line \"%s...\"; stderr: %s", prefix, r->err);
	rest = strstr(line, " (slot of ");
	CHECKF(rest != NULL && sscanf(rest, " (slot of %lu bytes)", &slot) == 1,
	       "object line without its slot size: %s", line);
	CHECKF(n < 0 || slot >= (unsigned long)n + 16, "a slot of %lu bytes for an object of %ld: "
	       "less than 16 bytes of red zone", slot, n);
	if (detail != NULL) {
		snprintf(tail, sizeof tail, "at offset %ld", k);
		CHECKF(strstr(line, detail) != NULL && strlen(line) > strlen(tail) &&
		       strcmp(line + strlen(line) - strlen(tail), tail) == 0,
		       "object line without \"%s ... %s\": %s", detail, tail, line);
	} else {
		CHECKF(strchr(rest, ',') == NULL, "object line with an unexpected detail: %s", line);
	}
	CHECKF(strstr(r->err, RETURNED) == NULL, "the bad call returned: %s", r->err);
}

/* ---- The roles ------------------------------------------------------------ */

static void role_fails(const char *why)
{
	say("role: FAILED: %s\n", why);
	_exit(3);
}

static void *xmalloc(size_t n)
{
	void *p = malloc(n);

	if (p == NULL)
		role_fails("malloc failed");
	return p;
}

/* Two objects of size bytes, b the next object in memory after a. */
static void neighbours(size_t size, char **a, char **b)
{
	char *q[32];
	size_t i, j;
	ptrdiff_t best = PTRDIFF_MAX;

	for (i = 0; i < 32; i++)
		q[i] = xmalloc(size);
	for (i = 0; i < 32; i++)
		for (j = 0; j < 32; j++)
			if (q[j] > q[i] && q[j] - q[i] < best) {
				best = q[j] - q[i];
				*a = q[i];
				*b = q[j];
			}
	if (best > (ptrdiff_t)(2 * size + 64))
		role_fails("no two objects next to each other");
	say("role: gap=%p\n", (void *)(uintptr_t)best);
}

/* 16 bytes past a 24-byte object, whose neighbour must keep its contents. */
static int role_overflow16(const char *arg)
{
	char *a, *b;
	size_t i;

	neighbours(24, &a, &b);
	memset(b, 0x5a, 24);
	memset(a, 0x11, 24);
	memset(a + 24, 0x44, 16);	/* the overflow */
	for (i = 0; i < 24; i++)
		if ((unsigned char)b[i] != 0x5a) {
			say("role: neighbour %p damaged at byte %zu\n", (void *)b, i);
			break;
		}
	if (i == 24)
		say("role: neighbour intact\n");
	say("role: p=%p\n", (void *)a);
	free(a);
	say(RETURNED "\n");
	if (strcmp(arg, "quiet") == 0) {
		/* Without SBMALLOC_CHECK: the program goes on. */
		say(DONE "\n");
		return 0;
	}
	return 0;
}

static void ctor_fill(void *obj, void *arg)
{
	memset(obj, 0x3c, (size_t)(uintptr_t)arg);
}

/*
 * One byte past the end of an object of n bytes, then its free.  arg is
 * "KIND:N" or "KIND:ALIGN:N"; kinds malloc, calloc, realloc (grown from 20
 * bytes), memalign (posix_memalign), aligned (aligned_alloc), cache and
 * cachector (sb_cache_create, without and with a constructor), and far
 * (malloc, the 16th byte past the end).
 */
static int role_past(const char *arg)
{
	char kind[32];
	size_t n = 0, align = 0, i;
	unsigned char *p = NULL;
	sb_cache_t *c = NULL;

	if (sscanf(arg, "%31[a-z]:%zu:%zu", kind, &align, &n) != 3) {
		align = 0;
		if (sscanf(arg, "%31[a-z]:%zu", kind, &n) != 2)
			role_fails("bad argument");
	}
	if (strcmp(kind, "malloc") == 0 || strcmp(kind, "far") == 0) {
		p = xmalloc(n);
	} else if (strcmp(kind, "calloc") == 0) {
		p = calloc(1, n);
		for (i = 0; p != NULL && i < n; i++)
			if (p[i] != 0)
				role_fails("calloc memory not zeroed");
	} else if (strcmp(kind, "realloc") == 0) {
		p = xmalloc(20);
		memset(p, 0x61, 20);
		p = realloc(p, n);
		for (i = 0; p != NULL && i < 20; i++)
			if (p[i] != 0x61)
				role_fails("realloc lost the contents");
	} else if (strcmp(kind, "memalign") == 0) {
		void *v = NULL;

		if (posix_memalign(&v, align, n) != 0)
			role_fails("posix_memalign failed");
		p = v;
	} else if (strcmp(kind, "aligned") == 0) {
		p = aligned_alloc(align, n);
	} else if (strcmp(kind, "cache") == 0 || strcmp(kind, "cachector") == 0) {
		int ctor = strcmp(kind, "cachector") == 0;

		c = sb_cache_create(ctor ? "dbg_ctor" : "dbg_plain", n, 0, ctor ? ctor_fill : NULL,
				    NULL, (void *)(uintptr_t)n);
		if (c == NULL)
			role_fails("sb_cache_create failed");
		p = sb_cache_alloc(c);
		for (i = 0; ctor && p != NULL && i < n; i++)
			if (p[i] != 0x3c)
				role_fails("object not constructed");
	} else {
		role_fails("bad kind");
	}
	if (p == NULL)
		role_fails("no object");
	if (align != 0 && (uintptr_t)p % align != 0)
		role_fails("object not aligned");
	memset(p, 0x27, n);
	say("role: p=%p\n", (void *)p);
	if (strcmp(kind, "far") == 0)
		p[n + 15] = 0x99;
	else
		p[n] = 0x99;
	if (c != NULL)
		sb_cache_free(c, p);
	else
		free(p);
	say(RETURNED "\n");
	return 0;
}

/*
 * Every byte of the usable size written, for every size and several
 * functions: no report; the usable size is the size asked for.  arg
 * "plain": malloc, calloc, realloc; "aligned": posix_memalign (64).  The
 * sizes come in an order that mixes small and large ones (two rounds of a
 * permutation of 1..16384), so that any sampled allocation (the default
 * SBMALLOC_GUARD) falls on a small size.
 */
static int role_usable(const char *arg)
{
	int aligned = strcmp(arg, "aligned") == 0;
	size_t n, u, i;
	unsigned char *p;

	for (i = 0; i < 2 * 16384; i++) {
		int how = aligned ? 2 : i % 3 == 2 ? 3 : (int)(i % 3);

		n = 1 + (i * 7919) % 16384;
		if (how == 0) {
			p = xmalloc(n);
		} else if (how == 1) {
			p = calloc(n, 1);
		} else if (how == 2) {
			void *v = NULL;

			if (posix_memalign(&v, 64, n) != 0 || (uintptr_t)v % 64 != 0)
				role_fails("posix_memalign failed");
			p = v;
		} else {
			p = xmalloc(n / 2 + 1);
			u = malloc_usable_size(p);
			if (u != n / 2 + 1) {
				say("role: FAILED: malloc_usable_size %zu for %zu bytes from malloc "
				    "(allocation %zu)\n", u, n / 2 + 1, i);
				_exit(3);
			}
			memset(p, 0xe1, u);
			p = realloc(p, n);
		}
		if (p == NULL)
			role_fails("no object");
		u = malloc_usable_size(p);
		if (u != n) {
			say("role: FAILED: malloc_usable_size %zu for %zu bytes from %s (allocation %zu)\n",
			    u, n, how == 0 ? "malloc" : how == 1 ? "calloc" : how == 2 ?
			    "posix_memalign(64)" : "realloc", i);
			_exit(3);
		}
		memset(p, 0xe1, u);
		free(p);
	}
	say(DONE "\n");
	return 0;
}

/* A write after free, then allocations until the object comes back. */
static int role_uaf(const char *arg)
{
	int use_calloc = strcmp(arg, "calloc") == 0;
	unsigned char *p = xmalloc(40), *q;
	long i;

	memset(p, 0x12, 40);
	free(p);
	p[5] = 0x34;	/* the write after free */
	say("role: p=%p\n", (void *)p);
	for (i = 0; i < 200000; i++) {
		q = use_calloc ? calloc(1, 40) : malloc(40);
		if (q == NULL)
			role_fails("no object");
		if (q == p) {
			say("role: the object was handed out again without a report\n");
			_exit(4);
		}
	}
	say("role: the object never came back\n");
	_exit(5);
}

/* A double free, with other frees between. */
static int role_double(const char *arg)
{
	void *keep = xmalloc(40), *p = xmalloc(40), *o[20];
	int i;

	for (i = 0; i < 20; i++)
		o[i] = xmalloc(i % 2 ? 40 : 100);
	free(p);
	for (i = 0; i < 20; i++)
		free(o[i]);
	say("role: p=%p\n", p);
	free(p);
	say(RETURNED "\n");
	(void)keep;
	return 0;
}

/* The free of a slot never handed out: the slot after the second of two
 * objects allocated one after the other, next to each other, of a size
 * class nobody else uses (objects come out of a slab lowest first). */
static int role_never(const char *arg)
{
	char *a = xmalloc(700), *b;
	int i;

	for (i = 0; i < 64; i++, a = b) {
		b = xmalloc(700);
		if (b > a && b - a <= 2 * 700)
			break;
	}
	if (i == 64)
		role_fails("no two objects next to each other");
	say("role: p=%p\n", (void *)(b + (b - a)));
	free(b + (b - a));
	say(RETURNED "\n");
	return 0;
}

/* Random malloc/calloc/realloc/free of every small size, every object
 * filled and checked. */
#define MIX_SLOTS 2048
static int role_mix(const char *arg)
{
	static struct { unsigned char *p; size_t n; unsigned char v; } s[MIX_SLOTS];
	uint64_t rng = 12345;
	long op, ops = atol(arg);
	size_t i, k;

	for (op = 0; op < ops; op++) {
		uint64_t x = tap_rng_next(&rng);
		unsigned what = (unsigned)(x % 100);
		size_t n, r = (size_t)(x >> 32);
		unsigned char v = (unsigned char)(x >> 24) | 1;


		k = (size_t)(x >> 8) % MIX_SLOTS;
		n = r % 10 < 5 ? 1 + r / 16 % 256 : r % 10 < 8 ? 1 + r / 16 % 2048 : 1 + r / 16 % 16384;
		if (s[k].p != NULL) {
			for (i = 0; i < s[k].n; i++)
				if (s[k].p[i] != s[k].v) {
					say("role: FAILED: object %p of %zu bytes lost byte %zu\n",
					    (void *)s[k].p, s[k].n, i);
					_exit(3);
				}
			if (what < 30) {
				unsigned char *q = realloc(s[k].p, n);

				if (q == NULL)
					role_fails("realloc failed");
				for (i = 0; i < n && i < s[k].n; i++)
					if (q[i] != s[k].v)
						role_fails("realloc lost the contents");
				s[k].p = q;
			} else {
				free(s[k].p);
				s[k].p = NULL;
				continue;
			}
		} else if (what < 50) {
			s[k].p = calloc(1, n);
			for (i = 0; s[k].p != NULL && i < n; i++)
				if (s[k].p[i] != 0)
					role_fails("calloc memory not zeroed");
		} else {
			s[k].p = malloc(n);
		}
		if (s[k].p == NULL)
			role_fails("allocation failed");
		s[k].n = n;
		s[k].v = v;
		memset(s[k].p, v, n);
	}
	for (k = 0; k < MIX_SLOTS; k++)
		free(s[k].p);
	say(DONE "\n");
	return 0;
}

static int run_role(const char *role, const char *arg)
{
	if (strcmp(role, "overflow16") == 0)
		return role_overflow16(arg);
	if (strcmp(role, "past") == 0)
		return role_past(arg);
	if (strcmp(role, "usable") == 0)
		return role_usable(arg);
	if (strcmp(role, "uaf") == 0)
		return role_uaf(arg);
	if (strcmp(role, "double") == 0)
		return role_double(arg);
	if (strcmp(role, "never") == 0)
		return role_never(arg);
	if (strcmp(role, "mix") == 0)
		return role_mix(arg);
	say("role: no role %s\n", role);
	return 2;
}

/* ---- Tests ---------------------------------------------------------------- */

/* 16 bytes written past a 24-byte object land in its red zone: its free
 * reports them, and the next object in memory keeps its contents. */
TEST(overflow_of_16_bytes_is_reported_at_free_and_spares_the_next_object)
{
	struct run r;
	void *p;

	setup();
	spawn_role("overflow16", "", check_env, &r);
	CHECKF(strstr(r.err, "role: neighbour intact\n") != NULL,
	       "the overflow reached the next object; stderr: %s", r.err);
	p = role_value(r.err, "p");
	check_report(&r, "free", "red zone overwritten", p, 24, "first damaged byte", 24);
	CHECKF(strstr(r.err, ", first damaged byte at offset 24\n") != NULL,
	       "no \", first damaged byte at offset 24\"; stderr: %s", r.err);
	CHECK_SECTION(r.err, "allocated", 1);
	CHECK_SECTION(r.err, "this call, made", 1);
	teardown();
}

/* Writes one byte past the end of an object made as `arg` says (role_past)
 * and checks the report of its free. */
static void expect_past_end_caught(const char *arg, const char *func, long n, long offset)
{
	struct run r;
	void *p;

	spawn_role("past", arg, check_env, &r);
	tap_diag("%s: %s", arg, status_text(r.status));
	p = role_value(r.err, "p");
	check_report(&r, func, "red zone overwritten", p, n, "first damaged byte", offset);
	CHECK_SECTION(r.err, "allocated", 1);
	CHECK_SECTION(r.err, "this call, made", 1);
	free(r.err);
}

/* Each case of cases (arg, func, size, offset) in a child of its own, so
 * that every failing one is named; then fail if any did. */
struct past_case {
	const char *arg, *func;
	long n, offset;
};

static void expect_all_past_end_caught(const struct past_case *c, size_t n)
{
	size_t i, failed = 0;
	int status;

	for (i = 0; i < n; i++) {
		pid_t pid;

		fflush(stdout);
		pid = fork();
		CHECK(pid >= 0);
		if (pid == 0) {
			expect_past_end_caught(c[i].arg, c[i].func, c[i].n, c[i].offset);
			_exit(0);
		}
		CHECK(waitpid(pid, &status, 0) == pid);
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			tap_diag("FAILED: %s", c[i].arg);
			failed++;
		}
	}
	CHECKF(failed == 0, "%zu of %zu cases failed", failed, n);
}

#define NCASES(a) (sizeof(a) / sizeof((a)[0]))

TEST(one_byte_past_the_end_is_caught_for_every_size)
{
	static const struct past_case c[] = {
		{ "malloc:1", "free", 1, 1 }, { "malloc:16", "free", 16, 16 },
		{ "malloc:24", "free", 24, 24 }, { "malloc:100", "free", 100, 100 },
		{ "malloc:1000", "free", 1000, 1000 }, { "malloc:4096", "free", 4096, 4096 },
		{ "malloc:5000", "free", 5000, 5000 }, { "malloc:16384", "free", 16384, 16384 },
	};

	setup();
	expect_all_past_end_caught(c, NCASES(c));
	teardown();
}

/* Objects whose size is their class's: the red zone is still 16 bytes. */
TEST(the_16th_byte_past_the_end_is_caught)
{
	static const struct past_case c[] = {
		{ "far:16", "free", 16, 31 }, { "far:64", "free", 64, 79 },
		{ "far:512", "free", 512, 527 }, { "far:4096", "free", 4096, 4111 },
		{ "far:16384", "free", 16384, 16399 },
	};

	setup();
	expect_all_past_end_caught(c, NCASES(c));
	teardown();
}

TEST(one_byte_past_a_calloc_object_is_caught)
{
	static const struct past_case c[] = {
		{ "calloc:50", "free", 50, 50 },
		{ "calloc:3000", "free", 3000, 3000 },
	};

	setup();
	expect_all_past_end_caught(c, NCASES(c));
	teardown();
}

TEST(one_byte_past_a_realloc_grown_object_is_caught)
{
	static const struct past_case c[] = {
		{ "realloc:60", "free", 60, 60 },
		{ "realloc:300", "free", 300, 300 },
		{ "realloc:9000", "free", 9000, 9000 },
	};

	setup();
	expect_all_past_end_caught(c, NCASES(c));
	teardown();
}

TEST(one_byte_past_an_aligned_object_is_caught)
{
	static const struct past_case c[] = {
		{ "memalign:64:100", "free", 100, 100 },
		{ "memalign:32:40", "free", 40, 40 },
		{ "memalign:64:48", "free", 48, 48 },
		{ "aligned:256:200", "free", 200, 200 },
		{ "aligned:32:32", "free", 32, 32 },
	};

	setup();
	expect_all_past_end_caught(c, NCASES(c));
	teardown();
}

TEST(one_byte_past_a_cache_object_is_caught)
{
	static const struct past_case c[] = {
		{ "cache:48", "sb_cache_free", 48, 48 },
		{ "cachector:48", "sb_cache_free", 48, 48 },
		{ "cache:1024", "sb_cache_free", 1024, 1024 },
		{ "cachector:1024", "sb_cache_free", 1024, 1024 },
	};

	setup();
	expect_all_past_end_caught(c, NCASES(c));
	teardown();
}

/* A cache made for 40 bytes hands out objects of 40 bytes: byte 40 is past
 * the end, as it is for malloc(40). */
TEST(one_byte_past_a_cache_object_of_an_unaligned_size_is_caught)
{
	static const struct past_case c[] = {
		{ "cache:40", "sb_cache_free", 40, 40 },
		{ "cachector:40", "sb_cache_free", 40, 40 },
	};

	setup();
	expect_all_past_end_caught(c, NCASES(c));
	teardown();
}

/* malloc_usable_size() is the size asked for, and all of it is usable. */
TEST(writing_the_whole_usable_size_is_never_reported)
{
	struct run r;

	setup();
	spawn_role("usable", "plain", check_env, &r);
	CHECK_CLEAN(r);
	teardown();
}

/* The same with SBMALLOC_CHECK=1 alone, where the default guard sampling
 * is on: every object, sampled or not, has the size asked for. */
TEST(usable_size_is_the_size_asked_for_with_SBMALLOC_CHECK_alone)
{
	struct run r;

	setup();
	spawn_role("usable", "plain", check_only_env, &r);
	CHECK_CLEAN(r);
	teardown();
}

/* The same for posix_memalign(64, n), n from 1 to 16 KiB: small objects. */
TEST(writing_the_whole_usable_size_of_aligned_objects_is_never_reported)
{
	struct run r;

	setup();
	spawn_role("usable", "aligned", check_env, &r);
	CHECK_CLEAN(r);
	teardown();
}

static void expect_write_after_free(const char *func)
{
	struct run r;
	void *p;

	spawn_role("uaf", func, check_env, &r);
	CHECKF(!WIFEXITED(r.status) || WEXITSTATUS(r.status) != 4,
	       "the object written after free was handed out again without a report: %s", r.err);
	p = role_value(r.err, "p");
	check_report(&r, func, "write after free to object", p, 40, "after free", 5);
	CHECK_SECTION(r.err, "allocated", 1);
	CHECK_SECTION(r.err, "freed", 1);
	CHECK_SECTION(r.err, "this call, made", 1);
}

TEST(write_after_free_is_reported_when_malloc_hands_the_object_out_again)
{
	setup();
	expect_write_after_free("malloc");
	teardown();
}

TEST(write_after_free_is_reported_when_calloc_hands_the_object_out_again)
{
	setup();
	expect_write_after_free("calloc");
	teardown();
}

TEST(double_free_after_other_frees_is_reported_with_both_stacks)
{
	struct run r;
	void *p;

	setup();
	spawn_role("double", "", check_env, &r);
	p = role_value(r.err, "p");
	check_report(&r, "free", "double free", p, 40, NULL, 0);
	CHECK_SECTION(r.err, "allocated", 1);
	CHECK_SECTION(r.err, "freed", 1);
	CHECK_SECTION(r.err, "this call, made", 1);
	teardown();
}

TEST(free_of_a_slot_never_handed_out_is_an_invalid_pointer)
{
	struct run r;
	void *p;

	setup();
	spawn_role("never", "", check_env, &r);
	p = role_value(r.err, "p");
	check_report(&r, "free", "invalid pointer", p, -1, NULL, 0);
	CHECKF(strstr(r.err, "sbmalloc:   allocated by") == NULL &&
	       strstr(r.err, "sbmalloc:   freed by") == NULL,
	       "stacks of an allocation or a free of a slot never handed out: %s", r.err);
	CHECK_SECTION(r.err, "this call, made", 1);
	teardown();
}

/* Every stack of every report starts in this program (the caller of malloc
 * or free), and its frames name the binary's path. */
TEST(every_report_has_stacks_that_name_the_test_program)
{
	static const char *const roles[][2] = {
		{ "overflow16", "" }, { "past", "calloc:70" }, { "uaf", "malloc" },
		{ "double", "" }, { "never", "" },
	};
	struct run r;
	size_t i;

	setup();
	for (i = 0; i < sizeof roles / sizeof roles[0]; i++) {
		spawn_role(roles[i][0], roles[i][1], check_env, &r);
		CHECK_ABORTED(r);
		tap_diag("%s %s", roles[i][0], roles[i][1]);
		if (strcmp(roles[i][0], "never") != 0)
			CHECK_SECTION(r.err, "allocated", 1);
		if (strcmp(roles[i][0], "uaf") == 0 || strcmp(roles[i][0], "double") == 0)
			CHECK_SECTION(r.err, "freed", 1);
		CHECK_SECTION(r.err, "this call, made", 1);
		free(r.err);
	}
	teardown();
}

/* A correct program of random allocations of every small size runs to its
 * end under SBMALLOC_CHECK=1, with its data intact: no false positive. */
TEST(random_mix_of_every_small_size_runs_clean)
{
	struct run r;

	setup();
	spawn_role("mix", "150000", check_only_env, &r);
	CHECK_CLEAN(r);
	teardown();
}

/* Without SBMALLOC_CHECK there are no red zones: the same overflow goes
 * unreported at free and the program runs on (it damages whatever lies
 * next, unseen). */
TEST(without_SBMALLOC_CHECK_the_overflow_is_not_reported)
{
	struct run r;

	setup();
	spawn_role("overflow16", "quiet", NULL, &r);
	CHECKF(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0, "expected exit 0, got %s; "
	       "stderr: %s", status_text(r.status), r.err);
	CHECKF(strstr(r.err, "sbmalloc") == NULL, "a report without SBMALLOC_CHECK: %s", r.err);
	CHECKF(strstr(r.err, RETURNED "\n" DONE "\n") != NULL, "the free did not return: %s", r.err);
	tap_diag("%s", strstr(r.err, "intact") ? "the next object was not damaged"
						: "the next object was damaged");
	teardown();
}

/* Without SBMALLOC_CHECK, malloc_usable_size() is the class's size; with
 * it, the size asked for (role usable fails at once otherwise). */
TEST(without_SBMALLOC_CHECK_the_usable_size_is_the_class_size)
{
	void *p = malloc(24);

	CHECK(p != NULL);
	if (getenv("SBMALLOC_CHECK") != NULL)
		tap_skip("SBMALLOC_CHECK is set for the test program itself");
	CHECKF(malloc_usable_size(p) == 32, "malloc_usable_size(malloc(24)) = %zu",
	       malloc_usable_size(p));
	free(p);
}

static const struct tap_case cases[] = {
	TAP_CASE(overflow_of_16_bytes_is_reported_at_free_and_spares_the_next_object)
	TAP_CASE(one_byte_past_the_end_is_caught_for_every_size)
	TAP_CASE(the_16th_byte_past_the_end_is_caught)
	TAP_CASE(one_byte_past_a_calloc_object_is_caught)
	TAP_CASE(one_byte_past_a_realloc_grown_object_is_caught)
	TAP_CASE(one_byte_past_an_aligned_object_is_caught)
	TAP_CASE(one_byte_past_a_cache_object_is_caught)
	TAP_CASE(one_byte_past_a_cache_object_of_an_unaligned_size_is_caught)
	TAP_CASE(writing_the_whole_usable_size_is_never_reported)
	TAP_CASE(usable_size_is_the_size_asked_for_with_SBMALLOC_CHECK_alone)
	TAP_CASE(writing_the_whole_usable_size_of_aligned_objects_is_never_reported)
	TAP_CASE(write_after_free_is_reported_when_malloc_hands_the_object_out_again)
	TAP_CASE(write_after_free_is_reported_when_calloc_hands_the_object_out_again)
	TAP_CASE(double_free_after_other_frees_is_reported_with_both_stacks)
	TAP_CASE(free_of_a_slot_never_handed_out_is_an_invalid_pointer)
	TAP_CASE(every_report_has_stacks_that_name_the_test_program)
	TAP_CASE(random_mix_of_every_small_size_runs_clean)
	TAP_CASE(without_SBMALLOC_CHECK_the_overflow_is_not_reported)
	TAP_CASE(without_SBMALLOC_CHECK_the_usable_size_is_the_class_size)
};

int main(int argc, char **argv)
{
	if (argc >= 3 && strcmp(argv[1], "--role") == 0)
		return run_role(argv[2], argc >= 4 ? argv[3] : "");
	return tap_main_many(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
