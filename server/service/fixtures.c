/* Fixtures (control-api §4): a JSON document of teams, identities, tags, claimed
 * devices, rules and commands loaded in one transaction, at start-up (--fixtures) or by
 * POST /_mock/fixtures. Either everything loads or nothing does, and an error names the
 * element ("claimedDevices[3].claimToken: ...").
 *
 * Each element goes through the same checks and store calls as the owner API's verb for
 * it (token decoding and signature check, tag rules, command validation, the 20
 * unfinished limit, settling), called inside the one open transaction instead of each
 * verb's own. Kinds load in dependency order: teams, identities, tags, claimedDevices,
 * rules, commands. Not an import of arbitrary rows: ids, times and queue ids are made
 * here as the API would make them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/attest.h"
#include "proto/es256.h"
#include "proto/jwt.h"
#include "service/control.h"
#include "service/internal.h"
#include "store/claims.h"
#include "store/commands.h"
#include "store/control.h"
#include "store/identities.h"

#define MAX_UNFINISHED 20
#define NIL_UUID "00000000-0000-0000-0000-000000000000"

/* Prefix e's message with the element's name unless it already starts with it. */
static int at(const char *elem, err_t *e, int rc) {
  if (rc && strncmp(e->message, elem, strlen(elem))) {
    char msg[sizeof e->message + 80];
    snprintf(msg, sizeof msg, "%s: %s", elem, e->message);
    memcpy(e->message, msg, sizeof e->message - 1);
    e->message[sizeof e->message - 1] = 0;
    err_sanitize(e->message); /* the cut may have split a character */
  }
  return rc;
}

/* A required string field of 1..max characters. */
static int req_string(json_t *el, const char *elem, const char *field, size_t max, const char **out, err_t *e) {
  json_t *v = json_object_get(el, field);
  if (svc__empty(v)) return err_set(e, ERR_MISSING_FIELD, "%s.%s: required", elem, field);
  if (!json_is_string(v) || json_string_length(v) > max)
    return err_set(e, ERR_BAD_FIELD, "%s.%s: must be a string of at most %zu characters", elem, field, max);
  *out = json_string_value(v);
  return 0;
}

/* An optional string field of 1..max characters (NULL when absent or null); digits:
 * decimal digits only. */
static int opt_string(json_t *el, const char *elem, const char *field, size_t max, bool digits, const char **out, err_t *e) {
  json_t *v = json_object_get(el, field);
  *out = NULL;
  if (!v || json_is_null(v)) return 0;
  if (!json_is_string(v) || !json_string_length(v) || json_string_length(v) > max)
    return err_set(e, ERR_BAD_FIELD, "%s.%s: must be a string of 1 to %zu characters", elem, field, max);
  if (digits && strspn(json_string_value(v), "0123456789") != json_string_length(v))
    return err_set(e, ERR_BAD_FIELD, "%s.%s: must hold only decimal digits", elem, field);
  *out = json_string_value(v);
  return 0;
}

/* The team an element names by API key ("team"), created on first use as an owner call
 * would (refused in strict mode when the key is not listed). */
/* Resolve (creating) the team of an API key. In strict mode an unlisted key is a bad
 * value in the document (40004), not a failed authentication of the caller (401). */
static int ensure_team(svc *s, const char *key, const char *elem, const char *field, svc_team *t, err_t *e) {
  int rc = svc__team(s, key, t, e);
  if (rc == -(int)ERR_UNAUTHORIZED) {
    char why[sizeof e->message];
    memcpy(why, e->message, sizeof why);
    return err_set(e, ERR_BAD_FIELD, "%s.%s: %s", elem, field, why);
  }
  return at(elem, e, rc);
}

static int team_of(svc *s, json_t *el, const char *elem, svc_team *t, err_t *e) {
  const char *key;
  int rc = req_string(el, elem, "team", 512, &key, e);
  if (!rc) rc = ensure_team(s, key, elem, "team", t, e);
  return rc;
}

static int load_team(svc *s, json_t *el, const char *elem, err_t *e) {
  const char *key, *name;
  svc_team t;
  int rc = req_string(el, elem, "apiKey", 512, &key, e);
  if (!rc) rc = opt_string(el, elem, "name", 255, false, &name, e);
  if (!rc) rc = ensure_team(s, key, elem, "apiKey", &t, e);
  if (!rc && name && store_team_set_name(s->store, t.id, name)) rc = err_set(e, ERR_INTERNAL, "%s: cannot name the team", elem);
  return rc;
}

