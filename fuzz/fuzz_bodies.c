/* libFuzzer target for the JSON bodies of the owner and control resources, through the
 * service verbs that validate them, over an in-memory store: claim (and its dry run),
 * command create, command settle, rule create and patch, tag create, device tags,
 * identities (with and without ?replace=true), fault rules and fixtures. The first byte
 * picks the resource (modulo 11; for identities, the next bit the replace flag); the rest is
 * the body, parsed as the HTTP layer does (http__body_object: duplicates refused, an
 * object only). A verb must answer 0 or a client error with a message; an internal error
 * or a missing message is a finding. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "faults.h"
#include "fuzzsvc.h"
#include "log.h"
#include "service/control.h"

typedef struct {
  fuzzsvc f;
  faults *faults;
  char rule_id[37], command_id[37];
} env;

static void env_open(env *v)
{
  fuzzsvc_open(&v->f, 0);
  v->faults = faults_new();
  err_t e;
  json_t *out = NULL;
  json_t *rule = json_loads("{\"name\":\"fuzz\",\"active\":false,\"tags\":[\"fuzz\"],\"commands\":[{\"request\":"
                            "{\"config\":{\"properties\":{\"k\":\"v\"}}}}]}", 0, NULL);
  if (!v->faults || svc_rule_create(v->f.svc, &v->f.team, rule, &out, &e) != 0) abort();
  snprintf(v->rule_id, sizeof v->rule_id, "%s", json_string_value(json_object_get(out, "id")));
  json_decref(rule);
  json_decref(out);
  json_t *cmd = json_loads("{\"description\":\"fuzz\",\"request\":{\"config\":{\"properties\":{\"k\":\"v\"}}}}", 0, NULL);
  if (svc_command_create(v->f.svc, &v->f.team, v->f.device_id, cmd, &out, &e) != 0) abort();
  snprintf(v->command_id, sizeof v->command_id, "%s", json_string_value(json_object_get(out, "id")));
  json_decref(cmd);
  json_decref(out);
}

static void env_close(env *v)
{
  faults_free(v->faults);
  fuzzsvc_close(&v->f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size); /* called by libFuzzer */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static env v;
  static unsigned runs;
  if (runs == 0) {
    log_configure(LOG_ERROR, false);
    env_open(&v);
  } else if (runs % 2048 == 0) {
    /* Created rules, tags, identities and commands pile up: start over now and then. */
    env_close(&v);
    env_open(&v);
  }
  runs++;
  if (size < 1) return 0;
  json_error_t je;
  json_t *body = json_loadb((const char *)data + 1, size - 1, JSON_REJECT_DUPLICATES, &je);
  if (!body) return 0;
  if (!json_is_object(body)) {
    json_decref(body);
    return 0;
  }
  svc *s = v.f.svc;
  const svc_team *t = &v.f.team;
  json_t *out = NULL;
  err_t e;
  memset(&e, 0, sizeof e);
  int rc;
  switch (data[0] % 11) {
  case 0: rc = svc_claim(s, t, body, false, &out, &e); break;
  case 1: rc = svc_claim(s, t, body, true, &out, &e); break;
  case 2: rc = svc_command_create(s, t, v.f.device_id, body, &out, &e); break;
  case 3: rc = svc_command_settle(s, t, v.f.device_id, v.command_id, body, &out, &e); break;
  case 4: rc = svc_rule_create(s, t, body, &out, &e); break;
  case 5: rc = svc_rule_update(s, t, v.rule_id, body, &out, &e); break;
  case 6: rc = svc_tag_create(s, t, body, &out, &e); break;
  case 7: rc = svc_claim_set_tags(s, t, v.f.device_id, body, &out, &e); break;
  case 8: rc = svc_identity_put(s, body, (data[0] / 11) % 2 == 1, &out, &e); break;
  case 9: rc = faults_add(v.faults, body, &out, &e); break;
  default: rc = svc_fixtures_load(s, body, &out, &e); break;
  }
  json_decref(body);
  json_decref(out);
  if (rc != 0 && (e.id == ERR_INTERNAL || !memchr(e.message, '\0', sizeof e.message) || !e.message[0])) abort();
  return 0;
}
