"""make bench-scale (bench/run.py --scale): throughput of the
multi-threaded workloads against the number of threads, for every column.

Each workload runs at thread counts 1, 2, 4, ... up to twice
os.cpu_count() (that count itself and the CPU count are added when they
are not powers of two), with a fixed amount of work per thread, under every
column, interleaved (for each repetition, each workload and thread count,
the columns take turns), and the median of the repetitions of each
throughput (the workload's own count of operations per second, timed inside
the program without its start-up) goes into one Markdown table and one PNG
(a panel per workload, a line per column).  On a machine with few CPUs it
shows little beyond the cost of oversubscription; it is meant for many.
"""

import dataclasses
import datetime
import json
import os
import shlex
import shutil
import statistics
import subprocess
import tempfile
import time

from . import note
from .cases import workload_path
from .chart import COLOURS
from .columns import Column, main_cols, select_columns
from .measure import CHECK_RE, FIELD_RE, Result, column_env, failure, result, run_child
from .meta import machine_info, versions


@dataclasses.dataclass(eq=False)
class ScaleCase:
    """A workload of the sweep.  args: per mode, a function of the thread
    count giving the program's arguments, or None when the workload cannot
    run with that many threads.  rate: from the fields of the output line,
    the throughput.  unit: what the throughput counts."""
    name: str
    unit: str
    args: dict
    rate: object


def per_thread(seconds_key, count_key, threads_key):
    """A rate from a total count over seconds, the count per thread."""
    def rate(f):
        secs = float(f[seconds_key])
        if secs <= 0:
            raise ValueError('%s=%s: too short to time' % (seconds_key, f[seconds_key]))
        return float(f[count_key]) * float(f[threads_key]) / secs
    return rate


def field(key):
    return lambda f: float(f[key])


