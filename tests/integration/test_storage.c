/* Storage safety through the real binary (docs/control-api.md §5, Storage): with the
 * disk full, every write endpoint answers 500/50000 (CoAP 5.00), logs the request id,
 * and leaves the state, the caches and the counters as they were; once there is room
 * again the same calls succeed.
 *
 * The full disk is the test-only option --test-disk-full-file: while the flag file
 * exists, every write SQLite makes fails with SQLITE_FULL. The store runs in WAL mode,
 * so a transaction's pages reach the disk at COMMIT, and it is COMMIT that fails. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "harness_device.h"
#include "harness_scenarios.h"
#include "proto/dcbor.h"

static mock m;
static char root[256], flag[320];

#define KEY "storage-team"

static void start(void) {
  char data[300];
  snprintf(root, sizeof root, "/tmp/nrfprov-storage-XXXXXX");
  cr_assert(mkdtemp(root));
  snprintf(flag, sizeof flag, "%s/disk-full", root);
  snprintf(data, sizeof data, "%s/data", root);
  mock_start(&m, "--data-dir", data, "--test-disk-full-file", flag, NULL);
}

static void stop(void) {
  cr_assert_eq(mock_stop(&m), 0, "the mock exits 0 on SIGTERM after failed commits");
  remove_tree(root);
}

TestSuite(disk_full, .init = start, .fini = stop, .timeout = 60);

static void disk_full(bool on) {
  if (on) {
    FILE *f = fopen(flag, "w");
    cr_assert(f);
    fclose(f);
  } else {
    cr_assert_eq(unlink(flag), 0);
  }
}

/* A 500/50000 answer; r is freed. Its request id is in the log with the reason. */
static void expect_full(http_resp *r, const char *what) {
  char id[64], *log;
  cr_assert_eq(r->status, 500, "%s: status %ld: %s", what, r->status, r->body);
  cr_assert_eq(jint(r->json, "code"), 50000, "%s: %s", what, r->body);
  cr_assert(resp_header(r, "X-Request-Id", id, sizeof id), "%s: X-Request-Id", what);
  http_resp_free(r);
  cr_assert((log = read_file(m.log_file, NULL)));
  cr_assert(strstr(log, id), "%s: the log names request %s", what, id);
  free(log);
}

static long status_of(http_resp *r) {
  long s = r->status;
  http_resp_free(r);
  return s;
}

static json_t *get_json(const char *key, const char *path) {
  http_resp *r = owner(&m, key, "GET", path, NULL);
  cr_assert_eq(r->status, 200, "GET %s: %s", path, r->body);
  json_t *j = json_incref(r->json);
  http_resp_free(r);
  return j;
}

static long long total_of(const char *key, const char *path) {
  json_t *j = get_json(key, path);
  long long n = jint(j, "total");
  json_decref(j);
  return n;
}

static http_resp *control(const char *method, const char *path, const char *json) {
  const char *hdrs[] = {"Content-Type: application/json", NULL};
  return http_req(&m, method, path, hdrs, json, json ? strlen(json) : 0);
}

static http_resp *post_csv(const char *path, const char *csv) {
  const char *hdrs[] = {"Authorization: Bearer " KEY, "Content-Type: text/csv", NULL};
  return http_req(&m, "POST", path, hdrs, csv, strlen(csv));
}

Test(disk_full, claims_block_tags_unclaim_and_bulk_are_refused_and_change_nothing) {
  char dev[37], path[128], tok[1100], other[37], body[1300], csv[2400], tok2[1100], dev2[37];
  claim_new(&m, KEY, "[\"lab\"]", dev);
  snprintf(path, sizeof path, "/v1/claimed-devices/%s", dev);
  json_t *before = get_json(KEY, path); /* also fills the view cache */
  make_token(tok, sizeof tok, other);
  make_token(tok2, sizeof tok2, dev2);
  snprintf(body, sizeof body, "{\"claimToken\": \"%s\"}", tok);
  snprintf(csv, sizeof csv, "claimToken,tags\n%s,x\n%s,y\n", tok, tok2);

  disk_full(true);
  expect_full(owner(&m, KEY, "POST", "/v1/claimed-devices", body), "claim");
  expect_full(post_csv("/v1/claimed-devices", csv), "CSV claim");
  expect_full(post_csv("/v1/claimed-devices/bulk", csv), "bulk claim");
  char p2[160];
  snprintf(p2, sizeof p2, "%s/block", path);
  expect_full(owner(&m, KEY, "POST", p2, NULL), "block");
  expect_full(owner(&m, KEY, "PUT", strcat(strcpy(p2, path), "/tags"), "{\"tags\": [\"moved\"]}"), "tags");
  expect_full(owner(&m, KEY, "DELETE", path, NULL), "unclaim");
  /* A new team is a row too: its first call cannot be answered as if it existed. */
  expect_full(owner(&m, "brand-new-team", "GET", "/v1/claimed-devices", NULL), "new team");
  /* Reads still work while the disk is full, and show the state before. */
  json_t *during = get_json(KEY, path);
  cr_assert(json_equal(before, during), "the cached view did not move");
  json_decref(during);
  disk_full(false);

  json_t *after = get_json(KEY, path);
  cr_assert(json_equal(before, after), "the device is as before: %s", json_dumps(after, 0));
  json_decref(after);
  json_decref(before);
  cr_assert_eq(total_of(KEY, "/v1/claimed-devices"), 1, "nothing was claimed");
  snprintf(p2, sizeof p2, "/v1/claimed-devices/%s", other);
  cr_assert_eq(status_of(owner(&m, KEY, "GET", p2, NULL)), 404);
  /* There is room again: the same calls go through. */
  snprintf(p2, sizeof p2, "%s/block", path);
  cr_assert_eq(status_of(owner(&m, KEY, "POST", p2, NULL)), 200);
  cr_assert_eq(status_of(owner(&m, KEY, "POST", "/v1/claimed-devices", body)), 201);
}

