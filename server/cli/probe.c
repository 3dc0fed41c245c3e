/* `nrfprov-mock probe [--url URL] [--timeout S] [--cacert FILE]`: exit 0 when the mock at
 * URL answers GET /_mock/health with 200, 1 otherwise with the reason on stderr
 * (docs/install.md). It is the container's HEALTHCHECK, so the image needs no curl
 * program; libcurl does the HTTP(S). Not a general HTTP client: one GET, no retries.
 *
 * libcurl is loaded with dlopen when probe runs, not linked: linked, its dozen and a
 * half dependencies (GnuTLS, Kerberos, LDAP, SSH, ...) were loaded at every start of the
 * server, which cost a third of its start-up time and 2 MB of resident memory. The
 * package still depends on libcurl4 (the simulator links it).
 *
 * The default URL follows the server's own environment, so a container configured with
 * NRFPROV_HTTP_PORT probes the port it serves on: http://127.0.0.1:<port>/_mock/health. */
#include "cli/probe.h"

#include <curl/curl.h>
#include <dlfcn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static size_t discard(char *p, size_t size, size_t nmemb, void *ud) {
  (void)p, (void)ud;
  return size * nmemb;
}

/* The libcurl calls probe makes, looked up in the library at run time. */
struct curl_api {
  void *lib;
  CURLcode (*global_init)(long flags);
  void (*global_cleanup)(void);
  CURL *(*easy_init)(void);
  CURLcode (*easy_setopt)(CURL *c, CURLoption opt, ...);
  CURLcode (*easy_perform)(CURL *c);
  CURLcode (*easy_getinfo)(CURL *c, CURLINFO info, ...);
  void (*easy_cleanup)(CURL *c);
  const char *(*easy_strerror)(CURLcode rc);
};

/* Store dlsym's answer in a function pointer (POSIX's way around ISO C's object/function
 * pointer split); false when the symbol is missing. */
static bool sym(void *lib, const char *name, void *fn_ptr) {
  void *p = dlsym(lib, name);
  memcpy(fn_ptr, &p, sizeof p);
  return p != NULL;
}

static int curl_api_load(struct curl_api *a) {
  a->lib = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
  if (!a->lib) {
    fprintf(stderr, "nrfprov-mock probe: cannot load libcurl (package libcurl4): %s\n", dlerror());
    return -1;
  }
  if (sym(a->lib, "curl_global_init", &a->global_init) && sym(a->lib, "curl_global_cleanup", &a->global_cleanup) &&
      sym(a->lib, "curl_easy_init", &a->easy_init) && sym(a->lib, "curl_easy_setopt", &a->easy_setopt) &&
      sym(a->lib, "curl_easy_perform", &a->easy_perform) && sym(a->lib, "curl_easy_getinfo", &a->easy_getinfo) &&
      sym(a->lib, "curl_easy_cleanup", &a->easy_cleanup) && sym(a->lib, "curl_easy_strerror", &a->easy_strerror))
    return 0;
  fprintf(stderr, "nrfprov-mock probe: libcurl.so.4 lacks a function probe calls: %s\n", dlerror());
  dlclose(a->lib);
  return -1;
}

/* One GET of url; 0 when it answered 200, else 1 with the reason on stderr. */
static int get(const struct curl_api *a, const char *url, const char *cacert, long timeout) {
  if (a->global_init(CURL_GLOBAL_DEFAULT)) return 1;
  CURL *c = a->easy_init();
  long status = 0;
  CURLcode rc = CURLE_FAILED_INIT;
  if (c) {
    a->easy_setopt(c, CURLOPT_URL, url);
    a->easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    a->easy_setopt(c, CURLOPT_TIMEOUT, timeout);
    a->easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    a->easy_setopt(c, CURLOPT_PROXY, ""); /* the mock is local: never through a proxy variable */
    a->easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    if (cacert) a->easy_setopt(c, CURLOPT_CAINFO, cacert);
    rc = a->easy_perform(c);
    a->easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    a->easy_cleanup(c);
  }
  a->global_cleanup();
  if (rc != CURLE_OK) {
    fprintf(stderr, "nrfprov-mock probe: %s: %s\n", url, a->easy_strerror(rc));
    return 1;
  }
  if (status != 200) {
    fprintf(stderr, "nrfprov-mock probe: %s: HTTP %ld\n", url, status);
    return 1;
  }
  return 0;
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
  struct curl_api api;
  if (curl_api_load(&api)) return 1;
  int rc = get(&api, url, cacert, timeout);
  dlclose(api.lib);
  return rc;
}
