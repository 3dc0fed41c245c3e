/* Claimed devices through the real binary (docs/owner-api.md §1–2): claim fields, token
 * defects, conflicts, dry run, bulk CSV, lists and filters, team isolation, unclaim,
 * block, tags, reset. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "proto/b64url.h"

static mock m;
static void start(void) { mock_start(&m, NULL); }
static void stop(void) { mock_stop(&m); }

TestSuite(claims, .init = start, .fini = stop, .timeout = 60);

#define KEY "team-a-key"
#define OTHER "team-b-key"

static json_t *public_tokens(void) {
  char path[512];
  snprintf(path, sizeof path, "%s/tokens/public-tokens.json", fixtures_dir());
  json_t *j = json_load_file(path, 0, NULL);
  cr_assert(j, "fixture %s", path);
  return j;
}

static http_resp *claim_token(const char *key, const char *token, const char *query) {
  char body[4096], path[128];
  snprintf(body, sizeof body, "{\"claimToken\":\"%.4000s\"}", token);
  snprintf(path, sizeof path, "/v1/claimed-devices%s", query ? query : "");
  return owner(&m, key, "POST", path, body);
}

static long long device_count(const char *key) {
  http_resp *r = owner(&m, key, "GET", "/v1/claimed-devices", NULL);
  cr_assert_eq(r->status, 200);
  long long n = jint(r->json, "total");
  http_resp_free(r);
  return n;
}

Test(claims, public_tokens_claim_with_their_decoded_fields) {
  json_t *j = public_tokens();
  size_t i;
  json_t *t;
  json_array_foreach(json_object_get(j, "tokens"), i, t) {
    http_resp *r = claim_token(KEY, jstr(t, "token"), NULL);
    cr_assert_eq(r->status, 201, "%s", r->body);
    cr_assert_str_eq(jstr(r->json, "id"), jstr(t, "deviceId"));
    cr_assert_str_eq(jstr(r->json, "deviceType"), jstr(t, "deviceType"));
    cr_assert_str_eq(jstr(r->json, "firmwareId"), jstr(t, "firmwareId"));
    cr_assert_str_eq(jstr(r->json, "ownershipStatus"), "IDENTIFIED");
    cr_assert_str_eq(jstr(r->json, "status"), "READY");
    cr_assert(json_is_false(json_object_get(r->json, "blocked")));
    cr_assert_eq(json_array_size(json_object_get(r->json, "tags")), 0);
    cr_assert_null(json_object_get(r->json, "imei"), "imei omitted when unknown");
    cr_assert_eq(strlen(jstr(r->json, "ownerId")), 36);
    cr_assert_eq(strlen(jstr(r->json, "claimedAt")), 24, "ISO 8601 with ms: %s", jstr(r->json, "claimedAt"));
    cr_assert_eq(jstr(r->json, "claimedAt")[23], 'Z');
    http_resp_free(r);
  }
  json_decref(j);
}

Test(claims, owner_id_is_deterministic_per_key) {
  char a[37], b[37];
  claim_new(&m, KEY, NULL, a);
  claim_new(&m, KEY, NULL, b);
  char pa[128], pb[128];
  snprintf(pa, sizeof pa, "/v1/claimed-devices/%s", a);
  snprintf(pb, sizeof pb, "/v1/claimed-devices/%s", b);
  http_resp *ra = owner(&m, KEY, "GET", pa, NULL), *rb = owner(&m, KEY, "GET", pb, NULL);
  cr_assert_str_eq(jstr(ra->json, "ownerId"), jstr(rb->json, "ownerId"));
  /* First 16 bytes of SHA-256("team-a-key") as a UUID. */
  cr_assert_str_eq(jstr(ra->json, "ownerId"), "554a0d05-0337-91f4-6fed-e07b724fa246");
  http_resp_free(ra);
  http_resp_free(rb);
}

Test(claims, tags_are_split_trimmed_and_deduplicated) {
  char tok[1100];
  make_token(tok, sizeof tok, NULL);
  char body[1400];
  snprintf(body, sizeof body, "{\"claimToken\":\"%s\",\"tags\":[\"a,b\", \" c \", \"a\", \",,\"]}", tok);
  http_resp *r = owner(&m, KEY, "POST", "/v1/claimed-devices", body);
  cr_assert_eq(r->status, 201, "%s", r->body);
  char *tags = json_dumps(json_object_get(r->json, "tags"), JSON_COMPACT);
  cr_assert_str_eq(tags, "[\"a\",\"b\",\"c\"]");
  free(tags);
  http_resp_free(r);
}

