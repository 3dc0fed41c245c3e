/* Claimed devices (docs/owner-api.md §2): claim, dry run, bulk CSV, list, get, unclaim, block,
 * tags. A claim checks the attestation token fully (structure, then the registered
 * identity's signature) before anything is stored. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "clock.h"
#include "proto/attest.h"
#include "proto/claimcsv.h"
#include "proto/es256.h"
#include "service/internal.h"
#include "store/claims.h"
#include "store/identities.h"
#include "threads.h"

#define MAX_BULK_ROWS 1000

json_t *svc__claim_json(const store_claim *c) {
  char claimed[32], updated[32];
  svc__time(c->claimed_at, claimed);
  svc__time(c->updated_at, updated);
  json_t *tags = json_loads(c->tags_json ? c->tags_json : "[]", 0, NULL);
  json_t *o = json_pack("{s:s, s:s, s:s}", "id", c->device_id, "deviceType", c->device_type, "firmwareId", c->firmware_id);
  if (*c->imei) json_object_set_new(o, "imei", json_string(c->imei));
  json_object_set_new(o, "ownerId", json_string(c->owner_id));
  json_object_set_new(o, "ownershipStatus", json_string("IDENTIFIED"));
  json_object_set_new(o, "tags", tags ? tags : json_array());
  json_object_set_new(o, "status", json_string(c->status));
  json_object_set_new(o, "blocked", json_boolean(c->blocked));
  json_object_set_new(o, "claimedAt", json_string(claimed));
  json_object_set_new(o, "updatedAt", json_string(updated));
  return o;
}

/* Read a claim (inside a transaction); free it with store_claim_row_free when 0. */
static int claim_row(svc *s, int64_t team_id, const char *device_id, store_claim *c, err_t *e) {
  int rc = store_claim_get(s->store, team_id, device_id, c);
  if (rc < 0) return err_set(e, ERR_INTERNAL, "cannot read device %s", device_id);
  if (rc > 0) return err_set(e, ERR_NOT_FOUND, "no claimed device %s", device_id);
  return 0;
}

/* Reload a claim as the API shows it. */
int svc__claim_view(svc *s, int64_t team_id, const char *device_id, json_t **out, err_t *e) {
  store_claim c;
  int rc = claim_row(s, team_id, device_id, &c, e);
  if (rc) return rc;
  *out = svc__claim_json(&c);
  store_claim_row_free(&c);
  return 0;
}

/* 0 when obj's signature verifies against the PEM key, else -1. */
static int verify_pem(const char *pem, int (*verify)(const void *obj, const mbedtls_pk_context *pub), const void *obj) {
  mbedtls_pk_context pk;
  mbedtls_pk_init(&pk);
  char why[160];
  int rc = es256_pubkey_from_pem(&pk, pem, why, sizeof why) ? -1 : verify(obj, &pk);
  mbedtls_pk_free(&pk);
  return rc ? -1 : 0;
}

/* The answer of a signature check: registered says whether the device has an identity
 * key, verified (when it has) whether the signature verifies against it. */
static int signature_answer(svc *s, const char *device_id, const char *what, bool registered, int verified, err_t *e) {
  if (!registered && s->strict_identity)
    return err_set(e, ERR_TOKEN_SIGNATURE, "%s: device %s has no registered identity key (--strict-identity)", what, device_id);
  if (registered && verified)
    return err_set(e, ERR_TOKEN_SIGNATURE, "%s: signature does not verify against the registered identity key of device %s", what, device_id);
  return 0;
}

int svc__check_signature(svc *s, const char *device_id, const char *what,
                         int (*verify)(const void *obj, const mbedtls_pk_context *pub), const void *obj,
                         char imei[32], int *registered, err_t *e) {
  char *pem = NULL;
  int rc = store_identity_get(s->store, device_id, &pem, imei);
  if (rc < 0) return err_set(e, ERR_INTERNAL, "cannot read identities");
  if (registered) *registered = rc == 0;
  int verified = rc == 0 ? verify_pem(pem, verify, obj) : 0;
  free(pem);
  return signature_answer(s, device_id, what, rc == 0, verified, e);
}

