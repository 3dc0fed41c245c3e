/* bench_coap_load: a CoAP load generator for the mock's p/cmd poll and its baseline.
 *
 * --sessions UDP sockets (each its own source port, hence its own CoAP session at the
 * server), one confirmable request in flight per session, messages written by hand
 * (RFC 7252 header, token, Uri-Path and Uri-Query options). Optionally each session
 * first POSTs one line of --auth-jwt-file to p/auth-jwt, as a device authenticates; the
 * measured window starts once every session is through. It retransmits on timeout with
 * the same message id, answers separate responses with an empty ACK, counts response
 * codes and prints one JSON line like bench_loadgen's:
 *   {"requests":N,"seconds":S,"rps":R,"statuses":{"2.05":N},"p50_us":..,"p99_us":..}
 * Bounded by --duration and --max-requests; loopback targets only. Not for: DTLS,
 * block-wise transfers or correctness testing (tests/ uses the libcoap client API).
 */
#include "stats.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#define COAP_CON 0
#define COAP_NON 1
#define COAP_ACK 2
#define COAP_RST 3
#define COAP_GET 0x01
#define COAP_POST 0x02
#define OPT_URI_PATH 11
#define OPT_CONTENT_FORMAT 12
#define OPT_URI_QUERY 15
#define MAX_PDU 1400
#define MAX_SESSIONS 1024
#define TOKEN_LEN 4

enum phase { P_AUTH, P_POLL, P_DONE };

typedef struct {
  int fd;
  enum phase phase;
  uint16_t mid;
  uint32_t seq; /* the token of the request in flight */
  uint8_t pdu[MAX_PDU];
  size_t pdu_len;
  uint64_t t_start, t_sent;
  int retries, separate, in_flight;
  const char *jwt;
  size_t jwt_len;
} sess_t;

static struct {
  struct sockaddr_in addr;
  char path[512], query[1024], auth_path[256];
  int sessions, expect, max_retransmits;
  double duration, ack_timeout;
  long long max_requests;
  char **jwts;
  size_t *jwt_lens, n_jwts;
} cfg = {.sessions = 16, .duration = 3, .ack_timeout = 1.0, .max_retransmits = 4};

static struct {
  long long issued, completed, retransmits, timeouts, rst, unexpected, auth_failed;
  long long code[256];
  stats_t lat;
  int shown;
} res;

static void die(const char *msg) {
  fprintf(stderr, "bench_coap_load: %s\n", msg);
  exit(1);
}

/* Append one option (delta/length nibbles with their extended bytes); 0 or -1 when full. */
static int put_option(uint8_t *pdu, size_t *len, unsigned *last, unsigned num, const void *val,
                      size_t vlen) {
  unsigned delta = num - *last;
  uint8_t ext[4];
  size_t n_ext = 0;
  unsigned dn, ln;
  if (delta < 13) {
    dn = delta;
  } else if (delta < 269) {
    dn = 13, ext[n_ext++] = (uint8_t)(delta - 13);
  } else {
    dn = 14, ext[n_ext++] = (uint8_t)((delta - 269) >> 8), ext[n_ext++] = (uint8_t)(delta - 269);
  }
  if (vlen < 13) {
    ln = (unsigned)vlen;
  } else if (vlen < 269) {
    ln = 13, ext[n_ext++] = (uint8_t)(vlen - 13);
  } else {
    ln = 14, ext[n_ext++] = (uint8_t)((vlen - 269) >> 8), ext[n_ext++] = (uint8_t)(vlen - 269);
  }
  if (*len + 1 + n_ext + vlen > MAX_PDU) return -1;
  pdu[(*len)++] = (uint8_t)(dn << 4 | ln);
  memcpy(pdu + *len, ext, n_ext);
  *len += n_ext;
  if (vlen) memcpy(pdu + *len, val, vlen);
  *len += vlen;
  *last = num;
  return 0;
}

