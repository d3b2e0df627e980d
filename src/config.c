/*
 * config.c - sbmalloc's settings: one table of options, read from the
 * environment.
 *
 * The environment is scanned from `environ` directly: getenv() may not be
 * ready when the first malloc comes (ld.so calls malloc before libc is
 * initialised) and secure_getenv() is glibc's.  sb_config_init() may run
 * before environ is set; the library constructor runs it again, so
 * settings apply from then on.  This is the only file that reads the
 * environment.
 *
 * The options, as the table `sb_options` below says (`tests/unit/config
 * --doc` prints this list from it, and the test checks that it, README.md's
 * table and include/sbmalloc.h agree with the table):
 *
 *   SBMALLOC_HUGEPAGES=kernel|auto|hugetlb|thp|off (default kernel)
 *       backing of regions (os.c); kernel: as the kernel's THP setting says
 *   SBMALLOC_CHECK=bool (default 0)
 *       slab_debug: every small object through its slab, red zones, poison
 *   SBMALLOC_DIRTY_MAX=bytes[k|m|g] (default 16m)
 *       free memory kept resident before it goes back to the kernel (buddy.c)
 *   SBMALLOC_STATS=bool|PATH (default 0)
 *       dump at exit to stderr (1) or to PATH, %p: the pid
 *   SBMALLOC_STATS_SIGNAL=USR1|USR2|N (default none)
 *       dump whenever the process gets that signal
 *   SBMALLOC_STATS_FORMAT=text|json (default text)
 *       the form of the statistics dump
 *   SBMALLOC_GUARD=N (default 16384)
 *       one small allocation in N in a guarded slot, 0: none (guard.c)
 *   SBMALLOC_VERBOSE=bool (default 0)
 *       list every option in force at start-up
 *
 * A boolean is 1/0, on/off, yes/no or true/false; every word is matched
 * without regard to case (SBMALLOC_HUGEPAGES also takes 4k and 0 for off);
 * an empty value is the same as none.  By default
 * SBMALLOC_GUARD also samples at most one allocation every
 * SB_GUARD_TICK_MS; a number given lifts that limit.
 * SBMALLOC_STATS_SIGNAL takes a signal that can be caught: not SIGKILL,
 * SIGSTOP, nor the real-time signals below SIGRTMIN that the C library
 * keeps.  SBMALLOC_STATS=PATH is checked at start-up (the directory, or the
 * file if it exists, must be writable, without creating anything); if it
 * is not, the dump goes to stderr.
 *
 * A bad value, or an SBMALLOC_* variable that is not in the table, gets one
 * line on stderr, `sbmalloc: warning: SBMALLOC_X=value: why, using what`,
 * and the default (for an unwritable SBMALLOC_STATS file, stderr).
 * SBMALLOC_LIB, SBMALLOC_PEERS, SBMALLOC_SRCDIR, SBMALLOC_BUILDDIR and SBMALLOC_MAKE are
 * the tools' and the test suite's, and pass without a word.  Warnings and
 * the SBMALLOC_VERBOSE listing come out once per process: from the first
 * call that sees environ (a forked child runs no constructor).  When the
 * process runs with AT_SECURE (set-uid and the like) every SBMALLOC_*
 * variable is ignored, without a word, as glibc does with its tunables
 * and jemalloc with MALLOC_CONF: stderr may belong to someone else.
 *
 * No locks: sb_config is written at bring-up, by the constructor (both
 * before the program can have started threads) and, for dirty_max only,
 * with relaxed atomic stores (mallopt, sb_ctl).
 */
#include "config.h"
#include "report.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#ifdef HAVE_SYS_AUXV_H
#include <sys/auxv.h>
#endif

extern char **environ;

struct sb_config sb_config = {
	.hugepages = SB_HUGEPAGES_KERNEL,
	.check = false,
	.dirty_max = (size_t)16 << 20,
	.secure = false,
	.stats_format = SB_STATS_TEXT,
	.guard_rate = SB_GUARD_DEFAULT_RATE,
	.guard_default = true,
};

/* ---- The table --------------------------------------------------------- */

enum { O_HUGEPAGES, O_CHECK, O_DIRTY_MAX, O_STATS, O_STATS_SIGNAL, O_STATS_FORMAT,
       O_GUARD, O_VERBOSE };

