/* The device simulator nrfprov-sim against the real mock (docs/control-api.md §3): its
 * subcommands, and whole provisioning flows over HTTP, HTTPS, CoAP and CoAPs — a device
 * created, registered, claimed with its own token and an onboarding rule's tag, then
 * provisioned and onboarded with a certificate for the key the simulator holds — plus
 * injected failures, unclaimed and blocked devices, and a token signed by another key.
 * The simulator runs as a child process with bounded waits. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/ecdsa.h>
#include <mbedtls/sha256.h>
#include <mbedtls/x509_crt.h>
#include <mbedtls/x509_csr.h>

#include "harness_device.h"
#include "proto/attest.h"
#include "proto/es256.h"
#include "proto/jwt.h"
#include "proto/keygen.h"

#define KEY "sim-team"
#define SEC_TAG "16842753"
#define ONBOARD_TAG "nrf-cloud-onboarding"

static mock m;
static void start(void) { mock_start(&m, NULL); }
static void stop(void) { mock_stop(&m); }

TestSuite(sim, .init = start, .fini = stop, .timeout = 90);

/* ---- running the simulator ---- */

typedef struct {
  int status;       /* exit status, -1 when it had to be killed */
  char out[16384];  /* stdout: the event lines */
  char err[8192];
} sim_run;

static const char *sim_binary(void) {
  const char *b = getenv("NRFPROV_TEST_SIM_BIN");
  return b ? b : "./nrfprov-sim";
}

/* Run nrfprov-sim with args (NULL-terminated), capturing stdout and stderr; at most 60 s. */
static int simv(sim_run *r, const char *const *args) {
  memset(r, 0, sizeof *r);
  r->status = run_binary(sim_binary(), args, 60000, r->out, sizeof r->out, r->err, sizeof r->err);
  return r->status;
}

static int sim(sim_run *r, ...) {
  const char *args[40];
  int n = 0;
  va_list ap;
  va_start(ap, r);
  const char *a;
  while ((a = va_arg(ap, const char *)) && n < 39) args[n++] = a;
  va_end(ap);
  args[n] = NULL;
  return simv(r, args);
}

/* The one-line output of a successful subcommand (token, jwt, identity, create), trimmed. */
static char *sim_line(const char *cmd, const char *dir) {
  sim_run r;
  sim(&r, cmd, "--dir", dir, NULL);
  cr_assert_eq(r.status, 0, "nrfprov-sim %s: exit %d: %s", cmd, r.status, r.err);
  r.out[strcspn(r.out, "\n")] = 0;
  return strdup(r.out);
}

static void device_dir(char *out, size_t n, const char *name) { snprintf(out, n, "%s/%s", m.dir, name); }

/* nrfprov-sim create in the mock's scratch dir; the device id in uuid. */
static void create(const char *name, char dir[512], char uuid[37]) {
  device_dir(dir, 512, name);
  char *id = sim_line("create", dir);
  cr_assert_eq(strlen(id), 36, "create prints the device id: %s", id);
  snprintf(uuid, 37, "%s", id);
  free(id);
}

static void register_identity(const char *dir) {
  char *body = sim_line("identity", dir);
  http_resp *r = owner(&m, NULL, "POST", "/_mock/identities", body);
  cr_assert_eq(r->status, 201, "%s", r->body);
  http_resp_free(r);
  free(body);
}

static http_resp *claim(const char *dir, const char *tags_json) {
  char *tok = sim_line("token", dir), body[1600];
  snprintf(body, sizeof body, "{\"claimToken\":\"%s\"%s%s}", tok, tags_json ? ",\"tags\":" : "", tags_json ? tags_json : "");
  free(tok);
  return owner(&m, KEY, "POST", "/v1/claimed-devices", body);
}

static void claim_ok(const char *dir, const char *tags_json) {
  http_resp *r = claim(dir, tags_json);
  cr_assert_eq(r->status, 201, "claim: %s", r->body);
  http_resp_free(r);
}

/* The nRF Cloud onboarding rule: a key pair for the cloud, a config, finished. */
static void onboarding_rule(void) {
  http_resp *r = owner(&m, KEY, "POST", "/v1/provisioning-rules",
                       "{\"name\":\"nRF Cloud Onboarding\",\"active\":true,\"tags\":[\"" ONBOARD_TAG "\"],\"commands\":["
                       "{\"description\":\"cloud key\",\"request\":{\"cloudAccessKeyGeneration\":{\"secTag\":" SEC_TAG
                       ",\"deviceManagementGroup\":\"sim\",\"subType\":\"sim-board\"}}},"
                       "{\"description\":\"interval\",\"request\":{\"config\":{\"properties\":{\"provisioning/interval-sec\":\"0\",\"sim/note\":\"hello\"}}}},"
                       "{\"description\":\"done\",\"request\":{\"finished\":{}}}]}");
  cr_assert_eq(r->status, 201, "POST /v1/provisioning-rules: %s", r->body);
  http_resp_free(r);
}

static void queue(const char *uuid, const char *request_json) {
  char path[160], body[8192];
  snprintf(path, sizeof path, "/v1/claimed-devices/%s/provisioning", uuid);
  snprintf(body, sizeof body, "{\"description\":\"test\",\"request\":%s}", request_json);
  http_resp *r = owner(&m, KEY, "POST", path, body);
  cr_assert_eq(r->status, 201, "%s", r->body);
  http_resp_free(r);
}

static const char *url_of(dev_transport t, char buf[96]) {
  static const char *schemes[] = {"http", "https", "coap", "coaps"};
  int ports[] = {m.http_port, m.https_port, m.coap_port, m.coaps_port};
  cr_assert(ports[t] > 0, "the mock has a %s listener", schemes[t]);
  snprintf(buf, 96, "%s://127.0.0.1:%d", schemes[t], ports[t]);
  return buf;
}

