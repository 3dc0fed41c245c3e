/* Hostile CBOR through the real binary (issue 17): attestation tokens and device reports
 * whose items have the wrong kind where the decoders expect another — floats of every
 * width, simple values, undefined, nil, byte strings, integers, indefinite-length strings —
 * sent over every path that decodes them: claim, dry run, bulk CSV, the device `att.`
 * credential over HTTP, CoAP p/auth, and reports over HTTP and CoAP p/rsp. libcbor 0.8
 * asserts its accessors' preconditions, so each of these once could abort the server.
 * Every case checks the clear error answer (status and a message naming the defect),
 * that nothing was stored and that the server still serves afterwards. The tokens are
 * built here from hex templates, one item swapped per case. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness_coap.h"
#include "harness_scenarios.h"
#include "proto/b64url.h"
#include "proto/dcbor.h"

static mock m;
static void start(void) { mock_start(&m, NULL); }
static void stop(void) { cr_assert_eq(mock_stop(&m), 0, "the mock exits cleanly"); }

TestSuite(hostile_cbor, .init = start, .fini = stop, .timeout = 120);

#define KEY "hostile-team"

/* The token of issue 17: part 2's COSE payload is a half float. */
static const char crash_token[] =
    "2dn3hQFQUDYxVDkxRPCAIhIbZAFifQZQAQIDAAAAAAAAAAAAAAAAAFAJAAAAAAAAAAAAAAAAAAAA.0oRDoQEmoQRBIfnBQWZYVAAAAA1";

/* ---- a tiny CBOR builder: hex templates ---------------------------------------------- */

/* Hex text (spaces allowed) to bytes; returns the count. */
static size_t unhex(const char *hex, uint8_t *out, size_t outsz) {
  size_t n = 0;
  for (const char *p = hex; *p;) {
    if (*p == ' ') {
      p++;
      continue;
    }
    unsigned v;
    cr_assert(sscanf(p, "%2x", &v) == 1 && n < outsz, "hex template: %s", hex);
    out[n++] = (uint8_t)v;
    p += 2;
  }
  return n;
}

#define U16 "50 00112233445566778899aabbccddeeff"
#define F16 "50 0102030405060708090a0b0c0d0e0f10"
#define N16 "50 a0a1a2a3a4a5a6a7a8a9aaabacadaeaf"
#define SIG64                                                                    \
  "5840 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"       \
  "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"
/* Well-formed parts: tag 55799 [1, uuid, 3, fw, nonce] and tag 18 [<<{1:-7}>>, {4:h'21'}, nil, sig]. */
#define P1(type, uuid, dtype, fw, nonce) "d9d9f7 85 " type " " uuid " " dtype " " fw " " nonce
#define P1_OK P1("01", U16, "03", F16, N16)
#define P2(prot, unprot, payload, sig) "d2 84 " prot " " unprot " " payload " " sig
#define P2_OK P2("43 a10126", "a1 04 41 21", "f6", SIG64)

/* The token of two hex templates. */
static void token_of(const char *p1hex, const char *p2hex, char *out, size_t outsz) {
  uint8_t a[512], b[512];
  size_t na = unhex(p1hex, a, sizeof a), nb = unhex(p2hex, b, sizeof b);
  int x = b64url_encode(a, na, out, outsz);
  cr_assert(x > 0 && (size_t)x + 2 < outsz);
  out[x] = '.';
  cr_assert(b64url_encode(b, nb, out + x + 1, outsz - (size_t)x - 1) > 0);
}

/* One token case: the two parts and a piece of the message that must name the defect. */
typedef struct {
  const char *name, *p1, *p2, *says;
} token_case;

