/* nrfprov-sim: a host program that behaves like an nRF91 running the SDK's provisioning
 * client (docs/control-api.md §3), so CI can run whole provisioning flows without hardware. This
 * file holds the command line and the provisioning loop with its event lines; the device
 * directory and the AT engine live in device.c, the transports in http.c and coap.c. It
 * talks to the mock only through the device-facing protocol, never through its store.
 *
 * Event lines on stdout, one per step: START, NO_COMMANDS, NOT_CLAIMED,
 * COMMAND <id> OK | COMMAND <id> ERROR <cme>, DONE, FAILED <reason>. Exit status 0 on
 * DONE or NO_COMMANDS, 2 on NOT_CLAIMED, 1 otherwise. */
#include <coap3/coap.h>
#include <curl/curl.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sim.h"

#define MAX_FAULTS 16
#define MAX_ROUNDS 1000 /* a service that never runs dry must not keep the simulator forever */
#define EXIT_DONE 0
#define EXIT_FAILED 1
#define EXIT_NOT_CLAIMED 2

/* The subcommands, for the option table's `commands` masks and the usage text. */
enum { C_CREATE = 1, C_TOKEN = 2, C_JWT = 4, C_IDENTITY = 8, C_RUN = 16, C_FLEET = 32 };
static const struct {
  const char *name;
  unsigned bit;
  const char *help;
  const char *synopsis; /* for a subcommand with its own parser (fleet.c); NULL: from the table */
} commands[] = {
    {"create", C_CREATE, "make a device directory: identity key (P-256), UUID, device type code,\n"
                         "            firmware UUID, IMEI, empty key store; prints the device id", NULL},
    {"token", C_TOKEN, "print a fresh attestation token (the claim token) signed by the identity key", NULL},
    {"jwt", C_JWT, "print a fresh device JWT signed by the identity key", NULL},
    {"identity", C_IDENTITY, "print the JSON to POST to /_mock/identities", NULL},
    {"run", C_RUN, "provision: fetch commands, run them against the directory, report, repeat\n"
                   "            until nothing is left or finished was acknowledged", NULL},
    {"fleet", C_FLEET,
     "N devices at once: make them under FLEET, register their identities and bulk-claim\n"
     "            them (with --tags) through --api, then provision them --concurrency at a time;\n"
     "            progress on stderr, one summary line FLEET devices= provisioned= failed= p50_ms=\n"
     "            p95_ms= p99_ms= devices_per_s= [mock_cpu_ms_per_device=] on stdout; exit 0 when all\n"
     "            provisioned",
     " --dir FLEET --count N --url URL [--api http://HOST:PORT] [--ca FILE]\n"
     "                            [--concurrency 8] [--key API_KEY] [--tags a,b] [--fail \"%KEYGEN=514\"] [--mock-pid PID]"},
};

typedef struct {
  const char *dir, *uuid, *imei, *url, *ca;
  long type, rx_max, tx_max, limit;
  const char *csr_subject;
  bool once;
  sim_fault faults[MAX_FAULTS];
  size_t n_faults;
} args;

