/* libmicrohttpd listener: request accumulation, routing, answers, request log lines,
 * and the control API's hooks: fault injection before dispatch, the request journal and
 * the metrics counters where the log line is written.
 *
 * The daemon runs a small pool of internal poll threads (not epoll: Debian 12's 0.9.75
 * starves many keep-alive connections under epoll). A request is handled in the pool
 * thread that read it; handlers are synchronous and short (one store transaction).
 *
 * Fault delays never block a pool thread: the connection is suspended
 * (MHD_suspend_connection) and a timer thread per listener resumes it when its time has
 * come, after which libmicrohttpd calls on_request again and the request goes on. On
 * stop, every delayed connection is resumed at once and answered before the daemon is
 * stopped (libmicrohttpd forbids stopping with suspended connections). */
#include "http.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "faults.h"
#include "journal.h"
#include "log.h"
#include "metrics.h"
#include "route.h"
#include "service/control.h"

/* A connection suspended for a fault's delayMs, due to be resumed at due_us. */
typedef struct delayed {
  struct delayed *next;
  struct MHD_Connection *conn;
  int64_t due_us;
} delayed;

struct http_server {
  struct MHD_Daemon *daemon;
  app *app;
  const char *protocol;
  int port;
  /* Fault delays: the suspended connections, soonest first, and their timer thread. */
  pthread_mutex_t delay_lock;
  pthread_cond_t delay_cond;
  delayed *delays;
  int suspended;        /* delayed connections whose answer is not fully sent yet */
  bool stopping;
  bool timer_started;
  pthread_t timer;
};

/* One request as this file sees it: what handlers see (r, first, so the two pointers
 * are the same) and what only the listener needs. */
typedef struct {
  http_req r;
  bool started;         /* on_request has seen the headers */
  char *query;          /* the raw query, without '?'; NULL when none or the journal is off */
  int64_t wall_ms;      /* start, wall clock, for the journal */
  const char *route;    /* the matched route pattern, for metrics */
  bool suspended;       /* waiting out a fault's delay */
  bool faulted;         /* a fault rule fired: fault, fault_id */
  fault_action fault;
  char fault_id[37];
} http_exchange;

static atomic_uint_fast64_t request_counter;
static uint32_t request_prefix;

static int64_t now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ---- answers ---------------------------------------------------------------------- */

static void set_answer(http_req *r, unsigned status, const char *type, char *data, size_t len) {
  free(r->resp);
  r->status = status;
  r->resp_type = type;
  r->resp = data;
  r->resp_len = len;
}

void http__bytes(http_req *r, unsigned status, const char *type, void *data, size_t len) {
  set_answer(r, status, type, data, len);
}

void http__json(http_req *r, unsigned status, json_t *body) {
  char *s = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER);
  json_decref(body);
  if (!s) {
    http__fail(r, ERR_INTERNAL, "cannot render the answer");
    return;
  }
  set_answer(r, status, "application/json; charset=utf-8", s, strlen(s));
}

void http__error(http_req *r, const err_t *e) {
  if (e->id == ERR_INTERNAL)
    log_msg(LOG_ERROR, "request %s %s %s: %s", r->request_id, r->method, r->path, e->message);
  http__json(r, (unsigned)err_http_status(e->id), json_pack("{s:i, s:s}", "code", err_code(e->id), "message", e->message));
}

void http__fail(http_req *r, err_id id, const char *fmt, ...) {
  err_t e;
  va_list ap;
  va_start(ap, fmt);
  err_vset(&e, id, fmt, ap);
  va_end(ap);
  http__error(r, &e);
}

void http__empty(http_req *r, unsigned status) { set_answer(r, status, NULL, NULL, 0); }

/* ---- reading ---------------------------------------------------------------------- */

const char *http__query(http_req *r, const char *key) {
  return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, key);
}

