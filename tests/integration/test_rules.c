/* Provisioning rules through the real binary (docs/owner-api.md §4): the lifecycle DRAFT ->
 * ACTIVE -> deleted, every 409 a rule has (name taken, edit of an active rule),
 * validation of the body and of each command, team isolation, lists, and how active
 * rules apply at a device's next contact (§4.3): once, after what is queued, again
 * after a reset or a re-claim, never while the device is blocked. The shipped
 * fixtures/rules/ examples are posted here too. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness_scenarios.h"
#include "proto/dcbor.h"

static mock m;
static void start(void) { mock_start(&m, "--https-port", "-1", NULL); }
static void stop(void) { cr_assert_eq(mock_stop(&m), 0, "the mock exits 0 on SIGTERM"); }

TestSuite(rules, .init = start, .fini = stop, .timeout = 60);
TestSuite(rules_apply, .init = start, .fini = stop, .timeout = 60);

#define KEY SC_KEY
#define OTHER "rules-other-team"
#define FINISHED "{\"request\":{\"finished\":{}}}"

/* POST a rule body; asserts 201 and returns its id. */
static void create_rule(const char *body, char id[37]) {
  http_resp *r = owner(&m, KEY, "POST", "/v1/provisioning-rules", body);
  cr_assert_eq(r->status, 201, "%s -> %s", body, r->body);
  snprintf(id, 37, "%s", jstr(r->json, "id"));
  http_resp_free(r);
}

/* A rule named name over tags (JSON array text) with commands (JSON array text). */
static void make_rule(const char *name, const char *tags, const char *commands, bool active, char id[37]) {
  char body[4096];
  snprintf(body, sizeof body, "{\"name\":\"%s\",\"active\":%s,\"tags\":%s,\"commands\":%s}", name,
           active ? "true" : "false", tags, commands);
  create_rule(body, id);
}

static http_resp *rule_call(const char *key, const char *method, const char *id, const char *body) {
  char path[128];
  snprintf(path, sizeof path, "/v1/provisioning-rules/%s", id);
  return owner(&m, key, method, path, body);
}

Test(rules, lifecycle_draft_active_deleted) {
  const char *body =
    "{\"name\":\"onboard\",\"description\":\"first\",\"tags\":[\"t1\",\"t2\"],\"commands\":["
    "{\"description\":\"key\",\"request\":{\"clientPrivateKeyGeneration\":{\"secTag\":16842753}}},"
    "{\"request\":{\"finished\":{}}}]}";
  http_resp *r = owner(&m, KEY, "POST", "/v1/provisioning-rules", body);
  cr_assert_eq(r->status, 201, "%s", r->body);
  char id[37];
  snprintf(id, sizeof id, "%s", jstr(r->json, "id"));
  cr_assert_eq(strlen(id), 36);
  cr_assert_str_eq(jstr(r->json, "name"), "onboard");
  cr_assert_str_eq(jstr(r->json, "description"), "first");
  cr_assert_str_eq(jstr(r->json, "status"), "DRAFT");
  cr_assert(json_is_false(json_object_get(r->json, "active")), "active defaults to false");
  char *tags = json_dumps(json_object_get(r->json, "tags"), JSON_COMPACT);
  cr_assert_str_eq(tags, "[\"t1\",\"t2\"]");
  free(tags);
  char *cmds = json_dumps(json_object_get(r->json, "commands"), JSON_COMPACT | JSON_PRESERVE_ORDER);
  cr_assert_str_eq(cmds, "[{\"description\":\"key\",\"request\":{\"clientPrivateKeyGeneration\":{\"secTag\":16842753}}},"
                         "{\"request\":{\"finished\":{}}}]");
  free(cmds);
  cr_assert_eq(strlen(jstr(r->json, "createdAt")), 24);
  cr_assert_str_eq(jstr(r->json, "createdAt"), jstr(r->json, "updatedAt"));
  http_resp_free(r);

  r = rule_call(KEY, "GET", id, NULL);
  cr_assert_eq(r->status, 200);
  cr_assert_str_eq(jstr(r->json, "name"), "onboard");
  http_resp_free(r);

  r = owner(&m, KEY, "GET", "/v1/provisioning-rules", NULL);
  cr_assert_eq(r->status, 200);
  cr_assert_eq(jint(r->json, "total"), 1);
  json_t *item = json_array_get(json_object_get(r->json, "items"), 0);
  cr_assert_str_eq(jstr(item, "id"), id);
  cr_assert_eq(json_array_size(json_object_get(item, "tags")), 2, "list items carry tags");
  cr_assert_null(json_object_get(r->json, "pageNextToken"));
  http_resp_free(r);

  /* A draft can be edited field by field. */
  r = rule_call(KEY, "PATCH", id, "{\"name\":\"onboard-2\",\"description\":null,\"tags\":[\"t3\"],\"commands\":[" FINISHED "]}");
  cr_assert_eq(r->status, 200, "%s", r->body);
  cr_assert_str_eq(jstr(r->json, "name"), "onboard-2");
  cr_assert_str_eq(jstr(r->json, "description"), "");
  cr_assert_str_eq(json_string_value(json_array_get(json_object_get(r->json, "tags"), 0)), "t3");
  cr_assert_eq(json_array_size(json_object_get(r->json, "commands")), 1);
  cr_assert_str_eq(jstr(r->json, "status"), "DRAFT");
  http_resp_free(r);
  r = rule_call(KEY, "PATCH", id, "{}");
  cr_assert_eq(r->status, 200, "an empty PATCH of a draft changes nothing: %s", r->body);
  cr_assert_str_eq(jstr(r->json, "name"), "onboard-2");
  http_resp_free(r);

  r = rule_call(KEY, "PATCH", id, "{\"active\":true}");
  cr_assert_eq(r->status, 200, "%s", r->body);
  cr_assert_str_eq(jstr(r->json, "status"), "ACTIVE");
  cr_assert(json_is_true(json_object_get(r->json, "active")));
  http_resp_free(r);

  /* Any PATCH of an active rule is 409, deactivation included. */
  expect_error_free(rule_call(KEY, "PATCH", id, "{\"active\":false}"), 409, 40903, "activated rules cannot be edited");
  expect_error_free(rule_call(KEY, "PATCH", id, "{\"name\":\"x\"}"), 409, 40903, NULL);
  expect_error_free(rule_call(KEY, "PATCH", id, "{}"), 409, 40903, NULL);
  expect_error_free(rule_call(KEY, "PATCH", id, "{\"commands\":[]}"), 409, 40903, NULL);

  r = rule_call(KEY, "DELETE", id, NULL);
  cr_assert_eq(r->status, 204);
  http_resp_free(r);
  expect_error_free(rule_call(KEY, "GET", id, NULL), 404, 40400, NULL);
  expect_error_free(rule_call(KEY, "DELETE", id, NULL), 404, 40400, NULL);
  expect_error_free(rule_call(KEY, "PATCH", id, "{}"), 404, 40400, NULL);
}

