/* Fault rules: validation, the list (a singly linked list in creation order under one
 * mutex), matching, and the per-rule PRNG.
 *
 * The request path reads two atomics (faults_any, faults_needs) and takes the lock only
 * when a rule is held. The PRNG is splitmix64: tiny, good enough for a coin toss, and
 * the same sequence for the same seed on every platform. */
#include "faults.h"

#include <ctype.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <uuid/uuid.h>

#include "service/svc.h"

#define MAX_DELAY_MS 600000
#define MAX_RULES 1000

/* Protocol bits of a rule's match.protocol. */
enum { P_HTTP = 1, P_HTTPS = 2, P_COAP = 4, P_COAPS = 8 };

typedef struct rule {
  struct rule *next;
  char id[37];
  char protocol[8];     /* as given: any, http, https, coap, coaps */
  unsigned protocols;   /* P_* bits */
  char method[16];      /* upper case; "" = any */
  char *path;           /* as given */
  const char *stem;     /* path without its leading '/' and, for a prefix, its '*' */
  size_t stem_len;
  bool prefix;
  char *device_id, *team; /* NULL = any; team is the API key */
  char team_owner[37];    /* the ownerId of team: what the rule shows of it */
  fault_action action;
  json_t *action_json;  /* the action as echoed */
  long times;           /* remaining; -1 = unlimited */
  double probability;
  uint64_t seed, rng;
  uint64_t fired;
} rule;

struct faults {
  pthread_mutex_t lock;
  rule *head;
  atomic_size_t n;
  atomic_uint needs;
  atomic_uint_fast64_t fired[4]; /* http, https, coap, coaps */
};

faults *faults_new(void) {
  faults *f = calloc(1, sizeof *f);
  if (!f) return NULL;
  pthread_mutex_init(&f->lock, NULL);
  return f;
}

static void rule_free(rule *r) {
  if (!r) return;
  free(r->path);
  free(r->device_id);
  free(r->team);
  json_decref(r->action_json);
  free(r);
}

void faults_free(faults *f) {
  if (!f) return;
  faults_clear(f, NULL);
  pthread_mutex_destroy(&f->lock);
  free(f);
}

bool faults_any(faults *f) { return f && atomic_load_explicit(&f->n, memory_order_relaxed) > 0; }

unsigned faults_needs(faults *f) { return f ? atomic_load(&f->needs) : 0; }

size_t faults_count(faults *f) { return f ? atomic_load(&f->n) : 0; }

static int protocol_index(const char *p) {
  if (!p) return -1;
  if (!strcmp(p, "http")) return 0;
  if (!strcmp(p, "https")) return 1;
  if (!strcmp(p, "coap")) return 2;
  if (!strcmp(p, "coaps")) return 3;
  return -1;
}

uint64_t faults_fired(faults *f, const char *protocol) {
  int i = protocol_index(protocol);
  return f && i >= 0 ? atomic_load(&f->fired[i]) : 0;
}

/* Recount and recompute the needs bits; under the lock. */
static void refresh(faults *f) {
  size_t n = 0;
  unsigned needs = 0;
  for (rule *r = f->head; r; r = r->next) {
    n++;
    if (r->device_id) needs |= FAULT_NEEDS_DEVICE;
    if (r->team) needs |= FAULT_NEEDS_TEAM;
  }
  atomic_store(&f->needs, needs);
  atomic_store(&f->n, n);
}

/* ---- the actions as each transport reads them ------------------------------------ */

int fault_http_status(const fault_action *a) {
  if (a->status) return a->status;
  if (a->coap_code >= 400 && a->coap_code < 600) return a->coap_code;
  return 0;
}

bool fault_http_closes(const fault_action *a) { return a->close || a->drop; }

int fault_coap_code(const fault_action *a) {
  if (a->coap_code) return a->coap_code;
  if (a->status >= 400 && a->status < 600 && a->status % 100 <= 31) return a->status;
  return 0;
}

bool fault_coap_drops(const fault_action *a) { return a->drop || a->close; }

/* ---- matching --------------------------------------------------------------------- */