const char *http__header(http_req *r, const char *name) {
  return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

json_t *http__body_object(http_req *r) {
  json_error_t je;
  if (r->body_len == 0) {
    http__fail(r, ERR_BAD_JSON, "body is empty; a JSON object is expected");
    return NULL;
  }
  json_t *v = json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES, &je);
  if (!v) {
    http__fail(r, ERR_BAD_JSON, "body is not valid JSON: %s (line %d, column %d)", je.text, je.line, je.column);
    return NULL;
  }
  if (!json_is_object(v)) {
    json_decref(v);
    http__fail(r, ERR_BAD_JSON, "body must be a JSON object");
    return NULL;
  }
  return v;
}

bool http__owner_auth(http_req *r) {
  const char *h = http__header(r, MHD_HTTP_HEADER_AUTHORIZATION);
  err_t e;
  if (!h) {
    http__fail(r, ERR_UNAUTHORIZED, "Authorization header is missing; send 'Authorization: Bearer <api key>'");
    return false;
  }
  if (strncasecmp(h, "Bearer ", 7) != 0 || !h[7 + strspn(h + 7, " ")]) {
    http__fail(r, ERR_UNAUTHORIZED, "Authorization header must be 'Bearer <api key>'");
    return false;
  }
  if (svc_team_auth(r->app->svc, h + 7 + strspn(h + 7, " "), &r->team, &e)) {
    http__error(r, &e);
    return false;
  }
  return true;
}

/* ---- routing ---------------------------------------------------------------------- */

/* Match path against pattern, filling r->params. */
static bool match(http_req *r, const char *pattern, const char *path) {
  size_t np = 0, used = 0;
  const char *p = pattern, *u = path;
  while (*p && *u) {
    if (p[0] == '{' && p[1] == '}') {
      size_t n = strcspn(u, "/");
      if (n == 0 || np >= HTTP_MAX_PARAMS || used + n + 1 > sizeof r->param_buf) return false;
      memcpy(r->param_buf + used, u, n);
      r->param_buf[used + n] = 0;
      r->params[np++] = r->param_buf + used;
      used += n + 1;
      p += 2;
      u += n;
    } else if (*p == *u) {
      p++;
      u++;
    } else {
      return false;
    }
  }
  return !*p && !*u;
}

/* The route of r's method and path, or NULL: then *pattern is the first pattern that
 * matched the path alone (405, methods in allow) or NULL (404). */
static const http_route *find_route(http_req *r, const char **pattern, char allow[64]) {
  *pattern = NULL;
  *allow = 0;
  for (size_t i = 0; i < http__n_routes; i++) {
    const http_route *rt = &http__routes[i];
    if (!match(r, rt->pattern, r->path)) continue;
    if (!strcmp(rt->method, r->method)) {
      *pattern = rt->pattern;
      return rt;
    }
    if (!*pattern) *pattern = rt->pattern;
    if (!strstr(allow, rt->method)) {
      if (*allow) strcat(allow, ", ");
      strcat(allow, rt->method);
    }
  }
  return NULL;
}

/* Route and handle r; returns the route pattern for metrics (NULL: no path matched). */
static const char *dispatch(http_req *r) {
  char allow[64];
  const char *pattern;
  const http_route *rt = find_route(r, &pattern, allow);
  if (rt) {
    rt->handler(r);
    return pattern;
  }
  if (*allow) {
    static _Thread_local char allow_buf[64];
    snprintf(allow_buf, sizeof allow_buf, "%s", allow);
    r->allow = allow_buf;
    http__fail(r, ERR_METHOD_NOT_ALLOWED, "method %s not allowed on %s (allowed: %s)", r->method, r->path, allow);
    return pattern;
  }
  http__fail(r, ERR_NOT_FOUND, "no such path: %s", r->path);
  return NULL;
}

/* ---- control API hooks: faults, journal, metrics ---------------------------------- */

static bool is_control(const char *path) { return !strncmp(path, "/_mock/", 7) || !strcmp(path, "/_mock"); }

static bool is_device_endpoint(const char *path) {
  return !strcmp(path, "/v1/provisioning/commands") || !strcmp(path, "/v1/provisioning/response");
}

/* The value of "Authorization: Bearer <value>", or NULL. */
static const char *bearer(http_req *r) {
  const char *h = http__header(r, MHD_HTTP_HEADER_AUTHORIZATION);
  if (!h || strncasecmp(h, "Bearer ", 7)) return NULL;
  h += 7 + strspn(h + 7, " ");
  return *h ? h : NULL;
}

