/* The limits of docs/control-api.md §5 ("Limits", "Logs") through the real binary: each
 * test crosses one limit, checks the answer, and checks that the server still serves
 * others. Log escaping, exact cache keys and the report cap are here; the connection and
 * session limits of the transports too. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness_coap.h"
#include "harness_scenarios.h"
#include "proto/dcbor.h"

static mock m;
static void start(void) { mock_start(&m, "--https-port", "-1", "--coaps-port", "-1", NULL); }
static void stop(void) { mock_stop(&m); }

/* A TCP connection to the mock's HTTP port. */
static int connect_http(const mock *mk) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  cr_assert(fd >= 0);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)mk->http_port)};
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  cr_assert(connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0, "connect: %s", strerror(errno));
  return fd;
}

/* Read what the server sends until it closes or n-1 bytes arrived (bounded: 10 s). */
static size_t read_all(int fd, char *buf, size_t n) {
  size_t len = 0;
  for (;;) {
    struct pollfd p = {fd, POLLIN, 0};
    if (len + 1 >= n || poll(&p, 1, 10000) <= 0) break;
    ssize_t k = read(fd, buf + len, n - 1 - len);
    if (k <= 0) break;
    len += (size_t)k;
  }
  buf[len] = 0;
  return len;
}

/* One raw HTTP/1.1 exchange on a new connection; the whole answer in buf. */
static void raw_http(const mock *mk, const char *request, char *buf, size_t n) {
  int fd = connect_http(mk);
  cr_assert(write(fd, request, strlen(request)) == (ssize_t)strlen(request));
  read_all(fd, buf, n);
  close(fd);
}

/* The server still answers a plain request. */
static void still_serving(mock *mk) {
  http_resp *r = http_req(mk, "GET", "/_mock/health", NULL, NULL, 0);
  cr_assert_eq(r->status, 200, "health after the limit: %ld", r->status);
  http_resp_free(r);
}

/* ---- logs ------------------------------------------------------------------------ */

TestSuite(limits_logs, .timeout = 60);

