"""From runs to numbers: medians per case and column, ratios, geometric
means, the consistency of results across columns."""

import statistics

from .measure import FIELD_RE


def median_of(runs, attr):
    """The median of attr over runs, or None when a run lacks it (results
    saved before minor faults and system time were measured)."""
    xs = [getattr(r, attr) for r in runs]
    return statistics.median(xs) if xs and None not in xs else None


class Cell:
    """The medians of one case under one column, or why there are none."""

    def __init__(self, runs):
        ok = [r for r in runs if not r.error]
        self.runs = runs
        self.failed = [r for r in runs if r.error]
        good = ok if not self.failed else []
        self.value = median_of(good, 'value')
        self.rss = median_of(good, 'rss_kib')
        self.minflt = median_of(good, 'minflt')
        self.stime = median_of(good, 'stime')
        self.lines = [r.text for r in ok]

    def of(self, kind):
        """The median of kind: 'time' (time or throughput), 'rss' (peak RSS,
        KiB), 'minflt' (minor page faults) or 'stime' (system seconds)."""
        return {'time': self.value, 'rss': self.rss, 'minflt': self.minflt,
                'stime': self.stime}[kind]

    def figure(self, key):
        """The median of the figure key=VALUE of the output lines, or None."""
        if self.failed:
            return None
        return fields_median(self.lines).get(key)


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
    """Also of minor faults and system time: lower is better."""
    if v is None or ref is None or v <= 0 or ref <= 0:
        return None
    return v / ref


RATIO = {'time': time_ratio, 'rss': rss_ratio, 'minflt': rss_ratio, 'stime': rss_ratio}


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
