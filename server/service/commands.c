/* Provisioning commands seen from the owner (docs/owner-api.md §3): create with the 20-unfinished
 * limit, list, get, discard, reset, and the control API's settle and deliver. The
 * results a device reports are applied by svc__settle(), shared with device.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "service/internal.h"
#include "store/commands.h"

#define MAX_UNFINISHED 20

json_t *svc__command_json(const store_command *c) {
  char created[32], updated[32];
  svc__time(c->created_at, created);
  svc__time(c->updated_at, updated);
  json_t *o = json_pack("{s:s}", "id", c->id);
  if (c->description) json_object_set_new(o, "description", json_string(c->description));
  json_t *req = json_loads(c->request, 0, NULL);
  json_object_set_new(o, "request", req ? req : json_object());
  json_object_set_new(o, "status", json_string(c->status));
  if (c->response) {
    json_t *resp = json_loads(c->response, 0, NULL);
    if (resp) json_object_set_new(o, "response", resp);
  }
  if (*c->rule_id) json_object_set_new(o, "ruleId", json_string(c->rule_id));
  json_object_set_new(o, "createdAt", json_string(created));
  json_object_set_new(o, "updatedAt", json_string(updated));
  return o;
}

/* The claim of device_id in team t, inside a transaction; 404 when absent. */
int svc__team_claim(svc *s, const svc_team *t, const char *device_id, store_claim *c, err_t *e) {
  int rc = store_claim_get(s->store, t->id, device_id, c);
  if (rc < 0) return err_set(e, ERR_INTERNAL, "cannot read device %s", device_id);
  if (rc > 0) return err_set(e, ERR_NOT_FOUND, "no claimed device %s", device_id);
  return 0;
}

int svc__command_queue(svc *s, int64_t claim_seq, const char *type, json_t *cmd, const char *rule_id, char id[37], err_t *e) {
  int64_t qseq;
  json_t *d = json_object_get(cmd, "description");
  char *request = json_dumps(json_object_get(cmd, "request"), JSON_COMPACT | JSON_PRESERVE_ORDER);
  svc__new_uuid(id);
  int rc = 0;
  if (!request || store_claim_take_qseq(s->store, claim_seq, &qseq) ||
      store_command_insert(s->store, claim_seq, qseq, id, type, json_string_value(d), request, rule_id) ||
      store_claim_touch(s->store, claim_seq))
    rc = err_set(e, ERR_INTERNAL, "cannot queue the command");
  free(request);
  return rc;
}

int svc__command_room(svc *s, int64_t claim_seq, const char *device_id, int64_t n, err_t *e) {
  int64_t unfinished = 0;
  if (store_command_count_unfinished(s->store, claim_seq, &unfinished)) return err_set(e, ERR_INTERNAL, "cannot count commands");
  if (unfinished + n <= MAX_UNFINISHED) return 0;
  if (n == 1) return err_set(e, ERR_TOO_MANY_COMMANDS, "device %s already has %d unfinished commands", device_id, MAX_UNFINISHED);
  return err_set(e, ERR_TOO_MANY_COMMANDS, "device %s has %lld unfinished commands; %lld more would pass the limit of %d",
                 device_id, (long long)unfinished, (long long)n, MAX_UNFINISHED);
}

static int command_view(svc *s, int64_t claim_seq, const char *id, json_t **out, err_t *e) {
  store_command c;
  int rc = store_command_get(s->store, claim_seq, id, &c);
  if (rc < 0) return err_set(e, ERR_INTERNAL, "cannot read command %s", id);
  if (rc > 0) return err_set(e, ERR_NOT_FOUND, "no command %s on this device", id);
  *out = svc__command_json(&c);
  store_command_free(&c);
  return 0;
}

int svc_command_create(svc *s, const svc_team *t, const char *device_id, json_t *body, json_t **out, err_t *e) {
  char type[40], id[37];
  int rc = svc__command_validate(body, "", type, e);
  if (rc) return rc;
  if (store_begin(s->store)) return err_set(e, ERR_INTERNAL, "store unavailable");
  store_claim c;
  if (!(rc = svc__team_claim(s, t, device_id, &c, e))) {
    store_claim_row_free(&c);
    if (!(rc = svc__command_room(s, c.seq, device_id, 1, e)) && !(rc = svc__command_queue(s, c.seq, type, body, NULL, id, e)))
      rc = command_view(s, c.seq, id, out, e);
  }
  return svc__finish(s, rc, out, "the command", e);
}