static const struct sb_word hugepages_words[] = {
	{ "kernel", SB_HUGEPAGES_KERNEL }, { "auto", SB_HUGEPAGES_AUTO },
	{ "hugetlb", SB_HUGEPAGES_HUGETLB }, { "thp", SB_HUGEPAGES_THP },
	{ "off", SB_HUGEPAGES_OFF }, { "4k", SB_HUGEPAGES_OFF }, { "0", SB_HUGEPAGES_OFF },
	{ NULL, 0 },
};
static const struct sb_word format_words[] = {
	{ "text", SB_STATS_TEXT }, { "json", SB_STATS_JSON }, { NULL, 0 },
};
static const struct sb_word signal_words[] = {
	{ "none", 0 }, { "USR1", SIGUSR1 }, { "SIGUSR1", SIGUSR1 },
	{ "USR2", SIGUSR2 }, { "SIGUSR2", SIGUSR2 }, { NULL, 0 },
};

const struct sb_option sb_options[SB_NR_OPTIONS] = {
	[O_HUGEPAGES] = { "SBMALLOC_HUGEPAGES", "hugepages", SB_OPT_WORD,
		"kernel|auto|hugetlb|thp|off", "kernel", 0, hugepages_words,
		"backing of regions (os.c); kernel: as the kernel's THP setting says" },
	[O_CHECK] = { "SBMALLOC_CHECK", "check", SB_OPT_BOOL, "bool", "0", 0, NULL,
		"slab_debug: every small object through its slab, red zones, poison" },
	[O_DIRTY_MAX] = { "SBMALLOC_DIRTY_MAX", "dirty_max", SB_OPT_SIZE, "bytes[k|m|g]", "16m",
		(uint64_t)1 << 50, NULL,
		"free memory kept resident before it goes back to the kernel (buddy.c)" },
	[O_STATS] = { "SBMALLOC_STATS", "stats", SB_OPT_STATS, "bool|PATH", "0", 0, NULL,
		"dump at exit to stderr (1) or to PATH, %p: the pid" },
	[O_STATS_SIGNAL] = { "SBMALLOC_STATS_SIGNAL", "stats_signal", SB_OPT_SIGNAL,
		"USR1|USR2|N", "none", 0, signal_words,
		"dump whenever the process gets that signal" },
	[O_STATS_FORMAT] = { "SBMALLOC_STATS_FORMAT", "stats_format", SB_OPT_WORD, "text|json",
		"text", 0, format_words, "the form of the statistics dump" },
	[O_GUARD] = { "SBMALLOC_GUARD", "guard", SB_OPT_COUNT, "N", "16384", UINT32_MAX, NULL,
		"one small allocation in N in a guarded slot, 0: none (guard.c)" },
	[O_VERBOSE] = { "SBMALLOC_VERBOSE", "verbose", SB_OPT_BOOL, "bool", "0", 0, NULL,
		"list every option in force at start-up" },
};

/* Variables of sbmalloc's tools and test suite, not of the library. */
static const char *const tool_names[] = {
	"SBMALLOC_LIB", "SBMALLOC_PEERS", "SBMALLOC_SRCDIR", "SBMALLOC_BUILDDIR", "SBMALLOC_MAKE", NULL,
};

enum source { FROM_DEFAULT, FROM_ENV, FROM_RUN_TIME };
static const char *const source_names[] = { "default", "environment", "set at run time" };
static enum source sources[SB_NR_OPTIONS];
static bool reported;		/* warnings and the listing are out */

/* A parsed value: n, and for SBMALLOC_STATS the path (NULL: stderr). */
struct value {
	uint64_t n;
	const char *s;
};

/* ---- Text without stdio ------------------------------------------------ */

struct text {
	size_t len;
	char buf[512];
};

static void put(struct text *t, const char *s)
{
	for (; *s != '\0' && t->len < sizeof(t->buf) - 1; s++)
		t->buf[t->len++] = *s;
	t->buf[t->len] = '\0';
}

/* A value from the environment: control characters shown as '?', cut at
 * 160 bytes, so that a warning stays one line. */
static void put_value(struct text *t, const char *s)
{
	size_t n;

	for (n = 0; s[n] != '\0' && t->len < sizeof(t->buf) - 4; n++) {
		if (n == 160) {
			put(t, "...");
			return;
		}
		t->buf[t->len++] = (unsigned char)s[n] < 0x20 || s[n] == 0x7f ? '?' : s[n];
	}
	t->buf[t->len] = '\0';
}

