/* Device management seen from the owner (docs/owner-api.md §6): the onboarded devices, listed,
 * read and deleted. They are created by onboarding (svc__onboard in onboard.c) and live
 * apart from claims: deleting one leaves its claim, unclaiming leaves it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "service/internal.h"
#include "store/devices.h"

static json_t *device_json(const store_device *d) {
  char created[32];
  svc__time(d->created_at, created);
  json_t *tags = json_loads(d->tags ? d->tags : "[]", 0, NULL);
  json_t *fw = json_loads(d->firmware ? d->firmware : "{}", 0, NULL);
  json_t *o = json_pack("{s:s}", "id", d->id);
  if (d->sub_type) json_object_set_new(o, "subType", json_string(d->sub_type));
  json_object_set_new(o, "tags", json_is_array(tags) ? tags : json_array());
  if (!json_is_array(tags)) json_decref(tags);
  if (!json_is_object(fw)) {
    json_decref(fw);
    fw = json_pack("{s:[]}", "supports");
  }
  json_object_set_new(o, "firmware", fw);
  json_object_set_new(o, "certificatePem", d->certificate_pem ? json_string(d->certificate_pem) : json_null());
  json_object_set_new(o, "createdAt", json_string(created));
  return o;
}

static void add_device(const store_device *d, void *ud) {
  svc__list_add(ud, device_json(d), d->seq);
}

int svc_onboarded_list(svc *s, const svc_team *t, const svc_page *p, json_t **out, err_t *e) {
  if (store_begin_read(s->store)) return err_set(e, ERR_INTERNAL, "store unavailable");
  svc_list_acc acc = SVC_LIST_ACC(p);
  int64_t total = 0;
  int rc = store_device_list(s->store, t->id, p->before, SVC_LIST_FETCH(p), add_device, &acc, &total)
           ? err_set(e, ERR_INTERNAL, "cannot list devices") : 0;
  store_end_read(s->store);
  return svc__list_finish(&acc, rc, total, out);
}

int svc_onboarded_get(svc *s, const svc_team *t, const char *device_id, json_t **out, err_t *e) {
  if (store_begin_read(s->store)) return err_set(e, ERR_INTERNAL, "store unavailable");
  store_device d;
  int rc = store_device_get(s->store, t->id, device_id, &d);
  if (rc < 0) rc = err_set(e, ERR_INTERNAL, "cannot read device %s", device_id);
  else if (rc > 0) rc = err_set(e, ERR_NOT_FOUND, "no onboarded device %s", device_id);
  else {
    *out = device_json(&d);
    store_device_free(&d);
  }
  store_end_read(s->store);
  return rc;
}

int svc_onboarded_delete(svc *s, const svc_team *t, const char *device_id, err_t *e) {
  if (store_begin(s->store)) return err_set(e, ERR_INTERNAL, "store unavailable");
  int rc = store_device_delete(s->store, t->id, device_id);
  if (rc < 0) rc = err_set(e, ERR_INTERNAL, "cannot delete device %s", device_id);
  else if (rc > 0) rc = err_set(e, ERR_NOT_FOUND, "no onboarded device %s", device_id);
  return svc__finish(s, rc, NULL, "the deletion", e);
}
