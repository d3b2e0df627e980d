/*
 * tests/api/operators.h - the Itanium-mangled names of C++17's twenty
 * replaceable global allocation functions, as libstdc++ defines them
 * (`nm -D --defined-only libstdc++.so.6 | grep -E ' _Z(nw|na|dl|da)'`),
 * and a check that each resolves into libsbmalloc.  Include tap.h first;
 * a C file defines _GNU_SOURCE (dladdr, RTLD_DEFAULT).
 */
#ifndef SB_TEST_OPERATORS_H
#define SB_TEST_OPERATORS_H

#include <dlfcn.h>
#include <string.h>

static const char *const sb_operator_names[] = {
	"_Znwm", "_Znam",
	"_ZnwmRKSt9nothrow_t", "_ZnamRKSt9nothrow_t",
	"_ZnwmSt11align_val_t", "_ZnamSt11align_val_t",
	"_ZnwmSt11align_val_tRKSt9nothrow_t", "_ZnamSt11align_val_tRKSt9nothrow_t",
	"_ZdlPv", "_ZdaPv",
	"_ZdlPvRKSt9nothrow_t", "_ZdaPvRKSt9nothrow_t",
	"_ZdlPvm", "_ZdaPvm",
	"_ZdlPvSt11align_val_t", "_ZdaPvSt11align_val_t",
	"_ZdlPvSt11align_val_tRKSt9nothrow_t", "_ZdaPvSt11align_val_tRKSt9nothrow_t",
	"_ZdlPvmSt11align_val_t", "_ZdaPvmSt11align_val_t",
};
#define SB_NR_OPERATORS (sizeof sb_operator_names / sizeof sb_operator_names[0])

/* How many of the operators a lookup of the global scope (what the
 * program's calls bind to) finds outside libsbmalloc; each is named. */
static inline int sb_operators_elsewhere(void)
{
	int elsewhere = 0;
	unsigned i;

	for (i = 0; i < SB_NR_OPERATORS; i++) {
		void *sym = dlsym(RTLD_DEFAULT, sb_operator_names[i]);
		Dl_info info;

		if (sym == NULL || dladdr(sym, &info) == 0 || info.dli_fname == NULL) {
			tap_diag("%s: not found", sb_operator_names[i]);
			elsewhere++;
		} else if (strstr(info.dli_fname, "libsbmalloc") == NULL) {
			tap_diag("%s: in %s", sb_operator_names[i], info.dli_fname);
			elsewhere++;
		}
	}
	return elsewhere;
}

#endif
