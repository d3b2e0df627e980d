#!/bin/sh
# The tools of tools/ on real programs: sbmalloc-run runs a program under
# sbmalloc and passes its exit status through, sbstat reads a real dump (as
# text or as JSON) and plots it, sbtop watches a running process (dumping
# either form).  tests/system/stats_pair writes a text and a JSON dump of
# one state, which must agree (dump_agree.py).
. "${SBMALLOC_SRCDIR:-.}/tests/taplib.sh"

tools="$SBMALLOC_SRCDIR/tools"
pair="$SBMALLOC_BUILDDIR/tests/system/stats_pair"

# Each test point works in a directory of its own (taplib.sh runs them all
# in the same scratch directory).
fresh_dir() {
	cd "$(mktemp -d "$tap_tmp/point.XXXXXX")"
}

# The python3 binary itself, not a wrapper script (pyenv's shims run other
# programs first): its pid is the one sbtop watches.
real_python() {
	need python3
	py=$(python3 -c 'import sys; print(sys.executable)')
	[ -x "$py" ] || { echo "python3 says its executable is '$py'"; return 1; }
}

# A python3 run that holds 1000 blocks of 100 bytes from malloc (through
# ctypes, so they come from the malloc that serves python3), then runs the
# rest of its arguments as more code.
live_objects_py='import ctypes
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
keep = [libc.malloc(100) for _ in range(1000)]
'

run_passes_exit_status() {
	fresh_dir
	status=0
	"$tools/sbmalloc-run" sh -c 'exit 7' || status=$?
	check_eq "exit status of sh -c 'exit 7'" 7 "$status"
	status=0
	"$tools/sbmalloc-run" sh -c 'kill -TERM $$' || status=$?
	check_eq "exit status of a shell killed by SIGTERM" 143 "$status"
	# --hugepages=0: the path that waits for the program (and would
	# restore the huge page pool) passes the status through too.
	before=$(cat /proc/sys/vm/nr_hugepages 2>/dev/null || echo none)
	status=0
	"$tools/sbmalloc-run" --hugepages=0 sh -c 'test "$SBMALLOC_HUGEPAGES" = auto && exit 5' \
		2>err || status=$?
	check_eq "exit status with --hugepages=0" 5 "$status"
	check_eq "nr_hugepages after the run" "$before" "$(cat /proc/sys/vm/nr_hugepages 2>/dev/null || echo none)"
	status=0
	"$tools/sbmalloc-run" /nonexistent/program 2>err || status=$?
	check_eq "exit status for a program that does not exist" 127 "$status"
}

