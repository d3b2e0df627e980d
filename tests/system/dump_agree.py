#!/usr/bin/env python3
"""tests/system/dump_agree.py - the text and the JSON dump of one state say
the same thing.

    dump_agree.py SBSTAT TEXT JSON

TEXT is parsed by sbstat's text parser (SBSTAT, the script), JSON by
json.load; every figure of the text dump must be in the JSON dump with the
same value: the version, pid and counters flag of the summary header, every
slabinfo row (name and its 11 columns), every buddyinfo row (index, backing,
the 11 free counts) and every summary line (in the JSON's "summary" or
"counters" object, not both, and nothing there that the text lacks).
Prints each disagreement and exits 1 if there is any, else prints how many
figures agree and exits 0.
"""
import importlib.machinery
import importlib.util
import json
import sys


def load_sbstat(path):
    sys.dont_write_bytecode = True
    loader = importlib.machinery.SourceFileLoader("sbstat", path)
    spec = importlib.util.spec_from_loader("sbstat", loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


def main(argv):
    sbstat = load_sbstat(argv[1])
    with open(argv[2]) as f:
        dumps = sbstat.parse_dumps(f.read(), argv[2])
    if len(dumps) != 1:
        print("%s: %d text dumps, not 1" % (argv[2], len(dumps)))
        return 1
    t = dumps[0]
    with open(argv[3], encoding="utf-8") as f:
        j = json.load(f)

    bad = []
    agree = 0

    def same(what, text_value, json_value):
        nonlocal agree
        # bool is an int to Python: a JSON true must not pass for a 1.
        if text_value != json_value or type(text_value) is not type(json_value):
            bad.append("%s: text %r, JSON %r" % (what, text_value, json_value))
        else:
            agree += 1

    same("version", t.version, j["sbmalloc_version"])
    same("pid", t.pid, j["pid"])
    same("counters on", t.counters_on, j["counters_on"])
    same("slabinfo rows", len(t.caches), len(j["slabinfo"]))
    for tr, jr in zip(t.caches, j["slabinfo"]):
        same("slabinfo row name", tr["name"], jr["name"])
        for k in sbstat.ROW_FIELDS:
            same("%s %s" % (tr["name"], k), tr[k], jr[k])
    same("buddyinfo rows", len(t.regions), len(j["buddyinfo"]))
    for tr, jr in zip(t.regions, j["buddyinfo"]):
        same("region index", tr["index"], jr["index"])
        same("region %d backing" % tr["index"], tr["backing"], jr["backing"])
        same("region %d free" % tr["index"], tr["free"], jr["free"])
    both = set(j["summary"]) & set(j["counters"])
    if both:
        bad.append("in both summary and counters: %s" % ", ".join(sorted(both)))
    json_kv = dict(j["summary"], **j["counters"])
    for k, v in t.summary.items():
        if k not in json_kv:
            bad.append("summary %s: text %r, not in the JSON dump" % (k, v))
        else:
            same("summary %s" % k, v, json_kv[k])
    for k in sorted(set(json_kv) - set(t.summary)):
        bad.append("summary %s: JSON %r, not in the text dump" % (k, json_kv[k]))

    for b in bad:
        print("disagree: %s" % b)
    print("%d figures agree, %d disagree" % (agree, len(bad)))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
