/* The option table and the one parser that reads it (argv, NRFPROV_* environment). */
#include "options.h"
#include "pki/pki.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

typedef enum { T_STRING, T_PORT, T_COUNT, T_BOOL, T_CHOICE } opt_type;

typedef struct {
  const char *flag;    /* long flag without the dashes */
  opt_type type;
  size_t offset;       /* field in struct options */
  const char *def;     /* default, as text; NULL = unset */
  const char *choices; /* T_CHOICE: "|"-separated */
  bool secret;         /* masked in GET /_mock/config */
  const char *help;
} opt_row;

#define F(field) offsetof(options, field)

static const opt_row option_table[] = {
  {"bind", T_STRING, F(bind), "127.0.0.1", NULL, false,
   "address every listener binds to (IPv4 or IPv6 literal)"},
  {"http-port", T_PORT, F(http_port), "8080", NULL, false,
   "HTTP port for the owner, device and control APIs; 0 = any free port, -1 = off"},
  {"https-port", T_PORT, F(https_port), "8443", NULL, false,
   "HTTPS port (same routes as HTTP, server certificate from the local CA); 0 = any free port, -1 = off"},
  {"coap-port", T_PORT, F(coap_port), "5683", NULL, false,
   "CoAP (UDP) port for the device resources p/auth-jwt, p/auth, p/cmd, p/rsp; 0 = any free port, -1 = off"},
  {"coaps-port", T_PORT, F(coaps_port), "5684", NULL, false,
   "CoAP over DTLS 1.2 port (server certificate from the local CA); 0 = any free port, -1 = off"},
  {"proxy-port", T_PORT, F(proxy_port), "-1", NULL, false,
   "HTTP proxy port (CONNECT) that reaches only this mock, under nRF Cloud's provisioning host names "
   "(HTTPS_PROXY for unmodified tools, docs/install.md); 0 = any free port, -1 = off"},
  {"data-dir", T_STRING, F(data_dir), "./nrfprov-data", NULL, false,
   "directory holding state.db (SQLite) and pki/"},
  {"in-memory", T_BOOL, F(in_memory), "false", NULL, false,
   "keep everything in memory: SQLite :memory: and an in-memory PKI; no files written"},
  {"api-keys", T_STRING, F(api_keys), NULL, NULL, false,
   "strict mode: only the API keys listed in FILE (one 'key[,team name]' per line) are accepted"},
  {"strict-identity", T_BOOL, F(strict_identity), "false", NULL, false,
   "refuse devices with no registered identity key (docs/device-protocol.md §4.3)"},
  {"fixtures", T_STRING, F(fixtures), NULL, NULL, false,
   "load this fixtures file (JSON: teams, identities, tags, claimedDevices, rules, commands) at start, in one transaction"},
  {"tls-hosts", T_STRING, F(tls_hosts), PKI_DEFAULT_TLS_HOSTS, NULL, false,
   "comma-separated DNS names and IP addresses for the server certificate's subjectAltNames"},
  {"ca-cert", T_STRING, F(ca_cert), NULL, NULL, false,
   "PEM CA certificate to use instead of generating one (with --ca-key)"},
  {"ca-key", T_STRING, F(ca_key), NULL, NULL, true,
   "PEM private key of --ca-cert"},
  {"tls-cert", T_STRING, F(tls_cert), NULL, NULL, false,
   "PEM server certificate (chain) to use instead of generating one (with --tls-key)"},
  {"tls-key", T_STRING, F(tls_key), NULL, NULL, true,
   "PEM private key of --tls-cert"},
  {"journal-size", T_COUNT, F(journal_size), "1000", NULL, false,
   "exchanges kept in the request journal (GET /_mock/requests), at most 1000000; 0 = off"},
  {"threads", T_COUNT, F(threads), "2", NULL, false,
   "HTTP worker threads (libmicrohttpd thread pool); at least 1"},
  {"max-connections", T_COUNT, F(max_connections), "1000", NULL, false,
   "connections each HTTP(S) listener holds at once; further ones wait in the kernel's backlog"},
  {"max-connections-per-ip", T_COUNT, F(max_connections_per_ip), "128", NULL, false,
   "connections one client address may hold on each HTTP(S) listener; further ones are closed at once"},
  {"header-timeout-ms", T_COUNT, F(header_timeout_ms), "10000", NULL, false,
   "HTTP(S): a request's line and headers (and the TLS handshake) must arrive within this many ms, else the connection is closed"},
  {"idle-timeout-ms", T_COUNT, F(idle_timeout_ms), "120000", NULL, false,
   "an idle HTTP(S) keep-alive connection or CoAP(s) session ends after this many ms (counted in whole seconds, rounded up)"},
  {"coap-max-sessions", T_COUNT, F(coap_max_sessions), "4096", NULL, false,
   "sessions each CoAP(s) listener keeps; past it the oldest idle one is dropped"},
  {"log-level", T_CHOICE, F(log_level), "info", "debug|info|warn|error", false,
   "minimum level of log lines on stderr"},
  {"log-format", T_CHOICE, F(log_format), "text", "text|json", false,
   "log line format"},
  {"ui", T_BOOL, F(ui), "true", NULL, false,
   "serve the portal pages at / (docs/portal.md); false = those paths answer 404"},
  {"ready-file", T_STRING, F(ready_file), NULL, NULL, false,
   "write the bound listeners as JSON to this file (atomically) once ready"},
  {"snapshot-dir", T_STRING, F(snapshot_dir), NULL, NULL, false,
   "directory of POST /_mock/snapshot files (default <data-dir>/snapshots; with --in-memory a private "
   "temporary directory removed at exit)"},
  {"control-token", T_STRING, F(control_token), NULL, NULL, true,
   "when set, every /_mock/ call but GET /_mock/health needs the header X-Mock-Token: TOKEN"},
  {"control-peers", T_STRING, F(control_peers), "127.0.0.0/8,::1", NULL, false,
   "without --control-token, the addresses or CIDRs (comma-separated) allowed to call /_mock/"},
  {"test-disk-full-file", T_STRING, F(test_disk_full_file), NULL, NULL, false,
   "TEST ONLY: while FILE exists, every database write fails as on a full disk"},
};

