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
#define COAPSRV_MAX_BODY (64 * 1024)
#define COAPSRV_MAX_QUERY 16
/* The Content-Format of application/cbor (RFC 7049 §7.4, registered as 60). */
#define CONTENT_FORMAT_CBOR 60

/* One CoAP session of a client (a DTLS session, or on plain CoAP the client's
 * address:port): whether it has authenticated, and as which device. Lives from the
 * session's first request until libcoap deletes the session. */
typedef struct coapsrv_upload coapsrv_upload;

typedef struct coapsrv_peer {
  struct coapsrv_peer *prev, *next;
  void *session; /* the libcoap session it belongs to */
  bool authed;
  char device_id[37];
  coapsrv_upload *uploads; /* Block1 transfers in progress (upload.c) */
  unsigned n_uploads;
} coapsrv_peer;

/* ---- Block1 reassembly (upload.c) ---- */

/* Every Block1 transfer of one listener, most recently active first, and what they hold. */
typedef struct {
  coapsrv_upload *head, *tail;
  size_t held, count; /* bytes held, transfers */
} coapsrv_uploads;

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
} coapsrv_upload_block;

typedef enum {
  UPLOAD_COMPLETE,   /* the body is whole: *body, *len */
  UPLOAD_CONTINUE,   /* kept: answer 2.31 Continue */
  UPLOAD_TOO_LARGE,  /* Size1 or the running size passes COAPSRV_MAX_BODY: 4.13 */
  UPLOAD_INCOMPLETE, /* starts past block 0, or a gap: 4.08 */
  UPLOAD_BAD_BLOCK,  /* a non-last block whose payload is not the block size: 4.00 */
  UPLOAD_NO_ROOM,    /* out of memory: 5.03 */
} coapsrv_upload_result;

/* Take one block of p's request. On UPLOAD_COMPLETE the body stays valid until
 * coapsrv__upload_done(*done) (*done NULL: a one-block body, nothing to free). */
coapsrv_upload_result coapsrv__upload_block(coapsrv_uploads *u, coapsrv_peer *p, const coapsrv_upload_block *b,
                                      const uint8_t **body, size_t *len, coapsrv_upload **done);
/* Free a completed transfer (NULL is a no-op). */
void coapsrv__upload_done(coapsrv_uploads *u, coapsrv_upload *t);
/* Free every transfer of a session that ends. */
void coapsrv__upload_drop_peer(coapsrv_uploads *u, coapsrv_peer *p);
/* Free every transfer (the listener stops). */
void coapsrv__upload_free_all(coapsrv_uploads *u);

typedef struct {
  app *app;
  exchange ex;     /* the pipeline's view: request id, clocks, device, fault */
  coapsrv_peer *peer; /* never NULL */
  const char *protocol, *method, *path;
  const uint8_t *body; /* the whole body (Block1 reassembled in upload.c); not NUL-terminated */
  size_t body_len;
  struct {
    const char *key, *value; /* value NULL for an item without '=' */
  } query[COAPSRV_MAX_QUERY];
  size_t n_query;
  /* The answer. */
  int code;              /* class*100 + detail, e.g. 205 */
  uint8_t *payload;      /* malloc'd, owned by the request until rendered */
  size_t payload_len;
  int content_format;    /* -1 = none */
  char diag[320];        /* diagnostic payload of an error answer (RFC 7252 §5.5.2) */
  char query_buf[COAPSRV_MAX_QUERY * 256]; /* last: not cleared per request */
} coapsrv_req;

typedef void (*coapsrv_handler)(coapsrv_req *r);

typedef struct {
  const char *method; /* "GET", "POST" */
  const char *path;   /* Uri-Path segments joined with '/', no leading '/' */
  coapsrv_handler handler;
  unsigned flags;     /* EXCHANGE_* (exchange.h) */
} coapsrv_route;

/* The route table (resources.c). */
extern const coapsrv_route coapsrv__routes[];
extern const size_t coapsrv__n_routes;

/* A Uri-Query item's value: NULL when absent, "" when present empty ("after="). */
const char *coapsrv__query(const coapsrv_req *r, const char *key);
/* Add one Uri-Query option's value (n bytes, not NUL-terminated) to r's query items: the
 * option is one item, so a value may hold any byte; a NUL cuts it short and the first '='
 * splits key from value ("after=" is an item with an empty value). -1 when r holds
 * COAPSRV_MAX_QUERY items or *used bytes of query_buf leave no room; then nothing is added.
 * Pure: coapsrv__read_query feeds it from libcoap's option iterator. */
int coapsrv__query_add(coapsrv_req *r, const uint8_t *value, size_t n, size_t *used);
/* Read every Uri-Query option of request into r's query items (coapsrv__query_add);
 * returns the bytes of query_buf used. The listener and fuzz_coapquery both call it. */
struct coap_pdu_t;
size_t coapsrv__read_query(coapsrv_req *r, const struct coap_pdu_t *request);
/* Answer with the error e: its CoAP code and its message as diagnostic payload. */
void coapsrv__error(coapsrv_req *r, const err_t *e);
/* Answer with error id and a printf message (NULL = the table's). */
void coapsrv__fail(coapsrv_req *r, err_id id, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Answer with a code and no payload. */
void coapsrv__empty(coapsrv_req *r, int code);
/* The credential of an auth payload (p/auth-jwt, p/auth) as the service reads it,
 * malloc'd, length in *len; NULL when there is none (resources.c). For the fault rules,
 * which read the device it names before the handler runs. */
char *coapsrv__credential(const coapsrv_req *r, size_t *len);
/* Answer with bytes (malloc'd, taken over) of a Content-Format; sent Block2-wise when large. */
void coapsrv__bytes(coapsrv_req *r, int code, int content_format, uint8_t *data, size_t len);

#endif
