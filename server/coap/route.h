/* What coap/ files share: the request object handed to a resource handler, the session
 * state that carries a device's authentication, the route table's row type, and the
 * verbs handlers answer with. Only for coap/; libcoap types stay in server.c. */
#ifndef NRFPROV_COAP_ROUTE_H
#define NRFPROV_COAP_ROUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "app.h"
#include "errors.h"

#define COAP_MAX_BODY (1024 * 1024)
#define COAP_MAX_QUERY 16

/* One CoAP session of a client (a DTLS session, or on plain CoAP the client's
 * address:port): whether it has authenticated, and as which device. Lives from the
 * session's first request until libcoap deletes the session. */
typedef struct coap_peer {
  struct coap_peer *prev, *next;
  void *session; /* the libcoap session it belongs to */
  bool authed;
  char device_id[37];
} coap_peer;

typedef struct {
  app *app;
  coap_peer *peer; /* never NULL */
  const char *protocol, *method, *path;
  char request_id[20];
  int64_t start_us;      /* monotonic, for the duration */
  int64_t wall_ms;       /* wall clock at the start, for the journal */
  const uint8_t *body; /* the whole body (libcoap reassembles Block1); not NUL-terminated */
  size_t body_len;
  struct {
    const char *key, *value; /* value NULL for an item without '=' */
  } query[COAP_MAX_QUERY];
  size_t n_query;
  char device_id[37]; /* for the log line, when known */
  /* The answer. */
  int code;              /* class*100 + detail, e.g. 205 */
  uint8_t *payload;      /* malloc'd, owned by the request until rendered */
  size_t payload_len;
  int content_format;    /* -1 = none */
  char diag[320];        /* diagnostic payload of an error answer (RFC 7252 §5.5.2) */
  char query_buf[COAP_MAX_QUERY * 256]; /* last: not cleared per request */
} coap_req;

typedef void (*coap_handler)(coap_req *r);

typedef struct {
  const char *method; /* "GET", "POST" */
  const char *path;   /* Uri-Path segments joined with '/', no leading '/' */
  coap_handler handler;
} coap_route;

/* The route table (resources.c). */
extern const coap_route coap__routes[];
extern const size_t coap__n_routes;

/* A Uri-Query item's value: NULL when absent, "" when present empty ("after="). */
const char *coap__query(const coap_req *r, const char *key);
/* Answer with the error e: its CoAP code and its message as diagnostic payload. */
void coap__error(coap_req *r, const err_t *e);
/* Answer with error id and a printf message (NULL = the table's). */
void coap__fail(coap_req *r, err_id id, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Answer with a code and no payload. */
void coap__empty(coap_req *r, int code);
/* The device an auth payload (p/auth-jwt, p/auth) names, read without checking it, for
 * fault matching before the handler runs; "" when none (resources.c). */
void coap__credential_device(const coap_req *r, char out[37]);
/* Answer with bytes (malloc'd, taken over) of a Content-Format; sent Block2-wise when large. */
void coap__bytes(coap_req *r, int code, int content_format, uint8_t *data, size_t len);

#endif