Test(rules, names_are_unique_within_a_team) {
  char a[37], b[37];
  make_rule("alpha", "[\"t\"]", "[" FINISHED "]", false, a);
  make_rule("beta", "[\"t\"]", "[" FINISHED "]", false, b);
  expect_error_free(owner(&m, KEY, "POST", "/v1/provisioning-rules",
                     "{\"name\":\"alpha\",\"tags\":[\"t\"],\"commands\":[" FINISHED "]}"), 409, 40902, "alpha");
  expect_error_free(rule_call(KEY, "PATCH", b, "{\"name\":\"alpha\"}"), 409, 40902, "alpha");
  http_resp *r = rule_call(KEY, "PATCH", a, "{\"name\":\"alpha\"}");
  cr_assert_eq(r->status, 200, "renaming a rule to its own name: %s", r->body);
  http_resp_free(r);
  /* Another team has its own names. */
  r = owner(&m, OTHER, "POST", "/v1/provisioning-rules", "{\"name\":\"alpha\",\"tags\":[\"t\"],\"commands\":[" FINISHED "]}");
  cr_assert_eq(r->status, 201, "%s", r->body);
  http_resp_free(r);
  /* A deleted rule frees its name. */
  http_resp_free(rule_call(KEY, "DELETE", b, NULL));
  make_rule("beta", "[\"t\"]", "[" FINISHED "]", false, b);
}

Test(rules, another_teams_rule_is_404) {
  char id[37];
  make_rule("mine", "[\"t\"]", "[" FINISHED "]", false, id);
  expect_error_free(rule_call(OTHER, "GET", id, NULL), 404, 40400, NULL);
  expect_error_free(rule_call(OTHER, "PATCH", id, "{\"active\":true}"), 404, 40400, NULL);
  expect_error_free(rule_call(OTHER, "DELETE", id, NULL), 404, 40400, NULL);
  http_resp *r = owner(&m, OTHER, "GET", "/v1/provisioning-rules", NULL);
  cr_assert_eq(jint(r->json, "total"), 0);
  http_resp_free(r);
  r = rule_call(KEY, "GET", id, NULL);
  cr_assert_str_eq(jstr(r->json, "status"), "DRAFT", "untouched");
  http_resp_free(r);
  expect_error_free(owner(&m, NULL, "GET", "/v1/provisioning-rules", NULL), 401, 40100, NULL);
}

/* n finished commands as a JSON array text (malloc'd). */
static char *n_commands(int n) {
  char *s = malloc((size_t)n * 40 + 8);
  size_t k = (size_t)sprintf(s, "[");
  for (int i = 0; i < n; i++) k += (size_t)sprintf(s + k, "%s" FINISHED, i ? "," : "");
  sprintf(s + k, "]");
  return s;
}