static void add_command(const store_command *c, void *ud) {
  svc__list_add(ud, svc__command_json(c), c->seq);
}

int svc_command_list(svc *s, const svc_team *t, const char *device_id, const svc_page *p, json_t **out, err_t *e) {
  if (store_begin_read(s->store)) return err_set(e, ERR_INTERNAL, "store unavailable");
  store_claim c;
  svc_list_acc acc = SVC_LIST_ACC(p);
  int64_t total = 0;
  int rc = svc__team_claim(s, t, device_id, &c, e);
  if (!rc) {
    store_claim_row_free(&c);
    /* Commands list oldest first, so the keyset runs upwards: the token holds the last seq. */
    if (store_command_list(s->store, c.seq, p->before, SVC_LIST_FETCH(p), add_command, &acc, &total))
      rc = err_set(e, ERR_INTERNAL, "cannot list commands");
  }
  store_end_read(s->store);
  return svc__list_finish(&acc, rc, total, out);
}

int svc_command_get(svc *s, const svc_team *t, const char *device_id, const char *command_id, json_t **out, err_t *e) {
  /* The key holds both ids whole, the first with its length, so no two requests share a
   * key; ids too long for it are simply not cached. */
  char key[112];
  int kn = snprintf(key, sizeof key, "k:%lld:%zu:%s:%s", (long long)t->id, strlen(device_id), device_id, command_id);
  bool cached = kn > 0 && (size_t)kn < sizeof key;
  if (cached && (*out = svc__view_get(s, key, store_generation(s->store)))) return 0;
  if (store_begin_read(s->store)) return err_set(e, ERR_INTERNAL, "store unavailable");
  uint64_t gen = store_generation(s->store);
  store_claim c;
  int rc = svc__team_claim(s, t, device_id, &c, e);
  if (!rc) {
    store_claim_row_free(&c);
    rc = command_view(s, c.seq, command_id, out, e);
  }
  store_end_read(s->store);
  if (!rc && cached) svc__view_put(s, key, gen, *out);
  return rc;
}

/* Load one command of one team's device for a change; 404s as for reads. */
static int load(svc *s, const svc_team *t, const char *device_id, const char *command_id, store_claim *c,
                store_command *k, err_t *e) {
  int rc = svc__team_claim(s, t, device_id, c, e);
  if (rc) return rc;
  store_claim_row_free(c);
  rc = store_command_get(s->store, c->seq, command_id, k);
  if (rc < 0) return err_set(e, ERR_INTERNAL, "cannot read command %s", command_id);
  if (rc > 0) return err_set(e, ERR_NOT_FOUND, "no command %s on device %s", command_id, device_id);
  return 0;
}

int svc_command_discard(svc *s, const svc_team *t, const char *device_id, const char *command_id, err_t *e) {
  if (store_begin(s->store)) return err_set(e, ERR_INTERNAL, "store unavailable");
  store_claim c;
  store_command k;
  int rc = load(s, t, device_id, command_id, &c, &k, e);
  if (!rc) {
    if (strcmp(k.status, "PENDING"))
      rc = err_set(e, ERR_NOT_PENDING, "command %s is %s; only a PENDING command can be discarded", command_id, k.status);
    else if (store_command_delete(s->store, k.seq) || store_claim_touch(s->store, c.seq))
      rc = err_set(e, ERR_INTERNAL, "cannot discard command %s", command_id);
    store_command_free(&k);
  }
  return svc__finish(s, rc, NULL, "the discard", e);
}

int svc_commands_reset(svc *s, const svc_team *t, const char *device_id, err_t *e) {
  if (store_begin(s->store)) return err_set(e, ERR_INTERNAL, "store unavailable");
  store_claim c;
  int rc = svc__team_claim(s, t, device_id, &c, e);
  if (!rc) {
    char queue[37];
    store_claim_row_free(&c);
    svc__new_uuid(queue);
    if (store_commands_reset(s->store, c.seq, queue)) rc = err_set(e, ERR_INTERNAL, "cannot reset device %s", device_id);
  }
  return svc__finish(s, rc, NULL, "the reset of the commands", e);
}

