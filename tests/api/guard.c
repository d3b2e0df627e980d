/*
 * tests/api/guard.c - SBMALLOC_GUARD, sampled guard slots (the kernel's
 * KFENCE).
 *
 * The specification: a pool of 255 slots, each one data page between
 * PROT_NONE guard pages.  A guarded object (a small allocation of up to
 * 4096 bytes) gets the usable size of its size class and is placed at the
 * end of its page (the first one) or at its start (the next), alternately,
 * the rest of the page filled with a pattern.  An access that runs off the
 * object onto a guard page, or any access to a freed slot, faults, and
 * sbmalloc's SIGSEGV handler writes
 *     sbmalloc: out-of-bounds access next to a guarded object: access at <addr>
 *     sbmalloc: use after free of a guarded object: access at <addr>
 *     sbmalloc:   guarded object <ptr> of <n> bytes, ...
 *     sbmalloc:   allocated by thread <tid>:    (and frame lines)
 *     sbmalloc:   freed by thread <tid>:        (a freed object)
 *     sbmalloc:   the access, made by thread <tid>:
 * and aborts (SIGABRT).  A second free is "sbmalloc: free(): double free
 * <ptr>", a write into the page outside the object is found at free:
 * "sbmalloc: free(): out-of-bounds write to guarded object <ptr>".  A fault
 * outside the pool goes to the handler the program had before sbmalloc's
 * constructor ran, or takes the default action.
 *   SBMALLOC_GUARD=1   every small allocation is guarded while slots last
 *   SBMALLOC_GUARD=0   none, and no pool
 *   unset              one allocation in 16384, at most one per 100 ms
 * The statistics summary has guard_slots, guard_live, guard_allocations
 * and guard_reports.
 *
 * sbmalloc reads SBMALLOC_* only at start-up, so each case runs this program
 * again (/proc/self/exe --role NAME ARG, argv[0] the binary's path) with
 * exactly the environment it needs, its stderr in a file of a directory
 * made by mkdtemp.  A role writes what the parent must know ("role:
 * p=0x...") to stderr with write(2) before the bad access, and "role: call
 * returned" after it, which must not appear; a role that finds something
 * wrong itself exits with 3 and says why.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sbmalloc.h>

#include "../tap.h"

extern char **environ;

#define PAGE ((uintptr_t)4096)
#define SLOTS 255
#define RETURNED "role: call returned"
#define DONE "role: done"
#define OWN_HANDLER "role: the program's own SIGSEGV handler"
#define OWN_EXIT 42
#define OWN_ENV "SBTEST_OWN_SEGV"

static const char *const guard1_env[] = { "SBMALLOC_GUARD=1", NULL };

/* ---- The program's own SIGSEGV handler ---------------------------------- */

/*
 * With SBTEST_OWN_SEGV=ctor this program installs a SIGSEGV handler
 * in a constructor of priority 101, with =preinit from .preinit_array, which
 * runs before the constructors of every shared library, sbmalloc's too.
 */
static int segv_taken_at_install = -1;	/* a handler was there already */

static void own_segv(int sig)
{
	(void)!write(2, OWN_HANDLER "\n", sizeof OWN_HANDLER);
	_exit(OWN_EXIT);
}

static void own_segv_info(int sig, siginfo_t *si, void *uctx)
{
	own_segv(sig);
}

static void install_own_segv(int siginfo)
{
	struct sigaction sa, old;

	memset(&sa, 0, sizeof sa);
	sigemptyset(&sa.sa_mask);
	if (siginfo) {
		sa.sa_sigaction = own_segv_info;
		sa.sa_flags = SA_SIGINFO;
	} else {
		sa.sa_handler = own_segv;
	}
	if (sigaction(SIGSEGV, &sa, &old) == 0)
		segv_taken_at_install = (old.sa_flags & SA_SIGINFO) || old.sa_handler != SIG_DFL;
}

static const char *env_in(char **envp, const char *name)
{
	size_t len = strlen(name);

	for (; envp != NULL && *envp != NULL; envp++)
		if (strncmp(*envp, name, len) == 0 && (*envp)[len] == '=')
			return *envp + len + 1;
	return NULL;
}

__attribute__((constructor(101))) static void own_segv_ctor(void)
{
	const char *v = env_in(environ, OWN_ENV);

	if (v != NULL && strcmp(v, "ctor") == 0)
		install_own_segv(0);
}

static void own_segv_preinit(int argc, char **argv, char **envp)
{
	const char *v = env_in(envp, OWN_ENV);

	if (v != NULL && strcmp(v, "preinit") == 0)
		install_own_segv(1);
}

__attribute__((section(".preinit_array"), used))
static void (*preinit_entry)(int, char **, char **) = own_segv_preinit;

