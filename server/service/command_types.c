/* The command types of docs/owner-api.md §3.1: validation of each type's parameters, and its
 * translation into the AT steps (or CBOR config/finished command) a device runs. One
 * table row per type; rules (§4) validate their commands with the same code. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdarg.h>
#include <string.h>

#include "service/internal.h"

#define SEC_TAG_MAX 2147483647LL

typedef int (*validate_fn)(const char *field, json_t *p, err_t *e);

static int need_sec_tag(const char *field, json_t *p, err_t *e) {
  json_t *v = json_object_get(p, "secTag");
  if (!v || json_is_null(v)) return err_set(e, ERR_MISSING_FIELD, "%s.secTag: required", field);
  if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > SEC_TAG_MAX)
    return err_set(e, ERR_BAD_FIELD, "%s.secTag: must be an integer from 0 to 2147483647", field);
  return 0;
}

/* An optional string; 40004 when present with another type. */
static int opt_string(const char *field, json_t *p, const char *key, err_t *e) {
  json_t *v = json_object_get(p, key);
  if (v && !json_is_null(v) && !json_is_string(v)) return err_set(e, ERR_BAD_FIELD, "%s.%s: must be a string", field, key);
  return 0;
}

/* A required non-empty string without double quotes (it is quoted in the AT command). */
static int need_text(const char *field, json_t *p, const char *key, err_t *e) {
  json_t *v = json_object_get(p, key);
  if (svc__empty(v)) return err_set(e, ERR_MISSING_FIELD, "%s.%s: required", field, key);
  if (!json_is_string(v)) return err_set(e, ERR_BAD_FIELD, "%s.%s: must be a string", field, key);
  if (strchr(json_string_value(v), '"')) return err_set(e, ERR_BAD_FIELD, "%s.%s: must not contain '\"'", field, key);
  return 0;
}

static int need_pem(const char *field, json_t *p, err_t *e) {
  int rc = need_text(field, p, "content", e);
  if (rc) return rc;
  if (!strstr(json_string_value(json_object_get(p, "content")), "-----BEGIN "))
    return err_set(e, ERR_BAD_FIELD, "%s.content: must be PEM (-----BEGIN ...)", field);
  return 0;
}

static int v_sec_tag_only(const char *field, json_t *p, err_t *e) { return need_sec_tag(field, p, e); }

static int v_csr(const char *field, json_t *p, err_t *e) {
  int rc = need_sec_tag(field, p, e);
  if (rc || (rc = opt_string(field, p, "attributes", e)) || (rc = opt_string(field, p, "keyUsage", e))) return rc;
  const char *a = json_string_value(json_object_get(p, "attributes"));
  if (a && strchr(a, '"')) return err_set(e, ERR_BAD_FIELD, "%s.attributes: must not contain '\"'", field);
  const char *ku = json_string_value(json_object_get(p, "keyUsage"));
  if (ku && (strlen(ku) != 9 || strspn(ku, "01") != 9))
    return err_set(e, ERR_BAD_FIELD, "%s.keyUsage: must be 9 characters of 0 and 1", field);
  return 0;
}

static int v_cloud_access(const char *field, json_t *p, err_t *e) {
  static const char *const fw[] = {"APP", "MODEM", "BOOT", "SOFTDEVICE", "BOOTLOADER"};
  int rc = need_sec_tag(field, p, e);
  if (rc || (rc = opt_string(field, p, "deviceManagementGroup", e)) || (rc = opt_string(field, p, "subType", e))) return rc;
  json_t *types = json_object_get(p, "firmwareTypes");
  if (!types || json_is_null(types)) return 0;
  if (!json_is_array(types)) return err_set(e, ERR_BAD_FIELD, "%s.firmwareTypes: must be an array", field);
  size_t i;
  json_t *x;
  json_array_foreach(types, i, x) {
    bool ok = false;
    for (size_t k = 0; k < sizeof fw / sizeof fw[0] && json_is_string(x); k++) ok |= !strcmp(json_string_value(x), fw[k]);
    if (!ok) return err_set(e, ERR_BAD_FIELD, "%s.firmwareTypes[%zu]: must be one of APP, MODEM, BOOT, SOFTDEVICE, BOOTLOADER", field, i);
  }
  return 0;
}

