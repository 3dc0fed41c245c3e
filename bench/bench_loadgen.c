/* bench_loadgen: a small HTTP/1.1 load generator for the mock and its baselines.
 *
 * One thread, epoll (edge-triggered), non-blocking sockets, --connections keep-alive
 * connections with one request in flight each (no pipelining). It parses each response
 * (Content-Length, chunked, or read-to-close), reconnects when the server says
 * `Connection: close`, counts statuses and prints one JSON line:
 *   {"requests":N,"seconds":S,"rps":R,"statuses":{"200":N},"p50_us":..,"p99_us":..,...}
 * Every run is bounded by --duration and, optionally, --max-requests or the lines of
 * --body-list (one body per request, in order: single claims with distinct tokens).
 * --close opens a new connection per request, as real devices do. Loopback targets only.
 * Not for: correctness testing (tests/ speaks libcurl), TLS, or HTTP/2.
 */
#include "stats.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_HEADERS 16
#define MAX_CONNECTIONS 4096
#define MAX_RESPONSE (64u << 20)

enum conn_state { C_IDLE, C_CONNECTING, C_SENDING, C_RECEIVING };

typedef struct {
  int fd;
  enum conn_state state;
  const char *req; /* the request being sent: the shared one or reqbuf */
  size_t req_len, req_off;
  char *reqbuf;
  size_t reqbuf_cap;
  char *buf; /* the response read so far */
  size_t len, cap;
  size_t scanned;     /* bytes of buf already searched for the header end */
  size_t header_len;  /* 0 until the header block is complete */
  long long body_len; /* -1: chunked or read to close */
  int status, chunked, server_closes, to_eof;
  uint64_t t_start;
  unsigned served; /* requests completed on this connection */
} conn_t;

/* What to send, parsed from the command line. */
static struct {
  struct sockaddr_in addr;
  char host[256], target[2048];
  const char *method, *content_type;
  const char *headers[MAX_HEADERS];
  int n_headers;
  char *body; /* --body-file, whole */
  size_t body_len;
  char **bodies; /* --body-list, one per line */
  size_t *body_lens, n_bodies, next_body;
  int close_each, expect, connections;
  double duration, timeout;
  long long max_requests;
  const char *body_out;
} cfg = {.method = NULL, .connections = 64, .duration = 3, .timeout = 10};

/* What happened. */
static struct {
  long long issued, completed, errors, unexpected, reconnects;
  long long status[600];
  stats_t lat;
  int shown_unexpected;
} res;

static char *shared_req; /* the request when every request is the same */
static size_t shared_req_len, prefix_len;
static int epfd;

static void die(const char *msg) {
  fprintf(stderr, "bench_loadgen: %s\n", msg);
  exit(1);
}

static void *xrealloc(void *p, size_t n) {
  p = realloc(p, n);
  if (!p) die("out of memory");
  return p;
}

static char *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    perror(path);
    exit(1);
  }
  char *data = NULL;
  size_t n = 0, cap = 0;
  for (;;) {
    if (cap - n < 65536) data = xrealloc(data, cap = cap * 2 + 65536);
    size_t got = fread(data + n, 1, cap - n - 1, f);
    n += got;
    if (got == 0) break;
  }
  fclose(f);
  data[n] = '\0';
  *len = n;
  return data;
}

