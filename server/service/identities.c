/* Registered device identities (docs/control-api.md §2, docs/device-protocol.md §4.3): the control API's
 * register, list, read and remove. A registered key makes every token, JWT and %KEYGEN
 * answer of that device subject to a signature check (svc__check_signature in claims.c);
 * this file only keeps the register. Identities belong to no team: a device has one
 * identity key whoever claims it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "proto/es256.h"
#include "proto/jwt.h"
#include "service/internal.h"
#include "store/identities.h"

static json_t *identity_json(const store_identity *i) {
  char created[32];
  svc__time(i->created_at, created);
  json_t *o = json_pack("{s:s, s:s}", "deviceId", i->device_id, "publicKeyPem", i->public_key_pem);
  if (*i->imei) json_object_set_new(o, "imei", json_string(i->imei));
  if (*i->device_type) json_object_set_new(o, "deviceType", json_string(i->device_type));
  json_object_set_new(o, "createdAt", json_string(created));
  return o;
}

/* An optional string field: absent or null leaves out empty; 40004 when not a string
 * or longer than max characters, or (digits) not all decimal digits. */
static int optional_text(json_t *body, const char *field, size_t max, bool digits, char *out, size_t outsz, err_t *e) {
  json_t *v = json_object_get(body, field);
  *out = 0;
  if (!v || json_is_null(v)) return 0;
  if (!json_is_string(v)) return err_set(e, ERR_BAD_FIELD, "%s: must be a string", field);
  const char *s = json_string_value(v);
  size_t n = json_string_length(v);
  if (!n || n > max || n >= outsz) return err_set(e, ERR_BAD_FIELD, "%s: must hold 1 to %zu characters", field, max);
  if (digits && strspn(s, "0123456789") != n) return err_set(e, ERR_BAD_FIELD, "%s: must hold only decimal digits", field);
  snprintf(out, outsz, "%s", s);
  return 0;
}

/* Validate a registration body into i (its PEM borrowed from body). */
int svc__identity_from_json(json_t *body, store_identity *i, err_t *e) {
  json_t *id = json_object_get(body, "deviceId"), *pem = json_object_get(body, "publicKeyPem");
  memset(i, 0, sizeof *i);
  if (svc__empty(id)) return err_set(e, ERR_MISSING_FIELD, "deviceId: required");
  if (!json_is_string(id) || jwt_uuid_parse(json_string_value(id), json_string_length(id), i->device_id))
    return err_set(e, ERR_BAD_FIELD, "deviceId: must be a device UUID (8-4-4-4-12 hex)");
  if (svc__empty(pem)) return err_set(e, ERR_MISSING_FIELD, "publicKeyPem: required");
  if (!json_is_string(pem)) return err_set(e, ERR_BAD_FIELD, "publicKeyPem: must be a string");
  mbedtls_pk_context pk;
  char why[160];
  if (es256_pubkey_from_pem(&pk, json_string_value(pem), why, sizeof why))
    return err_set(e, ERR_BAD_FIELD, "publicKeyPem: must be an EC P-256 public key in PEM: %s", why);
  mbedtls_pk_free(&pk);
  /* IMEIs have 15 digits, IMEISVs 16; a few more leave room for test values. */
  int rc = optional_text(body, "imei", 20, true, i->imei, sizeof i->imei, e);
  if (!rc) rc = optional_text(body, "deviceType", 31, false, i->device_type, sizeof i->device_type, e);
  if (rc) return rc;
  i->public_key_pem = (char *)(uintptr_t)json_string_value(pem); /* borrowed, only read */
  i->created_at = clock_wall_ms();
  return 0;
}

