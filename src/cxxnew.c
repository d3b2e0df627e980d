/*
 * cxxnew.c - C++'s replaceable global operator new and operator delete,
 * all twenty of C++17 (plain, array, nothrow, sized, aligned and their
 * combinations), written in C on top of the malloc family (impl.h).
 *
 * new is malloc, or aligned_alloc for the std::align_val_t forms, plus a
 * failure branch out of line: while the allocation fails and a new-handler
 * is installed (std::get_new_handler()), the handler runs and the
 * allocation is tried again; with none installed, the throwing forms throw
 * std::bad_alloc and the nothrow forms return NULL.  An alignment that is
 * not a power of two fails at once, without the handler (as in libstdc++).
 * The array forms are aliases of the single-object ones.  delete is free;
 * the sized forms hand their size on (free_sized, free_aligned_sized).
 *
 * The library stays a C library, usable without libstdc++: it reaches
 * libstdc++ only through two weak undefined references, bound when the
 * program has libstdc++ loaded at start-up.  Without them (a C program
 * calling _Znwm through dlsym, or libstdc++ dlopen'ed later) a failing
 * throwing new reports "operator new: out of memory" and aborts, and there
 * is no new-handler to call.  C cannot catch: a new-handler that throws
 * inside a nothrow new propagates its exception instead of NULL coming
 * back (this file is compiled with -fexceptions, so it unwinds through).
 *
 * No state and no lock of its own.
 */
#include "impl.h"
#include "report.h"

#define SB_ALIAS(target) __attribute__((alias(#target), used, visibility("default")))

/* The Itanium names below spell size_t as 'm', unsigned long. */
_Static_assert(__builtin_types_compatible_p(size_t, unsigned long), "size_t is not unsigned long");

typedef void (*sb_new_handler)(void);

/* libstdc++'s std::get_new_handler() and std::__throw_bad_alloc(), or NULL. */
extern sb_new_handler _ZSt15get_new_handlerv(void) __attribute__((weak, visibility("default")));
extern SB_NORETURN void _ZSt17__throw_bad_allocv(void) __attribute__((weak, visibility("default")));

static sb_new_handler new_handler(void)
{
	return _ZSt15get_new_handlerv != NULL ? _ZSt15get_new_handlerv() : NULL;
}

/*
 * An allocation of size bytes aligned to align (0: as malloc aligns) has
 * failed: run the new-handler and try again while one is installed.  NULL
 * once none is.
 */
static SB_COLD void *retry(size_t size, size_t align)
{
	sb_new_handler handler;
	void *p = NULL;

	while (p == NULL && (handler = new_handler()) != NULL) {
		handler();
		p = align == 0 ? sb_impl_malloc(size) : sb_impl_aligned_alloc(align, size);
	}
	return p;
}

static SB_NORETURN SB_COLD void throw_bad_alloc(void)
{
	if (_ZSt17__throw_bad_allocv != NULL)
		_ZSt17__throw_bad_allocv();
	sb_fatal("operator new: out of memory");
}

static SB_COLD void *new_miss(size_t size, size_t align)
{
	void *p = retry(size, align);

	if (p == NULL)
		throw_bad_alloc();
	return p;
}

/* ---- new --------------------------------------------------------------- */

static SB_COLD void *new_failed(size_t size)
{
	return new_miss(size, 0);
}

/* malloc's own fast path, inline in sb_impl_new: a tail call. */
static void *cxx_new(size_t size)
{
	return sb_impl_new(size, new_failed);
}

static void *cxx_new_nothrow(size_t size, const void *nothrow)
{
	void *p = sb_impl_malloc(size);

	if (sb_likely(p != NULL))
		return p;
	return retry(size, 0);
}

static void *cxx_new_aligned(size_t size, size_t align)
{
	void *p;

	if (sb_unlikely(!sb_is_pow2(align)))
		throw_bad_alloc();
	p = sb_impl_aligned_alloc(align, size);
	if (sb_likely(p != NULL))
		return p;
	return new_miss(size, align);
}

