/* SQL of onboarded devices. */
#include "devices.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "internal.h"

int store_device_upsert(store *s, int64_t team_id, const char *id, const char *sub_type, const char *tags,
                        const char *firmware, const char *certificate_pem) {
  sqlite3_stmt *st = store__stmt(s,
    "INSERT INTO devices (id, team_id, sub_type, tags, firmware, certificate_pem, created_at)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (team_id, id) DO UPDATE SET sub_type = excluded.sub_type,"
    " tags = excluded.tags, firmware = excluded.firmware, certificate_pem = excluded.certificate_pem");
  sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 2, team_id);
  if (sub_type) sqlite3_bind_text(st, 3, sub_type, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 4, tags, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 5, firmware, -1, SQLITE_STATIC);
  if (certificate_pem) sqlite3_bind_text(st, 6, certificate_pem, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 7, clock_wall_ms());
  return sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
}

#define DEVICE_COLUMNS "seq, id, sub_type, tags, firmware, certificate_pem, created_at"

static void read_device(sqlite3_stmt *st, store_device *d) {
  d->seq = sqlite3_column_int64(st, 0);
  snprintf(d->id, sizeof d->id, "%s", (const char *)sqlite3_column_text(st, 1));
  d->sub_type = store__dup_text(st, 2);
  d->tags = store__dup_text(st, 3);
  d->firmware = store__dup_text(st, 4);
  d->certificate_pem = store__dup_text(st, 5);
  d->created_at = sqlite3_column_int64(st, 6);
}

void store_device_free(store_device *d) {
  free(d->sub_type);
  free(d->tags);
  free(d->firmware);
  free(d->certificate_pem);
  d->sub_type = d->tags = d->firmware = d->certificate_pem = NULL;
}

int store_device_get(store *s, int64_t team_id, const char *id, store_device *out) {
  sqlite3_stmt *st = store__stmt(s, "SELECT " DEVICE_COLUMNS " FROM devices WHERE team_id = ?1 AND id = ?2");
  sqlite3_bind_int64(st, 1, team_id);
  sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
  int rc = store__row(st);
  if (!rc) read_device(st, out);
  return rc;
}

int store_device_list(store *s, int64_t team_id, int64_t before, int limit,
                      void (*fn)(const store_device *d, void *ud), void *ud, int64_t *total) {
  sqlite3_stmt *st = store__stmt(s, "SELECT " DEVICE_COLUMNS " FROM devices WHERE team_id = ?1"
                                    " AND seq < ?2 ORDER BY seq DESC LIMIT ?3");
  sqlite3_bind_int64(st, 1, team_id);
  sqlite3_bind_int64(st, 2, store__keyset_before(before));
  sqlite3_bind_int(st, 3, limit);
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    store_device d;
    read_device(st, &d);
    fn(&d, ud);
    store_device_free(&d);
  }
  if (rc != SQLITE_DONE) return -1;
  return store__list_count(s, team_id, "devices", total);
}

int store_device_delete(store *s, int64_t team_id, const char *id) {
  sqlite3_stmt *st = store__stmt(s, "DELETE FROM devices WHERE team_id = ?1 AND id = ?2");
  sqlite3_bind_int64(st, 1, team_id);
  sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
  if (sqlite3_step(st) != SQLITE_DONE) return -1;
  return sqlite3_changes(store__db(s)) ? 0 : 1;
}