static int verify_attest(const void *obj, const mbedtls_pk_context *pub) { return attest_verify(obj, pub); }

/* A claim token as checked so far: decoded, and (bulk claims, outside the store lock)
 * its signature checked against the identity key registered when it was looked at. */
typedef struct {
  int decoded;         /* 0, or -1 when malformed: why */
  char why[256];
  attest_token tok;
  bool looked_up;      /* pem and verified below are known */
  char *pem;           /* the identity key then, NULL when none */
  int verified;        /* 0 when the signature verifies against pem */
  bool from_store;     /* pem and imei were read from the store at identities_version */
  uint64_t identities_version;
  char imei[32];
} token_check;

static void token_decode(token_check *c, const char *token) {
  memset(c, 0, sizeof *c);
  c->decoded = attest_decode(token, strlen(token), &c->tok, c->why, sizeof c->why);
}

/* Every check of a claim of the token c, inside a transaction: the signature against
 * the identity key registered now (the verdict found outside the lock holds when that
 * key is the one it was found with), not claimed yet, then unless dry the claim. */
static int claim_checked(svc *s, const svc_team *t, const token_check *c, const svc_tags *tags, bool dry, char device_id[37],
                         int64_t *seq, err_t *e) {
  svc_claim_device d = {.imei = ""};
  char type[32], *pem = NULL;
  if (c->decoded) return err_set(e, ERR_TOKEN_MALFORMED, "claimToken: %s", c->why);
  snprintf(device_id, 37, "%s", c->tok.device_uuid);
  snprintf(d.device_id, sizeof d.device_id, "%s", c->tok.device_uuid);
  snprintf(d.firmware_id, sizeof d.firmware_id, "%s", c->tok.firmware_uuid);
  snprintf(d.device_type, sizeof d.device_type, "%s", attest_device_type_name(c->tok.device_type, type, sizeof type));
  int rc, verified = 0;
  if (c->from_store && c->identities_version == store_identities_version(s->store)) {
    /* Read outside the lock and no identity has changed since: no second lookup. */
    rc = c->pem ? 0 : 1;
    snprintf(d.imei, sizeof d.imei, "%s", c->imei);
    verified = c->verified;
  } else {
    rc = store_identity_get(s->store, d.device_id, &pem, d.imei);
    if (rc < 0) return err_set(e, ERR_INTERNAL, "cannot read identities");
    if (rc == 0)
      verified = c->looked_up && c->pem && !strcmp(c->pem, pem) ? c->verified : verify_pem(pem, verify_attest, &c->tok);
    free(pem);
  }
  rc = signature_answer(s, d.device_id, "claimToken", rc == 0, verified, e);
  return rc ? rc : svc__claim_insert(s, t, &d, tags, dry, seq, e);
}

int svc__claim_insert(svc *s, const svc_team *t, const svc_claim_device *d, const svc_tags *tags, bool dry, int64_t *seq,
                      err_t *e) {
  int rc = 1;
  char queue[37];
  int64_t row;
  if (!dry) {
    /* Inserted first, looked up only when the device turns out to be claimed already:
     * the lookup is a second index search that almost every claim would make for nothing. */
    svc__new_uuid(queue);
    rc = store_claim_insert(s->store, t->id, d->device_id, d->device_type, d->firmware_id, d->imei, queue, &row);
    if (rc < 0) return err_set(e, ERR_INTERNAL, "cannot store the claim of %s", d->device_id);
  }
  if (rc > 0) {
    store_device_claim c;
    rc = store_claim_for_device(s->store, d->device_id, &c);
    if (rc < 0) return err_set(e, ERR_INTERNAL, "cannot read claims");
    if (rc == 0) {
      bool mine = c.team_id == t->id;
      return mine ? err_set(e, ERR_CLAIMED_BY_YOU, "device %s is already claimed by your team", d->device_id)
                  : err_set(e, ERR_CLAIMED_BY_OTHER, "device %s is claimed by another team", d->device_id);
    }
    if (!dry) return err_set(e, ERR_INTERNAL, "cannot store the claim of %s", d->device_id);
    return 0;
  }
  if (tags->n && store_claim_set_tags(s->store, row, t->id, (const char *const *)tags->v, tags->n))
    return err_set(e, ERR_INTERNAL, "cannot store the claim of %s", d->device_id);
  if (seq) *seq = row;
  svc__event("claimed", d->device_id, t->owner_id, "{s:s}", "deviceType", d->device_type);
  return 0;
}