Test(claims, bad_tags_are_40004) {
  char tok[1100], body[1400];
  make_token(tok, sizeof tok, NULL);
  const char *bad[] = {"[\"has space\"]", "[1]", "\"a\"", "[\"" "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" "\"]", "[\"ü\"]", NULL};
  for (int i = 0; bad[i]; i++) {
    snprintf(body, sizeof body, "{\"claimToken\":\"%s\",\"tags\":%s}", tok, bad[i]);
    http_resp *r = owner(&m, KEY, "POST", "/v1/claimed-devices", body);
    expect_error(r, 400, 40004, NULL);
    cr_assert(strstr(jstr(r->json, "message"), "tags"), "%s", r->body);
    http_resp_free(r);
  }
  cr_assert_eq(device_count(KEY), 0);
}

Test(claims, body_errors_follow_the_precedence) {
  http_resp *r = owner(&m, KEY, "POST", "/v1/claimed-devices", "{\"claimToken\": ");
  expect_error(r, 400, 40000, NULL);
  http_resp_free(r);
  r = owner(&m, KEY, "POST", "/v1/claimed-devices", "[1]");
  expect_error(r, 400, 40000, NULL);
  http_resp_free(r);
  r = owner(&m, KEY, "POST", "/v1/claimed-devices", "{}");
  expect_error(r, 400, 40001, NULL);
  cr_assert(strstr(jstr(r->json, "message"), "claimToken"));
  http_resp_free(r);
  r = owner(&m, KEY, "POST", "/v1/claimed-devices", "{\"claimToken\": \"\", \"tags\": 5}");
  expect_error(r, 400, 40001, NULL);
  http_resp_free(r);
  r = owner(&m, KEY, "POST", "/v1/claimed-devices", "{\"claimToken\": null}");
  expect_error(r, 400, 40001, NULL);
  http_resp_free(r);
  r = owner(&m, KEY, "POST", "/v1/claimed-devices", "{\"claimToken\": 42}");
  expect_error(r, 400, 40004, NULL);
  http_resp_free(r);
}

Test(claims, auth_is_required) {
  const char *none[] = {NULL};
  http_resp *r = http_req(&m, "GET", "/v1/claimed-devices", none, NULL, 0);
  expect_error(r, 401, 40100, NULL);
  http_resp_free(r);
  const char *basic[] = {"Authorization: Basic abc", NULL};
  r = http_req(&m, "GET", "/v1/claimed-devices", basic, NULL, 0);
  expect_error(r, 401, 40100, NULL);
  http_resp_free(r);
  const char *empty[] = {"Authorization: Bearer ", NULL};
  r = http_req(&m, "GET", "/v1/claimed-devices", empty, NULL, 0);
  expect_error(r, 401, 40100, NULL);
  http_resp_free(r);
}

/* ---- malformed tokens ---- */

static void b64(const unsigned char *b, size_t n, char *out, size_t outsz) { cr_assert(b64url_encode(b, n, out, outsz) >= 0); }

/* The first public token's two parts, raw. */
static void public_parts(unsigned char *p1, size_t *n1, unsigned char *p2, size_t *n2) {
  json_t *j = public_tokens();
  const char *tok = jstr(json_array_get(json_object_get(j, "tokens"), 0), "token");
  const char *dot = strchr(tok, '.');
  cr_assert(b64url_decode(tok, (size_t)(dot - tok), p1, 256, n1) == 0);
  cr_assert(b64url_decode(dot + 1, strlen(dot + 1), p2, 256, n2) == 0);
  json_decref(j);
}

static void join(const unsigned char *p1, size_t n1, const unsigned char *p2, size_t n2, char *out, size_t outsz) {
  char a[600], b[600];
  b64(p1, n1, a, sizeof a);
  b64(p2, n2, b, sizeof b);
  snprintf(out, outsz, "%s.%s", a, b);
}

