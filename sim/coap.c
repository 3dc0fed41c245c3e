/* The simulator's CoAP and CoAPs transport (docs/device-protocol.md §3) on libcoap's client API,
 * shaped like the SDK's CoAP client: each exchange opens a new session (a new DTLS
 * handshake for coaps, verified against --ca), authenticates with POST p/auth-jwt, then
 * fetches with GET p/cmd (Uri-Query options, after= even when empty, Block2 of 512) or
 * reports with POST p/rsp (Block1 when the body needs it), libcoap doing the block-wise
 * transfers. Every wait is bounded. It carries bytes and maps response codes; what the
 * commands mean is sim/device.c's business. */
#include <coap3/coap.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proto/jwt.h"
#include "sim.h"

/* The client version the SDK's CoAP client sends in cver. */
#define CLIENT_VERSION "1"
#define BLOCK_SZX_512 5

/* The state of the one request in flight on a session. */
typedef struct {
  bool done, failed;
  int code;          /* class*100 + detail */
  uint8_t *body;
  size_t len;
  char why[160];
} exchange;

/* A session and its context, alive for one fetch or one report. */
typedef struct {
  coap_context_t *ctx;
  coap_session_t *session;
  exchange x;
  char sni[256];
} link_state;

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static coap_response_t on_response(coap_session_t *s, const coap_pdu_t *sent, const coap_pdu_t *received,
                                   const coap_mid_t mid) {
  (void)sent, (void)mid;
  exchange *x = coap_session_get_app_data(s);
  if (!x || x->done) return COAP_RESPONSE_OK;
  coap_pdu_code_t code = coap_pdu_get_code(received);
  x->code = COAP_RESPONSE_CLASS(code) * 100 + (code & 0x1f);
  size_t len, offset, total;
  const uint8_t *data;
  /* With COAP_BLOCK_SINGLE_BODY libcoap hands over the reassembled body in one piece. */
  if (coap_get_data_large(received, &len, &data, &offset, &total) && len) {
    free(x->body);
    x->body = malloc(len);
    if (x->body) memcpy(x->body, data, len);
    x->len = x->body ? len : 0;
  }
  x->done = true;
  return COAP_RESPONSE_OK;
}

static void on_nack(coap_session_t *s, const coap_pdu_t *sent, const coap_nack_reason_t reason, const coap_mid_t mid) {
  (void)sent, (void)mid;
  exchange *x = coap_session_get_app_data(s);
  if (!x || x->done) return;
  const char *what = reason == COAP_NACK_TOO_MANY_RETRIES ? "no answer after every retransmission"
                   : reason == COAP_NACK_RST                ? "reset by the server"
                   : reason == COAP_NACK_TLS_FAILED         ? "the DTLS handshake failed (is --ca the mock's CA?)"
                   : reason == COAP_NACK_ICMP_ISSUE         ? "the server is unreachable (ICMP)"
                                                            : "the request could not be delivered";
  x->done = x->failed = true;
  snprintf(x->why, sizeof x->why, "%s", what);
}

static int on_event(coap_session_t *s, const coap_event_t event) {
  exchange *x = s ? coap_session_get_app_data(s) : NULL;
  if (x && !x->done && (event == COAP_EVENT_DTLS_ERROR || event == COAP_EVENT_DTLS_CLOSED)) {
    x->done = x->failed = true;
    snprintf(x->why, sizeof x->why, "DTLS %s", event == COAP_EVENT_DTLS_ERROR ? "handshake failed (is --ca the mock's CA?)"
                                                                               : "session closed by the server");
  }
  return 0;
}

static void link_close(link_state *ls) {
  if (ls->session) coap_session_release(ls->session);
  if (ls->ctx) coap_free_context(ls->ctx);
  free(ls->x.body);
  memset(ls, 0, sizeof *ls);
}