Test(rules, validation_names_the_field_and_the_element) {
  char *c20 = n_commands(20), *c21 = n_commands(21), b20[2048], b21[2048];
  snprintf(b20, sizeof b20, "{\"name\":\"twenty\",\"tags\":[\"t\"],\"commands\":%s}", c20);
  snprintf(b21, sizeof b21, "{\"name\":\"twenty-one\",\"tags\":[\"t\"],\"commands\":%s}", c21);
  struct {
    const char *body;
    long long code;
    const char *names;
  } cases[] = {
    {"not json", 40000, NULL},
    {"[1]", 40000, NULL},
    {"{}", 40001, "name"},
    {"{\"name\":\"\",\"tags\":[\"t\"],\"commands\":[" FINISHED "]}", 40001, "name"},
    {"{\"name\":7,\"tags\":[\"t\"],\"commands\":[" FINISHED "]}", 40004, "name"},
    {"{\"name\":\"n\",\"commands\":[" FINISHED "]}", 40001, "tags"},
    {"{\"name\":\"n\",\"tags\":[],\"commands\":[" FINISHED "]}", 40001, "tags"},
    {"{\"name\":\"n\",\"tags\":[\" , \"],\"commands\":[" FINISHED "]}", 40001, "tags"},
    {"{\"name\":\"n\",\"tags\":\"t\",\"commands\":[" FINISHED "]}", 40004, "tags"},
    {"{\"name\":\"n\",\"tags\":[\"no spaces\"],\"commands\":[" FINISHED "]}", 40004, "tags"},
    {"{\"name\":\"n\",\"tags\":[\"t\"]}", 40001, "commands"},
    {"{\"name\":\"n\",\"tags\":[\"t\"],\"commands\":[]}", 40001, "commands"},
    {"{\"name\":\"n\",\"tags\":[\"t\"],\"commands\":{\"a\":1}}", 40004, "commands"},
    {b21, 40004, "commands: at most 20"},
    {"{\"name\":\"n\",\"tags\":[\"t\"],\"commands\":[5]}", 40004, "commands[0]"},
    {"{\"name\":\"n\",\"tags\":[\"t\"],\"commands\":[{}]}", 40001, "commands[0].request"},
    {"{\"name\":\"n\",\"tags\":[\"t\"],\"commands\":[" FINISHED ",{\"request\":{\"bogus\":{}}}]}", 40005, "commands[1].request"},
    {"{\"name\":\"n\",\"tags\":[\"t\"],\"commands\":[" FINISHED ",{\"request\":{\"clientPrivateKeyGeneration\":{}}}]}", 40001,
     "commands[1].request.clientPrivateKeyGeneration.secTag"},
    {"{\"name\":\"n\",\"tags\":[\"t\"],\"commands\":[" FINISHED "," FINISHED ",{\"request\":{\"serverCertificate\":"
     "{\"secTag\":1,\"content\":\"nope\"}}}]}", 40004, "commands[2].request.serverCertificate.content"},
    {"{\"name\":\"n\",\"tags\":[\"t\"],\"commands\":[{\"description\":5,\"request\":{\"finished\":{}}}]}", 40004,
     "commands[0].description"},
    {"{\"name\":\"n\",\"tags\":[\"t\"],\"commands\":[" FINISHED "],\"active\":\"yes\"}", 40004, "active"},
    {"{\"name\":\"n\",\"tags\":[\"t\"],\"commands\":[" FINISHED "],\"description\":5}", 40004, "description"},
    /* Precedence: a bad request type (40005) beats a missing name (40001), which beats a
     * wrong type (40004), wherever they sit in the body. */
    {"{\"tags\":5,\"commands\":[{\"request\":{\"x\":{}}}]}", 40005, "commands[0].request"},
    {"{\"name\":5,\"tags\":[\"t\"],\"commands\":[{\"request\":{\"finished\":{}}},{\"request\":null}]}", 40001,
     "commands[1].request"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    http_resp *r = owner(&m, KEY, "POST", "/v1/provisioning-rules", cases[i].body);
    cr_assert_eq(r->status, 400, "%.200s: %s", cases[i].body, r->body);
    cr_assert_eq(jint(r->json, "code"), cases[i].code, "%.200s: %s", cases[i].body, r->body);
    if (cases[i].names) cr_assert(strstr(jstr(r->json, "message"), cases[i].names), "%.200s: %s", cases[i].body, r->body);
    http_resp_free(r);
  }
  http_resp *r = owner(&m, KEY, "GET", "/v1/provisioning-rules", NULL);
  cr_assert_eq(jint(r->json, "total"), 0, "nothing stored");
  http_resp_free(r);
  char id[37];
  create_rule(b20, id);
  /* The same checks on PATCH, for the fields it names. */
  char d[37];
  make_rule("draft", "[\"t\"]", "[" FINISHED "]", false, d);
  expect_error_free(rule_call(KEY, "PATCH", d, "{\"commands\":[]}"), 400, 40001, "commands");
  expect_error_free(rule_call(KEY, "PATCH", d, "{\"tags\":[]}"), 400, 40001, "tags");
  expect_error_free(rule_call(KEY, "PATCH", d, "{\"name\":null}"), 400, 40001, "name");
  expect_error_free(rule_call(KEY, "PATCH", d, "{\"active\":1}"), 400, 40004, "active");
  expect_error_free(rule_call(KEY, "PATCH", d, "{\"commands\":[{\"request\":{\"config\":{\"properties\":{}}}}]}"), 400, 40001, "commands[0].request.config.properties");
  char patch[2048];
  snprintf(patch, sizeof patch, "{\"commands\":%s}", c21);
  expect_error_free(rule_call(KEY, "PATCH", d, patch), 400, 40004, "commands");
  expect_error_free(rule_call(KEY, "PATCH", d, "nope"), 400, 40000, NULL);
  r = rule_call(KEY, "GET", d, NULL);
  cr_assert_eq(json_array_size(json_object_get(r->json, "commands")), 1, "a refused PATCH changes nothing");
  http_resp_free(r);
  free(c20);
  free(c21);
}

Test(rules, list_in_creation_order_with_pages) {
  char ids[3][37];
  make_rule("r0", "[\"t\"]", "[" FINISHED "]", false, ids[0]);
  make_rule("r1", "[\"t\"]", "[" FINISHED "]", true, ids[1]);
  make_rule("r2", "[\"t\"]", "[" FINISHED "]", false, ids[2]);
  http_resp *r = owner(&m, KEY, "GET", "/v1/provisioning-rules?pageLimit=2", NULL);
  cr_assert_eq(r->status, 200);
  cr_assert_eq(jint(r->json, "total"), 3);
  json_t *items = json_object_get(r->json, "items");
  cr_assert_eq(json_array_size(items), 2);
  cr_assert_str_eq(jstr(json_array_get(items, 0), "id"), ids[0]);
  cr_assert_str_eq(jstr(json_array_get(items, 1), "id"), ids[1]);
  cr_assert_str_eq(jstr(json_array_get(items, 1), "status"), "ACTIVE");
  char path[200];
  snprintf(path, sizeof path, "/v1/provisioning-rules?pageLimit=2&pageNextToken=%s", jstr(r->json, "pageNextToken"));
  http_resp_free(r);
  r = owner(&m, KEY, "GET", path, NULL);
  items = json_object_get(r->json, "items");
  cr_assert_eq(json_array_size(items), 1);
  cr_assert_str_eq(jstr(json_array_get(items, 0), "id"), ids[2]);
  cr_assert_null(json_object_get(r->json, "pageNextToken"), "last page");
  cr_assert_eq(jint(r->json, "total"), 3);
  http_resp_free(r);
  expect_error_free(owner(&m, KEY, "GET", "/v1/provisioning-rules?pageLimit=0", NULL), 400, 40006, "pageLimit");
  expect_error_free(owner(&m, KEY, "GET", "/v1/provisioning-rules?pageNextToken=zzz", NULL), 400, 40006, "pageNextToken");
  r = owner(&m, KEY, "PUT", "/v1/provisioning-rules", "{}");
  cr_assert_eq(r->status, 405);
  char allow[64];
  cr_assert(resp_header(r, "Allow", allow, sizeof allow) && strstr(allow, "GET") && strstr(allow, "POST"), "Allow");
  http_resp_free(r);
}

/* The JSON text of a fixture file under fixtures/rules (malloc'd). */
static char *rule_fixture(const char *name) {
  char path[512];
  snprintf(path, sizeof path, "%s/rules/%s", fixtures_dir(), name);
  char *text = read_file(path, NULL);
  cr_assert(text, "fixture %s", path);
  return text;
}

Test(rules, every_shipped_fixture_is_a_valid_rule) {
  char dir[512];
  snprintf(dir, sizeof dir, "%s/rules", fixtures_dir());
  DIR *d = opendir(dir);
  cr_assert(d, "%s", dir);
  struct dirent *ent;
  int posted = 0;
  while ((ent = readdir(d))) {
    size_t n = strlen(ent->d_name);
    if (n < 6 || strcmp(ent->d_name + n - 5, ".json")) continue;
    char *body = rule_fixture(ent->d_name);
    http_resp *r = owner(&m, KEY, "POST", "/v1/provisioning-rules", body);
    cr_assert_eq(r->status, 201, "%s: %s", ent->d_name, r->body);
    http_resp_free(r);
    free(body);
    posted++;
  }
  closedir(d);
  cr_assert_geq(posted, 5);
  /* The portal's certificate choices: both CAs, one, or no serverCertificate at all. */
  char path[512];
  snprintf(path, sizeof path, "%s/ca/amazon-root-ca-1.pem", fixtures_dir());
  char *aws = read_file(path, NULL);
  snprintf(path, sizeof path, "%s/ca/nrf-cloud-coap-ca.pem", fixtures_dir());
  char *coap = read_file(path, NULL);
  char *both = malloc(strlen(aws) + strlen(coap) + 1);
  sprintf(both, "%s%s", aws, coap);
  struct {
    const char *file, *content;
  } want[] = {{"nrf-cloud-onboarding-all.json", both}, {"nrf-cloud-onboarding-aws.json", aws},
              {"nrf-cloud-onboarding-coap.json", coap}, {"nrf-cloud-onboarding-none.json", NULL}};
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
    char *text = rule_fixture(want[i].file);
    json_t *j = json_loads(text, 0, NULL), *cmd, *server = NULL, *cloud = NULL;
    size_t k;
    json_array_foreach(json_object_get(j, "commands"), k, cmd) {
      json_t *req = json_object_get(cmd, "request");
      if (json_object_get(req, "serverCertificate")) server = json_object_get(req, "serverCertificate");
      if (json_object_get(req, "cloudAccessKeyGeneration")) cloud = json_object_get(req, "cloudAccessKeyGeneration");
    }
    cr_assert(cloud, "%s onboards", want[i].file);
    cr_assert(jint(cloud, "secTag") > 0 && json_object_get(cloud, "subType") && json_object_get(cloud, "firmwareTypes") &&
              json_object_get(cloud, "deviceManagementGroup"), "%s: security tag, subtype, firmware types, group", want[i].file);
    if (want[i].content) cr_assert_str_eq(jstr(server, "content"), want[i].content, "%s", want[i].file);
    else cr_assert_null(server, "%s has no serverCertificate", want[i].file);
    json_decref(j);
    free(text);
  }
  free(aws);
  free(coap);
  free(both);
}

