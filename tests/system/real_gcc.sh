#!/bin/sh
# gcc and g++ compile correctly with sbmalloc preloaded into the driver, the
# compiler proper, the assembler and the linker.
. "${SBMALLOC_SRCDIR:-.}/tests/taplib.sh"

# gen.c: a few thousand lines of C - many functions with loops, arrays and
# switches, one big switch, structs sorted with qsort - whose output is a
# list of numbers.
generate_program() {
	awk -v nfunc=300 -v ncase=1000 'BEGIN {
	print "#include <stdio.h>"
	print "#include <stdlib.h>"
	print "#include <string.h>"
	print ""
	print "struct rec {"
	print "\tint id;"
	print "\tlong weight;"
	print "\tchar name[24];"
	print "\tstruct rec *next;"
	print "};"
	print ""
	print "static int cmp_rec(const void *a, const void *b)"
	print "{"
	print "\tconst struct rec *x = a, *y = b;"
	print "\tif (x->weight != y->weight)"
	print "\t\treturn x->weight < y->weight ? -1 : 1;"
	print "\treturn x->id - y->id;"
	print "}"
	for (k = 0; k < nfunc; k++) {
		print ""
		printf "static long f%d(long x)\n", k
		print "{"
		print "\tlong a[8], s = 0;"
		print "\tint i;"
		print "\tstruct rec r;"
		printf "\tfor (i = 0; i < 8; i++)\n\t\ta[i] = x * (i + 1) + %d;\n", k
		printf "\tfor (i = 0; i < 8; i++)\n\t\ts += a[i] %% %d;\n", k % 13 + 2
		print "\tswitch (x % 5) {"
		printf "\tcase 0: s += %d; break;\n", k
		printf "\tcase 1: s -= %d; break;\n", k % 7
		printf "\tcase 2: s ^= %d; break;\n", k % 16
		printf "\tcase 3: s = s * 3 + %d; break;\n", k % 5
		print "\tdefault: s <<= 1; break;"
		print "\t}"
		printf "\tr.id = %d;\n", k
		print "\tr.weight = s;"
		printf "\tsnprintf(r.name, sizeof(r.name), \"f%d-%%ld\", x);\n", k
		print "\tr.next = NULL;"
		print "\treturn r.weight + (long)strlen(r.name);"
		print "}"
	}
	print ""
	print "static long big_switch(int v)"
	print "{"
	print "\tswitch (v) {"
	for (c = 0; c < ncase; c++)
		printf "\tcase %d: return %d;\n", c * 7, c * 3 + 1
	print "\tdefault: return 0;"
	print "\t}"
	print "}"
	print ""
	print "int main(void)"
	print "{"
	printf "\tstatic struct rec recs[%d];\n", nfunc
	print "\tlong total = 0;"
	print "\tint i;"
	for (k = 0; k < nfunc; k++) {
		printf "\trecs[%d].id = %d;\n", k, k
		printf "\trecs[%d].weight = f%d(%d);\n", k, k, k * 37 % 101
	}
	printf "\tqsort(recs, %d, sizeof(recs[0]), cmp_rec);\n", nfunc
	printf "\tfor (i = 0; i < %d; i++)\n", nfunc
	print "\t\tprintf(\"%d %ld\\n\", recs[i].id, recs[i].weight);"
	printf "\tfor (i = 0; i < %d; i++)\n", ncase * 7
	print "\t\ttotal += big_switch(i);"
	print "\tprintf(\"switch %ld\\n\", total);"
	print "\treturn 0;"
	print "}"
	}' >gen.c
}

# Compile gen.c under sbmalloc (sb.o, sb) and under glibc's malloc (glibc.o,
# glibc), once for the whole script.
compile_both() {
	[ -e "$tap_tmp/gcc/compiled" ] && return 0
	mkdir -p "$tap_tmp/gcc"
	cd "$tap_tmp/gcc"
	generate_program
	[ "$(wc -l <gen.c)" -gt 4000 ]
	sb_run gcc -O2 -g -c gen.c -o sb.o 2>sb.err || { cat sb.err; return 1; }
	sb_run gcc sb.o -o sb 2>>sb.err || { cat sb.err; return 1; }
	gcc -O2 -g -c gen.c -o glibc.o
	gcc glibc.o -o glibc
	touch compiled
}

gcc_compiles() {
	need gcc
	compile_both
	cd "$tap_tmp/gcc"
	check_quiet sb.err
	[ -x sb ]
}

gcc_output_runs() {
	need gcc
	compile_both
	cd "$tap_tmp/gcc"
	./sb >sb.out
	./glibc >glibc.out
	check_eq "lines printed" "301" "$(wc -l <sb.out | tr -d ' ')"
	# big_switch(7c) = 3c + 1 for c < 1000: 3 * 499500 + 1000.
	check_eq "last line" "switch 1499500" "$(tail -n 1 sb.out)"
	diff glibc.out sb.out
}

gcc_same_object() {
	need gcc
	compile_both
	cd "$tap_tmp/gcc"
	cmp glibc.o sb.o
}

gxx_compiles() {
	need g++
	cat >map.cc <<'EOF'
#include <iostream>
#include <map>
#include <string>
#include <vector>

int main()
{
	std::map<std::string, std::vector<int>> m;
	for (int i = 0; i < 50000; i++)
		m["key" + std::to_string(i % 997)].push_back(i);
	std::string joined;
	long sum = 0;
	for (const auto &kv : m) {
		joined += kv.first.substr(3) + ",";
		for (int v : kv.second)
			sum += v;
	}
	m.erase(m.begin(), m.find("key5"));
	std::cout << m.size() << " " << joined.size() << " " << sum << std::endl;
	return 0;
}
EOF
	sb_run g++ -O2 -std=c++17 map.cc -o map 2>err || { cat err; return 1; }
	check_quiet err
	# keys key0..key996, sorted as strings: "key5" is preceded by key0..key4
	# and every key starting with 1..4 (key1, key10..key19, key100..key199,
	# ...): 1 + 4 * (1 + 10 + 100) = 445; digits of 0..996 plus one comma
	# each: 10 + 180 + 2691 + 997; 0 + ... + 49999.
	check_eq "entries left, joined length, sum" "552 3878 1249975000" "$(./map)"
}

compilers_are_served() {
	need gcc g++
	printf 'int main(void) { return 0; }\n' >tiny.c
	printf 'int main() { return 0; }\n' >tiny.cc
	sb_serves gcc gcc -c tiny.c -o tiny.o
	sb_serves cc1 gcc -c tiny.c -o tiny.o
	sb_serves as gcc -c tiny.c -o tiny.o
	sb_serves 'ld(\.bfd)?' gcc tiny.c -o tiny
	sb_serves cc1plus g++ -c tiny.cc -o tinyxx.o
}

tap_plan 5
tap_test gcc_compiles_and_links_a_generated_4000_line_program_at_O2 gcc_compiles
tap_test program_compiled_under_sbmalloc_prints_the_right_results gcc_output_runs
tap_test gcc_object_code_is_identical_under_sbmalloc_and_glibc_malloc gcc_same_object
tap_test gxx_compiles_a_program_using_std_map_and_std_string gxx_compiles
tap_test gcc_cc1_as_ld_and_cc1plus_allocate_through_sbmalloc compilers_are_served
tap_done