#define N_OPTIONS (sizeof option_table / sizeof option_table[0])

static void env_name(const opt_row *r, char *buf, size_t n) {
  size_t k = (size_t)snprintf(buf, n, "NRFPROV_");
  for (const char *p = r->flag; *p && k + 1 < n; p++) buf[k++] = *p == '-' ? '_' : (char)toupper(*p);
  buf[k] = 0;
}

static bool choice_ok(const char *choices, const char *v) {
  size_t len = strlen(v);
  for (const char *p = choices; *p;) {
    const char *bar = strchr(p, '|');
    size_t n = bar ? (size_t)(bar - p) : strlen(p);
    if (n == len && strncmp(p, v, n) == 0) return true;
    p += n + (bar ? 1 : 0);
  }
  return false;
}

/* Store text value v into the field of row r; origin names the source for messages. */
static int set_value(options *o, const opt_row *r, const char *v, const char *origin, char *why, size_t whysz) {
  void *field = (char *)o + r->offset;
  char *end;
  long n;
  switch (r->type) {
  case T_STRING:
  case T_CHOICE:
    if (r->type == T_CHOICE && !choice_ok(r->choices, v)) {
      snprintf(why, whysz, "%s: '%s' is not one of %s", origin, v, r->choices);
      return -1;
    }
    free(*(char **)field);
    *(char **)field = strdup(v);
    return 0;
  case T_PORT:
  case T_COUNT:
    errno = 0;
    n = strtol(v, &end, 10);
    if (errno || end == v || *end) {
      snprintf(why, whysz, "%s: '%s' is not an integer", origin, v);
      return -1;
    }
    if (r->type == T_PORT && (n < -1 || n > 65535)) {
      snprintf(why, whysz, "%s: port %ld out of range (-1 = off, 0 = any free port, 1..65535)", origin, n);
      return -1;
    }
    if (r->type == T_COUNT && (n < 0 || n > 1000000000)) {
      snprintf(why, whysz, "%s: %ld out of range (0..1000000000)", origin, n);
      return -1;
    }
    *(int *)field = (int)n;
    return 0;
  case T_BOOL:
    if (!strcmp(v, "true") || !strcmp(v, "1") || !strcmp(v, "yes")) *(bool *)field = true;
    else if (!strcmp(v, "false") || !strcmp(v, "0") || !strcmp(v, "no")) *(bool *)field = false;
    else {
      snprintf(why, whysz, "%s: '%s' is not a boolean (true|false)", origin, v);
      return -1;
    }
    return 0;
  }
  return -1;
}

