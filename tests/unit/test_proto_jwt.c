/* Unit tests of proto/jwt: JWTs made by jwt_make parse and verify with their key only; iss
 * forms, expiry with its 60 s skew, and each malformed shape refused with its own message. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "proto/b64url.h"
#include "proto/es256.h"
#include "proto/jwt.h"

#define NOW 1800000000LL
#define UUID "50363154-3931-44f0-8022-121b6401627d"

Test(jwt, made_token_parses_and_verifies_with_its_key_only)
{
  mbedtls_pk_context k, other;
  cr_assert_eq(es256_generate(&k), 0);
  cr_assert_eq(es256_generate(&other), 0);
  char buf[1024], why[200];
  int n = jwt_make("nRF9160." UUID, "nRF9160.1aff3acb-f1a6-4764-a263-4c2646c1c654.abc", NOW, NOW + 3600, &k, buf, sizeof buf);
  cr_assert_gt(n, 0);
  cr_assert_eq((size_t)n, strlen(buf));
  jwt_device j;
  cr_assert_eq(jwt_parse(buf, (size_t)n, NOW, &j, why, sizeof why), 0, "%s", why);
  cr_assert_str_eq(j.device_uuid, UUID);
  cr_assert(j.has_exp && j.exp == NOW + 3600);
  cr_assert(j.has_iat && j.iat == NOW);
  cr_assert_str_eq(j.jti, "nRF9160.1aff3acb-f1a6-4764-a263-4c2646c1c654.abc");
  cr_assert_eq(j.signing_input, buf);
  cr_assert_eq(j.signing_input_len, (size_t)(strrchr(buf, '.') - buf));
  cr_assert_eq(jwt_verify(&j, &k), 0);
  cr_assert_eq(jwt_verify(&j, &other), -1);
  j.signature[0] ^= 1;
  cr_assert_eq(jwt_verify(&j, &k), -1);

  /* Omitted claims, random signature. */
  n = jwt_make(UUID, NULL, 0, 0, NULL, buf, sizeof buf);
  cr_assert_gt(n, 0);
  cr_assert_eq(jwt_parse(buf, (size_t)n, NOW, &j, why, sizeof why), 0, "%s", why);
  cr_assert(!j.has_exp && !j.has_iat && j.jti[0] == '\0');
  cr_assert_eq(jwt_verify(&j, &k), -1);
  cr_assert_eq(jwt_make(UUID, NULL, 0, 0, NULL, buf, 40), -1, "too small a buffer");
  mbedtls_pk_free(&k);
  mbedtls_pk_free(&other);
}

Test(jwt, iss_forms_and_case)
{
  char buf[1024], why[200];
  jwt_device j;
  const char *iss[] = {"nRF9161.50363154-3931-44F0-8022-121B6401627D", "50363154-3931-44f0-8022-121b6401627d", ("a.b.c." UUID)};
  for (size_t i = 0; i < 3; i++) {
    int n = jwt_make(iss[i], NULL, 0, 0, NULL, buf, sizeof buf);
    cr_assert_eq(jwt_parse(buf, (size_t)n, NOW, &j, why, sizeof why), 0, "%s: %s", iss[i], why);
    cr_assert_str_eq(j.device_uuid, UUID);
  }
  const char *bad[] = {"nRF9160", "nRF9160.50363154-3931-44f0-8022-121b6401627", "nRF9160." UUID ".x", "", "nRF9160.50363154x3931-44f0-8022-121b6401627d"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    int n = jwt_make(bad[i], NULL, 0, 0, NULL, buf, sizeof buf);
    cr_assert_eq(jwt_parse(buf, (size_t)n, NOW, &j, why, sizeof why), -1, "%s accepted", bad[i]);
    cr_assert(strstr(why, "iss does not end in a device UUID"), "%s", why);
  }
}

Test(jwt, expiry_with_skew)
{
  char buf[1024], why[200];
  jwt_device j;
  int n = jwt_make(UUID, NULL, 0, NOW - 60, NULL, buf, sizeof buf);
  cr_assert_eq(jwt_parse(buf, (size_t)n, NOW, &j, why, sizeof why), 0, "60 s late is within the skew: %s", why);
  n = jwt_make(UUID, NULL, 0, NOW - 61, NULL, buf, sizeof buf);
  cr_assert_eq(jwt_parse(buf, (size_t)n, NOW, &j, why, sizeof why), -1);
  cr_assert(strstr(why, "JWT expired"), "%s", why);
}

/* A JWT from literal JSON parts and a signature of siglen bytes. */
static char *craft(const char *header, const char *payload, size_t siglen)
{
  static char out[8192];
  uint8_t sig[100] = {0};
  int a = b64url_encode((const uint8_t *)header, strlen(header), out, sizeof out);
  out[a++] = '.';
  int b = b64url_encode((const uint8_t *)payload, strlen(payload), out + a, sizeof out - (size_t)a);
  a += b;
  out[a++] = '.';
  b64url_encode(sig, siglen, out + a, sizeof out - (size_t)a);
  return out;
}

#define HDR "{\"alg\":\"ES256\",\"typ\":\"JWT\"}"
#define PL "{\"iss\":\"nRF9160." UUID "\"}"

