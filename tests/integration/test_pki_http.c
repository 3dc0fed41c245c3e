/* The local PKI and the HTTPS listener through the real binary (docs/device-protocol.md §1 and
 * §6, docs/control-api.md §1): libcurl verifies the server against the CA from GET /_mock/ca and
 * against the host name (SANs from --tls-hosts); a wrong CA or host fails. With
 * --data-dir the PKI is created once (keys 0600) and reused across restarts, and
 * `nrfprov-mock ca --print` prints that same CA, creating it first if needed. */
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness_device.h"

TestSuite(pki_http, .timeout = 60);

/* GET https://host:port/path trusting ca_file, host resolved to 127.0.0.1; the curl
 * result, the status in *status and the body (malloc'd) in *body when not NULL. */
static CURLcode https_get(const char *host, int port, const char *path, const char *ca_file, const char *api_key,
                          long *status, char **body) {
  CURL *c = curl_easy_init();
  char url[512], resolve[300], auth[300];
  snprintf(url, sizeof url, "https://%s:%d%s", host, port, path);
  snprintf(resolve, sizeof resolve, "%s:%d:127.0.0.1", host, port);
  struct curl_slist *rl = curl_slist_append(NULL, resolve), *hl = NULL;
  if (api_key) {
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", api_key);
    hl = curl_slist_append(hl, auth);
  }
  growbuf b = {0};
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_RESOLVE, rl);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
  curl_easy_setopt(c, CURLOPT_CAINFO, ca_file);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, growbuf_collect);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
  CURLcode rc = curl_easy_perform(c);
  *status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
  curl_slist_free_all(rl);
  curl_slist_free_all(hl);
  curl_easy_cleanup(c);
  if (body) *body = b.data ? b.data : strdup("");
  else free(b.data);
  return rc;
}

static void expect_ok(const char *host, int port, const char *ca) {
  long status;
  char *body;
  CURLcode rc = https_get(host, port, "/_mock/health", ca, NULL, &status, &body);
  cr_assert_eq(rc, CURLE_OK, "https://%s:%d: %s", host, port, curl_easy_strerror(rc));
  cr_assert_eq(status, 200);
  cr_assert(strstr(body, "\"status\":\"ok\""), "%s", body);
  free(body);
}

static void expect_refused(const char *host, int port, const char *ca, const char *why) {
  long status;
  CURLcode rc = https_get(host, port, "/_mock/health", ca, NULL, &status, NULL);
  cr_assert_eq(rc, CURLE_PEER_FAILED_VERIFICATION, "%s: got %s", why, curl_easy_strerror(rc));
}

static const char *wrong_ca(void) {
  static char path[512];
  snprintf(path, sizeof path, "%s/ca/amazon-root-ca-1.pem", fixtures_dir());
  return path;
}

Test(pki_http, https_verifies_the_ca_and_the_host_name) {
  mock m;
  mock_start(&m, NULL);
  cr_assert_gt(m.https_port, 0, "the ready file names the https listener");
  const char *ca = mock_ca_file(&m);
  expect_ok("localhost", m.https_port, ca);
  expect_ok("127.0.0.1", m.https_port, ca);
  expect_ok("provisioning-http.nrfcloud.com", m.https_port, ca);
  expect_refused("localhost", m.https_port, wrong_ca(), "another CA");
  expect_refused("example.com", m.https_port, ca, "a host name the certificate does not name");
  /* The owner API is served there too. */
  long status;
  char *body;
  cr_assert_eq(https_get("localhost", m.https_port, "/v1/provisioning-rules", ca, "https-team", &status, &body), CURLE_OK);
  cr_assert_eq(status, 200, "%s", body);
  free(body);
  cr_assert_eq(mock_stop(&m), 0);
}

Test(pki_http, tls_hosts_name_the_certificate) {
  mock m;
  mock_start(&m, "--tls-hosts", "mock.test,10.1.2.3", NULL);
  const char *ca = mock_ca_file(&m);
  expect_ok("mock.test", m.https_port, ca);
  expect_refused("localhost", m.https_port, ca, "localhost is not in --tls-hosts");
  expect_refused("127.0.0.1", m.https_port, ca, "127.0.0.1 is not in --tls-hosts");
  cr_assert_eq(mock_stop(&m), 0);
}