/* Append every sep-separated item of list as option num. */
static int put_list(uint8_t *pdu, size_t *len, unsigned *last, unsigned num, const char *list,
                    char sep) {
  for (const char *p = list; *p;) {
    const char *e = strchr(p, sep);
    size_t l = e ? (size_t)(e - p) : strlen(p);
    /* An empty path segment means nothing; an empty query item (`after=`) is real. */
    if ((l || num == OPT_URI_QUERY) && put_option(pdu, len, last, num, p, l) != 0) return -1;
    p += l + (e ? 1 : 0);
  }
  return 0;
}

/* Build the session's next request: the auth POST or the poll GET. */
static void build_request(sess_t *s) {
  uint8_t *p = s->pdu;
  size_t len = 0;
  unsigned last = 0;
  int auth = s->phase == P_AUTH;
  s->mid++;
  s->seq++;
  p[len++] = (uint8_t)(1 << 6 | COAP_CON << 4 | TOKEN_LEN);
  p[len++] = auth ? COAP_POST : COAP_GET;
  p[len++] = (uint8_t)(s->mid >> 8);
  p[len++] = (uint8_t)s->mid;
  memcpy(p + len, &s->seq, TOKEN_LEN);
  len += TOKEN_LEN;
  int bad = put_list(p, &len, &last, OPT_URI_PATH, auth ? cfg.auth_path : cfg.path, '/');
  if (auth) {
    /* Content-Format 0 (text/plain) is the zero-length uint. */
    bad |= put_option(p, &len, &last, OPT_CONTENT_FORMAT, NULL, 0);
    if (len + 1 + s->jwt_len > MAX_PDU) die("a JWT does not fit one datagram");
    p[len++] = 0xff;
    memcpy(p + len, s->jwt, s->jwt_len);
    len += s->jwt_len;
  } else {
    bad |= put_list(p, &len, &last, OPT_URI_QUERY, cfg.query, '&');
  }
  if (bad) die("request options do not fit one datagram");
  s->pdu_len = len;
}

static void send_pdu(sess_t *s, uint64_t now) {
  s->t_sent = now;
  if (send(s->fd, s->pdu, s->pdu_len, 0) < 0 && errno != EAGAIN && errno != ECONNREFUSED)
    perror("bench_coap_load: send");
}

static int may_issue(uint64_t now, uint64_t deadline) {
  return now < deadline && (cfg.max_requests <= 0 || res.issued < cfg.max_requests);
}

static void start_request(sess_t *s, uint64_t now, uint64_t deadline) {
  if (s->phase == P_POLL && !may_issue(now, deadline)) {
    s->in_flight = 0;
    return;
  }
  build_request(s);
  if (s->phase == P_POLL) res.issued++;
  s->t_start = now;
  s->retries = s->separate = 0;
  s->in_flight = 1;
  send_pdu(s, now);
}

static void on_response(sess_t *s, const uint8_t *p, size_t n, uint64_t now, uint64_t deadline) {
  uint8_t code = p[1];
  if (s->phase == P_AUTH) {
    if (code >> 5 != 2) {
      res.auth_failed++;
      if (res.shown++ < 3) {
        const uint8_t *pl = memchr(p + 4, 0xff, n - 4);
        fprintf(stderr, "bench_coap_load: auth answered %d.%02d %.*s\n", code >> 5, code & 31,
                pl ? (int)(n - (size_t)(pl + 1 - p)) : 0, pl ? (const char *)pl + 1 : "");
      }
      s->phase = P_DONE;
      s->in_flight = 0;
      return;
    }
    s->phase = P_POLL;
    s->in_flight = 0; /* Polling starts when every session is through. */
    return;
  }
  res.completed++;
  res.code[code]++;
  stats_add(&res.lat, now - s->t_start);
  if (cfg.expect && code != cfg.expect) {
    res.unexpected++;
    if (res.shown++ < 3)
      fprintf(stderr, "bench_coap_load: unexpected %d.%02d\n", code >> 5, code & 31);
  }
  start_request(s, now, deadline);
}

