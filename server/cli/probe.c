/* `nrfprov-mock probe [--url URL] [--timeout S] [--cacert FILE]`: exit 0 when the mock at
 * URL answers GET /_mock/health with 200, 1 otherwise with the reason on stderr
 * (docs/install.md). It is the container's HEALTHCHECK, so the image needs no curl
 * program; libcurl does the HTTP(S). Not a general HTTP client: one GET, no retries.
 *
 * The default URL follows the server's own environment, so a container configured with
 * NRFPROV_HTTP_PORT probes the port it serves on: http://127.0.0.1:<port>/_mock/health. */
#include "cli/probe.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static size_t discard(char *p, size_t size, size_t nmemb, void *ud) {
  (void)p, (void)ud;
  return size * nmemb;
}

static void usage(void) {
  fprintf(stderr, "usage: nrfprov-mock probe [--url URL] [--timeout SECONDS] [--cacert FILE]\n"
                  "  exit 0 when URL (default http://127.0.0.1:$NRFPROV_HTTP_PORT/_mock/health,\n"
                  "  port 8080 when unset) answers 200\n");
}

int probe_main(int argc, char **argv) {
  char url[1024];
  const char *port = getenv("NRFPROV_HTTP_PORT");
  if (!port || !*port || !strcmp(port, "0") || !strcmp(port, "-1")) port = "8080";
  snprintf(url, sizeof url, "http://127.0.0.1:%s/_mock/health", port);
  const char *cacert = NULL;
  long timeout = 5;
  for (int i = 2; i < argc; i += 2) { /* every option takes a value */
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) return usage(), 0;
    if (!v) return usage(), 1;
    if (!strcmp(a, "--url")) snprintf(url, sizeof url, "%s", v);
    else if (!strcmp(a, "--cacert")) cacert = v;
    else if (!strcmp(a, "--timeout")) {
      char *end;
      timeout = strtol(v, &end, 10);
      if (*end || timeout < 1 || timeout > 3600) {
        fprintf(stderr, "nrfprov-mock probe: --timeout: '%s' is not a number of seconds (1..3600)\n", v);
        return 1;
      }
    } else {
      fprintf(stderr, "nrfprov-mock probe: unknown option '%s'\n", a);
      return usage(), 1;
    }
  }
  if (curl_global_init(CURL_GLOBAL_DEFAULT)) return 1;
  CURL *c = curl_easy_init();
  long status = 0;
  CURLcode rc = CURLE_FAILED_INIT;
  if (c) {
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_TIMEOUT, timeout);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROXY, ""); /* the mock is local: never through a proxy variable */
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    if (cacert) curl_easy_setopt(c, CURLOPT_CAINFO, cacert);
    rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
  }
  curl_global_cleanup();
  if (rc != CURLE_OK) {
    fprintf(stderr, "nrfprov-mock probe: %s: %s\n", url, curl_easy_strerror(rc));
    return 1;
  }
  if (status != 200) {
    fprintf(stderr, "nrfprov-mock probe: %s: HTTP %ld\n", url, status);
    return 1;
  }
  return 0;
}