static const token_case token_cases[] = {
    /* Part 2, the COSE_Sign1 (docs/device-protocol.md §4.1): the payload must be nil. */
    {"payload half float", P1_OK, P2("43 a10126", "a1 04 41 21", "f9 3c00", SIG64), "payload must be nil (detached), got a half-precision float"},
    {"payload single float", P1_OK, P2("43 a10126", "a1 04 41 21", "fa 3f800000", SIG64), "payload must be nil (detached), got a single-precision float"},
    {"payload double float", P1_OK, P2("43 a10126", "a1 04 41 21", "fb 3ff0000000000000", SIG64), "payload must be nil (detached), got a double-precision float"},
    {"payload undefined", P1_OK, P2("43 a10126", "a1 04 41 21", "f7", SIG64), "payload must be nil (detached), got undefined"},
    {"payload true", P1_OK, P2("43 a10126", "a1 04 41 21", "f5", SIG64), "payload must be nil (detached), got a boolean"},
    {"payload false", P1_OK, P2("43 a10126", "a1 04 41 21", "f4", SIG64), "payload must be nil (detached), got a boolean"},
    /* libcbor 0.8 refuses the simple values it does not name (0xe0-0xf3, 0xf8 xx) as malformed. */
    {"payload simple(32)", P1_OK, P2("43 a10126", "a1 04 41 21", "f8 20", SIG64), "part 2 is not well-formed CBOR (malformed CBOR"},
    {"payload integer", P1_OK, P2("43 a10126", "a1 04 41 21", "00", SIG64), "payload must be nil (detached), got an unsigned integer"},
    {"payload byte string", P1_OK, P2("43 a10126", "a1 04 41 21", "41 00", SIG64), "payload must be nil (detached), got a byte string"},
    {"payload indefinite bytes", P1_OK, P2("43 a10126", "a1 04 41 21", "5f 4100 ff", SIG64), "payload must be nil (detached), got an indefinite-length byte string"},
    {"protected half float", P1_OK, P2("f9 3c00", "a1 04 41 21", "f6", SIG64), "protected header must be a byte string, got a half-precision float"},
    {"protected indefinite", P1_OK, P2("5f 43a10126 ff", "a1 04 41 21", "f6", SIG64), "protected header must be a byte string, got an indefinite-length byte string"},
    {"protected holds a float", P1_OK, P2("43 f93c00", "a1 04 41 21", "f6", SIG64), "protected header must be a map"},
    {"protected float label", P1_OK, P2("45 a1f93c00 26", "a1 04 41 21", "f6", SIG64), "protected header must hold exactly the algorithm"},
    {"protected alg undefined", P1_OK, P2("43 a101f7", "a1 04 41 21", "f6", SIG64), "protected header algorithm must be -7"},
    {"protected alg float", P1_OK, P2("47 a101fa3f800000", "a1 04 41 21", "f6", SIG64), "protected header algorithm must be -7"},
    {"unprotected undefined", P1_OK, P2("43 a10126", "f7", "f6", SIG64), "unprotected header must be a map, got undefined"},
    {"unprotected float label", P1_OK, P2("43 a10126", "a1 f93c00 41 21", "f6", SIG64), "unprotected header may hold only the key id"},
    {"kid indefinite", P1_OK, P2("43 a10126", "a1 04 5f 4121 ff", "f6", SIG64), "key id must be a byte string of 1 to 16 bytes, got an indefinite-length byte string"},
    {"kid nil", P1_OK, P2("43 a10126", "a1 04 f6", "f6", SIG64), "key id must be a byte string of 1 to 16 bytes, got nil"},
    {"kid integer", P1_OK, P2("43 a10126", "a1 04 21", "f6", SIG64), "key id must be a byte string of 1 to 16 bytes, got a negative integer"},
    {"signature float", P1_OK, P2("43 a10126", "a1 04 41 21", "f6", "fb 3ff0000000000000"), "signature must be a byte string, got a double-precision float"},
    {"signature undefined", P1_OK, P2("43 a10126", "a1 04 41 21", "f6", "f7"), "signature must be a byte string, got undefined"},
    {"signature indefinite", P1_OK,
     P2("43 a10126", "a1 04 41 21", "f6",
        "5f 5820 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
        "5820 202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f ff"),
     "signature must be a byte string, got an indefinite-length byte string"},
    {"part 2 is a float", P1_OK, "f9 3c00", "expected CBOR tag 18 (COSE_Sign1), got an untagged item (a half-precision float)"},
    {"part 2 is undefined", P1_OK, "f7", "got an untagged item (undefined)"},
    {"tag 18 around a float", P1_OK, "d2 f9 3c00", "tagged item must be an array, got a half-precision float"},
    {"tag 18 around indefinite text", P1_OK, "d2 7f 6161 ff", "tagged item must be an array, got an indefinite-length text string"},
    /* Part 1, the device identity array. */
    {"part 1 is a float", "fa 3f800000", P2_OK, "part 1: expected CBOR tag 55799, got an untagged item (a single-precision float)"},
    {"part 1 tag around true", "d9d9f7 f5", P2_OK, "part 1: tagged item must be an array, got a boolean"},
    {"part 1 tag around simple(255)", "d9d9f7 f8 ff", P2_OK, "part 1 is not well-formed CBOR"},
    {"message type half float", P1("f9 3c00", U16, "03", F16, N16), P2_OK, "message type must be an unsigned integer, got a half-precision float"},
    {"message type undefined", P1("f7", U16, "03", F16, N16), P2_OK, "message type must be an unsigned integer, got undefined"},
    {"message type negative", P1("20", U16, "03", F16, N16), P2_OK, "message type must be an unsigned integer, got a negative integer"},
    {"message type bytes", P1("41 01", U16, "03", F16, N16), P2_OK, "message type must be an unsigned integer, got a byte string"},
    {"message type huge", P1("1b ffffffffffffffff", U16, "03", F16, N16), P2_OK, "message type must be 1 (device identity), got 18446744073709551615"},
    {"device UUID indefinite", P1("01", "5f 48 0011223344556677 48 8899aabbccddeeff ff", "03", F16, N16), P2_OK, "device UUID must be a 16-byte byte string, got an indefinite-length byte string"},
    {"device UUID float", P1("01", "fb 3ff0000000000000", "03", F16, N16), P2_OK, "device UUID must be a 16-byte byte string, got a double-precision float"},
    {"device UUID nil", P1("01", "f6", "03", F16, N16), P2_OK, "device UUID must be a 16-byte byte string, got nil"},
    {"device UUID integer", P1("01", "1a 00010000", "03", F16, N16), P2_OK, "device UUID must be a 16-byte byte string, got an unsigned integer"},
    {"device type float", P1("01", U16, "f9 4200", F16, N16), P2_OK, "device type must be an unsigned integer, got a half-precision float"},
    {"device type undefined", P1("01", U16, "f7", F16, N16), P2_OK, "device type must be an unsigned integer, got undefined"},
    {"device type bytes", P1("01", U16, "41 03", F16, N16), P2_OK, "device type must be an unsigned integer, got a byte string"},
    {"device type indefinite text", P1("01", U16, "7f 6133 ff", F16, N16), P2_OK, "device type must be an unsigned integer, got an indefinite-length text string"},
    {"firmware UUID indefinite", P1("01", U16, "03", "5f 48 0102030405060708 48 090a0b0c0d0e0f10 ff", N16), P2_OK, "modem firmware UUID must be a 16-byte byte string, got an indefinite-length byte string"},
    {"firmware UUID false", P1("01", U16, "03", "f4", N16), P2_OK, "modem firmware UUID must be a 16-byte byte string, got a boolean"},
    {"nonce undefined", P1("01", U16, "03", F16, "f7"), P2_OK, "nonce must be a 16-byte byte string, got undefined"},
    {"nonce float", P1("01", U16, "03", F16, "fa 7fc00000"), P2_OK, "nonce must be a 16-byte byte string, got a single-precision float"},
    {"nonce indefinite empty", P1("01", U16, "03", F16, "5f ff"), P2_OK, "nonce must be a 16-byte byte string, got an indefinite-length byte string"},
};
#define N_TOKEN_CASES (sizeof token_cases / sizeof token_cases[0])