static int load_identity(svc *s, json_t *el, const char *elem, err_t *e) {
  const char *id, *pem, *imei, *type;
  store_identity i = {0};
  int rc = req_string(el, elem, "deviceId", 36, &id, e);
  if (!rc && jwt_uuid_parse(id, strlen(id), i.device_id))
    rc = err_set(e, ERR_BAD_FIELD, "%s.deviceId: must be a device UUID (8-4-4-4-12 hex)", elem);
  if (!rc) rc = req_string(el, elem, "publicKeyPem", 8192, &pem, e);
  if (!rc) {
    mbedtls_pk_context pk;
    char why[160];
    if (es256_pubkey_from_pem(&pk, pem, why, sizeof why))
      rc = err_set(e, ERR_BAD_FIELD, "%s.publicKeyPem: must be an EC P-256 public key in PEM: %s", elem, why);
    else mbedtls_pk_free(&pk);
  }
  if (!rc) rc = opt_string(el, elem, "imei", 20, true, &imei, e);
  if (!rc) rc = opt_string(el, elem, "deviceType", 31, false, &type, e);
  if (rc) return rc;
  i.public_key_pem = (char *)pem;
  snprintf(i.imei, sizeof i.imei, "%s", imei ? imei : "");
  snprintf(i.device_type, sizeof i.device_type, "%s", type ? type : "");
  i.created_at = store_now_ms();
  if (store_identity_put(s->store, &i)) return err_set(e, ERR_INTERNAL, "%s: cannot store the identity", elem);
  return 0;
}

static int load_tag(svc *s, json_t *el, const char *elem, err_t *e) {
  svc_team t;
  svc_tags tag = {0};
  const char *text, *description;
  char field[64];
  int rc = team_of(s, el, elem, &t, e);
  if (!rc) rc = req_string(el, elem, "tag", 64, &text, e);
  if (!rc && strchr(text, ',')) rc = err_set(e, ERR_BAD_FIELD, "%s.tag: must be one tag (no commas)", elem);
  if (!rc) rc = opt_string(el, elem, "description", 1024, false, &description, e);
  snprintf(field, sizeof field, "%s.tag", elem);
  if (!rc) rc = svc__tags_from_text(field, text, &tag, e);
  if (!rc && !tag.n) rc = err_set(e, ERR_MISSING_FIELD, "%s.tag: required", elem);
  int created = 0;
  if (!rc && store_tag_ensure(s->store, t.id, tag.v[0], description, &created))
    rc = err_set(e, ERR_INTERNAL, "%s: cannot store the tag", elem);
  if (!rc && !created) rc = err_set(e, ERR_NAME_EXISTS, "%s.tag: provisioning tag '%s' exists", elem, tag.v[0]);
  svc__tags_free(&tag);
  return rc;
}

static int verify_attest(const void *obj, const mbedtls_pk_context *pub) { return attest_verify(obj, pub); }

/* A claim from {"claimToken"} (checked as POST /v1/claimed-devices checks it) or from
 * {"deviceId", "deviceType", "firmwareId"?} (a fixture's shortcut: no token at all). */