def pairs(scale):
    """xmalloc's arguments at t threads: t/2 producer-consumer pairs."""
    return lambda t: [scale, str(t // 2)] if t % 2 == 0 else None


SCALE_CASES = [
    ScaleCase('larson', 'malloc+free pairs per second (ops_per_s); an array of objects '
              'of 16-1024 B per thread (the third argument: their number), the arrays '
              'passed on to the next thread every round',
              {'full': lambda t: ['100', str(t), '4000'],
               'quick': lambda t: ['30', str(t), '4000'],
               'smoke': lambda t: ['2', str(t), '500']},
              field('ops_per_s')),
    ScaleCase('xmalloc', 'objects per second (objs_per_s), each allocated by a producer '
              'and freed by a consumer; t threads are t/2 pairs, so no point at 1 thread',
              {'full': pairs('5'), 'quick': pairs('2'), 'smoke': pairs('1')},
              field('objs_per_s')),
    ScaleCase('cache-scratch', 'objects per second (8 B, malloc, 200 increments of each '
              'byte, free), over the threads; passive false sharing',
              {'full': lambda t: ['10', str(t)], 'quick': lambda t: ['3', str(t)],
               'smoke': lambda t: ['1', str(t)]},
              per_thread('seconds', 'iterations', 'threads')),
    ScaleCase('pageblock', 'malloc+free pairs per second (ops_per_s) of page blocks of '
              '16 KiB-1 MiB, every page written, 8 live per thread',
              {'full': lambda t: ['5', str(t)], 'quick': lambda t: ['2', str(t)],
               'smoke': lambda t: ['1', str(t)]},
              field('ops_per_s')),
]
SCALE_BY_NAME = {c.name: c for c in SCALE_CASES}


def thread_counts(ncpu):
    """1, 2, 4, ... up to 2 * ncpu, with ncpu and 2 * ncpu themselves."""
    out, t = set(), 1
    while t <= 2 * ncpu:
        out.add(t)
        t *= 2
    out.update({ncpu, 2 * ncpu})
    return sorted(out)


def parse_threads(text):
    try:
        ts = sorted({int(x) for x in text.split(',') if x.strip()})
    except ValueError:
        ts = []
    if not ts or ts[0] < 1:
        raise ValueError('--threads %s: want positive integers, comma-separated' % text)
    return ts


def run_one(spawn, case, argv, col, tmp, timeout):
    secs, status, usage, out, err = run_child(spawn, argv, column_env(col), tmp, timeout)
    if status != 0:
        return Result(error=failure(status, err))
    line = out.strip().splitlines()[-1] if out.strip() else ''
    m = CHECK_RE.search(line)
    if not m:
        return Result(error='no check= in the output: %r' % line)
    try:
        rate = case.rate(dict(FIELD_RE.findall(line)))
    except (KeyError, ValueError) as e:
        return Result(error='no throughput in %r: %s' % (line, e))
    return result(rate, usage, m.group(1), line)


def run_sweep(args, cases, threads, cols):
    """results[case][threads][column] = list of Result."""
    spawn = workload_path(args, 'spawn')
    results = {c.name: {str(t): {col.name: [] for col in cols}
                        for t in threads if c.args[args.mode](t) is not None}
               for c in cases}
    total = args.reps * sum(len(results[c.name]) for c in cases) * len(cols)
    done = 0
    timeout = {'full': 600, 'quick': 300, 'smoke': 120}[args.mode]
    with tempfile.TemporaryDirectory(prefix='sbmalloc-scale.') as tmp:
        # The repetitions outermost: a disturbance of a few seconds hits
        # one run of many cells rather than every run of one.
        for rep in range(args.reps):
            for case in cases:
                prog = workload_path(args, case.name)
                for t in threads:
                    a = case.args[args.mode](t)
                    if a is None:
                        continue
                    for col in cols:
                        done += 1
                        r = run_one(spawn, case, [prog] + a, col, tmp, timeout)
                        results[case.name][str(t)][col.name].append(r)
                        if r.error:
                            note('[%d/%d] %s t=%d %s #%d: FAILED: %s'
                                 % (done, total, case.name, t, col.name, rep + 1, r.error))
                        else:
                            note('[%d/%d] %s t=%d %s #%d: %s/s  | %s'
                                 % (done, total, case.name, t, col.name, rep + 1,
                                    fmt_rate(r.value), r.text))
    return results


def fmt_rate(v):
    if v is None:
        return '—'
    if v >= 1e6:
        return '%.2f M' % (v / 1e6)
    return '%.0f k' % (v / 1e3) if v >= 1e4 else '%.0f' % v


def medians(results):
    """med[case][threads][column] = median throughput, or None if any run
    failed."""
    med = {}
    for case, by_t in results.items():
        for t, by_col in by_t.items():
            for col, runs in by_col.items():
                ok = [r.value for r in runs if not r.error]
                v = statistics.median(ok) if ok and len(ok) == len(runs) else None
                med.setdefault(case, {}).setdefault(t, {})[col] = v
    return med


def problems(results):
    """Failed runs, and checks that differ between columns at one thread
    count (the work done must not depend on the allocator)."""
    errs = []
    for case, by_t in results.items():
        for t, by_col in by_t.items():
            checks = {}
            for col, runs in by_col.items():
                for r in runs:
                    if r.error:
                        errs.append('%s at %s threads under %s: %s' % (case, t, col, r.error))
                    else:
                        checks.setdefault(r.check, set()).add(col)
            if len(checks) > 1:
                errs.append('%s at %s threads: results differ between allocators: %s' % (
                    case, t, '; '.join('%s gave %s' % (','.join(sorted(v)), k)
                                       for k, v in checks.items())))
    return errs


def render(meta, cases, cols, med, errors, chart_rel):
    names = [c.name for c in cols]
    out = ['# Throughput against threads\n']
    out.append('Generated by `%s` (%s mode) on %s.\n' % (meta['cmd'], meta['mode'], meta['date']))
    info = meta['machine']
    out.append('Machine: %d CPUs (%s), %s, Linux %s, %s.\n'
               % (info['nproc'], info['cpu'], info['memory'], info['kernel'], info['os'] or '?'))
    out.append('Versions: ' + '; '.join('%s: %s' % tuple(kv) for kv in meta['versions']) + '.\n')
    out.append('Thread counts %s, on %d CPUs; the same work per thread at every '
               'count. Medians of %d run%s, the allocators interleaved. Each cell is the '
               'workload\'s throughput (its own count, timed inside the program), in '
               'parentheses over the same allocator\'s at the fewest threads of the row\'s '
               'workload; the best of each row in bold.\n'
               % (', '.join(str(t) for t in meta['threads']), meta['ncpu'], meta['reps'],
                  '' if meta['reps'] == 1 else 's'))
    out.append('| workload | threads | ' + ' | '.join(names) + ' |')
    out.append('|---|---:|' + '---:|' * len(names))
    for case in cases:
        by_t = med.get(case.name, {})
        ts = sorted(by_t, key=int)
        if not ts:
            out.append('| %s | — | %s |' % (case.name, ' | '.join(
                ['not run: no thread count it takes'] + [''] * (len(names) - 1))))
        for t in ts:
            row = by_t[t]
            vals = [row.get(n) for n in names]
            best = max((v for v in vals if v is not None), default=None)
            cells = []
            for n, v in zip(names, vals):
                if v is None:
                    cells.append('FAIL' if n in row else '—')
                    continue
                base = by_t[ts[0]].get(n)
                txt = fmt_rate(v) + ('' if t == ts[0] or not base else ' (%.2f×)' % (v / base))
                cells.append('**%s**' % txt if v == best and len(cols) > 1 else txt)
            out.append('| %s | %s | %s |' % (case.name, t, ' | '.join(cells)))
    out.append('')
    if chart_rel:
        out.append('![throughput against threads](%s)\n' % chart_rel)
    out.append('What the throughput counts, and the arguments of each workload at 2 '
               'threads (the thread count is the second):\n')
    for case in cases:
        out.append('- %s (`%s`): %s.' % (case.name, ' '.join(case.args[meta['mode']](2)),
                                         case.unit))
    out.append('')
    if errors:
        out.append('## Failures\n')
        out.extend('- ' + e.replace('\n', ' ') for e in errors)
        out.append('')
    return '\n'.join(out)


GNUPLOT = '''set terminal pngcairo size 1500,%(h)d font "sans,11"
set output '%(out)s'
set multiplot layout %(rows)d,%(cols)d title "%(title)s"
set datafile missing '?'
set logscale x 2
set yrange [0:*]
set grid
set key left top font ",9"
set xlabel "threads"
set ylabel "million per second"
%(panels)s
unset multiplot
'''


def draw(path, cases, cols, med, title):
    """Throughput against threads, a panel per workload, a line per column,
    one PNG.  Returns an error message or None."""
    gp = shutil.which('gnuplot')
    if gp is None:
        return 'gnuplot not installed: no chart'
    shown = [c for c in cases if med.get(c.name)]
    if not shown:
        return 'nothing to draw'
    with tempfile.TemporaryDirectory() as d:
        panels = []
        for case in shown:
            dat = os.path.join(d, case.name + '.dat')
            ts = sorted(med[case.name], key=int)
            with open(dat, 'w') as f:
                for t in ts:
                    row = med[case.name][t]
                    f.write(t + ' ' + ' '.join(
                        '?' if row.get(c.name) is None else '%.6g' % (row[c.name] / 1e6)
                        for c in cols) + '\n')
            plots = ', '.join(
                "'%s' using 1:%d with linespoints lw 2 pt 7 ps 0.8 lc rgb '%s' title '%s'"
                % (dat, i + 2, COLOURS.get(c.name, '#777777'), c.name)
                for i, c in enumerate(cols))
            panels.append('set title "%s"\nset xtics (%s)\nset xrange [%g:%g]\nplot %s\n'
                          % (case.name, ', '.join('"%s" %s' % (t, t) for t in ts),
                             int(ts[0]) / 1.15, int(ts[-1]) * 1.15, plots))
        rows = (len(panels) + 1) // 2
        script = os.path.join(d, 'scale.gp')
        with open(script, 'w') as f:
            f.write(GNUPLOT % {'h': 120 + 520 * rows, 'out': os.path.abspath(path),
                               'rows': rows, 'cols': 2 if len(panels) > 1 else 1,
                               'title': title, 'panels': '\n'.join(panels)})
        r = subprocess.run([gp, script], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if r.returncode != 0:
            return 'gnuplot failed: ' + r.stdout.decode()[-500:]
    return None


def make_meta(args, argv, cols, cases, threads, ncpu):
    cmd = {'full': 'make bench-scale', 'quick': 'bench/run.py --scale --quick',
           'smoke': 'bench/run.py --scale --smoke'}[args.mode]
    if args.only or args.reps_given or args.allocators or args.threads or args.column:
        cmd = 'bench/run.py ' + shlex.join(argv)
    return {'mode': args.mode, 'cmd': cmd, 'reps': args.reps, 'threads': threads,
            'ncpu': ncpu,
            'date': datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC'),
            'machine': machine_info(), 'versions': versions(cols, [], {}, args.builddir),
            'cases': [c.name for c in cases],
            'columns': [[c.name, c.preload, c.env, c.extra] for c in cols]}


def load(path):
    """(meta, cases, cols, results) saved by save()."""
    with open(path) as f:
        saved = json.load(f)
    meta = saved['meta']
    cases = [SCALE_BY_NAME[n] for n in meta['cases']]
    cols = [Column(n, p, e, x) for n, p, e, x in meta['columns']]
    results = {case: {t: {col: [Result(**r) for r in runs] for col, runs in by_col.items()}
                      for t, by_col in by_t.items()}
               for case, by_t in saved['results'].items()}
    return meta, cases, cols, results


def save(path, meta, results):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, 'w') as f:
        json.dump({'meta': meta,
                   'results': {case: {t: {col: [vars(r) for r in runs]
                                          for col, runs in by_col.items()}
                                      for t, by_col in by_t.items()}
                               for case, by_t in results.items()}}, f, indent=1)


def select(args):
    """(cases, threads, cols) of the command line, or None after a message."""
    cases = SCALE_CASES
    if args.only:
        names = [n.strip() for n in args.only.split(',') if n.strip()]
        bad = [n for n in names if n not in SCALE_BY_NAME]
        if bad:
            note('unknown case(s) for --scale: %s; they are %s'
                 % (', '.join(bad), ', '.join(c.name for c in SCALE_CASES)))
            return None
        cases = [c for c in SCALE_CASES if c.name in names]
    try:
        threads = (parse_threads(args.threads) if args.threads
                   else [1, 2] if args.mode == 'smoke' else thread_counts(os.cpu_count() or 1))
    except ValueError as e:
        note(str(e))
        return None
    cols = select_columns(args)
    if cols is None:
        return None
    missing = [n for n in ['spawn'] + [c.name for c in cases] if workload_path(args, n) is None]
    if missing:
        note('not built: %s (looked in %s/bench/workloads; run make bench-scale or make '
             'check first)' % (', '.join('bench/workloads/' + n for n in missing), args.builddir))
        return None
    return cases, threads, main_cols(cols)


def scale_main(args, argv):
    """bench/run.py --scale: run (or load) the sweep, print the table, write
    --out (a whole Markdown file), --chart and --json.  Returns the exit
    status."""
    if args.from_json:
        meta, cases, cols, results = load(args.from_json)
        args.mode = meta['mode']
        elapsed = 0.0
    else:
        picked = select(args)
        if picked is None:
            return 2
        cases, threads, cols = picked
        note('threads %s, %d column(s), %d run(s) of each'
             % (','.join(map(str, threads)), len(cols), args.reps))
        t0 = time.monotonic()
        results = run_sweep(args, cases, threads, cols)
        elapsed = time.monotonic() - t0
        meta = make_meta(args, argv, cols, cases, threads, os.cpu_count() or 1)
    med = medians(results)
    errors = problems(results)
    chart_rel = chart_err = None
    if args.chart:
        os.makedirs(os.path.dirname(os.path.abspath(args.chart)), exist_ok=True)
        chart_err = draw(args.chart, cases, cols, med,
                         'Throughput against threads (%s mode, %d CPUs, %s)'
                         % (meta['mode'], meta['ncpu'], meta['machine']['cpu']))
        if chart_err:
            note('chart: ' + chart_err)
        else:
            note('chart written to %s' % args.chart)
            if args.out:
                chart_rel = os.path.relpath(os.path.abspath(args.chart),
                                            os.path.dirname(os.path.abspath(args.out)))
    body = render(meta, cases, cols, med, errors, chart_rel)
    print(body)
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out + '.tmp', 'w') as f:
            f.write(body)
        os.replace(args.out + '.tmp', args.out)
        note('table written to %s' % args.out)
    if args.json and not args.from_json:
        save(args.json, meta, results)
    note('%d workload(s), %d column(s), %.0f s' % (len(cases), len(cols), elapsed))
    status = 0
    if errors:
        note('FAILURES:\n  ' + '\n  '.join(errors))
        status = 1
    if args.mode == 'smoke':
        for case in cases:
            for t, by_col in results.get(case.name, {}).items():
                if not all(by_col.values()):
                    note('smoke: %s at %s threads did not run under every allocator'
                         % (case.name, t))
                    status = 1
        if chart_err and args.chart and shutil.which('gnuplot'):
            status = 1
    return status
