/*
 * tests/system/stats_pair.c - a known heap, and two dumps of one state of
 * it, for the shell tests of the statistics (stats_tools.sh, huge_pages.sh).
 *
 *     stats_pair [--no-thp] [--huge MIB] DIR
 *
 * Builds the heap: 1000 live objects of 100 bytes, a realloc, a calloc, a
 * dedicated cache "pair_cache" holding 100 objects and, with --huge, a
 * block of MIB MiB with every page written and a freed 8 MiB block (so
 * that the cache of freed huge blocks is not empty).  Then, with no
 * allocation between them, writes DIR/rollup (a copy of
 * /proc/self/smaps_rollup), DIR/text (sb_stats_print) and DIR/json
 * (sb_stats_print_json): two dumps of the same state.
 *
 * --no-thp: the process runs with prctl(PR_SET_THP_DISABLE) from its
 * start (set, then this program executed again), so the kernel gives it no
 * transparent huge page whatever sbmalloc asks for.
 *
 * Exit status 0, or 1 with the reason on stderr.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <sbmalloc.h>

#ifndef PR_SET_THP_DISABLE
#define PR_SET_THP_DISABLE 41
#endif

static void *keep[1200];

static int fail(const char *what)
{
	fprintf(stderr, "stats_pair: %s: %s\n", what, strerror(errno));
	return 1;
}

/* Copy /proc/self/smaps_rollup to path, through a stack buffer. */
static int copy_rollup(const char *path)
{
	char buf[8192];
	int in = open("/proc/self/smaps_rollup", O_RDONLY | O_CLOEXEC);
	int out = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	ssize_t n;

	if (in < 0 || out < 0)
		return -1;
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n)
			return -1;
	close(in);
	return close(out);
}

static int dump_to(const char *path, void (*print)(int fd))
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd < 0)
		return -1;
	print(fd);
	return close(fd);
}

/* Fault in the stack the dumps will use, so that neither dump sees the
 * resident set grow under it. */
static void __attribute__((noinline)) touch_stack(void)
{
	volatile char pad[128 << 10];
	size_t i;

	for (i = 0; i < sizeof(pad); i += 4096)
		pad[i] = 0;
}

int main(int argc, char **argv)
{
	char rollup[1024], text[1024], json[1024];
	size_t huge_mib = 0, i;
	const char *dir;
	sb_cache_t *cache;
	char *big, *freed;
	int a = 1;

	if (a < argc && strcmp(argv[a], "--no-thp") == 0) {
		if (prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0) != 0)
			return fail("prctl(PR_SET_THP_DISABLE)");
		argv[a] = argv[0];
		execv("/proc/self/exe", argv + a);
		return fail("execv");
	}
	if (a + 1 < argc && strcmp(argv[a], "--huge") == 0) {
		huge_mib = strtoul(argv[a + 1], NULL, 10);
		a += 2;
	}
	if (a + 1 != argc) {
		fprintf(stderr, "usage: stats_pair [--no-thp] [--huge MIB] DIR\n");
		return 2;
	}
	dir = argv[a];
	snprintf(rollup, sizeof(rollup), "%s/rollup", dir);
	snprintf(text, sizeof(text), "%s/text", dir);
	snprintf(json, sizeof(json), "%s/json", dir);

	for (i = 0; i < 1000; i++)
		if ((keep[i] = malloc(100)) == NULL)
			return fail("malloc");
	keep[999] = realloc(keep[999], 3000);
	keep[1000] = calloc(10, 10);
	cache = sb_cache_create("pair_cache", 40, 0, NULL, NULL, NULL);
	if (cache == NULL || keep[999] == NULL || keep[1000] == NULL)
		return fail("sb_cache_create, realloc or calloc");
	for (i = 0; i < 100; i++)
		if ((keep[1001 + i] = sb_cache_alloc(cache)) == NULL)
			return fail("sb_cache_alloc");
	if (huge_mib != 0) {
		big = malloc(huge_mib << 20);
		freed = malloc(8 << 20);
		if (big == NULL || freed == NULL)
			return fail("malloc of the huge blocks");
		for (i = 0; i < huge_mib << 20; i += 4096)
			big[i] = 1;
		memset(freed, 1, 8 << 20);
		free(freed);
	}
	touch_stack();
	if (copy_rollup(rollup) != 0)
		return fail(rollup);
	if (dump_to(text, sb_stats_print) != 0)
		return fail(text);
	if (dump_to(json, sb_stats_print_json) != 0)
		return fail(json);
	return 0;
}
