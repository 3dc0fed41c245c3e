/* The control API's journal, fault injection, metrics, snapshot/restore and fixtures
 * (docs/control-api.md §1, §2, §4) through the real binary: what tests and QA read back and how
 * they steer the mock. CoAP's side of the journal and of the faults is wired by the CoAP
 * listener and tested with it; here every exchange is HTTP. */
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "harness_device.h"
#include "harness_scenarios.h"
#include "proto/b64url.h"

static mock m;
static void start(void) { mock_start(&m, NULL); }
static void stop(void) { mock_stop(&m); }

#define KEY "control-team"
#define OTHER "other-team"

/* ---- helpers ---------------------------------------------------------------------- */

static http_resp *control(mock *mm, const char *method, const char *path, const char *json) {
  const char *hdrs[] = {"Content-Type: application/json", NULL};
  return http_req(mm, method, path, hdrs, json, json ? strlen(json) : 0);
}

/* GET /_mock/requests with query q ("" for none); the parsed answer (caller decrefs). */
static json_t *requests(mock *mm, const char *q) {
  char path[512];
  snprintf(path, sizeof path, "/_mock/requests%s%s", *q ? "?" : "", q);
  http_resp *r = control(mm, "GET", path, NULL);
  cr_assert_eq(r->status, 200, "%s: %s", path, r->body);
  json_t *j = json_incref(r->json);
  http_resp_free(r);
  cr_assert(json_is_array(json_object_get(j, "items")), "items");
  return j;
}

static json_t *item(json_t *list, size_t i) { return json_array_get(json_object_get(list, "items"), i); }

static long owner_status(mock *mm, const char *key, const char *method, const char *path) {
  http_resp *r = owner(mm, key, method, path, NULL);
  long s = r->status;
  http_resp_free(r);
  return s;
}

/* One request with its own curl handle: the curl result (CURLE_GOT_NOTHING when the
 * server closed without answering) and the status. */
static CURLcode raw_get(mock *mm, const char *path, long *status) {
  CURL *c = curl_easy_init();
  char url[512];
  snprintf(url, sizeof url, "%s%s", mm->base, path);
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
  curl_easy_setopt(c, CURLOPT_NOBODY, 0L);
  FILE *sink = fopen("/dev/null", "w");
  curl_easy_setopt(c, CURLOPT_WRITEDATA, sink);
  CURLcode rc = curl_easy_perform(c);
  *status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
  curl_easy_cleanup(c);
  fclose(sink);
  return rc;
}

/* ---- request journal -------------------------------------------------------------- */

TestSuite(journal, .init = start, .fini = stop, .timeout = 60);

Test(journal, owner_calls_newest_first_with_every_key) {
  char id[37], path[128];
  claim_new(&m, KEY, NULL, id);
  snprintf(path, sizeof path, "/v1/claimed-devices?pageLimit=5");
  cr_assert_eq(owner_status(&m, KEY, "GET", path), 200);
  json_t *j = requests(&m, "");
  cr_assert_eq(jint(j, "total"), 2, "%s", json_dumps(j, 0));
  json_t *list = item(j, 0), *claim = item(j, 1);
  static const char *keys[] = {"time", "requestId", "protocol", "method", "path", "query", "status", "deviceId",
                               "team", "durationMs", "requestBody", "responseBody", "fault"};
  cr_assert_eq(json_object_size(list), sizeof keys / sizeof keys[0]);
  for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) cr_assert(json_object_get(list, keys[i]), "key %s", keys[i]);
  cr_assert_str_eq(jstr(list, "method"), "GET");
  cr_assert_str_eq(jstr(list, "path"), "/v1/claimed-devices");
  cr_assert_str_eq(jstr(list, "query"), "pageLimit=5");
  cr_assert_str_eq(jstr(list, "protocol"), "http");
  cr_assert_eq(jint(list, "status"), 200);
  cr_assert(json_is_null(json_object_get(list, "fault")));
  cr_assert(json_is_null(json_object_get(list, "requestBody")));
  cr_assert(strstr(jstr(list, "responseBody"), id), "response body text holds the device");
  cr_assert_eq(strlen(jstr(list, "time")), 24);
  cr_assert(json_is_number(json_object_get(list, "durationMs")));
  cr_assert_str_eq(jstr(claim, "method"), "POST");
  cr_assert_eq(jint(claim, "status"), 201);
  cr_assert(strstr(jstr(claim, "requestBody"), "claimToken"), "request body as text");
  cr_assert(json_is_null(json_object_get(claim, "query")));
  /* team is the ownerId the claim answer shows. */
  cr_assert_eq(strlen(jstr(claim, "team")), 36);
  cr_assert(strstr(jstr(claim, "responseBody"), jstr(claim, "team")));
  json_decref(j);
}

Test(journal, device_calls_with_cbor_bodies_in_base64) {
  char cred[1200], uuid[37], cmd[37];
  sc_claim(&m, cred, uuid);
  sc_queue(&m, uuid, "{\"finished\":{}}", cmd);
  dev_client d;
  dev_open(&d, &m, DEV_HTTP, cred);
  uint8_t *cbor = NULL;
  size_t len = 0;
  cr_assert_eq(dev_fetch(&d, "after=&rxMaxSize=4096", &cbor, &len), DEV_COMMANDS);
  const uint8_t junk[] = {0xa1, 0x00, 0xff, 0x81};
  dev_report(&d, junk, sizeof junk);
  dev_close(&d);

  json_t *j = requests(&m, "path=/v1/provisioning/");
  cr_assert_eq(jint(j, "total"), 2);
  json_t *report = item(j, 0), *fetch = item(j, 1);
  cr_assert_str_eq(jstr(fetch, "deviceId"), uuid);
  cr_assert_str_eq(jstr(fetch, "query"), "after=&rxMaxSize=4096");
  char b64[8192];
  cr_assert(b64_std_encode(cbor, len, b64, sizeof b64) > 0);
  cr_assert_str_eq(jstr(fetch, "responseBody"), b64, "CBOR answer in base64");
  cr_assert(b64_std_encode(junk, sizeof junk, b64, sizeof b64) > 0);
  cr_assert_str_eq(jstr(report, "requestBody"), b64, "CBOR request in base64");
  cr_assert_str_eq(jstr(report, "deviceId"), uuid);
  free(cbor);
  json_decref(j);

  /* deviceId= selects one device's exchanges. */
  char q[128];
  snprintf(q, sizeof q, "deviceId=%s", uuid);
  j = requests(&m, q);
  cr_assert_eq(jint(j, "total"), 2);
  json_decref(j);
  j = requests(&m, "deviceId=00000000-0000-0000-0000-000000000000");
  cr_assert_eq(jint(j, "total"), 0);
  json_decref(j);
}