/* ---- checks shared by every path ----------------------------------------------------- */

static void expect_alive(void) {
  http_resp *r = http_req(&m, "GET", "/_mock/health", NULL, NULL, 0);
  cr_assert_eq(r->status, 200, "the server still serves: %ld %s", r->status, r->body ? r->body : "");
  cr_assert_str_eq(jstr(r->json, "status"), "ok");
  http_resp_free(r);
}

static long long claimed_count(const char *key) {
  http_resp *r = owner(&m, key, "GET", "/v1/claimed-devices", NULL);
  cr_assert_eq(r->status, 200, "%s", r->body);
  long long n = jint(r->json, "total");
  http_resp_free(r);
  return n;
}

static http_resp *claim(const char *token, const char *query) {
  char body[4096], path[128];
  snprintf(body, sizeof body, "{\"claimToken\":\"%.4000s\"}", token);
  snprintf(path, sizeof path, "/v1/claimed-devices%s", query ? query : "");
  return owner(&m, KEY, "POST", path, body);
}

static void expect_claim_refused(const char *token, const char *query, const char *says, const char *name) {
  http_resp *r = claim(token, query);
  cr_assert_eq(r->status, 400, "%s: status %ld: %s", name, r->status, r->body);
  cr_assert_eq(jint(r->json, "code"), 40002, "%s: %s", name, r->body);
  cr_assert(strstr(jstr(r->json, "message"), "claimToken: "), "%s: names the field: %s", name, r->body);
  cr_assert(strstr(jstr(r->json, "message"), says), "%s: message %s lacks \"%s\"", name, r->body, says);
  http_resp_free(r);
}