/* ---- how rules apply (§4.3) ---- */

/* Claim a fresh device with tags (JSON array text); the token (for a re-claim) and the
 * device credential "att.<token>". */
static void claim_tagged(const char *tags, char token[1100], char cred[1200], char uuid[37]) {
  char body[1400];
  make_token(token, 1100, uuid);
  snprintf(body, sizeof body, "{\"claimToken\":\"%s\",\"tags\":%s}", token, tags);
  http_resp *r = owner(&m, KEY, "POST", "/v1/claimed-devices", body);
  cr_assert_eq(r->status, 201, "%s", r->body);
  http_resp_free(r);
  snprintf(cred, 1200, "att.%s", token);
}

/* The device's commands as the owner sees them (the list answer). */
static http_resp *commands_of(const char *uuid) {
  char path[200];
  snprintf(path, sizeof path, "/v1/claimed-devices/%s/provisioning", uuid);
  http_resp *r = owner(&m, KEY, "GET", path, NULL);
  cr_assert_eq(r->status, 200, "%s", r->body);
  return r;
}

static long long command_count(const char *uuid) {
  http_resp *r = commands_of(uuid);
  long long n = jint(r->json, "total");
  http_resp_free(r);
  return n;
}

/* One fetch as the device: the decoded steps (NULL and *n = 0 when nothing to do). */
static dcbor_owned_command *device_fetch(const char *cred, size_t *n) {
  dev_client d;
  uint8_t *body = NULL;
  size_t len = 0;
  dcbor_owned_command *c = NULL;
  *n = 0;
  dev_open(&d, &m, DEV_HTTP, cred);
  dev_result res = dev_fetch(&d, "after=&rxMaxSize=4096&txMaxSize=4096", &body, &len);
  cr_assert(res == DEV_COMMANDS || res == DEV_NOTHING, "fetch: status %d", d.status);
  if (res == DEV_COMMANDS) {
    char why[200];
    cr_assert_eq(dcbor_decode_commands(body, len, &c, n, why, sizeof why), 0, "%s", why);
  }
  free(body);
  dev_close(&d);
  return c;
}