Test(journal, path_prefix_limit_and_total) {
  char id[37];
  for (int i = 0; i < 3; i++) claim_new(&m, KEY, NULL, id);
  for (int i = 0; i < 4; i++) cr_assert_eq(owner_status(&m, KEY, "GET", "/v1/provisioning-rules"), 200);
  json_t *j = requests(&m, "path=/v1/claimed&limit=2");
  cr_assert_eq(jint(j, "total"), 3);
  cr_assert_eq(json_array_size(json_object_get(j, "items")), 2);
  cr_assert_str_eq(jstr(item(j, 0), "path"), "/v1/claimed-devices");
  json_decref(j);
  j = requests(&m, "path=v1/provisioning-rules");
  cr_assert_eq(jint(j, "total"), 4, "a leading / is optional");
  json_decref(j);
  j = requests(&m, "limit=0");
  cr_assert_eq(jint(j, "total"), 7);
  cr_assert_eq(json_array_size(json_object_get(j, "items")), 0);
  json_decref(j);
}

Test(journal, bodies_are_cut_to_2_kib) {
  char *body = malloc(10000);
  size_t n = (size_t)snprintf(body, 10000, "{\"claimToken\":\"");
  memset(body + n, 'a', 9000);
  snprintf(body + n + 9000, 10000 - n - 9000, "\"}");
  http_resp *r = owner(&m, KEY, "POST", "/v1/claimed-devices", body);
  cr_assert_eq(r->status, 400);
  http_resp_free(r);
  free(body);
  json_t *j = requests(&m, "");
  const char *req = jstr(item(j, 0), "requestBody");
  cr_assert_eq(strlen(req), 2048, "cut to 2 KiB, got %zu", strlen(req));
  cr_assert(!strncmp(req, "{\"claimToken\":\"aaaa", 19));
  json_decref(j);
}

Test(journal, bad_limit_is_40006) {
  static const char *bad[] = {"limit=-1", "limit=abc", "limit=", "limit=10001"};
  for (size_t i = 0; i < 4; i++) {
    char path[64];
    snprintf(path, sizeof path, "/_mock/requests?%s", bad[i]);
    http_resp *r = control(&m, "GET", path, NULL);
    expect_error(r, 400, 40006, "limit");
    http_resp_free(r);
  }
}

Test(journal, control_calls_are_not_journaled_and_delete_clears) {
  http_resp *r = control(&m, "GET", "/_mock/health", NULL);
  http_resp_free(r);
  cr_assert_eq(owner_status(&m, KEY, "GET", "/v1/claimed-devices"), 200);
  r = control(&m, "GET", "/_mock/config", NULL);
  http_resp_free(r);
  json_t *j = requests(&m, "");
  cr_assert_eq(jint(j, "total"), 1, "only the owner call");
  json_decref(j);
  r = control(&m, "DELETE", "/_mock/requests", NULL);
  cr_assert_eq(r->status, 204);
  http_resp_free(r);
  j = requests(&m, "");
  cr_assert_eq(jint(j, "total"), 0);
  json_decref(j);
}

/* Suites whose tests start the mock themselves, with options of their own. */
TestSuite(journal_size, .fini = stop, .timeout = 60);

Test(journal_size, bounded_by_journal_size) {
  mock_start(&m, "--journal-size", "5", NULL);
  char path[64];
  for (int i = 0; i < 12; i++) {
    snprintf(path, sizeof path, "/v1/claimed-devices?pageLimit=%d", i + 1);
    cr_assert_eq(owner_status(&m, KEY, "GET", path), 200);
  }
  json_t *j = requests(&m, "");
  cr_assert_eq(jint(j, "total"), 5);
  cr_assert_str_eq(jstr(item(j, 0), "query"), "pageLimit=12", "newest first");
  cr_assert_str_eq(jstr(item(j, 4), "query"), "pageLimit=8", "oldest kept");
  json_decref(j);
}

Test(journal_size, zero_turns_it_off) {
  mock_start(&m, "--journal-size", "0", NULL);
  cr_assert_eq(owner_status(&m, KEY, "GET", "/v1/claimed-devices"), 200);
  json_t *j = requests(&m, "");
  cr_assert_eq(jint(j, "total"), 0);
  cr_assert_eq(json_array_size(json_object_get(j, "items")), 0);
  json_decref(j);
}

Test(journal_size, out_of_range_is_refused_at_start) {
  char out[256], err[1024];
  const char *args[] = {"--in-memory", "--journal-size", "2000000", NULL};
  cr_assert_eq(run_mock_binary(args, out, sizeof out, err, sizeof err), 1);
  cr_assert(strstr(err, "--journal-size"), "%s", err);
}

/* ---- fault injection -------------------------------------------------------------- */

TestSuite(faults, .init = start, .fini = stop, .timeout = 60);

