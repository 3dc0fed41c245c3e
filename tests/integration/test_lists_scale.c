/* List totals through the real binary on a file store (docs/performance.md): the counts
 * the store maintains in each transaction agree with the rows, page after page and for
 * every filter, after concurrent writes from several threads (claims, tags, blocks,
 * commands settled either way, an auto-onboarding rule, unclaims) and after a team's and
 * a whole reset. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static mock m;
static char data_dir[64];

static void start(void) {
  snprintf(data_dir, sizeof data_dir, "/tmp/nrfprov-lists.XXXXXX");
  cr_assert_not_null(mkdtemp(data_dir));
  mock_start(&m, "--data-dir", data_dir, NULL);
}
static void stop(void) {
  cr_assert_eq(mock_stop(&m), 0);
  remove_tree(data_dir);
}

TestSuite(lists_scale, .init = start, .fini = stop, .timeout = 240);

#define WORKERS 4
#define PER_WORKER 24
#define KEY_A "lists-team-a"
#define KEY_B "lists-team-b"

typedef struct {
  int index;
  char tokens[PER_WORKER][1100];
  char ids[PER_WORKER][37];
  int failures;
  char failure[256];
} worker;

static void fail(worker *w, const char *what, const http_resp *r) {
  if (!w->failures++)
    snprintf(w->failure, sizeof w->failure, "%s: %ld %.120s", what, r ? r->status : 0L, r && r->body ? r->body : "");
}

/* One connection's share of writes: each device claimed with some of the tags, then,
 * depending on its number, blocked, given a command that is settled as failed or as
 * succeeded, retagged, or unclaimed. */
static void *work(void *ud) {
  worker *w = ud;
  static const char *const tags[] = {"[\"a\"]", "[\"b\"]", "[\"a\",\"b\"]", "[]"};
  const char *key = w->index % 2 ? KEY_B : KEY_A;
  for (int i = 0; i < PER_WORKER; i++) {
    char body[1400], path[160];
    snprintf(body, sizeof body, "{\"claimToken\":\"%s\",\"tags\":%s}", w->tokens[i], tags[i % 4]);
    http_resp *r = owner(&m, key, "POST", "/v1/claimed-devices", body);
    if (r->status != 201) fail(w, "claim", r);
    http_resp_free(r);
    const char *id = w->ids[i];
    switch (i % 6) {
    case 1:
      snprintf(path, sizeof path, "/v1/claimed-devices/%s/block", id);
      r = owner(&m, key, "POST", path, NULL);
      if (r->status != 200) fail(w, "block", r);
      http_resp_free(r);
      break;
    case 2:
    case 3: {
      snprintf(path, sizeof path, "/v1/claimed-devices/%s/provisioning", id);
      r = owner(&m, key, "POST", path, "{\"request\":{\"finished\":{}}}");
      if (r->status != 201) {
        fail(w, "command", r);
        http_resp_free(r);
        break;
      }
      char cmd[37];
      snprintf(cmd, sizeof cmd, "%s", jstr(r->json, "id"));
      http_resp_free(r);
      snprintf(path, sizeof path, "/_mock/claimed-devices/%s/provisioning/%s/result", id, cmd);
      const char *const h[] = {"Content-Type: application/json", NULL};
      char auth[64];
      snprintf(auth, sizeof auth, "Authorization: Bearer %s", key);
      const char *const hs[] = {h[0], auth, NULL};
      const char *settle = i % 6 == 2 ? "{\"status\":\"FAILED\",\"cmeError\":514}" : "{\"status\":\"SUCCEEDED\"}";
      r = http_req(&m, "POST", path, hs, settle, strlen(settle));
      if (r->status != 200) fail(w, "settle", r);
      http_resp_free(r);
      break;
    }
    case 4:
      snprintf(path, sizeof path, "/v1/claimed-devices/%s/tags", id);
      r = owner(&m, key, "PUT", path, "{\"tags\":[\"b\"]}");
      if (r->status != 200) fail(w, "retag", r);
      http_resp_free(r);
      break;
    case 5:
      snprintf(path, sizeof path, "/v1/claimed-devices/%s", id);
      r = owner(&m, key, "DELETE", path, NULL);
      if (r->status != 204) fail(w, "unclaim", r);
      http_resp_free(r);
      break;
    }
  }
  return NULL;
}

