/*
 * config.c - sbmalloc's settings, read from the environment.
 *
 * The environment is scanned from `environ` directly: getenv() may not be
 * ready when the first malloc comes (ld.so calls malloc before libc is
 * initialised) and secure_getenv() is glibc's.  When the process runs with
 * AT_SECURE (set-uid and the like) every SBMALLOC_* variable is ignored.
 * sb_config_init() may run before environ is set; the library constructor
 * runs it again, so settings apply from then on.  This is the only file
 * that reads the environment.
 *
 *   SBMALLOC_HUGEPAGES=auto|hugetlb|thp|off   backing of regions (os.c);
 *                                             unset: the kernel's THP setting
 *   SBMALLOC_CHECK=1                          every small object through its slab
 *   SBMALLOC_DIRTY_MAX=<bytes>[k|m|g]         free memory kept resident (buddy.c)
 *   SBMALLOC_STATS=1|PATH                     count, and dump at exit (stats.c)
 *   SBMALLOC_STATS_SIGNAL=USR1|USR2|N         dump on that signal (stats.c)
 *   SBMALLOC_STATS_FORMAT=text|json           the form of those dumps (stats.c);
 *                                             anything but json: text
 *   SBMALLOC_GUARD=N                          one allocation in N guarded (guard.c);
 *                                             0: none
 *
 * No locks: sb_config is written at bring-up, by the constructor (both
 * before the program can have started threads) and, for dirty_max only,
 * with relaxed atomic stores.
 */
#include "config.h"

#include <signal.h>
#include <string.h>
#ifdef HAVE_SYS_AUXV_H
#include <sys/auxv.h>
#endif

extern char **environ;

struct sb_config sb_config = {
	.hugepages = SB_HUGEPAGES_KERNEL,
	.check = false,
	.dirty_max = (size_t)16 << 20,
	.secure = false,
	.guard_rate = SB_GUARD_DEFAULT_RATE,
};

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

static bool parse_size(const char *s, size_t *out)
{
	size_t v = 0;

	if (*s < '0' || *s > '9')
		return false;
	for (; *s >= '0' && *s <= '9'; s++)
		v = v * 10 + (size_t)(*s - '0');
	switch (*s) {
	case 'k': case 'K': v <<= 10; s++; break;
	case 'm': case 'M': v <<= 20; s++; break;
	case 'g': case 'G': v <<= 30; s++; break;
	}
	if (*s != '\0')
		return false;
	*out = v;
	return true;
}

static int parse_signal(const char *v)
{
	int n = 0;

	if (strncmp(v, "SIG", 3) == 0)
		v += 3;
	if (strcmp(v, "USR1") == 0)
		return SIGUSR1;
	if (strcmp(v, "USR2") == 0)
		return SIGUSR2;
	for (; *v >= '0' && *v <= '9'; v++)
		n = n * 10 + (*v - '0');
	return *v == '\0' && n > 0 && n < 65 ? n : 0;
}

static enum sb_hugepages_mode parse_hugepages(const char *v)
{
	if (v == NULL)
		return SB_HUGEPAGES_KERNEL;
	if (strcmp(v, "hugetlb") == 0)
		return SB_HUGEPAGES_HUGETLB;
	if (strcmp(v, "thp") == 0)
		return SB_HUGEPAGES_THP;
	if (strcmp(v, "off") == 0 || strcmp(v, "4k") == 0 || strcmp(v, "0") == 0)
		return SB_HUGEPAGES_OFF;
	return SB_HUGEPAGES_AUTO;
}

void sb_config_init(void)
{
	const char *v;
	size_t dirty;

#if defined(HAVE_GETAUXVAL) && defined(AT_SECURE)
	sb_config.secure = getauxval(AT_SECURE) != 0;
#endif
	sb_config.hugepages = parse_hugepages(env("SBMALLOC_HUGEPAGES"));
	v = env("SBMALLOC_CHECK");
	sb_config.check = v != NULL && v[0] != '\0' && v[0] != '0';
	v = env("SBMALLOC_DIRTY_MAX");
	if (v != NULL && parse_size(v, &dirty))
		sb_config_set_dirty_max(dirty);
	v = env("SBMALLOC_STATS");
	sb_config.stats = v != NULL && v[0] != '\0' && strcmp(v, "0") != 0;
	sb_config.stats_path = sb_config.stats && strcmp(v, "1") != 0 ? v : NULL;
	v = env("SBMALLOC_STATS_SIGNAL");
	sb_config.stats_signal = v != NULL ? parse_signal(v) : 0;
	v = env("SBMALLOC_STATS_FORMAT");
	sb_config.stats_format = v != NULL && strcmp(v, "json") == 0 ? SB_STATS_JSON : SB_STATS_TEXT;
	v = env("SBMALLOC_GUARD");
	sb_config.guard_default = v == NULL || !parse_size(v, &sb_config.guard_rate);
	if (sb_config.guard_default)
		sb_config.guard_rate = SB_GUARD_DEFAULT_RATE;
}

void sb_config_set_dirty_max(size_t bytes)
{
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
