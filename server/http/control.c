/* The control API (/_mock/…): health, configuration, reset. Control calls need no API
 * key except where they act on one team's device. */
#include "handlers.h"

#include <stdlib.h>
#include <string.h>

#include "options.h"
#include "pki/pki.h"
#include "store/store.h"

void control_health(http_req *r) {
  int64_t up = (store_now_ms() - r->app->started_ms) / 1000;
  http__json(r, 200, json_pack("{s:s, s:s, s:I}", "status", "ok", "version", NRFPROV_VERSION, "uptimeS", (json_int_t)up));
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
  http__empty(r, 204);
}

void control_ca(http_req *r) {
  const char *pem = pki_ca_pem(r->app->pki);
  char *copy = strdup(pem);
  http__bytes(r, 200, "application/x-pem-file", copy, strlen(copy));
}