/* nrfprov-sim run over transport t (with --ca for the secure ones), plus extra args. */
static int run(sim_run *r, dev_transport t, const char *dir, ...) {
  char url[96];
  const char *args[40] = {"run", "--dir", dir, "--url", url_of(t, url)};
  int n = 5;
  if (t == DEV_HTTPS || t == DEV_COAPS) args[n++] = "--ca", args[n++] = mock_ca_file(&m);
  va_list ap;
  va_start(ap, dir);
  const char *a;
  while ((a = va_arg(ap, const char *)) && n < 39) args[n++] = a;
  va_end(ap);
  args[n] = NULL;
  return simv(r, args);
}

__attribute__((format(printf, 1, 2))) static json_t *get_json(const char *fmt, ...) {
  char path[200];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(path, sizeof path, fmt, ap);
  va_end(ap);
  http_resp *r = owner(&m, KEY, "GET", path, NULL);
  cr_assert_eq(r->status, 200, "GET %s: %s", path, r->body);
  json_t *j = json_incref(r->json);
  http_resp_free(r);
  return j;
}

static const char *device_status(const char *uuid, char out[24]) {
  json_t *j = get_json("/v1/claimed-devices/%s", uuid);
  snprintf(out, 24, "%s", jstr(j, "status"));
  json_decref(j);
  return out;
}

static json_t *commands_of(const char *uuid) {
  json_t *j = get_json("/v1/claimed-devices/%s/provisioning", uuid);
  json_t *items = json_incref(json_object_get(j, "items"));
  json_decref(j);
  return items;
}

static int count_lines(const char *out, const char *prefix) {
  int n = 0;
  size_t pl = strlen(prefix);
  for (const char *p = out; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
    if (!strncmp(p, prefix, pl)) n++;
  return n;
}

static bool has_line(const char *out, const char *line) {
  size_t n = strlen(line);
  for (const char *p = out; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
    if (!strncmp(p, line, n) && (p[n] == '\n' || !p[n])) return true;
  return false;
}

static char *read_text(const char *dir, const char *name) {
  char path[700];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  char *t = read_file(path, NULL);
  cr_assert(t, "%s exists", path);
  return t;
}

/* DER SubjectPublicKeyInfo of a key into buf; returns a pointer into buf and its length. */
static const unsigned char *spki(mbedtls_pk_context *k, unsigned char *buf, size_t n, int *len) {
  *len = mbedtls_pk_write_pubkey_der(k, buf, n);
  cr_assert(*len > 0);
  return buf + n - *len;
}

/* The onboarded device carries a certificate for the key of the simulator's sec tag. */
static void expect_onboarded_with_the_key(const char *dir, const char *uuid) {
  json_t *dev = get_json("/v1/devices/%s", uuid);
  const char *cert = jstr(dev, "certificatePem");
  cr_assert(strstr(cert, "BEGIN CERTIFICATE"), "onboarded device has a certificate: %s", json_dumps(dev, 0));
  mbedtls_x509_crt crt;
  mbedtls_x509_crt_init(&crt);
  cr_assert_eq(mbedtls_x509_crt_parse(&crt, (const unsigned char *)cert, strlen(cert) + 1), 0, "certificate parses");
  char *pem = read_text(dir, "keystore/" SEC_TAG "/private-key.pem"), why[128];
  mbedtls_pk_context key;
  cr_assert_eq(es256_key_from_pem(&key, pem, why, sizeof why), 0, "%s", why);
  unsigned char a[256], b[256];
  int la, lb;
  const unsigned char *pa = spki(&crt.pk, a, sizeof a, &la), *pb = spki(&key, b, sizeof b, &lb);
  cr_assert(la == lb && !memcmp(pa, pb, (size_t)la), "the certificate is for the key the simulator holds for sec tag " SEC_TAG);
  const char *tag = json_string_value(json_array_get(json_object_get(dev, "tags"), 0));
  cr_assert(tag && !strcmp(tag, "sim"), "deviceManagementGroup became a tag");
  mbedtls_pk_free(&key);
  mbedtls_x509_crt_free(&crt);
  free(pem);
  json_decref(dev);
}

/* ---- whole flows, one per transport ---- */

static void provision_end_to_end(dev_transport t) {
  char dir[512], uuid[37], st[24];
  onboarding_rule();
  create("dev", dir, uuid);
  register_identity(dir);
  claim_ok(dir, "[\"" ONBOARD_TAG "\"]");
  sim_run r;
  run(&r, t, dir, NULL);
  cr_assert_eq(r.status, 0, "%s: exit %d\n%s%s", dev_transport_name(t), r.status, r.out, r.err);
  cr_assert(!strncmp(r.out, "START\n", 6), "%s", r.out);
  cr_assert(has_line(r.out, "DONE"), "%s", r.out);
  /* Pre-step, key generation, config and finished: four steps, all OK. */
  cr_assert_eq(count_lines(r.out, "COMMAND "), 4, "%s", r.out);
  cr_assert_null(strstr(r.out, " ERROR "), "%s", r.out);

  cr_assert_str_eq(device_status(uuid, st), "PROVISIONED");
  json_t *items = commands_of(uuid);
  cr_assert_eq(json_array_size(items), 3);
  size_t i;
  json_t *c;
  json_array_foreach(items, i, c) cr_assert_str_eq(jstr(c, "status"), "SUCCEEDED", "command %zu: %s", i, jstr(c, "status"));
  /* The CSR in the response is the modem's format, signed by the identity key. */
  const char *csr = jstr(json_object_get(json_object_get(json_array_get(items, 0), "response"), "cloudAccessKeyGeneration"), "csr");
  uint8_t der[2048];
  size_t derlen;
  char why[160];
  cr_assert_eq(keygen_decode(csr, der, sizeof der, &derlen, NULL, why, sizeof why), 0, "csr: %s", why);
  json_decref(items);
  expect_onboarded_with_the_key(dir, uuid);

  /* The config landed in the key/value store; the last id was remembered. */
  char *cfg = read_text(dir, "config.json");
  cr_assert(strstr(cfg, "\"sim/note\": \"hello\""), "%s", cfg);
  free(cfg);
  char *st_text = read_text(dir, "state.json");
  json_t *sj = json_loads(st_text, 0, NULL);
  cr_assert(strlen(jstr(sj, "after")) > 36, "after remembered: %s", st_text);
  cr_assert(strstr(r.out, jstr(sj, "after")), "after is the last processed id");
  json_decref(sj);
  free(st_text);

  /* Nothing is left: a second run finds no commands. */
  run(&r, t, dir, NULL);
  cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
  cr_assert_str_eq(r.out, "START\nNO_COMMANDS\n");
}

Test(sim, provisions_over_http) { provision_end_to_end(DEV_HTTP); }
Test(sim, provisions_over_https) { provision_end_to_end(DEV_HTTPS); }
Test(sim, provisions_over_coap) { provision_end_to_end(DEV_COAP); }
Test(sim, provisions_over_coaps) { provision_end_to_end(DEV_COAPS); }

/* ---- the %KEYGEN answer, read independently ----
 * What follows reads the simulator's answer the way Nordic's modem_credentials_parser
 * (nRF Cloud utils) does, without proto/: its own base64url, a minimal CBOR head reader,
 * a minimal DER walker, and mbedTLS only for SHA-256, ECDSA and the X.509 structures. */

static size_t b64url_to_bytes(const char *s, size_t n, uint8_t *out, size_t cap) {
  static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  uint32_t acc = 0;
  int bits = 0;
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    const char *c = strchr(abc, s[i]);
    cr_assert(c && s[i], "base64url character %c", s[i]);
    acc = acc << 6 | (uint32_t)(c - abc);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      cr_assert_lt(o, cap);
      out[o++] = (uint8_t)(acc >> bits);
    }
  }
  return o;
}

