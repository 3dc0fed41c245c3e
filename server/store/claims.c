/* SQL of claims, claim tags, provisioning tags, identities and bulk operations. */
#include "claims.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "store/status.h"

#define CLAIM_COLUMNS                                                                      \
  "c.seq, c.team_id, c.device_id, c.device_type, c.firmware_id, c.imei, t.owner_id,"      \
  " c.queue_id, c.next_qseq, c.blocked, c.last_report, c.claimed_at, c.updated_at, "       \
  STORE_CLAIM_STATUS_SQL ","                                                               \
  " (SELECT json_group_array(tag) FROM (SELECT tag FROM claim_tags WHERE claim_seq = c.seq ORDER BY rowid))"

static void read_row(sqlite3_stmt *st, store_claim *c) {
  c->seq = sqlite3_column_int64(st, 0);
  c->team_id = sqlite3_column_int64(st, 1);
  store__copy_text(st, 2, c->device_id, sizeof c->device_id);
  store__copy_text(st, 3, c->device_type, sizeof c->device_type);
  store__copy_text(st, 4, c->firmware_id, sizeof c->firmware_id);
  store__copy_text(st, 5, c->imei, sizeof c->imei);
  store__copy_text(st, 6, c->owner_id, sizeof c->owner_id);
  store__copy_text(st, 7, c->queue_id, sizeof c->queue_id);
  c->next_qseq = sqlite3_column_int64(st, 8);
  c->blocked = sqlite3_column_int(st, 9);
  c->last_report = sqlite3_column_int(st, 10);
  c->claimed_at = sqlite3_column_int64(st, 11);
  c->updated_at = sqlite3_column_int64(st, 12);
  store__copy_text(st, 13, c->status, sizeof c->status);
  const unsigned char *tags = sqlite3_column_text(st, 14);
  c->tags_json = strdup(tags ? (const char *)tags : "[]");
}

void store_claim_row_free(store_claim *c) {
  free(c->tags_json);
  c->tags_json = NULL;
}

int store_claim_get(store *s, int64_t team_id, const char *device_id, store_claim *out) {
  sqlite3_stmt *st = store__stmt(s, "SELECT " CLAIM_COLUMNS " FROM claims c JOIN teams t ON t.id = c.team_id"
                                    " WHERE c.device_id = ?1 AND (?2 = 0 OR c.team_id = ?2)");
  sqlite3_bind_text(st, 1, device_id, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 2, team_id);
  int rc = store__row(st);
  if (!rc) read_row(st, out);
  return rc;
}

int store_claim_for_device(store *s, const char *device_id, store_device_claim *out) {
  sqlite3_stmt *st = store__stmt(s, "SELECT seq, team_id, next_qseq, blocked, queue_id FROM claims WHERE device_id = ?1");
  sqlite3_bind_text(st, 1, device_id, -1, SQLITE_STATIC);
  int rc = store__row(st);
  if (rc) return rc;
  out->seq = sqlite3_column_int64(st, 0);
  out->team_id = sqlite3_column_int64(st, 1);
  out->next_qseq = sqlite3_column_int64(st, 2);
  out->blocked = sqlite3_column_int(st, 3);
  snprintf(out->device_id, sizeof out->device_id, "%s", device_id);
  store__copy_text(st, 4, out->queue_id, sizeof out->queue_id);
  return 0;
}

int store_claim_insert(store *s, int64_t team_id, const char *device_id, const char *device_type,
                       const char *firmware_id, const char *imei, const char *queue_id, int64_t *seq) {
  sqlite3_stmt *st = store__stmt(s, "INSERT INTO claims (device_id, team_id, device_type, firmware_id, imei,"
                                    " queue_id, claimed_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)");
  sqlite3_bind_text(st, 1, device_id, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 2, team_id);
  sqlite3_bind_text(st, 3, device_type, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 4, firmware_id, -1, SQLITE_STATIC);
  if (imei && *imei) sqlite3_bind_text(st, 5, imei, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 6, queue_id, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 7, clock_wall_ms());
  if (sqlite3_step(st) != SQLITE_DONE) return -1;
  *seq = sqlite3_last_insert_rowid(store__db(s));
  return 0;
}

int store_tag_ensure(store *s, int64_t team_id, const char *tag, const char *description, int *created) {
  sqlite3_stmt *st = store__stmt(s, "INSERT OR IGNORE INTO tags (team_id, tag, description, created_at) VALUES (?1, ?2, ?3, ?4)");
  sqlite3_bind_int64(st, 1, team_id);
  sqlite3_bind_text(st, 2, tag, -1, SQLITE_STATIC);
  if (description) sqlite3_bind_text(st, 3, description, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 4, clock_wall_ms());
  if (sqlite3_step(st) != SQLITE_DONE) return -1;
  if (created) *created = sqlite3_changes(store__db(s)) > 0;
  return 0;
}

int store__set_tags(store *s, const char *clear_sql, const char *add_sql, int64_t seq, int64_t team_id,
                    const char *const *tags, size_t n) {
  sqlite3_stmt *st = store__stmt(s, clear_sql);
  sqlite3_bind_int64(st, 1, seq);
  if (sqlite3_step(st) != SQLITE_DONE) return -1;
  for (size_t i = 0; i < n; i++) {
    if (store_tag_ensure(s, team_id, tags[i], NULL, NULL)) return -1;
    st = store__stmt(s, add_sql);
    sqlite3_bind_int64(st, 1, seq);
    sqlite3_bind_int64(st, 2, team_id);
    sqlite3_bind_text(st, 3, tags[i], -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE) return -1;
  }
  return 0;
}

