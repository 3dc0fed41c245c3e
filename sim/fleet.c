/* nrfprov-sim fleet: many simulated devices at once, for QA (roll a rule out to 10k
 * devices and watch) and as a benchmark (docs/performance.md).
 *
 * It makes (or reuses) N device directories under --dir, registers their identity keys
 * and bulk-claims them through the mock's HTTP API (--api, the owner and control
 * listener), then provisions them with --concurrency devices at a time. Each device is
 * one `nrfprov-sim run` process of this same binary, so every device follows exactly the
 * loop a single simulated device follows (the SDK client's: fetch, run, report, repeat),
 * over any of the four transports, and devices share no state. It prints a progress bar
 * on a terminal (plain lines otherwise) on stderr, and one summary line on stdout:
 *
 *   FLEET devices=N provisioned=P failed=F p50_ms= p95_ms= p99_ms= devices_per_s= mock_cpu_ms_per_device=
 *
 * (mock_cpu_ms_per_device only with --mock-pid, read from /proc). Exit status 0 when
 * every device provisioned, 1 otherwise. Not for: anything the mock's tests need to time
 * (tests never time); the mock's store is never touched, only its public APIs. */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sim.h"

#define FLEET_MAX 100000
#define CLAIM_CHUNK 1000 /* rows per bulk claim, the API's limit */

typedef struct {
  const char *dir, *url, *api, *ca, *key, *tags, *fail;
  long count, concurrency, mock_pid;
} fleet_args;

