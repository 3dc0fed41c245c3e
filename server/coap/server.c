/* libcoap listener: context, endpoint, DTLS, the I/O thread, per-session state, the one
 * dispatch function (request -> route -> answer -> log line).
 *
 * Each listener has its own libcoap context driven by its own thread: the thread waits
 * in poll() on libcoap's epoll descriptor and on a wake-up pipe, so a stop is noticed at
 * once instead of after a timeout. Large answers go out Block2-wise from libcoap's cache
 * (COAP_BLOCK_USE_LIBCOAP). Block1 uploads are reassembled here, not by libcoap
 * (upload.c: libcoap's single-body mode keeps a body before any limit can be checked),
 * each block on its way in: refused with 4.13 past COAPSRV_MAX_BODY, 4.08 when it starts
 * past block 0 or has a gap, 2.31 Continue while more is to come (not logged); only a
 * whole body reaches the pipeline and the handler, so a handler runs, and a request is
 * logged, once per request body, not once per block.
 *
 * DTLS Connection ID: libcoap 4.3.1 has no API for it (no RFC 9146 support in its
 * OpenSSL layer), so a client that asks for a CID gets a handshake without one and
 * re-handshakes when its address changes. Not faked here.
 *
 * The request pipeline (exchange.h, docs/architecture.md) runs in on_request, as in
 * http/server.c: fault rules are checked before the handler (never per block: the body
 * is whole by then, and later Block2 blocks are served from libcoap's cache without
 * reaching us), and one
 * journal entry, one metrics count and one log line are written per exchange. A fault's
 * answer is its code with "injected fault <id>" as diagnostic payload. A drop sends
 * nothing at all, not even the empty ACK of a CON request: libcoap 4.3.1 drops a
 * response whose code is 0 when its type is NON (no_response() in coap_net.c), so the
 * response is turned into an empty NON; the client retransmits as after a lost
 * datagram, and each retransmission is a new request to the fault rules.
 * closeConnection has no CoAP meaning and drops too. A delay must not stall the one
 * listener thread: the request is handed to libcoap's separate-response support
 * (coap_register_async, which answers a CON with an empty ACK at once and arms the
 * epoll timer) and libcoap calls on_request again with a copy of it when the delay is
 * over; that second pass answers, as a separate response. libcoap's copy lacks a
 * Block1-reassembled body, so what the second pass needs is held here (held_request),
 * and a stop answers every held request at once.
 */
#include "coap.h"

#include <arpa/inet.h>
#include <coap3/coap.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* libcoap's coap_debug.h defines the syslog level macros, two of which collide with the
 * names of log.h's enum; libcoap levels are used by number below. */
#undef LOG_DEBUG
#undef LOG_INFO
#include "clock.h"
#include "exchange.h"
#include "faults.h"
#include "journal.h"
#include "log.h"
#include "pki/pki.h"
#include "route.h"

#define COAPSRV_LEVEL_CRIT 2
#define COAPSRV_LEVEL_INFO 6

/* DTLS handshakes in progress at once per listener (each holds an OpenSSL session). */
#define COAPSRV_MAX_HANDSHAKES 100

/* The longest token of RFC 7252 (libcoap 4.3.1 has no extended tokens). */
#define HELD_TOKEN_MAX 8

/* A request waiting out a fault's delayMs in libcoap's async list (its app data): what
 * the second pass of on_request needs that libcoap's copy of the request may not carry. */
typedef struct held_request {
  struct held_request *prev, *next;
  /* Its session (referenced while held) and token: the key of libcoap's async entry,
   * looked up again before each use, since libcoap frees the entry after the second
   * pass even when that pass did not come to us (libcoap answers some requests itself,
   * such as a Block2 block from its cache). */
  coap_session_t *session;
  uint8_t token[HELD_TOKEN_MAX];
  size_t token_len;
  exchange ex; /* as the first pass left it: request id, clocks, device, the fault */
  size_t body_len;
  uint8_t body[]; /* the whole request body */
} held_request;

