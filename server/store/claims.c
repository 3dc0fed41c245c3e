/* SQL of claims, claim tags, provisioning tags, identities and bulk operations. */
#include "claims.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "internal.h"

#define CLAIM_COLUMNS                                                                      \
  "c.seq, c.team_id, c.device_id, c.device_type, c.firmware_id, c.imei, t.owner_id,"      \
  " c.queue_id, c.next_qseq, c.blocked, c.last_report, c.claimed_at, c.updated_at, c.status," \
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
  if (sqlite3_step(st) != SQLITE_DONE)
    return sqlite3_extended_errcode(store__db(s)) == SQLITE_CONSTRAINT_UNIQUE ? 1 : -1; /* device_id is UNIQUE */
  *seq = sqlite3_last_insert_rowid(store__db(s));
  /* Its count (schema version 4; every later change of the row is counted by triggers).
   * A new row holds the columns' defaults, status 'READY' and blocked 0 (no trigger runs
   * on an insert into claims): bound here rather than read back from the row, which cost
   * a search of the table per claim. */
  st = store__stmt(s, "INSERT INTO claim_counts (team_id, status, blocked, device_type, n)"
                      " VALUES (?1, 'READY', 0, ?2, 1) ON CONFLICT DO UPDATE SET n = n + 1");
  sqlite3_bind_int64(st, 1, team_id);
  sqlite3_bind_text(st, 2, device_type, -1, SQLITE_STATIC);
  return sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
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
                         "INSERT OR IGNORE INTO claim_tags (claim_seq, team_id, tag, status, blocked, device_type)"
                         " SELECT ?1, ?2, ?3, status, blocked, device_type FROM claims WHERE seq = ?1", claim_seq, team_id,
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

/* Lists of claims cost what their page costs, whatever the size of the table
 * (docs/performance.md). With no filter, a page walks claims(team_id, seq) and the total
 * is the sum of the team's claim_counts. With filters, the matching (status, blocked,
 * type) combinations come from claim_counts (or, with tags, from tag_counts: one row per
 * tag and combination), each combination is one ordered range of the claims_filter (or
 * claim_tags_filter) index, and the page is the newest `limit` seqs of those ranges,
 * merged here. The total is the sum of the combinations' counts, except with several
 * tags, where a device holding two of them must count once: then it is counted from the
 * claim_tags_filter index, in proportion to the matches. */

#define COMBO_MAX 64 /* more matching combinations than this: one filtered scan instead */

#define COMBO_FILTER                                                                   \
  " AND n > 0 AND (?2 IS NULL OR blocked = ?2) AND (?3 IS NULL OR device_type = ?3)"   \
  " AND (?4 IS NULL OR status IN (SELECT value FROM json_each(?4)))"

typedef struct {
  char tag[72], status[16], type[32];
  int blocked;
  int64_t n;
} combo;

/* The (tag,) status, blocked, type combinations that match f, with their counts.
 * Returns how many (may exceed max: then only max are filled), or -1. */
static int combos_of(store *s, int64_t team_id, const store_claim_filter *f, combo *out, int max) {
  sqlite3_stmt *st = f->tags_json
    ? store__stmt(s, "SELECT tag, status, blocked, device_type, n FROM tag_counts WHERE team_id = ?1"
                     COMBO_FILTER " AND tag IN (SELECT value FROM json_each(?5))")
    : store__stmt(s, "SELECT '', status, blocked, device_type, n FROM claim_counts WHERE team_id = ?1"
                     COMBO_FILTER);
  sqlite3_bind_int64(st, 1, team_id);
  if (f->blocked >= 0) sqlite3_bind_int(st, 2, f->blocked);
  if (f->device_type) sqlite3_bind_text(st, 3, f->device_type, -1, SQLITE_STATIC);
  if (f->statuses_json) sqlite3_bind_text(st, 4, f->statuses_json, -1, SQLITE_STATIC);
  if (f->tags_json) sqlite3_bind_text(st, 5, f->tags_json, -1, SQLITE_STATIC);
  int k = 0, rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    if (k < max) {
      combo *c = &out[k];
      store__copy_text(st, 0, c->tag, sizeof c->tag);
      store__copy_text(st, 1, c->status, sizeof c->status);
      c->blocked = sqlite3_column_int(st, 2);
      store__copy_text(st, 3, c->type, sizeof c->type);
      c->n = sqlite3_column_int64(st, 4);
    }
    k++;
  }
  return rc == SQLITE_DONE ? k : -1;
}