static int v_certificate(const char *field, json_t *p, err_t *e) {
  int rc = need_sec_tag(field, p, e);
  return rc ? rc : need_pem(field, p, e);
}

static int v_private_key(const char *field, json_t *p, err_t *e) {
  int rc = v_certificate(field, p, e);
  if (rc || (rc = opt_string(field, p, "password", e))) return rc;
  const char *pw = json_string_value(json_object_get(p, "password"));
  if (pw && strchr(pw, '"')) return err_set(e, ERR_BAD_FIELD, "%s.password: must not contain '\"'", field);
  return 0;
}

static int v_psk(const char *field, json_t *p, err_t *e) {
  int rc = need_sec_tag(field, p, e);
  if (rc || (rc = need_text(field, p, "identity", e)) || (rc = need_text(field, p, "secret", e))) return rc;
  const char *secret = json_string_value(json_object_get(p, "secret"));
  size_t n = strlen(secret);
  for (size_t i = 0; i < n; i++)
    if (!isxdigit((unsigned char)secret[i])) return err_set(e, ERR_BAD_FIELD, "%s.secret: must be hexadecimal", field);
  if (n % 2) return err_set(e, ERR_BAD_FIELD, "%s.secret: must have an even number of hex digits", field);
  return 0;
}

static int v_config(const char *field, json_t *p, err_t *e) {
  json_t *props = json_object_get(p, "properties");
  if (svc__empty(props)) return err_set(e, ERR_MISSING_FIELD, "%s.properties: required", field);
  if (!json_is_object(props)) return err_set(e, ERR_BAD_FIELD, "%s.properties: must be an object of strings", field);
  if (json_object_size(props) > 10) return err_set(e, ERR_BAD_FIELD, "%s.properties: at most 10 pairs", field);
  const char *k;
  json_t *v;
  json_object_foreach(props, k, v) {
    if (!*k) return err_set(e, ERR_BAD_FIELD, "%s.properties: keys must not be empty", field);
    if (!json_is_string(v)) return err_set(e, ERR_BAD_FIELD, "%s.properties.%s: must be a string", field, k);
  }
  return 0;
}

static int v_finished(const char *field, json_t *p, err_t *e) {
  (void)field, (void)p, (void)e;
  return 0;
}

typedef struct {
  const char *name;
  validate_fn validate;
  bool pre_delete_key; /* the %CMNG 3,<tag>,2 pre-step, ignoring CME 513 */
} command_type;

static const command_type types[] = {
  {"clientPrivateKeyGeneration", v_sec_tag_only, true},
  {"certificateSigningRequest", v_csr, true},
  {"cloudAccessKeyGeneration", v_cloud_access, true},
  {"serverCertificate", v_certificate, false},
  {"clientCertificate", v_certificate, false},
  {"clientPrivateKey", v_private_key, false},
  {"preSharedKey", v_psk, false},
  {"config", v_config, false},
  {"finished", v_finished, false},
};

static const command_type *find_type(const char *name) {
  for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
    if (!strcmp(types[i].name, name)) return &types[i];
  return NULL;
}

