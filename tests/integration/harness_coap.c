/* CoAP side of the device harness (DEV_COAP, DEV_COAPS): a libcoap client session per
 * dev_client, the way the SDK's client talks to the service. dev_fetch and dev_report
 * authenticate lazily, once per session: POST p/auth-jwt with the JWT, or p/auth with the
 * bare token when the credential is "att.<token>". Block-wise transfers are libcoap's
 * (COAP_BLOCK_USE_LIBCOAP | COAP_BLOCK_SINGLE_BODY): p/cmd asks for Block2 blocks of 512
 * bytes as newer SDK clients do, large p/rsp bodies go out Block1-wise with Request-Tag.
 * Every wait is coap_io_process() with a bound, never a sleep. */
#include "harness_coap.h"

#include <arpa/inet.h>
#include <coap3/coap.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define WAIT_MS 10000
#define BLOCK_SIZE 512

typedef struct {
  coap_context_t *ctx;
  coap_session_t *session;
  char ca_file[400];
  bool authed;
  int wait_ms;       /* the bound on waiting for an answer */
  /* The exchange in flight. */
  bool is_auth;      /* it is a p/auth* request */
  bool done, failed;
  int code;
  uint8_t *body;
  size_t len;
  char failure[160];
} coap_client;

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static coap_client *client_of(coap_session_t *s) { return coap_get_app_data(coap_session_get_context(s)); }

static coap_response_t on_response(coap_session_t *s, const coap_pdu_t *sent, const coap_pdu_t *received, const coap_mid_t mid) {
  (void)sent, (void)mid;
  coap_client *c = client_of(s);
  if (!c || c->done) return COAP_RESPONSE_OK;
  coap_pdu_code_t code = coap_pdu_get_code(received);
  c->code = (code >> 5) * 100 + (code & 31);
  size_t len = 0, offset = 0, total = 0;
  const uint8_t *data = NULL;
  if (coap_get_data_large(received, &len, &data, &offset, &total) && len) {
    c->body = malloc(len + 1);
    memcpy(c->body, data, len);
    c->body[len] = 0;
    c->len = len;
  }
  c->done = true;
  return COAP_RESPONSE_OK;
}

static void on_nack(coap_session_t *s, const coap_pdu_t *sent, const coap_nack_reason_t reason, const coap_mid_t mid) {
  (void)sent, (void)mid;
  coap_client *c = client_of(s);
  if (!c || c->done) return;
  static const char *why[] = {"too many retransmissions", "not deliverable", "reset by the server", "DTLS failed", "ICMP error"};
  snprintf(c->failure, sizeof c->failure, "no answer: %s", (unsigned)reason < 5 ? why[reason] : "?");
  c->failed = true;
}

static int on_event(coap_session_t *s, const coap_event_t event) {
  coap_client *c = client_of(s);
  if (c && !c->done && (event == COAP_EVENT_DTLS_ERROR || event == COAP_EVENT_SESSION_FAILED)) {
    snprintf(c->failure, sizeof c->failure, "DTLS handshake failed (event 0x%x)", (unsigned)event);
    c->failed = true;
  }
  if (c && (event == COAP_EVENT_DTLS_CLOSED || event == COAP_EVENT_DTLS_CONNECTED)) c->authed = false;
  return 0;
}

void dev__coap_open(dev_client *d) {
  static bool started;
  if (!started) {
    coap_startup();
    coap_set_log_level(getenv("HARNESS_COAP_DEBUG") ? LOG_DEBUG : LOG_EMERG);
    coap_dtls_set_log_level(getenv("HARNESS_COAP_DEBUG") ? LOG_DEBUG : LOG_EMERG);
    started = true;
  }
  coap_client *c = calloc(1, sizeof *c);
  cr_assert(c);
  c->wait_ms = WAIT_MS;
  d->coap = c;
}

