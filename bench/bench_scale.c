/* bench_scale: list pages, resets and a bulk claim of the real mock at 1k, 100k and 1M
 * claimed devices (docs/performance.md).
 *
 * For each size, a file store is seeded directly through store/ (a bench-only loader: a
 * million claims through HTTP would take most of the run), the real nrfprov-mock is
 * started on it, and the median time of one keep-alive GET is measured for the first
 * page, a deep page (keyset position in the middle), a status-filtered page, a deep
 * tag-filtered page and a combined filter, 100 rows each. The baseline of every page is
 * the same page at the smallest size, measured in the same run. Then `POST /_mock/reset`
 * on stores of 100 and 10k devices, and a 1000-row CSV bulk claim (tokens from
 * bench_tokens --csv).
 *
 * Usage: bench_scale --mock BIN --tokens CSV [--sizes 1000,100000,1000000] [--reps 15]
 * Prints one line per figure and, with --json FILE, the figures as JSON. Loopback only;
 * every server started here is stopped here. Not for tests: tests never time anything. */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "proto/b64url.h"
#include "service/svc.h"
#include "stats.h"
#include "store/claims.h"
#include "store/commands.h"
#include "store/store.h"
#include "store/teams.h"

#define KEY "bench-key"

static void die(const char *what) {
  fprintf(stderr, "bench_scale: %s\n", what);
  exit(1);
}

/* Seed n claims into dir/state.db for KEY's team: two device types, every 10th device
 * tagged t1, every 50th blocked, every 100th with a PENDING command (so PENDING). */
static void seed(const char *dir, long n) {
  char path[512], why[256];
  snprintf(path, sizeof path, "%s/state.db", dir);
  store *s;
  if (store_open(&s, path, why, sizeof why)) die(why);
  char owner[37];
  svc_owner_id(KEY, owner);
  int64_t team = 0;
  if (store_begin(s) || store_team_ensure(s, KEY, owner, NULL, &team) || store_end(s, true)) die("team");
  const char *t1[] = {"t1"};
  for (long i = 0; i < n;) {
    if (store_begin(s)) die("begin");
    for (long end = i + 20000 < n ? i + 20000 : n; i < end; i++) {
      char dev[48], queue[48];
      snprintf(dev, sizeof dev, "4961c873-408c-45ce-b1ba-%012ld", i % 1000000000000L);
      snprintf(queue, sizeof queue, "0b7e3c1a-5d7c-4c52-9a8e-%012ld", i % 1000000000000L);
      int64_t seq;
      if (store_claim_insert(s, team, dev, i % 2 ? "nrf9161_LACA" : "nrf9160_SICA",
                             "a4d580b9-aafb-4925-bc8d-db95f737d4ae", NULL, queue, &seq))
        die("insert");
      if (i % 10 == 0 && store_claim_set_tags(s, seq, team, t1, 1)) die("tags");
      if (i % 50 == 0 && store_claim_set_blocked(s, seq, 1)) die("block");
      if (i % 100 == 0) {
        char id[48];
        int64_t qseq;
        snprintf(id, sizeof id, "0c0c0c0c-0000-4000-8000-%012ld", i % 1000000000000L);
        if (store_claim_take_qseq(s, seq, &qseq) ||
            store_command_insert(s, seq, qseq, id, "finished", NULL, "{\"finished\":{}}", NULL))
          die("command");
      }
    }
    if (store_end(s, true)) die("commit");
  }
  store_close(s);
}

typedef struct {
  pid_t pid;
  int port;
  char dir[256];
} server;

static void start(server *sv, const char *mock) {
  char ready[300];
  snprintf(ready, sizeof ready, "%s/ready.json", sv->dir);
  unlink(ready);
  sv->pid = fork();
  if (sv->pid == 0) {
    int null = open("/dev/null", 1);
    dup2(null, 1);
    dup2(null, 2);
    execl(mock, mock, "--data-dir", sv->dir, "--http-port", "0", "--https-port", "-1", "--coap-port", "-1",
          "--coaps-port", "-1", "--log-level", "error", "--ready-file", ready, (char *)NULL);
    _exit(127);
  }
  for (int i = 0; i < 6000; i++) { /* at most 60 s */
    FILE *f = fopen(ready, "r");
    if (f) {
      char buf[512] = "";
      size_t len = fread(buf, 1, sizeof buf - 1, f);
      fclose(f);
      buf[len] = 0;
      const char *p = strstr(buf, "\"port\"");
      if (p && sscanf(strchr(p, ':') + 1, "%d", &sv->port) == 1) return;
    }
    usleep(10000);
  }
  die("the mock did not become ready");
}

static void stop(server *sv) {
  kill(sv->pid, SIGTERM);
  waitpid(sv->pid, NULL, 0);
}

