/* The proxy listener (--proxy-port, docs/control-api.md §1, docs/install.md) through
 * real clients: the curl program and Python `requests` reach the mock under nRF Cloud's
 * real host names with no DNS change (CONNECT tunnels to the HTTPS listener, verified
 * against the mock's CA; absolute-form plain HTTP forwarded to the HTTP listener), and
 * raw sockets check the refusals (other hosts, other ports, addresses, origin-form),
 * the head size and time limits, the connection cap and a clean stop with a tunnel open. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

TestSuite(proxy, .timeout = 60);

static const char *const curl_bin = "/usr/bin/curl";
static const char *const python_bin = "/usr/bin/python3";

/* The mock's CA certificate in <scratch>/ca.pem; its path in out. */
static void fetch_ca(mock *m, char *out, size_t n) {
  http_resp *r = http_req(m, "GET", "/_mock/ca", NULL, NULL, 0);
  cr_assert_eq(r->status, 200);
  snprintf(out, n, "%s/ca.pem", m->dir);
  FILE *f = fopen(out, "w");
  cr_assert(f && fwrite(r->body, 1, r->len, f) == r->len);
  fclose(f);
  http_resp_free(r);
}

static int connect_port(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  cr_assert(fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0, "connect to the proxy");
  return fd;
}

/* Read from fd until the peer closes or timeout_ms pass; NUL-terminated in out. */
static size_t read_all(int fd, char *out, size_t n, int timeout_ms) {
  size_t got = 0;
  struct pollfd p = {.fd = fd, .events = POLLIN};
  while (got + 1 < n && poll(&p, 1, timeout_ms) == 1) {
    ssize_t k = read(fd, out + got, n - 1 - got);
    if (k <= 0) break;
    got += (size_t)k;
  }
  out[got] = 0;
  return got;
}

/* Send req to the proxy and return the status of its answer (read until it closes). */
static int proxy_status(int port, const char *req, size_t len, char *body, size_t bodysz) {
  int fd = connect_port(port);
  cr_assert_eq(send(fd, req, len, MSG_NOSIGNAL), (ssize_t)len);
  char buf[4096];
  read_all(fd, buf, sizeof buf, 5000);
  close(fd);
  int status = 0;
  sscanf(buf, "HTTP/1.%*d %d", &status);
  /* Every answer of the proxy says its length right (a client reads exactly that much). */
  const char *b = strstr(buf, "\r\n\r\n"), *cl = strstr(buf, "Content-Length: ");
  if (status && b && cl && cl < b) cr_assert_eq(strtoul(cl + 16, NULL, 10), strlen(b + 4), "Content-Length of: %s", buf);
  if (body) snprintf(body, bodysz, "%s", b ? b + 4 : "");
  return status;
}

static int proxy_status_text(int port, const char *req, char *body, size_t bodysz) {
  return proxy_status(port, req, strlen(req), body, bodysz);
}

Test(proxy, ready_line_and_file_name_the_proxy_after_coaps) {
  mock m;
  mock_start(&m, "--proxy-port", "0", NULL);
  cr_assert_gt(m.proxy_port, 0, "the ready file has a proxy port");
  char want[200], *log = NULL;
  snprintf(want, sizeof want, " coaps=127.0.0.1:%d proxy=127.0.0.1:%d\n", m.coaps_port, m.proxy_port);
  /* The ready file may appear a moment before the ready line reaches the log: poll, bounded. */
  for (int i = 0; i < 500 && !(log && strstr(log, want)); i++) {
    free(log);
    log = read_file(m.log_file, NULL);
    if (!(log && strstr(log, want))) nanosleep(&(struct timespec){.tv_nsec = 10 * 1000 * 1000}, NULL);
  }
  cr_assert(log && strstr(log, want), "ready line ends with coaps then proxy: %s", log);
  free(log);
  mock_stop(&m);
  mock_start(&m, NULL);
  cr_assert_eq(m.proxy_port, 0, "off by default");
  mock_stop(&m);
}