static uint64_t splitmix64(uint64_t *state) {
  uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

static bool path_matches(const rule *r, const char *path) {
  if (!path) return false;
  if (*path == '/') path++;
  if (r->prefix) return !strncmp(path, r->stem, r->stem_len);
  return strlen(path) == r->stem_len && !memcmp(path, r->stem, r->stem_len);
}

static bool request_matches(const rule *r, const fault_request *q, int proto) {
  if (proto < 0 || !(r->protocols & (1u << proto))) return false;
  if (*r->method && (!q->method || strcasecmp(r->method, q->method))) return false;
  if (!path_matches(r, q->path)) return false;
  if (r->device_id && (!q->device_id || strcasecmp(r->device_id, q->device_id))) return false;
  if (r->team && (!q->team || strcmp(r->team, q->team))) return false;
  return true;
}

int faults_match(faults *f, const fault_request *q, fault_action *out, char rule_id[37]) {
  if (!faults_any(f)) return 0;
  int proto = protocol_index(q->protocol);
  int fired = 0;
  pthread_mutex_lock(&f->lock);
  for (rule **link = &f->head, *r; (r = *link); link = &r->next) {
    if (!request_matches(r, q, proto)) continue;
    /* A rule that matches but loses its draw lets the later rules have their turn. */
    if (r->probability < 1.0 && (double)(splitmix64(&r->rng) >> 11) * 0x1.0p-53 >= r->probability) continue;
    *out = r->action;
    memcpy(rule_id, r->id, 37);
    r->fired++;
    atomic_fetch_add(&f->fired[proto], 1);
    fired = 1;
    if (r->times > 0 && --r->times == 0) {
      *link = r->next;
      rule_free(r);
      refresh(f);
    }
    break;
  }
  pthread_mutex_unlock(&f->lock);
  return fired;
}

/* ---- validation ------------------------------------------------------------------- */

/* Refuse keys of obj outside allowed (NULL-terminated); where names obj in messages. */
static int known_keys(json_t *obj, const char *where, const char *const *allowed, err_t *e) {
  const char *key;
  json_t *v;
  json_object_foreach(obj, key, v) {
    bool ok = false;
    for (size_t i = 0; allowed[i] && !ok; i++) ok = !strcmp(key, allowed[i]);
    if (!ok) return err_set(e, ERR_BAD_FIELD, "%s%s: unknown field", where, key);
  }
  return 0;
}

/* An optional string of 1..max characters; *out stays NULL when absent or null. */
static int opt_string(json_t *obj, const char *field, size_t max, const char **out, err_t *e) {
  json_t *v = json_object_get(obj, field);
  *out = NULL;
  if (!v || json_is_null(v)) return 0;
  if (!json_is_string(v) || !json_string_length(v) || json_string_length(v) > max)
    return err_set(e, ERR_BAD_FIELD, "match.%s: must be a string of 1 to %zu characters", field, max);
  *out = json_string_value(v);
  return 0;
}

static int parse_match(json_t *m, rule *r, err_t *e) {
  static const char *const allowed[] = {"protocol", "method", "path", "deviceId", "team", NULL};
  if (!m || json_is_null(m)) return err_set(e, ERR_MISSING_FIELD, "match: required, an object with at least \"path\"");
  if (!json_is_object(m)) return err_set(e, ERR_BAD_FIELD, "match: must be an object");
  int rc = known_keys(m, "match.", allowed, e);
  if (rc) return rc;
  const char *protocol, *method, *path, *device, *team;
  if ((rc = opt_string(m, "protocol", 16, &protocol, e)) || (rc = opt_string(m, "method", 15, &method, e)) ||
      (rc = opt_string(m, "deviceId", 64, &device, e)) || (rc = opt_string(m, "team", 512, &team, e)))
    return rc;
  json_t *p = json_object_get(m, "path");
  if (!p || json_is_null(p) || (json_is_string(p) && !json_string_length(p)))
    return err_set(e, ERR_MISSING_FIELD, "match.path: required (exact, or a prefix ending in *)");
  if (!json_is_string(p) || json_string_length(p) > 1024)
    return err_set(e, ERR_BAD_FIELD, "match.path: must be a string of at most 1024 characters");
  path = json_string_value(p);
  if (strchr(path, '*') && strchr(path, '*') != path + strlen(path) - 1)
    return err_set(e, ERR_BAD_FIELD, "match.path: '*' may only end the path (a prefix)");

  if (!protocol) protocol = "any";
  if (!strcmp(protocol, "any")) r->protocols = P_HTTP | P_HTTPS | P_COAP | P_COAPS;
  else if (!strcmp(protocol, "http")) r->protocols = P_HTTP | P_HTTPS;
  else if (!strcmp(protocol, "https")) r->protocols = P_HTTPS;
  else if (!strcmp(protocol, "coap")) r->protocols = P_COAP | P_COAPS;
  else if (!strcmp(protocol, "coaps")) r->protocols = P_COAPS;
  else return err_set(e, ERR_BAD_FIELD, "match.protocol: must be http, https, coap, coaps or any");
  snprintf(r->protocol, sizeof r->protocol, "%s", protocol);
  if (method) {
    for (size_t i = 0; method[i]; i++) {
      if (!isalpha((unsigned char)method[i])) return err_set(e, ERR_BAD_FIELD, "match.method: must be a method name such as GET");
      r->method[i] = (char)toupper((unsigned char)method[i]);
    }
  }
  r->path = strdup(path);
  r->prefix = path[strlen(path) - 1] == '*';
  r->stem = r->path + (*r->path == '/');
  r->stem_len = strlen(r->stem) - (r->prefix ? 1 : 0);
  if (device) r->device_id = strdup(device);
  if (team) {
    r->team = strdup(team);
    svc_owner_id(team, r->team_owner);
  }
  return 0;
}

/* "c.dd" with class 2..5 and detail 00..31 as class*100+detail, or -1. */
static int parse_coap_code(const char *s) {
  if (strlen(s) != 4 || s[1] != '.' || s[0] < '2' || s[0] > '5' || !isdigit((unsigned char)s[2]) || !isdigit((unsigned char)s[3]))
    return -1;
  int detail = (s[2] - '0') * 10 + (s[3] - '0');
  return detail > 31 ? -1 : (s[0] - '0') * 100 + detail;
}

static int parse_flag(json_t *a, const char *field, bool *out, err_t *e) {
  json_t *v = json_object_get(a, field);
  *out = false;
  if (!v || json_is_null(v)) return 0;
  if (!json_is_boolean(v)) return err_set(e, ERR_BAD_FIELD, "action.%s: must be true or false", field);
  *out = json_is_true(v);
  return 0;
}

static int parse_action(json_t *a, rule *r, err_t *e) {
  static const char *const allowed[] = {"status", "coapCode", "delayMs", "drop", "closeConnection", NULL};
  if (!a || json_is_null(a) || (json_is_object(a) && !json_object_size(a)))
    return err_set(e, ERR_MISSING_FIELD, "action: required, one of status, coapCode, delayMs, drop, closeConnection");
  if (!json_is_object(a)) return err_set(e, ERR_BAD_FIELD, "action: must be an object");
  int rc = known_keys(a, "action.", allowed, e);
  if (rc) return rc;
  fault_action *x = &r->action;
  json_t *echo = json_object(), *v;
  if ((v = json_object_get(a, "status")) && !json_is_null(v)) {
    if (!json_is_integer(v) || json_integer_value(v) < 200 || json_integer_value(v) > 599)
      rc = err_set(e, ERR_BAD_FIELD, "action.status: must be an HTTP status from 200 to 599");
    else json_object_set_new(echo, "status", json_integer(x->status = (int)json_integer_value(v)));
  }
  if (!rc && (v = json_object_get(a, "coapCode")) && !json_is_null(v)) {
    if (!json_is_string(v) || (x->coap_code = parse_coap_code(json_string_value(v))) < 0)
      rc = err_set(e, ERR_BAD_FIELD, "action.coapCode: must be a CoAP response code such as \"5.03\" (2.00 to 5.31)");
    else json_object_set(echo, "coapCode", v);
  }
  if (!rc && (v = json_object_get(a, "delayMs")) && !json_is_null(v)) {
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > MAX_DELAY_MS)
      rc = err_set(e, ERR_BAD_FIELD, "action.delayMs: must be an integer from 0 to %d", MAX_DELAY_MS);
    else json_object_set_new(echo, "delayMs", json_integer(x->delay_ms = (int)json_integer_value(v)));
  }
  if (!rc) rc = parse_flag(a, "drop", &x->drop, e);
  if (!rc) rc = parse_flag(a, "closeConnection", &x->close, e);
  if (!rc && (x->drop || x->close) && (x->status || x->coap_code))
    rc = err_set(e, ERR_BAD_FIELD, "action.%s: cannot be combined with an answer (status, coapCode)", x->drop ? "drop" : "closeConnection");
  if (!rc && !x->status && !x->coap_code && !x->delay_ms && !x->drop && !x->close)
    rc = err_set(e, ERR_BAD_FIELD, "action: must do something: status, coapCode, delayMs > 0, drop or closeConnection");
  if (rc) {
    json_decref(echo);
    return rc;
  }
  if (x->drop) json_object_set_new(echo, "drop", json_true());
  if (x->close) json_object_set_new(echo, "closeConnection", json_true());
  r->action_json = echo;
  return 0;
}

