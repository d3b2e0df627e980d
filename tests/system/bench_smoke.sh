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
want = ['larson', 'xmalloc', 'cache-thrash', 'cache-scratch', 'frag', 'kobj', 'chase']
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

tap_plan 4
tap_test run_py_smoke_runs_every_case_under_every_installed_allocator smoke_run
tap_test the_time_and_rss_tables_come_out_with_geometric_means tables_came_out
tap_test every_workload_ran_and_checked_its_data_under_glibc_and_sbmalloc every_case_ran
tap_test the_chart_is_drawn_when_gnuplot_is_installed chart_drawn
tap_done