Test(proxy, curl_reaches_the_mock_under_the_real_api_host_name) {
  mock m;
  mock_start(&m, "--proxy-port", "0", NULL);
  char ca[300], proxy[64], out[8192], err[8192];
  fetch_ca(&m, ca, sizeof ca);
  snprintf(proxy, sizeof proxy, "http://127.0.0.1:%d", m.proxy_port);
  /* A claim through the tunnel, then the list through it: both reach this mock. */
  char token[2048], uuid[37], body[2300];
  make_token(token, sizeof token, uuid);
  snprintf(body, sizeof body, "{\"claimToken\":\"%s\"}", token);
  const char *claim[] = {"-sS", "--max-time", "20", "--proxy", proxy, "--cacert", ca, "-o", "/dev/null", "-w",
                         "%{http_code}", "-H", "Authorization: Bearer proxy-key", "-H",
                         "Content-Type: application/json", "--data-binary", body,
                         "https://api.provisioning.nrfcloud.com/v1/claimed-devices", NULL};
  int rc = run_binary(curl_bin, claim, 30000, out, sizeof out, err, sizeof err);
  cr_assert_eq(rc, 0, "curl: %s", err);
  cr_assert_str_eq(out, "201", "claim through the proxy: %s %s", out, err);
  const char *list[] = {"-sS", "--max-time", "20", "--proxy", proxy, "--cacert", ca, "-H",
                        "Authorization: Bearer proxy-key", "https://api.provisioning.beta.nrfcloud.com/v1/claimed-devices",
                        NULL};
  rc = run_binary(curl_bin, list, 30000, out, sizeof out, err, sizeof err);
  cr_assert_eq(rc, 0, "curl: %s", err);
  cr_assert(strstr(out, uuid), "the list through the proxy holds the device: %s", out);
  /* The journal of the mock saw both over https (the tunnel ends at its own listener). */
  http_resp *j = http_req(&m, "GET", "/_mock/requests", NULL, NULL, 0);
  cr_assert(strstr(j->body, "\"protocol\":\"https\"") || strstr(j->body, "\"protocol\": \"https\""), "%s", j->body);
  http_resp_free(j);
  /* Plain HTTP in absolute form is forwarded to the HTTP listener. */
  char url[200];
  snprintf(url, sizeof url, "http://api.provisioning.nrfcloud.com/v1/claimed-devices/%s", uuid);
  const char *plain[] = {"-sS", "--max-time", "20", "--proxy", proxy, "-H", "Authorization: Bearer proxy-key", url, NULL};
  rc = run_binary(curl_bin, plain, 30000, out, sizeof out, err, sizeof err);
  cr_assert_eq(rc, 0, "curl: %s", err);
  cr_assert(strstr(out, uuid), "plain HTTP through the proxy: %s", out);
  /* The device host too. */
  const char *health[] = {"-sS", "--max-time", "20", "--proxy", proxy, "--cacert", ca,
                          "https://provisioning-http.nrfcloud.com/_mock/health", NULL};
  rc = run_binary(curl_bin, health, 30000, out, sizeof out, err, sizeof err);
  cr_assert_eq(rc, 0, "curl: %s", err);
  cr_assert(strstr(out, "ok"), "%s", out);
  mock_stop(&m);
}

