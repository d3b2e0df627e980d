#!/bin/sh
# The sqlite3 shell works with sbmalloc preloaded: bulk inserts, grouped and
# ordered queries, index creation, integrity checks.
. "${SBMALLOC_SRCDIR:-.}/tests/taplib.sh"

db="$tap_tmp/test.db"

# The later test points need the database the first one made.
have_db() {
	if [ ! -f "$db" ]; then
		echo "no database: the first test point failed"
		return 1
	fi
}

sq() {
	sb_run sqlite3 -batch -bail "$db" "$@"
}

insert_rows() {
	need sqlite3
	# 100000 rows through a recursive CTE, in one transaction, with a large
	# page cache so that sqlite's own allocations grow.
	sq "PRAGMA cache_size = -65536;
	CREATE TABLE t(id INTEGER PRIMARY KEY, grp INTEGER, name TEXT, payload BLOB);
	WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 100000)
	INSERT INTO t SELECT x, x % 7, printf('name-%06d', (x * 7919) % 100003), zeroblob(x % 300) FROM n;" 2>err ||
		{ cat err; return 1; }
	check_quiet err
	check_eq "count(*), sum(id), sum(length(payload))" "100000|5000050000|14940100" \
		"$(sq 'SELECT count(*), sum(id), sum(length(payload)) FROM t;')"
}

group_by_query() {
	need sqlite3 seq awk sort
	have_db
	sq "SELECT grp, count(*), sum(id), max(name) FROM t GROUP BY grp ORDER BY sum(id) DESC, grp;" >got 2>err ||
		{ cat err; return 1; }
	check_quiet err
	# The same aggregation computed by awk, without sqlite.
	seq 1 100000 | awk '{
		g = $1 % 7; c[g]++; s[g] += $1
		n = sprintf("name-%06d", ($1 * 7919) % 100003)
		if (n > m[g]) m[g] = n
	} END { for (g = 0; g < 7; g++) printf "%d|%d|%.0f|%s\n", g, c[g], s[g], m[g] }' |
		sort -t '|' -k3,3nr -k1,1n >want
	diff want got
}

index_creation() {
	need sqlite3
	have_db
	sq "CREATE INDEX t_name ON t(name); CREATE INDEX t_grp_name ON t(grp, name);" 2>err || { cat err; return 1; }
	check_quiet err
	check_eq "PRAGMA integrity_check" "ok" "$(sq 'PRAGMA integrity_check;')"
	sq "EXPLAIN QUERY PLAN SELECT id FROM t WHERE name = 'name-000042';" >plan
	cat plan
	grep -q "USING COVERING INDEX t_name\|USING INDEX t_name" plan
	# (x * 7919) % 100003 = 42 for exactly one x <= 100000.
	check_eq "rows found through the index" "1" "$(sq "SELECT count(*) FROM t WHERE name = 'name-000042';")"
	check_eq "rows of group 3 between two names, through the index" \
		"$(sq "SELECT count(*) FROM t NOT INDEXED WHERE grp = 3 AND name BETWEEN 'name-010000' AND 'name-020000';")" \
		"$(sq "SELECT count(*) FROM t INDEXED BY t_grp_name WHERE grp = 3 AND name BETWEEN 'name-010000' AND 'name-020000';")"
}

update_and_vacuum() {
	need sqlite3 seq awk
	have_db
	sq "UPDATE t SET payload = zeroblob(1000) WHERE id % 10 = 0; DELETE FROM t WHERE grp = 0; VACUUM;" 2>err ||
		{ cat err; return 1; }
	check_quiet err
	# 100000 - 14285 rows left; of the 10000 payloads of 1000 bytes, the
	# 1428 with an id divisible by 70 were deleted.
	check_eq "rows, updated payload bytes" "85715|8572000" \
		"$(sq 'SELECT count(*), sum(length(payload)) FILTER (WHERE id % 10 = 0) FROM t;')"
	check_eq "bytes of the payloads left as they were" \
		"$(seq 1 100000 | awk '$1 % 10 && $1 % 7 { s += $1 % 300 } END { printf "%.0f\n", s }')" \
		"$(sq 'SELECT sum(length(payload)) FROM t WHERE id % 10 != 0;')"
	check_eq "PRAGMA integrity_check after vacuum" "ok" "$(sq 'PRAGMA integrity_check;')"
}

sqlite_is_served() {
	need sqlite3
	sb_serves '(sqlite3|libsqlite3\.so[.0-9]*)' sqlite3 :memory: "CREATE TABLE x(a); INSERT INTO x VALUES (randomblob(5000)); SELECT count(*) FROM x;"
}

tap_plan 5
tap_test sqlite3_inserts_100000_rows_from_a_recursive_cte insert_rows
tap_test sqlite3_group_by_order_by_query_returns_the_known_aggregates group_by_query
tap_test sqlite3_creates_indexes_that_answer_queries_correctly index_creation
tap_test sqlite3_update_delete_and_vacuum_keep_the_database_sound update_and_vacuum
tap_test sqlite3_allocates_through_sbmalloc sqlite_is_served
tap_done
