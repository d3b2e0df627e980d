/*
 * guard.c - sampled guard allocations, the kernel's KFENCE in user space.
 *
 * A fixed pool of SLOTS slots, each one data page between PROT_NONE guard
 * pages: [guard][data 0][guard][data 1] ... [guard].  One small
 * allocation in SBMALLOC_GUARD (default SB_GUARD_DEFAULT_RATE) gets a
 * slot: its data page is made readable and writable, and the object is
 * placed at the page's end (so that running off its end hits the next
 * guard page at once) or, every other time, at its start (running off the
 * start hits the previous one); the rest of the page is filled with
 * PATTERN and checked when the object is freed, which catches the small
 * overruns that stay inside the page.  A freed slot's page goes back to
 * PROT_NONE and the slot to the tail of a FIFO, so it stays inaccessible
 * while every other free slot is used first: a use after free faults.
 *
 * A fault in the pool reaches sbmalloc's SIGSEGV handler, which reports an
 * out-of-bounds access (a guard page; the object next to it) or a use after
 * free (a freed slot), the address, the object, its size and its
 * allocation and free stacks, and stops the program; a fault anywhere else
 * goes to the handler the program had before (or the default action).
 *
 * Sampling costs the fast paths nothing: the thread caches count the
 * objects they bring into a thread (sb_guard_note), and the first
 * allocation that reaches the slow path once a thread's countdown has run
 * out is guarded.  By default (SBMALLOC_GUARD unset) that is one in
 * SB_GUARD_DEFAULT_RATE, and no more than one every SB_GUARD_TICK_MS in the
 * whole process, as KFENCE samples once per interval: a guarded allocation
 * costs three system calls (mprotect to open the page, mprotect and
 * madvise to close and empty it when freed) and two stack captures, so an
 * allocation-heavy program must not meet one in every few thousand calls.
 * SBMALLOC_GUARD=N samples one in N, without the time limit;
 * SBMALLOC_GUARD=1 also turns magazines off (tcache.c), so that every
 * allocation is guarded while slots last: deterministic, for tests.
 *
 * Lock: guard_lock protects the slots and the FIFO; the signal handler
 * reads the slots without it (it reports and stops).  Lock order: fork.c.
 */
#include "guard.h"
#include "config.h"
#include "os.h"
#include "report.h"
#include "stack.h"

#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <time.h>

#define SLOTS 255
#define PATTERN 0xaa

enum slot_state { SLOT_FREE, SLOT_LIVE };

struct slot {
	uint32_t state;			/* enum slot_state */
	uint32_t size;
	char *obj;
	struct sb_stack alloc, free;
};

/* LONG_MIN: a thread that has not counted yet (its first slow allocation
 * starts it, sb_guard_alloc). */
__thread long sb_guard_countdown __attribute__((tls_model("initial-exec"))) = LONG_MIN;
char *sb_guard_base, *sb_guard_end;

static pthread_mutex_t guard_lock = PTHREAD_MUTEX_INITIALIZER;
static struct slot *slots;
static uint32_t fifo[SLOTS], fifo_head, fifo_count;
static bool place_right = true;
static size_t rate;			/* 0: off */
static bool ticked;			/* at most one sample per SB_GUARD_TICK_MS */
static uint64_t last_sample_ms;		/* atomic */
static size_t live, live_bytes;
static uint64_t sampled, reports;
static struct sigaction old_segv;

static char *data_page(uint32_t i)
{
	return sb_guard_base + (2 * (size_t)i + 1) * SB_PAGE_SIZE;
}

static void segv_handler(int sig, siginfo_t *info, void *uctx);

void sb_guard_init(void)
{
	size_t len = (2 * (size_t)SLOTS + 1) * SB_PAGE_SIZE;
	struct sigaction sa;
	char *base;
	uint32_t i;

	rate = sb_config.guard_rate;
	ticked = sb_config.guard_default;
	if (rate == 0 || sb_guard_base != NULL)
		return;
	slots = sb_os_map(sb_align_up(sizeof(struct slot) * SLOTS, SB_PAGE_SIZE));
	base = slots != NULL ? sb_os_reserve_aligned(len, SB_PAGE_SIZE) : NULL;
	if (base == NULL)
		return;
	for (i = 0; i < SLOTS; i++)
		fifo[i] = i;
	fifo_count = SLOTS;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = segv_handler;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSEGV, &sa, &old_segv) != 0)
		return;
	sb_guard_end = base + len;
	__atomic_store_n(&sb_guard_base, base, __ATOMIC_RELEASE);
	sb_guard_countdown = LONG_MIN;	/* this thread counted with guarding off */
}

void sb_guard_thread_start(void)
{
	uint64_t x = (uint64_t)(uintptr_t)&x;

	if (rate == 0) {
		sb_guard_countdown = LONG_MAX;
		return;
	}
	/* Threads start at different points of the period, so that a program
	 * of short threads still samples one allocation in `rate`. */
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	sb_guard_countdown = (long)(x % rate);
}

