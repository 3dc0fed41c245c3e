/* SQL of provisioning tags: rows with their counts, members, deletion. */
#include "tags.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define TAG_COLUMNS                                                                                  \
  "t.rowid, t.tag, t.description, t.created_at,"                                                     \
  " (SELECT coalesce(sum(n), 0) FROM tag_counts tc WHERE tc.team_id = t.team_id AND tc.tag = t.tag)," \
  " (SELECT count(*) FROM rule_tags rt WHERE rt.team_id = t.team_id AND rt.tag = t.tag)"

static void read_tag(sqlite3_stmt *st, store_tag *t) {
  t->seq = sqlite3_column_int64(st, 0);
  snprintf(t->tag, sizeof t->tag, "%s", (const char *)sqlite3_column_text(st, 1));
  t->description = store__dup_text(st, 2);
  t->created_at = sqlite3_column_int64(st, 3);
  t->device_count = sqlite3_column_int64(st, 4);
  t->rule_count = sqlite3_column_int64(st, 5);
}

void store_tag_free(store_tag *t) {
  free(t->description);
  t->description = NULL;
}

int store_tag_get(store *s, int64_t team_id, const char *tag, store_tag *out) {
  sqlite3_stmt *st = store__stmt(s, "SELECT " TAG_COLUMNS " FROM tags t WHERE t.team_id = ?1 AND t.tag = ?2");
  sqlite3_bind_int64(st, 1, team_id);
  sqlite3_bind_text(st, 2, tag, -1, SQLITE_STATIC);
  int rc = store__row(st);
  if (!rc) read_tag(st, out);
  return rc;
}

int store_tag_list(store *s, int64_t team_id, int64_t after, int limit,
                   void (*fn)(const store_tag *t, void *ud), void *ud, int64_t *total) {
  sqlite3_stmt *st = store__stmt(s, "SELECT " TAG_COLUMNS " FROM tags t WHERE t.team_id = ?1 AND t.rowid > ?2"
                                    " ORDER BY t.rowid LIMIT ?3");
  sqlite3_bind_int64(st, 1, team_id);
  sqlite3_bind_int64(st, 2, after);
  sqlite3_bind_int(st, 3, limit);
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    store_tag t;
    read_tag(st, &t);
    fn(&t, ud);
    store_tag_free(&t);
  }
  if (rc != SQLITE_DONE) return -1;
  return store__list_count(s, team_id, "tags", total);
}

/* Run a one-column text query bound to (team_id, tag, limit), fn per row. */
static int each_id(sqlite3_stmt *st, int64_t team_id, const char *tag, int limit,
                   void (*fn)(const char *id, void *ud), void *ud) {
  sqlite3_bind_int64(st, 1, team_id);
  sqlite3_bind_text(st, 2, tag, -1, SQLITE_STATIC);
  sqlite3_bind_int(st, 3, limit);
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) fn((const char *)sqlite3_column_text(st, 0), ud);
  return rc == SQLITE_DONE ? 0 : -1;
}

int store_tag_devices(store *s, int64_t team_id, const char *tag, int limit,
                      void (*fn)(const char *device_id, void *ud), void *ud) {
  sqlite3_stmt *st = store__stmt(s, "SELECT c.device_id FROM claim_tags ct JOIN claims c ON c.seq = ct.claim_seq"
                                    " WHERE ct.team_id = ?1 AND ct.tag = ?2 ORDER BY ct.claim_seq DESC LIMIT ?3");
  return each_id(st, team_id, tag, limit, fn, ud);
}

int store_tag_rules(store *s, int64_t team_id, const char *tag, int limit,
                    void (*fn)(const char *rule_id, void *ud), void *ud) {
  sqlite3_stmt *st = store__stmt(s, "SELECT r.id FROM rule_tags rt JOIN rules r ON r.seq = rt.rule_seq"
                                    " WHERE rt.team_id = ?1 AND rt.tag = ?2 ORDER BY rt.rule_seq LIMIT ?3");
  return each_id(st, team_id, tag, limit, fn, ud);
}

int store_tag_delete(store *s, int64_t team_id, const char *tag) {
  sqlite3_stmt *st = store__stmt(s, "DELETE FROM tags WHERE team_id = ?1 AND tag = ?2");
  sqlite3_bind_int64(st, 1, team_id);
  sqlite3_bind_text(st, 2, tag, -1, SQLITE_STATIC);
  if (sqlite3_step(st) != SQLITE_DONE) return -1;
  return sqlite3_changes(store__db(s)) ? 0 : 1;
}
