/* The simulated nRF91: its directory and its AT command engine. A device directory holds
 * identity.key (the P-256 identity key, 0600), device.json (UUID, type, firmware UUID,
 * IMEI, modem firmware version), config.json (the key/value store config commands
 * write), state.json (the last processed correlation id, which devices persist) and
 * keystore/<sec tag>/ (one file per credential type, as %CMNG and %KEYGEN leave them).
 * Commands run here the way the SDK's codec runs them against the modem; this file does
 * no network I/O and knows nothing of the mock beyond the device protocol. */
#include "sim.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/x509.h>
#include <mbedtls/x509_csr.h>

#include "files.h"
#include "proto/attest.h"
#include "proto/es256.h"
#include "proto/jwt.h"
#include "proto/keygen.h"

/* CME errors the engine answers with (3GPP 27.007 and the nRF91 AT manual). */
#define CME_BAD_PARAMS 50  /* incorrect parameters */
#define CME_NOT_FOUND 513  /* no such credential */
#define CME_NO_ACCESS 514  /* the credential store refused */
#define CME_MEMORY 515     /* out of memory or storage */

#define MAX_PARAMS 8
#define KEYSTORE_PATH_MAX (SIM_PATH_MAX + 128) /* the directory, keystore/<tag>/<file name> */
#define AT_ANSWER_MAX 4096
#define SIM_FILE_MAX (1024 * 1024) /* the largest file of a device directory read back */