/* The device a request is about, as fault rules see it before any handler runs: the
 * credential's device on the device endpoints (read, not verified), the {id} of an owner
 * path under /v1/claimed-devices/ or /v1/devices/. "" when none. */
static void device_of(http_req *r, char out[37]) {
  *out = 0;
  if (is_device_endpoint(r->path)) {
    const char *cred = bearer(r);
    if (!cred || svc_credential_device_id(cred, strlen(cred), out)) *out = 0;
    return;
  }
  static const char *const prefixes[] = {"/v1/claimed-devices/", "/v1/devices/"};
  for (size_t i = 0; i < 2; i++) {
    size_t n = strlen(prefixes[i]);
    if (strncmp(r->path, prefixes[i], n)) continue;
    const char *seg = r->path + n;
    size_t len = strcspn(seg, "/");
    if (len && len <= 36 && strncmp(seg, "bulk", len)) snprintf(out, 37, "%.*s", (int)len, seg);
  }
}

/* Check the fault rules; true when one fired (x->fault, x->fault_id). The device id and
 * the team are worked out only when some rule matches on them. */
static bool check_faults(http_server *h, http_exchange *x) {
  http_req *r = &x->r;
  faults *f = h->app->faults;
  unsigned needs = faults_needs(f);
  char device[37] = "", team_key[520] = "";
  const char *key = bearer(r);
  bool device_ep = is_device_endpoint(r->path);
  fault_request q = {.protocol = r->protocol, .method = r->method, .path = r->path};
  if (needs & (FAULT_NEEDS_DEVICE | FAULT_NEEDS_TEAM)) device_of(r, device);
  if (*device) q.device_id = device;
  /* match.team is an API key: the caller's own on owner calls, the key of the team that
   * has claimed the device on device calls. */
  if ((needs & FAULT_NEEDS_TEAM) && device_ep && *device && !svc_device_team_key(h->app->svc, device, team_key, sizeof team_key))
    q.team = team_key;
  else if (!device_ep)
    q.team = key;
  if (!faults_match(f, &q, &x->fault, x->fault_id)) return false;
  x->faulted = true;
  /* The handler may never run: fill in what the log line and the journal show. */
  r->device_endpoint = device_ep;
  if (!*device) device_of(r, device);
  if (device_ep) snprintf(r->device_id, sizeof r->device_id, "%s", device);
  else if (key && strlen(key) <= 512) svc_owner_id(key, r->team.owner_id);
  return true;
}

/* Answer as a fired fault with status S asks: {"code": S*100, "message": "injected fault <id>"}. */
static void answer_fault(http_exchange *x, int status) {
  char msg[64];
  snprintf(msg, sizeof msg, "injected fault %s", x->fault_id);
  http__json(&x->r, (unsigned)status, json_pack("{s:i, s:s}", "code", status * 100, "message", msg));
}

static int64_t wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Suspend x's connection for its fault's delay. False when it cannot be (no timer, or
 * the listener is stopping): the request then goes on at once. */
static bool suspend(http_server *h, http_exchange *x) {
  delayed *d = malloc(sizeof *d);
  if (!d) return false;
  d->conn = x->r.conn;
  d->due_us = now_us() + (int64_t)x->fault.delay_ms * 1000;
  pthread_mutex_lock(&h->delay_lock);
  if (!h->timer_started || h->stopping) {
    pthread_mutex_unlock(&h->delay_lock);
    free(d);
    return false;
  }
  /* Suspended before the timer can see it, so it is never resumed before it is suspended. */
  MHD_suspend_connection(x->r.conn);
  x->suspended = true;
  h->suspended++;
  delayed **link = &h->delays;
  while (*link && (*link)->due_us <= d->due_us) link = &(*link)->next;
  d->next = *link;
  *link = d;
  pthread_cond_broadcast(&h->delay_cond);
  pthread_mutex_unlock(&h->delay_lock);
  return true;
}

/* x is back from its delay (or gone): no longer counted as suspended. */
static void unsuspend(http_server *h, http_exchange *x) {
  pthread_mutex_lock(&h->delay_lock);
  if (x->suspended) {
    x->suspended = false;
    h->suspended--;
    pthread_cond_broadcast(&h->delay_cond);
  }
  pthread_mutex_unlock(&h->delay_lock);
}