/* ---- Files and the running binary -------------------------------------- */

#include "roles.h"

static void setup(void)
{
	roles_setup("guard");
}

/* The value of the summary line "key   N" of a dump, or -1. */
static long long dump_value(const char *text, const char *key)
{
	size_t len = strlen(key);
	const char *at, *v;

	for (at = strstr(text, key); at != NULL; at = strstr(at + 1, key)) {
		if (!(at == text || at[-1] == '\n') || at[len] != ' ')
			continue;
		for (v = at + len; *v == ' '; v++)
			;
		if (*v >= '0' && *v <= '9')
			return strtoll(v, NULL, 10);
	}
	return -1;
}

/*
 * The section "sbmalloc:   <title> by thread N:" of the report in text has
 * at least one frame line, one of them in this binary:
 * "(<path of the test binary>+0x...)".
 */
static int section_ok(const char *text, const char *title, char *why, size_t wlen)
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
	if (!named) {
		snprintf(why, wlen, "no frame of section \"%s\" names %s", title, exe);
		return 0;
	}
	return 1;
}

#define CHECK_SECTION(text, title) do { \
	char why_[512]; \
	CHECKF(section_ok(text, title, why_, sizeof why_), "%s; stderr: %s", why_, text); \
} while (0)

#define CHECK_NO_SECTION(text, title) \
	CHECKF(strstr(text, "sbmalloc:   " title " by thread ") == NULL, \
	       "a section \"" title "\" in the report of a live object: %s", text)

#define CHECK_ABORTED(r) \
	CHECKF(WIFSIGNALED((r).status) && WTERMSIG((r).status) == SIGABRT, \
	       "expected SIGABRT, got %s; stderr: %s", status_text((r).status), (r).err)

#define CHECK_CLEAN(r) do { \
	CHECKF(WIFEXITED((r).status) && WEXITSTATUS((r).status) == 0, \
	       "expected exit 0, got %s; stderr: %s", status_text((r).status), (r).err); \
	CHECKF(strcmp((r).err, DONE "\n") == 0, "stderr holds more than \"" DONE "\": %s", (r).err); \
} while (0)

/*
 * The report in r: the line `first` exactly, then the line "sbmalloc:
 * guarded object P of N bytes[, DETAIL]" (detail NULL: nothing after
 * "bytes"; else the line must end in it), and no "call returned".
 */
static void check_report(const struct run *r, const char *first, const void *p, size_t n,
			 const char *detail)
{
	char want[256], line[1024];
	const char *rest;

	CHECK_ABORTED(*r);
	CHECKF(has_line(r->err, first), "no line \"%s\"; stderr: %s", first, r->err);
	snprintf(want, sizeof want, "sbmalloc:   guarded object %p of %zu bytes", p, n);
	CHECKF(line_starting(r->err, want, line, sizeof line) != NULL,
	       "no line \"%s...\"; stderr: %s", want, r->err);
	rest = line + strlen(want);
	if (detail == NULL)
		CHECKF(*rest == '\0', "the object line goes on: %s", line);
	else
		CHECKF(strncmp(rest, ", ", 2) == 0 && strlen(rest) >= strlen(detail) &&
		       strcmp(rest + strlen(rest) - strlen(detail), detail) == 0,
		       "the object line does not end in \"%s\": %s", detail, line);
	CHECKF(strstr(line_starting(r->err, first, line, sizeof line), want) != NULL,
	       "the object line does not follow the first line: %s", r->err);
	CHECKF(strstr(r->err, RETURNED) == NULL, "the bad access returned: %s", r->err);
}

/* ---- The roles ------------------------------------------------------------ */

static void role_fails(const char *why)
{
	say("role: FAILED: %s\n", why);
	_exit(3);
}

/* Can this process read the byte at p?  A write(2) from it into a pipe
 * fails with EFAULT, rather than faulting, where it cannot. */
static int readable(const void *p)
{
	static int fds[2] = { -1, -1 };
	char c;
	ssize_t n;

	if (fds[0] < 0 && pipe(fds) != 0)
		role_fails("no pipe");
	n = write(fds[1], p, 1);
	if (n == 1 && read(fds[0], &c, 1) != 1)
		role_fails("the pipe lost a byte");
	if (n != 1 && errno != EFAULT)
		role_fails("write to the pipe failed");
	return n == 1;
}

/* A guarded object at the end of its page: the next page is a guard page. */
static int at_page_end(const void *p)
{
	const char *end = (const char *)p + malloc_usable_size((void *)p);

	return (uintptr_t)end % PAGE == 0 && readable(end - 1) && !readable(end);
}

/* A guarded object at the start of its page: the page before is a guard page. */
static int at_page_start(const void *p)
{
	return (uintptr_t)p % PAGE == 0 && readable(p) && !readable((const char *)p - 1);
}

