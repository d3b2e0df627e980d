/*
 * ulimit-v.c - how much an allocator can hand out under an address-space
 * limit (ulimit -v), after a phase of smaller blocks.
 *
 *   ulimit-v [LIMIT_KIB] [PHASE_MIB] [REALLOC_MAX_MIB]
 *
 * The program puts itself under RLIMIT_AS = LIMIT_KIB KiB (default 300000,
 * as `ulimit -v 300000` does) and execs itself again, so that the limit
 * holds from the start, the allocator's own start-up included, exactly as
 * under the shell's ulimit.  Then:
 *
 *  1. it allocates PHASE_MIB blocks of 1 MiB (default 160, fewer if malloc
 *     fails first), writes every page, and verifies and frees them all;
 *  2. it allocates blocks of 8 MiB, every page written, until malloc returns
 *     NULL (at most 64), keeps them, counts them (blocks_8m), then verifies
 *     and frees them;
 *  3. it grows one block by realloc, doubling from 1 MiB up to
 *     REALLOC_MAX_MIB (default 128), every new page written and the old
 *     pages checked after each step, until realloc fails (the block stays
 *     valid), and reports the largest size reached (realloc_max_mib).
 *
 * Running out of address space must give NULL, never a crash.  The bars of
 * issue 12: at least glibc's blocks_8m, and realloc_max_mib 128.  The
 * check depends only on the arguments (the counts are the measurement).
 *
 * Prints: ulimit-v limit_kib=L phase_1m=P blocks_8m=B realloc_max_mib=M
 *         check=HEX
 */
#include "common.h"

#define MIB (1UL << 20)
#define STARTED "ulimit-v: started under the limit"	/* bench/runner/cases.py */
#define MAX_8M 64

static char *blocks[1024];	/* >= MAX_8M and the largest PHASE_MIB */

int main(int argc, char **argv)
{
	long limit = arg_long(argc, argv, 1, 300000);
	long phase = arg_long(argc, argv, 2, 160);
	long rmax = arg_long(argc, argv, 3, 128);
	struct rlimit rl;
	long n1, n8, i;
	size_t size;
	char *p;

	if (phase > 1024)
		die("ulimit-v: PHASE_MIB at most 1024");
	if (getrlimit(RLIMIT_AS, &rl) != 0)
		die("ulimit-v: getrlimit: %s", strerror(errno));
	if (rl.rlim_cur != (rlim_t)limit * 1024) {
		rl.rlim_cur = (rlim_t)limit * 1024;
		if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < rl.rlim_cur)
			die("ulimit-v: the hard limit is below %ld KiB", limit);
		if (setrlimit(RLIMIT_AS, &rl) != 0)
			die("ulimit-v: setrlimit: %s", strerror(errno));
		execv("/proc/self/exe", argv);
		die("ulimit-v: exec of itself: %s", strerror(errno));
	}
	/* Before any allocation of main's: an allocator that cannot start under
	 * the limit (that dies before this line) is told from one that crashes. */
	fputs(STARTED "\n", stderr);

	for (n1 = 0; n1 < phase && (blocks[n1] = malloc(MIB)) != NULL; n1++)
		touch_pages(blocks[n1], MIB, (uint64_t)n1);
	for (i = 0; i < n1; i++) {
		check_pages("ulimit-v (1 MiB)", blocks[i], MIB, (uint64_t)i, 256);
		free(blocks[i]);
	}

	for (n8 = 0; n8 < MAX_8M && (blocks[n8] = malloc(8 * MIB)) != NULL; n8++)
		touch_pages(blocks[n8], 8 * MIB, 1000 + (uint64_t)n8);
	for (i = 0; i < n8; i++) {
		check_pages("ulimit-v (8 MiB)", blocks[i], 8 * MIB, 1000 + (uint64_t)i, 64);
		free(blocks[i]);
	}

	size = MIB;
	p = malloc(size);
	if (p != NULL) {
		touch_pages(p, size, 7);
		while (size < (size_t)rmax * MIB) {
			char *q = realloc(p, 2 * size);
			size_t pg;

			if (q == NULL)
				break;
			p = q;
			/* Every old page's word (the end mark is 8 bytes before size). */
			for (pg = 0; pg < size / TOUCH_PAGE; pg++) {
				uint64_t w;

				memcpy(&w, p + pg * TOUCH_PAGE, sizeof w);
				if (w != page_word(7, pg))
					corrupt("ulimit-v (realloc)", p, size, 7);
			}
			size *= 2;
			touch_pages(p, size, 7);
		}
		check_pages("ulimit-v (realloc)", p, size, 7, 64);
		free(p);
	} else {
		size = 0;
	}

	printf("ulimit-v limit_kib=%ld phase_1m=%ld blocks_8m=%ld realloc_max_mib=%zu check=%016" PRIx64 "\n",
	       limit, n1, n8, size / MIB,
	       splitmix64((uint64_t)limit ^ ((uint64_t)phase << 32) ^ ((uint64_t)rmax << 48)));
	return 0;
}
