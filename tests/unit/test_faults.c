/* faults.c on its own: which requests a rule matches (protocol families, method case,
 * exact path or prefix, the leading '/', device and team), `times`, creation order,
 * the per-rule PRNG (one seed, one sequence of draws), validation messages, and how an
 * action reads on each transport. No server. */
#include <criterion/criterion.h>
#include <string.h>

#include "faults.h"

static faults *f;
static void setup(void) { f = faults_new(); }
static void teardown(void) { faults_free(f); }
TestSuite(faults, .init = setup, .fini = teardown, .timeout = 30);

/* Add a rule from JSON text; asserts it is accepted and returns its id. */
static void add(const char *json, char id[37]) {
  json_error_t je;
  json_t *body = json_loads(json, 0, &je), *out = NULL;
  cr_assert(body, "%s: %s", json, je.text);
  err_t e = {0};
  cr_assert_eq(faults_add(f, body, &out, &e), 0, "%s: %s", json, e.message);
  snprintf(id, 37, "%s", json_string_value(json_object_get(out, "id")));
  json_decref(out);
  json_decref(body);
}

/* The error id a rejected rule gets, and its message in msg. */
static int refused(const char *json, char *msg, size_t n) {
  json_t *body = json_loads(json, 0, NULL), *out = NULL;
  cr_assert(body, "%s", json);
  err_t e = {0};
  int rc = faults_add(f, body, &out, &e);
  json_decref(body);
  cr_assert_neq(rc, 0, "%s was accepted", json);
  cr_assert_null(out);
  snprintf(msg, n, "%s", e.message);
  return -rc;
}

static int fires(const char *protocol, const char *method, const char *path, const char *device, const char *team) {
  fault_request req = {protocol, method, path, device, team};
  fault_action a;
  char id[37];
  return faults_match(f, &req, &a, id);
}

Test(faults, no_rule_means_no_fault) {
  cr_assert_not(faults_any(f));
  cr_assert_eq(fires("http", "GET", "/v1/provisioning/commands", NULL, NULL), 0);
}

Test(faults, exact_path_prefix_and_the_leading_slash) {
  char id[37];
  add("{\"match\": {\"path\": \"/v1/provisioning/commands\"}, \"action\": {\"status\": 503}}", id);
  cr_assert(faults_any(f));
  cr_assert_eq(fires("http", "GET", "/v1/provisioning/commands", NULL, NULL), 1);
  cr_assert_eq(fires("http", "GET", "v1/provisioning/commands", NULL, NULL), 1, "leading '/' ignored");
  cr_assert_eq(fires("http", "GET", "/v1/provisioning/commandsx", NULL, NULL), 0, "exact, not a prefix");
  faults_clear(f, NULL);
  add("{\"match\": {\"path\": \"p/*\"}, \"action\": {\"coapCode\": \"5.03\"}}", id);
  cr_assert_eq(fires("coap", "GET", "p/cmd", NULL, NULL), 1);
  cr_assert_eq(fires("coaps", "POST", "/p/rsp", NULL, NULL), 1);
  cr_assert_eq(fires("coap", "POST", "q/rsp", NULL, NULL), 0);
}

Test(faults, protocol_families_and_method_case) {
  char id[37];
  add("{\"match\": {\"protocol\": \"http\", \"method\": \"get\", \"path\": \"*\"}, \"action\": {\"status\": 500}}", id);
  cr_assert_eq(fires("http", "GET", "/x", NULL, NULL), 1);
  cr_assert_eq(fires("https", "GET", "/x", NULL, NULL), 1, "http covers https");
  cr_assert_eq(fires("coap", "GET", "x", NULL, NULL), 0);
  cr_assert_eq(fires("http", "POST", "/x", NULL, NULL), 0);
}

Test(faults, device_and_team_must_be_known_and_equal) {
  char id[37];
  add("{\"match\": {\"path\": \"*\", \"deviceId\": \"4961c873-408c-45ce-b1ba-7c0d99d88179\", \"team\": \"k\"},"
      " \"action\": {\"status\": 500}}", id);
  cr_assert_eq(faults_needs(f), FAULT_NEEDS_DEVICE | FAULT_NEEDS_TEAM);
  cr_assert_eq(fires("http", "GET", "/x", "4961c873-408c-45ce-b1ba-7c0d99d88179", "k"), 1);
  cr_assert_eq(fires("http", "GET", "/x", "4961c873-408c-45ce-b1ba-7c0d99d88179", NULL), 0, "unknown team");
  cr_assert_eq(fires("http", "GET", "/x", NULL, "k"), 0, "unknown device");
  cr_assert_eq(fires("http", "GET", "/x", "4961c873-408c-45ce-b1ba-7c0d99d88170", "k"), 0);
}

