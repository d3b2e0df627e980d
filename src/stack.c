/*
 * stack.c - call stacks for reports.
 *
 * Captured with libgcc's unwinder (_Unwind_Backtrace), which reads the
 * .eh_frame tables every object has on x86-64 and arm64 and never calls
 * malloc for them; libsbmalloc links libgcc_s, so nothing is loaded
 * lazily from inside the allocator (glibc's backtrace() would dlopen it on
 * first use, and dlopen allocates).  A capture that re-enters itself (an
 * unwinder that allocated after all) captures nothing.  The leading frames
 * inside the code segment of the object holding sbmalloc are skipped: a
 * report starts at the caller of malloc or free.  Printing names each frame by dladdr(): the function if its
 * symbol is exported, and always the object and the offset, for addr2line.
 * No locks; the re-entry flag is thread-local.
 */
#include "stack.h"
#include "report.h"

#include <dlfcn.h>
#include <link.h>
#include <unistd.h>
#include <unwind.h>
#include <sys/syscall.h>

struct walk {
	struct sb_stack *st;
	bool leading;			/* still in our own frames */
};

static __thread bool in_capture __attribute__((tls_model("initial-exec")));
static uintptr_t self_lo, self_hi;	/* the code segment holding this file */

static _Unwind_Reason_Code one_frame(struct _Unwind_Context *ctx, void *arg)
{
	struct walk *w = arg;
	uintptr_t ip = _Unwind_GetIP(ctx);

	if (ip == 0)
		return _URC_END_OF_STACK;
	if (w->leading && ip >= self_lo && ip < self_hi)
		return _URC_NO_REASON;
	w->leading = false;
	w->st->pc[w->st->depth++] = (void *)ip;
	return w->st->depth == SB_STACK_DEPTH ? _URC_END_OF_STACK : _URC_NO_REASON;
}

static int find_segment(struct dl_phdr_info *info, size_t size, void *arg)
{
	uintptr_t here = (uintptr_t)arg;
	int i;

	(void)size;
	for (i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t lo = info->dlpi_addr + ph->p_vaddr;

		if (ph->p_type == PT_LOAD && here >= lo && here < lo + ph->p_memsz) {
			self_lo = lo;
			self_hi = lo + ph->p_memsz;
			return 1;
		}
	}
	return 0;
}

void sb_stack_capture(struct sb_stack *st)
{
	struct walk w;

	st->depth = 0;
	st->tid = (uint32_t)syscall(SYS_gettid);
	if (in_capture)
		return;
	in_capture = true;
	if (self_hi == 0)
		dl_iterate_phdr(find_segment, (void *)(uintptr_t)sb_stack_capture);
	w.st = st;
	w.leading = true;
	_Unwind_Backtrace(one_frame, &w);
	in_capture = false;
}

void sb_stack_print(const char *title, const struct sb_stack *st)
{
	char num[24], hex[24];
	uint32_t i;

	if (st->depth == 0)
		return;
	sb_fmt_u64(num, sizeof(num), st->tid);
	sb_write_str(2, "sbmalloc:   ");
	sb_write_str(2, title);
	sb_write_str(2, " by thread ");
	sb_write_str(2, num);
	sb_write_str(2, ":\n");
	for (i = 0; i < st->depth; i++) {
		Dl_info info;

		sb_fmt_u64(num, sizeof(num), i);
		sb_fmt_hex(hex, sizeof(hex), (uintptr_t)st->pc[i]);
		sb_write_str(2, "sbmalloc:     #");
		sb_write_str(2, num);
		sb_write_str(2, " ");
		sb_write_str(2, hex);
		if (dladdr(st->pc[i], &info) != 0) {
			if (info.dli_sname != NULL) {
				sb_write_str(2, " in ");
				sb_write_str(2, info.dli_sname);
			}
			if (info.dli_fname != NULL) {
				sb_fmt_hex(hex, sizeof(hex),
					   (uintptr_t)st->pc[i] - (uintptr_t)info.dli_fbase);
				sb_write_str(2, " (");
				sb_write_str(2, info.dli_fname);
				sb_write_str(2, "+");
				sb_write_str(2, hex);
				sb_write_str(2, ")");
			}
		}
		sb_write_str(2, "\n");
	}
}
