#!/bin/sh
# The huge pages the statistics report are the ones the kernel gave: the
# dump's huge_page_share_pct, thp_bytes, hugetlb_bytes and each region's
# backing against /proc/self/smaps_rollup of the same process at the same
# moment (tests/system/stats_pair writes both), with transparent huge pages
# refused to the process (PR_SET_THP_DISABLE), advised, forced off and on
# for the whole machine (/sys/kernel/mm/transparent_hugepage/enabled), and
# with a hugetlb pool.
#
# Changing the machine's settings needs root and the file: each such test
# point skips without them, saves the old value, and puts it back on every
# way out (a trap in the test point, and one for the whole script), under
# an exclusive lock so that two runs of this script cannot restore each
# other's values.  The suite runs this script after every other test
# (system.am), as the settings apply to every process.
. "${SBMALLOC_SRCDIR:-.}/tests/taplib.sh"

pair="$SBMALLOC_BUILDDIR/tests/system/stats_pair"
thp_file=/sys/kernel/mm/transparent_hugepage/enabled
nr_file=/proc/sys/vm/nr_hugepages
lock_file=/tmp/sbmalloc-kernel-settings.lock
MIB=1048576

# Both settings as they were when the script started, put back at its end
# whatever happened (the test points restore them on their own already).
thp_at_start=$(sed -n 's/.*\[\(.*\)\].*/\1/p' "$thp_file" 2>/dev/null || true)
nr_at_start=$(cat "$nr_file" 2>/dev/null || true)
restore_all() {
	if [ -n "$thp_at_start" ] && [ -w "$thp_file" ]; then
		echo "$thp_at_start" >"$thp_file" 2>/dev/null || true
	fi
	if [ -n "$nr_at_start" ] && [ -w "$nr_file" ]; then
		echo "$nr_at_start" >"$nr_file" 2>/dev/null || true
	fi
}
trap 'restore_all; rm -rf "$tap_tmp"' EXIT

fresh_dir() {
	cd "$(mktemp -d "$tap_tmp/point.XXXXXX")"
}

# The kernel's THP mode (always, madvise or never), or nothing.
thp_mode() {
	sed -n 's/.*\[\(.*\)\].*/\1/p' "$thp_file" 2>/dev/null || true
}

# Skip unless this process may change FILE; then hold the lock for the
# rest of the test point (fd 9, closed when its subshell ends).
need_setting() {
	[ "$(id -u)" -eq 0 ] || { echo "not root"; exit 77; }
	[ -w "$1" ] || { echo "$1 missing or not writable"; exit 77; }
	if command -v flock >/dev/null 2>&1; then
		exec 9>>"$lock_file"
		flock -x 9
	fi
}

# thp_force MODE: the machine's THP mode is MODE until the test point
# ends, then what it was.
thp_force() {
	need_setting "$thp_file"
	thp_old=$(thp_mode)
	[ -n "$thp_old" ] || { echo "cannot read $thp_file"; exit 77; }
	trap 'echo "$thp_old" >"$thp_file"' EXIT
	echo "$1" >"$thp_file"
	check_eq "THP mode after setting it" "$1" "$(thp_mode)"
}

# json_get FILE EXPR: a value of the JSON dump in FILE, the Python
# expression EXPR of it (d), e.g. 'd["summary"]["thp_bytes"]'.
json_get() {
	python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
print(eval(sys.argv[2]))' "$1" "$2"
}

# rollup_bytes FIELD...: the sum of those fields of the rollup, in bytes.
rollup_bytes() {
	awk -v fields=" $* " 'index(fields, " " substr($1, 1, length($1) - 1) " ") {
		kb += $2 } END { printf "%d\n", kb * 1024 }' rollup
}

# check_near WHAT EXPECTED ACTUAL TOLERANCE: |EXPECTED - ACTUAL| <= TOLERANCE.
check_near() {
	d=$(($2 - $3))
	[ "$d" -lt 0 ] && d=$((-d))
	[ "$d" -le "$4" ] || { echo "$1: expected $2 (within $4), got $3"; return 1; }
}

# The share is (thp_bytes + hugetlb_bytes) / mapped_bytes, in hundredths.
check_share_of_mapped() {
	want=$(json_get json '"%.2f" % (100.0 * (d["summary"]["thp_bytes"] + d["summary"]["hugetlb_bytes"]) / d["summary"]["mapped_bytes"])')
	check_eq "huge_page_share_pct" "$want" "$(json_get json '"%.2f" % d["summary"]["huge_page_share_pct"]')"
}

# The text dump of the same state says the same of regions and share.
check_text_agrees() {
	python3 "$SBMALLOC_SRCDIR/tests/system/dump_agree.py" "$SBMALLOC_SRCDIR/tools/sbstat" text json
}

no_huge_pages_when_the_kernel_refuses_them() {
	fresh_dir
	need python3
	mode=$(thp_mode)
	case $mode in
	always | madvise) ;;
	*) echo "transparent huge pages are '${mode:-missing}' on this machine"; exit 77 ;;
	esac
	# sbmalloc advises THP for every region and block; the kernel gives none.
	SBMALLOC_HUGEPAGES=thp "$pair" --no-thp --huge 64 .
	check_eq "AnonHugePages of the rollup" 0 "$(rollup_bytes AnonHugePages)"
	check_eq "region 0 expected backing" thp "$(json_get json 'd["buddyinfo"][0]["expected_backing"]')"
	check_eq "regions backed by thp" "" "$(json_get json '" ".join(str(r["index"]) for r in d["buddyinfo"] if r["backing"] != "4k")')"
	check_eq "thp_regions" 0 "$(json_get json 'd["summary"]["thp_regions"]')"
	check_eq "thp_bytes" 0 "$(json_get json 'd["summary"]["thp_bytes"]')"
	check_eq "huge_page_share_pct" 0.00 "$(json_get json '"%.2f" % d["summary"]["huge_page_share_pct"]')"
	check_text_agrees
}

