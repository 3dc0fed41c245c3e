/* Registered device identities through the real binary (docs/control-api.md §2,
 * docs/device-protocol.md §4.3): the control calls and their validation, and what a registered
 * key does — tokens and JWTs of that device must verify, on the owner API (400/40003,
 * nothing stored) and on the device API over every transport (403 / 4.03) — and what
 * --strict-identity does to devices with no registered key. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness_device.h"
#include "proto/attest.h"
#include "proto/es256.h"
#include "proto/jwt.h"

#include <mbedtls/ecp.h>

#define KEY "identity-team"

static mock m;
static void start(void) { mock_start(&m, NULL); }
static void stop(void) { mock_stop(&m); }

TestSuite(identities, .init = start, .fini = stop, .timeout = 60);

/* A device of the tests: its id and an identity key pair. */
typedef struct {
  uint8_t id[16];
  char uuid[37];
  mbedtls_pk_context key;
  char pem[512];  /* public key PEM */
} device;

static void device_new(device *d) {
  cr_assert_eq(es256_rng(NULL, d->id, 16), 0);
  d->id[6] = (d->id[6] & 0x0f) | 0x40;
  d->id[8] = (d->id[8] & 0x3f) | 0x80;
  attest_uuid_format(d->id, d->uuid);
  cr_assert_eq(es256_generate(&d->key), 0);
  cr_assert(es256_key_to_pem(&d->key, 0, d->pem, sizeof d->pem) > 0);
}

/* An attestation token of d signed with key (d's own, or another). */
static void token_of(device *d, mbedtls_pk_context *key, char *out, size_t n) {
  uint8_t fw[16], nonce[16];
  es256_rng(NULL, fw, 16);
  es256_rng(NULL, nonce, 16);
  cr_assert(attest_encode(d->id, 6, fw, nonce, key, out, n) > 0);
}

static void jwt_of(device *d, mbedtls_pk_context *key, char *out, size_t n) {
  char iss[64];
  snprintf(iss, sizeof iss, "nrf-352656100000001.%s", d->uuid);
  int64_t now = (int64_t)time(NULL);
  cr_assert(jwt_make(iss, "nrf-352656100000001.x.1", now, now + 3600, key, out, n) > 0);
}

static char *identity_body(const device *d, const char *imei) {
  json_t *o = json_pack("{s:s, s:s}", "deviceId", d->uuid, "publicKeyPem", d->pem);
  if (imei) json_object_set_new(o, "imei", json_string(imei));
  json_object_set_new(o, "deviceType", json_string("nrf9151_LACA"));
  char *s = json_dumps(o, JSON_COMPACT);
  json_decref(o);
  return s;
}

static http_resp *control(const char *method, const char *path, const char *body) {
  return owner(&m, NULL, method, path, body);
}

static void register_identity(const device *d, const char *imei) {
  char *body = identity_body(d, imei);
  http_resp *r = control("POST", "/_mock/identities", body);
  cr_assert_eq(r->status, 201, "%s", r->body);
  http_resp_free(r);
  free(body);
}

static http_resp *claim(const char *token) {
  char body[1400];
  snprintf(body, sizeof body, "{\"claimToken\":\"%s\"}", token);
  return owner(&m, KEY, "POST", "/v1/claimed-devices", body);
}

