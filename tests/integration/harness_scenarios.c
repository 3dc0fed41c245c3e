/* See harness_scenarios.h. */
#include "harness_scenarios.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mbedtls/x509_csr.h>

#include "proto/dcbor.h"
#include "proto/es256.h"
#include "proto/keygen.h"
#include "proto/jwt.h"

void sc_claim(mock *m, char cred[1200], char uuid[37]) {
  char tok[1100], body[1300];
  make_token(tok, sizeof tok, uuid);
  snprintf(body, sizeof body, "{\"claimToken\":\"%s\"}", tok);
  http_resp *r = owner(m, SC_KEY, "POST", "/v1/claimed-devices", body);
  cr_assert_eq(r->status, 201, "%s", r->body);
  http_resp_free(r);
  snprintf(cred, 1200, "att.%s", tok);
}

void sc_queue(mock *m, const char *uuid, const char *request_json, char id[37]) {
  char path[200], body[8192];
  snprintf(path, sizeof path, "/v1/claimed-devices/%s/provisioning", uuid);
  snprintf(body, sizeof body, "{\"description\":\"test\",\"request\":%s}", request_json);
  http_resp *r = owner(m, SC_KEY, "POST", path, body);
  cr_assert_eq(r->status, 201, "%s", r->body);
  snprintf(id, 37, "%s", jstr(r->json, "id"));
  http_resp_free(r);
}

const char *sc_command_status(mock *m, const char *uuid, const char *id, char out[24]) {
  char path[200];
  snprintf(path, sizeof path, "/v1/claimed-devices/%s/provisioning/%s", uuid, id);
  http_resp *r = owner(m, SC_KEY, "GET", path, NULL);
  cr_assert_eq(r->status, 200, "%s", r->body);
  snprintf(out, 24, "%s", jstr(r->json, "status"));
  http_resp_free(r);
  return out;
}

const char *sc_device_status(mock *m, const char *uuid, char out[24]) {
  char path[200];
  snprintf(path, sizeof path, "/v1/claimed-devices/%s", uuid);
  http_resp *r = owner(m, SC_KEY, "GET", path, NULL);
  cr_assert_eq(r->status, 200, "%s", r->body);
  snprintf(out, 24, "%s", jstr(r->json, "status"));
  http_resp_free(r);
  return out;
}

static dcbor_owned_command *fetch_commands(dev_client *d, const char *query, size_t *n) {
  uint8_t *body = NULL;
  size_t len = 0;
  dev_result r = dev_fetch(d, query, &body, &len);
  cr_assert_eq(r, DEV_COMMANDS, "%s: fetch gives commands (status %d)", dev_transport_name(d->t), d->status);
  dcbor_owned_command *c = NULL;
  char why[200];
  cr_assert_eq(dcbor_decode_commands(body, len, &c, n, why, sizeof why), 0, "CBOR: %s", why);
  free(body);
  return c;
}

static void report(dev_client *d, dcbor_response *r, size_t n) {
  uint8_t *cbor;
  size_t len;
  cr_assert_eq(dcbor_encode_responses(r, n, 0, &cbor, &len), 0);
  dev_result res = dev_report(d, cbor, len);
  cr_assert_eq(res, DEV_ACCEPTED, "%s: report accepted (status %d)", dev_transport_name(d->t), d->status);
  free(cbor);
}

void sc_nothing_queued(mock *m, dev_transport t) {
  char cred[1200], uuid[37], st[24];
  dev_client d;
  sc_claim(m, cred, uuid);
  dev_open(&d, m, t, cred);
  cr_assert_eq(dev_fetch(&d, "after=&rxMaxSize=2048&txMaxSize=2048&mver=mfw_nrf9160_1.3.5&cver=2.6.0", NULL, NULL), DEV_NOTHING);
  cr_assert_str_eq(sc_device_status(m, uuid, st), "READY");
  dev_close(&d);
}

