/* The simulated nRF91's AT command engine: commands run against the device directory
 * (device.c) the way the SDK's codec runs them against the modem, %KEYGEN answering in
 * the modem's format (docs/device-protocol.md §4.4), %CMNG writing and deleting
 * credentials, config and finished handled as the SDK does; the batch stops at the first
 * error. No network I/O; nothing of the mock beyond the device protocol. */
#include "sim.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <mbedtls/x509.h>
#include <mbedtls/x509_csr.h>

#include "proto/es256.h"
#include "proto/keygen.h"

/* CME errors the engine answers with (3GPP 27.007 and the nRF91 AT manual). */
#define CME_BAD_PARAMS 50  /* incorrect parameters */
#define CME_NOT_FOUND 513  /* no such credential */
#define CME_NO_ACCESS 514  /* the credential store refused */
#define CME_MEMORY 515     /* out of memory or storage */

#define MAX_PARAMS 8
#define KEYSTORE_PATH_MAX (SIM_PATH_MAX + 128) /* the directory, keystore/<tag>/<file name> */
#define AT_ANSWER_MAX 4096


/* Split AT parameters at commas outside double quotes; quoted values lose their quotes.
 * The pieces point into buf (a copy of params). Returns the count or -1. */
static int split_params(char *buf, char *v[MAX_PARAMS]) {
  int n = 0;
  char *p = buf;
  for (;;) {
    if (n == MAX_PARAMS) return -1;
    if (*p == '"') {
      char *close = strchr(p + 1, '"');
      if (!close) return -1;
      *close = 0;
      v[n++] = p + 1;
      p = close + 1;
      if (*p && *p != ',') return -1;
    } else {
      v[n++] = p;
      p += strcspn(p, ",");
    }
    if (!*p) return n;
    *p++ = 0;
  }
}

/* A non-negative decimal of at most 10 digits, or -1. */
static long long number(const char *s) {
  if (!*s || strlen(s) > 10) return -1;
  for (const char *p = s; *p; p++)
    if (*p < '0' || *p > '9') return -1;
  return strtoll(s, NULL, 10);
}

/* File names of the credential types %CMNG knows (the nRF91 AT manual's numbering). */
static const char *const credential_names[] = {
  "ca-certificate.pem", "client-certificate.pem", "private-key.pem", "psk.hex",
  "psk-identity.txt", "public-key.pem", "identity-public-key.pem",
};
#define N_CREDENTIAL_TYPES (long long)(sizeof credential_names / sizeof credential_names[0])

static void credential_path(const sim_device *d, long long tag, long long type, char *out, size_t n, bool dir_only) {
  if (dir_only) snprintf(out, n, "%s/keystore/%lld", d->dir, tag);
  else snprintf(out, n, "%s/keystore/%lld/%s", d->dir, tag, credential_names[type]);
}

/* An AT command's outcome: cme 0 and the answer text, or a CME error. */
typedef struct {
  unsigned cme;
  char text[AT_ANSWER_MAX];
} at_answer;

static void at_error(at_answer *a, unsigned cme) {
  a->cme = cme;
  snprintf(a->text, sizeof a->text, "+CME ERROR: %u\r\n", cme);
}

static void at_ok(at_answer *a) {
  a->cme = 0;
  snprintf(a->text, sizeof a->text, "OK\r\n");
}

/* The modem's keyUsage string: 9 characters of 0/1 for digitalSignature, nonRepudiation,
 * keyEncipherment, dataEncipherment, keyAgreement, keyCertSign, cRLSign, encipherOnly,
 * decipherOnly. mbedTLS 2.28 writes only the first eight bits, so decipherOnly is dropped. */
static int key_usage_bits(const char *ku, unsigned char *bits) {
  static const unsigned char flags[8] = {
    MBEDTLS_X509_KU_DIGITAL_SIGNATURE, MBEDTLS_X509_KU_NON_REPUDIATION, MBEDTLS_X509_KU_KEY_ENCIPHERMENT,
    MBEDTLS_X509_KU_DATA_ENCIPHERMENT, MBEDTLS_X509_KU_KEY_AGREEMENT, MBEDTLS_X509_KU_KEY_CERT_SIGN,
    MBEDTLS_X509_KU_CRL_SIGN, MBEDTLS_X509_KU_ENCIPHER_ONLY,
  };
  if (strlen(ku) != 9 || strspn(ku, "01") != 9) return -1;
  *bits = 0;
  for (int i = 0; i < 8; i++)
    if (ku[i] == '1') *bits |= flags[i];
  return 0;
}

/* AT%KEYGEN=<sec tag>,2,<0: CSR | 1: public key>[,"<attributes>"[,"<key usage>"]]: a new
 * P-256 key stored as the tag's private key, answered in the modem's format and signed by
 * the identity key. */
