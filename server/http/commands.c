/* HTTP handlers of provisioning commands (owner-api §3) and of the control calls that
 * settle or deliver one (control-api §2). */
#include "handlers.h"

static void answer(http_req *r, int rc, const err_t *e, unsigned ok_status, json_t *out) {
  if (rc) http__error(r, e);
  else http__json(r, ok_status, out);
}

void commands_create(http_req *r) {
  if (!http__owner_auth(r)) return;
  json_t *body = http__body_object(r);
  if (!body) return;
  err_t e;
  json_t *out = NULL;
  int rc = svc_command_create(r->app->svc, &r->team, r->params[0], body, &out, &e);
  json_decref(body);
  answer(r, rc, &e, 201, out);
}

void commands_list(http_req *r) {
  if (!http__owner_auth(r)) return;
  err_t e;
  svc_page p;
  json_t *out = NULL;
  if (svc_page_parse(http__query(r, "pageLimit"), http__query(r, "pageNextToken"), &p, &e)) {
    http__error(r, &e);
    return;
  }
  int rc = svc_command_list(r->app->svc, &r->team, r->params[0], &p, &out, &e);
  answer(r, rc, &e, 200, out);
}

void commands_get(http_req *r) {
  if (!http__owner_auth(r)) return;
  err_t e;
  json_t *out = NULL;
  int rc = svc_command_get(r->app->svc, &r->team, r->params[0], r->params[1], &out, &e);
  answer(r, rc, &e, 200, out);
}

void commands_discard(http_req *r) {
  if (!http__owner_auth(r)) return;
  err_t e;
  if (svc_command_discard(r->app->svc, &r->team, r->params[0], r->params[1], &e)) http__error(r, &e);
  else http__empty(r, 204);
}

void commands_reset(http_req *r) {
  if (!http__owner_auth(r)) return;
  err_t e;
  if (svc_commands_reset(r->app->svc, &r->team, r->params[0], &e)) http__error(r, &e);
  else http__empty(r, 204);
}

void control_settle(http_req *r) {
  if (!http__owner_auth(r)) return;
  json_t *body = http__body_object(r);
  if (!body) return;
  err_t e;
  json_t *out = NULL;
  int rc = svc_command_settle(r->app->svc, &r->team, r->params[0], r->params[1], body, &out, &e);
  json_decref(body);
  answer(r, rc, &e, 200, out);
}

void control_deliver(http_req *r) {
  if (!http__owner_auth(r)) return;
  err_t e;
  json_t *out = NULL;
  int rc = svc_command_deliver(r->app->svc, &r->team, r->params[0], r->params[1], &out, &e);
  answer(r, rc, &e, 200, out);
}
