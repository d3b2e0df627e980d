/*
 * impl.h - the malloc family's internal entry points (malloc.c), for the
 * other public faces built on them (cxxnew.c).
 *
 * Every exported name of malloc.c is an alias of one of these; calling
 * them directly (hidden, so a direct call, no PLT) reaches the same fast
 * paths.  They set errno as the public functions do.  (Named impl.h, not
 * malloc.h, so as not to hide the system's <malloc.h>.)
 */
#ifndef SB_IMPL_H
#define SB_IMPL_H

#include "common.h"

#pragma GCC visibility push(hidden)

void *sb_impl_malloc(size_t size);
/* malloc's fast path for operator new: when malloc would return NULL,
 * the result of fail(size) instead (no errno of its own). */
void *sb_impl_new(size_t size, void *(*fail)(size_t));
void *sb_impl_aligned_alloc(size_t align, size_t size);
void sb_impl_free(void *p);
void sb_impl_free_sized(void *p, size_t size);
void sb_impl_free_aligned_sized(void *p, size_t align, size_t size);

#pragma GCC visibility pop

#endif /* SB_IMPL_H */