struct coapsrv_listener {
  app *app;
  coap_context_t *ctx;
  const char *protocol; /* "coap" or "coaps" */
  int port;
  int wake[2];          /* stop pipe: the thread polls the read end */
  pthread_t thread;
  bool thread_started;
  coapsrv_peer *peers;     /* every session's state; touched by the listener thread only */
  held_request *held;   /* requests delayed by a fault; listener thread only */
  coapsrv_uploads uploads; /* Block1 transfers in progress; listener thread only */
  int64_t held_checked_us; /* when stale held requests were last looked for */
};

static pthread_mutex_t library_lock = PTHREAD_MUTEX_INITIALIZER;
static int library_users;

/* libcoap's own messages (socket errors, a client's failed DTLS handshake) are debug
 * lines: what matters to the operator is reported by us (a bind failure is the one
 * stderr line of a failed start), the rest is the clients' business. */
static void on_library_log(coap_log_t level, const char *message) {
  char buf[512];
  snprintf(buf, sizeof buf, "%s", message);
  buf[strcspn(buf, "\n")] = 0;
  log_msg(level <= COAPSRV_LEVEL_CRIT ? LOG_WARN : LOG_DEBUG, "libcoap: %s", buf);
}

static void library_acquire(void) {
  pthread_mutex_lock(&library_lock);
  if (!library_users++) {
    coap_startup();
    coap_set_log_handler(on_library_log);
    int level = log_enabled(LOG_DEBUG) ? COAPSRV_LEVEL_INFO : COAPSRV_LEVEL_CRIT;
    coap_set_log_level(level);
    coap_dtls_set_log_level(level);
  }
  pthread_mutex_unlock(&library_lock);
}

static void library_release(void) {
  pthread_mutex_lock(&library_lock);
  if (!--library_users) coap_cleanup();
  pthread_mutex_unlock(&library_lock);
}

/* ---- sessions -------------------------------------------------------------------- */

static coapsrv_peer *peer_of(coapsrv_listener *l, coap_session_t *s) {
  coapsrv_peer *p = coap_session_get_app_data(s);
  if (p) return p;
  p = calloc(1, sizeof *p);
  if (!p) return NULL;
  p->session = s;
  p->next = l->peers;
  if (l->peers) l->peers->prev = p;
  l->peers = p;
  coap_session_set_app_data(s, p);
  return p;
}

static void peer_free(coapsrv_listener *l, coapsrv_peer *p) {
  if (p->prev) p->prev->next = p->next;
  else l->peers = p->next;
  if (p->next) p->next->prev = p->prev;
  free(p);
}

/* A new or closed DTLS session never inherits an authentication; a deleted session
 * takes its state with it. */
static int on_event(coap_session_t *s, const coap_event_t event) {
  coapsrv_listener *l = coap_get_app_data(coap_session_get_context(s));
  coapsrv_peer *p = coap_session_get_app_data(s);
  if (!l || !p) return 0;
  switch (event) {
  case COAP_EVENT_DTLS_CLOSED:
  case COAP_EVENT_DTLS_CONNECTED:
  case COAP_EVENT_DTLS_RENEGOTIATE:
  case COAP_EVENT_DTLS_ERROR:
    p->authed = false;
    p->device_id[0] = 0;
    break;
  case COAP_EVENT_SERVER_SESSION_DEL:
    coap_session_set_app_data(s, NULL);
    coapsrv__upload_drop_peer(&l->uploads, p);
    peer_free(l, p);
    break;
  default:
    break;
  }
  return 0;
}

/* ---- answers --------------------------------------------------------------------- */

void coapsrv__empty(coapsrv_req *r, int code) {
  free(r->payload);
  r->payload = NULL;
  r->payload_len = 0;
  r->content_format = -1;
  r->diag[0] = 0;
  r->code = code;
}

void coapsrv__bytes(coapsrv_req *r, int code, int content_format, uint8_t *data, size_t len) {
  coapsrv__empty(r, code);
  r->payload = data;
  r->payload_len = len;
  r->content_format = content_format;
}

