/* SQL of provisioning commands and of the claim's queue columns. */
#include "commands.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "internal.h"

#define COMMAND_COLUMNS                                                                    \
  "seq, claim_seq, qseq, id, type, status, rule_id, description, request, response,"       \
  " pre_done, created_at, updated_at"

static void read_row(sqlite3_stmt *st, store_command *c) {
  c->seq = sqlite3_column_int64(st, 0);
  c->claim_seq = sqlite3_column_int64(st, 1);
  c->qseq = sqlite3_column_int64(st, 2);
  store__copy_text(st, 3, c->id, sizeof c->id);
  store__copy_text(st, 4, c->type, sizeof c->type);
  store__copy_text(st, 5, c->status, sizeof c->status);
  store__copy_text(st, 6, c->rule_id, sizeof c->rule_id);
  c->description = store__dup_text(st, 7);
  c->request = store__dup_text(st, 8);
  c->response = store__dup_text(st, 9);
  c->pre_done = sqlite3_column_int(st, 10);
  c->created_at = sqlite3_column_int64(st, 11);
  c->updated_at = sqlite3_column_int64(st, 12);
}

void store_command_free(store_command *c) {
  free(c->description);
  free(c->request);
  free(c->response);
  c->description = c->request = c->response = NULL;
}

int store_claim_take_qseq(store *s, int64_t claim_seq, int64_t *qseq) {
  sqlite3_stmt *st = store__stmt(s, "UPDATE claims SET next_qseq = next_qseq + 1 WHERE seq = ?1 RETURNING next_qseq - 1");
  sqlite3_bind_int64(st, 1, claim_seq);
  if (sqlite3_step(st) != SQLITE_ROW) return -1;
  *qseq = sqlite3_column_int64(st, 0);
  while (sqlite3_step(st) == SQLITE_ROW) {}
  return 0;
}

int store_command_insert(store *s, int64_t claim_seq, int64_t qseq, const char *id, const char *type,
                         const char *description, const char *request, const char *rule_id) {
  sqlite3_stmt *st = store__stmt(s, "INSERT INTO commands (id, claim_seq, qseq, type, description, request, status,"
                                    " rule_id, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'PENDING', ?7, ?8, ?8)");
  sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 2, claim_seq);
  sqlite3_bind_int64(st, 3, qseq);
  sqlite3_bind_text(st, 4, type, -1, SQLITE_STATIC);
  if (description) sqlite3_bind_text(st, 5, description, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 6, request, -1, SQLITE_STATIC);
  if (rule_id && *rule_id) sqlite3_bind_text(st, 7, rule_id, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 8, clock_wall_ms());
  return sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
}

int store_command_count_unfinished(store *s, int64_t claim_seq, int64_t *n) {
  sqlite3_stmt *st = store__stmt(s, "SELECT count(*) FROM commands WHERE claim_seq = ?1 AND status IN ('PENDING', 'IN_PROGRESS')");
  sqlite3_bind_int64(st, 1, claim_seq);
  if (sqlite3_step(st) != SQLITE_ROW) return -1;
  *n = sqlite3_column_int64(st, 0);
  return 0;
}

static int get_one(sqlite3_stmt *st, store_command *out) {
  int rc = store__row(st);
  if (!rc) read_row(st, out);
  return rc;
}

int store_command_get(store *s, int64_t claim_seq, const char *id, store_command *out) {
  sqlite3_stmt *st = store__stmt(s, "SELECT " COMMAND_COLUMNS " FROM commands WHERE claim_seq = ?1 AND id = ?2");
  sqlite3_bind_int64(st, 1, claim_seq);
  sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
  return get_one(st, out);
}

int store_command_by_qseq(store *s, int64_t claim_seq, int64_t qseq, store_command *out) {
  sqlite3_stmt *st = store__stmt(s, "SELECT " COMMAND_COLUMNS " FROM commands WHERE claim_seq = ?1 AND qseq = ?2");
  sqlite3_bind_int64(st, 1, claim_seq);
  sqlite3_bind_int64(st, 2, qseq);
  return get_one(st, out);
}

static int each_row(sqlite3_stmt *st, void (*fn)(const store_command *c, void *ud), void *ud) {
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    store_command c;
    read_row(st, &c);
    fn(&c, ud);
    store_command_free(&c);
  }
  return rc == SQLITE_DONE ? 0 : -1;
}

