/* HTTP handlers of provisioning rules (owner-api §4). */
#include "handlers.h"

static void answer(http_req *r, int rc, const err_t *e, unsigned ok_status, json_t *out) {
  if (rc) http__error(r, e);
  else http__json(r, ok_status, out);
}

void rules_create(http_req *r) {
  if (!http__owner_auth(r)) return;
  json_t *body = http__body_object(r);
  if (!body) return;
  err_t e;
  json_t *out = NULL;
  int rc = svc_rule_create(r->app->svc, &r->team, body, &out, &e);
  json_decref(body);
  answer(r, rc, &e, 201, out);
}

void rules_list(http_req *r) {
  if (!http__owner_auth(r)) return;
  err_t e;
  svc_page p;
  json_t *out = NULL;
  if (svc_page_parse(http__query(r, "pageLimit"), http__query(r, "pageNextToken"), &p, &e)) {
    http__error(r, &e);
    return;
  }
  int rc = svc_rule_list(r->app->svc, &r->team, &p, &out, &e);
  answer(r, rc, &e, 200, out);
}

void rules_get(http_req *r) {
  if (!http__owner_auth(r)) return;
  err_t e;
  json_t *out = NULL;
  int rc = svc_rule_get(r->app->svc, &r->team, r->params[0], &out, &e);
  answer(r, rc, &e, 200, out);
}

void rules_update(http_req *r) {
  if (!http__owner_auth(r)) return;
  json_t *body = http__body_object(r);
  if (!body) return;
  err_t e;
  json_t *out = NULL;
  int rc = svc_rule_update(r->app->svc, &r->team, r->params[0], body, &out, &e);
  json_decref(body);
  answer(r, rc, &e, 200, out);
}

void rules_delete(http_req *r) {
  if (!http__owner_auth(r)) return;
  err_t e;
  if (svc_rule_delete(r->app->svc, &r->team, r->params[0], &e)) http__error(r, &e);
  else http__empty(r, 204);
}
