"""The cases: what each one runs, and how a run of it under one column is
measured and checked."""

import contextlib
import dataclasses
import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from . import BENCH, note
from .measure import (CHECK_RE, FIELD_RE, Result, base_env, column_env,
                      describe_status, failure, read_spawn_result, result,
                      run_child, spawn_argv)


@dataclasses.dataclass
class Figure:
    """A figure a workload reports about itself: the number of key=VALUE in
    its output line, shown (medians) in the report's table of the cases'
    own figures.  unit: 'kib' (shown in MiB), 'ratio' or 'count'."""
    key: str
    label: str
    unit: str = 'kib'


@dataclasses.dataclass
class Bar:
    """A bar of issue 12 that the sbmalloc column is held to (the Goals of
    the report).  what: a Figure's key, or 'time', 'rss', 'minflt' or
    'stime'.  op: '<=' or '>='.  ref: a number (in KiB for RSS figures and
    'rss', else in the figure's own unit), 'glibc' (that column's median),
    or 'best' (no worse than any other allocator's median)."""
    what: str
    op: str
    ref: object
    label: str


@dataclasses.dataclass(eq=False)
class Case:
    """A benchmark case.  kind: 'workload' (bench/workloads/) or 'real'.
    metric: 'time' (seconds, lower is better) or 'rps' (higher is better).
    args: per mode ('full', 'quick', 'smoke') the program's arguments.
    in_quick: whether --quick runs it (unless named with --only).  max_reps:
    per mode, a cap on the repetitions.  extra: also run the huge-page
    variant columns.  figures: what the program reports about itself
    (Figure), bars: what issue 12 asks of sbmalloc (Bar).  started: a line
    the program writes to stderr once it runs; without it, a failed run
    means the allocator could not start at all (ulimit-v), and the column
    is left out of the case with the reason instead of failing it.
    averaged: whether the case counts in the geometric means and the goals
    (ulimit-v does not: its time and RSS grow with what it could get)."""
    name: str
    kind: str
    what: str
    args: dict
    metric: str = 'time'
    max_reps: dict = dataclasses.field(default_factory=dict)
    extra: bool = False
    needs: tuple = ()
    program: str | None = None
    in_quick: bool = True
    figures: tuple = ()
    bars: tuple = ()
    started: str | None = None
    averaged: bool = True

    def __post_init__(self):
        self.max_reps = self.max_reps or {}
        self.program = self.program or self.name