/* The session, made on first use so that dev_coap_trust can still change the CA. */
static coap_session_t *session_of(dev_client *d) {
  coap_client *c = d->coap;
  if (c->session) return c->session;
  bool dtls = d->t == DEV_COAPS;
  c->ctx = coap_new_context(NULL);
  cr_assert(c->ctx, "coap_new_context");
  coap_set_app_data(c->ctx, c);
  coap_context_set_block_mode(c->ctx, COAP_BLOCK_USE_LIBCOAP | COAP_BLOCK_SINGLE_BODY);
  coap_register_response_handler(c->ctx, on_response);
  coap_register_nack_handler(c->ctx, on_nack);
  coap_register_event_handler(c->ctx, on_event);
  coap_address_t dst;
  coap_address_init(&dst);
  dst.addr.sin.sin_family = AF_INET;
  dst.addr.sin.sin_port = htons((uint16_t)(dtls ? d->m->coaps_port : d->m->coap_port));
  dst.addr.sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  dst.size = sizeof dst.addr.sin;
  cr_assert(ntohs(dst.addr.sin.sin_port), "the mock announced no %s listener", dtls ? "coaps" : "coap");
  if (dtls) {
    if (!*c->ca_file) snprintf(c->ca_file, sizeof c->ca_file, "%s", mock_ca_file(d->m));
    coap_dtls_pki_t pki;
    memset(&pki, 0, sizeof pki);
    pki.version = COAP_DTLS_PKI_SETUP_VERSION;
    pki.verify_peer_cert = 1; /* the server must chain to the CA we trust */
    pki.cert_chain_validation = 1;
    pki.cert_chain_verify_depth = 3;
    pki.pki_key.key_type = COAP_PKI_KEY_PEM; /* no client certificate */
    /* The trust anchor goes into the context's root store: libcoap 4.3.1 uses the
     * pki_key's ca_file only for client-certificate checks. */
    cr_assert(coap_context_set_pki_root_cas(c->ctx, c->ca_file, NULL), "root CA %s", c->ca_file);
    pki.client_sni = "127.0.0.1";
    c->session = coap_new_client_session_pki(c->ctx, NULL, &dst, COAP_PROTO_DTLS, &pki);
  } else {
    c->session = coap_new_client_session(c->ctx, NULL, &dst, COAP_PROTO_UDP);
  }
  cr_assert(c->session, "cannot create the %s client session", dtls ? "coaps" : "coap");
  return c->session;
}

void dev_coap_trust(dev_client *d, const char *ca_file) {
  coap_client *c = d->coap;
  cr_assert(!c->session, "dev_coap_trust before the first exchange");
  snprintf(c->ca_file, sizeof c->ca_file, "%s", ca_file);
}

const char *dev_coap_failure(const dev_client *d) { return ((coap_client *)d->coap)->failure; }

/* Split "a/b?x=1&y=" into Uri-Path and Uri-Query options. */
static void add_uri(coap_optlist_t **opts, const char *path) {
  const char *q = strchr(path, '?');
  size_t plen = q ? (size_t)(q - path) : strlen(path);
  for (size_t i = 0; i < plen;) {
    size_t n = strcspn(path + i, "/?");
    if (i + n > plen) n = plen - i;
    if (n) coap_insert_optlist(opts, coap_new_optlist(COAP_OPTION_URI_PATH, n, (const uint8_t *)path + i));
    i += n + 1;
  }
  for (const char *p = q ? q + 1 : NULL; p && *p;) {
    size_t n = strcspn(p, "&");
    coap_insert_optlist(opts, coap_new_optlist(COAP_OPTION_URI_QUERY, n, (const uint8_t *)p));
    p += n + (p[n] ? 1 : 0);
  }
}

/* Send a request; its answer is collected by finish(). */
static void start(dev_client *d, const char *method, const char *path, int content_format, bool confirmable,
                  const void *body, size_t len, unsigned block2_num, size_t block2) {
  coap_client *c = d->coap;
  coap_session_t *s = session_of(d);
  c->is_auth = !strncmp(path, "p/auth", 6);
  c->done = c->failed = false;
  c->code = 0;
  c->failure[0] = 0;
  free(c->body);
  c->body = NULL;
  c->len = 0;

  coap_pdu_code_t code = !strcmp(method, "GET") ? COAP_REQUEST_CODE_GET : COAP_REQUEST_CODE_POST;
  coap_pdu_t *pdu = coap_new_pdu(confirmable ? COAP_MESSAGE_CON : COAP_MESSAGE_NON, code, s);
  cr_assert(pdu);
  uint8_t token[8], buf[4];
  size_t tlen;
  coap_session_new_token(s, &tlen, token);
  coap_add_token(pdu, tlen, token);
  coap_optlist_t *opts = NULL;
  add_uri(&opts, path);
  if (content_format >= 0)
    coap_insert_optlist(&opts, coap_new_optlist(COAP_OPTION_CONTENT_FORMAT,
                                                coap_encode_var_safe(buf, sizeof buf, (unsigned)content_format), buf));
  if (block2) {
    unsigned szx = 0;
    while ((16u << szx) < block2 && szx < 6) szx++;
    coap_insert_optlist(&opts, coap_new_optlist(COAP_OPTION_BLOCK2, coap_encode_var_safe(buf, sizeof buf, block2_num << 4 | szx), buf));
  }
  if (body && len > BLOCK_SIZE) {
    /* Block1 with the device's block size; libcoap adds Size1 and the Request-Tag. */
    coap_insert_optlist(&opts, coap_new_optlist(COAP_OPTION_BLOCK1, coap_encode_var_safe(buf, sizeof buf, 5), buf));
  }
  coap_add_optlist_pdu(pdu, &opts);
  coap_delete_optlist(opts);
  /* The body must stay put until the last Block1 is acknowledged: it is the caller's and
   * outlives this call, which returns only when the exchange is over. */
  if (body && len) cr_assert(coap_add_data_large_request(s, pdu, len, body, NULL, NULL), "add data");
  if (coap_send(s, pdu) == COAP_INVALID_MID) {
    snprintf(c->failure, sizeof c->failure, "coap_send refused the request");
    c->failed = true;
  }
}