void sc_fetch_report_provisioned(mock *m, dev_transport t) {
  char cred[1200], uuid[37], csr_id[37], cert_id[37], fin_id[37], st[24];
  dev_client d;
  sc_claim(m, cred, uuid);
  sc_queue(m, uuid, "{\"certificateSigningRequest\":{\"secTag\":16842753,\"attributes\":\"CN=dev1\"}}", csr_id);
  sc_queue(m, uuid, "{\"serverCertificate\":{\"secTag\":42,\"content\":\"-----BEGIN CERTIFICATE-----\\nAAAA\\n-----END CERTIFICATE-----\\n\"}}", cert_id);
  sc_queue(m, uuid, "{\"finished\":{}}", fin_id);
  cr_assert_str_eq(sc_device_status(m, uuid, st), "PENDING");
  dev_open(&d, m, t, cred);
  size_t n;
  dcbor_owned_command *c = fetch_commands(&d, "after=&rxMaxSize=4096&txMaxSize=4096", &n);
  cr_assert_eq(n, 4, "pre-step, CSR, certificate, finished");
  cr_assert_str_eq(c[0].set_cmd, "%CMNG");
  cr_assert_str_eq(c[0].params, "3,16842753,2");
  cr_assert_eq(c[0].n_ignore, 1);
  cr_assert_eq(c[0].ignore_cme[0], 513);
  cr_assert(strlen(c[0].cid) > 2 && !strcmp(c[0].cid + strlen(c[0].cid) - 2, ".s"), "pre-step id %s", c[0].cid);
  cr_assert_str_eq(c[1].set_cmd, "%KEYGEN");
  cr_assert_str_eq(c[1].params, "16842753,2,0,\"CN=dev1\",\"101010000\"");
  cr_assert_eq(c[1].n_ignore, 0);
  cr_assert_eq(strncmp(c[0].cid, c[1].cid, strlen(c[1].cid)), 0, "pre-step id = main id + .s");
  cr_assert_leq(strlen(c[0].cid), 45);
  cr_assert_str_eq(c[2].set_cmd, "%CMNG");
  cr_assert_str_eq(c[2].params, "0,42,0,\"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n\"");
  cr_assert_eq(c[3].type, DCMD_FINISHED);
  cr_assert_str_eq(sc_command_status(m, uuid, csr_id, st), "IN_PROGRESS");
  cr_assert_str_eq(sc_command_status(m, uuid, fin_id, st), "IN_PROGRESS");
  char *keygen = sc_keygen_answer(uuid, true, 16842753), value[4096];
  cr_assert_gt(keygen_extract(keygen, value, sizeof value), 0);
  dcbor_response r[] = {
    {c[0].cid, DRSP_AT, 0, ""}, {c[1].cid, DRSP_AT, 0, keygen}, {c[2].cid, DRSP_AT, 0, "OK\r\n"},
    {c[3].cid, DRSP_FINISHED_ACK, 0, NULL},
  };
  report(&d, r, 4);
  cr_assert_str_eq(sc_command_status(m, uuid, csr_id, st), "SUCCEEDED");
  cr_assert_str_eq(sc_command_status(m, uuid, cert_id, st), "SUCCEEDED");
  cr_assert_str_eq(sc_command_status(m, uuid, fin_id, st), "SUCCEEDED");
  cr_assert_str_eq(sc_device_status(m, uuid, st), "PROVISIONED");
  char path[200];
  snprintf(path, sizeof path, "/v1/claimed-devices/%s/provisioning/%s", uuid, csr_id);
  http_resp *h = owner(m, SC_KEY, "GET", path, NULL);
  json_t *resp = json_object_get(json_object_get(h->json, "response"), "certificateSigningRequest");
  cr_assert_str_eq(jstr(resp, "csr"), value);
  cr_assert_str_eq(jstr(resp, "message"), keygen);
  http_resp_free(h);
  free(keygen);
  cr_assert_eq(dev_fetch(&d, "after=", NULL, NULL), DEV_NOTHING, "nothing left");
  dcbor_commands_free(c, n);
  dev_close(&d);
}

