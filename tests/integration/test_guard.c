/* Who may steer the mock, through the real binary (docs/control-api.md §5, Control
 * plane): the Host allow-list (421/42100), a foreign Origin (403/40300) as a browser
 * page of another site sends it, the control token (401/40100), the peer list without a
 * token (403/40300), the body type of control calls (415/41500), their order, and that
 * device endpoints pass none of these checks. Every request goes to 127.0.0.1; the peer
 * tests bind the client to another loopback address (127.0.0.2) at most. */
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "harness_device.h"
#include "harness_scenarios.h"

static mock m;
static void stop(void) { cr_assert_eq(mock_stop(&m), 0); }

#define KEY "guard-team"

/* A request with the given headers (NULL-terminated list, may be NULL) and body. */
static http_resp *req(const char *method, const char *path, const char *const *headers, const char *body) {
  return http_req(&m, method, path, headers, body, body ? strlen(body) : 0);
}

/* The status of a request sent from the loopback source address src ("127.0.0.2"). */
static long status_from(const char *src, const char *path, const char *token) {
  CURL *c = curl_easy_init();
  char url[256], hdr[128];
  snprintf(url, sizeof url, "%s%s", m.base, path);
  struct curl_slist *hl = NULL;
  if (token) {
    snprintf(hdr, sizeof hdr, "X-Mock-Token: %s", token);
    hl = curl_slist_append(hl, hdr);
  }
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_INTERFACE, src);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
  FILE *sink = fopen("/dev/null", "w");
  curl_easy_setopt(c, CURLOPT_WRITEDATA, sink);
  CURLcode rc = curl_easy_perform(c);
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  fclose(sink);
  curl_slist_free_all(hl);
  curl_easy_cleanup(c);
  cr_assert_eq(rc, CURLE_OK, "%s from %s: %s", path, src, curl_easy_strerror(rc));
  return status;
}

static long status_of(http_resp *r) {
  long s = r->status;
  http_resp_free(r);
  return s;
}

static long long faults_held(void) {
  http_resp *r = req("GET", "/_mock/faults", NULL, NULL);
  cr_assert_eq(r->status, 200, "%s", r->body);
  long long n = (long long)json_array_size(json_object_get(r->json, "items"));
  http_resp_free(r);
  return n;
}

#define RULE "{\"match\": {\"path\": \"/v1/devices\"}, \"action\": {\"status\": 500}}"

/* ---- without a token: loopback peers, Host, Origin, body type --------------------- */

static void start_plain(void) { mock_start(&m, NULL); }
TestSuite(guard, .init = start_plain, .fini = stop, .timeout = 60);

Test(guard, a_cross_origin_browser_request_changes_nothing) {
  char dev[37], path[128], self[128];
  claim_new(&m, KEY, NULL, dev);
  snprintf(path, sizeof path, "/v1/claimed-devices/%s", dev);
  /* What a page on another site can send without a preflight: a "simple" POST with a
   * text/plain body, and the browser adds Origin. */
  const char *evil[] = {"Origin: http://evil.example", "Content-Type: text/plain", NULL};
  expect_error_free(req("POST", "/_mock/reset", evil, "{}"), 403, 40300, "Origin");
  expect_error_free(req("POST", "/_mock/faults", evil, RULE), 403, 40300, "Origin");
  cr_assert_eq(faults_held(), 0);
  char auth[128];
  snprintf(auth, sizeof auth, "Authorization: Bearer %s", KEY);
  const char *evil_owner[] = {"Origin: https://evil.example", auth, NULL};
  expect_error_free(req("DELETE", path, evil_owner, NULL), 403, 40300, "Origin");
  cr_assert_eq(status_of(owner(&m, KEY, "GET", path, NULL)), 200, "the device is still claimed");
  /* The mock's own origin (the portal's page) passes. */
  snprintf(self, sizeof self, "Origin: http://127.0.0.1:%d", m.http_port);
  const char *own[] = {self, "Content-Type: application/json", auth, NULL};
  cr_assert_eq(status_of(req("POST", "/_mock/faults", own, RULE)), 201);
  cr_assert_eq(status_of(req("GET", path, own, NULL)), 200);
  /* "null" (a sandboxed page, a file:// page) is foreign too. */
  const char *null_origin[] = {"Origin: null", auth, NULL};
  expect_error_free(req("GET", path, null_origin, NULL), 403, 40300, "Origin");
}

