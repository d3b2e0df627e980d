/*
 * os.h - every system call that maps, unmaps or advises memory (os.c).
 *
 * The layers above ask for address space and memory here and nowhere else:
 * reservations aligned to their size, commits with the backing the
 * SBMALLOC_HUGEPAGES policy chooses (hugetlb, THP or 4 KiB pages), purges,
 * residency, the huge pages the kernel actually gave (/proc/self/smaps),
 * and the hugetlb-to-4k copy a forked child needs.  os.c also keeps the
 * count of heap bytes mapped (regions and huge blocks) and its peak.
 */
#ifndef SB_OS_H
#define SB_OS_H

#include "common.h"

#pragma GCC visibility push(hidden)

enum sb_backing { SB_BACKING_4K, SB_BACKING_THP, SB_BACKING_HUGETLB };

/* What a commit is for: the backing policy differs (os.c's top comment). */
enum sb_os_use { SB_OS_FIRST_REGION, SB_OS_REGION, SB_OS_HUGE_BLOCK };

/* Read the kernel's THP setting once; from bring-up. */
void sb_os_init(void);

/* Plain read-write anonymous memory (metadata); NULL on failure. */
void *sb_os_map(size_t len);
void sb_os_unmap(void *addr, size_t len);

/* len bytes of PROT_NONE address space aligned to align; NULL on failure. */
char *sb_os_reserve_aligned(size_t len, size_t align);

/*
 * Turn the reserved range [addr, addr+len) into memory with the backing the
 * policy chooses for `use`; *backing says which it got.  On failure nothing
 * of ours is left mapped in the range.
 */
bool sb_os_commit(char *addr, size_t len, enum sb_os_use use, enum sb_backing *backing);
/* Extend committed memory of backing b into reserved [addr, addr+len). */
bool sb_os_commit_more(char *addr, size_t len, enum sb_backing b);
/* Give [addr, addr+len) back to its reservation (PROT_NONE, no memory). */
bool sb_os_decommit(char *addr, size_t len);
/* Move the mapping [old, old+old_len) to new (reserved), growing it to len. */
bool sb_os_move(char *old, size_t old_len, char *new_addr, size_t len);

/* Make [addr, addr+len) readable and writable (rw) or inaccessible. */
bool sb_os_protect(void *addr, size_t len, bool rw);

/* Give resident pages back to the OS; the range stays mapped, reads zero. */
void sb_os_purge(void *addr, size_t len);
/* Resident bytes of [addr, addr+len) (mincore). */
size_t sb_os_resident(const void *addr, size_t len);

/*
 * The huge pages the kernel gave, as /proc/self/smaps says: for each
 * mapping (VMA) of the process below 2^SB_ADDR_BITS that holds any,
 * fn(arg, start, end, thp, hugetlb) with the mapping's range, its
 * transparent huge page bytes (AnonHugePages) and its hugetlb bytes
 * (Private_Hugetlb + Shared_Hugetlb), both resident bytes.  The caller
 * tells its own ranges from the others (the kernel may merge adjacent
 * mappings into one VMA, so one may span several of them).  False, and no
 * call, if smaps cannot be read.  open/read into a stack buffer: no
 * allocation, no lock, async-signal-safe; but it costs a walk of every
 * page table of the process, so it is for statistics dumps only.
 */
typedef void sb_os_huge_fn(void *arg, uintptr_t start, uintptr_t end, size_t thp,
			   size_t hugetlb);
bool sb_os_huge_pages(sb_os_huge_fn *fn, void *arg);

/*
 * Replace the hugetlb mapping [base, base+len) by ordinary pages holding
 * the same data.  used: a bitmap of the 4 KiB pages worth copying, or NULL
 * for all of them.  False if the OS refused: the hugetlb pages stay.
 */
bool sb_os_rebase_to_4k(char *base, size_t len, const uint64_t *used);

const char *sb_backing_name(enum sb_backing b);

/* Heap bytes mapped (regions and huge blocks) change by delta. */
void sb_os_note_mapped(long delta);
size_t sb_os_mapped_peak(void);

#pragma GCC visibility pop

#endif /* SB_OS_H */
