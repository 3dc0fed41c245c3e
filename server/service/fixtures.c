/* Fixtures (docs/control-api.md §4): a JSON document of teams, identities, tags, claimed
 * devices, rules and commands loaded in one transaction, at start-up (--fixtures) or by
 * POST /_mock/fixtures. Either everything loads or nothing does, and an error names the
 * element ("claimedDevices[3].claimToken: ...").
 *
 * Each element goes through the very functions the API's verb for it uses (svc__claim_one,
 * svc__identity_from_json, svc__tag_create, svc__rule_create, svc__command_validate,
 * svc__command_room, svc__command_settle), called inside the one open transaction
 * instead of each verb's own, so a fixture is checked exactly as the call would be; only
 * "team", the token-less claim shortcut and a command's starting "status" are checked
 * here. Kinds load in dependency order: teams, identities, tags, claimedDevices, rules,
 * commands. Not an import of arbitrary rows: ids, times and queue ids are made here as
 * the API would make them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/jwt.h"
#include "service/control.h"
#include "service/internal.h"
#include "store/claims.h"
#include "store/commands.h"
#include "store/control.h"
#include "store/identities.h"

#define NIL_UUID "00000000-0000-0000-0000-000000000000"

/* Prefix e's message with the element's name unless it already starts with it. A verb's
 * message that starts with a field ("name: ...", "commands[2].request...") becomes a
 * path below the element ("rules[0].name: ..."); any other gets "rules[0]: ...". */
