/* Provisioning rules seen from the owner (docs/owner-api.md §4): create, list, get, PATCH and
 * delete, with DRAFT/ACTIVE and unique names. A rule's commands are validated exactly
 * like one queued command (§3.1), each message naming its element ("commands[2]...").
 * The create verb's body is svc__rule_create, which fixtures.c calls inside its own
 * transaction. Applying active rules to devices is not here: it happens at a device's
 * contact (svc__apply_rules in onboard.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "service/internal.h"
#include "store/rules.h"

#define MAX_RULE_COMMANDS 20
#define MAX_NAME_LEN 255

/* A validated rule body; the has_ flags say which fields a PATCH names. */
typedef struct {
  bool has_name, has_description, has_active, has_tags, has_commands;
  const char *name;         /* borrowed from the body */
  const char *description;  /* borrowed; NULL clears */
  bool active;
  svc_tags tags;
  char *commands;           /* malloc'd JSON text of the normalised array */
} rule_input;

static void rule_input_free(rule_input *in) {
  svc__tags_free(&in->tags);
  free(in->commands);
}

/* Precedence of docs/owner-api.md §1 when several defects fit: 40005, then 40001, then 40004. */
static int rank(err_id id) {
  switch (id) {
  case ERR_BAD_REQUEST_TYPE: return 0;
  case ERR_MISSING_FIELD: return 1;
  case ERR_BAD_FIELD: return 2;
  default: return 3;
  }
}

/* Keep the candidate error if it outranks the best so far (the first one wins a tie). */
static void keep(err_t *best, int rc, const err_t *cand) {
  if (rc && (!best->id || rank(cand->id) < rank(best->id))) *best = *cand;
}

/* Validate commands (an array of 1..20 {"description"?, "request"}) into the stored
 * form: each element reduced to its description and its verbatim request. */
static void check_commands(json_t *v, rule_input *in, err_t *best) {
  err_t e = {0};
  if (svc__empty(v)) {
    keep(best, err_set(&e, ERR_MISSING_FIELD, "commands: required, an array of 1 to %d commands", MAX_RULE_COMMANDS), &e);
    return;
  }
  if (!json_is_array(v)) {
    keep(best, err_set(&e, ERR_BAD_FIELD, "commands: must be an array of 1 to %d commands", MAX_RULE_COMMANDS), &e);
    return;
  }
  if (json_array_size(v) > MAX_RULE_COMMANDS)
    keep(best, err_set(&e, ERR_BAD_FIELD, "commands: at most %d commands, got %zu", MAX_RULE_COMMANDS, json_array_size(v)), &e);
  json_t *norm = json_array(), *cmd;
  size_t i;
  json_array_foreach(v, i, cmd) {
    char field[32], type[40];
    snprintf(field, sizeof field, "commands[%zu].", i);
    if (!json_is_object(cmd)) {
      keep(best, err_set(&e, ERR_BAD_FIELD, "commands[%zu]: must be an object {\"description\", \"request\"}", i), &e);
      continue;
    }
    int rc = svc__command_validate(cmd, field, type, &e);
    keep(best, rc, &e);
    if (rc) continue;
    json_t *d = json_object_get(cmd, "description"), *o = json_object();
    if (json_is_string(d)) json_object_set(o, "description", d);
    json_object_set(o, "request", json_object_get(cmd, "request"));
    json_array_append_new(norm, o);
  }
  if (!best->id) in->commands = json_dumps(norm, JSON_COMPACT | JSON_PRESERVE_ORDER);
  json_decref(norm);
}

/* Validate a POST body (partial = false: name, tags and commands required) or a PATCH
 * body (partial = true: only the fields present). */
