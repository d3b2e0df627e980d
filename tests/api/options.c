/*
 * tests/api/options.c - the SBMALLOC_* variables and sb_ctl().
 *
 * The specification (src/config.c's top comment, README.md "Environment
 * variables", include/sbmalloc.h on sb_ctl):
 *   - every value is read by its type: booleans 1/0, on/off, yes/no,
 *     true/false in any case; sizes in bytes with k, m or g; words in any
 *     case; an empty value is the same as none;
 *   - a bad value, or an SBMALLOC_* name that is no option, prints exactly
 *     one line "sbmalloc: warning: SBMALLOC_X=value: why, using what" on
 *     stderr, and the default is used (for an unwritable statistics file,
 *     stderr) - never anything else;
 *   - the warnings come once per process, also when it forks, and not at
 *     all in a set-uid program, which ignores every variable;
 *   - SBMALLOC_VERBOSE=1 lists every option in force, one line each;
 *   - sb_ctl() reads every "opt.*" and "stats.*" name and "version", writes
 *     opt.dirty_max only, and says ENOENT, EINVAL or EPERM.
 *
 * sbmalloc reads the environment at start-up, so each case runs this
 * program again (/proc/self/exe --role NAME) with exactly the environment
 * it needs (tests/api/roles.h).  The role "show" writes what sb_ctl says
 * of every option, "role: opt.NAME=VALUE", and of the behaviour the option
 * governs (malloc_usable_size of a 5-byte object: 5 under SBMALLOC_CHECK,
 * else 16), to stderr, where sbmalloc's own lines go.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sbmalloc.h>

#include "../tap.h"
#include "roles.h"

#define NR_OPTIONS 8
#define WARNING "sbmalloc: warning: "

/* Every option, as SBMALLOC_VERBOSE lists them, and its name in sb_ctl. */
static const char *const option_names[NR_OPTIONS] = {
	"SBMALLOC_HUGEPAGES", "SBMALLOC_CHECK", "SBMALLOC_DIRTY_MAX", "SBMALLOC_STATS",
	"SBMALLOC_STATS_SIGNAL", "SBMALLOC_STATS_FORMAT", "SBMALLOC_GUARD", "SBMALLOC_VERBOSE",
};

enum kind { K_INT, K_SIZE, K_U64, K_STR };

static const struct ctl_name {
	const char *name;
	enum kind kind;
} opt_names[] = {
	{ "opt.hugepages", K_STR }, { "opt.check", K_INT }, { "opt.dirty_max", K_SIZE },
	{ "opt.stats", K_INT }, { "opt.stats_file", K_STR },
	{ "opt.stats_signal", K_INT }, { "opt.stats_format", K_STR },
	{ "opt.guard", K_SIZE }, { "opt.verbose", K_INT },
}, stats_names[] = {
	{ "stats.allocated", K_SIZE }, { "stats.handed_out", K_U64 }, { "stats.malloc", K_U64 },
	{ "stats.free", K_U64 }, { "stats.realloc", K_U64 }, { "stats.calloc", K_U64 },
	{ "stats.mapped", K_SIZE }, { "stats.mapped_peak", K_SIZE },
	{ "stats.resident", K_SIZE }, { "stats.regions", K_SIZE },
	{ "stats.slab", K_SIZE }, { "stats.buddy_free", K_SIZE },
	{ "stats.huge_blocks", K_SIZE }, { "stats.huge_bytes", K_SIZE },
	{ "stats.huge_cached_bytes", K_SIZE },
};
#define NR(a) (sizeof(a) / sizeof((a)[0]))

static size_t kind_size(enum kind k)
{
	return k == K_INT ? sizeof(int) : k == K_SIZE ? sizeof(size_t) :
	       k == K_U64 ? sizeof(uint64_t) : sizeof(const char *);
}

/* "NAME=VALUE" of sb_ctl(name), or "NAME: error N". */
static void ctl_text(const struct ctl_name *c, char *buf, size_t size)
{
	union { int i; size_t z; uint64_t u; const char *s; } v;
	size_t len = kind_size(c->kind);
	int err = sb_ctl(c->name, &v, &len, NULL, 0);

	if (err != 0)
		snprintf(buf, size, "%s: error %d", c->name, err);
	else if (c->kind == K_INT)
		snprintf(buf, size, "%s=%d", c->name, v.i);
	else if (c->kind == K_SIZE)
		snprintf(buf, size, "%s=%zu", c->name, v.z);
	else if (c->kind == K_U64)
		snprintf(buf, size, "%s=%llu", c->name, (unsigned long long)v.u);
	else
		snprintf(buf, size, "%s=%s", c->name, v.s ? v.s : "NULL");
}

/* ---- Roles: what the child does ---------------------------------------- */

static void role_show(void)
{
	char line[512];
	void *p = malloc(5);
	size_t i;

	for (i = 0; i < NR(opt_names); i++) {
		ctl_text(&opt_names[i], line, sizeof line);
		say("role: %s\n", line);
	}
	say("role: usable5=%zu\n", malloc_usable_size(p));
	ctl_text(&stats_names[0], line, sizeof line);
	say("role: %s\n", line);
	free(p);
}

static int role_fork(void)
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return 3;
	if (pid == 0) {
		free(malloc(100));
		exit(0);
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return 3;
	free(malloc(100));
	return 0;
}

