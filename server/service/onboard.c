/* Rules applying at contact (docs/owner-api.md §4.3) and onboarding into device management
 * (docs/owner-api.md §6): the two things a device's own traffic sets off beyond its queue. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "pki/pki.h"
#include "proto/es256.h"
#include "proto/keygen.h"
#include "service/internal.h"
#include "store/devices.h"
#include "store/rules.h"

typedef struct {
  int64_t seq;
  char id[37];
  char *name;
  json_t *commands;
} pending_rule;

typedef struct {
  pending_rule *v;
  size_t n;
} rule_acc;

static void collect_rule(const store_rule_ref *r, void *ud) {
  rule_acc *a = ud;
  a->v = realloc(a->v, (a->n + 1) * sizeof *a->v);
  pending_rule *p = &a->v[a->n++];
  p->seq = r->seq;
  snprintf(p->id, sizeof p->id, "%s", r->id);
  p->name = strdup(r->name ? r->name : "");
  p->commands = json_loads(r->commands, 0, NULL);
}

typedef struct {
  json_t *cmd; /* borrowed from the rule */
  char type[40];
} rule_command;

/* Queue one rule's commands on the claim, all or none: 0 queued (the rule is applied),
 * 1 waiting (they do not all fit under the 20-unfinished limit), or an error. */
static int apply_rule(svc *s, const store_device_claim *c, const pending_rule *r, err_t *e) {
  size_t n = json_array_size(r->commands), ok = 0, k;
  rule_command *q = calloc(n ? n : 1, sizeof *q);
  json_t *cmd;
  json_array_foreach(r->commands, k, cmd) {
    err_t ve;
    /* Rules are validated when saved; a command that no longer validates is skipped. */
    if (!svc__command_validate(cmd, "", q[ok].type, &ve)) q[ok++].cmd = cmd;
  }
  err_t room;
  int rc = svc__command_room(s, c->seq, c->device_id, (int64_t)ok, &room);
  if (rc == -(int)ERR_TOO_MANY_COMMANDS) {
    log_msg(LOG_WARN, "device %s: rule %s waits for room in the queue: %s", c->device_id, r->id, room.message);
    rc = 1;
  } else if (rc) {
    *e = room;
  }
  for (size_t i = 0; i < ok && !rc; i++) {
    char id[37];
    rc = svc__command_queue(s, c->seq, q[i].type, q[i].cmd, r->id, id, e);
  }
  if (!rc && store_rule_mark_applied(s->store, r->seq, c->seq)) rc = err_set(e, ERR_INTERNAL, "cannot mark the rule applied");
  if (!rc)
    svc__event_team(s, "rule.applied", c->device_id, c->team_id, "{s:s, s:s, s:i}", "ruleId", r->id, "rule",
                    r->name ? r->name : "", "commandsQueued", (int)ok);
  free(q);
  return rc;
}

int svc__apply_rules(svc *s, const store_device_claim *c, err_t *e) {
  rule_acc a = {0};
  int rc = 0;
  if (store_rules_unapplied(s->store, c->seq, collect_rule, &a)) rc = err_set(e, ERR_INTERNAL, "cannot read rules");
  /* In creation order; once one waits for room, the later ones wait behind it so that
   * rules still queue in the order they were created. */
  for (size_t i = 0; i < a.n; i++) {
    if (!rc) rc = apply_rule(s, c, &a.v[i], e);
    json_decref(a.v[i].commands);
    free(a.v[i].name);
  }
  free(a.v);
  return rc > 0 ? 0 : rc;
}

int svc__onboard(svc *s, const store_device_claim *c, const store_command *k, const char *value, err_t *e) {
  uint8_t der[4096];
  size_t derlen;
  char why[256];
  char *cert = NULL;
  if (!s->pki) return 0;
  /* The answer was checked before the command succeeded (keygen_answers.c); a command
   * settled through the control API was not, so a defect still only skips onboarding. */
  if (keygen_decode(value, der, sizeof der, &derlen, NULL, why, sizeof why)) {
    log_msg(LOG_WARN, "device %s: not onboarded: %%KEYGEN answer: %s", c->device_id, why);
    return 0;
  }
  if (pki_issue_device_cert(s->pki, der, derlen, c->device_id, &cert, why, sizeof why)) {
    log_msg(LOG_WARN, "device %s: not onboarded: CSR: %s", c->device_id, why);
    return 0;
  }
  json_t *req = json_loads(k->request, 0, NULL);
  json_t *p = json_object_get(req, "cloudAccessKeyGeneration");
  json_t *group = json_object_get(p, "deviceManagementGroup"), *fw = json_object_get(p, "firmwareTypes");
  json_t *tags = json_array();
  if (json_string_length(group)) json_array_append(tags, group);
  char *tags_text = json_dumps(tags, JSON_COMPACT);
  json_t *firmware = json_pack("{s:o}", "supports", json_is_array(fw) ? json_incref(fw) : json_array());
  char *fw_text = json_dumps(firmware, JSON_COMPACT);
  int rc = 0;
  if (store_device_upsert(s->store, c->team_id, c->device_id, json_string_value(json_object_get(p, "subType")), tags_text,
                          fw_text, cert))
    rc = err_set(e, ERR_INTERNAL, "cannot onboard device %s", c->device_id);
  char serial[80] = "";
  if (!rc && !pki_cert_serial_hex(cert, serial, sizeof serial))
    svc__event_team(s, "device.onboarded", c->device_id, c->team_id, "{s:s, s:s}", "certificateSerial", serial, "commandId", k->id);
  free(tags_text);
  free(fw_text);
  json_decref(tags);
  json_decref(firmware);
  json_decref(req);
  free(cert);
  return rc;
}
