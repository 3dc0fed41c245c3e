/* nrfprov-mock: option parsing, start-up, the ready announcement, signals, shutdown.
 * Also the human subcommands (`token decode`, `ca --print`, and `probe` in cli/probe.c). Start-up is all-or-nothing: any failure
 * prints one line on stderr and exits 1 with nothing left running. */
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "cli/probe.h"
#include "clock.h"
#include "coap/coap.h"
#include "faults.h"
#include "guard.h"
#include "files.h"
#include "http/http.h"
#include "journal.h"
#include "log.h"
#include "metrics.h"
#include "options.h"
#include "pki/pki.h"
#include "proto/attest.h"
#include "proxy/proxy.h"
#include "service/control.h"
#include "service/svc.h"
#include "snapshots.h"
#include "store/store.h"

/* The empty database of the current schema, generated at build time (tools/schemagen.c). */
extern const unsigned char nrfprov_schema_image[];
extern const size_t nrfprov_schema_image_len;

typedef struct {
  const char *name;
  http_server *http;  /* one of these three */
  coapsrv_listener *coap;
  proxy *proxy;
} listener;

static void host_text(const char *bind, char *out, size_t n) {
  snprintf(out, n, strchr(bind, ':') ? "[%s]" : "%s", bind);
}

/* Print the ready line and write the ready file (atomically: files_write). */
static int announce(const options *o, const listener *ls, size_t n, char *why, size_t whysz) {
  char host[80], line[512];
  host_text(o->bind, host, sizeof host);
  size_t k = (size_t)snprintf(line, sizeof line, "nrfprov-mock ready");
  json_t *ready = json_object();
  for (size_t i = 0; i < n; i++) {
    if (!ls[i].http && !ls[i].coap && !ls[i].proxy) continue;
    int port = ls[i].http ? http_port(ls[i].http) : ls[i].coap ? coapsrv_listener_port(ls[i].coap) : proxy_port(ls[i].proxy);
    k += (size_t)snprintf(line + k, sizeof line - k, " %s=%s:%d", ls[i].name, host, port);
    json_object_set_new(ready, ls[i].name, json_pack("{s:s, s:i}", "host", o->bind, "port", port));
  }
  int rc = 0;
  if (o->ready_file) {
    char *text = json_dumps(ready, JSON_PRESERVE_ORDER);
    char reason[400];
    if (!text || files_write(o->ready_file, text, strlen(text), 0644, reason, sizeof reason)) {
      snprintf(why, whysz, "--ready-file: %s", text ? reason : "out of memory");
      rc = -1;
    }
    free(text);
  }
  json_decref(ready);
  if (!rc) {
    printf("%s\n", line);
    fflush(stdout);
  }
  return rc;
}

/* The local PKI: in memory, or in <data-dir>/pki (created on first start, reused). */
static int open_pki(const options *o, pki **out, char *why, size_t whysz) {
  char dir[4200];
  snprintf(dir, sizeof dir, "%s/pki", o->data_dir);
  pki_options po = {.dir = o->in_memory ? NULL : dir, .tls_hosts = o->tls_hosts, .ca_cert = o->ca_cert,
                    .ca_key = o->ca_key, .tls_cert = o->tls_cert, .tls_key = o->tls_key, .lazy = 1};
  return pki_open(out, &po, why, whysz);
}

/* Load --fixtures FILE (docs/control-api.md §4) in one transaction; the defect in why. */
static int load_fixtures(app *a, const char *path, char *why, size_t whysz) {
  json_error_t je;
  json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
  if (!doc) return snprintf(why, whysz, "--fixtures: %s: %s (line %d, column %d)", path, je.text, je.line, je.column), -1;
  json_t *counts = NULL;
  err_t e;
  int rc = svc_fixtures_load(a->svc, doc, &counts, &e);
  if (rc) snprintf(why, whysz, "--fixtures: %s: %s", path, e.message);
  else {
    char *text = json_dumps(counts, JSON_COMPACT | JSON_PRESERVE_ORDER);
    log_msg(LOG_INFO, "fixtures %s loaded: %s", path, text ? text : "");
    free(text);
  }
  json_decref(counts);
  json_decref(doc);
  return rc ? -1 : 0;
}