static const opt_row *find_row(const char *flag, size_t len) {
  for (size_t i = 0; i < N_OPTIONS; i++)
    if (strlen(option_table[i].flag) == len && strncmp(option_table[i].flag, flag, len) == 0)
      return &option_table[i];
  return NULL;
}

int options_parse(options *o, int argc, char **argv, char *why, size_t whysz) {
  memset(o, 0, sizeof *o);
  char origin[96];
  for (size_t i = 0; i < N_OPTIONS; i++) {
    const opt_row *r = &option_table[i];
    if (r->def && set_value(o, r, r->def, "default", why, whysz)) return -1;
    char env[64];
    env_name(r, env, sizeof env);
    const char *v = getenv(env);
    if (v && *v) {
      snprintf(origin, sizeof origin, "%s", env);
      if (set_value(o, r, v, origin, why, whysz)) return -1;
    }
  }
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      options_print_help(stdout);
      return 1;
    }
    if (!strcmp(a, "--version")) {
      printf("nrfprov-mock %s\n", NRFPROV_VERSION);
      return 1;
    }
    if (strncmp(a, "--", 2) != 0) {
      snprintf(why, whysz, "unexpected argument '%s' (see --help)", a);
      return -1;
    }
    const char *name = a + 2, *eq = strchr(name, '=');
    size_t len = eq ? (size_t)(eq - name) : strlen(name);
    const opt_row *r = find_row(name, len);
    if (!r) {
      snprintf(why, whysz, "unknown option '--%.*s' (see --help)", (int)len, name);
      return -1;
    }
    const char *v = eq ? eq + 1 : NULL;
    /* A boolean flag alone means true; a boolean word after it is its value (--ui false). */
    if (!v && r->type == T_BOOL) {
      static const char *const words[] = {"true", "false", "1", "0", "yes", "no"};
      v = "true";
      for (size_t w = 0; i + 1 < argc && w < sizeof words / sizeof words[0]; w++)
        if (!strcmp(argv[i + 1], words[w])) {
          v = argv[++i];
          break;
        }
    }
    if (!v) {
      if (i + 1 >= argc) {
        snprintf(why, whysz, "option '--%s' needs a value", r->flag);
        return -1;
      }
      v = argv[++i];
    }
    snprintf(origin, sizeof origin, "--%s", r->flag);
    if (set_value(o, r, v, origin, why, whysz)) return -1;
  }
  if (!o->ca_cert != !o->ca_key || !o->tls_cert != !o->tls_key) {
    snprintf(why, whysz, "%s", !o->ca_cert != !o->ca_key ? "--ca-cert and --ca-key go together"
                                                         : "--tls-cert and --tls-key go together");
    return -1;
  }
  if (o->threads < 1) {
    snprintf(why, whysz, "--threads: must be at least 1");
    return -1;
  }
  /* The limits of docs/control-api.md §5; none can be switched off. */
  const struct {
    const char *flag;
    int value, min;
  } limits[] = {
    {"max-connections", o->max_connections, 1},      {"max-connections-per-ip", o->max_connections_per_ip, 1},
    {"header-timeout-ms", o->header_timeout_ms, 100}, {"idle-timeout-ms", o->idle_timeout_ms, 1000},
    {"coap-max-sessions", o->coap_max_sessions, 1},
  };
  for (size_t i = 0; i < sizeof limits / sizeof limits[0]; i++)
    if (limits[i].value < limits[i].min) {
      snprintf(why, whysz, "--%s: must be at least %d (got %d)", limits[i].flag, limits[i].min, limits[i].value);
      return -1;
    }
  /* Each entry may hold up to ~8 KiB (path, query and bodies cut to 2 KiB each). */
  if (o->journal_size > 1000000) {
    snprintf(why, whysz, "--journal-size: at most 1000000 (got %d)", o->journal_size);
    return -1;
  }
  return 0;
}