int svc__outcome_from_json(json_t *body, bool failed, svc_outcome *o, err_t *e) {
  json_t *cme = json_object_get(body, "cmeError"), *msg = json_object_get(body, "message"), *resp = json_object_get(body, "response");
  if (cme && !json_is_null(cme) && (!json_is_integer(cme) || json_integer_value(cme) < 0 || json_integer_value(cme) > 65535))
    return err_set(e, ERR_BAD_FIELD, "cmeError: must be an integer from 0 to 65535");
  if (msg && !json_is_null(msg) && !json_is_string(msg)) return err_set(e, ERR_BAD_FIELD, "message: must be a string");
  if (resp && !json_is_null(resp) && !json_is_object(resp)) return err_set(e, ERR_BAD_FIELD, "response: must be an object");
  *o = (svc_outcome){.failed = failed, .cme = (unsigned)json_integer_value(cme), .message = json_string_value(msg),
                     .response = json_is_object(resp) ? resp : NULL};
  return 0;
}

int svc__command_settle(svc *s, const char *device_id, const store_command *k, const svc_outcome *o, err_t *e) {
  store_device_claim dc;
  if (store_claim_for_device(s->store, device_id, &dc)) return err_set(e, ERR_INTERNAL, "cannot read device %s", device_id);
  int rc = svc__settle(s, &dc, k, o, e);
  if (!rc && store_claim_set_report(s->store, dc.seq, o->failed ? 2 : 1)) rc = err_set(e, ERR_INTERNAL, "cannot record the report");
  return rc;
}

int svc_command_settle(svc *s, const svc_team *t, const char *device_id, const char *command_id, json_t *body,
                       json_t **out, err_t *e) {
  json_t *status = json_object_get(body, "status");
  svc_outcome o;
  if (svc__empty(status)) return err_set(e, ERR_MISSING_FIELD, "status: required");
  const char *st = json_string_value(status);
  if (!st || (strcmp(st, "SUCCEEDED") && strcmp(st, "FAILED")))
    return err_set(e, ERR_BAD_FIELD, "status: must be SUCCEEDED or FAILED");
  int rc = svc__outcome_from_json(body, !strcmp(st, "FAILED"), &o, e);
  if (rc) return rc;
  if (store_begin(s->store)) return err_set(e, ERR_INTERNAL, "store unavailable");
  store_claim c;
  store_command k;
  if (!(rc = load(s, t, device_id, command_id, &c, &k, e))) {
    if (strcmp(k.status, "PENDING") && strcmp(k.status, "IN_PROGRESS"))
      rc = err_set(e, ERR_COMMAND_FINAL, "command %s is already %s", command_id, k.status);
    else
      rc = svc__command_settle(s, device_id, &k, &o, e);
    store_command_free(&k);
    if (!rc) rc = command_view(s, c.seq, command_id, out, e);
  }
  return svc__finish(s, rc, out, "the settled command", e);
}

int svc_command_deliver(svc *s, const svc_team *t, const char *device_id, const char *command_id, json_t **out, err_t *e) {
  if (store_begin(s->store)) return err_set(e, ERR_INTERNAL, "store unavailable");
  store_claim c;
  store_command k;
  int rc = load(s, t, device_id, command_id, &c, &k, e);
  if (!rc) {
    if (strcmp(k.status, "PENDING")) rc = err_set(e, ERR_COMMAND_FINAL, "command %s is %s, not PENDING", command_id, k.status);
    else if (store_command_set_status(s->store, k.seq, "IN_PROGRESS", NULL)) rc = err_set(e, ERR_INTERNAL, "cannot update command");
    else svc__event("command.delivered", device_id, t->owner_id, "{s:s, s:s}", "commandId", k.id, "type", k.type);
    store_command_free(&k);
    if (!rc) rc = command_view(s, c.seq, command_id, out, e);
  }
  return svc__finish(s, rc, out, "the delivery", e);
}
