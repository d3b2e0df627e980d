"""The run: cases x repetitions x columns, interleaved (for each repetition
the columns take turns)."""

import contextlib

from . import note
from .cases import case_available, prepare_case, run_case
from .hugetlb import HugePool, hugetlb_pages_needed
from .report import fmt_faults, fmt_rss, fmt_secs, fmt_value


def reps_for(ctx, case):
    n = ctx.args.reps
    cap = case.max_reps.get(ctx.mode)
    if cap and ctx.args.reps_given is None:
        n = min(n, cap)
    return n


def cols_for(case, cols):
    return [c for c in cols if not c.extra or case.extra]


def run_all(ctx, cases, cols):
    """results[case][column] = list of Result; skipped[case] = reason;
    colskip[(case, column)] = reason."""
    results, skipped, colskip = {}, {}, {}
    plan = []
    for case in cases:
        why = case_available(ctx, case)
        if why:
            note('%s: skipped: %s' % (case.name, why))
            skipped[case.name] = why
            continue
        plan.append(case)
    total = sum(reps_for(ctx, c) * len(cols_for(c, cols)) for c in plan)
    done = 0
    for case in plan:
        prepare_case(ctx, case)
        ccols = cols_for(case, cols)
        with contextlib.ExitStack() as stack:
            if any(c.name == 'sbmalloc-hugetlb' for c in ccols):
                mib = int(case.args[ctx.mode][0])
                pool = stack.enter_context(HugePool(
                    hugetlb_pages_needed(mib),
                    may_write=ctx.mode != 'smoke' and not ctx.args.no_hugetlb_reserve))
                if not pool.ok:
                    reason = 'sbmalloc-hugetlb skipped: %s' % pool.why
                    note('%s: %s' % (case.name, reason))
                    colskip[(case.name, 'sbmalloc-hugetlb')] = pool.why
                    ccols = [c for c in ccols if c.name != 'sbmalloc-hugetlb']
                    total -= reps_for(ctx, case)
            results[case.name] = {c.name: [] for c in ccols}
            for rep in range(reps_for(ctx, case)):
                for col in ccols:
                    if col.name not in results[case.name]:
                        continue
                    done += 1
                    r = run_case(ctx, case, col)
                    if r.unsupported:
                        # Not a failure: the column cannot run this case.
                        note('[%d/%d] %s %s: left out: %s'
                             % (done, total, case.name, col.name, r.unsupported))
                        colskip[(case.name, col.name)] = r.unsupported
                        del results[case.name][col.name]
                        total -= reps_for(ctx, case) - rep - 1
                        continue
                    results[case.name][col.name].append(r)
                    if r.error:
                        note('[%d/%d] %s %s #%d: FAILED: %s'
                             % (done, total, case.name, col.name, rep + 1, r.error))
                    else:
                        note('[%d/%d] %s %s #%d: %s, %s, %s faults, %s sys  | %s'
                             % (done, total, case.name, col.name, rep + 1,
                                fmt_value(case, r.value), fmt_rss(r.rss_kib),
                                fmt_faults(r.minflt), fmt_secs(r.stime), r.text))
    return results, skipped, colskip
