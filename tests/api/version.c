/*
 * tests/api/version.c - the version macros of <sbmalloc.h> (made by
 * configure from configure.ac) agree with the library: SBMALLOC_VERSION is
 * configure.ac's version and what sb_version() returns, the three numbers
 * spell it, and the statistics dump names the same version.
 */
#include "../tap.h"

#include <sbmalloc.h>

#include "autoconf.h"

#if !defined(SBMALLOC_VERSION_MAJOR) || !defined(SBMALLOC_VERSION_MINOR) || \
	!defined(SBMALLOC_VERSION_PATCH) || !defined(SBMALLOC_VERSION)
#error "<sbmalloc.h> lacks a version macro"
#endif
/* Integers that #if can compare, as a program checking for a feature does. */
#if SBMALLOC_VERSION_MAJOR < 0 || SBMALLOC_VERSION_MINOR < 0 || SBMALLOC_VERSION_PATCH < 0
#error "a version number of <sbmalloc.h> is negative"
#endif

TEST(version_macro_is_what_sb_version_returns)
{
	CHECKF(strcmp(sb_version(), SBMALLOC_VERSION) == 0, "sb_version() \"%s\", header \"%s\"",
	       sb_version(), SBMALLOC_VERSION);
}

TEST(version_numbers_spell_the_version_string)
{
	char spelt[64];

	snprintf(spelt, sizeof(spelt), "%d.%d.%d", SBMALLOC_VERSION_MAJOR, SBMALLOC_VERSION_MINOR,
		 SBMALLOC_VERSION_PATCH);
	CHECKF(strcmp(spelt, SBMALLOC_VERSION) == 0, "numbers %s, string \"%s\"", spelt,
	       SBMALLOC_VERSION);
}

TEST(version_macro_is_configure_ac_version)
{
	CHECKF(strcmp(SBMALLOC_VERSION, PACKAGE_VERSION) == 0, "header \"%s\", configure.ac \"%s\"",
	       SBMALLOC_VERSION, PACKAGE_VERSION);
}

TEST(statistics_dump_names_the_version)
{
	static const char want[] = "\nsummary - sbmalloc " SBMALLOC_VERSION ", pid ";
	static char text[1 << 20];
	const char *tmp = getenv("TMPDIR");
	char path[600];
	size_t len = 0;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/sbmalloc-version.XXXXXX",
		 tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
	fd = mkstemp(path);
	CHECK(fd >= 0);
	unlink(path);
	sb_stats_print(fd);
	CHECK(lseek(fd, 0, SEEK_SET) == 0);
	while (len < sizeof(text) - 1 && (n = read(fd, text + len, sizeof(text) - 1 - len)) > 0)
		len += (size_t)n;
	close(fd);
	text[len] = '\0';
	CHECKF(strstr(text, want) != NULL, "no line \"%s\" in the dump", want + 1);
}

int main(int argc, char **argv)
{
	return tap_main(argc, argv, TESTS(version_macro_is_what_sb_version_returns,
			      version_numbers_spell_the_version_string,
			      version_macro_is_configure_ac_version,
			      statistics_dump_names_the_version));
}