/* http://host:port/path?query, IPv4 literal hosts only (the benches run on loopback). */
static void parse_url(const char *url) {
  if (strncmp(url, "http://", 7) != 0) die("--url must start with http://");
  const char *h = url + 7, *slash = strchr(h, '/');
  size_t hl = slash ? (size_t)(slash - h) : strlen(h);
  if (hl == 0 || hl >= sizeof cfg.host) die("bad host in --url");
  memcpy(cfg.host, h, hl);
  cfg.host[hl] = '\0';
  snprintf(cfg.target, sizeof cfg.target, "%s", slash ? slash : "/");
  char ip[256];
  snprintf(ip, sizeof ip, "%s", cfg.host);
  char *colon = strrchr(ip, ':');
  long port = 80;
  if (colon) {
    *colon = '\0';
    port = strtol(colon + 1, NULL, 10);
  }
  if (strcmp(ip, "localhost") == 0) snprintf(ip, sizeof ip, "127.0.0.1");
  cfg.addr.sin_family = AF_INET;
  cfg.addr.sin_port = htons((uint16_t)port);
  if (port <= 0 || port > 65535 || inet_pton(AF_INET, ip, &cfg.addr.sin_addr) != 1)
    die("--url needs an IPv4 address and a port");
  /* Load is only ever aimed at this machine. */
  if ((ntohl(cfg.addr.sin_addr.s_addr) >> 24) != 127) die("--url must point at 127.0.0.0/8");
}

static void load_body_list(const char *path) {
  size_t len;
  char *data = read_file(path, &len);
  size_t cap = 0;
  for (char *line = data; line < data + len;) {
    char *nl = memchr(line, '\n', (size_t)(data + len - line));
    char *end = nl ? nl : data + len;
    size_t l = (size_t)(end - line);
    if (l && line[l - 1] == '\r') l--;
    if (l) {
      if (cfg.n_bodies == cap) {
        cap = cap ? cap * 2 : 1024;
        cfg.bodies = xrealloc(cfg.bodies, cap * sizeof *cfg.bodies);
        cfg.body_lens = xrealloc(cfg.body_lens, cap * sizeof *cfg.body_lens);
      }
      cfg.bodies[cfg.n_bodies] = line;
      cfg.body_lens[cfg.n_bodies++] = l;
    }
    line = end + 1;
  }
  if (cfg.n_bodies == 0) die("--body-list holds no line");
}

/* The request line and headers up to (not including) Content-Length and the blank line. */
static void build_prefix(void) {
  size_t cap = 4096 + strlen(cfg.target);
  for (int i = 0; i < cfg.n_headers; i++) cap += strlen(cfg.headers[i]) + 2;
  shared_req = xrealloc(NULL, cap + cfg.body_len + 64);
  int n = snprintf(shared_req, cap, "%s %s HTTP/1.1\r\nHost: %s\r\n", cfg.method, cfg.target,
                   cfg.host);
  for (int i = 0; i < cfg.n_headers; i++)
    n += snprintf(shared_req + n, cap - (size_t)n, "%s\r\n", cfg.headers[i]);
  if (cfg.close_each) n += snprintf(shared_req + n, cap - (size_t)n, "Connection: close\r\n");
  if (cfg.content_type)
    n += snprintf(shared_req + n, cap - (size_t)n, "Content-Type: %s\r\n", cfg.content_type);
  prefix_len = (size_t)n;
  if (cfg.bodies) return;
  if (cfg.body || strcmp(cfg.method, "POST") == 0 || strcmp(cfg.method, "PUT") == 0)
    n += snprintf(shared_req + n, cap - (size_t)n, "Content-Length: %zu\r\n", cfg.body_len);
  n += snprintf(shared_req + n, cap - (size_t)n, "\r\n");
  if (cfg.body_len) memcpy(shared_req + n, cfg.body, cfg.body_len);
  shared_req_len = (size_t)n + cfg.body_len;
}

static int may_issue(uint64_t now, uint64_t deadline) {
  if (now >= deadline) return 0;
  if (cfg.max_requests > 0 && res.issued >= cfg.max_requests) return 0;
  if (cfg.bodies && cfg.next_body >= cfg.n_bodies) return 0;
  return 1;
}

static void conn_close(conn_t *c) {
  if (c->fd >= 0) close(c->fd);
  c->fd = -1;
  c->state = C_IDLE;
  c->served = 0;
}

