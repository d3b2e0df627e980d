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
	for heading in '### Wall time' '### Peak RSS' '### Minor page faults' '### System time'; do
		grep -qF "$heading" "$tap_tmp/smoke.md" || { echo "no '$heading' table"; cat "$tap_tmp/smoke.md"; return 1; }
	done
	check_eq "geometric-mean rows" 4 "$(grep -c '^| \*\*geometric mean\*\* |' "$tap_tmp/smoke.md")"
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
        'large', 'mthread', 'remote', 'pageblock',
        'idle', 'drift', 'churn', 'prodcons', 'randseq', 'ulimit-v']
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

every_run_has_its_minor_faults_and_system_time() {
	have_run
	# Every run that worked, of every case under every column (the real
	# programs too), has the launcher's minor faults and system time.
	python3 - "$tap_tmp/smoke.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
bad, n = [], 0
for case, cols in d['results'].items():
    for col, runs in cols.items():
        for r in runs:
            if r['error']:
                continue
            n += 1
            if not isinstance(r.get('minflt'), int) or r['minflt'] <= 0:
                bad.append('%s under %s: minflt %r' % (case, col, r.get('minflt')))
            if not isinstance(r.get('stime'), (int, float)) or r['stime'] < 0:
                bad.append('%s under %s: stime %r' % (case, col, r.get('stime')))
if not n:
    bad.append('no runs')
if bad:
    print('\n'.join(bad))
    sys.exit(1)
PY
}

# The figures idle, drift, prodcons and ulimit-v print about themselves are
# in their table, under glibc and sbmalloc, and the bars of issue 12 are
# judged on the sbmalloc column.
the_cases_own_figures_and_the_bars_come_out() {
	have_run
	md="$tap_tmp/smoke.md"
	grep -qF "### The cases' own figures" "$md" || { echo "no table of the cases' own figures"; cat "$md"; return 1; }
	python3 - "$md" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
table = text.split("### The cases' own figures", 1)[1].split('###', 1)[0]
rows = [r for r in table.splitlines() if r.startswith('| ') and not r.startswith('| case ')]
head = next(r for r in table.splitlines() if r.startswith('| case | figure |'))
cols = [c.strip() for c in head.strip('|').split('|')]
bad = []
want = {('idle', 'resident above the start after the idle'), ('drift', 'peak RSS / peak live bytes'),
        ('prodcons', 'RSS half-way (steady state)'), ('prodcons', 'RSS after joining the 64 threads'),
        ('ulimit-v', '8 MiB blocks had after the 1 MiB phase'), ('ulimit-v', 'realloc growth reached (MiB)')}
seen = set()
for r in rows:
    cells = [c.strip() for c in r.strip('|').split('|')]
    seen.add((cells[0], cells[1]))
    for col in ('glibc', 'sbmalloc'):
        v = cells[cols.index(col)] if col in cols else ''
        if not re.match(r'^[0-9.]+( MiB)?( \(.*\))?$', v):
            bad.append('%s, %s under %s: %r' % (cells[0], cells[1], col, v))
bad += ['no row for %s, %s' % w for w in sorted(want - seen)]
bars = text.split("Issue 12's bars", 1)
if len(bars) < 2:
    bad.append("no list of issue 12's bars")
else:
    lines = [l for l in bars[1].split('\n\n', 2)[1].splitlines() if l.startswith('- ')]
    if len(lines) != 9:
        bad.append('%d bars, want 9: %s' % (len(lines), lines))
    bad += ['not judged: ' + l for l in lines if not re.search(r': \*\*(met|not met)\*\*\.$', l)]
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

tap_plan 7
tap_test run_py_smoke_runs_every_case_under_every_installed_allocator smoke_run
tap_test the_time_rss_faults_and_system_time_tables_come_out_with_geometric_means tables_came_out
tap_test every_workload_ran_and_checked_its_data_under_glibc_and_sbmalloc every_case_ran
tap_test every_run_has_its_minor_faults_and_system_time every_run_has_its_minor_faults_and_system_time
tap_test the_cases_own_figures_and_issue_12s_bars_come_out the_cases_own_figures_and_the_bars_come_out
tap_test the_chart_is_drawn_when_gnuplot_is_installed chart_drawn
tap_test bench_scale_writes_a_row_per_workload_and_thread_count_and_a_chart scale_table_and_chart_come_out
tap_done