CASES = [
    Case('larson', 'workload',
         'Larson-style server: threads replace random objects of 16-1024 B '
         'in their slot arrays, arrays move to another thread every round',
         {'full': ['600', '2', '4000'], 'quick': ['120', '2', '4000'],
          'smoke': ['4', '2', '500']}),
    Case('xmalloc', 'workload',
         'xmalloc-style producer/consumer: one thread allocates 16-512 B '
         'objects, another verifies and frees them',
         {'full': ['150', '1'], 'quick': ['25', '1'], 'smoke': ['1', '1']}),
    Case('cache-thrash', 'workload',
         'Hoard cache-thrash: 2 threads malloc 8 B, increment it 200 times, '
         'free (active false sharing)',
         {'full': ['150', '2'], 'quick': ['30', '2'], 'smoke': ['1', '2']},
         in_quick=False),
    Case('cache-scratch', 'workload',
         'Hoard cache-scratch: as cache-thrash, each thread first frees an '
         'object the main thread allocated next to the others\' (passive '
         'false sharing)',
         {'full': ['150', '2'], 'quick': ['30', '2'], 'smoke': ['1', '2']}),
    Case('frag', 'workload',
         'fragmentation churn: phases of short-lived objects of changing '
         'size ranges, with long-lived objects scattered among them',
         {'full': ['12', '24', '50000'], 'quick': ['6', '8', '20000'],
          'smoke': ['2', '2', '2000']}),
    Case('kobj', 'workload',
         'kernel-style objects: waves of inodes (600 B), dentries (192 B), '
         'files (256 B) and buffer heads (104 B), 3/4 destroyed per wave, '
         'some freed by the other thread',
         {'full': ['5', '2', '20000'], 'quick': ['1', '2', '10000'],
          'smoke': ['1', '2', '500']}),
    Case('chase', 'workload',
         'random pointer chasing over a heap of 64 B objects (1 GiB full, '
         '64 MiB quick): TLB reach; also run with sbmalloc\'s hugetlb, '
         'thp and 4k backings',
         {'full': ['1024'], 'quick': ['64'], 'smoke': ['8']},
         max_reps={'full': 3}, extra=True),
    Case('large', 'workload',
         'mimalloc-bench malloc-large: one of 8 buffers of 5-25 MiB replaced at '
         'random, every page written (400 buffers full)',
         {'full': ['40'], 'quick': ['4'], 'smoke': ['1', '2']}),
    Case('mthread', 'workload',
         'glibc bench-malloc-thread: 2 threads, each frees a random one of its '
         '1024 slots and mallocs 4 B-32 KiB (inverse-square sizes) into it '
         '(20 million times each full)',
         {'full': ['200', '2'], 'quick': ['20', '2'], 'smoke': ['1', '2']}),
    Case('remote', 'workload',
         'remote frees: 2 threads in a ring, each allocates batches of 256 '
         'objects (16-1024 B, 1 in 16 a page block of 16-256 KiB) for the next '
         'to verify and free (2000 batches each full)',
         {'full': ['20', '2'], 'quick': ['2', '2'], 'smoke': ['1', '2', '64']}),
    Case('pageblock', 'workload',
         'page blocks: 2 threads each replace random ones of 8 blocks of '
         '16 KiB-1 MiB, every page written (30,000 times each full)',
         {'full': ['30', '2'], 'quick': ['5', '2'], 'smoke': ['1', '2', '4']},
         in_quick=False),
    # The patterns of issue 12 (bench/workloads/idle.c ... ulimit-v.c).
    Case('idle', 'workload',
         'idle after a big free: 1 GiB of small objects (60% 8-512 B, the rest '
         'up to 16 KiB) freed in random order, 2 s of sleep, one more '
         'malloc/free: what stays resident above the start',
         {'full': ['1024', '2'], 'quick': ['128', '1'], 'smoke': ['16', '1']},
         max_reps={'full': 3},
         figures=(Figure('idle_above_start_kib', 'resident above the start after the idle'),),
         bars=(Bar('idle_above_start_kib', '<=', 32 * 1024, 'at most 32 MiB resident above the '
               'start after the idle'),)),
    Case('drift', 'workload',
         'size drift: a 32 MiB live set whose sizes drift from 16 B to 8 KiB and '
         'back three times, each epoch freeing every other object and refilling',
         {'full': ['32', '3', '1'], 'quick': ['8', '3', '1'], 'smoke': ['1', '1', '1']},
         max_reps={'full': 3},
         figures=(Figure('rss_per_live', 'peak RSS / peak live bytes', 'ratio'),),
         bars=(Bar('rss_per_live', '<=', 3.0, 'peak RSS at most 3.0x the peak live bytes'),)),
    Case('churn', 'workload',
         'thread churn: 20,000 short-lived threads, 4 at a time, each allocating '
         '300 mixed blocks and handing 8 to the main thread, which frees them '
         '16 waves later',
         {'full': ['20', '4'], 'quick': ['2', '4'], 'smoke': ['1', '4']},
         max_reps={'full': 3},
         bars=(Bar('rss', '<=', 8 * 1024, 'peak RSS at most 8 MiB'),)),
    Case('prodcons', 'workload',
         'producer/consumer: 32 producers and 32 consumers through a queue per '
         'consumer, each consumer keeping its last 2048 objects (16 B-8 KiB); RSS '
         'half-way and after all 64 threads are joined',
         {'full': ['16', '32', '2048'], 'quick': ['4', '32', '2048'],
          'smoke': ['2', '32', '256']},
         max_reps={'full': 3},
         figures=(Figure('rss_steady_kib', 'RSS half-way (steady state)'),
                  Figure('rss_joined_kib', 'RSS after joining the 64 threads')),
         bars=(Bar('rss_joined_kib', '<=', 32 * 1024, 'at most 32 MiB resident after '
               'joining'),)),
    Case('randseq', 'workload',
         'random sequence: malloc, calloc, realloc and free on 256 slots, every size '
         'log-uniform from 8 B to 64 MiB, every block filled and checked '
         '(10,000 operations full)',
         {'full': ['10'], 'quick': ['2'], 'smoke': ['1', '64', '16']},
         max_reps={'full': 3},
         bars=(Bar('minflt', '<=', 'glibc', 'minor faults no more than glibc\'s'),
               Bar('stime', '<=', 'glibc', 'system time no more than glibc\'s'),
               Bar('time', '<=', 'best', 'wall time the best of all allocators'))),
    Case('ulimit-v', 'workload',
         'address space: under RLIMIT_AS = 300000 KiB (ulimit -v 300000), 160 blocks of '
         '1 MiB allocated and freed, then how many 8 MiB blocks can be had, and how '
         'far realloc doubling from 1 MiB gets (up to 128 MiB)',
         {'full': ['300000'], 'quick': ['300000'], 'smoke': ['300000']},
         max_reps={'full': 3},
         figures=(Figure('blocks_8m', '8 MiB blocks had after the 1 MiB phase', 'count'),
                  Figure('realloc_max_mib', 'realloc growth reached (MiB)', 'count')),
         bars=(Bar('blocks_8m', '>=', 'glibc', 'at least as many 8 MiB blocks as glibc'),
               Bar('realloc_max_mib', '>=', 128, 'realloc growth to 128 MiB')),
         started='ulimit-v: started under the limit', averaged=False),
    Case('python', 'real',
         'python3 bench/real/pydicts.py: builds and drops dicts, lists, sets '
         'and strings of 200,000 entries',
         {'full': ['6'], 'quick': ['2'], 'smoke': ['1', '20000']}),
    Case('gcc', 'real',
         'gcc -O2 -c of a generated C file (bench/real/gen-c.py, 1000 '
         'functions full)',
         {'full': ['1000'], 'quick': ['150'], 'smoke': ['30']},
         max_reps={'full': 3}, needs=('gcc',), in_quick=False),
    Case('sqlite', 'real',
         'sqlite3 :memory: with bench/real/sqlite.sql: insert, index, '
         'group, sort, join, update, delete and vacuum (400,000 rows full)',
         {'full': ['400000'], 'quick': ['100000'], 'smoke': ['5000']},
         needs=('sqlite3',)),
    Case('redis', 'real',
         'redis-server on a unix socket, redis-benchmark -t '
         'set,get,lpush,lpop (200,000 requests each, 256 B values, random '
         'keys, full): requests/s of the server',
         {'full': ['200000'], 'quick': ['40000'], 'smoke': ['2000']},
         metric='rps', needs=('redis-server', 'redis-benchmark', 'redis-cli')),
]
CASE_BY_NAME = {c.name: c for c in CASES}