Test(faults, status_with_the_injected_fault_body_and_times_counting_down) {
  char id[37], msg[80];
  add_fault(&m, "{\"match\": {\"method\": \"GET\", \"path\": \"/v1/claimed-devices\"}, \"action\": {\"status\": 503}, \"times\": 2}", id);
  snprintf(msg, sizeof msg, "injected fault %s", id);
  for (int i = 0; i < 2; i++) {
    http_resp *r = owner(&m, KEY, "GET", "/v1/claimed-devices", NULL);
    cr_assert_eq(r->status, 503);
    cr_assert_eq(jint(r->json, "code"), 50300);
    cr_assert_str_eq(jstr(r->json, "message"), msg);
    http_resp_free(r);
    if (i == 0) {
      http_resp *l = control(&m, "GET", "/_mock/faults", NULL);
      cr_assert_eq(jint(json_array_get(json_object_get(l->json, "items"), 0), "times"), 1, "%s", l->body);
      http_resp_free(l);
    }
  }
  cr_assert_eq(owner_status(&m, KEY, "GET", "/v1/claimed-devices"), 200, "used up");
  http_resp *l = control(&m, "GET", "/_mock/faults", NULL);
  cr_assert_eq(json_array_size(json_object_get(l->json, "items")), 0, "the rule is gone: %s", l->body);
  http_resp_free(l);
  /* Fired faults are journaled with the rule id. */
  json_t *j = requests(&m, "");
  cr_assert_eq(jint(j, "total"), 3);
  cr_assert_str_eq(jstr(item(j, 1), "fault"), id);
  cr_assert_eq(jint(item(j, 1), "status"), 503);
  cr_assert(json_is_null(json_object_get(item(j, 0), "fault")));
  json_decref(j);
}

Test(faults, defaults_are_echoed) {
  http_resp *r = control(&m, "POST", "/_mock/faults", "{\"match\": {\"path\": \"/v1/*\"}, \"action\": {\"status\": 500}}");
  cr_assert_eq(r->status, 201, "%s", r->body);
  json_t *match = json_object_get(r->json, "match");
  cr_assert_str_eq(jstr(match, "protocol"), "any");
  cr_assert_str_eq(jstr(match, "path"), "/v1/*");
  cr_assert(json_is_null(json_object_get(r->json, "times")), "unlimited");
  cr_assert_float_eq(json_number_value(json_object_get(r->json, "probability")), 1.0, 1e-9);
  cr_assert(json_is_integer(json_object_get(r->json, "seed")), "the seed used is shown");
  cr_assert_eq(jint(json_object_get(r->json, "action"), "status"), 500);
  http_resp_free(r);
}

/* The firing pattern of a rule with probability 0.5 and seed 42 over n requests. */
static void pattern(char *out, int n) {
  char id[37];
  add_fault(&m, "{\"match\": {\"path\": \"/v1/claimed-devices\"}, \"action\": {\"status\": 500}, \"probability\": 0.5, \"seed\": 42}", id);
  for (int i = 0; i < n; i++) out[i] = owner_status(&m, KEY, "GET", "/v1/claimed-devices") == 500 ? 'x' : '.';
  out[n] = 0;
  http_resp *r = control(&m, "DELETE", "/_mock/faults", NULL);
  cr_assert_eq(r->status, 204);
  http_resp_free(r);
}

Test(faults, probability_with_a_seed_is_repeatable) {
  char a[41], b[41];
  pattern(a, 40);
  pattern(b, 40);
  cr_assert_str_eq(a, b, "same seed, same draws");
  cr_assert(strchr(a, 'x') && strchr(a, '.'), "about half fire: %s", a);
}

Test(faults, prefix_match_with_a_star) {
  char id[37], dev[37], path[128];
  claim_new(&m, KEY, NULL, dev);
  add_fault(&m, "{\"match\": {\"path\": \"/v1/claimed-devices/*\"}, \"action\": {\"status\": 502}}", id);
  snprintf(path, sizeof path, "/v1/claimed-devices/%s", dev);
  cr_assert_eq(owner_status(&m, KEY, "GET", path), 502);
  snprintf(path, sizeof path, "/v1/claimed-devices/%s/provisioning", dev);
  cr_assert_eq(owner_status(&m, KEY, "GET", path), 502);
  cr_assert_eq(owner_status(&m, KEY, "GET", "/v1/claimed-devices"), 200, "the prefix ends with its /");
  cr_assert_eq(owner_status(&m, KEY, "GET", "/v1/provisioning-rules"), 200);
}

Test(faults, close_connection_answers_nothing) {
  char id[37];
  add_fault(&m, "{\"match\": {\"protocol\": \"http\", \"path\": \"/v1/devices\"}, \"action\": {\"closeConnection\": true}, \"times\": 1}", id);
  long status;
  cr_assert_eq(raw_get(&m, "/v1/devices", &status), CURLE_GOT_NOTHING);
  json_t *j = requests(&m, "path=/v1/devices");
  cr_assert_eq(jint(j, "total"), 1);
  cr_assert(json_is_null(json_object_get(item(j, 0), "status")), "no answer was sent");
  cr_assert_str_eq(jstr(item(j, 0), "fault"), id);
  json_decref(j);
  cr_assert_eq(raw_get(&m, "/v1/devices", &status), CURLE_OK);
  cr_assert_eq(status, 401, "the next call is answered (no API key)");
}

Test(faults, delay_then_answer) {
  char id[37];
  add_fault(&m, "{\"match\": {\"path\": \"/v1/claimed-devices\"}, \"action\": {\"delayMs\": 200}, \"times\": 1}", id);
  cr_assert_eq(owner_status(&m, KEY, "GET", "/v1/claimed-devices"), 200, "a delay alone answers normally");
  add_fault(&m, "{\"match\": {\"path\": \"/v1/claimed-devices\"}, \"action\": {\"delayMs\": 100, \"status\": 504}, \"times\": 1}", id);
  cr_assert_eq(owner_status(&m, KEY, "GET", "/v1/claimed-devices"), 504, "a status with a delay waits, then answers");
}

TestSuite(faults_alone, .fini = stop, .timeout = 60);

/* A delayed request holds no worker thread: with one worker, other requests are
 * answered while it waits; and a stop answers it at once and exits 0. */
Test(faults_alone, delayed_request_blocks_neither_workers_nor_stop) {
  mock_start(&m, "--threads", "1", NULL);
  char id[37];
  add_fault(&m, "{\"match\": {\"path\": \"/v1/devices\"}, \"action\": {\"delayMs\": 600000}}", id);
  pid_t child = fork();
  cr_assert(child >= 0);
  if (child == 0) {
    long status;
    CURLcode rc = raw_get(&m, "/v1/devices", &status);
    _exit(rc == CURLE_OK ? 0 : 3);
  }
  wait_fired(&m, 1);
  cr_assert_eq(owner_status(&m, KEY, "GET", "/v1/claimed-devices"), 200);
  cr_assert_eq(waitpid(child, NULL, WNOHANG), 0, "the delayed request is still waiting");
  cr_assert_eq(mock_stop(&m), 0);
  int status;
  cr_assert_eq(waitpid(child, &status, 0), child);
  cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the delayed request got an answer on stop");
}

