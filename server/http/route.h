/* What http/ handler files share: the request object, the route table's row type, and
 * the small set of verbs handlers use to read a request and answer it. Only for http/. */
#ifndef NRFPROV_HTTP_ROUTE_H
#define NRFPROV_HTTP_ROUTE_H

#include <jansson.h>
#include <microhttpd.h>
#include <stdbool.h>
#include <stdint.h>

#include "app.h"
#include "errors.h"
#include "exchange.h"
#include "service/svc.h"

#define HTTP_MAX_BODY (1024 * 1024)
#define HTTP_MAX_PARAMS 4

typedef struct http_route http_route;

typedef struct http_req {
  app *app;
  exchange ex;               /* the pipeline's view: request id, clocks, device, team, fault */
  const http_route *route;   /* the matched route, NULL when none (404, 405) */
  struct MHD_Connection *conn;
  const char *method, *path, *protocol;
  const char *params[HTTP_MAX_PARAMS]; /* the {} segments and the {*} tail of the matched pattern */
  char *body;
  size_t body_len, body_cap;
  bool too_large;
  svc_team team;             /* the caller's team, on routes flagged EXCHANGE_OWNER */
  bool device_endpoint;      /* minimal headers, no X-Request-Id */
  /* The answer. */
  unsigned status;
  char *resp;
  size_t resp_len;
  const char *resp_type;
  const char *allow;
  const char *const *headers; /* more response headers: name, value, …, NULL */
  char param_buf[256];       /* backing store of params */
} http_req;

typedef void (*http_handler)(http_req *r);

/* One row of the route table. A row without a handler is a zone: it never answers (its
 * paths are 404s) but gives its flags to the paths it matches that no route matches. */
struct http_route {
  const char *method;
  const char *pattern; /* "/v1/claimed-devices/{}/block": {} matches one non-empty segment;
                          a final {*} matches the non-empty rest of the path, '/' included */
  http_handler handler;
  unsigned flags;      /* EXCHANGE_* (exchange.h) */
};

/* The route table (routes.c). */
extern const http_route http__routes[];
extern const size_t http__n_routes;

/* A query argument, or NULL when absent ("" when present without a value). */
const char *http__query(http_req *r, const char *key);
/* A request header, or NULL. */
const char *http__header(http_req *r, const char *name);
/* Answer with a JSON value (stolen). */
void http__json(http_req *r, unsigned status, json_t *body);
/* Answer with the error e: {"code","message"} and its status. */
void http__error(http_req *r, const err_t *e);
/* Answer with error id and a printf message (NULL = the table's). */
void http__fail(http_req *r, err_id id, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Answer with no body. */
void http__empty(http_req *r, unsigned status);
/* Answer with bytes (malloc'd, taken over) of the given content type. */
void http__bytes(http_req *r, unsigned status, const char *type, void *data, size_t len);
/* Parse the body as a JSON object; on failure answer 40000 and return NULL. */
json_t *http__body_object(http_req *r);
/* Answer a service verb's result: out (stolen) with ok_status, or the error e (answers.c). */
void http__result(http_req *r, int rc, const err_t *e, unsigned ok_status, json_t *out);
/* Answer a verb without a result: 204, or the error e. */
void http__done(http_req *r, int rc, const err_t *e);
/* Parse pageLimit and pageNextToken; on a bad value answer 40006 and return false. */
bool http__page(http_req *r, svc_page *p);

#endif