static void at_keygen(sim_device *d, char **v, int n, at_answer *a) {
  long long tag = n >= 3 ? number(v[0]) : -1, type = n >= 3 ? number(v[1]) : -1, fmt = n >= 3 ? number(v[2]) : -1;
  unsigned char ku = 0;
  bool has_ku = n >= 5 && *v[4];
  if (tag < 0 || tag > 2147483647LL || type != 2 || (fmt != 0 && fmt != 1) || n > 5 || (has_ku && key_usage_bits(v[4], &ku)))
    return at_error(a, CME_BAD_PARAMS);
  /* With no attributes the modem's subject is CN=<device UUID> (docs/device-protocol.md
   * §4.4); --csr-subject empty makes it an empty Name, as some device stacks send. */
  char subject[256] = "";
  if (n >= 4 && *v[3]) snprintf(subject, sizeof subject, "%s", v[3]);
  else if (!d->csr_subject_empty) snprintf(subject, sizeof subject, "CN=%s", d->uuid);

  mbedtls_pk_context key;
  if (es256_generate(&key)) return at_error(a, CME_MEMORY);
  unsigned char der[1024];
  int len;
  if (fmt == 0) {
    mbedtls_x509write_csr csr;
    mbedtls_x509write_csr_init(&csr);
    mbedtls_x509write_csr_set_md_alg(&csr, MBEDTLS_MD_SHA256);
    mbedtls_x509write_csr_set_key(&csr, &key);
    if (mbedtls_x509write_csr_set_subject_name(&csr, subject)) len = -2;
    else if (has_ku && mbedtls_x509write_csr_set_key_usage(&csr, ku)) len = -1;
    else len = mbedtls_x509write_csr_der(&csr, der, sizeof der, es256_rng, NULL);
    mbedtls_x509write_csr_free(&csr);
  } else {
    len = mbedtls_pk_write_pubkey_der(&key, der, sizeof der);
  }
  char pem[512], path[KEYSTORE_PATH_MAX];
  int pn = es256_key_to_pem(&key, 1, pem, sizeof pem);
  mbedtls_pk_free(&key);
  if (len == -2) return at_error(a, CME_BAD_PARAMS);
  if (len <= 0 || pn < 0) return at_error(a, CME_MEMORY);
  /* mbedTLS writes DER at the end of the buffer. */
  const unsigned char *start = der + sizeof der - len;
  keygen_info att = {.payload_id = fmt == 0 ? KEYGEN_PAYLOAD_CSR : KEYGEN_PAYLOAD_PUBKEY, .sec_tag = (uint32_t)tag};
  memcpy(att.device_id, d->id, sizeof att.device_id);
  if (sim__random_bytes(att.nonce, sizeof att.nonce)) return at_error(a, CME_MEMORY);
  if (keygen_format(start, (size_t)len, &att, &d->identity, a->text, sizeof a->text) < 0) return at_error(a, CME_MEMORY);
  credential_path(d, tag, 0, path, sizeof path, true);
  if (sim__mkdir_p(path)) return at_error(a, CME_MEMORY);
  credential_path(d, tag, 2, path, sizeof path, false);
  if (sim__write_file(path, pem, (size_t)pn, 0600)) return at_error(a, CME_MEMORY);
  a->cme = 0;
}

/* AT%CMNG=0,<tag>,<type>,"<content>"[,"<password>"] writes a credential;
 * AT%CMNG=3,<tag>,<type> deletes one (513 when there is none). */
static void at_cmng(sim_device *d, char **v, int n, at_answer *a) {
  long long op = n >= 3 ? number(v[0]) : -1, tag = n >= 3 ? number(v[1]) : -1, type = n >= 3 ? number(v[2]) : -1;
  if (tag < 0 || tag > 2147483647LL || type < 0 || type >= N_CREDENTIAL_TYPES) return at_error(a, CME_BAD_PARAMS);
  char path[KEYSTORE_PATH_MAX];
  if (op == 0 && (n == 4 || n == 5)) {
    credential_path(d, tag, type, path, sizeof path, true);
    if (sim__mkdir_p(path)) return at_error(a, CME_MEMORY);
    credential_path(d, tag, type, path, sizeof path, false);
    /* The modem keeps private keys and PSKs unreadable; so does the simulator. */
    mode_t mode = type == 2 || type == 3 ? 0600 : 0644;
    if (sim__write_file(path, v[3], strlen(v[3]), mode)) return at_error(a, CME_MEMORY);
    return at_ok(a);
  }
  if (op == 3 && n == 3) {
    credential_path(d, tag, type, path, sizeof path, false);
    if (unlink(path)) return at_error(a, errno == ENOENT ? CME_NOT_FOUND : CME_NO_ACCESS);
    credential_path(d, tag, type, path, sizeof path, true);
    rmdir(path); /* Only succeeds once the tag holds nothing more. */
    return at_ok(a);
  }
  return at_error(a, CME_BAD_PARAMS);
}

