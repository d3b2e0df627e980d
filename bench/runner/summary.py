"""From runs to numbers: medians per case and column, ratios, geometric
means, the consistency of results across columns."""

import statistics

from .measure import FIELD_RE


class Cell:
    """The median of one case under one column, or why there is none."""

    def __init__(self, runs):
        ok = [r for r in runs if not r.error]
        self.runs = runs
        self.failed = [r for r in runs if r.error]
        self.value = statistics.median([r.value for r in ok]) if ok and not self.failed else None
        self.rss = statistics.median([r.rss_kib for r in ok]) if ok and not self.failed else None
        self.lines = [r.text for r in ok]

    def of(self, kind):
        """The median of kind: 'time' (time or throughput) or 'rss'."""
        return self.value if kind == 'time' else self.rss


def summarize(results):
    return {case: {col: Cell(runs) for col, runs in cols.items()}
            for case, cols in results.items()}


def check_consistency(case_name, results):
    """Messages for results whose check differs between columns (the work
    done must not depend on the allocator)."""
    msgs = []
    checks = {}
    for col, runs in results.items():
        for r in runs:
            if not r.error:
                checks.setdefault(r.check, []).append(col)
    if len(checks) > 1:
        msgs.append('%s: results differ between allocators: %s' % (
            case_name, '; '.join('%s gave %s' % (','.join(sorted(set(v))), k)
                                 for k, v in checks.items())))
    return msgs


def time_ratio(case, v, ref):
    """Lower is better in every row: for throughput, the ratio of time per
    request (ref / v)."""
    if v is None or ref is None or v <= 0 or ref <= 0:
        return None
    return ref / v if case.metric == 'rps' else v / ref


def rss_ratio(case, v, ref):
    if v is None or ref is None or v <= 0 or ref <= 0:
        return None
    return v / ref


RATIO = {'time': time_ratio, 'rss': rss_ratio}


def geomean(xs):
    """The geometric mean of the ratios that are there, or None."""
    xs = [x for x in xs if x is not None]
    return statistics.geometric_mean(xs) if xs else None


def fields_median(lines):
    """The median of every key=number field of the output lines."""
    vals = {}
    for line in lines:
        for k, v in FIELD_RE.findall(line):
            try:
                x = float(v)
            except ValueError:
                continue
            vals.setdefault(k, []).append(x)
    return {k: statistics.median(v) for k, v in vals.items()}
