/* The device-facing protocol (docs/device-protocol.md §2–§5), one verb per exchange, shared by
 * the HTTP and CoAP transports: authenticate a credential, fetch the next commands as
 * CBOR (after=, limit and rxMaxSize fitting), apply reported results. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "proto/attest.h"
#include "proto/dcbor.h"
#include "proto/jwt.h"
#include "proto/keygen.h"
#include "service/internal.h"
#include "store/commands.h"

#define DEFAULT_LIMIT 10
#define MAX_STEPS 64

static int verify_jwt(const void *obj, const mbedtls_pk_context *pub) { return jwt_verify(obj, pub); }
static int verify_attest(const void *obj, const mbedtls_pk_context *pub) { return attest_verify(obj, pub); }

/* The claim of a device for the device API: 401 unclaimed, 403 blocked. */
static int device_claim(svc *s, const char *device_id, store_device_claim *c, err_t *e) {
  int rc = store_claim_for_device(s->store, device_id, c);
  if (rc < 0) return err_set(e, ERR_INTERNAL, "cannot read claims");
  if (rc > 0) return err_set(e, ERR_NOT_CLAIMED, "device %s is not claimed", device_id);
  if (c->blocked) return err_set(e, ERR_FORBIDDEN, "device %s is blocked", device_id);
  return 0;
}

/* A decoded device credential, ready for its signature check. */
typedef struct {
  bool is_attest;
  attest_token att;
  jwt_device jwt;
} credential;

static int decode_credential(const char *cred, size_t len, credential *c, char device_id[37], err_t *e) {
  char why[256];
  c->is_attest = len > 4 && !strncmp(cred, "att.", 4);
  if (c->is_attest) {
    if (attest_decode(cred + 4, len - 4, &c->att, why, sizeof why)) return err_set(e, ERR_FORBIDDEN, "attestation token: %s", why);
    snprintf(device_id, 37, "%s", c->att.device_uuid);
  } else {
    if (jwt_parse(cred, len, clock_wall_ms() / 1000, &c->jwt, why, sizeof why)) return err_set(e, ERR_FORBIDDEN, "JWT: %s", why);
    snprintf(device_id, 37, "%s", c->jwt.device_uuid);
  }
  return 0;
}

/* The answer a device gets for a claim state learned earlier (0 = may go on). */
static int state_answer(svc_poll_state st, const char *device_id, err_t *e) {
  if (st == POLL_NOT_CLAIMED) return err_set(e, ERR_NOT_CLAIMED, "device %s is not claimed", device_id);
  if (st == POLL_BLOCKED) return err_set(e, ERR_FORBIDDEN, "device %s is blocked", device_id);
  return 0;
}

static svc_poll_state state_of(int rc) {
  return rc == -(int)ERR_NOT_CLAIMED ? POLL_NOT_CLAIMED : rc == -(int)ERR_FORBIDDEN ? POLL_BLOCKED : rc == 0 ? POLL_BUSY : POLL_UNKNOWN;
}

int svc_device_auth(svc *s, const char *cred, size_t len, svc_device *out, err_t *e) {
  credential c;
  char imei[32];
  int rc = decode_credential(cred, len, &c, out->device_id, e);
  if (rc) return rc;
  /* Fast path: no identity to verify against and a known claim state. */
  svc_poll_entry pe;
  if (!s->strict_identity && svc__poll_lookup(s, out->device_id, store_generation(s->store), &pe) && pe.no_identity == 1 &&
      pe.state != POLL_UNKNOWN)
    return state_answer(pe.state, out->device_id, e);
  if (store_begin(s->store)) return err_set(e, ERR_INTERNAL, "store unavailable");
  uint64_t gen = store_generation(s->store);
  int registered = -1;
  rc = c.is_attest ? svc__check_signature(s, out->device_id, "attestation token", verify_attest, &c.att, imei, &registered, e)
                   : svc__check_signature(s, out->device_id, "JWT", verify_jwt, &c.jwt, imei, &registered, e);
  /* A bad signature is 40003 on the owner API; on the device API it is a 403. */
  if (rc == -(int)ERR_TOKEN_SIGNATURE) e->id = ERR_FORBIDDEN, rc = -(int)ERR_FORBIDDEN;
  store_device_claim dc;
  svc_poll_state st = POLL_UNKNOWN;
  if (!rc) st = state_of(rc = device_claim(s, out->device_id, &dc, e));
  store_end(s->store, rc == 0);
  if (registered >= 0) svc__poll_remember(s, out->device_id, gen, !registered, st);
  return rc;
}

