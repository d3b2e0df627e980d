#!/bin/sh
# The manual pages of man/ (as configure made them, in the build tree):
# each renders without a warning (man -l, else groff), and each keeps up
# with the source: every page names every option of src/config.c's table
# (the SBMALLOC_* variables the library reads); sbmalloc(3) names the
# variables the library lets through in silence (config.c's tool_names),
# a tool's page the SBMALLOC_* variables its script names; no page names a
# variable that nothing reads; sbmalloc(3) names every function of
# <sbmalloc.h>, every name of sb_ctl() the header lists, every key of the
# statistics summary and every key of the JSON dump (src/stats.c); each
# tool's page names every option of its --help.  Each extraction from the
# source fails loudly when it finds nothing, so that a change in the shape
# of the source cannot turn a check into one that passes on nothing.
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

# The variables the library reads: the names of the rows of config.c's
# option table, `[O_X] = { "SBMALLOC_X", ...`.
library_variables() {
	sed -n 's/^[[:space:]]*\[O_[A-Z0-9_]*\][[:space:]]*=[[:space:]]*{[[:space:]]*"\(SBMALLOC_[A-Z0-9_]*\)".*/\1/p' \
		"$src/src/config.c" | sort -u
}

# The variables the library lets through without a warning: the strings of
# config.c's `tool_names[] = { ... };`.
silent_variables() {
	sed -n '/ tool_names\[\] = {/,/};/p' "$src/src/config.c" |
		grep -o '"SBMALLOC_[A-Z0-9_]*"' | tr -d '"' | sort -u
}

# The variables of $1 (a page) that are not the library's: for
# sbmalloc.3 the silent ones, for a tool's page those its script names.
own_variables() {
	case $1 in
	sbmalloc.3) silent_variables ;;
	*.1) variable_names <"$src/tools/${1%.1}" ;;
	esac
}

# The number of options config.h declares (SB_NR_OPTIONS), which the
# rows found must match.
option_count() {
	sed -n 's/^#define SB_NR_OPTIONS \([0-9][0-9]*\)$/\1/p' "$src/src/config.h"
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
	rows=$(wc -l <vars)
	nr=$(option_count)
	[ -n "$nr" ] || { echo "no #define SB_NR_OPTIONS in src/config.h"; return 1; }
	[ "$rows" -eq "$nr" ] ||
		{ echo "$rows rows [O_...] = { \"SBMALLOC_...\" in src/config.c, SB_NR_OPTIONS $nr:"; cat vars; return 1; }
	missing=
	for p in $pages; do
		page_text "$p" | variable_names >named
		for v in $(cat vars); do
			grep -qx "$v" named || missing="$missing $p:$v"
		done
	done
	check_eq "variables of the option table a page does not name" "" "$missing"
}

pages_name_their_own_variables() {
	silent_variables >silent
	grep -qx SBMALLOC_LIB silent ||
		{ echo "no SBMALLOC_LIB in src/config.c's tool_names:"; cat silent; return 1; }
	missing=
	for p in $pages; do
		page_text "$p" | variable_names >named
		own_variables "$p" >own
		for v in $(cat own); do
			grep -qx "$v" named || missing="$missing $p:$v"
		done
	done
	check_eq "variables proper to a page (sbmalloc.3: let through; a tool's: its script's) it does not name" \
		"" "$missing"
}