/* The device side over HTTP: GET commands with the token as its credential. */
static void expect_device_refused(const char *token, const char *says, const char *name) {
  char auth[1400];
  snprintf(auth, sizeof auth, "Authorization: Bearer att.%s", token);
  const char *h[] = {auth, NULL};
  http_resp *r = http_req(&m, "GET", "/v1/provisioning/commands?after=&rxMaxSize=2048", h, NULL, 0);
  cr_assert_eq(r->status, 403, "%s: status %ld: %s", name, r->status, r->body);
  cr_assert(strstr(jstr(r->json, "message"), "attestation token: "), "%s: %s", name, r->body);
  cr_assert(strstr(jstr(r->json, "message"), says), "%s: message %s lacks \"%s\"", name, r->body, says);
  http_resp_free(r);
}

/* The device side over CoAP: the token alone as the p/auth payload. */
static void expect_coap_auth_refused(const char *token, const char *says, const char *name) {
  dev_client d;
  dev_open(&d, &m, DEV_COAP, "att.x");
  uint8_t *out = NULL;
  size_t outlen = 0;
  int code = dev_coap_request(&d, "POST", "p/auth", 0, true, token, strlen(token), 0, &out, &outlen);
  cr_assert_eq(code, 403, "%s: p/auth answered %d (%s)", name, code, dev_coap_failure(&d));
  char text[512];
  snprintf(text, sizeof text, "%.*s", (int)(outlen < 500 ? outlen : 500), out ? (const char *)out : "");
  cr_assert(strstr(text, says), "%s: CoAP answer \"%s\" lacks \"%s\"", name, text, says);
  free(out);
  dev_close(&d);
}

/* ---- the crash token of issue 17, every path --------------------------------------- */

#define CRASH_SAYS "part 2: payload must be nil (detached), got a half-precision float"

Test(hostile_cbor, issue_17_token_is_refused_on_every_path) {
  expect_claim_refused(crash_token, NULL, CRASH_SAYS, "claim");
  expect_alive();
  expect_claim_refused(crash_token, "?dryrun=true", CRASH_SAYS, "dry run");
  expect_alive();
  expect_device_refused(crash_token, CRASH_SAYS, "device HTTP");
  expect_alive();
  expect_coap_auth_refused(crash_token, CRASH_SAYS, "CoAP p/auth");
  expect_alive();
  cr_assert_eq(claimed_count(KEY), 0, "nothing stored");
}

/* Where a JWT is expected (Bearer without att., CoAP p/auth-jwt) the token is no JWT:
 * refused as such, and the journal's device-id lookup of the same request survives it. */
Test(hostile_cbor, issue_17_token_where_a_jwt_belongs) {
  char auth[300];
  snprintf(auth, sizeof auth, "Authorization: Bearer %s", crash_token);
  const char *h[] = {auth, NULL};
  http_resp *r = http_req(&m, "GET", "/v1/provisioning/commands?after=", h, NULL, 0);
  cr_assert_eq(r->status, 403, "%ld %s", r->status, r->body);
  cr_assert(strstr(jstr(r->json, "message"), "JWT"), "%s", r->body);
  http_resp_free(r);
  dev_client d;
  dev_open(&d, &m, DEV_COAP, "att.x");
  int code = dev_coap_request(&d, "POST", "p/auth-jwt", 0, true, crash_token, strlen(crash_token), 0, NULL, NULL);
  cr_assert_eq(code, 403, "p/auth-jwt answered %d (%s)", code, dev_coap_failure(&d));
  dev_close(&d);
  expect_alive();
}