Test(faults, match_team_is_the_api_key) {
  char id[37];
  add_fault(&m, "{\"match\": {\"path\": \"*\", \"team\": \"" OTHER "\"}, \"action\": {\"status\": 429}}", id);
  cr_assert_eq(owner_status(&m, OTHER, "GET", "/v1/claimed-devices"), 429);
  cr_assert_eq(owner_status(&m, KEY, "GET", "/v1/claimed-devices"), 200);
  /* The rules and the journal show the team as its ownerId, never its API key
   * (docs/control-api.md §5): any control caller can read them. */
  char owner_id[37];
  http_resp *r = control(&m, "GET", "/_mock/faults", NULL);
  cr_assert_eq(r->status, 200);
  cr_assert_null(strstr(r->body, OTHER), "no API key in the rules: %s", r->body);
  snprintf(owner_id, sizeof owner_id, "%s", jstr(json_object_get(json_array_get(json_object_get(r->json, "items"), 0), "match"), "team"));
  cr_assert_eq(strlen(owner_id), 36, "the team shows as an ownerId: %s", r->body);
  http_resp_free(r);
  json_t *j = requests(&m, "");
  char *text = json_dumps(j, 0);
  cr_assert_null(strstr(text, OTHER), "no API key in the journal");
  cr_assert(strstr(text, owner_id), "the journal names the team by the same ownerId: %s", text);
  free(text);
  json_decref(j);
}

Test(faults, match_device_id_on_owner_and_device_calls) {
  char cred[1200], uuid[37], other_cred[1200], other[37], id[37], body[256], path[128];
  sc_claim(&m, cred, uuid);
  sc_claim(&m, other_cred, other);
  snprintf(body, sizeof body, "{\"match\": {\"path\": \"*\", \"deviceId\": \"%s\"}, \"action\": {\"status\": 503}}", uuid);
  add_fault(&m, body, id);
  dev_client d;
  dev_open(&d, &m, DEV_HTTP, cred);
  cr_assert_eq(dev_fetch(&d, "", NULL, NULL), DEV_OTHER);
  cr_assert_eq(d.status, 503);
  dev_close(&d);
  dev_open(&d, &m, DEV_HTTP, other_cred);
  cr_assert_eq(dev_fetch(&d, "", NULL, NULL), DEV_NOTHING, "another device is not hit");
  dev_close(&d);
  snprintf(path, sizeof path, "/v1/claimed-devices/%s", uuid);
  cr_assert_eq(owner_status(&m, SC_KEY, "GET", path), 503);
  snprintf(path, sizeof path, "/v1/claimed-devices/%s", other);
  cr_assert_eq(owner_status(&m, SC_KEY, "GET", path), 200);
  /* The journal names the device of a fired fault on the device endpoint. */
  char q[128];
  snprintf(q, sizeof q, "deviceId=%s&path=/v1/provisioning", uuid);
  json_t *j = requests(&m, q);
  cr_assert_eq(jint(j, "total"), 1);
  cr_assert_str_eq(jstr(item(j, 0), "fault"), id);
  json_decref(j);
}

Test(faults, team_rule_hits_that_teams_devices) {
  char cred[1200], uuid[37], id[37];
  sc_claim(&m, cred, uuid);
  add_fault(&m, "{\"match\": {\"protocol\": \"http\", \"path\": \"/v1/provisioning/commands\", \"team\": \"" SC_KEY "\"}, "
            "\"action\": {\"status\": 500}}", id);
  dev_client d;
  dev_open(&d, &m, DEV_HTTP, cred);
  dev_fetch(&d, "", NULL, NULL);
  cr_assert_eq(d.status, 500);
  dev_close(&d);
}

Test(faults, control_calls_are_never_faulted) {
  char id[37];
  add_fault(&m, "{\"match\": {\"path\": \"*\"}, \"action\": {\"closeConnection\": true}}", id);
  http_resp *r = control(&m, "GET", "/_mock/health", NULL);
  cr_assert_eq(r->status, 200);
  http_resp_free(r);
}

Test(faults, list_and_delete) {
  char a[37], b[37], path[128];
  add_fault(&m, "{\"match\": {\"path\": \"/a\"}, \"action\": {\"status\": 500}}", a);
  add_fault(&m, "{\"match\": {\"protocol\": \"coap\", \"method\": \"get\", \"path\": \"p/cmd\"}, \"action\": {\"coapCode\": \"5.03\"}, "
            "\"times\": 3, \"probability\": 0.25, \"seed\": 7}", b);
  http_resp *r = control(&m, "GET", "/_mock/faults", NULL);
  json_t *items = json_object_get(r->json, "items");
  cr_assert_eq(json_array_size(items), 2);
  cr_assert_str_eq(jstr(json_array_get(items, 0), "id"), a, "creation order");
  json_t *second = json_array_get(items, 1);
  cr_assert_str_eq(jstr(json_object_get(second, "match"), "method"), "GET");
  cr_assert_str_eq(jstr(json_object_get(second, "action"), "coapCode"), "5.03");
  cr_assert_eq(jint(second, "seed"), 7);
  cr_assert_eq(jint(second, "times"), 3);
  http_resp_free(r);
  snprintf(path, sizeof path, "/_mock/faults/%s", a);
  r = control(&m, "DELETE", path, NULL);
  cr_assert_eq(r->status, 204);
  http_resp_free(r);
  r = control(&m, "DELETE", path, NULL);
  expect_error(r, 404, 40400, a);
  http_resp_free(r);
  r = control(&m, "DELETE", "/_mock/faults", NULL);
  cr_assert_eq(r->status, 204);
  http_resp_free(r);
  r = control(&m, "GET", "/_mock/faults", NULL);
  cr_assert_eq(json_array_size(json_object_get(r->json, "items")), 0);
  http_resp_free(r);
}