Test(disk_full, commands_settle_deliver_and_device_exchanges_are_refused_and_change_nothing) {
  char cred[1200], uuid[37], c1[37], c2[37], st[24], path[256];
  sc_claim(&m, cred, uuid);
  sc_queue(&m, uuid, "{\"finished\":{}}", c1);
  dev_client d;
  dev_open(&d, &m, DEV_HTTP, cred);
  uint8_t *cbor = NULL;
  size_t len = 0, n = 0;
  cr_assert_eq(dev_fetch(&d, "", &cbor, &len), DEV_COMMANDS);
  dcbor_owned_command *c = NULL;
  char why[200];
  cr_assert_eq(dcbor_decode_commands(cbor, len, &c, &n, why, sizeof why), 0, "%s", why);
  free(cbor);
  cr_assert_str_eq(sc_command_status(&m, uuid, c1, st), "IN_PROGRESS");
  sc_queue(&m, uuid, "{\"config\":{\"properties\":{\"a\":\"b\"}}}", c2);

  disk_full(true);
  snprintf(path, sizeof path, "/v1/claimed-devices/%s/provisioning", uuid);
  expect_full(owner(&m, SC_KEY, "POST", path, "{\"request\": {\"finished\": {}}}"), "queue a command");
  expect_full(owner(&m, SC_KEY, "DELETE", path, NULL), "reset the commands");
  snprintf(path, sizeof path, "/v1/claimed-devices/%s/provisioning/%s", uuid, c2);
  expect_full(owner(&m, SC_KEY, "DELETE", path, NULL), "discard");
  snprintf(path, sizeof path, "/_mock/claimed-devices/%s/provisioning/%s/deliver", uuid, c2);
  expect_full(owner(&m, SC_KEY, "POST", path, NULL), "deliver");
  snprintf(path, sizeof path, "/_mock/claimed-devices/%s/provisioning/%s/result", uuid, c2);
  expect_full(owner(&m, SC_KEY, "POST", path, "{\"status\": \"FAILED\", \"cmeError\": 514}"), "settle");
  /* The device's poll would mark c2 delivered: 500, over HTTP and CoAP alike. */
  cr_assert_eq(dev_fetch(&d, "", NULL, NULL), DEV_OTHER);
  cr_assert_eq(d.status, 500);
  dev_client dc;
  dev_open(&dc, &m, DEV_COAP, cred);
  cr_assert_eq(dev_fetch(&dc, "", NULL, NULL), DEV_OTHER);
  cr_assert_eq(dc.status, 500, "CoAP 5.00, got %d", dc.status);
  dcbor_response r = {c[0].cid, DRSP_FINISHED_ACK, 0, NULL};
  uint8_t *rep;
  size_t rlen;
  cr_assert_eq(dcbor_encode_responses(&r, 1, 0, &rep, &rlen), 0);
  cr_assert_eq(dev_report(&d, rep, rlen), DEV_OTHER);
  cr_assert_eq(d.status, 500);
  cr_assert_eq(dev_report(&dc, rep, rlen), DEV_OTHER);
  cr_assert_eq(dc.status, 500);
  disk_full(false);

  cr_assert_str_eq(sc_command_status(&m, uuid, c1, st), "IN_PROGRESS", "the report was not applied");
  cr_assert_str_eq(sc_command_status(&m, uuid, c2, st), "PENDING", "neither delivered nor settled nor discarded");
  snprintf(path, sizeof path, "/v1/claimed-devices/%s/provisioning", uuid);
  cr_assert_eq(total_of(SC_KEY, path), 2, "no command queued, none reset");
  /* Room again: the report goes through. */
  cr_assert_eq(dev_report(&d, rep, rlen), DEV_ACCEPTED);
  cr_assert_str_eq(sc_command_status(&m, uuid, c1, st), "SUCCEEDED");
  free(rep);
  dcbor_commands_free(c, n);
  dev_close(&dc);
  dev_close(&d);
}

