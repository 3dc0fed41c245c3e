/* store/ on its own, in SQLite's :memory: mode: the schema version, transactions that
 * commit or roll back, the generation counter, lookups' 0/1/-1 convention, claims with
 * their tags, identities, and reset (whole or one team). No server, no service layer. */
#include <criterion/criterion.h>
#include <string.h>

#include "store/claims.h"
#include "store/identities.h"
#include "store/internal.h" /* store__db: the test reads PRAGMA user_version itself */
#include "store/store.h"
#include "store/teams.h"

static store *s;

static void open_store(void) {
  char why[256] = "";
  cr_assert_eq(store_open(&s, ":memory:", why, sizeof why), 0, "%s", why);
}
static void close_store(void) { store_close(s); }

TestSuite(store, .init = open_store, .fini = close_store, .timeout = 30);

#define DEV "4961c873-408c-45ce-b1ba-7c0d99d88179"
#define QUEUE "0b7e3c1a-5d7c-4c52-9a8e-2f9f4f0b0c11"

static int64_t team(const char *key, const char *owner) {
  int64_t id = 0;
  cr_assert_eq(store_team_ensure(s, key, owner, NULL, &id), 0);
  cr_assert_gt(id, 0);
  return id;
}

static int64_t claim(int64_t team_id, const char *device_id) {
  int64_t seq = 0;
  cr_assert_eq(store_claim_insert(s, team_id, device_id, "nrf9161_LACA", "a4d580b9-aafb-4925-bc8d-db95f737d4ae",
                                  NULL, QUEUE, &seq), 0);
  return seq;
}

Test(store, a_fresh_database_has_the_current_schema_version) {
  sqlite3_stmt *st;
  cr_assert_eq(sqlite3_prepare_v2(store__db(s), "PRAGMA user_version", -1, &st, NULL), SQLITE_OK);
  cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
  cr_assert_eq(sqlite3_column_int(st, 0), STORE_SCHEMA_VERSION);
  sqlite3_finalize(st);
}

Test(store, a_team_is_created_once_per_key) {
  cr_assert_eq(store_begin(s), 0);
  int64_t a = team("key-a", "a5592ec1-18ae-4d9d-bc44-1d9bd927bbe9");
  int64_t again = team("key-a", "a5592ec1-18ae-4d9d-bc44-1d9bd927bbe9");
  int64_t b = team("key-b", "b5592ec1-18ae-4d9d-bc44-1d9bd927bbe9");
  cr_assert_eq(store_end(s, true), 0);
  cr_assert_eq(a, again);
  cr_assert_neq(a, b);
}

Test(store, a_committed_claim_is_found_with_its_tags_and_status) {
  cr_assert_eq(store_begin(s), 0);
  int64_t t = team("key-a", "a5592ec1-18ae-4d9d-bc44-1d9bd927bbe9");
  int64_t seq = claim(t, DEV);
  const char *tags[] = {"lab", "fleet-a"};
  cr_assert_eq(store_claim_set_tags(s, seq, t, tags, 2), 0);
  cr_assert_eq(store_end(s, true), 0);

  store_claim c;
  cr_assert_eq(store_begin_read(s), 0);
  int rc = store_claim_get(s, t, DEV, &c);
  store_end_read(s);
  cr_assert_eq(rc, 0);
  cr_assert_str_eq(c.device_id, DEV);
  cr_assert_str_eq(c.queue_id, QUEUE);
  cr_assert_str_eq(c.status, "READY");
  cr_assert(strstr(c.tags_json, "\"lab\"") && strstr(c.tags_json, "\"fleet-a\""), "%s", c.tags_json);
  store_claim_row_free(&c);
}

Test(store, another_team_does_not_find_the_claim) {
  cr_assert_eq(store_begin(s), 0);
  int64_t a = team("key-a", "a5592ec1-18ae-4d9d-bc44-1d9bd927bbe9");
  int64_t b = team("key-b", "b5592ec1-18ae-4d9d-bc44-1d9bd927bbe9");
  claim(a, DEV);
  store_claim c;
  cr_assert_eq(store_claim_get(s, b, DEV, &c), 1, "1 = none");
  cr_assert_eq(store_claim_get(s, 0, DEV, &c), 0, "team 0 = any team");
  store_claim_row_free(&c);
  cr_assert_eq(store_end(s, true), 0);
}

