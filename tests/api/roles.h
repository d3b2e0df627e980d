/*
 * roles.h - running this test program again as a child in a "role": the
 * tests of misuse reports (guard.c, slab_debug.c) start a child that does
 * one thing wrong, those of the options (options.c) one with the
 * environment under test, and read what sbmalloc wrote on its stderr.
 *
 * Included by one test file each (static functions): roles_setup() makes a
 * temporary directory and finds the binary, teardown() removes it,
 * spawn_role() runs `--role ROLE ARG` with a clean SBMALLOC_* environment
 * (spawn_role_of(), another binary) and collects the wait status and
 * stderr, line_starting(), has_line() and role_value() read the report;
 * a role writes with say().
 */
#ifndef SB_TEST_ROLES_H
#define SB_TEST_ROLES_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../tap.h"

#define ROLE_TIMEOUT 120	/* seconds; a role that runs longer fails */

extern char **environ;

static char tmpdir[512];
static char exe[PATH_MAX];

/* A role's message on stderr: formatted into a buffer and written with
 * write(2), not stdio, which allocates through the allocator under test. */
static void say(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if (n > 0)
		(void)!write(2, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
}

/* A fresh temporary directory sbmalloc-NAME.XXXXXX, and this binary's path. */
static void roles_setup(const char *name)
{
	const char *t = getenv("TMPDIR");
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);

	CHECK(n > 0);
	exe[n] = '\0';
	snprintf(tmpdir, sizeof tmpdir, "%s/sbmalloc-%s.XXXXXX", t && *t ? t : "/tmp", name);
	CHECK(mkdtemp(tmpdir) != NULL);
}

static void teardown(void)
{
	DIR *dir = opendir(tmpdir);
	struct dirent *e;
	char path[1024];

	if (dir == NULL)
		return;
	while ((e = readdir(dir)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof path, "%s/%s", tmpdir, e->d_name);
		unlink(path);
	}
	closedir(dir);
	rmdir(tmpdir);
}

/* The whole file in a buffer from malloc (NULL if it cannot be opened). */
static char *slurp(const char *path)
{
	size_t len = 0, cap = 1 << 16;
	char *buf;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return NULL;
	buf = malloc(cap);
	if (buf == NULL)
		return NULL;
	for (;;) {
		ssize_t n;

		if (cap - len < 4096) {
			char *b = realloc(buf, cap * 2);

			if (b == NULL)
				break;
			buf = b;
			cap *= 2;
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	return buf;
}


/* ---- Running a role in a fresh process ---------------------------------- */

struct run {
	int status;		/* wait status */
	char *err;		/* its stderr */
};

static const char *status_text(int status)
{
	static char buf[64];

	if (WIFSIGNALED(status))
		snprintf(buf, sizeof buf, "killed by signal %d", WTERMSIG(status));
	else if (WIFEXITED(status))
		snprintf(buf, sizeof buf, "exit %d", WEXITSTATUS(status));
	else
		snprintf(buf, sizeof buf, "status 0x%x", (unsigned)status);
	return buf;
}

/*
 * Run the program at path (this one: /proc/self/exe) as `--role ROLE ARG`
 * with this environment less every SBMALLOC_* variable, plus env
 * (NULL-terminated "K=V" strings).
 */
static void spawn_role_of(const char *path, const char *role, const char *arg,
			  const char *const *env, struct run *r)
{
	static int seq;
	char *envp[512], errpath[600];
	int n = 0, waited;
	char **e;
	pid_t pid;

	for (e = environ; *e != NULL && n < 500; e++)
		if (strncmp(*e, "SBMALLOC_", 9) != 0)
			envp[n++] = *e;
	for (; env != NULL && *env != NULL; env++)
		envp[n++] = (char *)*env;
	envp[n] = NULL;
	snprintf(errpath, sizeof errpath, "%s/stderr.%d", tmpdir, seq++);
	fflush(stdout);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		char *argv[] = { exe, "--role", (char *)role, (char *)(arg ? arg : ""), NULL };
		struct rlimit no_core = { 0, 0 };
		int fd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		if (fd < 0 || dup2(fd, 2) < 0)
			_exit(126);
		close(fd);
		setrlimit(RLIMIT_CORE, &no_core);
		execve(path, argv, envp);
		_exit(127);
	}
	for (waited = 0;; waited++) {
		pid_t w = waitpid(pid, &r->status, WNOHANG);

		if (w == pid)
			break;
		CHECK(w == 0 || errno == EINTR);
		if (waited == ROLE_TIMEOUT * 100) {
			kill(pid, SIGKILL);
			waitpid(pid, &r->status, 0);
			tap_diag("role %s %s did not end within %d s", role, arg ? arg : "",
				 ROLE_TIMEOUT);
			break;
		}
		usleep(10000);
	}
	r->err = slurp(errpath);
	CHECK(r->err != NULL);
}

static void spawn_role(const char *role, const char *arg, const char *const *env,
		       struct run *r)
{
	spawn_role_of("/proc/self/exe", role, arg, env, r);
}

/* ---- Checking a report -------------------------------------------------- */

/* The line of text that starts with prefix, or NULL; copied to line. */
static const char *line_starting(const char *text, const char *prefix, char *line, size_t size)
{
	const char *at;

	for (at = strstr(text, prefix); at; at = strstr(at + 1, prefix))
		if (at == text || at[-1] == '\n') {
			const char *nl = strchr(at, '\n');
			size_t n = nl ? (size_t)(nl - at) : strlen(at);

			if (n >= size)
				n = size - 1;
			memcpy(line, at, n);
			line[n] = '\0';
			return at;
		}
	return NULL;
}

static int has_line(const char *text, const char *line)
{
	char got[1024];

	return line_starting(text, line, got, sizeof got) != NULL && strcmp(got, line) == 0;
}

/* The address the role wrote as "role: NAME=0x..." */
static void *role_value(const char *text, const char *name)
{
	char prefix[64], line[256];
	void *p = NULL;

	snprintf(prefix, sizeof prefix, "role: %s=", name);
	CHECKF(line_starting(text, prefix, line, sizeof line) != NULL, "the role did not write "
	       "%s; its stderr: %s", prefix, text);
	CHECK(sscanf(line + strlen(prefix), "%p", &p) == 1);
	return p;
}

#endif /* SB_TEST_ROLES_H */
