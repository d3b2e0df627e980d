#!/bin/sh
# sbmalloc-run as installed and as run with --top.  The installed tree is
# made by `make install` into a prefix of this test's own: there the
# script preloads libsbmalloc.so.0, the file the library's SONAME names
# (what a runtime package holds), not the development link libsbmalloc.so,
# and install left no placeholder behind; the installed manual pages
# render.  --top without --stats=FILE puts the dumps in a directory of its
# own in $TMPDIR that goes when the program ends, by itself or killed by a
# signal, while the program keeps the pid of sbmalloc-run.
. "${SBMALLOC_SRCDIR:-.}/tests/taplib.sh"

tools="$SBMALLOC_SRCDIR/tools"
prefix="$tap_tmp/prefix"

fresh_dir() {
	cd "$(mktemp -d "$tap_tmp/point.XXXXXX")"
}

# Install the build tree into $prefix, once for all the test points.  Every
# directory is set on the command line, so nothing goes outside $prefix
# whatever configure was told.
installed() {
	[ -f "$prefix/.installed" ] && return 0
	[ -n "${SBMALLOC_MAKE:-}" ] || { echo "SBMALLOC_MAKE is not set (run through make check)"; return 1; }
	env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL $SBMALLOC_MAKE -C "$SBMALLOC_BUILDDIR" install \
		DESTDIR= prefix="$prefix" exec_prefix="$prefix" bindir="$prefix/bin" \
		libdir="$prefix/lib" includedir="$prefix/include" datarootdir="$prefix/share" \
		mandir="$prefix/share/man" docdir="$prefix/share/doc/sbmalloc" \
		pkgconfigdir="$prefix/lib/pkgconfig" >"$tap_tmp/install.log" 2>&1 ||
		{ tail -n 30 "$tap_tmp/install.log"; return 1; }
	touch "$prefix/.installed"
}

installed_run_prints_the_soname_file() {
	installed
	lib=$(env -u SBMALLOC_LIB "$prefix/bin/sbmalloc-run" --print-lib)
	check_eq "installed sbmalloc-run --print-lib" "$prefix/lib/libsbmalloc.so.0" "$lib"
	[ -f "$lib" ] || { echo "$lib is not installed"; return 1; }
	if command -v readelf >/dev/null 2>&1; then
		soname=$(readelf -d "$lib" | sed -n 's/.*(SONAME).*\[\(.*\)\]$/\1/p')
		check_eq "SONAME of $lib" "$(basename "$lib")" "$soname"
	fi
}

installed_run_preloads_without_the_development_link() {
	fresh_dir
	installed
	# A runtime package without the -dev one: no libsbmalloc.so link.
	mv "$prefix/lib/libsbmalloc.so" "$tap_tmp/devlink"
	status=0
	env -u SBMALLOC_LIB "$prefix/bin/sbmalloc-run" sh -c 'echo "$LD_PRELOAD"; cat /proc/$$/maps' \
		>out 2>err || status=$?
	mv "$tap_tmp/devlink" "$prefix/lib/libsbmalloc.so"
	check_eq "exit status" 0 "$status"
	check_no_preload_error err
	check_quiet err
	check_eq "LD_PRELOAD of the program" "$prefix/lib/libsbmalloc.so.0" "$(head -n 1 out)"
	# Mapped: the file the link points to (libsbmalloc.so.0.0.0).
	grep -qF " $prefix/lib/libsbmalloc.so.0" out ||
		{ echo "libsbmalloc.so.0 is not mapped in the program:"; cat out; return 1; }
}