void options_print_help(FILE *out) {
  fprintf(out,
          "usage: nrfprov-mock [OPTIONS]\n"
          "       nrfprov-mock --version\n"
          "       nrfprov-mock token decode <token>\n"
          "       nrfprov-mock ca --print [--data-dir DIR]\n"
          "       nrfprov-mock probe [--url URL] [--timeout S] [--cacert FILE]\n"
          "\nA local stand-in for nRF Cloud's Provisioning Service.\n"
          "Every option can also be set with the environment variable shown.\n\n");
  for (size_t i = 0; i < N_OPTIONS; i++) {
    const opt_row *r = &option_table[i];
    char env[64], flag[80];
    env_name(r, env, sizeof env);
    static const char *type_names[] = {"TEXT", "PORT", "N", "", ""};
    snprintf(flag, sizeof flag, "--%s %s", r->flag, r->type == T_CHOICE ? r->choices : type_names[r->type]);
    fprintf(out, "  %-34s %s\n  %-34s env %s, default %s\n", flag, r->help, "", env, r->def ? r->def : "(none)");
  }
}

void options_print_markdown(FILE *out) {
  static const char *value_names[] = {"TEXT", "PORT", "N", "none, or `=true`/`=false`", ""};
  fputs("| Option | Value | Environment | Default | Meaning |\n|---|---|---|---|---|\n", out);
  for (size_t i = 0; i < N_OPTIONS; i++) {
    const opt_row *r = &option_table[i];
    char env[64];
    env_name(r, env, sizeof env);
    fprintf(out, "| `--%s` | ", r->flag);
    if (r->type == T_CHOICE) {
      fputc('`', out);
      for (const char *p = r->choices; *p; p++) *p == '|' ? fputs("\\|", out) : fputc(*p, out);
      fputc('`', out);
    } else {
      fputs(value_names[r->type], out);
    }
    fprintf(out, " | `%s` | ", env);
    fprintf(out, r->def ? "`%s`" : "%s", r->def ? r->def : "(none)");
    fprintf(out, " | %s%s |\n", r->help, r->secret ? " (masked in `GET /_mock/config`)" : "");
  }
}

json_t *options_to_json(const options *o) {
  json_t *obj = json_object();
  for (size_t i = 0; i < N_OPTIONS; i++) {
    const opt_row *r = &option_table[i];
    const void *field = (const char *)o + r->offset;
    json_t *v;
    switch (r->type) {
    /* Ports change once after start (main.c writes the bound ones), atomically. */
    case T_PORT: v = json_integer(__atomic_load_n((const int *)field, __ATOMIC_ACQUIRE)); break;
    case T_COUNT: v = json_integer(*(const int *)field); break;
    case T_BOOL: v = json_boolean(*(const bool *)field); break;
    default: {
      const char *s = *(char *const *)field;
      v = !s ? json_null() : r->secret ? json_string("***") : json_string(s);
    }
    }
    json_object_set_new(obj, r->flag, v);
  }
  json_object_set_new(obj, "version", json_string(NRFPROV_VERSION));
  return obj;
}

void options_free(options *o) {
  for (size_t i = 0; i < N_OPTIONS; i++)
    if (option_table[i].type == T_STRING || option_table[i].type == T_CHOICE) {
      char **s = (char **)((char *)o + option_table[i].offset);
      free(*s);
      *s = NULL;
    }
}