int svc_fetch_parse(const char *rx_max, const char *limit, svc_fetch *f, err_t *e) {
  char *end;
  f->rx_max = 0;
  f->limit = DEFAULT_LIMIT;
  if (rx_max && *rx_max) {
    long v = strtol(rx_max, &end, 10);
    if (*end || v <= 0) return err_set(e, ERR_BAD_QUERY, "rxMaxSize: must be a positive integer");
    f->rx_max = v;
  }
  if (limit && *limit) {
    long v = strtol(limit, &end, 10);
    if (*end || v <= 0) return err_set(e, ERR_BAD_QUERY, "limit: must be a positive integer");
    f->limit = v > MAX_STEPS ? MAX_STEPS : (int)v;
  }
  return 0;
}

/* A correlation id "<queue id>.<hex seq>[.s]" of the claim's queue, as a step position
 * (2*seq for a pre-step, 2*seq+1 for a main step); 0 when it is not one of ours. */
static int64_t step_position(const store_device_claim *c, const char *cid) {
  size_t ql = strlen(c->queue_id);
  if (!cid || strncmp(cid, c->queue_id, ql) || cid[ql] != '.') return 0;
  char *end;
  const char *hex = cid + ql + 1;
  if (!*hex || *hex == '-' || *hex == '+') return 0;
  long long seq = strtoll(hex, &end, 16);
  bool pre = !strcmp(end, ".s");
  if ((*end && !pre) || seq < 1 || seq >= c->next_qseq) return 0;
  return 2 * seq + (pre ? 0 : 1);
}

typedef struct {
  store_command cmd;
  svc_step steps[2];
  int n_steps;
} queued;

typedef struct {
  queued *v;
  size_t n, cap;
} queue_acc;

static void collect(const store_command *k, void *ud) {
  queue_acc *a = ud;
  if (a->n == a->cap) {
    a->cap = a->cap ? a->cap * 2 : 8;
    a->v = realloc(a->v, a->cap * sizeof *a->v);
  }
  queued *q = &a->v[a->n++];
  q->cmd = *k;
  q->cmd.description = k->description ? strdup(k->description) : NULL;
  q->cmd.request = strdup(k->request);
  q->cmd.response = NULL;
  json_t *req = json_loads(k->request, 0, NULL);
  q->n_steps = svc__command_steps(k->type, req, q->steps);
  /* The steps borrow the config object from req; keep req alive in the step. */
  if (q->n_steps > 0) q->steps[q->n_steps - 1].owner = req;
  else json_decref(req);
}

static void queue_free(queue_acc *a) {
  for (size_t i = 0; i < a->n; i++) {
    if (a->v[i].n_steps > 0) json_decref(a->v[i].steps[a->v[i].n_steps - 1].owner);
    svc__steps_free(a->v[i].steps, a->v[i].n_steps);
    store_command_free(&a->v[i].cmd);
  }
  free(a->v);
}

/* One chosen step and the strings its CBOR needs. */
typedef struct {
  dcbor_command d;
  char cid[64];
  const char *keys[10], *values[10];
} wire_step;