installed_files_keep_no_placeholder() {
	installed
	bad=$(grep -l '@[a-zA-Z_]*@' "$prefix/bin/sbmalloc-run" "$prefix/include/sbmalloc.h" \
		"$prefix"/share/man/man*/* "$prefix/lib/pkgconfig/sbmalloc.pc" || true)
	check_eq "installed files with an @placeholder@ left" "" "$bad"
	grep -q '^#define SBMALLOC_VERSION "[0-9]*\.[0-9]*\.[0-9]*"$' "$prefix/include/sbmalloc.h"
	[ -f "$prefix/share/doc/sbmalloc/LICENSE" ] && [ -f "$prefix/share/doc/sbmalloc/NEWS" ]
}

installed_man_pages_render() {
	fresh_dir
	installed
	command -v man >/dev/null 2>&1 || { echo "man not installed"; exit 77; }
	n=0
	for page in "$prefix/share/man/man3/sbmalloc.3" "$prefix/share/man/man1/sbmalloc-run.1" \
		"$prefix/share/man/man1/sbstat.1" "$prefix/share/man/man1/sbtop.1"; do
		LC_ALL=C MANWIDTH=80 man --warnings=w -l "$page" >out 2>err
		check_quiet err
		grep -q '^NAME' out
		n=$((n + 1))
	done
	check_eq "installed pages rendered" 4 "$n"
}

# wait_empty DIR: until DIR is empty, for at most 10 s (the watcher of
# --top looks once a second).
wait_empty() {
	i=0
	while [ -n "$(ls -A "$1")" ]; do
		i=$((i + 1))
		[ "$i" -le 100 ] || { echo "$1 still holds:"; ls -lR "$1"; return 1; }
		sleep 0.1
	done
}

# A shell under sbmalloc-run --top, dumping once (SIGUSR2) and listing
# the dump directories into $PWD/listing, then running the rest.
top_script='kill -USR2 $$
ls "$TMPDIR"/sbmalloc-top.* >"$0/listing"
'

top_dir_goes_when_the_program_kills_itself() {
	fresh_dir
	mkdir tmp
	status=0
	TMPDIR=$PWD/tmp "$tools/sbmalloc-run" --top sh -c "${top_script}kill -KILL \$\$" "$PWD" ||
		status=$?
	check_eq "exit status of a program killed by SIGKILL" 137 "$status"
	grep -q '^sbmalloc-stats\.[0-9][0-9]*$' listing ||
		{ echo "no dump in the --top directory while the program ran:"; cat listing; return 1; }
	wait_empty tmp
}

top_dir_goes_when_the_program_is_killed_from_outside() {
	fresh_dir
	mkdir tmp
	TMPDIR=$PWD/tmp "$tools/sbmalloc-run" --top sleep 60 &
	pid=$!
	i=0
	until [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = sleep ]; do
		i=$((i + 1))
		[ "$i" -le 100 ] || { kill "$pid"; echo "sleep did not start"; return 1; }
		sleep 0.05
	done
	[ -n "$(ls -A tmp)" ] || { echo "no --top directory while the program runs"; return 1; }
	kill -TERM "$pid"
	status=0
	wait "$pid" || status=$?
	check_eq "exit status of sleep killed by SIGTERM" 143 "$status"
	wait_empty tmp
}

top_dir_goes_when_the_program_exits() {
	fresh_dir
	mkdir tmp
	TMPDIR=$PWD/tmp "$tools/sbmalloc-run" --top sh -c "${top_script}exit 0" "$PWD"
	grep -q '^sbmalloc-stats\.[0-9][0-9]*$' listing
	wait_empty tmp
}

top_program_keeps_the_pid_of_sbmalloc_run() {
	fresh_dir
	mkdir tmp
	TMPDIR=$PWD/tmp "$tools/sbmalloc-run" --top sh -c \
		'echo $$ >"$0/pid"; echo "$SBMALLOC_STATS" >"$0/stats"' "$PWD" &
	bg=$!
	wait "$bg"
	check_eq "pid of the program" "$bg" "$(cat pid)"
	case $(cat stats) in
	"$PWD"/tmp/sbmalloc-top.*/sbmalloc-stats.%p) ;;
	*) echo "SBMALLOC_STATS=$(cat stats) is not in the --top directory"; return 1 ;;
	esac
	wait_empty tmp
}

top_with_a_stats_file_leaves_it() {
	fresh_dir
	mkdir tmp
	status=0
	TMPDIR=$PWD/tmp "$tools/sbmalloc-run" --top --stats="$PWD/dump.%p" sh -c \
		'echo $$ >pid; kill -USR2 $$; kill -KILL $$' || status=$?
	check_eq "exit status" 137 "$status"
	grep -q '^slabinfo - version: 2.1$' "dump.$(cat pid)"
	check_eq "files in TMPDIR" "" "$(ls -A tmp)"
}

tap_plan 9
tap_test installed_sbmalloc_run_prints_the_soname_file installed_run_prints_the_soname_file
tap_test installed_sbmalloc_run_preloads_libsbmalloc_so_0_without_the_dev_link \
	installed_run_preloads_without_the_development_link
tap_test installed_files_keep_no_placeholder installed_files_keep_no_placeholder
tap_test installed_man_pages_render_without_warnings installed_man_pages_render
tap_test top_dump_dir_goes_when_the_program_kills_itself top_dir_goes_when_the_program_kills_itself
tap_test top_dump_dir_goes_when_the_program_is_killed_from_outside \
	top_dir_goes_when_the_program_is_killed_from_outside
tap_test top_dump_dir_goes_when_the_program_exits top_dir_goes_when_the_program_exits
tap_test top_program_keeps_the_pid_of_sbmalloc_run top_program_keeps_the_pid_of_sbmalloc_run
tap_test top_with_a_stats_file_leaves_the_file top_with_a_stats_file_leaves_it
tap_done
