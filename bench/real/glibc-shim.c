/*
 * glibc-shim.c - glibc's malloc as an LD_PRELOAD library, for programs that
 * are linked against another allocator.
 *
 * Debian's redis-server has libjemalloc.so.2 in its DT_NEEDED list, ahead
 * of libc, so "no preload" would run it on jemalloc.  bench/run.py builds
 * this file into a small library (gcc -shared -fPIC -O2 glibc-shim.c -ldl)
 * and preloads it for redis's glibc column: every entry point of the malloc
 * family forwards to glibc's own implementation: the __libc_* functions,
 * and for malloc_usable_size (which has no such alias) the symbol looked up
 * in libc.so.6 itself.  jemalloc's extra functions (mallctl,
 * nallocx) still resolve to jemalloc, which then has allocated nothing.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stddef.h>

extern void *__libc_malloc(size_t);
extern void __libc_free(void *);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void *__libc_valloc(size_t);
extern void *__libc_pvalloc(size_t);

#define EXPORT __attribute__((visibility("default")))

EXPORT void *malloc(size_t n) { return __libc_malloc(n); }
EXPORT void free(void *p) { __libc_free(p); }
EXPORT void *calloc(size_t n, size_t m) { return __libc_calloc(n, m); }
EXPORT void *realloc(void *p, size_t n) { return __libc_realloc(p, n); }
EXPORT void *memalign(size_t a, size_t n) { return __libc_memalign(a, n); }
EXPORT void *valloc(size_t n) { return __libc_valloc(n); }
EXPORT void *pvalloc(size_t n) { return __libc_pvalloc(n); }
EXPORT void *aligned_alloc(size_t a, size_t n) { return __libc_memalign(a, n); }

EXPORT int posix_memalign(void **out, size_t a, size_t n)
{
	void *p;

	if (a % sizeof(void *) != 0 || (a & (a - 1)) != 0 || a == 0)
		return EINVAL;
	p = __libc_memalign(a, n);
	if (p == NULL)
		return ENOMEM;
	*out = p;
	return 0;
}

/*
 * glibc's malloc_usable_size, not jemalloc's: looked up in libc.so.6's own
 * scope (RTLD_NEXT would find the one of libjemalloc.so.2 first).
 */
EXPORT size_t malloc_usable_size(void *p)
{
	static size_t (*real)(void *);

	if (real == NULL) {
		void *libc = dlopen("libc.so.6", RTLD_LAZY | RTLD_NOLOAD);

		if (libc != NULL)
			real = (size_t (*)(void *))dlsym(libc, "malloc_usable_size");
	}
	return real ? real(p) : 0;
}