void sc_failure_cancels_the_rest(mock *m, dev_transport t) {
  char cred[1200], uuid[37], a[37], b[37], c3[37], st[24];
  dev_client d;
  sc_claim(m, cred, uuid);
  sc_queue(m, uuid, "{\"clientPrivateKeyGeneration\":{\"secTag\":7}}", a);
  sc_queue(m, uuid, "{\"config\":{\"properties\":{\"provisioning/interval-sec\":\"99\"}}}", b);
  sc_queue(m, uuid, "{\"finished\":{}}", c3);
  dev_open(&d, m, t, cred);
  size_t n;
  dcbor_owned_command *c = fetch_commands(&d, "after=", &n);
  cr_assert_eq(n, 4);
  cr_assert_eq(c[2].type, DCMD_CONFIG);
  cr_assert_str_eq(c[2].keys[0], "provisioning/interval-sec");
  cr_assert_str_eq(c[2].values[0], "99");
  dcbor_response r[] = {{c[0].cid, DRSP_AT, 0, ""}, {c[1].cid, DRSP_ERROR, 514, "+CME ERROR: 514"}};
  report(&d, r, 2);
  cr_assert_str_eq(sc_command_status(m, uuid, a, st), "FAILED");
  cr_assert_str_eq(sc_command_status(m, uuid, b, st), "CANCELLED");
  cr_assert_str_eq(sc_command_status(m, uuid, c3, st), "CANCELLED");
  cr_assert_str_eq(sc_device_status(m, uuid, st), "ERROR");
  char path[200];
  snprintf(path, sizeof path, "/v1/claimed-devices/%s/provisioning/%s", uuid, a);
  http_resp *h = owner(m, SC_KEY, "GET", path, NULL);
  json_t *er = json_object_get(json_object_get(h->json, "response"), "errorResponse");
  cr_assert_eq(jint(er, "cmeError"), 514);
  cr_assert_str_eq(jstr(er, "message"), "+CME ERROR: 514");
  http_resp_free(h);
  /* A duplicate report changes nothing. */
  report(&d, r, 2);
  cr_assert_str_eq(sc_command_status(m, uuid, a, st), "FAILED");
  cr_assert_eq(dev_fetch(&d, "after=", NULL, NULL), DEV_NOTHING);
  dcbor_commands_free(c, n);
  dev_close(&d);
}

void sc_unclaimed(mock *m, dev_transport t) {
  char tok[1100], cred[1200];
  dev_client d;
  make_token(tok, sizeof tok, NULL);
  snprintf(cred, sizeof cred, "att.%s", tok);
  dev_open(&d, m, t, cred);
  cr_assert_eq(dev_fetch(&d, "after=", NULL, NULL), DEV_NOT_CLAIMED);
  dev_close(&d);
}

void sc_blocked(mock *m, dev_transport t) {
  char cred[1200], uuid[37], id[37], st[24], path[200];
  dev_client d;
  sc_claim(m, cred, uuid);
  sc_queue(m, uuid, "{\"finished\":{}}", id);
  snprintf(path, sizeof path, "/v1/claimed-devices/%s/block", uuid);
  http_resp_free(owner(m, SC_KEY, "POST", path, NULL));
  dev_open(&d, m, t, cred);
  cr_assert_eq(dev_fetch(&d, "after=", NULL, NULL), DEV_FORBIDDEN);
  dev_close(&d);
  cr_assert_str_eq(sc_command_status(m, uuid, id, st), "PENDING");
  cr_assert_str_eq(sc_device_status(m, uuid, st), "PENDING");
  snprintf(path, sizeof path, "/v1/claimed-devices/%s/unblock", uuid);
  http_resp_free(owner(m, SC_KEY, "POST", path, NULL));
  dev_open(&d, m, t, cred);
  size_t n;
  dcbor_owned_command *c = fetch_commands(&d, "after=", &n);
  cr_assert_eq(n, 1);
  dcbor_commands_free(c, n);
  dev_close(&d);
}