/* Raise the signal of opt.stats_signal; the dump goes to stderr. */
static int role_raise(void)
{
	int sig;
	size_t len = sizeof sig;

	if (sb_ctl("opt.stats_signal", &sig, &len, NULL, 0) != 0 || sig == 0)
		return 3;
	raise(sig);
	say("role: raised %d\n", sig);
	_exit(0);
}

/* stats.allocated before and after a malloc, and after its free. */
static int role_allocated(void)
{
	size_t before, during, after, len = sizeof before;
	char *p;

	if (sb_ctl("stats.allocated", &before, &len, NULL, 0) != 0)
		return 3;
	p = malloc(1000);
	if (p == NULL || sb_ctl("stats.allocated", &during, &len, NULL, 0) != 0)
		return 3;
	say("role: usable=%zu\n", malloc_usable_size(p));
	free(p);
	if (sb_ctl("stats.allocated", &after, &len, NULL, 0) != 0)
		return 3;
	say("role: grew=%zd\n", (ssize_t)(during - before));
	say("role: shrank=%zd\n", (ssize_t)(during - after));
	return 0;
}

/* Every stats.* name: "role: stats.NAME=VALUE" or its error. */
static int role_stats(void)
{
	char line[512];
	char *big = malloc(1 << 20);
	size_t i;

	if (big == NULL)
		return 3;
	memset(big, 1, 1 << 20);
	for (i = 0; i < NR(stats_names); i++) {
		ctl_text(&stats_names[i], line, sizeof line);
		say("role: %s\n", line);
	}
	free(big);
	return 0;
}

static int run_role(const char *role)
{
	if (strcmp(role, "show") == 0) {
		role_show();
		return 0;
	}
	if (strcmp(role, "fork") == 0)
		return role_fork();
	if (strcmp(role, "raise") == 0)
		return role_raise();
	if (strcmp(role, "allocated") == 0)
		return role_allocated();
	if (strcmp(role, "stats") == 0)
		return role_stats();
	return 2;
}

/* ---- The parent's side ------------------------------------------------- */

/* Run role with env; it must exit 0. */
static void run(const char *role, const char *const *env, struct run *r)
{
	spawn_role(role, NULL, env, r);
	CHECKF(WIFEXITED(r->status) && WEXITSTATUS(r->status) == 0,
	       "role %s with %s: %s; stderr: %s", role, env && env[0] ? env[0] : "nothing",
	       status_text(r->status), r->err);
}

static int count_lines(const char *text, const char *prefix)
{
	const char *at;
	int n = 0;

	for (at = strstr(text, prefix); at != NULL; at = strstr(at + 1, prefix))
		n += at == text || at[-1] == '\n';
	return n;
}

/* The value the role "show" wrote for name ("opt.check"), in a static buffer. */
static const char *shown(const struct run *r, const char *name)
{
	static char line[512];
	char prefix[128];

	snprintf(prefix, sizeof prefix, "role: %s=", name);
	CHECKF(line_starting(r->err, prefix, line, sizeof line) != NULL,
	       "no \"%s\" in the role's stderr: %s", prefix, r->err);
	return line + strlen(prefix);
}

/* With the one variable setting, the role "show" says opt.NAME=want, and
 * sbmalloc printed no warning. */
static void check_accepted(const char *setting, const char *name, const char *want)
{
	const char *env[] = { setting, NULL };
	struct run r;

	run("show", env, &r);
	CHECKF(strcmp(shown(&r, name), want) == 0, "%s: %s=%s, expected %s", setting, name,
	       shown(&r, name), want);
	CHECKF(count_lines(r.err, "sbmalloc:") == 0, "%s: %s", setting, r.err);
	free(r.err);
}

/* With the one variable setting, exactly one line on stderr is sbmalloc's,
 * the warning want, and the role "show" says opt.NAME=value. */
static void check_warned(const char *setting, const char *want, const char *name,
			 const char *value)
{
	const char *env[] = { setting, NULL };
	struct run r;

	run("show", env, &r);
	CHECKF(has_line(r.err, want), "%s: no line \"%s\" in: %s", setting, want, r.err);
	CHECKF(count_lines(r.err, "sbmalloc:") == 1, "%s: not one line: %s", setting, r.err);
	CHECKF(strcmp(shown(&r, name), value) == 0, "%s: %s=%s, expected %s", setting, name,
	       shown(&r, name), value);
	free(r.err);
}

static void setup(void)
{
	roles_setup("options");
}

/* ---- Bad values: one warning, and the default ---------------------------- */

TEST(hugepages_bogus_warns_and_leaves_huge_pages_to_the_kernel)
{
	setup();
	check_warned("SBMALLOC_HUGEPAGES=bogus", WARNING "SBMALLOC_HUGEPAGES=bogus: not one of "
		     "kernel|auto|hugetlb|thp|off, using kernel (the default)",
		     "opt.hugepages", "kernel");
	teardown();
}

/* Words are matched without regard to case: THP is thp, not a bad value. */
TEST(hugepages_THP_in_capitals_is_thp)
{
	setup();
	check_accepted("SBMALLOC_HUGEPAGES=THP", "opt.hugepages", "thp");
	check_accepted("SBMALLOC_HUGEPAGES=Auto", "opt.hugepages", "auto");
	check_accepted("SBMALLOC_HUGEPAGES=HugeTLB", "opt.hugepages", "hugetlb");
	check_accepted("SBMALLOC_HUGEPAGES=OFF", "opt.hugepages", "off");
	check_accepted("SBMALLOC_HUGEPAGES=kernel", "opt.hugepages", "kernel");
	teardown();
}

