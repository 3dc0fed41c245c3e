/* SQL of provisioning rules: the rows, their tags, and the applied marks that make a
 * rule apply once per claim. */
#include "rules.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "internal.h"
#include "store/claims.h"

int store_rules_unapplied(store *s, int64_t claim_seq, void (*fn)(const store_rule_ref *r, void *ud), void *ud) {
  sqlite3_stmt *st = store__stmt(s,
    "SELECT r.seq, r.id, r.commands, r.name FROM rules r WHERE r.active = 1"
    " AND EXISTS (SELECT 1 FROM rule_tags rt JOIN claim_tags ct ON ct.team_id = rt.team_id AND ct.tag = rt.tag"
    "             WHERE rt.rule_seq = r.seq AND ct.claim_seq = ?1)"
    " AND NOT EXISTS (SELECT 1 FROM rule_applied ra WHERE ra.rule_seq = r.seq AND ra.claim_seq = ?1)"
    " ORDER BY r.seq");
  sqlite3_bind_int64(st, 1, claim_seq);
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    store_rule_ref r = {.seq = sqlite3_column_int64(st, 0)};
    snprintf(r.id, sizeof r.id, "%s", (const char *)sqlite3_column_text(st, 1));
    r.commands = strdup((const char *)sqlite3_column_text(st, 2));
    r.name = (const char *)sqlite3_column_text(st, 3);
    fn(&r, ud);
    free(r.commands);
  }
  return rc == SQLITE_DONE ? 0 : -1;
}

int store_rule_mark_applied(store *s, int64_t rule_seq, int64_t claim_seq) {
  sqlite3_stmt *st = store__stmt(s, "INSERT OR IGNORE INTO rule_applied (rule_seq, claim_seq) VALUES (?1, ?2)");
  sqlite3_bind_int64(st, 1, rule_seq);
  sqlite3_bind_int64(st, 2, claim_seq);
  return sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
}

#define RULE_COLUMNS                                                                              \
  "r.seq, r.id, r.name, r.description, r.active, r.commands, r.created_at, r.updated_at,"         \
  " (SELECT json_group_array(tag) FROM (SELECT tag FROM rule_tags WHERE rule_seq = r.seq ORDER BY rowid))"

static void read_rule(sqlite3_stmt *st, store_rule *r) {
  r->seq = sqlite3_column_int64(st, 0);
  snprintf(r->id, sizeof r->id, "%s", (const char *)sqlite3_column_text(st, 1));
  r->name = store__dup_text(st, 2);
  r->description = store__dup_text(st, 3);
  r->active = sqlite3_column_int(st, 4);
  r->commands = store__dup_text(st, 5);
  r->created_at = sqlite3_column_int64(st, 6);
  r->updated_at = sqlite3_column_int64(st, 7);
  r->tags_json = store__dup_text(st, 8);
}

void store_rule_free(store_rule *r) {
  free(r->name);
  free(r->description);
  free(r->commands);
  free(r->tags_json);
  r->name = r->description = r->commands = r->tags_json = NULL;
}

int store_rule_insert(store *s, int64_t team_id, const char *id, const char *name, const char *description,
                      int active, const char *commands, int64_t *seq) {
  sqlite3_stmt *st = store__stmt(s, "INSERT INTO rules (id, team_id, name, description, active, commands, created_at,"
                                    " updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)");
  sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 2, team_id);
  sqlite3_bind_text(st, 3, name, -1, SQLITE_STATIC);
  if (description) sqlite3_bind_text(st, 4, description, -1, SQLITE_STATIC);
  sqlite3_bind_int(st, 5, active);
  sqlite3_bind_text(st, 6, commands, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 7, clock_wall_ms());
  if (sqlite3_step(st) != SQLITE_DONE) return -1;
  *seq = sqlite3_last_insert_rowid(store__db(s));
  return 0;
}

int store_rule_update(store *s, int64_t seq, const char *name, const char *description, int active,
                      const char *commands) {
  sqlite3_stmt *st = store__stmt(s, "UPDATE rules SET name = ?2, description = ?3, active = ?4, commands = ?5,"
                                    " updated_at = ?6 WHERE seq = ?1");
  sqlite3_bind_int64(st, 1, seq);
  sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
  if (description) sqlite3_bind_text(st, 3, description, -1, SQLITE_STATIC);
  sqlite3_bind_int(st, 4, active);
  sqlite3_bind_text(st, 5, commands, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 6, clock_wall_ms());
  return sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
}

int store_rule_set_tags(store *s, int64_t rule_seq, int64_t team_id, const char *const *tags, size_t n) {
  return store__set_tags(s, "DELETE FROM rule_tags WHERE rule_seq = ?1",
                         "INSERT OR IGNORE INTO rule_tags (rule_seq, team_id, tag) VALUES (?1, ?2, ?3)", rule_seq, team_id, tags,
                         n);
}

int store_rule_get(store *s, int64_t team_id, const char *id, store_rule *out) {
  sqlite3_stmt *st = store__stmt(s, "SELECT " RULE_COLUMNS " FROM rules r WHERE r.id = ?1 AND r.team_id = ?2");
  sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 2, team_id);
  int rc = store__row(st);
  if (!rc) read_rule(st, out);
  return rc;
}

int store_rule_name_taken(store *s, int64_t team_id, const char *name, int64_t except_seq) {
  sqlite3_stmt *st = store__stmt(s, "SELECT 1 FROM rules WHERE team_id = ?1 AND name = ?2 AND seq != ?3");
  sqlite3_bind_int64(st, 1, team_id);
  sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 3, except_seq);
  int rc = sqlite3_step(st);
  return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

int store_rule_delete(store *s, int64_t team_id, const char *id) {
  sqlite3_stmt *st = store__stmt(s, "DELETE FROM rules WHERE id = ?1 AND team_id = ?2");
  sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 2, team_id);
  if (sqlite3_step(st) != SQLITE_DONE) return -1;
  return sqlite3_changes(store__db(s)) ? 0 : 1;
}

int store_rule_list(store *s, int64_t team_id, int64_t after, int limit,
                    void (*fn)(const store_rule *r, void *ud), void *ud, int64_t *total) {
  sqlite3_stmt *st = store__stmt(s, "SELECT " RULE_COLUMNS " FROM rules r WHERE r.team_id = ?1 AND r.seq > ?2"
                                    " ORDER BY r.seq LIMIT ?3");
  sqlite3_bind_int64(st, 1, team_id);
  sqlite3_bind_int64(st, 2, after);
  sqlite3_bind_int(st, 3, limit);
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    store_rule r;
    read_rule(st, &r);
    fn(&r, ud);
    store_rule_free(&r);
  }
  if (rc != SQLITE_DONE) return -1;
  return store__list_count(s, team_id, "rules", total);
}
