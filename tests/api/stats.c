/*
 * tests/api/stats.c - sbmalloc's statistics: the dump's layout and its sums, what
 * it shows of a known heap, every way of getting one, and its JSON form
 * (its head and end, escaped names, SBMALLOC_STATS_FORMAT=json; python
 * checks the rest, in tests/system/stats_tools.sh).
 *
 * The counters of calls are always kept and exact when the threads are
 * quiet: the tests of the counts look at sb_ctl's figures around known
 * calls in this process.  The tests that need a particular environment
 * (SBMALLOC_STATS, SBMALLOC_STATS_SIGNAL) run this program again
 * (/proc/self/exe --role NAME ...) with exactly that environment and look at
 * what it wrote.  The slabinfo and buddyinfo sections need no environment:
 * sb_stats_print() to a file shows them in this process.
 *
 * Every file goes to a directory made by mkdtemp under $TMPDIR (or /tmp) and
 * removed at the end of the test.
 */
#include "../tap.h"

#include <dirent.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>

#include <sbmalloc.h>

extern char **environ;

#define PAGE 4096u
#define NR_ORDERS 11
#define REGION_BYTES (32ul << 20)
/* A spawned role that runs longer than this is killed: a failure. */
#define ROLE_TIMEOUT 60

/* ---- Parsing a dump ------------------------------------------------------ */

static const char slabinfo_header[] = "slabinfo - version: 2.1";
static const char slabinfo_columns[] =
	"# name            <active_objs> <num_objs> <objsize> <objperslab> "
	"<pagesperslab> : tunables <limit> <batchcount> <sharedfactor> : "
	"slabdata <active_slabs> <num_slabs> <sharedavail>";

struct row {
	char name[64];
	unsigned long active_objs, num_objs, objsize, objperslab, pagesperslab;
	unsigned long limit, batchcount, sharedfactor;
	unsigned long active_slabs, num_slabs, sharedavail;
};

struct region {
	unsigned long index;
	char backing[16];
	unsigned long nr_free[NR_ORDERS];
};

struct kv {
	char key[48];
	char val[32];
};

struct dump {
	struct row rows[128];
	int nrows;
	struct region regions[256];
	int nregions;
	char version[32];
	long pid;
	int counters_on;
	struct kv kvs[128];
	int nkvs;
	char err[256];
};

/* Every key the summary must have. */
static const char *const summary_keys[] = {
	"handed_out_bytes", "live_bytes", "mapped_bytes", "mapped_bytes_peak",
	"regions", "slab_bytes", "buddy_free_bytes", "resident_bytes",
	"huge_page_share_pct", "thp_bytes", "hugetlb_bytes", "hugetlb_regions", "thp_regions",
	"huge_blocks", "huge_cached_bytes",
	"huge_blocks_bytes", "magazine_hit_pct", "depot_exchanges",
	"malloc", "malloc_magazine", "malloc_depot", "malloc_slab", "malloc_page_cache",
	"malloc_buddy", "malloc_huge", "malloc_guarded", "free", "free_magazine", "free_depot", "free_slab", "free_remote",
	"free_page_cache", "free_buddy", "free_huge", "free_guarded", "realloc", "calloc",
};

/* The next line of *text (without its newline) in line; 0 at the end. */
static int next_line(const char **text, char *line, size_t size)
{
	const char *s = *text, *nl;
	size_t n;

	if (*s == '\0')
		return 0;
	nl = strchr(s, '\n');
	n = nl ? (size_t)(nl - s) : strlen(s);
	if (n >= size)
		n = size - 1;
	memcpy(line, s, n);
	line[n] = '\0';
	*text = nl ? nl + 1 : s + strlen(s);
	return 1;
}

static int blank(const char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	return *s == '\0';
}

#define PARSE_FAIL(...) do { snprintf(d->err, sizeof(d->err), __VA_ARGS__); return -1; } while (0)

/*
 * Parse one whole dump (and nothing else) from text into d: 0, or -1 with
 * the reason in d->err.  A dump cut short fails: the summary must have every
 * key of summary_keys.
 */
static int parse_dump(const char *text, struct dump *d)
{
	char line[1024];
	size_t i;
	int n;

	memset(d, 0, sizeof(*d));
	d->counters_on = -1;
	if (*text == '\0' || text[strlen(text) - 1] != '\n')
		PARSE_FAIL("empty, or the last line is cut short");
	if (!next_line(&text, line, sizeof(line)) || strcmp(line, slabinfo_header) != 0)
		PARSE_FAIL("first line is not \"%s\"", slabinfo_header);
	if (!next_line(&text, line, sizeof(line)) || strcmp(line, slabinfo_columns) != 0)
		PARSE_FAIL("second line is not the slabinfo 2.1 column header: \"%s\"", line);
	for (;;) {
		struct row *r = &d->rows[d->nrows];

		if (!next_line(&text, line, sizeof(line)))
			PARSE_FAIL("the dump ends in the slabinfo section");
		if (blank(line))
			break;
		if (d->nrows == (int)(sizeof(d->rows) / sizeof(d->rows[0])))
			PARSE_FAIL("too many slabinfo rows");
		n = -1;
		sscanf(line, "%63s %lu %lu %lu %lu %lu : tunables %lu %lu %lu : slabdata %lu %lu %lu%n",
		       r->name, &r->active_objs, &r->num_objs, &r->objsize, &r->objperslab,
		       &r->pagesperslab, &r->limit, &r->batchcount, &r->sharedfactor,
		       &r->active_slabs, &r->num_slabs, &r->sharedavail, &n);
		if (n < 0 || !blank(line + n))
			PARSE_FAIL("not a slabinfo row: \"%s\"", line);
		d->nrows++;
	}
	if (!next_line(&text, line, sizeof(line)) || strcmp(line, "buddyinfo") != 0)
		PARSE_FAIL("no buddyinfo section after slabinfo: \"%s\"", line);
	for (;;) {
		struct region *g = &d->regions[d->nregions];
		const char *p;
		int k;

		if (!next_line(&text, line, sizeof(line)))
			PARSE_FAIL("the dump ends in the buddyinfo section");
		if (blank(line))
			break;
		if (d->nregions == (int)(sizeof(d->regions) / sizeof(d->regions[0])))
			PARSE_FAIL("too many buddyinfo rows");
		n = -1;
		sscanf(line, "Region %lu, backing %15s%n", &g->index, g->backing, &n);
		if (n < 0)
			PARSE_FAIL("not a buddyinfo row: \"%s\"", line);
		p = line + n;
		for (k = 0; k < NR_ORDERS; k++) {
			int m = -1;

			sscanf(p, " %lu%n", &g->nr_free[k], &m);
			if (m < 0)
				PARSE_FAIL("buddyinfo row with %d free counts, not %d: \"%s\"", k,
					   NR_ORDERS, line);
			p += m;
		}
		if (!blank(p))
			PARSE_FAIL("buddyinfo row with more than %d free counts: \"%s\"", NR_ORDERS, line);
		d->nregions++;
	}
	if (!next_line(&text, line, sizeof(line)))
		PARSE_FAIL("no summary section");
	{
		char onoff[8] = "";

		n = -1;
		sscanf(line, "summary - sbmalloc %31[^,], pid %ld, counters %7[a-z]%n", d->version,
		       &d->pid, onoff, &n);
		if (n < 0)
			PARSE_FAIL("not a summary header: \"%s\"", line);
		if (strcmp(onoff, "on") == 0)
			d->counters_on = 1;
		else if (strcmp(onoff, "off") == 0)
			d->counters_on = 0;
		else
			PARSE_FAIL("counters neither on nor off: \"%s\"", line);
	}
	while (next_line(&text, line, sizeof(line))) {
		struct kv *e = &d->kvs[d->nkvs];

		if (d->nkvs == (int)(sizeof(d->kvs) / sizeof(d->kvs[0])))
			PARSE_FAIL("too many summary lines");
		n = -1;
		sscanf(line, "%47[a-z0-9_] %31[0-9.]%n", e->key, e->val, &n);
		if (n < 0 || !blank(line + n))
			PARSE_FAIL("not a summary line \"key value\": \"%s\"", line);
		d->nkvs++;
	}
	for (i = 0; i < sizeof(summary_keys) / sizeof(summary_keys[0]); i++) {
		int k, found = 0;

		for (k = 0; k < d->nkvs; k++)
			found |= strcmp(d->kvs[k].key, summary_keys[i]) == 0;
		if (!found)
			PARSE_FAIL("summary has no %s", summary_keys[i]);
	}
	return 0;
}