void sc_bad_credentials(mock *m, dev_transport t) {
  dev_client d;
  dev_open(&d, m, t, "att.not-a-token");
  cr_assert_eq(dev_fetch(&d, "after=", NULL, NULL), DEV_FORBIDDEN);
  dev_close(&d);
  dev_open(&d, m, t, "eyJhbGciOiJFUzI1NiJ9.garbage.sig");
  cr_assert_eq(dev_fetch(&d, "after=", NULL, NULL), DEV_FORBIDDEN);
  dev_close(&d);
}

void sc_limit(mock *m, dev_transport t) {
  char cred[1200], uuid[37], id[37];
  dev_client d;
  sc_claim(m, cred, uuid);
  sc_queue(m, uuid, "{\"clientPrivateKeyGeneration\":{\"secTag\":7}}", id);
  sc_queue(m, uuid, "{\"finished\":{}}", id);
  dev_open(&d, m, t, cred);
  size_t n;
  dcbor_owned_command *c = fetch_commands(&d, "after=&limit=1", &n);
  cr_assert_eq(n, 1, "a pre-step is an entry");
  char q[200];
  snprintf(q, sizeof q, "after=%s&limit=1", c[0].cid);
  dcbor_owned_command *c2 = fetch_commands(&d, q, &n);
  cr_assert_eq(n, 1);
  cr_assert_str_eq(c2[0].set_cmd, "%KEYGEN");
  dcbor_commands_free(c, 1);
  snprintf(q, sizeof q, "after=%s&limit=1", c2[0].cid);
  dcbor_commands_free(c2, 1);
  c = fetch_commands(&d, q, &n);
  cr_assert_eq(c[0].type, DCMD_FINISHED);
  dcbor_commands_free(c, n);
  cr_assert_eq(dev_fetch(&d, "after=&limit=0", NULL, NULL), DEV_BAD_REQUEST);
  dev_close(&d);
}

void sc_redelivery_after(mock *m, dev_transport t) {
  char cred[1200], uuid[37], a[37], b[37], st[24];
  dev_client d;
  sc_claim(m, cred, uuid);
  sc_queue(m, uuid, "{\"serverCertificate\":{\"secTag\":1,\"content\":\"-----BEGIN CERTIFICATE-----\\nA\\n-----END CERTIFICATE-----\"}}", a);
  sc_queue(m, uuid, "{\"finished\":{}}", b);
  dev_open(&d, m, t, cred);
  size_t n, n2;
  dcbor_owned_command *c = fetch_commands(&d, "after=", &n);
  cr_assert_eq(n, 2);
  /* The device rebooted without answering: an empty after delivers both again. */
  dcbor_owned_command *again = fetch_commands(&d, "after=", &n2);
  cr_assert_eq(n2, 2);
  cr_assert_str_eq(again[0].cid, c[0].cid);
  dcbor_commands_free(again, n2);
  char q[200];
  snprintf(q, sizeof q, "after=%s", c[0].cid);
  again = fetch_commands(&d, q, &n2);
  cr_assert_eq(n2, 1, "only what follows after=");
  cr_assert_str_eq(again[0].cid, c[1].cid);
  dcbor_commands_free(again, n2);
  /* Ids of another queue, or never issued, mean from the start. */
  again = fetch_commands(&d, "after=00000000-0000-4000-8000-000000000000.1", &n2);
  cr_assert_eq(n2, 2);
  dcbor_commands_free(again, n2);
  snprintf(q, sizeof q, "after=%.36s.ff", c[0].cid);
  again = fetch_commands(&d, q, &n2);
  cr_assert_eq(n2, 2);
  dcbor_commands_free(again, n2);
  cr_assert_str_eq(sc_command_status(m, uuid, a, st), "IN_PROGRESS");
  dcbor_commands_free(c, n);
  dev_close(&d);
}