Test(hostile_cbor, issue_17_token_in_the_decode_command) {
  char out[2048], err[2048];
  const char *args[] = {"token", "decode", crash_token, NULL};
  int rc = run_mock_binary(args, out, sizeof out, err, sizeof err);
  cr_assert_eq(rc, 1, "exit status %d: %s", rc, err);
  cr_assert(strstr(err, CRASH_SAYS), "%s", err);
}

Test(hostile_cbor, issue_17_token_in_bulk_csv_fails_its_row_only) {
  char good[1100], id[37], csv[4096];
  make_token(good, sizeof good, id);
  snprintf(csv, sizeof csv, "%s\n%s\n", crash_token, good);
  const char *h[] = {"Authorization: Bearer " KEY, "Content-Type: text/csv", NULL};
  http_resp *r = http_req(&m, "POST", "/v1/claimed-devices", h, csv, strlen(csv));
  cr_assert(r->status == 200 || r->status == 201 || r->status == 207, "bulk: %ld %s", r->status, r->body);
  json_t *failed = json_object_get(r->json, "failed");
  cr_assert_eq(json_array_size(failed), 1, "%s", r->body);
  cr_assert_eq(jint(json_array_get(failed, 0), "row"), 1, "%s", r->body);
  cr_assert(strstr(jstr(json_array_get(failed, 0), "message"), CRASH_SAYS), "%s", r->body);
  cr_assert_eq(json_array_size(json_object_get(r->json, "claimedIds")), 1, "%s", r->body);
  http_resp_free(r);
  expect_alive();
  cr_assert_eq(claimed_count(KEY), 1, "only the good row is stored");
}

/* ---- token variants: one wrong item at a time, claim, dry run, HTTP and CoAP --------- */

Test(hostile_cbor, token_variants_are_refused_with_their_defect_on_every_path) {
  char tok[1400];
  for (size_t i = 0; i < N_TOKEN_CASES; i++) {
    const token_case *c = &token_cases[i];
    token_of(c->p1, c->p2, tok, sizeof tok);
    expect_claim_refused(tok, NULL, c->says, c->name);
    expect_claim_refused(tok, "?dryrun=true", c->says, c->name);
    expect_device_refused(tok, c->says, c->name);
    expect_coap_auth_refused(tok, c->says, c->name);
  }
  expect_alive();
  cr_assert_eq(claimed_count(KEY), 0, "nothing stored");
  /* The templates themselves are sound: the unaltered token claims. */
  token_of(P1_OK, P2_OK, tok, sizeof tok);
  http_resp *r = claim(tok, NULL);
  cr_assert_eq(r->status, 201, "the unaltered template claims: %s", r->body);
  http_resp_free(r);
}

Test(hostile_cbor, token_variants_in_bulk_csv_fail_row_by_row) {
  char tok[1400];
  size_t cap = N_TOKEN_CASES * 1400 + 1400, n = 0;
  char *csv = malloc(cap);
  cr_assert(csv);
  for (size_t i = 0; i < N_TOKEN_CASES; i++) {
    token_of(token_cases[i].p1, token_cases[i].p2, tok, sizeof tok);
    n += (size_t)snprintf(csv + n, cap - n, "%s\n", tok);
  }
  const char *h[] = {"Authorization: Bearer " KEY, "Content-Type: text/csv", NULL};
  http_resp *r = http_req(&m, "POST", "/v1/claimed-devices", h, csv, n);
  cr_assert(r->status == 200 || r->status == 201 || r->status == 207, "bulk: %ld %s", r->status, r->body);
  json_t *failed = json_object_get(r->json, "failed");
  cr_assert_eq(json_array_size(failed), N_TOKEN_CASES, "%s", r->body);
  for (size_t i = 0; i < N_TOKEN_CASES; i++) {
    json_t *f = json_array_get(failed, i);
    cr_assert_eq(jint(f, "row"), (long long)i + 1, "%s", r->body);
    cr_assert(strstr(jstr(f, "message"), token_cases[i].says), "row %zu (%s): %s", i + 1, token_cases[i].name,
              jstr(f, "message"));
  }
  cr_assert_eq(json_array_size(json_object_get(r->json, "claimedIds")), 0, "%s", r->body);
  http_resp_free(r);
  free(csv);
  expect_alive();
  cr_assert_eq(claimed_count(KEY), 0, "nothing stored");
}