/* The bug of old: any value but 0 turned checking on.  The observable:
 * without checking a 5-byte object has its class's 16 bytes. */
TEST(check_no_off_false_0_leave_checking_off)
{
	static const char *const off[] = { "SBMALLOC_CHECK=no", "SBMALLOC_CHECK=off",
		"SBMALLOC_CHECK=false", "SBMALLOC_CHECK=0", "SBMALLOC_CHECK=OFF",
		"SBMALLOC_CHECK=False" };
	size_t i;

	setup();
	for (i = 0; i < NR(off); i++) {
		check_accepted(off[i], "opt.check", "0");
		check_accepted(off[i], "usable5", "16");
	}
	teardown();
}

TEST(check_1_on_yes_true_turn_checking_on)
{
	static const char *const on[] = { "SBMALLOC_CHECK=1", "SBMALLOC_CHECK=on",
		"SBMALLOC_CHECK=yes", "SBMALLOC_CHECK=true", "SBMALLOC_CHECK=YES",
		"SBMALLOC_CHECK=True" };
	size_t i;

	setup();
	for (i = 0; i < NR(on); i++) {
		check_accepted(on[i], "opt.check", "1");
		check_accepted(on[i], "usable5", "5");
	}
	teardown();
}

TEST(check_that_is_not_a_boolean_warns_and_leaves_checking_off)
{
	setup();
	check_warned("SBMALLOC_CHECK=maybe", WARNING "SBMALLOC_CHECK=maybe: not a boolean "
		     "(1/0, on/off, yes/no, true/false), using 0 (the default)", "opt.check", "0");
	check_warned("SBMALLOC_CHECK=maybe", WARNING "SBMALLOC_CHECK=maybe: not a boolean "
		     "(1/0, on/off, yes/no, true/false), using 0 (the default)", "usable5", "16");
	teardown();
}

TEST(dirty_max_that_overflows_warns_and_keeps_16m)
{
	setup();
	check_warned("SBMALLOC_DIRTY_MAX=17179869184g", WARNING "SBMALLOC_DIRTY_MAX=17179869184g: "
		     "too large (overflows), using 16m (the default)", "opt.dirty_max", "16777216");
	check_warned("SBMALLOC_DIRTY_MAX=99999999999999999999", WARNING
		     "SBMALLOC_DIRTY_MAX=99999999999999999999: too large (overflows), using 16m "
		     "(the default)", "opt.dirty_max", "16777216");
	teardown();
}

TEST(dirty_max_above_2_to_the_50_warns_and_keeps_16m)
{
	setup();
	check_warned("SBMALLOC_DIRTY_MAX=1048577g", WARNING "SBMALLOC_DIRTY_MAX=1048577g: "
		     "too large (at most 1125899906842624), using 16m (the default)",
		     "opt.dirty_max", "16777216");
	check_accepted("SBMALLOC_DIRTY_MAX=1048576g", "opt.dirty_max", "1125899906842624");
	teardown();
}

TEST(dirty_max_minus_1_warns_and_keeps_16m)
{
	setup();
	check_warned("SBMALLOC_DIRTY_MAX=-1", WARNING "SBMALLOC_DIRTY_MAX=-1: not a size "
		     "(bytes, with k, m or g), using 16m (the default)", "opt.dirty_max", "16777216");
	teardown();
}

TEST(dirty_max_lots_warns_and_keeps_16m)
{
	setup();
	check_warned("SBMALLOC_DIRTY_MAX=lots", WARNING "SBMALLOC_DIRTY_MAX=lots: not a size "
		     "(bytes, with k, m or g), using 16m (the default)", "opt.dirty_max", "16777216");
	check_warned("SBMALLOC_DIRTY_MAX=16mb", WARNING "SBMALLOC_DIRTY_MAX=16mb: not a size "
		     "(bytes, with k, m or g), using 16m (the default)", "opt.dirty_max", "16777216");
	teardown();
}

TEST(dirty_max_takes_bytes_with_k_m_g_in_either_case)
{
	setup();
	check_accepted("SBMALLOC_DIRTY_MAX=0", "opt.dirty_max", "0");
	check_accepted("SBMALLOC_DIRTY_MAX=4097", "opt.dirty_max", "4097");
	check_accepted("SBMALLOC_DIRTY_MAX=64k", "opt.dirty_max", "65536");
	check_accepted("SBMALLOC_DIRTY_MAX=64K", "opt.dirty_max", "65536");
	check_accepted("SBMALLOC_DIRTY_MAX=3m", "opt.dirty_max", "3145728");
	check_accepted("SBMALLOC_DIRTY_MAX=3M", "opt.dirty_max", "3145728");
	check_accepted("SBMALLOC_DIRTY_MAX=2g", "opt.dirty_max", "2147483648");
	check_accepted("SBMALLOC_DIRTY_MAX=2G", "opt.dirty_max", "2147483648");
	teardown();
}