/* Every device of a team, read page by page without filters. */
static json_t *all_devices(const char *key) {
  json_t *all = json_array();
  char path[600] = "/v1/claimed-devices?pageLimit=7";
  for (int page = 0; page < 200; page++) {
    http_resp *r = owner(&m, key, "GET", path, NULL);
    cr_assert_eq(r->status, 200, "%s", r->body);
    json_array_extend(all, json_object_get(r->json, "items"));
    const char *next = jstr(r->json, "pageNextToken");
    if (!*next) {
      http_resp_free(r);
      return all;
    }
    snprintf(path, sizeof path, "/v1/claimed-devices?pageLimit=7&pageNextToken=%s", next);
    http_resp_free(r);
  }
  cr_assert_fail("too many pages");
  return NULL;
}

static bool has_tag(json_t *d, const char *tag) {
  size_t i;
  json_t *t;
  json_array_foreach(json_object_get(d, "tags"), i, t) if (!strcmp(json_string_value(t), tag)) return true;
  return false;
}

/* A filter as a query and as a predicate over a device object. */
typedef struct {
  const char *query;
  bool (*match)(json_t *d);
} filter;

static bool any(json_t *d) { return (void)d, true; }
static bool pending(json_t *d) { return !strcmp(jstr(d, "status"), "PENDING"); }
static bool ready_or_error(json_t *d) { return !strcmp(jstr(d, "status"), "READY") || !strcmp(jstr(d, "status"), "ERROR"); }
static bool blocked(json_t *d) { return json_is_true(json_object_get(d, "blocked")); }
static bool tag_a(json_t *d) { return has_tag(d, "a"); }
static bool tag_a_or_b_unblocked(json_t *d) { return (has_tag(d, "a") || has_tag(d, "b")) && !blocked(d); }
static bool provisioned_type(json_t *d) {
  return !strcmp(jstr(d, "status"), "PROVISIONED") && !strcmp(jstr(d, "deviceType"), "nrf9160_SICA");
}

static const filter filters[] = {
  {"", any},
  {"&status=PENDING", pending},
  {"&status=READY,ERROR", ready_or_error},
  {"&blocked=true", blocked},
  {"&tags=a", tag_a},
  {"&tags=a,b&blocked=false", tag_a_or_b_unblocked},
  {"&status=PROVISIONED&deviceType=nrf9160_SICA", provisioned_type},
};

/* For each filter: the total of every page equals the rows the pages hold, and both equal
 * what the predicate finds in the unfiltered list. */
static void expect_totals(const char *key) {
  json_t *all = all_devices(key);
  for (size_t f = 0; f < sizeof filters / sizeof filters[0]; f++) {
    long long want = 0;
    size_t i;
    json_t *d;
    json_array_foreach(all, i, d) want += filters[f].match(d);
    char path[700];
    snprintf(path, sizeof path, "/v1/claimed-devices?pageLimit=5%s", filters[f].query);
    long long rows = 0;
    for (int page = 0; page < 200; page++) {
      http_resp *r = owner(&m, key, "GET", path, NULL);
      cr_assert_eq(r->status, 200, "%s: %s", path, r->body);
      cr_assert_eq(jint(r->json, "total"), want, "%s: total %lld, the rows say %lld", path, jint(r->json, "total"), want);
      rows += (long long)json_array_size(json_object_get(r->json, "items"));
      const char *next = jstr(r->json, "pageNextToken");
      if (!*next) {
        http_resp_free(r);
        break;
      }
      snprintf(path, sizeof path, "/v1/claimed-devices?pageLimit=5%s&pageNextToken=%s", filters[f].query, next);
      http_resp_free(r);
    }
    cr_assert_eq(rows, want, "filter %s: %lld rows, expected %lld", filters[f].query, rows, want);
  }
  json_decref(all);
}