/* ---- device reports (docs/device-protocol.md §5), HTTP and CoAP p/rsp --------------------------- */

typedef struct {
  const char *name, *hex, *says;
} report_case;

static const report_case report_cases[] = {
    {"outer half float", "f9 3c00", "top-level item must be an array, got a half-precision float"},
    {"outer undefined", "f7", "top-level item must be an array, got undefined"},
    {"outer indefinite bytes", "5f 4100 ff", "top-level item must be an array, got an indefinite-length byte string"},
    {"element half float", "81 f9 3c00", "response 1: must be an array, got a half-precision float"},
    {"element nil", "81 f6", "response 1: must be an array, got nil"},
    {"second element undefined", "9f 82 6161 1866 f7 ff", "response 2: must be an array, got undefined"},
    {"id undefined", "81 82 f7 1866", "response 1: correlation id must be a text string, got undefined"},
    {"id single float", "81 82 fa 3f800000 1866", "response 1: correlation id must be a text string, got a single-precision float"},
    {"id indefinite bytes", "81 82 5f 4161 ff 1866", "response 1: correlation id must be a text string, got an indefinite-length byte string"},
    {"id integer", "81 82 01 1866", "response 1: correlation id must be a text string, got an unsigned integer"},
    {"type half float", "81 82 6161 f9 5640", "response 1: type must be an unsigned integer, got a half-precision float"},
    {"type double float", "81 82 6161 fb 4059800000000000", "response 1: type must be an unsigned integer, got a double-precision float"},
    {"type nil", "81 82 6161 f6", "response 1: type must be an unsigned integer, got nil"},
    {"type undefined", "81 82 6161 f7", "response 1: type must be an unsigned integer, got undefined"},
    {"type boolean", "81 82 6161 f5", "response 1: type must be an unsigned integer, got a boolean"},
    {"type negative", "81 82 6161 38 65", "response 1: type must be an unsigned integer, got a negative integer"},
    {"type bytes", "81 82 6161 41 66", "response 1: type must be an unsigned integer, got a byte string"},
    {"type indefinite text", "81 82 6161 7f 6131 ff", "response 1: type must be an unsigned integer, got an indefinite-length text string"},
    {"type huge", "81 82 6161 1b ffffffffffffffff", "response 1: unknown type 18446744073709551615"},
    {"CME half float", "81 84 6161 1863 f9 3c00 6161", "response 1: CME error must be an unsigned integer, got a half-precision float"},
    {"CME undefined", "81 84 6161 1863 f7 6161", "response 1: CME error must be an unsigned integer, got undefined"},
    {"CME too large", "81 84 6161 1863 1b 0000000100000000 6161", "response 1: CME error 4294967296 out of range"},
    {"error message undefined", "81 84 6161 1863 00 f7", "response 1: message must be a text string, got undefined"},
    {"AT message double", "81 83 6161 1864 fb 3ff0000000000000", "response 1: message must be a text string, got a double-precision float"},
    {"AT message indefinite bytes", "81 83 6161 1864 5f 4161 ff", "response 1: message must be a text string, got an indefinite-length byte string"},
    {"AT message bytes chunk in text", "81 83 6161 1864 7f 4161 ff", "indefinite-length string holds a chunk of another type"},
    {"ack with a float", "81 9f 6161 1866 f9 3c00 ff", "response 1: finished ack (102) must have 2 elements, got 3"},
};
#define N_REPORT_CASES (sizeof report_cases / sizeof report_cases[0])

/* One claimed device with one queued command, so a report that changed anything would show. */
static void device_with_command(char cred[1200], char uuid[37], char id[37]) {
  sc_claim(&m, cred, uuid);
  sc_queue(&m, uuid, "{\"config\":{\"properties\":{\"k\":\"v\"}}}", id);
}

static void expect_unchanged(const char *uuid, const char *id) {
  char st[24];
  cr_assert_str_eq(sc_command_status(&m, uuid, id, st), "PENDING", "the command is untouched");
  expect_alive();
}