/* The registered identity key of each decoded token of c that has none yet (rows with
 * skip[i] set are left out), read in one short hold of the store (one read transaction)
 * and noted with the identities version it was read at, so the claim's transaction can
 * reuse it while that version holds. -1 when the store could not be taken. */
static int lookup_keys(svc *s, token_check *c, size_t n, const int *skip) {
  if (store_begin_reads(s->store)) return -1;
  uint64_t version = store_identities_version(s->store);
  for (size_t i = 0; i < n; i++) {
    if ((skip && skip[i]) || c[i].decoded || c[i].looked_up) continue;
    if (store_identity_get(s->store, c[i].tok.device_uuid, &c[i].pem, c[i].imei) < 0)
      break; /* claim_checked reads it again in the transaction */
    c[i].looked_up = c[i].from_store = true;
    c[i].identities_version = version;
  }
  store_end_reads(s->store);
  return 0;
}

/* The signature of c's token against the key found for it, if one was. */
static void check_signature(token_check *c) {
  if (c->looked_up && c->pem) c->verified = verify_pem(c->pem, verify_attest, &c->tok);
}

/* Tokens checked before the transaction that claims them (svc__claims_precheck), for
 * the thread running that transaction. */
static _Thread_local struct {
  const char *const *tokens;
  token_check *checks;
  size_t n;
  size_t next; /* where the next token is looked for first: they come in document order */
} prechecked;

int svc__claims_precheck(svc *s, const char *const *tokens, size_t n, const char *const *doc_ids,
                         const char *const *doc_keys, size_t n_doc) {
  token_check *c = calloc(n ? n : 1, sizeof *c);
  if (!c) return -1;
  for (size_t i = 0; i < n; i++) token_decode(&c[i], tokens[i]);
  /* The key each device will have when it is claimed: the one the same document
   * registers (it is loaded first), else the one stored now. */
  for (size_t i = 0; i < n; i++)
    for (size_t k = n_doc; !c[i].decoded && k-- > 0;)
      if (!strcasecmp(doc_ids[k], c[i].tok.device_uuid)) {
        c[i].pem = strdup(doc_keys[k]);
        c[i].looked_up = c[i].pem != NULL;
        break;
      }
  lookup_keys(s, c, n, NULL);
  for (size_t i = 0; i < n; i++) check_signature(&c[i]);
  prechecked.tokens = tokens;
  prechecked.checks = c;
  prechecked.n = n;
  prechecked.next = 0;
  return 0;
}

void svc__claims_precheck_end(void) {
  for (size_t i = 0; i < prechecked.n; i++) free(prechecked.checks[i].pem);
  free(prechecked.checks);
  memset(&prechecked, 0, sizeof prechecked);
}

int svc__claim_one(svc *s, const svc_team *t, const char *token, const svc_tags *tags, bool dry, char device_id[37],
                   int64_t *seq, err_t *e) {
  for (size_t k = 0; k < prechecked.n; k++) {
    size_t i = (prechecked.next + k) % prechecked.n;
    if (prechecked.tokens[i] == token) {
      prechecked.next = i + 1;
      return claim_checked(s, t, &prechecked.checks[i], tags, dry, device_id, seq, e);
    }
  }
  token_check c;
  token_decode(&c, token);
  return claim_checked(s, t, &c, tags, dry, device_id, seq, e);
}