typedef struct {
  const uint8_t *p, *end;
} cur;

/* One CBOR head: major type in *major, its argument returned (definite lengths only). */
static uint64_t cbor_head(cur *c, int *major) {
  cr_assert_lt(c->p, c->end, "CBOR ends early");
  uint8_t b = *c->p++;
  *major = b >> 5;
  uint8_t ai = b & 31;
  if (ai < 24) return ai;
  cr_assert_leq(ai, 27, "a definite CBOR head (additional info %u)", ai);
  size_t n = (size_t)1 << (ai - 24);
  cr_assert_leq(n, (size_t)(c->end - c->p), "CBOR head runs past the end");
  uint64_t v = 0;
  for (size_t i = 0; i < n; i++) v = v << 8 | *c->p++;
  return v;
}

static uint64_t cbor_expect(cur *c, int major, const char *what) {
  int got;
  uint64_t v = cbor_head(c, &got);
  cr_assert_eq(got, major, "%s: CBOR major type %d, expected %d", what, got, major);
  return v;
}

static const uint8_t *cbor_bstr(cur *c, size_t *n, const char *what) {
  *n = (size_t)cbor_expect(c, 2, what);
  cr_assert_leq(*n, (size_t)(c->end - c->p), "%s: byte string runs past the end", what);
  const uint8_t *p = c->p;
  c->p += *n;
  return p;
}

/* One DER TLV at c: its tag, and c moves into (or past, with skip) its content. */
static size_t der_tlv(cur *c, uint8_t tag, bool skip) {
  cr_assert_lt(c->p + 1, c->end);
  cr_assert_eq(*c->p++, tag, "DER tag");
  size_t len = *c->p++;
  if (len & 0x80) {
    size_t k = len & 0x7f;
    len = 0;
    while (k--) len = len << 8 | *c->p++;
  }
  cr_assert_leq(len, (size_t)(c->end - c->p));
  if (skip) c->p += len;
  return len;
}

typedef struct {
  uint8_t body[2048];
  size_t body_len;
  unsigned payload_id;
  uint64_t sec_tag;
} keygen_read;

/* Read the raw AT answer at: the modem's "%KEYGEN: \"<b64url>.<b64url>\"", the COSE_Sign1
 * and its payload, checked for device uuid against the identity public key of dir. */