int store_command_list(store *s, int64_t claim_seq, int64_t after, int limit,
                       void (*fn)(const store_command *c, void *ud), void *ud, int64_t *total) {
  sqlite3_stmt *st = store__stmt(s, "SELECT count(*) FROM commands WHERE claim_seq = ?1");
  sqlite3_bind_int64(st, 1, claim_seq);
  if (sqlite3_step(st) != SQLITE_ROW) return -1;
  *total = sqlite3_column_int64(st, 0);
  st = store__stmt(s, "SELECT " COMMAND_COLUMNS " FROM commands WHERE claim_seq = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3");
  sqlite3_bind_int64(st, 1, claim_seq);
  sqlite3_bind_int64(st, 2, after);
  sqlite3_bind_int(st, 3, limit);
  return each_row(st, fn, ud);
}

int store_command_unfinished(store *s, int64_t claim_seq, int64_t from_qseq,
                             void (*fn)(const store_command *c, void *ud), void *ud) {
  sqlite3_stmt *st = store__stmt(s, "SELECT " COMMAND_COLUMNS " FROM commands WHERE claim_seq = ?1 AND qseq >= ?2"
                                    " AND status IN ('PENDING', 'IN_PROGRESS') ORDER BY qseq");
  sqlite3_bind_int64(st, 1, claim_seq);
  sqlite3_bind_int64(st, 2, from_qseq);
  return each_row(st, fn, ud);
}

int store_command_set_status(store *s, int64_t seq, const char *status, const char *response) {
  sqlite3_stmt *st = store__stmt(s, "UPDATE commands SET status = ?2, response = coalesce(?3, response), updated_at = ?4 WHERE seq = ?1");
  sqlite3_bind_int64(st, 1, seq);
  sqlite3_bind_text(st, 2, status, -1, SQLITE_STATIC);
  if (response) sqlite3_bind_text(st, 3, response, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 4, clock_wall_ms());
  return sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
}

int store_command_set_pre_done(store *s, int64_t seq) {
  sqlite3_stmt *st = store__stmt(s, "UPDATE commands SET pre_done = 1, updated_at = ?2 WHERE seq = ?1");
  sqlite3_bind_int64(st, 1, seq);
  sqlite3_bind_int64(st, 2, clock_wall_ms());
  return sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
}

int store_command_cancel_after(store *s, int64_t claim_seq, int64_t after_qseq) {
  sqlite3_stmt *st = store__stmt(s, "UPDATE commands SET status = 'CANCELLED', updated_at = ?3 WHERE claim_seq = ?1"
                                    " AND qseq > ?2 AND status IN ('PENDING', 'IN_PROGRESS')");
  sqlite3_bind_int64(st, 1, claim_seq);
  sqlite3_bind_int64(st, 2, after_qseq);
  sqlite3_bind_int64(st, 3, clock_wall_ms());
  return sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
}

int store_command_delete(store *s, int64_t seq) {
  sqlite3_stmt *st = store__stmt(s, "DELETE FROM commands WHERE seq = ?1");
  sqlite3_bind_int64(st, 1, seq);
  return sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
}

int store_commands_reset(store *s, int64_t claim_seq, const char *queue_id) {
  sqlite3_stmt *st = store__stmt(s, "DELETE FROM commands WHERE claim_seq = ?1");
  sqlite3_bind_int64(st, 1, claim_seq);
  if (sqlite3_step(st) != SQLITE_DONE) return -1;
  st = store__stmt(s, "DELETE FROM rule_applied WHERE claim_seq = ?1");
  sqlite3_bind_int64(st, 1, claim_seq);
  if (sqlite3_step(st) != SQLITE_DONE) return -1;
  st = store__stmt(s, "UPDATE claims SET queue_id = ?2, next_qseq = 1, last_report = 0, updated_at = ?3 WHERE seq = ?1");
  sqlite3_bind_int64(st, 1, claim_seq);
  sqlite3_bind_text(st, 2, queue_id, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 3, clock_wall_ms());
  return sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
}

int store_claim_set_report(store *s, int64_t claim_seq, int outcome) {
  sqlite3_stmt *st = store__stmt(s, "UPDATE claims SET last_report = ?2, updated_at = ?3 WHERE seq = ?1");
  sqlite3_bind_int64(st, 1, claim_seq);
  sqlite3_bind_int(st, 2, outcome);
  sqlite3_bind_int64(st, 3, clock_wall_ms());
  return sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
}
