/* Unit tests of proto/attest: the public tokens of fixtures/tokens decode to their listed
 * fields and JSON view; tokens made with attest_encode decode and verify with their key
 * only; every structural defect of docs/device-protocol.md §4.1 is refused with its own message. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/attest.h"
#include "proto/b64url.h"
#include "proto/es256.h"

static json_t *load_fixture(const char *rel)
{
  const char *dir = getenv("NRFPROV_TEST_FIXTURES");
  cr_assert(dir, "NRFPROV_TEST_FIXTURES is not set");
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", dir, rel);
  json_error_t err;
  json_t *j = json_load_file(path, 0, &err);
  cr_assert(j, "cannot load %s: %s", path, err.text);
  return j;
}

static size_t unhex(const char *h, uint8_t *out, size_t cap)
{
  size_t n = strlen(h) / 2;
  cr_assert(n <= cap);
  for (size_t i = 0; i < n; i++) {
    unsigned v;
    cr_assert(sscanf(h + 2 * i, "%2x", &v) == 1);
    out[i] = (uint8_t)v;
  }
  return n;
}

Test(attest, public_tokens_decode_to_their_fields)
{
  json_t *fx = load_fixture("tokens/public-tokens.json");
  json_t *tokens = json_object_get(fx, "tokens");
  cr_assert(json_array_size(tokens) >= 2);
  size_t i;
  json_t *t;
  json_array_foreach(tokens, i, t) {
    const char *tok = json_string_value(json_object_get(t, "token"));
    attest_token at;
    char why[200] = "";
    cr_assert_eq(attest_decode(tok, strlen(tok), &at, why, sizeof why), 0, "token %zu: %s", i, why);
    cr_assert_eq(at.message_type, json_integer_value(json_object_get(t, "messageType")));
    cr_assert_str_eq(at.device_uuid, json_string_value(json_object_get(t, "deviceId")));
    cr_assert_eq((json_int_t)at.device_type, json_integer_value(json_object_get(t, "deviceTypeCode")));
    cr_assert_str_eq(at.firmware_uuid, json_string_value(json_object_get(t, "firmwareId")));
    char tb[32];
    cr_assert_str_eq(attest_device_type_name(at.device_type, tb, sizeof tb),
                     json_string_value(json_object_get(t, "deviceType")));

    /* The JSON view has exactly the fixture's keys (less token and source), same values. */
    char *js = NULL;
    cr_assert_eq(attest_to_json(&at, &js), 0);
    json_t *view = json_loads(js, 0, NULL);
    cr_assert(view);
    json_t *want = json_deep_copy(t);
    json_object_del(want, "token");
    json_object_del(want, "source");
    cr_assert(json_equal(view, want), "JSON view %s", js);
    json_decref(want);
    json_decref(view);
    free(js);

    /* Real signatures were made with Nordic-held keys: a local key must not verify them. */
    mbedtls_pk_context k;
    cr_assert_eq(es256_generate(&k), 0);
    cr_assert_neq(attest_verify(&at, &k), 0);
    mbedtls_pk_free(&k);
  }
  json_decref(fx);
}

Test(attest, public_token_with_padding_and_no_nul_terminator)
{
  json_t *fx = load_fixture("tokens/public-tokens.json");
  const char *tok = json_string_value(json_object_get(json_array_get(json_object_get(fx, "tokens"), 0), "token"));
  /* Pad each part to a multiple of four with '='. */
  char padded[1100];
  const char *dot = strchr(tok, '.');
  size_t n1 = (size_t)(dot - tok), n2 = strlen(dot + 1), pos = 0;
  memcpy(padded, tok, n1);
  pos = n1;
  while (pos % 4) padded[pos++] = '=';
  padded[pos++] = '.';
  memcpy(padded + pos, dot + 1, n2);
  pos += n2;
  while ((pos - n1 - 1 - (n1 % 4 ? 4 - n1 % 4 : 0)) % 4) padded[pos++] = '=';
  attest_token a, b;
  char why[200];
  cr_assert_eq(attest_decode(tok, strlen(tok), &a, why, sizeof why), 0, "%s", why);
  cr_assert_eq(attest_decode(padded, pos, &b, why, sizeof why), 0, "%.*s: %s", (int)pos, padded, why);
  cr_assert_str_eq(a.device_uuid, b.device_uuid);
  cr_assert_eq(memcmp(a.signature, b.signature, 64), 0);
  /* Length is honoured: the same token followed by junk that len excludes. */
  char junk[1100];
  snprintf(junk, sizeof junk, "%s!!!", tok);
  cr_assert_eq(attest_decode(junk, strlen(tok), &b, why, sizeof why), 0, "%s", why);
  json_decref(fx);
}

