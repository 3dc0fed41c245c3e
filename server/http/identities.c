/* HTTP handlers of the control API's device identities (docs/control-api.md §2):
 * POST/GET /_mock/identities, GET/DELETE /_mock/identities/{id}. Like the other control
 * calls they need no API key: identities belong to devices, not to teams. */
#include "handlers.h"

#include <string.h>

void identities_create(http_req *r) {
  json_t *body = http__body_object(r);
  if (!body) return;
  err_t e;
  json_t *out = NULL;
  /* Re-keying a device needs ?replace=true (docs/control-api.md §5). */
  const char *replace = http__query(r, "replace");
  if (replace && strcmp(replace, "true") && strcmp(replace, "false")) {
    json_decref(body);
    http__fail(r, ERR_BAD_QUERY, "replace: must be true or false");
    return;
  }
  int rc = svc_identity_put(r->app->svc, body, replace && !strcmp(replace, "true"), &out, &e);
  json_decref(body);
  if (rc) http__error(r, &e);
  else http__json(r, 201, out);
}

void identities_list(http_req *r) {
  err_t e;
  json_t *out = NULL;
  if (svc_identity_list(r->app->svc, &out, &e)) http__error(r, &e);
  else http__json(r, 200, out);
}

void identities_get(http_req *r) {
  err_t e;
  json_t *out = NULL;
  if (svc_identity_get(r->app->svc, r->params[0], &out, &e)) http__error(r, &e);
  else http__json(r, 200, out);
}

void identities_delete(http_req *r) {
  err_t e;
  if (svc_identity_delete(r->app->svc, r->params[0], &e)) http__error(r, &e);
  else http__empty(r, 204);
}