static void put_u64(struct text *t, uint64_t v)
{
	char num[24];

	sb_fmt_u64(num, sizeof(num), v);
	put(t, num);
}

static void emit(struct text *t)
{
	if (t->len == sizeof(t->buf) - 1)
		t->buf[t->len - 1] = '\n';
	else
		put(t, "\n");
	sb_write_str(2, t->buf);
}

static bool same_word(const char *a, const char *b)
{
	for (; *a != '\0' && *b != '\0'; a++, b++) {
		char x = *a >= 'A' && *a <= 'Z' ? (char)(*a + 32) : *a;
		char y = *b >= 'A' && *b <= 'Z' ? (char)(*b + 32) : *b;

		if (x != y)
			return false;
	}
	return *a == *b;
}

/* ---- Reading the environment ------------------------------------------- */

/* Value of NAME in environ, or NULL; never allocates. */
static const char *env(const char *name)
{
	size_t len = strlen(name);
	char **e = environ;

	if (e == NULL || sb_config.secure)
		return NULL;
	for (; *e != NULL; e++)
		if (strncmp(*e, name, len) == 0 && (*e)[len] == '=')
			return *e + len + 1;
	return NULL;
}

/* A decimal number, then for sizes a k, m or g; NULL or why not. */
static const char *parse_number(const char *s, bool suffix, uint64_t max, uint64_t *out,
				struct text *why)
{
	uint64_t v = 0;
	unsigned shift = 0;