Test(hostile_cbor, report_variants_over_http_are_400_and_change_nothing) {
  char cred[1200], uuid[37], id[37], auth[1300];
  device_with_command(cred, uuid, id);
  snprintf(auth, sizeof auth, "Authorization: Bearer %s", cred);
  const char *h[] = {auth, "Content-Type: application/cbor", NULL};
  for (size_t i = 0; i < N_REPORT_CASES; i++) {
    uint8_t body[256];
    size_t n = unhex(report_cases[i].hex, body, sizeof body);
    http_resp *r = http_req(&m, "POST", "/v1/provisioning/response", h, body, n);
    cr_assert_eq(r->status, 400, "%s: %ld %s", report_cases[i].name, r->status, r->body);
    cr_assert(strstr(jstr(r->json, "message"), "responses: "), "%s: %s", report_cases[i].name, r->body);
    cr_assert(strstr(jstr(r->json, "message"), report_cases[i].says), "%s: message %s lacks \"%s\"",
              report_cases[i].name, r->body, report_cases[i].says);
    http_resp_free(r);
  }
  expect_unchanged(uuid, id);
}

Test(hostile_cbor, report_variants_over_coap_are_4_00_and_change_nothing) {
  char cred[1200], uuid[37], id[37];
  device_with_command(cred, uuid, id);
  dev_client d;
  dev_open(&d, &m, DEV_COAP, cred);
  cr_assert_eq(dev_coap_request(&d, "POST", "p/auth", 0, true, cred + 4, strlen(cred + 4), 0, NULL, NULL), 201);
  for (size_t i = 0; i < N_REPORT_CASES; i++) {
    uint8_t body[256], *out = NULL;
    size_t n = unhex(report_cases[i].hex, body, sizeof body), outlen = 0;
    int code = dev_coap_request(&d, "POST", "p/rsp", 60, true, body, n, 0, &out, &outlen);
    cr_assert_eq(code, 400, "%s: p/rsp answered %d (%s)", report_cases[i].name, code, dev_coap_failure(&d));
    char text[512];
    snprintf(text, sizeof text, "%.*s", (int)(outlen < 500 ? outlen : 500), out ? (const char *)out : "");
    cr_assert(strstr(text, report_cases[i].says), "%s: CoAP answer \"%s\" lacks \"%s\"", report_cases[i].name, text,
              report_cases[i].says);
    free(out);
  }
  dev_close(&d);
  expect_unchanged(uuid, id);
}

/* ---- %KEYGEN answers inside an accepted report (docs/device-protocol.md §4.4 and §5) -------------
 * A device that answers a key generation with a broken COSE part still answered, so the
 * report is accepted; the answer's defect makes the command FAILED (cmeError 0, the
 * defect in the message, docs/keygen.md), nothing is onboarded, no public key is
 * returned, and the log names the defect. */

typedef struct {
  const char *name, *cose_hex, *says;
} keygen_case;

#define KG(payload, sig) "d2 84 43 a10126 a1 04 41 21 " payload " " sig
static const keygen_case keygen_cases[] = {
    {"payload half float", KG("f9 3c00", SIG64), "KEYGEN COSE part: payload must be a byte string, got a half-precision float"},
    {"payload nil", KG("f6", SIG64), "KEYGEN COSE part: payload must be a byte string, got nil"},
    {"payload undefined", KG("f7", SIG64), "KEYGEN COSE part: payload must be a byte string, got undefined"},
    {"payload integer", KG("18 20", SIG64), "KEYGEN COSE part: payload must be a byte string, got an unsigned integer"},
    {"payload indefinite", KG("5f 4100 4100 ff", SIG64), "KEYGEN COSE part: payload must be a byte string, got an indefinite-length byte string"},
    {"signature single float", KG("41 00", "fa 3f800000"), "KEYGEN COSE part: signature must be a byte string, got a single-precision float"},
    {"root double float", "fb 3ff0000000000000", "KEYGEN COSE part: expected CBOR tag 18 (COSE_Sign1), got an untagged item (a double-precision float)"},
};
#define N_KEYGEN_CASES (sizeof keygen_cases / sizeof keygen_cases[0])

/* "%KEYGEN: "<DER>.<COSE>"" with a minimal DER SEQUENCE and the case's COSE bytes. */
static void keygen_answer(const char *cose_hex, char *out, size_t outsz) {
  uint8_t der[] = {0x30, 0x00}, cose[512];
  char a[16], b[800];
  size_t n = unhex(cose_hex, cose, sizeof cose);
  cr_assert(b64url_encode(der, sizeof der, a, sizeof a) > 0);
  cr_assert(b64url_encode(cose, n, b, sizeof b) > 0);
  snprintf(out, outsz, "%%KEYGEN: \"%s.%s\"\r\nOK\r\n", a, b);
}

