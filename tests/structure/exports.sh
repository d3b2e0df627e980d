#!/bin/sh
# libsbmalloc.so exports the malloc family, glibc's aliases of it, and sb_*
# names - and nothing else.
. "${SBMALLOC_SRCDIR:-.}/tests/taplib.sh"

# The names a malloc replacement must define for every caller to reach it,
# including glibc's internal aliases (__libc_*, __posix_memalign).
required="malloc free calloc realloc reallocarray posix_memalign aligned_alloc
memalign valloc pvalloc malloc_usable_size free_sized free_aligned_sized
malloc_trim mallopt mallinfo2 __libc_malloc __libc_free __libc_calloc
__libc_realloc __libc_memalign __posix_memalign"

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
	# Allowed besides the required names: the other glibc malloc extras and
	# their __libc_ aliases, C++ operator new/delete (_Znw*, _Zna*, _Zdl*,
	# _Zda*), the sb_ namespace, the linker's own symbols, and symbol
	# version nodes (type A).
	awk -v required="$required" '
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
	$2 ~ /^_Z(nw|na|dl|da)/ { next }
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

tap_plan 3
tap_test exports_every_malloc_family_function_and_glibc_alias exports_required
tap_test exports_sb_version_sb_owns_and_sb_ctl exports_public_api
tap_test exports_no_name_outside_the_malloc_family_and_sb_namespace exports_nothing_else
tap_done
