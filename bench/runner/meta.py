"""What the report says about the run besides the results: the command,
the machine, the versions of the allocators and programs."""

import datetime
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys

from . import SRCDIR
from .columns import peers_dir
from .hugetlb import meminfo


def sh(cmd):
    try:
        return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                              timeout=20).stdout.decode().strip()
    except (OSError, subprocess.TimeoutExpired):
        return ''


def package_version(path):
    """'pkg version' of the Debian package that owns path, or ''."""
    if not path or not shutil.which('dpkg-query'):
        return ''
    real = os.path.realpath(path)
    for p in (path, real, real.replace('/usr/lib/', '/lib/', 1)):
        owner = sh(['dpkg-query', '-S', p])
        if owner and ':' in owner:
            pkg = owner.split(': ')[0].split(', ')[0]
            ver = sh(['dpkg-query', '-W', '-f=${Version}', pkg])
            return '%s %s' % (pkg, ver)
    return ''


def sbmalloc_version(builddir):
    ver = ''
    try:
        with open(os.path.join(builddir, 'config.h')) as f:
            m = re.search(r'#define PACKAGE_VERSION "([^"]*)"', f.read())
            ver = m.group(1) if m else ''
    except OSError:
        pass
    rev = sh(['git', '-C', SRCDIR, 'describe', '--always', '--dirty'])
    return 'sbmalloc %s%s' % (ver or '?', (' (git %s)' % rev) if rev else '')


def machine_info():
    cpu = ''
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    cpu = line.split(':', 1)[1].strip()
                    break
    except OSError:
        pass
    thp = ''
    try:
        with open('/sys/kernel/mm/transparent_hugepage/enabled') as f:
            thp = f.read().strip()
    except OSError:
        pass
    mem = meminfo('MemTotal')
    return {
        'nproc': len(os.sched_getaffinity(0)),
        'cpu': cpu,
        'kernel': platform.release(),
        'memory': '%.1f GiB' % (mem / 1048576) if mem else '?',
        'thp': thp,
        'os': sh(['sh', '-c', '. /etc/os-release && echo "$PRETTY_NAME"']),
    }


def make_meta(args, argv, cols, cases, skipped):
    """What the report says about the run besides the results."""
    reps = '%d run%s of each case%s' % (args.reps, '' if args.reps == 1 else 's',
                                          ' (chase, gcc and the cases of issue 12: at most 3)'
                                          if args.mode == 'full' and not args.reps_given else '')
    cmd = {'full': 'make bench', 'quick': 'make bench-quick',
           'smoke': 'bench/run.py --smoke'}[args.mode]
    if args.only or args.reps_given or args.allocators:
        cmd = 'bench/run.py ' + shlex.join(argv)
    return {'mode': args.mode, 'cmd': cmd, 'reps': reps,
            'date': datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC'),
            'machine': machine_info(),
            'versions': versions(cols, cases, skipped, args.builddir),
            'cases': [c.name for c in cases],
            'columns': [[c.name, c.preload, c.env, c.extra] for c in cols]}


def versions(cols, cases, skipped, builddir):
    v = []
    for c in cols:
        if c.extra:
            continue
        if c.name == 'glibc':
            v.append(('glibc', package_version('/lib/x86_64-linux-gnu/libc.so.6')
                      or platform.libc_ver()[1]))
        elif c.name == 'sbmalloc':
            v.append(('sbmalloc', sbmalloc_version(builddir)))
        elif os.path.dirname(c.preload) == peers_dir():
            v.append((c.name, 'peers/' + os.path.basename(c.preload)))
        else:
            v.append((c.name, package_version(c.preload) or c.preload))
    progs = {'python': [sys.executable, '--version'], 'gcc': ['gcc', '-dumpfullversion'],
             'sqlite': ['sqlite3', '--version'], 'redis': ['redis-server', '--version']}
    for case in cases:
        if case.name in progs and case.name not in skipped:
            m = re.search(r'\d+\.\d+(\.\d+)?', sh(progs[case.name]))
            v.append((case.name, m.group(0) if m else '?'))
    return v
