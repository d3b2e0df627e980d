/*
 * report.h - messages to the user, through write(2) only (report.c).
 *
 * Safe anywhere: inside the allocator with any lock held, in a signal
 * handler, in a forked child.  Nothing here allocates or takes a lock.
 */
#ifndef SB_REPORT_H
#define SB_REPORT_H

#include "common.h"

#pragma GCC visibility push(hidden)

/* "sbmalloc: <func>(): <what> 0x<ptr>\n" on stderr, then abort().  func is
 * the public function the user called. */
SB_NORETURN SB_COLD void sb_fatal_pointer(const char *func, const char *what, const void *ptr);
/* The same line without stopping, for a report that goes on (then sb_abort). */
SB_COLD void sb_report_pointer(const char *func, const char *what, const void *ptr);
SB_NORETURN SB_COLD void sb_abort(void);
SB_NORETURN SB_COLD void sb_fatal(const char *msg);
/* "sbmalloc: warning: <msg>\n" on stderr. */
SB_COLD void sb_warn(const char *msg);
/* A validator found a broken invariant: "sbmalloc: <layer>: invalid: <what>"
 * on stderr; returns false, so a validator can `return sb_invalid(...)`. */
SB_COLD bool sb_invalid(const char *layer, const char *what, uintptr_t value);

void sb_write_str(int fd, const char *s);
/* Formats into buf (at most len-1 chars + NUL); returns the length. */
size_t sb_fmt_hex(char *buf, size_t len, uintptr_t v);
size_t sb_fmt_u64(char *buf, size_t len, uint64_t v);

#pragma GCC visibility pop

#endif /* SB_REPORT_H */