void coapsrv__error(coapsrv_req *r, const err_t *e) {
  if (e->id == ERR_INTERNAL) log_msg(LOG_ERROR, "request %s %s %s: %s", r->ex.request_id, r->method, r->path, e->message);
  coapsrv__empty(r, err_coap_code(e->id));
  r->ex.error_code = err_code(e->id);
  snprintf(r->diag, sizeof r->diag, "%s", e->message);
}

void coapsrv__fail(coapsrv_req *r, err_id id, const char *fmt, ...) {
  err_t e;
  va_list ap;
  va_start(ap, fmt);
  err_vset(&e, id, fmt, ap);
  va_end(ap);
  coapsrv__error(r, &e);
}

/* ---- reading --------------------------------------------------------------------- */

const char *coapsrv__query(const coapsrv_req *r, const char *key) {
  for (size_t i = 0; i < r->n_query; i++)
    if (!strcmp(r->query[i].key, key)) return r->query[i].value;
  return NULL;
}

int coapsrv__query_add(coapsrv_req *r, const uint8_t *value, size_t n, size_t *used) {
  if (r->n_query >= COAPSRV_MAX_QUERY || *used > sizeof r->query_buf || n + 1 > sizeof r->query_buf - *used) return -1;
  char *item = r->query_buf + *used;
  if (n) memcpy(item, value, n);
  item[n] = 0;
  *used += n + 1;
  char *eq = strchr(item, '=');
  if (eq) *eq = 0;
  r->query[r->n_query].key = item;
  r->query[r->n_query].value = eq ? eq + 1 : NULL;
  r->n_query++;
  return 0;
}

size_t coapsrv__read_query(coapsrv_req *r, const coap_pdu_t *request) {
  coap_opt_filter_t f;
  coap_opt_iterator_t it;
  coap_opt_t *o;
  size_t used = 0;
  coap_option_filter_clear(&f);
  coap_option_filter_set(&f, COAP_OPTION_URI_QUERY);
  coap_option_iterator_init(request, &it, &f);
  while ((o = coap_option_next(&it)) && coapsrv__query_add(r, coap_opt_value(o), coap_opt_length(o), &used) == 0) {
  }
  return used;
}

static const char *method_name(coap_pdu_code_t code) {
  switch (code) {
  case COAP_REQUEST_CODE_GET: return "GET";
  case COAP_REQUEST_CODE_POST: return "POST";
  case COAP_REQUEST_CODE_PUT: return "PUT";
  case COAP_REQUEST_CODE_DELETE: return "DELETE";
  case COAP_REQUEST_CODE_FETCH: return "FETCH";
  case COAP_REQUEST_CODE_PATCH: return "PATCH";
  case COAP_REQUEST_CODE_IPATCH: return "IPATCH";
  default: return "?";
  }
}

static void release_payload(coap_session_t *s, void *data) {
  (void)s;
  free(data);
}

/* ---- the pipeline's hooks: faults, journal, metrics -------------------------------- */

/* Check the fault rules; true when one fired (r->ex). The subject as fault rules see it
 * before any handler runs: on p/auth-jwt and p/auth the device the credential in the
 * payload names (read, not verified), elsewhere the session's authenticated device. */
static bool check_faults(coapsrv_listener *l, coapsrv_req *r) {
  exchange_subject s = {.device_call = true};
  char *cred = NULL;
  if (r->ex.flags & EXCHANGE_BODY_CREDENTIAL) {
    cred = coapsrv__credential(r, &s.credential_len);
    s.credential = cred;
  } else if (r->peer->authed) {
    s.device_id = r->peer->device_id;
  }
  bool fired = exchange_faults(&r->ex, l->app, &s);
  free(cred);
  return fired;
}

/* Hand the request to libcoap's separate-response support for the fault's delay, keeping
 * what the second pass needs. False when it cannot be held (the request goes on at once). */
