/* What service/ files share: the svc struct and cross-file helpers (svc__*). Only for service/. */
#ifndef NRFPROV_SVC_INTERNAL_H
#define NRFPROV_SVC_INTERNAL_H

#include "service/svc.h"
#include "store/store.h"

#include <pthread.h>

typedef struct {
  char *key, *name;
} svc_key;

/* What the device endpoints know of a device at one store generation (poll_cache.c). */
typedef enum { POLL_UNKNOWN, POLL_IDLE, POLL_BUSY, POLL_NOT_CLAIMED, POLL_BLOCKED } svc_poll_state;
typedef struct {
  uint64_t gen;          /* 0 = empty slot */
  char device_id[37];
  int no_identity;       /* 1 no identity registered, 0 one is, -1 unknown */
  svc_poll_state state;
} svc_poll_entry;

/* A resolved API key, valid while the store's epoch is unchanged (svc.c). */
typedef struct {
  uint64_t epoch;    /* 0 = empty slot */
  char key[129];
  svc_team team;
} svc_team_entry;

struct svc {
  store *store;
  svc_team_entry *team_cache;
  pthread_mutex_t team_lock;
  svc_poll_entry *poll_cache;
  void *view_cache;              /* poll_cache.c; guarded by poll_lock */
  pthread_mutex_t poll_lock;
  pki *pki;
  bool strict_identity;
  bool strict_keys;
  svc_key *keys;
  size_t n_keys;
};

/* The slot hash of the service's caches (FNV-1a of a string key). */
unsigned svc__hash(const char *key);
int svc__poll_cache_init(svc *s);
void svc__poll_cache_free(svc *s);
int svc__view_cache_init(svc *s);
void svc__view_cache_free(svc *s);
/* A rendered object cached under key at generation gen (a new reference), or NULL. */
json_t *svc__view_get(svc *s, const char *key, uint64_t gen);
/* Cache view (a reference is taken) as read at generation gen. */
void svc__view_put(svc *s, const char *key, uint64_t gen, json_t *view);
/* The entry of device_id if it was learned at generation gen. */
bool svc__poll_lookup(svc *s, const char *device_id, uint64_t gen, svc_poll_entry *out);
/* Record facts learned at generation gen (no_identity -1 / state POLL_UNKNOWN: not learned). */
void svc__poll_remember(svc *s, const char *device_id, uint64_t gen, int no_identity, svc_poll_state state);

/* Record a domain event of device_id for the team owner_id, logged when the running
 * transaction commits (events.c); fmt (json_pack, may be NULL) adds fields. */
void svc__event(const char *event, const char *device_id, const char *owner_id, const char *fmt, ...);
/* The same with the team given by its row id (looked up in the open transaction). */
void svc__event_team(svc *s, const char *event, const char *device_id, int64_t team_id, const char *fmt, ...);
/* The store's end hook: print the recorded events if committed, else drop them. */
void svc__events_end(void *ctx, bool committed);
/* Log (when committed) and free a list of events taken with svc__events_take. */
void svc__events_log(json_t *list, bool committed);
/* This thread's pending events, now the caller's (NULL when none). */
json_t *svc__events_take(void);

/* Format 16 bytes as a lower-case 8-4-4-4-12 UUID. */
void svc__uuid_format(const uint8_t b[16], char out[37]);
/* End a write verb's transaction: commit when rc == 0, else roll back. A COMMIT that
 * fails (disk full, I/O error) turns success into 50000 naming what, and *out (out
 * may be NULL) is dropped, so nothing is acknowledged that is not stored
 * (docs/control-api.md §5, Storage). Returns the verb's final rc. */
int svc__finish(svc *s, int rc, json_t **out, const char *what, err_t *e);
/* Resolve a team inside an open transaction. */
int svc__team(svc *s, const char *api_key, svc_team *out, err_t *e);



#include <jansson.h>

#define SVC_MAX_TAGS 100

/* A parsed tag list (docs/owner-api.md §2.2: split on commas, trimmed, de-duplicated). */
typedef struct {
  char *v[SVC_MAX_TAGS];
  size_t n;
} svc_tags;