static int guarded(const void *p)
{
	return at_page_end(p) || at_page_start(p);
}

/* A summary value of this process's dump (sb_stats_print into a file of the
 * directory dir), or the role fails. */
static long long my_value(const char *dir, const char *key)
{
	static int seq;
	char path[600], *text;
	long long v;
	int fd;

	snprintf(path, sizeof path, "%s/dump.%d.%d", dir, (int)getpid(), seq++);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		role_fails("cannot write a dump");
	sb_stats_print(fd);
	close(fd);
	text = slurp(path);
	if (text == NULL)
		role_fails("cannot read the dump back");
	v = dump_value(text, key);
	free(text);
	unlink(path);
	if (v < 0) {
		say("role: FAILED: no %s in the dump\n", key);
		_exit(3);
	}
	return v;
}

/* The first guarded object, at the end of its page: one byte past it. */
static int role_past_end(const char *arg)
{
	volatile unsigned char *p = malloc(100);
	size_t u;

	if (p == NULL)
		role_fails("malloc failed");
	u = malloc_usable_size((void *)p);
	say("role: p=%p\nrole: usable=%p\n", (void *)p, (void *)(uintptr_t)u);
	if (!at_page_end((void *)p))
		role_fails("the first guarded object is not at the end of its page");
	memset((void *)p, 0x11, u);
	p[u] = 1;
	say(RETURNED "\n");
	return 0;
}

/* The second guarded object, at the start of its page: one byte before it. */
static int role_before_start(const char *arg)
{
	volatile unsigned char *a = malloc(100), *volatile b = malloc(100);
	unsigned char c;

	if (a == NULL || b == NULL)
		role_fails("malloc failed");
	say("role: p=%p\nrole: usable=%p\n", (void *)b, (void *)(uintptr_t)malloc_usable_size((void *)b));
	if (!at_page_end((void *)a) || !at_page_start((void *)b))
		role_fails("the first two guarded objects are not at the end and at the start of "
			   "their pages");
	c = b[-1];
	say(RETURNED " (read %d)\n", c);
	return 0;
}

/* A read of a freed guarded object. */
static int role_use_after_free(const char *arg)
{
	volatile unsigned char *p = malloc(100);
	unsigned char c;

	if (p == NULL)
		role_fails("malloc failed");
	say("role: p=%p\nrole: usable=%p\n", (void *)p, (void *)(uintptr_t)malloc_usable_size((void *)p));
	if (!at_page_end((void *)p))
		role_fails("the first guarded object is not at the end of its page");
	memset((void *)p, 0x22, 100);
	free((void *)p);
	c = p[10];
	say(RETURNED " (read %d)\n", c);
	return 0;
}

static int role_double_free(const char *arg)
{
	void *p = malloc(100), *q = malloc(200);

	if (p == NULL || q == NULL)
		role_fails("malloc failed");
	say("role: p=%p\nrole: usable=%p\n", p, (void *)(uintptr_t)malloc_usable_size(p));
	if (!at_page_end(p))
		role_fails("the first guarded object is not at the end of its page");
	free(p);
	free(q);
	free(p);
	say(RETURNED "\n");
	return 0;
}

/* A write into the start-placed object's page, past the object. */
static int role_write_in_page(const char *arg)
{
	unsigned char *a = malloc(100), *volatile b = malloc(100);

	if (a == NULL || b == NULL)
		role_fails("malloc failed");
	say("role: p=%p\nrole: usable=%p\n", (void *)b, (void *)(uintptr_t)malloc_usable_size(b));
	if (!at_page_start(b))
		role_fails("the second guarded object is not at the start of its page");
	b[200] = 0x5a;
	free(b);
	say(RETURNED "\n");
	return 0;
}

