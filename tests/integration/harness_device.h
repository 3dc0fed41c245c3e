/* A device's side of the provisioning protocol for the tests, over any transport the
 * mock serves, with results mapped to one enum so the same scenario table runs over
 * HTTP, HTTPS, CoAP and CoAPs. */
#ifndef NRFPROV_HARNESS_DEVICE_H
#define NRFPROV_HARNESS_DEVICE_H

#include <stddef.h>
#include <stdint.h>

#include "harness.h"

typedef enum { DEV_HTTP, DEV_HTTPS, DEV_COAP, DEV_COAPS } dev_transport;

typedef enum {
  DEV_COMMANDS,    /* 200 / 2.05 with CBOR */
  DEV_NOTHING,     /* 204 / 2.05 empty */
  DEV_ACCEPTED,    /* report: 200 / 2.04 */
  DEV_NOT_CLAIMED, /* 401 / 4.01 */
  DEV_FORBIDDEN,   /* 403 / 4.03 */
  DEV_BAD_REQUEST, /* 400 / 4.00 */
  DEV_OTHER,
} dev_result;

typedef struct {
  mock *m;
  dev_transport t;
  char cred[2048];  /* "att.<token>" or a JWT */
  int status;       /* raw status of the last exchange: HTTP status or CoAP class*100+detail */
  void *coap;       /* transport state of CoAP clients */
} dev_client;

const char *dev_transport_name(dev_transport t);
void dev_open(dev_client *d, mock *m, dev_transport t, const char *credential);
/* GET commands with the query (without '?'); body malloc'd when DEV_COMMANDS. */
dev_result dev_fetch(dev_client *d, const char *query, uint8_t **body, size_t *len);
/* POST responses. */
dev_result dev_report(dev_client *d, const uint8_t *cbor, size_t len);
void dev_close(dev_client *d);

/* CoAP implementation (harness_coap.c), used by dev_* for DEV_COAP/DEV_COAPS. */
void dev__coap_open(dev_client *d);
dev_result dev__coap_fetch(dev_client *d, const char *query, uint8_t **body, size_t *len);
dev_result dev__coap_report(dev_client *d, const uint8_t *cbor, size_t len);
void dev__coap_close(dev_client *d);

/* The PEM of the mock's CA (GET /_mock/ca), written to a file in the mock's scratch dir. */
const char *mock_ca_file(mock *m);

#endif