static int serve(options *o) {
  char why[512] = "";
  int rc = 1;
  app a = {.opt = o, .started_ms = clock_wall_ms()};
  listener ls[] = {{"http", NULL, NULL, NULL}, {"https", NULL, NULL, NULL}, {"coap", NULL, NULL, NULL},
                   {"coaps", NULL, NULL, NULL}, {"proxy", NULL, NULL, NULL}};
  sigset_t sigs;

  log_configure((log_level)log_level_parse(o->log_level), !strcmp(o->log_format, "json"));
  /* Block the stop signals before any thread starts (the store's checkpointer starts in
   * store_open), so only sigwait() sees them. */
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &sigs, NULL);
  char dbpath[4200];
  if (o->in_memory) {
    snprintf(dbpath, sizeof dbpath, ":memory:");
  } else {
    if (files_mkdirs(o->data_dir, 0700, why, sizeof why)) goto out;
    snprintf(dbpath, sizeof dbpath, "%s/state.db", o->data_dir);
  }
  if (o->test_disk_full_file) {
    log_msg(LOG_WARN, "--test-disk-full-file is set: database writes fail while %s exists (a test-only option)",
            o->test_disk_full_file);
    if (store_test_disk_full(o->test_disk_full_file)) {
      snprintf(why, sizeof why, "--test-disk-full-file: cannot set up the test VFS");
      goto out;
    }
  }
  store_fresh_image(nrfprov_schema_image, nrfprov_schema_image_len);
  if (store_open(&a.store, dbpath, why, sizeof why)) goto out;
  if (open_pki(o, &a.pki, why, sizeof why)) goto out;
  svc_config sc = {.api_keys_file = o->api_keys, .strict_identity = o->strict_identity};
  if (svc_open(&a.svc, a.store, a.pki, &sc, why, sizeof why)) goto out;
  if (guard_open(&a.guard, o, why, sizeof why)) goto out;
  if (snapshots_open(&a.snapshots, o->snapshot_dir, o->data_dir, o->in_memory, why, sizeof why)) goto out;
  a.journal = journal_new((size_t)o->journal_size);
  a.faults = faults_new();
  a.metrics = metrics_new();
  if (!a.journal || !a.faults || !a.metrics) {
    snprintf(why, sizeof why, "out of memory");
    goto out;
  }
  if (o->fixtures && load_fixtures(&a, o->fixtures, why, sizeof why)) goto out;

  if (o->http_port >= 0) {
    http_listen l = {.bind = o->bind, .port = o->http_port, .threads = o->threads};
    if (http_start(&ls[0].http, &a, &l, why, sizeof why)) goto out;
  }
  if (o->https_port >= 0) {
    http_listen l = {.bind = o->bind, .port = o->https_port, .threads = o->threads,
                     .cert_pem = pki_server_cert_pem(a.pki), .key_pem = pki_server_key_pem(a.pki)};
    if (!l.cert_pem || !l.key_pem) {
      snprintf(why, sizeof why, "cannot generate the local PKI: %s", pki_error(a.pki) ? pki_error(a.pki) : "unknown");
      goto out;
    }
    if (http_start(&ls[1].http, &a, &l, why, sizeof why)) goto out;
  }
  if (o->coap_port >= 0 && coapsrv_listener_start(&ls[2].coap, &a, o->bind, o->coap_port, false, why, sizeof why)) goto out;
  if (o->coaps_port >= 0 && coapsrv_listener_start(&ls[3].coap, &a, o->bind, o->coaps_port, true, why, sizeof why)) goto out;
  if (o->proxy_port >= 0) {
    /* The proxy reaches the mock's own listeners on this machine: a wildcard bind is
     * reached on loopback (docs/install.md). */
    const char *up = !strcmp(o->bind, "0.0.0.0") ? "127.0.0.1" : !strcmp(o->bind, "::") ? "::1" : o->bind;
    proxy_listen pl = {.bind = o->bind, .port = o->proxy_port, .upstream = up,
                       .https_port = ls[1].http ? http_port(ls[1].http) : -1,
                       .http_port = ls[0].http ? http_port(ls[0].http) : -1};
    if (proxy_start(&ls[4].proxy, &pl, why, sizeof why)) goto out;
  }
  /* A port option of 0 asked for any free port: from now on the effective value, in
   * GET /_mock/config too, is the port bound. Written before the ports are announced, so
   * nobody who learned them from the ready line or file can read the old values. The
   * listeners already serve GET /_mock/config, so the stores are atomic (options_to_json
   * loads ports atomically). */
  if (ls[0].http) __atomic_store_n(&o->http_port, http_port(ls[0].http), __ATOMIC_RELEASE);
  if (ls[1].http) __atomic_store_n(&o->https_port, http_port(ls[1].http), __ATOMIC_RELEASE);
  if (ls[2].coap) __atomic_store_n(&o->coap_port, coapsrv_listener_port(ls[2].coap), __ATOMIC_RELEASE);
  if (ls[3].coap) __atomic_store_n(&o->coaps_port, coapsrv_listener_port(ls[3].coap), __ATOMIC_RELEASE);
  if (ls[4].proxy) __atomic_store_n(&o->proxy_port, proxy_port(ls[4].proxy), __ATOMIC_RELEASE);
  guard_warn_exposed(o);
  if (announce(o, ls, sizeof ls / sizeof ls[0], why, sizeof why)) goto out;
  log_msg(LOG_INFO, "serving; data %s", o->in_memory ? "in memory" : o->data_dir);

  int sig = 0;
  sigwait(&sigs, &sig);
  log_msg(LOG_INFO, "signal %d: stopping", sig);
  rc = 0;
