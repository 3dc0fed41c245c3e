/* The domain service: teams, claims, commands, rules, tags, onboarding, identities.
 *
 * Every verb runs in one store transaction and returns 0 or a negative err_id with the
 * defect named in an err_t. Results are jansson objects in the API's own shapes (the
 * service owns the domain's JSON views), so both transports render them unchanged. The
 * service knows nothing of HTTP or CoAP.
 */
#ifndef NRFPROV_SVC_H
#define NRFPROV_SVC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "errors.h"

typedef struct svc svc;
typedef struct store store;
typedef struct pki pki;

typedef struct {
  int64_t id;           /* store row id */
  char owner_id[37];    /* UUID derived from the API key */
} svc_team;

typedef struct {
  const char *api_keys_file; /* strict mode when set */
  bool strict_identity;
} svc_config;

/* Create the service over an open store (and PKI, may be NULL). Returns 0 or -1 with why. */
int svc_open(svc **out, store *st, pki *p, const svc_config *c, char *why, size_t whysz);
void svc_close(svc *s);

/* Resolve an API key to its team (creating it in default mode). 401 for unknown keys in strict mode. */
int svc_team_auth(svc *s, const char *api_key, svc_team *out, err_t *e);
/* The deterministic ownerId of an API key (first 16 bytes of SHA-256, as a UUID). */
void svc_owner_id(const char *api_key, char out[37]);
/* Wipe all state, or one team's (api_key != NULL). */
int svc_reset(svc *s, const char *api_key, err_t *e);

/* ---- group commit (docs/performance.md) ---- */

/* A request whose write may be committed together with others'. The transport fills
 * done and ctx, calls svc_defer_next before the verb and svc_defer_next(s, NULL) after
 * it. When the verb returned 0 and deferred is then true, the request's changes are not
 * committed yet: the transport holds the answer until done(w, committed) is called
 * (exactly once, from another request's thread, which must not be blocked: done only
 * records the outcome and wakes the request). When committed is false the answer is
 * replaced by svc_waiter_error's. */
typedef struct svc_waiter {
  void (*done)(struct svc_waiter *w, bool committed);
  void *ctx;
  bool deferred;
  char what[48];          /* the verb's change, for the error ("the claim") */
  json_t *events;         /* its domain events, logged when the group commits */
} svc_waiter;
void svc_defer_next(svc *s, svc_waiter *w);
/* The error a deferred request answers when its group did not commit. */
void svc_waiter_error(const svc_waiter *w, err_t *e);
/* Commit the open group now (a listener stopping). */
void svc_flush(svc *s);
/* The transport's hint that the calling thread has another request at hand
 * (store_set_next_hint); set once, by the first listener that has one. */
void svc_set_next_hint(svc *s, bool (*at_hand)(void));
/* Store commits since the start, and writes that shared a later request's commit. */
void svc_commit_counts(svc *s, uint64_t *commits, uint64_t *deferred);



/* ---- lists ---- */

typedef struct {
  int limit;       /* 1..100 */
  int64_t before;  /* keyset position from pageNextToken; 0 = first page */
} svc_page;

/* Parse pageLimit and pageNextToken (either may be NULL = absent). 40006 on bad values. */
int svc_page_parse(const char *page_limit, const char *page_token, svc_page *out, err_t *e);

/* ---- claimed devices (docs/owner-api.md §2) ---- */

typedef struct {
  const char *tags, *status, *blocked, *device_type; /* raw query values, NULL = absent */
} svc_claim_query;

/* Claim one device from a JSON body {"claimToken", "tags"}; dry_run stores nothing and
 * answers {"message"}. *out: the claimed-device object. */
int svc_claim(svc *s, const svc_team *t, json_t *body, bool dry_run, json_t **out, err_t *e);
/* Bulk claim from CSV; *out {"claimedIds", "failed"}. dry_run checks every row and stores
 * nothing (claimedIds: the rows that would be claimed). */
int svc_claim_csv(svc *s, const svc_team *t, const char *csv, size_t len, bool dry_run, json_t **out, err_t *e);
/* The older asynchronous form: runs the bulk claim, records it, *out {"bulkOpsRequestId"}. */
int svc_claim_csv_op(svc *s, const svc_team *t, const char *csv, size_t len, json_t **out, err_t *e);
/* A recorded bulk operation. */
int svc_bulk_op_get(svc *s, const svc_team *t, const char *id, json_t **out, err_t *e);
int svc_claim_list(svc *s, const svc_team *t, const svc_claim_query *q, const svc_page *p, json_t **out, err_t *e);
int svc_claim_get(svc *s, const svc_team *t, const char *device_id, json_t **out, err_t *e);
int svc_unclaim(svc *s, const svc_team *t, const char *device_id, err_t *e);
int svc_claim_block(svc *s, const svc_team *t, const char *device_id, bool blocked, json_t **out, err_t *e);
/* Replace tags from {"tags": [...]}. */
int svc_claim_set_tags(svc *s, const svc_team *t, const char *device_id, json_t *body, json_t **out, err_t *e);

/* ---- provisioning commands (docs/owner-api.md §3) ---- */