/* The timer thread: resume each delayed connection when due, all of them on stop. */
static void *delay_timer(void *arg) {
  http_server *h = arg;
  pthread_mutex_lock(&h->delay_lock);
  for (;;) {
    delayed *d = h->delays;
    if (d && (h->stopping || d->due_us <= now_us())) {
      h->delays = d->next;
      pthread_mutex_unlock(&h->delay_lock);
      MHD_resume_connection(d->conn);
      free(d);
      pthread_mutex_lock(&h->delay_lock);
      continue;
    }
    if (h->stopping) break;
    if (!d) {
      pthread_cond_wait(&h->delay_cond, &h->delay_lock);
    } else {
      struct timespec ts = {.tv_sec = (time_t)(d->due_us / 1000000), .tv_nsec = (long)(d->due_us % 1000000) * 1000};
      pthread_cond_timedwait(&h->delay_cond, &h->delay_lock, &ts);
    }
  }
  pthread_mutex_unlock(&h->delay_lock);
  return NULL;
}

static bool is_cbor(const char *type) { return type && strstr(type, "cbor"); }

/* Everything written once a request is answered (status 0: closed without an answer):
 * the log line, the metrics counters, the journal entry (not for control calls). */
static void record(http_server *h, http_exchange *x, unsigned status) {
  http_req *r = &x->r;
  char status_text[12];
  if (status) snprintf(status_text, sizeof status_text, "%u", status);
  else snprintf(status_text, sizeof status_text, "none");
  double duration_ms = (double)(now_us() - r->start_us) / 1000.0;
  const char *fault = x->faulted ? x->fault_id : NULL;
  log_request_line l = {
    .request_id = r->request_id, .protocol = r->protocol, .method = r->method, .path = r->path,
    .status = status_text, .device_id = r->device_id, .team = r->team.owner_id, .fault = fault,
    .duration_ms = duration_ms,
  };
  log_request(&l);
  app *a = h->app;
  metrics_request(a->metrics, r->protocol, x->route, status_text);
  if (!strcmp(r->method, "GET") && !strcmp(r->path, "/v1/provisioning/commands")) metrics_device_poll(a->metrics, r->protocol);
  if (!journal_enabled(a->journal) || is_control(r->path)) return;
  journal_entry e = {
    .time_ms = x->wall_ms, .request_id = r->request_id, .protocol = r->protocol, .method = r->method,
    .path = r->path, .query = x->query, .status = (int)status, .device_id = r->device_id,
    .team = r->team.owner_id, .duration_ms = duration_ms,
    .request_body = r->body, .request_len = r->body_len,
    .request_binary = is_cbor(http__header(r, MHD_HTTP_HEADER_CONTENT_TYPE)) || !strcmp(r->path, "/v1/provisioning/response"),
    .response_body = r->resp, .response_len = r->resp_len, .response_binary = is_cbor(r->resp_type),
    .fault = fault,
  };
  journal_add(a->journal, &e);
}

/* ---- libmicrohttpd callbacks ------------------------------------------------------ */