/* Append the newest `limit` seqs below `before` of one combination to seqs. */
static int combo_seqs(store *s, int64_t team_id, const combo *c, bool tagged, int64_t before, int limit,
                      int64_t *seqs, int *n) {
  sqlite3_stmt *st = tagged
    ? store__stmt(s, "SELECT claim_seq FROM claim_tags WHERE team_id = ?1 AND tag = ?5 AND status = ?2"
                     " AND blocked = ?3 AND device_type = ?4 AND claim_seq < ?6"
                     " ORDER BY claim_seq DESC LIMIT ?7")
    : store__stmt(s, "SELECT seq FROM claims WHERE team_id = ?1 AND status = ?2 AND blocked = ?3"
                     " AND device_type = ?4 AND seq < ?6 ORDER BY seq DESC LIMIT ?7");
  sqlite3_bind_int64(st, 1, team_id);
  sqlite3_bind_text(st, 2, c->status, -1, SQLITE_STATIC);
  sqlite3_bind_int(st, 3, c->blocked);
  sqlite3_bind_text(st, 4, c->type, -1, SQLITE_STATIC);
  if (tagged) sqlite3_bind_text(st, 5, c->tag, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 6, store__keyset_before(before));
  sqlite3_bind_int(st, 7, limit);
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) seqs[(*n)++] = sqlite3_column_int64(st, 0);
  return rc == SQLITE_DONE ? 0 : -1;
}

static int by_seq_desc(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x < y) - (x > y);
}

/* Call fn for the claim at each seq, in order. */
static int emit_seqs(store *s, const int64_t *seqs, int n, void (*fn)(const store_claim *c, void *ud), void *ud) {
  for (int i = 0; i < n; i++) {
    sqlite3_stmt *st = store__stmt(s, "SELECT " CLAIM_COLUMNS " FROM claims c JOIN teams t ON t.id = c.team_id"
                                      " WHERE c.seq = ?1");
    sqlite3_bind_int64(st, 1, seqs[i]);
    int rc = store__row(st);
    if (rc < 0) return -1;
    if (rc) continue;
    store_claim c;
    read_row(st, &c);
    fn(&c, ud);
    store_claim_row_free(&c);
  }
  return 0;
}

/* Emit every row of a page query bound by the caller. */
static int emit_rows(sqlite3_stmt *st, void (*fn)(const store_claim *c, void *ud), void *ud) {
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    store_claim c;
    read_row(st, &c);
    fn(&c, ud);
    store_claim_row_free(&c);
  }
  return rc == SQLITE_DONE ? 0 : -1;
}

static int list_unfiltered(store *s, int64_t team_id, int64_t before, int limit,
                           void (*fn)(const store_claim *c, void *ud), void *ud, int64_t *total) {
  sqlite3_stmt *st = store__stmt(s, "SELECT coalesce(sum(n), 0) FROM claim_counts WHERE team_id = ?1");
  sqlite3_bind_int64(st, 1, team_id);
  if (store__row(st)) return -1;
  *total = sqlite3_column_int64(st, 0);
  st = store__stmt(s, "SELECT " CLAIM_COLUMNS " FROM claims c JOIN teams t ON t.id = c.team_id"
                      " WHERE c.team_id = ?1 AND c.seq < ?2 ORDER BY c.seq DESC LIMIT ?3");
  sqlite3_bind_int64(st, 1, team_id);
  sqlite3_bind_int64(st, 2, store__keyset_before(before));
  sqlite3_bind_int(st, 3, limit);
  return emit_rows(st, fn, ud);
}

/* The fallback for a filter matching more than COMBO_MAX combinations (a team with
 * dozens of device types): one scan of the team's claims, filtered. */
#define CLAIM_FILTER                                                                            \
  " WHERE c.team_id = ?1"                                                                       \
  " AND (?3 IS NULL OR c.blocked = ?3)"                                                         \
  " AND (?4 IS NULL OR c.device_type = ?4)"                                                     \
  " AND (?5 IS NULL OR EXISTS (SELECT 1 FROM claim_tags ct WHERE ct.claim_seq = c.seq"          \
  "      AND ct.tag IN (SELECT value FROM json_each(?5))))"                                    \
  " AND (?6 IS NULL OR c.status IN (SELECT value FROM json_each(?6)))"

