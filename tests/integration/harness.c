/* See harness.h. */
#include "harness.h"

#include <criterion/criterion.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

const char *mock_binary(void) {
  const char *b = getenv("NRFPROV_TEST_MOCK_BIN");
  return b ? b : "./nrfprov-mock";
}

const char *fixtures_dir(void) {
  const char *f = getenv("NRFPROV_TEST_FIXTURES");
  return f ? f : "fixtures";
}

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

char *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  size_t cap = 4096, n = 0;
  char *buf = malloc(cap);
  size_t k;
  while ((k = fread(buf + n, 1, cap - n - 1, f)) > 0) {
    n += k;
    if (cap - n - 1 == 0) buf = realloc(buf, cap *= 2);
  }
  fclose(f);
  buf[n] = 0;
  if (len) *len = n;
  return buf;
}

const char *jstr(json_t *o, const char *key) {
  const char *s = json_string_value(json_object_get(o, key));
  return s ? s : "";
}

static int port_of(json_t *ready, const char *name) {
  json_t *l = json_object_get(ready, name);
  return l ? (int)json_integer_value(json_object_get(l, "port")) : 0;
}

void mock_startv(mock *m, const char *const *extra) {
  memset(m, 0, sizeof *m);
  snprintf(m->dir, sizeof m->dir, "/tmp/nrfprov-test-XXXXXX");
  cr_assert(mkdtemp(m->dir), "mkdtemp");
  snprintf(m->ready_file, sizeof m->ready_file, "%s/ready.json", m->dir);
  snprintf(m->log_file, sizeof m->log_file, "%s/mock.log", m->dir);
  const char *argv[64];
  int n = 0, has_data_dir = 0, has_port[5] = {0};
  static const char *port_flags[] = {"--http-port", "--https-port", "--coap-port", "--coaps-port"};
  for (int i = 0; extra && extra[i]; i++) {
    if (!strcmp(extra[i], "--data-dir")) has_data_dir = 1;
    for (int p = 0; p < 4; p++)
      if (!strcmp(extra[i], port_flags[p])) has_port[p] = 1;
  }
  argv[n++] = mock_binary();
  /* Every listener on a free port unless the test says otherwise. */
  for (int p = 0; p < 4; p++)
    if (!has_port[p]) argv[n++] = port_flags[p], argv[n++] = "0";
  argv[n++] = "--ready-file";
  argv[n++] = m->ready_file;
  if (!has_data_dir) argv[n++] = "--in-memory";
  for (int i = 0; extra && extra[i] && n < 62; i++) argv[n++] = extra[i];
  argv[n] = NULL;

  pid_t pid = fork();
  cr_assert(pid >= 0, "fork");
  if (pid == 0) {
    int fd = open(m->log_file, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
      close(fd);
    }
    execv(argv[0], (char *const *)(uintptr_t)argv); /* execv does not write argv */
    _exit(127);
  }
  m->pid = pid;
  long long deadline = now_ms() + 10000;
  struct stat st;
  while (stat(m->ready_file, &st) != 0) {
    int status;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      m->pid = 0;
      char *log = read_file(m->log_file, NULL);
      cr_assert_fail("nrfprov-mock exited during start-up: %s", log ? log : "");
    }
    cr_assert(now_ms() < deadline, "nrfprov-mock not ready within 10 s");
    poll(NULL, 0, 2); /* polling a file with a bound, not a timing sleep */
  }
  json_error_t je;
  json_t *ready = json_load_file(m->ready_file, 0, &je);
  cr_assert(ready, "ready file is JSON: %s", je.text);
  m->http_port = port_of(ready, "http");
  m->https_port = port_of(ready, "https");
  m->coap_port = port_of(ready, "coap");
  m->coaps_port = port_of(ready, "coaps");
  m->proxy_port = port_of(ready, "proxy");
  json_decref(ready);
  snprintf(m->base, sizeof m->base, "http://127.0.0.1:%d", m->http_port);
}

void mock_start(mock *m, ...) {
  const char *extra[48];
  int n = 0;
  va_list ap;
  va_start(ap, m);
  const char *a;
  while ((a = va_arg(ap, const char *)) && n < 47) extra[n++] = a;
  va_end(ap);
  extra[n] = NULL;
  mock_startv(m, extra);
}