static int parse_rule(json_t *body, rule *r, err_t *e) {
  /* id and fired are what GET shows (ignored here), so a listed rule may be posted back. */
  static const char *const allowed[] = {"match", "action", "times", "probability", "seed", "id", "fired", NULL};
  int rc = known_keys(body, "", allowed, e);
  if (!rc) rc = parse_match(json_object_get(body, "match"), r, e);
  if (!rc) rc = parse_action(json_object_get(body, "action"), r, e);
  if (rc) return rc;
  json_t *times = json_object_get(body, "times"), *p = json_object_get(body, "probability"),
         *seed = json_object_get(body, "seed");
  r->times = -1;
  if (times && !json_is_null(times)) {
    if (!json_is_integer(times) || json_integer_value(times) < 1 || json_integer_value(times) > 1000000000)
      return err_set(e, ERR_BAD_FIELD, "times: must be a positive integer (absent or null = unlimited)");
    r->times = (long)json_integer_value(times);
  }
  r->probability = 1.0;
  if (p && !json_is_null(p)) {
    if (!json_is_number(p) || json_number_value(p) < 0.0 || json_number_value(p) > 1.0)
      return err_set(e, ERR_BAD_FIELD, "probability: must be a number from 0 to 1");
    r->probability = json_number_value(p);
  }
  if (seed && !json_is_null(seed)) {
    if (!json_is_integer(seed) || json_integer_value(seed) < 0)
      return err_set(e, ERR_BAD_FIELD, "seed: must be a non-negative integer");
    r->seed = (uint64_t)json_integer_value(seed);
  } else {
    /* No seed given: pick one and echo it, so the run can be repeated with it. */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t st = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^ (uint64_t)(uintptr_t)r;
    r->seed = splitmix64(&st) >> 12; /* fits a JSON integer exactly */
  }
  r->rng = r->seed;
  return 0;
}