Test(claims, malformed_tokens_each_have_their_own_message) {
  unsigned char p1[256], p2[256], q[300];
  size_t n1, n2;
  public_parts(p1, &n1, p2, &n2);
  /* Layout: p1 = d9d9f7 85 01 50<16> 03 50<16> 50<16>; p2 = d2 84 43a10126 a1044121 f6 5840<64>. */
  cr_assert_eq(p1[0], 0xd9);
  cr_assert_eq(p2[0], 0xd2);
  char toks[32][1400];
  int n = 0;
  char good2[600];
  b64(p2, n2, good2, sizeof good2);
#define MUT1(stmt)                                             \
  do {                                                         \
    memcpy(q, p1, n1);                                         \
    size_t qn = n1;                                            \
    stmt;                                                      \
    join(q, qn, p2, n2, toks[n++], sizeof toks[0]);            \
  } while (0)
#define MUT2(stmt)                                             \
  do {                                                         \
    memcpy(q, p2, n2);                                         \
    size_t qn = n2;                                            \
    stmt;                                                      \
    join(p1, n1, q, qn, toks[n++], sizeof toks[0]);            \
  } while (0)
  snprintf(toks[n++], sizeof toks[0], "notatoken");                          /* no dot */
  snprintf(toks[n++], sizeof toks[0], "a.b.c");                              /* two dots */
  snprintf(toks[n++], sizeof toks[0], "2dn3+QFQ.%s", good2);                 /* part 1 alphabet */
  MUT1(q[2] = 0xf6);                                                         /* wrong self-describe tag */
  MUT1(memmove(q, q + 3, qn - 3); qn -= 3);                                  /* no tag */
  MUT1(q[3] = 0x84; qn -= 17);                                               /* array of 4 */
  MUT1(q[4] = 0x02);                                                         /* message type 2 */
  MUT1(q[5] = 0x4f; memmove(q + 21, q + 22, qn - 22); qn--);                 /* UUID 15 bytes */
  MUT1(q[5] = 0x70);                                                         /* UUID as text */
  MUT1(q[22] = 0x23);                                                        /* device type negative */
  MUT1(q[23] = 0x51; memmove(q + 41, q + 40, qn - 40); qn++);                /* firmware UUID 17 bytes */
  MUT1(q[40] = 0x4f; qn--);                                                  /* nonce 15 bytes */
  MUT1(q[qn++] = 0x00);                                                      /* trailing bytes in part 1 */
  MUT1(q[0] = 0xff; q[1] = 0xff);                                            /* not CBOR */
  MUT2(q[0] = 0xd1);                                                         /* COSE tag 17 */
  MUT2(q[1] = 0x83; qn -= 66);                                                         /* COSE array of 3 */
  MUT2(q[5] = 0x27);                                                         /* alg -8 */
  MUT2(q[10] = 0x40);                                                        /* payload not nil */
  MUT2(q[12] = 0x3f; qn--);                                                  /* 63-byte signature */
  MUT2(q[qn++] = 0x00);                                                      /* trailing bytes in part 2 */
  {
    char a[600];
    b64(p1, n1, a, sizeof a);
    snprintf(toks[n++], sizeof toks[0], "%s.%s!", a, good2);                 /* part 2 alphabet */
    snprintf(toks[n++], sizeof toks[0], "%s.", a);                           /* empty part 2 */
    memset(toks[n], 'A', 1100);                                              /* too long */
    toks[n][600] = '.';
    toks[n++][1100] = 0;
  }
  cr_assert_geq(n, 15);
  char messages[32][320];
  for (int i = 0; i < n; i++) {
    http_resp *r = claim_token(KEY, toks[i], NULL);
    expect_error(r, 400, 40002, NULL);
    snprintf(messages[i], sizeof messages[i], "%s", jstr(r->json, "message"));
    cr_assert(strstr(messages[i], "claimToken"), "message names the field: %s", messages[i]);
    for (int k = 0; k < i; k++) cr_assert_str_neq(messages[k], messages[i], "case %d and %d share a message: %s", k, i, messages[i]);
    http_resp_free(r);
  }
  cr_assert_eq(device_count(KEY), 0, "nothing stored");
}

/* ---- conflicts, dry run ---- */

Test(claims, conflicts_same_team_and_other_team) {
  char tok[1100], id[37];
  make_token(tok, sizeof tok, id);
  http_resp *r = claim_token(KEY, tok, NULL);
  cr_assert_eq(r->status, 201);
  http_resp_free(r);
  r = claim_token(KEY, tok, NULL);
  expect_error(r, 409, 40900, NULL);
  http_resp_free(r);
  r = claim_token(OTHER, tok, NULL);
  expect_error(r, 409, 40901, NULL);
  http_resp_free(r);
  r = claim_token(OTHER, tok, "?dryrun=true");
  expect_error(r, 409, 40901, NULL);
  http_resp_free(r);
}