/* Answer every step of c with success, as the device would. */
/* Answer every step as a device would: %KEYGEN with a well-formed answer for the
 * command's sec tag and format, everything else OK. */
static void device_succeed(const char *cred, const char *uuid, dcbor_owned_command *c, size_t n) {
  dcbor_response *r = calloc(n, sizeof *r);
  char **answers = calloc(n, sizeof *answers);
  for (size_t i = 0; i < n; i++) {
    r[i].cid = c[i].cid;
    r[i].type = c[i].type == DCMD_AT ? DRSP_AT : c[i].type == DCMD_CONFIG ? DRSP_CONFIG_ACK : DRSP_FINISHED_ACK;
    r[i].message = c[i].type == DCMD_AT ? "OK\r\n" : NULL;
    if (c[i].type == DCMD_AT && !strcmp(c[i].set_cmd, "%KEYGEN")) {
      unsigned long tag = strtoul(c[i].params, NULL, 10);
      const char *fmt = strchr(strchr(c[i].params, ',') + 1, ',') + 1;
      answers[i] = sc_keygen_answer(uuid, *fmt == '0', (uint32_t)tag);
      r[i].message = answers[i];
    }
  }
  uint8_t *cbor;
  size_t len;
  cr_assert_eq(dcbor_encode_responses(r, n, 0, &cbor, &len), 0);
  dev_client d;
  dev_open(&d, &m, DEV_HTTP, cred);
  cr_assert_eq(dev_report(&d, cbor, len), DEV_ACCEPTED, "report: status %d", d.status);
  dev_close(&d);
  free(cbor);
  for (size_t i = 0; i < n; i++) free(answers[i]);
  free(answers);
  free(r);
}

