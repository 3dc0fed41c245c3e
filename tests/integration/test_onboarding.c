/* Auto-onboarding end to end through the real binary (docs/owner-api.md §4.3 and §6): the
 * shipped nRF Cloud onboarding rule (clientPrivateKeyGeneration, cloudAccessKeyGeneration,
 * serverCertificate with both CAs) takes a claimed device to PROVISIONED over the HTTP
 * device API, with a real P-256 key and CSR made here and answered in the modem's
 * %KEYGEN format. The device then appears in device management with a certificate that
 * chains to the mock's CA and holds the CSR's public key; deleting it leaves the claim,
 * unclaiming leaves it. */
#include <criterion/criterion.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>
#include <mbedtls/x509_csr.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness_scenarios.h"
#include "proto/dcbor.h"
#include "proto/keygen.h"

static mock m;
static mbedtls_entropy_context entropy;
static mbedtls_ctr_drbg_context drbg;

static void start(void) {
  mbedtls_entropy_init(&entropy);
  mbedtls_ctr_drbg_init(&drbg);
  cr_assert_eq(mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &entropy, NULL, 0), 0);
  mock_start(&m, "--https-port", "-1", NULL);
}

static void stop(void) {
  mbedtls_ctr_drbg_free(&drbg);
  mbedtls_entropy_free(&entropy);
  cr_assert_eq(mock_stop(&m), 0, "the mock exits 0 on SIGTERM");
}

TestSuite(onboarding, .init = start, .fini = stop, .timeout = 60);

#define KEY SC_KEY
#define SEC_TAG "16842753"

static void new_key(mbedtls_pk_context *key) {
  mbedtls_pk_init(key);
  cr_assert_eq(mbedtls_pk_setup(key, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)), 0);
  cr_assert_eq(mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(*key), mbedtls_ctr_drbg_random, &drbg), 0);
}

/* DER of key's SubjectPublicKeyInfo, at the start of out; returns its length. */
static size_t pubkey_der(mbedtls_pk_context *key, uint8_t *out, size_t size) {
  int n = mbedtls_pk_write_pubkey_der(key, out, size);
  cr_assert_gt(n, 0);
  memmove(out, out + size - (size_t)n, (size_t)n);
  return (size_t)n;
}

/* A PKCS#10 CSR (DER) for key with subject (mbedTLS string form; "" = an empty Name), at
 * the start of out; returns its length. */
static size_t csr_der(mbedtls_pk_context *key, const char *subject, uint8_t *out, size_t size) {
  mbedtls_x509write_csr w;
  mbedtls_x509write_csr_init(&w);
  mbedtls_x509write_csr_set_md_alg(&w, MBEDTLS_MD_SHA256);
  mbedtls_x509write_csr_set_key(&w, key);
  cr_assert_eq(mbedtls_x509write_csr_set_subject_name(&w, subject), 0);
  int n = mbedtls_x509write_csr_der(&w, out, size, mbedtls_ctr_drbg_random, &drbg);
  mbedtls_x509write_csr_free(&w);
  cr_assert_gt(n, 0);
  memmove(out, out + size - (size_t)n, (size_t)n);
  return (size_t)n;
}

/* The attested fields of a %KEYGEN answer of device uuid (docs/device-protocol.md §4.4). */
static keygen_info attested(const char *uuid, unsigned payload_id, uint32_t sec_tag) {
  keygen_info a = {.payload_id = payload_id, .sec_tag = sec_tag};
  for (int i = 0, k = 0; uuid[i] && k < 16; i++)
    if (uuid[i] != '-') sscanf(uuid + i++, "%2hhx", &a.device_id[k++]);
  return a;
}

static void expect_status(http_resp *r, long status) {
  cr_assert_eq(r->status, status, "status %ld != %ld: %s", r->status, status, r->body);
  http_resp_free(r);
}