static void wire(const store_device_claim *c, const queued *q, const svc_step *st, wire_step *w) {
  memset(w, 0, sizeof *w);
  snprintf(w->cid, sizeof w->cid, "%s.%llx%s", c->queue_id, (unsigned long long)q->cmd.qseq, st->pre ? ".s" : "");
  w->d.cid = w->cid;
  w->d.type = st->kind == 0 ? DCMD_AT : st->kind == 1 ? DCMD_CONFIG : DCMD_FINISHED;
  w->d.set_cmd = st->set_cmd;
  w->d.params = st->params;
  w->d.ignore_cme = st->ignore;
  w->d.n_ignore = st->n_ignore;
  if (st->kind == 1) {
    const char *k;
    json_t *v;
    json_object_foreach(st->config, k, v) {
      if (w->d.n_pairs == 10) break;
      w->keys[w->d.n_pairs] = k;
      w->values[w->d.n_pairs++] = json_string_value(v);
    }
    w->d.keys = w->keys;
    w->d.values = w->values;
  }
}

/* Fail a command on the server side because its step cannot fit rxMaxSize. */
static int fail_unfit(svc *s, const store_device_claim *c, const store_command *k, long rx_max, err_t *e) {
  char msg[96];
  snprintf(msg, sizeof msg, "command does not fit the device's rxMaxSize (%ld bytes)", rx_max);
  svc_outcome o = {.failed = true, .cme = 0, .message = msg};
  int rc = svc__settle(s, c, k, &o, e);
  if (!rc && store_claim_set_report(s->store, c->seq, 2)) rc = err_set(e, ERR_INTERNAL, "cannot record the report");
  return rc;
}

static int fetch(svc *s, const store_device_claim *c, const svc_fetch *f, uint8_t **cbor, size_t *len, err_t *e) {
  int64_t after = step_position(c, f->after);
  queue_acc qa = {0};
  *cbor = NULL;
  *len = 0;
  if (store_command_unfinished(s->store, c->seq, after / 2, collect, &qa)) {
    queue_free(&qa);
    return err_set(e, ERR_INTERNAL, "cannot read the queue");
  }
  if (!qa.n) return 0; /* The common poll: nothing queued, nothing allocated. */
  wire_step *ws = malloc((size_t)(f->limit < MAX_STEPS ? f->limit : MAX_STEPS) * sizeof *ws);
  size_t n = 0, body = 0;
  int rc = 0;
  bool full = false;
  size_t delivered_upto = 0; /* commands [0, delivered_upto) have a step in the answer */
  for (size_t i = 0; i < qa.n && !full && !rc; i++) {
    queued *q = &qa.v[i];
    for (int k = 0; k < q->n_steps; k++) {
      svc_step *st = &q->steps[k];
      int64_t pos = 2 * q->cmd.qseq + (st->pre ? 0 : 1);
      if (pos <= after || (st->pre && q->cmd.pre_done)) continue;
      if ((int)n == f->limit || n == MAX_STEPS) {
        full = true;
        break;
      }
      wire(c, q, st, &ws[n]);
      size_t step_size = dcbor_command_size(&ws[n].d);
      size_t total = dcbor_array_header_size(n + 1) + body + step_size;
      if (f->rx_max && f->frame(total) > (size_t)f->rx_max - 1) {
        if (n == 0) rc = fail_unfit(s, c, &q->cmd, f->rx_max, e);
        full = true;
        break;
      }
      body += step_size;
      n++;
      delivered_upto = i + 1;
    }
  }
  if (!rc && n) {
    dcbor_command cmds[MAX_STEPS];
    for (size_t i = 0; i < n; i++) cmds[i] = ws[i].d;
    size_t cap = dcbor_array_header_size(n) + body;
    *cbor = malloc(cap);
    int k = *cbor ? dcbor_encode_commands(cmds, n, *cbor, cap) : -1;
    if (k < 0) {
      free(*cbor);
      *cbor = NULL;
      rc = err_set(e, ERR_INTERNAL, "cannot encode commands");
    } else {
      *len = (size_t)k;
      for (size_t i = 0; i < delivered_upto && !rc; i++)
        if (!strcmp(qa.v[i].cmd.status, "PENDING")) {
          if (store_command_set_status(s->store, qa.v[i].cmd.seq, "IN_PROGRESS", NULL))
            rc = err_set(e, ERR_INTERNAL, "cannot mark commands delivered");
          else
            svc__event_team(s, "command.delivered", c->device_id, c->team_id, "{s:s, s:s}", "commandId", qa.v[i].cmd.id,
                            "type", qa.v[i].cmd.type);
        }
    }
  }
  free(ws);
  queue_free(&qa);
  return rc;
}