int svc_claim(svc *s, const svc_team *t, json_t *body, bool dry_run, json_t **out, err_t *e) {
  json_t *tok = json_object_get(body, "claimToken");
  svc_tags tags = {0};
  if (svc__empty(tok)) return err_set(e, ERR_MISSING_FIELD, "claimToken: required");
  if (!json_is_string(tok)) return err_set(e, ERR_BAD_FIELD, "claimToken: must be a string");
  int rc = svc__tags_from_json("tags", json_object_get(body, "tags"), &tags, e);
  if (rc) return rc;
  char device_id[37] = "";
  /* Decoded before the store is taken: other requests need not wait for it. */
  token_check c;
  token_decode(&c, json_string_value(tok));
  if (store_begin(s->store)) {
    svc__tags_free(&tags);
    return err_set(e, ERR_INTERNAL, "store unavailable");
  }
  rc = claim_checked(s, t, &c, &tags, dry_run, device_id, NULL, e);
  /* The row is read in the transaction; its answer is built after the store is released. */
  store_claim row;
  bool have_row = false;
  if (!rc && !dry_run) {
    rc = claim_row(s, t->id, device_id, &row, e);
    have_row = rc == 0;
  }
  rc = svc__finish(s, rc, NULL, "the claim", e);
  if (!rc) *out = dry_run ? json_pack("{s:s}", "message", "Device can be claimed") : svc__claim_json(&row);
  if (have_row) store_claim_row_free(&row);
  svc__tags_free(&tags);
  return rc;
}

/* A bulk claim's rows with what can be worked out of them outside the store lock
 * (docs/control-api.md §5): parsed, tags split, tokens decoded and their signatures
 * checked. A 1000-row body of badly signed tokens costs seconds of ECDSA; other teams
 * must not wait for that, only for the writes. */
typedef struct {
  claimcsv_row *rows;
  size_t n;
  token_check *checks;
  svc_tags *tags;
  err_t *row_err;      /* a row's defect found before the transaction */
  int *row_rc;
} bulk_rows;

static void bulk_free(bulk_rows *b) {
  for (size_t i = 0; b->checks && i < b->n; i++) free(b->checks[i].pem);
  for (size_t i = 0; b->tags && i < b->n; i++) svc__tags_free(&b->tags[i]);
  free(b->checks);
  free(b->tags);
  free(b->row_err);
  free(b->row_rc);
  claimcsv_free(b->rows, b->n);
}

/* Run fn(b, i) for every row, split over all the machine's cores but one (at most 4)
 * when there are enough rows to pay for a thread: decoding 1000 tokens takes a couple of
 * milliseconds, checking 1000 signatures about a second. No store lock is held
 * meanwhile, and one core is always left to the other teams' requests (on two cores a
 * bulk claim that took both held them up for the whole claim). */
typedef struct {
  bulk_rows *b;
  void (*fn)(bulk_rows *b, size_t i);
  size_t from, to;
  pthread_t thread;
  bool started;
} row_slice;

static void *run_slice(void *arg) {
  row_slice *sl = arg;
  for (size_t i = sl->from; i < sl->to; i++) sl->fn(sl->b, i);
  return NULL;
}

static void for_rows(bulk_rows *b, void (*fn)(bulk_rows *b, size_t i)) {
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  size_t k = b->n >= 64 && cpus > 2 ? (size_t)(cpus - 1 < 4 ? cpus - 1 : 4) : 1;
  row_slice sl[4];
  for (size_t j = 0; j < k; j++) {
    sl[j] = (row_slice){.b = b, .fn = fn, .from = b->n * j / k, .to = b->n * (j + 1) / k};
    /* Slice 0 runs here; a slice whose thread cannot start runs here too. */
    sl[j].started = j > 0 && !threads_start(&sl[j].thread, false, run_slice, &sl[j]);
  }
  for (size_t j = 0; j < k; j++)
    if (!sl[j].started) run_slice(&sl[j]);
  for (size_t j = 1; j < k; j++)
    if (sl[j].started) pthread_join(sl[j].thread, NULL);
}

static void row_decode(bulk_rows *b, size_t i) {
  if (!*b->rows[i].token) b->row_rc[i] = err_set(&b->row_err[i], ERR_MISSING_FIELD, "claimToken: required");
  else b->row_rc[i] = svc__tags_from_text("tags", b->rows[i].tags ? b->rows[i].tags : "", &b->tags[i], &b->row_err[i]);
  if (!b->row_rc[i]) token_decode(&b->checks[i], b->rows[i].token);
}

static void row_verify(bulk_rows *b, size_t i) { check_signature(&b->checks[i]); }