static bool hold(coapsrv_listener *l, coap_session_t *session, const coap_pdu_t *request, const coapsrv_req *r) {
  coap_bin_const_t token = coap_pdu_get_token(request);
  if (token.length > HELD_TOKEN_MAX) return false;
  held_request *h = malloc(sizeof *h + r->body_len);
  if (!h) return false;
  coap_tick_t delay = (coap_tick_t)r->ex.fault.delay_ms * COAP_TICKS_PER_SECOND / 1000;
  /* 0 would mean "until triggered". */
  coap_async_t *async = coap_register_async(session, request, delay ? delay : 1);
  if (!async) {
    free(h);
    return false;
  }
  h->session = coap_session_reference(session);
  h->token_len = token.length;
  if (token.length) memcpy(h->token, token.s, token.length);
  h->ex = r->ex;
  h->body_len = r->body_len;
  if (r->body_len) memcpy(h->body, r->body, r->body_len);
  coap_async_set_app_data(async, h);
  h->prev = NULL;
  h->next = l->held;
  if (l->held) l->held->prev = h;
  l->held = h;
  return true;
}

/* Take h off the list and free it. Its body must no longer be needed. */
static void unhold(coapsrv_listener *l, held_request *h) {
  if (h->prev) h->prev->next = h->next;
  else l->held = h->next;
  if (h->next) h->next->prev = h->prev;
  if (h->session) coap_session_release(h->session);
  free(h);
}

/* The async entry libcoap still keeps for h, or NULL when it is gone. */
static coap_async_t *async_of(const held_request *h) {
  coap_bin_const_t token = {h->token_len, h->token};
  coap_async_t *async = coap_find_async(h->session, token);
  return async && coap_async_get_app_data(async) == h ? async : NULL;
}

/* Free the held requests whose second pass libcoap carried out without us. At most once
 * a second: a walk of the list. */
static void forget_stale(coapsrv_listener *l) {
  if (!l->held) return;
  int64_t now = clock_mono_us();
  if (now - l->held_checked_us < 1000000) return;
  l->held_checked_us = now;
  for (held_request *h = l->held, *next; h; h = next) {
    next = h->next;
    if (!async_of(h)) unhold(l, h);
  }
}

/* Write the record of an answered request (code 0: nothing was sent). Before the
 * answer's payload goes to libcoap, which may free it at once. */
static void record(coapsrv_listener *l, const coapsrv_req *r, const coap_string_t *query, int code) {
  char status[16];
  if (code) snprintf(status, sizeof status, "%d.%02d", code / 100, code % 100);
  else snprintf(status, sizeof status, "none");
  exchange_outcome o = {.status = status, .code = code};
  /* libcoap hands the Uri-Query options joined with '&'. */
  char qtext[JOURNAL_CUT + 1];
  if (exchange_journaled(l->app, &r->ex)) {
    size_t qn = query && query->s ? query->length : 0;
    if (qn > JOURNAL_CUT) qn = JOURNAL_CUT;
    if (qn) memcpy(qtext, query->s, qn);
    qtext[qn] = 0;
    o.query = qtext;
    o.request_body = r->body;
    o.request_len = r->body_len;
    o.request_binary = r->ex.flags & EXCHANGE_CBOR_BODY;
    o.response_body = r->payload ? (const void *)r->payload : r->diag;
    o.response_len = r->payload ? r->payload_len : strlen(r->diag);
    o.response_binary = r->payload && r->content_format == CONTENT_FORMAT_CBOR;
  }
  exchange_record(l->app, &r->ex, &o);
}

/* ---- dispatch -------------------------------------------------------------------- */

/* One Block1 block of r's request, through upload.c. True when the body is whole
 * (r->body; *upload is freed after the answer); false when the block is answered here:
 * 2.31 Continue (not recorded: a request is recorded once, when its body is whole; libcoap
 * has put the Block1 option into the response), or a refusal (recorded). */
