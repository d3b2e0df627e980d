#!/usr/bin/env python3
"""bench/run.py - sbmalloc side by side with glibc, jemalloc, tcmalloc and
mimalloc, on allocator benchmarks and real programs.

    bench/run.py [--quick | --smoke] [--reps N] [--only CASE,...]
                 [--allocators NAME,...] [--out docs/benchmarks.md]
                 [--chart docs/benchmarks.png] [--json FILE]
                 [--builddir DIR] [--lib libsbmalloc.so] [--no-hugetlb-reserve]
    bench/run.py --from-json FILE [--out ...] [--chart ...]
    bench/run.py --scale [--quick | --smoke] [--threads N,...] [--reps N]
                 [--only CASE,...] [--allocators ...] [--out scale.md]
                 [--chart scale.png] [--json FILE]

Every case runs under every allocator that is installed (glibc = nothing
preloaded; the others through LD_PRELOAD; a missing one is skipped with a
message), and under the current builds of mimalloc 3 and 2.4 and snmalloc
in ../shared/peers beside the source tree when their files are there
(columns mimalloc3, mimalloc2.4, snmalloc; $SBMALLOC_PEERS names another
folder; missing files are skipped with one message), interleaved: for
each repetition the allocators take turns (A B C D E A B C D E ...).
For each run the wall time (time.monotonic around the child) is recorded,
and from the child's rusage (wait4, which includes the child's own
waited-for children, e.g. gcc's cc1) its peak RSS (ru_maxrss), minor page
faults (ru_minflt) and system time (ru_stime).  Every program is started
through bench/workloads/spawn, a small launcher that does the wait4: a
child forked straight from this python process would inherit its 20-odd
MiB into ru_maxrss (see spawn.c).  redis is measured by requests/s of
redis-benchmark against a redis-server started under the allocator, and by
the server's peak RSS, faults and system time.  Medians of the repetitions
are reported as four Markdown tables (time or throughput, peak RSS, minor
faults, system time), each cell with its ratio to glibc and to jemalloc,
and a last row of geometric means of those ratios.  The cases of issue 12
(idle, drift, churn, prodcons, randseq, ulimit-v) also print figures of
their own (RSS after an idle or after joining threads, RSS per live byte,
blocks had under an address-space limit), which go into a table of their
own, and the issue's bars are checked on the sbmalloc column in the Goals.
ulimit-v is not counted in the geometric means; an allocator that cannot
even start under its limit (snmalloc) is left out of that case with the
reason, not failed.

The chase case (pointer chasing over a heap of small objects) also runs
sbmalloc with SBMALLOC_HUGEPAGES=hugetlb, =thp and =off as the extra columns
sbmalloc-hugetlb, sbmalloc-thp and sbmalloc-4k.  hugetlb needs pages in the
pool: when /proc/sys/vm/nr_hugepages is writable (root) the runner raises it
for the duration of that case and puts the old value back afterwards (also
on error or Ctrl-C); otherwise, or with --no-hugetlb-reserve, the column is
skipped unless enough pages are already free.  --smoke never touches the
pool.

Modes: the default (full) is what `make bench` runs: every case at full
scale, 5 repetitions (3 for chase, gcc and the six cases of issue 12),
about 45 minutes on 2 cores with the 8 columns.  --quick is `make
bench-quick`: fewer cases, small scales, 3 repetitions, about 4 minutes.
--smoke runs every case once at tiny scale (seconds) and checks only that
every case ran under every allocator and the tables came out;
tests/system/bench_smoke.sh runs it.  Nothing is judged on speed.

--scale is `make bench-scale`: larson, xmalloc, cache-scratch and
pageblock at 1, 2, 4, ... up to twice os.cpu_count() threads (--threads
gives others), the same work per thread at every count, under every
column, interleaved, 3 repetitions (1 with --quick or --smoke; --smoke
also small scales and only 1 and 2 threads, seconds in all): the median
throughput each program reports goes into one Markdown table (--out, the
whole file) and one PNG of throughput against threads, a panel per
workload (--chart).  See bench/runner/scale.py.

Each program checks its own data; a run that exits non-zero, is killed, or
whose result (checksum, output) differs from the other allocators' is a
failure: reported in the table as FAIL and in the exit status (1).

Only a temporary directory and the files given with --out, --chart and
--json are written (make bench puts its JSON in the build tree).  With
--out, the part of the file between the GENERATED markers is replaced and
the rest (hand-written) kept.  --from-json runs nothing and renders the
tables, --out and --chart again from the raw results of an earlier run.

The workload programs are in bench/workloads/ (built by make check or make
bench), the real-program cases in bench/real/; the code of this runner is
the package bench/runner/ (its __init__.py lists the modules).  See
bench/README.md for the rest of bench/.
"""

import os
import sys

# Nothing is written into the source tree (no __pycache__ in bench/runner/).
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from runner.cli import main  # noqa: E402

if __name__ == '__main__':
    sys.exit(main(sys.argv[1:], __doc__))