/* The slot whose data page holds p, or NULL (a guard page, or not ours). */
static struct slot *slot_of(const void *p, uint32_t *index)
{
	size_t page = (size_t)((const char *)p - sb_guard_base) >> SB_PAGE_SHIFT;

	if (!sb_guard_owns(p) || page % 2 == 0)
		return NULL;
	*index = (uint32_t)(page / 2);
	return &slots[page / 2];
}

/* A tick has passed since the last sample: this thread takes the next. */
static bool tick_passed(void)
{
	struct timespec ts;
	uint64_t now, last = __atomic_load_n(&last_sample_ms, __ATOMIC_RELAXED);

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	now = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	return now - last >= SB_GUARD_TICK_MS &&
	       __atomic_compare_exchange_n(&last_sample_ms, &last, now, false, __ATOMIC_RELAXED,
					   __ATOMIC_RELAXED);
}

void *sb_guard_alloc(size_t size)
{
	struct slot *s;
	uint32_t i;
	char *page, *obj;

	if (sb_guard_countdown == LONG_MIN && rate != 1) {
		sb_guard_thread_start();	/* a new thread: its place in the period */
		return NULL;
	}
	/* This allocation is the one in `rate`. */
	sb_guard_countdown = rate != 0 ? (long)rate - 1 : LONG_MAX;
	if (sb_guard_base == NULL || size > SB_GUARD_MAX_SIZE || (ticked && !tick_passed()))
		return NULL;
	pthread_mutex_lock(&guard_lock);
	if (fifo_count == 0) {
		pthread_mutex_unlock(&guard_lock);
		return NULL;
	}
	i = fifo[fifo_head];
	fifo_head = (fifo_head + 1) % SLOTS;
	fifo_count--;
	page = data_page(i);
	if (!sb_os_protect(page, SB_PAGE_SIZE, true)) {
		fifo[(fifo_head + fifo_count++) % SLOTS] = i;
		pthread_mutex_unlock(&guard_lock);
		return NULL;
	}
	obj = place_right ? page + SB_PAGE_SIZE - sb_align_up(size ? size : 1, SB_ALIGNMENT) : page;
	place_right = !place_right;
	s = &slots[i];
	s->obj = obj;
	s->size = (uint32_t)size;
	sb_stack_clear(&s->free);
	sb_write_once(s->state, SLOT_LIVE);
	sb_write_once(live, live + 1);
	sb_write_once(live_bytes, live_bytes + size);
	sb_write_once(sampled, sampled + 1);
	pthread_mutex_unlock(&guard_lock);
	memset(page, PATTERN, SB_PAGE_SIZE);
	memset(obj, 0, size);
	sb_stack_capture(&s->alloc);
	return obj;
}

static void report_slot(const struct slot *s, const char *what, size_t offset, bool has_offset)
{
	char hex[24], num[24];

	sb_fmt_hex(hex, sizeof(hex), (uintptr_t)s->obj);
	sb_fmt_u64(num, sizeof(num), s->size);
	sb_write_str(2, "sbmalloc:   guarded object ");
	sb_write_str(2, hex);
	sb_write_str(2, " of ");
	sb_write_str(2, num);
	sb_write_str(2, " bytes");
	if (has_offset) {
		sb_write_str(2, ", ");
		sb_write_str(2, what);
		sb_fmt_u64(num, sizeof(num), offset);
		sb_write_str(2, num);
	}
	sb_write_str(2, "\n");
	sb_stack_print("allocated", &s->alloc);
	sb_stack_print("freed", &s->free);
}

static SB_NORETURN void report_and_stop(const char *func, const char *what, const void *p,
					 const struct slot *s, const char *detail, size_t offset,
					 bool has_offset)
{
	struct sb_stack now;

	sb_write_once(reports, reports + 1);
	sb_report_pointer(func, what, p);
	if (s != NULL)
		report_slot(s, detail, offset, has_offset);
	sb_stack_capture(&now);
	sb_stack_print("this call, made", &now);
	sb_abort();
}

/* The first byte of page[from, to) that lost the pattern, or SIZE_MAX;
 * eight bytes at a time where it can. */
static size_t first_damaged(const unsigned char *page, size_t from, size_t to)
{
	const uint64_t word = 0x0101010101010101ull * PATTERN;
	size_t i = from;

	for (; i < to && i % 8 != 0; i++)
		if (page[i] != PATTERN)
			return i;
	for (; i + 8 <= to; i += 8)
		if (*(const uint64_t *)(page + i) != word)
			break;
	for (; i < to; i++)
		if (page[i] != PATTERN)
			return i;
	return SIZE_MAX;
}

/* The first byte of s's page outside its object that lost the pattern, or
 * SIZE_MAX. */
static size_t damaged(const struct slot *s)
{
	const unsigned char *page = (const unsigned char *)((uintptr_t)s->obj & ~(SB_PAGE_SIZE - 1));
	size_t from = (size_t)(s->obj - (const char *)page), at;

	at = first_damaged(page, 0, from);
	return at != SIZE_MAX ? at : first_damaged(page, from + s->size, SB_PAGE_SIZE);
}

