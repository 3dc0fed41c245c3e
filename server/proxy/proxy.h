/* The proxy listener (--proxy-port, docs/control-api.md §1): an HTTP proxy that reaches
 * nothing but this mock. `CONNECT` to one of nRF Cloud's provisioning host names on port
 * 443 is tunnelled to the mock's own HTTPS listener; an absolute-form plain-HTTP request
 * for one of those names is forwarded to the mock's own HTTP listener. Every other target
 * is refused with 403, so it is never an open proxy and never opens a connection that
 * leaves the machine.
 *
 * It is a byte relay with a small request-head parser, not an HTTP server: the requests
 * inside the tunnel are answered, logged and journaled by the listener they reach.
 */
#ifndef NRFPROV_PROXY_H
#define NRFPROV_PROXY_H

#include <stddef.h>

typedef struct proxy proxy;

typedef struct {
  const char *bind;     /* IPv4 or IPv6 literal the proxy listens on */
  int port;             /* 0 = any free port */
  const char *upstream; /* the address of this machine the mock's own listeners answer on */
  int https_port;       /* the mock's HTTPS listener; -1 = off (CONNECT then answers 503) */
  int http_port;        /* the mock's HTTP listener; -1 = off (plain requests answer 503) */
} proxy_listen;

/* The host names the proxy serves, NULL-terminated (the same table --tls-hosts defaults cover). */
extern const char *const proxy_hosts[];

/* Bind and start the proxy's thread. 0, or -1 with why. */
int proxy_start(proxy **out, const proxy_listen *l, char *why, size_t whysz);
/* The port actually bound. */
int proxy_port(const proxy *p);
/* Stop accepting, close every connection, join the thread, free; NULL is a no-op. */
void proxy_stop(proxy *p);

#endif