/* Queue request_json for a fresh device and answer its two steps (pre-step OK, then the
 * %KEYGEN answer) over HTTP; the report is accepted. */
static void answer_keygen(const char *request_json, const char *answer, char uuid[37], char id[37]) {
  char cred[1200];
  sc_claim(&m, cred, uuid);
  sc_queue(&m, uuid, request_json, id);
  dev_client d;
  uint8_t *cbor = NULL, *out = NULL;
  size_t len = 0, n = 0, outlen = 0;
  dev_open(&d, &m, DEV_HTTP, cred);
  cr_assert_eq(dev_fetch(&d, "after=", &cbor, &len), DEV_COMMANDS);
  dcbor_owned_command *c = NULL;
  char why[200];
  cr_assert_eq(dcbor_decode_commands(cbor, len, &c, &n, why, sizeof why), 0, "%s", why);
  cr_assert_eq(n, 2, "a pre-step and the %%KEYGEN step");
  free(cbor);
  dcbor_response resp[] = {{c[0].cid, DRSP_AT, 0, "OK\r\n"}, {c[1].cid, DRSP_AT, 0, (char *)(uintptr_t)answer}};
  cr_assert_eq(dcbor_encode_responses(resp, 2, 0, &out, &outlen), 0);
  cr_assert_eq(dev_report(&d, out, outlen), DEV_ACCEPTED, "status %d", d.status);
  free(out);
  dcbor_commands_free(c, n);
  dev_close(&d);
}

Test(hostile_cbor, keygen_variants_fail_the_command_and_the_log_names_the_defect) {
  char answer[1200], uuid[37], id[37], st[24], path[128];
  for (size_t i = 0; i < N_KEYGEN_CASES; i++) {
    keygen_answer(keygen_cases[i].cose_hex, answer, sizeof answer);
    answer_keygen("{\"cloudAccessKeyGeneration\":{\"secTag\":16842753}}", answer, uuid, id);
    cr_assert_str_eq(sc_command_status(&m, uuid, id, st), "FAILED", "%s", keygen_cases[i].name);
    snprintf(path, sizeof path, "/v1/devices/%s", uuid);
    http_resp *r = owner(&m, SC_KEY, "GET", path, NULL);
    cr_assert_eq(r->status, 404, "%s: not onboarded: %s", keygen_cases[i].name, r->body);
    http_resp_free(r);
    char want[300];
    snprintf(want, sizeof want, "device %s: command %s FAILED: %%KEYGEN answer: %s", uuid, id, keygen_cases[i].says);
    char *log = read_file(m.log_file, NULL);
    cr_assert(log && strstr(log, want), "%s: the log names the defect: %s", keygen_cases[i].name, want);
    free(log);
  }
  expect_alive();
}

Test(hostile_cbor, keygen_variants_return_no_public_key) {
  char answer[1200], uuid[37], id[37], path[200];
  for (size_t i = 0; i < N_KEYGEN_CASES; i++) {
    keygen_answer(keygen_cases[i].cose_hex, answer, sizeof answer);
    answer_keygen("{\"clientPrivateKeyGeneration\":{\"secTag\":16842753}}", answer, uuid, id);
    snprintf(path, sizeof path, "/v1/claimed-devices/%s/provisioning/%s", uuid, id);
    http_resp *r = owner(&m, SC_KEY, "GET", path, NULL);
    cr_assert_eq(r->status, 200, "%s", r->body);
    cr_assert_str_eq(jstr(r->json, "status"), "FAILED", "%s: %s", keygen_cases[i].name, r->body);
    json_t *er = json_object_get(json_object_get(r->json, "response"), "errorResponse");
    cr_assert_eq(jint(er, "cmeError"), 0, "%s: %s", keygen_cases[i].name, r->body);
    cr_assert(strstr(jstr(er, "message"), keygen_cases[i].says), "%s: the defect is named: %s", keygen_cases[i].name, r->body);
    cr_assert_null(strstr(r->body, "publicKey"), "%s: no public key from a broken answer: %s", keygen_cases[i].name,
                   r->body);
    http_resp_free(r);
  }
  expect_alive();
}