#define RULE_COMMANDS                                                                              \
  "[{\"description\":\"cfg\",\"request\":{\"config\":{\"properties\":{\"k\":\"v\"}}}}," FINISHED "]"

Test(rules_apply, at_next_contact_after_queued_commands_once) {
  char token[1100], cred[1200], uuid[37], manual[37], rule[37], st[24];
  claim_tagged("[\"fleet\"]", token, cred, uuid);
  sc_queue(&m, uuid, "{\"clientPrivateKeyGeneration\":{\"secTag\":7}}", manual);
  make_rule("fleet-rule", "[\"other\",\"fleet\"]", RULE_COMMANDS, true, rule);
  /* Not applied at once: the device shows PENDING until it contacts. */
  cr_assert_str_eq(sc_device_status(&m, uuid, st), "PENDING");
  cr_assert_eq(command_count(uuid), 1);
  size_t n;
  dcbor_owned_command *c = device_fetch(cred, &n);
  cr_assert_eq(n, 4, "pre-step, key, then the rule's config and finished");
  cr_assert_str_eq(c[1].set_cmd, "%KEYGEN");
  cr_assert_eq(c[2].type, DCMD_CONFIG);
  cr_assert_eq(c[3].type, DCMD_FINISHED);
  http_resp *r = commands_of(uuid);
  json_t *items = json_object_get(r->json, "items");
  cr_assert_eq(json_array_size(items), 3);
  cr_assert_str_eq(jstr(json_array_get(items, 0), "id"), manual, "queued after what was there");
  cr_assert_null(json_object_get(json_array_get(items, 0), "ruleId"));
  cr_assert_str_eq(jstr(json_array_get(items, 1), "ruleId"), rule);
  cr_assert_str_eq(jstr(json_array_get(items, 1), "description"), "cfg");
  cr_assert(json_object_get(json_object_get(json_array_get(items, 1), "request"), "config"));
  cr_assert_str_eq(jstr(json_array_get(items, 2), "ruleId"), rule);
  http_resp_free(r);
  device_succeed(cred, uuid, c, n);
  dcbor_commands_free(c, n);
  cr_assert_str_eq(sc_device_status(&m, uuid, st), "PROVISIONED");
  /* Once: later contacts find nothing. */
  c = device_fetch(cred, &n);
  cr_assert_eq(n, 0);
  cr_assert_eq(command_count(uuid), 3);
  cr_assert_str_eq(sc_device_status(&m, uuid, st), "PROVISIONED");
}

Test(rules_apply, again_after_a_reset_or_a_reclaim) {
  char token[1100], cred[1200], uuid[37], rule[37], st[24], path[200], body[1400];
  claim_tagged("[\"fleet\"]", token, cred, uuid);
  make_rule("fleet-rule", "[\"fleet\"]", "[" FINISHED "]", true, rule);
  size_t n;
  dcbor_owned_command *c = device_fetch(cred, &n);
  cr_assert_eq(n, 1);
  device_succeed(cred, uuid, c, n);
  dcbor_commands_free(c, n);
  cr_assert_str_eq(sc_device_status(&m, uuid, st), "PROVISIONED");
  /* Reset: the rule matches again, so the device waits for it. */
  snprintf(path, sizeof path, "/v1/claimed-devices/%s/provisioning", uuid);
  http_resp *r = owner(&m, KEY, "DELETE", path, NULL);
  cr_assert_eq(r->status, 204);
  http_resp_free(r);
  cr_assert_str_eq(sc_device_status(&m, uuid, st), "PENDING");
  cr_assert_eq(command_count(uuid), 0);
  c = device_fetch(cred, &n);
  cr_assert_eq(n, 1, "applied again after the reset");
  dcbor_commands_free(c, n);
  cr_assert_eq(command_count(uuid), 1);
  /* Unclaim and claim again: a fresh claim, the rule applies once more. */
  snprintf(path, sizeof path, "/v1/claimed-devices/%s", uuid);
  r = owner(&m, KEY, "DELETE", path, NULL);
  cr_assert_eq(r->status, 204);
  http_resp_free(r);
  snprintf(body, sizeof body, "{\"claimToken\":\"%s\",\"tags\":[\"fleet\"]}", token);
  r = owner(&m, KEY, "POST", "/v1/claimed-devices", body);
  cr_assert_eq(r->status, 201, "%s", r->body);
  cr_assert_str_eq(jstr(r->json, "status"), "PENDING");
  http_resp_free(r);
  cr_assert_eq(command_count(uuid), 0);
  c = device_fetch(cred, &n);
  cr_assert_eq(n, 1, "applied again after the re-claim");
  dcbor_commands_free(c, n);
  r = commands_of(uuid);
  cr_assert_str_eq(jstr(json_array_get(json_object_get(r->json, "items"), 0), "ruleId"), rule);
  http_resp_free(r);
}