Test(store, a_rolled_back_transaction_leaves_nothing_and_keeps_the_generation) {
  uint64_t g0 = store_generation(s);
  cr_assert_eq(store_begin(s), 0);
  claim(team("key-a", "a5592ec1-18ae-4d9d-bc44-1d9bd927bbe9"), DEV);
  cr_assert(store_changed(s));
  cr_assert_eq(store_end(s, false), 0);
  cr_assert_eq(store_generation(s), g0, "a rollback commits nothing");

  store_device_claim d;
  cr_assert_eq(store_begin_read(s), 0);
  int rc = store_claim_for_device(s, DEV, &d);
  store_end_read(s);
  cr_assert_eq(rc, 1);
}

Test(store, a_commit_that_changed_rows_moves_the_generation) {
  uint64_t g0 = store_generation(s);
  cr_assert_eq(store_begin(s), 0);
  cr_assert_eq(store_end(s, true), 0);
  cr_assert_eq(store_generation(s), g0, "an empty transaction changes nothing");
  cr_assert_eq(store_begin(s), 0);
  claim(team("key-a", "a5592ec1-18ae-4d9d-bc44-1d9bd927bbe9"), DEV);
  cr_assert_eq(store_end(s, true), 0);
  cr_assert_gt(store_generation(s), g0);
}

Test(store, a_second_claim_of_the_same_device_is_refused) {
  cr_assert_eq(store_begin(s), 0);
  int64_t t = team("key-a", "a5592ec1-18ae-4d9d-bc44-1d9bd927bbe9");
  claim(t, DEV);
  int64_t seq = 0;
  cr_assert_eq(store_claim_insert(s, t, DEV, "nrf9161_LACA", "a4d580b9-aafb-4925-bc8d-db95f737d4ae", NULL, QUEUE,
                                  &seq), 1, "1: the device is claimed already (not an error of the store)");
  cr_assert_eq(seq, 0, "nothing inserted");
  cr_assert_eq(store_end(s, false), 0);
}

Test(store, identities_put_replace_find_delete) {
  store_identity i = {.device_id = DEV, .public_key_pem = "-----BEGIN PUBLIC KEY-----\nA\n-----END PUBLIC KEY-----\n",
                      .imei = "352656106118683", .created_at = 1};
  cr_assert_eq(store_begin(s), 0);
  cr_assert_eq(store_identity_put(s, &i), 0);
  i.public_key_pem = "-----BEGIN PUBLIC KEY-----\nB\n-----END PUBLIC KEY-----\n";
  cr_assert_eq(store_identity_put(s, &i), 0, "a second put replaces");
  cr_assert_eq(store_end(s, true), 0);

  store_identity got;
  cr_assert_eq(store_begin(s), 0);
  cr_assert_eq(store_identity_find(s, DEV, &got), 0);
  cr_assert(strstr(got.public_key_pem, "\nB\n"), "%s", got.public_key_pem);
  cr_assert_str_eq(got.imei, "352656106118683");
  cr_assert_str_eq(got.device_type, "");
  store_identity_free(&got);
  cr_assert_eq(store_identity_delete(s, DEV), 0);
  cr_assert_eq(store_identity_delete(s, DEV), 1, "1 = none left");
  cr_assert_eq(store_identity_find(s, DEV, &got), 1);
  cr_assert_eq(store_end(s, true), 0);
}

Test(store, reset_of_one_team_keeps_the_other) {
  const char *other = "4961c873-408c-45ce-b1ba-7c0d99d88170";
  cr_assert_eq(store_begin(s), 0);
  int64_t a = team("key-a", "a5592ec1-18ae-4d9d-bc44-1d9bd927bbe9");
  int64_t b = team("key-b", "b5592ec1-18ae-4d9d-bc44-1d9bd927bbe9");
  claim(a, DEV);
  claim(b, other);
  cr_assert_eq(store_reset(s, "a5592ec1-18ae-4d9d-bc44-1d9bd927bbe9"), 0);
  store_device_claim d;
  cr_assert_eq(store_claim_for_device(s, DEV, &d), 1);
  cr_assert_eq(store_claim_for_device(s, other, &d), 0);
  cr_assert_eq(store_reset(s, NULL), 0);
  cr_assert_eq(store_claim_for_device(s, other, &d), 1);
  cr_assert_eq(store_end(s, true), 0);
}