/* A fresh scratch directory for sv (the data dir of the mock it will run). */
static void make_dir(server *sv) {
  snprintf(sv->dir, sizeof sv->dir, "/tmp/nrfprov-scale.XXXXXX");
  if (!mkdtemp(sv->dir)) die("mkdtemp");
}

/* Stop sv's mock and remove its directory. */
static void finish(server *sv) {
  stop(sv);
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf %s", sv->dir);
  if (system(cmd)) die("cleanup");
}

static size_t discard(char *p, size_t size, size_t n, void *ud) {
  (void)p, (void)ud;
  return size * n;
}

/* One request on a keep-alive handle; its duration in microseconds. */
static uint64_t timed(CURL *c, const server *sv, const char *method, const char *path, const char *body,
                      struct curl_slist *h) {
  char url[512];
  if (!body && strcmp(method, "GET")) body = "";
  snprintf(url, sizeof url, "http://127.0.0.1:%d%s", sv->port, path);
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
  curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, body ? (long)strlen(body) : 0L);
  if (!body) curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
  uint64_t t0 = stats_now_us();
  if (curl_easy_perform(c) != CURLE_OK) die("request failed");
  uint64_t t = stats_now_us() - t0;
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  if (status >= 300) {
    fprintf(stderr, "bench_scale: %s %s answered %ld\n", method, path, status);
    exit(1);
  }
  return t;
}

static double median_ms(CURL *c, const server *sv, const char *path, struct curl_slist *h, int reps) {
  double v[64];
  timed(c, sv, "GET", path, NULL, h); /* warm the statement and page caches */
  for (int i = 0; i < reps && i < 64; i++) v[i] = (double)timed(c, sv, "GET", path, NULL, h) / 1000.0;
  return stats_median(v, (size_t)(reps < 64 ? reps : 64));
}

/* The page token of keyset position seq, as the server writes it (service/common.c). */
static void token(long long seq, char out[48]) {
  char raw[32];
  int n = snprintf(raw, sizeof raw, "k1:%lld", seq);
  b64url_encode((const uint8_t *)raw, (size_t)n, out, 48);
}

#define PAGES 5
static const char *const page_names[PAGES] = {"first page", "deep page", "status=PENDING", "tags=t1 deep",
                                              "blocked=false&deviceType deep"};

static void measure_pages(const server *sv, long n, int reps, double out[PAGES]) {
  CURL *c = curl_easy_init();
  struct curl_slist *h = curl_slist_append(NULL, "Authorization: Bearer " KEY);
  char tok[48], path[PAGES][256];
  token(n / 2, tok);
  snprintf(path[0], sizeof path[0], "/v1/claimed-devices?pageLimit=100");
  snprintf(path[1], sizeof path[1], "/v1/claimed-devices?pageLimit=100&pageNextToken=%s", tok);
  snprintf(path[2], sizeof path[2], "/v1/claimed-devices?pageLimit=100&status=PENDING");
  snprintf(path[3], sizeof path[3], "/v1/claimed-devices?pageLimit=100&tags=t1&pageNextToken=%s", tok);
  snprintf(path[4], sizeof path[4], "/v1/claimed-devices?pageLimit=100&blocked=false&deviceType=nrf9161_LACA"
           "&pageNextToken=%s", tok);
  for (int i = 0; i < PAGES; i++) out[i] = median_ms(c, sv, path[i], h, reps);
  curl_slist_free_all(h);
  curl_easy_cleanup(c);
}

static double reset_ms(const char *mock, long n, int reps) {
  double v[16];
  for (int r = 0; r < reps && r < 16; r++) {
    server sv = {0};
    make_dir(&sv);
    seed(sv.dir, n);
    start(&sv, mock);
    CURL *c = curl_easy_init();
    v[r] = (double)timed(c, &sv, "POST", "/_mock/reset", NULL, NULL) / 1000.0;
    curl_easy_cleanup(c);
    finish(&sv);
  }
  return stats_median(v, (size_t)(reps < 16 ? reps : 16));
}

static char *read_all(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) die("cannot read the tokens file");
  static char buf[2 << 20];
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = 0;
  return buf;
}

/* The first n rows of a CSV body (a static copy). */
static const char *first_rows(const char *csv, int n) {
  static char buf[2 << 20];
  const char *p = csv;
  for (int i = 0; i < n && (p = strchr(p, '\n')); i++) p++;
  size_t len = p ? (size_t)(p - csv) : strlen(csv);
  memcpy(buf, csv, len);
  buf[len] = 0;
  return buf;
}

