/* Fault injection (docs/control-api.md §2, /_mock/faults): the rule list, its validation, and the
 * one matching function every transport calls before it handles a request.
 *
 * A rule says which requests it hits (protocol, method, path or path prefix, device,
 * team) and what happens to them (an injected status or CoAP code, a delay, a dropped
 * datagram, a closed connection), how many times, and with which probability (a per-rule
 * PRNG seeded from the rule's seed, so a run is repeatable). Rules are checked in
 * creation order; the first that matches and wins its draw fires.
 *
 * Not the place for carrying the action out: that is the transport's job (http/server.c
 * answers, delays or closes; the CoAP listener answers, delays or drops). Not persisted:
 * rules live until deleted, used up, reset or a restart.
 */
#ifndef NRFPROV_FAULTS_H
#define NRFPROV_FAULTS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "errors.h"

typedef struct faults faults;

/* What a transport knows of a request. NULL = unknown (a rule naming that field then
 * does not match). */
typedef struct {
  const char *protocol;  /* "http", "https", "coap", "coaps" */
  const char *method;    /* HTTP method or CoAP code name ("GET") */
  const char *path;      /* HTTP path without the query, or the CoAP Uri-Path joined with
                            '/'; a leading '/' is ignored */
  const char *device_id;
  const char *team;      /* the team's API key */
} fault_request;

/* What a fired rule asks for; see fault_http_* and fault_coap_* for how each transport
 * reads it. */
typedef struct {
  int status;     /* HTTP status, 0 = none */
  int coap_code;  /* class*100+detail (503 = 5.03), 0 = none */
  int delay_ms;   /* wait this long first, 0 = none */
  bool drop;      /* CoAP: send nothing */
  bool close;     /* HTTP: close the connection without a response */
} fault_action;

/* faults_needs() bits: a held rule matches on the device id / on the team. */
#define FAULT_NEEDS_DEVICE 1u
#define FAULT_NEEDS_TEAM 2u

faults *faults_new(void);
void faults_free(faults *f);

/* True when any rule is held (lock-free): with none, a transport skips fault handling. */
bool faults_any(faults *f);
/* FAULT_NEEDS_* bits of the held rules (lock-free), so a transport works out a request's
 * device id or team only when some rule asks for it. */
unsigned faults_needs(faults *f);
/* Check request req against the rules; 1 when one fired (its action in out, its id in
 * rule_id), 0 when none. Counts the firing and uses up `times`. */
int faults_match(faults *f, const fault_request *req, fault_action *out, char rule_id[37]);

/* The HTTP status a fired action answers with (status, else a 4.xx/5.xx coapCode as
 * 4xx/5xx), 0 = answer normally after the delay. */
int fault_http_status(const fault_action *a);
/* True when the HTTP connection is to be closed without an answer (closeConnection, or drop). */
bool fault_http_closes(const fault_action *a);
/* The CoAP code a fired action answers with (coapCode, else a 4xx/5xx status as 4.xx/5.xx
 * when its detail fits), 0 = answer normally after the delay. */
int fault_coap_code(const fault_action *a);
/* True when the CoAP request is to get no answer at all (drop, or closeConnection). */
bool fault_coap_drops(const fault_action *a);

/* Validate a rule body and add it; *out is the rule with defaults and id. 40001/40004
 * name the field. */
int faults_add(faults *f, json_t *body, json_t **out, err_t *e);
/* Every rule, creation order, with its remaining `times` and `fired` count: {"items"}. */
json_t *faults_list(faults *f);
/* Delete one rule: 0, or 1 when there is no such rule. */
int faults_delete(faults *f, const char *id);
/* Delete every rule; api_key != NULL: only the rules whose match.team is that key. */
void faults_clear(faults *f, const char *api_key);
/* Rules held, and faults fired so far on one protocol ("http", "https", "coap", "coaps"). */
size_t faults_count(faults *f);
uint64_t faults_fired(faults *f, const char *protocol);

#endif
