/* HTTP handlers of device management: the onboarded devices (docs/owner-api.md §6). */
#include "handlers.h"

void devices_list(http_req *r) {
  svc_page p;
  if (!http__page(r, &p)) return;
  err_t e;
  json_t *out = NULL;
  int rc = svc_onboarded_list(r->app->svc, &r->team, &p, &out, &e);
  http__result(r, rc, &e, 200, out);
}

void devices_get(http_req *r) {
  err_t e;
  json_t *out = NULL;
  int rc = svc_onboarded_get(r->app->svc, &r->team, r->params[0], &out, &e);
  http__result(r, rc, &e, 200, out);
}

void devices_delete(http_req *r) {
  err_t e;
  http__done(r, svc_onboarded_delete(r->app->svc, &r->team, r->params[0], &e), &e);
}