Test(faults, validation_errors_name_the_field) {
  static const struct {
    const char *body;
    long long code;
    const char *names;
  } cases[] = {
    {"{\"action\": {\"status\": 500}}", 40001, "match"},
    {"{\"match\": {}, \"action\": {\"status\": 500}}", 40001, "match.path"},
    {"{\"match\": {\"path\": \"\"}, \"action\": {\"status\": 500}}", 40001, "match.path"},
    {"{\"match\": {\"path\": \"/x\"}}", 40001, "action"},
    {"{\"match\": {\"path\": \"/x\"}, \"action\": {}}", 40001, "action"},
    {"{\"match\": \"/x\", \"action\": {\"status\": 500}}", 40004, "match"},
    {"{\"match\": {\"path\": 5}, \"action\": {\"status\": 500}}", 40004, "match.path"},
    {"{\"match\": {\"path\": \"/a*b\"}, \"action\": {\"status\": 500}}", 40004, "match.path"},
    {"{\"match\": {\"path\": \"/x\", \"protocol\": \"ftp\"}, \"action\": {\"status\": 500}}", 40004, "match.protocol"},
    {"{\"match\": {\"path\": \"/x\", \"pth\": \"/y\"}, \"action\": {\"status\": 500}}", 40004, "match.pth"},
    {"{\"match\": {\"path\": \"/x\"}, \"action\": {\"status\": 99}}", 40004, "action.status"},
    {"{\"match\": {\"path\": \"/x\"}, \"action\": {\"status\": \"500\"}}", 40004, "action.status"},
    {"{\"match\": {\"path\": \"/x\"}, \"action\": {\"coapCode\": \"5.3\"}}", 40004, "action.coapCode"},
    {"{\"match\": {\"path\": \"/x\"}, \"action\": {\"delayMs\": -1}}", 40004, "action.delayMs"},
    {"{\"match\": {\"path\": \"/x\"}, \"action\": {\"drop\": \"yes\"}}", 40004, "action.drop"},
    {"{\"match\": {\"path\": \"/x\"}, \"action\": {\"drop\": false}}", 40004, "action"},
    {"{\"match\": {\"path\": \"/x\"}, \"action\": {\"closeConnection\": true, \"status\": 500}}", 40004, "action.closeConnection"},
    {"{\"match\": {\"path\": \"/x\"}, \"action\": {\"status\": 500}, \"times\": 0}", 40004, "times"},
    {"{\"match\": {\"path\": \"/x\"}, \"action\": {\"status\": 500}, \"probability\": 1.5}", 40004, "probability"},
    {"{\"match\": {\"path\": \"/x\"}, \"action\": {\"status\": 500}, \"seed\": \"x\"}", 40004, "seed"},
    {"{\"match\": {\"path\": \"/x\"}, \"action\": {\"status\": 500}, \"time\": 3}", 40004, "time"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    http_resp *r = control(&m, "POST", "/_mock/faults", cases[i].body);
    cr_assert_eq(r->status, 400, "%s -> %s", cases[i].body, r->body);
    cr_assert_eq(jint(r->json, "code"), cases[i].code, "%s -> %s", cases[i].body, r->body);
    cr_assert(strstr(jstr(r->json, "message"), cases[i].names), "%s -> %s", cases[i].body, r->body);
    http_resp_free(r);
  }
  http_resp *r = control(&m, "POST", "/_mock/faults", "[1]");
  expect_error(r, 400, 40000, NULL);
  http_resp_free(r);
}

Test(faults, reset_clears_faults_and_journal) {
  char id[37];
  add_fault(&m, "{\"match\": {\"path\": \"/v1/devices\"}, \"action\": {\"status\": 500}}", id);
  cr_assert_eq(owner_status(&m, KEY, "GET", "/v1/claimed-devices"), 200);
  http_resp *r = control(&m, "POST", "/_mock/reset", NULL);
  cr_assert_eq(r->status, 204);
  http_resp_free(r);
  r = control(&m, "GET", "/_mock/faults", NULL);
  cr_assert_eq(json_array_size(json_object_get(r->json, "items")), 0);
  http_resp_free(r);
  json_t *j = requests(&m, "");
  cr_assert_eq(jint(j, "total"), 0);
  json_decref(j);
  cr_assert_eq(owner_status(&m, KEY, "GET", "/v1/devices"), 200);
}

/* ---- metrics ---------------------------------------------------------------------- */

TestSuite(metrics, .init = start, .fini = stop, .timeout = 60);

Test(metrics, prometheus_text_holds_the_series) {
  char cred[1200], uuid[37], cmd[37], path[128], id[37];
  sc_claim(&m, cred, uuid);
  sc_queue(&m, uuid, "{\"finished\":{}}", cmd);
  snprintf(path, sizeof path, "/v1/claimed-devices/%s", uuid);
  cr_assert_eq(owner_status(&m, SC_KEY, "GET", path), 200);
  dev_client d;
  dev_open(&d, &m, DEV_HTTP, cred);
  uint8_t *cbor = NULL;
  size_t len;
  cr_assert_eq(dev_fetch(&d, "", &cbor, &len), DEV_COMMANDS);
  free(cbor);
  dev_close(&d);
  add_fault(&m, "{\"match\": {\"path\": \"/v1/devices\"}, \"action\": {\"status\": 500}, \"times\": 1}", id);
  cr_assert_eq(owner_status(&m, SC_KEY, "GET", "/v1/devices"), 500);

  http_resp *r = control(&m, "GET", "/_mock/metrics", NULL);
  cr_assert_eq(r->status, 200);
  char type[128];
  cr_assert(resp_header(r, "Content-Type", type, sizeof type));
  cr_assert(!strncmp(type, "text/plain; version=0.0.4", 25), "%s", type);
  static const char *lines[] = {
    "nrfprov_requests_total{protocol=\"http\",route=\"/v1/claimed-devices\",status=\"201\"} 1\n",
    "nrfprov_requests_total{protocol=\"http\",route=\"/v1/claimed-devices/{}\",status=\"200\"} 1\n",
    "nrfprov_requests_total{protocol=\"http\",route=\"/v1/claimed-devices/{}/provisioning\",status=\"201\"} 1\n",
    "nrfprov_requests_total{protocol=\"http\",route=\"/v1/provisioning/commands\",status=\"200\"} 1\n",
    "nrfprov_requests_total{protocol=\"http\",route=\"/v1/devices\",status=\"500\"} 1\n",
    "nrfprov_device_polls_total{protocol=\"http\"} 1\n",
    "nrfprov_commands{status=\"IN_PROGRESS\"} 1\n",
    "nrfprov_commands{status=\"PENDING\"} 0\n",
    "nrfprov_faults_fired_total{protocol=\"http\"} 1\n",
    "nrfprov_journal_entries 5\n",
    "# TYPE nrfprov_db_size_bytes gauge\n",
  };
  for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) cr_assert(strstr(r->body, lines[i]), "%s missing in:\n%s", lines[i], r->body);
  cr_assert(strstr(r->body, "\nnrfprov_db_size_bytes ") && !strstr(r->body, "\nnrfprov_db_size_bytes 0\n"), "%s", r->body);
  http_resp_free(r);
}