int mock_wait(mock *m, int timeout_ms) {
  if (!m->pid) return -1;
  long long deadline = now_ms() + timeout_ms;
  int status;
  while (now_ms() < deadline) {
    pid_t r = waitpid(m->pid, &status, WNOHANG);
    if (r == m->pid) {
      m->pid = 0;
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    poll(NULL, 0, 2);
  }
  return -1;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb, (void)flag, (void)ftw;
  return remove(path);
}

int mock_stop(mock *m) {
  int rc = -1;
  if (m->pid) {
    kill(m->pid, SIGTERM);
    rc = mock_wait(m, 10000);
    if (rc < 0) {
      kill(m->pid, SIGKILL);
      waitpid(m->pid, NULL, 0);
      m->pid = 0;
    }
    /* A clean stop is part of every test: status 0 (under ASan: no leak either). */
    cr_expect_eq(rc, 0, "nrfprov-mock stopped with status %d", rc);
  }
  if (rc != 0 && rc != -1) {
    char *log = read_file(m->log_file, NULL);
    if (log) fprintf(stderr, "--- mock log (exit %d) ---\n%s\n", rc, log);
    free(log);
  }
  if (*m->dir) nftw(m->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
  return rc;
}

void remove_tree(const char *dir) {
  cr_assert_eq(nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS), 0, "cannot remove %s", dir);
}

int run_binary(const char *bin, const char *const *args, int timeout_ms, char *out, size_t outsz, char *err,
               size_t errsz) {
  int po[2], pe[2];
  cr_assert(pipe(po) == 0 && pipe(pe) == 0);
  pid_t pid = fork();
  cr_assert(pid >= 0);
  if (pid == 0) {
    dup2(po[1], 1);
    dup2(pe[1], 2);
    close(po[0]), close(pe[0]), close(po[1]), close(pe[1]);
    const char *argv[64];
    int n = 0;
    argv[n++] = bin;
    for (int i = 0; args[i] && n < 63; i++) argv[n++] = args[i];
    argv[n] = NULL;
    execv(argv[0], (char *const *)(uintptr_t)argv); /* execv does not write argv */
    _exit(127);
  }
  close(po[1]), close(pe[1]);
  size_t no = 0, ne = 0;
  if (outsz) out[0] = 0;
  if (errsz) err[0] = 0;
  struct pollfd fds[2] = {{po[0], POLLIN, 0}, {pe[0], POLLIN, 0}};
  long long deadline = now_ms() + timeout_ms;
  int open_fds = 2;
  while (open_fds && now_ms() < deadline) {
    if (poll(fds, 2, 100) <= 0) continue;
    for (int i = 0; i < 2; i++) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP))) continue;
      char tmp[4096];
      ssize_t k = read(fds[i].fd, tmp, sizeof tmp);
      if (k <= 0) {
        close(fds[i].fd);
        fds[i].fd = -1;
        open_fds--;
        continue;
      }
      char *dst = i ? err : out;
      size_t *dn = i ? &ne : &no, dsz = i ? errsz : outsz;
      if (!dsz) continue;
      size_t c = (size_t)k < dsz - 1 - *dn ? (size_t)k : dsz - 1 - *dn;
      memcpy(dst + *dn, tmp, c);
      *dn += c;
      dst[*dn] = 0;
    }
  }
  for (int i = 0; i < 2; i++)
    if (fds[i].fd >= 0) close(fds[i].fd);
  int status = 0;
  long long d2 = now_ms() + 10000;
  while (waitpid(pid, &status, WNOHANG) != pid) {
    if (now_ms() > d2) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      return -1;
    }
    poll(NULL, 0, 2); /* polling for the exit with a bound, not a timing sleep */
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int run_mock_binary(const char *const *args, char *out, size_t outsz, char *err, size_t errsz) {
  return run_binary(mock_binary(), args, 20000, out, outsz, err, errsz);
}

size_t growbuf_collect(char *p, size_t size, size_t nmemb, void *ud) {
  growbuf *b = ud;
  size_t n = size * nmemb;
  b->data = realloc(b->data, b->len + n + 1);
  memcpy(b->data + b->len, p, n);
  b->len += n;
  b->data[b->len] = 0;
  return n;
}