/* Queue a command from {"description", "request": {type: params}}; *out the command. */
int svc_command_create(svc *s, const svc_team *t, const char *device_id, json_t *body, json_t **out, err_t *e);
int svc_command_list(svc *s, const svc_team *t, const char *device_id, const svc_page *p, json_t **out, err_t *e);
int svc_command_get(svc *s, const svc_team *t, const char *device_id, const char *command_id, json_t **out, err_t *e);
/* Discard a PENDING command (40905 otherwise). */
int svc_command_discard(svc *s, const svc_team *t, const char *device_id, const char *command_id, err_t *e);
/* Remove every command of the device and its applied-rule marks; new queue id. */
int svc_commands_reset(svc *s, const svc_team *t, const char *device_id, err_t *e);
/* Control API: settle a command as a device report would ({"status", "cmeError"?, "message"?, "response"?}). */
int svc_command_settle(svc *s, const svc_team *t, const char *device_id, const char *command_id, json_t *body,
                       json_t **out, err_t *e);
/* Control API: PENDING -> IN_PROGRESS as if the device had fetched it. */
int svc_command_deliver(svc *s, const svc_team *t, const char *device_id, const char *command_id, json_t **out, err_t *e);

/* ---- the device-facing protocol (docs/device-protocol.md §2–§5), shared by HTTP and CoAP ---- */

typedef struct {
  char device_id[37];
} svc_device;

/* Check a device credential: a JWT, or "att.<attestation token>" (the HTTP Bearer value
 * or the CoAP auth payload). ERR_FORBIDDEN for a malformed, expired or badly signed
 * credential; ERR_NOT_CLAIMED / ERR_FORBIDDEN (blocked) from the claim. Rules apply
 * at the fetch or report that follows (the contacts that can carry their commands). */
int svc_device_auth(svc *s, const char *credential, size_t len, svc_device *out, err_t *e);

typedef struct {
  const char *after;   /* may be NULL or "" */
  long rx_max;         /* 0 = no cap */
  int limit;           /* entries per message; 10 when the device sends none */
  /* Total bytes of the transport's response for a body of n bytes (headers included). */
  size_t (*frame)(size_t n);
} svc_fetch;

/* Parse the device query values (rxMaxSize, limit) into f; ERR_BAD_QUERY on bad values. */
int svc_fetch_parse(const char *rx_max, const char *limit, svc_fetch *f, err_t *e);
/* The next commands for the device as CBOR (*cbor malloc'd; *len 0 = nothing to do).
 * Re-checks claim (401) and block (403). */
int svc_device_fetch(svc *s, const char *device_id, const svc_fetch *f, uint8_t **cbor, size_t *len, err_t *e);
/* Apply the device's CBOR responses. ERR_BAD_CBOR when undecodable. */
int svc_device_report(svc *s, const char *device_id, const uint8_t *cbor, size_t len, err_t *e);

/* ---- provisioning rules (docs/owner-api.md §4) ---- */

/* Create a rule from {"name", "description"?, "active"?, "tags", "commands"}; *out the rule. */
int svc_rule_create(svc *s, const svc_team *t, json_t *body, json_t **out, err_t *e);
/* The team's rules in creation order. */
int svc_rule_list(svc *s, const svc_team *t, const svc_page *p, json_t **out, err_t *e);
int svc_rule_get(svc *s, const svc_team *t, const char *rule_id, json_t **out, err_t *e);
/* Partial update of a DRAFT rule ({"active": true} activates it); 40903 for an ACTIVE one. */
int svc_rule_update(svc *s, const svc_team *t, const char *rule_id, json_t *body, json_t **out, err_t *e);
/* Delete a rule; the commands it already queued stay. */
int svc_rule_delete(svc *s, const svc_team *t, const char *rule_id, err_t *e);

/* ---- provisioning tags and groups (docs/owner-api.md §5) ---- */

/* The team's tags in creation order, with their device and rule counts. */
int svc_tag_list(svc *s, const svc_team *t, const svc_page *p, json_t **out, err_t *e);
/* Create a tag from {"tag", "description"?}: 40902 when it exists. */
int svc_tag_create(svc *s, const svc_team *t, json_t *body, json_t **out, err_t *e);
/* One tag with its first 100 device ids (newest claim first) and first 100 rule ids. */
int svc_tag_get(svc *s, const svc_team *t, const char *tag, json_t **out, err_t *e);
/* Delete an unused tag: 40906 while a claimed device or a rule holds it. */
int svc_tag_delete(svc *s, const svc_team *t, const char *tag, err_t *e);

/* ---- device management: onboarded devices (docs/owner-api.md §6) ---- */

/* The team's onboarded devices, newest first. */
int svc_onboarded_list(svc *s, const svc_team *t, const svc_page *p, json_t **out, err_t *e);
int svc_onboarded_get(svc *s, const svc_team *t, const char *device_id, json_t **out, err_t *e);
/* Remove an onboarded device; its claim stays. */
int svc_onboarded_delete(svc *s, const svc_team *t, const char *device_id, err_t *e);

/* ---- device identities (docs/control-api.md §2, docs/device-protocol.md §4.3) ---- */

/* Register a device's identity key from {"deviceId", "publicKeyPem", "imei"?,
 * "deviceType"?}; an earlier one with another key is replaced only when replace is
 * true, else 409/40902 (docs/control-api.md §5). *out the identity object. */
int svc_identity_put(svc *s, json_t *body, bool replace, json_t **out, err_t *e);
/* Every registered identity: {"items", "total"}. */
int svc_identity_list(svc *s, json_t **out, err_t *e);
/* One identity; 404 when the device has none. */
int svc_identity_get(svc *s, const char *device_id, json_t **out, err_t *e);
/* Forget a device's identity key; 404 when it has none. */
int svc_identity_delete(svc *s, const char *device_id, err_t *e);

#endif