Test(claims, dry_run_checks_and_stores_nothing) {
  char tok[1100];
  make_token(tok, sizeof tok, NULL);
  http_resp *r = claim_token(KEY, tok, "?dryrun=true");
  cr_assert_eq(r->status, 202, "%s", r->body);
  cr_assert_str_eq(jstr(r->json, "message"), "Device can be claimed");
  http_resp_free(r);
  cr_assert_eq(device_count(KEY), 0);
  r = claim_token(KEY, "bad", "?dryrun=true");
  expect_error(r, 400, 40002, NULL);
  http_resp_free(r);
  r = claim_token(KEY, tok, "?dryrun=maybe");
  expect_error(r, 400, 40006, NULL);
  http_resp_free(r);
  r = claim_token(KEY, tok, "?dryrun=false");
  cr_assert_eq(r->status, 201);
  http_resp_free(r);
}

Test(claims, identities_alias_claims) {
  char tok[1100], body[1300];
  make_token(tok, sizeof tok, NULL);
  snprintf(body, sizeof body, "{\"claimToken\":\"%s\"}", tok);
  http_resp *r = owner(&m, KEY, "POST", "/v1/identities/claimed-devices", body);
  cr_assert_eq(r->status, 201);
  http_resp_free(r);
  cr_assert_eq(device_count(KEY), 1);
}

/* ---- bulk ---- */

static http_resp *post_csv(const char *key, const char *path, const char *csv, const char *content_type) {
  char auth[128], ct[128];
  snprintf(auth, sizeof auth, "Authorization: Bearer %s", key);
  /* An empty "Content-Type:" makes libcurl send no Content-Type at all. */
  snprintf(ct, sizeof ct, "Content-Type:%s%s", content_type ? " " : "", content_type ? content_type : "");
  const char *h[] = {auth, ct, NULL};
  return http_req(&m, "POST", path, h, csv, strlen(csv));
}

static char *csv_of(int rows, const char *tags) {
  char *csv = malloc((size_t)rows * 1200 + 1), tok[1100];
  size_t n = 0;
  for (int i = 0; i < rows; i++) {
    make_token(tok, sizeof tok, NULL);
    n += (size_t)sprintf(csv + n, tags ? "%s,\"%s\"\r\n" : "%s\n", tok, tags);
  }
  csv[n] = 0;
  return csv;
}

Test(claims, bulk_csv_with_and_without_content_type) {
  char *csv = csv_of(3, "x,y");
  http_resp *r = post_csv(KEY, "/v1/claimed-devices", csv, "text/csv");
  cr_assert_eq(r->status, 200, "%s", r->body);
  cr_assert_eq(json_array_size(json_object_get(r->json, "claimedIds")), 3);
  cr_assert_eq(json_array_size(json_object_get(r->json, "failed")), 0);
  http_resp_free(r);
  free(csv);
  csv = csv_of(2, NULL);
  r = post_csv(KEY, "/v1/claimed-devices", csv, NULL);
  cr_assert_eq(r->status, 200, "%s", r->body);
  cr_assert_eq(json_array_size(json_object_get(r->json, "claimedIds")), 2);
  http_resp_free(r);
  free(csv);
  cr_assert_eq(device_count(KEY), 5);
  r = owner(&m, KEY, "GET", "/v1/claimed-devices?tags=y", NULL);
  cr_assert_eq(jint(r->json, "total"), 3);
  http_resp_free(r);
}

Test(claims, bulk_reports_failed_rows_by_number) {
  char t1[1100], t2[1100], csv[5000];
  make_token(t1, sizeof t1, NULL);
  make_token(t2, sizeof t2, NULL);
  snprintf(csv, sizeof csv, "%s\n\nnot-a-token\n%s,\"bad tag!\"\n%s\n%s\n", t1, t2, t2, t1);
  http_resp *r = post_csv(KEY, "/v1/claimed-devices", csv, "text/csv");
  cr_assert_eq(r->status, 200, "%s", r->body);
  json_t *ids = json_object_get(r->json, "claimedIds"), *failed = json_object_get(r->json, "failed");
  cr_assert_eq(json_array_size(ids), 2, "%s", r->body);
  cr_assert_eq(json_array_size(failed), 3, "%s", r->body);
  cr_assert_eq(jint(json_array_get(failed, 0), "row"), 2, "blank lines are not counted");
  cr_assert_eq(jint(json_array_get(failed, 0), "code"), 40002);
  cr_assert_str_eq(jstr(json_array_get(failed, 0), "claimToken"), "not-a-token");
  cr_assert_eq(jint(json_array_get(failed, 1), "row"), 3);
  cr_assert_eq(jint(json_array_get(failed, 1), "code"), 40004);
  cr_assert_eq(jint(json_array_get(failed, 2), "row"), 5);
  cr_assert_eq(jint(json_array_get(failed, 2), "code"), 40900, "repeated token fails from its second row");
  http_resp_free(r);
}

