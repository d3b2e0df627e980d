/*
 * tests/unit/config.c - the table of options (config.c) and what documents
 * it.
 *
 * Specifies: config.c's top comment lists exactly the table's options,
 * each as `NAME=VALUES (default DEF)` and its help line (`config --doc`
 * prints that block from the table); README.md's table of environment
 * variables has a row for each with its default, and include/sbmalloc.h.in
 * names each one's "opt.*" name for sb_ctl; every default parses to what
 * sb_config starts with, silently; a second sb_config_init() reads the
 * environment again but keeps a dirty_max set at run time.
 */
#include "config.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../tap.h"

/* The whole file $SBMALLOC_SRCDIR/rel, from malloc. */
static char *source_file(const char *rel)
{
	const char *dir = getenv("SBMALLOC_SRCDIR");
	char path[4096];
	size_t len = 0, cap = 1 << 16;
	char *buf = malloc(cap);
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", dir && *dir ? dir : ".", rel);
	f = fopen(path, "r");
	CHECKF(f != NULL, "cannot open %s", path);
	CHECK(buf != NULL);
	for (;;) {
		size_t n;

		if (cap - len < 4096) {
			buf = realloc(buf, cap *= 2);
			CHECK(buf != NULL);
		}
		n = fread(buf + len, 1, cap - len - 1, f);
		if (n == 0)
			break;
		len += n;
	}
	fclose(f);
	buf[len] = '\0';
	return buf;
}

/* The lines of config.c's top comment for option i. */
static void doc_lines(size_t i, char *buf, size_t size)
{
	const struct sb_option *o = &sb_options[i];

	snprintf(buf, size, " *   %s=%s (default %s)\n *       %s\n", o->name, o->values, o->def,
		 o->help);
}

static int count(const char *text, const char *what)
{
	const char *at;
	int n = 0;

	for (at = strstr(text, what); at != NULL; at = strstr(at + 1, what))
		n++;
	return n;
}

TEST(config_c_top_comment_lists_every_option_of_the_table)
{
	char *src = source_file("src/config.c"), *end, want[512];
	size_t i;

	end = strstr(src, "*/");
	CHECK(end != NULL);
	*end = '\0';
	for (i = 0; i < SB_NR_OPTIONS; i++) {
		doc_lines(i, want, sizeof want);
		CHECKF(strstr(src, want) != NULL, "config.c's top comment lacks (config --doc):\n%s",
		       want);
	}
	CHECKF(count(src, "\n *   SBMALLOC_") == SB_NR_OPTIONS,
	       "config.c's top comment lists %d options, the table %d",
	       count(src, "\n *   SBMALLOC_"), SB_NR_OPTIONS);
	free(src);
}

/* README.md's section "Environment variables": one row per option, with
 * its default in the third column, and no other SBMALLOC_ row. */
TEST(readme_lists_every_option_with_its_default)
{
	char *readme = source_file("README.md"), *sect, *end, row[128], *at;
	size_t i;

	sect = strstr(readme, "\n## Environment variables\n");
	CHECK(sect != NULL);
	end = strstr(sect + 1, "\n## ");
	if (end != NULL)
		*end = '\0';
	for (i = 0; i < SB_NR_OPTIONS; i++) {
		char def[64], *nl, *cell;

		snprintf(row, sizeof row, "\n| `%s` |", sb_options[i].name);
		at = strstr(sect, row);
		CHECKF(at != NULL, "README.md has no row %s", row + 1);
		nl = strchr(at + 1, '\n');
		CHECK(nl != NULL);
		*nl = '\0';
		cell = strchr(strchr(at + 2, '|') + 1, '|');	/* | name | values | default */
		CHECKF(cell != NULL, "%s", at + 1);
		snprintf(def, sizeof def, "| `%s`", sb_options[i].def);
		CHECKF(strncmp(cell, def, strlen(def)) == 0, "README.md's row for %s: default "
		       "not %s: %s", sb_options[i].name, def + 2, at + 1);
		*nl = '\n';
	}
	CHECKF(count(sect, "\n| `SBMALLOC_") == SB_NR_OPTIONS, "README.md lists %d variables",
	       count(sect, "\n| `SBMALLOC_"));
	free(readme);
}

TEST(sbmalloc_h_names_every_option_for_sb_ctl)
{
	char *h = source_file("include/sbmalloc.h.in"), want[128];
	size_t i;

	for (i = 0; i < SB_NR_OPTIONS; i++) {
		snprintf(want, sizeof want, "\"opt.%s\"", sb_options[i].ctl);
		CHECKF(strstr(h, want) != NULL, "include/sbmalloc.h lacks %s", want);
		CHECKF(strstr(h, sb_options[i].name) != NULL, "include/sbmalloc.h lacks %s",
		       sb_options[i].name);
	}
	free(h);
}

