"""Allocators: the columns of the tables."""

import dataclasses
import glob
import os

from . import LIBDIR, SRCDIR, note

# sbmalloc's huge-page settings, run as extra columns where a case asks.
HUGEPAGE_COLUMNS = (('sbmalloc-hugetlb', 'hugetlb'), ('sbmalloc-thp', 'thp'),
                    ('sbmalloc-4k', 'off'))
# Current releases of the strongest peers, built from upstream into
# ../shared/peers beside the source tree (see its README.md); a column whose
# file is missing is skipped.  Name, and the file (a glob: the first match
# in sorted order, so the snmalloc build of whatever commit is there).
PEER_COLUMNS = (('mimalloc3', 'libmimalloc-3.4.3.so'), ('mimalloc2.4', 'libmimalloc-2.4.1.so'),
                ('snmalloc', 'libsnmalloc-*.so'))
KNOWN = {'glibc', 'jemalloc', 'tcmalloc', 'mimalloc', 'sbmalloc'} | {
    name for name, _ in HUGEPAGE_COLUMNS} | {name for name, _ in PEER_COLUMNS}


def peers_dir():
    """The folder of the peer builds: $SBMALLOC_PEERS, or ../shared/peers
    beside the source tree."""
    return os.path.normpath(os.environ.get('SBMALLOC_PEERS')
                            or os.path.join(SRCDIR, '..', 'shared', 'peers'))


def find_peer(pattern):
    found = sorted(glob.glob(os.path.join(glob.escape(peers_dir()), pattern)))
    return found[0] if found else None


@dataclasses.dataclass(eq=False)
class Column:
    """One column of the tables: an allocator, or sbmalloc in one setting.

    preload: library path for LD_PRELOAD, or None for glibc.
    env: extra environment variables.
    extra: True for the huge-page variants run only where a case asks.
    """
    name: str
    preload: str | None
    env: dict = dataclasses.field(default_factory=dict)
    extra: bool = False

    def __post_init__(self):
        self.env = self.env or {}

    def __repr__(self):
        return self.name


def first_existing(paths):
    return next((p for p in paths if p and os.path.exists(p)), None)


def find_columns(sblib, wanted):
    """The columns that can run here (wanted: names to keep, or None for
    all); a message for each allocator that is not installed."""
    cands = [
        ('glibc', None),
        ('jemalloc', first_existing([LIBDIR + '/libjemalloc.so.2'])),
        ('tcmalloc', first_existing([LIBDIR + '/libtcmalloc_minimal.so.4',
                                     LIBDIR + '/libtcmalloc.so.4'])),
        ('mimalloc', first_existing([LIBDIR + '/libmimalloc.so.2',
                                     LIBDIR + '/libmimalloc.so'])),
    ] + [(name, find_peer(pattern)) for name, pattern in PEER_COLUMNS] + [
        ('sbmalloc', sblib if sblib and os.path.exists(sblib) else None),
    ]
    peers = {name for name, _ in PEER_COLUMNS}
    missing_peers = []
    cols = []
    for name, path in cands:
        if wanted and name not in wanted:
            continue
        if name in peers and path is None:
            missing_peers.append(name)
            continue
        if name != 'glibc' and path is None:
            note('%s: not installed, skipped' % (name if name != 'sbmalloc'
                                                 else 'sbmalloc (%s missing: build first)' % sblib))
            continue
        cols.append(Column(name, path))
    if missing_peers:
        # One note for all of them: the folder is optional.
        note('%s: not in %s, skipped' % (', '.join(missing_peers), peers_dir()))
    # sbmalloc's huge-page settings: with sbmalloc, or when named.
    sb = cands[-1][1]
    for name, mode in HUGEPAGE_COLUMNS:
        if sb and (not wanted or name in wanted or 'sbmalloc' in wanted):
            cols.append(Column(name, sb, {'SBMALLOC_HUGEPAGES': mode}, extra=True))
    return cols


def parse_column(spec, sblib):
    """A --column NAME=LIB[,VAR=VALUE...]: LIB is a path, or "sbmalloc"
    for the library built here."""
    name, eq, rest = spec.partition('=')
    parts = rest.split(',')
    if not eq or not name or not parts[0]:
        raise ValueError('--column %s: want NAME=LIB[,VAR=VALUE...]' % spec)
    lib = sblib if parts[0] == 'sbmalloc' else parts[0]
    if not lib or not os.path.exists(lib):
        raise ValueError('--column %s: %s does not exist' % (spec, lib))
    env = {}
    for kv in parts[1:]:
        var, eq, value = kv.partition('=')
        if not eq or not var:
            raise ValueError('--column %s: %s is not VAR=VALUE' % (spec, kv))
        env[var] = value
    return Column(name, lib, env)


def main_cols(cols):
    return [c for c in cols if not c.extra]


def select_columns(args):
    """The columns of a run: those of --allocators (all found when not
    given) and --column.  None (after a message) when they are wrong."""
    wanted = None
    if args.allocators:
        wanted = {n.strip() for n in args.allocators.split(',') if n.strip()}
        if wanted - KNOWN:
            note('unknown allocator(s): %s; known: %s'
                 % (', '.join(sorted(wanted - KNOWN)), ', '.join(sorted(KNOWN))))
            return None
    cols = find_columns(args.lib, wanted)
    try:
        cols += [parse_column(spec, args.lib) for spec in args.column]
    except ValueError as e:
        note(str(e))
        return None
    if not cols:
        note('no allocator to run')
        return None
    return cols