advised_huge_pages_match_the_rollup() {
	fresh_dir
	need python3
	mode=$(thp_mode)
	case $mode in
	always | madvise) ;;
	*) echo "transparent huge pages are '${mode:-missing}' on this machine"; exit 77 ;;
	esac
	SBMALLOC_HUGEPAGES=thp "$pair" --huge 64 .
	rollup=$(rollup_bytes AnonHugePages)
	[ "$rollup" -ge $((2 * MIB)) ] || { echo "the kernel gave no huge page ($rollup bytes)"; exit 77; }
	# Only sbmalloc's regions and blocks are advised: they hold them all.
	check_near "thp_bytes" "$rollup" "$(json_get json 'd["summary"]["thp_bytes"]')" 4096
	check_eq "region 0 backing" thp "$(json_get json 'd["buddyinfo"][0]["backing"]')"
	check_share_of_mapped
	check_text_agrees
}

share_is_0_with_thp_never() {
	fresh_dir
	need python3
	thp_force never
	"$pair" --huge 64 .
	echo "$thp_old" >"$thp_file"
	check_eq "AnonHugePages of the rollup" 0 "$(rollup_bytes AnonHugePages)"
	check_eq "thp_bytes" 0 "$(json_get json 'd["summary"]["thp_bytes"]')"
	check_eq "thp_regions" 0 "$(json_get json 'd["summary"]["thp_regions"]')"
	check_eq "regions not backed by 4k pages" "" "$(json_get json '" ".join(str(r["index"]) for r in d["buddyinfo"] if r["backing"] != "4k")')"
	check_eq "huge_page_share_pct" 0.00 "$(json_get json '"%.2f" % d["summary"]["huge_page_share_pct"]')"
	check_text_agrees
}

share_matches_the_rollup_with_thp_always() {
	fresh_dir
	need python3
	thp_force always
	"$pair" --huge 128 .
	echo "$thp_old" >"$thp_file"
	rollup=$(rollup_bytes AnonHugePages)
	[ "$rollup" -ge $((2 * MIB)) ] || { echo "the kernel gave no huge page ($rollup bytes)"; exit 77; }
	# In "always" mode any anonymous memory of the process may get huge
	# pages, sbmalloc's registry and metadata too, which are not heap: a
	# few huge pages of difference.
	check_near "thp_bytes" "$rollup" "$(json_get json 'd["summary"]["thp_bytes"]')" $((8 * MIB))
	thp=$(json_get json 'd["summary"]["thp_bytes"]')
	[ "$thp" -ge $((128 * MIB / 2)) ] || { echo "thp_bytes $thp for a 128 MiB block of huge pages"; return 1; }
	check_share_of_mapped
	check_text_agrees
}

hugetlb_pages_match_the_rollup() {
	fresh_dir
	need python3
	need_setting "$nr_file"
	nr_old=$(cat "$nr_file")
	trap 'echo "$nr_old" >"$nr_file"' EXIT
	echo 64 >"$nr_file" || true
	got=$(cat "$nr_file")
	free=$(awk '$1 == "HugePages_Free:" { print $2 }' /proc/meminfo)
	if [ "$got" -lt 64 ] || [ "${free:-0}" -lt 32 ]; then
		echo "$nr_old" >"$nr_file"
		echo "could not reserve 64 huge pages (got $got, $free free)"
		exit 77
	fi
	SBMALLOC_HUGEPAGES=hugetlb "$pair" --huge 32 .
	echo "$nr_old" >"$nr_file"
	check_eq "nr_hugepages after the test" "$nr_old" "$(cat "$nr_file")"
	check_eq "region 0 backing" hugetlb "$(json_get json 'd["buddyinfo"][0]["backing"]')"
	[ "$(json_get json 'd["summary"]["hugetlb_regions"]')" -ge 1 ]
	rollup=$(rollup_bytes Private_Hugetlb Shared_Hugetlb)
	[ "$rollup" -gt 0 ] || { echo "the rollup shows no hugetlb page"; return 1; }
	check_eq "hugetlb_bytes" "$rollup" "$(json_get json 'd["summary"]["hugetlb_bytes"]')"
	check_share_of_mapped
	check_text_agrees
}

tap_plan 5
tap_test no_huge_pages_are_reported_when_the_kernel_gives_none no_huge_pages_when_the_kernel_refuses_them
tap_test advised_huge_pages_match_AnonHugePages_of_smaps_rollup advised_huge_pages_match_the_rollup
tap_test huge_page_share_is_0_with_thp_never share_is_0_with_thp_never
tap_test huge_page_share_matches_smaps_rollup_with_thp_always share_matches_the_rollup_with_thp_always
tap_test hugetlb_pages_match_the_hugetlb_fields_of_smaps_rollup hugetlb_pages_match_the_rollup
tap_done
