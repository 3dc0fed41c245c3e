/* Provisioning tags and groups through the real binary (docs/owner-api.md §5): tags created by
 * claims and rules, explicit create (201/409), list with device and rule counts and
 * pages, get with members, delete (409 while used), tags holding '/' and ':' in the
 * path, team isolation. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static mock m;
static void start(void) { mock_start(&m, "--https-port", "-1", NULL); }
static void stop(void) { cr_assert_eq(mock_stop(&m), 0, "the mock exits 0 on SIGTERM"); }

TestSuite(tags, .init = start, .fini = stop, .timeout = 60);

#define KEY "tags-team"
#define OTHER "tags-other-team"

static void create_rule(const char *name, const char *tags, char id[37]) {
  char body[1024];
  snprintf(body, sizeof body, "{\"name\":\"%s\",\"tags\":%s,\"commands\":[{\"request\":{\"finished\":{}}}]}", name, tags);
  http_resp *r = owner(&m, KEY, "POST", "/v1/provisioning-rules", body);
  cr_assert_eq(r->status, 201, "%s", r->body);
  snprintf(id, 37, "%s", jstr(r->json, "id"));
  http_resp_free(r);
}

/* The item of tag in a tags list answer, or NULL. */
static json_t *find_tag(json_t *list, const char *tag) {
  size_t i;
  json_t *it;
  json_array_foreach(json_object_get(list, "items"), i, it) if (!strcmp(jstr(it, "tag"), tag)) return it;
  return NULL;
}

static http_resp *tag_call(const char *key, const char *method, const char *tag_path) {
  char path[300];
  snprintf(path, sizeof path, "/v1/provisioning/tags/%s", tag_path);
  return owner(&m, key, method, path, NULL);
}

Test(tags, claims_and_rules_create_tags_and_the_list_counts_them) {
  char d1[37], d2[37], rule[37];
  claim_new(&m, KEY, "[\"a,b\"]", d1);
  claim_new(&m, KEY, "[\"b\"]", d2);
  create_rule("r", "[\"b\",\"c\"]", rule);
  http_resp *r = owner(&m, KEY, "GET", "/v1/provisioning/tags", NULL);
  cr_assert_eq(r->status, 200, "%s", r->body);
  cr_assert_eq(jint(r->json, "total"), 3);
  cr_assert_null(json_object_get(r->json, "pageNextToken"));
  const char *order[] = {"a", "b", "c"};
  for (int i = 0; i < 3; i++)
    cr_assert_str_eq(jstr(json_array_get(json_object_get(r->json, "items"), (size_t)i), "tag"), order[i], "creation order");
  struct {
    const char *tag;
    long long devices, rules;
  } want[] = {{"a", 1, 0}, {"b", 2, 1}, {"c", 0, 1}};
  for (size_t i = 0; i < 3; i++) {
    json_t *t = find_tag(r->json, want[i].tag);
    cr_assert(t, "tag %s listed", want[i].tag);
    cr_assert_eq(jint(t, "deviceCount"), want[i].devices, "%s deviceCount", want[i].tag);
    cr_assert_eq(jint(t, "ruleCount"), want[i].rules, "%s ruleCount", want[i].tag);
    cr_assert_str_eq(jstr(t, "description"), "");
    cr_assert_eq(strlen(jstr(t, "createdAt")), 24);
  }
  http_resp_free(r);
  /* Another team sees none of them. */
  r = owner(&m, OTHER, "GET", "/v1/provisioning/tags", NULL);
  cr_assert_eq(jint(r->json, "total"), 0);
  http_resp_free(r);
}

Test(tags, create_is_201_then_409) {
  http_resp *r = owner(&m, KEY, "POST", "/v1/provisioning/tags", "{\"tag\":\"nrf-cloud-onboarding\",\"description\":\"Onboard\"}");
  cr_assert_eq(r->status, 201, "%s", r->body);
  cr_assert_str_eq(jstr(r->json, "tag"), "nrf-cloud-onboarding");
  cr_assert_str_eq(jstr(r->json, "description"), "Onboard");
  cr_assert_eq(jint(r->json, "deviceCount"), 0);
  cr_assert_eq(jint(r->json, "ruleCount"), 0);
  http_resp_free(r);
  expect_error_free(owner(&m, KEY, "POST", "/v1/provisioning/tags", "{\"tag\":\"nrf-cloud-onboarding\",\"description\":\"again\"}"), 409, 40902, "nrf-cloud-onboarding");
  r = tag_call(KEY, "GET", "nrf-cloud-onboarding");
  cr_assert_str_eq(jstr(r->json, "description"), "Onboard", "a refused create changes nothing");
  http_resp_free(r);
  /* A tag created by a claim exists too; another team has its own namespace. */
  char d[37];
  claim_new(&m, KEY, "[\"from-claim\"]", d);
  expect_error_free(owner(&m, KEY, "POST", "/v1/provisioning/tags", "{\"tag\":\"from-claim\"}"), 409, 40902, NULL);
  r = owner(&m, OTHER, "POST", "/v1/provisioning/tags", "{\"tag\":\"from-claim\"}");
  cr_assert_eq(r->status, 201, "%s", r->body);
  http_resp_free(r);
  /* Surrounding blanks are trimmed, as in claims. */
  r = owner(&m, KEY, "POST", "/v1/provisioning/tags", "{\"tag\":\" spaced \",\"description\":null}");
  cr_assert_eq(r->status, 201, "%s", r->body);
  cr_assert_str_eq(jstr(r->json, "tag"), "spaced");
  http_resp_free(r);
}