Test(limits_logs, text_lines_escape_control_characters_and_invalid_utf8) {
  mock_start(&m, "--https-port", "-1", "--coaps-port", "-1", NULL);
  char buf[4096];
  raw_http(&m, "GET /x%0A2026-01-01T00:00:00.000Z%20error%20forged%0D%09%01%FF HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                "Connection: close\r\n\r\n", buf, sizeof buf);
  cr_assert(!strncmp(buf, "HTTP/1.1 404", 12), "%s", buf);
  still_serving(&m);
  char *log = read_file(m.log_file, NULL);
  cr_assert(log);
  cr_assert(strstr(log, "/x\\n2026-01-01T00:00:00.000Z error forged\\r\\t\\x01\\xff 404"), "%s", log);
  cr_assert_null(strstr(log, "\n2026-01-01T00:00:00.000Z"), "a forged line: %s", log);
  free(log);
  mock_stop(&m);
}

Test(limits_logs, json_lines_are_never_dropped) {
  mock_start(&m, "--https-port", "-1", "--coaps-port", "-1", "--log-format", "json", NULL);
  char buf[4096];
  raw_http(&m, "GET /bad%FF%C3%28%ED%A0%80%0Aend HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", buf,
           sizeof buf);
  cr_assert(!strncmp(buf, "HTTP/1.1 404", 12), "%s", buf);
  still_serving(&m);
  char *log = read_file(m.log_file, NULL);
  cr_assert(log);
  bool seen = false;
  for (char *line = strtok(log, "\n"); line; line = strtok(NULL, "\n")) {
    if (!strncmp(line, "nrfprov-mock ready", 18)) continue; /* on stdout, which the harness adds */
    json_error_t je;
    json_t *j = json_loads(line, 0, &je);
    cr_assert(j, "not a JSON line (%s): %s", je.text, line);
    if (!strcmp(jstr(j, "path"), "/bad\\xff\\xc3(\\xed\\xa0\\x80\\nend")) seen = true;
    json_decref(j);
  }
  cr_assert(seen, "the request's line is missing or not escaped");
  free(log);
  mock_stop(&m);
}

/* ---- cache keys ------------------------------------------------------------------ */

TestSuite(limits_cache, .init = start, .fini = stop, .timeout = 60);

Test(limits_cache, a_longer_id_never_answers_from_another_ids_cache_entry) {
  char cred[1200], uuid[37], id[37], path[300];
  sc_claim(&m, cred, uuid);
  sc_queue(&m, uuid, "{\"finished\":{}}", id);
  snprintf(path, sizeof path, "/v1/claimed-devices/%s/provisioning/%s", uuid, id);
  http_resp *r = owner(&m, SC_KEY, "GET", path, NULL);
  cr_assert_eq(r->status, 200, "%s", r->body);
  http_resp_free(r);
  snprintf(path, sizeof path, "/v1/claimed-devices/%sZZZZ/provisioning/%s-bogus", uuid, id);
  r = owner(&m, SC_KEY, "GET", path, NULL);
  cr_assert_eq(r->status, 404, "%s", r->body);
  http_resp_free(r);
  snprintf(path, sizeof path, "/v1/claimed-devices/%s/provisioning/%s-bogus", uuid, id);
  r = owner(&m, SC_KEY, "GET", path, NULL);
  cr_assert_eq(r->status, 404, "%s", r->body);
  http_resp_free(r);
  snprintf(path, sizeof path, "/v1/claimed-devices/%s", uuid);
  r = owner(&m, SC_KEY, "GET", path, NULL);
  cr_assert_eq(r->status, 200, "%s", r->body);
  http_resp_free(r);
  snprintf(path, sizeof path, "/v1/claimed-devices/%sZZZZ", uuid);
  r = owner(&m, SC_KEY, "GET", path, NULL);
  cr_assert_eq(r->status, 404, "%s", r->body);
  http_resp_free(r);
}

/* ---- reports --------------------------------------------------------------------- */

/* A responses message of n finished acks (102), definite lengths. */
static uint8_t *acks(size_t n, size_t *len) {
  dcbor_response *r = calloc(n, sizeof *r);
  for (size_t i = 0; i < n; i++) r[i].cid = "c", r[i].type = DRSP_FINISHED_ACK;
  uint8_t *out;
  cr_assert_eq(dcbor_encode_responses(r, n, 0, &out, len), 0);
  free(r);
  return out;
}

TestSuite(limits_reports, .init = start, .fini = stop, .timeout = 60);

static void report_cap(dev_transport t) {
  char cred[1200], uuid[37];
  sc_claim(&m, cred, uuid);
  dev_client d;
  dev_open(&d, &m, t, cred);
  size_t len;
  uint8_t *body = acks(DCBOR_MAX_RESPONSES, &len);
  cr_assert_eq(dev_report(&d, body, len), DEV_ACCEPTED, "256 responses are fine");
  free(body);
  body = acks(DCBOR_MAX_RESPONSES + 1, &len);
  cr_assert_eq(dev_report(&d, body, len), DEV_BAD_REQUEST, "257 responses are refused");
  free(body);
  /* Many one-byte items in one response: refused before libcbor builds them. */
  static uint8_t flood[60000];
  memcpy(flood, "\x81\x9a\x00\x00\xea\x5a", 6); /* [ [59994 x 0] ] */
  memset(flood + 6, 0, sizeof flood - 6);
  cr_assert_eq(dev_report(&d, flood, sizeof flood), DEV_BAD_REQUEST, "a flood of items is refused");
  cr_assert_eq(dev_fetch(&d, "after=&rxMaxSize=2048", NULL, NULL), DEV_NOTHING, "the device goes on");
  dev_close(&d);
  still_serving(&m);
}

Test(limits_reports, at_most_256_responses_over_http) {
  report_cap(DEV_HTTP);
  /* The HTTP answer names the defect. */
  char cred[1200], uuid[37], req[2048], buf[4096];
  sc_claim(&m, cred, uuid);
  size_t len;
  uint8_t *body = acks(DCBOR_MAX_RESPONSES + 1, &len);
  int fd = connect_http(&m);
  snprintf(req, sizeof req,
           "POST /v1/provisioning/response HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n"
           "Content-Type: application/cbor\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n", cred, len);
  cr_assert(write(fd, req, strlen(req)) == (ssize_t)strlen(req));
  cr_assert(write(fd, body, len) == (ssize_t)len);
  read_all(fd, buf, sizeof buf);
  close(fd);
  free(body);
  cr_assert(!strncmp(buf, "HTTP/1.1 400", 12), "%s", buf);
  char *json = strstr(buf, "\r\n\r\n");
  cr_assert(json && (!json[4] || strstr(json, "\"code\":40007")), "%s", buf);
}

Test(limits_reports, at_most_256_responses_over_coap) { report_cap(DEV_COAP); }

/* ---- HTTP connections -------------------------------------------------------------- */

/* A TCP connection to the HTTP port from the loopback address src ("127.0.0.2"). */
static int connect_from(const mock *mk, const char *src) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  cr_assert(fd >= 0);
  struct sockaddr_in me = {.sin_family = AF_INET};
  cr_assert(inet_pton(AF_INET, src, &me.sin_addr) == 1);
  cr_assert(bind(fd, (struct sockaddr *)&me, sizeof me) == 0, "bind %s: %s", src, strerror(errno));
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)mk->http_port)};
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  cr_assert(connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0, "connect: %s", strerror(errno));
  return fd;
}

