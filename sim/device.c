/* The simulated nRF91's storage: its directory. A device directory holds identity.key
 * (the P-256 identity key, 0600), device.json (UUID, type, firmware UUID, IMEI, modem
 * firmware version), config.json (the key/value store config commands write),
 * state.json (the last processed correlation id, which devices persist) and
 * keystore/<sec tag>/ (one file per credential type, as %CMNG and %KEYGEN leave them).
 * This file creates and opens a directory and signs what the device signs (tokens,
 * JWTs); the AT command engine that changes the key store is at.c. No network I/O. */
#include "sim.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "files.h"
#include "proto/attest.h"
#include "proto/es256.h"
#include "proto/jwt.h"

#define SIM_FILE_MAX (1024 * 1024) /* the largest file of a device directory read back */

static void say(char *why, size_t whysz, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void say(char *why, size_t whysz, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(why, whysz, fmt, ap);
  va_end(ap);
}

static void path_of(char *out, size_t n, const char *dir, const char *name) { snprintf(out, n, "%s/%s", dir, name); }

int sim__random_bytes(uint8_t *b, size_t n) { return es256_rng(NULL, b, n) ? -1 : 0; }

static void random_uuid(uint8_t id[16]) {
  sim__random_bytes(id, 16);
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
int sim__write_file(const char *path, const void *data, size_t len, mode_t mode) {
  return files_write(path, data, len, mode, NULL, 0);
}

/* The whole file, NUL-terminated and malloc'd; NULL when it cannot be read. The device
 * directory holds small files only, and none of them is a symbolic link of ours. */
static char *read_text(const char *path) {
  char *text;
  size_t len;
  return files_read(path, SIM_FILE_MAX, FILES_NOFOLLOW, &text, &len, NULL, 0) ? NULL : text;
}

int sim__write_json(const char *dir, const char *name, json_t *o) {
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
  int rc = sim__write_file(path, line, n + 1, 0644);
  free(line);
  return rc;
}

json_t *sim__read_json(const char *dir, const char *name) {
  char path[SIM_PATH_MAX];
  path_of(path, sizeof path, dir, name);
  return json_load_file(path, 0, NULL);
}

int sim__mkdir_p(const char *path) { return files_mkdirs(path, 0755, NULL, 0); }

/* A plausible IMEI: a real-looking type allocation code, a random serial and the Luhn
 * check digit, so tools that validate IMEIs accept it. */
static void random_imei(char out[16]) {
  uint8_t r[6];
  sim__random_bytes(r, sizeof r);
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
  if (sim__mkdir_p(dir) || sim__mkdir_p(keystore)) return say(why, whysz, "cannot create %s: %s", dir, strerror(errno)), -1;

  mbedtls_pk_context key;
  char pem[512];
  int n;
  if (es256_generate(&key)) return say(why, whysz, "cannot generate the identity key"), -1;
  n = es256_key_to_pem(&key, 1, pem, sizeof pem);
  mbedtls_pk_free(&key);
  if (n < 0 || sim__write_file(path, pem, (size_t)n, 0600)) return say(why, whysz, "cannot write %s", path), -1;

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
  int rc = sim__write_json(dir, "device.json", dev) || sim__write_json(dir, "config.json", cfg) || sim__write_json(dir, "state.json", state);
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
  json_t *dev = sim__read_json(dir, "device.json");
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
  json_t *state = sim__read_json(dir, "state.json");
  const char *after = json_string_value(json_object_get(state, "after"));
  snprintf(d->after, sizeof d->after, "%s", after ? after : "");
  json_decref(state);
  return 0;
}

void sim_device_close(sim_device *d) { mbedtls_pk_free(&d->identity); }

int sim_device_token(sim_device *d, char *out, size_t outsz) {
  uint8_t nonce[16];
  if (sim__random_bytes(nonce, sizeof nonce)) return -1;
  return attest_encode(d->id, d->type, d->fw_id, nonce, &d->identity, out, outsz);
}

int sim_device_jwt(sim_device *d, char *out, size_t outsz) {
  char iss[80], jti[128];
  uint8_t r[8];
  if (sim__random_bytes(r, sizeof r)) return -1;
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
  int rc = sim__write_json(d->dir, "state.json", state);
  json_decref(state);
  return rc;
}

long sim_device_interval(const sim_device *d) {
  json_t *cfg = sim__read_json(d->dir, "config.json");
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