static const uint8_t dev[16] = {0x49, 0x61, 0xc8, 0x73, 0x40, 0x8c, 0x45, 0xce, 0xb1, 0xba, 0x7c, 0x0d, 0x99, 0xd8, 0x81, 0x79};
static const uint8_t fw[16] = {0xa4, 0xd5, 0x80, 0xb9, 0xaa, 0xfb, 0x49, 0x25, 0xbc, 0x8d, 0xdb, 0x95, 0xf7, 0x37, 0xd4, 0xae};
static const uint8_t nonce[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};

Test(attest, encoded_token_verifies_with_its_key_only)
{
  mbedtls_pk_context key, other;
  cr_assert_eq(es256_generate(&key), 0);
  cr_assert_eq(es256_generate(&other), 0);
  char tok[ATTEST_MAX_TOKEN_LEN + 1];
  int n = attest_encode(dev, 6, fw, nonce, &key, tok, sizeof tok);
  cr_assert_gt(n, 0);
  cr_assert_eq((size_t)n, strlen(tok));
  attest_token t;
  char why[200];
  cr_assert_eq(attest_decode(tok, (size_t)n, &t, why, sizeof why), 0, "%s", why);
  cr_assert_str_eq(t.device_uuid, "4961c873-408c-45ce-b1ba-7c0d99d88179");
  cr_assert_str_eq(t.firmware_uuid, "a4d580b9-aafb-4925-bc8d-db95f737d4ae");
  cr_assert_eq(t.device_type, 6);
  cr_assert_eq(memcmp(t.nonce, nonce, 16), 0);
  cr_assert(t.kid_len == 1 && t.kid[0] == 0x21);
  cr_assert_eq(attest_verify(&t, &key), 0);
  cr_assert_neq(attest_verify(&t, &other), 0);

  /* The public key alone (as registered identities hold it) verifies too. */
  char pem[512];
  cr_assert_gt(es256_key_to_pem(&key, 0, pem, sizeof pem), 0);
  mbedtls_pk_context pub;
  cr_assert_eq(es256_pubkey_from_pem(&pub, pem, why, sizeof why), 0, "%s", why);
  cr_assert_eq(attest_verify(&t, &pub), 0);

  /* Any change to the signed part breaks the signature. */
  t.part1[t.part1_len - 1] ^= 1;
  cr_assert_neq(attest_verify(&t, &key), 0);
  t.part1[t.part1_len - 1] ^= 1;
  t.signature[10] ^= 0x40;
  cr_assert_neq(attest_verify(&t, &key), 0);

  /* A token with a random signature (no key) is well-formed but verifies with nothing. */
  n = attest_encode(dev, 3, fw, nonce, NULL, tok, sizeof tok);
  cr_assert_gt(n, 0);
  cr_assert_eq(attest_decode(tok, (size_t)n, &t, why, sizeof why), 0, "%s", why);
  cr_assert_neq(attest_verify(&t, &key), 0);

  cr_assert_eq(attest_encode(dev, 3, fw, nonce, NULL, tok, 20), -1, "too small a buffer");
  mbedtls_pk_free(&key);
  mbedtls_pk_free(&other);
  mbedtls_pk_free(&pub);
}

Test(attest, device_type_names)
{
  char b[32];
  const char *want[] = {NULL, "nrf9160_SIAA", "nrf9160_SIBA", "nrf9160_SICA", "nrf9161_LACA", "nrf9131_LACA", "nrf9151_LACA"};
  for (unsigned i = 1; i <= 6; i++) cr_assert_str_eq(attest_device_type_name(i, b, sizeof b), want[i]);
  cr_assert_str_eq(attest_device_type_name(0, b, sizeof b), "unknown_0");
  cr_assert_str_eq(attest_device_type_name(7, b, sizeof b), "unknown_7");
  cr_assert_str_eq(attest_device_type_name(18446744073709551615ULL, b, sizeof b), "unknown_18446744073709551615");
}