static void send_text(int fd, const char *s) { cr_assert(write(fd, s, strlen(s)) == (ssize_t)strlen(s)); }

/* True when the server closes fd (or resets it) within ms; data it sends is read and dropped. */
static bool closed_within(int fd, int ms) {
  char buf[4096];
  for (;;) {
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, ms) <= 0) return false;
    ssize_t k = read(fd, buf, sizeof buf);
    if (k <= 0) return true;
  }
}

#define PARTIAL "GET /_mock/health HTTP/1.1\r\nHost: 127.0.0.1\r\n"

TestSuite(limits_http, .timeout = 60);

Test(limits_http, the_limits_are_options_shown_in_config) {
  mock_start(&m, "--https-port", "-1", "--coaps-port", "-1", NULL);
  http_resp *r = http_req(&m, "GET", "/_mock/config", NULL, NULL, 0);
  cr_assert_eq(r->status, 200);
  cr_assert_eq(jint(r->json, "max-connections"), 1000);
  cr_assert_eq(jint(r->json, "max-connections-per-ip"), 128);
  cr_assert_eq(jint(r->json, "header-timeout-ms"), 10000);
  cr_assert_eq(jint(r->json, "idle-timeout-ms"), 120000);
  cr_assert_eq(jint(r->json, "coap-max-sessions"), 4096);
  http_resp_free(r);
  mock_stop(&m);
  char out[512], err[512];
  const char *bad[] = {"--max-connections-per-ip", "0", NULL};
  cr_assert_eq(run_mock_binary(bad, out, sizeof out, err, sizeof err), 1, "%s", err);
  cr_assert(strstr(err, "max-connections-per-ip"), "%s", err);
}

Test(limits_http, one_address_holds_at_most_max_connections_per_ip) {
  mock_start(&m, "--https-port", "-1", "--coaps-port", "-1", "--max-connections-per-ip", "4", NULL);
  int held[4];
  for (int i = 0; i < 4; i++) {
    held[i] = connect_from(&m, "127.0.0.2");
    send_text(held[i], PARTIAL);
  }
  /* The server has seen the four once a request from them is being read: health answers
   * on a fifth connection from another address. */
  still_serving(&m);
  int extra = connect_from(&m, "127.0.0.2");
  send_text(extra, PARTIAL "\r\n");
  cr_assert(closed_within(extra, 10000), "a fifth connection from 127.0.0.2 was not closed");
  close(extra);
  /* Others are served, and so are the four held ones. */
  still_serving(&m);
  char buf[2048];
  send_text(held[0], "Connection: close\r\n\r\n");
  read_all(held[0], buf, sizeof buf);
  cr_assert(!strncmp(buf, "HTTP/1.1 200", 12), "%s", buf);
  for (int i = 0; i < 4; i++) close(held[i]);
  mock_stop(&m);
}