static char *fixture_text(const char *rel) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", fixtures_dir(), rel);
  char *t = read_file(path, NULL);
  cr_assert(t, "fixture %s", path);
  return t;
}

typedef struct {
  char uuid[37], cred[1200], rule[37];
  mbedtls_pk_context csr_key; /* the key of the CSR the device sent */
} device;

/* Claim a device with the onboarding tag, post the "all certificates" onboarding rule,
 * and play the device: one fetch, one report answering every step. */
static void onboard(device *dv) {
  char tok[1100], body[1400], st[24];
  make_token(tok, sizeof tok, dv->uuid);
  snprintf(dv->cred, sizeof dv->cred, "att.%s", tok);
  snprintf(body, sizeof body, "{\"claimToken\":\"%s\",\"tags\":[\"nrf-cloud-onboarding\"]}", tok);
  expect_status(owner(&m, KEY, "POST", "/v1/claimed-devices", body), 201);
  char *rule = fixture_text("rules/nrf-cloud-onboarding-all.json");
  http_resp *r = owner(&m, KEY, "POST", "/v1/provisioning-rules", rule);
  free(rule);
  if (r->status == 409) {
    /* The rule of an earlier device of this test: find it by name. */
    http_resp_free(r);
    r = owner(&m, KEY, "GET", "/v1/provisioning-rules", NULL);
    snprintf(dv->rule, sizeof dv->rule, "%s", jstr(json_array_get(json_object_get(r->json, "items"), 0), "id"));
  } else {
    cr_assert_eq(r->status, 201, "%s", r->body);
    cr_assert_str_eq(jstr(r->json, "status"), "ACTIVE");
    snprintf(dv->rule, sizeof dv->rule, "%s", jstr(r->json, "id"));
  }
  http_resp_free(r);
  cr_assert_str_eq(sc_device_status(&m, dv->uuid, st), "PENDING", "the rule waits for the device's contact");

  dev_client d;
  uint8_t *cbor = NULL;
  size_t len = 0, n = 0;
  dev_open(&d, &m, DEV_HTTP, dv->cred);
  cr_assert_eq(dev_fetch(&d, "after=&rxMaxSize=8192&txMaxSize=8192&mver=mfw_nrf91x1_2.0.1&cver=2.8.0", &cbor, &len),
               DEV_COMMANDS, "status %d", d.status);
  dcbor_owned_command *c;
  char why[200];
  cr_assert_eq(dcbor_decode_commands(cbor, len, &c, &n, why, sizeof why), 0, "%s", why);
  free(cbor);
  cr_assert_eq(n, 5, "two key steps with their pre-steps, then the certificates");
  cr_assert_str_eq(c[0].params, "3," SEC_TAG ",2");
  cr_assert_str_eq(c[1].set_cmd, "%KEYGEN");
  cr_assert_str_eq(c[1].params, SEC_TAG ",2,1", "clientPrivateKeyGeneration");
  cr_assert_str_eq(c[2].params, "3," SEC_TAG ",2");
  cr_assert_str_eq(c[3].set_cmd, "%KEYGEN");
  cr_assert_str_eq(c[3].params, SEC_TAG ",2,0", "cloudAccessKeyGeneration: a CSR");
  cr_assert_str_eq(c[4].set_cmd, "%CMNG");
  char *aws = fixture_text("ca/amazon-root-ca-1.pem"), *coap = fixture_text("ca/nrf-cloud-coap-ca.pem");
  char *want = malloc(strlen(aws) + strlen(coap) + 64);
  sprintf(want, "0," SEC_TAG ",0,\"%s%s\"", aws, coap);
  cr_assert_str_eq(c[4].params, want, "serverCertificate with both CAs");
  free(want);
  free(aws);
  free(coap);

  /* The modem's answers: a public key for the private-key step, a real CSR for the
   * cloud access key; the identity key is any P-256 key (no identity registered). */
  mbedtls_pk_context identity, client_key;
  new_key(&identity);
  new_key(&client_key);
  new_key(&dv->csr_key);
  uint8_t der[1024];
  char pub_answer[2048], csr_answer[2048];
  size_t dl = pubkey_der(&client_key, der, sizeof der);
  keygen_info pub_att = attested(dv->uuid, KEYGEN_PAYLOAD_PUBKEY, 16842753), csr_att = attested(dv->uuid, KEYGEN_PAYLOAD_CSR, 16842753);
  cr_assert_gt(keygen_format(der, dl, &pub_att, &identity, pub_answer, sizeof pub_answer), 0);
  char subject[64];
  snprintf(subject, sizeof subject, "CN=%s", dv->uuid);
  dl = csr_der(&dv->csr_key, subject, der, sizeof der);
  cr_assert_gt(keygen_format(der, dl, &csr_att, &identity, csr_answer, sizeof csr_answer), 0);
  dcbor_response resp[] = {
    {c[0].cid, DRSP_AT, 0, "OK\r\n"}, {c[1].cid, DRSP_AT, 0, pub_answer}, {c[2].cid, DRSP_AT, 0, "OK\r\n"},
    {c[3].cid, DRSP_AT, 0, csr_answer}, {c[4].cid, DRSP_AT, 0, "OK\r\n"},
  };
  uint8_t *out;
  size_t outlen;
  cr_assert_eq(dcbor_encode_responses(resp, 5, 0, &out, &outlen), 0);
  cr_assert_eq(dev_report(&d, out, outlen), DEV_ACCEPTED, "report: status %d", d.status);
  free(out);
  dcbor_commands_free(c, n);
  mbedtls_pk_free(&identity);
  mbedtls_pk_free(&client_key);
  cr_assert_eq(dev_fetch(&d, "after=", NULL, NULL), DEV_NOTHING, "applied once");
  dev_close(&d);
  cr_assert_str_eq(sc_device_status(&m, dv->uuid, st), "PROVISIONED");
}

