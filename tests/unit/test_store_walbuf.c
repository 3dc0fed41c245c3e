/* The WAL write-combining VFS (store/walbuf.c, docs/performance.md "Writing the WAL"),
 * where it could lose or corrupt data: every frame of a commit is in the file when
 * COMMIT returns (another connection, on SQLite's plain unix VFS, reads it through the
 * file and checks it); a process killed at any moment keeps exactly what it committed,
 * also after a transaction that spilled pages and rewrote them (SQLite then rewrites
 * frame checksums in place), and after the log started over. Kills are a child process
 * that _exits without closing; the parent recovers the database, which re-checks every
 * frame's checksum. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store/internal.h"
#include "tmpdb.h"

static tmpdb db_file;

static void setup(void) {
  store__sqlite_setup();
  tmpdb_make(&db_file, "store_walbuf");
}

static void teardown(void) { tmpdb_remove(&db_file); }

TestSuite(store_walbuf, .init = setup, .fini = teardown, .timeout = 60);

static void exec(sqlite3 *db, const char *sql) {
  char *err = NULL;
  cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, &err), SQLITE_OK, "%s: %s", sql, err ? err : "");
}

/* A connection with the store's settings; vfs NULL is the default (the write-combining
 * one once store__sqlite_setup ran), "unix" SQLite's own. No automatic checkpoint: the
 * tests decide when the log starts over. */
static sqlite3 *open_db(const char *vfs) {
  sqlite3 *db = NULL;
  cr_assert_eq(sqlite3_open_v2(db_file.path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, vfs), SQLITE_OK);
  exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA wal_autocheckpoint=0;"
           "CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, b BLOB NOT NULL)");
  return db;
}

static long long one(sqlite3 *db, const char *sql) {
  sqlite3_stmt *st;
  cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK, "%s", sqlite3_errmsg(db));
  cr_assert_eq(sqlite3_step(st), SQLITE_ROW, "%s: %s", sql, sqlite3_errmsg(db));
  long long v = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  return v;
}

static void intact(sqlite3 *db) {
  sqlite3_stmt *st;
  cr_assert_eq(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL), SQLITE_OK);
  cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
  cr_assert_str_eq((const char *)sqlite3_column_text(st, 0), "ok");
  sqlite3_finalize(st);
}

/* Commits of several pages each (3000-byte rows), one per statement. */
static void commits(sqlite3 *db, int n) {
  for (int i = 0; i < n; i++) exec(db, "INSERT INTO t (b) VALUES (randomblob(3000))");
}

/* One transaction that outgrows a two-page cache (its pages spill into the log before
 * COMMIT) and then changes every row again (pages already in the log are overwritten in
 * place, and SQLite rewrites the checksums that follow them). */
static void spilling_transaction(sqlite3 *db, bool commit) {
  exec(db, "PRAGMA cache_size=2; BEGIN");
  for (int i = 0; i < 60; i++) exec(db, "INSERT INTO t (b) VALUES (randomblob(3000))");
  exec(db, "UPDATE t SET b = randomblob(3000) WHERE id % 2 = 0");
  if (commit) exec(db, "COMMIT");
}

/* Run fn in a child that then dies without closing anything (as kill -9 would leave
 * it), then recover the database with SQLite's own VFS: it must hold exactly rows rows
 * and pass its integrity check. */
static void after_killed_child(void (*fn)(void), long long rows) {
  pid_t pid = fork();
  cr_assert_geq(pid, 0);
  if (pid == 0) {
    fn();
    _exit(0);
  }
  int status;
  cr_assert_eq(waitpid(pid, &status, 0), pid);
  cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child failed (status %d)", status);
  sqlite3 *db = open_db("unix");
  cr_assert_eq(one(db, "SELECT count(*) FROM t"), rows);
  intact(db);
  sqlite3_close(db);
}

Test(store_walbuf, the_default_vfs_is_the_write_combining_one) {
  sqlite3_vfs *v = sqlite3_vfs_find(NULL);
  cr_assert_not_null(v);
  cr_assert_str_eq(v->zName, "nrfprov-walbuf");
}

Test(store_walbuf, every_frame_of_a_commit_is_in_the_file_when_commit_returns) {
  sqlite3 *db = open_db(NULL), *plain = open_db("unix");
  for (int i = 1; i <= 120; i++) {
    commits(db, 1);
    /* plain reads the frames through the file: one still gathered in db's buffer would
     * be missing or stale, and its checksum or the rows would be wrong. */
    cr_assert_eq(one(plain, "SELECT count(*) FROM t"), i);
    if (i % 40 == 0) intact(plain);
  }
  spilling_transaction(db, true);
  cr_assert_eq(one(plain, "SELECT count(*) FROM t"), 180);
  intact(plain);
  sqlite3_close(plain);
  sqlite3_close(db);
}

static void child_commits_then_dies_mid_transaction(void) {
  sqlite3 *db = open_db(NULL);
  commits(db, 100);
  spilling_transaction(db, false); /* never committed */
}

Test(store_walbuf, a_killed_process_keeps_what_it_committed_and_nothing_else) {
  after_killed_child(child_commits_then_dies_mid_transaction, 100);
}

static void child_spills_rewrites_commits_then_dies(void) {
  sqlite3 *db = open_db(NULL);
  commits(db, 10);
  spilling_transaction(db, true); /* and nothing after it that could write what it left */
}

Test(store_walbuf, a_commit_whose_checksums_were_rewritten_survives_a_kill) {
  /* Recovery re-checks every frame's checksum and stops at the first wrong one: a
   * rewritten checksum that never reached the file would drop the commit. */
  after_killed_child(child_spills_rewrites_commits_then_dies, 70);
}

static void child_restarts_the_log_then_dies(void) {
  sqlite3 *db = open_db(NULL);
  commits(db, 30);
  exec(db, "PRAGMA wal_checkpoint(RESTART)"); /* every frame copied: the next commit starts the log over */
  commits(db, 20);
  exec(db, "PRAGMA wal_checkpoint(PASSIVE)");
  commits(db, 7);
}

Test(store_walbuf, commits_after_the_log_started_over_survive_a_kill) {
  after_killed_child(child_restarts_the_log_then_dies, 57);
}
