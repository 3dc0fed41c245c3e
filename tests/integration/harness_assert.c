/* Assertions several suites share: an error answer, a fault rule added, fault rules
 * fired. Declared in harness.h. Not a place for a suite's own helpers: those stay in
 * its test file. */
#include "harness.h"

#include <criterion/criterion.h>
#include <string.h>
#include <unistd.h>

void expect_error(http_resp *r, long status, long long code, const char *names) {
  cr_assert_eq(r->status, status, "status %ld != %ld: %s", r->status, status, r->body);
  cr_assert_eq(jint(r->json, "code"), code, "code: %s", r->body);
  if (names) cr_assert(strstr(jstr(r->json, "message"), names), "message names %s: %s", names, r->body);
  else cr_assert(strlen(jstr(r->json, "message")) > 5, "the message names the defect: %s", r->body);
}

void expect_error_free(http_resp *r, long status, long long code, const char *names) {
  expect_error(r, status, code, names);
  http_resp_free(r);
}

void add_fault(mock *m, const char *json, char id[37]) {
  const char *hdrs[] = {"Content-Type: application/json", NULL};
  http_resp *r = http_req(m, "POST", "/_mock/faults", hdrs, json, strlen(json));
  cr_assert_eq(r->status, 201, "%s -> %s", json, r->body);
  snprintf(id, 37, "%s", jstr(r->json, "id"));
  cr_assert_eq(strlen(id), 36, "%s", r->body);
  http_resp_free(r);
}

void wait_fired(mock *m, long long fired) {
  for (int i = 0; i < 5000; i++) {
    http_resp *r = http_req(m, "GET", "/_mock/faults", NULL, NULL, 0);
    long long n = 0;
    size_t k;
    json_t *it;
    json_array_foreach(json_object_get(r->json, "items"), k, it) n += jint(it, "fired");
    http_resp_free(r);
    if (n >= fired) return;
    usleep(2000); /* polling with a bound, not a timing sleep */
  }
  cr_assert_fail("the fault rules never fired %lld times", fired);
}