Test(tags, create_validation) {
  char long_tag[100];
  memset(long_tag, 'x', 65);
  long_tag[65] = 0;
  char long_body[200];
  snprintf(long_body, sizeof long_body, "{\"tag\":\"%s\"}", long_tag);
  struct {
    const char *body;
    long long code;
    const char *names;
  } cases[] = {
    {"nope", 40000, NULL},
    {"[\"t\"]", 40000, NULL},
    {"{}", 40001, "tag"},
    {"{\"tag\":\"\"}", 40001, "tag"},
    {"{\"tag\":null}", 40001, "tag"},
    {"{\"tag\":\"   \"}", 40001, "tag"},
    {"{\"tag\":5}", 40004, "tag"},
    {"{\"tag\":\"has space\"}", 40004, "tag"},
    {"{\"tag\":\"a,b\"}", 40004, "tag"},
    {"{\"tag\":\"t\",\"description\":5}", 40004, "description"},
    {"{\"description\":5}", 40001, "tag"},
    {long_body, 40004, "64"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    http_resp *r = owner(&m, KEY, "POST", "/v1/provisioning/tags", cases[i].body);
    cr_assert_eq(r->status, 400, "%s: %s", cases[i].body, r->body);
    cr_assert_eq(jint(r->json, "code"), cases[i].code, "%s: %s", cases[i].body, r->body);
    if (cases[i].names) cr_assert(strstr(jstr(r->json, "message"), cases[i].names), "%s: %s", cases[i].body, r->body);
    http_resp_free(r);
  }
  http_resp *r = owner(&m, KEY, "GET", "/v1/provisioning/tags", NULL);
  cr_assert_eq(jint(r->json, "total"), 0, "nothing stored");
  http_resp_free(r);
}

Test(tags, get_names_members_newest_claim_first_and_rules) {
  char d1[37], d2[37], d3[37], r1[37], r2[37];
  claim_new(&m, KEY, "[\"g\"]", d1);
  claim_new(&m, KEY, "[\"other\"]", d2);
  claim_new(&m, KEY, "[\"x,g\"]", d3);
  create_rule("r1", "[\"g\"]", r1);
  create_rule("r2", "[\"h\",\"g\"]", r2);
  http_resp *r = tag_call(KEY, "GET", "g");
  cr_assert_eq(r->status, 200, "%s", r->body);
  cr_assert_str_eq(jstr(r->json, "tag"), "g");
  cr_assert_eq(jint(r->json, "deviceCount"), 2);
  cr_assert_eq(jint(r->json, "ruleCount"), 2);
  json_t *ids = json_object_get(r->json, "deviceIds");
  cr_assert_eq(json_array_size(ids), 2);
  cr_assert_str_eq(json_string_value(json_array_get(ids, 0)), d3, "newest claim first");
  cr_assert_str_eq(json_string_value(json_array_get(ids, 1)), d1);
  json_t *rules = json_object_get(r->json, "ruleIds");
  cr_assert_eq(json_array_size(rules), 2);
  cr_assert_str_eq(json_string_value(json_array_get(rules, 0)), r1);
  cr_assert_str_eq(json_string_value(json_array_get(rules, 1)), r2);
  http_resp_free(r);
  expect_error_free(tag_call(KEY, "GET", "missing"), 404, 40400, "missing");
  expect_error_free(tag_call(OTHER, "GET", "g"), 404, 40400, NULL);
  expect_error_free(tag_call(OTHER, "DELETE", "g"), 404, 40400, NULL);
}

Test(tags, device_ids_stop_at_100) {
  char d[37];
  for (int i = 0; i < 101; i++) claim_new(&m, KEY, "[\"big\"]", d);
  http_resp *r = tag_call(KEY, "GET", "big");
  cr_assert_eq(jint(r->json, "deviceCount"), 101);
  cr_assert_eq(json_array_size(json_object_get(r->json, "deviceIds")), 100);
  cr_assert_str_eq(json_string_value(json_array_get(json_object_get(r->json, "deviceIds"), 0)), d, "newest first");
  http_resp_free(r);
}

Test(tags, delete_is_409_while_used_by_a_device_or_a_rule) {
  char d[37], rule[37], path[200];
  claim_new(&m, KEY, "[\"busy\"]", d);
  create_rule("uses-busy", "[\"busy\"]", rule);
  expect_error_free(tag_call(KEY, "DELETE", "busy"), 409, 40906, "busy");
  /* The device leaves the group: the rule still holds it. */
  snprintf(path, sizeof path, "/v1/claimed-devices/%s/tags", d);
  http_resp *r = owner(&m, KEY, "PUT", path, "{\"tags\":[]}");
  cr_assert_eq(r->status, 200, "%s", r->body);
  http_resp_free(r);
  expect_error_free(tag_call(KEY, "DELETE", "busy"), 409, 40906, NULL);
  snprintf(path, sizeof path, "/v1/provisioning-rules/%s", rule);
  http_resp_free(owner(&m, KEY, "DELETE", path, NULL));
  r = tag_call(KEY, "DELETE", "busy");
  cr_assert_eq(r->status, 204, "%s", r->body);
  http_resp_free(r);
  expect_error_free(tag_call(KEY, "GET", "busy"), 404, 40400, NULL);
  expect_error_free(tag_call(KEY, "DELETE", "busy"), 404, 40400, NULL);
  /* Unclaiming a device frees its tags as well. */
  claim_new(&m, KEY, "[\"once\"]", d);
  expect_error_free(tag_call(KEY, "DELETE", "once"), 409, 40906, NULL);
  snprintf(path, sizeof path, "/v1/claimed-devices/%s", d);
  http_resp_free(owner(&m, KEY, "DELETE", path, NULL));
  r = tag_call(KEY, "DELETE", "once");
  cr_assert_eq(r->status, 204, "%s", r->body);
  http_resp_free(r);
}

Test(tags, tags_with_slash_and_colon_are_addressable) {
  http_resp *r = owner(&m, KEY, "POST", "/v1/provisioning/tags", "{\"tag\":\"fleet/eu:1=x\"}");
  cr_assert_eq(r->status, 201, "%s", r->body);
  http_resp_free(r);
  r = tag_call(KEY, "GET", "fleet%2Feu%3A1%3Dx");
  cr_assert_eq(r->status, 200, "%s", r->body);
  cr_assert_str_eq(jstr(r->json, "tag"), "fleet/eu:1=x");
  http_resp_free(r);
  r = tag_call(KEY, "GET", "fleet/eu:1=x");
  cr_assert_eq(r->status, 200, "%s", r->body);
  http_resp_free(r);
  r = tag_call(KEY, "DELETE", "fleet%2Feu%3A1%3Dx");
  cr_assert_eq(r->status, 204, "%s", r->body);
  http_resp_free(r);
  expect_error_free(tag_call(KEY, "GET", "fleet/eu:1=x"), 404, 40400, NULL);
}

Test(tags, list_pages) {
  char body[64];
  for (int i = 0; i < 5; i++) {
    snprintf(body, sizeof body, "{\"tag\":\"t%d\"}", i);
    http_resp_free(owner(&m, KEY, "POST", "/v1/provisioning/tags", body));
  }
  char path[200] = "/v1/provisioning/tags?pageLimit=2";
  int seen = 0, pages = 0;
  for (;;) {
    http_resp *r = owner(&m, KEY, "GET", path, NULL);
    cr_assert_eq(r->status, 200, "%s", r->body);
    cr_assert_eq(jint(r->json, "total"), 5);
    size_t i;
    json_t *it;
    json_array_foreach(json_object_get(r->json, "items"), i, it) {
      char want[16];
      snprintf(want, sizeof want, "t%d", seen++);
      cr_assert_str_eq(jstr(it, "tag"), want);
    }
    pages++;
    const char *tok = jstr(r->json, "pageNextToken");
    if (!*tok) {
      http_resp_free(r);
      break;
    }
    snprintf(path, sizeof path, "/v1/provisioning/tags?pageLimit=2&pageNextToken=%s", tok);
    http_resp_free(r);
    cr_assert_lt(pages, 5);
  }
  cr_assert_eq(seen, 5);
  cr_assert_eq(pages, 3);
  expect_error_free(owner(&m, KEY, "GET", "/v1/provisioning/tags?pageLimit=101", NULL), 400, 40006, NULL);
  expect_error_free(owner(&m, KEY, "GET", "/v1/provisioning/tags?pageLimit=", NULL), 400, 40006, NULL);
  http_resp *r = owner(&m, KEY, "PATCH", "/v1/provisioning/tags/t0", "{}");
  cr_assert_eq(r->status, 405);
  http_resp_free(r);
}
