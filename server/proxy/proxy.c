/* The proxy listener: see proxy.h for what it serves and refuses (docs/install.md has
 * the recipe for unmodified tools).
 *
 * One thread runs one poll() loop over the listening socket, a wake-up pipe and every
 * connection's two sockets (the client and, once allowed, the mock's own listener on
 * this machine). A connection goes HEAD (reading the request head, at most
 * PROXY_HEAD_MAX bytes within PROXY_HEAD_MS) -> CONNECTING (non-blocking connect to the
 * mock) -> RELAY (bytes both ways through two fixed buffers), or -> ANSWER (an error
 * response, then close). The loop is bounded in every direction: at most
 * PROXY_MAX_CONNS connections (the next one is answered 503 at once), fixed buffers
 * per connection, a deadline on every state, and no thread per connection.
 *
 * The request head is parsed with http-parser (Debian's libhttp-parser), including the
 * CONNECT authority form and absolute URLs. A plain-HTTP request is forwarded with its
 * request line in origin form and `Connection: close`, so the one request of the
 * connection is the only one the mock sees through it (a later one would arrive in
 * absolute form). Not the place for routing or answers of the API: the listener the
 * bytes reach does that, with its own log line and journal entry. */
#include "proxy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <http_parser.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "errors.h"
#include "log.h"

#define PROXY_MAX_CONNS 128
#define PROXY_HEAD_MAX 8192
#define PROXY_HEAD_MS 10000
#define PROXY_CONNECT_MS 5000
#define PROXY_ANSWER_MS 5000
#define PROXY_IDLE_MS 300000
#define PROXY_BUF 16384
#define PROXY_MAX_HEADERS 100

/* nRF Cloud's provisioning host names: the owner REST API of each stage nRF Cloud utils
 * know (`--stage`: prod, dev, beta, feature) and the device HTTP host. CoAP
 * (coap.nrfcloud.com) is UDP and cannot come through here. */
const char *const proxy_hosts[] = {
  "api.provisioning.nrfcloud.com",
  "api.provisioning.dev.nrfcloud.com",
  "api.provisioning.beta.nrfcloud.com",
  "api.provisioning.feature.nrfcloud.com",
  "provisioning-http.nrfcloud.com",
  NULL,
};

typedef enum { C_HEAD, C_CONNECTING, C_RELAY, C_ANSWER } conn_state;

/* Bytes read from one side and not yet written to the other. */
typedef struct {
  char data[PROXY_BUF];
  size_t off, len;
  bool eof;       /* the reading side has ended */
  bool shut;      /* the end was passed on (shutdown SHUT_WR) */
} relay_buf;

typedef struct {
  int client, upstream; /* -1 when not open */
  conn_state state;
  int64_t deadline_ms;
  bool tunnel;          /* CONNECT: the 200 goes out when the mock's listener accepts */
  char head[PROXY_HEAD_MAX + 1];
  size_t head_len;
  relay_buf up;   /* client -> mock */
  relay_buf down; /* mock -> client */
} conn;

struct proxy {
  int listen_fd, wake[2], port;
  struct sockaddr_storage https_addr, http_addr;
  socklen_t addr_len;
  bool https_on, http_on;
  pthread_t thread;
  conn *conns[PROXY_MAX_CONNS];
};

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- request heads ---------------------------------------------------------------- */

/* What http-parser found in one request head: spans into the head buffer. */
typedef struct {
  const char *url;
  size_t url_len;
  struct {
    const char *name, *value;
    size_t name_len, value_len;
  } h[PROXY_MAX_HEADERS];
  size_t n;
  bool too_many, in_value;
} head_spans;

static int on_url(http_parser *hp, const char *at, size_t len) {
  head_spans *s = hp->data;
  if (!s->url) s->url = at;
  s->url_len = (size_t)(at + len - s->url);
  return 0;
}