/* The name of a set command without "AT" and its "%" or "+" prefix: %KEYGEN -> KEYGEN. */
static const char *bare_name(const char *set) {
  if (!strncasecmp(set, "AT", 2) && (set[2] == '%' || set[2] == '+')) set += 2;
  return set + (*set == '%' || *set == '+');
}

static void at_run(sim_device *d, const dcbor_owned_command *c, const sim_fault *faults, size_t n_faults, at_answer *a) {
  const char *set = c->set_cmd ? c->set_cmd : "";
  /* --fail "%KEYGEN=514", "KEYGEN=514" and "AT%keygen=514" all name %KEYGEN. */
  for (size_t i = 0; i < n_faults; i++)
    if (!strcasecmp(bare_name(faults[i].set_cmd), bare_name(set))) return at_error(a, faults[i].cme);
  char *buf = strdup(c->params ? c->params : ""), *v[MAX_PARAMS];
  int n = buf ? split_params(buf, v) : -1;
  if (n < 0) at_error(a, CME_BAD_PARAMS);
  else if (!strcmp(set, "%KEYGEN")) at_keygen(d, v, n, a);
  else if (!strcmp(set, "%CMNG")) at_cmng(d, v, n, a);
  else at_error(a, CME_BAD_PARAMS); /* The simulator's modem knows no other set command. */
  free(buf);
}

/* config: every pair into config.json; 0 or -1. */
static int config_write(sim_device *d, const dcbor_owned_command *c) {
  json_t *cfg = sim__read_json(d->dir, "config.json");
  if (!json_is_object(cfg)) {
    json_decref(cfg);
    cfg = json_object();
  }
  for (size_t i = 0; i < c->n_pairs; i++) json_object_set_new(cfg, c->keys[i], json_string(c->values[i] ? c->values[i] : ""));
  int rc = sim__write_json(d->dir, "config.json", cfg);
  json_decref(cfg);
  return rc;
}

static void add_response(sim_batch *b, const char *cid, drsp_type type, unsigned cme, const char *msg) {
  dcbor_response *r = realloc(b->r, (b->n + 1) * sizeof *r);
  sim_step *s = realloc(b->steps, (b->n_steps + 1) * sizeof *s);
  if (r) b->r = r;
  if (s) b->steps = s;
  if (!r || !s) return;
  b->r[b->n++] = (dcbor_response){strdup(cid), type, cme, msg ? strdup(msg) : NULL};
  sim_step *st = &b->steps[b->n_steps++];
  snprintf(st->cid, sizeof st->cid, "%s", cid);
  st->failed = type == DRSP_ERROR;
  st->cme = cme;
}

void sim_device_run(sim_device *d, const dcbor_owned_command *c, size_t n, const sim_fault *faults, size_t n_faults,
                    sim_batch *out) {
  memset(out, 0, sizeof *out);
  const dcbor_owned_command *finished = NULL;
  at_answer *a = malloc(sizeof *a);
  for (size_t i = 0; i < n && !out->failed && a; i++) {
    const dcbor_owned_command *k = &c[i];
    if (k->type == DCMD_FINISHED) {
      /* The ack waits until the batch is known to have no errors, as in the SDK. */
      finished = k;
    } else if (k->type == DCMD_CONFIG) {
      if (config_write(d, k)) add_response(out, k->cid, DRSP_ERROR, 0, "Unable to store the key-value pairs");
      else add_response(out, k->cid, DRSP_CONFIG_ACK, 0, NULL);
    } else {
      at_run(d, k, faults, n_faults, a);
      bool ignored = false;
      for (size_t j = 0; a->cme && j < k->n_ignore; j++) ignored |= k->ignore_cme[j] == a->cme;
      if (a->cme && !ignored) add_response(out, k->cid, DRSP_ERROR, a->cme, a->text);
      else add_response(out, k->cid, DRSP_AT, 0, a->text);
    }
    out->failed = out->n_steps && out->steps[out->n_steps - 1].failed;
    snprintf(out->last, sizeof out->last, "%s", k->cid);
  }
  free(a);
  if (finished && !out->failed) {
    add_response(out, finished->cid, DRSP_FINISHED_ACK, 0, NULL);
    out->finished = true;
  }
}

void sim_batch_free(sim_batch *b) {
  for (size_t i = 0; i < b->n; i++) {
    free(b->r[i].cid);
    free(b->r[i].message);
  }
  free(b->r);
  free(b->steps);
  memset(b, 0, sizeof *b);
}