static void read_keygen_answer(const char *at, const char *uuid, const char *dir, keygen_read *out) {
  const char *q1 = strstr(at, "%KEYGEN: \""), *dot, *q2;
  cr_assert(q1, "a %%KEYGEN line: %s", at);
  q1 += 10;
  q2 = strchr(q1, '"');
  dot = memchr(q1, '.', (size_t)(q2 - q1));
  cr_assert(q2 && dot, "<body>.<cose>: %s", at);
  cr_assert_null(memchr(dot + 1, '.', (size_t)(q2 - dot - 1)), "one '.'");
  cr_assert(!memchr(q1, '=', (size_t)(q2 - q1)), "unpadded");
  out->body_len = b64url_to_bytes(q1, (size_t)(dot - q1), out->body, sizeof out->body);
  uint8_t cose[512];
  size_t cose_len = b64url_to_bytes(dot + 1, (size_t)(q2 - dot - 1), cose, sizeof cose);

  cur c = {cose, cose + cose_len};
  cr_assert_eq(cbor_expect(&c, 6, "COSE"), 18, "COSE_Sign1 tag");
  cr_assert_eq(cbor_expect(&c, 4, "COSE"), 4, "an array of 4");
  size_t pn, n;
  const uint8_t *prot = cbor_bstr(&c, &pn, "protected");
  cr_assert(pn == 3 && !memcmp(prot, "\xa1\x01\x26", 3), "protected header {1: -7}");
  cr_assert_eq(cbor_expect(&c, 5, "unprotected"), 1, "one unprotected entry");
  cr_assert_eq(cbor_expect(&c, 0, "unprotected key"), 4, "key id label");
  const uint8_t *kid = cbor_bstr(&c, &n, "key id");
  cr_assert(n == 1 && kid[0] == 0x21, "key id h'21' (CBOR -2: the identity key)");
  size_t payload_len;
  const uint8_t *payload = cbor_bstr(&c, &payload_len, "payload (attached)");
  const uint8_t *sig = cbor_bstr(&c, &n, "signature");
  cr_assert_eq(n, 64, "r||s");
  cr_assert_eq(c.p, c.end, "nothing after the COSE_Sign1");

  cur pc = {payload, payload + payload_len};
  cr_assert_eq(cbor_expect(&pc, 6, "payload"), 55799, "self-described CBOR");
  cr_assert_eq(cbor_expect(&pc, 4, "payload"), 5, "an array of 5");
  out->payload_id = (unsigned)cbor_expect(&pc, 0, "payload id");
  const uint8_t *id = cbor_bstr(&pc, &n, "device UUID");
  cr_assert_eq(n, 16);
  char id_text[37];
  snprintf(id_text, sizeof id_text, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", id[0], id[1],
           id[2], id[3], id[4], id[5], id[6], id[7], id[8], id[9], id[10], id[11], id[12], id[13], id[14], id[15]);
  cr_assert_str_eq(id_text, uuid, "the payload names the device");
  const uint8_t *tag = cbor_bstr(&pc, &n, "sec tag");
  cur tc = {tag, tag + n};
  out->sec_tag = cbor_expect(&tc, 0, "sec tag integer");
  cr_assert_eq(tc.p, tc.end, "the sec tag byte string holds one integer");
  const uint8_t *digest = cbor_bstr(&pc, &n, "digest");
  cr_assert_eq(n, 32);
  uint8_t hash[32];
  cr_assert_eq(mbedtls_sha256_ret(out->body, out->body_len, hash, 0), 0);
  cr_assert_eq(memcmp(hash, digest, 32), 0, "the digest is the SHA-256 of the body");
  cbor_bstr(&pc, &n, "nonce");
  cr_assert_eq(n, 16);
  cr_assert_eq(pc.p, pc.end, "nothing after the payload");

  /* ES256 by the identity key over ["Signature1", protected, h'', payload]. */
  uint8_t ss[300];
  size_t k = 0;
  memcpy(ss, "\x84\x6aSignature1\x43\xa1\x01\x26\x40", 17);
  k = 17;
  cr_assert_lt(payload_len, 256);
  ss[k++] = 0x58;
  ss[k++] = (uint8_t)payload_len;
  memcpy(ss + k, payload, payload_len);
  k += payload_len;
  cr_assert_eq(mbedtls_sha256_ret(ss, k, hash, 0), 0);
  char *identity = sim_line("identity", dir);
  json_t *j = json_loads(identity, 0, NULL);
  const char *pem = jstr(j, "publicKeyPem");
  mbedtls_pk_context pub;
  mbedtls_pk_init(&pub);
  cr_assert_eq(mbedtls_pk_parse_public_key(&pub, (const unsigned char *)pem, strlen(pem) + 1), 0);
  mbedtls_mpi r, s2;
  mbedtls_mpi_init(&r);
  mbedtls_mpi_init(&s2);
  cr_assert_eq(mbedtls_mpi_read_binary(&r, sig, 32), 0);
  cr_assert_eq(mbedtls_mpi_read_binary(&s2, sig + 32, 32), 0);
  mbedtls_ecp_keypair *ec = mbedtls_pk_ec(pub);
  cr_assert_eq(mbedtls_ecdsa_verify(&ec->grp, hash, 32, &ec->Q, &r, &s2), 0, "signed by the identity key");
  mbedtls_mpi_free(&r);
  mbedtls_mpi_free(&s2);
  mbedtls_pk_free(&pub);
  json_decref(j);
  free(identity);
}

/* The subject Name of a DER CSR body, as its raw DER (tag and length included). */
static cur csr_subject(const keygen_read *k) {
  cur c = {k->body, k->body + k->body_len};
  der_tlv(&c, 0x30, false);                /* CertificationRequest */
  der_tlv(&c, 0x30, false);                /* CertificationRequestInfo */
  cr_assert_eq(der_tlv(&c, 0x02, true), 1); /* version */
  cur name = {c.p, NULL};
  der_tlv(&c, 0x30, true);
  name.end = c.p;
  return name;
}

static json_t *command_response(json_t *items, size_t i, const char *type) {
  return json_object_get(json_object_get(json_array_get(items, i), "response"), type);
}

