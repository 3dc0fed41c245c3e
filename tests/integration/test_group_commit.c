/* Group commit through the real binary on a file store (docs/performance.md): single
 * claims sent at once from several connections are each answered with their own device,
 * every one of them is stored and logged once, and the list's total counts them all;
 * the metrics show writes that shared a commit. With the disk full, every concurrent
 * claim is answered 500/50000 (also those whose commit was left to a later request's)
 * and none is stored. Writes held first by a fault's delay and then by their group are
 * answered, and counted once, so the server stops at once afterwards. With one worker
 * thread, writes still share commits (on the hint that the worker has another request
 * at hand), while reads and requests that touch no store run among them unharmed. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define KEY "group-team"
#define WORKERS 8
#define PER_WORKER 25
#define MAX_ROUNDS 10

static mock m;
static char root[64], flag[128];

/* A fresh root directory (mkdtemp's template) for the mock's data dir, root/data. */
static void make_root(const char *template, char *data, size_t n) {
  snprintf(root, sizeof root, "%s", template);
  cr_assert_not_null(mkdtemp(root));
  snprintf(data, n, "%s/data", root);
}

static void start(void) {
  char data[100];
  make_root("/tmp/nrfprov-group.XXXXXX", data, sizeof data);
  snprintf(flag, sizeof flag, "%s/disk-full", root);
  mock_start(&m, "--data-dir", data, "--log-format", "json", "--test-disk-full-file", flag, NULL);
}

static void stop(void) {
  cr_assert_eq(mock_stop(&m), 0);
  remove_tree(root);
}

TestSuite(group_commit, .init = start, .fini = stop, .timeout = 240);

typedef struct {
  char tokens[PER_WORKER][1100];
  char ids[PER_WORKER][37];
  long want;            /* the status every claim must get */
  int failures;
  char failure[300];
} worker;

static void *work(void *ud) {
  worker *w = ud;
  for (int i = 0; i < PER_WORKER; i++) {
    char body[1300];
    snprintf(body, sizeof body, "{\"claimToken\":\"%s\"}", w->tokens[i]);
    http_resp *r = owner(&m, KEY, "POST", "/v1/claimed-devices", body);
    const char *id = r->json ? jstr(r->json, "id") : "";
    bool ok = r->status == w->want &&
              (w->want == 201 ? !strcmp(id, w->ids[i])
                              : jint(r->json, "code") == 50000 && r->body && strstr(r->body, "was not stored"));
    if (!ok && !w->failures++)
      snprintf(w->failure, sizeof w->failure, "claim of %s: %ld %.200s", w->ids[i], r->status, r->body ? r->body : "");
    http_resp_free(r);
  }
  return NULL;
}

/* One round: WORKERS threads claim PER_WORKER fresh devices each, all at once. */
static void round_of_claims(worker *w, long want) {
  pthread_t t[WORKERS];
  for (int k = 0; k < WORKERS; k++) {
    w[k].want = want;
    w[k].failures = 0;
    for (int i = 0; i < PER_WORKER; i++) make_token(w[k].tokens[i], sizeof w[k].tokens[i], w[k].ids[i]);
  }
  for (int k = 0; k < WORKERS; k++) cr_assert_eq(pthread_create(&t[k], NULL, work, &w[k]), 0);
  for (int k = 0; k < WORKERS; k++) pthread_join(t[k], NULL);
  for (int k = 0; k < WORKERS; k++) cr_assert_eq(w[k].failures, 0, "worker %d: %s", k, w[k].failure);
}

static long long metric(const char *name) {
  http_resp *r = http_req(&m, "GET", "/_mock/metrics", NULL, NULL, 0);
  cr_assert_eq(r->status, 200);
  char pat[96];
  snprintf(pat, sizeof pat, "\n%s ", name);
  const char *p = strstr(r->body, pat);
  cr_assert_not_null(p, "metrics lack %s", name);
  long long v = strtoll(p + strlen(pat), NULL, 10);
  http_resp_free(r);
  return v;
}