static const char *value(const struct dump *d, const char *key)
{
	int k;

	for (k = 0; k < d->nkvs; k++)
		if (strcmp(d->kvs[k].key, key) == 0)
			return d->kvs[k].val;
	tap_diag("summary has no %s", key);
	return NULL;
}

static uint64_t num(const struct dump *d, const char *key)
{
	const char *v = value(d, key);

	CHECK(v != NULL);
	return strtoull(v, NULL, 10);
}

/* Hundredths of a percentage such as "12.34". */
static uint64_t pct100(const struct dump *d, const char *key)
{
	const char *v = value(d, key);
	unsigned long whole = 0, frac = 0;

	CHECK(v != NULL);
	CHECK(sscanf(v, "%lu.%2lu", &whole, &frac) == 2);
	return whole * 100 + frac;
}

static const struct row *row_named(const struct dump *d, const char *name)
{
	int i;

	for (i = 0; i < d->nrows; i++)
		if (strcmp(d->rows[i].name, name) == 0)
			return &d->rows[i];
	return NULL;
}

/* ---- Files --------------------------------------------------------------- */

/* The whole file, NUL-terminated, in memory from malloc; NULL if absent. */
static char *slurp(const char *path)
{
	size_t len = 0, cap = 1 << 16;
	char *buf = malloc(cap);
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	CHECK(buf != NULL);
	if (fd < 0) {
		free(buf);
		return NULL;
	}
	for (;;) {
		ssize_t n;

		if (cap - len < 4096) {
			cap *= 2;
			buf = realloc(buf, cap);
			CHECK(buf != NULL);
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		CHECK(n >= 0);
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	return buf;
}

/* Parse the file at path, which must hold exactly one dump. */
static void load_dump(const char *path, struct dump *d)
{
	char *text = slurp(path);

	CHECKF(text != NULL, "no file %s", path);
	CHECKF(parse_dump(text, d) == 0, "%s: %s", path, d->err);
	free(text);
}

static char tmpdir[512];

static void make_tmpdir(void)
{
	const char *t = getenv("TMPDIR");

	snprintf(tmpdir, sizeof(tmpdir), "%s/sbmalloc-stats.XXXXXX", t && *t ? t : "/tmp");
	CHECK(mkdtemp(tmpdir) != NULL);
}

static void remove_tmpdir(void)
{
	DIR *dir = opendir(tmpdir);
	struct dirent *e;
	char path[1024];

	if (dir == NULL)
		return;
	while ((e = readdir(dir)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", tmpdir, e->d_name);
		unlink(path);
	}
	closedir(dir);
	rmdir(tmpdir);
}

static int count_files(const char *prefix)
{
	DIR *dir = opendir(tmpdir);
	struct dirent *e;
	int n = 0;

	CHECK(dir != NULL);
	while ((e = readdir(dir)) != NULL)
		n += strncmp(e->d_name, prefix, strlen(prefix)) == 0;
	closedir(dir);
	return n;
}

/* sb_stats_print() of this process into a file, parsed. */
static void dump_self(struct dump *d)
{
	char path[600];
	int fd;

	snprintf(path, sizeof(path), "%s/self", tmpdir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	CHECK(fd >= 0);
	sb_stats_print(fd);
	close(fd);
	load_dump(path, d);
}

/* ---- Running a role in a fresh process ---------------------------------- */

/*
 * Run this program as `--role ROLE ARG` with the environment of this one
 * less every SBMALLOC_STATS* variable, plus env (NULL-terminated "K=V"
 * strings), stderr to stderr_path (if not NULL); return its pid in *pidp
 * and its wait status.
 */
static int spawn_role(const char *role, const char *arg, const char *const *env,
		      const char *stderr_path, pid_t *pidp)
{
	char *envp[512];
	int n = 0, status, waited;
	char **e;
	pid_t pid;

	for (e = environ; *e != NULL && n < 500; e++)
		if (strncmp(*e, "SBMALLOC_STATS", 14) != 0)
			envp[n++] = *e;
	for (; env != NULL && *env != NULL; env++)
		envp[n++] = (char *)*env;
	envp[n] = NULL;
	fflush(stdout);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		char *argv[] = { "test_stats", "--role", (char *)role, (char *)arg, NULL };

		if (stderr_path != NULL) {
			int fd = open(stderr_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

			if (fd < 0 || dup2(fd, 2) < 0)
				_exit(126);
			close(fd);
		}
		execve("/proc/self/exe", argv, envp);
		_exit(127);
	}
	if (pidp)
		*pidp = pid;
	for (waited = 0; waited < ROLE_TIMEOUT * 100; waited++) {
		pid_t w = waitpid(pid, &status, WNOHANG);

		if (w == pid)
			return status;
		CHECK(w == 0 || errno == EINTR);
		usleep(10000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	tap_diag("role %s did not end within %d s", role, ROLE_TIMEOUT);
	return -1;
}

#define CHECK_EXITED_0(status, role) \
	CHECKF(WIFEXITED(status) && WEXITSTATUS(status) == 0, \
	       "role %s: wait status 0x%x", role, (unsigned)(status))

/* ---- The checks every dump must pass ------------------------------------ */

static void check_sums(const struct dump *d)
{
	uint64_t slab_bytes = 0, free_bytes = 0, hugetlb = 0, thp = 0, huge, share;
	int i, k;

	CHECKF(strcmp(d->version, sb_version()) == 0, "dump of version %s from library %s",
	       d->version, sb_version());
	CHECK(d->nrows > 0);
	for (i = 0; i < d->nrows; i++) {
		const struct row *r = &d->rows[i];
		char want[64];

		snprintf(want, sizeof(want), "malloc-%lu", r->objsize);
		CHECKF(strcmp(r->name, want) == 0, "cache %s of objects of %lu bytes", r->name,
		       r->objsize);
		CHECKF(i == 0 || r->objsize > d->rows[i - 1].objsize, "%s after %s", r->name,
		       d->rows[i - 1].name);
		CHECKF(r->num_objs == r->objperslab * r->num_slabs,
		       "%s: num_objs %lu != objperslab %lu * num_slabs %lu", r->name, r->num_objs,
		       r->objperslab, r->num_slabs);
		CHECKF(r->active_objs <= r->num_objs, "%s: active_objs %lu > num_objs %lu",
		       r->name, r->active_objs, r->num_objs);
		CHECKF(r->active_slabs <= r->num_slabs, "%s: active_slabs %lu > num_slabs %lu",
		       r->name, r->active_slabs, r->num_slabs);
		CHECKF(r->objperslab >= 1 && r->pagesperslab >= 1 &&
		       r->objperslab * r->objsize <= r->pagesperslab * PAGE,
		       "%s: %lu objects of %lu bytes in %lu pages", r->name, r->objperslab,
		       r->objsize, r->pagesperslab);
		/* limit: rounds of a magazine; batchcount: objects moved per
		 * depot exchange, at most a magazine. */
		CHECKF(r->limit > 0 && r->batchcount > 0 && r->batchcount <= r->limit,
		       "%s: tunables %lu %lu %lu", r->name, r->limit, r->batchcount,
		       r->sharedfactor);
		/* The depot's objects are out of the slabs: active. */
		CHECKF(r->sharedavail <= r->active_objs,
		       "%s: sharedavail %lu > active_objs %lu", r->name, r->sharedavail,
		       r->active_objs);
		slab_bytes += r->num_slabs * r->pagesperslab * PAGE;
	}
	for (i = 0; i < d->nregions; i++) {
		const struct region *g = &d->regions[i];

		CHECKF(g->index == (unsigned long)i, "buddyinfo row %d is of region %lu", i,
		       g->index);
		CHECKF(strcmp(g->backing, "hugetlb") == 0 || strcmp(g->backing, "thp") == 0 ||
		       strcmp(g->backing, "4k") == 0, "region %d backed by %s", i, g->backing);
		hugetlb += strcmp(g->backing, "hugetlb") == 0;
		thp += strcmp(g->backing, "thp") == 0;
		for (k = 0; k < NR_ORDERS; k++)
			free_bytes += (uint64_t)g->nr_free[k] * (PAGE << k);
	}
	CHECK(d->counters_on == 0 || d->counters_on == 1);
	CHECKF(num(d, "slab_bytes") == slab_bytes, "slab_bytes %llu, rows sum to %llu",
	       (unsigned long long)num(d, "slab_bytes"), (unsigned long long)slab_bytes);
	CHECKF(num(d, "buddy_free_bytes") == free_bytes, "buddy_free_bytes %llu, buddyinfo "
	       "sums to %llu", (unsigned long long)num(d, "buddy_free_bytes"),
	       (unsigned long long)free_bytes);
	CHECKF(num(d, "regions") == (uint64_t)d->nregions, "regions %llu, buddyinfo rows %d",
	       (unsigned long long)num(d, "regions"), d->nregions);
	CHECK(num(d, "hugetlb_regions") == hugetlb);
	CHECK(num(d, "thp_regions") == thp);
	CHECKF(num(d, "mapped_bytes") == d->nregions * REGION_BYTES + num(d, "huge_blocks_bytes") +
	       num(d, "huge_cached_bytes"),
	       "mapped_bytes %llu with %d regions, %llu bytes of huge blocks and %llu cached",
	       (unsigned long long)num(d, "mapped_bytes"), d->nregions,
	       (unsigned long long)num(d, "huge_blocks_bytes"),
	       (unsigned long long)num(d, "huge_cached_bytes"));
	CHECK(num(d, "mapped_bytes_peak") >= num(d, "mapped_bytes"));
	CHECK(num(d, "slab_bytes") + num(d, "buddy_free_bytes") <= d->nregions * REGION_BYTES);
	CHECK(pct100(d, "huge_page_share_pct") <= 10000);
	CHECK(num(d, "mapped_bytes") > 0);
	/* The share is of the huge pages smaps shows in regions and blocks. */
	huge = num(d, "thp_bytes") + num(d, "hugetlb_bytes");
	CHECKF(huge <= num(d, "mapped_bytes"), "%llu bytes in huge pages, %llu mapped",
	       (unsigned long long)huge, (unsigned long long)num(d, "mapped_bytes"));
	share = (huge * 10000 + num(d, "mapped_bytes") / 2) / num(d, "mapped_bytes");
	CHECKF(pct100(d, "huge_page_share_pct") + 1 >= share &&
	       pct100(d, "huge_page_share_pct") <= share + 1,
	       "huge_page_share_pct %llu hundredths, %llu of %llu bytes in huge pages",
	       (unsigned long long)pct100(d, "huge_page_share_pct"), (unsigned long long)huge,
	       (unsigned long long)num(d, "mapped_bytes"));
	CHECK(pct100(d, "magazine_hit_pct") <= 10000);
	CHECK(num(d, "malloc") == num(d, "malloc_magazine") + num(d, "malloc_depot") +
	      num(d, "malloc_slab") + num(d, "malloc_page_cache") + num(d, "malloc_buddy") +
	      num(d, "malloc_huge") + num(d, "malloc_guarded"));
	CHECK(num(d, "free") == num(d, "free_magazine") + num(d, "free_depot") +
	      num(d, "free_slab") + num(d, "free_remote") + num(d, "free_page_cache") + num(d, "free_buddy") +
	      num(d, "free_huge") + num(d, "free_guarded"));
	CHECK(num(d, "realloc") == num(d, "realloc_in_place_slab") + num(d, "realloc_in_place_buddy") +
	      num(d, "realloc_in_place_huge") + num(d, "realloc_moved"));
}

/* ---- Roles: what a re-executed copy of this program does ----------------- */

static void *keep[4096];

/* 1000 live objects of 100 bytes, 500 of them freed, a realloc, a calloc. */
static int role_count(const char *arg)
{
	int i;

	for (i = 0; i < 1000; i++) {
		keep[i] = malloc(100);
		if (keep[i] == NULL)
			return 1;
		memset(keep[i], i, 100);
	}
	for (i = 0; i < 500; i++)
		free(keep[i]);
	keep[0] = realloc(keep[1000 - 1], 3000);
	keep[1] = calloc(10, 10);
	if (arg != NULL && strcmp(arg, "print") == 0)
		sb_stats_print(1);
	return 0;
}

/* Fork: the child exits through exit(), a grandchild through _exit().
 * Writes "parent child grandchild" pids to the file arg. */
static int role_fork(const char *arg)
{
	pid_t child, grandchild;
	int status;
	FILE *f;

	role_count(NULL);
	child = fork();
	if (child < 0)
		return 1;
	if (child == 0) {
		role_count(NULL);
		exit(0);
	}
	grandchild = fork();
	if (grandchild < 0)
		return 1;
	if (grandchild == 0) {
		role_count(NULL);
		_exit(0);
	}
	if (waitpid(child, &status, 0) != child || status != 0)
		return 1;
	if (waitpid(grandchild, &status, 0) != grandchild || status != 0)
		return 1;
	f = fopen(arg, "w");
	if (f == NULL)
		return 1;
	fprintf(f, "%ld %ld %ld\n", (long)getpid(), (long)child, (long)grandchild);
	return fclose(f) == 0 ? 0 : 1;
}

static volatile int stop_workers;

static void *worker(void *arg)
{
	uint64_t s = (uintptr_t)arg * 0x9E3779B97F4A7C15ull + 1;
	void *slot[256] = { 0 };
	unsigned long n = 0;

	while (!__atomic_load_n(&stop_workers, __ATOMIC_RELAXED)) {
		unsigned i;
		size_t size;

		s ^= s << 13;
		s ^= s >> 7;
		s ^= s << 17;
		i = (unsigned)(s % 256);
		size = (s >> 8) % 64 == 0 ? 20000 + (s >> 20) % 300000 : 1 + (s >> 20) % 2000;
		free(slot[i]);
		slot[i] = malloc(size);
		if (slot[i] == NULL)
			abort();
		((char *)slot[i])[0] = 1;
		n++;
	}
	for (n = 0; n < 256; n++)
		free(slot[n]);
	return NULL;
}

/*
 * Four threads allocate and free while this one sends the process SIGUSR2
 * ten times; after each, the dump file (removed before) must come back as a
 * whole dump of this process, its counters never going back.  arg: the
 * directory of SBMALLOC_STATS=DIR/sig.%p.
 */
static int role_signal(const char *dir)
{
	pthread_t t[4];
	uint64_t last_malloc = 0;
	int i, ok = 1;
	static struct dump d;
	char arg[700];

	snprintf(arg, sizeof(arg), "%s/sig.%ld", dir, (long)getpid());

	for (i = 0; i < 4; i++)
		if (pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)(i + 1)) != 0)
			return 1;
	usleep(20000);
	for (i = 0; i < 10 && ok; i++) {
		int tries;
		char *text = NULL;

		unlink(arg);
		if (kill(getpid(), SIGUSR2) != 0)
			return 1;
		/* The handler truncates the file and writes it in pieces: wait
		 * until it holds a whole dump. */
		for (tries = 0; tries < 1000; tries++) {
			text = slurp(arg);
			if (text != NULL && parse_dump(text, &d) == 0)
				break;
			free(text);
			text = NULL;
			usleep(10000);
		}
		if (text == NULL) {
			tap_diag("dump %d: no whole dump in %s after 10 s (%s)", i + 1, arg, d.err);
			ok = 0;
			break;
		}
		free(text);
		if (d.pid != (long)getpid() || d.counters_on != 1) {
			tap_diag("dump %d: pid %ld, counters %d", i + 1, d.pid, d.counters_on);
			ok = 0;
		}
		if (strtoull(value(&d, "malloc"), NULL, 10) < last_malloc) {
			tap_diag("dump %d: malloc went back from %llu to %s", i + 1,
				 (unsigned long long)last_malloc, value(&d, "malloc"));
			ok = 0;
		}
		last_malloc = strtoull(value(&d, "malloc"), NULL, 10);
		usleep(20000);
	}
	if (ok && last_malloc == 0) {
		tap_diag("ten dumps while four threads allocate, and malloc still 0");
		ok = 0;
	}
	__atomic_store_n(&stop_workers, 1, __ATOMIC_RELAXED);
	for (i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	return ok ? 0 : 1;
}

/* One signal, then exit. */
static int role_raise(const char *arg)
{
	role_count(NULL);
	return raise(SIGUSR2) == 0 ? 0 : 1;
}

/* 1000 live objects of 100 bytes and a dump of them into the file arg. */
static int role_print(const char *arg)
{
	int fd, i;

	for (i = 0; i < 1000; i++) {
		keep[i] = malloc(100);
		if (keep[i] == NULL)
			return 1;
	}
	keep[1000] = realloc(keep[999], 5000);
	keep[1001] = calloc(1, 100);
	free(keep[0]);
	fd = open(arg, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return 1;
	sb_stats_print(fd);
	return close(fd) == 0 ? 0 : 1;
}

static int run_role(const char *role, const char *arg)
{
	if (strcmp(role, "count") == 0)
		return role_count(arg);
	if (strcmp(role, "fork") == 0)
		return role_fork(arg);
	if (strcmp(role, "signal") == 0)
		return role_signal(arg);
	if (strcmp(role, "raise") == 0)
		return role_raise(arg);
	if (strcmp(role, "print") == 0)
		return role_print(arg);
	tap_diag("no role %s", role);
	return 2;
}

/* ---- Tests --------------------------------------------------------------- */

/* 1000 live objects of 100 bytes are in the row of their size class. */
TEST(live_objects_show_in_their_size_class_row)
{
	static struct dump before, after;
	const struct row *r0, *r1;
	char name[64];
	void *p[1000];
	int i;

	make_tmpdir();
	p[0] = malloc(100);
	CHECK(p[0] != NULL);
	snprintf(name, sizeof(name), "malloc-%zu", malloc_usable_size(p[0]));
	CHECKF(strcmp(name, "malloc-112") == 0, "malloc(100) is served by %s", name);
	free(p[0]);
	dump_self(&before);
	for (i = 0; i < 1000; i++) {
		p[i] = malloc(100);
		CHECK(p[i] != NULL);
		memset(p[i], 0x5a, 100);
	}
	dump_self(&after);
	check_sums(&after);
	r0 = row_named(&before, name);
	r1 = row_named(&after, name);
	CHECKF(r1 != NULL, "no row %s", name);
	CHECKF(r1->objsize == 112, "%s: objsize %lu", name, r1->objsize);
	CHECKF(r1->active_objs >= 1000, "%s: active_objs %lu with 1000 objects live", name,
	       r1->active_objs);
	CHECKF(r0 == NULL || r1->active_objs >= r0->active_objs + 1000 - r0->limit * 2,
	       "%s: active_objs %lu before, %lu with 1000 more live", name,
	       r0 ? r0->active_objs : 0, r1->active_objs);
	CHECK(r1->num_slabs * r1->objperslab >= 1000);
	for (i = 0; i < 1000; i++)
		free(p[i]);
	remove_tmpdir();
}

/* Every number of a dump of a varied heap adds up. */
TEST(dump_sums_hold)
{
	static struct dump d;
	void *p[3000];
	uint64_t s = 42;
	int i;

	make_tmpdir();
	for (i = 0; i < 3000; i++) {
		size_t size;

		s = s * 6364136223846793005ull + 1442695040888963407ull;
		size = i % 100 == 0 ? 16384 + (s >> 33) % (1 << 20) : 1 + (s >> 33) % 16384;
		p[i] = malloc(size);
		CHECK(p[i] != NULL);
		memset(p[i], 1, size < 64 ? size : 64);
	}
	for (i = 0; i < 3000; i += 3)
		free(p[i]);
	dump_self(&d);
	check_sums(&d);
	CHECK(d.pid == (long)getpid());
	CHECK(d.nregions >= 1);
	for (i = 1; i < 3000; i++)
		if (i % 3 != 0)
			free(p[i]);
	dump_self(&d);
	check_sums(&d);
	remove_tmpdir();
}

/* A block above 4 MiB shows in the summary, in mapped_bytes too. */
TEST(huge_blocks_show_in_the_summary)
{
	static struct dump before, d;
	char *p;

	make_tmpdir();
	dump_self(&before);
	p = malloc(9u << 20);
	CHECK(p != NULL);
	p[0] = p[(9u << 20) - 1] = 1;
	dump_self(&d);
	check_sums(&d);
	CHECK(num(&d, "huge_blocks") == num(&before, "huge_blocks") + 1);
	CHECK(num(&d, "huge_blocks_bytes") >= num(&before, "huge_blocks_bytes") + (9u << 20));
	CHECK(num(&d, "mapped_bytes") >= num(&before, "mapped_bytes") + (9u << 20));
	free(p);
	remove_tmpdir();
}

/* Without SBMALLOC_STATS, and with SBMALLOC_STATS=0, the counters are on
 * all the same: the variable only says whether to dump at exit. */
TEST(counters_are_on_without_SBMALLOC_STATS)
{
	static const char *const zero[] = { "SBMALLOC_STATS=0", NULL };
	static const char *const *envs[] = { NULL, zero };
	static struct dump d;
	char path[600], err[600];
	unsigned e;
	int status;

	make_tmpdir();
	snprintf(path, sizeof(path), "%s/on", tmpdir);
	snprintf(err, sizeof(err), "%s/stderr", tmpdir);
	for (e = 0; e < 2; e++) {
		const struct row *r;
		char *text;

		status = spawn_role("print", path, envs[e], err, NULL);
		CHECK_EXITED_0(status, "print");
		text = slurp(err);
		CHECKF(text != NULL && text[0] == '\0', "stderr of the run: %s", text);
		free(text);
		load_dump(path, &d);
		check_sums(&d);
		CHECKF(d.counters_on == 1, "counters off with %s", envs[e] ? envs[e][0] : "no SBMALLOC_STATS");
		CHECKF(num(&d, "malloc") >= 1000, "malloc %llu", (unsigned long long)num(&d, "malloc"));
		CHECKF(num(&d, "free") >= 2, "free %llu", (unsigned long long)num(&d, "free"));
		CHECK(num(&d, "realloc") >= 1 && num(&d, "calloc") >= 1);
		r = row_named(&d, "malloc-112");
		CHECK(r != NULL && r->active_objs >= 999);
	}
	remove_tmpdir();
}

/* SBMALLOC_STATS=FILE: the dump at exit, with the calls counted by layer. */
TEST(counters_count_calls_with_SBMALLOC_STATS)
{
	static struct dump d;
	char env[700], path[700];
	const char *const envs[] = { env, NULL };
	const struct row *r;
	int status;
	pid_t pid;

	make_tmpdir();
	snprintf(env, sizeof(env), "SBMALLOC_STATS=%s/count.%%p", tmpdir);
	status = spawn_role("count", NULL, envs, NULL, &pid);
	CHECK_EXITED_0(status, "count");
	snprintf(path, sizeof(path), "%s/count.%ld", tmpdir, (long)pid);
	load_dump(path, &d);
	check_sums(&d);
	CHECK(d.pid == (long)pid);
	CHECK(d.counters_on == 1);
	CHECKF(num(&d, "malloc") >= 1000, "malloc %llu", (unsigned long long)num(&d, "malloc"));
	CHECKF(num(&d, "free") >= 500, "free %llu", (unsigned long long)num(&d, "free"));
	CHECK(num(&d, "realloc") >= 1);
	CHECK(num(&d, "calloc") >= 1);
	CHECKF(num(&d, "handed_out_bytes") >= 1000 * 112, "handed out %llu",
	       (unsigned long long)num(&d, "handed_out_bytes"));
	CHECK(num(&d, "live_bytes") >= 499 * 112);
	r = row_named(&d, "malloc-112");
	CHECK(r != NULL && r->active_objs >= 499);
	CHECK(count_files("count.") == 1);
	remove_tmpdir();
}

/* ---- Exact counts ---------------------------------------------------------- */

static uint64_t ctl_u64(const char *name)
{
	uint64_t v = 0;
	size_t len = sizeof(v);

	CHECKF(sb_ctl(name, &v, &len, NULL, 0) == 0, "sb_ctl(%s)", name);
	return v;
}

static size_t ctl_size(const char *name)
{
	size_t v = 0, len = sizeof(v);

	CHECKF(sb_ctl(name, &v, &len, NULL, 0) == 0, "sb_ctl(%s)", name);
	return v;
}

#define EXACT_N 3000
static void *exact[EXACT_N];

/* Sizes of every layer: magazines (small), page lists (16 KiB .. 64 KiB),
 * the buddy allocator (1 MiB) and mappings of their own (8 MiB). */
static size_t exact_size(unsigned i)
{
	return i % 100 == 0 ? 8u << 20 : i % 10 == 0 ? 1u << 20 : i % 3 == 0 ? 20000 + i : 8 + i % 700;
}

/* Every malloc and free is counted once, whichever layer serves it, the
 * magazines' fast paths included (their pops counted, their pushes derived
 * from the movement of the magazines' tops), and no count is lost across
 * magazine exchanges with the depot. */
TEST(every_malloc_and_free_is_counted_once)
{
	uint64_t m0 = ctl_u64("stats.malloc"), f0 = ctl_u64("stats.free");
	unsigned i, round;

	for (round = 0; round < 3; round++) {
		for (i = 0; i < EXACT_N; i++) {
			exact[i] = malloc(exact_size(i));
			CHECK(exact[i] != NULL);
		}
		for (i = 0; i < EXACT_N; i++)
			free(exact[(i * 7) % EXACT_N]);	/* 7 is prime to EXACT_N */
	}
	CHECKF(ctl_u64("stats.malloc") - m0 == 3 * EXACT_N, "%llu mallocs counted, %u made",
	       (unsigned long long)(ctl_u64("stats.malloc") - m0), 3 * EXACT_N);
	CHECKF(ctl_u64("stats.free") - f0 == 3 * EXACT_N, "%llu frees counted, %u made",
	       (unsigned long long)(ctl_u64("stats.free") - f0), 3 * EXACT_N);
}

/* A calloc and a resize in place count once each; a moving realloc counts
 * as a realloc, and its new block as a malloc and the old one as a free.
 * (A sampled, guarded object moves even where others stay: the moves are
 * counted by the pointers.) */
TEST(callocs_and_reallocs_are_counted_once)
{
	uint64_t c0 = ctl_u64("stats.calloc"), r0 = ctl_u64("stats.realloc");
	uint64_t m0 = ctl_u64("stats.malloc"), f0 = ctl_u64("stats.free");
	unsigned i, moved = 0;

	for (i = 0; i < EXACT_N; i++) {
		exact[i] = calloc(1, i % 2 ? 48 : 5000);
		CHECK(exact[i] != NULL);
	}
	for (i = 0; i < 2 * EXACT_N; i++) {	/* in place, then moved */
		void *p = exact[i % EXACT_N];

		exact[i % EXACT_N] = realloc(p, i >= EXACT_N ? 700 : i % 2 ? 40 : 5000);
		CHECK(exact[i % EXACT_N] != NULL);
		moved += exact[i % EXACT_N] != p;
	}
	for (i = 0; i < EXACT_N; i++)
		free(exact[i]);
	CHECKF(moved >= EXACT_N, "%u moves", moved);
	CHECK(ctl_u64("stats.calloc") - c0 == EXACT_N);
	CHECK(ctl_u64("stats.realloc") - r0 == 2 * EXACT_N);
	CHECKF(ctl_u64("stats.malloc") - m0 == EXACT_N + moved, "%llu mallocs counted, %u made",
	       (unsigned long long)(ctl_u64("stats.malloc") - m0), EXACT_N + moved);
	CHECKF(ctl_u64("stats.free") - f0 == EXACT_N + moved, "%llu frees counted, %u made",
	       (unsigned long long)(ctl_u64("stats.free") - f0), EXACT_N + moved);
}

static void *free_all_exact(void *arg)
{
	unsigned i;

	for (i = 0; i < EXACT_N; i++)
		free(exact[i]);
	return arg;
}

/* Objects freed by a thread other than the one that took them (into that
 * thread's remote magazines, home in full magazines) count once each, by
 * the time the freeing thread has exited. */
TEST(frees_of_another_threads_objects_are_counted_once)
{
	uint64_t f0 = ctl_u64("stats.free");
	pthread_t t;
	unsigned i;

	for (i = 0; i < EXACT_N; i++) {
		exact[i] = malloc(32 + i % 200);
		CHECK(exact[i] != NULL);
	}
	CHECK(pthread_create(&t, NULL, free_all_exact, NULL) == 0);
	CHECK(pthread_join(t, NULL) == 0);
	CHECKF(ctl_u64("stats.free") - f0 == EXACT_N, "%llu frees counted, %u made",
	       (unsigned long long)(ctl_u64("stats.free") - f0), EXACT_N);
}

/* stats.allocated is what the program holds: it grows by the bytes of the
 * objects it keeps, by their class size, and falls back when it frees them. */
TEST(allocated_follows_what_the_program_holds)
{
	size_t a0 = ctl_size("stats.allocated"), a1;
	unsigned i;

	for (i = 0; i < EXACT_N; i++) {
		exact[i] = malloc(100);	/* 112-byte objects */
		CHECK(exact[i] != NULL);
	}
	a1 = ctl_size("stats.allocated");
	CHECKF(a1 >= a0 + EXACT_N * 112 && a1 <= a0 + EXACT_N * 112 + (64 << 10),
	       "allocated %zu before, %zu after %u objects of 112 bytes", a0, a1, EXACT_N);
	for (i = 0; i < EXACT_N; i++)
		free(exact[i]);
	CHECKF(ctl_size("stats.allocated") <= a0 + (64 << 10), "allocated %zu before, %zu after",
	       a0, ctl_size("stats.allocated"));
}

/* SBMALLOC_STATS=1: the dump goes to stderr at exit. */
TEST(SBMALLOC_STATS_1_dumps_to_stderr_at_exit)
{
	static const char *const envs[] = { "SBMALLOC_STATS=1", NULL };
	static struct dump d;
	char err[600];
	int status;
	pid_t pid;

	make_tmpdir();
	snprintf(err, sizeof(err), "%s/stderr", tmpdir);
	status = spawn_role("count", NULL, envs, err, &pid);
	CHECK_EXITED_0(status, "count");
	load_dump(err, &d);
	check_sums(&d);
	CHECK(d.pid == (long)pid);
	CHECK(d.counters_on == 1);
	CHECK(num(&d, "malloc") >= 1000);
	remove_tmpdir();
}

/* SBMALLOC_STATS=DIR/f.%p: one file per process that exits through exit(),
 * named with its pid; none for the one that leaves through _exit(). */
TEST(stats_file_per_process_across_fork)
{
	static struct dump d;
	char env[700], pids[600], path[700];
	const char *const envs[] = { env, NULL };
	long parent, child, grandchild;
	int status;
	FILE *f;

	make_tmpdir();
	snprintf(env, sizeof(env), "SBMALLOC_STATS=%s/f.%%p", tmpdir);
	snprintf(pids, sizeof(pids), "%s/pids", tmpdir);
	status = spawn_role("fork", pids, envs, NULL, NULL);
	CHECK_EXITED_0(status, "fork");
	f = fopen(pids, "r");
	CHECK(f != NULL);
	CHECK(fscanf(f, "%ld %ld %ld", &parent, &child, &grandchild) == 3);
	fclose(f);
	snprintf(path, sizeof(path), "%s/f.%ld", tmpdir, parent);
	load_dump(path, &d);
	check_sums(&d);
	CHECK(d.pid == parent && d.counters_on == 1);
	snprintf(path, sizeof(path), "%s/f.%ld", tmpdir, child);
	load_dump(path, &d);
	check_sums(&d);
	CHECK(d.pid == child && d.counters_on == 1);
	snprintf(path, sizeof(path), "%s/f.%ld", tmpdir, grandchild);
	CHECKF(access(path, F_OK) != 0, "a process that called _exit() wrote %s", path);
	CHECKF(count_files("f.") == 2, "%d dump files", count_files("f."));
	remove_tmpdir();
}

/* SBMALLOC_STATS_SIGNAL=USR2: a whole dump each time, while four threads
 * allocate (see role_signal). */
TEST(signal_dump_while_threads_allocate)
{
	static struct dump d;
	char env[700], path[700];
	const char *const envs[] = { env, "SBMALLOC_STATS_SIGNAL=USR2", NULL };
	int status;
	pid_t pid;

	make_tmpdir();
	snprintf(env, sizeof(env), "SBMALLOC_STATS=%s/sig.%%p", tmpdir);
	status = spawn_role("signal", tmpdir, envs, NULL, &pid);
	CHECK_EXITED_0(status, "signal");
	/* And the dump at exit went to the same file. */
	snprintf(path, sizeof(path), "%s/sig.%ld", tmpdir, (long)pid);
	load_dump(path, &d);
	check_sums(&d);
	CHECK(d.pid == (long)pid);
	CHECK(num(&d, "malloc") > 1000);
	remove_tmpdir();
}

/* SBMALLOC_STATS_SIGNAL alone: the dump goes to stderr, once per signal,
 * and there is none at exit. */
TEST(signal_dump_goes_to_stderr_without_a_stats_file)
{
	static const char *const envs[] = { "SBMALLOC_STATS_SIGNAL=USR2", NULL };
	static struct dump d;
	char err[600];
	int status;
	pid_t pid;

	make_tmpdir();
	snprintf(err, sizeof(err), "%s/stderr", tmpdir);
	status = spawn_role("raise", NULL, envs, err, &pid);
	CHECK_EXITED_0(status, "raise");
	load_dump(err, &d); /* exactly one dump: a second would not parse */
	check_sums(&d);
	CHECK(d.pid == (long)pid);
	CHECK(d.counters_on == 1);
	CHECK(num(&d, "malloc") >= 1000);
	remove_tmpdir();
}

/* ---- The JSON dump (docs/stats-json.md) --------------------------------- */

/* sb_stats_print_json() of this process, in memory from malloc. */
static char *json_self(void)
{
	char path[600];
	char *text;
	int fd;

	snprintf(path, sizeof(path), "%s/self.json", tmpdir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	CHECK(fd >= 0);
	sb_stats_print_json(fd);
	close(fd);
	text = slurp(path);
	CHECK(text != NULL);
	return text;
}

/* One JSON object of a dump of pid: its head and its end. */
static void check_json_dump(const char *text, long pid, int counters_on)
{
	char head[256];
	size_t len = strlen(text);

	snprintf(head, sizeof(head), "{\"format_version\": 2, \"sbmalloc_version\": \"%s\", "
		 "\"pid\": %ld, \"counters_on\": %s,\n \"slabinfo\": [\n", sb_version(), pid,
		 counters_on ? "true" : "false");
	CHECKF(strncmp(text, head, strlen(head)) == 0, "JSON dump begins: %.200s", text);
	CHECKF(len >= 3 && strcmp(text + len - 3, "\n}\n") == 0, "JSON dump ends: %s",
	       text + (len > 40 ? len - 40 : 0));
	CHECKF(strstr(text + 1, "{\"format_version\"") == NULL, "more than one JSON dump");
	CHECK(strstr(text, "\n ],\n \"buddyinfo\": [\n  {\"index\": 0, ") != NULL);
	CHECK(strstr(text, "\n ],\n \"summary\": {\n  \"mapped_bytes\": ") != NULL);
	CHECK(strstr(text, "\n },\n \"counters\": {\n  \"handed_out_bytes\": ") != NULL);
}

/* Quotes, backslashes and control characters of a cache name are escaped,
 * UTF-8 passes through, a malformed sequence becomes U+FFFD per byte. */
TEST(json_dump_escapes_cache_names)
{
	static const char name[] = "q\"b\\s\n\t\x01\x7f caf\xc3\xa9 \xff\xe2\x82(";
	static const char want[] = "{\"name\": \"q\\\"b\\\\s\\n\\t\\u0001\\u007f caf\xc3\xa9 "
				   "\\ufffd\\ufffd\\ufffd(\", \"active_objs\": ";
	sb_cache_t *c;
	char *text;

	make_tmpdir();
	c = sb_cache_create(name, 40, 0, NULL, NULL, NULL);
	CHECK(c != NULL);
	CHECK(sb_cache_alloc(c) != NULL);
	text = json_self();
	check_json_dump(text, (long)getpid(), 1);
	CHECKF(strstr(text, want) != NULL, "no row %s in %s", want, text);
	free(text);
	remove_tmpdir();
}

/* The text dump shows such a name as one word, so that its row parses. */
TEST(text_dump_shows_a_cache_name_with_spaces_as_one_word)
{
	static struct dump d;
	sb_cache_t *c;

	make_tmpdir();
	c = sb_cache_create("two words\tand\ncontrols", 40, 0, NULL, NULL, NULL);
	CHECK(c != NULL);
	CHECK(sb_cache_alloc(c) != NULL);
	dump_self(&d);
	CHECKF(row_named(&d, "two_words_and_controls") != NULL, "no row two_words_and_controls");
	CHECK(row_named(&d, "two_words_and_controls")->active_objs >= 1);
	remove_tmpdir();
}

/* SBMALLOC_STATS_FORMAT=json: the dump at exit is the JSON object, with
 * the counters; =text keeps the text. */
TEST(SBMALLOC_STATS_FORMAT_json_dumps_json_at_exit)
{
	static struct dump d;
	char env[700], path[700];
	const char *const json_env[] = { env, "SBMALLOC_STATS_FORMAT=json", NULL };
	const char *const text_env[] = { env, "SBMALLOC_STATS_FORMAT=text", NULL };
	char *text;
	int status;
	pid_t pid;

	make_tmpdir();
	snprintf(env, sizeof(env), "SBMALLOC_STATS=%s/count.%%p", tmpdir);
	status = spawn_role("count", NULL, json_env, NULL, &pid);
	CHECK_EXITED_0(status, "count");
	snprintf(path, sizeof(path), "%s/count.%ld", tmpdir, (long)pid);
	text = slurp(path);
	CHECKF(text != NULL, "no %s", path);
	check_json_dump(text, (long)pid, 1);
	CHECKF(strstr(text, "\n  \"calloc\": ") != NULL && strstr(text, "\n  \"malloc\": 0,") == NULL,
	       "counters: %s", strstr(text, "\"counters\""));
	free(text);
	status = spawn_role("count", NULL, text_env, NULL, &pid);
	CHECK_EXITED_0(status, "count");
	snprintf(path, sizeof(path), "%s/count.%ld", tmpdir, (long)pid);
	load_dump(path, &d);
	check_sums(&d);
	remove_tmpdir();
}

/* SBMALLOC_STATS_SIGNAL with SBMALLOC_STATS_FORMAT=json: the signal's dump
 * is one JSON object. */
TEST(signal_dump_is_json_with_SBMALLOC_STATS_FORMAT_json)
{
	static const char *const envs[] = { "SBMALLOC_STATS_SIGNAL=USR2",
					    "SBMALLOC_STATS_FORMAT=json", NULL };
	char err[600];
	char *text;
	int status;
	pid_t pid;

	make_tmpdir();
	snprintf(err, sizeof(err), "%s/stderr", tmpdir);
	status = spawn_role("raise", NULL, envs, err, &pid);
	CHECK_EXITED_0(status, "raise");
	text = slurp(err);
	CHECK(text != NULL);
	check_json_dump(text, (long)pid, 1);
	free(text);
	remove_tmpdir();
}

/* malloc_stats() writes the dump to stderr. */
TEST(malloc_stats_writes_the_dump_to_stderr)
{
	static struct dump d;
	char err[600];
	int fd, saved;

	make_tmpdir();
	snprintf(err, sizeof(err), "%s/stderr", tmpdir);
	fd = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	CHECK(fd >= 0);
	saved = dup(2);
	CHECK(saved >= 0 && dup2(fd, 2) == 2);
	malloc_stats();
	CHECK(dup2(saved, 2) == 2);
	close(saved);
	close(fd);
	load_dump(err, &d);
	check_sums(&d);
	CHECK(d.pid == (long)getpid());
	remove_tmpdir();
}

static const struct tap_case cases[] = {
	TAP_CASE(live_objects_show_in_their_size_class_row)
	TAP_CASE(dump_sums_hold)
	TAP_CASE(huge_blocks_show_in_the_summary)
	TAP_CASE(counters_are_on_without_SBMALLOC_STATS)
	TAP_CASE(counters_count_calls_with_SBMALLOC_STATS)
	TAP_CASE(every_malloc_and_free_is_counted_once)
	TAP_CASE(callocs_and_reallocs_are_counted_once)
	TAP_CASE(frees_of_another_threads_objects_are_counted_once)
	TAP_CASE(allocated_follows_what_the_program_holds)
	TAP_CASE(SBMALLOC_STATS_1_dumps_to_stderr_at_exit)
	TAP_CASE(stats_file_per_process_across_fork)
	TAP_CASE(signal_dump_while_threads_allocate)
	TAP_CASE(signal_dump_goes_to_stderr_without_a_stats_file)
	TAP_CASE(malloc_stats_writes_the_dump_to_stderr)
	TAP_CASE(json_dump_escapes_cache_names)
	TAP_CASE(text_dump_shows_a_cache_name_with_spaces_as_one_word)
	TAP_CASE(SBMALLOC_STATS_FORMAT_json_dumps_json_at_exit)
	TAP_CASE(signal_dump_is_json_with_SBMALLOC_STATS_FORMAT_json)
};

int main(int argc, char **argv)
{
	if (argc >= 3 && strcmp(argv[1], "--role") == 0)
		return run_role(argv[2], argc >= 4 ? argv[3] : NULL);
	return tap_main_many(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
