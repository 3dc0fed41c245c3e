/* Paging of every owner list through the real binary (docs/owner-api.md §1, lists): whatever
 * the page size, walking the pages with pageNextToken yields every item exactly once,
 * every page but the last carries a token, and the last page carries none, also when
 * it is full (pageLimit equal to what is left). Claimed devices, a device's commands,
 * rules and tags are covered here; the device-management list is covered the same way
 * in test_onboarding.c, where devices get onboarded. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define KEY "pages-team"
#define N 4

static mock m;
static void start(void) { mock_start(&m, NULL); }
static void stop(void) { cr_assert_eq(mock_stop(&m), 0); }

TestSuite(pages, .init = start, .fini = stop, .timeout = 60);

/* Walk base (a list path, maybe with a query) with pageLimit=limit; every item's key
 * field goes into seen (at most N). Returns the number of pages. */
static int walk(const char *base, int limit, const char *key, char seen[N][40], int *n_seen) {
  char path[400];
  const char *sep = strchr(base, '?') ? "&" : "?";
  snprintf(path, sizeof path, "%s%spageLimit=%d", base, sep, limit);
  int pages = 0;
  *n_seen = 0;
  for (;;) {
    http_resp *r = owner(&m, KEY, "GET", path, NULL);
    cr_assert_eq(r->status, 200, "%s: %s", path, r->body);
    cr_assert_eq(jint(r->json, "total"), N, "%s: total", path);
    json_t *items = json_object_get(r->json, "items");
    cr_assert_leq(json_array_size(items), (size_t)limit);
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it) {
      cr_assert_lt(*n_seen, N, "%s: more items than total", path);
      snprintf(seen[(*n_seen)++], 40, "%s", jstr(it, key));
    }
    pages++;
    json_t *tok = json_object_get(r->json, "pageNextToken");
    bool last = *n_seen == N;
    if (last) {
      cr_assert_null(tok, "%s: the last page (%zu items, pageLimit %d) carries no pageNextToken: %s", path,
                     json_array_size(items), limit, r->body);
      http_resp_free(r);
      return pages;
    }
    cr_assert(json_is_string(tok), "%s: a page with more after it carries pageNextToken: %s", path, r->body);
    cr_assert_eq(json_array_size(items), (size_t)limit, "%s: only the last page may be short", path);
    snprintf(path, sizeof path, "%s%spageLimit=%d&pageNextToken=%s", base, sep, limit, json_string_value(tok));
    http_resp_free(r);
    cr_assert_lt(pages, N + 1, "%s: the walk does not end", base);
  }
}

/* Every page size from 1 to N + 1: the pages a walk takes and that no item repeats. */
static void check_list(const char *base, const char *key) {
  for (int limit = 1; limit <= N + 1; limit++) {
    char seen[N][40];
    int n = 0;
    int pages = walk(base, limit, key, seen, &n);
    cr_assert_eq(pages, (N + limit - 1) / limit, "%s: pageLimit %d takes %d pages", base, limit, pages);
    cr_assert_eq(n, N);
    for (int i = 0; i < N; i++)
      for (int j = i + 1; j < N; j++) cr_assert_str_neq(seen[i], seen[j], "%s: item %s twice", base, seen[i]);
  }
}

Test(pages, claimed_devices) {
  char uuid[37];
  for (int i = 0; i < N; i++) claim_new(&m, KEY, NULL, uuid);
  check_list("/v1/claimed-devices", "id");
  /* With a filter too: the filtered walk ends the same way. */
  check_list("/v1/claimed-devices?status=READY", "id");
}

Test(pages, commands_of_a_device) {
  char uuid[37], path[128];
  claim_new(&m, KEY, NULL, uuid);
  snprintf(path, sizeof path, "/v1/claimed-devices/%s/provisioning", uuid);
  for (int i = 0; i < N; i++) {
    http_resp *r = owner(&m, KEY, "POST", path, "{\"request\":{\"clientPrivateKeyGeneration\":{\"secTag\":42}}}");
    cr_assert_eq(r->status, 201, "%s", r->body);
    http_resp_free(r);
  }
  check_list(path, "id");
}

Test(pages, rules) {
  char body[256];
  for (int i = 0; i < N; i++) {
    snprintf(body, sizeof body, "{\"name\":\"rule-%d\",\"tags\":[\"t\"],\"commands\":[{\"request\":{\"finished\":{}}}]}", i);
    http_resp *r = owner(&m, KEY, "POST", "/v1/provisioning-rules", body);
    cr_assert_eq(r->status, 201, "%s", r->body);
    http_resp_free(r);
  }
  check_list("/v1/provisioning-rules", "id");
}

Test(pages, tags) {
  char body[64];
  for (int i = 0; i < N; i++) {
    snprintf(body, sizeof body, "{\"tag\":\"tag-%d\"}", i);
    http_resp *r = owner(&m, KEY, "POST", "/v1/provisioning/tags", body);
    cr_assert_eq(r->status, 201, "%s", r->body);
    http_resp_free(r);
  }
  check_list("/v1/provisioning/tags", "tag");
}