/* The valid parts of a token, as hex, with the pieces the malformed cases swap out. */
#define U16 "504961c873408c45ceb1ba7c0d99d88179"
#define F16 "50a4d580b9aafb4925bc8ddb95f737d4ae"
#define N16 "50e2d91a4bbd223b2e98fa504a728d9532"
#define P1 "d9d9f78501" U16 "03" F16 N16
#define SIG "5840" "e38aded93c24f6d08fdeef612530be0da5e115a723e1e45bcef47715b2ea98abbd627965f8cbb49b0ff91e42f4c24db4c1e464464d8c8d5b98c68c2c89d95931"
#define P2 "d28443a10126a1044121f6" SIG

static char *make_token(const char *p1hex, const char *p2hex)
{
  static char out[4096];
  uint8_t b[1024];
  size_t n = unhex(p1hex, b, sizeof b);
  int a = b64url_encode(b, n, out, sizeof out);
  cr_assert_geq(a, 0);
  out[a] = '.';
  n = unhex(p2hex, b, sizeof b);
  cr_assert_geq(b64url_encode(b, n, out + a + 1, sizeof out - (size_t)a - 1), 0);
  return out;
}

Test(attest, hand_built_valid_token_decodes)
{
  const char *tok = make_token(P1, P2);
  attest_token t;
  char why[200];
  cr_assert_eq(attest_decode(tok, strlen(tok), &t, why, sizeof why), 0, "%s", why);
  cr_assert_str_eq(t.device_uuid, "4961c873-408c-45ce-b1ba-7c0d99d88179");
  /* Indefinite-length arrays are accepted as well. */
  tok = make_token("d9d9f79f01" U16 "03" F16 N16 "ff", "d29f43a10126a1044121f6" SIG "ff");
  cr_assert_eq(attest_decode(tok, strlen(tok), &t, why, sizeof why), 0, "%s", why);
}

typedef struct {
  const char *name;
  const char *token;  /* used as is when p1 is NULL */
  const char *p1, *p2;
  const char *expect; /* a substring of the message */
} bad_case;