/* The file is checked at start-up; the dump then goes to stderr. */
TEST(stats_file_that_cannot_be_written_warns_and_dumps_to_stderr)
{
	static const char *const env[] = { "SBMALLOC_STATS=/nonexistent/dir/x", NULL };
	struct run r;

	setup();
	run("show", env, &r);
	CHECKF(has_line(r.err, WARNING "SBMALLOC_STATS=/nonexistent/dir/x: cannot be written "
			"(No such file or directory), using stderr"), "%s", r.err);
	CHECKF(count_lines(r.err, WARNING) == 1, "%s", r.err);
	CHECK(strcmp(shown(&r, "opt.stats"), "1") == 0);
	CHECK(strcmp(shown(&r, "opt.stats_file"), "NULL") == 0);
	CHECKF(count_lines(r.err, "summary - sbmalloc ") == 1, "no dump on stderr: %s", r.err);
	free(r.err);
	teardown();
}

/* A directory is no file; the check creates nothing. */
TEST(stats_file_that_is_a_directory_warns_and_dumps_to_stderr)
{
	char setting[700], want[1400];
	const char *env[] = { setting, NULL };
	struct run r;

	setup();
	snprintf(setting, sizeof setting, "SBMALLOC_STATS=%s", tmpdir);
	snprintf(want, sizeof want, WARNING "%s: cannot be written (Is a directory), using stderr",
		 setting);
	run("show", env, &r);
	CHECKF(has_line(r.err, want), "no \"%s\" in: %s", want, r.err);
	CHECKF(count_lines(r.err, "summary - sbmalloc ") == 1, "no dump on stderr: %s", r.err);
	free(r.err);
	teardown();
}

TEST(stats_file_in_a_writable_directory_gets_the_dump_without_a_warning)
{
	char setting[700], path[700];
	const char *env[] = { setting, NULL };
	struct run r;
	char *dump;

	setup();
	snprintf(setting, sizeof setting, "SBMALLOC_STATS=%s/dump", tmpdir);
	snprintf(path, sizeof path, "%s/dump", tmpdir);
	run("show", env, &r);
	CHECKF(count_lines(r.err, "sbmalloc:") == 0, "%s", r.err);
	CHECK(strcmp(shown(&r, "opt.stats_file"), setting + strlen("SBMALLOC_STATS=")) == 0);
	dump = slurp(path);
	CHECKF(dump != NULL && strstr(dump, "summary - sbmalloc ") != NULL, "no dump in %s", path);
	free(dump);
	free(r.err);
	teardown();
}

TEST(stats_takes_booleans_and_0_is_off)
{
	setup();
	check_accepted("SBMALLOC_STATS=0", "opt.stats", "0");
	check_accepted("SBMALLOC_STATS=off", "opt.stats", "0");
	check_accepted("SBMALLOC_STATS=No", "opt.stats", "0");
	teardown();
}

TEST(stats_signal_9_warns_and_sets_no_handler)
{
	setup();
	check_warned("SBMALLOC_STATS_SIGNAL=9", WARNING "SBMALLOC_STATS_SIGNAL=9: signal 9 cannot "
		     "be caught, using none (the default)", "opt.stats_signal", "0");
	teardown();
}

TEST(stats_signal_bogus_warns_and_sets_no_handler)
{
	setup();
	check_warned("SBMALLOC_STATS_SIGNAL=bogus", WARNING "SBMALLOC_STATS_SIGNAL=bogus: not "
		     "USR1, USR2 or a signal number, using none (the default)", "opt.stats_signal",
		     "0");
	teardown();
}

TEST(stats_signal_0_stop_out_of_range_and_the_C_librarys_warn)
{
	setup();
	check_warned("SBMALLOC_STATS_SIGNAL=0", WARNING "SBMALLOC_STATS_SIGNAL=0: not a signal "
		     "number (1 to 64), using none (the default)", "opt.stats_signal", "0");
	check_warned("SBMALLOC_STATS_SIGNAL=65", WARNING "SBMALLOC_STATS_SIGNAL=65: not a signal "
		     "number (1 to 64), using none (the default)", "opt.stats_signal", "0");
	check_warned("SBMALLOC_STATS_SIGNAL=19", WARNING "SBMALLOC_STATS_SIGNAL=19: signal 19 "
		     "cannot be caught, using none (the default)", "opt.stats_signal", "0");
	check_warned("SBMALLOC_STATS_SIGNAL=32", WARNING "SBMALLOC_STATS_SIGNAL=32: signal 32 "
		     "is the C library's, using none (the default)", "opt.stats_signal", "0");
	check_warned("SBMALLOC_STATS_SIGNAL=-10", WARNING "SBMALLOC_STATS_SIGNAL=-10: not USR1, "
		     "USR2 or a signal number, using none (the default)", "opt.stats_signal", "0");
	teardown();
}

TEST(stats_signal_takes_USR1_USR2_in_any_case_and_numbers)
{
	char usr1[32], usr2[32];

	setup();
	snprintf(usr1, sizeof usr1, "%d", SIGUSR1);
	snprintf(usr2, sizeof usr2, "%d", SIGUSR2);
	check_accepted("SBMALLOC_STATS_SIGNAL=USR1", "opt.stats_signal", usr1);
	check_accepted("SBMALLOC_STATS_SIGNAL=usr2", "opt.stats_signal", usr2);
	check_accepted("SBMALLOC_STATS_SIGNAL=SIGUSR1", "opt.stats_signal", usr1);
	check_accepted("SBMALLOC_STATS_SIGNAL=40", "opt.stats_signal", "40");
	teardown();
}