/* Parse a JSON array of (comma-separated) tags; NULL/null = none. 40004 names the field. */
int svc__tags_from_json(const char *field, json_t *v, svc_tags *list, err_t *e);
/* Parse comma-separated tags from text (a CSV field). */
int svc__tags_from_text(const char *field, const char *text, svc_tags *list, err_t *e);
void svc__tags_free(svc_tags *list);
/* Missing, null, "", [] or {} (the 40001 rule). */
bool svc__empty(json_t *v);
/* One page of a list being read: its items, the seq of the last (the keyset token), and
 * whether a row beyond the page exists. Callers ask the store for limit + 1 rows
 * (SVC_LIST_FETCH) so a full last page is told apart from a page with more after it:
 * only then does the answer carry pageNextToken (docs/owner-api.md §1, lists). */
typedef struct {
  json_t *items;
  int64_t last;
  int limit;
  bool more;
} svc_list_acc;
#define SVC_LIST_ACC(page) {json_array(), 0, (page)->limit, false}
#define SVC_LIST_FETCH(page) ((page)->limit + 1)
/* Append item (stolen) read from the row of seq; the row past the limit only sets more. */
void svc__list_add(svc_list_acc *a, json_t *item, int64_t seq);
/* rc == 0: *out = the list answer {"items", "total", "pageNextToken"?}, items stolen;
 * otherwise free the items and return rc. */
int svc__list_finish(svc_list_acc *a, int rc, int64_t total, json_t **out);
void svc__new_uuid(char out[37]);
void svc__time(int64_t ms, char out[32]);
#include "store/claims.h"
#include <mbedtls/pk.h>
/* The claimed-device object of a row. */
json_t *svc__claim_json(const store_claim *c);
/* Load a claim of team_id and render it; 404 when absent. */
int svc__claim_view(svc *s, int64_t team_id, const char *device_id, json_t **out, err_t *e);
/* What a claim records of a device: from its attestation token, or given by a fixture. */
typedef struct {
  char device_id[37], device_type[32], firmware_id[37], imei[32];
} svc_claim_device;
/* Every check of a claim of token, as POST /v1/claimed-devices makes them (structure,
 * registered identity's signature, not claimed yet), then unless dry the claim with its
 * tags; fills device_id and *seq (may be NULL). Inside a transaction. */
int svc__claim_one(svc *s, const svc_team *t, const char *token, const svc_tags *tags, bool dry, char device_id[37],
                   int64_t *seq, err_t *e);
/* The end of every claim: 40900/40901 when d is claimed already, else unless dry the
 * claim row with its tags (created as needed); *seq (may be NULL) its seq. */
int svc__claim_insert(svc *s, const svc_team *t, const svc_claim_device *d, const svc_tags *tags, bool dry, int64_t *seq,
                      err_t *e);
/* Decode the claim tokens and check their signatures before the transaction that
 * claims them, with no store lock held (docs/control-api.md §5): against the key
 * doc_keys[k] when the same document registers doc_ids[k], else the key stored now. A
 * later svc__claim_one of the same token pointer, on this thread, reuses the verdict
 * while the device's key is unchanged. End with svc__claims_precheck_end. 0 or -1. */
int svc__claims_precheck(svc *s, const char *const *tokens, size_t n, const char *const *doc_ids,
                         const char *const *doc_keys, size_t n_doc);
void svc__claims_precheck_end(void);
/* Check obj's signature against the device's registered identity key (if any; with
 * --strict-identity one is required). 40003 on failure; fills imei and sets *registered
 * (may be NULL) to whether an identity exists. */
int svc__check_signature(svc *s, const char *device_id, const char *what,
                         int (*verify)(const void *obj, const mbedtls_pk_context *pub), const void *obj,
                         char imei[32], int *registered, err_t *e);

/* One step a device runs: an AT command (kind 0), a config (1) or finished (2). */
typedef struct {
  bool pre;                  /* a pre-step (correlation id suffix .s) */
  int kind;
  const char *set_cmd;       /* AT: "%KEYGEN" */
  char *params;              /* AT: malloc'd parameters */
  const unsigned *ignore;    /* AT: CME errors to ignore */
  size_t n_ignore;
  json_t *config;            /* config: the properties object (borrowed) */
  json_t *owner;             /* the request JSON the borrowed parts belong to, if held */
} svc_step;

/* Validate a {"description", "request"} object (field = message prefix, "" or
 * "commands[2]."); fills the command type. */
