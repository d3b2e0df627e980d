#!/bin/sh
# The manual pages of man/ (as configure made them, in the build tree):
# each renders without a warning (man -l, else groff), and each keeps up
# with the source: every page names every SBMALLOC_* variable that
# src/config.c and src/stats.c read, and no variable that nothing reads
# (unless a roff comment marks it "issue13-pending", work not merged yet);
# sbmalloc(3) names every function of <sbmalloc.h> and every key of the
# statistics summary; each tool's page names every option of its --help.
. "${SBMALLOC_SRCDIR:-.}/tests/taplib.sh"

src=$SBMALLOC_SRCDIR
build=$SBMALLOC_BUILDDIR
pages="sbmalloc.3 sbmalloc-run.1 sbstat.1 sbtop.1"

# The source of page $1 without its comments (.\" lines, trailing \").
page_text() {
	sed -e '/^\.\\"/d' -e 's/\\".*$//' "$build/man/$1"
}

# What page $1 says, as words: roff's \- is a hyphen, font changes go.
page_words() {
	page_text "$1" | sed -e 's/\\-/-/g' -e 's/\\f[BIRP]//g'
}

# The SBMALLOC_* names a text on stdin mentions, one a line.
variable_names() {
	grep -o 'SBMALLOC_[A-Z0-9][A-Z0-9_]*' | sort -u
}

# The variables the library reads: the quoted names in config.c and
# stats.c (with env("SBMALLOC_...") or an option table alike).
library_variables() {
	cat "$src/src/config.c" "$src/src/stats.c" | grep -o '"SBMALLOC_[A-Z0-9_]*"' | tr -d '"' |
		sort -u
}

# A UTF-8 locale for man if there is one (C.UTF-8 renders the page as a
# terminal would), else C.
render_locale() {
	if locale -a 2>/dev/null | grep -Eqix 'c\.utf-?8'; then
		echo C.UTF-8
	else
		echo C
	fi
}

renders_without_warnings() {
	page=$build/man/$1
	[ -f "$page" ] || { echo "$page not made by configure"; return 1; }
	if command -v man >/dev/null 2>&1; then
		LC_ALL=$(render_locale) MANWIDTH=80 man --warnings=w -l "$page" >out 2>err
	elif command -v groff >/dev/null 2>&1; then
		groff -man -Tutf8 -ww -P-cbou "$page" >out 2>err
	else
		echo "neither man nor groff installed"
		exit 77
	fi
	check_quiet err
	# It rendered this page: the heading names it, e.g. SBMALLOC-RUN(1).
	title=$(echo "$1" | sed 's/\.\([0-9]\)$/(\1)/' | tr 'a-z' 'A-Z')
	head -n 1 out | grep -qF "$title" || { echo "first line is not $title:"; head -n 3 out; return 1; }
	grep -q '^NAME' out
	grep -q '^DESCRIPTION' out
}

pages_name_every_library_variable() {
	library_variables >vars
	[ -s vars ] || { echo "no \"SBMALLOC_...\" name found in src/config.c or src/stats.c"; return 1; }
	missing=
	for p in $pages; do
		page_text "$p" | variable_names >named
		for v in $(cat vars); do
			grep -qx "$v" named || missing="$missing $p:$v"
		done
	done
	check_eq "variables a page does not name" "" "$missing"
}

pages_name_no_unknown_variable() {
	{
		library_variables
		# The tools' own (SBMALLOC_LIB) and the header's macros.
		cat "$src/tools/sbmalloc-run" "$src/tools/sbstat" "$src/tools/sbtop" | variable_names
		grep -o '#define SBMALLOC_[A-Z0-9_]*' "$build/include/sbmalloc.h" | sed 's/^#define //'
	} | sort -u >known
	unknown=
	for p in $pages; do
		grep '^\.\\" issue13-pending' "$build/man/$p" | variable_names >pending
		for v in $(page_text "$p" | variable_names); do
			grep -qx "$v" known || grep -qx "$v" pending || unknown="$unknown $p:$v"
		done
	done
	check_eq "variables named in a page but read by nothing (nor marked issue13-pending)" "" \
		"$unknown"
}

sbmalloc_3_names_every_function_of_the_header() {
	sed -n 's/^[A-Za-z_][A-Za-z0-9_ ]*[ *]\([a-z_][a-z0-9_]*\)(.*/\1/p' \
		"$build/include/sbmalloc.h" | sort -u >functions
	grep -qx sb_version functions || { echo "no sb_version in the functions found:"; cat functions; return 1; }
	missing=
	for f in $(cat functions); do
		page_words sbmalloc.3 | grep -qF "$f(" || missing="$missing $f"
	done
	check_eq "functions of <sbmalloc.h> without a prototype in sbmalloc(3)" "" "$missing"
}

sbmalloc_3_names_every_summary_key() {
	grep -o 'kv\(_pct\)\{0,1\}(&o, "[a-z0-9_]*"' "$src/src/stats.c" | sed 's/.*"\(.*\)"$/\1/' |
		sort -u >keys
	grep -qx mapped_bytes keys || { echo "the summary keys of src/stats.c not found:"; cat keys; return 1; }
	missing=
	for k in $(cat keys); do
		page_words sbmalloc.3 | grep -qw "$k" || missing="$missing $k"
	done
	check_eq "summary keys of the dump not in sbmalloc(3)" "" "$missing"
}

# tool_page_names_every_option TOOL [INTERPRETER]: every -x and --xyz of
# TOOL --help is in TOOL's page.
tool_page_names_every_option() {
	tool=$1
	shift
	if [ $# -gt 0 ]; then
		need "$1"
	fi
	"$@" "$src/tools/$tool" --help >help
	grep -oE '(^|[] [,])--?[a-z][a-z-]*' help | sed 's/^[] [,]*//' | sort -u >options
	grep -qx -- --help options || { echo "no --help among the options of $tool --help:"; cat options; return 1; }
	missing=
	for o in $(cat options); do
		page_words "$tool.1" | grep -qF -- "$o" || missing="$missing $o"
	done
	check_eq "options of $tool --help not in $tool(1)" "" "$missing"
}

tap_plan 11
for p in $pages; do
	tap_test "${p}_renders_without_warnings" renders_without_warnings "$p"
done
tap_test every_page_names_every_variable_the_library_reads pages_name_every_library_variable
tap_test no_page_names_a_variable_nothing_reads pages_name_no_unknown_variable
tap_test sbmalloc_3_names_every_function_of_sbmalloc_h sbmalloc_3_names_every_function_of_the_header
tap_test sbmalloc_3_names_every_key_of_the_statistics_summary sbmalloc_3_names_every_summary_key
tap_test sbmalloc_run_1_names_every_option_of_its_help tool_page_names_every_option sbmalloc-run
tap_test sbstat_1_names_every_option_of_its_help tool_page_names_every_option sbstat python3
tap_test sbtop_1_names_every_option_of_its_help tool_page_names_every_option sbtop python3
tap_done