static int parse_rule(json_t *body, bool partial, rule_input *in, err_t *e) {
  err_t best = {0}, c = {0};
  memset(in, 0, sizeof *in);
  json_t *name = json_object_get(body, "name"), *desc = json_object_get(body, "description"),
         *active = json_object_get(body, "active"), *tags = json_object_get(body, "tags"),
         *commands = json_object_get(body, "commands");
  if ((in->has_name = !partial || name)) {
    if (svc__empty(name)) keep(&best, err_set(&c, ERR_MISSING_FIELD, "name: required, a non-empty string"), &c);
    else if (!json_is_string(name)) keep(&best, err_set(&c, ERR_BAD_FIELD, "name: must be a string"), &c);
    else if (json_string_length(name) > MAX_NAME_LEN)
      keep(&best, err_set(&c, ERR_BAD_FIELD, "name: at most %d characters", MAX_NAME_LEN), &c);
    else in->name = json_string_value(name);
  }
  if ((in->has_description = desc != NULL)) {
    if (!json_is_null(desc) && !json_is_string(desc)) keep(&best, err_set(&c, ERR_BAD_FIELD, "description: must be a string"), &c);
    else in->description = json_string_value(desc);
  }
  /* A null active is no change (PATCH) or the default (POST). */
  if ((in->has_active = active && !json_is_null(active))) {
    if (!json_is_boolean(active)) keep(&best, err_set(&c, ERR_BAD_FIELD, "active: must be true or false"), &c);
    else in->active = json_is_true(active);
  }
  if ((in->has_tags = !partial || tags)) {
    if (svc__empty(tags)) keep(&best, err_set(&c, ERR_MISSING_FIELD, "tags: required, at least one tag"), &c);
    else if (svc__tags_from_json("tags", tags, &in->tags, &c)) keep(&best, -(int)c.id, &c);
    else if (!in->tags.n) keep(&best, err_set(&c, ERR_MISSING_FIELD, "tags: required, at least one tag"), &c);
  }
  if ((in->has_commands = !partial || commands)) check_commands(commands, in, &best);
  if (best.id) {
    rule_input_free(in);
    *e = best;
    return -(int)best.id;
  }
  return 0;
}

static json_t *rule_json(const store_rule *r) {
  char created[32], updated[32];
  svc__time(r->created_at, created);
  svc__time(r->updated_at, updated);
  json_t *tags = json_loads(r->tags_json ? r->tags_json : "[]", 0, NULL);
  json_t *commands = json_loads(r->commands ? r->commands : "[]", 0, NULL);
  json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:b}", "id", r->id, "name", r->name ? r->name : "", "description",
                        r->description ? r->description : "", "status", r->active ? "ACTIVE" : "DRAFT", "active", r->active);
  json_object_set_new(o, "tags", tags ? tags : json_array());
  json_object_set_new(o, "commands", commands ? commands : json_array());
  json_object_set_new(o, "createdAt", json_string(created));
  json_object_set_new(o, "updatedAt", json_string(updated));
  return o;
}

/* Load a rule of the team (inside a transaction); 404 when absent or another team's. */
static int load_rule(svc *s, const svc_team *t, const char *id, store_rule *r, err_t *e) {
  int rc = store_rule_get(s->store, t->id, id, r);
  if (rc < 0) return err_set(e, ERR_INTERNAL, "cannot read rule %s", id);
  if (rc > 0) return err_set(e, ERR_NOT_FOUND, "no provisioning rule %s", id);
  return 0;
}

static int rule_view(svc *s, const svc_team *t, const char *id, json_t **out, err_t *e) {
  store_rule r;
  int rc = load_rule(s, t, id, &r, e);
  if (rc) return rc;
  *out = rule_json(&r);
  store_rule_free(&r);
  return 0;
}

static int name_free(svc *s, const svc_team *t, const char *name, int64_t except_seq, err_t *e) {
  int rc = store_rule_name_taken(s->store, t->id, name, except_seq);
  if (rc < 0) return err_set(e, ERR_INTERNAL, "cannot read rules");
  if (rc > 0) return err_set(e, ERR_NAME_EXISTS, "name: a provisioning rule named '%.100s' exists", name);
  return 0;
}

int svc__rule_create(svc *s, const svc_team *t, json_t *body, json_t **out, err_t *e) {
  rule_input in;
  int rc = parse_rule(body, false, &in, e);
  if (rc) return rc;
  char id[37];
  int64_t seq;
  svc__new_uuid(id);
  if (!(rc = name_free(s, t, in.name, 0, e))) {
    if (store_rule_insert(s->store, t->id, id, in.name, in.description, in.active, in.commands, &seq) ||
        store_rule_set_tags(s->store, seq, t->id, (const char *const *)in.tags.v, in.tags.n))
      rc = err_set(e, ERR_INTERNAL, "cannot store the rule");
    else if (out)
      rc = rule_view(s, t, id, out, e);
  }
  rule_input_free(&in);
  return rc;
}