/* A number names the signal that dumps: a real-time one here. */
TEST(stats_signal_number_dumps_on_that_signal)
{
	static const char *const env[] = { "SBMALLOC_STATS_SIGNAL=40", NULL };
	struct run r;

	setup();
	run("raise", env, &r);
	CHECKF(strstr(r.err, "role: raised 40") != NULL, "%s", r.err);
	CHECKF(count_lines(r.err, "summary - sbmalloc ") == 1, "no dump: %s", r.err);
	free(r.err);
	teardown();
}

/* A misspelt name changes nothing: no statistics, no dump. */
TEST(unknown_variable_warns_with_a_guess_and_changes_nothing)
{
	setup();
	check_warned("SBMALLOC_STAT=1", WARNING "SBMALLOC_STAT=1: unknown variable (did you mean "
		     "SBMALLOC_STATS?), using nothing from it", "opt.stats", "0");
	check_warned("SBMALLOC_XYZZY=1", WARNING "SBMALLOC_XYZZY=1: unknown variable, using "
		     "nothing from it", "opt.check", "0");
	teardown();
}

TEST(tools_variables_pass_without_a_warning)
{
	static const char *const env[] = { "SBMALLOC_LIB=/x/libsbmalloc.so", "SBMALLOC_PEERS=/x",
		"SBMALLOC_SRCDIR=/x", "SBMALLOC_BUILDDIR=/x", "SBMALLOC_MAKE=make", NULL };
	struct run r;

	setup();
	run("show", env, &r);
	CHECKF(count_lines(r.err, "sbmalloc:") == 0, "%s", r.err);
	free(r.err);
	teardown();
}

TEST(empty_value_is_the_default_without_a_warning)
{
	setup();
	check_accepted("SBMALLOC_CHECK=", "opt.check", "0");
	check_accepted("SBMALLOC_DIRTY_MAX=", "opt.dirty_max", "16777216");
	check_accepted("SBMALLOC_STATS=", "opt.stats", "0");
	teardown();
}

/* A value with a newline is shown with '?': the warning stays one line. */
TEST(warning_stays_on_one_line_whatever_the_value)
{
	setup();
	check_warned("SBMALLOC_DIRTY_MAX=1\nsbmalloc: forged", WARNING "SBMALLOC_DIRTY_MAX=1?"
		     "sbmalloc: forged: not a size (bytes, with k, m or g), using 16m (the default)",
		     "opt.dirty_max", "16777216");
	teardown();
}

TEST(guard_takes_a_number_and_warns_at_anything_else)
{
	setup();
	check_accepted("SBMALLOC_GUARD=0", "opt.guard", "0");
	check_accepted("SBMALLOC_GUARD=7", "opt.guard", "7");
	check_accepted("SBMALLOC_GUARD=", "opt.guard", "16384");
	check_warned("SBMALLOC_GUARD=often", WARNING "SBMALLOC_GUARD=often: not a number, using "
		     "16384 (the default)", "opt.guard", "16384");
	check_warned("SBMALLOC_GUARD=4294967296", WARNING "SBMALLOC_GUARD=4294967296: too large "
		     "(at most 4294967295), using 16384 (the default)", "opt.guard", "16384");
	teardown();
}

TEST(stats_format_takes_text_or_json)
{
	setup();
	check_accepted("SBMALLOC_STATS_FORMAT=json", "opt.stats_format", "json");
	check_accepted("SBMALLOC_STATS_FORMAT=JSON", "opt.stats_format", "json");
	check_accepted("SBMALLOC_STATS_FORMAT=text", "opt.stats_format", "text");
	check_warned("SBMALLOC_STATS_FORMAT=xml", WARNING "SBMALLOC_STATS_FORMAT=xml: not one of "
		     "text|json, using text (the default)", "opt.stats_format", "text");
	teardown();
}

/* ---- SBMALLOC_VERBOSE ---------------------------------------------------- */

TEST(verbose_lists_every_option_once_in_force_and_where_it_came_from)
{
	static const char *const env[] = { "SBMALLOC_VERBOSE=1", "SBMALLOC_DIRTY_MAX=64k", NULL };
	char prefix[128], line[512];
	struct run r;
	size_t i;

	setup();
	run("show", env, &r);
	CHECKF(count_lines(r.err, "sbmalloc: option ") == NR_OPTIONS, "%s", r.err);
	for (i = 0; i < NR_OPTIONS; i++) {
		snprintf(prefix, sizeof prefix, "sbmalloc: option %s=", option_names[i]);
		CHECKF(line_starting(r.err, prefix, line, sizeof line) != NULL, "no %s in %s",
		       prefix, r.err);
		CHECKF(count_lines(r.err, prefix) == 1, "%s twice in %s", prefix, r.err);
	}
	CHECK(has_line(r.err, "sbmalloc: option SBMALLOC_DIRTY_MAX=65536 (environment)"));
	CHECK(has_line(r.err, "sbmalloc: option SBMALLOC_VERBOSE=1 (environment)"));
	CHECK(has_line(r.err, "sbmalloc: option SBMALLOC_CHECK=0 (default)"));
	CHECK(has_line(r.err, "sbmalloc: option SBMALLOC_HUGEPAGES=kernel (default)"));
	CHECK(has_line(r.err, "sbmalloc: option SBMALLOC_STATS_SIGNAL=none (default)"));
	CHECK(has_line(r.err, "sbmalloc: option SBMALLOC_GUARD=16384 (default)"));
	free(r.err);
	teardown();
}