static int load_claim(svc *s, json_t *el, const char *elem, err_t *e) {
  svc_team t;
  svc_tags tags = {0};
  char device_id[37], type_buf[32], firmware[37] = NIL_UUID, imei[32] = "", field[96];
  const char *type = NULL;
  json_t *tok = json_object_get(el, "claimToken"), *id = json_object_get(el, "deviceId"),
         *blocked = json_object_get(el, "blocked");
  int rc = team_of(s, el, elem, &t, e);
  if (rc) return rc;
  if (!svc__empty(tok) && !svc__empty(id))
    return err_set(e, ERR_BAD_FIELD, "%s: give either claimToken or deviceId and deviceType, not both", elem);
  if (blocked && !json_is_null(blocked) && !json_is_boolean(blocked))
    return err_set(e, ERR_BAD_FIELD, "%s.blocked: must be true or false", elem);
  if (!svc__empty(tok)) {
    attest_token a;
    char why[256];
    if (!json_is_string(tok)) return err_set(e, ERR_BAD_FIELD, "%s.claimToken: must be a string", elem);
    if (attest_decode(json_string_value(tok), json_string_length(tok), &a, why, sizeof why))
      return err_set(e, ERR_TOKEN_MALFORMED, "%s.claimToken: %s", elem, why);
    snprintf(device_id, sizeof device_id, "%s", a.device_uuid);
    snprintf(firmware, sizeof firmware, "%s", a.firmware_uuid);
    type = attest_device_type_name(a.device_type, type_buf, sizeof type_buf);
    snprintf(field, sizeof field, "%s.claimToken", elem);
    if ((rc = svc__check_signature(s, device_id, field, verify_attest, &a, imei, NULL, e))) return rc;
  } else if (!svc__empty(id)) {
    const char *fw;
    if (!json_is_string(id) || jwt_uuid_parse(json_string_value(id), json_string_length(id), device_id))
      return err_set(e, ERR_BAD_FIELD, "%s.deviceId: must be a device UUID (8-4-4-4-12 hex)", elem);
    if ((rc = req_string(el, elem, "deviceType", 31, &type, e))) return rc;
    if ((rc = opt_string(el, elem, "firmwareId", 36, false, &fw, e))) return rc;
    if (fw && jwt_uuid_parse(fw, strlen(fw), firmware))
      return err_set(e, ERR_BAD_FIELD, "%s.firmwareId: must be a UUID (8-4-4-4-12 hex)", elem);
    if (store_identity_get(s->store, device_id, NULL, imei) < 0) return err_set(e, ERR_INTERNAL, "cannot read identities");
  } else {
    return err_set(e, ERR_MISSING_FIELD, "%s.claimToken: required (or deviceId and deviceType)", elem);
  }
  snprintf(field, sizeof field, "%s.tags", elem);
  if ((rc = svc__tags_from_json(field, json_object_get(el, "tags"), &tags, e))) return rc;
  store_claim c;
  rc = store_claim_get(s->store, 0, device_id, &c);
  if (rc < 0) rc = err_set(e, ERR_INTERNAL, "cannot read claims");
  else if (rc == 0) {
    bool mine = c.team_id == t.id;
    store_claim_row_free(&c);
    rc = mine ? err_set(e, ERR_CLAIMED_BY_YOU, "%s: device %s is already claimed by this team", elem, device_id)
              : err_set(e, ERR_CLAIMED_BY_OTHER, "%s: device %s is claimed by another team", elem, device_id);
  } else {
    char queue[37];
    int64_t seq;
    svc__new_uuid(queue);
    rc = store_claim_insert(s->store, t.id, device_id, type, firmware, imei, queue, &seq) ||
         store_claim_set_tags(s->store, seq, t.id, (const char *const *)tags.v, tags.n) ||
         (json_is_true(blocked) && store_claim_set_blocked(s->store, seq, 1))
         ? err_set(e, ERR_INTERNAL, "%s: cannot store the claim of %s", elem, device_id) : 0;
  }
  svc__tags_free(&tags);
  return rc;
}

/* Rules need a service function that creates a rule from its JSON body inside an open
 * transaction; service/rules.c has none yet, so a fixture naming rules is refused rather
 * than half-loaded. */
static int load_rule(svc *s, json_t *el, const char *elem, err_t *e) {
  (void)s, (void)el;
  return err_set(e, ERR_BAD_FIELD, "%s: this build cannot load rules from fixtures yet; create them with "
                 "POST /v1/provisioning-rules", elem);
}

/* A command queued as POST .../provisioning queues it, then taken to its "status" as the
 * deliver (IN_PROGRESS) or settle (SUCCEEDED, FAILED) control calls would. */
static int load_command(svc *s, json_t *el, const char *elem, err_t *e) {
  svc_team t;
  const char *device_id, *status;
  char prefix[64], type[40], id[37];
  int rc = team_of(s, el, elem, &t, e);
  if (!rc) rc = req_string(el, elem, "deviceId", 36, &device_id, e);
  snprintf(prefix, sizeof prefix, "%s.", elem);
  if (!rc) rc = svc__command_validate(el, prefix, type, e);
  if (!rc) rc = opt_string(el, elem, "status", 16, false, &status, e);
  if (rc) return rc;
  if (!status) status = "PENDING";
  bool final = !strcmp(status, "SUCCEEDED") || !strcmp(status, "FAILED");
  if (!final && strcmp(status, "PENDING") && strcmp(status, "IN_PROGRESS"))
    return err_set(e, ERR_BAD_FIELD, "%s.status: must be PENDING, IN_PROGRESS, SUCCEEDED or FAILED", elem);
  json_t *cme = json_object_get(el, "cmeError"), *msg = json_object_get(el, "message"), *resp = json_object_get(el, "response");
  if (cme && !json_is_null(cme) && (!json_is_integer(cme) || json_integer_value(cme) < 0 || json_integer_value(cme) > 65535))
    return err_set(e, ERR_BAD_FIELD, "%s.cmeError: must be an integer from 0 to 65535", elem);
  if (msg && !json_is_null(msg) && !json_is_string(msg)) return err_set(e, ERR_BAD_FIELD, "%s.message: must be a string", elem);
  if (resp && !json_is_null(resp) && !json_is_object(resp)) return err_set(e, ERR_BAD_FIELD, "%s.response: must be an object", elem);
  if (!final && ((cme && !json_is_null(cme)) || (resp && !json_is_null(resp))))
    return err_set(e, ERR_BAD_FIELD, "%s: cmeError and response belong to a SUCCEEDED or FAILED command", elem);

  store_claim c;
  int64_t unfinished = 0;
  rc = store_claim_get(s->store, t.id, device_id, &c);
  if (rc < 0) return err_set(e, ERR_INTERNAL, "cannot read claims");
  if (rc > 0) return err_set(e, ERR_NOT_FOUND, "%s.deviceId: no claimed device %s in this team", elem, device_id);
  store_claim_row_free(&c);
  if (store_command_count_unfinished(s->store, c.seq, &unfinished)) return err_set(e, ERR_INTERNAL, "cannot count commands");
  if (unfinished >= MAX_UNFINISHED)
    return err_set(e, ERR_TOO_MANY_COMMANDS, "%s: device %s already has %d unfinished commands", elem, device_id, MAX_UNFINISHED);
  if ((rc = at(elem, e, svc__command_queue(s, c.seq, type, el, NULL, id, e)))) return rc;
  if (!strcmp(status, "PENDING")) return 0;

  store_command k;
  if (store_command_get(s->store, c.seq, id, &k)) return err_set(e, ERR_INTERNAL, "%s: cannot read the command back", elem);
  if (!final) {
    rc = store_command_set_status(s->store, k.seq, "IN_PROGRESS", NULL) ? err_set(e, ERR_INTERNAL, "%s: cannot update the command", elem) : 0;
  } else {
    svc_outcome o = {.failed = !strcmp(status, "FAILED"), .cme = (unsigned)json_integer_value(cme),
                     .message = json_string_value(msg), .response = json_is_object(resp) ? resp : NULL};
    store_device_claim dc;
    if (store_claim_for_device(s->store, device_id, &dc)) rc = err_set(e, ERR_INTERNAL, "%s: cannot read device %s", elem, device_id);
    else if (!(rc = at(elem, e, svc__settle(s, &dc, &k, &o, e))) && store_claim_set_report(s->store, c.seq, o.failed ? 2 : 1))
      rc = err_set(e, ERR_INTERNAL, "%s: cannot record the report", elem);
  }
  store_command_free(&k);
  return rc;
}

