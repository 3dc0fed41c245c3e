/* SQL of registered device identities (the identities table of store.c's schema). */
#include "identities.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define IDENTITY_COLUMNS "device_id, public_key_pem, imei, device_type, created_at"

static int read_row(sqlite3_stmt *st, store_identity *i) {
  store__copy_text(st, 0, i->device_id, sizeof i->device_id);
  i->public_key_pem = strdup((const char *)sqlite3_column_text(st, 1));
  store__copy_text(st, 2, i->imei, sizeof i->imei);
  store__copy_text(st, 3, i->device_type, sizeof i->device_type);
  i->created_at = sqlite3_column_int64(st, 4);
  return i->public_key_pem ? 0 : -1;
}

void store_identity_free(store_identity *i) {
  free(i->public_key_pem);
  i->public_key_pem = NULL;
}

int store_identity_put(store *s, const store_identity *i) {
  sqlite3_stmt *st = store__stmt(s, "INSERT OR REPLACE INTO identities (" IDENTITY_COLUMNS ") VALUES (?1, ?2, ?3, ?4, ?5)");
  sqlite3_bind_text(st, 1, i->device_id, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, i->public_key_pem, -1, SQLITE_STATIC);
  if (*i->imei) sqlite3_bind_text(st, 3, i->imei, -1, SQLITE_STATIC);
  if (*i->device_type) sqlite3_bind_text(st, 4, i->device_type, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 5, i->created_at);
  store__identities_changed(s);
  return sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
}

int store_identity_find(store *s, const char *device_id, store_identity *out) {
  sqlite3_stmt *st = store__stmt(s, "SELECT " IDENTITY_COLUMNS " FROM identities WHERE device_id = ?1");
  sqlite3_bind_text(st, 1, device_id, -1, SQLITE_STATIC);
  int rc = store__row(st);
  if (rc) return rc;
  return read_row(st, out);
}

int store_identity_list(store *s, void (*fn)(const store_identity *i, void *ud), void *ud, int64_t *total) {
  sqlite3_stmt *st = store__stmt(s, "SELECT " IDENTITY_COLUMNS " FROM identities ORDER BY created_at, device_id");
  int rc;
  *total = 0;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    store_identity i;
    if (read_row(st, &i)) return -1;
    fn(&i, ud);
    store_identity_free(&i);
    (*total)++;
  }
  return rc == SQLITE_DONE ? 0 : -1;
}

int store_identity_delete(store *s, const char *device_id) {
  sqlite3_stmt *st = store__stmt(s, "DELETE FROM identities WHERE device_id = ?1");
  sqlite3_bind_text(st, 1, device_id, -1, SQLITE_STATIC);
  store__identities_changed(s);
  if (sqlite3_step(st) != SQLITE_DONE) return -1;
  return sqlite3_changes(store__db(s)) ? 0 : 1;
}
