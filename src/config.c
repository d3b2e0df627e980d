/*
 * config.c - sbmalloc's settings, read from the environment; bring-up and
 * the fork handlers, which span every layer.
 *
 * The environment is scanned from `environ` directly: getenv() may not be
 * ready when the first malloc comes (ld.so calls malloc before libc is
 * initialised) and secure_getenv() is glibc's.  When the process runs with
 * AT_SECURE (set-uid and the like) every SBMALLOC_* variable is ignored.
 * sb_config_init() may run before environ is set; the library constructor
 * runs it again, so settings apply from then on.
 *
 *   SBMALLOC_HUGEPAGES=auto|hugetlb|thp|off   backing of regions (region.c);
 *                                             unset: the kernel's THP setting
 *   SBMALLOC_CHECK=1                          extra consistency checks
 *   SBMALLOC_DIRTY_MAX=<bytes>[k|m|g]         free memory kept resident
 */
#include "internal.h"

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
};

const char *sb_env(const char *name)
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

void sb_config_init(void)
{
	const char *v;

#if defined(HAVE_GETAUXVAL) && defined(AT_SECURE)
	sb_config.secure = getauxval(AT_SECURE) != 0;
#endif
	v = sb_env("SBMALLOC_HUGEPAGES");
	sb_config.hugepages_set = v != NULL;
	sb_config.hugepages = SB_HUGEPAGES_KERNEL;
	if (v != NULL) {
		if (strcmp(v, "hugetlb") == 0)
			sb_config.hugepages = SB_HUGEPAGES_HUGETLB;
		else if (strcmp(v, "thp") == 0)
			sb_config.hugepages = SB_HUGEPAGES_THP;
		else if (strcmp(v, "off") == 0 || strcmp(v, "4k") == 0 || strcmp(v, "0") == 0)
			sb_config.hugepages = SB_HUGEPAGES_OFF;
		else
			sb_config.hugepages = SB_HUGEPAGES_AUTO;
	}
	v = sb_env("SBMALLOC_CHECK");
	sb_config.check = v != NULL && v[0] != '\0' && v[0] != '0';
	v = sb_env("SBMALLOC_DIRTY_MAX");
	if (v != NULL)
		parse_size(v, &sb_config.dirty_max);
}

/* ---- Bring-up ---------------------------------------------------------- */

int sb_init_state;			/* 0 none, 1 running, 2 done */
static pthread_mutex_t init_lock = PTHREAD_MUTEX_INITIALIZER;

/* The layers, bottom up; the first call of all, from any entry point. */
void sb_global_init(void)
{
	pthread_mutex_lock(&init_lock);
	if (sb_init_state == 0) {
		sb_init_state = 1;
		sb_config_init();
		if (!sb_region_init())
			sb_fatal("cannot initialise regions");
		sb_slab_init();
		__atomic_store_n(&sb_init_state, 2, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&init_lock);
}

/* ---- Fork -------------------------------------------------------------- */

/*
 * Registered with pthread_atfork by the library constructor.  Every lock,
 * in the documented order: the thread-cache list, the list of caches, each
 * depot, each cache, then region.c's (grow, regions, huge, meta).  The
 * parent releases them in reverse; the child re-initialises them.
 */
void sb_fork_prepare(void)
{
	sb_ensure_init();
	sb_mag_fork_prepare();
	sb_cache_list_lock();
	sb_depot_fork_prepare();
	sb_slab_fork_prepare();
	sb_region_fork_prepare();
}

void sb_fork_parent(void)
{
	sb_region_fork_parent();
	sb_slab_fork_parent();
	sb_depot_fork_parent();
	sb_cache_list_unlock(false);
	sb_mag_fork_parent();
}

void sb_fork_child(void)
{
	sb_region_fork_child();
	sb_slab_fork_child();
	sb_depot_fork_child();
	sb_cache_list_unlock(true);
	sb_mag_fork_child();
}