static void say(char *why, size_t whysz, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void say(char *why, size_t whysz, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(why, whysz, fmt, ap);
  va_end(ap);
}

static void path_of(char *out, size_t n, const char *dir, const char *name) { snprintf(out, n, "%s/%s", dir, name); }

static int random_bytes(uint8_t *b, size_t n) { return es256_rng(NULL, b, n) ? -1 : 0; }

static void random_uuid(uint8_t id[16]) {
  random_bytes(id, 16);
  id[6] = (id[6] & 0x0f) | 0x40; /* version 4 */
  id[8] = (id[8] & 0x3f) | 0x80; /* RFC 4122 variant */
}

static int uuid_bytes(const char *text, uint8_t id[16], char canon[37]) {
  if (jwt_uuid_parse(text, strlen(text), canon)) return -1;
  for (int i = 0, k = 0; i < 36; i++) {
    if (canon[i] == '-') continue;
    unsigned v;
    sscanf(canon + i, "%2x", &v);
    id[k++] = (uint8_t)v;
    i++;
  }
  return 0;
}

/* Write a file atomically (files_write), so a crash never leaves half of it. */
static int write_file(const char *path, const void *data, size_t len, mode_t mode) {
  return files_write(path, data, len, mode, NULL, 0);
}

/* The whole file, NUL-terminated and malloc'd; NULL when it cannot be read. The device
 * directory holds small files only, and none of them is a symbolic link of ours. */
static char *read_text(const char *path) {
  char *text;
  size_t len;
  return files_read(path, SIM_FILE_MAX, FILES_NOFOLLOW, &text, &len, NULL, 0) ? NULL : text;
}

static int write_json(const char *dir, const char *name, json_t *o) {
  char path[SIM_PATH_MAX];
  path_of(path, sizeof path, dir, name);
  char *text = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
  if (!text) return -1;
  size_t n = strlen(text);
  char *line = realloc(text, n + 2);
  if (!line) {
    free(text);
    return -1;
  }
  line[n] = '\n';
  line[n + 1] = 0;
  int rc = write_file(path, line, n + 1, 0644);
  free(line);
  return rc;
}

static json_t *read_json(const char *dir, const char *name) {
  char path[SIM_PATH_MAX];
  path_of(path, sizeof path, dir, name);
  return json_load_file(path, 0, NULL);
}

static int mkdir_p(const char *path) { return files_mkdirs(path, 0755, NULL, 0); }

/* A plausible IMEI: a real-looking type allocation code, a random serial and the Luhn
 * check digit, so tools that validate IMEIs accept it. */
static void random_imei(char out[16]) {
  uint8_t r[6];
  random_bytes(r, sizeof r);
  snprintf(out, 16, "35404806");
  for (int i = 0; i < 6; i++) out[8 + i] = (char)('0' + r[i] % 10);
  int sum = 0;
  for (int i = 0; i < 14; i++) {
    int v = out[i] - '0';
    if (i % 2) {
      v *= 2;
      if (v > 9) v -= 9;
    }
    sum += v;
  }
  out[14] = (char)('0' + (10 - sum % 10) % 10);
  out[15] = 0;
}

static bool imei_valid(const char *s) {
  size_t n = strlen(s);
  if (n != 15) return false;
  for (size_t i = 0; i < n; i++)
    if (s[i] < '0' || s[i] > '9') return false;
  return true;
}

int sim_device_create(const char *dir, const char *uuid, unsigned type, const char *imei, char *why, size_t whysz) {
  char path[SIM_PATH_MAX], canon[37], fw_canon[37], imei_buf[16];
  uint8_t id[16], fw[16];
  struct stat st;
  if (strlen(dir) > SIM_PATH_MAX - 64) return say(why, whysz, "--dir: path too long"), -1;
  if (uuid) {
    if (uuid_bytes(uuid, id, canon)) return say(why, whysz, "--uuid: '%s' is not a UUID", uuid), -1;
  } else {
    random_uuid(id);
    attest_uuid_format(id, canon);
  }
  if (type < 1 || type > 0xffff) return say(why, whysz, "--type: must be a device type code (1..65535)"), -1;
  if (imei && !imei_valid(imei)) return say(why, whysz, "--imei: must be 15 digits"), -1;
  if (!imei) random_imei(imei_buf);
  path_of(path, sizeof path, dir, "identity.key");
  if (stat(path, &st) == 0) return say(why, whysz, "%s already holds a device", dir), -1;
  char keystore[SIM_PATH_MAX];
  path_of(keystore, sizeof keystore, dir, "keystore");
  if (mkdir_p(dir) || mkdir_p(keystore)) return say(why, whysz, "cannot create %s: %s", dir, strerror(errno)), -1;

  mbedtls_pk_context key;
  char pem[512];
  int n;
  if (es256_generate(&key)) return say(why, whysz, "cannot generate the identity key"), -1;
  n = es256_key_to_pem(&key, 1, pem, sizeof pem);
  mbedtls_pk_free(&key);
  if (n < 0 || write_file(path, pem, (size_t)n, 0600)) return say(why, whysz, "cannot write %s", path), -1;

  random_uuid(fw);
  attest_uuid_format(fw, fw_canon);
  /* nRF9160 variants (codes 1-3) run the 1.3 modem firmware line, the others 2.0. */
  const char *mfw = type <= 3 ? "mfw_nrf9160_1.3.5" : "mfw_nrf91x1_2.0.1";
  char created[32];
  time_t now = time(NULL);
  strftime(created, sizeof created, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
  json_t *dev = json_pack("{s:s, s:i, s:s, s:s, s:s, s:s}", "deviceId", canon, "deviceType", (int)type, "firmwareId",
                          fw_canon, "imei", imei ? imei : imei_buf, "modemFirmware", mfw, "createdAt", created);
  json_t *cfg = json_object(), *state = json_pack("{s:s}", "after", "");
  int rc = write_json(dir, "device.json", dev) || write_json(dir, "config.json", cfg) || write_json(dir, "state.json", state);
  json_decref(dev);
  json_decref(cfg);
  json_decref(state);
  if (rc) return say(why, whysz, "cannot write the files of %s", dir), -1;
  return 0;
}

int sim_device_open(sim_device *d, const char *dir, char *why, size_t whysz) {
  memset(d, 0, sizeof *d);
  mbedtls_pk_init(&d->identity);
  if (strlen(dir) > SIM_PATH_MAX - 64) return say(why, whysz, "--dir: path too long"), -1;
  snprintf(d->dir, sizeof d->dir, "%s", dir);
  char path[SIM_PATH_MAX];
  path_of(path, sizeof path, dir, "identity.key");
  char *pem = read_text(path);
  if (!pem) return say(why, whysz, "%s holds no device (no identity.key; run nrfprov-sim create)", dir), -1;
  char kwhy[128];
  int rc = es256_key_from_pem(&d->identity, pem, kwhy, sizeof kwhy);
  free(pem);
  if (rc) {
    mbedtls_pk_init(&d->identity);
    return say(why, whysz, "%s: %s", path, kwhy), -1;
  }
  json_t *dev = read_json(dir, "device.json");
  const char *uuid = json_string_value(json_object_get(dev, "deviceId"));
  const char *fw = json_string_value(json_object_get(dev, "firmwareId"));
  const char *imei = json_string_value(json_object_get(dev, "imei"));
  const char *mfw = json_string_value(json_object_get(dev, "modemFirmware"));
  json_int_t type = json_integer_value(json_object_get(dev, "deviceType"));
  if (!uuid || !fw || !imei || uuid_bytes(uuid, d->id, d->uuid) || uuid_bytes(fw, d->fw_id, d->fw_uuid) || type < 1) {
    json_decref(dev);
    sim_device_close(d);
    return say(why, whysz, "%s/device.json is missing or damaged", dir), -1;
  }
  d->type = (unsigned)type;
  snprintf(d->imei, sizeof d->imei, "%s", imei);
  snprintf(d->mfw, sizeof d->mfw, "%s", mfw ? mfw : "mfw_nrf91x1_2.0.1");
  json_decref(dev);
  json_t *state = read_json(dir, "state.json");
  const char *after = json_string_value(json_object_get(state, "after"));
  snprintf(d->after, sizeof d->after, "%s", after ? after : "");
  json_decref(state);
  return 0;
}

void sim_device_close(sim_device *d) { mbedtls_pk_free(&d->identity); }

int sim_device_token(sim_device *d, char *out, size_t outsz) {
  uint8_t nonce[16];
  if (random_bytes(nonce, sizeof nonce)) return -1;
  return attest_encode(d->id, d->type, d->fw_id, nonce, &d->identity, out, outsz);
}

int sim_device_jwt(sim_device *d, char *out, size_t outsz) {
  char iss[80], jti[128];
  uint8_t r[8];
  if (random_bytes(r, sizeof r)) return -1;
  snprintf(iss, sizeof iss, "nrf-%s.%s", d->imei, d->uuid);
  snprintf(jti, sizeof jti, "nrf-%s.%s.%02x%02x%02x%02x%02x%02x%02x%02x", d->imei, d->fw_uuid, r[0], r[1], r[2], r[3], r[4],
           r[5], r[6], r[7]);
  int64_t now = (int64_t)time(NULL);
  return jwt_make(iss, jti, now, now + 3600, &d->identity, out, outsz);
}

char *sim_device_identity_json(sim_device *d) {
  char pem[512], tbuf[32];
  if (es256_key_to_pem(&d->identity, 0, pem, sizeof pem) < 0) return NULL;
  json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "deviceId", d->uuid, "publicKeyPem", pem, "imei", d->imei, "deviceType",
                        attest_device_type_name(d->type, tbuf, sizeof tbuf));
  char *text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
  json_decref(o);
  return text;
}

int sim_device_save_after(sim_device *d, const char *cid) {
  snprintf(d->after, sizeof d->after, "%s", cid);
  json_t *state = json_pack("{s:s}", "after", d->after);
  int rc = write_json(d->dir, "state.json", state);
  json_decref(state);
  return rc;
}

long sim_device_interval(const sim_device *d) {
  json_t *cfg = read_json(d->dir, "config.json");
  const char *v = json_string_value(json_object_get(cfg, "provisioning/interval-sec"));
  long sec = 0;
  if (v) {
    char *end;
    sec = strtol(v, &end, 10);
    if (*end || sec < 0) sec = 0;
  }
  json_decref(cfg);
  return sec;
}

/* ---- the AT command engine ---- */

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
  if (random_bytes(att.nonce, sizeof att.nonce)) return at_error(a, CME_MEMORY);
  if (keygen_format(start, (size_t)len, &att, &d->identity, a->text, sizeof a->text) < 0) return at_error(a, CME_MEMORY);
  credential_path(d, tag, 0, path, sizeof path, true);
  if (mkdir_p(path)) return at_error(a, CME_MEMORY);
  credential_path(d, tag, 2, path, sizeof path, false);
  if (write_file(path, pem, (size_t)pn, 0600)) return at_error(a, CME_MEMORY);
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
    if (mkdir_p(path)) return at_error(a, CME_MEMORY);
    credential_path(d, tag, type, path, sizeof path, false);
    /* The modem keeps private keys and PSKs unreadable; so does the simulator. */
    mode_t mode = type == 2 || type == 3 ? 0600 : 0644;
    if (write_file(path, v[3], strlen(v[3]), mode)) return at_error(a, CME_MEMORY);
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
  json_t *cfg = read_json(d->dir, "config.json");
  if (!json_is_object(cfg)) {
    json_decref(cfg);
    cfg = json_object();
  }
  for (size_t i = 0; i < c->n_pairs; i++) json_object_set_new(cfg, c->keys[i], json_string(c->values[i] ? c->values[i] : ""));
  int rc = write_json(d->dir, "config.json", cfg);
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