/* Put the next request in place: the shared bytes, or this body's own copy. */
static void conn_prepare(conn_t *c) {
  c->req_off = 0;
  c->len = c->scanned = c->header_len = 0;
  c->body_len = -1;
  c->status = c->chunked = c->server_closes = c->to_eof = 0;
  if (!cfg.bodies) {
    c->req = shared_req;
    c->req_len = shared_req_len;
    return;
  }
  const char *b = cfg.bodies[cfg.next_body];
  size_t bl = cfg.body_lens[cfg.next_body++];
  size_t need = prefix_len + bl + 64;
  if (c->reqbuf_cap < need) c->reqbuf = xrealloc(c->reqbuf, c->reqbuf_cap = need);
  memcpy(c->reqbuf, shared_req, prefix_len);
  int n = snprintf(c->reqbuf + prefix_len, 64, "Content-Length: %zu\r\n\r\n", bl);
  memcpy(c->reqbuf + prefix_len + (size_t)n, b, bl);
  c->req = c->reqbuf;
  c->req_len = prefix_len + (size_t)n + bl;
}

static int conn_connect(conn_t *c) {
  c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (c->fd < 0) return -1;
  int one = 1;
  setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.ptr = c};
  if (epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev) != 0) {
    conn_close(c);
    return -1;
  }
  if (connect(c->fd, (struct sockaddr *)&cfg.addr, sizeof cfg.addr) != 0 &&
      errno != EINPROGRESS) {
    conn_close(c);
    return -1;
  }
  c->state = C_CONNECTING;
  return 0;
}

/* Write what is left of the request; 1 when all is sent, 0 when the socket is full. */
static int conn_write(conn_t *c) {
  while (c->req_off < c->req_len) {
    ssize_t n = send(c->fd, c->req + c->req_off, c->req_len - c->req_off, MSG_NOSIGNAL);
    if (n > 0) {
      c->req_off += (size_t)n;
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && errno == EAGAIN) {
      return 0;
    } else {
      return -1;
    }
  }
  return 1;
}

/* Parse the header block once it is complete; -1 on a malformed one. */
static int parse_headers(conn_t *c) {
  size_t from = c->scanned > 3 ? c->scanned - 3 : 0;
  char *end = memmem(c->buf + from, c->len - from, "\r\n\r\n", 4);
  c->scanned = c->len;
  if (!end) return c->len > (1u << 20) ? -1 : 0;
  c->header_len = (size_t)(end - c->buf) + 4;
  if (c->len < 12 || strncmp(c->buf, "HTTP/1.", 7) != 0) return -1;
  c->status = atoi(c->buf + 9);
  if (c->status < 100 || c->status > 599) return -1;
  int http10 = c->buf[7] == '0', keep_alive = 0;
  c->body_len = -1;
  for (char *line = memchr(c->buf, '\n', c->header_len) + 1; line < end;) {
    char *eol = memchr(line, '\n', (size_t)(end + 2 - line));
    if (!eol) break;
    char *colon = memchr(line, ':', (size_t)(eol - line));
    if (colon) {
      size_t klen = (size_t)(colon - line);
      char *v = colon + 1;
      while (*v == ' ' || *v == '\t') v++;
      size_t vlen = (size_t)(eol - v);
      if (vlen && v[vlen - 1] == '\r') vlen--;
      if (klen == 14 && strncasecmp(line, "Content-Length", 14) == 0) {
        c->body_len = strtoll(v, NULL, 10);
      } else if (klen == 17 && strncasecmp(line, "Transfer-Encoding", 17) == 0) {
        c->chunked = vlen >= 7 && strncasecmp(v + vlen - 7, "chunked", 7) == 0;
      } else if (klen == 10 && strncasecmp(line, "Connection", 10) == 0) {
        if (vlen == 5 && strncasecmp(v, "close", 5) == 0) c->server_closes = 1;
        if (vlen == 10 && strncasecmp(v, "keep-alive", 10) == 0) keep_alive = 1;
      }
    }
    line = eol + 1;
  }
  if (http10 && !keep_alive) c->server_closes = 1;
  int bodiless = c->status == 204 || c->status == 304 || c->status < 200 ||
                 strcmp(cfg.method, "HEAD") == 0;
  if (bodiless) {
    c->body_len = 0;
    c->chunked = 0;
  } else if (c->chunked) {
    c->body_len = -1;
  } else if (c->body_len < 0) {
    c->to_eof = 1;
    c->server_closes = 1;
  }
  return 1;
}