Test(attest, every_defect_has_its_own_message)
{
  static char too_long[ATTEST_MAX_TOKEN_LEN + 2];
  memset(too_long, 'A', sizeof too_long - 1);
  too_long[300] = '.';
  too_long[sizeof too_long - 1] = '\0';
  const bad_case cases[] = {
      {"empty", "", NULL, NULL, "token is empty"},
      {"too long", too_long, NULL, NULL, "token longer than 1024 characters"},
      {"no dot", "2dn3hQFQSWHIc0CM", NULL, NULL, "no '.'"},
      {"two dots", "2dn3.hQFQ.SWHI", NULL, NULL, "more than one '.'"},
      {"part 1 empty", ".0oRDoQEm", NULL, NULL, "part 1 is empty"},
      {"part 2 empty", "2dn3hQFQ.", NULL, NULL, "part 2 is empty"},
      {"part 1 alphabet", "2dn3+QFQ.0oRDoQEm", NULL, NULL, "part 1 is not valid base64url"},
      {"part 1 length", "2dn3h.0oRDoQEm", NULL, NULL, "part 1 is not valid base64url"},
      {"part 2 alphabet", NULL, P1, NULL, "part 2 is not valid base64url"},
      {"part 1 truncated", NULL, "d9d9f78501" U16 "03" F16 "50e2d9", P2, "part 1 is not well-formed CBOR"},
      {"part 1 trailing", NULL, P1 "00", P2, "trailing bytes after part 1"},
      {"part 1 untagged", NULL, "8501" U16 "03" F16 N16, P2, "part 1: expected CBOR tag 55799, got an untagged item"},
      {"part 1 other tag", NULL, "d9d9f68501" U16 "03" F16 N16, P2, "part 1: expected CBOR tag 55799, got tag 55798"},
      {"part 1 not array", NULL, "d9d9f7a10101", P2, "part 1: tagged item must be an array"},
      {"part 1 four elements", NULL, "d9d9f78401" U16 "03" F16, P2, "part 1: array must have 5 elements"},
      {"message type text", NULL, "d9d9f78561" "31" U16 "03" F16 N16, P2, "part 1: message type must be an unsigned integer"},
      {"message type 2", NULL, "d9d9f78502" U16 "03" F16 N16, P2, "part 1: message type must be 1"},
      {"device UUID 15 bytes", NULL, "d9d9f785014f4961c873408c45ceb1ba7c0d99d881" "03" F16 N16, P2, "part 1: device UUID must be a 16-byte byte string"},
      {"device type bstr", NULL, "d9d9f78501" U16 "4103" F16 N16, P2, "part 1: device type must be an unsigned integer"},
      {"firmware UUID text", NULL, "d9d9f78501" U16 "03" "7030313233343536373839616263646566" N16, P2, "part 1: modem firmware UUID must be a 16-byte byte string"},
      {"nonce 17 bytes", NULL, "d9d9f78501" U16 "03" F16 "51e2d91a4bbd223b2e98fa504a728d953200", P2, "part 1: nonce must be a 16-byte byte string"},
      {"part 2 malformed", NULL, P1, "ff", "part 2 is not well-formed CBOR"},
      {"part 2 trailing", NULL, P1, P2 "f6", "trailing bytes after part 2"},
      {"part 2 other tag", NULL, P1, "d18443a10126a1044121f6" SIG, "part 2: expected CBOR tag 18 (COSE_Sign1), got tag 17"},
      {"part 2 untagged", NULL, P1, "8443a10126a1044121f6" SIG, "part 2: expected CBOR tag 18 (COSE_Sign1), got an untagged item"},
      {"part 2 not array", NULL, P1, "d2a0", "part 2: tagged item must be an array"},
      {"part 2 three elements", NULL, P1, "d28343a10126a1044121" SIG, "part 2: array must have 4 elements"},
      {"protected not bstr", NULL, P1, "d284a10126a1044121f6" SIG, "part 2: protected header must be a byte string"},
      {"protected garbage", NULL, P1, "d28443a101ffa1044121f6" SIG, "part 2: protected header is not well-formed CBOR"},
      {"protected trailing", NULL, P1, "d28444a1012600a1044121f6" SIG, "part 2: trailing bytes in protected header"},
      {"protected not map", NULL, P1, "d284438201" "26a1044121f6" SIG, "part 2: protected header must be a map"},
      {"protected extra label", NULL, P1, "d28445a201260401a1044121f6" SIG, "part 2: protected header must hold exactly the algorithm"},
      {"protected other alg", NULL, P1, "d28444a1013822a1044121f6" SIG, "part 2: protected header algorithm must be -7 (ES256)"},
      {"unprotected not map", NULL, P1, "d28443a1012680f6" SIG, "part 2: unprotected header must be a map"},
      {"unprotected empty", NULL, P1, "d28443a10126a0f6" SIG, "part 2: unprotected header must hold the key id"},
      {"unprotected other label", NULL, P1, "d28443a10126a1054121f6" SIG, "part 2: unprotected header may hold only the key id"},
      {"kid text", NULL, P1, "d28443a10126a1046121f6" SIG, "part 2: key id must be a byte string of 1 to 16 bytes"},
      {"payload present", NULL, P1, "d28443a10126a10441214100" SIG, "part 2: payload must be nil (detached)"},
      {"signature text", NULL, P1, "d28443a10126a1044121f66100", "part 2: signature must be a byte string"},
      {"signature 63 bytes", NULL, P1, "d28443a10126a1044121f6583f" "e38aded93c24f6d08fdeef612530be0da5e115a723e1e45bcef47715b2ea98abbd627965f8cbb49b0ff91e42f4c24db4c1e464464d8c8d5b98c68c2c89d959", "part 2: signature must be 64 bytes"},
  };
  size_t n = sizeof cases / sizeof cases[0];
  char msgs[64][200];
  cr_assert_leq(n, 64);
  for (size_t i = 0; i < n; i++) {
    const char *tok = cases[i].token;
    char buf[4096];
    if (!tok) {
      if (cases[i].p2) {
        tok = make_token(cases[i].p1, cases[i].p2);
      } else {
        /* Part 2 with a '+' in it. */
        snprintf(buf, sizeof buf, "%s", make_token(cases[i].p1, "f6"));
        strcat(buf, "+A");
        tok = buf;
      }
    }
    attest_token t;
    msgs[i][0] = '\0';
    cr_assert_eq(attest_decode(tok, strlen(tok), &t, msgs[i], sizeof msgs[i]), -1, "%s: accepted", cases[i].name);
    cr_assert(strstr(msgs[i], cases[i].expect), "%s: message \"%s\" lacks \"%s\"", cases[i].name, msgs[i], cases[i].expect);
  }
  /* Distinct defects, distinct sentences (two cases share a defect on purpose). */
  size_t distinct = 0;
  for (size_t i = 0; i < n; i++) {
    int seen = 0;
    for (size_t j = 0; j < i; j++) seen |= strcmp(msgs[i], msgs[j]) == 0;
    distinct += !seen;
  }
  cr_assert_geq(distinct, n - 1, "only %zu distinct messages for %zu cases", distinct, n);
}