static int at(const char *elem, err_t *e, int rc) {
  if (rc && strncmp(e->message, elem, strlen(elem))) {
    size_t id = strspn(e->message, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_");
    bool field = id && e->message[id] && strchr(":.[", e->message[id]);
    char msg[sizeof e->message + 80];
    snprintf(msg, sizeof msg, "%s%s%s", elem, field ? "." : ": ", e->message);
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

/* Resolve the team of an API key, created on first use as an owner call would. In strict
 * mode an unlisted key is a bad value in the document (40004), not a failed
 * authentication of the caller (401). */
static int ensure_team(svc *s, const char *key, const char *elem, const char *field, svc_team *t, err_t *e) {
  int rc = svc__team(s, key, t, e);
  if (rc == -(int)ERR_UNAUTHORIZED) {
    char why[sizeof e->message];
    memcpy(why, e->message, sizeof why);
    return err_set(e, ERR_BAD_FIELD, "%s.%s: %s", elem, field, why);
  }
  return at(elem, e, rc);
}

/* The team an element names by API key ("team"). */
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

/* Checked as POST /_mock/identities checks a registration. */
static int load_identity(svc *s, json_t *el, const char *elem, err_t *e) {
  store_identity i;
  int rc = at(elem, e, svc__identity_from_json(el, &i, e));
  if (!rc) rc = at(elem, e, svc__identity_register(s, &i, false, e));
  return rc;
}

/* An element that is an owner call's body plus its "team", created by that call's
 * in-transaction verb. */
static int load_owned(svc *s, json_t *el, const char *elem,
                      int (*create)(svc *s, const svc_team *t, json_t *body, json_t **out, err_t *e), err_t *e) {
  svc_team t;
  int rc = team_of(s, el, elem, &t, e);
  return rc ? rc : at(elem, e, create(s, &t, el, NULL, e));
}

/* As POST /v1/provisioning/tags creates one (409 when the team has it). */
static int load_tag(svc *s, json_t *el, const char *elem, err_t *e) { return load_owned(s, el, elem, svc__tag_create, e); }

/* A claim from {"claimToken"} (every check of POST /v1/claimed-devices) or from
 * {"deviceId", "deviceType", "firmwareId"?} (a fixture's shortcut: no token at all, the
 * IMEI from a registered identity); either way it ends as a claim does. */
static int load_claim(svc *s, json_t *el, const char *elem, err_t *e) {
  svc_team t;
  svc_tags tags = {0};
  char field[96];
  json_t *tok = json_object_get(el, "claimToken"), *id = json_object_get(el, "deviceId"),
         *blocked = json_object_get(el, "blocked");
  int rc = team_of(s, el, elem, &t, e);
  if (rc) return rc;
  if (!svc__empty(tok) && !svc__empty(id))
    return err_set(e, ERR_BAD_FIELD, "%s: give either claimToken or deviceId and deviceType, not both", elem);
  if (blocked && !json_is_null(blocked) && !json_is_boolean(blocked))
    return err_set(e, ERR_BAD_FIELD, "%s.blocked: must be true or false", elem);
  svc_claim_device d = {.firmware_id = NIL_UUID, .imei = ""};
  if (svc__empty(tok)) {
    const char *type, *fw;
    if (svc__empty(id)) return err_set(e, ERR_MISSING_FIELD, "%s.claimToken: required (or deviceId and deviceType)", elem);
    if (!json_is_string(id) || jwt_uuid_parse(json_string_value(id), json_string_length(id), d.device_id))
      return err_set(e, ERR_BAD_FIELD, "%s.deviceId: must be a device UUID (8-4-4-4-12 hex)", elem);
    if ((rc = req_string(el, elem, "deviceType", sizeof d.device_type - 1, &type, e))) return rc;
    if ((rc = opt_string(el, elem, "firmwareId", 36, false, &fw, e))) return rc;
    if (fw && jwt_uuid_parse(fw, strlen(fw), d.firmware_id))
      return err_set(e, ERR_BAD_FIELD, "%s.firmwareId: must be a UUID (8-4-4-4-12 hex)", elem);
    snprintf(d.device_type, sizeof d.device_type, "%s", type);
    if (store_identity_get(s->store, d.device_id, NULL, d.imei) < 0) return err_set(e, ERR_INTERNAL, "cannot read identities");
  } else if (!json_is_string(tok)) {
    return err_set(e, ERR_BAD_FIELD, "%s.claimToken: must be a string", elem);
  }
  snprintf(field, sizeof field, "%s.tags", elem);
  if ((rc = svc__tags_from_json(field, json_object_get(el, "tags"), &tags, e))) return rc;
  int64_t seq;
  rc = svc__empty(tok) ? svc__claim_insert(s, &t, &d, &tags, false, &seq, e)
                       : svc__claim_one(s, &t, json_string_value(tok), &tags, false, d.device_id, &seq, e);
  if (!(rc = at(elem, e, rc)) && json_is_true(blocked) && store_claim_set_blocked(s->store, seq, 1))
    rc = err_set(e, ERR_INTERNAL, "%s: cannot block %s", elem, d.device_id);
  svc__tags_free(&tags);
  return rc;
}

/* As POST /v1/provisioning-rules creates one, with the same checks and messages. */
static int load_rule(svc *s, json_t *el, const char *elem, err_t *e) { return load_owned(s, el, elem, svc__rule_create, e); }

/* A command queued as POST .../provisioning queues it, then taken to its "status" as the
 * deliver (IN_PROGRESS) or settle (SUCCEEDED, FAILED) control calls would. */
static int load_command(svc *s, json_t *el, const char *elem, err_t *e) {
  svc_team t;
  svc_outcome o;
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
  if ((rc = at(elem, e, svc__outcome_from_json(el, !strcmp(status, "FAILED"), &o, e)))) return rc;
  if (!final && (json_is_integer(json_object_get(el, "cmeError")) || o.response))
    return err_set(e, ERR_BAD_FIELD, "%s: cmeError and response belong to a SUCCEEDED or FAILED command", elem);

  store_claim c;
  rc = svc__team_claim(s, &t, device_id, &c, e);
  if (rc == -(int)ERR_NOT_FOUND) return err_set(e, ERR_NOT_FOUND, "%s.deviceId: no claimed device %s in this team", elem, device_id);
  if (rc) return rc;
  store_claim_row_free(&c);
  if ((rc = at(elem, e, svc__command_room(s, c.seq, device_id, 1, e)))) return rc;
  if ((rc = at(elem, e, svc__command_queue(s, c.seq, type, el, NULL, id, e)))) return rc;
  if (!strcmp(status, "PENDING")) return 0;

  store_command k;
  if (store_command_get(s->store, c.seq, id, &k)) return err_set(e, ERR_INTERNAL, "%s: cannot read the command back", elem);
  if (!final)
    rc = store_command_set_status(s->store, k.seq, "IN_PROGRESS", NULL) ? err_set(e, ERR_INTERNAL, "%s: cannot update the command", elem) : 0;
  else
    rc = at(elem, e, svc__command_settle(s, device_id, &k, &o, e));
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
  /* The claim tokens' signatures are checked now, before the store is taken. */
  json_t *claims = json_object_get(doc, "claimedDevices"), *ids = json_object_get(doc, "identities"), *el;
  size_t n_tok = 0, n_doc = 0, i;
  const char **tokens = calloc(json_array_size(claims) + 1, sizeof *tokens);
  const char **doc_ids = calloc(json_array_size(ids) + 1, sizeof *doc_ids);
  const char **doc_keys = calloc(json_array_size(ids) + 1, sizeof *doc_keys);
  bool room = tokens && doc_ids && doc_keys; /* else no precheck: each claim checks itself */
  if (room) json_array_foreach(claims, i, el) if (json_is_string(json_object_get(el, "claimToken")))
    tokens[n_tok++] = json_string_value(json_object_get(el, "claimToken"));
  if (room) json_array_foreach(ids, i, el) if (json_is_string(json_object_get(el, "deviceId")) &&
                                               json_is_string(json_object_get(el, "publicKeyPem"))) {
    doc_ids[n_doc] = json_string_value(json_object_get(el, "deviceId"));
    doc_keys[n_doc++] = json_string_value(json_object_get(el, "publicKeyPem"));
  }
  bool pre = room && n_tok && !svc__claims_precheck(s, tokens, n_tok, doc_ids, doc_keys, n_doc);
  json_t *c = json_object();
  if (store_begin(s->store))
    rc = err_set(e, ERR_INTERNAL, "store unavailable");
  else
    rc = svc__finish(s, load_all(s, doc, c, e), NULL, "the fixtures", e);
  if (pre) svc__claims_precheck_end();
  free(tokens);
  free(doc_ids);
  free(doc_keys);
  if (rc) json_decref(c);
  else *counts = c;
  return rc;
}