/* Whether the chunked body in buf is complete; -1 when malformed. */
static int chunked_complete(const conn_t *c) {
  size_t p = c->header_len;
  for (;;) {
    char *eol = memmem(c->buf + p, c->len - p, "\r\n", 2);
    if (!eol) return 0;
    char *hexend;
    unsigned long long size = strtoull(c->buf + p, &hexend, 16);
    if (hexend == c->buf + p) return -1;
    p = (size_t)(eol - c->buf) + 2;
    if (size == 0) {
      /* Trailers, if any, end with an empty line. */
      if (c->len - p >= 2 && memcmp(c->buf + p, "\r\n", 2) == 0) return 1;
      return memmem(c->buf + p, c->len - p, "\r\n\r\n", 4) ? 1 : 0;
    }
    if (size > MAX_RESPONSE || c->len - p < size + 2) return 0;
    p += size + 2;
  }
}

/* 1 when the response in buf is complete, 0 when more is needed, -1 on a bad one. */
static int response_complete(conn_t *c) {
  if (!c->header_len) {
    int r = parse_headers(c);
    if (r <= 0) return r;
  }
  if (c->chunked) return chunked_complete(c);
  if (c->to_eof) return 0;
  return c->len >= c->header_len + (size_t)c->body_len ? 1 : 0;
}

/* --body-out keeps the first response body: setup calls read ids from it. */
static void body_out(const conn_t *c) {
  if (!cfg.body_out || res.completed != 1) return;
  FILE *f = fopen(cfg.body_out, "wb");
  if (!f) return;
  fwrite(c->buf + c->header_len, 1, c->len - c->header_len, f);
  fclose(f);
}

static void record(conn_t *c, uint64_t now) {
  res.completed++;
  res.status[c->status]++;
  stats_add(&res.lat, now - c->t_start);
  if (cfg.expect && c->status != cfg.expect) {
    res.unexpected++;
    if (res.shown_unexpected++ < 3) {
      size_t bl = c->len - c->header_len;
      fprintf(stderr, "bench_loadgen: unexpected status %d: %.*s\n", c->status,
              (int)(bl > 400 ? 400 : bl), c->buf + c->header_len);
    }
  }
  body_out(c);
}

static void conn_start(conn_t *c, uint64_t now, uint64_t deadline);

/* A connection failed. A keep-alive connection the server closed while idle is retried
 * with the same request; anything else counts as an error. */
static void conn_fail(conn_t *c, uint64_t now, uint64_t deadline) {
  int idle_close = c->state != C_CONNECTING && c->served > 0 && c->len == 0;
  conn_close(c);
  if (idle_close) {
    res.reconnects++;
    if (conn_connect(c) == 0) {
      c->req_off = 0;
      return;
    }
  }
  res.errors++;
  conn_start(c, now, deadline);
}

/* Start the next request on c, if the run still wants one. */
static void conn_start(conn_t *c, uint64_t now, uint64_t deadline) {
  if (!may_issue(now, deadline)) {
    conn_close(c);
    return;
  }
  if (c->fd < 0 && conn_connect(c) != 0) {
    res.errors++;
    return; /* The timeout sweep retries idle connections. */
  }
  conn_prepare(c);
  res.issued++;
  c->t_start = now;
  if (c->state == C_CONNECTING) return;
  c->state = C_SENDING;
  int w = conn_write(c);
  if (w < 0) conn_fail(c, now, deadline);
  if (w > 0) c->state = C_RECEIVING;
}