static int list_scanned(store *s, int64_t team_id, const store_claim_filter *f, int64_t before, int limit,
                        void (*fn)(const store_claim *c, void *ud), void *ud, int64_t *total) {
  static const char page_sql[] =
    "SELECT " CLAIM_COLUMNS " FROM claims c JOIN teams t ON t.id = c.team_id" CLAIM_FILTER
    " AND c.seq < ?2 ORDER BY c.seq DESC LIMIT ?7";
  static const char count_sql[] = "SELECT count(*) FROM claims c" CLAIM_FILTER " AND ?2 = 0";
  for (int pass = 0; pass < 2; pass++) {
    sqlite3_stmt *st = store__stmt(s, pass ? count_sql : page_sql);
    sqlite3_bind_int64(st, 1, team_id);
    sqlite3_bind_int64(st, 2, pass ? 0 : store__keyset_before(before));
    if (f->blocked >= 0) sqlite3_bind_int(st, 3, f->blocked);
    if (f->device_type) sqlite3_bind_text(st, 4, f->device_type, -1, SQLITE_STATIC);
    if (f->tags_json) sqlite3_bind_text(st, 5, f->tags_json, -1, SQLITE_STATIC);
    if (f->statuses_json) sqlite3_bind_text(st, 6, f->statuses_json, -1, SQLITE_STATIC);
    if (pass) {
      if (store__row(st)) return -1;
      *total = sqlite3_column_int64(st, 0);
    } else {
      sqlite3_bind_int(st, 7, limit);
      if (emit_rows(st, fn, ud)) return -1;
    }
  }
  return 0;
}

/* Distinct claims holding any of several tags, with the other filters. */
static int count_tagged(store *s, int64_t team_id, const store_claim_filter *f, int64_t *total) {
  sqlite3_stmt *st = store__stmt(s, "SELECT count(DISTINCT claim_seq) FROM claim_tags WHERE team_id = ?1"
                                    " AND tag IN (SELECT value FROM json_each(?5))"
                                    " AND (?2 IS NULL OR blocked = ?2) AND (?3 IS NULL OR device_type = ?3)"
                                    " AND (?4 IS NULL OR status IN (SELECT value FROM json_each(?4)))");
  sqlite3_bind_int64(st, 1, team_id);
  if (f->blocked >= 0) sqlite3_bind_int(st, 2, f->blocked);
  if (f->device_type) sqlite3_bind_text(st, 3, f->device_type, -1, SQLITE_STATIC);
  if (f->statuses_json) sqlite3_bind_text(st, 4, f->statuses_json, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 5, f->tags_json, -1, SQLITE_STATIC);
  if (store__row(st)) return -1;
  *total = sqlite3_column_int64(st, 0);
  return 0;
}

int store_claim_list(store *s, int64_t team_id, const store_claim_filter *f, int64_t before, int limit,
                     void (*fn)(const store_claim *c, void *ud), void *ud, int64_t *total) {
  if (!f->tags_json && !f->statuses_json && f->blocked < 0 && !f->device_type)
    return list_unfiltered(s, team_id, before, limit, fn, ud, total);
  combo combos[COMBO_MAX];
  int k = combos_of(s, team_id, f, combos, COMBO_MAX);
  if (k < 0) return -1;
  if (k > COMBO_MAX) return list_scanned(s, team_id, f, before, limit, fn, ud, total);
  int64_t *seqs = malloc(sizeof *seqs * ((size_t)k * (size_t)limit + 1));
  if (!seqs) return -1;
  int n = 0, rc = 0;
  bool several_tags = false;
  *total = 0;
  for (int i = 0; i < k && !rc; i++) {
    *total += combos[i].n;
    if (f->tags_json && strcmp(combos[i].tag, combos[0].tag)) several_tags = true;
    rc = combo_seqs(s, team_id, &combos[i], f->tags_json != NULL, before, limit, seqs, &n);
  }
  if (!rc && several_tags) rc = count_tagged(s, team_id, f, total);
  if (!rc) {
    qsort(seqs, (size_t)n, sizeof *seqs, by_seq_desc);
    int m = 0; /* drop the repeats of a device holding several of the tags */
    for (int i = 0; i < n && m < limit; i++)
      if (!m || seqs[i] != seqs[m - 1]) seqs[m++] = seqs[i];
    rc = emit_seqs(s, seqs, m, fn, ud);
  }
  free(seqs);
  return rc;
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