static long long claimed_total(void) {
  http_resp *r = owner(&m, KEY, "GET", "/v1/claimed-devices?pageLimit=1", NULL);
  cr_assert_eq(r->status, 200, "%s", r->body);
  long long n = jint(r->json, "total");
  http_resp_free(r);
  return n;
}

/* How many "claimed" events the log holds for device id. */
static int claimed_events(const char *log, const char *id) {
  int n = 0;
  char pat[80];
  snprintf(pat, sizeof pat, "\"deviceId\":\"%s\"", id);
  for (const char *p = log; (p = strstr(p, pat)); p += strlen(pat)) {
    const char *line = p;
    while (line > log && line[-1] != '\n') line--;
    const char *end = strchr(p, '\n');
    if (memmem(line, (size_t)((end ? end : p + strlen(p)) - line), "\"event\":\"claimed\"", 17)) n++;
  }
  return n;
}

Test(group_commit, concurrent_claims_are_each_answered_with_their_own_device_and_all_stored) {
  static worker w[WORKERS];
  long long before = metric("nrfprov_store_grouped_writes_total");
  int rounds = 0;
  /* Rounds until some writes shared a commit (bounded): each round checks every answer. */
  do {
    round_of_claims(w, 201);
    rounds++;
    cr_assert_eq(claimed_total(), (long long)rounds * WORKERS * PER_WORKER, "every acknowledged claim is counted");
  } while (metric("nrfprov_store_grouped_writes_total") == before && rounds < MAX_ROUNDS);
  cr_assert_gt(metric("nrfprov_store_grouped_writes_total"), before,
               "%d rounds of %d concurrent claims and no write shared a commit", rounds, WORKERS);
  char *log = read_file(m.log_file, NULL);
  cr_assert_not_null(log);
  for (int k = 0; k < WORKERS; k++)
    for (int i = 0; i < PER_WORKER; i++)
      cr_assert_eq(claimed_events(log, w[k].ids[i]), 1, "one claimed event for %s (found %d)", w[k].ids[i], claimed_events(log, w[k].ids[i]));
  free(log);
  for (int k = 0; k < WORKERS; k++)
    for (int i = 0; i < PER_WORKER; i += 5) {
      char path[96];
      snprintf(path, sizeof path, "/v1/claimed-devices/%s", w[k].ids[i]);
      http_resp *r = owner(&m, KEY, "GET", path, NULL);
      cr_assert_eq(r->status, 200, "%s: %s", path, r->body);
      http_resp_free(r);
    }
}

Test(group_commit, with_the_disk_full_every_concurrent_claim_is_refused_and_none_is_stored) {
  static worker w[WORKERS];
  round_of_claims(w, 201); /* the team and some claims exist before the disk fills */
  long long total = claimed_total();
  FILE *f = fopen(flag, "w");
  cr_assert_not_null(f);
  fclose(f);
  round_of_claims(w, 500);
  cr_assert_eq(unlink(flag), 0);
  cr_assert_eq(claimed_total(), total, "nothing refused was stored");
  char *log = read_file(m.log_file, NULL);
  cr_assert_not_null(log);
  for (int k = 0; k < WORKERS; k++)
    for (int i = 0; i < PER_WORKER; i++) cr_assert_eq(claimed_events(log, w[k].ids[i]), 0, "no event for %s", w[k].ids[i]);
  free(log);
  round_of_claims(w, 201); /* room again: claims succeed */
  cr_assert_eq(claimed_total(), total + WORKERS * PER_WORKER);
}

/* The listener counts the connections it holds; one held by a fault's delay and then by
 * its group must be counted once, or the server would wait at its stop (bounded at 5 s)
 * for an answer that was sent long ago. */
static void remove_root(void) {
  remove_tree(root);
}

