/* libmicrohttpd listener: request accumulation, routing, answers, and the HTTP side of
 * the request pipeline (exchange.h, docs/architecture.md): the route is found once the
 * headers are in, the fault rules run before dispatch, the route's flags decide the
 * checks made before its handler (owner authentication, the control plane's checks), and
 * one record (log line, metrics, journal) is written per answered request.
 *
 * The daemon runs a small pool of internal poll threads (not epoll: Debian 12's 0.9.75
 * starves many keep-alive connections under epoll). A request is handled in the pool
 * thread that read it; handlers are synchronous and short (one store transaction).
 *
 * Group commit (docs/performance.md): a request whose write the store leaves in the open
 * group (svc_waiter.deferred) is suspended the same way and resumed by whichever thread
 * commits that group; its answer, record and journal entry come only then, replaced by a
 * 500 when the group did not commit. A worker handles its ready connections one after
 * the other, so the store asks the listener (next_at_hand) whether the worker has
 * another request waiting on one of its connections, to defer for it too.
 *
 * Fault delays never block a pool thread: the connection is suspended
 * (MHD_suspend_connection) and a timer thread per listener resumes it when its time has
 * come, after which libmicrohttpd calls on_request again and the request goes on. On
 * stop, every delayed connection is resumed at once and answered before the daemon is
 * stopped (libmicrohttpd forbids stopping with suspended connections).
 *
 * Limits (docs/control-api.md §5): libmicrohttpd caps the connections per listener and
 * per client address and closes idle ones (its inactivity timeout). It has no deadline
 * for a request's headers (a client sending one byte every few seconds is never idle),
 * so the same timer thread keeps one: every connection is watched from its start, its
 * headers are due --header-timeout-ms after the connection (first request) or the
 * request line (later ones on a keep-alive connection), and a connection past its due
 * time is shut down (shutdown(2), from the timer thread: libmicrohttpd then sees the
 * connection end and closes it itself). A connection leaves the watch list when
 * libmicrohttpd reports it closed, before it closes its socket, so the socket shut down
 * is always the connection's own. */
#include "http.h"

#include <arpa/inet.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "clock.h"
#include "exchange.h"
#include "faults.h"
#include "guard.h"
#include "journal.h"
#include "log.h"
#include "route.h"
#include "threads.h"

/* A connection as the header watchdog sees it: its socket, and when the headers of its
 * current request are due (0: none due, a request is being handled). due_us is written by
 * the worker that owns the connection and read by the timer thread. */
typedef struct watched {
  struct watched *prev, *next;
  int fd;
  _Atomic int64_t due_us;
  /* Group commit's hint (next_at_hand): the connection, on its worker's list. */
  struct MHD_Connection *conn;
  struct worker_conns *worker;
  struct watched *wprev, *wnext;
} watched;

/* The connections one worker thread of the pool owns (libmicrohttpd accepts, reads and
 * closes a connection in the same thread), under lock. */
typedef struct worker_conns {
  pthread_mutex_t lock;
  watched *head;
} worker_conns;

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
  int offloaded;        /* requests running on a thread of their own (offload) */
  bool stopping;
  bool timer_started;
  pthread_t timer;
  /* The header watchdog: every open connection, under watch_lock; swept by the timer. */
  pthread_mutex_t watch_lock;
  watched *watched;
  int64_t header_us, idle_us, sweep_us, swept_us;
  /* Each pool thread's connections, a slot claimed by the thread on its first accept. */
  worker_conns *workers;
  int n_workers;
  atomic_int workers_used;
};

/* One request as this file sees it: what handlers see (r, first, so the two pointers
 * are the same) and what only the listener needs. */
typedef struct {
  http_req r;
  bool started;         /* on_request has seen the headers */
  char *query;          /* the raw query, without '?'; NULL when none or the journal is off */
  bool suspended;       /* waiting out a fault's delay */
  http_server *server;
  svc_waiter wait;      /* group commit: the answer may wait for its group (docs/performance.md) */
  bool held;            /* suspended until wait.done (under delay_lock) */
  int outcome;          /* wait.done said: 1 committed, -1 not (under delay_lock) */
  bool offloaded;       /* handled on a thread of its own (EXCHANGE_OFFLOAD) */
  bool admitted;        /* the route's checks (control plane, API key) passed from the headers */
  bool faults_checked;  /* the fault rules have been asked (from the headers, for a refusal) */
  char allow[64];       /* the methods of the path, when its method has no route (405) */
} http_exchange;

