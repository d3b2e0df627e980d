/*
 * init.c - orchestration: bring-up, and the library constructor.
 *
 * The first call of all may come from ld.so before libc is initialised
 * and before our constructor.  Nothing on the way allocates, calls dlsym,
 * getenv or stdio.  sb_global_init() sets up, bottom up, what every later
 * call needs: the settings, the THP mode, the size-class tables and the
 * size classes' caches; memory itself (regions, thread caches) comes on
 * first use.  Thread state is reached through an initial-exec TLS pointer
 * that starts at a static sentinel (tcache.c), so a thread's first call
 * takes the slow path that sets it up.
 *
 * The constructor runs once libc is up: it reads the environment again
 * (environ may not have been set at the first call), starts statistics if
 * asked, creates the thread-exit key and registers the fork handlers.
 *
 * Lock: init_lock serialises bring-up; it is taken only until bring-up is
 * done, and never at fork (fork.c).
 */
#include "init.h"
#include "buddy.h"
#include "cache.h"
#include "config.h"
#include "fork.h"
#include "guard.h"
#include "key.h"
#include "os.h"
#include "slab.h"
#include "sizeclass.h"
#include "stats.h"
#include "tcache.h"

#include <pthread.h>

int sb_init_state;
static pthread_mutex_t init_lock = PTHREAD_MUTEX_INITIALIZER;

void sb_global_init(void)
{
	pthread_mutex_lock(&init_lock);
	if (sb_init_state == 0) {
		sb_init_state = 1;
		sb_config_init();
		sb_key_init();
		sb_os_init();
		sb_slab_set_nobody(&sb_bin_nobody);
		sb_sizeclass_init();
		sb_caches_init();
		__atomic_store_n(&sb_init_state, 2, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&init_lock);
}

__attribute__((constructor)) static void sb_constructor(void)
{
	sb_ensure_init();
	sb_config_init();
	sb_stats_init();
	sb_guard_init();
	sb_tc_init();
	pthread_atfork(sb_fork_prepare, sb_fork_parent, sb_fork_child);
}
