"""Running one child and measuring it: wall time around the spawn launcher
(bench/workloads/spawn.c), which reports the program's wait status and,
from its rusage, peak RSS, minor page faults and user and system time."""

import dataclasses
import os
import re
import signal
import subprocess
import tempfile
import threading
import time

CHECK_RE = re.compile(r'\bcheck=([0-9a-f]+)')
FIELD_RE = re.compile(r'(\w+)=([^\s]+)')


def base_env():
    """The caller's environment without any allocator settings."""
    env = {k: v for k, v in os.environ.items()
           if k != 'LD_PRELOAD' and not k.startswith('SBMALLOC_')}
    env['LC_ALL'] = 'C'
    return env


def column_env(col, shim=None):
    """Environment that runs a program on col's allocator, through the
    spawn launcher: BENCH_PRELOAD becomes LD_PRELOAD in the program only.
    shim: a library that forwards to glibc's malloc, for programs linked
    against another allocator."""
    env = base_env()
    pre = col.preload or shim
    if pre:
        env['BENCH_PRELOAD'] = pre
    env.update(col.env)
    return env


@dataclasses.dataclass
class Result:
    """What one run gave: value (seconds, or requests/s), rss_kib, check
    (the part of the output that must not depend on the allocator), text
    (the output line), error (None when it worked); minflt (minor page
    faults), stime and utime (system and user seconds) of the program from
    the launcher's wait4 (None in results saved before they were measured);
    unsupported: why the column cannot run this case at all (ulimit-v under
    an allocator that cannot start under the limit), not a failure."""
    value: float | None = None
    rss_kib: int | None = None
    check: str | None = None
    text: str = ''
    error: str | None = None
    minflt: int | None = None
    stime: float | None = None
    utime: float | None = None
    unsupported: str | None = None


def result(value, usage, check, text):
    """A Result of a run that worked: usage as read_spawn_result gives it."""
    return Result(value, usage['rss_kib'], check, text, minflt=usage['minflt'],
                  stime=usage['stime'], utime=usage['utime'])


def describe_status(status):
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = str(sig)
        return 'killed by %s' % name
    return 'exit status %d' % os.WEXITSTATUS(status)


def spawn_argv(spawn, argv, result_file):
    """argv run through the launcher spawn, which writes the program's peak
    RSS and wait status to result_file (see spawn.c for why)."""
    return [spawn, result_file] + list(argv)


NO_USAGE = {'rss_kib': None, 'minflt': None, 'stime': None, 'utime': None}


def read_spawn_result(result_file, launcher_status):
    """(wait status, usage) of the program the launcher ran: usage holds
    rss_kib (peak RSS in KiB), minflt, stime and utime (seconds), all None
    when the launcher left no result."""
    try:
        with open(result_file) as f:
            kv = dict(FIELD_RE.findall(f.read()))
        os.unlink(result_file)
        return int(kv['status']), {'rss_kib': int(kv['maxrss_kib']),
                                   'minflt': int(kv['minflt']),
                                   'stime': int(kv['stime_us']) / 1e6,
                                   'utime': int(kv['utime_us']) / 1e6}
    except (OSError, KeyError, ValueError):
        # The launcher itself failed or was killed (e.g. by a timeout).
        return launcher_status, dict(NO_USAGE)


def run_child(spawn, argv, env, cwd, timeout, stdin_path=None):
    """Run argv through the launcher; return (seconds, wait status, usage
    (see read_spawn_result), stdout, stderr).  The wall time is
    time.monotonic() around the launcher.  It runs in a session of its own,
    so a timeout kills the whole process group (e.g. gcc and its cc1).  The
    wait is a blocking wait4 (a timer thread does the kill):
    Popen.wait(timeout) would poll, and its sleeps would count in the
    time."""
    result_file = tempfile.mktemp(prefix='spawn.', dir=cwd)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        stdin = open(stdin_path, 'rb') if stdin_path else subprocess.DEVNULL
        try:
            t0 = time.monotonic()
            proc = subprocess.Popen(spawn_argv(spawn, argv, result_file), env=env, cwd=cwd,
                                    stdin=stdin, stdout=out, stderr=err,
                                    start_new_session=True)
            timed_out = []

            def kill():
                timed_out.append(True)
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            timer = threading.Timer(timeout, kill)
            timer.start()
            try:
                _, status, _ = os.wait4(proc.pid, 0)
            finally:
                t1 = time.monotonic()
                timer.cancel()
            proc.returncode = os.waitstatus_to_exitcode(status)
        finally:
            if stdin_path:
                stdin.close()
        out.seek(0)
        err.seek(0)
        o = out.read().decode('utf-8', 'replace')
        e = err.read().decode('utf-8', 'replace')
        if timed_out:
            e += '\n(timed out after %d s)' % timeout
        status, usage = read_spawn_result(result_file, status)
        return t1 - t0, status, usage, o, e


def failure(status, stderr):
    tail = '\n'.join(stderr.strip().splitlines()[-6:])
    return '%s%s' % (describe_status(status), (': ' + tail) if tail else '')