class Context:
    """What the cases need: paths, the temporary directory, the mode."""

    def __init__(self, args, tmp):
        self.args = args
        self.tmp = tmp
        self.mode = args.mode
        self.builddir = args.builddir
        self.timeout = {'full': 600, 'quick': 120, 'smoke': 120}[args.mode]
        self.shim = None
        self.gcc_src = None
        self.spawn = workload_path(self, 'spawn')   # the launcher (spawn.c)


def workload_path(ctx, name):
    for d in (os.path.join(ctx.builddir, 'bench', 'workloads'),
              os.path.join(BENCH, 'workloads')):
        p = os.path.join(d, name)
        if os.path.isfile(p) and os.access(p, os.X_OK):
            return p
    return None


def case_available(ctx, case):
    """None when the case can run here, else the reason it is skipped."""
    if ctx.spawn is None:
        return ('the launcher bench/workloads/spawn is not built (looked in %s/bench/'
                'workloads; run make bench or make check first)' % ctx.builddir)
    for prog in case.needs:
        if shutil.which(prog) is None:
            return '%s not installed' % prog
    if case.kind == 'workload' and workload_path(ctx, case.program) is None:
        return ('workload program %s not built (looked in %s/bench/workloads; '
                'run make bench or make check first)' % (case.program, ctx.builddir))
    return None