out:
  if (rc && *why) fprintf(stderr, "nrfprov-mock: %s\n", why);
  /* CoAP first: its listeners started last. */
  for (size_t i = 0; i < sizeof ls / sizeof ls[0]; i++) coapsrv_listener_stop(ls[i].coap);
  for (size_t i = 0; i < sizeof ls / sizeof ls[0]; i++) http_stop(ls[i].http);
  /* The proxy last: it relays the answers of requests the HTTP listeners finish above. */
  for (size_t i = 0; i < sizeof ls / sizeof ls[0]; i++) proxy_stop(ls[i].proxy);
  svc_close(a.svc);
  journal_free(a.journal);
  faults_free(a.faults);
  metrics_free(a.metrics);
  snapshots_close(a.snapshots);
  guard_free(a.guard);
  store_close(a.store);
  pki_close(a.pki);
  return rc;
}

/* `nrfprov-mock token decode <token>`: the token's fields as JSON, or the defect. */
static int token_decode(int argc, char **argv) {
  if (argc != 4 || strcmp(argv[2], "decode")) {
    fprintf(stderr, "usage: nrfprov-mock token decode <token>\n");
    return 1;
  }
  attest_token t;
  char why[256], *json = NULL;
  if (attest_decode(argv[3], strlen(argv[3]), &t, why, sizeof why)) {
    fprintf(stderr, "nrfprov-mock: token is not well-formed: %s\n", why);
    return 1;
  }
  if (attest_to_json(&t, &json)) return 1;
  printf("%s\n", json);
  free(json);
  return 0;
}

/* `nrfprov-mock ca --print [--data-dir DIR]`: the CA certificate PEM to flash into a
 * device. Every server option applies (--data-dir, --ca-cert/--ca-key, --in-memory, the
 * NRFPROV_* variables); the PKI is created in <data-dir>/pki when there is none, exactly
 * as the server would create it, so the CA printed is the one the server will use. */
static int ca_print(int argc, char **argv) {
  char **args = calloc((size_t)argc + 1, sizeof *args), why[512];
  int n = 0, print = 0, rc = 1;
  args[n++] = argv[0];
  for (int i = 2; i < argc; i++) {
    if (!strcmp(argv[i], "--print")) print = 1;
    else args[n++] = argv[i];
  }
  options o;
  pki *p = NULL;
  int parsed = options_parse(&o, n, args, why, sizeof why);
  if (!print && parsed >= 0) snprintf(why, sizeof why, "usage: nrfprov-mock ca --print [--data-dir DIR]");
  if (parsed == 1) rc = 0;
  else if (parsed < 0 || !print || open_pki(&o, &p, why, sizeof why)) fprintf(stderr, "nrfprov-mock: %s\n", why);
  else if (!pki_ca_pem(p)) fprintf(stderr, "nrfprov-mock: cannot generate the local PKI: %s\n", pki_error(p) ? pki_error(p) : "unknown");
  else rc = fputs(pki_ca_pem(p), stdout) < 0 || fflush(stdout) ? 1 : 0;
  pki_close(p);
  options_free(&o);
  free(args);
  return rc;
}

int main(int argc, char **argv) {
  signal(SIGPIPE, SIG_IGN);
  if (argc >= 2 && !strcmp(argv[1], "token")) return token_decode(argc, argv);
  if (argc >= 2 && !strcmp(argv[1], "ca")) return ca_print(argc, argv);
  if (argc >= 2 && !strcmp(argv[1], "probe")) return probe_main(argc, argv);
  options o;
  char why[512];
  int rc = options_parse(&o, argc, argv, why, sizeof why);
  if (rc < 0) {
    fprintf(stderr, "nrfprov-mock: %s\n", why);
    options_free(&o);
    return 1;
  }
  if (rc == 1) {
    options_free(&o);
    return 0;
  }
  rc = serve(&o);
  options_free(&o);
  return rc;
}
