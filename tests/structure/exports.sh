#!/bin/sh
# libsbmalloc.so exports the malloc family, glibc's aliases of it, C++'s
# operator new and delete, and sb_* names - and nothing else; it reaches
# libstdc++ only through weak references.
. "${SBMALLOC_SRCDIR:-.}/tests/taplib.sh"

# The names a malloc replacement must define for every caller to reach it,
# including glibc's internal aliases (__libc_*, __posix_memalign).
required="malloc free calloc realloc reallocarray posix_memalign aligned_alloc
memalign valloc pvalloc malloc_usable_size free_sized free_aligned_sized
malloc_trim mallopt mallinfo2 __libc_malloc __libc_free __libc_calloc
__libc_realloc __libc_memalign __posix_memalign"

# C++17's twenty replaceable operator new and delete (src/cxxnew.c), as
# libstdc++ defines them.
operators="_Znwm _Znam _ZnwmRKSt9nothrow_t _ZnamRKSt9nothrow_t _ZdlPv _ZdaPv
_ZdlPvm _ZdaPvm _ZdlPvRKSt9nothrow_t _ZdaPvRKSt9nothrow_t _ZnwmSt11align_val_t
_ZnamSt11align_val_t _ZnwmSt11align_val_tRKSt9nothrow_t
_ZnamSt11align_val_tRKSt9nothrow_t _ZdlPvSt11align_val_t _ZdaPvSt11align_val_t
_ZdlPvmSt11align_val_t _ZdaPvmSt11align_val_t _ZdlPvSt11align_val_tRKSt9nothrow_t
_ZdaPvSt11align_val_tRKSt9nothrow_t"

# "TYPE NAME" for every defined dynamic symbol, version suffixes removed.
dynamic_symbols() {
	nm -D --defined-only "$SBMALLOC_LIB" >nm.out
	awk 'NF >= 2 { name = $NF; sub(/@.*/, "", name); print $(NF - 1), name }' nm.out
}

exports_required() {
	need nm
	dynamic_symbols >syms
	missing=""
	for name in $required; do
		# A function: T (text), W (weak) or i (indirect function).
		grep -Eq "^[TWi] $name\$" syms || missing="$missing $name"
	done
	check_eq "malloc family functions not exported" "" "$missing"
}

exports_cxx_operators() {
	need nm
	dynamic_symbols >syms
	missing=""
	for name in $operators; do
		grep -Eq "^[TWi] $name\$" syms || missing="$missing $name"
	done
	check_eq "C++ operators not exported" "" "$missing"
}

# The list above is libstdc++'s: every operator it defines, no other.
operators_are_libstdcxx_ones() {
	need nm g++
	libstdcxx=$(g++ -print-file-name=libstdc++.so.6)
	if [ ! -f "$libstdcxx" ]; then
		echo "libstdc++.so.6 not found"
		exit 77
	fi
	nm -D --defined-only "$libstdcxx" |
		awk '{ name = $NF; sub(/@.*/, "", name) } name ~ /^_Z(nw|na|dl|da)/ { print name }' |
		sort -u >theirs
	printf '%s\n' $operators | sort -u >ours
	[ -s theirs ]
	diff ours theirs
}

links_no_cxx_runtime() {
	need nm readelf
	readelf -d "$SBMALLOC_LIB" >dynamic
	grep -q NEEDED dynamic
	if grep NEEDED dynamic | grep -Ei 'libstdc\+\+|libsupc\+\+|libc\+\+'; then
		echo "$SBMALLOC_LIB needs a C++ runtime"
		return 1
	fi
	# Every undefined C++ name (libstdc++'s std::get_new_handler and
	# std::__throw_bad_alloc) is a weak reference.
	nm -D --undefined-only "$SBMALLOC_LIB" | awk '$NF ~ /^_Z/' >cxx_refs
	grep -q . cxx_refs
	if awk '$1 != "w"' cxx_refs | grep .; then
		echo "strong references to C++ names above"
		return 1
	fi
}

exports_public_api() {
	need nm
	dynamic_symbols >syms
	missing=""
	for name in sb_version sb_owns sb_ctl; do
		grep -Eq "^[TWi] $name\$" syms || missing="$missing $name"
	done
	check_eq "functions of sbmalloc.h not exported" "" "$missing"
}

exports_nothing_else() {
	need nm
	dynamic_symbols >syms
	# Allowed besides the required names and the operators: the other glibc
	# malloc extras and their __libc_ aliases, the sb_ namespace, the
	# linker's own symbols, and symbol version nodes (type A).
	awk -v required="$required $operators" '
	BEGIN {
		n = split(required, r, /[ \n]+/)
		for (i = 1; i <= n; i++) ok[r[i]] = 1
		n = split("cfree mallinfo malloc_stats malloc_info malloc_get_state malloc_set_state " \
			"__libc_valloc __libc_pvalloc __libc_mallinfo __libc_mallinfo2 __libc_mallopt " \
			"__libc_reallocarray __libc_malloc_usable_size __libc_free_sized " \
			"__libc_free_aligned_sized __libc_aligned_alloc __libc_posix_memalign " \
			"_init _fini _edata _end __bss_start", x, " ")
		for (i = 1; i <= n; i++) ok[x[i]] = 1
	}
	$2 in ok { next }
	$2 ~ /^sb_/ { next }
	$1 == "A" && $2 ~ /^[A-Za-z_][A-Za-z0-9_.]*$/ && $2 ~ /[0-9]/ { next }
	{ print }' syms >unexpected
	if [ -s unexpected ]; then
		echo "unexpected exports of $SBMALLOC_LIB:"
		cat unexpected
		return 1
	fi
	# The filter above is not vacuous: it saw the required names.
	grep -q '^[TWi] malloc$' syms
}

tap_plan 6
tap_test exports_every_malloc_family_function_and_glibc_alias exports_required
tap_test exports_every_replaceable_cxx_operator_new_and_delete exports_cxx_operators
tap_test expects_exactly_the_operators_libstdcxx_defines operators_are_libstdcxx_ones
tap_test needs_no_cxx_runtime_and_references_it_only_weakly links_no_cxx_runtime
tap_test exports_sb_version_sb_owns_and_sb_ctl exports_public_api
tap_test exports_no_name_outside_the_malloc_family_operators_and_sb_namespace exports_nothing_else
tap_done
