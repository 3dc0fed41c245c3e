/* Provisioning commands and the device-facing HTTP protocol through the real binary
 * (docs/owner-api.md §3, docs/device-protocol.md §2, §4.2, §5): the scenario table over HTTP, the wire
 * details only HTTP has, the owner's command API and the control calls. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness_scenarios.h"
#include "proto/dcbor.h"

static mock m;
static void start(void) { mock_start(&m, "--https-port", "-1", NULL); }
static void stop(void) { mock_stop(&m); }

TestSuite(device_http, .init = start, .fini = stop, .timeout = 60);
SCENARIO_TESTS(device_http, DEV_HTTP)

TestSuite(commands, .init = start, .fini = stop, .timeout = 60);

/* One raw HTTP/1.1 exchange; returns the whole response (headers + body) and its size. */
static char *raw_http(int port, const char *request, size_t *n) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  cr_assert(connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
  cr_assert(write(fd, request, strlen(request)) == (ssize_t)strlen(request));
  char *buf = malloc(65536);
  size_t len = 0;
  ssize_t k;
  while ((k = read(fd, buf + len, 65535 - len)) > 0) len += (size_t)k;
  buf[len] = 0;
  close(fd);
  *n = len;
  return buf;
}

static char *raw_fetch(const char *cred, const char *query, size_t *n) {
  char req[4096];
  snprintf(req, sizeof req,
           "GET /v1/provisioning/commands?%s HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n"
           "Accept: application/cbor\r\nConnection: close\r\n\r\n", query, cred);
  return raw_http(m.http_port, req, n);
}

Test(commands, device_answers_carry_only_minimal_headers) {
  char cred[1200], uuid[37], id[37];
  sc_claim(&m, cred, uuid);
  sc_queue(&m, uuid, "{\"finished\":{}}", id);
  size_t n;
  char *resp = raw_fetch(cred, "after=&rxMaxSize=2048", &n);
  cr_assert(!strncmp(resp, "HTTP/1.1 200 OK\r\n", 17), "%s", resp);
  cr_assert(strstr(resp, "Content-Type: application/cbor\r\n"));
  cr_assert(strstr(resp, "Content-Length: "));
  cr_assert_null(strstr(resp, "X-Request-Id"), "no X-Request-Id on device answers");
  /* Every header line is one of the allowed ones. */
  char *p = strstr(resp, "\r\n") + 2;
  while (strncmp(p, "\r\n", 2)) {
    cr_assert(!strncmp(p, "Content-Length:", 15) || !strncmp(p, "Content-Type:", 13) || !strncmp(p, "Connection:", 11) ||
              !strncmp(p, "Date:", 5), "unexpected header: %.40s", p);
    p = strstr(p, "\r\n") + 2;
  }
  free(resp);
}

Test(commands, rx_max_size_bounds_the_whole_response) {
  char cred[1200], uuid[37], id[37], st[24];
  sc_claim(&m, cred, uuid);
  for (int i = 0; i < 6; i++) sc_queue(&m, uuid, "{\"clientPrivateKeyGeneration\":{\"secTag\":16842753}}", id);
  /* Find how big the full answer is, then ask with less room, step by step. */
  for (long rx = 300; rx <= 1200; rx += 37) {
    char q[64];
    size_t n;
    snprintf(q, sizeof q, "after=&rxMaxSize=%ld", rx);
    char *resp = raw_fetch(cred, q, &n);
    if (!strncmp(resp, "HTTP/1.1 200", 12)) cr_assert_lt(n, (size_t)rx, "response of %zu bytes for rxMaxSize %ld", n, rx);
    free(resp);
  }
  cr_assert_str_eq(sc_device_status(&m, uuid, st), "PENDING");
}