static void on_event(conn_t *c, uint32_t events, uint64_t now, uint64_t deadline) {
  if (c->state == C_CONNECTING) {
    int err = 0;
    socklen_t len = sizeof err;
    if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err || (events & (EPOLLERR | EPOLLHUP))) {
      conn_fail(c, now, deadline);
      return;
    }
    c->state = C_SENDING;
  }
  if (c->state == C_SENDING) {
    int w = conn_write(c);
    if (w < 0) {
      conn_fail(c, now, deadline);
      return;
    }
    if (w == 0) return;
    c->state = C_RECEIVING;
  }
  if (c->state != C_RECEIVING) return;
  for (;;) {
    if (c->cap - c->len < 4096) {
      if (c->cap >= MAX_RESPONSE) {
        conn_fail(c, now, deadline);
        return;
      }
      c->buf = xrealloc(c->buf, c->cap = c->cap ? c->cap * 2 : 16384);
    }
    ssize_t n = recv(c->fd, c->buf + c->len, c->cap - c->len - 1, 0);
    int done;
    if (n > 0) {
      c->len += (size_t)n;
      done = response_complete(c);
    } else if (n == 0) {
      done = c->header_len && c->to_eof ? 1 : -1;
    } else if (errno == EINTR) {
      continue;
    } else if (errno == EAGAIN) {
      return;
    } else {
      done = -1;
    }
    if (done < 0) {
      conn_fail(c, now, deadline);
      return;
    }
    if (done == 0) continue;
    record(c, now);
    c->served++;
    if (c->server_closes || cfg.close_each) {
      if (!cfg.close_each) res.reconnects++;
      conn_close(c);
    }
    conn_start(c, now, deadline);
    return;
  }
}

static void usage(FILE *f) {
  fputs("usage: bench_loadgen --url http://127.0.0.1:PORT/path [--connections 64]\n"
        "         [--duration 3] [--max-requests N] [--header 'K: V']... [--method M]\n"
        "         [--body-file F | --body-list F] [--content-type T] [--expect 200]\n"
        "         [--close] [--timeout 10] [--body-out F]\n",
        f);
}