Test(identities, register_list_get_replace_delete) {
  device d;
  device_new(&d);
  char *body = identity_body(&d, "352656100000001");
  http_resp *r = control("POST", "/_mock/identities", body);
  free(body);
  cr_assert_eq(r->status, 201, "%s", r->body);
  cr_assert_str_eq(jstr(r->json, "deviceId"), d.uuid);
  cr_assert_str_eq(jstr(r->json, "publicKeyPem"), d.pem);
  cr_assert_str_eq(jstr(r->json, "imei"), "352656100000001");
  cr_assert_str_eq(jstr(r->json, "deviceType"), "nrf9151_LACA");
  cr_assert(strlen(jstr(r->json, "createdAt")) >= 20, "%s", r->body);
  http_resp_free(r);

  r = control("GET", "/_mock/identities", NULL);
  cr_assert_eq(r->status, 200);
  cr_assert_eq(jint(r->json, "total"), 1);
  cr_assert_str_eq(jstr(json_array_get(json_object_get(r->json, "items"), 0), "deviceId"), d.uuid);
  http_resp_free(r);

  /* The id is matched without regard to case. */
  char path[128], upper[37];
  for (int i = 0; i < 37; i++) upper[i] = (char)(d.uuid[i] >= 'a' && d.uuid[i] <= 'f' ? d.uuid[i] - 32 : d.uuid[i]);
  snprintf(path, sizeof path, "/_mock/identities/%s", upper);
  r = control("GET", path, NULL);
  cr_assert_eq(r->status, 200, "%s", r->body);
  cr_assert_str_eq(jstr(r->json, "deviceId"), d.uuid);
  http_resp_free(r);

  /* The same key again is fine (it updates what was registered with it). */
  body = identity_body(&d, "352656100000001");
  r = control("POST", "/_mock/identities", body);
  free(body);
  cr_assert_eq(r->status, 201, "%s", r->body);
  http_resp_free(r);
  /* Another key for the same device is a re-keying: refused unless ?replace=true
   * (docs/control-api.md §5), and the first key stays. */
  device other;
  device_new(&other);
  memcpy(other.id, d.id, 16);
  snprintf(other.uuid, sizeof other.uuid, "%s", d.uuid);
  body = identity_body(&other, NULL);
  expect_error_free(control("POST", "/_mock/identities", body), 409, 40902, "replace=true");
  expect_error_free(control("POST", "/_mock/identities?replace=false", body), 409, 40902, "replace=true");
  expect_error_free(control("POST", "/_mock/identities?replace=yes", body), 400, 40006, "replace");
  snprintf(path, sizeof path, "/_mock/identities/%s", d.uuid);
  r = control("GET", path, NULL);
  cr_assert_str_eq(jstr(r->json, "publicKeyPem"), d.pem, "the first key stays");
  http_resp_free(r);
  r = control("POST", "/_mock/identities?replace=true", body);
  free(body);
  cr_assert_eq(r->status, 201, "%s", r->body);
  http_resp_free(r);
  r = control("GET", path, NULL);
  cr_assert_str_eq(jstr(r->json, "publicKeyPem"), other.pem);
  cr_assert_null(json_object_get(r->json, "imei"), "imei left out when not registered: %s", r->body);
  http_resp_free(r);
  r = control("GET", "/_mock/identities", NULL);
  cr_assert_eq(jint(r->json, "total"), 1, "a replacement is no second identity");
  http_resp_free(r);

  r = control("DELETE", path, NULL);
  cr_assert_eq(r->status, 204, "%s", r->body);
  http_resp_free(r);
  expect_error_free(control("GET", path, NULL), 404, 40400, NULL);
  expect_error_free(control("DELETE", path, NULL), 404, 40400, NULL);
  expect_error_free(control("GET", "/_mock/identities/not-a-uuid", NULL), 404, 40400, NULL);
  mbedtls_pk_free(&d.key);
  mbedtls_pk_free(&other.key);
}