void sc_jwt_auth(mock *m, dev_transport t) {
  char cred[1200], uuid[37], id[37], iss[80], jwt[1024];
  dev_client d;
  sc_claim(m, cred, uuid);
  sc_queue(m, uuid, "{\"finished\":{}}", id);
  snprintf(iss, sizeof iss, "nrf-352656106118683.%s", uuid);
  int64_t now = (int64_t)time(NULL);
  cr_assert(jwt_make(iss, "nrf-352656106118683.fw.1", now, now + 600, NULL, jwt, sizeof jwt) > 0);
  dev_open(&d, m, t, jwt);
  size_t n;
  dcbor_owned_command *c = fetch_commands(&d, "after=", &n);
  cr_assert_eq(n, 1);
  dcbor_commands_free(c, n);
  dev_close(&d);
  /* Expired beyond the 60 s skew. */
  cr_assert(jwt_make(iss, NULL, now - 1000, now - 120, NULL, jwt, sizeof jwt) > 0);
  dev_open(&d, m, t, jwt);
  cr_assert_eq(dev_fetch(&d, "after=", NULL, NULL), DEV_FORBIDDEN);
  dev_close(&d);
}

void sc_bad_cbor(mock *m, dev_transport t) {
  char cred[1200], uuid[37];
  dev_client d;
  sc_claim(m, cred, uuid);
  dev_open(&d, m, t, cred);
  cr_assert_eq(dev_fetch(&d, "after=", NULL, NULL), DEV_NOTHING, "authenticates");
  const uint8_t junk[] = {0xff, 0x00, 0x12};
  cr_assert_eq(dev_report(&d, junk, sizeof junk), DEV_BAD_REQUEST);
  const uint8_t bytes_not_text[] = {0x81, 0x82, 0x41, 0x61, 0x18, 0x66};
  cr_assert_eq(dev_report(&d, bytes_not_text, sizeof bytes_not_text), DEV_BAD_REQUEST);
  dev_close(&d);
}

char *sc_keygen_answer_der(const char *uuid, unsigned payload_id, uint32_t sec_tag, const uint8_t *der, size_t len) {
  keygen_info a = {.payload_id = payload_id, .sec_tag = sec_tag};
  for (int i = 0, k = 0; uuid[i] && k < 16; i++)
    if (uuid[i] != '-') sscanf(uuid + i++, "%2hhx", &a.device_id[k++]);
  size_t cap = len * 2 + 512;
  char *out = malloc(cap);
  cr_assert(out);
  cr_assert_gt(keygen_format(der, len, &a, NULL, out, cap), 0);
  return out;
}

char *sc_keygen_answer(const char *uuid, bool csr, uint32_t sec_tag) {
  mbedtls_pk_context key;
  unsigned char buf[1024];
  int n;
  cr_assert_eq(es256_generate(&key), 0);
  if (csr) {
    mbedtls_x509write_csr w;
    mbedtls_x509write_csr_init(&w);
    mbedtls_x509write_csr_set_md_alg(&w, MBEDTLS_MD_SHA256);
    mbedtls_x509write_csr_set_key(&w, &key);
    char subject[64];
    snprintf(subject, sizeof subject, "CN=%s", uuid);
    cr_assert_eq(mbedtls_x509write_csr_set_subject_name(&w, subject), 0);
    n = mbedtls_x509write_csr_der(&w, buf, sizeof buf, es256_rng, NULL);
    mbedtls_x509write_csr_free(&w);
  } else {
    n = mbedtls_pk_write_pubkey_der(&key, buf, sizeof buf);
  }
  mbedtls_pk_free(&key);
  cr_assert_gt(n, 0);
  /* mbedTLS writes DER at the end of the buffer. */
  return sc_keygen_answer_der(uuid, csr ? KEYGEN_PAYLOAD_CSR : KEYGEN_PAYLOAD_PUBKEY, sec_tag, buf + sizeof buf - n,
                              (size_t)n);
}
