/* Raw CoAP access for the CoAP-only tests, on a dev_client's own session (the one
 * dev_fetch/dev_report use), through libcoap's client API. */
#ifndef NRFPROV_HARNESS_COAP_H
#define NRFPROV_HARNESS_COAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "harness_device.h"

/* One request on d's session, without the lazy authentication of dev_fetch. path may
 * carry "?a=1&b=" (each item one Uri-Query option, empty values kept). content_format
 * -1 = no Content-Format option. block2 > 0 asks for Block2 blocks of that size. Returns
 * the code as class*100+detail, or -1 when the exchange failed (DTLS handshake refused,
 * no answer within 10 s); *out (may be NULL) gets the reassembled payload, malloc'd. A
 * 2.01 on p/auth* marks the session authenticated for dev_fetch, anything else unmarks. */
int dev_coap_request(dev_client *d, const char *method, const char *path, int content_format, bool confirmable,
                     const void *body, size_t len, size_t block2, uint8_t **out, size_t *outlen);
/* The same in two steps, so that other clients can be served while this one waits:
 * send the request (0, or -1 when it could not be sent), then wait for its answer
 * (bounded) with the result of dev_coap_request. One request in flight per client; the
 * body must stay put until dev_coap_finish returns. */
int dev_coap_start(dev_client *d, const char *method, const char *path, int content_format, bool confirmable,
                   const void *body, size_t len);
int dev_coap_finish(dev_client *d, uint8_t **out, size_t *outlen);
/* How long dev_coap_request and dev_coap_finish wait for an answer (default 10 s; ms <= 0
 * restores the default). For tests that expect none. */
void dev_coap_set_wait(dev_client *d, int ms);
/* GET path asking for Block2 block num of size bytes (num > 0: a client resuming). */
int dev_coap_get_block(dev_client *d, const char *path, unsigned num, size_t size, uint8_t **out, size_t *outlen);
/* CoAPs only, before the first exchange: trust this CA file instead of the mock's. */
void dev_coap_trust(dev_client *d, const char *ca_file);
/* Why the last exchange failed ("" when it did not). */
const char *dev_coap_failure(const dev_client *d);

#endif