http_resp *http_req(mock *m, const char *method, const char *path, const char *const *headers,
                    const void *body, size_t len) {
  CURL *c = curl_easy_init();
  cr_assert(c);
  char url[2048];
  snprintf(url, sizeof url, "%s%s", m->base, path);
  growbuf b = {0}, h = {0};
  struct curl_slist *hl = NULL;
  for (int i = 0; headers && headers[i]; i++) hl = curl_slist_append(hl, headers[i]);
  if (body) hl = curl_slist_append(hl, "Expect:");
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
  if (!strcmp(method, "HEAD")) curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  if (body) {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
  }
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, growbuf_collect);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, growbuf_collect);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &h);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
  CURLcode rc = curl_easy_perform(c);
  cr_assert(rc == CURLE_OK, "%s %s: %s", method, path, curl_easy_strerror(rc));
  http_resp *r = calloc(1, sizeof *r);
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
  r->body = b.data ? b.data : strdup("");
  r->len = b.len;
  r->headers = h.data ? h.data : strdup("");
  if (r->len) r->json = json_loadb(r->body, r->len, 0, NULL);
  curl_slist_free_all(hl);
  curl_easy_cleanup(c);
  return r;
}

http_resp *owner(mock *m, const char *key, const char *method, const char *path, const char *json_body) {
  char auth[600];
  snprintf(auth, sizeof auth, "Authorization: Bearer %s", key);
  const char *hdrs[] = {auth, "Content-Type: application/json", NULL};
  return http_req(m, method, path, key ? hdrs : hdrs + 1, json_body, json_body ? strlen(json_body) : 0);
}

const char *resp_header(const http_resp *r, const char *name, char *buf, size_t n) {
  size_t nl = strlen(name);
  for (const char *p = r->headers; p && *p;) {
    const char *eol = strstr(p, "\r\n");
    size_t ll = eol ? (size_t)(eol - p) : strlen(p);
    if (ll > nl && p[nl] == ':' && strncasecmp(p, name, nl) == 0) {
      const char *v = p + nl + 1;
      while (*v == ' ') v++;
      size_t vl = ll - (size_t)(v - p);
      snprintf(buf, n, "%.*s", (int)vl, v);
      return buf;
    }
    p = eol ? eol + 2 : NULL;
  }
  return NULL;
}

void http_resp_free(http_resp *r) {
  if (!r) return;
  json_decref(r->json);
  free(r->body);
  free(r->headers);
  free(r);
}

#include "proto/attest.h"

static void random_bytes(unsigned char *b, size_t n) {
  FILE *f = fopen("/dev/urandom", "rb");
  cr_assert(f && fread(b, 1, n, f) == n);
  fclose(f);
}

void make_token_for(const unsigned char id[16], unsigned type, char *out, size_t n) {
  unsigned char fw[16], nonce[16];
  random_bytes(fw, 16);
  random_bytes(nonce, 16);
  cr_assert(attest_encode(id, type, fw, nonce, NULL, out, n) > 0);
}

void make_token(char *out, size_t n, char uuid_out[37]) {
  unsigned char id[16];
  random_bytes(id, 16);
  id[6] = (id[6] & 0x0f) | 0x40;
  id[8] = (id[8] & 0x3f) | 0x80;
  make_token_for(id, 3, out, n);
  if (uuid_out) attest_uuid_format(id, uuid_out);
}

void claim_new(mock *m, const char *key, const char *tags_json, char uuid_out[37]) {
  char tok[1100], body[1400];
  make_token(tok, sizeof tok, uuid_out);
  snprintf(body, sizeof body, "{\"claimToken\":\"%s\"%s%s}", tok, tags_json ? ",\"tags\":" : "", tags_json ? tags_json : "");
  http_resp *r = owner(m, key, "POST", "/v1/claimed-devices", body);
  cr_assert_eq(r->status, 201, "claim: %ld %s", r->status, r->body);
  http_resp_free(r);
}

long long jint(json_t *o, const char *key) { return json_integer_value(json_object_get(o, key)); }