/* True when the two PEMs hold the same public key (whatever their line breaks). */
static bool same_key(const char *pem_a, const char *pem_b) {
  mbedtls_pk_context a, b;
  char why[160];
  unsigned char da[200], db[200];
  if (es256_pubkey_from_pem(&a, pem_a, why, sizeof why)) return false;
  if (es256_pubkey_from_pem(&b, pem_b, why, sizeof why)) {
    mbedtls_pk_free(&a);
    return false;
  }
  /* mbedtls_pk_write_pubkey_der writes at the end of the buffer. */
  int na = mbedtls_pk_write_pubkey_der(&a, da, sizeof da), nb = mbedtls_pk_write_pubkey_der(&b, db, sizeof db);
  mbedtls_pk_free(&a);
  mbedtls_pk_free(&b);
  return na > 0 && na == nb && !memcmp(da + sizeof da - na, db + sizeof db - nb, (size_t)na);
}

int svc__identity_register(svc *s, const store_identity *i, bool replace, err_t *e) {
  store_identity old;
  int rc = store_identity_find(s->store, i->device_id, &old);
  if (rc < 0) return err_set(e, ERR_INTERNAL, "cannot read identities");
  if (rc == 0) {
    bool same = same_key(old.public_key_pem, i->public_key_pem);
    store_identity_free(&old);
    /* Whoever could re-key a device could impersonate it (docs/control-api.md §5). */
    if (!same && !replace)
      return err_set(e, ERR_NAME_EXISTS, "deviceId: device %s already has an identity key; send ?replace=true to replace it",
                     i->device_id);
  }
  if (store_identity_put(s->store, i)) return err_set(e, ERR_INTERNAL, "cannot store the identity of %s", i->device_id);
  return 0;
}

int svc_identity_put(svc *s, json_t *body, bool replace, json_t **out, err_t *e) {
  store_identity i;
  int rc = svc__identity_from_json(body, &i, e);
  if (rc) return rc;
  if (store_begin(s->store)) return err_set(e, ERR_INTERNAL, "store unavailable");
  rc = svc__identity_register(s, &i, replace, e);
  if (!rc) *out = identity_json(&i);
  return svc__finish(s, rc, out, "the identity", e);
}

static void add_identity(const store_identity *i, void *ud) { json_array_append_new(ud, identity_json(i)); }

int svc_identity_list(svc *s, json_t **out, err_t *e) {
  json_t *items = json_array();
  int64_t total = 0;
  int rc = 0;
  if (store_begin_read(s->store)) rc = err_set(e, ERR_INTERNAL, "store unavailable");
  else {
    if (store_identity_list(s->store, add_identity, items, &total)) rc = err_set(e, ERR_INTERNAL, "cannot list identities");
    store_end_read(s->store);
  }
  if (rc) {
    json_decref(items);
    return rc;
  }
  *out = json_pack("{s:o, s:I}", "items", items, "total", (json_int_t)total);
  return 0;
}

int svc_identity_get(svc *s, const char *device_id, json_t **out, err_t *e) {
  char id[37];
  /* Ids are stored lower-case; an id that is no UUID cannot name one. */
  if (jwt_uuid_parse(device_id, strlen(device_id), id)) return err_set(e, ERR_NOT_FOUND, "no identity for %s", device_id);
  store_identity i;
  if (store_begin_read(s->store)) return err_set(e, ERR_INTERNAL, "store unavailable");
  int rc = store_identity_find(s->store, id, &i);
  store_end_read(s->store);
  if (rc < 0) return err_set(e, ERR_INTERNAL, "cannot read identities");
  if (rc > 0) return err_set(e, ERR_NOT_FOUND, "no identity for %s", id);
  *out = identity_json(&i);
  store_identity_free(&i);
  return 0;
}

int svc_identity_delete(svc *s, const char *device_id, err_t *e) {
  char id[37];
  if (jwt_uuid_parse(device_id, strlen(device_id), id)) return err_set(e, ERR_NOT_FOUND, "no identity for %s", device_id);
  if (store_begin(s->store)) return err_set(e, ERR_INTERNAL, "store unavailable");
  int rc = store_identity_delete(s->store, id);
  if (rc < 0) rc = err_set(e, ERR_INTERNAL, "cannot remove the identity of %s", id);
  else if (rc > 0) rc = err_set(e, ERR_NOT_FOUND, "no identity for %s", id);
  return svc__finish(s, rc, NULL, "the removal", e);
}
