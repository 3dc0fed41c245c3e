/* Control API verbs over the store: snapshot, restore, metrics counts, and the lookups
 * fault matching needs. Fixtures are in fixtures.c. */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "proto/attest.h"
#include "proto/jwt.h"
#include "service/control.h"
#include "service/internal.h"
#include "store/control.h"

int svc_snapshot(svc *s, const char *path, err_t *e) {
  unsigned char *image = NULL;
  int64_t size = 0;
  char why[512];
  /* Only the copy of the pages holds the store; the file is written after. */
  if (store_begin_read(s->store)) return err_set(e, ERR_INTERNAL, "store unavailable");
  int rc = store_snapshot_image(s->store, &image, &size);
  store_end_read(s->store);
  if (rc) return err_set(e, ERR_INTERNAL, "cannot copy the database");
  if (store_image_write(image, size, path, why, sizeof why)) return err_set(e, ERR_INTERNAL, "snapshot not written: %s", why);
  return 0;
}

int svc_restore(svc *s, const char *path, const char *label, err_t *e) {
  char why[512];
  sqlite3 *db = NULL;
  if (store_begin_read(s->store)) return err_set(e, ERR_INTERNAL, "store unavailable");
  int page_size = store_page_size(s->store);
  store_end_read(s->store);
  /* Read and check the file without the store: only the copy holds it. */
  int rc = store_snapshot_load(path, page_size, &db, why, sizeof why);
  if (rc == -2) return err_set(e, ERR_BAD_FIELD, "%s: %s; nothing was restored", label, why);
  if (rc) return err_set(e, ERR_INTERNAL, "%s: %s", label, why);
  if (store_begin(s->store)) {
    store_snapshot_close(db);
    return err_set(e, ERR_INTERNAL, "store unavailable");
  }
  if (store_restore_from(s->store, db, why, sizeof why)) rc = err_set(e, ERR_INTERNAL, "restore failed: %s", why);
  rc = svc__finish(s, rc, NULL, "the restore", e);
  store_snapshot_close(db);
  return rc;
}

static void add_count(const char *status, int64_t n, void *ud) { json_object_set_new(ud, status, json_integer(n)); }

int svc_stats(svc *s, json_t **commands_by_status, int64_t *db_bytes, err_t *e) {
  /* Every status a command can have is shown, counted or not, so a series never vanishes. */
  json_t *counts = json_pack("{s:i, s:i, s:i, s:i, s:i}", "PENDING", 0, "IN_PROGRESS", 0, "SUCCEEDED", 0, "FAILED", 0,
                             "CANCELLED", 0);
  if (store_begin_read(s->store)) {
    json_decref(counts);
    return err_set(e, ERR_INTERNAL, "store unavailable");
  }
  int rc = store_command_counts(s->store, add_count, counts) || store_db_size(s->store, db_bytes)
           ? err_set(e, ERR_INTERNAL, "cannot count commands") : 0;
  store_end_read(s->store);
  if (rc) json_decref(counts);
  else *commands_by_status = counts;
  return rc;
}

int svc_credential_device_id(const char *cred, size_t len, char out[37]) {
  char why[256];
  if (len > 4 && !strncmp(cred, "att.", 4)) {
    attest_token t;
    if (attest_decode(cred + 4, len - 4, &t, why, sizeof why)) return -1;
    snprintf(out, 37, "%s", t.device_uuid);
    return 0;
  }
  jwt_device j;
  /* now = 0: an expired JWT still names its device. */
  if (jwt_parse(cred, len, 0, &j, why, sizeof why)) return -1;
  snprintf(out, 37, "%s", j.device_uuid);
  return 0;
}

int svc_device_team_key(svc *s, const char *device_id, char *key, size_t n) {
  if (store_begin_read(s->store)) return 1;
  int rc = store_device_team_key(s->store, device_id, key, n);
  store_end_read(s->store);
  return rc == 0 ? 0 : 1;
}
