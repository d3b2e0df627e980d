# taplib.sh - TAP output and helpers for sbmalloc's shell tests.
#
# A test script sources this file, calls tap_plan with its number of test
# points, then runs each test point with
#
#     tap_test name_of_the_behaviour function [args...]
#
# The function runs in a subshell with `set -e`, its output captured: it
# passes when it returns 0, is skipped when it exits 77 (the last line it
# printed is the reason, e.g. "gcc not installed"), and fails otherwise, in
# which case the end of its output is printed as TAP diagnostics.  The script
# ends with tap_done.
#
# sb_run runs a command with sbmalloc preloaded (LD_PRELOAD=$SBMALLOC_LIB),
# under a time limit so that a deadlock is a failure, not a hung suite.

tap_count=0
tap_failed=0
tap_planned=0

tap_bail() {
	echo "Bail out! $*"
	exit 99
}

[ -n "${SBMALLOC_LIB:-}" ] || tap_bail "SBMALLOC_LIB is not set (run the tests through make check)"
[ -f "$SBMALLOC_LIB" ] || tap_bail "SBMALLOC_LIB=$SBMALLOC_LIB does not exist"
case $SBMALLOC_LIB in
/*) ;;
*) tap_bail "SBMALLOC_LIB=$SBMALLOC_LIB is not an absolute path" ;;
esac

# Scratch space for the whole script, removed on exit.
tap_tmp=$(mktemp -d "${TMPDIR:-/tmp}/sbmalloc-test.XXXXXX") || tap_bail "mktemp -d failed"
trap 'rm -rf "$tap_tmp"' EXIT
trap 'exit 130' INT TERM HUP PIPE

tap_plan() {
	tap_planned=$1
	echo "1..$1"
}

tap_diag() {
	printf '%s\n' "$*" | sed 's/^/# /'
}

# tap_test NAME FUNCTION [ARGS...]
tap_test() {
	tap_name=$1
	shift
	tap_count=$((tap_count + 1))
	tap_log="$tap_tmp/test-$tap_count.log"
	rm -f "$tap_tmp/sb_run.notes"
	(
		set -e
		cd "$tap_tmp"
		"$@"
	) >"$tap_log" 2>&1 </dev/null
	tap_rc=$?
	if [ "$tap_rc" -eq 0 ]; then
		echo "ok $tap_count - $tap_name"
	elif [ "$tap_rc" -eq 77 ]; then
		tap_why=$(tail -n 1 "$tap_log")
		echo "ok $tap_count - $tap_name # SKIP ${tap_why:-skipped}"
	else
		tap_failed=1
		echo "not ok $tap_count - $tap_name"
		if [ -s "$tap_tmp/sb_run.notes" ]; then
			echo "# failed commands:"
			tail -n 40 "$tap_tmp/sb_run.notes" | sed 's/^/#   /'
		fi
		echo "# exit status $tap_rc; last lines of output:"
		tail -n 40 "$tap_log" | sed 's/^/#   /'
	fi
}

tap_done() {
	if [ "$tap_count" -ne "$tap_planned" ]; then
		echo "# planned $tap_planned test points but ran $tap_count"
		exit 1
	fi
	exit "$tap_failed"
}

# --- helpers for test functions -------------------------------------------

# need PROG...: skip the test point (exit 77) unless every PROG is installed.
need() {
	for need_prog in "$@"; do
		if ! command -v "$need_prog" >/dev/null 2>&1; then
			echo "$need_prog not installed"
			exit 77
		fi
	done
}

# sb_run CMD [ARGS...]: run CMD with sbmalloc preloaded, killed after
# $SB_TIMEOUT seconds (default 120).  Children of CMD inherit the preload.
# Its stderr goes where the caller sends it; if it fails, its status and the
# end of its stderr are also noted for the diagnostics of the test point.
sb_run() {
	sb_rc=0
	timeout -k 5 "${SB_TIMEOUT:-120}" env LD_PRELOAD="$SBMALLOC_LIB" "$@" \
		2>"$tap_tmp/sb_run.stderr" || sb_rc=$?
	cat "$tap_tmp/sb_run.stderr" >&2
	if [ "$sb_rc" -ne 0 ]; then
		{
			case $sb_rc in
			124 | 137) echo "sb_run: timed out after ${SB_TIMEOUT:-120} s: $*" ;;
			*) echo "sb_run: exit status $sb_rc: $*" ;;
			esac
			tail -n 20 "$tap_tmp/sb_run.stderr"
		} >>"$tap_tmp/sb_run.notes"
	fi
	return "$sb_rc"
}

# check_eq WHAT EXPECTED ACTUAL: fail (return 1) with a message unless equal.
check_eq() {
	if [ "$2" = "$3" ]; then
		return 0
	fi
	echo "$1: expected '$2', got '$3'"
	return 1
}

# check_no_preload_error FILE: fail if the dynamic loader complained, in the
# stderr saved in FILE, that it could not preload the library.
check_no_preload_error() {
	if grep -F "cannot be preloaded" "$1"; then
		echo "the dynamic loader did not preload $SBMALLOC_LIB"
		return 1
	fi
	return 0
}

# check_quiet FILE: fail unless the stderr saved in FILE is empty - the
# programs run here print nothing there, and neither may sbmalloc.
check_quiet() {
	if [ -s "$1" ]; then
		echo "unexpected output on stderr:"
		cat "$1"
		return 1
	fi
	return 0
}

# sb_serves PROG CMD [ARGS...]: run CMD preloaded with LD_DEBUG=bindings and
# succeed only if a process whose program is named PROG (a basename, an
# extended regular expression) bound its calls to `malloc' to $SBMALLOC_LIB:
# the proof that sbmalloc, not glibc, serves that program's allocations.
sb_serves() {
	sb_prog=$1
	shift
	sb_dir=$(mktemp -d "$tap_tmp/lddebug.XXXXXX")
	if ! LD_DEBUG=bindings LD_DEBUG_OUTPUT="$sb_dir/ld" sb_run "$@" \
		>"$sb_dir/out" 2>"$sb_dir/err"; then
		echo "command failed: $*"
		cat "$sb_dir/err"
		return 1
	fi
	check_no_preload_error "$sb_dir/err"
	if ! cat "$sb_dir"/ld.* | grep -F " to $SBMALLOC_LIB [" |
		grep -F "normal symbol \`malloc'" |
		grep -Eq "binding file ([^ ]*/)?$sb_prog \["; then
		echo "no process named $sb_prog bound malloc to $SBMALLOC_LIB; its malloc bindings:"
		cat "$sb_dir"/ld.* | grep -F "normal symbol \`malloc'" | head -n 20
		return 1
	fi
	rm -rf "$sb_dir"
}
