/* HTTP handlers of claimed devices (docs/owner-api.md §2). The claim endpoint tells JSON from
 * CSV by content, because public clients send bulk CSV with no Content-Type. */
#include <string.h>
#include <strings.h>

#include "handlers.h"

/* CSV when Content-Type says text/csv, or when the first non-blank byte is neither
 * '{' nor '[' (docs/owner-api.md §1). An empty body is JSON, so it gets the JSON error. */
static bool body_is_csv(http_req *r) {
  const char *ct = http__header(r, MHD_HTTP_HEADER_CONTENT_TYPE);
  if (ct && !strncasecmp(ct, "text/csv", 8)) return true;
  for (size_t i = 0; i < r->body_len; i++) {
    char c = r->body[i];
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') continue;
    return c != '{' && c != '[';
  }
  return false;
}

void claimed_devices_claim(http_req *r) {
  err_t e;
  json_t *out = NULL;
  int rc;
  /* The query first: a CSV dry run must never claim (docs/owner-api.md §2.4). */
  const char *dry = http__query(r, "dryrun");
  if (dry && strcmp(dry, "true") && strcmp(dry, "false")) {
    http__fail(r, ERR_BAD_QUERY, "dryrun: must be true or false");
    return;
  }
  bool dry_run = dry && !strcmp(dry, "true");
  if (body_is_csv(r)) {
    rc = svc_claim_csv(r->app->svc, &r->team, r->body ? r->body : "", r->body_len, dry_run, &out, &e);
    http__result(r, rc, &e, dry_run ? 202 : 200, out);
    return;
  }
  json_t *body = http__body_object(r);
  if (!body) return;
  rc = svc_claim(r->app->svc, &r->team, body, dry_run, &out, &e);
  json_decref(body);
  http__result(r, rc, &e, dry_run ? 202 : 201, out);
}

void claimed_devices_bulk(http_req *r) {
  err_t e;
  json_t *out = NULL;
  int rc = svc_claim_csv_op(r->app->svc, &r->team, r->body ? r->body : "", r->body_len, &out, &e);
  http__result(r, rc, &e, 202, out);
}

void bulk_ops_get(http_req *r) {
  err_t e;
  json_t *out = NULL;
  int rc = svc_bulk_op_get(r->app->svc, &r->team, r->params[0], &out, &e);
  http__result(r, rc, &e, 200, out);
}

void claimed_devices_list(http_req *r) {
  svc_page p;
  if (!http__page(r, &p)) return;
  err_t e;
  json_t *out = NULL;
  svc_claim_query q = {http__query(r, "tags"), http__query(r, "status"), http__query(r, "blocked"),
                       http__query(r, "deviceType")};
  int rc = svc_claim_list(r->app->svc, &r->team, &q, &p, &out, &e);
  http__result(r, rc, &e, 200, out);
}

void claimed_devices_get(http_req *r) {
  err_t e;
  json_t *out = NULL;
  int rc = svc_claim_get(r->app->svc, &r->team, r->params[0], &out, &e);
  http__result(r, rc, &e, 200, out);
}

void claimed_devices_unclaim(http_req *r) {
  err_t e;
  http__done(r, svc_unclaim(r->app->svc, &r->team, r->params[0], &e), &e);
}

static void block(http_req *r, bool blocked) {
  err_t e;
  json_t *out = NULL;
  int rc = svc_claim_block(r->app->svc, &r->team, r->params[0], blocked, &out, &e);
  http__result(r, rc, &e, 200, out);
}

void claimed_devices_block(http_req *r) { block(r, true); }
void claimed_devices_unblock(http_req *r) { block(r, false); }

void claimed_devices_tags(http_req *r) {
  json_t *body = http__body_object(r);
  if (!body) return;
  err_t e;
  json_t *out = NULL;
  int rc = svc_claim_set_tags(r->app->svc, &r->team, r->params[0], body, &out, &e);
  json_decref(body);
  http__result(r, rc, &e, 200, out);
}