/* Resolve the URL and open a session; 0 or -1 with why. */
static int link_open(const sim_link *l, link_state *ls, char *why, size_t whysz) {
  memset(ls, 0, sizeof *ls);
  coap_uri_t uri;
  if (coap_split_uri((const uint8_t *)l->url, strlen(l->url), &uri) < 0 ||
      (uri.scheme != COAP_URI_SCHEME_COAP && uri.scheme != COAP_URI_SCHEME_COAPS)) {
    snprintf(why, whysz, "--url: '%s' is not a coap:// or coaps:// URL", l->url);
    return -1;
  }
  bool dtls = uri.scheme == COAP_URI_SCHEME_COAPS;
  if (dtls && !l->ca) {
    snprintf(why, whysz, "coaps needs --ca (the device verifies the server against its root CA)");
    return -1;
  }
  char host[256], port[8];
  snprintf(host, sizeof host, "%.*s", (int)uri.host.length, (const char *)uri.host.s);
  snprintf(port, sizeof port, "%u", uri.port);
  /* IPv6 literals arrive as [::1]; getaddrinfo wants them bare. */
  if (host[0] == '[') {
    memmove(host, host + 1, strlen(host));
    host[strcspn(host, "]")] = 0;
  }
  struct addrinfo hints = {.ai_socktype = SOCK_DGRAM, .ai_family = AF_UNSPEC}, *ai = NULL;
  int g = getaddrinfo(host, port, &hints, &ai);
  if (g || !ai) {
    snprintf(why, whysz, "cannot resolve %s: %s", host, gai_strerror(g));
    return -1;
  }
  coap_address_t dst;
  coap_address_init(&dst);
  dst.size = ai->ai_addrlen;
  memcpy(&dst.addr, ai->ai_addr, ai->ai_addrlen);
  freeaddrinfo(ai);

  ls->ctx = coap_new_context(NULL);
  if (!ls->ctx) {
    snprintf(why, whysz, "cannot create a CoAP context");
    return -1;
  }
  coap_context_set_block_mode(ls->ctx, COAP_BLOCK_USE_LIBCOAP | COAP_BLOCK_SINGLE_BODY);
  coap_register_response_handler(ls->ctx, on_response);
  coap_register_nack_handler(ls->ctx, on_nack);
  coap_register_event_handler(ls->ctx, on_event);
  if (dtls) {
    if (!coap_context_set_pki_root_cas(ls->ctx, l->ca, NULL)) {
      snprintf(why, whysz, "--ca: cannot load %s", l->ca);
      link_close(ls);
      return -1;
    }
    coap_dtls_pki_t pki;
    memset(&pki, 0, sizeof pki);
    pki.version = COAP_DTLS_PKI_SETUP_VERSION;
    pki.verify_peer_cert = 1;
    pki.cert_chain_validation = 1;
    pki.cert_chain_verify_depth = 3;
    snprintf(ls->sni, sizeof ls->sni, "%s", host);
    pki.client_sni = ls->sni;
    /* No client certificate: the device authenticates with its JWT, not with TLS. */
    pki.pki_key.key_type = COAP_PKI_KEY_PEM;
    ls->session = coap_new_client_session_pki(ls->ctx, NULL, &dst, COAP_PROTO_DTLS, &pki);
  } else {
    ls->session = coap_new_client_session(ls->ctx, NULL, &dst, COAP_PROTO_UDP);
  }
  if (!ls->session) {
    snprintf(why, whysz, "cannot open a %s session to %s:%s", dtls ? "DTLS" : "CoAP", host, port);
    link_close(ls);
    return -1;
  }
  coap_session_set_app_data(ls->session, &ls->x);
  return 0;
}

static void add_option(coap_optlist_t **opts, uint16_t number, const char *text) {
  coap_insert_optlist(opts, coap_new_optlist(number, strlen(text), (const uint8_t *)text));
}

static void add_uint_option(coap_optlist_t **opts, uint16_t number, unsigned value) {
  uint8_t buf[4];
  coap_insert_optlist(opts, coap_new_optlist(number, coap_encode_var_safe(buf, sizeof buf, value), buf));
}

/* Send one request (path "p/cmd", queries NULL-terminated) and wait for its answer, at
 * most SIM_TIMEOUT_S seconds. 0 with ls->x filled, or -1 with why. */
static int request(link_state *ls, coap_pdu_code_t method, const char *const *path, const char *const *queries,
                   const uint8_t *payload, size_t len, bool block2, char *why, size_t whysz) {
  free(ls->x.body);
  memset(&ls->x, 0, sizeof ls->x);
  coap_pdu_t *pdu = coap_pdu_init(COAP_MESSAGE_CON, method, coap_new_message_id(ls->session),
                                  coap_session_max_pdu_size(ls->session));
  if (!pdu) {
    snprintf(why, whysz, "cannot build a CoAP request");
    return -1;
  }
  uint8_t token[8];
  size_t token_len;
  coap_session_new_token(ls->session, &token_len, token);
  coap_add_token(pdu, token_len, token);
  coap_optlist_t *opts = NULL;
  for (int i = 0; path[i]; i++) add_option(&opts, COAP_OPTION_URI_PATH, path[i]);
  /* The SDK's client labels every payload CBOR, the JWT included. */
  if (payload) add_uint_option(&opts, COAP_OPTION_CONTENT_FORMAT, COAP_MEDIATYPE_APPLICATION_CBOR);
  for (int i = 0; queries && queries[i]; i++) add_option(&opts, COAP_OPTION_URI_QUERY, queries[i]);
  if (block2) add_uint_option(&opts, COAP_OPTION_BLOCK2, BLOCK_SZX_512); /* block 0, size 512 */
  coap_add_optlist_pdu(pdu, &opts);
  coap_delete_optlist(opts);
  if (payload && !coap_add_data_large_request(ls->session, pdu, len, payload, NULL, NULL)) {
    coap_delete_pdu(pdu);
    snprintf(why, whysz, "cannot attach the payload");
    return -1;
  }
  if (coap_send(ls->session, pdu) == COAP_INVALID_MID) {
    snprintf(why, whysz, "cannot send the request");
    return -1;
  }
  long long deadline = now_ms() + SIM_TIMEOUT_S * 1000LL;
  while (!ls->x.done && now_ms() < deadline) coap_io_process(ls->ctx, 100);
  if (!ls->x.done) {
    snprintf(why, whysz, "no answer within %d s", SIM_TIMEOUT_S);
    return -1;
  }
  if (ls->x.failed) {
    snprintf(why, whysz, "%s", ls->x.why);
    return -1;
  }
  return 0;
}