Test(limits_http, a_listener_holds_at_most_max_connections) {
  mock_start(&m, "--https-port", "-1", "--coaps-port", "-1", "--max-connections", "4", "--threads", "1", NULL);
  int held[4];
  for (int i = 0; i < 4; i++) {
    held[i] = connect_from(&m, "127.0.0.3");
    send_text(held[i], PARTIAL);
  }
  /* A fifth waits in the backlog, unanswered, while four are held... */
  int fifth = connect_from(&m, "127.0.0.4");
  send_text(fifth, PARTIAL "Connection: close\r\n\r\n");
  struct pollfd p = {fifth, POLLIN, 0};
  cr_assert_eq(poll(&p, 1, 500), 0, "answered past the connection limit");
  /* ...and is served as soon as one of them ends. */
  close(held[0]);
  char buf[2048];
  read_all(fifth, buf, sizeof buf);
  cr_assert(!strncmp(buf, "HTTP/1.1 200", 12), "%s", buf);
  close(fifth);
  for (int i = 1; i < 4; i++) close(held[i]);
  still_serving(&m);
  mock_stop(&m);
}

Test(limits_http, headers_must_arrive_within_the_header_timeout) {
  mock_start(&m, "--https-port", "-1", "--coaps-port", "-1", "--header-timeout-ms", "300", NULL);
  int fd = connect_from(&m, "127.0.0.2");
  send_text(fd, PARTIAL);
  /* One header line every 100 ms keeps the connection from ever being idle; the header
   * deadline closes it anyway. */
  bool closed = false;
  for (int i = 0; i < 100 && !closed; i++) {
    if (write(fd, "X-Slow: 1\r\n", 11) != 11) break;
    closed = closed_within(fd, 100);
  }
  cr_assert(closed || closed_within(fd, 1000), "a connection trickling its headers for 10 s was kept");
  close(fd);
  still_serving(&m);
  /* A request sent at once is not affected, nor is a keep-alive connection between requests. */
  fd = connect_from(&m, "127.0.0.2");
  char buf[2048];
  send_text(fd, PARTIAL "\r\n");
  cr_assert(read(fd, buf, sizeof buf) > 12);
  cr_assert(!strncmp(buf, "HTTP/1.1 200", 12), "%s", buf);
  close(fd);
  mock_stop(&m);
}

Test(limits_http, an_idle_keep_alive_connection_is_closed) {
  mock_start(&m, "--https-port", "-1", "--coaps-port", "-1", "--idle-timeout-ms", "1000", NULL);
  int fd = connect_from(&m, "127.0.0.2");
  char buf[2048];
  send_text(fd, PARTIAL "\r\n");
  cr_assert(read(fd, buf, sizeof buf) > 12);
  cr_assert(!strncmp(buf, "HTTP/1.1 200", 12), "%s", buf);
  cr_assert(closed_within(fd, 10000), "an idle keep-alive connection was kept");
  close(fd);
  still_serving(&m);
  mock_stop(&m);
}