static void on_datagram(sess_t *s, const uint8_t *p, size_t n, uint64_t now, uint64_t deadline) {
  if (n < 4 || p[0] >> 6 != 1) return;
  unsigned type = (p[0] >> 4) & 3, tkl = p[0] & 15;
  uint16_t mid = (uint16_t)(p[2] << 8 | p[3]);
  if (!s->in_flight) return;
  if (type == COAP_RST && mid == s->mid) {
    res.rst++;
    if (s->phase == P_AUTH) s->phase = P_DONE, s->in_flight = 0, res.auth_failed++;
    else start_request(s, now, deadline);
    return;
  }
  if (type == COAP_ACK && p[1] == 0 && mid == s->mid) {
    s->separate = 1; /* Empty ACK: the answer comes later in its own message. */
    return;
  }
  if (tkl != TOKEN_LEN || n < 4 + TOKEN_LEN || memcmp(p + 4, &s->seq, TOKEN_LEN) != 0) return;
  if (type == COAP_CON) {
    uint8_t ack[4] = {(uint8_t)(1 << 6 | COAP_ACK << 4), 0, p[2], p[3]};
    send(s->fd, ack, sizeof ack, 0);
  } else if (type == COAP_ACK && mid != s->mid) {
    return;
  }
  on_response(s, p, n, now, deadline);
}

/* Resend what timed out (RFC 7252 binary backoff); give up after --retransmits. */
static void sweep(sess_t *ss, uint64_t now, uint64_t deadline) {
  uint64_t base = (uint64_t)(cfg.ack_timeout * 1e6);
  for (int i = 0; i < cfg.sessions; i++) {
    sess_t *s = &ss[i];
    if (!s->in_flight || now - s->t_sent < (base << s->retries)) continue;
    if (s->retries >= cfg.max_retransmits) {
      res.timeouts++;
      if (s->phase == P_AUTH) s->phase = P_DONE, s->in_flight = 0, res.auth_failed++;
      else start_request(s, now, deadline);
    } else if (!s->separate) {
      s->retries++;
      res.retransmits++;
      send_pdu(s, now);
    } else {
      s->retries++;
      s->t_sent = now;
    }
  }
}

static void drain(int epfd, sess_t *ss, uint64_t deadline, int timeout_ms) {
  struct epoll_event evs[256];
  uint8_t buf[2048];
  int n = epoll_wait(epfd, evs, 256, timeout_ms);
  if (n < 0 && errno != EINTR) die("epoll_wait failed");
  uint64_t now = stats_now_us();
  for (int i = 0; i < n; i++) {
    sess_t *s = &ss[evs[i].data.u32];
    for (;;) {
      ssize_t got = recv(s->fd, buf, sizeof buf, 0);
      if (got < 0 && errno == EINTR) continue;
      if (got < 0) break; /* EAGAIN, or an ICMP error the timeout sweep handles */
      on_datagram(s, buf, (size_t)got, now, deadline);
    }
  }
  sweep(ss, now, deadline);
}

static void load_jwts(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) {
    perror(path);
    exit(1);
  }
  char *line = NULL;
  size_t cap = 0, slots = 0;
  ssize_t l;
  while ((l = getline(&line, &cap, f)) > 0) {
    while (l && (line[l - 1] == '\n' || line[l - 1] == '\r')) line[--l] = '\0';
    if (!l) continue;
    if (cfg.n_jwts == slots) {
      slots = slots ? slots * 2 : 64;
      cfg.jwts = realloc(cfg.jwts, slots * sizeof *cfg.jwts);
      cfg.jwt_lens = realloc(cfg.jwt_lens, slots * sizeof *cfg.jwt_lens);
      if (!cfg.jwts || !cfg.jwt_lens) die("out of memory");
    }
    cfg.jwt_lens[cfg.n_jwts] = (size_t)l;
    cfg.jwts[cfg.n_jwts++] = strdup(line);
  }
  free(line);
  fclose(f);
}