/* Snapshot and restore: test_snapshots.c. */

/* ---- fixtures --------------------------------------------------------------------- */

TestSuite(fixtures, .init = start, .fini = stop, .timeout = 60);

static const char *pem_of_new_key(char *out, size_t n) {
  /* A fixed P-256 public key: the identity of a device no test signs for. */
  snprintf(out, n, "-----BEGIN PUBLIC KEY-----\\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE/zdbf8Ag+81OCYJczWM8QFdYSeiv\\n"
                   "9trmEohABSTuqy6qU7OyDNgdcChqPMYzNzbVpl8TdDn0iRdT1uJUmPVubA==\\n-----END PUBLIC KEY-----\\n");
  return out;
}

Test(fixtures, every_kind_loads_in_one_post) {
  char tok[1100], dev1[37], pem[400], doc[8192];
  make_token(tok, sizeof tok, dev1);
  const char *dev2 = "11111111-2222-4333-8444-555555555555", *dev3 = "21111111-2222-4333-8444-555555555555";
  snprintf(doc, sizeof doc,
           "{\"_comment\": \"test\","
           " \"teams\": [{\"apiKey\": \"" KEY "\", \"name\": \"Team\"}],"
           " \"identities\": [{\"deviceId\": \"%s\", \"publicKeyPem\": \"%s\", \"imei\": \"352656106118683\"}],"
           " \"tags\": [{\"team\": \"" KEY "\", \"tag\": \"lab\", \"description\": \"bench\"}],"
           " \"claimedDevices\": ["
           "   {\"team\": \"" KEY "\", \"claimToken\": \"%s\", \"tags\": [\"lab,fleet\"]},"
           "   {\"team\": \"" KEY "\", \"deviceId\": \"%s\", \"deviceType\": \"nrf9161_LACA\"},"
           "   {\"team\": \"" OTHER "\", \"deviceId\": \"%s\", \"deviceType\": \"nrf9151_LACA\", \"blocked\": true}],"
           " \"rules\": [],"
           " \"commands\": ["
           "   {\"team\": \"" KEY "\", \"deviceId\": \"%s\", \"request\": {\"finished\": {}}},"
           "   {\"team\": \"" KEY "\", \"deviceId\": \"%s\", \"request\": {\"config\": {\"properties\": {\"a\": \"b\"}}}, \"status\": \"SUCCEEDED\"},"
           "   {\"team\": \"" KEY "\", \"deviceId\": \"%s\", \"request\": {\"finished\": {}}, \"status\": \"IN_PROGRESS\"},"
           "   {\"team\": \"" OTHER "\", \"deviceId\": \"%s\", \"request\": {\"clientPrivateKeyGeneration\": {\"secTag\": 5}},"
           "    \"status\": \"FAILED\", \"cmeError\": 514}]}",
           dev2, pem_of_new_key(pem, sizeof pem), tok, dev2, dev3, dev1, dev2, dev2, dev3);
  http_resp *r = control(&m, "POST", "/_mock/fixtures", doc);
  cr_assert_eq(r->status, 201, "%s", r->body);
  cr_assert_eq(jint(r->json, "teams"), 1);
  cr_assert_eq(jint(r->json, "identities"), 1);
  cr_assert_eq(jint(r->json, "tags"), 1);
  cr_assert_eq(jint(r->json, "claimedDevices"), 3);
  cr_assert_eq(jint(r->json, "rules"), 0);
  cr_assert_eq(jint(r->json, "commands"), 4);
  http_resp_free(r);

  char path[128];
  snprintf(path, sizeof path, "/v1/claimed-devices/%s", dev1);
  r = owner(&m, KEY, "GET", path, NULL);
  cr_assert_eq(r->status, 200, "%s", r->body);
  cr_assert_str_eq(jstr(r->json, "status"), "PENDING");
  cr_assert_eq(json_array_size(json_object_get(r->json, "tags")), 2);
  http_resp_free(r);
  snprintf(path, sizeof path, "/v1/claimed-devices/%s", dev2);
  r = owner(&m, KEY, "GET", path, NULL);
  cr_assert_eq(r->status, 200, "%s", r->body);
  cr_assert_str_eq(jstr(r->json, "imei"), "352656106118683", "from the identity");
  cr_assert_str_eq(jstr(r->json, "deviceType"), "nrf9161_LACA");
  cr_assert_str_eq(jstr(r->json, "status"), "PENDING", "one command IN_PROGRESS");
  http_resp_free(r);
  snprintf(path, sizeof path, "/v1/claimed-devices/%s/provisioning", dev2);
  r = owner(&m, KEY, "GET", path, NULL);
  json_t *items = json_object_get(r->json, "items");
  cr_assert_eq(json_array_size(items), 2);
  cr_assert_str_eq(jstr(json_array_get(items, 0), "status"), "SUCCEEDED");
  cr_assert_str_eq(jstr(json_array_get(items, 1), "status"), "IN_PROGRESS");
  http_resp_free(r);
  snprintf(path, sizeof path, "/v1/claimed-devices/%s", dev3);
  cr_assert_eq(owner_status(&m, KEY, "GET", path), 404, "another team's device");
  r = owner(&m, OTHER, "GET", path, NULL);
  cr_assert(json_is_true(json_object_get(r->json, "blocked")), "%s", r->body);
  cr_assert_str_eq(jstr(r->json, "status"), "ERROR");
  http_resp_free(r);
  r = owner(&m, KEY, "GET", "/v1/provisioning/tags/lab", NULL);
  cr_assert_eq(r->status, 200, "%s", r->body);
  cr_assert_str_eq(jstr(r->json, "description"), "bench");
  http_resp_free(r);
}

