/* HTTP handlers of provisioning commands (docs/owner-api.md §3) and of the control calls that
 * settle or deliver one (docs/control-api.md §2). */
#include "handlers.h"

void commands_create(http_req *r) {
  json_t *body = http__body_object(r);
  if (!body) return;
  err_t e;
  json_t *out = NULL;
  int rc = svc_command_create(r->app->svc, &r->team, r->params[0], body, &out, &e);
  json_decref(body);
  http__result(r, rc, &e, 201, out);
}

void commands_list(http_req *r) {
  svc_page p;
  if (!http__page(r, &p)) return;
  err_t e;
  json_t *out = NULL;
  int rc = svc_command_list(r->app->svc, &r->team, r->params[0], &p, &out, &e);
  http__result(r, rc, &e, 200, out);
}

void commands_get(http_req *r) {
  err_t e;
  json_t *out = NULL;
  int rc = svc_command_get(r->app->svc, &r->team, r->params[0], r->params[1], &out, &e);
  http__result(r, rc, &e, 200, out);
}

void commands_discard(http_req *r) {
  err_t e;
  http__done(r, svc_command_discard(r->app->svc, &r->team, r->params[0], r->params[1], &e), &e);
}

void commands_reset(http_req *r) {
  err_t e;
  http__done(r, svc_commands_reset(r->app->svc, &r->team, r->params[0], &e), &e);
}

void control_settle(http_req *r) {
  json_t *body = http__body_object(r);
  if (!body) return;
  err_t e;
  json_t *out = NULL;
  int rc = svc_command_settle(r->app->svc, &r->team, r->params[0], r->params[1], body, &out, &e);
  json_decref(body);
  http__result(r, rc, &e, 200, out);
}

void control_deliver(http_req *r) {
  err_t e;
  json_t *out = NULL;
  int rc = svc_command_deliver(r->app->svc, &r->team, r->params[0], r->params[1], &out, &e);
  http__result(r, rc, &e, 200, out);
}