Test(sim, keygen_answers_are_the_modems) {
  char dir[512], uuid[37], st[24];
  create("dev", dir, uuid);
  register_identity(dir);
  claim_ok(dir, NULL);
  queue(uuid, "{\"cloudAccessKeyGeneration\":{\"secTag\":" SEC_TAG "}}");
  queue(uuid, "{\"clientPrivateKeyGeneration\":{\"secTag\":42}}");
  queue(uuid, "{\"certificateSigningRequest\":{\"secTag\":7,\"attributes\":\"O=Nordic,CN=custom\"}}");
  sim_run r;
  run(&r, DEV_HTTP, dir, NULL);
  cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
  cr_assert_str_eq(device_status(uuid, st), "PROVISIONED", "the server accepted every answer");
  json_t *items = commands_of(uuid);
  keygen_read *k = malloc(sizeof *k);

  /* cloudAccessKeyGeneration: a CSR, payload id 9, sec tag 16842753, subject CN=<uuid>. */
  read_keygen_answer(jstr(command_response(items, 0, "cloudAccessKeyGeneration"), "message"), uuid, dir, k);
  cr_assert_eq(k->payload_id, 9);
  cr_assert_eq(k->sec_tag, 16842753u);
  cur name = csr_subject(k);
  uint8_t want[64] = {0x30, 0x2f, 0x31, 0x2d, 0x30, 0x2b, 0x06, 0x03, 0x55, 0x04, 0x03, 0x0c, 0x24};
  memcpy(want + 13, uuid, 36);
  cr_assert_eq((size_t)(name.end - name.p), 49u, "subject SET{SEQ{CN, UTF8String(36)}}");
  cr_assert_eq(memcmp(name.p, want, 49), 0, "the subject is CN=<device uuid>");

  /* clientPrivateKeyGeneration: a SubjectPublicKeyInfo, payload id 8, sec tag 42. */
  read_keygen_answer(jstr(command_response(items, 1, "clientPrivateKeyGeneration"), "message"), uuid, dir, k);
  cr_assert_eq(k->payload_id, 8);
  cr_assert_eq(k->sec_tag, 42u);
  mbedtls_pk_context pk;
  mbedtls_pk_init(&pk);
  cr_assert_eq(mbedtls_pk_parse_public_key(&pk, k->body, k->body_len), 0, "the body is a SubjectPublicKeyInfo");
  mbedtls_pk_free(&pk);

  /* Attributes name the subject. */
  read_keygen_answer(jstr(command_response(items, 2, "certificateSigningRequest"), "message"), uuid, dir, k);
  cr_assert_eq(k->sec_tag, 7u);
  mbedtls_x509_csr req;
  mbedtls_x509_csr_init(&req);
  cr_assert_eq(mbedtls_x509_csr_parse_der(&req, k->body, k->body_len), 0);
  char subject[200];
  mbedtls_x509_dn_gets(subject, sizeof subject, &req.subject);
  cr_assert_str_eq(subject, "O=Nordic, CN=custom");
  mbedtls_x509_csr_free(&req);
  free(k);
  json_decref(items);
}

/* Onboarding through the real binaries with both subjects the simulator can send. */
static void onboard_with_subject(const char *mode) {
  char dir[512], uuid[37], st[24];
  onboarding_rule();
  create("dev", dir, uuid);
  register_identity(dir);
  claim_ok(dir, "[\"" ONBOARD_TAG "\"]");
  sim_run r;
  run(&r, DEV_HTTP, dir, "--csr-subject", mode, NULL);
  cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
  cr_assert_str_eq(device_status(uuid, st), "PROVISIONED");
  json_t *items = commands_of(uuid);
  keygen_read *k = malloc(sizeof *k);
  read_keygen_answer(jstr(command_response(items, 0, "cloudAccessKeyGeneration"), "message"), uuid, dir, k);
  cur name = csr_subject(k);
  if (!strcmp(mode, "empty")) cr_assert(name.end - name.p == 2 && name.p[0] == 0x30 && name.p[1] == 0, "an empty Name");
  else cr_assert_eq(name.end - name.p, 49);
  free(k);
  json_decref(items);
  expect_onboarded_with_the_key(dir, uuid);
  /* Either way the certificate is named CN=<device uuid>. */
  json_t *dev = get_json("/v1/devices/%s", uuid);
  const char *cert = jstr(dev, "certificatePem");
  mbedtls_x509_crt crt;
  mbedtls_x509_crt_init(&crt);
  cr_assert_eq(mbedtls_x509_crt_parse(&crt, (const unsigned char *)cert, strlen(cert) + 1), 0);
  char dn[128], want[64];
  mbedtls_x509_dn_gets(dn, sizeof dn, &crt.subject);
  snprintf(want, sizeof want, "CN=%s", uuid);
  cr_assert_str_eq(dn, want);
  mbedtls_x509_crt_free(&crt);
  json_decref(dev);
}

Test(sim, onboards_with_a_cn_uuid_csr) { onboard_with_subject("uuid"); }
Test(sim, onboards_with_an_empty_subject_csr) { onboard_with_subject("empty"); }

/* ---- failures ---- */

static void injected_failure(dev_transport t) {
  char dir[512], uuid[37], st[24];
  onboarding_rule();
  create("dev", dir, uuid);
  register_identity(dir);
  claim_ok(dir, "[\"" ONBOARD_TAG "\"]");
  sim_run r;
  run(&r, t, dir, "--fail", "%KEYGEN=514", NULL);
  cr_assert_eq(r.status, 1, "%s: exit %d\n%s%s", dev_transport_name(t), r.status, r.out, r.err);
  cr_assert_eq(count_lines(r.out, "COMMAND "), 2, "the pre-step, then the failing %%KEYGEN: %s", r.out);
  cr_assert(strstr(r.out, " ERROR 514\n"), "%s", r.out);
  cr_assert_eq(count_lines(r.out, "FAILED "), 1, "%s", r.out);
  cr_assert_str_eq(device_status(uuid, st), "ERROR");
  json_t *items = commands_of(uuid);
  json_t *first = json_array_get(items, 0);
  cr_assert_str_eq(jstr(first, "status"), "FAILED");
  cr_assert_eq(jint(json_object_get(json_object_get(first, "response"), "errorResponse"), "cmeError"), 514);
  cr_assert_str_eq(jstr(json_array_get(items, 1), "status"), "CANCELLED");
  cr_assert_str_eq(jstr(json_array_get(items, 2), "status"), "CANCELLED");
  json_decref(items);
  /* No key was made under the injected error. */
  char path[700];
  struct stat sb;
  snprintf(path, sizeof path, "%s/keystore/" SEC_TAG "/private-key.pem", dir);
  cr_assert_neq(stat(path, &sb), 0, "no key stored");
}

Test(sim, injected_keygen_failure_over_http) { injected_failure(DEV_HTTP); }
Test(sim, injected_keygen_failure_over_coaps) { injected_failure(DEV_COAPS); }

static void unclaimed(dev_transport t) {
  char dir[512], uuid[37];
  create("dev", dir, uuid);
  register_identity(dir);
  sim_run r;
  run(&r, t, dir, NULL);
  cr_assert_eq(r.status, 2, "%s: exit %d\n%s%s", dev_transport_name(t), r.status, r.out, r.err);
  cr_assert_str_eq(r.out, "START\nNOT_CLAIMED\n");
}

