/* The libcoap adapter: one CoAP (UDP) or CoAPs (DTLS 1.2) listener serving the device
 * resources of docs/device-protocol.md §3 (p/auth-jwt, p/auth, p/cmd, p/rsp, .dtls/suspend).
 * Each listener owns a libcoap context run by its own thread. Not the place for domain
 * logic: handlers parse, call one service verb, and render its result as a CoAP code. */
#ifndef NRFPROV_COAP_H
#define NRFPROV_COAP_H

#include <stdbool.h>
#include <stddef.h>

#include "app.h"

typedef struct coapsrv_listener coapsrv_listener;

/* Bind bind:port (IPv4 or IPv6 literal; port 0 = any free port) and start serving,
 * over DTLS with the local PKI's server certificate when dtls. 0, or -1 with why. */
int coapsrv_listener_start(coapsrv_listener **out, app *a, const char *bind, int port, bool dtls, char *why, size_t whysz);
/* The UDP port actually bound. */
int coapsrv_listener_port(const coapsrv_listener *l);
/* Stop the thread (bounded: it is woken, not polled), free the context; NULL is a no-op. */
void coapsrv_listener_stop(coapsrv_listener *l);

#endif