static enum MHD_Result queue_answer(http_req *r) {
  struct MHD_Response *resp =
    MHD_create_response_from_buffer(r->resp_len, r->resp ? r->resp : (void *)"", r->resp ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
  if (!resp) return MHD_NO;
  r->resp = NULL; /* now owned by the response */
  if (r->resp_type) MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r->resp_type);
  if (!r->device_endpoint) MHD_add_response_header(resp, "X-Request-Id", r->request_id);
  if (r->allow) MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, r->allow);
  enum MHD_Result ret = MHD_queue_response(r->conn, r->status, resp);
  MHD_destroy_response(resp);
  return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls) {
  (void)version;
  http_server *h = cls;
  http_exchange *x = *con_cls;
  if (!x) {
    x = calloc(1, sizeof *x);
    if (!x) return MHD_NO;
    *con_cls = x;
  }
  http_req *r = &x->r;
  if (!x->started) {
    x->started = true;
    x->wall_ms = wall_ms();
    r->app = h->app;
    r->conn = conn;
    r->method = method;
    r->path = url;
    r->protocol = h->protocol;
    r->start_us = now_us();
    snprintf(r->request_id, sizeof r->request_id, "%08x%010llx", request_prefix,
             (unsigned long long)atomic_fetch_add(&request_counter, 1));
    const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl && strtoull(cl, NULL, 10) > HTTP_MAX_BODY) r->too_large = true;
    return MHD_YES;
  }
  if (*upload_size) {
    if (!r->too_large) {
      if (r->body_len + *upload_size > HTTP_MAX_BODY) {
        r->too_large = true;
        free(r->body);
        r->body = NULL;
        r->body_len = r->body_cap = 0;
      } else {
        if (r->body_len + *upload_size + 1 > r->body_cap) {
          size_t cap = r->body_cap ? r->body_cap : 1024;
          while (cap < r->body_len + *upload_size + 1) cap *= 2;
          char *nb = realloc(r->body, cap);
          if (!nb) return MHD_NO;
          r->body = nb;
          r->body_cap = cap;
        }
        memcpy(r->body + r->body_len, upload, *upload_size);
        r->body_len += *upload_size;
        r->body[r->body_len] = 0;
      }
    }
    *upload_size = 0;
    return MHD_YES;
  }
  /* The whole request is in. Fault rules come first (never for control calls), so a
   * fired fault keeps the request from the service altogether. */
  if (x->suspended) {
    /* Back from a fault's delay: carry out the rest of the action. It stays counted
     * until on_completed, so a stop waits for the answer to be sent, not just queued. */
  } else if (faults_any(h->app->faults) && !is_control(r->path) && check_faults(h, x)) {
    char allow[64];
    find_route(r, &x->route, allow);
    if (x->fault.delay_ms > 0 && suspend(h, x)) return MHD_YES;
  }
  if (x->faulted && fault_http_closes(&x->fault)) {
    record(h, x, 0);
    return MHD_NO; /* libmicrohttpd closes the connection without an answer */
  }
  if (x->faulted && fault_http_status(&x->fault))
    answer_fault(x, fault_http_status(&x->fault));
  else if (r->too_large)
    http__fail(r, ERR_TOO_LARGE, "body is larger than %d bytes", HTTP_MAX_BODY);
  else
    x->route = dispatch(r);
  record(h, x, r->status);
  return queue_answer(r);
}

/* Called once per request with its full URI, before the headers are read: the
 * request object starts here, holding the raw query the journal shows (libmicrohttpd
 * hands on_request the path only). */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn) {
  (void)conn;
  http_server *h = cls;
  http_exchange *x = calloc(1, sizeof *x);
  const char *q = strchr(uri, '?');
  if (x && q && q[1] && journal_enabled(h->app->journal)) x->query = strndup(q + 1, JOURNAL_CUT);
  return x;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe) {
  (void)conn;
  (void)toe;
  http_exchange *x = *con_cls;
  if (!x) return;
  if (x->suspended) unsuspend(cls, x);
  free(x->r.body);
  free(x->r.resp);
  free(x->query);
  free(x);
  *con_cls = NULL;
}

__attribute__((format(printf, 2, 0))) static void on_mhd_error(void *cls, const char *fmt, va_list ap) {
  (void)cls;
  char buf[512];
  vsnprintf(buf, sizeof buf, fmt, ap);
  buf[strcspn(buf, "\n")] = 0;
  log_msg(LOG_DEBUG, "libmicrohttpd: %s", buf);
}