static http_resp *get_device(const char *key, const char *uuid) {
  char path[128];
  snprintf(path, sizeof path, "/v1/devices/%s", uuid);
  return owner(&m, key, "GET", path, NULL);
}

Test(onboarding, nrf_cloud_rule_takes_a_device_from_claim_to_provisioned_and_onboarded) {
  device dv;
  onboard(&dv);

  /* Every command of the rule succeeded, each carrying the rule's id. */
  char path[200];
  snprintf(path, sizeof path, "/v1/claimed-devices/%s/provisioning", dv.uuid);
  http_resp *r = owner(&m, KEY, "GET", path, NULL);
  cr_assert_eq(jint(r->json, "total"), 3);
  size_t i;
  json_t *it;
  json_array_foreach(json_object_get(r->json, "items"), i, it) {
    cr_assert_str_eq(jstr(it, "status"), "SUCCEEDED", "%s", r->body);
    cr_assert_str_eq(jstr(it, "ruleId"), dv.rule);
  }
  json_t *items = json_object_get(r->json, "items");
  json_t *pub = json_object_get(json_object_get(json_array_get(items, 0), "response"), "clientPrivateKeyGeneration");
  cr_assert(strstr(jstr(pub, "message"), "%KEYGEN: \""), "%s", r->body);
  json_t *cak = json_object_get(json_object_get(json_array_get(items, 1), "response"), "cloudAccessKeyGeneration");
  cr_assert(strchr(jstr(cak, "csr"), '.'), "csr is base64url(DER).base64url(COSE): %s", r->body);
  http_resp_free(r);

  /* The onboarded device. */
  r = get_device(KEY, dv.uuid);
  cr_assert_eq(r->status, 200, "%s", r->body);
  cr_assert_str_eq(jstr(r->json, "id"), dv.uuid);
  cr_assert_str_eq(jstr(r->json, "subType"), "nrf9161dk");
  char *tags = json_dumps(json_object_get(r->json, "tags"), JSON_COMPACT);
  cr_assert_str_eq(tags, "[\"production\"]", "tags = the deviceManagementGroup");
  free(tags);
  char *fw = json_dumps(json_object_get(r->json, "firmware"), JSON_COMPACT);
  cr_assert_str_eq(fw, "{\"supports\":[\"APP\",\"MODEM\"]}");
  free(fw);
  cr_assert_eq(strlen(jstr(r->json, "createdAt")), 24);
  const char *pem = jstr(r->json, "certificatePem");
  cr_assert(strstr(pem, "-----BEGIN CERTIFICATE-----"), "%s", r->body);

  /* It chains to the CA the mock serves and certifies the CSR's key. */
  http_resp *ca = http_req(&m, "GET", "/_mock/ca", NULL, NULL, 0);
  cr_assert_eq(ca->status, 200);
  mbedtls_x509_crt chain, leaf;
  mbedtls_x509_crt_init(&chain);
  mbedtls_x509_crt_init(&leaf);
  cr_assert_eq(mbedtls_x509_crt_parse(&chain, (const unsigned char *)ca->body, ca->len + 1), 0);
  cr_assert_eq(mbedtls_x509_crt_parse(&leaf, (const unsigned char *)pem, strlen(pem) + 1), 0);
  uint32_t flags = 0;
  cr_assert_eq(mbedtls_x509_crt_verify(&leaf, &chain, NULL, NULL, &flags, NULL, NULL), 0, "verify flags %#x", flags);
  uint8_t a[256], b[256];
  size_t la = pubkey_der(&leaf.pk, a, sizeof a), lb = pubkey_der(&dv.csr_key, b, sizeof b);
  cr_assert(la == lb && !memcmp(a, b, la), "the certificate holds the CSR's public key");
  char subject[256];
  cr_assert_gt(mbedtls_x509_dn_gets(subject, sizeof subject, &leaf.subject), 0);
  char want[64];
  snprintf(want, sizeof want, "CN=%s", dv.uuid);
  cr_assert_str_eq(subject, want, "the certificate names what the CSR names");
  mbedtls_x509_crt_free(&chain);
  mbedtls_x509_crt_free(&leaf);
  http_resp_free(ca);
  http_resp_free(r);

  r = owner(&m, KEY, "GET", "/v1/devices", NULL);
  cr_assert_eq(r->status, 200);
  cr_assert_eq(jint(r->json, "total"), 1);
  cr_assert_str_eq(jstr(json_array_get(json_object_get(r->json, "items"), 0), "id"), dv.uuid);
  http_resp_free(r);

  /* Deleting it from device management leaves the claim. */
  snprintf(path, sizeof path, "/v1/devices/%s", dv.uuid);
  expect_status(owner(&m, "someone-else", "DELETE", path, NULL), 404);
  expect_status(owner(&m, KEY, "DELETE", path, NULL), 204);
  expect_status(get_device(KEY, dv.uuid), 404);
  expect_status(owner(&m, KEY, "DELETE", path, NULL), 404);
  snprintf(path, sizeof path, "/v1/claimed-devices/%s", dv.uuid);
  expect_status(owner(&m, KEY, "GET", path, NULL), 200);
  mbedtls_pk_free(&dv.csr_key);
}