Test(guard, control_bodies_must_be_json) {
  const char *plain[] = {"Content-Type: text/plain", NULL};
  const char *form[] = {"Content-Type: application/x-www-form-urlencoded", NULL};
  const char *none[] = {"Content-Type:", NULL};
  const char *json[] = {"Content-Type: application/json; charset=utf-8", NULL};
  expect_error_free(req("POST", "/_mock/faults", plain, RULE), 415, 41500, "application/json");
  expect_error_free(req("POST", "/_mock/faults", form, RULE), 415, 41500, "Content-Type");
  expect_error_free(req("POST", "/_mock/faults", none, RULE), 415, 41500, "Content-Type");
  cr_assert_eq(faults_held(), 0, "no rule was added");
  cr_assert_eq(status_of(req("POST", "/_mock/faults", json, RULE)), 201);
  /* No body, no type needed. */
  cr_assert_eq(status_of(req("POST", "/_mock/reset", NULL, NULL)), 204);
  /* Owner calls keep taking bodies whatever their type says (docs/owner-api.md §1). */
  char auth[128];
  snprintf(auth, sizeof auth, "Authorization: Bearer %s", KEY);
  const char *owner_plain[] = {auth, "Content-Type: text/plain", NULL};
  cr_assert_eq(status_of(req("POST", "/v1/provisioning/tags", owner_plain, "{\"tag\": \"t1\"}")), 201);
}

Test(guard, host_must_name_this_mock) {
  const char *evil[] = {"Host: evil.example:8080", NULL};
  const char *rebind[] = {"Host: attacker.example", NULL};
  const char *missing[] = {"Host:", NULL};
  expect_error_free(req("GET", "/_mock/config", evil, NULL), 421, 42100, "evil.example");
  expect_error_free(req("GET", "/_mock/health", rebind, NULL), 421, 42100, "Host");
  expect_error_free(req("GET", "/_mock/config", missing, NULL), 421, 42100, "Host");
  const char *ok[][2] = {{"Host: localhost:1", NULL}, {"Host: 127.0.0.1", NULL}, {"Host: [::1]:5", NULL},
                         {"Host: api.provisioning.nrfcloud.com", NULL}, {"Host: LOCALHOST", NULL}, {"Host: 10.1.2.3:80", NULL}};
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
    cr_assert_eq(status_of(req("GET", "/_mock/config", ok[i], NULL)), 200, "%s", ok[i][0]);
  /* Owner calls check Host only when a browser sent Origin; device calls never. */
  char auth[128];
  snprintf(auth, sizeof auth, "Authorization: Bearer %s", KEY);
  const char *owner_evil[] = {auth, "Host: evil.example", NULL};
  cr_assert_eq(status_of(req("GET", "/v1/claimed-devices", owner_evil, NULL)), 200);
  const char *owner_evil_origin[] = {auth, "Host: evil.example", "Origin: http://evil.example", NULL};
  expect_error_free(req("GET", "/v1/claimed-devices", owner_evil_origin, NULL), 421, 42100, "Host");
}

Test(guard, device_endpoints_ignore_origin_and_host) {
  char cred[1200], uuid[37], auth[1300];
  sc_claim(&m, cred, uuid);
  snprintf(auth, sizeof auth, "Authorization: Bearer %s", cred);
  const char *hdrs[] = {auth, "Origin: http://evil.example", "Host: evil.example", NULL};
  cr_assert_eq(status_of(req("GET", "/v1/provisioning/commands", hdrs, NULL)), 204, "a device poll is answered");
}

Test(guard, checks_run_in_order_host_origin_then_type) {
  const char *both[] = {"Host: evil.example", "Origin: http://evil.example", "Content-Type: text/plain", NULL};
  expect_error_free(req("POST", "/_mock/faults", both, RULE), 421, 42100, NULL);
  const char *origin_type[] = {"Origin: http://evil.example", "Content-Type: text/plain", NULL};
  expect_error_free(req("POST", "/_mock/faults", origin_type, RULE), 403, 40300, "Origin");
}

/* ---- peers ---------------------------------------------------------------------------- */

TestSuite(guard_peers, .fini = stop, .timeout = 60);

Test(guard_peers, a_peer_outside_control_peers_is_refused) {
  mock_start(&m, "--control-peers", "127.0.0.2/32", NULL);
  expect_error_free(req("GET", "/_mock/config", NULL, NULL), 403, 40300, "--control-peers");
  expect_error_free(req("POST", "/_mock/reset", NULL, NULL), 403, 40300, "--control-peers");
  expect_error_free(req("GET", "/_mock/requests", NULL, NULL), 403, 40300, NULL);
  expect_error_free(req("GET", "/_mock/nope", NULL, NULL), 403, 40300, NULL);
  cr_assert_eq(status_of(req("GET", "/_mock/health", NULL, NULL)), 200, "health answers everyone");
  cr_assert_eq(status_of(owner(&m, KEY, "GET", "/v1/claimed-devices", NULL)), 200, "the owner API is not the control plane");
  /* From the listed peer (another loopback address), control works. */
  cr_assert_eq(status_from("127.0.0.2", "/_mock/config", NULL), 200);
  cr_assert_eq(status_from("127.0.0.1", "/_mock/config", NULL), 403);
}