static int64_t now_us(void) { return clock_mono_us(); }

static watched *watch_of(struct MHD_Connection *conn);

/* This pool thread's own connections (a slot claimed on its first accept; a thread
 * serves one daemon for its whole life), and the one whose request it is handling. */
static _Thread_local struct {
  worker_conns *conns;
  watched *current;
} me;

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
    log_msg(LOG_ERROR, "request %s %s %s: %s", r->ex.request_id, r->method, r->path, e->message);
  r->ex.error_code = err_code(e->id);
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

/* Check "Authorization: Bearer <api key>" and resolve the team; on failure answer 401
 * and return false. Run for the routes flagged EXCHANGE_OWNER, before their handler. */
static bool owner_auth(http_req *r) {
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
  memcpy(r->ex.team, r->team.owner_id, sizeof r->ex.team);
  return true;
}

/* ---- routing ---------------------------------------------------------------------- */

/* Match path against pattern, filling r->params: {} matches one non-empty segment (copied
 * into param_buf), a final {*} the non-empty rest of the path, slashes and all (pointed
 * to, not copied). */
static bool match(http_req *r, const char *pattern, const char *path) {
  size_t np = 0, used = 0;
  const char *p = pattern, *u = path;
  while (*p && *u) {
    if (p[0] == '{' && p[1] == '*' && p[2] == '}' && !p[3]) {
      if (np >= HTTP_MAX_PARAMS) return false;
      r->params[np++] = u;
      return true;
    }
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

/* Find r's route once its method and path are known: r->route (NULL: none for this
 * method), and the exchange's route label and flags. A path that only matches rows of
 * other methods takes the flags of the first of them (a 405 on a device or control path
 * is still a device or control call) and lists the methods in allow; a path that matches
 * no route takes the flags of the first zone row (handler NULL) it matches, if any. */
static void find_route(http_req *r, char allow[64]) {
  const http_route *path_row = NULL, *zone = NULL;
  *allow = 0;
  r->route = NULL;
  for (size_t i = 0; i < http__n_routes; i++) {
    const http_route *rt = &http__routes[i];
    if (!rt->handler) {
      if (!zone && !path_row && match(r, rt->pattern, r->path)) zone = rt;
      continue;
    }
    if (!match(r, rt->pattern, r->path)) continue;
    if (!strcmp(rt->method, r->method)) {
      r->route = rt;
      r->ex.route = rt->pattern;
      r->ex.flags = rt->flags;
      break;
    }
    if (!path_row) path_row = rt;
    if (!strstr(allow, rt->method)) {
      if (*allow) strcat(allow, ", ");
      strcat(allow, rt->method);
    }
  }
  if (!r->route && path_row) {
    /* A poll is a GET that reached its route. */
    r->ex.route = path_row->pattern;
    r->ex.flags = path_row->flags & ~EXCHANGE_POLL;
    match(r, path_row->pattern, r->path); /* its parameters, not those of the last row tried */
  } else if (!r->route && zone) {
    r->ex.flags = zone->flags;
    match(r, zone->pattern, r->path);
  }
  /* The owner API names the device its path is about (log line, journal, fault rules). */
  if ((r->ex.flags & EXCHANGE_PATH_DEVICE) && r->params[0] && strlen(r->params[0]) <= 36)
    snprintf(r->ex.path_device, sizeof r->ex.path_device, "%s", r->params[0]);
}

/* True when the headers announce a body: a Content-Length above 0, or chunks. One over
 * the size limit is not counted: its answer is 413 whatever its type. */
static bool body_announced(http_req *r) {
  const char *cl = http__header(r, MHD_HTTP_HEADER_CONTENT_LENGTH);
  if (cl) return strtoull(cl, NULL, 10) > 0 && strtoull(cl, NULL, 10) <= HTTP_MAX_BODY;
  return http__header(r, MHD_HTTP_HEADER_TRANSFER_ENCODING) != NULL;
}

/* The checks of the control plane (guard.h, docs/control-api.md §5) on a control or
 * owner call: Host, Origin, control token or peer, body type. True lets the request
 * through; false means the refusal was set as the answer. */
static bool control_admits(http_req *r) {
  const union MHD_ConnectionInfo *ci = MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
  guard_request q = {
    .control = r->ex.flags & EXCHANGE_CONTROL, .owner = r->ex.flags & EXCHANGE_OWNER,
    .health = !strcmp(r->method, "GET") && !strcmp(r->path, "/_mock/health"), .scheme = r->protocol,
    .host = http__header(r, MHD_HTTP_HEADER_HOST), .origin = http__header(r, MHD_HTTP_HEADER_ORIGIN),
    .token = http__header(r, "X-Mock-Token"), .content_type = http__header(r, MHD_HTTP_HEADER_CONTENT_TYPE),
    .peer = ci ? ci->client_addr : NULL,
    /* A body sent to a path and method with no route is answered 404/405, not 415. Run
     * from the headers, the body is known by its announcement. */
    .has_body = r->route && !r->too_large && (r->body_len > 0 || body_announced(r)),
  };
  err_t e;
  if (!guard_check(r->app->guard, &q, &e)) return true;
  http__error(r, &e);
  return false;
}

/* The checks r's route asks for before its handler: the control plane's, the owner's
 * API key. False with the refusal set as the answer. They need the headers only. */
static bool admits(http_req *r) {
  const http_route *rt = r->route;
  if ((rt->flags & (EXCHANGE_CONTROL | EXCHANGE_OWNER)) && !control_admits(r)) return false;
  if ((rt->flags & EXCHANGE_OWNER) && !owner_auth(r)) return false;
  return true;
}

/* Handle r on its route, or answer 405/404 when it has none. */
static void dispatch(http_exchange *x) {
  http_req *r = &x->r;
  const http_route *rt = r->route;
  /* A /_mock/ path with no route for this method still passes the control plane's
   * checks before its 404 or 405 (device calls pass none of them). */
  if (!rt && (r->ex.flags & (EXCHANGE_CONTROL | EXCHANGE_OWNER)) && !(r->ex.flags & EXCHANGE_DEVICE) && !control_admits(r))
    return;
  if (rt) {
    if (!x->admitted && !admits(r)) return;
    /* Device answers carry minimal headers (device_api.c), even error answers. */
    if (rt->flags & EXCHANGE_DEVICE) r->device_endpoint = true;
    rt->handler(r);
    return;
  }
  if (*x->allow) {
    r->allow = x->allow;
    http__fail(r, ERR_METHOD_NOT_ALLOWED, "method %s not allowed on %s (allowed: %s)", r->method, r->path, x->allow);
    return;
  }
  http__fail(r, ERR_NOT_FOUND, "no such path: %s", r->path);
}

/* Suspend x's connection until its group or its own thread is done (under delay_lock). */
static void hold(http_server *h, http_exchange *x) {
  MHD_suspend_connection(x->r.conn);
  if (!x->suspended) h->suspended++; /* back from a fault's delay, it is counted already */
  x->held = true;
}

/* The group x's write joined has committed (or not): from the thread that ended it. */
static void group_done(svc_waiter *w, bool committed) {
  http_exchange *x = w->ctx;
  http_server *h = x->server;
  pthread_mutex_lock(&h->delay_lock);
  x->outcome = committed ? 1 : -1;
  if (x->held) MHD_resume_connection(x->r.conn);
  pthread_mutex_unlock(&h->delay_lock);
}

/* True when r's write may be committed with others': an owner or device request whose
 * method can write (a GET never ends a transaction that could defer; arming it would
 * only cost the device polls). */
static bool may_join_group(const http_req *r) {
  return r->route && !(r->ex.flags & (EXCHANGE_CONTROL | EXCHANGE_PAGE)) && strcmp(r->method, MHD_HTTP_METHOD_GET) &&
         strcmp(r->method, MHD_HTTP_METHOD_HEAD);
}

/* Dispatch x, letting its write join the open group; true when x must wait for that
 * group (its connection is then suspended, resumed by group_done). */
static bool dispatch_grouped(http_server *h, http_exchange *x) {
  svc *s = h->app->svc;
  x->server = h;
  x->wait.done = group_done;
  x->wait.ctx = x;
  svc_defer_next(s, &x->wait);
  me.current = watch_of(x->r.conn);
  dispatch(x);
  me.current = NULL;
  svc_defer_next(s, NULL);
  if (!x->wait.deferred) return false;
  pthread_mutex_lock(&h->delay_lock);
  bool wait = !x->outcome;
  if (wait) hold(h, x);
  pthread_mutex_unlock(&h->delay_lock);
  return wait;
}

/* A request body from this size on, to a route flagged EXCHANGE_OFFLOAD, is handled on
 * a thread of its own while its connection is suspended: a 1000-row bulk claim takes
 * from milliseconds to a second or more (one signature check per row), and every other
 * connection the worker had accepted would wait that long. */
#define OFFLOAD_BODY 16384

static void *offloaded_main(void *arg) {
  http_exchange *x = arg;
  http_server *h = x->server;
  dispatch(x); /* no group: it commits on its own */
  pthread_mutex_lock(&h->delay_lock);
  x->outcome = 1;
  h->offloaded--;
  MHD_resume_connection(x->r.conn);
  pthread_cond_broadcast(&h->delay_cond);
  pthread_mutex_unlock(&h->delay_lock);
  return NULL;
}

/* Hand x to a thread of its own when its route and size ask for it; true when handed
 * (the connection is then suspended until that thread is done). */
static bool offload(http_server *h, http_exchange *x) {
  if (!(x->r.route->flags & EXCHANGE_OFFLOAD) || x->r.body_len < OFFLOAD_BODY) return false;
  x->server = h;
  x->offloaded = true;
  /* The thread resumes the connection under delay_lock, so holding it until the
   * connection is suspended keeps the resume after the suspend. */
  pthread_mutex_lock(&h->delay_lock);
  pthread_t t;
  bool ok = !h->stopping && !threads_start(&t, true, offloaded_main, x);
  if (ok) {
    hold(h, x);
    h->offloaded++;
  }
  pthread_mutex_unlock(&h->delay_lock);
  if (!ok) x->offloaded = false;
  return ok;
}

/* x's answer stands when its group committed; else it becomes the store's 500. */
static void settle_grouped(http_server *h, http_exchange *x) {
  if (!x->wait.deferred) return;
  pthread_mutex_lock(&h->delay_lock);
  bool failed = x->outcome < 0;
  pthread_mutex_unlock(&h->delay_lock);
  if (failed) {
    err_t e;
    svc_waiter_error(&x->wait, &e);
    http__error(&x->r, &e);
  }
}

/* ---- the pipeline's hooks: faults, journal, metrics -------------------------------- */

/* The value of "Authorization: Bearer <value>", or NULL. */
static const char *bearer(http_req *r) {
  const char *h = http__header(r, MHD_HTTP_HEADER_AUTHORIZATION);
  if (!h || strncasecmp(h, "Bearer ", 7)) return NULL;
  h += 7 + strspn(h + 7, " ");
  return *h ? h : NULL;
}

/* Check the fault rules; true when one fired. The subject as fault rules see it before
 * any handler runs: the credential's device on device calls (read, not verified), the
 * device the path names on owner calls, and the caller's API key. */
static bool check_faults(http_exchange *x) {
  http_req *r = &x->r;
  const char *key = bearer(r);
  exchange_subject s = {.device_call = r->ex.flags & EXCHANGE_DEVICE};
  if (s.device_call) {
    s.credential = key;
    s.credential_len = key ? strlen(key) : 0;
  } else {
    s.device_id = *r->ex.path_device ? r->ex.path_device : NULL;
    s.api_key = key;
  }
  if (!exchange_faults(&r->ex, r->app, &s)) return false;
  /* The handler may never run: a device call still answers with minimal headers. */
  r->device_endpoint = s.device_call;
  return true;
}

/* Answer as a fired fault with status S asks: {"code": S*100, "message": "injected fault <id>"}. */
static void answer_fault(http_exchange *x, int status) {
  char msg[64];
  snprintf(msg, sizeof msg, "injected fault %s", x->r.ex.fault_id);
  x->r.ex.error_code = status * 100;
  http__json(&x->r, (unsigned)status, json_pack("{s:i, s:s}", "code", status * 100, "message", msg));
}

/* Suspend x's connection for its fault's delay. False when it cannot be (no timer, or
 * the listener is stopping): the request then goes on at once. */
static bool suspend(http_server *h, http_exchange *x) {
  delayed *d = malloc(sizeof *d);
  if (!d) return false;
  d->conn = x->r.conn;
  d->due_us = now_us() + (int64_t)x->r.ex.fault.delay_ms * 1000;
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
  if (x->suspended || x->held) {
    x->suspended = x->held = false;
    h->suspended--;
    pthread_cond_broadcast(&h->delay_cond);
  }
  pthread_mutex_unlock(&h->delay_lock);
}

/* Shut down every connection whose headers are overdue. */
static void sweep(http_server *h) {
  int64_t now = now_us();
  int cut = 0;
  pthread_mutex_lock(&h->watch_lock);
  for (watched *w = h->watched; w; w = w->next) {
    int64_t due = atomic_load_explicit(&w->due_us, memory_order_relaxed);
    if (due && due <= now) {
      atomic_store_explicit(&w->due_us, 0, memory_order_relaxed);
      shutdown(w->fd, SHUT_RDWR);
      cut++;
    }
  }
  pthread_mutex_unlock(&h->watch_lock);
  if (cut) log_msg(LOG_DEBUG, "%s: closed %d connection(s) whose headers did not arrive within %lld ms", h->protocol, cut,
                   (long long)(h->header_us / 1000));
}

/* The timer thread: resume each delayed connection when due, all of them on stop; sweep
 * the watch list every sweep_us. */
static void *delay_timer(void *arg) {
  http_server *h = arg;
  pthread_mutex_lock(&h->delay_lock);
  for (;;) {
    if (now_us() - h->swept_us >= h->sweep_us) {
      pthread_mutex_unlock(&h->delay_lock);
      sweep(h);
      h->swept_us = now_us();
      pthread_mutex_lock(&h->delay_lock);
    }
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
    int64_t wake = h->swept_us + h->sweep_us;
    if (d && d->due_us < wake) wake = d->due_us;
    struct timespec ts = {.tv_sec = (time_t)(wake / 1000000), .tv_nsec = (long)(wake % 1000000) * 1000};
    pthread_cond_timedwait(&h->delay_cond, &h->delay_lock, &ts);
  }
  pthread_mutex_unlock(&h->delay_lock);
  return NULL;
}

static bool is_cbor(const char *type) { return type && strstr(type, "cbor"); }

/* Write the record of an answered request (status 0: closed without an answer). */
static void record(http_server *h, http_exchange *x, unsigned status) {
  http_req *r = &x->r;
  char status_text[12];
  if (status) snprintf(status_text, sizeof status_text, "%u", status);
  else snprintf(status_text, sizeof status_text, "none");
  exchange_outcome o = {.status = status_text, .code = (int)status};
  if (exchange_journaled(h->app, &r->ex)) {
    o.query = x->query;
    o.request_body = r->body;
    o.request_len = r->body_len;
    o.request_binary = is_cbor(http__header(r, MHD_HTTP_HEADER_CONTENT_TYPE)) || (r->ex.flags & EXCHANGE_CBOR_BODY);
    o.response_body = r->resp;
    o.response_len = r->resp_len;
    o.response_binary = is_cbor(r->resp_type);
  }
  exchange_record(h->app, &r->ex, &o);
}

/* ---- libmicrohttpd callbacks ------------------------------------------------------ */

/* The watch entry of conn (NULL when it has none). */
static watched *watch_of(struct MHD_Connection *conn) {
  const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
  return ci ? ci->socket_context : NULL;
}

/* Set when conn's current request's headers are due (0: none due). */
static void watch_due(struct MHD_Connection *conn, int64_t due_us) {
  watched *w = watch_of(conn);
  if (w) atomic_store_explicit(&w->due_us, due_us, memory_order_relaxed);
}

/* ---- the next request at hand: group commit's hint (docs/performance.md) ---------- */

/* At most this many of a worker's connections are looked at per hint. */
#define PEEK_MAX 64

/* w joins the calling pool thread's connections (unlisted when no slot is left). */
static void worker_add(http_server *h, watched *w) {
  if (!me.conns) {
    if (atomic_load(&h->workers_used) >= h->n_workers) return;
    int i = atomic_fetch_add(&h->workers_used, 1);
    if (i >= h->n_workers) return;
    me.conns = &h->workers[i];
  }
  worker_conns *c = me.conns;
  pthread_mutex_lock(&c->lock);
  w->worker = c;
  w->wnext = c->head;
  if (c->head) c->head->wprev = w;
  c->head = w;
  pthread_mutex_unlock(&c->lock);
}

static void worker_remove(watched *w) {
  worker_conns *c = w->worker;
  if (!c) return;
  pthread_mutex_lock(&c->lock);
  if (w->wprev) w->wprev->wnext = w->wnext;
  else c->head = w->wnext;
  if (w->wnext) w->wnext->wprev = w->wprev;
  pthread_mutex_unlock(&c->lock);
}

/* conn is suspended (held for its group, its own thread or a fault's delay): libmicrohttpd
 * reads none of its bytes until it is resumed. Asked on the thread that owns conn. */
static bool suspended(struct MHD_Connection *conn) {
  const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_SUSPENDED);
  return ci && ci->suspended == MHD_YES;
}

/* The store's hint (store_set_next_hint): true when another connection of this thread,
 * not suspended, has bytes waiting that are not its end: a request this thread takes up
 * as soon as the current one returns. A wrong guess (the bytes were a GET, or half a
 * request) only delays the group's commit, by the store's flusher at worst. */
static bool next_at_hand(void) {
  worker_conns *c = me.conns;
  if (!c) return false;
  struct pollfd p[PEEK_MAX];
  nfds_t n = 0;
  bool any = false;
  /* Under the lock: a connection cannot be closed while its socket is polled. */
  pthread_mutex_lock(&c->lock);
  for (watched *w = c->head; w && n < PEEK_MAX; w = w->wnext)
    if (w != me.current && !suspended(w->conn))
      p[n++] = (struct pollfd){.fd = w->fd, .events = POLLIN | POLLRDHUP};
  if (n && poll(p, n, 0) > 0)
    for (nfds_t i = 0; i < n && !any; i++)
      any = (p[i].revents & POLLIN) && !(p[i].revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL));
  pthread_mutex_unlock(&c->lock);
  return any;
}