int svc_device_fetch(svc *s, const char *device_id, const svc_fetch *f, uint8_t **cbor, size_t *len, err_t *e) {
  *cbor = NULL;
  *len = 0;
  /* Fast path: nothing was queued for this device at the current generation. */
  svc_poll_entry pe;
  if (svc__poll_lookup(s, device_id, store_generation(s->store), &pe) && pe.state != POLL_UNKNOWN && pe.state != POLL_BUSY)
    return state_answer(pe.state, device_id, e);
  if (store_begin(s->store)) return err_set(e, ERR_INTERNAL, "store unavailable");
  uint64_t gen = store_generation(s->store);
  store_device_claim c;
  int rc = device_claim(s, device_id, &c, e);
  if (!rc && !(rc = svc__apply_rules(s, &c, e))) {
    /* Re-read the claim: applying rules may have advanced the queue. */
    if (!(rc = device_claim(s, device_id, &c, e))) rc = fetch(s, &c, f, cbor, len, e);
  }
  svc_poll_state st = rc ? state_of(rc) : *len ? POLL_BUSY : POLL_IDLE;
  /* What was learned holds at gen only when this transaction changed nothing. */
  bool learned = !store_changed(s->store);
  if (store_end(s->store, rc == 0) && !rc) {
    free(*cbor);
    *cbor = NULL;
    return err_set(e, ERR_INTERNAL, "cannot commit");
  }
  if (learned) svc__poll_remember(s, device_id, gen, -1, st);
  return rc;
}

/* The response object of a command that SUCCEEDED with the AT answer msg. */
static json_t *success_response(const store_command *k, const char *msg) {
  json_t *inner = json_object();
  if (!strcmp(k->type, "certificateSigningRequest") || !strcmp(k->type, "cloudAccessKeyGeneration")) {
    char value[4096] = "";
    if (msg) keygen_extract(msg, value, sizeof value);
    json_object_set_new(inner, "csr", json_string(value));
  } else if (!strcmp(k->type, "clientPrivateKeyGeneration")) {
    char value[4096], why[128], pem[2048];
    uint8_t der[1024];
    size_t derlen;
    if (msg && keygen_extract(msg, value, sizeof value) >= 0 && !keygen_decode(value, der, sizeof der, &derlen, NULL, why, sizeof why) &&
        keygen_der_to_pem(der, derlen, 0, pem, sizeof pem) >= 0)
      json_object_set_new(inner, "publicKey", json_string(pem));
  }
  if (strcmp(k->type, "config") && strcmp(k->type, "finished")) json_object_set_new(inner, "message", json_string(msg ? msg : ""));
  return json_pack("{s:o}", k->type, inner);
}

int svc__settle(svc *s, const store_device_claim *c, const store_command *k, const svc_outcome *o, err_t *e) {
  json_t *resp;
  if (o->failed)
    resp = json_pack("{s:{s:i, s:s}}", "errorResponse", "cmeError", (int)o->cme, "message", o->message ? o->message : "");
  else if (o->response && json_object_size(o->response) == 1 && json_object_get(o->response, k->type))
    resp = json_incref(o->response);
  else if (o->response)
    resp = json_pack("{s:O}", k->type, o->response);
  else
    resp = success_response(k, o->message);
  char *text = json_dumps(resp, JSON_COMPACT | JSON_PRESERVE_ORDER);
  int rc = 0;
  if (!text || store_command_set_status(s->store, k->seq, o->failed ? "FAILED" : "SUCCEEDED", text) ||
      (o->failed && store_command_cancel_after(s->store, c->seq, k->qseq)) || store_claim_touch(s->store, c->seq))
    rc = err_set(e, ERR_INTERNAL, "cannot settle command %s", k->id);
  if (!rc && o->failed) {
    svc__event_team(s, "command.failed", c->device_id, c->team_id, "{s:s, s:s, s:i, s:s}", "commandId", k->id, "type", k->type,
                    "cmeError", (int)o->cme, "message", o->message ? o->message : "");
    /* A failure cancels the rest of the queue and reports ERROR (docs/owner-api.md §3.4). */
    svc__event_team(s, "device.error", c->device_id, c->team_id, "{s:s, s:i}", "commandId", k->id, "cmeError", (int)o->cme);
  } else if (!rc) {
    svc__event_team(s, "command.succeeded", c->device_id, c->team_id, "{s:s, s:s}", "commandId", k->id, "type", k->type);
  }
  if (!rc && !o->failed && !strcmp(k->type, "cloudAccessKeyGeneration")) {
    json_t *csr = json_object_get(json_object_get(resp, k->type), "csr");
    if (json_string_length(csr)) rc = svc__onboard(s, c, k, json_string_value(csr), e);
  }
  free(text);
  json_decref(resp);
  return rc;
}