static int on_header_field(http_parser *hp, const char *at, size_t len) {
  head_spans *s = hp->data;
  if (s->in_value || !s->n) {
    if (s->n == PROXY_MAX_HEADERS) {
      s->too_many = true;
      return 1;
    }
    s->h[s->n].name = at;
    s->h[s->n].value = NULL;
    s->h[s->n].value_len = 0;
    s->n++;
    s->in_value = false;
  }
  s->h[s->n - 1].name_len = (size_t)(at + len - s->h[s->n - 1].name);
  return 0;
}

static int on_header_value(http_parser *hp, const char *at, size_t len) {
  head_spans *s = hp->data;
  if (!s->n) return 1;
  if (!s->h[s->n - 1].value) s->h[s->n - 1].value = at;
  s->h[s->n - 1].value_len = (size_t)(at + len - s->h[s->n - 1].value);
  s->in_value = true;
  return 0;
}

/* Stop at the end of the head: a body (or the TLS bytes after a CONNECT) is relayed, not parsed. */
static int on_headers_complete(http_parser *hp) {
  http_parser_pause(hp, 1);
  return 0;
}

/* True when host[0..len) (any case, one trailing dot allowed) is one of proxy_hosts. */
static bool host_allowed(const char *host, size_t len) {
  if (len && host[len - 1] == '.') len--;
  for (size_t i = 0; proxy_hosts[i]; i++)
    if (strlen(proxy_hosts[i]) == len && !strncasecmp(proxy_hosts[i], host, len)) return true;
  return false;
}

/* ---- connections ------------------------------------------------------------------ */

static void conn_close(proxy *p, size_t i) {
  conn *c = p->conns[i];
  if (!c) return;
  if (c->client >= 0) close(c->client);
  if (c->upstream >= 0) close(c->upstream);
  free(c);
  p->conns[i] = NULL;
}

static const char *reason_phrase(int status) {
  switch (status) {
  case 400: return "Bad Request";
  case 403: return "Forbidden";
  case 405: return "Method Not Allowed";
  case 408: return "Request Timeout";
  case 431: return "Request Header Fields Too Large";
  case 502: return "Bad Gateway";
  case 503: return "Service Unavailable";
  case 504: return "Gateway Timeout";
  default: return "Error";
  }
}

/* Queue an error answer on c and close after it is sent. The body is the mock's error
 * shape ({"code": status*100, "message"}, docs/owner-api.md §1); the message may quote
 * client bytes, so it is sanitized first. */
