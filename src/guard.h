/*
 * guard.h - sampled guard allocations (guard.c), KFENCE / GWP-ASan in user
 * space: now and then a small object gets a slot of its own, next to a
 * PROT_NONE page, so that an out-of-bounds access or a use after free
 * faults and is reported with the object's stacks.
 */
#ifndef SB_GUARD_H
#define SB_GUARD_H

#include "common.h"

#pragma GCC visibility push(hidden)

/* Objects up to this size can be guarded. */
#define SB_GUARD_MAX_SIZE SB_PAGE_SIZE

/* Allocations left before the calling thread's next sample (guard.c). */
extern __thread long sb_guard_countdown __attribute__((tls_model("initial-exec")));
extern char *sb_guard_base, *sb_guard_end;

/* The thread cache brought n objects in for the thread to hand out: they
 * count towards the next sample. */
static inline void sb_guard_note(long n)
{
	sb_guard_countdown -= n;
}

/* The next allocation should be guarded. */
static inline bool sb_guard_due(void)
{
	return sb_unlikely(sb_guard_countdown <= 0);
}

/* Is p inside the guard pool? */
static inline bool sb_guard_owns(const void *p)
{
	return (const char *)p >= sb_guard_base && (const char *)p < sb_guard_end;
}

/* From the library constructor, when SBMALLOC_GUARD allows: the pool and
 * the SIGSEGV handler. */
void sb_guard_init(void);
/* The calling thread starts counting towards its next sample at a random
 * point of the period. */
void sb_guard_thread_start(void);
/* A guarded object of size bytes (<= SB_GUARD_MAX_SIZE), or NULL when no
 * slot is free (or guarding is off); resets the countdown either way. */
void *sb_guard_alloc(size_t size);
/* Free the guarded object p; a double free, an interior pointer or a
 * damaged slot are reported, naming func. */
void sb_guard_free(void *p, const char *func);
/* The size the guarded object p was allocated for (it must be live). */
size_t sb_guard_size(const void *p, const char *func);

struct sb_guard_counters {
	size_t slots;			/* the pool's */
	size_t live;			/* guarded objects in use */
	size_t live_bytes;		/* their sizes */
	uint64_t sampled;		/* guarded objects ever handed out */
	uint64_t reports;
};
void sb_guard_counters(struct sb_guard_counters *out);

/* Fork: guard_lock (fork.c). */
void sb_guard_fork_prepare(void);
void sb_guard_fork_parent(void);
void sb_guard_fork_child(void);

#pragma GCC visibility pop

#endif /* SB_GUARD_H */