/* coap://127.0.0.1:PORT/p/cmd?after=&rxMaxSize=2048 */
static void parse_url(const char *url) {
  if (strncmp(url, "coap://", 7) != 0) die("--url must start with coap://");
  char host[256];
  const char *h = url + 7, *slash = strchr(h, '/');
  size_t hl = slash ? (size_t)(slash - h) : strlen(h);
  if (hl == 0 || hl >= sizeof host) die("bad host in --url");
  memcpy(host, h, hl);
  host[hl] = '\0';
  char *colon = strrchr(host, ':');
  long port = 5683;
  if (colon) *colon = '\0', port = strtol(colon + 1, NULL, 10);
  cfg.addr.sin_family = AF_INET;
  cfg.addr.sin_port = htons((uint16_t)port);
  if (strcmp(host, "localhost") == 0) snprintf(host, sizeof host, "127.0.0.1");
  if (port <= 0 || port > 65535 || inet_pton(AF_INET, host, &cfg.addr.sin_addr) != 1)
    die("--url needs an IPv4 address and a port");
  if ((ntohl(cfg.addr.sin_addr.s_addr) >> 24) != 127) die("--url must point at 127.0.0.0/8");
  const char *path = slash ? slash + 1 : "";
  const char *q = strchr(path, '?');
  snprintf(cfg.path, sizeof cfg.path, "%.*s", (int)(q ? (size_t)(q - path) : strlen(path)), path);
  snprintf(cfg.query, sizeof cfg.query, "%s", q ? q + 1 : "");
}

static int parse_code(const char *s) {
  unsigned cls, detail;
  if (sscanf(s, "%u.%u", &cls, &detail) != 2 || cls > 7 || detail > 31) die("bad --expect");
  return (int)(cls << 5 | detail);
}

static void usage(FILE *f) {
  fputs("usage: bench_coap_load --url coap://127.0.0.1:PORT/p/cmd[?after=&rxMaxSize=2048]\n"
        "         [--sessions 16] [--duration 3] [--max-requests N] [--expect 2.05]\n"
        "         [--auth-jwt-file F] [--auth-path p/auth-jwt] [--ack-timeout 1]\n"
        "         [--retransmits 4]\n",
        f);
}