def prepare_case(ctx, case):
    """One-time setup of a case (files it reads), in the temporary dir."""
    if case.name == 'gcc':
        ctx.gcc_src = os.path.join(ctx.tmp, 'big.c')
        with open(ctx.gcc_src, 'w') as f:
            subprocess.run([sys.executable, os.path.join(BENCH, 'real', 'gen-c.py'),
                            case.args[ctx.mode][0]], stdout=f, check=True)
    if case.name == 'redis' and ctx.shim is None:
        ctx.shim = build_glibc_shim(ctx)


def build_glibc_shim(ctx):
    """Build bench/real/glibc-shim.c into the temp dir; None if no gcc."""
    cc = shutil.which('gcc') or shutil.which('cc')
    if cc is None:
        note('redis: no C compiler for the glibc shim; the glibc column of '
             'redis will be skipped')
        return None
    out = os.path.join(ctx.tmp, 'glibc-shim.so')
    r = subprocess.run([cc, '-shared', '-fPIC', '-O2', '-o', out,
                        os.path.join(BENCH, 'real', 'glibc-shim.c'), '-ldl'],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if r.returncode != 0:
        note('redis: building the glibc shim failed:\n' + r.stdout.decode())
        return None
    return out


def run_workload(ctx, case, col):
    argv = [workload_path(ctx, case.program)] + case.args[ctx.mode]
    secs, status, usage, out, err = run_child(ctx.spawn, argv, column_env(col), ctx.tmp,
                                              ctx.timeout)
    if status != 0 and case.started and case.started not in err:
        # The allocator died before the program's main() ran.
        why = err.strip().splitlines()[-1].rstrip('.') if err.strip() else ''
        return Result(unsupported='cannot start under the limit: %s%s'
                      % (describe_status(status), ' (%s)' % why if why else ''))
    if status != 0:
        return Result(error=failure(status, err))
    line = out.strip().splitlines()[-1] if out.strip() else ''
    m = CHECK_RE.search(line)
    if not m:
        return Result(error='no check= in the output: %r' % line)
    # hugetlb pages are not part of RSS: add what the program had (chase
    # reports it), so that the hugetlb column is not flattered.
    hugetlb = dict(FIELD_RE.findall(line)).get('hugetlb_kib', '0')
    if usage['rss_kib'] is not None and hugetlb.isdigit():
        usage['rss_kib'] += int(hugetlb)
    return result(secs, usage, m.group(1), line)


def run_real(ctx, case, col):
    a = case.args[ctx.mode]
    stdin_path = None
    workdir = os.path.join(ctx.tmp, 'run')
    os.makedirs(workdir, exist_ok=True)
    if case.name == 'python':
        argv = [sys.executable, os.path.join(BENCH, 'real', 'pydicts.py')] + a
    elif case.name == 'gcc':
        obj = os.path.join(workdir, 'big.o')
        if os.path.exists(obj):
            os.unlink(obj)
        argv = [shutil.which('gcc'), '-O2', '-c', ctx.gcc_src, '-o', obj]
    elif case.name == 'sqlite':
        argv = [shutil.which('sqlite3'), '-batch', '-bail', ':memory:',
                '-cmd', '.parameter set @n %s' % a[0]]
        stdin_path = os.path.join(BENCH, 'real', 'sqlite.sql')
    else:
        raise AssertionError(case.name)
    secs, status, usage, out, err = run_child(ctx.spawn, argv, column_env(col), workdir,
                                              ctx.timeout, stdin_path=stdin_path)
    if status != 0:
        return Result(error=failure(status, err))
    if case.name == 'gcc':
        with open(obj, 'rb') as f:
            check = hashlib.sha256(f.read()).hexdigest()[:16]
        text = 'big.o sha256 %s' % check
    else:
        check = hashlib.sha256(out.encode()).hexdigest()[:16]
        text = out.strip().splitlines()[-1] if out.strip() else ''
    return result(secs, usage, check, text)


# The Lua check run in redis after the benchmark: builds a list and sums it
# back, so that a server that corrupts its data gives another answer.
REDIS_CHECK = ("redis.call('del','bench:check'); "
               "for i=1,20000 do redis.call('rpush','bench:check',i*7) end; "
               "local t=0; for _,v in ipairs(redis.call('lrange','bench:check',0,-1)) "
               "do t=t+tonumber(v) end; return t")


def redis_cli(sock, *args, timeout=30):
    return subprocess.run(['redis-cli', '-s', sock] + list(args), env=base_env(),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          timeout=timeout)


def wait_status(pid, seconds):
    """The wait status of pid if it exits within seconds (0: has it exited
    already?), else None."""
    end = time.monotonic() + seconds
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        if time.monotonic() >= end:
            return None
        time.sleep(0.02)


def run_redis(ctx, case, col):
    """Start redis-server under col on a unix socket in a fresh directory,
    run redis-benchmark (not preloaded) against it, check its data, shut it
    down and take its peak RSS."""
    if col.preload is None and ctx.shim is None:
        return Result(error='skipped: no glibc shim')
    d = tempfile.mkdtemp(prefix='redis.', dir=ctx.tmp)
    sock = os.path.join(d, 'redis.sock')
    n = case.args[ctx.mode][0]
    argv = ['redis-server', '--port', '0', '--unixsocket', sock, '--unixsocketperm', '700',
            '--save', '', '--appendonly', 'no', '--dir', d, '--daemonize', 'no',
            '--logfile', os.path.join(d, 'redis.log')]
    result_file = os.path.join(d, 'spawn.result')
    server = subprocess.Popen(spawn_argv(ctx.spawn, argv, result_file),
                              env=column_env(col, ctx.shim), cwd=d,
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    status = None
    error = None
    rps = None
    check = None
    try:
        # Wait for the socket (at most 20 s), noticing an early death.
        deadline = time.monotonic() + 20
        while True:
            status = wait_status(server.pid, 0)
            if status is not None:
                raise RuntimeError('redis-server died at start: ' + describe_status(status))
            if os.path.exists(sock) and redis_cli(sock, 'ping').stdout.strip() == b'PONG':
                break
            if time.monotonic() > deadline:
                raise RuntimeError('redis-server did not answer within 20 s')
            time.sleep(0.02)
        bench = subprocess.run(['redis-benchmark', '-s', sock, '--csv', '-n', n,
                                '-r', '1000000', '-d', '256', '-t', 'set,get,lpush,lpop'],
                               env=base_env(), stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, timeout=ctx.timeout)
        text = bench.stdout.decode('utf-8', 'replace')
        found = dict(re.findall(r'^"(\w+)","([\d.]+)"', text, re.M))
        tests = ['SET', 'GET', 'LPUSH', 'LPOP']
        if bench.returncode != 0 or any(t not in found for t in tests):
            raise RuntimeError('redis-benchmark failed: %s' % text.strip()[-300:])
        # Requests of all four tests over their total time.
        rps = len(tests) / sum(1.0 / float(found[t]) for t in tests)
        out = redis_cli(sock, 'eval', REDIS_CHECK, '0').stdout.decode().strip()
        check = out
        if out != str(7 * 20000 * 20001 // 2):
            raise RuntimeError('redis check gave %r' % out)
        redis_cli(sock, 'shutdown', 'nosave')
    except (RuntimeError, subprocess.TimeoutExpired) as e:
        error = str(e)
    finally:
        if status is None:
            # Give it 20 s to exit after SHUTDOWN, then SIGTERM, then SIGKILL.
            for sig, wait in ((None, 20), (signal.SIGTERM, 10), (signal.SIGKILL, 10)):
                if sig is not None:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(server.pid, sig)
                status = wait_status(server.pid, wait)
                if status is not None:
                    break
        server.returncode = os.waitstatus_to_exitcode(status) if status is not None else -9
        status, usage = read_spawn_result(result_file, status if status is not None else 9)
        shutil.rmtree(d, ignore_errors=True)
    if error is None and status != 0:
        error = 'redis-server: ' + describe_status(status)
    if error:
        return Result(error=error)
    return result(rps, usage, check, '%.0f requests/s' % rps)


def run_case(ctx, case, col):
    if case.kind == 'workload':
        return run_workload(ctx, case, col)
    if case.name == 'redis':
        return run_redis(ctx, case, col)
    return run_real(ctx, case, col)
