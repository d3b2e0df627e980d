/*
 * init.h - bringing the layers up (init.c), an orchestration point.
 */
#ifndef SB_INIT_H
#define SB_INIT_H

#include "common.h"

#pragma GCC visibility push(hidden)

extern int sb_init_state;		/* 0 none, 1 running, 2 done */
void sb_global_init(void);

/* Bring the layers up once; cheap to call on every slow path. */
static inline void sb_ensure_init(void)
{
	if (sb_unlikely(__atomic_load_n(&sb_init_state, __ATOMIC_ACQUIRE) != 2))
		sb_global_init();
}

#pragma GCC visibility pop

#endif /* SB_INIT_H */
