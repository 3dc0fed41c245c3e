/* The libmicrohttpd adapter: one listener (HTTP or HTTPS) serving the owner, device and
 * control APIs from one route table. Not the place for domain logic: handlers parse,
 * call one service verb, and render its result. */
#ifndef NRFPROV_HTTP_H
#define NRFPROV_HTTP_H

#include <stddef.h>

#include "app.h"

typedef struct http_server http_server;

typedef struct {
  const char *bind;      /* IPv4 or IPv6 literal */
  int port;              /* 0 = any free port */
  int threads;           /* worker threads */
  const char *cert_pem;  /* HTTPS when set, with key_pem */
  const char *key_pem;
} http_listen;

/* Bind and start serving. Returns 0 or -1 with why. */
int http_start(http_server **out, app *a, const http_listen *l, char *why, size_t whysz);
/* The port actually bound. */
int http_port(const http_server *h);
/* Stop accepting, finish in-flight requests, free. */
void http_stop(http_server *h);

#endif