int main(int argc, char **argv) {
  static const struct option opts[] = {
      {"url", required_argument, NULL, 'u'},           {"sessions", required_argument, NULL, 's'},
      {"duration", required_argument, NULL, 'd'},      {"max-requests", required_argument, NULL, 'n'},
      {"expect", required_argument, NULL, 'e'},        {"auth-jwt-file", required_argument, NULL, 'j'},
      {"auth-path", required_argument, NULL, 'a'},     {"ack-timeout", required_argument, NULL, 't'},
      {"retransmits", required_argument, NULL, 'r'},   {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  const char *url = NULL, *jwt_file = NULL;
  snprintf(cfg.auth_path, sizeof cfg.auth_path, "p/auth-jwt");
  for (int c; (c = getopt_long(argc, argv, "", opts, NULL)) != -1;) {
    switch (c) {
      case 'u': url = optarg; break;
      case 's': cfg.sessions = atoi(optarg); break;
      case 'd': cfg.duration = atof(optarg); break;
      case 'n': cfg.max_requests = atoll(optarg); break;
      case 'e': cfg.expect = parse_code(optarg); break;
      case 'j': jwt_file = optarg; break;
      case 'a': snprintf(cfg.auth_path, sizeof cfg.auth_path, "%s", optarg); break;
      case 't': cfg.ack_timeout = atof(optarg); break;
      case 'r': cfg.max_retransmits = atoi(optarg); break;
      case 'h': usage(stdout); return 0;
      default: usage(stderr); return 2;
    }
  }
  if (!url || cfg.sessions < 1 || cfg.sessions > MAX_SESSIONS || cfg.duration <= 0 ||
      cfg.duration > 3600 || cfg.ack_timeout <= 0 || cfg.max_retransmits < 0 ||
      cfg.max_retransmits > 8) {
    usage(stderr);
    return 2;
  }
  parse_url(url);
  if (jwt_file) {
    load_jwts(jwt_file);
    if (cfg.n_jwts < (size_t)cfg.sessions) die("--auth-jwt-file has fewer lines than --sessions");
  }

  int epfd = epoll_create1(EPOLL_CLOEXEC);
  sess_t *ss = calloc((size_t)cfg.sessions, sizeof *ss);
  if (epfd < 0 || !ss) die("setup failed");
  for (int i = 0; i < cfg.sessions; i++) {
    sess_t *s = &ss[i];
    s->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s->fd < 0 || connect(s->fd, (struct sockaddr *)&cfg.addr, sizeof cfg.addr) != 0)
      die("cannot open a UDP socket");
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, s->fd, &ev) != 0) die("epoll_ctl failed");
    if (getrandom(&s->mid, sizeof s->mid, 0) != sizeof s->mid) s->mid = (uint16_t)(i * 7919);
    s->seq = (uint32_t)i << 20;
    s->phase = jwt_file ? P_AUTH : P_POLL;
    if (jwt_file) s->jwt = cfg.jwts[i], s->jwt_len = cfg.jwt_lens[i];
  }

  /* Authenticate every session first (bounded), outside the measured window. */
  uint64_t now = stats_now_us(), auth_deadline = now + 10000000;
  if (jwt_file) {
    for (int i = 0; i < cfg.sessions; i++) start_request(&ss[i], now, auth_deadline);
    for (;;) {
      int pending = 0;
      for (int i = 0; i < cfg.sessions; i++) pending += ss[i].phase == P_AUTH;
      if (!pending || stats_now_us() >= auth_deadline) break;
      drain(epfd, ss, auth_deadline, 50);
    }
    for (int i = 0; i < cfg.sessions; i++)
      if (ss[i].phase == P_AUTH) ss[i].phase = P_DONE, ss[i].in_flight = 0, res.auth_failed++;
    if (res.auth_failed == cfg.sessions) die("no session could authenticate");
  }

  uint64_t start = stats_now_us(), last_done = start;
  uint64_t deadline = start + (uint64_t)(cfg.duration * 1e6);
  for (int i = 0; i < cfg.sessions; i++)
    if (ss[i].phase == P_POLL) start_request(&ss[i], start, deadline);
  for (;;) {
    now = stats_now_us();
    if (now >= deadline) break;
    long long before = res.completed;
    uint64_t wait_ms = (deadline - now) / 1000 + 1;
    drain(epfd, ss, deadline, wait_ms < 50 ? (int)wait_ms : 50);
    if (res.completed != before) last_done = stats_now_us();
    int busy = 0;
    for (int i = 0; i < cfg.sessions && !busy; i++) busy = ss[i].in_flight;
    if (!busy) break;
  }
  uint64_t end = stats_now_us();
  if (end < deadline) end = last_done;
  double secs = (double)(end - start) / 1e6;

  printf("{\"requests\":%lld,\"seconds\":%.3f,\"rps\":%.1f,\"statuses\":{", res.completed, secs,
         secs > 0 ? (double)res.completed / secs : 0.0);
  int first = 1;
  for (int c = 0; c < 256; c++)
    if (res.code[c])
      printf("%s\"%d.%02d\":%lld", first ? "" : ",", c >> 5, c & 31, res.code[c]), first = 0;
  printf("},\"p50_us\":%llu,\"p99_us\":%llu,\"max_us\":%llu,\"retransmits\":%lld,"
         "\"timeouts\":%lld,\"rst\":%lld,\"unexpected\":%lld,\"auth_failed\":%lld,"
         "\"sessions\":%d}\n",
         (unsigned long long)stats_percentile(&res.lat, 50),
         (unsigned long long)stats_percentile(&res.lat, 99),
         (unsigned long long)stats_percentile(&res.lat, 100), res.retransmits, res.timeouts,
         res.rst, res.unexpected, res.auth_failed, cfg.sessions);
  for (int i = 0; i < cfg.sessions; i++) close(ss[i].fd);
  return res.unexpected || res.auth_failed || res.completed == 0 ? 3 : 0;
}
