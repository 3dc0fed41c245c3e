/* HTTP handlers of provisioning tags and groups (docs/owner-api.md §5).
 *
 * A tag may hold '/', and libmicrohttpd hands handlers the decoded path, so a tag like
 * "fleet/eu" arrives as several path segments: the route table's {*} takes the whole
 * rest of the path after /v1/provisioning/tags/ as the tag. */
#include "handlers.h"

void tags_list(http_req *r) {
  svc_page p;
  if (!http__page(r, &p)) return;
  err_t e;
  json_t *out = NULL;
  int rc = svc_tag_list(r->app->svc, &r->team, &p, &out, &e);
  http__result(r, rc, &e, 200, out);
}

void tags_create(http_req *r) {
  json_t *body = http__body_object(r);
  if (!body) return;
  err_t e;
  json_t *out = NULL;
  int rc = svc_tag_create(r->app->svc, &r->team, body, &out, &e);
  json_decref(body);
  http__result(r, rc, &e, 201, out);
}

void tags_get(http_req *r) {
  err_t e;
  json_t *out = NULL;
  int rc = svc_tag_get(r->app->svc, &r->team, r->params[0], &out, &e);
  http__result(r, rc, &e, 200, out);
}

void tags_delete(http_req *r) {
  err_t e;
  http__done(r, svc_tag_delete(r->app->svc, &r->team, r->params[0], &e), &e);
}