/* docs/owner-api.md §2.4: a CSV dry run checks every row like a real run, answers 202 with the
 * same shape, and claims nothing; a bad dryrun value is 400/40006 on the CSV branch too. */
Test(claims, bulk_csv_dry_run_claims_nothing) {
  char t1[1100], t2[1100], taken[1100], taken_id[37], csv[6000];
  make_token(t1, sizeof t1, NULL);
  make_token(t2, sizeof t2, NULL);
  make_token(taken, sizeof taken, taken_id);
  http_resp *r = claim_token(OTHER, taken, NULL);
  cr_assert_eq(r->status, 201, "%s", r->body);
  http_resp_free(r);
  long long before = device_count(KEY);
  snprintf(csv, sizeof csv, "%s,\"x\"\nnot-a-token\n%s\n%s\n%s\n", t1, taken, t2, t1);
  const char *types[] = {"text/csv", NULL};
  for (int k = 0; k < 2; k++) {
    r = post_csv(KEY, "/v1/claimed-devices?dryrun=true", csv, types[k]);
    cr_assert_eq(r->status, 202, "%s", r->body);
    json_t *ids = json_object_get(r->json, "claimedIds"), *failed = json_object_get(r->json, "failed");
    cr_assert_eq(json_array_size(ids), 2, "the rows that would be claimed: %s", r->body);
    cr_assert_eq(json_array_size(failed), 3, "%s", r->body);
    cr_assert_eq(jint(json_array_get(failed, 0), "row"), 2);
    cr_assert_eq(jint(json_array_get(failed, 0), "code"), 40002);
    cr_assert_eq(jint(json_array_get(failed, 1), "row"), 3);
    cr_assert_eq(jint(json_array_get(failed, 1), "code"), 40901, "claimed by another team");
    cr_assert_eq(jint(json_array_get(failed, 2), "row"), 5);
    cr_assert_eq(jint(json_array_get(failed, 2), "code"), 40900, "a repeated token fails from its second row");
    http_resp_free(r);
    cr_assert_eq(device_count(KEY), before, "a dry run leaves total unchanged");
  }
  r = owner(&m, KEY, "GET", "/v1/provisioning/tags", NULL);
  cr_assert_eq(jint(r->json, "total"), 0, "a dry run creates no tag: %s", r->body);
  http_resp_free(r);

  const char *bad[] = {"dryrun=yes", "dryrun=", "dryrun=TRUE", NULL};
  for (int i = 0; bad[i]; i++) {
    char path[96];
    snprintf(path, sizeof path, "/v1/claimed-devices?%s", bad[i]);
    r = post_csv(KEY, path, csv, "text/csv");
    expect_error(r, 400, 40006, NULL);
    cr_assert(strstr(jstr(r->json, "message"), "dryrun"), "%s", r->body);
    http_resp_free(r);
    cr_assert_eq(device_count(KEY), before, "a refused dry run claims nothing");
  }
  /* dryrun=false is a real run. */
  r = post_csv(KEY, "/v1/claimed-devices?dryrun=false", csv, "text/csv");
  cr_assert_eq(r->status, 200, "%s", r->body);
  cr_assert_eq(json_array_size(json_object_get(r->json, "claimedIds")), 2);
  http_resp_free(r);
  cr_assert_eq(device_count(KEY), before + 2);
}

Test(claims, bulk_1000_rows_ok_1001_rows_413_and_nothing_stored) {
  char *csv = csv_of(1001, NULL);
  http_resp *r = post_csv(KEY, "/v1/claimed-devices", csv, "text/csv");
  expect_error(r, 413, 41300, NULL);
  http_resp_free(r);
  cr_assert_eq(device_count(KEY), 0);
  /* Drop the last row: exactly 1000. */
  char *last = csv + strlen(csv) - 2;
  while (*last != '\n') last--;
  last[1] = 0;
  r = post_csv(KEY, "/v1/claimed-devices", csv, "text/csv");
  cr_assert_eq(r->status, 200);
  cr_assert_eq(json_array_size(json_object_get(r->json, "claimedIds")), 1000);
  http_resp_free(r);
  free(csv);
  cr_assert_eq(device_count(KEY), 1000);
}