/* The result of a code that is neither the expected success nor "nothing to do". */
static sim_result refusal(const char *what, const exchange *x, char *why, size_t whysz) {
  if (x->code == 401) return SIM_R_NOT_CLAIMED;
  if (x->code == 403) return SIM_R_FORBIDDEN;
  snprintf(why, whysz, "%s: %d.%02d%s%.*s", what, x->code / 100, x->code % 100, x->len ? ": " : "",
           (int)(x->len > 200 ? 200 : x->len), x->body ? (const char *)x->body : "");
  return SIM_R_FAILED;
}

/* POST p/auth-jwt?mver=&cver= with a fresh JWT; SIM_R_OK on 2.01. */
static sim_result authenticate(link_state *ls, sim_device *d, char *why, size_t whysz) {
  char jwt[JWT_MAX_LEN], mver[64], cver[32];
  int n = sim_device_jwt(d, jwt, sizeof jwt);
  if (n < 0) {
    snprintf(why, whysz, "cannot make a JWT");
    return SIM_R_FAILED;
  }
  /* The SDK sends the number of the modem firmware version: mfw_nrf9160_1.3.5 -> 1.3.5. */
  const char *num = strrchr(d->mfw, '_');
  snprintf(mver, sizeof mver, "mver=%s", num ? num + 1 : d->mfw);
  snprintf(cver, sizeof cver, "cver=%s", CLIENT_VERSION);
  const char *path[] = {"p", "auth-jwt", NULL}, *q[] = {mver, cver, NULL};
  if (request(ls, COAP_REQUEST_CODE_POST, path, q, (const uint8_t *)jwt, (size_t)n, false, why, whysz)) return SIM_R_FAILED;
  if (ls->x.code != 201) return refusal("p/auth-jwt", &ls->x, why, whysz);
  return SIM_R_OK;
}

sim_result sim_coap_fetch(const sim_link *l, sim_device *d, uint8_t **body, size_t *len, char *why, size_t whysz) {
  link_state ls;
  *body = NULL;
  *len = 0;
  if (link_open(l, &ls, why, whysz)) return SIM_R_FAILED;
  sim_result r = authenticate(&ls, d, why, whysz);
  if (r == SIM_R_OK) {
    char after[SIM_CID_MAX + 8], rx[32], tx[32], limit[32];
    snprintf(after, sizeof after, "after=%s", d->after);
    snprintf(rx, sizeof rx, "rxMaxSize=%ld", l->rx_max);
    snprintf(tx, sizeof tx, "txMaxSize=%ld", l->tx_max);
    snprintf(limit, sizeof limit, "limit=%d", l->limit);
    const char *path[] = {"p", "cmd", NULL}, *q[] = {after, rx, tx, limit, NULL};
    if (request(&ls, COAP_REQUEST_CODE_GET, path, q, NULL, 0, true, why, whysz)) r = SIM_R_FAILED;
    else if (ls.x.code != 205) r = refusal("p/cmd", &ls.x, why, whysz);
    else if (!ls.x.len) r = SIM_R_NOTHING;
    else if (l->rx_max > 0 && ls.x.len > (size_t)l->rx_max) {
      /* The SDK collects the blocks into an rxMaxSize buffer and gives up when it overflows. */
      snprintf(why, whysz, "p/cmd answer of %zu bytes does not fit rxMaxSize %ld", ls.x.len, l->rx_max);
      r = SIM_R_FAILED;
    } else {
      *body = ls.x.body;
      *len = ls.x.len;
      ls.x.body = NULL;
    }
  }
  link_close(&ls);
  return r;
}

sim_result sim_coap_report(const sim_link *l, sim_device *d, const uint8_t *cbor, size_t len, char *why, size_t whysz) {
  link_state ls;
  if (link_open(l, &ls, why, whysz)) return SIM_R_FAILED;
  sim_result r = authenticate(&ls, d, why, whysz);
  if (r == SIM_R_OK) {
    const char *path[] = {"p", "rsp", NULL};
    if (request(&ls, COAP_REQUEST_CODE_POST, path, NULL, cbor, len, false, why, whysz)) r = SIM_R_FAILED;
    else if (ls.x.code != 204) r = refusal("p/rsp", &ls.x, why, whysz);
  }
  link_close(&ls);
  return r;
}