int svc_rule_create(svc *s, const svc_team *t, json_t *body, json_t **out, err_t *e) {
  if (store_begin(s->store)) return err_set(e, ERR_INTERNAL, "store unavailable");
  int rc = svc__rule_create(s, t, body, out, e);
  return svc__finish(s, rc, out, "the rule", e);
}

static void add_rule(const store_rule *r, void *ud) {
  svc__list_add(ud, rule_json(r), r->seq);
}

int svc_rule_list(svc *s, const svc_team *t, const svc_page *p, json_t **out, err_t *e) {
  if (store_begin_read(s->store)) return err_set(e, ERR_INTERNAL, "store unavailable");
  svc_list_acc acc = SVC_LIST_ACC(p);
  int64_t total = 0;
  /* Creation order, so the keyset runs upwards: the token holds the last seq. */
  int rc = store_rule_list(s->store, t->id, p->before, SVC_LIST_FETCH(p), add_rule, &acc, &total)
           ? err_set(e, ERR_INTERNAL, "cannot list rules") : 0;
  store_end_read(s->store);
  return svc__list_finish(&acc, rc, total, out);
}

int svc_rule_get(svc *s, const svc_team *t, const char *rule_id, json_t **out, err_t *e) {
  if (store_begin_read(s->store)) return err_set(e, ERR_INTERNAL, "store unavailable");
  int rc = rule_view(s, t, rule_id, out, e);
  store_end_read(s->store);
  return rc;
}

/* The PATCH itself, inside a transaction: 404, then 409 for an active rule whatever
 * the body says, then the body's own defects. */
static int update(svc *s, const svc_team *t, const char *rule_id, json_t *body, json_t **out, err_t *e) {
  store_rule r;
  rule_input in;
  int rc = load_rule(s, t, rule_id, &r, e);
  if (rc) return rc;
  if (r.active) {
    store_rule_free(&r);
    return err_set(e, ERR_RULE_ACTIVE, "rule %s is active: activated rules cannot be edited; delete it instead", rule_id);
  }
  if ((rc = parse_rule(body, true, &in, e))) {
    store_rule_free(&r);
    return rc;
  }
  const char *name = in.has_name ? in.name : r.name;
  const char *description = in.has_description ? in.description : r.description;
  const char *commands = in.has_commands ? in.commands : r.commands;
  int active = in.has_active ? in.active : r.active;
  if (!(rc = name_free(s, t, name, r.seq, e))) {
    if (store_rule_update(s->store, r.seq, name, description, active, commands) ||
        (in.has_tags && store_rule_set_tags(s->store, r.seq, t->id, (const char *const *)in.tags.v, in.tags.n)))
      rc = err_set(e, ERR_INTERNAL, "cannot update rule %s", rule_id);
    else rc = rule_view(s, t, rule_id, out, e);
  }
  rule_input_free(&in);
  store_rule_free(&r);
  return rc;
}

int svc_rule_update(svc *s, const svc_team *t, const char *rule_id, json_t *body, json_t **out, err_t *e) {
  if (store_begin(s->store)) return err_set(e, ERR_INTERNAL, "store unavailable");
  int rc = update(s, t, rule_id, body, out, e);
  return svc__finish(s, rc, out, "the rule", e);
}

int svc_rule_delete(svc *s, const svc_team *t, const char *rule_id, err_t *e) {
  if (store_begin(s->store)) return err_set(e, ERR_INTERNAL, "store unavailable");
  int rc = store_rule_delete(s->store, t->id, rule_id);
  if (rc < 0) rc = err_set(e, ERR_INTERNAL, "cannot delete rule %s", rule_id);
  else if (rc > 0) rc = err_set(e, ERR_NOT_FOUND, "no provisioning rule %s", rule_id);
  return svc__finish(s, rc, NULL, "the deletion", e);
}