/* malloc_usable_size, realloc, calloc and sb_owns on guarded objects. */
static int role_api(const char *dir)
{
	unsigned char *p = malloc(100), *q, *c;
	long long live0, live;
	size_t i;

	if (p == NULL)
		role_fails("malloc failed");
	live0 = my_value(dir, "guard_live");
	if (!at_page_end(p))
		role_fails("malloc(100) is not a guarded object at the end of its page");
	if (!sb_owns(p))
		role_fails("sb_owns() is 0 for a guarded object");
	if (malloc_usable_size(p) != 112) {
		say("role: FAILED: malloc_usable_size %zu for a guarded malloc(100), not 112 "
		    "(its class's)\n", malloc_usable_size(p));
		_exit(3);
	}
	for (i = 0; i < 112; i++)
		p[i] = (unsigned char)(i * 3 + 1);
	q = realloc(p, 5000);
	if (q == NULL || q == p)
		role_fails("realloc to 5000 bytes did not move the guarded object");
	for (i = 0; i < 112; i++)
		if (q[i] != (unsigned char)(i * 3 + 1))
			role_fails("realloc to 5000 bytes lost the contents");
	if (malloc_usable_size(q) < 5000)
		role_fails("realloc to 5000 bytes made a smaller block");
	memset(q, 0x77, 5000);
	live = my_value(dir, "guard_live");
	if (live != live0 - 1) {
		say("role: FAILED: guard_live %lld before realloc to 5000 bytes, %lld after\n",
		    live0, live);
		_exit(3);
	}
	/* A dirty guarded slot freed first: calloc must still give zeroes. */
	p = malloc(300);
	if (p == NULL)
		role_fails("malloc failed");
	memset(p, 0xff, malloc_usable_size(p));
	free(p);
	c = calloc(10, 30);
	if (c == NULL)
		role_fails("calloc failed");
	if (!guarded(c))
		role_fails("calloc(10, 30) is not a guarded object");
	if (!sb_owns(c))
		role_fails("sb_owns() is 0 for a guarded calloc object");
	if (malloc_usable_size(c) != 320) {
		say("role: FAILED: malloc_usable_size %zu for a guarded calloc(10, 30), not 320\n",
		    malloc_usable_size(c));
		_exit(3);
	}
	for (i = 0; i < 300; i++)
		if (c[i] != 0)
			role_fails("calloc of a guarded object is not zeroed");
	memset(c, 0x33, 320);
	/* Shrinking and growing within the guarded size range keeps the data. */
	p = realloc(c, 2000);
	if (p == NULL)
		role_fails("realloc to 2000 bytes failed");
	for (i = 0; i < 300; i++)
		if (p[i] != 0x33)
			role_fails("realloc to 2000 bytes lost the contents");
	free(p);
	free(q);
	if (my_value(dir, "guard_live") != live0 - 1) {
		say("role: FAILED: guard_live %lld at the end, %lld at the start with one more "
		    "object\n", my_value(dir, "guard_live"), live0);
		_exit(3);
	}
	say(DONE "\n");
	return 0;
}

/* 255 live guarded objects, then more allocations. */
static int role_exhaust(const char *dir)
{
	static unsigned char *p[SLOTS + 100];
	long long live0 = my_value(dir, "guard_live"), allocs, v;
	uintptr_t lo = UINTPTR_MAX, hi = 0, pg;
	size_t i, nguarded = SLOTS - (size_t)live0, j;

	for (i = 0; i < SLOTS + 100; i++) {
		p[i] = malloc(100);
		if (p[i] == NULL)
			role_fails("malloc failed");
		memset(p[i], (int)i, 100);
	}
	for (i = 0; i < nguarded; i++) {
		/* at the end of the page and at its start, in turns */
		int end = i == 0 ? at_page_end(p[0]) : !at_page_end(p[i - 1]);

		if (!(end ? at_page_end(p[i]) : at_page_start(p[i]))) {
			say("role: FAILED: allocation %zu (%p) of the first %zu is not a guarded "
			    "object at the %s of its page\n", i, (void *)p[i], nguarded,
			    end ? "end" : "start");
			_exit(3);
		}
		pg = (uintptr_t)p[i] & ~(PAGE - 1);
		lo = pg < lo ? pg : lo;
		hi = pg > hi ? pg : hi;
	}
	v = my_value(dir, "guard_live");
	if (v != SLOTS) {
		say("role: FAILED: guard_live %lld with every slot in use\n", v);
		_exit(3);
	}
	allocs = my_value(dir, "guard_allocations");
	/* The pool, as far as these objects show it: its data pages and the
	 * guard pages around them. */
	lo -= PAGE;
	hi += 2 * PAGE;
	for (i = nguarded; i < SLOTS + 100; i++) {
		if (!sb_owns(p[i])) {
			say("role: FAILED: sb_owns(%p) = 0 for allocation %zu\n", (void *)p[i], i);
			_exit(3);
		}
		if (guarded(p[i]) || ((uintptr_t)p[i] >= lo && (uintptr_t)p[i] < hi)) {
			say("role: FAILED: allocation %zu (%p) is in the full pool [%p, %p)\n", i,
			    (void *)p[i], (void *)lo, (void *)hi);
			_exit(3);
		}
		memset(p[i], 0xab, malloc_usable_size(p[i]));
		memset(p[i], (int)i, 100);
	}
	v = my_value(dir, "guard_live");
	if (v != SLOTS || my_value(dir, "guard_allocations") != allocs) {
		say("role: FAILED: guard_live %lld, guard_allocations %lld then %lld after 100 "
		    "allocations with no slot free\n", v, allocs,
		    my_value(dir, "guard_allocations"));
		_exit(3);
	}
	for (i = 0; i < SLOTS + 100; i++)
		for (j = 0; j < 100; j++)
			if (p[i][j] != (unsigned char)i) {
				say("role: FAILED: object %zu (%p) lost its contents\n", i, (void *)p[i]);
				_exit(3);
			}
	for (i = 0; i < SLOTS + 100; i++)
		free(p[i]);
	v = my_value(dir, "guard_live");
	if (v != live0) {
		say("role: FAILED: guard_live %lld after every free, %lld at the start\n", v, live0);
		_exit(3);
	}
	/* The slots are free again: guarded objects once more. */
	p[0] = malloc(64);
	if (p[0] == NULL || !guarded(p[0]))
		role_fails("no guarded object after the slots were freed");
	free(p[0]);
	say(DONE "\n");
	return 0;
}

