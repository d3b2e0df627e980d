#!/usr/bin/env python3
"""bench/real/pydicts.py - a python3 program that builds and drops large
dicts and lists, the allocation pattern of data-munging scripts.

    python3 pydicts.py [ROUNDS] [N]

Each of ROUNDS rounds (default 10) builds a dict of N (default 200,000)
string keys to small lists, a list of tuples and a set, a dict of dicts
grouped by key, and a list of strings joined into one, checks them, then
drops them all.  The
big hash tables, lists and strings are beyond CPython's own small-object
allocator (pymalloc serves objects of up to 512 bytes), so they come from
malloc and realloc of the allocator under test, as do the arenas pymalloc
itself takes.  Prints one line with a checksum that does not depend on the
allocator.
"""
import sys


def one_round(r, n):
    # A dict of lists: the hash table grows by resizing (realloc of a big
    # block); the values are small lists.
    d = {}
    for i in range(n):
        d['key-%d-%d' % (r, i)] = [i, i * 2, str(i)]
    # A list of tuples and a set built from it.
    pairs = [(i, 'v%d' % (i * 7 % 1000)) for i in range(n)]
    s = {p[1] for p in pairs}
    # Grouping: a dict of dicts.
    groups = {}
    for i, v in pairs:
        groups.setdefault(v, {})[i] = len(v)
    # Long strings: a join over everything.
    text = ','.join(k for k in d)
    total = sum(len(v) for v in groups.values()) + len(s) + len(text)
    total += sum(lst[1] for lst in d.values())
    # Drop all; the next round builds everything again.
    del d, pairs, s, groups, text
    return total


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 200000
    check = 0
    for r in range(rounds):
        check = (check * 31 + one_round(r, n)) % (1 << 61)
    print('pydicts rounds=%d n=%d check=%x' % (rounds, n, check))


if __name__ == '__main__':
    main()