	if (*s < '0' || *s > '9')
		return suffix ? "not a size (bytes, with k, m or g)" : "not a number";
	for (; *s >= '0' && *s <= '9'; s++) {
		if (v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return "too large (overflows)";
		v = v * 10 + (uint64_t)(*s - '0');
	}
	if (suffix) {
		switch (*s) {
		case 'k': case 'K': shift = 10; s++; break;
		case 'm': case 'M': shift = 20; s++; break;
		case 'g': case 'G': shift = 30; s++; break;
		}
	}
	if (*s != '\0')
		return suffix ? "not a size (bytes, with k, m or g)" : "not a number";
	if (v > (UINT64_MAX >> shift))
		return "too large (overflows)";
	v <<= shift;
	if (v > max) {
		put(why, "too large (at most ");
		put_u64(why, max);
		put(why, ")");
		return why->buf;
	}
	*out = v;
	return NULL;
}

static const char *parse_bool(const char *s, uint64_t *out)
{
	static const char *const words[] = { "0", "1", "off", "on", "no", "yes", "false", "true" };
	unsigned i;

	for (i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (same_word(s, words[i])) {
			*out = i & 1;
			return NULL;
		}
	return "not a boolean (1/0, on/off, yes/no, true/false)";
}

static bool parse_word(const struct sb_word *w, const char *s, uint64_t *out)
{
	for (; w->name != NULL; w++)
		if (same_word(s, w->name)) {
			*out = (uint64_t)w->value;
			return true;
		}
	return false;
}

static const char *parse_signal(const char *s, uint64_t *out, struct text *why)
{
	uint64_t n;

	if (parse_word(signal_words, s, out))
		return NULL;
	if (parse_number(s, false, UINT64_MAX, &n, why) != NULL)
		return "not USR1, USR2 or a signal number";
	if (n == 0 || n > (uint64_t)SIGRTMAX)
		return "not a signal number (1 to 64)";
	put(why, "signal ");
	put_u64(why, n);
	if (n == SIGKILL || n == SIGSTOP) {
		put(why, " cannot be caught");
		return why->buf;
	}
	if (n > 31 && n < (uint64_t)SIGRTMIN) {
		put(why, " is the C library's");
		return why->buf;
	}
	*out = n;
	return NULL;
}

static const char *errno_text(int e)
{
	switch (e) {
	case ENOENT: return "No such file or directory";
	case ENOTDIR: return "Not a directory";
	case EISDIR: return "Is a directory";
	case EACCES: return "Permission denied";
	case EPERM: return "Operation not permitted";
	case EROFS: return "Read-only file system";
	case ELOOP: return "Too many levels of symbolic links";
	case ENAMETOOLONG: return "File name too long";
	default: return "error";
	}
}

/* NULL if the statistics file can be written; nothing is created. */
static const char *check_stats_file(struct text *why)
{
	char path[512];
	struct stat st;
	char *slash;
	int err = 0;

	if (!sb_config_stats_file(path, sizeof(path)))
		return "too long for a path";
	if (stat(path, &st) == 0) {
		if (S_ISDIR(st.st_mode))
			err = EISDIR;
		else if (access(path, W_OK) != 0)
			err = errno;
	} else if (errno != ENOENT) {
		err = errno;
	} else {
		slash = strrchr(path, '/');
		if (slash == path)
			slash[1] = '\0';
		else if (slash != NULL)
			*slash = '\0';
		if (access(slash != NULL ? path : ".", W_OK | X_OK) != 0)
			err = errno;
	}
	if (err == 0)
		return NULL;
	put(why, "cannot be written (");
	put(why, errno_text(err));
	put(why, ")");
	return why->buf;
}

/* s parsed as option o into v: NULL, or why not (perhaps in why). */
static const char *parse(const struct sb_option *o, const char *s, struct value *v,
			 struct text *why)
{
	uint64_t n = 0;
	const char *bad = NULL;

	v->s = NULL;
	switch (o->type) {
	case SB_OPT_BOOL:
		bad = parse_bool(s, &n);
		break;
	case SB_OPT_SIZE:
	case SB_OPT_COUNT:
		bad = parse_number(s, o->type == SB_OPT_SIZE, o->max, &n, why);
		break;
	case SB_OPT_WORD:
		if (!parse_word(o->words, s, &n)) {
			put(why, "not one of ");
			put(why, o->values);
			bad = why->buf;
		}
		break;
	case SB_OPT_SIGNAL:
		bad = parse_signal(s, &n, why);
		break;
	case SB_OPT_STATS:
		if (parse_bool(s, &n) == NULL)
			break;
		n = 1;
		v->s = s;
		break;
	}
	v->n = n;
	return bad;
}

/* check_stats_file() of path, done once per path (sb_config_init runs again). */
static const char *stats_checked(const char *path, struct text *why)
{
	static char last[512];
	static bool last_ok;
	static struct text last_why;

	if (strlen(path) < sizeof(last) && strcmp(path, last) == 0) {
		*why = last_why;
		return last_ok ? NULL : why->buf;
	}
	last_ok = check_stats_file(why) == NULL;
	if (strlen(path) < sizeof(last)) {
		memcpy(last, path, strlen(path) + 1);
		last_why = *why;
	}
	return last_ok ? NULL : why->buf;
}

static void store(unsigned id, struct value v, enum source src)
{
	switch (id) {
	case O_HUGEPAGES:
		sb_config.hugepages = (enum sb_hugepages_mode)v.n;
		break;
	case O_CHECK:
		sb_config.check = v.n != 0;
		break;
	case O_DIRTY_MAX:
		sb_write_once(sb_config.dirty_max, (size_t)v.n);
		break;
	case O_STATS:
		sb_config.stats = v.n != 0;
		sb_config.stats_path = v.s;
		break;
	case O_STATS_SIGNAL:
		sb_config.stats_signal = (int)v.n;
		break;
	case O_STATS_FORMAT:
		sb_config.stats_format = (enum sb_stats_format)v.n;
		break;
	case O_GUARD:
		sb_config.guard_rate = (size_t)v.n;
		sb_config.guard_default = src == FROM_DEFAULT;
		break;
	case O_VERBOSE:
		sb_config.verbose = v.n != 0;
		break;
	}
	sources[id] = src;
}

static struct value load(unsigned id)
{
	struct value v = { 0, NULL };

	switch (id) {
	case O_HUGEPAGES: v.n = sb_config.hugepages; break;
	case O_CHECK: v.n = sb_config.check; break;
	case O_DIRTY_MAX: v.n = sb_config_dirty_max(); break;
	case O_STATS: v.n = sb_config.stats; v.s = sb_config.stats_path; break;
	case O_STATS_SIGNAL: v.n = (uint64_t)sb_config.stats_signal; break;
	case O_STATS_FORMAT: v.n = sb_config.stats_format; break;
	case O_GUARD: v.n = sb_config.guard_rate; break;
	case O_VERBOSE: v.n = sb_config.verbose; break;
	}
	return v;
}

static const char *word_of(const struct sb_word *w, uint64_t n)
{
	for (; w->name != NULL; w++)
		if ((uint64_t)w->value == n)
			return w->name;
	return NULL;
}

/* The value as SBMALLOC_VERBOSE shows it. */
static void put_option_value(struct text *t, const struct sb_option *o, struct value v)
{
	const char *w;

	switch (o->type) {
	case SB_OPT_STATS:
		if (v.s != NULL) {
			put_value(t, v.s);
			break;
		}
		/* fall through */
	case SB_OPT_BOOL:
	case SB_OPT_SIZE:
	case SB_OPT_COUNT:
		put_u64(t, v.n);
		break;
	case SB_OPT_WORD:
	case SB_OPT_SIGNAL:
		w = word_of(o->words, v.n);
		if (w != NULL)
			put(t, w);
		else
			put_u64(t, v.n);
		break;
	}
}

/* ---- Reading the options and reporting --------------------------------- */

static void warn(const char *name, size_t name_len, const char *value, const char *why,
		 const char *instead, const char *instead_note)
{
	struct text t = { 0, "" };
	char nm[64];

	if (name_len >= sizeof(nm))
		name_len = sizeof(nm) - 1;
	memcpy(nm, name, name_len);
	nm[name_len] = '\0';
	put(&t, "sbmalloc: warning: ");
	put_value(&t, nm);
	put(&t, "=");
	put_value(&t, value);
	put(&t, ": ");
	put(&t, why);
	put(&t, ", using ");
	put(&t, instead);
	put(&t, instead_note);
	emit(&t);
}

static void read_option(unsigned id, bool report)
{
	const struct sb_option *o = &sb_options[id];
	const char *s = env(o->name), *bad, *instead = NULL;
	struct text why = { 0, "" };
	struct value v;

	if (s != NULL && *s != '\0') {
		bad = parse(o, s, &v, &why);
		if (bad == NULL && id == O_STATS && v.s != NULL) {
			/* the path must be in sb_config to be expanded */
			store(id, v, FROM_ENV);
			bad = stats_checked(s, &why);
			if (bad != NULL) {
				v.s = NULL;
				instead = "stderr";
			}
		}
		if (bad == NULL || instead != NULL) {
			store(id, v, FROM_ENV);
			if (report && bad != NULL)
				warn(o->name, strlen(o->name), s, bad, instead, "");
			return;
		}
		if (report)
			warn(o->name, strlen(o->name), s, bad, o->def, " (the default)");
	}
	if (id == O_DIRTY_MAX && sources[id] == FROM_RUN_TIME)
		return;
	parse(o, o->def, &v, &why);
	store(id, v, FROM_DEFAULT);
}

/* Edit distance of a and b (each cut at 47 bytes). */
static unsigned distance(const char *a, size_t la, const char *b)
{
	unsigned row[48], i, j, diag, up;
	size_t lb = strlen(b);

	la = la > 47 ? 47 : la;
	lb = lb > 47 ? 47 : lb;
	for (j = 0; j <= lb; j++)
		row[j] = j;
	for (i = 1; i <= la; i++) {
		diag = row[0];
		row[0] = i;
		for (j = 1; j <= lb; j++) {
			unsigned best = diag + (a[i - 1] != b[j - 1]);

			up = row[j];
			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			diag = up;
			row[j] = best;
		}
	}
	return row[lb];
}

static bool known(const char *name, size_t len)
{
	unsigned i;

	for (i = 0; i < SB_NR_OPTIONS; i++)
		if (strlen(sb_options[i].name) == len && strncmp(name, sb_options[i].name, len) == 0)
			return true;
	for (i = 0; tool_names[i] != NULL; i++)
		if (strlen(tool_names[i]) == len && strncmp(name, tool_names[i], len) == 0)
			return true;
	return false;
}

static void warn_unknown(void)
{
	char **e;

	for (e = environ; *e != NULL; e++) {
		const char *eq = strchr(*e, '='), *guess = NULL;
		struct text why = { 0, "" };
		unsigned i, best = 3;
		size_t len;

		if (strncmp(*e, "SBMALLOC_", 9) != 0 || eq == NULL)
			continue;
		len = (size_t)(eq - *e);
		if (known(*e, len))
			continue;
		for (i = 0; i < SB_NR_OPTIONS; i++) {
			unsigned d = distance(*e, len, sb_options[i].name);

			if (d < best) {
				best = d;
				guess = sb_options[i].name;
			}
		}
		put(&why, "unknown variable");
		if (guess != NULL) {
			put(&why, " (did you mean ");
			put(&why, guess);
			put(&why, "?)");
		}
		warn(*e, len, eq + 1, why.buf, "nothing from it", "");
	}
}

static void list_options(void)
{
	unsigned i;

	for (i = 0; i < SB_NR_OPTIONS; i++) {
		struct text t = { 0, "" };

		put(&t, "sbmalloc: option ");
		put(&t, sb_options[i].name);
		put(&t, "=");
		put_option_value(&t, &sb_options[i], load(i));
		put(&t, " (");
		put(&t, source_names[sources[i]]);
		put(&t, ")");
		emit(&t);
	}
}

void sb_config_init(void)
{
	bool report;
	unsigned i;

#if defined(HAVE_GETAUXVAL) && defined(AT_SECURE)
	sb_config.secure = getauxval(AT_SECURE) != 0;
#endif
	report = !reported && environ != NULL && !sb_config.secure;
	if (environ != NULL)
		reported = true;
	for (i = 0; i < SB_NR_OPTIONS; i++)
		read_option(i, report);
	if (report) {
		warn_unknown();
		if (sb_config.verbose)
			list_options();
	}
}

void sb_config_set_dirty_max(size_t bytes)
{
	sources[O_DIRTY_MAX] = FROM_RUN_TIME;
	sb_write_once(sb_config.dirty_max, bytes);
}

void sb_config_set_hugepages(enum sb_hugepages_mode mode)
{
	sb_config.hugepages = mode;
}

void sb_config_set_check(bool on)
{
	sb_config.check = on;
}

bool sb_config_stats_file(char *path, size_t size)
{
	char pid[24];
	const char *s;
	size_t len = 0, k;

	if (sb_config.stats_path == NULL)
		return false;
	sb_fmt_u64(pid, sizeof(pid), (uint64_t)getpid());
	for (s = sb_config.stats_path; *s != '\0'; s++) {
		if (len + sizeof(pid) + 8 >= size)
			return false;
		if (s[0] == '%' && s[1] == 'p') {
			for (k = 0; pid[k] != '\0'; k++)
				path[len++] = pid[k];
			s++;
		} else {
			path[len++] = *s;
		}
	}
	path[len] = '\0';
	return true;
}

/* ---- sb_ctl's opt.* ---------------------------------------------------- */

int sb_ctl_value(void *oldp, size_t *oldlenp, const void *value, size_t len)
{
	if (oldp == NULL) {
		if (oldlenp != NULL)
			*oldlenp = len;
		return 0;
	}
	if (oldlenp == NULL)
		return EINVAL;
	if (*oldlenp != len) {
		*oldlenp = len;
		return EINVAL;
	}
	memcpy(oldp, value, len);
	return 0;
}

int sb_config_ctl(const char *name, void *oldp, size_t *oldlenp, const void *newp, size_t newlen)
{
	const struct sb_option *o = NULL;
	bool file = strcmp(name, "stats_file") == 0;
	struct value v;
	unsigned i;
	size_t z;
	int n, err;
	const char *s;

	for (i = 0; i < SB_NR_OPTIONS && !file; i++)
		if (strcmp(name, sb_options[i].ctl) == 0) {
			o = &sb_options[i];
			break;
		}
	if (file)
		i = O_STATS;
	else if (o == NULL)
		return ENOENT;
	if ((newp != NULL || newlen != 0) && i != O_DIRTY_MAX)
		return EPERM;
	v = load(i);
	if (file) {
		s = v.s;
		return sb_ctl_value(oldp, oldlenp, &s, sizeof(s));
	}
	switch (o->type) {
	case SB_OPT_SIZE:
	case SB_OPT_COUNT:
		z = (size_t)v.n;
		err = sb_ctl_value(oldp, oldlenp, &z, sizeof(z));
		break;
	case SB_OPT_WORD:
		s = word_of(o->words, v.n);
		err = sb_ctl_value(oldp, oldlenp, &s, sizeof(s));
		break;
	default:
		n = (int)v.n;
		err = sb_ctl_value(oldp, oldlenp, &n, sizeof(n));
		break;
	}
	if (err != 0 || (newp == NULL && newlen == 0))
		return err;
	if (newp == NULL || newlen != sizeof(size_t))
		return EINVAL;
	memcpy(&z, newp, sizeof(z));
	if (z > o->max)
		return EINVAL;
	sb_config_set_dirty_max(z);
	return 0;
}