Test(limits_http, an_oversized_body_is_refused_before_it_is_read) {
  mock_start(&m, "--https-port", "-1", "--coaps-port", "-1", NULL);
  int fd = connect_http(&m);
  /* Only the headers are sent: the answer must not wait for the 2 MiB. */
  send_text(fd, "POST /_mock/faults HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                "Content-Length: 2097152\r\n\r\n");
  char buf[2048];
  read_all(fd, buf, sizeof buf);
  close(fd);
  cr_assert(!strncmp(buf, "HTTP/1.1 413", 12), "%s", buf);
  cr_assert(strstr(buf, "\"code\":41300"), "%s", buf);
  still_serving(&m);
  mock_stop(&m);
}

Test(limits_http, an_owner_request_is_refused_from_its_headers) {
  mock_start(&m, "--https-port", "-1", "--coaps-port", "-1", NULL);
  /* No API key, a body of 1 MiB - 1 announced and never sent: the 401 comes anyway. */
  int fd = connect_http(&m);
  send_text(fd, "POST /v1/claimed-devices HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                "Content-Length: 1048575\r\n\r\n{");
  char buf[2048];
  read_all(fd, buf, sizeof buf);
  close(fd);
  cr_assert(!strncmp(buf, "HTTP/1.1 401", 12), "%s", buf);
  cr_assert(strstr(buf, "\"code\":40100"), "%s", buf);
  /* An unknown key too. */
  fd = connect_http(&m);
  send_text(fd, "POST /v1/claimed-devices HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer\r\n"
                "Content-Type: application/json\r\nContent-Length: 1048575\r\n\r\n");
  read_all(fd, buf, sizeof buf);
  close(fd);
  cr_assert(!strncmp(buf, "HTTP/1.1 401", 12), "%s", buf);
  /* With a key the same request waits for its body, and is answered once it is in. */
  char tok[1100], body[1300];
  make_token(tok, sizeof tok, NULL);
  snprintf(body, sizeof body, "{\"claimToken\":\"%s\"}", tok);
  http_resp *r = owner(&m, "some-team", "POST", "/v1/claimed-devices", body);
  cr_assert_eq(r->status, 201, "%s", r->body);
  http_resp_free(r);
  still_serving(&m);
  mock_stop(&m);
}

/* ---- CoAP: raw datagrams --------------------------------------------------------- */

/* A UDP socket connected to the mock's CoAP port: one CoAP session. */
static int coap_socket(const mock *mk) {
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  cr_assert(fd >= 0);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)mk->coap_port)};
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  cr_assert(connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
  return fd;
}

typedef struct {
  unsigned num;
  int more, szx;      /* szx < 0: no Block1 option */
  long long size1;    /* < 0: no Size1 */
  const char *rtag;   /* NULL: no Request-Tag */
} block_opts;

static size_t put_option(uint8_t *p, unsigned *prev, unsigned number, const uint8_t *v, size_t n) {
  unsigned delta = number - *prev;
  size_t k = 1;
  uint8_t head = 0;
  *prev = number;
  if (delta < 13) head = (uint8_t)(delta << 4);
  else if (delta < 269) head = 13 << 4, p[k++] = (uint8_t)(delta - 13);
  else head = 14 << 4, p[k++] = (uint8_t)((delta - 269) >> 8), p[k++] = (uint8_t)(delta - 269);
  head |= (uint8_t)n; /* n < 13 here */
  p[0] = head;
  memcpy(p + k, v, n);
  return k + n;
}

static size_t uint_option(uint8_t *out, unsigned long long v) {
  size_t n = 0;
  uint8_t tmp[8];
  while (v) tmp[n++] = (uint8_t)v, v >>= 8;
  for (size_t i = 0; i < n; i++) out[i] = tmp[n - 1 - i];
  return n;
}

/* Send one CON request (code 1 GET, 2 POST) on path "p/x" with the Block1 options of o,
 * and return the answer's code as class*100+detail (0: none within 5 s). */
static int coap_call(int fd, int code, const char *path, const block_opts *o, const void *payload, size_t len) {
  static uint16_t mid = 1;
  uint8_t msg[2048], v[8];
  size_t n = 0;
  unsigned prev = 0;
  msg[n++] = 0x41; /* CON, token length 1 */
  msg[n++] = (uint8_t)code;
  msg[n++] = (uint8_t)(mid >> 8);
  msg[n++] = (uint8_t)mid;
  mid++;
  msg[n++] = 0x7a;
  char segs[64];
  snprintf(segs, sizeof segs, "%s", path);
  for (char *s = strtok(segs, "/"); s; s = strtok(NULL, "/")) n += put_option(msg + n, &prev, 11, (const uint8_t *)s, strlen(s));
  if (o && o->szx >= 0)
    n += put_option(msg + n, &prev, 27, v, uint_option(v, (unsigned long long)o->num << 4 | (unsigned)o->more << 3 | (unsigned)o->szx));
  if (o && o->size1 >= 0) n += put_option(msg + n, &prev, 60, v, uint_option(v, (unsigned long long)o->size1));
  if (o && o->rtag) n += put_option(msg + n, &prev, 292, (const uint8_t *)o->rtag, strlen(o->rtag));
  if (len) {
    msg[n++] = 0xff;
    cr_assert(n + len <= sizeof msg);
    memcpy(msg + n, payload, len);
    n += len;
  }
  cr_assert(send(fd, msg, n, 0) == (ssize_t)n);
  for (;;) {
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, 5000) <= 0) return 0;
    uint8_t in[2048];
    ssize_t k = recv(fd, in, sizeof in, 0);
    if (k < 4 || in[2] != msg[2] || in[3] != msg[3]) continue; /* not the answer to this one */
    return (in[1] >> 5) * 100 + (in[1] & 31);
  }
}