/* A running server, as CI uses it between tests: rounds of a bulk claim of csv then a
 * reset, on one keep-alive connection, timing the reset (reset_timed) or the bulk
 * claim. The first round (which prepares the statements) is not counted. */
static double rounds_ms(const char *mock, const char *csv, int reps, bool reset_timed) {
  double v[16];
  server sv = {0};
  make_dir(&sv);
  start(&sv, mock);
  CURL *c = curl_easy_init();
  struct curl_slist *h = curl_slist_append(NULL, "Authorization: Bearer " KEY);
  h = curl_slist_append(h, "Content-Type: text/csv");
  for (int r = -1; r < reps && r < 16; r++) {
    uint64_t bulk = timed(c, &sv, "POST", "/v1/claimed-devices", csv, h);
    uint64_t reset = timed(c, &sv, "POST", "/_mock/reset", NULL, NULL);
    if (r >= 0) v[r] = (double)(reset_timed ? reset : bulk) / 1000.0;
  }
  curl_slist_free_all(h);
  curl_easy_cleanup(c);
  finish(&sv);
  return stats_median(v, (size_t)(reps < 16 ? reps : 16));
}

int main(int argc, char **argv) {
  const char *mock = NULL, *tokens = NULL, *sizes_arg = "1000,100000,1000000", *json_path = NULL;
  int reps = 15;
  static const struct option opts[] = {{"mock", 1, 0, 'm'}, {"tokens", 1, 0, 't'}, {"sizes", 1, 0, 's'},
                                       {"reps", 1, 0, 'r'}, {"json", 1, 0, 'j'},   {0, 0, 0, 0}};
  for (int o; (o = getopt_long(argc, argv, "", opts, NULL)) != -1;) {
    if (o == 'm') mock = optarg;
    else if (o == 't') tokens = optarg;
    else if (o == 's') sizes_arg = optarg;
    else if (o == 'r') reps = atoi(optarg);
    else if (o == 'j') json_path = optarg;
    else die("usage: bench_scale --mock BIN --tokens CSV [--sizes 1000,100000,1000000] [--reps 15] [--json FILE]");
  }
  if (!mock || !tokens || reps < 1) die("usage: bench_scale --mock BIN --tokens CSV [--sizes ...] [--reps N]");
  curl_global_init(CURL_GLOBAL_DEFAULT);
  long sizes[8];
  int nsizes = 0;
  for (const char *p = sizes_arg; *p && nsizes < 8;) {
    char *end;
    sizes[nsizes++] = strtol(p, &end, 10);
    p = *end == ',' ? end + 1 : end;
  }
  double pages[8][PAGES];
  FILE *json = json_path ? fopen(json_path, "w") : NULL;
  if (json) fputs("{\"pages\": [", json);
  for (int k = 0; k < nsizes; k++) {
    server sv = {0};
    make_dir(&sv);
    uint64_t t0 = stats_now_us();
    seed(sv.dir, sizes[k]);
    fprintf(stderr, "bench_scale: seeded %ld devices in %.1f s\n", sizes[k], (double)(stats_now_us() - t0) / 1e6);
    start(&sv, mock);
    measure_pages(&sv, sizes[k], reps, pages[k]);
    finish(&sv);
    for (int i = 0; i < PAGES; i++) {
      printf("%-8ld devices  %-30s %8.3f ms  %5.2fx the same page at %ld\n", sizes[k], page_names[i], pages[k][i],
             pages[k][i] / pages[0][i], sizes[0]);
      if (json)
        fprintf(json, "%s{\"devices\": %ld, \"page\": \"%s\", \"ms\": %.3f, \"ratio\": %.3f}", k || i ? ", " : "",
                sizes[k], page_names[i], pages[k][i], pages[k][i] / pages[0][i]);
    }
  }
  const char *csv = read_all(tokens);
  double r100 = rounds_ms(mock, first_rows(csv, 100), 9, true), r100_first = reset_ms(mock, 100, 5),
         r10k = reset_ms(mock, 10000, 5), bulk = rounds_ms(mock, csv, 7, false);
  printf("reset, 100 devices (running server)   %8.3f ms  (target <= 1 ms)\n", r100);
  printf("reset, 100 devices (first after start)%8.3f ms  (information)\n", r100_first);
  printf("reset, 10k devices (first after start)%8.3f ms  (target <= 10 ms)\n", r10k);
  printf("bulk claim, 1000 CSV rows             %8.3f ms  (target <= 8 ms)\n", bulk);
  if (json) {
    fprintf(json, "], \"reset100Ms\": %.3f, \"reset100FirstMs\": %.3f, \"reset10kMs\": %.3f, \"bulk1000Ms\": %.3f}\n",
            r100, r100_first, r10k, bulk);
    fclose(json);
  }
  curl_global_cleanup();
  return 0;
}