Test(claims, bulk_unparseable_csv_is_400_and_nothing_stored) {
  char tok[1100], csv[3000];
  make_token(tok, sizeof tok, NULL);
  snprintf(csv, sizeof csv, "%s\n\"unterminated,quote\n", tok);
  http_resp *r = post_csv(KEY, "/v1/claimed-devices", csv, "text/csv");
  expect_error(r, 400, 40000, NULL);
  http_resp_free(r);
  cr_assert_eq(device_count(KEY), 0);
}

Test(claims, bulk_older_form_records_an_operation) {
  char *csv = csv_of(2, NULL);
  http_resp *r = post_csv(KEY, "/v1/claimed-devices/bulk", csv, NULL);
  cr_assert_eq(r->status, 202, "%s", r->body);
  char path[200];
  snprintf(path, sizeof path, "/v1/bulk-ops-requests/%s", jstr(r->json, "bulkOpsRequestId"));
  http_resp_free(r);
  free(csv);
  r = owner(&m, KEY, "GET", path, NULL);
  cr_assert_eq(r->status, 200);
  cr_assert_str_eq(jstr(r->json, "status"), "SUCCEEDED");
  cr_assert_str_eq(jstr(r->json, "endpoint"), "CLAIM_DEVICES");
  cr_assert_eq(json_array_size(json_object_get(r->json, "claimedIds")), 2);
  cr_assert(json_is_array(json_object_get(r->json, "failed")));
  cr_assert(*jstr(r->json, "requestedAt") && *jstr(r->json, "completedAt"));
  http_resp_free(r);
  r = owner(&m, OTHER, "GET", path, NULL);
  expect_error(r, 404, 40400, NULL);
  http_resp_free(r);
}

/* ---- lists ---- */

Test(claims, pagination_visits_each_device_once, .timeout = 120) {
  char *csv = csv_of(250, NULL);
  http_resp *r = post_csv(KEY, "/v1/claimed-devices", csv, "text/csv");
  cr_assert_eq(r->status, 200);
  http_resp_free(r);
  free(csv);
  json_t *seen = json_object();
  char path[300] = "/v1/claimed-devices?pageLimit=100";
  int pages = 0;
  for (;;) {
    r = owner(&m, KEY, "GET", path, NULL);
    cr_assert_eq(r->status, 200, "%s", r->body);
    cr_assert_eq(jint(r->json, "total"), 250);
    size_t i;
    json_t *d;
    json_array_foreach(json_object_get(r->json, "items"), i, d) {
      cr_assert_null(json_object_get(seen, jstr(d, "id")), "seen twice");
      json_object_set_new(seen, jstr(d, "id"), json_true());
    }
    pages++;
    const char *next = jstr(r->json, "pageNextToken");
    if (!*next) {
      http_resp_free(r);
      break;
    }
    snprintf(path, sizeof path, "/v1/claimed-devices?pageLimit=100&pageNextToken=%s", next);
    http_resp_free(r);
    cr_assert_lt(pages, 10);
  }
  cr_assert_eq(pages, 3);
  cr_assert_eq(json_object_size(seen), 250);
  json_decref(seen);
}

Test(claims, newest_claim_first) {
  char a[37], b[37];
  claim_new(&m, KEY, NULL, a);
  claim_new(&m, KEY, NULL, b);
  http_resp *r = owner(&m, KEY, "GET", "/v1/claimed-devices", NULL);
  cr_assert_str_eq(jstr(json_array_get(json_object_get(r->json, "items"), 0), "id"), b);
  cr_assert_str_eq(jstr(json_array_get(json_object_get(r->json, "items"), 1), "id"), a);
  cr_assert_null(json_object_get(r->json, "pageNextToken"), "no token on the last page");
  http_resp_free(r);
}

Test(claims, bad_page_parameters_are_40006) {
  const char *bad[] = {"pageLimit=0", "pageLimit=101", "pageLimit=", "pageLimit=abc", "pageNextToken=zzz",
                       "pageNextToken=", "status=DONE", "blocked=yes", NULL};
  for (int i = 0; bad[i]; i++) {
    char path[128];
    snprintf(path, sizeof path, "/v1/claimed-devices?%s", bad[i]);
    http_resp *r = owner(&m, KEY, "GET", path, NULL);
    expect_error(r, 400, 40006, NULL);
    http_resp_free(r);
  }
}

