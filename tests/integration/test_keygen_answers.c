/* What the server checks in a device's %KEYGEN answer, through the real binary
 * (docs/keygen.md, docs/device-protocol.md §4.4). Always: the structure, the digest of
 * the body and the payload id against what the command asked for. With the device's
 * identity key registered: the COSE signature, the device UUID and the sec tag. A defect
 * makes the command FAILED with errorResponse cmeError 0 and a message naming it, later
 * commands CANCELLED and the device ERROR; nothing is onboarded. The answers are made
 * here with a key of the test's own, as a device would make them. */
#include <criterion/criterion.h>
#include <mbedtls/sha256.h>
#include <mbedtls/x509_csr.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness_scenarios.h"
#include "proto/attest.h"
#include "proto/b64url.h"
#include "proto/cose.h"
#include "proto/dcbor.h"
#include "proto/es256.h"
#include "proto/keygen.h"

#define SEC_TAG 16842753

static mock m;
static void start(void) { mock_start(&m, "--https-port", "-1", "--coaps-port", "-1", NULL); }
static void stop(void) { cr_assert_eq(mock_stop(&m), 0); }

TestSuite(keygen_answers, .init = start, .fini = stop, .timeout = 60);

typedef struct {
  uint8_t id[16];
  char uuid[37], cred[1200];
  mbedtls_pk_context identity;
  char cak[37], fin[37]; /* the cloudAccessKeyGeneration and finished commands */
} device;

/* A device with its own identity key, registered with the mock when registered is set,
 * claimed with a token it signed, with a cloudAccessKeyGeneration and a finished queued. */
static void new_device(device *d, bool registered) {
  uint8_t fw[16], nonce[16];
  cr_assert_eq(es256_generate(&d->identity), 0);
  cr_assert_eq(es256_rng(NULL, d->id, 16), 0);
  cr_assert_eq(es256_rng(NULL, fw, 16), 0);
  cr_assert_eq(es256_rng(NULL, nonce, 16), 0);
  attest_uuid_format(d->id, d->uuid);
  if (registered) {
    char pem[512], body[1024];
    cr_assert_gt(es256_key_to_pem(&d->identity, 0, pem, sizeof pem), 0);
    json_t *j = json_pack("{s:s, s:s}", "deviceId", d->uuid, "publicKeyPem", pem);
    char *text = json_dumps(j, 0);
    snprintf(body, sizeof body, "%s", text);
    free(text);
    json_decref(j);
    http_resp *r = owner(&m, NULL, "POST", "/_mock/identities", body);
    cr_assert_eq(r->status, 201, "%s", r->body);
    http_resp_free(r);
  }
  char tok[1100], body[1300];
  cr_assert_gt(attest_encode(d->id, 6, fw, nonce, &d->identity, tok, sizeof tok), 0);
  snprintf(body, sizeof body, "{\"claimToken\":\"%s\"}", tok);
  http_resp *r = owner(&m, SC_KEY, "POST", "/v1/claimed-devices", body);
  cr_assert_eq(r->status, 201, "%s", r->body);
  http_resp_free(r);
  snprintf(d->cred, sizeof d->cred, "att.%s", tok);
  char q[64];
  snprintf(q, sizeof q, "{\"cloudAccessKeyGeneration\":{\"secTag\":%d}}", SEC_TAG);
  sc_queue(&m, d->uuid, q, d->cak);
  sc_queue(&m, d->uuid, "{\"finished\":{}}", d->fin);
}

/* A fresh CSR with subject CN=<uuid>, DER at the start of out; its length. */
static size_t new_csr(const device *d, uint8_t *out, size_t cap) {
  mbedtls_pk_context k;
  cr_assert_eq(es256_generate(&k), 0);
  mbedtls_x509write_csr w;
  mbedtls_x509write_csr_init(&w);
  mbedtls_x509write_csr_set_md_alg(&w, MBEDTLS_MD_SHA256);
  mbedtls_x509write_csr_set_key(&w, &k);
  char subject[64];
  snprintf(subject, sizeof subject, "CN=%s", d->uuid);
  cr_assert_eq(mbedtls_x509write_csr_set_subject_name(&w, subject), 0);
  unsigned char tmp[1024];
  int n = mbedtls_x509write_csr_der(&w, tmp, sizeof tmp, es256_rng, NULL);
  mbedtls_x509write_csr_free(&w);
  mbedtls_pk_free(&k);
  cr_assert(n > 0 && (size_t)n <= cap);
  memcpy(out, tmp + sizeof tmp - n, (size_t)n);
  return (size_t)n;
}

