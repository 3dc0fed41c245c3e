/* The device-facing CoAP resources (docs/device-protocol.md §3), the twin of http/device_api.c:
 * p/auth-jwt and p/auth authenticate the session, p/cmd fetches commands, p/rsp reports
 * results, .dtls/suspend is refused. Authentication is per session (coapsrv_peer): a good
 * auth authorises later p/cmd and p/rsp of the same session, a refused one withdraws it.
 * Claim and block are checked again by the service on every fetch and report. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "route.h"
#include "service/control.h"
#include "service/svc.h"

/* The bytes the device must hold for a 2.05 answer of n payload bytes. The SDK's client
 * copies only payloads into its rxMaxSize buffer (Block2 blocks are reassembled there),
 * so n itself is the real bound; we add a fixed 16 bytes for one unsplit CoAP message —
 * header 4, token up to 8, Content-Format 60 option 2, payload marker 1, one spare — to
 * keep a margin and to make the fitting no looser than a single-datagram answer. */
static size_t coapsrv_frame(size_t n) { return 16 + n; }

/* True when the payload has the shape of an attestation token: two non-empty base64url
 * parts around one '.', where a JWT has three. */
static bool attestation_shape(const uint8_t *p, size_t n) {
  size_t dots = 0, part = 0;
  for (size_t i = 0; i < n; i++) {
    uint8_t c = p[i];
    if (c == '.') {
      if (!part) return false;
      dots++, part = 0;
    } else if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '=') {
      part++;
    } else {
      return false;
    }
  }
  return dots == 1 && part;
}

/* The credential in an auth payload as the service reads it (a JWT, or "att.<token>"
 * for a bare attestation token on p/auth), malloc'd, length in *len; NULL with *len 0
 * when the payload is empty, NULL with *len 1 when out of memory. legacy: p/auth. */
static char *credential(const coapsrv_req *r, bool legacy, size_t *len) {
  size_t n = r->body_len;
  *len = 0;
  /* Tolerate a trailing newline or NUL (a token file sent with coap-client -f). */
  while (n && (r->body[n - 1] == '\n' || r->body[n - 1] == '\r' || r->body[n - 1] == ' ' || r->body[n - 1] == 0)) n--;
  if (!n) return NULL;
  bool att = legacy && attestation_shape(r->body, n);
  char *cred = malloc(n + 5);
  if (!cred) {
    *len = 1;
    return NULL;
  }
  size_t k = 0;
  if (att) memcpy(cred, "att.", 4), k = 4;
  memcpy(cred + k, r->body, n);
  cred[k + n] = 0;
  *len = k + n;
  return cred;
}

char *coapsrv__credential(const coapsrv_req *r, size_t *len) {
  char *cred = credential(r, !strcmp(r->path, "p/auth"), len);
  if (!cred) *len = 0;
  return cred;
}

/* POST p/auth-jwt and p/auth: check the credential in the payload; the session is
 * authenticated exactly when it passes. legacy: p/auth, which also takes a bare
 * attestation token. */
static void authenticate(coapsrv_req *r, bool legacy) {
  /* A refused auth leaves the session unauthenticated, even one that had authenticated. */
  r->peer->authed = false;
  r->peer->device_id[0] = 0;
  size_t len;
  char *cred = credential(r, legacy, &len);
  /* No credential maps to "not claimed", as a missing Authorization header does on HTTP. */
  if (!cred && !len) {
    coapsrv__fail(r, ERR_NOT_CLAIMED, "the payload is empty; send the device's JWT%s", legacy ? " or attestation token" : "");
    return;
  }
  if (!cred) {
    coapsrv__fail(r, ERR_INTERNAL, "out of memory");
    return;
  }
  svc_device d = {{0}};
  err_t e;
  int rc = svc_device_auth(r->app->svc, cred, len, &d, &e);
  free(cred);
  snprintf(r->ex.device_id, sizeof r->ex.device_id, "%s", d.device_id);
  if (rc) {
    coapsrv__error(r, &e);
    return;
  }
  r->peer->authed = true;
  snprintf(r->peer->device_id, sizeof r->peer->device_id, "%s", d.device_id);
  coapsrv__empty(r, 201);
}

static void auth_jwt(coapsrv_req *r) { authenticate(r, false); }
static void auth_legacy(coapsrv_req *r) { authenticate(r, true); }

/* The device of an authenticated session; false when a 4.01 answer was set. */
static bool session_device(coapsrv_req *r) {
  if (!r->peer->authed) {
    coapsrv__fail(r, ERR_NOT_CLAIMED, "this session has not authenticated: POST p/auth-jwt with the device's JWT first");
    return false;
  }
  snprintf(r->ex.device_id, sizeof r->ex.device_id, "%s", r->peer->device_id);
  return true;
}

/* GET p/cmd?after=&rxMaxSize=&txMaxSize=&limit=: 2.05 with CBOR commands, or an empty
 * 2.05 when there is nothing to do (never an empty array). */
static void commands(coapsrv_req *r) {
  err_t e;
  svc_fetch f = {.frame = coapsrv_frame};
  if (!session_device(r)) return;
  if (svc_fetch_parse(coapsrv__query(r, "rxMaxSize"), coapsrv__query(r, "limit"), &f, &e)) {
    coapsrv__error(r, &e);
    return;
  }
  f.after = coapsrv__query(r, "after");
  uint8_t *cbor = NULL;
  size_t len = 0;
  if (svc_device_fetch(r->app->svc, r->ex.device_id, &f, &cbor, &len, &e)) {
    coapsrv__error(r, &e);
    return;
  }
  if (!len) {
    free(cbor);
    coapsrv__empty(r, 205);
  } else {
    coapsrv__bytes(r, 205, CONTENT_FORMAT_CBOR, cbor, len);
  }
}

/* POST p/rsp with CBOR responses: exactly 2.04 on success. */
static void responses(coapsrv_req *r) {
  err_t e;
  if (!session_device(r)) return;
  if (svc_device_report(r->app->svc, r->ex.device_id, r->body, r->body_len, &e)) {
    coapsrv__error(r, &e);
    return;
  }
  coapsrv__empty(r, 204);
}

/* POST .dtls/suspend: the SDK asks to park its DTLS connection (Connection ID); the
 * service answers 4.04, which tells the client to reconnect normally next time. */
static void dtls_suspend(coapsrv_req *r) { coapsrv__empty(r, 404); }

const coapsrv_route coapsrv__routes[] = {
  {"POST", "p/auth-jwt", auth_jwt, EXCHANGE_DEVICE | EXCHANGE_BODY_CREDENTIAL},
  {"POST", "p/auth", auth_legacy, EXCHANGE_DEVICE | EXCHANGE_BODY_CREDENTIAL},
  {"GET", "p/cmd", commands, EXCHANGE_DEVICE | EXCHANGE_POLL},
  {"POST", "p/rsp", responses, EXCHANGE_DEVICE | EXCHANGE_CBOR_BODY},
  {"POST", ".dtls/suspend", dtls_suspend, EXCHANGE_DEVICE},
};
const size_t coapsrv__n_routes = sizeof coapsrv__routes / sizeof coapsrv__routes[0];