Test(identities, validation_names_the_field) {
  device d;
  device_new(&d);
  char body[2048];
  json_t *pem = json_string(d.pem);
  char *pem_json = json_dumps(pem, JSON_ENCODE_ANY);
  json_decref(pem);
  expect_error_free(control("POST", "/_mock/identities", "{"), 400, 40000, NULL);
  expect_error_free(control("POST", "/_mock/identities", "{}"), 400, 40001, NULL);
  snprintf(body, sizeof body, "{\"publicKeyPem\":%s}", pem_json);
  expect_error_free(control("POST", "/_mock/identities", body), 400, 40001, NULL);
  snprintf(body, sizeof body, "{\"deviceId\":\"abc\",\"publicKeyPem\":%s}", pem_json);
  expect_error_free(control("POST", "/_mock/identities", body), 400, 40004, NULL);
  snprintf(body, sizeof body, "{\"deviceId\":42,\"publicKeyPem\":%s}", pem_json);
  expect_error_free(control("POST", "/_mock/identities", body), 400, 40004, NULL);
  snprintf(body, sizeof body, "{\"deviceId\":\"%s\"}", d.uuid);
  expect_error_free(control("POST", "/_mock/identities", body), 400, 40001, NULL);
  snprintf(body, sizeof body, "{\"deviceId\":\"%s\",\"publicKeyPem\":\"not a key\"}", d.uuid);
  expect_error_free(control("POST", "/_mock/identities", body), 400, 40004, NULL);
  snprintf(body, sizeof body, "{\"deviceId\":\"%s\",\"publicKeyPem\":7}", d.uuid);
  expect_error_free(control("POST", "/_mock/identities", body), 400, 40004, NULL);
  /* A private key is not what the field asks for. */
  char priv[512];
  cr_assert(es256_key_to_pem(&d.key, 1, priv, sizeof priv) > 0);
  json_t *o = json_pack("{s:s, s:s}", "deviceId", d.uuid, "publicKeyPem", priv);
  char *text = json_dumps(o, JSON_COMPACT);
  expect_error_free(control("POST", "/_mock/identities", text), 400, 40004, NULL);
  free(text);
  json_decref(o);
  /* A P-384 key is an EC key on the wrong curve. */
  mbedtls_pk_context k384;
  unsigned char p384[512];
  mbedtls_pk_init(&k384);
  cr_assert_eq(mbedtls_pk_setup(&k384, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)), 0);
  cr_assert_eq(mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP384R1, mbedtls_pk_ec(k384), es256_rng, NULL), 0);
  cr_assert_eq(mbedtls_pk_write_pubkey_pem(&k384, p384, sizeof p384), 0);
  mbedtls_pk_free(&k384);
  o = json_pack("{s:s, s:s}", "deviceId", d.uuid, "publicKeyPem", (const char *)p384);
  text = json_dumps(o, JSON_COMPACT);
  expect_error_free(control("POST", "/_mock/identities", text), 400, 40004, NULL);
  free(text);
  json_decref(o);
  snprintf(body, sizeof body, "{\"deviceId\":\"%s\",\"publicKeyPem\":%s,\"imei\":\"35x\"}", d.uuid, pem_json);
  expect_error_free(control("POST", "/_mock/identities", body), 400, 40004, NULL);
  snprintf(body, sizeof body, "{\"deviceId\":\"%s\",\"publicKeyPem\":%s,\"deviceType\":6}", d.uuid, pem_json);
  expect_error_free(control("POST", "/_mock/identities", body), 400, 40004, NULL);
  http_resp *r = control("GET", "/_mock/identities", NULL);
  cr_assert_eq(jint(r->json, "total"), 0, "nothing registered by refused calls");
  http_resp_free(r);
  free(pem_json);
  mbedtls_pk_free(&d.key);
}

Test(identities, reset_forgets_identities) {
  device d;
  device_new(&d);
  register_identity(&d, NULL);
  http_resp *r = control("POST", "/_mock/reset", NULL);
  cr_assert_eq(r->status, 204);
  http_resp_free(r);
  r = control("GET", "/_mock/identities", NULL);
  cr_assert_eq(jint(r->json, "total"), 0, "%s", r->body);
  http_resp_free(r);
  mbedtls_pk_free(&d.key);
}

Test(identities, a_token_signed_by_the_registered_key_claims_and_shows_the_imei) {
  device d;
  device_new(&d);
  register_identity(&d, "352656100000001");
  char tok[1100];
  token_of(&d, &d.key, tok, sizeof tok);
  http_resp *r = claim(tok);
  cr_assert_eq(r->status, 201, "%s", r->body);
  cr_assert_str_eq(jstr(r->json, "id"), d.uuid);
  cr_assert_str_eq(jstr(r->json, "imei"), "352656100000001", "the registered IMEI shows: %s", r->body);
  http_resp_free(r);
  char path[128];
  snprintf(path, sizeof path, "/v1/claimed-devices/%s", d.uuid);
  r = owner(&m, KEY, "GET", path, NULL);
  cr_assert_str_eq(jstr(r->json, "imei"), "352656100000001");
  http_resp_free(r);
  mbedtls_pk_free(&d.key);
}

