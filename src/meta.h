/*
 * meta.h - the metadata allocator (meta.c): small descriptors (slabs,
 * magazines, thread caches, huge blocks) in mappings of their own, never
 * next to user memory.
 */
#ifndef SB_META_H
#define SB_META_H

#include "common.h"

#pragma GCC visibility push(hidden)

#define SB_META_MAX 16384

/* size (1..SB_META_MAX) bytes, zeroed; NULL when the OS refuses. */
void *sb_meta_alloc(size_t size);
/* Give back p, which sb_meta_alloc(size) returned. */
void sb_meta_free(void *p, size_t size);
/* Bytes mapped for metadata. */
size_t sb_meta_bytes(void);

void sb_meta_fork_prepare(void);
void sb_meta_fork_parent(void);
void sb_meta_fork_child(void);

#pragma GCC visibility pop

#endif /* SB_META_H */
