"""The command line of bench/run.py and its main(): run (or load) the
results, then print and write the report, the chart and the JSON."""

import argparse
import json
import os
import shutil
import signal
import tempfile
import time

from . import SRCDIR, note
from .cases import CASE_BY_NAME, CASES, Context
from .chart import draw_chart
from .columns import Column, select_columns
from .measure import Result
from .meta import make_meta
from .report import render, write_doc
from .scale import SCALE_CASES, scale_main
from .suite import run_all
from .summary import check_consistency, summarize


def parse_args(argv, doc):
    p = argparse.ArgumentParser(description=doc.split('\n\n')[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    m = p.add_mutually_exclusive_group()
    m.add_argument('--quick', action='store_const', dest='mode', const='quick',
                   help='fewer cases, small scales, 3 repetitions (about 4 minutes; '
                   '--scale: 1 repetition, smaller scales)')
    m.add_argument('--smoke', action='store_const', dest='mode', const='smoke',
                   help='every case once at tiny scale; checks only that all ran')
    p.add_argument('--reps', type=int, dest='reps_given', help='repetitions '
                   '(default 5 full, 3 quick, 1 smoke; chase, gcc and the cases of issue 12 '
                   'at most 3 full; --scale: 3 full, 1 quick and smoke)')
    p.add_argument('--scale', action='store_true',
                   help='make bench-scale: throughput of %s against the number of '
                   'threads (1, 2, 4, ... up to twice the CPUs), one table (--out, a whole '
                   'Markdown file) and one chart (--chart)'
                   % ', '.join(c.name for c in SCALE_CASES))
    p.add_argument('--threads', metavar='N,...',
                   help='--scale: the thread counts (default 1, 2, 4, ... up to twice '
                   'the CPUs; --smoke: 1,2)')
    p.add_argument('--only', help='comma-separated cases to run (%s)'
                   % ','.join(c.name for c in CASES))
    p.add_argument('--allocators', help='comma-separated columns to run '
                   '(glibc,jemalloc,tcmalloc,mimalloc,mimalloc3,mimalloc2.4,snmalloc,'
                   'sbmalloc,sbmalloc-hugetlb,...)')
    p.add_argument('--column', action='append', default=[], metavar='NAME=LIB[,VAR=VALUE...]',
                   help='one more column: LIB preloaded (a path, or "sbmalloc" for the '
                   'library built here) with the variables given, e.g. '
                   'sbmalloc-before=/tmp/old.so or sbmalloc-noguard=sbmalloc,SBMALLOC_GUARD=0; '
                   'repeatable')
    p.add_argument('--out', help='Markdown file to write (the generated part)')
    p.add_argument('--chart', help='PNG chart to write (needs gnuplot)')
    p.add_argument('--json', help='raw results to write, as JSON')
    p.add_argument('--builddir', default=os.environ.get('SBMALLOC_BUILDDIR') or SRCDIR,
                   help='build tree holding bench/workloads/ and src/.libs/ '
                   '(default $SBMALLOC_BUILDDIR or the source tree)')
    p.add_argument('--lib', default=os.environ.get('SBMALLOC_LIB'),
                   help='libsbmalloc.so (default $SBMALLOC_LIB or '
                   'BUILDDIR/src/.libs/libsbmalloc.so)')
    p.add_argument('--no-hugetlb-reserve', action='store_true',
                   help='never change /proc/sys/vm/nr_hugepages')
    p.add_argument('--from-json', metavar='FILE',
                   help='run nothing: render the tables (and --out, --chart) again '
                   'from the results a run saved with --json')
    a = p.parse_args(argv)
    a.mode = a.mode or 'full'
    a.builddir = os.path.abspath(a.builddir)
    if not a.lib:
        a.lib = os.path.join(a.builddir, 'src', '.libs', 'libsbmalloc.so')
    if a.threads and not a.scale:
        p.error('--threads goes with --scale')
    reps = {'full': 3, 'quick': 1, 'smoke': 1} if a.scale else {'full': 5, 'quick': 3, 'smoke': 1}
    a.reps = a.reps_given or reps[a.mode]
    if a.reps < 1:
        p.error('--reps must be at least 1')
    return a


def on_sigterm(signum, frame):
    raise SystemExit(128 + signum)


def select_cases(args):
    """The cases the mode and --only ask for, or None (after a message)."""
    cases = [c for c in CASES if args.mode != 'quick' or c.in_quick]
    if args.only:
        names = [n.strip() for n in args.only.split(',') if n.strip()]
        bad = [n for n in names if n not in CASE_BY_NAME]
        if bad:
            note('unknown case(s): %s; the cases are %s'
                 % (', '.join(bad), ', '.join(c.name for c in CASES)))
            return None
        cases = [c for c in CASES if c.name in names]
    return cases


def load_json(path):
    """(meta, cases, cols, results, skipped, colskip) saved by save_json."""
    with open(path) as f:
        saved = json.load(f)
    meta = saved['meta']
    cases = [CASE_BY_NAME[n] for n in meta['cases']]
    cols = [Column(n, p, e, x) for n, p, e, x in meta['columns']]
    results = {case: {col: [Result(**r) for r in runs] for col, runs in cs.items()}
               for case, cs in saved['results'].items()}
    colskip = {tuple(k.split('/', 1)): v for k, v in saved['colskip'].items()}
    return meta, cases, cols, results, saved['skipped'], colskip


def save_json(path, meta, results, skipped, colskip):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, 'w') as f:
        json.dump({'meta': meta,
                   'results': {case: {col: [vars(r) for r in runs]
                                      for col, runs in cols.items()}
                               for case, cols in results.items()},
                   'skipped': skipped,
                   'colskip': {'%s/%s' % k: v for k, v in colskip.items()}},
                  f, indent=1)


def failures(cases, results):
    """Every failed run, and every case whose results differ by column."""
    errors = []
    for case in cases:
        for col, runs in results.get(case.name, {}).items():
            errors.extend('%s under %s: %s' % (case.name, col, r.error)
                          for r in runs if r.error)
        if case.name in results:
            errors.extend(check_consistency(case.name, results[case.name]))
    return errors


def smoke_problems(cases, results, skipped, body):
    """What --smoke checks besides the failures."""
    problems = []
    # Every case that was not skipped ran under every column it has.
    for case in cases:
        if case.name in skipped:
            continue
        if case.name not in results or not all(results[case.name].values()):
            problems.append('smoke: %s did not run under every allocator' % case.name)
    if '| **geometric mean** |' not in body:
        problems.append('smoke: the table did not come out')
    return problems


def main(argv, doc):
    """bench/run.py with arguments argv; doc is its docstring (the first
    paragraph is --help's description).  Returns the exit status."""
    args = parse_args(argv, doc)
    signal.signal(signal.SIGTERM, on_sigterm)
    if args.scale:
        return scale_main(args, argv)
    cases = select_cases(args)
    if cases is None:
        return 2
    if args.from_json:
        # Render the tables and the chart again from saved results.
        meta, cases, cols, results, skipped, colskip = load_json(args.from_json)
        if args.allocators:
            # Render only these columns (for example without a "before" one).
            keep = args.allocators.split(',')
            cols = [c for c in cols if c.name in keep]
            results = {case: {n: r for n, r in row.items() if n in keep}
                       for case, row in results.items()}
        args.mode = meta['mode']
        elapsed = 0.0
    else:
        cols = select_columns(args)
        if cols is None:
            return 2
        t0 = time.monotonic()
        with tempfile.TemporaryDirectory(prefix='sbmalloc-bench.') as tmp:
            results, skipped, colskip = run_all(Context(args, tmp), cases, cols)
        elapsed = time.monotonic() - t0
        meta = make_meta(args, argv, cols, cases, skipped)
    cells = summarize(results)
    errors = failures(cases, results)
    chart_err = None
    chart_rel = None
    if args.chart:
        os.makedirs(os.path.dirname(os.path.abspath(args.chart)), exist_ok=True)
        ran = [c for c in cols if any(c.name in row for row in cells.values())]
        chart_err = draw_chart(args.chart, cases, ran, cells, skipped,
                               'sbmalloc and other allocators (%s mode, %s)'
                               % (meta['mode'], meta['machine']['cpu']))
        if chart_err:
            note('chart: ' + chart_err)
        else:
            note('chart written to %s' % args.chart)
            if args.out:
                chart_rel = os.path.relpath(os.path.abspath(args.chart),
                                            os.path.dirname(os.path.abspath(args.out)))
    body, _ = render(meta, cases, cols, cells, skipped, colskip, chart_rel, errors)
    print(body)
    if args.out:
        write_doc(args.out, body)
        note('results written to %s' % args.out)
    if args.json and not args.from_json:
        save_json(args.json, meta, results, skipped, colskip)
    note('%d case(s), %d column(s), %.0f s' % (len(results), len(cols), elapsed))
    status = 0
    if errors:
        note('FAILURES:\n  ' + '\n  '.join(errors))
        status = 1
    if args.mode == 'smoke':
        for msg in smoke_problems(cases, results, skipped, body):
            note(msg)
            status = 1
        if chart_err and args.chart and shutil.which('gnuplot'):
            status = 1
    return status