static int report(svc *s, const store_device_claim *c, const dcbor_response *r, size_t n, err_t *e) {
  bool settled = false, failed = false;
  for (size_t i = 0; i < n; i++) {
    int64_t pos = step_position(c, r[i].cid);
    store_command k;
    if (!pos) {
      log_msg(LOG_DEBUG, "device %s: ignoring unknown correlation id %s", c->device_id, r[i].cid);
      continue;
    }
    int rc = store_command_by_qseq(s->store, c->seq, pos / 2, &k);
    if (rc < 0) return err_set(e, ERR_INTERNAL, "cannot read the queue");
    if (rc > 0) continue;
    bool open = !strcmp(k.status, "PENDING") || !strcmp(k.status, "IN_PROGRESS");
    bool pre = pos % 2 == 0;
    if (open && r[i].type == DRSP_ERROR) {
      svc_outcome o = {.failed = true, .cme = r[i].cme, .message = r[i].message};
      rc = svc__settle(s, c, &k, &o, e);
      settled = failed = true;
    } else if (open && pre) {
      /* A pre-step's answer only advances to the main step. */
      rc = store_command_set_pre_done(s->store, k.seq) ? err_set(e, ERR_INTERNAL, "cannot update the queue") : 0;
    } else if (open) {
      /* A %KEYGEN answer that does not hold fails its command (docs/keygen.md). */
      char bad[320];
      int kc = svc__keygen_type(k.type) ? svc__keygen_check(s, c, &k, r[i].message, bad, sizeof bad, e) : 0;
      if (kc < 0) {
        rc = kc;
      } else if (kc > 0) {
        log_msg(LOG_WARN, "device %s: command %s FAILED: %s", c->device_id, k.id, bad);
        svc_outcome o = {.failed = true, .cme = 0, .message = bad};
        rc = svc__settle(s, c, &k, &o, e);
        settled = failed = true;
      } else {
        svc_outcome o = {.failed = false, .message = r[i].message};
        rc = svc__settle(s, c, &k, &o, e);
        settled = true;
      }
    }
    store_command_free(&k);
    if (rc) return rc;
  }
  if (settled && store_claim_set_report(s->store, c->seq, failed ? 2 : 1)) return err_set(e, ERR_INTERNAL, "cannot record the report");
  return 0;
}

int svc_device_report(svc *s, const char *device_id, const uint8_t *cbor, size_t len, err_t *e) {
  dcbor_response *r = NULL;
  size_t n = 0;
  char why[256];
  if (dcbor_decode_responses(cbor, len, &r, &n, why, sizeof why)) return err_set(e, ERR_BAD_CBOR, "responses: %s", why);
  int rc;
  if (store_begin(s->store)) rc = err_set(e, ERR_INTERNAL, "store unavailable");
  else {
    store_device_claim c;
    rc = device_claim(s, device_id, &c, e);
    if (!rc) rc = report(s, &c, r, n, e);
    if (!rc && !(rc = device_claim(s, device_id, &c, e))) rc = svc__apply_rules(s, &c, e);
    if (store_end(s->store, rc == 0) && !rc) rc = err_set(e, ERR_INTERNAL, "cannot commit");
  }
  dcbor_responses_free(r, n);
  return rc;
}