Test(faults, times_counts_down_and_the_rule_goes) {
  char id[37];
  add("{\"match\": {\"path\": \"*\"}, \"action\": {\"status\": 503}, \"times\": 2}", id);
  cr_assert_eq(fires("http", "GET", "/x", NULL, NULL), 1);
  cr_assert_eq(fires("http", "GET", "/x", NULL, NULL), 1);
  cr_assert_eq(fires("http", "GET", "/x", NULL, NULL), 0);
  cr_assert_eq(faults_count(f), 0);
  cr_assert_eq(faults_fired(f, "http"), 2);
  cr_assert_eq(faults_fired(f, "coap"), 0);
}

Test(faults, the_first_rule_in_creation_order_fires) {
  char first[37], second[37], got[37];
  add("{\"match\": {\"path\": \"/v1/*\"}, \"action\": {\"status\": 500}}", first);
  add("{\"match\": {\"path\": \"/v1/devices\"}, \"action\": {\"status\": 503}}", second);
  fault_request req = {"http", "GET", "/v1/devices", NULL, NULL};
  fault_action a;
  cr_assert_eq(faults_match(f, &req, &a, got), 1);
  cr_assert_str_eq(got, first);
  cr_assert_eq(a.status, 500);
  cr_assert_eq(faults_delete(f, first), 0);
  cr_assert_eq(faults_delete(f, first), 1, "1 = no such rule");
  cr_assert_eq(faults_match(f, &req, &a, got), 1);
  cr_assert_str_eq(got, second);
}

/* The draws of a rule with probability 0.5 and the given seed, as a string of 0/1. */
static void draws(uint64_t seed, char out[65]) {
  char json[160], id[37];
  snprintf(json, sizeof json, "{\"match\": {\"path\": \"*\"}, \"action\": {\"status\": 503}, \"probability\": 0.5, \"seed\": %llu}",
           (unsigned long long)seed);
  faults_clear(f, NULL);
  add(json, id);
  for (int i = 0; i < 64; i++) out[i] = (char)('0' + fires("http", "GET", "/x", NULL, NULL));
  out[64] = 0;
}

Test(faults, one_seed_gives_one_sequence_of_draws) {
  char a[65], b[65], c[65];
  draws(42, a);
  draws(42, b);
  draws(43, c);
  cr_assert_str_eq(a, b, "the same seed draws the same");
  cr_assert_str_neq(a, c, "another seed draws otherwise");
  int ones = 0;
  for (int i = 0; i < 64; i++) ones += a[i] == '1';
  cr_assert(ones > 10 && ones < 54, "a fair coin: %d of 64 (%s)", ones, a);
}

Test(faults, without_a_seed_one_is_picked_and_echoed) {
  json_t *body = json_loads("{\"match\": {\"path\": \"*\"}, \"action\": {\"drop\": true}}", 0, NULL), *out = NULL;
  err_t e = {0};
  cr_assert_eq(faults_add(f, body, &out, &e), 0, "%s", e.message);
  cr_assert(json_is_integer(json_object_get(out, "seed")));
  cr_assert_eq(json_real_value(json_object_get(out, "probability")), 1.0);
  json_decref(out);
  json_decref(body);
}

Test(faults, bad_rules_name_the_field) {
  char msg[320];
  cr_assert_eq(refused("{\"action\": {\"status\": 503}}", msg, sizeof msg), ERR_MISSING_FIELD);
  cr_assert(strstr(msg, "match"), "%s", msg);
  cr_assert_eq(refused("{\"match\": {\"path\": \"*\"}, \"action\": {\"status\": 503}, \"probability\": 2}", msg, sizeof msg),
               ERR_BAD_FIELD);
  cr_assert(strstr(msg, "probability"), "%s", msg);
  cr_assert_eq(refused("{\"match\": {\"path\": \"*\", \"protocol\": \"ftp\"}, \"action\": {\"status\": 503}}", msg, sizeof msg),
               ERR_BAD_FIELD);
  cr_assert(strstr(msg, "protocol"), "%s", msg);
  cr_assert_eq(refused("{\"match\": {\"path\": \"*\"}, \"action\": {\"delayMs\": -1}}", msg, sizeof msg), ERR_BAD_FIELD);
  cr_assert(strstr(msg, "delayMs"), "%s", msg);
  cr_assert_eq(faults_count(f), 0, "nothing was added");
}

Test(faults, an_action_reads_per_transport) {
  fault_action status = {.status = 503}, code = {.coap_code = 404}, drop = {.drop = true}, close = {.close = true},
               odd = {.status = 599};
  cr_assert_eq(fault_http_status(&status), 503);
  cr_assert_eq(fault_coap_code(&status), 503, "503 is 5.03");
  cr_assert_eq(fault_http_status(&code), 404, "4.04 is 404 on HTTP");
  cr_assert_eq(fault_coap_code(&odd), 0, "no CoAP code has detail 99");
  cr_assert(fault_coap_drops(&drop) && fault_http_closes(&drop));
  cr_assert(fault_http_closes(&close) && fault_coap_drops(&close));
  cr_assert_not(fault_http_closes(&status));
}
