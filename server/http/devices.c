/* HTTP handlers of device management: the onboarded devices (owner-api §6). */
#include "handlers.h"

static void answer(http_req *r, int rc, const err_t *e, unsigned ok_status, json_t *out) {
  if (rc) http__error(r, e);
  else http__json(r, ok_status, out);
}

void devices_list(http_req *r) {
  if (!http__owner_auth(r)) return;
  err_t e;
  svc_page p;
  json_t *out = NULL;
  if (svc_page_parse(http__query(r, "pageLimit"), http__query(r, "pageNextToken"), &p, &e)) {
    http__error(r, &e);
    return;
  }
  int rc = svc_onboarded_list(r->app->svc, &r->team, &p, &out, &e);
  answer(r, rc, &e, 200, out);
}

void devices_get(http_req *r) {
  if (!http__owner_auth(r)) return;
  err_t e;
  json_t *out = NULL;
  int rc = svc_onboarded_get(r->app->svc, &r->team, r->params[0], &out, &e);
  answer(r, rc, &e, 200, out);
}

void devices_delete(http_req *r) {
  if (!http__owner_auth(r)) return;
  err_t e;
  if (svc_onboarded_delete(r->app->svc, &r->team, r->params[0], &e)) http__error(r, &e);
  else http__empty(r, 204);
}
