/*
 * fork.h - the pthread_atfork handlers (fork.c), which take every lock of
 * sbmalloc in the one order that fork.c's top comment states.
 */
#ifndef SB_FORK_H
#define SB_FORK_H

#include "common.h"

#pragma GCC visibility push(hidden)

void sb_fork_prepare(void);
void sb_fork_parent(void);
void sb_fork_child(void);

#pragma GCC visibility pop

#endif /* SB_FORK_H */