Test(claims, every_filter) {
  char a[37], b[37], c[37], tok[1100], body[1400];
  claim_new(&m, KEY, "[\"red\"]", a);
  claim_new(&m, KEY, "[\"blue\",\"green\"]", b);
  unsigned char id[16] = {1, 2, 3, 4, 5, 6, 0x47, 8, 0x89, 10, 11, 12, 13, 14, 15, 16};
  make_token_for(id, 4, tok, sizeof tok);
  snprintf(body, sizeof body, "{\"claimToken\":\"%s\"}", tok);
  http_resp *r = owner(&m, KEY, "POST", "/v1/claimed-devices", body);
  cr_assert_str_eq(jstr(r->json, "deviceType"), "nrf9161_LACA");
  snprintf(c, sizeof c, "%s", jstr(r->json, "id"));
  http_resp_free(r);
  char path[200];
  snprintf(path, sizeof path, "/v1/claimed-devices/%s/block", b);
  http_resp_free(owner(&m, KEY, "POST", path, NULL));
  struct {
    const char *q;
    int total;
  } cases[] = {
    {"tags=red", 1}, {"tags=red,green", 2}, {"tags=none", 0}, {"blocked=true", 1}, {"blocked=false", 2},
    {"deviceType=nrf9161_LACA", 1}, {"deviceType=nrf9160_SICA", 2}, {"status=READY", 3},
    {"status=PENDING,ERROR", 0}, {"tags=red,blue&blocked=false", 1}, {"deviceType=nrf9160_SICA&tags=blue", 1},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    snprintf(path, sizeof path, "/v1/claimed-devices?%s", cases[i].q);
    r = owner(&m, KEY, "GET", path, NULL);
    cr_assert_eq(r->status, 200);
    cr_assert_eq(jint(r->json, "total"), cases[i].total, "%s: %s", cases[i].q, r->body);
    cr_assert_eq((int)json_array_size(json_object_get(r->json, "items")), cases[i].total);
    http_resp_free(r);
  }
}

/* ---- team isolation ---- */

Test(claims, other_teams_see_404_on_every_path) {
  char id[37], path[200];
  claim_new(&m, KEY, NULL, id);
  /* Method and the path's tail after the device id. */
  const char *call[][2] = {{"GET", ""}, {"DELETE", ""}, {"POST", "/block"}, {"POST", "/unblock"}, {"PUT", "/tags"}};
  for (size_t i = 0; i < sizeof call / sizeof call[0]; i++) {
    snprintf(path, sizeof path, "/v1/claimed-devices/%s%s", id, call[i][1]);
    http_resp *r = owner(&m, OTHER, call[i][0], path, !strcmp(call[i][0], "PUT") ? "{\"tags\":[\"x\"]}" : NULL);
    expect_error(r, 404, 40400, NULL);
    http_resp_free(r);
  }
  cr_assert_eq(device_count(OTHER), 0);
  cr_assert_eq(device_count(KEY), 1);
  snprintf(path, sizeof path, "/v1/claimed-devices/%s", id);
  http_resp *r = owner(&m, KEY, "GET", path, NULL);
  cr_assert_eq(r->status, 200);
  http_resp_free(r);
}

Test(claims, unclaim_then_another_team_claims) {
  char tok[1100], id[37], path[200];
  make_token(tok, sizeof tok, id);
  http_resp_free(claim_token(KEY, tok, NULL));
  snprintf(path, sizeof path, "/v1/claimed-devices/%s", id);
  http_resp *r = owner(&m, KEY, "DELETE", path, NULL);
  cr_assert_eq(r->status, 204);
  cr_assert_eq(r->len, 0);
  http_resp_free(r);
  r = owner(&m, KEY, "DELETE", path, NULL);
  expect_error(r, 404, 40400, NULL);
  http_resp_free(r);
  r = claim_token(OTHER, tok, NULL);
  cr_assert_eq(r->status, 201);
  http_resp_free(r);
  cr_assert_eq(device_count(KEY), 0);
  cr_assert_eq(device_count(OTHER), 1);
}

Test(claims, block_and_unblock_are_idempotent) {
  char id[37], path[200];
  claim_new(&m, KEY, NULL, id);
  for (int i = 0; i < 2; i++) {
    snprintf(path, sizeof path, "/v1/claimed-devices/%s/block", id);
    http_resp *r = owner(&m, KEY, "POST", path, NULL);
    cr_assert_eq(r->status, 200);
    cr_assert(json_is_true(json_object_get(r->json, "blocked")));
    http_resp_free(r);
  }
  for (int i = 0; i < 2; i++) {
    snprintf(path, sizeof path, "/v1/claimed-devices/%s/unblock", id);
    http_resp *r = owner(&m, KEY, "POST", path, NULL);
    cr_assert_eq(r->status, 200);
    cr_assert(json_is_false(json_object_get(r->json, "blocked")));
    http_resp_free(r);
  }
}

