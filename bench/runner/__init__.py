"""The benchmark runner behind bench/run.py (see its docstring), by concern:

    columns   the allocators (the table columns) and how to find them
    measure   running one program through the spawn launcher: time, peak RSS,
              minor faults, system time
    cases     the benchmark cases and how each one is run (redis included)
    hugetlb   the hugetlb page pool for the sbmalloc-hugetlb column
    suite     the run: cases x repetitions x columns, interleaved
    tables    medians, ratios, geometric means, the Markdown report
    chart     the PNG chart (gnuplot)
    scale     run.py --scale (make bench-scale): throughput against threads,
              its table and its chart
    meta      what the report says about the machine and the versions
    cli       the command line and main()
"""

import os
import sys

BENCH = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # bench/
SRCDIR = os.path.dirname(BENCH)
LIBDIR = '/usr/lib/x86_64-linux-gnu'


def note(msg):
    """Progress and messages go to stderr; tables go to stdout."""
    print(msg, file=sys.stderr, flush=True)