static bool take_block(coapsrv_listener *l, const coap_pdu_t *request, coap_pdu_t *response, const coap_string_t *query,
                       coapsrv_req *r, const coap_block_t *b1, const uint8_t *data, size_t len, coapsrv_upload **upload) {
  coap_opt_iterator_t it;
  coap_opt_t *o;
  coapsrv_upload_block b = {.path = r->path, .num = b1->num, .szx = b1->szx, .more = b1->m, .size1 = -1,
                         .data = data, .len = len};
  if ((o = coap_check_option(request, COAP_OPTION_RTAG, &it))) {
    b.rtag = coap_opt_value(o);
    b.rtag_len = coap_opt_length(o);
  }
  if ((o = coap_check_option(request, COAP_OPTION_SIZE1, &it)))
    b.size1 = coap_opt_length(o) > 4 ? LLONG_MAX : (long long)coap_decode_var_bytes8(coap_opt_value(o), coap_opt_length(o));
  const uint8_t *body = NULL;
  size_t body_len = 0;
  switch (coapsrv__upload_block(&l->uploads, r->peer, &b, &body, &body_len, upload)) {
  case UPLOAD_COMPLETE:
    r->body = body;
    r->body_len = body_len;
    return true;
  case UPLOAD_CONTINUE:
    coap_pdu_set_code(response, COAP_RESPONSE_CODE(231));
    return false;
  case UPLOAD_TOO_LARGE:
    coapsrv__fail(r, ERR_TOO_LARGE, "body is larger than %d bytes", COAPSRV_MAX_BODY);
    break;
  case UPLOAD_INCOMPLETE:
    coapsrv__empty(r, 408);
    snprintf(r->diag, sizeof r->diag, "Block1 block %u: the transfer did not start at block 0, has a gap or was dropped",
             b.num);
    break;
  case UPLOAD_BAD_BLOCK:
    coapsrv__fail(r, ERR_BAD_FIELD, "Block1 block %u carries %zu bytes; a block with more to come carries %u", b.num, len,
               16u << b.szx);
    break;
  case UPLOAD_NO_ROOM:
    coapsrv__fail(r, ERR_UNAVAILABLE, "no room for more Block1 uploads now; try again");
    break;
  }
  record(l, r, query, r->code);
  coap_pdu_set_code(response, COAP_RESPONSE_CODE(r->code));
  if (r->code == 413) {
    /* RFC 7959 §2.9.3: Size1 in a 4.13 tells the largest body taken. */
    uint8_t buf[4];
    coap_add_option(response, COAP_OPTION_SIZE1, coap_encode_var_safe(buf, sizeof buf, COAPSRV_MAX_BODY), buf);
  }
  coap_add_data(response, strlen(r->diag), (const uint8_t *)r->diag);
  return false;
}

/* Every request of every resource comes through here: the one place where a request is
 * matched to its route, checked against the fault rules, handled, answered, logged,
 * counted and journaled. A request held for a fault's delay comes through twice: first
 * as it arrived (held, no answer yet), then as libcoap's copy when the delay is over. */