Test(proxy, python_requests_with_https_proxy_and_ca_bundle) {
  mock m;
  mock_start(&m, "--proxy-port", "0", NULL);
  char ca[300], proxy[64], out[8192], err[8192];
  fetch_ca(&m, ca, sizeof ca);
  snprintf(proxy, sizeof proxy, "http://127.0.0.1:%d", m.proxy_port);
  /* What an unmodified nRF Cloud script sees: only the environment changes. */
  setenv("HTTPS_PROXY", proxy, 1);
  setenv("REQUESTS_CA_BUNDLE", ca, 1);
  unsetenv("https_proxy");
  unsetenv("NO_PROXY");
  unsetenv("no_proxy");
  char token[2048], uuid[37];
  make_token(token, sizeof token, uuid);
  static const char script[] =
    "import sys, requests\n"
    "api = 'https://api.provisioning.nrfcloud.com/v1/'\n"
    "auth = {'Authorization': 'Bearer py-key'}\n"
    "r = requests.post(api + 'claimed-devices', json={'claimToken': sys.argv[1]}, headers=auth, timeout=20)\n"
    "print(r.status_code)\n"
    "r = requests.get(api + 'claimed-devices/' + sys.argv[2], headers=auth, timeout=20)\n"
    "print(r.status_code, r.json()['id'])\n";
  const char *args[] = {"-c", script, token, uuid, NULL};
  int rc = run_binary(python_bin, args, 30000, out, sizeof out, err, sizeof err);
  cr_assert_eq(rc, 0, "python3 requests: %s", err);
  char want[100];
  snprintf(want, sizeof want, "201\n200 %s\n", uuid);
  cr_assert_str_eq(out, want, "%s", err);
  /* The claim is in this mock, for the team of py-key. */
  http_resp *r = owner(&m, "py-key", "GET", "/v1/claimed-devices", NULL);
  cr_assert(strstr(r->body, uuid), "%s", r->body);
  http_resp_free(r);
  mock_stop(&m);
}

Test(proxy, refuses_every_other_target) {
  mock m;
  mock_start(&m, "--proxy-port", "0", NULL);
  char body[1024], req[300];
  int p = m.proxy_port;
  cr_assert_eq(proxy_status_text(p, "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", body, sizeof body), 403);
  cr_assert(strstr(body, "\"code\":40300") && strstr(body, "example.com:443"), "%s", body);
  cr_assert_eq(proxy_status_text(p, "CONNECT api.provisioning.nrfcloud.com:22 HTTP/1.1\r\n\r\n", NULL, 0), 403);
  cr_assert_eq(proxy_status_text(p, "CONNECT api.provisioning.nrfcloud.com.evil.com:443 HTTP/1.1\r\n\r\n", NULL, 0), 403);
  snprintf(req, sizeof req, "CONNECT 127.0.0.1:%d HTTP/1.1\r\n\r\n", m.https_port);
  cr_assert_eq(proxy_status_text(p, req, NULL, 0), 403, "an address, even the mock's own");
  cr_assert_eq(proxy_status_text(p, "CONNECT [::1]:443 HTTP/1.1\r\n\r\n", NULL, 0), 403);
  cr_assert_eq(proxy_status_text(p, "GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n", NULL, 0), 403);
  cr_assert_eq(proxy_status_text(p, "GET http://api.provisioning.nrfcloud.com:8080/v1/claimed-devices HTTP/1.1\r\n\r\n", NULL, 0), 403);
  cr_assert_eq(proxy_status_text(p, "GET https://api.provisioning.nrfcloud.com/v1/claimed-devices HTTP/1.1\r\n\r\n", NULL, 0), 400);
  cr_assert_eq(proxy_status_text(p, "GET /v1/claimed-devices HTTP/1.1\r\nHost: x\r\n\r\n", body, sizeof body), 400);
  cr_assert(strstr(body, "absolute form"), "%s", body);
  cr_assert_eq(proxy_status_text(p, "\x01\x02 nonsense\r\n\r\n", NULL, 0), 400);
  /* A refused CONNECT never reached the mock: its journal is empty. */
  http_resp *j = http_req(&m, "GET", "/_mock/requests", NULL, NULL, 0);
  cr_assert(!strstr(j->body, "/v1/"), "%s", j->body);
  http_resp_free(j);
  /* The curl program sees the refusal as a failed tunnel. */
  char proxy[64], out[4096], err[4096];
  snprintf(proxy, sizeof proxy, "http://127.0.0.1:%d", p);
  const char *args[] = {"-sS", "--max-time", "10", "--proxy", proxy, "https://example.com/", NULL};
  cr_assert_neq(run_binary(curl_bin, args, 20000, out, sizeof out, err, sizeof err), 0);
  cr_assert(strstr(err, "403"), "%s", err);
  mock_stop(&m);
}