Test(disk_full, rules_and_tags_are_refused_and_change_nothing) {
  http_resp *r = owner(&m, KEY, "POST", "/v1/provisioning/tags", "{\"tag\": \"keep\"}");
  cr_assert_eq(r->status, 201, "%s", r->body);
  http_resp_free(r);
  r = owner(&m, KEY, "POST", "/v1/provisioning-rules",
            "{\"name\": \"r1\", \"tags\": [\"keep\"], \"commands\": [{\"request\": {\"finished\": {}}}]}");
  cr_assert_eq(r->status, 201, "%s", r->body);
  char rule[128];
  snprintf(rule, sizeof rule, "/v1/provisioning-rules/%s", jstr(r->json, "id"));
  http_resp_free(r);
  r = owner(&m, KEY, "POST", "/v1/provisioning/tags", "{\"tag\": \"lonely\"}");
  cr_assert_eq(r->status, 201, "%s", r->body);
  http_resp_free(r);
  json_t *before = get_json(KEY, rule);

  disk_full(true);
  expect_full(owner(&m, KEY, "POST", "/v1/provisioning-rules",
                    "{\"name\": \"r2\", \"tags\": [\"keep\"], \"commands\": [{\"request\": {\"finished\": {}}}]}"), "create a rule");
  expect_full(owner(&m, KEY, "PATCH", rule, "{\"name\": \"renamed\"}"), "update a rule");
  expect_full(owner(&m, KEY, "DELETE", rule, NULL), "delete a rule");
  expect_full(owner(&m, KEY, "POST", "/v1/provisioning/tags", "{\"tag\": \"new\"}"), "create a tag");
  expect_full(owner(&m, KEY, "DELETE", "/v1/provisioning/tags/lonely", NULL), "delete a tag");
  disk_full(false);

  json_t *after = get_json(KEY, rule);
  cr_assert(json_equal(before, after), "the rule is as before");
  json_decref(before);
  json_decref(after);
  cr_assert_eq(total_of(KEY, "/v1/provisioning-rules"), 1);
  cr_assert_eq(total_of(KEY, "/v1/provisioning/tags"), 2);
}

Test(disk_full, control_writes_are_refused_and_change_nothing) {
  char dev[37], path[128];
  claim_new(&m, KEY, NULL, dev);
  snprintf(path, sizeof path, "/v1/claimed-devices/%s", dev);
  const char *pem = "-----BEGIN PUBLIC KEY-----\\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE/zdbf8Ag+81OCYJczWM8QFdYSeiv\\n"
                    "9trmEohABSTuqy6qU7OyDNgdcChqPMYzNzbVpl8TdDn0iRdT1uJUmPVubA==\\n-----END PUBLIC KEY-----\\n";
  char body[600];
  snprintf(body, sizeof body, "{\"deviceId\": \"11111111-2222-4333-8444-555555555555\", \"publicKeyPem\": \"%s\"}", pem);
  cr_assert_eq(status_of(control("POST", "/_mock/identities", body)), 201);
  http_resp *r = control("POST", "/_mock/snapshot", "{\"name\": \"before\"}");
  cr_assert_eq(r->status, 200, "%s", r->body);
  http_resp_free(r);

  disk_full(true);
  snprintf(body, sizeof body, "{\"deviceId\": \"21111111-2222-4333-8444-555555555555\", \"publicKeyPem\": \"%s\"}", pem);
  expect_full(control("POST", "/_mock/identities", body), "register an identity");
  expect_full(control("DELETE", "/_mock/identities/11111111-2222-4333-8444-555555555555", NULL), "remove an identity");
  expect_full(control("POST", "/_mock/fixtures", "{\"teams\": [{\"apiKey\": \"fixture-team\"}]}"), "fixtures");
  expect_full(control("POST", "/_mock/reset", NULL), "reset");
  expect_full(control("POST", "/_mock/reset?team=" KEY, NULL), "team reset");
  expect_full(control("POST", "/_mock/snapshot", "{\"name\": \"during\"}"), "snapshot");
  disk_full(false);

  cr_assert_eq(status_of(owner(&m, KEY, "GET", path, NULL)), 200, "the reset did not happen");
  json_t *ids = NULL;
  r = control("GET", "/_mock/identities", NULL);
  cr_assert_eq(r->status, 200);
  ids = json_incref(r->json);
  http_resp_free(r);
  cr_assert_eq(jint(ids, "total"), 1, "one identity, the first");
  json_decref(ids);
  r = control("GET", "/_mock/snapshots", NULL);
  cr_assert_eq(r->status, 200, "%s", r->body);
  cr_assert_eq(json_array_size(json_object_get(r->json, "items")), 1, "no half-written snapshot: %s", r->body);
  http_resp_free(r);

  /* A restore with the disk full replaces nothing. */
  cr_assert_eq(status_of(owner(&m, KEY, "DELETE", path, NULL)), 204);
  disk_full(true);
  expect_full(control("POST", "/_mock/restore", "{\"name\": \"before\"}"), "restore");
  disk_full(false);
  cr_assert_eq(status_of(owner(&m, KEY, "GET", path, NULL)), 404, "the state is the one before the restore");
  cr_assert_eq(status_of(control("POST", "/_mock/restore", "{\"name\": \"before\"}")), 204);
  cr_assert_eq(status_of(owner(&m, KEY, "GET", path, NULL)), 200);
}