static void on_request(coap_resource_t *resource, coap_session_t *session, const coap_pdu_t *request,
                       const coap_string_t *query, coap_pdu_t *response) {
  coapsrv_listener *l = coap_get_app_data(coap_session_get_context(session));
  coap_str_const_t *uri = coap_resource_get_uri_path(resource);
  const char *method = method_name(coap_pdu_get_code(request));
  const coapsrv_route *route = NULL;
  for (size_t i = 0; i < coapsrv__n_routes && !route; i++)
    if (uri && strlen(coapsrv__routes[i].path) == uri->length && !memcmp(coapsrv__routes[i].path, uri->s, uri->length) &&
        !strcmp(coapsrv__routes[i].method, method))
      route = &coapsrv__routes[i];

  coapsrv_peer *peer = peer_of(l, session);
  if (!peer || !route) {
    /* libcoap calls us only for registered (path, method) pairs, so !route cannot be. */
    coap_pdu_set_code(response, COAP_RESPONSE_CODE(route ? 500 : 405));
    return;
  }
  /* On the listener thread's stack; the query buffer at its end needs no clearing. */
  coapsrv_req req, *r = &req;
  memset(r, 0, offsetof(coapsrv_req, query_buf));
  r->app = l->app;
  r->peer = peer;
  r->protocol = l->protocol;
  r->method = method;
  r->path = route->path;
  r->content_format = -1;

  /* The second pass of a held request: libcoap keeps the async until we return. */
  held_request *held = NULL;
  coapsrv_upload *upload = NULL; /* the Block1 transfer whose body r->body is */
  if (l->held) {
    coap_async_t *async = coap_find_async(session, coap_pdu_get_token(request));
    held = async ? coap_async_get_app_data(async) : NULL;
  }
  if (held) {
    r->ex = held->ex;
    r->body = held->body;
    r->body_len = held->body_len;
  } else {
    exchange_begin(&r->ex, l->protocol, method, route->path);
    r->ex.route = route->path;
    r->ex.flags = route->flags;
    size_t len = 0;
    const uint8_t *data = NULL;
    coap_get_data(request, &len, &data);
    coap_block_t b1;
    if (coap_get_block(request, COAP_OPTION_BLOCK1, &b1)) {
      if (!take_block(l, request, response, query, r, &b1, data, len, &upload)) return;
    } else {
      r->body = data;
      r->body_len = len;
    }
    /* Fault rules first (faults_any is one atomic load), so a fired fault keeps the
     * request from the service altogether. */
    if (faults_any(l->app->faults) && check_faults(l, r)) {
      if (fault_coap_drops(&r->ex.fault)) {
        /* An empty NON is never sent (see the top of this file): no answer, no ACK. */
        coap_pdu_set_type(response, COAP_MESSAGE_NON);
        record(l, r, query, 0);
        coapsrv__upload_done(&l->uploads, upload);
        return;
      }
      /* No code set: libcoap answers a CON with an empty ACK, a NON with nothing. */
      if (r->ex.fault.delay_ms > 0 && hold(l, session, request, r)) {
        coapsrv__upload_done(&l->uploads, upload); /* hold() keeps its own copy of the body */
        return;
      }
    }
  }
  coapsrv__read_query(r, request);

  int fault_code = r->ex.faulted ? fault_coap_code(&r->ex.fault) : 0;
  if (fault_code) {
    coapsrv__empty(r, fault_code);
    if (fault_code >= 400) snprintf(r->diag, sizeof r->diag, "injected fault %.36s", r->ex.fault_id);
  } else if (r->body_len > COAPSRV_MAX_BODY) {
    coapsrv__fail(r, ERR_TOO_LARGE, "body is larger than %d bytes", COAPSRV_MAX_BODY);
  } else {
    route->handler(r);
  }

  coap_block_t b2;
  if (r->payload && coap_get_block(request, COAP_OPTION_BLOCK2, &b2) && b2.num &&
      r->payload_len <= ((size_t)b2.num << (b2.szx + 4))) {
    /* libcoap would answer 4.00 here without releasing the payload, so say it first. */
    coapsrv__fail(r, ERR_BAD_QUERY, "Block2 block %u is past the end of the %zu-byte answer", b2.num, r->payload_len);
  }
  record(l, r, query, r->code);
  if (held) {
    unhold(l, held); /* r->body pointed into it; recorded */
    r->body = NULL;
  }
  coapsrv__upload_done(&l->uploads, upload); /* the same */
  coap_pdu_set_code(response, COAP_RESPONSE_CODE(r->code));
  if (r->payload) {
    /* libcoap owns the payload from here, and frees it once the last block is sent. */
    coap_add_data_large_response(resource, session, request, response, query, (uint16_t)r->content_format, -1, 0,
                                 r->payload_len, r->payload, release_payload, r->payload);
    r->payload = NULL;
  } else if (r->diag[0]) {
    coap_add_data(response, strlen(r->diag), (const uint8_t *)r->diag);
  }
}

/* ---- the listener ---------------------------------------------------------------- */

/* On stop: every request held for a fault's delay is answered now, as HTTP's are. */
static void answer_held(coapsrv_listener *l) {
  if (!l->held) return;
  for (held_request *h = l->held; h; h = h->next) {
    coap_async_t *async = async_of(h);
    if (async) coap_async_trigger(async);
  }
  coap_io_process(l->ctx, COAP_IO_NO_WAIT);
}

