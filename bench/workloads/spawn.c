/*
 * spawn.c - run one program and report its true peak RSS, page faults and
 * CPU times, for bench/run.py.
 *
 *   spawn RESULT_FILE PROGRAM [ARGS...]
 *
 * Forks, puts $BENCH_PRELOAD (if set and not empty) into LD_PRELOAD of the
 * child only, execs PROGRAM, waits for it with wait4() and writes
 *
 *     maxrss_kib=N minflt=F majflt=J utime_us=U stime_us=T status=S
 *
 * to RESULT_FILE: from the program's rusage of wait4() (which includes the
 * children it waited for, as gcc waits for cc1) its peak RSS, minor and
 * major page faults, user and system time in microseconds; S is the raw
 * wait status.  It exits with the child's exit status, or 128 + the signal
 * that killed it.
 *
 * Why not wait4() from python directly: Linux keeps a process's peak RSS
 * across exec(), and at exec() it counts the memory of the image being
 * replaced -- for a child forked (or vforked) from the python runner, the
 * runner's own 20-odd MiB (and the page faults of the forked copy of the
 * runner before its exec would count too).  This launcher is small, so a
 * program it forks starts from about 1 MiB, and the allocator under test
 * is not loaded into the launcher itself.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

static pid_t child;

/* Pass SIGTERM and SIGINT on to the program, so it can exit cleanly. */
static void forward(int sig)
{
	if (child > 0)
		kill(child, sig);
}

int main(int argc, char **argv)
{
	struct rusage ru;
	int status;
	FILE *f;
	pid_t r;

	if (argc < 3) {
		fprintf(stderr, "usage: spawn RESULT_FILE PROGRAM [ARGS...]\n");
		return 2;
	}
	child = fork();
	if (child < 0) {
		perror("spawn: fork");
		return 2;
	}
	if (child == 0) {
		const char *pre = getenv("BENCH_PRELOAD");

		if (pre && *pre)
			setenv("LD_PRELOAD", pre, 1);
		unsetenv("BENCH_PRELOAD");
		execvp(argv[2], &argv[2]);
		fprintf(stderr, "spawn: cannot run %s: %s\n", argv[2], strerror(errno));
		_exit(127);
	}
	signal(SIGTERM, forward);
	signal(SIGINT, forward);
	do
		r = wait4(child, &status, 0, &ru);
	while (r < 0 && errno == EINTR);
	if (r < 0) {
		perror("spawn: wait4");
		return 2;
	}
	f = fopen(argv[1], "w");
	if (f == NULL ||
	    fprintf(f, "maxrss_kib=%ld minflt=%ld majflt=%ld utime_us=%lld stime_us=%lld status=%d\n",
		    ru.ru_maxrss, ru.ru_minflt, ru.ru_majflt,
		    (long long)ru.ru_utime.tv_sec * 1000000 + ru.ru_utime.tv_usec,
		    (long long)ru.ru_stime.tv_sec * 1000000 + ru.ru_stime.tv_usec, status) < 0 ||
	    fclose(f) != 0) {
		perror("spawn: writing the result");
		return 2;
	}
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}
