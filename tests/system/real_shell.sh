#!/bin/sh
# Shell pipelines, bash and a forking sh run correctly with sbmalloc
# preloaded into every process.
. "${SBMALLOC_SRCDIR:-.}/tests/taplib.sh"

sort_pipeline() {
	need seq sort awk
	out=$(sb_run sh -c 'seq 1 200000 | sort -rn | awk "NR == 1 { first = \$1 } { s += \$1 } END { printf \"%d %d %.0f\n\", first, NR, s }"' 2>err)
	check_quiet err
	check_eq "first line, line count and sum of seq 1 200000 | sort -rn" "200000 200000 20000100000" "$out"
}

sort_of_long_lines() {
	need seq sort awk
	# 20000 lines of 1-4 KiB each, sorted by a key in the middle of the line:
	# sort's buffers grow through realloc and hold 50 MiB.
	sb_run sh -c 'seq 1 20000 | awk "BEGIN { p = \"p\"; while (length(p) < 4096) p = p p } { printf \"%s %07d %s\n\", substr(p, 1, 1024 * (\$1 % 4 + 1)), (\$1 * 7919) % 20011, \$1 }" | sort -k2,2n | awk "{ print \$2, \$3 }"' >got 2>err
	check_quiet err
	seq 1 20000 | awk '{ printf "%07d %s\n", ($1 * 7919) % 20011, $1 }' | sort -k1,1n >want
	cmp want got
}

bash_script() {
	need bash
	# Loops, indexed and associative arrays, string growth, command
	# substitution and a pipeline, with a checked result.
	cat >script.bash <<'EOF'
declare -a arr
declare -A map
for ((i = 0; i < 20000; i++)); do
	arr+=("item$i")
	map["key$((i % 1000))"]+="$i,"
done
s=""
for ((i = 0; i < 2000; i++)); do
	s+="${arr[i]:4}"
done
unset 'arr[5]' 'arr[6]'
total=0
for k in "${!map[@]}"; do
	IFS=, read -ra parts <<<"${map[$k]}"
	total=$((total + ${#parts[@]}))
done
words=$(for ((i = 0; i < 300; i++)); do echo "w$i"; done | wc -l)
subs=0
for ((i = 0; i < 100; i++)); do
	v=$(echo "$i")
	subs=$((subs + v))
done
echo "${#arr[@]} ${#map[@]} ${#s} $total $words $subs"
EOF
	out=$(sb_run bash script.bash 2>err)
	check_quiet err
	# 19998 array items left; 1000 keys; digits of 0..1999 = 10+180+1800+4000;
	# 20000 list entries; 300 lines; 0+1+...+99.
	check_eq "bash array sizes, string length, entries, lines and sum" \
		"19998 1000 6890 20000 300 4950" "$out"
}

sh_forks() {
	need sh
	# 200 command substitutions, each a fork, the child writing and exiting.
	out=$(sb_run sh -c 'x=""; i=0; while [ $i -lt 200 ]; do x="$x$(echo x)"; i=$((i + 1)); done; echo ${#x}' 2>err)
	check_quiet err
	check_eq "length of 200 concatenated command substitutions" "200" "$out"
}

sh_pipes_of_forks() {
	need sh seq wc
	# 100 short pipelines, each of three preloaded processes.
	out=$(sb_run sh -c 'n=0; for i in $(seq 1 100); do c=$(seq 1 $i | sort -n | wc -l); n=$((n + c)); done; echo $n' 2>err)
	check_quiet err
	check_eq "sum of the line counts of 100 pipelines" "5050" "$out"
}

hugepage_modes() {
	need seq sort awk
	# Each backing of sbmalloc's regions (see README.md) gives the same
	# results; a mode the machine cannot honour falls back silently.
	for mode in auto hugetlb thp off; do
		echo "SBMALLOC_HUGEPAGES=$mode"
		out=$(SBMALLOC_HUGEPAGES=$mode sb_run sh -c 'seq 1 300000 | sort -rn | awk "{ s += \$1 } END { printf \"%.0f\n\", s }"' 2>err)
		check_quiet err
		check_eq "sum with SBMALLOC_HUGEPAGES=$mode" "45000150000" "$out"
	done
}

check_mode() {
	need seq sort awk bash cmp
	# With SBMALLOC_CHECK=1 free memory is poisoned and checked when it is
	# reused: correct programs run unchanged and without any report.
	pipeline='seq 1 20000 | awk "{ printf \"%s %07d\n\", substr(\"abcdefghij\", 1, \$1 % 10), (\$1 * 7919) % 20011 }" | sort -k2,2n'
	SBMALLOC_CHECK=1 sb_run sh -c "$pipeline" >got 2>err
	check_quiet err
	# The same pipeline under glibc's malloc gives the expected output.
	sh -c "$pipeline" >want
	cmp want got
	out=$(SBMALLOC_CHECK=1 sb_run bash -c 's=""; for ((i = 0; i < 3000; i++)); do a[i]="$i"; s+="${a[i]}"; done; unset a; echo ${#s}' 2>err)
	check_quiet err
	check_eq "length of the string bash built" "10890" "$out"
}

prompt_purging() {
	need seq sort awk cmp
	# With a dirty budget of 1 KiB, sbmalloc gives free memory back to the
	# OS at almost every free: the memory still in use must not be touched.
	SBMALLOC_DIRTY_MAX=1k sb_run sh -c 'seq 1 20000 | awk "BEGIN { p = \"p\"; while (length(p) < 8192) p = p p } { printf \"%s %07d %s\n\", substr(p, 1, 2048 * (\$1 % 4 + 1)), (\$1 * 7919) % 20011, \$1 }" | sort -k2,2n | awk "{ print \$2, \$3 }"' >got 2>err
	check_quiet err
	seq 1 20000 | awk '{ printf "%07d %s\n", ($1 * 7919) % 20011, $1 }' | sort -k1,1n >want
	cmp want got
}

tools_are_served() {
	need seq sort awk bash
	sb_serves sort sh -c 'seq 1 1000 | sort -rn >/dev/null'
	sb_serves awk sh -c 'seq 1 1000 | awk "{ s += \$1 } END { print s }" >/dev/null'
	sb_serves bash bash -c 'a=(1 2 3); echo "${a[@]}" >/dev/null'
}

tap_plan 9
tap_test sort_pipeline_sums_200000_numbers sort_pipeline
tap_test sort_orders_20000_long_lines_by_key sort_of_long_lines
tap_test bash_loops_arrays_and_command_substitutions_compute_the_right_result bash_script
tap_test sh_concatenates_200_forked_command_substitutions sh_forks
tap_test sh_runs_100_pipelines_of_forked_processes sh_pipes_of_forks
tap_test pipeline_gives_the_same_sum_under_every_SBMALLOC_HUGEPAGES_mode hugepage_modes
tap_test sort_and_bash_run_without_reports_under_SBMALLOC_CHECK check_mode
tap_test sort_of_long_lines_is_right_when_free_memory_is_returned_at_once prompt_purging
tap_test sort_awk_and_bash_allocate_through_sbmalloc tools_are_served
tap_done