static void *run(void *arg) {
  coapsrv_listener *l = arg;
  int fd = coap_context_get_coap_fd(l->ctx);
  for (;;) {
    if (fd < 0) {
      /* libcoap built without epoll: no descriptor to wait on, so wait in libcoap with a
       * short bound and look at the pipe between rounds. */
      coap_io_process(l->ctx, 50);
      forget_stale(l);
      struct pollfd w = {l->wake[0], POLLIN, 0};
      if (poll(&w, 1, 0) > 0) break;
      continue;
    }
    /* Each coap_io_process() arms libcoap's timerfd, which sits in the same epoll set, for
     * its next own deadline (retransmission, block or session expiry), so the epoll
     * descriptor also turns readable when libcoap has timed work; the 1 s bound is only a
     * safety net. Not calling coap_io_prepare_epoll() here matters: it walks every
     * session, and coap_io_process() does it again. */
    struct pollfd p[2] = {{fd, POLLIN, 0}, {l->wake[0], POLLIN, 0}};
    int n = poll(p, 2, 1000);
    if (n < 0 && errno != EINTR) break;
    if (p[1].revents) break;
    coap_io_process(l->ctx, COAP_IO_NO_WAIT);
    forget_stale(l);
  }
  answer_held(l);
  return NULL;
}

/* The port libcoap bound, read back from the endpoint's "address:port PROTO" text. */
static int endpoint_port(const coap_endpoint_t *ep) {
  const char *s = coap_endpoint_str(ep);
  const char *colon = s ? strrchr(s, ':') : NULL;
  return colon ? (int)strtol(colon + 1, NULL, 10) : 0;
}

static int set_address(coap_address_t *a, const char *bind, int port) {
  coap_address_init(a);
  if (strchr(bind, ':')) {
    a->addr.sin6.sin6_family = AF_INET6;
    a->addr.sin6.sin6_port = htons((uint16_t)port);
    a->size = sizeof a->addr.sin6;
    return inet_pton(AF_INET6, bind, &a->addr.sin6.sin6_addr) == 1 ? 0 : -1;
  }
  a->addr.sin.sin_family = AF_INET;
  a->addr.sin.sin_port = htons((uint16_t)port);
  a->size = sizeof a->addr.sin;
  return inet_pton(AF_INET, bind, &a->addr.sin.sin_addr) == 1 ? 0 : -1;
}

/* The server certificate for DTLS: the PKI's leaf and key as PEM buffers. No client
 * certificate is asked for; devices authenticate with their JWT or token instead. */
static int set_pki(coapsrv_listener *l, char *why, size_t whysz) {
  if (!coap_dtls_is_supported()) return snprintf(why, whysz, "this libcoap has no DTLS support"), -1;
  const char *cert = pki_server_leaf_pem(l->app->pki), *key = pki_server_key_pem(l->app->pki);
  if (!cert || !key)
    return snprintf(why, whysz, "no server certificate for DTLS: %s",
                    pki_error(l->app->pki) ? pki_error(l->app->pki) : "unknown"), -1;
  coap_dtls_pki_t p;
  memset(&p, 0, sizeof p);
  p.version = COAP_DTLS_PKI_SETUP_VERSION;
  p.verify_peer_cert = 0;
  p.pki_key.key_type = COAP_PKI_KEY_PEM_BUF;
  p.pki_key.key.pem_buf.public_cert = (const uint8_t *)cert;
  p.pki_key.key.pem_buf.public_cert_len = strlen(cert);
  p.pki_key.key.pem_buf.private_key = (const uint8_t *)key;
  p.pki_key.key.pem_buf.private_key_len = strlen(key);
  if (!coap_context_set_pki(l->ctx, &p)) return snprintf(why, whysz, "libcoap refused the server certificate for DTLS"), -1;
  return 0;
}

/* One resource per distinct path, with the shared handler for each of its methods. */
static int add_resources(coapsrv_listener *l) {
  for (size_t i = 0; i < coapsrv__n_routes; i++) {
    bool seen = false;
    for (size_t j = 0; j < i; j++) seen |= !strcmp(coapsrv__routes[j].path, coapsrv__routes[i].path);
    if (seen) continue;
    const char *path = coapsrv__routes[i].path;
    coap_resource_t *res = coap_resource_init(coap_new_str_const((const uint8_t *)path, strlen(path)),
                                              COAP_RESOURCE_FLAGS_RELEASE_URI);
    if (!res) return -1;
    for (size_t j = i; j < coapsrv__n_routes; j++) {
      if (strcmp(coapsrv__routes[j].path, path)) continue;
      coap_request_t m = !strcmp(coapsrv__routes[j].method, "GET") ? COAP_REQUEST_GET : COAP_REQUEST_POST;
      coap_register_request_handler(res, m, on_request);
    }
    coap_add_resource(l->ctx, res);
  }
  return 0;
}