Test(sim, unclaimed_device_exits_2_over_https) { unclaimed(DEV_HTTPS); }
Test(sim, unclaimed_device_exits_2_over_coap) { unclaimed(DEV_COAP); }

static void blocked(dev_transport t) {
  char dir[512], uuid[37], path[160];
  create("dev", dir, uuid);
  register_identity(dir);
  claim_ok(dir, NULL);
  queue(uuid, "{\"clientPrivateKeyGeneration\":{\"secTag\":42}}");
  queue(uuid, "{\"finished\":{}}");
  snprintf(path, sizeof path, "/v1/claimed-devices/%s/block", uuid);
  http_resp *b = owner(&m, KEY, "POST", path, NULL);
  cr_assert_eq(b->status, 200);
  http_resp_free(b);
  sim_run r;
  run(&r, t, dir, NULL);
  cr_assert_eq(r.status, 1, "%s: exit %d\n%s%s", dev_transport_name(t), r.status, r.out, r.err);
  cr_assert_str_eq(r.out, "START\nFAILED forbidden\n");
  json_t *items = commands_of(uuid);
  size_t i;
  json_t *c;
  json_array_foreach(items, i, c) cr_assert_str_eq(jstr(c, "status"), "PENDING");
  json_decref(items);
}

Test(sim, blocked_device_leaves_commands_pending_over_http) { blocked(DEV_HTTP); }
Test(sim, blocked_device_leaves_commands_pending_over_coap) { blocked(DEV_COAP); }

Test(sim, a_device_with_another_key_is_refused) {
  char dir[512], uuid[37], fake[512], st[24];
  create("dev", dir, uuid);
  register_identity(dir);
  /* Same device id, another identity key: what a cloned device would hold. */
  device_dir(fake, sizeof fake, "clone");
  sim_run r;
  sim(&r, "create", "--dir", fake, "--uuid", uuid, NULL);
  cr_assert_eq(r.status, 0, "%s", r.err);
  http_resp *c = claim(fake, NULL);
  cr_assert_eq(c->status, 400, "%s", c->body);
  cr_assert_eq(jint(c->json, "code"), 40003, "%s", c->body);
  http_resp_free(c);
  char path[160];
  snprintf(path, sizeof path, "/v1/claimed-devices/%s", uuid);
  http_resp *g = owner(&m, KEY, "GET", path, NULL);
  cr_assert_eq(g->status, 404, "nothing stored: %s", g->body);
  http_resp_free(g);
  /* The real device claims; the clone's JWTs are refused on every transport. */
  claim_ok(dir, NULL);
  queue(uuid, "{\"finished\":{}}");
  for (dev_transport t = DEV_HTTP; t <= DEV_COAPS; t++) {
    run(&r, t, fake, NULL);
    cr_assert_eq(r.status, 1, "%s: exit %d\n%s%s", dev_transport_name(t), r.status, r.out, r.err);
    cr_assert_str_eq(r.out, "START\nFAILED forbidden\n", "%s", dev_transport_name(t));
  }
  cr_assert_str_eq(device_status(uuid, st), "PENDING");
  run(&r, DEV_HTTP, dir, NULL);
  cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
  cr_assert_str_eq(device_status(uuid, st), "PROVISIONED");
}

Test(sim, coaps_verifies_the_server_against_the_ca) {
  char dir[512], uuid[37], url[96];
  create("dev", dir, uuid);
  claim_ok(dir, NULL);
  char other_ca[600];
  snprintf(other_ca, sizeof other_ca, "%s/ca/amazon-root-ca-1.pem", fixtures_dir());
  sim_run r;
  sim(&r, "run", "--dir", dir, "--url", url_of(DEV_COAPS, url), "--ca", other_ca, NULL);
  cr_assert_eq(r.status, 1, "%s%s", r.out, r.err);
  cr_assert(!strncmp(r.out, "START\nFAILED ", 13), "%s", r.out);
  sim(&r, "run", "--dir", dir, "--url", url_of(DEV_HTTPS, url), "--ca", other_ca, NULL);
  cr_assert_eq(r.status, 1, "%s%s", r.out, r.err);
  cr_assert(!strncmp(r.out, "START\nFAILED ", 13), "%s", r.out);
}

/* ---- the loop ---- */

Test(sim, nothing_queued_is_no_commands) {
  char dir[512], uuid[37];
  create("dev", dir, uuid);
  claim_ok(dir, NULL);
  sim_run r;
  run(&r, DEV_HTTP, dir, NULL);
  cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
  cr_assert_str_eq(r.out, "START\nNO_COMMANDS\n");
}

Test(sim, rounds_follow_the_limit_and_once_stops_after_one) {
  char dir[512], uuid[37], st[24];
  create("dev", dir, uuid);
  claim_ok(dir, NULL);
  queue(uuid, "{\"config\":{\"properties\":{\"a\":\"1\"}}}");
  queue(uuid, "{\"config\":{\"properties\":{\"b\":\"2\"}}}");
  queue(uuid, "{\"config\":{\"properties\":{\"c\":\"3\"}}}");
  sim_run r;
  run(&r, DEV_COAP, dir, "--limit", "1", "--once", NULL);
  cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
  cr_assert_eq(count_lines(r.out, "COMMAND "), 1, "%s", r.out);
  cr_assert(has_line(r.out, "DONE"), "%s", r.out);
  cr_assert_str_eq(device_status(uuid, st), "PENDING");
  /* Without --once the loop goes on, one command a round, until the queue is dry. */
  run(&r, DEV_HTTP, dir, "--limit", "1", NULL);
  cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
  cr_assert_eq(count_lines(r.out, "COMMAND "), 2, "the remembered after= skips the first: %s", r.out);
  cr_assert(has_line(r.out, "DONE"), "%s", r.out);
  cr_assert_str_eq(device_status(uuid, st), "PROVISIONED");
  char *cfg = read_text(dir, "config.json");
  cr_assert(strstr(cfg, "\"a\": \"1\"") && strstr(cfg, "\"b\": \"2\"") && strstr(cfg, "\"c\": \"3\""), "%s", cfg);
  free(cfg);
}

