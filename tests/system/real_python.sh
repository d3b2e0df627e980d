#!/bin/sh
# CPython runs correctly with sbmalloc preloaded: big containers, threads,
# json, and ctypes calls into the library that serves it.
. "${SBMALLOC_SRCDIR:-.}/tests/taplib.sh"

containers() {
	need python3
	cat >containers.py <<'EOF'
import hashlib

for r in range(3):
    # A dict of a million entries, then half of it deleted and refilled.
    d = {i: str(i) for i in range(1000000)}
    digits = sum(len(v) for v in d.values())
    for i in range(0, 1000000, 2):
        del d[i]
    for i in range(0, 1000000, 2):
        d[i] = "x"
    # Two hundred thousand lists of 0..49 elements.
    lists = [[j] * (j % 50) for j in range(200000)]
    elements = sum(len(l) for l in lists)
    # A long string grown by join and repetition, and a bytearray grown
    # one slice at a time.
    s = "".join(str(i) for i in range(1000000)) * 4
    b = bytearray()
    for i in range(20000):
        b += bytes([i % 251]) * (i % 97)
    print(r, len(d), digits, elements, len(s), len(b),
          hashlib.sha256(b).hexdigest()[:16])
    del d, lists, s, b
EOF
	sb_run python3 containers.py >got 2>err || { cat err; return 1; }
	check_quiet err
	# 0..999999 have 5888890 digits; 4000 * (0 + ... + 49) elements;
	# sum of i % 97 over 0..19999; the bytearray's digest is fixed by its
	# contents.
	for r in 0 1 2; do
		echo "$r 1000000 5888890 4900000 23555560 959289 $(python3 -c '
import hashlib
b = bytearray()
for i in range(20000):
    b += bytes([i % 251]) * (i % 97)
print(hashlib.sha256(b).hexdigest()[:16])')"
	done >want
	diff want got
}

threads() {
	need python3
	cat >threads.py <<'EOF'
import queue, threading, zlib

N = 4
results = [None] * N
handoff = queue.Queue()
barrier = threading.Barrier(N)

def work(t):
    # Thread-private containers.
    d = {f"{t}-{i}": [i] * (i % 7) for i in range(100000)}
    count = sum(len(v) for v in d.values())
    del d
    # zlib releases the GIL while it allocates its buffers, so these
    # allocations run concurrently in the four threads.
    ok = 0
    for i in range(12):
        data = bytes((t * 31 + i + j) % 256 for j in range(4096)) * 64
        packed = zlib.compress(data, 6)
        if zlib.decompress(packed) == data:
            ok += 1
    # Objects made here and dropped by the next thread.
    for i in range(2000):
        handoff.put((t, i, b"%d:%d" % (t, i) * 100))
    barrier.wait()
    got = 0
    for i in range(2000):
        src, j, blob = handoff.get()
        if blob == b"%d:%d" % (src, j) * 100:
            got += 1
    results[t] = (count, ok, got)

threads = [threading.Thread(target=work, args=(t,)) for t in range(N)]
for th in threads:
    th.start()
for th in threads:
    th.join()
print(results)
EOF
	out=$(sb_run python3 threads.py 2>err) || { cat err; return 1; }
	check_quiet err
	# 100000 lists of i % 7 elements: 14285 * 21 + 0 + 1 + 2 + 3 + 4 each.
	check_eq "per-thread (elements, zlib round trips, intact handed-off objects)" \
		"[(299995, 12, 2000), (299995, 12, 2000), (299995, 12, 2000), (299995, 12, 2000)]" "$out"
}

json_round_trip() {
	need python3
	cat >json_rt.py <<'EOF'
import hashlib, json

data = {"k%d" % i: [i, str(i), {"x": i * 0.5, "y": [True, None, "s" * (i % 30)]}]
        for i in range(100000)}
text = json.dumps(data, sort_keys=True)
back = json.loads(text)
print(back == data, len(text), hashlib.sha256(text.encode()).hexdigest())
EOF
	sb_run python3 json_rt.py >got 2>err || { cat err; return 1; }
	check_quiet err
	# The same script under glibc's malloc gives the expected text.
	python3 json_rt.py >want
	grep -q '^True ' want
	diff want got
}

json_under_check() {
	need python3
	[ -f json_rt.py ] || { echo "json_rt.py missing: the json test point did not run"; return 1; }
	# Free objects poisoned and checked at reuse (SBMALLOC_CHECK=1), large
	# regions on transparent huge pages: same text, nothing reported.
	SBMALLOC_CHECK=1 SBMALLOC_HUGEPAGES=thp sb_run python3 json_rt.py >got_check 2>err ||
		{ cat err; return 1; }
	check_quiet err
	diff want got_check
}

sb_version_via_ctypes() {
	need python3
	[ -n "${SBMALLOC_BUILDDIR:-}" ]
	want=$(sed -n 's/^#define PACKAGE_VERSION "\(.*\)"$/\1/p' "$SBMALLOC_BUILDDIR/autoconf.h")
	[ -n "$want" ]
	got=$(sb_run python3 -c '
import ctypes
lib = ctypes.CDLL(None)
lib.sb_version.restype = ctypes.c_char_p
print(lib.sb_version().decode())' 2>err) || { cat err; return 1; }
	check_quiet err
	check_eq "sb_version() found in the python3 process" "$want" "$got"
}

objects_in_sbmalloc_heap() {
	need python3
	# Objects larger than 512 bytes are allocated with malloc, so they lie in
	# memory that sb_owns() reports as sbmalloc's; an anonymous mmap does not.
	sb_run python3 -c '
import ctypes, mmap
lib = ctypes.CDLL(None)
lib.sb_owns.argtypes = [ctypes.c_void_p]
lib.sb_owns.restype = ctypes.c_int
objs = [bytes(n) for n in (600, 5000, 70000, 1 << 20, 16 << 20)]
owned = [lib.sb_owns(id(o)) for o in objs]
m = mmap.mmap(-1, 1 << 20)
buf = ctypes.c_char.from_buffer(m)
foreign = lib.sb_owns(ctypes.addressof(buf))
del buf
print(owned, foreign)' >got 2>err || { cat err; return 1; }
	check_quiet err
	check_eq "sb_owns() of malloced objects, of an mmap" "[1, 1, 1, 1, 1] 0" "$(cat got)"
}

python_is_served() {
	need python3
	sb_serves '(python3[.0-9]*|libpython3[.0-9]*\.so[.0-9]*)' python3 -c 'x = [bytes(1000) for i in range(100)]'
}

tap_plan 7
tap_test python3_builds_and_drops_large_dicts_lists_and_strings containers
tap_test python3_threads_allocate_and_hand_off_objects_concurrently threads
tap_test python3_json_round_trip_of_100000_entries_is_exact json_round_trip
tap_test python3_json_round_trip_is_exact_with_SBMALLOC_CHECK_poisoning json_under_check
tap_test python3_finds_sb_version_of_the_preloaded_library sb_version_via_ctypes
tap_test python3_objects_lie_in_memory_sb_owns_reports_as_sbmalloc_heap objects_in_sbmalloc_heap
tap_test python3_allocates_through_sbmalloc python_is_served
tap_done