/* A claimed device's attestation token (for p/auth, which takes it bare). */
static void claimed_token(char tok[1100]) {
  char body[1300];
  make_token(tok, 1100, NULL);
  snprintf(body, sizeof body, "{\"claimToken\":\"%s\"}", tok);
  http_resp *r = owner(&m, SC_KEY, "POST", "/v1/claimed-devices", body);
  cr_assert_eq(r->status, 201, "%s", r->body);
  http_resp_free(r);
}

static const uint8_t zeros[1024];

TestSuite(limits_coap, .timeout = 60);

Test(limits_coap, block1_past_64_kib_is_refused_with_4_13_before_auth) {
  mock_start(&m, "--https-port", "-1", "--coaps-port", "-1", NULL);
  int fd = coap_socket(&m);
  /* A Size1 of 4 GiB - 1: refused at block 0, on an unauthenticated session. */
  block_opts o = {.num = 0, .more = 1, .szx = 6, .size1 = 0xFFFFFFFFll, .rtag = "a"};
  cr_assert_eq(coap_call(fd, 2, "p/rsp", &o, zeros, 1024), 413);
  cr_assert_eq(coap_call(fd, 2, "p/auth-jwt", &o, zeros, 1024), 413);
  /* No Size1: the 65th block of 1 KiB passes 64 KiB and is refused. */
  o.size1 = -1;
  o.rtag = "b";
  for (unsigned i = 0; i < 64; i++) {
    o.num = i;
    cr_assert_eq(coap_call(fd, 2, "p/rsp", &o, zeros, 1024), 231, "block %u", i);
  }
  o.num = 64;
  cr_assert_eq(coap_call(fd, 2, "p/rsp", &o, zeros, 1024), 413);
  /* The transfer is gone: a later block of it is 4.08 (past the limit still 4.13). */
  o.num = 65;
  cr_assert_eq(coap_call(fd, 2, "p/rsp", &o, zeros, 1024), 413);
  o.num = 1;
  cr_assert_eq(coap_call(fd, 2, "p/rsp", &o, zeros, 1024), 408);
  /* A whole body of exactly 64 KiB goes through to the handler (which wants auth). */
  o.rtag = "c";
  for (unsigned i = 0; i < 64; i++) {
    o.num = i;
    o.more = i < 63;
    cr_assert_eq(coap_call(fd, 2, "p/rsp", &o, zeros, 1024), i < 63 ? 231 : 401, "block %u", i);
  }
  close(fd);
  /* Others are served. */
  char tok[1100];
  claimed_token(tok);
  fd = coap_socket(&m);
  cr_assert_eq(coap_call(fd, 2, "p/auth", NULL, tok, strlen(tok)), 201);
  cr_assert_eq(coap_call(fd, 1, "p/cmd", NULL, NULL, 0), 205);
  close(fd);
  mock_stop(&m);
}