int http_start(http_server **out, app *a, const http_listen *l, char *why, size_t whysz) {
  *out = NULL;
  if (!request_prefix) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    request_prefix = (uint32_t)(ts.tv_nsec ^ (ts.tv_sec << 12) ^ (uint32_t)getpid() << 20);
  }
  struct sockaddr_storage ss = {0};
  unsigned flags = MHD_USE_POLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME;
  if (strchr(l->bind, ':')) {
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons((uint16_t)l->port);
    if (inet_pton(AF_INET6, l->bind, &s6->sin6_addr) != 1) goto bad_addr;
    flags |= MHD_USE_IPv6;
  } else {
    struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
    s4->sin_family = AF_INET;
    s4->sin_port = htons((uint16_t)l->port);
    if (inet_pton(AF_INET, l->bind, &s4->sin_addr) != 1) goto bad_addr;
  }
  http_server *h = calloc(1, sizeof *h);
  if (!h) return snprintf(why, whysz, "out of memory"), -1;
  h->app = a;
  h->protocol = l->cert_pem ? "https" : "http";
  pthread_mutex_init(&h->delay_lock, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&h->delay_cond, &ca);
  pthread_condattr_destroy(&ca);
  struct MHD_OptionItem tls[] = {
    {MHD_OPTION_HTTPS_MEM_CERT, 0, (void *)(uintptr_t)l->cert_pem}, /* MHD only reads it */
    {MHD_OPTION_HTTPS_MEM_KEY, 0, (void *)(uintptr_t)l->key_pem},
    {MHD_OPTION_END, 0, NULL},
  };
  if (l->cert_pem) flags |= MHD_USE_TLS;
  /* The timer starts before the daemon: the daemon's workers read timer_started, so it
   * must be written before they exist. Without it, fault delays are skipped (the request
   * is answered at once). */
  h->timer_started = pthread_create(&h->timer, NULL, delay_timer, h) == 0;
  if (!h->timer_started) log_msg(LOG_WARN, "%s: no timer thread; fault delays will be skipped", h->protocol);
  h->daemon = MHD_start_daemon(
    flags, (uint16_t)l->port, NULL, NULL, on_request, h,
    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
    MHD_OPTION_THREAD_POOL_SIZE, (unsigned)(l->threads > 1 ? l->threads : 1),
    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120,
    MHD_OPTION_CONNECTION_LIMIT, (unsigned)1000,
    MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
    MHD_OPTION_URI_LOG_CALLBACK, on_uri, h,
    MHD_OPTION_EXTERNAL_LOGGER, on_mhd_error, h,
    MHD_OPTION_ARRAY, l->cert_pem ? tls : &tls[2],
    MHD_OPTION_END);
  if (!h->daemon) {
    snprintf(why, whysz, "cannot listen for %s on %s port %d (address in use, or not an address of this machine)",
             h->protocol, l->bind, l->port);
    pthread_mutex_lock(&h->delay_lock);
    h->stopping = true;
    pthread_cond_broadcast(&h->delay_cond);
    pthread_mutex_unlock(&h->delay_lock);
    if (h->timer_started) pthread_join(h->timer, NULL);
    pthread_cond_destroy(&h->delay_cond);
    pthread_mutex_destroy(&h->delay_lock);
    free(h);
    return -1;
  }
  const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_BIND_PORT);
  h->port = info ? info->port : l->port;
  *out = h;
  return 0;
bad_addr:
  snprintf(why, whysz, "--bind: '%s' is not an IPv4 or IPv6 address", l->bind);
  return -1;
}

int http_port(const http_server *h) { return h->port; }

void http_stop(http_server *h) {
  if (!h) return;
  MHD_quiesce_daemon(h->daemon);
  /* Resume every delayed connection now and let it be answered (bounded wait): the
   * daemon must not be stopped while any is suspended. */
  pthread_mutex_lock(&h->delay_lock);
  h->stopping = true;
  pthread_cond_broadcast(&h->delay_cond);
  pthread_mutex_unlock(&h->delay_lock);
  if (h->timer_started) pthread_join(h->timer, NULL);
  int64_t deadline = now_us() + 5000000;
  pthread_mutex_lock(&h->delay_lock);
  while (h->suspended > 0 && now_us() < deadline) {
    struct timespec ts = {.tv_sec = (time_t)(deadline / 1000000), .tv_nsec = (long)(deadline % 1000000) * 1000};
    pthread_cond_timedwait(&h->delay_cond, &h->delay_lock, &ts);
  }
  pthread_mutex_unlock(&h->delay_lock);
  MHD_stop_daemon(h->daemon);
  pthread_cond_destroy(&h->delay_cond);
  pthread_mutex_destroy(&h->delay_lock);
  free(h);
}