TEST(without_verbose_nothing_is_listed)
{
	static const char *const env[] = { "SBMALLOC_VERBOSE=0", NULL };
	struct run r;

	setup();
	run("show", env, &r);
	CHECKF(count_lines(r.err, "sbmalloc:") == 0, "%s", r.err);
	free(r.err);
	teardown();
}

/* ---- Once per process ---------------------------------------------------- */

/* sb_config_init runs twice (bring-up, constructor); a forked child runs
 * no constructor, and its dump at exit goes the same way, silently. */
TEST(a_warning_is_printed_once_also_when_the_program_forks)
{
	static const char *const misspelt[] = { "SBMALLOC_STAT=1", NULL };
	static const char *const unwritable[] = { "SBMALLOC_STATS=/nonexistent/dir/x", NULL };
	static const char *const verbose[] = { "SBMALLOC_VERBOSE=1", NULL };
	struct run r;

	setup();
	run("fork", misspelt, &r);
	CHECKF(count_lines(r.err, "sbmalloc: warning: SBMALLOC_STAT=1:") == 1, "%s", r.err);
	free(r.err);
	run("fork", unwritable, &r);
	CHECKF(count_lines(r.err, "sbmalloc: warning: SBMALLOC_STATS=") == 1, "%s", r.err);
	CHECKF(count_lines(r.err, "summary - sbmalloc ") == 2, "parent's and child's dump: %s",
	       r.err);
	free(r.err);
	run("fork", verbose, &r);
	CHECKF(count_lines(r.err, "sbmalloc: option ") == NR_OPTIONS, "%s", r.err);
	free(r.err);
	teardown();
}

/* Set-uid (AT_SECURE): every variable ignored, without a word.  Root runs
 * a copy of this program that is set-uid to nobody. */
TEST(set_uid_program_ignores_every_variable_silently)
{
	static const char *const env[] = { "SBMALLOC_CHECK=1", "SBMALLOC_STAT=1",
		"SBMALLOC_DIRTY_MAX=lots", "SBMALLOC_VERBOSE=1", NULL };
	char copy[700], cmd[1600];
	struct run r;

	if (geteuid() != 0)
		tap_skip("needs root to make a set-uid program");
	setup();
	CHECK(chmod(tmpdir, 0755) == 0);
	snprintf(copy, sizeof copy, "%s/setuid-copy", tmpdir);
	snprintf(cmd, sizeof cmd, "cp '%s' '%s'", exe, copy);
	CHECK(system(cmd) == 0);
	CHECK(chown(copy, 65534, 65534) == 0 && chmod(copy, 04755) == 0);
	spawn_role_of(copy, "show", NULL, env, &r);
	if (WIFEXITED(r.status) && WEXITSTATUS(r.status) == 127) {
		teardown();
		tap_skip("the set-uid copy does not start");
	}
	CHECKF(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0, "%s: %s",
	       status_text(r.status), r.err);
	CHECKF(count_lines(r.err, "sbmalloc:") == 0, "%s", r.err);
	CHECK(strcmp(shown(&r, "opt.check"), "0") == 0);
	CHECK(strcmp(shown(&r, "usable5"), "16") == 0);
	CHECK(strcmp(shown(&r, "opt.verbose"), "0") == 0);
	free(r.err);
	teardown();
}

/* ---- sb_ctl -------------------------------------------------------------- */

TEST(sb_ctl_reads_every_opt_name_with_its_defaults)
{
	static const char *const want[] = {
		"opt.hugepages=kernel", "opt.check=0", "opt.dirty_max=16777216", "opt.stats=0",
		"opt.stats_file=NULL", "opt.stats_signal=0", "opt.stats_format=text",
		"opt.guard=16384", "opt.verbose=0",
	};
	char line[600];
	struct run r;
	size_t i;

	setup();
	run("show", NULL, &r);
	for (i = 0; i < NR(want); i++) {
		snprintf(line, sizeof line, "role: %s", want[i]);
		CHECKF(has_line(r.err, line), "no \"%s\" in: %s", line, r.err);
	}
	free(r.err);
	teardown();
}

/* Every stats.* name reads, with SBMALLOC_STATS or without it (the
 * counters are always kept); after a megabyte is written, memory is mapped
 * and resident. */
TEST(sb_ctl_reads_every_stats_name_with_or_without_SBMALLOC_STATS)
{
	static const char *const stats[] = { "SBMALLOC_STATS=/dev/null", NULL };
	static const char *const *envs[] = { stats, NULL };
	char prefix[128], line[600];
	unsigned long long mapped, resident, mallocs;
	struct run r;
	size_t i, e;

	setup();
	for (e = 0; e < NR(envs); e++) {
		run("stats", envs[e], &r);
		for (i = 0; i < NR(stats_names); i++) {
			snprintf(prefix, sizeof prefix, "role: %s=", stats_names[i].name);
			CHECKF(line_starting(r.err, prefix, line, sizeof line) != NULL, "%s: %s",
			       stats_names[i].name, r.err);
		}
		CHECK(sscanf(shown(&r, "stats.mapped"), "%llu", &mapped) == 1);
		CHECK(sscanf(shown(&r, "stats.resident"), "%llu", &resident) == 1);
		CHECK(sscanf(shown(&r, "stats.malloc"), "%llu", &mallocs) == 1);
		CHECKF(mapped >= (1u << 20) && resident >= (1u << 20) && resident <= mapped,
		       "mapped %llu, resident %llu", mapped, resident);
		CHECK(mallocs >= 1);
		free(r.err);
	}
	teardown();
}

