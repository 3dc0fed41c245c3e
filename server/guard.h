/* Who may steer the mock (docs/control-api.md §5, "Control plane"; docs/safety.md): the
 * checks an HTTP request to the control API (/_mock/...) or the owner API passes before
 * its handler runs, in the contract's order:
 *   1. Host: on control calls and on any request carrying Origin, the Host header (port
 *      aside) must be an IP literal, "localhost" or a name in --tls-hosts (421/42100);
 *   2. Origin: an owner or control request whose Origin is not <listener scheme>://<Host>
 *      is 403/40300 (a browser page of another site);
 *   3. control calls but GET /_mock/health: with --control-token, X-Mock-Token must be
 *      the token (401/40100); without one, the peer must be in --control-peers
 *      (403/40300);
 *   4. a control call's body must be application/json (415/41500).
 * Device endpoints pass nothing here: real boards send neither Origin nor a useful Host.
 *
 * Not an authentication of teams (that is the owner API's Bearer key) and not a
 * transport: http/server.c gathers the headers and the peer and answers the error. */
#ifndef NRFPROV_GUARD_H
#define NRFPROV_GUARD_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "errors.h"
#include "options.h"

typedef struct guard guard;

/* Build the checks from the options (--control-token, --control-peers, --tls-hosts).
 * 0, or -1 with why (a bad --control-peers entry). */
int guard_open(guard **out, const options *o, char *why, size_t whysz);
/* Log the start-up warning for a --bind reachable from other machines without a
 * --control-token (once the listeners are bound). */
void guard_warn_exposed(const options *o);
void guard_free(guard *g);

/* What the checks read of one request. Strings are NULL when the header is absent. */
typedef struct {
  bool control;            /* a /_mock/ call */
  bool owner;              /* an owner API call */
  bool health;             /* GET /_mock/health: no token or peer check */
  const char *scheme;      /* "http" or "https": the listener's */
  const char *host, *origin, *token, *content_type;
  const struct sockaddr *peer;
  bool has_body;
} guard_request;

/* 0 when q may go on, else the negative error with e naming the defect. */
int guard_check(const guard *g, const guard_request *q, err_t *e);

#endif
