/* See harness_device.h. HTTP and HTTPS go through libcurl with Connection: close, as
 * the SDK client sends every request on a new connection. */
#include "harness_device.h"

#include <criterion/criterion.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *dev_transport_name(dev_transport t) {
  static const char *names[] = {"http", "https", "coap", "coaps"};
  return names[t];
}

void dev_open(dev_client *d, mock *m, dev_transport t, const char *credential) {
  memset(d, 0, sizeof *d);
  d->m = m;
  d->t = t;
  snprintf(d->cred, sizeof d->cred, "%s", credential);
  if (t == DEV_COAP || t == DEV_COAPS) dev__coap_open(d);
}

void dev_close(dev_client *d) {
  if (d->t == DEV_COAP || d->t == DEV_COAPS) dev__coap_close(d);
}

static dev_result http_exchange(dev_client *d, const char *method, const char *path, const uint8_t *body, size_t len,
                                uint8_t **out, size_t *outlen) {
  CURL *c = curl_easy_init();
  char url[4096], auth[2200];
  int port = d->t == DEV_HTTPS ? d->m->https_port : d->m->http_port;
  snprintf(url, sizeof url, "%s://127.0.0.1:%d%s", d->t == DEV_HTTPS ? "https" : "http", port, path);
  struct curl_slist *h = NULL;
  if (*d->cred) {
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", d->cred);
    h = curl_slist_append(h, auth);
  }
  h = curl_slist_append(h, "Connection: close");
  h = curl_slist_append(h, "Accept: application/cbor");
  if (body) h = curl_slist_append(h, "Content-Type: application/cbor");
  growbuf b = {0};
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
  if (body) {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
  }
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, growbuf_collect);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
  if (d->t == DEV_HTTPS) curl_easy_setopt(c, CURLOPT_CAINFO, mock_ca_file(d->m));
  CURLcode rc = curl_easy_perform(c);
  cr_assert(rc == CURLE_OK, "%s %s: %s", method, url, curl_easy_strerror(rc));
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(h);
  curl_easy_cleanup(c);
  d->status = (int)status;
  dev_result r = status == 200 ? (body ? DEV_ACCEPTED : DEV_COMMANDS) : status == 204 ? DEV_NOTHING
               : status == 401 ? DEV_NOT_CLAIMED : status == 403 ? DEV_FORBIDDEN : status == 400 ? DEV_BAD_REQUEST : DEV_OTHER;
  if (r == DEV_COMMANDS && out) {
    *out = (uint8_t *)b.data;
    *outlen = b.len;
  } else {
    free(b.data);
  }
  return r;
}

dev_result dev_fetch(dev_client *d, const char *query, uint8_t **body, size_t *len) {
  if (body) *body = NULL;
  if (len) *len = 0;
  if (d->t == DEV_COAP || d->t == DEV_COAPS) return dev__coap_fetch(d, query, body, len);
  char path[2048];
  snprintf(path, sizeof path, "/v1/provisioning/commands%s%s", query && *query ? "?" : "", query ? query : "");
  return http_exchange(d, "GET", path, NULL, 0, body, len);
}

dev_result dev_report(dev_client *d, const uint8_t *cbor, size_t len) {
  if (d->t == DEV_COAP || d->t == DEV_COAPS) return dev__coap_report(d, cbor, len);
  return http_exchange(d, "POST", "/v1/provisioning/response", cbor, len, NULL, NULL);
}

const char *mock_ca_file(mock *m) {
  static char path[400];
  snprintf(path, sizeof path, "%s/ca.pem", m->dir);
  FILE *f = fopen(path, "r");
  if (f) {
    fclose(f);
    return path;
  }
  http_resp *r = http_req(m, "GET", "/_mock/ca", NULL, NULL, 0);
  cr_assert_eq(r->status, 200, "GET /_mock/ca");
  f = fopen(path, "w");
  cr_assert(f);
  fwrite(r->body, 1, r->len, f);
  fclose(f);
  http_resp_free(r);
  return path;
}