Test(identities, a_token_signed_by_another_key_is_40003_and_nothing_is_stored) {
  device d, thief;
  device_new(&d);
  device_new(&thief);
  register_identity(&d, NULL);
  char tok[1100], path[128];
  token_of(&d, &thief.key, tok, sizeof tok);
  expect_error_free(claim(tok), 400, 40003, NULL);
  /* An unsigned (random) signature is no better. */
  token_of(&d, NULL, tok, sizeof tok);
  expect_error_free(claim(tok), 400, 40003, NULL);
  snprintf(path, sizeof path, "/v1/claimed-devices/%s", d.uuid);
  expect_error_free(owner(&m, KEY, "GET", path, NULL), 404, 40400, NULL);
  /* The dry run judges the same way. */
  char body[1400];
  snprintf(body, sizeof body, "{\"claimToken\":\"%s\"}", tok);
  expect_error_free(owner(&m, KEY, "POST", "/v1/claimed-devices?dryrun=true", body), 400, 40003, NULL);
  /* Without a registered key the same token is taken on trust. */
  snprintf(path, sizeof path, "/_mock/identities/%s", d.uuid);
  http_resp *r = control("DELETE", path, NULL);
  http_resp_free(r);
  r = claim(tok);
  cr_assert_eq(r->status, 201, "%s", r->body);
  http_resp_free(r);
  mbedtls_pk_free(&d.key);
  mbedtls_pk_free(&thief.key);
}

/* A claimed device with a registered key: its own JWT is let in, another key's is 403 /
 * 4.03, whatever the transport. */
static void device_api_checks_the_signature(dev_transport t) {
  device d, thief;
  device_new(&d);
  device_new(&thief);
  register_identity(&d, NULL);
  char tok[1100], jwt[1200];
  token_of(&d, &d.key, tok, sizeof tok);
  http_resp *r = claim(tok);
  cr_assert_eq(r->status, 201, "%s", r->body);
  http_resp_free(r);
  dev_client c;
  jwt_of(&d, &d.key, jwt, sizeof jwt);
  dev_open(&c, &m, t, jwt);
  cr_assert_eq(dev_fetch(&c, "after=&rxMaxSize=2048&txMaxSize=2048&limit=10", NULL, NULL), DEV_NOTHING, "%s: own key (status %d)",
               dev_transport_name(t), c.status);
  dev_close(&c);
  jwt_of(&d, &thief.key, jwt, sizeof jwt);
  dev_open(&c, &m, t, jwt);
  cr_assert_eq(dev_fetch(&c, "after=&rxMaxSize=2048&txMaxSize=2048&limit=10", NULL, NULL), DEV_FORBIDDEN,
               "%s: another key (status %d)", dev_transport_name(t), c.status);
  dev_close(&c);
  /* The attestation-token form of older clients is held to the same key. */
  char cred[1200];
  token_of(&d, &thief.key, tok, sizeof tok);
  snprintf(cred, sizeof cred, "att.%s", tok);
  dev_open(&c, &m, t, cred);
  cr_assert_eq(dev_fetch(&c, "after=", NULL, NULL), DEV_FORBIDDEN, "%s: att. with another key (status %d)",
               dev_transport_name(t), c.status);
  dev_close(&c);
  mbedtls_pk_free(&d.key);
  mbedtls_pk_free(&thief.key);
}

Test(identities, device_api_checks_the_signature_http) { device_api_checks_the_signature(DEV_HTTP); }
Test(identities, device_api_checks_the_signature_https) { device_api_checks_the_signature(DEV_HTTPS); }
Test(identities, device_api_checks_the_signature_coap) { device_api_checks_the_signature(DEV_COAP); }
Test(identities, device_api_checks_the_signature_coaps) { device_api_checks_the_signature(DEV_COAPS); }

static void start_strict(void) { mock_start(&m, "--strict-identity", NULL); }

TestSuite(identities_strict, .init = start_strict, .fini = stop, .timeout = 60);

