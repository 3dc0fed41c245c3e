/* The simulator's HTTP and HTTPS transport (docs/device-protocol.md §2), shaped like the SDK's
 * REST client: every request on a new connection with "Connection: close", a fresh JWT
 * in "Authorization: Bearer", the query keys in the SDK's order, and the whole answer
 * (status line, headers and body) held against rxMaxSize. It carries bytes and maps
 * statuses; what the commands mean is sim/device.c's business. */
#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

#include "proto/jwt.h"
#include "sim.h"

/* The client's version as the SDK sends it in cver. */
#define CLIENT_VERSION "2.6.0"

typedef struct {
  uint8_t *data;
  size_t len;
  size_t wire;  /* status line + headers + body bytes, for the rxMaxSize check */
} answer;

static size_t on_body(char *p, size_t size, size_t nmemb, void *ud) {
  answer *a = ud;
  size_t n = size * nmemb;
  uint8_t *bigger = realloc(a->data, a->len + n + 1);
  if (!bigger) return 0;
  a->data = bigger;
  memcpy(a->data + a->len, p, n);
  a->len += n;
  a->wire += n;
  return n;
}

static size_t on_header(char *p, size_t size, size_t nmemb, void *ud) {
  (void)p;
  ((answer *)ud)->wire += size * nmemb;
  return size * nmemb;
}

/* One exchange; *status the HTTP status (0 when there was none). */
static int exchange(const sim_link *l, sim_device *d, const char *method, const char *path, const uint8_t *body,
                    size_t len, answer *a, long *status, char *why, size_t whysz) {
  char url[2048], auth[JWT_MAX_LEN + 32], jwt[JWT_MAX_LEN];
  if (sim_device_jwt(d, jwt, sizeof jwt) < 0) {
    snprintf(why, whysz, "cannot make a JWT");
    return -1;
  }
  snprintf(url, sizeof url, "%s%s", l->url, path);
  snprintf(auth, sizeof auth, "Authorization: Bearer %s", jwt);
  struct curl_slist *h = NULL;
  if (body) {
    h = curl_slist_append(h, "Content-Type: application/cbor");
    h = curl_slist_append(h, "Accept: */*");
  } else {
    h = curl_slist_append(h, "Accept: application/cbor");
  }
  h = curl_slist_append(h, auth);
  h = curl_slist_append(h, "User-Agent: Zephyr (nrfprov-sim)");
  h = curl_slist_append(h, "Connection: close");
  h = curl_slist_append(h, "Expect:");
  CURL *c = curl_easy_init();
  if (!c) {
    curl_slist_free_all(h);
    snprintf(why, whysz, "cannot start libcurl");
    return -1;
  }
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
  if (body) {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
  }
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, a);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, a);
  curl_easy_setopt(c, CURLOPT_FRESH_CONNECT, 1L);
  curl_easy_setopt(c, CURLOPT_FORBID_REUSE, 1L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, (long)SIM_TIMEOUT_S);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)SIM_TIMEOUT_S);
  if (l->ca) curl_easy_setopt(c, CURLOPT_CAINFO, l->ca);
  CURLcode rc = curl_easy_perform(c);
  *status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
  curl_easy_cleanup(c);
  curl_slist_free_all(h);
  if (rc != CURLE_OK) {
    snprintf(why, whysz, "%s %.*s: %s", method, (int)strcspn(path, "?"), path, curl_easy_strerror(rc));
    return -1;
  }
  return 0;
}

/* The result of a status that is neither the expected success nor "nothing to do". */
static sim_result refusal(long status, const answer *a, char *why, size_t whysz) {
  if (status == 401) return SIM_R_NOT_CLAIMED;
  if (status == 403) return SIM_R_FORBIDDEN;
  snprintf(why, whysz, "HTTP %ld%s%.*s", status, a->len ? ": " : "", (int)(a->len > 200 ? 200 : a->len),
           a->data ? (const char *)a->data : "");
  return SIM_R_FAILED;
}

sim_result sim_http_fetch(const sim_link *l, sim_device *d, uint8_t **body, size_t *len, char *why, size_t whysz) {
  char path[512];
  answer a = {0};
  long status;
  *body = NULL;
  *len = 0;
  snprintf(path, sizeof path, "/v1/provisioning/commands?after=%s&rxMaxSize=%ld&txMaxSize=%ld&mver=%s&cver=%s&limit=%d",
           d->after, l->rx_max, l->tx_max, d->mfw, CLIENT_VERSION, l->limit);
  if (exchange(l, d, "GET", path, NULL, 0, &a, &status, why, whysz)) {
    free(a.data);
    return SIM_R_FAILED;
  }
  sim_result r;
  if (status == 204) {
    r = SIM_R_NOTHING;
  } else if (status != 200) {
    r = refusal(status, &a, why, whysz);
  } else if (!a.len) {
    snprintf(why, whysz, "200 with an empty body (the service must answer 204)");
    r = SIM_R_FAILED;
  } else if (l->rx_max > 0 && a.wire > (size_t)l->rx_max - 1) {
    /* The SDK reads the whole answer into rxMaxSize bytes, one kept for a terminator. */
    snprintf(why, whysz, "answer of %zu bytes does not fit rxMaxSize %ld", a.wire, l->rx_max);
    r = SIM_R_FAILED;
  } else {
    *body = a.data;
    *len = a.len;
    return SIM_R_OK;
  }
  free(a.data);
  return r;
}

sim_result sim_http_report(const sim_link *l, sim_device *d, const uint8_t *cbor, size_t len, char *why, size_t whysz) {
  answer a = {0};
  long status;
  sim_result r = SIM_R_OK;
  if (exchange(l, d, "POST", "/v1/provisioning/response", cbor, len, &a, &status, why, whysz)) r = SIM_R_FAILED;
  else if (status != 200) r = refusal(status, &a, why, whysz);
  free(a.data);
  return r;
}