int svc__command_validate(json_t *cmd, const char *field, char type[40], err_t *e) {
  char f[96];
  json_t *req = json_object_get(cmd, "request");
  /* A present request is judged first (40005 precedes 40001 and 40004). */
  if (req && !json_is_null(req)) {
    const char *key = NULL;
    if (json_is_object(req) && json_object_size(req) == 1) {
      void *it = json_object_iter(req);
      key = json_object_iter_key(it);
    }
    if (!key || !find_type(key))
      return err_set(e, ERR_BAD_REQUEST_TYPE, "%srequest: must be an object holding exactly one of clientPrivateKeyGeneration, "
                     "certificateSigningRequest, cloudAccessKeyGeneration, serverCertificate, clientCertificate, "
                     "clientPrivateKey, preSharedKey, config, finished", field);
  }
  if (!req || json_is_null(req)) return err_set(e, ERR_MISSING_FIELD, "%srequest: required", field);
  const char *key = json_object_iter_key(json_object_iter(req));
  json_t *params = json_object_iter_value(json_object_iter(req));
  snprintf(f, sizeof f, "%srequest.%s", field, key);
  if (!json_is_object(params)) return err_set(e, ERR_BAD_FIELD, "%s: must be an object", f);
  json_t *d = json_object_get(cmd, "description");
  int rc = find_type(key)->validate(f, params, e);
  if (rc) return rc;
  if (d && !json_is_null(d) && !json_is_string(d)) return err_set(e, ERR_BAD_FIELD, "%sdescription: must be a string", field);
  snprintf(type, 40, "%s", key);
  return 0;
}

/* Build "fmt" into a malloc'd string. */
static char *text(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *text(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *s = NULL;
  if (vasprintf(&s, fmt, ap) < 0) s = NULL;
  va_end(ap);
  return s;
}

static const unsigned ignore_513[] = {513};

int svc__command_steps(const char *type, json_t *request, svc_step steps[2]) {
  json_t *p = json_object_get(request, type);
  const command_type *ct = find_type(type);
  if (!ct) return -1;
  long long tag = json_integer_value(json_object_get(p, "secTag"));
  memset(steps, 0, 2 * sizeof *steps);
  int n = 0;
  if (ct->pre_delete_key) {
    steps[n].pre = true;
    steps[n].set_cmd = "%CMNG";
    steps[n].params = text("3,%lld,2", tag);
    steps[n].ignore = ignore_513;
    steps[n].n_ignore = 1;
    n++;
  }
  svc_step *m = &steps[n];
  m->set_cmd = "%KEYGEN";
  const char *content = json_string_value(json_object_get(p, "content"));
  if (!strcmp(type, "clientPrivateKeyGeneration")) {
    m->params = text("%lld,2,1", tag);
  } else if (!strcmp(type, "certificateSigningRequest")) {
    const char *attr = json_string_value(json_object_get(p, "attributes"));
    const char *ku = json_string_value(json_object_get(p, "keyUsage"));
    m->params = text("%lld,2,0,\"%s\",\"%s\"", tag, attr ? attr : "", ku ? ku : "101010000");
  } else if (!strcmp(type, "cloudAccessKeyGeneration")) {
    m->params = text("%lld,2,0", tag);
  } else if (!strcmp(type, "serverCertificate") || !strcmp(type, "clientCertificate")) {
    m->set_cmd = "%CMNG";
    m->params = text("0,%lld,%d,\"%s\"", tag, type[1] == 'e' ? 0 : 1, content);
  } else if (!strcmp(type, "clientPrivateKey")) {
    const char *pw = json_string_value(json_object_get(p, "password"));
    m->set_cmd = "%CMNG";
    m->params = pw ? text("0,%lld,2,\"%s\",\"%s\"", tag, content, pw) : text("0,%lld,2,\"%s\"", tag, content);
  } else if (!strcmp(type, "preSharedKey")) {
    steps[0].pre = true;
    steps[0].set_cmd = "%CMNG";
    steps[0].params = text("0,%lld,3,\"%s\"", tag, json_string_value(json_object_get(p, "secret")));
    m = &steps[++n];
    m->set_cmd = "%CMNG";
    m->params = text("0,%lld,4,\"%s\"", tag, json_string_value(json_object_get(p, "identity")));
  } else if (!strcmp(type, "config")) {
    m->set_cmd = NULL;
    m->kind = 1;
    m->config = json_object_get(p, "properties");
  } else {
    m->set_cmd = NULL;
    m->kind = 2;
  }
  return n + 1;
}

void svc__steps_free(svc_step *steps, int n) {
  for (int i = 0; i < n; i++) free(steps[i].params);
}