Test(proxy, https_listener_off_means_503) {
  mock m;
  mock_start(&m, "--proxy-port", "0", "--https-port", "-1", NULL);
  cr_assert_eq(proxy_status_text(m.proxy_port, "CONNECT api.provisioning.nrfcloud.com:443 HTTP/1.1\r\n\r\n", NULL, 0), 503);
  mock_stop(&m);
}

Test(proxy, head_size_and_time_limits) {
  mock m;
  mock_start(&m, "--proxy-port", "0", NULL);
  static char big[10000];
  memset(big, 'a', sizeof big);
  memcpy(big, "GET http://api.provisioning.nrfcloud.com/ HTTP/1.1\r\nX: ", 55);
  cr_assert_eq(proxy_status(m.proxy_port, big, sizeof big, NULL, 0), 431);
  /* A head that never ends is answered 408 within the limit (10 s), and meanwhile the
   * proxy serves others. */
  int slow = connect_port(m.proxy_port);
  cr_assert_eq(send(slow, "CONNECT api.prov", 16, MSG_NOSIGNAL), 16);
  cr_assert_eq(proxy_status_text(m.proxy_port, "CONNECT example.com:443 HTTP/1.1\r\n\r\n", NULL, 0), 403);
  char buf[1024];
  read_all(slow, buf, sizeof buf, 15000);
  close(slow);
  cr_assert(!strncmp(buf, "HTTP/1.1 408", 12), "%s", buf);
  mock_stop(&m);
}

Test(proxy, connection_cap_answers_503_and_frees_slots) {
  mock m;
  mock_start(&m, "--proxy-port", "0", NULL);
  enum { CAP = 128 };
  int fds[CAP];
  for (int i = 0; i < CAP; i++) {
    fds[i] = connect_port(m.proxy_port);
    cr_assert_eq(send(fds[i], "CONNECT ", 8, MSG_NOSIGNAL), 8);
  }
  char body[512];
  /* The connection after the cap: the earlier ones were accepted first (one queue). */
  cr_assert_eq(proxy_status_text(m.proxy_port, "CONNECT example.com:443 HTTP/1.1\r\n\r\n", body, sizeof body), 503, "%s", body);
  json_t *j = json_loads(body, 0, NULL);
  cr_assert(j && json_integer_value(json_object_get(j, "code")) == 50300, "the whole JSON body: %s", body);
  json_decref(j);
  for (int i = 0; i < CAP; i++) close(fds[i]);
  /* Freed slots serve again once the proxy has seen the closes (bounded retries). */
  int status = 0;
  for (int i = 0; i < 500 && status != 403; i++)
    status = proxy_status_text(m.proxy_port, "CONNECT example.com:443 HTTP/1.1\r\n\r\n", NULL, 0);
  cr_assert_eq(status, 403);
  mock_stop(&m);
}

Test(proxy, stops_cleanly_with_a_tunnel_open) {
  mock m;
  mock_start(&m, "--proxy-port", "0", NULL);
  int fd = connect_port(m.proxy_port);
  const char *req = "CONNECT api.provisioning.nrfcloud.com:443 HTTP/1.1\r\nHost: api.provisioning.nrfcloud.com:443\r\n\r\n";
  cr_assert_eq(send(fd, req, strlen(req), MSG_NOSIGNAL), (ssize_t)strlen(req));
  char buf[256] = "";
  struct pollfd p = {.fd = fd, .events = POLLIN};
  cr_assert_eq(poll(&p, 1, 5000), 1);
  cr_assert_gt(read(fd, buf, sizeof buf - 1), 0);
  cr_assert(!strncmp(buf, "HTTP/1.1 200", 12), "%s", buf);
  /* The tunnel is open and idle: SIGTERM still stops the mock with status 0. */
  cr_assert_eq(mock_stop(&m), 0);
  close(fd);
}