static int fleet_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fleet_usage(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("nrfprov-sim fleet: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputs("\nusage: nrfprov-sim fleet --dir FLEET --count N --url URL [--api http://HOST:PORT] [--ca FILE]\n"
        "                         [--concurrency 8] [--key API_KEY] [--tags a,b] [--fail \"%KEYGEN=514\"]\n"
        "                         [--mock-pid PID]\n",
        stderr);
  va_end(ap);
  return 1;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void device_dir(const fleet_args *a, long i, char *out, size_t n) {
  snprintf(out, n, "%s/dev-%06ld", a->dir, i);
}

/* ---- the mock's HTTP API ------------------------------------------------------------ */

typedef struct {
  char *data;
  size_t len;
} body_buf;

static size_t collect(char *p, size_t size, size_t n, void *ud) {
  body_buf *b = ud;
  char *grown = realloc(b->data, b->len + size * n + 1);
  if (!grown) return 0;
  memcpy(grown + b->len, p, size * n);
  b->data = grown;
  b->len += size * n;
  b->data[b->len] = 0;
  return size * n;
}

/* POST body to api+path; the status, or -1. The answer's body in *answer (malloc'd). */
static long api_post(const fleet_args *a, const char *path, const char *type, const char *body, char **answer) {
  char url[600], auth[300], ctype[80];
  snprintf(url, sizeof url, "%s%s", a->api, path);
  snprintf(auth, sizeof auth, "Authorization: Bearer %s", a->key);
  snprintf(ctype, sizeof ctype, "Content-Type: %s", type);
  CURL *c = curl_easy_init();
  if (!c) return -1;
  struct curl_slist *h = curl_slist_append(curl_slist_append(NULL, auth), ctype);
  body_buf b = {0};
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
  if (a->ca) curl_easy_setopt(c, CURLOPT_CAINFO, a->ca);
  long status = -1;
  if (curl_easy_perform(c) == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(h);
  curl_easy_cleanup(c);
  if (answer) *answer = b.data;
  else free(b.data);
  return status;
}

/* Make the devices that are not there yet, register every identity key (replacing a
 * stale one), and claim every device in bulk (an already claimed row is fine). */
static int prepare(const fleet_args *a) {
  char dir[SIM_PATH_MAX], why[400];
  if (mkdir(a->dir, 0700) && errno != EEXIST) return fprintf(stderr, "nrfprov-sim fleet: %s: %s\n", a->dir, strerror(errno)), -1;
  size_t cap = (size_t)CLAIM_CHUNK * 1200, len = 0;
  char *csv = malloc(cap);
  if (!csv) return -1;
  int rc = 0;
  for (long i = 0; i < a->count && !rc; i++) {
    device_dir(a, i, dir, sizeof dir);
    struct stat st;
    if (stat(dir, &st) && sim_device_create(dir, NULL, 6, NULL, why, sizeof why)) {
      fprintf(stderr, "nrfprov-sim fleet: %s\n", why);
      rc = -1;
      break;
    }
    sim_device d;
    if (sim_device_open(&d, dir, why, sizeof why)) {
      fprintf(stderr, "nrfprov-sim fleet: %s\n", why);
      rc = -1;
      break;
    }
    char *identity = sim_device_identity_json(&d);
    long status = identity ? api_post(a, "/_mock/identities?replace=true", "application/json", identity, NULL) : -1;
    free(identity);
    if (status != 201 && status != 200) {
      fprintf(stderr, "nrfprov-sim fleet: registering %s answered %ld\n", d.uuid, status);
      rc = -1;
    }
    char token[1200];
    if (!rc && sim_device_token(&d, token, sizeof token) < 0) rc = -1;
    sim_device_close(&d);
    if (rc) break;
    len += (size_t)snprintf(csv + len, cap - len, "%s,\"%s\"\n", token, a->tags ? a->tags : "");
    if ((i + 1) % CLAIM_CHUNK == 0 || i + 1 == a->count) {
      char *answer = NULL;
      status = api_post(a, "/v1/claimed-devices", "text/csv", csv, &answer);
      /* Rows that failed for a reason other than "already claimed by your team" count
       * as devices that cannot be provisioned; the run reports them. */
      if (status != 200) {
        fprintf(stderr, "nrfprov-sim fleet: bulk claim answered %ld: %.200s\n", status, answer ? answer : "");
        rc = -1;
      }
      free(answer);
      len = 0;
    }
  }
  free(csv);
  return rc;
}

/* ---- provisioning ------------------------------------------------------------------- */

static pid_t spawn(const fleet_args *a, long i) {
  char dir[SIM_PATH_MAX];
  device_dir(a, i, dir, sizeof dir);
  pid_t pid = fork();
  if (pid) return pid;
  int null = open("/dev/null", O_WRONLY);
  if (null >= 0) dup2(null, 1);
  const char *argv[16] = {"nrfprov-sim", "run", "--dir", dir, "--url", a->url};
  int n = 6;
  if (a->ca) argv[n++] = "--ca", argv[n++] = a->ca;
  if (a->fail) argv[n++] = "--fail", argv[n++] = a->fail;
  argv[n] = NULL;
  execv("/proc/self/exe", (char *const *)(uintptr_t)argv);
  _exit(127);
}

/* The user + system CPU time of a process, in clock ticks, from /proc; -1 when unknown. */
static long long cpu_ticks(long pid) {
  char path[64], buf[2048];
  snprintf(path, sizeof path, "/proc/%ld/stat", pid);
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = 0;
  const char *p = strrchr(buf, ')'); /* the command name may hold spaces */
  unsigned long long ut, st;
  if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2) return -1;
  return (long long)(ut + st);
}

static void progress(long done, long total, long failed, bool tty) {
  if (tty) {
    int width = 40, filled = (int)(done * width / (total ? total : 1));
    fprintf(stderr, "\r[%.*s%*s] %ld/%ld failed %ld", filled, "========================================", width - filled, "",
            done, total, failed);
    if (done == total) fputc('\n', stderr);
  } else if (done == total || done % (total / 10 ? total / 10 : 1) == 0) {
    fprintf(stderr, "fleet: %ld/%ld provisioned or failed (%ld failed)\n", done, total, failed);
  }
}

static int by_value(const void *x, const void *y) {
  double a = *(const double *)x, b = *(const double *)y;
  return (a > b) - (a < b);
}

static double percentile(const double *sorted, long n, double p) {
  if (!n) return 0;
  long k = (long)(p / 100.0 * (double)(n - 1) + 0.5);
  return sorted[k];
}

static int provision_all(const fleet_args *a) {
  pid_t *pids = calloc((size_t)a->count, sizeof *pids);
  double *started = calloc((size_t)a->count, sizeof *started), *took = calloc((size_t)a->count, sizeof *took);
  if (!pids || !started || !took) return 1;
  long next = 0, done = 0, failed = 0, running = 0;
  bool tty = isatty(2);
  long long cpu0 = a->mock_pid > 0 ? cpu_ticks(a->mock_pid) : -1;
  double t0 = now_s();
  while (done < a->count) {
    while (running < a->concurrency && next < a->count) {
      started[next] = now_s();
      pids[next] = spawn(a, next);
      if (pids[next] < 0) {
        fprintf(stderr, "nrfprov-sim fleet: fork: %s\n", strerror(errno));
        return 1;
      }
      next++, running++;
    }
    int status;
    pid_t pid = wait(&status);
    if (pid < 0) break;
    for (long i = 0; i < next; i++) {
      if (pids[i] != pid) continue;
      took[i] = (now_s() - started[i]) * 1000.0;
      if (!WIFEXITED(status) || WEXITSTATUS(status)) failed++;
      pids[i] = 0;
      break;
    }
    running--, done++;
    progress(done, a->count, failed, tty);
  }
  double elapsed = now_s() - t0;
  long long cpu1 = a->mock_pid > 0 ? cpu_ticks(a->mock_pid) : -1;
  qsort(took, (size_t)a->count, sizeof *took, by_value);
  printf("FLEET devices=%ld provisioned=%ld failed=%ld p50_ms=%.1f p95_ms=%.1f p99_ms=%.1f devices_per_s=%.1f", a->count,
         a->count - failed, failed, percentile(took, a->count, 50), percentile(took, a->count, 95),
         percentile(took, a->count, 99), elapsed > 0 ? (double)a->count / elapsed : 0);
  if (cpu0 >= 0 && cpu1 >= 0)
    printf(" mock_cpu_ms_per_device=%.3f", (double)(cpu1 - cpu0) * 1000.0 / (double)sysconf(_SC_CLK_TCK) / (double)a->count);
  printf("\n");
  fflush(stdout);
  free(pids);
  free(started);
  free(took);
  return failed ? 1 : 0;
}

/* ---- the command line --------------------------------------------------------------- */

static int number(const char *flag, const char *v, long lo, long hi, long *out) {
  char *end;
  errno = 0;
  long n = strtol(v, &end, 10);
  if (errno || *end || !*v || n < lo || n > hi) return fleet_usage("%s: '%s' must be a number from %ld to %ld", flag, v, lo, hi);
  *out = n;
  return 0;
}

int sim_fleet(int argc, char **argv) {
  fleet_args a = {.concurrency = 8, .key = "fleet"};
  for (int i = 1; i < argc; i++) {
    const char *f = argv[i];
    if (i + 1 >= argc) return fleet_usage("%s needs a value", f);
    const char *v = argv[++i];
    int rc = 0;
    if (!strcmp(f, "--dir")) a.dir = v;
    else if (!strcmp(f, "--url")) a.url = v;
    else if (!strcmp(f, "--api")) a.api = v;
    else if (!strcmp(f, "--ca")) a.ca = v;
    else if (!strcmp(f, "--key")) a.key = v;
    else if (!strcmp(f, "--tags")) a.tags = v;
    else if (!strcmp(f, "--fail")) a.fail = v;
    else if (!strcmp(f, "--count")) rc = number(f, v, 1, FLEET_MAX, &a.count);
    else if (!strcmp(f, "--concurrency")) rc = number(f, v, 1, 256, &a.concurrency);
    else if (!strcmp(f, "--mock-pid")) rc = number(f, v, 1, 1L << 30, &a.mock_pid);
    else return fleet_usage("unknown option '%s'", f);
    if (rc) return rc;
  }
  if (!a.dir || !a.url || !a.count) return fleet_usage("--dir, --count and --url are needed");
  if (strncmp(a.url, "http://", 7) && strncmp(a.url, "https://", 8) && strncmp(a.url, "coap://", 7) &&
      strncmp(a.url, "coaps://", 8))
    return fleet_usage("--url: '%s' must start with http://, https://, coap:// or coaps://", a.url);
  /* The owner and control API: the device URL itself when it is HTTP(S). */
  if (!a.api) {
    if (strncmp(a.url, "http", 4)) return fleet_usage("--api is needed when --url is a CoAP URL");
    a.api = a.url;
  }
  curl_global_init(CURL_GLOBAL_DEFAULT);
  int rc = prepare(&a) ? 1 : provision_all(&a);
  curl_global_cleanup();
  return rc;
}
