/* Provisioning tags and groups (docs/owner-api.md §5): list with device and rule counts, create,
 * get with members, delete while unused. A group is the set of claimed devices holding
 * a tag; tags named at claim or in a rule are created there (store_tag_ensure), so
 * this file only adds the explicit create. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "service/internal.h"
#include "store/claims.h"
#include "store/tags.h"

#define MAX_MEMBERS 100

static json_t *tag_json(const store_tag *t) {
  char created[32];
  svc__time(t->created_at, created);
  return json_pack("{s:s, s:s, s:I, s:I, s:s}", "tag", t->tag, "description", t->description ? t->description : "",
                   "deviceCount", (json_int_t)t->device_count, "ruleCount", (json_int_t)t->rule_count, "createdAt", created);
}

/* Load a tag of the team (inside a transaction); 404 when absent. */
static int load_tag(svc *s, const svc_team *t, const char *tag, store_tag *out, err_t *e) {
  int rc = store_tag_get(s->store, t->id, tag, out);
  if (rc < 0) return err_set(e, ERR_INTERNAL, "cannot read tags");
  if (rc > 0) return err_set(e, ERR_NOT_FOUND, "no provisioning tag '%.64s'", tag);
  return 0;
}

static void add_tag(const store_tag *t, void *ud) {
  svc__list_add(ud, tag_json(t), t->seq);
}

int svc_tag_list(svc *s, const svc_team *t, const svc_page *p, json_t **out, err_t *e) {
  if (store_begin_read(s->store)) return err_set(e, ERR_INTERNAL, "store unavailable");
  svc_list_acc acc = SVC_LIST_ACC(p);
  int64_t total = 0;
  /* Creation order, so the keyset runs upwards: the token holds the last rowid. */
  int rc = store_tag_list(s->store, t->id, p->before, SVC_LIST_FETCH(p), add_tag, &acc, &total)
           ? err_set(e, ERR_INTERNAL, "cannot list tags") : 0;
  store_end_read(s->store);
  return svc__list_finish(&acc, rc, total, out);
}

/* The tag of a create body: one tag as claims accept it (trimmed, 1..64 characters of
 * [A-Za-z0-9._:=/-]); a comma would make it a list, so it is refused. */
static int parse_tag(json_t *body, svc_tags *tag, err_t *e) {
  json_t *v = json_object_get(body, "tag"), *d = json_object_get(body, "description");
  tag->n = 0;
  if (svc__empty(v)) return err_set(e, ERR_MISSING_FIELD, "tag: required");
  if (!json_is_string(v)) return err_set(e, ERR_BAD_FIELD, "tag: must be a string");
  if (strchr(json_string_value(v), ','))
    return err_set(e, ERR_BAD_FIELD, "tag: must be one tag; a tag may only hold letters, digits and ._:=/-");
  int rc = svc__tags_from_text("tag", json_string_value(v), tag, e);
  if (rc) return rc;
  if (!tag->n) return err_set(e, ERR_MISSING_FIELD, "tag: required");
  if (d && !json_is_null(d) && !json_is_string(d)) {
    svc__tags_free(tag);
    return err_set(e, ERR_BAD_FIELD, "description: must be a string");
  }
  return 0;
}

int svc__tag_create(svc *s, const svc_team *t, json_t *body, json_t **out, err_t *e) {
  svc_tags tag = {0};
  int rc = parse_tag(body, &tag, e);
  if (rc) return rc;
  int created = 0;
  store_tag row;
  if (store_tag_ensure(s->store, t->id, tag.v[0], json_string_value(json_object_get(body, "description")), &created))
    rc = err_set(e, ERR_INTERNAL, "cannot store the tag");
  else if (!created) rc = err_set(e, ERR_NAME_EXISTS, "tag: provisioning tag '%s' exists", tag.v[0]);
  else if (out && !(rc = load_tag(s, t, tag.v[0], &row, e))) {
    *out = tag_json(&row);
    store_tag_free(&row);
  }
  svc__tags_free(&tag);
  return rc;
}

int svc_tag_create(svc *s, const svc_team *t, json_t *body, json_t **out, err_t *e) {
  if (store_begin(s->store)) return err_set(e, ERR_INTERNAL, "store unavailable");
  int rc = svc__tag_create(s, t, body, out, e);
  return svc__finish(s, rc, out, "the tag", e);
}

static void add_id(const char *id, void *ud) { json_array_append_new(ud, json_string(id)); }

int svc_tag_get(svc *s, const svc_team *t, const char *tag, json_t **out, err_t *e) {
  if (store_begin_read(s->store)) return err_set(e, ERR_INTERNAL, "store unavailable");
  store_tag row;
  int rc = load_tag(s, t, tag, &row, e);
  if (!rc) {
    json_t *devices = json_array(), *rules = json_array();
    if (store_tag_devices(s->store, t->id, tag, MAX_MEMBERS, add_id, devices) ||
        store_tag_rules(s->store, t->id, tag, MAX_MEMBERS, add_id, rules)) {
      rc = err_set(e, ERR_INTERNAL, "cannot read the members of tag '%.64s'", tag);
      json_decref(devices);
      json_decref(rules);
    } else {
      *out = tag_json(&row);
      json_object_set_new(*out, "deviceIds", devices);
      json_object_set_new(*out, "ruleIds", rules);
    }
    store_tag_free(&row);
  }
  store_end_read(s->store);
  return rc;
}

int svc_tag_delete(svc *s, const svc_team *t, const char *tag, err_t *e) {
  if (store_begin(s->store)) return err_set(e, ERR_INTERNAL, "store unavailable");
  store_tag row;
  int rc = load_tag(s, t, tag, &row, e);
  if (!rc) {
    if (row.device_count || row.rule_count)
      rc = err_set(e, ERR_TAG_IN_USE, "tag '%.64s' is still used by %lld claimed device(s) and %lld rule(s)", tag,
                   (long long)row.device_count, (long long)row.rule_count);
    else if (store_tag_delete(s->store, t->id, tag))
      rc = err_set(e, ERR_INTERNAL, "cannot delete tag '%.64s'", tag);
    store_tag_free(&row);
  }
  return svc__finish(s, rc, NULL, "the deletion", e);
}
