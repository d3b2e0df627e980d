/*
 * stack.h - call stacks for reports (stack.c): captured without calling
 * malloc, printed through write(2).
 */
#ifndef SB_STACK_H
#define SB_STACK_H

#include "common.h"

#pragma GCC visibility push(hidden)

#define SB_STACK_DEPTH 8

struct sb_stack {
	uint32_t depth;
	uint32_t tid;			/* the thread that was there */
	void *pc[SB_STACK_DEPTH];
};

static inline void sb_stack_clear(struct sb_stack *st)
{
	st->depth = 0;
}

/* The calling thread's stack, skipping sbmalloc's own frames. */
void sb_stack_capture(struct sb_stack *st);
/* "sbmalloc:   <title> by thread N:" then a line per frame, on stderr;
 * nothing for an empty stack. */
void sb_stack_print(const char *title, const struct sb_stack *st);

#pragma GCC visibility pop

#endif /* SB_STACK_H */
