-- bench/real/sqlite.sql - the sqlite3 case of bench/run.py: insert and
-- query a few hundred thousand rows in an in-memory database, so that every
-- page of the database, the page cache and the sorter's buffers come from
-- the allocator under test.
--
--   sqlite3 -batch -bail :memory: -cmd '.parameter set @n 300000' < sqlite.sql
--
-- @n is the number of rows.  Prints a few lines of results that do not
-- depend on the allocator (the runner compares them across allocators).
PRAGMA cache_size = -262144;
CREATE TABLE t(id INTEGER PRIMARY KEY, grp INTEGER, name TEXT, payload BLOB);
BEGIN;
WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < @n)
INSERT INTO t SELECT x, x % 97, printf('name-%08d', (x * 7919) % 1000003),
	zeroblob(x % 200) FROM n;
COMMIT;
-- An index built by sorting every row, then lookups through it.
CREATE INDEX t_name ON t(name);
SELECT count(*), sum(id), sum(length(payload)) FROM t;
SELECT grp, count(*), sum(length(name)) FROM t GROUP BY grp ORDER BY grp LIMIT 3;
SELECT count(*) FROM t WHERE name BETWEEN 'name-00100000' AND 'name-00300000';
-- A sort that does not fit an index, and a self-join through the index.
SELECT sum(x) FROM (SELECT id % 1000 AS x FROM t ORDER BY payload, name LIMIT 1000);
SELECT count(*) FROM t a JOIN t b ON b.name = a.name WHERE a.grp = 5;
-- Update and delete a quarter of the rows, then vacuum the in-memory file.
UPDATE t SET payload = zeroblob(length(payload) + 16) WHERE id % 4 = 0;
DELETE FROM t WHERE id % 4 = 1;
VACUUM;
SELECT count(*), sum(length(payload)) FROM t;