int main(int argc, char **argv) {
  static const struct option opts[] = {
      {"url", required_argument, NULL, 'u'},          {"connections", required_argument, NULL, 'c'},
      {"duration", required_argument, NULL, 'd'},     {"max-requests", required_argument, NULL, 'n'},
      {"header", required_argument, NULL, 'H'},       {"method", required_argument, NULL, 'm'},
      {"body-file", required_argument, NULL, 'b'},    {"body-list", required_argument, NULL, 'l'},
      {"content-type", required_argument, NULL, 't'}, {"expect", required_argument, NULL, 'e'},
      {"close", no_argument, NULL, 'C'},              {"timeout", required_argument, NULL, 'T'},
      {"body-out", required_argument, NULL, 'o'},     {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  const char *url = NULL;
  for (int c; (c = getopt_long(argc, argv, "", opts, NULL)) != -1;) {
    switch (c) {
      case 'u': url = optarg; break;
      case 'c': cfg.connections = atoi(optarg); break;
      case 'd': cfg.duration = atof(optarg); break;
      case 'n': cfg.max_requests = atoll(optarg); break;
      case 'H':
        if (cfg.n_headers == MAX_HEADERS) die("too many --header");
        cfg.headers[cfg.n_headers++] = optarg;
        break;
      case 'm': cfg.method = optarg; break;
      case 'b': cfg.body = read_file(optarg, &cfg.body_len); break;
      case 'l': load_body_list(optarg); break;
      case 't': cfg.content_type = optarg; break;
      case 'e': cfg.expect = atoi(optarg); break;
      case 'C': cfg.close_each = 1; break;
      case 'T': cfg.timeout = atof(optarg); break;
      case 'o': cfg.body_out = optarg; break;
      case 'h': usage(stdout); return 0;
      default: usage(stderr); return 2;
    }
  }
  if (!url || cfg.connections < 1 || cfg.connections > MAX_CONNECTIONS || cfg.duration <= 0 ||
      cfg.duration > 3600 || cfg.timeout <= 0 || (cfg.body && cfg.bodies)) {
    usage(stderr);
    return 2;
  }
  parse_url(url);
  if (!cfg.method) cfg.method = cfg.body || cfg.bodies ? "POST" : "GET";
  build_prefix();
  signal(SIGPIPE, SIG_IGN);

  epfd = epoll_create1(EPOLL_CLOEXEC);
  if (epfd < 0) die("epoll_create1 failed");
  conn_t *conns = calloc((size_t)cfg.connections, sizeof *conns);
  if (!conns) die("out of memory");
  uint64_t start = stats_now_us(), last_done = start;
  uint64_t deadline = start + (uint64_t)(cfg.duration * 1e6);
  uint64_t timeout_us = (uint64_t)(cfg.timeout * 1e6), next_sweep = start;
  for (int i = 0; i < cfg.connections; i++) {
    conns[i].fd = -1;
    conn_start(&conns[i], start, deadline);
  }

  struct epoll_event evs[256];
  for (;;) {
    uint64_t now = stats_now_us();
    if (now >= deadline) break;
    if (now >= next_sweep) {
      /* Once in a while: time out stuck requests and revive idle connections. */
      int busy = 0;
      for (int i = 0; i < cfg.connections; i++) {
        conn_t *c = &conns[i];
        if (c->state != C_IDLE && now - c->t_start > timeout_us) {
          conn_close(c);
          res.errors++;
        }
        if (c->state == C_IDLE) conn_start(c, now, deadline);
        busy += c->state != C_IDLE;
      }
      if (!busy) break; /* Nothing in flight and nothing left to issue. */
      if (res.completed == 0 && res.errors > 1000) die("cannot reach the server");
      next_sweep = now + 100000;
    }
    uint64_t wait_us = (next_sweep < deadline ? next_sweep : deadline) - now;
    int n = epoll_wait(epfd, evs, 256, (int)(wait_us / 1000) + 1);
    if (n < 0 && errno != EINTR) die("epoll_wait failed");
    now = stats_now_us();
    long long before = res.completed;
    for (int i = 0; i < n; i++) on_event(evs[i].data.ptr, evs[i].events, now, deadline);
    if (res.completed != before) last_done = now;
    /* A bounded run ends as soon as its last response is in. */
    if (n > 0 && !may_issue(now, deadline)) {
      int busy = 0;
      for (int i = 0; i < cfg.connections && !busy; i++) busy = conns[i].state != C_IDLE;
      if (!busy) break;
    }
  }
  uint64_t end = stats_now_us();
  if (!may_issue(end, deadline) && end < deadline) end = last_done;
  double secs = (double)(end - start) / 1e6;

  printf("{\"requests\":%lld,\"seconds\":%.3f,\"rps\":%.1f,\"statuses\":{", res.completed, secs,
         secs > 0 ? (double)res.completed / secs : 0.0);
  int first = 1;
  for (int s = 0; s < 600; s++)
    if (res.status[s]) printf("%s\"%d\":%lld", first ? "" : ",", s, res.status[s]), first = 0;
  uint64_t p50 = stats_percentile(&res.lat, 50), p99 = stats_percentile(&res.lat, 99);
  printf("},\"p50_us\":%llu,\"p99_us\":%llu,\"max_us\":%llu,\"errors\":%lld,\"reconnects\":%lld,"
         "\"unexpected\":%lld,\"connections\":%d,\"close\":%s}\n",
         (unsigned long long)p50, (unsigned long long)p99,
         (unsigned long long)stats_percentile(&res.lat, 100), res.errors, res.reconnects,
         res.unexpected, cfg.connections, cfg.close_each ? "true" : "false");
  fflush(stdout);
  return res.unexpected || (res.completed == 0) ? 3 : 0;
}