Test(identities_strict, unregistered_devices_are_refused_everywhere) {
  device d, known;
  device_new(&d);
  device_new(&known);
  char tok[1100], jwt[1200], path[128];
  token_of(&d, &d.key, tok, sizeof tok);
  expect_error_free(claim(tok), 400, 40003, NULL);
  snprintf(path, sizeof path, "/v1/claimed-devices/%s", d.uuid);
  expect_error_free(owner(&m, KEY, "GET", path, NULL), 404, 40400, NULL);

  /* A registered device claims and talks; once its key is withdrawn it is refused. */
  register_identity(&known, NULL);
  token_of(&known, &known.key, tok, sizeof tok);
  http_resp *r = claim(tok);
  cr_assert_eq(r->status, 201, "%s", r->body);
  http_resp_free(r);
  jwt_of(&known, &known.key, jwt, sizeof jwt);
  for (dev_transport t = DEV_HTTP; t <= DEV_COAPS; t++) {
    dev_client c;
    dev_open(&c, &m, t, jwt);
    cr_assert_eq(dev_fetch(&c, "after=", NULL, NULL), DEV_NOTHING, "%s (status %d)", dev_transport_name(t), c.status);
    dev_close(&c);
  }
  snprintf(path, sizeof path, "/_mock/identities/%s", known.uuid);
  r = control("DELETE", path, NULL);
  cr_assert_eq(r->status, 204);
  http_resp_free(r);
  for (dev_transport t = DEV_HTTP; t <= DEV_COAPS; t++) {
    dev_client c;
    dev_open(&c, &m, t, jwt);
    cr_assert_eq(dev_fetch(&c, "after=", NULL, NULL), DEV_FORBIDDEN, "%s (status %d)", dev_transport_name(t), c.status);
    dev_close(&c);
  }
  mbedtls_pk_free(&d.key);
  mbedtls_pk_free(&known.key);
}

/* Fixtures check their claim tokens' signatures before the store is taken
 * (docs/control-api.md §5), against the key the same document registers, else the one
 * stored: the verdicts are the ones a claim call would give. */
Test(identities, fixtures_check_tokens_against_the_keys_they_register) {
  device a, b, thief;
  device_new(&a);
  device_new(&b);
  device_new(&thief);
  register_identity(&b, NULL); /* b's key is stored before; a's comes with the document */
  char ta[1100], tb[1100];
  token_of(&a, &a.key, ta, sizeof ta);
  token_of(&b, &b.key, tb, sizeof tb);
  json_t *doc = json_pack("{s:[{s:s, s:s}], s:[{s:s, s:s}, {s:s, s:s}]}", "identities", "deviceId", a.uuid, "publicKeyPem",
                          a.pem, "claimedDevices", "team", KEY, "claimToken", ta, "team", KEY, "claimToken", tb);
  char *text = json_dumps(doc, JSON_COMPACT);
  http_resp *r = control("POST", "/_mock/fixtures", text);
  cr_assert_eq(r->status, 201, "both tokens verify: %s", r->body);
  http_resp_free(r);
  free(text);
  json_decref(doc);
  /* A token signed by another key than the one the document registers: 40003, nothing loaded. */
  device c;
  device_new(&c);
  char tc[1100];
  token_of(&c, &thief.key, tc, sizeof tc);
  doc = json_pack("{s:[{s:s, s:s}], s:[{s:s, s:s}]}", "identities", "deviceId", c.uuid, "publicKeyPem", c.pem,
                  "claimedDevices", "team", KEY, "claimToken", tc);
  text = json_dumps(doc, JSON_COMPACT);
  expect_error_free(control("POST", "/_mock/fixtures", text), 400, 40003, "claimedDevices[0]");
  free(text);
  json_decref(doc);
  char path[128];
  snprintf(path, sizeof path, "/_mock/identities/%s", c.uuid);
  expect_error_free(control("GET", path, NULL), 404, 40400, NULL);
  mbedtls_pk_free(&a.key);
  mbedtls_pk_free(&b.key);
  mbedtls_pk_free(&c.key);
  mbedtls_pk_free(&thief.key);
}
