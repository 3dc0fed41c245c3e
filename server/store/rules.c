/* SQL of provisioning rules. */
#include "rules.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int store_rules_unapplied(store *s, int64_t claim_seq, void (*fn)(const store_rule_ref *r, void *ud), void *ud) {
  sqlite3_stmt *st = store__stmt(s,
    "SELECT r.seq, r.id, r.commands FROM rules r WHERE r.active = 1"
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