/* The names of earlier builds that the always-kept counters cannot give
 * (requested bytes, the live peak) or that lost their meaning are gone. */
TEST(sb_ctl_names_of_figures_no_longer_kept_are_ENOENT)
{
	uint64_t v;
	size_t z, len;
	int n;

	len = sizeof n;
	CHECK(sb_ctl("stats.counting", &n, &len, NULL, 0) == ENOENT);
	len = sizeof z;
	CHECK(sb_ctl("stats.allocated_peak", &z, &len, NULL, 0) == ENOENT);
	len = sizeof v;
	CHECK(sb_ctl("stats.requested", &v, &len, NULL, 0) == ENOENT);
}

TEST(stats_allocated_moves_by_the_usable_size_of_a_malloc)
{
	char want[64];
	struct run r;

	setup();
	run("allocated", NULL, &r);
	snprintf(want, sizeof want, "%s", shown(&r, "usable"));
	CHECKF(atoi(want) >= 1000, "usable %s", want);
	CHECKF(strcmp(shown(&r, "grew"), want) == 0, "grew %s, usable %s", shown(&r, "grew"), want);
	CHECKF(strcmp(shown(&r, "shrank"), want) == 0, "shrank %s, usable %s",
	       shown(&r, "shrank"), want);
	free(r.err);
	teardown();
}

TEST(sb_ctl_unknown_names_are_ENOENT)
{
	int v;
	size_t len = sizeof v;

	CHECK(sb_ctl("opt.nope", &v, &len, NULL, 0) == ENOENT);
	CHECK(sb_ctl("opt.", &v, &len, NULL, 0) == ENOENT);
	CHECK(sb_ctl("opt.CHECK", &v, &len, NULL, 0) == ENOENT);
	CHECK(sb_ctl("stats.nope", &v, &len, NULL, 0) == ENOENT);
	CHECK(sb_ctl("nope", &v, &len, NULL, 0) == ENOENT);
	CHECK(sb_ctl("", &v, &len, NULL, 0) == ENOENT);
	CHECK(sb_ctl(NULL, &v, &len, NULL, 0) == ENOENT);
	CHECK(sb_ctl("SBMALLOC_CHECK", &v, &len, NULL, 0) == ENOENT);
}

/* A length that is not the type's is EINVAL, nothing is read, and
 * *oldlenp says the type's size. */
TEST(sb_ctl_wrong_lengths_are_EINVAL)
{
	const struct ctl_name *all[NR(opt_names) + NR(stats_names)];
	char buf[16];
	size_t i, n = 0, len;

	for (i = 0; i < NR(opt_names); i++)
		all[n++] = &opt_names[i];
	for (i = 0; i < NR(stats_names); i++)
		all[n++] = &stats_names[i];
	for (i = 0; i < n; i++) {
		size_t want = kind_size(all[i]->kind);

		memset(buf, 0x5a, sizeof buf);
		len = want + 1;
		CHECKF(sb_ctl(all[i]->name, buf, &len, NULL, 0) == EINVAL, "%s", all[i]->name);
		CHECKF(len == want, "%s: len %zu", all[i]->name, len);
		CHECKF(buf[0] == 0x5a, "%s was read", all[i]->name);
		len = want - 1;
		CHECKF(sb_ctl(all[i]->name, buf, &len, NULL, 0) == EINVAL, "%s", all[i]->name);
		CHECKF(sb_ctl(all[i]->name, buf, NULL, NULL, 0) == EINVAL, "%s", all[i]->name);
	}
}

/* oldp NULL: *oldlenp gets the size of the name's type. */
TEST(sb_ctl_without_oldp_tells_the_size)
{
	size_t len = 0;

	CHECK(sb_ctl("opt.dirty_max", NULL, &len, NULL, 0) == 0 && len == sizeof(size_t));
	CHECK(sb_ctl("opt.check", NULL, &len, NULL, 0) == 0 && len == sizeof(int));
	CHECK(sb_ctl("opt.hugepages", NULL, &len, NULL, 0) == 0 && len == sizeof(char *));
	CHECK(sb_ctl("stats.handed_out", NULL, &len, NULL, 0) == 0 && len == sizeof(uint64_t));
	CHECK(sb_ctl("version", NULL, &len, NULL, 0) == 0 && len == sizeof(char *));
	CHECK(sb_ctl("version", NULL, NULL, NULL, 0) == 0);
}

TEST(sb_ctl_writes_to_read_only_names_are_EPERM)
{
	int one = 1;
	size_t z = 1;
	const char *s = "x";
	size_t i;

	for (i = 0; i < NR(opt_names); i++) {
		const void *p = opt_names[i].kind == K_INT ? (const void *)&one :
				opt_names[i].kind == K_SIZE ? (const void *)&z : (const void *)&s;

		if (strcmp(opt_names[i].name, "opt.dirty_max") == 0)
			continue;
		CHECKF(sb_ctl(opt_names[i].name, NULL, NULL, (void *)p,
			      kind_size(opt_names[i].kind)) == EPERM, "%s", opt_names[i].name);
	}
	for (i = 0; i < NR(stats_names); i++)
		CHECKF(sb_ctl(stats_names[i].name, NULL, NULL, &z, sizeof z) == EPERM, "%s",
		       stats_names[i].name);
	CHECK(sb_ctl("version", NULL, NULL, &s, sizeof s) == EPERM);
}

