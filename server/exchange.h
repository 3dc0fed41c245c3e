/* The request pipeline both transports share (docs/architecture.md): a request id and
 * the two clocks at the start, the fault rules before any handler runs, and one record at
 * the end (the log line, the metrics counters, the journal entry). http/ and coap/ parse
 * their protocol and hand the pipeline what they found (the route's flags, the
 * credential, the device id); the pipeline never calls back into a transport, and it
 * neither parses nor answers requests itself. */
#ifndef NRFPROV_EXCHANGE_H
#define NRFPROV_EXCHANGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "app.h"
#include "faults.h"

/* Route flags: what a row of a route table (http/routes.c, coap/resources.c) says of
 * its requests, read by the transports and the pipeline instead of path comparisons. */
#define EXCHANGE_OWNER 0x01u       /* owner API: "Authorization: Bearer <api key>" checked before the handler */
#define EXCHANGE_CONTROL 0x02u     /* control API (/_mock/...): no fault rules, not journaled */
#define EXCHANGE_DEVICE 0x04u      /* device protocol: the caller is a device with a credential */
#define EXCHANGE_CBOR_BODY 0x08u   /* the request body is CBOR (journaled as base64) */
#define EXCHANGE_POLL 0x10u        /* a device's fetch of its commands (counted as a poll) */
#define EXCHANGE_PATH_DEVICE 0x20u /* the first {} of the pattern is a device id */
#define EXCHANGE_BODY_CREDENTIAL 0x40u /* the body is a device credential (CoAP p/auth*) */
#define EXCHANGE_PAGE 0x80u        /* the portal's files (docs/portal.md): no fault rules, not journaled */
#define EXCHANGE_OFFLOAD 0x100u    /* a large body may take long (a bulk claim): handled on its own thread */

/* One request on its way through the pipeline, whichever transport carried it. */
typedef struct exchange {
  const char *protocol;    /* "http", "https", "coap", "coaps" */
  const char *method;      /* HTTP method or CoAP code name */
  const char *path;        /* HTTP path, or CoAP Uri-Path joined with '/' */
  const char *route;       /* the matched pattern (metrics label), NULL when none matched */
  unsigned flags;          /* EXCHANGE_* flags of the route */
  char request_id[20];
  int64_t start_us;        /* monotonic, for the duration */
  int64_t wall_ms;         /* wall clock at the start, for the journal */
  char device_id[37];      /* the device making a device call, "" when unknown */
  char path_device[37];    /* the device an owner call's path names (log line, fault rules) */
  char team[37];           /* the owner id of the calling team, "" when unknown */
  int error_code;          /* the API error code of an error answer (40400), 0 when none */
  bool faulted;            /* a fault rule fired: fault, fault_id */
  fault_action fault;
  char fault_id[37];
} exchange;

/* What a transport knows of a request's subject before its handler runs, for the fault
 * rules' deviceId and team. Strings may be NULL. */
typedef struct {
  bool device_call;        /* device protocol: match.team is the key of the claiming team */
  const char *device_id;   /* the device, when the transport knows it (path, session) */
  const char *credential;  /* else a device credential naming it (read, not verified) */
  size_t credential_len;
  const char *api_key;     /* owner calls: the caller's API key (match.team) */
} exchange_subject;

/* Start x: a fresh request id (one generator for every listener), both clocks. */
void exchange_begin(exchange *x, const char *protocol, const char *method, const char *path);
/* Check the fault rules (call only when faults_any()); true when one fired, filling
 * x->fault, x->fault_id, and what the record shows (device, team) since the handler may
 * never run. The device and the team are worked out only when some rule needs them. */
bool exchange_faults(exchange *x, app *a, const exchange_subject *s);

/* How a request ended, as its transport tells the record. */
typedef struct {
  const char *status;      /* "200", "2.05"; "none" when nothing was sent */
  int code;                /* the status as a number (0: nothing sent) */
  const char *query;       /* raw query, for the journal; NULL when none */
  const void *request_body;
  size_t request_len;
  bool request_binary;
  const void *response_body;
  size_t response_len;
  bool response_binary;
} exchange_outcome;

/* False when the journal is off or x is a control call: the transport can skip building
 * what only the journal needs. */
bool exchange_journaled(const app *a, const exchange *x);
/* Write everything of an answered request: the log line, the metrics counters and (not
 * for control calls) the journal entry. */
void exchange_record(app *a, const exchange *x, const exchange_outcome *o);

#endif
