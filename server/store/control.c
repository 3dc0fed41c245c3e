/* SQL of the control API: snapshot, restore, metrics counts, team lookups.
 *
 * VACUUM and the backup API refuse to run inside a transaction, yet the store lock is
 * only ever taken together with one (store_begin). The transaction store_begin opened has
 * read and written nothing when these run, so they end it, do their work on the bare
 * connection still under the lock, and open a fresh one for store_end to close. */
#include "control.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int run(store *s, const char *sql) {
  return sqlite3_exec(store__db(s), sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

int store_snapshot(store *s, const char *path, char *why, size_t whysz) {
  struct stat st;
  if (stat(path, &st) == 0) return snprintf(why, whysz, "%s already exists; snapshots never overwrite a file", path), -2;
  if (run(s, "COMMIT")) return snprintf(why, whysz, "%s", sqlite3_errmsg(store__db(s))), -1;
  sqlite3_stmt *v = store__stmt(s, "VACUUM INTO ?1");
  sqlite3_bind_text(v, 1, path, -1, SQLITE_STATIC);
  int rc = sqlite3_step(v) == SQLITE_DONE ? 0 : -2;
  if (rc) snprintf(why, whysz, "cannot write %s: %s", path, sqlite3_errmsg(store__db(s)));
  sqlite3_reset(v);
  if (run(s, "BEGIN")) return snprintf(why, whysz, "%s", sqlite3_errmsg(store__db(s))), -1;
  return rc;
}

/* The schema version of an open database, or -1 when it is not a readable database. */
static int user_version(sqlite3 *db) {
  sqlite3_stmt *st;
  int v = -1;
  if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK) return -1;
  if (sqlite3_step(st) == SQLITE_ROW) v = sqlite3_column_int(st, 0);
  sqlite3_finalize(st);
  return v;
}

int store_restore(store *s, const char *path, char *why, size_t whysz) {
  if (access(path, R_OK)) return snprintf(why, whysz, "cannot read %s: %s", path, strerror(errno)), -2;
  sqlite3 *src = NULL;
  int rc = 0;
  if (sqlite3_open_v2(path, &src, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
    snprintf(why, whysz, "cannot open %s: %s", path, src ? sqlite3_errmsg(src) : "out of memory");
    sqlite3_close(src);
    return -2;
  }
  int version = user_version(src);
  if (version < 0) {
    snprintf(why, whysz, "%s is not an SQLite database", path);
    rc = -2;
  } else if (version != STORE_SCHEMA_VERSION) {
    snprintf(why, whysz, "%s has schema version %d; this build restores only version %d%s", path, version,
             STORE_SCHEMA_VERSION, version > STORE_SCHEMA_VERSION ? " (it was written by a newer nrfprov-mock)" : "");
    rc = -2;
  }
  if (rc) {
    sqlite3_close(src);
    return rc;
  }
  if (run(s, "COMMIT")) {
    snprintf(why, whysz, "%s", sqlite3_errmsg(store__db(s)));
    sqlite3_close(src);
    return -1;
  }
  sqlite3_backup *b = sqlite3_backup_init(store__db(s), "main", src, "main");
  if (!b || sqlite3_backup_step(b, -1) != SQLITE_DONE) rc = -1;
  if (b && sqlite3_backup_finish(b) != SQLITE_OK) rc = -1;
  if (rc) snprintf(why, whysz, "cannot restore from %s: %s", path, sqlite3_errmsg(store__db(s)));
  sqlite3_close(src);
  /* Every row may have changed behind the counters' back: caches keyed on the
   * generation must not trust anything they learned before. */
  store_bump_epoch(s);
  if (run(s, "BEGIN")) return snprintf(why, whysz, "%s", sqlite3_errmsg(store__db(s))), -1;
  return rc;
}

int store_command_counts(store *s, void (*fn)(const char *status, int64_t n, void *ud), void *ud) {
  sqlite3_stmt *st = store__stmt(s, "SELECT status, count(*) FROM commands GROUP BY status ORDER BY status");
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) fn((const char *)sqlite3_column_text(st, 0), sqlite3_column_int64(st, 1), ud);
  return rc == SQLITE_DONE ? 0 : -1;
}

int store_db_size(store *s, int64_t *bytes) {
  sqlite3_stmt *st = store__stmt(s, "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()");
  if (sqlite3_step(st) != SQLITE_ROW) return -1;
  *bytes = sqlite3_column_int64(st, 0);
  return 0;
}

int store_device_team_key(store *s, const char *device_id, char *key, size_t n) {
  sqlite3_stmt *st = store__stmt(s, "SELECT t.api_key FROM claims c JOIN teams t ON t.id = c.team_id WHERE c.device_id = ?1");
  sqlite3_bind_text(st, 1, device_id, -1, SQLITE_STATIC);
  int rc = store__row(st);
  if (rc) return rc;
  snprintf(key, n, "%s", (const char *)sqlite3_column_text(st, 0));
  return 0;
}

int store_team_set_name(store *s, int64_t team_id, const char *name) {
  sqlite3_stmt *st = store__stmt(s, "UPDATE teams SET name = ?2 WHERE id = ?1");
  sqlite3_bind_int64(st, 1, team_id);
  if (name) sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
  return sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
}
