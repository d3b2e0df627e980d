#!/usr/bin/env python3
"""tests/structure/layering.py - the layering rules of src/, checked on
clang's syntax tree of every source file.

    layering.py [--graph] SRCDIR [CLANG_ARGS...]

Rules (README.md, "Layout"):
  writes   every field of a struct is written only by the file that owns
           the struct: the .c file of the header that defines it (or the .c
           file itself).  A write is an assignment, a compound assignment,
           ++/--, or an __atomic_* store/exchange/read-modify-write of the
           field, in any function (static inline functions of a header
           count as that header's file).
  calls    a file calls only files below it in LAYERS, itself, or an
           orchestration point; an orchestration point calls anything.
  headers  a header includes only headers below its file (or common.h).

Prints TAP, one test point per rule; --graph prints the file-level call
graph instead (one line per file: the files it calls).
"""
import json
import os
import re
import subprocess
import sys

# Bottom to top.  Each name is a module: NAME.h and NAME.c.
LAYERS = ['common', 'report', 'stack', 'config', 'key', 'os', 'meta', 'counters', 'registry', 'region',
          'huge', 'guard', 'buddy', 'pcp', 'slab', 'sizeclass', 'magazine', 'depot', 'tcache',
          'cache', 'stats', 'impl', 'malloc', 'cxxnew']
# May call any layer, and be called from any layer.
ORCHESTRATION = ['reclaim', 'fork', 'init']
RANK = {m: i for i, m in enumerate(LAYERS)}


def module_of(path, srcdir):
    if path is None:
        return None
    path = os.path.normpath(path)
    if os.path.dirname(path) != os.path.normpath(srcdir):
        return None
    base = os.path.basename(path)
    name, ext = os.path.splitext(base)
    return name if ext in ('.c', '.h') else None


class Walker:
    """Walks clang's JSON dump in print order, tracking the current file
    (the dump writes a location's file only when it changes)."""

    def __init__(self, srcdir):
        self.srcdir = srcdir
        self.file = None
        self.fields = {}        # FieldDecl id -> (record, owner module)
        self.decls = {}         # FunctionDecl id -> module where it is declared
        self.writes = []        # (writer module, function, record, field, owner)
        self.calls = []         # (caller module, function, callee name)

    def loc(self, l):
        if not isinstance(l, dict):
            return
        for k in ('spellingLoc', 'expansionLoc'):
            if k in l:
                self.loc(l[k])
        if 'file' in l:
            self.file = l['file']

    def locations(self, node):
        if 'loc' in node:
            self.loc(node['loc'])
        if 'range' in node:
            self.loc(node['range'].get('begin'))
            self.loc(node['range'].get('end'))

    def walk(self, node, func=None, fmod=None):
        self.locations(node)
        kind = node.get('kind')
        if kind == 'RecordDecl':
            owner = module_of(self.file, self.srcdir)
            record = node.get('name', '(anonymous)')
            for ch in node.get('inner', []):
                if ch.get('kind') == 'FieldDecl':
                    self.fields[ch['id']] = (record, owner, ch.get('name'))
        if kind == 'FunctionDecl':
            mod = module_of(self.file, self.srcdir)
            name = node.get('name')
            has_body = any(ch.get('kind') == 'CompoundStmt' for ch in node.get('inner', []))
            self.decls[node['id']] = None if node.get('isImplicit') else mod
            if has_body:
                func, fmod = name, mod
        if fmod is not None:
            self.expression(node, func, fmod)
        for ch in node.get('inner', []):
            self.walk(ch, func, fmod)

    @staticmethod
    def strip(e):
        while e.get('kind') in ('ImplicitCastExpr', 'ParenExpr', 'CStyleCastExpr') and e.get('inner'):
            e = e['inner'][0]
        return e

    def member_written(self, e, func, fmod):
        e = self.strip(e)
        if e.get('kind') == 'UnaryOperator' and e.get('opcode') == '&' and e.get('inner'):
            e = self.strip(e['inner'][0])
        while e.get('kind') == 'ArraySubscriptExpr' and e.get('inner'):
            e = self.strip(e['inner'][0])
        if e.get('kind') == 'MemberExpr':
            fid = e.get('referencedMemberDecl')
            if fid in self.fields:
                record, owner, field = self.fields[fid]
                self.writes.append((fmod, func, record, field, owner))

    def expression(self, node, func, fmod):
        kind = node.get('kind')
        inner = node.get('inner', [])
        if kind in ('BinaryOperator', 'CompoundAssignOperator') and inner:
            if node.get('opcode', '').endswith('=') and node.get('opcode') not in ('==', '!=', '<=', '>='):
                self.member_written(inner[0], func, fmod)
        elif kind == 'UnaryOperator' and node.get('opcode') in ('++', '--') and inner:
            self.member_written(inner[0], func, fmod)
        elif kind == 'AtomicExpr' and inner and 'load' not in node.get('name', ''):
            self.member_written(inner[0], func, fmod)
        elif kind == 'CallExpr' and inner:
            callee = self.strip(inner[0])
            ref = callee.get('referencedDecl', {})
            if callee.get('kind') == 'DeclRefExpr' and ref.get('kind') == 'FunctionDecl':
                self.calls.append((fmod, func, ref.get('name'), ref.get('id')))