static json_t *rule_json(const rule *r) {
  json_t *m = json_pack("{s:s}", "protocol", r->protocol);
  if (*r->method) json_object_set_new(m, "method", json_string(r->method));
  json_object_set_new(m, "path", json_string(r->path));
  if (r->device_id) json_object_set_new(m, "deviceId", json_string(r->device_id));
  /* A team shows as its ownerId, never as its API key: the rules are visible to every
   * control caller (docs/control-api.md §5). */
  if (r->team) json_object_set_new(m, "team", json_string(r->team_owner));
  /* A copy, not a reference: the listing is rendered outside the lock, while another
   * thread (CoAP's or an HTTP worker) may free the rule that fired its last time. */
  json_t *o = json_pack("{s:s, s:o, s:o}", "id", r->id, "match", m, "action", json_deep_copy(r->action_json));
  json_object_set_new(o, "times", r->times < 0 ? json_null() : json_integer(r->times));
  json_object_set_new(o, "probability", json_real(r->probability));
  json_object_set_new(o, "seed", json_integer((json_int_t)r->seed));
  json_object_set_new(o, "fired", json_integer((json_int_t)r->fired));
  return o;
}

int faults_add(faults *f, json_t *body, json_t **out, err_t *e) {
  rule *r = calloc(1, sizeof *r);
  if (!r) return err_set(e, ERR_INTERNAL, "out of memory");
  int rc = parse_rule(body, r, e);
  if (rc) {
    rule_free(r);
    return rc;
  }
  uuid_t u;
  uuid_generate_random(u);
  uuid_unparse_lower(u, r->id);
  pthread_mutex_lock(&f->lock);
  if (atomic_load(&f->n) >= MAX_RULES) {
    pthread_mutex_unlock(&f->lock);
    rule_free(r);
    return err_set(e, ERR_BAD_FIELD, "too many fault rules (at most %d); delete some first", MAX_RULES);
  }
  rule **link = &f->head;
  while (*link) link = &(*link)->next;
  *link = r;
  *out = rule_json(r);
  refresh(f);
  pthread_mutex_unlock(&f->lock);
  return 0;
}

json_t *faults_list(faults *f) {
  json_t *items = json_array();
  pthread_mutex_lock(&f->lock);
  for (rule *r = f->head; r; r = r->next) json_array_append_new(items, rule_json(r));
  pthread_mutex_unlock(&f->lock);
  return json_pack("{s:o}", "items", items);
}

int faults_delete(faults *f, const char *id) {
  rule *gone = NULL;
  pthread_mutex_lock(&f->lock);
  for (rule **link = &f->head; *link; link = &(*link)->next)
    if (!strcasecmp((*link)->id, id)) {
      gone = *link;
      *link = gone->next;
      refresh(f);
      break;
    }
  pthread_mutex_unlock(&f->lock);
  rule_free(gone);
  return gone ? 0 : 1;
}

void faults_clear(faults *f, const char *api_key) {
  if (!f) return;
  rule *gone = NULL;
  pthread_mutex_lock(&f->lock);
  for (rule **link = &f->head; *link;) {
    rule *r = *link;
    if (api_key && (!r->team || strcmp(r->team, api_key))) {
      link = &r->next;
      continue;
    }
    *link = r->next;
    r->next = gone;
    gone = r;
  }
  refresh(f);
  pthread_mutex_unlock(&f->lock);
  while (gone) {
    rule *next = gone->next;
    rule_free(gone);
    gone = next;
  }
}
