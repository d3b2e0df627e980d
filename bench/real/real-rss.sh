#!/bin/sh
# bench/real/real-rss.sh - peak RSS and wall time of real programs, glibc
# against sbmalloc, interleaved (glibc sbmalloc glibc sbmalloc ...), medians.
#
#   bench/real/real-rss.sh [-n RUNS] [-l LIBSBMALLOC]
#
# Cases: `python3 -c pass` and `gcc -O2 -c` of a generated 3,000-function
# C file (bench/real/gen-c.py).  Prints a Markdown table.
set -eu
runs=5
here=$(cd "$(dirname "$0")" && pwd)
lib=${SBMALLOC_LIB:-$here/../../src/.libs/libsbmalloc.so}
while getopts n:l: o; do
	case $o in
	n) runs=$OPTARG ;;
	l) lib=$OPTARG ;;
	*) exit 2 ;;
	esac
done
[ -f "$lib" ] || { echo "no $lib: build first" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 "$here/gen-c.py" 3000 > "$work/big.c"

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

run_case() { # name preload command...
	name=$1 pre=$2
	shift 2
	if [ -n "$pre" ]; then
		env LD_PRELOAD="$pre" /usr/bin/time -f "%e %M" -o "$work/t" "$@" >/dev/null 2>&1
	else
		/usr/bin/time -f "%e %M" -o "$work/t" "$@" >/dev/null 2>&1
	fi
	tail -1 "$work/t" >> "$work/$name"
}

for i in $(seq "$runs"); do
	for who in glibc sbmalloc; do
		pre=; [ $who = sbmalloc ] && pre=$lib
		run_case "py.$who" "$pre" python3 -c pass
		run_case "gcc.$who" "$pre" gcc -O2 -c "$work/big.c" -o "$work/big.o"
	done
done

echo "| case | glibc time s | sbmalloc time s | glibc peak RSS KiB | sbmalloc peak RSS KiB | RSS ratio |"
echo "|---|---|---|---|---|---|"
for c in py gcc; do
	gt=$(cut -d' ' -f1 "$work/$c.glibc" | median); st=$(cut -d' ' -f1 "$work/$c.sbmalloc" | median)
	gr=$(cut -d' ' -f2 "$work/$c.glibc" | median); sr=$(cut -d' ' -f2 "$work/$c.sbmalloc" | median)
	label=$c; [ $c = py ] && label='python3 -c pass'; [ $c = gcc ] && label='gcc -O2 -c big.c'
	echo "| $label | $gt | $st | $gr | $sr | $(awk "BEGIN {printf \"%.3f\", $sr/$gr}") |"
done
echo
echo "$runs runs each, interleaved, medians; $(uname -m), $(nproc) cores, $(date -u +%Y-%m-%d)"