Test(attest, no_crash_on_hostile_cbor)
{
  attest_token t;
  char why[200];
  /* A 2^61-element array head, a deep nest, an indefinite string with a wrong chunk. */
  const char *hostile[] = {"d9d9f79b2000000000000000", "d9d9f7818181818181818181818181818181818181", "d9d9f75f6100ff", "d9d9f7"};
  for (size_t i = 0; i < sizeof hostile / sizeof hostile[0]; i++) {
    const char *tok = make_token(hostile[i], P2);
    cr_assert_eq(attest_decode(tok, strlen(tok), &t, why, sizeof why), -1);
    cr_assert(strstr(why, "part 1"), "%s", why);
  }
  cr_assert_eq(attest_decode(NULL, 5, &t, why, sizeof why), -1);
  cr_assert_eq(attest_decode("a.b", 3, &t, NULL, 0), -1);
}

/* attest_decode and attest_decode_general (no fast path) give the same result, token and
 * message, for the modem's exact encoding, for its near variants, and for every one-byte
 * change to it (fuzz/fuzz_attest.c does the same for arbitrary input). */
static void assert_same(const char *tok, const char *what)
{
  attest_token a, g;
  char wa[200] = "", wg[200] = "";
  int ra = attest_decode(tok, strlen(tok), &a, wa, sizeof wa);
  int rg = attest_decode_general(tok, strlen(tok), &g, wg, sizeof wg);
  cr_assert_eq(ra, rg, "%s: fast %d (%s), general %d (%s)", what, ra, wa, rg, wg);
  if (ra == 0)
    cr_assert(memcmp(&a, &g, sizeof a) == 0, "%s: different tokens", what);
  else
    cr_assert_str_eq(wa, wg, "%s", what);
}

Test(attest, fast_path_matches_the_general_decoder)
{
  assert_same(make_token(P1, P2), "canonical");
  assert_same(make_token("d9d9f78501" U16 "17" F16 N16, P2), "device type 23");
  assert_same(make_token("d9d9f78501" U16 "1818" F16 N16, P2), "device type 24, two bytes");
  assert_same(make_token("d9d9f78501" U16 "1803" F16 N16, P2), "device type 3, two bytes");
  assert_same(make_token(P1, "d28443a10126a104422122f6" SIG), "two-byte key id");
  assert_same(make_token(P1, "d28443a10126a0f6" SIG), "no key id");
  assert_same(make_token(P1 "00", P2), "trailing byte in part 1");
  assert_same(make_token(P1, P2 "00"), "trailing byte in part 2");

  uint8_t p1[128], p2[128];
  size_t n1 = unhex(P1, p1, sizeof p1), n2 = unhex(P2, p2, sizeof p2);
  char h1[260], h2[260];
  static const uint8_t flips[] = {0x01, 0x20, 0x80, 0xff};
  for (int part = 0; part < 2; part++) {
    uint8_t *p = part ? p2 : p1;
    size_t n = part ? n2 : n1;
    for (size_t i = 0; i < n; i++) {
      for (size_t f = 0; f < sizeof flips; f++) {
        p[i] ^= flips[f];
        for (size_t k = 0; k < n1; k++) snprintf(h1 + 2 * k, 3, "%02x", p1[k]);
        for (size_t k = 0; k < n2; k++) snprintf(h2 + 2 * k, 3, "%02x", p2[k]);
        char what[64];
        snprintf(what, sizeof what, "part %d byte %zu ^ 0x%02x", part + 1, i, flips[f]);
        assert_same(make_token(h1, h2), what);
        p[i] ^= flips[f];
      }
    }
  }
}