Test(commands, a_first_step_that_cannot_fit_fails_the_command) {
  char cred[1200], uuid[37], a[37], b[37], st[24];
  sc_claim(&m, cred, uuid);
  char big[3000];
  snprintf(big, sizeof big, "{\"serverCertificate\":{\"secTag\":1,\"content\":\"-----BEGIN CERTIFICATE-----\\n%0600d\\n-----END CERTIFICATE-----\"}}", 0);
  sc_queue(&m, uuid, big, a);
  sc_queue(&m, uuid, "{\"finished\":{}}", b);
  dev_client d;
  dev_open(&d, &m, DEV_HTTP, cred);
  cr_assert_eq(dev_fetch(&d, "after=&rxMaxSize=400", NULL, NULL), DEV_NOTHING);
  cr_assert_str_eq(sc_command_status(&m, uuid, a, st), "FAILED");
  cr_assert_str_eq(sc_command_status(&m, uuid, b, st), "CANCELLED");
  cr_assert_str_eq(sc_device_status(&m, uuid, st), "ERROR");
  char path[200];
  snprintf(path, sizeof path, "/v1/claimed-devices/%s/provisioning/%s", uuid, a);
  http_resp *r = owner(&m, SC_KEY, "GET", path, NULL);
  json_t *er = json_object_get(json_object_get(r->json, "response"), "errorResponse");
  cr_assert_eq(jint(er, "cmeError"), 0);
  cr_assert_str_eq(jstr(er, "message"), "command does not fit the device's rxMaxSize (400 bytes)");
  http_resp_free(r);
  dev_close(&d);
}

Test(commands, a_pre_step_that_fits_is_delivered_alone) {
  char cred[1200], uuid[37], a[37];
  sc_claim(&m, cred, uuid);
  sc_queue(&m, uuid, "{\"certificateSigningRequest\":{\"secTag\":16842753,\"attributes\":\"O=Nordic Semiconductor,L=Trondheim,C=no,CN=a-rather-long-common-name-for-this-device\"}}", a);
  size_t n;
  /* Room for the pre-step but not both steps. */
  char *resp = raw_fetch(cred, "after=&rxMaxSize=290", &n);
  cr_assert(!strncmp(resp, "HTTP/1.1 200", 12), "%s", resp);
  cr_assert_lt(n, 290);
  char *body = strstr(resp, "\r\n\r\n") + 4;
  dcbor_owned_command *c;
  size_t k;
  char why[100];
  cr_assert_eq(dcbor_decode_commands((uint8_t *)body, n - (size_t)(body - resp), &c, &k, why, sizeof why), 0, "%s", why);
  cr_assert_eq(k, 1);
  cr_assert_str_eq(c[0].set_cmd, "%CMNG");
  dcbor_commands_free(c, k);
  free(resp);
}

/* The SDK's vectors: the steps we send for a command equal the vector's bytes once the
 * correlation ids are the vector's. */