Test(rules_apply, a_blocked_device_waits_until_unblocked_and_contacts) {
  char token[1100], cred[1200], uuid[37], rule[37], st[24], path[200];
  claim_tagged("[\"fleet\"]", token, cred, uuid);
  snprintf(path, sizeof path, "/v1/claimed-devices/%s/block", uuid);
  http_resp_free(owner(&m, KEY, "POST", path, NULL));
  make_rule("fleet-rule", "[\"fleet\"]", "[" FINISHED "]", true, rule);
  cr_assert_str_eq(sc_device_status(&m, uuid, st), "PENDING", "the work is waiting");
  dev_client d;
  dev_open(&d, &m, DEV_HTTP, cred);
  cr_assert_eq(dev_fetch(&d, "after=", NULL, NULL), DEV_FORBIDDEN);
  dev_close(&d);
  cr_assert_eq(command_count(uuid), 0, "a blocked device cannot contact, so nothing applied");
  snprintf(path, sizeof path, "/v1/claimed-devices/%s/unblock", uuid);
  http_resp_free(owner(&m, KEY, "POST", path, NULL));
  cr_assert_eq(command_count(uuid), 0, "unblocking is not a contact");
  size_t n;
  dcbor_owned_command *c = device_fetch(cred, &n);
  cr_assert_eq(n, 1);
  cr_assert_eq(c[0].type, DCMD_FINISHED);
  dcbor_commands_free(c, n);
}

Test(rules_apply, only_active_rules_matching_a_tag_and_in_creation_order) {
  char token[1100], cred[1200], uuid[37], bare[37], first[37], second[37], draft[37], other[37], st[24];
  claim_tagged("[\"a\",\"b\"]", token, cred, uuid);
  claim_new(&m, KEY, NULL, bare);
  make_rule("first", "[\"b\"]", "[{\"request\":{\"config\":{\"properties\":{\"n\":\"1\"}}}}]", true, first);
  make_rule("draft", "[\"a\"]", "[" FINISHED "]", false, draft);
  make_rule("other", "[\"z\"]", "[" FINISHED "]", true, other);
  make_rule("second", "[\"a\"]", "[{\"request\":{\"config\":{\"properties\":{\"n\":\"2\"}}}}]", true, second);
  cr_assert_str_eq(sc_device_status(&m, bare, st), "READY", "a device without tags matches no rule");
  /* Another team's active rule on the same tag does not apply either. */
  http_resp_free(owner(&m, OTHER, "POST", "/v1/provisioning-rules",
                       "{\"name\":\"x\",\"active\":true,\"tags\":[\"a\"],\"commands\":[" FINISHED "]}"));
  size_t n;
  dcbor_owned_command *c = device_fetch(cred, &n);
  cr_assert_eq(n, 2);
  cr_assert_str_eq(c[0].values[0], "1");
  cr_assert_str_eq(c[1].values[0], "2");
  dcbor_commands_free(c, n);
  http_resp *r = commands_of(uuid);
  json_t *items = json_object_get(r->json, "items");
  cr_assert_str_eq(jstr(json_array_get(items, 0), "ruleId"), first);
  cr_assert_str_eq(jstr(json_array_get(items, 1), "ruleId"), second);
  http_resp_free(r);
  /* Activating the draft later: the device is PENDING again and gets it at contact. */
  http_resp_free(rule_call(KEY, "PATCH", draft, "{\"active\":true}"));
  cr_assert_str_eq(sc_device_status(&m, uuid, st), "PENDING");
  c = device_fetch(cred, &n);
  cr_assert_eq(n, 3, "the two config commands are still unanswered, then finished");
  cr_assert_eq(c[2].type, DCMD_FINISHED);
  dcbor_commands_free(c, n);
}

