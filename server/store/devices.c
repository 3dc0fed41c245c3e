/* SQL of onboarded devices. */
#include "devices.h"

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
  sqlite3_bind_int64(st, 7, store_now_ms());
  return sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
}