TestSuite(guard_start, .timeout = 60);

Test(guard_start, bad_peer_lists_stop_the_start) {
  char out[512], err[1024];
  const char *args[] = {"--in-memory", "--http-port", "0", "--https-port", "-1", "--coap-port", "-1", "--coaps-port", "-1",
                        "--control-peers", "127.0.0.1,not-an-address", NULL};
  cr_assert_eq(run_mock_binary(args, out, sizeof out, err, sizeof err), 1);
  cr_assert(strstr(err, "--control-peers") && strstr(err, "not-an-address"), "%s", err);
}

Test(guard_peers, a_reachable_bind_without_a_token_warns) {
  mock_start(&m, "--bind", "0.0.0.0", NULL);
  char *log = read_file(m.log_file, NULL);
  cr_assert(log && strstr(log, "warn") && strstr(log, "--control-token"), "%s", log ? log : "");
  free(log);
  /* And the control API still answers only loopback peers (this one). */
  cr_assert_eq(status_of(req("GET", "/_mock/config", NULL, NULL)), 200);
}

/* ---- with a token --------------------------------------------------------------------- */

TestSuite(guard_token, .fini = stop, .timeout = 60);

Test(guard_token, every_control_call_but_health_needs_the_token) {
  mock_start(&m, "--control-token", "s3cret-token", "--control-peers", "127.0.0.2/32", NULL);
  const char *none[] = {"Content-Type: application/json", NULL};
  const char *wrong[] = {"X-Mock-Token: s3cret-tokeN", "Content-Type: application/json", NULL};
  const char *longer[] = {"X-Mock-Token: s3cret-token2", NULL};
  const char *right[] = {"X-Mock-Token: s3cret-token", "Content-Type: application/json", NULL};
  expect_error_free(req("GET", "/_mock/config", none, NULL), 401, 40100, "X-Mock-Token");
  expect_error_free(req("POST", "/_mock/faults", wrong, RULE), 401, 40100, "X-Mock-Token");
  expect_error_free(req("GET", "/_mock/config", longer, NULL), 401, 40100, NULL);
  expect_error_free(req("DELETE", "/_mock/snapshots/x", none, NULL), 401, 40100, NULL);
  expect_error_free(req("GET", "/_mock/nope", none, NULL), 401, 40100, NULL);
  cr_assert_eq(status_of(req("GET", "/_mock/health", none, NULL)), 200);
  /* With the token, any peer may steer, 127.0.0.1 outside --control-peers included. */
  http_resp *r = req("GET", "/_mock/config", right, NULL);
  cr_assert_eq(r->status, 200, "%s", r->body);
  cr_assert_str_eq(jstr(r->json, "control-token"), "***", "the token is masked: %s", r->body);
  http_resp_free(r);
  cr_assert_eq(status_of(req("POST", "/_mock/faults", right, RULE)), 201);
  cr_assert_eq(status_from("127.0.0.2", "/_mock/config", NULL), 401, "a listed peer still needs the token");
  cr_assert_eq(status_from("127.0.0.2", "/_mock/config", "s3cret-token"), 200);
  /* The token is checked before the body type, after Origin. */
  const char *tok_plain[] = {"X-Mock-Token: s3cret-token", "Content-Type: text/plain", NULL};
  expect_error_free(req("POST", "/_mock/faults", tok_plain, RULE), 415, 41500, NULL);
  const char *no_tok_plain[] = {"Content-Type: text/plain", NULL};
  expect_error_free(req("POST", "/_mock/faults", no_tok_plain, RULE), 401, 40100, NULL);
  const char *evil_no_tok[] = {"Origin: http://evil.example", NULL};
  expect_error_free(req("GET", "/_mock/config", evil_no_tok, NULL), 403, 40300, "Origin");
}

Test(guard_token, the_token_comes_from_the_environment_too) {
  setenv("NRFPROV_CONTROL_TOKEN", "from-env", 1);
  mock_start(&m, NULL);
  unsetenv("NRFPROV_CONTROL_TOKEN");
  const char *right[] = {"X-Mock-Token: from-env", NULL};
  expect_error_free(req("GET", "/_mock/config", NULL, NULL), 401, 40100, NULL);
  cr_assert_eq(status_of(req("GET", "/_mock/config", right, NULL)), 200);
}