Test(limits_coap, a_transfer_past_block_0_or_with_a_gap_is_4_08) {
  mock_start(&m, "--https-port", "-1", "--coaps-port", "-1", NULL);
  char tok[1100];
  claimed_token(tok);
  int fd = coap_socket(&m);
  /* A lone last block #3 carrying a good credential authenticates nothing. */
  block_opts o = {.num = 3, .more = 0, .szx = 2, .size1 = -1, .rtag = "t"};
  cr_assert_eq(coap_call(fd, 2, "p/auth", &o, tok, strlen(tok)), 408);
  cr_assert_eq(coap_call(fd, 1, "p/cmd", NULL, NULL, 0), 401, "the session must not be authenticated");
  /* A gap: block 0, then block 2. */
  o = (block_opts){.num = 0, .more = 1, .szx = 2, .size1 = -1, .rtag = "g"};
  cr_assert_eq(coap_call(fd, 2, "p/auth", &o, tok, 64), 231);
  o.num = 2;
  o.more = 0;
  cr_assert_eq(coap_call(fd, 2, "p/auth", &o, tok + 128, strlen(tok) - 128), 408);
  cr_assert_eq(coap_call(fd, 1, "p/cmd", NULL, NULL, 0), 401);
  /* The same credential in order, 64 bytes a block without Size1: the handler sees it
   * whole, once. */
  size_t n = strlen(tok), blocks = (n + 63) / 64;
  o = (block_opts){.szx = 2, .size1 = -1, .rtag = "w"};
  for (size_t i = 0; i < blocks; i++) {
    o.num = (unsigned)i;
    o.more = i + 1 < blocks;
    size_t len = o.more ? 64 : n - 64 * i;
    cr_assert_eq(coap_call(fd, 2, "p/auth", &o, tok + 64 * i, len), o.more ? 231 : 201, "block %zu", i);
  }
  cr_assert_eq(coap_call(fd, 1, "p/cmd", NULL, NULL, 0), 205);
  close(fd);
  mock_stop(&m);
}

Test(limits_coap, past_max_sessions_the_oldest_idle_one_is_dropped) {
  mock_start(&m, "--https-port", "-1", "--coaps-port", "-1", "--coap-max-sessions", "4", NULL);
  char tok[1100];
  claimed_token(tok);
  int first = coap_socket(&m), others[4];
  cr_assert_eq(coap_call(first, 2, "p/auth", NULL, tok, strlen(tok)), 201);
  cr_assert_eq(coap_call(first, 1, "p/cmd", NULL, NULL, 0), 205);
  /* Four more sessions: the first, idle the longest, is dropped with its authentication. */
  for (int i = 0; i < 4; i++) {
    others[i] = coap_socket(&m);
    cr_assert_eq(coap_call(others[i], 1, "p/cmd", NULL, NULL, 0), 401);
  }
  cr_assert_eq(coap_call(first, 1, "p/cmd", NULL, NULL, 0), 401, "the oldest idle session was kept");
  /* A session still authenticates and is served. */
  cr_assert_eq(coap_call(others[3], 2, "p/auth", NULL, tok, strlen(tok)), 201);
  cr_assert_eq(coap_call(others[3], 1, "p/cmd", NULL, NULL, 0), 205);
  for (int i = 0; i < 4; i++) close(others[i]);
  close(first);
  mock_stop(&m);
}

Test(limits_coap, an_idle_session_ends) {
  mock_start(&m, "--https-port", "-1", "--coaps-port", "-1", "--idle-timeout-ms", "1000", NULL);
  char tok[1100];
  claimed_token(tok);
  int fd = coap_socket(&m);
  cr_assert_eq(coap_call(fd, 2, "p/auth", NULL, tok, strlen(tok)), 201);
  cr_assert_eq(coap_call(fd, 1, "p/cmd", NULL, NULL, 0), 205);
  /* The session must be left idle for the timeout to pass: three times it. */
  poll(NULL, 0, 3000);
  cr_assert_eq(coap_call(fd, 1, "p/cmd", NULL, NULL, 0), 401, "an idle session kept its authentication");
  cr_assert_eq(coap_call(fd, 2, "p/auth", NULL, tok, strlen(tok)), 201);
  cr_assert_eq(coap_call(fd, 1, "p/cmd", NULL, NULL, 0), 205);
  close(fd);
  mock_stop(&m);
}