Test(commands, served_steps_match_the_sdk_vectors) {
  char path[512];
  snprintf(path, sizeof path, "%s/cbor/device-vectors.json", fixtures_dir());
  json_t *root = json_load_file(path, 0, NULL);
  json_t *vectors = json_object_get(root, "vectors");
  cr_assert(vectors);
  struct {
    const char *name, *request;
  } cases[] = {
    {"finished command", "{\"finished\":{}}"},
    {"delete old key (pre-step, CME 513 ignored) then generate key", "{\"clientPrivateKeyGeneration\":{\"secTag\":16842753}}"},
    {"config command (one key/value pair)", "{\"config\":{\"properties\":{\"provisioning/interval-sec\":\"99\"}}}"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    json_t *v = NULL, *x;
    size_t k;
    json_array_foreach(vectors, k, x) if (!strcmp(jstr(x, "name"), cases[i].name)) v = x;
    cr_assert(v, "vector %s", cases[i].name);
    char cred[1200], uuid[37], id[37];
    sc_claim(&m, cred, uuid);
    sc_queue(&m, uuid, cases[i].request, id);
    dev_client d;
    dev_open(&d, &m, DEV_HTTP, cred);
    uint8_t *body;
    size_t len, n;
    cr_assert_eq(dev_fetch(&d, "after=", &body, &len), DEV_COMMANDS);
    dcbor_owned_command *c;
    char why[100];
    cr_assert_eq(dcbor_decode_commands(body, len, &c, &n, why, sizeof why), 0);
    json_t *decoded = json_object_get(v, "decoded");
    cr_assert_eq(n, json_array_size(decoded));
    dcbor_command cmds[4];
    for (size_t s = 0; s < n; s++) {
      cmds[s] = (dcbor_command){.cid = json_string_value(json_array_get(json_array_get(decoded, s), 0)), .type = c[s].type,
                                .set_cmd = c[s].set_cmd, .params = c[s].params, .ignore_cme = c[s].ignore_cme,
                                .n_ignore = c[s].n_ignore, .keys = (const char *const *)c[s].keys,
                                .values = (const char *const *)c[s].values, .n_pairs = c[s].n_pairs};
    }
    uint8_t out[1024];
    int olen = dcbor_encode_commands(cmds, n, out, sizeof out);
    char hex[2100];
    for (int b = 0; b < olen; b++) sprintf(hex + 2 * b, "%02x", out[b]);
    cr_assert_str_eq(hex, jstr(v, "hex"), "%s", cases[i].name);
    dcbor_commands_free(c, n);
    free(body);
    dev_close(&d);
  }
  json_decref(root);
}

Test(commands, the_21st_unfinished_command_is_409) {
  char cred[1200], uuid[37], id[37], path[200];
  sc_claim(&m, cred, uuid);
  for (int i = 0; i < 20; i++) sc_queue(&m, uuid, "{\"finished\":{}}", id);
  snprintf(path, sizeof path, "/v1/claimed-devices/%s/provisioning", uuid);
  expect_error_free(owner(&m, SC_KEY, "POST", path, "{\"request\":{\"finished\":{}}}"), 409, 40904, NULL);
  /* Settling one makes room. */
  char settle[300];
  snprintf(settle, sizeof settle, "/_mock/claimed-devices/%s/provisioning/%s/result", uuid, id);
  http_resp *r = owner(&m, SC_KEY, "POST", settle, "{\"status\":\"SUCCEEDED\"}");
  cr_assert_eq(r->status, 200, "%s", r->body);
  http_resp_free(r);
  r = owner(&m, SC_KEY, "POST", path, "{\"request\":{\"finished\":{}}}");
  cr_assert_eq(r->status, 201);
  http_resp_free(r);
}

Test(commands, command_object_and_list) {
  char cred[1200], uuid[37], id[37], path[200];
  sc_claim(&m, cred, uuid);
  snprintf(path, sizeof path, "/v1/claimed-devices/%s/provisioning", uuid);
  http_resp *r = owner(&m, SC_KEY, "POST", path,
                       "{\"description\":\"Generate CSR\",\"request\":{\"certificateSigningRequest\":{\"secTag\":16842753,\"attributes\":\"\",\"extra\":1}}}");
  cr_assert_eq(r->status, 201, "%s", r->body);
  cr_assert_eq(strlen(jstr(r->json, "id")), 36);
  cr_assert_str_eq(jstr(r->json, "description"), "Generate CSR");
  cr_assert_str_eq(jstr(r->json, "status"), "PENDING");
  cr_assert_null(json_object_get(r->json, "response"));
  cr_assert_null(json_object_get(r->json, "ruleId"));
  char *req = json_dumps(json_object_get(r->json, "request"), JSON_COMPACT | JSON_PRESERVE_ORDER);
  cr_assert_str_eq(req, "{\"certificateSigningRequest\":{\"secTag\":16842753,\"attributes\":\"\",\"extra\":1}}", "verbatim");
  free(req);
  snprintf(id, sizeof id, "%s", jstr(r->json, "id"));
  http_resp_free(r);
  sc_queue(&m, uuid, "{\"finished\":{}}", id);
  r = owner(&m, SC_KEY, "GET", path, NULL);
  cr_assert_eq(jint(r->json, "total"), 2);
  cr_assert_str_eq(jstr(json_array_get(json_object_get(r->json, "items"), 1), "id"), id, "oldest first");
  http_resp_free(r);
  char p1[300];
  snprintf(p1, sizeof p1, "%s?pageLimit=1", path);
  r = owner(&m, SC_KEY, "GET", p1, NULL);
  cr_assert_eq(json_array_size(json_object_get(r->json, "items")), 1);
  snprintf(p1, sizeof p1, "%s?pageLimit=1&pageNextToken=%s", path, jstr(r->json, "pageNextToken"));
  http_resp_free(r);
  r = owner(&m, SC_KEY, "GET", p1, NULL);
  cr_assert_str_eq(jstr(json_array_get(json_object_get(r->json, "items"), 0), "id"), id);
  http_resp_free(r);
  /* Another team sees nothing. */
  r = owner(&m, "someone-else", "GET", path, NULL);
  cr_assert_eq(r->status, 404);
  http_resp_free(r);
}

Test(commands, validation_errors) {
  char cred[1200], uuid[37], path[200];
  sc_claim(&m, cred, uuid);
  snprintf(path, sizeof path, "/v1/claimed-devices/%s/provisioning", uuid);
  struct {
    const char *body;
    long long code;
    const char *names;
  } cases[] = {
    {"not json", 40000, NULL},
    {"{}", 40001, "request"},
    {"{\"request\":null}", 40001, "request"},
    {"{\"request\":{}}", 40005, "request"},
    {"{\"request\":[]}", 40005, "request"},
    {"{\"request\":{\"finished\":{},\"config\":{}}}", 40005, "request"},
    {"{\"request\":{\"bogus\":{}}}", 40005, "request"},
    {"{\"request\":{\"clientPrivateKeyGeneration\":{}}}", 40001, "secTag"},
    {"{\"request\":{\"clientPrivateKeyGeneration\":{\"secTag\":\"1\"}}}", 40004, "secTag"},
    {"{\"request\":{\"clientPrivateKeyGeneration\":{\"secTag\":-1}}}", 40004, "secTag"},
    {"{\"request\":{\"clientPrivateKeyGeneration\":{\"secTag\":2147483648}}}", 40004, "secTag"},
    {"{\"request\":{\"certificateSigningRequest\":{\"secTag\":1,\"keyUsage\":\"12\"}}}", 40004, "keyUsage"},
    {"{\"request\":{\"serverCertificate\":{\"secTag\":1}}}", 40001, "content"},
    {"{\"request\":{\"serverCertificate\":{\"secTag\":1,\"content\":\"nope\"}}}", 40004, "content"},
    {"{\"request\":{\"preSharedKey\":{\"secTag\":1,\"identity\":\"id\",\"secret\":\"xyz\"}}}", 40004, "secret"},
    {"{\"request\":{\"config\":{\"properties\":{}}}}", 40001, "properties"},
    {"{\"request\":{\"config\":{\"properties\":{\"a\":1}}}}", 40004, "properties"},
    {"{\"request\":{\"cloudAccessKeyGeneration\":{\"secTag\":1,\"firmwareTypes\":[\"X\"]}}}", 40004, "firmwareTypes"},
    {"{\"request\":{\"finished\":5}}", 40004, "finished"},
    {"{\"description\":5,\"request\":{\"finished\":{}}}", 40004, "description"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    http_resp *r = owner(&m, SC_KEY, "POST", path, cases[i].body);
    cr_assert_eq(r->status, 400, "%s: %s", cases[i].body, r->body);
    cr_assert_eq(jint(r->json, "code"), cases[i].code, "%s: %s", cases[i].body, r->body);
    if (cases[i].names) cr_assert(strstr(jstr(r->json, "message"), cases[i].names), "%s: %s", cases[i].body, r->body);
    http_resp_free(r);
  }
  http_resp *r = owner(&m, SC_KEY, "GET", path, NULL);
  cr_assert_eq(jint(r->json, "total"), 0, "nothing stored");
  http_resp_free(r);
  char other[200];
  snprintf(other, sizeof other, "/v1/claimed-devices/%s/provisioning", "00000000-0000-4000-8000-000000000000");
  expect_error_free(owner(&m, SC_KEY, "POST", other, "{\"request\":{\"finished\":{}}}"), 404, 40400, NULL);
}

Test(commands, every_type_translates_to_its_at_steps) {
  struct {
    const char *request;
    const char *steps[2][2];
  } cases[] = {
    {"{\"clientCertificate\":{\"secTag\":5,\"content\":\"-----BEGIN CERTIFICATE-----\"}}", {{"%CMNG", "0,5,1,\"-----BEGIN CERTIFICATE-----\""}}},
    {"{\"clientPrivateKey\":{\"secTag\":5,\"content\":\"-----BEGIN EC PRIVATE KEY-----\",\"password\":\"pw\"}}",
     {{"%CMNG", "0,5,2,\"-----BEGIN EC PRIVATE KEY-----\",\"pw\""}}},
    {"{\"clientPrivateKey\":{\"secTag\":5,\"content\":\"-----BEGIN EC PRIVATE KEY-----\"}}", {{"%CMNG", "0,5,2,\"-----BEGIN EC PRIVATE KEY-----\""}}},
    {"{\"preSharedKey\":{\"secTag\":9,\"identity\":\"dev-1\",\"secret\":\"0a0B\"}}", {{"%CMNG", "0,9,3,\"0a0B\""}, {"%CMNG", "0,9,4,\"dev-1\""}}},
    {"{\"cloudAccessKeyGeneration\":{\"secTag\":16842753}}", {{"%CMNG", "3,16842753,2"}, {"%KEYGEN", "16842753,2,0"}}},
    {"{\"certificateSigningRequest\":{\"secTag\":3}}", {{"%CMNG", "3,3,2"}, {"%KEYGEN", "3,2,0,\"\",\"101010000\""}}},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char cred[1200], uuid[37], id[37];
    sc_claim(&m, cred, uuid);
    sc_queue(&m, uuid, cases[i].request, id);
    dev_client d;
    dev_open(&d, &m, DEV_HTTP, cred);
    uint8_t *body;
    size_t len, n;
    cr_assert_eq(dev_fetch(&d, "after=", &body, &len), DEV_COMMANDS);
    dcbor_owned_command *c;
    char why[100];
    cr_assert_eq(dcbor_decode_commands(body, len, &c, &n, why, sizeof why), 0);
    size_t want = cases[i].steps[1][0] ? 2 : 1;
    cr_assert_eq(n, want, "%s", cases[i].request);
    for (size_t s = 0; s < n; s++) {
      cr_assert_str_eq(c[s].set_cmd, cases[i].steps[s][0]);
      cr_assert_str_eq(c[s].params, cases[i].steps[s][1], "%s", cases[i].request);
    }
    dcbor_commands_free(c, n);
    free(body);
    dev_close(&d);
  }
}

Test(commands, discard_only_pending_and_reset) {
  char cred[1200], uuid[37], a[37], b[37], st[24], path[300];
  sc_claim(&m, cred, uuid);
  sc_queue(&m, uuid, "{\"finished\":{}}", a);
  sc_queue(&m, uuid, "{\"finished\":{}}", b);
  snprintf(path, sizeof path, "/_mock/claimed-devices/%s/provisioning/%s/deliver", uuid, a);
  http_resp *r = owner(&m, SC_KEY, "POST", path, NULL);
  cr_assert_eq(r->status, 200);
  cr_assert_str_eq(jstr(r->json, "status"), "IN_PROGRESS");
  http_resp_free(r);
  expect_error_free(owner(&m, SC_KEY, "POST", path, NULL), 409, 40907, NULL);
  snprintf(path, sizeof path, "/v1/claimed-devices/%s/provisioning/%s", uuid, a);
  expect_error_free(owner(&m, SC_KEY, "DELETE", path, NULL), 409, 40905, NULL);
  snprintf(path, sizeof path, "/v1/claimed-devices/%s/provisioning/%s", uuid, b);
  r = owner(&m, SC_KEY, "DELETE", path, NULL);
  cr_assert_eq(r->status, 204);
  http_resp_free(r);
  expect_error_free(owner(&m, SC_KEY, "GET", path, NULL), 404, 40400, NULL);
  cr_assert_str_eq(sc_device_status(&m, uuid, st), "PENDING");
  snprintf(path, sizeof path, "/v1/claimed-devices/%s/provisioning", uuid);
  r = owner(&m, SC_KEY, "DELETE", path, NULL);
  cr_assert_eq(r->status, 204);
  http_resp_free(r);
  cr_assert_str_eq(sc_device_status(&m, uuid, st), "READY");
  r = owner(&m, SC_KEY, "GET", path, NULL);
  cr_assert_eq(jint(r->json, "total"), 0);
  http_resp_free(r);
}

Test(commands, reset_gives_a_new_queue_id) {
  char cred[1200], uuid[37], id[37], path[300];
  sc_claim(&m, cred, uuid);
  sc_queue(&m, uuid, "{\"finished\":{}}", id);
  dev_client d;
  dev_open(&d, &m, DEV_HTTP, cred);
  uint8_t *body;
  size_t len, n;
  dcbor_owned_command *c1, *c2;
  char why[100];
  cr_assert_eq(dev_fetch(&d, "after=", &body, &len), DEV_COMMANDS);
  cr_assert_eq(dcbor_decode_commands(body, len, &c1, &n, why, sizeof why), 0);
  free(body);
  snprintf(path, sizeof path, "/v1/claimed-devices/%s/provisioning", uuid);
  http_resp_free(owner(&m, SC_KEY, "DELETE", path, NULL));
  sc_queue(&m, uuid, "{\"finished\":{}}", id);
  char q[200];
  snprintf(q, sizeof q, "after=%s", c1[0].cid);
  cr_assert_eq(dev_fetch(&d, q, &body, &len), DEV_COMMANDS, "an old after does not hide new commands");
  cr_assert_eq(dcbor_decode_commands(body, len, &c2, &n, why, sizeof why), 0);
  cr_assert_str_neq(c1[0].cid, c2[0].cid);
  cr_assert(strncmp(c1[0].cid, c2[0].cid, 36), "new queue id");
  free(body);
  dcbor_commands_free(c1, 1);
  dcbor_commands_free(c2, n);
  dev_close(&d);
}

Test(commands, settle_failed_cancels_and_sets_error) {
  char cred[1200], uuid[37], a[37], b[37], st[24], path[300];
  sc_claim(&m, cred, uuid);
  sc_queue(&m, uuid, "{\"clientPrivateKeyGeneration\":{\"secTag\":3}}", a);
  sc_queue(&m, uuid, "{\"finished\":{}}", b);
  snprintf(path, sizeof path, "/_mock/claimed-devices/%s/provisioning/%s/result", uuid, a);
  expect_error_free(owner(&m, SC_KEY, "POST", path, "{}"), 400, 40001, NULL);
  expect_error_free(owner(&m, SC_KEY, "POST", path, "{\"status\":\"DONE\"}"), 400, 40004, NULL);
  expect_error_free(owner(&m, "other-team", "POST", path, "{\"status\":\"FAILED\"}"), 404, 40400, NULL);
  http_resp *r = owner(&m, SC_KEY, "POST", path, "{\"status\":\"FAILED\",\"cmeError\":514,\"message\":\"no\"}");
  cr_assert_eq(r->status, 200, "%s", r->body);
  cr_assert_str_eq(jstr(r->json, "status"), "FAILED");
  cr_assert_eq(jint(json_object_get(json_object_get(r->json, "response"), "errorResponse"), "cmeError"), 514);
  http_resp_free(r);
  cr_assert_str_eq(sc_command_status(&m, uuid, b, st), "CANCELLED");
  cr_assert_str_eq(sc_device_status(&m, uuid, st), "ERROR");
  expect_error_free(owner(&m, SC_KEY, "POST", path, "{\"status\":\"SUCCEEDED\"}"), 409, 40907, NULL);
}

Test(commands, settle_succeeded_stores_an_empty_typed_response) {
  char cred[1200], uuid[37], a[37], st[24], path[300];
  sc_claim(&m, cred, uuid);
  sc_queue(&m, uuid, "{\"finished\":{}}", a);
  snprintf(path, sizeof path, "/_mock/claimed-devices/%s/provisioning/%s/result", uuid, a);
  http_resp *r = owner(&m, SC_KEY, "POST", path, "{\"status\":\"SUCCEEDED\"}");
  cr_assert_eq(r->status, 200, "%s", r->body);
  char *resp = json_dumps(json_object_get(r->json, "response"), JSON_COMPACT);
  cr_assert_str_eq(resp, "{\"finished\":{}}");
  free(resp);
  http_resp_free(r);
  cr_assert_str_eq(sc_device_status(&m, uuid, st), "PROVISIONED");
}

Test(commands, no_authorization_is_401_and_report_answers_exactly_200) {
  dev_client d;
  dev_open(&d, &m, DEV_HTTP, "");
  cr_assert_eq(dev_fetch(&d, "after=", NULL, NULL), DEV_NOT_CLAIMED);
  dev_close(&d);
  char cred[1200], uuid[37];
  sc_claim(&m, cred, uuid);
  dev_open(&d, &m, DEV_HTTP, cred);
  dcbor_response r = {"nobody.1", DRSP_AT, 0, ""};
  uint8_t *cbor;
  size_t len;
  cr_assert_eq(dcbor_encode_responses(&r, 1, 1, &cbor, &len), 0);
  cr_assert_eq(dev_report(&d, cbor, len), DEV_ACCEPTED, "unknown ids are ignored");
  cr_assert_eq(d.status, 200);
  free(cbor);
  dev_close(&d);
}