static int *volatile null_pointer;

/* A fault outside the pool: a read through NULL.  arg "guard": a guarded
 * overflow instead, with the same handlers in place. */
static int role_segv(const char *arg)
{
	int v;

	say("role: handler before this program's=%d\n", segv_taken_at_install);
	if (strcmp(arg, "guard") == 0)
		return role_past_end(arg);
	v = *null_pointer;
	say(RETURNED " (read %d)\n", v);
	return 0;
}

/* Allocations of every small size: freed and made again in a ring, and
 * one in ten kept to the end (so that well over one sampling period of
 * objects comes into the thread from its slabs, whatever the magazines
 * hold); `arg` operations, with a short sleep every 1000 (more than 100 ms
 * in all), then the dump to the file arg2 (after the comma in arg). */
static int role_churn(const char *arg)
{
	static void *ring[4096];
	const char *comma = strchr(arg, ',');
	long ops = atol(arg), i, nkept = 0;
	uint64_t rng = 99;
	void **kept;
	int fd;

	if (comma == NULL)
		role_fails("bad argument");
	kept = malloc(sizeof(*kept) * (size_t)(ops / 10 + 1));
	if (kept == NULL)
		role_fails("malloc failed");
	for (i = 0; i < ops; i++) {
		uint64_t x = tap_rng_next(&rng);
		size_t k = (size_t)(x % 4096), n = 1 + (size_t)(x >> 40) % 4096;

		free(ring[k]);
		ring[k] = malloc(n);
		if (ring[k] == NULL)
			role_fails("malloc failed");
		memset(ring[k], 1, n < 64 ? n : 64);
		if (i % 10 == 9 && (kept[nkept++] = malloc(n % 256 + 1)) == NULL)
			role_fails("malloc failed");
		if (i % 1000 == 999)
			usleep(1000);
	}
	fd = open(comma + 1, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		role_fails("cannot write the dump");
	sb_stats_print(fd);
	close(fd);
	for (i = 0; i < 4096; i++)
		free(ring[i]);
	while (nkept > 0)
		free(kept[--nkept]);
	free(kept);
	say(DONE "\n");
	return 0;
}

/* k guarded allocations of several sizes, then the dump to the file arg
 * (and at exit, to stderr, when SBMALLOC_STATS=1). */
static int role_count(const char *arg)
{
	static const size_t sizes[] = { 1, 16, 24, 100, 500, 1000, 2048, 4000, 4096, 64 };
	void *p[40];
	size_t i;
	int fd;

	for (i = 0; i < 40; i++) {
		p[i] = malloc(sizes[i % 10]);
		if (p[i] == NULL)
			role_fails("malloc failed");
		if (!guarded(p[i])) {
			say("role: FAILED: malloc(%zu) = %p is not a guarded object\n", sizes[i % 10],
			    p[i]);
			_exit(3);
		}
	}
	fd = open(arg, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		role_fails("cannot write the dump");
	sb_stats_print(fd);
	close(fd);
	for (i = 0; i < 40; i += 2)
		free(p[i]);
	return 0;
}

/* A guarded allocation in a new thread. */
static void *thread_alloc(void *arg)
{
	void **out = arg;

	*out = malloc(100);
	return NULL;
}

static int role_thread(const char *dir)
{
	long long live0 = my_value(dir, "guard_live"), live;
	pthread_t t;
	void *p = NULL;

	if (pthread_create(&t, NULL, thread_alloc, &p) != 0 || pthread_join(t, NULL) != 0)
		role_fails("no thread");
	if (p == NULL)
		role_fails("malloc failed in the thread");
	live = my_value(dir, "guard_live");
	if (!guarded(p)) {
		say("role: FAILED: malloc(100) in a new thread = %p is not a guarded object "
		    "(guard_live %lld before the thread, %lld after)\n", p, live0, live);
		_exit(3);
	}
	free(p);
	say(DONE "\n");
	return 0;
}

static int run_role(const char *role, const char *arg)
{
	if (strcmp(role, "past_end") == 0)
		return role_past_end(arg);
	if (strcmp(role, "before_start") == 0)
		return role_before_start(arg);
	if (strcmp(role, "use_after_free") == 0)
		return role_use_after_free(arg);
	if (strcmp(role, "double_free") == 0)
		return role_double_free(arg);
	if (strcmp(role, "write_in_page") == 0)
		return role_write_in_page(arg);
	if (strcmp(role, "api") == 0)
		return role_api(arg);
	if (strcmp(role, "exhaust") == 0)
		return role_exhaust(arg);
	if (strcmp(role, "segv") == 0)
		return role_segv(arg);
	if (strcmp(role, "churn") == 0)
		return role_churn(arg);
	if (strcmp(role, "count") == 0)
		return role_count(arg);
	if (strcmp(role, "thread") == 0)
		return role_thread(arg);
	say("role: no role %s\n", role);
	return 2;
}

/* ---- Tests ---------------------------------------------------------------- */

static size_t role_usable_size(const struct run *r)
{
	return (size_t)(uintptr_t)role_value(r->err, "usable");
}

TEST(write_past_the_end_of_a_guarded_object_is_reported_at_the_access)
{
	char first[256];
	struct run r;
	char *p;
	size_t u;

	setup();
	spawn_role("past_end", "", guard1_env, &r);
	p = role_value(r.err, "p");
	u = role_usable_size(&r);
	CHECKF(u == 112, "malloc_usable_size of a guarded malloc(100) is %zu, not its class's 112", u);
	snprintf(first, sizeof first,
		 "sbmalloc: out-of-bounds access next to a guarded object: access at %p", p + u);
	check_report(&r, first, p, u, "bytes past its start: 112");
	CHECK_SECTION(r.err, "allocated");
	CHECK_NO_SECTION(r.err, "freed");
	CHECK_SECTION(r.err, "the access, made");
	teardown();
}

TEST(read_before_the_start_of_a_guarded_object_is_reported_at_the_access)
{
	char first[256];
	struct run r;
	char *p;

	setup();
	spawn_role("before_start", "", guard1_env, &r);
	p = role_value(r.err, "p");
	snprintf(first, sizeof first,
		 "sbmalloc: out-of-bounds access next to a guarded object: access at %p", p - 1);
	check_report(&r, first, p, role_usable_size(&r), "bytes before it: 1");
	CHECK_SECTION(r.err, "allocated");
	CHECK_NO_SECTION(r.err, "freed");
	CHECK_SECTION(r.err, "the access, made");
	teardown();
}

TEST(read_of_a_freed_guarded_object_is_reported_as_use_after_free)
{
	char first[256];
	struct run r;
	char *p;

	setup();
	spawn_role("use_after_free", "", guard1_env, &r);
	p = role_value(r.err, "p");
	snprintf(first, sizeof first, "sbmalloc: use after free of a guarded object: access at %p",
		 p + 10);
	check_report(&r, first, p, role_usable_size(&r), "access at offset 10");
	CHECK_SECTION(r.err, "allocated");
	CHECK_SECTION(r.err, "freed");
	CHECK_SECTION(r.err, "the access, made");
	teardown();
}

TEST(double_free_of_a_guarded_object_is_reported_with_its_stacks)
{
	char first[256];
	struct run r;
	char *p;

	setup();
	spawn_role("double_free", "", guard1_env, &r);
	p = role_value(r.err, "p");
	snprintf(first, sizeof first, "sbmalloc: free(): double free %p", p);
	check_report(&r, first, p, role_usable_size(&r), NULL);
	CHECK_SECTION(r.err, "allocated");
	CHECK_SECTION(r.err, "freed");
	CHECK_SECTION(r.err, "this call, made");
	teardown();
}

TEST(write_into_the_page_outside_a_guarded_object_is_reported_at_free)
{
	char first[256];
	struct run r;
	char *p;

	setup();
	spawn_role("write_in_page", "", guard1_env, &r);
	p = role_value(r.err, "p");
	CHECKF(role_usable_size(&r) == 112, "usable size %zu", role_usable_size(&r));
	snprintf(first, sizeof first, "sbmalloc: free(): out-of-bounds write to guarded object %p", p);
	check_report(&r, first, p, 112, "first damaged byte at page offset 200");
	CHECK_SECTION(r.err, "allocated");
	CHECK_NO_SECTION(r.err, "freed");
	CHECK_SECTION(r.err, "this call, made");
	teardown();
}

TEST(usable_size_realloc_calloc_and_sb_owns_work_on_guarded_objects)
{
	struct run r;

	setup();
	spawn_role("api", tmpdir, guard1_env, &r);
	CHECK_CLEAN(r);
	teardown();
}

TEST(with_every_slot_in_use_allocations_go_on_outside_the_pool)
{
	struct run r;

	setup();
	spawn_role("exhaust", tmpdir, guard1_env, &r);
	CHECK_CLEAN(r);
	teardown();
}

/* A fault outside the pool in a program without a handler: the default
 * action, as without sbmalloc. */
TEST(segfault_outside_the_pool_takes_the_default_action)
{
	static const char *const *const envs[] = { guard1_env, NULL };
	struct run r;
	unsigned e;

	setup();
	for (e = 0; e < 2; e++) {
		spawn_role("segv", "null", envs[e], &r);
		tap_diag("%s: %s", envs[e] ? envs[e][0] : "SBMALLOC_GUARD unset",
			 status_text(r.status));
		CHECKF(WIFSIGNALED(r.status) && WTERMSIG(r.status) == SIGSEGV,
		       "expected death by SIGSEGV, got %s; stderr: %s", status_text(r.status), r.err);
		CHECKF(strstr(r.err, "sbmalloc") == NULL, "sbmalloc wrote: %s", r.err);
		free(r.err);
	}
	teardown();
}

/* A program with its own SIGSEGV handler, from a constructor of priority
 * 101: that handler gets the fault. */
TEST(segfault_outside_the_pool_reaches_the_handler_of_a_constructor)
{
	static const char *const env[] = { "SBMALLOC_GUARD=1", OWN_ENV "=ctor", NULL };
	struct run r;

	setup();
	spawn_role("segv", "null", env, &r);
	tap_diag("%s", strstr(r.err, "role: handler before this program's=1") ?
		 "a SIGSEGV handler (sbmalloc's) was in place when the constructor ran" :
		 "no SIGSEGV handler was in place when the constructor ran");
	CHECKF(WIFEXITED(r.status) && WEXITSTATUS(r.status) == OWN_EXIT,
	       "expected exit %d from the program's handler, got %s; stderr: %s", OWN_EXIT,
	       status_text(r.status), r.err);
	CHECKF(strstr(r.err, OWN_HANDLER "\n") != NULL, "stderr: %s", r.err);
	CHECKF(strstr(r.err, "sbmalloc") == NULL, "sbmalloc wrote: %s", r.err);
	teardown();
}

/* The same handler installed from .preinit_array, surely before sbmalloc's
 * constructor: sbmalloc passes it the faults outside the pool, and still
 * reports those in the pool itself. */
TEST(segfault_outside_the_pool_reaches_the_handler_installed_before_sbmalloc)
{
	static const char *const env[] = { "SBMALLOC_GUARD=1", OWN_ENV "=preinit", NULL };
	char first[256];
	struct run r;
	char *p;

	setup();
	spawn_role("segv", "null", env, &r);
	CHECKF(strstr(r.err, "role: handler before this program's=0") != NULL,
	       "the handler from .preinit_array was not the first: %s", r.err);
	CHECKF(WIFEXITED(r.status) && WEXITSTATUS(r.status) == OWN_EXIT,
	       "expected exit %d from the program's handler, got %s; stderr: %s", OWN_EXIT,
	       status_text(r.status), r.err);
	CHECKF(strstr(r.err, OWN_HANDLER "\n") != NULL, "stderr: %s", r.err);
	CHECKF(strstr(r.err, "sbmalloc") == NULL, "sbmalloc wrote: %s", r.err);
	free(r.err);
	spawn_role("segv", "guard", env, &r);
	p = role_value(r.err, "p");
	snprintf(first, sizeof first,
		 "sbmalloc: out-of-bounds access next to a guarded object: access at %p",
		 p + role_usable_size(&r));
	check_report(&r, first, p, role_usable_size(&r), "bytes past its start: 112");
	CHECKF(strstr(r.err, OWN_HANDLER) == NULL, "the program's handler got a fault in the pool: "
	       "%s", r.err);
	teardown();
}

TEST(SBMALLOC_GUARD_0_guards_nothing)
{
	static const char *const env[] = { "SBMALLOC_GUARD=0", NULL };
	char arg[700], *text;
	struct run r;

	setup();
	snprintf(arg, sizeof arg, "20000,%s/dump", tmpdir);
	spawn_role("churn", arg, env, &r);
	CHECK_CLEAN(r);
	text = slurp(strchr(arg, ',') + 1);
	CHECK(text != NULL);
	CHECKF(dump_value(text, "guard_slots") == 0, "guard_slots %lld", dump_value(text, "guard_slots"));
	CHECKF(dump_value(text, "guard_allocations") == 0, "guard_allocations %lld",
	       dump_value(text, "guard_allocations"));
	CHECKF(dump_value(text, "guard_live") == 0, "guard_live %lld", dump_value(text, "guard_live"));
	teardown();
}

/* Unset: a pool, and a sample now and then in a program that allocates for
 * more than 100 ms. */
TEST(SBMALLOC_GUARD_unset_samples_now_and_then)
{
	char arg[700], *text;
	struct run r;

	setup();
	snprintf(arg, sizeof arg, "200000,%s/dump", tmpdir);
	spawn_role("churn", arg, NULL, &r);
	CHECK_CLEAN(r);
	text = slurp(strchr(arg, ',') + 1);
	CHECK(text != NULL);
	tap_diag("guard_allocations %lld, guard_live %lld", dump_value(text, "guard_allocations"),
		 dump_value(text, "guard_live"));
	CHECKF(dump_value(text, "guard_slots") == SLOTS, "guard_slots %lld",
	       dump_value(text, "guard_slots"));
	CHECKF(dump_value(text, "guard_allocations") >= 1, "guard_allocations %lld after 200000 "
	       "allocations", dump_value(text, "guard_allocations"));
	teardown();
}

/* 40 guarded allocations show in the summary, by sb_stats_print and by
 * SBMALLOC_STATS=1 at exit. */
TEST(guarded_allocations_are_counted)
{
	static const char *const env[] = { "SBMALLOC_GUARD=1", "SBMALLOC_STATS=1", NULL };
	char path[700], *text;
	struct run r;

	setup();
	snprintf(path, sizeof path, "%s/dump", tmpdir);
	spawn_role("count", path, guard1_env, &r);
	CHECKF(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0, "got %s; stderr: %s",
	       status_text(r.status), r.err);
	text = slurp(path);
	CHECK(text != NULL);
	CHECKF(dump_value(text, "guard_slots") == SLOTS, "guard_slots %lld",
	       dump_value(text, "guard_slots"));
	CHECKF(dump_value(text, "guard_allocations") >= 40, "guard_allocations %lld after 40",
	       dump_value(text, "guard_allocations"));
	CHECKF(dump_value(text, "guard_live") >= 40, "guard_live %lld with 40 live",
	       dump_value(text, "guard_live"));
	CHECKF(dump_value(text, "guard_reports") == 0, "guard_reports %lld",
	       dump_value(text, "guard_reports"));
	free(text);
	free(r.err);
	spawn_role("count", path, env, &r);
	CHECKF(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0, "got %s; stderr: %s",
	       status_text(r.status), r.err);
	CHECKF(dump_value(r.err, "guard_allocations") >= 40, "guard_allocations %lld in the dump "
	       "at exit; stderr: %.300s", dump_value(r.err, "guard_allocations"), r.err);
	CHECKF(dump_value(r.err, "guard_live") >= 20, "guard_live %lld at exit with 20 live",
	       dump_value(r.err, "guard_live"));
	teardown();
}

/* SBMALLOC_GUARD=1 guards every small allocation, a new thread's too. */
TEST(SBMALLOC_GUARD_1_guards_allocations_of_other_threads)
{
	struct run r;

	setup();
	spawn_role("thread", tmpdir, guard1_env, &r);
	CHECK_CLEAN(r);
	teardown();
}

static const struct tap_case cases[] = {
	TAP_CASE(write_past_the_end_of_a_guarded_object_is_reported_at_the_access)
	TAP_CASE(read_before_the_start_of_a_guarded_object_is_reported_at_the_access)
	TAP_CASE(read_of_a_freed_guarded_object_is_reported_as_use_after_free)
	TAP_CASE(double_free_of_a_guarded_object_is_reported_with_its_stacks)
	TAP_CASE(write_into_the_page_outside_a_guarded_object_is_reported_at_free)
	TAP_CASE(usable_size_realloc_calloc_and_sb_owns_work_on_guarded_objects)
	TAP_CASE(with_every_slot_in_use_allocations_go_on_outside_the_pool)
	TAP_CASE(segfault_outside_the_pool_takes_the_default_action)
	TAP_CASE(segfault_outside_the_pool_reaches_the_handler_of_a_constructor)
	TAP_CASE(segfault_outside_the_pool_reaches_the_handler_installed_before_sbmalloc)
	TAP_CASE(SBMALLOC_GUARD_0_guards_nothing)
	TAP_CASE(SBMALLOC_GUARD_unset_samples_now_and_then)
	TAP_CASE(guarded_allocations_are_counted)
	TAP_CASE(SBMALLOC_GUARD_1_guards_allocations_of_other_threads)
};

int main(int argc, char **argv)
{
	if (argc >= 3 && strcmp(argv[1], "--role") == 0)
		return run_role(argv[2], argc >= 4 ? argv[3] : "");
	return tap_main_many(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
