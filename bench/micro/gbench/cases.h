/*
 * cases.h - the bodies of sbbench's micro-benchmarks, in C.
 *
 * shim.cc registers each of these with Google Benchmark.  Every body does
 * n operations of one kind and returns a value derived from the pointers it
 * got (a "sink"), which the shim hands to benchmark::DoNotOptimize; cases.c
 * is compiled with -fno-builtin and passes every pointer through an empty
 * asm statement, so no malloc/free pair can be folded away.  The unit of
 * one benchmark iteration is one operation as documented per function, so
 * Google Benchmark's "time per iteration" is time per operation.
 *
 * The same binary runs under every allocator (LD_PRELOAD); nothing here
 * knows which one it is except ops_allocator_name(), which only looks.
 */
#ifndef SB_GBENCH_OPS_H
#define SB_GBENCH_OPS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* "glibc", "jemalloc", "tcmalloc", "mimalloc" or "sbmalloc <version>":
 * whichever allocator's marker symbol the process can see. */
const char *ops_allocator_name(void);

/* n times: p = malloc(size), free(p).  One operation = one pair. */
uintptr_t ops_malloc_free(size_t size, size_t n);

/* n times: p = calloc(1, size), free(p).  One operation = one pair. */
uintptr_t ops_calloc_free(size_t size, size_t n);

/* n times: p = aligned_alloc(align, size), check, free(p). */
uintptr_t ops_aligned_free(size_t align, size_t size, size_t n);

/* One buffer grown by realloc from step to max bytes in steps of step
 * (writing its last byte after each), then freed.  One operation = one
 * realloc; a round is ops_realloc_round_ops(step, max) operations. */
size_t ops_realloc_round_ops(size_t step, size_t max);
uintptr_t ops_realloc_grow(size_t step, size_t max);

/* A batch of n objects of random sizes in [min, max], all allocated, then
 * all freed in a shuffled order fixed at creation.  One operation = one
 * object's malloc+free; a round is n operations. */
struct ops_batch;
struct ops_batch *ops_batch_new(size_t n, size_t min, size_t max, uint64_t seed);
uintptr_t ops_batch_round(struct ops_batch *b);
void ops_batch_delete(struct ops_batch *b);

/* A window of `window` live page-sized blocks; each operation frees the
 * oldest and allocates the next size of the cycle 4, 8, ..., 64 KiB,
 * writing its first and last byte.  The window starts (and is left) empty. */
struct ops_blocks;
struct ops_blocks *ops_blocks_new(size_t window, uint64_t seed);
uintptr_t ops_blocks_step(struct ops_blocks *b, size_t n);
void ops_blocks_delete(struct ops_blocks *b);

/*
 * Cross-thread free: a single-producer single-consumer lock-free ring per
 * pair of threads.  The producer mallocs and pushes, the consumer pops and
 * frees; each side waits (spinning, then sched_yield) while the ring is full
 * or empty.  Both sides must do the same number of operations, so the ring
 * is empty again when they are done.  One operation = one malloc (producer)
 * or one free (consumer).
 */
#define OPS_MAX_PAIRS 64
struct ops_ring;
struct ops_ring *ops_ring_of_pair(unsigned pair);
uintptr_t ops_ring_produce(struct ops_ring *r, size_t size, size_t n);
uintptr_t ops_ring_consume(struct ops_ring *r, size_t n);

#ifdef __cplusplus
}
#endif

#endif
