/* SQL of the control API: snapshot, restore, metrics counts, team lookups.
 *
 * A snapshot is a copy of the pages taken under the store lock (sqlite3_serialize),
 * written out with VACUUM INTO from a private connection after the lock is released. A
 * restore reads the file once into a private connection, checks it there (integrity,
 * schema version, every table and column, foreign keys) without the lock, and only then
 * copies it into the live database with the backup API under the lock.
 *
 * The backup API refuses to run inside a transaction, yet the store lock is only ever
 * taken together with one (store_begin). The transaction store_begin opened has read and
 * written nothing when it runs, so it ends it, does its work on the bare connection still
 * under the lock, and opens a fresh one for store_end to close. */
#include "control.h"

#include "store/status.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

static int run(store *s, const char *sql) {
  return sqlite3_exec(store__db(s), sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

/* A serialised image is loaded into a private in-memory connection, which cannot run a
 * write-ahead log: mark the image as a rollback-journal database (file format bytes 18
 * and 19, "1" = legacy, "2" = WAL). */
static void image_unwal(unsigned char *image, sqlite3_int64 size) {
  if (size >= 100 && image[18] == 2 && image[19] == 2) image[18] = image[19] = 1;
}

/* A private in-memory connection over image (taken over, sqlite3_malloc'd). */
static int open_image(unsigned char *image, sqlite3_int64 size, sqlite3 **out, char *why, size_t whysz) {
  sqlite3 *db = NULL;
  *out = NULL;
  if (sqlite3_open_v2(":memory:", &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
    sqlite3_free(image);
    sqlite3_close(db);
    return snprintf(why, whysz, "out of memory"), -1;
  }
  image_unwal(image, size);
  if (sqlite3_deserialize(db, "main", image, size, size, SQLITE_DESERIALIZE_FREEONCLOSE | SQLITE_DESERIALIZE_RESIZEABLE) !=
      SQLITE_OK) {
    snprintf(why, whysz, "%s", sqlite3_errmsg(db));
    sqlite3_close(db);
    return -1;
  }
  *out = db;
  return 0;
}

int store_snapshot_image(store *s, unsigned char **image, int64_t *size) {
  sqlite3_int64 n = 0;
  *image = sqlite3_serialize(store__db(s), "main", &n, 0);
  *size = n;
  return *image ? 0 : -1;
}

int store_image_write(unsigned char *image, int64_t size, const char *path, char *why, size_t whysz) {
  sqlite3 *db;
  if (open_image(image, size, &db, why, whysz)) return -1;
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(db, "VACUUM INTO ?1", -1, &st, NULL) == SQLITE_OK &&
                   sqlite3_bind_text(st, 1, path, -1, SQLITE_STATIC) == SQLITE_OK && sqlite3_step(st) == SQLITE_DONE
               ? 0 : -1;
  if (rc) snprintf(why, whysz, "cannot write %s: %s", path, sqlite3_errmsg(db));
  sqlite3_finalize(st);
  sqlite3_close(db);
  return rc;
}

/* One text value of a one-row query on db, into out; -1 when the query fails. */
static int query_text(sqlite3 *db, const char *sql, char *out, size_t n) {
  sqlite3_stmt *st;
  int rc = -1;
  if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) return -1;
  if (sqlite3_step(st) == SQLITE_ROW) {
    const unsigned char *t = sqlite3_column_text(st, 0);
    snprintf(out, n, "%s", t ? (const char *)t : "");
    rc = 0;
  }
  sqlite3_finalize(st);
  return rc;
}

/* The schema this build writes, made by the migrations in a fresh in-memory database
 * (not copied from the build-time image, which is checked against it this way): what a
 * snapshot is compared with. */
static int reference_schema(sqlite3 **out, char *why, size_t whysz) {
  sqlite3 *db = NULL;
  if (sqlite3_open_v2(":memory:", &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
    sqlite3_close(db);
    return snprintf(why, whysz, "out of memory"), -1;
  }
  if (store__migrate(db, ":memory:", why, whysz)) {
    sqlite3_close(db);
    return -1;
  }
  *out = db;
  return 0;
}

/* Every table and index the server uses is in cand, each table with its columns as the
 * reference declares them (name, type, NOT NULL, primary key position); cand holds no
 * trigger or view but the server's own, word for word (another would run code of the
 * file's author on the server's writes). */
static int check_schema(sqlite3 *ref, sqlite3 *cand, char *why, size_t whysz) {
  sqlite3_stmt *objs, *have;
  int rc = 0;
  /* A trigger or view must be one of the server's own, word for word. */
  sqlite3_stmt *mine;
  if (sqlite3_prepare_v2(cand, "SELECT type, name, sql FROM sqlite_schema WHERE type IN ('trigger', 'view')", -1, &have,
                         NULL) != SQLITE_OK ||
      sqlite3_prepare_v2(ref, "SELECT 1 FROM sqlite_schema WHERE type = ?1 AND name = ?2 AND sql = ?3", -1, &mine, NULL) !=
        SQLITE_OK) {
    sqlite3_finalize(have);
    return snprintf(why, whysz, "cannot read its schema: %s", sqlite3_errmsg(cand)), -1;
  }
  while (!rc && sqlite3_step(have) == SQLITE_ROW) {
    sqlite3_reset(mine);
    for (int i = 0; i < 3; i++) sqlite3_bind_text(mine, i + 1, (const char *)sqlite3_column_text(have, i), -1, SQLITE_TRANSIENT);
    if (sqlite3_step(mine) != SQLITE_ROW)
      rc = -1, snprintf(why, whysz, "it holds a %s (%.64s) this server does not define", sqlite3_column_text(have, 0),
                    sqlite3_column_text(have, 1));
  }
  sqlite3_finalize(have);
  sqlite3_finalize(mine);
  if (rc) return rc;
  if (sqlite3_prepare_v2(ref, "SELECT type, name FROM sqlite_schema WHERE name NOT LIKE 'sqlite_%' OR type = 'index' "
                              "ORDER BY CASE type WHEN 'table' THEN 0 WHEN 'index' THEN 1 ELSE 2 END, name", -1, &objs, NULL) != SQLITE_OK ||
      sqlite3_prepare_v2(cand, "SELECT 1 FROM sqlite_schema WHERE type = ?1 AND name = ?2", -1, &have, NULL) != SQLITE_OK) {
    return snprintf(why, whysz, "cannot read its schema: %s", sqlite3_errmsg(cand)), -1;
  }
  while (!rc && sqlite3_step(objs) == SQLITE_ROW) {
    const char *type = (const char *)sqlite3_column_text(objs, 0), *name = (const char *)sqlite3_column_text(objs, 1);
    sqlite3_reset(have);
    sqlite3_bind_text(have, 1, type, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(have, 2, name, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(have) != SQLITE_ROW) {
      rc = -1, snprintf(why, whysz, "%s %s is missing", type, name);
      break;
    }
    if (strcmp(type, "table")) continue;
    /* Each column of the reference table, looked up in the candidate's. */
    sqlite3_stmt *rcol, *ccol;
    if (sqlite3_prepare_v2(ref, "SELECT name, type, \"notnull\", pk FROM pragma_table_info(?1)", -1, &rcol, NULL) !=
            SQLITE_OK ||
        sqlite3_prepare_v2(cand, "SELECT type, \"notnull\", pk FROM pragma_table_info(?1) WHERE name = ?2", -1, &ccol,
                           NULL) != SQLITE_OK) {
      rc = -1, snprintf(why, whysz, "cannot read the columns of %s: %s", name, sqlite3_errmsg(cand));
      sqlite3_finalize(rcol);
      break;
    }
    sqlite3_bind_text(rcol, 1, name, -1, SQLITE_TRANSIENT);
    while (!rc && sqlite3_step(rcol) == SQLITE_ROW) {
      const char *col = (const char *)sqlite3_column_text(rcol, 0), *ctype = (const char *)sqlite3_column_text(rcol, 1);
      sqlite3_reset(ccol);
      sqlite3_bind_text(ccol, 1, name, -1, SQLITE_TRANSIENT);
      sqlite3_bind_text(ccol, 2, col, -1, SQLITE_TRANSIENT);
      if (sqlite3_step(ccol) != SQLITE_ROW)
        rc = -1, snprintf(why, whysz, "table %s has no column %s", name, col);
      else if (strcasecmp((const char *)sqlite3_column_text(ccol, 0), ctype) ||
               sqlite3_column_int(ccol, 1) != sqlite3_column_int(rcol, 2) ||
               sqlite3_column_int(ccol, 2) != sqlite3_column_int(rcol, 3))
        rc = -1, snprintf(why, whysz, "column %s.%s is not declared as this server declares it (%s%s)", name, col, ctype,
                      sqlite3_column_int(rcol, 2) ? " NOT NULL" : "");
    }
    sqlite3_finalize(rcol);
    sqlite3_finalize(ccol);
  }
  sqlite3_finalize(objs);
  sqlite3_finalize(have);
  return rc;
}

/* The number of stored statuses and count rows that disagree with the rows they
 * summarise (docs/performance.md): a snapshot whose lists would show wrong totals is
 * refused like any other damaged file. */
static const char summaries_disagree_sql[] =
  "SELECT (SELECT count(*) FROM claims c WHERE c.status != " STORE_CLAIM_STATUS_SQL ")"
  " + (SELECT count(*) FROM claim_tags ct JOIN claims c ON c.seq = ct.claim_seq"
  "    WHERE ct.status != c.status OR ct.blocked != c.blocked OR ct.device_type != c.device_type)"
  " + (SELECT count(*) FROM (SELECT team_id, status, blocked, device_type, n FROM claim_counts WHERE n != 0"
  "    EXCEPT SELECT team_id, status, blocked, device_type, count(*) FROM claims GROUP BY 1, 2, 3, 4))"
  " + (SELECT count(*) FROM (SELECT team_id, status, blocked, device_type, count(*) FROM claims GROUP BY 1, 2, 3, 4"
  "    EXCEPT SELECT team_id, status, blocked, device_type, n FROM claim_counts))"
  " + (SELECT count(*) FROM (SELECT team_id, tag, status, blocked, device_type, n FROM tag_counts WHERE n != 0"
  "    EXCEPT SELECT team_id, tag, status, blocked, device_type, count(*) FROM claim_tags GROUP BY 1, 2, 3, 4, 5))"
  " + (SELECT count(*) FROM (SELECT team_id, tag, status, blocked, device_type, count(*) FROM claim_tags"
  "    GROUP BY 1, 2, 3, 4, 5 EXCEPT SELECT team_id, tag, status, blocked, device_type, n FROM tag_counts))"
  " + (SELECT count(*) FROM (SELECT team_id, list, n FROM list_counts WHERE n != 0 EXCEPT SELECT * FROM ("
  "    SELECT team_id, 'rules', count(*) FROM rules GROUP BY 1 UNION ALL"
  "    SELECT team_id, 'tags', count(*) FROM tags GROUP BY 1 UNION ALL"
  "    SELECT team_id, 'devices', count(*) FROM devices GROUP BY 1)))";

/* Every check of docs/control-api.md §5 on the connection db; -1 with the reason. */
static int check_snapshot(sqlite3 *db, char *why, size_t whysz) {
  char text[256];
  if (query_text(db, "SELECT count(*) FROM sqlite_schema", text, sizeof text))
    return snprintf(why, whysz, "it is not an SQLite database (%s)", sqlite3_errmsg(db)), -1;
  if (query_text(db, "PRAGMA integrity_check(1)", text, sizeof text) || strcmp(text, "ok"))
    return snprintf(why, whysz, "it fails SQLite's integrity check: %s", *text ? text : sqlite3_errmsg(db)), -1;
  if (query_text(db, "PRAGMA user_version", text, sizeof text)) return snprintf(why, whysz, "no schema version"), -1;
  int version = atoi(text);
  if (version >= 1 && version < STORE_SCHEMA_VERSION) {
    /* An older build's snapshot is brought to this build's schema as a data directory is
     * at start-up, in this private copy, and then checked as one of this build's. */
    char mwhy[256];
    if (store__migrate(db, "snapshot", mwhy, sizeof mwhy))
      return snprintf(why, whysz, "it has schema version %d and cannot be brought to version %d (%s)", version,
                      STORE_SCHEMA_VERSION, mwhy), -1;
    version = STORE_SCHEMA_VERSION;
  }
  if (version != STORE_SCHEMA_VERSION)
    return snprintf(why, whysz, "it has schema version %d; this build restores only version %d%s", version, STORE_SCHEMA_VERSION,
                    version > STORE_SCHEMA_VERSION ? " (it was written by a newer nrfprov-mock)" : ""), -1;
  if (query_text(db, "PRAGMA encoding", text, sizeof text) || strcmp(text, "UTF-8"))
    return snprintf(why, whysz, "its text encoding is %s, not UTF-8", text), -1;
  sqlite3 *ref;
  if (reference_schema(&ref, why, whysz)) return -1;
  int rc = check_schema(ref, db, why, whysz);
  sqlite3_close(ref);
  if (rc) return rc;
  if (!query_text(db, "PRAGMA foreign_key_check", text, sizeof text))
    return snprintf(why, whysz, "a row of table %s refers to a row that does not exist", text), -1;
  if (query_text(db, summaries_disagree_sql, text, sizeof text) || strcmp(text, "0"))
    return snprintf(why, whysz, "its stored statuses or list counts do not match its rows"), -1;
  return 0;
}

int store_snapshot_load(const char *path, int page_size, sqlite3 **out, char *why, size_t whysz) {
  *out = NULL;
  int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return snprintf(why, whysz, "cannot open it: %s", strerror(errno)), -2;
  struct stat st;
  if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
    close(fd);
    return snprintf(why, whysz, "it is not a regular file"), -2;
  }
  if (st.st_size > STORE_MAX_SNAPSHOT) {
    close(fd);
    return snprintf(why, whysz, "it is larger than %d MiB", STORE_MAX_SNAPSHOT >> 20), -2;
  }
  /* One read of the file into memory: what is checked is what is restored, whatever
   * happens to the file meanwhile. */
  sqlite3_int64 size = st.st_size;
  unsigned char *image = sqlite3_malloc64(size ? (sqlite3_uint64)size : 1);
  if (!image) {
    close(fd);
    return snprintf(why, whysz, "out of memory"), -1;
  }
  sqlite3_int64 got = 0;
  while (got < size) {
    ssize_t k = read(fd, image + got, (size_t)(size - got));
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) break;
    got += k;
  }
  close(fd);
  if (got != size) {
    sqlite3_free(image);
    return snprintf(why, whysz, "cannot read it whole"), -2;
  }
  if (!size) {
    sqlite3_free(image);
    return snprintf(why, whysz, "it is empty"), -2;
  }
  sqlite3 *db;
  if (open_image(image, size, &db, why, whysz)) return -2;
  if (check_snapshot(db, why, whysz)) {
    sqlite3_close(db);
    return -2;
  }
  /* The live database is in WAL mode, where the backup API cannot change the page size:
   * give the copy the live page size first. */
  char text[32];
  if (!query_text(db, "PRAGMA page_size", text, sizeof text) && atoi(text) != page_size) {
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA page_size = %d; VACUUM;", page_size);
    if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK) {
      snprintf(why, whysz, "cannot convert its page size: %s", sqlite3_errmsg(db));
      sqlite3_close(db);
      return -1;
    }
  }
  *out = db;
  return 0;
}

int store_page_size(store *s) {
  sqlite3_stmt *st = store__stmt(s, "PRAGMA page_size");
  int n = store__row(st) == 0 ? sqlite3_column_int(st, 0) : 4096;
  return n;
}

int store_restore_from(store *s, sqlite3 *src, char *why, size_t whysz) {
  int rc = 0;
  if (run(s, "COMMIT")) return snprintf(why, whysz, "%s", sqlite3_errmsg(store__db(s))), -1;
  sqlite3_backup *b = sqlite3_backup_init(store__db(s), "main", src, "main");
  if (!b || sqlite3_backup_step(b, -1) != SQLITE_DONE) rc = -1;
  if (b && sqlite3_backup_finish(b) != SQLITE_OK) rc = -1;
  if (rc) snprintf(why, whysz, "cannot replace the database: %s", sqlite3_errmsg(store__db(s)));
  /* Every row may have changed behind the counters' back: caches keyed on the
   * generation must not trust anything they learned before. A failed backup has
   * rolled back and changed nothing, so nothing moves then. */
  else store_bump_epoch(s);
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

void store_snapshot_close(sqlite3 *db) { sqlite3_close(db); }