Test(onboarding, unclaiming_leaves_the_onboarded_device) {
  device dv;
  onboard(&dv);
  char path[200];
  snprintf(path, sizeof path, "/v1/claimed-devices/%s", dv.uuid);
  expect_status(owner(&m, KEY, "DELETE", path, NULL), 204);
  http_resp *r = get_device(KEY, dv.uuid);
  cr_assert_eq(r->status, 200, "%s", r->body);
  cr_assert(strstr(jstr(r->json, "certificatePem"), "BEGIN CERTIFICATE"));
  http_resp_free(r);
  expect_status(get_device("another-team", dv.uuid), 404);
  r = owner(&m, "another-team", "GET", "/v1/devices", NULL);
  cr_assert_eq(jint(r->json, "total"), 0);
  http_resp_free(r);
  mbedtls_pk_free(&dv.csr_key);
}

Test(onboarding, device_list_newest_first_with_pages) {
  device a, b;
  onboard(&a);
  onboard(&b);
  http_resp *r = owner(&m, KEY, "GET", "/v1/devices?pageLimit=1", NULL);
  cr_assert_eq(r->status, 200);
  cr_assert_eq(jint(r->json, "total"), 2);
  cr_assert_str_eq(jstr(json_array_get(json_object_get(r->json, "items"), 0), "id"), b.uuid, "newest first");
  char path[200];
  snprintf(path, sizeof path, "/v1/devices?pageLimit=1&pageNextToken=%s", jstr(r->json, "pageNextToken"));
  http_resp_free(r);
  r = owner(&m, KEY, "GET", path, NULL);
  cr_assert_str_eq(jstr(json_array_get(json_object_get(r->json, "items"), 0), "id"), a.uuid);
  cr_assert_null(json_object_get(r->json, "pageNextToken"), "a full last page carries no token: %s", r->body);
  http_resp_free(r);
  r = owner(&m, KEY, "GET", "/v1/devices?pageLimit=2", NULL);
  cr_assert_eq(json_array_size(json_object_get(r->json, "items")), 2);
  cr_assert_null(json_object_get(r->json, "pageNextToken"), "one full page holds everything: %s", r->body);
  http_resp_free(r);
  r = owner(&m, KEY, "GET", "/v1/devices?pageLimit=abc", NULL);
  cr_assert_eq(r->status, 400);
  cr_assert_eq(jint(r->json, "code"), 40006);
  http_resp_free(r);
  mbedtls_pk_free(&a.csr_key);
  mbedtls_pk_free(&b.csr_key);
}