int store_claim_set_tags(store *s, int64_t claim_seq, int64_t team_id, const char *const *tags, size_t n) {
  return store__set_tags(s, "DELETE FROM claim_tags WHERE claim_seq = ?1",
                         "INSERT OR IGNORE INTO claim_tags (claim_seq, team_id, tag) VALUES (?1, ?2, ?3)", claim_seq, team_id,
                         tags, n);
}

int store_claim_delete(store *s, int64_t team_id, const char *device_id) {
  sqlite3_stmt *st = store__stmt(s, "DELETE FROM claims WHERE device_id = ?1 AND team_id = ?2");
  sqlite3_bind_text(st, 1, device_id, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 2, team_id);
  if (sqlite3_step(st) != SQLITE_DONE) return -1;
  return sqlite3_changes(store__db(s)) ? 0 : 1;
}

int store_claim_set_blocked(store *s, int64_t claim_seq, int blocked) {
  sqlite3_stmt *st = store__stmt(s, "UPDATE claims SET blocked = ?2, updated_at = ?3 WHERE seq = ?1 AND blocked != ?2");
  sqlite3_bind_int64(st, 1, claim_seq);
  sqlite3_bind_int(st, 2, blocked);
  sqlite3_bind_int64(st, 3, clock_wall_ms());
  return sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
}

int store_claim_touch(store *s, int64_t claim_seq) {
  sqlite3_stmt *st = store__stmt(s, "UPDATE claims SET updated_at = ?2 WHERE seq = ?1");
  sqlite3_bind_int64(st, 1, claim_seq);
  sqlite3_bind_int64(st, 2, clock_wall_ms());
  return sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
}

#define CLAIM_FILTER                                                                            \
  " WHERE c.team_id = ?1"                                                                       \
  " AND (?3 IS NULL OR c.blocked = ?3)"                                                         \
  " AND (?4 IS NULL OR c.device_type = ?4)"                                                     \
  " AND (?5 IS NULL OR EXISTS (SELECT 1 FROM claim_tags ct WHERE ct.claim_seq = c.seq"          \
  "      AND ct.tag IN (SELECT value FROM json_each(?5))))"                                    \
  " AND (?6 IS NULL OR " STORE_CLAIM_STATUS_SQL " IN (SELECT value FROM json_each(?6)))"

int store_claim_list(store *s, int64_t team_id, const store_claim_filter *f, int64_t before, int limit,
                     void (*fn)(const store_claim *c, void *ud), void *ud, int64_t *total) {
  static const char page_sql[] =
    "SELECT " CLAIM_COLUMNS " FROM claims c JOIN teams t ON t.id = c.team_id" CLAIM_FILTER
    " AND (?2 = 0 OR c.seq < ?2) ORDER BY c.seq DESC LIMIT ?7";
  static const char count_sql[] = "SELECT count(*) FROM claims c" CLAIM_FILTER " AND ?2 = 0";
  for (int pass = 0; pass < 2; pass++) {
    sqlite3_stmt *st = store__stmt(s, pass ? count_sql : page_sql);
    sqlite3_bind_int64(st, 1, team_id);
    sqlite3_bind_int64(st, 2, pass ? 0 : before);
    if (f->blocked >= 0) sqlite3_bind_int(st, 3, f->blocked);
    if (f->device_type) sqlite3_bind_text(st, 4, f->device_type, -1, SQLITE_STATIC);
    if (f->tags_json) sqlite3_bind_text(st, 5, f->tags_json, -1, SQLITE_STATIC);
    if (f->statuses_json) sqlite3_bind_text(st, 6, f->statuses_json, -1, SQLITE_STATIC);
    if (!pass) sqlite3_bind_int(st, 7, limit);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
      if (pass) {
        *total = sqlite3_column_int64(st, 0);
        continue;
      }
      store_claim c;
      read_row(st, &c);
      fn(&c, ud);
      store_claim_row_free(&c);
    }
    if (rc != SQLITE_DONE) return -1;
  }
  return 0;
}

int store_identity_get(store *s, const char *device_id, char **pem, char imei[32]) {
  sqlite3_stmt *st = store__stmt(s, "SELECT public_key_pem, imei FROM identities WHERE device_id = ?1");
  sqlite3_bind_text(st, 1, device_id, -1, SQLITE_STATIC);
  int rc = store__row(st);
  if (rc) return rc;
  if (pem) *pem = strdup((const char *)sqlite3_column_text(st, 0));
  if (imei) store__copy_text(st, 1, imei, 32);
  return 0;
}

int store_bulk_op_put(store *s, int64_t team_id, const char *id, const char *result, int64_t requested, int64_t completed) {
  sqlite3_stmt *st = store__stmt(s, "INSERT INTO bulk_ops (id, team_id, result, requested_at, completed_at) VALUES (?1, ?2, ?3, ?4, ?5)");
  sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 2, team_id);
  sqlite3_bind_text(st, 3, result, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 4, requested);
  sqlite3_bind_int64(st, 5, completed);
  return sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
}

int store_bulk_op_get(store *s, int64_t team_id, const char *id, char **result) {
  sqlite3_stmt *st = store__stmt(s, "SELECT result FROM bulk_ops WHERE id = ?1 AND team_id = ?2");
  sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 2, team_id);
  int rc = store__row(st);
  if (rc) return rc;
  *result = strdup((const char *)sqlite3_column_text(st, 0));
  return 0;
}
