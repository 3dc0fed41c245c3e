/* HTTP handlers of provisioning rules (docs/owner-api.md §4). */
#include "handlers.h"

void rules_create(http_req *r) {
  json_t *body = http__body_object(r);
  if (!body) return;
  err_t e;
  json_t *out = NULL;
  int rc = svc_rule_create(r->app->svc, &r->team, body, &out, &e);
  json_decref(body);
  http__result(r, rc, &e, 201, out);
}

void rules_list(http_req *r) {
  svc_page p;
  if (!http__page(r, &p)) return;
  err_t e;
  json_t *out = NULL;
  int rc = svc_rule_list(r->app->svc, &r->team, &p, &out, &e);
  http__result(r, rc, &e, 200, out);
}

void rules_get(http_req *r) {
  err_t e;
  json_t *out = NULL;
  int rc = svc_rule_get(r->app->svc, &r->team, r->params[0], &out, &e);
  http__result(r, rc, &e, 200, out);
}

void rules_update(http_req *r) {
  json_t *body = http__body_object(r);
  if (!body) return;
  err_t e;
  json_t *out = NULL;
  int rc = svc_rule_update(r->app->svc, &r->team, r->params[0], body, &out, &e);
  json_decref(body);
  http__result(r, rc, &e, 200, out);
}

void rules_delete(http_req *r) {
  err_t e;
  http__done(r, svc_rule_delete(r->app->svc, &r->team, r->params[0], &e), &e);
}
