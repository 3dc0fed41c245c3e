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
#include "exchange.h"

/* The largest request body of any resource (docs/control-api.md §5: 64 KiB for p/rsp
 * and the auth resources; p/cmd and .dtls/suspend take none). */
#define COAP_MAX_BODY (64 * 1024)
#define COAP_MAX_QUERY 16
/* The Content-Format of application/cbor (RFC 7049 §7.4, registered as 60). */
#define CONTENT_FORMAT_CBOR 60

/* One CoAP session of a client (a DTLS session, or on plain CoAP the client's
 * address:port): whether it has authenticated, and as which device. Lives from the
 * session's first request until libcoap deletes the session. */
typedef struct coap_upload coap_upload;

typedef struct coap_peer {
  struct coap_peer *prev, *next;
  void *session; /* the libcoap session it belongs to */
  bool authed;
  char device_id[37];
  coap_upload *uploads; /* Block1 transfers in progress (upload.c) */
  unsigned n_uploads;
} coap_peer;

/* ---- Block1 reassembly (upload.c) ---- */

/* Every Block1 transfer of one listener, most recently active first, and what they hold. */
typedef struct {
  coap_upload *head, *tail;
  size_t held, count; /* bytes held, transfers */
} coap_uploads;

/* One Block1 block as the listener read it from the request. */
typedef struct {
  const char *path;        /* the route's path (compared by address) */
  const uint8_t *rtag;     /* Request-Tag, rtag_len bytes (0: none) */
  size_t rtag_len;
  unsigned num, szx;       /* block number, size exponent (size = 16 << szx) */
  bool more;
  long long size1;         /* the Size1 option, -1 when absent */
  const uint8_t *data;     /* this block's payload */
  size_t len;
} coap_upload_block;

typedef enum {
  UPLOAD_COMPLETE,   /* the body is whole: *body, *len */
  UPLOAD_CONTINUE,   /* kept: answer 2.31 Continue */
  UPLOAD_TOO_LARGE,  /* Size1 or the running size passes COAP_MAX_BODY: 4.13 */
  UPLOAD_INCOMPLETE, /* starts past block 0, or a gap: 4.08 */
  UPLOAD_BAD_BLOCK,  /* a non-last block whose payload is not the block size: 4.00 */
  UPLOAD_NO_ROOM,    /* out of memory: 5.03 */
} coap_upload_result;

/* Take one block of p's request. On UPLOAD_COMPLETE the body stays valid until
 * coap__upload_done(*done) (*done NULL: a one-block body, nothing to free). */
coap_upload_result coap__upload_block(coap_uploads *u, coap_peer *p, const coap_upload_block *b,
                                      const uint8_t **body, size_t *len, coap_upload **done);
/* Free a completed transfer (NULL is a no-op). */
void coap__upload_done(coap_uploads *u, coap_upload *t);
/* Free every transfer of a session that ends. */
void coap__upload_drop_peer(coap_uploads *u, coap_peer *p);
/* Free every transfer (the listener stops). */
void coap__upload_free_all(coap_uploads *u);

typedef struct {
  app *app;
  exchange ex;     /* the pipeline's view: request id, clocks, device, fault */
  coap_peer *peer; /* never NULL */
  const char *protocol, *method, *path;
  const uint8_t *body; /* the whole body (Block1 reassembled in upload.c); not NUL-terminated */
  size_t body_len;
  struct {
    const char *key, *value; /* value NULL for an item without '=' */
  } query[COAP_MAX_QUERY];
  size_t n_query;
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
  unsigned flags;     /* EXCHANGE_* (exchange.h) */
} coap_route;

/* The route table (resources.c). */
extern const coap_route coap__routes[];
extern const size_t coap__n_routes;

/* A Uri-Query item's value: NULL when absent, "" when present empty ("after="). */
const char *coap__query(const coap_req *r, const char *key);
/* Add one Uri-Query option's value (n bytes, not NUL-terminated) to r's query items: the
 * option is one item, so a value may hold any byte; a NUL cuts it short and the first '='
 * splits key from value ("after=" is an item with an empty value). -1 when r holds
 * COAP_MAX_QUERY items or *used bytes of query_buf leave no room; then nothing is added.
 * Pure: server.c feeds it from libcoap's option iterator, fuzz_coapquery directly. */
int coap__query_add(coap_req *r, const uint8_t *value, size_t n, size_t *used);
/* Answer with the error e: its CoAP code and its message as diagnostic payload. */
void coap__error(coap_req *r, const err_t *e);
/* Answer with error id and a printf message (NULL = the table's). */
void coap__fail(coap_req *r, err_id id, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Answer with a code and no payload. */
void coap__empty(coap_req *r, int code);
/* The credential of an auth payload (p/auth-jwt, p/auth) as the service reads it,
 * malloc'd, length in *len; NULL when there is none (resources.c). For the fault rules,
 * which read the device it names before the handler runs. */
char *coap__credential(const coap_req *r, size_t *len);
/* Answer with bytes (malloc'd, taken over) of a Content-Format; sent Block2-wise when large. */
void coap__bytes(coap_req *r, int code, int content_format, uint8_t *data, size_t len);

#endif