def parse(path, srcdir, clang_args):
    cmd = ['clang', '-Xclang', '-ast-dump=json', '-fsyntax-only'] + clang_args + [path]
    out = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=True).stdout
    w = Walker(srcdir)
    w.walk(json.loads(out))
    return w


def includes(path):
    with open(path) as f:
        return re.findall(r'^#include "([a-z_]+)\.h"', f.read(), re.M)


def main(argv):
    if subprocess.run(['sh', '-c', 'command -v clang'], stdout=subprocess.DEVNULL).returncode:
        print('1..0 # SKIP clang is not installed')
        return 0
    graph = '--graph' in argv
    argv = [a for a in argv if a != '--graph']
    srcdir, clang_args = argv[1], argv[2:]
    sources = sorted(f for f in os.listdir(srcdir) if f.endswith('.c'))
    modules = sorted({os.path.splitext(f)[0] for f in os.listdir(srcdir)
                      if f.endswith(('.c', '.h'))})
    unknown = [m for m in modules if m not in RANK and m not in ORCHESTRATION]
    writes, calls = set(), set()
    for src in sources:
        w = parse(os.path.join(srcdir, src), srcdir, clang_args)
        writes |= set(w.writes)
        calls |= {(caller, func, callee, w.decls.get(did)) for caller, func, callee, did in w.calls}

    edges = {}
    for caller, func, callee, target in calls:
        if target is not None and target != caller:
            edges.setdefault(caller, {}).setdefault(target, set()).add((func, callee))

    if graph:
        order = LAYERS + ORCHESTRATION
        for m in sorted(edges, key=lambda m: order.index(m) if m in order else 99):
            print('%-10s -> %s' % (m, ' '.join(sorted(edges[m], key=lambda t: order.index(t)
                                                        if t in order else 99))))
        return 0

    results = []
    bad = ['%s() in %s writes %s.%s, owned by %s.c' % (func, wm, rec, field, owner)
           for wm, func, rec, field, owner in sorted(writes)
           if owner is not None and owner != wm and
           not (wm == owner + '_h')]
    results.append(('every_struct_field_is_written_only_by_its_owner', bad))

    bad = []
    for caller, targets in sorted(edges.items()):
        for target, sites in sorted(targets.items()):
            if caller in ORCHESTRATION or target in ORCHESTRATION:
                continue
            if caller not in RANK or target not in RANK or RANK[target] >= RANK[caller]:
                func, callee = sorted(sites)[0]
                bad.append('%s.c calls up into %s.c (%s() calls %s())' %
                           (caller, target, func, callee))
    results.append(('calls_go_down_or_through_an_orchestration_point', bad))

    bad = []
    for m in modules:
        h = os.path.join(srcdir, m + '.h')
        if not os.path.exists(h):
            continue
        for inc in includes(h):
            if not os.path.exists(os.path.join(srcdir, inc + '.h')):
                continue        # generated (autoconf.h)
            if inc in ORCHESTRATION or m in ORCHESTRATION:
                continue
            if inc not in RANK or m not in RANK or RANK[inc] >= RANK[m]:
                bad.append('%s.h includes %s.h' % (m, inc))
    results.append(('headers_include_only_lower_layers', bad))
    results.append(('every_source_file_has_a_place_in_the_layer_order',
                    ['%s is in no layer' % m for m in unknown]))

    print('1..%d' % len(results))
    status = 0
    for i, (name, problems) in enumerate(results, 1):
        if problems:
            status = 1
            print('not ok %d - %s' % (i, name))
            for p in problems:
                print('# ' + p)
        else:
            print('ok %d - %s' % (i, name))
    return status


if __name__ == '__main__':
    sys.exit(main(sys.argv))