Test(sim, credentials_are_written_and_keys_replaced) {
  char dir[512], uuid[37];
  create("dev", dir, uuid);
  claim_ok(dir, NULL);
  queue(uuid, "{\"serverCertificate\":{\"secTag\":7,\"content\":\"-----BEGIN CERTIFICATE-----\\nMIIB\\n-----END CERTIFICATE-----\\n\"}}");
  queue(uuid, "{\"preSharedKey\":{\"secTag\":8,\"identity\":\"dev-psk\",\"secret\":\"00112233\"}}");
  queue(uuid, "{\"certificateSigningRequest\":{\"secTag\":9,\"attributes\":\"O=Nordic,CN=sim\",\"keyUsage\":\"101010000\"}}");
  queue(uuid, "{\"clientPrivateKeyGeneration\":{\"secTag\":9}}");
  sim_run r;
  run(&r, DEV_COAPS, dir, NULL);
  cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
  char *ca = read_text(dir, "keystore/7/ca-certificate.pem");
  cr_assert(strstr(ca, "BEGIN CERTIFICATE"), "%s", ca);
  free(ca);
  char *psk = read_text(dir, "keystore/8/psk.hex"), *ident = read_text(dir, "keystore/8/psk-identity.txt");
  cr_assert_str_eq(psk, "00112233");
  cr_assert_str_eq(ident, "dev-psk");
  free(psk);
  free(ident);
  /* The CSR names the requested subject; the public key answer matches the stored key. */
  json_t *items = commands_of(uuid);
  const char *csr = jstr(json_object_get(json_object_get(json_array_get(items, 2), "response"), "certificateSigningRequest"), "csr");
  uint8_t der[2048];
  size_t derlen;
  char why[160];
  cr_assert_eq(keygen_decode(csr, der, sizeof der, &derlen, NULL, why, sizeof why), 0, "%s", why);
  mbedtls_x509_csr req;
  mbedtls_x509_csr_init(&req);
  cr_assert_eq(mbedtls_x509_csr_parse_der(&req, der, derlen), 0);
  char subject[200];
  mbedtls_x509_dn_gets(subject, sizeof subject, &req.subject);
  cr_assert(strstr(subject, "CN=sim") && strstr(subject, "O=Nordic"), "%s", subject);
  mbedtls_x509_csr_free(&req);
  const char *msg = jstr(json_object_get(json_object_get(json_array_get(items, 3), "response"), "clientPrivateKeyGeneration"), "message");
  char value[4096];
  cr_assert(keygen_extract(msg, value, sizeof value) > 0, "%%KEYGEN answer: %s", msg);
  cr_assert_eq(keygen_decode(value, der, sizeof der, &derlen, NULL, why, sizeof why), 0, "%s", why);
  mbedtls_pk_context stored, answered;
  char *pem = read_text(dir, "keystore/9/private-key.pem");
  cr_assert_eq(es256_key_from_pem(&stored, pem, why, sizeof why), 0, "%s", why);
  cr_assert_eq(es256_pubkey_from_der(&answered, der, derlen, why, sizeof why), 0, "%s", why);
  unsigned char a[256], b[256];
  int la, lb;
  const unsigned char *pa = spki(&stored, a, sizeof a, &la), *pb = spki(&answered, b, sizeof b, &lb);
  cr_assert(la == lb && !memcmp(pa, pb, (size_t)la), "the answered public key is the stored key's");
  /* The pre-step deleted the CSR's key before the new one was made in the same tag. */
  mbedtls_x509_csr_init(&req);
  cr_assert_eq(keygen_decode(csr, der, sizeof der, &derlen, NULL, why, sizeof why), 0, "%s", why);
  cr_assert_eq(mbedtls_x509_csr_parse_der(&req, der, derlen), 0);
  pa = spki(&req.pk, a, sizeof a, &la);
  cr_assert(la != lb || memcmp(pa, pb, (size_t)la), "sec tag 9 holds the newer key");
  mbedtls_x509_csr_free(&req);
  mbedtls_pk_free(&stored);
  mbedtls_pk_free(&answered);
  free(pem);
  json_decref(items);
}

Test(sim, ignored_cme_errors_do_not_stop_the_run) {
  char dir[512], uuid[37], st[24];
  create("dev", dir, uuid);
  claim_ok(dir, NULL);
  /* The key delete before %KEYGEN ignores 513, so an injected 513 there is no failure. */
  queue(uuid, "{\"clientPrivateKeyGeneration\":{\"secTag\":5}}");
  sim_run r;
  run(&r, DEV_HTTP, dir, "--fail", "%CMNG=513", NULL);
  cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
  cr_assert_eq(count_lines(r.out, "COMMAND "), 2, "%s", r.out);
  cr_assert_null(strstr(r.out, "ERROR"), "%s", r.out);
  cr_assert_str_eq(device_status(uuid, st), "PROVISIONED");
  /* A credential write ignores nothing (and --fail may leave out the % and the case). */
  queue(uuid, "{\"serverCertificate\":{\"secTag\":5,\"content\":\"-----BEGIN CERTIFICATE-----\\nMIIB\\n-----END CERTIFICATE-----\\n\"}}");
  run(&r, DEV_HTTP, dir, "--fail", "cmng=513", NULL);
  cr_assert_eq(r.status, 1, "%s%s", r.out, r.err);
  cr_assert(strstr(r.out, " ERROR 513\n"), "%s", r.out);
  cr_assert_str_eq(device_status(uuid, st), "ERROR");
}

/* ---- the other subcommands ---- */

TestSuite(sim_cli, .timeout = 90);