static void *cxx_new_aligned_nothrow(size_t size, size_t align, const void *nothrow)
{
	void *p;

	if (sb_unlikely(!sb_is_pow2(align)))
		return NULL;
	p = sb_impl_aligned_alloc(align, size);
	if (sb_likely(p != NULL))
		return p;
	return retry(size, align);
}

/* ---- delete: tail calls of free ---------------------------------------- */

static void cxx_delete(void *p)
{
	sb_impl_free(p);
}

static void cxx_delete_nothrow(void *p, const void *nothrow)
{
	sb_impl_free(p);
}

static void cxx_delete_sized(void *p, size_t size)
{
	sb_impl_free_sized(p, size);
}

static void cxx_delete_aligned(void *p, size_t align)
{
	sb_impl_free(p);
}

static void cxx_delete_aligned_nothrow(void *p, size_t align, const void *nothrow)
{
	sb_impl_free(p);
}

static void cxx_delete_sized_aligned(void *p, size_t size, size_t align)
{
	sb_impl_free_aligned_sized(p, align, size);
}

/* ---- The mangled names ------------------------------------------------- */

/* operator new(size_t), operator new[](size_t) */
void *_Znwm(size_t size) SB_ALIAS(cxx_new);
void *_Znam(size_t size) SB_ALIAS(cxx_new);
/* operator new(size_t, const std::nothrow_t &), and new[] */
void *_ZnwmRKSt9nothrow_t(size_t size, const void *nothrow) SB_ALIAS(cxx_new_nothrow);
void *_ZnamRKSt9nothrow_t(size_t size, const void *nothrow) SB_ALIAS(cxx_new_nothrow);
/* operator new(size_t, std::align_val_t), and new[] */
void *_ZnwmSt11align_val_t(size_t size, size_t align) SB_ALIAS(cxx_new_aligned);
void *_ZnamSt11align_val_t(size_t size, size_t align) SB_ALIAS(cxx_new_aligned);
/* operator new(size_t, std::align_val_t, const std::nothrow_t &), and new[] */
void *_ZnwmSt11align_val_tRKSt9nothrow_t(size_t size, size_t align, const void *nothrow)
	SB_ALIAS(cxx_new_aligned_nothrow);
void *_ZnamSt11align_val_tRKSt9nothrow_t(size_t size, size_t align, const void *nothrow)
	SB_ALIAS(cxx_new_aligned_nothrow);

/* operator delete(void *), and delete[] */
void _ZdlPv(void *p) SB_ALIAS(cxx_delete);
void _ZdaPv(void *p) SB_ALIAS(cxx_delete);
/* operator delete(void *, const std::nothrow_t &), and delete[] */
void _ZdlPvRKSt9nothrow_t(void *p, const void *nothrow) SB_ALIAS(cxx_delete_nothrow);
void _ZdaPvRKSt9nothrow_t(void *p, const void *nothrow) SB_ALIAS(cxx_delete_nothrow);
/* operator delete(void *, size_t), and delete[] */
void _ZdlPvm(void *p, size_t size) SB_ALIAS(cxx_delete_sized);
void _ZdaPvm(void *p, size_t size) SB_ALIAS(cxx_delete_sized);
/* operator delete(void *, std::align_val_t), and delete[] */
void _ZdlPvSt11align_val_t(void *p, size_t align) SB_ALIAS(cxx_delete_aligned);
void _ZdaPvSt11align_val_t(void *p, size_t align) SB_ALIAS(cxx_delete_aligned);
/* operator delete(void *, std::align_val_t, const std::nothrow_t &), and delete[] */
void _ZdlPvSt11align_val_tRKSt9nothrow_t(void *p, size_t align, const void *nothrow)
	SB_ALIAS(cxx_delete_aligned_nothrow);
void _ZdaPvSt11align_val_tRKSt9nothrow_t(void *p, size_t align, const void *nothrow)
	SB_ALIAS(cxx_delete_aligned_nothrow);
/* operator delete(void *, size_t, std::align_val_t), and delete[] */
void _ZdlPvmSt11align_val_t(void *p, size_t size, size_t align) SB_ALIAS(cxx_delete_sized_aligned);
void _ZdaPvmSt11align_val_t(void *p, size_t size, size_t align) SB_ALIAS(cxx_delete_sized_aligned);