static void event(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void event(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  putchar('\n');
  fflush(stdout); /* Callers read the lines while the run goes on. */
}

static int fail_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail_usage(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("nrfprov-sim: ", stderr);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputs(" (see nrfprov-sim --help)\n", stderr);
  return EXIT_FAILED;
}

static int parse_long(const char *flag, const char *v, long lo, long hi, long *out) {
  char *end;
  errno = 0;
  long n = strtol(v, &end, 10);
  if (errno || *end || !*v || n < lo || n > hi) return fail_usage("%s: '%s' must be a number from %ld to %ld", flag, v, lo, hi);
  *out = n;
  return 0;
}

/* "%KEYGEN=514": the set command, then the CME error after the last '='. */
static int parse_fault(const char *v, sim_fault *f) {
  const char *eq = strrchr(v, '=');
  long cme;
  if (!eq || eq == v || (size_t)(eq - v) >= sizeof f->set_cmd)
    return fail_usage("--fail: '%s' must look like %%KEYGEN=514 (set command = CME error)", v);
  if (parse_long("--fail", eq + 1, 1, 65535, &cme)) return EXIT_FAILED;
  snprintf(f->set_cmd, sizeof f->set_cmd, "%.*s", (int)(eq - v), v);
  f->cme = (unsigned)cme;
  return 0;
}

/* The option table: one row per flag drives parsing, the check that a subcommand takes
 * the flag, and the usage text (as the server's option table does, server/options.c). */
typedef enum { O_TEXT, O_NUMBER, O_FLAG, O_CHOICE, O_FAULT } opt_kind;
typedef struct {
  const char *flag;
  opt_kind kind;
  size_t offset;       /* field in args */
  long lo, hi;         /* O_NUMBER bounds */
  const char *choices; /* O_CHOICE: "|"-separated */
  unsigned commands;   /* the subcommands that take it */
  bool required;
  const char *value;   /* the value's name in the usage text ("" for a flag) */
  const char *help;
} sim_opt;

#define A(field) offsetof(args, field)
#define ALL (C_CREATE | C_TOKEN | C_JWT | C_IDENTITY | C_RUN)
static const sim_opt option_table[] = {
    {"--dir", O_TEXT, A(dir), 0, 0, NULL, ALL, true, "DEV", "the device directory (required)"},
    {"--uuid", O_TEXT, A(uuid), 0, 0, NULL, C_CREATE, false, "U", "the device UUID (default: a random one)"},
    {"--type", O_NUMBER, A(type), 1, 65535, NULL, C_CREATE, false, "6", "the device type code of the attestation token"},
    {"--imei", O_TEXT, A(imei), 0, 0, NULL, C_CREATE, false, "I", "15 digits (default: a random valid IMEI)"},
    {"--url", O_TEXT, A(url), 0, 0, NULL, C_RUN, true, "URL", "http://…, https://…, coap://… or coaps://… (required)"},
    {"--ca", O_TEXT, A(ca), 0, 0, NULL, C_RUN, false, "FILE", "CA to verify the server with (https, coaps)"},
    {"--once", O_FLAG, A(once), 0, 0, NULL, C_RUN, false, "", "one round only"},
    {"--fail", O_FAULT, 0, 0, 0, NULL, C_RUN, false, "\"%KEYGEN=514\"",
     "every AT command with that set command fails with that CME error (repeatable)"},
    {"--rx-max", O_NUMBER, A(rx_max), 64, 1 << 20, NULL, C_RUN, false, "2048", "rxMaxSize sent with a fetch"},
    {"--tx-max", O_NUMBER, A(tx_max), 64, 1 << 20, NULL, C_RUN, false, "2048", "txMaxSize sent with a fetch"},
    {"--limit", O_NUMBER, A(limit), 1, 64, NULL, C_RUN, false, "10", "limit sent with a fetch"},
    {"--csr-subject", O_CHOICE, A(csr_subject), 0, 0, "uuid|empty", C_RUN, false, "uuid|empty",
     "subject of a %KEYGEN CSR asked for without attributes: CN=<device UUID> as the modem\n"
     "                   makes it (uuid, the default) or an empty Name (empty); docs/keygen.md"},
};
#define N_OPTIONS (sizeof option_table / sizeof option_table[0])

static bool choice_ok(const char *choices, const char *v) {
  size_t len = strlen(v);
  for (const char *p = choices; *p;) {
    const char *bar = strchr(p, '|');
    size_t n = bar ? (size_t)(bar - p) : strlen(p);
    if (n == len && !strncmp(p, v, n)) return true;
    p += n + (bar ? 1 : 0);
  }
  return false;
}

static void print_usage(FILE *out) {
  fputs("usage:", out);
  for (size_t c = 0; c < sizeof commands / sizeof commands[0]; c++) {
    int col = fprintf(out, "%s nrfprov-sim %-8s", c ? "      " : "", commands[c].name);
    if (commands[c].synopsis) {
      fprintf(out, "%s\n", commands[c].synopsis);
      continue;
    }
    for (size_t i = 0; i < N_OPTIONS; i++) {
      const sim_opt *o = &option_table[i];
      if (!(o->commands & commands[c].bit)) continue;
      char word[96];
      snprintf(word, sizeof word, " %s%s%s%s%s%s", o->required ? "" : "[", o->flag, *o->value ? " " : "", o->value,
               o->required ? "" : "]", o->kind == O_FAULT ? "…" : "");
      if (col + (int)strlen(word) > 96) col = fprintf(out, "\n%27s", "");
      col += fprintf(out, "%s", word);
    }
    fputc('\n', out);
  }
  fputs("\nA simulated nRF91 device running the nRF Connect SDK's provisioning client.\n", out);
  for (size_t c = 0; c < sizeof commands / sizeof commands[0]; c++)
    fprintf(out, "  %-9s %s\n", commands[c].name, commands[c].help);
  fputs("\nOptions:\n", out);
  for (size_t i = 0; i < N_OPTIONS; i++) fprintf(out, "  %-16s %s\n", option_table[i].flag, option_table[i].help);
  fputs("\nEvent lines of run: START, NO_COMMANDS, NOT_CLAIMED, COMMAND <id> OK, COMMAND <id> ERROR <cme>,\n"
        "DONE, FAILED <reason>. Exit status: 0 on DONE or NO_COMMANDS, 2 on NOT_CLAIMED, 1 otherwise.\n",
        out);
}

/* Parse the flags after the subcommand (whose bit is command) into a. */
static int parse_args(int argc, char **argv, unsigned command, args *a) {
  for (int i = 2; i < argc; i++) {
    const char *f = argv[i];
    const sim_opt *o = NULL;
    for (size_t k = 0; k < N_OPTIONS && !o; k++)
      if (!strcmp(option_table[k].flag, f) && (option_table[k].commands & command)) o = &option_table[k];
    if (!o) return fail_usage("%s: unknown option '%s'", argv[1], f);
    void *field = (char *)a + o->offset;
    if (o->kind == O_FLAG) {
      *(bool *)field = true;
      continue;
    }
    if (i + 1 >= argc) return fail_usage("%s needs a value", f);
    const char *v = argv[++i];
    int rc = 0;
    switch (o->kind) {
    case O_TEXT: *(const char **)field = v; break;
    case O_NUMBER: rc = parse_long(f, v, o->lo, o->hi, (long *)field); break;
    case O_CHOICE:
      if (!choice_ok(o->choices, v)) return fail_usage("%s: '%s' must be one of %s", f, v, o->choices);
      *(const char **)field = v;
      break;
    case O_FAULT:
      if (a->n_faults == MAX_FAULTS) return fail_usage("--fail: at most %d", MAX_FAULTS);
      rc = parse_fault(v, &a->faults[a->n_faults++]);
      break;
    case O_FLAG: break;
    }
    if (rc) return rc;
  }
  if (!a->dir) return fail_usage("%s needs --dir", argv[1]);
  return 0;
}

/* Wait sec seconds between rounds, as the client's provisioning interval asks. */
static void wait_interval(long sec) {
  struct timespec ts = {.tv_sec = sec, .tv_nsec = 0};
  while (nanosleep(&ts, &ts) && errno == EINTR) {
  }
}

typedef sim_result (*fetch_fn)(const sim_link *, sim_device *, uint8_t **, size_t *, char *, size_t);
typedef sim_result (*report_fn)(const sim_link *, sim_device *, const uint8_t *, size_t, char *, size_t);

/* The provisioning loop: rounds of fetch, run, report, as the SDK client does them. */
static int provision(sim_device *d, const args *a) {
  sim_link l = {.url = a->url, .ca = a->ca, .rx_max = a->rx_max, .tx_max = a->tx_max, .limit = (int)a->limit};
  bool coap = !strncmp(a->url, "coap://", 7) || !strncmp(a->url, "coaps://", 8);
  fetch_fn fetch = coap ? sim_coap_fetch : sim_http_fetch;
  report_fn report = coap ? sim_coap_report : sim_http_report;
  char why[400] = "", first_failure[160] = "";
  bool ran = false;
  event("START");
  for (int round = 0;; round++) {
    if (round == MAX_ROUNDS) {
      event("FAILED still fetching commands after %d rounds", MAX_ROUNDS);
      return EXIT_FAILED;
    }
    uint8_t *body = NULL;
    size_t len = 0;
    sim_result r = fetch(&l, d, &body, &len, why, sizeof why);
    if (r == SIM_R_NOT_CLAIMED) {
      event("NOT_CLAIMED");
      return EXIT_NOT_CLAIMED;
    }
    if (r == SIM_R_FORBIDDEN) {
      event("FAILED forbidden");
      return EXIT_FAILED;
    }
    if (r == SIM_R_FAILED) {
      event("FAILED %s", why);
      return EXIT_FAILED;
    }
    if (r == SIM_R_NOTHING) {
      if (*first_failure) {
        event("FAILED %s", first_failure);
        return EXIT_FAILED;
      }
      event(ran ? "DONE" : "NO_COMMANDS");
      return EXIT_DONE;
    }

    dcbor_owned_command *cmds = NULL;
    size_t n = 0;
    int bad = dcbor_decode_commands(body, len, &cmds, &n, why, sizeof why);
    free(body);
    if (bad) {
      event("FAILED commands do not decode: %s", why);
      return EXIT_FAILED;
    }
    sim_batch b;
    sim_device_run(d, cmds, n, a->faults, a->n_faults, &b);
    dcbor_commands_free(cmds, n);
    for (size_t i = 0; i < b.n_steps; i++) {
      if (b.steps[i].failed) event("COMMAND %s ERROR %u", b.steps[i].cid, b.steps[i].cme);
      else event("COMMAND %s OK", b.steps[i].cid);
      if (b.steps[i].failed && !*first_failure)
        snprintf(first_failure, sizeof first_failure, "command %s failed with CME error %u", b.steps[i].cid, b.steps[i].cme);
    }
    ran = true;

    uint8_t *out = NULL;
    size_t out_len = 0;
    int rc = EXIT_DONE;
    if (!b.n || dcbor_encode_responses(b.r, b.n, 0, &out, &out_len)) {
      event("FAILED cannot encode the responses");
      rc = EXIT_FAILED;
    } else if (a->tx_max > 0 && out_len > (size_t)a->tx_max) {
      /* The SDK encodes the responses into a txMaxSize buffer and gives up when they do not fit. */
      event("FAILED responses of %zu bytes do not fit txMaxSize %ld", out_len, a->tx_max);
      rc = EXIT_FAILED;
    } else {
      r = report(&l, d, out, out_len, why, sizeof why);
      if (r == SIM_R_NOT_CLAIMED) event("NOT_CLAIMED"), rc = EXIT_NOT_CLAIMED;
      else if (r == SIM_R_FORBIDDEN) event("FAILED forbidden"), rc = EXIT_FAILED;
      else if (r != SIM_R_OK) event("FAILED %s", why), rc = EXIT_FAILED;
      /* Only an accepted report moves after= on: unanswered steps must come again. */
      else if (*b.last && sim_device_save_after(d, b.last)) event("FAILED cannot write %s/state.json", d->dir), rc = EXIT_FAILED;
    }
    free(out);
    bool finished = b.finished;
    sim_batch_free(&b);
    if (rc != EXIT_DONE) return rc;
    if (finished || a->once) {
      if (*first_failure) {
        event("FAILED %s", first_failure);
        return EXIT_FAILED;
      }
      event("DONE");
      return EXIT_DONE;
    }
    long interval = sim_device_interval(d);
    if (interval > 0) wait_interval(interval);
  }
}

static int cmd_run(const args *a) {
  if (!a->url) return fail_usage("run needs --url");
  bool coap = !strncmp(a->url, "coap://", 7) || !strncmp(a->url, "coaps://", 8);
  if (!coap && strncmp(a->url, "http://", 7) && strncmp(a->url, "https://", 8))
    return fail_usage("--url: '%s' must start with http://, https://, coap:// or coaps://", a->url);
  sim_device d;
  char why[400];
  if (sim_device_open(&d, a->dir, why, sizeof why)) {
    fprintf(stderr, "nrfprov-sim: %s\n", why);
    return EXIT_FAILED;
  }
  d.csr_subject_empty = a->csr_subject && !strcmp(a->csr_subject, "empty");
  args copy = *a;
  /* A trailing slash would double the one every path starts with. */
  char url[512];
  snprintf(url, sizeof url, "%s", a->url);
  size_t ul = strlen(url);
  while (ul > 8 && url[ul - 1] == '/') url[--ul] = 0;
  copy.url = url;
  if (coap) {
    coap_startup();
    coap_set_log_level(LOG_ERR);
  } else {
    curl_global_init(CURL_GLOBAL_DEFAULT);
  }
  int rc = provision(&d, &copy);
  if (coap) coap_cleanup();
  else curl_global_cleanup();
  sim_device_close(&d);
  return rc;
}

static int cmd_print(const char *what, const args *a) {
  sim_device d;
  char why[400];
  if (sim_device_open(&d, a->dir, why, sizeof why)) {
    fprintf(stderr, "nrfprov-sim: %s\n", why);
    return EXIT_FAILED;
  }
  char *text = NULL;
  if (!strcmp(what, "identity")) {
    text = sim_device_identity_json(&d);
  } else {
    text = malloc(4096);
    int n = !text ? -1 : !strcmp(what, "token") ? sim_device_token(&d, text, 4096) : sim_device_jwt(&d, text, 4096);
    if (n < 0) {
      free(text);
      text = NULL;
    }
  }
  sim_device_close(&d);
  if (!text) {
    fprintf(stderr, "nrfprov-sim: cannot make the %s\n", what);
    return EXIT_FAILED;
  }
  printf("%s\n", text);
  free(text);
  return EXIT_DONE;
}

int main(int argc, char **argv) {
  args a = {.type = 6, .rx_max = 2048, .tx_max = 2048, .limit = 10};
  signal(SIGPIPE, SIG_IGN);
  if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
    print_usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? EXIT_FAILED : EXIT_DONE;
  }
  const char *cmd = argv[1];
  if (!strcmp(cmd, "create")) {
    if (parse_args(argc, argv, C_CREATE, &a)) return EXIT_FAILED;
    char why[400];
    if (sim_device_create(a.dir, a.uuid, (unsigned)a.type, a.imei, why, sizeof why)) {
      fprintf(stderr, "nrfprov-sim: %s\n", why);
      return EXIT_FAILED;
    }
    sim_device d;
    if (sim_device_open(&d, a.dir, why, sizeof why)) {
      fprintf(stderr, "nrfprov-sim: %s\n", why);
      return EXIT_FAILED;
    }
    printf("%s\n", d.uuid);
    sim_device_close(&d);
    return EXIT_DONE;
  }
  if (!strcmp(cmd, "token") || !strcmp(cmd, "jwt") || !strcmp(cmd, "identity")) {
    unsigned bit = !strcmp(cmd, "token") ? C_TOKEN : !strcmp(cmd, "jwt") ? C_JWT : C_IDENTITY;
    if (parse_args(argc, argv, bit, &a)) return EXIT_FAILED;
    return cmd_print(cmd, &a);
  }
  if (!strcmp(cmd, "fleet")) return sim_fleet(argc - 1, argv + 1);
  if (!strcmp(cmd, "run")) {
    if (parse_args(argc, argv, C_RUN, &a)) return EXIT_FAILED;
    return cmd_run(&a);
  }
  return fail_usage("unknown command '%s'", cmd);
}