/* Run sb_config_init() with stderr in a file; what it wrote, from malloc. */
static char *init_output(void)
{
	char path[] = "/tmp/sbmalloc-config.XXXXXX";
	int fd = mkstemp(path), saved = dup(2);
	char *out = malloc(8192);
	ssize_t n;

	CHECK(fd >= 0 && saved >= 0 && out != NULL);
	unlink(path);
	dup2(fd, 2);
	sb_config_init();
	dup2(saved, 2);
	n = pread(fd, out, 8191, 0);
	out[n > 0 ? n : 0] = '\0';
	close(fd);
	close(saved);
	return out;
}

extern char **environ;

/* No SBMALLOC_* variable left. */
static void clear_environment(void)
{
	char name[256];
	char **e;

	for (e = environ; *e != NULL;) {
		size_t n = strcspn(*e, "=");

		if (strncmp(*e, "SBMALLOC_", 9) != 0 || n >= sizeof name) {
			e++;
			continue;
		}
		memcpy(name, *e, n);
		name[n] = '\0';
		CHECK(unsetenv(name) == 0);
		e = environ;
	}
}

TEST(the_defaults_parse_silently_to_what_sb_config_starts_with)
{
	char *out;

	clear_environment();
	out = init_output();
	CHECKF(out[0] == '\0', "sb_config_init() wrote: %s", out);
	CHECK(sb_config.hugepages == SB_HUGEPAGES_KERNEL);
	CHECK(!sb_config.check);
	CHECK(sb_config_dirty_max() == (size_t)16 << 20);
	CHECK(!sb_config.stats && sb_config.stats_path == NULL);
	CHECK(sb_config.stats_signal == 0);
	CHECK(sb_config.stats_format == SB_STATS_TEXT);
	CHECK(sb_config.guard_rate == SB_GUARD_DEFAULT_RATE && sb_config.guard_default);
	CHECK(!sb_config.verbose);
	free(out);
}

/* The unit tests and the constructor call sb_config_init() again: the
 * environment is read again, warnings are not printed again. */
TEST(sb_config_init_reads_again_and_warns_once)
{
	char *out;

	clear_environment();
	CHECK(setenv("SBMALLOC_CHECK", "bogus", 1) == 0);
	out = init_output();
	CHECKF(count(out, "sbmalloc: warning: SBMALLOC_CHECK=bogus:") == 1, "%s", out);
	free(out);
	CHECK(setenv("SBMALLOC_CHECK", "yes", 1) == 0);
	out = init_output();
	CHECK(sb_config.check);
	CHECK(setenv("SBMALLOC_CHECK", "bogus", 1) == 0);
	free(out);
	out = init_output();
	CHECKF(out[0] == '\0', "warned again: %s", out);
	CHECK(!sb_config.check);
	free(out);
}

TEST(dirty_max_set_at_run_time_survives_a_second_init)
{
	char *out;

	clear_environment();
	sb_config_set_dirty_max(12345);
	out = init_output();
	CHECK(sb_config_dirty_max() == 12345);
	free(out);
	CHECK(setenv("SBMALLOC_DIRTY_MAX", "1m", 1) == 0);
	out = init_output();
	CHECK(sb_config_dirty_max() == (size_t)1 << 20);
	free(out);
}

/* A guard rate given, even the default's number, lifts the time limit. */
TEST(guard_given_lifts_the_time_limit)
{
	char *out;

	clear_environment();
	CHECK(setenv("SBMALLOC_GUARD", "16384", 1) == 0);
	out = init_output();
	CHECK(sb_config.guard_rate == 16384 && !sb_config.guard_default);
	free(out);
	CHECK(setenv("SBMALLOC_GUARD", "x", 1) == 0);
	out = init_output();
	CHECK(sb_config.guard_rate == SB_GUARD_DEFAULT_RATE && sb_config.guard_default);
	free(out);
}

int main(int argc, char **argv)
{
	size_t i;

	if (argc == 2 && strcmp(argv[1], "--doc") == 0) {
		char lines[512];

		for (i = 0; i < SB_NR_OPTIONS; i++) {
			doc_lines(i, lines, sizeof lines);
			fputs(lines, stdout);
		}
		return 0;
	}
	return tap_main(argc, argv, TESTS(config_c_top_comment_lists_every_option_of_the_table,
					  readme_lists_every_option_with_its_default,
					  sbmalloc_h_names_every_option_for_sb_ctl,
					  the_defaults_parse_silently_to_what_sb_config_starts_with,
					  sb_config_init_reads_again_and_warns_once,
					  dirty_max_set_at_run_time_survives_a_second_init,
					  guard_given_lifts_the_time_limit));
}
