"""The chart: grouped bars of the ratio to glibc per case and column, time
on top and peak RSS below, drawn by gnuplot into one PNG."""

import math
import os
import shutil
import subprocess
import tempfile

from .summary import RATIO

# Bar colours: sbmalloc and its variants in reds, the others distinct.
COLOURS = {'glibc': '#8c8c8c', 'jemalloc': '#1f77b4', 'tcmalloc': '#2ca02c',
           'mimalloc': '#ff9f1c', 'mimalloc3': '#b35900', 'mimalloc2.4': '#ffd27f',
           'snmalloc': '#9467bd', 'sbmalloc': '#d62728', 'sbmalloc-hugetlb': '#7a0c0c',
           'sbmalloc-thp': '#f08080', 'sbmalloc-4k': '#f4c2c2'}


def draw_chart(path, cases, cols, cells, skipped, title):
    """Grouped bars of the ratio to glibc per case and allocator: time on
    top, peak RSS below, one PNG.  Returns an error message or None."""
    gp = shutil.which('gnuplot')
    if gp is None:
        return 'gnuplot not installed: no chart'
    run_cases = [c for c in cases if c.name not in skipped and c.name in cells]
    lowest = 1.0
    with tempfile.TemporaryDirectory() as d:
        for kind in ('time', 'rss'):
            ratio = RATIO[kind]
            with open(os.path.join(d, kind + '.dat'), 'w') as f:
                f.write('case ' + ' '.join('"%s"' % c.name for c in cols) + '\n')
                for case in run_cases:
                    row = cells[case.name]
                    g = row.get('glibc')
                    gv = None if g is None else g.of(kind)
                    vals = []
                    for col in cols:
                        cell = row.get(col.name)
                        v = None
                        if cell is not None and not cell.failed:
                            v = ratio(case, cell.of(kind), gv)
                        vals.append('?' if v is None else '%.4f' % v)
                        if v is not None:
                            lowest = min(lowest, v)
                    f.write('"%s" %s\n' % (case.name, ' '.join(vals)))
        script = os.path.join(d, 'chart.gp')
        plots = ', '.join(
            "%s using %d%s title columnheader(%d) lc rgb '%s'"
            % ("'{dat}'" if i == 0 else "''", i + 2, ':xtic(1)' if i == 0 else '', i + 2,
               COLOURS.get(c.name, '#777777'))
            for i, c in enumerate(cols))
        with open(script, 'w') as f:
            f.write('''set terminal pngcairo size 1500,1100 font "sans,11"
set output '%(out)s'
set multiplot layout 2,1 title "%(title)s"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set datafile missing '?'
set key outside right top vertical
set grid ytics
set xtics rotate by -25 scale 0
# Ratios on a log scale: 0.5x and 2x are as far from 1 as each other.
set logscale y 2
set yrange [%(ymin)g:*]
set ytics ("0.06" 0.0625, "0.12" 0.125, "0.25" 0.25, "0.5" 0.5, "0.7" 0.7, "1" 1, "1.4" 1.4, "2" 2, "3" 3, "4" 4, "8" 8, "16" 16)
set arrow 1 from graph 0, first 1 to graph 1, first 1 nohead dashtype 2 lw 2 front
set ylabel "wall time / glibc (redis: time per request)"
set title "Time relative to glibc (lower is better)"
plot %(ptime)s
set ylabel "peak RSS / glibc"
set title "Peak RSS relative to glibc (lower is better)"
plot %(prss)s
unset multiplot
''' % {'out': os.path.abspath(path), 'title': title,
                   # The lowest power of two below every bar (bars start there).
                   'ymin': 2.0 ** math.floor(math.log2(min(0.5, lowest * 0.9))),
                   'ptime': plots.replace('{dat}', os.path.join(d, 'time.dat')),
                   'prss': plots.replace('{dat}', os.path.join(d, 'rss.dat'))})
        r = subprocess.run([gp, script], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if r.returncode != 0:
            return 'gnuplot failed: ' + r.stdout.decode()[-500:]
    return None
