/* The control API (/_mock/…): health, configuration, reset, the request journal, fault
 * rules, metrics, snapshot and restore, fixtures. Control calls need no API key except
 * where they act on one team's device. Like every handler file: parse, call one verb,
 * render. */
#include "handlers.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "faults.h"
#include "journal.h"
#include "metrics.h"
#include "options.h"
#include "pki/pki.h"
#include "service/control.h"
#include "snapshots.h"

void control_health(http_req *r) {
  int64_t up = (clock_wall_ms() - r->app->started_ms) / 1000;
  /* controlToken: whether the other control calls need X-Mock-Token, so a client such as
   * the portal's QA page can ask for it before a call is refused (docs/portal.md). */
  bool token = r->app->opt->control_token && *r->app->opt->control_token;
  http__json(r, 200, json_pack("{s:s, s:s, s:I, s:b}", "status", "ok", "version", NRFPROV_VERSION, "uptimeS",
                               (json_int_t)up, "controlToken", token));
}

void control_config(http_req *r) { http__json(r, 200, options_to_json(r->app->opt)); }

void control_reset(http_req *r) {
  const char *team = http__query(r, "team");
  err_t e;
  if (team && !*team) {
    http__fail(r, ERR_BAD_QUERY, "team: must be an API key");
    return;
  }
  if (svc_reset(r->app->svc, team, &e)) {
    http__error(r, &e);
    return;
  }
  /* A full reset also forgets the fault rules and the journal; a team's reset, the
   * rules that match on that team. */
  faults_clear(r->app->faults, team);
  if (!team) journal_clear(r->app->journal);
  http__empty(r, 204);
}

void control_ca(http_req *r) {
  const char *pem = pki_ca_pem(r->app->pki);
  if (!pem) {
    http__fail(r, ERR_INTERNAL, "the local CA could not be generated: %s",
               pki_error(r->app->pki) ? pki_error(r->app->pki) : "unknown");
    return;
  }
  char *copy = strdup(pem);
  http__bytes(r, 200, "application/x-pem-file", copy, strlen(copy));
}

/* ---- request journal -------------------------------------------------------------- */

#define MAX_JOURNAL_LIMIT 10000

void control_requests(http_req *r) {
  const char *limit = http__query(r, "limit"), *path = http__query(r, "path"), *device = http__query(r, "deviceId");
  long n = 100;
  if (limit) {
    char *end;
    errno = 0;
    n = strtol(limit, &end, 10);
    if (!*limit || *end || errno || n < 0 || n > MAX_JOURNAL_LIMIT) {
      http__fail(r, ERR_BAD_QUERY, "limit: must be an integer from 0 to %d, got '%.40s'", MAX_JOURNAL_LIMIT, limit);
      return;
    }
  }
  int total = 0;
  json_t *items = journal_query(r->app->journal, (int)n, path && *path ? path : NULL, device && *device ? device : NULL, &total);
  http__json(r, 200, json_pack("{s:o, s:i}", "items", items, "total", total));
}

void control_requests_clear(http_req *r) {
  journal_clear(r->app->journal);
  http__empty(r, 204);
}

/* ---- fault rules ------------------------------------------------------------------ */

void control_faults_add(http_req *r) {
  json_t *body = http__body_object(r), *out = NULL;
  err_t e;
  if (!body) return;
  if (faults_add(r->app->faults, body, &out, &e)) http__error(r, &e);
  else http__json(r, 201, out);
  json_decref(body);
}

void control_faults_list(http_req *r) { http__json(r, 200, faults_list(r->app->faults)); }

void control_faults_clear(http_req *r) {
  faults_clear(r->app->faults, NULL);
  http__empty(r, 204);
}

void control_faults_delete(http_req *r) {
  if (faults_delete(r->app->faults, r->params[0])) {
    http__fail(r, ERR_NOT_FOUND, "no fault rule %s", r->params[0]);
    return;
  }
  http__empty(r, 204);
}

/* ---- metrics ---------------------------------------------------------------------- */

void control_metrics(http_req *r) {
  size_t len = 0;
  char *text = metrics_render(r->app->metrics, r->app, &len);
  if (!text) {
    http__fail(r, ERR_INTERNAL, "cannot gather the metrics");
    return;
  }
  http__bytes(r, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
}

/* ---- snapshot, restore, fixtures -------------------------------------------------- */

void control_snapshot(http_req *r) {
  json_t *body = http__body_object(r), *out = NULL;
  err_t e;
  if (!body) return;
  if (snapshots_take(r->app->snapshots, r->app->svc, body, &out, &e)) http__error(r, &e);
  else http__json(r, 200, out);
  json_decref(body);
}

void control_restore(http_req *r) {
  json_t *body = http__body_object(r);
  err_t e;
  if (!body) return;
  if (snapshots_restore(r->app->snapshots, r->app->svc, body, &e)) http__error(r, &e);
  else http__empty(r, 204);
  json_decref(body);
}

void control_snapshots_list(http_req *r) {
  json_t *out = NULL;
  err_t e;
  if (snapshots_list(r->app->snapshots, &out, &e)) http__error(r, &e);
  else http__json(r, 200, out);
}

void control_snapshots_delete(http_req *r) {
  err_t e;
  if (snapshots_delete(r->app->snapshots, r->params[0], &e)) http__error(r, &e);
  else http__empty(r, 204);
}

void control_fixtures(http_req *r) {
  json_t *body = http__body_object(r), *counts = NULL;
  err_t e;
  if (!body) return;
  if (svc_fixtures_load(r->app->svc, body, &counts, &e)) http__error(r, &e);
  else http__json(r, 201, counts);
  json_decref(body);
}