Test(sim_cli, create_token_jwt_identity) {
  char dir[] = "/tmp/nrfprov-sim-test-XXXXXX", dev[600];
  cr_assert(mkdtemp(dir));
  snprintf(dev, sizeof dev, "%s/d", dir);
  sim_run r;
  sim(&r, "create", "--dir", dev, "--uuid", "0A1B2C3D-4E5F-4a6b-8c7d-8e9fa0b1c2d3", "--type", "3", "--imei", "352656100000001", NULL);
  cr_assert_eq(r.status, 0, "%s", r.err);
  cr_assert_str_eq(r.out, "0a1b2c3d-4e5f-4a6b-8c7d-8e9fa0b1c2d3\n");
  char key_path[700];
  struct stat sb;
  snprintf(key_path, sizeof key_path, "%s/identity.key", dev);
  cr_assert_eq(stat(key_path, &sb), 0);
  cr_assert_eq(sb.st_mode & 0777, 0600, "identity.key is 0600");
  /* A second create into the same directory is refused. */
  sim(&r, "create", "--dir", dev, NULL);
  cr_assert_eq(r.status, 1);
  cr_assert(strstr(r.err, "already"), "%s", r.err);

  char *ident = sim_line("identity", dev);
  json_t *id = json_loads(ident, 0, NULL);
  cr_assert_str_eq(jstr(id, "deviceId"), "0a1b2c3d-4e5f-4a6b-8c7d-8e9fa0b1c2d3");
  cr_assert_str_eq(jstr(id, "imei"), "352656100000001");
  cr_assert_str_eq(jstr(id, "deviceType"), "nrf9160_SICA");
  mbedtls_pk_context pub;
  char why[160];
  cr_assert_eq(es256_pubkey_from_pem(&pub, jstr(id, "publicKeyPem"), why, sizeof why), 0, "%s", why);

  char *tok = sim_line("token", dev);
  attest_token t;
  cr_assert_eq(attest_decode(tok, strlen(tok), &t, why, sizeof why), 0, "%s", why);
  cr_assert_str_eq(t.device_uuid, "0a1b2c3d-4e5f-4a6b-8c7d-8e9fa0b1c2d3");
  cr_assert_eq(t.device_type, 3);
  cr_assert_eq(attest_verify(&t, &pub), 0, "the token verifies with the identity key");
  char *tok2 = sim_line("token", dev);
  cr_assert_str_neq(tok, tok2, "every token has a fresh nonce");

  char *jwt = sim_line("jwt", dev);
  jwt_device j;
  cr_assert_eq(jwt_parse(jwt, strlen(jwt), (int64_t)time(NULL), &j, why, sizeof why), 0, "%s", why);
  cr_assert_str_eq(j.device_uuid, "0a1b2c3d-4e5f-4a6b-8c7d-8e9fa0b1c2d3");
  cr_assert(j.has_exp && j.exp > (int64_t)time(NULL) + 3000, "exp about an hour ahead");
  cr_assert(!strncmp(j.jti, "nrf-352656100000001.", 20), "%s", j.jti);
  cr_assert_eq(jwt_verify(&j, &pub), 0, "the JWT verifies with the identity key");
  free(jwt);
  free(tok);
  free(tok2);
  free(ident);
  json_decref(id);
  mbedtls_pk_free(&pub);

  /* A random device gets a version-4 UUID and a 15-digit IMEI. */
  snprintf(dev, sizeof dev, "%s/e", dir);
  char *uuid = sim_line("create", dev);
  cr_assert_eq(strlen(uuid), 36);
  cr_assert_eq(uuid[14], '4');
  ident = sim_line("identity", dev);
  id = json_loads(ident, 0, NULL);
  cr_assert_eq(strlen(jstr(id, "imei")), 15);
  cr_assert_str_eq(jstr(id, "deviceType"), "nrf9151_LACA", "type 6 by default");
  json_decref(id);
  free(ident);
  free(uuid);
  remove_tree(dir);
}

Test(sim_cli, bad_arguments_exit_1) {
  sim_run r;
  sim(&r, "create", "--dir", "/tmp/nrfprov-sim-never", "--imei", "12", NULL);
  cr_assert_eq(r.status, 1);
  cr_assert(strstr(r.err, "--imei"), "%s", r.err);
  sim(&r, "create", "--dir", "/tmp/nrfprov-sim-never", "--uuid", "nope", NULL);
  cr_assert_eq(r.status, 1);
  sim(&r, "token", "--dir", "/tmp/nrfprov-sim-never-made", NULL);
  cr_assert_eq(r.status, 1);
  cr_assert(strstr(r.err, "no device"), "%s", r.err);
  sim(&r, "run", "--dir", "/tmp/x", "--url", "ftp://x", NULL);
  cr_assert_eq(r.status, 1);
  sim(&r, "run", "--dir", "/tmp/x", "--url", "http://x", "--fail", "KEYGEN", NULL);
  cr_assert_eq(r.status, 1);
  cr_assert(strstr(r.err, "--fail"), "%s", r.err);
  sim(&r, "run", "--dir", "/tmp/x", "--url", "http://x", "--csr-subject", "bogus", NULL);
  cr_assert_eq(r.status, 1);
  cr_assert(strstr(r.err, "--csr-subject"), "%s", r.err);
  sim(&r, "token", "--dir", "/tmp/x", "--csr-subject", "empty", NULL);
  cr_assert_eq(r.status, 1, "an option of run is not one of token");
  cr_assert(strstr(r.err, "unknown option"), "%s", r.err);
  sim(&r, "fly", NULL);
  cr_assert_eq(r.status, 1);
  sim(&r, "--help", NULL);
  cr_assert_eq(r.status, 0);
  cr_assert(strstr(r.out, "NOT_CLAIMED"), "help names the event lines");
  cr_assert(strstr(r.out, "[--csr-subject uuid|empty]"), "help lists run's options from the table: %s", r.out);
}