Test(claims, put_tags_replaces_them) {
  char id[37], path[200];
  claim_new(&m, KEY, "[\"old\"]", id);
  snprintf(path, sizeof path, "/v1/claimed-devices/%s/tags", id);
  http_resp *r = owner(&m, KEY, "PUT", path, "{\"tags\":[\"new1,new2\"]}");
  cr_assert_eq(r->status, 200, "%s", r->body);
  char *tags = json_dumps(json_object_get(r->json, "tags"), JSON_COMPACT);
  cr_assert_str_eq(tags, "[\"new1\",\"new2\"]");
  free(tags);
  http_resp_free(r);
  r = owner(&m, KEY, "PUT", path, "{}");
  expect_error(r, 400, 40001, NULL);
  http_resp_free(r);
  r = owner(&m, KEY, "PUT", path, "{\"tags\":\"x\"}");
  expect_error(r, 400, 40004, NULL);
  http_resp_free(r);
}

Test(claims, reset_wipes_all_or_one_team) {
  char id[37];
  claim_new(&m, KEY, NULL, id);
  claim_new(&m, OTHER, NULL, id);
  http_resp *r = http_req(&m, "POST", "/_mock/reset?team=" OTHER, NULL, NULL, 0);
  cr_assert_eq(r->status, 204);
  http_resp_free(r);
  cr_assert_eq(device_count(KEY), 1);
  cr_assert_eq(device_count(OTHER), 0);
  r = http_req(&m, "POST", "/_mock/reset", NULL, NULL, 0);
  cr_assert_eq(r->status, 204);
  http_resp_free(r);
  cr_assert_eq(device_count(KEY), 0);
}

TestSuite(claims_strict, .timeout = 30);

Test(claims_strict, api_keys_file_limits_teams) {
  char path[] = "/tmp/nrfprov-keys-XXXXXX";
  int fd = mkstemp(path);
  cr_assert(fd >= 0);
  const char *text = "# teams\ngood-key,Team Good\n\nother-key\n";
  cr_assert(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
  close(fd);
  mock s;
  mock_start(&s, "--api-keys", path, NULL);
  http_resp *r = owner(&s, "good-key", "GET", "/v1/claimed-devices", NULL);
  cr_assert_eq(r->status, 200);
  http_resp_free(r);
  r = owner(&s, "unknown-key", "GET", "/v1/claimed-devices", NULL);
  cr_assert_eq(r->status, 401);
  cr_assert_eq(jint(r->json, "code"), 40100);
  http_resp_free(r);
  r = http_req(&s, "GET", "/_mock/config", NULL, NULL, 0);
  cr_assert_str_eq(jstr(r->json, "api-keys"), path);
  http_resp_free(r);
  mock_stop(&s);
  unlink(path);
}

TestSuite(token_cli, .timeout = 30);

Test(token_cli, decode_prints_the_fixture_fields) {
  json_t *j = public_tokens();
  size_t i;
  json_t *t;
  json_array_foreach(json_object_get(j, "tokens"), i, t) {
    char out[4096], err[1024];
    const char *args[] = {"token", "decode", jstr(t, "token"), NULL};
    cr_assert_eq(run_mock_binary(args, out, sizeof out, err, sizeof err), 0, "%s", err);
    json_t *d = json_loads(out, 0, NULL);
    cr_assert(d, "JSON: %s", out);
    const char *keys[] = {"deviceId", "deviceType", "firmwareId", "nonceHex", "coseKidHex", NULL};
    for (int k = 0; keys[k]; k++) cr_assert_str_eq(jstr(d, keys[k]), jstr(t, keys[k]), "%s", keys[k]);
    cr_assert_eq(jint(d, "messageType"), 1);
    cr_assert_eq(jint(d, "deviceTypeCode"), jint(t, "deviceTypeCode"));
    json_decref(d);
  }
  json_decref(j);
}

Test(token_cli, decode_of_a_malformed_token_exits_1_naming_the_defect) {
  char out[1024], err[1024];
  const char *args[] = {"token", "decode", "abc.def", NULL};
  cr_assert_eq(run_mock_binary(args, out, sizeof out, err, sizeof err), 1);
  cr_assert(strlen(err) > 10 && strchr(err, '\n') == err + strlen(err) - 1, "one line: %s", err);
  cr_assert_eq(out[0], 0);
}