Test(onboarding, a_keygen_answer_without_a_csr_onboards_nothing) {
  char cred[1200], uuid[37], id[37], st[24];
  sc_claim(&m, cred, uuid);
  sc_queue(&m, uuid, "{\"cloudAccessKeyGeneration\":{\"secTag\":" SEC_TAG "}}", id);
  dev_client d;
  uint8_t *cbor;
  size_t len, n;
  dev_open(&d, &m, DEV_HTTP, cred);
  cr_assert_eq(dev_fetch(&d, "after=", &cbor, &len), DEV_COMMANDS);
  dcbor_owned_command *c;
  char why[200];
  cr_assert_eq(dcbor_decode_commands(cbor, len, &c, &n, why, sizeof why), 0, "%s", why);
  free(cbor);
  /* A public key where a CSR belongs: the command succeeds, nothing is onboarded. */
  mbedtls_pk_context key;
  new_key(&key);
  uint8_t der[256];
  char answer[2048];
  size_t dl = pubkey_der(&key, der, sizeof der);
  keygen_info att = attested(uuid, KEYGEN_PAYLOAD_CSR, 16842753);
  cr_assert_gt(keygen_format(der, dl, &att, NULL, answer, sizeof answer), 0);
  dcbor_response resp[] = {{c[0].cid, DRSP_AT, 0, "OK\r\n"}, {c[1].cid, DRSP_AT, 0, answer}};
  uint8_t *out;
  size_t outlen;
  cr_assert_eq(dcbor_encode_responses(resp, 2, 0, &out, &outlen), 0);
  cr_assert_eq(dev_report(&d, out, outlen), DEV_ACCEPTED);
  free(out);
  dcbor_commands_free(c, n);
  dev_close(&d);
  mbedtls_pk_free(&key);
  cr_assert_str_eq(sc_command_status(&m, uuid, id, st), "SUCCEEDED");
  expect_status(get_device(KEY, uuid), 404);
}