/* A connection starts (watched from now: its first request's headers are due) or ends
 * (unwatched before libmicrohttpd closes its socket). */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context, enum MHD_ConnectionNotificationCode code) {
  http_server *h = cls;
  watched *w = *socket_context;
  if (code == MHD_CONNECTION_NOTIFY_STARTED) {
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci || !(w = calloc(1, sizeof *w))) return; /* unwatched: only the idle timeout applies */
    w->fd = ci->connect_fd;
    w->conn = conn;
    atomic_init(&w->due_us, now_us() + h->header_us);
    pthread_mutex_lock(&h->watch_lock);
    w->next = h->watched;
    if (h->watched) h->watched->prev = w;
    h->watched = w;
    pthread_mutex_unlock(&h->watch_lock);
    worker_add(h, w);
    *socket_context = w;
  } else if (code == MHD_CONNECTION_NOTIFY_CLOSED && w) {
    worker_remove(w);
    pthread_mutex_lock(&h->watch_lock);
    if (w->prev) w->prev->next = w->next;
    else h->watched = w->next;
    if (w->next) w->next->prev = w->prev;
    pthread_mutex_unlock(&h->watch_lock);
    free(w);
    *socket_context = NULL;
  }
}

static enum MHD_Result queue_answer(http_req *r) {
  struct MHD_Response *resp =
    MHD_create_response_from_buffer(r->resp_len, r->resp ? r->resp : (void *)"", r->resp ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
  if (!resp) return MHD_NO;
  r->resp = NULL; /* now owned by the response */
  if (r->resp_type) MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r->resp_type);
  if (!r->device_endpoint) MHD_add_response_header(resp, "X-Request-Id", r->ex.request_id);
  if (r->allow) MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, r->allow);
  for (const char *const *h = r->headers; h && h[0] && h[1]; h += 2) MHD_add_response_header(resp, h[0], h[1]);
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
    r->app = h->app;
    r->conn = conn;
    r->method = method;
    r->path = url;
    r->protocol = h->protocol;
    exchange_begin(&r->ex, h->protocol, method, url);
    find_route(r, x->allow);
    watch_due(conn, 0); /* the headers are in */
    /* The headers are in, the body is not: checks that need the headers only (the
     * credential, the declared length) belong here, so a refused request's body is
     * never read (docs/control-api.md §5). A fault rule that fires on a refused
     * request still comes first, as for any request: its action is carried out once
     * the request is in, and the checks run again then. */
    if (r->route && (r->route->flags & (EXCHANGE_OWNER | EXCHANGE_CONTROL))) {
      if (admits(r)) {
        x->admitted = true;
      } else if (!(r->ex.flags & EXCHANGE_CONTROL) && faults_any(h->app->faults) && (x->faults_checked = true) &&
                 check_faults(x)) {
        http__empty(r, 0); /* the refusal is not the answer */
      } else {
        record(h, x, r->status);
        return queue_answer(r);
      }
    }
    const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl && strtoull(cl, NULL, 10) > HTTP_MAX_BODY) {
      /* Answered now, before any of the body is read (libmicrohttpd then closes the
       * connection instead of reading the rest). */
      r->too_large = true;
      http__fail(r, ERR_TOO_LARGE, "body is larger than %d bytes", HTTP_MAX_BODY);
      record(h, x, r->status);
      return queue_answer(r);
    }
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
  if (x->held) {
    /* Back from its group or its own thread: answer (it stays counted until on_completed). */
    if (!x->offloaded) settle_grouped(h, x);
    record(h, x, r->status);
    return queue_answer(r);
  }
  if (x->suspended) {
    /* Back from a fault's delay: carry out the rest of the action. It stays counted
     * until on_completed, so a stop waits for the answer to be sent, not just queued. */
  } else if (x->faults_checked ? r->ex.faulted
                               : faults_any(h->app->faults) && !(r->ex.flags & (EXCHANGE_CONTROL | EXCHANGE_PAGE)) && check_faults(x)) {
    if (r->ex.fault.delay_ms > 0 && suspend(h, x)) return MHD_YES;
  }
  if (r->ex.faulted && fault_http_closes(&r->ex.fault)) {
    record(h, x, 0);
    return MHD_NO; /* libmicrohttpd closes the connection without an answer */
  }
  if (r->ex.faulted && fault_http_status(&r->ex.fault))
    answer_fault(x, fault_http_status(&r->ex.fault));
  else if (r->too_large)
    http__fail(r, ERR_TOO_LARGE, "body is larger than %d bytes", HTTP_MAX_BODY);
  else if (r->route && offload(h, x))
    return MHD_YES;
  else if (may_join_group(r)) {
    if (dispatch_grouped(h, x)) return MHD_YES;
    settle_grouped(h, x);
  } else
    dispatch(x);
  record(h, x, r->status);
  return queue_answer(r);
}