/* opt.dirty_max is mallopt(M_TRIM_THRESHOLD)'s setting: written, read
 * back, and the old value read first. */
TEST(sb_ctl_writes_opt_dirty_max)
{
	size_t old, now, want = 123456, len = sizeof old, huge = ((size_t)1 << 50) + 1;

	CHECK(sb_ctl("opt.dirty_max", &old, &len, &want, sizeof want) == 0);
	CHECK(sb_ctl("opt.dirty_max", &now, &len, NULL, 0) == 0 && now == 123456);
	CHECK(mallopt(M_TRIM_THRESHOLD, 65536) == 1);
	CHECK(sb_ctl("opt.dirty_max", &now, &len, NULL, 0) == 0 && now == 65536);
	CHECK(sb_ctl("opt.dirty_max", NULL, NULL, &want, sizeof want - 1) == EINVAL);
	CHECK(sb_ctl("opt.dirty_max", NULL, NULL, NULL, sizeof want) == EINVAL);
	CHECK(sb_ctl("opt.dirty_max", NULL, NULL, &huge, sizeof huge) == EINVAL);
	CHECK(sb_ctl("opt.dirty_max", &now, &len, NULL, 0) == 0 && now == 65536);
	CHECK(sb_ctl("opt.dirty_max", &now, &len, &old, sizeof old) == 0 && now == 65536);
}

TEST(sb_ctl_version_is_sb_version)
{
	const char *v = NULL;
	size_t len = sizeof v;

	CHECK(sb_ctl("version", &v, &len, NULL, 0) == 0);
	CHECK(v != NULL && strcmp(v, sb_version()) == 0);
}

static const struct tap_case cases[] = {
	TAP_CASE(hugepages_bogus_warns_and_leaves_huge_pages_to_the_kernel)
	TAP_CASE(hugepages_THP_in_capitals_is_thp)
	TAP_CASE(check_no_off_false_0_leave_checking_off)
	TAP_CASE(check_1_on_yes_true_turn_checking_on)
	TAP_CASE(check_that_is_not_a_boolean_warns_and_leaves_checking_off)
	TAP_CASE(dirty_max_that_overflows_warns_and_keeps_16m)
	TAP_CASE(dirty_max_above_2_to_the_50_warns_and_keeps_16m)
	TAP_CASE(dirty_max_minus_1_warns_and_keeps_16m)
	TAP_CASE(dirty_max_lots_warns_and_keeps_16m)
	TAP_CASE(dirty_max_takes_bytes_with_k_m_g_in_either_case)
	TAP_CASE(stats_file_that_cannot_be_written_warns_and_dumps_to_stderr)
	TAP_CASE(stats_file_that_is_a_directory_warns_and_dumps_to_stderr)
	TAP_CASE(stats_file_in_a_writable_directory_gets_the_dump_without_a_warning)
	TAP_CASE(stats_takes_booleans_and_0_is_off)
	TAP_CASE(stats_signal_9_warns_and_sets_no_handler)
	TAP_CASE(stats_signal_bogus_warns_and_sets_no_handler)
	TAP_CASE(stats_signal_0_stop_out_of_range_and_the_C_librarys_warn)
	TAP_CASE(stats_signal_takes_USR1_USR2_in_any_case_and_numbers)
	TAP_CASE(stats_signal_number_dumps_on_that_signal)
	TAP_CASE(unknown_variable_warns_with_a_guess_and_changes_nothing)
	TAP_CASE(tools_variables_pass_without_a_warning)
	TAP_CASE(empty_value_is_the_default_without_a_warning)
	TAP_CASE(warning_stays_on_one_line_whatever_the_value)
	TAP_CASE(guard_takes_a_number_and_warns_at_anything_else)
	TAP_CASE(stats_format_takes_text_or_json)
	TAP_CASE(verbose_lists_every_option_once_in_force_and_where_it_came_from)
	TAP_CASE(without_verbose_nothing_is_listed)
	TAP_CASE(a_warning_is_printed_once_also_when_the_program_forks)
	TAP_CASE(set_uid_program_ignores_every_variable_silently)
	TAP_CASE(sb_ctl_reads_every_opt_name_with_its_defaults)
	TAP_CASE(sb_ctl_reads_every_stats_name_with_or_without_SBMALLOC_STATS)
	TAP_CASE(sb_ctl_names_of_figures_no_longer_kept_are_ENOENT)
	TAP_CASE(stats_allocated_moves_by_the_usable_size_of_a_malloc)
	TAP_CASE(sb_ctl_unknown_names_are_ENOENT)
	TAP_CASE(sb_ctl_wrong_lengths_are_EINVAL)
	TAP_CASE(sb_ctl_without_oldp_tells_the_size)
	TAP_CASE(sb_ctl_writes_to_read_only_names_are_EPERM)
	TAP_CASE(sb_ctl_writes_opt_dirty_max)
	TAP_CASE(sb_ctl_version_is_sb_version)
};

int main(int argc, char **argv)
{
	if (argc >= 3 && strcmp(argv[1], "--role") == 0)
		return run_role(argv[2]);
	return tap_main_many(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