typedef struct {
  const char *name;
  int (*load)(svc *s, json_t *el, const char *elem, err_t *e);
} kind;

/* In load order: what an element refers to is loaded before it. */
static const kind kinds[] = {
  {"teams", load_team},       {"identities", load_identity}, {"tags", load_tag},
  {"claimedDevices", load_claim}, {"rules", load_rule},      {"commands", load_command},
};
#define N_KINDS (sizeof kinds / sizeof kinds[0])

/* Refuse keys that name no kind (a typo would silently load nothing); keys starting
 * with '_' are comments. */
static int check_keys(json_t *doc, err_t *e) {
  const char *key;
  json_t *v;
  json_object_foreach(doc, key, v) {
    bool ok = *key == '_';
    for (size_t i = 0; i < N_KINDS && !ok; i++) ok = !strcmp(key, kinds[i].name);
    if (!ok)
      return err_set(e, ERR_BAD_FIELD, "%s: unknown key (expected teams, identities, tags, claimedDevices, rules, commands, "
                     "or a comment key starting with _)", key);
  }
  return 0;
}

static int load_all(svc *s, json_t *doc, json_t *counts, err_t *e) {
  for (size_t k = 0; k < N_KINDS; k++) {
    json_t *list = json_object_get(doc, kinds[k].name), *el;
    size_t i;
    json_object_set_new(counts, kinds[k].name, json_integer(0));
    if (!list || json_is_null(list)) continue;
    if (!json_is_array(list)) return err_set(e, ERR_BAD_FIELD, "%s: must be an array", kinds[k].name);
    json_array_foreach(list, i, el) {
      char elem[64];
      snprintf(elem, sizeof elem, "%s[%zu]", kinds[k].name, i);
      if (!json_is_object(el)) return err_set(e, ERR_BAD_FIELD, "%s: must be an object", elem);
      int rc = kinds[k].load(s, el, elem, e);
      if (rc) return rc;
    }
    json_object_set_new(counts, kinds[k].name, json_integer((json_int_t)json_array_size(list)));
  }
  return 0;
}

int svc_fixtures_load(svc *s, json_t *doc, json_t **counts, err_t *e) {
  if (!json_is_object(doc)) return err_set(e, ERR_BAD_JSON, "fixtures must be a JSON object");
  int rc = check_keys(doc, e);
  if (rc) return rc;
  json_t *c = json_object();
  if (store_begin(s->store)) {
    json_decref(c);
    return err_set(e, ERR_INTERNAL, "store unavailable");
  }
  rc = load_all(s, doc, c, e);
  if (store_end(s->store, rc == 0) && !rc) rc = err_set(e, ERR_INTERNAL, "cannot commit the fixtures");
  if (rc) json_decref(c);
  else *counts = c;
  return rc;
}