Test(rules_apply, deleting_a_rule_keeps_the_commands_it_queued) {
  char token[1100], cred[1200], uuid[37], rule[37], later[37], uuid2[37], cred2[1200], token2[1100], st[24];
  claim_tagged("[\"fleet\"]", token, cred, uuid);
  make_rule("fleet-rule", "[\"fleet\"]", RULE_COMMANDS, true, rule);
  size_t n;
  dcbor_owned_command *c = device_fetch(cred, &n);
  cr_assert_eq(n, 2);
  dcbor_commands_free(c, n);
  claim_tagged("[\"fleet\"]", token2, cred2, uuid2);
  cr_assert_str_eq(sc_device_status(&m, uuid2, st), "PENDING");
  http_resp *r = rule_call(KEY, "DELETE", rule, NULL);
  cr_assert_eq(r->status, 204);
  http_resp_free(r);
  r = commands_of(uuid);
  cr_assert_eq(jint(r->json, "total"), 2);
  cr_assert_str_eq(jstr(json_array_get(json_object_get(r->json, "items"), 0), "ruleId"), rule, "ruleId stays");
  http_resp_free(r);
  cr_assert_str_eq(sc_device_status(&m, uuid2, st), "READY", "a deleted rule no longer waits");
  c = device_fetch(cred2, &n);
  cr_assert_eq(n, 0);
  /* The tag the rule created stays too, now unused by rules. */
  make_rule("later", "[\"fleet\"]", "[" FINISHED "]", false, later);
}

/* Settle a command of the device as if it had answered (the control API's settle call). */
static void settle(const char *uuid, const char *command_id) {
  char path[300];
  snprintf(path, sizeof path, "/_mock/claimed-devices/%s/provisioning/%s/result", uuid, command_id);
  http_resp *r = owner(&m, KEY, "POST", path, "{\"status\":\"SUCCEEDED\"}");
  cr_assert_eq(r->status, 200, "%s", r->body);
  http_resp_free(r);
}

/* How many of the device's commands a rule queued. */
static size_t rule_commands(const char *uuid, const char *rule) {
  char path[200];
  snprintf(path, sizeof path, "/v1/claimed-devices/%s/provisioning?pageLimit=100", uuid);
  http_resp *r = owner(&m, KEY, "GET", path, NULL);
  cr_assert_eq(r->status, 200, "%s", r->body);
  size_t i, n = 0;
  json_t *c;
  json_array_foreach(json_object_get(r->json, "items"), i, c) n += jstr(c, "ruleId") && !strcmp(jstr(c, "ruleId"), rule);
  http_resp_free(r);
  return n;
}

/* The 20-unfinished limit (§3.1) holds for rules too: a rule applies whole or waits (the
 * device stays PENDING) until a later contact finds room for all its commands; a rule
 * created later waits behind it, so rules still queue in creation order. */
Test(rules_apply, a_rule_waits_until_all_its_commands_fit_under_20_unfinished) {
  char token[1100], cred[1200], uuid[37], ids[19][37], first[37], second[37], st[24];
  claim_tagged("[\"fleet\"]", token, cred, uuid);
  for (int i = 0; i < 19; i++) sc_queue(&m, uuid, "{\"config\":{\"properties\":{\"k\":\"v\"}}}", ids[i]);
  make_rule("two", "[\"fleet\"]", RULE_COMMANDS, true, first);
  make_rule("one", "[\"fleet\"]", "[" FINISHED "]", true, second);
  size_t n;
  dcbor_owned_command *c = device_fetch(cred, &n);
  dcbor_commands_free(c, n);
  cr_assert_eq(command_count(uuid), 19, "19 + 2 would pass 20: neither rule applies");
  cr_assert_str_eq(sc_device_status(&m, uuid, st), "PENDING");
  c = device_fetch(cred, &n);
  dcbor_commands_free(c, n);
  cr_assert_eq(command_count(uuid), 19, "still no room at the next contact");

  /* One settled: 18 + 2 fits, so the first rule applies whole; the second (18 + 2 + 1)
   * now waits for room in its turn. */
  settle(uuid, ids[0]);
  cr_assert_eq(command_count(uuid), 19, "a settle is not a contact");
  c = device_fetch(cred, &n);
  dcbor_commands_free(c, n);
  cr_assert_eq(command_count(uuid), 21);
  cr_assert_eq(rule_commands(uuid, first), 2);
  cr_assert_eq(rule_commands(uuid, second), 0);
  cr_assert_str_eq(sc_device_status(&m, uuid, st), "PENDING");

  settle(uuid, ids[1]);
  c = device_fetch(cred, &n);
  dcbor_commands_free(c, n);
  cr_assert_eq(rule_commands(uuid, second), 1, "19 + 1 fits");
  cr_assert_eq(rule_commands(uuid, first), 2, "applied once only");
  cr_assert_eq(command_count(uuid), 22);
}