Test(fixtures, a_bad_element_loads_nothing) {
  char tok[1100], dev[37], doc[4096];
  make_token(tok, sizeof tok, dev);
  snprintf(doc, sizeof doc,
           "{\"teams\": [{\"apiKey\": \"fresh-team\"}],"
           " \"claimedDevices\": [{\"team\": \"" KEY "\", \"claimToken\": \"%s\"},"
           "                      {\"team\": \"" KEY "\", \"claimToken\": \"not.a-token\"}]}",
           tok);
  http_resp *r = control(&m, "POST", "/_mock/fixtures", doc);
  expect_error(r, 400, 40002, "claimedDevices[1].claimToken");
  http_resp_free(r);
  char path[128];
  snprintf(path, sizeof path, "/v1/claimed-devices/%s", dev);
  cr_assert_eq(owner_status(&m, KEY, "GET", path), 404, "the good element was not loaded either");

  static const struct {
    const char *doc;
    long long code;
    const char *names;
  } cases[] = {
    {"{\"devices\": []}", 40004, "devices"},
    {"{\"teams\": {}}", 40004, "teams"},
    {"{\"teams\": [3]}", 40004, "teams[0]"},
    {"{\"teams\": [{}]}", 40001, "teams[0].apiKey"},
    {"{\"tags\": [{\"team\": \"t\", \"tag\": \"a b\"}]}", 40004, "tags[0].tag"},
    {"{\"identities\": [{\"deviceId\": \"x\", \"publicKeyPem\": \"y\"}]}", 40004, "identities[0].deviceId"},
    {"{\"claimedDevices\": [{\"team\": \"t\"}]}", 40001, "claimedDevices[0].claimToken"},
    {"{\"claimedDevices\": [{\"team\": \"t\", \"deviceId\": \"11111111-2222-4333-8444-555555555555\"}]}", 40001,
     "claimedDevices[0].deviceType"},
    {"{\"commands\": [{\"team\": \"t\", \"deviceId\": \"11111111-2222-4333-8444-555555555555\", \"request\": {\"finished\": {}}}]}",
     40400, "commands[0].deviceId"},
    {"{\"commands\": [{\"team\": \"t\", \"deviceId\": \"x\", \"request\": {\"nope\": {}}}]}", 40005, "commands[0].request"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    r = control(&m, "POST", "/_mock/fixtures", cases[i].doc);
    cr_assert_eq(jint(r->json, "code"), cases[i].code, "%s -> %s", cases[i].doc, r->body);
    cr_assert(strstr(jstr(r->json, "message"), cases[i].names), "%s -> %s", cases[i].doc, r->body);
    http_resp_free(r);
  }
}

#define F_FINISHED "{\"request\": {\"finished\": {}}}"

Test(fixtures, rules_load_as_posted) {
  const char *dev = "31111111-2222-4333-8444-555555555555";
  char doc[2048], path[128];
  snprintf(doc, sizeof doc,
           "{\"claimedDevices\": [{\"team\": \"" KEY "\", \"deviceId\": \"%s\", \"deviceType\": \"nrf9161_LACA\", \"tags\": [\"demo\"]}],"
           " \"rules\": ["
           "   {\"team\": \"" KEY "\", \"_comment\": \"ignored\", \"name\": \"onboard\", \"description\": \"first\", \"active\": true,"
           "    \"tags\": [\"demo,rule-only\"], \"commands\": [{\"description\": \"key\", \"request\": {\"clientPrivateKeyGeneration\":"
           "    {\"secTag\": 16842753}}}, " F_FINISHED "]},"
           "   {\"team\": \"" KEY "\", \"name\": \"draft\", \"tags\": [\"x\"], \"commands\": [" F_FINISHED "]}]}",
           dev);
  http_resp *r = control(&m, "POST", "/_mock/fixtures", doc);
  cr_assert_eq(r->status, 201, "%s", r->body);
  cr_assert_eq(jint(r->json, "rules"), 2);
  http_resp_free(r);
  r = owner(&m, KEY, "GET", "/v1/provisioning-rules", NULL);
  cr_assert_eq(jint(r->json, "total"), 2, "%s", r->body);
  json_t *rule = item(r->json, 0);
  cr_assert_str_eq(jstr(rule, "name"), "onboard");
  cr_assert_str_eq(jstr(rule, "description"), "first");
  cr_assert_str_eq(jstr(rule, "status"), "ACTIVE");
  char *text = json_dumps(json_object_get(rule, "tags"), JSON_COMPACT);
  cr_assert_str_eq(text, "[\"demo\",\"rule-only\"]", "split as a POST splits them");
  free(text);
  text = json_dumps(json_object_get(rule, "commands"), JSON_COMPACT | JSON_PRESERVE_ORDER);
  cr_assert_str_eq(text, "[{\"description\":\"key\",\"request\":{\"clientPrivateKeyGeneration\":{\"secTag\":16842753}}},"
                         "{\"request\":{\"finished\":{}}}]");
  free(text);
  cr_assert_str_eq(jstr(item(r->json, 1), "status"), "DRAFT", "active defaults to false");
  http_resp_free(r);
  cr_assert_eq(owner_status(&m, KEY, "GET", "/v1/provisioning/tags/rule-only"), 200, "a rule's new tag is created");
  snprintf(path, sizeof path, "/v1/claimed-devices/%s", dev);
  r = owner(&m, KEY, "GET", path, NULL);
  cr_assert_str_eq(jstr(r->json, "status"), "PENDING", "the active rule waits for the device's contact");
  http_resp_free(r);

  /* A bad rule gets the message POST /v1/provisioning-rules gives, below the element's
   * name, and loads nothing of the document. */
  static const struct {
    const char *rule;
    long long code;
    const char *names;
  } cases[] = {
    {"{\"team\": \"" KEY "\", \"name\": \"onboard\", \"tags\": [\"t\"], \"commands\": [" F_FINISHED "]}", 40902, "rules[1].name: "},
    {"{\"team\": \"" KEY "\", \"tags\": [\"t\"], \"commands\": [" F_FINISHED "]}", 40001, "rules[1].name: "},
    {"{\"team\": \"" KEY "\", \"name\": \"n\", \"tags\": [\"t\"], \"commands\": []}", 40001, "rules[1].commands: "},
    {"{\"team\": \"" KEY "\", \"name\": \"n\", \"tags\": [\"a b\"], \"commands\": [" F_FINISHED "]}", 40004, "rules[1].tags: "},
    {"{\"team\": \"" KEY "\", \"name\": \"n\", \"tags\": [\"t\"], \"commands\": [" F_FINISHED ", {\"request\": {\"bogus\": {}}}]}",
     40005, "rules[1].commands[1].request"},
    {"{\"team\": \"" KEY "\", \"name\": \"n\", \"active\": 1, \"tags\": [\"t\"], \"commands\": [" F_FINISHED "]}", 40004,
     "rules[1].active: "},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    snprintf(doc, sizeof doc, "{\"rules\": [{\"team\": \"" KEY "\", \"name\": \"fresh\", \"tags\": [\"t\"], \"commands\": ["
             F_FINISHED "]}, %s]}", cases[i].rule);
    r = control(&m, "POST", "/_mock/fixtures", doc);
    cr_assert_eq(r->status, cases[i].code / 100, "%s -> %s", cases[i].rule, r->body);
    cr_assert_eq(jint(r->json, "code"), cases[i].code, "%s -> %s", cases[i].rule, r->body);
    const char *msg = jstr(r->json, "message");
    cr_assert(!strncmp(msg, cases[i].names, strlen(cases[i].names)), "%s -> %s", cases[i].rule, r->body);
    /* The same body posted: the same code and message, without the element's name. */
    http_resp *p = owner(&m, KEY, "POST", "/v1/provisioning-rules", cases[i].rule);
    cr_assert_eq(jint(p->json, "code"), cases[i].code, "%s", p->body);
    cr_assert_str_eq(msg + strlen("rules[1]."), jstr(p->json, "message"));
    http_resp_free(p);
    http_resp_free(r);
  }
  r = owner(&m, KEY, "GET", "/v1/provisioning-rules", NULL);
  cr_assert_eq(jint(r->json, "total"), 2, "nothing of a refused document loaded: %s", r->body);
  http_resp_free(r);
  r = control(&m, "POST", "/_mock/fixtures", "{\"rules\": [{\"name\": \"n\", \"tags\": [\"t\"], \"commands\": [" F_FINISHED "]}]}");
  expect_error(r, 400, 40001, "rules[0].team");
  http_resp_free(r);
}

TestSuite(fixtures_file, .fini = stop, .timeout = 60);

Test(fixtures_file, demo_set_loads_at_start) {
  char file[512];
  snprintf(file, sizeof file, "%s/demo.json", fixtures_dir());
  mock_start(&m, "--fixtures", file, NULL);
  http_resp *r = owner(&m, "demo-key", "GET", "/v1/claimed-devices", NULL);
  cr_assert_eq(r->status, 200);
  cr_assert_eq(jint(r->json, "total"), 3, "%s", r->body);
  http_resp_free(r);
  r = owner(&m, "demo-key", "GET", "/v1/claimed-devices/4961c873-408c-45ce-b1ba-7c0d99d88179/provisioning", NULL);
  cr_assert_eq(jint(r->json, "total"), 2, "%s", r->body);
  http_resp_free(r);
  r = owner(&m, "demo-key", "GET", "/v1/provisioning-rules", NULL);
  cr_assert_eq(jint(r->json, "total"), 1, "%s", r->body);
  cr_assert_str_eq(jstr(item(r->json, 0), "status"), "ACTIVE");
  cr_assert_str_eq(json_string_value(json_array_get(json_object_get(item(r->json, 0), "tags"), 0)), "demo");
  http_resp_free(r);
}

Test(fixtures_file, a_bad_file_exits_1_with_one_line) {
  char dir[] = "/tmp/nrfprov-fixtures-XXXXXX", file[128], out[1024], err[2048];
  cr_assert(mkdtemp(dir));
  snprintf(file, sizeof file, "%s/bad.json", dir);
  FILE *f = fopen(file, "w");
  fputs("{\"claimedDevices\": [{\"team\": \"t\", \"claimToken\": \"abc\"}]}", f);
  fclose(f);
  const char *args[] = {"--in-memory", "--http-port", "0", "--https-port", "-1", "--coap-port", "-1", "--coaps-port", "-1",
                        "--fixtures", file, NULL};
  cr_assert_eq(run_mock_binary(args, out, sizeof out, err, sizeof err), 1, "%s", err);
  cr_assert_eq(strchr(err, '\n'), err + strlen(err) - 1, "one line: %s", err);
  cr_assert(strstr(err, "claimedDevices[0].claimToken"), "%s", err);
  cr_assert(!strstr(out, "ready"), "nothing started: %s", out);

  f = fopen(file, "w");
  fputs("{\"teams\": [", f);
  fclose(f);
  cr_assert_eq(run_mock_binary(args, out, sizeof out, err, sizeof err), 1, "%s", err);
  cr_assert_eq(strchr(err, '\n'), err + strlen(err) - 1, "one line: %s", err);
  cr_assert(strstr(err, "--fixtures"), "%s", err);
  unlink(file);
  rmdir(dir);
}