Test(group_commit_stop, writes_delayed_by_a_fault_then_grouped_are_answered_and_the_stop_is_prompt, .init = start,
     .fini = remove_root, .timeout = 240) {
  static worker w[WORKERS];
  char id[37];
  add_fault(&m, "{\"match\": {\"method\": \"POST\", \"path\": \"/v1/claimed-devices\"}, \"action\": {\"delayMs\": 2}}", id);
  long long before = metric("nrfprov_store_grouped_writes_total");
  int rounds = 0;
  do {
    round_of_claims(w, 201);
    rounds++;
  } while (metric("nrfprov_store_grouped_writes_total") == before && rounds < MAX_ROUNDS);
  cr_assert_gt(metric("nrfprov_store_grouped_writes_total"), before, "no delayed write shared a commit in %d rounds", rounds);
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  cr_assert_eq(mock_stop(&m), 0);
  clock_gettime(CLOCK_MONOTONIC, &b);
  long ms = (long)((b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000);
  cr_assert_lt(ms, 4000, "the stop waited %ld ms: a held connection was still counted", ms);
}

/* One worker thread: no request can be on its way in another thread, so writes that
 * share a commit were grouped on the worker's hint that another of its connections had
 * a request waiting. */
static void start_one_worker(void) {
  char data[100];
  make_root("/tmp/nrfprov-group1.XXXXXX", data, sizeof data);
  mock_start(&m, "--data-dir", data, "--threads", "1", "--log-format", "json", NULL);
}

TestSuite(group_commit_one_worker, .init = start_one_worker, .fini = stop, .timeout = 240);

/* Requests that are not writes, sent meanwhile on connections of their own: an owner
 * list (a read, which commits the group it finds open), and a path with no route (which
 * never reaches the store, so a group opened on its account is left to the flusher). */
typedef struct {
  atomic_bool stop;
  int sent, failures;
  char failure[300];
} reader;

static void *reads(void *ud) {
  reader *rd = ud;
  while (!atomic_load(&rd->stop)) {
    bool list = rd->sent % 2 == 0;
    http_resp *r = list ? owner(&m, KEY, "GET", "/v1/claimed-devices?pageLimit=1", NULL)
                        : http_req(&m, "GET", "/v1/no-such-path", NULL, NULL, 0);
    long want = list ? 200 : 404;
    if (r->status != want && !rd->failures++)
      snprintf(rd->failure, sizeof rd->failure, "%s: %ld %.200s", list ? "list" : "no route", r->status, r->body ? r->body : "");
    rd->sent++;
    http_resp_free(r);
  }
  return NULL;
}

Test(group_commit_one_worker, writes_share_commits_and_every_request_among_them_is_answered) {
  static worker w[WORKERS];
  reader rd[2] = {0};
  pthread_t t[2];
  claim_new(&m, KEY, NULL, w[0].ids[0]); /* the team exists before the readers list it */
  for (int k = 0; k < 2; k++) cr_assert_eq(pthread_create(&t[k], NULL, reads, &rd[k]), 0);
  long long before = metric("nrfprov_store_grouped_writes_total");
  int rounds = 0;
  do {
    round_of_claims(w, 201);
    rounds++;
    cr_assert_eq(claimed_total(), 1 + (long long)rounds * WORKERS * PER_WORKER, "every acknowledged claim is counted");
  } while (metric("nrfprov_store_grouped_writes_total") == before && rounds < MAX_ROUNDS);
  for (int k = 0; k < 2; k++) {
    atomic_store(&rd[k].stop, true);
    pthread_join(t[k], NULL);
    cr_assert_eq(rd[k].failures, 0, "reader %d: %s", k, rd[k].failure);
    cr_assert_gt(rd[k].sent, 0);
  }
  cr_assert_gt(metric("nrfprov_store_grouped_writes_total"), before,
               "%d rounds of %d concurrent claims on one worker and no write shared a commit", rounds, WORKERS);
}