/* Called once per request with its full URI, before the headers are read: the
 * request object starts here, holding the raw query the journal shows (libmicrohttpd
 * hands on_request the path only). */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn) {
  http_server *h = cls;
  /* A later request on a keep-alive connection: its headers are due from its request
   * line on (the first request's are due from the connection's start, which is sooner). */
  watched *w = watch_of(conn);
  if (w) {
    int64_t due = now_us() + h->header_us, was = atomic_load_explicit(&w->due_us, memory_order_relaxed);
    if (!was || due < was) atomic_store_explicit(&w->due_us, due, memory_order_relaxed);
  }
  http_exchange *x = calloc(1, sizeof *x);
  const char *q = strchr(uri, '?');
  if (x && q && q[1] && journal_enabled(h->app->journal)) x->query = strndup(q + 1, JOURNAL_CUT);
  return x;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe) {
  (void)toe;
  http_server *h = cls;
  /* Idle until the next request line, which libmicrohttpd's inactivity timeout bounds;
   * the deadline here only catches a request line sent too slowly to ever be idle. */
  watch_due(conn, now_us() + h->idle_us + h->header_us);
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

static void free_workers(http_server *h) {
  for (int i = 0; i < h->n_workers; i++) pthread_mutex_destroy(&h->workers[i].lock);
  free(h->workers);
}

int http_start(http_server **out, app *a, const http_listen *l, char *why, size_t whysz) {
  *out = NULL;
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
  h->n_workers = l->threads > 1 ? l->threads : 1;
  h->workers = calloc((size_t)h->n_workers, sizeof *h->workers);
  if (!h->workers) {
    free(h);
    return snprintf(why, whysz, "out of memory"), -1;
  }
  for (int i = 0; i < h->n_workers; i++) pthread_mutex_init(&h->workers[i].lock, NULL);
  pthread_mutex_init(&h->delay_lock, NULL);
  pthread_mutex_init(&h->watch_lock, NULL);
  const options *o = a->opt;
  h->header_us = (int64_t)o->header_timeout_ms * 1000;
  unsigned idle_s = (unsigned)((o->idle_timeout_ms + 999) / 1000);
  h->idle_us = (int64_t)idle_s * 1000000;
  /* Overdue connections are cut within a quarter of the header timeout (at most 250 ms). */
  h->sweep_us = h->header_us / 4 < 250000 ? h->header_us / 4 : 250000;
  h->swept_us = now_us();
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
  /* Group commit within a worker thread too (docs/performance.md); set before the
   * workers exist, as the timer is. */
  svc_set_next_hint(a->svc, next_at_hand);
  if (!h->timer_started) log_msg(LOG_WARN, "%s: no timer thread; fault delays will be skipped", h->protocol);
  h->daemon = MHD_start_daemon(
    flags, (uint16_t)l->port, NULL, NULL, on_request, h,
    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
    MHD_OPTION_THREAD_POOL_SIZE, (unsigned)h->n_workers,
    MHD_OPTION_CONNECTION_TIMEOUT, idle_s,
    MHD_OPTION_CONNECTION_LIMIT, (unsigned)o->max_connections,
    MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)o->max_connections_per_ip,
    MHD_OPTION_NOTIFY_CONNECTION, on_connection, h,
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
    pthread_mutex_destroy(&h->watch_lock);
    free_workers(h);
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
  /* A request on its own thread uses its connection until it is done: always wait. */
  while (h->offloaded > 0) pthread_cond_wait(&h->delay_cond, &h->delay_lock);
  while (h->suspended > 0 && now_us() < deadline) {
    /* Requests waiting for their group are answered once it commits: commit it now
     * (without delay_lock, which the group's end takes). */
    pthread_mutex_unlock(&h->delay_lock);
    svc_flush(h->app->svc);
    pthread_mutex_lock(&h->delay_lock);
    if (h->suspended <= 0) break;
    int64_t wake = now_us() + 10000; /* a request that joined a group since is flushed next round */
    if (wake > deadline) wake = deadline;
    struct timespec ts = {.tv_sec = (time_t)(wake / 1000000), .tv_nsec = (long)(wake % 1000000) * 1000};
    pthread_cond_timedwait(&h->delay_cond, &h->delay_lock, &ts);
  }
  pthread_mutex_unlock(&h->delay_lock);
  MHD_stop_daemon(h->daemon);
  pthread_cond_destroy(&h->delay_cond);
  pthread_mutex_destroy(&h->delay_lock);
  pthread_mutex_destroy(&h->watch_lock);
  free_workers(h);
  free(h);
}