static int bulk_prepare(svc *s, const char *csv, size_t len, bulk_rows *b, err_t *e) {
  char why[256];
  memset(b, 0, sizeof *b);
  int rc = claimcsv_parse(csv, len, MAX_BULK_ROWS, &b->rows, &b->n, why, sizeof why);
  if (rc == -2) return err_set(e, ERR_TOO_LARGE, "CSV holds more than %d rows; nothing was claimed", MAX_BULK_ROWS);
  if (rc) return err_set(e, ERR_BAD_JSON, "CSV cannot be parsed: %s; nothing was claimed", why);
  size_t n = b->n ? b->n : 1;
  b->checks = calloc(n, sizeof *b->checks);
  b->tags = calloc(n, sizeof *b->tags);
  b->row_err = calloc(n, sizeof *b->row_err);
  b->row_rc = calloc(n, sizeof *b->row_rc);
  if (!b->checks || !b->tags || !b->row_err || !b->row_rc) {
    bulk_free(b);
    return err_set(e, ERR_INTERNAL, "out of memory");
  }
  for_rows(b, row_decode);
  if (lookup_keys(s, b->checks, b->n, b->row_rc)) {
    bulk_free(b);
    return err_set(e, ERR_INTERNAL, "store unavailable");
  }
  /* The signatures, with no lock held. */
  for_rows(b, row_verify);
  return 0;
}

/* True when ids already holds device_id. */
static bool listed(json_t *ids, const char *device_id) {
  size_t i;
  json_t *v;
  json_array_foreach(ids, i, v) if (!strcmp(json_string_value(v), device_id)) return true;
  return false;
}

/* The bulk claim itself, inside a transaction: each row as a single claim. A dry run
 * stores nothing, so a device repeated in the body is caught here, as the stored claim
 * of its first row would catch it in a real run (docs/owner-api.md §2.4). */
static int claim_rows(svc *s, const svc_team *t, const bulk_rows *b, bool dry, json_t **out, err_t *e) {
  json_t *ids = json_array(), *failed = json_array();
  for (size_t i = 0; i < b->n; i++) {
    err_t re = b->row_err[i];
    char device_id[37];
    int r = b->row_rc[i];
    if (!r) r = claim_checked(s, t, &b->checks[i], &b->tags[i], dry, device_id, NULL, &re);
    if (!r && dry && listed(ids, device_id))
      r = err_set(&re, ERR_CLAIMED_BY_YOU, "device %s is claimed by an earlier row of this body", device_id);
    if (r == -(int)ERR_INTERNAL) {
      json_decref(ids);
      json_decref(failed);
      *e = re;
      return r;
    }
    if (r)
      json_array_append_new(failed, json_pack("{s:I, s:s, s:i, s:s}", "row", (json_int_t)b->rows[i].row, "claimToken",
                                              b->rows[i].token, "code", err_code(re.id), "message", re.message));
    else
      json_array_append_new(ids, json_string(device_id));
  }
  *out = json_pack("{s:o, s:o}", "claimedIds", ids, "failed", failed);
  return 0;
}

/* The rows of a bulk claim prepared, and the store taken for its transaction. */
static int bulk_begin(svc *s, const char *csv, size_t len, bulk_rows *b, err_t *e) {
  int rc = bulk_prepare(s, csv, len, b, e);
  if (rc) return rc;
  if (!store_begin(s->store)) return 0;
  bulk_free(b);
  return err_set(e, ERR_INTERNAL, "store unavailable");
}

int svc_claim_csv(svc *s, const svc_team *t, const char *csv, size_t len, bool dry_run, json_t **out, err_t *e) {
  bulk_rows b;
  int rc = bulk_begin(s, csv, len, &b, e);
  if (rc) return rc;
  rc = claim_rows(s, t, &b, dry_run, out, e);
  /* A dry run rolls back whatever it touched: it never claims (docs/owner-api.md §2.4). */
  if (dry_run) store_end(s->store, false);
  else rc = svc__finish(s, rc, out, "the bulk claim", e);
  bulk_free(&b);
  return rc;
}

