/*
 * report.c - messages to the user, through write(2) only.
 *
 * Nothing here allocates or takes a lock, so these are safe from inside
 * the allocator, in a signal handler and in a forked child.  The fatal
 * reports end in abort(), like glibc's malloc_printerr().
 */
#include "report.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void sb_write_str(int fd, const char *s)
{
	size_t len = strlen(s);

	while (len > 0) {
		ssize_t n = write(fd, s, len);
		if (n <= 0)
			return;
		s += n;
		len -= (size_t)n;
	}
}

size_t sb_fmt_hex(char *buf, size_t len, uintptr_t v)
{
	char tmp[2 + 16];
	size_t n = 0, i;

	do {
		tmp[n++] = "0123456789abcdef"[v & 15];
		v >>= 4;
	} while (v != 0);
	if (len < n + 3)
		return 0;
	buf[0] = '0';
	buf[1] = 'x';
	for (i = 0; i < n; i++)
		buf[2 + i] = tmp[n - 1 - i];
	buf[2 + n] = '\0';
	return n + 2;
}

size_t sb_fmt_u64(char *buf, size_t len, uint64_t v)
{
	char tmp[24];
	size_t n = 0, i;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	if (len < n + 1)
		return 0;
	for (i = 0; i < n; i++)
		buf[i] = tmp[n - 1 - i];
	buf[n] = '\0';
	return n;
}

void sb_report_pointer(const char *func, const char *what, const void *ptr)
{
	char msg[160], hex[24];

	sb_fmt_hex(hex, sizeof(hex), (uintptr_t)ptr);
	msg[0] = '\0';
	strcat(msg, "sbmalloc: ");
	strncat(msg, func, 40);
	strcat(msg, "(): ");
	strncat(msg, what, 40);
	strcat(msg, " ");
	strcat(msg, hex);
	strcat(msg, "\n");
	sb_write_str(2, msg);
}

void sb_abort(void)
{
	abort();
}

void sb_fatal_pointer(const char *func, const char *what, const void *ptr)
{
	sb_report_pointer(func, what, ptr);
	abort();
}

void sb_fatal(const char *msg)
{
	sb_write_str(2, "sbmalloc: ");
	sb_write_str(2, msg);
	sb_write_str(2, "\n");
	abort();
}

void sb_warn(const char *msg)
{
	sb_write_str(2, "sbmalloc: warning: ");
	sb_write_str(2, msg);
	sb_write_str(2, "\n");
}

bool sb_invalid(const char *layer, const char *what, uintptr_t value)
{
	char hex[24];

	sb_fmt_hex(hex, sizeof(hex), value);
	sb_write_str(2, "sbmalloc: ");
	sb_write_str(2, layer);
	sb_write_str(2, ": invalid: ");
	sb_write_str(2, what);
	sb_write_str(2, " ");
	sb_write_str(2, hex);
	sb_write_str(2, "\n");
	return false;
}

void sb_assert_fail(const char *file, int line, const char *cond)
{
	char num[24];

	sb_fmt_u64(num, sizeof(num), (uint64_t)line);
	sb_write_str(2, "sbmalloc: assertion failed at ");
	sb_write_str(2, file);
	sb_write_str(2, ":");
	sb_write_str(2, num);
	sb_write_str(2, ": ");
	sb_write_str(2, cond);
	sb_write_str(2, "\n");
	abort();
}