/* The CA PEM a running mock serves (malloc'd). */
static char *served_ca(mock *m) {
  http_resp *r = http_req(m, "GET", "/_mock/ca", NULL, NULL, 0);
  cr_assert_eq(r->status, 200);
  char type[80];
  cr_assert(resp_header(r, "Content-Type", type, sizeof type) && !strcmp(type, "application/x-pem-file"), "type");
  char *pem = strdup(r->body);
  http_resp_free(r);
  cr_assert(!strncmp(pem, "-----BEGIN CERTIFICATE-----", 27), "%s", pem);
  return pem;
}

static void expect_mode(const char *dir, const char *file, unsigned mode) {
  char path[600];
  struct stat st;
  snprintf(path, sizeof path, "%s/pki/%s", dir, file);
  cr_assert_eq(stat(path, &st), 0, "%s exists", path);
  cr_assert_eq(st.st_mode & 0777, mode, "%s mode %o", path, st.st_mode & 0777);
}

Test(pki_http, the_pki_is_kept_in_the_data_dir_and_reused_after_a_restart) {
  char dir[] = "/tmp/nrfprov-pki-XXXXXX", data[300];
  cr_assert(mkdtemp(dir));
  snprintf(data, sizeof data, "%s/data", dir);
  mock m;
  mock_start(&m, "--data-dir", data, NULL);
  char *first = served_ca(&m);
  expect_mode(data, "ca.key", 0600);
  expect_mode(data, "server.key", 0600);
  cr_assert_eq(mock_stop(&m), 0);

  mock_start(&m, "--data-dir", data, NULL);
  char *second = served_ca(&m);
  cr_assert_str_eq(second, first, "the same CA after a restart");
  /* A device that stored the first run's CA still trusts the server. */
  char ca_file[400];
  snprintf(ca_file, sizeof ca_file, "%s/first-ca.pem", dir);
  FILE *f = fopen(ca_file, "w");
  cr_assert(f);
  fputs(first, f);
  fclose(f);
  expect_ok("localhost", m.https_port, ca_file);
  cr_assert_eq(mock_stop(&m), 0);

  /* `ca --print` prints the CA of that data dir. */
  char out[8192], err[1024];
  const char *args[] = {"ca", "--print", "--data-dir", data, NULL};
  cr_assert_eq(run_mock_binary(args, out, sizeof out, err, sizeof err), 0, "%s", err);
  cr_assert_str_eq(out, first);
  free(first);
  free(second);
  remove_tree(dir);
}

Test(pki_http, ca_print_creates_the_pki_the_server_then_uses) {
  char dir[] = "/tmp/nrfprov-pki-XXXXXX", data[300];
  cr_assert(mkdtemp(dir));
  snprintf(data, sizeof data, "%s/not/yet/there", dir);
  char out[8192], err[1024], again[8192];
  const char *args[] = {"ca", "--print", "--data-dir", data, NULL};
  cr_assert_eq(run_mock_binary(args, out, sizeof out, err, sizeof err), 0, "%s", err);
  cr_assert(!strncmp(out, "-----BEGIN CERTIFICATE-----", 27), "%s", out);
  cr_assert_eq(err[0], 0, "nothing on stderr: %s", err);
  expect_mode(data, "ca.key", 0600);
  cr_assert_eq(run_mock_binary(args, again, sizeof again, err, sizeof err), 0, "%s", err);
  cr_assert_str_eq(again, out, "printing twice gives the same CA");
  mock m;
  mock_start(&m, "--data-dir", data, NULL);
  char *served = served_ca(&m);
  cr_assert_str_eq(served, out, "the server uses the CA that was printed");
  free(served);
  cr_assert_eq(mock_stop(&m), 0);
  remove_tree(dir);
}

Test(pki_http, ca_print_errors_are_one_line_and_exit_1) {
  const char *cases[][5] = {
    {"ca", NULL},
    {"ca", "--print", "--no-such-option", NULL},
    {"ca", "--print", "--data-dir", "/proc/nrfprov-cannot-be-here", NULL},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char out[1024], err[1024];
    cr_assert_eq(run_mock_binary(cases[i], out, sizeof out, err, sizeof err), 1, "case %zu: %s", i, err);
    cr_assert(strlen(err) > 10 && strchr(err, '\n') == err + strlen(err) - 1, "one line: %s", err);
    cr_assert_eq(out[0], 0, "nothing on stdout: %s", out);
  }
}