Test(jwt, each_defect_has_its_own_message)
{
  static char too_long[JWT_MAX_LEN + 2];
  memset(too_long, 'A', sizeof too_long - 1);
  struct { const char *name, *jwt, *expect; } cases[] = {
      {"empty", "", "JWT is empty"},
      {"too long", too_long, "JWT longer than 4096 characters"},
      {"two parts", "eyJh.eyJp", "three parts"},
      {"four parts", "a.b.c.d", "three parts"},
      {"empty header", ".eyJp.AAAA", "JWT header is empty"},
      {"empty payload", "eyJh..AAAA", "JWT payload is empty"},
      {"empty signature", "eyJh.eyJp.", "JWT signature is empty"},
      {"header base64", "ey+h.eyJp.AAAA", "JWT header is not valid base64url"},
      {"header not JSON", NULL, "JWT header is not a JSON object"},
      {"header array", NULL, "JWT header is not a JSON object"},
      {"no alg", NULL, "JWT header has no alg"},
      {"alg number", NULL, "JWT header alg must be a string"},
      {"alg HS256", NULL, "JWT header alg must be ES256"},
      {"alg none", NULL, "JWT header alg must be ES256"},
      {"typ number", NULL, "JWT header typ must be a string"},
      {"payload not object", NULL, "JWT payload is not a JSON object"},
      {"no iss", NULL, "JWT payload has no iss"},
      {"iss number", NULL, "JWT iss must be a string"},
      {"exp string", NULL, "JWT exp must be a number of seconds"},
      {"iat string", NULL, "JWT iat must be a number of seconds"},
      {"jti number", NULL, "JWT jti must be a string"},
      {"jti too long", NULL, "JWT jti longer than 127 characters"},
      {"signature 63", NULL, "JWT signature must be 64 bytes, got 63"},
      {"signature 72", NULL, "JWT signature must be 64 bytes, got 72"},
      {"duplicate key", NULL, "JWT payload is not a JSON object"},
  };
  char longjti[300];
  snprintf(longjti, sizeof longjti, "{\"iss\":\"" UUID "\",\"jti\":\"%0200d\"}", 7);
  const char *crafted[][3] = {
      {"header not JSON", "{alg", PL}, {"header array", "[1]", PL}, {"no alg", "{\"typ\":\"JWT\"}", PL},
      {"alg number", "{\"alg\":7}", PL}, {"alg HS256", "{\"alg\":\"HS256\"}", PL}, {"alg none", "{\"alg\":\"none\"}", PL},
      {"typ number", "{\"alg\":\"ES256\",\"typ\":1}", PL}, {"payload not object", HDR, "\"x\""},
      {"no iss", HDR, "{\"sub\":\"" UUID "\"}"}, {"iss number", HDR, "{\"iss\":5}"},
      {"exp string", HDR, "{\"iss\":\"" UUID "\",\"exp\":\"soon\"}"}, {"iat string", HDR, "{\"iss\":\"" UUID "\",\"iat\":\"x\"}"},
      {"jti number", HDR, "{\"iss\":\"" UUID "\",\"jti\":3}"}, {"jti too long", HDR, longjti},
      {"duplicate key", HDR, "{\"iss\":\"" UUID "\",\"iss\":\"" UUID "\"}"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char jwtbuf[8192];
    const char *jwt = cases[i].jwt;
    if (!jwt) {
      if (strcmp(cases[i].name, "signature 63") == 0) {
        jwt = craft(HDR, PL, 63);
      } else if (strcmp(cases[i].name, "signature 72") == 0) {
        jwt = craft(HDR, PL, 72);
      } else {
        for (size_t k = 0; k < sizeof crafted / sizeof crafted[0]; k++)
          if (strcmp(crafted[k][0], cases[i].name) == 0) jwt = craft(crafted[k][1], crafted[k][2], 64);
      }
      cr_assert(jwt, "no JWT for %s", cases[i].name);
      snprintf(jwtbuf, sizeof jwtbuf, "%s", jwt);
      jwt = jwtbuf;
    }
    jwt_device j;
    char why[200] = "";
    cr_assert_eq(jwt_parse(jwt, strlen(jwt), NOW, &j, why, sizeof why), -1, "%s accepted", cases[i].name);
    cr_assert(strstr(why, cases[i].expect), "%s: \"%s\" lacks \"%s\"", cases[i].name, why, cases[i].expect);
  }
  /* Sanity: the crafted good one parses, with a real-valued exp. */
  const char *ok = craft(HDR, "{\"iss\":\"" UUID "\",\"exp\":1800000000.5,\"iat\":1e9}", 64);
  jwt_device j;
  char why[200];
  cr_assert_eq(jwt_parse(ok, strlen(ok), NOW, &j, why, sizeof why), 0, "%s", why);
  cr_assert_eq(j.exp, NOW);
  ok = craft(HDR, "{\"iss\":\"" UUID "\",\"exp\":1e300}", 64);
  cr_assert_eq(jwt_parse(ok, strlen(ok), NOW, &j, why, sizeof why), -1, "exp out of range");
}