static void conn_answer(conn *c, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void conn_answer(conn *c, int status, const char *fmt, ...) {
  char msg[400], body[600];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  err_sanitize(msg);
  for (char *q = msg; *q; q++)
    if (*q == '"' || *q == '\\') *q = '\'';
  int bl = snprintf(body, sizeof body, "{\"code\":%d,\"message\":\"%s\"}", status * 100, msg);
  if (bl < 0 || (size_t)bl >= sizeof body) bl = (int)strlen(body);
  c->down.off = 0;
  int n = snprintf(c->down.data, sizeof c->down.data,
                   "HTTP/1.1 %d %s\r\nContent-Type: application/json; charset=utf-8\r\n"
                   "Content-Length: %d\r\nConnection: close\r\n\r\n%s",
                   status, reason_phrase(status), bl, body);
  c->down.len = n > 0 ? (size_t)n : 0;
  c->down.eof = true;
  c->state = C_ANSWER;
  c->deadline_ms = now_ms() + PROXY_ANSWER_MS;
  if (c->upstream >= 0) close(c->upstream);
  c->upstream = -1;
  log_msg(LOG_INFO, "proxy: %d %s", status, msg);
}

/* Start the non-blocking connection to the mock's listener at addr. */
static int connect_upstream(proxy *p, conn *c, const struct sockaddr_storage *addr) {
  int fd = socket(addr->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (connect(fd, (const struct sockaddr *)addr, p->addr_len) && errno != EINPROGRESS) {
    close(fd);
    return -1;
  }
  c->upstream = fd;
  c->state = C_CONNECTING;
  c->deadline_ms = now_ms() + PROXY_CONNECT_MS;
  return 0;
}

/* Append s[0..n) to the client-to-mock buffer (only used before relaying starts, with
 * room guaranteed: a rebuilt head is at most the original head plus a few bytes). */
static void up_put(conn *c, const char *s, size_t n) {
  size_t room = sizeof c->up.data - c->up.off - c->up.len;
  if (n > room) n = room;
  memcpy(c->up.data + c->up.off + c->up.len, s, n);
  c->up.len += n;
}

static bool header_is(const char *name, size_t len, const char *want) {
  return strlen(want) == len && !strncasecmp(name, want, len);
}

/* A complete head of head_len bytes is in c->head (more bytes may follow): decide. */
static void handle_head(proxy *p, conn *c, size_t head_len) {
  http_parser hp;
  head_spans s = {0};
  http_parser_settings st = {.on_url = on_url, .on_header_field = on_header_field,
                             .on_header_value = on_header_value, .on_headers_complete = on_headers_complete};
  http_parser_init(&hp, HTTP_REQUEST);
  hp.data = &s;
  http_parser_execute(&hp, &st, c->head, head_len);
  enum http_errno e = HTTP_PARSER_ERRNO(&hp);
  if (s.too_many) return conn_answer(c, 431, "more than %d header fields", PROXY_MAX_HEADERS);
  if ((e != HPE_OK && e != HPE_PAUSED) || !s.url)
    return conn_answer(c, 400, "the request head is not valid HTTP/1.1: %s", http_errno_description(e));

  struct http_parser_url u;
  http_parser_url_init(&u);
  bool is_connect = hp.method == HTTP_CONNECT;
  int target_len = (int)(s.url_len > 200 ? 200 : s.url_len);
  if (http_parser_parse_url(s.url, s.url_len, is_connect, &u) || !(u.field_set & (1 << UF_HOST))) {
    if (!is_connect && s.url_len && s.url[0] == '/')
      return conn_answer(c, 400, "this is the mock's proxy port: send requests in absolute form "
                                 "(http://api.provisioning.nrfcloud.com/v1/...) or CONNECT host:443");
    return conn_answer(c, 400, "the target '%.*s' is not %s", target_len, s.url,
                       is_connect ? "host:port" : "an absolute http:// URL");
  }
  const char *host = s.url + u.field_data[UF_HOST].off;
  size_t host_len = u.field_data[UF_HOST].len;
  if (is_connect) {
    if (!host_allowed(host, host_len) || u.port != 443)
      return conn_answer(c, 403, "CONNECT %.*s: this proxy reaches only the mock, as "
                                 "api.provisioning[.dev|.beta|.feature].nrfcloud.com:443 or provisioning-http.nrfcloud.com:443",
                         target_len, s.url);
    if (!p->https_on) return conn_answer(c, 503, "CONNECT %.*s: the mock's HTTPS listener is off (--https-port -1)", target_len, s.url);
    c->tunnel = true;
    /* Bytes after the head (a client that did not wait for the 200) go to the mock. */
    up_put(c, c->head + head_len, c->head_len - head_len);
    if (connect_upstream(p, c, &p->https_addr))
      return conn_answer(c, 502, "CONNECT %.*s: cannot reach the mock's HTTPS listener: %s", target_len, s.url, strerror(errno));
    log_msg(LOG_DEBUG, "proxy: CONNECT %.*s -> the mock's HTTPS listener", target_len, s.url);
    return;
  }
  size_t schema_len = (u.field_set & (1 << UF_SCHEMA)) ? u.field_data[UF_SCHEMA].len : 0;
  const char *schema = s.url + u.field_data[UF_SCHEMA].off;
  if (schema_len != 4 || strncasecmp(schema, "http", 4))
    return conn_answer(c, 400, "%.*s: only http:// URLs are forwarded; use CONNECT for https", target_len, s.url);
  if (!host_allowed(host, host_len) || ((u.field_set & (1 << UF_PORT)) && u.port != 80))
    return conn_answer(c, 403, "%s %.*s: this proxy reaches only the mock, as "
                               "http://api.provisioning[.dev|.beta|.feature].nrfcloud.com or provisioning-http.nrfcloud.com",
                       http_method_str((enum http_method)hp.method), target_len, s.url);
  if (!p->http_on)
    return conn_answer(c, 503, "%.*s: the mock's HTTP listener is off (--http-port -1)", target_len, s.url);

  /* "http://host?q" has no path to put the query after. */
  if (!(u.field_set & (1 << UF_PATH)) && (u.field_set & (1 << UF_QUERY)))
    return conn_answer(c, 400, "%.*s: the URL has no path", target_len, s.url);
  /* The request line in origin form, the headers without the hop-by-hop ones, and
   * Connection: close (see the top of this file). */
  const char *path = (u.field_set & (1 << UF_PATH)) ? s.url + u.field_data[UF_PATH].off : "/";
  const char *end = s.url + s.url_len;
  if (u.field_set & (1 << UF_FRAGMENT)) end = s.url + u.field_data[UF_FRAGMENT].off - 1;
  if (!(u.field_set & (1 << UF_PATH))) end = path + 1;
  char line[PROXY_HEAD_MAX + 64];
  int n = snprintf(line, sizeof line, "%s %.*s HTTP/%u.%u\r\n", http_method_str((enum http_method)hp.method),
                   (int)(end - path), path, hp.http_major, hp.http_minor);
  if (n > 0) up_put(c, line, (size_t)n);
  for (size_t i = 0; i < s.n; i++) {
    if (header_is(s.h[i].name, s.h[i].name_len, "Proxy-Connection") ||
        header_is(s.h[i].name, s.h[i].name_len, "Connection") ||
        header_is(s.h[i].name, s.h[i].name_len, "Keep-Alive") ||
        header_is(s.h[i].name, s.h[i].name_len, "Proxy-Authorization"))
      continue;
    up_put(c, s.h[i].name, s.h[i].name_len);
    up_put(c, ": ", 2);
    if (s.h[i].value) up_put(c, s.h[i].value, s.h[i].value_len);
    up_put(c, "\r\n", 2);
  }
  up_put(c, "Connection: close\r\n\r\n", 21);
  up_put(c, c->head + head_len, c->head_len - head_len);
  if (connect_upstream(p, c, &p->http_addr))
    return conn_answer(c, 502, "%.*s: cannot reach the mock's HTTP listener: %s", target_len, s.url, strerror(errno));
  log_msg(LOG_DEBUG, "proxy: %s %.*s -> the mock's HTTP listener", http_method_str((enum http_method)hp.method),
          target_len, s.url);
}

/* The end of the request head in buf[0..n): the length including the blank line, or 0. */
static size_t head_end(const char *buf, size_t n) {
  for (size_t i = 0; i + 1 < n; i++) {
    if (buf[i] != '\n') continue;
    if (buf[i + 1] == '\n') return i + 2;
    if (i + 2 < n && buf[i + 1] == '\r' && buf[i + 2] == '\n') return i + 3;
  }
  return 0;
}

/* Read more of the head; false when the client is gone (nothing to answer). */
static bool read_head(proxy *p, conn *c) {
  ssize_t k = read(c->client, c->head + c->head_len, PROXY_HEAD_MAX - c->head_len);
  if (k == 0 || (k < 0 && errno != EAGAIN && errno != EINTR)) return false;
  if (k < 0) return true;
  size_t from = c->head_len > 3 ? c->head_len - 3 : 0;
  c->head_len += (size_t)k;
  size_t end = head_end(c->head + from, c->head_len - from);
  if (end) handle_head(p, c, from + end);
  else if (c->head_len == PROXY_HEAD_MAX) conn_answer(c, 431, "the request head is over %d bytes", PROXY_HEAD_MAX);
  return true;
}

/* The connection to the mock's listener is up (or failed). */
static void connected(conn *c) {
  int err = 0;
  socklen_t len = sizeof err;
  if (getsockopt(c->upstream, SOL_SOCKET, SO_ERROR, &err, &len) || err)
    return conn_answer(c, 502, "cannot reach the mock's %s listener: %s", c->tunnel ? "HTTPS" : "HTTP", strerror(err));
  if (c->tunnel) {
    static const char ok[] = "HTTP/1.1 200 Connection established\r\n\r\n";
    memcpy(c->down.data, ok, sizeof ok - 1);
    c->down.off = 0;
    c->down.len = sizeof ok - 1;
  }
  c->state = C_RELAY;
  c->deadline_ms = now_ms() + PROXY_IDLE_MS;
}

/* Move bytes from fd into b; false when the connection must close (error). */
static bool fill(int fd, relay_buf *b) {
  if (b->eof) return true;
  if (b->off && b->off + b->len == sizeof b->data) {
    memmove(b->data, b->data + b->off, b->len);
    b->off = 0;
  }
  if (b->len == sizeof b->data) return true; /* full: read later (a read of 0 bytes would look like an end) */
  ssize_t k = read(fd, b->data + b->off + b->len, sizeof b->data - b->off - b->len);
  if (k > 0) b->len += (size_t)k;
  else if (k == 0) b->eof = true;
  else if (errno != EAGAIN && errno != EINTR) return false;
  return true;
}

/* Move bytes from b to fd, passing an end on; false when the connection must close. */
static bool drain(int fd, relay_buf *b) {
  if (b->len) {
    ssize_t k = send(fd, b->data + b->off, b->len, MSG_NOSIGNAL);
    if (k < 0) return errno == EAGAIN || errno == EINTR;
    b->off += (size_t)k;
    b->len -= (size_t)k;
    if (!b->len) b->off = 0;
  }
  if (!b->len && b->eof && !b->shut) {
    shutdown(fd, SHUT_WR);
    b->shut = true;
  }
  return true;
}

/* ---- the loop --------------------------------------------------------------------- */

static void accept_all(proxy *p) {
  for (int round = 0; round < 64; round++) {
    int fd = accept4(p->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;
    size_t i = 0;
    while (i < PROXY_MAX_CONNS && p->conns[i]) i++;
    conn *c = i < PROXY_MAX_CONNS ? malloc(sizeof *c) : NULL;
    if (!c) {
#define BUSY_BODY "{\"code\":50300,\"message\":\"the proxy holds its maximum of 128 connections\"}"
      char busy[256];
      int n = snprintf(busy, sizeof busy,
                       "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json; charset=utf-8\r\n"
                       "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                       sizeof BUSY_BODY - 1, BUSY_BODY);
#undef BUSY_BODY
      if (send(fd, busy, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) { /* best effort */ }
      close(fd);
      log_msg(LOG_WARN, "proxy: connection refused: %d connections open", PROXY_MAX_CONNS);
      continue;
    }
    c->client = fd;
    c->upstream = -1;
    c->state = C_HEAD;
    c->deadline_ms = now_ms() + PROXY_HEAD_MS;
    c->tunnel = false;
    c->head_len = 0;
    c->up = (relay_buf){.off = 0};
    c->down = (relay_buf){.off = 0};
    p->conns[i] = c;
  }
}

/* Which events each socket of c waits for. */
static void interest(const conn *c, short *client, short *upstream) {
  *client = *upstream = 0;
  switch (c->state) {
  case C_HEAD: *client = POLLIN; break;
  case C_CONNECTING: *upstream = POLLOUT; break;
  case C_ANSWER:
    /* The answer, then the end of it, then reading until the client closes: closing
     * with unread request bytes would reset the connection and lose the answer. */
    *client = c->down.len || !c->down.shut ? POLLOUT : POLLIN;
    break;
  case C_RELAY:
    if (!c->up.eof && c->up.off + c->up.len < sizeof c->up.data) *client |= POLLIN;
    if (c->up.len || (c->up.eof && !c->up.shut)) *upstream |= POLLOUT;
    if (!c->down.eof && c->down.off + c->down.len < sizeof c->down.data) *upstream |= POLLIN;
    if (c->down.len || (c->down.eof && !c->down.shut)) *client |= POLLOUT;
    break;
  }
}

/* Handle the events of connection i; it may be closed here. */
static void service(proxy *p, size_t i, short cev, short uev) {
  conn *c = p->conns[i];
  bool alive = true;
  switch (c->state) {
  case C_HEAD:
    if (cev) alive = read_head(p, c);
    break;
  case C_CONNECTING:
    if (uev) connected(c);
    break;
  case C_ANSWER:
    if (cev & POLLERR) alive = false;
    else if (c->down.len || !c->down.shut) alive = drain(c->client, &c->down);
    else if (cev) {
      char junk[4096];
      ssize_t k = read(c->client, junk, sizeof junk);
      alive = k > 0 || (k < 0 && (errno == EAGAIN || errno == EINTR));
    }
    break;
  case C_RELAY:
    if (cev & (POLLIN | POLLHUP | POLLERR)) alive = fill(c->client, &c->up);
    if (alive && (uev & (POLLIN | POLLHUP | POLLERR))) alive = fill(c->upstream, &c->down);
    if (alive && (uev & (POLLOUT | POLLERR))) alive = drain(c->upstream, &c->up);
    if (alive && (cev & (POLLOUT | POLLERR))) alive = drain(c->client, &c->down);
    /* Done when the mock's side has ended and all of it reached the client. */
    if (c->down.eof && !c->down.len) alive = false;
    if (cev || uev) c->deadline_ms = now_ms() + PROXY_IDLE_MS;
    break;
  }
  if (!alive) conn_close(p, i);
}

/* A connection whose deadline has passed. */
static void expire(proxy *p, size_t i) {
  conn *c = p->conns[i];
  if (c->state == C_HEAD && c->head_len)
    return conn_answer(c, 408, "the request head did not arrive within %d s", PROXY_HEAD_MS / 1000);
  if (c->state == C_CONNECTING) return conn_answer(c, 504, "the mock's listener did not accept within %d s", PROXY_CONNECT_MS / 1000);
  conn_close(p, i);
}

static void *proxy_loop(void *arg) {
  proxy *p = arg;
  struct pollfd fds[2 + 2 * PROXY_MAX_CONNS];
  size_t owner[2 + 2 * PROXY_MAX_CONNS];
  for (;;) {
    size_t n = 0;
    int64_t now = now_ms(), next = now + 1000;
    fds[n++] = (struct pollfd){.fd = p->wake[0], .events = POLLIN};
    fds[n++] = (struct pollfd){.fd = p->listen_fd, .events = POLLIN};
    for (size_t i = 0; i < PROXY_MAX_CONNS; i++) {
      conn *c = p->conns[i];
      if (!c) continue;
      if (c->deadline_ms <= now) {
        expire(p, i);
        if (!(c = p->conns[i])) continue;
      }
      if (c->deadline_ms < next) next = c->deadline_ms;
      short ce, ue;
      interest(c, &ce, &ue);
      /* POLLHUP/POLLERR are reported even with no events asked for; -1 skips a socket. */
      fds[n] = (struct pollfd){.fd = ce ? c->client : -1, .events = ce};
      owner[n++] = i;
      fds[n] = (struct pollfd){.fd = ue && c->upstream >= 0 ? c->upstream : -1, .events = ue};
      owner[n++] = i;
    }
    int timeout = (int)(next - now);
    if (poll(fds, n, timeout < 0 ? 0 : timeout) < 0 && errno != EINTR) {
      log_msg(LOG_ERROR, "proxy: poll: %s", strerror(errno));
      break;
    }
    if (fds[0].revents) break; /* proxy_stop */
    for (size_t k = 2; k < n; k += 2) {
      size_t i = owner[k];
      if (!p->conns[i] || !(fds[k].revents | fds[k + 1].revents)) continue;
      service(p, i, fds[k].revents, fds[k + 1].revents);
    }
    if (fds[1].revents & POLLIN) accept_all(p);
  }
  return NULL;
}

/* ---- start and stop --------------------------------------------------------------- */

/* addr:port as a socket address; false when addr is not an IP literal. */
static bool sock_addr(const char *addr, int port, struct sockaddr_storage *ss, socklen_t *len) {
  memset(ss, 0, sizeof *ss);
  if (strchr(addr, ':')) {
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons((uint16_t)port);
    *len = sizeof *s6;
    return inet_pton(AF_INET6, addr, &s6->sin6_addr) == 1;
  }
  struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
  s4->sin_family = AF_INET;
  s4->sin_port = htons((uint16_t)port);
  *len = sizeof *s4;
  return inet_pton(AF_INET, addr, &s4->sin_addr) == 1;
}

int proxy_start(proxy **out, const proxy_listen *l, char *why, size_t whysz) {
  *out = NULL;
  struct sockaddr_storage ss;
  socklen_t len, ulen;
  if (!sock_addr(l->bind, l->port, &ss, &len))
    return snprintf(why, whysz, "--bind: '%s' is not an IPv4 or IPv6 address", l->bind), -1;
  proxy *p = calloc(1, sizeof *p);
  if (!p) return snprintf(why, whysz, "out of memory"), -1;
  p->wake[0] = p->wake[1] = -1;
  p->https_on = l->https_port > 0;
  p->http_on = l->http_port > 0;
  if (!sock_addr(l->upstream, p->https_on ? l->https_port : 0, &p->https_addr, &ulen) ||
      !sock_addr(l->upstream, p->http_on ? l->http_port : 0, &p->http_addr, &ulen)) {
    free(p);
    return snprintf(why, whysz, "proxy: '%s' is not an IPv4 or IPv6 address", l->upstream), -1;
  }
  p->addr_len = ulen;
  int one = 1;
  p->listen_fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (p->listen_fd < 0 || setsockopt(p->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) ||
      bind(p->listen_fd, (struct sockaddr *)&ss, len) || listen(p->listen_fd, 128)) {
    snprintf(why, whysz, "cannot listen for the proxy on %s port %d: %s", l->bind, l->port, strerror(errno));
    goto fail;
  }
  struct sockaddr_storage bound;
  socklen_t blen = sizeof bound;
  getsockname(p->listen_fd, (struct sockaddr *)&bound, &blen);
  p->port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                              : ((struct sockaddr_in *)&bound)->sin_port);
  if (pipe2(p->wake, O_CLOEXEC | O_NONBLOCK)) {
    snprintf(why, whysz, "proxy: pipe: %s", strerror(errno));
    goto fail;
  }
  if (pthread_create(&p->thread, NULL, proxy_loop, p)) {
    snprintf(why, whysz, "proxy: cannot start its thread");
    goto fail;
  }
  *out = p;
  return 0;
fail:
  if (p->listen_fd >= 0) close(p->listen_fd);
  if (p->wake[0] >= 0) close(p->wake[0]), close(p->wake[1]);
  free(p);
  return -1;
}

int proxy_port(const proxy *p) { return p->port; }

void proxy_stop(proxy *p) {
  if (!p) return;
  if (write(p->wake[1], "x", 1) < 0) { /* the pipe is empty and non-blocking: cannot fail */ }
  pthread_join(p->thread, NULL);
  for (size_t i = 0; i < PROXY_MAX_CONNS; i++) conn_close(p, i);
  close(p->listen_fd);
  close(p->wake[0]);
  close(p->wake[1]);
  free(p);
}