int svc__command_validate(json_t *cmd, const char *field, char type[40], err_t *e);
/* The steps of a validated request: 1 or 2 (pre-step first); free with svc__steps_free. */
int svc__command_steps(const char *type, json_t *request, svc_step steps[2]);
void svc__steps_free(svc_step *steps, int n);
#include "store/commands.h"

/* The command object of a row. */
json_t *svc__command_json(const store_command *c);
/* The claim of device_id in team t (inside a transaction); 404 when absent. */
int svc__team_claim(svc *s, const svc_team *t, const char *device_id, store_claim *c, err_t *e);
/* 0 when n more commands fit under the 20-unfinished limit of docs/owner-api.md §3.1, else 40904. */
int svc__command_room(svc *s, int64_t claim_seq, const char *device_id, int64_t n, err_t *e);
/* Queue a validated command ({"description", "request"}) at the end of the claim's queue. */
int svc__command_queue(svc *s, int64_t claim_seq, const char *type, json_t *cmd, const char *rule_id, char id[37], err_t *e);

/* How a command ended, from a device response or a settle call. */
typedef struct {
  bool failed;
  unsigned cme;
  const char *message;  /* raw AT response or error text; may be NULL */
  json_t *response;     /* settle call: the response to store, or NULL */
} svc_outcome;
/* Settle an unfinished command: SUCCEEDED with its response (onboarding for
 * cloudAccessKeyGeneration), or FAILED with errorResponse and every later unfinished
 * command CANCELLED. The caller records the report outcome. */
int svc__settle(svc *s, const store_device_claim *c, const store_command *k, const svc_outcome *o, err_t *e);
/* Validate the outcome fields of a settle body ("cmeError"?, "message"?, "response"?)
 * into o (borrowing from body); failed says which way the command ends. */
int svc__outcome_from_json(json_t *body, bool failed, svc_outcome *o, err_t *e);
/* Settle an unfinished command of device_id as the control API's settle call does:
 * svc__settle, then the claim's report outcome. */
int svc__command_settle(svc *s, const char *device_id, const store_command *k, const svc_outcome *o, err_t *e);
/* Queue the commands of every active rule matching the claim's tags that has not
 * applied to it yet (docs/owner-api.md §4.3), in creation order; a rule whose commands do not
 * all fit under the 20-unfinished limit waits, with every later one, for a later contact. */
int svc__apply_rules(svc *s, const store_device_claim *c, err_t *e);
/* Whether commands of this type run %KEYGEN (their answers are checked). */
bool svc__keygen_type(const char *type);
/* Check the %KEYGEN answer msg to command k of claim c (docs/keygen.md): 0 when it holds,
 * 1 with the defect in why (the command must fail), or an error from the table. */
int svc__keygen_check(svc *s, const store_device_claim *c, const store_command *k, const char *msg, char *why,
                      size_t whysz, err_t *e);
/* Onboard the device of a succeeded cloudAccessKeyGeneration: verify the CSR of the
 * %KEYGEN value, issue a certificate with the local CA, create the device (docs/owner-api.md §6). */
int svc__onboard(svc *s, const store_device_claim *c, const store_command *k, const char *keygen_value, err_t *e);

#include "store/identities.h"
/* Validate a {"deviceId", "publicKeyPem", "imei"?, "deviceType"?} registration into i
 * (its PEM borrowed from body), as POST /_mock/identities does. */
int svc__identity_from_json(json_t *body, store_identity *i, err_t *e);
/* Store a validated identity inside a transaction: 409/40902 when the device has one
 * with another key and replace is false (the same key again just updates it). */
int svc__identity_register(svc *s, const store_identity *i, bool replace, err_t *e);
/* Create a provisioning tag from a {"tag", "description"?} body inside a transaction, as
 * POST /v1/provisioning/tags does (409 when it exists); *out (out may be NULL) the tag. */
int svc__tag_create(svc *s, const svc_team *t, json_t *body, json_t **out, err_t *e);
/* Create a rule from a POST /v1/provisioning-rules body inside a transaction: the same
 * checks and messages, then the insert; *out (out may be NULL) the rule. */
int svc__rule_create(svc *s, const svc_team *t, json_t *body, json_t **out, err_t *e);
#endif