/* Wait (bounded) for the answer of the request start() sent. */
static int finish(dev_client *d, uint8_t **out, size_t *outlen) {
  coap_client *c = d->coap;
  if (out) *out = NULL;
  if (outlen) *outlen = 0;
  long long deadline = now_ms() + c->wait_ms;
  while (!c->done && !c->failed && now_ms() < deadline) coap_io_process(c->ctx, 50);
  if (!c->done && !c->failed) snprintf(c->failure, sizeof c->failure, "no answer within %d ms", c->wait_ms);
  int result = c->done ? c->code : -1;
  d->status = result < 0 ? 0 : result;
  if (c->is_auth) c->authed = result == 201;
  if (c->done && out) {
    *out = c->body;
    if (outlen) *outlen = c->len;
    c->body = NULL;
  }
  return result;
}

static int exchange(dev_client *d, const char *method, const char *path, int content_format, bool confirmable,
                    const void *body, size_t len, unsigned block2_num, size_t block2, uint8_t **out, size_t *outlen) {
  start(d, method, path, content_format, confirmable, body, len, block2_num, block2);
  return finish(d, out, outlen);
}

int dev_coap_start(dev_client *d, const char *method, const char *path, int content_format, bool confirmable,
                   const void *body, size_t len) {
  coap_client *c = d->coap;
  start(d, method, path, content_format, confirmable, body, len, 0, 0);
  return c->failed ? -1 : 0;
}

int dev_coap_finish(dev_client *d, uint8_t **out, size_t *outlen) { return finish(d, out, outlen); }

void dev_coap_set_wait(dev_client *d, int ms) { ((coap_client *)d->coap)->wait_ms = ms > 0 ? ms : WAIT_MS; }

int dev_coap_request(dev_client *d, const char *method, const char *path, int content_format, bool confirmable,
                     const void *body, size_t len, size_t block2, uint8_t **out, size_t *outlen) {
  return exchange(d, method, path, content_format, confirmable, body, len, 0, block2, out, outlen);
}

int dev_coap_get_block(dev_client *d, const char *path, unsigned num, size_t size, uint8_t **out, size_t *outlen) {
  return exchange(d, "GET", path, -1, true, NULL, 0, num, size, out, outlen);
}

static dev_result map(int code, bool has_body, bool report) {
  switch (code) {
  case 205: return has_body ? DEV_COMMANDS : DEV_NOTHING;
  case 204: return report ? DEV_ACCEPTED : DEV_OTHER;
  case 401: return DEV_NOT_CLAIMED;
  case 403: return DEV_FORBIDDEN;
  case 400: return DEV_BAD_REQUEST;
  default: return DEV_OTHER;
  }
}

/* Authenticate the session once; 0, or the refused auth's result. */
static int ensure_auth(dev_client *d, dev_result *refused) {
  coap_client *c = d->coap;
  if (c->authed) return 0;
  bool att = !strncmp(d->cred, "att.", 4);
  const char *cred = att ? d->cred + 4 : d->cred;
  /* The SDK's client labels its auth POST application/cbor (60) although it is text. */
  int code = dev_coap_request(d, "POST", att ? "p/auth?mver=1.3.5&cver=1" : "p/auth-jwt?mver=1.3.5&cver=1", 60, true,
                              cred, strlen(cred), 0, NULL, NULL);
  if (code == 201) return 0;
  if (code < 0) fprintf(stderr, "coap auth: %s\n", c->failure);
  *refused = map(code, false, false);
  return -1;
}

dev_result dev__coap_fetch(dev_client *d, const char *query, uint8_t **body, size_t *len) {
  dev_result refused;
  if (ensure_auth(d, &refused)) return refused;
  char path[2048];
  snprintf(path, sizeof path, "p/cmd%s%s", query && *query ? "?" : "", query ? query : "");
  uint8_t *out = NULL;
  size_t n = 0;
  int code = dev_coap_request(d, "GET", path, -1, true, NULL, 0, BLOCK_SIZE, &out, &n);
  if (code < 0) fprintf(stderr, "coap fetch: %s\n", dev_coap_failure(d));
  dev_result r = map(code, n > 0, false);
  if (r == DEV_COMMANDS && body) {
    *body = out;
    if (len) *len = n;
  } else {
    free(out);
  }
  return r;
}

dev_result dev__coap_report(dev_client *d, const uint8_t *cbor, size_t len) {
  dev_result refused;
  if (ensure_auth(d, &refused)) return refused;
  int code = dev_coap_request(d, "POST", "p/rsp", 60, true, cbor, len, 0, NULL, NULL);
  if (code < 0) fprintf(stderr, "coap report: %s\n", dev_coap_failure(d));
  return map(code, false, true);
}

void dev__coap_close(dev_client *d) {
  coap_client *c = d->coap;
  if (!c) return;
  if (c->session) coap_session_release(c->session);
  if (c->ctx) coap_free_context(c->ctx);
  free(c->body);
  free(c);
  d->coap = NULL;
}
