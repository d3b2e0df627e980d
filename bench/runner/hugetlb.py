"""Huge pages for the sbmalloc-hugetlb column: how many chase needs, and a
pool that makes them free for the duration of a case."""

import os

from . import note

NR_HUGEPAGES = '/proc/sys/vm/nr_hugepages'


def meminfo(field):
    try:
        with open('/proc/meminfo') as f:
            for line in f:
                if line.startswith(field + ':'):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def hugetlb_pages_needed(mib):
    """2 MiB pages for chase at MIB MiB under SBMALLOC_HUGEPAGES=hugetlb:
    every 32 MiB region is mapped whole (16 pages), plus the first region,
    the pointer array (MIB/8 MiB, a block of its own), and slack."""
    regions = -(-mib // 32) + 2
    return int((regions * 16 + mib // 16 + 16) * 1.1)


class HugePool:
    """Makes `pages` hugetlb pages free for a while, if it can; restores
    nr_hugepages on exit.  .ok says whether the pages are there, .why why
    not."""

    def __init__(self, pages, may_write):
        self.pages = pages
        self.may_write = may_write
        self.old = None
        self.ok = False
        self.why = ''

    def __enter__(self):
        free = meminfo('HugePages_Free')
        if free is None:
            self.why = 'no hugetlb support in /proc/meminfo'
            return self
        if free >= self.pages:
            self.ok = True
            return self
        if not self.may_write:
            self.why = ('%d free hugetlb pages, %d needed, and the pool is not '
                        'changed in this mode' % (free, self.pages))
            return self
        if not os.access(NR_HUGEPAGES, os.W_OK):
            self.why = ('%d free hugetlb pages, %d needed, and %s is not writable '
                        '(run as root, or reserve them: echo N > %s)'
                        % (free, self.pages, NR_HUGEPAGES, NR_HUGEPAGES))
            return self
        with open(NR_HUGEPAGES) as f:
            self.old = int(f.read())
        target = self.old + self.pages - free
        try:
            with open(NR_HUGEPAGES, 'w') as f:
                f.write('%d\n' % target)
        except OSError as e:
            self.why = 'writing %s failed: %s' % (NR_HUGEPAGES, e)
            self.restore()
            return self
        free = meminfo('HugePages_Free') or 0
        if free < self.pages:
            self.why = ('asked the kernel for %d more hugetlb pages, got only %d free'
                        % (self.pages, free))
            self.restore()
            return self
        note('hugetlb: %d pages free for this case (nr_hugepages %d -> %d)'
             % (free, self.old, target))
        self.ok = True
        return self

    def restore(self):
        if self.old is not None:
            with open(NR_HUGEPAGES, 'w') as f:
                f.write('%d\n' % self.old)
            note('hugetlb: nr_hugepages put back to %d' % self.old)
            self.old = None

    def __exit__(self, *exc):
        self.restore()
        return False