run_preloads_the_library() {
	fresh_dir
	need python3
	# SBMALLOC_LIB (set by make check) is the library it must choose.
	check_eq "sbmalloc-run --print-lib" "$SBMALLOC_LIB" "$("$tools/sbmalloc-run" --print-lib)"
	out=$(LD_PRELOAD= "$tools/sbmalloc-run" python3 -c '
import ctypes
v = ctypes.CDLL(None).sb_version
v.restype = ctypes.c_char_p
print(v().decode())' 2>err)
	check_quiet err
	[ -n "$out" ] || { echo "sb_version() not found in the process"; return 1; }
	# Without SBMALLOC_LIB it finds the library of the build tree next to
	# the tools, when the source tree is the build tree.
	if [ "$SBMALLOC_SRCDIR" -ef "$SBMALLOC_BUILDDIR" ]; then
		check_eq "sbmalloc-run --print-lib without SBMALLOC_LIB" "$SBMALLOC_LIB" \
			"$(env -u SBMALLOC_LIB "$tools/sbmalloc-run" --print-lib)"
	fi
}

run_writes_stats() {
	fresh_dir
	real_python
	"$tools/sbmalloc-run" --stats="$PWD/dump.%p" "$py" -c "$live_objects_py
import os
print(os.getpid())" >pid 2>err
	check_quiet err
	[ -s "dump.$(cat pid)" ] || { echo "no dump.$(cat pid)"; ls; return 1; }
	grep -q '^slabinfo - version: 2.1$' "dump.$(cat pid)"
	# --stats: the dump on stderr.
	"$tools/sbmalloc-run" --stats true 2>err
	grep -q '^slabinfo - version: 2.1$' err
	grep -q '^summary - sbmalloc .*, counters on$' err
}

sbstat_reports_a_real_dump() {
	fresh_dir
	real_python
	"$tools/sbmalloc-run" --stats="$PWD/dump" "$py" -c "$live_objects_py"
	"$tools/sbstat" --check --all dump >report 2>err || { cat report err; return 1; }
	check_quiet err
	cat report
	# The row of malloc-112 shows the 1000 live blocks of 100 bytes.
	awk '$1 == "malloc-112" && $2 == 112 && $3 >= 1000 { found = 1 } END { exit !found }' report
	grep -q '^bytes: [0-9.]*[BKMG] handed out, [0-9.]*[BKMG] live$' report
	grep -q '^huge pages: [0-9.]*% of ' report
	grep -q '^  free  ' report
	# The default shows the caches with the most memory, largest first.
	"$tools/sbstat" -n 3 dump >top3
	check_eq "rows of sbstat -n 3" 3 "$(awk '/^CACHE /{ t = 1; next } t && /^malloc-/ { n++ } END { print n + 0 }' top3)"
	# A dump cut short is refused.
	head -c 3000 dump >cut
	status=0
	"$tools/sbstat" cut >/dev/null 2>err || status=$?
	check_eq "exit status of sbstat on a cut dump" 2 "$status"
	grep -q 'sbstat: ' err
}

# A real program's dump at exit with SBMALLOC_STATS_FORMAT=json.
json_dump_of_python() {
	real_python
	SBMALLOC_STATS_FORMAT=json "$tools/sbmalloc-run" --stats="$PWD/dump.json" "$py" -c \
		"$live_objects_py" 2>err
	check_quiet err
	[ -s dump.json ] || { echo "no dump.json"; ls; return 1; }
}

run_writes_json_stats_that_json_tool_loads() {
	fresh_dir
	json_dump_of_python
	check_eq "first character of the dump" "{" "$(head -c 1 dump.json)"
	python3 -m json.tool dump.json >pretty
	grep -q '^    "format_version": 2,$' pretty
}

sbstat_reports_a_real_json_dump() {
	fresh_dir
	json_dump_of_python
	"$tools/sbstat" --check --all dump.json >report 2>err || { cat report err; return 1; }
	check_quiet err
	cat report
	awk '$1 == "malloc-112" && $2 == 112 && $3 >= 1000 { found = 1 } END { exit !found }' report
	grep -q '^huge pages: [0-9.]*% of [0-9.]*[BKMG] mapped (thp [0-9.]*[BKMG], hugetlb [0-9.]*[BKMG]; ' report
	grep -q '^  free  ' report
	# Several dumps in one file, after white space: one report each.
	{ echo; cat dump.json; echo; cat dump.json; } >two.json
	"$tools/sbstat" two.json >two
	check_eq "reports of two JSON dumps" 2 "$(grep -c '^sbmalloc .*, pid ' two)"
}

sbstat_refuses_a_cut_json_dump() {
	fresh_dir
	json_dump_of_python
	head -c "$(($(wc -c <dump.json) - 10))" dump.json >cut
	status=0
	"$tools/sbstat" cut >/dev/null 2>err || status=$?
	cat err
	check_eq "exit status of sbstat on a cut JSON dump" 2 "$status"
	grep -q 'sbstat: cut: not a whole JSON dump' err
}

text_and_json_dumps_of_one_state_agree() {
	fresh_dir
	need python3
	"$pair" --huge 40 .
	python3 "$SBMALLOC_SRCDIR/tests/system/dump_agree.py" "$tools/sbstat" text json
}

sbstat_prints_the_same_report_from_text_and_json() {
	fresh_dir
	need python3
	"$pair" --huge 40 .
	"$tools/sbstat" --check --all text >report.text
	"$tools/sbstat" --check --all json >report.json
	grep -q '^pair_cache ' report.text
	# The first line names the file; all the rest is the same.
	check_eq "first line, JSON" "$(sed -n '1s/(text)$/(json)/p' report.text)" \
		"$(sed -n 1p report.json)"
	tail -n +2 report.text >rest.text
	tail -n +2 report.json >rest.json
	diff rest.text rest.json
}

sbstat_plots_a_png() {
	fresh_dir
	real_python
	need gnuplot
	"$tools/sbmalloc-run" --stats="$PWD/dump" "$py" -c "$live_objects_py"
	"$tools/sbstat" --plot "$PWD/out.png" dump >/dev/null
	[ -s out.png ] || { echo "no out.png"; return 1; }
	check_eq "the first 8 bytes of out.png" "89504e470d0a1a0a" \
		"$(od -An -tx1 -N8 out.png | tr -d ' \n')"
	if command -v file >/dev/null 2>&1; then
		file out.png | grep -q 'PNG image data'
	fi
}

sbstat_plot_without_gnuplot_fails_clearly() {
	fresh_dir
	real_python
	"$tools/sbmalloc-run" --stats="$PWD/dump" "$py" -c "$live_objects_py"
	status=0
	PATH=/nonexistent "$py" "$tools/sbstat" --plot "$PWD/out.png" dump >/dev/null 2>err ||
		status=$?
	cat err
	[ "$status" -ne 0 ] || { echo "sbstat --plot succeeded without gnuplot"; return 1; }
	grep -q 'needs gnuplot' err
	[ ! -e out.png ]
}

# Start python3 under sbmalloc-run --top holding the 1000 blocks, and wait
# until it is ready; its pid in $pid.  SBMALLOC_STATS_FORMAT passes
# through to it.
start_watched_python() {
	"$tools/sbmalloc-run" --top --stats="$PWD/top.%p" "$py" -c "$live_objects_py
import time
open('ready', 'w').close()
time.sleep(60)" &
	pid=$!
	i=0
	while [ ! -e ready ]; do
		i=$((i + 1))
		[ "$i" -lt 200 ] || { echo "python3 did not start"; return 1; }
		sleep 0.05
	done
}

sbtop_shows_a_running_process() {
	fresh_dir
	real_python
	start_watched_python
	status=0
	timeout 60 "$tools/sbtop" -n 2 -d 0.2 "$pid" >out 2>err || status=$?
	kill "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	cat out err
	check_eq "exit status of sbtop -n 2" 0 "$status"
	check_eq "tables printed by sbtop -n 2" 2 "$(grep -c '^  OBJS ACTIVE  USE OBJ SIZE  SLABS OBJ/SLAB CACHE SIZE NAME$' out)"
	check_eq "summary lines naming the pid" 2 "$(grep -c "pid $pid (" out)"
	# Both tables show the malloc-* caches, with the 1000 live blocks in
	# malloc-112 (column 2: active objects).
	check_eq "tables with malloc-112 holding >= 1000 objects" 2 \
		"$(awk '$NF == "malloc-112" && $2 >= 1000 { n++ } END { print n + 0 }' out)"
	[ "$(grep -c ' malloc-[0-9]*$' out)" -ge 10 ]
	# The dump file was named by the pid, as sbtop derived it.
	[ -s "top.$pid" ]
	# -o: once.
	status=0
	start_watched_python
	timeout 60 "$tools/sbtop" -o "$pid" >once 2>err || status=$?
	kill "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	check_eq "exit status of sbtop -o" 0 "$status"
	check_eq "tables printed by sbtop -o" 1 "$(grep -c '^  OBJS ACTIVE' once)"
}

sbtop_shows_a_process_dumping_json() {
	fresh_dir
	real_python
	export SBMALLOC_STATS_FORMAT=json
	start_watched_python
	status=0
	timeout 60 "$tools/sbtop" -o "$pid" >out 2>err || status=$?
	kill "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	cat out err
	check_eq "exit status of sbtop -o" 0 "$status"
	check_eq "first character of the dump file" "{" "$(head -c 1 "top.$pid")"
	check_eq "tables with malloc-112 holding >= 1000 objects" 1 \
		"$(awk '$NF == "malloc-112" && $2 >= 1000 { n++ } END { print n + 0 }' out)"
}

sbtop_refuses_a_process_without_the_signal_handler() {
	fresh_dir
	need sleep
	# Not started with SBMALLOC_STATS_SIGNAL: a SIGUSR2 would kill it.
	env -u SBMALLOC_STATS_SIGNAL "$tools/sbmalloc-run" --stats="$PWD/s.%p" sleep 60 &
	pid=$!
	sleep 0.3
	status=0
	"$tools/sbtop" -o "$pid" >out 2>err || status=$?
	cat err
	alive=yes
	kill -0 "$pid" 2>/dev/null || alive=no
	kill "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	check_eq "exit status of sbtop" 1 "$status"
	grep -q 'SBMALLOC_STATS_SIGNAL' err
	check_eq "the process is still alive" yes "$alive"
}

tap_plan 14
tap_test sbmalloc_run_passes_the_exit_status_through run_passes_exit_status
tap_test sbmalloc_run_preloads_the_library run_preloads_the_library
tap_test sbmalloc_run_stats_writes_dumps run_writes_stats
tap_test json_dump_at_exit_loads_with_python3_m_json_tool run_writes_json_stats_that_json_tool_loads
tap_test sbstat_reports_a_real_dump sbstat_reports_a_real_dump
tap_test sbstat_reports_a_real_json_dump sbstat_reports_a_real_json_dump
tap_test sbstat_refuses_a_cut_json_dump sbstat_refuses_a_cut_json_dump
tap_test text_and_json_dumps_of_one_state_agree_on_every_figure text_and_json_dumps_of_one_state_agree
tap_test sbstat_prints_the_same_report_from_text_and_json sbstat_prints_the_same_report_from_text_and_json
tap_test sbstat_plot_makes_a_png sbstat_plots_a_png
tap_test sbstat_plot_without_gnuplot_fails_clearly sbstat_plot_without_gnuplot_fails_clearly
tap_test sbtop_shows_a_running_process sbtop_shows_a_running_process
tap_test sbtop_shows_a_process_dumping_json sbtop_shows_a_process_dumping_json
tap_test sbtop_refuses_a_process_without_the_signal_handler sbtop_refuses_a_process_without_the_signal_handler
tap_done