/* The modem's answer for d around der, with these attested fields, signed by key. */
static char *answer(const device *d, const uint8_t *der, size_t len, unsigned payload_id, const uint8_t id[16],
                    uint32_t sec_tag, mbedtls_pk_context *key) {
  keygen_info a = {.payload_id = payload_id, .sec_tag = sec_tag};
  memcpy(a.device_id, id ? id : d->id, 16);
  char *out = malloc(4096);
  cr_assert_gt(keygen_format(der, len, &a, key, out, 4096), 0);
  return out;
}

/* Play the device: fetch the three steps, answer the %KEYGEN with at, ack the rest. */
static void play(device *d, const char *at) {
  dev_client c;
  uint8_t *cbor;
  size_t len, n;
  dev_open(&c, &m, DEV_HTTP, d->cred);
  cr_assert_eq(dev_fetch(&c, "after=", &cbor, &len), DEV_COMMANDS, "status %d", c.status);
  dcbor_owned_command *cmds;
  char why[200];
  cr_assert_eq(dcbor_decode_commands(cbor, len, &cmds, &n, why, sizeof why), 0, "%s", why);
  free(cbor);
  cr_assert_eq(n, 3, "pre-step, %%KEYGEN, finished");
  cr_assert_str_eq(cmds[1].set_cmd, "%KEYGEN");
  dcbor_response r[] = {{cmds[0].cid, DRSP_AT, 0, "OK\r\n"}, {cmds[1].cid, DRSP_AT, 0, (char *)(uintptr_t)at},
                        {cmds[2].cid, DRSP_FINISHED_ACK, 0, NULL}};
  uint8_t *out;
  size_t outlen;
  cr_assert_eq(dcbor_encode_responses(r, 3, 0, &out, &outlen), 0);
  cr_assert_eq(dev_report(&c, out, outlen), DEV_ACCEPTED, "a report is accepted whatever it says: %d", c.status);
  free(out);
  dcbor_commands_free(cmds, n);
  dev_close(&c);
}

static http_resp *command(const device *d, const char *id) {
  char path[200];
  snprintf(path, sizeof path, "/v1/claimed-devices/%s/provisioning/%s", d->uuid, id);
  http_resp *r = owner(&m, SC_KEY, "GET", path, NULL);
  cr_assert_eq(r->status, 200, "%s", r->body);
  return r;
}

static long device_count_of(const char *uuid) {
  char path[128];
  snprintf(path, sizeof path, "/v1/devices/%s", uuid);
  http_resp *r = owner(&m, SC_KEY, "GET", path, NULL);
  long s = r->status;
  http_resp_free(r);
  return s == 200 ? 1 : 0;
}

/* The command failed with cmeError 0 and a message holding expect; the rest was
 * cancelled, the device is ERROR and not onboarded. */
static void expect_refused(device *d, const char *expect) {
  char st[24];
  http_resp *r = command(d, d->cak);
  cr_assert_str_eq(jstr(r->json, "status"), "FAILED", "%s", r->body);
  json_t *er = json_object_get(json_object_get(r->json, "response"), "errorResponse");
  cr_assert(json_is_object(er), "errorResponse: %s", r->body);
  cr_assert_eq(jint(er, "cmeError"), 0, "%s", r->body);
  cr_assert(strstr(jstr(er, "message"), expect), "the message names the defect (%s): %s", expect, r->body);
  http_resp_free(r);
  r = command(d, d->fin);
  cr_assert_str_eq(jstr(r->json, "status"), "CANCELLED", "%s", r->body);
  http_resp_free(r);
  cr_assert_str_eq(sc_device_status(&m, d->uuid, st), "ERROR");
  cr_assert_eq(device_count_of(d->uuid), 0, "not onboarded");
  mbedtls_pk_free(&d->identity);
}

static void expect_accepted(device *d) {
  char st[24];
  http_resp *r = command(d, d->cak);
  cr_assert_str_eq(jstr(r->json, "status"), "SUCCEEDED", "%s", r->body);
  http_resp_free(r);
  cr_assert_str_eq(sc_device_status(&m, d->uuid, st), "PROVISIONED");
  cr_assert_eq(device_count_of(d->uuid), 1, "onboarded");
  mbedtls_pk_free(&d->identity);
}

/* ---- a registered identity: everything is checked ---- */

Test(keygen_answers, a_registered_devices_good_answer_onboards) {
  device d;
  uint8_t der[1024];
  new_device(&d, true);
  size_t n = new_csr(&d, der, sizeof der);
  char *a = answer(&d, der, n, KEYGEN_PAYLOAD_CSR, NULL, SEC_TAG, &d.identity);
  play(&d, a);
  free(a);
  expect_accepted(&d);
}

