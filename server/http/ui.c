/* The portal pages (docs/portal.md): index.html at `/`, its scripts, style sheet and icon
 * under /ui/, and the rule templates the claim dialog offers, all from the files the
 * build embedded (ui_assets.h). Static content only: the pages change state solely
 * through the owner and control APIs, like any other client. With `--ui false` every
 * one of these paths answers 404 as an unknown path would. */
#include "handlers.h"

#include <stdlib.h>
#include <string.h>

#include "ui_assets.h"

/* Every page response: no caching (the binary is the version), only same-origin
 * resources (docs/portal.md, "Security"), no type sniffing, no framing. */
static const char *const page_headers[] = {
  "Cache-Control", "no-cache",
  "Content-Security-Policy",
  "default-src 'self'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'; object-src 'none'",
  "X-Content-Type-Options", "nosniff",
  NULL,
};

/* The certificate choices of the claim dialog and the fixture each one's commands come
 * from (fixtures/rules/, embedded as templates/…). */
static const struct {
  const char *choice, *asset;
} templates[] = {
  {"All", "templates/nrf-cloud-onboarding-all.json"},
  {"AWS", "templates/nrf-cloud-onboarding-aws.json"},
  {"CoAP", "templates/nrf-cloud-onboarding-coap.json"},
  {"None", "templates/nrf-cloud-onboarding-none.json"},
};

static const ui_asset *find_asset(const char *name) {
  for (size_t i = 0; i < ui_n_assets; i++)
    if (!strcmp(ui_assets[i].name, name)) return &ui_assets[i];
  return NULL;
}

/* False (and a 404 answered) when the pages are turned off. Their routes are flagged
 * EXCHANGE_PAGE (routes.c): not API exchanges, so no fault rule and no journal entry. */
static bool ui_on(http_req *r) {
  if (r->app->opt->ui) return true;
  http__fail(r, ERR_NOT_FOUND, "no such path: %s (the portal pages are off: --ui false)", r->path);
  return false;
}

static void answer_asset(http_req *r, const char *name) {
  const ui_asset *a = find_asset(name);
  if (!a) {
    http__fail(r, ERR_NOT_FOUND, "no such path: %s", r->path);
    return;
  }
  void *copy = malloc(a->len ? a->len : 1);
  if (!copy) {
    http__fail(r, ERR_INTERNAL, "out of memory");
    return;
  }
  memcpy(copy, a->data, a->len);
  r->headers = page_headers;
  http__bytes(r, 200, a->type, copy, a->len);
}

void ui_index(http_req *r) {
  if (ui_on(r)) answer_asset(r, "index.html");
}

void ui_file(http_req *r) {
  /* A name with a '/' never matches "{}"; templates/… are served composed below. */
  if (ui_on(r)) answer_asset(r, r->params[0]);
}

void ui_favicon(http_req *r) {
  if (ui_on(r)) answer_asset(r, "favicon.svg");
}

/* GET /ui/rule-templates.json: {"All": <rule>, "AWS": …, "CoAP": …, "None": …}, each the
 * fixture file as it is in fixtures/rules/, so the page holds no copy of the commands. */
void ui_templates(http_req *r) {
  if (!ui_on(r)) return;
  json_t *out = json_object();
  for (size_t i = 0; i < sizeof templates / sizeof templates[0]; i++) {
    const ui_asset *a = find_asset(templates[i].asset);
    json_error_t je;
    json_t *rule = a ? json_loadb((const char *)a->data, a->len, 0, &je) : NULL;
    if (!rule) {
      json_decref(out);
      http__fail(r, ERR_INTERNAL, "rule template %s is missing or not JSON", templates[i].asset);
      return;
    }
    json_object_set_new(out, templates[i].choice, rule);
  }
  r->headers = page_headers;
  http__json(r, 200, out);
}