void sb_guard_free(void *p, const char *func)
{
	struct slot *s;
	uint32_t i;
	size_t at;

	pthread_mutex_lock(&guard_lock);
	s = slot_of(p, &i);
	if (s == NULL || s->obj != p) {
		pthread_mutex_unlock(&guard_lock);
		report_and_stop(func, "invalid pointer", p, s, NULL, 0, false);
	}
	if (s->state != SLOT_LIVE) {
		pthread_mutex_unlock(&guard_lock);
		report_and_stop(func, "double free", p, s, NULL, 0, false);
	}
	at = damaged(s);
	if (at != SIZE_MAX) {
		pthread_mutex_unlock(&guard_lock);
		report_and_stop(func, "out-of-bounds write to guarded object", p, s,
				"first damaged byte at page offset ", at, true);
	}
	sb_stack_capture(&s->free);
	sb_os_protect(data_page(i), SB_PAGE_SIZE, false);
	sb_os_purge(data_page(i), SB_PAGE_SIZE);
	sb_write_once(s->state, SLOT_FREE);
	sb_write_once(live, live - 1);
	sb_write_once(live_bytes, live_bytes - s->size);
	fifo[(fifo_head + fifo_count++) % SLOTS] = i;
	pthread_mutex_unlock(&guard_lock);
}

size_t sb_guard_size(const void *p, const char *func)
{
	uint32_t i;
	struct slot *s = slot_of(p, &i);

	if (s == NULL || s->obj != p || sb_read_once(s->state) != SLOT_LIVE)
		report_and_stop(func, s != NULL && s->obj == p ? "double free" : "invalid pointer",
				p, s, NULL, 0, false);
	return s->size;
}

/*
 * A fault at addr in the pool: out of bounds of the live object next to a
 * guard page, or a use of a freed slot.
 */
static SB_NORETURN void report_fault(const char *addr)
{
	size_t page = (size_t)(addr - sb_guard_base) >> SB_PAGE_SHIFT;
	const struct slot *s = NULL, *left, *right;
	char hex[24];

	if (page % 2 == 1) {
		s = &slots[page / 2];
		sb_write_once(reports, reports + 1);
		sb_write_str(2, "sbmalloc: use after free of a guarded object: access at ");
		sb_fmt_hex(hex, sizeof(hex), (uintptr_t)addr);
		sb_write_str(2, hex);
		sb_write_str(2, "\n");
		report_slot(s, "access at offset ", (size_t)(addr - s->obj), addr >= s->obj);
	} else {
		left = page > 0 ? &slots[page / 2 - 1] : NULL;
		right = page / 2 < SLOTS ? &slots[page / 2] : NULL;
		if (left != NULL && left->state != SLOT_LIVE)
			left = NULL;
		if (right != NULL && right->state != SLOT_LIVE)
			right = NULL;
		/* The live object nearer the access: the end of the one before the
		 * guard page, or the start of the one after it. */
		if (left != NULL && right != NULL)
			s = (size_t)(addr - (left->obj + left->size)) <= (size_t)(right->obj - addr)
			    ? left : right;
		else
			s = left != NULL ? left : right;
		sb_write_once(reports, reports + 1);
		sb_write_str(2, "sbmalloc: out-of-bounds access next to a guarded object: access at ");
		sb_fmt_hex(hex, sizeof(hex), (uintptr_t)addr);
		sb_write_str(2, hex);
		sb_write_str(2, "\n");
		if (s != NULL)
			report_slot(s, addr >= s->obj ? "bytes past its start: " : "bytes before it: ",
				    addr >= s->obj ? (size_t)(addr - s->obj) : (size_t)(s->obj - addr),
				    true);
	}
	{
		struct sb_stack now;

		sb_stack_capture(&now);
		sb_stack_print("the access, made", &now);
	}
	signal(SIGABRT, SIG_DFL);
	sb_abort();
}

static void segv_handler(int sig, siginfo_t *info, void *uctx)
{
	const char *addr = info->si_addr;

	if (sb_guard_owns(addr))
		report_fault(addr);
	/* Not ours: whatever the program had. */
	if (old_segv.sa_flags & SA_SIGINFO) {
		old_segv.sa_sigaction(sig, info, uctx);
		return;
	}
	if (old_segv.sa_handler == SIG_DFL || old_segv.sa_handler == SIG_IGN) {
		/* Return to the faulting instruction with the default action. */
		signal(SIGSEGV, SIG_DFL);
		return;
	}
	old_segv.sa_handler(sig);
}

void sb_guard_counters(struct sb_guard_counters *out)
{
	out->slots = sb_guard_base != NULL ? SLOTS : 0;
	out->live = sb_read_once(live);
	out->live_bytes = sb_read_once(live_bytes);
	out->sampled = sb_read_once(sampled);
	out->reports = sb_read_once(reports);
}

void sb_guard_fork_prepare(void)
{
	pthread_mutex_lock(&guard_lock);
}

void sb_guard_fork_parent(void)
{
	pthread_mutex_unlock(&guard_lock);
}

void sb_guard_fork_child(void)
{
	pthread_mutex_unlock(&guard_lock);
}