int coapsrv_listener_start(coapsrv_listener **out, app *a, const char *bind, int port, bool dtls, char *why, size_t whysz) {
  *out = NULL;
  coap_address_t addr;
  if (set_address(&addr, bind, port)) return snprintf(why, whysz, "--bind: '%s' is not an IPv4 or IPv6 address", bind), -1;
  coapsrv_listener *l = calloc(1, sizeof *l);
  if (!l) return snprintf(why, whysz, "out of memory"), -1;
  l->app = a;
  l->protocol = dtls ? "coaps" : "coap";
  l->wake[0] = l->wake[1] = -1;
  library_acquire();
  l->ctx = coap_new_context(NULL);
  if (!l->ctx) {
    snprintf(why, whysz, "cannot create a libcoap context");
    goto fail;
  }
  coap_set_app_data(l->ctx, l);
  coap_context_set_block_mode(l->ctx, COAP_BLOCK_USE_LIBCOAP);
  /* Session limits (docs/control-api.md §5): past the cap libcoap drops the session idle
   * the longest (and tells on_event); idle sessions end after the idle timeout; DTLS
   * handshakes in progress are capped on their own (a handshake that stalls ends after
   * libcoap's partial-session timeout). */
  coap_context_set_max_idle_sessions(l->ctx, (unsigned)a->opt->coap_max_sessions);
  coap_context_set_session_timeout(l->ctx, (unsigned)((a->opt->idle_timeout_ms + 999) / 1000));
  coap_context_set_max_handshake_sessions(l->ctx, COAPSRV_MAX_HANDSHAKES);
  coap_register_event_handler(l->ctx, on_event);
  if (dtls && set_pki(l, why, whysz)) goto fail;
  coap_endpoint_t *ep = coap_new_endpoint(l->ctx, &addr, dtls ? COAP_PROTO_DTLS : COAP_PROTO_UDP);
  if (!ep) {
    snprintf(why, whysz, "cannot listen for %s on %s port %d/udp (address in use, or not an address of this machine)",
             l->protocol, bind, port);
    goto fail;
  }
  l->port = endpoint_port(ep);
  if (l->port <= 0) {
    snprintf(why, whysz, "cannot tell which port the %s listener bound", l->protocol);
    goto fail;
  }
  if (add_resources(l)) {
    snprintf(why, whysz, "cannot create the CoAP resources");
    goto fail;
  }
  if (pipe2(l->wake, O_CLOEXEC | O_NONBLOCK)) {
    snprintf(why, whysz, "pipe: %s", strerror(errno));
    goto fail;
  }
  if (pthread_create(&l->thread, NULL, run, l)) {
    snprintf(why, whysz, "cannot start the %s thread", l->protocol);
    goto fail;
  }
  l->thread_started = true;
  *out = l;
  return 0;
fail:
  coapsrv_listener_stop(l);
  return -1;
}

int coapsrv_listener_port(const coapsrv_listener *l) { return l ? l->port : 0; }

void coapsrv_listener_stop(coapsrv_listener *l) {
  if (!l) return;
  if (l->thread_started) {
    ssize_t w;
    do w = write(l->wake[1], "x", 1);
    while (w < 0 && errno == EINTR);
    pthread_join(l->thread, NULL);
  }
  /* What is still held lets go of its session before the context deletes them all. */
  while (l->held) unhold(l, l->held);
  /* Freeing the context deletes its sessions and async entries; what they still hold is
   * freed after. */
  if (l->ctx) coap_free_context(l->ctx);
  coapsrv__upload_free_all(&l->uploads);
  while (l->peers) peer_free(l, l->peers);
  if (l->wake[0] >= 0) close(l->wake[0]);
  if (l->wake[1] >= 0) close(l->wake[1]);
  library_release();
  free(l);
}
