#!/bin/sh
# git works with sbmalloc preloaded: commits, history, fsck, gc.
. "${SBMALLOC_SRCDIR:-.}/tests/taplib.sh"

# No user or system configuration may change what git does here.
HOME="$tap_tmp"
GIT_CONFIG_NOSYSTEM=1
GIT_AUTHOR_DATE="2024-01-01T00:00:00Z"
GIT_COMMITTER_DATE="2024-01-01T00:00:00Z"
export HOME GIT_CONFIG_NOSYSTEM GIT_AUTHOR_DATE GIT_COMMITTER_DATE
unset GIT_DIR GIT_WORK_TREE GIT_INDEX_FILE GIT_OBJECT_DIRECTORY 2>/dev/null || true

repo="$tap_tmp/repo"

# The later test points need the repository the first one made.
have_repo() {
	need git
	if [ ! -d "$repo/.git" ]; then
		echo "no repository: the first test point failed"
		return 1
	fi
}

sb_git() {
	sb_run git -C "$repo" "$@"
}

# The repository of two commits that the later test points inspect.
two_commits() {
	need git
	sb_run git init -q "$repo"
	sb_git config user.name "sbmalloc test"
	sb_git config user.email "test@example.invalid"
	sb_git config gc.auto 0
	mkdir -p "$repo/dir1" "$repo/dir2"
	i=0
	while [ $i -lt 200 ]; do
		# 200 files of 1..20 KiB of numbered lines.
		seq -f "line %g of file $i" 1 $((i % 20 * 40 + 40)) >"$repo/dir$((i % 2 + 1))/file$i.txt"
		i=$((i + 1))
	done
	sb_git add .
	sb_git commit -q -m "first: 200 files"
	# Change every fourth file, delete one, add one.
	i=0
	while [ $i -lt 200 ]; do
		echo "changed $i" >>"$repo/dir$((i % 2 + 1))/file$i.txt"
		i=$((i + 4))
	done
	sb_git rm -q dir2/file1.txt
	echo new >"$repo/new.txt"
	sb_git add -A
	sb_git commit -q -m "second: 50 files changed"
	check_eq "commits in git log --oneline" "2" "$(sb_git log --oneline | wc -l | tr -d ' ')"
	check_eq "files in HEAD" "200" "$(sb_git ls-files | wc -l | tr -d ' ')"
}

diff_between_commits() {
	need git
	have_repo
	# 50 modified, 1 deleted, 1 added.
	check_eq "git diff --name-status HEAD~1 summary" "1 A
1 D
50 M" "$(sb_git diff --name-status HEAD~1 HEAD | cut -f1 | sort | uniq -c | awk '{ print $1, $2 }')"
	check_eq "git show HEAD:dir1/file4.txt | tail -n 1" "changed 4" "$(sb_git show HEAD:dir1/file4.txt | tail -n 1)"
	check_eq "lines of file 199 in HEAD~1" "$((199 % 20 * 40 + 40))" "$(sb_git show HEAD~1:dir2/file199.txt | wc -l | tr -d ' ')"
}

fsck_passes() {
	need git
	have_repo
	sb_git fsck --full --strict 2>err || { cat err; return 1; }
	check_quiet err
}

gc_packs() {
	need git
	have_repo
	sb_git gc --quiet --aggressive 2>err || { cat err; return 1; }
	check_quiet err
	sb_git count-objects -v >counts
	cat counts
	# All objects are in one pack now, none loose.
	grep -qx "count: 0" counts
	grep -qx "packs: 1" counts
	# 200 + 50 + 1 blobs, 3 + 3 trees, 2 commits.
	check_eq "objects in the pack" "in-pack: 259" "$(grep '^in-pack:' counts)"
	sb_git fsck --full --strict
	check_eq "git log --oneline after gc" "2" "$(sb_git log --oneline | wc -l | tr -d ' ')"
	sb_git show HEAD~1:dir1/file10.txt >file10
	seq -f "line %g of file 10" 1 440 | cmp - file10
}

git_is_served() {
	need git
	have_repo
	sb_serves git git -C "$repo" log --stat
	sb_serves git git -C "$repo" status --short
}

tap_plan 5
tap_test git_commits_200_files_then_changes_in_a_second_commit two_commits
tap_test git_diff_and_show_report_the_changes_between_commits diff_between_commits
tap_test git_fsck_finds_the_repository_sound fsck_passes
tap_test git_gc_packs_every_object_and_keeps_the_history gc_packs
tap_test git_allocates_through_sbmalloc git_is_served
tap_done