int svc_claim_csv_op(svc *s, const svc_team *t, const char *csv, size_t len, json_t **out, err_t *e) {
  int64_t requested = clock_wall_ms();
  json_t *result = NULL;
  bulk_rows b;
  int rc = bulk_begin(s, csv, len, &b, e);
  if (rc) return rc;
  rc = claim_rows(s, t, &b, false, &result, e);
  if (!rc) {
    char id[37], req[32], done[32];
    svc__new_uuid(id);
    svc__time(requested, req);
    svc__time(clock_wall_ms(), done);
    json_t *op = json_pack("{s:s, s:s, s:s, s:s, s:s, s:O, s:O}", "bulkOpsRequestId", id, "status", "SUCCEEDED",
                           "endpoint", "CLAIM_DEVICES", "requestedAt", req, "completedAt", done, "claimedIds",
                           json_object_get(result, "claimedIds"), "failed", json_object_get(result, "failed"));
    char *text = json_dumps(op, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (store_bulk_op_put(s->store, t->id, id, text, requested, clock_wall_ms()))
      rc = err_set(e, ERR_INTERNAL, "cannot record the bulk operation");
    free(text);
    json_decref(op);
    if (!rc) *out = json_pack("{s:s}", "bulkOpsRequestId", id);
  }
  json_decref(result);
  rc = svc__finish(s, rc, out, "the bulk claim", e);
  bulk_free(&b);
  return rc;
}

int svc_bulk_op_get(svc *s, const svc_team *t, const char *id, json_t **out, err_t *e) {
  char *text = NULL;
  if (store_begin_read(s->store)) return err_set(e, ERR_INTERNAL, "store unavailable");
  int rc = store_bulk_op_get(s->store, t->id, id, &text);
  store_end_read(s->store);
  if (rc < 0) return err_set(e, ERR_INTERNAL, "cannot read bulk operations");
  if (rc > 0) return err_set(e, ERR_NOT_FOUND, "no bulk operation %s", id);
  *out = json_loads(text, 0, NULL);
  free(text);
  return *out ? 0 : err_set(e, ERR_INTERNAL, "bulk operation %s is unreadable", id);
}

/* Comma-separated query values as a JSON array text, validated by ok (may be NULL). */
static int query_list(const char *name, const char *v, bool (*ok)(const char *), char **json, err_t *e) {
  *json = NULL;
  if (!v) return 0;
  json_t *a = json_array();
  char *copy = strdup(v), *save = NULL;
  for (char *p = strtok_r(copy, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
    while (*p == ' ') p++;
    size_t n = strlen(p);
    while (n && p[n - 1] == ' ') p[--n] = 0;
    if (!n) continue;
    if (ok && !ok(p)) {
      err_set(e, ERR_BAD_QUERY, "%s: '%.40s' is not a valid value", name, p);
      free(copy);
      json_decref(a);
      return -(int)ERR_BAD_QUERY;
    }
    json_array_append_new(a, json_string(p));
  }
  free(copy);
  if (!json_array_size(a)) {
    json_decref(a);
    return err_set(e, ERR_BAD_QUERY, "%s: must name at least one value", name);
  }
  *json = json_dumps(a, JSON_COMPACT);
  json_decref(a);
  return 0;
}

static bool status_ok(const char *v) {
  return !strcmp(v, "READY") || !strcmp(v, "PENDING") || !strcmp(v, "PROVISIONED") || !strcmp(v, "ERROR");
}

static void add_claim(const store_claim *c, void *ud) {
  svc__list_add(ud, svc__claim_json(c), c->seq);
}

int svc_claim_list(svc *s, const svc_team *t, const svc_claim_query *q, const svc_page *p, json_t **out, err_t *e) {
  store_claim_filter f = {.blocked = -1, .device_type = q->device_type};
  char *tags = NULL, *statuses = NULL;
  int rc;
  if (q->blocked) {
    if (!strcmp(q->blocked, "true")) f.blocked = 1;
    else if (!strcmp(q->blocked, "false")) f.blocked = 0;
    else return err_set(e, ERR_BAD_QUERY, "blocked: must be true or false");
  }
  if (q->device_type && !*q->device_type) return err_set(e, ERR_BAD_QUERY, "deviceType: must not be empty");
  if ((rc = query_list("tags", q->tags, NULL, &tags, e)) || (rc = query_list("status", q->status, status_ok, &statuses, e))) {
    free(tags);
    return rc;
  }
  f.tags_json = tags;
  f.statuses_json = statuses;
  svc_list_acc acc = SVC_LIST_ACC(p);
  int64_t total = 0;
  if (store_begin_read(s->store)) rc = err_set(e, ERR_INTERNAL, "store unavailable");
  else {
    if (store_claim_list(s->store, t->id, &f, p->before, SVC_LIST_FETCH(p), add_claim, &acc, &total))
      rc = err_set(e, ERR_INTERNAL, "cannot list claimed devices");
    store_end_read(s->store);
  }
  free(tags);
  free(statuses);
  return svc__list_finish(&acc, rc, total, out);
}

int svc_claim_get(svc *s, const svc_team *t, const char *device_id, json_t **out, err_t *e) {
  /* The whole id or no caching: a cut key would answer for another id. */
  char key[112];
  int kn = snprintf(key, sizeof key, "d:%lld:%s", (long long)t->id, device_id);
  bool cached = kn > 0 && (size_t)kn < sizeof key;
  if (cached && (*out = svc__view_get(s, key, store_generation(s->store)))) return 0;
  if (store_begin_read(s->store)) return err_set(e, ERR_INTERNAL, "store unavailable");
  uint64_t gen = store_generation(s->store);
  int rc = svc__claim_view(s, t->id, device_id, out, e);
  store_end_read(s->store);
  if (!rc && cached) svc__view_put(s, key, gen, *out);
  return rc;
}

int svc_unclaim(svc *s, const svc_team *t, const char *device_id, err_t *e) {
  if (store_begin(s->store)) return err_set(e, ERR_INTERNAL, "store unavailable");
  int rc = store_claim_delete(s->store, t->id, device_id);
  if (rc < 0) rc = err_set(e, ERR_INTERNAL, "cannot unclaim %s", device_id);
  else if (rc > 0) rc = err_set(e, ERR_NOT_FOUND, "no claimed device %s", device_id);
  else svc__event("unclaimed", device_id, t->owner_id, NULL);
  return svc__finish(s, rc, NULL, "the unclaim", e);
}

int svc_claim_block(svc *s, const svc_team *t, const char *device_id, bool blocked, json_t **out, err_t *e) {
  if (store_begin(s->store)) return err_set(e, ERR_INTERNAL, "store unavailable");
  store_claim c;
  int rc = svc__team_claim(s, t, device_id, &c, e);
  if (!rc) {
    store_claim_row_free(&c);
    if (store_claim_set_blocked(s->store, c.seq, blocked)) rc = err_set(e, ERR_INTERNAL, "cannot update %s", device_id);
    else rc = svc__claim_view(s, t->id, device_id, out, e);
    if (!rc) svc__event(blocked ? "blocked" : "unblocked", device_id, t->owner_id, NULL);
  }
  return svc__finish(s, rc, out, blocked ? "the block" : "the unblock", e);
}

int svc_claim_set_tags(svc *s, const svc_team *t, const char *device_id, json_t *body, json_t **out, err_t *e) {
  json_t *v = json_object_get(body, "tags");
  svc_tags tags = {0};
  /* An empty array is allowed here: it is how a device leaves every group. */
  if (!v || json_is_null(v)) return err_set(e, ERR_MISSING_FIELD, "tags: required");
  int rc = svc__tags_from_json("tags", v, &tags, e);
  if (rc) return rc;
  if (store_begin(s->store)) {
    svc__tags_free(&tags);
    return err_set(e, ERR_INTERNAL, "store unavailable");
  }
  store_claim c;
  if (!(rc = svc__team_claim(s, t, device_id, &c, e))) {
    store_claim_row_free(&c);
    if (store_claim_set_tags(s->store, c.seq, t->id, (const char *const *)tags.v, tags.n) || store_claim_touch(s->store, c.seq))
      rc = err_set(e, ERR_INTERNAL, "cannot update %s", device_id);
    else rc = svc__claim_view(s, t->id, device_id, out, e);
  }
  rc = svc__finish(s, rc, out, "the tags", e);
  svc__tags_free(&tags);
  return rc;
}