Test(lists_scale, totals_hold_under_concurrent_writes_and_after_resets) {
  static worker w[WORKERS];
  for (int k = 0; k < WORKERS; k++) {
    w[k].index = k;
    for (int i = 0; i < PER_WORKER; i++) make_token(w[k].tokens[i], sizeof w[k].tokens[i], w[k].ids[i]);
  }
  /* An active rule on tag a for team A, so that status depends on rules too. */
  http_resp *r = owner(&m, KEY_A, "POST", "/v1/provisioning-rules",
                       "{\"name\":\"onboard-a\",\"active\":true,\"tags\":[\"a\"],"
                       "\"commands\":[{\"request\":{\"finished\":{}}}]}");
  cr_assert_eq(r->status, 201, "%s", r->body);
  http_resp_free(r);
  pthread_t t[WORKERS];
  for (int k = 0; k < WORKERS; k++) cr_assert_eq(pthread_create(&t[k], NULL, work, &w[k]), 0);
  for (int k = 0; k < WORKERS; k++) pthread_join(t[k], NULL);
  for (int k = 0; k < WORKERS; k++) cr_assert_eq(w[k].failures, 0, "worker %d: %s", k, w[k].failure);
  expect_totals(KEY_A);
  expect_totals(KEY_B);

  /* A team's reset leaves the other team as it was. */
  json_t *before = all_devices(KEY_A);
  r = http_req(&m, "POST", "/_mock/reset?team=" KEY_B, NULL, NULL, 0);
  cr_assert_eq(r->status, 204, "%s", r->body);
  http_resp_free(r);
  json_t *after = all_devices(KEY_A);
  cr_assert_eq(json_array_size(after), json_array_size(before));
  json_decref(before);
  json_decref(after);
  expect_totals(KEY_A);
  expect_totals(KEY_B);

  /* A whole reset: nothing left, and the counts start again from nothing. */
  r = http_req(&m, "POST", "/_mock/reset", NULL, NULL, 0);
  cr_assert_eq(r->status, 204, "%s", r->body);
  http_resp_free(r);
  r = owner(&m, KEY_A, "GET", "/v1/claimed-devices", NULL);
  cr_assert_eq(jint(r->json, "total"), 0);
  http_resp_free(r);
  char id[37];
  claim_new(&m, KEY_A, "[\"a\"]", id);
  expect_totals(KEY_A);
}

/* The reset of a store past the size where rows are deleted one by one (it lays an
 * empty schema instead): afterwards the store works and counts from nothing. */
Test(lists_scale, a_large_reset_leaves_a_working_empty_store) {
  static char csv[600 * 1200];
  size_t len = 0;
  for (int i = 0; i < 600; i++) {
    char tok[1100];
    make_token(tok, sizeof tok, NULL);
    len += (size_t)snprintf(csv + len, sizeof csv - len, "%s,a\n", tok);
  }
  const char *const h[] = {"Authorization: Bearer " KEY_A, "Content-Type: text/csv", NULL};
  http_resp *r = http_req(&m, "POST", "/v1/claimed-devices", h, csv, len);
  cr_assert_eq(r->status, 200, "%s", r->body);
  cr_assert_eq(json_array_size(json_object_get(r->json, "claimedIds")), 600);
  http_resp_free(r);
  expect_totals(KEY_A);
  r = http_req(&m, "POST", "/_mock/reset", NULL, NULL, 0);
  cr_assert_eq(r->status, 204, "%s", r->body);
  http_resp_free(r);
  r = owner(&m, KEY_A, "GET", "/v1/claimed-devices?tags=a", NULL);
  cr_assert_eq(r->status, 200);
  cr_assert_eq(jint(r->json, "total"), 0);
  http_resp_free(r);
  char id[37];
  claim_new(&m, KEY_A, "[\"a\"]", id);
  claim_new(&m, KEY_B, "[\"b\"]", id);
  expect_totals(KEY_A);
  expect_totals(KEY_B);
  r = owner(&m, KEY_A, "GET", "/v1/provisioning/tags", NULL);
  cr_assert_eq(jint(r->json, "total"), 1, "%s", r->body);
  http_resp_free(r);
}
