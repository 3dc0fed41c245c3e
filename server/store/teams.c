/* SQL of the teams table. */
#include "teams.h"

#include "clock.h"
#include "internal.h"

int store_team_ensure(store *s, const char *api_key, const char *owner_id, const char *name, int64_t *id) {
  sqlite3_stmt *st = store__stmt(s, "SELECT id FROM teams WHERE api_key = ?1");
  sqlite3_bind_text(st, 1, api_key, -1, SQLITE_STATIC);
  if (sqlite3_step(st) == SQLITE_ROW) {
    *id = sqlite3_column_int64(st, 0);
    return 0;
  }
  st = store__stmt(s, "INSERT INTO teams (api_key, owner_id, name, created_at) VALUES (?1, ?2, ?3, ?4)");
  sqlite3_bind_text(st, 1, api_key, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, owner_id, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 3, name, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 4, clock_wall_ms());
  if (sqlite3_step(st) != SQLITE_DONE) return -1;
  *id = sqlite3_last_insert_rowid(store__db(s));
  return 0;
}

void store_team_owner_id(store *s, int64_t id, char out[37]) {
  sqlite3_stmt *st = store__stmt(s, "SELECT owner_id FROM teams WHERE id = ?1");
  sqlite3_bind_int64(st, 1, id);
  *out = 0;
  if (sqlite3_step(st) == SQLITE_ROW) store__copy_text(st, 0, out, 37);
}
