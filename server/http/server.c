/* libmicrohttpd listener: request accumulation, routing, answers, request log lines.
 *
 * The daemon runs a small pool of internal poll threads (not epoll: Debian 12's 0.9.75
 * starves many keep-alive connections under epoll). A request is handled in the pool
 * thread that read it; handlers are synchronous and short (one store transaction). */
#include "http.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "route.h"

struct http_server {
  struct MHD_Daemon *daemon;
  app *app;
  const char *protocol;
  int port;
};

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
  err_t e = {.id = id};
  if (fmt) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e.message, sizeof e.message, fmt, ap);
    va_end(ap);
    err_sanitize(e.message);
  } else {
    snprintf(e.message, sizeof e.message, "%s", err_default_message(id));
  }
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

static void dispatch(http_req *r) {
  char allow[64] = "";
  for (size_t i = 0; i < http__n_routes; i++) {
    const http_route *rt = &http__routes[i];
    if (!match(r, rt->pattern, r->path)) continue;
    if (!strcmp(rt->method, r->method)) {
      rt->handler(r);
      return;
    }
    if (!strstr(allow, rt->method)) {
      if (*allow) strcat(allow, ", ");
      strcat(allow, rt->method);
    }
  }
  if (*allow) {
    static _Thread_local char allow_buf[64];
    snprintf(allow_buf, sizeof allow_buf, "%s", allow);
    r->allow = allow_buf;
    http__fail(r, ERR_METHOD_NOT_ALLOWED, "method %s not allowed on %s (allowed: %s)", r->method, r->path, allow);
    return;
  }
  http__fail(r, ERR_NOT_FOUND, "no such path: %s", r->path);
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

static void log_line(http_req *r) {
  char status[8];
  snprintf(status, sizeof status, "%u", r->status);
  log_request_line l = {
    .request_id = r->request_id, .protocol = r->protocol, .method = r->method, .path = r->path,
    .status = status, .device_id = r->device_id, .team = r->team.owner_id,
    .duration_ms = (double)(now_us() - r->start_us) / 1000.0,
  };
  log_request(&l);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls) {
  (void)version;
  http_server *h = cls;
  http_req *r = *con_cls;
  if (!r) {
    r = calloc(1, sizeof *r);
    if (!r) return MHD_NO;
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
    *con_cls = r;
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
  if (r->too_large)
    http__fail(r, ERR_TOO_LARGE, "body is larger than %d bytes", HTTP_MAX_BODY);
  else
    dispatch(r);
  log_line(r);
  return queue_answer(r);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe) {
  (void)cls;
  (void)conn;
  (void)toe;
  http_req *r = *con_cls;
  if (!r) return;
  free(r->body);
  free(r->resp);
  free(r);
  *con_cls = NULL;
}

static void on_mhd_error(void *cls, const char *fmt, va_list ap) {
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
  unsigned flags = MHD_USE_POLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG;
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
  struct MHD_OptionItem tls[] = {
    {MHD_OPTION_HTTPS_MEM_CERT, 0, (void *)l->cert_pem},
    {MHD_OPTION_HTTPS_MEM_KEY, 0, (void *)l->key_pem},
    {MHD_OPTION_END, 0, NULL},
  };
  if (l->cert_pem) flags |= MHD_USE_TLS;
  h->daemon = MHD_start_daemon(
    flags, (uint16_t)l->port, NULL, NULL, on_request, h,
    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
    MHD_OPTION_THREAD_POOL_SIZE, (unsigned)(l->threads > 1 ? l->threads : 1),
    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120,
    MHD_OPTION_CONNECTION_LIMIT, (unsigned)1000,
    MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
    MHD_OPTION_EXTERNAL_LOGGER, on_mhd_error, h,
    MHD_OPTION_ARRAY, l->cert_pem ? tls : &tls[2],
    MHD_OPTION_END);
  if (!h->daemon) {
    snprintf(why, whysz, "cannot listen for %s on %s port %d (address in use, or not an address of this machine)",
             h->protocol, l->bind, l->port);
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
  MHD_stop_daemon(h->daemon);
  free(h);
}