pages_name_no_unknown_variable() {
	{
		library_variables
		silent_variables
		# The tools' own (SBMALLOC_LIB) and the header's macros.
		cat "$src/tools/sbmalloc-run" "$src/tools/sbstat" "$src/tools/sbtop" | variable_names
		grep -o '#define SBMALLOC_[A-Z0-9_]*' "$build/include/sbmalloc.h" | sed 's/^#define //'
	} | sort -u >known
	grep -qx SBMALLOC_HUGEPAGES known && grep -qx SBMALLOC_VERSION known ||
		{ echo "the known variables lack SBMALLOC_HUGEPAGES or SBMALLOC_VERSION:"; cat known; return 1; }
	unknown=
	for p in $pages; do
		for v in $(page_text "$p" | variable_names); do
			grep -qx "$v" known || unknown="$unknown $p:$v"
		done
	done
	check_eq "variables named in a page but read by nothing" "" "$unknown"
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

# sb_ctl's names: the quoted "opt.*", "stats.*" and "version" of the
# header's comment (tests/unit/config and tests/api/options hold the
# header to the code).
sbmalloc_3_names_every_ctl_name() {
	grep -o '"\(opt\.[a-z_]*\|stats\.[a-z_]*\|version\)"' "$build/include/sbmalloc.h" |
		tr -d '"' | sort -u >names
	grep -qx opt.dirty_max names && grep -qx stats.allocated names && grep -qx version names ||
		{ echo "the names of sb_ctl not found in include/sbmalloc.h:"; cat names; return 1; }
	page_words sbmalloc.3 >words
	missing=
	for n in $(cat names); do
		grep -qwF -- "$n" words || missing="$missing $n"
	done
	check_eq "names of sb_ctl() in <sbmalloc.h> not in sbmalloc(3)" "" "$missing"
}

# The summary's keys: dump() in stats.c gathers every figure once, each
# with C("key", ...) (a per-call counter) or S("key", ...) (the state),
# for the text and the JSON writers alike.
sbmalloc_3_names_every_summary_key() {
	sed -n 's/^[[:space:]]*[CS]("\([a-z0-9_]*\)",.*/\1/p' "$src/src/stats.c" | sort -u >keys
	[ -s keys ] || { echo "no C(\"key\", ...) or S(\"key\", ...) line in src/stats.c"; return 1; }
	grep -qx mapped_bytes keys && grep -qx malloc keys ||
		{ echo "the summary keys of src/stats.c lack mapped_bytes or malloc:"; cat keys; return 1; }
	page_words sbmalloc.3 >words
	missing=
	for k in $(cat keys); do
		grep -qw -- "$k" words || missing="$missing $k"
	done
	check_eq "summary keys of the dump not in sbmalloc(3)" "" "$missing"
}

# The other keys of the JSON dump: those its writers in stats.c name with
# out_json_key(o, "key") or json_u64_field(o, "key", ...), or write inside
# a string, as "{\"format_version\": ".
sbmalloc_3_names_every_key_of_the_json_dump() {
	{
		grep -o '\(out_json_key\|json_u64_field\)(o, "[a-z0-9_]*"' "$src/src/stats.c" |
			sed 's/.*"\(.*\)"$/\1/'
		grep -o '\\"[a-z0-9_]*\\": ' "$src/src/stats.c" | sed 's/^\\"\(.*\)\\": $/\1/'
	} | sort -u >keys
	grep -qx format_version keys && grep -qx buddyinfo keys && grep -qx thp_bytes keys ||
		{ echo "the keys of the JSON dump in src/stats.c lack format_version, buddyinfo or thp_bytes:"
		  cat keys; return 1; }
	page_words sbmalloc.3 >words
	missing=
	for k in $(cat keys); do
		grep -qw -- "$k" words || missing="$missing $k"
	done
	check_eq "keys of the JSON dump not in sbmalloc(3)" "" "$missing"
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

tap_plan 14
for p in $pages; do
	tap_test "${p}_renders_without_warnings" renders_without_warnings "$p"
done
tap_test every_page_names_every_variable_the_library_reads pages_name_every_library_variable
tap_test each_page_names_the_variables_proper_to_it pages_name_their_own_variables
tap_test no_page_names_a_variable_nothing_reads pages_name_no_unknown_variable
tap_test sbmalloc_3_names_every_function_of_sbmalloc_h sbmalloc_3_names_every_function_of_the_header
tap_test sbmalloc_3_names_every_name_of_sb_ctl sbmalloc_3_names_every_ctl_name
tap_test sbmalloc_3_names_every_key_of_the_statistics_summary sbmalloc_3_names_every_summary_key
tap_test sbmalloc_3_names_every_key_of_the_json_dump sbmalloc_3_names_every_key_of_the_json_dump
tap_test sbmalloc_run_1_names_every_option_of_its_help tool_page_names_every_option sbmalloc-run
tap_test sbstat_1_names_every_option_of_its_help tool_page_names_every_option sbstat python3
tap_test sbtop_1_names_every_option_of_its_help tool_page_names_every_option sbtop python3
tap_done
