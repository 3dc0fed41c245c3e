/* A long bulk claim does not hold other teams up (docs/control-api.md §5, Storage): the
 * signature checks of a 1000-row bulk claim run outside the store lock, so another
 * team's request made meanwhile is answered within a bound, not after the whole claim.
 * Each of the 1000 devices has a registered identity key, and each token is signed by
 * some other key: 1000 ECDSA verifications, every row refused with 40003. The time
 * itself (bulk claim against bare requests) is measured in bench/bench_bulk_lock.c. */
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h"
#include "proto/attest.h"

static mock m;
static void stop(void) { cr_assert_eq(mock_stop(&m), 0); }

#define ROWS 1000
#define BOUND_MS 1000 /* far above a bare list request (a few ms), below 1000 ECDSA checks */

/* A P-256 public key no test signs with. */
#define PEM "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE/zdbf8Ag+81OCYJczWM8QFdYSeiv\n" \
            "9trmEohABSTuqy6qU7OyDNgdcChqPMYzNzbVpl8TdDn0iRdT1uJUmPVubA==\n-----END PUBLIC KEY-----\n"

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

typedef struct {
  const char *csv;
  long status;
  growbuf body;
  atomic_bool done;
} bulk_call;

/* POST the CSV as team A on its own connection (no Criterion asserts off the main thread). */
static void *post_bulk(void *arg) {
  bulk_call *b = arg;
  CURL *c = curl_easy_init();
  char url[128];
  snprintf(url, sizeof url, "%s/v1/claimed-devices", m.base);
  struct curl_slist *hl = curl_slist_append(NULL, "Authorization: Bearer bulk-team-a");
  hl = curl_slist_append(hl, "Content-Type: text/csv");
  hl = curl_slist_append(hl, "Expect:");
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, b->csv);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, growbuf_collect);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &b->body);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 120L);
  if (curl_easy_perform(c) == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &b->status);
  atomic_store(&b->done, true);
  curl_slist_free_all(hl);
  curl_easy_cleanup(c);
  return NULL;
}

TestSuite(bulk_lock, .fini = stop, .timeout = 180);

Test(bulk_lock, another_team_is_not_held_behind_a_bulk_claim_of_bad_signatures) {
  mock_start(&m, "--threads", "4", NULL);
  json_t *ids = json_array();
  size_t cap = ROWS * 400 + 64, len = 0;
  char *csv = malloc(cap);
  *csv = 0;
  for (int i = 0; i < ROWS; i++) {
    unsigned char id[16];
    char uuid[37], tok[1100];
    for (int k = 0; k < 16; k++) id[k] = (unsigned char)(rand() & 0xff);
    id[6] = (id[6] & 0x0f) | 0x40;
    id[8] = (id[8] & 0x3f) | 0x80;
    attest_uuid_format(id, uuid);
    make_token_for(id, 3, tok, sizeof tok);
    json_array_append_new(ids, json_pack("{s:s, s:s}", "deviceId", uuid, "publicKeyPem", PEM));
    len += (size_t)snprintf(csv + len, cap - len, "%s\n", tok);
  }
  json_t *doc = json_pack("{s:o}", "identities", ids);
  char *text = json_dumps(doc, JSON_COMPACT);
  json_decref(doc);
  const char *hdrs[] = {"Content-Type: application/json", NULL};
  http_resp *r = http_req(&m, "POST", "/_mock/fixtures", hdrs, text, strlen(text));
  cr_assert_eq(r->status, 201, "%s", r->body);
  http_resp_free(r);
  free(text);
  r = owner(&m, "bulk-team-b", "GET", "/v1/claimed-devices", NULL); /* team B exists before */
  cr_assert_eq(r->status, 200);
  http_resp_free(r);

  bulk_call b = {.csv = csv};
  pthread_t th;
  int64_t t0 = now_ms();
  cr_assert_eq(pthread_create(&th, NULL, post_bulk, &b), 0);
  int during = 0;
  int64_t slowest = 0;
  /* Team B lists its devices over and over while A's claim runs (bounded: 120 s). Only
   * requests sent once A's body is surely in (50 ms) and answered before A's are counted. */
  while (!atomic_load(&b.done) && now_ms() - t0 < 120000) {
    int64_t s = now_ms();
    r = owner(&m, "bulk-team-b", "GET", "/v1/claimed-devices", NULL);
    int64_t e = now_ms();
    cr_assert_eq(r->status, 200);
    http_resp_free(r);
    if (s >= t0 + 50 && !atomic_load(&b.done)) {
      during++;
      if (e - s > slowest) slowest = e - s;
    }
  }
  pthread_join(th, NULL);
  int64_t bulk_ms = now_ms() - t0;
  cr_assert_eq(b.status, 200, "the bulk claim is answered: %ld %s", b.status, b.body.data ? b.body.data : "");
  json_t *res = json_loads(b.body.data, 0, NULL);
  cr_assert_eq(json_array_size(json_object_get(res, "failed")), ROWS, "every row is refused");
  cr_assert_eq(jint(json_array_get(json_object_get(res, "failed"), 0), "code"), 40003);
  cr_assert_eq(json_array_size(json_object_get(res, "claimedIds")), 0);
  json_decref(res);
  free(b.body.data);
  free(csv);
  cr_assert_geq(during, 2, "team B was answered again and again while the bulk claim ran (%d times in %lld ms)", during,
                (long long)bulk_ms);
  cr_assert_lt(slowest, BOUND_MS, "team B waited %lld ms at most, bound %d ms (bulk claim: %lld ms)", (long long)slowest,
               BOUND_MS, (long long)bulk_ms);
}