Test(keygen_answers, another_sec_tag_is_refused) {
  device d;
  uint8_t der[1024];
  new_device(&d, true);
  size_t n = new_csr(&d, der, sizeof der);
  char *a = answer(&d, der, n, KEYGEN_PAYLOAD_CSR, NULL, 7, &d.identity);
  play(&d, a);
  free(a);
  expect_refused(&d, "sec tag 7, not the command's (16842753)");
}

Test(keygen_answers, another_device_uuid_is_refused) {
  device d;
  uint8_t der[1024], other[16];
  new_device(&d, true);
  memcpy(other, d.id, 16);
  other[15] ^= 1;
  size_t n = new_csr(&d, der, sizeof der);
  char *a = answer(&d, der, n, KEYGEN_PAYLOAD_CSR, other, SEC_TAG, &d.identity);
  play(&d, a);
  free(a);
  expect_refused(&d, "not this device");
}

Test(keygen_answers, a_signature_by_another_key_is_refused) {
  device d;
  uint8_t der[1024];
  mbedtls_pk_context other;
  new_device(&d, true);
  cr_assert_eq(es256_generate(&other), 0);
  size_t n = new_csr(&d, der, sizeof der);
  char *a = answer(&d, der, n, KEYGEN_PAYLOAD_CSR, NULL, SEC_TAG, &other);
  play(&d, a);
  free(a);
  mbedtls_pk_free(&other);
  expect_refused(&d, "signature does not verify against the registered identity key");
}

/* ---- no identity key: structure, digest and payload id only ---- */

Test(keygen_answers, without_an_identity_uuid_and_sec_tag_are_not_checked) {
  device d;
  uint8_t der[1024], other[16] = {1};
  new_device(&d, false);
  size_t n = new_csr(&d, der, sizeof der);
  char *a = answer(&d, der, n, KEYGEN_PAYLOAD_CSR, other, 7, NULL);
  play(&d, a);
  free(a);
  expect_accepted(&d);
}

Test(keygen_answers, a_digest_of_another_body_is_refused) {
  device d;
  uint8_t der[1024], der2[1024];
  new_device(&d, false);
  size_t n = new_csr(&d, der, sizeof der), n2 = new_csr(&d, der2, sizeof der2);
  char *a = answer(&d, der, n, KEYGEN_PAYLOAD_CSR, NULL, SEC_TAG, NULL);
  /* Swap the body for another CSR's, keeping the COSE part. */
  char *b = malloc(4096), *dot = strchr(a, '.');
  int k = snprintf(b, 4096, "%%KEYGEN: \"");
  k += b64url_encode(der2, n2, b + k, 4096 - (size_t)k);
  snprintf(b + k, 4096 - (size_t)k, "%s", dot);
  play(&d, b);
  free(a);
  free(b);
  expect_refused(&d, "SHA-256 digest does not match");
}

Test(keygen_answers, the_older_bare_digest_payload_is_refused) {
  device d;
  uint8_t der[1024], hash[32], cose[256];
  static const uint8_t kid = 0x21;
  new_device(&d, false);
  size_t n = new_csr(&d, der, sizeof der);
  cr_assert_eq(mbedtls_sha256_ret(der, n, hash, 0), 0);
  int cn = cose_sign1_encode(hash, 32, 0, &kid, 1, NULL, cose, sizeof cose);
  cr_assert_gt(cn, 0);
  char *a = malloc(4096);
  int k = snprintf(a, 4096, "%%KEYGEN: \"");
  k += b64url_encode(der, n, a + k, 4096 - (size_t)k);
  a[k++] = '.';
  k += b64url_encode(cose, (size_t)cn, a + k, 4096 - (size_t)k);
  snprintf(a + k, 4096 - (size_t)k, "\"\r\nOK\r\n");
  play(&d, a);
  free(a);
  expect_refused(&d, "expected CBOR tag 55799");
}

Test(keygen_answers, a_public_key_payload_id_for_a_csr_is_refused) {
  device d;
  uint8_t der[1024];
  new_device(&d, false);
  size_t n = new_csr(&d, der, sizeof der);
  char *a = answer(&d, der, n, KEYGEN_PAYLOAD_PUBKEY, NULL, SEC_TAG, NULL);
  play(&d, a);
  free(a);
  expect_refused(&d, "payload id is 8, but the command asked for a CSR (9)");
}

Test(keygen_answers, an_answer_without_a_keygen_line_is_refused) {
  device d;
  new_device(&d, false);
  play(&d, "OK\r\n");
  expect_refused(&d, "no %KEYGEN");
}
