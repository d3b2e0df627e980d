#!/bin/sh
# The benchmark runner works: bench/run.py --smoke runs every case once at
# tiny scale under every allocator installed (a missing allocator or program
# is skipped by the runner), every workload checks its own data, and the
# tables come out.  Nothing here is judged on speed.
. "${SBMALLOC_SRCDIR:-.}/tests/taplib.sh"

smoke_run() {
	need python3
	# The workloads are built by make check, in the build tree.
	rc=0
	timeout -k 5 600 python3 "$SBMALLOC_SRCDIR/bench/run.py" --smoke \
		--builddir "$SBMALLOC_BUILDDIR" --lib "$SBMALLOC_LIB" \
		--chart "$tap_tmp/smoke.png" --json "$tap_tmp/smoke.json" \
		>"$tap_tmp/smoke.md" 2>"$tap_tmp/smoke.err" || rc=$?
	cat "$tap_tmp/smoke.err"
	if [ "$rc" -ne 0 ]; then
		echo "bench/run.py --smoke exited with status $rc"
		return 1
	fi
}

have_run() {
	if [ ! -f "$tap_tmp/smoke.json" ]; then
		echo "no results: the first test point failed"
		return 1
	fi
}

tables_came_out() {
	have_run
	for heading in '### Wall time' '### Peak RSS'; do
		grep -qF "$heading" "$tap_tmp/smoke.md" || { echo "no '$heading' table"; cat "$tap_tmp/smoke.md"; return 1; }
	done
	check_eq "geometric-mean rows" 2 "$(grep -c '^| \*\*geometric mean\*\* |' "$tap_tmp/smoke.md")"
}

every_case_ran() {
	have_run
	# Every workload case has a row with a value under glibc and sbmalloc;
	# the real-program cases may be skipped when their program is missing.
	python3 - "$tap_tmp/smoke.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
res, skipped = d['results'], d['skipped']
want = ['larson', 'xmalloc', 'cache-thrash', 'cache-scratch', 'frag', 'kobj', 'chase',
        'large', 'mthread', 'remote', 'pageblock']
bad = []
for case in want + ['python', 'gcc', 'sqlite', 'redis']:
    if case in skipped and case not in want:
        print('%s skipped: %s' % (case, skipped[case]))
        continue
    cols = res.get(case)
    if not cols:
        bad.append('%s: no results' % case)
        continue
    for col in ('glibc', 'sbmalloc'):
        runs = cols.get(col) or []
        if not runs or any(r['error'] for r in runs):
            bad.append('%s under %s: %s' % (case, col, [r['error'] for r in runs] or 'not run'))
if bad:
    print('\n'.join(bad))
    sys.exit(1)
PY
}

chart_drawn() {
	have_run
	need gnuplot
	[ -s "$tap_tmp/smoke.png" ] || { echo "no chart at $tap_tmp/smoke.png"; return 1; }
}

# make bench-scale's runner: every workload at 1 and 2 threads under
# glibc and sbmalloc, one table and one chart.
scale_table_and_chart_come_out() {
	need python3
	timeout -k 5 600 python3 "$SBMALLOC_SRCDIR/bench/run.py" --scale --smoke \
		--builddir "$SBMALLOC_BUILDDIR" --lib "$SBMALLOC_LIB" --allocators glibc,sbmalloc \
		--out "$tap_tmp/scale.md" --chart "$tap_tmp/scale.png" \
		>"$tap_tmp/scale.out" 2>&1 || { cat "$tap_tmp/scale.out"; return 1; }
	for w in larson cache-scratch pageblock; do
		for t in 1 2; do
			grep -Eq "^\| $w \| $t \| [*]*[0-9.]+( [kM])?[*]*( .*)? \| [*]*[0-9.]+( [kM])?[*]*( .*)? \|\$" "$tap_tmp/scale.md" ||
				{ echo "no row for $w at $t threads"; cat "$tap_tmp/scale.md"; return 1; }
		done
	done
	grep -Eq '^\| xmalloc \| 2 \|' "$tap_tmp/scale.md" || { echo "no xmalloc row"; return 1; }
	if command -v gnuplot >/dev/null 2>&1; then
		[ -s "$tap_tmp/scale.png" ] || { echo "no scale chart"; return 1; }
	fi
}

tap_plan 5
tap_test run_py_smoke_runs_every_case_under_every_installed_allocator smoke_run
tap_test the_time_and_rss_tables_come_out_with_geometric_means tables_came_out
tap_test every_workload_ran_and_checked_its_data_under_glibc_and_sbmalloc every_case_ran
tap_test the_chart_is_drawn_when_gnuplot_is_installed chart_drawn
tap_test bench_scale_writes_a_row_per_workload_and_thread_count_and_a_chart scale_table_and_chart_come_out
tap_done
